/*
 * z4_delta.h - the chunk codec: pure functions on caller buffers.
 *
 * A chunk is up to Z4_DELTA_CHUNK_MAX bytes of one tensor (or of an opaque
 * blob), a whole number of elements of `elem_size` bytes (1, 2, 4 or 8).
 * Encoding optionally XORs the chunk with its base (the same chunk of the
 * parent version of the tensor), splits the bytes into `elem_size` planes
 * (plane k holds byte k of every element; float words rotated first so the
 * exponent fills one plane), and stores each plane raw, zstd-compressed or
 * rANS-coded (order 0 per 64 KiB block, order 1, or with the parent's
 * planes as context), whichever is smallest by a cheap estimate
 * (docs/codec.md). Format 1 chunks (raw/zstd only) still decode.
 *
 * The encoded chunk starts with a versioned header (docs/format.md) carrying
 * the decoded length, the chain depth, the base chunk id when it is a delta,
 * and the XXH3-128 of the decoded bytes (which is the chunk id). Decoding
 * checks every length before reading, never writes past the declared size
 * and verifies the hash: a corrupt chunk is Z4_ECORRUPT, never a crash.
 *
 * No I/O, no globals: one z4_delta_ctx per thread holds zstd contexts, rANS
 * tables and scratch space (~4 MiB + 4x the largest chunk when encoding
 * deltas). The output depends only on the input and params, never on the
 * context's history or the number of threads.
 */
#ifndef Z4_DELTA_H
#define Z4_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "z4_err.h"

#define Z4_DELTA_FORMAT 6                      /* newest encoded chunk version */
#define Z4_DELTA_FORMAT_MIN 1                  /* oldest version still decoded */
#define Z4_DELTA_CHUNK_DEFAULT (4u << 20)       /* 4 MiB */
#define Z4_DELTA_CHUNK_MAX (64u << 20)          /* refuse larger on decode */
#define Z4_DELTA_DEPTH_MAX 1024                 /* longest delta chain */
#define Z4_ID_LEN 16

/* A chunk id: XXH3-128 of the decoded bytes, big-endian canonical form. */
typedef struct {
	uint8_t b[Z4_ID_LEN];
} z4_id;

/* Chunk id of `len` bytes. */
void z4_delta_id(z4_id *out, const void *data, size_t len);
/* 32 lowercase hex chars + NUL into out[33]. */
void z4_id_hex(char out[33], const z4_id *id);
/* Parse 32 hex chars; Z4_EINVAL if malformed. */
int z4_id_parse(z4_id *out, const char *hex);

typedef struct z4_delta_ctx z4_delta_ctx;

/* NULL on allocation failure. */
z4_delta_ctx *z4_delta_ctx_new(void);
void z4_delta_ctx_free(z4_delta_ctx *ctx); /* NULL-safe */

/* What the header of an encoded chunk says (validated, not yet decoded). */
typedef struct {
	unsigned version;    /* Z4_DELTA_FORMAT_MIN..Z4_DELTA_FORMAT */
	unsigned elem_size;  /* 1, 2, 4 or 8 */
	unsigned depth;      /* 0 = keyframe, else 1 + depth of the base */
	int is_delta;        /* XORed against `base` */
	size_t decoded_len;  /* <= Z4_DELTA_CHUNK_MAX, multiple of elem_size */
	z4_id id;            /* XXH3-128 of the decoded bytes */
	z4_id base;          /* base chunk id when is_delta, else zero */
	size_t header_len;   /* bytes of header before the plane payloads */
} z4_delta_info;

/*
 * What the elements are, for z4_delta_params.dtype: it picks the plane
 * transform (floats: exponent kept whole in one plane) and the codecs tried
 * (floats: rANS only; other data: zstd too). Not stored: a chunk decodes
 * without it. Z4_DELTA_DT_BYTES (0) is "unknown", the format-1 behaviour
 * plus rANS.
 */
enum {
	Z4_DELTA_DT_BYTES = 0, /* unknown or opaque */
	Z4_DELTA_DT_INT,       /* BOOL, U8..U64, I8..I64 */
	Z4_DELTA_DT_BF16,
	Z4_DELTA_DT_F16,
	Z4_DELTA_DT_F32,
	Z4_DELTA_DT_F64,
	Z4_DELTA_DT_F8_E4M3,
	Z4_DELTA_DT_F8_E5M2,
	Z4_DELTA_DT_COUNT
};

