/*
 * killshim.c - an LD_PRELOAD fault injector for the crash tests: it kills
 * the process with SIGKILL just before its Nth file-changing system call,
 * so a test can stop z4vc at every step of its write path, inside LMDB's
 * commit and libgit2's ref update included, without hooks in their code.
 *
 * Counted calls (through libc, on descriptors > 2 so that messages on
 * stdout/stderr do not shift the count): write, pwrite, pwrite64, writev,
 * pwritev, fsync, fdatasync, ftruncate, rename, renameat, link, unlink,
 * unlinkat. Environment:
 *   Z4VC_KILL_AT=N     SIGKILL before the Nth counted call (1-based)
 *   Z4VC_KILL_TORN=1   if that call is a write, write the first half of its
 *                      bytes first (a torn write), then die
 *   Z4VC_KILL_COUNT=F  on normal exit, write the number of counted calls
 *                      to file F (a dry run sizes the range of N)
 *   Z4VC_PAUSE_AT=N or FUNC:K, with Z4VC_PAUSE_FILE=F
 *                      before the Nth counted call (or the Kth call of
 *                      FUNC, e.g. fdatasync:1, inside LMDB's commit), create
 *                      F.reached and wait while F exists: a test orders
 *                      two processes without sleeping on a guess
 * Built by tests/crash/lib.sh with `cc -shared -fPIC`. Test code only.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static atomic_long calls, fn_calls;
static long kill_at = -1; /* read once at load */
static int torn;
static const char *pause_file;
static char pause_fn[32];
static long pause_at = -1;

__attribute__((constructor)) static void shim_init(void)
{
	const char *s = getenv("Z4VC_KILL_AT");
	if (s && *s)
		kill_at = strtol(s, NULL, 10);
	s = getenv("Z4VC_KILL_TORN");
	torn = s && *s == '1';
	s = getenv("Z4VC_PAUSE_AT");
	pause_file = getenv("Z4VC_PAUSE_FILE");
	if (s && pause_file) {
		const char *colon = strchr(s, ':');
		if (colon && (size_t)(colon - s) < sizeof(pause_fn)) {
			memcpy(pause_fn, s, (size_t)(colon - s));
			s = colon + 1;
		}
		pause_at = strtol(s, NULL, 10);
	}
}

static void maybe_pause(long n, const char *fn)
{
	char reached[4096];
	int fd;

	if (pause_at < 0)
		return;
	if (pause_fn[0] ? strcmp(fn, pause_fn) != 0 ||
	                      atomic_fetch_add(&fn_calls, 1) + 1 != pause_at
	                : n != pause_at)
		return;
	snprintf(reached, sizeof(reached), "%s.reached", pause_file);
	fd = open(reached, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	while (access(pause_file, F_OK) == 0)
		usleep(10000);
}

__attribute__((destructor)) static void shim_fini(void)
{
	const char *f = getenv("Z4VC_KILL_COUNT");
	FILE *fp;
	if (!f || !*f || !(fp = fopen(f, "w")))
		return;
	fprintf(fp, "%ld\n", atomic_load(&calls));
	fclose(fp);
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

/* Count one call of fn; 1 if this is the one to die on. */
static int hit_fn(int fd, const char *fn)
{
	long n;
	if (fd >= 0 && fd <= 2)
		return 0;
	n = atomic_fetch_add(&calls, 1) + 1;
	maybe_pause(n, fn);
	return n == kill_at;
}

#define hit(fd) hit_fn(fd, __func__)

static void die(void)
{
	raise(SIGKILL);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (hit(fd)) {
		if (torn && n > 1)
			REAL(write)(fd, buf, n / 2);
		die();
	}
	return REAL(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (hit(fd)) {
		if (torn && n > 1)
			REAL(pwrite)(fd, buf, n / 2, off);
		die();
	}
	return REAL(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	if (hit(fd)) {
		if (torn && n > 1)
			REAL(pwrite64)(fd, buf, n / 2, off);
		die();
	}
	return REAL(pwrite64)(fd, buf, n, off);
}

/* A torn vectored write keeps the first half of the vectors. */
ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	if (hit(fd)) {
		if (torn && cnt > 1)
			REAL(writev)(fd, iov, cnt / 2);
		die();
	}
	return REAL(writev)(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (hit(fd)) {
		if (torn && cnt > 1)
			REAL(pwritev)(fd, iov, cnt / 2, off);
		die();
	}
	return REAL(pwritev)(fd, iov, cnt, off);
}

int fsync(int fd)
{
	if (hit(fd))
		die();
	return REAL(fsync)(fd);
}

int fdatasync(int fd)
{
	if (hit(fd))
		die();
	return REAL(fdatasync)(fd);
}

int ftruncate(int fd, off_t len)
{
	if (hit(fd))
		die();
	return REAL(ftruncate)(fd, len);
}

int rename(const char *a, const char *b)
{
	if (hit(-1))
		die();
	return REAL(rename)(a, b);
}

int renameat(int da, const char *a, int db, const char *b)
{
	if (hit(-1))
		die();
	return REAL(renameat)(da, a, db, b);
}

int link(const char *a, const char *b)
{
	if (hit(-1))
		die();
	return REAL(link)(a, b);
}

int unlink(const char *p)
{
	if (hit(-1))
		die();
	return REAL(unlink)(p);
}

int unlinkat(int d, const char *p, int flags)
{
	if (hit(-1))
		die();
	return REAL(unlinkat)(d, p, flags);
}
