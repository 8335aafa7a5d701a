/* safetensors.c: saving and loading checkpoints in the safetensors format (spec §5, §10)
 * without touching the heap. The writer sizes the JSON header in a dry run, then writes
 * header and data to a temporary file that it renames over the target. The reader never
 * holds the header in memory: a strict streaming JSON parser reads it from the FILE* in
 * 4 KB pieces and hands each tensor entry to the current pass. The first passes match
 * entries against the caller's tensors in chunks of CHUNK names (a small hash table per
 * chunk finds missing, duplicate, mistyped and misshapen tensors), the next ones sort the
 * data_offsets TILE at a time to prove that they tile the data buffer, and only then do
 * the data passes read each tensor into the caller's buffer, converting its dtype.
 */
#define _POSIX_C_SOURCE 200809L

#include "mtlrt_io.h"
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) &&                                 \
    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error                                                                                             \
    "safetensors.c reads and writes tensor data as it lies in memory: it needs a little-endian host"
#endif

enum {
  CHUNK = 512,        /* requested tensors matched per header pass */
  HSLOTS = 2 * CHUNK, /* slots of the hash table of one chunk's names */
  TILE = 256,         /* data_offsets sorted per header pass */
  IOBUF = 4096        /* bytes of header read at a time; scratch for converting data */
};

/* The dtypes of the safetensors format with a whole number of bytes per element. */
typedef enum {
  FD_BOOL,
  FD_U8,
  FD_I8,
  FD_F8_E5M2,
  FD_F8_E4M3,
  FD_I16,
  FD_U16,
  FD_F16,
  FD_BF16,
  FD_I32,
  FD_U32,
  FD_F32,
  FD_F64,
  FD_I64,
  FD_U64,
  FD_COUNT
} FileDtype;

static const struct {
  const char *name; /* as in the JSON header */
  int size;         /* bytes per element */
} file_dtypes[] = {
    [FD_BOOL] = {"BOOL", 1},       [FD_U8] = {"U8", 1},           [FD_I8] = {"I8", 1},
    [FD_F8_E5M2] = {"F8_E5M2", 1}, [FD_F8_E4M3] = {"F8_E4M3", 1}, [FD_I16] = {"I16", 2},
    [FD_U16] = {"U16", 2},         [FD_F16] = {"F16", 2},         [FD_BF16] = {"BF16", 2},
    [FD_I32] = {"I32", 4},         [FD_U32] = {"U32", 4},         [FD_F32] = {"F32", 4},
    [FD_F64] = {"F64", 8},         [FD_I64] = {"I64", 8},         [FD_U64] = {"U64", 8},
};
_Static_assert(sizeof file_dtypes / sizeof file_dtypes[0] == FD_COUNT, "file_dtypes");

static int mem_size(mtlrt_dtype d) { return d == MTLRT_DT_F32 ? 4 : 8; }

static const char *mem_name(mtlrt_dtype d) {
  return d == MTLRT_DT_F32 ? "F32" : d == MTLRT_DT_F64 ? "F64" : "I64";
}

static int can_load(FileDtype fd, mtlrt_dtype md) {
  if (md == MTLRT_DT_I64)
    return fd == FD_I64 || fd == FD_I32;
  return fd == FD_F32 || fd == FD_F64;
}

static int little_endian(void) {
  uint16_t one = 1;
  unsigned char low;
  memcpy(&low, &one, 1);
  return low == 1;
}

#define fail mtlrt_file_error /* "FILE: message" into err; returns -1 */

static const char *printable(char *dst, size_t cap, const char *s) {
  size_t k = 0;
  for (; *s && k + 5 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x20 || c == 0x7f)
      k += (size_t)snprintf(dst + k, cap - k, "\\x%02x", c);
    else
      dst[k++] = (char)c;
  }
  dst[k] = '\0';
  return dst;
}

enum { PNAME = 4 * MTLRT_ST_MAX_NAME + 8 };

static void format_shape(char *dst, size_t cap, const int64_t *shape, int rank, int more) {
  size_t k = (size_t)snprintf(dst, cap, "[");
  for (int i = 0; i < rank && k < cap; i++)
    k += (size_t)snprintf(dst + k, cap - k, "%s%" PRId64, i ? ", " : "", shape[i]);
  if (k < cap)
    snprintf(dst + k, cap - k, "%s]", more ? ", ..." : "");
}

