/*
 * rans.c - the rANS coder of rans.h.
 *
 * State x in [L, 2^32) with L = 2^16; a symbol of frequency f out of 2^S
 * (start c) encodes as x' = (x / f) * 2^S + x % f + c after shifting out 16
 * bits when x >= f * 2^(32 - S); decoding inverts it and shifts 16 bits in
 * when x < L. One shift always suffices both ways because S <= 16.
 * The encoder divides by one 64-bit multiply with a per-symbol reciprocal
 * and a fixed shift (see esym), exact for every state it meets.
 *
 * Frequencies are 12-bit for order-0 tables (one table per 64 KiB block)
 * and 11-bit for context tables (one per used context per stream), which
 * keeps a context stream's decode tables (2^11 u32 per context) in L2.
 *
 * The streams are a stored format: speed work must not change a byte
 * (tests/test_rans_golden.c pins them). For speed the loops keep the four
 * states in registers, shed and refill words with conditional moves (with
 * a branch, which then predicts well, under a bit per symbol), check input
 * bounds once per run of rows rather than per word, and find contexts
 * without a table before the loop (side plane) or by a marker bit in the
 * table entries (order 1).
 */
#include "rans.h"

#include <assert.h>
#include <string.h>

#include "z4_alloc.h"
#include "z4_err.h"
#include "z4_le.h"
#include "rans_wide.h"

#define RANS_L (1u << 16)
#define S_O0 12
#define S_CTX 11
#define NSTATE 4
#define STATE_BYTES (4 * NSTATE)
#define OVER 1

#define BLOCK_RAW 0
#define BLOCK_CONST 1
#define BLOCK_RANS 2

/* Context models count in NLANE tables from LANES_MIN symbols on; the
 * tables are LANE_ROWS rows apart, not a multiple of 4 KiB: an increment's
 * load and the previous lane's store then never look alike to the CPU. */
#define NLANE 8
#define LANES_MIN (64u << 10)
#define LANE_ROWS 257

/* Wide decoders run their kernel on a padded copy of the last input once
 * it holds fewer than TAIL_ROWS rows' worst case (TAIL_BYTES). */
#define TAIL_ROWS 64u
#define TAIL_BYTES (TAIL_ROWS * Z4_RANSC_ROW_MAX)

/* Estimates look up log2 of counts below LOG_TAB, code_bits() of any
 * frequency (at most 2^12). */
#define LOG_TAB 4097
_Static_assert(1u << S_O0 < LOG_TAB && 1u << S_CTX < LOG_TAB, "lg[f]");

/* build_dtable writes 4 slots at a time, up to 3 past a table's end; the
 * wide tables' builders up to Z4_RANSW_TABLE_SLACK. */
#define DT_SLACK Z4_RANSW_TABLE_SLACK

#define INLINE static inline __attribute__((always_inline))

/* Hide a value from the optimizer: a select on it then stays a
 * conditional move, where GCC would branch on unpredictable data. */
#if defined(__GNUC__)
#define OPAQUE(v) __asm__("" : "+r"(v))
#else
#define OPAQUE(v) ((void)0)
#endif

/*
 * An encoder symbol: x' = x + bias + (x / f) * (2^S - f), after shedding a
 * word when x > thr (ryg_rans' "fast encode"). After shedding, x < f *
 * 2^(32 - S), and for such x, x / f = (x * rcp) >> (32 + S) exactly with
 * rcp = ceil(2^(32 + S) / f): the error e = rcp * f - 2^(32 + S) < f keeps
 * x * e < f^2 * 2^(32 - S) <= 2^(32 + S), and x * rcp < 2^64. One 64-bit
 * multiply and a fixed shift, no division.
 */
typedef struct {
	uint64_t rcp;  /* ceil(2^(32 + S) / f) */
	uint32_t thr;  /* f * 2^(32 - S) - 1: largest x coded without a shed */
	uint16_t bias; /* start */
	uint16_t cmpl; /* 2^S - f */
} esym;

/* A table's present symbols (f[s] != 0), ascending: what the passes over
 * a table visit instead of all 256. */
typedef struct {
	uint8_t s[256];
	unsigned k;
} symlist;

struct z4_rans_work {
	uint32_t (*cnt)[256];  /* [ctx][sym] counts, NLANE tables (see
				* count_ctx); all zero between calls (users
				* clear the rows they touched) */
	uint16_t (*freq)[256]; /* [ctx][sym] normalized, 0 = absent */
	symlist *syms;         /* [ctx]: freq[ctx]'s present symbols */
	esym (*es)[256];       /* [ctx][sym] encoder symbols */
	uint32_t *dt;          /* decode tables: order 0 at 0, context c's
				* at c << S_CTX; zeroed once, so a table
				* never built still reads as defined */
	uint32_t *et;          /* Z4_RANS_WCTX encoder entries [c << 8 | s] */
	uint16_t (*ecnt)[256]; /* estimates: [ctx][sym] counts of a sample
				* (under 2^16 pairs), zero between calls */
	const z4_ransw_kernels *wide; /* Z4_RANS_W0, _WCTX kernels */
	uint8_t tail[2 * TAIL_BYTES]; /* a wide stream's last words, padded */
	uint8_t *buf;          /* encoder output (words written backwards) */
	size_t buf_cap;
	uint8_t *pairs;        /* context << 8 | symbol (16-bit), for the
				* wide encoder: PAIRS(w) */
	size_t pairs_cap;
	uint8_t *side;         /* the contexts back from given pairs */
	size_t side_cap;
	uint32_t lg[LOG_TAB];  /* log2_q16(x) for 0 < x < LOG_TAB */
};

/* log2(x) in 16.16 fixed point, exact integer arithmetic. */
static uint64_t log2_q16(uint64_t x)
{
	unsigned k = 63u - (unsigned)__builtin_clzll(x);
	uint64_t y = k <= 31 ? x << (31u - k) : x >> (k - 31u);
	uint64_t r = (uint64_t)k << 16;

	for (unsigned bit = 1u << 15; bit; bit >>= 1) {
		y = (y * y) >> 31;
		if (y >= (2ull << 31)) {
			y >>= 1;
			r |= bit;
		}
	}
	return r;
}

z4_rans_work *z4_rans_work_new(void)
{
	z4_rans_work *w = z4_calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->cnt = z4_calloc((NLANE - 1) * LANE_ROWS + 256, sizeof(*w->cnt));
	w->freq = z4_malloc(256 * sizeof(*w->freq));
	w->syms = z4_malloc(256 * sizeof(*w->syms));
	w->es = z4_malloc(256 * sizeof(*w->es));
	w->dt = z4_calloc(((size_t)256 << S_CTX) + DT_SLACK, sizeof(uint32_t));
	w->et = z4_malloc(256 * 256 * sizeof(*w->et));
	w->ecnt = z4_calloc(256, sizeof(*w->ecnt));
	if (!w->cnt || !w->freq || !w->syms || !w->es || !w->dt || !w->et ||
	    !w->ecnt) {
		z4_rans_work_free(w);
		return NULL;
	}
	for (uint32_t x = 1; x < LOG_TAB; x++)
		w->lg[x] = (uint32_t)log2_q16(x);
	w->wide = z4_ransw_kernels_pick();
	return w;
}

void z4_rans_work_set_wide(z4_rans_work *w, const z4_ransw_kernels *k)
{
	w->wide = k;
}

void z4_rans_work_free(z4_rans_work *w)
{
	if (!w)
		return;
	z4_free(w->cnt);
	z4_free(w->freq);
	z4_free(w->syms);
	z4_free(w->es);
	z4_free(w->dt);
	z4_free(w->et);
	z4_free(w->ecnt);
	z4_free(w->buf);
	z4_free(w->pairs);
	z4_free(w->side);
	z4_free(w);
}

/* Scratch *p of *cap bytes grown to at least need (rounded up to 64 KiB),
 * its contents not kept; Z4_ENOMEM leaves it empty. */
static int grow_bytes(uint8_t **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return Z4_OK;
	need = (need + 0xffff) & ~(size_t)0xffff;
	z4_free(*p);
	*cap = 0;
	*p = z4_malloc(need);
	if (!*p)
		return Z4_ENOMEM;
	*cap = need;
	return Z4_OK;
}

static int grow(z4_rans_work *w, size_t need)
{
	return grow_bytes(&w->buf, &w->buf_cap, need);
}

#define PAIRS(w) ((uint16_t *)(void *)(w)->pairs)

/* ---- frequency tables ---- */

static void count4(uint32_t *h, const uint8_t *p, size_t n)
{
	uint32_t t[3][256];
	size_t i = 0;

	memset(t, 0, sizeof(t));
	for (; i + 4 <= n; i += 4) {
		h[p[i]]++;
		t[0][p[i + 1]]++;
		t[1][p[i + 2]]++;
		t[2][p[i + 3]]++;
	}
	for (; i < n; i++)
		h[p[i]]++;
	for (int s = 0; s < 256; s++)
		h[s] += t[0][s] + t[1][s] + t[2][s];
}

/*
 * Bytes mostly of a few values (exponents) count faster by compares, with
 * a kernel's count8, than by increments. top8: the eight most frequent
 * values of counts c (total t) into v; whether they make 70% of t.
 */
static int top8(uint8_t v[8], const uint32_t c[256], uint64_t t)
{
	uint8_t taken[256];
	uint64_t cov = 0;

	memset(taken, 0, sizeof(taken));
	for (int j = 0; j < 8; j++) {
		int b = -1;
		for (int s = 0; s < 256; s++)
			if (!taken[s] && (b < 0 || c[s] > c[b]))
				b = s;
		taken[b] = 1;
		v[j] = (uint8_t)b;
		cov += c[b];
	}
	return 10 * cov >= 7 * t;
}

/* Add p[0..n)'s byte counts to h: count4, or where the kernels have
 * count8 and a long run's first COUNT_PROBE bytes are 70% eight values,
 * the rest by count8 with those. */
#define COUNT_PROBE 1024

