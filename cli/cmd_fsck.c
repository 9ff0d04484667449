/* cmd_fsck.c - z4vc fsck: verify every object the history needs. */
#include "cli.h"
#include "z4vc_maint.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int full, json;

const cli_cmd cli_cmd_fsck = {
    .name = "fsck",
    .usage = "[--full] [--json]",
    .summary = "verify refs, pointers, recipes, tensors and chunks",
    .details =
        "Walks every commit reachable from any ref or reflog entry; checks\n"
        "that each Git LFS pointer parses and names a recipe in the store,\n"
        "each recipe and tensor record is present and valid, and every chunk\n"
        "and delta base is present and decodes to its checksum. --full also\n"
        "rebuilds every file and checks its SHA-256. Objects that nothing\n"
        "reaches are listed as dangling (not an error; 'z4vc gc' removes\n"
        "them). Exits 1 if any problem is found. The check runs in a child\n"
        "process: if damage inside the store's B-tree makes reading it\n"
        "crash, that is reported as a problem, not as a crashed fsck.",
    .opts =
        (const cli_opt[]){
            {"full", 0, OPT_FLAG, &full, NULL,
             "also rebuild each file and check its sha256"},
            {"json", 0, OPT_FLAG, &json, NULL, "print a JSON report"},
            {0},
        },
};

typedef struct {
	cJSON *problems, *dangling;
} report;

static void on_problem(const z4vc_fsck_problem *p, void *ud)
{
	report *r = ud;
	if (r->problems) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "kind", p->kind);
		cJSON_AddStringToObject(o, "id", p->id);
		cJSON_AddStringToObject(o, "why", p->why);
		cJSON_AddItemToArray(r->problems, o);
		return;
	}
	fprintf(stderr, "z4vc: fsck: %s%s%s: %s\n", p->kind, *p->id ? " " : "",
	        p->id, p->why);
}

static void on_dangling(const char *kind, const char *id, void *ud)
{
	report *r = ud;
	if (r->dangling) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "kind", kind);
		cJSON_AddStringToObject(o, "id", id);
		cJSON_AddItemToArray(r->dangling, o);
		return;
	}
	printf("dangling %s %s\n", kind, id);
}

static int fsck_run(void)
{
	z4vc_repo *repo = NULL;
	report r = {0};
	cli_progress prog;
	z4vc_fsck_opts o = {0};
	z4vc_fsck_result res;
	int rc = 1;

	if (json) {
		r.problems = cJSON_CreateArray();
		r.dangling = cJSON_CreateArray();
	}
	cli_progress_init(&prog, "checking");
	o.full = full;
	o.problem_fn = on_problem;
	o.dangling_fn = on_dangling;
	o.ud = &r;
	o.progress = cli_progress_cb;
	o.progress_ud = &prog;
	if (cli_open_repo(&repo) || z4vc_fsck(&res, repo, &o)) {
		cli_progress_end(&prog);
		cli_fail("fsck");
		goto done;
	}
	cli_progress_end(&prog);
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddBoolToObject(j, "ok", res.problems == 0);
		cJSON_AddNumberToObject(j, "commits", (double)res.commits);
		cJSON_AddNumberToObject(j, "pointers", (double)res.pointers);
		cJSON_AddNumberToObject(j, "recipes", (double)res.recipes);
		cJSON_AddNumberToObject(j, "tensors", (double)res.tensors);
		cJSON_AddNumberToObject(j, "chunks", (double)res.chunks);
		cJSON_AddNumberToObject(j, "chunks_decoded",
		                        (double)res.chunks_decoded);
		cJSON_AddNumberToObject(j, "files_rebuilt",
		                        (double)res.files_rebuilt);
		cJSON_AddNumberToObject(j, "problem_count",
		                        (double)res.problems);
		cJSON_AddItemToObject(j, "problems", r.problems);
		cJSON_AddItemToObject(j, "dangling", r.dangling);
		r.problems = r.dangling = NULL;
		cli_print_json(j);
	} else {
		printf("checked %llu commits, %llu pointers, %llu recipes, "
		       "%llu tensors, "
		       "%llu chunks%s\n",
		       (unsigned long long)res.commits,
		       (unsigned long long)res.pointers,
		       (unsigned long long)res.recipes,
		       (unsigned long long)res.tensors,
		       (unsigned long long)res.chunks,
		       full ? ", every file rebuilt" : "");
		if (res.dangling_recipes + res.dangling_tensors +
		    res.dangling_chunks)
			printf(
			    "dangling: %llu recipes, %llu tensors, %llu chunks "
			    "('z4vc gc' removes them)\n",
			    (unsigned long long)res.dangling_recipes,
			    (unsigned long long)res.dangling_tensors,
			    (unsigned long long)res.dangling_chunks);
	}
	if (res.problems) {
		fprintf(stderr, "z4vc: fsck: %llu problem%s\n",
		        (unsigned long long)res.problems,
		        res.problems == 1 ? "" : "s");
		goto done;
	}
	rc = 0;
done:
	cJSON_Delete(r.problems);
	cJSON_Delete(r.dangling);
	z4vc_repo_free(repo);
	return rc;
}

/*
 * LMDB trusts its pages: a flipped node offset or size inside a B-tree page
 * can make it read outside the map (SIGSEGV, SIGBUS) before any check of
 * ours sees a value. fsck is the command run on a suspect store, so it
 * checks in a child and turns such a death into a report.
 */
int cmd_fsck(int argc, char **argv)
{
	const char *what;
	pid_t pid;
	int st;

	cli_parse_noargs(&cli_cmd_fsck, argc, argv);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int rc;
		cli_crash_note_remove(); /* the parent reports a crash */
		rc = fsck_run();
		fflush(NULL);
		_exit(rc == 0 ? 0 : 1);
	}
	if (pid < 0)
		return fsck_run(); /* no process to spare: check in place */
	while (waitpid(pid, &st, 0) < 0)
		;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WTERMSIG(st) == SIGINT || WTERMSIG(st) == SIGTERM ||
	    WTERMSIG(st) == SIGKILL) {
		fprintf(stderr, "z4vc: fsck: interrupted (signal %d)\n",
		        WTERMSIG(st));
		return 1;
	}
	what = strsignal(WTERMSIG(st));
	if (json)
		printf("{\"ok\": false, \"problem_count\": 1, \"problems\": "
		       "[{\"kind\": \"store\", \"id\": \"\", \"why\": "
		       "\"reading the store crashed (signal %d): its B-tree "
		       "pages are damaged\"}], \"dangling\": []}\n",
		       WTERMSIG(st));
	fprintf(stderr,
	        "z4vc: fsck: store: reading it crashed (%s): its LMDB B-tree "
	        "pages are damaged; restore it from a remote or a backup\n",
	        what ? what : "signal");
	return 1;
}
