/*
 * checkout.c - rebuilding a checkpoint's files from the store.
 *
 * The tree is hostile until checked: every name is validated, directories
 * are entered with O_NOFOLLOW (a symlink planted in the target cannot
 * redirect a write), files are written under temporary names and renamed
 * into place only when every file of the checkout is complete and has
 * matched its SHA-256 (pointer files) or git id (plain blobs). On any error
 * the temporaries are removed and the target keeps what it held; those of
 * a killed checkout are removed by the next one into the same target.
 */
#include "repo_internal.h"

#include "pool.h"
#include "z4_alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	char *path;      /* '/'-separated path in the tree */
	git_oid blob;
	int exec;
	int dirfd;       /* directory the file lands in (owned) */
	char *base;      /* last path component */
	char tmp[64];    /* temporary name in dirfd, "" until created */
} job;

typedef struct {
	z4vc_repo *repo;
	const z4vc_checkout_opts *opts;
	job *jobs;
	size_t njobs, cap;
	uint64_t done, total;
	z4_chunkio *io;
	z4_pool *pool; /* decodes chunks on worker threads, in order */
	size_t depth;
} co;

/* A chunk to decode on a worker (each has its own reader). */
typedef struct {
	z4_id id;
	size_t len;
	uint8_t *buf;
	size_t cap;
} dec_job;

static void *dec_new(void *ud)
{
	z4_chunkio *io;
	return z4_chunkio_new(&io, ud) == Z4_OK ? io : NULL;
}

static void dec_free(void *state) { z4_chunkio_free(state); }

static int dec_run(void *state, void *arg)
{
	dec_job *j = arg;
	if (j->cap < j->len) {
		uint8_t *p = z4_malloc(j->len);
		if (!p)
			return z4_error_set(Z4_ENOMEM, "out of memory");
		z4_free(j->buf);
		j->buf = p;
		j->cap = j->len;
	}
	return z4_chunkio_read(state, &j->id, j->buf, j->len);
}

static void dec_job_free(void *arg) { z4_free(((dec_job *)arg)->buf); }

static int co_start(co *c, unsigned threads)
{
	z4_pool_ops ops = {dec_new, dec_free, dec_run, c->repo->store};
	unsigned n = threads ? threads : z4_pool_default_threads();
	Z4_TRY(z4_chunkio_new(&c->io, c->repo->store));
	c->depth = n > 1 ? 2 * (size_t)n : 1;
	return z4_pool_new(&c->pool, n > 1 ? n : 0, c->depth, sizeof(dec_job), &ops,
			   dec_job_free);
}

static void co_stop(co *c)
{
	z4_pool_free(c->pool);
	z4_chunkio_free(c->io);
}

static int valid_name(const char *n)
{
	if (!*n || strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
	    strcasecmp(n, ".git") == 0)
		return 0;
	for (; *n; n++)
		if (*n == '/' || *n == '\\' || (unsigned char)*n < 0x20)
			return 0;
	return 1;
}

static int wanted(const co *c, const char *path)
{
	if (!c->opts || !c->opts->paths)
		return 1;
	for (size_t i = 0; i < c->opts->npaths; i++)
		if (strcmp(c->opts->paths[i], path) == 0)
			return 1;
	return 0;
}

