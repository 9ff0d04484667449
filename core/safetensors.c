/*
 * safetensors.c - strict parser of the safetensors header (z4_safetensors.h).
 *
 * Two passes over the JSON text:
 *  1. st_lex_*: a strict RFC 8259 validator over the raw bytes. It bounds
 *     nesting (ST_DEPTH_MAX) before cJSON recurses, rejects what cJSON would
 *     silently accept (NUL and control bytes, invalid UTF-8, "\u0000" which
 *     would cut a C string short, unpaired surrogates, "01", byte-order
 *     marks, junk after the object) and notes the first number that is not a
 *     plain integer <= 2^53 (cJSON keeps numbers as doubles, so "1.0", "1e3"
 *     or 9007199254740993 would otherwise read as some other integer).
 *  2. cJSON builds the tree of the validated text; st_entry() checks each
 *     tensor against the schema. Every input the validator accepts is one
 *     cJSON accepts, so a NULL from cJSON means it ran out of memory.
 * Then names are checked unique, tensors sorted by offset and checked not
 * to overlap.
 *
 * cJSON allocates through z4_malloc/z4_free: st_json_hooks() installs them,
 * process-wide, once (cJSON has no per-call allocator).
 */
#include "z4_safetensors.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "z4_alloc.h"
#include "z4_err.h"
#include "z4_le.h"

/* Real headers nest 3 deep (object, tensor, shape); 64 leaves room, and
 * stops a "[[[[..." bomb long before cJSON's own recursion limit. */
#define ST_DEPTH_MAX 64
/* cJSON copies a number into a 64-byte buffer; longer ones would misparse. */
#define ST_NUMBER_MAX 32
#define ST_INT_MAX (1ull << 53) /* largest integer a double holds exactly */
#define ST_QUOTE_MAX 96         /* bytes of a name shown in a message */

static const struct {
	const char *name;
	unsigned size;
} st_dtypes[Z4_DT_COUNT] = {
	[Z4_DT_UNKNOWN] = {"?", 0},    [Z4_DT_BOOL] = {"BOOL", 1},
	[Z4_DT_U8] = {"U8", 1},        [Z4_DT_I8] = {"I8", 1},
	[Z4_DT_F8_E4M3] = {"F8_E4M3", 1}, [Z4_DT_F8_E5M2] = {"F8_E5M2", 1},
	[Z4_DT_I16] = {"I16", 2},      [Z4_DT_U16] = {"U16", 2},
	[Z4_DT_F16] = {"F16", 2},      [Z4_DT_BF16] = {"BF16", 2},
	[Z4_DT_I32] = {"I32", 4},      [Z4_DT_U32] = {"U32", 4},
	[Z4_DT_F32] = {"F32", 4},      [Z4_DT_I64] = {"I64", 8},
	[Z4_DT_U64] = {"U64", 8},      [Z4_DT_F64] = {"F64", 8},
};

const char *z4_dtype_name(z4_dtype dt)
{
	if ((unsigned)dt >= Z4_DT_COUNT)
		return "?";
	return st_dtypes[dt].name;
}

z4_dtype z4_dtype_from_name(const char *name)
{
	if (!name)
		return Z4_DT_UNKNOWN;
	for (unsigned i = 1; i < Z4_DT_COUNT; i++)
		if (strcmp(name, st_dtypes[i].name) == 0)
			return (z4_dtype)i;
	return Z4_DT_UNKNOWN;
}

unsigned z4_dtype_size(z4_dtype dt)
{
	if ((unsigned)dt >= Z4_DT_COUNT)
		return 0;
	return st_dtypes[dt].size;
}

/* ---- messages ---------------------------------------------------------- */

typedef struct {
	char s[ST_QUOTE_MAX * 4 + 8];
} st_quoted;

/*
 * A name made safe for a one-line message: control bytes, quote and
 * backslash escaped, cut at ST_QUOTE_MAX bytes (on a UTF-8 boundary) with
 * "...". Returns q->s.
 */
