/*
 * rans_wide.h - internal to delta/ and its tests: the row kernels of the
 * wide order-0 rANS model (Z4_RANS_W0 of rans.h), one per instruction set.
 *
 * A wide block interleaves its symbols over Z4_RANSW_LANES states: symbol i
 * belongs to state i % 32, a row is 32 consecutive symbols. Decoding a row
 * takes the states in lane order, each decoding its symbol and then, when
 * below 2^16, reading the next 16-bit word of the single word stream. An
 * AVX2 decoder thus handles 8 lanes at a time and loads their refills with
 * one shuffle. rans.c parses blocks, checks lengths and does the last,
 * checked rows; the kernels here only run rows whose input is known to be
 * there. Every kernel computes exactly the portable kernel's bytes, states
 * and input position (tests/test_rans_wide.c compares them).
 */
#ifndef Z4_RANS_WIDE_H
#define Z4_RANS_WIDE_H

#include <stddef.h>
#include <stdint.h>

#include "rans.h"

#define Z4_RANSW_LANES 32
#define Z4_RANSW_S 12 /* frequency bits */
/* A row reads at most one word per lane. */
#define Z4_RANSW_ROW_MAX (2 * Z4_RANSW_LANES)

/*
 * A decode table entry, one per slot s of 2^12: the symbol owning s, its
 * frequency f and s - start (the state's offset within the symbol):
 * (f - 1) | (s - start) << 12 | symbol << 24. The next state is then
 * f * (x >> 12) + (s - start): no subtraction, no overflow.
 */
#define Z4_RANSW_ENTRY(f, off, sym)                                            \
	(((uint32_t)(f)-1u) | (uint32_t)(off) << 12 | (uint32_t)(sym) << 24)

/*
 * Decode `rows` rows into dst[0 .. 32 * rows) with the states x[32] (in
 * [2^16, 2^32), kept so on return) and table dt[4096], reading words from
 * *pp on, which is advanced. The caller guarantees Z4_RANSW_ROW_MAX *
 * rows readable bytes at *pp (a kernel may load up to that far, never
 * beyond).
 */
typedef void z4_ransw_rows_fn(uint32_t x[Z4_RANSW_LANES], uint8_t *dst,
			      size_t rows, const uint8_t **pp,
			      const uint32_t *dt);

typedef struct {
	const char *name; /* "portable", "avx2" */
	z4_ransw_rows_fn *rows;
} z4_ransw_kernels;

/* Always built. */
extern const z4_ransw_kernels z4_ransw_portable;

/* The AVX2 kernel, or NULL without AVX2 (CPU, OS or build). Ignores
 * Z4_NO_AVX2. */
const z4_ransw_kernels *z4_ransw_avx2(void);

/* AVX2 when available unless Z4_NO_AVX2 is set to anything but "" or
 * "0", else portable; decided on the first call, thread-safe. */
const z4_ransw_kernels *z4_ransw_kernels_pick(void);

/* Tests: make w decode Z4_RANS_W0 with kernel k (a new work takes
 * z4_ransw_kernels_pick()). */
void z4_rans_work_set_wide(z4_rans_work *w, const z4_ransw_kernels *k);

#endif
