/* test_npy.c: unit tests of libmtlrt's NPY reader and writer: round trips of every type and
 * rank, the gathers, hostile headers and preambles, every truncation and many byte flips of
 * a valid file, and atomic writes. Three more modes serve other tests:
 *
 *   mtlrt_test_npy                       run the unit tests in a fresh temporary directory
 *   mtlrt_test_npy dump FILE             print FILE's descr, shape, its elements exactly (%a
 *                                        for reals) and mtlrt_npy_gather_f32() of all its rows
 *                                        (u1 scaled by 1/255), one per line; or the message
 *   mtlrt_test_npy write OUT TYPE DIMS RAW
 *                                        write OUT with TYPE (|u1, <i4, ...) and DIMS (like
 *                                        2,3 or empty for a scalar), the elements read from
 *                                        the little-endian file RAW, appended in pieces
 *   mtlrt_test_npy seeds DIR             write the fuzzer's seed corpus into DIR
 */
#define _POSIX_C_SOURCE 200809L

#include "mtlrt_io.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static const size_t esize[] = {1, 4, 8, 4, 8};

/* Writes an NPY file of this version with this header text (as given, no padding) and
 * `ndata` bytes of data (a counter) after it. */
static void write_npy(const char *path, int version, const char *header, size_t ndata) {
  static unsigned char buf[1 << 16];
  size_t h = strlen(header), at = version == 1 ? 10 : 12;
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)version, buf[7] = 0;
  for (size_t i = 0; i < at - 8; i++)
    buf[8 + i] = (unsigned char)(h >> (8 * i));
  memcpy(buf + at, header, h);
  for (size_t i = 0; i < ndata; i++)
    buf[at + h + i] = (unsigned char)(i * 7 + 1);
  write_file(path, buf, at + h + ndata);
}

/* ---- Round trips through the writer ---- */

static unsigned char src[4096];

static void fill(mtlrt_npy_type type, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    uint8_t u = (uint8_t)(i * 37 + 5);
    int32_t i4 = (int32_t)(i * 1000003 - 5000);
    int64_t i8 = (i & 1 ? -1 : 1) * ((int64_t)1 << (20 + i % 40)) + i;
    float f4 = (float)(i * 0.37 - 11.0) / 3.0f;
    double f8 = 1.0 / (double)(i + 3) - (double)i * 1e-12;
    const void *v = type == MTLRT_NPY_U1   ? (const void *)&u
                    : type == MTLRT_NPY_I4 ? (const void *)&i4
                    : type == MTLRT_NPY_I8 ? (const void *)&i8
                    : type == MTLRT_NPY_F4 ? (const void *)&f4
                                           : (const void *)&f8;
    memcpy(src + (size_t)i * esize[type], v, esize[type]);
  }
}

/* The element i of a as a double, read from its bytes. */
static double element(const mtlrt_npy *a, int64_t i) {
  const unsigned char *p = a->data + (size_t)i * esize[a->type];
  int32_t i4;
  int64_t i8;
  float f4;
  double f8;
  switch (a->type) {
  case MTLRT_NPY_U1:
    return *p;
  case MTLRT_NPY_I4:
    return memcpy(&i4, p, 4), i4;
  case MTLRT_NPY_I8:
    return memcpy(&i8, p, 8), (double)i8;
  case MTLRT_NPY_F4:
    return memcpy(&f4, p, 4), f4;
  case MTLRT_NPY_F8:
    return memcpy(&f8, p, 8), f8;
  }
  return 0;
}

