/*
 * delta.c - the chunk codec: header, per-plane raw/zstd coding, the
 * delta-or-keyframe choice and the validating decoder.
 *
 * Encoded chunk, format 1 (docs/format-chunk.md has the byte table):
 *
 *   fixed header   32 bytes: "Z4C", version, flags, elem_size, depth u16,
 *                  decoded_len u64, id (XXH3-128 of the decoded bytes)
 *   base id        16 bytes, only when flags has FLAG_DELTA
 *   plane table    elem_size entries of 5 bytes: codec u8, stored_len u32
 *   payloads       plane 0 .. plane elem_size-1, back to back, nothing after
 *
 * Invariants the decoder enforces (parse()), so one validated header is
 * trusted afterwards: decoded_len <= Z4_DELTA_CHUNK_MAX and a multiple of
 * elem_size; a raw plane stores exactly decoded_len / elem_size bytes; a zstd
 * plane is one zstd frame strictly shorter than the raw plane; the stored
 * lengths add up to the rest of the buffer. Hence an encoding is never longer
 * than header + decoded_len, which is z4_delta_bound().
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem: zstd's heap via z4_malloc */

#include "z4_delta.h"

#include <assert.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "delta_planes.h"
#include "z4_alloc.h"
#include "z4_le.h"

/* Header layout (offsets in bytes). */
#define MAGIC "Z4C"
#define MAGIC_LEN 3
#define OFF_VERSION 3
#define OFF_FLAGS 4
#define OFF_ELEM 5
#define OFF_DEPTH 6
#define OFF_LEN 8
#define OFF_ID 16
#define HDR_FIXED 32 /* base id or plane table starts here */
#define HDR_BASE Z4_ID_LEN
#define HDR_PLANE 5 /* codec u8 + stored_len u32 */
#define HDR_MAX (HDR_FIXED + HDR_BASE + HDR_PLANE * 8)

#define FLAG_DELTA 0x01u

#define CODEC_RAW 0
#define CODEC_ZSTD 1

#define ZSTD_LEVEL_DEFAULT 1 /* measured: on byte planes level 1 is faster and smaller than 3 */
/* Shorter planes are stored raw: a zstd frame costs ~10 bytes of overhead,
 * so trying it would save nothing worth the call. */
#define ZSTD_MIN_PLANE 32

/* Internal to this file: a candidate encoding does not fit its budget. */
#define OVER 1

struct z4_delta_ctx {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	/* Encode: the split (and XORed) planes. Decode: zstd planes. */
	uint8_t *planes;
	size_t planes_cap;
	/* Encode with a base: the keyframe candidate. */
	uint8_t *kf;
	size_t kf_cap;
};

/* ---- ids ---- */

void z4_delta_id(z4_id *out, const void *data, size_t len)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(len ? data : "", len));
	memcpy(out->b, c.digest, Z4_ID_LEN);
}

void z4_id_hex(char out[33], const z4_id *id)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < Z4_ID_LEN; i++) {
		out[2 * i] = digits[id->b[i] >> 4];
		out[2 * i + 1] = digits[id->b[i] & 15];
	}
	out[2 * Z4_ID_LEN] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int z4_id_parse(z4_id *out, const char *hex)
{
	z4_id id;

	memset(out, 0, sizeof(*out));
	if (!hex)
		return Z4_EINVAL;
	/* Stops at the first non-hex char, so hex[32] is read only when the
	 * 32 before it exist. */
	for (int i = 0; i < 2 * Z4_ID_LEN; i++) {
		int v = hex_value(hex[i]);
		if (v < 0)
			return Z4_EINVAL;
		if (i % 2 == 0)
			id.b[i / 2] = (uint8_t)(v << 4);
		else
			id.b[i / 2] |= (uint8_t)v;
	}
	if (hex[2 * Z4_ID_LEN] != '\0')
		return Z4_EINVAL;
	*out = id;
	return Z4_OK;
}

static int id_equal(const z4_id *a, const z4_id *b)
{
	return memcmp(a->b, b->b, Z4_ID_LEN) == 0;
}

unsigned z4_delta_elem_size(const char *dtype)
{
	static const struct {
		const char *name;
		unsigned size;
	} sizes[] = {
		{"BF16", 2}, {"F16", 2}, {"I16", 2}, {"U16", 2},
		{"F32", 4},  {"I32", 4}, {"U32", 4},
		{"F64", 8},  {"I64", 8}, {"U64", 8},
	};

	if (!dtype)
		return 1;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (strcmp(dtype, sizes[i].name) == 0)
			return sizes[i].size;
	return 1;
}