/* The Z4_DELTA_DT_* code of a safetensors dtype name ("BF16", "F32",
 * "I8", ...); Z4_DELTA_DT_BYTES for NULL or anything unknown. */
unsigned z4_delta_dtype(const char *name);

/* Encoding parameters. */
typedef struct {
	unsigned elem_size;  /* 1, 2, 4 or 8 */
	int zstd_level;      /* 0 means the default (1) */
	/*
	 * Delta base: the decoded bytes of the same chunk in the parent version
	 * (same length as src), its id and its depth. base == NULL encodes a
	 * keyframe. With a base the encoder also measures the keyframe and
	 * keeps the delta only when it is clearly smaller (< 15/16 of it; by
	 * the encoder's size estimates, see docs/codec.md).
	 * It also writes a keyframe when base_depth >= Z4_DELTA_DEPTH_MAX or
	 * when src equals the base (id == *base_id: a chunk is never stored
	 * against itself). base_id is required when base is set (Z4_EINVAL).
	 */
	const uint8_t *base;
	const z4_id *base_id;
	unsigned base_depth;
	/* Z4_DELTA_DT_*, 0 = unknown; >= Z4_DELTA_DT_COUNT is Z4_EINVAL. */
	unsigned dtype;
	/* Optional: src's id (z4_delta_id()), which the caller vouches for,
	 * as a store has it before deciding to encode (deduplication); NULL:
	 * the encoder hashes src. A wrong id makes a chunk that never
	 * decodes (Debug builds assert). */
	const z4_id *id;
} z4_delta_params;

/* Largest possible encoded size of a src_len-byte chunk: the longest
 * header (a delta's) + src_len, since no plane is stored larger than raw.
 * An invalid elem_size counts as 8; SIZE_MAX on overflow. */
size_t z4_delta_bound(size_t src_len, unsigned elem_size);

/*
 * Encode src[0..src_len) into dst (capacity dst_cap >= z4_delta_bound()).
 * *out_len gets the encoded size; *out_info (optional) the header fields.
 * Z4_EINVAL: bad elem_size, src_len not a multiple of it, or > CHUNK_MAX
 * (also: dst_cap below the bound, base without base_id, NULL arguments).
 * Z4_ENOMEM: scratch or zstd allocation failed. The same input, params and
 * zstd version always give the same bytes. dst must not overlap src/base.
 * On error *out_len is 0 and dst holds garbage.
 */
int z4_delta_encode(size_t *out_len, z4_delta_info *out_info, uint8_t *dst,
		    size_t dst_cap, z4_delta_ctx *ctx, const uint8_t *src,
		    size_t src_len, const z4_delta_params *params);

/* Parse and validate the header of an encoded chunk. Z4_ECORRUPT,
 * Z4_EUNSUPPORTED (unknown version), Z4_ETOOBIG (declared size). */
int z4_delta_info_read(z4_delta_info *out, const uint8_t *enc, size_t enc_len);

/*
 * Decode enc into dst (dst_len must equal the header's decoded_len).
 * For a delta, `base` holds the decoded base chunk (decoded_len bytes) and
 * is required; for a keyframe it is ignored. Verifies the XXH3-128.
 * Errors: Z4_ECORRUPT (any malformed or mismatching input), Z4_EINVAL
 * (dst_len mismatch, missing base), Z4_EUNSUPPORTED.
 * Also: a delta's base must hash to the header's base id (else
 * Z4_ECORRUPT); dst may be the very same buffer as base (a chain decodes in
 * place) but must not otherwise overlap base or enc; Z4_ENOMEM if scratch
 * cannot grow. On error dst holds garbage (and so does base if dst == base
 * and the error is found after the base check).
 */
int z4_delta_decode(uint8_t *dst, size_t dst_len, z4_delta_ctx *ctx,
		    const uint8_t *enc, size_t enc_len, const uint8_t *base);

/*
 * The same for a base whose id the caller already knows: base_id, which
 * the caller vouches is the id of base's bytes (it decoded and verified
 * them itself, e.g. the previous link of a chain), stands in for hashing
 * the base. A base id that does not match the header's is Z4_ECORRUPT as
 * before; the output is verified all the same.
 */
int z4_delta_decode_known(uint8_t *dst, size_t dst_len, z4_delta_ctx *ctx,
			  const uint8_t *enc, size_t enc_len,
			  const uint8_t *base, const z4_id *base_id);

/* Element size of a plane split for a dtype name ("BF16" -> 2); 1 for
 * anything unknown. */
unsigned z4_delta_elem_size(const char *dtype);

#endif
