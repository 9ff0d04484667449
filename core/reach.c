/*
 * reach.c - the reachability walk of fsck and gc (see reach.h).
 *
 * Every object is visited once: git trees and blobs by oid, recipes,
 * tensors and chunks by key. Objects are numbered in the order found and
 * the node arrays only grow, so indices stay valid for the whole walk.
 * Chunk headers are read (not decoded) here; decoding is fsck's business.
 */
#include "reach.h"

#include "z4_alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void z4_reach_init(z4_reach *r, z4vc_repo *repo, z4_chunkio *io)
{
	memset(r, 0, sizeof(*r));
	r->repo = repo;
	r->io = io;
	z4_keymap_init(&r->trees, GIT_OID_RAWSZ);
	z4_keymap_init(&r->blobs, GIT_OID_RAWSZ);
	z4_keymap_init(&r->recipe_map, Z4_SHA256_LEN);
	z4_keymap_init(&r->tensor_map, Z4_ID_LEN);
	z4_keymap_init(&r->chunk_map, Z4_ID_LEN);
}

void z4_reach_dispose(z4_reach *r)
{
	for (size_t i = 0; i < r->nrecipes; i++)
		z4_free(r->recipes[i].where);
	for (size_t i = 0; i < r->ntensors; i++)
		z4_free(r->tensors[i].name);
	z4_free(r->recipes);
	z4_free(r->tensors);
	z4_free(r->chunks);
	z4_free(r->roots);
	z4_keymap_dispose(&r->trees);
	z4_keymap_dispose(&r->blobs);
	z4_keymap_dispose(&r->recipe_map);
	z4_keymap_dispose(&r->tensor_map);
	z4_keymap_dispose(&r->chunk_map);
	memset(r, 0, sizeof(*r));
}

int z4_reach_report(z4_reach *r, const char *kind, const char *id,
                    const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	r->problems++;
	if (r->problem)
		r->problem(r->ud, kind, id, why);
	return 0;
}

/* Grow *arr (elements of `size`) to hold one more; Z4_ENOMEM. */
static int grow_array(void **arr, size_t *cap, size_t n, size_t size)
{
	void *na;
	size_t nc, bytes;
	if (n < *cap)
		return Z4_OK;
	nc = *cap ? *cap * 2 : 64;
	if (nc >= Z4_NONE || z4_mul_overflow(&bytes, nc, size) ||
	    !(na = z4_realloc(*arr, bytes)))
		return z4_error_set(Z4_ENOMEM, "out of memory (%zu objects)",
		                    n);
	*arr = na;
	*cap = nc;
	return Z4_OK;
}

/* ---- roots ------------------------------------------------------------ */

static int add_root(z4_reach *r, const git_oid *id)
{
	git_object *obj = NULL, *peeled = NULL;
	if (git_oid_is_zero(id))
		return Z4_OK;
	/* Tags peel to their commit; anything else (missing, a tree) is not
	 * a history root for us. */
	if (git_object_lookup(&obj, r->repo->git, id, GIT_OBJECT_ANY) < 0 ||
	    git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0) {
		git_object_free(obj);
		git_error_clear();
		return Z4_OK;
	}
	Z4_TRY(grow_array((void **)&r->roots, &r->roots_cap, r->nroots,
	                  sizeof(git_oid)));
	r->roots[r->nroots++] = *git_object_id(peeled);
	git_object_free(peeled);
	git_object_free(obj);
	return Z4_OK;
}

static int reflog_roots(z4_reach *r, const char *name)
{
	git_reflog *log = NULL;
	int rc = Z4_OK;

	if (r->skip_ckpt_reflogs &&
	    strncmp(name, Z4_REF_PREFIX, strlen(Z4_REF_PREFIX)) == 0)
		return Z4_OK;
	if (git_reflog_read(&log, r->repo->git, name) < 0) {
		git_error_clear();
		return Z4_OK; /* no reflog */
	}
	for (size_t i = 0; i < git_reflog_entrycount(log) && rc == Z4_OK; i++) {
		const git_reflog_entry *e = git_reflog_entry_byindex(log, i);
		rc = add_root(r, git_reflog_entry_id_old(e));
		if (rc == Z4_OK)
			rc = add_root(r, git_reflog_entry_id_new(e));
	}
	git_reflog_free(log);
	return rc;
}

