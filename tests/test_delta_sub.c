/*
 * test_delta_sub.c - the arithmetic delta of float words (format 3,
 * transforms 3 and 4; format 5, transforms 5 and 6, as escape-coded
 * symbols): the word kernels invert each other on every bf16 pair class
 * and on random fp32 / fp64 words (NaN, infinities, -0 included); weight
 * updates come out as such deltas that decode, also in place; a format-5
 * chunk built by hand from docs/format.md decodes, and its malformed
 * variants are refused; every byte flip of one is caught or harmless.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "delta_planes.h"
#include "delta_sub.h"
#include "rans.h"
#include "z4_delta.h"
#include "z4_le.h"
#define TC_DELTA_CTX
#include "testcodec.h"

/* Every 16-bit word against bases spread over the whole range. */
static void test_words_bf16_all(void **state)
{
	const size_t m = 65536;
	uint8_t *src = tc_xmalloc(2 * m), *base = tc_xmalloc(2 * m);
	uint8_t *z = tc_xmalloc(2 * m), *out = tc_xmalloc(2 * m);
	(void)state;
	for (uint32_t b = 0; b < 65536; b += 4099) {
		for (size_t i = 0; i < m; i++) {
			z4_put16(src + 2 * i, (uint16_t)i);
			z4_put16(base + 2 * i, (uint16_t)(b + i * 7));
		}
		z4_delta_sub(z, src, base, m, 2);
		z4_delta_add(out, z, base, m, 2);
		assert_memory_equal(out, src, 2 * m);
		z4_delta_add(base, z, base, m, 2); /* in place */
		assert_memory_equal(base, src, 2 * m);
	}
	free(src);
	free(base);
	free(z);
	free(out);
}

static void test_words_wide_random(void **state)
{
	const size_t m = 4096;
	static const uint64_t odd[] = {0, 0x8000000000000000ull,
				       0x7ff0000000000000ull, 0x7f800000,
				       0xffffffffffffffffull, 1};
	uint8_t *src = tc_xmalloc(8 * m), *base = tc_xmalloc(8 * m);
	uint8_t *z = tc_xmalloc(8 * m), *out = tc_xmalloc(8 * m);
	uint64_t seed = 11;
	(void)state;
	for (unsigned e = 2; e <= 8; e *= 2) {
		for (size_t i = 0; i < m * e; i += 8) {
			z4_put64(src + i, tc_rng(&seed));
			z4_put64(base + i, tc_rng(&seed));
		}
		for (size_t i = 0; i < 6; i++) {
			memcpy(src + i * e, &odd[i], e);
			memcpy(base + (i + 6) * e, &odd[i], e);
		}
		z4_delta_sub(z, src, base, m, e);
		z4_delta_add(out, z, base, m, e);
		assert_memory_equal(out, src, m * e);
		/* From z's planes, merged on the way; then in place. */
		{
			uint8_t *zp = tc_xmalloc(8 * m);
			const uint8_t *pl[8];
			for (unsigned k = 0; k < e; k++) {
				pl[k] = zp + k * m;
				for (size_t i = 0; i < m; i++)
					zp[k * m + i] = z[i * e + k];
			}
			memset(out, 0, m * e);
			z4_delta_add_planes(out, pl, base, m, e);
			assert_memory_equal(out, src, m * e);
			z4_delta_add_planes(base, pl, base, m, e);
			assert_memory_equal(base, src, m * e);
			free(zp);
		}
	}
	free(src);
	free(base);
	free(z);
	free(out);
}

/* Small moves give small words: +-1 unit in the last place, across a
 * power of two and across zero, is z = 1 or 2. */
static void test_small_moves_small_words(void **state)
{
	static const uint16_t pairs[][2] = {
		{0x3f80, 0x3f7f}, /* 1.0 from the float just below */
		{0x3f7f, 0x3f80},
		{0x0000, 0x8000}, /* +0 from -0 */
		{0x8001, 0x8000}, /* the smallest negative from -0 */
		{0xbf80, 0xbf81},
	};
	uint8_t s[2], b[2], z[2];
	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		z4_put16(s, pairs[i][0]);
		z4_put16(b, pairs[i][1]);
		z4_delta_sub(z, s, b, 1, 2);
		assert_true(z4_le16(z) >= 1 && z4_le16(z) <= 2);
	}
}

