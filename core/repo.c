/*
 * repo.c - opening a z4vc repository: the git repository (libgit2) and the
 * object store in $GIT_DIR/z4vc/store; small helpers shared by core/.
 */
#include "repo_internal.h"

#include "z4_alloc.h"
#include "z4vc_lfs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *z4vc_error(void) { return z4_error_last(); }

int z4_git_error(const char *what)
{
	const git_error *e = git_error_last();
	return z4_error_set(Z4_EGIT, "%s: %s", what,
			    e && e->message ? e->message : "unknown git error");
}

int z4_parse_u64(uint64_t *out, const char *s)
{
	uint64_t v = 0;
	if (!s || !*s)
		return Z4_EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return Z4_EINVAL;
	}
	*out = v;
	return Z4_OK;
}

int z4_parse_i64(int64_t *out, const char *s)
{
	uint64_t v;
	int neg = s && *s == '-';
	if (z4_parse_u64(&v, neg ? s + 1 : s) || v > (uint64_t)INT64_MAX)
		return Z4_EINVAL;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return Z4_OK;
}

int z4_run_ref(char *out, size_t cap, const char *run)
{
	int valid = 0;
	if (!run || !*run)
		return z4_error_set(Z4_EINVAL, "run name is empty");
	if ((size_t)snprintf(out, cap, Z4_REF_PREFIX "%s", run) >= cap)
		return z4_error_set(Z4_EINVAL, "run name '%s' is too long", run);
	if (git_reference_name_is_valid(&valid, out) < 0 || !valid)
		return z4_error_set(Z4_EINVAL, "run name '%s' is not a valid git ref name",
				    run);
	return Z4_OK;
}

static int open_impl(z4vc_repo **out, const char *path, int create)
{
	z4vc_repo *r;
	const char *gitdir;
	size_t n;
	char *storedir = NULL;
	const char *test_map = getenv("Z4VC_TEST_MAPSIZE");
	uint64_t map_size = 0; /* default; tests force growth with a tiny map */
	int rc;

	*out = NULL;
	z4_error_clear();
	git_libgit2_init();
	/* Commits and refs must survive a power cut as the store does. */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
	/* libgit2 operations that filter (checkout, hashfile) use the store. */
	z4vc_lfs_filter_register();
	r = z4_calloc(1, sizeof(*r));
	if (!r) {
		git_libgit2_shutdown();
		return z4_error_set(Z4_ENOMEM, "out of memory");
	}
	if (git_repository_open_ext(&r->git, path, 0, NULL) < 0) {
		rc = z4_error_set(Z4_ENOTFOUND, "'%s': not a git repository", path);
		goto fail;
	}
	gitdir = git_repository_path(r->git); /* ends with '/' */
	n = strlen(gitdir);
	r->dir = z4_malloc(n + 5);
	storedir = z4_malloc(n + 11);
	if (!r->dir || !storedir) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto fail;
	}
	snprintf(r->dir, n + 5, "%sz4vc", gitdir);
	snprintf(storedir, n + 11, "%sz4vc/store", gitdir);
	if (create && mkdir(r->dir, 0777) != 0 && errno != EEXIST) {
		rc = z4_error_set(Z4_EIO, "create '%s': %s", r->dir, strerror(errno));
		goto fail;
	}
	if (test_map && z4_parse_u64(&map_size, test_map) != Z4_OK)
		map_size = 0;
	rc = z4_objects_open_ex(&r->store, storedir, create ? Z4_STORE_CREATE : 0,
				map_size);
	if (rc == Z4_ENOTFOUND)
		z4_error_set(rc, "no z4vc store in '%s' (run 'z4vc init')", gitdir);
	if (rc)
		goto fail;
	z4_free(storedir);
	*out = r;
	return Z4_OK;
fail:
	z4_free(storedir);
	z4vc_repo_free(r);
	return rc;
}

int z4vc_repo_open(z4vc_repo **out, const char *path)
{
	return open_impl(out, path, 0);
}

int z4vc_repo_init(z4vc_repo **out, const char *path)
{
	return open_impl(out, path, 1);
}

