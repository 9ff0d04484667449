/*
 * test_delta_rans.c - the rANS coder (delta/rans.h) and what format 2 adds
 * to the chunk codec: round trips of every model over sizes and shapes,
 * golden streams, every truncation and flip of a stream, estimates, rotated
 * float planes and parent-context deltas through z4_delta_*, format-2
 * header defects, and output independent of the context used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rans.h"
#define TC_RANS_WORK
#include "testcodec.h"
#include "z4_delta.h"
#include "z4_le.h"

/* Shapes: 0 constant, 1 skewed few symbols, 2 uniform, 3 geometric over
 * all 256, 4 runs (order-1 friendly), 5 a function of the side plane. */
static void fill(uint8_t *p, const uint8_t *side, size_t n, int shape,
		 uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t r = tc_rng(&seed);
		switch (shape) {
		case 0:
			p[i] = 0x3c;
			break;
		case 1:
			p[i] = (r & 15) ? 0 : (uint8_t)(1 + (r >> 60));
			break;
		case 2:
			p[i] = (uint8_t)(r >> 56);
			break;
		case 3: {
			unsigned k = 0;
			while (k < 255 && (r & 1)) {
				k++;
				r >>= 1;
				if (!r)
					r = tc_rng(&seed);
			}
			p[i] = (uint8_t)k;
			break;
		}
		case 4:
			p[i] = i && (r & 7) ? p[i - 1] : (uint8_t)(r >> 58);
			break;
		default:
			p[i] = (uint8_t)(side[i] * 7 + ((r & 31) == 0));
		}
	}
}

static void roundtrip(const uint8_t *src, size_t n, int model,
		      const uint8_t *side, size_t *len_out)
{
	size_t cap = 2 * n + 64 * 1024, len;
	uint8_t *enc = tc_xmalloc(cap), *out = tc_xmalloc(n);
	assert_int_equal(z4_rans_encode(&len, enc, cap, w, src, n, model,
					side),
			 0);
	assert_true(len <= cap);
	memset(out, 0xa5, n);
	assert_int_equal(z4_rans_decode(out, n, w, enc, len, model, side),
			 Z4_OK);
	if (n)
		assert_memory_equal(out, src, n);
	if (len_out)
		*len_out = len;
	free(out);
	free(enc);
}

static void test_roundtrip_models_sizes_shapes(void **state)
{
	static const size_t sizes[] = {0,     1,     3,     4,      5,
				       7,     100,   4096,  65535,  65536,
				       65537, 70001, 200003};
	(void)state;
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		size_t n = sizes[si];
		uint8_t *src = tc_xmalloc(n), *side = tc_xmalloc(n);
		fill(side, NULL, n, 4, 7 + si);
		for (int shape = 0; shape < 6; shape++) {
			fill(src, side, n, shape, 100 * si + (uint64_t)shape);
			for (int model = 0; model < 3; model++)
				roundtrip(src, n, model, side, NULL);
		}
		free(src);
		free(side);
	}
}

/* Each model earns its keep on the data it is for. */
static void test_models_compress(void **state)
{
	const size_t n = 1 << 18;
	uint8_t *src = tc_xmalloc(n), *side = tc_xmalloc(n);
	size_t l0, l1, l2;
	(void)state;
	fill(side, NULL, n, 4, 1);
	fill(src, side, n, 1, 2); /* skewed: ~0.5 bits */
	roundtrip(src, n, Z4_RANS_O0, NULL, &l0);
	assert_true(l0 < n / 8);
	fill(src, side, n, 4, 3); /* runs: order 1 wins */
	roundtrip(src, n, Z4_RANS_O0, NULL, &l0);
	roundtrip(src, n, Z4_RANS_O1, NULL, &l1);
	assert_true(l1 < l0 / 2);
	fill(src, side, n, 5, 4); /* follows the side plane */
	roundtrip(src, n, Z4_RANS_O0, NULL, &l0);
	roundtrip(src, n, Z4_RANS_CTX, side, &l2);
	assert_true(l2 < l0 / 2);
	fill(src, side, n, 0, 5); /* constant: a byte per block */
	roundtrip(src, n, Z4_RANS_O0, NULL, &l0);
	assert_int_equal(l0, 2 * ((n + Z4_RANS_BLOCK - 1) / Z4_RANS_BLOCK));
	fill(src, side, n, 2, 6); /* noise: raw blocks, 1 byte each over */
	roundtrip(src, n, Z4_RANS_O0, NULL, &l0);
	assert_int_equal(l0, n + (n + Z4_RANS_BLOCK - 1) / Z4_RANS_BLOCK);
	free(src);
	free(side);
}