typedef struct {
	char **names;
	size_t n, cap;
} namelist;

static int collect_name(const char *name, void *ud)
{
	namelist *l = ud;
	if (grow_array((void **)&l->names, &l->cap, l->n, sizeof(char *)))
		return -1;
	if (!(l->names[l->n] = z4_strdup(name)))
		return -1;
	l->n++;
	return 0;
}

static int collect_roots(z4_reach *r)
{
	namelist refs = {0};
	git_oid head;
	int rc = Z4_OK;

	if (git_reference_foreach_name(r->repo->git, collect_name, &refs) < 0) {
		rc = z4_error_last_code() == Z4_ENOMEM
		         ? Z4_ENOMEM
		         : z4_git_error("list refs");
		goto done;
	}
	for (size_t i = 0; i < refs.n && rc == Z4_OK; i++) {
		git_reference *ref = NULL;
		git_object *obj = NULL;
		if (git_reference_lookup(&ref, r->repo->git, refs.names[i]) ==
		        0 &&
		    git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT) == 0)
			rc = add_root(r, git_object_id(obj));
		git_error_clear();
		git_object_free(obj);
		git_reference_free(ref);
		if (rc == Z4_OK)
			rc = reflog_roots(r, refs.names[i]);
	}
	if (rc == Z4_OK &&
	    git_reference_name_to_id(&head, r->repo->git, "HEAD") == 0)
		rc = add_root(r, &head);
	git_error_clear();
	if (rc == Z4_OK)
		rc = reflog_roots(r, "HEAD");
done:
	for (size_t i = 0; i < refs.n; i++)
		z4_free(refs.names[i]);
	z4_free(refs.names);
	return rc;
}

/* ---- commits and trees ----------------------------------------------- */

static int add_recipe(z4_reach *r, const z4_pointer *p, const char *path,
                      const git_oid *commit)
{
	char hex[GIT_OID_HEXSZ + 1], *where;
	size_t n;
	int added =
	    z4_keymap_put(&r->recipe_map, p->sha256, (uint32_t)r->nrecipes);
	if (added <= 0)
		return added;
	Z4_TRY(grow_array((void **)&r->recipes, &r->recipes_cap, r->nrecipes,
	                  sizeof(z4_rrecipe)));
	git_oid_tostr(hex, sizeof(hex), commit);
	n = strlen(path) + 32;
	if (!(where = z4_malloc(n)))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	snprintf(where, n, "'%s' in %.12s", path, hex);
	memset(&r->recipes[r->nrecipes], 0, sizeof(z4_rrecipe));
	memcpy(r->recipes[r->nrecipes].sha, p->sha256, Z4_SHA256_LEN);
	r->recipes[r->nrecipes].size = p->size;
	r->recipes[r->nrecipes].where = where;
	r->nrecipes++;
	return Z4_OK;
}

static int walk_blob(z4_reach *r, const git_oid *id, const char *path,
                     const git_oid *commit)
{
	git_odb *odb = NULL;
	git_blob *blob = NULL;
	git_object_t type;
	size_t len;
	z4_pointer ptr;
	int isp, rc;

	rc = z4_keymap_put(&r->blobs, id->id, 0);
	if (rc <= 0)
		return rc;
	/* Only small blobs can be pointers: skip reading large ones. */
	if (git_repository_odb(&odb, r->repo->git) < 0)
		return z4_git_error("odb");
	rc = git_odb_read_header(&len, &type, odb, id);
	git_odb_free(odb);
	if (rc < 0) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), id);
		git_error_clear();
		z4_reach_report(r, "blob", hex, "missing from git ('%s')",
		                path);
		return Z4_OK;
	}
	if (len > Z4_POINTER_MAX)
		return Z4_OK;
	if (git_blob_lookup(&blob, r->repo->git, id) < 0)
		return z4_git_error(path);
	rc = z4_blob_pointer(&ptr, &isp, blob);
	git_blob_free(blob);
	if (rc) {
		char hex[GIT_OID_HEXSZ + 1], chex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), id);
		git_oid_tostr(chex, sizeof(chex), commit);
		z4_error_clear();
		z4_reach_report(r, "pointer", hex,
		                "malformed Git LFS pointer ('%s' in %.12s)",
		                path, chex);
		return Z4_OK;
	}
	if (!isp)
		return Z4_OK;
	r->pointers++;
	return add_recipe(r, &ptr, path, commit);
}

