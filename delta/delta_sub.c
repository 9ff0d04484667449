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

void z4_delta_add_syms(uint8_t *dst, const uint8_t *s, const uint8_t *base,
		       size_t m, unsigned e)
{
	BY_SIZE(e, adds, dst, s, base, m);
}

void z4_delta_add_at(uint8_t *dst, const uint32_t *idx, const uint8_t *w,
		     size_t n, unsigned e)
{
	BY_SIZE(e, addat, dst, idx, w, n);
}

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
