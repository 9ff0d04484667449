/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors header parser.
 * Input: the bytes of a whole file. Beyond "no crash, no leak" it checks
 * what a successful parse promises (sorted, in bounds, sizes match, no
 * overlap) and that a failure leaves a zeroed result and a one-line reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "z4_err.h"
#include "z4_safetensors.h"

static void check_file(const z4_st_file *f, size_t size)
{
	uint64_t reach = f->header_len; /* furthest end of a non-empty tensor */

	if (f->header_len < 10 || f->header_len > size || f->file_size != size)
		abort();
	for (size_t i = 0; i < f->count; i++) {
		const z4_st_tensor *t = &f->tensors[i];
		uint64_t n = z4_dtype_size(t->dtype);

		if (!t->name || !t->dtype_str || t->ndim > Z4_ST_NDIM_MAX)
			abort();
		if (t->begin < f->header_len || t->begin > t->end ||
		    t->end > size)
			abort();
		if (z4_dtype_from_name(t->dtype_str) != t->dtype)
			abort();
		if (i > 0 && (t->begin < t[-1].begin ||
			      (t->begin == t[-1].begin && t->end < t[-1].end)))
			abort();
		if (t->dtype != Z4_DT_UNKNOWN) {
			for (unsigned d = 0; d < t->ndim; d++)
				if (t->shape[d] == 0)
					n = 0;
			for (unsigned d = 0; d < t->ndim && n; d++)
				if (__builtin_mul_overflow(n, t->shape[d], &n))
					abort();
			if (n != t->end - t->begin)
				abort();
		}
		if (t->begin == t->end)
			continue;
		if (t->begin < reach)
			abort();
		reach = t->end;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const z4_st_file zero;
	z4_st_file f;
	uint64_t head_len;
	int rc;

	if (size < 8)
		return 0;
	if (z4_st_header_len(&head_len, data, size) < 0)
		return 0;
	rc = z4_st_parse(&f, data, (size_t)head_len, size);
	if (rc == Z4_OK) {
		check_file(&f, size);
		z4_st_dispose(&f);
		return 0;
	}
	if (rc != Z4_ECORRUPT && rc != Z4_ETOOBIG && rc != Z4_ENOMEM)
		abort();
	if (memcmp(&f, &zero, sizeof(f)) != 0)
		abort();
	if (strchr(z4_error_last(), '\n'))
		abort();
	return 0;
}
