/*
 * lfs_setup.c - `z4vc install` / `uninstall` / `track` / `untrack`: git
 * config for the z4vc filter, .gitattributes lines for weight files and the
 * pre-push hook.
 *
 * Reversibility: install records in $GIT_DIR/z4vc/lfs-install what it did
 * to .gitattributes ("created", "added <pattern>", "switched <pattern>"
 * for lines moved over from filter=lfs), so uninstall undoes exactly that
 * and nothing a teammate committed. A hook that is not ours is never
 * overwritten: it moves to <hook>.z4vc-chained and our hook runs it first.
 */
#include "repo_internal.h"

#include "z4_alloc.h"
#include "z4_hooks.h" /* generated from hooks/: z4_hook_pre_push */
#include "z4vc_lfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ATTR_MAX (1u << 20)
#define HOOK_MARK "z4vc-managed-hook"
#define Z4_ATTRS "filter=z4vc diff=z4vc merge=z4vc -text"

static const char *const default_patterns[] = {
	"*.safetensors", "*.gguf", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.onnx", "*.h5",
};

static void note(z4vc_note_fn fn, void *ud, const char *fmt, const char *a,
		 const char *b)
{
	char line[4200];
	if (!fn)
		return;
	snprintf(line, sizeof(line), fmt, a, b ? b : "");
	fn(ud, line);
}

/* ---- files ---- */

static int read_file(z4_buf *out, const char *path, int *exists)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t tmp[8192];
	*exists = 0;
	z4_buf_init(out, ATTR_MAX);
	if (fd < 0)
		return errno == ENOENT ? Z4_OK
				       : z4_error_set(Z4_EIO, "open '%s': %s", path,
						      strerror(errno));
	*exists = 1;
	for (;;) {
		ssize_t k = read(fd, tmp, sizeof(tmp));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			close(fd);
			return z4_error_set(Z4_EIO, "read '%s': %s", path, strerror(errno));
		}
		if (k == 0)
			break;
		if (z4_buf_put(out, tmp, (size_t)k)) {
			close(fd);
			return z4_error_set(Z4_ETOOBIG, "'%s': larger than %u bytes", path,
					    ATTR_MAX);
		}
	}
	close(fd);
	return z4_buf_put(out, "", 1) ? z4_error_set(Z4_ENOMEM, "out of memory") : Z4_OK;
}

/* Remove the `<path>.z4vc-tmp-<pid>` files of killed processes (stale.c). */
static void sweep_tmp(const char *path)
{
	char dir[4200], prefix[4200];
	const char *slash = strrchr(path, '/');
	int fd;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if ((size_t)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path + 1),
				  path) >= sizeof(dir))
		return;
	if ((size_t)snprintf(prefix, sizeof(prefix), "%s.z4vc-tmp-",
			     slash ? slash + 1 : path) >= sizeof(prefix))
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		z4_sweep_tmp(fd, prefix, 0);
		close(fd);
	}
}

/* Replace path with data atomically (mode kept for hooks via `mode`). The
 * temporary is named for this process and opened without following a
 * symlink: a work tree may hold anything under a fixed name. */
static int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4200];
	int fd, rc = Z4_OK;
	const uint8_t *p = data;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.z4vc-tmp-%ld", path,
			     (long)getpid()) >= sizeof(tmp))
		return z4_error_set(Z4_EINVAL, "'%s': path too long", path);
	sweep_tmp(path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return z4_error_set(Z4_EIO, "create '%s': %s", tmp, strerror(errno));
	while (len && rc == Z4_OK) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			rc = z4_error_set(Z4_EIO, "write '%s': %s", tmp, strerror(errno));
		else {
			p += w;
			len -= (size_t)w;
		}
	}
	if (rc == Z4_OK && fchmod(fd, mode) != 0)
		rc = z4_error_set(Z4_EIO, "chmod '%s': %s", tmp, strerror(errno));
	if (close(fd) != 0 && rc == Z4_OK)
		rc = z4_error_set(Z4_EIO, "close '%s': %s", tmp, strerror(errno));
	if (rc == Z4_OK && rename(tmp, path) != 0)
		rc = z4_error_set(Z4_EIO, "rename to '%s': %s", path, strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

/* ---- .gitattributes as lines ---- */

typedef struct {
	char **line;
	size_t n, cap;
} lines;

static void lines_dispose(lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		z4_free(l->line[i]);
	z4_free(l->line);
	memset(l, 0, sizeof(*l));
}

static int lines_push(lines *l, const char *s, size_t len)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 32;
		char **nl = z4_realloc(l->line, nc * sizeof(*nl));
		if (!nl)
			return z4_error_set(Z4_ENOMEM, "out of memory");
		l->line = nl;
		l->cap = nc;
	}
	if (!(l->line[l->n] = z4_strndup(s, len)))
		return z4_error_set(Z4_ENOMEM, "out of memory");
	l->n++;
	return Z4_OK;
}