/* z4_rans_encode_pairs picks the side context where the plane follows
 * it, order 0 where the side says nothing (a random side over a skewed
 * plane: 256 context tables for nothing); narrow and wide; the model it
 * reports decodes the stream. */
static void test_encode_side_picks(void **state)
{
	static const size_t sizes[] = {5000, 70001};
	(void)state;
	for (size_t si = 0; si < 2; si++)
		for (int wide = 0; wide < 2; wide++)
			for (int follows = 0; follows < 2; follows++) {
				size_t n = sizes[si], cap = 2 * n + 65536, len;
				uint8_t *src = tc_xmalloc(n);
				uint8_t *side = tc_xmalloc(n);
				uint8_t *enc = tc_xmalloc(cap);
				uint8_t *out = tc_xmalloc(n);
				uint16_t *pairs = tc_xmalloc(2 * n);
				unsigned lo, hi;
				int model = -1, ctx;
				fill(side, NULL, n, follows ? 4 : 2, 11 + si);
				fill(src, side, n, follows ? 5 : 1, 13 + si);
				z4_rans_pairs(pairs, &lo, &hi, src, side, n);
				assert_int_equal(z4_rans_encode_pairs(
							 &len, &model, enc, cap,
							 w, src, pairs, n, lo,
							 hi, wide),
						 Z4_OK);
				ctx = model == Z4_RANS_CTX ||
				      model == Z4_RANS_WCTX;
				assert_int_equal(ctx, follows);
				assert_int_equal(model == Z4_RANS_W0 ||
							 model == Z4_RANS_WCTX,
						 wide);
				assert_int_equal(z4_rans_decode(out, n, w, enc,
								len, model,
								side),
						 Z4_OK);
				assert_memory_equal(out, src, n);
				free(src);
				free(side);
				free(enc);
				free(out);
				free(pairs);
			}
}

static void test_estimates(void **state)
{
	const size_t n = 1 << 20;
	uint8_t *src = tc_xmalloc(n), *side = tc_xmalloc(n);
	size_t est[3], est2[3], len;
	(void)state;
	fill(side, NULL, n, 4, 11);
	fill(src, side, n, 2, 12);
	z4_rans_estimate(est, w, src, n, side);
	assert_true(est[0] > n - n / 64); /* noise looks like noise */
	z4_rans_estimate(est2, w, src, n, side);
	assert_memory_equal(est, est2, sizeof(est));
	fill(src, side, n, 5, 13);
	z4_rans_estimate(est, w, src, n, side);
	roundtrip(src, n, Z4_RANS_CTX, side, &len);
	assert_true(est[2] < est[0] && est[2] < est[1]);
	/* Within 20% of what the coder achieves. */
	assert_true(est[2] < len + len / 5 && len < est[2] + est[2] / 5);
	/* The side model alone: the same figure; on noise, which order 0
	 * rules out before any context, a figure and still noise. */
	assert_int_equal(z4_rans_estimate_side(w, src, n, side), est[2]);
	fill(src, side, n, 2, 14);
	z4_rans_estimate(est, w, src, n, side);
	assert_true(est[2] == SIZE_MAX);
	assert_true(z4_rans_estimate_side(w, src, n, side) > n - n / 64);
	assert_true(z4_rans_estimate_side(w, src, n, side) < SIZE_MAX);
	z4_rans_estimate(est, w, src, n, NULL);
	assert_true(est[2] == SIZE_MAX);
	/* The tableless order-0 size: noise is all but raw, one byte value
	 * costs nothing, a 1-in-16 nonzero shape far less than raw. */
	fill(src, NULL, 4096, 2, 15);
	len = z4_rans_entropy0(w, src, 4096);
	assert_true(len <= 4096 && len > 4096 - 4096 / 64);
	fill(src, NULL, 4096, 0, 16);
	assert_int_equal(z4_rans_entropy0(w, src, 4096), 0);
	fill(src, NULL, 4096, 1, 17);
	assert_true(z4_rans_entropy0(w, src, 4096) < 4096 / 2);
	free(src);
	free(side);
}

