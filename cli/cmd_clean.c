/* cmd_clean.c - z4vc clean: the single-shot clean filter (stdin -> pointer). */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "z4vc_lfs.h"

const cli_cmd cli_cmd_clean = {
	.name = "clean",
	.usage = "[<path>]",
	.summary = "store stdin in the z4vc store and print its Git LFS pointer",
	.details =
		"The single-shot clean filter (filter.z4vc.clean = z4vc clean %f), for\n"
		"gits without the long-running protocol. <path> names the file (for the\n"
		"delta base and *.safetensors parsing). Input that already is a pointer\n"
		"is printed unchanged.",
	.opts = (const cli_opt[]){{0}},
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

int cmd_clean(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	const char *gd = getenv("GIT_DIR");
	char what[4200];
	int n, rc = 1;

	cli_parse(&cli_cmd_clean, argc, argv, &n);
	if (n > 1)
		cli_usage_error(&cli_cmd_clean, "at most one <path>");
	snprintf(what, sizeof(what), "clean '%s'", n ? argv[1] : "-");
	if (z4vc_repo_init(&repo, gd && *gd ? gd : cli_chdir) ||
	    z4vc_lfs_clean(repo, n ? argv[1] : "", read_stdin, NULL, write_stdout, NULL)) {
		cli_fail(what);
		goto done;
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "z4vc: %s: write error\n", what);
		goto done;
	}
	rc = 0;
done:
	z4vc_repo_free(repo);
	return rc;
}
