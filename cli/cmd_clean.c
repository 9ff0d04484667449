/* cmd_clean.c - z4vc clean: the single-shot clean filter (stdin -> pointer). */
#include "cli.h"

#include <stdio.h>

#include "z4vc_lfs.h"

const cli_cmd cli_cmd_clean = {
	.name = "clean",
	.usage = "[<path>]",
	.summary = "store stdin in the z4vc store and print its Git LFS pointer",
	.details =
		"The single-shot clean filter (filter.z4vc.clean = z4vc clean %f), for\n"
		"gits without the long-running protocol. <path> names the file (for the\n"
		"delta base and *.safetensors parsing). Input that already is a pointer\n"
		"is printed unchanged.",
	.opts = (const cli_opt[]){{0}},
};

int cmd_clean(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	char what[4200];
	int n, rc = 1;

	cli_parse(&cli_cmd_clean, argc, argv, &n);
	if (n > 1)
		cli_usage_error(&cli_cmd_clean, "at most one <path>");
	snprintf(what, sizeof(what), "clean '%s'", n ? argv[1] : "-");
	if (cli_open_filter_repo(&repo) ||
	    z4vc_lfs_clean(repo, n ? argv[1] : "", cli_read_stdin, NULL,
	                   cli_write_stdout, NULL)) {
		cli_fail(what);
		goto done;
	}
	rc = cli_flush_stdout(what);
done:
	z4vc_repo_free(repo);
	return rc;
}
