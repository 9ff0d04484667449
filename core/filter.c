/*
 * filter.c - the Git LFS compatible clean and smudge filters, git's
 * long-running filter process, and the in-process libgit2 filter.
 *
 * Invariants: git never receives a wrong file from smudge: a pointer's file
 * is rebuilt into an unlinked temporary and only copied out once its
 * SHA-256 has matched; if it cannot be had, the pointer itself goes out
 * (git-lfs does the same). Clean streams into the store (memory bounded by
 * the store's chunking, plus one pkt-line buffer). A protocol violation is
 * fatal: git gets no answer to a half-read request.
 */
#include "repo_internal.h"

#include "z4_alloc.h"
#include "z4_pktline.h"
#include "z4vc_lfs.h"
#include "z4vc_remote.h"

#include <errno.h>
#include <fcntl.h>
#include <git2/sys/filter.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEAD_MAX (Z4_POINTER_MAX + 1) /* enough to tell a pointer */
#define SPOOL_MEM_MAX (1u << 20)      /* then spill to a temp file */
#define COPY_BUF (1u << 18)

/* ---- small I/O helpers ---- */

static int write_fd_all(int fd, const void *p, size_t n)
{
	const uint8_t *s = p;
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return z4_error_set(errno == ENOSPC ? Z4_EFULL : Z4_EIO, "write: %s",
					    strerror(errno));
		s += w;
		n -= (size_t)w;
	}
	return Z4_OK;
}

static int write_fd_cb(void *ud, const void *p, size_t n)
{
	return write_fd_all(*(int *)ud, p, n);
}

static ssize_t read_fd_cb(void *ud, void *buf, size_t len)
{
	ssize_t k;
	do
		k = read(*(int *)ud, buf, len);
	while (k < 0 && errno == EINTR);
	return k;
}

/* An unlinked temporary file next to the store. */
static int temp_fd(z4vc_repo *repo)
{
	char p[4096];
	int fd;
	if ((size_t)snprintf(p, sizeof(p), "%s/tmp-filter-XXXXXX", repo->dir) >= sizeof(p))
		return z4_error_set(Z4_EINVAL, "temporary path too long");
	fd = mkstemp(p);
	if (fd < 0)
		return z4_error_set(Z4_EIO, "create '%s': %s", p, strerror(errno));
	unlink(p);
	return fd;
}

/* Copy a file from offset 0 through `write`. */
static int copy_out(int fd, z4vc_write_fn write, void *wud)
{
	uint8_t *buf = z4_malloc(COPY_BUF);
	int rc = Z4_OK;
	if (!buf)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	if (lseek(fd, 0, SEEK_SET) != 0)
		rc = z4_error_set(Z4_EIO, "seek: %s", strerror(errno));
	while (rc == Z4_OK) {
		ssize_t k = read(fd, buf, COPY_BUF);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			rc = z4_error_set(Z4_EIO, "read temporary: %s", strerror(errno));
		if (k <= 0)
			break;
		rc = write(wud, buf, (size_t)k);
	}
	z4_free(buf);
	return rc;
}

