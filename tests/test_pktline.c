/* test_pktline.c - the pkt-line reader and writer (core/pktline.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "z4_buf.h"
#include "z4_err.h"
#include "z4_pktline.h"
#include "testutil.h"

static int buf_write(void *ud, const void *p, size_t n)
{
	return z4_buf_put(ud, p, n);
}

static z4_pkt_reader rd; /* large: not on the stack */
static z4_pkt_writer wr;

static void reader_on(mem_reader *m, const void *p, size_t len, size_t step)
{
	m->p = p;
	m->len = len;
	m->pos = 0;
	m->step = step;
	z4_pkt_reader_init(&rd, mem_read, m);
}

static void test_golden_bytes(void **state)
{
	z4_buf b;
	static const char want[] = "0016git-filter-server\n000eversion=2\n0000";
	z4_buf_init(&b, 1 << 20);
	z4_pkt_writer_init(&wr, buf_write, &b);
	assert_int_equal(z4_pkt_write_text(&wr, "git-filter-server"), 0);
	assert_int_equal(z4_pkt_write_kv(&wr, "version", "2"), 0);
	assert_int_equal(z4_pkt_flush(&wr), 0);
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.ptr, want, b.len);
	z4_buf_dispose(&b);
}

/* Data is split into maximal packets and reads back exactly, even when
 * the input arrives one byte at a time. */
static void test_data_round_trip(void **state)
{
	static uint8_t data[3 * Z4_PKT_DATA_MAX + 17];
	z4_buf b;
	mem_reader m;
	size_t got = 0, npkts = 0;
	int kind;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 31 + 7);
	z4_buf_init(&b, 1 << 20);
	z4_pkt_writer_init(&wr, buf_write, &b);
	assert_int_equal(z4_pkt_write_data(&wr, data, 1000), 0);
	assert_int_equal(z4_pkt_write_data(&wr, data + 1000, sizeof(data) - 1000), 0);
	assert_int_equal(z4_pkt_flush(&wr), 0);
	assert_memory_equal(b.ptr, "fff0", 4);
	for (size_t step = 0; step <= 1; step++) {
		reader_on(&m, b.ptr, b.len, step);
		got = npkts = 0;
		for (;;) {
			assert_int_equal(z4_pkt_read(&rd, &kind), 0);
			if (kind != Z4_PKT_DATA)
				break;
			assert_true(rd.len <= Z4_PKT_DATA_MAX);
			assert_memory_equal(rd.buf, data + got, rd.len);
			got += rd.len;
			npkts++;
		}
		assert_int_equal(kind, Z4_PKT_FLUSH);
		assert_int_equal(got, sizeof(data));
		assert_int_equal(npkts, 4);
		assert_int_equal(z4_pkt_read(&rd, &kind), 0);
		assert_int_equal(kind, Z4_PKT_EOF);
	}
	z4_buf_dispose(&b);
}

static void test_text_lines(void **state)
{
	static const char in[] = "0012command=clean\n" "0010pathname=a b" "0000";
	mem_reader m;
	const char *line;
	char tmp[64];
	reader_on(&m, in, sizeof(in) - 1, 0);
	assert_int_equal(z4_pkt_read_text(&rd, &line), 0);
	assert_string_equal(line, "command=clean");
	assert_int_equal(z4_pkt_read_text(&rd, &line), 0);
	assert_string_equal(line, "pathname=a b"); /* LF is optional */
	memcpy(tmp, line, strlen(line) + 1);
	assert_string_equal(z4_pkt_split_kv(tmp), "a b");
	assert_string_equal(tmp, "pathname");
	assert_int_equal(z4_pkt_read_text(&rd, &line), 0);
	assert_null(line);
	assert_int_equal(z4_pkt_read_text(&rd, &line), Z4_ECORRUPT); /* EOF */
}