static long utf8_len(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  long n = 0;
  while (p[n]) {
    unsigned c = p[n];
    int more;
    uint32_t cp, min;
    if (c < 0x80) {
      n++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      more = 1, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      more = 2, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      more = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return -1;
    }
    for (int i = 1; i <= more; i++) {
      if ((p[n + i] & 0xc0) != 0x80)
        return -1;
      cp = cp << 6 | (p[n + i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return -1;
    n += 1 + more;
  }
  return n;
}

static int64_t elements(const int64_t *shape, int rank) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (shape[i] < 0 || (shape[i] > 0 && n > INT64_MAX / shape[i]))
      return -1;
    n *= shape[i];
  }
  return n;
}

/* ---- Writing ---- */

typedef struct Out {
  FILE *f;    /* NULL for a dry run that only counts */
  uint64_t n; /* bytes written so far */
  int failed; /* a write failed */
} Out;

static void put(Out *o, const void *p, size_t len) {
  if (o->f && !o->failed && len && fwrite(p, 1, len, o->f) != len)
    o->failed = 1;
  o->n += len;
}

static void put_str(Out *o, const char *s) { put(o, s, strlen(s)); }

static void put_u64(Out *o, uint64_t v) {
  char buf[24];
  put(o, buf, (size_t)snprintf(buf, sizeof buf, "%" PRIu64, v));
}

static void put_json_string(Out *o, const char *s) {
  put(o, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c;
      put(o, esc, 2);
    } else if (c < 0x20) {
      put(o, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", c));
    } else {
      put(o, s, 1);
    }
  }
  put(o, "\"", 1);
}

static FileDtype stored_as(mtlrt_dtype md, mtlrt_dtype real) {
  if (md == MTLRT_DT_I64)
    return FD_I64;
  return real == MTLRT_DT_F64 ? FD_F64 : FD_F32;
}

static void put_header(Out *o, const mtlrt_tensor_ref *t, int n, const mtlrt_meta *meta, int nmeta,
                       mtlrt_dtype real) {
  put(o, "{", 1);
  if (nmeta > 0) {
    put_str(o, "\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
      if (i)
        put(o, ",", 1);
      put_json_string(o, meta[i].key);
      put(o, ":", 1);
      put_json_string(o, meta[i].value);
    }
    put(o, "}", 1);
  }
  uint64_t offset = 0;
  for (int i = 0; i < n; i++) {
    FileDtype fd = stored_as(t[i].dtype, real);
    uint64_t bytes = (uint64_t)elements(t[i].shape, t[i].rank) * (uint64_t)file_dtypes[fd].size;
    if (i || nmeta > 0)
      put(o, ",", 1);
    put_json_string(o, t[i].name);
    put_str(o, ":{\"dtype\":\"");
    put_str(o, file_dtypes[fd].name);
    put_str(o, "\",\"shape\":[");
    for (int d = 0; d < t[i].rank; d++) {
      if (d)
        put(o, ",", 1);
      put_u64(o, (uint64_t)t[i].shape[d]);
    }
    put_str(o, "],\"data_offsets\":[");
    put_u64(o, offset);
    put(o, ",", 1);
    put_u64(o, offset + bytes);
    put_str(o, "]}");
    offset += bytes;
  }
  put(o, "}", 1);
}

static void put_data(Out *o, const mtlrt_tensor_ref *t, mtlrt_dtype real) {
  int64_t count = elements(t->shape, t->rank);
  FileDtype fd = stored_as(t->dtype, real);
  if (count == 0)
    return;
  if ((t->dtype == MTLRT_DT_F32) == (fd == FD_F32)) { /* stored as it lies in memory */
    put(o, t->data, (size_t)count * (size_t)mem_size(t->dtype));
    return;
  }
  unsigned char buf[IOBUF];
  for (int64_t i = 0; i < count;) {
    size_t k = 0;
    if (t->dtype == MTLRT_DT_F32) {
      for (; i < count && k + 8 <= sizeof buf; i++, k += 8) {
        double v = ((const float *)t->data)[i];
        memcpy(buf + k, &v, 8);
      }
    } else {
      for (; i < count && k + 4 <= sizeof buf; i++, k += 4) {
        float v = (float)((const double *)t->data)[i];
        memcpy(buf + k, &v, 4);
      }
    }
    put(o, buf, k);
  }
}

static int check_key(const char *what, const char *key, char *err, size_t errlen,
                     const char *path) {
  char p[PNAME];
  if (!key)
    return fail(err, errlen, path, "%s name is NULL", what);
  long len = utf8_len(key);
  if (len < 0)
    return fail(err, errlen, path, "%s name '%s' is not valid UTF-8", what,
                printable(p, sizeof p, key));
  if (len == 0 || len > MTLRT_ST_MAX_NAME)
    return fail(err, errlen, path, "%s name '%s' has %ld bytes, not 1 to %d", what,
                printable(p, sizeof p, key), len, MTLRT_ST_MAX_NAME);
  if (strcmp(key, "__metadata__") == 0)
    return fail(err, errlen, path, "%s name '__metadata__' is reserved", what);
  return 0;
}

static int check_save(const char *path, const mtlrt_tensor_ref *t, int n, const mtlrt_meta *meta,
                      int nmeta, mtlrt_dtype real, char *err, size_t errlen) {
  char p[PNAME];
  if (!little_endian())
    return fail(err, errlen, path, "safetensors needs a little-endian host");
  if (n < 0 || (n > 0 && !t) || nmeta < 0 || nmeta > MTLRT_ST_MAX_META || (nmeta > 0 && !meta))
    return fail(err, errlen, path, "invalid tensor or metadata list");
  if (real != MTLRT_DT_F32 && real != MTLRT_DT_F64)
    return fail(err, errlen, path, "real tensors can be stored as F32 or F64, not %s",
                mem_name(real));
  uint64_t total = 0;
  for (int i = 0; i < n; i++) {
    if (check_key("tensor", t[i].name, err, errlen, path))
      return -1;
    printable(p, sizeof p, t[i].name);
    if (t[i].dtype != MTLRT_DT_F32 && t[i].dtype != MTLRT_DT_F64 && t[i].dtype != MTLRT_DT_I64)
      return fail(err, errlen, path, "tensor '%s' has an invalid dtype", p);
    if (t[i].rank < 0 || t[i].rank > MTLRT_MAX_RANK)
      return fail(err, errlen, path, "tensor '%s' has rank %d, not 0 to %d", p, t[i].rank,
                  MTLRT_MAX_RANK);
    int64_t count = elements(t[i].shape, t[i].rank);
    if (count < 0 || (uint64_t)count > (UINT64_MAX >> 4) - total || (uint64_t)count > SIZE_MAX / 8)
      return fail(err, errlen, path, "tensor '%s' has an invalid shape", p);
    if (count > 0 && !t[i].data)
      return fail(err, errlen, path, "tensor '%s' has no data", p);
    total += (uint64_t)count * 8;
    for (int j = 0; j < i; j++)
      if (strcmp(t[i].name, t[j].name) == 0)
        return fail(err, errlen, path, "tensor '%s' is given twice", p);
  }
  for (int i = 0; i < nmeta; i++) {
    if (check_key("metadata", meta[i].key, err, errlen, path))
      return -1;
    printable(p, sizeof p, meta[i].key);
    if (!memchr(meta[i].value, '\0', sizeof meta[i].value) || utf8_len(meta[i].value) < 0)
      return fail(err, errlen, path, "metadata '%s' is not a NUL-terminated UTF-8 string", p);
    for (int j = 0; j < i; j++)
      if (strcmp(meta[i].key, meta[j].key) == 0)
        return fail(err, errlen, path, "metadata '%s' is given twice", p);
  }
  return 0;
}

int mtlrt_safetensors_save(const char *path, const mtlrt_tensor_ref *t, int n,
                           const mtlrt_meta *meta, int nmeta, mtlrt_dtype file_dtype_real,
                           char *err, size_t errlen) {
  if (!path)
    return fail(err, errlen, "(null)", "no file name");
  if (check_save(path, t, n, meta, nmeta, file_dtype_real, err, errlen))
    return -1;

  Out dry = {0};
  put_header(&dry, t, n, meta, nmeta, file_dtype_real);
  uint64_t hlen = (dry.n + 7) / 8 * 8;

  char tmp[4200];
  const char *why;
  FILE *f = mtlrt_atomic_create(path, tmp, sizeof tmp, &why);
  if (!f)
    return fail(err, errlen, path, "cannot create a temporary file: %s", why);

  Out o = {.f = f};
  errno = 0;
  unsigned char size[8];
  for (int i = 0; i < 8; i++)
    size[i] = (unsigned char)(hlen >> (8 * i));
  put(&o, size, 8);
  put_header(&o, t, n, meta, nmeta, file_dtype_real);
  while (o.n < 8 + hlen)
    put(&o, " ", 1);
  for (int i = 0; i < n; i++)
    put_data(&o, &t[i], file_dtype_real);
  if (mtlrt_atomic_commit(f, o.failed, tmp, path, &why))
    return fail(err, errlen, path, "cannot write the file: %s", why);
  return 0;
}

/* ---- Reading ---- */

/* One tensor entry of the header, as the parser hands it to a pass. */
typedef struct Entry {
  const char *name;              /* unescaped, NUL-free, at most MTLRT_ST_MAX_NAME bytes */
  size_t len;                    /* strlen(name) */
  FileDtype dtype;               /* the stored dtype */
  int rank;                      /* the number of dims, which may exceed MTLRT_MAX_RANK */
  int64_t shape[MTLRT_MAX_RANK]; /* the first MTLRT_MAX_RANK dims */
  uint64_t begin, end;           /* data_offsets */
  uint64_t ordinal;              /* its position among the tensor entries */
} Entry;

typedef enum {
  PASS_MATCH,      /* match the entries against chunk [lo, hi) of the request */
  PASS_UNEXPECTED, /* find an entry that is not requested */
  PASS_TILE,       /* collect the next TILE data_offsets in order */
  PASS_NAMES,      /* find the names of two entries by ordinal */
  PASS_DATA,       /* note where the tensors of chunk [lo, hi) lie */
  PASS_META        /* fill in the requested metadata */
} Pass;

typedef struct Span {
  uint64_t begin, end, ordinal; /* one entry's data_offsets, ordered by all three */
} Span;

typedef struct Load {
  FILE *f;                   /* the file */
  const char *file;          /* its name, for messages */
  char *err;                 /* the message buffer */
  size_t errlen;             /* its size */
  const mtlrt_tensor_ref *t; /* the request */
  int n;                     /* its length */
  mtlrt_meta *meta;          /* the requested metadata */
  int nmeta;                 /* its length */
  uint64_t hlen;             /* the header's length */
  uint64_t bufsize;          /* the data buffer's length */

  uint64_t left;                   /* header bytes not yet read from the file */
  uint64_t pos;                    /* header bytes consumed by the parser */
  size_t next, avail;              /* the unread part of buf */
  int ioerr;                       /* a read failed */
  unsigned char buf[IOBUF];        /* the header, a piece at a time; scratch for data */
  char key[MTLRT_ST_MAX_NAME + 1]; /* the current key */
  char value[MTLRT_ST_META_VALUE]; /* the current metadata value */

  Pass pass;                                  /* what the current pass does with each entry */
  int meta_check;                             /* the pass checks requested metadata */
  uint64_t entries;                           /* tensor entries seen in this pass */
  unsigned char meta_seen[MTLRT_ST_MAX_META]; /* requested metadata found in this pass */
  int lo, hi;                                 /* PASS_MATCH, PASS_DATA: the chunk of the request */
  union {
    struct {
      uint16_t table[HSLOTS];      /* 1 + index into the chunk of a name, by hash; 0 empty */
      unsigned char found[CHUNK];  /* the chunk's tensors found so far */
      unsigned char fdtype[CHUNK]; /* PASS_DATA: their stored dtype */
      uint64_t begin[CHUNK];       /* PASS_DATA: their data_offsets[0] */
    } m;
    struct {
      Span heap[TILE]; /* a max-heap of the smallest spans after `last` */
      int count;       /* its size */
      int has_last;    /* `last` is set */
      Span last;       /* the largest span of the previous pass */
    } s;
    struct {
      uint64_t ordinal[2];                 /* the entries wanted */
      char name[2][MTLRT_ST_MAX_NAME + 1]; /* their names */
    } names;
  } u;
} Load;

/* -- The streaming JSON parser -- */

static int peek(Load *L) {
  if (L->next == L->avail) {
    if (L->left == 0 || L->ioerr)
      return -1;
    size_t want = L->left < IOBUF ? (size_t)L->left : IOBUF;
    size_t got = fread(L->buf, 1, want, L->f);
    if (got == 0) {
      L->ioerr = 1;
      return -1;
    }
    L->left -= got;
    L->avail = got;
    L->next = 0;
  }
  return L->buf[L->next];
}

static int get(Load *L) {
  int c = peek(L);
  if (c >= 0)
    L->next++, L->pos++;
  return c;
}

static int syntax(Load *L, const char *what) {
  if (L->ioerr)
    return fail(L->err, L->errlen, L->file, "cannot read the header: %s",
                ferror(L->f) ? strerror(errno) : "the file is shorter than it was");
  if (peek(L) < 0 && L->pos == L->hlen)
    return fail(L->err, L->errlen, L->file, "invalid header: %s at its end (byte %" PRIu64 ")",
                what, L->pos);
  return fail(L->err, L->errlen, L->file, "invalid header: %s at byte %" PRIu64 " of the header",
              what, L->pos);
}

static void skip_ws(Load *L) {
  int c;
  while ((c = peek(L)) == ' ' || c == '\t' || c == '\n' || c == '\r')
    get(L);
}

static int expect(Load *L, int ch, const char *what) {
  skip_ws(L);
  if (peek(L) != ch)
    return syntax(L, what);
  get(L);
  skip_ws(L);
  return 0;
}

static int hex4(Load *L, uint32_t *cp) {
  *cp = 0;
  for (int i = 0; i < 4; i++) {
    int c = get(L), d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return syntax(L, "expected 4 hex digits after \\u");
    *cp = *cp << 4 | (uint32_t)d;
  }
  return 0;
}

/* Parses a JSON string, unescaped into dst[0..cap) when dst is not NULL (then it may hold
 * no NUL). Returns 0, 1 if it does not fit (the string is consumed), or -1. */
static int parse_string(Load *L, char *dst, size_t cap, size_t *len) {
  if (peek(L) != '"')
    return syntax(L, "expected a string");
  get(L);
  size_t k = 0;
  int over = 0;
  for (;;) {
    unsigned char out[4];
    int m = 1, c = get(L);
    if (c < 0)
      return syntax(L, "unterminated string");
    if (c == '"')
      break;
    if (c == '\\') {
      uint32_t cp;
      switch (c = get(L)) {
      case '"':
      case '\\':
      case '/':
        out[0] = (unsigned char)c;
        break;
      case 'b':
        out[0] = '\b';
        break;
      case 'f':
        out[0] = '\f';
        break;
      case 'n':
        out[0] = '\n';
        break;
      case 'r':
        out[0] = '\r';
        break;
      case 't':
        out[0] = '\t';
        break;
      case 'u':
        if (hex4(L, &cp))
          return -1;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          uint32_t low;
          if (get(L) != '\\' || get(L) != 'u')
            return syntax(L, "unpaired surrogate in a \\u escape");
          if (hex4(L, &low))
            return -1;
          if (low < 0xdc00 || low > 0xdfff)
            return syntax(L, "unpaired surrogate in a \\u escape");
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
          return syntax(L, "unpaired surrogate in a \\u escape");
        }
        if (cp == 0 && dst)
          return syntax(L, "\\u0000 in a name or value");
        if (cp < 0x80) {
          out[0] = (unsigned char)cp;
        } else if (cp < 0x800) {
          out[0] = (unsigned char)(0xc0 | cp >> 6);
          out[1] = (unsigned char)(0x80 | (cp & 0x3f));
          m = 2;
        } else if (cp < 0x10000) {
          out[0] = (unsigned char)(0xe0 | cp >> 12);
          out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
          out[2] = (unsigned char)(0x80 | (cp & 0x3f));
          m = 3;
        } else {
          out[0] = (unsigned char)(0xf0 | cp >> 18);
          out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
          out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
          out[3] = (unsigned char)(0x80 | (cp & 0x3f));
          m = 4;
        }
        break;
      default:
        return syntax(L, "invalid escape in a string");
      }
    } else if (c < 0x20) {
      return syntax(L, "control character in a string");
    } else if (c < 0x80) {
      out[0] = (unsigned char)c;
    } else {
      uint32_t cp, min;
      int more;
      if (c >= 0xc2 && c <= 0xdf)
        more = 1, cp = (uint32_t)c & 0x1f, min = 0x80;
      else if (c >= 0xe0 && c <= 0xef)
        more = 2, cp = (uint32_t)c & 0x0f, min = 0x800;
      else if (c >= 0xf0 && c <= 0xf4)
        more = 3, cp = (uint32_t)c & 0x07, min = 0x10000;
      else
        return syntax(L, "invalid UTF-8");
      out[0] = (unsigned char)c;
      for (int i = 0; i < more; i++) {
        int d = get(L);
        if (d < 0 || (d & 0xc0) != 0x80)
          return syntax(L, "invalid UTF-8");
        cp = cp << 6 | ((uint32_t)d & 0x3f);
        out[m++] = (unsigned char)d;
      }
      if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return syntax(L, "invalid UTF-8");
    }
    if (dst && !over) {
      if (k + (size_t)m >= cap)
        over = 1;
      else
        memcpy(dst + k, out, (size_t)m);
    }
    k += (size_t)m;
  }
  if (dst)
    dst[over ? 0 : k] = '\0';
  if (len)
    *len = k;
  return over;
}

