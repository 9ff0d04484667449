/*
 * test_remote.c - the directory remote (objects/remote_dir.c): pack and
 * index round trips, the index layout, every flipped byte and truncation of
 * an index refused, corrupt or truncated packs detected, and
 * z4vc_remote_push / z4vc_remote_fetch between two repositories (delta
 * bases included, a corrupt remote object never made visible).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "z4_alloc.h"
#include "z4_le.h"
#include "z4_remote.h"
#include "z4vc.h"
#include "z4vc_remote.h"
#include "testutil.h"

typedef struct {
	char dir[64];
	char rem[128];
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/z4remote.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->rem, sizeof(f->rem), "%s/remote", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	test_rmtree(f->dir);
	free(f);
	return 0;
}

static void key_of(uint8_t *k, size_t klen, unsigned i)
{
	for (size_t j = 0; j < klen; j++)
		k[j] = (uint8_t)(i * 31 + j * 7 + 1);
}

static void val_of(uint8_t *v, size_t len, unsigned i)
{
	for (size_t j = 0; j < len; j++)
		v[j] = (uint8_t)(i ^ (j * 13));
}

/* Write one pack of n objects (chunks, tensors, recipes in turn). */
static void write_pack(const char *dir, unsigned first, unsigned n)
{
	z4_remote *r;
	z4_remote_pack *p;
	assert_int_equal(z4_remote_dir_open(&r, dir, Z4_REMOTE_CREATE), 0);
	assert_int_equal(r->ops->pack_begin(&p, r), 0);
	for (unsigned i = first; i < first + n; i++) {
		uint8_t k[32], v[300];
		z4_db db = (z4_db)(i % 3);
		size_t kl = db == Z4_DB_RECIPES ? 32 : 16;
		key_of(k, kl, i);
		val_of(v, i % 300, i);
		assert_int_equal(r->ops->pack_add(p, db, k, kl, v, i % 300), 0);
	}
	assert_int_equal(r->ops->pack_commit(p), 0);
	z4_remote_free(r);
}

static int count_fn(z4_db db, const uint8_t *key, size_t klen, uint64_t vlen,
                    void *ud)
{
	(void)db, (void)key, (void)klen, (void)vlen;
	(*(size_t *)ud)++;
	return 0;
}

static void check_objects(z4_remote *r, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++) {
		uint8_t k[32], v[300], *got;
		size_t len;
		z4_db db = (z4_db)(i % 3);
		size_t kl = db == Z4_DB_RECIPES ? 32 : 16;
		key_of(k, kl, i);
		val_of(v, i % 300, i);
		assert_int_equal(z4_remote_has(r, db, k, kl), 1);
		assert_int_equal(z4_remote_get(&got, &len, r, db, k, kl), 0);
		assert_int_equal(len, i % 300);
		assert_memory_equal(got, v, len);
		z4_free(got);
	}
}

static void pack_round_trip(void **state)
{
	fx *f = *state;
	z4_remote *r;
	uint8_t k[32] = {0}, *got;
	size_t len, count = 0;

	write_pack(f->rem, 0, 100);
	write_pack(f->rem, 100, 50);
	assert_int_equal(z4_remote_dir_open(&r, f->rem, 0), 0);
	check_objects(r, 0, 150);
	assert_int_equal(r->ops->list(r, count_fn, &count), 0);
	assert_int_equal(count, 150);
	assert_int_equal(z4_remote_has(r, Z4_DB_CHUNKS, k, 16), 0);
	assert_int_equal(z4_remote_get(&got, &len, r, Z4_DB_CHUNKS, k, 16),
	                 Z4_ENOTFOUND);
	/* wrong key length for the db: never found */
	key_of(k, 32, 2);
	assert_int_equal(z4_remote_has(r, Z4_DB_RECIPES, k, 16), 0);
	z4_remote_free(r);
}

