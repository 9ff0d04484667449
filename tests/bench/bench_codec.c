/*
 * bench_codec.c - the chunk codec alone (delta/ + zstd, no store) on
 * training checkpoint series, next to the reference baselines.
 *
 * Usage: bench_codec [--json] [--threads N] [--repeat R] [--synthetic]
 *                    [DIR...]
 * Each DIR holds step-* folders (default: ../shared/corpus/small). For every
 * file kind (model.safetensors, model_fp32..., optim...) found in them, the
 * tensors are cut into 4 MiB chunks like core does; step 1 is coded as a
 * keyframe, every later step against the previous one ("delta"; the encoder
 * may still choose a keyframe), and every step also as a keyframe alone
 * ("kf"). Ratios are raw bytes / coded bytes over all files of the kind,
 * each file's JSON header counted as zstd -3 of it in every column.
 * Baselines: zstd -3 of the whole file; byte planes + zstd -3 (BitX);
 * XOR with the previous step + planes + zstd -3 (deltas); planes + zstd -19;
 * the order-0 entropy of each 64 KiB block of each plane (kf: planes; delta:
 * XOR planes). Speeds are MB/s of decoded bytes, best of R runs, with 1
 * thread and with N (one z4_delta_ctx per thread); the coded bytes of both
 * runs are compared (identical: "same"). Deltas decode as a checkout
 * reads a chunk (core/chunkio.c): a chunk's steps in order, each against
 * the one decoded just before, its id known (z4_delta_decode_known: the
 * base is not hashed again; the output always is).
 * --synthetic adds generated kinds: dequantized int4 (group 128) and int8
 * (per row) weights stored as BF16, and a 0/1 mask as F32.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>

#include <zstd.h>

#include "z4_delta.h"

#define CHUNK (4u << 20)

typedef struct {
	char name[256];
	char dtype[16];
	size_t off, len; /* within the file's data */
} tensor;

typedef struct {
	uint8_t *buf; /* whole file */
	size_t len, hdr_len;
	const uint8_t *data;
	tensor *t;
	size_t nt;
} stfile;

/* A chunk job: src, optional base (same length), params; prev: the job
 * whose chunk is the base (decode chains), or NO_PREV. The ids are
 * computed before the clock runs, as a store has them before it decides
 * to encode (it keys and deduplicates chunks by them). */
typedef struct {
	const uint8_t *src, *base;
	size_t len, prev;
	unsigned elem, dtype;
	z4_id id, base_id;
	uint8_t *enc;
	size_t enc_len, enc_cap;
	int is_delta;
} job;

#define NO_PREV ((size_t)-1)

