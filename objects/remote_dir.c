/*
 * remote_dir.c - the directory remote: immutable packs plus sorted indexes
 * in <dir>/packs/ on a shared file system (docs/format.md, "4. Remote
 * packs").
 *
 * Invariants: a pack is written under a temporary name, fsynced and renamed
 * to pack-<id>.z4p before its index is (the same way) renamed to
 * pack-<id>.z4x; readers only consult indexes, so they never see a partial
 * pack, and two pushers write different temporary files and, for the same
 * content, the same final names (rename replaces atomically). Indexes are
 * validated whole when the remote is opened; values are checked against
 * their entry's XXH3-64 on every read.
 */
#include "z4_remote.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h> /* XXH3 on AVX2 / AVX-512 where there */
#endif

#include "z4_alloc.h"
#include "z4_le.h"

/* ---- index format ---- */

static int entry_cmp3(uint8_t db1, uint8_t kl1, const uint8_t *k1, uint8_t db2,
                      uint8_t kl2, const uint8_t *k2)
{
	if (db1 != db2)
		return db1 < db2 ? -1 : 1;
	if (kl1 != kl2)
		return kl1 < kl2 ? -1 : 1;
	return memcmp(k1, k2, kl1);
}

static int entry_cmp(const void *a, const void *b)
{
	const z4_remote_entry *x = a, *y = b;
	return entry_cmp3(x->db, x->klen, x->key, y->db, y->klen, y->key);
}

static size_t key_len_for(unsigned db)
{
	switch (db) {
	case Z4_DB_CHUNKS:
	case Z4_DB_TENSORS:
		return 16;
	case Z4_DB_RECIPES:
		return 32;
	default:
		return 0;
	}
}

static void hash128(uint8_t out[16], const void *p, size_t len)
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits(p, len));
	memcpy(out, c.digest, 16);
}

void z4_remote_index_dispose(z4_remote_index *ix)
{
	z4_free(ix->e);
	memset(ix, 0, sizeof(*ix));
}

int z4_remote_index_parse(z4_remote_index *out, const uint8_t *p, size_t len)
{
	uint8_t sum[16];
	uint64_t count;
	size_t body;

	memset(out, 0, sizeof(*out));
	if (len < 4 || memcmp(p, "Z4X", 3) != 0)
		return z4_error_set(Z4_ECORRUPT,
		                    "not a z4vc pack index (bad magic)");
	if (p[3] != Z4_REMOTE_INDEX_VERSION)
		return z4_error_set(
		    Z4_EUNSUPPORTED,
		    "pack index version %u (this z4vc reads %u)", p[3],
		    Z4_REMOTE_INDEX_VERSION);
	if (len < Z4_REMOTE_INDEX_HEADER + Z4_REMOTE_TRAILER)
		return z4_error_set(Z4_ECORRUPT,
		                    "pack index truncated (%zu bytes)", len);
	hash128(sum, p, len - Z4_REMOTE_TRAILER);
	if (memcmp(sum, p + len - Z4_REMOTE_TRAILER, 16) != 0)
		return z4_error_set(Z4_ECORRUPT,
		                    "pack index checksum mismatch");
	if (z4_le32(p + 4) != 0 || z4_le64(p + 40) != 0)
		return z4_error_set(Z4_ECORRUPT,
		                    "pack index reserved bytes not zero");
	count = z4_le64(p + 8);
	body = len - Z4_REMOTE_INDEX_HEADER - Z4_REMOTE_TRAILER;
	if (body % Z4_REMOTE_INDEX_ENTRY != 0 ||
	    count != body / Z4_REMOTE_INDEX_ENTRY)
		return z4_error_set(
		    Z4_ECORRUPT,
		    "pack index count %llu does not match its size",
		    (unsigned long long)count);
	memcpy(out->pack_id, p + 16, 16);
	out->pack_size = z4_le64(p + 32);
	if (out->pack_size < Z4_REMOTE_PACK_HEADER + Z4_REMOTE_TRAILER)
		return z4_error_set(Z4_ECORRUPT,
		                    "pack index: pack size too small");
	out->n = (size_t)count;
	if (count && !(out->e = z4_mallocarray((size_t)count, sizeof(*out->e))))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	for (size_t i = 0; i < out->n; i++) {
		const uint8_t *q =
		    p + Z4_REMOTE_INDEX_HEADER + i * Z4_REMOTE_INDEX_ENTRY;
		z4_remote_entry *e = &out->e[i];
		size_t kl = key_len_for(q[0]);
		uint64_t end;
		e->db = q[0];
		e->klen = q[1];
		memcpy(e->key, q + 2, Z4_REMOTE_KEY_MAX);
		e->offset = z4_le64(q + 34);
		e->len = z4_le64(q + 42);
		e->check = z4_le64(q + 50);
		if (!kl || e->klen != kl)
			goto bad_entry;
		for (size_t k = kl; k < Z4_REMOTE_KEY_MAX; k++)
			if (e->key[k])
				goto bad_entry;
		if (e->len > Z4_REMOTE_VALUE_MAX ||
		    e->offset < Z4_REMOTE_PACK_HEADER ||
		    __builtin_add_overflow(e->offset, e->len, &end) ||
		    end > out->pack_size - Z4_REMOTE_TRAILER)
			goto bad_entry;
		if (i && entry_cmp(&out->e[i - 1], e) >= 0) {
			z4_remote_index_dispose(out);
			return z4_error_set(
			    Z4_ECORRUPT,
			    "pack index entry %zu out of order or duplicate",
			    i);
		}
		continue;
	bad_entry:
		z4_remote_index_dispose(out);
		return z4_error_set(Z4_ECORRUPT,
		                    "pack index entry %zu malformed", i);
	}
	return Z4_OK;
}

