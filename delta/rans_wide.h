/*
 * rans_wide.h - internal to delta/ and its tests: the kernels of the wide
 * rANS models (Z4_RANS_W0 and, below, Z4_RANS_WCTX of rans.h), one set per
 * instruction set.
 *
 * A wide block interleaves its symbols over Z4_RANSW_LANES states: symbol i
 * belongs to state i % 32, a row is 32 consecutive symbols. Decoding a row
 * takes the states in lane order, each decoding its symbol and then, when
 * below 2^16, reading the next 16-bit word of the single word stream. An
 * AVX2 decoder thus handles 8 lanes at a time and loads their refills with
 * one shuffle; an AVX-512 one 16, placing them with an expand. A row's
 * work is one long dependency chain (table load, multiply, compare, count,
 * load, place), so a kernel can also decode two blocks at once, which
 * keeps the core busy while each chain waits. rans.c parses blocks, checks
 * lengths and does the last, checked rows; the kernels here only run rows
 * whose input is known to be there. Every kernel computes exactly the
 * portable kernel's bytes, states and input position
 * (tests/test_rans_wide.c compares them).
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

/* One block's stream being decoded: its 32 states (in [2^16, 2^32)),
 * where its next row goes, its next word and its decode table dt[4096]. */
typedef struct {
	uint32_t x[Z4_RANSW_LANES];
	uint8_t *dst;
	const uint8_t *p;
	const uint32_t *dt;
} z4_ransw_stream;

/*
 * Decode `rows` rows of s, advancing s->dst by 32 * rows and s->p past the
 * words read. The caller guarantees Z4_RANSW_ROW_MAX * rows readable bytes
 * at s->p (a kernel may load up to that far, never beyond).
 */
typedef void z4_ransw_rows_fn(z4_ransw_stream *s, size_t rows);

/* The same for two independent streams (two blocks) at once, with the
 * guarantee for each: exactly what rows() on a, then on b, computes. Their
 * dependency chains interleave, which a single stream's cannot. */
typedef void z4_ransw_rows2_fn(z4_ransw_stream *a, z4_ransw_stream *b,
			       size_t rows);

/* An encoder table entry, one per symbol s of frequency f > 0 starting at
 * cumulative frequency start (both of 2^12). */
#define Z4_RANSW_EENTRY(f, start) ((uint32_t)(f) | (uint32_t)(start) << 16)

/*
 * Encode rows [0, rows) of src (32 symbols each) in the order the decoder
 * reverses: rows last to first, lanes 31 to 0 within a row, with the
 * states x[32] (in [2^16, 2^32)) and encoder table et[256], writing the
 * words shed downwards from *pp, which is moved down (at most 64 bytes a
 * row). Exactly what the scalar encoder in rans.c writes. The 16 bytes
 * below the final *pp may be overwritten (Z4_RANSW_ENC_SCRIBBLE).
 */
typedef void z4_ransw_enc_fn(uint32_t x[Z4_RANSW_LANES], uint8_t **pp,
			     const uint8_t *src, size_t rows,
			     const uint32_t *et);

/* Bytes below its output an encoder kernel may overwrite: the callers
 * write the final states there afterwards. */
#define Z4_RANSW_ENC_SCRIBBLE 16

/* One block being encoded: its 32 states, its output (written downwards
 * from p), symbols and encoder table as for z4_ransw_enc_fn. */
typedef struct {
	uint32_t x[Z4_RANSW_LANES];
	uint8_t *p;
	const uint8_t *src;
	const uint32_t *et;
} z4_ransw_enc_stream;

/* z4_ransw_enc_fn on two independent blocks of `rows` rows each at once:
 * one block's chain of dependent steps then hides the other's latency. */
typedef void z4_ransw_enc2_fn(z4_ransw_enc_stream *a, z4_ransw_enc_stream *b,
			      size_t rows);

/*
 * The wide context model (Z4_RANS_WCTX of rans.h): one stream over the
 * whole plane, its symbols interleaved over Z4_RANSC_LANES states (symbol
 * i of state i % 64, a row is 64 symbols), each symbol coded with the
 * 11-bit table of its context, the side plane's co-located byte. A row is
 * four AVX-512 vectors whose chains share only the input position, so one
 * stream keeps the core as busy as two order-0 blocks do. Context c's
 * decode table is dt[c << 11 ..] with entries Z4_RANSW_ENTRY (11-bit f
 * and offset): the next state is f * (x >> 11) + offset.
 */
#define Z4_RANSC_LANES 64
#define Z4_RANSC_S 11
#define Z4_RANSC_MASK ((1u << Z4_RANSC_S) - 1)
#define Z4_RANSC_ROW_MAX (2 * Z4_RANSC_LANES)

typedef struct {
	uint32_t x[Z4_RANSC_LANES];
	uint8_t *dst;
	const uint8_t *p;
	const uint8_t *side; /* contexts of the next row, advanced with dst */
	const uint32_t *dt;
	/* 0: side is a byte plane; else side holds 16-bit little-endian
	 * words whose bits [side_shift, side_shift + 8) are the contexts (a
	 * float's top plane read in place), only for a kernel set with
	 * ctx_miss16. */
	unsigned side_shift;
} z4_ransc_stream;

