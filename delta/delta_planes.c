/*
 * delta_planes.c - byte-plane split/merge, XOR and the entropy estimate.
 *
 * Speed: each kernel runs its body in blocks of BLK elements with a constant
 * trip count, then a scalar tail. The constant count is what lets gcc -O2
 * (whose "very cheap" vectorizer refuses loops that need an epilogue or a
 * runtime alias check) turn the block into SSE2 shuffles; `restrict` on
 * every pointer rules out the alias checks. The `mode`/`xb` arguments are
 * compile-time constants after inlining, so each call site gets its own
 * branch-free loop. The same source is the portable reference on any ISA;
 * the functions of delta_planes.h dispatch (at the end of this file) to it
 * or to a faster table of delta_planes_isa.h that gives the same bytes.
 */
#include "delta_planes.h"
#include "delta_planes_isa.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "delta_env.h"
#include "z4_le.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define Z4_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define Z4_CLONES
#endif

#define BLK 32
#define INLINE static inline __attribute__((always_inline))

/* ---- split: planes[k][i] = src[i*E + k] (^ base[i*E + k]) ---- */

INLINE void split2(uint8_t *restrict p0, uint8_t *restrict p1,
		   const uint8_t *restrict s, const uint8_t *restrict b,
		   size_t m, const int xb)
{
	size_t i = 0;
	for (; i + BLK <= m; i += BLK)
		for (size_t j = i; j < i + BLK; j++) {
			p0[j] = s[2 * j] ^ (xb ? b[2 * j] : 0);
			p1[j] = s[2 * j + 1] ^ (xb ? b[2 * j + 1] : 0);
		}
	for (; i < m; i++) {
		p0[i] = s[2 * i] ^ (xb ? b[2 * i] : 0);
		p1[i] = s[2 * i + 1] ^ (xb ? b[2 * i + 1] : 0);
	}
}

INLINE void split4(uint8_t *restrict p0, uint8_t *restrict p1,
		   uint8_t *restrict p2, uint8_t *restrict p3,
		   const uint8_t *restrict s, const uint8_t *restrict b,
		   size_t m, const int xb)
{
	size_t i = 0;
	for (; i + BLK <= m; i += BLK)
		for (size_t j = i; j < i + BLK; j++) {
			p0[j] = s[4 * j] ^ (xb ? b[4 * j] : 0);
			p1[j] = s[4 * j + 1] ^ (xb ? b[4 * j + 1] : 0);
			p2[j] = s[4 * j + 2] ^ (xb ? b[4 * j + 2] : 0);
			p3[j] = s[4 * j + 3] ^ (xb ? b[4 * j + 3] : 0);
		}
	for (; i < m; i++) {
		p0[i] = s[4 * i] ^ (xb ? b[4 * i] : 0);
		p1[i] = s[4 * i + 1] ^ (xb ? b[4 * i + 1] : 0);
		p2[i] = s[4 * i + 2] ^ (xb ? b[4 * i + 2] : 0);
		p3[i] = s[4 * i + 3] ^ (xb ? b[4 * i + 3] : 0);
	}
}

INLINE void split8(uint8_t *restrict p0, uint8_t *restrict p1,
		   uint8_t *restrict p2, uint8_t *restrict p3,
		   uint8_t *restrict p4, uint8_t *restrict p5,
		   uint8_t *restrict p6, uint8_t *restrict p7,
		   const uint8_t *restrict s, const uint8_t *restrict b,
		   size_t m, const int xb)
{
	size_t i = 0;
	for (; i + BLK <= m; i += BLK)
		for (size_t j = i; j < i + BLK; j++) {
			p0[j] = s[8 * j] ^ (xb ? b[8 * j] : 0);
			p1[j] = s[8 * j + 1] ^ (xb ? b[8 * j + 1] : 0);
			p2[j] = s[8 * j + 2] ^ (xb ? b[8 * j + 2] : 0);
			p3[j] = s[8 * j + 3] ^ (xb ? b[8 * j + 3] : 0);
			p4[j] = s[8 * j + 4] ^ (xb ? b[8 * j + 4] : 0);
			p5[j] = s[8 * j + 5] ^ (xb ? b[8 * j + 5] : 0);
			p6[j] = s[8 * j + 6] ^ (xb ? b[8 * j + 6] : 0);
			p7[j] = s[8 * j + 7] ^ (xb ? b[8 * j + 7] : 0);
		}
	for (; i < m; i++) {
		p0[i] = s[8 * i] ^ (xb ? b[8 * i] : 0);
		p1[i] = s[8 * i + 1] ^ (xb ? b[8 * i + 1] : 0);
		p2[i] = s[8 * i + 2] ^ (xb ? b[8 * i + 2] : 0);
		p3[i] = s[8 * i + 3] ^ (xb ? b[8 * i + 3] : 0);
		p4[i] = s[8 * i + 4] ^ (xb ? b[8 * i + 4] : 0);
		p5[i] = s[8 * i + 5] ^ (xb ? b[8 * i + 5] : 0);
		p6[i] = s[8 * i + 6] ^ (xb ? b[8 * i + 6] : 0);
		p7[i] = s[8 * i + 7] ^ (xb ? b[8 * i + 7] : 0);
	}
}

