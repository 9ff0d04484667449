/*
 * test_maint.c - fsck, gc, prune and repack through the public API on real
 * git repositories and stores: each kind of damage fsck must name, gc
 * deleting exactly the unreachable objects, prune's policy and reflog, and
 * repack keeping every id and every byte.
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
#include <unistd.h>

#include "z4_core.h"
#include "z4vc.h"
#include "z4vc_maint.h"
#include "testutil.h"

typedef struct {
	char dir[256];
	char store[300];
	z4vc_repo *repo;
	char commits[8][41];
} fixture;

#define N_W (64 * 1024) /* bf16 elements: 128 KiB, one chunk */

static int commit(fixture *f, const char *run, unsigned seed, int step,
                  char hex[41])
{
	static uint16_t w[N_W], e[N_W];
	uint64_t shape[1] = {N_W};
	z4vc_tensor t[2] = {
	    {"w", "BF16", 1, shape, w, sizeof(w)},
	    {"e", "BF16", 1, shape, e, sizeof(e)},
	};
	z4vc_commit_opts o = {.run = run, .step = step, .keyframe_interval = 8};
	z4vc_ckpt *ck;
	int rc;

	fill_bf16(w, N_W, seed, step);
	fill_bf16(e, N_W, seed + 100, step);
	if ((rc = z4vc_ckpt_begin(&ck, f->repo, &o)))
		return rc;
	rc = z4vc_ckpt_add_tensors(ck, "model.safetensors", t, 2, NULL, 0);
	if (!rc)
		rc = z4vc_ckpt_finish(ck, hex);
	z4vc_ckpt_free(ck);
	return rc;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	test_repo_create(&f->repo, f->dir, sizeof(f->dir),
	                 "/tmp/z4vc-maint-XXXXXX");
	snprintf(f->store, sizeof(f->store), "%s/.git/z4vc/store", f->dir);
	for (int s = 0; s < 4; s++)
		assert_int_equal(commit(f, "a", 1, s, f->commits[s]), 0);
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

/* ---- fsck and its report ---- */

typedef struct {
	char text[8192];
	unsigned problems, dangling;
} report;

static void on_problem(const z4vc_fsck_problem *p, void *ud)
{
	report *r = ud;
	size_t n = strlen(r->text);
	snprintf(r->text + n, sizeof(r->text) - n, "%s %s: %s\n", p->kind,
	         p->id, p->why);
	r->problems++;
}

static void on_dangling(const char *kind, const char *id, void *ud)
{
	report *r = ud;
	(void)kind;
	(void)id;
	r->dangling++;
}

static uint64_t fsck(fixture *f, report *r, int full)
{
	z4vc_fsck_opts o = {.full = full,
	                    .problem_fn = on_problem,
	                    .dangling_fn = on_dangling,
	                    .ud = r};
	z4vc_fsck_result res;
	memset(r, 0, sizeof(*r));
	assert_int_equal(z4vc_fsck(&res, f->repo, &o), 0);
	assert_int_equal(res.problems, r->problems);
	return res.problems;
}

/* ---- direct store surgery (a second handle on the store) ---- */

typedef struct {
	int want_delta; /* -1 any, 0 keyframe, 1 delta */
	uint8_t key[32];
	size_t klen;
	uint8_t *val;
	size_t vlen;
	z4_delta_info info;
} pick;

static int pick_chunk(const uint8_t *key, size_t klen, const uint8_t *val,
                      size_t vlen, void *ud)
{
	pick *p = ud;
	z4_delta_info info;
	if (z4_delta_info_read(&info, val, vlen) != Z4_OK)
		return 0;
	if (p->want_delta >= 0 && info.is_delta != p->want_delta)
		return 0;
	memcpy(p->key, key, klen);
	p->klen = klen;
	p->val = malloc(vlen);
	memcpy(p->val, val, vlen);
	p->vlen = vlen;
	p->info = info;
	return 1;
}

static int pick_any(const uint8_t *key, size_t klen, const uint8_t *val,
                    size_t vlen, void *ud)
{
	pick *p = ud;
	memcpy(p->key, key, klen);
	p->klen = klen;
	p->val = malloc(vlen);
	memcpy(p->val, val, vlen);
	p->vlen = vlen;
	return 1;
}

static void pick_from(fixture *f, z4_db db, pick *p)
{
	z4_store *s;
	z4_rtxn *t;
	assert_int_equal(z4_objects_open(&s, f->store, 0), 0);
	assert_int_equal(z4_objects_rtxn_begin(&t, s), 0);
	z4_objects_foreach(t, db, db == Z4_DB_CHUNKS ? pick_chunk : pick_any,
	                   p);
	z4_objects_rtxn_end(t);
	z4_objects_free(s);
	assert_non_null(p->val);
}

static void del_key(fixture *f, z4_db db, const void *key, size_t klen)
{
	z4_store *s;
	const void *keys[1] = {key};
	assert_int_equal(z4_objects_open(&s, f->store, 0), 0);
	assert_int_equal(z4_objects_del_batch(s, db, keys, &klen, 1), 0);
	z4_objects_free(s);
}

static void put_key(fixture *f, z4_db db, const void *key, size_t klen,
                    const void *val, size_t vlen)
{
	z4_store *s;
	z4_put p = {db, key, klen, val, vlen, 1};
	assert_int_equal(z4_objects_open(&s, f->store, 0), 0);
	assert_int_equal(z4_objects_put_batch(s, &p, 1), 0);
	z4_objects_free(s);
}

static void assert_names(const report *r, const char *kind, const uint8_t *key,
                         size_t klen)
{
	char want[128], hex[80];
	if (klen == 32) {
		memcpy(hex, "sha256:", 7);
		z4_hex(hex + 7, key, klen);
	} else {
		z4_hex(hex, key, klen);
	}
	snprintf(want, sizeof(want), "%s %s:", kind, hex);
	if (!strstr(r->text, want)) {
		print_error("expected '%s' in:\n%s", want, r->text);
		fail();
	}
}

static void fsck_clean(void **state)
{
	fixture *f = *state;
	report r;
	z4vc_fsck_result res;
	z4vc_fsck_opts o = {.full = 1};
	assert_int_equal(fsck(f, &r, 1), 0);
	assert_int_equal(r.dangling, 0);
	assert_int_equal(z4vc_fsck(&res, f->repo, &o), 0);
	assert_int_equal(res.commits, 4);
	assert_int_equal(res.files_rebuilt, 4);
	/* each reachable chunk decoded once, not once per chain link */
	assert_int_equal(res.chunks_decoded, res.chunks);
}

static void fsck_missing_chunk(void **state)
{
	fixture *f = *state;
	pick p = {.want_delta = -1};
	report r;
	pick_from(f, Z4_DB_CHUNKS, &p);
	del_key(f, Z4_DB_CHUNKS, p.key, p.klen);
	assert_true(fsck(f, &r, 0) > 0);
	assert_names(&r, "chunk", p.key, p.klen);
	assert_non_null(strstr(r.text, "not in the store"));
	free(p.val);
}

static void fsck_missing_base(void **state)
{
	fixture *f = *state;
	pick p = {.want_delta = 1};
	report r;
	pick_from(f, Z4_DB_CHUNKS, &p);
	del_key(f, Z4_DB_CHUNKS, p.info.base.b, Z4_ID_LEN);
	assert_true(fsck(f, &r, 0) > 0);
	assert_names(&r, "chunk", p.info.base.b, Z4_ID_LEN);
	assert_non_null(strstr(r.text, "not in the store"));
	assert_names(&r, "chunk", p.key,
	             p.klen); /* the dependant cannot decode */
	assert_non_null(strstr(r.text, "delta chain broken at chunk"));
	free(p.val);
}

static void fsck_corrupt_chunk(void **state)
{
	fixture *f = *state;
	pick p = {.want_delta = 0};
	report r;
	pick_from(f, Z4_DB_CHUNKS, &p);
	p.val[p.vlen - 1] ^= 0x10;
	put_key(f, Z4_DB_CHUNKS, p.key, p.klen, p.val, p.vlen);
	assert_true(fsck(f, &r, 0) > 0);
	assert_names(&r, "chunk", p.key, p.klen);
	assert_non_null(strstr(r.text, "corrupt"));
	free(p.val);
}

static void fsck_missing_recipe(void **state)
{
	fixture *f = *state;
	pick p = {0};
	report r;
	pick_from(f, Z4_DB_RECIPES, &p);
	del_key(f, Z4_DB_RECIPES, p.key, p.klen);
	assert_int_equal(fsck(f, &r, 0), 1);
	assert_names(&r, "recipe", p.key, p.klen);
	free(p.val);
}

static void fsck_tensor_hash_mismatch(void **state)
{
	fixture *f = *state;
	pick p = {0};
	report r;
	pick_from(f, Z4_DB_TENSORS, &p);
	p.val[p.vlen - 1] ^= 1; /* a chunk id byte: still decodes, wrong hash */
	put_key(f, Z4_DB_TENSORS, p.key, p.klen, p.val, p.vlen);
	assert_true(fsck(f, &r, 0) > 0);
	assert_names(&r, "tensor", p.key, p.klen);
	assert_non_null(strstr(r.text, "does not hash to its id"));
	free(p.val);
}

/* A commit on refs/heads/ghost whose tree holds a pointer to nothing. */
static void ghost_commit(fixture *f, uint8_t sha[32])
{
	git_repository *g;
	git_oid blob, tree, c;
	git_treebuilder *tb;
	git_tree *t;
	git_signature *sig;
	char text[200], hex[65];

	for (int i = 0; i < 32; i++)
		sha[i] = (uint8_t)(i * 7 + 3);
	z4_hex(hex, sha, 32);
	snprintf(text, sizeof(text),
	         "version https://git-lfs.github.com/spec/v1\noid "
	         "sha256:%s\nsize 12\n",
	         hex);
	assert_int_equal(git_repository_open(&g, f->dir), 0);
	assert_int_equal(
	    git_blob_create_from_buffer(&blob, g, text, strlen(text)), 0);
	assert_int_equal(git_treebuilder_new(&tb, g, NULL), 0);
	assert_int_equal(git_treebuilder_insert(NULL, tb, "ghost.bin", &blob,
	                                        GIT_FILEMODE_BLOB),
	                 0);
	assert_int_equal(git_treebuilder_write(&tree, tb), 0);
	assert_int_equal(git_tree_lookup(&t, g, &tree), 0);
	assert_int_equal(git_signature_now(&sig, "t", "t@t"), 0);
	assert_int_equal(git_commit_create(&c, g, "refs/heads/ghost", sig, sig,
	                                   NULL, "ghost", t, 0, NULL),
	                 0);
	git_signature_free(sig);
	git_tree_free(t);
	git_treebuilder_free(tb);
	git_repository_free(g);
}

static void fsck_pointer_to_nothing(void **state)
{
	fixture *f = *state;
	uint8_t sha[32];
	report r;
	z4vc_gc_result gr;
	ghost_commit(f, sha);
	assert_int_equal(fsck(f, &r, 0), 1);
	assert_names(&r, "recipe", sha, 32);
	assert_non_null(strstr(r.text, "ghost.bin"));
	/* gc refuses to delete anything on a damaged history */
	assert_int_equal(z4vc_gc(&gr, f->repo, NULL), Z4_ECORRUPT);
	assert_non_null(strstr(z4vc_error(), "nothing deleted"));
}

/* ---- gc ---- */

static void remove_ref(fixture *f, const char *name)
{
	git_repository *g;
	assert_int_equal(git_repository_open(&g, f->dir), 0);
	assert_int_equal(git_reference_remove(g, name), 0);
	git_repository_free(g);
}

static void gc_removes_exactly_unreachable(void **state)
{
	fixture *f = *state;
	char hex[41], out[400];
	uint16_t *w = malloc(N_W * 2), *back = malloc(N_W * 2);
	size_t len;
	report r;
	z4vc_fsck_result fr;
	z4vc_fsck_opts fo = {0};
	z4vc_gc_result gr;

	/* run b: a's step 3 again (dedup: its chunks delta on a's chain) plus
	 * run c with objects of its own */
	assert_int_equal(commit(f, "b", 1, 3, hex), 0);
	for (int s = 0; s < 2; s++)
		assert_int_equal(commit(f, "c", 9, s, f->commits[5]), 0);
	remove_ref(f, "refs/heads/ckpt/c");
	assert_int_equal(z4vc_fsck(&fr, f->repo, &fo), 0);
	assert_int_equal(fr.problems, 0);
	assert_true(fr.dangling_chunks > 0);
	assert_int_equal(z4vc_gc(&gr, f->repo, NULL), 0);
	assert_int_equal(gr.dead_chunks, fr.dangling_chunks);
	assert_int_equal(gr.dead_tensors, fr.dangling_tensors);
	assert_int_equal(gr.dead_recipes, fr.dangling_recipes);
	assert_int_equal(gr.after.chunks, gr.before.chunks - gr.dead_chunks);
	assert_int_equal(fsck(f, &r, 1), 0);
	assert_int_equal(r.dangling, 0);

	/* drop run a: b's step keeps its whole delta chain from a's steps */
	remove_ref(f, "refs/heads/ckpt/a");
	assert_int_equal(z4vc_gc(&gr, f->repo, NULL), 0);
	assert_true(gr.dead_recipes > 0 && gr.dead_tensors > 0);
	assert_int_equal(gr.dead_chunks, 0);
	assert_true(gr.kept_bases > 0);
	assert_int_equal(fsck(f, &r, 1), 0);
	fill_bf16(w, N_W, 1, 3);
	assert_int_equal(z4vc_read_tensor(&len, back, N_W * 2, f->repo, hex,
	                                  "model.safetensors", "w"),
	                 0);
	assert_memory_equal(back, w, N_W * 2);
	snprintf(out, sizeof(out), "%s/out", f->dir);
	assert_int_equal(z4vc_checkout(f->repo, hex, out, NULL), 0);
	free(w);
	free(back);
}

static void prune_reflog_and_gc_now(void **state)
{
	fixture *f = *state;
	z4vc_prune_opts po = {.run = "a", .keep_last = 1, .keep_every = 2};
	z4vc_prune_result pr;
	z4vc_gc_result gr;
	report r;
	char hex[41];

	for (int s = 4; s < 8; s++)
		assert_int_equal(commit(f, "a", 1, s, hex), 0);
	/* steps 0..7: keep 0, 2, 4, 6 and the last, 7 */
	assert_int_equal(z4vc_prune(&pr, f->repo, &po), 0);
	assert_int_equal(pr.total, 8);
	assert_int_equal(pr.kept, 5);
	assert_string_not_equal(pr.new_tip, pr.old_tip);
	assert_int_equal(z4vc_resolve(hex, f->repo, NULL, "a", 5),
	                 Z4_ENOTFOUND);
	assert_int_equal(z4vc_resolve(hex, f->repo, NULL, "a", 6), 0);
	/* the oldest kept prefix (step 0) keeps its id */
	assert_int_equal(z4vc_resolve(hex, f->repo, NULL, "a", 0), 0);
	assert_string_equal(hex, f->commits[0]);
	/* the reflog still reaches the old steps: nothing to collect */
	assert_int_equal(z4vc_gc(&gr, f->repo, NULL), 0);
	assert_int_equal(gr.dead_recipes, 0);
	/* the kept steps still delta through the dropped ones: repack makes
	 * each delta against the previous kept step, then gc frees them */
	{
		z4vc_repack_result rr;
		assert_int_equal(z4vc_repack(&rr, f->repo, NULL), 0);
		assert_true(rr.rewritten > 0);
	}
	assert_int_equal(fsck(f, &r, 1), 0);
	assert_int_equal(
	    z4vc_gc(&gr, f->repo, &(z4vc_gc_opts){.now = 1, .compact = -1}), 0);
	assert_true(gr.reflog_entries_expired > 0);
	assert_true(gr.dead_chunks > 0);
	assert_true(gr.compacted);
	assert_true(gr.after.stored_bytes < gr.before.stored_bytes);
	assert_int_equal(fsck(f, &r, 1), 0);
	/* the handle still works after compaction reopened the store */
	assert_int_equal(z4vc_resolve(hex, f->repo, NULL, "a", 7), 0);
	{
		char out[400];
		snprintf(out, sizeof(out), "%s/out7", f->dir);
		assert_int_equal(z4vc_checkout(f->repo, hex, out, NULL), 0);
	}
}

static void prune_needs_a_policy(void **state)
{
	fixture *f = *state;
	z4vc_prune_result pr;
	z4vc_prune_opts po = {.run = "a",
	                      .keep_last = Z4VC_PRUNE_DEFAULT,
	                      .keep_every = Z4VC_PRUNE_DEFAULT};
	assert_int_equal(z4vc_prune(&pr, f->repo, &po), Z4_EINVAL);
	po.keep_last = 0;
	po.keep_every = 0;
	assert_int_equal(z4vc_prune(&pr, f->repo, &po), Z4_EINVAL);
	po.keep_last = 10;
	assert_int_equal(z4vc_prune(&pr, f->repo, &po), 0);
	assert_int_equal(pr.dropped, 0);
	assert_string_equal(pr.new_tip, pr.old_tip);
}

/* ---- repack ---- */

typedef struct {
	unsigned deltas, keyframes;
} counts;

static int count_tensor(const z4vc_tensor_info *t, void *ud)
{
	counts *c = ud;
	c->deltas += t->deltas;
	c->keyframes += t->keyframes;
	return 0;
}

static void repack_keeps_ids_and_bytes(void **state)
{
	fixture *f = *state;
	z4vc_repack_result rr;
	z4vc_stats before, after;
	counts c = {0};
	report r;
	uint16_t *w = malloc(N_W * 2), *back = malloc(N_W * 2);
	size_t len;

	assert_int_equal(z4vc_stats_get(&before, f->repo), 0);
	assert_true(before.deltas > 0);
	assert_int_equal(
	    z4vc_repack(&rr, f->repo,
	                &(z4vc_repack_opts){.keyframe_interval = 8}),
	    0);
	assert_int_equal(rr.rewritten, 0); /* same K: nothing to do */
	assert_int_equal(
	    z4vc_repack(&rr, f->repo,
	                &(z4vc_repack_opts){.keyframe_interval = 1}),
	    0);
	assert_true(rr.rewritten > 0);
	assert_int_equal(rr.deltas, 0);
	assert_int_equal(z4vc_stats_get(&after, f->repo), 0);
	assert_int_equal(after.chunks, before.chunks);
	assert_int_equal(after.deltas, 0);
	assert_int_equal(
	    z4vc_list(f->repo, f->commits[3], NULL, count_tensor, &c), 0);
	assert_int_equal(c.deltas, 0);
	for (int s = 0; s < 4; s++) {
		fill_bf16(w, N_W, 1, s);
		assert_int_equal(z4vc_read_tensor(&len, back, N_W * 2, f->repo,
		                                  f->commits[s],
		                                  "model.safetensors", "w"),
		                 0);
		assert_memory_equal(back, w, N_W * 2);
	}
	assert_int_equal(fsck(f, &r, 1), 0);
	/* and back: the deltas return */
	assert_int_equal(
	    z4vc_repack(&rr, f->repo, &(z4vc_repack_opts){.run = "a"}), 0);
	assert_int_equal(z4vc_stats_get(&after, f->repo), 0);
	assert_int_equal(after.deltas, before.deltas);
	/* re-encoded as commit encoded them, by the tensors' dtype: the
	 * very bytes again */
	assert_int_equal(after.stored_bytes, before.stored_bytes);
	assert_int_equal(fsck(f, &r, 1), 0);
	free(w);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(fsck_clean, setup, teardown),
	    cmocka_unit_test_setup_teardown(fsck_missing_chunk, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(fsck_missing_base, setup, teardown),
	    cmocka_unit_test_setup_teardown(fsck_corrupt_chunk, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(fsck_missing_recipe, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(fsck_tensor_hash_mismatch, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(fsck_pointer_to_nothing, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(gc_removes_exactly_unreachable,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(prune_reflog_and_gc_now, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(prune_needs_a_policy, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(repack_keeps_ids_and_bytes, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
