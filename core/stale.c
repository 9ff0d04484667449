/*
 * stale.c - cleaning up what killed processes leave behind: git lock files
 * from inside a ref update, and temporary files of checkouts and installs.
 *
 * A lock or temporary file says "a process is writing this"; after kill -9
 * it says so forever. One is removed only when no process that could still
 * be writing it can exist:
 *
 * - git ref locks (`<ref>.lock`, `logs/<ref>.lock`). Every z4vc ref or
 *   reflog write runs under an exclusive flock on
 *   $GIT_COMMON_DIR/z4vc/ref-update.lock, so while we hold it no z4vc
 *   process is inside an update (a flock dies with its process: no stale
 *   state of its own). git does not take that flock, but git holds a ref
 *   lock for one update, milliseconds, and itself gives up waiting for one
 *   after core.filesRefLockTimeout (100 ms by default); so a lock file
 *   whose mtime is older than z4vc.staleLockSeconds (default 10 s) is not
 *   a running git's either. Both conditions are required.
 * - temporaries named `<prefix><pid>[-<n>]`: stale when <pid> is not a
 *   running process (kill(pid, 0) fails with ESRCH). Callers that can add a
 *   lock of their own do (checkout: a flock on the target directory).
 */
#include "repo_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REFLOCK_FILE "z4vc/ref-update.lock" /* under the common git dir */
#define REFLOCK_WAIT_MS 60000 /* holders keep it for one ref update */
#define STALE_LOCK_DEFAULT_S 10
#define PRECHECK_TRIES 40 /* x 50 ms: about as long as commit retries */
#define PRECHECK_SLEEP_US 50000

int z4_reflock_take(z4_reflock *l, z4vc_repo *repo)
{
	char path[4096];
	struct timespec t0, now;
	int fd;

	l->fd = -1;
	l->clear_ok = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s" REFLOCK_FILE,
	                     git_repository_commondir(repo->git)) >=
	    sizeof(path))
		return Z4_OK;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return Z4_OK; /* read-only git dir: the ref write will say so */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			close(fd); /* no flock here: update without clearing */
			return Z4_OK;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 +
		        (now.tv_nsec - t0.tv_nsec) / 1000000 >=
		    REFLOCK_WAIT_MS) {
			close(fd);
			return z4_error_set(
			    Z4_ELOCKED,
			    "another z4vc process has been updating "
			    "refs for %d s (it holds '%s')",
			    REFLOCK_WAIT_MS / 1000, path);
		}
		usleep(5000);
	}
	l->fd = fd;
	l->clear_ok = 1;
	return Z4_OK;
}

void z4_reflock_drop(z4_reflock *l)
{
	if (!l || l->fd < 0)
		return;
	close(l->fd); /* releases the flock */
	l->fd = -1;
}

/* z4vc.staleLockSeconds: > 0, the age; 0 (or less): never clear. */
static int64_t stale_seconds(z4vc_repo *repo)
{
	git_config *cfg = NULL;
	int64_t v = STALE_LOCK_DEFAULT_S;
	if (git_repository_config_snapshot(&cfg, repo->git) == 0 &&
	    git_config_get_int64(&v, cfg, "z4vc.staleLockSeconds") != 0)
		v = STALE_LOCK_DEFAULT_S;
	git_config_free(cfg);
	git_error_clear();
	return v < 1000000000 ? v : 1000000000; /* no overflow in ms */
}

int z4_reflock_clear_stale(z4vc_repo *repo, const z4_reflock *l,
                           const char *file)
{
	char path[4096];
	struct stat st;
	struct timespec now;
	int64_t limit, age_ms;

	if (l->fd < 0 || !l->clear_ok || (limit = stale_seconds(repo)) <= 0)
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s%s.lock",
	                     git_repository_commondir(repo->git),
	                     file) >= sizeof(path) ||
	    lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	age_ms = ((int64_t)now.tv_sec - (int64_t)st.st_mtim.tv_sec) * 1000 +
	         ((int64_t)now.tv_nsec - (int64_t)st.st_mtim.tv_nsec) / 1000000;
	if (age_ms <= limit * 1000 || unlink(path) != 0)
		return 0;
	z4_notice(repo, "%s: removed stale lock left by a killed process",
	          file);
	return 1;
}

