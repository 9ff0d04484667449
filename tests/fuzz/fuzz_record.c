/*
 * fuzz_record.c - the decoders of stored records and pointer files: the
 * first byte picks the decoder, the rest is its input. A successful decode
 * must re-encode to the same bytes (each format has one encoding).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "z4_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	z4_buf b;
	if (size < 1)
		return 0;
	z4_buf_init(&b, 1u << 24);
	switch (data[0] % 3) {
	case 0: {
		z4_pointer p;
		if (z4_pointer_parse(&p, data + 1, size - 1) == Z4_OK)
			z4_pointer_format(&b, &p);
		break;
	}
	case 1: {
		z4_recipe r;
		if (z4_recipe_decode(&r, data + 1, size - 1) == Z4_OK) {
			if (z4_recipe_encode(&b, &r) != Z4_OK || b.len != size - 1 ||
			    memcmp(b.ptr, data + 1, b.len) != 0)
				abort();
			z4_recipe_dispose(&r);
		}
		break;
	}
	default: {
		z4_tensor_rec t;
		if (z4_tensor_rec_decode(&t, data + 1, size - 1) == Z4_OK) {
			if (z4_tensor_rec_encode(&b, &t) != Z4_OK || b.len != size - 1 ||
			    memcmp(b.ptr, data + 1, b.len) != 0)
				abort();
			z4_tensor_rec_dispose(&t);
		}
		break;
	}
	}
	z4_buf_dispose(&b);
	return 0;
}