/* Decode `rows` rows of s (Z4_RANSC_ROW_MAX * rows readable bytes at
 * s->p; every context met has a table), advancing dst, side and p. */
typedef void z4_ransc_rows_fn(z4_ransc_stream *s, size_t rows);

/*
 * Encode rows [0, rows) of the symbols of pairs[i] = context << 8 |
 * symbol, rows last to first and lanes 63 to 0, with states x[64] and
 * et[c << 8 | s] = Z4_RANSW_EENTRY(f, start) (11-bit) for every pair that
 * occurs, writing downwards from *pp (at most 128 bytes a row). Exactly
 * rans.c's scalar encoder. The 16 bytes below the final *pp may be
 * overwritten.
 */
typedef void z4_ransc_enc_fn(uint32_t x[Z4_RANSC_LANES], uint8_t **pp,
			     const uint16_t *pairs, size_t rows,
			     const uint32_t *et);

/* Whether some byte of side[0..n) is a context without a table: its bit
 * clear in bm, the stream's bitmap of contexts (bit c & 7 of bm[c >> 3]).
 * Both context models check the side plane so, once, before decoding. */
typedef int z4_ransc_miss_fn(const uint8_t bm[32], const uint8_t *side,
			     size_t n);
/* The same for the contexts of n 16-bit words at side (bits [sh, sh +
 * 8)). */
typedef int z4_ransc_miss16_fn(const uint8_t bm[32], const uint8_t *side,
			       size_t n, unsigned sh);

/* Build a wide decode table at t from the k symbols sym[] (ascending) of
 * frequencies f[] (each > 0, summing to 2^S, any S <= 12): entry
 * Z4_RANSW_ENTRY(f, j, s) for slot j of symbol s. A builder may write up
 * to Z4_RANSW_TABLE_SLACK entries past the table. */
typedef void z4_ransw_table_fn(uint32_t *t, const uint8_t *sym,
			       const uint16_t *f, unsigned k);
#define Z4_RANSW_TABLE_SLACK 16

/* Add to h the byte counts of p[0..n), bytes that are mostly the eight
 * distinct values v[]: those counted 64 at a time by compares, the others
 * one by one. */
typedef void z4_count8_fn(uint32_t h[256], const uint8_t *p, size_t n,
			  const uint8_t v[8]);

typedef struct {
	const char *name; /* "portable", "avx2", "avx512", "avx512vbmi2" */
	z4_ransw_rows_fn *rows;
	z4_ransw_rows2_fn *rows2;
	z4_ransw_enc_fn *enc; /* NULL: rans.c's scalar encoder */
	z4_ransw_enc2_fn *enc2; /* NULL: enc a block at a time */
	z4_ransc_rows_fn *ctx_rows;
	z4_ransc_enc_fn *ctx_enc; /* NULL: rans.c's scalar encoder */
	z4_ransc_miss_fn *ctx_miss;
	z4_ransc_miss16_fn *ctx_miss16; /* NULL: ctx_rows reads planes only */
	z4_ransw_table_fn *table;
	z4_count8_fn *count8; /* NULL: rans.c counts by increments */
} z4_ransw_kernels;

/* The portable context row decoder and table builder. */
z4_ransc_rows_fn z4_ransc_rows_portable;
z4_ransw_table_fn z4_ransw_table_portable;

/* Always built. */
extern const z4_ransw_kernels z4_ransw_portable;

/* The AVX2 kernels, or NULL without AVX2 (CPU, OS or build). */
const z4_ransw_kernels *z4_ransw_avx2(void);

#if defined(__x86_64__) || defined(__i386__)
/* Between the x86 kernel files: the AVX2 one-stream kernel and context
 * check (call only where z4_ransw_avx2() is not NULL). */
z4_ransw_rows_fn z4_ransw_rows_avx2;
z4_ransc_miss_fn z4_ransc_miss_avx2;
#endif

/* AVX2 for one stream, AVX-512F for two and for the encoder, or NULL
 * without both. */
const z4_ransw_kernels *z4_ransw_avx512(void);

/* The AVX-512 set z4_ransw_avx512() leaves aside for a faster one (the
 * context encoder without VBMI2), or NULL: for tests. */
const z4_ransw_kernels *z4_ransw_avx512_older(void);

/* Fill k[] with every kernel set this host runs, portable first; returns
 * how many (at most Z4_RANSW_SETS). Ignores the environment. */
#define Z4_RANSW_SETS 4
int z4_ransw_kernels_all(const z4_ransw_kernels *k[Z4_RANSW_SETS]);

/* The fastest set this host runs, unless Z4_NO_AVX512 (no AVX-512) or
 * Z4_NO_AVX2 (neither) is set to anything but "" or "0"; decided on the
 * first call, thread-safe. */
const z4_ransw_kernels *z4_ransw_kernels_pick(void);

/* Tests: make w code Z4_RANS_W0 (decode, and encode where k has an
 * encoder) with kernel set k (a new work takes
 * z4_ransw_kernels_pick()). */
void z4_rans_work_set_wide(z4_rans_work *w, const z4_ransw_kernels *k);

#endif
