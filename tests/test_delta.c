/*
 * test_delta.c - the chunk codec: seeded round trips for every element size
 * and data shape, delta vs keyframe choice, golden vectors pinning format 2
 * (written for plane chunks) and format 1 (still decoded),
 * every truncation and byte flip of small encodings, hostile headers,
 * argument errors, determinism and an allocation-failure loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "delta_sub.h"
#include "z4_alloc.h"
#include "z4_delta.h"
#include "z4_le.h"

static const unsigned elem_sizes[] = {1, 2, 4, 8};
#define N_ELEM_SIZES 4

/* ---- data ---- */

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rng_next(&seed) >> 56);
}

/* Roughly N(0, 1): Irwin-Hall sum of 12 uniforms, no libm needed. */
static float gauss(uint64_t *s)
{
	float sum = 0;
	for (int i = 0; i < 12; i++)
		sum += (float)(rng_next(s) >> 40) / (float)(1u << 24);
	return sum - 6.0f;
}

static uint16_t to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
	return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* n_elems bf16 weights ~ N(0, sigma^2), little-endian. */
static void fill_bf16(uint8_t *p, size_t n_elems, float sigma, uint64_t seed)
{
	for (size_t i = 0; i < n_elems; i++)
		z4_put16(p + 2 * i, to_bf16(sigma * gauss(&seed)));
}

/* One optimizer step: w += lr * N(0, 1) * |w|, re-rounded to bf16. */
static void step_bf16(uint8_t *dst, const uint8_t *src, size_t n_elems,
		      float lr, uint64_t seed)
{
	for (size_t i = 0; i < n_elems; i++) {
		float w = from_bf16(z4_le16(src + 2 * i));
		float a = w < 0 ? -w : w;
		z4_put16(dst + 2 * i, to_bf16(w + lr * gauss(&seed) * a));
	}
}

/* ---- helpers ---- */

typedef struct {
	uint8_t *p;
	size_t len;
	z4_delta_info info;
} enc_t;

static z4_delta_ctx *ctx;

static int setup(void **state)
{
	(void)state;
	ctx = z4_delta_ctx_new();
	return ctx ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	z4_delta_ctx_free(ctx);
	ctx = NULL;
	return 0;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	assert_non_null(p);
	return p;
}

static enc_t encode_with(const uint8_t *src, size_t len,
			 const z4_delta_params *par)
{
	enc_t e;
	size_t cap = z4_delta_bound(len, par->elem_size);

	e.p = xmalloc(cap);
	assert_int_equal(z4_delta_encode(&e.len, &e.info, e.p, cap, ctx, src,
					 len, par),
			 Z4_OK);
	assert_true(e.len <= cap);
	return e;
}

static enc_t encode_kf(const uint8_t *src, size_t len, unsigned elem_size)
{
	z4_delta_params par = {.elem_size = elem_size};
	return encode_with(src, len, &par);
}

static enc_t encode_delta(const uint8_t *src, size_t len, unsigned elem_size,
			  const uint8_t *base, unsigned base_depth)
{
	z4_id base_id;
	z4_delta_params par = {.elem_size = elem_size,
			       .base = base,
			       .base_id = &base_id,
			       .base_depth = base_depth};

	z4_delta_id(&base_id, base, len);
	return encode_with(src, len, &par);
}

static enc_t encode_delta_bf16(const uint8_t *src, size_t len,
			       const uint8_t *base)
{
	z4_id base_id;
	z4_delta_params par = {.elem_size = 2,
			       .dtype = Z4_DELTA_DT_BF16,
			       .base = base,
			       .base_id = &base_id};

	z4_delta_id(&base_id, base, len);
	return encode_with(src, len, &par);
}

/* Decode e and require exactly `want`; also checks the header agrees with
 * what the encoder reported. */
static void check_decodes(const enc_t *e, const uint8_t *want, size_t len,
			  const uint8_t *base)
{
	z4_delta_info info;
	uint8_t *out = xmalloc(len);
	z4_id id;

	assert_int_equal(z4_delta_info_read(&info, e->p, e->len), Z4_OK);
	assert_true(info.version >= 2 && info.version <= Z4_DELTA_FORMAT);
	assert_int_equal(info.version, e->info.version);
	assert_int_equal(info.elem_size, e->info.elem_size);
	assert_int_equal(info.depth, e->info.depth);
	assert_int_equal(info.is_delta, e->info.is_delta);
	assert_int_equal(info.decoded_len, e->info.decoded_len);
	assert_int_equal(info.header_len, e->info.header_len);
	assert_memory_equal(info.id.b, e->info.id.b, Z4_ID_LEN);
	assert_memory_equal(info.base.b, e->info.base.b, Z4_ID_LEN);
	assert_int_equal(info.decoded_len, len);
	z4_delta_id(&id, want, len);
	assert_memory_equal(info.id.b, id.b, Z4_ID_LEN);

	memset(out, 0xa5, len);
	assert_int_equal(z4_delta_decode(out, len, ctx, e->p, e->len, base),
			 Z4_OK);
	if (len)
		assert_memory_equal(out, want, len);
	free(out);
}

static void roundtrip(const uint8_t *src, size_t len, unsigned elem_size)
{
	enc_t e = encode_kf(src, len, elem_size);

	assert_int_equal(e.info.is_delta, 0);
	assert_int_equal(e.info.depth, 0);
	assert_int_equal(e.info.elem_size, elem_size);
	assert_true(e.len <= z4_delta_bound(len, elem_size));
	check_decodes(&e, src, len, NULL);
	free(e.p);
}

/* Offset of the plane table, and total header length, of an encoding. */
static size_t table_off(const enc_t *e)
{
	return e->info.header_len - 5 * e->info.elem_size;
}

/* ---- round trips ---- */

static void test_roundtrip_random_each_elem_size(void **state)
{
	/* Sizes around the 32-element kernel block and the sampling limit. */
	static const size_t n_elems[] = {2, 31, 32, 33, 1000, 70000};
	(void)state;
	for (int i = 0; i < N_ELEM_SIZES; i++)
		for (size_t j = 0; j < sizeof(n_elems) / sizeof(*n_elems); j++) {
			size_t len = n_elems[j] * elem_sizes[i];
			uint8_t *src = xmalloc(len);
			fill_random(src, len, 1000 * i + j);
			roundtrip(src, len, elem_sizes[i]);
			free(src);
		}
}

