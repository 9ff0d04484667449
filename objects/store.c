/*
 * store.c - the LMDB object store behind z4_objects.h (layout and policies:
 * docs/format-store.md).
 *
 * One MDB_env per store directory (data.mdb + lock.mdb), opened MDB_NOTLS
 * so a read snapshot is a plain object that may move between threads. The
 * four named databases are opened once at open time and their handles kept
 * for the life of the env.
 *
 * Invariants:
 * - The map is replaced (mdb_env_set_mapsize munmaps and mmaps again) only
 *   while no transaction of this process uses it. Writers are serialised by
 *   s->wmu, read snapshots are counted in s->live/s->nlive. A remap holds
 *   wmu, raises s->remapping so new snapshots wait behind it, and waits for
 *   s->nlive to drop to 0.
 * - A thread never waits for a remap while it holds a snapshot of the same
 *   store itself (that would deadlock): such calls fail with Z4_ELOCKED.
 * - If LMDB fails to map again, the env has no map any more: s->dead is set
 *   and every later call fails with Z4_EIO until the store is reopened.
 * - s->map_lo/map_hi bound the current mapping, or are 0 when unknown, so
 *   release() only ever madvises pages of our own read-only shared map.
 * - Every key and value handed out from a read snapshot lies inside the
 *   part of the map that data.mdb backs (store_span): a corrupt page can
 *   make LMDB return bytes past the end of the file, and touching those is
 *   SIGBUS, not an error.
 */
#include "z4_objects.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "z4_alloc.h"

#define STORE_MIB ((uint64_t)1 << 20)
#define STORE_DEFAULT_MAP ((uint64_t)1 << 30) /* 1 GiB, sparse */
#define STORE_MAX_DBS 8
#define STORE_MAX_READERS 126
#define STORE_RESIZE_TRIES 16   /* MDB_MAP_RESIZED races with other writers */
#define STORE_FORMAT_DIGITS 9   /* meta "format": 1..9 ASCII digits */
#define STORE_MAX_VALUE 0xffffffffull /* LMDB's largest data item */
#define STORE_DATA_FILE "data.mdb"

static const char *const db_names[Z4_DB_COUNT] = {
	[Z4_DB_CHUNKS] = "chunks",
	[Z4_DB_TENSORS] = "tensors",
	[Z4_DB_RECIPES] = "recipes",
	[Z4_DB_META] = "meta",
};
static const char format_key[] = "format";

/* [lo, hi): map addresses backed by data.mdb; lo = 0: not known. */
typedef struct {
	uintptr_t lo, hi;
} store_span;

struct z4_rtxn {
	z4_store *s;
	MDB_txn *txn;
	store_span span; /* where this snapshot's bytes must lie */
	pthread_t owner; /* thread that began it, for the deadlock check */
	z4_rtxn *prev, *next;
};

struct z4_store {
	MDB_env *env;
	MDB_dbi dbi[Z4_DB_COUNT];
	char *dir;
	char *data_path;
	unsigned flags;
	size_t os_page;
	size_t psize;  /* LMDB page size */
	size_t maxkey; /* mdb_env_get_maxkeysize */
	int sync_init;

	pthread_mutex_t wmu; /* held by this process's one writer or remapper */
	pthread_mutex_t mu;  /* guards everything below */
	pthread_cond_t cv;   /* signalled when nlive hits 0 or a remap ends */
	z4_rtxn *live;       /* live snapshots */
	size_t nlive;
	unsigned remapping;
	int dead;
	uintptr_t map_lo, map_hi;
	int lockfd;     /* STORE_LOCK_FILE: shared while open, -1 if none */
	int lock_excl;  /* held exclusively (z4_objects_lock) */
};

static void store_lock_open(z4_store *s);

/* ---- errors ---------------------------------------------------------- */

static int lmdb_code(int rc)
{
	switch (rc) {
	case MDB_NOTFOUND:
		return Z4_ENOTFOUND;
	case MDB_MAP_FULL:
	case ENOSPC:
#ifdef EDQUOT
	case EDQUOT:
#endif
		return Z4_EFULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return Z4_ECORRUPT;
	case ENOMEM:
		return Z4_ENOMEM;
	case EINVAL:
	case MDB_BAD_VALSIZE:
		return Z4_EINVAL;
	default:
		return Z4_EIO;
	}
}

/* Record "<what>: <mdb_strerror>" and return the mapped code. */
__attribute__((format(printf, 2, 3))) static int
lmdb_error(int rc, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return z4_error_set(lmdb_code(rc), "%s: %s", what, mdb_strerror(rc));
}

static int dead_error(const z4_store *s)
{
	return z4_error_set(Z4_EIO,
			    "store '%s': unusable after a failed remap, reopen it",
			    s->dir);
}

/* LMDB reports a short write (a file system filling up) as EIO. */
static uint64_t fs_free_bytes(const z4_store *s)
{
	struct statvfs v;
	uint64_t n;

	if (statvfs(s->dir, &v) != 0)
		return UINT64_MAX;
	if (__builtin_mul_overflow((uint64_t)v.f_bavail, (uint64_t)v.f_frsize,
				   &n))
		return UINT64_MAX;
	return n;
}

/* ---- small helpers ----------------------------------------------------- */

static void *unconst(const void *p) { return (void *)(uintptr_t)p; }

static MDB_val mval(const void *p, size_t n)
{
	MDB_val v;
	v.mv_size = n;
	v.mv_data = unconst(p);
	return v;
}

/* ---- bytes inside the data file ---------------------------------------- */

/*
 * Clip the mapping [map_lo, map_hi) to the current size of data.mdb; call
 * after the read transaction began. LMDB's map is larger than the file, and
 * a corrupt page (a node's size field, an overflow page number) can make it
 * return a value reaching past the end of the file: touching that is
 * SIGBUS. Every page a snapshot can reach was written (growing the file)
 * before the meta page naming it, and LMDB never shrinks the file, so the
 * size taken once the snapshot exists covers all of it; a later commit by
 * another process only grows the file and is not visible to this snapshot.
 * No fstat, no map: the span stays as given (lo = 0 checks nothing).
 */
static store_span span_of_file(const z4_store *s, uintptr_t map_lo,
			       uintptr_t map_hi)
{
	store_span sp = {map_lo, map_hi};
	mdb_filehandle_t fd;
	struct stat st;

	if (map_lo == 0 || mdb_env_get_fd(s->env, &fd) != 0 ||
	    fstat(fd, &st) != 0 || st.st_size < 0)
		return sp;
	if ((uint64_t)st.st_size < (uint64_t)(map_hi - map_lo))
		sp.hi = map_lo + (uintptr_t)st.st_size;
	return sp;
}

