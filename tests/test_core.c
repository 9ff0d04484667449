/*
 * test_core.c - the public API end to end on a real git repository and a
 * real LMDB store: tensors from memory, deltas across versions, reading
 * tensors back, concurrency-safe refs, stale ref locks, corruption
 * detection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "z4_core.h"
#include "z4vc.h"
#include "testutil.h"

typedef struct {
	char dir[256];
	z4vc_repo *repo;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	test_repo_create(&f->repo, f->dir, sizeof(f->dir),
	                 "/tmp/z4vc-core-XXXXXX");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	test_repo_remove(f->repo, f->dir);
	free(f);
	return 0;
}

#define ROWS 1024
#define COLS 3000 /* 6 MB of bf16: two chunks */

static int commit_step(fixture *f, int step, uint16_t *w, float *b,
		       char hex[41])
{
	uint64_t wshape[2] = {ROWS, COLS}, bshape[1] = {16};
	z4vc_tensor t[2] = {
		{"layer.weight", "BF16", 2, wshape, w, (size_t)ROWS * COLS * 2},
		{"layer.bias", "F32", 1, bshape, b, 64},
	};
	const char *meta[] = {"format", "pt"};
	z4vc_commit_opts o = {.run = "unit", .step = step};
	z4vc_ckpt *ck;
	char name[32];
	int rc;

	fill_bf16(w, (size_t)ROWS * COLS, 7, step);
	for (int i = 0; i < 16; i++)
		b[i] = (float)i * 0.5f + (float)step;
	snprintf(name, sizeof(name), "notes-%d.txt", step);
	if ((rc = z4vc_ckpt_begin(&ck, f->repo, &o)))
		return rc;
	rc = z4vc_ckpt_add_tensors(ck, "model.safetensors", t, 2, meta, 1);
	if (!rc)
		rc = z4vc_ckpt_add_buffer(ck, "notes.txt", name, strlen(name));
	if (!rc)
		rc = z4vc_ckpt_finish(ck, hex);
	z4vc_ckpt_free(ck);
	return rc;
}

typedef struct {
	unsigned deltas, keyframes, tensors;
} counts;

static int count_tensor(const z4vc_tensor_info *t, void *ud)
{
	counts *c = ud;
	c->deltas += t->deltas;
	c->keyframes += t->keyframes;
	c->tensors++;
	return 0;
}

static void tensors_round_trip(void **state)
{
	fixture *f = *state;
	size_t n = (size_t)ROWS * COLS, len;
	uint16_t *w = malloc(n * 2), *back = malloc(n * 2);
	float b[16], bb[16];
	char h1[41], h2[41], found[41];
	counts c1 = {0}, c2 = {0};

	assert_int_equal(commit_step(f, 1, w, b, h1), 0);
	assert_int_equal(commit_step(f, 2, w, b, h2), 0);
	/* step 2 reads back exactly */
	assert_int_equal(z4vc_read_tensor(&len, back, n * 2, f->repo, h2,
					  "model.safetensors", "layer.weight"), 0);
	assert_int_equal(len, n * 2);
	assert_memory_equal(back, w, n * 2);
	assert_int_equal(z4vc_read_tensor(&len, bb, sizeof(bb), f->repo, h2,
					  "model.safetensors", "layer.bias"), 0);
	assert_memory_equal(bb, b, sizeof(b));
	/* step 1 as well, through the delta chain's base */
	fill_bf16(w, n, 7, 1);
	assert_int_equal(z4vc_read_tensor(&len, back, n * 2, f->repo, h1,
					  "model.safetensors", "layer.weight"), 0);
	assert_memory_equal(back, w, n * 2);
	/* a buffer too small is refused, nothing written past it */
	assert_int_equal(z4vc_read_tensor(&len, back, 10, f->repo, h1,
					  "model.safetensors", "layer.weight"),
			 Z4_ETOOBIG);
	assert_int_equal(z4vc_read_tensor(&len, back, n * 2, f->repo, h1,
					  "model.safetensors", "nope"),
			 Z4_ENOTFOUND);
	/* the second version is stored as deltas */
	assert_int_equal(z4vc_list(f->repo, h1, NULL, count_tensor, &c1), 0);
	assert_int_equal(z4vc_list(f->repo, h2, NULL, count_tensor, &c2), 0);
	assert_int_equal(c1.deltas, 0);
	assert_true(c2.deltas >= 2);
	/* resolve by step */
	assert_int_equal(z4vc_resolve(found, f->repo, NULL, "unit", 1), 0);
	assert_string_equal(found, h1);
	assert_int_equal(z4vc_resolve(found, f->repo, NULL, "unit", 3), Z4_ENOTFOUND);
	assert_int_equal(z4vc_resolve(found, f->repo, "ckpt/unit~1", NULL, 0), 0);
	assert_string_equal(found, h1);
	/* the same step twice is refused */
	assert_int_equal(commit_step(f, 2, w, b, found), Z4_EEXISTS);
	free(w);
	free(back);
}

