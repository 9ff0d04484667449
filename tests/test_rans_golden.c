/*
 * test_rans_golden.c - pins every byte the rANS coder (delta/rans.h)
 * writes, so that speed work on delta/rans.c cannot change the stream
 * format that stores already hold.
 *
 * Inputs are generated here with integer arithmetic only (splitmix64), so
 * they are the same on every host: byte shapes over awkward sizes (0..3,
 * the n % 4 tail, one byte around a 64 KiB block edge) and planes shaped
 * like the codec's: rotated bf16 weights and fp32 Adam second moments,
 * keyframe planes and XOR deltas against a drifted step, coded order 0,
 * order 1, with the parent plane and with the top-plane mix as context.
 * Each group hashes with XXH3-64 (model, size, length, stream) of every
 * case, and the estimates (little-endian u64s); the expected hashes were
 * recorded with the coder of format 2 before the speed work of issue #4,
 * the estimates again for format 4 (a sample of 8 runs, not 16), the wide
 * models (test_golden_wide) when each was added.
 * Every stream must also decode back, and a capacity one byte short must
 * report "does not fit" (1).
 *
 * A hash mismatch means the encoder output changed: a format change (bump
 * the format, docs/format.md) or a bug, never a refactoring.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "rans.h"
#define TC_RANS_WORK
#include "testcodec.h"
#include "z4_err.h"
#include "z4_le.h"

/* Count of trailing one bits of r, at most max: a geometric variate. */
static unsigned geom(uint64_t r, unsigned max)
{
	unsigned k = 0;
	while (k < max && (r >> k & 1))
		k++;
	return k;
}

/*
 * Encode src under model, hash (model, n, return code, length, stream),
 * check that it decodes back and that one byte less capacity is refused.
 */
static void code_one(XXH3_state_t *h, const uint8_t *src, size_t n,
		     int model, const uint8_t *side)
{
	size_t cap = 2 * n + 64 * 1024, len = 0, len2 = 0;
	uint8_t *enc = tc_xmalloc(cap), *out = tc_xmalloc(n);
	uint8_t hdr[24];
	int rc = z4_rans_encode(&len, enc, cap, w, src, n, model, side);

	assert_int_equal(rc, Z4_OK);
	z4_put64(hdr, (uint64_t)model);
	z4_put64(hdr + 8, n);
	z4_put64(hdr + 16, len);
	XXH3_64bits_update(h, hdr, sizeof(hdr));
	XXH3_64bits_update(h, enc, len);
	memset(out, 0xa5, n);
	assert_int_equal(z4_rans_decode(out, n, w, enc, len, model, side),
			 Z4_OK);
	if (n)
		assert_memory_equal(out, src, n);
	if (len) {
		uint8_t *enc2 = tc_xmalloc(len - 1);
		assert_int_equal(z4_rans_encode(&len2, enc2, len - 1, w, src,
						n, model, side),
				 1);
		free(enc2);
	}
	free(out);
	free(enc);
}

static void estimate_one(XXH3_state_t *h, const uint8_t *src, size_t n,
			 const uint8_t *side)
{
	size_t est[3];
	uint8_t v[24];

	z4_rans_estimate(est, w, src, n, side);
	for (int i = 0; i < 3; i++)
		z4_put64(v + 8 * i,
			 est[i] == SIZE_MAX ? UINT64_MAX : (uint64_t)est[i]);
	XXH3_64bits_update(h, v, sizeof(v));
}

/* Shapes: 0 constant, 1 skewed few symbols, 2 uniform, 3 geometric over
 * all 256, 4 runs (order-1 friendly), 5 a function of the side plane,
 * 6 two symbols, one of them rare (frequency 1). */
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
		case 3:
			p[i] = (uint8_t)geom(r, 63);
			break;
		case 4:
			p[i] = i && (r & 7) ? p[i - 1] : (uint8_t)(r >> 58);
			break;
		case 5:
			p[i] = (uint8_t)(side[i] * 7 + ((r & 31) == 0));
			break;
		default:
			p[i] = (uint8_t)(i == n / 2 ? 0xff : 0x11);
		}
	}
}

/* Sizes around the 4-state split and the 64 KiB block edge. */
static const size_t sizes[] = {0,    1,    2,     3,     4,     5,
			       7,    8,    31,    100,   1000,  4099,
			       65535, 65536, 65537, 200003};

