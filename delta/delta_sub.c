/*
 * delta_sub.c - the arithmetic delta of float words (see delta_sub.h).
 * One branch-free body per word type, so the compiler vectorizes each
 * loop; on x86-64 with GCC or clang each is also built for AVX2 and the
 * loader picks the clone the CPU runs (target_clones).
 *
 * With s the word's sign spread over all bits (0 or ~0) and t its top bit:
 *   ord(w)    = w ^ (s | t)           negative words reversed below t
 *   unord(o)  = o ^ (~s_o | t)        s_o: o's top bit spread
 *   zigzag(d) = (d << 1) ^ s_d        0, -1, 1, -2 -> 0, 1, 2, 3
 *   unzig(z)  = (z >> 1) ^ -(z & 1)
 * all modulo 2^(8E), so unsigned wrap-around is the arithmetic we want.
 */
#include "delta_sub.h"
#include "delta_env.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define Z4_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define Z4_CLONES
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define Z4_LE_WORDS 1
#else
#define Z4_LE_WORDS 0
#endif

/* Set bits of x, without the library call that __builtin_popcountll
 * becomes on x86-64 without -mpopcnt. */
static inline unsigned popcount64(uint64_t x)
{
	x -= (x >> 1) & 0x5555555555555555ull;
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* Bit k set where p[k] is Z4_SUB_ESC, for k < 64 and k < n. */
static inline uint64_t esc_mask64(const uint8_t *p, size_t n)
{
	uint64_t m = 0;

	if (n < 64) {
		for (size_t k = 0; k < n; k++)
			m |= (uint64_t)(p[k] == Z4_SUB_ESC) << k;
		return m;
	}
#if defined(__SSE2__)
	for (int k = 0; k < 4; k++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(
			p + 16 * k));
		unsigned b = (unsigned)_mm_movemask_epi8(
			_mm_cmpeq_epi8(v, _mm_set1_epi8((char)Z4_SUB_ESC)));
		m |= (uint64_t)b << (16 * k);
	}
#else
	for (int k = 0; k < 64; k++)
		m |= (uint64_t)(p[k] == Z4_SUB_ESC) << k;
#endif
	return m;
}