/* Read up to cap bytes (fewer only at end of input). */
static int read_head(size_t *got, uint8_t *buf, size_t cap, z4vc_read_fn read,
		     void *rud)
{
	*got = 0;
	while (*got < cap) {
		ssize_t k = read(rud, buf + *got, cap - *got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return z4_error_last_code() ? z4_error_last_code()
						    : z4_error_set(Z4_EIO, "read: %s",
								   strerror(errno));
		if (k == 0)
			break;
		*got += (size_t)k;
	}
	return Z4_OK;
}

/* The head already read, then the rest of the input. */
typedef struct {
	const uint8_t *head;
	size_t head_len, head_pos;
	z4vc_read_fn read;
	void *rud;
} chained;

static ssize_t chained_read(void *ud, void *buf, size_t len)
{
	chained *c = ud;
	if (c->head_pos < c->head_len) {
		size_t k = c->head_len - c->head_pos;
		if (k > len)
			k = len;
		memcpy(buf, c->head + c->head_pos, k);
		c->head_pos += k;
		return (ssize_t)k;
	}
	return c->read(c->rud, buf, len);
}

/* ---- clean ---- */

/* The pointer oid of `path` in the index, else in HEAD ("" if none). */
static void base_oid(char out[72], z4vc_repo *repo, const char *path)
{
	git_index *idx = NULL;
	git_object *tree = NULL;
	git_tree_entry *te = NULL;
	git_blob *blob = NULL;
	const git_oid *id = NULL;
	z4_pointer p;
	int isp = 0;

	out[0] = '\0';
	if (git_repository_index(&idx, repo->git) == 0 && git_index_read(idx, 0) == 0) {
		const git_index_entry *e = git_index_get_bypath(idx, path, 0);
		if (e)
			id = &e->id;
	}
	if (!id && git_revparse_single(&tree, repo->git, "HEAD^{tree}") == 0 &&
	    git_tree_entry_bypath(&te, (git_tree *)tree, path) == 0 &&
	    git_tree_entry_type(te) == GIT_OBJECT_BLOB)
		id = git_tree_entry_id(te);
	if (id && git_blob_lookup(&blob, repo->git, id) == 0 &&
	    git_blob_rawsize(blob) <= Z4_POINTER_MAX &&
	    z4_blob_pointer(&p, &isp, blob) == Z4_OK && isp) {
		memcpy(out, "sha256:", 7);
		z4_hex(out + 7, p.sha256, Z4_SHA256_LEN);
	}
	git_blob_free(blob);
	git_tree_entry_free(te);
	git_object_free(tree);
	git_index_free(idx);
	git_error_clear();
	z4_error_clear();
}

int z4vc_lfs_clean(z4vc_repo *repo, const char *path, z4vc_read_fn read,
		   void *rud, z4vc_write_fn write, void *wud)
{
	uint8_t head[HEAD_MAX];
	size_t n;
	z4vc_pointer ptr;
	char base[72];
	z4vc_store_opts o = {.allow_opaque = 1};
	chained ch = {head, 0, 0, read, rud};
	int rc;

	z4_error_clear();
	Z4_TRY(read_head(&n, head, sizeof(head), read, rud));
	if (n == 0)
		return Z4_OK; /* an empty file's pointer is empty (LFS spec) */
	if (n <= Z4_POINTER_MAX && z4vc_pointer_parse(&ptr, head, n) == Z4_OK)
		return write(wud, head, n); /* already a pointer: unchanged */
	z4_error_clear();
	base_oid(base, repo, path);
	if (base[0])
		o.base_oid = base;
	ch.head_len = n;
	rc = z4vc_store_stream(&ptr, repo, path, chained_read, &ch, &o);
	if (rc)
		return z4_error_wrap(rc, "clean '%s'", path);
	return write(wud, ptr.text, ptr.text_len);
}

/* ---- smudge ---- */

/*
 * Rebuild the file of `ptr` into a verified unlinked temporary: *fd >= 0
 * on success. Missing objects are fetched first when allowed. Z4_ENOTFOUND
 * and Z4_ECORRUPT mean "keep the pointer"; the reason names the oid.
 */
extern char **environ;

/* 1 if the bytes of fd are exactly the file `ptr` names. */
static int fd_matches(int fd, const z4vc_pointer *ptr)
{
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	uint8_t buf[65536], digest[32];
	char hex[65];
	uint64_t total = 0;
	ssize_t k;
	int ok = 0;

	if (!sha || lseek(fd, 0, SEEK_SET) != 0)
		goto done;
	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	while ((k = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(sha, buf, (size_t)k);
		total += (uint64_t)k;
	}
	if (k < 0)
		goto done;
	EVP_DigestFinal_ex(sha, digest, NULL);
	z4_hex(hex, digest, 32);
	ok = total == ptr->size && strcmp(hex, ptr->oid + 7) == 0;
done:
	EVP_MD_CTX_free(sha);
	return ok;
}

/*
 * A repository that switched from Git LFS may hold objects z4vc never
 * imported: serve them as git-lfs would, from $GIT_DIR/lfs/objects, else
 * through `git-lfs smudge` (which knows the LFS server), verifying the
 * bytes either way. Returns Z4_OK with *fd at a temporary holding the file.
 */
static int lfs_fallback(int *fd, z4vc_repo *repo, const z4vc_pointer *ptr)
{
	const char *hex = ptr->oid + 7;
	char p[4096];
	int src, in[2] = {-1, -1}, status, rc = Z4_ENOTFOUND;
	posix_spawn_file_actions_t fa;
	char *argv[] = {(char *)"git-lfs", (char *)"smudge", NULL};
	pid_t pid;

	*fd = -1;
	/* repo->dir is $GIT_DIR/z4vc */
	if ((size_t)snprintf(p, sizeof(p), "%s/../lfs/objects/%.2s/%.2s/%s", repo->dir,
			     hex, hex + 2, hex) < sizeof(p) &&
	    (src = open(p, O_RDONLY | O_CLOEXEC)) >= 0) {
		if (fd_matches(src, ptr) && lseek(src, 0, SEEK_SET) == 0) {
			*fd = src;
			return Z4_OK;
		}
		close(src);
	}
	if ((*fd = temp_fd(repo)) < 0)
		return *fd;
	if (pipe2(in, O_CLOEXEC) != 0)
		goto fail;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, *fd, 1);
	rc = posix_spawnp(&pid, "git-lfs", &fa, NULL, argv, environ) == 0 ? Z4_OK
									   : Z4_ENOTFOUND;
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	if (rc == Z4_OK) {
		/* the pointer is a few hundred bytes: the pipe holds it */
		if (write_fd_all(in[1], ptr->text, ptr->text_len) != Z4_OK)
			rc = Z4_EIO;
		close(in[1]);
		in[1] = -1;
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0 || !fd_matches(*fd, ptr))
			rc = Z4_ENOTFOUND;
	}
	if (in[1] >= 0)
		close(in[1]);
	if (rc == Z4_OK)
		return Z4_OK;
fail:
	close(*fd);
	*fd = -1;
	return Z4_ENOTFOUND;
}

