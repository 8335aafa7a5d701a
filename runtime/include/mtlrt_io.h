/* mtlrt_io.h: file formats of libmtlrt: safetensors checkpoints (spec §5, §10,
 * https://github.com/huggingface/safetensors) and NPY data files (spec §10,
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
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

/* Refuses a checkpoint of another model: reads only the header of `path` (well-formed as
 * for mtlrt_safetensors_load) and returns -1, with a message that names both, when its
 * "__metadata__" has a "model" other than `model` or a "layout" other than `layout` (see
 * mtlrt_model_info.layout). A file without them, such as one that PyTorch wrote, passes;
 * the strict load that follows checks its tensors. */
int mtlrt_safetensors_check_model(const char *path, const char *model, const char *layout,
                                  char *err, size_t errlen);

/* ---- NPY data files ------------------------------------------------------------------ */

/* The element types a data file may hold (spec §10), as written in its header's descr:
 * '|u1' (also read as '<u1' or 'u1'), '<i4', '<i8', '<f4', '<f8'. Every other descr is
 * refused, naming it: other types ('|i1', '<f2', '|b1', structured dtypes) and big-endian
 * ones ('>f4'). */
typedef enum mtlrt_npy_type {
  MTLRT_NPY_U1, /* uint8: images (scaled by 1/255 as inputs) and class ids */
  MTLRT_NPY_I4, /* int32 class ids */
  MTLRT_NPY_I8, /* int64 class ids */
  MTLRT_NPY_F4, /* float32 */
  MTLRT_NPY_F8, /* float64 */
} mtlrt_npy_type;

/* An NPY file mapped read-only into memory. */
typedef struct mtlrt_npy {
  mtlrt_npy_type type;
  int rank;                      /* 0 for a scalar, at most MTLRT_MAX_RANK */
  int64_t shape[MTLRT_MAX_RANK]; /* shape[0..rank) */
  int64_t count;                 /* elements: the product of shape */
  const unsigned char *data;     /* the first element (any alignment; numpy's files: 64) */
  void *map;                     /* the mapping, for mtlrt_npy_close(); NULL for an empty file */
  size_t map_size;               /* bytes mapped: the whole file */
} mtlrt_npy;

/* The name of a type as numpy writes it: "|u1", "<f4", ... */
const char *mtlrt_npy_type_name(mtlrt_npy_type type);

/* Opens and maps an NPY file of format version 1.0, 2.0 or 3.0 and checks it: the magic,
 * a header that is a well-formed Python dict literal with exactly 'descr', 'fortran_order'
 * and 'shape' (any order and spacing, a trailing comma or not; strings without escapes;
 * Python 2's 5L in 1.0 and 2.0 headers, as numpy reads them), a descr of mtlrt_npy_type,
 * fortran_order False, a tuple shape of at most 8 dims, each at most 2^63-1, whose data size
 * does not overflow, and a file that holds every element (a longer file is an error too).
 * On failure *a is zeroed and err says what the file holds and what was expected, e.g.
 * "train/image.npy: Fortran order is not supported (save it with numpy.ascontiguousarray)"
 * or "train/label.npy: the data is truncated: 60000 elements of 1 byte need 60000 bytes
 * after the header, the file has 59392". The file must not shrink while it is mapped (a
 * read past its new end would raise SIGBUS). close() of a zeroed or closed *a does nothing. */
int mtlrt_npy_open(const char *path, mtlrt_npy *a, char *err, size_t errlen);
void mtlrt_npy_close(mtlrt_npy *a);

/* Copies rows rows[0..n) of a (row r is the elements [r * row_elems, (r + 1) * row_elems))
 * into dst, converting each element: to reals (u1 is multiplied by u1_scale, e.g. 1/255;
 * integers and f8 are converted as C converts them; f4 into float and f8 into double are a
 * memcpy per row), or to int32 (u1, i4, i8; an i8 outside int32 becomes INT32_MIN, which no
 * class id or ignore value equals, and so does a real that is not an integer in int32's
 * range). The caller has checked that the rows exist. */
void mtlrt_npy_gather_f32(const mtlrt_npy *a, const int64_t *rows, int n, int64_t row_elems,
                          float u1_scale, float *dst);
void mtlrt_npy_gather_f64(const mtlrt_npy *a, const int64_t *rows, int n, int64_t row_elems,
                          double u1_scale, double *dst);
void mtlrt_npy_gather_i32(const mtlrt_npy *a, const int64_t *rows, int n, int64_t row_elems,
                          int32_t *dst);

/* Writes an NPY file (version 1.0, C order, the header byte for byte as numpy.save writes
 * it, the data at a multiple of 64 bytes) incrementally and atomically: create() opens a
 * temporary file beside `path` (named `path` + ".<pid>.<k>.tmp") and writes the header for
 * `shape`; append() adds `elems` elements of `type` in C order; commit() checks that exactly
 * shape's element count was appended, flushes, fsyncs and renames the file into place and
 * fsyncs the directory. Until commit() succeeds an existing file at `path` is untouched.
 * After a failed append() the caller calls abort(); a failed create() or commit() leaves no
 * temporary file. abort() removes the temporary file; after commit(), after a failed
 * create() or a second time it does nothing. */
typedef struct mtlrt_npy_writer {
  FILE *f;                     /* the temporary file; NULL when none is open */
  char path[4096];             /* the target */
  char tmp[4096 + 32];         /* the temporary file's name; "" when there is none */
  mtlrt_npy_type type;
  int64_t count;               /* elements the shape holds */
  int64_t written;             /* elements appended so far */
} mtlrt_npy_writer;

int mtlrt_npy_create(mtlrt_npy_writer *w, const char *path, mtlrt_npy_type type, int rank,
                     const int64_t *shape, char *err, size_t errlen);
int mtlrt_npy_append(mtlrt_npy_writer *w, const void *data, int64_t elems, char *err,
                     size_t errlen);
int mtlrt_npy_commit(mtlrt_npy_writer *w, char *err, size_t errlen);
void mtlrt_npy_abort(mtlrt_npy_writer *w);

#ifdef __cplusplus
}
#endif

#endif