static void split_portable(uint8_t *const planes[], const uint8_t *src,
			   const uint8_t *base, size_t n_elems,
			   unsigned elem_size)
{
	uint8_t *const *p = planes;

	switch (elem_size) {
	case 2:
		if (base)
			split2(p[0], p[1], src, base, n_elems, 1);
		else
			split2(p[0], p[1], src, NULL, n_elems, 0);
		break;
	case 4:
		if (base)
			split4(p[0], p[1], p[2], p[3], src, base, n_elems, 1);
		else
			split4(p[0], p[1], p[2], p[3], src, NULL, n_elems, 0);
		break;
	case 8:
		if (base)
			split8(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7],
			       src, base, n_elems, 1);
		else
			split8(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7],
			       src, NULL, n_elems, 0);
		break;
	default:
		assert(!"elem_size must be 2, 4 or 8");
	}
}

/* ---- merge: dst[i*E + k] = planes[k][i], then per mode ---- */

/* The byte a merge stores at dst[x] given the plane byte v. */
#define MERGED(x, v)                                                           \
	(mode == Z4_MERGE_SET   ? (uint8_t)(v)                                 \
	 : mode == Z4_MERGE_XOR ? (uint8_t)((v) ^ b[x])                        \
				: (uint8_t)((v) ^ d[x]))

INLINE void merge1(uint8_t *restrict d, const uint8_t *restrict p0,
		   const uint8_t *restrict b, size_t m, const int mode)
{
	size_t i = 0;
	for (; i + BLK <= m; i += BLK)
		for (size_t j = i; j < i + BLK; j++)
			d[j] = MERGED(j, p0[j]);
	for (; i < m; i++)
		d[i] = MERGED(i, p0[i]);
}

INLINE void merge2(uint8_t *restrict d, const uint8_t *restrict p0,
		   const uint8_t *restrict p1, const uint8_t *restrict b,
		   size_t m, const int mode)
{
	size_t i = 0;
	for (; i + BLK <= m; i += BLK)
		for (size_t j = i; j < i + BLK; j++) {
			d[2 * j] = MERGED(2 * j, p0[j]);
			d[2 * j + 1] = MERGED(2 * j + 1, p1[j]);
		}
	for (; i < m; i++) {
		d[2 * i] = MERGED(2 * i, p0[i]);
		d[2 * i + 1] = MERGED(2 * i + 1, p1[i]);
	}
}

INLINE void merge4(uint8_t *restrict d, const uint8_t *restrict p0,
		   const uint8_t *restrict p1, const uint8_t *restrict p2,
		   const uint8_t *restrict p3, const uint8_t *restrict b,
		   size_t m, const int mode)
{
	size_t i = 0;
	for (; i + BLK <= m; i += BLK)
		for (size_t j = i; j < i + BLK; j++) {
			d[4 * j] = MERGED(4 * j, p0[j]);
			d[4 * j + 1] = MERGED(4 * j + 1, p1[j]);
			d[4 * j + 2] = MERGED(4 * j + 2, p2[j]);
			d[4 * j + 3] = MERGED(4 * j + 3, p3[j]);
		}
	for (; i < m; i++) {
		d[4 * i] = MERGED(4 * i, p0[i]);
		d[4 * i + 1] = MERGED(4 * i + 1, p1[i]);
		d[4 * i + 2] = MERGED(4 * i + 2, p2[i]);
		d[4 * i + 3] = MERGED(4 * i + 3, p3[i]);
	}
}

