/*
 * remote.c - z4vc_remote_fetch / z4vc_remote_push: moving a file's encoded
 * objects (recipe, tensor records, chunks with their delta bases) between
 * the local store and a remote backend (objects/z4_remote.h), and finding
 * which remote and which files a set of revisions needs.
 *
 * Invariant on fetch: nothing unverified becomes visible. A chunk is
 * decoded (through its delta chain) and its XXH3-128 checked before it is
 * queued; a tensor record's XXH3-128 is checked before it is queued; the
 * recipe is written last, only after the whole file rebuilt from the store
 * hashes to its SHA-256 (the oid). A push sends only what the remote lacks,
 * including every delta base the remote lacks, in one atomic pack.
 */
#include "repo_internal.h"

#include "idset.h"
#include "z4_alloc.h"
#include "z4_remote.h"
#include "z4vc_remote.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHAIN_BYTES_MAX (512u << 20) /* encoded bytes of one fetched chain */

/* ---- which remote ---- */

static int cfg_string(char **out, git_config *cfg, const char *key)
{
	git_buf b = {0};
	*out = NULL;
	if (git_config_get_string_buf(&b, cfg, key) != 0) {
		git_error_clear();
		return Z4_ENOTFOUND;
	}
	*out = z4_strdup(b.ptr);
	git_buf_dispose(&b);
	return *out ? Z4_OK : z4_error_set(Z4_ENOMEM, "out of memory");
}

static int default_remote(char **out, z4vc_repo *repo, git_config *cfg)
{
	git_reference *head = NULL;
	*out = NULL;
	if (git_repository_head(&head, repo->git) == 0 &&
	    git_reference_is_branch(head)) {
		char key[512];
		snprintf(key, sizeof(key), "branch.%s.remote",
		         git_reference_shorthand(head));
		cfg_string(out, cfg, key);
	}
	git_error_clear();
	git_reference_free(head);
	if (!*out && !(*out = z4_strdup("origin")))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	return Z4_OK;
}

/* Join a path relative to the work tree (or the git dir of a bare repo). */
static char *abs_path(z4vc_repo *repo, const char *p)
{
	const char *base = git_repository_workdir(repo->git);
	size_t n;
	char *out;
	if (p[0] == '/')
		return z4_strdup(p);
	if (!base)
		base = git_repository_path(repo->git);
	n = strlen(base) + strlen(p) + 2;
	if (!(out = z4_malloc(n)))
		return NULL;
	snprintf(out, n, "%s%s%s", base,
	         base[strlen(base) - 1] == '/' ? "" : "/", p);
	return out;
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int z4vc_remote_url(char **out, z4vc_repo *repo, const char *remote)
{
	git_config *cfg = NULL;
	char *name = NULL, *val = NULL, *path = NULL, *rurl = NULL;
	const char *url = NULL;
	char key[512];
	int rc = Z4_OK;

	*out = NULL;
	if (git_repository_config_snapshot(&cfg, repo->git) != 0)
		return z4_git_error("read git config");
	if (remote)
		name = z4_strdup(remote);
	else
		rc = default_remote(&name, repo, cfg);
	if (rc || !name) {
		rc = rc ? rc : z4_error_set(Z4_ENOMEM, "out of memory");
		goto done;
	}
	snprintf(key, sizeof(key), "remote.%s.z4vcurl", name);
	if (cfg_string(&val, cfg, key) == Z4_OK ||
	    cfg_string(&val, cfg, "z4vc.url") == Z4_OK) {
		if (!(*out = abs_path(
		          repo, strncmp(val, "file://", 7) ? val : val + 7)))
			rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto done;
	}
	/* remote.<name>.url straight from the config: git_remote_lookup
	 * also compiles refspec regexes we do not need. */
	snprintf(key, sizeof(key), "remote.%s.url", name);
	if (cfg_string(&rurl, cfg, key) == Z4_OK)
		url = rurl;
	else
		url =
		    name; /* git passes a URL as the name when there is none */
	if (!url) {
		rc = z4_error_set(Z4_ENOTFOUND, "remote '%s' has no URL", name);
		goto done;
	}
	if (strncmp(url, "file://", 7) == 0)
		url += 7;
	else if (strstr(url, "://") ||
	         (strchr(url, ':') &&
	          (!strchr(url, '/') || strchr(url, ':') < strchr(url, '/')))) {
		rc = z4_error_set(
		    Z4_EUNSUPPORTED,
		    "remote '%s': '%s' is not a local path; set git config "
		    "remote.%s.z4vcurl or z4vc.url to a directory",
		    name, url, name);
		goto done;
	}
	if (!(path = abs_path(repo, url))) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto done;
	}
	if (!is_dir(path)) {
		rc = z4_error_set(Z4_ENOTFOUND,
		                  "remote '%s': '%s' is not a directory", name,
		                  path);
		goto done;
	}
	{
		size_t n = strlen(path) + 16;
		char *gd = z4_malloc(n);
		if (!gd) {
			rc = z4_error_set(Z4_ENOMEM, "out of memory");
			goto done;
		}
		/* A non-bare repository keeps it inside its git dir. */
		snprintf(gd, n, "%s/.git", path);
		if (is_dir(gd))
			snprintf(gd, n, "%s/.git/z4vc", path);
		else
			snprintf(gd, n, "%s/z4vc", path);
		*out = gd;
	}
done:
	z4_free(path);
	z4_free(val);
	z4_free(name);
	z4_free(rurl);
	git_config_free(cfg);
	return rc;
}