static void count_bytes(const z4_ransw_kernels *k, uint32_t *h,
			const uint8_t *p, size_t n)
{
	uint32_t pre[256];
	uint8_t v[8];

	if (!k->count8 || n < 16 * COUNT_PROBE) {
		count4(h, p, n);
		return;
	}
	memset(pre, 0, sizeof(pre));
	count4(pre, p, COUNT_PROBE);
	for (int s = 0; s < 256; s++)
		h[s] += pre[s];
	if (top8(v, pre, COUNT_PROBE))
		k->count8(h, p + COUNT_PROBE, n - COUNT_PROBE, v);
	else
		count4(h, p + COUNT_PROBE, n - COUNT_PROBE);
}

/*
 * q / d for q < 2^48: a multiply by m = ceil(2^sh / d), sh = 48 + l with
 * 2^l >= d, and a shift. Exact: m d = 2^sh + r, r < d, so q m / 2^sh
 * exceeds q / d by q r / (d 2^sh) < 2^-l <= 1 / d, which cannot carry
 * q / d (fraction at most (d - 1) / d) past an integer.
 */
typedef struct {
	uint64_t m, d;
	unsigned sh;
} divider;

static divider divider_of(uint64_t d)
{
	divider v = {0, d, 0};
#ifdef __SIZEOF_INT128__
	if (d < ((uint64_t)1 << 32)) {
		unsigned l = d > 1 ? 64u - (unsigned)__builtin_clzll(d - 1) : 0;
		v.sh = 48 + l;
		v.m = (uint64_t)((((unsigned __int128)1 << v.sh) + d - 1) / d);
	}
#endif
	return v;
}

static uint64_t divide(const divider *v, uint64_t q)
{
#ifdef __SIZEOF_INT128__
	if (v->m) {
		uint64_t r = (uint64_t)(((unsigned __int128)q * v->m) >> v->sh);
		assert(q < ((uint64_t)1 << 48) && r == q / v->d);
		return r;
	}
#endif
	return q / v->d;
}

/* Scale counts (total > 0) to frequencies summing to 2^S, every present
 * symbol keeping at least 1, and list the present symbols in *pl (they
 * are listed first, without a branch: any of 256 may be the next; only
 * they are divided). */
static void normalize_list(uint16_t *f, symlist *pl, const uint32_t *c,
			   uint64_t total, unsigned S)
{
	const uint32_t tot = 1u << S;
	const divider dv = divider_of(total);
	uint32_t sum = 0, cb = 0;
	uint8_t *sym = pl->s;
	unsigned k = 0;
	int big = -1;

	for (int s = 0; s < 256; s++) {
		sym[k & 255] = (uint8_t)s;
		k += c[s] != 0;
	}
	pl->k = k;
	memset(f, 0, 256 * sizeof(*f));
	for (unsigned i = 0; i < k; i++) {
		const unsigned s = sym[i];
		/* Below 2^47 + 2^31 for a total below 2^32: within the
		 * divider's 2^48 (it divides plainly above). */
		uint32_t v = (uint32_t)divide(
			&dv, (uint64_t)c[s] * tot + total / 2);
		v = v ? v : 1;
		big = c[s] > cb ? (int)s : big;
		cb = c[s] > cb ? c[s] : cb;
		f[s] = (uint16_t)v;
		sum += v;
	}
	assert(big >= 0);
	if (sum <= tot) {
		f[big] = (uint16_t)(f[big] + (tot - sum));
		return;
	}
	/* Rounding up the rare symbols overshot: take from the largest. */
	while (sum > tot) {
		int m = -1;
		for (unsigned i = 0; i < k; i++) {
			const unsigned s = sym[i];
			if (f[s] > 1 && (m < 0 || f[s] > f[m]))
				m = (int)s;
		}
		uint32_t take = sum - tot;
		if (take > f[m] / 2u)
			take = f[m] / 2u ? f[m] / 2u : 1;
		f[m] = (uint16_t)(f[m] - take);
		sum -= take;
	}
}

static void normalize(uint16_t *f, const uint32_t *c, uint64_t total,
		      unsigned S)
{
	symlist l;

	normalize_list(f, &l, c, total, S);
}

/* The symbols present in f (f[s] != 0), ascending, into sym; how many.
 * Every s is stored, the count moving past the present ones: no branch. */
static unsigned present(uint8_t sym[256], const uint16_t *f)
{
	unsigned k = 0;

	for (int s = 0; s < 256; s++) {
		sym[k & 255] = (uint8_t)s;
		k += f[s] != 0;
	}
	return k;
}

/* table_len() of f with its present symbols l. */
static size_t table_len_of(const uint16_t *f, const symlist *l)
{
	const unsigned k = l->k;
	size_t wide = 0;

	for (unsigned i = 0; i < k; i++)
		wide += f[l->s[i]] > 128;
	return 1 + (k == 256 ? 0 : k <= 32 ? k : 32) +
	       (k ? k - 1 + wide - (f[l->s[k - 1]] > 128) : 0);
}

/* Serialized table length (bytes) for f; see write_table. */
static size_t table_len(const uint16_t *f)
{
	size_t k = 0, wide = 0;
	int last = 0;

	for (int s = 0; s < 256; s++) {
		k += f[s] != 0;
		wide += f[s] > 128;
		last = f[s] ? s : last;
	}
	/* One byte per frequency, two above 128, the last symbol's none. */
	return 1 + (k == 256 ? 0 : k <= 32 ? k : 32) +
	       (k ? k - 1 + wide - (f[last] > 128) : 0);
}

/*
 * u8 K-1; the K symbols (none if K = 256, K ascending bytes if K <= 32,
 * else a 32-byte bitmap); then f-1 of every symbol but the last, as one
 * byte 0xxxxxxx or two bytes 1xxxxxxx xxxxxxxx (15 bits, high first); the
 * last symbol takes the rest of 2^S.
 */
static uint8_t *write_table_of(uint8_t *o, const uint16_t *f,
			       const symlist *l)
{
	const uint8_t *sym = l->s;
	const unsigned k = l->k;

	*o++ = (uint8_t)(k - 1);
	if (k <= 32) {
		memcpy(o, sym, k);
		o += k;
	} else if (k < 256) {
		memset(o, 0, 32);
		for (unsigned i = 0; i < k; i++)
			o[sym[i] >> 3] |= (uint8_t)(1u << (sym[i] & 7));
		o += 32;
	}
	for (unsigned i = 0; i + 1 < k; i++) {
		unsigned v = f[sym[i]] - 1u;
		/* o[1], when not this frequency's, is the next one's or
		 * the next output's (a table is always followed by some). */
		o[0] = (uint8_t)(v < 128 ? v : 0x80 | v >> 8);
		o[1] = (uint8_t)v;
		o += 1 + (v >= 128);
	}
	return o;
}

static uint8_t *write_table(uint8_t *o, const uint16_t *f)
{
	symlist l;

	l.k = present(l.s, f);
	return write_table_of(o, f, &l);
}

/* Parse a table at *pp (not past end) into its k symbols sym[] and their
 * frequencies fk[]; Z4_ECORRUPT. */
static int parse_table(uint8_t sym[256], uint16_t fk[256], unsigned *k_out,
		       const uint8_t **pp, const uint8_t *end, unsigned S)
{
	const uint8_t *p = *pp;
	const uint32_t tot = 1u << S;
	size_t k;
	uint32_t sum = 0;

	if (p >= end)
		return Z4_ECORRUPT;
	k = (size_t)*p++ + 1;
	if (k == 256) {
		for (int s = 0; s < 256; s++)
			sym[s] = (uint8_t)s;
	} else if (k <= 32) {
		if ((size_t)(end - p) < k)
			return Z4_ECORRUPT;
		for (size_t i = 0; i < k; i++) {
			sym[i] = p[i];
			if (i && sym[i] <= sym[i - 1])
				return Z4_ECORRUPT;
		}
		p += k;
	} else {
		size_t j = 0;
		if (end - p < 32)
			return Z4_ECORRUPT;
		for (int s = 0; s < 256; s++)
			if (p[s >> 3] >> (s & 7) & 1) {
				if (j == k)
					return Z4_ECORRUPT;
				sym[j++] = (uint8_t)s;
			}
		if (j != k)
			return Z4_ECORRUPT;
		p += 32;
	}
	for (size_t i = 0; i + 1 < k; i++) {
		uint32_t v;
		if (p >= end)
			return Z4_ECORRUPT;
		v = *p++;
		if (v & 0x80) {
			if (p >= end)
				return Z4_ECORRUPT;
			v = ((v & 0x7f) << 8) | *p++;
		}
		sum += v + 1;
		if (sum >= tot)
			return Z4_ECORRUPT;
		fk[i] = (uint16_t)(v + 1);
	}
	fk[k - 1] = (uint16_t)(tot - sum);
	*k_out = (unsigned)k;
	*pp = p;
	return Z4_OK;
}

/* Parse a table at *pp into f[256] (0 = absent); Z4_ECORRUPT. */
static int read_table(uint16_t *f, const uint8_t **pp, const uint8_t *end,
		      unsigned S)
{
	uint8_t sym[256];
	uint16_t fk[256];
	unsigned k;

	Z4_TRY(parse_table(sym, fk, &k, pp, end, S));
	memset(f, 0, 256 * sizeof(*f));
	for (unsigned i = 0; i < k; i++)
		f[sym[i]] = fk[i];
	return Z4_OK;
}

/* Parse a table at *pp and build its wide decode table at t. */
static int read_wide_table(uint32_t *t, const z4_ransw_kernels *kern,
			   const uint8_t **pp, const uint8_t *end, unsigned S)
{
	uint8_t sym[256];
	uint16_t fk[256];
	unsigned k;

	Z4_TRY(parse_table(sym, fk, &k, pp, end, S));
	kern->table(t, sym, fk, k);
	return Z4_OK;
}

