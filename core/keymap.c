/* keymap.c - see keymap.h. */
#include "keymap.h"

#include "z4_alloc.h"
#include "z4_err.h"
#include "z4_le.h"

#include <string.h>

void z4_keymap_init(z4_keymap *m, size_t klen)
{
	memset(m, 0, sizeof(*m));
	m->klen = klen;
}

void z4_keymap_dispose(z4_keymap *m)
{
	size_t klen = m->klen;
	z4_free(m->keys);
	z4_free(m->vals);
	z4_free(m->used);
	z4_keymap_init(m, klen);
}

static size_t slot(const z4_keymap *m, const void *key)
{
	size_t i = (size_t)z4_le64(key) & (m->cap - 1);
	while (m->used[i] && memcmp(m->keys + i * m->klen, key, m->klen) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

uint32_t *z4_keymap_get(const z4_keymap *m, const void *key)
{
	size_t i;
	if (!m->cap)
		return NULL;
	i = slot(m, key);
	return m->used[i] ? &m->vals[i] : NULL;
}

static int grow(z4_keymap *m)
{
	z4_keymap n;
	size_t bytes;

	z4_keymap_init(&n, m->klen);
	n.cap = m->cap ? m->cap * 2 : 256;
	if (n.cap < m->cap || z4_mul_overflow(&bytes, n.cap, m->klen))
		return z4_error_set(Z4_ENOMEM, "out of memory (object map)");
	n.keys = z4_malloc(bytes);
	n.vals = z4_mallocarray(n.cap, sizeof(uint32_t));
	n.used = z4_calloc(n.cap, 1);
	if (!n.keys || !n.vals || !n.used) {
		z4_keymap_dispose(&n);
		return z4_error_set(Z4_ENOMEM,
		                    "out of memory (object map of %zu)", n.cap);
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;
		if (!m->used[i])
			continue;
		j = slot(&n, m->keys + i * m->klen);
		memcpy(n.keys + j * n.klen, m->keys + i * m->klen, m->klen);
		n.vals[j] = m->vals[i];
		n.used[j] = 1;
		n.count++;
	}
	z4_keymap_dispose(m);
	*m = n;
	return Z4_OK;
}

int z4_keymap_put(z4_keymap *m, const void *key, uint32_t val)
{
	size_t i;
	if ((m->count + 1) * 2 > m->cap)
		Z4_TRY(grow(m));
	i = slot(m, key);
	if (m->used[i])
		return 0;
	memcpy(m->keys + i * m->klen, key, m->klen);
	m->vals[i] = val;
	m->used[i] = 1;
	m->count++;
	return 1;
}