static void test_round_trip(void) {
  static const int64_t shapes[][4] = {{0}, {5}, {3, 4}, {2, 3, 2}, {2, 1, 3, 2}};
  const char *path = in_dir("rt.npy");
  mtlrt_npy_writer w;
  mtlrt_npy a;
  static unsigned char file[8192];
  for (int type = 0; type <= MTLRT_NPY_F8; type++)
    for (int rank = 0; rank <= 4; rank++) {
      int64_t n = 1;
      for (int i = 0; i < rank; i++)
        n *= shapes[rank][i];
      fill((mtlrt_npy_type)type, n);
      CHECK(mtlrt_npy_create(&w, path, (mtlrt_npy_type)type, rank, shapes[rank], err, sizeof err) ==
                0,
            "%s", err);
      /* In pieces of 1, 2, 3, ... elements, and an empty one. */
      int64_t at = 0;
      CHECK(mtlrt_npy_append(&w, NULL, 0, err, sizeof err) == 0, "%s", err);
      for (int64_t k = 1; at < n; k++) {
        int64_t m = n - at < k ? n - at : k;
        CHECK(mtlrt_npy_append(&w, src + at * (int64_t)esize[type], m, err, sizeof err) == 0, "%s",
              err);
        at += m;
      }
      CHECK(mtlrt_npy_commit(&w, err, sizeof err) == 0, "%s", err);
      mtlrt_npy_abort(&w); /* after a commit: nothing to do */

      long size = read_file(path, file, sizeof file);
      size_t hsize = (size_t)file[8] | (size_t)file[9] << 8;
      CHECK(memcmp(file, "\x93NUMPY\x01\x00", 8) == 0 && (10 + hsize) % 64 == 0 &&
                file[9 + hsize] == '\n' && (long)(10 + hsize + (size_t)n * esize[type]) == size,
            "type %d rank %d: layout (header %zu, size %ld)", type, rank, hsize, size);
      CHECK(mtlrt_npy_open(path, &a, err, sizeof err) == 0, "%s", err);
      CHECK(a.type == (mtlrt_npy_type)type && a.rank == rank && a.count == n, "type %d rank %d",
            type, rank);
      for (int i = 0; i < rank; i++)
        CHECK(a.shape[i] == shapes[rank][i], "dim %d", i);
      CHECK(a.data && memcmp(a.data, src, (size_t)n * esize[type]) == 0, "type %d rank %d: data",
            type, rank);
      CHECK(strcmp(mtlrt_npy_type_name(a.type),
                   (const char *[]){"|u1", "<i4", "<i8", "<f4", "<f8"}[type]) == 0,
            "name");

      /* The gathers, rows in a scrambled order with repeats. */
      int64_t rows_n = rank ? shapes[rank][0] : 1, row_elems = rows_n ? n / rows_n : 0;
      int64_t rows[8];
      int nrows = 0;
      for (int64_t r = rows_n - 1; r >= 0; r--)
        rows[nrows++] = r;
      if (rows_n)
        rows[nrows++] = 0;
      float f[64];
      double d[64];
      int32_t i[64];
      float scale = type == MTLRT_NPY_U1 ? 1.0f / 255 : 1.0f;
      mtlrt_npy_gather_f32(&a, rows, nrows, row_elems, scale, f);
      mtlrt_npy_gather_f64(&a, rows, nrows, row_elems, scale, d);
      mtlrt_npy_gather_i32(&a, rows, nrows, row_elems, i);
      for (int r = 0; r < nrows; r++)
        for (int64_t e = 0; e < row_elems; e++) {
          double v = element(&a, rows[r] * row_elems + e);
          int64_t k = r * row_elems + e;
          if (type == MTLRT_NPY_U1) {
            CHECK(f[k] == (float)v * scale && d[k] == v * (double)scale, "u1 %g: %g %g", v, f[k],
                  d[k]);
          } else {
            CHECK(f[k] == (float)v && d[k] == v, "type %d: %.17g -> %.9g %.17g", type, v, f[k],
                  d[k]);
          }
          int32_t want = type == MTLRT_NPY_I8 && (v < INT32_MIN || v > INT32_MAX) ? INT32_MIN
                         : type >= MTLRT_NPY_F4 && v != floor(v)                  ? INT32_MIN
                                                                                  : (int32_t)v;
          CHECK(i[k] == want, "type %d: %.17g -> %d", type, v, i[k]);
        }
      mtlrt_npy_close(&a);
      CHECK(a.map == NULL && a.data == NULL, "close zeroes");
      mtlrt_npy_close(&a);
    }

  /* An empty dimension, and the longest header: 8 dimensions of 19 digits. */
  int64_t empty[2] = {0, 3}, longest[8] = {0};
  for (int i = 1; i < 8; i++)
    longest[i] = INT64_MAX;
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_F4, 2, empty, err, sizeof err) == 0, "%s", err);
  CHECK(mtlrt_npy_commit(&w, err, sizeof err) == 0, "%s", err);
  CHECK(mtlrt_npy_open(path, &a, err, sizeof err) == 0 && a.count == 0 && a.shape[1] == 3, "%s",
        err);
  mtlrt_npy_close(&a);
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_I8, 8, longest, err, sizeof err) == 0, "%s", err);
  CHECK(mtlrt_npy_commit(&w, err, sizeof err) == 0, "%s", err);
  CHECK(mtlrt_npy_open(path, &a, err, sizeof err) == 0 && a.rank == 8 && a.count == 0 &&
            a.shape[7] == INT64_MAX,
        "%s", err);
  mtlrt_npy_close(&a);

  /* numpy.save's exact bytes for np.arange(6, dtype='<f4').reshape(2, 3). */
  static const char want[] = "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, "
                             "'shape': (2, 3), }";
  float six[6] = {0, 1, 2, 3, 4, 5};
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_F4, 2, (int64_t[]){2, 3}, err, sizeof err) == 0, "%s",
        err);
  CHECK(mtlrt_npy_append(&w, six, 6, err, sizeof err) == 0 &&
            mtlrt_npy_commit(&w, err, sizeof err) == 0,
        "%s", err);
  long size = read_file(path, file, sizeof file);
  CHECK(size == 128 + 24 && memcmp(file, want, sizeof want - 1) == 0 && file[127] == '\n' &&
            strspn((char *)file + sizeof want - 1, " ") == 127 - (sizeof want - 1) &&
            memcmp(file + 128, six, 24) == 0,
        "numpy's bytes: %ld %.*s", size, (int)size, (char *)file);
  unlink(path);
}

/* ---- The gathers' conversions ---- */

