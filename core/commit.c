/*
 * commit.c - building a checkpoint: files become recipes, tensors become
 * delta-encoded chunks, and the result is one git commit on ckpt/<run>.
 *
 * Files are streamed: each is read once, in order, a chunk at a time, so
 * memory stays a small multiple of the chunk size whatever the checkpoint
 * size. The SHA-256 of the whole file (its LFS oid) is computed on the way.
 * Order of publication: chunks and tensor records (as they are produced),
 * recipes, a final durable flush, then git blobs, tree, commit and lastly
 * the ref, so a crash never leaves a ref naming missing data.
 */
#include "repo_internal.h"

#include "pool.h"
#include "z4_alloc.h"
#include "z4_le.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE_UNKNOWN UINT64_MAX /* a stream: its length is known at EOF */

/*
 * A file's bytes: an open descriptor (pread), a list of memory pieces, or a
 * stream read once, in order (a pipe, git's filter protocol). A stream
 * keeps the bytes it has delivered while `retain` is set (the header that
 * is looked at twice); otherwise every read must continue at `pos`.
 */
typedef struct {
	int fd;
	const uint8_t *const *piece;
	const size_t *piece_len;
	size_t npieces;
	z4vc_read_fn read;
	void *read_ud;
	uint64_t size; /* SIZE_UNKNOWN for a stream */
	const char *name; /* for messages */
	z4_buf head;   /* stream: bytes [0, head.len) kept while retain */
	int retain;
	uint64_t pos;  /* stream: bytes consumed so far */
	int eof;
	/* A stream that may end early (--allow-opaque): what was read is kept
	 * as it stands and the file is stored as bytes; `truncated` says so. */
	int tolerant, truncated;
} source;

typedef struct {
	char *path;
	git_oid blob;
	uint64_t size;
	int exec;
} entry;

struct z4vc_ckpt {
	z4vc_repo *repo;
	char *run, *message;
	char ref[256];
	int64_t step;
	unsigned keyframe;
	int allow_opaque;
	z4vc_progress_fn progress;
	void *progress_ud;
	uint64_t done, total;

	git_commit *parent; /* tip of the run at begin, or NULL */
	git_tree *parent_tree;
	z4_chunkio *io;
	EVP_MD_CTX *sha;
	uint8_t *buf; /* one chunk */
	z4_pool *pool; /* encodes chunks on worker threads, retired in order */
	size_t depth;
	entry *entries;
	size_t nentries, entries_cap;
	int finished;
};

/* What the parent checkpoint held at the same path: its recipe and a name
 * index of its tensor segments, for choosing delta bases. */
typedef struct {
	z4_recipe recipe;
	size_t *order; /* tensor segment indices sorted by name */
	size_t norder;
} parent_file;

static void parent_file_dispose(parent_file *pf)
{
	z4_recipe_dispose(&pf->recipe);
	z4_free(pf->order);
	memset(pf, 0, sizeof(*pf));
}

/* Pull up to len bytes from a stream; *got < len only at its end. */
static int stream_pull(source *s, uint8_t *dst, size_t len, size_t *got)
{
	*got = 0;
	while (*got < len && !s->eof) {
		ssize_t n = s->read(s->read_ud, dst + *got, len - *got);
		if (n < 0)
			return z4_error_last_code() < 0
				       ? z4_error_last_code()
				       : z4_error_set(Z4_EIO, "read '%s' failed", s->name);
		if (n == 0)
			s->eof = 1;
		*got += (size_t)n;
	}
	if (s->retain && z4_buf_put(&s->head, dst, *got))
		return z4_error_set(s->head.err, "'%s': header too large", s->name);
	s->pos += *got;
	return Z4_OK;
}

