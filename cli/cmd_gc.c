/* cmd_gc.c - z4vc gc: remove unreachable store objects, compact the file. */
#include "cli.h"
#include "z4vc_maint.h"

#include <cjson/cJSON.h>
#include <stdio.h>

static int now, dry_run, json;

const cli_cmd cli_cmd_gc = {
    .name = "gc",
    .usage = "[--now] [--dry-run] [--json]",
    .summary =
        "delete store objects no ref or reflog reaches; compact the store",
    .details =
        "Keeps every object reachable from any ref or reflog entry, and every\n"
        "delta base a kept chunk needs. --now first empties the reflogs of "
        "the\n"
        "ckpt/ runs (what only they reach, e.g. checkpoints dropped by 'z4vc\n"
        "prune', is then deleted) and always compacts the LMDB file; without\n"
        "it the file is compacted when more than a quarter of it (and over\n"
        "64 MiB) is free. Needs the store to itself: waits up to 10 s for\n"
        "other z4vc processes to finish.",
    .opts =
        (const cli_opt[]){
            {"now", 0, OPT_FLAG, &now, NULL,
             "expire ckpt/ reflogs now; always compact"},
            {"dry-run", 'n', OPT_FLAG, &dry_run, NULL,
             "show what would be deleted"},
            {"json", 0, OPT_FLAG, &json, NULL, "print JSON"},
            {0},
        },
};

static cJSON *stats_json(const z4vc_stats *s)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "chunks", (double)s->chunks);
	cJSON_AddNumberToObject(o, "tensors", (double)s->tensors);
	cJSON_AddNumberToObject(o, "recipes", (double)s->recipes);
	cJSON_AddNumberToObject(o, "stored_bytes", (double)s->stored_bytes);
	cJSON_AddNumberToObject(o, "file_bytes", (double)s->file_bytes);
	cJSON_AddNumberToObject(o, "used_bytes", (double)s->used_bytes);
	return o;
}

static void stats_line(const char *label, const z4vc_stats *s)
{
	char b1[32], b2[32];
	printf("%-7s %llu chunks, %llu tensors, %llu recipes; %s stored; LMDB "
	       "file %s\n",
	       label, (unsigned long long)s->chunks,
	       (unsigned long long)s->tensors, (unsigned long long)s->recipes,
	       cli_bytes(b1, sizeof(b1), s->stored_bytes),
	       cli_bytes(b2, sizeof(b2), s->file_bytes));
}

int cmd_gc(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	z4vc_gc_opts o = {.compact = -1};
	z4vc_gc_result res;
	char b[32];
	int rc = 1;

	cli_parse_noargs(&cli_cmd_gc, argc, argv);
	o.now = now;
	o.dry_run = dry_run;
	if (cli_open_repo(&repo) || z4vc_gc(&res, repo, &o)) {
		cli_fail("gc");
		goto done;
	}
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddBoolToObject(j, "dry_run", dry_run);
		cJSON_AddNumberToObject(j, "reflog_entries_expired",
		                        (double)res.reflog_entries_expired);
		cJSON_AddNumberToObject(j, "dead_recipes",
		                        (double)res.dead_recipes);
		cJSON_AddNumberToObject(j, "dead_tensors",
		                        (double)res.dead_tensors);
		cJSON_AddNumberToObject(j, "dead_chunks",
		                        (double)res.dead_chunks);
		cJSON_AddNumberToObject(j, "dead_bytes",
		                        (double)res.dead_bytes);
		cJSON_AddNumberToObject(j, "kept_bases",
		                        (double)res.kept_bases);
		cJSON_AddBoolToObject(j, "compacted", res.compacted);
		cJSON_AddNumberToObject(j, "file_before",
		                        (double)res.file_before);
		cJSON_AddNumberToObject(j, "file_after",
		                        (double)res.file_after);
		cJSON_AddItemToObject(j, "before", stats_json(&res.before));
		cJSON_AddItemToObject(j, "after", stats_json(&res.after));
		cli_print_json(j);
	} else {
		if (res.reflog_entries_expired)
			printf("%s %llu reflog entries of ckpt/ runs\n",
			       dry_run ? "would expire" : "expired",
			       (unsigned long long)res.reflog_entries_expired);
		printf(
		    "%s %llu recipes, %llu tensors, %llu chunks (%s stored)\n",
		    dry_run ? "would delete" : "deleted",
		    (unsigned long long)res.dead_recipes,
		    (unsigned long long)res.dead_tensors,
		    (unsigned long long)res.dead_chunks,
		    cli_bytes(b, sizeof(b), res.dead_bytes));
		stats_line("before:", &res.before);
		stats_line(dry_run ? "after (predicted):" : "after:",
		           &res.after);
		if (res.compacted) {
			char b2[32];
			printf("compacted data.mdb: %s -> %s\n",
			       cli_bytes(b, sizeof(b), res.file_before),
			       cli_bytes(b2, sizeof(b2), res.file_after));
		}
	}
	rc = 0;
done:
	z4vc_repo_free(repo);
	return rc;
}