static uint16_t to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* Escape positions against a byte loop: densities from none to all,
 * lengths around the 64-byte blocks, room for all, some or none. */
static void test_find_escapes(void **state)
{
	static const size_t lens[] = {0, 1, 63, 64, 65, 200, 4097};
	static const unsigned per256[] = {0, 3, 40, 128, 250, 256};
	uint64_t seed = 31;
	(void)state;
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		for (size_t di = 0; di < 6; di++) {
			size_t m = lens[li], want = 0, got;
			uint8_t *s = tc_xmalloc(m);
			uint32_t *ref = tc_xmalloc(4 * (m + 1));
			uint32_t *idx = tc_xmalloc(4 * (m + 1));
			for (size_t i = 0; i < m; i++) {
				uint64_t r = tc_rng(&seed);
				s[i] = (r & 255) < per256[di] ? 255
							       : (uint8_t)(r >> 8) % 255;
				if (s[i] == 255)
					ref[want++] = (uint32_t)i;
			}
			for (size_t cap = 0; cap <= want + 1;
			     cap += want / 3 + 1) {
				memset(idx, 0xa5, 4 * (m + 1));
				got = z4_delta_find_escapes(idx, cap, s, m);
				assert_int_equal(got, want);
				assert_memory_equal(idx, ref,
						    4 * (cap < want ? cap : want));
				/* nothing written past cap */
				if (cap <= m)
					assert_int_equal(idx[cap], 0xa5a5a5a5u);
			}
			free(s);
			free(ref);
			free(idx);
		}
	}
}

/* Symbols and escaped words from the delta words z (m of e bytes):
 * s[i] = min(z[i], 255), the escaped words at w; returns how many. */
static size_t to_symbols(uint8_t *s, uint8_t *w, const uint8_t *z, size_t m,
			 unsigned e)
{
	size_t n = 0;

	for (size_t i = 0; i < m; i++) {
		uint64_t v = 0;
		memcpy(&v, z + i * e, e); /* little-endian host */
		s[i] = (uint8_t)(v < Z4_SUB_ESC ? v : Z4_SUB_ESC);
		if (v >= Z4_SUB_ESC)
			memcpy(w + e * n++, z + i * e, e);
	}
	return n;
}

/* Buffers of test_esc_kernels: the words, their escape form as
 * to_symbols() makes it (s, w, n escapes) and a kernel's (s2, w2). */
typedef struct {
	uint8_t *base, *z, *src, *out, *s, *w, *s2, *w2, *top;
	uint16_t *pairs, *pairs2;
	size_t m, n;
	unsigned e;
} esc_case;

/* Kernel set f encodes c's words, their pairs (z4_rans_pairs() under the
 * top plane a split of the base makes, rotated or not) among them. */
static void check_sub_esc(const z4_esc_kernels *f, const esc_case *c,
			  int rot)
{
	z4_esc_out o = {c->s2, c->pairs2, c->w2, c->n, 0, 0};
	unsigned lo, hi;

	z4_delta_planes_top(c->top, c->base, c->m, c->e, rot);
	z4_rans_pairs(c->pairs, &lo, &hi, c->s, c->top, c->m);
	assert_int_equal(f->sub_esc(&o, c->src, c->base, c->m, c->e, rot),
			 c->n);
	assert_memory_equal(c->s2, c->s, c->m);
	assert_memory_equal(c->w2, c->w, c->n * c->e);
	assert_memory_equal(c->pairs2, c->pairs, 2 * c->m);
	assert_int_equal(o.lo, lo);
	assert_int_equal(o.hi, hi);
	o.cap = c->n - 1;
	if (c->n)
		assert_int_equal(
			f->sub_esc(&o, c->src, c->base, c->m, c->e, rot),
			c->n);
}

/* Kernel set f decodes c's escape form, also in place, and refuses one
 * escape more or fewer than the symbols say. */
static void check_add_esc(const z4_esc_kernels *f, const esc_case *c)
{
	const size_t m = c->m, n = c->n, len = m * c->e;
	const unsigned e = c->e;

	memset(c->out, 0xa5, len);
	assert_int_equal(f->add_esc(c->out, c->s, c->w, n, c->base, m, e), 0);
	assert_memory_equal(c->out, c->src, len);
	memcpy(c->out, c->base, len);
	assert_int_equal(f->add_esc(c->out, c->s, c->w, n, c->out, m, e), 0);
	assert_memory_equal(c->out, c->src, len);
	assert_int_equal(
		f->add_esc(c->out, c->s, c->w, n + 1, c->base, m, e), -1);
	if (n)
		assert_int_equal(
			f->add_esc(c->out, c->s, c->w, n - 1, c->base, m, e),
			-1);
}

