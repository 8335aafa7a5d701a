/* npy.c: the NPY data files of spec §10, without touching the heap. mtlrt_npy_open() maps a
 * file read-only and checks all of it before handing it out: the magic and the version, the
 * header (a Python dict literal, read by a small strict parser that takes exactly 'descr',
 * 'fortran_order' and 'shape' in any order, with any spacing and an optional trailing comma)
 * and a file size of exactly header + data. The gathers copy rows out of the mapping into the
 * model's batch buffers, converting types on the way. The writer streams a file, with the
 * header numpy.save would write, to a temporary name beside the target and renames it into
 * place once every element is there.
 */
#define _POSIX_C_SOURCE 200809L

#include "mtlrt_io.h"
#include "files.h"
#include "../kernels/parallel.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) &&                                 \
    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error                                                                                             \
    "npy.c reads and writes little-endian data as it lies in memory: it needs a little-endian host"
#endif

static const struct {
  const char *descr; /* as numpy writes it */
  size_t size;       /* bytes per element */
} types[] = {
    [MTLRT_NPY_U1] = {"|u1", 1}, [MTLRT_NPY_I4] = {"<i4", 4}, [MTLRT_NPY_I8] = {"<i8", 8},
    [MTLRT_NPY_F4] = {"<f4", 4}, [MTLRT_NPY_F8] = {"<f8", 8},
};
enum { NTYPES = sizeof types / sizeof types[0] };
_Static_assert(NTYPES == MTLRT_NPY_F8 + 1, "types");

#define TYPE_LIST "|u1, <i4, <i8, <f4, <f8"

const char *mtlrt_npy_type_name(mtlrt_npy_type type) {
  return (unsigned)type < NTYPES ? types[type].descr : "?";
}

#define fail mtlrt_file_error /* "FILE: message" into err; returns -1 */

/* The elements of a shape, or -1 if more than INT64_MAX. */
static int64_t elements(const int64_t *shape, int rank) {
  for (int i = 0; i < rank; i++)
    if (shape[i] == 0)
      return 0;
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (n > INT64_MAX / shape[i])
      return -1;
    n *= shape[i];
  }
  return n;
}

static void format_shape(char *dst, size_t cap, const int64_t *shape, int rank) {
  size_t k = (size_t)snprintf(dst, cap, "[");
  for (int i = 0; i < rank && k < cap; i++)
    k += (size_t)snprintf(dst + k, cap - k, "%s%" PRId64, i ? ", " : "", shape[i]);
  if (k < cap)
    snprintf(dst + k, cap - k, "]");
}

/* ---- The header: {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), } ---- */

enum { STR_MAX = 32 }; /* the longest key or descr kept for matching and messages */

typedef struct Header {
  const unsigned char *s; /* the header's text (not NUL-terminated) */
  size_t len, pos;        /* its length; the parser's position */
  int python2_longs;      /* a version 1.0 or 2.0 header: 5L is 5, as numpy reads it */
  const char *file;
  char *err;
  size_t errlen;
} Header;

static int syntax(Header *h, const char *what) {
  if (h->pos >= h->len)
    return fail(h->err, h->errlen, h->file, "invalid header: %s at its end (byte %zu)", what,
                h->len);
  return fail(h->err, h->errlen, h->file, "invalid header: %s at byte %zu of the header", what,
              h->pos);
}

static int peek(const Header *h) { return h->pos < h->len ? h->s[h->pos] : -1; }

