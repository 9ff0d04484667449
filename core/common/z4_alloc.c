/* z4_alloc.c - heap wrappers with a failure-injection countdown for tests. */
#include "z4_alloc.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown = -1;

void z4_alloc_fail_after(long n) { atomic_store(&fail_countdown, n); }

static int should_fail(void)
{
	long v = atomic_load(&fail_countdown);
	while (v >= 0) {
		if (atomic_compare_exchange_weak(&fail_countdown, &v, v - 1))
			return v == 0;
	}
	return 0;
}

void *z4_malloc(size_t size)
{
	if (should_fail())
		return NULL;
	return malloc(size ? size : 1);
}

void *z4_calloc(size_t n, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

void *z4_realloc(void *p, size_t size)
{
	if (should_fail())
		return NULL;
	return realloc(p, size ? size : 1);
}

void *z4_mallocarray(size_t n, size_t size)
{
	size_t total;
	if (z4_mul_overflow(&total, n, size))
		return NULL;
	return z4_malloc(total);
}

char *z4_strndup(const char *s, size_t n)
{
	char *d = z4_malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *z4_strdup(const char *s) { return z4_strndup(s, strlen(s)); }

void z4_free(void *p) { free(p); }

void z4_crash_point(const char *name)
{
	static atomic_long hits; /* one name is armed per process */
	const char *spec = getenv("Z4VC_CRASH_AT");
	size_t n = strlen(name);
	char *end;
	long at;

	if (!spec)
		return;
	if (strcmp(spec, "trace") == 0) {
		fprintf(stderr, "z4vc-crash-point %s\n", name);
		return;
	}
	if (strncmp(spec, name, n) != 0 || spec[n] != ':')
		return;
	at = strtol(spec + n + 1, &end, 10);
	if (*end == '\0' && at > 0 && atomic_fetch_add(&hits, 1) + 1 == at)
		raise(SIGKILL);
}