INLINE void merge8(uint8_t *restrict d, const uint8_t *restrict p0,
		   const uint8_t *restrict p1, const uint8_t *restrict p2,
		   const uint8_t *restrict p3, const uint8_t *restrict p4,
		   const uint8_t *restrict p5, const uint8_t *restrict p6,
		   const uint8_t *restrict p7, const uint8_t *restrict b,
		   size_t m, const int mode)
{
	size_t i = 0;
	for (; i + BLK <= m; i += BLK)
		for (size_t j = i; j < i + BLK; j++) {
			d[8 * j] = MERGED(8 * j, p0[j]);
			d[8 * j + 1] = MERGED(8 * j + 1, p1[j]);
			d[8 * j + 2] = MERGED(8 * j + 2, p2[j]);
			d[8 * j + 3] = MERGED(8 * j + 3, p3[j]);
			d[8 * j + 4] = MERGED(8 * j + 4, p4[j]);
			d[8 * j + 5] = MERGED(8 * j + 5, p5[j]);
			d[8 * j + 6] = MERGED(8 * j + 6, p6[j]);
			d[8 * j + 7] = MERGED(8 * j + 7, p7[j]);
		}
	for (; i < m; i++) {
		d[8 * i] = MERGED(8 * i, p0[i]);
		d[8 * i + 1] = MERGED(8 * i + 1, p1[i]);
		d[8 * i + 2] = MERGED(8 * i + 2, p2[i]);
		d[8 * i + 3] = MERGED(8 * i + 3, p3[i]);
		d[8 * i + 4] = MERGED(8 * i + 4, p4[i]);
		d[8 * i + 5] = MERGED(8 * i + 5, p5[i]);
		d[8 * i + 6] = MERGED(8 * i + 6, p6[i]);
		d[8 * i + 7] = MERGED(8 * i + 7, p7[i]);
	}
}

#undef MERGED

/* One instance per mode, so `mode` is a constant inside each loop. */
#define MERGE_DISPATCH(call_with_mode)                                         \
	do {                                                                   \
		switch (mode) {                                                \
		case Z4_MERGE_SET:                                             \
			call_with_mode(Z4_MERGE_SET);                          \
			break;                                                 \
		case Z4_MERGE_XOR:                                             \
			call_with_mode(Z4_MERGE_XOR);                          \
			break;                                                 \
		case Z4_MERGE_XOR_INTO:                                        \
			call_with_mode(Z4_MERGE_XOR_INTO);                     \
			break;                                                 \
		}                                                              \
	} while (0)

static void merge_portable(uint8_t *dst, const uint8_t *const planes[],
			   const uint8_t *base, size_t n_elems,
			   unsigned elem_size, z4_merge_mode mode)
{
	const uint8_t *const *p = planes;
	const uint8_t *b = mode == Z4_MERGE_XOR ? base : NULL;

	assert(mode != Z4_MERGE_XOR || base);
	switch (elem_size) {
	case 1:
#define CALL(md) merge1(dst, p[0], b, n_elems, md)
		MERGE_DISPATCH(CALL);
#undef CALL
		break;
	case 2:
#define CALL(md) merge2(dst, p[0], p[1], b, n_elems, md)
		MERGE_DISPATCH(CALL);
#undef CALL
		break;
	case 4:
#define CALL(md) merge4(dst, p[0], p[1], p[2], p[3], b, n_elems, md)
		MERGE_DISPATCH(CALL);
#undef CALL
		break;
	case 8:
#define CALL(md)                                                               \
	merge8(dst, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], b,         \
	       n_elems, md)
		MERGE_DISPATCH(CALL);
#undef CALL
		break;
	default:
		assert(!"elem_size must be 1, 2, 4 or 8");
	}
}

static void xor_portable(uint8_t *dst, const uint8_t *a, const uint8_t *b,
			 size_t n)
{
	const uint8_t *const pa[1] = {a};

	/* Route through the merge kernels so the in-place forms keep
	 * `restrict` honest: dst aliases at most the operand merged into. */
	if (dst == a)
		merge_portable(dst, (const uint8_t *const[]){b}, NULL, n, 1,
			       Z4_MERGE_XOR_INTO);
	else if (dst == b)
		merge_portable(dst, pa, NULL, n, 1, Z4_MERGE_XOR_INTO);
	else
		merge_portable(dst, pa, b, n, 1, Z4_MERGE_XOR);
}

/* ---- entropy estimate ---- */