static int open_remote(z4_remote **out, z4vc_repo *repo, const char *remote,
                       unsigned flags)
{
	char *dir = NULL;
	int rc;
	*out = NULL;
	Z4_TRY(z4vc_remote_url(&dir, repo, remote));
	rc = z4_remote_dir_open(out, dir, flags);
	if (rc == Z4_ENOTFOUND && !(flags & Z4_REMOTE_CREATE))
		z4_error_set(
		    rc, "no z4vc objects at '%s' (nothing pushed yet?)", dir);
	z4_free(dir);
	return rc;
}

static int parse_oid(uint8_t sha[Z4_SHA256_LEN], const char *oid)
{
	if (strncmp(oid, "sha256:", 7) == 0)
		oid += 7;
	if (strlen(oid) != 2 * Z4_SHA256_LEN ||
	    z4_unhex(sha, oid, Z4_SHA256_LEN))
		return z4_error_set(Z4_EINVAL, "'%s': not a sha256 object id",
		                    oid);
	return Z4_OK;
}

/* Sets of 32-byte keys: their first 16 bytes are uniform already. */
static int set_add32(z4_idset *s, const uint8_t *k)
{
	z4_id id;
	memcpy(id.b, k, Z4_ID_LEN);
	return z4_idset_add(s, &id);
}

/* ---- fetch ---- */

typedef struct {
	z4vc_repo *repo;
	z4_remote *rem;
	z4_chunkio *io;
	z4_delta_ctx *ctx;
	z4_idset verified; /* chunks queued by this fetch, not yet flushed */
	uint8_t *buf;
	size_t buf_cap;
	z4vc_progress_fn progress;
	void *pud;
	uint64_t done, total;
	const char *what;
} fetcher;

static int grow(uint8_t **b, size_t *cap, size_t need)
{
	uint8_t *n;
	if (*cap >= need)
		return Z4_OK;
	if (!(n = z4_malloc(need ? need : 1)))
		return z4_error_set(Z4_ENOMEM, "out of memory (%zu bytes)",
		                    need);
	z4_free(*b);
	*b = n;
	*cap = need;
	return Z4_OK;
}

static int chunk_err(int rc, const z4_id *id, const char *why)
{
	char hex[33];
	z4_id_hex(hex, id);
	return z4_error_set(rc, "chunk %s: %s", hex, why);
}

/* 1 if chunk id is usable locally (stored, or verified by this fetch). */
static int have_chunk(fetcher *f, const z4_id *id)
{
	if (z4_idset_has(&f->verified, id))
		return 1;
	return z4_chunkio_has(f->io, Z4_DB_CHUNKS, id->b, Z4_ID_LEN);
}