static void build_esyms(esym *e, const uint16_t *f, unsigned S)
{
	uint32_t c = 0;

	for (int s = 0; s < 256; s++) {
		uint32_t fs = f[s];
		if (!fs)
			continue;
		e[s].rcp = (((uint64_t)1 << (32 + S)) + fs - 1) / fs;
		e[s].thr = (uint32_t)(((uint64_t)fs << (32 - S)) - 1);
		e[s].bias = (uint16_t)c;
		e[s].cmpl = (uint16_t)((1u << S) - fs);
		c += fs;
	}
}

/* log2_q16 through the work's table of small arguments: the same values,
 * without 16 dependent squarings. */
static uint64_t lg(const z4_rans_work *w, uint64_t x)
{
	return x < LOG_TAB ? w->lg[x] : log2_q16(x);
}

/* code_bits() over the present symbols l of f alone (the others' counts
 * are 0). */
static uint64_t code_bits_of(const z4_rans_work *w, const uint32_t *c,
			     const uint16_t *f, unsigned S, const symlist *l)
{
	uint64_t b = 0;

	for (unsigned i = 0; i < l->k; i++) {
		const unsigned s = l->s[i];
		b += (uint64_t)c[s] * (((uint64_t)S << 16) - w->lg[f[s]]);
	}
	return b;
}

/* Bits (Q16) that counts c cost under frequencies f (of 2^S, S <= 12:
 * each in the table). */
__attribute__((target_clones("avx2", "default"))) static uint64_t
code_bits(const z4_rans_work *w, const uint32_t *c, const uint16_t *f,
	  unsigned S)
{
	uint64_t b = 0;

	/* An absent symbol adds 0 (c = 0) whatever lg[0]: no branch. */
	for (int s = 0; s < 256; s++)
		b += (uint64_t)c[s] * (((uint64_t)S << 16) - w->lg[f[s]]);
	return b;
}

/*
 * Decode entry: symbol | (2^S - f) << 8 | start << 20. With S = 11 bit 19
 * is free: POISON marks a symbol that is no context with a table (order 1:
 * decoding one where it is a context makes the stream corrupt).
 */
#define POISON (1u << 19)

static void build_dtable(uint32_t *t, const uint16_t *f, unsigned S,
			 const uint8_t *miss)
{
	uint32_t c = 0;

	for (int s = 0; s < 256; s++) {
		uint32_t fs = f[s], e;
		if (!fs)
			continue;
		e = (uint32_t)s | ((1u << S) - fs) << 8 | c << 20;
		if (miss && miss[s])
			e |= POISON;
		for (uint32_t j = 0; j < fs; j += 4) {
			t[c + j] = e;
			t[c + j + 1] = e;
			t[c + j + 2] = e;
			t[c + j + 3] = e;
		}
		c += fs;
	}
}

/* ---- the coding loops ---- */

/* A 16-bit little-endian store, one instruction where the host is LE. */
INLINE void put16(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint16_t t = (uint16_t)v;
	memcpy(p, &t, 2);
#else
	z4_put16(p, (uint16_t)v);
#endif
}

INLINE void enc_put(uint32_t *x, uint8_t **pp, const esym *e,
		    const unsigned S, const int rare)
{
	uint32_t v = *x, out, shed = v >> 16;
	uint64_t q;

	if (rare) {
		/* Under a bit per symbol a state rarely sheds: a branch
		 * predicts well. */
		if (v > e->thr) {
			*pp -= 2;
			put16(*pp, v);
			v = shed;
		}
	} else {
		/* Whether a state sheds a word is data, unpredictable: no
		 * branch. The word is stored below the stream either way
		 * and kept only if due (the buffer has room for a word per
		 * symbol). */
		out = v > e->thr;
		put16(*pp - 2, v);
		*pp -= 2 * out;
		OPAQUE(shed);
		v = out ? shed : v;
	}
	q = ((uint64_t)v * e->rcp) >> (32 + S);
	*x = v + e->bias + (uint32_t)q * e->cmpl;
}

/* The context of position pos (model constant after inlining). */
#define CTX_OF(pos, first)                                                     \
	(model == Z4_RANS_O0   ? 0                                             \
	 : model == Z4_RANS_O1 ? ((first) ? 0 : src[(pos) - 1])                \
			       : side[pos])

/* Encode src[0..n) into the buffer ending at end, backwards; returns the
 * payload start. es[ctx] must cover every (context, symbol) that occurs;
 * end - 2 * n - STATE_BYTES must be inside the buffer. The four states are
 * named so that they live in registers. */
INLINE uint8_t *enc_loop(uint8_t *end, const esym (*es)[256],
			 const uint8_t *src, size_t n, const uint8_t *side,
			 const int model, const unsigned S, const int rare)
{
	uint32_t x0 = RANS_L, x1 = RANS_L, x2 = RANS_L, x3 = RANS_L;
	size_t q = n / NSTATE;
	const uint8_t *s1 = src + q, *s2 = src + 2 * q, *s3 = src + 3 * q;
	uint8_t *p = end;

	for (size_t pos = n; pos-- > NSTATE * q;)
		enc_put(&x0, &p, &es[CTX_OF(pos, pos == 0)][src[pos]], S, rare);
#define ENC_ROW(i, f)                                                          \
	do {                                                                   \
		enc_put(&x3, &p, &es[CTX_OF(3 * q + (i), f)][s3[i]], S, rare); \
		enc_put(&x2, &p, &es[CTX_OF(2 * q + (i), f)][s2[i]], S, rare); \
		enc_put(&x1, &p, &es[CTX_OF(q + (i), f)][s1[i]], S, rare);     \
		enc_put(&x0, &p, &es[CTX_OF(i, f)][src[i]], S, rare);          \
	} while (0)
	for (size_t i = q; i-- > 1;)
		ENC_ROW(i, 0);
	if (q) /* the first row: order-1 contexts are 0 */
		ENC_ROW(0, 1);
#undef ENC_ROW
	p -= STATE_BYTES;
	z4_put32(p, x0);
	z4_put32(p + 4, x1);
	z4_put32(p + 8, x2);
	z4_put32(p + 12, x3);
	return p;
}

/* Renormalize without a bounds check (the caller checked room) and
 * without a branch: whether a state needs a word is data, unpredictable. */
#define RENORM(x)                                                              \
	do {                                                                   \
		uint32_t need_ = (x) < RANS_L, y_ = (x) << 16 | z4_le16(p);    \
		OPAQUE(y_);                                                    \
		(x) = need_ ? y_ : (x);                                        \
		p += need_ << 1;                                               \
	} while (0)
/* The same with a branch, for streams of under a bit per symbol: there a
 * state rarely needs a word, and the branch predicts well. */
#define RENORM_RARE(x)                                                         \
	do {                                                                   \
		if ((x) < RANS_L) {                                            \
			(x) = (x) << 16 | z4_le16(p);                          \
			p += 2;                                                \
		}                                                              \
	} while (0)
#define RENORM_FAST(x)                                                         \
	do {                                                                   \
		if (rare)                                                      \
			RENORM_RARE(x);                                        \
		else                                                           \
			RENORM(x);                                             \
	} while (0)
#define RENORM_CHECKED(x)                                                      \
	do {                                                                   \
		if ((x) < RANS_L) {                                            \
			if (end - p < 2)                                       \
				return Z4_ECORRUPT;                            \
			(x) = (x) << 16 | z4_le16(p);                          \
			p += 2;                                                \
		}                                                              \
	} while (0)
/* The decode table of context c. */
#define TAB(c) (model == Z4_RANS_O0 ? dt : dt + ((size_t)(c) << S))
/* x' = f * (x >> S) + (x & mask) - start = x - start - (2^S - f) * (x >> S) */
#define ADVANCE(x, e) ((x) - ((e) >> 20) - ((e) >> 8 & mask) * ((x) >> S))
/*
 * One row: a symbol of each quarter, at d[0], d[q], d[2q], d[3q]. Order-1
 * contexts c0..c3 are the quarter's previous symbols (0 first); side
 * contexts are read at sd. ACC: whether the row's symbols are order-1
 * contexts (all rows but the last), their POISON bits then collected.
 */
#define ROW(RN, ACC)                                                           \
	do {                                                                   \
		uint32_t e0_, e1_, e2_, e3_;                                   \
		if (model == Z4_RANS_CTX) {                                    \
			c0 = sd[0];                                            \
			c1 = sd[q];                                            \
			c2 = sd[q2];                                           \
			c3 = sd[q3];                                           \
		}                                                              \
		e0_ = TAB(c0)[x0 & mask];                                      \
		e1_ = TAB(c1)[x1 & mask];                                      \
		e2_ = TAB(c2)[x2 & mask];                                      \
		e3_ = TAB(c3)[x3 & mask];                                      \
		d[0] = (uint8_t)e0_;                                           \
		d[q] = (uint8_t)e1_;                                           \
		d[q2] = (uint8_t)e2_;                                          \
		d[q3] = (uint8_t)e3_;                                          \
		if (model == Z4_RANS_O1) {                                     \
			if (ACC)                                               \
				bad |= e0_ | e1_ | e2_ | e3_;                  \
			c0 = e0_ & 0xff;                                       \
			c1 = e1_ & 0xff;                                       \
			c2 = e2_ & 0xff;                                       \
			c3 = e3_ & 0xff;                                       \
		}                                                              \
		x0 = ADVANCE(x0, e0_);                                         \
		x1 = ADVANCE(x1, e1_);                                         \
		x2 = ADVANCE(x2, e2_);                                         \
		x3 = ADVANCE(x3, e3_);                                         \
		RN(x0);                                                        \
		RN(x1);                                                        \
		RN(x2);                                                        \
		RN(x3);                                                        \
		d++;                                                           \
		if (model == Z4_RANS_CTX)                                      \
			sd++;                                                  \
	} while (0)

/*
 * Decode n symbols from [p, end) into dst. dt: the order-0 table, or the
 * context tables (context c's at c << S). Order 1: miss[c] != 0 when
 * context c has no table, and the tables carry POISON. Side contexts
 * must all have tables (dec_ctx checked).
 */
