/* z4_buf.c - bounded growable buffer and checked cursor. */
#include "z4_buf.h"

#include "z4_alloc.h"
#include "z4_err.h"
#include "z4_le.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void z4_buf_init(z4_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void z4_buf_dispose(z4_buf *b)
{
	z4_free(b->ptr);
	memset(b, 0, sizeof(*b));
}

int z4_buf_reserve(z4_buf *b, size_t extra)
{
	size_t need, ncap;
	uint8_t *np;

	if (b->err)
		return b->err;
	if (z4_add_overflow(&need, b->len, extra) ||
	    z4_add_overflow(&need, need, 1) || need > b->max + 1)
		return b->err = Z4_ETOOBIG;
	if (need <= b->cap)
		return Z4_OK;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	np = z4_realloc(b->ptr, ncap);
	if (!np)
		return b->err = Z4_ENOMEM;
	b->ptr = np;
	b->cap = ncap;
	return Z4_OK;
}

int z4_buf_put(z4_buf *b, const void *data, size_t len)
{
	if (z4_buf_reserve(b, len))
		return b->err;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return Z4_OK;
}

int z4_buf_puts(z4_buf *b, const char *s) { return z4_buf_put(b, s, strlen(s)); }

int z4_buf_printf(z4_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return b->err = Z4_EINVAL;
	if (z4_buf_reserve(b, (size_t)n))
		return b->err;
	va_start(ap, fmt);
	vsnprintf((char *)b->ptr + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return Z4_OK;
}

int z4_buf_u8(z4_buf *b, uint8_t v) { return z4_buf_put(b, &v, 1); }

int z4_buf_u32(z4_buf *b, uint32_t v)
{
	uint8_t t[4];
	z4_put32(t, v);
	return z4_buf_put(b, t, 4);
}

int z4_buf_u64(z4_buf *b, uint64_t v)
{
	uint8_t t[8];
	z4_put64(t, v);
	return z4_buf_put(b, t, 8);
}

int z4_buf_varint(z4_buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;
	do {
		t[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			t[n] |= 0x80;
		n++;
	} while (v);
	return z4_buf_put(b, t, n);
}

uint8_t *z4_buf_detach(z4_buf *b, size_t *len)
{
	uint8_t *p;
	if (!b->ptr && !b->err)
		z4_buf_reserve(b, 0);
	p = b->ptr;
	if (len)
		*len = b->len;
	memset(b, 0, sizeof(*b));
	return p;
}

const uint8_t *z4_cur_take(z4_cur *c, size_t n)
{
	const uint8_t *p;
	if (c->err || n > c->len - c->pos) {
		c->err = Z4_ECORRUPT;
		return NULL;
	}
	p = c->p + c->pos;
	c->pos += n;
	return p;
}

uint8_t z4_cur_u8(z4_cur *c)
{
	const uint8_t *p = z4_cur_take(c, 1);
	return p ? p[0] : 0;
}

uint32_t z4_cur_u32(z4_cur *c)
{
	const uint8_t *p = z4_cur_take(c, 4);
	return p ? z4_le32(p) : 0;
}

uint64_t z4_cur_u64(z4_cur *c)
{
	const uint8_t *p = z4_cur_take(c, 8);
	return p ? z4_le64(p) : 0;
}

uint64_t z4_cur_varint(z4_cur *c)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t byte = z4_cur_u8(c);
		if (c->err)
			return 0;
		if (shift == 63 && byte > 1)
			break; /* would overflow 64 bits */
		v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			if (byte == 0 && shift) /* non-canonical trailing zero */
				break;
			return v;
		}
	}
	c->err = Z4_ECORRUPT;
	return 0;
}
