/*
 * test_safetensors.c - the strict safetensors header parser: real corpus
 * files, tiny hand-built valid files, one tiny bad file per defect (each
 * checked for its error code and reason), every byte flipped and every
 * truncation, and an allocation-failure loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>

#include "z4_alloc.h"
#include "z4_err.h"
#include "z4_le.h"
#include "z4_safetensors.h"

/* A file in memory: u64 N, the JSON, then data_len bytes of data. */
typedef struct {
	uint8_t *p;
	size_t len;
} blob;

static blob mkn(const char *json, size_t jlen, size_t data_len)
{
	blob b;
	b.len = 8 + jlen + data_len;
	b.p = malloc(b.len);
	assert_non_null(b.p);
	z4_put64(b.p, jlen);
	memcpy(b.p + 8, json, jlen);
	memset(b.p + 8 + jlen, 0xab, data_len);
	return b;
}

static blob mk(const char *json, size_t data_len)
{
	return mkn(json, strlen(json), data_len);
}

static int is_zeroed(const z4_st_file *f)
{
	static const z4_st_file zero;
	return memcmp(f, &zero, sizeof(zero)) == 0;
}

/* header_len then parse, as a reader of a file of file_size bytes would. */
static int parse_as(z4_st_file *f, const blob *b, uint64_t file_size)
{
	uint64_t hl;
	int rc;

	memset(f, 0x5a, sizeof(*f)); /* parse must zero it */
	z4_error_clear();
	rc = z4_st_header_len(&hl, b->p, file_size);
	if (rc < 0) {
		memset(f, 0, sizeof(*f));
		return rc;
	}
	assert_true(hl <= b->len);
	rc = z4_st_parse(f, b->p, (size_t)hl, file_size);
	if (rc < 0)
		assert_true(is_zeroed(f));
	return rc;
}

static int parse(z4_st_file *f, const blob *b)
{
	return parse_as(f, b, b->len);
}

/* One line, lowercase start, no trailing period. */
static void check_reason(void)
{
	const char *m = z4_error_last();
	size_t n = strlen(m);
	assert_true(n > 0);
	assert_null(strchr(m, '\n'));
	assert_true(m[n - 1] != '.');
}

static void expect_err_as(const char *json, size_t jlen, size_t data_len,
			  uint64_t file_size, int code, const char *substr)
{
	blob b = mkn(json, jlen, data_len);
	z4_st_file f;
	int rc = parse_as(&f, &b, file_size ? file_size : b.len);

	if (rc != code || (substr && !strstr(z4_error_last(), substr)))
		print_error("json %.*s\n  got %d '%s'\n  want %d '%s'\n",
			    (int)(jlen > 200 ? 200 : jlen), json, rc,
			    z4_error_last(), code, substr ? substr : "");
	assert_int_equal(rc, code);
	if (substr)
		assert_non_null(strstr(z4_error_last(), substr));
	check_reason();
	free(b.p);
}

static void expect_err(const char *json, size_t data_len, int code,
		       const char *substr)
{
	expect_err_as(json, strlen(json), data_len, 0, code, substr);
}

/* ---- dtypes ------------------------------------------------------------ */

static void test_dtype_names(void **state)
{
	static const char *names[] = {"BOOL", "U8", "I8", "F8_E4M3",
				      "F8_E5M2", "I16", "U16", "F16", "BF16",
				      "I32", "U32", "F32", "I64", "U64", "F64"};
	static const unsigned sizes[] = {1, 1, 1, 1, 1, 2, 2, 2, 2,
					 4, 4, 4, 8, 8, 8};
	(void)state;
	for (unsigned i = 0; i < 15; i++) {
		z4_dtype dt = z4_dtype_from_name(names[i]);
		assert_int_equal(dt, (z4_dtype)(i + 1));
		assert_string_equal(z4_dtype_name(dt), names[i]);
		assert_int_equal(z4_dtype_size(dt), sizes[i]);
	}
	assert_string_equal(z4_dtype_name(Z4_DT_UNKNOWN), "?");
	assert_string_equal(z4_dtype_name(Z4_DT_COUNT), "?");
	assert_int_equal(z4_dtype_size(Z4_DT_UNKNOWN), 0);
	assert_int_equal(z4_dtype_size(Z4_DT_COUNT), 0);
	assert_int_equal(z4_dtype_from_name("bf16"), Z4_DT_UNKNOWN);
	assert_int_equal(z4_dtype_from_name("F32 "), Z4_DT_UNKNOWN);
	assert_int_equal(z4_dtype_from_name("F3"), Z4_DT_UNKNOWN);
	assert_int_equal(z4_dtype_from_name(""), Z4_DT_UNKNOWN);
	assert_int_equal(z4_dtype_from_name("?"), Z4_DT_UNKNOWN);
	assert_int_equal(z4_dtype_from_name(NULL), Z4_DT_UNKNOWN);
}

/* ---- header length ----------------------------------------------------- */

