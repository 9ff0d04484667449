/*
 * test_rans_wide.c - the wide order-0 rANS model (Z4_RANS_W0, rans_wide.h)
 * and its chunk codec id (format 3, codec 6): round trips over sizes and
 * shapes through every kernel set (encoders too, byte for byte), the row
 * kernels against the portable one, every truncation and flip of a
 * stream, hand-made bad streams, the ratio next to order 0, and the chunk
 * version rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rans.h"
#define TC_WIDE_KERNELS
#include "testcodec.h"
#include "rans_wide.h"
#include "z4_delta.h"
#include "z4_err.h"
#include "z4_le.h"

/* Shapes: 0 constant, 1 two symbols (very skewed), 2 uniform, 3 geometric
 * over all 256 (exponent-like), 4 constant runs of random bytes. */
static void fill(uint8_t *p, size_t n, int shape, uint64_t seed)
{
	uint8_t run = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t r = tc_rng(&seed);
		switch (shape) {
		case 0:
			p[i] = 0x7e;
			break;
		case 1:
			p[i] = (r & 255) == 0 ? 3 : 120;
			break;
		case 2:
			p[i] = (uint8_t)r;
			break;
		case 3: {
			unsigned k = 0;
			while (k < 255 && (r >> k & 1))
				k++;
			p[i] = (uint8_t)(118 + k);
			break;
		}
		default:
			if (i % 4096 == 0)
				run = (uint8_t)r;
			p[i] = run;
		}
	}
}

static int decode_all(uint8_t *out, size_t n, const uint8_t *enc,
		      size_t len)
{
	return tc_decode_all(out, n, enc, len, Z4_RANS_W0, NULL);
}

static size_t encode_all(uint8_t *enc, size_t cap, const uint8_t *src,
			 size_t n)
{
	return tc_encode_all(enc, cap, src, n, Z4_RANS_W0, NULL);
}

static void test_roundtrip_sizes_shapes(void **state)
{
	static const size_t sizes[] = {0,     1,      31,     32,    33,
				       63,    64,     65,     1000,  4097,
				       65535, 65536,  65537,  100003, 131072,
				       131103, 262144 + 77};
	(void)state;
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		for (int shape = 0; shape < 5; shape++) {
			size_t n = sizes[si], cap = n + n / 8 + 4096, len, l0;
			uint8_t *src = tc_xmalloc(n), *enc = tc_xmalloc(cap);
			uint8_t *out = tc_xmalloc(n);
			fill(src, n, shape, 7 * n + (uint64_t)shape);
			len = encode_all(enc, cap, src, n);
			assert_int_equal(decode_all(out, n, enc, len), Z4_OK);
			if (n)
				assert_memory_equal(out, src, n);
			/* Never much above order 0: about the 28 extra
			 * states (112 bytes) of each block. */
			assert_int_equal(z4_rans_encode(&l0, enc, cap, w, src,
							n, Z4_RANS_O0, NULL),
					 Z4_OK);
			assert_true(len <= l0 + 128 * ((n + 65535) / 65536));
			free(src);
			free(enc);
			free(out);
		}
	}
}

/* Exponent-like data (2 bits a symbol), many blocks: the extra states
 * and no more (0.5% here; less on real exponents, which code longer). */
static void test_ratio_near_order0(void **state)
{
	const size_t n = 1u << 21;
	size_t cap = n + 65536, len, l0;
	uint8_t *src = tc_xmalloc(n), *enc = tc_xmalloc(cap), *out = tc_xmalloc(n);
	(void)state;
	fill(src, n, 3, 11);
	assert_int_equal(z4_rans_encode(&l0, enc, cap, w, src, n, Z4_RANS_O0,
					NULL),
			 Z4_OK);
	assert_int_equal(z4_rans_encode(&len, enc, cap, w, src, n,
					Z4_RANS_W0, NULL),
			 Z4_OK);
	print_message("order 0 %zu, wide %zu bytes\n", l0, len);
	assert_true(len <= l0 + 112 * (n / 65536));
	assert_int_equal(decode_all(out, n, enc, len), Z4_OK);
	assert_memory_equal(out, src, n);
	free(src);
	free(enc);
	free(out);
}