static void missing_remote_and_empty_pack(void **state)
{
	fx *f = *state;
	z4_remote *r;
	z4_remote_pack *p;
	DIR *d;
	struct dirent *de;
	char packs[256];
	int files = 0;

	assert_int_equal(z4_remote_dir_open(&r, f->rem, 0), Z4_ENOTFOUND);
	assert_int_equal(z4_remote_dir_open(&r, f->rem, Z4_REMOTE_CREATE), 0);
	assert_int_equal(r->ops->pack_begin(&p, r), 0);
	assert_int_equal(r->ops->pack_commit(p), 0);
	assert_int_equal(r->ops->pack_begin(&p, r), 0);
	r->ops->pack_abort(p);
	z4_remote_free(r);
	snprintf(packs, sizeof(packs), "%s/packs", f->rem);
	assert_non_null(d = opendir(packs));
	while ((de = readdir(d)))
		files += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(files, 0); /* no pack, no temporary left behind */
}

static void concurrent_writers(void **state)
{
	fx *f = *state;
	z4_remote *a, *b;
	z4_remote_pack *pa, *pb;
	uint8_t k1[16], k2[16], v[10] = {1, 2, 3};

	assert_int_equal(z4_remote_dir_open(&a, f->rem, Z4_REMOTE_CREATE), 0);
	assert_int_equal(z4_remote_dir_open(&b, f->rem, 0), 0);
	assert_int_equal(a->ops->pack_begin(&pa, a), 0);
	assert_int_equal(b->ops->pack_begin(&pb, b), 0);
	key_of(k1, 16, 1);
	key_of(k2, 16, 2);
	assert_int_equal(a->ops->pack_add(pa, Z4_DB_CHUNKS, k1, 16, v, 10), 0);
	assert_int_equal(b->ops->pack_add(pb, Z4_DB_CHUNKS, k2, 16, v, 5), 0);
	/* the same key twice in one pack is stored once */
	assert_int_equal(b->ops->pack_add(pb, Z4_DB_CHUNKS, k2, 16, v, 5), 0);
	assert_int_equal(b->ops->pack_commit(pb), 0);
	assert_int_equal(a->ops->pack_commit(pa), 0);
	z4_remote_free(a);
	z4_remote_free(b);
	assert_int_equal(z4_remote_dir_open(&a, f->rem, 0), 0);
	assert_int_equal(z4_remote_has(a, Z4_DB_CHUNKS, k1, 16), 1);
	assert_int_equal(z4_remote_has(a, Z4_DB_CHUNKS, k2, 16), 1);
	z4_remote_free(a);
}

/* Path of the only file with this suffix in <rem>/packs. */
static void find_file(char *out, size_t cap, const char *rem,
                      const char *suffix)
{
	char packs[256];
	DIR *d;
	struct dirent *de;
	snprintf(packs, sizeof(packs), "%s/packs", rem);
	assert_non_null(d = opendir(packs));
	out[0] = 0;
	while ((de = readdir(d)))
		if (strlen(de->d_name) > 4 &&
		    strcmp(de->d_name + strlen(de->d_name) - 4, suffix) == 0)
			snprintf(out, cap, "%s/%s", packs, de->d_name);
	closedir(d);
	assert_true(out[0] != 0);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *b;
	long n;
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(b, 1, len, fp), len);
	fclose(fp);
}

static void index_layout(void **state)
{
	fx *f = *state;
	char ipath[512], ppath[512];
	uint8_t *ix, *pk;
	size_t ilen, plen;
	z4_remote_index x;

	write_pack(f->rem, 0, 3);
	find_file(ipath, sizeof(ipath), f->rem, ".z4x");
	find_file(ppath, sizeof(ppath), f->rem, ".z4p");
	ix = slurp(ipath, &ilen);
	pk = slurp(ppath, &plen);
	assert_int_equal(ilen, Z4_REMOTE_INDEX_HEADER +
	                           3 * Z4_REMOTE_INDEX_ENTRY + 16);
	assert_memory_equal(ix, "Z4X\x01\0\0\0\0", 8);
	assert_int_equal(z4_le64(ix + 8), 3);
	assert_int_equal(z4_le64(ix + 32), plen);
	assert_memory_equal(pk, "Z4P\x01\0\0\0\0", 8);
	/* 8 + values (0, 1, 2 bytes) + 16 */
	assert_int_equal(plen, 8 + 0 + 1 + 2 + 16);
	assert_int_equal(z4_remote_index_parse(&x, ix, ilen), 0);
	assert_int_equal(x.n, 3);
	/* sorted by db: chunk (i=0), tensor (i=1), recipe (i=2) */
	assert_int_equal(x.e[0].db, 0);
	assert_int_equal(x.e[1].db, 1);
	assert_int_equal(x.e[2].db, 2);
	assert_int_equal(x.e[2].klen, 32);
	assert_int_equal(x.e[0].offset, 8);
	assert_int_equal(z4_remote_pack_verify(&x, pk, plen), 0);
	pk[9] ^= 1;
	assert_int_equal(z4_remote_pack_verify(&x, pk, plen), Z4_ECORRUPT);
	z4_remote_index_dispose(&x);
	free(ix);
	free(pk);
}

