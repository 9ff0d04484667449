/* cmd_push.c - z4vc push: upload the objects that commits need to a remote. */
#include "cli.h"

#include <stdio.h>

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

int cmd_push(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	cli_strlist oids = {0};
	cli_remote_args a;
	int n, rc = 1;

	cli_parse(&cli_cmd_push, argc, argv, &n);
	cli_remote_args_parse(&a, argv, n, "push to");
	if (cli_open_repo(&repo) ||
	    z4vc_rev_pointers(repo, a.revs, a.nrevs, NULL, 0, Z4VC_REVS_WALK,
	                      cli_strlist_add_oid, &oids) ||
	    cli_remote_transfer(repo, z4vc_remote_push, a.remote, &oids,
	                        "push")) {
		cli_fail(a.what);
		goto done;
	}
	printf("%zu file%s up to date on the remote\n", oids.n,
	       oids.n == 1 ? "" : "s");
	rc = 0;
done:
	cli_strlist_dispose(&oids);
	z4vc_repo_free(repo);
	return rc;
}