/* The escape form both ways, every implementation (portable and, where
 * the CPU has it, AVX-512) against z4_delta_sub / z4_delta_add of whole
 * words, for each word size, escape density and a length around the
 * vectors and runs: symbols, pairs and escaped words made from the words;
 * words moved by them, also in place; one escape more or fewer than the
 * symbols say is refused, one more than the cap given up. */
static void test_esc_kernels(void **state)
{
	static const size_t lens[] = {0, 1, 7, 8, 31, 33, 64, 1023, 1025,
				      5000};
	static const unsigned per_mille[] = {0, 20, 150, 1000};
	const size_t mmax = 5000;
	const z4_esc_kernels *ks[2] = {&z4_delta_esc_portable,
				       z4_delta_esc_avx512()};
	esc_case c = {
		.base = tc_xmalloc(8 * mmax), .z = tc_xmalloc(8 * mmax),
		.src = tc_xmalloc(8 * mmax), .out = tc_xmalloc(8 * mmax),
		.s = tc_xmalloc(mmax), .w = tc_xmalloc(8 * mmax + 8),
		.s2 = tc_xmalloc(mmax), .w2 = tc_xmalloc(8 * mmax + 8),
		.top = tc_xmalloc(mmax), .pairs = tc_xmalloc(2 * mmax),
		.pairs2 = tc_xmalloc(2 * mmax)};
	uint64_t seed = 5;
	(void)state;
	print_message("AVX-512 escape kernels: %s\n", ks[1] ? "yes" : "no");
	for (c.e = 2; c.e <= 8; c.e *= 2)
		for (size_t li = 0; li < sizeof(lens) / sizeof(*lens); li++)
			for (size_t d = 0; d < 4; d++) {
				c.m = lens[li];
				for (size_t i = 0; i < c.m * c.e; i += 8)
					z4_put64(c.base + i, tc_rng(&seed));
				for (size_t i = 0; i < c.m; i++) {
					uint64_t r = tc_rng(&seed), v = r >> 56;
					if (r % 1000 < per_mille[d])
						v = (r >> 20) | Z4_SUB_ESC;
					memcpy(c.z + i * c.e, &v, c.e);
				}
				c.n = to_symbols(c.s, c.w, c.z, c.m, c.e);
				z4_delta_add(c.src, c.z, c.base, c.m, c.e);
				for (int k = 0; k < 2 && ks[k]; k++) {
					check_sub_esc(ks[k], &c, 0);
					check_sub_esc(ks[k], &c, 1);
					check_add_esc(ks[k], &c);
				}
			}
	free(c.base);
	free(c.z);
	free(c.src);
	free(c.out);
	free(c.s);
	free(c.w);
	free(c.s2);
	free(c.w2);
	free(c.top);
	free(c.pairs);
	free(c.pairs2);
}

/* A weight tensor and its next step: small relative updates. */
static void weights(uint8_t *w0, uint8_t *w1, size_t m, unsigned e,
		    uint64_t seed)
{
	for (size_t i = 0; i < m; i++) {
		double g = ((double)(tc_rng(&seed) >> 11) / 9007199254740992.0 -
			    0.5) * 0.08;
		double d = ((double)(tc_rng(&seed) >> 11) / 9007199254740992.0 -
			    0.5) * 0.002 * g;
		float a = (float)g, b = (float)(g + d);
		if (e == 2) {
			z4_put16(w0 + 2 * i, to_bf16(a));
			z4_put16(w1 + 2 * i, to_bf16(b));
		} else {
			memcpy(w0 + 4 * i, &a, 4);
			memcpy(w1 + 4 * i, &b, 4);
		}
	}
}

/* enc decodes to w1 against w0, and in place over a copy of w0 (as
 * chains decode); out is len bytes of scratch. */
static void decodes_both_ways(const uint8_t *enc, size_t n, const uint8_t *w0,
			      const uint8_t *w1, uint8_t *out, size_t len)
{
	assert_int_equal(z4_delta_decode(out, len, ctx, enc, n, w0), Z4_OK);
	assert_memory_equal(out, w1, len);
	memcpy(out, w0, len);
	assert_int_equal(z4_delta_decode(out, len, ctx, enc, n, out), Z4_OK);
	assert_memory_equal(out, w1, len);
}