static void test_header_len(void **state)
{
	uint8_t b[8];
	uint64_t out;
	(void)state;

	z4_put64(b, 2);
	assert_int_equal(z4_st_header_len(&out, b, 10), Z4_OK);
	assert_int_equal(out, 10);
	assert_int_equal(z4_st_header_len(&out, b, 1000), Z4_OK);
	assert_int_equal(out, 10);

	assert_int_equal(z4_st_header_len(&out, b, 9), Z4_ECORRUPT);
	assert_string_equal(z4_error_last(),
			    "header length 2 exceeds file size 9");
	assert_int_equal(out, 0);
	assert_int_equal(z4_st_header_len(&out, b, 7), Z4_ECORRUPT);
	check_reason();

	z4_put64(b, 0);
	assert_int_equal(z4_st_header_len(&out, b, 100), Z4_ECORRUPT);
	assert_non_null(strstr(z4_error_last(), "header length 0"));

	z4_put64(b, Z4_ST_HEADER_MAX);
	assert_int_equal(z4_st_header_len(&out, b, 8 + (uint64_t)Z4_ST_HEADER_MAX),
			 Z4_OK);
	z4_put64(b, Z4_ST_HEADER_MAX + 1ull);
	assert_int_equal(z4_st_header_len(&out, b, UINT64_MAX), Z4_ETOOBIG);
	assert_non_null(strstr(z4_error_last(), "exceeds limit"));
	z4_put64(b, UINT64_MAX);
	assert_int_equal(z4_st_header_len(&out, b, 100), Z4_ETOOBIG);
	z4_put64(b, UINT64_MAX - 7);
	assert_int_equal(z4_st_header_len(&out, b, UINT64_MAX), Z4_ETOOBIG);
	check_reason();
}

static void test_header_len_beyond_file(void **state)
{
	(void)state;
	blob b = mk("{}", 0);
	z4_st_file f;
	z4_put64(b.p, 3);
	assert_int_equal(parse(&f, &b), Z4_ECORRUPT);
	assert_string_equal(z4_error_last(),
			    "header length 3 exceeds file size 10");
	/* a huge N is refused as too big before anything is allocated */
	z4_put64(b.p, 1ull << 40);
	assert_int_equal(parse(&f, &b), Z4_ETOOBIG);
	free(b.p);
}

static void test_head_len_mismatch(void **state)
{
	(void)state;
	blob b = mk("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],"
		    "\"data_offsets\":[0,1]}}",
		    1);
	z4_st_file f;
	uint64_t hl;

	assert_int_equal(z4_st_header_len(&hl, b.p, b.len), Z4_OK);
	for (size_t n = 0; n < hl; n++) {
		memset(&f, 0x5a, sizeof(f));
		assert_int_equal(z4_st_parse(&f, b.p, n, b.len), Z4_ECORRUPT);
		assert_true(is_zeroed(&f));
		check_reason();
	}
	assert_int_equal(z4_st_parse(&f, b.p, (size_t)hl + 1, b.len),
			 Z4_ECORRUPT);
	assert_non_null(strstr(z4_error_last(), "were given"));
	assert_int_equal(z4_st_parse(&f, b.p, (size_t)hl, b.len), Z4_OK);
	z4_st_dispose(&f);
	free(b.p);
}

/* ---- real files -------------------------------------------------------- */

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *p;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	assert_int_equal(fseek(fp, 0, SEEK_SET), 0);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return p;
}

static void check_corpus_file(const char *path, size_t want_count,
			      z4_dtype want_dt)
{
	size_t len;
	uint8_t *p = read_file(path, &len);
	blob b = {p, len};
	z4_st_file f;
	uint64_t prev_end;

	int rc = parse(&f, &b);

	if (rc != Z4_OK)
		print_error("%s: %s\n", path, z4_error_last());
	assert_int_equal(rc, Z4_OK);
	assert_int_equal(f.count, want_count);
	assert_int_equal(f.file_size, len);
	assert_int_equal(f.header_len, 8 + z4_le64(p));
	prev_end = f.header_len;
	for (size_t i = 0; i < f.count; i++) {
		const z4_st_tensor *t = &f.tensors[i];
		uint64_t n = z4_dtype_size(t->dtype);
		assert_int_equal(t->dtype, want_dt);
		assert_string_equal(t->dtype_str, z4_dtype_name(want_dt));
		assert_true(t->begin >= prev_end);
		assert_true(t->end <= len);
		assert_true(t->ndim >= 1 && t->ndim <= 2);
		for (unsigned d = 0; d < t->ndim; d++)
			n *= t->shape[d];
		assert_int_equal(n, t->end - t->begin);
		assert_true(strncmp(t->name, "transformer.", 12) == 0);
		prev_end = t->end;
	}
	z4_st_dispose(&f);
	assert_true(is_zeroed(&f));
	free(p);
}

static void test_corpus(void **state)
{
	char dir[1024], path[2048];
	DIR *d;
	struct dirent *e;
	int steps = 0;
	(void)state;

	snprintf(dir, sizeof(dir), "%s/small", Z4_CORPUS_DIR);
	d = opendir(dir);
	if (!d)
		skip();
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "step-", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/model.safetensors", dir,
			 e->d_name);
		check_corpus_file(path, 40, Z4_DT_BF16);
		snprintf(path, sizeof(path), "%s/%s/model_fp32.safetensors",
			 dir, e->d_name);
		check_corpus_file(path, 40, Z4_DT_F32);
		snprintf(path, sizeof(path), "%s/%s/optim.safetensors", dir,
			 e->d_name);
		check_corpus_file(path, 80, Z4_DT_F32);
		steps++;
	}
	closedir(d);
	assert_true(steps > 0);
}

