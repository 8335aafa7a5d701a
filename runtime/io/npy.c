/* npy.c: the NPY data files of spec §10. The reader maps a file read-only, checks its header
 * (a Python dict literal with exactly 'descr', 'fortran_order' and 'shape') and its size
 * against the shape, and gathers rows converted to the model's types; the writer streams a
 * file to a temporary name and renames it into place. Nothing touches the heap. */
#define _POSIX_C_SOURCE 200809L

#include "mtlrt_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
  const char *descr;
  size_t size;
} types[] = {[MTLRT_NPY_U1] = {"|u1", 1}, [MTLRT_NPY_I4] = {"<i4", 4}, [MTLRT_NPY_I8] = {"<i8", 8},
             [MTLRT_NPY_F4] = {"<f4", 4}, [MTLRT_NPY_F8] = {"<f8", 8}};

const char *mtlrt_npy_type_name(mtlrt_npy_type type) { return types[type].descr; }

static int fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, const char *path, const char *fmt, ...) {
  if (err && errlen) {
    int at = snprintf(err, errlen, "%s: ", path);
    va_list ap;
    va_start(ap, fmt);
    if (at >= 0 && (size_t)at < errlen)
      vsnprintf(err + at, errlen - (size_t)at, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* ---- the header: {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), } ---- */

typedef struct Cursor {
  const char *s, *end;
} Cursor;

static void blank(Cursor *c) {
  while (c->s < c->end && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r'))
    c->s++;
}

static bool eat(Cursor *c, char ch) {
  blank(c);
  if (c->s < c->end && *c->s == ch) {
    c->s++;
    return true;
  }
  return false;
}

/* A quoted string ('...' or "...", no escapes: numpy's keys and descrs have none). */
static bool string(Cursor *c, char *out, size_t len) {
  blank(c);
  if (c->s >= c->end || (*c->s != '\'' && *c->s != '"'))
    return false;
  char q = *c->s++;
  size_t n = 0;
  while (c->s < c->end && *c->s != q && *c->s != '\\') {
    if (n + 1 < len)
      out[n++] = *c->s;
    c->s++;
  }
  out[n] = '\0';
  return c->s < c->end && *c->s++ == q;
}

static bool word(Cursor *c, const char *w) {
  blank(c);
  size_t n = strlen(w);
  if ((size_t)(c->end - c->s) >= n && !memcmp(c->s, w, n)) {
    c->s += n;
    return true;
  }
  return false;
}

/* (d0, d1, ...) with an optional trailing comma; () is a scalar. */
static int shape(Cursor *c, mtlrt_npy *a, char *err, size_t errlen, const char *path) {
  if (!eat(c, '('))
    return fail(err, errlen, path, "the header's shape is not a tuple");
  a->rank = 0;
  a->count = 1;
  while (!eat(c, ')')) {
    blank(c);
    if (c->s >= c->end || *c->s < '0' || *c->s > '9')
      return fail(err, errlen, path, "the header's shape holds something other than non-negative integers");
    uint64_t v = 0;
    while (c->s < c->end && *c->s >= '0' && *c->s <= '9') {
      v = v * 10 + (uint64_t)(*c->s++ - '0');
      if (v > (uint64_t)INT64_MAX / 16)
        return fail(err, errlen, path, "a dimension of the shape is too large");
    }
    if (a->rank == MTLRT_MAX_RANK)
      return fail(err, errlen, path, "the shape has more than %d dimensions", MTLRT_MAX_RANK);
    a->shape[a->rank++] = (int64_t)v;
    if (v && a->count > INT64_MAX / (int64_t)v)
      return fail(err, errlen, path, "the shape holds more elements than fit in memory");
    a->count *= (int64_t)v;
    if (!eat(c, ',') && !(blank(c), c->s < c->end && *c->s == ')'))
      return fail(err, errlen, path, "the header's shape is not a tuple of integers");
  }
  return 0;
}

static int parse_header(const char *text, size_t len, mtlrt_npy *a, char *err, size_t errlen, const char *path) {
  Cursor c = {text, text + len};
  bool seen[3] = {false, false, false};
  char key[32], descr[32];
  if (!eat(&c, '{'))
    return fail(err, errlen, path, "the header is not a Python dict");
  while (!eat(&c, '}')) {
    if (!string(&c, key, sizeof key) || !eat(&c, ':'))
      return fail(err, errlen, path, "the header is not a Python dict of 'descr', 'fortran_order' and 'shape'");
    int k = !strcmp(key, "descr") ? 0 : !strcmp(key, "fortran_order") ? 1 : !strcmp(key, "shape") ? 2 : -1;
    if (k < 0)
      return fail(err, errlen, path, "the header has an unknown key '%s'", key);
    if (seen[k])
      return fail(err, errlen, path, "the header has '%s' twice", key);
    seen[k] = true;
    if (k == 0) {
      if (!string(&c, descr, sizeof descr))
        return fail(err, errlen, path, "the header's descr is not a string (structured arrays are not supported)");
      int t = -1;
      for (int i = 0; i < (int)(sizeof types / sizeof *types); i++)
        if (!strcmp(descr, types[i].descr) || (i == MTLRT_NPY_U1 && (!strcmp(descr, "<u1") || !strcmp(descr, "u1"))))
          t = i;
      if (t < 0 && descr[0] == '>')
        return fail(err, errlen, path, "dtype '%s' is big-endian; save the array as little-endian", descr);
      if (t < 0)
        return fail(err, errlen, path, "dtype '%s' is not one of |u1, <i4, <i8, <f4, <f8", descr);
      a->type = (mtlrt_npy_type)t;
    } else if (k == 1) {
      if (word(&c, "True"))
        return fail(err, errlen, path, "Fortran order is not supported (save it with numpy.ascontiguousarray)");
      if (!word(&c, "False"))
        return fail(err, errlen, path, "the header's fortran_order is neither True nor False");
    } else if (shape(&c, a, err, errlen, path)) {
      return -1;
    }
    if (!eat(&c, ',')) {
      if (!eat(&c, '}'))
        return fail(err, errlen, path, "the header is not a well-formed Python dict");
      break;
    }
  }
  blank(&c);
  if (c.s != c.end)
    return fail(err, errlen, path, "the header has text after its dict");
  if (!seen[0] || !seen[1] || !seen[2])
    return fail(err, errlen, path, "the header lacks '%s'", !seen[0] ? "descr" : !seen[1] ? "fortran_order" : "shape");
  return 0;
}

int mtlrt_npy_open(const char *path, mtlrt_npy *a, char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return fail(err, errlen, path, "%s", strerror(errno));
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    return fail(err, errlen, path, "not a regular file");
  }
  size_t size = (size_t)st.st_size;
  if (size < 10) {
    close(fd);
    return fail(err, errlen, path, "not an NPY file (%zu bytes)", size);
  }
  void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED)
    return fail(err, errlen, path, "cannot map the file: %s", strerror(errno));
  const unsigned char *p = map;
  int rc = -1;
  if (memcmp(p, "\x93NUMPY", 6)) {
    fail(err, errlen, path, "not an NPY file (no \\x93NUMPY magic)");
  } else if (p[6] < 1 || p[6] > 3) {
    fail(err, errlen, path, "NPY format version %d.%d is not supported (1.0, 2.0 and 3.0 are)", p[6], p[7]);
  } else {
    size_t lenbytes = p[6] == 1 ? 2 : 4, hlen = p[8] | (size_t)p[9] << 8;
    if (lenbytes == 4 && size >= 12)
      hlen |= (size_t)p[10] << 16 | (size_t)p[11] << 24;
    size_t start = 8 + lenbytes + hlen;
    if (lenbytes == 4 && size < 12) {
      fail(err, errlen, path, "the header is truncated");
    } else if (start > size) {
      fail(err, errlen, path, "the header length %zu exceeds the file size %zu", hlen, size);
    } else if (parse_header((const char *)p + 8 + lenbytes, hlen, a, err, errlen, path) == 0) {
      size_t esize = types[a->type].size;
      if ((uint64_t)a->count > (SIZE_MAX - start) / esize) {
        fail(err, errlen, path, "the shape holds more elements than fit in memory");
      } else if (start + (size_t)a->count * esize != size) {
        fail(err, errlen, path, "the data is %s: %lld elements of %zu byte%s need %zu bytes after the header, the file "
             "has %zu", start + (size_t)a->count * esize > size ? "truncated" : "followed by extra bytes",
             (long long)a->count, esize, esize == 1 ? "" : "s", (size_t)a->count * esize, size - start);
      } else {
        a->data = p + start;
        a->map = map;
        a->map_size = size;
        rc = 0;
      }
    }
  }
  if (rc) {
    munmap(map, size);
    memset(a, 0, sizeof *a);
  }
  return rc;
}

void mtlrt_npy_close(mtlrt_npy *a) {
  if (a->map)
    munmap(a->map, a->map_size);
  memset(a, 0, sizeof *a);
}

/* ---- gathering rows ---- */

#define GATHER(name, T)                                                                            \
  void mtlrt_npy_gather_##name(const mtlrt_npy *a, const int64_t *rows, int n, int64_t row_elems,  \
                               T u1_scale, T *dst) {                                               \
    size_t len = (size_t)row_elems;                                                                \
    for (int r = 0; r < n; r++, dst += len) {                                                      \
      size_t at = (size_t)rows[r] * len;                                                           \
      switch (a->type) {                                                                           \
      case MTLRT_NPY_U1:                                                                           \
        for (size_t i = 0; i < len; i++)                                                           \
          dst[i] = (T)a->data[at + i] * u1_scale;                                                  \
        break;                                                                                     \
      case MTLRT_NPY_F4:                                                                           \
        if (sizeof(T) == 4) {                                                                      \
          memcpy(dst, a->data + at * 4, len * 4);                                                  \
          break;                                                                                   \
        }                                                                                          \
        for (size_t i = 0; i < len; i++) {                                                         \
          float v;                                                                                 \
          memcpy(&v, a->data + (at + i) * 4, 4);                                                   \
          dst[i] = (T)v;                                                                           \
        }                                                                                          \
        break;                                                                                     \
      case MTLRT_NPY_F8:                                                                           \
        if (sizeof(T) == 8) {                                                                      \
          memcpy(dst, a->data + at * 8, len * 8);                                                  \
          break;                                                                                   \
        }                                                                                          \
        for (size_t i = 0; i < len; i++) {                                                         \
          double v;                                                                                \
          memcpy(&v, a->data + (at + i) * 8, 8);                                                   \
          dst[i] = (T)v;                                                                           \
        }                                                                                          \
        break;                                                                                     \
      case MTLRT_NPY_I4:                                                                           \
        for (size_t i = 0; i < len; i++) {                                                         \
          int32_t v;                                                                               \
          memcpy(&v, a->data + (at + i) * 4, 4);                                                   \
          dst[i] = (T)v;                                                                           \
        }                                                                                          \
        break;                                                                                     \
      case MTLRT_NPY_I8:                                                                           \
        for (size_t i = 0; i < len; i++) {                                                         \
          int64_t v;                                                                               \
          memcpy(&v, a->data + (at + i) * 8, 8);                                                   \
          dst[i] = (T)v;                                                                           \
        }                                                                                          \
        break;                                                                                     \
      }                                                                                            \
    }                                                                                              \
  }
