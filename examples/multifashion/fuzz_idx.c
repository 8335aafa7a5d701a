/* fuzz_idx.c: libFuzzer target for make_multifashion's IDX reader (idx.c). Each input is a
 * whole file: it goes into a memfd, which is opened with gzopen() by its /proc/self/fd name
 * (as make_multifashion opens its files, so gzip'd and plain inputs both work) and read as
 * an IDX file of 1, 2 and 3 dimensions. Each read must end in success or a one-line message
 * naming the file, never in a crash, a hang, a leak or undefined behaviour. A read that
 * succeeds must hand out exactly the data: as many bytes as the product of the dimensions,
 * ending where the (uncompressed) file ends, and for a plain file its very bytes. An input
 * that is not gzip is read once more gzip'd here: compression must change nothing, neither
 * the data nor the message. */
#define _GNU_SOURCE

#include "idx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

typedef struct Result {
  unsigned char *data; /* idx_read()'s buffer, or NULL */
  size_t len;          /* its length */
  uint32_t dims[IDX_MAX_DIMS];
  char path[64];       /* the name the file was read by */
  char err[512];       /* the message when data is NULL */
} Result;

/* A memfd holding the bytes. */
static int memfd_of(const unsigned char *p, size_t n) {
  int fd = memfd_create("fuzz_idx", MFD_CLOEXEC);
  if (fd < 0)
    __builtin_trap();
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0)
      __builtin_trap();
    p += w;
    n -= (size_t)w;
  }
  return fd;
}

/* Reads the memfd fd as an IDX file of ndims dimensions and checks the outcome; size and p
 * are the file's length and bytes when the caller knows them (a plain input), else p is
 * NULL. */
static void read_one(int fd, int ndims, const unsigned char *p, size_t size, Result *r) {
  memset(r, 0, sizeof *r);
  snprintf(r->path, sizeof r->path, "/proc/self/fd/%d", fd);
  gzFile f = gzopen(r->path, "rb");
  if (!f)
    __builtin_trap();
  r->data = idx_read(f, r->path, ndims, r->dims, &r->len, r->err, sizeof r->err);
  size_t n = strlen(r->path);
  if (!r->data) {
    /* One line, "PATH: message", without zlib's second copy of the name. */
    if (strncmp(r->err, r->path, n) != 0 || strncmp(r->err + n, ": ", 2) != 0 ||
        !r->err[n + 2] || strchr(r->err, '\n') || strstr(r->err + n, r->path))
      __builtin_trap();
    gzclose(f);
    return;
  }
  uint64_t want = 1;
  for (int i = 0; i < ndims; i++)
    want *= r->dims[i]; /* at most 2^96 if unchecked; the reader bounds it first */
  if (r->len == 0 || r->len != want || r->len > IDX_MAX_BYTES || r->dims[0] > IDX_MAX_ITEMS)
    __builtin_trap();
  size_t head = 4 + 4 * (size_t)ndims;
  if ((uint64_t)gztell(f) != head + r->len)
    __builtin_trap(); /* the file ended with the data */
  if (gzdirect(f) && p && (head + r->len != size || memcmp(r->data, p + head, r->len) != 0))
    __builtin_trap(); /* a plain file: its own bytes, all of it */
  unsigned sum = 0;
  for (size_t i = 0; i < r->len; i++)
    sum += r->data[i]; /* every byte is there (ASan checks the buffer's extent) */
  __asm__ volatile("" ::"r"(sum));
  gzclose(f);
}

/* gzip of the bytes, by deflate; NULL if zlib cannot (out of memory). */
static unsigned char *gzip(const unsigned char *p, size_t n, size_t *out) {
  z_stream s = {0};
  if (deflateInit2(&s, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return NULL;
  size_t cap = deflateBound(&s, n);
  unsigned char *z = malloc(cap);
  s.next_in = (unsigned char *)p;
  s.avail_in = (uInt)n;
  s.next_out = z;
  s.avail_out = (uInt)cap;
  if (!z || deflate(&s, Z_FINISH) != Z_STREAM_END) {
    deflateEnd(&s);
    free(z);
    return NULL;
  }
  *out = cap - s.avail_out;
  deflateEnd(&s);
  return z;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  int plain = size < 2 || data[0] != 0x1f || data[1] != 0x8b;
  int fd = memfd_of(data, size), zfd = -1;
  if (plain) {
    size_t zn = 0;
    unsigned char *z = gzip(data, size, &zn);
    if (z) {
      zfd = memfd_of(z, zn);
      free(z);
    }
  }
  for (int ndims = 1; ndims <= IDX_MAX_DIMS; ndims++) {
    Result a, b;
    read_one(fd, ndims, plain ? data : NULL, size, &a);
    if (zfd >= 0) {
      read_one(zfd, ndims, NULL, 0, &b);
      if (!a.data != !b.data)
        __builtin_trap(); /* gzip changed the outcome */
      if (a.data && (a.len != b.len || memcmp(a.dims, b.dims, sizeof a.dims) != 0 ||
                     memcmp(a.data, b.data, a.len) != 0))
        __builtin_trap(); /* or the data */
      if (!a.data && strcmp(a.err + strlen(a.path), b.err + strlen(b.path)) != 0)
        __builtin_trap(); /* or the message */
      free(b.data);
    }
    free(a.data);
  }
  close(fd);
  if (zfd >= 0)
    close(zfd);
  return 0;
}
