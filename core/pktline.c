/*
 * pktline.c - pkt-line reader and writer (see z4_pktline.h). The reader
 * reads exactly the declared bytes and never more, so a protocol error
 * leaves the stream where git left it; the writer only emits packets of
 * 1..Z4_PKT_DATA_MAX payload bytes and flushes.
 */
#include "z4_hex.h"
#include "z4_pktline.h"

#include <errno.h>
#include <string.h>

#include "z4_err.h"

void z4_pkt_reader_init(z4_pkt_reader *r, z4vc_read_fn read, void *ud)
{
	r->read = read;
	r->ud = ud;
	r->len = 0;
	r->buf[0] = '\0';
}

void z4_pkt_writer_init(z4_pkt_writer *w, z4vc_write_fn write, void *ud)
{
	w->write = write;
	w->ud = ud;
	w->pending = 0;
}

/* Fill n bytes: Z4_OK, Z4_PKT_EOF if end of input came before the first
 * byte (only when eof_ok), else an error. */
static int read_full(z4_pkt_reader *r, uint8_t *p, size_t n, int eof_ok)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = r->read(r->ud, p + got, n - got);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return z4_error_set(Z4_EIO, "read: %s", strerror(errno));
		}
		if (k == 0) {
			if (got == 0 && eof_ok)
				return Z4_PKT_EOF;
			return z4_error_set(Z4_ECORRUPT,
					    "truncated pkt-line (%zu of %zu bytes)", got, n);
		}
		if ((size_t)k > n - got)
			return z4_error_set(Z4_EIO, "read: callback overran its buffer");
		got += (size_t)k;
	}
	return Z4_OK;
}


int z4_pkt_read(z4_pkt_reader *r, int *kind)
{
	uint8_t hdr[4];
	size_t len = 0;
	int rc;

	*kind = Z4_PKT_EOF;
	r->len = 0;
	r->buf[0] = '\0';
	rc = read_full(r, hdr, 4, 1);
	if (rc == Z4_PKT_EOF)
		return Z4_OK;
	if (rc)
		return rc;
	for (int i = 0; i < 4; i++) {
		int v = z4_hex_digit(hdr[i]);
		if (v < 0)
			return z4_error_set(Z4_ECORRUPT,
					    "bad pkt-line length header '%c%c%c%c'",
					    hdr[0] >= 0x20 && hdr[0] < 0x7f ? hdr[0] : '?',
					    hdr[1] >= 0x20 && hdr[1] < 0x7f ? hdr[1] : '?',
					    hdr[2] >= 0x20 && hdr[2] < 0x7f ? hdr[2] : '?',
					    hdr[3] >= 0x20 && hdr[3] < 0x7f ? hdr[3] : '?');
		len = len << 4 | (size_t)v;
	}
	if (len == 0) {
		*kind = Z4_PKT_FLUSH;
		return Z4_OK;
	}
	if (len < 4)
		return z4_error_set(Z4_ECORRUPT,
				    "unexpected special pkt-line %04zx (not used by the filter protocol)",
				    len);
	if (len > Z4_PKT_MAX)
		return z4_error_set(Z4_ECORRUPT, "pkt-line length %zu exceeds %d", len,
				    Z4_PKT_MAX);
	len -= 4;
	if (len && (rc = read_full(r, r->buf, len, 0)))
		return rc;
	r->buf[len] = '\0';
	r->len = len;
	*kind = Z4_PKT_DATA;
	return Z4_OK;
}

int z4_pkt_read_text(z4_pkt_reader *r, const char **line)
{
	int kind;
	*line = NULL;
	Z4_TRY(z4_pkt_read(r, &kind));
	if (kind == Z4_PKT_FLUSH)
		return Z4_OK;
	if (kind == Z4_PKT_EOF)
		return z4_error_set(Z4_ECORRUPT, "unexpected end of input (expected a text pkt-line)");
	if (memchr(r->buf, '\0', r->len))
		return z4_error_set(Z4_ECORRUPT, "text pkt-line contains a NUL byte");
	if (r->len && r->buf[r->len - 1] == '\n')
		r->buf[--r->len] = '\0';
	*line = (const char *)r->buf;
	return Z4_OK;
}

char *z4_pkt_split_kv(char *line)
{
	char *eq = strchr(line, '=');
	if (!eq || eq == line)
		return NULL;
	for (char *k = line; k < eq; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' ||
		      *k == '-'))
			return NULL;
	*eq = '\0';
	return eq + 1;
}

static void put_hdr(uint8_t *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	p[0] = (uint8_t)hex[(len >> 12) & 15];
	p[1] = (uint8_t)hex[(len >> 8) & 15];
	p[2] = (uint8_t)hex[(len >> 4) & 15];
	p[3] = (uint8_t)hex[len & 15];
}

static int emit_pending(z4_pkt_writer *w)
{
	size_t n = w->pending;
	if (!n)
		return Z4_OK;
	w->pending = 0;
	put_hdr(w->buf, n + 4);
	return w->write(w->ud, w->buf, n + 4);
}

int z4_pkt_write_data(void *ud, const void *p, size_t n)
{
	z4_pkt_writer *w = ud;
	const uint8_t *s = p;
	while (n) {
		size_t room = Z4_PKT_DATA_MAX - w->pending;
		size_t k = n < room ? n : room;
		memcpy(w->buf + 4 + w->pending, s, k);
		w->pending += k;
		s += k;
		n -= k;
		if (w->pending == Z4_PKT_DATA_MAX)
			Z4_TRY(emit_pending(w));
	}
	return Z4_OK;
}

int z4_pkt_write_text(z4_pkt_writer *w, const char *s)
{
	size_t n = strlen(s);
	Z4_TRY(emit_pending(w));
	if (n + 1 > Z4_PKT_DATA_MAX)
		return z4_error_set(Z4_EINVAL, "pkt-line text too long");
	memcpy(w->buf + 4, s, n);
	w->buf[4 + n] = '\n';
	put_hdr(w->buf, n + 5);
	return w->write(w->ud, w->buf, n + 5);
}

int z4_pkt_write_kv(z4_pkt_writer *w, const char *key, const char *value)
{
	size_t k = strlen(key), v = strlen(value);
	Z4_TRY(emit_pending(w));
	if (k + v + 2 > Z4_PKT_DATA_MAX)
		return z4_error_set(Z4_EINVAL, "pkt-line text too long");
	memcpy(w->buf + 4, key, k);
	w->buf[4 + k] = '=';
	memcpy(w->buf + 5 + k, value, v);
	w->buf[5 + k + v] = '\n';
	put_hdr(w->buf, k + v + 6);
	return w->write(w->ud, w->buf, k + v + 6);
}

int z4_pkt_flush(z4_pkt_writer *w)
{
	Z4_TRY(emit_pending(w));
	return w->write(w->ud, "0000", 4);
}
