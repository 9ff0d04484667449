/*
 * info.c - read-only views of a repository: resolving a checkpoint,
 * the log of runs, listing a commit's files and tensors, reading one
 * tensor, and store statistics.
 */
#include "repo_internal.h"

#include "idset.h"
#include "z4_alloc.h"

#include <stdio.h>
#include <string.h>

int z4vc_resolve(char commit_hex[41], z4vc_repo *repo, const char *rev,
		 const char *run, int64_t step)
{
	git_object *obj = NULL;
	git_commit *c = NULL;
	char ref[256];
	git_oid tip, oid;
	git_revwalk *w = NULL;
	int rc = Z4_ENOTFOUND;

	z4_error_clear();
	if (rev) {
		if (git_revparse_single(&obj, repo->git, rev) < 0 ||
		    git_object_peel((git_object **)&c, obj, GIT_OBJECT_COMMIT) < 0) {
			git_object_free(obj);
			return z4_error_set(Z4_ENOTFOUND, "'%s': unknown revision", rev);
		}
		git_oid_tostr(commit_hex, 41, git_commit_id(c));
		git_commit_free(c);
		git_object_free(obj);
		return Z4_OK;
	}
	if (!run)
		run = Z4VC_DEFAULT_RUN;
	Z4_TRY(z4_run_ref(ref, sizeof(ref), run));
	if (git_reference_name_to_id(&tip, repo->git, ref) < 0) {
		git_error_clear();
		return z4_error_set(Z4_ENOTFOUND, "run '%s': no checkpoints", run);
	}
	if (step == Z4VC_NO_STEP) {
		git_oid_tostr(commit_hex, 41, &tip);
		return Z4_OK;
	}
	if (git_revwalk_new(&w, repo->git) < 0 || git_revwalk_push(w, &tip) < 0) {
		git_revwalk_free(w);
		return z4_git_error("revwalk");
	}
	git_revwalk_simplify_first_parent(w);
	while (rc == Z4_ENOTFOUND && git_revwalk_next(&oid, w) == 0) {
		char *r;
		int64_t s;
		if (git_commit_lookup(&c, repo->git, &oid) < 0)
			break;
		z4_commit_trailers(c, &r, &s);
		z4_free(r);
		git_commit_free(c);
		if (s == step) {
			git_oid_tostr(commit_hex, 41, &oid);
			rc = Z4_OK;
		}
	}
	git_revwalk_free(w);
	git_error_clear();
	if (rc)
		return z4_error_set(rc, "step %lld: not found on run '%s'", (long long)step,
				    run);
	return Z4_OK;
}

/* ---- walking a commit's files and tensors ---- */

typedef struct {
	z4vc_repo *repo;
	z4_chunkio *io;
	int (*file_fn)(const z4vc_file_info *f, void *ud);
	int (*tensor_fn)(const z4vc_tensor_info *t, void *ud);
	void *ud;
	z4_idset *chunks;  /* when set: collect chunk ids instead */
} walker;

static int chunk_stats(z4vc_tensor_info *ti, z4_chunkio *io,
		       const z4_tensor_rec *t)
{
	for (size_t k = 0; k < t->nchunks; k++) {
		z4_delta_info info;
		size_t enc;
		Z4_TRY(z4_chunkio_info(&info, &enc, io, &t->chunks[k]));
		ti->stored_bytes += enc;
		if (info.is_delta)
			ti->deltas++;
		else
			ti->keyframes++;
	}
	ti->chunks = (unsigned)t->nchunks;
	return Z4_OK;
}

