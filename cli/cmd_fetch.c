/* cmd_fetch.c - z4vc fetch: download the objects that commits need. */
#include "cli.h"

#include <stdio.h>

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

int cmd_fetch(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	cli_strlist oids = {0};
	cli_remote_args a;
	int n, rc = 1;

	cli_parse(&cli_cmd_fetch, argc, argv, &n);
	cli_remote_args_parse(&a, argv, n, "fetch from");
	if (z4vc_repo_init(&repo, cli_chdir) ||
	    z4vc_rev_pointers(repo, a.revs, a.nrevs, NULL, 0,
	                      all ? Z4VC_REVS_WALK : 0, cli_strlist_add_oid,
	                      &oids) ||
	    cli_remote_transfer(repo, z4vc_remote_fetch, a.remote, &oids,
	                        "fetch")) {
		cli_fail(a.what);
		goto done;
	}
	printf("%zu file%s available locally\n", oids.n, oids.n == 1 ? "" : "s");
	rc = 0;
done:
	cli_strlist_dispose(&oids);
	z4vc_repo_free(repo);
	return rc;
}