static int materialize(int *fd, z4vc_repo *repo, const z4vc_pointer *ptr, int fetch)
{
	int rc, has;

	*fd = -1;
	has = z4vc_has_file(repo, ptr->oid);
	if (has < 0)
		return z4_error_wrap(has, "%s", ptr->oid);
	if (!has && fetch) {
		const char *oids[1] = {ptr->oid};
		rc = z4vc_remote_fetch(repo, NULL, oids, 1, NULL, NULL);
		if (rc) {
			if (lfs_fallback(fd, repo, ptr) == Z4_OK)
				return Z4_OK;
			return z4_error_wrap(rc, "object %s: not in the store, fetch failed",
					     ptr->oid);
		}
		has = z4vc_has_file(repo, ptr->oid);
	}
	if (has <= 0 && lfs_fallback(fd, repo, ptr) == Z4_OK)
		return Z4_OK;
	if (has <= 0)
		return z4_error_set(Z4_ENOTFOUND, "object %s: not in the store%s", ptr->oid,
				    fetch ? " nor on the remote" : "");
	if ((*fd = temp_fd(repo)) < 0)
		return *fd;
	rc = z4vc_cat_file(repo, ptr->oid, ptr->size, write_fd_cb, fd);
	if (rc) {
		close(*fd);
		*fd = -1;
		return z4_error_wrap(rc, "object %s", ptr->oid);
	}
	return Z4_OK;
}

/* Z4VC_SKIP_SMUDGE (or git-lfs's GIT_LFS_SKIP_SMUDGE) set to anything but
 * "0": check out pointers as they are ('z4vc pull' materializes later). */
static int skip_smudge(void)
{
	const char *v = getenv("Z4VC_SKIP_SMUDGE");
	if (!v || !*v)
		v = getenv("GIT_LFS_SKIP_SMUDGE");
	return v && *v && strcmp(v, "0") != 0;
}

int z4vc_lfs_smudge(int *kept_pointer, z4vc_repo *repo, const char *path,
		    z4vc_read_fn read, void *rud, z4vc_write_fn write, void *wud,
		    unsigned flags)
{
	uint8_t head[HEAD_MAX];
	size_t n;
	z4vc_pointer ptr;
	int fd = -1, rc;

	*kept_pointer = 0;
	z4_error_clear();
	Z4_TRY(read_head(&n, head, sizeof(head), read, rud));
	if (n > Z4_POINTER_MAX || z4vc_pointer_parse(&ptr, head, n) != Z4_OK) {
		/* Not a pointer: pass everything through. */
		chained ch = {head, n, 0, read, rud};
		uint8_t *buf = z4_malloc(COPY_BUF);
		z4_error_clear();
		if (!buf)
			return z4_error_set(Z4_ENOMEM, "out of memory");
		rc = Z4_OK;
		while (rc == Z4_OK) {
			ssize_t k = chained_read(&ch, buf, COPY_BUF);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				rc = z4_error_set(Z4_EIO, "read: %s", strerror(errno));
			if (k <= 0)
				break;
			rc = write(wud, buf, (size_t)k);
		}
		z4_free(buf);
		return rc;
	}
	if (skip_smudge()) {
		*kept_pointer = 1;
		return write(wud, head, n);
	}
	rc = materialize(&fd, repo, &ptr, !(flags & Z4VC_SMUDGE_NO_FETCH));
	if (rc) {
		*kept_pointer = 1;
		z4_error_wrap(rc, "smudge '%s'", path);
		return write(wud, head, n);
	}
	rc = copy_out(fd, write, wud);
	close(fd);
	return rc;
}