static void die(const char *m)
{
	fprintf(stderr, "bench_codec: %s\n", m);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- safetensors (enough of it: name, dtype, data_offsets) ---- */

static const char *skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* Parse a JSON string at p into out (truncated to cap); returns past it. */
static const char *jstr(char *out, size_t cap, const char *p, const char *e)
{
	size_t n = 0;
	if (p >= e || *p != '"')
		die("bad safetensors header");
	for (p++; p < e && *p != '"'; p++) {
		if (*p == '\\')
			p++;
		if (n + 1 < cap)
			out[n++] = *p;
	}
	out[n] = 0;
	return p + 1;
}

/* Skip any JSON value. */
static const char *jskip(const char *p, const char *e)
{
	char tmp[8];
	int depth = 0;
	p = skip_ws(p, e);
	if (p < e && *p == '"')
		return jstr(tmp, sizeof(tmp), p, e);
	do {
		if (p >= e)
			die("bad safetensors header");
		if (*p == '"') {
			p = jstr(tmp, sizeof(tmp), p, e);
			continue;
		}
		if (*p == '{' || *p == '[')
			depth++;
		else if (*p == '}' || *p == ']')
			depth--;
		else if (depth == 0 && (*p == ',' || *p == '}'))
			return p;
		p++;
	} while (depth > 0);
	return p;
}

static int load_st(stfile *f, const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint64_t hl;
	const char *p, *e;

	memset(f, 0, sizeof(*f));
	if (!fp)
		return -1;
	fseek(fp, 0, SEEK_END);
	f->len = (size_t)ftell(fp);
	fseek(fp, 0, SEEK_SET);
	f->buf = xmalloc(f->len);
	if (fread(f->buf, 1, f->len, fp) != f->len)
		die("read failed");
	fclose(fp);
	if (f->len < 8)
		die("short file");
	memcpy(&hl, f->buf, 8);
	if (hl > f->len - 8)
		die("bad header length");
	f->hdr_len = 8 + hl;
	f->data = f->buf + f->hdr_len;
	f->t = xmalloc(4096 * sizeof(tensor));
	p = (const char *)f->buf + 8;
	e = p + hl;
	p = skip_ws(p, e);
	if (*p++ != '{')
		die("bad header");
	for (;;) {
		tensor t;
		memset(&t, 0, sizeof(t));
		p = skip_ws(p, e);
		if (p >= e || *p == '}')
			break;
		p = jstr(t.name, sizeof(t.name), p, e);
		p = skip_ws(p, e);
		if (*p++ != ':')
			die("bad header");
		p = skip_ws(p, e);
		if (strcmp(t.name, "__metadata__") == 0 || *p != '{') {
			p = jskip(p, e);
		} else {
			uint64_t a = 0, b = 0;
			p++;
			for (;;) {
				char key[32];
				p = skip_ws(p, e);
				if (*p == '}') {
					p++;
					break;
				}
				if (*p == ',') {
					p++;
					continue;
				}
				p = jstr(key, sizeof(key), p, e);
				p = skip_ws(p, e);
				p++; /* : */
				p = skip_ws(p, e);
				if (!strcmp(key, "dtype")) {
					p = jstr(t.dtype, sizeof(t.dtype), p, e);
				} else if (!strcmp(key, "data_offsets")) {
					char *q;
					a = strtoull(p + 1, &q, 10);
					while (*q == ',' || *q == ' ')
						q++;
					b = strtoull(q, &q, 10);
					p = jskip(p, e);
				} else {
					p = jskip(p, e);
				}
			}
			if (b < a || b > f->len - f->hdr_len)
				die("bad offsets");
			t.off = a;
			t.len = b - a;
			if (f->nt < 4096)
				f->t[f->nt++] = t;
		}
		p = skip_ws(p, e);
		if (p < e && *p == ',')
			p++;
	}
	return 0;
}

static const tensor *find_tensor(const stfile *f, const char *name)
{
	for (size_t i = 0; i < f->nt; i++)
		if (!strcmp(f->t[i].name, name))
			return &f->t[i];
	return NULL;
}

/* ---- baselines ---- */

static size_t zstd_len(const uint8_t *p, size_t n, int level)
{
	static uint8_t *out;
	static size_t cap;
	size_t b = ZSTD_compressBound(n), r;
	if (b > cap) {
		free(out);
		out = xmalloc(b);
		cap = b;
	}
	r = ZSTD_compress(out, b, p, n, level);
	if (ZSTD_isError(r))
		die("zstd failed");
	return r < n ? r : n;
}

/* Planes of x (optionally XORed with b) into pl (n bytes). */
static void planes(uint8_t *pl, const uint8_t *x, const uint8_t *b, size_t n,
		   unsigned e)
{
	size_t m = n / e;
	for (size_t i = 0; i < m; i++)
		for (unsigned k = 0; k < e; k++)
			pl[k * m + i] = x[i * e + k] ^ (b ? b[i * e + k] : 0);
}

static double o0_bits(const uint8_t *p, size_t n)
{
	double bits = 0;
	for (size_t o = 0; o < n; o += 65536) {
		size_t bn = n - o < 65536 ? n - o : 65536;
		uint32_t h[256] = {0};
		for (size_t i = 0; i < bn; i++)
			h[p[o + i]]++;
		for (int s = 0; s < 256; s++)
			if (h[s])
				bits -= h[s] * log2((double)h[s] / bn);
	}
	return bits;
}

/* Sizes of one tensor under the plane baselines. */
static void plane_baselines(double out[3], const uint8_t *x, const uint8_t *b,
			    size_t n, unsigned e, int do19)
{
	uint8_t *pl = xmalloc(n);
	size_t m = n / e;
	planes(pl, x, b, n, e);
	out[0] = out[1] = out[2] = 0;
	for (unsigned k = 0; k < e; k++) {
		out[0] += zstd_len(pl + k * m, m, 3);
		if (do19)
			out[1] += zstd_len(pl + k * m, m, 19);
		out[2] += o0_bits(pl + k * m, m) / 8;
	}
	free(pl);
}

/* ---- running the codec ---- */

/*
 * A pool runs units: a unit is jobs order[start[u] .. start[u + 1]). To
 * encode, or to decode keyframes, a unit is one job. Deltas decode as a
 * checkout reads a chunk (core/chunkio.c): a unit is a chunk's chain of
 * steps, each decoded into one of two buffers against the one before
 * (just decoded, its id known: not hashed again; the output always is).
 */
typedef struct {
	job *jobs;
	const size_t *order, *start;
	size_t n;
	size_t next;
	pthread_mutex_t mu;
	int decode;
} pool;

static void run_unit(z4_delta_ctx *ctx, const pool *p, size_t u,
		     uint8_t *buf[2])
{
	const uint8_t *prev = NULL;

	for (size_t i = p->start[u]; i < p->start[u + 1]; i++) {
		job *j = &p->jobs[p->order[i]];
		uint8_t *out = buf[i % 2];
		if (!p->decode) {
			z4_delta_params par = {.elem_size = j->elem,
					       .dtype = j->dtype,
					       .id = &j->id};
			z4_delta_info info;
			if (j->base) {
				par.base = j->base;
				par.base_id = &j->base_id;
			}
			if (z4_delta_encode(&j->enc_len, NULL, j->enc,
					    j->enc_cap, ctx, j->src, j->len,
					    &par) != Z4_OK)
				die("encode failed");
			z4_delta_info_read(&info, j->enc, j->enc_len);
			j->is_delta = info.is_delta;
			continue;
		}
		if (!prev)
			prev = j->base;
		if (z4_delta_decode_known(out, j->len, ctx, j->enc, j->enc_len,
					  prev, prev ? &j->base_id : NULL) !=
		    Z4_OK)
			die("decode failed");
		prev = out;
	}
}

static void *worker(void *arg)
{
	pool *p = arg;
	z4_delta_ctx *ctx = z4_delta_ctx_new();
	uint8_t *buf[2] = {xmalloc(CHUNK), xmalloc(CHUNK)};
	if (!ctx)
		die("ctx");
	for (;;) {
		size_t u;
		pthread_mutex_lock(&p->mu);
		u = p->next++;
		pthread_mutex_unlock(&p->mu);
		if (u >= p->n)
			break;
		run_unit(ctx, p, u, buf);
	}
	free(buf[0]);
	free(buf[1]);
	z4_delta_ctx_free(ctx);
	return NULL;
}

/* Seconds to run units [u0, u1) of order/start on `threads` threads. */
static double run_pool(job *jobs, const size_t *order, const size_t *start,
		       size_t u0, size_t u1, int threads, int decode)
{
	pool p = {.jobs = jobs, .order = order, .start = start + u0,
		  .n = u1 - u0, .decode = decode};
	pthread_t th[64];
	double t0;
	pthread_mutex_init(&p.mu, NULL);
	t0 = now();
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker, &p);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.mu);
	return now() - t0;
}

