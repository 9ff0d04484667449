/*
 * z4_alloc.h - the only heap entry points, so tests can fail the Nth
 * allocation (z4_alloc_fail_after) and prove every path cleans up.
 * Sizes given as (n, size) pairs are overflow-checked.
 */
#ifndef Z4_ALLOC_H
#define Z4_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *z4_malloc(size_t size);
void *z4_calloc(size_t n, size_t size);
void *z4_realloc(void *p, size_t size);
void *z4_mallocarray(size_t n, size_t size);
char *z4_strdup(const char *s);
char *z4_strndup(const char *s, size_t n);
void z4_free(void *p);

/* Test hook: the (n+1)th allocation from now fails; n < 0 disables. */
void z4_alloc_fail_after(long n);

/*
 * Test hook for the crash tests (tests/crash/): a named point on the write
 * path. Inert unless the environment has Z4VC_CRASH_AT=<name>:<n>, which
 * kills the process with SIGKILL at the n-th call (1-based) for that name;
 * Z4VC_CRASH_AT=trace prints "z4vc-crash-point <name>" to stderr per call.
 */
void z4_crash_point(const char *name);

/* Overflow-checked size math: return 0 on success, -1 on overflow. */
static inline int z4_add_overflow(size_t *out, size_t a, size_t b)
{
	return __builtin_add_overflow(a, b, out) ? -1 : 0;
}
static inline int z4_mul_overflow(size_t *out, size_t a, size_t b)
{
	return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

#endif
