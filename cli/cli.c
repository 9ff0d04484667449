/* cli.c - option parsing, help, errors and progress for the commands. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "z4_err.h"

const char *cli_chdir = ".";

void cli_help(const cli_cmd *cmd, FILE *out)
{
	fprintf(out, "usage: z4vc %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
	if (cmd->details)
		fprintf(out, "\n%s\n", cmd->details);
	if (cmd->opts && cmd->opts[0].name) {
		fprintf(out, "\noptions:\n");
		for (const cli_opt *o = cmd->opts; o->name; o++) {
			char left[64];
			if (o->shortname)
				snprintf(left, sizeof(left), "-%c, --%s%s%s", o->shortname,
					 o->name, o->arg ? " " : "", o->arg ? o->arg : "");
			else
				snprintf(left, sizeof(left), "    --%s%s%s", o->name,
					 o->arg ? " " : "", o->arg ? o->arg : "");
			fprintf(out, "  %-26s %s\n", left, o->help);
		}
	}
	fprintf(out, "  %-26s %s\n", "-h, --help", "show this help");
}

void cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "z4vc: %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: z4vc %s %s\n(see 'z4vc help %s')\n", cmd->name,
		cmd->usage, cmd->name);
	exit(EXIT_USAGE);
}

static int set_opt(const cli_cmd *cmd, const cli_opt *o, const char *val)
{
	if (o->kind == OPT_FLAG) {
		*(int *)o->dst = 1;
		return 0;
	}
	if (!val)
		cli_usage_error(cmd, "option '--%s' needs a value", o->name);
	if (o->kind == OPT_STR) {
		*(const char **)o->dst = val;
	} else {
		char *end;
		long long v;
		if (!*val)
			cli_usage_error(cmd, "option '--%s': empty number", o->name);
		v = strtoll(val, &end, 10);
		if (*end)
			cli_usage_error(cmd, "option '--%s': '%s' is not a number", o->name,
					val);
		*(int64_t *)o->dst = v;
	}
	return 1;
}

void cli_parse(const cli_cmd *cmd, int argc, char **argv, int *npos)
{
	int n = 0, only_pos = 0;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		const cli_opt *o = NULL;
		const char *val = NULL;

		if (only_pos || a[0] != '-' || a[1] == '\0') {
			argv[1 + n++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			cli_help(cmd, stdout);
			exit(0);
		}
		if (a[1] == '-') {
			char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			for (const cli_opt *c = cmd->opts; c && c->name; c++)
				if (strlen(c->name) == len && strncmp(c->name, a + 2, len) == 0)
					o = c;
			if (!o)
				cli_usage_error(cmd, "unknown option '%s'", a);
			if (eq)
				val = eq + 1;
			else if (o->kind != OPT_FLAG)
				val = i + 1 < argc ? argv[++i] : NULL;
		} else {
			for (const cli_opt *c = cmd->opts; c && c->name; c++)
				if (c->shortname == a[1])
					o = c;
			if (!o || (a[2] && o->kind == OPT_FLAG))
				cli_usage_error(cmd, "unknown option '%s'", a);
			if (o->kind != OPT_FLAG)
				val = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
		}
		if (o->kind == OPT_FLAG && val && a[1] == '-' && strchr(a, '='))
			cli_usage_error(cmd, "option '--%s' takes no value", o->name);
		set_opt(cmd, o, val);
	}
	*npos = n;
}

void cli_parse_noargs(const cli_cmd *cmd, int argc, char **argv)
{
	int n;
	cli_parse(cmd, argc, argv, &n);
	if (n)
		cli_usage_error(cmd, "unexpected argument '%s'", argv[1]);
}

void cli_print_json(cJSON *j)
{
	char *txt = cJSON_Print(j);
	if (txt)
		printf("%s\n", txt);
	cJSON_free(txt);
	cJSON_Delete(j);
}

int cli_fail(const char *what)
{
	fprintf(stderr, "z4vc: %s: %s\n", what, z4vc_error());
	return 1;
}

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

const char *cli_bytes(char *buf, size_t cap, uint64_t n)
{
	static const char *unit[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, cap, "%.2f %s", v, unit[u]);
	return buf;
}

void cli_progress_init(cli_progress *p, const char *verb)
{
	const char *no = getenv("Z4VC_NO_PROGRESS");
	p->enabled = isatty(2) && !(no && *no);
	p->start = cli_now();
	p->last = 0;
	p->verb = verb;
}

void cli_progress_cb(void *ud, uint64_t done, uint64_t total, const char *what)
{
	cli_progress *p = ud;
	double now = cli_now(), secs;
	char b1[32], b2[32];
	int width = 30, fill;

	if (!p->enabled || (now - p->last < 0.1 && done < total))
		return;
	p->last = now;
	secs = now - p->start;
	fill = total ? (int)((double)done / (double)total * width) : 0;
	if (fill > width)
		fill = width;
	fprintf(stderr, "\r%s [%.*s%*s] %3d%% %s/%s %.0f MB/s %-.30s\033[K", p->verb, fill,
		"##############################", width - fill, "",
		total ? (int)(done * 100 / total) : 0, cli_bytes(b1, sizeof(b1), done),
		cli_bytes(b2, sizeof(b2), total),
		secs > 0 ? (double)done / secs / 1e6 : 0.0, what ? what : "");
}

void cli_progress_end(cli_progress *p)
{
	if (p->enabled && p->last > 0)
		fprintf(stderr, "\r\033[K");
}

/* What the library repaired on its own (a stale lock a killed process
 * left), as "z4vc: <line>" on stderr, clear of a progress bar. */
static void cli_notice(void *ud, const char *line)
{
	(void)ud;
	fprintf(stderr, "%sz4vc: %s\n", isatty(2) ? "\r\033[K" : "", line);
}

int cli_open_repo(z4vc_repo **out)
{
	int rc = z4vc_repo_open(out, cli_chdir);
	if (rc == 0)
		z4vc_repo_set_notice(*out, cli_notice, NULL);
	return rc;
}

int cli_open_filter_repo(z4vc_repo **out)
{
	const char *gd = getenv("GIT_DIR");
	int rc = z4vc_repo_init(out, gd && *gd ? gd : cli_chdir);
	if (rc == 0)
		z4vc_repo_set_notice(*out, cli_notice, NULL);
	return rc;
}

ssize_t cli_read_stdin(void *ud, void *buf, size_t len)
{
	ssize_t k;
	(void)ud;
	do
		k = read(0, buf, len);
	while (k < 0 && errno == EINTR);
	return k;
}

int cli_write_stdout(void *ud, const void *buf, size_t len)
{
	(void)ud;
	return fwrite(buf, 1, len, stdout) == len ? 0 : Z4_EIO;
}

int cli_flush_stdout(const char *what)
{
	if (fflush(stdout) == 0)
		return 0;
	fprintf(stderr, "z4vc: %s: write error\n", what);
	return 1;
}

int cli_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ENOSPC ? Z4_EFULL : Z4_EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
