/*
 * z4_remote.h - remote object storage: where encoded objects travel between
 * repositories. A backend knows keys and byte values only (no git, no
 * codec): objects are (db, key) -> value exactly as the local store holds
 * them, so a push sends chunks already compressed and delta-encoded.
 *
 * Backends implement z4_remote_ops; the directory backend (remote_dir.c)
 * keeps immutable packs plus sorted indexes on a shared file system
 * (docs/format.md, "4. Remote packs"). Everything a backend returns was
 * bounds-checked and matches its per-object checksum; callers still verify
 * each object against its id (the backend cannot: ids are codec business).
 *
 * Writes are batched: pack_begin, pack_add per object, pack_commit publishes
 * all of them at once (or nothing), so readers never see a partial pack.
 */
#ifndef Z4_REMOTE_H
#define Z4_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "z4_err.h"
#include "z4_objects.h"

#define Z4_REMOTE_PACK_VERSION 1
#define Z4_REMOTE_INDEX_VERSION 1
#define Z4_REMOTE_KEY_MAX 32             /* recipe keys (SHA-256) */
#define Z4_REMOTE_VALUE_MAX (256u << 20) /* refuse larger values */
#define Z4_REMOTE_INDEX_MAX (1ull << 32) /* refuse larger index files */

typedef struct z4_remote z4_remote;
typedef struct z4_remote_pack z4_remote_pack;

typedef struct {
	/* 1 if the remote holds (db, key), 0 if not, or an error. */
	int (*has)(z4_remote *r, z4_db db, const void *key, size_t klen);
	/* *val (caller frees with z4_free) gets a checked copy of the value. */
	int (*get)(uint8_t **val, size_t *vlen, z4_remote *r, z4_db db,
	           const void *key, size_t klen);
	/* Every (db, key) the remote holds, in no particular order; fn
	 * returning non-zero stops (that value is returned). */
	int (*list)(z4_remote *r,
	            int (*fn)(z4_db db, const uint8_t *key, size_t klen,
	                      uint64_t vlen, void *ud),
	            void *ud);
	int (*pack_begin)(z4_remote_pack **out, z4_remote *r);
	int (*pack_add)(z4_remote_pack *p, z4_db db, const void *key,
	                size_t klen, const void *val, size_t vlen);
	/* Publish the pack (durable on return) and free p, whatever the
	 * result. An empty pack publishes nothing. */
	int (*pack_commit)(z4_remote_pack *p);
	void (*pack_abort)(z4_remote_pack *p); /* NULL-safe, frees p */
	void (*free)(z4_remote *r);
} z4_remote_ops;

/* Every backend handle starts with this. */
struct z4_remote {
	const z4_remote_ops *ops;
};

#define Z4_REMOTE_CREATE 1u /* create the directory layout if missing */

/*
 * Open the directory remote at `dir` (with Z4_REMOTE_CREATE, create it).
 * Reads every index (each verified: checksum, order, bounds). Z4_ENOTFOUND
 * if it does not exist, Z4_ECORRUPT naming the file for a bad index.
 */
int z4_remote_dir_open(z4_remote **out, const char *dir, unsigned flags);

/* Convenience wrappers over r->ops. */
static inline int z4_remote_has(z4_remote *r, z4_db db, const void *key,
                                size_t klen)
{
	return r->ops->has(r, db, key, klen);
}
static inline int z4_remote_get(uint8_t **val, size_t *vlen, z4_remote *r,
                                z4_db db, const void *key, size_t klen)
{
	return r->ops->get(val, vlen, r, db, key, klen);
}
static inline void z4_remote_free(z4_remote *r)
{
	if (r)
		r->ops->free(r);
}

/* ---- the pack index format, exposed for tests and the fuzzer ---- */

#define Z4_REMOTE_INDEX_HEADER 48
#define Z4_REMOTE_INDEX_ENTRY 58
#define Z4_REMOTE_TRAILER 16
#define Z4_REMOTE_PACK_HEADER 8

typedef struct {
	uint8_t db;
	uint8_t klen;
	uint8_t key[Z4_REMOTE_KEY_MAX]; /* zero-padded past klen */
	uint64_t offset;                /* of the value in the pack */
	uint64_t len;
	uint64_t check; /* XXH3-64 of the value */
} z4_remote_entry;

typedef struct {
	uint8_t pack_id[16]; /* XXH3-128 of the pack file minus its trailer */
	uint64_t pack_size;
	size_t n;
	z4_remote_entry *e; /* owned, sorted by (db, klen, key) */
} z4_remote_index;

/* Parse and validate a whole index file (docs/format.md). Z4_ECORRUPT for
 * anything malformed, Z4_EUNSUPPORTED for a newer version. */
int z4_remote_index_parse(z4_remote_index *out, const uint8_t *p, size_t len);
void z4_remote_index_dispose(z4_remote_index *ix);
/* Binary search; the entry or NULL. */
const z4_remote_entry *z4_remote_index_find(const z4_remote_index *ix, z4_db db,
                                            const void *key, size_t klen);
/* Check a value read from the pack against its entry (length, XXH3-64). */
int z4_remote_entry_check(const z4_remote_entry *e, const uint8_t *val,
                          size_t len);
/* Check a pack file's header and trailer against its index (whole-pack
 * XXH3-128): for fsck and tests; readers check per object. */
int z4_remote_pack_verify(const z4_remote_index *ix, const uint8_t *pack,
                          size_t len);

#endif
