/*
 * z4_pktline.h - git's pkt-line framing, as used by the long-running filter
 * protocol (gitattributes(5) "Long Running Filter Process"; git
 * Documentation/technical/protocol-common.txt).
 *
 * A packet is four lowercase-or-uppercase hex digits giving the total length
 * (header included) followed by that many minus four payload bytes. "0000"
 * is a flush packet. The input is hostile: lengths 0001-0003 (delim and
 * response-end packets, not part of the filter protocol) and anything above
 * Z4_PKT_MAX are refused, a packet cut by end of input is Z4_ECORRUPT, and
 * nothing is ever read past the declared length. The reader owns one buffer
 * of Z4_PKT_MAX bytes: memory does not depend on the input.
 */
#ifndef Z4_PKTLINE_H
#define Z4_PKTLINE_H

#include <stddef.h>
#include <stdint.h>

#include "z4vc.h"

#define Z4_PKT_MAX 65520                /* largest packet, header included */
#define Z4_PKT_DATA_MAX (Z4_PKT_MAX - 4) /* largest payload */

enum {
	Z4_PKT_FLUSH = 0, /* "0000" */
	Z4_PKT_DATA = 1,  /* payload in r->buf[0..r->len) */
	Z4_PKT_EOF = 2,   /* clean end of input before a packet */
};

typedef struct {
	z4vc_read_fn read;
	void *ud;
	size_t len;                    /* payload length of the last packet */
	uint8_t buf[Z4_PKT_DATA_MAX + 1]; /* payload, NUL-terminated */
} z4_pkt_reader;

typedef struct {
	z4vc_write_fn write;
	void *ud;
	size_t pending;                /* data bytes buffered in buf + 4 */
	uint8_t buf[Z4_PKT_MAX];
} z4_pkt_writer;

void z4_pkt_reader_init(z4_pkt_reader *r, z4vc_read_fn read, void *ud);
void z4_pkt_writer_init(z4_pkt_writer *w, z4vc_write_fn write, void *ud);

/* Read one packet: *kind is Z4_PKT_FLUSH, _DATA or _EOF. Z4_ECORRUPT (with
 * a reason) for a malformed or truncated packet, Z4_EIO if read fails. */
int z4_pkt_read(z4_pkt_reader *r, int *kind);

/*
 * Read one text packet ("key=value\n"): *line points into r->buf (valid
 * until the next read), without its one optional trailing LF. A flush sets
 * *line = NULL. EOF or a line holding a NUL byte is Z4_ECORRUPT.
 */
int z4_pkt_read_text(z4_pkt_reader *r, const char **line);

/* Split "key=value" in place: NULL if there is no '=' or the key is empty
 * or not [a-z0-9_-]. Returns the value; *line keeps the key. */
char *z4_pkt_split_kv(char *line);

/* Write a text packet "<s>\n" (s shorter than Z4_PKT_DATA_MAX). */
int z4_pkt_write_text(z4_pkt_writer *w, const char *s);
int z4_pkt_write_kv(z4_pkt_writer *w, const char *key, const char *value);
/* Write a flush packet (after ending any pending data). */
int z4_pkt_flush(z4_pkt_writer *w);
/* Append content: emitted as full packets; the rest goes out on
 * z4_pkt_flush. Matches z4vc_write_fn (ud = the writer). */
int z4_pkt_write_data(void *w, const void *p, size_t n);

#endif
