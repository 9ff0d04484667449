/* z4gen.c - synthetic training-checkpoint series in safetensors format.
 *
 * The demo, tests and benchmarks need checkpoint series whose successive
 * steps relate the way real training checkpoints do (small, lr-sized weight
 * updates; drifting Adam moments), so that delta compression behaves as it
 * would on real data, but with no network and no Python.  The real series in
 * shared/corpus/small/ (a tiny GPT-2 trained with PyTorch) is the reference
 * this program is tuned against.
 *
 * Series mode (--out DIR) simulates AdamW on a GPT-2-shaped parameter set.
 * There is no forward pass: each step draws a pseudo-gradient per element,
 *     g = gscale[i] * G(t) * (snr * a(t) * dir[i] + noise),
 * where dir is a fixed random direction (with a per-kind mean, so LayerNorm
 * gains drift the way real ones do), a(t) decays and G(t) grows over the run
 * (real gradients turn noise-dominated as the loss plateaus), noise is N(0,1)
 * with 1 draw in 16 four times larger (real gradient noise is heavy-tailed,
 * which keeps |exp_avg|/sqrt(exp_avg_sq) and so the updates small), and gscale
 * carries the row/column structure of real gradients (log-normal row and
 * column factors; tiny q/k rows in c_attn; a vanishing k-bias gradient,
 * whose real counterpart is zero by softmax shift invariance).  The Adam
 * update is scale-free, so lr alone sets the step size; the defaults (peak
 * 3e-4, 100 warmup steps, cosine to lr/10) are those of the real corpus
 * (its betas are (0.9, 0.95); ours default to torch's (0.9, 0.999), --beta2
 * changes it; the figures barely move).
 *
 * Big mode (--big-mb N --out FILE) writes one BF16 file of N MiB for
 * benchmarks, streaming, with values in closed form at checkpoint K:
 *     w_K = w0 * decay_K + P_K * p + J_K * e_K
 * w0 the N(0, 0.02) init, p a fixed direction (the persistent drift), e_K
 * fresh noise seeded by K standing in for the recent random-walk updates.
 * K and K+1 then differ by about what 50 AdamW steps change in series mode,
 * for one 64-bit random draw per value, whatever K is.
 *
 * Invariants:
 *  - The same arguments give byte-identical files: one thread, sequential
 *    RNG streams in a fixed order, no clock.  Only + - * / and sqrt (exactly
 *    rounded by IEEE 754) touch the data; exp and cos come from the series
 *    below, not libm, so another libc gives the same bits.  FMA contraction
 *    would change them: the pragmas below turn it off, and the CMake target
 *    also passes -ffp-contract=off.
 *  - Safetensors laid out like the corpus's files: u64 LE header length,
 *    compact JSON header (tensors in a fixed order, then __metadata__),
 *    padded with spaces to a multiple of 8; data_offsets contiguous in
 *    header order; little-endian data.
 *  - BF16 is the round-to-nearest-even of the F32 master bits; NaN stays NaN.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

/* no FMA contraction (it changes the bits; see the invariants) */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define PROG "z4gen"
#define EXIT_USAGE 129

/* ------------------------------------------------------------------------ */
/* errors and small helpers */

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

/* Round-to-nearest-even to bf16 (what torch's .to(torch.bfloat16) does);
 * NaN is kept NaN (quiet bit set, sign kept) instead of rounding to Inf. */
static uint16_t f32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);

	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x0040u);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

/* ------------------------------------------------------------------------ */
/* libm-free transcendentals (see the invariants above) */

/* exp(x) for |x| < 700: x = k ln2 + r, |r| <= ln2/2, Taylor series of r;
 * floor and ldexp are exact, so the result is the same on every libc. */
static double det_exp(double x)
{
	double k = floor(x * 1.4426950408889634 + 0.5);
	double r = x - k * 0.6931471803691238 - k * 1.9082149292705877e-10;
	double s = 1.0, term = 1.0;
	int i;

	for (i = 1; i < 24; i++) {
		term = term * r / i;
		s += term;
	}
	return ldexp(s, (int)k);
}

/* cos(x) for |x| <= 4 by its Taylor series (enough terms for 1e-16). */
static double det_cos(double x)
{
	double x2 = x * x, s = 1.0, term = 1.0;
	int i;

	for (i = 1; i < 30; i++) {
		term = -term * x2 / ((2.0 * i - 1.0) * (2.0 * i));
		s += term;
	}
	return s;
}

/* ------------------------------------------------------------------------ */
/* random numbers: xoshiro256++ streams keyed by splitmix64 */