/* The units of jobs [0, nj): singles (order = start = 0, 1, .. nj), and
 * chains: jobs [0, nk) alone, then each delta job's chain from the first
 * whose base is no job's (start2[0 .. *n_units]). */
static void make_units(size_t **single, size_t **order, size_t **start2,
		       size_t *n_units, const job *jobs, size_t nj, size_t nk)
{
	size_t *next = xmalloc((nj + 1) * sizeof(size_t)), k = 0, u = 0;
	*single = xmalloc((nj + 1) * sizeof(size_t));
	*order = xmalloc((nj + 1) * sizeof(size_t));
	*start2 = xmalloc((nj + 1) * sizeof(size_t));
	for (size_t i = 0; i <= nj; i++) {
		(*single)[i] = i;
		next[i] = NO_PREV;
	}
	for (size_t i = nk; i < nj; i++)
		if (jobs[i].prev != NO_PREV)
			next[jobs[i].prev] = i;
	for (size_t i = 0; i < nj; i++) {
		if (i >= nk && jobs[i].prev != NO_PREV)
			continue;
		(*start2)[u++] = k;
		(*order)[k++] = i;
		if (i < nk)
			continue;
		for (size_t j = next[i]; j != NO_PREV; j = next[j])
			(*order)[k++] = j;
	}
	(*start2)[u] = k;
	*n_units = u;
	free(next);
}

/* ---- one kind of file across a series ---- */

