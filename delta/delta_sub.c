/*
 * delta_sub.c - the arithmetic delta of float words (see delta_sub.h).
 * Loops over 64-bit words with the width's top bit as the sign: one
 * implementation, inlined for each constant E = 2, 4, 8 so the byte loops
 * fold into plain loads and stores.
 */
#include "delta_sub.h"

#include <string.h>

static inline uint64_t load(const uint8_t *p, unsigned e)
{
	uint64_t v = 0;

	for (unsigned k = 0; k < e; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

static inline void store(uint8_t *p, uint64_t v, unsigned e)
{
	for (unsigned k = 0; k < e; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

/* Sign-magnitude to an order-preserving unsigned word, and back. */
static inline uint64_t ord(uint64_t w, uint64_t sign, uint64_t mask)
{
	return (w & sign) ? ~w & mask : w | sign;
}

static inline uint64_t unord(uint64_t o, uint64_t sign, uint64_t mask)
{
	return (o & sign) ? o & ~sign : ~o & mask;
}

static inline __attribute__((always_inline)) void
sub_e(uint8_t *z, const uint8_t *src, const uint8_t *base, size_t m,
      const unsigned e)
{
	const unsigned bits = 8 * e;
	const uint64_t sign = (uint64_t)1 << (bits - 1);
	const uint64_t mask = sign | (sign - 1);

	for (size_t i = 0; i < m; i++) {
		uint64_t d = (ord(load(src + i * e, e), sign, mask) -
			      ord(load(base + i * e, e), sign, mask)) &
			     mask;
		/* zigzag within the width: 0, -1, 1, -2, ... -> 0, 1, 2, 3 */
		uint64_t zz = ((d << 1) ^ ((d & sign) ? mask : 0)) & mask;
		store(z + i * e, zz, e);
	}
}

static inline __attribute__((always_inline)) void
add_e(uint8_t *dst, const uint8_t *z, const uint8_t *base, size_t m,
      const unsigned e)
{
	const unsigned bits = 8 * e;
	const uint64_t sign = (uint64_t)1 << (bits - 1);
	const uint64_t mask = sign | (sign - 1);

	for (size_t i = 0; i < m; i++) {
		uint64_t zz = load(z + i * e, e);
		uint64_t d = (zz >> 1) ^ ((zz & 1) ? mask : 0);
		uint64_t o = (ord(load(base + i * e, e), sign, mask) + d) & mask;
		store(dst + i * e, unord(o, sign, mask), e);
	}
}

void z4_delta_sub(uint8_t *z, const uint8_t *src, const uint8_t *base,
		  size_t m, unsigned e)
{
	if (e == 2)
		sub_e(z, src, base, m, 2);
	else if (e == 4)
		sub_e(z, src, base, m, 4);
	else
		sub_e(z, src, base, m, 8);
}

void z4_delta_add(uint8_t *dst, const uint8_t *z, const uint8_t *base,
		  size_t m, unsigned e)
{
	if (e == 2)
		add_e(dst, z, base, m, 2);
	else if (e == 4)
		add_e(dst, z, base, m, 4);
	else
		add_e(dst, z, base, m, 8);
}