static int collect(co *c, git_tree *tree, const char *prefix)
{
	size_t n = git_tree_entrycount(tree);
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		git_filemode_t mode = git_tree_entry_filemode(e);
		char path[4096];

		if (!valid_name(name))
			return z4_error_set(Z4_ECORRUPT,
					    "tree entry '%s%s': refusing an unsafe file name",
					    prefix, name);
		if ((size_t)snprintf(path, sizeof(path), "%s%s", prefix, name) >=
		    sizeof(path))
			return z4_error_set(Z4_EINVAL, "'%s': path too long", name);
		if (mode == GIT_FILEMODE_TREE) {
			git_tree *sub;
			int rc;
			if (git_tree_lookup(&sub, c->repo->git, git_tree_entry_id(e)) < 0)
				return z4_git_error(path);
			char dir[4096 + 2];
			snprintf(dir, sizeof(dir), "%s/", path);
			rc = collect(c, sub, dir);
			git_tree_free(sub);
			Z4_TRY(rc);
		} else if (mode == GIT_FILEMODE_BLOB ||
			   mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
			job *j;
			if (!wanted(c, path))
				continue;
			if (c->njobs == c->cap) {
				size_t nc = c->cap ? c->cap * 2 : 16;
				job *nj = z4_realloc(c->jobs, nc * sizeof(*nj));
				if (!nj)
					return z4_error_set(Z4_ENOMEM, "out of memory");
				c->jobs = nj;
				c->cap = nc;
			}
			j = &c->jobs[c->njobs];
			memset(j, 0, sizeof(*j));
			j->dirfd = -1;
			if (!(j->path = z4_strdup(path)))
				return z4_error_set(Z4_ENOMEM, "out of memory");
			c->njobs++;
			j->base = strrchr(j->path, '/');
			j->base = j->base ? j->base + 1 : j->path;
			j->blob = *git_tree_entry_id(e);
			j->exec = mode == GIT_FILEMODE_BLOB_EXECUTABLE;
		} else {
			return z4_error_set(Z4_ECORRUPT,
					    "tree entry '%s': refusing a symlink or submodule",
					    path);
		}
	}
	return Z4_OK;
}

/* Path order with '/' first, so a file "a" sorts next to the files under
 * "a/" (only "\0" sorts lower, and names hold no control characters). */
static int cmp_path(const void *x, const void *y)
{
	const unsigned char *a = *(const unsigned char *const *)x;
	const unsigned char *b = *(const unsigned char *const *)y;
	for (;; a++, b++) {
		int ca = *a == '/' ? 1 : *a, cb = *b == '/' ? 1 : *b;
		if (ca != cb || !ca)
			return ca - cb;
	}
}

/* A path given twice, or a file that is also a directory, is malformed
 * git (a hostile tree): one entry would silently win, or the checkout
 * would fail half-way through its renames. */
static int check_unique(const co *c)
{
	const char **p;
	int rc = Z4_OK;

	if (c->njobs < 2)
		return Z4_OK;
	p = z4_mallocarray(c->njobs, sizeof(*p));
	if (!p)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	for (size_t i = 0; i < c->njobs; i++)
		p[i] = c->jobs[i].path;
	qsort(p, c->njobs, sizeof(*p), cmp_path);
	for (size_t i = 1; i < c->njobs && rc == Z4_OK; i++) {
		size_t n = strlen(p[i - 1]);
		if (strncmp(p[i - 1], p[i], n) == 0 && (p[i][n] == '\0' || p[i][n] == '/'))
			rc = z4_error_set(Z4_ECORRUPT,
					  "tree entry '%s': refusing a path given twice",
					  p[i - 1]);
	}
	z4_free(p);
	return rc;
}

/* Open (creating as needed, if `create`) the directory of `path` under
 * root, never following a symlink. Returns a descriptor or a negative
 * code. */
