/*
 * fuzz_remote.c - the remote pack index reader and pack checks
 * (objects/remote_dir.c). Input: byte 0 selects the mode. Mode 0: the rest
 * is an index file. Mode 1: a 4-byte little-endian index length, the index,
 * then the pack file it describes. Bit 1 of byte 0 set: the index trailer
 * is recomputed first, so the fuzzer gets past the checksum to the
 * structure checks. A parsed index must find each of its own
 * entries, and every accepted entry must lie inside the pack it names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "z4_le.h"
#include "z4_remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	z4_remote_index ix;
	const uint8_t *idx = data + 1, *pack = NULL;
	size_t ilen = size ? size - 1 : 0, plen = 0;
	uint8_t *copy = NULL;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		uint32_t n;
		if (size < 5)
			return 0;
		n = z4_le32(data + 1);
		if (n > size - 5)
			return 0;
		idx = data + 5;
		ilen = n;
		pack = idx + n;
		plen = size - 5 - n;
	}
	if ((data[0] & 2) && ilen >= 16) {
		XXH128_canonical_t c;
		copy = malloc(ilen);
		if (!copy)
			return 0;
		memcpy(copy, idx, ilen);
		XXH128_canonicalFromHash(&c, XXH3_128bits(copy, ilen - 16));
		memcpy(copy + ilen - 16, c.digest, 16);
		idx = copy;
	}
	if (z4_remote_index_parse(&ix, idx, ilen) != Z4_OK) {
		free(copy);
		return 0;
	}
	for (size_t i = 0; i < ix.n; i++) {
		const z4_remote_entry *e = &ix.e[i];
		if (z4_remote_index_find(&ix, (z4_db)e->db, e->key, e->klen) !=
		    e)
			abort();
		if (e->offset + e->len > ix.pack_size - 16)
			abort();
		if (pack && e->offset + e->len <= plen)
			(void)z4_remote_entry_check(e, pack + e->offset,
			                            (size_t)e->len);
	}
	if (pack)
		(void)z4_remote_pack_verify(&ix, pack, plen);
	z4_remote_index_dispose(&ix);
	free(copy);
	return 0;
}