/* Read up to len bytes at off; *got < len only at the end of the file. */
static int src_read_some(source *s, uint64_t off, uint8_t *dst, size_t len,
			 size_t *got)
{
	*got = 0;
	if (s->read) {
		if (off < s->head.len) { /* replay what the header look kept */
			size_t n = s->head.len - (size_t)off < len
					   ? s->head.len - (size_t)off : len;
			memcpy(dst, s->head.ptr + off, n);
			*got = n;
			off += n;
			dst += n;
			len -= n;
		}
		if (len == 0)
			return Z4_OK;
		if (off != s->pos)
			return z4_error_set(Z4_EINVAL, "'%s': stream read out of order",
					    s->name);
		size_t n;
		Z4_TRY(stream_pull(s, dst, len, &n));
		*got += n;
		return Z4_OK;
	}
	if (off >= s->size)
		return Z4_OK;
	if (len > s->size - off)
		len = (size_t)(s->size - off);
	if (s->fd >= 0) {
		while (*got < len) {
			ssize_t n = pread(s->fd, dst + *got, len - *got, (off_t)(off + *got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return z4_error_set(Z4_EIO, "read '%s': %s", s->name,
						    strerror(errno));
			if (n == 0)
				return z4_error_set(Z4_EIO, "read '%s': file shrank while committing",
						    s->name);
			*got += (size_t)n;
		}
		return Z4_OK;
	}
	for (size_t i = 0; i < s->npieces && *got < len; i++) {
		if (off >= s->piece_len[i]) {
			off -= s->piece_len[i];
			continue;
		}
		size_t take = s->piece_len[i] - (size_t)off;
		if (take > len - *got)
			take = len - *got;
		memcpy(dst + *got, s->piece[i] + off, take);
		*got += take;
		off = 0;
	}
	return Z4_OK;
}

/* Read exactly len bytes at off. */
static int src_read(source *s, uint64_t off, uint8_t *dst, size_t len)
{
	size_t got;
	Z4_TRY(src_read_some(s, off, dst, len, &got));
	if (got != len)
		return z4_error_set(Z4_ECORRUPT, "'%s': file ends early (at byte %llu)",
				    s->name, (unsigned long long)(off + got));
	return Z4_OK;
}

static int sha_update(z4vc_ckpt *ck, const void *p, size_t n)
{
	if (n && EVP_DigestUpdate(ck->sha, p, n) != 1)
		return z4_error_set(Z4_EIO, "sha256 failed");
	return Z4_OK;
}

static void progress(z4vc_ckpt *ck, uint64_t n, const char *what)
{
	ck->done += n;
	if (ck->progress)
		ck->progress(ck->progress_ud, ck->done, ck->total, what);
}

static int cmp_seg_name(const void *a, const void *b, void *ud)
{
	const z4_recipe *r = ud;
	return strcmp(r->seg[*(const size_t *)a].name, r->seg[*(const size_t *)b].name);
}

/*
 * The previous version of a file: the file with SHA-256 `sha` if given,
 * else `path` in the parent tree. pf stays empty when there is none or it
 * is not a z4vc object (a parent is only an encoding hint, never required).
 */
static void load_parent_file(parent_file *pf, z4vc_ckpt *ck, const char *path,
			     const uint8_t *sha)
{
	git_tree_entry *te = NULL;
	git_blob *blob = NULL;
	z4_pointer ptr;
	int is_ptr = 0;

	memset(pf, 0, sizeof(*pf));
	if (sha) {
		if (z4_load_recipe(&pf->recipe, ck->io, sha) != Z4_OK)
			goto done;
	} else if (!ck->parent_tree ||
		   git_tree_entry_bypath(&te, ck->parent_tree, path) < 0 ||
		   git_tree_entry_type(te) != GIT_OBJECT_BLOB ||
		   git_blob_lookup(&blob, ck->repo->git, git_tree_entry_id(te)) < 0 ||
		   z4_blob_pointer(&ptr, &is_ptr, blob) != Z4_OK || !is_ptr ||
		   z4_load_recipe(&pf->recipe, ck->io, ptr.sha256) != Z4_OK) {
		goto done;
	}
	/* The recipe borrows from the read snapshot, which a flush ends:
	 * copy the names we need (they are owned already) and drop bytes. */
	for (size_t i = 0; i < pf->recipe.nseg; i++)
		pf->recipe.seg[i].bytes = NULL;
	pf->order = z4_mallocarray(pf->recipe.nseg ? pf->recipe.nseg : 1, sizeof(size_t));
	if (!pf->order) {
		parent_file_dispose(pf);
		goto done;
	}
	for (size_t i = 0; i < pf->recipe.nseg; i++)
		if (pf->recipe.seg[i].kind == Z4_SEG_TENSOR)
			pf->order[pf->norder++] = i;
	qsort_r(pf->order, pf->norder, sizeof(size_t), cmp_seg_name, &pf->recipe);
done:
	z4_error_clear();
	git_blob_free(blob);
	git_tree_entry_free(te);
}

static const z4_id *parent_tensor(const parent_file *pf, const char *name)
{
	if (!pf)
		return NULL;
	size_t lo = 0, hi = pf->norder;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const z4_segment *s = &pf->recipe.seg[pf->order[mid]];
		int c = strcmp(name, s->name);
		if (c == 0)
			return &s->tensor;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * Work for the pool. Chunks are encoded by workers (each with its own codec
 * context and store snapshot for reading delta bases); records ride the
 * same queue, so retiring in submission order queues every chunk before the
 * tensor record naming it, and every tensor before its recipe.
 */
enum { JOB_CHUNK = 1, JOB_RECORD = 2 };

typedef struct {
	int kind;
	uint8_t *data; /* CHUNK: the bytes (slot-owned, reused) */
	size_t data_cap, len;
	unsigned elem, dtype, keyframe;
	z4_id id, base;
	int has_base;
	uint8_t *enc; /* CHUNK result */
	size_t enc_cap, enc_len;
	z4_db db; /* RECORD */
	uint8_t key[Z4_SHA256_LEN];
	size_t klen;
	uint8_t *val;
	size_t vlen;
} job;

static void *worker_new(void *ud)
{
	z4_chunkio *io;
	return z4_chunkio_new(&io, ud) == Z4_OK ? io : NULL;
}

static void worker_free(void *state) { z4_chunkio_free(state); }

static int worker_run(void *state, void *arg)
{
	job *j = arg;
	const uint8_t *enc;
	size_t n;
	if (j->kind != JOB_CHUNK)
		return Z4_OK;
	Z4_TRY(z4_chunkio_encode(&enc, &n, state, j->data, j->len, j->elem, j->dtype,
				 &j->id, j->has_base ? &j->base : NULL,
				 j->keyframe));
	if (n > j->enc_cap) {
		uint8_t *p = z4_malloc(n);
		if (!p)
			return z4_error_set(Z4_ENOMEM, "out of memory");
		z4_free(j->enc);
		j->enc = p;
		j->enc_cap = n;
	}
	memcpy(j->enc, enc, n);
	j->enc_len = n;
	return Z4_OK;
}

static void job_free(void *arg)
{
	job *j = arg;
	z4_free(j->data);
	z4_free(j->enc);
	z4_free(j->val);
}

static int job_retire(z4vc_ckpt *ck)
{
	job *j = NULL;
	int rc = z4_pool_retire(ck->pool, (void **)&j);
	if (rc == Z4_OK && j->kind == JOB_CHUNK)
		rc = z4_chunkio_put_encoded(ck->io, &j->id, j->enc, j->enc_len);
	else if (rc == Z4_OK)
		rc = z4_chunkio_put_record(ck->io, j->db, j->key, j->klen, j->val, j->vlen);
	if (j && j->kind == JOB_RECORD) {
		z4_free(j->val);
		j->val = NULL;
	}
	return rc;
}

/* A free slot (retiring the oldest job when all are busy). */
static int job_slot(job **out, z4vc_ckpt *ck)
{
	while (z4_pool_inflight(ck->pool) >= ck->depth)
		Z4_TRY(job_retire(ck));
	*out = z4_pool_slot(ck->pool);
	return Z4_OK;
}

static int jobs_drain(z4vc_ckpt *ck)
{
	while (z4_pool_inflight(ck->pool))
		Z4_TRY(job_retire(ck));
	return Z4_OK;
}

static int submit_record(z4vc_ckpt *ck, z4_db db, const void *key, size_t klen,
			 const void *val, size_t vlen)
{
	job *j;
	Z4_TRY(job_slot(&j, ck));
	j->kind = JOB_RECORD;
	j->db = db;
	memcpy(j->key, key, klen);
	j->klen = klen;
	if (!(j->val = z4_malloc(vlen ? vlen : 1)))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	memcpy(j->val, val, vlen);
	j->vlen = vlen;
	z4_pool_submit(ck->pool);
	return Z4_OK;
}

/*
 * Store bytes [off, off+len) of src as a tensor (len SIZE_UNKNOWN: up to
 * the end of a stream, as opaque bytes): chunk, hash, encode against the
 * parent's tensor of the same name and layout, queue the record. *out gets
 * the tensor id, *out_len the length stored.
 */
static int store_tensor(z4_id *out, uint64_t *out_len, z4vc_ckpt *ck,
			source *src, uint64_t off, uint64_t len, z4_dtype dtype,
			unsigned ndim, const uint64_t *shape,
			const z4_id *parent_id)
{
	z4_tensor_rec rec = {0}, prec = {0};
	z4_buf enc;
	size_t cap;
	int have_parent = 0, rc;

	rec.dtype = dtype;
	rec.elem_size = dtype == Z4_DT_UNKNOWN ? 1
					       : z4_delta_elem_size(z4_dtype_name(dtype));
	rec.ndim = ndim;
	for (unsigned i = 0; i < ndim; i++)
		rec.shape[i] = shape[i];
	rec.chunk_size = Z4_DELTA_CHUNK_DEFAULT;
	if (len != SIZE_UNKNOWN && len % rec.elem_size)
		rec.elem_size = 1; /* the parser guarantees this for tensors */
	cap = len == SIZE_UNKNOWN ? 16 : z4_tensor_nchunks(len, rec.chunk_size);
	rec.chunks = z4_mallocarray(cap ? cap : 1, sizeof(z4_id));
	if (!rec.chunks)
		return z4_error_set(Z4_ENOMEM, "out of memory");

	if (parent_id && z4_load_tensor(&prec, ck->io, parent_id) == Z4_OK) {
		rec.nbytes = len;
		have_parent = len == SIZE_UNKNOWN
				      ? prec.dtype == Z4_DT_UNKNOWN &&
						prec.chunk_size == rec.chunk_size
				      : z4_tensor_rec_equal_layout(&rec, &prec);
	}
	z4_error_clear();

	rec.nbytes = 0;
	for (size_t i = 0;; i++) {
		uint64_t left = len == SIZE_UNKNOWN ? rec.chunk_size : len - rec.nbytes;
		size_t want = (size_t)(left < rec.chunk_size ? left : rec.chunk_size);
		size_t clen;
		job *j;
		if (want == 0)
			break;
		if ((rc = job_slot(&j, ck)))
			goto done;
		if (j->data_cap < rec.chunk_size) {
			z4_free(j->data);
			j->data_cap = 0;
			if (!(j->data = z4_malloc((size_t)rec.chunk_size))) {
				rc = z4_error_set(Z4_ENOMEM, "out of memory");
				goto done;
			}
			j->data_cap = (size_t)rec.chunk_size;
		}
		if ((rc = len == SIZE_UNKNOWN || src->tolerant
				  ? src_read_some(src, off + rec.nbytes, j->data, want, &clen)
				  : (clen = want, src_read(src, off + rec.nbytes, j->data, want))))
			goto done;
		if (clen < want && len != SIZE_UNKNOWN) {
			/* a tolerant stream ended inside the tensor: keep the
			 * bytes as opaque data */
			src->truncated = 1;
			rec.dtype = Z4_DT_UNKNOWN;
			rec.ndim = 0;
			rec.elem_size = 1;
		}
		if (clen == 0)
			break;
		if (i == cap) {
			z4_id *nc = z4_realloc(rec.chunks, 2 * cap * sizeof(z4_id));
			if (!nc) {
				rc = z4_error_set(Z4_ENOMEM, "out of memory");
				goto done;
			}
			rec.chunks = nc;
			cap *= 2;
		}
		if ((rc = sha_update(ck, j->data, clen)))
			goto done;
		z4_delta_id(&rec.chunks[i], j->data, clen);
		if ((rc = z4_chunkio_want(ck->io, &rec.chunks[i])) < 0)
			goto done;
		if (rc == 1) { /* new: encode it on a worker */
			j->kind = JOB_CHUNK;
			j->len = clen;
			j->elem = clen % rec.elem_size ? 1 : rec.elem_size;
			/* the codec's plane layout follows the dtype; a ragged
			 * piece (a truncated stream) is plain bytes */
			j->dtype = j->elem == rec.elem_size && rec.dtype != Z4_DT_UNKNOWN
					   ? z4_delta_dtype(z4_dtype_name(rec.dtype)) : 0;
			j->id = rec.chunks[i];
			j->has_base = have_parent && i < prec.nchunks;
			if (j->has_base)
				j->base = prec.chunks[i];
			j->keyframe = ck->keyframe;
			z4_pool_submit(ck->pool);
		}
		rc = Z4_OK;
		rec.nchunks = i + 1;
		rec.nbytes += clen;
		progress(ck, clen, src->name);
		if (clen < want)
			break; /* end of the stream */
	}
	*out_len = rec.nbytes;
	z4_buf_init(&enc, Z4_RECORD_MAX);
	if ((rc = z4_tensor_rec_encode(&enc, &rec)) == Z4_OK) {
		z4_delta_id(out, enc.ptr, enc.len);
		rc = z4_chunkio_has(ck->io, Z4_DB_TENSORS, out->b, Z4_ID_LEN);
		if (rc == 0)
			rc = submit_record(ck, Z4_DB_TENSORS, out->b, Z4_ID_LEN, enc.ptr,
					   enc.len);
		else if (rc == 1)
			rc = Z4_OK;
	} else {
		rc = z4_error_set(rc, "tensor record: %s", z4_strerror(rc));
	}
	z4_buf_dispose(&enc);
done:
	z4_tensor_rec_dispose(&rec);
	z4_tensor_rec_dispose(&prec);
	return rc;
}

typedef struct {
	z4_segment *seg;
	size_t n, cap;
	uint8_t **owned; /* inline byte copies */
	size_t nowned;
} seglist;

static void seglist_dispose(seglist *l)
{
	for (size_t i = 0; i < l->n; i++)
		z4_free(l->seg[i].name);
	for (size_t i = 0; i < l->nowned; i++)
		z4_free(l->owned[i]);
	z4_free(l->seg);
	z4_free(l->owned);
	memset(l, 0, sizeof(*l));
}

static z4_segment *seglist_add(seglist *l)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		z4_segment *ns = z4_realloc(l->seg, nc * sizeof(*ns));
		uint8_t **no = z4_realloc(l->owned, nc * sizeof(*no));
		if (ns)
			l->seg = ns;
		if (no)
			l->owned = no;
		if (!ns || !no)
			return NULL;
		l->cap = nc;
	}
	memset(&l->seg[l->n], 0, sizeof(z4_segment));
	return &l->seg[l->n++];
}

/*
 * Bytes that are not a tensor (header, gaps, trailer, opaque files): kept
 * inline in the recipe when small, else stored as chunked opaque data
 * (always for whole opaque files, so their versions delta).
 */
static int add_bytes(seglist *l, z4vc_ckpt *ck, source *src,
		     uint64_t off, uint64_t len, int chunked,
		     const z4_id *parent_id)
{
	z4_segment *s;
	int rc;
	if (len == 0)
		return Z4_OK;
	if (!(s = seglist_add(l)))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	s->len = len;
	if (len <= Z4_BYTES_INLINE_MAX && !chunked) {
		uint8_t *copy = z4_malloc((size_t)len);
		if (!copy)
			return z4_error_set(Z4_ENOMEM, "out of memory");
		l->owned[l->nowned++] = copy;
		s->kind = Z4_SEG_BYTES;
		s->bytes = copy;
		if (src->tolerant) {
			size_t got;
			Z4_TRY(src_read_some(src, off, copy, (size_t)len, &got));
			if (got < len) {
				src->truncated = 1;
				s->len = len = got;
			}
		} else {
			Z4_TRY(src_read(src, off, copy, (size_t)len));
		}
		Z4_TRY(sha_update(ck, copy, (size_t)len));
		progress(ck, len, src->name);
		return Z4_OK;
	}
	s->kind = Z4_SEG_TENSOR;
	if (!(s->name = z4_strdup("")))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	rc = store_tensor(&s->tensor, &s->len, ck, src, off, len, Z4_DT_UNKNOWN, 0,
			  NULL, parent_id);
	if (rc == Z4_OK && s->len == 0) { /* a stream that had nothing left */
		z4_free(s->name);
		l->n--;
	}
	return rc;
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Parse the safetensors header of src; Z4_ECORRUPT with the defect. */
static int parse_safetensors(z4_st_file *st, uint8_t **head_out,
			     source *src)
{
	uint8_t first8[8], *head;
	uint64_t hlen;
	int rc;

	*head_out = NULL;
	if (src->size < 8)
		return z4_error_set(Z4_ECORRUPT, "file of %llu bytes is too short for a header",
				    (unsigned long long)src->size);
	Z4_TRY(src_read(src, 0, first8, 8));
	Z4_TRY(z4_st_header_len(&hlen, first8, src->size));
	head = z4_malloc((size_t)hlen);
	if (!head)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	if ((rc = src_read(src, 0, head, (size_t)hlen)) ||
	    (rc = z4_st_parse(st, head, (size_t)hlen, src->size))) {
		z4_free(head);
		return rc;
	}
	*head_out = head;
	return Z4_OK;
}

/* Git's heuristic: text if no NUL in the first 8000 bytes. */
static int looks_text(source *src, uint8_t *tmp)
{
	size_t n = src->size < 8000 ? (size_t)src->size : 8000;
	if (src_read(src, 0, tmp, n) != Z4_OK)
		return 0;
	return memchr(tmp, 0, n) == NULL;
}

static int add_entry(z4vc_ckpt *ck, const char *path, const git_oid *blob,
		     uint64_t size, int exec)
{
	entry *e;
	for (size_t i = 0; i < ck->nentries; i++)
		if (strcmp(ck->entries[i].path, path) == 0)
			return z4_error_set(Z4_EEXISTS, "'%s' added twice", path);
	if (ck->nentries == ck->entries_cap) {
		size_t nc = ck->entries_cap ? ck->entries_cap * 2 : 16;
		entry *ne = z4_realloc(ck->entries, nc * sizeof(*ne));
		if (!ne)
			return z4_error_set(Z4_ENOMEM, "out of memory");
		ck->entries = ne;
		ck->entries_cap = nc;
	}
	e = &ck->entries[ck->nentries];
	if (!(e->path = z4_strdup(path)))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	e->blob = *blob;
	e->size = size;
	e->exec = exec;
	ck->nentries++;
	return Z4_OK;
}

/* Paths in a checkpoint: relative, '/'-separated, no empty, ".", ".." or
 * ".git" components, no backslashes or control characters. */
static int check_path(const char *path)
{
	const char *p = path;
	if (!*p || *p == '/')
		goto bad;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.') ||
		    (n == 4 && strncasecmp(p, ".git", 4) == 0))
			goto bad;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == '\\')
				goto bad;
		p += n;
		if (*p == '/' && !*++p)
			goto bad;
	}
	return Z4_OK;