typedef struct {
	char label[96];
	double raw_kf, raw_d;          /* bytes */
	double ours_kf, ours_d;        /* coded bytes */
	double zstd3_kf, bitx_kf, p19_kf, floor_kf;
	double bitx_d, floor_d;
	double enc1, dec1, encN, decN; /* MB/s, over kf + delta jobs */
	double enc_kf, dec_kf, enc_d, dec_d; /* MB/s, 1 thread, each alone */
	int same;
	size_t n_delta_chunks, n_delta_kept;
} result;

/* The jobs of a tensor's chunks; a base chunk that is the source of one
 * of jobs [lo, hi) (the previous step's deltas) is that job's output. */
static void add_jobs(job **jobs, size_t *nj, size_t *cap, const uint8_t *src,
		     const uint8_t *base, size_t len, const char *dtype,
		     size_t lo, size_t hi)
{
	unsigned e = z4_delta_elem_size(dtype);
	if (len % e)
		e = 1;
	for (size_t o = 0; o < len; o += CHUNK) {
		size_t n = len - o < CHUNK ? len - o : CHUNK;
		job j;
		memset(&j, 0, sizeof(j));
		j.src = src + o;
		j.base = base ? base + o : NULL;
		j.len = n;
		j.prev = NO_PREV;
		for (size_t i = lo; i < hi && j.base; i++)
			if ((*jobs)[i].src == j.base && (*jobs)[i].len == n)
				j.prev = i;
		j.elem = e;
		j.dtype = z4_delta_dtype(dtype);
		z4_delta_id(&j.id, j.src, n);
		if (base)
			z4_delta_id(&j.base_id, j.base, n);
		j.enc_cap = z4_delta_bound(n, e);
		j.enc = xmalloc(j.enc_cap);
		if (*nj == *cap) {
			*cap = *cap ? 2 * *cap : 256;
			*jobs = realloc(*jobs, *cap * sizeof(job));
			if (!*jobs)
				die("oom");
		}
		(*jobs)[(*nj)++] = j;
	}
}

