/* cmd_push.c - z4vc push: upload the objects that commits need to a remote. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "z4vc_remote.h"

const cli_cmd cli_cmd_push = {
	.name = "push",
	.usage = "[<remote> [<rev>...]]",
	.summary = "upload the weight objects of commits to a z4vc remote",
	.details =
		"Uploads every file whose Git LFS pointer is in a commit reachable from\n"
		"<rev> (default HEAD) to <remote> (default: the branch's upstream remote,\n"
		"else origin), sending only the encoded objects the remote lacks. The\n"
		"objects go to git config remote.<remote>.z4vcurl, else z4vc.url, else\n"
		"<path>/z4vc inside a remote whose URL is a local path. Refs travel with\n"
		"'git push' (whose pre-push hook runs 'z4vc pre-push').",
	.opts = (const cli_opt[]){{0}},
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

int cmd_push(int argc, char **argv)
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

	cli_parse(&cli_cmd_push, argc, argv, &n);
	if (n >= 1)
		remote = argv[1];
	if (n >= 2) {
		revs = (const char *const *)argv + 2;
		nrevs = (size_t)n - 1;
	}
	snprintf(what, sizeof(what), "push to '%s'",
	         remote ? remote : "default remote");
	if (cli_open_repo(&repo) ||
	    z4vc_rev_pointers(repo, revs, nrevs, NULL, 0, Z4VC_REVS_WALK,
	                      add_oid, &l)) {
		cli_fail(what);
		goto done;
	}
	cli_progress_init(&prog, "push");
	if (z4vc_remote_push(repo, remote, (const char *const *)l.v, l.n,
	                     cli_progress_cb, &prog)) {
		cli_progress_end(&prog);
		cli_fail(what);
		goto done;
	}
	cli_progress_end(&prog);
	printf("%zu file%s up to date on the remote\n", l.n,
	       l.n == 1 ? "" : "s");
	rc = 0;
done:
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	z4vc_repo_free(repo);
	return rc;
}
