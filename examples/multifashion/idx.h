/* idx.h: the IDX reader of make_multifashion (Fashion-MNIST's files of unsigned bytes), on
 * its own so that fuzz_idx can reach it. Errors are one line in the caller's buffer, starting
 * with the file's name. */
#ifndef MULTIFASHION_IDX_H
#define MULTIFASHION_IDX_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

enum {
  IDX_MAX_DIMS = 3,           /* the most dimensions idx_read takes */
  IDX_MAX_ITEMS = 10000000,   /* the most items (the first dimension) a file may hold */
  IDX_MAX_BYTES = 1 << 30,    /* the most data bytes (the product of the dimensions) */
};

/* Reads an IDX file of unsigned bytes with `ndims` (1 to IDX_MAX_DIMS) dimensions from f, an
 * open gzFile (compressed or not), up to its end: the magic 00 00 08 <ndims>, the dimensions
 * (32-bit big-endian, none of them 0) into dims, then exactly their product of data bytes
 * and nothing after them. Returns the data in a fresh buffer (the caller frees it) and its
 * length in *len; or NULL with "PATH: message" in err (errlen bytes, NUL-terminated). f stays
 * open either way. */
unsigned char *idx_read(gzFile f, const char *path, int ndims, uint32_t *dims, size_t *len,
                        char *err, size_t errlen);

#endif