typedef struct {
	uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A stream for (seed, a, b, c): distinct keys give unrelated streams. */
static void rng_seed(rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t x = seed;
	int i;

	x = splitmix64(&x) ^ a;
	x = splitmix64(&x) ^ b;
	x = splitmix64(&x) ^ c;
	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl64(s[0] + s[3], 23) + s[0];
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return out;
}

/* splitmix64 as a stream: one add per draw carries the dependency, the
 * mixing runs in parallel, so several streams interleave well (big mode).
 * A stream is a random 64-bit start on the same Weyl sequence; streams of
 * up to 2^34 draws overlap with negligible probability. */
typedef struct {
	uint64_t x;
} sm;

static void sm_seed(sm *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	rng t;

	rng_seed(&t, seed, a, b, c);
	r->x = t.s[0];
}

static inline uint64_t sm_next(sm *r)
{
	uint64_t z = (r->x += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* N(0,1) from 32 random bits by table: the top 10 bits pick one of 1024
 * equal-probability bins, the low 22 interpolate linearly between the bin's
 * quantiles.  Tails stop at 3.8 sigma (the outer bins end at the
 * 1/16384 quantile); otherwise it is a gaussian to well within 1e-3, for a
 * load and a multiply-add, and one 64-bit draw gives two. */
#define NT_BITS 10
#define NT_SIZE (1 << NT_BITS)
#define NT_FRAC_BITS (32 - NT_BITS)

static float nt_base[NT_SIZE], nt_slope[NT_SIZE], nt_slope16[NT_SIZE];

/* Fills the table from the density alone (det_exp, trapezoid rule on a
 * 1/1024 grid, inverted by linear interpolation), so it is the same on
 * every machine. */
static void normal_table_init(void)
{
	const double h = 1.0 / 1024, inv_sqrt_2pi = 0.3989422804014327;
	double q[NT_SIZE + 1], x = -8.0, cdf = 0.0;
	double pdf = inv_sqrt_2pi * det_exp(-0.5 * x * x);
	int k = 0, i;

	/* targets: the tail point 1/(16 NT_SIZE), then k / NT_SIZE */
	while (k <= NT_SIZE / 2) {
		double target = k ? (double)k / NT_SIZE : 1.0 / (16.0 * NT_SIZE);
		double nx = x + h;
		double npdf = inv_sqrt_2pi * det_exp(-0.5 * nx * nx);
		double ncdf = cdf + 0.5 * h * (pdf + npdf);

		while (k <= NT_SIZE / 2 && ncdf >= target) {
			q[k] = x + h * (target - cdf) / (ncdf - cdf);
			k++;
			target = (double)k / NT_SIZE;
		}
		x = nx;
		pdf = npdf;
		cdf = ncdf;
	}
	q[NT_SIZE / 2] = 0.0;
	for (i = 0; i < NT_SIZE / 2; i++)
		q[NT_SIZE - i] = -q[i];
	for (i = 0; i < NT_SIZE; i++) {
		nt_base[i] = (float)q[i];
		nt_slope[i] = (float)((q[i + 1] - q[i]) /
				      (double)(1u << NT_FRAC_BITS));
		nt_slope16[i] = (float)((q[i + 1] - q[i]) /
					(double)(1u << (16 - NT_BITS)));
	}
}

static inline float gauss32(uint32_t v)
{
	uint32_t i = v >> NT_FRAC_BITS;

	return nt_base[i] +
	       (float)(v & ((1u << NT_FRAC_BITS) - 1)) * nt_slope[i];
}

/* The same from 16 bits (64 steps per bin): good enough for the small
 * drift terms of big mode, at half the random bits. */
static inline float gauss16(uint32_t v)
{
	uint32_t i = (v >> (16 - NT_BITS)) & (NT_SIZE - 1);

	return nt_base[i] +
	       (float)(v & ((1u << (16 - NT_BITS)) - 1)) * nt_slope16[i];
}

static inline float gauss(rng *r)
{
	return gauss32((uint32_t)(rng_next(r) >> 32));
}

/* ------------------------------------------------------------------------ */
/* growable string (JSON headers) */

typedef struct {
	char *p;
	size_t len, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		b->p = realloc(b->p, ncap);
		if (!b->p)
			die("out of memory");
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		die("internal: formatted string too long");
	sb_put(b, tmp, (size_t)n);
}

/* A JSON string literal (our strings are ASCII; escape what JSON needs). */
static void sb_json_str(sbuf *b, const char *s)
{
	sb_puts(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			sb_printf(b, "\\%c", c);
		else if (c < 0x20)
			sb_printf(b, "\\u%04x", c);
		else
			sb_put(b, (const char *)&c, 1);
	}
	sb_puts(b, "\"");
}

/* Shortest "%.*g" that reads back as x: Python's repr() for the values we
 * print (lr, eps), so the lr string changes length over steps like torch's. */
static void fmt_double(char *buf, size_t n, double x)
{
	int prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, x);
		if (strtod(buf, NULL) == x)
			return;
	}
}

/* ------------------------------------------------------------------------ */
/* safetensors writer */

enum { DT_F32, DT_BF16 };

struct st_tensor {
	char name[128];
	int dtype;
	int ndim;
	uint64_t shape[2];
	uint64_t n; /* elements */
};

struct kv {
	const char *key;
	const char *val;
};

/* Produces the next `count` float values of tensor `ti`, `first` being the
 * index of the first one; the writer asks for each tensor in order, front
 * to back, so a generator may keep sequential state. */
typedef void (*fill_fn)(void *ctx, size_t ti, uint64_t first, size_t count,
			float *out);

#define CHUNK_ELEMS ((size_t)1 << 16)

/* Writes PATH.tmp then renames it over PATH (a PATH that exists and is not
 * a regular file is written directly); dies on any I/O error. */
static void st_write(const char *path, const struct st_tensor *t, size_t nt,
		     const struct kv *meta, size_t nmeta, fill_fn fill,
		     void *ctx)
{
	static float fbuf[CHUNK_ELEMS];
	static uint8_t obuf[CHUNK_ELEMS * 4];
	char tmp[4096];
	sbuf h = { 0 };
	uint64_t off = 0;
	uint8_t len8[8];
	struct stat sb;
	size_t i, j;
	int direct;
	FILE *f;

	sb_puts(&h, "{");
	for (i = 0; i < nt; i++) {
		uint64_t bytes = t[i].n * (t[i].dtype == DT_BF16 ? 2 : 4);

		if (i)
			sb_puts(&h, ",");
		sb_json_str(&h, t[i].name);
		sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[",
			  t[i].dtype == DT_BF16 ? "BF16" : "F32");
		for (j = 0; j < (size_t)t[i].ndim; j++)
			sb_printf(&h, "%s%llu", j ? "," : "",
				  (unsigned long long)t[i].shape[j]);
		sb_printf(&h, "],\"data_offsets\":[%llu,%llu]}",
			  (unsigned long long)off,
			  (unsigned long long)(off + bytes));
		off += bytes;
	}
	if (nmeta) {
		sb_puts(&h, nt ? ",\"__metadata__\":{" : "\"__metadata__\":{");
		for (i = 0; i < nmeta; i++) {
			if (i)
				sb_puts(&h, ",");
			sb_json_str(&h, meta[i].key);
			sb_puts(&h, ":");
			sb_json_str(&h, meta[i].val);
		}
		sb_puts(&h, "}");
	}
	sb_puts(&h, "}");
	while (h.len % 8)
		sb_puts(&h, " ");

	/* a device or pipe (/dev/null for benchmarks) is written in place:
	 * renaming a temp file over it would replace the device */
	direct = stat(path, &sb) == 0 && !S_ISREG(sb.st_mode);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s%s", path,
			     direct ? "" : ".tmp") >= sizeof(tmp))
		die("'%s': path too long", path);
	f = fopen(tmp, "wb");
	if (!f)
		die("open '%s': %s", tmp, strerror(errno));
	put_le64(len8, h.len);
	if (fwrite(len8, 1, 8, f) != 8 || fwrite(h.p, 1, h.len, f) != h.len)
		goto ioerr;
	for (i = 0; i < nt; i++) {
		uint64_t pos = 0;

		while (pos < t[i].n) {
			size_t cnt = t[i].n - pos < CHUNK_ELEMS ?
					     (size_t)(t[i].n - pos) :
					     CHUNK_ELEMS;
			size_t nb;

			fill(ctx, i, pos, cnt, fbuf);
			if (t[i].dtype == DT_BF16) {
				for (j = 0; j < cnt; j++)
					put_le16(obuf + 2 * j,
						 f32_to_bf16(fbuf[j]));
				nb = 2 * cnt;
			} else {
				for (j = 0; j < cnt; j++)
					put_le32(obuf + 4 * j,
						 f32_bits(fbuf[j]));
				nb = 4 * cnt;
			}
			if (fwrite(obuf, 1, nb, f) != nb)
				goto ioerr;
			pos += cnt;
		}
	}
	if (fclose(f) != 0) {
		f = NULL;
		goto ioerr;
	}
	if (!direct && rename(tmp, path) != 0)
		die("rename '%s': %s", tmp, strerror(errno));
	free(h.p);
	return;