/* 1 if the bytes of v lie inside sp (or sp is unknown). */
static int span_has(const store_span *sp, const MDB_val *v)
{
	uintptr_t p = (uintptr_t)v->mv_data;

	return sp->lo == 0 ||
	       (p >= sp->lo && p <= sp->hi && v->mv_size <= sp->hi - p);
}

static int outside_error(const char *db, const char *what)
{
	return z4_error_set(Z4_ECORRUPT,
			    "%s: %s outside the data file: store corrupt", db,
			    what);
}

static int parse_format(unsigned *out, const MDB_val *v)
{
	const uint8_t *p = v->mv_data;
	unsigned x = 0;

	if (v->mv_size == 0 || v->mv_size > STORE_FORMAT_DIGITS || p[0] == '0')
		return -1;
	for (size_t i = 0; i < v->mv_size; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		x = x * 10 + (unsigned)(p[i] - '0');
	}
	*out = x;
	return 0;
}

/* sp: the span of a read txn; NULL in a write txn, whose values may be in
 * dirty pages on the heap. */
static int check_format(unsigned *fmt, const z4_store *s, MDB_txn *txn,
			const store_span *sp)
{
	MDB_val k = mval(format_key, sizeof(format_key) - 1), v;
	unsigned f;
	int rc = mdb_get(txn, s->dbi[Z4_DB_META], &k, &v);

	if (rc == MDB_NOTFOUND)
		return z4_error_set(Z4_ECORRUPT,
				    "store '%s': meta 'format' is missing",
				    s->dir);
	if (rc)
		return lmdb_error(rc, "store '%s': read meta 'format'", s->dir);
	if (sp && !span_has(sp, &v))
		return outside_error(db_names[Z4_DB_META], "value");
	if (parse_format(&f, &v) != 0)
		return z4_error_set(Z4_ECORRUPT,
				    "store '%s': meta 'format' is malformed",
				    s->dir);
	if (f > Z4_STORE_FORMAT)
		return z4_error_set(Z4_EUNSUPPORTED,
				    "store '%s': format %u is newer than this "
				    "z4vc supports (%u)",
				    s->dir, f, (unsigned)Z4_STORE_FORMAT);
	if (fmt)
		*fmt = f;
	return Z4_OK;
}

static int key_ok(const z4_store *s, const void *key, size_t klen)
{
	return key && klen > 0 && klen <= s->maxkey;
}

static uint64_t round_up(uint64_t x, uint64_t to)
{
	uint64_t r = x % to;
	if (r == 0)
		return x;
	return x > UINT64_MAX - (to - r) ? UINT64_MAX - (UINT64_MAX % to)
					  : x + (to - r);
}

/* ---- the map --------------------------------------------------------- */

/* One /proc/self/maps line: 1 if it is the read-only shared mapping that
 * holds p, -1 if another mapping holds p, 0 if p is elsewhere. */
static int maps_line(const char *line, uintptr_t p, uintptr_t *lo,
		     uintptr_t *hi)
{
	unsigned long a, b;
	char perms[5];

	if (sscanf(line, "%lx-%lx %4s", &a, &b, perms) != 3 || p < a || p >= b)
		return 0;
	/* LMDB maps PROT_READ, MAP_SHARED: "r--s". Anything else is not
	 * ours and must never be madvised. */
	if (strcmp(perms, "r--s") != 0)
		return -1;
	*lo = a;
	*hi = b;
	return 1;
}