/* The estimates read z4_rans_sample()'s bytes and no others: the encoder
 * fills just those of a keyframe it only plans. */
static void test_estimates_read_sample(void **state)
{
	static const size_t sizes[] = {1, 4095, 32768, 32769, 100000,
				       (size_t)1 << 20};
	(void)state;
	for (size_t t = 0; t < sizeof(sizes) / sizeof(*sizes); t++) {
		const size_t n = sizes[t];
		uint8_t *src = tc_xmalloc(n), *side = tc_xmalloc(n);
		uint8_t *ps = tc_xmalloc(n), *pside = tc_xmalloc(n);
		size_t est[3], pest[3], runs, step, run;
		fill(side, NULL, n, 4, 21);
		fill(src, side, n, 5, 22);
		/* Elsewhere every byte is 0xff: a difference would show. */
		memset(ps, 0xff, n);
		memset(pside, 0xff, n);
		z4_rans_sample(n, &runs, &step, &run);
		assert_true(runs * run <= n);
		for (size_t r = 0; r < runs; r++) {
			size_t at = r * step - (r > 0);
			assert_true(r * step + run <= n);
			memcpy(ps + at, src + at, run + (r > 0));
			memcpy(pside + at, side + at, run + (r > 0));
		}
		z4_rans_estimate(est, w, src, n, side);
		z4_rans_estimate(pest, w, ps, n, pside);
		assert_memory_equal(est, pest, sizeof(est));
		z4_rans_estimate_no_o1(est, w, src, n, side);
		z4_rans_estimate_no_o1(pest, w, ps, n, pside);
		assert_memory_equal(est, pest, sizeof(est));
		assert_int_equal(z4_rans_estimate_side(w, src, n, side),
				 z4_rans_estimate_side(w, ps, n, pside));
		/* Which the filler alone would change. */
		memset(ps, 0xff, n);
		z4_rans_estimate(pest, w, ps, n, pside);
		assert_true(n < 4096 || pest[0] != est[0]);
		free(src);
		free(side);
		free(ps);
		free(pside);
	}
}

/* 40 symbols: 0 (22), 1 (12), 5 (6); side = i % 3. */
static void golden_input(uint8_t src[40], uint8_t side[40])
{
	for (int i = 0; i < 40; i++) {
		side[i] = (uint8_t)(i % 3);
		src[i] = (uint8_t)(i % 7 == 0 ? 5 : i % 3 == 0 ? 1 : 0);
	}
}

static const uint8_t golden_o0[] = {
	0x02,                   /* block mode: rANS */
	0x02, 0x00, 0x01, 0x05, /* K = 3: symbols 0, 1, 5 */
	0x88, 0xcc, 0x84, 0xcc, /* f = 2253, 1229 (5 gets 614) */
	0x10, 0x00, 0x00, 0x00, /* payload: 16 bytes, the states alone */
	0x1c, 0x9f, 0x6b, 0x80, 0x39, 0x95, 0xb1, 0x22,
	0x40, 0x32, 0xaf, 0x45, 0x43, 0x29, 0xfd, 0x3f,
};