static int walk_file(walker *w, const char *path, const git_tree_entry *e)
{
	git_blob *blob = NULL;
	z4_pointer ptr;
	z4_recipe r = {0};
	z4vc_file_info fi = {.path = path};
	char oid[80];
	int isp, rc;

	if (git_blob_lookup(&blob, w->repo->git, git_tree_entry_id(e)) < 0)
		return z4_git_error(path);
	if ((rc = z4_blob_pointer(&ptr, &isp, blob))) {
		z4_error_wrap(rc, "'%s'", path);
		goto done;
	}
	if (!isp) {
		fi.kind = "blob";
		fi.size = (uint64_t)git_blob_rawsize(blob);
		git_oid_tostr(oid, sizeof(oid), git_tree_entry_id(e));
		fi.oid = oid;
		if (w->file_fn)
			rc = w->file_fn(&fi, w->ud);
		goto done;
	}
	memcpy(oid, "sha256:", 7);
	z4_hex(oid + 7, ptr.sha256, Z4_SHA256_LEN);
	fi.oid = oid;
	fi.size = ptr.size;
	if ((rc = z4_load_recipe(&r, w->io, ptr.sha256))) {
		z4_error_wrap(rc, "'%s'", path);
		goto done;
	}
	fi.kind = r.file_kind == Z4_FILE_SAFETENSORS ? "safetensors" : "opaque";
	if (w->file_fn && (rc = w->file_fn(&fi, w->ud)))
		goto done;
	for (size_t i = 0; i < r.nseg && rc == Z4_OK; i++) {
		z4_tensor_rec t;
		z4vc_tensor_info ti = {0};
		if (r.seg[i].kind != Z4_SEG_TENSOR)
			continue;
		if ((rc = z4_load_tensor(&t, w->io, &r.seg[i].tensor)))
			break;
		if (w->chunks) {
			for (size_t k = 0; k < t.nchunks && rc == Z4_OK; k++)
				if (z4_idset_add(w->chunks, &t.chunks[k]) < 0)
					rc = z4_error_set(Z4_ENOMEM, "out of memory");
		} else if (w->tensor_fn) {
			ti.file = path;
			ti.name = r.seg[i].name;
			ti.dtype = t.dtype == Z4_DT_UNKNOWN ? "bytes" : z4_dtype_name(t.dtype);
			ti.ndim = t.ndim;
			ti.shape = t.shape;
			ti.nbytes = t.nbytes;
			rc = chunk_stats(&ti, w->io, &t);
			if (rc == Z4_OK)
				rc = w->tensor_fn(&ti, w->ud);
		}
		z4_tensor_rec_dispose(&t);
	}
done:
	z4_recipe_dispose(&r);
	git_blob_free(blob);
	return rc;
}

static int walk_tree(walker *w, git_tree *tree, const char *prefix)
{
	size_t n = git_tree_entrycount(tree);
	int rc = Z4_OK;
	for (size_t i = 0; i < n && rc == Z4_OK; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		char path[4096];
		if ((size_t)snprintf(path, sizeof(path), "%s%s", prefix,
				     git_tree_entry_name(e)) >= sizeof(path))
			return z4_error_set(Z4_EINVAL, "path too long");
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			git_tree *sub;
			size_t len = strlen(path);
			if (len + 1 >= sizeof(path))
				return z4_error_set(Z4_EINVAL, "path too long");
			path[len] = '/';
			path[len + 1] = '\0';
			if (git_tree_lookup(&sub, w->repo->git, git_tree_entry_id(e)) < 0)
				return z4_git_error(path);
			rc = walk_tree(w, sub, path);
			git_tree_free(sub);
		} else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
			rc = walk_file(w, path, e);
		}
	}
	return rc;
}

static int walk_commit(walker *w, const git_oid *oid)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	int rc;
	if (git_commit_lookup(&c, w->repo->git, oid) < 0 ||
	    git_commit_tree(&t, c) < 0) {
		git_commit_free(c);
		return z4_git_error("commit");
	}
	rc = walk_tree(w, t, "");
	git_tree_free(t);
	git_commit_free(c);
	return rc;
}

int z4vc_list(z4vc_repo *repo, const char *commit_hex,
	      int (*file_fn)(const z4vc_file_info *f, void *ud),
	      int (*tensor_fn)(const z4vc_tensor_info *t, void *ud), void *ud)
{
	walker w = {.repo = repo, .file_fn = file_fn, .tensor_fn = tensor_fn, .ud = ud};
	git_oid oid;
	int rc;

	z4_error_clear();
	if (git_oid_fromstr(&oid, commit_hex) < 0)
		return z4_error_set(Z4_EINVAL, "'%s': not a commit id", commit_hex);
	Z4_TRY(z4_chunkio_new(&w.io, repo->store));
	rc = walk_commit(&w, &oid);
	z4_chunkio_free(w.io);
	return rc;
}

