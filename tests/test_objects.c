/*
 * test_objects.c - the LMDB object store against real LMDB: every test gets
 * a fresh mkdtemp directory (removed in teardown). Multi-process cases fork
 * children that open their own handle (an LMDB env must not cross fork) and
 * report through their exit status, never through cmocka.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include <lmdb.h> /* only to build stores z4vc itself never writes */

#include "z4_alloc.h"
#include "z4_objects.h"

#define MIB ((size_t)1 << 20)
#define MAX_READERS 126 /* the store's reader table */

typedef struct {
	char root[64];  /* mkdtemp */
	char path[128]; /* root/store */
	char mnt[128];  /* root/mnt when a tmpfs is mounted */
	int mounted;
} fixture;

static int rm_entry(const char *p, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/z4obj.XXXXXX",
		 tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(f->root)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/store", f->root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	if (f->mounted)
		umount2(f->mnt, MNT_DETACH);
	nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- helpers --------------------------------------------------------- */

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			rng_next(&x);
		p[i] = (uint8_t)(x >> (8 * (i % 8)));
	}
}

static int put1(z4_store *s, z4_db db, const char *key, const void *val,
		size_t vlen, int replace)
{
	z4_put it = {.db = db, .key = key, .klen = strlen(key), .val = val,
		     .vlen = vlen, .replace = replace};
	return z4_objects_put_batch(s, &it, 1);
}

static int puts1(z4_store *s, z4_db db, const char *key, const char *val)
{
	return put1(s, db, key, val, strlen(val), 0);
}

/* 1 if key holds exactly (val, vlen), 0 if absent, -1 if different. */
static int has(z4_store *s, z4_db db, const char *key, const void *val,
	       size_t vlen)
{
	z4_rtxn *t = NULL;
	const uint8_t *d;
	size_t n;
	int rc;

	if (z4_objects_rtxn_begin(&t, s) != Z4_OK)
		return -2;
	rc = z4_objects_get(&d, &n, t, db, key, strlen(key));
	if (rc == Z4_OK)
		rc = (n == vlen && (vlen == 0 || memcmp(d, val, n) == 0)) ? 1
									  : -1;
	else
		rc = rc == Z4_ENOTFOUND ? 0 : -3;
	z4_objects_rtxn_end(t);
	return rc;
}

static int hass(z4_store *s, z4_db db, const char *key, const char *val)
{
	return has(s, db, key, val, strlen(val));
}

static z4_store *open_ok(const char *dir, unsigned flags, uint64_t map)
{
	z4_store *s = NULL;
	int rc = z4_objects_open_ex(&s, dir, flags, map);
	if (rc != Z4_OK)
		print_error("open '%s': %s\n", dir, z4_error_last());
	assert_int_equal(rc, Z4_OK);
	assert_non_null(s);
	return s;
}

static void write_blobs(z4_store *s, const char *prefix, int first, int count,
			size_t size, int per_batch)
{
	uint8_t *buf = malloc(size * (size_t)per_batch);
	char(*keys)[32] = calloc((size_t)per_batch, 32);
	z4_put *items = calloc((size_t)per_batch, sizeof(*items));

	assert_non_null(buf);
	assert_non_null(keys);
	assert_non_null(items);
	for (int i = 0; i < count; i += per_batch) {
		int n = count - i < per_batch ? count - i : per_batch;
		for (int j = 0; j < n; j++) {
			int id = first + i + j;
			snprintf(keys[j], 32, "%s%06d", prefix, id);
			fill(buf + (size_t)j * size, size, (uint64_t)id);
			items[j] = (z4_put){.db = Z4_DB_CHUNKS,
					    .key = keys[j],
					    .klen = strlen(keys[j]),
					    .val = buf + (size_t)j * size,
					    .vlen = size};
		}
		int rc = z4_objects_put_batch(s, items, (size_t)n);
		if (rc)
			print_error("put_batch: %s\n", z4_error_last());
		assert_int_equal(rc, Z4_OK);
	}
	free(items);
	free(keys);
	free(buf);
}

static void check_blobs(z4_store *s, const char *prefix, int first, int count,
			size_t size)
{
	uint8_t *want = malloc(size);
	z4_rtxn *t = NULL;

	assert_non_null(want);
	assert_int_equal(z4_objects_rtxn_begin(&t, s), Z4_OK);
	for (int id = first; id < first + count; id++) {
		char key[32];
		const uint8_t *d;
		size_t n;
		snprintf(key, sizeof(key), "%s%06d", prefix, id);
		assert_int_equal(z4_objects_get(&d, &n, t, Z4_DB_CHUNKS, key,
						strlen(key)),
				 Z4_OK);
		assert_int_equal(n, size);
		fill(want, size, (uint64_t)id);
		assert_memory_equal(d, want, size);
		z4_objects_release(s, d, n);
	}
	z4_objects_rtxn_end(t);
	free(want);
}

static int count_db(z4_store *s, z4_db db)
{
	z4_store_stat st;
	assert_int_equal(z4_objects_stat(&st, s), Z4_OK);
	return (int)st.entries[db];
}

static void wait_child_ok(pid_t pid)
{
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void set_meta_format(const char *dir, const char *value)
{
	z4_store *s = open_ok(dir, 0, 0);
	assert_int_equal(put1(s, Z4_DB_META, "format", value, strlen(value), 1),
			 Z4_OK);
	z4_objects_free(s);
}

/* ---- open ------------------------------------------------------------- */

static void test_create_reopen(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	struct stat st;

	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "k1", "v1"), Z4_OK);
	z4_objects_free(s);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	s = open_ok(f->path, 0, 0);
	assert_int_equal(hass(s, Z4_DB_CHUNKS, "k1", "v1"), 1);
	z4_objects_free(s);
	/* CREATE on an existing store opens it unchanged. */
	s = open_ok(f->path, Z4_STORE_CREATE, 0);
	assert_int_equal(hass(s, Z4_DB_CHUNKS, "k1", "v1"), 1);
	z4_objects_free(s);
	s = open_ok(f->path, Z4_STORE_READONLY, 0);
	assert_int_equal(hass(s, Z4_DB_CHUNKS, "k1", "v1"), 1);
	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "k2", "v2"), Z4_EINVAL);
	z4_objects_free(s);
	z4_objects_free(NULL);
}