/* ---- the long-running filter process ---- */

/* Content of one request, read from pkt-lines up to the flush. */
typedef struct {
	z4_pkt_reader *r;
	size_t pos;
	int done;      /* flush seen */
	int broken;    /* protocol error: reason in z4_error */
} content;

static ssize_t content_read(void *ud, void *buf, size_t len)
{
	content *c = ud;
	while (!c->done && c->pos >= c->r->len) {
		int kind, rc = z4_pkt_read(c->r, &kind);
		c->pos = 0;
		if (rc || kind == Z4_PKT_EOF) {
			if (!rc)
				z4_error_set(Z4_ECORRUPT,
					     "unexpected end of input inside content");
			c->broken = 1;
			errno = EPROTO;
			return -1;
		}
		if (kind == Z4_PKT_FLUSH)
			c->done = 1;
	}
	if (c->done)
		return 0;
	if (len > c->r->len - c->pos)
		len = c->r->len - c->pos;
	memcpy(buf, c->r->buf + c->pos, len);
	c->pos += len;
	return (ssize_t)len;
}

/* Skip the rest of a content after a failed filter. */
static int content_drain(content *c)
{
	uint8_t sink[4096];
	ssize_t k;
	while ((k = content_read(c, sink, sizeof(sink))) > 0)
		;
	return k < 0 ? Z4_ECORRUPT : Z4_OK;
}

/* Content kept in memory up to SPOOL_MEM_MAX, then in a temp file. */
typedef struct {
	z4vc_repo *repo;
	z4_buf mem;
	int fd;
} spool;

static int spool_write(void *ud, const void *p, size_t n)
{
	spool *s = ud;
	if (s->fd < 0 && s->mem.len + n <= SPOOL_MEM_MAX)
		return z4_buf_put(&s->mem, p, n) ? z4_error_set(Z4_ENOMEM, "out of memory")
						 : Z4_OK;
	if (s->fd < 0) {
		if ((s->fd = temp_fd(s->repo)) < 0)
			return s->fd;
		Z4_TRY(write_fd_all(s->fd, s->mem.ptr, s->mem.len));
	}
	return write_fd_all(s->fd, p, n);
}

static int spool_out(spool *s, z4vc_write_fn write, void *wud)
{
	if (s->fd >= 0)
		return copy_out(s->fd, write, wud);
	return s->mem.len ? write(wud, s->mem.ptr, s->mem.len) : Z4_OK;
}

static void spool_reset(spool *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->mem.len = 0;
}

/* Read a whole request content into the spool. */
static int copy_out_reader(content *c, spool *sp)
{
	uint8_t buf[8192];
	for (;;) {
		ssize_t k = content_read(c, buf, sizeof(buf));
		if (k < 0)
			return Z4_ECORRUPT;
		if (k == 0)
			return Z4_OK;
		Z4_TRY(spool_write(sp, buf, (size_t)k));
	}
}

typedef struct {
	char *path;
	z4vc_pointer ptr;
	uint8_t text[Z4_POINTER_MAX]; /* the pointer exactly as received */
	size_t text_len;
	int listed; /* announced by list_available_blobs */
	char why[512]; /* why its fetch failed, "" if it did not */
} delayed;

typedef struct {
	z4vc_repo *repo;
	const z4vc_filter_opts *opts;
	z4_pkt_reader *r;
	z4_pkt_writer *w;
	int can_clean, can_smudge, can_delay;
	delayed *d;
	size_t nd, capd;
	int fetched;
} server;

static void warn(server *s, const char *path)
{
	char what[4200];
	if (!s->opts || !s->opts->warn)
		return;
	snprintf(what, sizeof(what), "smudge '%s'", path);
	s->opts->warn(s->opts->warn_ud, what, z4_error_last());
}

