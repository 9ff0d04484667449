/*
 * rans_wide_avx2.c - the row kernel of rans_wide.h with AVX2: 32 states
 * in four vectors of 8 lanes. Per vector: gather the 8 table entries,
 * advance the states, find the lanes below 2^16 (an 8-bit mask), load the
 * next 8 words of the stream widened to 32 bits and permute the first
 * popcount(mask) of them into the needing lanes, in lane order, from a
 * 256-entry table; advance the input by popcount(mask) words. Compiled
 * with the target attribute only, handed out when the CPU has AVX2.
 */
#include "rans_wide.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,popcnt")))

/* perm[m]: for each lane j, the index of its word among the loaded 8,
 * popcount(m & ((1 << j) - 1)) (don't care where bit j of m is clear),
 * packed a byte per lane. */
static const uint64_t perm[256] = {
	0x0000000000000000ull, 0x0000000000000000ull, 0x0000000000000000ull,
	0x0000000000000100ull, 0x0000000000000000ull, 0x0000000000010000ull,
	0x0000000000010000ull, 0x0000000000020100ull, 0x0000000000000000ull,
	0x0000000001000000ull, 0x0000000001000000ull, 0x0000000002000100ull,
	0x0000000001000000ull, 0x0000000002010000ull, 0x0000000002010000ull,
	0x0000000003020100ull, 0x0000000000000000ull, 0x0000000100000000ull,
	0x0000000100000000ull, 0x0000000200000100ull, 0x0000000100000000ull,
	0x0000000200010000ull, 0x0000000200010000ull, 0x0000000300020100ull,
	0x0000000100000000ull, 0x0000000201000000ull, 0x0000000201000000ull,
	0x0000000302000100ull, 0x0000000201000000ull, 0x0000000302010000ull,
	0x0000000302010000ull, 0x0000000403020100ull, 0x0000000000000000ull,
	0x0000010000000000ull, 0x0000010000000000ull, 0x0000020000000100ull,
	0x0000010000000000ull, 0x0000020000010000ull, 0x0000020000010000ull,
	0x0000030000020100ull, 0x0000010000000000ull, 0x0000020001000000ull,
	0x0000020001000000ull, 0x0000030002000100ull, 0x0000020001000000ull,
	0x0000030002010000ull, 0x0000030002010000ull, 0x0000040003020100ull,
	0x0000010000000000ull, 0x0000020100000000ull, 0x0000020100000000ull,
	0x0000030200000100ull, 0x0000020100000000ull, 0x0000030200010000ull,
	0x0000030200010000ull, 0x0000040300020100ull, 0x0000020100000000ull,
	0x0000030201000000ull, 0x0000030201000000ull, 0x0000040302000100ull,
	0x0000030201000000ull, 0x0000040302010000ull, 0x0000040302010000ull,
	0x0000050403020100ull, 0x0000000000000000ull, 0x0001000000000000ull,
	0x0001000000000000ull, 0x0002000000000100ull, 0x0001000000000000ull,
	0x0002000000010000ull, 0x0002000000010000ull, 0x0003000000020100ull,
	0x0001000000000000ull, 0x0002000001000000ull, 0x0002000001000000ull,
	0x0003000002000100ull, 0x0002000001000000ull, 0x0003000002010000ull,
	0x0003000002010000ull, 0x0004000003020100ull, 0x0001000000000000ull,
	0x0002000100000000ull, 0x0002000100000000ull, 0x0003000200000100ull,
	0x0002000100000000ull, 0x0003000200010000ull, 0x0003000200010000ull,
	0x0004000300020100ull, 0x0002000100000000ull, 0x0003000201000000ull,
	0x0003000201000000ull, 0x0004000302000100ull, 0x0003000201000000ull,
	0x0004000302010000ull, 0x0004000302010000ull, 0x0005000403020100ull,
	0x0001000000000000ull, 0x0002010000000000ull, 0x0002010000000000ull,
	0x0003020000000100ull, 0x0002010000000000ull, 0x0003020000010000ull,
	0x0003020000010000ull, 0x0004030000020100ull, 0x0002010000000000ull,
	0x0003020001000000ull, 0x0003020001000000ull, 0x0004030002000100ull,
	0x0003020001000000ull, 0x0004030002010000ull, 0x0004030002010000ull,
	0x0005040003020100ull, 0x0002010000000000ull, 0x0003020100000000ull,
	0x0003020100000000ull, 0x0004030200000100ull, 0x0003020100000000ull,
	0x0004030200010000ull, 0x0004030200010000ull, 0x0005040300020100ull,
	0x0003020100000000ull, 0x0004030201000000ull, 0x0004030201000000ull,
	0x0005040302000100ull, 0x0004030201000000ull, 0x0005040302010000ull,
	0x0005040302010000ull, 0x0006050403020100ull, 0x0000000000000000ull,
	0x0100000000000000ull, 0x0100000000000000ull, 0x0200000000000100ull,
	0x0100000000000000ull, 0x0200000000010000ull, 0x0200000000010000ull,
	0x0300000000020100ull, 0x0100000000000000ull, 0x0200000001000000ull,
	0x0200000001000000ull, 0x0300000002000100ull, 0x0200000001000000ull,
	0x0300000002010000ull, 0x0300000002010000ull, 0x0400000003020100ull,
	0x0100000000000000ull, 0x0200000100000000ull, 0x0200000100000000ull,
	0x0300000200000100ull, 0x0200000100000000ull, 0x0300000200010000ull,
	0x0300000200010000ull, 0x0400000300020100ull, 0x0200000100000000ull,
	0x0300000201000000ull, 0x0300000201000000ull, 0x0400000302000100ull,
	0x0300000201000000ull, 0x0400000302010000ull, 0x0400000302010000ull,
	0x0500000403020100ull, 0x0100000000000000ull, 0x0200010000000000ull,
	0x0200010000000000ull, 0x0300020000000100ull, 0x0200010000000000ull,
	0x0300020000010000ull, 0x0300020000010000ull, 0x0400030000020100ull,
	0x0200010000000000ull, 0x0300020001000000ull, 0x0300020001000000ull,
	0x0400030002000100ull, 0x0300020001000000ull, 0x0400030002010000ull,
	0x0400030002010000ull, 0x0500040003020100ull, 0x0200010000000000ull,
	0x0300020100000000ull, 0x0300020100000000ull, 0x0400030200000100ull,
	0x0300020100000000ull, 0x0400030200010000ull, 0x0400030200010000ull,
	0x0500040300020100ull, 0x0300020100000000ull, 0x0400030201000000ull,
	0x0400030201000000ull, 0x0500040302000100ull, 0x0400030201000000ull,
	0x0500040302010000ull, 0x0500040302010000ull, 0x0600050403020100ull,
	0x0100000000000000ull, 0x0201000000000000ull, 0x0201000000000000ull,
	0x0302000000000100ull, 0x0201000000000000ull, 0x0302000000010000ull,
	0x0302000000010000ull, 0x0403000000020100ull, 0x0201000000000000ull,
	0x0302000001000000ull, 0x0302000001000000ull, 0x0403000002000100ull,
	0x0302000001000000ull, 0x0403000002010000ull, 0x0403000002010000ull,
	0x0504000003020100ull, 0x0201000000000000ull, 0x0302000100000000ull,
	0x0302000100000000ull, 0x0403000200000100ull, 0x0302000100000000ull,
	0x0403000200010000ull, 0x0403000200010000ull, 0x0504000300020100ull,
	0x0302000100000000ull, 0x0403000201000000ull, 0x0403000201000000ull,
	0x0504000302000100ull, 0x0403000201000000ull, 0x0504000302010000ull,
	0x0504000302010000ull, 0x0605000403020100ull, 0x0201000000000000ull,
	0x0302010000000000ull, 0x0302010000000000ull, 0x0403020000000100ull,
	0x0302010000000000ull, 0x0403020000010000ull, 0x0403020000010000ull,
	0x0504030000020100ull, 0x0302010000000000ull, 0x0403020001000000ull,
	0x0403020001000000ull, 0x0504030002000100ull, 0x0403020001000000ull,
	0x0504030002010000ull, 0x0504030002010000ull, 0x0605040003020100ull,
	0x0302010000000000ull, 0x0403020100000000ull, 0x0403020100000000ull,
	0x0504030200000100ull, 0x0403020100000000ull, 0x0504030200010000ull,
	0x0504030200010000ull, 0x0605040300020100ull, 0x0403020100000000ull,
	0x0504030201000000ull, 0x0504030201000000ull, 0x0605040302000100ull,
	0x0504030201000000ull, 0x0605040302010000ull, 0x0605040302010000ull,
	0x0706050403020100ull,
};