static void test_missing_store(void **state)
{
	fixture *f = *state;
	z4_store *s = (z4_store *)&s;
	char p[256];

	assert_int_equal(z4_objects_open(&s, f->path, 0), Z4_ENOTFOUND);
	assert_null(s);
	assert_non_null(strstr(z4_error_last(), f->path));
	assert_int_equal(z4_objects_open(&s, f->path, Z4_STORE_READONLY),
			 Z4_ENOTFOUND);
	/* An existing empty directory is no store either. */
	assert_int_equal(mkdir(f->path, 0777), 0);
	assert_int_equal(z4_objects_open(&s, f->path, 0), Z4_ENOTFOUND);
	assert_null(s);
	/* Only the last component is created. */
	snprintf(p, sizeof(p), "%s/no/such", f->root);
	assert_int_equal(z4_objects_open(&s, p, Z4_STORE_CREATE),
			 Z4_ENOTFOUND);
	assert_int_equal(
		z4_objects_open(&s, f->path, Z4_STORE_CREATE | Z4_STORE_READONLY),
		Z4_EINVAL);
	assert_int_equal(z4_objects_open(&s, "", Z4_STORE_CREATE), Z4_EINVAL);
}

static void test_not_lmdb_is_corrupt(void **state)
{
	fixture *f = *state;
	z4_store *s = NULL;
	char p[256];
	uint8_t junk[16384];
	FILE *fp;

	assert_int_equal(mkdir(f->path, 0777), 0);
	snprintf(p, sizeof(p), "%s/data.mdb", f->path);
	fp = fopen(p, "wb");
	assert_non_null(fp);
	fill(junk, sizeof(junk), 7);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
	fclose(fp);
	assert_int_equal(z4_objects_open(&s, f->path, 0), Z4_ECORRUPT);
	assert_null(s);
}

/* Build an LMDB env holding the named databases in `dbs` (may be none). */
static void make_raw_env(const char *dir, const char *const *dbs, int n)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;

	assert_int_equal(mkdir(dir, 0777), 0);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(mdb_dbi_open(txn, dbs[i], MDB_CREATE, &dbi),
				 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void test_uninitialised_and_partial_store(void **state)
{
	static const char *const some[] = {"chunks", "meta"};
	fixture *f = *state;
	z4_store *s = NULL;
	z4_store_stat st;
	char p[256];

	/* data.mdb without our databases: a creation that never committed. */
	make_raw_env(f->path, NULL, 0);
	assert_int_equal(z4_objects_open(&s, f->path, 0), Z4_ENOTFOUND);
	assert_int_equal(z4_objects_open(&s, f->path, Z4_STORE_READONLY),
			 Z4_ENOTFOUND);
	s = open_ok(f->path, Z4_STORE_CREATE, 0);
	assert_int_equal(z4_objects_stat(&st, s), Z4_OK);
	assert_int_equal(st.format, Z4_STORE_FORMAT);
	z4_objects_free(s);

	snprintf(p, sizeof(p), "%s/partial", f->root);
	make_raw_env(p, some, 2);
	assert_int_equal(z4_objects_open(&s, p, 0), Z4_ECORRUPT);
	assert_int_equal(z4_objects_open(&s, p, Z4_STORE_CREATE), Z4_ECORRUPT);
	assert_null(s);
}

static void test_format_newer_unsupported(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	z4_store_stat st;

	assert_int_equal(hass(s, Z4_DB_META, "format", "6"), 1);
	assert_int_equal(z4_objects_stat(&st, s), Z4_OK);
	assert_int_equal(st.format, Z4_STORE_FORMAT);
	z4_objects_free(s);

	set_meta_format(f->path, "7");
	s = NULL;
	assert_int_equal(z4_objects_open(&s, f->path, 0), Z4_EUNSUPPORTED);
	assert_null(s);
	assert_non_null(strstr(z4_error_last(), "format 7"));
	assert_int_equal(z4_objects_open(&s, f->path, Z4_STORE_READONLY),
			 Z4_EUNSUPPORTED);
	assert_int_equal(z4_objects_open(&s, f->path, Z4_STORE_CREATE),
			 Z4_EUNSUPPORTED);
}

/* A format-1 store (chunk format 1 only) opens read-only as it is and is
 * upgraded in place when opened for writing. */
static void test_format_upgrade(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	z4_store_stat st;

	z4_objects_free(s);
	set_meta_format(f->path, "1");
	s = open_ok(f->path, Z4_STORE_READONLY, 0);
	assert_int_equal(z4_objects_stat(&st, s), Z4_OK);
	assert_int_equal(st.format, 1);
	z4_objects_free(s);
	s = open_ok(f->path, 0, 0);
	assert_int_equal(z4_objects_stat(&st, s), Z4_OK);
	assert_int_equal(st.format, Z4_STORE_FORMAT);
	z4_objects_free(s);
}

static void test_format_garbled_corrupt(void **state)
{
	static const char *const bad[] = {"", "x", "01", "1 ", "0",
					  "1234567890"};
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	z4_objects_free(s);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_meta_format(f->path, bad[i]);
		s = NULL;
		assert_int_equal(z4_objects_open(&s, f->path, 0), Z4_ECORRUPT);
		assert_null(s);
		assert_non_null(strstr(z4_error_last(), "format"));
		/* A bad store can't be opened to repair it: start afresh. */
		nftw(f->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		s = open_ok(f->path, Z4_STORE_CREATE, 0);
		z4_objects_free(s);
	}
	/* Missing format on an initialised store. */
	s = open_ok(f->path, 0, 0);
	{
		const void *k[] = {"format"};
		size_t kl[] = {6};
		assert_int_equal(z4_objects_del_batch(s, Z4_DB_META, k, kl, 1),
				 Z4_OK);
	}
	z4_objects_free(s);
	assert_int_equal(z4_objects_open(&s, f->path, 0), Z4_ECORRUPT);
	assert_int_equal(z4_objects_open(&s, f->path, Z4_STORE_CREATE),
			 Z4_ECORRUPT);
}

static void test_open_oom(void **state)
{
	fixture *f = *state;
	z4_store *s = NULL;
	z4_rtxn *t = NULL;
	long n;
	int rc;

	for (n = 0;; n++) {
		z4_alloc_fail_after(n);
		rc = z4_objects_open(&s, f->path, Z4_STORE_CREATE);
		z4_alloc_fail_after(-1);
		if (rc == Z4_OK)
			break;
		assert_int_equal(rc, Z4_ENOMEM);
		assert_null(s);
	}
	assert_true(n > 0);
	z4_alloc_fail_after(0);
	rc = z4_objects_rtxn_begin(&t, s);
	z4_alloc_fail_after(-1);
	assert_int_equal(rc, Z4_ENOMEM);
	assert_null(t);
	z4_objects_free(s);
}

/* ---- reads and writes --------------------------------------------------- */

static void test_roundtrip_each_db(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	uint8_t big[3 * 4096 + 17];
	z4_rtxn *t = NULL;
	const uint8_t *d;
	size_t n;

	fill(big, sizeof(big), 3);
	for (int db = 0; db < Z4_DB_COUNT; db++) {
		char key[16];
		snprintf(key, sizeof(key), "key-%d", db);
		assert_int_equal(put1(s, (z4_db)db, key, big, sizeof(big) - db,
				      0),
				 Z4_OK);
	}
	assert_int_equal(put1(s, Z4_DB_TENSORS, "empty", NULL, 0, 0), Z4_OK);
	for (int db = 0; db < Z4_DB_COUNT; db++) {
		char key[16];
		snprintf(key, sizeof(key), "key-%d", db);
		assert_int_equal(has(s, (z4_db)db, key, big, sizeof(big) - db),
				 1);
		/* The same key in another db is a different object. */
		snprintf(key, sizeof(key), "key-%d", (db + 1) % Z4_DB_COUNT);
		assert_int_equal(has(s, (z4_db)db, key, big, sizeof(big) - db),
				 0);
	}
	assert_int_equal(has(s, Z4_DB_TENSORS, "empty", NULL, 0), 1);

	assert_int_equal(z4_objects_rtxn_begin(&t, s), Z4_OK);
	assert_int_equal(z4_objects_get(&d, &n, t, Z4_DB_CHUNKS, "nope", 4),
			 Z4_ENOTFOUND);
	assert_null(d);
	assert_int_equal(n, 0);
	assert_int_equal(z4_objects_get(&d, &n, t, Z4_DB_CHUNKS, "", 0),
			 Z4_EINVAL);
	assert_int_equal(z4_objects_get(&d, &n, t, (z4_db)9, "k", 1),
			 Z4_EINVAL);
	z4_objects_rtxn_end(t);
	z4_objects_rtxn_end(NULL);
	z4_objects_free(s);
}

static void test_dedup_and_replace(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);

	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "id", "first"), Z4_OK);
	/* replace = 0: an existing key is kept, and that is no error. */
	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "id", "second"), Z4_OK);
	assert_int_equal(hass(s, Z4_DB_CHUNKS, "id", "first"), 1);
	assert_int_equal(put1(s, Z4_DB_CHUNKS, "id", "third", 5, 1), Z4_OK);
	assert_int_equal(hass(s, Z4_DB_CHUNKS, "id", "third"), 1);
	/* Within one batch the first of two equal keys wins too. */
	{
		z4_put it[2] = {
			{Z4_DB_TENSORS, "t", 1, "A", 1, 0},
			{Z4_DB_TENSORS, "t", 1, "B", 1, 0},
		};
		assert_int_equal(z4_objects_put_batch(s, it, 2), Z4_OK);
		assert_int_equal(hass(s, Z4_DB_TENSORS, "t", "A"), 1);
	}
	assert_int_equal(count_db(s, Z4_DB_CHUNKS), 1);
	assert_int_equal(z4_objects_put_batch(s, NULL, 0), Z4_OK);
	z4_objects_free(s);
}

