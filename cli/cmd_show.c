/* cmd_show.c - z4vc show: files and tensors of one checkpoint. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static const char *run;
static int64_t step = Z4VC_NO_STEP;
static int json;

const cli_cmd cli_cmd_show = {
	.name = "show",
	.usage = "[<commit-ish>] [--step N] [--run NAME] [--json]",
	.summary = "list the files and tensors of a checkpoint",
	.details = "For each tensor: dtype, shape, size, encoded size in the store and\n"
		   "how many of its chunks are keyframes or deltas.",
	.opts = (const cli_opt[]){
		{"step", 's', OPT_INT, &step, "N", "the checkpoint of this training step"},
		{"run", 'r', OPT_STR, &run, "NAME", "run name (default: " Z4VC_DEFAULT_RUN ")"},
		{"json", 0, OPT_FLAG, &json, NULL, "print JSON"},
		{0},
	},
};

typedef struct {
	cJSON *files, *cur_tensors;
} show_state;

static int on_file(const z4vc_file_info *f, void *ud)
{
	show_state *s = ud;
	char b[32];
	if (s->files) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "path", f->path);
		cJSON_AddStringToObject(j, "kind", f->kind);
		cJSON_AddNumberToObject(j, "size", (double)f->size);
		cJSON_AddStringToObject(j, "oid", f->oid);
		s->cur_tensors = cJSON_AddArrayToObject(j, "tensors");
		cJSON_AddItemToArray(s->files, j);
		return 0;
	}
	printf("%s  (%s, %s, %s)\n", f->path, f->kind, cli_bytes(b, sizeof(b), f->size),
	       f->oid);
	return 0;
}

static int on_tensor(const z4vc_tensor_info *t, void *ud)
{
	show_state *s = ud;
	char shape[256] = "", b1[32], b2[32];
	size_t n = 0;

	if (s->files) {
		cJSON *j = cJSON_CreateObject(), *sh = cJSON_CreateArray();
		cJSON_AddStringToObject(j, "name", t->name);
		cJSON_AddStringToObject(j, "dtype", t->dtype);
		for (unsigned i = 0; i < t->ndim; i++)
			cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[i]));
		cJSON_AddItemToObject(j, "shape", sh);
		cJSON_AddNumberToObject(j, "bytes", (double)t->nbytes);
		cJSON_AddNumberToObject(j, "stored_bytes", (double)t->stored_bytes);
		cJSON_AddNumberToObject(j, "chunks", t->chunks);
		cJSON_AddNumberToObject(j, "keyframes", t->keyframes);
		cJSON_AddNumberToObject(j, "deltas", t->deltas);
		cJSON_AddItemToArray(s->cur_tensors, j);
		return 0;
	}
	for (unsigned i = 0; i < t->ndim && n < sizeof(shape) - 24; i++)
		n += (size_t)snprintf(shape + n, sizeof(shape) - n, i ? ",%llu" : "%llu",
				      (unsigned long long)t->shape[i]);
	printf("  %-44s %-5s [%s] %10s -> %10s  %s\n", *t->name ? t->name : "(data)",
	       t->dtype, shape, cli_bytes(b1, sizeof(b1), t->nbytes),
	       cli_bytes(b2, sizeof(b2), t->stored_bytes),
	       t->chunks == 0 ? "empty"
	       : t->deltas == 0 ? "keyframe"
	       : t->keyframes == 0 ? "delta"
				   : "mixed");
	return 0;
}

int cmd_show(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	show_state s = {0};
	char hex[41];
	int n, rc = 1;

	cli_parse(&cli_cmd_show, argc, argv, &n);
	if (n > 1)
		cli_usage_error(&cli_cmd_show, "at most one <commit-ish>");
	if (json)
		s.files = cJSON_CreateArray();
	if (cli_open_repo(&repo) ||
	    z4vc_resolve(hex, repo, n ? argv[1] : NULL, run, step)) {
		cli_fail("show");
		goto done;
	}
	if (!json)
		printf("commit %s\n", hex);
	if (z4vc_list(repo, hex, on_file, on_tensor, &s) < 0) {
		cli_fail("show");
		goto done;
	}
	if (json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "commit", hex);
		cJSON_AddItemToObject(o, "files", s.files);
		s.files = NULL;
		cli_print_json(o);
	}
	rc = 0;
done:
	cJSON_Delete(s.files);
	z4vc_repo_free(repo);
	return rc;
}