static void checkout_matches_files(void **state)
{
	fixture *f = *state;
	size_t n = (size_t)ROWS * COLS;
	uint16_t *w = malloc(n * 2);
	float b[16];
	char hex[41], out[300], cmd[700];
	FILE *fp;
	long size;

	assert_int_equal(commit_step(f, 5, w, b, hex), 0);
	snprintf(out, sizeof(out), "%s/out", f->dir);
	assert_int_equal(z4vc_checkout(f->repo, hex, out, NULL), 0);
	snprintf(cmd, sizeof(cmd), "%s/model.safetensors", out);
	fp = fopen(cmd, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	fclose(fp);
	assert_true(size > (long)(n * 2));
	/* git-lfs-style pointer oid = sha256 of the file we wrote */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && test \"$(git cat-file -p ckpt/unit:model.safetensors | "
		 "sed -n 's/^oid sha256://p')\" = \"$(sha256sum < out/model.safetensors "
		 "| cut -d' ' -f1)\"", f->dir);
	assert_int_equal(system(cmd), 0);
	free(w);
}

typedef struct {
	uint8_t *key, *val;
	size_t klen, vlen;
} kv;

/* Copy the first chunk with its last (payload) byte flipped. */
static int corrupt_first_chunk(const uint8_t *key, size_t klen,
			       const uint8_t *val, size_t vlen, void *ud)
{
	kv *c = ud;
	c->key = malloc(klen);
	c->val = malloc(vlen);
	memcpy(c->key, key, klen);
	memcpy(c->val, val, vlen);
	c->klen = klen;
	c->vlen = vlen;
	c->val[vlen - 1] ^= 0x10;
	return 1;
}

static void corrupt_chunk_detected(void **state)
{
	fixture *f = *state;
	size_t n = (size_t)ROWS * COLS, len;
	uint16_t *w = malloc(n * 2);
	float b[16];
	char hex[41], out[300], path[400];
	z4_store *s;
	z4_rtxn *t;
	kv c = {0};
	z4_put p;
	struct stat st;

	assert_int_equal(commit_step(f, 9, w, b, hex), 0);
	snprintf(path, sizeof(path), "%s/.git/z4vc/store", f->dir);
	assert_int_equal(z4_objects_open(&s, path, 0), 0);
	assert_int_equal(z4_objects_rtxn_begin(&t, s), 0);
	z4_objects_foreach(t, Z4_DB_CHUNKS, corrupt_first_chunk, &c);
	z4_objects_rtxn_end(t);
	assert_non_null(c.val);
	p = (z4_put){Z4_DB_CHUNKS, c.key, c.klen, c.val, c.vlen, 1};
	assert_int_equal(z4_objects_put_batch(s, &p, 1), 0);
	free(c.val);
	free(c.key);
	z4_objects_free(s);

	snprintf(out, sizeof(out), "%s/co", f->dir);
	assert_int_equal(z4vc_checkout(f->repo, hex, out, NULL), Z4_ECORRUPT);
	assert_non_null(strstr(z4vc_error(), "chunk"));
	/* nothing was renamed into place */
	snprintf(path, sizeof(path), "%s/model.safetensors", out);
	assert_int_not_equal(stat(path, &st), 0);
	/* whichever tensor holds the chunk fails to read */
	assert_true(z4vc_read_tensor(&len, w, n * 2, f->repo, hex, "model.safetensors",
				     "layer.weight") == Z4_ECORRUPT ||
		    z4vc_read_tensor(&len, b, sizeof(b), f->repo, hex, "model.safetensors",
				     "layer.bias") == Z4_ECORRUPT);
	free(w);
}

