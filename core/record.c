/*
 * record.c - tensor records, file recipes and Git LFS pointers: encoding
 * and strict decoding. Layouts are specified in docs/format.md; every
 * decoder validates all counts and lengths against the buffer and rejects
 * trailing bytes, so a record that decodes is safe to trust afterwards.
 */
#include "z4_core.h"

#include "z4_alloc.h"

#include <string.h>

size_t z4_tensor_nchunks(uint64_t nbytes, uint64_t chunk_size)
{
	if (chunk_size == 0)
		return 0;
	return (size_t)(nbytes / chunk_size + (nbytes % chunk_size != 0));
}

int z4_tensor_rec_encode(z4_buf *out, const z4_tensor_rec *t)
{
	z4_buf_put(out, Z4_TENSOR_MAGIC, 3);
	z4_buf_u8(out, Z4_TENSOR_VERSION);
	z4_buf_u8(out, (uint8_t)t->dtype);
	z4_buf_u8(out, (uint8_t)t->elem_size);
	z4_buf_u8(out, (uint8_t)t->ndim);
	for (unsigned i = 0; i < t->ndim; i++)
		z4_buf_varint(out, t->shape[i]);
	z4_buf_varint(out, t->nbytes);
	z4_buf_varint(out, t->chunk_size);
	z4_buf_varint(out, t->nchunks);
	for (size_t i = 0; i < t->nchunks; i++)
		z4_buf_put(out, t->chunks[i].b, Z4_ID_LEN);
	return out->err;
}

static int elem_size_ok(unsigned e)
{
	return e == 1 || e == 2 || e == 4 || e == 8;
}

int z4_tensor_rec_decode(z4_tensor_rec *out, const uint8_t *p, size_t len)
{
	z4_cur c;
	const uint8_t *magic, *ids;
	uint64_t n;

	memset(out, 0, sizeof(*out));
	z4_cur_init(&c, p, len);
	magic = z4_cur_take(&c, 3);
	if (!magic || memcmp(magic, Z4_TENSOR_MAGIC, 3) != 0)
		return z4_error_set(Z4_ECORRUPT, "tensor record: bad magic");
	if (z4_cur_u8(&c) != Z4_TENSOR_VERSION)
		return z4_error_set(Z4_EUNSUPPORTED,
				    "tensor record: unknown version");
	out->dtype = (z4_dtype)z4_cur_u8(&c);
	out->elem_size = z4_cur_u8(&c);
	out->ndim = z4_cur_u8(&c);
	if (c.err || out->dtype >= Z4_DT_COUNT || !elem_size_ok(out->elem_size) ||
	    out->ndim > Z4_ST_NDIM_MAX)
		goto corrupt;
	for (unsigned i = 0; i < out->ndim; i++)
		out->shape[i] = z4_cur_varint(&c);
	out->nbytes = z4_cur_varint(&c);
	out->chunk_size = z4_cur_varint(&c);
	n = z4_cur_varint(&c);
	if (c.err || out->chunk_size == 0 ||
	    out->chunk_size > Z4_DELTA_CHUNK_MAX ||
	    out->chunk_size % out->elem_size ||
	    out->nbytes % out->elem_size ||
	    n != z4_tensor_nchunks(out->nbytes, out->chunk_size) ||
	    n > z4_cur_left(&c) / Z4_ID_LEN)
		goto corrupt;
	if (out->dtype != Z4_DT_UNKNOWN) {
		/* shape x dtype size must give nbytes, without overflow */
		uint64_t prod = z4_dtype_size(out->dtype);
		for (unsigned i = 0; i < out->ndim; i++)
			if (__builtin_mul_overflow(prod, out->shape[i], &prod))
				goto corrupt;
		if (prod != out->nbytes)
			goto corrupt;
	}
	ids = z4_cur_take(&c, (size_t)n * Z4_ID_LEN);
	if (!ids || z4_cur_left(&c) != 0)
		goto corrupt;
	out->nchunks = (size_t)n;
	out->chunks = z4_mallocarray(n ? n : 1, sizeof(z4_id));
	if (!out->chunks)
		return z4_error_set(Z4_ENOMEM, "tensor record: out of memory");
	memcpy(out->chunks, ids, (size_t)n * Z4_ID_LEN);
	return Z4_OK;
corrupt:
	memset(out, 0, sizeof(*out));
	return z4_error_set(Z4_ECORRUPT, "tensor record: malformed");
}

