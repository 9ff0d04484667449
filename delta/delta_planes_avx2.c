/*
 * delta_planes_avx2.c - the byte-plane kernels of delta_planes.h with AVX2.
 *
 * Only the functions here are compiled for AVX2 (the target attribute, no
 * -mavx2), and z4_delta_planes_avx2() hands them out only when the CPU has
 * it, so the library still runs on any x86-64. The bytes are those of the
 * portable loops in delta_planes.c, which also do every tail shorter than
 * a block; tests/test_delta_planes.c compares the two.
 *
 * A block is 32 elements of E bytes: E vectors in element order, one
 * vector per plane. The split is log2(E) rounds of one step over the
 * block's vectors, "even bytes to the first half, odd bytes to the second"
 * (an unshuffle). After round r the vectors form 2^r equal groups, group g
 * holding, in element order, the bytes whose position in the element is g
 * modulo 2^r; after log2(E) rounds a group is one vector and vector k is
 * plane k. The merge runs the inverse step as many times. The rotation,
 * the XOR with the base and the merge modes act on whole words in element
 * order, before the split and after the merge, as in the portable loops.
 */
#include "delta_planes_isa.h"

#if defined(__x86_64__) || defined(__i386__)

#include <assert.h>
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))
#define INLINE static inline __attribute__((always_inline, target("avx2")))
#define BLK 32 /* elements per block: one vector per plane */
/* Loops over the vectors of a block must unroll fully, or the vectors go
 * to the stack: gcc -O2 leaves them rolled, and clang's "GCC unroll"
 * unrolls the generic callee at run-time count before E is known. */
#ifdef __clang__
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 8")
#endif

typedef __m256i v256;

INLINE v256 load(const uint8_t *p)
{
	return _mm256_loadu_si256((const v256 *)p);
}

INLINE void store(uint8_t *p, v256 v)
{
	_mm256_storeu_si256((v256 *)p, v);
}

/* Bytes 0, 2, ..., 62 of x:y into *ev and bytes 1, 3, ..., 63 into *od.
 * packus works per 128-bit lane; the permute puts the lanes in order. */
INLINE void unzip(v256 *ev, v256 *od, v256 x, v256 y)
{
	const v256 lo = _mm256_set1_epi16(0x00ff);
	v256 e = _mm256_packus_epi16(_mm256_and_si256(x, lo),
				     _mm256_and_si256(y, lo));
	v256 o = _mm256_packus_epi16(_mm256_srli_epi16(x, 8),
				     _mm256_srli_epi16(y, 8));

	*ev = _mm256_permute4x64_epi64(e, 0xd8);
	*od = _mm256_permute4x64_epi64(o, 0xd8);
}

/* The inverse: x:y = ev[0] od[0] ev[1] od[1] ... ev[31] od[31]. */
INLINE void zip(v256 *x, v256 *y, v256 ev, v256 od)
{
	v256 lo = _mm256_unpacklo_epi8(ev, od);
	v256 hi = _mm256_unpackhi_epi8(ev, od);

	*x = _mm256_permute2x128_si256(lo, hi, 0x20);
	*y = _mm256_permute2x128_si256(lo, hi, 0x31);
}

/* One unshuffle round over the E vectors of a block, and its inverse. */
INLINE void unshuffle(v256 v[], const int E)
{
	v256 t[8];

	UNROLL
	for (int j = 0; j < E / 2; j++)
		unzip(&t[j], &t[E / 2 + j], v[2 * j], v[2 * j + 1]);
	UNROLL
	for (int j = 0; j < E; j++)
		v[j] = t[j];
}

INLINE void reshuffle(v256 v[], const int E)
{
	v256 t[8];

	UNROLL
	for (int j = 0; j < E / 2; j++)
		zip(&t[2 * j], &t[2 * j + 1], v[j], v[E / 2 + j]);
	UNROLL
	for (int j = 0; j < E; j++)
		v[j] = t[j];
}

