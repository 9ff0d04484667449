/*
 * z4_err.h - the one error vocabulary of z4vc.
 *
 * Every fallible function returns int: Z4_OK (0) or a negative Z4_E* code.
 * delta/ returns codes only. objects/ and core/ also record a one-line
 * reason with z4_error_set(); it is thread-local and survives until the next
 * z4_error_set() or z4_error_clear() on the same thread.
 */
#ifndef Z4_ERR_H
#define Z4_ERR_H

#include <stddef.h>

enum {
	Z4_OK = 0,
	Z4_ENOMEM = -1,    /* allocation failed */
	Z4_EIO = -2,       /* operating system I/O error */
	Z4_ENOTFOUND = -3, /* no such object, ref, step or file */
	Z4_ECORRUPT = -4,  /* stored or input bytes fail validation */
	Z4_EINVAL = -5,    /* bad argument or malformed input */
	Z4_EFULL = -6,     /* disk or map full */
	Z4_ETOOBIG = -7,   /* a declared size exceeds a limit */
	Z4_EEXISTS = -8,   /* object or path already exists */
	Z4_EUNSUPPORTED = -9, /* valid but unknown version or feature */
	Z4_EGIT = -10,     /* libgit2 reported an error */
	Z4_ELOCKED = -11,  /* a concurrent update won a race */
};

/* Static, never NULL: a short name of the code ("corrupt data"). */
const char *z4_strerror(int code);

/*
 * Record why the current operation failed (printf-style, one line, no
 * trailing period). Returns `code` so callers can write
 * `return z4_error_set(Z4_EIO, "open '%s': %s", p, strerror(errno));`.
 */
int z4_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefix the current reason with "<what>: " (keeps the inner why). */
int z4_error_wrap(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The last reason on this thread, or z4_strerror(code) if none is set. */
const char *z4_error_last(void);
int z4_error_last_code(void);
void z4_error_clear(void);

#define Z4_TRY(expr)                                                           \
	do {                                                                   \
		int z4_try_rc_ = (expr);                                       \
		if (z4_try_rc_ < 0)                                            \
			return z4_try_rc_;                                     \
	} while (0)

#define Z4_RETURN_IF(cond, code)                                               \
	do {                                                                   \
		if (cond)                                                      \
			return (code);                                         \
	} while (0)

#endif