static int parse_u64(Load *L, uint64_t *v, const char *what) {
  int c = peek(L);
  if (c == '-') {
    char p[PNAME];
    return fail(L->err, L->errlen, L->file, "tensor '%s' has a negative number in its %s",
                printable(p, sizeof p, L->key), what);
  }
  if (c < '0' || c > '9')
    return syntax(L, "expected a non-negative integer");
  get(L);
  uint64_t x = (uint64_t)(c - '0');
  if (x == 0 && (c = peek(L)) >= '0' && c <= '9')
    return syntax(L, "leading zero in a number");
  while ((c = peek(L)) >= '0' && c <= '9') {
    get(L);
    if (x > ((uint64_t)INT64_MAX - (uint64_t)(c - '0')) / 10) {
      char p[PNAME];
      return fail(L->err, L->errlen, L->file, "tensor '%s' has a number above 2^63-1 in its %s",
                  printable(p, sizeof p, L->key), what);
    }
    x = x * 10 + (uint64_t)(c - '0');
  }
  if (c == '.' || c == 'e' || c == 'E')
    return syntax(L, "expected an integer");
  *v = x;
  return 0;
}

static int tensor_error(Load *L, const char *fmt, const char *arg) {
  char p[PNAME], a[80], msg[160];
  snprintf(msg, sizeof msg, fmt, printable(a, sizeof a, arg));
  return fail(L->err, L->errlen, L->file, "tensor '%s' %s", printable(p, sizeof p, L->key), msg);
}