/* Every E-byte word of v turned by one bit: left (sign to bit 0), right. */
INLINE v256 rotl1(v256 v, const int E)
{
	if (E == 2)
		return _mm256_or_si256(_mm256_slli_epi16(v, 1),
				       _mm256_srli_epi16(v, 15));
	if (E == 4)
		return _mm256_or_si256(_mm256_slli_epi32(v, 1),
				       _mm256_srli_epi32(v, 31));
	return _mm256_or_si256(_mm256_slli_epi64(v, 1),
			       _mm256_srli_epi64(v, 63));
}

INLINE v256 rotr1(v256 v, const int E)
{
	if (E == 2)
		return _mm256_or_si256(_mm256_srli_epi16(v, 1),
				       _mm256_slli_epi16(v, 15));
	if (E == 4)
		return _mm256_or_si256(_mm256_srli_epi32(v, 1),
				       _mm256_slli_epi32(v, 31));
	return _mm256_or_si256(_mm256_srli_epi64(v, 1),
			       _mm256_slli_epi64(v, 63));
}

/* The first m elements (a multiple of BLK). E, xb, mode and rot are
 * constants after inlining: one straight loop per combination. */
INLINE void split_blocks(uint8_t *const pl[], const uint8_t *s,
			 const uint8_t *b, size_t m, const int E, const int xb,
			 const int rot)
{
	uint8_t *q[8];

	UNROLL
	for (int k = 0; k < E; k++)
		q[k] = pl[k];
	for (size_t i = 0; i < m; i += BLK) {
		v256 v[8];
		UNROLL
		for (int k = 0; k < E; k++) {
			v[k] = load(s + E * i + 32 * k);
			if (xb)
				v[k] = _mm256_xor_si256(
					v[k], load(b + E * i + 32 * k));
			if (rot)
				v[k] = rotl1(v[k], E);
		}
		UNROLL
		for (int r = 1; r < E; r *= 2)
			unshuffle(v, E);
		UNROLL
		for (int k = 0; k < E; k++)
			store(q[k] + i, v[k]);
	}
}

INLINE void merge_blocks(uint8_t *d, const uint8_t *const pl[],
			 const uint8_t *b, size_t m, const int E,
			 const int mode, const int rot)
{
	const uint8_t *q[8];

	UNROLL
	for (int k = 0; k < E; k++)
		q[k] = pl[k];
	for (size_t i = 0; i < m; i += BLK) {
		v256 v[8];
		UNROLL
		for (int k = 0; k < E; k++)
			v[k] = load(q[k] + i);
		UNROLL
		for (int r = 1; r < E; r *= 2)
			reshuffle(v, E);
		UNROLL
		for (int k = 0; k < E; k++) {
			uint8_t *o = d + E * i + 32 * k;
			if (rot)
				v[k] = rotr1(v[k], E);
			if (mode == Z4_MERGE_XOR)
				v[k] = _mm256_xor_si256(
					v[k], load(b + E * i + 32 * k));
			else if (mode == Z4_MERGE_XOR_INTO)
				v[k] = _mm256_xor_si256(v[k], load(o));
			store(o, v[k]);
		}
	}
}

/* Whole blocks here; the tail, and any elem_size the portable kernel
 * rejects (it asserts), by the portable kernel. */
INLINE void split_any(uint8_t *const planes[], const uint8_t *src,
		      const uint8_t *base, size_t n, unsigned e, const int rot)
{
	z4_split_fn *portable = rot ? z4_delta_planes_portable.split_rot
				    : z4_delta_planes_portable.split;
	size_t m = n - n % BLK;
	uint8_t *tail[8];

	switch (e) {
#define CASE(E)                                                                \
	case E:                                                                \
		if (base)                                                      \
			split_blocks(planes, src, base, m, E, 1, rot);         \
		else                                                           \
			split_blocks(planes, src, NULL, m, E, 0, rot);         \
		break;
		CASE(2)
		CASE(4)
		CASE(8)
#undef CASE
	default:
		portable(planes, src, base, n, e);
		return;
	}
	if (m == n)
		return;
	for (unsigned k = 0; k < e; k++)
		tail[k] = planes[k] + m;
	portable(tail, src + m * e, base ? base + m * e : NULL, n - m, e);
}