/* ---- small valid files ------------------------------------------------- */

static void test_minimal(void **state)
{
	(void)state;
	blob b = mk("{}", 0);
	z4_st_file f;
	assert_int_equal(parse(&f, &b), Z4_OK);
	assert_int_equal(f.count, 0);
	assert_null(f.tensors);
	assert_int_equal(f.header_len, 10);
	assert_int_equal(f.file_size, 10);
	z4_st_dispose(&f);
	free(b.p);

	b = mk("{ \t\r\n}", 0);
	assert_int_equal(parse(&f, &b), Z4_OK);
	z4_st_dispose(&f);
	free(b.p);
}

static void test_padding(void **state)
{
	(void)state;
	/* writers pad with spaces so the data starts 8-byte aligned */
	blob b = mk("{\"w\":{\"dtype\":\"F16\",\"shape\":[2],"
		    "\"data_offsets\":[0,4]}}      \t\r\n",
		    4);
	z4_st_file f;
	assert_int_equal(parse(&f, &b), Z4_OK);
	assert_int_equal(f.count, 1);
	assert_int_equal(f.header_len, b.len - 4);
	assert_int_equal(f.tensors[0].begin, b.len - 4);
	assert_int_equal(f.tensors[0].end, b.len);
	z4_st_dispose(&f);
	free(b.p);
}

static void test_metadata(void **state)
{
	(void)state;
	blob b = mk("{\"__metadata__\":{\"format\":\"pt\",\"step\":\"50\","
		    "\"x\":\"\\\"q\\\" \\u00e9 \\ud83d\\ude00 caf\xc3\xa9\"},"
		    "\"w\":{\"dtype\":\"I32\",\"shape\":[1],"
		    "\"data_offsets\":[0,4]}}",
		    4);
	z4_st_file f;
	assert_int_equal(parse(&f, &b), Z4_OK);
	assert_int_equal(f.count, 1);
	assert_string_equal(f.tensors[0].name, "w");
	assert_int_equal(f.tensors[0].dtype, Z4_DT_I32);
	z4_st_dispose(&f);
	free(b.p);

	b = mk("{\"__metadata__\":{}}", 0);
	assert_int_equal(parse(&f, &b), Z4_OK);
	assert_int_equal(f.count, 0);
	z4_st_dispose(&f);
	free(b.p);
}

static void test_gaps_and_trailing(void **state)
{
	(void)state;
	blob b = mk("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],"
		    "\"data_offsets\":[3,5]},"
		    "\"b\":{\"dtype\":\"U16\",\"shape\":[2,1],"
		    "\"data_offsets\":[9,13]}}",
		    20);
	z4_st_file f;
	assert_int_equal(parse(&f, &b), Z4_OK);
	assert_int_equal(f.count, 2);
	assert_int_equal(f.tensors[0].begin, f.header_len + 3);
	assert_int_equal(f.tensors[1].end, f.header_len + 13);
	assert_int_equal(f.tensors[1].ndim, 2);
	assert_int_equal(f.tensors[1].shape[0], 2);
	assert_int_equal(f.tensors[1].shape[1], 1);
	z4_st_dispose(&f);
	free(b.p);
}

static void test_unknown_dtype(void **state)
{
	(void)state;
	/* only the offsets of an unknown dtype are checked */
	blob b = mk("{\"q\":{\"dtype\":\"Q4_K\",\"shape\":[7,7],"
		    "\"data_offsets\":[0,3]},"
		    "\"l\":{\"dtype\":\"bf16\",\"shape\":[],"
		    "\"data_offsets\":[3,3]}}",
		    3);
	z4_st_file f;
	assert_int_equal(parse(&f, &b), Z4_OK);
	assert_int_equal(f.count, 2);
	assert_string_equal(f.tensors[0].name, "q");
	assert_int_equal(f.tensors[0].dtype, Z4_DT_UNKNOWN);
	assert_string_equal(f.tensors[0].dtype_str, "Q4_K");
	assert_int_equal(f.tensors[1].dtype, Z4_DT_UNKNOWN);
	assert_string_equal(f.tensors[1].dtype_str, "bf16");
	z4_st_dispose(&f);
	free(b.p);

	expect_err("{\"q\":{\"dtype\":\"Q4_K\",\"shape\":[7],"
		   "\"data_offsets\":[0,4]}}",
		   3, Z4_ECORRUPT, "tensor 'q': data_offsets [0, 4] exceed");
}