bad:
	return z4_error_set(Z4_EINVAL, "'%s': not a valid path inside a checkpoint",
			    path);
}

/*
 * Store the bytes of src in the object store (chunks, tensors, recipe; the
 * recipe is queued, durable at the next flush) and fill *ptr with the
 * file's Git LFS pointer fields. pf is the previous version of the file,
 * for delta bases (may be empty).
 */
static int store_content(z4_pointer *ptr, z4vc_ckpt *ck, const char *path,
			 source *src, const parent_file *pf)
{
	seglist segs = {0};
	z4_st_file st = {0};
	uint8_t *head = NULL;
	z4_recipe recipe = {0};
	z4_buf rbuf;
	uint64_t size = 0;
	int rc, kind = Z4_FILE_OPAQUE;

	z4_buf_init(&rbuf, Z4_RECORD_MAX);
	src->retain = src->read != NULL; /* a stream may be looked at twice */
	if (has_suffix(path, ".safetensors")) {
		rc = parse_safetensors(&st, &head, src);
		if (rc == Z4_OK)
			kind = Z4_FILE_SAFETENSORS;
		else if (rc == Z4_ENOMEM || rc == Z4_EIO || !ck->allow_opaque) {
			z4_error_wrap(rc, "'%s'", path);
			goto done;
		}
		z4_error_clear();
	}
	src->retain = 0;
	if (EVP_DigestInit_ex(ck->sha, EVP_sha256(), NULL) != 1) {
		rc = z4_error_set(Z4_EIO, "sha256 init failed");
		goto done;
	}
	if (kind == Z4_FILE_SAFETENSORS) {
		uint64_t pos = st.header_len;
		z4_segment *s = seglist_add(&segs);
		if (!s) {
			rc = z4_error_set(Z4_ENOMEM, "out of memory");
			goto done;
		}
		/* The header is kept verbatim (we already hold it). */
		s->kind = Z4_SEG_BYTES;
		s->len = st.header_len;
		s->bytes = head;
		segs.owned[segs.nowned++] = head;
		head = NULL;
		if ((rc = sha_update(ck, s->bytes, (size_t)s->len)))
			goto done;
		progress(ck, s->len, src->name);
		for (size_t i = 0; i < st.count; i++) {
			const z4_st_tensor *t = &st.tensors[i];
			if (t->begin > pos &&
			    (rc = add_bytes(&segs, ck, src, pos, t->begin - pos, 0, NULL)))
				goto done;
			if (src->truncated)
				break;
			if (!(s = seglist_add(&segs)) || !(s->name = z4_strdup(t->name))) {
				rc = z4_error_set(Z4_ENOMEM, "out of memory");
				goto done;
			}
			s->kind = Z4_SEG_TENSOR;
			s->len = t->end - t->begin;
			rc = store_tensor(&s->tensor, &s->len, ck, src, t->begin, s->len,
					  t->dtype, t->dtype == Z4_DT_UNKNOWN ? 0 : t->ndim,
					  t->shape, parent_tensor(pf, t->name));
			if (rc)
				goto done;
			if (src->truncated) {
				s->name[0] = '\0'; /* opaque now, not a tensor */
				break;
			}
			pos = t->end;
		}
		/* trailing bytes; a stream's length shows only at its end */
		if (src->truncated)
			kind = Z4_FILE_OPAQUE;
		else if (src->size == SIZE_UNKNOWN)
			rc = add_bytes(&segs, ck, src, pos, SIZE_UNKNOWN, 1, NULL);
		else
			rc = add_bytes(&segs, ck, src, pos, src->size - pos, 0, NULL);
	} else {
		const z4_id *pid = NULL;
		if (pf->recipe.file_kind == Z4_FILE_OPAQUE)
			pid = parent_tensor(pf, "");
		rc = add_bytes(&segs, ck, src, 0, src->size, 1, pid);
	}
	if (rc)
		goto done;
	for (size_t i = 0; i < segs.n; i++)
		size += segs.seg[i].len;
	if (EVP_DigestFinal_ex(ck->sha, ptr->sha256, NULL) != 1) {
		rc = z4_error_set(Z4_EIO, "sha256 failed");
		goto done;
	}
	ptr->size = size;
	recipe.file_kind = kind;
	recipe.file_size = size;
	recipe.nseg = segs.n;
	recipe.seg = segs.seg;
	if ((rc = z4_recipe_encode(&rbuf, &recipe))) {
		rc = z4_error_set(rc, "'%s': recipe: %s", path, z4_strerror(rc));
		goto done;
	}
	rc = z4_chunkio_has(ck->io, Z4_DB_RECIPES, ptr->sha256, Z4_SHA256_LEN);
	if (rc == 0)
		rc = submit_record(ck, Z4_DB_RECIPES, ptr->sha256, Z4_SHA256_LEN,
				   rbuf.ptr, rbuf.len);
	else if (rc == 1)
		rc = Z4_OK;
done:
	z4_free(head);
	z4_st_dispose(&st);
	seglist_dispose(&segs);
	z4_buf_dispose(&rbuf);
	return rc;
}