INLINE void merge_any(uint8_t *dst, const uint8_t *const planes[],
		      const uint8_t *base, size_t n, unsigned e,
		      z4_merge_mode mode, const int rot)
{
	z4_merge_fn *portable = rot ? z4_delta_planes_portable.merge_rot
				    : z4_delta_planes_portable.merge;
	const uint8_t *b = mode == Z4_MERGE_XOR ? base : NULL;
	size_t m = n - n % BLK;
	const uint8_t *tail[8];

	assert(mode != Z4_MERGE_XOR || base);
	switch (rot && e == 1 ? 0 : e) { /* no rotated single plane */
#define MODE(E, md)                                                            \
	case md:                                                               \
		merge_blocks(dst, planes, b, m, E, md, rot);                   \
		break;
#define CASE(E)                                                                \
	case E:                                                                \
		switch (mode) {                                                \
			MODE(E, Z4_MERGE_SET)                                  \
			MODE(E, Z4_MERGE_XOR)                                  \
			MODE(E, Z4_MERGE_XOR_INTO)                             \
		}                                                              \
		break;
		CASE(1)
		CASE(2)
		CASE(4)
		CASE(8)
#undef CASE
#undef MODE
	default:
		portable(dst, planes, base, n, e, mode);
		return;
	}
	if (m == n)
		return;
	for (unsigned k = 0; k < e; k++)
		tail[k] = planes[k] + m;
	portable(dst + m * e, tail, b ? b + m * e : NULL, n - m, e, mode);
}

AVX2 static void split_avx2(uint8_t *const planes[], const uint8_t *src,
			    const uint8_t *base, size_t n_elems,
			    unsigned elem_size)
{
	split_any(planes, src, base, n_elems, elem_size, 0);
}

AVX2 static void split_rot_avx2(uint8_t *const planes[], const uint8_t *src,
				const uint8_t *base, size_t n_elems,
				unsigned elem_size)
{
	split_any(planes, src, base, n_elems, elem_size, 1);
}

AVX2 static void merge_avx2(uint8_t *dst, const uint8_t *const planes[],
			    const uint8_t *base, size_t n_elems,
			    unsigned elem_size, z4_merge_mode mode)
{
	merge_any(dst, planes, base, n_elems, elem_size, mode, 0);
}

AVX2 static void merge_rot_avx2(uint8_t *dst, const uint8_t *const planes[],
				const uint8_t *base, size_t n_elems,
				unsigned elem_size, z4_merge_mode mode)
{
	merge_any(dst, planes, base, n_elems, elem_size, mode, 1);
}

/* As the portable form: the merge of one plane, so that dst may be a or b. */
AVX2 static void xor_avx2(uint8_t *dst, const uint8_t *a, const uint8_t *b,
			  size_t n)
{
	if (dst == a)
		merge_avx2(dst, &b, NULL, n, 1, Z4_MERGE_XOR_INTO);
	else if (dst == b)
		merge_avx2(dst, &a, NULL, n, 1, Z4_MERGE_XOR_INTO);
	else
		merge_avx2(dst, &a, b, n, 1, Z4_MERGE_XOR);
}

static const z4_planes_kernels avx2_kernels = {
	.name = "avx2",
	.split = split_avx2,
	.merge = merge_avx2,
	.split_rot = split_rot_avx2,
	.merge_rot = merge_rot_avx2,
	.xor_bytes = xor_avx2,
};

const z4_planes_kernels *z4_delta_planes_avx2(void)
{
	/* Also false when the OS does not save the YMM registers. */
	return __builtin_cpu_supports("avx2") ? &avx2_kernels : NULL;
}

#else /* not x86: the portable kernels only */

const z4_planes_kernels *z4_delta_planes_avx2(void)
{
	return NULL;
}

#endif