/*
 * Planes up to SAMPLE_ALL bytes are measured whole; longer ones through
 * SAMPLE_N evenly spaced runs of SAMPLE_RUN bytes. 64 KiB of sample puts the
 * estimate of uniformly random bytes near 7.997 bits, well clear of the
 * 7.9 threshold, and costs a few microseconds.
 */
#define SAMPLE_RUN 4096u
#define SAMPLE_N 16u
#define SAMPLE_ALL (SAMPLE_RUN * SAMPLE_N)
#define RAW_BITS_X10 79u /* 7.9 bits per byte */

/* log2(x) in 16.16 fixed point, for 1 <= x < 2^32, by repeated squaring:
 * exact integer arithmetic, no libm, same bits everywhere. */
static uint64_t log2_q16(uint64_t x)
{
	unsigned k = 63u - (unsigned)__builtin_clzll(x);
	uint64_t y = x << (31u - k); /* x / 2^k in Q31, in [1, 2) */
	uint64_t r = (uint64_t)k << 16;

	assert(x >= 1 && k <= 31);
	for (unsigned bit = 1u << 15; bit; bit >>= 1) {
		y = (y * y) >> 31;
		if (y >= (2ull << 31)) {
			y >>= 1;
			r |= bit;
		}
	}
	return r;
}

static void count(uint32_t h[4][256], const uint8_t *p, size_t n)
{
	size_t i = 0;
	/* Four tables break the store-to-load chain on repeated bytes. */
	for (; i + 4 <= n; i += 4) {
		h[0][p[i]]++;
		h[1][p[i + 1]]++;
		h[2][p[i + 2]]++;
		h[3][p[i + 3]]++;
	}
	for (; i < n; i++)
		h[0][p[i]]++;
}

int z4_delta_looks_random(const uint8_t *p, size_t len)
{
	uint32_t h[4][256];
	uint64_t n, sum_clogc = 0;

	if (len == 0)
		return 0;
	memset(h, 0, sizeof(h));
	if (len <= SAMPLE_ALL) {
		count(h, p, len);
		n = len;
	} else {
		size_t step = (len - SAMPLE_RUN) / (SAMPLE_N - 1);
		for (unsigned s = 0; s < SAMPLE_N; s++)
			count(h, p + s * step, SAMPLE_RUN);
		n = SAMPLE_ALL;
	}
	for (unsigned v = 0; v < 256; v++) {
		uint64_t c = (uint64_t)h[0][v] + h[1][v] + h[2][v] + h[3][v];
		if (c > 1)
			sum_clogc += c * log2_q16(c);
	}
	/* Total bits n*log2(n) - sum(c*log2(c)) >= 7.9 * n, in Q16. */
	return 10 * (n * log2_q16(n) - sum_clogc) >= RAW_BITS_X10 * (n << 16);
}

/* ---- rotated split/merge: the word turned left by one bit first ---- */

/*
 * A little-endian float word w (sign in the top bit) becomes rotl(w, 1):
 * the exponent fills the top byte(s) and the sign drops to bit 0, next to
 * the mantissa. bf16 and fp32 keep their whole exponent in the last plane
 * instead of leaving its lowest bit in the mantissa plane.
 */
/* Byte k of rotl(w, 1) from the bytes of w: a shift per byte, so the loop
 * vectorizes like the plain split. */
#define ROTL_BYTE(v, k, E) (uint8_t)((v)[k] << 1 | (v)[((k) + (E)-1) % (E)] >> 7)
#define ROTR_BYTE(v, k, E) (uint8_t)((v)[k] >> 1 | (v)[((k) + 1) % (E)] << 7)

#define ROT_SPLIT(E)                                                           \
	INLINE void split_rot##E(uint8_t *const *pl,                           \
				 const uint8_t *restrict s,                    \
				 const uint8_t *restrict b, size_t m,          \
				 const int xb)                                 \
	{                                                                      \
		uint8_t *restrict q[E];                                        \
		size_t i = 0;                                                  \
		for (int k = 0; k < E; k++)                                    \
			q[k] = pl[k];                                          \
		for (; i + BLK <= m; i += BLK)                                 \
			for (size_t j = i; j < i + BLK; j++) {                 \
				uint8_t v[E];                                  \
				for (int k = 0; k < E; k++)                    \
					v[k] = s[E * j + k] ^                  \
					       (xb ? b[E * j + k] : 0);        \
				for (int k = 0; k < E; k++)                    \
					q[k][j] = ROTL_BYTE(v, k, E);          \
			}                                                      \
		for (; i < m; i++) {                                           \
			uint8_t v[E];                                          \
			for (int k = 0; k < E; k++)                            \
				v[k] = s[E * i + k] ^ (xb ? b[E * i + k] : 0); \
			for (int k = 0; k < E; k++)                            \
				q[k][i] = ROTL_BYTE(v, k, E);                  \
		}                                                              \
	}
