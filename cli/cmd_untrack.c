/* cmd_untrack.c - z4vc untrack: remove filter=z4vc patterns. */
#include "cli.h"

#include "z4vc_lfs.h"

const cli_cmd cli_cmd_untrack = {
	.name = "untrack",
	.usage = "<pattern>...",
	.summary = "stop storing files matching patterns in z4vc (.gitattributes)",
	.details = "Removes the filter=z4vc lines of these patterns from the top\n"
		   ".gitattributes. Files already committed keep their pointers.",
	.opts = (const cli_opt[]){{0}},
};

static void note(void *ud, const char *line) { printf("%s\n", line); }

int cmd_untrack(int argc, char **argv)
{
	int n;
	cli_parse(&cli_cmd_untrack, argc, argv, &n);
	if (n == 0)
		cli_usage_error(&cli_cmd_untrack, "missing <pattern>");
	if (z4vc_lfs_untrack(cli_chdir, (const char *const *)argv + 1, (size_t)n, note, NULL))
		return cli_fail("untrack");
	return 0;
}