#define DEFINE_WORDS(T, E)                                                     \
	static inline T load##E(const uint8_t *p)                              \
	{                                                                      \
		T v = 0;                                                       \
		if (Z4_LE_WORDS) {                                             \
			memcpy(&v, p, E);                                      \
		} else {                                                       \
			for (unsigned k = 0; k < E; k++)                       \
				v |= (T)((T)p[k] << (8 * k));                  \
		}                                                              \
		return v;                                                      \
	}                                                                      \
	static inline void store##E(uint8_t *p, T v)                           \
	{                                                                      \
		if (Z4_LE_WORDS) {                                             \
			memcpy(p, &v, E);                                      \
		} else {                                                       \
			for (unsigned k = 0; k < E; k++)                       \
				p[k] = (uint8_t)(v >> (8 * k));                \
		}                                                              \
	}                                                                      \
	static inline T spread##E(T w)                                         \
	{                                                                      \
		return (T)(0 - (T)(w >> (8 * E - 1)));                         \
	}                                                                      \
	static inline T ord##E(T w)                                            \
	{                                                                      \
		return (T)(w ^ (spread##E(w) | ((T)1 << (8 * E - 1))));        \
	}                                                                      \
	Z4_CLONES static void sub##E(uint8_t *z, const uint8_t *src,           \
				     const uint8_t *base, size_t m)            \
	{                                                                      \
		for (size_t i = 0; i < m; i++) {                               \
			T d = (T)(ord##E(load##E(src + i * E)) -               \
				  ord##E(load##E(base + i * E)));              \
			store##E(z + i * E, (T)((T)(d << 1) ^ spread##E(d)));  \
		}                                                              \
	}                                                                      \
	Z4_CLONES static void syms##E(uint8_t *s, const uint8_t *z, size_t m)  \
	{                                                                      \
		for (size_t i = 0; i < m; i++) {                               \
			T v = load##E(z + i * E);                              \
			s[i] = (uint8_t)(v < Z4_SUB_ESC ? v : Z4_SUB_ESC);     \
		}                                                              \
	}                                                                      \
	/* The word of base b moved by the delta zz. */                       \
	static inline T add1##E(T b, T zz)                                     \
	{                                                                      \
		T d = (T)((zz >> 1) ^ (T)(0 - (T)(zz & 1)));                   \
		T o = (T)(ord##E(b) + d);                                      \
		return (T)(o ^ ((T)~spread##E(o) | ((T)1 << (8 * E - 1))));    \
	}                                                                      \
	Z4_CLONES static void add##E(uint8_t *dst, const uint8_t *z,           \
				     const uint8_t *base, size_t m)            \
	{                                                                      \
		for (size_t i = 0; i < m; i++)                                 \
			store##E(dst + i * E, add1##E(load##E(base + i * E),    \
						      load##E(z + i * E)));    \
	}                                                                      \
	Z4_CLONES static void addp##E(uint8_t *dst, const uint8_t *const *pl,  \
				      const uint8_t *base, size_t m)           \
	{                                                                      \
		const uint8_t *q[E];                                           \
		memcpy(q, pl, sizeof(q));                                      \
		for (size_t i = 0; i < m; i++) {                               \
			T zz = 0;                                              \
			for (unsigned k = 0; k < E; k++)                       \
				zz |= (T)((T)q[k][i] << (8 * k));              \
			store##E(dst + i * E,                                  \
				 add1##E(load##E(base + i * E), zz));          \
		}                                                              \
	}                                                                      \
	Z4_CLONES static void adds##E(uint8_t *dst, const uint8_t *s,          \
				      const uint8_t *base, size_t m)           \
	{                                                                      \
		for (size_t i = 0; i < m; i++) {                               \
			T zz = (T)(s[i] < Z4_SUB_ESC ? s[i] : 0);              \
			store##E(dst + i * E,                                  \
				 add1##E(load##E(base + i * E), zz));          \
		}                                                              \
	}                                                                      \
	static void addat##E(uint8_t *dst, const uint32_t *idx,               \
			     const uint8_t *w, size_t n)                       \
	{                                                                      \
		for (size_t j = 0; j < n; j++) {                               \
			uint8_t *p = dst + (size_t)idx[j] * E;                 \
			store##E(p, add1##E(load##E(p), load##E(w + j * E)));  \
		}                                                              \
	}

DEFINE_WORDS(uint16_t, 2)
DEFINE_WORDS(uint32_t, 4)
DEFINE_WORDS(uint64_t, 8)

/* fn2, fn4 or fn8 by the word size e (2, 4 or 8). */
#define BY_SIZE(e, fn, ...)                                                    \
	((e) == 2 ? fn##2(__VA_ARGS__)                                         \
		  : (e) == 4 ? fn##4(__VA_ARGS__) : fn##8(__VA_ARGS__))

void z4_delta_sub(uint8_t *z, const uint8_t *src, const uint8_t *base,
		  size_t m, unsigned e)
{
	BY_SIZE(e, sub, z, src, base, m);
}

void z4_delta_add_planes(uint8_t *dst, const uint8_t *const planes[],
			 const uint8_t *base, size_t m, unsigned e)
{
	BY_SIZE(e, addp, dst, planes, base, m);
}

/* Portable: by runs, the escapes' positions in a run found (without a
 * branch a block); to decode, the run's words moved by their symbols,
 * then the escaped ones by their words. */
#define ESC_RUN 1024

static size_t sub_esc_portable(z4_esc_out *o, const uint8_t *src,
			       const uint8_t *base, size_t m, unsigned e,
			       int rot)
{
	const unsigned sh = 8 * e - 8 - (unsigned)rot;
	uint8_t z[8 * ESC_RUN];
	uint32_t idx[ESC_RUN];
	unsigned lo = 255, hi = 0;
	size_t n = 0;

	for (size_t i = 0, k, c; i < m; i += k, n += c) {
		k = m - i < ESC_RUN ? m - i : ESC_RUN;
		BY_SIZE(e, sub, z, src + i * e, base + i * e, k);
		BY_SIZE(e, syms, o->s + i, z, k);
		c = z4_delta_find_escapes(idx, ESC_RUN, o->s + i, k);
		if (c > o->cap - n)
			return o->cap + 1;
		for (size_t j = 0; j < c; j++)
			memcpy(o->w + (n + j) * e, z + (size_t)idx[j] * e, e);
		for (size_t j = i; j < i + k; j++) {
			uint64_t b = 0;
			unsigned t;
			for (unsigned q = 0; q < e; q++)
				b |= (uint64_t)base[j * e + q] << (8 * q);
			t = (unsigned)(b >> sh) & 0xff;
			o->pairs[j] = (uint16_t)(t << 8 | o->s[j]);
			lo = t < lo ? t : lo;
			hi = t > hi ? t : hi;
		}
	}
	o->lo = lo;
	o->hi = hi;
	return n;
}

static int add_esc_portable(uint8_t *dst, const uint8_t *s, const uint8_t *w,
			    size_t n, const uint8_t *base, size_t m,
			    unsigned e)
{
	uint32_t idx[ESC_RUN];
	size_t left = n;

	for (size_t i = 0, k, c; i < m; i += k, left -= c, w += c * e) {
		k = m - i < ESC_RUN ? m - i : ESC_RUN;
		c = z4_delta_find_escapes(idx, ESC_RUN, s + i, k);
		if (c > left)
			return -1;
		BY_SIZE(e, adds, dst + i * e, s + i, base + i * e, k);
		BY_SIZE(e, addat, dst + i * e, idx, w, c);
	}
	return left ? -1 : 0;
}

const z4_esc_kernels z4_delta_esc_portable = {
	.sub_esc = sub_esc_portable,
	.add_esc = add_esc_portable,
};

/* Four positions a block are written whatever the block holds (those
 * past its count are overwritten by the next), so the loop does not
 * branch on each block's count; more than four take a second loop. */
size_t z4_delta_find_escapes(uint32_t *idx, size_t cap, const uint8_t *s,
			     size_t m)
{
	const uint64_t top = (uint64_t)1 << 63;
	size_t cnt = 0;

	for (size_t i = 0; i < m; i += 64) {
		uint64_t hit = esc_mask64(s + i, m - i);
		unsigned c = popcount64(hit), r = 0;
		if (cnt + 64 <= cap)
			for (; r < 4; r++, hit &= hit - 1)
				idx[cnt + r] = (uint32_t)(
					i + (size_t)__builtin_ctzll(hit | top));
		for (; r < c; r++, hit &= hit - 1)
			if (cnt + r < cap)
				idx[cnt + r] = (uint32_t)(
					i + (size_t)__builtin_ctzll(hit));
		cnt += c;
	}
	return cnt;
}

void z4_delta_add(uint8_t *dst, const uint8_t *z, const uint8_t *base,
		  size_t m, unsigned e)
{
	BY_SIZE(e, add, dst, z, base, m);
}

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#define AVX512                                                                 \
	__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi2,"        \
			       "bmi,bmi2,popcnt")))

/* AVX-512 (BW; VBMI2 for 16-bit lanes): the escape form a vector of
 * words a step, in one pass each way; lanes past m are masked off in
 * loads and stores. */

/* The lanes of a vector of l that hold words, of `left` still to do. */
static inline unsigned lanes(size_t left, unsigned l)
{
	return left < l ? (unsigned)left : l;
}

/* ord() and zigzag() of delta_sub.c's top comment, on SZ-bit lanes. */
#define DEFINE_SUB_VEC(SZ)                                                     \
	AVX512 static inline __m512i ord_##SZ(__m512i w)                       \
	{                                                                      \
		const __m512i top = _mm512_slli_epi##SZ(                       \
			_mm512_set1_epi32(-1), SZ - 1);                        \
		return _mm512_xor_si512(                                       \
			w, _mm512_or_si512(_mm512_srai_epi##SZ(w, SZ - 1),     \
					   top));                              \
	}                                                                      \
	AVX512 static inline __m512i zsub_##SZ(__m512i a, __m512i b)           \
	{                                                                      \
		__m512i d = _mm512_sub_epi##SZ(ord_##SZ(a), ord_##SZ(b));      \
		return _mm512_xor_si512(_mm512_slli_epi##SZ(d, 1),             \
					_mm512_srai_epi##SZ(d, SZ - 1));       \
	}

DEFINE_SUB_VEC(16)
DEFINE_SUB_VEC(32)
DEFINE_SUB_VEC(64)

/* add1 of the words above: b moved by the delta z. */
#define DEFINE_ADD1_VEC(SZ)                                                    \
	AVX512 static inline __m512i add1_##SZ(__m512i b, __m512i z)           \
	{                                                                      \
		const __m512i one = _mm512_srli_epi##SZ(                       \
			_mm512_set1_epi32(-1), SZ - 1);                        \
		const __m512i top = _mm512_slli_epi##SZ(one, SZ - 1);          \
		__m512i d = _mm512_xor_si512(                                  \
			_mm512_srli_epi##SZ(z, 1),                             \
			_mm512_sub_epi##SZ(_mm512_setzero_si512(),             \
					   _mm512_and_si512(z, one)));         \
		__m512i o = _mm512_add_epi##SZ(ord_##SZ(b), d);                \
		__m512i so = _mm512_srai_epi##SZ(o, SZ - 1);                   \
		return _mm512_xor_si512(                                       \
			o, _mm512_or_si512(_mm512_ternarylogic_epi32(          \
						   so, so, so, 0x55),          \
					   top));                              \
	}

