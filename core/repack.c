/*
 * repack.c - re-encode delta chains for a keyframe interval (z4vc_repack)
 * without changing any id.
 *
 * Plan: each run is walked oldest checkpoint first; a tensor's chunk k
 * deltas against chunk k of the tensor of the same file path and name in
 * the previous checkpoint (same layout), exactly as commit chooses, unless
 * that base's new depth + 1 reaches K; the first occurrence of a chunk id
 * decides its encoding (ids are shared across checkpoints and runs). A
 * chunk whose stored encoding already matches the plan is left alone.
 *
 * Safety:
 * - Every new encoding is decoded again and compared with the chunk's bytes
 *   before it is queued; ids never change, so every other chunk that names
 *   it as a base still decodes (the decoder checks the base's hash, and the
 *   bytes are the same).
 * - A chunk's new base is always a chunk planned earlier in the walk, whose
 *   new encoding is queued earlier: batches are written in order, so
 *   whenever a batch is durable every new encoding's base chain is made of
 *   durable new encodings down to a keyframe. No cycle can form, because
 *   new encodings only point backwards in the walk.
 * - Chunks not yet reached keep their old encoding; their chains still
 *   decode. What a crash between batches can leave is a delta whose depth
 *   field is stale against its (rewritten) base: bookkeeping, not data,
 *   reported by fsck and fixed by running repack again.
 */
#include "repo_internal.h"
#include "keymap.h"
#include "z4vc_maint.h"

#include "z4_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_BYTES (64u << 20)

typedef struct {
	uint8_t key[Z4_ID_LEN];
	uint8_t *val;
	size_t vlen;
} pending;

typedef struct {
	z4vc_repo *repo;
	const z4vc_repack_opts *opts;
	z4vc_repack_result *res;
	unsigned k;
	z4_chunkio *io;
	z4_delta_ctx *ctx;
	z4_keymap planned; /* chunk id -> new depth */
	z4_keymap seen;    /* tensor ids already walked */
	uint8_t *cur, *base, *enc, *check;
	size_t cur_cap, base_cap, enc_cap, check_cap;
	pending *q;
	size_t qn, qcap, qbytes;
	uint64_t done;
} repack;

static void queue_clear(repack *rp)
{
	for (size_t i = 0; i < rp->qn; i++)
		z4_free(rp->q[i].val);
	rp->qn = 0;
	rp->qbytes = 0;
}

static int flush(repack *rp)
{
	z4_put *items;
	int rc;
	if (rp->qn == 0)
		return Z4_OK;
	/* No snapshot may be open while writing (the map may grow). */
	z4_chunkio_end_txn(rp->io);
	if (!(items = z4_calloc(rp->qn, sizeof(*items))))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	for (size_t i = 0; i < rp->qn; i++)
		items[i] = (z4_put){Z4_DB_CHUNKS, rp->q[i].key,  Z4_ID_LEN,
		                    rp->q[i].val, rp->q[i].vlen, 1};
	rc = z4_objects_put_batch(rp->repo->store, items, rp->qn);
	z4_free(items);
	if (rc)
		return rc;
	z4_crash_point("repack-batch");
	queue_clear(rp);
	return Z4_OK;
}

static int enqueue(repack *rp, const z4_id *id, const uint8_t *enc, size_t len)
{
	pending *p;
	if (rp->qn == rp->qcap) {
		size_t nc = rp->qcap ? rp->qcap * 2 : 64;
		pending *nq = z4_realloc(rp->q, nc * sizeof(*nq));
		if (!nq)
			return z4_error_set(Z4_ENOMEM, "out of memory");
		rp->q = nq;
		rp->qcap = nc;
	}
	p = &rp->q[rp->qn];
	if (!(p->val = z4_malloc(len ? len : 1)))
		return z4_error_set(Z4_ENOMEM, "out of memory (%zu bytes)",
		                    len);
	memcpy(p->key, id->b, Z4_ID_LEN);
	memcpy(p->val, enc, len);
	p->vlen = len;
	rp->qn++;
	rp->qbytes += len;
	return rp->qbytes >= BATCH_BYTES ? flush(rp) : Z4_OK;
}

