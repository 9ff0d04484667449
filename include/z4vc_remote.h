/*
 * z4vc_remote.h - moving stored files between a repository's store and a
 * remote object store (a directory on a shared file system today; the
 * interface is backend-neutral so S3 can follow).
 *
 * Which remote: `remote` names a git remote ("origin"); NULL means the
 * default (the branch's upstream remote, else "origin"). Its objects live at
 * git config remote.<name>.z4vcurl, else z4vc.url, else — when the git
 * remote's URL is a local path — inside that repository at <path>/z4vc/.
 * Everything fetched is verified against its SHA-256 before it is stored.
 */
#ifndef Z4VC_REMOTE_H
#define Z4VC_REMOTE_H

#include "z4vc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fetch the files with these oids ("sha256:<hex>" or 64 hex) into the
 * store; those already present are skipped. Z4_ENOTFOUND (naming the oid)
 * if the remote lacks one; Z4_ECORRUPT if one fails verification (nothing
 * of it is kept). The others are still fetched; the first failure is
 * returned. */
int z4vc_remote_fetch(z4vc_repo *repo, const char *remote,
		      const char *const *oids, size_t n,
		      z4vc_progress_fn progress, void *progress_ud);

/* Upload the files with these oids: every encoded object the remote lacks
 * (delta bases included), in one pack published atomically. Z4_ENOTFOUND
 * if one is not in the local store (nothing is published). */
int z4vc_remote_push(z4vc_repo *repo, const char *remote,
		     const char *const *oids, size_t n,
		     z4vc_progress_fn progress, void *progress_ud);

/* The directory holding `remote`'s objects (see above), malloc'd: free
 * with free(). Z4_EUNSUPPORTED for a non-local URL without z4vc.url. */
int z4vc_remote_url(char **out, z4vc_repo *repo, const char *remote);

/* Called once per distinct pointer: its parsed form and the path (in the
 * tree) where it was first seen. Non-zero stops the walk (returned). */
typedef int (*z4vc_pointer_fn)(void *ud, const z4vc_pointer *p,
			       const char *path);

#define Z4VC_REVS_WALK 1u /* every commit reachable from revs, not just revs */

/*
 * Every Git LFS pointer blob in the trees of `revs` (any git revisions);
 * with Z4VC_REVS_WALK (where revs may also be ref globs), in the trees of all commits reachable from revs and
 * not from `hide` (revisions or globs such as refs/remotes/origin/ plus a star; ones
 * that do not resolve are ignored), oldest commit first.
 */
int z4vc_rev_pointers(z4vc_repo *repo, const char *const *revs, size_t n,
		      const char *const *hide, size_t nhide, unsigned flags,
		      z4vc_pointer_fn fn, void *ud);

/*
 * Every work-tree file that is still a Git LFS pointer and equals its index
 * entry (a checkout that skipped smudging): fn gets the pointer and the
 * file's absolute path. Z4_EINVAL for a bare repository.
 */
int z4vc_worktree_pointers(z4vc_repo *repo, z4vc_pointer_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif
