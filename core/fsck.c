/*
 * fsck.c - verify everything the history needs (z4vc_fsck).
 *
 * The reachability walk (reach.c) checks that every pointer parses and
 * every recipe, tensor record and chunk header is present and valid. Chunk
 * bodies are then verified by decoding each reachable chunk exactly once,
 * walking the delta forest from each keyframe down to its dependants: a
 * delta decodes from its base's bytes, which are still in the buffer of the
 * level above. Buffers are kept for the first LEVELS levels only (a few
 * chunk sizes, nothing huge); deeper chunks decode through their whole
 * chain instead. The decoder checks each chunk's XXH3 and its base's.
 * With `full`, every file is also rebuilt, streamed a chunk at a time, and
 * hashed against its SHA-256.
 */
#include "reach.h"
#include "z4vc_maint.h"

#include "z4_alloc.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define LEVELS 16 /* decoded-chunk buffers kept along a chain */

enum { V_NONE = 0, V_OK, V_FAIL };

typedef struct {
	z4vc_repo *repo;
	const z4vc_fsck_opts *opts;
	z4vc_fsck_result *res;
	z4_reach r;
	z4_chunkio *io;
	z4_delta_ctx *ctx;
	uint8_t *verdict;         /* per chunk node: V_* */
	uint8_t *buf[LEVELS + 1]; /* [LEVELS]: scratch for deep chunks */
	size_t cap[LEVELS + 1];
	uint64_t done, total;
} fsck_ctx;

static void on_problem(void *ud, const char *kind, const char *id,
                       const char *why)
{
	fsck_ctx *f = ud;
	z4vc_fsck_problem p = {kind, id, why};
	if (f->opts && f->opts->problem_fn)
		f->opts->problem_fn(&p, f->opts->ud);
}

static void progress(fsck_ctx *f, uint64_t n, const char *what)
{
	f->done += n;
	if (f->opts && f->opts->progress)
		f->opts->progress(f->opts->progress_ud, f->done, f->total,
		                  what);
}

/* Decode node i at chain level `level` (its base is at level - 1). */
static int verify_one(fsck_ctx *f, uint32_t i, unsigned level)
{
	z4_rchunk *c = &f->r.chunks[i];
	char hex[33], where[512];
	const uint8_t *enc;
	size_t len, n = (size_t)c->decoded_len;
	z4_rtxn *txn;
	int rc;

	z4_id_hex(hex, &c->id);
	if (level > 0) {
		const z4_rchunk *b = &f->r.chunks[c->base_idx];
		/* The header depth steers where commit cuts chains: it may
		 * overstate the chain (after a repack shortened a base's) but
		 * never understate it, or chains could outgrow the limit. */
		if (c->depth < level)
			z4_reach_report(
			    &f->r, "chunk", hex,
			    "delta chain is %u long but its header says depth "
			    "%u (%s)",
			    level, c->depth,
			    z4_reach_chunk_where(&f->r, i, where,
			                         sizeof(where)));
		if (level > Z4_DELTA_DEPTH_MAX) {
			z4_reach_report(&f->r, "chunk", hex,
			                "delta chain longer than %u (%s)",
			                Z4_DELTA_DEPTH_MAX,
			                z4_reach_chunk_where(&f->r, i, where,
			                                     sizeof(where)));
			return V_FAIL;
		}
		if (b->decoded_len != c->decoded_len) {
			z4_reach_report(
			    &f->r, "chunk", hex,
			    "size differs from its delta base's (%s)",
			    z4_reach_chunk_where(&f->r, i, where,
			                         sizeof(where)));
			return V_FAIL;
		}
	}
	f->res->chunks_decoded++;
	if (level >= LEVELS) {
		/* Deep in a long chain: decode the whole chain, keep no buffer.
		 */
		Z4_TRY(z4_scratch_ensure(&f->buf[LEVELS], &f->cap[LEVELS], n));
		rc = z4_chunkio_read(f->io, &c->id, f->buf[LEVELS], n);
	} else {
		Z4_TRY(z4_scratch_ensure(&f->buf[level], &f->cap[level], n));
		if (!(txn = z4_chunkio_txn(f->io)))
			return z4_error_last_code() ? z4_error_last_code()
			                            : Z4_EIO;
		rc = z4_objects_get(&enc, &len, txn, Z4_DB_CHUNKS, c->id.b,
		                    Z4_ID_LEN);
		if (rc == Z4_OK) {
			rc = z4_delta_decode(f->buf[level], n, f->ctx, enc, len,
			                     level ? f->buf[level - 1] : NULL);
			z4_objects_release(f->repo->store, enc, len);
		}
	}
	if (rc == Z4_ENOMEM || rc == Z4_EIO)
		return rc;
	progress(f, n, "chunks");
	if (rc) {
		z4_reach_report(
		    &f->r, "chunk", hex, "%s (%s)",
		    rc == Z4_ECORRUPT
		        ? "corrupt: does not decode to its checksum"
		        : z4_strerror(rc),
		    z4_reach_chunk_where(&f->r, i, where, sizeof(where)));
		z4_error_clear();
		return V_FAIL;
	}
	return V_OK;
}