/* Decode a vector's symbols (entries to e, looked up at idx), advance its
 * states (S frequency bits), and find the lanes that need a word (need,
 * and m as a bit mask). */
#define ADVX(s, e, need, m, dt, idx, S)                                        \
	do {                                                                   \
		__m256i f_, off_;                                              \
		e = _mm256_i32gather_epi32((const int *)(dt), idx, 4);         \
		f_ = _mm256_add_epi32(_mm256_and_si256(e, m12), one);          \
		off_ = _mm256_and_si256(_mm256_srli_epi32(e, 12), m12);        \
		s = _mm256_add_epi32(                                          \
		    _mm256_mullo_epi32(_mm256_srli_epi32(s, S), f_), off_);    \
		need = _mm256_cmpeq_epi32(_mm256_srli_epi32(s, 16), zero);     \
		m = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(need));   \
	} while (0)
#define ADV(s, e, need, m, dt)                                                 \
	ADVX(s, e, need, m, dt, _mm256_and_si256(s, m12), 12)

/* Shift the next words in at q, in lane order, where needed. */
#define REFILL(s, need, m, q)                                                  \
	do {                                                                   \
		__m256i idx_ = _mm256_cvtepu8_epi32(                           \
		    _mm_loadl_epi64((const __m128i *)(const void *)&perm[m])); \
		__m256i w_ = _mm256_cvtepu16_epi32(                            \
			_mm_loadu_si128((const __m128i *)(const void *)(q)));  \
		w_ = _mm256_permutevar8x32_epi32(w_, idx_);                    \
		s = _mm256_blendv_epi8(                                        \
		    s, _mm256_or_si256(_mm256_slli_epi32(s, 16), w_), need);   \
	} while (0)

