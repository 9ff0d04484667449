/*
 * bench_commit.c - commits a checkpoint series with z4vc and prints, per
 * file kind (bf16 weights, fp32 weights, optimizer state): raw bytes,
 * stored bytes, ratio, commit and checkout MB/s and peak RSS, next to
 * zstd -3 of the same files measured in the same run.
 *
 * usage: bench_commit SERIES_DIR [--keyframe K] [--json] [--big MB]
 *   SERIES_DIR holds step-* directories (../shared/corpus/small, or a
 *   series from z4gen / gen_corpus.py). Each kind is committed, one step
 *   per commit, into its own fresh repository by a child process, so that
 *   peak RSS (wait4) is that kind's alone.
 *   --big MB also generates two consecutive steps of one MB-sized bf16
 *   file with z4gen (next to this binary in ../gen/) and commits both,
 *   to show that commit memory does not grow with checkpoint size.
 */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <git2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "z4vc.h"

typedef struct {
	double raw, stored, zstd;
	double commit_s, checkout_s, zstd_s;
	long rss_kb;  /* peak resident set (wait4): includes clean store pages */
	long anon_kb; /* peak private memory, sampled every millisecond */
	int steps, ok;
} result;

/*
 * ru_maxrss also counts clean, file-backed pages of the store's read-only
 * map that the kernel maps around every read (large folios); they are page
 * cache, not memory the process owns. A sampler thread records the peak of
 * resident minus shared pages (/proc/self/statm), the private memory.
 */
static volatile int sampling;
static long anon_peak_kb;

