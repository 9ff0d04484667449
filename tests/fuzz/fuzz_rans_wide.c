/*
 * fuzz_rans_wide.c - libFuzzer target for the wide rANS models of delta/
 * (Z4_RANS_W0 and Z4_RANS_WCTX, rans_wide.h), below the chunk header and
 * its hash.
 *
 * Byte 0, bit 0: mode; bit 1: model (0 order 0, 1 context). Decode mode:
 * a u24 little-endian symbol count n (taken modulo 2^18); for the context
 * model a byte k, the side plane then being a fixed sequence over k + 1
 * contexts; then the stream, decoded into exactly n bytes by every
 * kernel set of this host: each must succeed or return Z4_ECORRUPT, never
 * touch memory outside (ASan), and all must agree on the result and the
 * bytes, also those reading the contexts in 16-bit words (the side plane
 * as their high bytes); a success must re-encode to a stream that
 * decodes the same.
 * Round-trip mode: the rest is the data (context model: its first half,
 * the side plane the second); encode, then every kernel must give it
 * back. Every encoder (scalar, AVX-512) must write the same bytes.
 * Seeds (tests/fuzz/corpus/rans_wide/): order-0 streams of 1 to 3 blocks
 * (wide-*), context streams (ctx-*).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rans.h"
#include "rans_wide.h"
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

static int model;
static const uint8_t *side; /* Z4_RANS_WCTX */

/* Decode with each kernel; abort unless they agree. */
static int decode_all(uint8_t *out, size_t n, const uint8_t *src, size_t len)
{
	const z4_ransw_kernels *ks[Z4_RANSW_SETS];
	int nk = z4_ransw_kernels_all(ks);
	uint8_t *o2 = xmalloc(n), *words = NULL;
	int rc = 0;

	if (model == Z4_RANS_WCTX) {
		words = xmalloc(2 * n);
		for (size_t i = 0; i < n; i++) {
			words[2 * i] = (uint8_t)(i * 7); /* not context */
			words[2 * i + 1] = side[i];
		}
	}
	for (int k = 0; k < nk; k++) {
		int r;
		z4_rans_work_set_wide(w, ks[k]);
		r = z4_rans_decode(k ? o2 : out, n, w, src, len, model, side);
		if (r != Z4_OK && r != Z4_ECORRUPT)
			abort();
		if (k == 0)
			rc = r;
		else if (r != rc || (r == Z4_OK && n && memcmp(o2, out, n)))
			abort();
		if (!words || !z4_rans_words(w))
			continue;
		r = z4_rans_decode_words(o2, n, w, src, len, words, 0);
		if (r != rc || (r == Z4_OK && n && memcmp(o2, out, n)))
			abort();
	}
	free(o2);
	free(words);
	return rc;
}

/* Encode with each kernel set; abort unless all write the same bytes. */
static size_t encode_all(uint8_t *enc, size_t cap, const uint8_t *src,
			 size_t n)
{
	const z4_ransw_kernels *ks[Z4_RANSW_SETS];
	int nk = z4_ransw_kernels_all(ks);
	uint8_t *e2 = xmalloc(cap);
	size_t len = 0, l2;

	for (int k = 0; k < nk; k++) {
		z4_rans_work_set_wide(w, ks[k]);
		if (z4_rans_encode(&l2, k ? e2 : enc, cap, w, src, n, model,
				   side) != Z4_OK)
			abort();
		if (k == 0)
			len = l2;
		else if (l2 != len || memcmp(e2, enc, len) != 0)
			abort();
	}
	free(e2);
	return len;
}

static void roundtrip(const uint8_t *src, size_t n)
{
	size_t cap = 2 * n + 70000, len;
	uint8_t *enc = xmalloc(cap), *out = xmalloc(n);

	len = encode_all(enc, cap, src, n);
	if (decode_all(out, n, enc, len) != Z4_OK ||
	    (n && memcmp(out, src, n) != 0))
		abort();
	free(out);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!w && !(w = z4_rans_work_new()))
		abort();
	if (size < 1)
		return 0;
	model = data[0] & 2 ? Z4_RANS_WCTX : Z4_RANS_W0;
	side = NULL;
	if (!(data[0] & 1)) {
		size_t n, hdr = model == Z4_RANS_WCTX ? 5 : 4;
		uint8_t *out, *sd = NULL;
		if (size < hdr)
			return 0;
		n = ((size_t)data[1] | (size_t)data[2] << 8 |
		     (size_t)data[3] << 16) &
		    ((1u << 18) - 1);
		out = xmalloc(n);
		if (model == Z4_RANS_WCTX) {
			sd = xmalloc(n);
			for (size_t i = 0; i < n; i++)
				sd[i] = (uint8_t)((((uint32_t)i * 2654435761u) >>
						   24) %
						  ((unsigned)data[4] + 1));
			side = sd;
		}
		if (decode_all(out, n, data + hdr, size - hdr) == Z4_OK)
			roundtrip(out, n);
		free(out);
		free(sd);
	} else if (model == Z4_RANS_WCTX) {
		size_t n = (size - 1) / 2;
		side = data + 1 + n;
		roundtrip(data + 1, n);
	} else {
		roundtrip(data + 1, size - 1);
	}
	return 0;
}
