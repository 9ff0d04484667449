/*
 * z4_buf.h - a growable byte buffer with a hard maximum, and a bounds-checked
 * read cursor. Writers append; a failed append (no memory, over max) makes
 * the buffer sticky-failed so a sequence of puts needs one check at the end.
 * Readers check `cur.err` once after a sequence of gets: a read past the end
 * returns zeros and sets err, it never reads out of bounds.
 */
#ifndef Z4_BUF_H
#define Z4_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint8_t *ptr;
	size_t len, cap, max;
	int err; /* Z4_OK or the first error of an append */
} z4_buf;

void z4_buf_init(z4_buf *b, size_t max);
void z4_buf_dispose(z4_buf *b);
/* Leave len bytes of room; returns Z4_OK or b->err. */
int z4_buf_reserve(z4_buf *b, size_t extra);
int z4_buf_put(z4_buf *b, const void *data, size_t len);
int z4_buf_puts(z4_buf *b, const char *s);
int z4_buf_printf(z4_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int z4_buf_u8(z4_buf *b, uint8_t v);
int z4_buf_u32(z4_buf *b, uint32_t v);
int z4_buf_u64(z4_buf *b, uint64_t v);
int z4_buf_varint(z4_buf *b, uint64_t v); /* LEB128 */
/* Take ownership of the bytes (NUL-terminated for convenience). */
uint8_t *z4_buf_detach(z4_buf *b, size_t *len);

typedef struct {
	const uint8_t *p;
	size_t len, pos;
	int err; /* Z4_ECORRUPT after any out-of-bounds or malformed read */
} z4_cur;

static inline void z4_cur_init(z4_cur *c, const void *p, size_t len)
{
	c->p = p;
	c->len = len;
	c->pos = 0;
	c->err = 0;
}
static inline size_t z4_cur_left(const z4_cur *c) { return c->len - c->pos; }
uint8_t z4_cur_u8(z4_cur *c);
uint32_t z4_cur_u32(z4_cur *c);
uint64_t z4_cur_u64(z4_cur *c);
uint64_t z4_cur_varint(z4_cur *c); /* at most 10 bytes, canonical bound */
/* Borrow n bytes; NULL (and err set) if fewer remain. */
const uint8_t *z4_cur_take(z4_cur *c, size_t n);

#endif
