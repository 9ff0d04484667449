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
 * of it is kept). */
int z4vc_remote_fetch(z4vc_repo *repo, const char *remote,
		      const char *const *oids, size_t n,
		      z4vc_progress_fn progress, void *progress_ud);

/* Upload the files with these oids (encoded objects the remote lacks). */
int z4vc_remote_push(z4vc_repo *repo, const char *remote,
		     const char *const *oids, size_t n,
		     z4vc_progress_fn progress, void *progress_ud);

#ifdef __cplusplus
}
#endif
#endif