/* ---- log ---- */

typedef struct {
	uint64_t files, raw;
} sums;

static int sum_file(const z4vc_file_info *f, void *ud)
{
	sums *s = ud;
	s->files++;
	s->raw += f->size;
	return 0;
}

/* Encoded bytes of the chunks in `mine` that `theirs` lacks. */
static uint64_t new_bytes(z4_chunkio *io, const z4_idset *mine,
			  const z4_idset *theirs)
{
	uint64_t total = 0;
	for (size_t i = 0; i < mine->cap; i++) {
		z4_delta_info info;
		size_t enc;
		if (!mine->used[i] || (theirs && z4_idset_has(theirs, &mine->slots[i])))
			continue;
		if (z4_chunkio_info(&info, &enc, io, &mine->slots[i]) == Z4_OK)
			total += enc;
	}
	z4_error_clear();
	return total;
}

static int log_run(z4vc_repo *repo, z4_chunkio *io, const char *refname,
		   int (*fn)(const z4vc_log_entry *e, void *ud), void *ud)
{
	git_revwalk *w = NULL;
	git_oid oid;
	int rc = Z4_OK;

	if (git_revwalk_new(&w, repo->git) < 0 ||
	    git_revwalk_push_ref(w, refname) < 0) {
		git_revwalk_free(w);
		return z4_git_error(refname);
	}
	git_revwalk_simplify_first_parent(w);
	while (rc == Z4_OK && git_revwalk_next(&oid, w) == 0) {
		git_commit *c = NULL;
		z4vc_log_entry e = {0};
		z4_idset mine, theirs;
		sums s = {0};
		walker wk = {.repo = repo, .io = io, .file_fn = sum_file, .ud = &s,
			     .chunks = &mine};
		char *run = NULL, *summary = NULL;
		const char *msg;

		if (git_commit_lookup(&c, repo->git, &oid) < 0) {
			rc = z4_git_error("commit");
			break;
		}
		z4_idset_init(&mine);
		z4_idset_init(&theirs);
		rc = walk_commit(&wk, &oid);
		if (rc == Z4_OK && git_commit_parentcount(c) > 0) {
			walker wp = {.repo = repo, .io = io, .chunks = &theirs};
			rc = walk_commit(&wp, git_commit_parent_id(c, 0));
		}
		if (rc == Z4_OK) {
			git_oid_tostr(e.commit, sizeof(e.commit), &oid);
			z4_commit_trailers(c, &run, &e.step);
			e.run = run ? run : "";
			msg = git_commit_message(c);
			summary = z4_strndup(msg, strcspn(msg, "\n"));
			e.summary = summary ? summary : "";
			e.time = (int64_t)git_commit_time(c);
			e.files = s.files;
			e.raw_bytes = s.raw;
			e.new_bytes = new_bytes(io, &mine,
						git_commit_parentcount(c) ? &theirs : NULL);
			rc = fn(&e, ud);
		}
		z4_free(run);
		z4_free(summary);
		z4_idset_dispose(&mine);
		z4_idset_dispose(&theirs);
		git_commit_free(c);
	}
	git_revwalk_free(w);
	return rc;
}

typedef struct {
	char **names;
	size_t n, cap;
} namelist;

static int collect_ref(const char *name, void *ud)
{
	namelist *l = ud;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 8;
		char **nn = z4_realloc(l->names, nc * sizeof(*nn));
		if (!nn)
			return -1;
		l->names = nn;
		l->cap = nc;
	}
	if (!(l->names[l->n] = z4_strdup(name)))
		return -1;
	l->n++;
	return 0;
}