static int maps_find(uintptr_t p, uintptr_t *lo, uintptr_t *hi)
{
	char buf[4096], line[128];
	size_t ll = 0;
	ssize_t n;
	int found = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while (!found && ((n = read(fd, buf, sizeof(buf))) > 0 ||
			  (n < 0 && errno == EINTR))) {
		for (ssize_t i = 0; i < n && !found; i++) {
			if (buf[i] != '\n') {
				/* Only a line's start matters: cut the path. */
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			found = maps_line(line, p, lo, hi);
		}
	}
	close(fd);
	return found == 1;
}

/*
 * Find the bounds of the data.mdb mapping: LMDB does not export its
 * address (mdb_env_info's me_mapaddr is only set with MDB_FIXEDMAP), so
 * take a pointer LMDB hands out from the map (the record of the "chunks"
 * database in the main DB) and look up the mapping holding it. Called while
 * nothing can remap (open, or inside store_remap).
 */
static void store_locate_map(z4_store *s)
{
	MDB_txn *txn = NULL;
	MDB_dbi main_dbi;
	MDB_val k = mval(db_names[0], strlen(db_names[0])), v;
	MDB_envinfo info;
	uintptr_t p = 0, lo, hi;

	s->map_lo = s->map_hi = 0;
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return;
	if (mdb_dbi_open(txn, NULL, 0, &main_dbi) == 0 &&
	    mdb_get(txn, main_dbi, &k, &v) == 0)
		p = (uintptr_t)v.mv_data;
	mdb_txn_abort(txn);
	if (!p || mdb_env_info(s->env, &info) != 0 || !maps_find(p, &lo, &hi))
		return;
	if (hi - lo < info.me_mapsize)
		return; /* LMDB maps me_mapsize bytes: not its map */
	s->map_lo = lo;
	s->map_hi = hi - lo > info.me_mapsize ? lo + (uintptr_t)info.me_mapsize
					      : hi;
}

static int self_holds(const z4_store *s)
{
	pthread_t me = pthread_self();
	for (const z4_rtxn *t = s->live; t; t = t->next)
		if (pthread_equal(t->owner, me))
			return 1;
	return 0;
}

/*
 * Map again at `size` bytes (0: adopt the size another process committed).
 * Caller holds s->wmu, so no write txn of this process is active. With
 * `wait` unset this is a hint: returns 1 without remapping if any snapshot
 * is live. Otherwise waits for other threads' snapshots to end.
 */
static int store_remap(z4_store *s, uint64_t size, int wait)
{
	int rc = Z4_OK;

	pthread_mutex_lock(&s->mu);
	if (s->dead) {
		rc = dead_error(s);
		goto out;
	}
	if (s->nlive > 0 && !wait) {
		rc = 1;
		goto out;
	}
	if (s->nlive > 0 && self_holds(s)) {
		rc = z4_error_set(Z4_ELOCKED,
				  "store '%s': the map must be resized but this "
				  "thread holds a read transaction on it",
				  s->dir);
		goto out;
	}
	if (size > SIZE_MAX) {
		rc = z4_error_set(Z4_EFULL, "store '%s': map full at %llu bytes",
				  s->dir, (unsigned long long)size);
		goto out;
	}
	if (size) {
		/* Reserve-probe first: a failed mmap inside LMDB would leave
		 * the env without a map. */
		void *probe = mmap(NULL, (size_t)size, PROT_NONE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				   -1, 0);
		if (probe == MAP_FAILED) {
			rc = z4_error_set(Z4_EFULL,
					  "store '%s': map full: cannot reserve "
					  "%llu bytes of address space: %s",
					  s->dir, (unsigned long long)size,
					  strerror(errno));
			goto out;
		}
		munmap(probe, (size_t)size);
	}
	s->remapping++;
	while (s->nlive > 0)
		pthread_cond_wait(&s->cv, &s->mu);
	rc = mdb_env_set_mapsize(s->env, (size_t)size);
	if (rc) {
		s->dead = 1;
		s->map_lo = s->map_hi = 0;
		rc = lmdb_error(rc, "store '%s': remap to %llu bytes", s->dir,
				(unsigned long long)size);
	} else {
		store_locate_map(s);
	}
	s->remapping--;
	pthread_cond_broadcast(&s->cv);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int store_grow(z4_store *s)
{
	MDB_envinfo info;
	uint64_t next;

	mdb_env_info(s->env, &info);
	if (__builtin_mul_overflow((uint64_t)info.me_mapsize, 2, &next))
		return z4_error_set(Z4_EFULL, "store '%s': map full", s->dir);
	return store_remap(s, next, 1);
}

/* Best effort, never waits: keep used + need within half the map. */
static int store_pregrow(z4_store *s, uint64_t need)
{
	MDB_envinfo info;
	uint64_t used, want, target;

	if (mdb_env_info(s->env, &info) != 0)
		return Z4_OK;
	if (__builtin_mul_overflow((uint64_t)info.me_last_pgno + 1,
				   (uint64_t)s->psize, &used) ||
	    __builtin_add_overflow(used, need, &want))
		return Z4_OK;
	target = info.me_mapsize;
	while (want > target / 2 && target <= UINT64_MAX / 2 &&
	       target * 2 <= SIZE_MAX)
		target *= 2;
	if (target <= info.me_mapsize)
		return Z4_OK;
	if (store_remap(s, target, 0) < 0 && s->dead)
		return Z4_EIO; /* reason already set */
	return Z4_OK;
}

/* ---- read snapshots -------------------------------------------------- */

static int gate_enter(z4_store *s, z4_rtxn *t)
{
	pthread_mutex_lock(&s->mu);
	while (s->remapping && !self_holds(s))
		pthread_cond_wait(&s->cv, &s->mu);
	if (s->dead) {
		pthread_mutex_unlock(&s->mu);
		return dead_error(s);
	}
	t->owner = pthread_self();
	/* Fixed until this snapshot ends: a remap waits for it. */
	t->span.lo = s->map_lo;
	t->span.hi = s->map_hi;
	t->prev = NULL;
	t->next = s->live;
	if (s->live)
		s->live->prev = t;
	s->live = t;
	s->nlive++;
	pthread_mutex_unlock(&s->mu);
	return Z4_OK;
}

static void gate_leave(z4_store *s, z4_rtxn *t)
{
	pthread_mutex_lock(&s->mu);
	if (t->prev)
		t->prev->next = t->next;
	else
		s->live = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
	s->nlive--;
	if (s->nlive == 0 && s->remapping)
		pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Another process grew the map past ours: map again at its size. */
static int remap_for_reader(z4_store *s)
{
	int rc, held;

	pthread_mutex_lock(&s->mu);
	held = self_holds(s);
	pthread_mutex_unlock(&s->mu);
	if (held)
		return z4_error_set(Z4_ELOCKED,
				    "store '%s': the map was resized by another "
				    "process; end this thread's read "
				    "transactions and retry",
				    s->dir);
	pthread_mutex_lock(&s->wmu);
	rc = store_remap(s, 0, 1);
	pthread_mutex_unlock(&s->wmu);
	return rc;
}

int z4_objects_rtxn_begin(z4_rtxn **out, z4_store *s)
{
	z4_rtxn *t;
	int rc, checked_readers = 0;

	*out = NULL;
	if (!s)
		return z4_error_set(Z4_EINVAL, "read txn: no store");
	t = z4_calloc(1, sizeof(*t));
	if (!t)
		return z4_error_set(Z4_ENOMEM, "read txn: out of memory");
	t->s = s;
	for (int tries = 0;; tries++) {
		rc = gate_enter(s, t);
		if (rc)
			break;
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
		if (rc == 0) {
			t->span = span_of_file(s, t->span.lo, t->span.hi);
			*out = t;
			return Z4_OK;
		}
		t->txn = NULL;
		gate_leave(s, t);
		if (rc == MDB_MAP_RESIZED && tries < STORE_RESIZE_TRIES) {
			rc = remap_for_reader(s);
			if (rc)
				break;
			continue;
		}
		if (rc == MDB_READERS_FULL && !checked_readers) {
			int dead = 0;
			checked_readers = 1;
			/* Slots of killed processes are only freed here. */
			if (mdb_reader_check(s->env, &dead) == 0 && dead > 0)
				continue;
		}
		rc = lmdb_error(rc, "store '%s': begin read txn", s->dir);
		break;
	}
	z4_free(t);
	return rc;
}

void z4_objects_rtxn_end(z4_rtxn *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	gate_leave(t->s, t);
	z4_free(t);
}

int z4_objects_get(const uint8_t **data, size_t *len, z4_rtxn *t, z4_db db,
		   const void *key, size_t klen)
{
	MDB_val k, v;
	int rc;

	*data = NULL;
	*len = 0;
	if (!t || (unsigned)db >= Z4_DB_COUNT)
		return z4_error_set(Z4_EINVAL, "get: bad transaction or db");
	if (!key_ok(t->s, key, klen))
		return z4_error_set(Z4_EINVAL, "get '%s': key length %zu",
				    db_names[db], klen);
	k = mval(key, klen);
	rc = mdb_get(t->txn, t->s->dbi[db], &k, &v);
	if (rc == MDB_NOTFOUND)
		return z4_error_set(Z4_ENOTFOUND, "get '%s': no such key",
				    db_names[db]);
	if (rc)
		return lmdb_error(rc, "store '%s': lmdb get '%s'", t->s->dir,
				  db_names[db]);
	if (!span_has(&t->span, &v))
		return outside_error(db_names[db], "value");
	*data = v.mv_data;
	*len = v.mv_size;
	return Z4_OK;
}

void z4_objects_release(z4_store *s, const uint8_t *data, size_t len)
{
	uintptr_t lo, hi, p = (uintptr_t)data, start, end;

	if (!s || !data || len == 0)
		return;
	pthread_mutex_lock(&s->mu);
	lo = s->map_lo;
	hi = s->map_hi;
	pthread_mutex_unlock(&s->mu);
	if (lo == 0 || p < lo || p >= hi || len > hi - p)
		return;
	start = (p + s->os_page - 1) & ~(uintptr_t)(s->os_page - 1);
	end = (p + len) & ~(uintptr_t)(s->os_page - 1);
	if (end > start)
		(void)madvise((void *)start, end - start, MADV_DONTNEED);
}

int z4_objects_foreach(z4_rtxn *t, z4_db db,
		       int (*fn)(const uint8_t *key, size_t klen,
				 const uint8_t *val, size_t vlen, void *ud),
		       void *ud)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	MDB_cursor_op op = MDB_FIRST;
	int rc;

	if (!t || !fn || (unsigned)db >= Z4_DB_COUNT)
		return z4_error_set(Z4_EINVAL, "foreach: bad arguments");
	rc = mdb_cursor_open(t->txn, t->s->dbi[db], &c);
	if (rc)
		return lmdb_error(rc, "store '%s': lmdb cursor '%s'", t->s->dir,
				  db_names[db]);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		int r;
		if (!span_has(&t->span, &k) || !span_has(&t->span, &v)) {
			rc = outside_error(db_names[db],
					   span_has(&t->span, &k) ? "value"
								  : "key");
			goto done;
		}
		r = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, ud);
		if (r) {
			rc = r;
			goto done;
		}
		op = MDB_NEXT;
	}
	rc = rc == MDB_NOTFOUND
		     ? Z4_OK
		     : lmdb_error(rc, "store '%s': lmdb cursor '%s'", t->s->dir,
				  db_names[db]);
done:
	mdb_cursor_close(c);
	return rc;
}