DEFINE_ADD1_VEC(16)
DEFINE_ADD1_VEC(32)
DEFINE_ADD1_VEC(64)

/* The least and the greatest of the pairs' top bytes, from the SZ-bit
 * lanes' minimum lo and maximum hi of the pairs. */
AVX512 static void top_range(z4_esc_out *o, __m512i lo, __m512i hi,
			     unsigned sz)
{
	uint64_t l[8], h[8];
	unsigned a = 255, b = 0;

	if (sz == 16) { /* to 32-bit lanes: zero-extension keeps the order */
		lo = _mm512_min_epu32(
			_mm512_cvtepu16_epi32(_mm512_castsi512_si256(lo)),
			_mm512_cvtepu16_epi32(
				_mm512_extracti64x4_epi64(lo, 1)));
		hi = _mm512_max_epu32(
			_mm512_cvtepu16_epi32(_mm512_castsi512_si256(hi)),
			_mm512_cvtepu16_epi32(
				_mm512_extracti64x4_epi64(hi, 1)));
	}
	if (sz != 64) { /* and to 64-bit lanes */
		const __m512i low = _mm512_set1_epi64(0xffffffff);
		lo = _mm512_min_epu64(_mm512_and_si512(lo, low),
				      _mm512_srli_epi64(lo, 32));
		hi = _mm512_max_epu64(_mm512_and_si512(hi, low),
				      _mm512_srli_epi64(hi, 32));
	}
	_mm512_storeu_si512(l, lo);
	_mm512_storeu_si512(h, hi);
	for (int j = 0; j < 8; j++) {
		unsigned x = (unsigned)(l[j] >> 8), y = (unsigned)(h[j] >> 8);
		a = x < a ? x : a;
		b = y > b ? y : b;
	}
	o->lo = a;
	o->hi = b;
}