/* Python's whitespace between the tokens of a bracketed expression. */
static void skip_ws(Header *h) {
  int c;
  while ((c = peek(h)) == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')
    h->pos++;
}

static int name_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* A string in single or double quotes without escapes (numpy writes none), kept as a
 * printable C string of at most STR_MAX - 1 bytes: control and non-ASCII bytes become
 * \xNN and a longer string ends in "...", so it never matches a known name. */
static int parse_string(Header *h, char out[STR_MAX], const char *what) {
  skip_ws(h);
  int q = peek(h);
  if (q != '\'' && q != '"')
    return syntax(h, what);
  h->pos++;
  size_t k = 0;
  int full = 0;
  for (int c; (c = peek(h)) != q; h->pos++) {
    if (c < 0 || c == '\n' || c == '\r')
      return syntax(h, "unterminated string");
    if (c == '\\')
      return syntax(h, "a string with an escape");
    if (full)
      continue;
    char rep[8] = {(char)c};
    int n = c < 0x20 || c >= 0x7f ? snprintf(rep, sizeof rep, "\\x%02x", (unsigned)c) : 1;
    if (k + (size_t)n > STR_MAX - 4) {
      memcpy(out + k, "...", 3);
      k += 3;
      full = 1;
    } else {
      memcpy(out + k, rep, (size_t)n);
      k += (size_t)n;
    }
  }
  h->pos++;
  out[k] = '\0';
  return 0;
}

static int parse_descr(Header *h, mtlrt_npy *a) {
  char d[STR_MAX];
  skip_ws(h);
  if (peek(h) == '[')
    return fail(h->err, h->errlen, h->file,
                "the dtype is a structured dtype (a list of fields), expected one of " TYPE_LIST);
  if (parse_string(h, d, "expected a string after 'descr'"))
    return -1;
  for (int t = 0; t < NTYPES; t++)
    if (strcmp(d, types[t].descr) == 0) {
      a->type = (mtlrt_npy_type)t;
      return 0;
    }
  if (strcmp(d, "<u1") == 0 || strcmp(d, "u1") == 0) {
    a->type = MTLRT_NPY_U1;
    return 0;
  }
  if (d[0] == '>') {
    for (int t = 0; t < NTYPES; t++)
      if (strcmp(d + 1, types[t].descr + 1) == 0)
        return fail(h->err, h->errlen, h->file,
                    "dtype '%s' is big-endian, which is not supported (convert the array with "
                    ".astype('%s'))",
                    d, types[t].descr);
    return fail(h->err, h->errlen, h->file,
                "dtype '%s' is big-endian, which is not supported (expected one of " TYPE_LIST ")",
                d);
  }
  return fail(h->err, h->errlen, h->file, "dtype '%s' is not one of " TYPE_LIST, d);
}

static int parse_fortran_order(Header *h) {
  skip_ws(h);
  const unsigned char *s = h->s + h->pos;
  size_t left = h->len - h->pos;
  if (left >= 4 && memcmp(s, "True", 4) == 0 && (left == 4 || !name_char(s[4])))
    return fail(h->err, h->errlen, h->file,
                "Fortran order is not supported (save it with numpy.ascontiguousarray)");
  if (left >= 5 && memcmp(s, "False", 5) == 0 && (left == 5 || !name_char(s[5]))) {
    h->pos += 5;
    return 0;
  }
  return syntax(h, "expected True or False after 'fortran_order'");
}

/* A tuple of non-negative Python ints: (), (5,), (5, 6) or (5, 6,). */
static int parse_shape(Header *h, mtlrt_npy *a) {
  skip_ws(h);
  if (peek(h) == '[')
    return fail(h->err, h->errlen, h->file,
                "the shape is a list, expected a tuple such as (60000, 784)");
  if (peek(h) != '(')
    return syntax(h, "expected a tuple after 'shape'");
  h->pos++;
  int comma = 0;
  a->rank = 0;
  for (;;) {
    skip_ws(h);
    if (peek(h) == ')') {
      if (a->rank == 1 && !comma)
        return fail(h->err, h->errlen, h->file,
                    "the shape (%" PRId64
                    ") is not a tuple (a 1-dimensional shape is written (%" PRId64 ",))",
                    a->shape[0], a->shape[0]);
      h->pos++;
      return 0;
    }
    if (a->rank > 0 && !comma)
      return syntax(h, "expected ',' or ')' in the shape");
    if (peek(h) == '-')
      return fail(h->err, h->errlen, h->file, "dimension %d of the shape is negative", a->rank + 1);
    if (peek(h) < '0' || peek(h) > '9')
      return syntax(h, "expected a non-negative integer in the shape");
    if (peek(h) == '0' && h->pos + 1 < h->len && h->s[h->pos + 1] >= '0' && h->s[h->pos + 1] <= '9')
      return syntax(h, "a number with a leading zero");
    uint64_t v = 0;
    for (int c; (c = peek(h)) >= '0' && c <= '9'; h->pos++) {
      v = v * 10 + (uint64_t)(c - '0');
      if (v > (uint64_t)INT64_MAX)
        return fail(h->err, h->errlen, h->file, "dimension %d of the shape is larger than 2^63-1",
                    a->rank + 1);
    }
    if (h->python2_longs && peek(h) == 'L')
      h->pos++;
    if (name_char(peek(h)) || peek(h) == '.')
      return syntax(h, "expected an integer in the shape");
    if (a->rank == MTLRT_MAX_RANK)
      return fail(h->err, h->errlen, h->file, "the shape has more than %d dimensions",
                  MTLRT_MAX_RANK);
    a->shape[a->rank++] = (int64_t)v;
    skip_ws(h);
    comma = peek(h) == ',';
    h->pos += (size_t)comma;
  }
}

static int parse_header(Header *h, mtlrt_npy *a) {
  static const char *const keys[3] = {"descr", "fortran_order", "shape"};
  int seen[3] = {0, 0, 0};
  skip_ws(h);
  if (peek(h) != '{')
    return syntax(h, "expected '{' (the header is not a Python dict)");
  h->pos++;
  for (;;) {
    skip_ws(h);
    if (peek(h) == '}') {
      h->pos++;
      break;
    }
    char key[STR_MAX];
    if (parse_string(h, key, "expected a quoted key or '}'"))
      return -1;
    int k = 0;
    while (k < 3 && strcmp(key, keys[k]) != 0)
      k++;
    if (k == 3)
      return fail(
          h->err, h->errlen, h->file,
          "the header has an unknown key '%s' (expected 'descr', 'fortran_order' and 'shape')",
          key);
    if (seen[k])
      return fail(h->err, h->errlen, h->file, "the header has '%s' twice", key);
    seen[k] = 1;
    skip_ws(h);
    if (peek(h) != ':')
      return syntax(h, "expected ':' after a key");
    h->pos++;
    if ((k == 0 ? parse_descr(h, a) : k == 1 ? parse_fortran_order(h) : parse_shape(h, a)) != 0)
      return -1;
    skip_ws(h);
    if (peek(h) == ',')
      h->pos++;
    else if (peek(h) != '}')
      return syntax(h, "expected ',' or '}'");
  }
  skip_ws(h);
  if (h->pos < h->len)
    return syntax(h, "text after the dict");
  for (int k = 0; k < 3; k++)
    if (!seen[k])
      return fail(h->err, h->errlen, h->file, "the header lacks '%s'", keys[k]);
  return 0;
}

/* Checks the NPY file in p[0..size) and describes it in *a, its data pointing into p. */
static int check_npy(const char *file, const unsigned char *p, size_t size, mtlrt_npy *a, char *err,
                     size_t errlen) {
  memset(a, 0, sizeof *a);
  if (size == 0)
    return fail(err, errlen, file, "the file is empty (expected an NPY file)");
  if (memcmp(p, "\x93NUMPY", size < 6 ? size : 6) != 0)
    return fail(err, errlen, file, "not an NPY file (it does not start with \\x93NUMPY)");
  if (size < 8)
    return fail(err, errlen, file, "the file ends in the NPY preamble (%zu bytes)", size);
  if (p[6] < 1 || p[6] > 3 || p[7] != 0)
    return fail(err, errlen, file,
                "NPY format version %d.%d is not supported (1.0, 2.0 and 3.0 are)", p[6], p[7]);
  size_t start = p[6] == 1 ? 10 : 12;
  if (size < start)
    return fail(err, errlen, file, "the file ends in the NPY preamble (%zu bytes)", size);
  uint64_t hlen = p[8] | (uint64_t)p[9] << 8;
  if (start == 12)
    hlen |= (uint64_t)p[10] << 16 | (uint64_t)p[11] << 24;
  if (hlen > size - start)
    return fail(err, errlen, file,
                "the header is truncated (header length %" PRIu64
                " from byte %zu, the file has %zu bytes)",
                hlen, start, size);
  Header h = {p + start, (size_t)hlen, 0, p[6] < 3, file, err, errlen};
  if (parse_header(&h, a)) {
    memset(a, 0, sizeof *a);
    return -1;
  }
  start += (size_t)hlen;

  int64_t count = elements(a->shape, a->rank);
  size_t esize = types[a->type].size;
  char shape[MTLRT_MAX_RANK * 22 + 4];
  if (count < 0 || (uint64_t)count > (uint64_t)INT64_MAX / esize) {
    format_shape(shape, sizeof shape, a->shape, a->rank);
    memset(a, 0, sizeof *a);
    return fail(err, errlen, file, "the shape %s of %zu-byte elements holds more than 2^63-1 bytes",
                shape, esize);
  }
  uint64_t need = (uint64_t)count * esize, have = size - start;
  if (need != have) {
    int64_t n = count;
    memset(a, 0, sizeof *a);
    return fail(err, errlen, file,
                "the data is %s: %" PRId64 " element%s of %zu byte%s need%s %" PRIu64
                " bytes after the header, the file has %" PRIu64,
                need > have ? "truncated" : "followed by extra bytes", n, n == 1 ? "" : "s", esize,
                esize == 1 ? "" : "s", n == 1 ? "s" : "", need, have);
  }
  a->count = count;
  a->data = p + start;
  return 0;
}

int mtlrt_npy_open(const char *path, mtlrt_npy *a, char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  if (!path)
    return fail(err, errlen, "(null)", "no file name");
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return fail(err, errlen, path, "cannot open: %s", strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return fail(err, errlen, path, "cannot open: %s", strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return fail(err, errlen, path, "not a regular file");
  }
  if ((uint64_t)st.st_size > SIZE_MAX) {
    close(fd);
    return fail(err, errlen, path, "the file is too large to map");
  }
  size_t size = (size_t)st.st_size;
  void *map = NULL;
  if (size > 0) {
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      int e = errno;
      close(fd);
      return fail(err, errlen, path, "cannot map the file: %s", strerror(e));
    }
  }
  close(fd);
  static const unsigned char nothing[1];
  if (check_npy(path, map ? map : nothing, size, a, err, errlen)) {
    if (map)
      munmap(map, size);
    return -1;
  }
  a->map = map;
  a->map_size = size;
  return 0;
}

void mtlrt_npy_close(mtlrt_npy *a) {
  if (a->map)
    munmap(a->map, a->map_size);
  memset(a, 0, sizeof *a);
}

/* ---- Gathering rows ---- */

/* The elements of one row, loaded from possibly unaligned memory and converted to T. */
#define CONVERT_ROW(T, dst, src, len, SRC_T)                                                       \
  for (size_t i_ = 0; i_ < (len); i_++) {                                                          \
    SRC_T v_;                                                                                      \
    memcpy(&v_, (src) + i_ * sizeof(SRC_T), sizeof(SRC_T));                                        \
    (dst)[i_] = (T)v_;                                                                             \
  }

/* A gather of real rows, split over the kernels' threads by rows (the rows are many and
 * come from the page cache or memory: some 0.8 ns an element on one core, which the main
 * thread would otherwise spend while the others wait for the step's first kernel). */
typedef struct {
  const mtlrt_npy *a;
  const int64_t *rows;
  size_t len;   /* elements of a row */
  double scale; /* u1_scale */
  void *dst;
} gather_job;

#define GATHER_REAL(NAME, T, SAME)                                                                 \
  static void NAME##_rows(void *ctx, size_t first, size_t end) {                                   \
    const gather_job *g = ctx;                                                                     \
    const mtlrt_npy *a = g->a;                                                                     \
    size_t len = g->len, bytes = len * types[a->type].size;                                        \
    T u1_scale = (T)g->scale, *dst = (T *)g->dst + first * len;                                    \
    for (size_t r = first; r < end; r++, dst += len) {                                             \
      const unsigned char *src = a->data + (size_t)g->rows[r] * bytes;                             \
      switch (a->type) {                                                                           \
      case MTLRT_NPY_U1:                                                                           \
        for (size_t i = 0; i < len; i++)                                                           \
          dst[i] = (T)src[i] * u1_scale;                                                           \
        break;                                                                                     \
      case SAME:                                                                                   \
        memcpy(dst, src, bytes);                                                                   \
        break;                                                                                     \
      case MTLRT_NPY_I4:                                                                           \
        CONVERT_ROW(T, dst, src, len, int32_t)                                                     \
        break;                                                                                     \
      case MTLRT_NPY_I8:                                                                           \
        CONVERT_ROW(T, dst, src, len, int64_t)                                                     \
        break;                                                                                     \
      default: /* the other real type */                                                           \
        if (SAME == MTLRT_NPY_F4) {                                                                \
          CONVERT_ROW(T, dst, src, len, double)                                                    \
        } else {                                                                                   \
          CONVERT_ROW(T, dst, src, len, float)                                                     \
        }                                                                                          \
        break;                                                                                     \
      }                                                                                            \
    }                                                                                              \
  }                                                                                                \
  void NAME(const mtlrt_npy *a, const int64_t *rows, int n, int64_t row_elems, T u1_scale,         \
            T *dst) {                                                                              \
    gather_job g = {a, rows, (size_t)row_elems, (double)u1_scale, dst};                            \
    double weight = MTLRT_STREAMED * (double)n * (double)row_elems;                                \
    mtlrt_parallel_range(NAME##_rows, &g, (size_t)n, 1, weight);                                   \
  }

GATHER_REAL(mtlrt_npy_gather_f32, float, MTLRT_NPY_F4)
GATHER_REAL(mtlrt_npy_gather_f64, double, MTLRT_NPY_F8)

static int32_t to_i32(double v) {
  return v >= INT32_MIN && v <= INT32_MAX && v == (double)(int64_t)v ? (int32_t)v : INT32_MIN;
}

void mtlrt_npy_gather_i32(const mtlrt_npy *a, const int64_t *rows, int n, int64_t row_elems,
                          int32_t *dst) {
  size_t len = (size_t)row_elems, bytes = len * types[a->type].size;
  for (int r = 0; r < n; r++, dst += len) {
    const unsigned char *src = a->data + (size_t)rows[r] * bytes;
    switch (a->type) {
    case MTLRT_NPY_U1:
      for (size_t i = 0; i < len; i++)
        dst[i] = src[i];
      break;
    case MTLRT_NPY_I4:
      memcpy(dst, src, bytes);
      break;
    case MTLRT_NPY_I8:
      for (size_t i = 0; i < len; i++) {
        int64_t v;
        memcpy(&v, src + 8 * i, 8);
        dst[i] = v >= INT32_MIN && v <= INT32_MAX ? (int32_t)v : INT32_MIN;
      }
      break;
    case MTLRT_NPY_F4:
      for (size_t i = 0; i < len; i++) {
        float v;
        memcpy(&v, src + 4 * i, 4);
        dst[i] = to_i32(v);
      }
      break;
    case MTLRT_NPY_F8:
      for (size_t i = 0; i < len; i++) {
        double v;
        memcpy(&v, src + 8 * i, 8);
        dst[i] = to_i32(v);
      }
      break;
    }
  }
}

/* ---- Writing ---- */

/* The longest header: the dict with 8 dimensions of 19 digits, numpy's spare room for the
 * first dimension to grow, and the padding to 64 bytes. It always fits version 1.0's 16-bit
 * header length, so the 2.0 fallback numpy has for huge structured dtypes is never needed. */
enum { HEADER_MAX = 10 + 64 + MTLRT_MAX_RANK * 21 + 21 + 64 + 1 };
_Static_assert(HEADER_MAX <= 65535, "an NPY 1.0 header holds at most 65535 bytes");

/* The header numpy.save writes for this array (numpy's _write_array_header): the sorted
 * keys, repr() of the shape, spare spaces for the first dimension to grow to 21 digits, and
 * spaces and a newline up to a multiple of 64 bytes. Returns its length. */
static size_t make_header(unsigned char *out, mtlrt_npy_type type, int rank, const int64_t *shape) {
  char *dict = (char *)out + 10;
  size_t cap = HEADER_MAX - 10, k;
  k = (size_t)snprintf(dict, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                       types[type].descr);
  for (int i = 0; i < rank; i++)
    k += (size_t)snprintf(dict + k, cap - k, "%s%" PRId64, i ? ", " : "", shape[i]);
  k += (size_t)snprintf(dict + k, cap - k, "%s), }", rank == 1 ? "," : "");
  if (rank > 0) {
    int digits = snprintf(NULL, 0, "%" PRId64, shape[0]);
    for (int i = digits; i < 21; i++)
      dict[k++] = ' ';
  }
  size_t hlen = k + 1, pad = 64 - (10 + hlen) % 64;
  memset(dict + k, ' ', pad);
  dict[k + pad] = '\n';
  hlen += pad;
  memcpy(out, "\x93NUMPY\x01\x00", 8);
  out[8] = (unsigned char)(hlen & 0xff);
  out[9] = (unsigned char)(hlen >> 8);
  return 10 + hlen;
}

int mtlrt_npy_create(mtlrt_npy_writer *w, const char *path, mtlrt_npy_type type, int rank,
                     const int64_t *shape, char *err, size_t errlen) {
  memset(w, 0, sizeof *w);
  if (!path)
    return fail(err, errlen, "(null)", "no file name");
  if ((unsigned)type >= NTYPES)
    return fail(err, errlen, path, "invalid element type %d", (int)type);
  if (rank < 0 || rank > MTLRT_MAX_RANK || (rank > 0 && !shape))
    return fail(err, errlen, path, "invalid shape: rank %d, not 0 to %d", rank, MTLRT_MAX_RANK);
  for (int i = 0; i < rank; i++)
    if (shape[i] < 0)
      return fail(err, errlen, path, "dimension %d of the shape is negative (%" PRId64 ")", i + 1,
                  shape[i]);
  int64_t count = elements(shape, rank);
  if (count < 0 || (uint64_t)count > (uint64_t)INT64_MAX / types[type].size) {
    char text[MTLRT_MAX_RANK * 22 + 4];
    format_shape(text, sizeof text, shape, rank);
    return fail(err, errlen, path, "the shape %s of %zu-byte elements holds more than 2^63-1 bytes",
                text, types[type].size);
  }
  size_t plen = strlen(path);
  if (plen >= sizeof w->path)
    return fail(err, errlen, path, "the file name is too long");
  unsigned char head[HEADER_MAX];
  size_t hsize = make_header(head, type, rank, shape);

  const char *why;
  w->f = mtlrt_atomic_create(path, w->tmp, sizeof w->tmp, &why);
  if (!w->f) {
    w->tmp[0] = '\0';
    return fail(err, errlen, path, "cannot create a temporary file: %s", why);
  }
  memcpy(w->path, path, plen + 1);
  w->type = type;
  w->count = count;
  errno = 0;
  if (fwrite(head, 1, hsize, w->f) != hsize) {
    int e = errno ? errno : EIO;
    mtlrt_npy_abort(w);
    return fail(err, errlen, path, "cannot write a temporary file: %s", strerror(e));
  }
  return 0;
}

int mtlrt_npy_append(mtlrt_npy_writer *w, const void *data, int64_t elems, char *err,
                     size_t errlen) {
  const char *path = w->path[0] ? w->path : "(null)";
  if (!w->f)
    return fail(err, errlen, path, "the file is not open for writing");
  if (elems < 0 || elems > w->count - w->written)
    return fail(err, errlen, path,
                "appending %" PRId64 " elements to the %" PRId64 " written would pass the %" PRId64
                " of the shape",
                elems, w->written, w->count);
  size_t bytes = (size_t)elems * types[w->type].size;
  errno = 0;
  if (bytes > 0 && fwrite(data, 1, bytes, w->f) != bytes)
    return fail(err, errlen, path, "cannot write a temporary file: %s",
                strerror(errno ? errno : EIO));
  w->written += elems;
  return 0;
}

int mtlrt_npy_commit(mtlrt_npy_writer *w, char *err, size_t errlen) {
  const char *path = w->path[0] ? w->path : "(null)";
  if (!w->f)
    return fail(err, errlen, path, "the file is not open for writing");
  if (w->written != w->count) {
    int64_t written = w->written;
    mtlrt_npy_abort(w);
    return fail(err, errlen, path,
                "%" PRId64 " of the %" PRId64 " elements of the shape were written", written,
                w->count);
  }
  FILE *f = w->f;
  const char *why;
  w->f = NULL;
  int rc = mtlrt_atomic_commit(f, 0, w->tmp, w->path, &why);
  w->tmp[0] = '\0';
  return rc ? fail(err, errlen, path, "cannot write the file: %s", why) : 0;
}

void mtlrt_npy_abort(mtlrt_npy_writer *w) {
  if (w->tmp[0])
    mtlrt_atomic_discard(w->f, w->tmp);
  w->f = NULL;
  w->tmp[0] = '\0';
}