static void test_gather(void) {
  const char *path = in_dir("gather.npy");
  mtlrt_npy_writer w;
  mtlrt_npy a;
  int64_t rows[3] = {2, 0, 2};
  float f[6];
  double d[6];
  int32_t i[6];

  unsigned char u[6] = {0, 255, 128, 1, 254, 7};
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_U1, 2, (int64_t[]){3, 2}, err, sizeof err) == 0 &&
            mtlrt_npy_append(&w, u, 6, err, sizeof err) == 0 &&
            mtlrt_npy_commit(&w, err, sizeof err) == 0,
        "%s", err);
  CHECK(mtlrt_npy_open(path, &a, err, sizeof err) == 0, "%s", err);
  mtlrt_npy_gather_f32(&a, rows, 3, 2, 1.0f / 255, f);
  CHECK(f[0] == 254 * (1.0f / 255) && f[1] == 7 * (1.0f / 255) && f[2] == 0 &&
            f[3] == 1.0f / 255 * 255 && f[4] == f[0],
        "u1 -> f32: %a %a %a %a", f[0], f[1], f[2], f[3]);
  mtlrt_npy_gather_f64(&a, rows, 2, 2, 1.0, d);
  CHECK(d[0] == 254 && d[1] == 7 && d[2] == 0 && d[3] == 255, "u1 -> f64 unscaled");
  mtlrt_npy_gather_i32(&a, rows, 3, 2, i);
  CHECK(i[0] == 254 && i[1] == 7 && i[2] == 0 && i[3] == 255 && i[5] == 7, "u1 -> i32");
  mtlrt_npy_close(&a);

  int64_t big[6] = {INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1, (int64_t)INT32_MIN - 1,
                    INT64_MAX, -3};
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_I8, 2, (int64_t[]){3, 2}, err, sizeof err) == 0 &&
            mtlrt_npy_append(&w, big, 6, err, sizeof err) == 0 &&
            mtlrt_npy_commit(&w, err, sizeof err) == 0,
        "%s", err);
  CHECK(mtlrt_npy_open(path, &a, err, sizeof err) == 0, "%s", err);
  int64_t all[3] = {0, 1, 2};
  mtlrt_npy_gather_i32(&a, all, 3, 2, i);
  CHECK(i[0] == INT32_MAX && i[1] == INT32_MIN && i[2] == INT32_MIN && i[3] == INT32_MIN &&
            i[4] == INT32_MIN && i[5] == -3,
        "i8 -> i32: %d %d %d %d %d %d", i[0], i[1], i[2], i[3], i[4], i[5]);
  mtlrt_npy_gather_f32(&a, all, 3, 2, 1, f);
  CHECK(f[4] == 9223372036854775807.0f && f[5] == -3, "i8 -> f32");
  mtlrt_npy_close(&a);

  double reals[6] = {1.0 / 3, -2, 1e300, NAN, 2147483647.0, -0.5};
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_F8, 2, (int64_t[]){3, 2}, err, sizeof err) == 0 &&
            mtlrt_npy_append(&w, reals, 6, err, sizeof err) == 0 &&
            mtlrt_npy_commit(&w, err, sizeof err) == 0,
        "%s", err);
  CHECK(mtlrt_npy_open(path, &a, err, sizeof err) == 0, "%s", err);
  mtlrt_npy_gather_f32(&a, all, 3, 2, 1, f);
  CHECK(f[0] == (float)(1.0 / 3) && f[1] == -2 && isinf(f[2]) && isnan(f[3]), "f8 -> f32");
  mtlrt_npy_gather_i32(&a, all, 3, 2, i);
  CHECK(i[0] == INT32_MIN && i[1] == -2 && i[2] == INT32_MIN && i[3] == INT32_MIN &&
            i[4] == INT32_MAX && i[5] == INT32_MIN,
        "f8 -> i32 (not ids): %d %d %d %d %d %d", i[0], i[1], i[2], i[3], i[4], i[5]);
  mtlrt_npy_close(&a);
  unlink(path);
}

/* ---- Hostile files ---- */

typedef struct Bad {
  int version;        /* 1, 2 or 3 */
  const char *header; /* the header text */
  size_t ndata;       /* bytes of data after it */
  const char *msg;    /* the message after "FILE: ", or a part of it; NULL if the file is valid */
} Bad;

#define H(d, f, s) "{'descr': '" d "', 'fortran_order': " f ", 'shape': " s ", }"