int z4_reflock_error(z4vc_repo *repo, const z4_reflock *l, const char *file)
{
	const char *dir = git_repository_commondir(repo->git);
	int64_t limit = stale_seconds(repo);

	if (l->clear_ok && limit > 0)
		return z4_error_set(
		    Z4_ELOCKED,
		    "%s: locked by '%s%s.lock' (a running git or "
		    "z4vc process holds it, or a killed one left "
		    "it: z4vc removes it once it is %lld s old)",
		    file, dir, file, (long long)limit);
	/* As git does: only a person can tell it is stale. */
	return z4_error_set(
	    Z4_ELOCKED,
	    "%s: locked by '%s%s.lock' (if no git or z4vc process "
	    "is running, a killed one left it: remove it)",
	    file, dir, file);
}

int z4_reflock_precheck(z4vc_repo *repo, const char *file)
{
	char path[4096];
	struct stat st;
	z4_reflock l = {-1, 0};

	if ((size_t)snprintf(path, sizeof(path), "%s%s.lock",
	                     git_repository_commondir(repo->git),
	                     file) >= sizeof(path))
		return Z4_OK;
	for (int i = 0; i < PRECHECK_TRIES; i++) {
		int cleared;
		if (lstat(path, &st) != 0)
			return Z4_OK;
		Z4_TRY(z4_reflock_take(&l, repo));
		cleared = z4_reflock_clear_stale(repo, &l, file);
		z4_reflock_drop(&l);
		if (cleared)
			return Z4_OK;
		usleep(PRECHECK_SLEEP_US); /* a running git is done in ms */
	}
	return z4_reflock_error(repo, &l, file);
}

int z4_reflog_write(z4vc_repo *repo, const z4_reflock *l, git_reflog *log,
                    const char *ref)
{
	char file[4096], path[4096];
	struct stat st;

	if (git_reflog_write(log) == 0)
		return Z4_OK;
	if ((size_t)snprintf(file, sizeof(file), "logs/%s", ref) >=
	    sizeof(file))
		return z4_git_error(ref);
	if (z4_reflock_clear_stale(repo, l, file)) {
		git_error_clear();
		if (git_reflog_write(log) == 0)
			return Z4_OK;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s%s.lock",
	                     git_repository_commondir(repo->git),
	                     file) < sizeof(path) &&
	    lstat(path, &st) == 0) {
		git_error_clear();
		return z4_reflock_error(repo, l, file);
	}
	return z4_git_error(ref);
}

/* `<digits>` of a pid: canonical decimal, 1 .. INT32_MAX; end at *end. */
static int parse_pid(pid_t *out, const char *s, const char **end)
{
	uint64_t v = 0;
	const char *p = s;
	if (*p < '1' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > 0x7fffffff)
			return 0;
	}
	*out = (pid_t)v;
	*end = p;
	return 1;
}

static int stale_name(const char *name, const char *prefix, int serial)
{
	size_t n = strlen(prefix);
	const char *p;
	pid_t pid;

	if (strncmp(name, prefix, n) != 0 || !parse_pid(&pid, name + n, &p))
		return 0;
	if (serial) {
		if (*p++ != '-' || *p < '0' || *p > '9' || (*p == '0' && p[1]))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p)
		return 0;
	/* EPERM: someone else's live process. Only ESRCH proves it gone. */
	return pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH;
}

size_t z4_sweep_tmp(int dirfd, const char *prefix, int serial)
{
	DIR *d;
	struct dirent *e;
	size_t removed = 0;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((e = readdir(d))) {
		struct stat st;
		if (!stale_name(e->d_name, prefix, serial) ||
		    fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd, e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}