/* ---- writes ------------------------------------------------------------ */

typedef struct {
	const z4_put *items; /* put: items[n] */
	z4_db db;            /* del: keys[n] in db */
	const void *const *keys;
	const size_t *klens;
	size_t n;
	size_t failed; /* index of the item LMDB rejected */
} store_op;

static int store_apply(const z4_store *s, MDB_txn *txn, store_op *w)
{
	for (size_t i = 0; i < w->n; i++) {
		MDB_val k, v;
		int rc;

		if (w->items) {
			const z4_put *it = &w->items[i];
			k = mval(it->key, it->klen);
			v = mval(it->val, it->vlen);
			rc = mdb_put(txn, s->dbi[it->db], &k, &v,
				     it->replace ? 0 : MDB_NOOVERWRITE);
			if (rc == MDB_KEYEXIST)
				rc = 0; /* dedup: keep the first value */
		} else {
			k = mval(w->keys[i], w->klens[i]);
			rc = mdb_del(txn, s->dbi[w->db], &k, NULL);
			if (rc == MDB_NOTFOUND)
				rc = 0;
		}
		if (rc) {
			w->failed = i;
			return rc;
		}
	}
	return 0;
}

static int store_write_error(const z4_store *s, int rc, const store_op *w,
			     int in_apply, uint64_t need)
{
	const char *verb = w->items ? "put" : "del";
	const char *db = db_names[w->items && in_apply ? w->items[w->failed].db
						       : w->db];
	uint64_t avail;

	if (rc == EIO && (avail = fs_free_bytes(s)) < need + STORE_MIB)
		return z4_error_set(Z4_EFULL,
				    "store '%s': lmdb %s: %s (file system full: "
				    "%llu bytes free)",
				    s->dir, in_apply ? verb : "commit",
				    mdb_strerror(rc), (unsigned long long)avail);
	if (in_apply)
		return lmdb_error(rc, "store '%s': lmdb %s item %zu in '%s'",
				  s->dir, verb, w->failed, db);
	return lmdb_error(rc, "store '%s': lmdb %s commit", s->dir, verb);
}

/*
 * Run w in one write txn; on MDB_MAP_FULL abort, double the map and run the
 * whole batch again. The txn never survives an error, so the store either
 * has every item or is unchanged.
 */
static int store_write(z4_store *s, store_op *w, uint64_t need)
{
	MDB_txn *txn = NULL;
	int rc, resized = 0, dead;

	if (s->flags & Z4_STORE_READONLY)
		return z4_error_set(Z4_EINVAL, "store '%s' is open read-only",
				    s->dir);
	pthread_mutex_lock(&s->wmu);
	pthread_mutex_lock(&s->mu);
	dead = s->dead;
	pthread_mutex_unlock(&s->mu);
	if (dead) {
		rc = dead_error(s);
		goto out;
	}
	if (need && (rc = store_pregrow(s, need)) != Z4_OK)
		goto out;
	for (;;) {
		int in_apply = 0;

		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
		if (rc == MDB_MAP_RESIZED && resized++ < STORE_RESIZE_TRIES) {
			if ((rc = store_remap(s, 0, 1)) != Z4_OK)
				goto out;
			continue;
		}
		if (rc) {
			rc = lmdb_error(rc, "store '%s': begin write txn",
					s->dir);
			goto out;
		}
		rc = store_apply(s, txn, w);
		if (rc) {
			in_apply = 1;
			mdb_txn_abort(txn);
		} else {
			z4_crash_point("store-txn");
			rc = mdb_txn_commit(txn); /* frees txn either way */
		}
		txn = NULL;
		if (rc == MDB_MAP_FULL) {
			if ((rc = store_grow(s)) != Z4_OK)
				goto out;
			continue;
		}
		if (rc)
			rc = store_write_error(s, rc, w, in_apply, need);
		break;
	}
out:
	pthread_mutex_unlock(&s->wmu);
	return rc;
}