static void test_roundtrip_random_is_stored_raw(void **state)
{
	const size_t len = 256 << 10;
	uint8_t *src = xmalloc(len);
	(void)state;
	fill_random(src, len, 7);
	for (int i = 0; i < N_ELEM_SIZES; i++) {
		enc_t e = encode_kf(src, len, elem_sizes[i]);
		/* Incompressible planes cost exactly their size. */
		assert_int_equal(e.len, e.info.header_len + len);
		for (unsigned k = 0; k < elem_sizes[i]; k++)
			assert_int_equal(e.p[table_off(&e) + 5 * k], 0);
		check_decodes(&e, src, len, NULL);
		free(e.p);
	}
	free(src);
}

static void test_roundtrip_bf16_weights(void **state)
{
	const size_t n = 1 << 20; /* 2 MiB of bf16, sampled entropy path */
	uint8_t *src = xmalloc(2 * n);
	enc_t e;
	(void)state;
	fill_bf16(src, n, 0.02f, 42);
	e = encode_kf(src, 2 * n, 2);
	/* Plane 0 (mantissa) raw, plane 1 (sign, exponent) coded. */
	assert_int_equal(e.p[table_off(&e)], 0);
	assert_int_not_equal(e.p[table_off(&e) + 5], 0);
	assert_true(z4_le32(e.p + table_off(&e) + 6) < n / 2);
	assert_true(e.len < 2 * n * 3 / 4);
	check_decodes(&e, src, 2 * n, NULL);
	free(e.p);
	free(src);
}

static void test_roundtrip_f32_weights(void **state)
{
	const size_t n = 50000;
	uint8_t *src = xmalloc(4 * n);
	uint64_t seed = 9;
	enc_t e;
	(void)state;
	for (size_t i = 0; i < n; i++) {
		float f = 0.05f * gauss(&seed);
		memcpy(src + 4 * i, &f, 4);
	}
	e = encode_kf(src, 4 * n, 4);
	assert_true(e.len < 4 * n);
	assert_int_not_equal(e.p[table_off(&e) + 5 * 3], 0); /* exponent */
	check_decodes(&e, src, 4 * n, NULL);
	free(e.p);
	free(src);
}

static void test_roundtrip_constant(void **state)
{
	const size_t len = 1 << 16;
	uint8_t *src = xmalloc(len);
	(void)state;
	memset(src, 0x3c, len);
	for (int i = 0; i < N_ELEM_SIZES; i++) {
		enc_t e = encode_kf(src, len, elem_sizes[i]);
		assert_true(e.len < e.info.header_len + 32 * elem_sizes[i]);
		check_decodes(&e, src, len, NULL);
		free(e.p);
	}
	free(src);
}

static void test_roundtrip_empty(void **state)
{
	uint8_t dummy = 0;
	(void)state;
	for (int i = 0; i < N_ELEM_SIZES; i++) {
		enc_t e = encode_kf(NULL, 0, elem_sizes[i]);
		assert_int_equal(e.len, e.info.header_len);
		assert_int_equal(e.len, 33 + 5 * elem_sizes[i]);
		assert_int_equal(z4_delta_decode(NULL, 0, ctx, e.p, e.len,
						 NULL),
				 Z4_OK);
		assert_int_equal(z4_delta_decode(&dummy, 0, ctx, e.p, e.len,
						 NULL),
				 Z4_OK);
		check_decodes(&e, &dummy, 0, NULL);
		free(e.p);
	}
	/* A fresh context, whose scratch was never allocated: encoding the
	 * empty chunk first once split planes at NULL + 0 (UBSan). */
	{
		z4_delta_ctx *c = z4_delta_ctx_new();
		z4_delta_params par = {.elem_size = 2,
				       .dtype = Z4_DELTA_DT_BF16};
		uint8_t enc[64];
		size_t n = 0;
		assert_non_null(c);
		assert_int_equal(z4_delta_encode(&n, NULL, enc, sizeof(enc), c,
						 &dummy, 0, &par),
				 Z4_OK);
		assert_int_equal(z4_delta_decode(&dummy, 0, c, enc, n, NULL),
				 Z4_OK);
		z4_delta_ctx_free(c);
	}
}

static void test_roundtrip_one_element(void **state)
{
	const uint8_t src[8] = {0x81, 0x02, 0xff, 0x00, 0x7f, 0x10, 0x20, 0x30};
	(void)state;
	for (int i = 0; i < N_ELEM_SIZES; i++)
		roundtrip(src, elem_sizes[i], elem_sizes[i]);
}

static void test_roundtrip_zstd_levels(void **state)
{
	const int levels[] = {-5, 1, 19};
	const size_t n = 20000;
	uint8_t *src = xmalloc(2 * n);
	(void)state;
	fill_bf16(src, n, 1.0f, 3);
	for (int i = 0; i < 3; i++) {
		z4_delta_params par = {.elem_size = 2, .zstd_level = levels[i]};
		enc_t e = encode_with(src, 2 * n, &par);
		check_decodes(&e, src, 2 * n, NULL);
		free(e.p);
	}
	free(src);
}

static void test_ctx_reuse_across_sizes(void **state)
{
	const size_t lens[] = {64, 1 << 20, 16, 3 << 20, 0, 1000};
	(void)state;
	for (int i = 0; i < 6; i++) {
		uint8_t *src = xmalloc(lens[i]);
		fill_bf16(src, lens[i] / 2, 0.1f, (uint64_t)i);
		roundtrip(src, lens[i], 2);
		free(src);
	}
}

/* ---- deltas ---- */

static void test_delta_perturbed_base(void **state)
{
	const size_t n = 1 << 18;
	uint8_t *base = xmalloc(2 * n), *src = xmalloc(2 * n);
	uint8_t *out = xmalloc(2 * n);
	enc_t d, k;
	(void)state;
	fill_bf16(base, n, 0.02f, 1);
	step_bf16(src, base, n, 1e-3f, 2);
	assert_memory_not_equal(src, base, 2 * n);

	d = encode_delta(src, 2 * n, 2, base, 7);
	k = encode_kf(src, 2 * n, 2);
	assert_int_equal(d.info.is_delta, 1);
	assert_int_equal(d.info.depth, 8);
	z4_id base_id;
	z4_delta_id(&base_id, base, 2 * n);
	assert_memory_equal(d.info.base.b, base_id.b, Z4_ID_LEN);
	assert_true(d.len * 16 < k.len * 15);
	check_decodes(&d, src, 2 * n, base);

	/* Missing base, wrong base. */
	assert_int_equal(z4_delta_decode(out, 2 * n, ctx, d.p, d.len, NULL),
			 Z4_EINVAL);
	assert_int_equal(z4_delta_decode(out, 2 * n, ctx, d.p, d.len, src),
			 Z4_ECORRUPT);
	/* A base whose id the caller knows: decoded without hashing it; a
	 * known id other than the header's is refused; a base whose bytes
	 * belie the id given still fails the output's hash. */
	memset(out, 0, 2 * n);
	assert_int_equal(z4_delta_decode_known(out, 2 * n, ctx, d.p, d.len,
					       base, &base_id),
			 Z4_OK);
	assert_memory_equal(out, src, 2 * n);
	{
		z4_id other = base_id;
		other.b[5] ^= 1;
		assert_int_equal(z4_delta_decode_known(out, 2 * n, ctx, d.p,
						       d.len, base, &other),
				 Z4_ECORRUPT);
	}
	assert_int_equal(z4_delta_decode_known(out, 2 * n, ctx, d.p, d.len,
					       src, &base_id),
			 Z4_ECORRUPT);
	free(d.p);
	free(k.p);
	free(out);
	free(src);
	free(base);
}