static const Bad bad[] = {
    /* Valid: numpy's output and hand-written variants. */
    {1, H("<f4", "False", "(2, 3)") "      \n", 24, NULL},
    {2, H("<f4", "False", "(2, 3)") "\n", 24, NULL},
    {3, H("|u1", "False", "()") "\n", 1, NULL},
    {1, "{\"shape\":(5,),\"descr\":\"<i8\",\"fortran_order\":False}", 40, NULL},
    {1, " {'fortran_order' : False ,\n 'shape' : ( 2 , 1 , ) , 'descr' : '<f8' }\t\r\n", 16, NULL},
    {1, "{'descr': 'u1', 'fortran_order': False, 'shape': (3,)}", 3, NULL},
    {1, "{'descr': '<u1', 'fortran_order': False, 'shape': (3,)}", 3, NULL},
    {1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3L, 1L), }\n", 12, NULL},
    {1, H("<f4", "False", "(0, 9223372036854775807)"), 0, NULL},
    {1, H("<f4", "False", "(1, 1, 1, 1, 1, 1, 1, 1)"), 4, NULL},

    /* The header's structure. */
    {1, "", 0,
     "invalid header: expected '{' (the header is not a Python dict) at its end (byte 0)"},
    {1, "[1, 2]", 0,
     "invalid header: expected '{' (the header is not a Python dict) at byte 0 of the header"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", 8,
     "expected ',' or '}' at its end"},
    {1, "{'descr': '<f4', 'fortran_order': False 'shape': (2,)}", 8,
     "invalid header: expected ',' or '}' at byte 40 of the header"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}}", 8,
     "text after the dict at byte 55 of the header"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} # x", 8, "text after the dict"},
    {1, "{'descr': '<f4',, 'fortran_order': False, 'shape': (2,)}", 8,
     "expected a quoted key or '}'"},
    {1, "{descr: '<f4', 'fortran_order': False, 'shape': (2,)}", 8,
     "expected a quoted key or '}' at byte 1"},
    {1, "{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}", 8, "expected ':' after a key"},
    {1, "{'descr: '<f4', 'fortran_order': False, 'shape': (2,)}", 8, "unknown key 'descr: '"},
    {1, "{'descr': '<f4\n', 'fortran_order': False, 'shape': (2,)}", 8,
     "unterminated string at byte 14"},
    {1, "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,)}", 8,
     "a string with an escape"},
    {1, "{'descr': b'<f4', 'fortran_order': False, 'shape': (2,)}", 8,
     "expected a string after 'descr'"},
    {1, "{'fortran_order': False, 'shape': (2,)}", 8, "the header lacks 'descr'"},
    {1, "{'descr': '<f4', 'shape': (2,)}", 8, "the header lacks 'fortran_order'"},
    {1, "{'descr': '<f4', 'fortran_order': False}", 8, "the header lacks 'shape'"},
    {1, "{}", 0, "the header lacks 'descr'"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", 8,
     "the header has an unknown key 'extra' (expected 'descr', 'fortran_order' and 'shape')"},
    {1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8,
     "the header has 'descr' twice"},
    {1,
     "{'\x01\xe9"
     "0123456789012345678901234567890': 1}",
     0, "unknown key '\\x01\\xe901234567890123456789...'"},

    /* fortran_order. */
    {1, H("<f4", "True", "(2, 3)"), 24,
     "Fortran order is not supported (save it with numpy.ascontiguousarray)"},
    {1, H("<f4", "0", "(2, 3)"), 24, "expected True or False after 'fortran_order' at byte 34"},
    {1, H("<f4", "Falsey", "(2, 3)"), 24, "expected True or False after 'fortran_order'"},
    {1, H("<f4", "false", "(2, 3)"), 24, "expected True or False after 'fortran_order'"},

    /* descr. */
    {1, H(">f4", "False", "(2,)"), 8,
     "dtype '>f4' is big-endian, which is not supported (convert the array with .astype('<f4'))"},
    {1, H(">i8", "False", "(2,)"), 16, "dtype '>i8' is big-endian"},
    {1, H(">f2", "False", "(2,)"), 4,
     "dtype '>f2' is big-endian, which is not supported (expected one of |u1, <i4"},
    {1, H("<f2", "False", "(2,)"), 4, "dtype '<f2' is not one of |u1, <i4, <i8, <f4, <f8"},
    {1, H("|i1", "False", "(2,)"), 2, "dtype '|i1' is not one of |u1, <i4, <i8, <f4, <f8"},
    {1, H("|b1", "False", "(2,)"), 2, "dtype '|b1' is not one of"},
    {1, H("<U3", "False", "(2,)"), 24, "dtype '<U3' is not one of"},
    {1, H("|O", "False", "(2,)"), 16, "dtype '|O' is not one of"},
    {1, H("f4", "False", "(2,)"), 8, "dtype 'f4' is not one of"},
    {1, "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,)}", 8,
     "the dtype is a structured dtype (a list of fields), expected one of |u1, <i4, <i8, <f4, <f8"},

    /* shape. */
    {1, H("<f4", "False", "(-2, 3)"), 24, "dimension 1 of the shape is negative"},
    {1, H("<f4", "False", "(2, -3)"), 24, "dimension 2 of the shape is negative"},
    {1, H("<f4", "False", "(2)"), 8,
     "the shape (2) is not a tuple (a 1-dimensional shape is written (2,))"},
    {1, H("<f4", "False", "[2, 3]"), 24,
     "the shape is a list, expected a tuple such as (60000, 784)"},
    {1, H("<f4", "False", "2"), 8, "expected a tuple after 'shape'"},
    {1, H("<f4", "False", "(2 3)"), 24, "expected ',' or ')' in the shape"},
    {1, H("<f4", "False", "(2,,)"), 8, "expected a non-negative integer in the shape"},
    {1, H("<f4", "False", "(,)"), 0, "expected a non-negative integer in the shape"},
    {1, H("<f4", "False", "(2.0,)"), 8, "expected an integer in the shape"},
    {1, H("<f4", "False", "(0x2,)"), 8, "expected an integer in the shape"},
    {1, H("<f4", "False", "(2_0,)"), 80, "expected an integer in the shape"},
    {1, H("<f4", "False", "(02,)"), 8, "a number with a leading zero"},
    {3, H("<f4", "False", "(2L,)"), 8, "expected an integer in the shape"},
    {1, H("<f4", "False", "(9223372036854775808,)"), 8,
     "dimension 1 of the shape is larger than 2^63-1"},
    {1, H("<f4", "False", "(1, 99999999999999999999999,)"), 8,
     "dimension 2 of the shape is larger than 2^63-1"},
    {1, H("<f4", "False", "(1, 1, 1, 1, 1, 1, 1, 1, 1)"), 4,
     "the shape has more than 8 dimensions"},
    {1, H("<f4", "False", "(4294967296, 4294967296)"), 0,
     "the shape [4294967296, 4294967296] of 4-byte elements holds more than 2^63-1 bytes"},
    {1, H("<f8", "False", "(1152921504606846976,)"), 0,
     "the shape [1152921504606846976] of 8-byte elements holds more than 2^63-1 bytes"},
    {1, H("<f4", "False", "(2, 3)"), 23,
     "the data is truncated: 6 elements of 4 bytes need 24 bytes after the header, the file has "
     "23"},
    {1, H("<f4", "False", "(2, 3)"), 0,
     "the data is truncated: 6 elements of 4 bytes need 24 bytes after the header, the file has 0"},
    {1, H("|u1", "False", "()"), 0,
     "the data is truncated: 1 element of 1 byte needs 1 bytes after the header, the file has 0"},
    {1, H("<f4", "False", "(2, 3)"), 25,
     "the data is followed by extra bytes: 6 elements of 4 bytes need 24 bytes after the header, "
     "the file has 25"},
    {1, H("<f4", "False", "(0, 3)"), 1, "the data is followed by extra bytes"},
};