/* ---- context ---- */

static void *zstd_alloc(void *opaque, size_t size)
{
	(void)opaque;
	return z4_malloc(size);
}

static void zstd_free(void *opaque, void *p)
{
	(void)opaque;
	z4_free(p);
}

static const ZSTD_customMem zstd_mem = {zstd_alloc, zstd_free, NULL};

z4_delta_ctx *z4_delta_ctx_new(void)
{
	z4_delta_ctx *ctx = z4_calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->cctx = ZSTD_createCCtx_advanced(zstd_mem);
	ctx->dctx = ZSTD_createDCtx_advanced(zstd_mem);
	if (!ctx->cctx || !ctx->dctx)
		goto fail;
	/* Our own XXH3 covers the whole chunk; the frame size is checked
	 * against the header before decompressing. */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(ctx->cctx,
						ZSTD_c_checksumFlag, 0)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(ctx->cctx,
						ZSTD_c_contentSizeFlag, 1)))
		goto fail;
	return ctx;
fail:
	z4_delta_ctx_free(ctx);
	return NULL;
}

void z4_delta_ctx_free(z4_delta_ctx *ctx)
{
	if (!ctx)
		return;
	ZSTD_freeCCtx(ctx->cctx);
	ZSTD_freeDCtx(ctx->dctx);
	z4_free(ctx->planes);
	z4_free(ctx->kf);
	z4_free(ctx);
}

/*
 * Make *buf hold at least `need` bytes (contents not kept). Callers have
 * capped `need` at HDR_MAX + Z4_DELTA_CHUNK_MAX, so scratch stays bounded
 * whatever a header claims; rounding up to 64 KiB spares a reallocation
 * for every slightly larger chunk.
 */
static int scratch(uint8_t **buf, size_t *cap, size_t need)
{
	const size_t round = 64u << 10;

	assert(need <= HDR_MAX + (size_t)Z4_DELTA_CHUNK_MAX);
	if (need <= *cap)
		return Z4_OK;
	need = (need + round - 1) / round * round;
	z4_free(*buf);
	*cap = 0;
	*buf = z4_malloc(need);
	if (!*buf)
		return Z4_ENOMEM;
	*cap = need;
	return Z4_OK;
}

/* ---- header ---- */

static int elem_size_valid(unsigned e)
{
	return e == 1 || e == 2 || e == 4 || e == 8;
}

static size_t header_len(unsigned elem_size, int is_delta)
{
	return HDR_FIXED + (is_delta ? HDR_BASE : 0) + HDR_PLANE * elem_size;
}

typedef struct {
	uint8_t codec[8];
	uint32_t stored[8];
} plane_table;

/* Validates everything but the payload contents; see the file comment. */
static int parse(z4_delta_info *out, plane_table *tab, const uint8_t *enc,
		 size_t enc_len)
{
	z4_delta_info info;
	const uint8_t *t;
	uint64_t len, total = 0;
	unsigned flags, e, depth;
	size_t m;

	memset(&info, 0, sizeof(info));
	if (!enc || enc_len < OFF_VERSION + 1 ||
	    memcmp(enc, MAGIC, MAGIC_LEN) != 0)
		return Z4_ECORRUPT;
	if (enc[OFF_VERSION] != Z4_DELTA_FORMAT)
		return Z4_EUNSUPPORTED;
	if (enc_len < HDR_FIXED)
		return Z4_ECORRUPT;
	flags = enc[OFF_FLAGS];
	e = enc[OFF_ELEM];
	depth = z4_le16(enc + OFF_DEPTH);
	len = z4_le64(enc + OFF_LEN);
	if ((flags & ~FLAG_DELTA) || !elem_size_valid(e))
		return Z4_ECORRUPT;
	if (len > Z4_DELTA_CHUNK_MAX)
		return Z4_ETOOBIG;
	if (len % e)
		return Z4_ECORRUPT;
	info.is_delta = (flags & FLAG_DELTA) != 0;
	if (info.is_delta ? (depth == 0 || depth > Z4_DELTA_DEPTH_MAX)
			  : depth != 0)
		return Z4_ECORRUPT;
	info.header_len = header_len(e, info.is_delta);
	if (enc_len < info.header_len)
		return Z4_ECORRUPT;
	memcpy(info.id.b, enc + OFF_ID, Z4_ID_LEN);
	if (info.is_delta) {
		memcpy(info.base.b, enc + HDR_FIXED, Z4_ID_LEN);
		/* A chunk cannot be stored against itself. */
		if (id_equal(&info.id, &info.base))
			return Z4_ECORRUPT;
	}
	m = (size_t)len / e;
	t = enc + info.header_len - HDR_PLANE * e;
	for (unsigned k = 0; k < e; k++, t += HDR_PLANE) {
		uint32_t s = z4_le32(t + 1);
		if (t[0] == CODEC_RAW) {
			if (s != m)
				return Z4_ECORRUPT;
		} else if (t[0] == CODEC_ZSTD) {
			if (s == 0 || s >= m)
				return Z4_ECORRUPT;
		} else {
			return Z4_ECORRUPT;
		}
		tab->codec[k] = t[0];
		tab->stored[k] = s;
		total += s;
	}
	if (total != enc_len - info.header_len)
		return Z4_ECORRUPT;
	info.version = Z4_DELTA_FORMAT;
	info.elem_size = e;
	info.depth = depth;
	info.decoded_len = (size_t)len;
	*out = info;
	return Z4_OK;
}