/* One row of the stream with states s0..s3, input p, output dst, table
 * dt. The four vectors advance independently; only then do the input
 * positions of their refills follow, from the masks alone: a short
 * chain. The symbols are the entries' top bytes, packed in lane order. */
#define ROW(s0, s1, s2, s3, p, dst, dt)                                        \
	do {                                                                   \
		__m256i e0_, e1_, e2_, e3_, n0_, n1_, n2_, n3_, b_;            \
		unsigned m0_, m1_, m2_, m3_;                                   \
		const uint8_t *p1_, *p2_, *p3_;                                \
		ADV(s0, e0_, n0_, m0_, dt);                                    \
		ADV(s1, e1_, n1_, m1_, dt);                                    \
		ADV(s2, e2_, n2_, m2_, dt);                                    \
		ADV(s3, e3_, n3_, m3_, dt);                                    \
		p1_ = p + 2 * (unsigned)__builtin_popcount(m0_);               \
		p2_ = p1_ + 2 * (unsigned)__builtin_popcount(m1_);             \
		p3_ = p2_ + 2 * (unsigned)__builtin_popcount(m2_);             \
		REFILL(s0, n0_, m0_, p);                                       \
		REFILL(s1, n1_, m1_, p1_);                                     \
		REFILL(s2, n2_, m2_, p2_);                                     \
		REFILL(s3, n3_, m3_, p3_);                                     \
		p = p3_ + 2 * (unsigned)__builtin_popcount(m3_);               \
		b_ = _mm256_packus_epi16(                                      \
		    _mm256_packus_epi32(_mm256_srli_epi32(e0_, 24),            \
					_mm256_srli_epi32(e1_, 24)),           \
		    _mm256_packus_epi32(_mm256_srli_epi32(e2_, 24),            \
					_mm256_srli_epi32(e3_, 24)));          \
		b_ = _mm256_permutevar8x32_epi32(b_, order);                   \
		_mm256_storeu_si256((__m256i *)(void *)(dst), b_);             \
	} while (0)

#define CONSTANTS                                                              \
	const __m256i m12 = _mm256_set1_epi32(0xfff);                          \
	const __m256i one = _mm256_set1_epi32(1);                              \
	const __m256i zero = _mm256_setzero_si256();                           \
	const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)

#define LOAD(v, x) v = _mm256_loadu_si256((const __m256i *)(const void *)(x))
#define STORE(x, v) _mm256_storeu_si256((__m256i *)(void *)(x), v)
/* A stream's 32 states in and out of four vectors. */
#define LOAD4(v0, v1, v2, v3, x)                                               \
	do {                                                                   \
		LOAD(v0, x);                                                   \
		LOAD(v1, (x) + 8);                                             \
		LOAD(v2, (x) + 16);                                            \
		LOAD(v3, (x) + 24);                                            \
	} while (0)
#define STORE4(x, v0, v1, v2, v3)                                              \
	do {                                                                   \
		STORE(x, v0);                                                  \
		STORE((x) + 8, v1);                                            \
		STORE((x) + 16, v2);                                           \
		STORE((x) + 24, v3);                                           \
	} while (0)

