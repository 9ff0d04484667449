/*
 * delta_sub.h - internal to delta/: the arithmetic delta of float words.
 *
 * A float's bits map to an integer that orders like the value (ord():
 * negative words reversed below the positive ones, -0 next to +0). The
 * delta of a word against its base is z = zigzag(ord(new) - ord(base))
 * modulo 2^(8E): a weight that moved by k units in the last place gives
 * |z| ~ 2k whatever carries its mantissa went through, where an XOR flips
 * every bit the carry touched. Small moves leave the high bytes of z zero,
 * also across a power of two (where XOR changes the exponent).
 */
#ifndef Z4_DELTA_SUB_H
#define Z4_DELTA_SUB_H

#include <stddef.h>
#include <stdint.h>

/* z[i] = zigzag(ord(src[i]) - ord(base[i])) for m little-endian words of
 * e = 2, 4 or 8 bytes; z may not overlap src or base. */
void z4_delta_sub(uint8_t *z, const uint8_t *src, const uint8_t *base,
		  size_t m, unsigned e);

/* The inverse: dst[i] = unord(ord(base[i]) + unzigzag(z[i])); dst may be
 * base (in place), not z. */
void z4_delta_add(uint8_t *dst, const uint8_t *z, const uint8_t *base,
		  size_t m, unsigned e);

/* The symbol of a delta word too large for one byte (XFORM_ESC*). */
#define Z4_SUB_ESC 255

/* The positions i < m where s[i] is Z4_SUB_ESC, ascending, into
 * idx[0..cap); returns how many there are (also past cap). */
size_t z4_delta_find_escapes(uint32_t *idx, size_t cap, const uint8_t *s,
			     size_t m);

/*
 * The escape form of z4_delta_sub(src, base) in one pass, z itself never
 * stored: the symbols s[i] = min(z[i], Z4_SUB_ESC) and the words z[i] >=
 * Z4_SUB_ESC into w in order, while there are at most cap. With them the
 * symbols' context pairs (rans.h's z4_rans_pairs()): pairs[i] = t[i] << 8
 * | s[i], t[i] the base word's byte in the top plane (byte e - 1, of the
 * word rotated left one bit if rot: z4_delta_planes_top()), lo and hi the
 * least and greatest t[i] (255 and 0 if m is 0).
 */
typedef struct {
	uint8_t *s;      /* m symbols */
	uint16_t *pairs; /* m pairs */
	uint8_t *w;      /* up to cap escaped words */
	size_t cap;
	unsigned lo, hi; /* set by the call */
} z4_esc_out;

/* Returns how many words escape, or cap + 1 as soon as more than cap do
 * (s, pairs and w then hold a prefix; lo and hi are unset). */
size_t z4_delta_sub_esc(z4_esc_out *o, const uint8_t *src,
			const uint8_t *base, size_t m, unsigned e, int rot);

/*
 * From one symbol a word, s[i] = min(z[i], Z4_SUB_ESC), and the words
 * w[0..n) of the escaped z (those >= Z4_SUB_ESC, in order): dst[i] = the
 * base's word moved by z[i]. Returns 0, or -1 with dst untouched when s
 * does not hold exactly n escapes. dst may be base, not s or w.
 */
int z4_delta_add_esc(uint8_t *dst, const uint8_t *s, const uint8_t *w,
		     size_t n, const uint8_t *base, size_t m, unsigned e);

/* Tests: the implementations of the two above, portable and AVX-512
 * (BW, VBMI2), chosen by z4_delta_esc_kernels(): the AVX-512 ones where
 * the CPU has them, unless Z4_NO_AVX512 or Z4_NO_AVX2 is set. */
typedef struct {
	size_t (*sub_esc)(z4_esc_out *o, const uint8_t *src,
			  const uint8_t *base, size_t m, unsigned e, int rot);
	int (*add_esc)(uint8_t *dst, const uint8_t *s, const uint8_t *w,
		       size_t n, const uint8_t *base, size_t m, unsigned e);
} z4_esc_kernels;
extern const z4_esc_kernels z4_delta_esc_portable;
/* NULL where the CPU lacks them. */
const z4_esc_kernels *z4_delta_esc_avx512(void);
const z4_esc_kernels *z4_delta_esc_kernels(void);

/* The same from z split in plain planes (planes[k][i] = byte k of z[i]),
 * merged on the way: one pass. dst may be base, not a plane. */
void z4_delta_add_planes(uint8_t *dst, const uint8_t *const planes[],
			 const uint8_t *base, size_t m, unsigned e);

#endif