static const char *st_quote(st_quoted *q, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = len, o = 0;
	int cut = 0;

	if (n > ST_QUOTE_MAX) {
		n = ST_QUOTE_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		cut = 1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			q->s[o++] = '\\';
			q->s[o++] = 'x';
			q->s[o++] = hex[c >> 4];
			q->s[o++] = hex[c & 15];
		} else if (c == '\'' || c == '\\') {
			q->s[o++] = '\\';
			q->s[o++] = (char)c;
		} else {
			q->s[o++] = (char)c;
		}
	}
	if (cut) {
		memcpy(q->s + o, "...", 3);
		o += 3;
	}
	q->s[o] = '\0';
	return q->s;
}

static const char *st_q(st_quoted *q, const char *s)
{
	return st_quote(q, s, strlen(s));
}

/* ---- pass 1: strict JSON validator ------------------------------------- */

typedef struct {
	const uint8_t *p;
	size_t n, pos;
	size_t key_pos, key_len; /* raw text of the current top-level key */
	/* first number that is not a plain integer <= 2^53, and its tensor */
	int odd;
	size_t odd_pos, odd_len, odd_key_pos, odd_key_len;
} st_lex;

/* Offsets in messages are file offsets (the JSON starts at byte 8). */
static int st_lex_fail(const st_lex *lx, const char *what)
{
	return z4_error_set(Z4_ECORRUPT, "header: %s at offset %llu", what,
			    (unsigned long long)lx->pos + 8);
}

