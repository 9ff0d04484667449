/*
 * rans.c - the rANS coder of rans.h.
 *
 * State x in [L, 2^32) with L = 2^16; a symbol of frequency f out of 2^S
 * (start c) encodes as x' = (x / f) * 2^S + x % f + c after shifting out 16
 * bits when x >= f * 2^(32 - S); decoding inverts it and shifts 16 bits in
 * when x < L. One shift always suffices both ways because S <= 16.
 * The encoder divides by multiplying with a 33-bit reciprocal
 * (Granlund-Montgomery: m = ceil(2^(32+l) / f), l = ceil(log2 f), exact for
 * every 32-bit x); m's top bit is implicit, so x * m needs no 128 bits.
 *
 * Frequencies are 12-bit for order-0 tables (one table per 64 KiB block)
 * and 11-bit for context tables (one per used context per stream), which
 * keeps a context stream's decode tables (2^11 u32 per context) in L2.
 */
#include "rans.h"

#include <assert.h>
#include <string.h>

#include "z4_alloc.h"
#include "z4_err.h"
#include "z4_le.h"

#define RANS_L (1u << 16)
#define S_O0 12
#define S_CTX 11
#define NSTATE 4
#define STATE_BYTES (4 * NSTATE)
#define OVER 1

#define BLOCK_RAW 0
#define BLOCK_CONST 1
#define BLOCK_RANS 2

#define INLINE static inline __attribute__((always_inline))

typedef struct {
	uint32_t mp;    /* reciprocal of f without its implicit 2^32 */
	uint32_t start; /* cumulative frequency */
	uint32_t cmpl;  /* 2^S - f */
	uint32_t f;
	uint32_t sh;    /* ceil(log2 f) */
} esym;

struct z4_rans_work {
	uint32_t (*cnt)[256];  /* [ctx][sym] counts, 256 x 256; all zero
				* between calls (users clear the rows
				* they touched) */
	uint16_t (*freq)[256]; /* [ctx][sym] normalized, 0 = absent */
	esym (*es)[256];       /* [ctx][sym] encoder symbols */
	uint32_t *dt;          /* decode tables, 256 x 2^S_CTX (>= 2^S_O0) */
	uint8_t *buf;          /* encoder output (words written backwards) */
	size_t buf_cap;
};

z4_rans_work *z4_rans_work_new(void)
{
	z4_rans_work *w = z4_calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->cnt = z4_calloc(256, sizeof(*w->cnt));
	w->freq = z4_malloc(256 * sizeof(*w->freq));
	w->es = z4_malloc(256 * sizeof(*w->es));
	w->dt = z4_malloc(256 * ((size_t)1 << S_CTX) * sizeof(uint32_t));
	if (!w->cnt || !w->freq || !w->es || !w->dt) {
		z4_rans_work_free(w);
		return NULL;
	}
	return w;
}

void z4_rans_work_free(z4_rans_work *w)
{
	if (!w)
		return;
	z4_free(w->cnt);
	z4_free(w->freq);
	z4_free(w->es);
	z4_free(w->dt);
	z4_free(w->buf);
	z4_free(w);
}

static int grow(z4_rans_work *w, size_t need)
{
	if (need <= w->buf_cap)
		return Z4_OK;
	need = (need + 0xffff) & ~(size_t)0xffff;
	z4_free(w->buf);
	w->buf_cap = 0;
	w->buf = z4_malloc(need);
	if (!w->buf)
		return Z4_ENOMEM;
	w->buf_cap = need;
	return Z4_OK;
}

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

/* Scale counts (total > 0) to frequencies summing to 2^S, every present
 * symbol keeping at least 1. */
