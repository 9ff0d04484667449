/* cmd_track.c - z4vc track: list or add filter=z4vc patterns. */
#include "cli.h"

#include "z4vc_lfs.h"

const cli_cmd cli_cmd_track = {
	.name = "track",
	.usage = "[<pattern>...]",
	.summary = "store files matching patterns in z4vc (.gitattributes)",
	.details =
		"Adds '<pattern> filter=z4vc diff=z4vc merge=z4vc -text' to the\n"
		".gitattributes at the top of the work tree (a filter=lfs line for the\n"
		"same pattern is switched instead). Without patterns, lists the tracked\n"
		"ones.",
	.opts = (const cli_opt[]){{0}},
};

static void note(void *ud, const char *line) { printf("%s\n", line); }

static int list(const char *pattern, void *ud)
{
	printf("%s\n", pattern);
	return 0;
}

int cmd_track(int argc, char **argv)
{
	int n;
	cli_parse(&cli_cmd_track, argc, argv, &n);
	if (n == 0)
		return z4vc_lfs_tracked(cli_chdir, list, NULL) ? cli_fail("track") : 0;
	if (z4vc_lfs_track(cli_chdir, (const char *const *)argv + 1, (size_t)n, note, NULL))
		return cli_fail("track");
	return 0;
}
