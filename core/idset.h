/* idset.h - an open-addressing set of 16-byte ids (chunk/tensor ids are
 * already uniform hashes, so their first 8 bytes index the table). */
#ifndef Z4_IDSET_H
#define Z4_IDSET_H

#include <stddef.h>
#include <stdint.h>

#include "z4_delta.h"

typedef struct {
	z4_id *slots;
	uint8_t *used;
	size_t cap, count;
} z4_idset;

void z4_idset_init(z4_idset *s);
void z4_idset_dispose(z4_idset *s);
/* 1 if present. */
int z4_idset_has(const z4_idset *s, const z4_id *id);
/* 1 if added, 0 if already present, Z4_ENOMEM. */
int z4_idset_add(z4_idset *s, const z4_id *id);

#endif
