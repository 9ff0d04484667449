/*
 * testcodec.h - shared by the codec tests (include after <cmocka.h>): a
 * seeded generator, checked allocation, with TC_RANS_WORK one rANS
 * scratch per program, and with TC_DELTA_CTX defined
 * one z4_delta_ctx per program and the truncation / bit-flip sweep over
 * an encoded chunk.
 */
#ifndef Z4_TESTCODEC_H
#define Z4_TESTCODEC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "z4_delta.h"

static inline uint64_t tc_rng(uint64_t *s) /* splitmix64 */
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void *tc_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	assert_non_null(p);
	return p;
}

/*
 * The encoder step tests of the wide models: a state for lane j that puts
 * a frequency f (of 2^S, shedding from top = f << (32 - S) on) at an
 * edge: a quotient's first or last state, the largest kept and smallest
 * shed ones, random ones (r).
 */
static inline uint32_t tc_edge_state(int j, uint32_t f, uint64_t top,
				     uint64_t r)
{
	uint64_t qq = (top - 1) / f - (uint64_t)(j / 4), v;

	switch (j % 4) {
	case 0:
		v = qq * f;
		break;
	case 1:
		v = qq * f + f - 1;
		break;
	case 2:
		v = j < 8 ? top - 1 - (uint64_t)j : top + (r % 4096);
		break;
	default:
		v = r >> 32;
	}
	if (v < (1u << 16))
		v += 1u << 16;
	if (v > UINT32_MAX)
		v = UINT32_MAX - (uint64_t)j;
	return (uint32_t)v;
}

/* The coding step in plain integer arithmetic: shed a word below *q when
 * x >= top, then x / f << S + x % f + start. */
static inline uint32_t tc_ref_step(uint32_t x, uint32_t f, uint32_t start,
				   unsigned S, uint64_t top, uint8_t **q)
{
	uint64_t v = x;

	if (v >= top) {
		*q -= 2;
		(*q)[0] = (uint8_t)v;
		(*q)[1] = (uint8_t)(v >> 8);
		v >>= 16;
	}
	return (uint32_t)((v / f) << S) + (uint32_t)(v % f) + start;
}

#ifdef TC_WIDE_KERNELS /* a rANS scratch w and every wide kernel set of
			* this host (kern[0..n_kern)), by tc_wide_setup */
#include "rans.h"
#include "rans_wide.h"
#include "z4_err.h"

static z4_rans_work *w;
static const z4_ransw_kernels *kern[Z4_RANSW_SETS];
static int n_kern;

static inline int tc_wide_setup(void **state)
{
	(void)state;
	w = z4_rans_work_new();
	n_kern = z4_ransw_kernels_all(kern);
	return w ? 0 : -1;
}

static inline int tc_wide_teardown(void **state)
{
	(void)state;
	z4_rans_work_set_wide(w, z4_ransw_kernels_pick());
	z4_rans_work_free(w);
	w = NULL;
	return 0;
}

/* Decode with each kernel set: the same result and bytes (in out). */
static inline int tc_decode_all(uint8_t *out, size_t n, const uint8_t *enc,
				size_t len, int model, const uint8_t *side)
{
	uint8_t *o2 = tc_xmalloc(n);
	int rc = 0;

	for (int k = 0; k < n_kern; k++) {
		int r;
		z4_rans_work_set_wide(w, kern[k]);
		memset(k ? o2 : out, 0xa5, n);
		r = z4_rans_decode(k ? o2 : out, n, w, enc, len, model, side);
		if (k == 0) {
			rc = r;
		} else {
			assert_int_equal(r, rc);
			if (r == Z4_OK && n)
				assert_memory_equal(o2, out, n);
		}
	}
	free(o2);
	return rc;
}

/* Encode with each kernel set: the same bytes, whose length is returned. */
static inline size_t tc_encode_all(uint8_t *enc, size_t cap,
				   const uint8_t *src, size_t n, int model,
				   const uint8_t *side)
{
	uint8_t *e2 = tc_xmalloc(cap);
	size_t len = 0, l2;

	for (int k = 0; k < n_kern; k++) {
		z4_rans_work_set_wide(w, kern[k]);
		assert_int_equal(z4_rans_encode(&l2, k ? e2 : enc, cap, w, src,
						n, model, side),
				 Z4_OK);
		if (k == 0) {
			len = l2;
		} else {
			assert_int_equal(l2, len);
			assert_memory_equal(e2, enc, len);
		}
	}
	free(e2);
	return len;
}
#endif /* TC_WIDE_KERNELS */

#ifdef TC_RANS_WORK /* the program's rANS scratch, set up by tc_rans_setup */
#include "rans.h"

static z4_rans_work *w;

static inline int tc_rans_setup(void **state)
{
	(void)state;
	w = z4_rans_work_new();
	return w ? 0 : -1;
}

static inline int tc_rans_teardown(void **state)
{
	(void)state;
	z4_rans_work_free(w);
	w = NULL;
	return 0;
}
#endif /* TC_RANS_WORK */

#ifdef TC_DELTA_CTX /* the program's context, set up by tc_setup */
static z4_delta_ctx *ctx;

static inline int tc_setup(void **state)
{
	(void)state;
	ctx = z4_delta_ctx_new();
	return ctx ? 0 : -1;
}

static inline int tc_teardown(void **state)
{
	(void)state;
	z4_delta_ctx_free(ctx);
	return 0;
}

/*
 * Decode every proper prefix of enc (each must fail) and enc with each
 * single bit flipped: a flip that still decodes must give exactly `want`.
 * Returns the number of flips caught; *flips gets how many were tried and
 * *odd (if not NULL) the flips that decoded outside the depth field.
 */
static inline size_t tc_damage(size_t *flips, size_t *odd, const uint8_t *enc,
			       size_t n, const uint8_t *want, size_t len,
			       const uint8_t *base)
{
	uint8_t *t = tc_xmalloc(n), *out = tc_xmalloc(len);
	size_t caught = 0;

	*flips = 0;
	if (odd)
		*odd = 0;
	for (size_t k = 0; k < n; k++)
		assert_int_not_equal(z4_delta_decode(out, len, ctx, enc, k, base),
				     Z4_OK);
	for (size_t off = 0; off < n; off++)
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(t, enc, n);
			t[off] ^= (uint8_t)(1u << bit);
			++*flips;
			if (z4_delta_decode(out, len, ctx, t, n, base) != Z4_OK) {
				caught++;
				continue;
			}
			assert_memory_equal(out, want, len);
			if (odd && off != 6 && off != 7)
				++*odd;
		}
	free(t);
	free(out);
	return caught;
}
#endif /* TC_DELTA_CTX */

#endif