static int fetch_chunk(fetcher *f, const z4_id *id, size_t len)
{
	struct link {
		uint8_t *enc;
		size_t len;
		z4_id id;
	} *chain = NULL;
	size_t n = 0, held = 0;
	z4_id cur = *id;
	int rc, base_local = 0;

	rc = have_chunk(f, id);
	if (rc != 0)
		return rc < 0 ? rc : Z4_OK;
	if (!(chain = z4_calloc(Z4_DELTA_DEPTH_MAX + 1, sizeof(*chain))))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	/* Down the chain to a keyframe or a base we already have. */
	for (;;) {
		z4_delta_info info;
		if (n > Z4_DELTA_DEPTH_MAX) {
			rc = chunk_err(Z4_ECORRUPT, id,
			               "delta chain too long in the remote");
			goto done;
		}
		rc = z4_remote_get(&chain[n].enc, &chain[n].len, f->rem,
		                   Z4_DB_CHUNKS, cur.b, Z4_ID_LEN);
		if (rc) {
			char hex[33];
			z4_id_hex(hex, &cur);
			if (rc == Z4_ENOTFOUND)
				chunk_err(rc, &cur, "not in the remote");
			else
				z4_error_wrap(rc, "chunk %s", hex);
			goto done;
		}
		chain[n].id = cur;
		held += chain[n].len;
		n++;
		if ((rc = z4_delta_info_read(&info, chain[n - 1].enc,
		                             chain[n - 1].len))) {
			rc = chunk_err(Z4_ECORRUPT, &cur,
			               "malformed header in the remote");
			goto done;
		}
		if (memcmp(info.id.b, cur.b, Z4_ID_LEN) != 0 ||
		    info.decoded_len != len) {
			rc = chunk_err(Z4_ECORRUPT, &cur,
			               "remote object does not match its id");
			goto done;
		}
		if (held > CHAIN_BYTES_MAX) {
			rc = chunk_err(Z4_ETOOBIG, id,
			               "delta chain in the remote too large");
			goto done;
		}
		if (!info.is_delta)
			break;
		cur = info.base;
		rc = have_chunk(f, &cur);
		if (rc < 0)
			goto done;
		if (rc == 1) {
			base_local = 1;
			break;
		}
	}
	if ((rc = grow(&f->buf, &f->buf_cap, len)))
		goto done;
	if (base_local) {
		/* A base verified by this fetch is only queued: make it
		 * readable. */
		if (z4_idset_has(&f->verified, &cur) &&
		    (rc = z4_chunkio_flush(f->io)))
			goto done;
		if ((rc = z4_chunkio_read(f->io, &cur, f->buf, len)))
			goto done;
	}
	/* Decode from the bottom up in place; each step checks its XXH3. */
	for (size_t k = n; k-- > 0;) {
		rc = z4_delta_decode(f->buf, len, f->ctx, chain[k].enc,
		                     chain[k].len, f->buf);
		if (rc) {
			rc = chunk_err(
			    Z4_ECORRUPT, &chain[k].id,
			    "remote object fails verification (corrupt)");
			goto done;
		}
	}
	for (size_t k = n; k-- > 0;) {
		if ((rc = z4_chunkio_put_record(f->io, Z4_DB_CHUNKS,
		                                chain[k].id.b, Z4_ID_LEN,
		                                chain[k].enc, chain[k].len)))
			goto done;
		if (z4_idset_add(&f->verified, &chain[k].id) < 0) {
			rc = z4_error_set(Z4_ENOMEM, "out of memory");
			goto done;
		}
	}
done:
	for (size_t k = 0; k < n; k++)
		z4_free(chain[k].enc);
	z4_free(chain);
	return rc;
}