int z4_objects_put_batch(z4_store *s, const z4_put *items, size_t n)
{
	store_op w = {0};
	uint64_t need = 0;

	if (!s || (n && !items))
		return z4_error_set(Z4_EINVAL, "put: bad arguments");
	for (size_t i = 0; i < n; i++) {
		const z4_put *it = &items[i];
		if ((unsigned)it->db >= Z4_DB_COUNT)
			return z4_error_set(Z4_EINVAL, "put item %zu: bad db %d",
					    i, (int)it->db);
		if (!key_ok(s, it->key, it->klen))
			return z4_error_set(Z4_EINVAL,
					    "put item %zu in '%s': key length "
					    "%zu not in 1..%zu",
					    i, db_names[it->db], it->klen,
					    s->maxkey);
		if (!it->val && it->vlen)
			return z4_error_set(Z4_EINVAL,
					    "put item %zu in '%s': no value",
					    i, db_names[it->db]);
		if ((uint64_t)it->vlen > STORE_MAX_VALUE)
			return z4_error_set(Z4_ETOOBIG,
					    "put item %zu in '%s': value of %zu "
					    "bytes exceeds %llu",
					    i, db_names[it->db], it->vlen,
					    STORE_MAX_VALUE);
		if (__builtin_add_overflow(need, (uint64_t)it->klen, &need) ||
		    __builtin_add_overflow(need, (uint64_t)it->vlen, &need))
			return z4_error_set(Z4_ETOOBIG, "put: batch too large");
	}
	if (n == 0)
		return Z4_OK;
	w.items = items;
	w.n = n;
	return store_write(s, &w, need);
}

int z4_objects_del_batch(z4_store *s, z4_db db, const void *const *keys,
			 const size_t *klens, size_t n)
{
	store_op w = {0};

	if (!s || (unsigned)db >= Z4_DB_COUNT || (n && (!keys || !klens)))
		return z4_error_set(Z4_EINVAL, "del: bad arguments");
	for (size_t i = 0; i < n; i++)
		if (!key_ok(s, keys[i], klens[i]))
			return z4_error_set(Z4_EINVAL,
					    "del key %zu in '%s': key length "
					    "%zu not in 1..%zu",
					    i, db_names[db], klens[i],
					    s->maxkey);
	if (n == 0)
		return Z4_OK;
	w.db = db;
	w.keys = keys;
	w.klens = klens;
	w.n = n;
	return store_write(s, &w, 0);
}

/* ---- open / close -------------------------------------------------------- */

static int make_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0777) == 0)
		return Z4_OK;
	if (errno == EEXIST) {
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			return Z4_OK;
		return z4_error_set(Z4_EEXISTS,
				    "create store '%s': exists and is not a "
				    "directory",
				    dir);
	}
	return z4_error_set(errno == ENOENT   ? Z4_ENOTFOUND
			    : errno == ENOSPC ? Z4_EFULL
					      : Z4_EIO,
			    "create store '%s': %s", dir, strerror(errno));
}

/* Begin a txn during open, when no other txn of this handle can exist. */
static int open_txn(z4_store *s, unsigned flags, MDB_txn **txn)
{
	int rc;

	for (int tries = 0;; tries++) {
		rc = mdb_txn_begin(s->env, NULL, flags, txn);
		if (rc != MDB_MAP_RESIZED || tries >= STORE_RESIZE_TRIES)
			break;
		rc = mdb_env_set_mapsize(s->env, 0);
		if (rc)
			break;
	}
	if (rc)
		*txn = NULL;
	return rc;
}

/*
 * An older store opened for writing: everything it holds stays readable,
 * but this process may now write objects an older z4vc cannot read, so the
 * recorded format moves up first (older versions then refuse the store
 * with a clear error instead of failing object by object).
 */
static int upgrade_format(z4_store *s)
{
	MDB_txn *txn = NULL;
	MDB_val k = mval(format_key, sizeof(format_key) - 1), v;
	char fmt[16];
	int n, rc = open_txn(s, 0, &txn);

	if (rc)
		return lmdb_error(rc, "store '%s': upgrade format: begin", s->dir);
	{
		unsigned f;
		if (check_format(&f, s, txn, NULL) != Z4_OK ||
		    f >= Z4_STORE_FORMAT) {
			mdb_txn_abort(txn); /* another process got there first */
			return Z4_OK;
		}
	}
	n = snprintf(fmt, sizeof(fmt), "%u", (unsigned)Z4_STORE_FORMAT);
	v = mval(fmt, (size_t)n);
	rc = mdb_put(txn, s->dbi[Z4_DB_META], &k, &v, 0);
	if (rc) {
		mdb_txn_abort(txn);
		return lmdb_error(rc, "store '%s': upgrade format", s->dir);
	}
	rc = mdb_txn_commit(txn);
	return rc ? lmdb_error(rc, "store '%s': upgrade format: commit", s->dir)
		  : Z4_OK;
}

/*
 * Open the four databases. Reads first, so that opening an existing store
 * never waits for another process's writer; only a new store takes a write
 * txn to create them and record the format.
 */
static int open_dbs(z4_store *s)
{
	MDB_txn *txn = NULL;
	unsigned missing = 0;
	char fmt[16];
	int rc;

	rc = open_txn(s, MDB_RDONLY, &txn);
	if (rc)
		return lmdb_error(rc, "open store '%s': begin read txn", s->dir);
	for (int i = 0; i < Z4_DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], 0, &s->dbi[i]);
		if (rc == MDB_NOTFOUND) {
			missing++;
			continue;
		}
		if (rc) {
			rc = lmdb_error(rc, "open store '%s': database '%s'",
					s->dir, db_names[i]);
			goto fail;
		}
	}
	if (missing == 0) {
		unsigned f;
		store_span sp;
		/* Locate the map as it is now, for this txn's span (the final
		 * location is taken again at the end of open). */
		store_locate_map(s);
		sp = span_of_file(s, s->map_lo, s->map_hi);
		if ((rc = check_format(&f, s, txn, &sp)) != Z4_OK)
			goto fail;
		rc = mdb_txn_commit(txn); /* keeps the dbi handles */
		txn = NULL;
		if (rc)
			return lmdb_error(rc, "open store '%s'", s->dir);
		if (f < Z4_STORE_FORMAT && !(s->flags & Z4_STORE_READONLY))
			return upgrade_format(s);
		return Z4_OK;
	}
	mdb_txn_abort(txn);
	txn = NULL;
	if (missing != Z4_DB_COUNT)
		return z4_error_set(Z4_ECORRUPT,
				    "open store '%s': some databases are missing",
				    s->dir);
	if (!(s->flags & Z4_STORE_CREATE))
		return z4_error_set(Z4_ENOTFOUND,
				    "open store '%s': not initialised", s->dir);

	rc = open_txn(s, 0, &txn);
	if (rc)
		return lmdb_error(rc, "create store '%s': begin write txn",
				  s->dir);
	for (int i = 0; i < Z4_DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]);
		if (rc) {
			rc = lmdb_error(rc, "create store '%s': database '%s'",
					s->dir, db_names[i]);
			goto fail;
		}
	}
	{
		MDB_val k = mval(format_key, sizeof(format_key) - 1), v;
		rc = mdb_get(txn, s->dbi[Z4_DB_META], &k, &v);
		if (rc == MDB_NOTFOUND) {
			/* Decimal ASCII: readable with mdb_dump. */
			int n = snprintf(fmt, sizeof(fmt), "%u",
					 (unsigned)Z4_STORE_FORMAT);
			v = mval(fmt, (size_t)n);
			rc = mdb_put(txn, s->dbi[Z4_DB_META], &k, &v, 0);
		} else if (rc == 0) {
			/* a racing creator */
			rc = check_format(NULL, s, txn, NULL);
			if (rc)
				goto fail;
		}
		if (rc) {
			rc = lmdb_error(rc, "create store '%s': write format",
					s->dir);
			goto fail;
		}
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc)
		return lmdb_error(rc, "create store '%s': commit", s->dir);
	return Z4_OK;