static void *sampler(void *arg)
{
	long page_kb = sysconf(_SC_PAGESIZE) / 1024;
	(void)arg;
	while (sampling) {
		FILE *f = fopen("/proc/self/statm", "r");
		long size, res, shared;
		if (f && fscanf(f, "%ld %ld %ld", &size, &res, &shared) == 3 &&
		    (res - shared) * page_kb > anon_peak_kb)
			anon_peak_kb = (res - shared) * page_kb;
		if (f)
			fclose(f);
		usleep(1000);
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t list_steps(char ***out, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "step-", 5) == 0) {
			v = realloc(v, (n + 1) * sizeof(*v));
			v[n++] = strdup(e->d_name);
		}
	closedir(d);
	qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	return n;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p;
	long n;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc(n > 0 ? (size_t)n : 1);
	if (fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

static int fresh_repo(char *dir, size_t cap)
{
	git_repository *g;
	z4vc_repo *r;
	snprintf(dir, cap, "/tmp/z4vc-bench-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	if (git_repository_init(&g, dir, 0) < 0)
		return -1;
	git_repository_free(g);
	if (z4vc_repo_init(&r, dir))
		return -1;
	z4vc_repo_free(r);
	return 0;
}

static void rm_rf(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", dir);
}

/* In a child: send the result (with the sampled peak) and exit. */
static _Noreturn void report(int fd, result *r)
{
	sampling = 0;
	usleep(3000);
	r->anon_kb = anon_peak_kb;
	if (write(fd, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		_exit(1);
	_exit(0);
}

/*
 * In a child: commit `file` of every step into a fresh repository, then
 * check every step out again; report through the pipe.
 */
static void run_kind(int fd, const char *series, char **steps, size_t nsteps,
		     const char *file, unsigned keyframe)
{
	result r = {0};
	char repo_dir[256], path[4096], hex[41], out[600];
	z4vc_repo *repo = NULL;
	z4vc_stats st;
	char **commits = calloc(nsteps, sizeof(char *));

	git_libgit2_init();
	if (fresh_repo(repo_dir, sizeof(repo_dir)) || z4vc_repo_open(&repo, repo_dir))
		goto out;
	for (size_t i = 0; i < nsteps; i++) {
		z4vc_commit_opts o = {.run = "bench", .step = (int64_t)i,
				      .keyframe_interval = keyframe};
		z4vc_ckpt *ck;
		struct stat sb;
		double t0;
		snprintf(path, sizeof(path), "%s/%s/%s", series, steps[i], file);
		if (stat(path, &sb) != 0)
			goto out;
		r.raw += (double)sb.st_size;
		t0 = now();
		if (z4vc_ckpt_begin(&ck, repo, &o) || z4vc_ckpt_add_file(ck, file, path) ||
		    z4vc_ckpt_finish(ck, hex)) {
			fprintf(stderr, "bench: commit %s: %s\n", path, z4vc_error());
			z4vc_ckpt_free(ck);
			goto out;
		}
		r.commit_s += now() - t0;
		z4vc_ckpt_free(ck);
		commits[i] = strdup(hex);
	}
	for (size_t i = 0; i < nsteps; i++) {
		double t0 = now();
		snprintf(out, sizeof(out), "%s/out-%zu", repo_dir, i);
		if (z4vc_checkout(repo, commits[i], out, NULL)) {
			fprintf(stderr, "bench: checkout: %s\n", z4vc_error());
			goto out;
		}
		r.checkout_s += now() - t0;
	}
	if (z4vc_stats_get(&st, repo))
		goto out;
	r.stored = (double)st.stored_bytes;
	r.steps = (int)nsteps;
	r.ok = 1;
out:
	z4vc_repo_free(repo);
	rm_rf(repo_dir);
	report(fd, &r);
}

static int measure(result *r, void (*fn)(int, void *), void *arg)
{
	int p[2];
	pid_t pid;
	int status;
	struct rusage ru;

	if (pipe(p) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		pthread_t th;
		close(p[0]);
		sampling = 1;
		pthread_create(&th, NULL, sampler, NULL);
		fn(p[1], arg);
		_exit(0);
	}
	close(p[1]);
	memset(r, 0, sizeof(*r));
	if (read(p[0], r, sizeof(*r)) != (ssize_t)sizeof(*r))
		r->ok = 0;
	close(p[0]);
	if (wait4(pid, &status, 0, &ru) < 0)
		return -1;
	r->rss_kb = ru.ru_maxrss;
	/* the child's result carries anon_kb */
	return r->ok ? 0 : -1;
}

typedef struct {
	const char *series;
	char **steps;
	size_t nsteps;
	const char *file;
	unsigned keyframe;
} kind_arg;

static void kind_child(int fd, void *a)
{
	kind_arg *k = a;
	run_kind(fd, k->series, k->steps, k->nsteps, k->file, k->keyframe);
}

/* zstd -3 of each file, in memory, timed. */
static void zstd_baseline(result *r, const char *series, char **steps,
			  size_t nsteps, const char *file)
{
	char path[4096];
	for (size_t i = 0; i < nsteps; i++) {
		size_t len;
		unsigned char *data, *dst;
		size_t cap, n;
		double t0;
		snprintf(path, sizeof(path), "%s/%s/%s", series, steps[i], file);
		if (!(data = slurp(path, &len)))
			continue;
		cap = ZSTD_compressBound(len);
		dst = malloc(cap);
		t0 = now();
		n = ZSTD_compress(dst, cap, data, len, 3);
		r->zstd_s += now() - t0;
		if (!ZSTD_isError(n))
			r->zstd += (double)n;
		free(dst);
		free(data);
	}
}

typedef struct {
	const char *z4gen;
	int mb;
} big_arg;

static void big_child(int fd, void *a)
{
	big_arg *b = a;
	result r = {0};
	char repo_dir[256], cmd[1024], path[600], hex[41];
	z4vc_repo *repo = NULL;
	z4vc_stats st;

	git_libgit2_init();
	if (fresh_repo(repo_dir, sizeof(repo_dir)) || z4vc_repo_open(&repo, repo_dir))
		goto out;
	for (int step = 1; step <= 2; step++) {
		z4vc_commit_opts o = {.run = "big", .step = step};
		z4vc_ckpt *ck;
		struct stat sb;
		double t0;
		snprintf(path, sizeof(path), "%s/big-%d.safetensors", repo_dir, step);
		snprintf(cmd, sizeof(cmd), "'%s' --big-mb %d --step %d --out '%s'", b->z4gen,
			 b->mb, step, path);
		if (system(cmd) != 0 || stat(path, &sb) != 0)
			goto out;
		r.raw += (double)sb.st_size;
		t0 = now();
		if (z4vc_ckpt_begin(&ck, repo, &o) ||
		    z4vc_ckpt_add_file(ck, "model.safetensors", path) ||
		    z4vc_ckpt_finish(ck, hex)) {
			fprintf(stderr, "bench: big commit: %s\n", z4vc_error());
			z4vc_ckpt_free(ck);
			goto out;
		}
		r.commit_s += now() - t0;
		z4vc_ckpt_free(ck);
		unlink(path);
	}
	if (z4vc_stats_get(&st, repo) == 0) {
		r.stored = (double)st.stored_bytes;
		r.steps = 2;
		r.ok = 1;
	}
out:
	z4vc_repo_free(repo);
	rm_rf(repo_dir);
	report(fd, &r);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *file, *label;
	} kinds[] = {
		{"model.safetensors", "bf16 weights"},
		{"model_fp32.safetensors", "fp32 weights"},
		{"optim.safetensors", "optimizer state"},
	};
	const char *series = NULL;
	unsigned keyframe = 0;
	int json = 0, big = 0, first = 1;
	char **steps;
	size_t nsteps;
	char self[4096], z4gen[4200];
	ssize_t sl;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--keyframe") == 0 && i + 1 < argc)
			keyframe = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--big") == 0 && i + 1 < argc)
			big = atoi(argv[++i]);
		else if (!series && argv[i][0] != '-')
			series = argv[i];
		else {
			fprintf(stderr, "usage: bench_commit SERIES_DIR [--keyframe K] [--json] [--big MB]\n");
			return 129;
		}
	}
	if (!series) {
		fprintf(stderr, "usage: bench_commit SERIES_DIR [--keyframe K] [--json] [--big MB]\n");
		return 129;
	}
	nsteps = list_steps(&steps, series);
	if (nsteps == 0) {
		fprintf(stderr, "bench: no step-* directories in %s\n", series);
		return 1;
	}
	if (json)
		printf("{\"series\":\"%s\",\"steps\":%zu,\"kinds\":[", series, nsteps);
	else
		printf("z4vc commit bench: %s, %zu steps, one commit per step\n\n"
		       "%-16s %10s %10s %7s %10s %7s %9s %9s %9s %8s %8s\n",
		       series, nsteps, "kind", "raw MB", "z4vc MB", "ratio", "zstd-3 MB",
		       "ratio", "commit", "checkout", "zstd-3", "peak RSS", "private");
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		result r, z = {0};
		kind_arg a = {series, steps, nsteps, kinds[k].file, keyframe};
		if (measure(&r, kind_child, &a) != 0) {
			fprintf(stderr, "bench: %s: failed\n", kinds[k].file);
			return 1;
		}
		zstd_baseline(&z, series, steps, nsteps, kinds[k].file);
		if (json) {
			printf("%s{\"kind\":\"%s\",\"file\":\"%s\",\"raw_bytes\":%.0f,"
			       "\"stored_bytes\":%.0f,\"ratio\":%.4f,\"zstd3_bytes\":%.0f,"
			       "\"zstd3_ratio\":%.4f,\"commit_mb_s\":%.1f,\"checkout_mb_s\":%.1f,"
			       "\"zstd3_mb_s\":%.1f,\"peak_rss_kb\":%ld,\"peak_private_kb\":%ld}",
			       first ? "" : ",", kinds[k].label, kinds[k].file, r.raw, r.stored,
			       r.raw / r.stored, z.zstd, r.raw / z.zstd,
			       r.raw / 1e6 / r.commit_s, r.raw / 1e6 / r.checkout_s,
			       r.raw / 1e6 / z.zstd_s, r.rss_kb, r.anon_kb);
			first = 0;
		} else {
			printf("%-16s %10.2f %10.2f %6.3fx %10.2f %6.3fx %5.0f MB/s %5.0f MB/s "
			       "%5.0f MB/s %5ld MB %5ld MB\n",
			       kinds[k].label, r.raw / 1e6, r.stored / 1e6, r.raw / r.stored,
			       z.zstd / 1e6, r.raw / z.zstd, r.raw / 1e6 / r.commit_s,
			       r.raw / 1e6 / r.checkout_s, r.raw / 1e6 / z.zstd_s,
			       r.rss_kb / 1024, r.anon_kb / 1024);
		}
	}
	if (json)
		printf("]");
	if (big > 0) {
		result r;
		big_arg b = {z4gen, big};
		sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[sl > 0 ? sl : 0] = '\0';
		if (strrchr(self, '/'))
			*strrchr(self, '/') = '\0';
		snprintf(z4gen, sizeof(z4gen), "%s/../gen/z4gen", self);
		if (measure(&r, big_child, &b) != 0) {
			fprintf(stderr, "bench: big checkpoint: failed\n");
			return 1;
		}
		if (json)
			printf(",\"big\":{\"raw_bytes\":%.0f,\"stored_bytes\":%.0f,"
			       "\"commit_mb_s\":%.1f,\"peak_rss_kb\":%ld,\"peak_private_kb\":%ld}",
			       r.raw, r.stored, r.raw / 1e6 / r.commit_s, r.rss_kb, r.anon_kb);
		else
			printf("\n%d MB bf16 checkpoint, 2 steps: %.0f MB raw -> %.0f MB stored "
			       "(%.3fx), commit %.0f MB/s, peak RSS %ld MB, private %ld MB "
			       "(chunk size 4 MiB)\n",
			       big, r.raw / 1e6, r.stored / 1e6, r.raw / r.stored,
			       r.raw / 1e6 / r.commit_s, r.rss_kb / 1024, r.anon_kb / 1024);
	}
	if (json)
		printf("}\n");
	for (size_t i = 0; i < nsteps; i++)
		free(steps[i]);
	free(steps);
	return 0;
}
