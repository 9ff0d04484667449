/*
 * reach.h - what the repository's history needs from the store: the walk
 * shared by fsck and gc (core/fsck.c, core/gc.c).
 *
 * Roots are every ref (branches, tags, remotes, notes, stash: anything
 * under refs/, peeled to a commit) and every old and new id of every reflog
 * entry (HEAD's too), so whatever `git reflog` can still reach keeps its
 * objects. From the roots, every reachable commit's tree is walked once per
 * tree id; every blob that parses as a Git LFS pointer names a recipe; a
 * recipe names tensors, a tensor names chunks, and a delta chunk names its
 * base chunk: the walk closes over all of that. Problems (missing or
 * undecodable objects) go to a callback; the walk goes on past them.
 */
#ifndef Z4_REACH_H
#define Z4_REACH_H

#include "keymap.h"
#include "repo_internal.h"

#define Z4_NONE UINT32_MAX

enum { Z4_RC_OK = 0, Z4_RC_MISSING, Z4_RC_BAD };

/* A chunk the history needs (named by a tensor or as a delta base). */
typedef struct {
	z4_id id;
	z4_id base;        /* when is_delta */
	uint32_t base_idx; /* node of the base, Z4_NONE if none/missing */
	uint32_t tensor;   /* first tensor naming it, Z4_NONE for a base only */
	uint32_t child;    /* children (chunks that delta on it): first ... */
	uint32_t sibling;  /* ... and next; filled by z4_reach_children */
	uint32_t dependant;  /* for a base only: a chunk that deltas on it */
	uint64_t expect_len; /* decoded length its tensor expects, or 0 */
	uint64_t decoded_len;
	uint64_t enc_len;
	uint16_t depth;
	uint8_t is_delta, elem_size;
	uint8_t state; /* Z4_RC_* */
} z4_rchunk;

typedef struct {
	z4_id id;
	uint32_t recipe;     /* first recipe naming it */
	uint64_t expect_len; /* bytes its segment contributes */
	char *name;          /* tensor name in that recipe (owned) */
	uint8_t state;
} z4_rtensor;

typedef struct {
	uint8_t sha[Z4_SHA256_LEN];
	uint64_t size; /* from the pointer */
	char *where;   /* "'path' in <commit>" (owned) */
	uint8_t state;
} z4_rrecipe;

typedef struct z4_reach z4_reach;

/* kind: "blob", "commit", "pointer", "recipe", "tensor", "chunk";
 * id: hex id (may be ""); why: one line. The return value is ignored. */
typedef void (*z4_reach_problem_fn)(void *ud, const char *kind, const char *id,
                                    const char *why);

struct z4_reach {
	z4vc_repo *repo;
	z4_chunkio *io;
	int skip_ckpt_reflogs; /* gc --now: ckpt/ reflogs are not roots */
	z4_reach_problem_fn problem;
	void *ud;

	git_oid *roots;
	size_t nroots, roots_cap;
	z4_keymap trees, blobs; /* visited git objects (20-byte oids) */
	z4_keymap recipe_map, tensor_map, chunk_map; /* key -> index */
	z4_rrecipe *recipes;
	z4_rtensor *tensors;
	z4_rchunk *chunks;
	size_t nrecipes, ntensors, nchunks;
	size_t recipes_cap, tensors_cap, chunks_cap;
	uint64_t commits, pointers, problems;
};

/* Set up with a repository and a chunk reader (not owned). */
void z4_reach_init(z4_reach *r, z4vc_repo *repo, z4_chunkio *io);
void z4_reach_dispose(z4_reach *r);

/* The whole walk: roots, commits, recipes, tensors, chunks and bases.
 * Returns a negative code only for operational failures (out of memory, a
 * git error); problems in the data are counted in r->problems. */
int z4_reach_run(z4_reach *r);

/* Report a problem (counts it) and return the callback's verdict. */
int z4_reach_report(z4_reach *r, const char *kind, const char *id,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Describe where chunk node i is used, into buf: "tensor 'name' of 'path'
 * in <commit>" or "delta base of chunk <hex>". */
const char *z4_reach_chunk_where(const z4_reach *r, uint32_t i, char *buf,
                                 size_t cap);

/* Fill child/sibling links (chunks that are deltas on each node). */
void z4_reach_children(z4_reach *r);

#endif
