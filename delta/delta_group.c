/*
 * delta_group.c - the group-scale transform (see delta_group.h).
 *
 * Encoder, per group: take the largest magnitude a and the smallest
 * non-zero magnitude b; if the values are q * s for small integers q, b is
 * about s (some |q| is 1) and a / b about the largest |q|. From that guess
 * every element gets its q, and every element with q != 0 bounds s to the
 * open interval of scales whose product rounds back to its value. Within
 * the intersection we take the float with the most trailing zero bits, so
 * the scales' low planes are nearly empty. Whatever still does not round
 * back (ties, -0, NaN, outliers) becomes an exception stored raw. The
 * decoder never trusts any of this: the formula is fixed and the chunk id
 * checks the result.
 */
#include "delta_group.h"

#include <math.h>
#include <string.h>

#include "z4_err.h"
#include "z4_le.h"

#define QMAX 127

unsigned z4_group_elem_size(unsigned kind)
{
	return kind == Z4_GROUP_F32 ? 4 : 2;
}

static uint32_t f2u(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static float u2f(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

/* fp32 -> IEEE binary16, round to nearest even. */
static uint16_t f32_to_f16(uint32_t x)
{
	uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
	uint32_t h, rem, half;
	unsigned shift;

	if (a >= 0x7f800000u) /* inf, NaN (kept quiet) */
		return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0));
	if (a >= 0x477ff000u) /* rounds to >= 65536: inf */
		return (uint16_t)(sign | 0x7c00u);
	if (a >= 0x38800000u) { /* normal half */
		h = ((a >> 23) - 112) << 10 | (a >> 13 & 0x3ffu);
		rem = a & 0x1fffu;
		h += rem > 0x1000u || (rem == 0x1000u && (h & 1));
		return (uint16_t)(sign | h);
	}
	if (a < 0x33000000u) /* <= 2^-25: zero */
		return (uint16_t)sign;
	/* Subnormal half: units of 2^-24. */
	shift = 126 - (a >> 23);
	h = ((a & 0x7fffffu) | 0x800000u) >> shift;
	rem = ((a & 0x7fffffu) | 0x800000u) & ((1u << shift) - 1);
	half = 1u << (shift - 1);
	h += rem > half || (rem == half && (h & 1));
	return (uint16_t)(sign | h);
}

/* The stored bits of x in `kind` (the decoder's formula). */
static uint32_t round_kind(float x, unsigned kind)
{
	uint32_t u = f2u(x);

	if (kind == Z4_GROUP_F32)
		return u;
	if (kind == Z4_GROUP_F16)
		return f32_to_f16(u);
	if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN stays NaN */
		return (u >> 16) | 0x40u;
	return (u + 0x7fffu + ((u >> 16) & 1)) >> 16;
}

static uint32_t load(const uint8_t *p, unsigned kind)
{
	return kind == Z4_GROUP_F32 ? z4_le32(p) : z4_le16(p);
}

static void store(uint8_t *p, uint32_t v, unsigned kind)
{
	if (kind == Z4_GROUP_F32)
		z4_put32(p, v);
	else
		z4_put16(p, (uint16_t)v);
}

/* The value of stored bits `v`, exactly, as a double (NaN for NaN). */
static double value(uint32_t v, unsigned kind)
{
	if (kind == Z4_GROUP_F32)
		return u2f(v);
	if (kind == Z4_GROUP_BF16)
		return u2f(v << 16);
	{
		uint32_t ex = v >> 10 & 0x1f, mant = v & 0x3ff;
		double d;
		if (ex == 0)
			d = (double)mant * 0x1p-24;
		else if (ex == 31)
			d = mant ? NAN : INFINITY;
		else
			d = u2f((ex + 112) << 23 | mant << 13);
		return (v & 0x8000) ? -d : d;
	}
}

/* Largest finite magnitude of the kind's bit patterns. */
static uint32_t max_finite(unsigned kind)
{
	return kind == Z4_GROUP_F32 ? 0x7f7fffffu
	       : kind == Z4_GROUP_BF16 ? 0x7f7fu
				       : 0x7bffu;
}

static uint32_t sign_bit(unsigned kind)
{
	return kind == Z4_GROUP_F32 ? 0x80000000u : 0x8000u;
}

/* The interval of reals that round to the finite non-zero magnitude bits
 * `b`: between the midpoints with its neighbours (which round to b or not
 * by the tie rule; the caller verifies). */
static void round_interval(double *lo, double *hi, uint32_t b, unsigned kind)
{
	double v = value(b, kind), dn = value(b - 1, kind);

	*lo = (v + dn) / 2;
	*hi = b < max_finite(kind) ? (v + value(b + 1, kind)) / 2
				   : v + (v - dn) / 2;
}