static void normalize(uint16_t *f, const uint32_t *c, uint64_t total,
		      unsigned S)
{
	const uint32_t tot = 1u << S;
	uint32_t sum = 0;
	int big = -1;

	for (int s = 0; s < 256; s++) {
		uint32_t v = 0;
		if (c[s]) {
			v = (uint32_t)(((uint64_t)c[s] * tot + total / 2) /
				       total);
			if (v == 0)
				v = 1;
			if (big < 0 || c[s] > c[big])
				big = s;
		}
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
		for (int s = 0; s < 256; s++)
			if (f[s] > 1 && (m < 0 || f[s] > f[m]))
				m = s;
		uint32_t take = sum - tot;
		if (take > f[m] / 2u)
			take = f[m] / 2u ? f[m] / 2u : 1;
		f[m] = (uint16_t)(f[m] - take);
		sum -= take;
	}
}

/* Serialized table length (bytes) for f; see write_table. */
static size_t table_len(const uint16_t *f)
{
	size_t k = 0, len = 1;
	int last = -1;

	for (int s = 0; s < 256; s++)
		if (f[s]) {
			k++;
			last = s;
		}
	len += k == 256 ? 0 : k <= 32 ? k : 32;
	for (int s = 0; s < last; s++)
		if (f[s])
			len += f[s] - 1 < 128 ? 1 : 2;
	return len;
}

/*
 * u8 K-1; the K symbols (none if K = 256, K ascending bytes if K <= 32,
 * else a 32-byte bitmap); then f-1 of every symbol but the last, as one
 * byte 0xxxxxxx or two bytes 1xxxxxxx xxxxxxxx (15 bits, high first); the
 * last symbol takes the rest of 2^S.
 */
static uint8_t *write_table(uint8_t *o, const uint16_t *f)
{
	size_t k = 0;
	int last = -1;

	for (int s = 0; s < 256; s++)
		if (f[s]) {
			k++;
			last = s;
		}
	*o++ = (uint8_t)(k - 1);
	if (k <= 32) {
		for (int s = 0; s < 256; s++)
			if (f[s])
				*o++ = (uint8_t)s;
	} else if (k < 256) {
		memset(o, 0, 32);
		for (int s = 0; s < 256; s++)
			if (f[s])
				o[s >> 3] |= (uint8_t)(1u << (s & 7));
		o += 32;
	}
	for (int s = 0; s < last; s++) {
		if (!f[s])
			continue;
		unsigned v = f[s] - 1u;
		if (v < 128) {
			*o++ = (uint8_t)v;
		} else {
			*o++ = (uint8_t)(0x80 | (v >> 8));
			*o++ = (uint8_t)v;
		}
	}
	return o;
}

/* Parse a table at *pp (not past end) into f[256]; Z4_ECORRUPT. */
static int read_table(uint16_t *f, const uint8_t **pp, const uint8_t *end,
		      unsigned S)
{
	const uint8_t *p = *pp;
	const uint32_t tot = 1u << S;
	uint8_t syms[256];
	size_t k;
	uint32_t sum = 0;

	if (p >= end)
		return Z4_ECORRUPT;
	k = (size_t)*p++ + 1;
	if (k == 256) {
		for (int s = 0; s < 256; s++)
			syms[s] = (uint8_t)s;
	} else if (k <= 32) {
		if ((size_t)(end - p) < k)
			return Z4_ECORRUPT;
		for (size_t i = 0; i < k; i++) {
			syms[i] = p[i];
			if (i && syms[i] <= syms[i - 1])
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
				syms[j++] = (uint8_t)s;
			}
		if (j != k)
			return Z4_ECORRUPT;
		p += 32;
	}
	memset(f, 0, 256 * sizeof(*f));
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
		f[syms[i]] = (uint16_t)(v + 1);
	}
	f[syms[k - 1]] = (uint16_t)(tot - sum);
	*pp = p;
	return Z4_OK;
}

static void build_esyms(esym *e, const uint16_t *f, unsigned S)
{
	uint32_t c = 0;

	for (int s = 0; s < 256; s++) {
		uint32_t fs = f[s], l = 0;
		if (!fs)
			continue;
		while ((1u << l) < fs)
			l++;
		e[s].f = fs;
		e[s].start = c;
		e[s].cmpl = (1u << S) - fs;
		e[s].sh = l;
		e[s].mp = (uint32_t)((((uint64_t)1 << (32 + l)) + fs - 1) / fs -
				     ((uint64_t)1 << 32));
		c += fs;
	}
}