fail:
	mdb_txn_abort(txn);
	return rc;
}

int z4_objects_open(z4_store **out, const char *dir, unsigned flags)
{
	return z4_objects_open_ex(out, dir, flags, 0);
}

/*
 * A data file shorter than its newest meta page says (truncated, a partial
 * copy) would kill the process with SIGBUS on the first read of a missing
 * page: refuse it before any read. Committed pages are always written
 * before the meta that names them, so a sound file is never shorter.
 */
static int store_check_size(const z4_store *s)
{
	MDB_envinfo info;
	mdb_filehandle_t fd;
	struct stat st;
	uint64_t need;

	if (mdb_env_info(s->env, &info) != 0 || mdb_env_get_fd(s->env, &fd) != 0 ||
	    fstat(fd, &st) != 0)
		return Z4_OK; /* nothing to compare; LMDB reports its own errors */
	need = ((uint64_t)info.me_last_pgno + 1) * s->psize;
	if ((uint64_t)st.st_size < need)
		return z4_error_set(Z4_ECORRUPT,
				    "open store '%s': %s is truncated (%llu bytes, "
				    "its pages need %llu)",
				    s->dir, STORE_DATA_FILE,
				    (unsigned long long)st.st_size,
				    (unsigned long long)need);
	return Z4_OK;
}

int z4_objects_open_ex(z4_store **out, const char *dir, unsigned flags,
		       uint64_t map_size)
{
	z4_store *s = NULL;
	struct stat st;
	uint64_t fsize = 0, msize;
	MDB_stat ms;
	size_t dlen, plen;
	long pg;
	int rc, dead = 0;

	*out = NULL;
	if (!dir || !*dir)
		return z4_error_set(Z4_EINVAL, "open store: empty path");
	if ((flags & ~(Z4_STORE_CREATE | Z4_STORE_READONLY)) ||
	    ((flags & Z4_STORE_CREATE) && (flags & Z4_STORE_READONLY)))
		return z4_error_set(Z4_EINVAL, "open store '%s': bad flags %#x",
				    dir, flags);
	if (flags & Z4_STORE_CREATE)
		Z4_TRY(make_dir(dir));

	s = z4_calloc(1, sizeof(*s));
	if (!s)
		return z4_error_set(Z4_ENOMEM, "open store: out of memory");
	s->lockfd = -1;
	dlen = strlen(dir);
	if (z4_add_overflow(&plen, dlen, sizeof("/" STORE_DATA_FILE))) {
		rc = z4_error_set(Z4_EINVAL, "open store: path too long");
		goto fail;
	}
	s->dir = z4_strdup(dir);
	s->data_path = z4_malloc(plen);
	if (!s->dir || !s->data_path) {
		rc = z4_error_set(Z4_ENOMEM, "open store: out of memory");
		goto fail;
	}
	snprintf(s->data_path, plen, "%s/%s", dir, STORE_DATA_FILE);
	s->flags = flags;
	pg = sysconf(_SC_PAGESIZE);
	s->os_page = pg > 0 ? (size_t)pg : 4096;
	if (pthread_mutex_init(&s->wmu, NULL) != 0) {
		rc = z4_error_set(Z4_ENOMEM, "open store: mutex init");
		goto fail;
	}
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		pthread_mutex_destroy(&s->wmu);
		rc = z4_error_set(Z4_ENOMEM, "open store: mutex init");
		goto fail;
	}
	if (pthread_cond_init(&s->cv, NULL) != 0) {
		pthread_mutex_destroy(&s->wmu);
		pthread_mutex_destroy(&s->mu);
		rc = z4_error_set(Z4_ENOMEM, "open store: cond init");
		goto fail;
	}
	s->sync_init = 1;
	store_lock_open(s);

	if (stat(s->data_path, &st) == 0) {
		fsize = (uint64_t)st.st_size;
	} else if (errno != ENOENT && errno != ENOTDIR) {
		rc = z4_error_set(Z4_EIO, "open store '%s': %s", dir,
				  strerror(errno));
		goto fail;
	} else if (!(flags & Z4_STORE_CREATE)) {
		rc = z4_error_set(Z4_ENOTFOUND, "open store '%s': no store there",
				  dir);
		goto fail;
	}
	/* Sparse: without MDB_WRITEMAP the file only grows as pages are
	 * written, so a large map costs address space, not disk. */
	msize = map_size;
	if (msize == 0)
		msize = fsize > STORE_DEFAULT_MAP / 2 && fsize <= UINT64_MAX / 2
				? fsize * 2
				: STORE_DEFAULT_MAP;
	msize = round_up(msize, s->os_page);
	if (msize > SIZE_MAX) {
		rc = z4_error_set(Z4_EINVAL, "open store '%s': map too large",
				  dir);
		goto fail;
	}

	rc = mdb_env_create(&s->env);
	if (rc) {
		s->env = NULL;
		rc = lmdb_error(rc, "open store '%s': lmdb env create", dir);
		goto fail;
	}
	if ((rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS)) ||
	    (rc = mdb_env_set_maxreaders(s->env, STORE_MAX_READERS)) ||
	    (rc = mdb_env_set_mapsize(s->env, (size_t)msize))) {
		rc = lmdb_error(rc, "open store '%s': lmdb env setup", dir);
		goto fail;
	}
	/* MDB_NORDAHEAD: values are multi-MiB chunks read once each; kernel
	 * read-ahead around every page fault only inflates the resident set. */
	rc = mdb_env_open(s->env, dir,
			  MDB_NOTLS | MDB_NORDAHEAD |
				  ((flags & Z4_STORE_READONLY) ? MDB_RDONLY : 0),
			  0644);
	if (rc == ENOENT) {
		rc = z4_error_set(Z4_ENOTFOUND, "open store '%s': %s", dir,
				  mdb_strerror(rc));
		goto fail;
	}
	if (rc) {
		rc = lmdb_error(rc, "open store '%s': lmdb env open", dir);
		goto fail;
	}
	/* Free reader slots left by killed processes: they pin old pages. */
	(void)mdb_reader_check(s->env, &dead);
	s->maxkey = (size_t)mdb_env_get_maxkeysize(s->env);
	if ((rc = mdb_env_stat(s->env, &ms)) != 0) {
		rc = lmdb_error(rc, "open store '%s': lmdb env stat", dir);
		goto fail;
	}
	s->psize = ms.ms_psize;
	if ((rc = store_check_size(s)) != Z4_OK)
		goto fail;
	if ((rc = open_dbs(s)) != Z4_OK)
		goto fail;
	store_locate_map(s);
	*out = s;
	return Z4_OK;
