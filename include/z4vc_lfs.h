/*
 * z4vc_lfs.h - z4vc as a drop-in replacement for Git LFS: the clean and
 * smudge filters (single shot, git's long-running filter process, and an
 * in-process libgit2 filter), and the setup of a repository (`z4vc
 * install`): git config, .gitattributes patterns and hooks.
 *
 * Pointers are Git LFS v1 pointers byte for byte (docs/format.md "Git
 * objects"), so a repository can move between git-lfs and z4vc without
 * rewriting history. See docs/git-lfs.md.
 */
#ifndef Z4VC_LFS_H
#define Z4VC_LFS_H

#include "z4vc.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Clean: store the content read from `read` (the work-tree file `path`,
 * '/'-separated from the top of the work tree) and write its pointer
 * through `write`. Delta base: the pointer at `path` in the index, else in
 * HEAD. Content that already is a valid pointer is written unchanged (as
 * git-lfs does); an empty file cleans to empty. Malformed safetensors are
 * stored as bytes. The content is streamed: memory stays a few chunks.
 */
int z4vc_lfs_clean(z4vc_repo *repo, const char *path, z4vc_read_fn read,
		   void *rud, z4vc_write_fn write, void *wud);

/* Do not fetch a missing object from the remote (z4vc_lfs_smudge). */
#define Z4VC_SMUDGE_NO_FETCH 1u

/*
 * Smudge: if the content read from `read` is a pointer, write the file it
 * names, rebuilt and verified against its SHA-256 before the first byte is
 * written; a missing object is fetched from the default remote (unless
 * Z4VC_SMUDGE_NO_FETCH). Anything else (not a pointer, a malformed one) is
 * written unchanged. When the file cannot be had (no remote, not on it,
 * corrupt) the pointer itself is written unchanged, *kept_pointer is set to
 * 1 and z4vc_error() says which object and why; the call still returns 0,
 * like git-lfs, so a checkout never holds half a file. Negative codes are
 * for failed reads and writes.
 */
int z4vc_lfs_smudge(int *kept_pointer, z4vc_repo *repo, const char *path,
		    z4vc_read_fn read, void *rud, z4vc_write_fn write, void *wud,
		    unsigned flags);

typedef struct {
	/* Non-fatal problems (a pointer kept because its object could not be
	 * had): `what` names the file, `why` the object and reason. NULL: quiet. */
	void (*warn)(void *ud, const char *what, const char *why);
	void *warn_ud;
} z4vc_filter_opts;

/*
 * Serve git's long-running filter protocol (version 2; capabilities clean,
 * smudge, delay) on in_fd/out_fd until git closes in_fd. Smudges whose
 * object must be fetched are delayed when git allows it and fetched in one
 * batch when git asks for the available blobs. Returns 0 at the end of
 * input; Z4_ECORRUPT (with a reason) on a malformed pkt-line or a protocol
 * violation, after which the caller must exit: nothing half-stored is
 * referenced.
 */
int z4vc_lfs_filter_process(z4vc_repo *repo, int in_fd, int out_fd,
			    const z4vc_filter_opts *opts);

/*
 * Register the "z4vc" filter with libgit2 (idempotent; libgit2 must be
 * initialized, and the registration ends with its last shutdown:
 * z4vc_repo_open/init register it for as long as a repo is open), so
 * libgit2 operations that apply filters (git_checkout_*, git_blob_filter,
 * git_repository_hashfile...) clean and smudge files with attribute
 * filter=z4vc through the store of the repository they work on.
 */
int z4vc_lfs_filter_register(void);

/* ---- repository setup ---- */

#define Z4VC_INSTALL_GLOBAL 1u /* ~/.gitconfig filter config only */

/* What z4vc_lfs_install/uninstall did goes, one line each (for the CLI),
 * to a z4vc_note_fn (z4vc.h). */

/*
 * Install in the repository containing `path` (or, with
 * Z4VC_INSTALL_GLOBAL, only the filter config in ~/.gitconfig): git config
 * filter.z4vc.{process,clean,smudge,required}, .gitattributes patterns for
 * weight files (lines using filter=lfs are switched to filter=z4vc, and
 * remembered), the pre-push hook (an existing hook is kept as
 * <hook>.z4vc-chained and run first) and the store. Idempotent.
 */
int z4vc_lfs_install(const char *path, unsigned flags, z4vc_note_fn note,
		     void *ud);

/* Undo install: config, hooks (chained ones put back), the .gitattributes
 * lines install added (switched lfs lines go back to filter=lfs). The store
 * is kept. */
int z4vc_lfs_uninstall(const char *path, unsigned flags, z4vc_note_fn note,
		       void *ud);

/* Add (or switch to filter=z4vc) .gitattributes lines for patterns. */
int z4vc_lfs_track(const char *path, const char *const *patterns, size_t n,
		   z4vc_note_fn note, void *ud);
/* Remove the filter=z4vc lines of these patterns. */
int z4vc_lfs_untrack(const char *path, const char *const *patterns, size_t n,
		     z4vc_note_fn note, void *ud);
/* Call fn for each pattern with filter=z4vc in the top .gitattributes. */
int z4vc_lfs_tracked(const char *path,
		     int (*fn)(const char *pattern, void *ud), void *ud);

#ifdef __cplusplus
}
#endif
#endif