static int proto(const char *fmt, const char *arg)
{
	return z4_error_set(Z4_ECORRUPT, fmt, arg);
}

static int handshake(server *s)
{
	const char *line;
	int v2 = 0;

	Z4_TRY(z4_pkt_read_text(s->r, &line));
	if (!line || strcmp(line, "git-filter-client") != 0)
		return proto("expected 'git-filter-client', got '%.80s'", line ? line : "flush");
	for (;;) {
		Z4_TRY(z4_pkt_read_text(s->r, &line));
		if (!line)
			break;
		if (strncmp(line, "version=", 8) != 0)
			return proto("expected 'version=N', got '%.80s'", line);
		if (strcmp(line + 8, "2") == 0)
			v2 = 1;
	}
	if (!v2)
		return proto("%s", "git does not offer protocol version 2");
	Z4_TRY(z4_pkt_write_text(s->w, "git-filter-server"));
	Z4_TRY(z4_pkt_write_text(s->w, "version=2"));
	Z4_TRY(z4_pkt_flush(s->w));
	for (;;) {
		Z4_TRY(z4_pkt_read_text(s->r, &line));
		if (!line)
			break;
		if (strncmp(line, "capability=", 11) != 0)
			return proto("expected 'capability=...', got '%.80s'", line);
		if (strcmp(line + 11, "clean") == 0)
			s->can_clean = 1;
		else if (strcmp(line + 11, "smudge") == 0)
			s->can_smudge = 1;
		else if (strcmp(line + 11, "delay") == 0)
			s->can_delay = 1;
	}
	if (s->can_clean)
		Z4_TRY(z4_pkt_write_text(s->w, "capability=clean"));
	if (s->can_smudge)
		Z4_TRY(z4_pkt_write_text(s->w, "capability=smudge"));
	if (s->can_delay)
		Z4_TRY(z4_pkt_write_text(s->w, "capability=delay"));
	return z4_pkt_flush(s->w);
}

/* "status=success" before the content; answer_end after it. */
static int answer_begin(server *s)
{
	Z4_TRY(z4_pkt_write_text(s->w, "status=success"));
	return z4_pkt_flush(s->w);
}

static int answer_end(server *s)
{
	Z4_TRY(z4_pkt_flush(s->w)); /* end of content */
	return z4_pkt_flush(s->w);  /* empty list: status stays success */
}

static int answer_error(server *s)
{
	Z4_TRY(z4_pkt_write_text(s->w, "status=error"));
	return z4_pkt_flush(s->w);
}

static int do_clean(server *s, const char *path)
{
	content c = {.r = s->r};
	spool out = {.repo = s->repo, .fd = -1};
	int rc;

	/* The answer (a pointer) is small: it waits in memory until all of
	 * the request is read. */
	z4_buf_init(&out.mem, SPOOL_MEM_MAX);
	rc = z4vc_lfs_clean(s->repo, path, content_read, &c, spool_write, &out);
	if (c.broken) {
		rc = Z4_ECORRUPT;
		goto done;
	}
	if (rc) {
		if (s->opts && s->opts->warn) {
			char what[4200];
			snprintf(what, sizeof(what), "clean '%s'", path);
			s->opts->warn(s->opts->warn_ud, what, z4_error_last());
		}
		if ((rc = content_drain(&c)) == Z4_OK)
			rc = answer_error(s);
		goto done;
	}
	if (!c.done && (rc = content_drain(&c)))
		goto done;
	if ((rc = answer_begin(s)) == Z4_OK && (rc = spool_out(&out, z4_pkt_write_data, s->w)) == Z4_OK)
		rc = answer_end(s);
done:
	spool_reset(&out);
	z4_buf_dispose(&out.mem);
	return rc;
}

/* Send the smudged file of a pointer (or the pointer if it can't be had). */
static int send_pointer_file(server *s, const char *path, const z4vc_pointer *ptr,
			     const uint8_t *text, size_t text_len, int fetch,
			     const char *fetch_error)
{
	int fd, rc;
	rc = materialize(&fd, s->repo, ptr, fetch);
	if (rc) {
		char why[1024]; /* copied: the reason buffer is rewritten */
		snprintf(why, sizeof(why), "%s", fetch_error && *fetch_error
							 ? fetch_error : z4_error_last());
		if (fetch_error && *fetch_error)
			z4_error_set(rc, "object %s: not in the store, fetch failed: %s (pointer kept)",
				     ptr->oid, why);
		else
			z4_error_set(rc, "%s (pointer kept)", why);
		warn(s, path);
		Z4_TRY(answer_begin(s));
		Z4_TRY(z4_pkt_write_data(s->w, text, text_len));
		return answer_end(s);
	}
	rc = answer_begin(s);
	if (rc == Z4_OK)
		rc = copy_out(fd, z4_pkt_write_data, s->w);
	close(fd);
	return rc ? rc : answer_end(s);
}