static void test_hostile(void) {
  const char *path = in_dir("bad.npy");
  char want[1400];
  mtlrt_npy a;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_npy(path, bad[i].version, bad[i].header, bad[i].ndata);
    memset(&a, 0x55, sizeof a);
    err[0] = '\0';
    int rc = mtlrt_npy_open(path, &a, err, sizeof err);
    snprintf(want, sizeof want, "%s: ", path);
    if (bad[i].msg) {
      CHECK(rc < 0 && strncmp(err, want, strlen(want)) == 0 && strstr(err, bad[i].msg) &&
                !strchr(err, '\n'),
            "case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
      CHECK(a.map == NULL && a.data == NULL && a.rank == 0 && a.count == 0, "case %zu: *a zeroed",
            i);
    } else {
      CHECK(rc == 0, "case %zu: %s", i, err);
      mtlrt_npy_close(&a);
    }
  }

  /* Some messages in full. */
  struct {
    const void *bytes;
    size_t n;
    const char *msg;
  } raw[] = {
      {"", 0, "the file is empty (expected an NPY file)"},
      {"hello", 5, "not an NPY file (it does not start with \\x93NUMPY)"},
      {"\x93NUMPX\x01\x00\x00\x00", 10, "not an NPY file (it does not start with \\x93NUMPY)"},
      {"\x93NUM", 4, "the file ends in the NPY preamble (4 bytes)"},
      {"\x93NUMPY\x01", 7, "the file ends in the NPY preamble (7 bytes)"},
      {"\x93NUMPY\x01\x00\x00", 9, "the file ends in the NPY preamble (9 bytes)"},
      {"\x93NUMPY\x02\x00\x00\x00\x00", 11, "the file ends in the NPY preamble (11 bytes)"},
      {"\x93NUMPY\x04\x00\x00\x00\x00\x00", 12,
       "NPY format version 4.0 is not supported (1.0, 2.0 and 3.0 are)"},
      {"\x93NUMPY\x01\x01\x00\x00", 10,
       "NPY format version 1.1 is not supported (1.0, 2.0 and 3.0 are)"},
      {"\x93NUMPY\x00\x00\x00\x00", 10, "NPY format version 0.0 is not supported"},
      {"\x93NUMPY\x01\x00\xff\xff{}", 12,
       "the header is truncated (header length 65535 from byte 10, the file has 12 bytes)"},
      {"\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14,
       "the header is truncated (header length 4294967295 from byte 12, the file has 14 bytes)"},
      {"\x93NUMPY\x01\x00\x03\x00{}", 12,
       "the header is truncated (header length 3 from byte 10, the file has 12 bytes)"},
      {"\x93NUMPY\x01\x00\x00\x00", 10,
       "invalid header: expected '{' (the header is not a Python dict) at its end (byte 0)"},
  };
  for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
    write_file(path, raw[i].bytes, raw[i].n);
    snprintf(want, sizeof want, "%s: %s", path, raw[i].msg);
    CHECK(mtlrt_npy_open(path, &a, err, sizeof err) < 0 && strncmp(err, want, strlen(want)) == 0,
          "raw %zu: '%s'", i, err);
  }

  /* A header length that lies: shorter than the dict, or longer (the data is read as header). */
  write_npy(path, 1, H("<f4", "False", "(2,)") "\n", 8);
  static unsigned char file[256];
  long size = read_file(path, file, sizeof file);
  file[8] -= 10;
  write_file(path, file, (size_t)size);
  CHECK(mtlrt_npy_open(path, &a, err, sizeof err) < 0 && strstr(err, "invalid header: ") &&
            strstr(err, "at its end"),
        "%s", err);
  file[8] += 14;
  write_file(path, file, (size_t)size);
  CHECK(mtlrt_npy_open(path, &a, err, sizeof err) < 0 &&
            strstr(err, "invalid header: text after the dict"),
        "%s", err);

  /* No file, a directory, an error buffer too small or absent. */
  snprintf(want, sizeof want, "%s: cannot open: No such file or directory", in_dir("none.npy"));
  CHECK(mtlrt_npy_open(in_dir("none.npy"), &a, err, sizeof err) < 0 && strcmp(err, want) == 0, "%s",
        err);
  snprintf(want, sizeof want, "%s: not a regular file", dir);
  CHECK(mtlrt_npy_open(dir, &a, err, sizeof err) < 0 && strcmp(err, want) == 0, "%s", err);
  char tiny[8];
  CHECK(mtlrt_npy_open(dir, &a, tiny, sizeof tiny) < 0 && strlen(tiny) == 7, "'%s'", tiny);
  CHECK(mtlrt_npy_open(dir, &a, NULL, 0) < 0, "no err");
  CHECK(mtlrt_npy_open(NULL, &a, err, sizeof err) < 0 && strcmp(err, "(null): no file name") == 0,
        "%s", err);
  unlink(path);
}

/* ---- Truncations and byte flips of a valid file ---- */

