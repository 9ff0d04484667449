/* cmd_log.c - z4vc log: the checkpoints of one run or of all runs. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <time.h>

static const char *run;
static int json;
static int64_t limit = -1;

const cli_cmd cli_cmd_log = {
	.name = "log",
	.usage = "[--run NAME] [-n N] [--json]",
	.summary = "list checkpoints, newest first, with raw and stored sizes",
	.details = "'new' is the encoded size of the chunks a checkpoint added to the\n"
		   "store (those its parent checkpoint does not share).",
	.opts = (const cli_opt[]){
		{"run", 'r', OPT_STR, &run, "NAME", "only this run (default: every run)"},
		{"max-count", 'n', OPT_INT, &limit, "N", "show at most N checkpoints"},
		{"json", 0, OPT_FLAG, &json, NULL, "print a JSON array"},
		{0},
	},
};

typedef struct {
	cJSON *arr;
	int64_t shown;
	uint64_t raw, stored;
} log_state;

static int print_entry(const z4vc_log_entry *e, void *ud)
{
	log_state *s = ud;
	char b1[32], b2[32], when[32], step[24];
	time_t t = (time_t)e->time;
	struct tm tm;

	if (limit >= 0 && s->shown >= limit)
		return 1;
	s->shown++;
	s->raw += e->raw_bytes;
	s->stored += e->new_bytes;
	if (s->arr) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "commit", e->commit);
		cJSON_AddStringToObject(j, "run", e->run);
		if (e->step != Z4VC_NO_STEP)
			cJSON_AddNumberToObject(j, "step", (double)e->step);
		else
			cJSON_AddNullToObject(j, "step");
		cJSON_AddStringToObject(j, "message", e->summary);
		cJSON_AddNumberToObject(j, "time", (double)e->time);
		cJSON_AddNumberToObject(j, "files", (double)e->files);
		cJSON_AddNumberToObject(j, "raw_bytes", (double)e->raw_bytes);
		cJSON_AddNumberToObject(j, "new_bytes", (double)e->new_bytes);
		cJSON_AddItemToArray(s->arr, j);
		return 0;
	}
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	if (e->step != Z4VC_NO_STEP)
		snprintf(step, sizeof(step), "%lld", (long long)e->step);
	else
		snprintf(step, sizeof(step), "-");
	printf("%.12s  %-12s %8s  %s  %10s  %10s  %5.2fx  %s\n", e->commit,
	       e->run, step, when, cli_bytes(b1, sizeof(b1), e->raw_bytes),
	       cli_bytes(b2, sizeof(b2), e->new_bytes),
	       e->new_bytes ? (double)e->raw_bytes / (double)e->new_bytes : 0.0,
	       e->summary);
	return 0;
}

int cmd_log(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	log_state s = {0};
	char b1[32], b2[32];
	int rc = 1;

	cli_parse_noargs(&cli_cmd_log, argc, argv);
	if (json)
		s.arr = cJSON_CreateArray();
	else
		printf("%-12s  %-12s %8s  %-16s  %10s  %10s  %6s  %s\n", "commit", "run",
		       "step", "date (UTC)", "raw", "new", "ratio", "message");
	if (cli_open_repo(&repo) || z4vc_log(repo, run, print_entry, &s) < 0) {
		cli_fail("log");
		goto done;
	}
	if (s.arr) {
		char *txt = cJSON_Print(s.arr);
		printf("%s\n", txt);
		cJSON_free(txt);
	} else if (s.shown) {
		printf("total: %lld checkpoints, %s raw, %s stored (%.2fx)\n",
		       (long long)s.shown, cli_bytes(b1, sizeof(b1), s.raw),
		       cli_bytes(b2, sizeof(b2), s.stored),
		       s.stored ? (double)s.raw / (double)s.stored : 0.0);
	}
	rc = 0;
done:
	cJSON_Delete(s.arr);
	z4vc_repo_free(repo);
	return rc;
}