static void test_delta_each_elem_size_in_place(void **state)
{
	const size_t len = 40000;
	uint8_t *base = xmalloc(len), *src = xmalloc(len);
	uint8_t *buf = xmalloc(len);
	(void)state;
	fill_random(base, len, 11);
	for (int i = 0; i < N_ELEM_SIZES; i++) {
		memcpy(src, base, len);
		for (size_t j = 0; j < len; j += 97)
			src[j] ^= 0x01; /* a few changed bits */
		enc_t d = encode_delta(src, len, elem_sizes[i], base, 0);
		assert_int_equal(d.info.is_delta, 1);
		assert_int_equal(d.info.depth, 1);
		check_decodes(&d, src, len, base);
		/* dst == base: the chain decodes in place. */
		memcpy(buf, base, len);
		assert_int_equal(z4_delta_decode(buf, len, ctx, d.p, d.len,
						 buf),
				 Z4_OK);
		assert_memory_equal(buf, src, len);
		free(d.p);
	}
	free(buf);
	free(src);
	free(base);
}

/* d, encoded with a base, is the keyframe k made without one, and decodes
 * to src; both freed. */
static void check_same_keyframe(enc_t *d, enc_t *k, const uint8_t *src,
				size_t len)
{
	assert_int_equal(d->info.is_delta, 0);
	assert_int_equal(d->len, k->len);
	assert_memory_equal(d->p, k->p, k->len);
	check_decodes(d, src, len, NULL);
	free(d->p);
	free(k->p);
}

static void test_delta_unrelated_base_gives_keyframe(void **state)
{
	const size_t n = 1 << 16;
	uint8_t *base = xmalloc(2 * n), *src = xmalloc(2 * n);
	enc_t d, k;
	(void)state;
	fill_random(base, 2 * n, 5);
	fill_bf16(src, n, 0.02f, 6);
	d = encode_delta(src, 2 * n, 2, base, 3);
	k = encode_kf(src, 2 * n, 2);
	assert_int_equal(d.info.depth, 0);
	check_same_keyframe(&d, &k, src, 2 * n);
	free(src);
	free(base);
}

/* bf16 whose escape-coded delta fits but is far larger than the
 * keyframe (constant words, a base scattered around them): the encoder
 * planned the keyframe from a sample of its planes and must write it
 * whole, the same bytes as a keyframe made alone. */
static void test_delta_escape_form_loses_to_keyframe(void **state)
{
	const size_t n = 1 << 16;
	uint8_t *base = xmalloc(2 * n), *src = xmalloc(2 * n);
	uint64_t seed = 9;
	z4_id base_id;
	z4_delta_params kp = {.elem_size = 2, .dtype = Z4_DELTA_DT_BF16};
	z4_delta_params dp = kp;
	enc_t d, k;
	(void)state;
	for (size_t i = 0; i < n; i++) {
		src[2 * i] = 0x80;
		src[2 * i + 1] = 0x3f;
		base[2 * i] = (uint8_t)(0x80 + (rng_next(&seed) >> 59));
		base[2 * i + 1] = 0x3f;
	}
	z4_delta_id(&base_id, base, 2 * n);
	dp.base = base;
	dp.base_id = &base_id;
	d = encode_with(src, 2 * n, &dp);
	k = encode_with(src, 2 * n, &kp);
	check_same_keyframe(&d, &k, src, 2 * n);
	free(src);
	free(base);
}

/* A bf16 delta of n words against base, every 2^shift-th word (on
 * average) escaping with a noisy low byte and a high byte of 1 to 3
 * (or noise too). */
static enc_t escaping_delta(uint8_t *src, const uint8_t *base, size_t n,
			    unsigned shift, int noisy)
{
	uint8_t *z = xmalloc(2 * n);
	uint64_t seed = 52;
	enc_t d;

	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng_next(&seed);
		uint32_t v = (uint32_t)(r % 64);
		if (r >> (64 - shift) == 0)
			v = noisy ? 256 + (uint32_t)(r >> 8) % 65280
				  : 256 * (1 + (uint32_t)(r >> 8) % 3) +
					  (uint32_t)(r >> 16) % 256;
		z4_put16(z + 2 * i, (uint16_t)v);
	}
	z4_delta_add(src, z, base, n, 2);
	d = encode_delta_bf16(src, 2 * n, base);
	free(z);
	return d;
}

/* The escape form's planes of escaped words, chosen without estimates:
 * noise (the low bytes) stored raw, skewed bytes (high bytes of 1 to 3)
 * coded order 0, noise again when the high bytes are; the stream table's
 * last two entries say so, and the delta decodes. From 4 KiB escaped
 * words the order-0 plane is wide, which only format 6 can say: the same
 * chunk calling itself format 5 is refused, as is a format-5 chunk
 * calling itself 6. */
static void test_delta_escaped_planes(void **state)
{
	const size_t m = 1 << 16;
	uint8_t *base = xmalloc(2 * m), *src = xmalloc(2 * m);
	z4_delta_info info;
	(void)state;
	fill_bf16(base, m, 0.02f, 51);
	for (int k = 0; k < 3; k++) {
		/* ~2048 escapes: narrow; ~8192: wide */
		const int noisy = k == 1, wide = k == 2;
		enc_t d = escaping_delta(src, base, m, wide ? 3 : 5, noisy);
		uint8_t *t = d.p + d.info.header_len - 10; /* low, high */
		assert_int_equal(d.info.is_delta, 1);
		assert_int_equal(d.info.version, wide ? 6 : 5);
		assert_int_equal(t[0], 0);                       /* raw */
		assert_int_equal(t[5], noisy ? 0 : wide ? 6 : 2); /* order 0 */
		check_decodes(&d, src, 2 * m, base);
		d.p[3] = wide ? 5 : 6;
		assert_int_equal(z4_delta_info_read(&info, d.p, d.len),
				 Z4_ECORRUPT);
		free(d.p);
	}
	free(src);
	free(base);
}

