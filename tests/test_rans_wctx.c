/*
 * test_rans_wctx.c - the wide context model (Z4_RANS_WCTX, rans_wide.h):
 * round trips over sizes and shapes through every kernel set (encoders
 * byte for byte), the size next to the four-state context model, the row
 * kernels against the portable one, the encoder step exact for every
 * 11-bit frequency, every truncation and flip, contexts without a table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "delta_planes.h"
#include "rans.h"
#define TC_WIDE_KERNELS
#include "testcodec.h"
#include "rans_wide.h"
#include "z4_err.h"
#include "z4_le.h"

/*
 * A plane and its side plane. Shapes: 0 side constant, src skewed; 1 src
 * a noisy function of side (an exponent plane against its parent's); 2
 * src uniform, side over 200 values; 3 src constant per context; 4 src
 * mostly zero (an XOR plane) with the side over 40 values.
 */
static void fill(uint8_t *src, uint8_t *side, size_t n, int shape,
		 uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t r = tc_rng(&seed);
		switch (shape) {
		case 0:
			side[i] = 9;
			src[i] = (r & 15) ? 1 : (uint8_t)(r >> 8);
			break;
		case 1:
			side[i] = (uint8_t)(110 + (r >> 8) % 14);
			src[i] = (uint8_t)(side[i] + ((r & 7) == 0) -
					   ((r & 7) == 1));
			break;
		case 2:
			side[i] = (uint8_t)((r >> 8) % 200);
			src[i] = (uint8_t)(r >> 32);
			break;
		case 3:
			side[i] = (uint8_t)(r >> 8);
			src[i] = (uint8_t)(side[i] * 7);
			break;
		default:
			side[i] = (uint8_t)((r >> 8) % 40);
			src[i] = (r & 31) ? 0 : (uint8_t)(r >> 16 & side[i]);
		}
	}
}

static int decode_all(uint8_t *out, size_t n, const uint8_t *enc, size_t len,
		      const uint8_t *side)
{
	return tc_decode_all(out, n, enc, len, Z4_RANS_WCTX, side);
}

static size_t encode_all(uint8_t *enc, size_t cap, const uint8_t *src,
			 size_t n, const uint8_t *side)
{
	return tc_encode_all(enc, cap, src, n, Z4_RANS_WCTX, side);
}

static void test_roundtrip_sizes_shapes(void **state)
{
	static const size_t sizes[] = {0,    1,     63,    64,     65,
				       127,  128,   1000,  4097,   65536,
				       65601, 100003, 262144 + 77};
	(void)state;
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		for (int shape = 0; shape < 5; shape++) {
			size_t n = sizes[si], cap = 2 * n + 70000, len, l4;
			uint8_t *src = tc_xmalloc(n), *side = tc_xmalloc(n);
			uint8_t *enc = tc_xmalloc(cap), *out = tc_xmalloc(n);
			fill(src, side, n, shape, 5 * n + (uint64_t)shape);
			len = encode_all(enc, cap, src, n, side);
			assert_int_equal(decode_all(out, n, enc, len, side),
					 Z4_OK);
			if (n)
				assert_memory_equal(out, src, n);
			/* The same tables as the four-state model: longer by
			 * its 60 more states and a few bytes of flush. */
			assert_int_equal(z4_rans_encode(&l4, enc, cap, w, src,
							n, Z4_RANS_CTX, side),
					 Z4_OK);
			assert_true(len <= l4 + 240 + 64);
			free(src);
			free(side);
			free(enc);
			free(out);
		}
	}
}

/* Random tables of 11 bits for contexts 0..nctx-1 in wide entries. */
static void random_tables(uint32_t *dt, int nctx, uint64_t *seed)
{
	for (int c = 0; c < nctx; c++) {
		uint16_t f[256];
		uint32_t *t = dt + ((size_t)c << Z4_RANSC_S);
		unsigned spread = c % 3 ? 200 : 1u << Z4_RANSC_S, s = 0;
		memset(f, 0, sizeof(f));
		for (unsigned left = 1u << Z4_RANSC_S; left;) {
			uint64_t r = tc_rng(seed);
			unsigned v = 1 + (unsigned)(r % spread);
			if (v > left)
				v = left;
			f[(r >> 32) & 255] = (uint16_t)(f[(r >> 32) & 255] + v);
			left -= v;
		}
		for (int y = 0; y < 256; y++)
			for (unsigned j = 0; j < f[y]; j++, s++)
				t[s] = Z4_RANSW_ENTRY(f[y], j, y);
	}
}

enum { KROWS = 150, NCTX = 37 };

/* The kernels on random states, tables, contexts and words: the same
 * bytes, states, input and side positions as the portable kernel. */