/* 1 if the stored value of id equals enc[0..len). */
static int same_as_stored(repack *rp, const z4_id *id, const uint8_t *enc,
                          size_t len)
{
	const uint8_t *cur;
	size_t clen;
	z4_rtxn *t = z4_chunkio_txn(rp->io);
	int same;
	if (!t || z4_objects_get(&cur, &clen, t, Z4_DB_CHUNKS, id->b,
	                         Z4_ID_LEN) != Z4_OK)
		return 0;
	same = clen == len && memcmp(cur, enc, len) == 0;
	z4_objects_release(rp->repo->store, cur, clen);
	return same;
}

static void count(repack *rp, int is_delta, size_t enc_len)
{
	rp->res->bytes_after += enc_len;
	if (is_delta)
		rp->res->deltas++;
	else
		rp->res->keyframes++;
}

/* elem, dtype: the tensor's; a chunk split otherwise (a ragged piece)
 * is plain bytes, as commit wrote it. */
static int chunk(repack *rp, const z4_id *id, const z4_id *base_id, size_t len,
                 unsigned elem, unsigned dtype)
{
	z4_delta_info info, binfo, ninfo;
	z4_delta_params par = {0};
	size_t enc_len, new_len;
	uint32_t *bdepth = NULL, depth;
	int want_delta = 0, rc;
	char hex[33];

	if (z4_keymap_get(&rp->planned, id->b))
		return Z4_OK; /* decided at its first occurrence */
	Z4_TRY(z4_chunkio_info(&info, &enc_len, rp->io, id));
	if (info.decoded_len != len) {
		z4_id_hex(hex, id);
		return z4_error_set(Z4_ECORRUPT,
		                    "chunk %s: size differs from its tensor's",
		                    hex);
	}
	rp->res->chunks++;
	rp->res->bytes_before += enc_len;
	if (base_id && memcmp(base_id->b, id->b, Z4_ID_LEN) != 0 &&
	    (bdepth = z4_keymap_get(&rp->planned, base_id->b)) &&
	    *bdepth + 1 < rp->k &&
	    z4_chunkio_info(&binfo, NULL, rp->io, base_id) == Z4_OK &&
	    binfo.decoded_len == len && binfo.elem_size == info.elem_size)
		want_delta = 1;
	z4_error_clear();
	depth = want_delta ? *bdepth + 1 : 0;
	if ((!want_delta && !info.is_delta) ||
	    (want_delta && info.is_delta && info.depth == depth &&
	     memcmp(info.base.b, base_id->b, Z4_ID_LEN) == 0)) {
		count(rp, info.is_delta, enc_len);
		return z4_keymap_put(&rp->planned, id->b, info.depth) < 0
		           ? Z4_ENOMEM
		           : Z4_OK;
	}
	/* Re-encode from the decoded bytes (through the current chains). */
	Z4_TRY(z4_scratch_ensure(&rp->cur, &rp->cur_cap, len));
	Z4_TRY(z4_scratch_ensure(&rp->check, &rp->check_cap, len));
	Z4_TRY(z4_scratch_ensure(&rp->enc, &rp->enc_cap,
	                         z4_delta_bound(len, info.elem_size)));
	Z4_TRY(z4_chunkio_read(rp->io, id, rp->cur, len));
	par.elem_size = info.elem_size;
	par.dtype = info.elem_size == elem ? dtype : 0;
	par.id = id; /* the bytes just read were checked against it */
	if (want_delta) {
		Z4_TRY(z4_scratch_ensure(&rp->base, &rp->base_cap, len));
		Z4_TRY(z4_chunkio_read(rp->io, base_id, rp->base, len));
		par.base = rp->base;
		par.base_id = base_id;
		par.base_depth = *bdepth;
	}
	rc = z4_delta_encode(&new_len, &ninfo, rp->enc, rp->enc_cap, rp->ctx,
	                     rp->cur, len, &par);
	if (rc)
		return z4_error_set(rc, "re-encode chunk: %s", z4_strerror(rc));
	/* Verify before anything is written: same bytes, same id. */
	rc = z4_delta_decode(rp->check, len, rp->ctx, rp->enc, new_len,
	                     ninfo.is_delta ? rp->base : NULL);
	if (rc || memcmp(rp->check, rp->cur, len) != 0 ||
	    memcmp(ninfo.id.b, id->b, Z4_ID_LEN) != 0) {
		z4_id_hex(hex, id);
		return z4_error_set(Z4_ECORRUPT,
		                    "chunk %s: re-encoding does not decode "
		                    "to the same bytes; nothing written for it",
		                    hex);
	}
	count(rp, ninfo.is_delta, new_len);
	Z4_TRY(z4_keymap_put(&rp->planned, id->b, ninfo.depth) < 0 ? Z4_ENOMEM
	                                                           : Z4_OK);
	if (same_as_stored(rp, id, rp->enc, new_len))
		return Z4_OK;
	rp->res->rewritten++;
	return rp->opts->dry_run ? Z4_OK : enqueue(rp, id, rp->enc, new_len);
}