static void test_batch_invalid_item_writes_nothing(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	size_t maxkey = z4_objects_max_key(s);
	char *longkey = calloc(1, maxkey + 2);
	z4_put it[3] = {
		{Z4_DB_CHUNKS, "a", 1, "1", 1, 0},
		{Z4_DB_TENSORS, "b", 1, "2", 1, 0},
		{Z4_DB_RECIPES, "c", 1, "3", 1, 0},
	};
	z4_store_stat st;

	assert_true(maxkey >= 64);
	assert_non_null(longkey);
	memset(longkey, 'k', maxkey + 1);

	it[2].klen = 0;
	assert_int_equal(z4_objects_put_batch(s, it, 3), Z4_EINVAL);
	assert_non_null(strstr(z4_error_last(), "item 2"));
	it[2].klen = maxkey + 1;
	it[2].key = longkey;
	assert_int_equal(z4_objects_put_batch(s, it, 3), Z4_EINVAL);
	it[2] = (z4_put){(z4_db)Z4_DB_COUNT, "c", 1, "3", 1, 0};
	assert_int_equal(z4_objects_put_batch(s, it, 3), Z4_EINVAL);
	it[2] = (z4_put){Z4_DB_RECIPES, NULL, 1, "3", 1, 0};
	assert_int_equal(z4_objects_put_batch(s, it, 3), Z4_EINVAL);
	it[2] = (z4_put){Z4_DB_RECIPES, "c", 1, NULL, 1, 0};
	assert_int_equal(z4_objects_put_batch(s, it, 3), Z4_EINVAL);
	assert_int_equal(z4_objects_put_batch(s, NULL, 1), Z4_EINVAL);
	if (SIZE_MAX > 0xffffffffu) { /* never read: rejected up front */
		it[2] = (z4_put){Z4_DB_RECIPES, "c", 1, "3",
				 (size_t)0xffffffffu + 1, 0};
		assert_int_equal(z4_objects_put_batch(s, it, 3), Z4_ETOOBIG);
	}

	assert_int_equal(z4_objects_stat(&st, s), Z4_OK);
	assert_int_equal(st.entries[Z4_DB_CHUNKS], 0);
	assert_int_equal(st.entries[Z4_DB_TENSORS], 0);
	assert_int_equal(st.entries[Z4_DB_RECIPES], 0);
	assert_int_equal(st.entries[Z4_DB_META], 1);

	/* The longest legal key works. */
	it[2] = (z4_put){Z4_DB_RECIPES, longkey, maxkey, "3", 1, 0};
	assert_int_equal(z4_objects_put_batch(s, it, 3), Z4_OK);
	assert_int_equal(count_db(s, Z4_DB_RECIPES), 1);
	free(longkey);
	z4_objects_free(s);
}

