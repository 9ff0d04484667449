/* cmd_pull.c - z4vc pull: fetch, then smudge work-tree pointer files. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "z4vc_remote.h"

const cli_cmd cli_cmd_pull = {
	.name = "pull",
	.usage = "[<remote> [<rev>...]]",
	.summary =
		"fetch weight objects and replace pointer files in the work tree",
	.details =
		"Runs 'z4vc fetch' for <rev> (default HEAD), then rewrites every work-tree\n"
		"file that is still a Git LFS pointer equal to its index entry (e.g. after\n"
		"a clone with smudging disabled) with its real content, verified\n"
		"against its SHA-256, and refreshes the index so 'git status' stays clean\n"
		"(this needs the z4vc filter: 'z4vc install').",
	.opts = (const cli_opt[]){{0}},
};

typedef struct {
	cli_strlist paths, oids;
	uint64_t *sizes;
	size_t ncap;
} wtlist;

static int add_wt(void *ud, const z4vc_pointer *p, const char *path)
{
	wtlist *w = ud;
	if (w->paths.n == w->ncap) {
		size_t nc = w->ncap ? w->ncap * 2 : 16;
		uint64_t *ns = realloc(w->sizes, nc * sizeof(*ns));
		if (!ns)
			return -1;
		w->sizes = ns;
		w->ncap = nc;
	}
	w->sizes[w->paths.n] = p->size;
	if (cli_strlist_push(&w->paths, path) ||
	    cli_strlist_push(&w->oids, p->oid))
		return -1;
	return 0;
}

static int write_fd(void *ud, const void *buf, size_t len)
{
	return cli_write_all(*(int *)ud, buf, len);
}

/* Rebuild one file next to `path` and rename it over the pointer. */
static int smudge_in_place(z4vc_repo *repo, const char *path, const char *oid,
                           uint64_t size)
{
	size_t n = strlen(path) + 32;
	char *tmp = malloc(n);
	struct stat st;
	int fd, rc;

	if (!tmp || stat(path, &st) != 0) {
		free(tmp);
		fprintf(stderr, "z4vc: pull '%s': %s\n", path, strerror(errno));
		return 1;
	}
	snprintf(tmp, n, "%s.z4vc-XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		fprintf(stderr, "z4vc: pull '%s': %s\n", path, strerror(errno));
		free(tmp);
		return 1;
	}
	rc = z4vc_cat_file(repo, oid, size, write_fd, &fd);
	if (rc == 0 && (fchmod(fd, st.st_mode & 07777) != 0 || fsync(fd) != 0))
		rc = -2;
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -2;
	if (rc) {
		unlink(tmp);
		fprintf(stderr, "z4vc: pull '%s': %s\n", path,
		        rc == -2 ? strerror(errno) : z4vc_error());
	}
	free(tmp);
	return rc ? 1 : 0;
}

/* Re-stat the rewritten files into the index: `git update-index` runs the
 * clean filter, which gives back the same pointer blob, so only the stat
 * data changes (a plain --refresh cannot: the size differs). */
static int git_update_index(const cli_strlist *paths)
{
	int fds[2], status;
	pid_t pid;
	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[1]);
		if (dup2(fds[0], 0) < 0 ||
		    (strcmp(cli_chdir, ".") != 0 && chdir(cli_chdir) != 0))
			_exit(127);
		execlp("git", "git", "update-index", "-q", "-z", "--stdin",
		       (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	{
		/* git dying early must be an error here, not a SIGPIPE kill */
		void (*old)(int) = signal(SIGPIPE, SIG_IGN);
		for (size_t i = 0; i < paths->n; i++)
			if (cli_write_all(fds[1], paths->v[i],
			                  strlen(paths->v[i]) + 1) != 0)
				break;
		close(fds[1]);
		signal(SIGPIPE, old);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int cmd_pull(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	cli_strlist oids = {0};
	wtlist wt = {0};
	cli_remote_args a;
	size_t failed = 0;
	int n, rc = 1;

	cli_parse(&cli_cmd_pull, argc, argv, &n);
	cli_remote_args_parse(&a, argv, n, "pull from");
	if (z4vc_repo_init(&repo, cli_chdir) ||
	    z4vc_rev_pointers(repo, a.revs, a.nrevs, NULL, 0, 0,
	                      cli_strlist_add_oid, &oids) ||
	    z4vc_worktree_pointers(repo, add_wt, &wt)) {
		cli_fail(a.what);
		goto done;
	}
	/* Work-tree pointers of files not in <rev> are fetched too. */
	for (size_t i = 0; i < wt.oids.n; i++)
		if (cli_strlist_push(&oids, wt.oids.v[i])) {
			fprintf(stderr, "z4vc: %s: out of memory\n", a.what);
			goto done;
		}
	if (cli_remote_transfer(repo, z4vc_remote_fetch, a.remote, &oids,
	                        "fetch")) {
		cli_fail(a.what);
		goto done;
	}
	for (size_t i = 0; i < wt.paths.n; i++) {
		if (smudge_in_place(repo, wt.paths.v[i], wt.oids.v[i],
		                    wt.sizes[i])) {
			failed++;
			wt.paths.v[i][0] = '\0'; /* left as a pointer */
		}
	}
	{
		cli_strlist done_paths = {0};
		int err = 0;
		for (size_t i = 0; i < wt.paths.n && !err; i++)
			if (wt.paths.v[i][0])
				err = cli_strlist_push(&done_paths, wt.paths.v[i]);
		if (!err && done_paths.n)
			err = git_update_index(&done_paths);
		cli_strlist_dispose(&done_paths);
		if (err) {
			fprintf(stderr,
			        "z4vc: %s: git update-index: failed to refresh the index\n",
			        a.what);
			goto done;
		}
	}
	printf("%zu file%s materialized\n", wt.paths.n - failed,
	       wt.paths.n - failed == 1 ? "" : "s");
	rc = failed ? 1 : 0;
done:
	cli_strlist_dispose(&oids);
	cli_strlist_dispose(&wt.paths);
	cli_strlist_dispose(&wt.oids);
	free(wt.sizes);
	z4vc_repo_free(repo);
	return rc;
}
