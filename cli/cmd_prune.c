/* cmd_prune.c - z4vc prune: keep only some checkpoints of a run. */
#include "cli.h"
#include "z4vc_maint.h"

#include <stdio.h>

static const char *run;
static int64_t keep_last = Z4VC_PRUNE_DEFAULT, keep_every = Z4VC_PRUNE_DEFAULT;
static int dry_run;

const cli_cmd cli_cmd_prune = {
    .name = "prune",
    .usage = "[--run NAME] [--keep-last N] [--keep-every M] [--dry-run]",
    .summary =
        "rewrite a run keeping the last N checkpoints and every M-th step",
    .details =
        "Keeps the newest N checkpoints and every checkpoint whose step is a\n"
        "multiple of M (defaults: git config z4vc.pruneKeepLast and\n"
        "z4vc.pruneKeepEvery); checkpoints without a step are kept. The run's\n"
        "branch is rewritten (same trees, messages and trailers) and moved "
        "with\n"
        "a reflog entry: the old history stays reachable until the reflog\n"
        "expires, so this is undoable. Kept checkpoints may still delta "
        "through\n"
        "dropped ones: 'z4vc repack' re-encodes them against the previous "
        "kept\n"
        "checkpoint, then 'z4vc gc --now' frees the space.",
    .opts =
        (const cli_opt[]){
            {"run", 'r', OPT_STR, &run, "NAME",
             "run name (default: " Z4VC_DEFAULT_RUN ")"},
            {"keep-last", 0, OPT_INT, &keep_last, "N",
             "keep the newest N checkpoints"},
            {"keep-every", 0, OPT_INT, &keep_every, "M",
             "keep steps that are multiples of M (0: none)"},
            {"dry-run", 'n', OPT_FLAG, &dry_run, NULL,
             "show what would be kept"},
            {0},
        },
};

static void on_entry(const char *commit, int64_t step, int kept, void *ud)
{
	(void)ud;
	if (step == Z4VC_NO_STEP)
		printf("%s %.12s (no step)\n", kept ? "keep" : "drop", commit);
	else
		printf("%s %.12s step %lld\n", kept ? "keep" : "drop", commit,
		       (long long)step);
}

int cmd_prune(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	z4vc_prune_opts o = {0};
	z4vc_prune_result res;
	int rc = 1;

	cli_parse_noargs(&cli_cmd_prune, argc, argv);
	if ((keep_last < 0 && keep_last != Z4VC_PRUNE_DEFAULT) ||
	    (keep_every < 0 && keep_every != Z4VC_PRUNE_DEFAULT))
		cli_usage_error(&cli_cmd_prune,
		                "keep counts must not be negative");
	o.run = run;
	o.keep_last = keep_last;
	o.keep_every = keep_every;
	o.dry_run = dry_run;
	o.entry_fn = on_entry;
	if (cli_open_repo(&repo) || z4vc_prune(&res, repo, &o)) {
		cli_fail("prune");
		goto done;
	}
	if (res.dropped == 0)
		printf("nothing to prune: all %llu checkpoints kept\n",
		       (unsigned long long)res.total);
	else if (dry_run)
		printf("would keep %llu of %llu checkpoints\n",
		       (unsigned long long)res.kept,
		       (unsigned long long)res.total);
	else
		printf("kept %llu of %llu checkpoints: ckpt/%s %.12s -> %.12s\n"
		       "the old tip stays in the reflog; 'z4vc repack' then "
		       "'z4vc gc --now' "
		       "frees the space\n",
		       (unsigned long long)res.kept,
		       (unsigned long long)res.total,
		       run ? run : Z4VC_DEFAULT_RUN, res.old_tip, res.new_tip);
	rc = 0;
done:
	z4vc_repo_free(repo);
	return rc;
}