ioerr:
	die("write '%s': %s", tmp, strerror(errno));
}

static void write_text(const char *path, const char *text)
{
	char tmp[4096];
	size_t n = strlen(text);
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		die("'%s': path too long", path);
	f = fopen(tmp, "wb");
	if (!f)
		die("open '%s': %s", tmp, strerror(errno));
	if (fwrite(text, 1, n, f) != n || fclose(f) != 0)
		die("write '%s': %s", tmp, strerror(errno));
	if (rename(tmp, path) != 0)
		die("rename '%s': %s", tmp, strerror(errno));
}

/* mkdir -p */
static void make_dirs(const char *path)
{
	char buf[4096];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		die("'%s': bad path", path);
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			die("mkdir '%s': %s", buf, strerror(errno));
		buf[i] = path[i];
	}
}

/* ------------------------------------------------------------------------ */
/* series mode: the model and its simulated training */

struct opts {
	const char *out;
	long steps, every, layers, d, vocab, ctx, warmup;
	uint64_t seed;
	double lr, beta2;
	int init;
	long big_mb, big_step;
};

enum init_kind { INIT_NORMAL, INIT_ONES, INIT_ZEROS };

/* How one kind of tensor is initialised and what its gradient looks like.
 * gscale and snr follow the real corpus's Adam state: sqrt(exp_avg_sq) and
 * |exp_avg|/sqrt(exp_avg_sq) per tensor kind (embeddings and the final
 * LayerNorm get a strong persistent signal, the rest is noise-dominated). */
struct kind {
	enum init_kind init;
	int resid;       /* init std 0.02 / sqrt(2 layers), as GPT-2 */
	float gscale;    /* gradient magnitude */
	float snr;       /* persistent component / noise, at the start */
	float dir_mean;  /* mean of the persistent direction */
	float row_sigma; /* log-normal spread of the per-row factor */
	float col_sigma; /* same per column (2-D only) */
	float burst;     /* 1 in 16 noise draws is this many times larger */
};

enum {
	K_WTE, K_WPE, K_LN_W, K_LN_B, K_QKV_W, K_QKV_B, K_APROJ_W, K_APROJ_B,
	K_FC_W, K_FC_B, K_MPROJ_W, K_MPROJ_B, K_LNF_W, K_LNF_B
};