static void test_corruption(void) {
  const char *path = in_dir("valid.npy"), *cut = in_dir("cut.npy");
  static unsigned char file[512];
  mtlrt_npy_writer w;
  mtlrt_npy a;
  int64_t shape[3] = {2, 3, 2};
  fill(MTLRT_NPY_I4, 12);
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_I4, 3, shape, err, sizeof err) == 0 &&
            mtlrt_npy_append(&w, src, 12, err, sizeof err) == 0 &&
            mtlrt_npy_commit(&w, err, sizeof err) == 0,
        "%s", err);
  long size = read_file(path, file, sizeof file);
  CHECK(size == 128 + 48, "size %ld", size);
  char prefix[600];
  snprintf(prefix, sizeof prefix, "%s: ", cut);
  int clean = 0;
  for (long len = 0; len < size; len++) {
    write_file(cut, file, (size_t)len);
    err[0] = '\0';
    int rc = mtlrt_npy_open(cut, &a, err, sizeof err);
    clean += rc < 0 && strncmp(err, prefix, strlen(prefix)) == 0 && !strchr(err, '\n');
  }
  CHECK(clean == size, "%d of %ld truncations failed cleanly", clean, size);
  write_file(cut, file, (size_t)size);
  CHECK(mtlrt_npy_open(cut, &a, err, sizeof err) == 0, "%s", err);
  mtlrt_npy_close(&a);

  /* Every byte set to a few values: each open must end in success or a one-line message. */
  static const unsigned char values[] = {0, ' ', '\'', ',', ')', '9', 0x80, 0xff};
  int good = 0;
  for (long i = 0; i < size; i++)
    for (size_t v = 0; v < sizeof values; v++) {
      unsigned char keep = file[i];
      file[i] = values[v];
      write_file(cut, file, (size_t)size);
      err[0] = '\0';
      int rc = mtlrt_npy_open(cut, &a, err, sizeof err);
      CHECK(rc == 0 || (strncmp(err, prefix, strlen(prefix)) == 0 && !strchr(err, '\n')),
            "byte %ld = %d: '%s'", i, values[v], err);
      if (rc == 0) {
        good++;
        CHECK(a.data == (const unsigned char *)a.map + a.map_size - (size_t)a.count * esize[a.type],
              "data at end");
        mtlrt_npy_close(&a);
      }
      file[i] = keep;
    }
  CHECK(good > 0, "some flips (in the data or the padding) still load");
  unlink(path);
  unlink(cut);
}

/* ---- The writer's errors and atomicity ---- */