static int fetch_tensor(fetcher *f, const z4_id *id, uint64_t seg_len)
{
	uint8_t *val = NULL;
	size_t vlen;
	z4_tensor_rec t = {0};
	z4_id check;
	char hex[33];
	int rc;

	rc = z4_chunkio_has(f->io, Z4_DB_TENSORS, id->b, Z4_ID_LEN);
	if (rc != 0)
		return rc < 0 ? rc : Z4_OK;
	z4_id_hex(hex, id);
	if ((rc = z4_remote_get(&val, &vlen, f->rem, Z4_DB_TENSORS, id->b,
	                        Z4_ID_LEN)))
		return z4_error_wrap(rc, "tensor %s", hex);
	z4_delta_id(&check, val, vlen);
	if (memcmp(check.b, id->b, Z4_ID_LEN) != 0) {
		rc = z4_error_set(
		    Z4_ECORRUPT,
		    "tensor %s: remote object does not match its id", hex);
		goto done;
	}
	if ((rc = z4_tensor_rec_decode(&t, val, vlen))) {
		z4_error_wrap(rc, "tensor %s", hex);
		goto done;
	}
	if (t.nbytes != seg_len) {
		rc = z4_error_set(Z4_ECORRUPT,
		                  "tensor %s: size differs from its recipe",
		                  hex);
		goto done;
	}
	for (size_t k = 0; k < t.nchunks && rc == Z4_OK; k++) {
		uint64_t off = (uint64_t)k * t.chunk_size;
		size_t len =
		    (size_t)(t.nbytes - off < t.chunk_size ? t.nbytes - off
		                                           : t.chunk_size);
		rc = fetch_chunk(f, &t.chunks[k], len);
		if (rc == Z4_OK && f->progress) {
			f->done += len;
			f->progress(f->pud, f->done, f->total, f->what);
		}
	}
	if (rc == Z4_OK)
		rc = z4_chunkio_put_record(f->io, Z4_DB_TENSORS, id->b,
		                           Z4_ID_LEN, val, vlen);
done:
	z4_tensor_rec_dispose(&t);
	z4_free(val);
	return rc;
}

/* SHA-256 of the file `r` describes, rebuilt from the local store. */
static int rebuild_hash(fetcher *f, const z4_recipe *r, uint8_t digest[32],
                        uint64_t *size)
{
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	int rc = Z4_OK;
	*size = 0;
	if (!sha)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	for (size_t i = 0; i < r->nseg && rc == Z4_OK; i++) {
		const z4_segment *s = &r->seg[i];
		z4_tensor_rec t;
		if (s->kind == Z4_SEG_BYTES) {
			EVP_DigestUpdate(sha, s->bytes, (size_t)s->len);
			*size += s->len;
			continue;
		}
		if ((rc = z4_load_tensor(&t, f->io, &s->tensor)))
			break;
		if (t.chunk_size > Z4_DELTA_CHUNK_MAX)
			rc = z4_error_set(Z4_ECORRUPT,
			                  "tensor chunk size too large");
		else
			rc = grow(&f->buf, &f->buf_cap, (size_t)t.chunk_size);
		for (size_t k = 0; k < t.nchunks && rc == Z4_OK; k++) {
			uint64_t off = (uint64_t)k * t.chunk_size;
			size_t len = (size_t)(t.nbytes - off < t.chunk_size
			                          ? t.nbytes - off
			                          : t.chunk_size);
			rc = z4_chunkio_read(f->io, &t.chunks[k], f->buf, len);
			if (rc == Z4_OK) {
				EVP_DigestUpdate(sha, f->buf, len);
				*size += len;
			}
		}
		z4_tensor_rec_dispose(&t);
	}
	EVP_DigestFinal_ex(sha, digest, NULL);
	EVP_MD_CTX_free(sha);
	return rc;
}

static int fetch_one(fetcher *f, const uint8_t sha[32], const char *hex)
{
	uint8_t *val = NULL, digest[32];
	size_t vlen;
	z4_recipe r = {0};
	uint64_t size;
	int rc;

	rc = z4_chunkio_has(f->io, Z4_DB_RECIPES, sha, Z4_SHA256_LEN);
	if (rc != 0)
		return rc < 0 ? rc : Z4_OK;
	if ((rc = z4_remote_get(&val, &vlen, f->rem, Z4_DB_RECIPES, sha,
	                        Z4_SHA256_LEN)))
		return z4_error_wrap(rc, "object sha256:%s", hex);
	if (vlen > Z4_RECORD_MAX || (rc = z4_recipe_decode(&r, val, vlen))) {
		rc = z4_error_wrap(rc ? rc : Z4_ECORRUPT,
		                   "object sha256:%s: bad recipe", hex);
		goto done;
	}
	for (size_t i = 0; i < r.nseg && rc == Z4_OK; i++)
		if (r.seg[i].kind == Z4_SEG_TENSOR)
			rc = fetch_tensor(f, &r.seg[i].tensor, r.seg[i].len);
	if (rc) {
		if (z4_error_last_code() != Z4_ENOMEM)
			z4_error_wrap(rc, "object sha256:%s", hex);
		goto done;
	}
	/* Chunks and tensors are verified by their ids; make them readable,
	 * then check the whole file before its recipe becomes visible. */
	if ((rc = z4_chunkio_flush(f->io)))
		goto done;
	z4_idset_dispose(&f->verified);
	z4_idset_init(&f->verified);
	if ((rc = rebuild_hash(f, &r, digest, &size))) {
		z4_error_wrap(rc, "object sha256:%s", hex);
		goto done;
	}
	if (size != r.file_size || memcmp(digest, sha, 32) != 0) {
		rc = z4_error_set(
		    Z4_ECORRUPT,
		    "object sha256:%s: fetched file does not match its sha256",
		    hex);
		goto done;
	}
	if ((rc = z4_chunkio_put_record(f->io, Z4_DB_RECIPES, sha,
	                                Z4_SHA256_LEN, val, vlen)) ||
	    (rc = z4_chunkio_flush(f->io)))
		goto done;
done:
	z4_recipe_dispose(&r);
	z4_free(val);
	return rc;
}

