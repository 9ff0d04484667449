/*
 * cmd_import_lfs.c - z4vc import-lfs: move a Git LFS repository's objects
 * into z4vc without rewriting history. The pointers already committed name
 * the same SHA-256 z4vc uses, so every commit id stays the same; each object
 * is stored under the file name its pointer has in history (tensor-level
 * encoding for *.safetensors) and delta-encoded against the previous version
 * of the same path.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "z4vc_remote.h"

static int fetch_first;

const cli_cmd cli_cmd_import_lfs = {
	.name = "import-lfs",
	.usage = "[--fetch]",
	.summary = "store every Git LFS object of this repository in z4vc",
	.details =
		"Ingests every object under .git/lfs/objects, checking that its SHA-256\n"
		"matches its name. Objects named by pointers in the history (all refs,\n"
		"oldest commit first) are stored under their file name and delta-encoded\n"
		"against the previous version of the same path. Nothing in git changes:\n"
		"pointers keep their oids, so every commit id stays the same. Run\n"
		"'z4vc install' to switch the filter to z4vc. With --fetch, run 'git lfs\n"
		"fetch --all' first so that every version is present.",
	.opts = (const cli_opt[]){
		{"fetch", 0, OPT_FLAG, &fetch_first, NULL, "run 'git lfs fetch --all' first"},
		{0},
	},
};

typedef struct {
	char oid[72];
	char *path;
	char base[72]; /* previous oid at the same path, or "" */
} item;

typedef struct {
	item *v;
	size_t n, cap;
	/* last oid seen per path, for delta bases */
	char **paths;
	char (*last)[72];
	size_t np, pcap;
} plan;

static int on_pointer(void *ud, const z4vc_pointer *p, const char *path)
{
	plan *pl = ud;
	item *it;
	size_t k;
	for (k = 0; k < pl->np; k++)
		if (strcmp(pl->paths[k], path) == 0)
			break;
	if (pl->n == pl->cap) {
		size_t nc = pl->cap ? pl->cap * 2 : 64;
		item *nv = realloc(pl->v, nc * sizeof(*nv));
		if (!nv)
			return -1;
		pl->v = nv;
		pl->cap = nc;
	}
	it = &pl->v[pl->n];
	memset(it, 0, sizeof(*it));
	snprintf(it->oid, sizeof(it->oid), "%s", p->oid);
	if (!(it->path = strdup(path)))
		return -1;
	if (k < pl->np)
		snprintf(it->base, sizeof(it->base), "%s", pl->last[k]);
	pl->n++;
	if (k == pl->np) {
		if (pl->np == pl->pcap) {
			size_t nc = pl->pcap ? pl->pcap * 2 : 64;
			char **np = realloc(pl->paths, nc * sizeof(*np));
			char(*nl)[72];
			if (!np)
				return -1;
			pl->paths = np;
			if (!(nl = realloc(pl->last, nc * sizeof(*nl))))
				return -1;
			pl->last = nl;
			pl->pcap = nc;
		}
		if (!(pl->paths[k] = strdup(path)))
			return -1;
		pl->np++;
	}
	snprintf(pl->last[k], sizeof(pl->last[k]), "%s", p->oid);
	return 0;
}