static const uint8_t golden_o1[] = {
	0x23, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x00, 0x01, 0x05, 0x83, 0x55, 0x83, 0x54, 0x01, 0x00, 0x05, 0x86,
	0x65, 0x01, 0x00, 0x01, 0x85, 0x54, 0x88, 0xcf, 0x40, 0x1a, 0xd9,
	0xe0, 0xf5, 0x0a, 0x11, 0x78, 0x3f, 0x1a, 0xf9, 0x85, 0xee, 0x0a,
};

static const uint8_t golden_ctx[] = {
	0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x01, 0x05, 0x86, 0xda, 0x01, 0x00, 0x05, 0x86, 0xc4, 0x01, 0x00,
	0x05, 0x86, 0xc4, 0xaa, 0x4f, 0xa6, 0x00, 0x58, 0xe8, 0x1b, 0x00,
	0x9f, 0x5b, 0xa8, 0x00, 0xae, 0xb8, 0x1b, 0x00,
};

static const struct {
	const uint8_t *p;
	size_t len;
} goldens[3] = {{golden_o0, sizeof(golden_o0)},
		{golden_o1, sizeof(golden_o1)},
		{golden_ctx, sizeof(golden_ctx)}};

static void test_golden_streams(void **state)
{
	uint8_t src[40], side[40], enc[512], out[40];
	size_t len;
	(void)state;
	golden_input(src, side);
	for (int model = 0; model < 3; model++) {
		assert_int_equal(z4_rans_encode(&len, enc, sizeof(enc), w, src,
						40, model, side),
				 0);
		assert_int_equal(len, goldens[model].len);
		assert_memory_equal(enc, goldens[model].p, len);
		assert_int_equal(z4_rans_decode(out, 40, w, goldens[model].p,
						len, model, side),
				 Z4_OK);
		assert_memory_equal(out, src, 40);
	}
}

/* Every truncation is corrupt; every flip is corrupt or decodes (never
 * crashes: ASan checks the reads). A trailing byte is corrupt. */
static void test_truncations_and_flips(void **state)
{
	uint8_t src[40], side[40], out[40];
	(void)state;
	golden_input(src, side);
	for (int model = 0; model < 3; model++) {
		const uint8_t *g = goldens[model].p;
		size_t len = goldens[model].len;
		uint8_t *t = tc_xmalloc(len + 1);
		for (size_t cut = 0; cut < len; cut++) {
			uint8_t *c = tc_xmalloc(cut);
			memcpy(c, g, cut);
			assert_int_equal(z4_rans_decode(out, 40, w, c, cut,
							model, side),
					 Z4_ECORRUPT);
			free(c);
		}
		memcpy(t, g, len);
		t[len] = 0;
		assert_int_equal(z4_rans_decode(out, 40, w, t, len + 1, model,
						side),
				 Z4_ECORRUPT);
		for (size_t off = 0; off < len; off++)
			for (int bit = 0; bit < 8; bit++) {
				int rc;
				memcpy(t, g, len);
				t[off] ^= (uint8_t)(1u << bit);
				rc = z4_rans_decode(out, 40, w, t, len, model,
						    side);
				assert_true(rc == Z4_OK || rc == Z4_ECORRUPT);
			}
		/* A wrong symbol count is corrupt. */
		assert_int_equal(z4_rans_decode(out, 39, w, g, len, model, side),
				 Z4_ECORRUPT);
		free(t);
	}
}