/* Decode entry: symbol | (f - 1) << 8 | start << 20. */
static void build_dtable(uint32_t *t, const uint16_t *f)
{
	uint32_t c = 0;

	for (int s = 0; s < 256; s++) {
		uint32_t e = (uint32_t)s | (uint32_t)(f[s] - 1) << 8 | c << 20;
		for (uint32_t j = 0; j < f[s]; j++)
			t[c + j] = e;
		c += f[s];
	}
}

/* ---- the coding loops ---- */

INLINE void enc_put(uint32_t *x, uint8_t **pp, const esym *e, unsigned S)
{
	uint32_t v = *x;
	uint64_t q;

	if ((v >> (32 - S)) >= e->f) {
		*pp -= 2;
		z4_put16(*pp, (uint16_t)v);
		v >>= 16;
	}
	q = ((uint64_t)v + (((uint64_t)v * e->mp) >> 32)) >> e->sh;
	*x = v + e->start + (uint32_t)q * e->cmpl;
}

/* The context of position pos (model constant after inlining). */
#define CTX_OF(pos, first)                                                     \
	(model == Z4_RANS_O0   ? 0                                             \
	 : model == Z4_RANS_O1 ? ((first) ? 0 : src[(pos) - 1])                \
			       : side[pos])

/* Encode src[0..n) into w->buf backwards; returns the payload start.
 * es[ctx] must cover every (context, symbol) that occurs. The four states
 * are named so that they live in registers. */
INLINE uint8_t *enc_loop(uint8_t *end, const esym (*es)[256],
			 const uint8_t *src, size_t n, const uint8_t *side,
			 const int model, const unsigned S)
{
	uint32_t x0 = RANS_L, x1 = RANS_L, x2 = RANS_L, x3 = RANS_L;
	size_t q = n / NSTATE;
	const uint8_t *s1 = src + q, *s2 = src + 2 * q, *s3 = src + 3 * q;
	uint8_t *p = end;

	for (size_t pos = n; pos-- > NSTATE * q;)
		enc_put(&x0, &p, &es[CTX_OF(pos, pos == 0)][src[pos]], S);
	for (size_t i = q; i-- > 0;) {
		const int f = i == 0;
		enc_put(&x3, &p, &es[CTX_OF(3 * q + i, f)][s3[i]], S);
		enc_put(&x2, &p, &es[CTX_OF(2 * q + i, f)][s2[i]], S);
		enc_put(&x1, &p, &es[CTX_OF(q + i, f)][s1[i]], S);
		enc_put(&x0, &p, &es[CTX_OF(i, f)][src[i]], S);
	}
	p -= STATE_BYTES;
	z4_put32(p, x0);
	z4_put32(p + 4, x1);
	z4_put32(p + 8, x2);
	z4_put32(p + 12, x3);
	return p;
}

/* Decode one symbol at dst[pos] from state x with table t. */
#define DEC_STEP(x, pos, t)                                                    \
	do {                                                                   \
		uint32_t e_ = (t)[(x) & mask];                                 \
		dst[pos] = (uint8_t)e_;                                        \
		(x) = (((e_ >> 8) & 0xfff) + 1) * ((x) >> S) + ((x) & mask) -  \
		      (e_ >> 20);                                              \
	} while (0)

/* The decode table for a context; NULL when the stream has none. */
#define TAB(c) (model == Z4_RANS_O0 ? dt : tabs[c])
/* With a side plane dec_ctx has checked that every context met has a
 * table; order-1 contexts are decoded symbols, checked as met. */
#define GET_TAB(t, pos, first)                                                 \
	const uint32_t *t = TAB(CTX_OF(pos, first));                           \
	if (model == Z4_RANS_O1 && !t)                                         \
		return Z4_ECORRUPT;
/* Renormalize without a bounds check (the caller checked room), and
 * without a branch: whether a state needs a word is data, unpredictable. */