static int parse_tensor(Load *L, Entry *e) {
  enum { HAVE_DTYPE = 1, HAVE_SHAPE = 2, HAVE_OFFSETS = 4 };
  int have = 0;
  uint64_t count = 1;
  int overflow = 0;
  if (expect(L, '{', "expected '{'"))
    return -1;
  memset(e, 0, sizeof *e);
  e->name = L->key;
  e->len = strlen(L->key);
  do {
    char field[16], dtype[16];
    skip_ws(L);
    int rc = parse_string(L, field, sizeof field, NULL);
    if (rc < 0 || expect(L, ':', "expected ':'"))
      return -1;
    int bit = strcmp(field, "dtype") == 0          ? HAVE_DTYPE
              : strcmp(field, "shape") == 0        ? HAVE_SHAPE
              : strcmp(field, "data_offsets") == 0 ? HAVE_OFFSETS
                                                   : 0;
    if (rc == 1 || !bit)
      return tensor_error(L, "has an unknown field '%s'", rc == 1 ? "..." : field);
    if (have & bit)
      return tensor_error(L, "has two '%s' fields", field);
    have |= bit;
    if (bit == HAVE_DTYPE) {
      rc = parse_string(L, dtype, sizeof dtype, NULL);
      if (rc < 0)
        return -1;
      e->dtype = FD_COUNT;
      for (int i = 0; rc == 0 && i < FD_COUNT; i++)
        if (strcmp(dtype, file_dtypes[i].name) == 0)
          e->dtype = (FileDtype)i;
      if (e->dtype == FD_COUNT)
        return tensor_error(L, "has an unknown dtype '%s'", rc == 1 ? "..." : dtype);
    } else if (bit == HAVE_SHAPE) {
      if (expect(L, '[', "expected '['"))
        return -1;
      if (peek(L) == ']')
        get(L);
      else
        for (;;) {
          uint64_t d;
          if (parse_u64(L, &d, "shape"))
            return -1;
          if (e->rank < MTLRT_MAX_RANK)
            e->shape[e->rank] = (int64_t)d;
          if (e->rank == INT32_MAX)
            return tensor_error(L, "has too many dims%s", "");
          e->rank++;
          if (!overflow && d > 0 && count > (uint64_t)INT64_MAX / d)
            overflow = 1;
          count *= overflow ? 1 : d;
          skip_ws(L);
          int c = get(L);
          if (c == ']')
            break;
          if (c != ',')
            return syntax(L, "expected ',' or ']'");
          skip_ws(L);
        }
    } else {
      if (expect(L, '[', "expected '['") || parse_u64(L, &e->begin, "data_offsets") ||
          expect(L, ',', "expected ','") || parse_u64(L, &e->end, "data_offsets") ||
          expect(L, ']', "expected ']' after two data_offsets"))
        return -1;
    }
    skip_ws(L);
  } while (peek(L) == ',' && get(L) == ',');
  if (expect(L, '}', "expected ',' or '}'"))
    return -1;
  if (have != (HAVE_DTYPE | HAVE_SHAPE | HAVE_OFFSETS))
    return tensor_error(L, "lacks '%s'",
                        !(have & HAVE_DTYPE)   ? "dtype"
                        : !(have & HAVE_SHAPE) ? "shape"
                                               : "data_offsets");
  uint64_t size = (uint64_t)file_dtypes[e->dtype].size;
  if (overflow || count > (uint64_t)INT64_MAX / size)
    return tensor_error(L, "has a shape whose size overflows%s", "");
  char p[PNAME];
  printable(p, sizeof p, L->key);
  if (e->begin > e->end || e->end > L->bufsize)
    return fail(L->err, L->errlen, L->file,
                "tensor '%s' has data_offsets [%" PRIu64 ", %" PRIu64
                "] outside the data buffer of %" PRIu64 " bytes",
                p, e->begin, e->end, L->bufsize);
  if (e->end - e->begin != count * size) {
    char s[200];
    format_shape(s, sizeof s, e->shape, e->rank < MTLRT_MAX_RANK ? e->rank : MTLRT_MAX_RANK,
                 e->rank > MTLRT_MAX_RANK);
    return fail(L->err, L->errlen, L->file,
                "tensor '%s' has data_offsets [%" PRIu64 ", %" PRIu64 "] (%" PRIu64
                " bytes) but %s %s takes %" PRIu64 " bytes",
                p, e->begin, e->end, e->end - e->begin, file_dtypes[e->dtype].name, s,
                count * size);
  }
  return 0;
}

