/* cmd_repack.c - z4vc repack: re-encode delta chains, ids unchanged. */
#include "cli.h"
#include "z4vc_maint.h"

#include <stdio.h>

static const char *run;
static int64_t keyframe;
static int dry_run;

const cli_cmd cli_cmd_repack = {
    .name = "repack",
    .usage = "[--keyframe-interval K] [--run NAME] [--dry-run]",
    .summary = "re-encode delta chains for a keyframe interval (ids unchanged)",
    .details = "Walks each run (or only --run) oldest checkpoint first and "
               "stores each\n"
               "chunk as a delta against the same chunk of the previous "
               "checkpoint, or\n"
               "as a keyframe every K versions (default: git config\n"
               "z4vc.keyframeInterval). Every rewritten chunk is verified to "
               "decode to\n"
               "the same bytes before it is written; ids, commits and refs "
               "never change.",
    .opts =
        (const cli_opt[]){
            {"keyframe-interval", 'k', OPT_INT, &keyframe, "K",
             "a keyframe every K versions (1: keyframes only)"},
            {"run", 'r', OPT_STR, &run, "NAME",
             "only this run (default: every run)"},
            {"dry-run", 'n', OPT_FLAG, &dry_run, NULL,
             "count what would change"},
            {0},
        },
};

int cmd_repack(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	z4vc_repack_opts o = {0};
	z4vc_repack_result res;
	cli_progress prog;
	char b1[32], b2[32];
	int rc = 1;

	cli_parse_noargs(&cli_cmd_repack, argc, argv);
	if (keyframe < 0 || keyframe > 1024)
		cli_usage_error(&cli_cmd_repack,
		                "--keyframe-interval must be 1..1024");
	o.run = run;
	o.keyframe_interval = (unsigned)keyframe;
	o.dry_run = dry_run;
	cli_progress_init(&prog, "repacking");
	o.progress = cli_progress_cb;
	o.progress_ud = &prog;
	if (cli_open_repo(&repo) || z4vc_repack(&res, repo, &o)) {
		cli_progress_end(&prog);
		cli_fail("repack");
		goto done;
	}
	cli_progress_end(&prog);
	printf("%s %llu of %llu chunks in %llu checkpoints; now %llu "
	       "keyframes, %llu "
	       "deltas; %s -> %s stored\n",
	       dry_run ? "would rewrite" : "rewrote",
	       (unsigned long long)res.rewritten,
	       (unsigned long long)res.chunks, (unsigned long long)res.commits,
	       (unsigned long long)res.keyframes,
	       (unsigned long long)res.deltas,
	       cli_bytes(b1, sizeof(b1), res.bytes_before),
	       cli_bytes(b2, sizeof(b2), res.bytes_after));
	rc = 0;
done:
	z4vc_repo_free(repo);
	return rc;
}