#define RENORM(x)                                                              \
	do {                                                                   \
		uint32_t need_ = (x) < RANS_L;                                 \
		uint32_t y_ = (x) << 16 | z4_le16(p);                          \
		(x) = need_ ? y_ : (x);                                        \
		p += 2 * need_;                                                \
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

INLINE int dec_loop(uint8_t *dst, size_t n, const uint8_t *p,
		    const uint8_t *end, const uint32_t *dt,
		    const uint32_t *const *tabs, const uint8_t *side,
		    const int model, const unsigned S)
{
	const uint32_t mask = (1u << S) - 1;
	const uint8_t *src = dst; /* CTX_OF reads decoded bytes */
	uint32_t x0, x1, x2, x3;
	size_t q = n / NSTATE, i = 0;

	if (end - p < STATE_BYTES)
		return Z4_ECORRUPT;
	x0 = z4_le32(p);
	x1 = z4_le32(p + 4);
	x2 = z4_le32(p + 8);
	x3 = z4_le32(p + 12);
	if (x0 < RANS_L || x1 < RANS_L || x2 < RANS_L || x3 < RANS_L)
		return Z4_ECORRUPT;
	p += STATE_BYTES;
	if (q) { /* first row: order-1 contexts start at 0 */
		GET_TAB(t0, 0, 1);
		GET_TAB(t1, q, 1);
		GET_TAB(t2, 2 * q, 1);
		GET_TAB(t3, 3 * q, 1);
		DEC_STEP(x0, 0, t0);
		RENORM_CHECKED(x0);
		DEC_STEP(x1, q, t1);
		RENORM_CHECKED(x1);
		DEC_STEP(x2, 2 * q, t2);
		RENORM_CHECKED(x2);
		DEC_STEP(x3, 3 * q, t3);
		RENORM_CHECKED(x3);
		i = 1;
	}
	/* Fast path: room for every state's renormalization. */
	for (; i < q && end - p >= 2 * NSTATE; i++) {
		GET_TAB(t0, i, 0);
		GET_TAB(t1, q + i, 0);
		GET_TAB(t2, 2 * q + i, 0);
		GET_TAB(t3, 3 * q + i, 0);
		DEC_STEP(x0, i, t0);
		DEC_STEP(x1, q + i, t1);
		DEC_STEP(x2, 2 * q + i, t2);
		DEC_STEP(x3, 3 * q + i, t3);
		RENORM(x0);
		RENORM(x1);
		RENORM(x2);
		RENORM(x3);
	}
	for (; i < q; i++) {
		GET_TAB(t0, i, 0);
		GET_TAB(t1, q + i, 0);
		GET_TAB(t2, 2 * q + i, 0);
		GET_TAB(t3, 3 * q + i, 0);
		DEC_STEP(x0, i, t0);
		RENORM_CHECKED(x0);
		DEC_STEP(x1, q + i, t1);
		RENORM_CHECKED(x1);
		DEC_STEP(x2, 2 * q + i, t2);
		RENORM_CHECKED(x2);
		DEC_STEP(x3, 3 * q + i, t3);
		RENORM_CHECKED(x3);
	}
	for (size_t pos = NSTATE * q; pos < n; pos++) {
		GET_TAB(t, pos, pos == 0);
		DEC_STEP(x0, pos, t);
		RENORM_CHECKED(x0);
	}
	if (x0 != RANS_L || x1 != RANS_L || x2 != RANS_L || x3 != RANS_L)
		return Z4_ECORRUPT;
	return p == end ? Z4_OK : Z4_ECORRUPT;
}

#undef GET_TAB
#undef RENORM
#undef RENORM_CHECKED
#undef TAB
#undef DEC_STEP

/* ---- order 0 ---- */

static int enc_o0(size_t *out_len, uint8_t *dst, size_t cap, z4_rans_work *w,
		  const uint8_t *src, size_t n)
{
	uint8_t *o = dst, *const oend = dst + cap;

	Z4_TRY(grow(w, 2 * (size_t)Z4_RANS_BLOCK + STATE_BYTES));
	for (size_t b = 0; b < n; b += Z4_RANS_BLOCK) {
		size_t bn = n - b < Z4_RANS_BLOCK ? n - b : Z4_RANS_BLOCK;
		const uint8_t *s = src + b;
		uint32_t *h = w->cnt[0];
		uint16_t *f = w->freq[0];
		int k = 0;

		count4(h, s, bn);
		for (int v = 0; v < 256; v++)
			k += h[v] != 0;
		if (k > 1)
			normalize(f, h, bn, S_O0);
		memset(h, 0, 256 * sizeof(*h));
		if (k == 1) {
			if (oend - o < 2)
				return OVER;
			*o++ = BLOCK_CONST;
			*o++ = s[0];
			continue;
		}
		size_t tl = table_len(f);
		if (tl + 5 < bn) {
			uint8_t *end = w->buf + w->buf_cap, *pl;
			size_t plen;
			build_esyms(w->es[0], f, S_O0);
			pl = enc_loop(end, (const esym(*)[256])w->es, s, bn,
				      NULL, Z4_RANS_O0, S_O0);
			plen = (size_t)(end - pl);
			if (1 + tl + 4 + plen < 1 + bn) {
				if ((size_t)(oend - o) < 1 + tl + 4 + plen)
					return OVER;
				*o++ = BLOCK_RANS;
				o = write_table(o, f);
				z4_put32(o, (uint32_t)plen);
				memcpy(o + 4, pl, plen);
				o += 4 + plen;
				continue;
			}
		}
		if ((size_t)(oend - o) < 1 + bn)
			return OVER;
		*o++ = BLOCK_RAW;
		memcpy(o, s, bn);
		o += bn;
	}
	*out_len = (size_t)(o - dst);
	return Z4_OK;
}

static int dec_o0(uint8_t *dst, size_t n, z4_rans_work *w, const uint8_t *p,
		  size_t len)
{
	const uint8_t *end = p + len;

	for (size_t b = 0; b < n; b += Z4_RANS_BLOCK) {
		size_t bn = n - b < Z4_RANS_BLOCK ? n - b : Z4_RANS_BLOCK;
		uint32_t plen;

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
			Z4_TRY(read_table(w->freq[0], &p, end, S_O0));
			if (end - p < 4)
				return Z4_ECORRUPT;
			plen = z4_le32(p);
			p += 4;
			if ((size_t)(end - p) < plen)
				return Z4_ECORRUPT;
			build_dtable(w->dt, w->freq[0]);
			Z4_TRY(dec_loop(dst + b, bn, p, p + plen, w->dt, NULL,
					NULL, Z4_RANS_O0, S_O0));
			p += plen;
			break;
		default:
			return Z4_ECORRUPT;
		}
	}
	return p == end ? Z4_OK : Z4_ECORRUPT;
}

