/*
 * test_delta_planes.c - the byte-plane kernels per instruction set
 * (delta/delta_planes_isa.h): the portable table against a one-word-at-a-
 * time definition, and the AVX2 table byte for byte against the portable
 * one (skipped on CPUs without AVX2), for every kernel, elem_size, base
 * and merge mode, on random bytes at awkward lengths and unaligned
 * addresses. Whole buffers are compared, slack included: a kernel that
 * writes outside its output fails too. Also: the dispatcher obeys
 * Z4_NO_AVX2 (ctest runs this program with and without it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "delta_planes_isa.h"

/* Around the SIMD block (32 elements), a 64 KiB-ish one and empty. */
static const size_t lengths[] = {0, 1, 31, 32, 33, 1000, 65537};
#define N_LENGTHS (sizeof(lengths) / sizeof(lengths[0]))
#define SLACK 64 /* bytes before and after every buffer */

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A len-byte buffer at an odd offset into random bytes with SLACK bytes
 * either side; `all` spans everything, for whole-buffer compares. */
typedef struct {
	uint8_t *all, *p;
	size_t len, all_len;
} buf;

static buf buf_new(size_t len, unsigned off, uint64_t seed)
{
	buf b = {.len = len, .all_len = len + 2 * SLACK + 32};

	b.all = malloc(b.all_len);
	assert_non_null(b.all);
	b.p = b.all + SLACK + (off % 32 | 1);
	for (size_t i = 0; i < b.all_len; i++)
		b.all[i] = (uint8_t)rng_next(&seed);
	return b;
}

static buf buf_copy(const buf *a)
{
	buf b = *a;

	b.all = malloc(a->all_len);
	assert_non_null(b.all);
	memcpy(b.all, a->all, a->all_len);
	b.p = b.all + (a->p - a->all);
	return b;
}

static void buf_equal(const buf *a, const buf *b)
{
	assert_int_equal(a->all_len, b->all_len);
	assert_memory_equal(a->all, b->all, a->all_len);
}

/* ---- the definition: one little-endian word at a time ---- */

static uint64_t word(const uint8_t *p, unsigned e)
{
	uint64_t w = 0;

	for (unsigned k = 0; k < e; k++)
		w |= (uint64_t)p[k] << (8 * k);
	return w;
}

static uint64_t rot1(uint64_t w, unsigned e, int left)
{
	unsigned bits = 8 * e;
	uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;

	return (left ? w << 1 | w >> (bits - 1) : w >> 1 | w << (bits - 1)) &
	       mask;
}

static void ref_split(uint8_t *const planes[], const uint8_t *src,
		      const uint8_t *base, size_t n, unsigned e, int rot)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t w = word(src + i * e, e);
		if (base)
			w ^= word(base + i * e, e);
		if (rot)
			w = rot1(w, e, 1);
		for (unsigned k = 0; k < e; k++)
			planes[k][i] = (uint8_t)(w >> (8 * k));
	}
}

static void ref_merge(uint8_t *dst, const uint8_t *const planes[],
		      const uint8_t *base, size_t n, unsigned e,
		      z4_merge_mode mode, int rot)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t w = 0;
		for (unsigned k = 0; k < e; k++)
			w |= (uint64_t)planes[k][i] << (8 * k);
		if (rot)
			w = rot1(w, e, 0);
		if (mode == Z4_MERGE_XOR)
			w ^= word(base + i * e, e);
		else if (mode == Z4_MERGE_XOR_INTO)
			w ^= word(dst + i * e, e);
		for (unsigned k = 0; k < e; k++)
			dst[i * e + k] = (uint8_t)(w >> (8 * k));
	}
}

/* ---- one case: the kernel of table t vs the portable one (and the
 * portable one vs the definition), on copies of the same output buffer ---- */

typedef struct {
	size_t n;
	unsigned e, off;
	uint64_t seed;
} shape;

static void planes_of(uint8_t *planes[8], uint8_t *p, size_t n, unsigned e)
{
	for (unsigned k = 0; k < e; k++)
		planes[k] = p + k * n;
}

static void check_split(const z4_planes_kernels *t, const shape *s,
			int with_base, int rot)
{
	const z4_planes_kernels *pt = &z4_delta_planes_portable;
	size_t len = s->n * s->e;
	buf src = buf_new(len, s->off, s->seed);
	buf base = buf_new(len, s->off + 2, s->seed + 1);
	buf want = buf_new(len, s->off + 4, s->seed + 2);
	buf got_pt = buf_copy(&want), got_t = buf_copy(&want);
	const uint8_t *b = with_base ? base.p : NULL;
	uint8_t *pw[8], *pp[8], *pg[8];

	planes_of(pw, want.p, s->n, s->e);
	planes_of(pp, got_pt.p, s->n, s->e);
	planes_of(pg, got_t.p, s->n, s->e);
	ref_split(pw, src.p, b, s->n, s->e, rot);
	(rot ? pt->split_rot : pt->split)(pp, src.p, b, s->n, s->e);
	(rot ? t->split_rot : t->split)(pg, src.p, b, s->n, s->e);
	buf_equal(&got_pt, &want);
	buf_equal(&got_t, &got_pt);
	free(src.all);
	free(base.all);
	free(want.all);
	free(got_pt.all);
	free(got_t.all);
}

