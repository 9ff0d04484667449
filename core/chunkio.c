/*
 * chunkio.c - reads chunks through their delta chains and queues encoded
 * chunks and records for the store.
 *
 * Write order is the crash-safety invariant: a record is queued after the
 * chunks (or tensors) it names, and the queue is written in order, in
 * batches of one LMDB transaction each, so whatever prefix of the queue is
 * durable after a crash never names a missing object.
 */
#include "z4_core.h"

#include "idset.h"
#include "z4_alloc.h"

#include <string.h>

#define FLUSH_BYTES (16u << 20) /* queued bytes that trigger a write */

typedef struct {
	z4_db db;
	uint8_t *key, *val; /* owned: key and value in one allocation */
	size_t klen, vlen;
} pending;

struct z4_chunkio {
	z4_store *store;
	z4_rtxn *txn;
	z4_delta_ctx *ctx;
	uint8_t *scratch, *base, *enc; /* decode ping-pong, delta base, encode */
	size_t scratch_cap, base_cap, enc_cap;
	pending *q;
	size_t qlen, qcap, qbytes;
	z4_idset queued; /* chunk ids queued or written by this handle */
};

int z4_chunkio_new(z4_chunkio **out, z4_store *store)
{
	z4_chunkio *io = z4_calloc(1, sizeof(*io));
	*out = NULL;
	if (!io)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	io->store = store;
	io->ctx = z4_delta_ctx_new();
	if (!io->ctx) {
		z4_free(io);
		return z4_error_set(Z4_ENOMEM, "out of memory");
	}
	z4_idset_init(&io->queued);
	*out = io;
	return Z4_OK;
}

static void queue_clear(z4_chunkio *io)
{
	for (size_t i = 0; i < io->qlen; i++)
		z4_free(io->q[i].key);
	io->qlen = 0;
	io->qbytes = 0;
}

void z4_chunkio_free(z4_chunkio *io)
{
	if (!io)
		return;
	z4_chunkio_end_txn(io);
	queue_clear(io);
	z4_free(io->q);
	z4_free(io->scratch);
	z4_free(io->base);
	z4_free(io->enc);
	z4_delta_ctx_free(io->ctx);
	z4_idset_dispose(&io->queued);
	z4_free(io);
}

z4_rtxn *z4_chunkio_txn(z4_chunkio *io)
{
	if (!io->txn && z4_objects_rtxn_begin(&io->txn, io->store) != Z4_OK)
		io->txn = NULL;
	return io->txn;
}

void z4_chunkio_end_txn(z4_chunkio *io)
{
	z4_objects_rtxn_end(io->txn);
	io->txn = NULL;
}

static int ensure(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;
	if (*cap >= need)
		return Z4_OK;
	p = z4_malloc(need);
	if (!p)
		return z4_error_set(Z4_ENOMEM, "out of memory (%zu bytes)", need);
	z4_free(*buf);
	*buf = p;
	*cap = need;
	return Z4_OK;
}

static int get(const uint8_t **data, size_t *len, z4_chunkio *io, z4_db db,
	       const void *key, size_t klen)
{
	z4_rtxn *t = z4_chunkio_txn(io);
	if (!t)
		return z4_error_last_code() ? z4_error_last_code() : Z4_EIO;
	return z4_objects_get(data, len, t, db, key, klen);
}

int z4_chunkio_has(z4_chunkio *io, z4_db db, const void *key, size_t klen)
{
	const uint8_t *d;
	size_t n;
	int rc = get(&d, &n, io, db, key, klen);
	if (rc == Z4_OK)
		return 1;
	return rc == Z4_ENOTFOUND ? 0 : rc;
}

static int chunk_error(int rc, const z4_id *id, const char *why)
{
	char hex[33];
	z4_id_hex(hex, id);
	return z4_error_set(rc, "chunk %s: %s", hex, why);
}