static void test_scalar_and_empty(void **state)
{
	(void)state;
	/* [] is one element; a zero dim is no bytes, even beside huge dims;
	 * empty tensors may sit anywhere, even inside another */
	blob b = mk("{\"s\":{\"dtype\":\"F64\",\"shape\":[],"
		    "\"data_offsets\":[0,8]},"
		    "\"z\":{\"dtype\":\"F32\",\"shape\":[9007199254740992,0,"
		    "9007199254740992],\"data_offsets\":[4,4]},"
		    "\"e\":{\"dtype\":\"BOOL\",\"shape\":[0],"
		    "\"data_offsets\":[8,8]},"
		    "\"f\":{\"dtype\":\"BOOL\",\"shape\":[0],"
		    "\"data_offsets\":[0,0]}}",
		    8);
	z4_st_file f;
	assert_int_equal(parse(&f, &b), Z4_OK);
	assert_int_equal(f.count, 4);
	assert_string_equal(f.tensors[0].name, "f");
	assert_string_equal(f.tensors[1].name, "s");
	assert_int_equal(f.tensors[1].ndim, 0);
	assert_string_equal(f.tensors[2].name, "z");
	assert_int_equal(f.tensors[2].ndim, 3);
	assert_string_equal(f.tensors[3].name, "e");
	z4_st_dispose(&f);
	free(b.p);
}