/* Every shape and size: the four-state models and the estimates (into
 * he), or with he NULL the wide models. */
static void shapes_case(XXH3_state_t *h, XXH3_state_t *he)
{
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		size_t n = sizes[si];
		uint8_t *src = tc_xmalloc(n), *side = tc_xmalloc(n);
		fill(side, NULL, n, 4, 7 + si);
		for (int shape = 0; shape < 7; shape++) {
			fill(src, side, n, shape, 100 * si + (uint64_t)shape);
			if (!he) {
				code_one(h, src, n, Z4_RANS_W0, NULL);
				code_one(h, src, n, Z4_RANS_WCTX, side);
				continue;
			}
			for (int model = 0; model < 3; model++)
				code_one(h, src, n, model, side);
			estimate_one(he, src, n, side);
		}
		free(src);
		free(side);
	}
}

/*
 * Weights as e-byte floats rotated left by one bit and split into planes
 * (plane e-1 holds the whole exponent), like transform 1 of the codec.
 * Magnitudes: bf16 weights have exponents around 2^-4..2^-12 with a scale
 * that changes every 40000 elements (layers); Adam second moments (fp32)
 * spread over a wider exponent range. `next` is a training step later:
 * most values move by a few units in the last place, some carry into the
 * exponent, a few stay put.
 */
static void make_weights(uint8_t *planes, uint8_t *next_planes, size_t m,
			 unsigned e, uint64_t seed)
{
	const unsigned mbits = e == 2 ? 7 : 23;
	const unsigned bits = 8 * e;

	for (size_t i = 0; i < m; i++) {
		uint64_t r = tc_rng(&seed), r2 = tc_rng(&seed);
		unsigned layer = (unsigned)(i / 40000 % 5);
		uint32_t ex, v, v2, mag, mag2;
		if (e == 2)
			ex = 123u - layer - geom(r, 8);
		else
			ex = 110u - 2 * layer - geom(r, 20) - geom(r >> 24, 4);
		mag = ex << mbits | ((uint32_t)(r >> 32) & ((1u << mbits) - 1));
		/* A step: +-1..+-4 ulp for 3/4 of the values (Adam moments
		 * decay: mostly down), the rest unchanged. */
		if ((r2 & 3) == 0)
			mag2 = mag;
		else if (e == 4 && (r2 & 4))
			mag2 = mag - (uint32_t)(1 + (r2 >> 8 & 63));
		else if (r2 & 8)
			mag2 = mag + (uint32_t)(1 + (r2 >> 8 & 3));
		else
			mag2 = mag - (uint32_t)(1 + (r2 >> 8 & 3));
		v = mag;
		v2 = mag2;
		if (e == 2 && (r >> 63)) { /* signed weights */
			v |= 0x8000;
			v2 |= 0x8000;
		}
		/* rotate left by one within the word */
		v = (v << 1 | v >> (bits - 1)) & (uint32_t)((1ull << bits) - 1);
		v2 = (v2 << 1 | v2 >> (bits - 1)) &
		     (uint32_t)((1ull << bits) - 1);
		for (unsigned k = 0; k < e; k++) {
			planes[k * m + i] = (uint8_t)(v >> (8 * k));
			next_planes[k * m + i] = (uint8_t)(v2 >> (8 * k));
		}
	}
}

/* Keyframe planes (order 0, order 1) and XOR delta planes (order 0,
 * order 1, parent context, top-plane mix context) of one tensor. */
static void planes_case(XXH3_state_t *h, XXH3_state_t *he, size_t m,
			unsigned e, uint64_t seed)
{
	uint8_t *base = tc_xmalloc(m * e), *next = tc_xmalloc(m * e),
		*x = tc_xmalloc(m * e), *mix = tc_xmalloc(m);
	const uint8_t *btop = base + (e - 1) * m, *xtop = x + (e - 1) * m;

	make_weights(base, next, m, e, seed);
	for (size_t i = 0; i < m * e; i++)
		x[i] = next[i] ^ base[i];
	for (size_t i = 0; i < m; i++)
		mix[i] = (uint8_t)((btop[i] & 0x7f) | (xtop[i] != 0) << 7);
	for (unsigned k = 0; k < e; k++) {
		const uint8_t *kp = next + k * m, *xp = x + k * m;
		code_one(h, kp, m, Z4_RANS_O0, NULL);
		code_one(h, kp, m, Z4_RANS_O1, NULL);
		code_one(h, xp, m, Z4_RANS_O0, NULL);
		code_one(h, xp, m, Z4_RANS_O1, NULL);
		code_one(h, xp, m, Z4_RANS_CTX, base + k * m);
		if (k + 1 < e)
			code_one(h, xp, m, Z4_RANS_CTX, mix);
		estimate_one(he, kp, m, NULL);
		estimate_one(he, xp, m, base + k * m);
		if (k + 1 < e)
			estimate_one(he, xp, m, mix);
	}
	free(base);
	free(next);
	free(x);
	free(mix);
}

