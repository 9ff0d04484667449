/* cmd_checkout.c - z4vc checkout: write a checkpoint's files to a directory. */
#include "cli.h"

#include <stdio.h>

static const char *run, *out, *file;
static int64_t step = Z4VC_NO_STEP, jobs;

const cli_cmd cli_cmd_checkout = {
	.name = "checkout",
	.usage = "[<commit-ish>] [--step N] [--run NAME] -o <dir> [--file PATH]",
	.summary = "write the files of a checkpoint into a directory, byte-exact",
	.details =
		"Selects the checkpoint by <commit-ish> (a commit id, ckpt/<run>~2, a\n"
		"branch...) or by --step on --run, or the newest of --run. Every file is\n"
		"rebuilt and verified against its SHA-256 before it replaces anything\n"
		"in <dir>; on any error <dir> keeps what it held.",
	.opts = (const cli_opt[]){
		{"output", 'o', OPT_STR, &out, "DIR", "directory to write (created if needed)"},
		{"step", 's', OPT_INT, &step, "N", "the checkpoint of this training step"},
		{"run", 'r', OPT_STR, &run, "NAME", "run name (default: " Z4VC_DEFAULT_RUN ")"},
		{"file", 'f', OPT_STR, &file, "PATH", "only this file of the checkpoint"},
		{"jobs", 'j', OPT_INT, &jobs, "N", "decoder threads (default: one per core)"},
		{0},
	},
};

int cmd_checkout(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	z4vc_checkout_opts o = {0};
	cli_progress prog;
	char hex[41], what[128];
	int n, rc = 1;

	cli_parse(&cli_cmd_checkout, argc, argv, &n);
	if (n > 1)
		cli_usage_error(&cli_cmd_checkout, "at most one <commit-ish>");
	if (!out)
		cli_usage_error(&cli_cmd_checkout, "missing -o <dir>");
	if (n && step != Z4VC_NO_STEP)
		cli_usage_error(&cli_cmd_checkout, "give a <commit-ish> or --step, not both");
	if (n)
		snprintf(what, sizeof(what), "checkout '%s'", argv[1]);
	else if (step != Z4VC_NO_STEP)
		snprintf(what, sizeof(what), "checkout 'step %lld'", (long long)step);
	else
		snprintf(what, sizeof(what), "checkout 'ckpt/%s'", run ? run : Z4VC_DEFAULT_RUN);
	if (jobs < 0 || jobs > 256)
		cli_usage_error(&cli_cmd_checkout, "--jobs must be 0..256");
	cli_progress_init(&prog, "checkout");
	o.threads = (unsigned)jobs;
	o.progress = cli_progress_cb;
	o.progress_ud = &prog;
	if (file) {
		o.paths = &file;
		o.npaths = 1;
	}
	if (cli_open_repo(&repo) ||
	    z4vc_resolve(hex, repo, n ? argv[1] : NULL, run, step) ||
	    z4vc_checkout(repo, hex, out, &o)) {
		cli_progress_end(&prog);
		cli_fail(what);
		goto done;
	}
	cli_progress_end(&prog);
	printf("checked out %.12s into %s\n", hex, out);
	rc = 0;
done:
	z4vc_repo_free(repo);
	return rc;
}
