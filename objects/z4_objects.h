/*
 * z4_objects.h - the LMDB object store at $GIT_DIR/z4vc/store/.
 *
 * Named databases: "chunks" (chunk id -> encoded chunk), "tensors" (tensor
 * id -> tensor record), "recipes" (sha256 -> file recipe), "meta" (string
 * keys, e.g. "format" -> store format version). The store knows keys and
 * byte values only; it does not interpret them (no codec, no git).
 *
 * Concurrency: readers never block (MVCC snapshots); writers are serialised
 * by LMDB's own lock. Writes go through z4_objects_put_batch(), one write
 * transaction per batch, which grows the map and retries when LMDB reports
 * MDB_MAP_FULL, so callers never see map exhaustion; a full disk is Z4_EFULL
 * with the store unchanged.
 *
 * Map resizing (growth here, or adopting a size another process grew to)
 * replaces the mapping, so it runs only when no read transaction of this
 * store is open in this process: it waits for other threads' read
 * transactions to end (new ones wait behind it). A thread that itself holds
 * a read transaction on the store when put_batch, del_batch or rtxn_begin
 * must resize gets Z4_ELOCKED (nothing written) instead of a deadlock, so
 * end read transactions before writing, and never block a reader thread on
 * the writer while it holds a read transaction. Layout: docs/format.md.
 */
#ifndef Z4_OBJECTS_H
#define Z4_OBJECTS_H

#include <stddef.h>
#include <stdint.h>

#include "z4_err.h"

/* Store format, meta "format". 2: chunks may use chunk format 2 (rANS);
 * 3: also chunk format 3 (group scales); 4: also chunk format 4 (wide
 * context rANS); 5: also chunk format 5 (escape-coded arithmetic deltas);
 * 6: also chunk format 6 (short wide order-0 planes of escaped words).
 * An older store is upgraded in place when opened for
 * writing (its chunks still decode), so older z4vc versions refuse it
 * cleanly. */
#define Z4_STORE_FORMAT 6

typedef enum {
	Z4_DB_CHUNKS = 0,
	Z4_DB_TENSORS,
	Z4_DB_RECIPES,
	Z4_DB_META,
	Z4_DB_COUNT
} z4_db;

typedef struct z4_store z4_store;
typedef struct z4_rtxn z4_rtxn;

#define Z4_STORE_CREATE 1u   /* create the directory and databases */
#define Z4_STORE_READONLY 2u /* open for reading only */

/*
 * Open (or with Z4_STORE_CREATE, create) the store in directory `dir`.
 * A new store records meta "format" = Z4_STORE_FORMAT; an existing one with
 * a newer format is Z4_EUNSUPPORTED. Without CREATE a missing store is
 * Z4_ENOTFOUND. Sets z4_error_set() on failure.
 */
int z4_objects_open(z4_store **out, const char *dir, unsigned flags);

/*
 * z4_objects_open() with an explicit initial map size in bytes, rounded up to
 * the OS page size and raised to the data already stored; 0 selects the
 * default, max(2 x size of data.mdb, 1 GiB). Tests use a tiny map to drive
 * growth; the map still grows on demand either way.
 */
int z4_objects_open_ex(z4_store **out, const char *dir, unsigned flags,
		       uint64_t map_size);

/* Close; no read transaction of s may be open. NULL-safe. */
void z4_objects_free(z4_store *s);

/*
 * Free the reader slots of dead processes (mdb_reader_check); open and a
 * full reader table do this already. *cleared (may be NULL) gets how many.
 */
int z4_objects_reader_check(int *cleared, z4_store *s);

/* Longest key LMDB accepts (511 with default builds); keys are 1..this. */
size_t z4_objects_max_key(const z4_store *s);

/* Begin a read snapshot. Values returned by get are valid until end.
 * Z4_ELOCKED: see "Map resizing" above. */
int z4_objects_rtxn_begin(z4_rtxn **out, z4_store *s);
void z4_objects_rtxn_end(z4_rtxn *t); /* NULL-safe */