static delayed *find_delayed(server *s, const char *path)
{
	for (size_t i = 0; i < s->nd; i++)
		if (strcmp(s->d[i].path, path) == 0)
			return &s->d[i];
	return NULL;
}

static void drop_delayed(server *s, delayed *d)
{
	z4_free(d->path);
	*d = s->d[--s->nd];
}

static int do_smudge(server *s, const char *path, int can_delay)
{
	content c = {.r = s->r};
	spool in = {.repo = s->repo, .fd = -1};
	z4vc_pointer ptr;
	delayed *d;
	int rc, has;

	z4_buf_init(&in.mem, SPOOL_MEM_MAX);
	/* Read all of it before answering: git writes the whole request
	 * before it reads, so answering early could deadlock on full pipes. */
	rc = copy_out_reader(&c, &in);
	if (c.broken || rc) {
		rc = c.broken ? Z4_ECORRUPT : rc;
		goto done;
	}
	if ((d = find_delayed(s, path)) && d->listed && in.fd < 0 && in.mem.len == 0) {
		/* git collecting a blob we delayed: the fetch has run. */
		rc = send_pointer_file(s, path, &d->ptr, d->text, d->text_len, 0, d->why);
		drop_delayed(s, d);
		goto done;
	}
	if (in.fd >= 0 || in.mem.len > Z4_POINTER_MAX ||
	    z4vc_pointer_parse(&ptr, in.mem.ptr, in.mem.len) != Z4_OK) {
		z4_error_clear();
		if ((rc = answer_begin(s)) == Z4_OK &&
		    (rc = spool_out(&in, z4_pkt_write_data, s->w)) == Z4_OK)
			rc = answer_end(s);
		goto done;
	}
	if (skip_smudge()) {
		if ((rc = answer_begin(s)) == Z4_OK &&
		    (rc = z4_pkt_write_data(s->w, in.mem.ptr, in.mem.len)) == Z4_OK)
			rc = answer_end(s);
		goto done;
	}
	has = z4vc_has_file(s->repo, ptr.oid);
	if (has == 0 && can_delay && !find_delayed(s, path)) {
		if (s->nd == s->capd) {
			size_t nc = s->capd ? s->capd * 2 : 16;
			delayed *nd = z4_realloc(s->d, nc * sizeof(*nd));
			if (!nd) {
				rc = z4_error_set(Z4_ENOMEM, "out of memory");
				goto done;
			}
			s->d = nd;
			s->capd = nc;
		}
		d = &s->d[s->nd];
		memset(d, 0, sizeof(*d));
		if (!(d->path = z4_strdup(path))) {
			rc = z4_error_set(Z4_ENOMEM, "out of memory");
			goto done;
		}
		d->ptr = ptr;
		memcpy(d->text, in.mem.ptr, in.mem.len);
		d->text_len = in.mem.len;
		s->nd++;
		if ((rc = z4_pkt_write_text(s->w, "status=delayed")) == Z4_OK)
			rc = z4_pkt_flush(s->w);
		goto done;
	}
	rc = send_pointer_file(s, path, &ptr, in.mem.ptr, in.mem.len, 1, NULL);
done:
	spool_reset(&in);
	z4_buf_dispose(&in.mem);
	return rc;
}