/* Named defects of the order-0 block and table syntax. */
static void test_bad_tables(void **state)
{
	uint8_t t[sizeof(golden_o0)], out[40];
	(void)state;
#define DEC() z4_rans_decode(out, 40, w, t, sizeof(t), Z4_RANS_O0, NULL)
	memcpy(t, golden_o0, sizeof(t));
	assert_int_equal(DEC(), Z4_OK);
	t[0] = 3; /* reserved block mode */
	assert_int_equal(DEC(), Z4_ECORRUPT);
	memcpy(t, golden_o0, sizeof(t));
	t[3] = 0x00; /* symbols not ascending */
	assert_int_equal(DEC(), Z4_ECORRUPT);
	memcpy(t, golden_o0, sizeof(t));
	t[5] = 0x8f, t[6] = 0xff; /* frequencies over 2^12 */
	assert_int_equal(DEC(), Z4_ECORRUPT);
	memcpy(t, golden_o0, sizeof(t));
	t[9] = 0x11; /* payload length beyond the stream */
	assert_int_equal(DEC(), Z4_ECORRUPT);
	memcpy(t, golden_o0, sizeof(t));
	t[13] = 0x00, t[14] = 0x00, t[15] = 0x00, t[16] = 0x00; /* state < L */
	assert_int_equal(DEC(), Z4_ECORRUPT);
#undef DEC
	/* A context stream whose symbol's context has no table. */
	uint8_t c[sizeof(golden_ctx)];
	memcpy(c, golden_ctx, sizeof(c));
	c[0] = 0x03; /* drop context 2's bit: its table is read as payload */
	assert_int_equal(z4_rans_decode(out, 40, w, c, sizeof(c), Z4_RANS_CTX,
					(const uint8_t[40]){0}),
			 Z4_ECORRUPT);
}

/* ---- through the chunk codec ---- */

static uint16_t to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	u += 0x7fff + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

static float gauss(uint64_t *s)
{
	float sum = 0;
	for (int i = 0; i < 12; i++)
		sum += (float)(tc_rng(s) >> 40) / (float)(1u << 24);
	return sum - 6.0f;
}

/* Weights of dtype dt (BF16, F32, F64) and a perturbed copy. */
static void weights(uint8_t *base, uint8_t *src, size_t n, unsigned dt,
		    uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		double v = 0.02 * gauss(&seed);
		double u = v * (1 + 0.01 * gauss(&seed));
		if (tc_rng(&seed) & 3)
			u = v; /* most weights unchanged */
		if (dt == Z4_DELTA_DT_BF16) {
			z4_put16(base + 2 * i, to_bf16((float)v));
			z4_put16(src + 2 * i, to_bf16((float)u));
		} else if (dt == Z4_DELTA_DT_F32) {
			float a = (float)v, b = (float)u;
			memcpy(base + 4 * i, &a, 4);
			memcpy(src + 4 * i, &b, 4);
		} else {
			memcpy(base + 8 * i, &v, 8);
			memcpy(src + 8 * i, &u, 8);
		}
	}
}

static void test_chunk_dtypes_roundtrip(void **state)
{
	static const unsigned dts[] = {Z4_DELTA_DT_BF16, Z4_DELTA_DT_F32,
				       Z4_DELTA_DT_F64};
	static const unsigned es[] = {2, 4, 8};
	z4_delta_ctx *ctx = z4_delta_ctx_new();
	(void)state;
	assert_non_null(ctx);
	for (int d = 0; d < 3; d++) {
		const size_t n = 100003;
		size_t len = n * es[d], cap = z4_delta_bound(len, es[d]);
		size_t klen, dlen;
		uint8_t *base = tc_xmalloc(len), *src = tc_xmalloc(len);
		uint8_t *k = tc_xmalloc(cap), *e = tc_xmalloc(cap), *out = tc_xmalloc(len);
		z4_id bid;
		z4_delta_info info;
		z4_delta_params par = {.elem_size = es[d], .dtype = dts[d]};
		weights(base, src, n, dts[d], 5 + (uint64_t)d);
		z4_delta_id(&bid, base, len);
		assert_int_equal(z4_delta_encode(&klen, &info, k, cap, ctx, src,
						 len, &par),
				 Z4_OK);
		/* Format 3 only for its wide order-0 planes (codec 6). */
		assert_int_equal(info.version, 3);
		assert_int_equal(k[info.header_len - 5 * es[d] - 1], 1);
		assert_true(klen < len);
		assert_int_equal(z4_delta_decode(out, len, ctx, k, klen, NULL),
				 Z4_OK);
		assert_memory_equal(out, src, len);
		par.base = base;
		par.base_id = &bid;
		assert_int_equal(z4_delta_encode(&dlen, &info, e, cap, ctx, src,
						 len, &par),
				 Z4_OK);
		assert_int_equal(info.is_delta, 1);
		assert_true(dlen < klen / 2);
		assert_int_equal(z4_delta_decode(out, len, ctx, e, dlen, base),
				 Z4_OK);
		assert_memory_equal(out, src, len);
		/* In place: dst is the base. */
		memcpy(out, base, len);
		assert_int_equal(z4_delta_decode(out, len, ctx, e, dlen, out),
				 Z4_OK);
		assert_memory_equal(out, src, len);
		free(base);
		free(src);
		free(k);
		free(e);
		free(out);
	}
	z4_delta_ctx_free(ctx);
}