/* Encode, SZ-bit words L to a vector: the symbols are z saturated to a
 * byte (CVT, stored by STORE), the escaped words compressed out of the
 * vector into w; the pairs are the base's top byte, brought to bits 8-15
 * by TOP, over the saturated symbol, narrowed to 16 bits by PSTORE. */
#define DEFINE_SUB_ESC(SZ, L, MT, CVT, STORE, TOP, PSTORE)                     \
	AVX512 static size_t sub_esc##SZ##_avx512(                             \
		z4_esc_out *out, const uint8_t *src, const uint8_t *base,      \
		size_t m, int rot)                                             \
	{                                                                      \
		const __m512i esc = _mm512_set1_epi##SZ(Z4_SUB_ESC);           \
		/* bits 8-15 of each lane, of the lanes' low 16 at most */     \
		const __m512i top = _mm512_set1_epi32((int)0xff00ff00u);       \
		const unsigned sh = SZ - 16 - (unsigned)rot;                   \
		__m512i lo = _mm512_set1_epi32(-1);                            \
		__m512i hi = _mm512_setzero_si512();                           \
		size_t n = 0;                                                  \
		(void)sh;                                                      \
		for (size_t i = 0; i < m; i += L) {                            \
			const size_t o = i * SZ / 8;                           \
			MT lm = (MT)_bzhi_u32(~0u, lanes(m - i, L));           \
			__m512i b = _mm512_maskz_loadu_epi##SZ(lm, base + o);  \
			__m512i z = zsub_##SZ(                                 \
				_mm512_maskz_loadu_epi##SZ(lm, src + o), b);   \
			MT k = _mm512_cmpge_epu##SZ##_mask(z, esc);            \
			size_t c = (size_t)_mm_popcnt_u32(k);                  \
			/* (TOP & 0xff00) | min(z, 255) */                     \
			__m512i p = _mm512_ternarylogic_epi32(                 \
				TOP, top, _mm512_min_epu##SZ(z, esc), 0xea);   \
			STORE(out->s + i, lm, CVT(z));                         \
			PSTORE(out->pairs + i, lm, p);                         \
			lo = _mm512_mask_min_epu##SZ(lo, lm, lo, p);           \
			hi = _mm512_mask_max_epu##SZ(hi, lm, hi, p);           \
			if (c > out->cap - n)                                  \
				return out->cap + 1;                           \
			_mm512_mask_compressstoreu_epi##SZ(                    \
				out->w + n * SZ / 8, k, z);                    \
			n += c;                                                \
		}                                                              \
		top_range(out, lo, hi, SZ);                                    \
		return n;                                                      \
	}