static int walk_tree(z4_reach *r, const git_oid *tree_id, const char *prefix,
                     const git_oid *commit, unsigned depth)
{
	git_tree *tree = NULL;
	int rc = z4_keymap_put(&r->trees, tree_id->id, 0);

	if (rc <= 0)
		return rc;
	if (depth > 256)
		return z4_error_set(Z4_ECORRUPT, "tree '%s': nested too deep",
		                    prefix);
	if (git_tree_lookup(&tree, r->repo->git, tree_id) < 0)
		return z4_git_error(*prefix ? prefix : "tree");
	rc = Z4_OK;
	for (size_t i = 0; i < git_tree_entrycount(tree) && rc == Z4_OK; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		char path[4096];
		if ((size_t)snprintf(path, sizeof(path), "%s%s", prefix,
		                     git_tree_entry_name(e)) >=
		    sizeof(path) - 1)
			continue; /* unreadable path: git fsck's business */
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			strcat(path, "/");
			rc = walk_tree(r, git_tree_entry_id(e), path, commit,
			               depth + 1);
		} else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
			rc = walk_blob(r, git_tree_entry_id(e), path, commit);
		}
	}
	git_tree_free(tree);
	return rc;
}

static int walk_commits(z4_reach *r)
{
	git_revwalk *w = NULL;
	git_oid oid;
	int rc = Z4_OK, grc;

	if (git_revwalk_new(&w, r->repo->git) < 0)
		return z4_git_error("revwalk");
	for (size_t i = 0; i < r->nroots; i++)
		if (git_revwalk_push(w, &r->roots[i]) < 0)
			git_error_clear();
	while (rc == Z4_OK && (grc = git_revwalk_next(&oid, w)) == 0) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, r->repo->git, &oid) < 0) {
			rc = z4_git_error("commit");
			break;
		}
		r->commits++;
		rc = walk_tree(r, git_commit_tree_id(c), "", &oid, 0);
		git_commit_free(c);
	}
	if (rc == Z4_OK && grc != GIT_ITEROVER) {
		/* A history we cannot walk fully (a missing parent): nothing
		 * past it is known, so gc must not delete. */
		const git_error *e = git_error_last();
		z4_reach_report(r, "commit", "", "history walk stopped: %s",
		                e && e->message ? e->message
		                                : "unknown git error");
		git_error_clear();
	}
	git_revwalk_free(w);
	return rc;
}

/* ---- store objects ---------------------------------------------------- */

static int add_tensor(z4_reach *r, const z4_id *id, uint32_t recipe,
                      const char *name, uint64_t len)
{
	z4_rtensor *t;
	int added = z4_keymap_put(&r->tensor_map, id->b, (uint32_t)r->ntensors);
	if (added <= 0)
		return added;
	Z4_TRY(grow_array((void **)&r->tensors, &r->tensors_cap, r->ntensors,
	                  sizeof(z4_rtensor)));
	t = &r->tensors[r->ntensors];
	memset(t, 0, sizeof(*t));
	t->id = *id;
	t->recipe = recipe;
	t->expect_len = len;
	if (!(t->name = z4_strdup(name)))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	r->ntensors++;
	return Z4_OK;
}

static int add_chunk(uint32_t *idx, z4_reach *r, const z4_id *id,
                     uint32_t tensor, uint32_t dependant, uint64_t len)
{
	z4_rchunk *c;
	uint32_t *v = z4_keymap_get(&r->chunk_map, id->b);
	if (v) {
		*idx = *v;
		return Z4_OK;
	}
	Z4_TRY(grow_array((void **)&r->chunks, &r->chunks_cap, r->nchunks,
	                  sizeof(z4_rchunk)));
	Z4_TRY(z4_keymap_put(&r->chunk_map, id->b, (uint32_t)r->nchunks));
	c = &r->chunks[r->nchunks];
	memset(c, 0, sizeof(*c));
	c->id = *id;
	c->base_idx = c->child = c->sibling = Z4_NONE;
	c->tensor = tensor;
	c->dependant = dependant;
	c->expect_len = len;
	*idx = (uint32_t)r->nchunks++;
	return Z4_OK;
}