/*
 * Look up key in db. On success *data and *len borrow bytes inside the map,
 * valid until the read transaction ends. Z4_ENOTFOUND if absent.
 * Z4_ECORRUPT if a damaged page makes LMDB return a value that does not lie
 * inside data.mdb (touching it would be SIGBUS); this holds for every key
 * and value the store hands out, also from foreach.
 */
int z4_objects_get(const uint8_t **data, size_t *len, z4_rtxn *t, z4_db db,
		   const void *key, size_t klen);

/*
 * Hint that the caller is done with bytes returned by get (read-only map):
 * the whole pages inside [data, data+len) are dropped from this process's
 * resident set (the data stays in the page cache), so streaming through a
 * large store keeps RSS bounded. Harmless to omit.
 */
void z4_objects_release(z4_store *s, const uint8_t *data, size_t len);

/* Call fn for every key/value in db (in key order) until it returns non-zero
 * (which is returned). Bytes are valid during the call only. Z4_ECORRUPT,
 * before fn sees it, for a key or value outside data.mdb (see get). */
int z4_objects_foreach(z4_rtxn *t, z4_db db,
		       int (*fn)(const uint8_t *key, size_t klen,
				 const uint8_t *val, size_t vlen, void *ud),
		       void *ud);

typedef struct {
	z4_db db;
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
	int replace; /* 0: keep an existing value under the key (dedup) */
} z4_put;

/*
 * Write n items in one write transaction, durable (fsync) on return.
 * Either all are written or none is. Grows the map on MDB_MAP_FULL and
 * retries. Errors: Z4_EFULL (disk full), Z4_EIO, Z4_EINVAL, Z4_ETOOBIG (a
 * value over 4 GiB - 1), Z4_ELOCKED (see "Map resizing" above).
 */
int z4_objects_put_batch(z4_store *s, const z4_put *items, size_t n);

/* Delete keys (one write transaction). Missing keys are not an error. */
int z4_objects_del_batch(z4_store *s, z4_db db, const void *const *keys,
			 const size_t *klens, size_t n);

typedef struct {
	uint64_t entries[Z4_DB_COUNT];
	uint64_t value_bytes[Z4_DB_COUNT]; /* sum of value lengths */
	uint64_t map_size;     /* current map size */
	uint64_t used_bytes;   /* pages in use x page size */
	uint64_t file_bytes;   /* size of data.mdb on disk */
	unsigned format;       /* meta "format" */
} z4_store_stat;

int z4_objects_stat(z4_store_stat *out, z4_store *s);

/*
 * Store lock (file z4vc.lock in the store directory, flock). Every handle
 * holds it shared from open to free, so an exclusive holder knows no other
 * z4vc process has the store open; opening waits while someone holds it
 * exclusively. exclusive = 1 converts this handle's lock, retrying up to
 * timeout_ms while other processes hold it (Z4_ELOCKED after that);
 * exclusive = 0 converts back to shared. Z4_EUNSUPPORTED for exclusive if
 * the lock file could not be opened. Never take it exclusively while this
 * process has another handle on the same store: that handle's shared lock
 * conflicts with it.
 */
int z4_objects_lock(z4_store *s, int exclusive, unsigned timeout_ms);

/* Bytes of data.mdb that hold no live page: LMDB's free list plus any
 * file tail past the last used page. */
int z4_objects_free_bytes(uint64_t *out, z4_store *s);

/*
 * Rewrite data.mdb without free pages (mdb_env_copy2 with MDB_CP_COMPACT
 * into the directory <dir>.compact, fsync, then rename over data.mdb).
 * The handle *sp must hold the exclusive lock and no read transaction. It
 * is closed and replaced by a freshly opened one (shared lock), also on
 * error; the pointer is NULL only if that reopen failed. A crash leaves
 * either the old or the new file, both complete. before and after (may be
 * NULL) get the file sizes.
 */
int z4_objects_compact(z4_store **sp, uint64_t *before, uint64_t *after);

#endif