void z4vc_repo_free(z4vc_repo *r)
{
	if (!r)
		return;
	z4_objects_free(r->store);
	git_repository_free(r->git);
	z4_free(r->dir);
	z4_free(r);
	git_libgit2_shutdown();
}

const char *z4vc_repo_dir(const z4vc_repo *r) { return r->dir; }

void z4vc_repo_set_notice(z4vc_repo *r, z4vc_note_fn fn, void *ud)
{
	r->notice = fn;
	r->notice_ud = ud;
}

void z4_notice(z4vc_repo *r, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	if (!r->notice)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	r->notice(r->notice_ud, line);
}

void z4_commit_trailers(const git_commit *c, char **run_out, int64_t *step_out)
{
	git_message_trailer_array arr = {0};
	*run_out = NULL;
	*step_out = Z4VC_NO_STEP;
	if (git_message_trailers(&arr, git_commit_message(c)) < 0)
		return;
	for (size_t i = 0; i < arr.count; i++) {
		const char *k = arr.trailers[i].key, *v = arr.trailers[i].value;
		if (strcmp(k, "Z4vc-Step") == 0) {
			int64_t s;
			if (z4_parse_i64(&s, v) == Z4_OK)
				*step_out = s;
		} else if (strcmp(k, "Z4vc-Run") == 0 && !*run_out) {
			*run_out = z4_strdup(v);
		}
	}
	git_message_trailer_array_free(&arr);
}

int z4_load_recipe(z4_recipe *out, z4_chunkio *io, const uint8_t sha[32])
{
	const uint8_t *p;
	size_t n;
	char hex[65];
	z4_rtxn *t = z4_chunkio_txn(io);
	int rc;

	memset(out, 0, sizeof(*out));
	z4_hex(hex, sha, 32);
	if (!t)
		return z4_error_last_code() ? z4_error_last_code() : Z4_EIO;
	rc = z4_objects_get(&p, &n, t, Z4_DB_RECIPES, sha, 32);
	if (rc == Z4_ENOTFOUND)
		return z4_error_set(rc, "object sha256:%s: not in the store", hex);
	if (rc)
		return rc;
	rc = z4_recipe_decode(out, p, n);
	if (rc)
		return z4_error_wrap(rc, "object sha256:%s", hex);
	return Z4_OK;
}

int z4_load_tensor(z4_tensor_rec *out, z4_chunkio *io, const z4_id *id)
{
	const uint8_t *p;
	size_t n;
	char hex[33];
	z4_id check;
	z4_rtxn *t = z4_chunkio_txn(io);
	int rc;

	memset(out, 0, sizeof(*out));
	z4_id_hex(hex, id);
	if (!t)
		return z4_error_last_code() ? z4_error_last_code() : Z4_EIO;
	rc = z4_objects_get(&p, &n, t, Z4_DB_TENSORS, id->b, Z4_ID_LEN);
	if (rc == Z4_ENOTFOUND)
		return z4_error_set(rc, "tensor %s: not in the store", hex);
	if (rc)
		return rc;
	z4_delta_id(&check, p, n);
	if (memcmp(check.b, id->b, Z4_ID_LEN) != 0)
		return z4_error_set(Z4_ECORRUPT, "tensor %s: checksum mismatch", hex);
	rc = z4_tensor_rec_decode(out, p, n);
	if (rc)
		return z4_error_wrap(rc, "tensor %s", hex);
	return Z4_OK;
}

int z4_blob_pointer(z4_pointer *ptr, int *is_pointer, const git_blob *blob)
{
	static const char prefix[] = "version https://git-lfs";
	const uint8_t *data = git_blob_rawcontent(blob);
	size_t len = (size_t)git_blob_rawsize(blob);

	*is_pointer = 0;
	if (len < sizeof(prefix) - 1 || memcmp(data, prefix, sizeof(prefix) - 1))
		return Z4_OK;
	if (z4_pointer_parse(ptr, data, len) != Z4_OK)
		return z4_error_set(Z4_ECORRUPT, "malformed Git LFS pointer");
	*is_pointer = 1;
	return Z4_OK;
}