static ssize_t read_fd(void *ud, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(*(int *)ud, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static int run_git_lfs_fetch(void)
{
	pid_t pid = fork();
	int status;
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (strcmp(cli_chdir, ".") != 0 && chdir(cli_chdir) != 0)
			_exit(127);
		execlp("git", "git", "lfs", "fetch", "--all", (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* .git/lfs/objects/<aa>/<bb>/<oid> of "sha256:<oid>" into buf. */
static void object_path(char *buf, size_t cap, const char *lfsdir,
                        const char *oid)
{
	const char *h = oid + 7;
	snprintf(buf, cap, "%s/%.2s/%.2s/%s", lfsdir, h, h + 2, h);
}

/* Store one object; 1 stored, 0 already there or absent, -1 error. */
static int import_one(z4vc_repo *repo, const char *lfsdir, const char *oid,
                      const char *name, const char *base, size_t *missing)
{
	char path[4096];
	z4vc_store_opts o = {.allow_opaque = 1};
	z4vc_pointer p;
	int fd, rc;

	if ((rc = z4vc_has_file(repo, oid)) != 0)
		return rc < 0 ? (cli_fail("import-lfs"), -1) : 0;
	object_path(path, sizeof(path), lfsdir, oid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		(*missing)++;
		return 0;
	}
	if (base && base[0] && z4vc_has_file(repo, base) == 1)
		o.base_oid = base;
	rc = z4vc_store_stream(&p, repo, name, read_fd, &fd, &o);
	close(fd);
	if (rc) {
		fprintf(stderr, "z4vc: import-lfs '%s': %s\n", path,
		        z4vc_error());
		return -1;
	}
	if (strcmp(p.oid, oid) != 0) {
		fprintf(stderr,
		        "z4vc: import-lfs '%s': content does not match its name (%s)\n",
		        path, p.oid);
		return -1;
	}
	return 1;
}

static int is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Objects in .git/lfs/objects that no pointer in history names. */
static int import_rest(z4vc_repo *repo, const char *lfsdir, size_t *stored,
                       size_t *errors)
{
	DIR *d1 = opendir(lfsdir);
	struct dirent *a;
	size_t none = 0;
	if (!d1)
		return 0;
	while ((a = readdir(d1))) {
		char p1[4096];
		DIR *d2;
		struct dirent *b;
		if (strlen(a->d_name) != 2 || a->d_name[0] == '.')
			continue;
		snprintf(p1, sizeof(p1), "%s/%.2s", lfsdir, a->d_name);
		if (!(d2 = opendir(p1)))
			continue;
		while ((b = readdir(d2))) {
			char p2[4200];
			DIR *d3;
			struct dirent *c;
			if (strlen(b->d_name) != 2 || b->d_name[0] == '.')
				continue;
			snprintf(p2, sizeof(p2), "%s/%.2s", p1, b->d_name);
			if (!(d3 = opendir(p2)))
				continue;
			while ((c = readdir(d3))) {
				char oid[80];
				int r;
				if (!is_hex64(c->d_name))
					continue;
				snprintf(oid, sizeof(oid), "sha256:%.64s",
				         c->d_name);
				/* unknown name: parsed as safetensors if it is
				 * one */
				r = import_one(repo, lfsdir, oid,
				               "object.safetensors", NULL,
				               &none);
				if (r > 0)
					(*stored)++;
				else if (r < 0)
					(*errors)++;
			}
			closedir(d3);
		}
		closedir(d2);
	}
	closedir(d1);
	return 0;
}

int cmd_import_lfs(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	plan pl = {0};
	const char *all = "refs/*";
	char lfsdir[4096];
	size_t stored = 0, missing = 0, errors = 0, have = 0;
	int n, rc = 1;

	cli_parse(&cli_cmd_import_lfs, argc, argv, &n);
	if (n)
		cli_usage_error(&cli_cmd_import_lfs, "no arguments expected");
	if (fetch_first && run_git_lfs_fetch() != 0) {
		fprintf(stderr,
		        "z4vc: import-lfs: 'git lfs fetch --all' failed\n");
		return 1;
	}
	if (z4vc_repo_init(&repo, cli_chdir) ||
	    z4vc_rev_pointers(repo, &all, 1, NULL, 0, Z4VC_REVS_WALK,
	                      on_pointer, &pl)) {
		cli_fail("import-lfs");
		goto done;
	}
	/* $GIT_DIR/z4vc -> $GIT_DIR/lfs/objects */
	snprintf(lfsdir, sizeof(lfsdir), "%s", z4vc_repo_dir(repo));
	if (strrchr(lfsdir, '/'))
		*strrchr(lfsdir, '/') = '\0';
	strncat(lfsdir, "/lfs/objects", sizeof(lfsdir) - strlen(lfsdir) - 1);
	for (size_t i = 0; i < pl.n; i++) {
		const char *name = strrchr(pl.v[i].path, '/');
		int r = import_one(repo, lfsdir, pl.v[i].oid,
		                   name ? name + 1 : pl.v[i].path, pl.v[i].base,
		                   &missing);
		if (r > 0)
			stored++;
		else if (r < 0)
			errors++;
		else if (z4vc_has_file(repo, pl.v[i].oid) == 1)
			have++;
	}
	import_rest(repo, lfsdir, &stored, &errors);
	printf("imported %zu object%s (%zu already in z4vc)\n", stored,
	       stored == 1 ? "" : "s", have);
	if (missing)
		fprintf(stderr,
		        "z4vc: import-lfs: %zu object%s named in history not in .git/lfs/objects (run with --fetch to get them)\n",
		        missing, missing == 1 ? "" : "s");
	rc = errors ? 1 : 0;
done:
	for (size_t i = 0; i < pl.n; i++)
		free(pl.v[i].path);
	for (size_t i = 0; i < pl.np; i++)
		free(pl.paths[i]);
	free(pl.v);
	free(pl.paths);
	free(pl.last);
	z4vc_repo_free(repo);
	return rc;
}