fail:
	z4_objects_free(s);
	return rc;
}

void z4_objects_free(z4_store *s)
{
	if (!s)
		return;
	assert(s->nlive == 0 && "read transactions still open");
	if (s->env)
		mdb_env_close(s->env);
	if (s->sync_init) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		pthread_mutex_destroy(&s->wmu);
	}
	z4_free(s->dir);
	if (s->lockfd >= 0)
		close(s->lockfd); /* releases the store lock */
	z4_free(s->data_path);
	z4_free(s);
}

int z4_objects_reader_check(int *cleared, z4_store *s)
{
	int dead = 0, rc;

	if (cleared)
		*cleared = 0;
	if (!s)
		return z4_error_set(Z4_EINVAL, "reader check: no store");
	rc = mdb_reader_check(s->env, &dead);
	if (rc)
		return lmdb_error(rc, "store '%s': lmdb reader check", s->dir);
	if (cleared)
		*cleared = dead;
	return Z4_OK;
}

size_t z4_objects_max_key(const z4_store *s) { return s->maxkey; }

/* ---- stat ------------------------------------------------------------- */

static int sum_values(uint64_t *sum, MDB_txn *txn, MDB_dbi dbi)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	MDB_cursor_op op = MDB_FIRST;
	int rc = mdb_cursor_open(txn, dbi, &c);

	*sum = 0;
	if (rc)
		return rc;
	/* Overflow values are not touched: the size is in the leaf node. */
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		*sum += v.mv_size;
		op = MDB_NEXT;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int z4_objects_stat(z4_store_stat *out, z4_store *s)
{
	z4_rtxn *t = NULL;
	MDB_envinfo info;
	struct stat st;
	int rc;

	memset(out, 0, sizeof(*out));
	Z4_TRY(z4_objects_rtxn_begin(&t, s));
	for (int i = 0; i < Z4_DB_COUNT; i++) {
		MDB_stat ms;
		rc = mdb_stat(t->txn, s->dbi[i], &ms);
		if (rc == 0)
			rc = sum_values(&out->value_bytes[i], t->txn, s->dbi[i]);
		if (rc) {
			rc = lmdb_error(rc, "store '%s': stat '%s'", s->dir,
					db_names[i]);
			goto done;
		}
		out->entries[i] = ms.ms_entries;
	}
	if ((rc = check_format(&out->format, s, t->txn, &t->span)) != Z4_OK)
		goto done;
	/* The live snapshot keeps the map in place for mdb_env_info. */
	if ((rc = mdb_env_info(s->env, &info)) != 0) {
		rc = lmdb_error(rc, "store '%s': lmdb env info", s->dir);
		goto done;
	}
	out->map_size = info.me_mapsize;
	out->used_bytes = ((uint64_t)info.me_last_pgno + 1) * s->psize;
	if (stat(s->data_path, &st) != 0) {
		rc = z4_error_set(Z4_EIO, "store '%s': stat %s: %s", s->dir,
				  STORE_DATA_FILE, strerror(errno));
		goto done;
	}
	out->file_bytes = (uint64_t)st.st_size;
	rc = Z4_OK;
done:
	z4_objects_rtxn_end(t);
	return rc;
}

/* ---- store lock, free space and compaction ----------------------------- */

/*
 * STORE_LOCK_FILE is flock()ed shared by every handle for its whole life
 * and exclusively by gc and compaction, so those run only while no other
 * z4vc process has the store open (a process opening it meanwhile waits in
 * open). flock locks belong to the open file description: independent of
 * LMDB's own fcntl locks on lock.mdb, and not dropped when some other
 * descriptor of the file is closed.
 */
#define STORE_LOCK_FILE "z4vc.lock"
#define STORE_COMPACT_SUFFIX ".compact" /* temporary copy next to the store */

static void store_lock_open(z4_store *s)
{
	char path[4096];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", s->dir, STORE_LOCK_FILE) >=
	    sizeof(path))
		return;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC); /* read-only store */
	if (fd < 0)
		return; /* no store here (open fails later) or not ours to lock */
	while (flock(fd, LOCK_SH) != 0 && errno == EINTR)
		;
	s->lockfd = fd;
}

int z4_objects_lock(z4_store *s, int exclusive, unsigned timeout_ms)
{
	struct timespec t0, now;

	if (!s)
		return z4_error_set(Z4_EINVAL, "lock: no store");
	if (s->lockfd < 0)
		return exclusive ? z4_error_set(Z4_EUNSUPPORTED,
						"store '%s': no lock file %s",
						s->dir, STORE_LOCK_FILE)
				 : Z4_OK;
	if (!exclusive) {
		while (flock(s->lockfd, LOCK_SH) != 0 && errno == EINTR)
			;
		s->lock_excl = 0;
		return Z4_OK;
	}
	if (s->lock_excl)
		return Z4_OK;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (flock(s->lockfd, LOCK_EX | LOCK_NB) == 0) {
			s->lock_excl = 1;
			return Z4_OK;
		}
		if (errno != EWOULDBLOCK && errno != EINTR)
			return z4_error_set(Z4_EIO, "store '%s': lock: %s", s->dir,
					    strerror(errno));
		/* A failed conversion may have dropped our shared lock. */
		while (flock(s->lockfd, LOCK_SH) != 0 && errno == EINTR)
			;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((uint64_t)(now.tv_sec - t0.tv_sec) * 1000 +
			    (uint64_t)((now.tv_nsec - t0.tv_nsec) / 1000000) >=
		    timeout_ms)
			return z4_error_set(Z4_ELOCKED,
					    "store '%s' is in use by another z4vc "
					    "process; try again when it is done",
					    s->dir);
		usleep(20000);
	}
}