AVX2 void z4_ransw_rows_avx2(z4_ransw_stream *st, size_t rows)
{
	CONSTANTS;
	const uint32_t *dt = st->dt;
	const uint8_t *p = st->p;
	uint8_t *dst = st->dst;
	__m256i s0, s1, s2, s3;

	LOAD4(s0, s1, s2, s3, st->x);
	for (size_t r = 0; r < rows; r++, dst += Z4_RANSW_LANES)
		ROW(s0, s1, s2, s3, p, dst, dt);
	STORE4(st->x, s0, s1, s2, s3);
	st->p = p;
	st->dst = dst;
}

/* Two streams' rows interleaved: their chains overlap (0.74 -> 0.55 ns
 * per symbol on a bf16 exponent plane, docs/codec.md). */
AVX2 static void rows2_avx2(z4_ransw_stream *a, z4_ransw_stream *b, size_t rows)
{
	CONSTANTS;
	const uint32_t *ta = a->dt, *tb = b->dt;
	const uint8_t *pa = a->p, *pb = b->p;
	uint8_t *da = a->dst, *db = b->dst;
	__m256i a0, a1, a2, a3, b0, b1, b2, b3;

	LOAD4(a0, a1, a2, a3, a->x);
	LOAD4(b0, b1, b2, b3, b->x);
	for (size_t r = 0; r < rows; r++) {
		ROW(a0, a1, a2, a3, pa, da, ta);
		ROW(b0, b1, b2, b3, pb, db, tb);
		da += Z4_RANSW_LANES;
		db += Z4_RANSW_LANES;
	}
	STORE4(a->x, a0, a1, a2, a3);
	STORE4(b->x, b0, b1, b2, b3);
	a->p = pa;
	a->dst = da;
	b->p = pb;
	b->dst = db;
}

/* 32 side bytes at a time: the bitmap byte of each (bm[v >> 3], two
 * 16-byte lookups), the bit within it (1 << (v & 7), a third); collect
 * the bits that are wanted and clear. */
AVX2 int z4_ransc_miss_avx2(const uint8_t bm[32], const uint8_t *side,
			    size_t n)
{
	const __m128i *b = (const __m128i *)(const void *)bm;
	const __m256i lo = _mm256_broadcastsi128_si256(_mm_loadu_si128(b));
	const __m256i hi = _mm256_broadcastsi128_si256(_mm_loadu_si128(b + 1));
	const __m256i bit = _mm256_set1_epi64x(0x8040201008040201ll);
	const __m256i m7 = _mm256_set1_epi8(7), m31 = _mm256_set1_epi8(31);
	__m256i acc = _mm256_setzero_si256();
	size_t i = 0;
	int r;

	for (; i + 32 <= n; i += 32) {
		__m256i v = _mm256_loadu_si256(
			(const __m256i *)(const void *)(side + i));
		__m256i k = _mm256_and_si256(_mm256_srli_epi16(v, 3), m31);
		__m256i have = _mm256_blendv_epi8(
			_mm256_shuffle_epi8(lo, k), _mm256_shuffle_epi8(hi, k),
			_mm256_slli_epi16(k, 3));
		acc = _mm256_or_si256(
			acc, _mm256_andnot_si256(
				     have, _mm256_shuffle_epi8(
						   bit, _mm256_and_si256(v, m7))));
	}
	r = !_mm256_testz_si256(acc, acc);
	for (; i < n; i++)
		r |= !(bm[side[i] >> 3] >> (side[i] & 7) & 1);
	return r;
}

/* The context model: 64 lanes, a row as two halves of four vectors, each
 * half like a row of the order-0 kernel; a lane's table is its
 * context's, at c << Z4_RANSC_S. */
#define CADV(s, e, need, m, sd)                                                \
	ADVX(s, e, need, m, dt,                                                \
	     _mm256_or_si256(                                                  \
		 _mm256_slli_epi32(                                            \
		     _mm256_cvtepu8_epi32(_mm_loadl_epi64(                     \
			 (const __m128i *)(const void *)(sd))),                \
		     Z4_RANSC_S),                                              \
		 _mm256_and_si256(s, mc)),                                     \
	     Z4_RANSC_S)