static void test_del_batch(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	const void *keys[] = {"a", "missing", "c"};
	size_t klens[] = {1, 7, 1};

	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "a", "1"), Z4_OK);
	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "b", "2"), Z4_OK);
	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "c", "3"), Z4_OK);
	assert_int_equal(puts1(s, Z4_DB_TENSORS, "a", "t"), Z4_OK);

	klens[1] = 0;
	assert_int_equal(z4_objects_del_batch(s, Z4_DB_CHUNKS, keys, klens, 3),
			 Z4_EINVAL);
	assert_int_equal(count_db(s, Z4_DB_CHUNKS), 3);
	klens[1] = 7;
	assert_int_equal(z4_objects_del_batch(s, Z4_DB_CHUNKS, keys, klens, 3),
			 Z4_OK);
	assert_int_equal(hass(s, Z4_DB_CHUNKS, "a", "1"), 0);
	assert_int_equal(hass(s, Z4_DB_CHUNKS, "b", "2"), 1);
	assert_int_equal(hass(s, Z4_DB_CHUNKS, "c", "3"), 0);
	assert_int_equal(hass(s, Z4_DB_TENSORS, "a", "t"), 1);
	assert_int_equal(z4_objects_del_batch(s, Z4_DB_CHUNKS, keys, klens, 0),
			 Z4_OK);
	z4_objects_free(s);
}

typedef struct {
	char seen[8][8];
	int n;
	int stop_at;
} walk;

static int walk_fn(const uint8_t *key, size_t klen, const uint8_t *val,
		   size_t vlen, void *ud)
{
	walk *w = ud;
	(void)val;
	(void)vlen;
	if (w->n < 8 && klen < 8)
		memcpy(w->seen[w->n], key, klen);
	w->n++;
	return w->n == w->stop_at ? 7 : 0;
}

static void test_foreach_order_and_stop(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	z4_rtxn *t = NULL;
	walk w = {0};

	assert_int_equal(puts1(s, Z4_DB_TENSORS, "c", "3"), Z4_OK);
	assert_int_equal(puts1(s, Z4_DB_TENSORS, "a", "1"), Z4_OK);
	assert_int_equal(puts1(s, Z4_DB_TENSORS, "b", "2"), Z4_OK);
	assert_int_equal(z4_objects_rtxn_begin(&t, s), Z4_OK);
	assert_int_equal(z4_objects_foreach(t, Z4_DB_TENSORS, walk_fn, &w),
			 Z4_OK);
	assert_int_equal(w.n, 3);
	assert_string_equal(w.seen[0], "a");
	assert_string_equal(w.seen[1], "b");
	assert_string_equal(w.seen[2], "c");
	memset(&w, 0, sizeof(w));
	w.stop_at = 2;
	assert_int_equal(z4_objects_foreach(t, Z4_DB_TENSORS, walk_fn, &w), 7);
	assert_int_equal(w.n, 2);
	memset(&w, 0, sizeof(w));
	assert_int_equal(z4_objects_foreach(t, Z4_DB_RECIPES, walk_fn, &w),
			 Z4_OK);
	assert_int_equal(w.n, 0);
	z4_objects_rtxn_end(t);
	z4_objects_free(s);
}

static void test_stat_counts(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	uint8_t v[30] = {0};
	z4_store_stat st;

	assert_int_equal(put1(s, Z4_DB_CHUNKS, "c1", v, 10, 0), Z4_OK);
	assert_int_equal(put1(s, Z4_DB_CHUNKS, "c2", v, 20, 0), Z4_OK);
	assert_int_equal(put1(s, Z4_DB_CHUNKS, "c3", v, 30, 0), Z4_OK);
	assert_int_equal(put1(s, Z4_DB_TENSORS, "t1", v, 5, 0), Z4_OK);
	assert_int_equal(put1(s, Z4_DB_TENSORS, "t2", v, 6, 0), Z4_OK);
	assert_int_equal(put1(s, Z4_DB_RECIPES, "r1", v, 0, 0), Z4_OK);
	assert_int_equal(z4_objects_stat(&st, s), Z4_OK);
	assert_int_equal(st.entries[Z4_DB_CHUNKS], 3);
	assert_int_equal(st.value_bytes[Z4_DB_CHUNKS], 60);
	assert_int_equal(st.entries[Z4_DB_TENSORS], 2);
	assert_int_equal(st.value_bytes[Z4_DB_TENSORS], 11);
	assert_int_equal(st.entries[Z4_DB_RECIPES], 1);
	assert_int_equal(st.value_bytes[Z4_DB_RECIPES], 0);
	assert_int_equal(st.entries[Z4_DB_META], 1);
	assert_int_equal(st.value_bytes[Z4_DB_META], 1);
	assert_int_equal(st.format, Z4_STORE_FORMAT);
	assert_true(st.map_size >= ((uint64_t)1 << 30));
	assert_true(st.used_bytes > 0 && st.used_bytes <= st.map_size);
	assert_true(st.file_bytes >= st.used_bytes);
	z4_objects_free(s);
}

/* ---- map growth ------------------------------------------------------- */

static void test_map_growth_several_batches(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, MIB);
	z4_store_stat st;

	assert_int_equal(z4_objects_stat(&st, s), Z4_OK);
	assert_int_equal(st.map_size, MIB);
	write_blobs(s, "g", 0, 64, MIB, 4); /* 16 batches of 4 MiB */
	assert_int_equal(z4_objects_stat(&st, s), Z4_OK);
	assert_true(st.map_size >= 64 * MIB);
	z4_objects_free(s);

	s = open_ok(f->path, 0, MIB); /* a too small map is raised */
	check_blobs(s, "g", 0, 64, MIB);
	z4_objects_free(s);
}

static void test_map_growth_single_batch(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, MIB);

	write_blobs(s, "one", 0, 64, MIB, 64); /* one 64 MiB batch */
	z4_objects_free(s);
	s = open_ok(f->path, 0, 0);
	check_blobs(s, "one", 0, 64, MIB);
	assert_int_equal(count_db(s, Z4_DB_CHUNKS), 64);
	z4_objects_free(s);
}

/* Tiny items cost LMDB far more than their bytes: the up-front estimate
 * falls short and the batch must survive MDB_MAP_FULL and a retry. */
static void test_map_full_retry_small_items(void **state)
{
	enum { N = 150000 };
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, MIB);
	uint8_t(*keys)[8] = malloc((size_t)N * 8);
	z4_put *items = calloc(N, sizeof(*items));
	uint64_t x = 42;
	z4_rtxn *t = NULL;

	assert_non_null(keys);
	assert_non_null(items);
	for (int i = 0; i < N; i++) {
		uint64_t r = rng_next(&x);
		memcpy(keys[i], &r, 8);
		items[i] = (z4_put){Z4_DB_TENSORS, keys[i], 8, NULL, 0, 0};
	}
	assert_int_equal(z4_objects_put_batch(s, items, N), Z4_OK);
	assert_int_equal(count_db(s, Z4_DB_TENSORS), N);
	z4_objects_free(s);
	s = open_ok(f->path, 0, 0);
	assert_int_equal(z4_objects_rtxn_begin(&t, s), Z4_OK);
	for (int i = 0; i < N; i += 997) {
		const uint8_t *d;
		size_t n;
		assert_int_equal(z4_objects_get(&d, &n, t, Z4_DB_TENSORS,
						keys[i], 8),
				 Z4_OK);
		assert_int_equal(n, 0);
	}
	z4_objects_rtxn_end(t);
	z4_objects_free(s);
	free(items);
	free(keys);
}