static const z4_id *find_tensor(const z4_recipe *r, const char *name)
{
	for (size_t i = 0; r && i < r->nseg; i++)
		if (r->seg[i].kind == Z4_SEG_TENSOR &&
		    strcmp(r->seg[i].name, name) == 0)
			return &r->seg[i].tensor;
	return NULL;
}

/* The recipe of `path` in tree, if it is a pointer whose recipe loads. */
static int parent_recipe(z4_recipe *out, repack *rp, git_tree *tree,
                         const char *path)
{
	git_tree_entry *te = NULL;
	git_blob *blob = NULL;
	z4_pointer ptr;
	int isp = 0, ok = 0;

	memset(out, 0, sizeof(*out));
	if (tree && git_tree_entry_bypath(&te, tree, path) == 0 &&
	    git_tree_entry_type(te) == GIT_OBJECT_BLOB &&
	    git_blob_lookup(&blob, rp->repo->git, git_tree_entry_id(te)) == 0 &&
	    z4_blob_pointer(&ptr, &isp, blob) == Z4_OK && isp &&
	    z4_load_recipe(out, rp->io, ptr.sha256) == Z4_OK)
		ok = 1;
	git_error_clear();
	z4_error_clear();
	git_blob_free(blob);
	git_tree_entry_free(te);
	return ok;
}

