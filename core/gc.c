/*
 * gc.c - delete store objects that no ref and no reflog entry reaches
 * (z4vc_gc), then give the space back to the file system by compacting.
 *
 * Safety:
 * - The store lock is held exclusively from before the roots are read
 *   until the last delete, so no other z4vc process (a commit that might
 *   dedup against an object about to go, a checkout reading one) runs
 *   meanwhile.
 * - Delta bases: the walk closes over base chains, so every base that a
 *   kept chunk needs (transitively) is kept, whoever first wrote it. Bases
 *   are never re-encoded away: keeping them costs some space but writes
 *   nothing before the deletes, so a crash at any point loses nothing.
 * - A walk that finds a missing or undecodable reachable object deletes
 *   nothing: what such an object would have named is unknown.
 * - Deletes go recipes, then tensors, then chunks, in batches of one LMDB
 *   transaction each; a crash between batches leaves only unreachable
 *   objects behind, which the next gc removes.
 */
#include "reach.h"
#include "z4vc_maint.h"

#include "z4_alloc.h"

#include <stdio.h>
#include <string.h>

#define DEL_BATCH 4096 /* keys per delete transaction */
#define GC_LOCK_TIMEOUT_MS 10000
#define COMPACT_MIN_FREE (64ull << 20) /* and more than a quarter free */

typedef struct {
	uint8_t *keys; /* n x klen */
	size_t klen, n, cap;
} keylist;

typedef struct {
	const z4_keymap *live;
	keylist *dead;
	uint64_t *bytes; /* sum of dead values, or NULL */
	int rc;
} dead_ctx;

static int collect_dead(const uint8_t *key, size_t klen, const uint8_t *val,
                        size_t vlen, void *ud)
{
	dead_ctx *d = ud;
	keylist *l = d->dead;
	if (klen == d->live->klen && z4_keymap_get(d->live, key))
		return 0;
	if (klen != l->klen) {
		/* A key of a size this format never writes: not ours to judge.
		 */
		return 0;
	}
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 1024, bytes;
		uint8_t *nk;
		if (z4_mul_overflow(&bytes, nc, l->klen) ||
		    !(nk = z4_realloc(l->keys, bytes))) {
			d->rc = z4_error_set(Z4_ENOMEM, "out of memory");
			return 1;
		}
		l->keys = nk;
		l->cap = nc;
	}
	memcpy(l->keys + l->n * l->klen, key, klen);
	l->n++;
	if (d->bytes)
		*d->bytes += vlen;
	return 0;
}

static int delete_keys(z4_store *s, z4_db db, const keylist *l)
{
	const void *keys[DEL_BATCH];
	size_t klens[DEL_BATCH];
	for (size_t i = 0; i < l->n;) {
		size_t n = l->n - i < DEL_BATCH ? l->n - i : DEL_BATCH;
		for (size_t k = 0; k < n; k++) {
			keys[k] = l->keys + (i + k) * l->klen;
			klens[k] = l->klen;
		}
		Z4_TRY(z4_objects_del_batch(s, db, keys, klens, n));
		z4_crash_point("gc-delete");
		i += n;
	}
	return Z4_OK;
}

/* Drop every entry of every ckpt/ reflog (git reflog expire --expire=now). */
static int expire_ckpt_reflogs(uint64_t *dropped, z4vc_repo *repo, int dry_run)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	int rc = Z4_OK, grc;

	if (git_reference_iterator_glob_new(&it, repo->git, Z4_REF_PREFIX "*") <
	    0)
		return z4_git_error("list runs");
	while (rc == Z4_OK && (grc = git_reference_next(&ref, it)) == 0) {
		git_reflog *log = NULL;
		const char *name = git_reference_name(ref);
		z4_reflock lock = {-1, 0};
		/* read and rewrite under the ref-update lock, so no entry a
		 * commit appends meanwhile is lost, and a reflog lock file a
		 * killed process left is removed once old enough (stale.c) */
		if (!dry_run && (rc = z4_reflock_take(&lock, repo))) {
			git_reference_free(ref);
			break;
		}
		if (git_reflog_read(&log, repo->git, name) == 0) {
			size_t n = git_reflog_entrycount(log);
			*dropped += n;
			if (!dry_run && n) {
				while (git_reflog_entrycount(log) &&
				       rc == Z4_OK)
					if (git_reflog_drop(log, 0, 0) < 0)
						rc = z4_git_error(name);
				if (rc == Z4_OK)
					rc = z4_reflog_write(repo, &lock, log, name);
			}
			git_reflog_free(log);
		}
		z4_reflock_drop(&lock);
		git_error_clear();
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	return rc;
}

typedef struct {
	char first[1024];
} gc_problems;

static void gc_problem(void *ud, const char *kind, const char *id,
                       const char *why)
{
	gc_problems *p = ud;
	if (!p->first[0])
		snprintf(p->first, sizeof(p->first), "%s%s%s: %s", kind,
		         *id ? " " : "", id, why);
}