/* A random table of k symbols into dt, frequencies summing to 4096. */
static void random_table(uint32_t *dt, uint64_t *seed, int spread)
{
		uint16_t f[256];
		unsigned c = 0;

		memset(f, 0, sizeof(f));
		for (unsigned left = 4096; left;) {
		uint64_t r = tc_rng(seed);
		unsigned v = 1 + (unsigned)(r % (unsigned)spread);
			if (v > left)
				v = left;
			f[(r >> 32) & 255] = (uint16_t)(f[(r >> 32) & 255] + v);
			left -= v;
		}
		for (int s = 0; s < 256; s++)
			for (unsigned j = 0; j < f[s]; j++, c++)
				dt[c] = Z4_RANSW_ENTRY(f[s], j, s);
}

enum { KROWS = 200 };

/* A stream over random words from random states (in [2^16, 2^32)). */
static void random_stream(z4_ransw_stream *st, uint8_t *dst, const uint8_t *in,
			  const uint32_t *dt, uint64_t *seed)
{
	for (int j = 0; j < Z4_RANSW_LANES; j++) {
		uint32_t r = (uint32_t)tc_rng(seed);
		st->x[j] = r < (1u << 16) ? r | 1u << 16 : r;
	}
	st->dst = dst;
	st->p = in;
	st->dt = dt;
}

static void assert_same_stream(const z4_ransw_stream *a,
			       const z4_ransw_stream *b, const uint8_t *da,
			       const uint8_t *db)
{
	assert_memory_equal(a->x, b->x, sizeof(a->x));
	assert_int_equal(a->p - b->p, 0);
	assert_int_equal(a->dst - da, b->dst - db);
	assert_memory_equal(da, db, KROWS * Z4_RANSW_LANES);
}

/* The kernels on random states, random tables and random words: the same
 * bytes, states and input position as the portable kernel, one stream at
 * a time and two at once (each with its own table and rows). */
static void test_kernels_match_portable(void **state)
{
	enum { OUT = KROWS * Z4_RANSW_LANES };
	uint64_t seed = 3;
	uint32_t *dt = tc_xmalloc(2 * 4096 * sizeof(uint32_t));
	uint8_t *in = tc_xmalloc(2 * KROWS * Z4_RANSW_ROW_MAX);
	uint8_t *d = tc_xmalloc(4 * OUT);
	(void)state;
	for (int round = 0; round < 50; round++) {
		z4_ransw_stream ref[2], st[2];
		size_t rows = (size_t)round * 7 % KROWS + 1;
		random_table(dt, &seed, round % 3 ? 300 : 4096);
		random_table(dt + 4096, &seed, round % 2 ? 40 : 4096);
		for (size_t i = 0; i < 2 * KROWS * Z4_RANSW_ROW_MAX; i++)
			in[i] = (uint8_t)tc_rng(&seed);
		memset(d, 0, 4 * OUT);
		for (int i = 0; i < 2; i++) {
			random_stream(&ref[i], d + i * OUT,
				      in + i * KROWS * Z4_RANSW_ROW_MAX,
				      dt + i * 4096, &seed);
			st[i] = ref[i];
			st[i].dst = d + (2 + i) * OUT;
		}
		z4_ransw_portable.rows(&ref[0], rows);
		z4_ransw_portable.rows(&ref[1], rows);
		for (int j = 0; j < Z4_RANSW_LANES; j++)
			assert_true(ref[0].x[j] >= (1u << 16));
		for (int k = 0; k < n_kern; k++) {
			z4_ransw_stream a = st[0], b = st[1];
			memset(d + 2 * OUT, 0, 2 * OUT);
			kern[k]->rows(&a, rows);
			kern[k]->rows(&b, rows);
			assert_same_stream(&a, &ref[0], d + 2 * OUT, d);
			assert_same_stream(&b, &ref[1], d + 3 * OUT, d + OUT);
			a = st[0];
			b = st[1];
			memset(d + 2 * OUT, 0, 2 * OUT);
			kern[k]->rows2(&a, &b, rows);
			assert_same_stream(&a, &ref[0], d + 2 * OUT, d);
			assert_same_stream(&b, &ref[1], d + 3 * OUT, d + OUT);
		}
	}
	free(d);
	free(in);
	free(dt);
}

/* The byte counters against a byte loop: lengths around the 64-byte
 * steps, bytes from all eight values, some and none of them; counts add
 * to what h held. */