/*
 * Encode src (2-byte elements) as a delta against base, check that plane
 * `plane` was coded with `codec` and that it decodes back to src. Returns
 * the encoding (caller frees), its length and header.
 */
static uint8_t *delta_with_codec(size_t *elen, z4_delta_info *info,
				 z4_delta_ctx *ctx, const uint8_t *base,
				 const uint8_t *src, size_t len, unsigned plane,
				 uint8_t codec)
{
	size_t cap = z4_delta_bound(len, 2);
	uint8_t *e = tc_xmalloc(cap), *out = tc_xmalloc(len);
	z4_id bid;
	z4_delta_params par = {.elem_size = 2, .base = base, .base_id = &bid};

	z4_delta_id(&bid, base, len);
	assert_int_equal(z4_delta_encode(elen, info, e, cap, ctx, src, len, &par),
			 Z4_OK);
	assert_int_equal(info->is_delta, 1);
	/* plane codec bytes: 5 per plane, ending the header */
	assert_int_equal(e[info->header_len - 5 * (2 - plane)], codec);
	assert_int_equal(z4_delta_decode(out, len, ctx, e, *elen, base), Z4_OK);
	assert_memory_equal(out, src, len);
	free(out);
	return e;
}

/* A delta whose exponent plane is coded with the parent as context: codec
 * 4 in format 2, or from 64 Ki elements on codec 7 (wide) in format 4. */
static void parent_context_plane(size_t n, uint8_t codec, unsigned version)
{
	const size_t len = 2 * n;
	z4_delta_ctx *ctx = z4_delta_ctx_new();
	uint8_t *base = tc_xmalloc(len), *src = tc_xmalloc(len), *e;
	size_t elen;
	uint64_t s = 3;
	z4_delta_info info;
	assert_non_null(ctx);
	/* High bytes: a new value that is a function of the parent's, with
	 * noise; low bytes: unchanged. XOR alone does not capture this. */
	for (size_t i = 0; i < n; i++) {
		uint8_t hb = (uint8_t)(tc_rng(&s) >> 58);
		base[2 * i] = src[2 * i] = (uint8_t)(tc_rng(&s) >> 56);
		base[2 * i + 1] = hb;
		src[2 * i + 1] = (uint8_t)((hb * 37 + 11) ^
					   ((tc_rng(&s) & 63) == 0));
	}
	e = delta_with_codec(&elen, &info, ctx, base, src, len, 1, codec);
	assert_int_equal(info.version, version);
	/* The other version byte is refused: one version per encoding. */
	e[3] = (uint8_t)(version == 2 ? 4 : 3);
	assert_int_equal(z4_delta_info_read(&info, e, elen), Z4_ECORRUPT);
	free(base);
	free(src);
	free(e);
	z4_delta_ctx_free(ctx);
}