INLINE int dec_loop(uint8_t *dst, size_t n, const uint8_t *p,
		    const uint8_t *end, const uint32_t *dt, const uint8_t *miss,
		    const uint8_t *side, const int model, const unsigned S,
		    const int rare)
{
	const uint32_t mask = (1u << S) - 1;
	const size_t q = n / NSTATE, q2 = 2 * q, q3 = 3 * q;
	/* Rows whose symbols are contexts of the next row (order 1). */
	const size_t ctx_rows = model == Z4_RANS_O1 && q ? q - 1 : q;
	uint32_t x0, x1, x2, x3, c0 = 0, c1 = 0, c2 = 0, c3 = 0, bad = 0;
	uint8_t *d = dst;
	const uint8_t *sd = side;

	if (end - p < STATE_BYTES)
		return Z4_ECORRUPT;
	x0 = z4_le32(p);
	x1 = z4_le32(p + 4);
	x2 = z4_le32(p + 8);
	x3 = z4_le32(p + 12);
	if (x0 < RANS_L || x1 < RANS_L || x2 < RANS_L || x3 < RANS_L)
		return Z4_ECORRUPT;
	p += STATE_BYTES;
	if (model == Z4_RANS_O1 && q && miss[0])
		return Z4_ECORRUPT;
	/* A row reads at most a word per state: run unchecked over as many
	 * rows as the input surely holds, then look again. */
	for (;;) {
		size_t room = (size_t)(end - p) / (2 * NSTATE);
		size_t left = ctx_rows - (size_t)(d - dst);
		uint8_t *lim = d + (left < room ? left : room);
		if (d == lim)
			break;
		while (d < lim)
			ROW(RENORM_FAST, 1);
	}
	while (d < dst + ctx_rows)
		ROW(RENORM_CHECKED, 1);
	while (d < dst + q)
		ROW(RENORM_CHECKED, 0);
	if (bad & POISON)
		return Z4_ECORRUPT;
	for (size_t pos = NSTATE * q; pos < n; pos++) {
		uint32_t c = model == Z4_RANS_CTX ? side[pos]
			     : model == Z4_RANS_O1 && pos ? dst[pos - 1]
							  : 0;
		uint32_t e;
		if (model == Z4_RANS_O1 && miss[c])
			return Z4_ECORRUPT;
		e = TAB(c)[x0 & mask];
		dst[pos] = (uint8_t)e;
		x0 = ADVANCE(x0, e);
		RENORM_CHECKED(x0);
	}
	if (x0 != RANS_L || x1 != RANS_L || x2 != RANS_L || x3 != RANS_L)
		return Z4_ECORRUPT;
	return p == end ? Z4_OK : Z4_ECORRUPT;
}

#undef ROW
#undef ADVANCE
#undef RENORM
#undef RENORM_CHECKED
#undef RENORM_RARE
#undef RENORM_FAST
#undef TAB


/* ---- wide order 0 (rans_wide.h) ---- */

#define WL Z4_RANSW_LANES
#define WSTATE_BYTES (4 * WL)
#define WIDE_DT 4096 /* a held block's table follows the first at w->dt */
/* The final states go where encoder kernels may scribble. */
_Static_assert(4 * Z4_RANSW_LANES >= Z4_RANSW_ENC_SCRIBBLE, "scribble");

/* Encode one block of bn symbols with the encoder symbols es (12-bit, of
 * the frequencies f; the rows by k's encoder where it has one) into
 * the buffer ending at end, backwards, in the exact reverse of the
 * decoder's order: the last (partial) row, then rows last to first, lanes
 * 31 to 0 within a row. The words come out in the decoder's reading order:
 * by row, then lane. Returns the payload start: the 32 final states, then
 * the words. end - 2 * bn - WSTATE_BYTES must be inside the buffer. */
static uint8_t *enc_wide(uint8_t *end, const esym *es, const uint16_t *f,
			 const uint8_t *src, size_t bn,
			 const z4_ransw_kernels *k)
{
	uint32_t x[WL], et[256];
	size_t rows = bn / WL;
	uint8_t *p = end;

	for (int j = 0; j < WL; j++)
		x[j] = RANS_L;
	for (size_t pos = bn; pos-- > rows * WL;)
		enc_put(&x[pos % WL], &p, &es[src[pos]], S_O0, 0);
	if (k->enc) {
		for (uint32_t s = 0, c = 0; s < 256; c += f[s++])
			et[s] = Z4_RANSW_EENTRY(f[s], c);
		k->enc(x, &p, src, rows, et);
	} else {
		for (size_t r = rows; r-- > 0;) {
			const uint8_t *s = src + r * WL;
			for (int j = WL; j-- > 0;)
				enc_put(&x[j], &p, &es[s[j]], S_O0, 0);
		}
	}
	p -= WSTATE_BYTES;
	for (int j = 0; j < WL; j++)
		z4_put32(p + 4 * j, x[j]);
	return p;
}

/* A wide block being decoded: its stream, payload end, rows done. */
typedef struct {
	z4_ransw_stream s;
	const uint8_t *end;
	size_t bn, r;
} wblock;

/* Start decoding a block's payload [p, end) (states, then words) into
 * dst[0..bn) with table dt. */
static int wide_open(wblock *b, uint8_t *dst, size_t bn, const uint8_t *p,
		     const uint8_t *end, const uint32_t *dt)
{
	if (end - p < WSTATE_BYTES)
		return Z4_ECORRUPT;
	for (int j = 0; j < WL; j++) {
		b->s.x[j] = z4_le32(p + 4 * j);
		if (b->s.x[j] < RANS_L)
			return Z4_ECORRUPT;
	}
	b->s.p = p + WSTATE_BYTES;
	b->s.dst = dst;
	b->s.dt = dt;
	b->end = end;
	b->bn = bn;
	b->r = 0;
	return Z4_OK;
}

/* Rows of b left that its input surely holds: kernels run them unchecked. */
static size_t wide_room(const wblock *b)
{
	size_t room = (size_t)(b->end - b->s.p) / Z4_RANSW_ROW_MAX;
	size_t left = b->bn / WL - b->r;

	return left < room ? left : room;
}

/* Two blocks at once while both have room. */
static void wide_pair(wblock *a, wblock *b, const z4_ransw_kernels *k)
{
	size_t ra, rb;

	while ((ra = wide_room(a)) != 0 && (rb = wide_room(b)) != 0) {
		size_t run = ra < rb ? ra : rb;
		k->rows2(&a->s, &b->s, run);
		a->r += run;
		b->r += run;
	}
}

/* One symbol of lane j with table tab of S bits, reading its refill only
 * if the input has it. */
#define WIDE_CHECKED(j, out, tab, S)                                           \
	do {                                                                   \
		uint32_t v_ = x[j], e_ = (tab)[v_ & ((1u << (S)) - 1)];        \
		(out) = (uint8_t)(e_ >> 24);                                   \
		v_ = ((e_ & 0xfff) + 1) * (v_ >> (S)) + (e_ >> 12 & 0xfff);    \
		if (v_ < RANS_L) {                                             \
			if (end - p < 2)                                       \
				return Z4_ECORRUPT;                            \
			v_ = v_ << 16 | z4_le16(p);                            \
			p += 2;                                                \
		}                                                              \
		x[j] = v_;                                                     \
	} while (0)

/* Finish b: the kernel while the input surely holds its rows, then the
 * rest (near the stream's end) checked per word; the states must end at
 * 2^16 and the words with the payload. */
static int wide_close(wblock *b, const z4_ransw_kernels *k)
{
	const uint32_t *dt = b->s.dt;
	const uint8_t *p, *end = b->end;
	uint32_t *x = b->s.x;
	uint8_t *dst;
	size_t run;

	while ((run = wide_room(b)) != 0) {
		k->rows(&b->s, run);
		b->r += run;
	}
	p = b->s.p;
	dst = b->s.dst;
	for (size_t r = b->r; r < b->bn / WL; r++, dst += WL)
		for (int j = 0; j < WL; j++)
			WIDE_CHECKED(j, dst[j], dt, S_O0);
	for (size_t j = 0; j < b->bn % WL; j++)
		WIDE_CHECKED(j, dst[j], dt, S_O0);
	for (int j = 0; j < WL; j++)
		if (x[j] != RANS_L)
			return Z4_ECORRUPT;
	return p == end ? Z4_OK : Z4_ECORRUPT;
}

/* ---- wide context model ---- */

#define CL Z4_RANSC_LANES
#define CSTATE_BYTES (4 * CL)
/* The side context's table (Z4_RANSC_S bits) in the decode tables dt. */
#define CTAB(c) (dt + ((size_t)(c) << Z4_RANSC_S))

/* Encode the symbols of pairs[0..n) (context << 8 | symbol), with the
 * encoder symbols w->es of the contexts that occur (their counts in
 * ctot), into the buffer ending at end, backwards, in the exact reverse
 * of dec_wctx's order: the last partial row, then rows last to first,
 * lanes 63 to 0. Returns the payload start (the 64 final states, then the
 * words); end - 2 * n - CSTATE_BYTES must be inside the buffer. */
