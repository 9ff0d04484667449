/*
 * rans_wide.c - the portable row kernel of rans_wide.h (the reference)
 * and the choice of kernel.
 */
#include "rans_wide.h"

#include <stdlib.h>
#include <string.h>

#include "delta_env.h"
#include "z4_le.h"

/* Hide a value from the optimizer: the select stays a conditional move. */
#if defined(__GNUC__)
#define OPAQUE(v) __asm__("" : "+r"(v))
#else
#define OPAQUE(v) ((void)0)
#endif

static void rows_portable(z4_ransw_stream *st, size_t rows)
{
	const uint32_t *dt = st->dt;
	const uint8_t *p = st->p;
	uint8_t *dst = st->dst;
	uint32_t s[Z4_RANSW_LANES];

	memcpy(s, st->x, sizeof(s));
	for (size_t r = 0; r < rows; r++, dst += Z4_RANSW_LANES) {
		for (int j = 0; j < Z4_RANSW_LANES; j++) {
			uint32_t v = s[j], e = dt[v & 0xfff], need, y;
			dst[j] = (uint8_t)(e >> 24);
			v = ((e & 0xfff) + 1) * (v >> 12) + (e >> 12 & 0xfff);
			/* Unpredictable: no branch. The word is read even
			 * when not due (the caller vouches for the bytes). */
			need = v < (1u << 16);
			y = v << 16 | z4_le16(p);
			OPAQUE(y);
			s[j] = need ? y : v;
			p += need << 1;
		}
	}
	memcpy(st->x, s, sizeof(s));
	st->p = p;
	st->dst = dst;
}

static void rows2_portable(z4_ransw_stream *a, z4_ransw_stream *b, size_t rows)
{
	rows_portable(a, rows);
	rows_portable(b, rows);
}

void z4_ransc_rows_portable(z4_ransc_stream *st, size_t rows)
{
	const uint32_t *dt = st->dt;
	const uint8_t *p = st->p, *side = st->side;
	uint8_t *dst = st->dst;
	uint32_t s[Z4_RANSC_LANES];

	memcpy(s, st->x, sizeof(s));
	for (size_t r = 0; r < rows; r++) {
		for (int j = 0; j < Z4_RANSC_LANES; j++) {
			uint32_t v = s[j], need, y;
			uint32_t e = dt[(uint32_t)side[j] << Z4_RANSC_S |
					(v & Z4_RANSC_MASK)];
			dst[j] = (uint8_t)(e >> 24);
			v = ((e & 0xfff) + 1) * (v >> Z4_RANSC_S) +
			    (e >> 12 & 0xfff);
			need = v < (1u << 16);
			y = v << 16 | z4_le16(p);
			OPAQUE(y);
			s[j] = need ? y : v;
			p += need << 1;
		}
		dst += Z4_RANSC_LANES;
		side += Z4_RANSC_LANES;
	}
	memcpy(st->x, s, sizeof(s));
	st->p = p;
	st->dst = dst;
	st->side = side;
}

#if defined(__GNUC__)
/* Four table entries, stored unaligned. */
typedef uint32_t v4u32 __attribute__((vector_size(16), aligned(4), may_alias));
#endif

void z4_ransw_table_portable(uint32_t *t, const uint8_t *sym,
			     const uint16_t *f, unsigned k)
{
	for (unsigned i = 0; i < k; i++) {
		/* Eight at a time, past the symbol's slots into the next
		 * symbol's (written next) or the table's slack. */
		const uint32_t fs = f[i];
		uint32_t e = Z4_RANSW_ENTRY(fs, 0, sym[i]), *q = t;
#if defined(__GNUC__)
		v4u32 a = {0, 1u << 12, 2u << 12, 3u << 12}, b;
		a += e;
		b = a + (4u << 12);
		for (uint32_t j = 0; j < fs; j += 8, q += 8) {
			*(v4u32 *)(void *)q = a;
			*(v4u32 *)(void *)(q + 4) = b;
			a += 8u << 12;
			b += 8u << 12;
		}
#else
		for (uint32_t j = 0; j < fs; j += 8, q += 8, e += 8u << 12)
			for (uint32_t i = 0; i < 8; i++)
				q[i] = e + (i << 12);
#endif
		t += fs;
	}
}

static int miss_portable(const uint8_t bm[32], const uint8_t *side, size_t n)
{
	uint8_t miss[256], b0 = 0, b1 = 0, b2 = 0, b3 = 0;
	size_t i = 0;

	for (int c = 0; c < 256; c++)
		miss[c] = !(bm[c >> 3] >> (c & 7) & 1);
	for (; i + 4 <= n; i += 4) {
		b0 |= miss[side[i]];
		b1 |= miss[side[i + 1]];
		b2 |= miss[side[i + 2]];
		b3 |= miss[side[i + 3]];
	}
	for (; i < n; i++)
		b0 |= miss[side[i]];
	return (b0 | b1 | b2 | b3) != 0;
}

const z4_ransw_kernels z4_ransw_portable = {
	.name = "portable",
	.rows = rows_portable,
	.rows2 = rows2_portable,
	.ctx_rows = z4_ransc_rows_portable,
	.ctx_miss = miss_portable,
	.table = z4_ransw_table_portable,
};

int z4_delta_env_flag(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

static const z4_ransw_kernels *pick(void)
{
	const z4_ransw_kernels *k = NULL;

	if (!z4_delta_env_flag("Z4_NO_AVX2")) {
		if (!z4_delta_env_flag("Z4_NO_AVX512"))
			k = z4_ransw_avx512();
		if (!k)
			k = z4_ransw_avx2();
	}
	return k ? k : &z4_ransw_portable;
}

int z4_ransw_kernels_all(const z4_ransw_kernels *k[Z4_RANSW_SETS])
{
	int n = 0;

	k[n++] = &z4_ransw_portable;
	if (z4_ransw_avx2())
		k[n++] = z4_ransw_avx2();
	if (z4_ransw_avx512())
		k[n++] = z4_ransw_avx512();
	if (z4_ransw_avx512_older())
		k[n++] = z4_ransw_avx512_older();
	return n;
}

const z4_ransw_kernels *z4_ransw_kernels_pick(void)
{
	/* Racing first calls pick the same table: benign, and atomic. */
	static const z4_ransw_kernels *chosen;
	const z4_ransw_kernels *k = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);

	if (!k) {
		k = pick();
		__atomic_store_n(&chosen, k, __ATOMIC_RELEASE);
	}
	return k;
}
