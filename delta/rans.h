/*
 * rans.h - internal to delta/: a byte-oriented rANS entropy coder with
 * order-0 (per 64 KiB block) and context (order-1 or side-plane) models.
 *
 * A stream codes n bytes (n known to both sides). Four rANS states, 32-bit,
 * renormalized 16 bits at a time, each own a contiguous quarter of the
 * input (plus state 0 the n % 4 tail): the four dependency chains run in
 * parallel in the CPU and an order-1 context stays inside its quarter.
 * Stream layouts are in docs/format.md ("rANS streams"). The coder is
 * deterministic and uses integer arithmetic only.
 *
 * Z4_RANS_W0 codes like Z4_RANS_O0 (same blocks and tables) but
 * interleaves each block over 32 states instead of 4 quarters;
 * Z4_RANS_WCTX codes like Z4_RANS_CTX (same tables) over 64 interleaved
 * states.
 *
 * Decoders read only inside [src, src + len), write only dst[0..n), and
 * return Z4_ECORRUPT on any malformed input (bad table, context without a
 * table, states or lengths that do not end exactly); they never crash.
 */
#ifndef Z4_RANS_H
#define Z4_RANS_H

#include <stddef.h>
#include <stdint.h>

#define Z4_RANS_BLOCK (64u << 10) /* order-0 symbols per frequency table */

/* Models. */
enum {
	Z4_RANS_O0 = 0,  /* per block frequency table */
	Z4_RANS_O1 = 1,  /* context: previous byte of the same quarter */
	Z4_RANS_CTX = 2, /* context: co-located byte of a side plane */
	Z4_RANS_W0 = 3,  /* order 0 per block, 32 interleaved states (fast
			  * to decode with SIMD: rans_wide.h) */
	Z4_RANS_WCTX = 4, /* the side plane's contexts and tables like
			   * Z4_RANS_CTX, 64 interleaved states */
};

/* Scratch shared by encoder and decoder, one per thread (about 4 MiB of
 * tables, touched as the models need them). */
typedef struct z4_rans_work z4_rans_work;

z4_rans_work *z4_rans_work_new(void);    /* NULL on allocation failure */
void z4_rans_work_free(z4_rans_work *w); /* NULL-safe */

/*
 * Encode src[0..n) with `model` (side = the context plane for Z4_RANS_CTX
 * and Z4_RANS_WCTX, else ignored) into dst. Returns Z4_OK and *out_len,
 * 1 when the stream would not fit in cap bytes (dst then holds garbage),
 * Z4_ENOMEM.
 */
int z4_rans_encode(size_t *out_len, uint8_t *dst, size_t cap,
		   z4_rans_work *w, const uint8_t *src, size_t n, int model,
		   const uint8_t *side);

/* pairs[i] = side[i] << 8 | src[i] for i < n, and the least and the
 * greatest byte of side (255 and 0 when n is 0). */
void z4_rans_pairs(uint16_t *pairs, unsigned *lo, unsigned *hi,
		   const uint8_t *src, const uint8_t *side, size_t n);

/*
 * Encode src[0..n) with the context model of the side plane (Z4_RANS_WCTX
 * if wide, else Z4_RANS_CTX), or order 0 (Z4_RANS_W0, Z4_RANS_O0) where
 * the exact counts say that codes at least 31/32 as small: the choice a
 * planner makes from estimates, without their sampling. The side plane
 * comes as z4_rans_pairs() of src and it (pairs, lo, hi; n > 0: lo <=
 * hi). *model says which; else as z4_rans_encode().
 */
int z4_rans_encode_pairs(size_t *out_len, int *model, uint8_t *dst,
			 size_t cap, z4_rans_work *w, const uint8_t *src,
			 const uint16_t *pairs, size_t n, unsigned lo,
			 unsigned hi, int wide);

/* Decode exactly n bytes into dst from the whole of src[0..len).
 * Z4_ECORRUPT, Z4_ENOMEM. dst must not overlap src or side. */
int z4_rans_decode(uint8_t *dst, size_t n, z4_rans_work *w,
		   const uint8_t *src, size_t len, int model,
		   const uint8_t *side);

/* Whether w's kernels read a Z4_RANS_WCTX stream's contexts from words,
 * for z4_rans_decode_words(). */
int z4_rans_words(const z4_rans_work *w);

/* z4_rans_decode() of a Z4_RANS_WCTX stream whose side plane is the top
 * plane of n 16-bit words (z4_delta_planes_top() with e = 2, rotated if
 * rot), read in the words themselves: the plane is never made. Only
 * where z4_rans_words(w). */
int z4_rans_decode_words(uint8_t *dst, size_t n, z4_rans_work *w,
			 const uint8_t *src, size_t len, const uint8_t *words,
			 int rot);

/*
 * Cheap estimate of the coded size in bytes of src[0..n) under each model
 * (est[Z4_RANS_O0..Z4_RANS_CTX]), from a fixed sample; est[Z4_RANS_CTX] is
 * SIZE_MAX when side is NULL. Integer arithmetic: the same on every host.
 */
void z4_rans_estimate(size_t est[3], z4_rans_work *w, const uint8_t *src,
		      size_t n, const uint8_t *side);

/* The sample of src[0..n) the estimates read: *runs runs of *run bytes,
 * run r at r * *step, each with the byte before it (order 1's first
 * context); nothing else. A caller may fill just those bytes. */
void z4_rans_sample(size_t n, size_t *runs, size_t *step, size_t *run);

/* z4_rans_estimate() but for order 1: est[Z4_RANS_O1] is SIZE_MAX. */
void z4_rans_estimate_no_o1(size_t est[3], z4_rans_work *w,
			    const uint8_t *src, size_t n, const uint8_t *side);

/* Bytes to code src[0..n) order 0 under its own counts, without any
 * table: a quick look at whether a few bytes are noise. */
size_t z4_rans_entropy0(z4_rans_work *w, const uint8_t *src, size_t n);

/* est[Z4_RANS_CTX] of z4_rans_estimate() alone (side not NULL), for a
 * second side plane of a src that z4_rans_estimate() found worth a
 * context (its est[Z4_RANS_CTX] < SIZE_MAX): not judged again by order 0,
 * so on noise this is a figure where z4_rans_estimate() says SIZE_MAX. */
size_t z4_rans_estimate_side(z4_rans_work *w, const uint8_t *src, size_t n,
			     const uint8_t *side);

#endif