static int parse_metadata(Load *L) {
  char p[PNAME];
  if (expect(L, '{', "expected '{' after \"__metadata__\""))
    return -1;
  if (peek(L) == '}') {
    get(L);
    return 0;
  }
  do {
    skip_ws(L);
    uint64_t at = L->pos;
    int rc = parse_string(L, L->key, sizeof L->key, NULL);
    if (rc < 0)
      return -1;
    if (rc == 1)
      return fail(L->err, L->errlen, L->file,
                  "a metadata key at byte %" PRIu64 " of the header is longer than %d bytes", at,
                  MTLRT_ST_MAX_NAME);
    if (expect(L, ':', "expected ':'"))
      return -1;
    int want = -1;
    for (int i = 0; L->meta_check && i < L->nmeta; i++)
      if (strcmp(L->meta[i].key, L->key) == 0)
        want = i;
    if (peek(L) != '"')
      return fail(L->err, L->errlen, L->file, "metadata '%s' is not a string",
                  printable(p, sizeof p, L->key));
    if (want < 0) {
      if (parse_string(L, NULL, 0, NULL))
        return -1;
    } else {
      if (L->meta_seen[want])
        return fail(L->err, L->errlen, L->file, "metadata '%s' appears twice",
                    printable(p, sizeof p, L->key));
      L->meta_seen[want] = 1;
      rc = parse_string(L, L->value, sizeof L->value, NULL);
      if (rc < 0)
        return -1;
      if (rc == 1)
        return fail(L->err, L->errlen, L->file, "metadata '%s' is longer than %d bytes",
                    printable(p, sizeof p, L->key), MTLRT_ST_META_VALUE - 1);
      if (L->pass == PASS_META)
        memcpy(L->meta[want].value, L->value, sizeof L->value);
    }
    skip_ws(L);
  } while (peek(L) == ',' && get(L) == ',');
  return expect(L, '}', "expected ',' or '}'");
}

static int visit(Load *L, const Entry *e);