static void test_writer(void) {
  static float blob[1 << 16];
  static unsigned char before[4096], after[4096];
  mtlrt_npy_writer w;
  mtlrt_npy a;
  char sub[300], path[400], want[1400];
  snprintf(sub, sizeof sub, "%s/atomic", dir);
  CHECK(mkdir(sub, 0777) == 0, "mkdir");
  snprintf(path, sizeof path, "%s/out.npy", sub);
  int64_t four = 4, shape[2] = {2, 3};

  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_F4, 1, &four, err, sizeof err) == 0, "%s", err);
  CHECK(count_dir_entries(sub) == 1, "the temporary file is beside the target");
  CHECK(mtlrt_npy_append(&w, blob, 4, err, sizeof err) == 0 &&
            mtlrt_npy_commit(&w, err, sizeof err) == 0,
        "%s", err);
  long n0 = read_file(path, before, sizeof before);
  CHECK(n0 == 128 + 16 && count_dir_entries(sub) == 1, "committed");

  /* Refused shapes and types; nothing is created. */
  shape[1] = -3;
  snprintf(want, sizeof want, "%s: dimension 2 of the shape is negative (-3)", path);
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_F4, 2, shape, err, sizeof err) < 0 &&
            strcmp(err, want) == 0,
        "%s", err);
  shape[1] = 3;
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_F4, 9, shape, err, sizeof err) < 0 &&
            strstr(err, "invalid shape: rank 9, not 0 to 8"),
        "%s", err);
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_F4, -1, shape, err, sizeof err) < 0, "rank -1");
  CHECK(mtlrt_npy_create(&w, path, (mtlrt_npy_type)7, 2, shape, err, sizeof err) < 0 &&
            strstr(err, "invalid element type 7"),
        "%s", err);
  int64_t huge[2] = {INT64_MAX / 2, 3};
  CHECK(
      mtlrt_npy_create(&w, path, MTLRT_NPY_U1, 2, huge, err, sizeof err) < 0 &&
          strstr(
              err,
              "the shape [4611686018427387903, 3] of 1-byte elements holds more than 2^63-1 bytes"),
      "%s", err);
  huge[1] = 2;
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_F8, 2, huge, err, sizeof err) < 0 &&
            strstr(err, "2^63-1 bytes"),
        "%s", err);
  mtlrt_npy_abort(&w); /* after a failed create: nothing to do */
  CHECK(count_dir_entries(sub) == 1, "leftovers");

  /* Too many elements, too few: the old file stays and no temporary file remains. */
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_F4, 2, shape, err, sizeof err) == 0, "%s", err);
  CHECK(mtlrt_npy_append(&w, blob, 4, err, sizeof err) == 0, "%s", err);
  snprintf(want, sizeof want,
           "%s: appending 3 elements to the 4 written would pass the 6 of the shape", path);
  CHECK(mtlrt_npy_append(&w, blob, 3, err, sizeof err) < 0 && strcmp(err, want) == 0, "%s", err);
  CHECK(mtlrt_npy_append(&w, blob, -1, err, sizeof err) < 0, "negative append");
  snprintf(want, sizeof want, "%s: 4 of the 6 elements of the shape were written", path);
  CHECK(mtlrt_npy_commit(&w, err, sizeof err) < 0 && strcmp(err, want) == 0, "%s", err);
  CHECK(count_dir_entries(sub) == 1, "a failed commit removes the temporary file");
  CHECK(read_file(path, after, sizeof after) == n0 && memcmp(before, after, (size_t)n0) == 0,
        "the old file changed");
  CHECK(mtlrt_npy_append(&w, blob, 1, err, sizeof err) < 0 && strstr(err, "not open for writing"),
        "%s", err);
  CHECK(mtlrt_npy_commit(&w, err, sizeof err) < 0 && strstr(err, "not open for writing"), "%s",
        err);
  mtlrt_npy_abort(&w);

  /* abort() in the middle, twice. */
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_F4, 2, shape, err, sizeof err) == 0, "%s", err);
  CHECK(mtlrt_npy_append(&w, blob, 6, err, sizeof err) == 0, "%s", err);
  mtlrt_npy_abort(&w);
  mtlrt_npy_abort(&w);
  CHECK(count_dir_entries(sub) == 1, "abort leaves no temporary file");
  CHECK(read_file(path, after, sizeof after) == n0 && memcmp(before, after, (size_t)n0) == 0,
        "the old file changed");

  /* Two writers of the same file at once get distinct temporary files; the last commit wins. */
  mtlrt_npy_writer w2;
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_U1, 1, &four, err, sizeof err) == 0 &&
            mtlrt_npy_create(&w2, path, MTLRT_NPY_U1, 1, &four, err, sizeof err) == 0 &&
            strcmp(w.tmp, w2.tmp) != 0,
        "%s", err);
  CHECK(mtlrt_npy_append(&w, "abcd", 4, err, sizeof err) == 0 &&
            mtlrt_npy_append(&w2, "efgh", 4, err, sizeof err) == 0 &&
            mtlrt_npy_commit(&w, err, sizeof err) == 0 &&
            mtlrt_npy_commit(&w2, err, sizeof err) == 0,
        "%s", err);
  CHECK(mtlrt_npy_open(path, &a, err, sizeof err) == 0 && memcmp(a.data, "efgh", 4) == 0, "%s",
        err);
  mtlrt_npy_close(&a);
  CHECK(count_dir_entries(sub) == 1, "leftovers");
  n0 = read_file(path, before, sizeof before);

  /* A write that fails halfway (the file size limit). */
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 65536;
  signal(SIGXFSZ, SIG_IGN);
  CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
  int64_t many = 1 << 16;
  CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_F4, 1, &many, err, sizeof err) == 0, "%s", err);
  int rc = mtlrt_npy_append(&w, blob, many, err, sizeof err);
  if (rc == 0)
    rc = mtlrt_npy_commit(&w, err, sizeof err);
  else
    mtlrt_npy_abort(&w);
  setrlimit(RLIMIT_FSIZE, &old);
  CHECK(rc < 0 && strstr(err, "cannot write a temporary file: File too large"), "%s", err);
  CHECK(count_dir_entries(sub) == 1, "a temporary file remains");
  CHECK(read_file(path, after, sizeof after) == n0 && memcmp(before, after, (size_t)n0) == 0,
        "the old file changed");

  /* A rename that fails: the target is a non-empty directory. */
  char target[500], inner[600];
  snprintf(target, sizeof target, "%s/dir.npy", sub);
  snprintf(inner, sizeof inner, "%s/keep", target);
  CHECK(mkdir(target, 0777) == 0, "mkdir");
  write_file(inner, "x", 1);
  CHECK(mtlrt_npy_create(&w, target, MTLRT_NPY_F4, 1, &four, err, sizeof err) == 0 &&
            mtlrt_npy_append(&w, blob, 4, err, sizeof err) == 0,
        "%s", err);
  CHECK(mtlrt_npy_commit(&w, err, sizeof err) < 0 && strstr(err, "cannot write the file"), "%s",
        err);
  CHECK(count_dir_entries(sub) == 2 && count_dir_entries(target) == 1, "leftovers");
  unlink(inner);
  rmdir(target);

  /* A directory that does not exist, one we may not write to (root may: skipped then), and
   * a name too long for the writer. */
  snprintf(target, sizeof target, "%s/none/out.npy", sub);
  snprintf(want, sizeof want, "%s: cannot create a temporary file: No such file or directory",
           target);
  CHECK(mtlrt_npy_create(&w, target, MTLRT_NPY_F4, 1, &four, err, sizeof err) < 0 &&
            strcmp(err, want) == 0,
        "%s", err);
  mtlrt_npy_abort(&w);
  if (geteuid() != 0) {
    CHECK(chmod(sub, 0555) == 0, "chmod");
    CHECK(mtlrt_npy_create(&w, path, MTLRT_NPY_F4, 1, &four, err, sizeof err) < 0 &&
              strstr(err, "cannot create a temporary file: Permission denied"),
          "%s", err);
    chmod(sub, 0777);
  }
  static char longname[5000];
  memset(longname, 'n', sizeof longname - 1);
  static char longerr[6000];
  CHECK(mtlrt_npy_create(&w, longname, MTLRT_NPY_F4, 1, &four, longerr, sizeof longerr) < 0 &&
            strstr(longerr, "nnn: the file name is too long"),
        "%.40s", longerr);
  CHECK(mtlrt_npy_create(&w, NULL, MTLRT_NPY_F4, 1, &four, err, sizeof err) < 0 &&
            strcmp(err, "(null): no file name") == 0,
        "%s", err);
  CHECK(count_dir_entries(sub) == 1, "leftovers");
  unlink(path);
  rmdir(sub);
}

/* ---- The other modes ---- */