static const struct kind kinds[] = {
	[K_WTE] = { INIT_NORMAL, 0, 3e-3f, 1.5f, 0.0f, 1.0f, 0.3f, 1.0f },
	[K_WPE] = { INIT_NORMAL, 0, 1e-3f, 0.3f, 0.0f, 0.3f, 0.5f, 4.0f },
	[K_LN_W] = { INIT_ONES, 0, 1.5e-4f, 0.3f, -0.3f, 0.5f, 0.0f, 4.0f },
	[K_LN_B] = { INIT_ZEROS, 0, 2e-4f, 0.3f, 0.0f, 0.5f, 0.0f, 4.0f },
	[K_QKV_W] = { INIT_NORMAL, 0, 5e-4f, 0.15f, 0.0f, 0.3f, 0.3f, 4.0f },
	[K_QKV_B] = { INIT_ZEROS, 0, 6e-4f, 0.3f, 0.0f, 0.5f, 0.0f, 4.0f },
	[K_APROJ_W] = { INIT_NORMAL, 1, 8e-4f, 0.3f, 0.0f, 0.3f, 0.4f, 4.0f },
	[K_APROJ_B] = { INIT_ZEROS, 0, 8e-3f, 0.3f, 0.0f, 0.4f, 0.0f, 4.0f },
	[K_FC_W] = { INIT_NORMAL, 0, 3e-4f, 0.15f, 0.0f, 0.3f, 0.3f, 4.0f },
	[K_FC_B] = { INIT_ZEROS, 0, 3e-4f, 0.3f, -0.4f, 0.4f, 0.0f, 4.0f },
	[K_MPROJ_W] = { INIT_NORMAL, 1, 5e-4f, 0.3f, 0.0f, 0.3f, 0.4f, 4.0f },
	[K_MPROJ_B] = { INIT_ZEROS, 0, 6e-3f, 0.3f, 0.0f, 0.4f, 0.0f, 4.0f },
	[K_LNF_W] = { INIT_ONES, 0, 7e-3f, 2.0f, -0.5f, 0.3f, 0.0f, 1.0f },
	[K_LNF_B] = { INIT_ZEROS, 0, 5e-3f, 2.0f, 0.0f, 0.3f, 0.0f, 1.0f },
};

struct param {
	char name[96];
	int kind;
	int ndim;
	uint64_t shape[2];
	size_t n;
	float *w, *m, *v; /* weights and AdamW state */
	float *dir;       /* persistent gradient direction */
	float *gs;        /* per-element gradient scale */
};

struct model {
	struct param *p;
	size_t np, cap;
	uint64_t nparams;
};