/* Another process grows the map past ours; both reads and writes here
 * notice (MDB_MAP_RESIZED) and map again. */
static void test_map_resized_by_other_process(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, MIB);
	z4_store_stat st;
	pid_t pid;

	assert_int_equal(puts1(s, Z4_DB_RECIPES, "p0", "parent"), Z4_OK);
	for (int round = 0; round < 2; round++) {
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			z4_store *c = NULL;
			uint8_t *buf = malloc(MIB);
			int rc = z4_objects_open_ex(&c, f->path, 0, MIB);
			for (int i = 0; rc == 0 && i < 16; i++) {
				char key[32];
				z4_put it = {Z4_DB_CHUNKS, key, 0, buf, MIB, 0};
				snprintf(key, sizeof(key), "r%06d",
					 round * 16 + i);
				it.klen = strlen(key);
				fill(buf, MIB, (uint64_t)(round * 16 + i));
				rc = z4_objects_put_batch(c, &it, 1);
			}
			_exit(rc == 0 ? 0 : 1);
		}
		wait_child_ok(pid);
		if (round == 0) {
			/* Read first: rtxn_begin meets MDB_MAP_RESIZED. */
			check_blobs(s, "r", 0, 16, MIB);
			assert_int_equal(puts1(s, Z4_DB_RECIPES, "p1", "x"),
					 Z4_OK);
		} else {
			/* Write first. */
			assert_int_equal(puts1(s, Z4_DB_RECIPES, "p2", "y"),
					 Z4_OK);
			check_blobs(s, "r", 0, 32, MIB);
		}
	}
	assert_int_equal(hass(s, Z4_DB_RECIPES, "p0", "parent"), 1);
	assert_int_equal(hass(s, Z4_DB_RECIPES, "p2", "y"), 1);
	assert_int_equal(z4_objects_stat(&st, s), Z4_OK);
	assert_true(st.map_size >= 32 * MIB);
	assert_int_equal(st.entries[Z4_DB_CHUNKS], 32);
	z4_objects_free(s);
}

/* ---- concurrency ------------------------------------------------------ */

static void test_two_writer_processes(void **state)
{
	enum { BATCHES = 200, PER = 4 };
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	int go[2];
	pid_t pids[2];
	char key[32];

	z4_objects_free(s);
	assert_int_equal(pipe(go), 0);
	fflush(NULL);
	for (int c = 0; c < 2; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] == 0) {
			z4_store *cs = NULL;
			char b;
			int rc;
			close(go[1]);
			(void)!read(go[0], &b, 1); /* EOF: everyone starts */
			rc = z4_objects_open(&cs, f->path, 0);
			for (int i = 0; rc == 0 && i < BATCHES; i++) {
				char k[PER][32];
				uint32_t v[PER];
				z4_put it[PER];
				for (int j = 0; j < PER; j++) {
					snprintf(k[j], 32, "w%d-%05d", c,
						 i * PER + j);
					v[j] = (uint32_t)(i * PER + j);
					it[j] = (z4_put){Z4_DB_CHUNKS, k[j],
							 strlen(k[j]), &v[j],
							 sizeof(v[j]), 0};
				}
				rc = z4_objects_put_batch(cs, it, PER);
			}
			_exit(rc == 0 ? 0 : 1);
		}
	}
	close(go[0]);
	close(go[1]);
	wait_child_ok(pids[0]);
	wait_child_ok(pids[1]);

	s = open_ok(f->path, 0, 0);
	assert_int_equal(count_db(s, Z4_DB_CHUNKS), 2 * BATCHES * PER);
	for (int c = 0; c < 2; c++)
		for (uint32_t i = 0; i < BATCHES * PER; i++) {
			snprintf(key, sizeof(key), "w%d-%05u", c, i);
			assert_int_equal(has(s, Z4_DB_CHUNKS, key, &i, 4), 1);
		}
	z4_objects_free(s);
}

static void test_snapshot_isolation(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	z4_rtxn *old = NULL, *cur = NULL;
	const uint8_t *d;
	size_t n;

	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "a", "1"), Z4_OK);
	assert_int_equal(z4_objects_rtxn_begin(&old, s), Z4_OK);
	/* No remap is needed, so writing while holding a snapshot works. */
	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "b", "2"), Z4_OK);
	assert_int_equal(put1(s, Z4_DB_CHUNKS, "a", "9", 1, 1), Z4_OK);
	assert_int_equal(z4_objects_get(&d, &n, old, Z4_DB_CHUNKS, "b", 1),
			 Z4_ENOTFOUND);
	assert_int_equal(z4_objects_get(&d, &n, old, Z4_DB_CHUNKS, "a", 1),
			 Z4_OK);
	assert_memory_equal(d, "1", 1);
	assert_int_equal(z4_objects_rtxn_begin(&cur, s), Z4_OK);
	assert_int_equal(z4_objects_get(&d, &n, cur, Z4_DB_CHUNKS, "b", 1),
			 Z4_OK);
	assert_memory_equal(d, "2", 1);
	assert_int_equal(z4_objects_get(&d, &n, cur, Z4_DB_CHUNKS, "a", 1),
			 Z4_OK);
	assert_memory_equal(d, "9", 1);
	z4_objects_rtxn_end(old);
	z4_objects_rtxn_end(cur);
	z4_objects_free(s);
}

typedef struct {
	z4_store *s;
	z4_rtxn *t;
	int ready[2]; /* pipe: the thread's snapshot is open */
	int rc;
	int got;
} reader_arg;

static int read_a(z4_rtxn *t)
{
	const uint8_t *d;
	size_t n;
	int rc = z4_objects_get(&d, &n, t, Z4_DB_CHUNKS, "a", 1);
	return rc == 0 && n == 1 && d[0] == '1';
}

