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