/* The float bits in [lb, hb] with the most trailing zero bits. */
static uint32_t shortest(uint32_t lb, uint32_t hb)
{
	for (unsigned k = 31; k > 0; k--) {
		uint64_t mask = ((uint64_t)1 << k) - 1;
		uint64_t c = ((uint64_t)lb + mask) & ~mask;
		if (c <= hb)
			return (uint32_t)c;
	}
	return lb;
}

/* Candidate scales in [lo, hi], best first: the shortest float (fewest
 * mantissa bits), the shortest strictly inside (an edge may be a tie that
 * rounds the wrong way), the middle one; 0 for none. */
static void floats_between(uint32_t cand[3], double lo, double hi)
{
	float fl = (float)lo, fh = (float)hi;
	uint32_t lb, hb;

	cand[0] = cand[1] = cand[2] = 0;
	if (!(lo > 0) || !(hi >= lo) || !isfinite(hi))
		return;
	lb = f2u(fl) + ((double)fl < lo);
	hb = f2u(fh) - ((double)fh > hi);
	if (lb > hb || hb >= 0x7f800000u)
		return;
	cand[0] = shortest(lb, hb);
	if (hb - lb >= 2)
		cand[1] = shortest(lb + 1, hb - 1);
	cand[2] = lb + (hb - lb) / 2;
}

/* Round half away from zero, for |t| <= QMAX + 1 (no libm call). */
static long round_q(double t)
{
	return (long)(t < 0 ? t - 0.5 : t + 0.5);
}

/* q of value d for scale 1 / inv_s, or QMAX + 1 when out of range. */
static long q_of(double d, double inv_s)
{
	double t = d * inv_s;

	if (!(fabs(t) <= QMAX + 0.5))
		return QMAX + 1;
	return round_q(t);
}

/* Elements of src[0..n) that scale s does not reproduce; with idx also
 * writes the codes (and the exceptions' values to exc). */
static size_t apply(uint8_t *idx, uint8_t **exc, const uint8_t *src,
		    size_t n, unsigned kind, uint32_t sbits)
{
	unsigned e = z4_group_elem_size(kind);
	float s = u2f(sbits);
	double inv = 1.0 / (double)s;
	size_t bad = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t v = load(src + i * e, kind);
		long q = sbits ? q_of(value(v, kind), inv) : 0;
		int ok = q <= QMAX && q >= -QMAX &&
			 round_kind((float)q * s, kind) == v;
		bad += !ok;
		if (!idx)
			continue;
		idx[i] = ok ? (uint8_t)(q + QMAX) : Z4_GROUP_ESC;
		if (!ok) {
			memcpy(*exc, src + i * e, e);
			*exc += e;
		}
	}
	return bad;
}

/* The scales for qa = the largest |q| = round(a / s): the interval every
 * element allows, as in floats_between(). */
static void scale_for(uint32_t cand[3], const uint8_t *src, size_t n,
		      unsigned kind, double a, long qa)
{
	unsigned e = z4_group_elem_size(kind);
	uint32_t sgn = sign_bit(kind);
	double inv = (double)qa / a, lo = 0, hi = INFINITY;

	for (size_t i = 0; i < n; i++) {
		uint32_t v = load(src + i * e, kind), b = v & ~sgn;
		double d = value(v, kind), rlo, rhi;
		long q;
		if (b == 0 || b > max_finite(kind))
			continue;
		q = q_of(d, inv);
		if (q == 0 || q > QMAX || q < -QMAX)
			continue; /* an exception whatever s is */
		round_interval(&rlo, &rhi, b, kind);
		q = q < 0 ? -q : q;
		if (rlo / (double)q > lo)
			lo = rlo / (double)q;
		if (rhi / (double)q < hi)
			hi = rhi / (double)q;
	}
	floats_between(cand, lo, hi);
}

/* The scale of one group (fp32 bits; 0 for an all-zero group). */
static uint32_t fit_scale(const uint8_t *src, size_t n, unsigned kind)
{
	unsigned e = z4_group_elem_size(kind);
	uint32_t sgn = sign_bit(kind), best = 0;
	double a = 0, b = INFINITY;
	size_t best_bad = SIZE_MAX;

	for (size_t i = 0; i < n; i++) {
		uint32_t m = load(src + i * e, kind) & ~sgn;
		double d;
		if (m == 0 || m > max_finite(kind))
			continue;
		d = value(m, kind);
		a = d > a ? d : a;
		b = d < b ? d : b;
	}
	if (a == 0)
		return 0;
	/* b is s (some |q| == 1) or, failing that, 2s, 3s, ... */
	for (int k = 1; k <= 8 && best_bad; k++) {
		double t = (double)k * a / b;
		uint32_t s[3];
		if (t > QMAX + 0.5)
			break;
		scale_for(s, src, n, kind, a, round_q(t));
		for (int j = 0; j < 3 && best_bad; j++) {
			size_t bad = s[j] ? apply(NULL, NULL, src, n, kind, s[j])
					  : SIZE_MAX;
			if (bad < best_bad) {
				best = s[j];
				best_bad = bad;
			}
		}
		if (best_bad <= n / 64)
			break;
	}
	return best;
}