static void test_delta_identical_base_gives_keyframe(void **state)
{
	const size_t len = 4096;
	uint8_t *src = xmalloc(len);
	enc_t d;
	(void)state;
	fill_bf16(src, len / 2, 1.0f, 8);
	d = encode_delta(src, len, 2, src, 0);
	assert_int_equal(d.info.is_delta, 0);
	check_decodes(&d, src, len, NULL);
	free(d.p);
	free(src);
}

static void test_delta_depth_limit_gives_keyframe(void **state)
{
	const size_t len = 4096;
	uint8_t *base = xmalloc(len), *src = xmalloc(len);
	enc_t d;
	(void)state;
	fill_random(base, len, 12);
	memcpy(src, base, len);
	src[100] ^= 1;
	d = encode_delta(src, len, 4, base, Z4_DELTA_DEPTH_MAX - 1);
	assert_int_equal(d.info.is_delta, 1);
	assert_int_equal(d.info.depth, Z4_DELTA_DEPTH_MAX);
	check_decodes(&d, src, len, base);
	free(d.p);
	d = encode_delta(src, len, 4, base, Z4_DELTA_DEPTH_MAX);
	assert_int_equal(d.info.is_delta, 0);
	assert_int_equal(d.info.depth, 0);
	check_decodes(&d, src, len, NULL);
	free(d.p);
	free(src);
	free(base);
}

/* ---- format ---- */

/* 8 elements of 2 bytes: planes too short to code, so the bytes depend
 * only on the format and XXH3-128. */