static int open_parent_dir(int rootfd, const char *path, int create)
{
	char comp[4096];
	const char *p = path, *slash;
	int fd = dup(rootfd);

	if (fd < 0)
		return z4_error_set(Z4_EIO, "dup: %s", strerror(errno));
	while ((slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		int next;
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (create && mkdirat(fd, comp, 0777) != 0 && errno != EEXIST) {
			int e = errno;
			close(fd);
			return z4_error_set(e == ENOSPC ? Z4_EFULL : Z4_EIO,
					    "create directory '%.*s': %s",
					    (int)(slash - path), path, strerror(e));
		}
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return z4_error_set(Z4_EINVAL,
					    "'%.*s': not a directory (refusing to follow a symlink)",
					    (int)(slash - path), path);
		fd = next;
		p = slash + 1;
	}
	return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n, const char *path)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return z4_error_set(errno == ENOSPC || errno == EDQUOT ? Z4_EFULL
									       : Z4_EIO,
					    "write '%s': %s", path, strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return Z4_OK;
}

static void report(co *c, uint64_t n, const char *what)
{
	c->done += n;
	if (c->opts && c->opts->progress)
		c->opts->progress(c->opts->progress_ud, c->done, c->total, what);
}

typedef struct {
	int fd;
	const char *path;
} fd_sink;

static int write_fd(void *ud, const void *p, size_t n)
{
	const fd_sink *s = ud;
	return write_all(s->fd, p, n, s->path);
}

/* Write the file of `ptr` through `out`, checking its SHA-256 and size. */
static int rebuild(co *c, z4vc_write_fn out, void *out_ud, const z4_pointer *ptr,
		   const char *path)
{
	z4_recipe r = {0};
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	uint8_t digest[Z4_SHA256_LEN];
	uint64_t written = 0;
	int rc;

	if (!sha)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	if ((rc = z4_load_recipe(&r, c->io, ptr->sha256)))
		goto done;
	if (r.file_size != ptr->size) {
		rc = z4_error_set(Z4_ECORRUPT, "recipe size %llu differs from pointer size %llu",
				  (unsigned long long)r.file_size,
				  (unsigned long long)ptr->size);
		goto done;
	}
	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	for (size_t i = 0; i < r.nseg && rc == Z4_OK; i++) {
		const z4_segment *s = &r.seg[i];
		z4_tensor_rec t;
		if (s->kind == Z4_SEG_BYTES) {
			EVP_DigestUpdate(sha, s->bytes, (size_t)s->len);
			rc = out(out_ud, s->bytes, (size_t)s->len);
			written += s->len;
			report(c, s->len, path);
			continue;
		}
		if ((rc = z4_load_tensor(&t, c->io, &s->tensor)))
			break;
		if (t.nbytes != s->len)
			rc = z4_error_set(Z4_ECORRUPT, "tensor '%s': size differs from recipe",
					  s->name);
		/* keep the pool busy; consume strictly in order */
		for (size_t next = 0, k = 0; k < t.nchunks && rc == Z4_OK; k++) {
			dec_job *j;
			while (next < t.nchunks && z4_pool_inflight(c->pool) < c->depth) {
				uint64_t off = (uint64_t)next * t.chunk_size;
				j = z4_pool_slot(c->pool);
				j->id = t.chunks[next];
				j->len = (size_t)(t.nbytes - off < t.chunk_size ? t.nbytes - off
										: t.chunk_size);
				z4_pool_submit(c->pool);
				next++;
			}
			rc = z4_pool_retire(c->pool, (void **)&j);
			if (rc == Z4_OK) {
				EVP_DigestUpdate(sha, j->buf, j->len);
				rc = out(out_ud, j->buf, j->len);
				written += j->len;
				report(c, j->len, path);
			}
		}
		while (z4_pool_inflight(c->pool)) { /* after an error */
			void *j;
			z4_pool_retire(c->pool, &j);
		}
		if (rc && z4_error_last_code() != Z4_EFULL)
			z4_error_wrap(rc, "tensor '%s'", s->name);
		z4_tensor_rec_dispose(&t);
	}
	if (rc == Z4_OK) {
		EVP_DigestFinal_ex(sha, digest, NULL);
		if (written != ptr->size ||
		    memcmp(digest, ptr->sha256, Z4_SHA256_LEN) != 0)
			rc = z4_error_set(Z4_ECORRUPT,
					  "rebuilt file does not match its sha256 (store corrupt)");
	}
done:
	EVP_MD_CTX_free(sha);
	z4_recipe_dispose(&r);
	return rc;
}

static int run_job(co *c, int rootfd, job *j, unsigned serial)
{
	git_blob *blob = NULL;
	z4_pointer ptr;
	int is_ptr, fd = -1, rc;

	if (git_blob_lookup(&blob, c->repo->git, &j->blob) < 0)
		return z4_git_error(j->path);
	if ((rc = z4_blob_pointer(&ptr, &is_ptr, blob))) {
		z4_error_wrap(rc, "'%s'", j->path);
		goto done;
	}
	if ((j->dirfd = open_parent_dir(rootfd, j->path, 1)) < 0) {
		rc = j->dirfd;
		goto done;
	}
	snprintf(j->tmp, sizeof(j->tmp), ".z4vc-tmp-%ld-%u", (long)getpid(), serial);
	fd = openat(j->dirfd, j->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    j->exec ? 0777 : 0666);
	if (fd < 0) {
		rc = z4_error_set(Z4_EIO, "create '%s': %s", j->path, strerror(errno));
		j->tmp[0] = '\0';
		goto done;
	}
	if (is_ptr) {
		fd_sink sink = {fd, j->path};
		rc = rebuild(c, write_fd, &sink, &ptr, j->path);
		if (rc)
			z4_error_wrap(rc, "'%s'", j->path);
	} else {
		size_t n = (size_t)git_blob_rawsize(blob);
		rc = write_all(fd, git_blob_rawcontent(blob), n, j->path);
		report(c, n, j->path);
	}
	if (rc == Z4_OK && fsync(fd) != 0)
		rc = z4_error_set(errno == ENOSPC ? Z4_EFULL : Z4_EIO, "fsync '%s': %s",
				  j->path, strerror(errno));
done:
	if (fd >= 0 && close(fd) != 0 && rc == Z4_OK)
		rc = z4_error_set(Z4_EIO, "close '%s': %s", j->path, strerror(errno));
	git_blob_free(blob);
	return rc;
}

/* Re-enter the file's directory (as safely as when it was written) so only
 * one descriptor per file is open at a time, however large the tree. */
static int reopen_dir(int rootfd, job *j)
{
	if (j->dirfd >= 0)
		return Z4_OK;
	j->dirfd = open_parent_dir(rootfd, j->path, 1);
	return j->dirfd < 0 ? j->dirfd : Z4_OK;
}

static void close_dir(job *j)
{
	if (j->dirfd >= 0)
		close(j->dirfd);
	j->dirfd = -1;
}

static int cmp_dir(const void *x, const void *y)
{
	const job *a = *(const job *const *)x, *b = *(const job *const *)y;
	size_t na = (size_t)(a->base - a->path), nb = (size_t)(b->base - b->path);
	int d = memcmp(a->path, b->path, na < nb ? na : nb);
	return d ? d : (na > nb) - (na < nb);
}

/*
 * Remove the temporaries a killed checkout left in the directories this
 * one writes to: `.z4vc-tmp-<pid>-<n>` files whose <pid> is not running
 * (stale.c), and only while no other z4vc checkout into the same target
 * runs. Each checkout holds a shared flock on its target directory until it
 * ends, so getting it exclusively proves that (where the file system has
 * no flock, nothing is removed). Leaves the shared lock held.
 */
static void sweep_leftovers(co *c, int rootfd, const char *out_dir)
{
	const job **v;
	size_t removed = 0;

	if (flock(rootfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) /* another checkout: share the target */
			while (flock(rootfd, LOCK_SH) != 0 && errno == EINTR)
				;
		return;
	}
	v = z4_mallocarray(c->njobs, sizeof(*v));
	for (size_t i = 0; v && i < c->njobs; i++)
		v[i] = &c->jobs[i];
	if (v)
		qsort(v, c->njobs, sizeof(*v), cmp_dir);
	removed += z4_sweep_tmp(rootfd, ".z4vc-tmp-", 1);
	for (size_t i = 0; v && i < c->njobs; i++) {
		int fd;
		if (v[i]->base == v[i]->path ||
		    (i > 0 && cmp_dir(&v[i - 1], &v[i]) == 0))
			continue;
		fd = open_parent_dir(rootfd, v[i]->path, 0);
		if (fd >= 0) {
			removed += z4_sweep_tmp(fd, ".z4vc-tmp-", 1);
			close(fd);
		}
	}
	z4_free(v);
	z4_error_clear(); /* a directory not there yet holds nothing */
	while (flock(rootfd, LOCK_SH) != 0 && errno == EINTR)
		;
	if (removed)
		z4_notice(c->repo, "'%s': removed %zu temporary file%s left by a "
			  "killed checkout", out_dir, removed, removed == 1 ? "" : "s");
}

static int mkdir_p(const char *dir)
{
	char tmp[4096];
	size_t n = strlen(dir);
	if (n >= sizeof(tmp))
		return z4_error_set(Z4_EINVAL, "'%s': path too long", dir);
	memcpy(tmp, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char save = tmp[i];
			tmp[i] = '\0';
			if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
				return z4_error_set(Z4_EIO, "create '%s': %s", tmp,
						    strerror(errno));
			tmp[i] = save;
		}
	}
	return Z4_OK;
}