static void add_param(struct model *mo, const char *name, int kind,
		      uint64_t rows, uint64_t cols)
{
	struct param *p;

	if (mo->np == mo->cap) {
		mo->cap = mo->cap ? 2 * mo->cap : 64;
		mo->p = realloc(mo->p, mo->cap * sizeof(*mo->p));
		if (!mo->p)
			die("out of memory");
	}
	p = &mo->p[mo->np++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->kind = kind;
	p->ndim = cols ? 2 : 1;
	p->shape[0] = rows;
	p->shape[1] = cols;
	p->n = (size_t)(cols ? rows * cols : rows);
	mo->nparams += p->n;
}

/* GPT-2 names, shapes and order as torch's named_parameters() gives them;
 * Linear weights are [out, in]. */
static void build_model(struct model *mo, const struct opts *o)
{
	uint64_t d = (uint64_t)o->d;
	char nm[96];
	long l;
	size_t i;

#define LAYER(suffix, kind, r, c)                                         \
	do {                                                              \
		snprintf(nm, sizeof(nm), "transformer.h.%ld.%s", l, suffix); \
		add_param(mo, nm, kind, r, c);                            \
	} while (0)

	memset(mo, 0, sizeof(*mo));
	add_param(mo, "transformer.wte.weight", K_WTE, (uint64_t)o->vocab, d);
	add_param(mo, "transformer.wpe.weight", K_WPE, (uint64_t)o->ctx, d);
	for (l = 0; l < o->layers; l++) {
		LAYER("ln_1.weight", K_LN_W, d, 0);
		LAYER("ln_1.bias", K_LN_B, d, 0);
		LAYER("attn.c_attn.weight", K_QKV_W, 3 * d, d);
		LAYER("attn.c_attn.bias", K_QKV_B, 3 * d, 0);
		LAYER("attn.c_proj.weight", K_APROJ_W, d, d);
		LAYER("attn.c_proj.bias", K_APROJ_B, d, 0);
		LAYER("ln_2.weight", K_LN_W, d, 0);
		LAYER("ln_2.bias", K_LN_B, d, 0);
		LAYER("mlp.c_fc.weight", K_FC_W, 4 * d, d);
		LAYER("mlp.c_fc.bias", K_FC_B, 4 * d, 0);
		LAYER("mlp.c_proj.weight", K_MPROJ_W, d, 4 * d);
		LAYER("mlp.c_proj.bias", K_MPROJ_B, d, 0);
	}
	add_param(mo, "transformer.ln_f.weight", K_LNF_W, d, 0);
	add_param(mo, "transformer.ln_f.bias", K_LNF_B, d, 0);
#undef LAYER

	for (i = 0; i < mo->np; i++) {
		struct param *p = &mo->p[i];
		const struct kind *k = &kinds[p->kind];
		uint64_t rows = p->shape[0];
		uint64_t cols = p->ndim == 2 ? p->shape[1] : 1;
		float std = 0.02f, *rf, *cf;
		uint64_t r, c;
		rng g;

		p->w = xmalloc(5 * p->n * sizeof(float));
		p->m = p->w + p->n;
		p->v = p->m + p->n;
		p->dir = p->v + p->n;
		p->gs = p->dir + p->n;
		memset(p->m, 0, 2 * p->n * sizeof(float));

		/* one stream per tensor and purpose: adding an option that
		 * changes one tensor leaves the others' numbers alone */
		rng_seed(&g, o->seed, i, 0, 0);
		if (k->resid)
			std = (float)(0.02 / sqrt(2.0 * (double)o->layers));
		for (r = 0; r < p->n; r++)
			p->w[r] = k->init == INIT_NORMAL ? std * gauss(&g) :
				  k->init == INIT_ONES	 ? 1.0f :
							   0.0f;

		rng_seed(&g, o->seed, i, 1, 0);
		for (r = 0; r < p->n; r++)
			p->dir[r] = gauss(&g) + k->dir_mean;

		rng_seed(&g, o->seed, i, 2, 0);
		rf = xmalloc((size_t)(rows + cols) * sizeof(float));
		cf = rf + rows;
		for (r = 0; r < rows; r++)
			rf[r] = (float)det_exp(k->row_sigma * gauss(&g));
		for (c = 0; c < cols; c++)
			cf[c] = p->ndim == 2 ?
					(float)det_exp(k->col_sigma * gauss(&g)) :
					1.0f;
		if (p->kind == K_QKV_W || p->kind == K_QKV_B) {
			/* q and k get small gradients (attention starts
			 * uniform); the k bias none at all, bar rounding */
			for (r = 0; r < rows; r++)
				if (r < 2 * d)
					rf[r] *= p->kind == K_QKV_B && r >= d ?
							 1e-9f :
							 0.05f;
		}
		for (r = 0; r < rows; r++)
			for (c = 0; c < cols; c++)
				p->gs[r * cols + c] = k->gscale * rf[r] * cf[c];
		free(rf);
	}
}

/* lr for the (0-based) step s: linear warmup, then cosine to lr/10. */
static double lr_at(const struct opts *o, long s)
{
	double min_lr = o->lr / 10, prog;
	long span;

	if (s < o->warmup)
		return o->lr * (double)(s + 1) / (double)o->warmup;
	span = o->steps - o->warmup > 1 ? o->steps - o->warmup : 1;
	prog = (double)(s - o->warmup) / (double)span;
	if (prog > 1.0)
		prog = 1.0;
	return min_lr + 0.5 * (o->lr - min_lr) *
				(1.0 + det_cos(3.141592653589793 * prog));
}

/* One AdamW step (torch.optim.AdamW's arithmetic, in float). */
static void train_step(struct model *mo, const struct opts *o, long step,
		       rng *noise, double b1_pow, double b2_pow)
{
	const float b1 = 0.9f, b2 = (float)o->beta2, eps = 1e-8f;
	const float omb1 = 1.0f - b1, omb2 = 1.0f - b2;
	double lr = lr_at(o, step - 1);
	double t = (double)(step - 1) / (double)o->steps;
	float grow = (float)(1.0 + t);  /* G(t) */
	float fade = (float)(1.0 / (1.0 + 2.0 * t)); /* a(t) */
	float step_size = (float)(lr / (1.0 - b1_pow));
	float bc2_sqrt = (float)sqrt(1.0 - b2_pow);
	size_t i, j;

	for (i = 0; i < mo->np; i++) {
		struct param *p = &mo->p[i];
		float pc = kinds[p->kind].snr * fade;
		float keep = p->ndim == 2 ? (float)(1.0 - lr * 0.1) : 1.0f;
		float burst = kinds[p->kind].burst;
		float *w = p->w, *m = p->m, *v = p->v;

		for (j = 0; j < p->n; j++) {
			uint64_t u = rng_next(noise);
			float n = gauss32((uint32_t)(u >> 32)), g, denom;

			if ((u & 15) == 0)
				n *= burst;
			g = p->gs[j] * grow * (pc * p->dir[j] + n);

			m[j] = b1 * m[j] + omb1 * g;
			v[j] = b2 * v[j] + omb2 * (g * g);
			w[j] = w[j] * keep;
			denom = sqrtf(v[j]) / bc2_sqrt + eps;
			w[j] = w[j] - step_size * (m[j] / denom);
		}
	}
}

/* writer callbacks: which array of each param to write */
struct arrays_ctx {
	const struct model *mo;
	int what; /* 0 weights, 1 optimizer state (m, v interleaved) */
};

static void fill_arrays(void *vctx, size_t ti, uint64_t first, size_t count,
			float *out)
{
	const struct arrays_ctx *c = vctx;
	const struct param *p = &c->mo->p[c->what ? ti / 2 : ti];
	const float *src = c->what == 0 ? p->w : (ti % 2 ? p->v : p->m);

	memcpy(out, src + first, count * sizeof(float));
}

static void cfg_json(char *buf, size_t n, const struct opts *o, int heads)
{
	/* as Python's json.dumps(cfg, sort_keys=True) */
	snprintf(buf, n,
		 "{\"arch\": \"gpt2-byte\", \"ctx\": %ld, \"d_model\": %ld, "
		 "\"n_head\": %d, \"n_layer\": %ld, \"vocab\": %ld}",
		 o->ctx, o->d, heads, o->layers, o->vocab);
}

static void hf_config(sbuf *b, const struct opts *o, int heads)
{
	/* HF-style config.json, keys sorted, 2-space indent */
	sb_printf(b,
		  "{\n"
		  "  \"activation_function\": \"gelu\",\n"
		  "  \"architectures\": [\n"
		  "    \"GPT2LMHeadModel\"\n"
		  "  ],\n"
		  "  \"initializer_range\": 0.02,\n"
		  "  \"layer_norm_epsilon\": 1e-05,\n"
		  "  \"model_type\": \"gpt2\",\n"
		  "  \"n_ctx\": %ld,\n"
		  "  \"n_embd\": %ld,\n"
		  "  \"n_head\": %d,\n",
		  o->ctx, o->d, heads);
	sb_printf(b,
		  "  \"n_inner\": %ld,\n"
		  "  \"n_layer\": %ld,\n"
		  "  \"n_positions\": %ld,\n"
		  "  \"tie_word_embeddings\": true,\n"
		  "  \"tokenizer\": \"bytes (token id = byte value)\",\n"
		  "  \"torch_dtype\": \"bfloat16\",\n"
		  "  \"vocab_size\": %ld\n"
		  "}\n",
		  4 * o->d, o->layers, o->ctx, o->vocab);
}

static void save_step(const struct model *mo, const struct opts *o,
		      long step)
{
	char dir[4096], path[4200], cfg[512], sstep[32], sseed[32], sloss[32];
	char slr[40], sbetas[64], sb2[40];
	int heads = o->d % 4 == 0 ? 4 : 1;
	struct st_tensor *t;
	struct arrays_ctx ac;
	struct kv meta[13];
	size_t i, nmeta;
	sbuf hc = { 0 };

	if ((size_t)snprintf(dir, sizeof(dir), "%s/step-%06ld", o->out,
			     step) >= sizeof(dir))
		die("'%s': path too long", o->out);
	make_dirs(dir);

	cfg_json(cfg, sizeof(cfg), o, heads);
	snprintf(sstep, sizeof(sstep), "%ld", step);
	snprintf(sseed, sizeof(sseed), "%llu", (unsigned long long)o->seed);
	/* a plausible smoothed loss curve, from ln(256) down to ~2.9 */
	if (step == 0)
		snprintf(sloss, sizeof(sloss), "nan");
	else
		snprintf(sloss, sizeof(sloss), "%.6f",
			 2.9 + 2.65 * det_exp(-(double)step / 70.0));
	fmt_double(slr, sizeof(slr), lr_at(o, step > 0 ? step - 1 : 0));
	fmt_double(sb2, sizeof(sb2), o->beta2);
	snprintf(sbetas, sizeof(sbetas), "[0.9, %s]", sb2);

	nmeta = 0;
	meta[nmeta++] = (struct kv){ "format", "pt" };
	meta[nmeta++] = (struct kv){ "step", sstep };
	meta[nmeta++] = (struct kv){ "config", cfg };
	meta[nmeta++] = (struct kv){ "loss", sloss };
	meta[nmeta++] = (struct kv){ "seed", sseed };
	meta[nmeta++] = (struct kv){ "data", "synthetic" };
	meta[nmeta++] = (struct kv){ "producer", PROG };

	t = xmalloc(2 * mo->np * sizeof(*t));
	for (i = 0; i < mo->np; i++) {
		const struct param *p = &mo->p[i];

		memset(&t[i], 0, sizeof(t[i]));
		snprintf(t[i].name, sizeof(t[i].name), "%s", p->name);
		t[i].ndim = p->ndim;
		t[i].shape[0] = p->shape[0];
		t[i].shape[1] = p->shape[1];
		t[i].n = p->n;
	}
	ac.mo = mo;
	ac.what = 0;
	for (i = 0; i < mo->np; i++)
		t[i].dtype = DT_BF16;
	snprintf(path, sizeof(path), "%s/model.safetensors", dir);
	st_write(path, t, mo->np, meta, nmeta, fill_arrays, &ac);
	for (i = 0; i < mo->np; i++)
		t[i].dtype = DT_F32;
	snprintf(path, sizeof(path), "%s/model_fp32.safetensors", dir);
	st_write(path, t, mo->np, meta, nmeta, fill_arrays, &ac);

	for (i = mo->np; i-- > 0;) { /* backwards: t[i] -> t[2i], t[2i+1] */
		struct st_tensor base = t[i];

		t[2 * i] = base;
		t[2 * i + 1] = base;
		snprintf(t[2 * i].name, sizeof(t[0].name), "%s.exp_avg",
			 mo->p[i].name);
		snprintf(t[2 * i + 1].name, sizeof(t[0].name), "%s.exp_avg_sq",
			 mo->p[i].name);
	}
	meta[nmeta++] = (struct kv){ "optimizer", "AdamW" };
	meta[nmeta++] = (struct kv){ "optimizer_step", sstep };
	meta[nmeta++] = (struct kv){ "lr", slr };
	meta[nmeta++] = (struct kv){ "betas", sbetas };
	meta[nmeta++] = (struct kv){ "eps", "1e-08" };
	meta[nmeta++] = (struct kv){ "weight_decay", "0.1" };
	ac.what = 1;
	snprintf(path, sizeof(path), "%s/optim.safetensors", dir);
	st_write(path, t, 2 * mo->np, meta, nmeta, fill_arrays, &ac);
	free(t);

	hf_config(&hc, o, heads);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	write_text(path, hc.p);
	free(hc.p);
}

static void run_series(const struct opts *o)
{
	struct model mo;
	double b1_pow = 1.0, b2_pow = 1.0;
	long step, saved = 0;
	rng noise;
	size_t i;

	build_model(&mo, o);
	make_dirs(o->out);
	rng_seed(&noise, o->seed, 0x6e6f697365u, 0, 0); /* "noise" */
	if (o->init) {
		save_step(&mo, o, 0);
		saved++;
	}
	for (step = 1; step <= o->steps; step++) {
		/* running products, not pow(): same bits on every libm */
		b1_pow *= 0.9;
		b2_pow *= o->beta2;
		train_step(&mo, o, step, &noise, b1_pow, b2_pow);
		if (step % o->every == 0 || step == o->steps) {
			save_step(&mo, o, step);
			saved++;
		}
	}
	fprintf(stderr, PROG ": %ld checkpoints of %llu parameters in %s\n",
		saved, (unsigned long long)mo.nparams, o->out);
	for (i = 0; i < mo.np; i++)
		free(mo.p[i].w);
	free(mo.p);
}

/* ------------------------------------------------------------------------ */
/* big mode: one large BF16 file, values in closed form per checkpoint */

#define BIG_COLS 4096
#define BIG_ROWS 4096
#define BIG_STEPS_PER_CKPT 50 /* each checkpoint stands for 50 AdamW steps */

struct big_ctx {
	uint64_t seed;
	long k;
	size_t cur;    /* tensor the streams are set up for, or SIZE_MAX */
	sm g0, gp, ge; /* init, persistent direction, noise at K */
	float decay, pcoef, jcoef;
};

/* Per-step lr of checkpoint interval k (1-based) in a notional run: warmup
 * over the first 2 checkpoints, cosine to lr/10 by checkpoint 20, then flat. */
static double big_lr(long k)
{
	const double peak = 3e-4, floor_lr = 3e-5;
	double prog;

	if (k <= 2)
		return peak * (double)k / 2.0;
	prog = (double)(k - 2) / 18.0;
	if (prog > 1.0)
		prog = 1.0;
	return floor_lr + 0.5 * (peak - floor_lr) *
				  (1.0 + det_cos(3.141592653589793 * prog));
}

static void fill_big(void *vctx, size_t ti, uint64_t first, size_t count,
		     float *out)
{
	struct big_ctx *c = vctx;
	const float std = 0.02f, decay = c->decay;
	const float pcoef = c->pcoef, jcoef = c->jcoef;
	sm g0, gp, ge;
	size_t j;

	if (ti != c->cur) {
		sm_seed(&c->g0, c->seed, ti, 0, 0);
		sm_seed(&c->gp, c->seed, ti, 1, 0);
		sm_seed(&c->ge, c->seed, ti, 2, (uint64_t)c->k);
		c->cur = ti;
	}
	(void)first; /* streams are sequential: the writer goes in order */
	/* local copies, so the states stay in registers across the stores.
	 * Per 4 values: 2 draws for the inits (32-bit gaussians), 1 for the
	 * persistent directions and 1 for the noise (16-bit gaussians: they
	 * are small terms).  Counts are multiples of 4 but for a tensor's
	 * odd tail, which takes a draw of each stream per value. */
	g0 = c->g0;
	gp = c->gp;
	ge = c->ge;
	for (j = 0; j + 4 <= count; j += 4) {
		uint64_t a0 = sm_next(&g0), a1 = sm_next(&g0);

		out[j] = std * gauss32((uint32_t)a0);
		out[j + 1] = std * gauss32((uint32_t)(a0 >> 32));
		out[j + 2] = std * gauss32((uint32_t)a1);
		out[j + 3] = std * gauss32((uint32_t)(a1 >> 32));
		if (c->k) {
			uint64_t b = sm_next(&gp), e = sm_next(&ge);
			int q;

			for (q = 0; q < 4; q++)
				out[j + q] = out[j + q] * decay +
					     pcoef * gauss16((uint32_t)(b >> (16 * q)) & 0xffff) +
					     jcoef * gauss16((uint32_t)(e >> (16 * q)) & 0xffff);
		}
	}
	for (; j < count; j++) {
		out[j] = std * gauss32((uint32_t)sm_next(&g0));
		if (c->k)
			out[j] = out[j] * decay +
				 pcoef * gauss16((uint32_t)sm_next(&gp) & 0xffff) +
				 jcoef * gauss16((uint32_t)sm_next(&ge) & 0xffff);
	}
	c->g0 = g0;
	c->gp = gp;
	c->ge = ge;
}

static void run_big(const struct opts *o)
{
	uint64_t total = (uint64_t)o->big_mb << 20;
	uint64_t row_bytes = (uint64_t)BIG_COLS * 2;
	uint64_t rows_left = total / row_bytes;
	size_t nt = (size_t)((rows_left + BIG_ROWS - 1) / BIG_ROWS), i;
	struct st_tensor *t = xmalloc(nt * sizeof(*t));
	char sstep[32], sseed[32];
	struct kv meta[4];
	struct big_ctx c;
	double lrsum = 0.0, decay = 1.0;
	long k;

	for (i = 0; i < nt; i++) {
		uint64_t rows = rows_left < BIG_ROWS ? rows_left : BIG_ROWS;

		memset(&t[i], 0, sizeof(t[i]));
		snprintf(t[i].name, sizeof(t[i].name),
			 "model.layers.%zu.weight", i);
		t[i].dtype = DT_BF16;
		t[i].ndim = 2;
		t[i].shape[0] = rows;
		t[i].shape[1] = BIG_COLS;
		t[i].n = rows * BIG_COLS;
		rows_left -= rows;
	}

	/* Coefficients at checkpoint K, per the series-mode dynamics: the
	 * persistent part moves ~0.1 lr a step, the random walk ~lr per
	 * step (Adam-normalised noise), which over one checkpoint interval
	 * of S steps comes to ~lr sqrt(S) (e_K - e_{K-1} carries that). */
	for (k = 1; k <= o->big_step; k++) {
		double lr = big_lr(k);

		lrsum += lr * BIG_STEPS_PER_CKPT;
		decay *= 1.0 - lr * BIG_STEPS_PER_CKPT * 0.1;
	}
	memset(&c, 0, sizeof(c));
	c.seed = o->seed;
	c.k = o->big_step;
	c.cur = SIZE_MAX;
	c.decay = (float)decay;
	c.pcoef = (float)(0.1 * lrsum);
	c.jcoef = o->big_step ? (float)(0.75 * big_lr(o->big_step) *
					sqrt((double)BIG_STEPS_PER_CKPT)) :
				0.0f;

	snprintf(sstep, sizeof(sstep), "%ld", o->big_step);
	snprintf(sseed, sizeof(sseed), "%llu", (unsigned long long)o->seed);
	meta[0] = (struct kv){ "format", "pt" };
	meta[1] = (struct kv){ "step", sstep };
	meta[2] = (struct kv){ "seed", sseed };
	meta[3] = (struct kv){ "producer", PROG };
	st_write(o->out, t, nt, meta, 4, fill_big, &c);
	free(t);
}

/* ------------------------------------------------------------------------ */
/* command line */

static const char usage_text[] =
	"usage: z4gen --out DIR [--steps 400] [--every 50] [--layers 3]\n"
	"             [--d-model 48] [--vocab 256] [--ctx 64] [--seed 1]\n"
	"             [--lr 3e-4] [--warmup min(100,steps/4)] [--beta2 0.999] [--init]\n"
	"       z4gen --big-mb N --out FILE [--step K] [--seed S]\n"
	"\n"
	"Series mode simulates AdamW training of a GPT-2-shaped model and\n"
	"writes DIR/step-NNNNNN/{model.safetensors (BF16),\n"
	"model_fp32.safetensors, optim.safetensors (exp_avg, exp_avg_sq),\n"
	"config.json} every --every steps and at the last step (--init: also\n"
	"step 0).  Big mode writes one BF16 file of N MiB of tensor data whose\n"
	"checkpoint K+1 is a small drift of checkpoint K.  Same arguments,\n"
	"same bytes.\n";

static void usage_error(const char *fmt, const char *arg)
{
	fputs(PROG ": ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n", stderr);
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

static long parse_long(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, PROG ": %s '%s': want an integer in [%ld, %ld]\n",
			opt, s, lo, hi);
		exit(EXIT_USAGE);
	}
	return v;
}