const z4_remote_entry *z4_remote_index_find(const z4_remote_index *ix, z4_db db,
                                            const void *key, size_t klen)
{
	size_t lo = 0, hi = ix->n;
	if (klen > Z4_REMOTE_KEY_MAX)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const z4_remote_entry *e = &ix->e[mid];
		int c = entry_cmp3(e->db, e->klen, e->key, (uint8_t)db,
		                   (uint8_t)klen, key);
		if (c == 0)
			return e;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int z4_remote_entry_check(const z4_remote_entry *e, const uint8_t *val,
                          size_t len)
{
	if (len != e->len || XXH3_64bits(val, len) != e->check)
		return z4_error_set(Z4_ECORRUPT,
		                    "pack value checksum mismatch");
	return Z4_OK;
}

int z4_remote_pack_verify(const z4_remote_index *ix, const uint8_t *pack,
                          size_t len)
{
	uint8_t sum[16];
	if (len != ix->pack_size ||
	    len < Z4_REMOTE_PACK_HEADER + Z4_REMOTE_TRAILER)
		return z4_error_set(
		    Z4_ECORRUPT, "pack size %zu differs from its index", len);
	if (memcmp(pack, "Z4P", 3) != 0 || z4_le32(pack + 4) != 0)
		return z4_error_set(Z4_ECORRUPT,
		                    "not a z4vc pack (bad header)");
	if (pack[3] != Z4_REMOTE_PACK_VERSION)
		return z4_error_set(Z4_EUNSUPPORTED, "pack version %u",
		                    pack[3]);
	hash128(sum, pack, len - Z4_REMOTE_TRAILER);
	if (memcmp(sum, pack + len - Z4_REMOTE_TRAILER, 16) != 0 ||
	    memcmp(sum, ix->pack_id, 16) != 0)
		return z4_error_set(Z4_ECORRUPT, "pack checksum mismatch");
	for (size_t i = 0; i < ix->n; i++)
		Z4_TRY(z4_remote_entry_check(&ix->e[i], pack + ix->e[i].offset,
		                             (size_t)ix->e[i].len));
	return Z4_OK;
}

/* ---- the directory backend ---- */

typedef struct {
	char *name; /* "pack-<hex>" */
	z4_remote_index ix;
	int fd; /* the .z4p, opened on first read; -1 */
} dir_pack;

typedef struct {
	z4_remote base;
	char *dir; /* <dir>/packs */
	dir_pack *packs;
	size_t npacks;
} dir_remote;

struct z4_remote_pack {
	dir_remote *r;
	int fd;
	char *tmp;
	XXH3_state_t *st;
	uint64_t off;
	z4_remote_entry *e;
	size_t n, cap;
};

static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = z4_malloc(la + lb + 2);
	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

static int io_error(const char *what, const char *path)
{
	int e = errno;
	return z4_error_set(e == ENOSPC || e == EDQUOT ? Z4_EFULL : Z4_EIO,
	                    "%s '%s': %s", what, path, strerror(e));
}

static int read_file(uint8_t **out, size_t *len, const char *path, uint64_t max)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	*out = NULL;
	if (fd < 0)
		return io_error("open", path);
	if (fstat(fd, &st) != 0) {
		close(fd);
		return io_error("stat", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return z4_error_set(Z4_ETOOBIG, "'%s': %lld bytes is too large",
		                    path, (long long)st.st_size);
	}
	buf = z4_malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return z4_error_set(Z4_ENOMEM, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got != (size_t)st.st_size) {
		z4_free(buf);
		return z4_error_set(Z4_EIO, "read '%s': short read", path);
	}
	*out = buf;
	*len = got;
	return Z4_OK;
}

static int is_index_name(const char *n)
{
	size_t l = strlen(n);
	if (l != 5 + 32 + 4 || strncmp(n, "pack-", 5) != 0 ||
	    strcmp(n + l - 4, ".z4x") != 0)
		return 0;
	for (size_t i = 5; i < 37; i++)
		if (!((n[i] >= '0' && n[i] <= '9') ||
		      (n[i] >= 'a' && n[i] <= 'f')))
			return 0;
	return 1;
}

static int load_pack(dir_remote *r, const char *fname)
{
	char *ipath = NULL, *ppath = NULL, *name = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	z4_remote_index ix = {0};
	char hex[33];
	int rc;

	if (!(ipath = path_join(r->dir, fname)) ||
	    !(name = z4_strndup(fname, 37)) ||
	    !(ppath = z4_malloc(strlen(r->dir) + 50))) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto done;
	}
	snprintf(ppath, strlen(r->dir) + 50, "%s/%s.z4p", r->dir, name);
	if ((rc = read_file(&buf, &len, ipath, Z4_REMOTE_INDEX_MAX)))
		goto done;
	if ((rc = z4_remote_index_parse(&ix, buf, len))) {
		z4_error_wrap(rc, "index '%s'", ipath);
		goto done;
	}
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", ix.pack_id[i]);
	if (memcmp(hex, name + 5, 32) != 0) {
		rc = z4_error_set(Z4_ECORRUPT, "index '%s': names another pack",
		                  ipath);
		goto done;
	}
	if (stat(ppath, &st) != 0) {
		rc = z4_error_set(Z4_ECORRUPT, "pack '%s': %s", ppath,
		                  strerror(errno));
		goto done;
	}
	if ((uint64_t)st.st_size != ix.pack_size) {
		rc = z4_error_set(
		    Z4_ECORRUPT,
		    "pack '%s': %lld bytes, its index says %llu (truncated?)",
		    ppath, (long long)st.st_size,
		    (unsigned long long)ix.pack_size);
		goto done;
	}
	{
		dir_pack *np =
		    z4_realloc(r->packs, (r->npacks + 1) * sizeof(*np));
		if (!np) {
			rc = z4_error_set(Z4_ENOMEM, "out of memory");
			goto done;
		}
		r->packs = np;
		np[r->npacks].name = name;
		np[r->npacks].ix = ix;
		np[r->npacks].fd = -1;
		r->npacks++;
		name = NULL;
		memset(&ix, 0, sizeof(ix));
	}
done:
	z4_remote_index_dispose(&ix);
	z4_free(buf);
	z4_free(ipath);
	z4_free(ppath);
	z4_free(name);
	return rc;
}

