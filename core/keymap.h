/*
 * keymap.h - an open-addressing map from fixed-length binary keys (chunk and
 * tensor ids, SHA-256 file ids, git oids) to a 32-bit value, for the
 * maintenance walks (fsck, gc, repack) that must remember every object they
 * have seen. Keys are uniform hashes already, so their first 8 bytes index
 * the table. Load factor at most 1/2; memory is (klen + 5) x 2 x count.
 */
#ifndef Z4_KEYMAP_H
#define Z4_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	size_t klen;    /* 8 .. 64 bytes */
	uint8_t *keys;  /* cap x klen */
	uint32_t *vals; /* cap */
	uint8_t *used;  /* cap */
	size_t cap, count;
} z4_keymap;

void z4_keymap_init(z4_keymap *m, size_t klen);
void z4_keymap_dispose(z4_keymap *m);
/* Pointer to the value of key (borrowed until the next put), or NULL. */
uint32_t *z4_keymap_get(const z4_keymap *m, const void *key);
/* Insert key with val: 1 if added, 0 if it existed (value untouched),
 * Z4_ENOMEM (reason set). */
int z4_keymap_put(z4_keymap *m, const void *key, uint32_t val);
/* Slot iteration: for (i = 0; i < m->cap; i++) if (m->used[i]) ...; the key
 * of slot i is z4_keymap_key(m, i). */
static inline const uint8_t *z4_keymap_key(const z4_keymap *m, size_t i)
{
	return m->keys + i * m->klen;
}

#endif
