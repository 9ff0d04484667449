/* repo_internal.h - the repository handle and helpers shared by core/. */
#ifndef Z4_REPO_INTERNAL_H
#define Z4_REPO_INTERNAL_H

#include <git2.h>

#include "z4_core.h"
#include "z4vc.h"

#define Z4_KEYFRAME_DEFAULT 8
#define Z4_BLOB_INLINE_MAX (1u << 20) /* small text files: plain git blobs */
#define Z4_BYTES_INLINE_MAX (1u << 20) /* larger gaps become chunked data */
#define Z4_REF_PREFIX "refs/heads/ckpt/"

struct z4vc_repo {
	git_repository *git;
	z4_store *store;
	char *dir; /* $GIT_DIR/z4vc */
	z4vc_note_fn notice; /* z4vc_repo_set_notice; NULL: none */
	void *notice_ud;
};

/* Pass one line (printf-style) to the repository's notice callback. */
void z4_notice(z4vc_repo *repo, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Set the reason from libgit2's last error: "<what>: <git message>". */
int z4_git_error(const char *what);

/* Full ref name of a run into out (Z4_EINVAL for an invalid run name). */
int z4_run_ref(char *out, size_t cap, const char *run);

/* Parse a commit's Z4vc trailers. run_out gets a malloc'd string or NULL. */
void z4_commit_trailers(const git_commit *c, char **run_out, int64_t *step_out);

/* Load and decode the recipe of `sha` (read through io's snapshot). */
int z4_load_recipe(z4_recipe *out, z4_chunkio *io, const uint8_t sha[32]);
int z4_load_tensor(z4_tensor_rec *out, z4_chunkio *io, const z4_id *id);

/* Read a tree entry's blob; if it is a z4vc/LFS pointer, *is_pointer = 1
 * and *ptr is filled. A blob that starts like a pointer but is malformed is
 * Z4_ECORRUPT. */
int z4_blob_pointer(z4_pointer *ptr, int *is_pointer, const git_blob *blob);

/* Unsigned integer parse with overflow check (no sign, no junk). */
int z4_parse_u64(uint64_t *out, const char *s);
int z4_parse_i64(int64_t *out, const char *s);

/* ---- what killed processes leave behind (stale.c) ---- */

/*
 * The ref-update lock: an exclusive flock on $GIT_COMMON_DIR/z4vc/
 * ref-update.lock that every z4vc ref or reflog write holds, so that a
 * process holding it knows no z4vc process is inside libgit2's update of
 * a ref. `clear_ok` is 0 when the lock could not be taken (file system
 * without flock, read-only git dir): then stale git locks are left alone.
 */
typedef struct {
	int fd;
	int clear_ok;
} z4_reflock;

/* Take the lock (waits up to 60 s for another z4vc process to finish an
 * update: Z4_ELOCKED after that). Without flock support: Z4_OK, clear_ok 0. */
int z4_reflock_take(z4_reflock *l, z4vc_repo *repo);
/* Release it (NULL-safe, idempotent; clear_ok is kept for the error). */
void z4_reflock_drop(z4_reflock *l);
/*
 * With l held, after a libgit2 write of `file` (relative to the common git
 * dir: "refs/heads/ckpt/a", or "logs/refs/heads/ckpt/a" for its reflog)
 * failed: if `<file>.lock` is a regular file older than
 * z4vc.staleLockSeconds, remove it, send a notice and return 1 (write
 * again); otherwise 0.
 */
int z4_reflock_clear_stale(z4vc_repo *repo, const z4_reflock *l,
			   const char *file);
/* Z4_ELOCKED, "<file>: locked by '<path>.lock' (...)", saying whether z4vc
 * will remove the lock once it is old enough. */
int z4_reflock_error(z4vc_repo *repo, const z4_reflock *l, const char *file);

/* Before a long operation that ends by updating `file`: Z4_OK when
 * `<file>.lock` is absent, stale (cleared as above) or gone within about
 * 2 s; otherwise z4_reflock_error, before anything was written. */
int z4_reflock_precheck(z4vc_repo *repo, const char *file);

/* git_reflog_write of ref's reflog with l held: a stale lock file of the
 * reflog is cleared as above and the write tried again; one that stays
 * gives z4_reflock_error. */
int z4_reflog_write(z4vc_repo *repo, const z4_reflock *l, git_reflog *log,
		    const char *ref);

/*
 * Remove from directory `dirfd` the temporary files that processes now dead
 * left: regular files named exactly `<prefix><pid>` (serial == 0) or
 * `<prefix><pid>-<n>` (serial == 1), decimal, whose pid is not a running
 * process here (and is not ours). Nothing else is touched, no symlink is
 * followed. Returns how many were removed.
 */
size_t z4_sweep_tmp(int dirfd, const char *prefix, int serial);

#endif