void z4_tensor_rec_dispose(z4_tensor_rec *t)
{
	z4_free(t->chunks);
	memset(t, 0, sizeof(*t));
}

int z4_tensor_rec_equal_layout(const z4_tensor_rec *a, const z4_tensor_rec *b)
{
	if (a->dtype != b->dtype || a->elem_size != b->elem_size ||
	    a->ndim != b->ndim || a->nbytes != b->nbytes ||
	    a->chunk_size != b->chunk_size)
		return 0;
	for (unsigned i = 0; i < a->ndim; i++)
		if (a->shape[i] != b->shape[i])
			return 0;
	return 1;
}

int z4_recipe_encode(z4_buf *out, const z4_recipe *r)
{
	z4_buf_put(out, Z4_RECIPE_MAGIC, 3);
	z4_buf_u8(out, Z4_RECIPE_VERSION);
	z4_buf_u8(out, (uint8_t)r->file_kind);
	z4_buf_varint(out, r->file_size);
	z4_buf_varint(out, r->nseg);
	for (size_t i = 0; i < r->nseg; i++) {
		const z4_segment *s = &r->seg[i];
		z4_buf_u8(out, (uint8_t)s->kind);
		z4_buf_varint(out, s->len);
		if (s->kind == Z4_SEG_BYTES) {
			z4_buf_put(out, s->bytes, (size_t)s->len);
		} else {
			size_t nl = strlen(s->name);
			z4_buf_varint(out, nl);
			z4_buf_put(out, s->name, nl);
			z4_buf_put(out, s->tensor.b, Z4_ID_LEN);
		}
	}
	return out->err;
}

int z4_recipe_decode(z4_recipe *out, const uint8_t *p, size_t len)
{
	z4_cur c;
	const uint8_t *magic;
	uint64_t nseg, total = 0;

	memset(out, 0, sizeof(*out));
	z4_cur_init(&c, p, len);
	magic = z4_cur_take(&c, 3);
	if (!magic || memcmp(magic, Z4_RECIPE_MAGIC, 3) != 0)
		return z4_error_set(Z4_ECORRUPT, "recipe: bad magic");
	if (z4_cur_u8(&c) != Z4_RECIPE_VERSION)
		return z4_error_set(Z4_EUNSUPPORTED, "recipe: unknown version");
	out->file_kind = z4_cur_u8(&c);
	out->file_size = z4_cur_varint(&c);
	nseg = z4_cur_varint(&c);
	/* each segment needs at least 2 bytes: bound the allocation */
	if (c.err || out->file_kind > Z4_FILE_SAFETENSORS ||
	    nseg > z4_cur_left(&c) / 2)
		goto corrupt;
	out->seg = z4_calloc(nseg ? nseg : 1, sizeof(z4_segment));
	if (!out->seg)
		return z4_error_set(Z4_ENOMEM, "recipe: out of memory");
	out->nseg = (size_t)nseg;
	for (size_t i = 0; i < out->nseg; i++) {
		z4_segment *s = &out->seg[i];
		s->kind = z4_cur_u8(&c);
		s->len = z4_cur_varint(&c);
		if (c.err || __builtin_add_overflow(total, s->len, &total))
			goto corrupt;
		if (s->kind == Z4_SEG_BYTES) {
			if (s->len > z4_cur_left(&c))
				goto corrupt;
			s->bytes = z4_cur_take(&c, (size_t)s->len);
		} else if (s->kind == Z4_SEG_TENSOR) {
			uint64_t nl = z4_cur_varint(&c);
			const uint8_t *name, *id;
			if (c.err || nl > z4_cur_left(&c))
				goto corrupt;
			name = z4_cur_take(&c, (size_t)nl);
			id = z4_cur_take(&c, Z4_ID_LEN);
			if (!name || !id || memchr(name, 0, (size_t)nl))
				goto corrupt;
			s->name = z4_strndup((const char *)name, (size_t)nl);
			if (!s->name) {
				z4_recipe_dispose(out);
				return z4_error_set(Z4_ENOMEM, "recipe: out of memory");
			}
			memcpy(s->tensor.b, id, Z4_ID_LEN);
		} else {
			goto corrupt;
		}
	}
	if (c.err || z4_cur_left(&c) != 0 || total != out->file_size)
		goto corrupt;
	return Z4_OK;
corrupt:
	z4_recipe_dispose(out);
	return z4_error_set(Z4_ECORRUPT, "recipe: malformed");
}