static void index_every_flip_and_truncation(void **state)
{
	fx *f = *state;
	char ipath[512];
	uint8_t *ix;
	size_t ilen;
	z4_remote *r;

	write_pack(f->rem, 0, 7);
	find_file(ipath, sizeof(ipath), f->rem, ".z4x");
	ix = slurp(ipath, &ilen);
	for (size_t i = 0; i < ilen; i++) {
		z4_remote_index x;
		int rc;
		ix[i] ^= 0x20;
		rc = z4_remote_index_parse(&x, ix, ilen);
		assert_true(rc == Z4_ECORRUPT ||
		            (i == 3 && rc == Z4_EUNSUPPORTED));
		/* the same bytes on disk: open refuses, naming the index */
		if (i % 17 == 0) {
			spit(ipath, ix, ilen);
			assert_true(z4_remote_dir_open(&r, f->rem, 0) < 0);
			assert_non_null(strstr(z4vc_error(), ".z4x"));
		}
		ix[i] ^= 0x20;
	}
	for (size_t n = 0; n < ilen; n++) {
		z4_remote_index x;
		assert_true(z4_remote_index_parse(&x, ix, n) < 0);
	}
	spit(ipath, ix, ilen / 2);
	assert_int_equal(z4_remote_dir_open(&r, f->rem, 0), Z4_ECORRUPT);
	spit(ipath, (const uint8_t *)"garbage", 7);
	assert_int_equal(z4_remote_dir_open(&r, f->rem, 0), Z4_ECORRUPT);
	spit(ipath, ix, ilen);
	assert_int_equal(z4_remote_dir_open(&r, f->rem, 0), 0);
	check_objects(r, 0, 7);
	z4_remote_free(r);
	free(ix);
}

static void corrupt_and_truncated_pack(void **state)
{
	fx *f = *state;
	char ppath[512];
	uint8_t *pk, k[32], *got;
	size_t plen, len;
	z4_remote *r;

	write_pack(f->rem, 0, 9);
	find_file(ppath, sizeof(ppath), f->rem, ".z4p");
	pk = slurp(ppath, &plen);
	/* object 8 (a recipe key, 8 bytes) is last: flip one of its bytes */
	pk[plen - 16 - 3] ^= 0x01;
	spit(ppath, pk, plen);
	assert_int_equal(z4_remote_dir_open(&r, f->rem, 0), 0);
	key_of(k, 32, 8);
	assert_int_equal(z4_remote_get(&got, &len, r, Z4_DB_RECIPES, k, 32),
	                 Z4_ECORRUPT);
	check_objects(r, 0, 8);
	z4_remote_free(r);
	/* truncated: refused at open with a clear reason */
	spit(ppath, pk, plen - 1);
	assert_int_equal(z4_remote_dir_open(&r, f->rem, 0), Z4_ECORRUPT);
	assert_non_null(strstr(z4vc_error(), "truncated"));
	unlink(ppath);
	assert_int_equal(z4_remote_dir_open(&r, f->rem, 0), Z4_ECORRUPT);
	free(pk);
}

/* ---- push and fetch between repositories ---- */

static z4vc_repo *new_repo(const char *dir, const char *remote_dir)
{
	git_repository *g;
	git_config *cfg;
	z4vc_repo *r;
	assert_int_equal(git_libgit2_init() > 0, 1);
	assert_int_equal(git_repository_init(&g, dir, 0), 0);
	assert_int_equal(git_repository_config(&cfg, g), 0);
	assert_int_equal(git_config_set_string(cfg, "z4vc.url", remote_dir), 0);
	git_config_free(cfg);
	git_repository_free(g);
	git_libgit2_shutdown();
	assert_int_equal(z4vc_repo_init(&r, dir), 0);
	return r;
}