/* Depth-first from keyframe `root`: a node's base is always the node last
 * decoded at the level above, since the stack pops a whole subtree before
 * any sibling of its root. */
static int verify_tree(fsck_ctx *f, uint32_t root, uint32_t *stack,
                       unsigned *lv)
{
	size_t sp = 0;
	stack[sp] = root;
	lv[sp++] = 0;
	while (sp) {
		uint32_t i = stack[--sp];
		unsigned level = lv[sp];
		int v = verify_one(f, i, level);
		if (v < 0)
			return v;
		f->verdict[i] = (uint8_t)v;
		if (v != V_OK)
			continue;
		for (uint32_t ch = f->r.chunks[i].child; ch != Z4_NONE;
		     ch = f->r.chunks[ch].sibling) {
			stack[sp] = ch;
			lv[sp++] = level + 1;
		}
	}
	return Z4_OK;
}

static int verify_chunks(fsck_ctx *f)
{
	uint32_t *stack = NULL;
	unsigned *lv = NULL;
	size_t n = f->r.nchunks;
	int rc = Z4_OK;

	f->verdict = z4_calloc(n ? n : 1, 1);
	stack = z4_mallocarray(n ? n : 1, sizeof(*stack));
	lv = z4_mallocarray(n ? n : 1, sizeof(*lv));
	if (!f->verdict || !stack || !lv) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory (%zu chunks)", n);
		goto done;
	}
	if (!(f->ctx = z4_delta_ctx_new())) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto done;
	}
	z4_reach_children(&f->r);
	for (size_t i = 0; i < n; i++)
		if (f->r.chunks[i].state == Z4_RC_OK)
			f->total += f->r.chunks[i].decoded_len;
	for (size_t i = 0; i < n && rc == Z4_OK; i++) {
		const z4_rchunk *c = &f->r.chunks[i];
		if (c->state == Z4_RC_OK && !c->is_delta)
			rc = verify_tree(f, (uint32_t)i, stack, lv);
	}
	/* What no keyframe reached: its chain is broken somewhere. */
	for (size_t i = 0; i < n && rc == Z4_OK; i++) {
		const z4_rchunk *c = &f->r.chunks[i];
		char hex[33], bhex[33], where[512];
		uint32_t b = (uint32_t)i;
		size_t steps = 0;
		if (c->state != Z4_RC_OK || f->verdict[i] != V_NONE)
			continue;
		while (b != Z4_NONE && f->r.chunks[b].state == Z4_RC_OK &&
		       f->verdict[b] == V_NONE && steps++ <= n)
			b = f->r.chunks[b].base_idx;
		z4_id_hex(hex, &c->id);
		if (b == Z4_NONE || steps > n) {
			z4_reach_report(
			    &f->r, "chunk", hex, "delta chain loops (%s)",
			    z4_reach_chunk_where(&f->r, (uint32_t)i, where,
			                         sizeof(where)));
		} else {
			z4_id_hex(bhex, &f->r.chunks[b].id);
			z4_reach_report(
			    &f->r, "chunk", hex,
			    "undecodable: delta chain broken at chunk %s (%s)",
			    bhex,
			    z4_reach_chunk_where(&f->r, (uint32_t)i, where,
			                         sizeof(where)));
		}
		f->verdict[i] = V_FAIL;
	}
done:
	z4_free(stack);
	z4_free(lv);
	return rc;
}