static void test_split_kv_rejects(void **state)
{
	char a[] = "=x", b[] = "novalue", c[] = "Key=v", d[] = "a b=c", e[] = "k=";
	assert_null(z4_pkt_split_kv(a));
	assert_null(z4_pkt_split_kv(b));
	assert_null(z4_pkt_split_kv(c));
	assert_null(z4_pkt_split_kv(d));
	assert_string_equal(z4_pkt_split_kv(e), "");
}

/* Tiny bad inputs, each named for what it breaks. */
static void expect_corrupt(const char *in, size_t len)
{
	mem_reader m;
	int kind, rc;
	reader_on(&m, in, len, 0);
	do
		rc = z4_pkt_read(&rd, &kind);
	while (rc == 0 && kind != Z4_PKT_EOF);
	assert_int_equal(rc, Z4_ECORRUPT);
}

static void test_bad_inputs(void **state)
{
	expect_corrupt("zzzz", 4);            /* not hex */
	expect_corrupt("00 4", 4);            /* space in header */
	expect_corrupt("0001", 4);            /* delim packet */
	expect_corrupt("0002", 4);            /* response-end packet */
	expect_corrupt("0003", 4);            /* length below the header */
	expect_corrupt("fff1", 4);            /* above 65520 */
	expect_corrupt("ffff", 4);
	expect_corrupt("00", 2);              /* truncated header */
	expect_corrupt("0009abc", 7);         /* truncated payload */
	expect_corrupt("0005a0000001", 12);   /* good, flush, then delim */
	expect_corrupt("-004", 4);            /* sign */
}

static void test_text_nul(void **state)
{
	static const char in[] = "0008a\0b\n";
	mem_reader m;
	const char *line;
	reader_on(&m, in, sizeof(in) - 1, 0);
	assert_int_equal(z4_pkt_read_text(&rd, &line), Z4_ECORRUPT);
}

static void test_empty_packet_and_max(void **state)
{
	static uint8_t big[Z4_PKT_MAX];
	mem_reader m;
	int kind;
	memcpy(big, "fff0", 4);
	memset(big + 4, 'x', sizeof(big) - 4);
	reader_on(&m, big, sizeof(big), 0);
	assert_int_equal(z4_pkt_read(&rd, &kind), 0);
	assert_int_equal(kind, Z4_PKT_DATA);
	assert_int_equal(rd.len, Z4_PKT_DATA_MAX);
	reader_on(&m, "0004", 4, 0);
	assert_int_equal(z4_pkt_read(&rd, &kind), 0);
	assert_int_equal(kind, Z4_PKT_DATA);
	assert_int_equal(rd.len, 0);
}

/* Every truncation of a valid stream is an error or a clean EOF at a
 * packet boundary; never a crash. */
static void test_every_truncation(void **state)
{
	static const char in[] = "0016git-filter-server\n000eversion=2\n0000";
	size_t len = sizeof(in) - 1;
	for (size_t cut = 0; cut < len; cut++) {
		mem_reader m;
		int kind, rc;
		reader_on(&m, in, cut, 0);
		do
			rc = z4_pkt_read(&rd, &kind);
		while (rc == 0 && kind != Z4_PKT_EOF);
		if (cut == 0 || cut == 22 || cut == 36)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, Z4_ECORRUPT);
	}
}

static void test_text_too_long(void **state)
{
	static char s[Z4_PKT_DATA_MAX + 1];
	z4_buf b;
	memset(s, 'a', sizeof(s) - 1);
	z4_buf_init(&b, 1 << 20);
	z4_pkt_writer_init(&wr, buf_write, &b);
	assert_int_equal(z4_pkt_write_text(&wr, s), Z4_EINVAL);
	s[Z4_PKT_DATA_MAX - 1] = '\0'; /* + LF fits exactly */
	assert_int_equal(z4_pkt_write_text(&wr, s), 0);
	assert_memory_equal(b.ptr, "fff0", 4);
	z4_buf_dispose(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_bytes),
		cmocka_unit_test(test_data_round_trip),
		cmocka_unit_test(test_text_lines),
		cmocka_unit_test(test_split_kv_rejects),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_text_nul),
		cmocka_unit_test(test_empty_packet_and_max),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_text_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
