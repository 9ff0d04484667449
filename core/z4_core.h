/*
 * z4_core.h - internals shared by the core/ files: the stored record
 * formats (tensor records, file recipes), Git LFS pointers, and the chunk
 * reader/writer that joins delta/ and objects/. See docs/format.md.
 */
#ifndef Z4_CORE_H
#define Z4_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "z4_alloc.h"
#include "z4_buf.h"
#include "z4_delta.h"
#include "z4_err.h"
#include "z4_objects.h"
#include "z4_safetensors.h"

#define Z4_SHA256_LEN 32
#define Z4_RECORD_MAX (256u << 20) /* refuse records above 256 MiB */

/* ---- tensor record (db "tensors", key = XXH3-128 of the record) ---- */

#define Z4_TENSOR_MAGIC "Z4T"
#define Z4_TENSOR_VERSION 1

typedef struct {
	z4_dtype dtype;       /* Z4_DT_UNKNOWN: opaque bytes */
	unsigned elem_size;   /* plane split width used for its chunks */
	unsigned ndim;
	uint64_t shape[Z4_ST_NDIM_MAX];
	uint64_t nbytes;
	uint64_t chunk_size;  /* every chunk but the last has this size */
	size_t nchunks;
	z4_id *chunks;        /* owned */
} z4_tensor_rec;

size_t z4_tensor_nchunks(uint64_t nbytes, uint64_t chunk_size);
int z4_tensor_rec_encode(z4_buf *out, const z4_tensor_rec *t);
/* Validates everything (sizes, counts, trailing bytes): Z4_ECORRUPT. */
int z4_tensor_rec_decode(z4_tensor_rec *out, const uint8_t *p, size_t len);
void z4_tensor_rec_dispose(z4_tensor_rec *t);
int z4_tensor_rec_equal_layout(const z4_tensor_rec *a, const z4_tensor_rec *b);

/* ---- file recipe (db "recipes", key = SHA-256 of the file) ---- */

#define Z4_RECIPE_MAGIC "Z4R"
#define Z4_RECIPE_VERSION 1

enum { Z4_FILE_OPAQUE = 0, Z4_FILE_SAFETENSORS = 1 };
enum { Z4_SEG_BYTES = 0, Z4_SEG_TENSOR = 1 };

typedef struct {
	int kind;             /* Z4_SEG_BYTES or Z4_SEG_TENSOR */
	uint64_t len;         /* bytes this segment contributes to the file */
	const uint8_t *bytes; /* BYTES: borrowed from the decoded record */
	char *name;           /* TENSOR: owned, NUL-terminated */
	z4_id tensor;         /* TENSOR: tensor id */
} z4_segment;

typedef struct {
	int file_kind;
	uint64_t file_size;
	size_t nseg;
	z4_segment *seg;      /* owned */
} z4_recipe;

int z4_recipe_encode(z4_buf *out, const z4_recipe *r);
/* The recipe borrows BYTES segments from p: keep p alive. */
int z4_recipe_decode(z4_recipe *out, const uint8_t *p, size_t len);
void z4_recipe_dispose(z4_recipe *r);

/* ---- Git LFS v1 pointers ---- */

#define Z4_POINTER_MAX 1024

typedef struct {
	uint8_t sha256[Z4_SHA256_LEN];
	uint64_t size;
} z4_pointer;

/* Canonical pointer text (exactly what git-lfs writes) into out. */
int z4_pointer_format(z4_buf *out, const z4_pointer *p);
/* Strict parse per the spec. Z4_EINVAL if the text is not a pointer. */
int z4_pointer_parse(z4_pointer *out, const uint8_t *text, size_t len);
void z4_hex(char *out, const uint8_t *bytes, size_t n); /* 2n+1 chars */
int z4_unhex(uint8_t *out, const char *hex, size_t n);  /* n bytes */

/* ---- scratch buffers ---- */

/*
 * Make *buf (of *cap bytes, NULL if none yet) hold at least need bytes. A
 * buffer that grows is replaced, not copied: its old contents are lost.
 * Z4_ENOMEM (reason set), leaving *buf and *cap as they were.
 */
static inline int z4_scratch_ensure(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;
	if (*cap >= need && *buf)
		return Z4_OK;
	if (!(p = z4_malloc(need ? need : 1)))
		return z4_error_set(Z4_ENOMEM, "out of memory (%zu bytes)",
		                    need);
	z4_free(*buf);
	*buf = p;
	*cap = need;
	return Z4_OK;
}

/* ---- chunk access: decode through delta chains ---- */

typedef struct z4_chunkio z4_chunkio;

int z4_chunkio_new(z4_chunkio **out, z4_store *store);
void z4_chunkio_free(z4_chunkio *io);
/* Read snapshot used by lookups; ended by flush and by free. */
z4_rtxn *z4_chunkio_txn(z4_chunkio *io);
void z4_chunkio_end_txn(z4_chunkio *io);

/*
 * Decode chunk `id` (following its delta chain) into dst (dst_len bytes,
 * must equal the chunk's decoded length). Z4_ENOTFOUND for a missing chunk
 * or base, Z4_ECORRUPT for a bad one; the reason names the chunk.
 */
int z4_chunkio_read(z4_chunkio *io, const z4_id *id, uint8_t *dst,
		    size_t dst_len);
/* Header of a stored chunk and its encoded size. */
int z4_chunkio_info(z4_delta_info *out, size_t *enc_len, z4_chunkio *io,
		    const z4_id *id);
int z4_chunkio_has(z4_chunkio *io, z4_db db, const void *key, size_t klen);

/*
 * Encode and queue a chunk. base_id (nullable) names the same chunk of the
 * parent version; it is used unless its chain is keyframe_interval long.
 * Queued items are written by flush (automatically past a size limit).
 * *stored_len gets the encoded size (0 if the chunk already existed).
 */
int z4_chunkio_put_chunk(size_t *stored_len, z4_chunkio *io,
			 const uint8_t *data, size_t len, unsigned elem_size,
			 const z4_id *id, const z4_id *base_id,
			 unsigned keyframe_interval);
/* The three steps of put_chunk, for running the encoding elsewhere:
 * want: 1 if the chunk is neither stored nor queued (and marks it queued),
 * 0 if it is, or an error; encode: decode the base (own snapshot, ended
 * after) and encode into io's buffer (*enc valid until the next encode);
 * put_encoded: queue the bytes (copied). dtype is a Z4_DELTA_DT_* code
 * (0: opaque bytes); id is data's (z4_delta_id(), already computed to
 * key the chunk: the encoder does not hash data again). */
int z4_chunkio_want(z4_chunkio *io, const z4_id *id);
int z4_chunkio_encode(const uint8_t **enc, size_t *enc_len, z4_chunkio *io,
		      const uint8_t *data, size_t len, unsigned elem_size,
		      unsigned dtype, const z4_id *id, const z4_id *base_id,
		      unsigned keyframe_interval);
int z4_chunkio_put_encoded(z4_chunkio *io, const z4_id *id, const uint8_t *enc,
			   size_t enc_len);
/* Queue a record (tensor/recipe/meta); copied. */
int z4_chunkio_put_record(z4_chunkio *io, z4_db db, const void *key,
			  size_t klen, const void *val, size_t vlen);
/* Write everything queued in one durable transaction. */
int z4_chunkio_flush(z4_chunkio *io);

#endif