AVX2 static void ctx_rows_avx2(z4_ransc_stream *st, size_t rows)
{
	CONSTANTS;
	const __m256i mc = _mm256_set1_epi32(Z4_RANSC_MASK);
	const uint32_t *dt = st->dt;
	const uint8_t *p = st->p, *sd = st->side;
	uint8_t *d = st->dst;
	__m256i s[Z4_RANSC_LANES / 8];

	for (int j = 0; j < Z4_RANSC_LANES / 8; j++)
		LOAD(s[j], st->x + 8 * j);
	for (size_t r = 0; r < rows; r++) {
		for (int h = 0; h < Z4_RANSC_LANES / 32; h++) {
			__m256i e[4], n[4], b;
			unsigned m[4];
			const uint8_t *q[4];
			__m256i *v = s + 4 * h;
			for (int j = 0; j < 4; j++)
				CADV(v[j], e[j], n[j], m[j], sd + 32 * h + 8 * j);
			q[0] = p;
			for (int j = 1; j < 4; j++)
				q[j] = q[j - 1] +
				       2 * (unsigned)__builtin_popcount(m[j - 1]);
			for (int j = 0; j < 4; j++)
				REFILL(v[j], n[j], m[j], q[j]);
			p = q[3] + 2 * (unsigned)__builtin_popcount(m[3]);
			b = _mm256_packus_epi16(
				_mm256_packus_epi32(_mm256_srli_epi32(e[0], 24),
						    _mm256_srli_epi32(e[1], 24)),
				_mm256_packus_epi32(_mm256_srli_epi32(e[2], 24),
						    _mm256_srli_epi32(e[3], 24)));
			STORE(d + 32 * h, _mm256_permutevar8x32_epi32(b, order));
		}
		d += Z4_RANSC_LANES;
		sd += Z4_RANSC_LANES;
	}
	for (int j = 0; j < Z4_RANSC_LANES / 8; j++)
		STORE(st->x + 8 * j, s[j]);
	st->p = p;
	st->dst = d;
	st->side = sd;
}

/* cperm[m]: the lanes whose bit is set in m, ascending, in the top
 * popcount(m) bytes (the rest 0), a byte per lane: a permutation that
 * gathers the words a vector sheds at the top of eight. */