static int file(repack *rp, const z4_pointer *ptr, const char *path,
                git_tree *ptree)
{
	z4_recipe r, pr;
	int have_parent, rc = Z4_OK;

	Z4_TRY(z4_load_recipe(&r, rp->io, ptr->sha256));
	have_parent = parent_recipe(&pr, rp, ptree, path);
	/* Segment bytes borrow from the snapshot, which a flush ends. */
	for (size_t i = 0; i < r.nseg; i++)
		r.seg[i].bytes = NULL;
	for (size_t i = 0; i < pr.nseg; i++)
		pr.seg[i].bytes = NULL;
	for (size_t i = 0; i < r.nseg && rc == Z4_OK; i++) {
		z4_tensor_rec t, pt = {0};
		const z4_id *pid;
		unsigned dtype, elem;
		int layout = 0;
		if (r.seg[i].kind != Z4_SEG_TENSOR)
			continue;
		rc = z4_keymap_put(&rp->seen, r.seg[i].tensor.b, 0);
		if (rc <= 0)
			continue; /* walked already (or ENOMEM, which ends the
			             loop) */
		if ((rc = z4_load_tensor(&t, rp->io, &r.seg[i].tensor)))
			break;
		pid = have_parent ? find_tensor(&pr, r.seg[i].name) : NULL;
		if (pid && z4_load_tensor(&pt, rp->io, pid) == Z4_OK)
			layout = z4_tensor_rec_equal_layout(&t, &pt);
		z4_error_clear();
		/* as commit picks it: the codec's planes follow the dtype */
		dtype = t.dtype != Z4_DT_UNKNOWN
		                ? z4_delta_dtype(z4_dtype_name(t.dtype))
		                : 0;
		elem = t.elem_size;
		for (size_t k = 0; k < t.nchunks && rc == Z4_OK; k++) {
			uint64_t off = (uint64_t)k * t.chunk_size;
			size_t len = (size_t)(t.nbytes - off < t.chunk_size
			                          ? t.nbytes - off
			                          : t.chunk_size);
			rc = chunk(rp, &t.chunks[k],
			           layout ? &pt.chunks[k] : NULL, len, elem,
			           dtype);
			rp->done += len;
			if (rp->opts->progress)
				rp->opts->progress(rp->opts->progress_ud,
				                   rp->done, 0, path);
		}
		if (rc)
			z4_error_wrap(rc, "'%s' tensor '%s'", path,
			              r.seg[i].name);
		z4_tensor_rec_dispose(&t);
		z4_tensor_rec_dispose(&pt);
	}
	z4_recipe_dispose(&r);
	z4_recipe_dispose(&pr);
	return rc < 0 ? rc : Z4_OK;
}

static int tree(repack *rp, git_tree *t, const char *prefix, git_tree *ptree)
{
	int rc = Z4_OK;
	for (size_t i = 0; i < git_tree_entrycount(t) && rc == Z4_OK; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		char path[4096];
		if ((size_t)snprintf(path, sizeof(path), "%s%s", prefix,
		                     git_tree_entry_name(e)) >=
		    sizeof(path) - 1)
			return z4_error_set(Z4_EINVAL, "path too long");
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			git_tree *sub;
			strcat(path, "/");
			if (git_tree_lookup(&sub, rp->repo->git,
			                    git_tree_entry_id(e)) < 0)
				return z4_git_error(path);
			rc = tree(rp, sub, path, ptree);
			git_tree_free(sub);
		} else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
			git_blob *b;
			z4_pointer ptr;
			int isp;
			if (git_blob_lookup(&b, rp->repo->git,
			                    git_tree_entry_id(e)) < 0)
				return z4_git_error(path);
			rc = z4_blob_pointer(&ptr, &isp, b);
			git_blob_free(b);
			if (rc == Z4_OK && isp)
				rc = file(rp, &ptr, path, ptree);
		}
	}
	return rc;
}

static int run_one(repack *rp, const char *refname)
{
	git_revwalk *w = NULL;
	git_oid *list = NULL, oid;
	size_t n = 0, cap = 0;
	git_tree *ptree = NULL;
	int rc = Z4_OK;

	if (git_revwalk_new(&w, rp->repo->git) < 0 ||
	    git_revwalk_push_ref(w, refname) < 0) {
		git_revwalk_free(w);
		return z4_git_error(refname);
	}
	git_revwalk_simplify_first_parent(w);
	while (git_revwalk_next(&oid, w) == 0) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			git_oid *nl = z4_realloc(list, nc * sizeof(*nl));
			if (!nl) {
				rc = z4_error_set(Z4_ENOMEM, "out of memory");
				goto done;
			}
			list = nl;
			cap = nc;
		}
		list[n++] = oid;
	}
	git_error_clear();
	for (size_t i = n; i-- > 0 && rc == Z4_OK;) { /* oldest first */
		git_commit *c = NULL;
		git_tree *t = NULL;
		if (git_commit_lookup(&c, rp->repo->git, &list[i]) < 0 ||
		    git_commit_tree(&t, c) < 0) {
			git_commit_free(c);
			rc = z4_git_error("commit");
			break;
		}
		rp->res->commits++;
		rc = tree(rp, t, "", ptree);
		git_tree_free(ptree);
		ptree = t;
		git_commit_free(c);
	}