static void bench_kind(result *r, stfile *files, size_t nf, int threads,
		       int repeat)
{
	job *jobs = NULL;
	size_t nj = 0, cap = 0, n_kf_jobs, prev_lo = 0, prev_hi = 0;
	size_t *single, *order, *start, n_units;
	double raw_all = 0;
	uint64_t h1 = 0;

	/* Keyframe jobs for every step, then delta jobs for steps 2..n. */
	for (size_t s = 0; s < nf; s++) {
		stfile *f = &files[s];
		double hz = zstd_len(f->buf + 8, f->hdr_len - 8, 3) + 8;
		r->raw_kf += f->len;
		r->zstd3_kf += zstd_len(f->buf, f->len, 3);
		r->ours_kf += hz;
		r->bitx_kf += hz;
		r->p19_kf += hz;
		r->floor_kf += hz;
		for (size_t i = 0; i < f->nt; i++) {
			const tensor *t = &f->t[i];
			unsigned e = z4_delta_elem_size(t->dtype);
			double b[3];
			if (t->len % e)
				e = 1;
			plane_baselines(b, f->data + t->off, NULL, t->len, e, 1);
			r->bitx_kf += b[0];
			r->p19_kf += b[1];
			r->floor_kf += b[2];
			add_jobs(&jobs, &nj, &cap, f->data + t->off, NULL,
				 t->len, t->dtype, 0, 0);
		}
	}
	n_kf_jobs = nj;
	for (size_t s = 1; s < nf; s++) {
		stfile *f = &files[s], *pf = &files[s - 1];
		size_t step_lo = nj;
		double hz = zstd_len(f->buf + 8, f->hdr_len - 8, 3) + 8;
		r->raw_d += f->len;
		r->ours_d += hz;
		r->bitx_d += hz;
		r->floor_d += hz;
		for (size_t i = 0; i < f->nt; i++) {
			const tensor *t = &f->t[i];
			const tensor *pt = find_tensor(pf, t->name);
			const uint8_t *base = NULL;
			unsigned e = z4_delta_elem_size(t->dtype);
			double b[3];
			if (t->len % e)
				e = 1;
			if (pt && pt->len == t->len &&
			    !strcmp(pt->dtype, t->dtype))
				base = pf->data + pt->off;
			plane_baselines(b, f->data + t->off, base, t->len, e,
					0);
			r->bitx_d += b[0];
			r->floor_d += b[2];
			add_jobs(&jobs, &nj, &cap, f->data + t->off, base,
				 t->len, t->dtype, prev_lo, prev_hi);
		}
		prev_lo = step_lo;
		prev_hi = nj;
	}
	make_units(&single, &order, &start, &n_units, jobs, nj, n_kf_jobs);
	for (size_t i = 0; i < nj; i++)
		raw_all += jobs[i].len;
	/* Keyframe and delta jobs apart, one thread (the acceptance figures
	 * are per core and per kind of chunk). */
	{
		double raw_kf = 0, b[4] = {1e30, 1e30, 1e30, 1e30};
		for (size_t i = 0; i < n_kf_jobs; i++)
			raw_kf += jobs[i].len;
		for (int k = 0; k < repeat; k++) {
			double t[4];
			t[0] = run_pool(jobs, single, single, 0, n_kf_jobs, 1,
					0);
			t[1] = run_pool(jobs, single, single, 0, n_kf_jobs, 1,
					1);
			t[2] = run_pool(jobs, single, single, n_kf_jobs, nj, 1,
					0);
			t[3] = run_pool(jobs, order, start, n_kf_jobs, n_units,
					1, 1);
			for (int i = 0; i < 4; i++)
				b[i] = t[i] < b[i] ? t[i] : b[i];
		}
		r->enc_kf = raw_kf / b[0] / 1e6;
		r->dec_kf = raw_kf / b[1] / 1e6;
		r->enc_d = nj > n_kf_jobs ? (raw_all - raw_kf) / b[2] / 1e6 : 0;
		r->dec_d = nj > n_kf_jobs ? (raw_all - raw_kf) / b[3] / 1e6 : 0;
	}

	r->enc1 = r->dec1 = r->encN = r->decN = 0;
	r->same = 1;
	for (int pass = 0; pass < 2; pass++) {
		int th = pass == 0 ? 1 : threads;
		double be = 1e30, bd = 1e30;
		for (int k = 0; k < repeat; k++) {
			double te = run_pool(jobs, single, single, 0, nj, th,
					     0);
			double td = run_pool(jobs, order, start, 0, n_units,
					     th, 1);
			be = te < be ? te : be;
			bd = td < bd ? td : bd;
		}
		uint64_t h = 1469598103934665603ull;
		for (size_t i = 0; i < nj; i++)
			for (size_t b = 0; b < jobs[i].enc_len; b++)
				h = (h ^ jobs[i].enc[b]) * 1099511628211ull;
		if (pass == 0) {
			h1 = h;
			r->enc1 = raw_all / be / 1e6;
			r->dec1 = raw_all / bd / 1e6;
		} else {
			r->same = h == h1;
			r->encN = raw_all / be / 1e6;
			r->decN = raw_all / bd / 1e6;
		}
	}
	for (size_t i = 0; i < nj; i++) {
		if (i < n_kf_jobs) {
			r->ours_kf += jobs[i].enc_len;
		} else {
			r->ours_d += jobs[i].enc_len;
			r->n_delta_chunks++;
			r->n_delta_kept += jobs[i].is_delta;
		}
		free(jobs[i].enc);
	}
	free(jobs);
	free(single);
	free(order);
	free(start);
}

/* ---- synthetic kinds ---- */