static int lines_load(lines *l, const char *path, int *exists)
{
	z4_buf b;
	int rc = read_file(&b, path, exists);
	const char *p, *end;
	memset(l, 0, sizeof(*l));
	if (rc == Z4_OK && *exists) {
		p = (const char *)b.ptr;
		end = p + b.len - 1; /* the NUL read_file added */
		while (p < end && rc == Z4_OK) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			rc = lines_push(l, p, n);
			p += n + (nl ? 1 : 0);
		}
	}
	z4_buf_dispose(&b);
	return rc;
}

static int lines_save(const lines *l, const char *path)
{
	z4_buf b;
	int rc;
	z4_buf_init(&b, ATTR_MAX * 2);
	for (size_t i = 0; i < l->n; i++) {
		z4_buf_puts(&b, l->line[i]);
		z4_buf_u8(&b, '\n');
	}
	if (b.err)
		rc = z4_error_set(b.err, "'%s': too large", path);
	else
		rc = write_file(path, b.len ? b.ptr : (const uint8_t *)"", b.len, 0644);
	z4_buf_dispose(&b);
	return rc;
}

/* The pattern (first token) of an attributes line into out; 0 if none. */
static int line_pattern(char *out, size_t cap, const char *line)
{
	size_t n;
	while (*line == ' ' || *line == '\t')
		line++;
	if (!*line || *line == '#')
		return 0;
	n = strcspn(line, " \t\r");
	if (n >= cap)
		return 0;
	memcpy(out, line, n);
	out[n] = '\0';
	return 1;
}