static void *hold_snapshot(void *p)
{
	reader_arg *a = p;
	struct timespec ts = {0, 100 * 1000 * 1000};
	char b = 1;

	a->rc = z4_objects_rtxn_begin(&a->t, a->s);
	(void)!write(a->ready[1], &b, 1);
	if (a->rc)
		return NULL;
	nanosleep(&ts, NULL); /* the writer is now waiting to remap */
	a->got = read_a(a->t);
	z4_objects_rtxn_end(a->t);
	return NULL;
}

/* A resize waits for other threads' snapshots but refuses to wait for the
 * caller's own (Z4_ELOCKED, nothing written). */
static void test_resize_waits_for_readers(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, MIB);
	uint8_t *big = calloc(1, 4 * MIB);
	reader_arg a = {0};
	z4_rtxn *mine = NULL;
	pthread_t th;
	char b;

	assert_non_null(big);
	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "a", "1"), Z4_OK);

	assert_int_equal(z4_objects_rtxn_begin(&mine, s), Z4_OK);
	assert_int_equal(put1(s, Z4_DB_CHUNKS, "big", big, 4 * MIB, 0),
			 Z4_ELOCKED);
	assert_true(read_a(mine)); /* the snapshot is still usable */
	z4_objects_rtxn_end(mine);
	assert_int_equal(has(s, Z4_DB_CHUNKS, "big", big, 4 * MIB), 0);

	a.s = s;
	assert_int_equal(pipe(a.ready), 0);
	assert_int_equal(pthread_create(&th, NULL, hold_snapshot, &a), 0);
	assert_int_equal(read(a.ready[0], &b, 1), 1);
	assert_int_equal(put1(s, Z4_DB_CHUNKS, "big", big, 4 * MIB, 0), Z4_OK);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(a.rc, Z4_OK);
	assert_true(a.got);
	assert_int_equal(has(s, Z4_DB_CHUNKS, "big", big, 4 * MIB), 1);
	close(a.ready[0]);
	close(a.ready[1]);
	free(big);
	z4_objects_free(s);
}

static void *use_and_end(void *p)
{
	reader_arg *a = p;
	a->got = read_a(a->t);
	z4_objects_rtxn_end(a->t);
	return NULL;
}

/* MDB_NOTLS: a snapshot begun in one thread is used and ended in another. */
static void test_snapshot_moves_between_threads(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	reader_arg a = {0};
	pthread_t th;

	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "a", "1"), Z4_OK);
	assert_int_equal(z4_objects_rtxn_begin(&a.t, s), Z4_OK);
	assert_int_equal(pthread_create(&th, NULL, use_and_end, &a), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(a.got);
	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "b", "2"), Z4_OK);
	z4_objects_free(s);
}

static pid_t spawn_reader(const char *dir, int report_fd)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		z4_store *c = NULL;
		z4_rtxn *t = NULL;
		char ok = 'E';
		if (z4_objects_open(&c, dir, 0) == 0 &&
		    z4_objects_rtxn_begin(&t, c) == 0)
			ok = 'R';
		(void)!write(report_fd, &ok, 1);
		for (;;)
			pause();
	}
	return pid;
}

/* Reader slots of SIGKILLed processes are reclaimed: a full table of dead
 * readers blocks neither new readers nor writers. */
static void test_stale_readers_reclaimed(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	pid_t pids[MAX_READERS];
	z4_rtxn *t = NULL;
	int fds[2], cleared = -1;

	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "a", "1"), Z4_OK);
	assert_int_equal(pipe(fds), 0);
	for (int i = 0; i < MAX_READERS; i++) {
		char b = 0;
		pids[i] = spawn_reader(f->path, fds[1]);
		assert_true(pids[i] > 0);
		assert_int_equal(read(fds[0], &b, 1), 1);
		assert_int_equal(b, 'R');
	}
	for (int i = 0; i < MAX_READERS; i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < MAX_READERS; i++)
		assert_int_equal(waitpid(pids[i], NULL, 0), pids[i]);

	/* Every slot belongs to a dead process now. */
	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "b", "2"), Z4_OK);
	assert_int_equal(z4_objects_rtxn_begin(&t, s), Z4_OK);
	z4_objects_rtxn_end(t);
	assert_int_equal(hass(s, Z4_DB_CHUNKS, "b", "2"), 1);

	/* And explicitly. */
	for (int i = 0; i < 3; i++) {
		char b = 0;
		pids[i] = spawn_reader(f->path, fds[1]);
		assert_true(pids[i] > 0);
		assert_int_equal(read(fds[0], &b, 1), 1);
		assert_int_equal(b, 'R');
	}
	for (int i = 0; i < 3; i++) {
		kill(pids[i], SIGKILL);
		assert_int_equal(waitpid(pids[i], NULL, 0), pids[i]);
	}
	assert_int_equal(z4_objects_reader_check(&cleared, s), Z4_OK);
	assert_int_equal(cleared, 3);
	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "c", "3"), Z4_OK);
	close(fds[0]);
	close(fds[1]);
	z4_objects_free(s);
}

/* ---- release ------------------------------------------------------------ */

/* Resident kB of the mapping holding addr (/proc/self/smaps), or -1. */
static long rss_kb(const void *addr)
{
	FILE *fp = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0;
	long kb = -1;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (in && sscanf(line, "Rss: %ld kB", &kb) == 1)
			break;
	}
	fclose(fp);
	return kb;
}

static void test_release_keeps_data(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	size_t len = MIB + 123;
	uint8_t *want = malloc(len), *heap = malloc(len);
	z4_rtxn *t = NULL;
	const uint8_t *d;
	size_t n;
	long before, after;

	assert_non_null(want);
	assert_non_null(heap);
	fill(want, len, 11);
	assert_int_equal(put1(s, Z4_DB_CHUNKS, "big", want, len, 0), Z4_OK);
	assert_int_equal(puts1(s, Z4_DB_CHUNKS, "small", "tiny"), Z4_OK);

	assert_int_equal(z4_objects_rtxn_begin(&t, s), Z4_OK);
	assert_int_equal(z4_objects_get(&d, &n, t, Z4_DB_CHUNKS, "big", 3),
			 Z4_OK);
	assert_int_equal(n, len);
	assert_memory_equal(d, want, len);
	before = rss_kb(d);
	z4_objects_release(s, d, n);
	after = rss_kb(d);
	if (before >= 0) /* the value's ~256 whole pages left the RSS */
		assert_true(before - after >= 1000);
	assert_memory_equal(d, want, len); /* faulted back in, same bytes */
	z4_objects_release(s, d + 5000, 3 * 4096);
	z4_objects_release(s, d, n);
	assert_int_equal(z4_objects_get(&d, &n, t, Z4_DB_CHUNKS, "big", 3),
			 Z4_OK);
	assert_memory_equal(d, want, len);
	assert_int_equal(z4_objects_get(&d, &n, t, Z4_DB_CHUNKS, "small", 5),
			 Z4_OK);
	z4_objects_release(s, d, n);
	assert_memory_equal(d, "tiny", 4);

	/* Not map memory: must be ignored (DONTNEED would zero it). */
	fill(heap, len, 12);
	z4_objects_release(s, heap, len);
	fill(want, len, 12);
	assert_memory_equal(heap, want, len);
	z4_objects_release(s, NULL, 10);
	z4_objects_release(NULL, heap, len);
	z4_objects_rtxn_end(t);
	free(heap);
	free(want);
	z4_objects_free(s);
}