static void test_parent_context_plane(void **state)
{
	(void)state;
	parent_context_plane(30000, 4, 2);
	parent_context_plane(1 << 16, 7, 4);
	parent_context_plane(200003, 7, 4);
}

/* Low planes coded with the top-plane mix as context: their spread
 * depends on the parent's exponent and on whether it moved. Codec 5, or 8
 * from 64 Ki elements on. */
static void mix_context_plane(size_t n, uint8_t codec)
{
	const size_t len = 2 * n;
	z4_delta_ctx *ctx = z4_delta_ctx_new();
	uint8_t *base = tc_xmalloc(len), *src = tc_xmalloc(len), *out = tc_xmalloc(len), *e;
	size_t elen;
	uint64_t s = 9;
	z4_delta_info info;
	assert_non_null(ctx);
	for (size_t i = 0; i < n; i++) {
		uint64_t r = tc_rng(&s);
		uint8_t hb = (uint8_t)(0x30 + (r & 15));
		uint8_t moved = (r >> 8 & 15) == 0;
		/* Low-byte change: as many noise bits as the high byte says. */
		uint8_t noise = (uint8_t)((r >> 16) & ((1u << (hb & 7)) - 1));
		base[2 * i] = (uint8_t)(r >> 24);
		base[2 * i + 1] = hb;
		src[2 * i] = (uint8_t)(base[2 * i] ^ (moved ? (r >> 40) : noise));
		src[2 * i + 1] = (uint8_t)(hb ^ moved);
	}
	e = delta_with_codec(&elen, &info, ctx, base, src, len, 0, codec);
	memcpy(out, base, len); /* in place */
	assert_int_equal(z4_delta_decode(out, len, ctx, e, elen, out), Z4_OK);
	assert_memory_equal(out, src, len);
	/* The mix context on the top plane itself is corrupt. */
	e[info.header_len - 5] = codec;
	assert_int_equal(z4_delta_info_read(&info, e, elen), Z4_ECORRUPT);
	free(base);
	free(src);
	free(out);
	free(e);
	z4_delta_ctx_free(ctx);
}

static void test_mix_context_plane(void **state)
{
	(void)state;
	mix_context_plane(40000, 5);
	mix_context_plane(1 << 17, 8);
}

