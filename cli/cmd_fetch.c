/* cmd_fetch.c - z4vc fetch: download the objects that commits need. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "z4vc_remote.h"

static int all;

const cli_cmd cli_cmd_fetch = {
	.name = "fetch",
	.usage = "[<remote> [<rev>...]] [--all]",
	.summary = "download the weight objects of commits from a z4vc remote",
	.details =
		"Downloads into the local store every file whose Git LFS pointer is in\n"
		"the tree of <rev> (default HEAD; with --all, of every commit reachable\n"
		"from it) from <remote> (default: the branch's upstream remote, else\n"
		"origin). Every object is verified against its id, and every file\n"
		"against its SHA-256, before it becomes visible in the store.",
	.opts = (const cli_opt[]){
		{"all", 'a', OPT_FLAG, &all, NULL, "also every ancestor commit of <rev>"},
		{0},
	},
};

typedef struct {
	char **v;
	size_t n, cap;
} oidlist;

static int add_oid(void *ud, const z4vc_pointer *p, const char *path)
{
	oidlist *l = ud;
	(void)path;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		char **nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = nc;
	}
	if (!(l->v[l->n] = strdup(p->oid)))
		return -1;
	l->n++;
	return 0;
}

int cmd_fetch(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	oidlist l = {0};
	cli_progress prog;
	const char *remote = NULL;
	const char *head = "HEAD";
	const char *const *revs = &head;
	size_t nrevs = 1;
	char what[256];
	int n, rc = 1;

	cli_parse(&cli_cmd_fetch, argc, argv, &n);
	if (n >= 1)
		remote = argv[1];
	if (n >= 2) {
		revs = (const char *const *)argv + 2;
		nrevs = (size_t)n - 1;
	}
	snprintf(what, sizeof(what), "fetch from '%s'",
	         remote ? remote : "default remote");
	if (z4vc_repo_init(&repo, cli_chdir) ||
	    z4vc_rev_pointers(repo, revs, nrevs, NULL, 0,
	                      all ? Z4VC_REVS_WALK : 0, add_oid, &l)) {
		cli_fail(what);
		goto done;
	}
	cli_progress_init(&prog, "fetch");
	if (z4vc_remote_fetch(repo, remote, (const char *const *)l.v, l.n,
	                      cli_progress_cb, &prog)) {
		cli_progress_end(&prog);
		cli_fail(what);
		goto done;
	}
	cli_progress_end(&prog);
	printf("%zu file%s available locally\n", l.n, l.n == 1 ? "" : "s");
	rc = 0;
done:
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	z4vc_repo_free(repo);
	return rc;
}