/* ---- corrupt pages: values past the end of data.mdb ------------------- */

/*
 * LMDB's leaf node, as in its mdb.c (0.9, little endian): 16-bit halves of
 * the data size, flags (F_BIGDATA: the data is the 8-byte number of the
 * first overflow page), key size, then the key and the data.
 */
#define NODE_HDR 8
#define NODE_BIGDATA 0x01

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	assert_non_null(fp);
	assert_int_equal(fstat(fileno(fp), &st), 0);
	*len = (size_t)st.st_size;
	buf = malloc(*len);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, *len, fp), *len);
	fclose(fp);
	return buf;
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Offset of the leaf node holding `key`, which must occur once. */
static size_t find_node(const uint8_t *buf, size_t len, const char *key)
{
	size_t klen = strlen(key);
	const uint8_t *hit = memmem(buf, len, key, klen);
	uint16_t ksize;

	assert_non_null(hit);
	assert_null(memmem(hit + 1, len - (size_t)(hit + 1 - buf), key, klen));
	assert_true(hit - buf >= NODE_HDR);
	memcpy(&ksize, hit - 2, 2);
	assert_int_equal(ksize, klen);
	return (size_t)(hit - buf) - NODE_HDR;
}

static int get_status(z4_store *s, z4_db db, const char *key)
{
	z4_rtxn *t = NULL;
	const uint8_t *d;
	size_t n;
	int rc;

	assert_int_equal(z4_objects_rtxn_begin(&t, s), Z4_OK);
	rc = z4_objects_get(&d, &n, t, db, key, strlen(key));
	/* Read the last byte: past the end of the file that faults. */
	if (rc == Z4_OK && (n == 0 || d[n - 1] != 0x5a ||
			    memchr(d, 0x5a, n) != d + n - 1))
		rc = -100;
	z4_objects_rtxn_end(t);
	return rc;
}

static int count_fn(const uint8_t *key, size_t klen, const uint8_t *val,
		    size_t vlen, void *ud)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	(*(int *)ud)++;
	return 0;
}

/* Add 1 MiB to the data size of key's node: past the end of the file (a
 * few pages), still inside the 1 GiB map. Returns the node's flags. */
static uint16_t grow_node(uint8_t *buf, size_t len, const char *key)
{
	size_t node = find_node(buf, len, key);
	uint16_t hi, flags;

	memcpy(&hi, buf + node + 2, 2);
	hi = (uint16_t)(hi + 0x10);
	memcpy(buf + node + 2, &hi, 2);
	memcpy(&flags, buf + node + 4, 2);
	return flags;
}

/*
 * A flipped size field makes LMDB hand out a value that reaches past the
 * end of data.mdb but stays inside the (much larger) map: reading it was
 * SIGBUS (e2e_bitflip seed 5282: fsck in XXH3 over a tensor record whose
 * size had grown by 1 GiB). Now get and foreach refuse it with
 * Z4_ECORRUPT, and the intact values beside it still read. An overflow
 * page number past the end is refused too (LMDB 0.9.24 itself checks it
 * against the snapshot's last page: MDB_PAGE_NOTFOUND).
 */
static void test_value_outside_data_file(void **state)
{
	enum { BIG = 3 * 4096 + 100 };
	static const char inl[] = "victim-inline-0123";
	static const char ovf[] = "victim-oversize-4567";
	static const char pgn[] = "victim-pageno-89ab";
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	uint8_t small[31], *large = calloc(1, BIG), *buf;
	char data[256];
	size_t len, node;
	uint64_t pgno;
	uint16_t flags;
	z4_rtxn *t = NULL;
	int n = 0;

	assert_non_null(large);
	memset(small, 0, sizeof(small));
	small[sizeof(small) - 1] = 0x5a;
	large[BIG - 1] = 0x5a;
	{
		z4_put it[5] = {
			{Z4_DB_TENSORS, inl, strlen(inl), small, sizeof(small), 0},
			{Z4_DB_TENSORS, "intact-t", 8, small, sizeof(small), 0},
			{Z4_DB_CHUNKS, ovf, strlen(ovf), large, BIG, 0},
			{Z4_DB_CHUNKS, pgn, strlen(pgn), large, BIG, 0},
			{Z4_DB_CHUNKS, "intact-c", 8, large, BIG, 0},
		};
		assert_int_equal(z4_objects_put_batch(s, it, 5), Z4_OK);
	}
	assert_int_equal(get_status(s, Z4_DB_TENSORS, inl), Z4_OK);
	assert_int_equal(get_status(s, Z4_DB_CHUNKS, ovf), Z4_OK);
	assert_int_equal(get_status(s, Z4_DB_CHUNKS, pgn), Z4_OK);
	z4_objects_free(s);

	snprintf(data, sizeof(data), "%s/data.mdb", f->path);
	buf = read_file(data, &len);
	assert_int_equal(grow_node(buf, len, inl) & NODE_BIGDATA, 0);
	assert_int_equal(grow_node(buf, len, ovf) & NODE_BIGDATA, NODE_BIGDATA);
	node = find_node(buf, len, pgn);
	memcpy(&flags, buf + node + 4, 2);
	assert_int_equal(flags & NODE_BIGDATA, NODE_BIGDATA);
	pgno = len / 4096 + 16;
	memcpy(buf + node + NODE_HDR + strlen(pgn), &pgno, sizeof(pgno));
	write_file(data, buf, len);
	free(buf);

	s = open_ok(f->path, Z4_STORE_READONLY, 0);
	assert_int_equal(get_status(s, Z4_DB_TENSORS, inl), Z4_ECORRUPT);
	assert_string_equal(z4_error_last(),
			    "tensors: value outside the data file: store "
			    "corrupt");
	assert_int_equal(get_status(s, Z4_DB_CHUNKS, ovf), Z4_ECORRUPT);
	assert_string_equal(z4_error_last(),
			    "chunks: value outside the data file: store "
			    "corrupt");
	assert_int_equal(get_status(s, Z4_DB_CHUNKS, pgn), Z4_ECORRUPT);
	assert_int_equal(get_status(s, Z4_DB_TENSORS, "intact-t"), Z4_OK);
	assert_int_equal(get_status(s, Z4_DB_CHUNKS, "intact-c"), Z4_OK);
	assert_int_equal(z4_objects_rtxn_begin(&t, s), Z4_OK);
	/* Each stops at its first victim, after "intact-*" (sorted before). */
	assert_int_equal(z4_objects_foreach(t, Z4_DB_TENSORS, count_fn, &n),
			 Z4_ECORRUPT);
	assert_int_equal(n, 1);
	assert_int_equal(z4_objects_foreach(t, Z4_DB_CHUNKS, count_fn, &n),
			 Z4_ECORRUPT);
	assert_int_equal(n, 2);
	z4_objects_rtxn_end(t);
	z4_objects_free(s);
	free(large);
}