static int add_source(z4vc_ckpt *ck, const char *path, source *src, int exec)
{
	parent_file pf;
	z4_pointer ptr;
	z4_buf pbuf;
	git_oid blob;
	int rc;

	Z4_TRY(check_path(path));
	if (!has_suffix(path, ".safetensors") && src->size <= Z4_BLOB_INLINE_MAX &&
	    looks_text(src, ck->buf)) {
		/* A small text file (config, tokenizer): a plain git blob. */
		uint8_t *all = z4_malloc(src->size ? (size_t)src->size : 1);
		if (!all)
			return z4_error_set(Z4_ENOMEM, "out of memory");
		rc = src_read(src, 0, all, (size_t)src->size);
		if (rc == Z4_OK &&
		    git_blob_create_from_buffer(&blob, ck->repo->git, all,
						(size_t)src->size) < 0)
			rc = z4_git_error("write blob");
		z4_free(all);
		if (rc)
			return rc;
		progress(ck, src->size, src->name);
		return add_entry(ck, path, &blob, src->size, exec);
	}
	load_parent_file(&pf, ck, path, NULL);
	rc = store_content(&ptr, ck, path, src, &pf);
	parent_file_dispose(&pf);
	if (rc)
		return rc;
	z4_buf_init(&pbuf, Z4_POINTER_MAX);
	if ((rc = z4_pointer_format(&pbuf, &ptr)) == Z4_OK &&
	    git_blob_create_from_buffer(&blob, ck->repo->git, pbuf.ptr, pbuf.len) < 0)
		rc = z4_git_error("write pointer blob");
	z4_buf_dispose(&pbuf);
	if (rc)
		return rc;
	return add_entry(ck, path, &blob, ptr.size, exec);
}