int z4vc_log(z4vc_repo *repo, const char *run,
	     int (*fn)(const z4vc_log_entry *e, void *ud), void *ud)
{
	z4_chunkio *io = NULL;
	namelist refs = {0};
	char ref[256];
	int rc;

	z4_error_clear();
	if (run) {
		Z4_TRY(z4_run_ref(ref, sizeof(ref), run));
		git_oid tip;
		if (git_reference_name_to_id(&tip, repo->git, ref) < 0) {
			git_error_clear();
			return z4_error_set(Z4_ENOTFOUND, "run '%s': no checkpoints", run);
		}
		if (collect_ref(ref, &refs))
			return z4_error_set(Z4_ENOMEM, "out of memory");
	} else if (git_reference_foreach_glob(repo->git, Z4_REF_PREFIX "*",
					      collect_ref, &refs) < 0) {
		rc = z4_git_error("list runs");
		goto done;
	}
	if ((rc = z4_chunkio_new(&io, repo->store)))
		goto done;
	for (size_t i = 0; i < refs.n && rc == Z4_OK; i++)
		rc = log_run(repo, io, refs.names[i], fn, ud);
done:
	for (size_t i = 0; i < refs.n; i++)
		z4_free(refs.names[i]);
	z4_free(refs.names);
	z4_chunkio_free(io);
	return rc;
}

/* ---- one tensor ---- */