/* The data file grows under an open handle (another process commits): a
 * snapshot begun later reads values past the size the handle saw before. */
static void test_values_past_earlier_file_size(void **state)
{
	fixture *f = *state;
	z4_store *s = open_ok(f->path, Z4_STORE_CREATE, 0);
	z4_store_stat before, after;
	z4_rtxn *old = NULL;
	const uint8_t *d;
	size_t n;
	pid_t pid;

	assert_int_equal(puts1(s, Z4_DB_RECIPES, "p", "parent"), Z4_OK);
	assert_int_equal(z4_objects_stat(&before, s), Z4_OK);
	assert_int_equal(z4_objects_rtxn_begin(&old, s), Z4_OK);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		z4_store *c = NULL;
		int rc = z4_objects_open(&c, f->path, 0);
		if (rc == 0) {
			write_blobs(c, "late", 0, 8, MIB, 2);
			z4_objects_free(c);
		}
		_exit(rc == 0 ? 0 : 1);
	}
	wait_child_ok(pid);
	/* The old snapshot sees neither the new values nor any damage. */
	assert_int_equal(z4_objects_get(&d, &n, old, Z4_DB_CHUNKS, "late000007",
					10),
			 Z4_ENOTFOUND);
	assert_int_equal(z4_objects_get(&d, &n, old, Z4_DB_RECIPES, "p", 1),
			 Z4_OK);
	assert_memory_equal(d, "parent", 6);
	z4_objects_rtxn_end(old);
	check_blobs(s, "late", 0, 8, MIB);
	assert_int_equal(z4_objects_stat(&after, s), Z4_OK);
	assert_true(after.file_bytes >= before.file_bytes + 8 * MIB);
	assert_int_equal(after.map_size, before.map_size); /* no remap */
	z4_objects_free(s);
}

/* ---- disk full ---------------------------------------------------------- */

static void test_disk_full(void **state)
{
	fixture *f = *state;
	z4_store *s;
	char path[256];
	uint8_t *big = malloc(4 * MIB), small[100000];
	int rc;

	assert_non_null(big);
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->root);
	assert_int_equal(mkdir(f->mnt, 0777), 0);
	if (mount("tmpfs", f->mnt, "tmpfs", 0, "size=2m") != 0) {
		print_message("disk full test skipped: cannot mount tmpfs: "
			      "%s\n",
			      strerror(errno));
		free(big);
		skip();
		return;
	}
	f->mounted = 1;
	snprintf(path, sizeof(path), "%s/store", f->mnt);
	s = open_ok(path, Z4_STORE_CREATE, 0);
	fill(small, sizeof(small), 1);
	assert_int_equal(put1(s, Z4_DB_CHUNKS, "keep", small, sizeof(small),
			      0),
			 Z4_OK);

	fill(big, 4 * MIB, 2);
	{
		z4_put it[2] = {
			{Z4_DB_TENSORS, "also", 4, "x", 1, 0},
			{Z4_DB_CHUNKS, "big", 3, big, 4 * MIB, 0},
		};
		rc = z4_objects_put_batch(s, it, 2);
	}
	assert_int_equal(rc, Z4_EFULL);
	print_message("disk full reason: %s\n", z4_error_last());
	assert_int_equal(has(s, Z4_DB_CHUNKS, "keep", small, sizeof(small)), 1);
	assert_int_equal(has(s, Z4_DB_CHUNKS, "big", big, 4 * MIB), 0);
	assert_int_equal(hass(s, Z4_DB_TENSORS, "also", "x"), 0);
	z4_objects_free(s);

	s = open_ok(path, 0, 0);
	assert_int_equal(has(s, Z4_DB_CHUNKS, "keep", small, sizeof(small)), 1);
	assert_int_equal(has(s, Z4_DB_CHUNKS, "big", big, 4 * MIB), 0);
	assert_int_equal(hass(s, Z4_DB_TENSORS, "also", "x"), 0);
	/* Space the failed commit used is reused: a small write fits. */
	assert_int_equal(puts1(s, Z4_DB_TENSORS, "after", "ok"), Z4_OK);
	assert_int_equal(hass(s, Z4_DB_TENSORS, "after", "ok"), 1);
	z4_objects_free(s);
	free(big);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_create_reopen),
		T(test_missing_store),
		T(test_not_lmdb_is_corrupt),
		T(test_uninitialised_and_partial_store),
		T(test_format_newer_unsupported),
		T(test_format_upgrade),
		T(test_format_garbled_corrupt),
		T(test_open_oom),
		T(test_roundtrip_each_db),
		T(test_dedup_and_replace),
		T(test_batch_invalid_item_writes_nothing),
		T(test_del_batch),
		T(test_foreach_order_and_stop),
		T(test_stat_counts),
		T(test_map_growth_several_batches),
		T(test_map_growth_single_batch),
		T(test_map_full_retry_small_items),
		T(test_map_resized_by_other_process),
		T(test_two_writer_processes),
		T(test_snapshot_isolation),
		T(test_resize_waits_for_readers),
		T(test_snapshot_moves_between_threads),
		T(test_stale_readers_reclaimed),
		T(test_release_keeps_data),
		T(test_value_outside_data_file),
		T(test_values_past_earlier_file_size),
		T(test_disk_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
