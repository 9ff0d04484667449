/*
 * delta_group.h - internal to delta/: the group-scale transform for
 * dequantized weights (int4 / int8 values times a scale per group, stored
 * as bf16, fp16 or fp32).
 *
 * A chunk of m elements is cut into groups of 2^log2g elements (the last
 * one may be short). Group g has one fp32 scale s[g]; element i of it is
 * stored as a byte idx[i]: 0..254 means q = idx[i] - 127 and the value is
 * round_to_dtype(fl32((float)q * s[g])); 255 (Z4_GROUP_ESC) means "the
 * next exception", a raw value taken in order from the exception list.
 * The product is one IEEE single multiply, then round-to-nearest-even to
 * the dtype: the same bits on every platform. docs/codec.md explains how
 * the encoder finds scales; the decoder only needs the formula.
 */
#ifndef Z4_DELTA_GROUP_H
#define Z4_DELTA_GROUP_H

#include <stddef.h>
#include <stdint.h>

#define Z4_GROUP_ESC 255
#define Z4_GROUP_LOG2_MIN 5  /* groups of 32 .. */
#define Z4_GROUP_LOG2_MAX 16 /* .. 65536 elements */

/* Element kinds, as stored in the chunk. */
enum { Z4_GROUP_BF16 = 0, Z4_GROUP_F16 = 1, Z4_GROUP_F32 = 2, Z4_GROUP_KINDS };

/* Element size of a kind (2 or 4). */
unsigned z4_group_elem_size(unsigned kind);

/*
 * Pick a group size for src (m elements of `kind`), or 0 when the data
 * does not look like scaled integers (a few sample windows are tried
 * first, so ordinary weights cost almost nothing). Deterministic.
 */
unsigned z4_group_choose(const uint8_t *src, size_t m, unsigned kind);

/*
 * The transform with 2^log2g-element groups: idx[m], scales[ceil(m /
 * 2^log2g)] (fp32 bit patterns) and the exceptions' raw values, back to
 * back in exc (up to m elements). Returns the number of exceptions.
 */
size_t z4_group_fit(uint8_t *idx, uint32_t *scales, uint8_t *exc,
		    const uint8_t *src, size_t m, unsigned kind,
		    unsigned log2g);

/*
 * The inverse: dst gets m elements. Z4_ECORRUPT (-) when the escapes in
 * idx do not use exactly n_exc exceptions; never reads past its inputs.
 */
int z4_group_expand(uint8_t *dst, const uint8_t *idx, const uint32_t *scales,
		    const uint8_t *exc, size_t n_exc, size_t m, unsigned kind,
		    unsigned log2g);

#endif