static void push_fetch_round_trip(void **state)
{
	fx *f = *state;
	char a[256], b[256], ppath[512];
	size_t len = 3u << 20; /* several chunks once stored */
	uint8_t *v1 = malloc(len), *v2 = malloc(len), *pk;
	mem_sink out = {malloc(len), 0, len};
	mem_reader rd;
	z4vc_pointer p1, p2;
	z4vc_store_opts o = {0};
	z4vc_repo *ra, *rb;
	const char *oids[2];
	size_t plen;

	for (size_t i = 0; i < len; i++)
		v1[i] = (uint8_t)((i * 2654435761u) >> 13);
	memcpy(v2, v1, len);
	for (size_t i = 0; i < len; i += 4096)
		v2[i] ^= 0x5a; /* a delta against v1 */
	snprintf(a, sizeof(a), "%s/a", f->dir);
	snprintf(b, sizeof(b), "%s/b", f->dir);
	ra = new_repo(a, f->rem);
	rb = new_repo(b, f->rem);
	rd = (mem_reader){v1, len, 0, 0};
	assert_int_equal(
	    z4vc_store_stream(&p1, ra, "w.bin", mem_read, &rd, NULL), 0);
	o.base_oid = p1.oid;
	rd = (mem_reader){v2, len, 0, 0};
	assert_int_equal(z4vc_store_stream(&p2, ra, "w.bin", mem_read, &rd, &o),
	                 0);

	/* nothing pushed yet */
	oids[0] = p2.oid;
	assert_int_equal(z4vc_remote_fetch(rb, NULL, oids, 1, NULL, NULL),
	                 Z4_ENOTFOUND);
	/* push only v2: its delta bases (v1's chunks) travel with it */
	assert_int_equal(z4vc_remote_push(ra, NULL, oids, 1, NULL, NULL), 0);
	assert_int_equal(z4vc_remote_fetch(rb, NULL, oids, 1, NULL, NULL), 0);
	assert_int_equal(z4vc_has_file(rb, p2.oid), 1);
	assert_int_equal(z4vc_has_file(rb, p1.oid), 0);
	assert_int_equal(z4vc_cat_file(rb, p2.oid, len, mem_write, &out), 0);
	assert_memory_equal(out.p, v2, len);
	/* pushing again sends nothing: still one pack */
	oids[1] = p1.oid;
	assert_int_equal(z4vc_remote_push(ra, NULL, oids, 1, NULL, NULL), 0);
	/* v1: only its recipe is new; fetched against the chunks b has */
	assert_int_equal(z4vc_remote_push(ra, NULL, oids + 1, 1, NULL, NULL),
	                 0);
	assert_int_equal(z4vc_remote_fetch(rb, NULL, oids, 2, NULL, NULL), 0);
	out.len = 0;
	assert_int_equal(z4vc_cat_file(rb, p1.oid, len, mem_write, &out), 0);
	assert_memory_equal(out.p, v1, len);
	z4vc_repo_free(rb);

	/* a flipped byte in a pack: detected, nothing made visible */
	snprintf(b, sizeof(b), "%s/c", f->dir);
	rb = new_repo(b, f->rem);
	find_file(ppath, sizeof(ppath), f->rem, ".z4p"); /* any pack */
	pk = slurp(ppath, &plen);
	pk[plen / 2] ^= 0x10;
	spit(ppath, pk, plen);
	{
		int rc1 = z4vc_remote_fetch(rb, NULL, oids, 1, NULL, NULL);
		int rc2 = z4vc_remote_fetch(rb, NULL, oids + 1, 1, NULL, NULL);
		assert_true(rc1 == Z4_ECORRUPT || rc2 == Z4_ECORRUPT);
		assert_int_equal(z4vc_has_file(rb, rc1 ? p2.oid : p1.oid), 0);
	}
	assert_int_equal(z4vc_remote_fetch(rb, NULL,
	                                   (const char *const[]){"sha256:zz"},
	                                   1, NULL, NULL),
	                 Z4_EINVAL);
	free(pk);
	z4vc_repo_free(ra);
	z4vc_repo_free(rb);
	free(out.p);
	free(v1);
	free(v2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(pack_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(missing_remote_and_empty_pack,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(concurrent_writers, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(index_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(index_every_flip_and_truncation,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(corrupt_and_truncated_pack, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(push_fetch_round_trip, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