int z4_delta_info_read(z4_delta_info *out, const uint8_t *enc, size_t enc_len)
{
	plane_table tab;

	memset(out, 0, sizeof(*out));
	return parse(out, &tab, enc, enc_len);
}

static void put_header(uint8_t *out, unsigned elem_size, unsigned depth,
		       size_t len, const z4_id *id, const z4_id *base_id)
{
	memcpy(out, MAGIC, MAGIC_LEN);
	out[OFF_VERSION] = Z4_DELTA_FORMAT;
	out[OFF_FLAGS] = base_id ? FLAG_DELTA : 0;
	out[OFF_ELEM] = (uint8_t)elem_size;
	z4_put16(out + OFF_DEPTH, (uint16_t)depth);
	z4_put64(out + OFF_LEN, len);
	memcpy(out + OFF_ID, id->b, Z4_ID_LEN);
	if (base_id)
		memcpy(out + HDR_FIXED, base_id->b, Z4_ID_LEN);
}

/* ---- encode ---- */

size_t z4_delta_bound(size_t src_len, unsigned elem_size)
{
	size_t hdr = header_len(elem_size_valid(elem_size) ? elem_size : 8, 1);
	size_t total;

	return z4_add_overflow(&total, src_len, hdr) ? SIZE_MAX : total;
}

/*
 * Store one plane of m bytes at out (room bytes available): zstd when the
 * estimate says it may pay and the frame comes out strictly shorter, else
 * raw. Capping zstd's output at what would still win (and fit) lets it give
 * up early instead of finishing a useless frame. OVER when even the chosen
 * form does not fit in room.
 */
static int put_plane(uint8_t *codec, size_t *stored, uint8_t *out,
		     size_t room, ZSTD_CCtx *cctx, const uint8_t *plane,
		     size_t m)
{
	if (m >= ZSTD_MIN_PLANE && !z4_delta_looks_random(plane, m)) {
		size_t cap = m - 1 < room ? m - 1 : room;
		size_t r = ZSTD_compress2(cctx, out, cap, plane, m);
		if (!ZSTD_isError(r)) {
			*codec = CODEC_ZSTD;
			*stored = r;
			return Z4_OK;
		}
		if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
			return Z4_ENOMEM;
		if (ZSTD_getErrorCode(r) != ZSTD_error_dstSize_tooSmall)
			return Z4_EINVAL;
	}
	if (m > room)
		return OVER;
	if (m)
		memcpy(out, plane, m);
	*codec = CODEC_RAW;
	*stored = m;
	return Z4_OK;
}

/* Fill the plane table and payloads after a header of hlen bytes already at
 * out; OVER if the whole encoding would exceed budget bytes. */