static uint8_t *enc_wctx(uint8_t *end, z4_rans_work *w, const uint16_t *pairs,
			 size_t n, const uint32_t ctot[256])
{
	const z4_ransw_kernels *k = w->wide;
	const size_t rows = n / CL;
	uint32_t x[CL];
	uint8_t *p = end;

	for (int j = 0; j < CL; j++)
		x[j] = RANS_L;
	if (k->ctx_enc) {
		for (int c = 0; c < 256; c++) {
			const uint16_t *f = w->freq[c];
			const symlist *l = &w->syms[c];
			uint32_t *e = w->et + ((size_t)c << 8), cum = 0;
			if (!ctot[c])
				continue;
			/* only the pairs that occur are looked up */
			for (unsigned i = 0; i < l->k; i++) {
				const unsigned v = l->s[i];
				e[v] = Z4_RANSW_EENTRY(f[v], cum);
				cum += f[v];
			}
		}
		/* The partial last row by division: no reciprocals needed. */
		for (size_t pos = n; pos-- > rows * CL;) {
			uint32_t e = w->et[pairs[pos]];
			uint32_t v = x[pos % CL], f = e & 0xffff;
			if (v >= (uint64_t)f << (32 - Z4_RANSC_S)) {
				p -= 2;
				put16(p, v);
				v >>= 16;
			}
			x[pos % CL] = (v / f << Z4_RANSC_S) + v % f + (e >> 16);
		}
		k->ctx_enc(x, &p, pairs, rows, w->et);
	} else {
		const esym *es = (const esym *)w->es; /* at c << 8 | s */
		for (size_t pos = n; pos-- > rows * CL;)
			enc_put(&x[pos % CL], &p, &es[pairs[pos]], Z4_RANSC_S,
				0);
		for (size_t r = rows; r-- > 0;) {
			const uint16_t *s = pairs + r * CL;
			for (int j = CL; j-- > 0;)
				enc_put(&x[j], &p, &es[s[j]], Z4_RANSC_S, 0);
		}
	}
	p -= CSTATE_BYTES;
	for (int j = 0; j < CL; j++)
		z4_put32(p + 4 * j, x[j]);
	return p;
}

/*
 * Decode n symbols from the payload [p, end) with the wide tables dt of
 * the side contexts (dec_ctx checked that every one has a table). The
 * kernel runs unchecked over as many rows as the input surely holds; a
 * compressed stream reads far less than that worst case, so near the end
 * the kernel goes on over a copy of the last bytes (tail, zero padded)
 * TAIL_ROWS rows at a time, as long as it has read no further than the
 * copied bytes. The partial last row is decoded checked, per word.
 */
static int dec_wctx(uint8_t *dst, size_t n, const uint8_t *p,
		    const uint8_t *end, const uint32_t *dt,
		    const uint8_t *side, unsigned sh,
		    const z4_ransw_kernels *k, uint8_t *tail)
{
	const size_t rows = n / CL;
	z4_ransc_stream st;
	uint32_t *x = st.x;
	size_t r = 0;

	if (end - p < CSTATE_BYTES)
		return Z4_ECORRUPT;
	for (int j = 0; j < CL; j++) {
		x[j] = z4_le32(p + 4 * j);
		if (x[j] < RANS_L)
			return Z4_ECORRUPT;
	}
	st.p = p + CSTATE_BYTES;
	st.dst = dst;
	st.side = side;
	st.dt = dt;
	st.side_shift = sh;
	while (r < rows) {
		size_t room = (size_t)(end - st.p) / Z4_RANSC_ROW_MAX;
		size_t run = rows - r < room ? rows - r : room;
		if (run < TAIL_ROWS && run < rows - r)
			break;
		k->ctx_rows(&st, run);
		r += run;
	}
	if (r < rows) {
		size_t left = (size_t)(end - st.p); /* < TAIL_BYTES */
		memcpy(tail, st.p, left);
		memset(tail + left, 0, TAIL_BYTES);
		st.p = tail;
		end = tail + left;
		while (r < rows) {
			size_t run = rows - r < TAIL_ROWS ? rows - r : TAIL_ROWS;
			k->ctx_rows(&st, run);
			r += run;
			if (st.p > end)
				return Z4_ECORRUPT;
		}
	}
	p = st.p;
	dst = st.dst;
	side = st.side;
	for (size_t j = 0; j < n % CL; j++)
		WIDE_CHECKED(j, dst[j],
			     CTAB(sh ? z4_le16(side + 2 * j) >> sh & 0xff
				     : side[j]),
			     Z4_RANSC_S);
	for (int j = 0; j < CL; j++)
		if (x[j] != RANS_L)
			return Z4_ECORRUPT;
	return p == end ? Z4_OK : Z4_ECORRUPT;
}

#undef WIDE_CHECKED
#undef CTAB

/* ---- order 0 ---- */

/* An order-0 block being encoded: its symbols, kind (BLOCK_RANS until
 * coding shows raw is shorter), frequencies, encoder symbols and payload. */
typedef struct {
	const uint8_t *s;
	size_t bn, tl, plen;
	int kind;
	uint16_t *f;
	esym *es;
	uint8_t *pl;
} o0_block;

/* Count block b's symbols; a rANS block also gets its frequencies (its
 * encoder symbols es are built only if a scalar coder needs them). */
static void o0_plan(o0_block *b, const uint8_t *s, size_t bn, uint16_t *f,
		    esym *es, uint32_t h[256], const z4_ransw_kernels *kern)
{
	int k = 0;

	b->s = s;
	b->bn = bn;
	b->f = f;
	b->es = es;
	memset(h, 0, 256 * sizeof(*h));
	count_bytes(kern, h, s, bn);
	for (int v = 0; v < 256; v++)
		k += h[v] != 0;
	b->kind = k == 1 ? BLOCK_CONST : BLOCK_RAW;
	if (k > 1) {
		normalize(f, h, bn, S_O0);
		b->tl = table_len(f);
		if (b->tl + 5 < bn)
			b->kind = BLOCK_RANS;
	}
}

/* A rANS block's payload ends at end: raw instead if that is shorter. */
static void o0_done(o0_block *b, uint8_t *end)
{
	b->plen = (size_t)(end - b->pl);
	if (1 + b->tl + 4 + b->plen >= 1 + b->bn)
		b->kind = BLOCK_RAW;
}

/* Append block b at *o (oend the end of room): OVER if it does not fit. */
static int o0_put(uint8_t **o, uint8_t *oend, const o0_block *b)
{
	uint8_t *p = *o;
	size_t need = b->kind == BLOCK_CONST  ? 2
		      : b->kind == BLOCK_RANS ? 1 + b->tl + 4 + b->plen
					      : 1 + b->bn;

	if ((size_t)(oend - p) < need)
		return OVER;
	*p++ = (uint8_t)b->kind;
	if (b->kind == BLOCK_CONST) {
		*p++ = b->s[0];
	} else if (b->kind == BLOCK_RANS) {
		p = write_table(p, b->f);
		z4_put32(p, (uint32_t)b->plen);
		memcpy(p + 4, b->pl, b->plen);
		p += 4 + b->plen;
	} else {
		memcpy(p, b->s, b->bn);
		p += b->bn;
	}
	*o = p;
	return Z4_OK;
}

/* Two full wide blocks a and b at once, into the buffers ending at ea and
 * eb, by the kernels' two-block encoder. */
static void enc_wide2(o0_block *a, uint8_t *ea, o0_block *b, uint8_t *eb,
		      const z4_ransw_kernels *k)
{
	z4_ransw_enc_stream st[2];
	uint32_t et[2][256];
	o0_block *blk[2] = {a, b};

	st[0].p = ea;
	st[1].p = eb;
	for (int i = 0; i < 2; i++) {
		const uint16_t *f = blk[i]->f;
		for (int j = 0; j < WL; j++)
			st[i].x[j] = RANS_L;
		for (uint32_t s = 0, c = 0; s < 256; c += f[s++])
			et[i][s] = Z4_RANSW_EENTRY(f[s], c);
		st[i].src = blk[i]->s;
		st[i].et = et[i];
	}
	k->enc2(&st[0], &st[1], Z4_RANS_BLOCK / WL);
	for (int i = 0; i < 2; i++) {
		uint8_t *p = st[i].p - WSTATE_BYTES;
		for (int j = 0; j < WL; j++)
			z4_put32(p + 4 * j, st[i].x[j]);
		blk[i]->pl = p;
	}
}

/* Order 0, or with `wide` the same blocks coded by enc_wide (two at once
 * where the kernels can). */
static int enc_o0(size_t *out_len, uint8_t *dst, size_t cap, z4_rans_work *w,
		  const uint8_t *src, size_t n, int wide)
{
	const size_t room = 2 * (size_t)Z4_RANS_BLOCK + WSTATE_BYTES;
	const int pairs = wide && w->wide->enc2;
	uint8_t *o = dst, *const oend = dst + cap;

	Z4_TRY(grow(w, 2 * room));
	for (size_t b = 0; b < n;) {
		uint8_t *const end = w->buf + w->buf_cap;
		o0_block blk[2];
		uint32_t h[256];
		int nb = pairs && n - b >= 2 * (size_t)Z4_RANS_BLOCK ? 2 : 1;
		int both = nb == 2;

		for (int i = 0; i < nb; i++, b += Z4_RANS_BLOCK) {
			size_t bn = n - b < Z4_RANS_BLOCK ? n - b
							  : Z4_RANS_BLOCK;
			o0_plan(&blk[i], src + b, bn, w->freq[i], w->es[i], h,
				w->wide);
			both &= blk[i].kind == BLOCK_RANS;
		}
		if (both) {
			enc_wide2(&blk[0], end - room, &blk[1], end, w->wide);
			o0_done(&blk[0], end - room);
			o0_done(&blk[1], end);
		}
		for (int i = 0; i < nb && !both; i++) {
			o0_block *ob = &blk[i];
			uint8_t *e = end - (size_t)(nb - 1 - i) * room;
			if (ob->kind != BLOCK_RANS)
				continue;
			build_esyms(ob->es, ob->f, S_O0);
			/* Under a bit per symbol, shedding branches (h: the
			 * counts of the only block planned). */
			const esym(*es)[256] = (const esym(*)[256])ob->es;
			if (wide)
				ob->pl = enc_wide(e, ob->es, ob->f, ob->s,
						  ob->bn, w->wide);
			else if (code_bits(w, h, ob->f, S_O0) >> 16 < ob->bn)
				ob->pl = enc_loop(e, es, ob->s, ob->bn, NULL,
						  Z4_RANS_O0, S_O0, 1);
			else
				ob->pl = enc_loop(e, es, ob->s, ob->bn, NULL,
						  Z4_RANS_O0, S_O0, 0);
			o0_done(ob, e);
		}
		for (int i = 0; i < nb; i++)
			if (o0_put(&o, oend, &blk[i]) != Z4_OK)
				return OVER;
	}
	*out_len = (size_t)(o - dst);
	return Z4_OK;
}