static dir_pack *find(dir_remote *r, const z4_remote_entry **ent, z4_db db,
                      const void *key, size_t klen)
{
	for (size_t i = r->npacks; i-- > 0;) {
		const z4_remote_entry *e =
		    z4_remote_index_find(&r->packs[i].ix, db, key, klen);
		if (e) {
			*ent = e;
			return &r->packs[i];
		}
	}
	return NULL;
}

static int dir_has(z4_remote *base, z4_db db, const void *key, size_t klen)
{
	const z4_remote_entry *e;
	return find((dir_remote *)base, &e, db, key, klen) ? 1 : 0;
}

static int dir_get(uint8_t **val, size_t *vlen, z4_remote *base, z4_db db,
                   const void *key, size_t klen)
{
	dir_remote *r = (dir_remote *)base;
	const z4_remote_entry *e;
	dir_pack *p = find(r, &e, db, key, klen);
	uint8_t *buf;
	size_t got = 0;
	int rc;

	*val = NULL;
	*vlen = 0;
	if (!p)
		return z4_error_set(Z4_ENOTFOUND, "not in the remote");
	if (p->fd < 0) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s.z4p", r->dir, p->name);
		p->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (p->fd < 0)
			return io_error("open", path);
	}
	buf = z4_malloc(e->len ? (size_t)e->len : 1);
	if (!buf)
		return z4_error_set(Z4_ENOMEM, "out of memory (%llu bytes)",
		                    (unsigned long long)e->len);
	while (got < e->len) {
		ssize_t n = pread(p->fd, buf + got, (size_t)e->len - got,
		                  (off_t)(e->offset + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			z4_free(buf);
			return z4_error_set(
			    n == 0 ? Z4_ECORRUPT : Z4_EIO, "pack '%s': %s",
			    p->name, n == 0 ? "truncated" : strerror(errno));
		}
		got += (size_t)n;
	}
	if ((rc = z4_remote_entry_check(e, buf, got))) {
		z4_free(buf);
		return z4_error_wrap(rc, "pack '%s'", p->name);
	}
	*val = buf;
	*vlen = got;
	return Z4_OK;
}

