/*
 * z4vc_maint.h - repository maintenance: verify (fsck), collect garbage
 * (gc, with LMDB compaction), thin a run's history (prune) and re-encode
 * delta chains (repack). Semantics, safety and locking: docs/maintenance.md.
 *
 * Conventions as in z4vc.h: 0 or a negative Z4_E* code, z4vc_error() for
 * the reason; strings handed to callbacks are valid during the call only.
 */
#ifndef Z4VC_MAINT_H
#define Z4VC_MAINT_H

#include "z4vc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fsck -------------------------------------------------------------- */

/* One problem: kind is "commit", "blob", "pointer", "recipe", "tensor",
 * "chunk" or "file"; id the object's hex id ("sha256:<hex>" for recipes
 * and files, "" when there is none); why one line naming where it is used. */
typedef struct {
	const char *kind;
	const char *id;
	const char *why;
} z4vc_fsck_problem;

typedef struct {
	int full; /* also rebuild every file and check its SHA-256 */
	/* Called per problem and per dangling object (both may be NULL). */
	void (*problem_fn)(const z4vc_fsck_problem *p, void *ud);
	/* kind "recipe", "tensor" or "chunk": in the store, reachable from
	 * nothing (information, not an error: gc removes it). */
	void (*dangling_fn)(const char *kind, const char *id, void *ud);
	void *ud;
	z4vc_progress_fn progress;
	void *progress_ud;
} z4vc_fsck_opts;

typedef struct {
	uint64_t commits, pointers;        /* reachable */
	uint64_t recipes, tensors, chunks; /* reachable objects checked */
	uint64_t chunks_decoded;           /* chunk decodes performed */
	uint64_t files_rebuilt;            /* with full */
	uint64_t problems;
	uint64_t dangling_recipes, dangling_tensors, dangling_chunks;
} z4vc_fsck_result;

/*
 * Check everything the history needs (see docs/maintenance.md). Problems
 * found in the data do not fail the call: they are counted in
 * out->problems and passed to problem_fn. Returns an error only when the
 * check itself cannot run (out of memory, unreadable git repository).
 */
int z4vc_fsck(z4vc_fsck_result *out, z4vc_repo *repo,
              const z4vc_fsck_opts *opts);

/* ---- gc ---------------------------------------------------------------- */

typedef struct {
	/* Expire the reflogs of ckpt/ refs first (every entry), so what only
	 * they reach is collected, and always compact the LMDB file. */
	int now;
	int dry_run; /* report what would go; change nothing */
	/* -1: compact when the free part of data.mdb is > 25% and > 64 MiB
	 * (always with now); 0: never; 1: always. */
	int compact;
	/* How long to wait for other z4vc processes to close the store
	 * (milliseconds; 0: the default, 10 s). */
	unsigned lock_timeout_ms;
	z4vc_progress_fn progress;
	void *progress_ud;
} z4vc_gc_opts;

typedef struct {
	z4vc_stats before, after; /* as z4vc_stats_get */
	uint64_t reflog_entries_expired;
	uint64_t dead_recipes, dead_tensors, dead_chunks;
	uint64_t dead_bytes; /* stored bytes of dead chunks */
	uint64_t kept_bases; /* chunks kept only as delta bases */
	int compacted;
	uint64_t file_before, file_after; /* data.mdb around compaction */
} z4vc_gc_result;

/*
 * Delete every store object reachable from no ref and no reflog entry,
 * keeping every delta base a kept chunk needs. Refuses (Z4_ECORRUPT,
 * nothing deleted) when the reachable objects have problems (run fsck),
 * and Z4_ELOCKED when another z4vc process keeps the store open past the
 * lock timeout. The repository handle stays usable (its store is reopened
 * after compaction).
 */
int z4vc_gc(z4vc_gc_result *out, z4vc_repo *repo, const z4vc_gc_opts *opts);

/* ---- prune ------------------------------------------------------------- */

#define Z4VC_PRUNE_DEFAULT (-1) /* take the value from git config */

typedef struct {
	const char *run; /* NULL: Z4VC_DEFAULT_RUN */
	/* Keep the newest keep_last checkpoints and every checkpoint whose
	 * step is a multiple of keep_every (0: no such rule). Defaults: git
	 * config z4vc.pruneKeepLast / z4vc.pruneKeepEvery; with neither set
	 * anywhere the call is refused (Z4_EINVAL). */
	int64_t keep_last;
	int64_t keep_every;
	int dry_run;
	/* Called per checkpoint, oldest first. */
	void (*entry_fn)(const char *commit, int64_t step, int kept, void *ud);
	void *ud;
} z4vc_prune_opts;

typedef struct {
	uint64_t total, kept, dropped;
	char old_tip[41], new_tip[41]; /* new_tip = old_tip when unchanged */
} z4vc_prune_result;

/*
 * Rewrite refs/heads/ckpt/<run> so only the kept checkpoints remain: new
 * commits with the same trees, authors, messages and trailers, each parented
 * on the previous kept one (an unchanged oldest prefix keeps its ids). The
 * ref moves with a reflog entry, so the old tip stays reachable (and its
 * objects kept by gc) until the reflog expires or `gc --now`.
 */
int z4vc_prune(z4vc_prune_result *out, z4vc_repo *repo,
               const z4vc_prune_opts *opts);

/* ---- repack ------------------------------------------------------------ */

typedef struct {
	const char *run;            /* NULL: every ckpt/ run */
	unsigned keyframe_interval; /* 0: git config or the default */
	int dry_run;
	z4vc_progress_fn progress;
	void *progress_ud;
} z4vc_repack_opts;

typedef struct {
	uint64_t commits, chunks;           /* visited */
	uint64_t rewritten;                 /* chunks whose encoding changed */
	uint64_t bytes_before, bytes_after; /* stored bytes of visited chunks */
	uint64_t keyframes, deltas;         /* of visited chunks, after */
} z4vc_repack_result;

/*
 * Re-encode the delta chains of the run(s) for keyframe_interval K without
 * changing any id: walking each run oldest first, a chunk deltas against
 * the same chunk of the previous checkpoint unless that chain is K long.
 * Each rewritten chunk is verified to decode to the same bytes before it
 * is written; writes are batched, and a crash between batches leaves every
 * chunk decodable (docs/maintenance.md).
 */
int z4vc_repack(z4vc_repack_result *out, z4vc_repo *repo,
                const z4vc_repack_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
