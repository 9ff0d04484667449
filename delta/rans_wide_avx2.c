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

/* A wide table, eight entries a store. */
AVX2 static void table_avx2(uint32_t *t, const uint16_t *f)
{
	const __m256i ramp = _mm256_setr_epi32(0, 1 << 12, 2 << 12, 3 << 12,
					       4 << 12, 5 << 12, 6 << 12,
					       7 << 12);
	const __m256i step = _mm256_set1_epi32(8 << 12);

	for (int s = 0; s < 256; s++) {
		const uint32_t fs = f[s];
		__m256i v = _mm256_add_epi32(
			ramp, _mm256_set1_epi32((int)Z4_RANSW_ENTRY(fs, 0, s)));
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
	.ctx_rows = ctx_rows_avx2,
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