static const uint64_t cperm[256] = {
	0x0000000000000000ull, 0x0000000000000000ull, 0x0100000000000000ull,
	0x0100000000000000ull, 0x0200000000000000ull, 0x0200000000000000ull,
	0x0201000000000000ull, 0x0201000000000000ull, 0x0300000000000000ull,
	0x0300000000000000ull, 0x0301000000000000ull, 0x0301000000000000ull,
	0x0302000000000000ull, 0x0302000000000000ull, 0x0302010000000000ull,
	0x0302010000000000ull, 0x0400000000000000ull, 0x0400000000000000ull,
	0x0401000000000000ull, 0x0401000000000000ull, 0x0402000000000000ull,
	0x0402000000000000ull, 0x0402010000000000ull, 0x0402010000000000ull,
	0x0403000000000000ull, 0x0403000000000000ull, 0x0403010000000000ull,
	0x0403010000000000ull, 0x0403020000000000ull, 0x0403020000000000ull,
	0x0403020100000000ull, 0x0403020100000000ull, 0x0500000000000000ull,
	0x0500000000000000ull, 0x0501000000000000ull, 0x0501000000000000ull,
	0x0502000000000000ull, 0x0502000000000000ull, 0x0502010000000000ull,
	0x0502010000000000ull, 0x0503000000000000ull, 0x0503000000000000ull,
	0x0503010000000000ull, 0x0503010000000000ull, 0x0503020000000000ull,
	0x0503020000000000ull, 0x0503020100000000ull, 0x0503020100000000ull,
	0x0504000000000000ull, 0x0504000000000000ull, 0x0504010000000000ull,
	0x0504010000000000ull, 0x0504020000000000ull, 0x0504020000000000ull,
	0x0504020100000000ull, 0x0504020100000000ull, 0x0504030000000000ull,
	0x0504030000000000ull, 0x0504030100000000ull, 0x0504030100000000ull,
	0x0504030200000000ull, 0x0504030200000000ull, 0x0504030201000000ull,
	0x0504030201000000ull, 0x0600000000000000ull, 0x0600000000000000ull,
	0x0601000000000000ull, 0x0601000000000000ull, 0x0602000000000000ull,
	0x0602000000000000ull, 0x0602010000000000ull, 0x0602010000000000ull,
	0x0603000000000000ull, 0x0603000000000000ull, 0x0603010000000000ull,
	0x0603010000000000ull, 0x0603020000000000ull, 0x0603020000000000ull,
	0x0603020100000000ull, 0x0603020100000000ull, 0x0604000000000000ull,
	0x0604000000000000ull, 0x0604010000000000ull, 0x0604010000000000ull,
	0x0604020000000000ull, 0x0604020000000000ull, 0x0604020100000000ull,
	0x0604020100000000ull, 0x0604030000000000ull, 0x0604030000000000ull,
	0x0604030100000000ull, 0x0604030100000000ull, 0x0604030200000000ull,
	0x0604030200000000ull, 0x0604030201000000ull, 0x0604030201000000ull,
	0x0605000000000000ull, 0x0605000000000000ull, 0x0605010000000000ull,
	0x0605010000000000ull, 0x0605020000000000ull, 0x0605020000000000ull,
	0x0605020100000000ull, 0x0605020100000000ull, 0x0605030000000000ull,
	0x0605030000000000ull, 0x0605030100000000ull, 0x0605030100000000ull,
	0x0605030200000000ull, 0x0605030200000000ull, 0x0605030201000000ull,
	0x0605030201000000ull, 0x0605040000000000ull, 0x0605040000000000ull,
	0x0605040100000000ull, 0x0605040100000000ull, 0x0605040200000000ull,
	0x0605040200000000ull, 0x0605040201000000ull, 0x0605040201000000ull,
	0x0605040300000000ull, 0x0605040300000000ull, 0x0605040301000000ull,
	0x0605040301000000ull, 0x0605040302000000ull, 0x0605040302000000ull,
	0x0605040302010000ull, 0x0605040302010000ull, 0x0700000000000000ull,
	0x0700000000000000ull, 0x0701000000000000ull, 0x0701000000000000ull,
	0x0702000000000000ull, 0x0702000000000000ull, 0x0702010000000000ull,
	0x0702010000000000ull, 0x0703000000000000ull, 0x0703000000000000ull,
	0x0703010000000000ull, 0x0703010000000000ull, 0x0703020000000000ull,
	0x0703020000000000ull, 0x0703020100000000ull, 0x0703020100000000ull,
	0x0704000000000000ull, 0x0704000000000000ull, 0x0704010000000000ull,
	0x0704010000000000ull, 0x0704020000000000ull, 0x0704020000000000ull,
	0x0704020100000000ull, 0x0704020100000000ull, 0x0704030000000000ull,
	0x0704030000000000ull, 0x0704030100000000ull, 0x0704030100000000ull,
	0x0704030200000000ull, 0x0704030200000000ull, 0x0704030201000000ull,
	0x0704030201000000ull, 0x0705000000000000ull, 0x0705000000000000ull,
	0x0705010000000000ull, 0x0705010000000000ull, 0x0705020000000000ull,
	0x0705020000000000ull, 0x0705020100000000ull, 0x0705020100000000ull,
	0x0705030000000000ull, 0x0705030000000000ull, 0x0705030100000000ull,
	0x0705030100000000ull, 0x0705030200000000ull, 0x0705030200000000ull,
	0x0705030201000000ull, 0x0705030201000000ull, 0x0705040000000000ull,
	0x0705040000000000ull, 0x0705040100000000ull, 0x0705040100000000ull,
	0x0705040200000000ull, 0x0705040200000000ull, 0x0705040201000000ull,
	0x0705040201000000ull, 0x0705040300000000ull, 0x0705040300000000ull,
	0x0705040301000000ull, 0x0705040301000000ull, 0x0705040302000000ull,
	0x0705040302000000ull, 0x0705040302010000ull, 0x0705040302010000ull,
	0x0706000000000000ull, 0x0706000000000000ull, 0x0706010000000000ull,
	0x0706010000000000ull, 0x0706020000000000ull, 0x0706020000000000ull,
	0x0706020100000000ull, 0x0706020100000000ull, 0x0706030000000000ull,
	0x0706030000000000ull, 0x0706030100000000ull, 0x0706030100000000ull,
	0x0706030200000000ull, 0x0706030200000000ull, 0x0706030201000000ull,
	0x0706030201000000ull, 0x0706040000000000ull, 0x0706040000000000ull,
	0x0706040100000000ull, 0x0706040100000000ull, 0x0706040200000000ull,
	0x0706040200000000ull, 0x0706040201000000ull, 0x0706040201000000ull,
	0x0706040300000000ull, 0x0706040300000000ull, 0x0706040301000000ull,
	0x0706040301000000ull, 0x0706040302000000ull, 0x0706040302000000ull,
	0x0706040302010000ull, 0x0706040302010000ull, 0x0706050000000000ull,
	0x0706050000000000ull, 0x0706050100000000ull, 0x0706050100000000ull,
	0x0706050200000000ull, 0x0706050200000000ull, 0x0706050201000000ull,
	0x0706050201000000ull, 0x0706050300000000ull, 0x0706050300000000ull,
	0x0706050301000000ull, 0x0706050301000000ull, 0x0706050302000000ull,
	0x0706050302000000ull, 0x0706050302010000ull, 0x0706050302010000ull,
	0x0706050400000000ull, 0x0706050400000000ull, 0x0706050401000000ull,
	0x0706050401000000ull, 0x0706050402000000ull, 0x0706050402000000ull,
	0x0706050402010000ull, 0x0706050402010000ull, 0x0706050403000000ull,
	0x0706050403000000ull, 0x0706050403010000ull, 0x0706050403010000ull,
	0x0706050403020000ull, 0x0706050403020000ull, 0x0706050403020100ull,
	0x0706050403020100ull,
};