static const uint8_t golden_src[16] = {0, 1, 2,  3,  4,  5,  6,  7,
				       8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t golden_enc[] = {
	'Z', '4', 'C', 0x02,                /* magic, version */
	0x00,                               /* flags: keyframe */
	0x02,                               /* elem_size */
	0x00, 0x00,                         /* depth */
	0x10, 0, 0, 0, 0, 0, 0, 0,          /* decoded_len = 16 */
	/* id = XXH3-128(golden_src), canonical big-endian */
	0x72, 0x95, 0x06, 0x31, 0x82, 0x76, 0x07, 0xe2,
	0x84, 0x28, 0x12, 0xcc, 0x87, 0x0d, 0xca, 0xe2,
	0x00,                               /* transform: byte planes */
	0x00, 0x08, 0x00, 0x00, 0x00,       /* plane 0: raw, 8 bytes */
	0x00, 0x08, 0x00, 0x00, 0x00,       /* plane 1: raw, 8 bytes */
	0, 2, 4, 6, 8, 10, 12, 14,          /* plane 0: low bytes */
	1, 3, 5, 7, 9, 11, 13, 15,          /* plane 1: high bytes */
};

/* The same chunk as format 1 wrote it: stores hold such chunks, which
 * must decode forever. */
static const uint8_t golden_v1_enc[] = {
	'Z', '4', 'C', 0x01,                /* magic, version */
	0x00,                               /* flags: keyframe */
	0x02,                               /* elem_size */
	0x00, 0x00,                         /* depth */
	0x10, 0, 0, 0, 0, 0, 0, 0,          /* decoded_len = 16 */
	/* id = XXH3-128(golden_src), canonical big-endian */
	0x72, 0x95, 0x06, 0x31, 0x82, 0x76, 0x07, 0xe2,
	0x84, 0x28, 0x12, 0xcc, 0x87, 0x0d, 0xca, 0xe2,
	0x00, 0x08, 0x00, 0x00, 0x00,       /* plane 0: raw, 8 bytes */
	0x00, 0x08, 0x00, 0x00, 0x00,       /* plane 1: raw, 8 bytes */
	0, 2, 4, 6, 8, 10, 12, 14,          /* plane 0: low bytes */
	1, 3, 5, 7, 9, 11, 13, 15,          /* plane 1: high bytes */
};

static void test_golden_vector(void **state)
{
	enc_t e;
	(void)state;
	e = encode_kf(golden_src, sizeof(golden_src), 2);
	assert_int_equal(e.len, sizeof(golden_enc));
	assert_memory_equal(e.p, golden_enc, sizeof(golden_enc));
	assert_int_equal(e.info.header_len, 43);
	check_decodes(&e, golden_src, sizeof(golden_src), NULL);
	free(e.p);
}

static void test_golden_v1_decodes(void **state)
{
	z4_delta_info info;
	uint8_t out[16];
	(void)state;
	assert_int_equal(z4_delta_info_read(&info, golden_v1_enc,
					    sizeof(golden_v1_enc)),
			 Z4_OK);
	assert_int_equal(info.version, 1);
	assert_int_equal(info.header_len, 42);
	assert_int_equal(info.elem_size, 2);
	assert_int_equal(info.decoded_len, 16);
	assert_int_equal(z4_delta_decode(out, 16, ctx, golden_v1_enc,
					 sizeof(golden_v1_enc), NULL),
			 Z4_OK);
	assert_memory_equal(out, golden_src, 16);
}

static void test_id_is_canonical_xxh3_128(void **state)
{
	const uint8_t data[] = "z4vc";
	XXH128_hash_t h = XXH3_128bits(data, 4);
	z4_id id;
	char hex[33];
	(void)state;
	z4_delta_id(&id, data, 4);
	/* high 64 bits first, each big-endian */
	for (int i = 0; i < 8; i++) {
		assert_int_equal(id.b[i], (uint8_t)(h.high64 >> (56 - 8 * i)));
		assert_int_equal(id.b[8 + i],
				 (uint8_t)(h.low64 >> (56 - 8 * i)));
	}
	/* Published XXH3-128 of the empty input. */
	z4_delta_id(&id, NULL, 0);
	z4_id_hex(hex, &id);
	assert_string_equal(hex, "99aa06d3014798d86001c324468d497f");
}

static void test_id_hex_parse(void **state)
{
	z4_id id, back;
	char hex[33];
	(void)state;
	for (int i = 0; i < Z4_ID_LEN; i++)
		id.b[i] = (uint8_t)(i * 17 + 3);
	z4_id_hex(hex, &id);
	assert_int_equal(strlen(hex), 32);
	assert_string_equal(hex, "031425364758697a8b9cadbecfe0f102");
	assert_int_equal(z4_id_parse(&back, hex), Z4_OK);
	assert_memory_equal(back.b, id.b, Z4_ID_LEN);
	assert_int_equal(z4_id_parse(&back, "031425364758697A8B9CADBECFE0F102"),
			 Z4_OK);
	assert_memory_equal(back.b, id.b, Z4_ID_LEN);

	assert_int_equal(z4_id_parse(&back, NULL), Z4_EINVAL);
	assert_int_equal(z4_id_parse(&back, ""), Z4_EINVAL);
	assert_int_equal(z4_id_parse(&back, "0314253647586970"), Z4_EINVAL);
	assert_int_equal(
		z4_id_parse(&back, "03142536475869708192a3b4c5d6e7f"), Z4_EINVAL);
	assert_int_equal(
		z4_id_parse(&back, "03142536475869708192a3b4c5d6e7f80"),
		Z4_EINVAL);
	assert_int_equal(
		z4_id_parse(&back, "03142536475869708192a3b4c5d6e7fg"),
		Z4_EINVAL);
	assert_int_equal(
		z4_id_parse(&back, "0x142536475869708192a3b4c5d6e7f8"),
		Z4_EINVAL);
	assert_int_equal(
		z4_id_parse(&back, " 3142536475869708192a3b4c5d6e7f8"),
		Z4_EINVAL);
}

static void test_elem_size_of_dtype(void **state)
{
	(void)state;
	assert_int_equal(z4_delta_elem_size("BF16"), 2);
	assert_int_equal(z4_delta_elem_size("F16"), 2);
	assert_int_equal(z4_delta_elem_size("I16"), 2);
	assert_int_equal(z4_delta_elem_size("U16"), 2);
	assert_int_equal(z4_delta_elem_size("F32"), 4);
	assert_int_equal(z4_delta_elem_size("I32"), 4);
	assert_int_equal(z4_delta_elem_size("U32"), 4);
	assert_int_equal(z4_delta_elem_size("F64"), 8);
	assert_int_equal(z4_delta_elem_size("I64"), 8);
	assert_int_equal(z4_delta_elem_size("U64"), 8);
	assert_int_equal(z4_delta_elem_size("U8"), 1);
	assert_int_equal(z4_delta_elem_size("BOOL"), 1);
	assert_int_equal(z4_delta_elem_size("F8_E4M3"), 1);
	assert_int_equal(z4_delta_elem_size("bf16"), 1);
	assert_int_equal(z4_delta_elem_size(""), 1);
	assert_int_equal(z4_delta_elem_size(NULL), 1);
}

/* ---- hostile input ---- */

/* A small keyframe with one raw and one zstd plane, and a delta. */
static void small_encodings(enc_t *kf, enc_t *delta, uint8_t **src_out,
			    uint8_t **base_out, size_t *len_out)
{
	const size_t n = 600;
	uint8_t *base = xmalloc(2 * n), *src = xmalloc(2 * n);

	fill_bf16(base, n, 0.02f, 21);
	step_bf16(src, base, n, 2e-2f, 22);
	*kf = encode_kf(src, 2 * n, 2);
	assert_int_equal(kf->p[table_off(kf)], 0);
	assert_int_not_equal(kf->p[table_off(kf) + 5], 0);
	*delta = encode_delta(src, 2 * n, 2, base, 0);
	assert_int_equal(delta->info.is_delta, 1);
	*src_out = src;
	*base_out = base;
	*len_out = 2 * n;
}

static void test_every_truncation_is_corrupt(void **state)
{
	enc_t kf, d;
	uint8_t *src, *base, *out;
	size_t len;
	(void)state;
	small_encodings(&kf, &d, &src, &base, &len);
	out = xmalloc(len);
	const enc_t *es[2] = {&kf, &d};
	for (int i = 0; i < 2; i++)
		for (size_t cut = 0; cut < es[i]->len; cut++) {
			z4_delta_info info;
			/* A fresh copy of exactly `cut` bytes, so ASan sees
			 * any read past the end. */
			uint8_t *t = xmalloc(cut);
			memcpy(t, es[i]->p, cut);
			assert_int_equal(z4_delta_info_read(&info, t, cut),
					 Z4_ECORRUPT);
			assert_int_equal(z4_delta_decode(out, len, ctx, t, cut,
							 base),
					 Z4_ECORRUPT);
			free(t);
		}
	free(out);
	free(kf.p);
	free(d.p);
	free(src);
	free(base);
}

static void test_trailing_byte_is_corrupt(void **state)
{
	enc_t kf, d;
	uint8_t *src, *base, *out, *t;
	size_t len;
	(void)state;
	small_encodings(&kf, &d, &src, &base, &len);
	out = xmalloc(len);
	t = xmalloc(kf.len + 1);
	memcpy(t, kf.p, kf.len);
	t[kf.len] = 0;
	assert_int_equal(z4_delta_decode(out, len, ctx, t, kf.len + 1, NULL),
			 Z4_ECORRUPT);
	free(t);
	free(out);
	free(kf.p);
	free(d.p);
	free(src);
	free(base);
}

/* Whether byte `off` of e lies in a coded (not raw) plane payload. */
static int in_zstd_payload(const enc_t *e, size_t off)
{
	size_t pos = e->info.header_len;
	for (unsigned k = 0; k < e->info.elem_size; k++) {
		const uint8_t *t = e->p + table_off(e) + 5 * k;
		size_t n = z4_le32(t + 1);
		if (t[0] != 0 && off >= pos && off < pos + n)
			return 1;
		pos += n;
	}
	return 0;
}

/*
 * Flip bits at every offset of e and decode. The result is an error, or
 * else the exact original bytes (the XXH3 vouches for them): zstd frames
 * have bits no decoder reads (the frame header's unused bit, some padding),
 * and a delta's depth is in no hash (any value 1..Z4_DELTA_DEPTH_MAX still
 * decodes). Flips anywhere else must fail with the right code.
 */
static void flip_all(const enc_t *e, const uint8_t *want, size_t len,
		     const uint8_t *base)
{
	static const uint8_t masks[] = {0x01, 0x02, 0x10, 0x80, 0xff};
	uint8_t *out = xmalloc(len), *t = xmalloc(e->len);
	size_t flips = 0, unnoticed = 0;

	for (size_t off = 0; off < e->len; off++)
		for (size_t mi = 0; mi < sizeof(masks); mi++) {
			int is_depth = e->info.is_delta && (off == 6 || off == 7);
			int rc;
			memcpy(t, e->p, e->len);
			t[off] ^= masks[mi];
			rc = z4_delta_decode(out, len, ctx, t, e->len, base);
			flips++;
			if (rc == Z4_OK) {
				if (len)
					assert_memory_equal(out, want, len);
				assert_true(is_depth || in_zstd_payload(e, off));
				unnoticed++;
				continue;
			}
			if (is_depth) {
				unsigned depth = z4_le16(t + 6);
				assert_false(depth >= 1 &&
					     depth <= Z4_DELTA_DEPTH_MAX);
			}
			if (off == 3 && (t[3] < Z4_DELTA_FORMAT_MIN ||
					 t[3] > Z4_DELTA_FORMAT))
				assert_int_equal(rc, Z4_EUNSUPPORTED);
			else if (off >= 8 && off < 16 &&
				 z4_le64(t + 8) > Z4_DELTA_CHUNK_MAX)
				assert_int_equal(rc, Z4_ETOOBIG);
			else if (off >= 8 && off < 16)
				/* With no raw plane to pin it, another length
				 * can parse; then it's not the caller's. */
				assert_true(rc == Z4_ECORRUPT ||
					    rc == Z4_EINVAL);
			else
				assert_int_equal(rc, Z4_ECORRUPT);
		}
	/* Ignored bits are rare: nearly every flip is caught. */
	assert_true(unnoticed * 50 < flips);
	free(t);
	free(out);
}

static void test_every_byte_flip_fails(void **state)
{
	enc_t kf, d, g;
	uint8_t *src, *base;
	size_t len;
	(void)state;
	small_encodings(&kf, &d, &src, &base, &len);
	flip_all(&kf, src, len, NULL);
	flip_all(&d, src, len, base);
	/* Raw planes only: here every single flip must fail. */
	g = encode_kf(golden_src, sizeof(golden_src), 2);
	flip_all(&g, golden_src, sizeof(golden_src), NULL);
	free(g.p);
	free(kf.p);
	free(d.p);
	free(src);
	free(base);
}

static void test_declared_1tb_is_too_big(void **state)
{
	enc_t e = encode_kf(golden_src, sizeof(golden_src), 2);
	z4_delta_info info;
	uint8_t out[16];
	(void)state;
	z4_put64(e.p + 8, 1ull << 40);
	assert_int_equal(z4_delta_info_read(&info, e.p, e.len), Z4_ETOOBIG);
	assert_int_equal(z4_delta_decode(out, sizeof(out), ctx, e.p, e.len,
					 NULL),
			 Z4_ETOOBIG);
	z4_put64(e.p + 8, (uint64_t)Z4_DELTA_CHUNK_MAX + 2);
	assert_int_equal(z4_delta_info_read(&info, e.p, e.len), Z4_ETOOBIG);
	/* Exactly the maximum is allowed by the size check; the planes then
	 * disagree. */
	z4_put64(e.p + 8, Z4_DELTA_CHUNK_MAX);
	assert_int_equal(z4_delta_info_read(&info, e.p, e.len), Z4_ECORRUPT);
	free(e.p);
}

/* Each named header defect on a copy of the golden encoding. */
static void test_bad_headers(void **state)
{
	uint8_t t[sizeof(golden_v1_enc) + 16];
	z4_delta_info info;
	uint8_t out[16];
	(void)state;

#define CHECK(code)                                                            \
	do {                                                                   \
		assert_int_equal(z4_delta_info_read(&info, t, n), code);       \
		assert_int_equal(z4_delta_decode(out, 16, ctx, t, n, NULL),    \
				 code);                                        \
	} while (0)
#define RESET()                                                                \
	(memcpy(t, golden_v1_enc, sizeof(golden_v1_enc)), sizeof(golden_v1_enc))
	size_t n = RESET();
	CHECK(Z4_OK);

	t[0] = 'z'; /* magic */
	CHECK(Z4_ECORRUPT);
	n = RESET();
	t[3] = Z4_DELTA_FORMAT + 1; /* future version */
	CHECK(Z4_EUNSUPPORTED);
	n = RESET();
	t[3] = 0;
	CHECK(Z4_EUNSUPPORTED);
	n = RESET();
	t[4] = 0x02; /* reserved flag */
	CHECK(Z4_ECORRUPT);
	n = RESET();
	t[4] = 0x80;
	CHECK(Z4_ECORRUPT);
	n = RESET();
	t[5] = 3; /* elem_size */
	CHECK(Z4_ECORRUPT);
	n = RESET();
	t[5] = 0;
	CHECK(Z4_ECORRUPT);
	n = RESET();
	t[6] = 1; /* keyframe with a depth */
	CHECK(Z4_ECORRUPT);
	n = RESET();
	t[8] = 15; /* decoded_len not a multiple of elem_size */
	CHECK(Z4_ECORRUPT);
	n = RESET();
	t[32] = 2; /* reserved codec */
	CHECK(Z4_ECORRUPT);
	n = RESET();
	t[32] = 1; /* zstd plane as long as the raw plane */
	CHECK(Z4_ECORRUPT);
	n = RESET();
	t[33] = 7; /* raw plane shorter than decoded_len / elem_size */
	CHECK(Z4_ECORRUPT);
	n = RESET();
	t[33] = 9, t[38] = 7; /* lengths still sum right, raw plane wrong */
	CHECK(Z4_ECORRUPT);
	n = RESET();
	t[n++] = 0; /* trailing byte */
	CHECK(Z4_ECORRUPT);
	n = RESET();
	t[50] ^= 1; /* payload: the header is fine, the hash is not */
#undef CHECK
	assert_int_equal(z4_delta_info_read(&info, t, n), Z4_OK);
	assert_int_equal(z4_delta_decode(out, 16, ctx, t, n, NULL),
			 Z4_ECORRUPT);
	assert_int_equal(z4_delta_info_read(&info, NULL, 0), Z4_ECORRUPT);
#undef RESET
}

/* A zstd plane whose frame is fine but declares or yields another size. */
static void test_zstd_plane_wrong_size(void **state)
{
	enc_t kf;
	uint8_t *src, *out, *t;
	size_t len = 1200, zoff, zlen;
	(void)state;
	/* Random low bytes (raw), high bytes with period 7 (zstd beats
	 * order-0 rANS on repeats). */
	src = xmalloc(len);
	fill_random(src, len, 77);
	for (size_t i = 0; i < len / 2; i++)
		src[2 * i + 1] = (uint8_t)(i % 7 * 37);
	kf = encode_kf(src, len, 2);
	assert_int_equal(kf.p[table_off(&kf)], 0);
	assert_int_equal(kf.p[table_off(&kf) + 5], 1);
	out = xmalloc(len);
	t = xmalloc(kf.len);
	/* Plane 1 is the zstd one; its frame header declares 600 bytes in
	 * its content-size field. Make the header claim one element less,
	 * keeping the raw plane consistent by shrinking its length too. */
	zoff = kf.info.header_len + 600;
	zlen = z4_le32(kf.p + table_off(&kf) + 6);
	assert_int_equal(zoff + zlen, kf.len);
	memcpy(t, kf.p, kf.len);
	/* decoded_len 1198, plane 0 raw 599 bytes: drop one payload byte. */
	z4_put64(t + 8, 1198);
	z4_put32(t + table_off(&kf) + 1, 599);
	memmove(t + kf.info.header_len + 599, t + kf.info.header_len + 600,
		zlen);
	assert_int_equal(z4_delta_decode(out, 1198, ctx, t, kf.len - 1, NULL),
			 Z4_ECORRUPT);
	free(t);
	free(out);
	free(kf.p);
	free(src);
}

/* ---- argument errors ---- */

static void test_decode_argument_errors(void **state)
{
	enc_t kf, d;
	uint8_t *src, *base, *out;
	size_t len;
	(void)state;
	small_encodings(&kf, &d, &src, &base, &len);
	out = xmalloc(len + 2);
	assert_int_equal(z4_delta_decode(out, len - 2, ctx, kf.p, kf.len, NULL),
			 Z4_EINVAL);
	assert_int_equal(z4_delta_decode(out, len + 2, ctx, kf.p, kf.len, NULL),
			 Z4_EINVAL);
	assert_int_equal(z4_delta_decode(out, 0, ctx, kf.p, kf.len, NULL),
			 Z4_EINVAL);
	assert_int_equal(z4_delta_decode(NULL, len, ctx, kf.p, kf.len, NULL),
			 Z4_EINVAL);
	assert_int_equal(z4_delta_decode(out, len, NULL, kf.p, kf.len, NULL),
			 Z4_EINVAL);
	assert_int_equal(z4_delta_decode(out, len, ctx, d.p, d.len, NULL),
			 Z4_EINVAL);
	/* A keyframe ignores a base. */
	assert_int_equal(z4_delta_decode(out, len, ctx, kf.p, kf.len, base),
			 Z4_OK);
	assert_memory_equal(out, src, len);
	free(out);
	free(kf.p);
	free(d.p);
	free(src);
	free(base);
}

static void test_encode_argument_errors(void **state)
{
	uint8_t src[64] = {0}, dst[256];
	size_t out_len = 99;
	z4_id id = {{0}};
	z4_delta_params par = {.elem_size = 3};
	(void)state;
	assert_int_equal(z4_delta_encode(&out_len, NULL, dst, sizeof(dst), ctx,
					 src, 60, &par),
			 Z4_EINVAL);
	assert_int_equal(out_len, 0);
	par.elem_size = 0;
	assert_int_equal(z4_delta_encode(&out_len, NULL, dst, sizeof(dst), ctx,
					 src, 64, &par),
			 Z4_EINVAL);
	par.elem_size = 4;
	assert_int_equal(z4_delta_encode(&out_len, NULL, dst, sizeof(dst), ctx,
					 src, 62, &par),
			 Z4_EINVAL);
	/* Rejected before src is read. */
	assert_int_equal(z4_delta_encode(&out_len, NULL, dst, sizeof(dst), ctx,
					 src, Z4_DELTA_CHUNK_MAX + 4, &par),
			 Z4_EINVAL);
	assert_int_equal(z4_delta_encode(&out_len, NULL, dst,
					 z4_delta_bound(64, 4) - 1, ctx, src,
					 64, &par),
			 Z4_EINVAL);
	assert_int_equal(z4_delta_encode(&out_len, NULL, dst, sizeof(dst), ctx,
					 NULL, 64, &par),
			 Z4_EINVAL);
	assert_int_equal(z4_delta_encode(&out_len, NULL, dst, sizeof(dst), NULL,
					 src, 64, &par),
			 Z4_EINVAL);
	assert_int_equal(z4_delta_encode(&out_len, NULL, dst, sizeof(dst), ctx,
					 src, 64, NULL),
			 Z4_EINVAL);
	par.base = src; /* base without its id */
	assert_int_equal(z4_delta_encode(&out_len, NULL, dst, sizeof(dst), ctx,
					 src, 64, &par),
			 Z4_EINVAL);
	par.base_id = &id;
	assert_int_equal(z4_delta_encode(&out_len, NULL, dst,
					 z4_delta_bound(64, 4), ctx, src, 64,
					 &par),
			 Z4_OK);
	assert_true(out_len > 0 && out_len <= z4_delta_bound(64, 4));
	assert_int_equal(z4_delta_bound(64, 8), 64 + 32 + 16 + 1 + 40);
	par.dtype = Z4_DELTA_DT_COUNT;
	assert_int_equal(z4_delta_encode(&out_len, NULL, dst,
					 z4_delta_bound(64, 4), ctx, src, 64,
					 &par),
			 Z4_EINVAL);
	assert_int_equal(z4_delta_bound(64, 3), z4_delta_bound(64, 8));
	assert_int_equal(z4_delta_bound(SIZE_MAX - 10, 1), SIZE_MAX);
}

/* ---- determinism and allocation failure ---- */

static void test_deterministic(void **state)
{
	const size_t n = 1 << 17;
	uint8_t *base = xmalloc(2 * n), *src = xmalloc(2 * n);
	z4_delta_ctx *other = z4_delta_ctx_new();
	enc_t a, b, c;
	(void)state;
	assert_non_null(other);
	fill_bf16(base, n, 0.02f, 31);
	step_bf16(src, base, n, 1e-2f, 32);
	a = encode_delta(src, 2 * n, 2, base, 0);
	b = encode_delta(src, 2 * n, 2, base, 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
	/* A fresh context, with unrelated work done on the shared one. */
	free(encode_kf(base, 2 * n, 2).p);
	z4_delta_ctx *saved = ctx;
	ctx = other;
	c = encode_delta(src, 2 * n, 2, base, 0);
	ctx = saved;
	assert_int_equal(a.len, c.len);
	assert_memory_equal(a.p, c.p, a.len);
	z4_delta_ctx_free(other);
	free(a.p);
	free(b.p);
	free(c.p);
	free(src);
	free(base);
}

/* The id a store hands over is the one the encoder would compute: the
 * same bytes, delta (also equal to the base: a keyframe) or keyframe. */
static void test_given_id_same_bytes(void **state)
{
	const size_t n = 1 << 16;
	uint8_t *base = xmalloc(2 * n), *src = xmalloc(2 * n);
	const uint8_t *srcs[2] = {src, base};
	z4_id id, base_id;
	(void)state;
	fill_bf16(base, n, 0.02f, 33);
	step_bf16(src, base, n, 1e-2f, 34);
	z4_delta_id(&base_id, base, 2 * n);
	for (int i = 0; i < 2; i++) {
		z4_delta_params par = {.elem_size = 2,
				       .dtype = Z4_DELTA_DT_BF16,
				       .base = base,
				       .base_id = &base_id};
		enc_t a = encode_with(srcs[i], 2 * n, &par), b;
		assert_int_equal(a.info.is_delta, i == 0);
		z4_delta_id(&id, srcs[i], 2 * n);
		par.id = &id;
		b = encode_with(srcs[i], 2 * n, &par);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.p, b.p, a.len);
		check_decodes(&b, srcs[i], 2 * n, base);
		free(a.p);
		free(b.p);
	}
	free(src);
	free(base);
}

static void test_allocation_failures(void **state)
{
	const size_t n = 1 << 15;
	uint8_t *base = xmalloc(2 * n), *src = xmalloc(2 * n);
	uint8_t *enc = xmalloc(z4_delta_bound(2 * n, 2)), *out = xmalloc(2 * n);
	z4_id base_id;
	z4_delta_params par = {.elem_size = 2, .base = base,
			       .base_id = &base_id};
	int done = 0;
	(void)state;
	fill_bf16(base, n, 0.02f, 41);
	step_bf16(src, base, n, 1e-2f, 42);
	z4_delta_id(&base_id, base, 2 * n);

	for (long fail = 0; !done && fail < 1000; fail++) {
		z4_delta_ctx *c;
		size_t len;
		int rc;
		z4_alloc_fail_after(fail);
		c = z4_delta_ctx_new();
		if (!c)
			continue;
		rc = z4_delta_encode(&len, NULL, enc, z4_delta_bound(2 * n, 2),
				     c, src, 2 * n, &par);
		if (rc == Z4_OK) {
			/* Decode needs scratch for the zstd plane. */
			z4_delta_ctx_free(c);
			z4_alloc_fail_after(fail);
			c = z4_delta_ctx_new();
			if (c) {
				rc = z4_delta_decode(out, 2 * n, c, enc, len,
						     base);
				if (rc == Z4_OK) {
					assert_memory_equal(out, src, 2 * n);
					done = 1;
				}
			}
		}
		if (!done && c)
			assert_int_equal(rc, Z4_ENOMEM);
		z4_delta_ctx_free(c);
	}
	z4_alloc_fail_after(-1);
	assert_true(done);
	free(out);
	free(enc);
	free(src);
	free(base);
}

/* After one chunk of each kind, same-sized chunks allocate nothing: every
 * allocation from here on would fail. */
static void test_steady_state_allocates_nothing(void **state)
{
	const size_t n = 1 << 17;
	uint8_t *base = xmalloc(2 * n), *src = xmalloc(2 * n);
	uint8_t *out = xmalloc(2 * n);
	z4_delta_ctx *c = z4_delta_ctx_new();
	enc_t d, k;
	(void)state;
	assert_non_null(c);
	fill_bf16(base, n, 0.02f, 51);
	for (int round = 0; round < 3; round++) {
		z4_delta_ctx *saved = ctx;
		step_bf16(src, base, n, 1e-2f, 52 + (uint64_t)round);
		if (round == 1)
			z4_alloc_fail_after(0);
		ctx = c;
		d = encode_delta(src, 2 * n, 2, base, 0);
		k = encode_kf(src, 2 * n, 2);
		assert_int_equal(d.info.is_delta, 1);
		assert_int_equal(z4_delta_decode(out, 2 * n, c, d.p, d.len, base),
				 Z4_OK);
		assert_memory_equal(out, src, 2 * n);
		assert_int_equal(z4_delta_decode(out, 2 * n, c, k.p, k.len, NULL),
				 Z4_OK);
		assert_memory_equal(out, src, 2 * n);
		ctx = saved;
		free(d.p);
		free(k.p);
	}
	z4_alloc_fail_after(-1);
	z4_delta_ctx_free(c);
	free(out);
	free(src);
	free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_random_each_elem_size),
		cmocka_unit_test(test_roundtrip_random_is_stored_raw),
		cmocka_unit_test(test_roundtrip_bf16_weights),
		cmocka_unit_test(test_roundtrip_f32_weights),
		cmocka_unit_test(test_roundtrip_constant),
		cmocka_unit_test(test_roundtrip_empty),
		cmocka_unit_test(test_roundtrip_one_element),
		cmocka_unit_test(test_roundtrip_zstd_levels),
		cmocka_unit_test(test_ctx_reuse_across_sizes),
		cmocka_unit_test(test_delta_perturbed_base),
		cmocka_unit_test(test_delta_each_elem_size_in_place),
		cmocka_unit_test(test_delta_unrelated_base_gives_keyframe),
		cmocka_unit_test(test_delta_escape_form_loses_to_keyframe),
		cmocka_unit_test(test_delta_escaped_planes),
		cmocka_unit_test(test_delta_identical_base_gives_keyframe),
		cmocka_unit_test(test_delta_depth_limit_gives_keyframe),
		cmocka_unit_test(test_golden_vector),
		cmocka_unit_test(test_golden_v1_decodes),
		cmocka_unit_test(test_id_is_canonical_xxh3_128),
		cmocka_unit_test(test_id_hex_parse),
		cmocka_unit_test(test_elem_size_of_dtype),
		cmocka_unit_test(test_every_truncation_is_corrupt),
		cmocka_unit_test(test_trailing_byte_is_corrupt),
		cmocka_unit_test(test_every_byte_flip_fails),
		cmocka_unit_test(test_declared_1tb_is_too_big),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_zstd_plane_wrong_size),
		cmocka_unit_test(test_decode_argument_errors),
		cmocka_unit_test(test_encode_argument_errors),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_given_id_same_bytes),
		cmocka_unit_test(test_allocation_failures),
		cmocka_unit_test(test_steady_state_allocates_nothing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