const char *z4_reach_chunk_where(const z4_reach *r, uint32_t i, char *buf,
                                 size_t cap)
{
	const z4_rchunk *c = &r->chunks[i];
	if (c->tensor != Z4_NONE) {
		const z4_rtensor *t = &r->tensors[c->tensor];
		snprintf(buf, cap, "tensor '%s' of %s", t->name,
		         r->recipes[t->recipe].where);
	} else if (c->dependant != Z4_NONE) {
		char hex[33];
		z4_id_hex(hex, &r->chunks[c->dependant].id);
		snprintf(buf, cap, "delta base of chunk %s", hex);
	} else {
		snprintf(buf, cap, "unknown");
	}
	return buf;
}

static int check_recipe(z4_reach *r, uint32_t i)
{
	z4_rrecipe *rr = &r->recipes[i];
	z4_recipe rec;
	char hex[2 * Z4_SHA256_LEN + 8];
	int rc;

	memcpy(hex, "sha256:", 7);
	z4_hex(hex + 7, rr->sha, Z4_SHA256_LEN);
	rc = z4_load_recipe(&rec, r->io, rr->sha);
	if (rc == Z4_ENOMEM || rc == Z4_EIO)
		return rc;
	if (rc == Z4_ENOTFOUND) {
		rr->state = Z4_RC_MISSING;
		z4_error_clear();
		z4_reach_report(r, "recipe", hex,
		                "not in the store (pointer %s)", rr->where);
		return Z4_OK;
	}
	if (rc) {
		rr->state = Z4_RC_BAD;
		z4_reach_report(r, "recipe", hex,
		                "undecodable: %s (pointer %s)", z4_error_last(),
		                rr->where);
		z4_error_clear();
		return Z4_OK;
	}
	if (rec.file_size != rr->size) {
		rr->state = Z4_RC_BAD;
		z4_reach_report(
		    r, "recipe", hex,
		    "rebuilds %llu bytes but the pointer says %llu (%s)",
		    (unsigned long long)rec.file_size,
		    (unsigned long long)rr->size, rr->where);
	}
	rc = Z4_OK;
	for (size_t k = 0; k < rec.nseg && rc == Z4_OK; k++)
		if (rec.seg[k].kind == Z4_SEG_TENSOR)
			rc = add_tensor(r, &rec.seg[k].tensor, i,
			                rec.seg[k].name, rec.seg[k].len);
	z4_recipe_dispose(&rec);
	return rc;
}

static int check_tensor(z4_reach *r, uint32_t i)
{
	z4_rtensor *t = &r->tensors[i];
	z4_tensor_rec rec;
	char hex[33];
	int rc;

	z4_id_hex(hex, &t->id);
	rc = z4_load_tensor(&rec, r->io, &t->id);
	if (rc == Z4_ENOMEM || rc == Z4_EIO)
		return rc;
	if (rc) {
		t->state = rc == Z4_ENOTFOUND ? Z4_RC_MISSING : Z4_RC_BAD;
		z4_reach_report(r, "tensor", hex, "%s ('%s' of %s)",
		                rc == Z4_ENOTFOUND ? "not in the store"
		                : rc == Z4_ECORRUPT &&
		                        strstr(z4_error_last(), "checksum")
		                    ? "record does not hash to its id"
		                    : "undecodable record",
		                t->name, r->recipes[t->recipe].where);
		z4_error_clear();
		return Z4_OK;
	}
	if (rec.nbytes != t->expect_len) {
		t->state = Z4_RC_BAD;
		z4_reach_report(r, "tensor", hex,
		                "has %llu bytes, its recipe %llu ('%s' of %s)",
		                (unsigned long long)rec.nbytes,
		                (unsigned long long)t->expect_len, t->name,
		                r->recipes[t->recipe].where);
	}
	rc = Z4_OK;
	for (size_t k = 0; k < rec.nchunks && rc == Z4_OK; k++) {
		uint64_t off = (uint64_t)k * rec.chunk_size;
		uint64_t len = rec.nbytes - off < rec.chunk_size
		                   ? rec.nbytes - off
		                   : rec.chunk_size;
		uint32_t idx;
		rc = add_chunk(&idx, r, &rec.chunks[k], i, Z4_NONE, len);
	}
	z4_tensor_rec_dispose(&rec);
	return rc;
}