static void st_lex_ws(st_lex *lx)
{
	while (lx->pos < lx->n) {
		uint8_t c = lx->p[lx->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		lx->pos++;
	}
}

static int st_hex4(const uint8_t *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Length of the valid UTF-8 sequence at p[0..left), 0 if invalid. */
static size_t st_utf8_len(const uint8_t *p, size_t left)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	/* second-byte ranges exclude overlongs, surrogates, > U+10FFFF */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (left < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

static int st_lex_string(st_lex *lx)
{
	lx->pos++; /* opening quote */
	for (;;) {
		if (lx->pos >= lx->n)
			return st_lex_fail(lx, "unterminated string");
		uint8_t c = lx->p[lx->pos];
		if (c == '"') {
			lx->pos++;
			return Z4_OK;
		}
		if (c < 0x20)
			return st_lex_fail(lx, "control byte in string");
		if (c >= 0x80) {
			size_t k = st_utf8_len(lx->p + lx->pos,
					       lx->n - lx->pos);
			if (k == 0)
				return st_lex_fail(lx,
						   "invalid utf-8 in string");
			lx->pos += k;
			continue;
		}
		if (c != '\\') {
			lx->pos++;
			continue;
		}
		if (lx->n - lx->pos < 2)
			return st_lex_fail(lx, "unterminated string");
		c = lx->p[lx->pos + 1];
		if (c != '\0' && strchr("\"\\/bfnrt", c)) {
			lx->pos += 2;
			continue;
		}
		if (c != 'u')
			return st_lex_fail(lx, "invalid escape in string");
		unsigned cp, lo;
		if (lx->n - lx->pos < 6 || st_hex4(lx->p + lx->pos + 2, &cp))
			return st_lex_fail(lx, "invalid \\u escape in string");
		if (cp == 0)
			return st_lex_fail(lx, "\\u0000 in string");
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return st_lex_fail(lx, "unpaired surrogate in string");
		if (cp >= 0xd800 && cp <= 0xdbff) {
			const uint8_t *s = lx->p + lx->pos + 6;
			if (lx->n - lx->pos < 12 || s[0] != '\\' ||
			    s[1] != 'u' || st_hex4(s + 2, &lo) ||
			    lo < 0xdc00 || lo > 0xdfff)
				return st_lex_fail(lx, "unpaired surrogate "
						       "in string");
			lx->pos += 6;
		}
		lx->pos += 6;
	}
}

static int st_isdigit(uint8_t c) { return c >= '0' && c <= '9'; }

static int st_lex_number(st_lex *lx)
{
	size_t start = lx->pos, int_digits;
	int plain = 1;
	const uint8_t *p = lx->p;

	if (p[lx->pos] == '-') {
		plain = 0;
		lx->pos++;
	}
	if (lx->pos >= lx->n || !st_isdigit(p[lx->pos]))
		return st_lex_fail(lx, "invalid number");
	if (p[lx->pos] == '0') {
		lx->pos++;
		if (lx->pos < lx->n && st_isdigit(p[lx->pos]))
			return st_lex_fail(lx, "number with a leading zero");
	} else {
		while (lx->pos < lx->n && st_isdigit(p[lx->pos]))
			lx->pos++;
	}
	int_digits = lx->pos - start - (plain ? 0 : 1);
	if (lx->pos < lx->n && p[lx->pos] == '.') {
		plain = 0;
		lx->pos++;
		if (lx->pos >= lx->n || !st_isdigit(p[lx->pos]))
			return st_lex_fail(lx, "invalid number");
		while (lx->pos < lx->n && st_isdigit(p[lx->pos]))
			lx->pos++;
	}
	if (lx->pos < lx->n && (p[lx->pos] == 'e' || p[lx->pos] == 'E')) {
		plain = 0;
		lx->pos++;
		if (lx->pos < lx->n && (p[lx->pos] == '+' || p[lx->pos] == '-'))
			lx->pos++;
		if (lx->pos >= lx->n || !st_isdigit(p[lx->pos]))
			return st_lex_fail(lx, "invalid number");
		while (lx->pos < lx->n && st_isdigit(p[lx->pos]))
			lx->pos++;
	}
	if (lx->pos - start > ST_NUMBER_MAX) {
		lx->pos = start;
		return st_lex_fail(lx, "number too long");
	}
	/* 2^53 = 9007199254740992 has 16 digits */
	if (plain && (int_digits > 16 ||
		      (int_digits == 16 &&
		       memcmp(p + start, "9007199254740992", 16) > 0)))
		plain = 0;
	if (!plain && !lx->odd) {
		lx->odd = 1;
		lx->odd_pos = start;
		lx->odd_len = lx->pos - start;
		lx->odd_key_pos = lx->key_pos;
		lx->odd_key_len = lx->key_len;
	}
	return Z4_OK;
}

static int st_lex_value(st_lex *lx, int depth);

/* '{' or '[' at lx->pos; depth is the container's own level (top = 1). */
static int st_lex_container(st_lex *lx, int depth)
{
	int is_obj = lx->p[lx->pos] == '{';
	uint8_t close = is_obj ? '}' : ']';

	if (depth > ST_DEPTH_MAX)
		return st_lex_fail(lx, "nesting deeper than 64 levels");
	lx->pos++;
	st_lex_ws(lx);
	if (lx->pos < lx->n && lx->p[lx->pos] == close) {
		lx->pos++;
		return Z4_OK;
	}
	for (;;) {
		if (is_obj) {
			size_t key = lx->pos;
			if (lx->pos >= lx->n || lx->p[lx->pos] != '"')
				return st_lex_fail(lx, "expected a string key");
			Z4_TRY(st_lex_string(lx));
			if (depth == 1) {
				lx->key_pos = key + 1;
				lx->key_len = lx->pos - key - 2;
			}
			st_lex_ws(lx);
			if (lx->pos >= lx->n || lx->p[lx->pos] != ':')
				return st_lex_fail(lx, "expected ':'");
			lx->pos++;
			st_lex_ws(lx);
		}
		Z4_TRY(st_lex_value(lx, depth + 1));
		st_lex_ws(lx);
		if (lx->pos >= lx->n)
			return st_lex_fail(lx, "unexpected end");
		if (lx->p[lx->pos] == close) {
			lx->pos++;
			return Z4_OK;
		}
		if (lx->p[lx->pos] != ',')
			return st_lex_fail(lx, is_obj ? "expected ',' or '}'"
						       : "expected ',' or ']'");
		lx->pos++;
		st_lex_ws(lx);
	}
}

static int st_lex_literal(st_lex *lx, const char *word)
{
	size_t len = strlen(word);
	if (lx->n - lx->pos < len || memcmp(lx->p + lx->pos, word, len) != 0)
		return st_lex_fail(lx, "invalid literal");
	lx->pos += len;
	return Z4_OK;
}

static int st_lex_value(st_lex *lx, int depth)
{
	if (lx->pos >= lx->n)
		return st_lex_fail(lx, "unexpected end");
	switch (lx->p[lx->pos]) {
	case '{':
	case '[':
		return st_lex_container(lx, depth);
	case '"':
		return st_lex_string(lx);
	case 't':
		return st_lex_literal(lx, "true");
	case 'f':
		return st_lex_literal(lx, "false");
	case 'n':
		return st_lex_literal(lx, "null");
	default:
		if (lx->p[lx->pos] == '-' || st_isdigit(lx->p[lx->pos]))
			return st_lex_number(lx);
		return st_lex_fail(lx, "unexpected byte");
	}
}

/*
 * Validate json[0..n); *end gets the length of the object without trailing
 * whitespace.
 */
static int st_lex_header(st_lex *lx, const uint8_t *json, size_t n,
			 size_t *end)
{
	const uint8_t *nul = memchr(json, '\0', n);

	memset(lx, 0, sizeof(*lx));
	lx->p = json;
	lx->n = n;
	if (nul) {
		lx->pos = (size_t)(nul - json);
		return st_lex_fail(lx, "nul byte");
	}
	if (json[0] != '{') {
		if (strchr(" \t\r\n", json[0]))
			return st_lex_fail(lx, "leading whitespace");
		return z4_error_set(Z4_ECORRUPT,
				    "header: not a json object (starts with "
				    "byte 0x%02x)",
				    json[0]);
	}
	Z4_TRY(st_lex_container(lx, 1));
	*end = lx->pos;
	st_lex_ws(lx);
	if (lx->pos != n)
		return st_lex_fail(lx, "trailing bytes after the json object");
	return Z4_OK;
}

/* ---- pass 2: cJSON tree against the schema ----------------------------- */

static _Thread_local int st_json_oom;

static void *st_json_malloc(size_t size)
{
	void *p = z4_malloc(size);
	if (!p)
		st_json_oom = 1;
	return p;
}

static void st_json_install(void)
{
	cJSON_Hooks hooks = {.malloc_fn = st_json_malloc, .free_fn = z4_free};
	cJSON_InitHooks(&hooks);
}

static void st_json_hooks(void)
{
	static once_flag once = ONCE_FLAG_INIT;
	call_once(&once, st_json_install);
}

/* A JSON number that is an integer in [0, 2^53]; -1 if not. */
static int st_uint(uint64_t *out, const cJSON *item)
{
	double v;

	if (!cJSON_IsNumber(item))
		return -1;
	v = item->valuedouble;
	if (!(v >= 0 && v <= (double)ST_INT_MAX))
		return -1;
	*out = (uint64_t)v;
	return (double)*out == v ? 0 : -1;
}

static int st_shape(z4_st_tensor *t, const cJSON *shape, const char *qn)
{
	const cJSON *d;
	unsigned i = 0;

	if (!cJSON_IsArray(shape))
		return z4_error_set(Z4_ECORRUPT,
				    "tensor '%s': shape is not an array", qn);
	cJSON_ArrayForEach(d, shape)
	{
		if (i == Z4_ST_NDIM_MAX)
			return z4_error_set(Z4_ECORRUPT,
					    "tensor '%s': shape has more than "
					    "%d dims",
					    qn, Z4_ST_NDIM_MAX);
		if (st_uint(&t->shape[i], d))
			return z4_error_set(Z4_ECORRUPT,
					    "tensor '%s': shape[%u] is not an "
					    "integer in [0, 2^53]",
					    qn, i);
		i++;
	}
	t->ndim = i;
	return Z4_OK;
}

static int st_offsets(uint64_t rel[2], const cJSON *offs, const char *qn)
{
	const cJSON *b = cJSON_IsArray(offs) ? offs->child : NULL;
	const cJSON *e = b ? b->next : NULL;

	if (!e || e->next)
		return z4_error_set(Z4_ECORRUPT,
				    "tensor '%s': data_offsets is not an array "
				    "of 2 integers",
				    qn);
	if (st_uint(&rel[0], b) || st_uint(&rel[1], e))
		return z4_error_set(Z4_ECORRUPT,
				    "tensor '%s': data_offsets are not "
				    "integers in [0, 2^53]",
				    qn);
	if (rel[0] > rel[1])
		return z4_error_set(Z4_ECORRUPT,
				    "tensor '%s': data_offsets [%llu, %llu] "
				    "begin after end",
				    qn, (unsigned long long)rel[0],
				    (unsigned long long)rel[1]);
	return Z4_OK;
}

/* Bytes the shape needs in dtype dt; -1 on overflow. */
static int st_nbytes(uint64_t *out, const z4_st_tensor *t)
{
	uint64_t n = z4_dtype_size(t->dtype);

	for (unsigned i = 0; i < t->ndim; i++)
		if (t->shape[i] == 0) {
			*out = 0;
			return 0;
		}
	for (unsigned i = 0; i < t->ndim; i++)
		if (__builtin_mul_overflow(n, t->shape[i], &n))
			return -1;
	*out = n;
	return 0;
}

/* Check one tensor entry and fill t (names owned by t). */
static int st_entry(z4_st_tensor *t, const cJSON *entry, uint64_t header_len,
		    uint64_t file_size)
{
	const cJSON *f, *dtype = NULL, *shape = NULL, *offs = NULL;
	st_quoted q, qf;
	const char *qn = st_q(&q, entry->string);
	uint64_t rel[2] = {0, 0}, nbytes, data_len = file_size - header_len;

	if (!cJSON_IsObject(entry))
		return z4_error_set(Z4_ECORRUPT,
				    "tensor '%s': entry is not an object", qn);
	cJSON_ArrayForEach(f, entry)
	{
		const cJSON **slot = NULL;
		if (strcmp(f->string, "dtype") == 0)
			slot = &dtype;
		else if (strcmp(f->string, "shape") == 0)
			slot = &shape;
		else if (strcmp(f->string, "data_offsets") == 0)
			slot = &offs;
		else
			return z4_error_set(Z4_ECORRUPT,
					    "tensor '%s': unknown field '%s'",
					    qn, st_q(&qf, f->string));
		if (*slot)
			return z4_error_set(Z4_ECORRUPT,
					    "tensor '%s': duplicate field '%s'",
					    qn, f->string);
		*slot = f;
	}
	if (!dtype || !shape || !offs)
		return z4_error_set(Z4_ECORRUPT,
				    "tensor '%s': missing field '%s'", qn,
				    !dtype ? "dtype"
				    : !shape ? "shape"
					     : "data_offsets");
	if (!cJSON_IsString(dtype))
		return z4_error_set(Z4_ECORRUPT,
				    "tensor '%s': dtype is not a string", qn);
	Z4_TRY(st_shape(t, shape, qn));
	Z4_TRY(st_offsets(rel, offs, qn));
	if (rel[1] > data_len)
		return z4_error_set(Z4_ECORRUPT,
				    "tensor '%s': data_offsets [%llu, %llu] "
				    "exceed the %llu-byte data section",
				    qn, (unsigned long long)rel[0],
				    (unsigned long long)rel[1],
				    (unsigned long long)data_len);
	t->dtype = z4_dtype_from_name(dtype->valuestring);
	if (t->dtype != Z4_DT_UNKNOWN) {
		if (st_nbytes(&nbytes, t))
			return z4_error_set(Z4_ECORRUPT,
					    "tensor '%s': shape product "
					    "overflows",
					    qn);
		if (nbytes != rel[1] - rel[0])
			return z4_error_set(
				Z4_ECORRUPT,
				"tensor '%s': %s shape needs %llu bytes but "
				"data_offsets [%llu, %llu] hold %llu",
				qn, z4_dtype_name(t->dtype),
				(unsigned long long)nbytes,
				(unsigned long long)rel[0],
				(unsigned long long)rel[1],
				(unsigned long long)(rel[1] - rel[0]));
	}
	t->begin = header_len + rel[0];
	t->end = header_len + rel[1];
	t->name = z4_strdup(entry->string);
	t->dtype_str = z4_strdup(dtype->valuestring);
	if (!t->name || !t->dtype_str)
		return z4_error_set(Z4_ENOMEM, "tensor '%s': out of memory",
				    qn);
	return Z4_OK;
}

static int st_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An object of string values with unique keys (sorted, not O(n^2)). */
static int st_metadata(const cJSON *meta)
{
	const cJSON *v;
	const char **keys;
	st_quoted q;
	size_t n = 0;
	int rc = Z4_OK;

	if (!cJSON_IsObject(meta))
		return z4_error_set(Z4_ECORRUPT,
				    "header: __metadata__ is not an object");
	cJSON_ArrayForEach(v, meta)
	{
		if (!cJSON_IsString(v))
			return z4_error_set(Z4_ECORRUPT,
					    "header: __metadata__ '%s' is not "
					    "a string",
					    st_q(&q, v->string));
		n++;
	}
	if (n < 2)
		return Z4_OK;
	keys = z4_mallocarray(n, sizeof(*keys));
	if (!keys)
		return z4_error_set(Z4_ENOMEM, "header: out of memory");
	n = 0;
	cJSON_ArrayForEach(v, meta)
		keys[n++] = v->string;
	qsort(keys, n, sizeof(*keys), st_cmp_str);
	for (size_t i = 1; i < n; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0) {
			rc = z4_error_set(Z4_ECORRUPT,
					  "header: duplicate __metadata__ key "
					  "'%s'",
					  st_q(&q, keys[i]));
			break;
		}
	z4_free(keys);
	return rc;
}

static int st_cmp_name(const void *a, const void *b)
{
	const z4_st_tensor *x = *(const z4_st_tensor *const *)a;
	const z4_st_tensor *y = *(const z4_st_tensor *const *)b;
	return strcmp(x->name, y->name);
}

/* File order; names break ties so the order never depends on qsort. */
static int st_cmp_offset(const void *a, const void *b)
{
	const z4_st_tensor *x = *(const z4_st_tensor *const *)a;
	const z4_st_tensor *y = *(const z4_st_tensor *const *)b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * Move t[] into the order of ord[] (pointers into t), one struct copy per
 * element: the structs are large, ord[] is cheap to sort.
 */
static void st_permute(z4_st_tensor *t, const z4_st_tensor **ord, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		z4_st_tensor tmp;
		size_t j = i, src;

		if ((size_t)(ord[i] - t) == i)
			continue;
		tmp = t[i];
		for (;;) {
			src = (size_t)(ord[j] - t);
			ord[j] = &t[j]; /* slot j is final */
			if (src == i)
				break;
			t[j] = t[src];
			j = src;
		}
		t[j] = tmp;
	}
}

/* Unique names, then sort by offset and reject overlapping data. */
static int st_order(z4_st_file *f)
{
	const z4_st_tensor **ord;
	const z4_st_tensor *last = NULL; /* non-empty, reaching furthest */
	st_quoted q1, q2;
	int rc = Z4_OK;

	if (f->count < 2)
		return Z4_OK;
	ord = z4_mallocarray(f->count, sizeof(*ord));
	if (!ord)
		return z4_error_set(Z4_ENOMEM, "header: out of memory");
	for (size_t i = 0; i < f->count; i++)
		ord[i] = &f->tensors[i];
	qsort(ord, f->count, sizeof(*ord), st_cmp_name);
	for (size_t i = 1; i < f->count; i++)
		if (strcmp(ord[i - 1]->name, ord[i]->name) == 0) {
			rc = z4_error_set(Z4_ECORRUPT,
					  "header: duplicate tensor name '%s'",
					  st_q(&q1, ord[i]->name));
			goto done;
		}
	qsort(ord, f->count, sizeof(*ord), st_cmp_offset);
	for (size_t i = 0; i < f->count; i++) {
		const z4_st_tensor *t = ord[i];
		if (t->begin == t->end)
			continue;
		if (last && t->begin < last->end) {
			rc = z4_error_set(
				Z4_ECORRUPT,
				"tensor '%s': data_offsets [%llu, %llu] "
				"overlap tensor '%s'",
				st_q(&q1, t->name),
				(unsigned long long)(t->begin - f->header_len),
				(unsigned long long)(t->end - f->header_len),
				st_q(&q2, last->name));
			goto done;
		}
		if (!last || t->end > last->end)
			last = t;
	}
	st_permute(f->tensors, ord, f->count);
done:
	z4_free(ord);
	return rc;
}

int z4_st_header_len(uint64_t *out, const uint8_t first8[8], uint64_t file_size)
{
	uint64_t n;

	*out = 0;
	if (file_size < 8)
		return z4_error_set(Z4_ECORRUPT,
				    "file of %llu bytes has no header length",
				    (unsigned long long)file_size);
	n = z4_le64(first8);
	if (n == 0)
		return z4_error_set(Z4_ECORRUPT, "header length 0");
	if (n > Z4_ST_HEADER_MAX)
		return z4_error_set(Z4_ETOOBIG,
				    "header length %llu exceeds limit %llu",
				    (unsigned long long)n,
				    (unsigned long long)Z4_ST_HEADER_MAX);
	if (n > file_size - 8)
		return z4_error_set(Z4_ECORRUPT,
				    "header length %llu exceeds file size %llu",
				    (unsigned long long)n,
				    (unsigned long long)file_size);
	*out = 8 + n;
	return Z4_OK;
}

static void st_free_tensors(z4_st_tensor *t, size_t n)
{
	if (!t)
		return;
	for (size_t i = 0; i < n; i++) {
		z4_free(t[i].name);
		z4_free(t[i].dtype_str);
	}
	z4_free(t);
}

void z4_st_dispose(z4_st_file *f)
{
	if (!f)
		return;
	st_free_tensors(f->tensors, f->count);
	memset(f, 0, sizeof(*f));
}

int z4_st_parse(z4_st_file *out, const uint8_t *head, size_t head_len,
		uint64_t file_size)
{
	z4_st_file f = {0};
	st_lex lx;
	char *text = NULL;
	cJSON *root = NULL;
	const cJSON *item, *meta = NULL;
	size_t json_len = 0, i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (head_len < 8)
		return z4_error_set(Z4_ECORRUPT,
				    "header truncated: %zu of 8 bytes",
				    head_len);
	rc = z4_st_header_len(&f.header_len, head, file_size);
	if (rc < 0)
		return rc;
	if (f.header_len != head_len)
		return z4_error_set(Z4_ECORRUPT,
				    "header is %llu bytes but %zu were given",
				    (unsigned long long)f.header_len, head_len);
	f.file_size = file_size;

	rc = st_lex_header(&lx, head + 8, head_len - 8, &json_len);
	if (rc < 0)
		return rc;
	text = z4_malloc(json_len + 1);
	if (!text)
		return z4_error_set(Z4_ENOMEM, "header: out of memory");
	memcpy(text, head + 8, json_len);
	text[json_len] = '\0';
	st_json_hooks();
	st_json_oom = 0;
	/* length counts the NUL: cJSON requires it to see the end */
	root = cJSON_ParseWithLengthOpts(text, json_len + 1, NULL, 1);
	z4_free(text);
	if (!root) {
		if (st_json_oom)
			return z4_error_set(Z4_ENOMEM, "header: out of memory");
		/* unreachable unless cJSON is stricter than st_lex */
		return z4_error_set(Z4_ECORRUPT, "header: json rejected");
	}

	cJSON_ArrayForEach(item, root)
	{
		if (strcmp(item->string, "__metadata__") != 0) {
			f.count++;
			continue;
		}
		if (meta) {
			rc = z4_error_set(Z4_ECORRUPT,
					  "header: duplicate __metadata__");
			goto done;
		}
		meta = item;
	}
	if (meta && (rc = st_metadata(meta)) < 0)
		goto done;
	if (f.count) {
		f.tensors = z4_calloc(f.count, sizeof(*f.tensors));
		if (!f.tensors) {
			rc = z4_error_set(Z4_ENOMEM, "header: out of memory");
			goto done;
		}
	}
	i = 0;
	cJSON_ArrayForEach(item, root)
	{
		if (item == meta)
			continue;
		rc = st_entry(&f.tensors[i++], item, f.header_len, file_size);
		if (rc < 0)
			goto done;
	}
	if (lx.odd) {
		st_quoted q;
		rc = z4_error_set(Z4_ECORRUPT,
				  "tensor '%s': number '%.*s' is not a plain "
				  "integer in [0, 2^53]",
				  st_quote(&q, (const char *)head + 8 +
						       lx.odd_key_pos,
					   lx.odd_key_len),
				  (int)lx.odd_len,
				  (const char *)head + 8 + lx.odd_pos);
		goto done;
	}
	rc = st_order(&f);
done:
	cJSON_Delete(root);
	if (rc < 0) {
		z4_st_dispose(&f);
		return rc;
	}
	*out = f;
	return Z4_OK;
}