int z4_objects_free_bytes(uint64_t *out, z4_store *s)
{
	z4_rtxn *t = NULL;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	MDB_envinfo info;
	struct stat st;
	uint64_t pages = 0, used;
	int rc;

	*out = 0;
	Z4_TRY(z4_objects_rtxn_begin(&t, s));
	/* dbi 0 is LMDB's free list: per freeing txn, a list of page numbers
	 * whose first word is the count. */
	rc = mdb_cursor_open(t->txn, 0, &c);
	while (rc == 0 && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		size_t n;
		if (!span_has(&t->span, &v)) {
			mdb_cursor_close(c);
			rc = outside_error("free list", "value");
			goto done;
		}
		if (v.mv_size >= sizeof(n)) {
			memcpy(&n, v.mv_data, sizeof(n));
			pages += n;
		}
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND) {
		rc = lmdb_error(rc, "store '%s': read free list", s->dir);
		goto done;
	}
	if ((rc = mdb_env_info(s->env, &info)) != 0) {
		rc = lmdb_error(rc, "store '%s': lmdb env info", s->dir);
		goto done;
	}
	used = ((uint64_t)info.me_last_pgno + 1) * s->psize;
	*out = pages * s->psize;
	if (stat(s->data_path, &st) == 0 && (uint64_t)st.st_size > used)
		*out += (uint64_t)st.st_size - used;
	rc = Z4_OK;
done:
	z4_objects_rtxn_end(t);
	return rc;
}

static int fsync_path(const char *path, int dir)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
	int rc = 0;
	if (fd < 0)
		return -1;
	if (fsync(fd) != 0 && !(dir && errno == EINVAL))
		rc = -1;
	close(fd);
	return rc;
}

/* 1 if a process other than this one has the env open (LMDB keeps a
 * shared fcntl lock on byte 0 of lock.mdb for as long as it does). Call
 * with this process's env closed: closing the probe drops our own fcntl
 * locks on the file. */
static int other_lmdb_users(const char *dir)
{
	char path[4096];
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0,
			   .l_len = 1};
	int fd, busy = 0;

	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		busy = 1;
	close(fd);
	return busy;
}

static void remove_tmp(const char *tmp)
{
	char path[4096];
	/* A name that does not fit was never created. */
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", tmp,
			     STORE_DATA_FILE) < sizeof(path))
		unlink(path);
	if ((size_t)snprintf(path, sizeof(path), "%s/lock.mdb", tmp) <
	    sizeof(path))
		unlink(path);
	rmdir(tmp);
}

int z4_objects_compact(z4_store **sp, uint64_t *before, uint64_t *after)
{
	z4_store *s = *sp;
	char tmp[4096], tmpdata[4096], *dir = NULL;
	struct stat st;
	unsigned flags;
	int rc = Z4_OK, busy, rrc;

	if (before)
		*before = 0;
	if (after)
		*after = 0;
	if (!s || !s->lock_excl)
		return z4_error_set(Z4_EINVAL, "compact: the store must be locked "
					       "exclusively (z4_objects_lock)");
	if (s->flags & Z4_STORE_READONLY)
		return z4_error_set(Z4_EINVAL, "store '%s' is open read-only", s->dir);
	pthread_mutex_lock(&s->mu);
	busy = s->nlive > 0 || s->dead;
	pthread_mutex_unlock(&s->mu);
	if (busy)
		return z4_error_set(Z4_ELOCKED, "store '%s': compact with read "
						"transactions open", s->dir);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s%s", s->dir, STORE_COMPACT_SUFFIX) >=
		    sizeof(tmp) ||
	    (size_t)snprintf(tmpdata, sizeof(tmpdata), "%s/%s", tmp, STORE_DATA_FILE) >=
		    sizeof(tmpdata))
		return z4_error_set(Z4_EINVAL, "store '%s': path too long", s->dir);
	if (!(dir = z4_strdup(s->dir)))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	flags = s->flags;
	if (stat(s->data_path, &st) == 0 && before)
		*before = (uint64_t)st.st_size;
	remove_tmp(tmp); /* left by a crash */
	if (mkdir(tmp, 0777) != 0) {
		rc = z4_error_set(errno == ENOSPC ? Z4_EFULL : Z4_EIO,
				  "compact: create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	pthread_mutex_lock(&s->wmu);
	rrc = mdb_env_copy2(s->env, tmp, MDB_CP_COMPACT);
	pthread_mutex_unlock(&s->wmu);
	if (rrc) {
		rc = lmdb_error(rrc, "store '%s': compacting copy to '%s'", s->dir, tmp);
		remove_tmp(tmp);
		goto out;
	}
	if (fsync_path(tmpdata, 0) != 0 || fsync_path(tmp, 1) != 0) {
		rc = z4_error_set(Z4_EIO, "compact: fsync '%s': %s", tmpdata,
				  strerror(errno));
		remove_tmp(tmp);
		goto out;
	}
	/* From here the old env must not be used: close it, check nobody
	 * outside our lock protocol has it open, swap the file atomically. A
	 * crash before the rename keeps the old file, after it the new one;
	 * LMDB rebuilds lock.mdb on the next first open either way. */
	mdb_env_close(s->env);
	s->env = NULL;
	s->dead = 1;
	s->map_lo = s->map_hi = 0;
	if (other_lmdb_users(dir)) {
		rc = z4_error_set(Z4_ELOCKED, "store '%s' is open by another program; "
					      "not compacted", dir);
		remove_tmp(tmp);
		goto reopen;
	}
	z4_crash_point("compact-swap");
	if (rename(tmpdata, s->data_path) != 0) {
		rc = z4_error_set(Z4_EIO, "compact: rename '%s' to '%s': %s", tmpdata,
				  s->data_path, strerror(errno));
		remove_tmp(tmp);
		goto reopen;
	}
	if (fsync_path(dir, 1) != 0)
		rc = z4_error_set(Z4_EIO, "compact: fsync '%s': %s", dir, strerror(errno));
	remove_tmp(tmp);
	if (stat(s->data_path, &st) == 0 && after)
		*after = (uint64_t)st.st_size;
reopen:
	z4_objects_free(s); /* closes the lock file: the exclusive lock ends */
	*sp = NULL;
	rrc = z4_objects_open(sp, dir, flags & ~Z4_STORE_CREATE);
	if (rrc && rc == Z4_OK)
		rc = rrc;
out:
	z4_free(dir);
	return rc;
}