static int dec_o0(uint8_t *dst, size_t n, z4_rans_work *w, const uint8_t *p,
		  size_t len, int wide)
{
	const uint8_t *end = p + len;
	wblock wb[2];
	int held = 0;

	for (size_t b = 0; b < n; b += Z4_RANS_BLOCK) {
		size_t bn = n - b < Z4_RANS_BLOCK ? n - b : Z4_RANS_BLOCK;
		/* A wide block is held until the next: two decode at once,
		 * each with its own table. */
		uint32_t plen, *dt = w->dt + (held ? WIDE_DT : 0);
		int rc;

		if (p >= end)
			return Z4_ECORRUPT;
		switch (*p++) {
		case BLOCK_RAW:
			if ((size_t)(end - p) < bn)
				return Z4_ECORRUPT;
			memcpy(dst + b, p, bn);
			p += bn;
			break;
		case BLOCK_CONST:
			if (p >= end)
				return Z4_ECORRUPT;
			memset(dst + b, *p++, bn);
			break;
		case BLOCK_RANS:
			if (wide)
				Z4_TRY(read_wide_table(dt, w->wide, &p, end,
						       S_O0));
			else
				Z4_TRY(read_table(w->freq[0], &p, end, S_O0));
			if (end - p < 4)
				return Z4_ECORRUPT;
			plen = z4_le32(p);
			p += 4;
			if ((size_t)(end - p) < plen)
				return Z4_ECORRUPT;
			if (wide) {
				Z4_TRY(wide_open(&wb[held], dst + b, bn, p,
						 p + plen, dt));
				p += plen;
				if (held++) {
					wide_pair(&wb[0], &wb[1], w->wide);
					Z4_TRY(wide_close(&wb[0], w->wide));
					Z4_TRY(wide_close(&wb[1], w->wide));
					held = 0;
				}
				break;
			}
			build_dtable(w->dt, w->freq[0], S_O0, NULL);
			if (plen < bn / 8)
				rc = dec_loop(dst + b, bn, p, p + plen, w->dt,
					      NULL, NULL, Z4_RANS_O0, S_O0, 1);
			else
				rc = dec_loop(dst + b, bn, p, p + plen, w->dt,
					      NULL, NULL, Z4_RANS_O0, S_O0, 0);
			Z4_TRY(rc);
			p += plen;
			break;
		default:
			return Z4_ECORRUPT;
		}
	}
	if (held)
		Z4_TRY(wide_close(&wb[0], w->wide));
	return p == end ? Z4_OK : Z4_ECORRUPT;
}

/* ---- context models ---- */

void z4_rans_pairs(uint16_t *pairs, unsigned *lo, unsigned *hi,
		   const uint8_t *src, const uint8_t *side, size_t n)
{
	uint8_t l = 255, h = 0;

	for (size_t i = 0; i < n; i++) {
		pairs[i] = (uint16_t)(side[i] << 8 | src[i]);
		l = side[i] < l ? side[i] : l;
		h = side[i] > h ? side[i] : h;
	}
	*lo = l;
	*hi = h;
}

/*
 * Count pairs[0..n) (context << 8 | symbol) in L tables (4 or 8), pair j
 * in table j mod L: an increment takes a load and a store, the store the
 * floor, four indices coming from one 64-bit load. Tables keep a pair that
 * repeats (a zero byte of an XOR plane under the same context) from
 * waiting on its own increment: eight for such skewed planes; four where
 * pairs are spread (the escape form's symbols, dozens a context), whose
 * eight tables' touched lines (some 80 KiB) overflowed L1: 5% of a bf16
 * delta's encode.
 */
_Static_assert(NLANE == 8, "count_lanes() counts in up to eight tables");

INLINE void count_in(uint32_t (*cnt)[256], const uint16_t *pairs, size_t n,
		     const unsigned L)
{
	uint32_t *c[8];
	size_t j = 0;

	for (unsigned k = 0; k < 8; k++)
		c[k] = cnt[(k % L) * LANE_ROWS];
	for (; j + 8 <= n; j += 8) {
		uint64_t a, d;
		memcpy(&a, pairs + j, 8);
		memcpy(&d, pairs + j + 4, 8);
		c[0][(uint16_t)a]++;
		c[1][(uint16_t)(a >> 16)]++;
		c[2][(uint16_t)(a >> 32)]++;
		c[3][a >> 48]++;
		c[4][(uint16_t)d]++;
		c[5][(uint16_t)(d >> 16)]++;
		c[6][(uint16_t)(d >> 32)]++;
		c[7][d >> 48]++;
	}
	for (; j < n; j++)
		c[0][pairs[j]]++;
}

static void count_lanes(uint32_t (*cnt)[256], const uint16_t *pairs, size_t n)
{
	count_in(cnt, pairs, n, NLANE);
}

#define SPREAD_LANES 4

static void count_spread(uint32_t (*cnt)[256], const uint16_t *pairs,
			 size_t n)
{
	count_in(cnt, pairs, n, SPREAD_LANES);
}

/* Sum rows [lo, hi] of the first `lanes` tables into the first, clearing
 * the others, and their totals into ctot (0 outside). */
__attribute__((target_clones("avx2", "default"))) static void
merge_lanes(uint32_t (*cnt)[256], uint32_t ctot[256], unsigned lanes,
	    unsigned lo, unsigned hi)
{
	memset(ctot, 0, 256 * sizeof(*ctot));
	for (unsigned c = lo; c <= hi; c++) {
		uint32_t *r0 = cnt[c], t = 0;
		for (unsigned j = 1; j < lanes; j++) {
			uint32_t *r = cnt[j * LANE_ROWS + c], any = 0;
			for (int v = 0; v < 256; v++) {
				r0[v] += r[v];
				any |= r[v];
			}
			if (any)
				memset(r, 0, 256 * sizeof(*r));
		}
		for (int v = 0; v < 256; v++)
			t += r0[v];
		ctot[c] = t;
	}
}

/* Count pairs[0..n), contexts lo..hi, into cnt[0..256) and the contexts
 * into ctot: long planes in SPREAD_LANES tables summed into the first
 * (the escape form's symbols: spread pairs). */
static void count_pairs_of(uint32_t (*cnt)[256], uint32_t ctot[256],
			   const uint16_t *pairs, size_t n, unsigned lo,
			   unsigned hi)
{
	if (n < LANES_MIN) {
		uint32_t *c = cnt[0]; /* [c][s] at c << 8 | s */
		for (size_t i = 0; i < n; i++)
			c[pairs[i]]++;
		merge_lanes(cnt, ctot, 1, lo, hi);
		return;
	}
	count_spread(cnt, pairs, n);
	merge_lanes(cnt, ctot, SPREAD_LANES, lo, hi);
}

/*
 * Count (context, symbol) pairs into cnt[0..256) and contexts into ctot.
 * The context model's pairs go to w->pairs as well (its wide encoder
 * reads them), made a run at a time and counted while in cache; order
 * 1's count in one table per state's quarter, summed into the first.
 */
#define PAIR_RUN 2048

static int count_ctx(z4_rans_work *w, uint32_t ctot[256], const uint8_t *src,
		     size_t n, const uint8_t *side, int model)
{
	uint32_t(*cnt)[256] = w->cnt;
	const size_t q = n / NSTATE;

	if (model == Z4_RANS_CTX) {
		uint32_t *c0 = cnt[0]; /* [c][s] at c << 8 | s */
		unsigned lo = 255, hi = 0;
		uint16_t *pairs;
		Z4_TRY(grow_bytes(&w->pairs, &w->pairs_cap, 2 * n));
		pairs = PAIRS(w);
		for (size_t i = 0; i < n; i += PAIR_RUN) {
			const size_t b = n - i < PAIR_RUN ? n - i : PAIR_RUN;
			unsigned l, h;
			z4_rans_pairs(pairs + i, &l, &h, src + i, side + i, b);
			lo = l < lo ? l : lo;
			hi = h > hi ? h : hi;
			if (n >= LANES_MIN)
				count_lanes(cnt, pairs + i, b);
			else
				for (size_t j = 0; j < b; j++)
					c0[pairs[i + j]]++;
		}
		merge_lanes(cnt, ctot, n >= LANES_MIN ? NLANE : 1, lo, hi);
		return Z4_OK;
	}
	if (n < LANES_MIN) {
		memset(ctot, 0, 256 * sizeof(*ctot));
		for (int j = 0; j < NSTATE && q; j++) {
			const uint8_t *s = src + (size_t)j * q;
			cnt[0][s[0]]++;
			ctot[0]++;
			for (size_t i = 1; i < q; i++)
				cnt[s[i - 1]][s[i]]++;
			count4(ctot, s, q - 1);
		}
		for (size_t pos = NSTATE * q; pos < n; pos++) {
			uint8_t c = pos ? src[pos - 1] : 0;
			cnt[c][src[pos]]++;
			ctot[c]++;
		}
		return Z4_OK;
	}
	for (int j = 0; j < NSTATE; j++) {
		const uint8_t *s = src + (size_t)j * q;
		uint32_t(*c)[256] = cnt + (size_t)j * LANE_ROWS;
		c[0][s[0]]++;
		for (size_t i = 1; i < q; i++)
			c[s[i - 1]][s[i]]++;
	}
	for (size_t pos = NSTATE * q; pos < n; pos++)
		cnt[src[pos - 1]][src[pos]]++;
	merge_lanes(cnt, ctot, NSTATE, 0, 255);
	return Z4_OK;
}

/* Code src with the pairs counted in w->cnt (contexts ctot), clearing
 * them; their frequencies are in w->freq already if `have`. The context
 * model reads its contexts from side, the wide one from pairs. */