static uint64_t rng(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double gauss(uint64_t *s)
{
	double u = ((rng(s) >> 11) + 0.5) / 9007199254740992.0;
	double v = ((rng(s) >> 11) + 0.5) / 9007199254740992.0;
	return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static uint16_t bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	u += 0x7fff + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

/* A one-tensor safetensors file in memory. kind: 0 int4 g128 as bf16,
 * 1 int8 per-row as bf16, 2 mask as f32. */
static void synth(stfile *f, int kind, uint64_t seed)
{
	const size_t rows = 1024, cols = 2048, n = rows * cols;
	const char *dt = kind == 2 ? "F32" : "BF16";
	size_t es = kind == 2 ? 4 : 2, len = n * es;
	char hdr[256];
	int hl = snprintf(hdr, sizeof(hdr),
			  "{\"w\":{\"dtype\":\"%s\",\"shape\":[%zu,%zu],"
			  "\"data_offsets\":[0,%zu]}}",
			  dt, rows, cols, len);
	uint64_t h64 = (uint64_t)hl;
	memset(f, 0, sizeof(*f));
	f->len = 8 + (size_t)hl + len;
	f->buf = xmalloc(f->len);
	memcpy(f->buf, &h64, 8);
	memcpy(f->buf + 8, hdr, (size_t)hl);
	f->hdr_len = 8 + (size_t)hl;
	f->data = f->buf + f->hdr_len;
	f->t = xmalloc(sizeof(tensor));
	f->nt = 1;
	snprintf(f->t[0].name, sizeof(f->t[0].name), "w");
	snprintf(f->t[0].dtype, sizeof(f->t[0].dtype), "%s", dt);
	f->t[0].off = 0;
	f->t[0].len = len;
	uint8_t *d = f->buf + f->hdr_len;
	for (size_t r = 0; r < rows; r++) {
		float scale = 0;
		for (size_t c = 0; c < cols; c++) {
			size_t i = r * cols + c;
			if (kind == 0 && c % 128 == 0)
				scale = (float)(0.02 * (0.5 + (rng(&seed) >> 11) /
							9007199254740992.0) / 7);
			if (kind == 1 && c == 0)
				scale = (float)(0.02 * (0.5 + (rng(&seed) >> 11) /
							9007199254740992.0) / 127);
			if (kind == 2) {
				float v = (rng(&seed) & 3) ? 1.0f : 0.0f;
				memcpy(d + 4 * i, &v, 4);
				continue;
			}
			double g = gauss(&seed) * (kind == 0 ? 2.5 : 40);
			long q = lround(g);
			long lo = kind == 0 ? -8 : -128, hi = kind == 0 ? 7 : 127;
			q = q < lo ? lo : q > hi ? hi : q;
			uint16_t v = bf16((float)q * scale);
			memcpy(d + 2 * i, &v, 2);
		}
	}
}

/* ---- main ---- */

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_row(const result *r, int json, int first)
{
	if (json) {
		printf("%s    {\"kind\": \"%s\", \"raw_kf\": %.0f, \"raw_delta\": %.0f,\n"
		       "     \"ours_kf\": %.4f, \"ours_delta\": %.4f,\n"
		       "     \"zstd3_file\": %.4f, \"bitx_kf\": %.4f, \"planes_zstd19\": %.4f,"
		       " \"floor_o0_kf\": %.4f,\n"
		       "     \"bitx_delta\": %.4f, \"floor_o0_delta\": %.4f,\n"
		       "     \"enc_mbs_1t\": %.1f, \"dec_mbs_1t\": %.1f, \"enc_mbs_nt\": %.1f,"
		       " \"dec_mbs_nt\": %.1f, \"same_output\": %s,\n"
		       "     \"enc_mbs_1t_kf\": %.1f, \"dec_mbs_1t_kf\": %.1f,"
		       " \"enc_mbs_1t_delta\": %.1f, \"dec_mbs_1t_delta\": %.1f,\n"
		       "     \"delta_chunks\": %zu, \"delta_kept\": %zu}",
		       first ? "" : ",\n", r->label, r->raw_kf, r->raw_d,
		       r->raw_kf / r->ours_kf,
		       r->raw_d ? r->raw_d / r->ours_d : 0,
		       r->raw_kf / r->zstd3_kf, r->raw_kf / r->bitx_kf,
		       r->raw_kf / r->p19_kf, r->raw_kf / r->floor_kf,
		       r->raw_d ? r->raw_d / r->bitx_d : 0,
		       r->raw_d ? r->raw_d / r->floor_d : 0, r->enc1, r->dec1,
		       r->encN, r->decN, r->same ? "true" : "false",
		       r->enc_kf, r->dec_kf, r->enc_d, r->dec_d,
		       r->n_delta_chunks, r->n_delta_kept);
		return;
	}
	printf("%-34s %6.3f %6.3f %6.3f %6.3f | %6.3f %6.3f %6.3f | %6.0f %6.0f %6.0f %6.0f %s\n",
	       r->label, r->raw_kf / r->ours_kf, r->raw_kf / r->zstd3_kf,
	       r->raw_kf / r->bitx_kf, r->raw_kf / r->p19_kf,
	       r->raw_d ? r->raw_d / r->ours_d : 0,
	       r->raw_d ? r->raw_d / r->bitx_d : 0,
	       r->raw_d ? r->raw_d / r->floor_d : 0, r->enc1, r->dec1,
	       r->encN, r->decN, r->same ? "same" : "DIFF");
	printf("%-34s %6.3f (o0 floor kf)   1 thread, MB/s: kf %.0f / %.0f,"
	       " delta %.0f / %.0f (enc / dec)\n",
	       "", r->raw_kf / r->floor_kf, r->enc_kf, r->dec_kf, r->enc_d,
	       r->dec_d);
}

int main(int argc, char **argv)
{
	static const char *kinds[] = {"model.safetensors",
				      "model_fp32.safetensors",
				      "optim.safetensors"};
	const char *dirs[32];
	int nd = 0, json = 0, threads = 2, repeat = 3, synthetic = 0;
	result res[128];
	int nr = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--synthetic"))
			synthetic = 1;
		else if (argv[i][0] == '-') {
			fprintf(stderr, "usage: bench_codec [--json] [--threads N] "
					"[--repeat R] [--synthetic] [DIR...]\n");
			return 129;
		} else if (nd < 32)
			dirs[nd++] = argv[i];
	}
	if (threads < 1 || threads > 64 || repeat < 1)
		die("bad --threads or --repeat");
	if (!nd && !synthetic)
		dirs[nd++] = Z4_CORPUS_DIR "/small";

	for (int d = 0; d < nd; d++) {
		DIR *dp = opendir(dirs[d]);
		struct dirent *de;
		char *steps[4096];
		size_t ns = 0;
		if (!dp) {
			fprintf(stderr, "bench_codec: %s: %s\n", dirs[d],
				strerror(errno));
			return 1;
		}
		while ((de = readdir(dp)) && ns < 4096)
			if (!strncmp(de->d_name, "step-", 5))
				steps[ns++] = strdup(de->d_name);
		closedir(dp);
		qsort(steps, ns, sizeof(char *), cmpstr);
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			stfile *files = xmalloc(ns * sizeof(stfile));
			size_t nf = 0;
			for (size_t s = 0; s < ns; s++) {
				char path[4096];
				snprintf(path, sizeof(path), "%s/%s/%s", dirs[d],
					 steps[s], kinds[k]);
				if (load_st(&files[nf], path) == 0)
					nf++;
			}
			if (nf) {
				result *r = &res[nr++];
				memset(r, 0, sizeof(*r));
				const char *base = strrchr(dirs[d], '/');
				snprintf(r->label, sizeof(r->label), "%s/%s",
					 base ? base + 1 : dirs[d], kinds[k]);
				bench_kind(r, files, nf, threads, repeat);
			}
			for (size_t s = 0; s < nf; s++) {
				free(files[s].buf);
				free(files[s].t);
			}
			free(files);
		}
		for (size_t s = 0; s < ns; s++)
			free(steps[s]);
	}
	if (synthetic) {
		static const char *names[] = {"synthetic/int4-g128-as-bf16",
					      "synthetic/int8-row-as-bf16",
					      "synthetic/mask-as-f32"};
		for (int k = 0; k < 3; k++) {
			stfile f[2];
			synth(&f[0], k, 100 + (uint64_t)k);
			synth(&f[1], k, 200 + (uint64_t)k);
			result *r = &res[nr++];
			memset(r, 0, sizeof(*r));
			snprintf(r->label, sizeof(r->label), "%s", names[k]);
			bench_kind(r, f, 2, threads, repeat);
			for (int s = 0; s < 2; s++) {
				free(f[s].buf);
				free(f[s].t);
			}
		}
	}
	if (json) {
		printf("{\"threads\": %d, \"repeat\": %d, \"kinds\": [\n", threads,
		       repeat);
		for (int i = 0; i < nr; i++)
			print_row(&res[i], 1, i == 0);
		printf("\n]}\n");
	} else {
		printf("ratios (raw/coded); kf = every step alone, delta = steps 2.. vs previous;"
		       " speeds MB/s decoded bytes, 1 thread / %d threads\n",
		       threads);
		printf("%-34s %6s %6s %6s %6s | %6s %6s %6s | %6s %6s %6s %6s %s\n",
		       "kind", "ours", "zstd3", "BitX", "pl+19", "ours-d",
		       "BitX-d", "floor-d", "enc1", "dec1", "encN", "decN",
		       "threads");
		for (int i = 0; i < nr; i++)
			print_row(&res[i], 0, 0);
	}
	return 0;
}