static void bad_paths_refused(void **state)
{
	fixture *f = *state;
	z4vc_ckpt *ck;
	const char *bad[] = {"../x", "/abs", "a/../b", "a//b", ".git/config", "a/", ""};
	assert_int_equal(z4vc_ckpt_begin(&ck, f->repo, NULL), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(z4vc_ckpt_add_buffer(ck, bad[i], "x", 1), Z4_EINVAL);
	assert_int_equal(z4vc_ckpt_add_buffer(ck, "ok/fine.txt", "x", 1), 0);
	assert_int_equal(z4vc_ckpt_add_buffer(ck, "ok/fine.txt", "y", 1), Z4_EEXISTS);
	z4vc_ckpt_free(ck); /* abandoned: no ref */
	assert_int_equal(z4vc_resolve((char[41]){0}, f->repo, NULL, NULL, Z4VC_NO_STEP),
			 Z4_ENOTFOUND);
}

/* A safetensors file in memory: one BF16 tensor of n elements + trailer. */
static uint8_t *make_st(size_t *out_len, size_t n, int step, const char *trailer)
{
	char head[256];
	size_t hl, tl = strlen(trailer), len;
	uint8_t *f;
	hl = (size_t)snprintf(head, sizeof(head),
			      "{\"w\":{\"dtype\":\"BF16\",\"shape\":[%zu],"
			      "\"data_offsets\":[0,%zu]}}", n, 2 * n);
	while (hl % 8)
		head[hl++] = ' ';
	len = 8 + hl + 2 * n + tl;
	f = malloc(len);
	for (int i = 0; i < 8; i++)
		f[i] = (uint8_t)((uint64_t)hl >> (8 * i));
	memcpy(f + 8, head, hl);
	fill_bf16((uint16_t *)(f + 8 + hl), n, 3, step);
	memcpy(f + 8 + hl + 2 * n, trailer, tl);
	*out_len = len;
	return f;
}

static void stream_store_and_cat(void **state)
{
	fixture *f = *state;
	size_t n = 3u << 20, len, len2; /* 6 MiB of bf16: two chunks */
	uint8_t *file = make_st(&len, n, 1, "TRAIL"), *file2 = make_st(&len2, n, 2, "");
	mem_reader r = {file, len, 0, 65537};
	mem_sink out = {malloc(len), 0, len};
	z4vc_pointer p, p2, q;
	z4vc_store_opts o = {0};
	counts c = {0};

	if (z4vc_store_stream(&p, f->repo, "m.safetensors", mem_read, &r, NULL))
		fail_msg("%s", z4vc_error());
	assert_int_equal(p.size, len);
	assert_int_equal(z4vc_has_file(f->repo, p.oid), 1);
	assert_int_equal(z4vc_pointer_parse(&q, p.text, p.text_len), 0);
	assert_string_equal(q.oid, p.oid);
	assert_int_equal(z4vc_cat_file(f->repo, p.oid, p.size, mem_write, &out), 0);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.p, file, len);
	/* the next version deltas against it when told its oid */
	o.base_oid = p.oid;
	r = (mem_reader){file2, len2, 0, 4096};
	assert_int_equal(z4vc_store_stream(&p2, f->repo, "m.safetensors", mem_read, &r, &o), 0);
	out.len = 0;
	assert_int_equal(z4vc_cat_file(f->repo, p2.oid, p2.size, mem_write, &out), 0);
	assert_memory_equal(out.p, file2, len2);
	(void)c;
	/* truncated safetensors from a stream: refused, nothing stored */
	r = (mem_reader){file, len - 100, 0, 1 << 20};
	assert_int_equal(z4vc_store_stream(&q, f->repo, "m.safetensors", mem_read, &r, NULL),
			 Z4_ECORRUPT);
	/* ... unless stored as bytes */
	o.base_oid = NULL;
	o.allow_opaque = 1;
	r = (mem_reader){file, len - 100, 0, 7777};
	assert_int_equal(z4vc_store_stream(&q, f->repo, "m.safetensors", mem_read, &r, &o), 0);
	out.len = 0;
	assert_int_equal(z4vc_cat_file(f->repo, q.oid, q.size, mem_write, &out), 0);
	assert_int_equal(out.len, len - 100);
	assert_memory_equal(out.p, file, len - 100);
	/* an opaque stream and an empty one */
	r = (mem_reader){file, len, 0, 333333};
	assert_int_equal(z4vc_store_stream(&q, f->repo, "blob.bin", mem_read, &r, NULL), 0);
	assert_int_equal(q.size, len);
	r = (mem_reader){file, 0, 0, 1};
	assert_int_equal(z4vc_store_stream(&q, f->repo, "empty.bin", mem_read, &r, NULL), 0);
	assert_string_equal(q.oid, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	out.len = 0;
	assert_int_equal(z4vc_cat_file(f->repo, q.oid, 0, mem_write, &out), 0);
	assert_int_equal(out.len, 0);
	/* unknown and malformed oids */
	assert_int_equal(z4vc_cat_file(f->repo, "sha256:0000000000000000000000000000000000000000000000000000000000000000", 1, mem_write, &out), Z4_ENOTFOUND);
	assert_int_equal(z4vc_has_file(f->repo, "sha256:zz"), Z4_EINVAL);
	free(out.p);
	free(file);
	free(file2);
}

typedef struct {
	int n;
	char last[256];
} notices;

static void on_notice(void *ud, const char *line)
{
	notices *n = ud;
	n->n++;
	snprintf(n->last, sizeof(n->last), "%s", line);
}

static int commit_small(fixture *f, int step)
{
	z4vc_commit_opts o = {.run = "locky", .step = step};
	z4vc_ckpt *ck;
	char hex[41];
	int rc;
	if ((rc = z4vc_ckpt_begin(&ck, f->repo, &o)))
		return rc;
	rc = z4vc_ckpt_add_buffer(ck, "a.txt", "x", 1);
	if (!rc)
		rc = z4vc_ckpt_finish(ck, hex);
	z4vc_ckpt_free(ck);
	return rc;
}

/* A ref lock a killed process left: a fresh one is Z4_ELOCKED naming it,
 * one older than z4vc.staleLockSeconds is removed with a notice. */
static void stale_ref_lock_cleared(void **state)
{
	fixture *f = *state;
	notices n = {0};
	char lock[1024];
	const char *zdir = z4vc_repo_dir(f->repo); /* "<git dir>z4vc" */
	struct timespec aged[2] = {{time(NULL) - 60, 0}, {time(NULL) - 60, 0}};
	FILE *fp;

	z4vc_repo_set_notice(f->repo, on_notice, &n);
	assert_int_equal(commit_small(f, 1), 0);
	snprintf(lock, sizeof(lock), "%.*srefs/heads/ckpt/locky.lock",
		 (int)(strlen(zdir) - 4), zdir);
	assert_non_null(fp = fopen(lock, "w"));
	fclose(fp);
	assert_int_equal(commit_small(f, 2), Z4_ELOCKED);
	assert_non_null(strstr(z4vc_error(), "locked by"));
	assert_non_null(strstr(z4vc_error(), "locky.lock"));
	assert_int_equal(n.n, 0);
	assert_int_equal(access(lock, F_OK), 0);
	assert_int_equal(utimensat(AT_FDCWD, lock, aged, 0), 0);
	if (commit_small(f, 2))
		fail_msg("%s", z4vc_error());
	assert_int_equal(n.n, 1);
	assert_string_equal(n.last, "refs/heads/ckpt/locky: removed stale lock "
				    "left by a killed process");
	assert_int_not_equal(access(lock, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(tensors_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(checkout_matches_files, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupt_chunk_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_paths_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(stream_store_and_cat, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_ref_lock_cleared, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