static void test_kernels_match_portable(void **state)
{
	enum { OUT = KROWS * Z4_RANSC_LANES };
	uint64_t seed = 4;
	uint32_t *dt = tc_xmalloc(((size_t)NCTX << Z4_RANSC_S) * 4);
	uint8_t *in = tc_xmalloc(KROWS * Z4_RANSC_ROW_MAX);
	uint8_t *side = tc_xmalloc(OUT), *d0 = tc_xmalloc(OUT);
	uint8_t *d1 = tc_xmalloc(OUT);
	(void)state;
	for (int round = 0; round < 40; round++) {
		z4_ransc_stream ref, st;
		size_t rows = (size_t)round * 11 % KROWS + 1;
		random_tables(dt, NCTX, &seed);
		for (size_t i = 0; i < KROWS * Z4_RANSC_ROW_MAX; i++)
			in[i] = (uint8_t)tc_rng(&seed);
		for (size_t i = 0; i < OUT; i++)
			side[i] = (uint8_t)(tc_rng(&seed) % NCTX);
		for (int j = 0; j < Z4_RANSC_LANES; j++) {
			uint32_t r = (uint32_t)tc_rng(&seed);
			ref.x[j] = r < (1u << 16) ? r | 1u << 16 : r;
		}
		ref.p = in;
		ref.side = side;
		ref.dt = dt;
		ref.dst = d0;
		st = ref;
		st.dst = d1;
		memset(d0, 0, OUT);
		z4_ransc_rows_portable(&ref, rows);
		for (int k = 0; k < n_kern; k++) {
			z4_ransc_stream a = st;
			memset(d1, 0, OUT);
			kern[k]->ctx_rows(&a, rows);
			assert_memory_equal(a.x, ref.x, sizeof(a.x));
			assert_int_equal(a.p - ref.p, 0);
			assert_int_equal(a.side - ref.side, 0);
			assert_int_equal(a.dst - d1, ref.dst - d0);
			assert_memory_equal(d0, d1, OUT);
		}
	}
	free(dt);
	free(in);
	free(side);
	free(d0);
	free(d1);
}

/* The encoder kernels against the step in integer arithmetic, for every
 * frequency 1..2048, states at each quotient's edges and random ones, the
 * lanes spread over four contexts. */
static void test_encoder_step_exact(void **state)
{
	uint64_t seed = 10;
	uint8_t src[Z4_RANSC_LANES], side[Z4_RANSC_LANES];
	uint16_t pairs[Z4_RANSC_LANES];
	uint32_t *et = tc_xmalloc(256 * 256 * sizeof(uint32_t));
	unsigned lo, hi;
	(void)state;
	for (int j = 0; j < Z4_RANSC_LANES; j++) {
		side[j] = (uint8_t)(j % 4 * 50);
		src[j] = (uint8_t)(j % 3 * 80);
	}
	z4_rans_pairs(pairs, &lo, &hi, src, side, Z4_RANSC_LANES);
	assert_int_equal(lo, 0);
	assert_int_equal(hi, 150);
	for (int k = 0; k < n_kern; k++) {
		if (!kern[k]->ctx_enc)
			continue;
		for (uint32_t f = 1; f <= 1u << Z4_RANSC_S; f++) {
			uint32_t x[Z4_RANSC_LANES], want[Z4_RANSC_LANES];
			uint32_t start[256];
			/* Kernels may write below their words. */
			uint8_t buf[Z4_RANSW_ENC_SCRIBBLE +
				    2 * Z4_RANSC_LANES + 8];
			uint8_t ref[sizeof(buf)];
			uint8_t *p = buf + sizeof(buf), *q = ref + sizeof(ref);
			uint64_t top = (uint64_t)f << (32 - Z4_RANSC_S); /* shed */
			for (int j = 0; j < Z4_RANSC_LANES; j++) {
				uint32_t st = (uint32_t)tc_rng(&seed) %
					      ((1u << Z4_RANSC_S) + 1 - f);
				start[side[j] ^ src[j]] = st;
				et[side[j] << 8 | src[j]] =
					Z4_RANSW_EENTRY(f, st);
			}
			for (int j = 0; j < Z4_RANSC_LANES; j++)
				x[j] = tc_edge_state(j, f, top, tc_rng(&seed));
			for (int j = Z4_RANSC_LANES; j-- > 0;)
				want[j] = tc_ref_step(x[j], f,
						      start[side[j] ^ src[j]],
						      Z4_RANSC_S, top, &q);
			kern[k]->ctx_enc(x, &p, pairs, 1, et);
			assert_memory_equal(x, want, sizeof(x));
			assert_int_equal(p - buf, q - ref);
			assert_memory_equal(p, q,
					    (size_t)(buf + sizeof(buf) - p));
		}
	}
	free(et);
}

/* Every truncation is refused; every single-bit flip is refused or
 * decodes n bytes, the same with every kernel (the chunk's hash catches
 * what rANS cannot: test_delta). */