/* ---- context models ---- */

static void count_ctx(uint32_t (*cnt)[256], const uint8_t *src, size_t n,
		      const uint8_t *side, int model)
{
	size_t q = n / NSTATE;

	if (model == Z4_RANS_CTX) {
		for (size_t i = 0; i < n; i++)
			cnt[side[i]][src[i]]++;
		return;
	}
	for (int j = 0; j < NSTATE; j++) {
		const uint8_t *s = src + (size_t)j * q;
		if (q)
			cnt[0][s[0]]++;
		for (size_t i = 1; i < q; i++)
			cnt[s[i - 1]][s[i]]++;
	}
	for (size_t pos = NSTATE * q; pos < n; pos++)
		cnt[pos ? src[pos - 1] : 0][src[pos]]++;
}

/* Layout: 32-byte bitmap of contexts with a table, their tables in
 * context order, then the payload (states and words) to the end. */
static int enc_ctx(size_t *out_len, uint8_t *dst, size_t cap,
		   z4_rans_work *w, const uint8_t *src, size_t n,
		   const uint8_t *side, int model)
{
	uint8_t *o = dst, *end, *pl;
	size_t hl = 32, plen;

	count_ctx(w->cnt, src, n, side, model);
	for (int c = 0; c < 256; c++) {
		uint64_t tot = 0;
		for (int s = 0; s < 256; s++)
			tot += w->cnt[c][s];
		if (!tot) {
			w->freq[c][0] = 0;
			memset(w->freq[c], 0, sizeof(w->freq[c]));
			continue;
		}
		normalize(w->freq[c], w->cnt[c], tot, S_CTX);
		memset(w->cnt[c], 0, sizeof(w->cnt[c]));
		hl += table_len(w->freq[c]);
		build_esyms(w->es[c], w->freq[c], S_CTX);
	}
	if (hl + STATE_BYTES > cap)
		return OVER;
	Z4_TRY(grow(w, 2 * n + STATE_BYTES));
	end = w->buf + w->buf_cap;
	if (model == Z4_RANS_CTX)
		pl = enc_loop(end, (const esym(*)[256])w->es, src, n, side,
			      Z4_RANS_CTX, S_CTX);
	else
		pl = enc_loop(end, (const esym(*)[256])w->es, src, n, NULL,
			      Z4_RANS_O1, S_CTX);
	plen = (size_t)(end - pl);
	if (hl + plen > cap)
		return OVER;
	memset(o, 0, 32);
	for (int c = 0; c < 256; c++) {
		int used = 0;
		for (int s = 0; s < 256 && !used; s++)
			used = w->freq[c][s] != 0;
		if (used)
			o[c >> 3] |= (uint8_t)(1u << (c & 7));
	}
	o += 32;
	for (int c = 0; c < 256; c++)
		if (dst[c >> 3] >> (c & 7) & 1)
			o = write_table(o, w->freq[c]);
	memcpy(o, pl, plen);
	*out_len = (size_t)(o + plen - dst);
	return Z4_OK;
}

