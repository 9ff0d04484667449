/* idset.c - see idset.h. Load factor kept at or below 1/2. */
#include "idset.h"

#include "z4_alloc.h"
#include "z4_err.h"
#include "z4_le.h"

#include <string.h>

void z4_idset_init(z4_idset *s) { memset(s, 0, sizeof(*s)); }

void z4_idset_dispose(z4_idset *s)
{
	z4_free(s->slots);
	z4_free(s->used);
	memset(s, 0, sizeof(*s));
}

static size_t find(const z4_idset *s, const z4_id *id)
{
	size_t i = (size_t)z4_le64(id->b) & (s->cap - 1);
	while (s->used[i] && memcmp(s->slots[i].b, id->b, Z4_ID_LEN) != 0)
		i = (i + 1) & (s->cap - 1);
	return i;
}

int z4_idset_has(const z4_idset *s, const z4_id *id)
{
	return s->cap && s->used[find(s, id)];
}

static int grow(z4_idset *s)
{
	z4_idset n;
	n.cap = s->cap ? s->cap * 2 : 64;
	n.count = 0;
	n.slots = z4_mallocarray(n.cap, sizeof(z4_id));
	n.used = z4_calloc(n.cap, 1);
	if (!n.slots || !n.used) {
		z4_free(n.slots);
		z4_free(n.used);
		return Z4_ENOMEM;
	}
	for (size_t i = 0; i < s->cap; i++) {
		if (s->used[i]) {
			size_t j = find(&n, &s->slots[i]);
			n.slots[j] = s->slots[i];
			n.used[j] = 1;
			n.count++;
		}
	}
	z4_idset_dispose(s);
	*s = n;
	return Z4_OK;
}

int z4_idset_add(z4_idset *s, const z4_id *id)
{
	size_t i;
	if ((s->count + 1) * 2 > s->cap && grow(s))
		return Z4_ENOMEM;
	i = find(s, id);
	if (s->used[i])
		return 0;
	s->slots[i] = *id;
	s->used[i] = 1;
	s->count++;
	return 1;
}