static void test_truncations_and_flips(void **state)
{
	const size_t n = 3000;
	size_t cap = 2 * n + 70000, len, caught = 0, flips = 0;
	uint8_t *src = tc_xmalloc(n), *side = tc_xmalloc(n);
	uint8_t *enc = tc_xmalloc(cap), *t = tc_xmalloc(cap);
	uint8_t *out = tc_xmalloc(n);
	(void)state;
	fill(src, side, n, 1, 6);
	len = encode_all(enc, cap, src, n, side);
	for (size_t k = 0; k < len; k++) {
		memcpy(t, enc, k);
		assert_int_equal(decode_all(out, n, t, k, side), Z4_ECORRUPT);
	}
	memcpy(t, enc, len);
	t[len] = 0;
	assert_int_equal(decode_all(out, n, t, len + 1, side), Z4_ECORRUPT);
	for (size_t off = 0; off < len; off++)
		for (unsigned bit = 0; bit < 8; bit++) {
			int rc;
			memcpy(t, enc, len);
			t[off] ^= (uint8_t)(1u << bit);
			rc = decode_all(out, n, t, len, side);
			flips++;
			if (rc != Z4_OK) {
				assert_int_equal(rc, Z4_ECORRUPT);
				caught++;
			}
		}
	print_message("%zu of %zu flips caught\n", caught, flips);
	assert_true(caught * 100 >= flips * 95);
	free(src);
	free(side);
	free(enc);
	free(t);
	free(out);
}

/* A side plane with a context the stream has no table for is refused,
 * wherever it sits (kernel rows, checked rows, the tail), as are a
 * missing side plane and states below 2^16. */
/* Contexts read in 16-bit words (z4_rans_decode_words, the top plane of
 * bf16 words, plain or rotated) decode as the plane itself does, with
 * every kernel set that reads words, over sizes around rows and runs; a
 * word whose context has no table is refused, wherever it is. */
static void test_contexts_from_words(void **state)
{
	static const size_t sizes[] = {1, 63, 64, 65, 4097, 64 * 300 + 9,
				       100003};
	(void)state;
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
		for (int rot = 0; rot < 2; rot++) {
			const size_t n = sizes[si], cap = 2 * n + 70000;
			const unsigned sh = rot ? 7 : 8;
			uint8_t *words = tc_xmalloc(2 * n);
			uint8_t *top = tc_xmalloc(n);
			uint8_t *src = tc_xmalloc(n), *enc = tc_xmalloc(cap);
			uint8_t *out = tc_xmalloc(n), *ref = tc_xmalloc(n);
			uint64_t seed = 40 + si;
			size_t len, at = n / 2;
			fill(src, top, n, 1, 41 + si); /* contexts 110..123 */
			for (size_t i = 0; i < n; i++) {
				uint32_t r = (uint32_t)tc_rng(&seed);
				uint32_t v = (uint32_t)top[i] << sh;
				v |= r & ((1u << sh) - 1) & 0xffff;
				v |= r & 0x8000 & ~(0xffu << sh);
				z4_put16(words + 2 * i, (uint16_t)v);
			}
			z4_delta_planes_top(top, words, n, 2, rot);
			len = encode_all(enc, cap, src, n, top);
			assert_int_equal(decode_all(ref, n, enc, len, top),
					 Z4_OK);
			assert_memory_equal(ref, src, n);
			for (int k = 0; k < n_kern; k++) {
				uint16_t keep = z4_le16(words + 2 * at);
				if (!kern[k]->ctx_miss16)
					continue;
				z4_rans_work_set_wide(w, kern[k]);
				memset(out, 0xa5, n);
				assert_int_equal(z4_rans_decode_words(
							 out, n, w, enc, len,
							 words, rot),
						 Z4_OK);
				assert_memory_equal(out, src, n);
				/* context 200: no table */
				z4_put16(words + 2 * at,
					 (uint16_t)((keep & ~(0xffu << sh)) |
						    200u << sh));
				assert_int_equal(z4_rans_decode_words(
							 out, n, w, enc, len,
							 words, rot),
						 Z4_ECORRUPT);
				z4_put16(words + 2 * at, keep);
			}
			free(words);
			free(top);
			free(src);
			free(enc);
			free(out);
			free(ref);
		}
}