int z4vc_read_tensor(size_t *out_len, void *buf, size_t cap, z4vc_repo *repo,
		     const char *commit_hex, const char *path, const char *name)
{
	git_oid oid;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_tree_entry *te = NULL;
	git_blob *blob = NULL;
	z4_chunkio *io = NULL;
	z4_recipe r = {0};
	z4_tensor_rec t = {0};
	z4_pointer ptr;
	int isp, rc = Z4_OK;
	size_t i;

	z4_error_clear();
	*out_len = 0;
	if (git_oid_fromstr(&oid, commit_hex) < 0 ||
	    git_commit_lookup(&c, repo->git, &oid) < 0 ||
	    git_commit_tree(&tree, c) < 0) {
		rc = z4_git_error(commit_hex);
		goto done;
	}
	if (git_tree_entry_bypath(&te, tree, path) < 0 ||
	    git_blob_lookup(&blob, repo->git, git_tree_entry_id(te)) < 0) {
		git_error_clear();
		rc = z4_error_set(Z4_ENOTFOUND, "'%s': no such file in %.12s", path,
				  commit_hex);
		goto done;
	}
	if ((rc = z4_blob_pointer(&ptr, &isp, blob)))
		goto done;
	if (!isp) {
		rc = z4_error_set(Z4_ENOTFOUND, "'%s': not a tensor file", path);
		goto done;
	}
	if ((rc = z4_chunkio_new(&io, repo->store)) ||
	    (rc = z4_load_recipe(&r, io, ptr.sha256)))
		goto done;
	for (i = 0; i < r.nseg; i++)
		if (r.seg[i].kind == Z4_SEG_TENSOR && strcmp(r.seg[i].name, name) == 0)
			break;
	if (i == r.nseg) {
		rc = z4_error_set(Z4_ENOTFOUND, "tensor '%s': not in '%s'", name, path);
		goto done;
	}
	if ((rc = z4_load_tensor(&t, io, &r.seg[i].tensor)))
		goto done;
	if (t.nbytes > cap) {
		rc = z4_error_set(Z4_ETOOBIG, "tensor '%s' has %llu bytes, buffer %zu",
				  name, (unsigned long long)t.nbytes, cap);
		goto done;
	}
	for (size_t k = 0; k < t.nchunks && rc == Z4_OK; k++) {
		uint64_t off = (uint64_t)k * t.chunk_size;
		size_t len = (size_t)(t.nbytes - off < t.chunk_size ? t.nbytes - off
								 : t.chunk_size);
		rc = z4_chunkio_read(io, &t.chunks[k], (uint8_t *)buf + off, len);
	}
	if (rc == Z4_OK)
		*out_len = (size_t)t.nbytes;
done:
	z4_tensor_rec_dispose(&t);
	z4_recipe_dispose(&r);
	z4_chunkio_free(io);
	git_blob_free(blob);
	git_tree_entry_free(te);
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

/* ---- store statistics ---- */

typedef struct {
	z4vc_stats *st;
	z4_chunkio *io;
	z4_idset seen;
	int rc;
} stat_ctx;

static z4vc_dtype_stat *dtype_slot(z4vc_stats *st, const char *name)
{
	for (size_t i = 0; i < st->ndtypes; i++)
		if (strcmp(st->dtypes[i].dtype, name) == 0)
			return &st->dtypes[i];
	if (st->ndtypes == sizeof(st->dtypes) / sizeof(st->dtypes[0]))
		return NULL;
	st->dtypes[st->ndtypes].dtype = name;
	return &st->dtypes[st->ndtypes++];
}

static int stat_tensor(const uint8_t *key, size_t klen, const uint8_t *val,
		       size_t vlen, void *ud)
{
	stat_ctx *s = ud;
	z4_tensor_rec t;
	z4vc_dtype_stat *d;

	if (z4_tensor_rec_decode(&t, val, vlen) != Z4_OK) {
		s->rc = z4_error_set(Z4_ECORRUPT, "tensor record: malformed");
		return 1;
	}
	d = dtype_slot(s->st, t.dtype == Z4_DT_UNKNOWN ? "bytes" : z4_dtype_name(t.dtype));
	if (d)
		d->tensors++;
	for (size_t k = 0; k < t.nchunks; k++) {
		z4_delta_info info;
		size_t enc;
		if (z4_idset_has(&s->seen, &t.chunks[k]))
			continue;
		if (z4_idset_add(&s->seen, &t.chunks[k]) < 0) {
			s->rc = z4_error_set(Z4_ENOMEM, "out of memory");
			break;
		}
		if (z4_chunkio_info(&info, &enc, s->io, &t.chunks[k]) != Z4_OK)
			continue; /* fsck reports missing chunks; stats counts what is there */
		if (d) {
			d->chunks++;
			d->raw_bytes += info.decoded_len;
			d->stored_bytes += enc;
		}
		s->st->raw_bytes += info.decoded_len;
		if (info.is_delta)
			s->st->deltas++;
		else
			s->st->keyframes++;
	}
	z4_tensor_rec_dispose(&t);
	return s->rc ? 1 : 0;
}

static int sum_chunk(const uint8_t *key, size_t klen, const uint8_t *val,
		     size_t vlen, void *ud)
{
	z4vc_stats *st = ud;
	st->stored_bytes += vlen;
	return 0;
}

int z4vc_stats_get(z4vc_stats *out, z4vc_repo *repo)
{
	z4_store_stat ss;
	stat_ctx s = {.st = out};
	z4_rtxn *t;
	int rc;

	memset(out, 0, sizeof(*out));
	z4_error_clear();
	Z4_TRY(z4_objects_stat(&ss, repo->store));
	out->chunks = ss.entries[Z4_DB_CHUNKS];
	out->tensors = ss.entries[Z4_DB_TENSORS];
	out->recipes = ss.entries[Z4_DB_RECIPES];
	out->file_bytes = ss.file_bytes;
	out->used_bytes = ss.used_bytes;
	out->format = ss.format;
	Z4_TRY(z4_chunkio_new(&s.io, repo->store));
	z4_idset_init(&s.seen);
	t = z4_chunkio_txn(s.io);
	if (!t) {
		rc = z4_error_last_code() ? z4_error_last_code() : Z4_EIO;
		goto done;
	}
	rc = z4_objects_foreach(t, Z4_DB_TENSORS, stat_tensor, &s);
	if (s.rc)
		rc = s.rc;
	if (rc == Z4_OK)
		rc = z4_objects_foreach(t, Z4_DB_CHUNKS, sum_chunk, out);
done:
	z4_idset_dispose(&s.seen);
	z4_chunkio_free(s.io);
	return rc < 0 ? rc : Z4_OK;
}
