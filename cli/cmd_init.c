/* cmd_init.c - z4vc init: create the object store in $GIT_DIR/z4vc. */
#include "cli.h"

#include <stdio.h>

const cli_cmd cli_cmd_init = {
	.name = "init",
	.usage = "",
	.summary = "create the z4vc object store in the current git repository",
	.details = "Creates $GIT_DIR/z4vc/store (an LMDB environment). Running it\n"
		   "again is harmless. The repository must exist ('git init').",
	.opts = (const cli_opt[]){{0}},
};

int cmd_init(int argc, char **argv)
{
	z4vc_repo *repo;

	cli_parse_noargs(&cli_cmd_init, argc, argv);
	if (z4vc_repo_init(&repo, cli_chdir))
		return cli_fail("init");
	printf("initialized z4vc store in %s\n", z4vc_repo_dir(repo));
	z4vc_repo_free(repo);
	return 0;
}