int z4vc_ckpt_add_file(z4vc_ckpt *ck, const char *path, const char *fs_path)
{
	struct stat st;
	source src = {.fd = -1, .name = path};
	int rc;

	src.fd = open(fs_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (src.fd < 0)
		return z4_error_set(errno == ENOENT ? Z4_ENOTFOUND : Z4_EIO,
				    "'%s': %s", fs_path, strerror(errno));
	if (fstat(src.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(src.fd);
		return z4_error_set(Z4_EINVAL, "'%s': not a regular file", fs_path);
	}
	src.size = (uint64_t)st.st_size;
	if (!ck->progress || ck->total < ck->done + src.size)
		ck->total = ck->done + src.size;
	rc = add_source(ck, path, &src, (st.st_mode & 0111) != 0);
	close(src.fd);
	return rc;
}

int z4vc_ckpt_add_buffer(z4vc_ckpt *ck, const char *path, const void *data,
			 size_t len)
{
	const uint8_t *piece = data;
	source src = {.fd = -1, .piece = &piece, .piece_len = &len,
		      .npieces = 1, .size = len, .name = path};
	if (ck->total < ck->done + len)
		ck->total = ck->done + len;
	return add_source(ck, path, &src, 0);
}

/* JSON string with the escapes safetensors readers accept. */
static void json_str(z4_buf *b, const char *s)
{
	z4_buf_u8(b, '"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			z4_buf_printf(b, "\\%c", ch);
		else if (ch < 0x20)
			z4_buf_printf(b, "\\u%04x", ch);
		else
			z4_buf_u8(b, ch);
	}
	z4_buf_u8(b, '"');
}

int z4vc_ckpt_add_tensors(z4vc_ckpt *ck, const char *path,
			  const z4vc_tensor *t, size_t n,
			  const char *const *meta, size_t nmeta)
{
	z4_buf h;
	const uint8_t **piece = NULL;
	size_t *plen = NULL;
	uint64_t off = 0, total;
	int rc;

	z4_buf_init(&h, Z4_ST_HEADER_MAX);
	z4_buf_put(&h, "\0\0\0\0\0\0\0\0", 8);
	z4_buf_u8(&h, '{');
	if (nmeta) {
		z4_buf_puts(&h, "\"__metadata__\":{");
		for (size_t i = 0; i < nmeta; i++) {
			if (i)
				z4_buf_u8(&h, ',');
			json_str(&h, meta[2 * i]);
			z4_buf_u8(&h, ':');
			json_str(&h, meta[2 * i + 1]);
		}
		z4_buf_u8(&h, '}');
	}
	for (size_t i = 0; i < n; i++) {
		if (i || nmeta)
			z4_buf_u8(&h, ',');
		json_str(&h, t[i].name);
		z4_buf_puts(&h, ":{\"dtype\":");
		json_str(&h, t[i].dtype);
		z4_buf_puts(&h, ",\"shape\":[");
		for (unsigned d = 0; d < t[i].ndim; d++)
			z4_buf_printf(&h, d ? ",%llu" : "%llu",
				      (unsigned long long)t[i].shape[d]);
		z4_buf_printf(&h, "],\"data_offsets\":[%llu,%llu]}",
			      (unsigned long long)off,
			      (unsigned long long)(off + t[i].nbytes));
		off += t[i].nbytes;
	}
	z4_buf_u8(&h, '}');
	while (h.len % 8)
		z4_buf_u8(&h, ' ');
	if (h.err) {
		rc = z4_error_set(h.err, "'%s': header: %s", path, z4_strerror(h.err));
		goto done;
	}
	z4_put64(h.ptr, h.len - 8);
	piece = z4_calloc(n + 1, sizeof(*piece));
	plen = z4_calloc(n + 1, sizeof(*plen));
	if (!piece || !plen) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto done;
	}
	piece[0] = h.ptr;
	plen[0] = h.len;
	total = h.len;
	for (size_t i = 0; i < n; i++) {
		piece[i + 1] = t[i].data;
		plen[i + 1] = t[i].nbytes;
		total += t[i].nbytes;
	}
	{
		source src = {.fd = -1, .piece = piece, .piece_len = plen,
			      .npieces = n + 1, .size = total, .name = path};
		if (ck->total < ck->done + total)
			ck->total = ck->done + total;
		/* The parser re-validates what we built: shapes vs sizes too. */
		rc = add_source(ck, path, &src, 0);
	}
done:
	z4_free(piece);
	z4_free(plen);
	z4_buf_dispose(&h);
	return rc;
}

static int walk_dir(z4vc_ckpt *ck, const char *root, const char *rel,
		    int count_only)
{
	char full[4096];
	DIR *d;
	struct dirent *e;
	int rc = Z4_OK;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if ((size_t)snprintf(full, sizeof(full), "%s%s%s", root, *rel ? "/" : "",
			     rel) >= sizeof(full))
		return z4_error_set(Z4_EINVAL, "'%s': path too long", rel);
	if (!(d = opendir(full)))
		return z4_error_set(errno == ENOENT ? Z4_ENOTFOUND : Z4_EIO,
				    "'%s': %s", full, strerror(errno));
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			char **nn = z4_realloc(names, nc * sizeof(*nn));
			if (!nn) {
				rc = z4_error_set(Z4_ENOMEM, "out of memory");
				goto done;
			}
			names = nn;
			cap = nc;
		}
		if (!(names[n] = z4_strdup(e->d_name))) {
			rc = z4_error_set(Z4_ENOMEM, "out of memory");
			goto done;
		}
		n++;
	}
	/* Sorted, so a checkpoint's commit does not depend on readdir order. */
	qsort(names, n, sizeof(*names), (int (*)(const void *, const void *))strcmp);
	for (size_t i = 0; i < n && rc == Z4_OK; i++) {
		char sub[4096], path[4096];
		struct stat st;
		if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
				     names[i]) >= sizeof(sub) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", root, sub) >=
			    sizeof(path)) {
			rc = z4_error_set(Z4_EINVAL, "'%s': path too long", names[i]);
			break;
		}
		if (lstat(path, &st) != 0) {
			rc = z4_error_set(Z4_EIO, "'%s': %s", path, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			if (strcmp(names[i], ".git") != 0)
				rc = walk_dir(ck, root, sub, count_only);
		} else if (S_ISREG(st.st_mode)) {
			if (count_only)
				ck->total += (uint64_t)st.st_size;
			else
				rc = z4vc_ckpt_add_file(ck, sub, path);
		} else {
			rc = z4_error_set(Z4_EINVAL, "'%s': not a regular file or directory",
					  path);
		}
	}
done:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		z4_free(names[i]);
	z4_free(names);
	return rc;
}

int z4vc_ckpt_add_dir(z4vc_ckpt *ck, const char *dir)
{
	struct stat st;
	if (stat(dir, &st) != 0)
		return z4_error_set(errno == ENOENT ? Z4_ENOTFOUND : Z4_EIO,
				    "'%s': %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return z4_error_set(Z4_EINVAL, "'%s': not a directory", dir);
	Z4_TRY(walk_dir(ck, dir, "", 1));
	return walk_dir(ck, dir, "", 0);
}

static unsigned keyframe_from_config(z4vc_repo *repo)
{
	git_config *cfg = NULL;
	int32_t v = 0;
	unsigned k = Z4_KEYFRAME_DEFAULT;
	if (git_repository_config_snapshot(&cfg, repo->git) == 0 &&
	    git_config_get_int32(&v, cfg, "z4vc.keyframeInterval") == 0 && v > 0 &&
	    v <= Z4_DELTA_DEPTH_MAX)
		k = (unsigned)v;
	git_config_free(cfg);
	git_error_clear();
	return k;
}

/* The newest commit of the run carrying `step`, if any. */
static int find_step(git_oid *out, z4vc_repo *repo, const git_oid *tip,
		     int64_t step)
{
	git_revwalk *w = NULL;
	git_oid oid;
	int found = 0;

	if (git_revwalk_new(&w, repo->git) < 0)
		return z4_git_error("revwalk");
	git_revwalk_simplify_first_parent(w);
	if (git_revwalk_push(w, tip) < 0) {
		git_revwalk_free(w);
		return z4_git_error("revwalk");
	}
	while (!found && git_revwalk_next(&oid, w) == 0) {
		git_commit *c;
		char *run;
		int64_t s;
		if (git_commit_lookup(&c, repo->git, &oid) < 0)
			continue;
		z4_commit_trailers(c, &run, &s);
		z4_free(run);
		git_commit_free(c);
		if (s == step) {
			*out = oid;
			found = 1;
		}
	}
	git_revwalk_free(w);
	git_error_clear();
	return found;
}

/* The parts of a checkpoint every store operation needs. */
static int ckpt_new(z4vc_ckpt **out, z4vc_repo *repo, const z4vc_commit_opts *opts)
{
	z4vc_ckpt *ck;
	int rc;

	*out = NULL;
	z4_error_clear();
	ck = z4_calloc(1, sizeof(*ck));
	if (!ck)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	ck->repo = repo;
	ck->step = opts ? opts->step : Z4VC_NO_STEP;
	ck->allow_opaque = opts && opts->allow_opaque;
	ck->progress = opts ? opts->progress : NULL;
	ck->progress_ud = opts ? opts->progress_ud : NULL;
	ck->keyframe = opts && opts->keyframe_interval ? opts->keyframe_interval
						       : keyframe_from_config(repo);
	ck->buf = z4_malloc(Z4_DELTA_CHUNK_DEFAULT);
	ck->sha = EVP_MD_CTX_new();
	if (!ck->buf || !ck->sha) {
		z4vc_ckpt_free(ck);
		return z4_error_set(Z4_ENOMEM, "out of memory");
	}
	if ((rc = z4_chunkio_new(&ck->io, repo->store))) {
		z4vc_ckpt_free(ck);
		return rc;
	}
	{
		unsigned n = opts && opts->threads ? opts->threads
						   : z4_pool_default_threads();
		z4_pool_ops ops = {worker_new, worker_free, worker_run, repo->store};
		/* one thread: encode inline; more: workers + the reader */
		ck->depth = n > 1 ? 2 * (size_t)n : 1;
		if ((rc = z4_pool_new(&ck->pool, n > 1 ? n : 0, ck->depth, sizeof(job),
				      &ops, job_free))) {
			z4vc_ckpt_free(ck);
			return rc;
		}
	}
	*out = ck;
	return Z4_OK;
}

int z4vc_ckpt_begin(z4vc_ckpt **out, z4vc_repo *repo,
		    const z4vc_commit_opts *opts)
{
	z4vc_ckpt *ck;
	git_oid tip;
	const char *run = opts && opts->run ? opts->run : Z4VC_DEFAULT_RUN;
	int rc;

	Z4_TRY(ckpt_new(&ck, repo, opts));
	if ((rc = z4_run_ref(ck->ref, sizeof(ck->ref), run)))
		goto fail;
	ck->run = z4_strdup(run);
	ck->message = z4_strdup(opts && opts->message ? opts->message : "");
	if (!ck->run || !ck->message) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto fail;
	}
	/* A ref lock a killed commit left: cleared now if stale, or the
	 * error now, not after storing the whole checkpoint. */
	if ((rc = z4_reflock_precheck(repo, ck->ref)))
		goto fail;
	if (git_reference_name_to_id(&tip, repo->git, ck->ref) == 0) {
		git_oid dup;
		if (git_commit_lookup(&ck->parent, repo->git, &tip) < 0 ||
		    git_commit_tree(&ck->parent_tree, ck->parent) < 0) {
			rc = z4_git_error(ck->ref);
			goto fail;
		}
		if (ck->step != Z4VC_NO_STEP && find_step(&dup, repo, &tip, ck->step) == 1) {
			char hex[GIT_OID_HEXSZ + 1];
			git_oid_tostr(hex, sizeof(hex), &dup);
			rc = z4_error_set(Z4_EEXISTS,
					  "step %lld is already committed on run '%s' (%.12s)",
					  (long long)ck->step, run, hex);
			goto fail;
		}
	}
	git_error_clear();
	*out = ck;
	return Z4_OK;
fail:
	z4vc_ckpt_free(ck);
	return rc;
}

