/*
 * delta.c - the chunk codec: header, per-plane coding (raw, zstd, rANS
 * order-0 / order-1 / parent context), the delta-or-keyframe choice, the
 * group-scale keyframe (delta_group.h) and the validating decoder.
 * docs/format.md section 2 has the byte tables.
 *
 * Encoded chunk, format 2 (written), 3 (written for the transforms format 2
 * lacks, e.g. the group one with its own descriptor and stream table after
 * the transform byte, see parse_xform(), and for any chunk with a wide
 * order-0 plane, CODEC_RANSW) and 1 (still decoded):
 *
 *   fixed header   32 bytes: "Z4C", version, flags, elem_size, depth u16,
 *                  decoded_len u64, id (XXH3-128 of the decoded bytes)
 *   base id        16 bytes, only when flags has FLAG_DELTA
 *   transform      1 byte, format 2 and 3: 0 byte planes, 1 rotated planes
 *   plane table    elem_size entries of 5 bytes: codec u8, stored_len u32
 *   payloads       plane 0 .. plane elem_size-1, back to back, nothing after
 *
 * Invariants the decoder enforces (parse()), so one validated header is
 * trusted afterwards: decoded_len <= Z4_DELTA_CHUNK_MAX and a multiple of
 * elem_size; a raw plane stores exactly decoded_len / elem_size bytes; any
 * other plane is strictly shorter than the raw plane; a parent-context plane
 * only in a delta; a wide order-0 plane (format 3) only of WIDE_MIN_PLANE
 * bytes or more, and format 3 with transform 0 or 1 only with one; but in
 * format 6 (and only there, at least one) an escaped words' plane of
 * WIDE6_MIN_PLANE bytes or more; the stored lengths add up to the rest of
 * the buffer.
 * Hence an encoding is never longer than header + decoded_len, which is
 * z4_delta_bound(). Payload contents are validated by their decoders
 * (rans.c, zstd) and, in the end, by the id.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem: zstd's heap via z4_malloc */

#include "z4_hex.h"
#include "z4_delta.h"

#include <assert.h>
#include <string.h>
#include <xxhash.h>
#if defined(__x86_64__)
/* libxxhash's run-time pick of SSE2, AVX2 or AVX-512 for XXH3 (the plain
 * call is its SSE2 build): the same hash, ~3x the speed on AVX-512. */
#include <xxh_x86dispatch.h>
#endif
#include <zstd.h>
#include <zstd_errors.h>

#include "delta_group.h"
#include "delta_planes.h"
#include "delta_sub.h"
#include "rans.h"
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
#define HDR_XFORM 1 /* format 2: the transform byte */
#define HDR_PLANE 5 /* codec u8 + stored_len u32 */
#define HDR_GROUP 6 /* format 3, XFORM_GROUP: kind u8, log2g u8, n_exc u32 */
#define HDR_ESC 4   /* format 5, XFORM_ESC*: n_esc u32 */
#define HDR_MAX                                                                \
	(HDR_FIXED + HDR_BASE + HDR_XFORM + HDR_ESC + HDR_PLANE * MAX_STREAMS)
/* XFORM_GROUP streams: indices, 4 scale planes, elem_size exception planes */
#define GROUP_STREAMS(e) (5 + (e))
/* XFORM_ESC* streams: symbols, elem_size planes of the escaped words */
#define ESC_STREAMS(e) (1 + (e))
#define MAX_STREAMS ESC_STREAMS(8)

#define FLAG_DELTA 0x01u

#define CODEC_RAW 0
#define CODEC_ZSTD 1
#define CODEC_RANS0 2   /* format 2: rANS, order 0 per 64 KiB block */
#define CODEC_RANS1 3   /* format 2: rANS, order 1 */
#define CODEC_RANSP 4   /* format 2: rANS, context = the base's plane */
#define CODEC_RANSX 5   /* format 2: rANS, context = top-plane mix (below) */
/* Format 3: rANS order 0 per 64 KiB block over 32 interleaved states
 * (rans_wide.h), for planes of at least WIDE_MIN_PLANE bytes. */
#define CODEC_RANSW 6
/* Format 4: the context models of codecs 4 and 5 over 64 interleaved
 * states (Z4_RANS_WCTX), for planes of at least WIDE_MIN_PLANE bytes. */
#define CODEC_RANSPW 7
#define CODEC_RANSXW 8
#define CODEC_COUNT_V1 2
#define CODEC_COUNT_V2 6
#define CODEC_COUNT_V3 7
#define CODEC_COUNT_V4 9

/* Encoder only, never stored: the escape symbols' plan left to the exact
 * counts, the base's top plane as context or order 0
 * (z4_rans_encode_pairs() of ctx->esc_pairs). */
#define CODEC_PICK_SIDE 0xff

/* Whose context a plane's codec takes: the base's co-located plane, the
 * mix plane (make_mix), or none. */
#define SIDE_CODEC(c) ((c) == CODEC_RANSP || (c) == CODEC_RANSPW)
#define MIX_CODEC(c) ((c) == CODEC_RANSX || (c) == CODEC_RANSXW)
#define WIDE_CODEC(c)                                                          \
	((c) == CODEC_RANSW || (c) == CODEC_RANSPW || (c) == CODEC_RANSXW)

#define XFORM_PLANES 0
#define XFORM_ROT 1 /* words rotated left one bit before the split */
#define XFORM_GROUP 2 /* format 3: group scales + indices (delta_group.h) */
/* Format 3, deltas of floats: arithmetic difference (delta_sub.h) split
 * into plain planes; the base's planes (contexts) split as 0 or 1. */
#define XFORM_SUB 3
#define XFORM_SUB_ROT 4
/* Format 5, deltas of floats: the arithmetic delta z as one symbol a word,
 * min(z, ESC_SYM), whose context is the base's top plane (split as 0 or
 * 1), and the escaped words (z >= ESC_SYM) in plain planes. */
#define XFORM_ESC 5
#define XFORM_ESC_ROT 6
#define XFORM_COUNT 7
#define ROT_XFORM(x)                                                           \
	((x) == XFORM_ROT || (x) == XFORM_SUB_ROT || (x) == XFORM_ESC_ROT)
#define ESC_XFORM(x) ((x) == XFORM_ESC || (x) == XFORM_ESC_ROT)
#define ESC_SYM Z4_SUB_ESC

#define ZSTD_LEVEL_DEFAULT 1 /* measured: on byte planes level 1 is faster and smaller than 3 */
/* Shorter planes are stored raw: a zstd frame costs ~10 bytes of overhead,
 * so trying it would save nothing worth the call. */
#define ZSTD_MIN_PLANE 32
/* Context models pay 32 bytes of bitmap and a table per context: below this
 * many symbols order 0 always wins. */
#define CTX_MIN_PLANE 4096
/* Order 0 planes this long code as CODEC_RANSW: 112 more bytes of states per
 * 64 KiB block buy a decoder several times faster. Context planes this long
 * code as CODEC_RANSPW / CODEC_RANSXW: 240 more bytes a plane. */
#define WIDE_MIN_PLANE (64u << 10)
/* Format 6: a wide order-0 plane (codec 6) from 4 KiB, for the escaped
 * words' planes of the escape form (its other wide codecs still from
 * WIDE_MIN_PLANE). */
#define WIDE6_MIN_PLANE (4u << 10)
/* A codec 6 plane only format 6 can say. */
#define SHORT_WIDE(c, len) ((c) == CODEC_RANSW && (len) < WIDE_MIN_PLANE)

/* Internal to this file: a candidate encoding does not fit its budget. */
#define OVER 1