/* Stream the file of recipe node i through SHA-256. */
static int rebuild_file(fsck_ctx *f, uint32_t i, EVP_MD_CTX *sha)
{
	z4_rrecipe *rr = &f->r.recipes[i];
	z4_recipe rec;
	uint8_t digest[Z4_SHA256_LEN];
	uint64_t total = 0;
	char hex[2 * Z4_SHA256_LEN + 8];
	int rc;

	memcpy(hex, "sha256:", 7);
	z4_hex(hex + 7, rr->sha, Z4_SHA256_LEN);
	if ((rc = z4_load_recipe(&rec, f->io, rr->sha)))
		goto fail;
	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	for (size_t k = 0; k < rec.nseg && rc == Z4_OK; k++) {
		const z4_segment *s = &rec.seg[k];
		z4_tensor_rec t;
		if (s->kind == Z4_SEG_BYTES) {
			EVP_DigestUpdate(sha, s->bytes, (size_t)s->len);
			total += s->len;
			continue;
		}
		if ((rc = z4_load_tensor(&t, f->io, &s->tensor)))
			break;
		if (t.chunk_size > f->cap[LEVELS])
			rc = z4_scratch_ensure(&f->buf[LEVELS], &f->cap[LEVELS],
			                       (size_t)t.chunk_size);
		for (size_t c = 0; c < t.nchunks && rc == Z4_OK; c++) {
			uint64_t off = (uint64_t)c * t.chunk_size;
			size_t len = (size_t)(t.nbytes - off < t.chunk_size
			                          ? t.nbytes - off
			                          : t.chunk_size);
			rc = z4_chunkio_read(f->io, &t.chunks[c],
			                     f->buf[LEVELS], len);
			if (rc == Z4_OK) {
				EVP_DigestUpdate(sha, f->buf[LEVELS], len);
				total += len;
				progress(f, len, rr->where);
			}
		}
		z4_tensor_rec_dispose(&t);
	}
	z4_recipe_dispose(&rec);
	if (rc)
		goto fail;
	EVP_DigestFinal_ex(sha, digest, NULL);
	f->res->files_rebuilt++;
	if (total != rr->size || memcmp(digest, rr->sha, Z4_SHA256_LEN) != 0)
		z4_reach_report(&f->r, "file", hex,
		                "rebuilt file does not match its SHA-256 (%s)",
		                rr->where);
	return Z4_OK;
fail:
	if (rc == Z4_ENOMEM || rc == Z4_EIO)
		return rc;
	z4_reach_report(&f->r, "file", hex, "cannot rebuild: %s (%s)",
	                z4_error_last(), rr->where);
	z4_error_clear();
	return Z4_OK;
}

typedef struct {
	fsck_ctx *f;
	const z4_keymap *live;
	const char *kind;
	uint64_t *count;
} dangle_ctx;

static int dangle(const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen, void *ud)
{
	dangle_ctx *d = ud;
	char hex[2 * Z4_SHA256_LEN + 8];
	if (klen == d->live->klen && z4_keymap_get(d->live, key))
		return 0;
	(*d->count)++;
	if (d->f->opts && d->f->opts->dangling_fn) {
		size_t off = 0;
		if (klen == Z4_SHA256_LEN) {
			memcpy(hex, "sha256:", 7);
			off = 7;
		}
		if (klen > Z4_SHA256_LEN)
			klen = Z4_SHA256_LEN;
		z4_hex(hex + off, key, klen);
		d->f->opts->dangling_fn(d->kind, hex, d->f->opts->ud);
	}
	return 0;
}

int z4vc_fsck(z4vc_fsck_result *out, z4vc_repo *repo,
              const z4vc_fsck_opts *opts)
{
	fsck_ctx f = {.repo = repo, .opts = opts, .res = out};
	EVP_MD_CTX *sha = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	z4_error_clear();
	Z4_TRY(z4_chunkio_new(&f.io, repo->store));
	z4_reach_init(&f.r, repo, f.io);
	f.r.problem = on_problem;
	f.r.ud = &f;
	if ((rc = z4_reach_run(&f.r)))
		goto done;
	if ((rc = verify_chunks(&f)))
		goto done;
	if (opts && opts->full) {
		if (!(sha = EVP_MD_CTX_new())) {
			rc = z4_error_set(Z4_ENOMEM, "out of memory");
			goto done;
		}
		f.done = 0;
		f.total = 0;
		for (size_t i = 0; i < f.r.nrecipes; i++)
			f.total += f.r.recipes[i].size;
		for (size_t i = 0; i < f.r.nrecipes && rc == Z4_OK; i++)
			if (f.r.recipes[i].state == Z4_RC_OK)
				rc = rebuild_file(&f, (uint32_t)i, sha);
		if (rc)
			goto done;
	}
	{
		z4_rtxn *t = z4_chunkio_txn(f.io);
		dangle_ctx d[3] = {
		    {&f, &f.r.recipe_map, "recipe", &out->dangling_recipes},
		    {&f, &f.r.tensor_map, "tensor", &out->dangling_tensors},
		    {&f, &f.r.chunk_map, "chunk", &out->dangling_chunks},
		};
		const z4_db dbs[3] = {Z4_DB_RECIPES, Z4_DB_TENSORS,
		                      Z4_DB_CHUNKS};
		if (!t) {
			rc = z4_error_last_code() ? z4_error_last_code()
			                          : Z4_EIO;
			goto done;
		}
		for (int k = 0; k < 3 && rc == Z4_OK; k++)
			rc = z4_objects_foreach(t, dbs[k], dangle, &d[k]);
	}
	out->commits = f.r.commits;
	out->pointers = f.r.pointers;
	out->recipes = f.r.nrecipes;
	out->tensors = f.r.ntensors;
	out->chunks = f.r.nchunks;
	out->problems = f.r.problems;
done:
	EVP_MD_CTX_free(sha);
	for (int k = 0; k <= LEVELS; k++)
		z4_free(f.buf[k]);
	z4_free(f.verdict);
	z4_delta_ctx_free(f.ctx);
	z4_reach_dispose(&f.r);
	z4_chunkio_free(f.io);
	return rc;
}
