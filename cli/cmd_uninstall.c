/* cmd_uninstall.c - z4vc uninstall: undo z4vc install. */
#include "cli.h"

#include "z4vc_lfs.h"

static int global, local;

const cli_cmd cli_cmd_uninstall = {
	.name = "uninstall",
	.usage = "[--global | --local]",
	.summary = "undo 'z4vc install' (config, hooks, the attributes it added)",
	.details =
		"Removes the filter.z4vc config, our pre-push hook (putting back the\n"
		"hook it chained), and the .gitattributes lines install added; lines it\n"
		"switched from filter=lfs go back to filter=lfs. The store and the\n"
		"files in the work tree are kept.",
	.opts = (const cli_opt[]){
		{"global", 0, OPT_FLAG, &global, NULL, "remove the ~/.gitconfig filter config"},
		{"local", 0, OPT_FLAG, &local, NULL, "this repository (default)"},
		{0},
	},
};

static void note(void *ud, const char *line) { printf("%s\n", line); }

int cmd_uninstall(int argc, char **argv)
{
	int n;
	cli_parse(&cli_cmd_uninstall, argc, argv, &n);
	if (n)
		cli_usage_error(&cli_cmd_uninstall, "takes no arguments");
	if (global && local)
		cli_usage_error(&cli_cmd_uninstall, "give --global or --local, not both");
	if (z4vc_lfs_uninstall(cli_chdir, global ? Z4VC_INSTALL_GLOBAL : 0, note, NULL))
		return cli_fail("uninstall");
	return 0;
}