static int dir_list(z4_remote *base,
                    int (*fn)(z4_db db, const uint8_t *key, size_t klen,
                              uint64_t vlen, void *ud),
                    void *ud)
{
	dir_remote *r = (dir_remote *)base;
	for (size_t i = 0; i < r->npacks; i++)
		for (size_t k = 0; k < r->packs[i].ix.n; k++) {
			const z4_remote_entry *e = &r->packs[i].ix.e[k];
			int rc = fn((z4_db)e->db, e->key, e->klen, e->len, ud);
			if (rc)
				return rc;
		}
	return Z4_OK;
}

static int write_all(int fd, const void *p, size_t n, const char *path)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return io_error("write", path);
		b += w;
		n -= (size_t)w;
	}
	return Z4_OK;
}

static int tmp_file(int *fd, char **path, const char *dir, const char *prefix)
{
	size_t n = strlen(dir) + strlen(prefix) + 10;
	char *p = z4_malloc(n);
	if (!p)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	snprintf(p, n, "%s/%sXXXXXX", dir, prefix);
	*fd = mkostemp(p, O_CLOEXEC);
	if (*fd < 0) {
		int rc = io_error("create", p);
		z4_free(p);
		return rc;
	}
	fchmod(*fd, 0644);
	*path = p;
	return Z4_OK;
}

static void dir_pack_abort(z4_remote_pack *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	if (p->tmp)
		unlink(p->tmp);
	z4_free(p->tmp);
	if (p->st)
		XXH3_freeState(p->st);
	z4_free(p->e);
	z4_free(p);
}

static int dir_pack_begin(z4_remote_pack **out, z4_remote *base)
{
	dir_remote *r = (dir_remote *)base;
	z4_remote_pack *p = z4_calloc(1, sizeof(*p));
	uint8_t head[Z4_REMOTE_PACK_HEADER] = {'Z', '4', 'P',
	                                       Z4_REMOTE_PACK_VERSION};
	int rc;

	*out = NULL;
	if (!p)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	p->r = r;
	p->fd = -1;
	if ((rc = tmp_file(&p->fd, &p->tmp, r->dir, "tmp-pack-")))
		goto fail;
	if (!(p->st = XXH3_createState())) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto fail;
	}
	XXH3_128bits_reset(p->st);
	if ((rc = write_all(p->fd, head, sizeof(head), p->tmp)))
		goto fail;
	XXH3_128bits_update(p->st, head, sizeof(head));
	p->off = sizeof(head);
	*out = p;
	return Z4_OK;
