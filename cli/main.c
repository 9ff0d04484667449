/* main.c - git-like dispatch: z4vc [-C DIR] <command> [options]. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define CMD(name) &cli_cmd_##name,
static const cli_cmd *const commands[] = {
#include "commands.def"
};
#undef CMD
#define CMD(name) cmd_##name,
static int (*const handlers[])(int, char **) = {
#include "commands.def"
};
#undef CMD
#define NCMDS (sizeof(commands) / sizeof(commands[0]))

static void overview(FILE *out)
{
	fprintf(out, "usage: z4vc [-C DIR] <command> [options]\n\n"
		     "z4vc %s: version control for model weights\n\ncommands:\n",
		Z4VC_VERSION);
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(out, "  %-15s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "\n'z4vc help <command>' or 'z4vc <command> --help' for details.\n");
}

static const cli_cmd *find(const char *name, size_t *idx)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(commands[i]->name, name) == 0) {
			if (idx)
				*idx = i;
			return commands[i];
		}
	return NULL;
}

int cmd_help(int argc, char **argv)
{
	int n;
	const cli_cmd *c;
	cli_parse(&cli_cmd_help, argc, argv, &n);
	if (n == 0) {
		overview(stdout);
		return 0;
	}
	if (!(c = find(argv[1], NULL))) {
		fprintf(stderr, "z4vc: help: '%s' is not a z4vc command\n", argv[1]);
		return EXIT_USAGE;
	}
	cli_help(c, stdout);
	return 0;
}

const cli_cmd cli_cmd_help = {
	.name = "help",
	.usage = "[<command>]",
	.summary = "show help for z4vc or one command",
	.opts = (const cli_opt[]){{0}},
};

int main(int argc, char **argv)
{
	size_t idx;
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-C") == 0 && i + 1 < argc) {
			cli_chdir = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("z4vc %s\n", Z4VC_VERSION);
			return 0;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			overview(stdout);
			return 0;
		} else {
			fprintf(stderr, "z4vc: unknown option '%s'\n", argv[i]);
			overview(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		overview(stderr);
		return EXIT_USAGE;
	}
	if (!find(argv[i], &idx)) {
		fprintf(stderr, "z4vc: '%s' is not a z4vc command (see 'z4vc help')\n",
			argv[i]);
		return EXIT_USAGE;
	}
	return handlers[idx](argc - i, argv + i);
}
