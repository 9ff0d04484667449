/*
 * test_delta_group.c - the group-scale transform (format 3 chunks):
 * dequantized int4 / int8 weights as bf16, fp16 and fp32 round-trip and
 * shrink to about their index entropy; odd values (NaN, -0, outliers)
 * become exceptions and still round-trip; ordinary weights never take
 * this path; every truncation and byte flip of a group chunk is caught.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "z4_delta.h"
#include "z4_le.h"
#define TC_DELTA_CTX
#include "testcodec.h"

static double uniform(uint64_t *s)
{
	return (double)(tc_rng(s) >> 11) / 9007199254740992.0;
}

static double gauss(uint64_t *s) /* Box-Muller */
{
	double u = uniform(s) + 1e-300, v = uniform(s);
	return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static uint32_t f2u(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static uint16_t to_bf16(float f)
{
	uint32_t u = f2u(f);
	return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* fp32 -> fp16, round to nearest even; normal results only (the tests
 * keep values in 2^-14 .. 65504 or zero). */
static uint16_t to_f16(float f)
{
	uint32_t u = f2u(f), a = u & 0x7fffffff, h, rem;
	if (a == 0)
		return (uint16_t)(u >> 16 & 0x8000);
	h = ((a >> 23) - 112) << 10 | (a >> 13 & 0x3ff);
	rem = a & 0x1fff;
	h += rem > 0x1000 || (rem == 0x1000 && (h & 1));
	return (uint16_t)((u >> 16 & 0x8000) | h);
}

enum { BF16, F16, F32 };

/* n values q * scale, q ~ round(N(0, sigma)) clipped to [lo, hi], a new
 * scale (fp32) every `group` elements, stored as `kind`. */
static uint8_t *quantized(size_t n, int kind, size_t group, double sigma,
			  long lo, long hi, uint64_t seed)
{
	size_t es = kind == F32 ? 4 : 2;
	uint8_t *p = malloc(n * es);
	float scale = 0;

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		long q = lround(gauss(&seed) * sigma);
		float v;
		if (i % group == 0)
			scale = (float)((0.5 + uniform(&seed)) * 0.02 / hi);
		q = q < lo ? lo : q > hi ? hi : q;
		v = (float)q * scale;
		if (kind == F32)
			z4_put32(p + 4 * i, f2u(v));
		else
			z4_put16(p + 2 * i, kind == BF16 ? to_bf16(v) : to_f16(v));
	}
	return p;
}

static const unsigned dtypes[] = {Z4_DELTA_DT_BF16, Z4_DELTA_DT_F16,
				  Z4_DELTA_DT_F32};

/* Encode as a keyframe, decode, compare; returns the ratio and in *version
 * 3 when the chunk has the group transform, else 2 (a plain chunk may be
 * format 3 too, for its wide order-0 planes). */
static double roundtrip(const uint8_t *src, size_t len, int kind,
			unsigned *version)
{
	z4_delta_params par = {.elem_size = kind == F32 ? 4 : 2,
			       .dtype = dtypes[kind]};
	size_t cap = z4_delta_bound(len, par.elem_size), n = 0;
	uint8_t *enc = malloc(cap), *enc2 = malloc(cap), *out = malloc(len);
	z4_delta_info info;
	size_t n2 = 0;
	double ratio;

	assert_non_null(enc);
	assert_non_null(enc2);
	assert_non_null(out);
	assert_int_equal(z4_delta_encode(&n, &info, enc, cap, ctx, src, len,
					 &par),
			 Z4_OK);
	/* Deterministic: a second encode gives the same bytes. */
	assert_int_equal(z4_delta_encode(&n2, NULL, enc2, cap, ctx, src, len,
					 &par),
			 Z4_OK);
	assert_int_equal(n, n2);
	assert_memory_equal(enc, enc2, n);
	assert_true(n <= cap);
	/* enc[32]: the transform byte of a keyframe; 2 is the group one. */
	*version = info.version >= 3 && enc[32] == 2 ? 3 : 2;
	memset(out, 0x5a, len);
	assert_int_equal(z4_delta_decode(out, len, ctx, enc, n, NULL), Z4_OK);
	assert_memory_equal(out, src, len);
	ratio = (double)len / (double)n;
	free(enc);
	free(enc2);
	free(out);
	return ratio;
}

static void test_int4_group128_each_kind(void **state)
{
	const size_t n = 1u << 20;
	(void)state;
	for (int kind = BF16; kind <= F32; kind++) {
		uint8_t *p = quantized(n, kind, 128, 2.5, -8, 7, 42 + kind);
		unsigned v;
		double r = roundtrip(p, n * (kind == F32 ? 4u : 2u), kind, &v);
		print_message("int4 g128 kind %d: %.3fx\n", kind, r);
		assert_int_equal(v, 3);
		/* ~3.4 bits of index + a scale per 128 elements */
		assert_true(r > (kind == F32 ? 8.5 : 4.5));
		free(p);
	}
}

static void test_int8_groups(void **state)
{
	const size_t n = 1u << 19;
	(void)state;
	for (size_t g = 32; g <= 1024; g *= 4) {
		uint8_t *p = quantized(n, BF16, g, 20, -127, 127, g);
		unsigned v;
		double r = roundtrip(p, 2 * n, BF16, &v);
		print_message("int8 group %zu as bf16: %.3fx\n", g, r);
		assert_int_equal(v, 3);
		assert_true(r > 1.9); /* ~6.4 bits of index */
		free(p);
	}
}

/* Values no scale reproduces are exceptions and come back exactly. */
static void test_exceptions_roundtrip(void **state)
{
	const size_t n = 1u << 18;
	static const uint16_t odd[] = {0x8000, 0x7fc0, 0xffc1, 0x7f80,
				       0xff80, 0x3f81, 0x0001, 0x4b00};
	uint8_t *p = quantized(n, BF16, 128, 2.5, -8, 7, 7);
	uint64_t seed = 99;
	unsigned v;
	double r;
	(void)state;
	for (int i = 0; i < 600; i++)
		z4_put16(p + 2 * (tc_rng(&seed) % n), odd[i % 8]);
	/* A whole group of garbage, and the very last element. */
	for (size_t i = 4096; i < 4096 + 128; i++)
		z4_put16(p + 2 * i, (uint16_t)tc_rng(&seed));
	z4_put16(p + 2 * (n - 1), 0x8000);
	r = roundtrip(p, 2 * n, BF16, &v);
	print_message("with exceptions: %.3fx\n", r);
	assert_true(r > 3.8);
	assert_int_equal(v, 3);
	/* A length that is not a multiple of the group. */
	assert_true(roundtrip(p, 2 * (n - 77), BF16, &v) > r * 0.99);
	assert_int_equal(v, 3);
	free(p);
}

/* Ordinary (continuous) weights never take the group path. */
static void test_plain_weights_keep_planes(void **state)
{
	const size_t n = 1u << 18;
	uint8_t *p = malloc(4 * n);
	uint64_t seed = 5;
	unsigned v;
	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		z4_put16(p + 2 * i, to_bf16((float)(gauss(&seed) * 0.02)));
	roundtrip(p, 2 * n, BF16, &v);
	assert_int_equal(v, 2);
	for (size_t i = 0; i < n; i++)
		z4_put32(p + 4 * i, f2u((float)(gauss(&seed) * 0.02)));
	roundtrip(p, 4 * n, F32, &v);
	assert_int_equal(v, 2);
	free(p);
}

/* Every truncation and every byte flip of a group chunk is an error or
 * (for bits the format does not read) the exact original. */
static void test_group_chunk_damage(void **state)
{
	const size_t n = 4096, len = 2 * n;
	z4_delta_params par = {.elem_size = 2, .dtype = Z4_DELTA_DT_BF16};
	uint8_t *p = quantized(n, BF16, 128, 2.5, -8, 7, 3);
	size_t cap = z4_delta_bound(len, 2), elen = 0, caught, flips;
	uint8_t *enc = tc_xmalloc(cap);
	z4_delta_info info;
	(void)state;
	z4_put16(p + 10, 0x8000); /* one exception */
	assert_int_equal(z4_delta_encode(&elen, &info, enc, cap, ctx, p, len,
					 &par),
			 Z4_OK);
	assert_int_equal(info.version, 3);
	caught = tc_damage(&flips, NULL, enc, elen, p, len, NULL);
	/* A flip that still decodes gave the exact bytes (tc_damage checks):
	 * a scale is any float in an interval, so a flip in its low
	 * mantissa bits may still reproduce every value. Those are few. */
	print_message("%zu of %zu flips caught\n", caught, flips);
	assert_true(caught * 100 >= flips * 98);
	free(p);
	free(enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_int4_group128_each_kind),
		cmocka_unit_test(test_int8_groups),
		cmocka_unit_test(test_exceptions_roundtrip),
		cmocka_unit_test(test_plain_weights_keep_planes),
		cmocka_unit_test(test_group_chunk_damage),
	};
	return cmocka_run_group_tests(tests, tc_setup, tc_teardown);
}