int z4_chunkio_info(z4_delta_info *out, size_t *enc_len, z4_chunkio *io,
		    const z4_id *id)
{
	const uint8_t *enc;
	size_t len;
	int rc = get(&enc, &len, io, Z4_DB_CHUNKS, id->b, Z4_ID_LEN);
	if (rc == Z4_ENOTFOUND)
		return chunk_error(rc, id, "not in the store");
	if (rc)
		return rc;
	rc = z4_delta_info_read(out, enc, len);
	z4_objects_release(io->store, enc, len);
	if (rc)
		return chunk_error(rc, id, "malformed header");
	if (memcmp(out->id.b, id->b, Z4_ID_LEN) != 0)
		return chunk_error(Z4_ECORRUPT, id, "stored under the wrong id");
	if (enc_len)
		*enc_len = len;
	return Z4_OK;
}

int z4_chunkio_read(z4_chunkio *io, const z4_id *id, uint8_t *dst,
		    size_t dst_len)
{
	struct link {
		const uint8_t *enc;
		size_t len;
		z4_id id;
	} *chain = NULL;
	size_t n = 0;
	z4_id cur = *id;
	int rc = Z4_OK;

	chain = z4_mallocarray(Z4_DELTA_DEPTH_MAX + 1, sizeof(*chain));
	if (!chain)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	/* Collect the chain back to its keyframe; the depth bound also
	 * stops a hostile cycle of bases. */
	for (;;) {
		z4_delta_info info;
		if (n > Z4_DELTA_DEPTH_MAX) {
			rc = chunk_error(Z4_ECORRUPT, id, "delta chain too long");
			goto done;
		}
		rc = get(&chain[n].enc, &chain[n].len, io, Z4_DB_CHUNKS, cur.b,
			 Z4_ID_LEN);
		if (rc == Z4_ENOTFOUND) {
			rc = chunk_error(rc, &cur, n ? "delta base not in the store"
						     : "not in the store");
			goto done;
		}
		if (rc)
			goto done;
		chain[n].id = cur;
		rc = z4_delta_info_read(&info, chain[n].enc, chain[n].len);
		if (rc) {
			rc = chunk_error(rc, &cur, "malformed header");
			goto done;
		}
		if (info.decoded_len != dst_len ||
		    memcmp(info.id.b, cur.b, Z4_ID_LEN) != 0) {
			rc = chunk_error(Z4_ECORRUPT, &cur,
					 "size or id does not match its reference");
			goto done;
		}
		n++;
		if (!info.is_delta)
			break;
		cur = info.base;
	}
	if (n > 1 && (rc = ensure(&io->scratch, &io->scratch_cap, dst_len)))
		goto done;
	/* Decode keyframe first; alternate buffers so the last lands in dst. */
	for (size_t k = 0; k < n; k++) {
		struct link *l = &chain[n - 1 - k];
		uint8_t *out = ((n - 1 - k) % 2 == 0) ? dst : io->scratch;
		const uint8_t *base = k ? (out == dst ? io->scratch : dst) : NULL;
		/* A base is the link decoded (and verified) just before:
		 * its id need not be hashed again. */
		rc = z4_delta_decode_known(out, dst_len, io->ctx, l->enc,
					   l->len, base,
					   k ? &chain[n - k].id : NULL);
		z4_objects_release(io->store, l->enc, l->len);
		if (rc) {
			rc = chunk_error(rc, &l->id, rc == Z4_ECORRUPT
							  ? "corrupt (checksum or encoding)"
							  : z4_strerror(rc));
			goto done;
		}
	}
done:
	z4_free(chain);
	return rc;
}

static int enqueue(z4_chunkio *io, z4_db db, const void *key, size_t klen,
		   const void *val, size_t vlen, uint8_t *owned_val)
{
	pending *p;
	uint8_t *mem;

	if (io->qlen == io->qcap) {
		size_t ncap = io->qcap ? io->qcap * 2 : 64;
		pending *nq = z4_realloc(io->q, ncap * sizeof(*nq));
		if (!nq)
			return z4_error_set(Z4_ENOMEM, "out of memory");
		io->q = nq;
		io->qcap = ncap;
	}
	mem = z4_malloc(klen + vlen);
	if (!mem)
		return z4_error_set(Z4_ENOMEM, "out of memory (%zu bytes)", vlen);
	memcpy(mem, key, klen);
	memcpy(mem + klen, owned_val ? owned_val : val, vlen);
	p = &io->q[io->qlen++];
	p->db = db;
	p->key = mem;
	p->val = mem + klen;
	p->klen = klen;
	p->vlen = vlen;
	io->qbytes += klen + vlen;
	return Z4_OK;
}