#define TOP16 _mm512_slli_epi16(b, (unsigned)rot)
#define TOPW(SZ) _mm512_srli_epi##SZ(b, sh)
#define PSTORE16(p, k, v) _mm512_mask_storeu_epi16(p, k, v)
#define PSTORE32(p, k, v)                                                      \
	_mm256_mask_storeu_epi16(p, k, _mm512_cvtepi32_epi16(v))
#define PSTORE64(p, k, v) _mm_mask_storeu_epi16(p, k, _mm512_cvtepi64_epi16(v))
DEFINE_SUB_ESC(16, 32, __mmask32, _mm512_cvtusepi16_epi8,
	       _mm256_mask_storeu_epi8, TOP16, PSTORE16)
DEFINE_SUB_ESC(32, 16, __mmask16, _mm512_cvtusepi32_epi8,
	       _mm_mask_storeu_epi8, TOPW(32), PSTORE32)
DEFINE_SUB_ESC(64, 8, __mmask8, _mm512_cvtusepi64_epi8, _mm_mask_storeu_epi8,
	       TOPW(64), PSTORE64)
#undef TOP16
#undef TOPW
#undef PSTORE16
#undef PSTORE32
#undef PSTORE64

AVX512 static size_t sub_esc_avx512(z4_esc_out *o, const uint8_t *src,
				    const uint8_t *base, size_t m, unsigned e,
				    int rot)
{
	return e == 2 ? sub_esc16_avx512(o, src, base, m, rot)
	       : e == 4 ? sub_esc32_avx512(o, src, base, m, rot)
			: sub_esc64_avx512(o, src, base, m, rot);
}

/* Decode, SZ-bit words L to a vector: the symbols (a vector V of
 * bytes, loaded and compared by the *B intrinsics) widen to the words'
 * lanes, the escaped words are expanded from w into the lanes whose
 * symbol escapes, and every lane moves as add1 does: no positions
 * collected, no branch on escapes. */
