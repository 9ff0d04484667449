/*
 * z4vc.h - the public C API of z4vc: version control for model weights.
 *
 * A z4vc repository is a git repository with an object store in
 * $GIT_DIR/z4vc/store/. A checkpoint is a directory of files (safetensors
 * weights, optimizer state, configs); committing one stores each tensor as
 * delta-encoded chunks in the store and writes an ordinary git commit on
 * refs/heads/ckpt/<run> whose tree holds Git LFS v1 pointer files (and small
 * text files as plain blobs). Checkout rebuilds every file byte for byte and
 * verifies its SHA-256.
 *
 * Conventions: functions return 0 on success or a negative Z4_E* code
 * (core/common/z4_err.h); z4vc_error() then gives a one-line reason
 * ("<what>: <why>") valid until the next call on the same thread. Handles
 * are not thread-safe: use one per thread. Strings are UTF-8.
 */
#ifndef Z4VC_H
#define Z4VC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define Z4VC_VERSION "0.1.0"
#define Z4VC_DEFAULT_RUN "main"
#define Z4VC_NO_STEP INT64_MIN

typedef struct z4vc_repo z4vc_repo;

/* The reason for the last failure on this thread (never NULL). */
const char *z4vc_error(void);

/*
 * Open the repository containing `path` (work tree or git dir, found the
 * way git does). Z4_ENOTFOUND if there is no git repository or no z4vc
 * store in it ("run 'z4vc init'").
 */
int z4vc_repo_open(z4vc_repo **out, const char *path);
/* Like open, but create the store when missing (idempotent). */
int z4vc_repo_init(z4vc_repo **out, const char *path);
void z4vc_repo_free(z4vc_repo *repo); /* NULL-safe */
/* $GIT_DIR/z4vc (borrowed, valid while repo lives). */
const char *z4vc_repo_dir(const z4vc_repo *repo);

/* One line of text for the user, without a "z4vc: " prefix or newline
 * (borrowed for the call). */
typedef void (*z4vc_note_fn)(void *ud, const char *line);
/*
 * Where the repository's notices go: one line each time z4vc repairs
 * something on its own, such as removing a git lock file or checkout
 * temporaries that a killed process left ("refs/heads/ckpt/a: removed
 * stale lock left by a killed process"). Default NULL: nowhere.
 */
void z4vc_repo_set_notice(z4vc_repo *repo, z4vc_note_fn fn, void *ud);

/* Progress callback: `done` of `total` bytes of work named by `what`. */
typedef void (*z4vc_progress_fn)(void *ud, uint64_t done, uint64_t total,
				 const char *what);

typedef struct {
	const char *run;        /* NULL: Z4VC_DEFAULT_RUN */
	int64_t step;           /* Z4VC_NO_STEP: none */
	const char *message;    /* NULL: "step N" or "checkpoint" */
	unsigned keyframe_interval; /* 0: git config z4vc.keyframeInterval
				     * or the built-in default */
	int allow_opaque;       /* store malformed safetensors as plain bytes */
	z4vc_progress_fn progress;
	void *progress_ud;
	unsigned threads;       /* encoder threads; 0: one per core. The
				 * stored bytes never depend on it. */
} z4vc_commit_opts;

/* A checkpoint being built. Nothing is visible until finish. */
typedef struct z4vc_ckpt z4vc_ckpt;

int z4vc_ckpt_begin(z4vc_ckpt **out, z4vc_repo *repo,
		    const z4vc_commit_opts *opts);

/*
 * Add the file at fs_path as `path` (relative, '/'-separated, no "." or
 * ".." components) in the checkpoint. *.safetensors files are parsed and
 * stored tensor by tensor; a malformed one is Z4_ECORRUPT unless
 * allow_opaque. Other files are stored whole.
 */
int z4vc_ckpt_add_file(z4vc_ckpt *ck, const char *path, const char *fs_path);

/* Add every regular file under dir (recursively; symlinks are refused). */
int z4vc_ckpt_add_dir(z4vc_ckpt *ck, const char *dir);

/* Add a file from memory (treated like add_file by its name). */
int z4vc_ckpt_add_buffer(z4vc_ckpt *ck, const char *path, const void *data,
			 size_t len);