static void test_context_without_table(void **state)
{
	const size_t n = 64 * 300 + 9;
	size_t cap = 2 * n + 70000, len;
	uint8_t *src = tc_xmalloc(n), *side = tc_xmalloc(n);
	uint8_t *enc = tc_xmalloc(cap), *out = tc_xmalloc(n);
	static const size_t at[] = {0, 5000, n - 70, n - 1};
	(void)state;
	fill(src, side, n, 1, 8);
	len = encode_all(enc, cap, src, n, side);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		uint8_t keep = side[at[i]];
		side[at[i]] = 200; /* no table: contexts are 110..123 */
		assert_int_equal(decode_all(out, n, enc, len, side),
				 Z4_ECORRUPT);
		side[at[i]] = keep;
	}
	assert_int_equal(decode_all(out, n, enc, len, side), Z4_OK);
	assert_memory_equal(out, src, n);
	assert_int_equal(z4_rans_decode(out, n, w, enc, len, Z4_RANS_WCTX,
					NULL),
			 Z4_ECORRUPT);
	/* The states follow the bitmap and the 14 tables: zero the first. */
	{
		uint8_t *p = enc + 32;
		for (int c = 0; c < 14; c++) {
			size_t k = (size_t)*p + 1;
			p += 1 + (k == 256 ? 0 : k <= 32 ? k : 32);
			for (size_t s = 0; s + 1 < k; s++)
				p += *p & 0x80 ? 2 : 1;
		}
		memset(p, 0, 4);
		assert_int_equal(decode_all(out, n, enc, len, side),
				 Z4_ECORRUPT);
	}
	free(src);
	free(side);
	free(enc);
	free(out);
}

/* The side-plane check of every kernel set against the bitmap: one
 * missing context at every position of planes of 1..300 bytes (the
 * 64- and 32-byte vector steps and their scalar tails). */
static void test_context_check(void **state)
{
	uint8_t bm[32], side[300];
	uint64_t seed = 12;
	(void)state;
	for (int round = 0; round < 20; round++) {
		size_t n = 1 + (size_t)tc_rng(&seed) % sizeof(side);
		uint8_t absent;
		for (int i = 0; i < 32; i++)
			bm[i] = (uint8_t)tc_rng(&seed);
		absent = (uint8_t)(tc_rng(&seed) | 1);
		bm[absent >> 3] &= (uint8_t)~(1u << (absent & 7));
		bm[0] |= 1; /* context 0 present */
		for (size_t i = 0; i < n; i++) {
			uint8_t c = (uint8_t)tc_rng(&seed);
			side[i] = bm[c >> 3] >> (c & 7) & 1 ? c : 0;
		}
		for (int k = 0; k < n_kern; k++)
			assert_int_equal(kern[k]->ctx_miss(bm, side, n), 0);
		for (size_t at = 0; at < n; at++) {
			uint8_t keep = side[at];
			side[at] = absent;
			for (int k = 0; k < n_kern; k++)
				assert_int_equal(kern[k]->ctx_miss(bm, side, n),
						 1);
			side[at] = keep;
		}
	}
}

/* Every set's table builder writes the portable one's entries, for
 * 11- and 12-bit tables of few and of many symbols (and no more than
 * Z4_RANSW_TABLE_SLACK past the end). */
static void test_tables_match_portable(void **state)
{
	enum { CAP = 4096 + Z4_RANSW_TABLE_SLACK };
	uint32_t *a = tc_xmalloc(CAP * 4), *b = tc_xmalloc((CAP + 1) * 4);
	uint64_t seed = 13;
	(void)state;
	for (int round = 0; round < 40; round++) {
		unsigned S = round % 2 ? 11 : 12, spread = round % 3 ? 9 : 700;
		uint16_t f[256];
		memset(f, 0, sizeof(f));
		for (unsigned left = 1u << S; left;) {
			uint64_t r = tc_rng(&seed);
			unsigned v = 1 + (unsigned)(r % spread);
			if (v > left)
				v = left;
			f[(r >> 32) & 255] = (uint16_t)(f[(r >> 32) & 255] + v);
			left -= v;
		}
		uint8_t sym[256];
		uint16_t fk[256];
		unsigned n = 0;
		for (int v = 0; v < 256; v++)
			if (f[v]) {
				sym[n] = (uint8_t)v;
				fk[n++] = f[v];
			}
		z4_ransw_table_portable(a, sym, fk, n);
		for (int k = 0; k < n_kern; k++) {
			memset(b, 0x5a, (CAP + 1) * 4);
			kern[k]->table(b, sym, fk, n);
			assert_memory_equal(a, b, (4u << S));
			assert_int_equal(b[CAP], 0x5a5a5a5au);
		}
	}
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_sizes_shapes),
		cmocka_unit_test(test_kernels_match_portable),
		cmocka_unit_test(test_encoder_step_exact),
		cmocka_unit_test(test_truncations_and_flips),
		cmocka_unit_test(test_context_without_table),
		cmocka_unit_test(test_contexts_from_words),
		cmocka_unit_test(test_context_check),
		cmocka_unit_test(test_tables_match_portable),
	};
	return cmocka_run_group_tests(tests, tc_wide_setup,
					  tc_wide_teardown);
}