/* Format-2 header defects on a small keyframe. */
static void test_bad_v2_headers(void **state)
{
	const uint8_t src[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	z4_delta_ctx *ctx = z4_delta_ctx_new();
	z4_delta_params par = {.elem_size = 2};
	uint8_t enc[128], t[128], out[16];
	z4_delta_info info;
	size_t len;
	(void)state;
	assert_non_null(ctx);
	assert_int_equal(z4_delta_encode(&len, &info, enc, sizeof(enc), ctx,
					 src, 16, &par),
			 Z4_OK);
	assert_int_equal(len, 59);
#define CHECK(code)                                                            \
	do {                                                                   \
		assert_int_equal(z4_delta_info_read(&info, t, len), code);     \
		assert_int_equal(z4_delta_decode(out, 16, ctx, t, len, NULL),  \
				 code);                                        \
	} while (0)
	memcpy(t, enc, len);
	CHECK(Z4_OK);
	t[32] = 2; /* reserved transform */
	CHECK(Z4_ECORRUPT);
	memcpy(t, enc, len);
	t[33] = 6; /* reserved codec */
	CHECK(Z4_ECORRUPT);
	memcpy(t, enc, len);
	t[33] = 5; /* top-plane mix context in a keyframe */
	CHECK(Z4_ECORRUPT);
	memcpy(t, enc, len);
	t[33] = 4; /* parent context in a keyframe */
	CHECK(Z4_ECORRUPT);
	memcpy(t, enc, len);
	t[33] = 2; /* a rANS plane as long as raw */
	CHECK(Z4_ECORRUPT);
	memcpy(t, enc, len);
	t[32] = 1; /* rotated: the header is fine, the hash is not */
	assert_int_equal(z4_delta_info_read(&info, t, len), Z4_OK);
	assert_int_equal(z4_delta_decode(out, 16, ctx, t, len, NULL),
			 Z4_ECORRUPT);
#undef CHECK
	z4_delta_ctx_free(ctx);
}

/* The bytes do not depend on the context's history (one per thread). */
static void test_output_independent_of_ctx(void **state)
{
	const size_t n = 300000, len = 4 * n;
	uint8_t *base = tc_xmalloc(len), *src = tc_xmalloc(len);
	size_t cap = z4_delta_bound(len, 4), la, lb;
	uint8_t *a = tc_xmalloc(cap), *b = tc_xmalloc(cap);
	z4_delta_ctx *c1 = z4_delta_ctx_new(), *c2 = z4_delta_ctx_new();
	z4_id bid;
	z4_delta_params par = {.elem_size = 4, .dtype = Z4_DELTA_DT_F32,
			       .base = base, .base_id = &bid};
	(void)state;
	weights(base, src, n, Z4_DELTA_DT_F32, 77);
	z4_delta_id(&bid, base, len);
	assert_int_equal(z4_delta_encode(&la, NULL, a, cap, c1, src, len, &par),
			 Z4_OK);
	/* Unrelated work on c2 first. */
	assert_int_equal(z4_delta_encode(&lb, NULL, b, cap, c2, base, len,
					 &(z4_delta_params){.elem_size = 1}),
			 Z4_OK);
	assert_int_equal(z4_delta_encode(&lb, NULL, b, cap, c2, src, len, &par),
			 Z4_OK);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	z4_delta_ctx_free(c1);
	z4_delta_ctx_free(c2);
	free(a);
	free(b);
	free(base);
	free(src);
}

static void test_dtype_names(void **state)
{
	(void)state;
	assert_int_equal(z4_delta_dtype("BF16"), Z4_DELTA_DT_BF16);
	assert_int_equal(z4_delta_dtype("F16"), Z4_DELTA_DT_F16);
	assert_int_equal(z4_delta_dtype("F32"), Z4_DELTA_DT_F32);
	assert_int_equal(z4_delta_dtype("F64"), Z4_DELTA_DT_F64);
	assert_int_equal(z4_delta_dtype("F8_E4M3"), Z4_DELTA_DT_F8_E4M3);
	assert_int_equal(z4_delta_dtype("F8_E5M2"), Z4_DELTA_DT_F8_E5M2);
	assert_int_equal(z4_delta_dtype("I8"), Z4_DELTA_DT_INT);
	assert_int_equal(z4_delta_dtype("U64"), Z4_DELTA_DT_INT);
	assert_int_equal(z4_delta_dtype("BOOL"), Z4_DELTA_DT_INT);
	assert_int_equal(z4_delta_dtype("bf16"), Z4_DELTA_DT_BYTES);
	assert_int_equal(z4_delta_dtype(NULL), Z4_DELTA_DT_BYTES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_models_sizes_shapes),
		cmocka_unit_test(test_models_compress),
		cmocka_unit_test(test_encode_side_picks),
		cmocka_unit_test(test_estimates),
		cmocka_unit_test(test_estimates_read_sample),
		cmocka_unit_test(test_golden_streams),
		cmocka_unit_test(test_truncations_and_flips),
		cmocka_unit_test(test_bad_tables),
		cmocka_unit_test(test_chunk_dtypes_roundtrip),
		cmocka_unit_test(test_parent_context_plane),
		cmocka_unit_test(test_mix_context_plane),
		cmocka_unit_test(test_bad_v2_headers),
		cmocka_unit_test(test_output_independent_of_ctx),
		cmocka_unit_test(test_dtype_names),
	};
	return cmocka_run_group_tests(tests, tc_rans_setup, tc_rans_teardown);
}
