/* cmd_commit.c - z4vc commit DIR: store a checkpoint as one git commit. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static const char *run, *message;
static int64_t step = Z4VC_NO_STEP, keyframe, jobs;
static int allow_opaque, json;

const cli_cmd cli_cmd_commit = {
	.name = "commit",
	.usage = "<dir> [--step N] [--run NAME] [-m MSG] [--keyframe K] [--json]",
	.summary = "commit a checkpoint directory as a new step of a run",
	.details =
		"Stores every file under <dir>: safetensors files tensor by tensor\n"
		"as chunks XOR-delta-encoded against the previous checkpoint of the\n"
		"run, other files whole (small text files as plain git blobs). Writes\n"
		"a git commit on refs/heads/ckpt/<run> with Git LFS pointer files and\n"
		"the trailers Z4vc-Run and Z4vc-Step. The index, HEAD and work tree\n"
		"are not touched. A malformed safetensors file is refused.",
	.opts = (const cli_opt[]){
		{"step", 's', OPT_INT, &step, "N", "training step of this checkpoint"},
		{"run", 'r', OPT_STR, &run, "NAME", "run name (default: " Z4VC_DEFAULT_RUN ")"},
		{"message", 'm', OPT_STR, &message, "MSG", "commit message"},
		{"keyframe", 'k', OPT_INT, &keyframe, "K",
		 "keyframe every K versions (default: git config z4vc.keyframeInterval or 8)"},
		{"jobs", 'j', OPT_INT, &jobs, "N",
		 "encoder threads (default: one per core; output is the same)"},
		{"allow-opaque", 0, OPT_FLAG, &allow_opaque, NULL,
		 "store malformed safetensors files as plain bytes"},
		{"json", 0, OPT_FLAG, &json, NULL, "print the result as JSON"},
		{0},
	},
};

static int first_entry(const z4vc_log_entry *e, void *ud)
{
	*(z4vc_log_entry *)ud = *e;
	((z4vc_log_entry *)ud)->run = NULL;
	((z4vc_log_entry *)ud)->summary = NULL;
	return 1; /* stop after the newest */
}

int cmd_commit(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	z4vc_ckpt *ck = NULL;
	z4vc_commit_opts o = {0};
	z4vc_log_entry e = {0};
	cli_progress prog;
	char hex[41], what[300], label[280], b1[32], b2[32];
	int n, rc = 1;

	cli_parse(&cli_cmd_commit, argc, argv, &n);
	if (n != 1)
		cli_usage_error(&cli_cmd_commit, n ? "one directory expected"
						   : "missing checkpoint directory");
	if (jobs < 0 || jobs > 256)
		cli_usage_error(&cli_cmd_commit, "--jobs must be 0..256");
	if (keyframe < 0 || keyframe > 1024)
		cli_usage_error(&cli_cmd_commit, "--keyframe must be 1..1024");
	if (step != Z4VC_NO_STEP && step < 0)
		cli_usage_error(&cli_cmd_commit, "--step must not be negative");
	if (step != Z4VC_NO_STEP)
		snprintf(label, sizeof(label), "step %lld", (long long)step);
	else
		snprintf(label, sizeof(label), "%s", argv[1]);
	snprintf(what, sizeof(what), "commit '%s'", label);
	cli_progress_init(&prog, "commit");
	o.run = run;
	o.step = step;
	o.message = message;
	o.keyframe_interval = (unsigned)keyframe;
	o.allow_opaque = allow_opaque;
	o.threads = (unsigned)jobs;
	o.progress = cli_progress_cb;
	o.progress_ud = &prog;
	if (cli_open_repo(&repo) || z4vc_ckpt_begin(&ck, repo, &o) ||
	    z4vc_ckpt_add_dir(ck, argv[1]) || z4vc_ckpt_finish(ck, hex)) {
		cli_progress_end(&prog);
		cli_fail(what);
		goto done;
	}
	cli_progress_end(&prog);
	if (z4vc_log(repo, run ? run : Z4VC_DEFAULT_RUN, first_entry, &e) < 0) {
		cli_fail("log");
		goto done;
	}
	if (json) {
		cJSON *j = cJSON_CreateObject();
		char *s;
		cJSON_AddStringToObject(j, "commit", hex);
		cJSON_AddStringToObject(j, "run", run ? run : Z4VC_DEFAULT_RUN);
		if (step != Z4VC_NO_STEP)
			cJSON_AddNumberToObject(j, "step", (double)step);
		else
			cJSON_AddNullToObject(j, "step");
		cJSON_AddNumberToObject(j, "files", (double)e.files);
		cJSON_AddNumberToObject(j, "raw_bytes", (double)e.raw_bytes);
		cJSON_AddNumberToObject(j, "new_bytes", (double)e.new_bytes);
		cJSON_AddNumberToObject(j, "seconds", cli_now() - prog.start);
		s = cJSON_PrintUnformatted(j);
		printf("%s\n", s);
		cJSON_free(s);
		cJSON_Delete(j);
	} else {
		printf("[ckpt/%s %.12s] %s: %llu files, %s raw, %s new in store\n",
		       run ? run : Z4VC_DEFAULT_RUN, hex, label,
		       (unsigned long long)e.files, cli_bytes(b1, sizeof(b1), e.raw_bytes),
		       cli_bytes(b2, sizeof(b2), e.new_bytes));
	}
	rc = 0;
done:
	z4vc_ckpt_free(ck);
	z4vc_repo_free(repo);
	return rc;
}