static int enc_counted(size_t *out_len, uint8_t *dst, size_t cap,
		       z4_rans_work *w, const uint8_t *src, size_t n,
		       const uint8_t *side, const uint16_t *pairs, int model,
		       const uint32_t *ctot, int have)
{
	const unsigned S = model == Z4_RANS_WCTX ? Z4_RANSC_S : S_CTX;
	uint8_t *o = dst, *end, *pl;
	uint64_t bits = 0;
	size_t hl = 32, plen;
	int rare;

	/* Only the contexts that occur get (and clear) a table. */
	for (int c = 0; c < 256; c++) {
		if (!ctot[c])
			continue;
		if (!have)
			normalize_list(w->freq[c], &w->syms[c], w->cnt[c],
				       ctot[c], S);
		hl += table_len_of(w->freq[c], &w->syms[c]);
		/* The wide kernel encoder needs neither reciprocals nor a
		 * guess of how often states shed. */
		if (model != Z4_RANS_WCTX || !w->wide->ctx_enc) {
			bits += code_bits(w, w->cnt[c], w->freq[c], S);
			build_esyms(w->es[c], w->freq[c], S);
		}
		memset(w->cnt[c], 0, sizeof(w->cnt[c]));
	}
	if (hl + STATE_BYTES > cap)
		return OVER;
	Z4_TRY(grow(w, 2 * n + CSTATE_BYTES));
	end = w->buf + w->buf_cap;
	rare = bits >> 16 < n;
	if (model == Z4_RANS_WCTX)
		pl = enc_wctx(end, w, pairs, n, ctot);
	else if (model == Z4_RANS_CTX)
		pl = rare ? enc_loop(end, (const esym(*)[256])w->es, src, n,
				     side, Z4_RANS_CTX, S_CTX, 1)
			  : enc_loop(end, (const esym(*)[256])w->es, src, n,
				     side, Z4_RANS_CTX, S_CTX, 0);
	else
		pl = rare ? enc_loop(end, (const esym(*)[256])w->es, src, n,
				     NULL, Z4_RANS_O1, S_CTX, 1)
			  : enc_loop(end, (const esym(*)[256])w->es, src, n,
				     NULL, Z4_RANS_O1, S_CTX, 0);
	plen = (size_t)(end - pl);
	if (hl + plen > cap)
		return OVER;
	memset(o, 0, 32);
	for (int c = 0; c < 256; c++)
		if (ctot[c])
			o[c >> 3] |= (uint8_t)(1u << (c & 7));
	o += 32;
	for (int c = 0; c < 256; c++)
		if (ctot[c])
			o = write_table_of(o, w->freq[c], &w->syms[c]);
	memcpy(o, pl, plen);
	*out_len = (size_t)(o + plen - dst);
	return Z4_OK;
}

/* Layout: 32-byte bitmap of contexts with a table, their tables in
 * context order, then the payload (states and words) to the end. */
static int enc_ctx(size_t *out_len, uint8_t *dst, size_t cap,
		   z4_rans_work *w, const uint8_t *src, size_t n,
		   const uint8_t *side, int model)
{
	uint32_t ctot[256];

	Z4_TRY(count_ctx(w, ctot, src, n, side,
			 model == Z4_RANS_O1 ? Z4_RANS_O1 : Z4_RANS_CTX));
	return enc_counted(out_len, dst, cap, w, src, n, side, PAIRS(w), model,
			   ctot, 0);
}

/* sh != 0: the contexts are bits [sh, sh + 8) of 16-bit words at side
 * (Z4_RANS_WCTX, kernels with ctx_miss16). */
static int dec_ctx(uint8_t *dst, size_t n, z4_rans_work *w, const uint8_t *p,
		   size_t len, const uint8_t *side, unsigned sh, int model)
{
	const unsigned S = model == Z4_RANS_WCTX ? Z4_RANSC_S : S_CTX;
	const uint8_t *end = p + len;
	uint8_t miss[256];
	const uint8_t *bm;
	int rare;

	if (len < 32)
		return Z4_ECORRUPT;
	bm = p;
	p += 32;
	for (int c = 0; c < 256; c++)
		miss[c] = !(bm[c >> 3] >> (c & 7) & 1);
	for (int c = 0; c < 256; c++) {
		if (miss[c])
			continue;
		if (model == Z4_RANS_WCTX) {
			Z4_TRY(read_wide_table(w->dt + ((size_t)c << S),
					       w->wide, &p, end, S));
			continue;
		}
		Z4_TRY(read_table(w->freq[0], &p, end, S));
		build_dtable(w->dt + ((size_t)c << S_CTX), w->freq[0], S_CTX,
			     model == Z4_RANS_O1 ? miss : NULL);
	}
	/* Under a bit per symbol, refills branch (see RENORM_RARE). */
	rare = (size_t)(end - p) < n / 8;
	if (model == Z4_RANS_O1)
		return rare ? dec_loop(dst, n, p, end, w->dt, miss, NULL,
				       Z4_RANS_O1, S_CTX, 1)
			    : dec_loop(dst, n, p, end, w->dt, miss, NULL,
				       Z4_RANS_O1, S_CTX, 0);
	/* Every context of the side plane must have a table: checked here
	 * once rather than per symbol. */
	if (sh) {
		/* Contexts in words: checked after the decode, which brought
		 * them into cache (a context without a table reads a table
		 * that is defined but wrong: output thrown away). */
		int rc = dec_wctx(dst, n, p, end, w->dt, side, sh, w->wide,
				  w->tail);
		return w->wide->ctx_miss16(bm, side, n, sh) ? Z4_ECORRUPT : rc;
	}
	if (w->wide->ctx_miss(bm, side, n))
		return Z4_ECORRUPT;
	if (model == Z4_RANS_WCTX)
		return dec_wctx(dst, n, p, end, w->dt, side, 0, w->wide,
				w->tail);
	return rare ? dec_loop(dst, n, p, end, w->dt, NULL, side, Z4_RANS_CTX,
			       S_CTX, 1)
		    : dec_loop(dst, n, p, end, w->dt, NULL, side, Z4_RANS_CTX,
			       S_CTX, 0);
}

/* ---- entry points ---- */

int z4_rans_encode(size_t *out_len, uint8_t *dst, size_t cap,
		   z4_rans_work *w, const uint8_t *src, size_t n, int model,
		   const uint8_t *side)
{
	*out_len = 0;
	if (model == Z4_RANS_O0 || model == Z4_RANS_W0)
		return enc_o0(out_len, dst, cap, w, src, n,
			      model == Z4_RANS_W0);
	assert(model == Z4_RANS_O1 ||
	       ((model == Z4_RANS_CTX || model == Z4_RANS_WCTX) && side));
	return enc_ctx(out_len, dst, cap, w, src, n, side, model);
}

int z4_rans_decode(uint8_t *dst, size_t n, z4_rans_work *w,
		   const uint8_t *src, size_t len, int model,
		   const uint8_t *side)
{
	if (!src && len)
		return Z4_ECORRUPT;
	if (model == Z4_RANS_O0 || model == Z4_RANS_W0)
		return dec_o0(dst, n, w, src, len, model == Z4_RANS_W0);
	if (model == Z4_RANS_O1 ||
	    ((model == Z4_RANS_CTX || model == Z4_RANS_WCTX) && side))
		return dec_ctx(dst, n, w, src, len, side, 0, model);
	return Z4_ECORRUPT;
}

int z4_rans_words(const z4_rans_work *w)
{
	return w->wide->ctx_miss16 != NULL;
}

int z4_rans_decode_words(uint8_t *dst, size_t n, z4_rans_work *w,
			 const uint8_t *src, size_t len, const uint8_t *words,
			 int rot)
{
	assert(z4_rans_words(w) && words);
	if (!src && len)
		return Z4_ECORRUPT;
	return dec_ctx(dst, n, w, src, len, words, rot ? 7 : 8, Z4_RANS_WCTX);
}

/* ---- estimates ---- */

#define SAMPLE_RUN 4096u
#define SAMPLE_N 8u
_Static_assert(SAMPLE_RUN * SAMPLE_N < 65536u, "estimate counts are 16-bit");

/* The Miller-Madow bias of an empirical entropy over k symbols, (k-1)/(2
 * ln 2) bits: without it a sparse sample makes a 256-context model look
 * far better than it codes. */
#define MM_BIAS(k) ((k) > 1 ? (uint64_t)((k)-1) * 47274u : 0)

/* Bits (Q16) to code counts c[0..256) of total t with their own model.
 * Counts below LOG_TAB (nearly all) take no branch: lg[0] = lg[1] = 0. */
static uint64_t ent_q16(const z4_rans_work *w, const uint32_t *c,
			uint64_t *t_out, unsigned *k_out)
{
	uint64_t t = 0, s = 0;
	unsigned k = 0;

	for (int v = 0; v < 256; v++) {
		uint32_t x = c[v];
		t += x;
		k += x != 0;
		s += x < LOG_TAB ? (uint64_t)x * w->lg[x] : x * log2_q16(x);
	}
	*t_out = t;
	*k_out = k;
	return (t > 1 ? t * lg(w, t) - s : 0) + MM_BIAS(k);
}

/* Count pairs (c[i], s[i]), i < n. */
static void count_pairs(uint16_t (*cnt)[256], const uint8_t *c,
			const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cnt[c[i]][s[i]]++;
}

/* One sample run of a context model: its (context, symbol) pairs, the
 * order-1 context of the first being the byte before the run. */
#define FOR_PAIRS(s, c, run, off, model, i, ctx_, sym_, BODY)                  \
	do {                                                                   \
		if ((model) == 1) {                                            \
			uint8_t prev_ = (off) ? (s)[-1] : 0;                   \
			for (size_t i = 0; i < (run); i++) {                   \
				uint32_t ctx_ = prev_, sym_ = (s)[i];          \
				BODY;                                          \
				prev_ = (uint8_t)sym_;                         \
			}                                                      \
		} else {                                                       \
			for (size_t i = 0; i < (run); i++) {                   \
				uint32_t ctx_ = (c)[i], sym_ = (s)[i];         \
				BODY;                                          \
			}                                                      \
		}                                                              \
	} while (0)