GATHER(f32, float)
GATHER(f64, double)
#undef GATHER

void mtlrt_npy_gather_i32(const mtlrt_npy *a, const int64_t *rows, int n, int64_t row_elems, int32_t *dst) {
  size_t len = (size_t)row_elems;
  for (int r = 0; r < n; r++, dst += len) {
    size_t at = (size_t)rows[r] * len;
    for (size_t i = 0; i < len; i++) {
      int64_t v = 0;
      if (a->type == MTLRT_NPY_U1) {
        v = a->data[at + i];
      } else if (a->type == MTLRT_NPY_I4) {
        int32_t w;
        memcpy(&w, a->data + (at + i) * 4, 4);
        v = w;
      } else if (a->type == MTLRT_NPY_I8) {
        memcpy(&v, a->data + (at + i) * 8, 8);
      } else {
        v = INT32_MIN; /* reals are not class ids; the caller checked the type */
      }
      dst[i] = v < INT32_MIN || v > INT32_MAX ? INT32_MIN : (int32_t)v;
    }
  }
}

/* ---- writing ---- */

int mtlrt_npy_create(mtlrt_npy_writer *w, const char *path, mtlrt_npy_type type, int rank, const int64_t *shape,
                     char *err, size_t errlen) {
  memset(w, 0, sizeof *w);
  if (strlen(path) >= sizeof w->path)
    return fail(err, errlen, path, "the path is too long");
  if (rank < 0 || rank > MTLRT_MAX_RANK)
    return fail(err, errlen, path, "an NPY file of rank %d", rank);
  char dict[512];
  int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", types[type].descr);
  w->count = 1;
  for (int i = 0; i < rank; i++) {
    len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld%s", (long long)shape[i],
                    rank == 1 ? "," : i + 1 < rank ? ", " : "");
    w->count *= shape[i];
  }
  len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
  /* Version 1.0: magic (6), version (2), length (2), the dict padded with spaces and a
   * newline so that the data starts at a multiple of 64 bytes. */
  size_t total = ((size_t)len + 10 + 1 + 63) / 64 * 64;
  unsigned char head[576];
  memcpy(head, "\x93NUMPY\x01\x00", 8);
  head[8] = (unsigned char)((total - 10) & 0xff);
  head[9] = (unsigned char)((total - 10) >> 8);
  memcpy(head + 10, dict, (size_t)len);
  memset(head + 10 + len, ' ', total - 10 - (size_t)len - 1);
  head[total - 1] = '\n';
  snprintf(w->path, sizeof w->path, "%s", path);
  snprintf(w->tmp, sizeof w->tmp, "%s.%ld.tmp", path, (long)getpid());
  w->type = type;
  int fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  if (fd < 0 || !(w->f = fdopen(fd, "wb"))) {
    if (fd >= 0)
      close(fd);
    return fail(err, errlen, path, "cannot write: %s", strerror(errno));
  }
  if (fwrite(head, 1, total, w->f) != total) {
    mtlrt_npy_abort(w);
    return fail(err, errlen, path, "cannot write: %s", strerror(errno));
  }
  return 0;
}