int z4vc_checkout(z4vc_repo *repo, const char *commit_hex, const char *out_dir,
		  const z4vc_checkout_opts *opts)
{
	co c = {.repo = repo, .opts = opts};
	git_oid oid;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	int rootfd = -1, rc;

	z4_error_clear();
	if (git_oid_fromstr(&oid, commit_hex) < 0 ||
	    git_commit_lookup(&commit, repo->git, &oid) < 0 ||
	    git_commit_tree(&tree, commit) < 0) {
		rc = z4_git_error(commit_hex);
		goto done;
	}
	if ((rc = collect(&c, tree, "")) || (rc = check_unique(&c)))
		goto done;
	if (opts && opts->paths && c.njobs != opts->npaths) {
		for (size_t i = 0; i < opts->npaths; i++) {
			size_t k = 0;
			while (k < c.njobs && strcmp(c.jobs[k].path, opts->paths[i]))
				k++;
			if (k == c.njobs) {
				rc = z4_error_set(Z4_ENOTFOUND, "'%s': no such file in %.12s",
						  opts->paths[i], commit_hex);
				goto done;
			}
		}
	}
	/* Sizes first, for progress: pointer sizes are cheap to read. */
	for (size_t i = 0; i < c.njobs; i++) {
		git_odb *odb;
		size_t len;
		git_object_t type;
		if (git_repository_odb(&odb, repo->git) == 0) {
			git_blob *b;
			if (git_odb_read_header(&len, &type, odb, &c.jobs[i].blob) == 0)
				c.total += len;
			if (len < Z4_POINTER_MAX && git_blob_lookup(&b, repo->git,
								    &c.jobs[i].blob) == 0) {
				z4_pointer p;
				int isp;
				if (z4_blob_pointer(&p, &isp, b) == 0 && isp)
					c.total += p.size - len;
				git_blob_free(b);
			}
			git_odb_free(odb);
		}
	}
	git_error_clear();
	z4_error_clear();
	if ((rc = mkdir_p(out_dir)))
		goto done;
	rootfd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		rc = z4_error_set(Z4_EIO, "'%s': %s", out_dir, strerror(errno));
		goto done;
	}
	sweep_leftovers(&c, rootfd, out_dir);
	if ((rc = co_start(&c, opts ? opts->threads : 0)))
		goto done;
	for (size_t i = 0; i < c.njobs && rc == Z4_OK; i++) {
		rc = run_job(&c, rootfd, &c.jobs[i], (unsigned)i);
		close_dir(&c.jobs[i]);
	}
	/* All complete: move them into place. */
	for (size_t i = 0; i < c.njobs && rc == Z4_OK; i++) {
		job *j = &c.jobs[i];
		if ((rc = reopen_dir(rootfd, j)))
			break;
		if (renameat(j->dirfd, j->tmp, j->dirfd, j->base) != 0)
			rc = z4_error_set(Z4_EIO, "rename into '%s': %s", j->path,
					  strerror(errno));
		else
			j->tmp[0] = '\0';
		close_dir(j);
	}
	if (rc == Z4_OK && fsync(rootfd) != 0 && errno != EINVAL)
		rc = z4_error_set(Z4_EIO, "fsync '%s': %s", out_dir, strerror(errno));
