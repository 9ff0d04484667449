/*
 * z4_safetensors.h - strict parser of the safetensors header.
 *
 * File layout: u64 LE header length N, N bytes of UTF-8 JSON (an object
 * mapping tensor names to {"dtype", "shape", "data_offsets": [begin, end]},
 * plus an optional "__metadata__" object of string values), then the data
 * section; offsets are relative to its start (8 + N).
 *
 * The parser checks everything a reader would trip over later: header
 * length within the file, valid JSON object, no duplicate names, known
 * fields of the right types, offsets within the data section and not
 * overlapping, shape product x element size == byte length without
 * overflow. Gaps between tensors and trailing bytes are allowed (z4vc keeps
 * them verbatim). A tensor whose dtype z4vc does not know is kept with
 * dtype Z4_DT_UNKNOWN (only its offsets are checked).
 * On error it returns Z4_ECORRUPT (or Z4_ETOOBIG / Z4_ENOMEM) and
 * z4_error_set() names the defect, e.g. "tensor 'w': data_offsets [0, 10]
 * overlap tensor 'b'".
 *
 * The first parse points cJSON's allocator hooks (process-wide) at
 * z4_malloc/z4_free, so allocation-failure tests reach cJSON too; nothing
 * else may install cJSON hooks.
 */
#ifndef Z4_SAFETENSORS_H
#define Z4_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define Z4_ST_HEADER_MAX (100u << 20) /* refuse JSON headers above 100 MiB */
#define Z4_ST_NDIM_MAX 64

typedef enum {
	Z4_DT_UNKNOWN = 0,
	Z4_DT_BOOL,
	Z4_DT_U8,
	Z4_DT_I8,
	Z4_DT_F8_E4M3,
	Z4_DT_F8_E5M2,
	Z4_DT_I16,
	Z4_DT_U16,
	Z4_DT_F16,
	Z4_DT_BF16,
	Z4_DT_I32,
	Z4_DT_U32,
	Z4_DT_F32,
	Z4_DT_I64,
	Z4_DT_U64,
	Z4_DT_F64,
	Z4_DT_COUNT
} z4_dtype;

/* "BF16" etc.; "?" for Z4_DT_UNKNOWN. */
const char *z4_dtype_name(z4_dtype dt);
/* Z4_DT_UNKNOWN when not one of the names above (exact, case-sensitive). */
z4_dtype z4_dtype_from_name(const char *name);
/* Bytes per element; 1 for BOOL/U8/I8/F8*, 0 for UNKNOWN. */
unsigned z4_dtype_size(z4_dtype dt);

typedef struct {
	char *name;          /* owned, NUL-terminated (may contain any UTF-8) */
	char *dtype_str;     /* owned: the dtype string as written in the file */
	z4_dtype dtype;
	unsigned ndim;
	uint64_t shape[Z4_ST_NDIM_MAX];
	uint64_t begin, end; /* absolute file offsets: 8 + N + data_offsets */
} z4_st_tensor;

typedef struct {
	uint64_t header_len;  /* 8 + N: where the data section starts */
	uint64_t file_size;
	size_t count;
	z4_st_tensor *tensors; /* sorted by begin (file order) */
} z4_st_file;

/*
 * Read N from the first 8 bytes and check that 8 + N <= file_size and
 * N <= Z4_ST_HEADER_MAX. *out gets 8 + N.
 */
int z4_st_header_len(uint64_t *out, const uint8_t first8[8], uint64_t file_size);

/*
 * Parse head[0..head_len) = the first 8 + N bytes of a file of file_size
 * bytes. On success the caller owns out and frees it with z4_st_dispose().
 * On failure out is zeroed.
 */
int z4_st_parse(z4_st_file *out, const uint8_t *head, size_t head_len,
		uint64_t file_size);
void z4_st_dispose(z4_st_file *f);

#endif