static void test_codec_picks_sub_for_updates(void **state)
{
	const size_t m = 1u << 16;
	(void)state;
	for (unsigned e = 2; e <= 4; e += 2) {
		size_t len = m * e, cap = z4_delta_bound(len, e), n = 0;
		uint8_t *w0 = tc_xmalloc(len), *w1 = tc_xmalloc(len);
		uint8_t *enc = tc_xmalloc(cap), *out = tc_xmalloc(len);
		z4_id bid;
		z4_delta_info info;
		z4_delta_params par = {.elem_size = e,
				       .dtype = e == 2 ? Z4_DELTA_DT_BF16
						       : Z4_DELTA_DT_F32,
				       .base_id = &bid};
		weights(w0, w1, m, e, 1 + e);
		z4_delta_id(&bid, w0, len);
		par.base = w0;
		assert_int_equal(z4_delta_encode(&n, &info, enc, cap, ctx, w1,
						 len, &par),
				 Z4_OK);
		print_message("E=%u: delta %zu bytes of %zu\n", e, n, len);
		assert_true(info.is_delta);
		/* bf16: one symbol a word (few moves need two bytes); fp32:
		 * most do, so the planes. */
		assert_int_equal(info.version, e == 2 ? 5 : 3);
		decodes_both_ways(enc, n, w0, w1, out, len);
		/* The wrong base is refused. */
		out[5] ^= 1;
		memcpy(w0, out, len);
		assert_int_equal(z4_delta_decode(out, len, ctx, enc, n, w0),
				 Z4_ECORRUPT);
		free(w0);
		free(w1);
		free(enc);
		free(out);
	}
}

/* A bf16 step of m words (by fill) encodes as a delta of `version`:
 * every truncation refused, every bit flip caught or harmless (only the
 * depth is in no check). */
static void check_damage(size_t m, void (*fill)(uint8_t *, uint8_t *,
						size_t, uint64_t),
			 uint64_t seed, unsigned version)
{
	const size_t len = 2 * m;
	uint8_t *w0 = tc_xmalloc(len), *w1 = tc_xmalloc(len);
	size_t cap = z4_delta_bound(len, 2), n = 0, caught, flips, odd;
	uint8_t *enc = tc_xmalloc(cap);
	z4_id bid;
	z4_delta_info info;
	z4_delta_params par = {.elem_size = 2,
			       .dtype = Z4_DELTA_DT_BF16,
			       .base_id = &bid};
	fill(w0, w1, m, seed);
	z4_delta_id(&bid, w0, len);
	par.base = w0;
	assert_int_equal(z4_delta_encode(&n, &info, enc, cap, ctx, w1, len,
					 &par),
			 Z4_OK);
	assert_int_equal(info.version, version);
	caught = tc_damage(&flips, &odd, enc, n, w1, len, w0);
	assert_int_equal(odd, 0);
	assert_true(caught + 16 >= flips);
	free(w0);
	free(w1);
	free(enc);
}

static void weights_bf16(uint8_t *w0, uint8_t *w1, size_t m, uint64_t seed)
{
	weights(w0, w1, m, 2, seed);
}

/* Too short for the escape form: the arithmetic delta's planes. */
static void test_sub_chunk_damage(void **state)
{
	(void)state;
	check_damage(2048, weights_bf16, 9, 3);
}

/* A bf16 step with big moves mixed in: some words escape. */
static void weights_escaping(uint8_t *w0, uint8_t *w1, size_t m,
			     uint64_t seed)
{
	weights(w0, w1, m, 2, seed);
	for (size_t i = 0; i < m; i += 37)
		z4_put16(w1 + 2 * i, (uint16_t)(z4_le16(w1 + 2 * i) ^ 0x0300));
}

/* Format 5 from docs/format.md, every stream raw: the header, the base's
 * id, transform t, n_esc, three stream entries, then the symbols and the
 * escaped words' two planes. Returns the length; *n_esc the escapes. */