done:
	git_tree_free(ptree);
	git_revwalk_free(w);
	z4_free(list);
	return rc;
}

static int collect(const char *name, void *ud)
{
	char ***names = ud;
	size_t n = 0;
	char **nn;
	while (*names && (*names)[n])
		n++;
	if (!(nn = z4_realloc(*names, (n + 2) * sizeof(char *))))
		return -1;
	*names = nn;
	if (!(nn[n] = z4_strdup(name)))
		return -1;
	nn[n + 1] = NULL;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static unsigned keyframe_config(z4vc_repo *repo)
{
	git_config *cfg = NULL;
	int32_t v = 0;
	unsigned k = Z4_KEYFRAME_DEFAULT;
	if (git_repository_config_snapshot(&cfg, repo->git) == 0 &&
	    git_config_get_int32(&v, cfg, "z4vc.keyframeInterval") == 0 &&
	    v > 0 && v <= Z4_DELTA_DEPTH_MAX)
		k = (unsigned)v;
	git_config_free(cfg);
	git_error_clear();
	return k;
}

int z4vc_repack(z4vc_repack_result *out, z4vc_repo *repo,
                const z4vc_repack_opts *opts)
{
	z4vc_repack_opts o = {0};
	repack rp = {.repo = repo, .res = out};
	char **names = NULL, ref[256];
	size_t n = 0;
	int rc = Z4_OK;

	memset(out, 0, sizeof(*out));
	z4_error_clear();
	if (opts)
		o = *opts;
	rp.opts = &o;
	rp.k =
	    o.keyframe_interval ? o.keyframe_interval : keyframe_config(repo);
	if (rp.k > Z4_DELTA_DEPTH_MAX)
		return z4_error_set(Z4_EINVAL, "keyframe interval %u above %u",
		                    rp.k, Z4_DELTA_DEPTH_MAX);
	z4_keymap_init(&rp.planned, Z4_ID_LEN);
	z4_keymap_init(&rp.seen, Z4_ID_LEN);
	if (o.run) {
		git_oid tip;
		if ((rc = z4_run_ref(ref, sizeof(ref), o.run)))
			goto done;
		if (git_reference_name_to_id(&tip, repo->git, ref) < 0) {
			git_error_clear();
			rc = z4_error_set(Z4_ENOTFOUND,
			                  "run '%s': no checkpoints", o.run);
			goto done;
		}
		if (collect(ref, &names)) {
			rc = z4_error_set(Z4_ENOMEM, "out of memory");
			goto done;
		}
	} else if (git_reference_foreach_glob(repo->git, Z4_REF_PREFIX "*",
	                                      collect, &names) < 0) {
		rc = z4_git_error("list runs");
		goto done;
	}
	while (names && names[n])
		n++;
	qsort(names, n, sizeof(*names), cmp_str);
	if ((rc = z4_chunkio_new(&rp.io, repo->store)))
		goto done;
	if (!(rp.ctx = z4_delta_ctx_new())) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n && rc == Z4_OK; i++)
		rc = run_one(&rp, names[i]);
	if (rc == Z4_OK && !o.dry_run)
		rc = flush(&rp);
done:
	queue_clear(&rp);
	z4_free(rp.q);
	for (n = 0; names && names[n]; n++)
		z4_free(names[n]);
	z4_free(names);
	z4_free(rp.cur);
	z4_free(rp.base);
	z4_free(rp.enc);
	z4_free(rp.check);
	z4_delta_ctx_free(rp.ctx);
	z4_chunkio_free(rp.io);
	z4_keymap_dispose(&rp.planned);
	z4_keymap_dispose(&rp.seen);
	return rc;
}
