/* test_record.c - tensor records, recipes and Git LFS pointers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "z4_alloc.h"
#include "z4_core.h"

static const char good_ptr[] =
	"version https://git-lfs.github.com/spec/v1\n"
	"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
	"size 12345\n";

static void pointer_round_trip(void **state)
{
	z4_pointer p;
	z4_buf b;
	(void)state;
	assert_int_equal(z4_pointer_parse(&p, (const uint8_t *)good_ptr, strlen(good_ptr)), 0);
	assert_int_equal(p.size, 12345);
	assert_int_equal(p.sha256[0], 0x4d);
	z4_buf_init(&b, 1024);
	assert_int_equal(z4_pointer_format(&b, &p), 0);
	assert_int_equal(b.len, strlen(good_ptr));
	assert_memory_equal(b.ptr, good_ptr, b.len);
	z4_buf_dispose(&b);
}

static int parses(const char *s)
{
	z4_pointer p;
	return z4_pointer_parse(&p, (const uint8_t *)s, strlen(s)) == 0;
}

static void pointer_rejects(void **state)
{
	char buf[2048];
	(void)state;
	/* extension keys sort before oid and are tolerated */
	assert_true(parses("version https://git-lfs.github.com/spec/v1\n"
			   "ext-0-foo sha256:abc\n"
			   "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
			   "size 1\n"));
	assert_false(parses(""));
	assert_false(parses("version https://git-lfs.github.com/spec/v1\r\n"
			    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\r\n"
			    "size 1\r\n"));
	/* no trailing newline */
	assert_false(parses("version https://git-lfs.github.com/spec/v1\n"
			    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
			    "size 1"));
	/* uppercase hex, short hex, other algorithm */
	assert_false(parses("version https://git-lfs.github.com/spec/v1\n"
			    "oid sha256:4D7A214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
			    "size 1\n"));
	assert_false(parses("version https://git-lfs.github.com/spec/v1\n"
			    "oid sha256:4d7a\nsize 1\n"));
	assert_false(parses("version https://git-lfs.github.com/spec/v1\n"
			    "oid md5:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
			    "size 1\n"));
	/* wrong order, missing size, bad size */
	assert_false(parses("version https://git-lfs.github.com/spec/v1\n"
			    "size 1\n"
			    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"));
	assert_false(parses("version https://git-lfs.github.com/spec/v1\n"
			    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"));
	assert_false(parses("version https://git-lfs.github.com/spec/v1\n"
			    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
			    "size 012\n"));
	assert_false(parses("version https://git-lfs.github.com/spec/v1\n"
			    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
			    "size 99999999999999999999999\n"));
	assert_false(parses("version https://git-lfs.github.com/spec/v2\n"
			    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
			    "size 1\n"));
	/* over 1024 bytes */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, good_ptr, sizeof(good_ptr));
	for (size_t i = strlen(buf); i < 1100; i += 10)
		memcpy(buf + i, "zzzz abcd\n", 10);
	assert_false(parses(buf));
}

static z4_tensor_rec sample_tensor(void)
{
	z4_tensor_rec t = {0};
	t.dtype = Z4_DT_BF16;
	t.elem_size = 2;
	t.ndim = 2;
	t.shape[0] = 3000;
	t.shape[1] = 1000;
	t.nbytes = 6000000;
	t.chunk_size = 4u << 20;
	t.nchunks = 2;
	t.chunks = z4_calloc(2, sizeof(z4_id));
	t.chunks[0].b[0] = 1;
	t.chunks[1].b[15] = 2;
	return t;
}

static void tensor_round_trip(void **state)
{
	z4_tensor_rec t = sample_tensor(), u;
	z4_buf b;
	(void)state;
	z4_buf_init(&b, 1 << 20);
	assert_int_equal(z4_tensor_rec_encode(&b, &t), 0);
	assert_int_equal(z4_tensor_rec_decode(&u, b.ptr, b.len), 0);
	assert_true(z4_tensor_rec_equal_layout(&t, &u));
	assert_int_equal(u.nchunks, 2);
	assert_memory_equal(u.chunks, t.chunks, 2 * sizeof(z4_id));
	z4_tensor_rec_dispose(&u);
	/* every truncation and trailing garbage is corrupt */
	for (size_t n = 0; n < b.len; n++)
		assert_int_not_equal(z4_tensor_rec_decode(&u, b.ptr, n), 0);
	z4_buf_u8(&b, 0);
	assert_int_equal(z4_tensor_rec_decode(&u, b.ptr, b.len), Z4_ECORRUPT);
	z4_buf_dispose(&b);
	/* shape that disagrees with nbytes */
	t.shape[0] = 3001;
	z4_buf_init(&b, 1 << 20);
	z4_tensor_rec_encode(&b, &t);
	assert_int_equal(z4_tensor_rec_decode(&u, b.ptr, b.len), Z4_ECORRUPT);
	z4_buf_dispose(&b);
	/* a chunk count claiming more ids than bytes present */
	t.shape[0] = 3000;
	t.nchunks = 2;
	z4_tensor_rec_dispose(&t);
}

static void recipe_round_trip(void **state)
{
	z4_segment seg[3] = {
		{.kind = Z4_SEG_BYTES, .len = 5, .bytes = (const uint8_t *)"hello"},
		{.kind = Z4_SEG_TENSOR, .len = 100, .name = (char *)"w"},
		{.kind = Z4_SEG_BYTES, .len = 3, .bytes = (const uint8_t *)"end"},
	};
	z4_recipe r = {.file_kind = Z4_FILE_SAFETENSORS, .file_size = 108, .nseg = 3,
		       .seg = seg}, u;
	z4_buf b;
	(void)state;
	seg[1].tensor.b[3] = 9;
	z4_buf_init(&b, 1 << 20);
	assert_int_equal(z4_recipe_encode(&b, &r), 0);
	assert_int_equal(z4_recipe_decode(&u, b.ptr, b.len), 0);
	assert_int_equal(u.nseg, 3);
	assert_string_equal(u.seg[1].name, "w");
	assert_memory_equal(u.seg[0].bytes, "hello", 5);
	assert_int_equal(u.seg[1].tensor.b[3], 9);
	z4_recipe_dispose(&u);
	for (size_t n = 0; n < b.len; n++)
		assert_int_not_equal(z4_recipe_decode(&u, b.ptr, n), 0);
	/* flipping any byte must never crash; most are detected */
	for (size_t i = 0; i < b.len; i++) {
		b.ptr[i] ^= 0x5a;
		if (z4_recipe_decode(&u, b.ptr, b.len) == 0)
			z4_recipe_dispose(&u);
		b.ptr[i] ^= 0x5a;
	}
	z4_buf_dispose(&b);
	/* sizes that don't add up */
	r.file_size = 107;
	z4_buf_init(&b, 1 << 20);
	z4_recipe_encode(&b, &r);
	assert_int_equal(z4_recipe_decode(&u, b.ptr, b.len), Z4_ECORRUPT);
	z4_buf_dispose(&b);
}

static void varint_bounds(void **state)
{
	static const uint8_t overlong[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					     0xff, 0xff, 0xff, 0xff, 0x01};
	static const uint8_t noncanon[2] = {0x80, 0x00};
	z4_cur c;
	z4_buf b;
	(void)state;
	z4_cur_init(&c, overlong, sizeof(overlong));
	z4_cur_varint(&c);
	assert_int_not_equal(c.err, 0);
	z4_cur_init(&c, noncanon, sizeof(noncanon));
	z4_cur_varint(&c);
	assert_int_not_equal(c.err, 0);
	z4_buf_init(&b, 64);
	z4_buf_varint(&b, UINT64_MAX);
	z4_cur_init(&c, b.ptr, b.len);
	assert_true(z4_cur_varint(&c) == UINT64_MAX);
	assert_int_equal(c.err, 0);
	z4_buf_dispose(&b);
	/* a buffer refuses to grow past its max */
	z4_buf_init(&b, 4);
	assert_int_equal(z4_buf_put(&b, "12345", 5), Z4_ETOOBIG);
	z4_buf_dispose(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pointer_round_trip),
		cmocka_unit_test(pointer_rejects),
		cmocka_unit_test(tensor_round_trip),
		cmocka_unit_test(recipe_round_trip),
		cmocka_unit_test(varint_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
