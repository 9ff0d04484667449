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
};

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

#endif