static void test_count8(void **state)
{
	static const size_t lens[] = {0, 1, 63, 64, 65, 1000, 4096, 70001};
	uint8_t *p = tc_xmalloc(70001), v[8];
	uint64_t seed = 9;
	(void)state;
	for (int k = 0; k < n_kern; k++) {
		if (!kern[k]->count8)
			continue;
		for (size_t li = 0; li < sizeof(lens) / sizeof(*lens); li++)
			for (unsigned mix = 0; mix <= 100; mix += 25) {
				uint32_t h[256], ref[256];
				size_t n = lens[li];
				for (int j = 0; j < 8; j++)
					v[j] = (uint8_t)(120 + 3 * j);
				for (size_t i = 0; i < n; i++) {
					uint64_t r = tc_rng(&seed);
					uint8_t any = (uint8_t)(r >> 48);
					p[i] = r % 100 < mix ? v[r >> 40 & 7]
							     : any;
				}
				for (int s = 0; s < 256; s++)
					h[s] = ref[s] = (uint32_t)s;
				for (size_t i = 0; i < n; i++)
					ref[p[i]]++;
				kern[k]->count8(h, p, n, v);
				assert_memory_equal(h, ref, sizeof(h));
			}
	}
	free(p);
}

/* The encoder kernels against the coding step done in plain integer
 * arithmetic, for every frequency 1..4095 and states at the edges of
 * each quotient (x = q * f + 0 or f - 1, the largest x kept, the smallest
 * shed) and random ones: the floating-point quotient and its correction
 * must be exact everywhere. */
static void test_encoder_step_exact(void **state)
{
	uint64_t seed = 9;
	uint8_t src[Z4_RANSW_LANES] = {0};
	(void)state;
	for (int k = 0; k < n_kern; k++) {
		uint32_t et[256] = {0};
		if (!kern[k]->enc)
			continue;
		for (uint32_t f = 1; f < 4096; f++) {
			uint32_t x[Z4_RANSW_LANES], want[Z4_RANSW_LANES];
			/* Kernels may write below their words. */
			uint8_t buf[Z4_RANSW_ENC_SCRIBBLE +
				    2 * Z4_RANSW_LANES + 8];
			uint8_t ref[sizeof(buf)], buf2[sizeof(buf)];
			uint8_t *p = buf + sizeof(buf), *q = ref + sizeof(ref);
			uint32_t start = (uint32_t)tc_rng(&seed) % (4097 - f);
			uint64_t top = (uint64_t)f << 20; /* first state shed */
			z4_ransw_enc_stream a, b;
			et[0] = Z4_RANSW_EENTRY(f, start);
			for (int j = 0; j < Z4_RANSW_LANES; j++)
				x[j] = tc_edge_state(j, f, top, tc_rng(&seed));
			memcpy(a.x, x, sizeof(x));
			/* Reference, lanes 31 to 0 as the scalar coder. */
			for (int j = Z4_RANSW_LANES; j-- > 0;)
				want[j] = tc_ref_step(x[j], f, start, 12, top, &q);
			kern[k]->enc(x, &p, src, 1, et);
			assert_memory_equal(x, want, sizeof(x));
			assert_int_equal(p - buf, q - ref);
			assert_memory_equal(p, q,
					    (size_t)(buf + sizeof(buf) - p));
			/* Two blocks at once: the same step for each. */
			if (!kern[k]->enc2)
				continue;
			a.p = buf + sizeof(buf);
			b.p = buf2 + sizeof(buf2);
			a.src = b.src = src;
			a.et = b.et = et;
			memcpy(b.x, a.x, sizeof(a.x));
			kern[k]->enc2(&a, &b, 1);
			assert_memory_equal(a.x, want, sizeof(want));
			assert_memory_equal(b.x, want, sizeof(want));
			assert_int_equal(a.p - buf, q - ref);
			assert_int_equal(b.p - buf2, q - ref);
			assert_memory_equal(a.p, q,
					    (size_t)(buf + sizeof(buf) - a.p));
			assert_memory_equal(b.p, q,
					    (size_t)(buf2 + sizeof(buf2) - b.p));
		}
	}
}

/* Every truncation is refused; every single-bit flip is refused or
 * decodes to n bytes, the same with every kernel. rANS has no check of
 * its own: a flipped table byte may relabel symbols, and rarely a flipped
 * word leads a state to other symbols and still to 2^16 exactly. Nearly
 * all are caught here; the chunk's hash catches the rest (below). */