/* "sha256:<64 hex>" or 64 hex into 32 bytes. */
static int parse_oid(uint8_t sha[Z4_SHA256_LEN], const char *oid)
{
	if (strncmp(oid, "sha256:", 7) == 0)
		oid += 7;
	if (strlen(oid) != 2 * Z4_SHA256_LEN || z4_unhex(sha, oid, Z4_SHA256_LEN))
		return z4_error_set(Z4_EINVAL, "'%s': not a sha256 object id", oid);
	return Z4_OK;
}

static void fill_pointer(z4vc_pointer *out, const z4_pointer *p)
{
	z4_buf b;
	memcpy(out->oid, "sha256:", 7);
	z4_hex(out->oid + 7, p->sha256, Z4_SHA256_LEN);
	out->size = p->size;
	z4_buf_init(&b, sizeof(out->text) - 1);
	z4_pointer_format(&b, p);
	memcpy(out->text, b.ptr, b.len);
	out->text[b.len] = '\0';
	out->text_len = b.len;
	z4_buf_dispose(&b);
}

int z4vc_store_stream(z4vc_pointer *out, z4vc_repo *repo, const char *path,
		      z4vc_read_fn read, void *ud, const z4vc_store_opts *opts)
{
	z4vc_commit_opts co = {.step = Z4VC_NO_STEP};
	source src = {.fd = -1, .read = read, .read_ud = ud, .size = SIZE_UNKNOWN,
		      .name = path};
	uint8_t base[Z4_SHA256_LEN];
	z4vc_ckpt *ck;
	parent_file pf;
	z4_pointer ptr;
	int rc;

	memset(out, 0, sizeof(*out));
	if (opts) {
		co.keyframe_interval = opts->keyframe_interval;
		co.allow_opaque = opts->allow_opaque;
		co.threads = opts->threads;
	}
	Z4_TRY(ckpt_new(&ck, repo, &co));
	z4_buf_init(&src.head, (size_t)Z4_ST_HEADER_MAX + 8);
	src.tolerant = co.allow_opaque;
	load_parent_file(&pf, ck, path,
			 opts && opts->base_oid && parse_oid(base, opts->base_oid) == Z4_OK
				 ? base : NULL);
	z4_error_clear();
	rc = store_content(&ptr, ck, path, &src, &pf);
	if (rc == Z4_OK)
		rc = jobs_drain(ck);
	if (rc == Z4_OK)
		rc = z4_chunkio_flush(ck->io);
	if (rc == Z4_OK)
		fill_pointer(out, &ptr);
	parent_file_dispose(&pf);
	z4_buf_dispose(&src.head);
	z4vc_ckpt_free(ck);
	return rc;
}

int z4vc_pointer_parse(z4vc_pointer *out, const void *text, size_t len)
{
	z4_pointer p;
	memset(out, 0, sizeof(*out));
	if (z4_pointer_parse(&p, text, len) != Z4_OK)
		return z4_error_set(Z4_EINVAL, "not a valid Git LFS pointer");
	fill_pointer(out, &p);
	return Z4_OK;
}

int z4vc_has_file(z4vc_repo *repo, const char *oid)
{
	uint8_t sha[Z4_SHA256_LEN];
	z4_chunkio *io;
	int rc;
	Z4_TRY(parse_oid(sha, oid));
	Z4_TRY(z4_chunkio_new(&io, repo->store));
	rc = z4_chunkio_has(io, Z4_DB_RECIPES, sha, Z4_SHA256_LEN);
	z4_chunkio_free(io);
	return rc;
}