int z4vc_remote_fetch(z4vc_repo *repo, const char *remote,
                      const char *const *oids, size_t n,
                      z4vc_progress_fn progress, void *progress_ud)
{
	fetcher f = {.repo = repo,
	             .progress = progress,
	             .pud = progress_ud,
	             .what = "fetch"};
	uint8_t(*shas)[32] = NULL;
	char first_why[1024] = "";
	size_t need = 0;
	int rc = Z4_OK;

	z4_error_clear();
	if (n == 0)
		return Z4_OK;
	if (!(shas = z4_mallocarray(n, 32)))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	Z4_TRY(z4_chunkio_new(&f.io, repo->store));
	z4_idset_init(&f.verified);
	for (size_t i = 0; i < n && rc == Z4_OK; i++) {
		if ((rc = parse_oid(shas[i], oids[i])))
			break;
		rc = z4_chunkio_has(f.io, Z4_DB_RECIPES, shas[i], 32);
		if (rc == 0)
			need++;
		rc = rc < 0 ? rc : Z4_OK;
	}
	if (rc || need == 0)
		goto done;
	if ((rc = open_remote(&f.rem, repo, remote, 0)))
		goto done;
	if (!(f.ctx = z4_delta_ctx_new())) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto done;
	}
	/* Total: decoded bytes of the recipes we will fetch (best effort). */
	for (size_t i = 0; i < n && progress; i++) {
		uint8_t *val;
		size_t vlen;
		z4_recipe r;
		if (z4_chunkio_has(f.io, Z4_DB_RECIPES, shas[i], 32) == 0 &&
		    z4_remote_get(&val, &vlen, f.rem, Z4_DB_RECIPES, shas[i],
		                  32) == Z4_OK) {
			if (z4_recipe_decode(&r, val, vlen) == Z4_OK) {
				f.total += r.file_size;
				z4_recipe_dispose(&r);
			}
			z4_free(val);
		}
	}
	z4_error_clear();
	/* A missing or corrupt file does not stop the others (the filter
	 * fetches a whole checkout in one batch); the first failure is
	 * returned with its reason. */
	for (size_t i = 0; i < n; i++) {
		char hex[65];
		int r;
		z4_hex(hex, shas[i], 32);
		r = fetch_one(&f, shas[i], hex);
		if (r && rc == Z4_OK) {
			rc = r;
			snprintf(first_why, sizeof(first_why), "%s",
			         z4_error_last());
		}
		if (r && r != Z4_ENOTFOUND && r != Z4_ECORRUPT)
			break;
	}
	if (rc)
		z4_error_set(rc, "%s", first_why);
done:
	z4_free(shas);
	z4_chunkio_free(f.io);
	z4_idset_dispose(&f.verified);
	z4_delta_ctx_free(f.ctx);
	z4_free(f.buf);
	z4_remote_free(f.rem);
	return rc;
}

/* ---- push ---- */

typedef struct {
	z4_remote *rem;
	z4_remote_pack *pack;
	z4_chunkio *io;
	z4_idset
	    sent; /* chunk and tensor ids (and recipe prefixes) in the pack */
	uint64_t bytes, objects;
} pusher;

