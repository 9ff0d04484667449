/*
 * delta_env.h - internal to delta/: the environment switches that turn the
 * SIMD kernels off (Z4_NO_AVX2: portable C only; Z4_NO_AVX512: AVX2 at
 * most), read where each kernel set is picked.
 */
#ifndef Z4_DELTA_ENV_H
#define Z4_DELTA_ENV_H

/* Whether the variable is set to anything but "" or "0". */
int z4_delta_env_flag(const char *name);

#endif