/* Count one sample run's (context, symbol) pairs. */
static void count_run(uint16_t (*cnt)[256], const uint8_t *s,
		      const uint8_t *c, size_t run, size_t off, int model)
{
	if (model == 2) {
		count_pairs(cnt, c, s, run);
		return;
	}
	cnt[off ? s[-1] : 0][s[0]]++;
	count_pairs(cnt, s, s + 1, run - 1);
}

/* Add the bytes of the sample runs of p to h: the first by increments,
 * the others by count8 where the kernels have it and the first run is
 * 70% eight values. */
static void count_runs(const z4_ransw_kernels *k, uint32_t h[256],
		       const uint8_t *p, size_t runs, size_t step, size_t run)
{
	uint8_t top[8];
	int fast = 0;

	for (size_t r = 0; r < runs; r++) {
		if (fast)
			k->count8(h, p + r * step, run, top);
		else
			count4(h, p + r * step, run);
		if (!r)
			fast = runs > 1 && k->count8 && top8(top, h, run);
	}
}

void z4_rans_sample(size_t n, size_t *runs, size_t *step, size_t *run)
{
	if (n <= SAMPLE_RUN * SAMPLE_N) {
		*runs = 1;
		*run = n;
		*step = 0;
	} else {
		*runs = SAMPLE_N;
		*run = SAMPLE_RUN;
		*step = (n - SAMPLE_RUN) / (SAMPLE_N - 1);
	}
}

/* What estimate() computes: order 1 (else est[1] = SIZE_MAX); the side
 * context alone, without order 0's verdict (est[0] = SIZE_MAX). */
#define EST_O1 1
#define EST_SIDE_ONLY 2

/* z4_rans_estimate() as `what` (EST_*) says. */
static void estimate(size_t est[3], z4_rans_work *w, const uint8_t *src,
		     size_t n, const uint8_t *side, unsigned what)
{
	const int with_o1 = what & EST_O1, only = what & EST_SIDE_ONLY;
	size_t step, runs, run, sn;
	uint64_t bits[3] = {0, 0, 0}, tabs[3] = {0, 0, 0};
	uint32_t h[256];

	est[0] = est[1] = est[2] = SIZE_MAX;
	if (n == 0) {
		est[0] = est[1] = 0;
		est[2] = side ? 32 + STATE_BYTES : SIZE_MAX;
		return;
	}
	z4_rans_sample(n, &runs, &step, &run);
	sn = runs * run;
	/* order 0 */
	memset(h, 0, sizeof(h));
	if (!only) {
		uint64_t t;
		unsigned k;
		count_runs(w->wide, h, src, runs, step, run);
		bits[0] = ent_q16(w, h, &t, &k);
		tabs[0] = (1 + k * 3 / 2 + 5) *
			  ((n + Z4_RANS_BLOCK - 1) / Z4_RANS_BLOCK);
	}
	/* order 1 and side context; not for planes order 0 finds near
	 * random (mantissa bytes): a context model cannot pay its tables
	 * there, and the estimate is the costly part. */
	int try_ctx = only || (bits[0] >> 16) < (uint64_t)sn * 8 * 31 / 32;
	for (int model = 1; model <= 2 && try_ctx; model++) {
		if (model == 2 && !side)
			break;
		if (model == 1 && !with_o1)
			continue;
		uint32_t ctot[256];
		unsigned used = 0;
		for (size_t r = 0; r < runs; r++)
			count_run(w->ecnt, src + r * step,
				  model == 2 ? side + r * step : NULL, run,
				  r * step, model);
		if (model == 2) {
			memset(ctot, 0, sizeof(ctot));
			count_runs(w->wide, ctot, side, runs, step, run);
		} else {
			/* A run's contexts are the byte before it and its
			 * bytes but the last: order 0's counts, moved. */
			memcpy(ctot, h, sizeof(ctot));
			for (size_t r = 0; r < runs; r++) {
				ctot[r ? src[r * step - 1] : 0]++;
				ctot[src[r * step + run - 1]]--;
			}
		}
		for (int c = 0; c < 256; c++)
			used += ctot[c] != 0;
		tabs[model] = 32 + STATE_BYTES;
		if (sn < (size_t)used * 256) {
			/* Fewer pairs than table cells: visit each pair's
			 * cell (clearing it: later visits add nothing) rather
			 * than every cell of every context. The sum over
			 * contexts of t log t - sum c log c splits into two
			 * sums: the same integers as ent_q16's. */
			uint64_t s_all = 0;
			uint16_t ck[256];
			memset(ck, 0, sizeof(ck));
			for (size_t r = 0; r < runs; r++) {
				const uint8_t *s = src + r * step, *c = NULL;
				size_t off = r * step;
				if (model == 2)
					c = side + off;
				FOR_PAIRS(s, c, run, off, model, i, x_, y_, {
					uint32_t v_ = w->ecnt[x_][y_];
					w->ecnt[x_][y_] = 0;
					ck[x_] += v_ != 0;
					s_all += v_ * lg(w, v_);
				});
			}
			for (int c = 0; c < 256; c++) {
				uint64_t t = ctot[c];
				unsigned k = ck[c];
				if (!t)
					continue;
				bits[model] += t * lg(w, t) + MM_BIAS(k);
				tabs[model] +=
					1 + (k > 32 ? 32 : k) + k * 3 / 2;
			}
			bits[model] -= s_all;
			continue;
		}
		for (int c = 0; c < 256; c++) {
			uint64_t t;
			unsigned k;
			if (!ctot[c])
				continue;
			uint32_t row[256];
			for (int v = 0; v < 256; v++)
				row[v] = w->ecnt[c][v];
			bits[model] += ent_q16(w, row, &t, &k);
			tabs[model] += 1 + (k > 32 ? 32 : k) + k * 3 / 2;
			memset(w->ecnt[c], 0, sizeof(w->ecnt[c]));
		}
	}
	for (int model = only ? 2 : 0; model <= 2; model++) {
		if ((model == 2 && !side) || (model && !try_ctx))
			break;
		if (model == 1 && !with_o1)
			continue;
		/* bits/8 scaled from the sample to n, plus tables. */
		uint64_t b = (bits[model] >> 16) / 8;
		est[model] = (size_t)(b * n / sn + tabs[model]);
	}
}

size_t z4_rans_entropy0(z4_rans_work *w, const uint8_t *src, size_t n)
{
	uint32_t h[256] = {0};
	uint64_t t;
	unsigned k;

	count4(h, src, n);
	return (size_t)((ent_q16(w, h, &t, &k) >> 16) / 8);
}

void z4_rans_estimate(size_t est[3], z4_rans_work *w, const uint8_t *src,
		      size_t n, const uint8_t *side)
{
	estimate(est, w, src, n, side, EST_O1);
}

void z4_rans_estimate_no_o1(size_t est[3], z4_rans_work *w,
			    const uint8_t *src, size_t n, const uint8_t *side)
{
	estimate(est, w, src, n, side, 0);
}

size_t z4_rans_estimate_side(z4_rans_work *w, const uint8_t *src, size_t n,
			     const uint8_t *side)
{
	size_t est[3];

	estimate(est, w, src, n, side, EST_SIDE_ONLY);
	return est[2];
}

/* ---- the context model or order 0, by exact counts ---- */

int z4_rans_encode_pairs(size_t *out_len, int *model, uint8_t *dst,
			 size_t cap, z4_rans_work *w, const uint8_t *src,
			 const uint16_t *pairs, size_t n, unsigned lo,
			 unsigned hi, int wide)
{
	const unsigned S = wide ? Z4_RANSC_S : S_CTX;
	const size_t nb = (n + Z4_RANS_BLOCK - 1) / Z4_RANS_BLOCK;
	uint32_t ctot[256], h[256];
	uint16_t f0[256];
	uint64_t bc = 0;
	size_t ec = 32 + STATE_BYTES, e0;

	*out_len = 0;
	*model = wide ? Z4_RANS_W0 : Z4_RANS_O0;
	if (!n)
		return enc_o0(out_len, dst, cap, w, src, n, wide);
	assert(lo <= hi && hi <= 255);
	if (!wide) { /* the narrow coder reads the contexts as a plane */
		Z4_TRY(grow_bytes(&w->side, &w->side_cap, n));
		for (size_t i = 0; i < n; i++)
			w->side[i] = (uint8_t)(pairs[i] >> 8);
	}
	count_pairs_of(w->cnt, ctot, pairs, n, lo, hi);
	memset(h, 0, sizeof(h));
	/* Each model's tables as written and its symbols' code lengths
	 * under them; order 0 as if one table served every block. */
	for (int c = 0; c < 256; c++) {
		const symlist *l = &w->syms[c];
		if (!ctot[c])
			continue;
		normalize_list(w->freq[c], &w->syms[c], w->cnt[c], ctot[c], S);
		ec += table_len_of(w->freq[c], l);
		bc += code_bits_of(w, w->cnt[c], w->freq[c], S, l);
		for (unsigned i = 0; i < l->k; i++)
			h[l->s[i]] += w->cnt[c][l->s[i]];
	}
	ec += (size_t)(bc >> 16) / 8;
	normalize(f0, h, n, S_O0);
	e0 = (size_t)(code_bits(w, h, f0, S_O0) >> 16) / 8 +
	     (table_len(f0) + 5) * nb + STATE_BYTES * nb;
	/* As the planner judges estimates: the context model must beat
	 * order 0 by 1/32 to pay its slower decode. */
	if (ec >= e0 - e0 / 32) {
		for (int c = 0; c < 256; c++)
			if (ctot[c])
				memset(w->cnt[c], 0, sizeof(w->cnt[c]));
		return enc_o0(out_len, dst, cap, w, src, n, wide);
	}
	*model = wide ? Z4_RANS_WCTX : Z4_RANS_CTX;
	return enc_counted(out_len, dst, cap, w, src, n, w->side, pairs,
			   *model, ctot, 1);
}