/* A tensor in the caller's memory, for z4vc_ckpt_add_tensors. */
typedef struct {
	const char *name;
	const char *dtype;      /* safetensors name: "BF16", "F32", ... */
	unsigned ndim;
	const uint64_t *shape;
	const void *data;       /* little-endian, nbytes long */
	size_t nbytes;          /* must equal product(shape) x dtype size */
} z4vc_tensor;

/*
 * Add a safetensors file `path` made of tensors straight from memory
 * (written in the given order, header padded to 8 bytes, metadata as
 * nmeta key/value string pairs in `meta[2*i]`, `meta[2*i+1]`). The bytes
 * are read during the call only.
 */
int z4vc_ckpt_add_tensors(z4vc_ckpt *ck, const char *path,
			  const z4vc_tensor *tensors, size_t n,
			  const char *const *meta, size_t nmeta);

/*
 * Publish: objects are durable in the store first, then the git commit is
 * written and refs/heads/ckpt/<run> moves to it (compare-and-swap against
 * the tip seen at begin; a concurrent commit to the same run is re-parented
 * on top, never lost). commit_hex gets the 40-hex commit id.
 */
int z4vc_ckpt_finish(z4vc_ckpt *ck, char commit_hex[41]);
void z4vc_ckpt_free(z4vc_ckpt *ck); /* abandons an unfinished checkpoint */

/* ---- single files (the Git LFS filter, imports, transfers) ---- */

/* Reads up to len bytes into buf: the count, 0 at the end, -1 on error
 * (set a reason with z4vc's error or errno). */
typedef ssize_t (*z4vc_read_fn)(void *ud, void *buf, size_t len);
/* Writes len bytes: 0, or a negative Z4_E* code to stop. */
typedef int (*z4vc_write_fn)(void *ud, const void *buf, size_t len);

typedef struct {
	/* The previous version of the same file ("sha256:<hex>" or 64 hex),
	 * to delta-encode against; NULL or unknown: none. */
	const char *base_oid;
	int allow_opaque;        /* malformed *.safetensors stored as bytes */
	unsigned keyframe_interval; /* 0: git config or default */
	unsigned threads;        /* 0: one per core */
} z4vc_store_opts;

/* A Git LFS v1 pointer: what z4vc_store_* produce. */
typedef struct {
	char oid[72];            /* "sha256:" + 64 lowercase hex */
	uint64_t size;
	char text[200];          /* the pointer file, exactly as git-lfs writes it */
	size_t text_len;
} z4vc_pointer;

/*
 * Store one file read once, in order, from `read` (a pipe works: memory
 * stays a few chunks whatever the size) and fill *out with its pointer.
 * `path` names the file (*.safetensors is parsed and stored per tensor).
 * Objects are durable when this returns; no git object is written.
 */
int z4vc_store_stream(z4vc_pointer *out, z4vc_repo *repo, const char *path,
		      z4vc_read_fn read, void *ud, const z4vc_store_opts *opts);

/* Parse pointer text strictly (Git LFS v1 spec; ext- keys tolerated).
 * Z4_EINVAL (with a reason) if it is not a valid pointer. */
int z4vc_pointer_parse(z4vc_pointer *out, const void *text, size_t len);

/* 1 if the store holds the file with this oid, 0 if not, or an error. */
int z4vc_has_file(z4vc_repo *repo, const char *oid);

/*
 * Rebuild the file `oid` (size `size`) through `write`, streaming. The
 * SHA-256 is checked at the end: Z4_ECORRUPT then means the bytes already
 * written are wrong, so callers that must not expose a bad file write to a
 * temporary first (z4vc_checkout does). Z4_ENOTFOUND if not in the store.
 */
int z4vc_cat_file(z4vc_repo *repo, const char *oid, uint64_t size,
		  z4vc_write_fn write, void *ud);

/*
 * Resolve a checkpoint to a commit id: by `rev` (any git revision, e.g. a
 * commit id, "ckpt/run~2", a branch) or, when rev is NULL, by the commit on
 * run `run` whose Z4vc-Step trailer equals `step` (the newest one wins).
 */
