/* main.c - git-like dispatch: z4vc [-C DIR] <command> [options]. */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define Z4_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define Z4_HAVE_ASAN 1
#endif
#endif

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

/*
 * LMDB trusts its B-tree pages: a damaged store can make it read outside
 * its map before any check of ours runs (fsck checks in a child for that
 * reason). Any other command dies of the signal as before, but says what
 * to do first. Sanitizer builds keep their own, more useful, report.
 */
#ifndef Z4_HAVE_ASAN
/* What a crashing command prints, set before dispatch. */
static char crash_note[256];
static size_t crash_note_len;

static void on_crash(int sig)
{
	/* Only async-signal-safe calls; then die of the same signal, so the
	 * exit status (and a core file, where enabled) stays what it was. */
	ssize_t r = write(STDERR_FILENO, crash_note, crash_note_len);
	(void)r;
	signal(sig, SIG_DFL);
	raise(sig);
}

static void crash_note_install(const char *cmd)
{
	int n = snprintf(crash_note, sizeof(crash_note),
			 "z4vc: %s: crashed (invalid memory access): if the "
			 "store is damaged, 'z4vc fsck' says where\n",
			 cmd);
	struct sigaction sa;

	if (n <= 0 || (size_t)n >= sizeof(crash_note))
		return;
	crash_note_len = (size_t)n;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_crash;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}
#else
static void crash_note_install(const char *cmd)
{
	(void)cmd;
}
#endif

/* For a child that reports its own crash (fsck). */
void cli_crash_note_remove(void)
{
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
}

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
	crash_note_install(argv[i]);
	return handlers[idx](argc - i, argv + i);
}
