/*
 * fuzz_delta.c - libFuzzer target for the chunk codec (delta/).
 *
 * Each input is used twice:
 * 1. As an encoded chunk: z4_delta_info_read, then, if the header is valid
 *    and declares at most 1 MiB, z4_delta_decode into an exactly sized
 *    buffer, against the base fuzz_base() (for a delta), and again in place
 *    (dst == base). Both must agree; a success must reproduce the header id.
 * 2. As data: byte 0 picks elem_size (bits 0-1), a base (bit 2) and a zstd
 *    level (bits 4-5), byte 1 the dtype (mod Z4_DELTA_DT_COUNT: transform
 *    and codecs); the rest is the chunk, or with a base its first half is
 *    the chunk and its second half the base. Encode, then decode: the bytes
 *    must come back exactly.
 * Any violated property aborts, which libFuzzer reports as a crash.
 *
 * Seeds (tests/fuzz/corpus/delta/): keyframes and deltas of each element
 * size, made with z4_delta_encode, format 1 (delta-e*) and format 2
 * (v2-*: raw, zstd, rANS order 0 / order 1 / parent-context planes, rotated
 * floats) and format 3 (v3-group-bf16: group scales with an exception;
 * v3-sub-e2/e4: arithmetic deltas; v3-group-input: mode-2 data that takes
 * the group path; v3-wide-bf16: a wide order-0 plane) and format 4
 * (v4-parent-bf16, v4-mix-bf16: wide context planes, codecs 7 and 8) and
 * format 5 (v5-esc-bf16, v5-esc-wide-bf16: escape-coded arithmetic deltas,
 * their symbols under the parent context, codecs 4 and 7) and format 6
 * (v6-esc-wide0-bf16: an escaped words' plane of 16 KiB in codec 6); the
 * deltas were encoded against fuzz_base(), so mode 1 decodes them all
 * the way through.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "z4_delta.h"

#define FUZZ_DECODE_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The base that the seed deltas were encoded against: decoded_len bytes of
 * a fixed Weyl sequence. */
static void fuzz_base(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(((uint32_t)i * 2654435761u) >> 24);
}

static z4_delta_ctx *ctx;

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

static void check_decode(const uint8_t *data, size_t size)
{
	z4_delta_info info;
	uint8_t *dst, *base;
	size_t len;
	int rc, rc2;

	if (z4_delta_info_read(&info, data, size) != Z4_OK ||
	    info.decoded_len > FUZZ_DECODE_MAX)
		return;
	len = info.decoded_len;
	dst = xmalloc(len);
	base = xmalloc(len);
	fuzz_base(base, len);
	rc = z4_delta_decode(dst, len, ctx, data, size, base);
	if (rc == Z4_OK) {
		z4_id id;
		z4_delta_id(&id, dst, len);
		if (memcmp(id.b, info.id.b, Z4_ID_LEN) != 0)
			abort();
	}
	if (info.is_delta) {
		/* In place: same verdict, same bytes. */
		uint8_t *io = xmalloc(len);
		fuzz_base(io, len);
		rc2 = z4_delta_decode(io, len, ctx, data, size, io);
		if (rc2 != rc || (rc == Z4_OK && len && memcmp(io, dst, len)))
			abort();
		free(io);
	}
	free(base);
	free(dst);
}

static void check_roundtrip(const uint8_t *data, size_t size)
{
	static const int levels[4] = {0, 1, -3, 9};
	z4_delta_params par = {0};
	z4_delta_info info, back;
	const uint8_t *src;
	uint8_t *enc, *out;
	size_t len, cap, enc_len;
	z4_id base_id;

	if (size < 2)
		return;
	par.elem_size = 1u << (data[0] & 3);
	par.zstd_level = levels[(data[0] >> 4) & 3];
	par.dtype = data[1] % Z4_DELTA_DT_COUNT;
	src = data + 2;
	len = size - 2;
	if (data[0] & 4) {
		len = len / 2 / par.elem_size * par.elem_size;
		par.base = src + len;
		par.base_id = &base_id;
		par.base_depth = data[0] >> 6;
		z4_delta_id(&base_id, par.base, len);
	} else {
		len = len / par.elem_size * par.elem_size;
	}
	cap = z4_delta_bound(len, par.elem_size);
	enc = xmalloc(cap);
	out = xmalloc(len);
	if (z4_delta_encode(&enc_len, &info, enc, cap, ctx, src, len, &par) !=
		    Z4_OK ||
	    z4_delta_info_read(&back, enc, enc_len) != Z4_OK ||
	    back.is_delta != info.is_delta || back.depth != info.depth ||
	    back.header_len != info.header_len ||
	    memcmp(back.id.b, info.id.b, Z4_ID_LEN) != 0 ||
	    z4_delta_decode(out, len, ctx, enc, enc_len, par.base) != Z4_OK ||
	    (len && memcmp(out, src, len) != 0))
		abort();
	free(out);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One context for the whole run, like one per worker thread. */
	if (!ctx && !(ctx = z4_delta_ctx_new()))
		abort();
	check_decode(data, size);
	check_roundtrip(data, size);
	return 0;
}