static int parse_header(Load *L) {
  if (fseek(L->f, 8, SEEK_SET) != 0)
    return fail(L->err, L->errlen, L->file, "cannot seek: %s", strerror(errno));
  L->left = L->hlen;
  L->pos = 0;
  L->next = L->avail = 0;
  L->ioerr = 0;
  L->entries = 0;
  memset(L->meta_seen, 0, sizeof L->meta_seen);
  int seen_meta = 0;
  skip_ws(L);
  if (peek(L) != '{')
    return syntax(L, "expected '{'");
  get(L);
  skip_ws(L);
  if (peek(L) == '}') {
    get(L);
  } else {
    do {
      skip_ws(L);
      uint64_t at = L->pos;
      int rc = parse_string(L, L->key, sizeof L->key, NULL);
      if (rc < 0)
        return -1;
      if (rc == 1)
        return fail(L->err, L->errlen, L->file,
                    "a tensor name at byte %" PRIu64 " of the header is longer than %d bytes", at,
                    MTLRT_ST_MAX_NAME);
      if (expect(L, ':', "expected ':'"))
        return -1;
      if (strcmp(L->key, "__metadata__") == 0) {
        if (seen_meta++)
          return fail(L->err, L->errlen, L->file, "the header has two \"__metadata__\"");
        if (parse_metadata(L))
          return -1;
      } else {
        Entry e;
        if (parse_tensor(L, &e))
          return -1;
        e.ordinal = L->entries++;
        if (visit(L, &e))
          return -1;
      }
      skip_ws(L);
    } while (peek(L) == ',' && get(L) == ',');
    if (expect(L, '}', "expected ',' or '}'"))
      return -1;
  }
  skip_ws(L);
  if (peek(L) >= 0 || L->ioerr)
    return syntax(L, "text after the JSON object");
  return 0;
}

/* -- The passes -- */