static void check(const char *what, XXH3_state_t *h, uint64_t expect)
{
	uint64_t got = XXH3_64bits_digest(h);
	if (got != expect)
		print_error("%s: xxh3 %016llx, expected %016llx\n", what,
			    (unsigned long long)got,
			    (unsigned long long)expect);
	assert_true(got == expect);
}

static void test_golden_shapes(void **state)
{
	XXH3_state_t *h = XXH3_createState(), *he = XXH3_createState();
	(void)state;
	assert_non_null(h);
	assert_non_null(he);
	XXH3_64bits_reset(h);
	XXH3_64bits_reset(he);
	shapes_case(h, he);
	check("shapes: streams", h, 0xb2e72c0e0377902dull);
	check("shapes: estimates", he, 0x42e2bfbe71ac64f7ull);
	XXH3_freeState(h);
	XXH3_freeState(he);
}

static void test_golden_bf16_planes(void **state)
{
	XXH3_state_t *h = XXH3_createState(), *he = XXH3_createState();
	(void)state;
	assert_non_null(h);
	assert_non_null(he);
	XXH3_64bits_reset(h);
	XXH3_64bits_reset(he);
	planes_case(h, he, (size_t)1 << 19, 2, 1);  /* 1 MiB bf16 */
	planes_case(h, he, 3001, 2, 2);             /* a small tensor */
	check("bf16: streams", h, 0x350da02cff435950ull);
	check("bf16: estimates", he, 0x0b8d5fda5612107cull);
	XXH3_freeState(h);
	XXH3_freeState(he);
}

static void test_golden_fp32_planes(void **state)
{
	XXH3_state_t *h = XXH3_createState(), *he = XXH3_createState();
	(void)state;
	assert_non_null(h);
	assert_non_null(he);
	XXH3_64bits_reset(h);
	XXH3_64bits_reset(he);
	planes_case(h, he, (size_t)1 << 18, 4, 3); /* 1 MiB fp32 */
	planes_case(h, he, 777, 4, 4);
	check("fp32: streams", h, 0x25ae99f0cfd2a201ull);
	check("fp32: estimates", he, 0xd1f3e891a894c995ull);
	XXH3_freeState(h);
	XXH3_freeState(he);
}

/* The wide models: order 0 (format 3) and context (format 4) on the
 * shapes and on bf16 delta planes (parent and mix contexts). */
static void test_golden_wide(void **state)
{
	XXH3_state_t *h = XXH3_createState();
	const size_t m = (size_t)1 << 18;
	uint8_t *base = tc_xmalloc(2 * m), *next = tc_xmalloc(2 * m);
	uint8_t *x = tc_xmalloc(2 * m), *mix = tc_xmalloc(m);
	(void)state;
	assert_non_null(h);
	XXH3_64bits_reset(h);
	shapes_case(h, NULL);
	make_weights(base, next, m, 2, 5);
	for (size_t i = 0; i < 2 * m; i++)
		x[i] = next[i] ^ base[i];
	for (size_t i = 0; i < m; i++)
		mix[i] = (uint8_t)((base[m + i] & 0x7f) | (x[m + i] != 0) << 7);
	code_one(h, x + m, m, Z4_RANS_WCTX, base + m);
	code_one(h, x, m, Z4_RANS_WCTX, mix);
	check("wide: streams", h, 0x9a1359a3c74d6b80ull);
	XXH3_freeState(h);
	free(base);
	free(next);
	free(x);
	free(mix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_shapes),
		cmocka_unit_test(test_golden_bf16_planes),
		cmocka_unit_test(test_golden_fp32_planes),
		cmocka_unit_test(test_golden_wide),
	};
	return cmocka_run_group_tests(tests, tc_rans_setup, tc_rans_teardown);
}