static int parse_type(const char *s) {
  for (int t = 0; t <= MTLRT_NPY_F8; t++)
    if (strcmp(s, mtlrt_npy_type_name((mtlrt_npy_type)t)) == 0)
      return t;
  return -1;
}

static int dump(const char *path) {
  static float rows_f32[1 << 20];
  static int64_t rows[1 << 16];
  mtlrt_npy a;
  if (mtlrt_npy_open(path, &a, err, sizeof err)) {
    printf("error %s\n", err);
    return 1;
  }
  printf("%s\n", mtlrt_npy_type_name(a.type));
  for (int i = 0; i < a.rank; i++)
    printf("%s%" PRId64, i ? "," : "", a.shape[i]);
  printf("\n");
  for (int64_t i = 0; i < a.count; i++) {
    const unsigned char *p = a.data + (size_t)i * esize[a.type];
    if (a.type == MTLRT_NPY_I8) {
      int64_t v;
      memcpy(&v, p, 8);
      printf("%" PRId64 "\n", v);
    } else if (a.type == MTLRT_NPY_F4 || a.type == MTLRT_NPY_F8) {
      printf("%a\n", element(&a, i));
    } else {
      printf("%.0f\n", element(&a, i));
    }
  }
  int64_t n = a.rank ? a.shape[0] : 1, row_elems = n ? a.count / n : 0;
  if (n > (int64_t)(sizeof rows / sizeof rows[0]) ||
      a.count > (int64_t)(sizeof rows_f32 / sizeof rows_f32[0])) {
    printf("too large\n");
    return 1;
  }
  for (int64_t r = 0; r < n; r++)
    rows[r] = n - 1 - r;
  mtlrt_npy_gather_f32(&a, rows, (int)n, row_elems, a.type == MTLRT_NPY_U1 ? 1.0f / 255 : 1.0f,
                       rows_f32);
  printf("gather_f32 (rows reversed)\n");
  for (int64_t i = 0; i < a.count; i++)
    printf("%a\n", (double)rows_f32[i]);
  mtlrt_npy_close(&a);
  return 0;
}

static int write_mode(char **argv) {
  static unsigned char raw[1 << 22];
  int type = parse_type(argv[3]);
  int64_t shape[MTLRT_MAX_RANK];
  int rank = 0;
  for (char *p = argv[4]; *p && rank < MTLRT_MAX_RANK; p += *p == ',')
    shape[rank++] = strtoll(p, &p, 10);
  long n = read_file(argv[5], raw, sizeof raw);
  if (type < 0 || n < 0 || n == (long)sizeof raw) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  mtlrt_npy_writer w;
  if (mtlrt_npy_create(&w, argv[2], (mtlrt_npy_type)type, rank, shape, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  int64_t elems = n / (long)esize[type], at = 0;
  for (int64_t k = 1; at < elems; k = k * 3 + 1) {
    int64_t m = elems - at < k ? elems - at : k;
    if (mtlrt_npy_append(&w, raw + at * (int64_t)esize[type], m, err, sizeof err)) {
      mtlrt_npy_abort(&w);
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    at += m;
  }
  if (mtlrt_npy_commit(&w, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  return 0;
}

static int seeds(const char *out) {
  static const int64_t shapes[][4] = {{0}, {3}, {2, 2}, {1, 2, 2}, {2, 1, 1, 2}};
  char path[512];
  mtlrt_npy_writer w;
  for (int type = 0; type <= MTLRT_NPY_F8; type++)
    for (int rank = 0; rank <= 4; rank++) {
      int64_t n = 1;
      for (int i = 0; i < rank; i++)
        n *= shapes[rank][i];
      fill((mtlrt_npy_type)type, n);
      snprintf(path, sizeof path, "%s/%s_rank%d.npy", out,
               mtlrt_npy_type_name((mtlrt_npy_type)type) + 1, rank);
      if (mtlrt_npy_create(&w, path, (mtlrt_npy_type)type, rank, shapes[rank], err, sizeof err) ||
          mtlrt_npy_append(&w, src, n, err, sizeof err) || mtlrt_npy_commit(&w, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
      }
    }
  /* Versions 2.0 and 3.0 and a hand-written header with other spacing and key order. */
  snprintf(path, sizeof path, "%s/v2.npy", out);
  write_npy(path, 2, H("<f8", "False", "(2,)") "\n", 16);
  snprintf(path, sizeof path, "%s/v3.npy", out);
  write_npy(path, 3, H("|u1", "False", "(2, 1)") "\n", 2);
  snprintf(path, sizeof path, "%s/handwritten.npy", out);
  write_npy(path, 1, "{\"shape\":(3L,),\"fortran_order\":False,\"descr\":\"<i4\"}\n", 12);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "dump") == 0)
    return dump(argv[2]);
  if (argc == 6 && strcmp(argv[1], "write") == 0)
    return write_mode(argv);
  if (argc == 3 && strcmp(argv[1], "seeds") == 0)
    return seeds(argv[2]);
  if (argc != 1) {
    fprintf(stderr, "usage: %s [dump FILE | write OUT TYPE DIMS RAW | seeds DIR]\n", argv[0]);
    return 2;
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/mtlrt-npy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  test_round_trip();
  test_gather();
  test_hostile();
  test_corruption();
  test_writer();
  int left = count_dir_entries(dir);
  CHECK(rmdir(dir) == 0, "%s: %d entries were left, %s", dir, left, strerror(errno));
  printf("%d checks, %d failures\n", checks, failures);
  return failures != 0;
}