/* Fetch every delayed object in one batch, then list them all. */
static int do_list_available(server *s)
{
	size_t nwant = 0;
	const char **oids = NULL;
	int rc = Z4_OK;

	for (size_t i = 0; i < s->nd; i++)
		if (!s->d[i].listed)
			nwant++;
	if (nwant) {
		if (!(oids = z4_mallocarray(nwant, sizeof(*oids))))
			return z4_error_set(Z4_ENOMEM, "out of memory");
		nwant = 0;
		for (size_t i = 0; i < s->nd; i++)
			if (!s->d[i].listed)
				oids[nwant++] = s->d[i].ptr.oid;
		/* One batch; if it fails (one object missing fails it all),
		 * file by file, so the others still arrive. What is still
		 * missing shows per file when git collects it. */
		if (z4vc_remote_fetch(s->repo, NULL, oids, nwant, NULL, NULL) != Z4_OK) {
			for (size_t i = 0; i < s->nd; i++)
				if (!s->d[i].listed) {
					const char *one[1] = {s->d[i].ptr.oid};
					if (z4vc_remote_fetch(s->repo, NULL, one, 1, NULL, NULL))
						snprintf(s->d[i].why, sizeof(s->d[i].why), "%s",
							 z4_error_last());
				}
		}
		z4_error_clear();
		z4_free(oids);
	}
	for (size_t i = 0; i < s->nd && rc == Z4_OK; i++) {
		if (s->d[i].listed)
			continue;
		s->d[i].listed = 1;
		rc = z4_pkt_write_kv(s->w, "pathname", s->d[i].path);
	}
	if (rc == Z4_OK)
		rc = z4_pkt_flush(s->w);
	if (rc == Z4_OK)
		rc = z4_pkt_write_text(s->w, "status=success");
	if (rc == Z4_OK)
		rc = z4_pkt_flush(s->w);
	return rc;
}

int z4vc_lfs_filter_process(z4vc_repo *repo, int in_fd, int out_fd,
			    const z4vc_filter_opts *opts)
{
	server s = {.repo = repo, .opts = opts};
	int rc;

	s.r = z4_malloc(sizeof(*s.r));
	s.w = z4_malloc(sizeof(*s.w));
	if (!s.r || !s.w) {
		rc = z4_error_set(Z4_ENOMEM, "out of memory");
		goto done;
	}
	z4_pkt_reader_init(s.r, read_fd_cb, &in_fd);
	z4_pkt_writer_init(s.w, write_fd_cb, &out_fd);
	if ((rc = handshake(&s)))
		goto done;
	for (;;) {
		char command[32] = "", *path = NULL;
		int can_delay = 0, kind;
		const char *line;

		/* Between requests, end of input is the normal way out. */
		if ((rc = z4_pkt_read(s.r, &kind)))
			break;
		if (kind == Z4_PKT_EOF)
			break;
		if (kind == Z4_PKT_FLUSH) {
			rc = proto("%s", "empty request (flush without a command)");
			break;
		}
		s.r->len = (s.r->len && s.r->buf[s.r->len - 1] == '\n') ? s.r->len - 1 : s.r->len;
		s.r->buf[s.r->len] = '\0';
		line = (const char *)s.r->buf;
		for (;;) {
			char *key, *val;
			if (!line)
				break;
			if (memchr(s.r->buf, '\0', s.r->len)) {
				rc = proto("%s", "text pkt-line contains a NUL byte");
				break;
			}
			key = (char *)s.r->buf;
			if (!(val = z4_pkt_split_kv(key))) {
				rc = proto("expected 'key=value', got '%.80s'", line);
				break;
			}
			if (strcmp(key, "command") == 0) {
				if (strlen(val) >= sizeof(command)) {
					rc = proto("unknown command '%.80s'", val);
					break;
				}
				memcpy(command, val, strlen(val) + 1);
			} else if (strcmp(key, "pathname") == 0) {
				z4_free(path);
				if (!(path = z4_strdup(val))) {
					rc = z4_error_set(Z4_ENOMEM, "out of memory");
					break;
				}
			} else if (strcmp(key, "can-delay") == 0) {
				can_delay = strcmp(val, "1") == 0;
			} /* other keys (ref, treeish, blob) are informational */
			if ((rc = z4_pkt_read_text(s.r, &line)))
				break;
		}
		if (rc == Z4_OK) {
			if (strcmp(command, "list_available_blobs") == 0) {
				rc = s.can_delay ? do_list_available(&s)
						 : proto("%s", "list_available_blobs without the delay capability");
			} else if (!path || !*path) {
				rc = proto("command '%.80s' without a pathname", command);
			} else if (strcmp(command, "clean") == 0 && s.can_clean) {
				rc = do_clean(&s, path);
			} else if (strcmp(command, "smudge") == 0 && s.can_smudge) {
				rc = do_smudge(&s, path, can_delay && s.can_delay);
			} else {
				rc = proto("unknown or unnegotiated command '%.80s'", command);
			}
		}
		z4_free(path);
		if (rc)
			break;
	}
done:
	for (size_t i = 0; i < s.nd; i++)
		z4_free(s.d[i].path);
	z4_free(s.d);
	z4_free(s.r);
	z4_free(s.w);
	return rc;
}