/*
 * The encoder, 8 lanes per vector, as the AVX-512 one (rans_wide_avx512.c)
 * without its gather, compress store, unsigned compares and conversions:
 * the entries e of the lanes' symbols come from eight scalar loads (twice
 * as fast as an AVX2 gather on the machine measured); the shed words are
 * permuted (cperm) to the top of a 16-byte store ending at p, which thus
 * also writes up to 16 bytes below the words it keeps; x goes to float in
 * two exact halves; the quotient is a division of exact floats (relative
 * error below 2^-23, so within 0.25 of one below 2^21), truncated, then
 * corrected by the remainder to exactly q.
 */
#define ENCX(v, e, p, S)                                                       \
	do {                                                                   \
		const __m256i e_ = (e);                                        \
		__m256i f_ = _mm256_and_si256(e_, m16);                        \
		__m256i keep_ = _mm256_cmpgt_epi32(                            \
			f_, _mm256_srli_epi32(v, 32 - (S)));                   \
		unsigned k_ = ~(unsigned)_mm256_movemask_ps(                   \
				      _mm256_castsi256_ps(keep_)) &            \
			      0xffu;                                           \
		__m256i w_ = _mm256_and_si256(                                 \
			_mm256_permutevar8x32_epi32(                           \
				v, _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(     \
					   (long long)cperm[k_]))),            \
			m16);                                                  \
		__m256 q_f;                                                    \
		__m256i q_, m_, c_;                                            \
		w_ = _mm256_permute4x64_epi64(_mm256_packus_epi32(w_, w_),     \
					      0x08);                           \
		_mm_storeu_si128((__m128i *)(void *)((p)-16),                  \
				 _mm256_castsi256_si128(w_));                  \
		p -= 2 * (unsigned)__builtin_popcount(k_);                     \
		v = _mm256_blendv_epi8(_mm256_srli_epi32(v, 16), v, keep_);    \
		q_f = _mm256_div_ps(                                           \
			_mm256_add_ps(                                         \
				_mm256_mul_ps(                                 \
					_mm256_cvtepi32_ps(                    \
						_mm256_srli_epi32(v, 16)),     \
					k64k),                                 \
				_mm256_cvtepi32_ps(_mm256_and_si256(v, m16))), \
			_mm256_cvtepi32_ps(f_));                               \
		q_ = _mm256_cvttps_epi32(q_f);                                 \
		m_ = _mm256_sub_epi32(v, _mm256_mullo_epi32(q_, f_));          \
		c_ = _mm256_cmpgt_epi32(zero, m_); /* q one too big */         \
		q_ = _mm256_add_epi32(q_, c_);                                 \
		m_ = _mm256_add_epi32(m_, _mm256_and_si256(c_, f_));           \
		c_ = _mm256_cmpgt_epi32(f_, m_); /* else q one too small */    \
		q_ = _mm256_add_epi32(q_, _mm256_andnot_si256(c_, one));       \
		m_ = _mm256_sub_epi32(m_, _mm256_andnot_si256(c_, f_));        \
		v = _mm256_add_epi32(                                          \
			_mm256_add_epi32(_mm256_slli_epi32(q_, S), m_),        \
			_mm256_srli_epi32(e_, 16));                            \
	} while (0)

#define ENC_CONSTANTS                                                          \
	const __m256i m16 = _mm256_set1_epi32(0xffff);                         \
	const __m256i one = _mm256_set1_epi32(1);                              \
	const __m256i zero = _mm256_setzero_si256();                           \
	const __m256 k64k = _mm256_set1_ps(65536.0f)

/* The entries of the eight symbols at s in table t; of the eight pairs
 * (context << 8 | symbol) at pairs, at the pair. */