static void test_truncations_and_flips(void **state)
{
	const size_t n = 5000;
	size_t cap = 2 * n + 4096, len, caught = 0, flips = 0, wrong = 0;
	uint8_t *src = tc_xmalloc(n), *enc = tc_xmalloc(cap), *t = tc_xmalloc(cap);
	uint8_t *out = tc_xmalloc(n);
	(void)state;
	fill(src, n, 3, 5);
	assert_int_equal(z4_rans_encode(&len, enc, cap, w, src, n, Z4_RANS_W0,
					NULL),
			 Z4_OK);
	assert_int_equal(enc[0], 2); /* a rANS block, not raw */
	for (size_t k = 0; k < len; k++) {
		memcpy(t, enc, k);
		assert_int_equal(decode_all(out, n, t, k), Z4_ECORRUPT);
	}
	/* One byte too many. */
	memcpy(t, enc, len);
	t[len] = 0;
	assert_int_equal(decode_all(out, n, t, len + 1), Z4_ECORRUPT);
	for (size_t off = 0; off < len; off++)
		for (unsigned bit = 0; bit < 8; bit++) {
			int rc;
			memcpy(t, enc, len);
			t[off] ^= (uint8_t)(1u << bit);
			rc = decode_all(out, n, t, len);
			flips++;
			if (rc == Z4_OK) {
				wrong += memcmp(out, src, n) != 0;
			} else {
				assert_int_equal(rc, Z4_ECORRUPT);
				caught++;
			}
		}
	print_message("%zu of %zu flips caught, %zu decode other bytes\n",
		      caught, flips, wrong);
	assert_true(caught * 100 >= flips * 99);
	free(src);
	free(enc);
	free(t);
	free(out);
}

/* Hand-made streams named for what they get wrong. */
static void test_bad_streams(void **state)
{
	uint8_t s[512], out[64];
	size_t n = 64, p = 0;
	(void)state;
	/* A table of two symbols, 1 and 4095, then a payload. */
	s[p++] = 2;  /* BLOCK_RANS */
	s[p++] = 1;  /* k - 1 */
	s[p++] = 'a';
	s[p++] = 'b';
	s[p++] = 0;  /* f('a') - 1 */
	z4_put32(s + p, 128);
	p += 4;
	/* States below 2^16 are refused. */
	memset(s + p, 0, 128);
	assert_int_equal(decode_all(out, n, s, p + 128), Z4_ECORRUPT);
	/* States at 2^16 exactly: slot 0 decodes 'a' (f = 1), the states
	 * drop to 16 and want words that are not there. */
	for (int j = 0; j < 32; j++)
		z4_put32(s + p + 4 * j, 1u << 16);
	assert_int_equal(decode_all(out, n, s, p + 128), Z4_ECORRUPT);
	/* A payload shorter than the states. */
	z4_put32(s + p - 4, 127);
	assert_int_equal(decode_all(out, n, s, p + 127), Z4_ECORRUPT);
	/* Zero symbols: a lone block byte is trailing input. */
	assert_int_equal(decode_all(out, 0, s, 1), Z4_ECORRUPT);
	assert_int_equal(decode_all(out, 0, s, 0), Z4_OK);
}

/* The chunk codec: a long bf16 keyframe takes codec 6 in format 3; short
 * planes keep format 2; version and codec must agree. */
