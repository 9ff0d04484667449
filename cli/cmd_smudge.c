/* cmd_smudge.c - z4vc smudge: the single-shot smudge filter (pointer -> file). */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "z4vc_lfs.h"

static int no_fetch;

const cli_cmd cli_cmd_smudge = {
	.name = "smudge",
	.usage = "[<path>] [--no-fetch]",
	.summary = "print the file a Git LFS pointer on stdin names",
	.details =
		"The single-shot smudge filter (filter.z4vc.smudge = z4vc smudge %f).\n"
		"The file is rebuilt from the store (fetched from the remote if missing)\n"
		"and verified before anything is printed. Input that is not a pointer is\n"
		"printed unchanged. If the file cannot be had, the pointer is printed\n"
		"unchanged and the reason goes to stderr (exit 0, as git-lfs does).",
	.opts = (const cli_opt[]){
		{"no-fetch", 0, OPT_FLAG, &no_fetch, NULL, "never contact the remote"},
		{0},
	},
};

static ssize_t read_stdin(void *ud, void *buf, size_t len)
{
	ssize_t k;
	do
		k = read(0, buf, len);
	while (k < 0 && errno == EINTR);
	return k;
}

static int write_stdout(void *ud, const void *p, size_t n)
{
	return fwrite(p, 1, n, stdout) == n ? 0 : -2; /* Z4_EIO */
}

int cmd_smudge(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	const char *gd = getenv("GIT_DIR");
	char what[4200];
	int n, kept = 0, rc = 1;

	cli_parse(&cli_cmd_smudge, argc, argv, &n);
	if (n > 1)
		cli_usage_error(&cli_cmd_smudge, "at most one <path>");
	snprintf(what, sizeof(what), "smudge '%s'", n ? argv[1] : "-");
	if (z4vc_repo_init(&repo, gd && *gd ? gd : cli_chdir) ||
	    z4vc_lfs_smudge(&kept, repo, n ? argv[1] : "-", read_stdin, NULL,
			    write_stdout, NULL, no_fetch ? Z4VC_SMUDGE_NO_FETCH : 0)) {
		cli_fail(what);
		goto done;
	}
	if (kept)
		fprintf(stderr, "z4vc: %s\n", z4vc_error());
	if (fflush(stdout) != 0) {
		fprintf(stderr, "z4vc: %s: write error\n", what);
		goto done;
	}
	rc = 0;
done:
	z4vc_repo_free(repo);
	return rc;
}