static int dec_ctx(uint8_t *dst, size_t n, z4_rans_work *w, const uint8_t *p,
		   size_t len, const uint8_t *side, int model)
{
	const uint8_t *end = p + len;
	const uint32_t *tabs[256];
	const uint8_t *bm;
	size_t used = 0;

	if (len < 32)
		return Z4_ECORRUPT;
	bm = p;
	p += 32;
	for (int c = 0; c < 256; c++) {
		tabs[c] = NULL;
		if (!(bm[c >> 3] >> (c & 7) & 1))
			continue;
		uint32_t *t = w->dt + (used++ << S_CTX);
		Z4_TRY(read_table(w->freq[0], &p, end, S_CTX));
		build_dtable(t, w->freq[0]);
		tabs[c] = t;
	}
	/* Every context of a side plane must have a table: checked here
	 * once rather than per symbol. */
	if (model == Z4_RANS_CTX) {
		for (size_t i = 0; i < n; i++)
			if (!tabs[side[i]])
				return Z4_ECORRUPT;
	}
	if (model == Z4_RANS_CTX)
		return dec_loop(dst, n, p, end, NULL, tabs, side, Z4_RANS_CTX,
				S_CTX);
	return dec_loop(dst, n, p, end, NULL, tabs, NULL, Z4_RANS_O1, S_CTX);
}

/* ---- entry points ---- */

int z4_rans_encode(size_t *out_len, uint8_t *dst, size_t cap,
		   z4_rans_work *w, const uint8_t *src, size_t n, int model,
		   const uint8_t *side)
{
	*out_len = 0;
	if (model == Z4_RANS_O0)
		return enc_o0(out_len, dst, cap, w, src, n);
	assert(model == Z4_RANS_O1 || (model == Z4_RANS_CTX && side));
	return enc_ctx(out_len, dst, cap, w, src, n, side, model);
}

int z4_rans_decode(uint8_t *dst, size_t n, z4_rans_work *w,
		   const uint8_t *src, size_t len, int model,
		   const uint8_t *side)
{
	if (!src && len)
		return Z4_ECORRUPT;
	if (model == Z4_RANS_O0)
		return dec_o0(dst, n, w, src, len);
	if (model == Z4_RANS_O1 || (model == Z4_RANS_CTX && side))
		return dec_ctx(dst, n, w, src, len, side, model);
	return Z4_ECORRUPT;
}

