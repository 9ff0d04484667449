/*
 * delta_planes_isa.h - internal to delta/ and its tests: the byte-plane
 * kernels of delta_planes.h as one table per instruction set, so a test can
 * run each implementation on the same bytes and compare.
 *
 * Every table computes exactly the same bytes as the portable one, which is
 * the reference; the functions of delta_planes.h call the table that
 * z4_delta_planes_kernels() picks.
 */
#ifndef Z4_DELTA_PLANES_ISA_H
#define Z4_DELTA_PLANES_ISA_H

#include "delta_planes.h"

/* Same contracts as the like-named functions of delta_planes.h. */
typedef void z4_split_fn(uint8_t *const planes[], const uint8_t *src,
			 const uint8_t *base, size_t n_elems,
			 unsigned elem_size);
typedef void z4_merge_fn(uint8_t *dst, const uint8_t *const planes[],
			 const uint8_t *base, size_t n_elems,
			 unsigned elem_size, z4_merge_mode mode);

typedef struct {
	const char *name; /* "portable", "avx2" */
	z4_split_fn *split, *split_rot;
	z4_merge_fn *merge, *merge_rot;
	void (*xor_bytes)(uint8_t *dst, const uint8_t *a, const uint8_t *b,
			  size_t n);
} z4_planes_kernels;

/* The portable C loops (delta_planes.c): always built, on every ISA. */
extern const z4_planes_kernels z4_delta_planes_portable;

/* The AVX2 kernels (delta_planes_avx2.c), or NULL when this CPU (or OS)
 * lacks AVX2 or the build is not for x86. Ignores Z4_NO_AVX2. */
const z4_planes_kernels *z4_delta_planes_avx2(void);

/*
 * The table delta_planes.h uses: AVX2 when available unless the
 * environment has Z4_NO_AVX2 set to anything but "" or "0", else portable.
 * Decided on the first call and kept for the life of the process; safe
 * to call from any thread.
 */
const z4_planes_kernels *z4_delta_planes_kernels(void);

#endif
