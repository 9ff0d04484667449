/*
 * delta_planes.h - internal to delta/: the byte-plane transform, the XOR
 * with a base, and the cheap entropy estimate that picks raw vs zstd.
 *
 * A chunk of n_elems elements of elem_size bytes has elem_size planes of
 * n_elems bytes; plane k holds byte k of every element. All kernels are plain
 * loops over caller buffers: no allocation, no errors. Plane buffers must not
 * overlap src, dst or base, except where a mode says otherwise. Each runs the
 * implementation z4_delta_planes_kernels() picks (delta_planes_isa.h: AVX2
 * where the CPU has it and Z4_NO_AVX2 is unset, else portable C); all give
 * the same bytes.
 */
#ifndef Z4_DELTA_PLANES_H
#define Z4_DELTA_PLANES_H

#include <stddef.h>
#include <stdint.h>

/*
 * planes[k][i] = src[i * elem_size + k] (^ base[i * elem_size + k] when
 * base is not NULL), for elem_size 2, 4 or 8. elem_size 1 needs no split:
 * use z4_delta_xor() or src itself.
 */
void z4_delta_planes_split(uint8_t *const planes[], const uint8_t *src,
			   const uint8_t *base, size_t n_elems,
			   unsigned elem_size);

typedef enum {
	Z4_MERGE_SET,      /* dst = merge(planes) */
	Z4_MERGE_XOR,      /* dst = merge(planes) ^ base (base != dst) */
	Z4_MERGE_XOR_INTO, /* dst ^= merge(planes): dst holds the base */
} z4_merge_mode;

/* Inverse of the split, for elem_size 1, 2, 4 or 8. base is read only in
 * Z4_MERGE_XOR. */
void z4_delta_planes_merge(uint8_t *dst, const uint8_t *const planes[],
			   const uint8_t *base, size_t n_elems,
			   unsigned elem_size, z4_merge_mode mode);

/* The same on words rotated left by one bit (sign to bit 0) before the
 * split, and back after the merge; elem_size 2, 4 or 8 (the XOR with the
 * base is on the unrotated words, as in the plain forms). */
void z4_delta_planes_split_rot(uint8_t *const planes[], const uint8_t *src,
			       const uint8_t *base, size_t n_elems,
			       unsigned elem_size);
void z4_delta_planes_merge_rot(uint8_t *dst, const uint8_t *const planes[],
			       const uint8_t *base, size_t n_elems,
			       unsigned elem_size, z4_merge_mode mode);

/* dst = a ^ b over n bytes; dst may be a or b. */
void z4_delta_xor(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t n);

/* Plane e-1 of the split alone (or of the rotated split with rot) into
 * top[0..n_elems): the words' top byte, or bits 8e-9.. when rotated. */
void z4_delta_planes_top(uint8_t *top, const uint8_t *src, size_t n_elems,
			 unsigned elem_size, int rot);

/*
 * Whether the plane looks incompressible: its order-0 byte entropy, measured
 * on the whole plane or on a fixed sample of it, is at least 7.9 bits per
 * byte. Integer arithmetic only, so the answer (and thus the encoding) is
 * the same on every platform.
 */
int z4_delta_looks_random(const uint8_t *p, size_t len);

#endif