static int send(pusher *p, z4_db db, const uint8_t *key, size_t klen)
{
	const uint8_t *val;
	size_t vlen;
	z4_rtxn *t = z4_chunkio_txn(p->io);
	int rc;
	if (!t)
		return z4_error_last_code() ? z4_error_last_code() : Z4_EIO;
	if ((rc = z4_objects_get(&val, &vlen, t, db, key, klen)))
		return rc;
	rc = p->rem->ops->pack_add(p->pack, db, key, klen, val, vlen);
	p->bytes += vlen;
	p->objects++;
	return rc;
}

/* Chunk id and every base the remote lacks. */
static int push_chunk(pusher *p, const z4_id *id)
{
	z4_id cur = *id;
	for (size_t depth = 0; depth <= Z4_DELTA_DEPTH_MAX; depth++) {
		z4_delta_info info;
		int rc;
		if (z4_idset_has(&p->sent, &cur))
			return Z4_OK;
		rc = z4_remote_has(p->rem, Z4_DB_CHUNKS, cur.b, Z4_ID_LEN);
		if (rc)
			return rc < 0 ? rc : Z4_OK;
		if ((rc = z4_chunkio_info(&info, NULL, p->io, &cur)))
			return rc;
		if ((rc = send(p, Z4_DB_CHUNKS, cur.b, Z4_ID_LEN)))
			return rc;
		if (z4_idset_add(&p->sent, &cur) < 0)
			return z4_error_set(Z4_ENOMEM, "out of memory");
		if (!info.is_delta)
			return Z4_OK;
		cur = info.base;
	}
	return chunk_err(Z4_ECORRUPT, id, "delta chain too long");
}

static int push_one(pusher *p, const uint8_t sha[32], const char *hex)
{
	z4_recipe r = {0};
	int rc;

	rc = z4_remote_has(p->rem, Z4_DB_RECIPES, sha, 32);
	if (rc)
		return rc < 0 ? rc : Z4_OK;
	{
		z4_id k;
		memcpy(k.b, sha, Z4_ID_LEN);
		if (z4_idset_has(&p->sent, &k))
			return Z4_OK;
	}
	if ((rc = z4_load_recipe(&r, p->io, sha))) {
		if (rc == Z4_ENOTFOUND)
			z4_error_set(rc,
			             "object sha256:%s: not in the local store",
			             hex);
		return rc;
	}
	for (size_t i = 0; i < r.nseg && rc == Z4_OK; i++) {
		z4_tensor_rec t;
		const z4_id *tid = &r.seg[i].tensor;
		if (r.seg[i].kind != Z4_SEG_TENSOR ||
		    z4_idset_has(&p->sent, tid))
			continue;
		rc = z4_remote_has(p->rem, Z4_DB_TENSORS, tid->b, Z4_ID_LEN);
		if (rc) {
			rc = rc < 0 ? rc : Z4_OK;
			continue;
		}
		if ((rc = z4_load_tensor(&t, p->io, tid)))
			break;
		for (size_t k = 0; k < t.nchunks && rc == Z4_OK; k++)
			rc = push_chunk(p, &t.chunks[k]);
		z4_tensor_rec_dispose(&t);
		if (rc == Z4_OK)
			rc = send(p, Z4_DB_TENSORS, tid->b, Z4_ID_LEN);
		if (rc == Z4_OK && z4_idset_add(&p->sent, tid) < 0)
			rc = z4_error_set(Z4_ENOMEM, "out of memory");
	}
	if (rc == Z4_OK)
		rc = send(p, Z4_DB_RECIPES, sha, 32);
	if (rc == Z4_OK && set_add32(&p->sent, sha) < 0)
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
	if (rc && z4_error_last_code() != Z4_ENOMEM)
		z4_error_wrap(rc, "object sha256:%s", hex);
	z4_recipe_dispose(&r);
	return rc;
}

