/* cmd_install.c - z4vc install: make plain git store weights in z4vc. */
#include "cli.h"

#include "z4vc_lfs.h"

static int global, local;

const cli_cmd cli_cmd_install = {
	.name = "install",
	.usage = "[--global | --local]",
	.summary = "set up git to store weight files in z4vc (like 'git lfs install')",
	.details =
		"In the current repository (--local, the default): git config\n"
		"filter.z4vc.{process,clean,smudge,required}, .gitattributes lines\n"
		"'<pattern> filter=z4vc diff=z4vc merge=z4vc -text' for *.safetensors,\n"
		"*.gguf, *.bin, *.pt, *.pth, *.ckpt, *.onnx, *.h5 (filter=lfs lines are\n"
		"switched to z4vc: the pointers are the same), the pre-push hook (an\n"
		"existing one is kept as pre-push.z4vc-chained and still runs) and the\n"
		"store. With --global, only the filter config, in ~/.gitconfig.\n"
		"Running it again changes nothing. 'z4vc uninstall' undoes it.",
	.opts = (const cli_opt[]){
		{"global", 0, OPT_FLAG, &global, NULL, "filter config in ~/.gitconfig only"},
		{"local", 0, OPT_FLAG, &local, NULL, "this repository (default)"},
		{0},
	},
};

static void note(void *ud, const char *line) { printf("%s\n", line); }

int cmd_install(int argc, char **argv)
{
	int n;
	cli_parse(&cli_cmd_install, argc, argv, &n);
	if (n)
		cli_usage_error(&cli_cmd_install, "takes no arguments");
	if (global && local)
		cli_usage_error(&cli_cmd_install, "give --global or --local, not both");
	if (z4vc_lfs_install(cli_chdir, global ? Z4VC_INSTALL_GLOBAL : 0, note, NULL))
		return cli_fail("install");
	return 0;
}