fail:
	dir_pack_abort(p);
	return rc;
}

static int dir_pack_add(z4_remote_pack *p, z4_db db, const void *key,
                        size_t klen, const void *val, size_t vlen)
{
	z4_remote_entry *e;
	if (key_len_for(db) != klen || vlen > Z4_REMOTE_VALUE_MAX)
		return z4_error_set(Z4_EINVAL,
		                    "pack add: bad key or value size");
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 256;
		z4_remote_entry *ne = z4_realloc(p->e, nc * sizeof(*ne));
		if (!ne)
			return z4_error_set(Z4_ENOMEM, "out of memory");
		p->e = ne;
		p->cap = nc;
	}
	Z4_TRY(write_all(p->fd, val, vlen, p->tmp));
	XXH3_128bits_update(p->st, val, vlen);
	e = &p->e[p->n++];
	memset(e, 0, sizeof(*e));
	e->db = (uint8_t)db;
	e->klen = (uint8_t)klen;
	memcpy(e->key, key, klen);
	e->offset = p->off;
	e->len = vlen;
	e->check = XXH3_64bits(val, vlen);
	p->off += vlen;
	return Z4_OK;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = Z4_OK;
	if (fd < 0)
		return io_error("open", dir);
	if (fsync(fd) != 0)
		rc = io_error("fsync", dir);
	close(fd);
	return rc;
}

static int dir_pack_commit(z4_remote_pack *p)
{
	dir_remote *r = p->r;
	XXH128_canonical_t c;
	uint8_t id[16], head[Z4_REMOTE_INDEX_HEADER] = {
	                    'Z', '4', 'X', Z4_REMOTE_INDEX_VERSION};
	uint8_t *ix = NULL;
	char hex[33], *final = NULL, *itmp = NULL;
	size_t ilen, n = 0, plen = strlen(r->dir) + 64;
	int ifd = -1, rc;

	if (p->n == 0) {
		dir_pack_abort(p);
		return Z4_OK;
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(p->st));
	memcpy(id, c.digest, 16);
	if ((rc = write_all(p->fd, id, 16, p->tmp)))
		goto done;
	p->off += 16;
	if (fsync(p->fd) != 0) {
		rc = io_error("fsync", p->tmp);
		goto done;
	}
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	if (!(final = z4_malloc(plen))) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto done;
	}
	snprintf(final, plen, "%s/pack-%s.z4p", r->dir, hex);
	z4_crash_point("remote-pack");
	if (rename(p->tmp, final) != 0) {
		rc = io_error("rename", final);
		goto done;
	}
	z4_free(p->tmp);
	p->tmp = NULL;

	/* The index: entries sorted, duplicates (same key twice) dropped. */
	qsort(p->e, p->n, sizeof(*p->e), entry_cmp);
	for (size_t i = 0; i < p->n; i++)
		if (n == 0 || entry_cmp(&p->e[n - 1], &p->e[i]) != 0)
			p->e[n++] = p->e[i];
	ilen = Z4_REMOTE_INDEX_HEADER + n * Z4_REMOTE_INDEX_ENTRY +
	       Z4_REMOTE_TRAILER;
	if (!(ix = z4_calloc(1, ilen))) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto done;
	}
	z4_put64(head + 8, n);
	memcpy(head + 16, id, 16);
	z4_put64(head + 32, p->off);
	memcpy(ix, head, sizeof(head));
	for (size_t i = 0; i < n; i++) {
		uint8_t *q =
		    ix + Z4_REMOTE_INDEX_HEADER + i * Z4_REMOTE_INDEX_ENTRY;
		q[0] = p->e[i].db;
		q[1] = p->e[i].klen;
		memcpy(q + 2, p->e[i].key, Z4_REMOTE_KEY_MAX);
		z4_put64(q + 34, p->e[i].offset);
		z4_put64(q + 42, p->e[i].len);
		z4_put64(q + 50, p->e[i].check);
	}
	hash128(ix + ilen - Z4_REMOTE_TRAILER, ix, ilen - Z4_REMOTE_TRAILER);
	if ((rc = tmp_file(&ifd, &itmp, r->dir, "tmp-idx-")) ||
	    (rc = write_all(ifd, ix, ilen, itmp)))
		goto done;
	if (fsync(ifd) != 0) {
		rc = io_error("fsync", itmp);
		goto done;
	}
	snprintf(final, plen, "%s/pack-%s.z4x", r->dir, hex);
	z4_crash_point("remote-index");
	if (rename(itmp, final) != 0) {
		rc = io_error("rename", final);
		goto done;
	}
	z4_free(itmp);
	itmp = NULL;
	if ((rc = fsync_dir(r->dir)))
		goto done;
	/* Make the new pack visible to this handle too. */
	snprintf(final, plen, "pack-%s.z4x", hex);
	rc = load_pack(r, final);
