/*
 * testutil.h - helpers the cmocka programs share: a temporary git
 * repository with a z4vc store, deterministic bf16 weights, and a memory
 * reader and sink for the streaming API. Header-only, all static inline:
 * each test is its own program and uses what it needs.
 */
#ifndef Z4_TESTUTIL_H
#define Z4_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "z4_err.h"
#include "z4vc.h"

/* rm -rf dir (a mkdtemp directory: no quote in it). */
static inline void test_rmtree(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * A fresh git repository with a z4vc store: dir (cap bytes) gets the
 * mkdtemp of tmpl ("/tmp/...-XXXXXX"), *out the open repository. libgit2
 * stays initialized until test_repo_remove.
 */
static inline void test_repo_create(z4vc_repo **out, char *dir, size_t cap,
                                    const char *tmpl)
{
	git_repository *g;
	snprintf(dir, cap, "%s", tmpl);
	assert_non_null(mkdtemp(dir));
	git_libgit2_init();
	assert_int_equal(git_repository_init(&g, dir, 0), 0);
	git_repository_free(g);
	assert_int_equal(z4vc_repo_init(out, dir), 0);
}

/* Undo test_repo_create: close repo, shut libgit2 down, delete dir. */
static inline void test_repo_remove(z4vc_repo *repo, const char *dir)
{
	z4vc_repo_free(repo);
	git_libgit2_shutdown();
	test_rmtree(dir);
}

/* bf16 bits of small gaussian-ish values, drifting with `step`. */
static inline void fill_bf16(uint16_t *w, size_t n, unsigned seed, int step)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		float v;
		uint32_t bits;
		x = x * 1664525u + 1013904223u;
		v = ((float)(x >> 8) / 16777216.0f - 0.5f) * 0.04f;
		v += (float)step * 1e-4f * (float)((i * 7) % 13) / 13.0f;
		memcpy(&bits, &v, 4);
		w[i] = (uint16_t)(bits >> 16);
	}
}

/* A reader over memory; step > 0 caps the bytes per call (short reads). */
typedef struct {
	const uint8_t *p;
	size_t len, pos, step;
} mem_reader;

static inline ssize_t mem_read(void *ud, void *buf, size_t len)
{
	mem_reader *m = ud;
	size_t n = m->len - m->pos;
	if (n > len)
		n = len;
	if (m->step && n > m->step)
		n = m->step;
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

/* A writer into p (cap bytes); Z4_ETOOBIG past cap. */
typedef struct {
	uint8_t *p;
	size_t len, cap;
} mem_sink;

static inline int mem_write(void *ud, const void *buf, size_t len)
{
	mem_sink *m = ud;
	if (m->len + len > m->cap)
		return Z4_ETOOBIG;
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

#endif