static uint32_t hash(const char *s, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static int chunk_table(Load *L, int lo, int hi) {
  memset(&L->u.m, 0, sizeof L->u.m);
  L->lo = lo, L->hi = hi;
  for (int i = lo; i < hi; i++) {
    const char *name = L->t[i].name;
    uint32_t h = hash(name, strlen(name)) & (HSLOTS - 1);
    for (; L->u.m.table[h]; h = (h + 1) & (HSLOTS - 1))
      if (strcmp(L->t[lo + L->u.m.table[h] - 1].name, name) == 0) {
        char p[PNAME];
        return fail(L->err, L->errlen, L->file, "tensor '%s' is requested twice",
                    printable(p, sizeof p, name));
      }
    L->u.m.table[h] = (uint16_t)(i - lo + 1);
  }
  return 0;
}

static int chunk_find(const Load *L, const Entry *e) {
  uint32_t h = hash(e->name, e->len) & (HSLOTS - 1);
  for (; L->u.m.table[h]; h = (h + 1) & (HSLOTS - 1)) {
    int i = L->lo + L->u.m.table[h] - 1;
    if (strcmp(L->t[i].name, e->name) == 0)
      return i;
  }
  return -1;
}

static int match(Load *L, const Entry *e) {
  char p[PNAME];
  int i = chunk_find(L, e);
  if (i < 0) {
    if (L->lo == 0 && L->hi == L->n)
      return fail(L->err, L->errlen, L->file, "unexpected tensor '%s'",
                  printable(p, sizeof p, e->name));
    return 0;
  }
  printable(p, sizeof p, e->name);
  if (L->u.m.found[i - L->lo]++)
    return fail(L->err, L->errlen, L->file, "tensor '%s' appears twice", p);
  const mtlrt_tensor_ref *t = &L->t[i];
  if (!can_load(e->dtype, t->dtype))
    return fail(L->err, L->errlen, L->file, "tensor '%s' has dtype %s, expected %s", p,
                file_dtypes[e->dtype].name, t->dtype == MTLRT_DT_I64 ? "I64 or I32" : "F32 or F64");
  int same = e->rank == t->rank;
  for (int d = 0; same && d < t->rank; d++)
    same = e->shape[d] == t->shape[d];
  if (!same) {
    char got[200], want[200];
    format_shape(got, sizeof got, e->shape, e->rank < MTLRT_MAX_RANK ? e->rank : MTLRT_MAX_RANK,
                 e->rank > MTLRT_MAX_RANK);
    format_shape(want, sizeof want, t->shape, t->rank, 0);
    return fail(L->err, L->errlen, L->file, "tensor '%s' has shape %s, expected %s", p, got, want);
  }
  if (L->pass == PASS_DATA) {
    L->u.m.fdtype[i - L->lo] = (unsigned char)e->dtype;
    L->u.m.begin[i - L->lo] = e->begin;
  }
  return 0;
}

static int span_less(const Span *a, const Span *b) {
  if (a->begin != b->begin)
    return a->begin < b->begin;
  if (a->end != b->end)
    return a->end < b->end;
  return a->ordinal < b->ordinal;
}

static void sift_down(Span *h, int count, int i) {
  for (;;) {
    int big = i, l = 2 * i + 1, r = l + 1;
    if (l < count && span_less(&h[big], &h[l]))
      big = l;
    if (r < count && span_less(&h[big], &h[r]))
      big = r;
    if (big == i)
      return;
    Span tmp = h[i];
    h[i] = h[big], h[big] = tmp;
    i = big;
  }
}

static void collect_span(Load *L, const Entry *e) {
  Span s = {e->begin, e->end, e->ordinal};
  Span *h = L->u.s.heap;
  if (L->u.s.has_last && !span_less(&L->u.s.last, &s))
    return;
  if (L->u.s.count < TILE) {
    int i = L->u.s.count++;
    h[i] = s;
    while (i > 0 && span_less(&h[(i - 1) / 2], &h[i])) {
      Span tmp = h[i];
      h[i] = h[(i - 1) / 2], h[(i - 1) / 2] = tmp;
      i = (i - 1) / 2;
    }
  } else if (span_less(&s, &h[0])) {
    h[0] = s;
    sift_down(h, TILE, 0);
  }
}

static int visit(Load *L, const Entry *e) {
  char p[PNAME];
  switch (L->pass) {
  case PASS_MATCH:
  case PASS_DATA:
    return match(L, e);
  case PASS_UNEXPECTED:
    for (int i = 0; i < L->n; i++)
      if (strcmp(L->t[i].name, e->name) == 0)
        return 0;
    return fail(L->err, L->errlen, L->file, "unexpected tensor '%s'",
                printable(p, sizeof p, e->name));
  case PASS_TILE:
    collect_span(L, e);
    return 0;
  case PASS_NAMES:
    for (int k = 0; k < 2; k++)
      if (e->ordinal == L->u.names.ordinal[k])
        memcpy(L->u.names.name[k], e->name, e->len + 1);
    return 0;
  case PASS_META:
    return 0;
  }
  return 0;
}

static int run_pass(Load *L, Pass pass) {
  L->pass = pass;
  return parse_header(L);
}

static int check_tensors(Load *L) {
  int lo = 0;
  do {
    int hi = L->n - lo > CHUNK ? lo + CHUNK : L->n;
    L->meta_check = lo == 0;
    if (chunk_table(L, lo, hi) || run_pass(L, PASS_MATCH))
      return -1;
    L->meta_check = 0;
    for (int i = lo; i < hi; i++)
      if (!L->u.m.found[i - lo]) {
        char p[PNAME];
        return fail(L->err, L->errlen, L->file, "missing tensor '%s'",
                    printable(p, sizeof p, L->t[i].name));
      }
    lo = hi;
  } while (lo < L->n);
  /* Every requested tensor appears once: any other entry is unexpected. */
  if (L->entries != (uint64_t)L->n)
    return run_pass(L, PASS_UNEXPECTED) ? -1
                                        : fail(L->err, L->errlen, L->file, "unexpected tensor");
  return 0;
}

static int span_error(Load *L, const Span *prev, const Span *s) {
  char a[PNAME], b[PNAME];
  L->u.names.ordinal[0] = prev ? prev->ordinal : UINT64_MAX;
  L->u.names.ordinal[1] = s->ordinal;
  strcpy(L->u.names.name[0], "?");
  strcpy(L->u.names.name[1], "?");
  if (run_pass(L, PASS_NAMES))
    return -1;
  printable(a, sizeof a, L->u.names.name[0]);
  printable(b, sizeof b, L->u.names.name[1]);
  if (prev && s->begin < prev->end)
    return fail(L->err, L->errlen, L->file,
                "tensor '%s' (data_offsets [%" PRIu64 ", %" PRIu64
                "]) overlaps tensor '%s' ([%" PRIu64 ", %" PRIu64 "])",
                b, s->begin, s->end, a, prev->begin, prev->end);
  return fail(L->err, L->errlen, L->file,
              "the data buffer has unused bytes [%" PRIu64 ", %" PRIu64 ") before tensor '%s'",
              prev ? prev->end : 0, s->begin, b);
}

static int check_tiling(Load *L) {
  uint64_t done = 0;
  Span prev = {0, 0, 0};
  int has_prev = 0;
  L->u.s.has_last = 0;
  while (done < L->entries) {
    L->u.s.count = 0;
    if (run_pass(L, PASS_TILE))
      return -1;
    int count = L->u.s.count;
    if (count == 0)
      break;
    Span *h = L->u.s.heap;
    for (int end = count - 1; end > 0; end--) { /* heap sort, ascending */
      Span tmp = h[0];
      h[0] = h[end], h[end] = tmp;
      sift_down(h, end, 0);
    }
    for (int i = 0; i < count; i++) {
      Span s = h[i];
      if (s.begin != (has_prev ? prev.end : 0)) {
        Span keep = prev;
        return span_error(L, has_prev ? &keep : NULL, &s);
      }
      prev = s, has_prev = 1;
    }
    L->u.s.last = prev;
    L->u.s.has_last = 1;
    done += (uint64_t)count;
  }
  uint64_t end = has_prev ? prev.end : 0;
  if (end != L->bufsize)
    return fail(L->err, L->errlen, L->file,
                "the data buffer has %" PRIu64 " bytes but its tensors end at byte %" PRIu64,
                L->bufsize, end);
  return 0;
}

static int read_tensor(Load *L, const mtlrt_tensor_ref *t, FileDtype fd, uint64_t offset) {
  int64_t count = elements(t->shape, t->rank);
  char p[PNAME];
  if (count == 0)
    return 0;
  if (fseek(L->f, (long)(8 + L->hlen + offset), SEEK_SET) != 0)
    return fail(L->err, L->errlen, L->file, "cannot seek to tensor '%s': %s",
                printable(p, sizeof p, t->name), strerror(errno));
  int fsize = file_dtypes[fd].size, msize = mem_size(t->dtype);
  int direct = (fd == FD_F32 && t->dtype == MTLRT_DT_F32) ||
               (fd == FD_F64 && t->dtype == MTLRT_DT_F64) ||
               (fd == FD_I64 && t->dtype == MTLRT_DT_I64);
  if (direct) {
    if (fread(t->data, (size_t)msize, (size_t)count, L->f) != (size_t)count)
      goto short_read;
    return 0;
  }
  for (int64_t i = 0; i < count;) {
    size_t k = (size_t)(count - i) < IOBUF / 8 ? (size_t)(count - i) : IOBUF / 8;
    if (fread(L->buf, (size_t)fsize, k, L->f) != k)
      goto short_read;
    for (size_t j = 0; j < k; j++, i++) {
      const unsigned char *src = L->buf + j * (size_t)fsize;
      if (fd == FD_F32) {
        float v;
        memcpy(&v, src, 4);
        ((double *)t->data)[i] = v;
      } else if (fd == FD_F64) {
        double v;
        memcpy(&v, src, 8);
        ((float *)t->data)[i] = (float)v;
      } else {
        int32_t v;
        memcpy(&v, src, 4);
        ((int64_t *)t->data)[i] = v;
      }
    }
  }
  return 0;
short_read:
  return fail(L->err, L->errlen, L->file, "cannot read tensor '%s': %s (data may be partly loaded)",
              printable(p, sizeof p, t->name),
              ferror(L->f) ? strerror(errno) : "the file is shorter than it was");
}

static int load_data(Load *L) {
  for (int lo = 0; lo < L->n; lo += CHUNK) {
    int hi = L->n - lo > CHUNK ? lo + CHUNK : L->n;
    if (chunk_table(L, lo, hi) || run_pass(L, PASS_DATA))
      return -1;
    for (int i = lo; i < hi; i++)
      if (read_tensor(L, &L->t[i], (FileDtype)L->u.m.fdtype[i - lo], L->u.m.begin[i - lo]))
        return -1;
  }
  for (int i = 0; i < L->nmeta; i++)
    L->meta[i].value[0] = '\0';
  L->meta_check = 1;
  if (run_pass(L, PASS_META)) {
    for (int i = 0; i < L->nmeta; i++)
      L->meta[i].value[0] = '\0';
    return -1;
  }
  return 0;
}

static int check_request(Load *L) {
  char p[PNAME];
  if (!little_endian())
    return fail(L->err, L->errlen, L->file, "safetensors needs a little-endian host");
  if (L->n < 0 || (L->n > 0 && !L->t) || L->nmeta < 0 || L->nmeta > MTLRT_ST_MAX_META ||
      (L->nmeta > 0 && !L->meta))
    return fail(L->err, L->errlen, L->file, "invalid tensor or metadata list");
  for (int i = 0; i < L->n; i++) {
    const mtlrt_tensor_ref *t = &L->t[i];
    if (!t->name || !*t->name)
      return fail(L->err, L->errlen, L->file, "tensor %d of the request has no name", i);
    printable(p, sizeof p, t->name);
    if (t->dtype != MTLRT_DT_F32 && t->dtype != MTLRT_DT_F64 && t->dtype != MTLRT_DT_I64)
      return fail(L->err, L->errlen, L->file, "tensor '%s' is requested with an invalid dtype", p);
    if (t->rank < 0 || t->rank > MTLRT_MAX_RANK)
      return fail(L->err, L->errlen, L->file, "tensor '%s' is requested with rank %d", p, t->rank);
    int64_t count = elements(t->shape, t->rank);
    if (count < 0 || count > INT64_MAX / 8 || (uint64_t)count > SIZE_MAX / 8)
      return fail(L->err, L->errlen, L->file, "tensor '%s' is requested with an invalid shape", p);
    if (count > 0 && !t->data)
      return fail(L->err, L->errlen, L->file, "tensor '%s' is requested without a buffer", p);
  }
  for (int i = 0; i < L->nmeta; i++)
    if (!L->meta[i].key)
      return fail(L->err, L->errlen, L->file, "metadata key %d of the request is NULL", i);
  return 0;
}

/* Sets up L for the stream f and reads the header's length, checking it against the file. */
static int begin_load(Load *L, FILE *f, const char *name, const mtlrt_tensor_ref *t, int n,
                      mtlrt_meta *meta, int nmeta, char *err, size_t errlen) {
  memset(L, 0, sizeof *L);
  L->f = f, L->file = name ? name : "(stream)", L->err = err, L->errlen = errlen;
  L->t = t, L->n = n, L->meta = meta, L->nmeta = nmeta;
  if (err && errlen)
    err[0] = '\0';
  if (check_request(L))
    return -1;

  unsigned char size[8];
  if (fseek(f, 0, SEEK_END) != 0)
    return fail(err, errlen, L->file, "cannot seek: %s", strerror(errno));
  long fsize = ftell(f);
  if (fsize < 0)
    return fail(err, errlen, L->file, "cannot tell the file size: %s", strerror(errno));
  if (fsize < 8)
    return fail(err, errlen, L->file,
                "not a safetensors file (%ld bytes, less than the 8 of the header length)", fsize);
  if (fseek(f, 0, SEEK_SET) != 0 || fread(size, 1, 8, f) != 8)
    return fail(err, errlen, L->file, "cannot read the header length");
  for (int i = 0; i < 8; i++)
    L->hlen |= (uint64_t)size[i] << (8 * i);
  if (L->hlen > (uint64_t)fsize - 8)
    return fail(err, errlen, L->file,
                "not a safetensors file (header length %" PRIu64 " exceeds the file size %ld)",
                L->hlen, fsize);
  if (L->hlen > MTLRT_ST_MAX_HEADER)
    return fail(err, errlen, L->file, "header length %" PRIu64 " exceeds the limit of %d bytes",
                L->hlen, MTLRT_ST_MAX_HEADER);
  if (L->hlen < 2)
    return fail(err, errlen, L->file, "not a safetensors file (header length %" PRIu64 ")", L->hlen);
  L->bufsize = (uint64_t)fsize - 8 - L->hlen;
  return 0;
}

int mtlrt_safetensors_fload(FILE *f, const char *name, const mtlrt_tensor_ref *t, int n,
                            mtlrt_meta *meta, int nmeta, char *err, size_t errlen) {
  Load L;
  if (begin_load(&L, f, name, t, n, meta, nmeta, err, errlen) || check_tensors(&L) ||
      check_tiling(&L) || load_data(&L))
    return -1;
  return 0;
}

int mtlrt_safetensors_check_model(const char *path, const char *model, const char *layout,
                                  char *err, size_t errlen) {
  if (!path)
    return fail(err, errlen, "(null)", "no file name");
  FILE *f = fopen(path, "rb");
  if (!f)
    return fail(err, errlen, path, "cannot open: %s", strerror(errno));
  Load L;
  char p[PNAME];
  mtlrt_meta meta[2] = {{"model", ""}, {"layout", ""}};
  int rc = begin_load(&L, f, path, NULL, 0, meta, 2, err, errlen);
  L.meta_check = 1;
  rc = rc ? rc : run_pass(&L, PASS_META);
  fclose(f);
  if (rc)
    return -1;
  if (*meta[0].value && strcmp(meta[0].value, model))
    return fail(err, errlen, path, "a checkpoint of the model '%s', not of '%s'",
                printable(p, sizeof p, meta[0].value), model);
  if (*meta[1].value && strcmp(meta[1].value, layout))
    return fail(err, errlen, path,
                "written by another version of the model '%s': its parameters' names and shapes "
                "(layout %s) are not this one's (layout %s)",
                model, printable(p, sizeof p, meta[1].value), layout);
  return 0;
}

int mtlrt_safetensors_load(const char *path, const mtlrt_tensor_ref *t, int n, mtlrt_meta *meta,
                           int nmeta, char *err, size_t errlen) {
  if (!path)
    return fail(err, errlen, "(null)", "no file name");
  FILE *f = fopen(path, "rb");
  if (!f)
    return fail(err, errlen, path, "cannot open: %s", strerror(errno));
  int rc = mtlrt_safetensors_fload(f, path, t, n, meta, nmeta, err, errlen);
  fclose(f);
  return rc;
}
