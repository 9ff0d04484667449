/* z4_err.c - thread-local "why" strings behind the Z4_E* codes. */
#include "z4_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[1024];
static _Thread_local int last_code;

const char *z4_strerror(int code)
{
	switch (code) {
	case Z4_OK: return "success";
	case Z4_ENOMEM: return "out of memory";
	case Z4_EIO: return "i/o error";
	case Z4_ENOTFOUND: return "not found";
	case Z4_ECORRUPT: return "corrupt data";
	case Z4_EINVAL: return "invalid argument";
	case Z4_EFULL: return "no space left";
	case Z4_ETOOBIG: return "size exceeds limit";
	case Z4_EEXISTS: return "already exists";
	case Z4_EUNSUPPORTED: return "unsupported version or feature";
	case Z4_EGIT: return "git error";
	case Z4_ELOCKED: return "concurrent update";
	default: return "unknown error";
	}
}

int z4_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	last_code = code;
	return code;
}

int z4_error_wrap(int code, const char *fmt, ...)
{
	char inner[sizeof(last_msg)];
	const char *prev = z4_error_last();
	size_t n = strlen(prev), used;
	va_list ap;

	if (n >= sizeof(inner))
		n = sizeof(inner) - 1;
	memcpy(inner, prev, n);
	inner[n] = '\0';
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	/* append ": <inner>", truncating the tail if it must */
	used = strlen(last_msg);
	for (const char *p = ": "; *p && used + 1 < sizeof(last_msg); p++)
		last_msg[used++] = *p;
	for (size_t i = 0; i < n && used + 1 < sizeof(last_msg); i++)
		last_msg[used++] = inner[i];
	last_msg[used] = '\0';
	last_code = code;
	return code;
}

const char *z4_error_last(void)
{
	if (last_msg[0] == '\0')
		return z4_strerror(last_code);
	return last_msg;
}

int z4_error_last_code(void) { return last_code; }

void z4_error_clear(void)
{
	last_msg[0] = '\0';
	last_code = Z4_OK;
}
