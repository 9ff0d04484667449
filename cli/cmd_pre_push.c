/* cmd_pre_push.c - z4vc pre-push: git's pre-push hook uploads objects. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "z4vc_remote.h"

const cli_cmd cli_cmd_pre_push = {
	.name = "pre-push",
	.usage = "<remote> [<url>]",
	.summary = "upload what pushed commits need (run by git's pre-push hook)",
	.details =
		"Reads git's pre-push lines ('<local ref> <local sha> <remote ref>\n"
		"<remote sha>') on stdin and uploads, to the z4vc remote of <remote>, every\n"
		"file whose pointer is in a pushed commit not already on the remote\n"
		"(reachable from neither the remote's old tips nor refs/remotes/<remote>/).\n"
		"A failure makes git abort the push, so refs never name missing objects.",
	.opts = (const cli_opt[]){{0}},
};

typedef struct {
	char **v;
	size_t n, cap;
} strlist;

static int push_str(strlist *l, const char *s)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		char **nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = nc;
	}
	if (!(l->v[l->n] = strdup(s)))
		return -1;
	l->n++;
	return 0;
}

static void free_list(strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int add_oid(void *ud, const z4vc_pointer *p, const char *path)
{
	(void)path;
	return push_str(ud, p->oid);
}

static int is_zero(const char *sha)
{
	return strspn(sha, "0") == strlen(sha);
}

int cmd_pre_push(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	strlist revs = {0}, hide = {0}, oids = {0};
	cli_progress prog;
	char line[4096], what[512], glob[600];
	int n, rc = 1;

	cli_parse(&cli_cmd_pre_push, argc, argv, &n);
	if (n < 1 || n > 2)
		cli_usage_error(&cli_cmd_pre_push, "expected <remote> [<url>]");
	snprintf(what, sizeof(what), "pre-push to '%s'", argv[1]);
	while (fgets(line, sizeof(line), stdin)) {
		char lref[1024], lsha[100], rref[1024], rsha[100];
		if (sscanf(line, "%1023s %99s %1023s %99s", lref, lsha, rref,
		           rsha) != 4) {
			fprintf(stderr, "z4vc: %s: malformed hook input line\n",
			        what);
			goto done;
		}
		if (!is_zero(lsha) && push_str(&revs, lsha))
			goto oom;
		if (!is_zero(rsha) && push_str(&hide, rsha))
			goto oom;
	}
	if (revs.n == 0) {
		rc = 0; /* only deletions */
		goto done;
	}
	snprintf(glob, sizeof(glob), "refs/remotes/%s/*", argv[1]);
	if (push_str(&hide, glob))
		goto oom;
	if (cli_open_repo(&repo) ||
	    z4vc_rev_pointers(repo, (const char *const *)revs.v, revs.n,
	                      (const char *const *)hide.v, hide.n,
	                      Z4VC_REVS_WALK, add_oid, &oids)) {
		cli_fail(what);
		goto done;
	}
	cli_progress_init(&prog, "upload");
	if (z4vc_remote_push(repo, argv[1], (const char *const *)oids.v, oids.n,
	                     cli_progress_cb, &prog)) {
		cli_progress_end(&prog);
		cli_fail(what);
		goto done;
	}
	cli_progress_end(&prog);
	rc = 0;
	goto done;
oom:
	fprintf(stderr, "z4vc: %s: out of memory\n", what);
done:
	free_list(&revs);
	free_list(&hide);
	free_list(&oids);
	z4vc_repo_free(repo);
	return rc;
}
