/*
 * fuzz_delta_rans.c - libFuzzer target for the rANS streams of delta/
 * (rans.h), below the chunk header and its hash.
 *
 * Byte 0: model (bits 0-1, mod 3) and mode (bit 2). The rest, in decode
 * mode: a u16 little-endian symbol count n, then the stream, decoded into
 * exactly n bytes against a fixed side plane: it must succeed or return
 * Z4_ECORRUPT, never touch memory outside (ASan), and a success must
 * re-encode to a stream that decodes to the same bytes. In round-trip mode
 * the rest is data (first half; second half the side plane): encode, then
 * decode must give it back.
 * Seeds (tests/fuzz/corpus/delta_rans/): streams of each model.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rans.h"
#include "z4_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static z4_rans_work *w;

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

static void side_plane(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(((uint32_t)i * 2654435761u) >> 29);
}

static void roundtrip(const uint8_t *src, size_t n, int model,
		      const uint8_t *side)
{
	size_t cap = 2 * n + 4096, len;
	uint8_t *enc = xmalloc(cap), *out = xmalloc(n);
	int rc = z4_rans_encode(&len, enc, cap, w, src, n, model, side);
	if (rc != 0 ||
	    z4_rans_decode(out, n, w, enc, len, model, side) != Z4_OK ||
	    (n && memcmp(out, src, n) != 0))
		abort();
	free(out);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int model;

	if (!w && !(w = z4_rans_work_new()))
		abort();
	if (size < 1)
		return 0;
	model = (data[0] & 3) % 3;
	if (!(data[0] & 4)) {
		size_t n;
		uint8_t *out, *side;
		int rc;
		if (size < 3)
			return 0;
		n = (size_t)data[1] | (size_t)data[2] << 8;
		out = xmalloc(n);
		side = xmalloc(n);
		side_plane(side, n);
		rc = z4_rans_decode(out, n, w, data + 3, size - 3, model,
				    side);
		if (rc != Z4_OK && rc != Z4_ECORRUPT)
			abort();
		if (rc == Z4_OK)
			roundtrip(out, n, model, side);
		free(side);
		free(out);
	} else {
		size_t n = (size - 1) / 2;
		roundtrip(data + 1, n, model, data + 1 + n);
	}
	return 0;
}
