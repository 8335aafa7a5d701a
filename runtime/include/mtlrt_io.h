/* mtlrt_io.h: file formats of libmtlrt. For now, safetensors checkpoints (spec §5, §10):
 * https://github.com/huggingface/safetensors
 *
 * Conventions:
 *  - Nothing here allocates on the heap; the caller owns every buffer. The loader needs
 *    about 20 KB of stack, the writer about 10 KB.
 *  - Every function returns 0 on success, or -1 with a one-line message in err (at most
 *    errlen bytes, always NUL-terminated when errlen > 0) that starts with the file name,
 *    e.g. "model.safetensors: tensor 'trunk.0.weight' has shape [16, 1, 3, 3], expected
 *    [32, 1, 3, 3]". err may be NULL.
 *  - Tensor data is read and written little-endian; the host must be little-endian.
 */
#ifndef MTLRT_IO_H
#define MTLRT_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The element types a tensor can have in memory. */
typedef enum mtlrt_dtype {
  MTLRT_DT_F32, /* float */
  MTLRT_DT_F64, /* double */
  MTLRT_DT_I64  /* int64_t */
} mtlrt_dtype;

#define MTLRT_MAX_RANK 8              /* the largest rank of a tensor */
#define MTLRT_ST_MAX_NAME 255         /* the longest tensor name or metadata key, in bytes */
#define MTLRT_ST_META_VALUE 128       /* the size of a metadata value buffer, with its NUL */
#define MTLRT_ST_MAX_META 64          /* the most metadata entries one call can save or load */
#define MTLRT_ST_MAX_HEADER 100000000 /* the largest JSON header accepted, in bytes */

/* One tensor to save or to load into. */
typedef struct mtlrt_tensor_ref {
  const char *name;              /* the key, e.g. "trunk.0.weight" (UTF-8) */
  mtlrt_dtype dtype;             /* the type of `data` in memory */
  int rank;                      /* 0 for a scalar (num_batches_tracked), at most 8 */
  int64_t shape[MTLRT_MAX_RANK]; /* shape[0..rank) */
  void *data;                    /* contiguous, row-major; may be NULL if it has no element */
} mtlrt_tensor_ref;

/* One entry of the file's "__metadata__" (string values only, as in safetensors). */
typedef struct mtlrt_meta {
  const char *key;                 /* e.g. "format", "model", "epoch" */
  char value[MTLRT_ST_META_VALUE]; /* NUL-terminated; "" when a loaded file lacks the key */
} mtlrt_meta;

/* Saves tensors t[0..n) and metadata meta[0..nmeta) to `path` atomically: the file is
 * written to a temporary file in the same directory (named `path` + ".<pid>.<k>.tmp"),
 * flushed, fsync'ed and renamed over `path`, and the directory is fsync'ed. On any
 * failure the temporary file is removed and an existing file at `path` is untouched.
 *
 * Real tensors (F32 and F64 in memory) are stored as `file_dtype_real`, MTLRT_DT_F32 (the
 * checkpoint contract of spec §10) or MTLRT_DT_F64; I64 tensors are stored as I64. The
 * tensors are written in the given order; "__metadata__", when nmeta > 0, comes first.
 * Names must be distinct, valid UTF-8, 1 to MTLRT_ST_MAX_NAME bytes and not
 * "__metadata__"; so must the metadata keys. */
int mtlrt_safetensors_save(const char *path, const mtlrt_tensor_ref *t, int n,
                           const mtlrt_meta *meta, int nmeta, mtlrt_dtype file_dtype_real,
                           char *err, size_t errlen);

/* Loads `path` strictly, as torch's load_state_dict(strict=True) does: the file must hold
 * exactly the tensors named in t[0..n), each with exactly its shape. Real tensors may be
 * stored as F32 or F64 (converted to t[i].dtype, F64 -> F32 rounding to nearest); I64
 * tensors as I64 or I32. Fills meta[i].value for every key found in "__metadata__" and
 * sets it to "" for the others; a requested value longer than 127 bytes is an error.
 *
 * The file must be a well-formed safetensors file: a header no larger than the file
 * and MTLRT_ST_MAX_HEADER, strict JSON in UTF-8 with no duplicate key, known dtypes,
 * non-negative shapes whose sizes do not overflow, data_offsets that match dtype size x
 * elements and tile the data buffer exactly (no overlap, no gap, nothing after it),
 * names and keys of at most MTLRT_ST_MAX_NAME bytes, tensor entries with exactly the
 * fields dtype, shape and data_offsets, string metadata values. Metadata keys that were
 * not requested are not checked for duplicates. Every error names the file and, where
 * there is one, the tensor or key.
 *
 * The whole header is validated before anything is written to t or meta, so a refused
 * file leaves them as they were. On an error found after that (a read error, or a file
 * changed while being read) some tensors may already hold new data; meta is written last,
 * after every tensor was read, and is all "" if that fails. */
int mtlrt_safetensors_load(const char *path, const mtlrt_tensor_ref *t, int n, mtlrt_meta *meta,
                           int nmeta, char *err, size_t errlen);

/* mtlrt_safetensors_load() from an open stream, which must be seekable (a file or
 * fmemopen()); `name` is the file name used in messages. The stream is not closed. */
int mtlrt_safetensors_fload(FILE *f, const char *name, const mtlrt_tensor_ref *t, int n,
                            mtlrt_meta *meta, int nmeta, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