/* bf16: written out, which gcc vectorizes where the generic form fails. */
INLINE void split_rot2(uint8_t *const *pl, const uint8_t *restrict s,
		       const uint8_t *restrict b, size_t m, const int xb)
{
	uint8_t *restrict p0 = pl[0];
	uint8_t *restrict p1 = pl[1];
	size_t i = 0;
	for (; i + BLK <= m; i += BLK)
		for (size_t j = i; j < i + BLK; j++) {
			uint8_t lo = s[2 * j] ^ (xb ? b[2 * j] : 0);
			uint8_t hi = s[2 * j + 1] ^ (xb ? b[2 * j + 1] : 0);
			p0[j] = (uint8_t)(lo << 1 | hi >> 7);
			p1[j] = (uint8_t)(hi << 1 | lo >> 7);
		}
	for (; i < m; i++) {
		uint8_t lo = s[2 * i] ^ (xb ? b[2 * i] : 0);
		uint8_t hi = s[2 * i + 1] ^ (xb ? b[2 * i + 1] : 0);
		p0[i] = (uint8_t)(lo << 1 | hi >> 7);
		p1[i] = (uint8_t)(hi << 1 | lo >> 7);
	}
}
ROT_SPLIT(4)
ROT_SPLIT(8)

static void split_rot_portable(uint8_t *const planes[], const uint8_t *src,
			       const uint8_t *base, size_t n_elems,
			       unsigned elem_size)
{
	/* Each branch passes the XOR flag as a constant so the compiler
	 * emits one tight loop with and one without the base. */
	switch (elem_size) {
	case 2:
		if (base)
			split_rot2(planes, src, base, n_elems, 1);
		else
			split_rot2(planes, src, NULL, n_elems, 0);
		break;
	case 4:
		if (base)
			split_rot4(planes, src, base, n_elems, 1);
		else
			split_rot4(planes, src, NULL, n_elems, 0);
		break;
	case 8:
		if (base)
			split_rot8(planes, src, base, n_elems, 1);
		else
			split_rot8(planes, src, NULL, n_elems, 0);
		break;
	default:
		assert(!"elem_size must be 2, 4 or 8");
	}
}

#define ROT_MERGE(E)                                                           \
	INLINE void merge_rot##E(uint8_t *restrict d,                          \
				 const uint8_t *const *pl,                     \
				 const uint8_t *restrict b, size_t m,          \
				 const int mode)                               \
	{                                                                      \
		const uint8_t *restrict q[E];                                  \
		size_t i = 0;                                                  \
		for (int k = 0; k < E; k++)                                    \
			q[k] = pl[k];                                          \
		for (; i + BLK <= m; i += BLK)                                 \
			for (size_t j = i; j < i + BLK; j++) {                 \
				uint8_t v[E];                                  \
				for (int k = 0; k < E; k++)                    \
					v[k] = q[k][j];                        \
				for (int k = 0; k < E; k++)                    \
					d[E * j + k] = MERGED(                 \
						E * j + k, ROTR_BYTE(v, k, E)); \
			}                                                      \
		for (; i < m; i++) {                                           \
			uint8_t v[E];                                          \
			for (int k = 0; k < E; k++)                            \
				v[k] = q[k][i];                                \
			for (int k = 0; k < E; k++)                            \
				d[E * i + k] =                                 \
					MERGED(E * i + k, ROTR_BYTE(v, k, E)); \
		}                                                              \
	}
/* MERGED as in the plain merge kernels. */
#define MERGED(x, v)                                                           \
	(mode == Z4_MERGE_SET   ? (uint8_t)(v)                                 \
	 : mode == Z4_MERGE_XOR ? (uint8_t)((v) ^ b[x])                        \
				: (uint8_t)((v) ^ d[x]))
ROT_MERGE(2)
ROT_MERGE(4)
ROT_MERGE(8)
#undef MERGED