static void test_sorted(void **state)
{
	(void)state;
	blob b = mk("{\"d\":{\"dtype\":\"U8\",\"shape\":[2],"
		    "\"data_offsets\":[6,8]},"
		    "\"c\":{\"dtype\":\"U8\",\"shape\":[2],"
		    "\"data_offsets\":[4,6]},"
		    "\"y\":{\"dtype\":\"U8\",\"shape\":[0],"
		    "\"data_offsets\":[4,4]},"
		    "\"x\":{\"dtype\":\"U8\",\"shape\":[0],"
		    "\"data_offsets\":[4,4]},"
		    "\"a\":{\"dtype\":\"U8\",\"shape\":[4],"
		    "\"data_offsets\":[0,4]}}",
		    8);
	static const char *want[] = {"a", "x", "y", "c", "d"};
	z4_st_file f;
	assert_int_equal(parse(&f, &b), Z4_OK);
	assert_int_equal(f.count, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(f.tensors[i].name, want[i]);
	z4_st_dispose(&f);
	free(b.p);
}

static void test_many_tensors(void **state)
{
	(void)state;
	/* 300 tensors written in reverse order exercise the permutation */
	size_t cap = 300 * 80 + 16, o = 0;
	char *j = malloc(cap);
	z4_st_file f;
	assert_non_null(j);
	j[o++] = '{';
	/* group g = i / 3 holds an empty tensor, 2 bytes, then 4 bytes */
	for (int i = 299; i >= 0; i--) {
		int begin = 6 * (i / 3) + (i % 3 == 2 ? 2 : 0);
		o += (size_t)snprintf(j + o, cap - o,
				      "%s\"t%03d\":{\"dtype\":\"I16\",\"shape\":"
				      "[%d],\"data_offsets\":[%d,%d]}",
				      i == 299 ? "" : ",", i, i % 3, begin,
				      begin + 2 * (i % 3));
	}
	j[o++] = '}';
	j[o] = '\0';
	blob b = mk(j, 600);
	assert_int_equal(parse(&f, &b), Z4_OK);
	assert_int_equal(f.count, 300);
	for (size_t i = 1; i < f.count; i++) {
		const z4_st_tensor *p = &f.tensors[i - 1], *t = &f.tensors[i];
		assert_true(p->begin < t->begin ||
			    (p->begin == t->begin &&
			     (p->end < t->end ||
			      (p->end == t->end &&
			       strcmp(p->name, t->name) < 0))));
	}
	z4_st_dispose(&f);
	free(b.p);
	free(j);
}

static void test_limits(void **state)
{
	(void)state;
	uint64_t huge = 1ull << 60; /* only the header is read */
	z4_st_file f;
	blob b = mk("{\"big\":{\"dtype\":\"U8\",\"shape\":[9007199254740992],"
		    "\"data_offsets\":[0,9007199254740992]}}",
		    0);
	assert_int_equal(parse_as(&f, &b, huge), Z4_OK);
	assert_int_equal(f.tensors[0].shape[0], 1ull << 53);
	assert_int_equal(f.tensors[0].end - f.tensors[0].begin, 1ull << 53);
	z4_st_dispose(&f);
	free(b.p);

	/* 64 dims is the most */
	char j[512];
	size_t o = (size_t)snprintf(j, sizeof(j),
				    "{\"m\":{\"dtype\":\"U8\",\"shape\":[1");
	for (int i = 1; i < Z4_ST_NDIM_MAX; i++)
		o += (size_t)snprintf(j + o, sizeof(j) - o, ",1");
	snprintf(j + o, sizeof(j) - o, "],\"data_offsets\":[0,1]}}");
	b = mk(j, 1);
	assert_int_equal(parse(&f, &b), Z4_OK);
	assert_int_equal(f.tensors[0].ndim, Z4_ST_NDIM_MAX);
	z4_st_dispose(&f);
	free(b.p);

	/* one more dim is one too many */
	o = (size_t)snprintf(j, sizeof(j),
			     "{\"m\":{\"dtype\":\"U8\",\"shape\":[1");
	for (int i = 0; i < Z4_ST_NDIM_MAX; i++)
		o += (size_t)snprintf(j + o, sizeof(j) - o, ",1");
	snprintf(j + o, sizeof(j) - o, "],\"data_offsets\":[0,1]}}");
	expect_err(j, 1, Z4_ECORRUPT, "tensor 'm': shape has more than 64 dims");

	/* 2^53 + 1 reads as 2^53 in a double: caught from the text */
	expect_err_as("{\"big\":{\"dtype\":\"U8\",\"shape\":[9007199254740993],"
		      "\"data_offsets\":[0,9007199254740992]}}",
		      strlen("{\"big\":{\"dtype\":\"U8\",\"shape\":"
			     "[9007199254740993],\"data_offsets\":[0,"
			     "9007199254740992]}}"),
		      0, huge, Z4_ECORRUPT,
		      "tensor 'big': number '9007199254740993' is not a plain "
		      "integer");
	expect_err_as("{\"big\":{\"dtype\":\"U8\",\"shape\":[9007199254740994],"
		      "\"data_offsets\":[0,1]}}",
		      strlen("{\"big\":{\"dtype\":\"U8\",\"shape\":"
			     "[9007199254740994],\"data_offsets\":[0,1]}}"),
		      0, huge, Z4_ECORRUPT,
		      "tensor 'big': shape[0] is not an integer in [0, 2^53]");
}

static void test_dispose_zeroed(void **state)
{
	(void)state;
	z4_st_file f;
	memset(&f, 0, sizeof(f));
	z4_st_dispose(&f);
	z4_st_dispose(&f);
	z4_st_dispose(NULL);
}

/* ---- one tiny bad file per defect -------------------------------------- */

#define T1(body) "{\"a\":{" body "}}"
#define OK_A "\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]"

static const struct {
	const char *name, *json;
	size_t data_len;
	int code;
	const char *reason;
} bad[] = {
	{"not json", "hello", 0, Z4_ECORRUPT, "not a json object"},
	{"array top level", "[]", 0, Z4_ECORRUPT, "not a json object"},
	{"string top level", "\"{}\"", 0, Z4_ECORRUPT, "not a json object"},
	{"byte order mark", "\xef\xbb\xbf{}", 0, Z4_ECORRUPT,
	 "not a json object"},
	{"leading whitespace", " {}", 0, Z4_ECORRUPT, "leading whitespace"},
	{"trailing garbage", "{} x", 0, Z4_ECORRUPT,
	 "trailing bytes after the json object at offset 11"},
	{"trailing brace", "{}}", 0, Z4_ECORRUPT, "trailing bytes"},
	{"two objects", "{}{}", 0, Z4_ECORRUPT, "trailing bytes"},
	{"unterminated object", "{\"a\":", 0, Z4_ECORRUPT, "unexpected end"},
	{"unterminated string", "{\"a", 0, Z4_ECORRUPT,
	 "unterminated string"},
	{"trailing comma", "{\"__metadata__\":{},}", 0, Z4_ECORRUPT,
	 "expected a string key"},
	{"missing colon", "{\"a\" 1}", 0, Z4_ECORRUPT, "expected ':'"},
	{"missing comma", "{\"a\":{} \"b\":{}}", 0, Z4_ECORRUPT,
	 "expected ',' or '}'"},
	{"bare key", "{a:1}", 0, Z4_ECORRUPT, "expected a string key"},
	{"bad literal", T1("\"dtype\":tru"), 0, Z4_ECORRUPT,
	 "invalid literal"},
	{"single quotes", "{'a':1}", 0, Z4_ECORRUPT, "expected a string key"},
	{"leading zero", T1("\"dtype\":\"U8\",\"shape\":[01],"
			    "\"data_offsets\":[0,1]"),
	 1, Z4_ECORRUPT, "leading zero"},
	{"plus sign", T1("\"dtype\":\"U8\",\"shape\":[+1],"
			 "\"data_offsets\":[0,1]"),
	 1, Z4_ECORRUPT, "unexpected byte"},
	{"bare fraction", T1("\"dtype\":\"U8\",\"shape\":[1.],"
			     "\"data_offsets\":[0,1]"),
	 1, Z4_ECORRUPT, "invalid number"},
	{"number too long", T1("\"dtype\":\"U8\",\"shape\":["
			       "1000000000000000000000000000000000000000],"
			       "\"data_offsets\":[0,1]"),
	 1, Z4_ECORRUPT, "number too long"},
	{"control byte in string", "{\"a\tb\":{}}", 0, Z4_ECORRUPT,
	 "control byte in string"},
	{"invalid escape", "{\"a\\qb\":{}}", 0, Z4_ECORRUPT,
	 "invalid escape"},
	{"short unicode escape", "{\"\\u12\":{}}", 0, Z4_ECORRUPT,
	 "invalid \\u escape"},
	{"escaped nul", "{\"a\\u0000b\":{" OK_A "}}", 4, Z4_ECORRUPT,
	 "\\u0000 in string"},
	{"lone low surrogate", "{\"\\udc00\":{}}", 0, Z4_ECORRUPT,
	 "unpaired surrogate"},
	{"lone high surrogate", "{\"\\ud800x\":{}}", 0, Z4_ECORRUPT,
	 "unpaired surrogate"},
	{"high surrogate pair", "{\"\\ud800\\ud800\":{}}", 0, Z4_ECORRUPT,
	 "unpaired surrogate"},
	{"invalid utf-8", "{\"\xff\":{}}", 0, Z4_ECORRUPT, "invalid utf-8"},
	{"overlong utf-8", "{\"\xc0\xaf\":{}}", 0, Z4_ECORRUPT,
	 "invalid utf-8"},
	{"utf-8 surrogate", "{\"\xed\xa0\x80\":{}}", 0, Z4_ECORRUPT,
	 "invalid utf-8"},
	{"truncated utf-8", "{\"\xe2\x82\":{}}", 0, Z4_ECORRUPT,
	 "invalid utf-8"},
	{"utf-8 above U+10FFFF", "{\"\xf4\x90\x80\x80\":{}}", 0, Z4_ECORRUPT,
	 "invalid utf-8"},
	{"duplicate tensor names",
	 "{\"a\":{" OK_A "},\"b\":{\"dtype\":\"U8\",\"shape\":[4],"
	 "\"data_offsets\":[4,8]},\"a\":{\"dtype\":\"U8\",\"shape\":[0],"
	 "\"data_offsets\":[8,8]}}",
	 8, Z4_ECORRUPT, "duplicate tensor name 'a'"},
	{"duplicate names by escape",
	 "{\"a\":{" OK_A "},\"\\u0061\":{\"dtype\":\"U8\",\"shape\":[0],"
	 "\"data_offsets\":[4,4]}}",
	 4, Z4_ECORRUPT, "duplicate tensor name 'a'"},
	{"duplicate field", T1("\"dtype\":\"U8\"," OK_A), 4, Z4_ECORRUPT,
	 "tensor 'a': duplicate field 'dtype'"},
	{"missing dtype", T1("\"shape\":[4],\"data_offsets\":[0,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': missing field 'dtype'"},
	{"missing shape", T1("\"dtype\":\"U8\",\"data_offsets\":[0,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': missing field 'shape'"},
	{"missing offsets", T1("\"dtype\":\"U8\",\"shape\":[4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': missing field 'data_offsets'"},
	{"empty entry", T1(""), 0, Z4_ECORRUPT, "missing field 'dtype'"},
	{"extra field", T1(OK_A ",\"extra\":1"), 4, Z4_ECORRUPT,
	 "tensor 'a': unknown field 'extra'"},
	{"field case", T1("\"Dtype\":\"U8\"," OK_A), 4, Z4_ECORRUPT,
	 "tensor 'a': unknown field 'Dtype'"},
	{"entry not object", "{\"a\":[]}", 0, Z4_ECORRUPT,
	 "tensor 'a': entry is not an object"},
	{"entry null", "{\"a\":null}", 0, Z4_ECORRUPT,
	 "tensor 'a': entry is not an object"},
	{"dtype not string",
	 T1("\"dtype\":5,\"shape\":[4],\"data_offsets\":[0,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': dtype is not a string"},
	{"dtype null",
	 T1("\"dtype\":null,\"shape\":[4],\"data_offsets\":[0,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': dtype is not a string"},
	{"shape not array",
	 T1("\"dtype\":\"U8\",\"shape\":4,\"data_offsets\":[0,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': shape is not an array"},
	{"negative shape",
	 T1("\"dtype\":\"U8\",\"shape\":[-4],\"data_offsets\":[0,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': shape[0] is not an integer in [0, 2^53]"},
	{"fractional shape",
	 T1("\"dtype\":\"U8\",\"shape\":[2,1.5],\"data_offsets\":[0,3]"), 4,
	 Z4_ECORRUPT, "tensor 'a': shape[1] is not an integer in [0, 2^53]"},
	{"shape of strings",
	 T1("\"dtype\":\"U8\",\"shape\":[\"4\"],\"data_offsets\":[0,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': shape[0] is not an integer"},
	{"shape of arrays",
	 T1("\"dtype\":\"U8\",\"shape\":[[4]],\"data_offsets\":[0,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': shape[0] is not an integer"},
	{"shape true",
	 T1("\"dtype\":\"U8\",\"shape\":[true],\"data_offsets\":[0,1]"), 4,
	 Z4_ECORRUPT, "tensor 'a': shape[0] is not an integer"},
	{"shape exponent 1e300",
	 T1("\"dtype\":\"U8\",\"shape\":[1e300],\"data_offsets\":[0,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': shape[0] is not an integer"},
	{"shape written 4.0",
	 T1("\"dtype\":\"U8\",\"shape\":[4.0],\"data_offsets\":[0,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': number '4.0' is not a plain integer"},
	{"shape written 4e0",
	 T1("\"dtype\":\"U8\",\"shape\":[4e0],\"data_offsets\":[0,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': number '4e0' is not a plain integer"},
	{"offset written -0",
	 T1("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-0,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': number '-0' is not a plain integer"},
	{"offsets one", T1("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4]"),
	 4, Z4_ECORRUPT,
	 "tensor 'a': data_offsets is not an array of 2 integers"},
	{"offsets three",
	 T1("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4,4]"), 4,
	 Z4_ECORRUPT, "tensor 'a': data_offsets is not an array of 2"},
	{"offsets empty",
	 T1("\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[]"), 4,
	 Z4_ECORRUPT, "tensor 'a': data_offsets is not an array of 2"},
	{"offsets object",
	 T1("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":{\"a\":0,\"b\":4}"),
	 4, Z4_ECORRUPT, "tensor 'a': data_offsets is not an array of 2"},
	{"offsets negative",
	 T1("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-1,3]"), 4,
	 Z4_ECORRUPT, "tensor 'a': data_offsets are not integers"},
	{"offsets fractional",
	 T1("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4.5]"), 5,
	 Z4_ECORRUPT, "tensor 'a': data_offsets are not integers"},
	{"offsets reversed",
	 T1("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,0]"), 4,
	 Z4_ECORRUPT, "tensor 'a': data_offsets [4, 0] begin after end"},
	{"offsets beyond file", T1(OK_A), 3, Z4_ECORRUPT,
	 "tensor 'a': data_offsets [0, 4] exceed the 3-byte data section"},
	{"offsets far beyond file",
	 T1("\"dtype\":\"U8\",\"shape\":[0],"
	    "\"data_offsets\":[9007199254740992,9007199254740992]"),
	 3, Z4_ECORRUPT, "exceed the 3-byte data section"},
	{"overlap",
	 "{\"a\":{" OK_A "},\"b\":{\"dtype\":\"U8\",\"shape\":[4],"
	 "\"data_offsets\":[2,6]}}",
	 6, Z4_ECORRUPT, "tensor 'b': data_offsets [2, 6] overlap tensor 'a'"},
	{"overlap contained",
	 "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[5,6]},"
	 "\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
	 "\"c\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[7,8]}}",
	 8, Z4_ECORRUPT, "tensor 'b': data_offsets [5, 6] overlap tensor 'a'"},
	{"overlap same range",
	 "{\"b\":{" OK_A "},\"a\":{" OK_A "}}", 4, Z4_ECORRUPT,
	 "tensor 'b': data_offsets [0, 4] overlap tensor 'a'"},
	{"byte length != shape",
	 T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"), 8,
	 Z4_ECORRUPT,
	 "tensor 'a': F32 shape needs 8 bytes but data_offsets [0, 4] hold 4"},
	{"scalar with no bytes",
	 T1("\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,0]"), 8,
	 Z4_ECORRUPT, "BF16 shape needs 2 bytes"},
	{"shape product overflow",
	 T1("\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
	    "\"data_offsets\":[0,0]"),
	 0, Z4_ECORRUPT, "tensor 'a': shape product overflows"},
	{"shape bytes overflow",
	 T1("\"dtype\":\"F64\",\"shape\":[2147483648,2147483648],"
	    "\"data_offsets\":[0,0]"),
	 0, Z4_ECORRUPT, "tensor 'a': shape product overflows"},
	{"metadata non-string",
	 "{\"__metadata__\":{\"format\":\"pt\",\"step\":50}}", 0, Z4_ECORRUPT,
	 "__metadata__ 'step' is not a string"},
	{"metadata null value", "{\"__metadata__\":{\"x\":null}}", 0,
	 Z4_ECORRUPT, "__metadata__ 'x' is not a string"},
	{"metadata not object", "{\"__metadata__\":\"pt\"}", 0, Z4_ECORRUPT,
	 "__metadata__ is not an object"},
	{"metadata null", "{\"__metadata__\":null}", 0, Z4_ECORRUPT,
	 "__metadata__ is not an object"},
	{"metadata duplicate key",
	 "{\"__metadata__\":{\"k\":\"1\",\"j\":\"2\",\"k\":\"3\"}}", 0,
	 Z4_ECORRUPT, "duplicate __metadata__ key 'k'"},
	{"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
	 Z4_ECORRUPT, "duplicate __metadata__"},
	{"name quoted in reason", "{\"x\\n'y\":5}", 0, Z4_ECORRUPT,
	 "tensor 'x\\x0a\\'y': entry is not an object"},
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (getenv("Z4_TEST_VERBOSE"))
			print_message("bad: %s\n", bad[i].name);
		expect_err(bad[i].json, bad[i].data_len, bad[i].code,
			   bad[i].reason);
	}
}

static void test_long_name_in_reason(void **state)
{
	(void)state;
	char j[2048];
	size_t o = 0;
	j[o++] = '{';
	j[o++] = '"';
	for (int i = 0; i < 1000; i++)
		j[o++] = 'n';
	memcpy(j + o, "\":1}", 5);
	expect_err(j, 0, Z4_ECORRUPT, "tensor 'nnnn");
	assert_non_null(strstr(z4_error_last(), "...': entry is not an object"));
	assert_true(strlen(z4_error_last()) < 200);
}

/* {"a":[[...]]} with `arrays` levels of arrays; returns the length. */
static size_t nested(char *k, int arrays)
{
	size_t o = 0;
	memcpy(k, "{\"a\":", 5);
	o = 5;
	for (int i = 0; i < arrays; i++)
		k[o++] = '[';
	for (int i = 0; i < arrays; i++)
		k[o++] = ']';
	k[o++] = '}';
	return o;
}

static void test_nesting_bomb(void **state)
{
	(void)state;
	size_t n = 100000, o;
	char *j = malloc(n + 8);
	assert_non_null(j);
	memset(j, '[', n);
	expect_err_as(j, n, 0, 0, Z4_ECORRUPT, "not a json object");

	memcpy(j, "{\"a\":", 5);
	expect_err_as(j, n, 0, 0, Z4_ECORRUPT, "nesting deeper than 64");
	/* nested objects */
	o = 0;
	j[o++] = '{';
	for (int i = 0; i < 100; i++) {
		memcpy(j + o, "\"a\":{", 5);
		o += 5;
	}
	expect_err_as(j, o, 0, 0, Z4_ECORRUPT, "nesting deeper than 64");
	free(j);

	/* the object and 63 arrays make 64 levels: the schema rejects them,
	 * not the nesting; one more array is too deep */
	char k[256];
	o = nested(k, 63);
	expect_err_as(k, o, 0, 0, Z4_ECORRUPT, "entry is not an object");
	o = nested(k, 64);
	expect_err_as(k, o, 0, 0, Z4_ECORRUPT, "nesting deeper than 64");
}

static void test_embedded_nul(void **state)
{
	(void)state;
	static const char j1[] = "{\"a\0\":{}}";
	static const char j2[] = "{}\0";
	static const char j3[] = "{\0}";
	static const char j4[] = "\0{}";
	expect_err_as(j1, sizeof(j1) - 1, 0, 0, Z4_ECORRUPT,
		      "nul byte at offset 11");
	expect_err_as(j2, sizeof(j2) - 1, 0, 0, Z4_ECORRUPT, "nul byte");
	expect_err_as(j3, sizeof(j3) - 1, 0, 0, Z4_ECORRUPT, "nul byte");
	expect_err_as(j4, sizeof(j4) - 1, 0, 0, Z4_ECORRUPT, "nul byte");
}

/* ---- robustness -------------------------------------------------------- */

static const char sample[] =
	"{\"__metadata__\":{\"format\":\"pt\",\"k\\u00e9\":\"v\"},"
	"\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]},"
	"\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	"\"e\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[16,16]},"
	"\"q\":{\"dtype\":\"Q4\",\"shape\":[],\"data_offsets\":[16,20]}}  ";

static void test_flip_and_truncate(void **state)
{
	(void)state;
	blob b = mk(sample, 24);
	z4_st_file f;
	int rc;

	assert_int_equal(parse(&f, &b), Z4_OK);
	assert_int_equal(f.count, 4);
	z4_st_dispose(&f);

	/* every byte of the header, flipped each way */
	for (size_t i = 0; i < b.len - 24; i++) {
		static const uint8_t masks[] = {0x01, 0x20, 0x80, 0xff};
		for (size_t m = 0; m < sizeof(masks); m++) {
			b.p[i] ^= masks[m];
			rc = parse(&f, &b);
			assert_true(rc == Z4_OK || rc == Z4_ECORRUPT ||
				    rc == Z4_ETOOBIG);
			if (rc == Z4_OK)
				z4_st_dispose(&f);
			else
				check_reason();
			b.p[i] ^= masks[m];
		}
	}
	/* every truncation of the file: fine once all data is there */
	for (size_t n = 0; n < b.len; n++) {
		rc = n < 8 ? z4_st_header_len(&(uint64_t){0}, b.p, n)
			   : parse_as(&f, &b, n);
		if (n < b.len - 4)
			assert_int_equal(rc, Z4_ECORRUPT);
		else
			assert_int_equal(rc, Z4_OK);
		if (rc == Z4_OK)
			z4_st_dispose(&f);
	}
	free(b.p);
}

static void test_oom(void **state)
{
	(void)state;
	blob b = mk(sample, 24);
	z4_st_file f;
	long n;
	int rc = Z4_ENOMEM;

	for (n = 0; n < 10000 && rc == Z4_ENOMEM; n++) {
		memset(&f, 0x5a, sizeof(f));
		z4_alloc_fail_after(n);
		rc = z4_st_parse(&f, b.p, b.len - 24, b.len);
		z4_alloc_fail_after(-1);
		if (rc == Z4_ENOMEM) {
			assert_true(is_zeroed(&f));
			check_reason();
		}
	}
	assert_int_equal(rc, Z4_OK);
	assert_true(n > 10); /* cJSON's allocations were counted too */
	assert_int_equal(f.count, 4);
	assert_string_equal(f.tensors[0].name, "a");
	assert_string_equal(f.tensors[3].name, "q");
	z4_st_dispose(&f);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dtype_names),
		cmocka_unit_test(test_header_len),
		cmocka_unit_test(test_header_len_beyond_file),
		cmocka_unit_test(test_head_len_mismatch),
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_gaps_and_trailing),
		cmocka_unit_test(test_unknown_dtype),
		cmocka_unit_test(test_scalar_and_empty),
		cmocka_unit_test(test_sorted),
		cmocka_unit_test(test_many_tensors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_dispose_zeroed),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_long_name_in_reason),
		cmocka_unit_test(test_nesting_bomb),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_flip_and_truncate),
		cmocka_unit_test(test_oom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
