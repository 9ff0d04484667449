/* cmd_smudge.c - z4vc smudge: the single-shot smudge filter (pointer -> file). */
#include "cli.h"

#include <stdio.h>

#include "z4vc_lfs.h"

static int no_fetch;

const cli_cmd cli_cmd_smudge = {
	.name = "smudge",
	.usage = "[<path>] [--no-fetch]",
	.summary = "print the file a Git LFS pointer on stdin names",
	.details =
		"The single-shot smudge filter (filter.z4vc.smudge = z4vc smudge %f).\n"
		"The file is rebuilt from the store (fetched from the remote if missing)\n"
		"and verified before anything is printed. Input that is not a pointer is\n"
		"printed unchanged. If the file cannot be had, the pointer is printed\n"
		"unchanged and the reason goes to stderr (exit 0, as git-lfs does).",
	.opts = (const cli_opt[]){
		{"no-fetch", 0, OPT_FLAG, &no_fetch, NULL, "never contact the remote"},
		{0},
	},
};

int cmd_smudge(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	char what[4200];
	int n, kept = 0, rc = 1;

	cli_parse(&cli_cmd_smudge, argc, argv, &n);
	if (n > 1)
		cli_usage_error(&cli_cmd_smudge, "at most one <path>");
	snprintf(what, sizeof(what), "smudge '%s'", n ? argv[1] : "-");
	if (cli_open_filter_repo(&repo) ||
	    z4vc_lfs_smudge(&kept, repo, n ? argv[1] : "-", cli_read_stdin, NULL,
			    cli_write_stdout, NULL,
			    no_fetch ? Z4VC_SMUDGE_NO_FETCH : 0)) {
		cli_fail(what);
		goto done;
	}
	if (kept)
		fprintf(stderr, "z4vc: %s\n", z4vc_error());
	rc = cli_flush_stdout(what);
done:
	z4vc_repo_free(repo);
	return rc;
}