static void check_merge(const z4_planes_kernels *t, const shape *s,
			z4_merge_mode mode, int rot)
{
	const z4_planes_kernels *pt = &z4_delta_planes_portable;
	size_t len = s->n * s->e;
	buf planes = buf_new(len, s->off, s->seed);
	buf base = buf_new(len, s->off + 2, s->seed + 1);
	/* Also the base of Z4_MERGE_XOR_INTO. */
	buf want = buf_new(len, s->off + 4, s->seed + 2);
	buf got_pt = buf_copy(&want), got_t = buf_copy(&want);
	const uint8_t *b = mode == Z4_MERGE_XOR ? base.p : NULL;
	uint8_t *p[8];
	const uint8_t *const *cp = (const uint8_t *const *)p;

	planes_of(p, planes.p, s->n, s->e);
	ref_merge(want.p, cp, b, s->n, s->e, mode, rot);
	(rot ? pt->merge_rot : pt->merge)(got_pt.p, cp, b, s->n, s->e, mode);
	(rot ? t->merge_rot : t->merge)(got_t.p, cp, b, s->n, s->e, mode);
	buf_equal(&got_pt, &want);
	buf_equal(&got_t, &got_pt);
	free(planes.all);
	free(base.all);
	free(want.all);
	free(got_pt.all);
	free(got_t.all);
}

/* alias: 0 dst apart, 1 dst is a, 2 dst is b. */
static void check_xor(const z4_planes_kernels *t, const shape *s, int alias)
{
	const z4_planes_kernels *pt = &z4_delta_planes_portable;
	buf a = buf_new(s->n, s->off, s->seed);
	buf b = buf_new(s->n, s->off + 2, s->seed + 1);
	buf want = alias == 1 ? buf_copy(&a)
		   : alias == 2 ? buf_copy(&b)
				: buf_new(s->n, s->off + 4, s->seed + 2);
	buf got_pt = buf_copy(&want), got_t = buf_copy(&want);

	for (size_t i = 0; i < s->n; i++)
		want.p[i] = a.p[i] ^ b.p[i];
	pt->xor_bytes(got_pt.p, alias == 1 ? got_pt.p : a.p,
		      alias == 2 ? got_pt.p : b.p, s->n);
	t->xor_bytes(got_t.p, alias == 1 ? got_t.p : a.p,
		     alias == 2 ? got_t.p : b.p, s->n);
	buf_equal(&got_pt, &want);
	buf_equal(&got_t, &got_pt);
	free(a.all);
	free(b.all);
	free(want.all);
	free(got_pt.all);
	free(got_t.all);
}

/* Every kernel, elem_size, base and mode at every length. */
static void check_table(const z4_planes_kernels *t)
{
	static const unsigned sizes[] = {1, 2, 4, 8};
	static const z4_merge_mode modes[] = {Z4_MERGE_SET, Z4_MERGE_XOR,
					      Z4_MERGE_XOR_INTO};
	uint64_t seed = 1;

	for (size_t li = 0; li < N_LENGTHS; li++)
		for (unsigned si = 0; si < 4; si++) {
			unsigned e = sizes[si];
			shape s = {lengths[li], e, (unsigned)(li + si), seed++};
			for (int rot = 0; rot < 2; rot++) {
				if (e == 1 && rot)
					continue;
				for (unsigned mi = 0; mi < 3; mi++)
					check_merge(t, &s, modes[mi], rot);
				if (e == 1)
					continue;
				check_split(t, &s, 0, rot);
				check_split(t, &s, 1, rot);
			}
			if (e == 1)
				for (int alias = 0; alias < 3; alias++)
					check_xor(t, &s, alias);
		}
}

static void test_portable_matches_definition(void **state)
{
	(void)state;
	check_table(&z4_delta_planes_portable);
}

static void test_avx2_matches_portable(void **state)
{
	const z4_planes_kernels *t = z4_delta_planes_avx2();

	(void)state;
	if (!t)
		skip(); /* not x86, or no AVX2 on this CPU */
	assert_string_equal(t->name, "avx2");
	check_table(t);
}

static void test_dispatch_obeys_no_avx2(void **state)
{
	const char *no = getenv("Z4_NO_AVX2");
	const z4_planes_kernels *avx2 = z4_delta_planes_avx2();
	const z4_planes_kernels *k = z4_delta_planes_kernels();

	(void)state;
	if ((no && *no && strcmp(no, "0") != 0) || !avx2)
		assert_ptr_equal(k, &z4_delta_planes_portable);
	else
		assert_ptr_equal(k, avx2);
	assert_ptr_equal(z4_delta_planes_kernels(), k); /* picked once */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_portable_matches_definition),
		cmocka_unit_test(test_avx2_matches_portable),
		cmocka_unit_test(test_dispatch_obeys_no_avx2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