int z4vc_remote_push(z4vc_repo *repo, const char *remote,
                     const char *const *oids, size_t n,
                     z4vc_progress_fn progress, void *progress_ud)
{
	pusher p = {0};
	int rc = Z4_OK;

	z4_error_clear();
	if (n == 0)
		return Z4_OK;
	Z4_TRY(open_remote(&p.rem, repo, remote, Z4_REMOTE_CREATE));
	z4_idset_init(&p.sent);
	if ((rc = z4_chunkio_new(&p.io, repo->store)) ||
	    (rc = p.rem->ops->pack_begin(&p.pack, p.rem)))
		goto done;
	for (size_t i = 0; i < n && rc == Z4_OK; i++) {
		uint8_t sha[32];
		char hex[65];
		if ((rc = parse_oid(sha, oids[i])))
			break;
		z4_hex(hex, sha, 32);
		rc = push_one(&p, sha, hex);
		if (progress)
			progress(progress_ud, i + 1, n, "push");
	}
	z4_chunkio_end_txn(p.io);
	if (rc == Z4_OK) {
		rc = p.rem->ops->pack_commit(p.pack);
		p.pack = NULL;
	}
done:
	if (p.pack)
		p.rem->ops->pack_abort(p.pack);
	z4_chunkio_free(p.io);
	z4_idset_dispose(&p.sent);
	z4_remote_free(p.rem);
	return rc;
}

/* ---- pointers named by revisions ---- */

typedef struct {
	z4vc_repo *repo;
	z4_idset seen; /* blob and tree oids (first 16 bytes) */
	z4vc_pointer_fn fn;
	void *ud;
	int rc;
} walker;

static int seen_oid(walker *w, const git_oid *oid)
{
	z4_id k;
	memcpy(k.b, oid->id, Z4_ID_LEN);
	return z4_idset_add(&w->seen, &k) == 0;
}

static int walk_tree(walker *w, git_tree *tree, const char *prefix)
{
	size_t n = git_tree_entrycount(tree);
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const git_oid *oid = git_tree_entry_id(e);
		char path[4096];
		int rc = Z4_OK;

		if (seen_oid(w, oid))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s%s", prefix,
		                     git_tree_entry_name(e)) >=
		    sizeof(path) - 1)
			return z4_error_set(Z4_ETOOBIG, "tree path too long");
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			git_tree *sub;
			char sp[4096 + 2];
			if (git_tree_lookup(&sub, w->repo->git, oid) != 0)
				return z4_git_error("read tree");
			snprintf(sp, sizeof(sp), "%s/", path);
			rc = walk_tree(w, sub, sp);
			git_tree_free(sub);
		} else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
			git_odb *odb;
			size_t len;
			git_object_t type;
			git_blob *blob;
			z4_pointer ptr;
			int isp = 0;
			if (git_repository_odb(&odb, w->repo->git) != 0)
				return z4_git_error("open odb");
			rc = git_odb_read_header(&len, &type, odb, oid);
			git_odb_free(odb);
			if (rc != 0)
				return z4_git_error("read blob header");
			if (len > Z4_POINTER_MAX)
				continue;
			if (git_blob_lookup(&blob, w->repo->git, oid) != 0)
				return z4_git_error("read blob");
			rc = z4_blob_pointer(&ptr, &isp, blob);
			git_blob_free(blob);
			if (rc) {
				z4_error_clear();
				rc = Z4_OK; /* a text file that only looks like
				               one */
				continue;
			}
			if (isp) {
				z4vc_pointer p;
				char text[200];
				z4_buf b;
				z4_buf_init(&b, sizeof(text));
				z4_pointer_format(&b, &ptr);
				rc = z4vc_pointer_parse(&p, b.ptr, b.len);
				z4_buf_dispose(&b);
				if (rc == Z4_OK)
					rc = w->fn(w->ud, &p, path);
			}
		}
		if (rc)
			return rc;
	}
	return Z4_OK;
}

static int walk_commit(walker *w, const git_oid *oid)
{
	git_commit *c;
	git_tree *t;
	int rc;
	if (git_commit_lookup(&c, w->repo->git, oid) != 0)
		return z4_git_error("read commit");
	rc = git_commit_tree(&t, c);
	git_commit_free(c);
	if (rc != 0)
		return z4_git_error("read tree");
	rc = seen_oid(w, git_tree_id(t)) ? Z4_OK : walk_tree(w, t, "");
	git_tree_free(t);
	return rc;
}