static int put_planes(size_t *out_len, uint8_t *out, size_t hlen,
		      size_t budget, ZSTD_CCtx *cctx,
		      const uint8_t *const planes[], size_t m,
		      unsigned elem_size)
{
	uint8_t *t = out + hlen - HDR_PLANE * elem_size;
	size_t pos = hlen;

	if (hlen > budget)
		return OVER;
	for (unsigned k = 0; k < elem_size; k++, t += HDR_PLANE) {
		uint8_t codec;
		size_t stored;
		int rc = put_plane(&codec, &stored, out + pos, budget - pos,
				   cctx, planes[k], m);
		if (rc != Z4_OK)
			return rc;
		t[0] = codec;
		z4_put32(t + 1, (uint32_t)stored);
		pos += stored;
	}
	*out_len = pos;
	return Z4_OK;
}

/*
 * Point planes[] at the elem_size planes of src (XORed with base when
 * given): src itself for a keyframe of single bytes, else ctx->planes,
 * which the caller has sized to src_len.
 */
static void make_planes(const uint8_t *planes[8], z4_delta_ctx *ctx,
			const uint8_t *src, const uint8_t *base, size_t m,
			unsigned elem_size)
{
	uint8_t *p[8];

	if (elem_size == 1 && !base) {
		planes[0] = src;
		return;
	}
	for (unsigned k = 0; k < elem_size; k++)
		planes[k] = p[k] = ctx->planes + k * m;
	if (elem_size == 1)
		z4_delta_xor(p[0], src, base, m);
	else
		z4_delta_planes_split(p, src, base, m, elem_size);
}

int z4_delta_encode(size_t *out_len, z4_delta_info *out_info, uint8_t *dst,
		    size_t dst_cap, z4_delta_ctx *ctx, const uint8_t *src,
		    size_t src_len, const z4_delta_params *params)
{
	const uint8_t *planes[8];
	const uint8_t *base;
	const z4_id *base_id;
	unsigned e, depth;
	size_t m, len, hlen;
	z4_id id;
	int level, rc;

	if (out_len)
		*out_len = 0;
	if (out_info)
		memset(out_info, 0, sizeof(*out_info));
	if (!out_len || !dst || !ctx || !params || (!src && src_len))
		return Z4_EINVAL;
	e = params->elem_size;
	if (!elem_size_valid(e) || src_len % e ||
	    src_len > Z4_DELTA_CHUNK_MAX ||
	    dst_cap < z4_delta_bound(src_len, e) ||
	    (params->base && !params->base_id))
		return Z4_EINVAL;
	level = params->zstd_level ? params->zstd_level : ZSTD_LEVEL_DEFAULT;
	/* A failed (budget-capped) compression leaves a session open. */
	ZSTD_CCtx_reset(ctx->cctx, ZSTD_reset_session_only);
	if (ZSTD_isError(ZSTD_CCtx_setParameter(
		    ctx->cctx, ZSTD_c_compressionLevel, level)))
		return Z4_EINVAL;

	m = src_len / e;
	z4_delta_id(&id, src, src_len);
	base = params->base;
	base_id = params->base_id;
	/* Too long a chain, or a chunk equal to its base (which would be a
	 * delta against itself): the keyframe is the only sound choice. */
	if (base && (params->base_depth >= Z4_DELTA_DEPTH_MAX ||
		     id_equal(&id, base_id)))
		base = NULL;
	if (!base)
		base_id = NULL;
	if (base || e > 1)
		Z4_TRY(scratch(&ctx->planes, &ctx->planes_cap, src_len));
	if (base)
		Z4_TRY(scratch(&ctx->kf, &ctx->kf_cap,
			       header_len(e, 0) + src_len));

	/* The first candidate (the delta if any) goes straight into dst,
	 * which has room for it whatever the data. */
	depth = base ? params->base_depth + 1 : 0;
	hlen = header_len(e, base != NULL);
	make_planes(planes, ctx, src, base, m, e);
	put_header(dst, e, depth, src_len, &id, base_id);
	rc = put_planes(&len, dst, hlen, dst_cap, ctx->cctx, planes, m, e);
	assert(rc != OVER);
	if (rc != Z4_OK)
		return rc;

	if (base) {
		/* The keyframe wins iff 16 * delta >= 15 * keyframe, i.e. it
		 * fits in floor(16 * delta / 15) bytes; beyond that budget
		 * its encoding stops early. */
		size_t budget = (16 * len) / 15;
		size_t klen;

		if (budget > ctx->kf_cap)
			budget = ctx->kf_cap;
		make_planes(planes, ctx, src, NULL, m, e);
		put_header(ctx->kf, e, 0, src_len, &id, NULL);
		rc = put_planes(&klen, ctx->kf, header_len(e, 0), budget,
				ctx->cctx, planes, m, e);
		if (rc < 0)
			return rc;
		if (rc == Z4_OK) {
			memcpy(dst, ctx->kf, klen);
			len = klen;
			base_id = NULL;
			depth = 0;
		}
	}

	*out_len = len;
	if (out_info) {
		out_info->version = Z4_DELTA_FORMAT;
		out_info->elem_size = e;
		out_info->depth = depth;
		out_info->is_delta = base_id != NULL;
		out_info->decoded_len = src_len;
		out_info->id = id;
		if (base_id)
			out_info->base = *base_id;
		out_info->header_len = header_len(e, base_id != NULL);
	}
	return Z4_OK;
}