/* ---- estimates ---- */

#define SAMPLE_RUN 4096u
#define SAMPLE_N 16u

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

/* Bits (Q16) to code counts c[0..256) of total t with their own model. */
static uint64_t ent_q16(const uint32_t *c, uint64_t *t_out, unsigned *k_out)
{
	uint64_t t = 0, s = 0;
	unsigned k = 0;

	for (int v = 0; v < 256; v++)
		if (c[v]) {
			t += c[v];
			k++;
			if (c[v] > 1)
				s += c[v] * log2_q16(c[v]);
		}
	*t_out = t;
	*k_out = k;
	/* Plus the Miller-Madow bias of an empirical entropy, (k-1)/(2 ln 2)
	 * bits: without it a sparse sample makes a 256-context model look
	 * far better than it codes. */
	return (t > 1 ? t * log2_q16(t) - s : 0) +
	       (k > 1 ? (uint64_t)(k - 1) * 47274u : 0);
}

void z4_rans_estimate(size_t est[3], z4_rans_work *w, const uint8_t *src,
		      size_t n, const uint8_t *side)
{
	size_t step, runs, run, sn;
	uint64_t bits[3] = {0, 0, 0}, tabs[3] = {0, 0, 0};
	uint32_t h[256];

	est[0] = est[1] = est[2] = SIZE_MAX;
	if (n == 0) {
		est[0] = est[1] = 0;
		est[2] = side ? 32 + STATE_BYTES : SIZE_MAX;
		return;
	}
	if (n <= SAMPLE_RUN * SAMPLE_N) {
		runs = 1;
		run = n;
		step = 0;
	} else {
		runs = SAMPLE_N;
		run = SAMPLE_RUN;
		step = (n - SAMPLE_RUN) / (SAMPLE_N - 1);
	}
	sn = runs * run;
	/* order 0 */
	memset(h, 0, sizeof(h));
	for (size_t r = 0; r < runs; r++)
		count4(h, src + r * step, run);
	{
		uint64_t t;
		unsigned k;
		bits[0] = ent_q16(h, &t, &k);
		tabs[0] = (1 + k * 3 / 2 + 5) *
			  ((n + Z4_RANS_BLOCK - 1) / Z4_RANS_BLOCK);
	}
	/* order 1 and side context; not for planes order 0 finds near
	 * random (mantissa bytes): a context model cannot pay its tables
	 * there, and the estimate is the costly part. */
	int try_ctx = (bits[0] >> 16) < (uint64_t)sn * 8 * 31 / 32;
	for (int model = 1; model <= 2 && try_ctx; model++) {
		if (model == 2 && !side)
			break;
		uint32_t ctot[256];
		memset(ctot, 0, sizeof(ctot));
		for (size_t r = 0; r < runs; r++) {
			const uint8_t *s = src + r * step;
			size_t off = r * step;
			if (model == 1) {
				uint8_t prev = off ? s[-1] : 0;
				for (size_t i = 0; i < run; i++) {
					w->cnt[prev][s[i]]++;
					ctot[prev]++;
					prev = s[i];
				}
			} else {
				const uint8_t *c = side + off;
				for (size_t i = 0; i < run; i++) {
					w->cnt[c[i]][s[i]]++;
					ctot[c[i]]++;
				}
			}
		}
		tabs[model] = 32 + STATE_BYTES;
		for (int c = 0; c < 256; c++) {
			uint64_t t;
			unsigned k;
			if (!ctot[c])
				continue;
			bits[model] += ent_q16(w->cnt[c], &t, &k);
			tabs[model] += 1 + (k > 32 ? 32 : k) + k * 3 / 2;
			memset(w->cnt[c], 0, sizeof(w->cnt[c]));
		}
	}
	for (int model = 0; model <= 2; model++) {
		if ((model == 2 && !side) || (model && !try_ctx))
			break;
		/* bits/8 scaled from the sample to n, plus tables. */
		uint64_t b = (bits[model] >> 16) / 8;
		est[model] = (size_t)(b * n / sn + tabs[model]);
	}
}