static double parse_double(const char *opt, const char *s, double lo,
			   double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, PROG ": %s '%s': want a number in [%g, %g]\n",
			opt, s, lo, hi);
		exit(EXIT_USAGE);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.out = NULL, .steps = 400, .every = 50, .layers = 3, .d = 48,
		.vocab = 256, .ctx = 64, .warmup = -1, .seed = 1, .lr = 3e-4,
		.beta2 = 0.999, .init = 0, .big_mb = 0, .big_step = 0,
	};
	int i, series_only = 0, big_only = 0;

	normal_table_init();

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (!strcmp(a, "--init")) {
			o.init = 1;
			series_only = 1;
			continue;
		}
		if (strncmp(a, "--", 2) != 0)
			usage_error("unexpected argument '%s'", a);
		if (!v)
			usage_error("%s needs a value", a);
		i++;
		if (!strcmp(a, "--out"))
			o.out = v;
		else if (!strcmp(a, "--seed"))
			o.seed = (uint64_t)parse_long(a, v, 0, 0x7fffffffL);
		else if (!strcmp(a, "--big-mb"))
			o.big_mb = parse_long(a, v, 1, 1L << 20), big_only = 1;
		else if (!strcmp(a, "--step"))
			o.big_step = parse_long(a, v, 0, 1000000), big_only = 1;
		else {
			series_only = 1;
			if (!strcmp(a, "--steps"))
				o.steps = parse_long(a, v, 1, 100000000);
			else if (!strcmp(a, "--every"))
				o.every = parse_long(a, v, 1, 100000000);
			else if (!strcmp(a, "--layers"))
				o.layers = parse_long(a, v, 1, 1024);
			else if (!strcmp(a, "--d-model"))
				o.d = parse_long(a, v, 1, 65536);
			else if (!strcmp(a, "--vocab"))
				o.vocab = parse_long(a, v, 1, 1L << 24);
			else if (!strcmp(a, "--ctx"))
				o.ctx = parse_long(a, v, 1, 1L << 20);
			else if (!strcmp(a, "--warmup"))
				o.warmup = parse_long(a, v, 1, 100000000);
			else if (!strcmp(a, "--lr"))
				o.lr = parse_double(a, v, 1e-12, 10.0);
			else if (!strcmp(a, "--beta2"))
				o.beta2 = parse_double(a, v, 0.5, 0.999999);
			else
				usage_error("unknown option '%s'", a);
		}
	}
	if (!o.out)
		usage_error("%s", "--out is required");
	if (big_only) {
		if (series_only)
			usage_error("%s", "--big-mb takes only --out, --step "
					  "and --seed");
		if (!o.big_mb)
			usage_error("%s", "--step needs --big-mb");
		run_big(&o);
		return 0;
	}
	if (o.warmup < 0)
		o.warmup = o.steps / 4 < 100 ? (o.steps / 4 > 0 ? o.steps / 4 : 1) :
					       100;
	{
		/* keep the parameter count sane before allocating 20 B each */
		uint64_t d = (uint64_t)o.d, n;

		n = (uint64_t)(o.vocab + o.ctx) * d + 2 * d +
		    (uint64_t)o.layers * (12 * d * d + 13 * d);
		if (n > (1ull << 28))
			usage_error("%s", "model too large (over 2^28 "
					  "parameters)");
	}
	run_series(&o);
	return 0;
}