int z4_chunkio_flush(z4_chunkio *io)
{
	z4_put *items;
	int rc;

	if (io->qlen == 0)
		return Z4_OK;
	/* The store may need to grow its map: no read snapshot may be open. */
	z4_chunkio_end_txn(io);
	items = z4_calloc(io->qlen, sizeof(*items));
	if (!items)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	for (size_t i = 0; i < io->qlen; i++) {
		items[i].db = io->q[i].db;
		items[i].key = io->q[i].key;
		items[i].klen = io->q[i].klen;
		items[i].val = io->q[i].val;
		items[i].vlen = io->q[i].vlen;
	}
	z4_crash_point("chunk-flush");
	rc = z4_objects_put_batch(io->store, items, io->qlen);
	z4_free(items);
	if (rc == Z4_OK)
		queue_clear(io);
	return rc;
}

int z4_chunkio_want(z4_chunkio *io, const z4_id *id)
{
	int rc;
	if (z4_idset_has(&io->queued, id))
		return 0;
	rc = z4_chunkio_has(io, Z4_DB_CHUNKS, id->b, Z4_ID_LEN);
	if (rc != 0)
		return rc < 0 ? rc : 0; /* identical chunk already stored */
	if (z4_idset_add(&io->queued, id) < 0)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	return 1;
}

int z4_chunkio_encode(const uint8_t **enc, size_t *enc_len, z4_chunkio *io,
		      const uint8_t *data, size_t len, unsigned elem_size,
		      unsigned dtype, const z4_id *id, const z4_id *base_id,
		      unsigned keyframe_interval)
{
	z4_delta_params par = {.elem_size = elem_size, .dtype = dtype, .id = id};
	z4_delta_info base_info;
	int rc;

	if (base_id && z4_chunkio_info(&base_info, NULL, io, base_id) == Z4_OK &&
	    base_info.decoded_len == len && base_info.elem_size == elem_size &&
	    base_info.depth + 1 < keyframe_interval) {
		Z4_TRY(ensure(&io->base, &io->base_cap, len));
		/* An unreadable base only costs compression: fall back to a
		 * keyframe rather than failing the commit. */
		if (z4_chunkio_read(io, base_id, io->base, len) == Z4_OK) {
			par.base = io->base;
			par.base_id = base_id;
			par.base_depth = base_info.depth;
		}
	}
	z4_error_clear();
	/* Bases come from committed checkpoints: no need to keep a snapshot
	 * open between chunks (a writer may need to grow the map). */
	z4_chunkio_end_txn(io);
	Z4_TRY(ensure(&io->enc, &io->enc_cap, z4_delta_bound(len, elem_size)));
	rc = z4_delta_encode(enc_len, NULL, io->enc, io->enc_cap, io->ctx, data, len,
			     &par);
	if (rc)
		return z4_error_set(rc, "encode chunk: %s", z4_strerror(rc));
	*enc = io->enc;
	return Z4_OK;
}

int z4_chunkio_put_encoded(z4_chunkio *io, const z4_id *id, const uint8_t *enc,
			   size_t enc_len)
{
	Z4_TRY(enqueue(io, Z4_DB_CHUNKS, id->b, Z4_ID_LEN, enc, enc_len, NULL));
	if (io->qbytes >= FLUSH_BYTES)
		return z4_chunkio_flush(io);
	return Z4_OK;
}

int z4_chunkio_put_chunk(size_t *stored_len, z4_chunkio *io,
			 const uint8_t *data, size_t len, unsigned elem_size,
			 const z4_id *id, const z4_id *base_id,
			 unsigned keyframe_interval)
{
	const uint8_t *enc;
	size_t enc_len;
	int rc;

	*stored_len = 0;
	rc = z4_chunkio_want(io, id);
	if (rc <= 0)
		return rc;
	Z4_TRY(z4_chunkio_encode(&enc, &enc_len, io, data, len, elem_size, 0, id,
				 base_id, keyframe_interval));
	*stored_len = enc_len;
	return z4_chunkio_put_encoded(io, id, enc, enc_len);
}

int z4_chunkio_put_record(z4_chunkio *io, z4_db db, const void *key,
			  size_t klen, const void *val, size_t vlen)
{
	return enqueue(io, db, key, klen, val, vlen, NULL);
}