int mtlrt_npy_append(mtlrt_npy_writer *w, const void *data, int64_t elems, char *err, size_t errlen) {
  if (elems < 0 || w->written + elems > w->count)
    return fail(err, errlen, w->path, "more elements than the shape holds (%lld)", (long long)w->count);
  size_t bytes = (size_t)elems * types[w->type].size;
  if (fwrite(data, 1, bytes, w->f) != bytes)
    return fail(err, errlen, w->path, "cannot write: %s", strerror(errno));
  w->written += elems;
  return 0;
}

int mtlrt_npy_commit(mtlrt_npy_writer *w, char *err, size_t errlen) {
  if (w->written != w->count) {
    mtlrt_npy_abort(w);
    return fail(err, errlen, w->path, "%lld elements written, the shape holds %lld", (long long)w->written,
                (long long)w->count);
  }
  bool ok = fflush(w->f) == 0 && fsync(fileno(w->f)) == 0;
  ok &= fclose(w->f) == 0;
  w->f = NULL;
  if (!ok || rename(w->tmp, w->path)) {
    int e = errno;
    remove(w->tmp);
    return fail(err, errlen, w->path, "cannot write: %s", strerror(e));
  }
  return 0;
}

void mtlrt_npy_abort(mtlrt_npy_writer *w) {
  if (w->f) {
    fclose(w->f);
    w->f = NULL;
  }
  if (*w->tmp)
    remove(w->tmp);
}