static size_t esc_by_hand(uint8_t *enc, size_t *n_esc, const uint8_t *w0,
			  const uint8_t *w1, size_t m, unsigned t)
{
	uint8_t *z = tc_xmalloc(2 * m), *p = enc + 68;
	uint8_t *lo = tc_xmalloc(m), *hi = tc_xmalloc(m);
	z4_id id;
	size_t n = 0;

	z4_delta_sub(z, w1, w0, m, 2);
	for (size_t i = 0; i < m; i++) {
		unsigned v = z4_le16(z + 2 * i);
		*p++ = (uint8_t)(v < 255 ? v : 255);
		if (v >= 255) {
			lo[n] = z[2 * i];
			hi[n++] = z[2 * i + 1];
		}
	}
	memcpy(p, lo, n);
	memcpy(p + n, hi, n);
	memcpy(enc, "Z4C", 3);
	enc[3] = 5;
	enc[4] = 1; /* delta */
	enc[5] = 2;
	z4_put16(enc + 6, 1);
	z4_put64(enc + 8, 2 * m);
	z4_delta_id(&id, w1, 2 * m);
	memcpy(enc + 16, id.b, 16);
	z4_delta_id(&id, w0, 2 * m);
	memcpy(enc + 32, id.b, 16);
	enc[48] = (uint8_t)t;
	z4_put32(enc + 49, (uint32_t)n);
	enc[53] = 0;
	z4_put32(enc + 54, (uint32_t)m);
	enc[58] = 0;
	z4_put32(enc + 59, (uint32_t)n);
	enc[63] = 0;
	z4_put32(enc + 64, (uint32_t)n);
	free(z);
	free(lo);
	free(hi);
	*n_esc = n;
	return 68 + m + 2 * n;
}

static void test_escape_layout_by_hand(void **state)
{
	const size_t m = 3000, len = 2 * m;
	uint8_t *w0 = tc_xmalloc(len), *w1 = tc_xmalloc(len);
	uint8_t *enc = tc_xmalloc(68 + 3 * m), *t = tc_xmalloc(68 + 3 * m);
	uint8_t *out = tc_xmalloc(len);
	size_t n, n_esc, first = 0;
	z4_delta_info info;
	(void)state;
	weights_escaping(w0, w1, m, 21);
	for (unsigned xf = 5; xf <= 6; xf++) {
		n = esc_by_hand(enc, &n_esc, w0, w1, m, xf);
		assert_true(n_esc > 50 && n_esc < m / 8);
		assert_int_equal(z4_delta_info_read(&info, enc, n), Z4_OK);
		assert_int_equal(info.version, 5);
		decodes_both_ways(enc, n, w0, w1, out, len);
	}
	while (enc[68 + first] != 255)
		first++;
	/* Each malformed variant is refused. */
	for (int v = 0; v < 9; v++) {
		memcpy(t, enc, n);
		switch (v) {
		case 0: /* format 4 cannot say transform 6 */
			t[3] = 4;
			break;
		case 1: /* nor can format 5 leave it out */
			t[48] = 4;
			break;
		case 2: /* a keyframe has no base to add to */
			t[4] = 0;
			break;
		case 3: /* more escapes than words */
			z4_put32(t + 49, (uint32_t)m + 1);
			break;
		case 4: /* an escape that fits a symbol */
			t[68 + m] = 7;
			t[68 + m + n_esc] = 0;
			break;
		case 5: /* one escape symbol too many */
			t[68 + first + 1] = t[68 + first + 1] == 255 ? 0 : 255;
			break;
		case 6: /* one too few */
			t[68 + first] = 0;
			break;
		case 7: /* escapes have no parent context */
			t[58] = 4;
			break;
		case 8: /* the mix context is not an escape form's */
			t[53] = 5;
			break;
		}
		assert_int_equal(z4_delta_decode(out, len, ctx, t, n, w0),
				 Z4_ECORRUPT);
	}
	free(w0);
	free(w1);
	free(enc);
	free(t);
	free(out);
}

static void test_escape_chunk_damage(void **state)
{
	(void)state;
	check_damage(4096, weights_escaping, 23, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_words_bf16_all),
		cmocka_unit_test(test_words_wide_random),
		cmocka_unit_test(test_small_moves_small_words),
		cmocka_unit_test(test_find_escapes),
		cmocka_unit_test(test_esc_kernels),
		cmocka_unit_test(test_codec_picks_sub_for_updates),
		cmocka_unit_test(test_sub_chunk_damage),
		cmocka_unit_test(test_escape_layout_by_hand),
		cmocka_unit_test(test_escape_chunk_damage),
	};
	return cmocka_run_group_tests(tests, tc_setup, tc_teardown);
}
