/*
 * cli.h - shared pieces of the z4vc command line: option tables (which
 * drive both parsing and --help), error printing, progress bars.
 */
#ifndef Z4_CLI_H
#define Z4_CLI_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

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
/* cli_parse for a command without positional arguments: any is a usage
 * error ("unexpected argument '<arg>'", exit 129). */
void cli_parse_noargs(const cli_cmd *cmd, int argc, char **argv);
void cli_help(const cli_cmd *cmd, FILE *out);
/* Drop main's crash note (SIGSEGV/SIGBUS), for a child whose parent
 * reports the crash itself. */
void cli_crash_note_remove(void);
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

/* Print j indented and a newline on stdout, then free j (NULL-safe). */
struct cJSON;
void cli_print_json(struct cJSON *j);

/* "1.23 MB" style, into buf. */
const char *cli_bytes(char *buf, size_t cap, uint64_t n);
double cli_now(void);

/* Opens the repository of the current directory (or -C dir). */
int cli_open_repo(z4vc_repo **out);
extern const char *cli_chdir;

/* Opens (creating the store if needed) the repository a filter runs in: git
 * runs filters at the top of the work tree; GIT_DIR wins if set. */
int cli_open_filter_repo(z4vc_repo **out);

/* Reader on fd 0 and writer to stdout for the z4vc_lfs_* streams (ud
 * unused); cli_write_stdout returns -2 (Z4_EIO) on a short write. */
ssize_t cli_read_stdin(void *ud, void *buf, size_t len);
int cli_write_stdout(void *ud, const void *buf, size_t len);
/* Flush stdout: 0, or 1 after "z4vc: <what>: write error" on stderr. */
int cli_flush_stdout(const char *what);

/* Write all of buf to fd, retrying short writes and EINTR: 0, -6
 * (Z4_EFULL) on ENOSPC, else -2 (Z4_EIO) with errno set. */
int cli_write_all(int fd, const void *buf, size_t len);

/* ---- remotes: fetch, push, pull, pre-push (cli_remote.c) ---- */

/* A growable list of malloc'd strings; {0} is empty. */
typedef struct {
	char **v;
	size_t n, cap;
} cli_strlist;

/* Append a copy of s: 0, or -1 when out of memory. */
int cli_strlist_push(cli_strlist *l, const char *s);
/* Free the strings and the array (the list may be reused as {0}). */
void cli_strlist_dispose(cli_strlist *l);
/* A z4vc_pointer_fn (z4vc_remote.h) appending each pointer's oid to the
 * cli_strlist `ud`. */
int cli_strlist_add_oid(void *ud, const z4vc_pointer *p, const char *path);

/* The "[<remote> [<rev>...]]" positionals left by cli_parse. */
typedef struct {
	const char *remote;      /* NULL: the default remote */
	const char *const *revs; /* borrowed from argv; default {"HEAD"} */
	size_t nrevs;
	char what[256];          /* "<action> '<remote>'" for error messages */
} cli_remote_args;

/* Fill *out from argv[1..npos]; action is e.g. "fetch from". */
void cli_remote_args_parse(cli_remote_args *out, char **argv, int npos,
                           const char *action);

/* z4vc_remote_fetch or z4vc_remote_push. */
typedef int (*cli_transfer_fn)(z4vc_repo *repo, const char *remote,
                               const char *const *oids, size_t n,
                               z4vc_progress_fn progress, void *progress_ud);

/* Run fn for the oids with a progress bar labelled verb on stderr (ended
 * before returning, so an error message starts on a clean line). Returns
 * fn's code; the reason is z4vc_error(). */
int cli_remote_transfer(z4vc_repo *repo, cli_transfer_fn fn,
                        const char *remote, const cli_strlist *oids,
                        const char *verb);

#define CMD(name)                                                              \
	int cmd_##name(int argc, char **argv);                                 \
	extern const cli_cmd cli_cmd_##name;
#include "commands.def"
#undef CMD

#endif