static void merge_rot_portable(uint8_t *dst, const uint8_t *const planes[],
			       const uint8_t *base, size_t n_elems,
			       unsigned elem_size, z4_merge_mode mode)
{
	const uint8_t *b = mode == Z4_MERGE_XOR ? base : NULL;

	switch (elem_size) {
	case 2:
#define CALL(md) merge_rot2(dst, planes, b, n_elems, md)
		MERGE_DISPATCH(CALL);
#undef CALL
		break;
	case 4:
#define CALL(md) merge_rot4(dst, planes, b, n_elems, md)
		MERGE_DISPATCH(CALL);
#undef CALL
		break;
	case 8:
#define CALL(md) merge_rot8(dst, planes, b, n_elems, md)
		MERGE_DISPATCH(CALL);
#undef CALL
		break;
	default:
		assert(!"elem_size must be 2, 4 or 8");
	}
}

/* ---- dispatch: the public kernels run the table picked once ---- */

const z4_planes_kernels z4_delta_planes_portable = {
	.name = "portable",
	.split = split_portable,
	.merge = merge_portable,
	.split_rot = split_rot_portable,
	.merge_rot = merge_rot_portable,
	.xor_bytes = xor_portable,
};

static const z4_planes_kernels *pick_kernels(void)
{
	const z4_planes_kernels *k = NULL;

	if (!z4_delta_env_flag("Z4_NO_AVX2"))
		k = z4_delta_planes_avx2();
	return k ? k : &z4_delta_planes_portable;
}

const z4_planes_kernels *z4_delta_planes_kernels(void)
{
	/* Racing first calls pick the same table: the race is benign, and
	 * the atomics keep it defined (and quiet under TSan). */
	static const z4_planes_kernels *chosen;
	const z4_planes_kernels *k = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);

	if (!k) {
		k = pick_kernels();
		__atomic_store_n(&chosen, k, __ATOMIC_RELEASE);
	}
	return k;
}

void z4_delta_planes_split(uint8_t *const planes[], const uint8_t *src,
			   const uint8_t *base, size_t n_elems,
			   unsigned elem_size)
{
	z4_delta_planes_kernels()->split(planes, src, base, n_elems,
					 elem_size);
}

void z4_delta_planes_merge(uint8_t *dst, const uint8_t *const planes[],
			   const uint8_t *base, size_t n_elems,
			   unsigned elem_size, z4_merge_mode mode)
{
	z4_delta_planes_kernels()->merge(dst, planes, base, n_elems, elem_size,
					 mode);
}

void z4_delta_planes_split_rot(uint8_t *const planes[], const uint8_t *src,
			       const uint8_t *base, size_t n_elems,
			       unsigned elem_size)
{
	z4_delta_planes_kernels()->split_rot(planes, src, base, n_elems,
					     elem_size);
}

void z4_delta_planes_merge_rot(uint8_t *dst, const uint8_t *const planes[],
			       const uint8_t *base, size_t n_elems,
			       unsigned elem_size, z4_merge_mode mode)
{
	z4_delta_planes_kernels()->merge_rot(dst, planes, base, n_elems,
					     elem_size, mode);
}

void z4_delta_xor(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t n)
{
	z4_delta_planes_kernels()->xor_bytes(dst, a, b, n);
}

/* Constant shifts and strides: each loop vectorizes, the AVX2 clone 32
 * words a step. */
Z4_CLONES static void top_plane(uint8_t *top, const uint8_t *src,
				 size_t n_elems, unsigned elem_size, int rot)
{
#define TOP(LOAD, E, SH)                                                       \
	for (size_t i = 0; i < n_elems; i++)                                   \
		top[i] = (uint8_t)(LOAD(src + (E) * i) >> (SH))
	if (elem_size == 1)
		memcpy(top, src, n_elems);
	else if (elem_size == 2 && rot)
		TOP(z4_le16, 2, 7);
	else if (elem_size == 2)
		TOP(z4_le16, 2, 8);
	else if (elem_size == 4 && rot)
		TOP(z4_le32, 4, 23);
	else if (elem_size == 4)
		TOP(z4_le32, 4, 24);
	else if (rot)
		TOP(z4_le64, 8, 55);
	else
		TOP(z4_le64, 8, 56);
#undef TOP
}

void z4_delta_planes_top(uint8_t *top, const uint8_t *src, size_t n_elems,
			 unsigned elem_size, int rot)
{
	top_plane(top, src, n_elems, elem_size, rot);
}