#define LOOK_AT(k) (int)t[b >> (8 * (k)) & 255]
#define LOOKC_AT(k) (int)t[(uint16_t)(((k) < 4 ? b : d) >> (16 * (k) & 63))]

AVX2 static inline __attribute__((always_inline)) __m256i
look8(const uint32_t *t, const uint8_t *s)
{
	uint64_t b;

	memcpy(&b, s, 8);
	return _mm256_setr_epi32(LOOK_AT(0), LOOK_AT(1), LOOK_AT(2),
				 LOOK_AT(3), LOOK_AT(4), LOOK_AT(5),
				 LOOK_AT(6), LOOK_AT(7));
}

AVX2 static inline __attribute__((always_inline)) __m256i
look8c(const uint32_t *t, const uint16_t *pairs)
{
	uint64_t b, d;

	memcpy(&b, pairs, 8);
	memcpy(&d, pairs + 4, 8);
	return _mm256_setr_epi32(LOOKC_AT(0), LOOKC_AT(1), LOOKC_AT(2),
				 LOOKC_AT(3), LOOKC_AT(4), LOOKC_AT(5),
				 LOOKC_AT(6), LOOKC_AT(7));
}

AVX2 static void enc_avx2(uint32_t x[Z4_RANSW_LANES], uint8_t **pp,
			  const uint8_t *src, size_t rows, const uint32_t *et)
{
	ENC_CONSTANTS;
	__m256i v0, v1, v2, v3;
	uint8_t *p = *pp;

	LOAD4(v0, v1, v2, v3, x);
	for (size_t r = rows; r-- > 0;) {
		const uint8_t *s = src + r * Z4_RANSW_LANES;
		/* Lanes 31 to 0: the last lanes' words lie above. */
		ENCX(v3, look8(et, s + 24), p, 12);
		ENCX(v2, look8(et, s + 16), p, 12);
		ENCX(v1, look8(et, s + 8), p, 12);
		ENCX(v0, look8(et, s), p, 12);
	}
	STORE4(x, v0, v1, v2, v3);
	*pp = p;
}

/* The context model's encoder, a row as eight vectors. */
AVX2 static void ctx_enc_avx2(uint32_t x[Z4_RANSC_LANES], uint8_t **pp,
			      const uint16_t *pairs, size_t rows,
			      const uint32_t *et)
{
	ENC_CONSTANTS;
	__m256i v[Z4_RANSC_LANES / 8];
	uint8_t *p = *pp;

	for (int j = 0; j < Z4_RANSC_LANES / 8; j++)
		LOAD(v[j], x + 8 * j);
	for (size_t r = rows; r-- > 0;) {
		const uint16_t *s = pairs + r * Z4_RANSC_LANES;
		for (int j = Z4_RANSC_LANES / 8; j-- > 0;)
			ENCX(v[j], look8c(et, s + 8 * j), p, Z4_RANSC_S);
	}
	for (int j = 0; j < Z4_RANSC_LANES / 8; j++)
		STORE(x + 8 * j, v[j]);
	*pp = p;
}

/* A wide table, eight entries a store. */
AVX2 static void table_avx2(uint32_t *t, const uint8_t *sym,
			     const uint16_t *f, unsigned k)
{
	const __m256i ramp = _mm256_setr_epi32(0, 1 << 12, 2 << 12, 3 << 12,
					       4 << 12, 5 << 12, 6 << 12,
					       7 << 12);
	const __m256i step = _mm256_set1_epi32(8 << 12);

	for (unsigned i = 0; i < k; i++) {
		const uint32_t fs = f[i];
		const uint32_t e = Z4_RANSW_ENTRY(fs, 0, sym[i]);
		__m256i v = _mm256_add_epi32(ramp, _mm256_set1_epi32((int)e));
		for (uint32_t j = 0; j < fs; j += 8) {
			STORE(t + j, v);
			v = _mm256_add_epi32(v, step);
		}
		t += fs;
	}
}

static const z4_ransw_kernels avx2_kernels = {
	.name = "avx2",
	.rows = z4_ransw_rows_avx2,
	.rows2 = rows2_avx2,
	.enc = enc_avx2,
	.ctx_rows = ctx_rows_avx2,
	.ctx_enc = ctx_enc_avx2,
	.ctx_miss = z4_ransc_miss_avx2,
	.table = table_avx2,
};

const z4_ransw_kernels *z4_ransw_avx2(void)
{
	return __builtin_cpu_supports("avx2") ? &avx2_kernels : NULL;
}

#else

const z4_ransw_kernels *z4_ransw_avx2(void)
{
	return NULL;
}

#endif
