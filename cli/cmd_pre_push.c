/* cmd_pre_push.c - z4vc pre-push: git's pre-push hook uploads objects. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "z4vc_remote.h"

const cli_cmd cli_cmd_pre_push = {
	.name = "pre-push",
	.usage = "<remote> [<url>]",
	.summary = "upload what pushed commits need (run by git's pre-push hook)",
	.details =
		"Reads git's pre-push lines ('<local ref> <local sha> <remote ref>\n"
		"<remote sha>') on stdin and uploads, to the z4vc remote of <remote>, every\n"
		"file whose pointer is in a pushed commit not already on the remote\n"
		"(reachable from neither the remote's old tips nor refs/remotes/<remote>/).\n"
		"A failure makes git abort the push, so refs never name missing objects.",
	.opts = (const cli_opt[]){{0}},
};

static int is_zero(const char *sha)
{
	return strspn(sha, "0") == strlen(sha);
}

int cmd_pre_push(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	cli_strlist revs = {0}, hide = {0}, oids = {0};
	char line[4096], what[512], glob[600];
	int n, rc = 1;

	cli_parse(&cli_cmd_pre_push, argc, argv, &n);
	if (n < 1 || n > 2)
		cli_usage_error(&cli_cmd_pre_push, "expected <remote> [<url>]");
	snprintf(what, sizeof(what), "pre-push to '%s'", argv[1]);
	while (fgets(line, sizeof(line), stdin)) {
		char lref[1024], lsha[100], rref[1024], rsha[100];
		if (sscanf(line, "%1023s %99s %1023s %99s", lref, lsha, rref,
		           rsha) != 4) {
			fprintf(stderr, "z4vc: %s: malformed hook input line\n",
			        what);
			goto done;
		}
		if (!is_zero(lsha) && cli_strlist_push(&revs, lsha))
			goto oom;
		if (!is_zero(rsha) && cli_strlist_push(&hide, rsha))
			goto oom;
	}
	if (revs.n == 0) {
		rc = 0; /* only deletions */
		goto done;
	}
	snprintf(glob, sizeof(glob), "refs/remotes/%s/*", argv[1]);
	if (cli_strlist_push(&hide, glob))
		goto oom;
	if (cli_open_repo(&repo) ||
	    z4vc_rev_pointers(repo, (const char *const *)revs.v, revs.n,
	                      (const char *const *)hide.v, hide.n,
	                      Z4VC_REVS_WALK, cli_strlist_add_oid, &oids) ||
	    cli_remote_transfer(repo, z4vc_remote_push, argv[1], &oids,
	                        "upload")) {
		cli_fail(what);
		goto done;
	}
	rc = 0;
	goto done;
oom:
	fprintf(stderr, "z4vc: %s: out of memory\n", what);
done:
	cli_strlist_dispose(&revs);
	cli_strlist_dispose(&hide);
	cli_strlist_dispose(&oids);
	z4vc_repo_free(repo);
	return rc;
}
