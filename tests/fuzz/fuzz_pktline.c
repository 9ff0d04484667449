/*
 * fuzz_pktline.c - the pkt-line reader on hostile input, read back as the
 * filter process does: the first byte picks data or text reads and the
 * size of each short read; every data packet is re-encoded by the writer
 * and must give the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "z4_buf.h"
#include "z4_err.h"
#include "z4_pktline.h"

typedef struct {
	const uint8_t *p;
	size_t len, pos, step;
} mem_in;

static ssize_t mem_read(void *ud, void *buf, size_t len)
{
	mem_in *m = ud;
	size_t k = m->len - m->pos;
	if (k > len)
		k = len;
	if (k > m->step)
		k = m->step;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return (ssize_t)k;
}

static int buf_write(void *ud, const void *p, size_t n)
{
	return z4_buf_put(ud, p, n);
}

static z4_pkt_reader rd;
static z4_pkt_writer wr;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mem_in m;
	int text, kind, rc;
	if (size < 1)
		return 0;
	text = data[0] & 1;
	m.p = data + 1;
	m.len = size - 1;
	m.pos = 0;
	m.step = (size_t)(data[0] >> 1) + 1;
	z4_pkt_reader_init(&rd, mem_read, &m);
	for (;;) {
		if (text) {
			const char *line;
			char *copy;
			if ((rc = z4_pkt_read_text(&rd, &line)) != Z4_OK)
				break;
			if (!line)
				continue;
			if (strlen(line) != rd.len)
				abort();
			copy = strdup(line);
			if (copy && z4_pkt_split_kv(copy) && strchr(copy, '='))
				abort();
			free(copy);
			continue;
		}
		if ((rc = z4_pkt_read(&rd, &kind)) != Z4_OK || kind == Z4_PKT_EOF)
			break;
		if (kind == Z4_PKT_DATA && rd.len) {
			z4_buf b;
			z4_buf_init(&b, 1u << 20);
			z4_pkt_writer_init(&wr, buf_write, &b);
			if (z4_pkt_write_data(&wr, rd.buf, rd.len) || z4_pkt_flush(&wr) ||
			    b.len != rd.len + 8 || memcmp(b.ptr + 4, rd.buf, rd.len) != 0)
				abort();
			z4_buf_dispose(&b);
		}
		if (rd.len > Z4_PKT_DATA_MAX)
			abort();
	}
	return 0;
}
