/* idx.c: reads the IDX files of Fashion-MNIST (LeCun's format: the magic 00 00 08 <ndims>
 * for unsigned bytes, ndims 32-bit big-endian dimensions, then the bytes in row-major order)
 * through zlib's gzFile, which takes gzip'd and plain files alike. Everything in the file is
 * outside input: the magic must match the dimensions the caller expects, no dimension may be
 * 0, their product is bounded (IDX_MAX_ITEMS items, IDX_MAX_BYTES bytes) before anything is
 * allocated, the buffer grows with the data actually read rather than with what the header
 * claims, and the file must end with the data (a gzip stream must end complete, its length
 * and CRC checked). It hands make_multifashion the bytes and the dimensions. */
#include "idx.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FIRST_CHUNK = 1 << 16 }; /* the data buffer's first size; it doubles as data arrives */
_Static_assert(IDX_MAX_BYTES <= (1u << 30), "gzread() takes and returns an int of bytes");

__attribute__((format(printf, 4, 5))) static void fail(char *err, size_t errlen,
                                                       const char *path, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  int n = snprintf(err, errlen, "%s: ", path);
  if (n < 0 || (size_t)n >= errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
  va_end(ap);
}

/* Reports the error zlib has for f, or a truncation when there is none: gzread() returns 0,
 * not -1, at the end of a file that stops inside a gzip stream (gzerror() then says
 * Z_BUF_ERROR). zlib's message starts with its own name of the file, the same path when f
 * came from gzopen(path): that copy is left out. */
static void read_failed(gzFile f, const char *path, char *err, size_t errlen) {
  int zerr = Z_OK;
  const char *msg = gzerror(f, &zerr);
  if (zerr == Z_OK || zerr == Z_BUF_ERROR) {
    fail(err, errlen, path, "the file is truncated");
    return;
  }
  if (zerr == Z_ERRNO) {
    fail(err, errlen, path, "%s", strerror(errno));
    return;
  }
  size_t n = strlen(path);
  if (strncmp(msg, path, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
    msg += n + 2;
  fail(err, errlen, path, "%s", msg);
}

/* Reads exactly len (<= IDX_MAX_BYTES) bytes. */
static int read_exact(gzFile f, const char *path, void *buf, size_t len, char *err,
                      size_t errlen) {
  unsigned char *p = buf;
  while (len > 0) {
    int got = gzread(f, p, (unsigned)len);
    if (got <= 0) {
      read_failed(f, path, err, errlen);
      return -1;
    }
    p += got;
    len -= (size_t)got;
  }
  return 0;
}

static uint32_t be32(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

unsigned char *idx_read(gzFile f, const char *path, int ndims, uint32_t *dims, size_t *len,
                        char *err, size_t errlen) {
  unsigned char head[4 * IDX_MAX_DIMS];
  *len = 0;
  if (ndims < 1 || ndims > IDX_MAX_DIMS) {
    fail(err, errlen, path, "cannot read IDX files of %d dimensions", ndims);
    return NULL;
  }
  if (read_exact(f, path, head, 4, err, errlen) < 0)
    return NULL;
  if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head[3] != ndims) {
    fail(err, errlen, path,
         "not an IDX file of unsigned bytes with %d dimension%s (magic %02x %02x %02x %02x)",
         ndims, ndims == 1 ? "" : "s", head[0], head[1], head[2], head[3]);
    return NULL;
  }
  if (read_exact(f, path, head, 4 * (size_t)ndims, err, errlen) < 0)
    return NULL;
  size_t want = 1;
  for (int i = 0; i < ndims; i++)
    dims[i] = be32(head + 4 * i);
  if (dims[0] == 0 || dims[0] > IDX_MAX_ITEMS) {
    fail(err, errlen, path, "implausible item count %" PRIu32, dims[0]);
    return NULL;
  }
  for (int i = 0; i < ndims; i++) {
    if (dims[i] == 0) {
      fail(err, errlen, path, "dimension %d is 0", i + 1);
      return NULL;
    }
    if (dims[i] > IDX_MAX_BYTES / want) { /* want * dims[i] > IDX_MAX_BYTES, without overflow */
      fail(err, errlen, path, "the data would be more than %d bytes", IDX_MAX_BYTES);
      return NULL;
    }
    want *= dims[i];
  }

  /* Grow the buffer as the data arrives: a short file that claims a lot costs little. */
  size_t cap = want < FIRST_CHUNK ? want : FIRST_CHUNK, have = 0;
  unsigned char *data = NULL;
  for (;;) {
    unsigned char *grown = realloc(data, cap);
    if (!grown) {
      fail(err, errlen, path, "out of memory for %zu bytes", cap);
      goto fail;
    }
    data = grown;
    if (read_exact(f, path, data + have, cap - have, err, errlen) < 0)
      goto fail;
    have = cap;
    if (have == want)
      break;
    cap = want - have < have ? want : 2 * have;
  }
  unsigned char extra;
  int got = gzread(f, &extra, 1);
  if (got > 0) {
    fail(err, errlen, path, "unexpected data after %zu bytes", want);
    goto fail;
  }
  int zerr = Z_OK;
  gzerror(f, &zerr);
  if (got < 0 || zerr != Z_OK) {
    read_failed(f, path, err, errlen);
    goto fail;
  }
  *len = want;
  return data;
fail:
  free(data);
  return NULL;
}
