/*
 * cli.h - shared pieces of the z4vc command line: option tables (which
 * drive both parsing and --help), error printing, progress bars.
 */
#ifndef Z4_CLI_H
#define Z4_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "z4vc.h"

#define EXIT_USAGE 129

typedef enum { OPT_FLAG, OPT_STR, OPT_INT } opt_kind;

typedef struct {
	const char *name;  /* long name without "--" */
	char shortname;    /* 0 if none */
	opt_kind kind;
	void *dst;         /* int* for FLAG, const char** for STR, int64_t* INT */
	const char *arg;   /* placeholder in help, e.g. "N" */
	const char *help;
} cli_opt;

typedef struct {
	const char *name;
	const char *usage;   /* after "z4vc <name> " */
	const char *summary; /* one line */
	const char *details; /* paragraph(s) for help, may be NULL */
	const cli_opt *opts; /* terminated by {0} */
} cli_cmd;

/*
 * Parse argv[1..] by cmd->opts. Positional arguments are compacted into
 * argv[1..*npos]. "--help"/"-h" print help and exit 0; unknown options or
 * bad values print usage and exit 129.
 */
void cli_parse(const cli_cmd *cmd, int argc, char **argv, int *npos);
void cli_help(const cli_cmd *cmd, FILE *out);
_Noreturn void cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "z4vc: <what>: <why>" on stderr; returns 1 (the exit code). */
int cli_fail(const char *what);

/* Progress bar on stderr when it is a terminal (no-op otherwise). */
typedef struct {
	int enabled;
	double start, last;
	const char *verb;
} cli_progress;
void cli_progress_init(cli_progress *p, const char *verb);
void cli_progress_cb(void *ud, uint64_t done, uint64_t total, const char *what);
void cli_progress_end(cli_progress *p);

/* "1.23 MB" style, into buf. */
const char *cli_bytes(char *buf, size_t cap, uint64_t n);
double cli_now(void);

/* Opens the repository of the current directory (or -C dir). */
int cli_open_repo(z4vc_repo **out);
extern const char *cli_chdir;

#define CMD(name)                                                              \
	int cmd_##name(int argc, char **argv);                                 \
	extern const cli_cmd cli_cmd_##name;
#include "commands.def"
#undef CMD

#endif