/* 1 if the line's attributes (after the pattern) include token `attr`. */
static int line_has(const char *line, const char *attr)
{
	size_t al = strlen(attr);
	const char *p = line + strspn(line, " \t");
	p += strcspn(p, " \t"); /* skip the pattern */
	while (*p) {
		size_t n;
		p += strspn(p, " \t\r");
		n = strcspn(p, " \t\r");
		if (n == al && memcmp(p, attr, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

/* 1 if the line sets or unsets `filter` some other way than z4vc/lfs. */
static int line_other_filter(const char *line)
{
	const char *p = line + strspn(line, " \t");
	p += strcspn(p, " \t");
	while (*p) {
		size_t n;
		p += strspn(p, " \t\r");
		n = strcspn(p, " \t\r");
		if ((n >= 7 && memcmp(p, "filter=", 7) == 0) ||
		    (n == 7 && memcmp(p, "-filter", 7) == 0) ||
		    (n == 7 && memcmp(p, "!filter", 7) == 0) ||
		    (n == 6 && memcmp(p, "filter", 6) == 0))
			return 1;
		p += n;
	}
	return 0;
}

/* Rewrite attributes "<x>=from" to "<x>=to" for filter, diff and merge. */
static int line_switch(char **line, const char *from, const char *to)
{
	z4_buf b;
	const char *p = *line;
	size_t n = strcspn(p + strspn(p, " \t"), " \t") + strspn(p, " \t");
	z4_buf_init(&b, ATTR_MAX);
	z4_buf_put(&b, p, n);
	p += n;
	while (*p) {
		size_t sp = strspn(p, " \t\r"), k;
		char tok[128];
		z4_buf_put(&b, p, sp);
		p += sp;
		k = strcspn(p, " \t\r");
		if (k < sizeof(tok)) {
			const char *keys[] = {"filter", "diff", "merge"};
			int done = 0;
			memcpy(tok, p, k);
			tok[k] = '\0';
			for (int i = 0; i < 3 && !done; i++) {
				size_t kl = strlen(keys[i]);
				if (strncmp(tok, keys[i], kl) == 0 && tok[kl] == '=' &&
				    strcmp(tok + kl + 1, from) == 0) {
					z4_buf_printf(&b, "%s=%s", keys[i], to);
					done = 1;
				}
			}
			if (!done)
				z4_buf_put(&b, p, k);
		} else {
			z4_buf_put(&b, p, k);
		}
		p += k;
	}
	if (z4_buf_u8(&b, 0)) {
		z4_buf_dispose(&b);
		return z4_error_set(Z4_ENOMEM, "out of memory");
	}
	z4_free(*line);
	*line = (char *)z4_buf_detach(&b, NULL);
	return Z4_OK;
}

/* ---- repository paths ---- */

typedef struct {
	git_repository *git;
	char attrs[4096];  /* <workdir>/.gitattributes ("" if bare) */
	char hooks[4096];  /* hooks directory */
	char state[4096];  /* $GIT_DIR/z4vc/lfs-install */
} setup;

static int setup_open(setup *s, const char *path)
{
	const char *wd, *gd;
	git_config *cfg = NULL;
	git_buf hp = {0};

	memset(s, 0, sizeof(*s));
	git_libgit2_init();
	if (git_repository_open_ext(&s->git, path, 0, NULL) < 0)
		return z4_error_set(Z4_ENOTFOUND, "'%s': not a git repository", path);
	wd = git_repository_workdir(s->git);
	gd = git_repository_path(s->git);
	if (wd)
		snprintf(s->attrs, sizeof(s->attrs), "%s.gitattributes", wd);
	snprintf(s->state, sizeof(s->state), "%sz4vc/lfs-install", gd);
	snprintf(s->hooks, sizeof(s->hooks), "%shooks", gd);
	if (git_repository_config_snapshot(&cfg, s->git) == 0) {
		const char *v;
		if (git_config_get_string(&v, cfg, "core.hooksPath") == 0 && *v) {
			if (v[0] == '/' || !wd)
				snprintf(s->hooks, sizeof(s->hooks), "%s", v);
			else
				snprintf(s->hooks, sizeof(s->hooks), "%s%s", wd, v);
		}
		git_config_free(cfg);
	}
	git_buf_dispose(&hp);
	git_error_clear();
	return Z4_OK;
}

static void setup_close(setup *s)
{
	git_repository_free(s->git);
	git_libgit2_shutdown();
}

/* ---- git config ---- */

static int open_config(git_config **out, setup *s, int global)
{
	*out = NULL;
	if (global) {
		const char *home = getenv("HOME");
		char p[4096];
		if (!home || !*home)
			return z4_error_set(Z4_EINVAL, "--global: HOME is not set");
		snprintf(p, sizeof(p), "%s/.gitconfig", home);
		if (git_config_open_ondisk(out, p) < 0)
			return z4_git_error(p);
		return Z4_OK;
	}
	git_config *all = NULL;
	if (git_repository_config(&all, s->git) < 0)
		return z4_git_error("config");
	if (git_config_open_level(out, all, GIT_CONFIG_LEVEL_LOCAL) < 0) {
		git_config_free(all);
		return z4_git_error("config");
	}
	git_config_free(all);
	return Z4_OK;
}

static const char *const filter_keys[][2] = {
	{"filter.z4vc.process", "z4vc filter-process"},
	{"filter.z4vc.clean", "z4vc clean %f"},
	{"filter.z4vc.smudge", "z4vc smudge %f"},
	{"filter.z4vc.required", "true"},
};

static int config_install(setup *s, int global, z4vc_note_fn fn, void *ud)
{
	git_config *cfg;
	int rc = Z4_OK;
	Z4_TRY(open_config(&cfg, s, global));
	for (size_t i = 0; i < 4 && rc == Z4_OK; i++)
		if (git_config_set_string(cfg, filter_keys[i][0], filter_keys[i][1]) < 0)
			rc = z4_git_error(filter_keys[i][0]);
	git_config_free(cfg);
	if (rc == Z4_OK)
		note(fn, ud, "set filter.z4vc in %s config%s", global ? "global" : "local",
		     NULL);
	return rc;
}

static int config_uninstall(setup *s, int global, z4vc_note_fn fn, void *ud)
{
	git_config *cfg;
	Z4_TRY(open_config(&cfg, s, global));
	for (size_t i = 0; i < 4; i++)
		git_config_delete_entry(cfg, filter_keys[i][0]);
	git_error_clear();
	git_config_free(cfg);
	note(fn, ud, "removed filter.z4vc from %s config%s", global ? "global" : "local",
	     NULL);
	return Z4_OK;
}

/* ---- hooks ---- */

static int is_our_hook(const char *path)
{
	z4_buf b;
	int exists, ours;
	if (read_file(&b, path, &exists) || !exists) {
		z4_buf_dispose(&b);
		z4_error_clear();
		return 0;
	}
	ours = strstr((const char *)b.ptr, HOOK_MARK) != NULL;
	z4_buf_dispose(&b);
	return ours;
}

static int hook_install(setup *s, const char *name, const char *text,
			z4vc_note_fn fn, void *ud)
{
	char hook[4200], chained[4300];
	struct stat st;
	snprintf(hook, sizeof(hook), "%s/%s", s->hooks, name);
	snprintf(chained, sizeof(chained), "%s.z4vc-chained", hook);
	if (mkdir(s->hooks, 0777) != 0 && errno != EEXIST)
		return z4_error_set(Z4_EIO, "create '%s': %s", s->hooks, strerror(errno));
	if (lstat(hook, &st) == 0 && !is_our_hook(hook)) {
		if (lstat(chained, &st) == 0)
			return z4_error_set(Z4_EEXISTS,
					    "hook '%s': both it and '%s' exist; merge them by hand",
					    hook, chained);
		if (rename(hook, chained) != 0)
			return z4_error_set(Z4_EIO, "rename '%s': %s", hook, strerror(errno));
		note(fn, ud, "kept the existing %s hook as %s.z4vc-chained (runs first)",
		     name, name);
	}
	Z4_TRY(write_file(hook, text, strlen(text), 0755));
	note(fn, ud, "installed the %s hook%s", name, NULL);
	return Z4_OK;
}

static int hook_uninstall(setup *s, const char *name, z4vc_note_fn fn, void *ud)
{
	char hook[4200], chained[4300];
	struct stat st;
	snprintf(hook, sizeof(hook), "%s/%s", s->hooks, name);
	snprintf(chained, sizeof(chained), "%s.z4vc-chained", hook);
	if (!is_our_hook(hook))
		return Z4_OK;
	if (unlink(hook) != 0)
		return z4_error_set(Z4_EIO, "remove '%s': %s", hook, strerror(errno));
	note(fn, ud, "removed the %s hook%s", name, NULL);
	if (lstat(chained, &st) == 0) {
		if (rename(chained, hook) != 0)
			return z4_error_set(Z4_EIO, "rename '%s': %s", chained, strerror(errno));
		note(fn, ud, "restored the previous %s hook%s", name, NULL);
	}
	return Z4_OK;
}

/* ---- .gitattributes edits ---- */

/* Track one pattern: 1 if a line was added, 2 if switched from lfs, 0 if
 * nothing changed. */
static int track_one(lines *l, const char *pattern, int respect_other)
{
	char pat[1024];
	int found_lfs = 0, rc;
	for (size_t i = 0; i < l->n; i++) {
		if (!line_pattern(pat, sizeof(pat), l->line[i]) || strcmp(pat, pattern))
			continue;
		if (line_has(l->line[i], "filter=z4vc"))
			return 0;
		if (line_has(l->line[i], "filter=lfs")) {
			Z4_TRY(line_switch(&l->line[i], "lfs", "z4vc"));
			found_lfs = 1;
		} else if (respect_other && line_other_filter(l->line[i])) {
			return 0; /* the user chose another filter for it */
		}
	}
	if (found_lfs)
		return 2;
	{
		char line[1100];
		snprintf(line, sizeof(line), "%s " Z4_ATTRS, pattern);
		rc = lines_push(l, line, strlen(line));
	}
	return rc ? rc : 1;
}

static int valid_pattern(const char *p)
{
	if (!*p || strlen(p) >= 1024)
		return 0;
	for (; *p; p++)
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '#')
			return 0;
	return 1;
}

static int state_append(setup *s, const char *fmt, const char *arg)
{
	FILE *f = fopen(s->state, "a");
	if (!f)
		return z4_error_set(Z4_EIO, "open '%s': %s", s->state, strerror(errno));
	fprintf(f, fmt, arg);
	fputc('\n', f);
	if (fclose(f) != 0)
		return z4_error_set(Z4_EIO, "write '%s': %s", s->state, strerror(errno));
	return Z4_OK;
}

static int attrs_install(setup *s, z4vc_note_fn fn, void *ud)
{
	lines l;
	int exists, changed = 0, rc;
	char pat[1024];

	if (!s->attrs[0])
		return Z4_OK;
	Z4_TRY(lines_load(&l, s->attrs, &exists));
	rc = Z4_OK;
	if (!exists)
		rc = state_append(s, "created%s", "");
	/* Migration: every filter=lfs line moves over (same pointers). */
	for (size_t i = 0; i < l.n && rc == Z4_OK; i++) {
		if (line_has(l.line[i], "filter=lfs") &&
		    line_pattern(pat, sizeof(pat), l.line[i])) {
			rc = line_switch(&l.line[i], "lfs", "z4vc");
			if (rc == Z4_OK)
				rc = state_append(s, "switched %s", pat);
			note(fn, ud, "switched '%s' from filter=lfs to filter=z4vc%s", pat, NULL);
			changed = 1;
		}
	}
	for (size_t i = 0; i < sizeof(default_patterns) / sizeof(*default_patterns) &&
			   rc == Z4_OK;
	     i++) {
		int r = track_one(&l, default_patterns[i], 1);
		if (r < 0) {
			rc = r;
		} else if (r == 1) {
			rc = state_append(s, "added %s", default_patterns[i]);
			note(fn, ud, "tracking '%s'%s", default_patterns[i], NULL);
			changed = 1;
		}
	}
	if (rc == Z4_OK && changed)
		rc = lines_save(&l, s->attrs);
	lines_dispose(&l);
	return rc;
}

static int attrs_uninstall(setup *s, z4vc_note_fn fn, void *ud)
{
	lines l, st;
	int exists, st_exists, created = 0, rc;
	char pat[1024];

	if (!s->attrs[0])
		return Z4_OK;
	Z4_TRY(lines_load(&st, s->state, &st_exists));
	if (!st_exists)
		return Z4_OK; /* install did not touch .gitattributes */
	if ((rc = lines_load(&l, s->attrs, &exists))) {
		lines_dispose(&st);
		return rc;
	}
	for (size_t k = 0; k < st.n && rc == Z4_OK; k++) {
		const char *e = st.line[k];
		if (strcmp(e, "created") == 0) {
			created = 1;
			continue;
		}
		int added = strncmp(e, "added ", 6) == 0;
		int switched = strncmp(e, "switched ", 9) == 0;
		const char *want = added ? e + 6 : switched ? e + 9 : NULL;
		if (!want)
			continue;
		for (size_t i = 0; i < l.n && rc == Z4_OK; i++) {
			if (!line_pattern(pat, sizeof(pat), l.line[i]) || strcmp(pat, want) ||
			    !line_has(l.line[i], "filter=z4vc"))
				continue;
			if (switched) {
				rc = line_switch(&l.line[i], "z4vc", "lfs");
				note(fn, ud, "switched '%s' back to filter=lfs%s", want, NULL);
			} else {
				z4_free(l.line[i]);
				memmove(&l.line[i], &l.line[i + 1], (l.n - i - 1) * sizeof(char *));
				l.n--;
				i--;
				note(fn, ud, "untracked '%s'%s", want, NULL);
			}
		}
	}
	if (rc == Z4_OK && exists) {
		int empty = 1;
		for (size_t i = 0; i < l.n; i++)
			if (l.line[i][strspn(l.line[i], " \t\r")])
				empty = 0;
		if (created && empty)
			rc = unlink(s->attrs) == 0 ? Z4_OK
						   : z4_error_set(Z4_EIO, "remove '%s': %s",
								  s->attrs, strerror(errno));
		else
			rc = lines_save(&l, s->attrs);
	}
	if (rc == Z4_OK)
		unlink(s->state);
	lines_dispose(&l);
	lines_dispose(&st);
	return rc;
}

/* ---- public entry points ---- */

int z4vc_lfs_install(const char *path, unsigned flags, z4vc_note_fn fn, void *ud)
{
	setup s;
	z4vc_repo *repo = NULL;
	int rc;

	z4_error_clear();
	if (flags & Z4VC_INSTALL_GLOBAL) {
		git_libgit2_init();
		memset(&s, 0, sizeof(s));
		rc = config_install(&s, 1, fn, ud);
		git_libgit2_shutdown();
		return rc;
	}
	Z4_TRY(setup_open(&s, path));
	if ((rc = z4vc_repo_init(&repo, path)) == Z4_OK &&
	    (rc = config_install(&s, 0, fn, ud)) == Z4_OK &&
	    (rc = attrs_install(&s, fn, ud)) == Z4_OK)
		rc = hook_install(&s, "pre-push", z4_hook_pre_push, fn, ud);
	z4vc_repo_free(repo);
	setup_close(&s);
	return rc;
}

int z4vc_lfs_uninstall(const char *path, unsigned flags, z4vc_note_fn fn, void *ud)
{
	setup s;
	int rc;

	z4_error_clear();
	if (flags & Z4VC_INSTALL_GLOBAL) {
		git_libgit2_init();
		memset(&s, 0, sizeof(s));
		rc = config_uninstall(&s, 1, fn, ud);
		git_libgit2_shutdown();
		return rc;
	}
	Z4_TRY(setup_open(&s, path));
	if ((rc = config_uninstall(&s, 0, fn, ud)) == Z4_OK &&
	    (rc = hook_uninstall(&s, "pre-push", fn, ud)) == Z4_OK)
		rc = attrs_uninstall(&s, fn, ud);
	setup_close(&s);
	return rc;
}

static int edit_attrs(const char *path, const char *const *patterns, size_t n,
		      int track, z4vc_note_fn fn, void *ud)
{
	setup s;
	lines l;
	int exists, changed = 0, rc;
	char pat[1024];

	z4_error_clear();
	for (size_t k = 0; k < n; k++)
		if (!valid_pattern(patterns[k]))
			return z4_error_set(Z4_EINVAL,
					    "'%s': not a usable pattern (no spaces or '#')",
					    patterns[k]);
	Z4_TRY(setup_open(&s, path));
	if (!s.attrs[0]) {
		setup_close(&s);
		return z4_error_set(Z4_EINVAL, "a bare repository has no .gitattributes");
	}
	if ((rc = lines_load(&l, s.attrs, &exists))) {
		setup_close(&s);
		return rc;
	}
	for (size_t k = 0; k < n && rc == Z4_OK; k++) {
		if (track) {
			int r = track_one(&l, patterns[k], 0);
			if (r < 0)
				rc = r;
			else if (r)
				changed = 1;
			note(fn, ud, r == 0 ? "'%s' already tracked%s" : "tracking '%s'%s",
			     patterns[k], NULL);
			continue;
		}
		int hit = 0;
		for (size_t i = 0; i < l.n; i++) {
			if (!line_pattern(pat, sizeof(pat), l.line[i]) ||
			    strcmp(pat, patterns[k]) || !line_has(l.line[i], "filter=z4vc"))
				continue;
			z4_free(l.line[i]);
			memmove(&l.line[i], &l.line[i + 1], (l.n - i - 1) * sizeof(char *));
			l.n--;
			i--;
			hit = changed = 1;
		}
		note(fn, ud, hit ? "untracked '%s'%s" : "'%s' was not tracked%s", patterns[k],
		     NULL);
	}
	if (rc == Z4_OK && changed)
		rc = lines_save(&l, s.attrs);
	lines_dispose(&l);
	setup_close(&s);
	return rc;
}

int z4vc_lfs_track(const char *path, const char *const *patterns, size_t n,
		   z4vc_note_fn fn, void *ud)
{
	return edit_attrs(path, patterns, n, 1, fn, ud);
}

int z4vc_lfs_untrack(const char *path, const char *const *patterns, size_t n,
		     z4vc_note_fn fn, void *ud)
{
	return edit_attrs(path, patterns, n, 0, fn, ud);
}

int z4vc_lfs_tracked(const char *path, int (*fn)(const char *pattern, void *ud),
		     void *ud)
{
	setup s;
	lines l;
	int exists, rc;
	char pat[1024];

	z4_error_clear();
	Z4_TRY(setup_open(&s, path));
	rc = s.attrs[0] ? lines_load(&l, s.attrs, &exists) : (memset(&l, 0, sizeof(l)), 0);
	for (size_t i = 0; i < l.n && rc == Z4_OK; i++)
		if (line_pattern(pat, sizeof(pat), l.line[i]) &&
		    line_has(l.line[i], "filter=z4vc"))
			rc = fn(pat, ud);
	lines_dispose(&l);
	setup_close(&s);
	return rc;
}