static void test_chunk_version_rules(void **state)
{
	z4_delta_ctx *ctx = z4_delta_ctx_new();
	const size_t m = 150001;
	size_t len = 2 * m, cap = z4_delta_bound(len, 2), n = 0;
	uint8_t *src = tc_xmalloc(len), *enc = tc_xmalloc(cap), *t = tc_xmalloc(cap);
	uint8_t *out = tc_xmalloc(len);
	z4_delta_params par = {.elem_size = 2, .dtype = Z4_DELTA_DT_BF16};
	z4_delta_info info;
	uint64_t seed = 1;
	(void)state;
	assert_non_null(ctx);
	for (size_t i = 0; i < m; i++) {
		uint64_t r = tc_rng(&seed);
		unsigned k = 0;
		while (k < 6 && (r >> (40 + k) & 1))
			k++;
		/* sign, exponent near 2^-7, random mantissa */
		z4_put16(src + 2 * i, (uint16_t)((r & 0x8000) |
						 (unsigned)(120 - k) << 7 |
						 (r >> 16 & 0x7f)));
	}
	assert_int_equal(z4_delta_encode(&n, &info, enc, cap, ctx, src, len,
					 &par),
			 Z4_OK);
	assert_int_equal(info.version, 3);
	assert_int_equal(enc[32], 1); /* rotated planes */
	/* plane 1 (exponents) wide, plane 0 (mantissas) raw */
	assert_int_equal(enc[33], 0);
	assert_int_equal(enc[38], 6);
	memset(out, 0, len);
	assert_int_equal(z4_delta_decode(out, len, ctx, enc, n, NULL), Z4_OK);
	assert_memory_equal(out, src, len);
	/* Codec 6 in a format 2 chunk. */
	memcpy(t, enc, n);
	t[3] = 2;
	assert_int_equal(z4_delta_decode(out, len, ctx, t, n, NULL),
			 Z4_ECORRUPT);
	/* Format 3, plain transform, no codec 6: refused (one version per
	 * encoding). Re-labelled as order 0 it is also a bad stream. */
	memcpy(t, enc, n);
	t[38] = 2;
	assert_int_equal(z4_delta_decode(out, len, ctx, t, n, NULL),
			 Z4_ECORRUPT);
	/* A short chunk stays format 2, byte for byte as before. */
	assert_int_equal(z4_delta_encode(&n, &info, enc, cap, ctx, src,
					 2 * 30000, &par),
			 Z4_OK);
	assert_int_equal(info.version, 2);
	assert_int_equal(enc[38], 2);
	/* Codec 6 on a plane under 64 KiB: refused, even in format 3. */
	memcpy(t, enc, n);
	t[3] = 3;
	t[38] = 6;
	assert_int_equal(z4_delta_decode(out, 2 * 30000, ctx, t, n, NULL),
			 Z4_ECORRUPT);
	z4_delta_ctx_free(ctx);
	free(src);
	free(enc);
	free(t);
	free(out);
}

/* Through the chunk codec: a flipped bit anywhere (every header byte, a
 * sample of the payload) is refused or changes nothing, a cut refused. */
static void test_chunk_damage(void **state)
{
	z4_delta_ctx *ctx = z4_delta_ctx_new();
	const size_t m = 70001;
	size_t len = 2 * m, cap = z4_delta_bound(len, 2), n = 0;
	uint8_t *src = tc_xmalloc(len), *enc = tc_xmalloc(cap), *t = tc_xmalloc(cap);
	uint8_t *out = tc_xmalloc(len);
	z4_delta_params par = {.elem_size = 2, .dtype = Z4_DELTA_DT_BF16};
	z4_delta_info info;
	uint64_t seed = 2;
	(void)state;
	assert_non_null(ctx);
	for (size_t i = 0; i < m; i++) {
		uint64_t r = tc_rng(&seed);
		z4_put16(src + 2 * i,
			 (uint16_t)((unsigned)(118 + (r >> 40) % 5) << 7 |
				    (r & 0x807f)));
	}
	assert_int_equal(z4_delta_encode(&n, &info, enc, cap, ctx, src, len,
					 &par),
			 Z4_OK);
	assert_int_equal(info.version, 3);
	assert_int_equal(enc[38], 6);
	for (size_t k = 0; k < n; k += k < 64 ? 1 : 211)
		assert_int_not_equal(z4_delta_decode(out, len, ctx, enc, k,
						     NULL),
				     Z4_OK);
	for (size_t off = 0; off < n; off += off < 200 ? 1 : 37)
		for (unsigned bit = 0; bit < 8; bit++) {
			int rc;
			memcpy(t, enc, n);
			t[off] ^= (uint8_t)(1u << bit);
			rc = z4_delta_decode(out, len, ctx, t, n, NULL);
			if (rc == Z4_OK)
				assert_memory_equal(out, src, len);
		}
	z4_delta_ctx_free(ctx);
	free(src);
	free(enc);
	free(t);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_sizes_shapes),
		cmocka_unit_test(test_ratio_near_order0),
		cmocka_unit_test(test_kernels_match_portable),
		cmocka_unit_test(test_count8),
		cmocka_unit_test(test_encoder_step_exact),
		cmocka_unit_test(test_truncations_and_flips),
		cmocka_unit_test(test_bad_streams),
		cmocka_unit_test(test_chunk_version_rules),
		cmocka_unit_test(test_chunk_damage),
	};
	return cmocka_run_group_tests(tests, tc_wide_setup,
					  tc_wide_teardown);
}