struct z4_delta_ctx {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	z4_rans_work *rw;
	/* Encode: the planes of src, of the base and of their XOR. Decode:
	 * coded planes, then the base's planes (parent context). */
	uint8_t *planes;
	size_t planes_cap;
	/* Encode: a second candidate for one plane. */
	uint8_t *kf;
	size_t kf_cap;
	/* Encode: the group-scale candidate's streams (plan_group). */
	uint8_t *grp;
	size_t grp_cap;
	/* Encode: the arithmetic delta's words (make_sub). */
	uint8_t *sub;
	size_t sub_cap;
	/* Encode: the escape candidate's streams (plan_esc). */
	uint8_t *esc;
	size_t esc_cap;
	/* Encode: its symbols' context pairs and their contexts' range
	 * (plan_esc), which put_plane() codes for CODEC_PICK_SIDE. */
	const uint16_t *esc_pairs;
	unsigned esc_lo, esc_hi;
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


int z4_id_parse(z4_id *out, const char *hex)
{
	z4_id id;

	memset(out, 0, sizeof(*out));
	if (!hex)
		return Z4_EINVAL;
	/* Stops at the first non-hex char, so hex[32] is read only when the
	 * 32 before it exist. */
	for (int i = 0; i < 2 * Z4_ID_LEN; i++) {
		int v = z4_hex_digit(hex[i]);
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

unsigned z4_delta_dtype(const char *name)
{
	static const char *const names[Z4_DELTA_DT_COUNT] = {
		[Z4_DELTA_DT_BF16] = "BF16", [Z4_DELTA_DT_F16] = "F16",
		[Z4_DELTA_DT_F32] = "F32",   [Z4_DELTA_DT_F64] = "F64",
		[Z4_DELTA_DT_F8_E4M3] = "F8_E4M3",
		[Z4_DELTA_DT_F8_E5M2] = "F8_E5M2",
		[Z4_DELTA_DT_INT] = NULL,
	};
	static const char *const ints[] = {"BOOL", "U8",  "I8",  "I16", "U16",
					   "I32",  "U32", "I64", "U64"};

	if (!name)
		return Z4_DELTA_DT_BYTES;
	for (unsigned i = 0; i < Z4_DELTA_DT_COUNT; i++)
		if (names[i] && strcmp(name, names[i]) == 0)
			return i;
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		if (strcmp(name, ints[i]) == 0)
			return Z4_DELTA_DT_INT;
	return Z4_DELTA_DT_BYTES;
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
	ctx->rw = z4_rans_work_new();
	if (!ctx->cctx || !ctx->dctx || !ctx->rw)
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
	z4_rans_work_free(ctx->rw);
	z4_free(ctx->planes);
	z4_free(ctx->kf);
	z4_free(ctx->grp);
	z4_free(ctx->sub);
	z4_free(ctx->esc);
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

	assert(need <= 5 * (HDR_MAX + (size_t)Z4_DELTA_CHUNK_MAX));
	if (*buf && need <= *cap)
		return Z4_OK;
	/* Even for nothing a round: callers always get a pointer, since
	 * planes of an empty chunk are NULL + 0 otherwise (undefined). */
	need = need ? (need + round - 1) / round * round : round;
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

static size_t header_len_v(unsigned version, unsigned elem_size, int is_delta)
{
	return HDR_FIXED + (is_delta ? HDR_BASE : 0) +
	       (version >= 2 ? HDR_XFORM : 0) + HDR_PLANE * elem_size;
}

static size_t header_len(unsigned elem_size, int is_delta)
{
	return header_len_v(2, elem_size, is_delta);
}

static size_t group_header_len(unsigned elem_size)
{
	return HDR_FIXED + HDR_XFORM + HDR_GROUP +
	       HDR_PLANE * GROUP_STREAMS(elem_size);
}

static size_t esc_header_len(unsigned elem_size)
{
	return HDR_FIXED + HDR_BASE + HDR_XFORM + HDR_ESC +
	       HDR_PLANE * ESC_STREAMS(elem_size);
}

/* What follows the fixed header: the transform and one entry per stored
 * stream with its decoded length (a plane: m bytes; XFORM_GROUP: see
 * GROUP_STREAMS). */
typedef struct {
	unsigned xform, n;
	unsigned kind, log2g; /* XFORM_GROUP */
	size_t n_exc;         /* XFORM_GROUP exceptions, XFORM_ESC* escapes */
	uint8_t codec[MAX_STREAMS];
	uint32_t stored[MAX_STREAMS];
	size_t len[MAX_STREAMS];
} plane_table;

static size_t group_count(size_t m, unsigned log2g)
{
	return (m + ((size_t)1 << log2g) - 1) >> log2g;
}

/* The transform byte and, for XFORM_GROUP and XFORM_ESC*, its descriptor
 * at enc[*pos]. */
static int parse_xform(plane_table *tab, size_t *pos, const uint8_t *enc,
		       size_t enc_len, const z4_delta_info *info, size_t m)
{
	unsigned e = info->elem_size;

	if (enc_len < *pos + HDR_XFORM)
		return Z4_ECORRUPT;
	tab->xform = enc[(*pos)++];
	/* Format 3 is the transforms format 2 lacks, or format 2's with a
	 * CODEC_RANSW plane (parse() checks). */
	if (tab->xform >= XFORM_COUNT ||
	    (tab->xform >= XFORM_GROUP && info->version < 3) ||
	    (ESC_XFORM(tab->xform) && info->version < 5) ||
	    (tab->xform == XFORM_ROT && e == 1) ||
	    (tab->xform >= XFORM_SUB && (e == 1 || !info->is_delta)))
		return Z4_ECORRUPT;
	if (ESC_XFORM(tab->xform)) {
		if (enc_len < *pos + HDR_ESC)
			return Z4_ECORRUPT;
		tab->n_exc = z4_le32(enc + *pos);
		*pos += HDR_ESC;
		if (tab->n_exc > m)
			return Z4_ECORRUPT;
		tab->n = ESC_STREAMS(e);
		for (unsigned k = 1; k < tab->n; k++)
			tab->len[k] = tab->n_exc;
		return Z4_OK;
	}
	if (tab->xform != XFORM_GROUP)
		return Z4_OK;
	if (info->is_delta || enc_len < *pos + HDR_GROUP)
		return Z4_ECORRUPT;
	tab->kind = enc[*pos];
	tab->log2g = enc[*pos + 1];
	tab->n_exc = z4_le32(enc + *pos + 2);
	*pos += HDR_GROUP;
	if (tab->kind >= Z4_GROUP_KINDS || z4_group_elem_size(tab->kind) != e ||
	    tab->log2g < Z4_GROUP_LOG2_MIN || tab->log2g > Z4_GROUP_LOG2_MAX ||
	    tab->n_exc > m)
		return Z4_ECORRUPT;
	tab->n = GROUP_STREAMS(e);
	for (unsigned k = 1; k < 5; k++)
		tab->len[k] = group_count(m, tab->log2g);
	for (unsigned k = 5; k < tab->n; k++)
		tab->len[k] = tab->n_exc;
	return Z4_OK;
}

/* Validates everything but the payload contents; see the file comment. */
static int parse(z4_delta_info *out, plane_table *tab, const uint8_t *enc,
		 size_t enc_len)
{
	z4_delta_info info;
	const uint8_t *t;
	uint64_t len, total = 0;
	unsigned flags, e, depth, version, n_codecs, n_wide = 0, n_wctx = 0;
	unsigned n_short = 0;
	size_t m, pos;

	memset(&info, 0, sizeof(info));
	memset(tab, 0, sizeof(*tab));
	if (!enc || enc_len < OFF_VERSION + 1 ||
	    memcmp(enc, MAGIC, MAGIC_LEN) != 0)
		return Z4_ECORRUPT;
	version = enc[OFF_VERSION];
	if (version < Z4_DELTA_FORMAT_MIN || version > Z4_DELTA_FORMAT)
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
	info.version = version;
	info.elem_size = e;
	info.is_delta = (flags & FLAG_DELTA) != 0;
	if (info.is_delta ? (depth == 0 || depth > Z4_DELTA_DEPTH_MAX)
			  : depth != 0)
		return Z4_ECORRUPT;
	pos = HDR_FIXED + (info.is_delta ? HDR_BASE : 0);
	if (enc_len < pos)
		return Z4_ECORRUPT;
	memcpy(info.id.b, enc + OFF_ID, Z4_ID_LEN);
	if (info.is_delta) {
		memcpy(info.base.b, enc + HDR_FIXED, Z4_ID_LEN);
		/* A chunk cannot be stored against itself. */
		if (id_equal(&info.id, &info.base))
			return Z4_ECORRUPT;
	}
	m = (size_t)len / e;
	tab->xform = XFORM_PLANES;
	tab->n = e;
	for (unsigned k = 0; k < MAX_STREAMS; k++)
		tab->len[k] = m;
	if (version >= 2)
		Z4_TRY(parse_xform(tab, &pos, enc, enc_len, &info, m));
	info.header_len = pos + HDR_PLANE * tab->n;
	if (enc_len < info.header_len)
		return Z4_ECORRUPT;
	t = enc + pos;
	n_codecs = version >= 4	  ? CODEC_COUNT_V4
		   : version >= 3 ? CODEC_COUNT_V3
		   : version >= 2 ? CODEC_COUNT_V2
				  : CODEC_COUNT_V1;
	for (unsigned k = 0; k < tab->n; k++, t += HDR_PLANE) {
		uint32_t s = z4_le32(t + 1);
		if (t[0] >= n_codecs ||
		    ((SIDE_CODEC(t[0]) || MIX_CODEC(t[0])) &&
		     !info.is_delta) ||
		    (MIX_CODEC(t[0]) && k == e - 1) ||
		    (ESC_XFORM(tab->xform) &&
		     (MIX_CODEC(t[0]) || (SIDE_CODEC(t[0]) && k > 0))) ||
		    (WIDE_CODEC(t[0]) && tab->len[k] < WIDE_MIN_PLANE &&
		     !(SHORT_WIDE(t[0], tab->len[k]) && version >= 6 &&
		       ESC_XFORM(tab->xform) && k > 0 &&
		       tab->len[k] >= WIDE6_MIN_PLANE)))
			return Z4_ECORRUPT;
		if (t[0] == CODEC_RAW ? s != tab->len[k]
				      : (s == 0 || s >= tab->len[k]))
			return Z4_ECORRUPT;
		tab->codec[k] = t[0];
		tab->stored[k] = s;
		n_wide += t[0] == CODEC_RANSW;
		n_short += SHORT_WIDE(t[0], tab->len[k]);
		n_wctx += t[0] == CODEC_RANSPW || t[0] == CODEC_RANSXW;
		total += s;
	}
	/* One version per encoding: the oldest that can say it. */
	if (version >= 3 &&
	    version != (n_short				      ? 6u
			: ESC_XFORM(tab->xform)		      ? 5u
			: n_wctx			      ? 4u
			: tab->xform >= XFORM_GROUP || n_wide ? 3u
							      : 2u))
		return Z4_ECORRUPT;
	if (total != enc_len - info.header_len)
		return Z4_ECORRUPT;
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

/* The fixed header, base id and transform byte; returns where the stream
 * table starts. Format 2, or 3 for XFORM_GROUP (set_version() makes a
 * format 2 header 3 when a stream turns out CODEC_RANSW). */
static size_t put_header(uint8_t *out, unsigned elem_size, unsigned depth,
			 size_t len, const z4_id *id, const z4_id *base_id,
			 unsigned xform)
{
	size_t pos = HDR_FIXED;

	memcpy(out, MAGIC, MAGIC_LEN);
	out[OFF_VERSION] = xform >= XFORM_GROUP ? 3 : 2;
	out[OFF_FLAGS] = base_id ? FLAG_DELTA : 0;
	out[OFF_ELEM] = (uint8_t)elem_size;
	z4_put16(out + OFF_DEPTH, (uint16_t)depth);
	z4_put64(out + OFF_LEN, len);
	memcpy(out + OFF_ID, id->b, Z4_ID_LEN);
	if (base_id) {
		memcpy(out + pos, base_id->b, Z4_ID_LEN);
		pos += HDR_BASE;
	}
	out[pos++] = (uint8_t)xform;
	return pos;
}

/* A format 2 header whose stream table (n entries at pos) has a
 * CODEC_RANSW stream becomes format 3, one with a wide context stream
 * format 4: the layout is the same. */
static void set_version(uint8_t *out, size_t pos, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		uint8_t c = out[pos + HDR_PLANE * k];
		if (c == CODEC_RANSW && out[OFF_VERSION] < 3)
			out[OFF_VERSION] = 3;
		if (c == CODEC_RANSPW || c == CODEC_RANSXW)
			out[OFF_VERSION] = 4;
	}
}

/* ---- encode ---- */

size_t z4_delta_bound(size_t src_len, unsigned elem_size)
{
	size_t hdr = header_len(elem_size_valid(elem_size) ? elem_size : 8, 1);
	size_t total;

	return z4_add_overflow(&total, src_len, hdr) ? SIZE_MAX : total;
}

static int is_float(unsigned dt)
{
	return dt == Z4_DELTA_DT_BF16 || dt == Z4_DELTA_DT_F16 ||
	       dt == Z4_DELTA_DT_F32 || dt == Z4_DELTA_DT_F64 ||
	       dt == Z4_DELTA_DT_F8_E4M3 || dt == Z4_DELTA_DT_F8_E5M2;
}

/*
 * Rotation puts a float's whole exponent in the top plane: bf16 (8-bit
 * exponent in bits 14..7), fp32 (30..23), fp64 (62..52). fp16's exponent
 * (bits 14..10) already sits in the top byte, fp8 is one byte.
 */
static unsigned pick_xform(unsigned dt, unsigned e)
{
	if ((dt == Z4_DELTA_DT_BF16 && e == 2) ||
	    (dt == Z4_DELTA_DT_F32 && e == 4) ||
	    (dt == Z4_DELTA_DT_F64 && e == 8))
		return XFORM_ROT;
	return XFORM_PLANES;
}

/* The plan for one plane: a codec and its estimated stored size. */
typedef struct {
	uint8_t codec;
	size_t est;
} plane_plan;

/*
 * Whether plane p (m bytes, of which the estimates' sample is filled)
 * looks like noise at a glance: 512 bytes at the start of each of the
 * sample's runs within 1/64 of raw by their order-0 entropy (no table
 * cost, which would weigh 10% on 4 KiB). Such a plane is stored raw
 * without the full estimate (32 KiB counted, contexts perhaps): float
 * mantissa planes, a keyframe's or a delta's. On the A series' step
 * pairs (bf16, fp32, Adam; early and late) the output stayed the same.
 */
#define QUICK_RUN 512u

/* Whether the QUICK_RUN bytes at p + r * step, r < runs (at most 8),
 * are within 1/64 of raw by their order-0 entropy. */
static int noise_runs(z4_rans_work *rw, const uint8_t *p, size_t runs,
		      size_t step)
{
	uint8_t q[QUICK_RUN * 8];
	size_t n = 0;

	for (size_t r = 0; r < runs; r++, n += QUICK_RUN)
		memcpy(q + n, p + r * step, QUICK_RUN);
	return z4_rans_entropy0(rw, q, n) >= n - n / 64;
}

static int looks_raw(z4_rans_work *rw, const uint8_t *p, size_t m)
{
	size_t runs, step, run;

	/* Only where the sample is runs spread over a plane (over 32 KiB):
	 * a shorter one is estimated whole, 512 bytes being too few. */
	z4_rans_sample(m, &runs, &step, &run);
	if (runs < 2 || runs > 8 || run < QUICK_RUN)
		return 0;
	return noise_runs(rw, p, runs, step);
}

/* Choose by estimate among raw and the rANS models (parent context only
 * with a side plane; order 1 only if o1). A plane that would not shrink by
 * 1/64 stays raw. */
static plane_plan plan_plane(z4_rans_work *rw, const uint8_t *plane, size_t m,
			     const uint8_t *side, const uint8_t *mix, int o1)
{
	plane_plan p = {CODEC_RAW, m};
	size_t est[3];

	if (m < ZSTD_MIN_PLANE || looks_raw(rw, plane, m))
		return p;
	if (m < CTX_MIN_PLANE || (!o1 && !side)) {
		/* Order 0 alone: est[1], est[2] are SIZE_MAX. */
		z4_rans_estimate_no_o1(est, rw, plane, m, NULL);
	} else if (side) {
		/* A delta's plane: order 1 is not even estimated. Against the
		 * parent's plane (and the mix) it won no plane of any series
		 * measured (docs/codec.md), and it has no wide form. */
		z4_rans_estimate_no_o1(est, rw, plane, m, side);
	} else {
		z4_rans_estimate(est, rw, plane, m, NULL);
	}
	if (est[0] < p.est - m / 64) {
		p.codec = CODEC_RANS0;
		p.est = est[0];
	}
	/* A context model must beat order 0 by 1/32 to pay its slower decode. */
	if (est[1] < p.est - p.est / 32 && est[1] < m - m / 64) {
		p.codec = CODEC_RANS1;
		p.est = est[1];
	}
	if (side && est[2] < p.est - p.est / 32 && est[2] < m - m / 64) {
		p.codec = CODEC_RANSP;
		p.est = est[2];
	}
	/* est[2] is SIZE_MAX when order 0 found the plane near random. */
	if (mix && m >= CTX_MIN_PLANE && est[2] != SIZE_MAX) {
		size_t ex = z4_rans_estimate_side(rw, plane, m, mix);
		if (ex < p.est - p.est / 32 && ex < m - m / 64) {
			p.codec = CODEC_RANSX;
			p.est = ex;
		}
	}
	/* After every choice, which thus stays what format 2 made. */
	if (m >= WIDE_MIN_PLANE)
		p.codec = p.codec == CODEC_RANS0   ? CODEC_RANSW
			  : p.codec == CODEC_RANSP ? CODEC_RANSPW
			  : p.codec == CODEC_RANSX ? CODEC_RANSXW
						   : p.codec;
	return p;
}

/*
 * The plan of an escaped words' plane, which needs no estimate (the
 * escape candidate is written before it is compared): raw if noise at a
 * glance (512 bytes at each of eight points, or the whole of a plane of
 * 4 KiB or less), else order 0, whose blocks enc_o0() stores raw where
 * coding does not pay, put_plane() the plane where it is not shorter;
 * wide from 4 KiB (format 6: its decode twice the narrow one's, for 112
 * bytes more of states; 0.03% on the A series' bf16 deltas).
 */
static plane_plan plan_escaped(z4_rans_work *rw, const uint8_t *plane,
			       size_t m)
{
	plane_plan p = {CODEC_RAW, m};
	int noise;

	if (m < ZSTD_MIN_PLANE)
		return p;
	if (m > 8 * QUICK_RUN)
		noise = noise_runs(rw, plane, 8, (m - QUICK_RUN) / 7);
	else
		noise = z4_rans_entropy0(rw, plane, m) >= m - m / 64;
	if (!noise)
		p.codec = m >= WIDE6_MIN_PLANE ? CODEC_RANSW : CODEC_RANS0;
	return p;
}

static int rans_model(uint8_t codec)
{
	return codec == CODEC_RANS0    ? Z4_RANS_O0
	       : codec == CODEC_RANSW  ? Z4_RANS_W0
	       : codec == CODEC_RANS1  ? Z4_RANS_O1
	       : codec == CODEC_RANSPW ? Z4_RANS_WCTX
	       : codec == CODEC_RANSXW ? Z4_RANS_WCTX
				       : Z4_RANS_CTX; /* RANSP, RANSX */
}

/* zstd into out (cap bytes): Z4_OK, OVER when it would not fit, errors. */
static int try_zstd(size_t *stored, uint8_t *out, size_t cap, ZSTD_CCtx *cctx,
		    const uint8_t *plane, size_t m)
{
	size_t r;

	if (!cap)
		return OVER;
	r = ZSTD_compress2(cctx, out, cap, plane, m);
	if (!ZSTD_isError(r)) {
		*stored = r;
		return Z4_OK;
	}
	/* A failed (capped) compression leaves a session open. */
	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
	if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
		return Z4_ENOMEM;
	if (ZSTD_getErrorCode(r) != ZSTD_error_dstSize_tooSmall)
		return Z4_EINVAL;
	return OVER;
}

/*
 * Store one plane of m bytes at out (room bytes available) as planned;
 * with `zstd` also try zstd and keep the shorter. Any coded form must be
 * strictly shorter than raw, else raw. OVER when nothing fits in room.
 */
static int put_plane(uint8_t *codec, size_t *stored, uint8_t *out,
		     size_t room, z4_delta_ctx *ctx, const uint8_t *plane,
		     size_t m, const uint8_t *side, plane_plan plan, int zstd)
{
	size_t cap = m ? (m - 1 < room ? m - 1 : room) : 0;
	size_t best = SIZE_MAX;
	int rc;

	*codec = CODEC_RAW;
	if (plan.codec == CODEC_PICK_SIDE) {
		int model, wide = m >= WIDE_MIN_PLANE;
		rc = z4_rans_encode_pairs(stored, &model, out, cap, ctx->rw,
					  plane, ctx->esc_pairs, m,
					  ctx->esc_lo, ctx->esc_hi, wide);
		if (rc < 0)
			return rc;
		if (rc == Z4_OK) {
			*codec = model == Z4_RANS_WCTX	 ? CODEC_RANSPW
				 : model == Z4_RANS_CTX ? CODEC_RANSP
				 : wide			 ? CODEC_RANSW
							 : CODEC_RANS0;
			best = *stored;
		}
	} else if (plan.codec != CODEC_RAW) {
		rc = z4_rans_encode(stored, out, cap, ctx->rw, plane, m,
				    rans_model(plan.codec), side);
		if (rc < 0)
			return rc;
		if (rc == Z4_OK) {
			*codec = plan.codec;
			best = *stored;
		}
	}
	if (zstd && m >= ZSTD_MIN_PLANE &&
	    (plan.codec != CODEC_RAW || !z4_delta_looks_random(plane, m))) {
		size_t zlen, zcap = best != SIZE_MAX ? best - 1 : cap;
		uint8_t *zout = best != SIZE_MAX ? ctx->kf : out;
		if (zcap > cap)
			zcap = cap;
		rc = try_zstd(&zlen, zout, zcap, ctx->cctx, plane, m);
		if (rc < 0)
			return rc;
		if (rc == Z4_OK) {
			if (zout != out)
				memcpy(out, zout, zlen);
			*codec = CODEC_ZSTD;
			*stored = zlen;
			best = zlen;
		}
	}
	if (best != SIZE_MAX)
		return Z4_OK;
	if (m > room)
		return OVER;
	if (m)
		memcpy(out, plane, m);
	*codec = CODEC_RAW;
	*stored = m;
	return Z4_OK;
}

/* Fill the stream table at out + pos (n entries) and the payloads after
 * it; OVER if the whole encoding would exceed budget bytes. */
static int put_planes(size_t *out_len, uint8_t *out, size_t pos, unsigned n,
		      size_t budget, z4_delta_ctx *ctx,
		      const uint8_t *const planes[], const size_t lens[],
		      const uint8_t *const sides[], const uint8_t *mix,
		      const plane_plan *plan, int zstd)
{
	uint8_t *t = out + pos;

	pos += HDR_PLANE * n;
	if (pos > budget)
		return OVER;
	for (unsigned k = 0; k < n; k++, t += HDR_PLANE) {
		uint8_t codec;
		size_t stored;
		const uint8_t c = plan[k].codec;
		const uint8_t *side = MIX_CODEC(c) ? mix : NULL;
		int rc;
		if (SIDE_CODEC(c))
			side = sides[k];
		rc = put_plane(&codec, &stored, out + pos, budget - pos, ctx,
			       planes[k], lens[k], side, plan[k], zstd);
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
 * The context plane of CODEC_RANSX: for each element, the base's top plane
 * byte (the exponent with transform 1) with bit 7 replaced by "the top
 * plane changed". Low planes of a delta are noise whose spread follows the
 * weight's magnitude and whether its exponent moved.
 */
static void make_mix(uint8_t *mix, const uint8_t *base_top,
		     const uint8_t *x_top, size_t m)
{
	for (size_t i = 0; i < m; i++)
		mix[i] = (uint8_t)((base_top[i] & 0x7f) | (x_top[i] != 0) << 7);
}

/* Split n elements of buf into the planes p[] (e > 1). */
static void split_n(uint8_t *const p[8], const uint8_t *buf, size_t n,
		    unsigned e, unsigned xform)
{
	if (ROT_XFORM(xform))
		z4_delta_planes_split_rot(p, buf, NULL, n, e);
	else
		z4_delta_planes_split(p, buf, NULL, n, e);
}

/* Split buf (m elements) into planes p[k] = dst + k * m; a single plane
 * is buf itself. */
static void split_into(const uint8_t *planes[8], uint8_t *dst,
		       const uint8_t *buf, size_t m, unsigned e,
		       unsigned xform)
{
	uint8_t *p[8];

	if (e == 1) {
		planes[0] = buf;
		return;
	}
	for (unsigned k = 0; k < e; k++)
		planes[k] = p[k] = dst + k * m;
	split_n(p, buf, m, e, xform);
}

/* Only plane e-1 of split_into(), at dst (m bytes), for a decode whose
 * contexts read no other (the mix context, a parent context on the top
 * plane). */
static void split_top(const uint8_t *planes[8], uint8_t *dst,
		      const uint8_t *buf, size_t m, unsigned e,
		      unsigned xform)
{
	planes[e - 1] = dst;
	z4_delta_planes_top(dst, buf, m, e, ROT_XFORM(xform));
}

/*
 * Plan the e planes p[] of a delta candidate, the base's planes bp[] their
 * parent context and mix (for the planes below the top one) their other
 * side plane, into plan[]: the estimated total with the header, or
 * SIZE_MAX as soon as that exceeds `bound` (the candidate has lost;
 * planning stops, low planes first as the largest).
 */
static size_t plan_delta(plane_plan plan[8], z4_rans_work *rw,
			 const uint8_t *const p[8], const uint8_t *const bp[8],
			 const uint8_t *mix, size_t m, unsigned e, size_t bound)
{
	size_t est = header_len(e, 1);

	for (unsigned k = 0; k < e; k++) {
		plan[k] = plan_plane(rw, p[k], m, bp[k], k < e - 1 ? mix : NULL,
				     0);
		est += plan[k].est;
		if (est > bound)
			return SIZE_MAX;
	}
	return est;
}

/*
 * The plane-form candidates of a delta, in ctx->planes (len = m e bytes):
 * the source's planes sp at 0, the base's bp at len, the XOR planes xp at
 * 2 len and their mix at 3 len, the arithmetic delta's planes zp at
 * 3 len + m and their mix after them; its words in ctx->sub. One byte
 * planes are the buffers themselves (no split, no mix, no arithmetic
 * delta). They are built over [a, a + n) only, by what (BUILD_*): the
 * planning reads the estimates' sample alone, and only the candidate
 * that wins is then built whole.
 */
typedef struct {
	const uint8_t *sp[8], *bp[8], *xp[8], *zp[8], *mix, *zmix;
} delta_cand;

#define BUILD_SRC 1u  /* sp */
#define BUILD_BASE 2u /* bp */
#define BUILD_XOR 4u  /* xp and mix (from sp and bp) */
#define BUILD_SUB 8u  /* the words, zp and zmix (bp's top plane) */

static void cand_layout(delta_cand *c, z4_delta_ctx *ctx,
			const uint8_t *src, const uint8_t *base, size_t m,
			unsigned e)
{
	const size_t len = m * e;
	uint8_t *p = ctx->planes;

	memset(c, 0, sizeof(*c));
	for (unsigned k = 0; k < e; k++) {
		c->sp[k] = e > 1 ? p + k * m : src;
		c->bp[k] = e > 1 ? p + len + k * m : base;
		c->xp[k] = p + 2 * len + k * m;
		c->zp[k] = p + 3 * len + m + k * m;
	}
	if (e > 1) {
		c->mix = p + 3 * len;
		c->zmix = p + 4 * len + m;
	}
}

static void cand_build(const delta_cand *c, z4_delta_ctx *ctx,
		       const uint8_t *src, const uint8_t *base, size_t m,
		       unsigned e, unsigned xform, unsigned what, size_t a,
		       size_t n)
{
	const size_t len = m * e;
	uint8_t *const pl = ctx->planes + a, *p[8];

	if (e > 1 && (what & BUILD_SRC)) {
		for (unsigned k = 0; k < e; k++)
			p[k] = pl + k * m;
		split_n(p, src + a * e, n, e, xform);
	}
	if (e > 1 && (what & BUILD_BASE)) {
		for (unsigned k = 0; k < e; k++)
			p[k] = pl + len + k * m;
		split_n(p, base + a * e, n, e, xform);
	}
	if (what & BUILD_XOR) {
		for (unsigned k = 0; k < e; k++)
			z4_delta_xor(pl + 2 * len + k * m, c->sp[k] + a,
				     c->bp[k] + a, n);
		if (e > 1)
			make_mix(pl + 3 * len, c->bp[e - 1] + a,
				 c->xp[e - 1] + a, n);
	}
	if (what & BUILD_SUB) {
		uint8_t *z = ctx->sub + a * e;
		z4_delta_sub(z, src + a * e, base + a * e, n, e);
		for (unsigned k = 0; k < e; k++)
			p[k] = pl + 3 * len + m + k * m;
		split_n(p, z, n, e, XFORM_PLANES);
		make_mix(pl + 4 * len + m, c->bp[e - 1] + a, c->zp[e - 1] + a,
			 n);
	}
}

/* cand_build() over the spans the estimates read (z4_rans_sample()), each
 * with the element before it. */
static void cand_build_sample(const delta_cand *c, z4_delta_ctx *ctx,
			      const uint8_t *src, const uint8_t *base,
			      size_t m, unsigned e, unsigned xform,
			      unsigned what)
{
	size_t runs, step, run;

	z4_rans_sample(m, &runs, &step, &run);
	for (size_t r = 0; r < runs; r++) {
		size_t at = r * step - (r > 0);
		cand_build(c, ctx, src, base, m, e, xform, what, at,
			   run + (r > 0));
	}
}

/*
 * The escape candidate of a float delta (XFORM_ESC*): its streams (in
 * ctx->esc), their plans and the estimated size but for the symbols';
 * est == SIZE_MAX: none.
 * More than one word in ESC_SHARE escaping is not tried: the escapes'
 * planes then cost more than one coded symbol a word saves.
 */
#define ESC_SHARE 4

typedef struct {
	size_t n_esc, est;
	const uint8_t *streams[MAX_STREAMS];
	size_t lens[MAX_STREAMS];
	plane_plan plan[MAX_STREAMS];
} esc_plan;

static uint64_t load_word(const uint8_t *p, unsigned e)
{
	return e == 2 ? z4_le16(p) : e == 4 ? z4_le32(p) : z4_le64(p);
}

/* The escape candidate of src against base, the symbols' contexts the
 * base's top plane as transform xform splits it (by their pairs: the
 * plane itself is never made). */
static int plan_esc(esc_plan *c, z4_delta_ctx *ctx, const uint8_t *src,
		    const uint8_t *base, size_t m, unsigned e, unsigned xform)
{
	const size_t lim = m / ESC_SHARE;
	const uint8_t *ep[8];
	z4_esc_out o;
	size_t n;

	c->est = SIZE_MAX;
	if (m < CTX_MIN_PLANE)
		return Z4_OK;
	/* pairs | symbols | escaped words | their planes */
	Z4_TRY(scratch(&ctx->esc, &ctx->esc_cap, 3 * m + 2 * lim * e));
	o.pairs = (uint16_t *)(void *)ctx->esc;
	o.s = ctx->esc + 2 * m;
	o.w = o.s + m;
	o.cap = lim;
	/* Data that escapes everywhere (fp32 weights) is given up as soon
	 * as more than lim words have. */
	n = z4_delta_sub_esc(&o, src, base, m, e, ROT_XFORM(xform));
	if (n > lim)
		return Z4_OK;
	ctx->esc_pairs = o.pairs;
	ctx->esc_lo = o.lo;
	ctx->esc_hi = o.hi;
	split_into(ep, o.w + lim * e, o.w, n, e, XFORM_PLANES);
	c->n_esc = n;
	c->streams[0] = o.s;
	c->lens[0] = m;
	/* The symbols' codec is left to their exact counts at put_esc(),
	 * which writes the candidate first: no estimate of them. */
	c->plan[0].codec = CODEC_PICK_SIDE;
	c->plan[0].est = 0;
	c->est = esc_header_len(e);
	for (unsigned k = 0; k < e; k++) {
		c->streams[1 + k] = ep[k];
		c->lens[1 + k] = n;
		/* Escapes are scattered: the one before is no context. */
		c->plan[1 + k] = plan_escaped(ctx->rw, ep[k], n);
		c->est += c->plan[1 + k].est;
	}
	return Z4_OK;
}

/* Write the escape candidate as a delta; it always fits (at most m / 4
 * escapes, m >= CTX_MIN_PLANE: below the bound even stored raw). */
static int put_esc(size_t *out_len, uint8_t *dst, size_t dst_cap,
		   z4_delta_ctx *ctx, const esc_plan *c, size_t src_len,
		   unsigned e, unsigned depth, const z4_id *id,
		   const z4_id *base_id, unsigned xform)
{
	const uint8_t *sides[MAX_STREAMS] = {NULL};
	size_t pos = put_header(dst, e, depth, src_len, id, base_id, xform);
	int rc;

	z4_put32(dst + pos, (uint32_t)c->n_esc);
	pos += HDR_ESC;
	rc = put_planes(out_len, dst, pos, ESC_STREAMS(e), dst_cap, ctx,
			c->streams, c->lens, sides, NULL, c->plan, 0);
	assert(rc != OVER);
	dst[OFF_VERSION] = 5;
	for (unsigned k = 1; k < ESC_STREAMS(e); k++)
		if (SHORT_WIDE(dst[pos + HDR_PLANE * k], c->lens[k]))
			dst[OFF_VERSION] = 6;
	return rc;
}

/* The group-scale candidate of a keyframe: its streams (in ctx->grp),
 * their plans and the estimated total. log2g == 0: no candidate. */
typedef struct {
	unsigned kind, log2g;
	size_t n_exc, est;
	const uint8_t *streams[MAX_STREAMS];
	size_t lens[MAX_STREAMS];
	plane_plan plan[MAX_STREAMS];
} group_plan;

static unsigned group_kind(unsigned dt, unsigned e)
{
	if (dt == Z4_DELTA_DT_BF16 && e == 2)
		return Z4_GROUP_BF16;
	if (dt == Z4_DELTA_DT_F16 && e == 2)
		return Z4_GROUP_F16;
	if (dt == Z4_DELTA_DT_F32 && e == 4)
		return Z4_GROUP_F32;
	return Z4_GROUP_KINDS;
}

static int plan_group(group_plan *g, z4_delta_ctx *ctx, const uint8_t *src,
		      size_t m, unsigned e, unsigned dt)
{
	const uint8_t *sp[8], *xp[8];
	uint32_t *scales;
	uint8_t *p;
	size_t ng;

	memset(g, 0, sizeof(*g));
	g->kind = group_kind(dt, e);
	if (g->kind == Z4_GROUP_KINDS)
		return Z4_OK;
	g->log2g = z4_group_choose(src, m, g->kind);
	if (!g->log2g)
		return Z4_OK;
	ng = group_count(m, g->log2g);
	/* scales | their 4 planes | indices | exceptions | their planes */
	Z4_TRY(scratch(&ctx->grp, &ctx->grp_cap, 8 * ng + m + 2 * m * e));
	scales = (uint32_t *)(void *)ctx->grp;
	p = ctx->grp + 8 * ng;
	g->n_exc = z4_group_fit(p, scales, p + m, src, m, g->kind, g->log2g);
	for (size_t k = 0; k < ng; k++) {
		uint32_t v = scales[k];
		z4_put32(ctx->grp + 4 * k, v);
	}
	split_into(sp, ctx->grp + 4 * ng, ctx->grp, ng, 4, XFORM_ROT);
	split_into(xp, p + m + m * e, p + m, g->n_exc, e, pick_xform(dt, e));
	g->streams[0] = p;
	g->lens[0] = m;
	for (unsigned k = 0; k < 4; k++) {
		g->streams[1 + k] = sp[k];
		g->lens[1 + k] = ng;
	}
	for (unsigned k = 0; k < e; k++) {
		g->streams[5 + k] = xp[k];
		g->lens[5 + k] = g->n_exc;
	}
	g->est = group_header_len(e);
	for (unsigned k = 0; k < GROUP_STREAMS(e); k++) {
		g->plan[k] = plan_plane(ctx->rw, g->streams[k], g->lens[k],
					NULL, NULL, 1);
		g->est += g->plan[k].est;
	}
	return Z4_OK;
}

/* Write the group candidate as a keyframe; OVER when it would not beat a
 * raw keyframe. */
static int put_group(size_t *out_len, uint8_t *dst, z4_delta_ctx *ctx,
		     const group_plan *g, size_t src_len, unsigned e,
		     const z4_id *id)
{
	const uint8_t *no_sides[MAX_STREAMS] = {NULL};
	size_t pos = put_header(dst, e, 0, src_len, id, NULL, XFORM_GROUP);

	dst[pos] = (uint8_t)g->kind;
	dst[pos + 1] = (uint8_t)g->log2g;
	z4_put32(dst + pos + 2, (uint32_t)g->n_exc);
	pos += HDR_GROUP;
	return put_planes(out_len, dst, pos, GROUP_STREAMS(e),
			  header_len(e, 0) + src_len, ctx, g->streams, g->lens,
			  no_sides, NULL, g->plan, 0);
}

int z4_delta_encode(size_t *out_len, z4_delta_info *out_info, uint8_t *dst,
		    size_t dst_cap, z4_delta_ctx *ctx, const uint8_t *src,
		    size_t src_len, const z4_delta_params *params)
{
	const uint8_t *sp[8], *bp[8] = {NULL}, *xp[8] = {NULL};
	const uint8_t *const *use;
	plane_plan kplan[8], dplan[8];
	group_plan grp;
	const uint8_t *mix = NULL;
	const uint8_t *base;
	const z4_id *base_id;
	unsigned e, depth, xform, dt;
	size_t m, len = 0, kest, dest = SIZE_MAX, lens[8];
	esc_plan esc = {.est = SIZE_MAX};
	z4_id id;
	int level, rc = OVER, zstd, sub, sampled = 0;
	unsigned build = 0;
	delta_cand cand;

	if (out_len)
		*out_len = 0;
	if (out_info)
		memset(out_info, 0, sizeof(*out_info));
	if (!out_len || !dst || !ctx || !params || (!src && src_len))
		return Z4_EINVAL;
	e = params->elem_size;
	dt = params->dtype;
	if (!elem_size_valid(e) || src_len % e ||
	    src_len > Z4_DELTA_CHUNK_MAX ||
	    dst_cap < z4_delta_bound(src_len, e) ||
	    (params->base && !params->base_id) || dt >= Z4_DELTA_DT_COUNT)
		return Z4_EINVAL;
	level = params->zstd_level ? params->zstd_level : ZSTD_LEVEL_DEFAULT;
	ZSTD_CCtx_reset(ctx->cctx, ZSTD_reset_session_only);
	if (ZSTD_isError(ZSTD_CCtx_setParameter(
		    ctx->cctx, ZSTD_c_compressionLevel, level)))
		return Z4_EINVAL;
	/* Floats are noise in their low planes and skewed but unrepeating
	 * in the high ones: rANS alone. Other data may repeat: zstd too. */
	zstd = !is_float(dt);
	xform = pick_xform(dt, e);

	m = src_len / e;
	for (unsigned k = 0; k < e; k++)
		lens[k] = m;
	if (!params->id) {
		z4_delta_id(&id, src, src_len);
	} else {
#ifndef NDEBUG
		z4_id check;
		z4_delta_id(&check, src, src_len);
		assert(id_equal(params->id, &check));
#endif
		id = *params->id;
	}
	base = params->base;
	base_id = params->base_id;
	/* Too long a chain, or a chunk equal to its base (which would be a
	 * delta against itself): the keyframe is the only sound choice. */
	if (base && (params->base_depth >= Z4_DELTA_DEPTH_MAX ||
		     id_equal(&id, base_id)))
		base = NULL;
	if (!base)
		base_id = NULL;
	sub = base && is_float(dt) && e > 1;
	/* sp | bp xp mix | zp mix (sub) */
	Z4_TRY(scratch(&ctx->planes, &ctx->planes_cap,
		       (base ? 3 : 1) * src_len + (base ? m : 0) +
			       (sub ? src_len + m : 0)));
	Z4_TRY(scratch(&ctx->kf, &ctx->kf_cap, m));

	/* Dequantized weights: scales and small integers, if smaller. */
	Z4_TRY(plan_group(&grp, ctx, src, m, e, dt));
	if (base && sub) {
		/* Floats: the arithmetic delta, as escape-coded symbols under
		 * the base's top plane (not for data that escapes everywhere,
		 * such as fp32 weights). */
		Z4_TRY(plan_esc(&esc, ctx, src, base, m, e, xform));
	}
	if (esc.est != SIZE_MAX) {
		/* At most 1/4 of the words escape: the plane forms below are
		 * not planned. Raced (they must win by 1/64: the symbols
		 * decode faster), they made the A series' bf16 deltas 0.04%
		 * smaller, for 5% of the encode (docs/codec.md). */
		dest = esc.est;
		/* The keyframe's planes are only estimated (from a sample)
		 * unless the keyframe wins. */
		cand_layout(&cand, ctx, src, base, m, e);
		cand_build_sample(&cand, ctx, src, base, m, e, xform,
				  BUILD_SRC);
		memcpy(sp, cand.sp, sizeof(sp));
		sampled = 1;
		xform = xform == XFORM_ROT ? XFORM_ESC_ROT : XFORM_ESC;
	} else if (base) {
		/* The delta's planes: XOR with the base's, which are also the
		 * parent context, and for floats the arithmetic delta's, kept
		 * when estimated smaller. Planned in that order (the XOR
		 * candidate's planning stops once it has lost) from the
		 * estimates' sample alone: the one kept is built whole if it
		 * beats the keyframe, the source's planes if not. */
		plane_plan zplan[8];
		size_t zest = SIZE_MAX;
		unsigned what = BUILD_SRC | BUILD_BASE | BUILD_XOR;
		if (sub) {
			Z4_TRY(scratch(&ctx->sub, &ctx->sub_cap, src_len));
			what |= BUILD_SUB;
		}
		cand_layout(&cand, ctx, src, base, m, e);
		cand_build_sample(&cand, ctx, src, base, m, e, xform, what);
		sampled = 1;
		memcpy(sp, cand.sp, sizeof(sp));
		memcpy(bp, cand.bp, sizeof(bp));
		if (sub)
			zest = plan_delta(zplan, ctx->rw, cand.zp, cand.bp,
					  cand.zmix, m, e, SIZE_MAX);
		/* Ties go to the older transform. */
		dest = plan_delta(dplan, ctx->rw, cand.xp, cand.bp, cand.mix,
				  m, e, zest);
		memcpy(xp, cand.xp, sizeof(xp));
		mix = cand.mix;
		build = BUILD_SRC | BUILD_BASE | BUILD_XOR;
		if (dest > zest) {
			dest = zest;
			memcpy(xp, cand.zp, sizeof(xp));
			memcpy(dplan, zplan, sizeof(zplan));
			mix = cand.zmix;
			build = BUILD_BASE | BUILD_SUB;
			xform = xform == XFORM_ROT ? XFORM_SUB_ROT : XFORM_SUB;
		}
	} else {
		split_into(sp, ctx->planes, src, m, e, xform);
	}
	if (ESC_XFORM(xform)) {
		/* Written first: the keyframe must beat its size, not an
		 * estimate of it. */
		rc = put_esc(&len, dst, dst_cap, ctx, &esc, src_len, e,
			     params->base_depth + 1, &id, base_id, xform);
		if (rc != Z4_OK)
			return rc;
		dest = len;
		rc = OVER;
	}
	/* The keyframe's planes, low (largest) first: a delta estimated
	 * clearly smaller (< 15/16) than some of them needs no more. */
	kest = header_len(e, 0);
	for (unsigned k = 0; k < e; k++) {
		kplan[k] = plan_plane(ctx->rw, sp[k], m, NULL, NULL, 1);
		kest += kplan[k].est;
		if (base && !grp.log2g && 16 * dest < 15 * kest)
			break;
	}
	if (grp.log2g && grp.est < kest)
		kest = grp.est;
	else
		grp.log2g = 0;
	use = sp;
	if (base && 16 * dest < 15 * kest) {
		use = xp;
		memcpy(kplan, dplan, sizeof(kplan));
		grp.log2g = 0;
		if (build)
			cand_build(&cand, ctx, src, base, m, e,
				   pick_xform(dt, e), build, 0, m);
	} else if (base) {
		xform = pick_xform(dt, e);
		base = NULL;
		base_id = NULL;
		if (sampled)
			split_into(sp, ctx->planes, src, m, e, xform);
	}

	depth = base ? params->base_depth + 1 : 0;
	if (grp.log2g)
		rc = put_group(&len, dst, ctx, &grp, src_len, e, &id);
	if (base && ESC_XFORM(xform))
		rc = Z4_OK; /* written above */
	if (rc == OVER) {
		size_t pos = put_header(dst, e, depth, src_len, &id, base_id,
					xform);
		grp.log2g = 0;
		rc = put_planes(&len, dst, pos, e, dst_cap, ctx, use, lens, bp,
				mix, kplan, zstd);
		assert(rc != OVER);
		if (rc == Z4_OK)
			set_version(dst, pos, e);
	}
	if (rc != Z4_OK)
		return rc;

	*out_len = len;
	if (out_info)
		Z4_TRY(z4_delta_info_read(out_info, dst, len));
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

static int decode_plane(uint8_t *out, size_t m, z4_delta_ctx *ctx,
			uint8_t codec, const uint8_t *src, size_t len,
			const uint8_t *side)
{
	if (codec == CODEC_ZSTD)
		return unzstd(ctx->dctx, out, m, src, len);
	return z4_rans_decode(out, m, ctx->rw, src, len, rans_model(codec),
			      side);
}

/*
 * XFORM_ESC*: the symbols (context: the base's top plane) and escaped
 * words back to the arithmetic delta, added to the base into dst (which
 * may be the base). An escape must stand for a word >= ESC_SYM, one for
 * each ESC_SYM symbol.
 */
static int decode_esc(uint8_t *dst, size_t m, unsigned e, z4_delta_ctx *ctx,
		      const plane_table *tab, const uint8_t *payload,
		      const uint8_t *base)
{
	const uint8_t *streams[MAX_STREAMS], *sides[8];
	const size_t n = tab->n_exc;
	size_t need = m + n * e;
	uint8_t *p, *w;
	/* The wide symbols of bf16 / fp16 read their contexts in the base's
	 * words where the kernels can: the top plane is not made. */
	const int words = e == 2 && tab->codec[0] == CODEC_RANSPW &&
			  z4_rans_words(ctx->rw);

	for (unsigned k = 0; k < tab->n; k++)
		need += tab->codec[k] != CODEC_RAW ? tab->len[k] : 0;
	/* base's top plane | escaped words | streams */
	Z4_TRY(scratch(&ctx->planes, &ctx->planes_cap, need));
	sides[e - 1] = NULL;
	if (SIDE_CODEC(tab->codec[0]) && !words)
		split_top(sides, ctx->planes, base, m, e, tab->xform);
	w = ctx->planes + m;
	p = w + n * e;
	for (unsigned k = 0; k < tab->n; k++) {
		if (tab->codec[k] == CODEC_RAW) {
			streams[k] = payload;
		} else if (k == 0 && words) {
			Z4_TRY(z4_rans_decode_words(p, m, ctx->rw, payload,
						    tab->stored[0], base,
						    ROT_XFORM(tab->xform)));
			streams[k] = p;
			p += m;
		} else {
			Z4_TRY(decode_plane(p, tab->len[k], ctx, tab->codec[k],
					    payload, tab->stored[k],
					    k == 0 ? sides[e - 1] : NULL));
			streams[k] = p;
			p += tab->len[k];
		}
		payload += tab->stored[k];
	}
	if (n)
		z4_delta_planes_merge(w, streams + 1, NULL, n, e,
				      Z4_MERGE_SET);
	for (size_t j = 0; j < n; j++)
		if (load_word(w + j * e, e) < ESC_SYM)
			return Z4_ECORRUPT;
	if (z4_delta_add_esc(dst, streams[0], w, n, base, m, e))
		return Z4_ECORRUPT;
	return Z4_OK;
}

/* An XFORM_GROUP keyframe: decode the streams into scratch, rebuild. */
static int decode_group(uint8_t *dst, size_t m, unsigned e, z4_delta_ctx *ctx,
			const plane_table *tab, const uint8_t *payload)
{
	const uint8_t *streams[MAX_STREAMS];
	size_t ng = tab->len[1], need = 4 * ng, n_exc = tab->n_exc;
	uint8_t *p, *exc;
	uint32_t *scales;

	for (unsigned k = 0; k < tab->n; k++)
		need += tab->codec[k] != CODEC_RAW ? tab->len[k] : 0;
	Z4_TRY(scratch(&ctx->planes, &ctx->planes_cap, need + n_exc * e));
	scales = (uint32_t *)(void *)ctx->planes;
	p = ctx->planes + 4 * ng;
	for (unsigned k = 0; k < tab->n; k++) {
		if (tab->codec[k] == CODEC_RAW) {
			streams[k] = payload;
		} else {
			Z4_TRY(decode_plane(p, tab->len[k], ctx, tab->codec[k],
					    payload, tab->stored[k], NULL));
			streams[k] = p;
			p += tab->len[k];
		}
		payload += tab->stored[k];
	}
	if (ng)
		z4_delta_planes_merge_rot(ctx->planes, streams + 1, NULL, ng, 4,
					  Z4_MERGE_SET);
	for (size_t k = 0; k < ng; k++)
		scales[k] = z4_le32(ctx->planes + 4 * k);
	exc = p;
	if (n_exc && tab->kind == Z4_GROUP_F16)
		z4_delta_planes_merge(exc, streams + 5, NULL, n_exc, e,
				      Z4_MERGE_SET);
	else if (n_exc)
		z4_delta_planes_merge_rot(exc, streams + 5, NULL, n_exc, e,
					  Z4_MERGE_SET);
	return z4_group_expand(dst, streams[0], scales, exc, n_exc, m,
			       tab->kind, tab->log2g);
}

/* z4_delta_decode(); with base_id, the caller's word for the base's id
 * instead of its hash. */
static int decode(uint8_t *dst, size_t dst_len, z4_delta_ctx *ctx,
		  const uint8_t *enc, size_t enc_len, const uint8_t *base,
		  const z4_id *base_id)
{
	const uint8_t *planes[8], *sides[8], *payloads[8];
	const uint8_t *payload, *mix = NULL;
	z4_delta_info info;
	plane_table tab;
	z4_merge_mode mode;
	unsigned e, n_coded = 0, n_side = 0;
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
		if (base_id)
			got = *base_id;
		else
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
	if (tab.xform == XFORM_GROUP) {
		Z4_TRY(decode_group(dst, m, e, ctx, &tab, payload));
	} else if (ESC_XFORM(tab.xform)) {
		Z4_TRY(decode_esc(dst, m, e, ctx, &tab, payload, base));
	} else if (e == 1 && tab.codec[0] != CODEC_RAW &&
		   !SIDE_CODEC(tab.codec[0]) &&
	    mode != Z4_MERGE_XOR_INTO) {
		/* Straight into dst, then XOR in place: no scratch. */
		Z4_TRY(decode_plane(dst, m, ctx, tab.codec[0], payload,
				    tab.stored[0], NULL));
		if (mode == Z4_MERGE_XOR)
			z4_delta_xor(dst, dst, base, m);
	} else {
		int n_mix = 0;
		for (unsigned k = 0; k < e; k++) {
			n_coded += tab.codec[k] != CODEC_RAW;
			n_side |= SIDE_CODEC(tab.codec[k]) ||
				  MIX_CODEC(tab.codec[k]);
			n_mix |= MIX_CODEC(tab.codec[k]);
			payloads[k] = payload;
			payload += tab.stored[k];
		}
		int sub = tab.xform >= XFORM_SUB, low_side = e == 1;
		for (unsigned k = 0; k + 1 < e; k++)
			low_side |= SIDE_CODEC(tab.codec[k]);
		/* coded planes | base's planes, mix */
		if (n_coded || n_side)
			Z4_TRY(scratch(&ctx->planes, &ctx->planes_cap,
				       n_coded * m +
					       (n_side ? dst_len + m : 0)));
		if (n_side && low_side) /* before dst (maybe the base) is written */
			split_into(sides, ctx->planes + n_coded * m, base, m, e,
				   tab.xform);
		else if (n_side)
			split_top(sides, ctx->planes + n_coded * m, base, m, e,
				  tab.xform);
		size_t n_total = n_coded;
		n_coded = 0;
		/* The top plane first: a CODEC_RANSX plane's context needs it. */
		for (unsigned i = 0; i < e; i++) {
			unsigned k = e - 1 - i;
			if (tab.codec[k] == CODEC_RAW) {
				planes[k] = payloads[k];
			} else {
				uint8_t *p = ctx->planes + n_coded++ * m;
				const uint8_t *side =
					SIDE_CODEC(tab.codec[k])   ? sides[k]
					: MIX_CODEC(tab.codec[k]) ? mix
								  : NULL;
				Z4_TRY(decode_plane(p, m, ctx, tab.codec[k],
						    payloads[k], tab.stored[k],
						    side));
				planes[k] = p;
			}
			if (k == e - 1 && n_mix) {
				uint8_t *mx = ctx->planes + n_total * m +
					      dst_len;
				make_mix(mx, sides[e - 1], planes[e - 1], m);
				mix = mx;
			}
		}
		if (m && sub) {
			z4_delta_add_planes(dst, planes, base, m, e);
		} else if (m && tab.xform == XFORM_ROT) {
			z4_delta_planes_merge_rot(dst, planes, base, m, e,
						  mode);
		} else if (m) {
			z4_delta_planes_merge(dst, planes, base, m, e, mode);
		}
	}

	z4_delta_id(&got, dst, dst_len);
	return id_equal(&got, &info.id) ? Z4_OK : Z4_ECORRUPT;
}

int z4_delta_decode(uint8_t *dst, size_t dst_len, z4_delta_ctx *ctx,
		    const uint8_t *enc, size_t enc_len, const uint8_t *base)
{
	return decode(dst, dst_len, ctx, enc, enc_len, base, NULL);
}

int z4_delta_decode_known(uint8_t *dst, size_t dst_len, z4_delta_ctx *ctx,
			  const uint8_t *enc, size_t enc_len,
			  const uint8_t *base, const z4_id *base_id)
{
	return decode(dst, dst_len, ctx, enc, enc_len, base, base_id);
}