/* ---- decode ---- */

/* Decompress one zstd plane of exactly m bytes into out; the frame must be
 * the whole payload and declare (if it declares) exactly m bytes. */
static int unzstd(ZSTD_DCtx *dctx, uint8_t *out, size_t m, const uint8_t *src,
		  size_t len)
{
	unsigned long long declared;
	size_t r;

	r = ZSTD_findFrameCompressedSize(src, len);
	if (ZSTD_isError(r) || r != len)
		return Z4_ECORRUPT;
	declared = ZSTD_getFrameContentSize(src, len);
	if (declared == ZSTD_CONTENTSIZE_ERROR ||
	    (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != m))
		return Z4_ECORRUPT;
	r = ZSTD_decompressDCtx(dctx, out, m, src, len);
	if (ZSTD_isError(r))
		return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation
			       ? Z4_ENOMEM
			       : Z4_ECORRUPT;
	return r == m ? Z4_OK : Z4_ECORRUPT;
}

int z4_delta_decode(uint8_t *dst, size_t dst_len, z4_delta_ctx *ctx,
		    const uint8_t *enc, size_t enc_len, const uint8_t *base)
{
	const uint8_t *planes[8];
	const uint8_t *payload;
	z4_delta_info info;
	plane_table tab;
	z4_merge_mode mode;
	unsigned e, n_zstd = 0;
	size_t m;
	z4_id got;

	if (!ctx)
		return Z4_EINVAL;
	Z4_TRY(parse(&info, &tab, enc, enc_len));
	if (dst_len != info.decoded_len || (!dst && dst_len) ||
	    (info.is_delta && !base))
		return Z4_EINVAL;
	/* The base id is in no hash of the output: check it here, so a
	 * damaged header (or the wrong base) is caught even when the data
	 * would still come out right. dst may be the base, so before any
	 * write. */
	if (info.is_delta) {
		z4_delta_id(&got, base, dst_len);
		if (!id_equal(&got, &info.base))
			return Z4_ECORRUPT;
	}
	e = info.elem_size;
	m = info.decoded_len / e;
	mode = !info.is_delta  ? Z4_MERGE_SET
	       : base == dst ? Z4_MERGE_XOR_INTO
			     : Z4_MERGE_XOR;

	payload = enc + info.header_len;
	if (e == 1 && tab.codec[0] == CODEC_ZSTD && mode != Z4_MERGE_XOR_INTO) {
		/* Straight into dst, then XOR in place: no scratch. */
		Z4_TRY(unzstd(ctx->dctx, dst, m, payload, tab.stored[0]));
		if (mode == Z4_MERGE_XOR)
			z4_delta_xor(dst, dst, base, m);
	} else {
		for (unsigned k = 0; k < e; k++)
			n_zstd += tab.codec[k] == CODEC_ZSTD;
		if (n_zstd)
			Z4_TRY(scratch(&ctx->planes, &ctx->planes_cap,
				       n_zstd * m));
		n_zstd = 0;
		for (unsigned k = 0; k < e; k++) {
			if (tab.codec[k] == CODEC_RAW) {
				planes[k] = payload;
			} else {
				uint8_t *p = ctx->planes + n_zstd++ * m;
				Z4_TRY(unzstd(ctx->dctx, p, m, payload,
					      tab.stored[k]));
				planes[k] = p;
			}
			payload += tab.stored[k];
		}
		if (m)
			z4_delta_planes_merge(dst, planes, base, m, e, mode);
	}

	z4_delta_id(&got, dst, dst_len);
	return id_equal(&got, &info.id) ? Z4_OK : Z4_ECORRUPT;
}