#define DEFINE_ADD_ESC(SZ, L, MT, V, LOADB, CMPB, SETB)                        \
	AVX512 static int add_esc##SZ##_avx512(uint8_t *dst, const uint8_t *s, \
					       const uint8_t *w, size_t n,     \
					       const uint8_t *base, size_t m)  \
	{                                                                      \
		const V esc = SETB((char)Z4_SUB_ESC);                          \
		for (size_t i = 0; i < m; i += L) {                            \
			MT lm = (MT)_bzhi_u32(~0u, lanes(m - i, L));           \
			V sv = LOADB(lm, s + i);                               \
			MT k = (MT)CMPB(sv, esc);                              \
			size_t c = (size_t)_mm_popcnt_u32(k);                  \
			__m512i z, b;                                          \
			if (c > n) /* before reading words past the last */    \
				return -1;                                     \
			z = _mm512_mask_expandloadu_epi##SZ(                   \
				_mm512_cvtepu8_epi##SZ(sv), k, w);             \
			b = _mm512_maskz_loadu_epi##SZ(lm, base + i * SZ / 8); \
			n -= c;                                                \
			w += c * SZ / 8;                                       \
			_mm512_mask_storeu_epi##SZ(dst + i * SZ / 8, lm,       \
						   add1_##SZ(b, z));           \
		}                                                              \
		return n ? -1 : 0;                                             \
	}
DEFINE_ADD_ESC(16, 32, __mmask32, __m256i, _mm256_maskz_loadu_epi8,
	       _mm256_cmpeq_epi8_mask, _mm256_set1_epi8)
DEFINE_ADD_ESC(32, 16, __mmask16, __m128i, _mm_maskz_loadu_epi8,
	       _mm_cmpeq_epi8_mask, _mm_set1_epi8)
DEFINE_ADD_ESC(64, 8, __mmask8, __m128i, _mm_maskz_loadu_epi8,
	       _mm_cmpeq_epi8_mask, _mm_set1_epi8)

AVX512 static int add_esc_avx512(uint8_t *dst, const uint8_t *s,
				 const uint8_t *w, size_t n,
				 const uint8_t *base, size_t m, unsigned e)
{
	return e == 2 ? add_esc16_avx512(dst, s, w, n, base, m)
	       : e == 4 ? add_esc32_avx512(dst, s, w, n, base, m)
			: add_esc64_avx512(dst, s, w, n, base, m);
}

static const z4_esc_kernels avx512_kernels = {
	.sub_esc = sub_esc_avx512,
	.add_esc = add_esc_avx512,
};

const z4_esc_kernels *z4_delta_esc_avx512(void)
{
	if (__builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512vl") &&
	    __builtin_cpu_supports("avx512vbmi2") &&
	    __builtin_cpu_supports("bmi2"))
		return &avx512_kernels;
	return NULL;
}

#else

const z4_esc_kernels *z4_delta_esc_avx512(void)
{
	return NULL;
}

#endif

const z4_esc_kernels *z4_delta_esc_kernels(void)
{
	/* Racing first calls pick the same table: benign, and atomic. */
	static const z4_esc_kernels *chosen;
	const z4_esc_kernels *k = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);

	if (!k) {
		if (!z4_delta_env_flag("Z4_NO_AVX2") &&
		    !z4_delta_env_flag("Z4_NO_AVX512"))
			k = z4_delta_esc_avx512();
		if (!k)
			k = &z4_delta_esc_portable;
		__atomic_store_n(&chosen, k, __ATOMIC_RELEASE);
	}
	return k;
}

size_t z4_delta_sub_esc(z4_esc_out *o, const uint8_t *src,
			const uint8_t *base, size_t m, unsigned e, int rot)
{
	return z4_delta_esc_kernels()->sub_esc(o, src, base, m, e, rot);
}

int z4_delta_add_esc(uint8_t *dst, const uint8_t *s, const uint8_t *w,
		     size_t n, const uint8_t *base, size_t m, unsigned e)
{
	return z4_delta_esc_kernels()->add_esc(dst, s, w, n, base, m, e);
}