void z4_recipe_dispose(z4_recipe *r)
{
	for (size_t i = 0; r->seg && i < r->nseg; i++)
		z4_free(r->seg[i].name);
	z4_free(r->seg);
	memset(r, 0, sizeof(*r));
}

/* ---- Git LFS v1 pointers ---- */

static const char lfs_version[] = "version https://git-lfs.github.com/spec/v1";

void z4_hex(char *out, const uint8_t *bytes, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1; /* uppercase is not canonical: rejected */
}

int z4_unhex(uint8_t *out, const char *hex, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo;
		if (hi < 0)
			return Z4_EINVAL;
		lo = hexval(hex[2 * i + 1]);
		if (lo < 0)
			return Z4_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return Z4_OK;
}

int z4_pointer_format(z4_buf *out, const z4_pointer *p)
{
	char hex[2 * Z4_SHA256_LEN + 1];
	z4_hex(hex, p->sha256, Z4_SHA256_LEN);
	return z4_buf_printf(out, "%s\noid sha256:%s\nsize %llu\n", lfs_version,
			     hex, (unsigned long long)p->size);
}

/*
 * The spec: lines "key value\n", the version line first, the other keys in
 * sorted order, each once; keys are [a-z0-9.-]; oid is "sha256:" + 64
 * lowercase hex; size a decimal without sign or leading zeros; at most 1024
 * bytes; no CR. Unknown keys (e.g. "ext-0-foo") are tolerated.
 */
int z4_pointer_parse(z4_pointer *out, const uint8_t *text, size_t len)
{
	const char *p = (const char *)text, *end = p + len;
	char prev_key[64] = "";
	int have_oid = 0, have_size = 0, line = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > Z4_POINTER_MAX || text[len - 1] != '\n' ||
	    memchr(text, '\r', len) || memchr(text, '\0', len))
		return Z4_EINVAL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *sp = memchr(p, ' ', (size_t)(nl - p));
		size_t klen, vlen;
		const char *val;

		if (!sp || sp == p)
			return Z4_EINVAL;
		klen = (size_t)(sp - p);
		val = sp + 1;
		vlen = (size_t)(nl - val);
		if (klen >= sizeof(prev_key))
			return Z4_EINVAL;
		for (size_t i = 0; i < klen; i++) {
			char ch = p[i];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			      ch == '.' || ch == '-'))
				return Z4_EINVAL;
		}
		if (line == 0) {
			if ((size_t)(nl - p) != sizeof(lfs_version) - 1 ||
			    memcmp(p, lfs_version, sizeof(lfs_version) - 1))
				return Z4_EINVAL;
		} else {
			char key[64];
			memcpy(key, p, klen);
			key[klen] = '\0';
			if (line > 1 && strcmp(key, prev_key) <= 0)
				return Z4_EINVAL; /* unsorted or repeated */
			memcpy(prev_key, key, klen + 1);
			if (strcmp(key, "oid") == 0) {
				if (vlen != 7 + 2 * Z4_SHA256_LEN ||
				    memcmp(val, "sha256:", 7) ||
				    z4_unhex(out->sha256, val + 7, Z4_SHA256_LEN))
					return Z4_EINVAL;
				have_oid = 1;
			} else if (strcmp(key, "size") == 0) {
				uint64_t v = 0;
				if (vlen == 0 || vlen > 20 ||
				    (vlen > 1 && val[0] == '0'))
					return Z4_EINVAL;
				for (size_t i = 0; i < vlen; i++) {
					if (val[i] < '0' || val[i] > '9' ||
					    __builtin_mul_overflow(v, 10, &v) ||
					    __builtin_add_overflow(v, (uint64_t)(val[i] - '0'), &v))
						return Z4_EINVAL;
				}
				out->size = v;
				have_size = 1;
			}
		}
		line++;
		p = nl + 1;
	}
	return have_oid && have_size ? Z4_OK : Z4_EINVAL;
}