int z4vc_gc(z4vc_gc_result *out, z4vc_repo *repo, const z4vc_gc_opts *opts)
{
	z4vc_gc_opts o = {.compact = -1};
	z4_chunkio *io = NULL;
	z4_reach r;
	gc_problems probs = {{0}};
	keylist dead[3] = {
	    {.klen = Z4_SHA256_LEN}, {.klen = Z4_ID_LEN}, {.klen = Z4_ID_LEN}};
	const z4_db dbs[3] = {Z4_DB_RECIPES, Z4_DB_TENSORS, Z4_DB_CHUNKS};
	int rc, locked = 0, compact;
	uint64_t free_bytes = 0;

	memset(out, 0, sizeof(*out));
	z4_error_clear();
	if (opts)
		o = *opts;
	if (!o.lock_timeout_ms)
		o.lock_timeout_ms = GC_LOCK_TIMEOUT_MS;
	z4_reach_init(&r, repo, NULL);
	Z4_TRY(z4vc_stats_get(&out->before, repo));
	if (!o.dry_run) {
		if ((rc = z4_objects_lock(repo->store, 1, o.lock_timeout_ms)))
			goto done;
		locked = 1;
	}
	if (o.now && (rc = expire_ckpt_reflogs(&out->reflog_entries_expired,
	                                       repo, o.dry_run)))
		goto done;
	if ((rc = z4_chunkio_new(&io, repo->store)))
		goto done;
	r.io = io;
	r.skip_ckpt_reflogs = o.now;
	r.problem = gc_problem;
	r.ud = &probs;
	if ((rc = z4_reach_run(&r)))
		goto done;
	if (r.problems) {
		rc = z4_error_set(
		    Z4_ECORRUPT,
		    "%llu problem%s in reachable objects (first: %s); nothing "
		    "deleted: run 'z4vc fsck'",
		    (unsigned long long)r.problems, r.problems == 1 ? "" : "s",
		    probs.first);
		goto done;
	}
	for (size_t i = 0; i < r.nchunks; i++)
		if (r.chunks[i].tensor == Z4_NONE)
			out->kept_bases++;
	{
		const z4_keymap *live[3] = {&r.recipe_map, &r.tensor_map,
		                            &r.chunk_map};
		z4_rtxn *t = z4_chunkio_txn(io);
		if (!t) {
			rc = z4_error_last_code() ? z4_error_last_code()
			                          : Z4_EIO;
			goto done;
		}
		for (int k = 0; k < 3 && rc == Z4_OK; k++) {
			dead_ctx d = {live[k], &dead[k],
			              k == 2 ? &out->dead_bytes : NULL, 0};
			rc = z4_objects_foreach(t, dbs[k], collect_dead, &d);
			if (d.rc)
				rc = d.rc;
		}
		/* End the snapshot: deleting may have to remap the store. */
		z4_chunkio_end_txn(io);
		if (rc)
			goto done;
	}
	out->dead_recipes = dead[0].n;
	out->dead_tensors = dead[1].n;
	out->dead_chunks = dead[2].n;
	if (o.dry_run) {
		out->after = out->before;
		out->after.recipes -= dead[0].n;
		out->after.tensors -= dead[1].n;
		out->after.chunks -= dead[2].n;
		out->after.stored_bytes -= out->dead_bytes;
		goto done;
	}
	for (int k = 0; k < 3 && rc == Z4_OK; k++)
		rc = delete_keys(repo->store, dbs[k], &dead[k]);
	if (rc)
		goto done;
	z4_chunkio_free(io);
	io = NULL;

	if ((rc = z4_objects_free_bytes(&free_bytes, repo->store)))
		goto done;
	compact = o.compact > 0 || (o.compact < 0 && o.now);
	if (o.compact < 0 && !compact) {
		z4_store_stat ss;
		if ((rc = z4_objects_stat(&ss, repo->store)))
			goto done;
		compact = free_bytes > COMPACT_MIN_FREE &&
		          free_bytes > ss.file_bytes / 4;
	}
	if (compact) {
		rc = z4_objects_compact(&repo->store, &out->file_before,
		                        &out->file_after);
		locked = 0; /* the reopened handle holds the shared lock */
		if (!repo->store) {
			z4_error_wrap(rc ? rc : Z4_EIO,
			              "reopen after compaction");
			goto done;
		}
		if (rc)
			goto done;
		out->compacted = 1;
	}
	rc = z4vc_stats_get(&out->after, repo);
done:
	if (locked && repo->store)
		z4_objects_lock(repo->store, 0, 0);
	for (int k = 0; k < 3; k++)
		z4_free(dead[k].keys);
	z4_reach_dispose(&r);
	z4_chunkio_free(io);
	return rc;
}