static int check_chunk(z4_reach *r, uint32_t i)
{
	z4_rchunk *c = &r->chunks[i];
	z4_rtxn *txn = z4_chunkio_txn(r->io);
	const uint8_t *enc;
	size_t len;
	z4_delta_info info;
	char hex[33], where[512];
	uint32_t base;
	int rc;

	if (!txn)
		return z4_error_last_code() ? z4_error_last_code() : Z4_EIO;
	z4_id_hex(hex, &c->id);
	rc = z4_objects_get(&enc, &len, txn, Z4_DB_CHUNKS, c->id.b, Z4_ID_LEN);
	if (rc == Z4_ENOTFOUND) {
		c->state = Z4_RC_MISSING;
		z4_error_clear();
		z4_reach_report(
		    r, "chunk", hex, "not in the store (%s)",
		    z4_reach_chunk_where(r, i, where, sizeof(where)));
		return Z4_OK;
	}
	if (rc)
		return rc;
	rc = z4_delta_info_read(&info, enc, len);
	z4_objects_release(r->repo->store, enc, len);
	if (rc || memcmp(info.id.b, c->id.b, Z4_ID_LEN) != 0) {
		c->state = Z4_RC_BAD;
		z4_reach_report(
		    r, "chunk", hex, "%s (%s)",
		    rc ? "malformed header" : "stored under the wrong id",
		    z4_reach_chunk_where(r, i, where, sizeof(where)));
		return Z4_OK;
	}
	c->enc_len = len;
	c->decoded_len = info.decoded_len;
	c->depth = (uint16_t)info.depth;
	c->is_delta = (uint8_t)info.is_delta;
	c->elem_size = (uint8_t)info.elem_size;
	c->base = info.base;
	if (c->expect_len && c->expect_len != info.decoded_len) {
		c->state = Z4_RC_BAD;
		z4_reach_report(
		    r, "chunk", hex, "decodes to %zu bytes, expected %llu (%s)",
		    info.decoded_len, (unsigned long long)c->expect_len,
		    z4_reach_chunk_where(r, i, where, sizeof(where)));
	}
	if (!info.is_delta)
		return Z4_OK;
	Z4_TRY(add_chunk(&base, r, &info.base, Z4_NONE, i, 0));
	r->chunks[i].base_idx = base; /* add_chunk may have moved the array */
	return Z4_OK;
}

int z4_reach_run(z4_reach *r)
{
	Z4_TRY(collect_roots(r));
	Z4_TRY(walk_commits(r));
	for (size_t i = 0; i < r->nrecipes; i++)
		Z4_TRY(check_recipe(r, (uint32_t)i));
	for (size_t i = 0; i < r->ntensors; i++)
		Z4_TRY(check_tensor(r, (uint32_t)i));
	/* nchunks grows as bases are found: the loop closes over chains. */
	for (size_t i = 0; i < r->nchunks; i++)
		Z4_TRY(check_chunk(r, (uint32_t)i));
	return Z4_OK;
}

void z4_reach_children(z4_reach *r)
{
	for (size_t i = 0; i < r->nchunks; i++)
		r->chunks[i].child = Z4_NONE;
	for (size_t i = r->nchunks; i-- > 0;) {
		z4_rchunk *c = &r->chunks[i];
		if (c->state == Z4_RC_OK && c->is_delta &&
		    c->base_idx != Z4_NONE) {
			c->sibling = r->chunks[c->base_idx].child;
			r->chunks[c->base_idx].child = (uint32_t)i;
		}
	}
}