int z4vc_rev_pointers(z4vc_repo *repo, const char *const *revs, size_t n,
                      const char *const *hide, size_t nhide, unsigned flags,
                      z4vc_pointer_fn fn, void *ud)
{
	walker w = {.repo = repo, .fn = fn, .ud = ud};
	git_revwalk *rw = NULL;
	git_oid oid;
	int rc = Z4_OK;

	z4_idset_init(&w.seen);
	if ((flags & Z4VC_REVS_WALK) && git_revwalk_new(&rw, repo->git) != 0) {
		rc = z4_git_error("revision walk");
		goto done;
	}
	if (rw)
		git_revwalk_sorting(rw,
		                    GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	for (size_t i = 0; i < n && rc == Z4_OK; i++) {
		git_object *obj;
		if (rw && strchr(revs[i], '*')) {
			if (git_revwalk_push_glob(rw, revs[i]) != 0)
				rc = z4_git_error(revs[i]);
			continue;
		}
		if (git_revparse_single(&obj, repo->git, revs[i]) != 0) {
			rc = z4_git_error(revs[i]);
			break;
		}
		{
			git_object *c;
			if (git_object_peel(&c, obj, GIT_OBJECT_COMMIT) != 0) {
				git_object_free(obj);
				rc = z4_git_error(revs[i]);
				break;
			}
			oid = *git_object_id(c);
			git_object_free(c);
		}
		git_object_free(obj);
		if (rw) {
			if (git_revwalk_push(rw, &oid) != 0)
				rc = z4_git_error(revs[i]);
		} else {
			rc = walk_commit(&w, &oid);
		}
	}
	for (size_t i = 0; rw && i < nhide && rc == Z4_OK; i++) {
		git_object *obj;
		if (strchr(hide[i], '*')) {
			git_revwalk_hide_glob(rw, hide[i]);
			git_error_clear();
		} else if (git_revparse_single(&obj, repo->git, hide[i]) == 0) {
			git_revwalk_hide(rw, git_object_id(obj));
			git_error_clear();
			git_object_free(obj);
		} else {
			git_error_clear(); /* the remote's tip may be unknown
			                      here */
		}
	}
	while (rw && rc == Z4_OK && git_revwalk_next(&oid, rw) == 0)
		rc = walk_commit(&w, &oid);
	git_error_clear();
done:
	git_revwalk_free(rw);
	z4_idset_dispose(&w.seen);
	return rc;
}

/* ---- pointer files in the work tree ---- */

int z4vc_worktree_pointers(z4vc_repo *repo, z4vc_pointer_fn fn, void *ud)
{
	git_index *idx = NULL;
	const char *wd = git_repository_workdir(repo->git);
	int rc = Z4_OK;

	if (!wd)
		return z4_error_set(Z4_EINVAL,
		                    "a bare repository has no work tree");
	if (git_repository_index(&idx, repo->git) != 0)
		return z4_git_error("read the index");
	for (size_t i = 0; i < git_index_entrycount(idx) && rc == Z4_OK; i++) {
		const git_index_entry *e = git_index_get_byindex(idx, i);
		char path[4096], text[Z4_POINTER_MAX + 1];
		struct stat st;
		z4vc_pointer p;
		git_oid oid;
		FILE *fp;
		size_t len;

		if (GIT_INDEX_ENTRY_STAGE(e) != 0 ||
		    (e->mode != GIT_FILEMODE_BLOB &&
		     e->mode != GIT_FILEMODE_BLOB_EXECUTABLE) ||
		    (size_t)snprintf(path, sizeof(path), "%s%s", wd, e->path) >=
		        sizeof(path))
			continue;
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_size > Z4_POINTER_MAX)
			continue;
		if (!(fp = fopen(path, "rb")))
			continue;
		len = fread(text, 1, sizeof(text), fp);
		fclose(fp);
		if (len > Z4_POINTER_MAX ||
		    z4vc_pointer_parse(&p, text, len) != Z4_OK) {
			z4_error_clear();
			continue;
		}
		/* Only a pointer the index holds as is (an unsmudged file). */
		if (git_odb_hash(&oid, text, len, GIT_OBJECT_BLOB) != 0 ||
		    !git_oid_equal(&oid, &e->id))
			continue;
		rc = fn(ud, &p, path);
	}
	git_index_free(idx);
	return rc;
}