size_t z4_group_fit(uint8_t *idx, uint32_t *scales, uint8_t *exc,
		    const uint8_t *src, size_t m, unsigned kind,
		    unsigned log2g)
{
	unsigned e = z4_group_elem_size(kind);
	size_t g = (size_t)1 << log2g, bad = 0;

	for (size_t i = 0, k = 0; i < m; i += g, k++) {
		size_t n = m - i < g ? m - i : g;
		uint32_t s = fit_scale(src + i * e, n, kind);
		if (scales)
			scales[k] = s;
		bad += apply(idx ? idx + i : NULL, &exc, src + i * e, n, kind,
			     s);
	}
	return bad;
}

/* Whether groups of 2^Z4_GROUP_LOG2_MIN fit all but at most half of the
 * win elements at src: z4_group_fit() <= win / 2, given up as soon as it
 * cannot be (ordinary weights miss in every group). */
static int window_fits(const uint8_t *src, size_t win, unsigned kind)
{
	const size_t g = (size_t)1 << Z4_GROUP_LOG2_MIN;
	unsigned e = z4_group_elem_size(kind);
	size_t bad = 0;

	for (size_t i = 0; i < win && bad <= win / 2; i += g) {
		size_t n = win - i < g ? win - i : g;
		bad += apply(NULL, NULL, src + i * e, n, kind,
			     fit_scale(src + i * e, n, kind));
	}
	return bad <= win / 2;
}

unsigned z4_group_choose(const uint8_t *src, size_t m, unsigned kind)
{
	unsigned e = z4_group_elem_size(kind), good = 0, best = 0;
	const size_t win = 256;
	size_t ms, best_cost = SIZE_MAX;

	if (kind >= Z4_GROUP_KINDS || m < 4 * win)
		return 0;
	/* Cheap test first: in four aligned windows, groups of 32 must fit
	 * most elements in three. Ordinary weights fit none. */
	for (unsigned w = 0; w < 4; w++) {
		size_t at = (m - win) / 3 * w / win * win;
		good += window_fits(src + at * e, win, kind);
		if (good + 3 - w < 3) /* two misses: no need to look on */
			return 0;
	}
	if (good < 3)
		return 0;
	/*
	 * Then the group size of least cost: an exception costs its value
	 * and an index, a scale about 2 bytes once coded. Too small a group
	 * pays for scales; one that straddles two real scales throws up
	 * exceptions. Judged on the first 2^17 elements.
	 */
	ms = m < ((size_t)2 << Z4_GROUP_LOG2_MAX) ? m
						  : (size_t)2 << Z4_GROUP_LOG2_MAX;
	for (unsigned log2g = Z4_GROUP_LOG2_MIN; log2g <= Z4_GROUP_LOG2_MAX;
	     log2g++) {
		size_t bad = z4_group_fit(NULL, NULL, NULL, src, ms, kind, log2g);
		size_t cost = bad * (e + 1) + 2 * (((ms - 1) >> log2g) + 1);
		if (cost < best_cost) {
			best_cost = cost;
			best = log2g;
		}
		if (bad > ms / 4 || ((size_t)1 << log2g) >= ms)
			break;
	}
	/* Worth it only when most elements fit. */
	return best_cost < ms ? best : 0;
}

int z4_group_expand(uint8_t *dst, const uint8_t *idx, const uint32_t *scales,
		    const uint8_t *exc, size_t n_exc, size_t m, unsigned kind,
		    unsigned log2g)
{
	unsigned e = z4_group_elem_size(kind);
	size_t g = (size_t)1 << log2g, used = 0;

	for (size_t i = 0, k = 0; i < m; i += g, k++) {
		size_t n = m - i < g ? m - i : g;
		float s = u2f(scales[k]);
		for (size_t j = i; j < i + n; j++) {
			if (idx[j] == Z4_GROUP_ESC) {
				if (used == n_exc)
					return Z4_ECORRUPT;
				memcpy(dst + j * e, exc + used++ * e, e);
			} else {
				float x = (float)((int)idx[j] - QMAX) * s;
				store(dst + j * e, round_kind(x, kind), kind);
			}
		}
	}
	return used == n_exc ? Z4_OK : Z4_ECORRUPT;
}