static int build_tree(git_oid *tree, z4vc_ckpt *ck)
{
	git_index *idx = NULL;
	int rc = Z4_OK;

	if (git_index_new(&idx) < 0)
		return z4_git_error("index");
	for (size_t i = 0; i < ck->nentries && rc == Z4_OK; i++) {
		git_index_entry e;
		memset(&e, 0, sizeof(e));
		e.mode = ck->entries[i].exec ? GIT_FILEMODE_BLOB_EXECUTABLE
					     : GIT_FILEMODE_BLOB;
		e.id = ck->entries[i].blob;
		e.path = ck->entries[i].path;
		if (git_index_add(idx, &e) < 0)
			rc = z4_git_error(ck->entries[i].path);
	}
	if (rc == Z4_OK && git_index_write_tree_to(tree, idx, ck->repo->git) < 0)
		rc = z4_git_error("write tree");
	git_index_free(idx);
	return rc;
}

static int signature(git_signature **out, git_repository *repo)
{
	if (git_signature_default(out, repo) == 0)
		return Z4_OK;
	git_error_clear();
	if (git_signature_now(out, "z4vc", "z4vc@localhost") < 0)
		return z4_git_error("signature");
	return Z4_OK;
}

/* Move the run's ref to `id` (compare-and-swap against parent, or create
 * it) under the ref-update lock; *grc gets libgit2's result. A lock file
 * that a killed process left inside libgit2's update is removed once it is
 * old enough (stale.c), and the update tried again. */
static int move_ref(int *grc, z4_reflock *lock, z4vc_ckpt *ck,
		    const git_oid *id, const git_commit *parent)
{
	Z4_TRY(z4_reflock_take(lock, ck->repo));
	for (int again = 1;; again = 0) {
		git_reference *ref = NULL;
		if (parent)
			*grc = git_reference_create_matching(
				&ref, ck->repo->git, ck->ref, id, 1,
				git_commit_id(parent), "z4vc commit");
		else
			*grc = git_reference_create(&ref, ck->repo->git, ck->ref,
						    id, 0, "z4vc commit");
		git_reference_free(ref);
		if (*grc != GIT_ELOCKED || !again ||
		    !z4_reflock_clear_stale(ck->repo, lock, ck->ref))
			break;
		git_error_clear();
	}
	z4_reflock_drop(lock);
	return Z4_OK;
}

int z4vc_ckpt_finish(z4vc_ckpt *ck, char commit_hex[41])
{
	git_oid tree_id, commit_id, tip;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_commit *parent = NULL;
	z4_reflock lock = {-1, 0};
	z4_buf msg;
	int rc, attempt, grc = 0;

	z4_buf_init(&msg, 1u << 20);
	if (ck->finished)
		return z4_error_set(Z4_EINVAL, "checkpoint already finished");
	/* 1. every object durable in the store */
	if ((rc = jobs_drain(ck)) || (rc = z4_chunkio_flush(ck->io)))
		goto done;
	z4_chunkio_end_txn(ck->io);
	z4_crash_point("commit-git");
	/* 2. git objects */
	if ((rc = build_tree(&tree_id, ck)) || (rc = signature(&sig, ck->repo->git)))
		goto done;
	if (git_tree_lookup(&tree, ck->repo->git, &tree_id) < 0) {
		rc = z4_git_error("tree");
		goto done;
	}
	if (ck->message[0])
		z4_buf_puts(&msg, ck->message);
	else if (ck->step != Z4VC_NO_STEP)
		z4_buf_printf(&msg, "step %lld", (long long)ck->step);
	else
		z4_buf_puts(&msg, "checkpoint");
	z4_buf_printf(&msg, "\n\nZ4vc-Run: %s\n", ck->run);
	if (ck->step != Z4VC_NO_STEP)
		z4_buf_printf(&msg, "Z4vc-Step: %lld\n", (long long)ck->step);
	if (msg.err) {
		rc = z4_error_set(msg.err, "commit message too long");
		goto done;
	}
	/* 3. the ref, compare-and-swap: a concurrent commit to the same run
	 * makes us re-parent on its result and try again. */
	parent = ck->parent;
	ck->parent = NULL;
	z4_crash_point("commit-ref");
	for (attempt = 0; attempt < 16; attempt++) {
		const git_commit *parents[1] = {parent};
		if (git_commit_create(&commit_id, ck->repo->git, NULL, sig, sig, NULL,
				      (const char *)msg.ptr, tree, parent ? 1 : 0,
				      parents) < 0) {
			rc = z4_git_error("write commit");
			goto done;
		}
		if ((rc = move_ref(&grc, &lock, ck, &commit_id, parent)))
			goto done;
		if (grc == 0)
			break;
		if (grc != GIT_EMODIFIED && grc != GIT_EEXISTS && grc != GIT_ELOCKED) {
			rc = z4_git_error(ck->ref);
			goto done;
		}
		git_error_clear();
		git_commit_free(parent);
		parent = NULL;
		if (git_reference_name_to_id(&tip, ck->repo->git, ck->ref) == 0 &&
		    git_commit_lookup(&parent, ck->repo->git, &tip) < 0) {
			rc = z4_git_error(ck->ref);
			goto done;
		}
		/* begin checked the step against the old tip only */
		if (parent && ck->step != Z4VC_NO_STEP &&
		    find_step(&tip, ck->repo, git_commit_id(parent), ck->step) == 1) {
			char hex[GIT_OID_HEXSZ + 1];
			git_oid_tostr(hex, sizeof(hex), &tip);
			rc = z4_error_set(Z4_EEXISTS,
					  "step %lld was committed on run '%s' meanwhile (%.12s)",
					  (long long)ck->step, ck->run, hex);
			goto done;
		}
		usleep(1000u << (attempt < 8 ? attempt : 8));
	}
	if (attempt == 16 && grc == GIT_ELOCKED) {
		/* held by git all along, or left by a kill too recently */
		rc = z4_reflock_error(ck->repo, &lock, ck->ref);
		goto done;
	}
	if (attempt == 16) {
		rc = z4_error_set(Z4_ELOCKED, "%s: too many concurrent updates", ck->ref);
		goto done;
	}
	z4_crash_point("commit-done");
	ck->finished = 1;
	if (commit_hex)
		git_oid_tostr(commit_hex, 41, &commit_id);
done:
	git_commit_free(parent);
	git_tree_free(tree);
	git_signature_free(sig);
	z4_buf_dispose(&msg);
	return rc;
}

void z4vc_ckpt_free(z4vc_ckpt *ck)
{
	if (!ck)
		return;
	z4_pool_free(ck->pool); /* before io: workers may still run */
	z4_chunkio_free(ck->io);
	git_commit_free(ck->parent);
	git_tree_free(ck->parent_tree);
	for (size_t i = 0; i < ck->nentries; i++)
		z4_free(ck->entries[i].path);
	z4_free(ck->entries);
	EVP_MD_CTX_free(ck->sha);
	z4_free(ck->buf);
	z4_free(ck->run);
	z4_free(ck->message);
	z4_free(ck);
}