int z4vc_resolve(char commit_hex[41], z4vc_repo *repo, const char *rev,
		 const char *run, int64_t step);

typedef struct {
	z4vc_progress_fn progress;
	void *progress_ud;
	/* Only these paths (NULL: all files). */
	const char *const *paths;
	size_t npaths;
	unsigned threads; /* decoder threads; 0: one per core */
} z4vc_checkout_opts;

/*
 * Write every file of the commit's tree under out_dir (created if needed),
 * byte for byte, each verified against its SHA-256 / git id. Files are
 * written to temporary names and renamed into place only when all of them
 * are complete, so on error out_dir holds what it held before. Hostile
 * trees (names with "..", "/", ".git", symlinks, symlinked directories in
 * out_dir) are refused.
 */
int z4vc_checkout(z4vc_repo *repo, const char *commit_hex,
		  const char *out_dir, const z4vc_checkout_opts *opts);

/* One checkpoint commit, for z4vc_log. Strings valid during the callback. */
typedef struct {
	char commit[41];
	const char *run;     /* "" if the commit has no Z4vc-Run trailer */
	int64_t step;        /* Z4VC_NO_STEP if none */
	const char *summary; /* first line of the message */
	int64_t time;        /* committer time, seconds since the epoch */
	uint64_t files;
	uint64_t raw_bytes;  /* sum of file sizes */
	uint64_t new_bytes;  /* encoded bytes not shared with the parent */
} z4vc_log_entry;

/* Walk run `run` (NULL: every ckpt/ run) newest first. fn returning
 * non-zero stops the walk (that value is returned). */
int z4vc_log(z4vc_repo *repo, const char *run,
	     int (*fn)(const z4vc_log_entry *e, void *ud), void *ud);

/* One tensor of a file in a commit, for z4vc_list_tensors. */
typedef struct {
	const char *file;    /* path in the checkpoint */
	const char *name;    /* tensor name ("" for a whole opaque file) */
	const char *dtype;   /* "BF16", ..., or "bytes" for opaque data */
	unsigned ndim;
	const uint64_t *shape;
	uint64_t nbytes;
	uint64_t stored_bytes;  /* encoded size of its chunks */
	unsigned chunks, keyframes, deltas;
} z4vc_tensor_info;

/* One file of a commit, for z4vc_list_files. */
typedef struct {
	const char *path;
	const char *kind;    /* "safetensors", "opaque" or "blob" */
	uint64_t size;
	const char *oid;     /* "sha256:<hex>" or the git blob id */
} z4vc_file_info;

/* List files (and, when tensor_fn is non-NULL, their tensors in file
 * order) of a commit. */
int z4vc_list(z4vc_repo *repo, const char *commit_hex,
	      int (*file_fn)(const z4vc_file_info *f, void *ud),
	      int (*tensor_fn)(const z4vc_tensor_info *t, void *ud), void *ud);

/*
 * Read tensor `name` of file `path` in a commit into buf (cap bytes, at
 * least its nbytes; Z4_ETOOBIG otherwise). *out_len gets its size.
 */
int z4vc_read_tensor(size_t *out_len, void *buf, size_t cap, z4vc_repo *repo,
		     const char *commit_hex, const char *path,
		     const char *name);

typedef struct {
	const char *dtype;   /* "BF16", ..., "bytes" */
	uint64_t tensors, chunks;
	uint64_t raw_bytes, stored_bytes;
} z4vc_dtype_stat;

typedef struct {
	uint64_t chunks, tensors, recipes;
	uint64_t raw_bytes;      /* decoded bytes of all unique chunks */
	uint64_t stored_bytes;   /* encoded bytes of all chunks */
	uint64_t keyframes, deltas;
	uint64_t file_bytes;     /* size of the LMDB data file */
	uint64_t used_bytes;     /* pages in use */
	unsigned format;
	size_t ndtypes;
	z4vc_dtype_stat dtypes[20];
} z4vc_stats;

int z4vc_stats_get(z4vc_stats *out, z4vc_repo *repo);

#ifdef __cplusplus
}
#endif
#endif