/* ---- the in-process libgit2 filter ---- */

typedef struct {
	spool *sp;
	size_t pos;
} spool_reader;

static ssize_t spool_read(void *ud, void *buf, size_t len)
{
	spool_reader *r = ud;
	if (r->sp->fd >= 0) {
		ssize_t k;
		if (r->pos == 0 && lseek(r->sp->fd, 0, SEEK_SET) != 0)
			return -1;
		r->pos = 1;
		do
			k = read(r->sp->fd, buf, len);
		while (k < 0 && errno == EINTR);
		return k;
	}
	if (len > r->sp->mem.len - r->pos)
		len = r->sp->mem.len - r->pos;
	if (len)
		memcpy(buf, r->sp->mem.ptr + r->pos, len);
	r->pos += len;
	return (ssize_t)len;
}

typedef struct {
	git_writestream parent;
	git_writestream *next;
	git_filter_mode_t mode;
	char *path;
	z4vc_repo *repo;
	spool in;
} fstream;

static int next_write(void *ud, const void *p, size_t n)
{
	git_writestream *next = ud;
	return next->write(next, p, n) < 0 ? z4_git_error("filter output") : Z4_OK;
}

static int fstream_write(git_writestream *s, const char *buf, size_t len)
{
	fstream *f = (fstream *)s;
	if (spool_write(&f->in, buf, len)) {
		git_error_set_str(GIT_ERROR_FILTER, z4_error_last());
		return -1;
	}
	return 0;
}

static int fstream_close(git_writestream *s)
{
	fstream *f = (fstream *)s;
	spool_reader r = {&f->in, 0};
	int rc, kept = 0;

	if (f->mode == GIT_FILTER_TO_ODB)
		rc = z4vc_lfs_clean(f->repo, f->path, spool_read, &r, next_write, f->next);
	else
		rc = z4vc_lfs_smudge(&kept, f->repo, f->path, spool_read, &r, next_write,
				     f->next, 0);
	if (rc) {
		git_error_set_str(GIT_ERROR_FILTER, z4_error_last());
		return -1;
	}
	return f->next->close(f->next);
}

static void fstream_free(git_writestream *s)
{
	fstream *f = (fstream *)s;
	spool_reset(&f->in);
	z4_buf_dispose(&f->in.mem);
	z4vc_repo_free(f->repo);
	z4_free(f->path);
	z4_free(f);
}

static int filter_stream(git_writestream **out, git_filter *self, void **payload,
			 const git_filter_source *src, git_writestream *next)
{
	fstream *f = z4_calloc(1, sizeof(*f));
	const char *path = git_filter_source_path(src);
	git_repository *grepo = git_filter_source_repo(src);

	*out = NULL;
	if (!f || !(f->path = z4_strdup(path ? path : ""))) {
		z4_free(f);
		git_error_set_oom();
		return -1;
	}
	f->in.fd = -1;
	z4_buf_init(&f->in.mem, SPOOL_MEM_MAX);
	if (!grepo || z4vc_repo_init(&f->repo, git_repository_path(grepo)) != Z4_OK) {
		git_error_set_str(GIT_ERROR_FILTER, grepo ? z4_error_last()
							  : "z4vc filter: no repository");
		fstream_free(&f->parent);
		return -1;
	}
	f->in.repo = f->repo;
	f->next = next;
	f->mode = git_filter_source_mode(src);
	f->parent.write = fstream_write;
	f->parent.close = fstream_close;
	f->parent.free = fstream_free;
	*out = &f->parent;
	return 0;
}

static git_filter z4_git_filter;

int z4vc_lfs_filter_register(void)
{
	/* The registry is libgit2's: it lives until the last
	 * git_libgit2_shutdown, and a later open registers again. */
	if (git_filter_lookup("z4vc"))
		return Z4_OK;
	git_filter_init(&z4_git_filter, GIT_FILTER_VERSION);
	z4_git_filter.attributes = "filter=z4vc";
	z4_git_filter.stream = filter_stream;
	if (git_filter_register("z4vc", &z4_git_filter, GIT_FILTER_DRIVER_PRIORITY) < 0)
		return z4_git_error("register the z4vc filter");
	return Z4_OK;
}