done:
	for (size_t i = 0; i < c.njobs; i++) {
		if (c.jobs[i].tmp[0] && rootfd >= 0 && reopen_dir(rootfd, &c.jobs[i]) == Z4_OK)
			unlinkat(c.jobs[i].dirfd, c.jobs[i].tmp, 0);
		close_dir(&c.jobs[i]);
		z4_free(c.jobs[i].path);
	}
	z4_free(c.jobs);
	co_stop(&c);
	if (rootfd >= 0)
		close(rootfd);
	git_tree_free(tree);
	git_commit_free(commit);
	return rc;
}

int z4vc_cat_file(z4vc_repo *repo, const char *oid, uint64_t size,
		  z4vc_write_fn write, void *ud)
{
	co c = {.repo = repo};
	z4_pointer ptr;
	int rc;

	z4_error_clear();
	if (strncmp(oid, "sha256:", 7) == 0)
		oid += 7;
	if (strlen(oid) != 2 * Z4_SHA256_LEN || z4_unhex(ptr.sha256, oid, Z4_SHA256_LEN))
		return z4_error_set(Z4_EINVAL, "'%s': not a sha256 object id", oid);
	ptr.size = size;
	if ((rc = co_start(&c, 0)) == Z4_OK)
		rc = rebuild(&c, write, ud, &ptr, oid);
	co_stop(&c);
	return rc;
}
