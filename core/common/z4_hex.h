/* z4_hex.h - one hex digit's value: 0..15, or -1 (either case accepted;
 * formats that require lowercase check that themselves). */
#ifndef Z4_HEX_H
#define Z4_HEX_H

static inline int z4_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