done:
	if (ifd >= 0)
		close(ifd);
	if (itmp) {
		unlink(itmp);
		z4_free(itmp);
	}
	z4_free(ix);
	z4_free(final);
	dir_pack_abort(p);
	return rc;
}

static void dir_free(z4_remote *base)
{
	dir_remote *r = (dir_remote *)base;
	for (size_t i = 0; i < r->npacks; i++) {
		if (r->packs[i].fd >= 0)
			close(r->packs[i].fd);
		z4_free(r->packs[i].name);
		z4_remote_index_dispose(&r->packs[i].ix);
	}
	z4_free(r->packs);
	z4_free(r->dir);
	z4_free(r);
}

static const z4_remote_ops dir_ops = {
    .has = dir_has,
    .get = dir_get,
    .list = dir_list,
    .pack_begin = dir_pack_begin,
    .pack_add = dir_pack_add,
    .pack_commit = dir_pack_commit,
    .pack_abort = dir_pack_abort,
    .free = dir_free,
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int z4_remote_dir_open(z4_remote **out, const char *dir, unsigned flags)
{
	dir_remote *r;
	DIR *d = NULL;
	struct dirent *de;
	char **names = NULL;
	size_t nn = 0, cn = 0;
	int rc = Z4_OK;

	*out = NULL;
	if (flags & Z4_REMOTE_CREATE) {
		if (mkdir(dir, 0777) != 0 && errno != EEXIST)
			return io_error("create remote", dir);
	}
	if (!(r = z4_calloc(1, sizeof(*r))))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	r->base.ops = &dir_ops;
	if (!(r->dir = path_join(dir, "packs"))) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto fail;
	}
	if ((flags & Z4_REMOTE_CREATE) && mkdir(r->dir, 0777) != 0 &&
	    errno != EEXIST) {
		rc = io_error("create remote", r->dir);
		goto fail;
	}
	if (!(d = opendir(r->dir))) {
		rc = errno == ENOENT
		         ? z4_error_set(Z4_ENOTFOUND,
		                        "remote '%s': no such z4vc remote", dir)
		         : io_error("open remote", r->dir);
		goto fail;
	}
	/* Sorted, so lookups and errors do not depend on readdir order. */
	while ((de = readdir(d))) {
		if (!is_index_name(de->d_name))
			continue;
		if (nn == cn) {
			size_t nc = cn ? cn * 2 : 16;
			char **nb = z4_realloc(names, nc * sizeof(*nb));
			if (!nb) {
				rc = z4_error_set(Z4_ENOMEM, "out of memory");
				goto fail;
			}
			names = nb;
			cn = nc;
		}
		if (!(names[nn] = z4_strdup(de->d_name))) {
			rc = z4_error_set(Z4_ENOMEM, "out of memory");
			goto fail;
		}
		nn++;
	}
	if (nn)
		qsort(names, nn, sizeof(*names), cmp_str);
	for (size_t i = 0; i < nn; i++)
		if ((rc = load_pack(r, names[i]))) {
			z4_error_wrap(rc, "remote '%s'", dir);
			goto fail;
		}
	closedir(d);
	for (size_t i = 0; i < nn; i++)
		z4_free(names[i]);
	z4_free(names);
	*out = &r->base;
	return Z4_OK;
fail:
	if (d)
		closedir(d);
	for (size_t i = 0; i < nn; i++)
		z4_free(names[i]);
	z4_free(names);
	dir_free(&r->base);
	return rc;
}
