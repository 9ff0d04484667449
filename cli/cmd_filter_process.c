/* cmd_filter_process.c - z4vc filter-process: git's long-running filter. */
#include "cli.h"

#include <stdio.h>

#include "z4vc_lfs.h"

const cli_cmd cli_cmd_filter_process = {
	.name = "filter-process",
	.usage = "",
	.summary = "serve git's long-running clean/smudge filter on stdin/stdout",
	.details =
		"Run by git (filter.z4vc.process, set by 'z4vc install'), not by hand.\n"
		"Speaks pkt-line protocol version 2 with the clean, smudge and delay\n"
		"capabilities. A malformed request is fatal: exit 1 with a reason.",
	.opts = (const cli_opt[]){{0}},
};

static void warn(void *ud, const char *what, const char *why)
{
	fprintf(stderr, "z4vc: %s: %s\n", what, why);
}

int cmd_filter_process(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	z4vc_filter_opts o = {.warn = warn};
	int n, rc = 1;

	cli_parse(&cli_cmd_filter_process, argc, argv, &n);
	if (n)
		cli_usage_error(&cli_cmd_filter_process, "takes no arguments");
	if (cli_open_filter_repo(&repo) || z4vc_lfs_filter_process(repo, 0, 1, &o)) {
		cli_fail("filter-process");
		goto done;
	}
	rc = 0;
done:
	z4vc_repo_free(repo);
	return rc;
}
