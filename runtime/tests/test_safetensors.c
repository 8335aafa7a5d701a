/* test_safetensors.c: unit tests of libmtlrt's safetensors reader and writer: round trips,
 * strictness, hostile headers, every truncation and many byte flips of a valid file, the
 * chunked passes of large requests, and atomic saves. Two more modes serve other tests:
 *
 *   mtlrt_test_safetensors                  run the unit tests in a fresh temporary directory
 *   mtlrt_test_safetensors copy IN OUT [--f64] NAME=TYPE:DIMS...
 *                                           load IN strictly (TYPE f32, f64 or i64 in memory,
 *                                           DIMS like 4,1,3,3 or empty for a scalar; metadata
 *                                           "format" and "model") and save it to OUT
 *   mtlrt_test_safetensors seeds DIR        write the fuzzer's seed corpus into DIR
 */
#define _POSIX_C_SOURCE 200809L

#include "mtlrt_io.h"
#include "st_fuzz_request.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

/* Writes a file with this JSON header (padded as given) and `data` bytes of buffer. */
static void write_raw(const char *path, const char *json, const void *data, size_t ndata) {
  static unsigned char buf[1 << 20];
  size_t h = strlen(json);
  for (int i = 0; i < 8; i++)
    buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
  memcpy(buf + 8, json, h);
  if (ndata)
    memcpy(buf + 8 + h, data, ndata);
  write_file(path, buf, 8 + h + ndata);
}

/* ---- Round trips ---- */

static float a32[2 * 3 * 4 * 5], a32b[120];
static double a64[120];
static double b64[7], b64b[7];
static float b32[7];
static int64_t c64, c64b;
static float d32, d32b;

static void fill(void) {
  for (int i = 0; i < 120; i++)
    a32[i] = (float)(i * 0.37 - 11.0) / 3.0f;
  for (int i = 0; i < 7; i++)
    b64[i] = 1.0 / (i + 1) + 1e-12 * i;
  c64 = (int64_t)1 << 40 | 7;
  d32 = -2.5f;
}

static void model(mtlrt_tensor_ref t[5], float *a, double *b, int64_t *c, float *d) {
  t[0] = (mtlrt_tensor_ref){"trunk.0.weight", MTLRT_DT_F32, 4, {2, 3, 4, 5}, a};
  t[1] = (mtlrt_tensor_ref){"trunk.0.bias", MTLRT_DT_F64, 1, {7}, b};
  t[2] = (mtlrt_tensor_ref){"bn.num_batches_tracked", MTLRT_DT_I64, 0, {0}, c};
  t[3] = (mtlrt_tensor_ref){"objective.scale", MTLRT_DT_F32, 0, {0}, d};
  t[4] = (mtlrt_tensor_ref){"we\"ird\\name\n\xc3\xa9", MTLRT_DT_F32, 2, {3, 0}, NULL};
}

static void test_round_trip(void) {
  mtlrt_tensor_ref t[5], u[5];
  mtlrt_meta meta[3] = {{"format", "pt"}, {"model", "m\"q\\\n\xc3\xa9"}, {"epoch", "12"}};
  mtlrt_meta got[4] = {{.key = "model"}, {.key = "format"}, {.key = "absent"}, {.key = "epoch"}};
  const char *path = in_dir("rt.safetensors");
  fill();
  model(t, a32, b64, &c64, &d32);

  /* F32 in the file: floats exact, doubles rounded to float. */
  CHECK(mtlrt_safetensors_save(path, t, 5, meta, 3, MTLRT_DT_F32, err, sizeof err) == 0, "%s", err);
  model(u, a32b, b64b, &c64b, &d32b);
  strcpy(got[2].value, "stale");
  CHECK(mtlrt_safetensors_load(path, u, 5, got, 4, err, sizeof err) == 0, "%s", err);
  CHECK(memcmp(a32, a32b, sizeof a32) == 0, "a");
  for (int i = 0; i < 7; i++)
    CHECK(b64b[i] == (double)(float)b64[i], "b[%d] %.17g", i, b64b[i]);
  CHECK(c64b == c64 && d32b == d32, "scalars");
  CHECK(strcmp(got[0].value, meta[1].value) == 0 && strcmp(got[1].value, "pt") == 0 &&
            strcmp(got[2].value, "") == 0 && strcmp(got[3].value, "12") == 0,
        "meta '%s' '%s' '%s'", got[0].value, got[1].value, got[2].value);

  /* The layout: header length a multiple of 8, metadata first, tensors in order. */
  static unsigned char file[8192];
  long size = read_file(path, file, sizeof file);
  uint64_t h = 0;
  for (int i = 0; i < 8; i++)
    h |= (uint64_t)file[i] << (8 * i);
  CHECK(h % 8 == 0 && 8 + h + 120 * 4 + 7 * 4 + 8 + 4 == (uint64_t)size, "size %ld, header %llu",
        size, (unsigned long long)h);
  CHECK(memcmp(file + 8, "{\"__metadata__\":{\"format\":\"pt\"", 30) == 0, "%.40s",
        (char *)file + 8);
  CHECK(memcmp(file + 8 + h, a32, sizeof a32) == 0, "a32 bytes at the buffer start");

  /* F64 in the file: doubles exact; into other memory types. */
  CHECK(mtlrt_safetensors_save(path, t, 5, meta, 3, MTLRT_DT_F64, err, sizeof err) == 0, "%s", err);
  model(u, a32b, b64b, &c64b, &d32b);
  u[0].dtype = MTLRT_DT_F64, u[0].data = a64;
  u[1].dtype = MTLRT_DT_F32, u[1].data = b32;
  CHECK(mtlrt_safetensors_load(path, u, 5, NULL, 0, err, sizeof err) == 0, "%s", err);
  for (int i = 0; i < 120; i++)
    CHECK(a64[i] == a32[i], "a64[%d]", i);
  for (int i = 0; i < 7; i++)
    CHECK(b32[i] == (float)b64[i], "b32[%d]", i);
  u[0].dtype = MTLRT_DT_F32, u[0].data = a32b;
  u[1].dtype = MTLRT_DT_F64, u[1].data = b64b;
  CHECK(mtlrt_safetensors_load(path, u, 5, NULL, 0, err, sizeof err) == 0, "%s", err);
  CHECK(memcmp(b64, b64b, sizeof b64) == 0 && memcmp(a32, a32b, sizeof a32) == 0, "exact");

  /* No tensors at all. */
  CHECK(mtlrt_safetensors_save(path, NULL, 0, NULL, 0, MTLRT_DT_F32, err, sizeof err) == 0, "%s",
        err);
  CHECK(mtlrt_safetensors_load(path, NULL, 0, NULL, 0, err, sizeof err) == 0, "%s", err);

  /* The save refuses what it could not write faithfully. */
  model(u, a32, b64, &c64, &d32);
  u[1].name = "trunk.0.weight";
  CHECK(mtlrt_safetensors_save(path, u, 2, NULL, 0, MTLRT_DT_F32, err, sizeof err) < 0 &&
            strstr(err, "tensor 'trunk.0.weight' is given twice"),
        "%s", err);
  u[1].name = "__metadata__";
  CHECK(mtlrt_safetensors_save(path, u, 2, NULL, 0, MTLRT_DT_F32, err, sizeof err) < 0 &&
            strstr(err, "reserved"),
        "%s", err);
  u[1].name = "bad\xff";
  CHECK(mtlrt_safetensors_save(path, u, 2, NULL, 0, MTLRT_DT_F32, err, sizeof err) < 0 &&
            strstr(err, "UTF-8"),
        "%s", err);
  model(u, a32, b64, &c64, &d32);
  u[0].rank = 9;
  CHECK(mtlrt_safetensors_save(path, u, 2, NULL, 0, MTLRT_DT_F32, err, sizeof err) < 0, "rank 9");
  model(u, a32, b64, &c64, &d32);
  u[0].shape[1] = -3;
  CHECK(mtlrt_safetensors_save(path, u, 2, NULL, 0, MTLRT_DT_F32, err, sizeof err) < 0,
        "negative dim");
  model(u, a32, b64, &c64, &d32);
  CHECK(mtlrt_safetensors_save(path, u, 2, NULL, 0, MTLRT_DT_I64, err, sizeof err) < 0,
        "real as I64");
}

/* ---- Strictness ---- */

static void test_strict(void) {
  mtlrt_tensor_ref t[5], u[6];
  const char *path = in_dir("strict.safetensors");
  char want[1400];
  fill();
  model(t, a32, b64, &c64, &d32);
  CHECK(mtlrt_safetensors_save(path, t, 4, NULL, 0, MTLRT_DT_F32, err, sizeof err) == 0, "%s", err);

  for (int i = 0; i < 120; i++)
    a32b[i] = 42.0f;
  model(u, a32b, b64b, &c64b, &d32b);
  u[4] = (mtlrt_tensor_ref){"x", MTLRT_DT_F32, 1, {2}, b32};
  CHECK(mtlrt_safetensors_load(path, u, 5, NULL, 0, err, sizeof err) < 0, "missing");
  snprintf(want, sizeof want, "%s: missing tensor 'x'", path);
  CHECK(strcmp(err, want) == 0, "%s", err);

  CHECK(mtlrt_safetensors_load(path, u, 3, NULL, 0, err, sizeof err) < 0, "unexpected");
  snprintf(want, sizeof want, "%s: unexpected tensor 'objective.scale'", path);
  CHECK(strcmp(err, want) == 0, "%s", err);

  u[0].shape[3] = 6;
  CHECK(mtlrt_safetensors_load(path, u, 4, NULL, 0, err, sizeof err) < 0, "shape");
  snprintf(want, sizeof want,
           "%s: tensor 'trunk.0.weight' has shape [2, 3, 4, 5], expected [2, 3, 4, 6]", path);
  CHECK(strcmp(err, want) == 0, "%s", err);
  u[0].shape[3] = 5;

  u[2].rank = 1, u[2].shape[0] = 1;
  CHECK(mtlrt_safetensors_load(path, u, 4, NULL, 0, err, sizeof err) < 0, "rank");
  snprintf(want, sizeof want, "%s: tensor 'bn.num_batches_tracked' has shape [], expected [1]",
           path);
  CHECK(strcmp(err, want) == 0, "%s", err);
  u[2].rank = 0;

  u[2].dtype = MTLRT_DT_F64;
  CHECK(mtlrt_safetensors_load(path, u, 4, NULL, 0, err, sizeof err) < 0, "dtype");
  snprintf(want, sizeof want,
           "%s: tensor 'bn.num_batches_tracked' has dtype I64, expected F32 or F64", path);
  CHECK(strcmp(err, want) == 0, "%s", err);
  u[2].dtype = MTLRT_DT_I64;
  u[3].dtype = MTLRT_DT_I64;
  CHECK(mtlrt_safetensors_load(path, u, 4, NULL, 0, err, sizeof err) < 0, "dtype");
  snprintf(want, sizeof want, "%s: tensor 'objective.scale' has dtype F32, expected I64 or I32",
           path);
  CHECK(strcmp(err, want) == 0, "%s", err);
  u[3].dtype = MTLRT_DT_F32;

  /* Nothing was written into the destination by the failed loads. */
  for (int i = 0; i < 120; i++)
    CHECK(a32b[i] == 42.0f, "a32b[%d] changed", i);

  u[1].name = u[0].name;
  CHECK(mtlrt_safetensors_load(path, u, 4, NULL, 0, err, sizeof err) < 0 &&
            strstr(err, "requested twice"),
        "%s", err);
  CHECK(mtlrt_safetensors_load(in_dir("nonexistent"), u, 4, NULL, 0, err, sizeof err) < 0 &&
            strstr(err, "cannot open"),
        "%s", err);
}

/* ---- Hostile headers ---- */

typedef struct Bad {
  const char *json; /* the header */
  size_t ndata;     /* bytes of (zero) data after it */
  const char *msg;  /* a substring of the message; NULL if the file is valid */
  int nreq;         /* request tensor a (0), a and b (2), or nothing (-1) */
} Bad;

static const Bad bad[] = {
    {"not json at all", 0, "invalid header: expected '{' at byte 0", 0},
    {"{\"a\"", 0, "expected ':' at its end (byte 4)", 0},
    {"{}x", 0, "text after the JSON object", 0},
    {"{}", 4, "the data buffer has 4 bytes but its tensors end at byte 0", -1},
    {"{}", 0, "missing tensor 'a'", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
     "has 8 bytes but its tensors end at byte 4", 0},
    {"{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "tensor 'a' has an unknown dtype 'F17'", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, "tensor 'a' appears twice", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10]}}",
     10, "tensor 'b' (data_offsets [2, 10]) overlaps tensor 'a' ([0, 4])", 2},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
     16, "the data buffer has unused bytes [4, 8) before tensor 'b'", 2},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     16, "unused bytes [0, 4) before tensor 'b'", 2},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
     "(4 bytes) but F32 [2] takes 8 bytes", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
     "outside the data buffer", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 4,
     "outside the data buffer of 4 bytes", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
     "tensor 'a' has a negative number in its shape", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,4]}}", 4,
     "size overflows", 0},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,4]}}", 4,
     "size overflows", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4,
     "above 2^63-1", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "expected an integer",
     0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4, "leading zero", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,],\"data_offsets\":[0,4]}}", 4,
     "expected a non-negative integer", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4,
     "expected ']' after two data_offsets", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'a' lacks 'data_offsets'", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "two 'dtype' fields", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
     "unknown field 'x'", 0},
    {"{\"a\":{\"x\\ny\":1}}", 0, "tensor 'a' has an unknown field 'x\\x0ay'", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4, "expected a string",
     0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "at its end", 0},
    {"{\"__metadata__\":{\"format\":1}}", 0, "metadata 'format' is not a string", 0},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "two \"__metadata__\"", 0},
    {"{\"__metadata__\":{\"format\":\"pt\",\"format\":\"pt\"}}", 0,
     "metadata 'format' appears twice", 0},
    {"{\"__metadata__\":{\"model\":"
     "\"0123456789012345678901234567890123456789012345678901234567890123456789"
     "0123456789012345678901234567890123456789012345678901234567890123456789\"}}",
     0, "longer than 127 bytes", 0},
    {"{\"__metadata__\":[]}", 0, "expected '{' after \"__metadata__\"", 0},
    {"{\"a\\q\":{}}", 0, "invalid escape", 0},
    {"{\"a\\ud800\":{}}", 0, "unpaired surrogate", 0},
    {"{\"a\\udc00\":{}}", 0, "unpaired surrogate", 0},
    {"{\"a\\u00zz\":{}}", 0, "4 hex digits", 0},
    {"{\"a\\u0000\":{}}", 0, "\\u0000", 0},
    {"{\"a\xff\":{}}", 0, "invalid UTF-8", 0},
    {"{\"a\xc0\x80\":{}}", 0, "invalid UTF-8", 0},
    {"{\"a\xed\xa0\x80\":{}}", 0, "invalid UTF-8", 0},
    {"{\"a\x01\":{}}", 0, "control character", 0},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unexpected tensor 'x'",
     0},
    {"{\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "unexpected tensor 'a\\x0ab'", 0},
    {"{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2,
     "tensor 'a' has dtype F16, expected F32 or F64", 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, NULL, 0}, /* valid */
    {"  {\"\\u0061\" : { \"shape\" : [ 1 ] , \"data_offsets\":[0,8],\"dtype\":\"F64\"} }\n\t  ", 8,
     NULL, 0},
};

static void test_hostile(void) {
  const char *path = in_dir("bad.safetensors");
  static const unsigned char zeros[64];
  float a, b[2];
  mtlrt_tensor_ref t[2] = {{"a", MTLRT_DT_F32, 1, {1}, &a}, {"b", MTLRT_DT_F32, 1, {2}, b}};
  mtlrt_meta meta[2] = {{.key = "format"}, {.key = "model"}};
  char name[300], json[400];

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_raw(path, bad[i].json, zeros, bad[i].ndata);
    int rc = mtlrt_safetensors_load(path, t, bad[i].nreq == 2 ? 2 : bad[i].nreq + 1, meta, 2, err,
                                    sizeof err);
    if (bad[i].msg)
      CHECK(rc < 0 && strstr(err, bad[i].msg), "case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
    else
      CHECK(rc == 0, "case %zu: %s", i, err);
  }

  /* Key lengths: 255 bytes pass, 256 are refused. */
  memset(name, 'k', 256);
  name[255] = '\0';
  snprintf(json, sizeof json, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
           name);
  write_raw(path, json, zeros, 4);
  t[0].name = name;
  CHECK(mtlrt_safetensors_load(path, t, 1, NULL, 0, err, sizeof err) == 0, "%s", err);
  name[255] = 'k', name[256] = '\0';
  snprintf(json, sizeof json, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
           name);
  write_raw(path, json, zeros, 4);
  CHECK(mtlrt_safetensors_load(path, t, 1, NULL, 0, err, sizeof err) < 0 &&
            strstr(err, "a tensor name at byte 1 of the header is longer than 255 bytes"),
        "%s", err);
  t[0].name = "a";

  /* Header lengths: beyond the file, beyond 100 MB, too short. */
  unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
  write_file(path, huge, 16);
  char want[1100];
  snprintf(
      want, sizeof want,
      "%s: not a safetensors file (header length 9223372036854775807 exceeds the file size 16)",
      path);
  CHECK(mtlrt_safetensors_load(path, t, 1, NULL, 0, err, sizeof err) < 0 && strcmp(err, want) == 0,
        "%s", err);
  write_file(path, huge, 5);
  CHECK(mtlrt_safetensors_load(path, t, 1, NULL, 0, err, sizeof err) < 0 && strstr(err, "5 bytes"),
        "%s", err);
  unsigned char big[8] = {0x01, 0xe1, 0xf5, 0x05}; /* 100000001 */
  write_file(path, big, 8);
  CHECK(truncate(path, 100000100) == 0, "truncate");
  CHECK(mtlrt_safetensors_load(path, t, 1, NULL, 0, err, sizeof err) < 0 &&
            strstr(err, "header length 100000001 exceeds the limit of 100000000 bytes"),
        "%s", err);
  unsigned char one[9] = {1, 0, 0, 0, 0, 0, 0, 0, '{'};
  write_file(path, one, 9);
  CHECK(mtlrt_safetensors_load(path, t, 1, NULL, 0, err, sizeof err) < 0 &&
            strstr(err, "header length 1"),
        "%s", err);
  CHECK(unlink(path) == 0, "unlink");
}

/* ---- Truncations and byte flips of a valid file ---- */

static void test_corruption(void) {
  mtlrt_tensor_ref t[ST_FUZZ_N];
  mtlrt_meta meta[ST_FUZZ_NMETA];
  static unsigned char file[4096];
  const char *path = in_dir("fuzz.safetensors"), *cut = in_dir("cut.safetensors");
  st_fuzz_request(t, meta);
  strcpy(meta[0].value, "pt");
  strcpy(meta[1].value, "tiny");
  CHECK(mtlrt_safetensors_save(path, t, ST_FUZZ_N, meta, ST_FUZZ_NMETA, MTLRT_DT_F32, err,
                               sizeof err) == 0,
        "%s", err);
  long size = read_file(path, file, sizeof file);
  CHECK(size > 100, "size %ld", size);
  CHECK(mtlrt_safetensors_load(path, t, ST_FUZZ_N, meta, ST_FUZZ_NMETA, err, sizeof err) == 0, "%s",
        err);

  int bad_ok = 0, good = 0;
  for (long len = 0; len < size; len++) {
    write_file(cut, file, (size_t)len);
    err[0] = '\0';
    int rc = mtlrt_safetensors_load(cut, t, ST_FUZZ_N, meta, ST_FUZZ_NMETA, err, sizeof err);
    bad_ok += rc < 0 && err[0] && !strchr(err, '\n');
    FILE *f = len ? fmemopen(file, (size_t)len, "rb") : NULL;
    if (f) {
      rc = mtlrt_safetensors_fload(f, "mem", t, ST_FUZZ_N, meta, ST_FUZZ_NMETA, err, sizeof err);
      bad_ok += rc < 0 && strncmp(err, "mem: ", 5) == 0;
      fclose(f);
    } else {
      bad_ok++;
    }
  }
  CHECK(bad_ok == 2 * size, "%d of %ld truncations failed cleanly", bad_ok, 2 * size);

  /* Every byte set to a few values: each load must end, in success or a message. */
  static const unsigned char values[] = {0, '"', '\\', ',', ']', '9', 0x80, 0xff};
  for (long i = 0; i < size; i++)
    for (size_t v = 0; v < sizeof values; v++) {
      unsigned char keep = file[i];
      file[i] = values[v];
      FILE *f = fmemopen(file, (size_t)size, "rb");
      err[0] = '\0';
      int rc =
          mtlrt_safetensors_fload(f, "mem", t, ST_FUZZ_N, meta, ST_FUZZ_NMETA, err, sizeof err);
      CHECK(rc == 0 || (err[0] && !strchr(err, '\n')), "byte %ld = %d: rc %d '%s'", i, values[v],
            rc, err);
      good += rc == 0;
      fclose(f);
      file[i] = keep;
    }
  CHECK(good > 0, "some flips (in the data) still load");
}

/* ---- Requests larger than the chunks of the passes ---- */

enum { MANY = 1300 };
static char names[MANY][24];
static float vals[MANY], vals2[MANY];

static void test_many(void) {
  static mtlrt_tensor_ref t[MANY], u[MANY];
  static char json[MANY * 100 + 64];
  const char *path = in_dir("many.safetensors");
  for (int i = 0; i < MANY; i++) {
    snprintf(names[i], sizeof names[i], "layer.%d.weight", i);
    vals[i] = (float)i * 0.5f;
    t[i] = (mtlrt_tensor_ref){names[i], MTLRT_DT_F32, 1, {1}, &vals[i]};
    u[MANY - 1 - i] = (mtlrt_tensor_ref){names[i], MTLRT_DT_F32, 1, {1}, &vals2[i]};
  }
  CHECK(mtlrt_safetensors_save(path, t, MANY, NULL, 0, MTLRT_DT_F32, err, sizeof err) == 0, "%s",
        err);
  CHECK(mtlrt_safetensors_load(path, u, MANY, NULL, 0, err, sizeof err) == 0, "%s", err);
  CHECK(memcmp(vals, vals2, sizeof vals) == 0, "values");

  CHECK(mtlrt_safetensors_load(path, u + 1, MANY - 1, NULL, 0, err, sizeof err) < 0 &&
            strstr(err, "unexpected tensor 'layer.1299.weight'"),
        "%s", err);
  u[0].shape[0] = 2;
  CHECK(mtlrt_safetensors_load(path, u, MANY, NULL, 0, err, sizeof err) < 0 &&
            strstr(err, "'layer.1299.weight' has shape [1], expected [2]"),
        "%s", err);
  u[0].shape[0] = 1;
  u[700].name = "other";
  CHECK(mtlrt_safetensors_load(path, u, MANY, NULL, 0, err, sizeof err) < 0 &&
            strstr(err, "missing tensor 'other'"),
        "%s", err);
  u[700].name = names[MANY - 1 - 700];

  /* Offsets in reverse order are fine; an overlap deep in the sort is found and named. */
  for (int pass = 0; pass < 2; pass++) {
    size_t k = (size_t)snprintf(json, sizeof json, "{");
    for (int i = 0; i < MANY; i++) {
      int slot = MANY - 1 - i;
      int begin = slot * 4 - (pass && i == 1000 ? 2 : 0);
      k += (size_t)snprintf(json + k, sizeof json - k,
                            "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                            i ? "," : "", names[i], begin, begin + 4);
    }
    snprintf(json + k, sizeof json - k, "}");
    static unsigned char data[MANY * 4];
    write_raw(path, json, data, sizeof data);
    int rc = mtlrt_safetensors_load(path, u, MANY, NULL, 0, err, sizeof err);
    if (pass == 0)
      CHECK(rc == 0, "%s", err);
    else
      CHECK(rc < 0 &&
                strstr(err,
                       "tensor 'layer.1000.weight' (data_offsets [1194, 1198]) overlaps tensor "
                       "'layer.1001.weight' ([1192, 1196])"),
            "%s", err);
  }
}

/* ---- Atomic saves ---- */

static void test_atomic(void) {
  static float blob[1 << 18];
  static unsigned char before[4096], after[4096];
  mtlrt_tensor_ref t[1] = {{"w", MTLRT_DT_F32, 1, {4}, blob}};
  char sub[300], path[400];
  snprintf(sub, sizeof sub, "%s/atomic", dir);
  CHECK(mkdir(sub, 0777) == 0, "mkdir");
  snprintf(path, sizeof path, "%s/model.safetensors", sub);
  CHECK(mtlrt_safetensors_save(path, t, 1, NULL, 0, MTLRT_DT_F32, err, sizeof err) == 0, "%s", err);
  long n0 = read_file(path, before, sizeof before);

  /* A write that fails halfway (the file size limit), with the old file in place. */
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 65536;
  signal(SIGXFSZ, SIG_IGN);
  CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
  t[0].shape[0] = 1 << 18;
  CHECK(mtlrt_safetensors_save(path, t, 1, NULL, 0, MTLRT_DT_F32, err, sizeof err) < 0 &&
            strstr(err, "cannot write the file"),
        "%s", err);
  setrlimit(RLIMIT_FSIZE, &old);
  long n1 = read_file(path, after, sizeof after);
  CHECK(n0 == n1 && memcmp(before, after, (size_t)n0) == 0, "the old file changed");
  CHECK(count_dir_entries(sub) == 1, "a temporary file remains: %d entries",
        count_dir_entries(sub));

  /* A rename that fails: the target is a non-empty directory. */
  char target[500], inner[600];
  snprintf(target, sizeof target, "%s/dir.safetensors", sub);
  snprintf(inner, sizeof inner, "%s/keep", target);
  CHECK(mkdir(target, 0777) == 0, "mkdir");
  write_file(inner, "x", 1);
  t[0].shape[0] = 4;
  CHECK(mtlrt_safetensors_save(target, t, 1, NULL, 0, MTLRT_DT_F32, err, sizeof err) < 0 &&
            strstr(err, "cannot write the file"),
        "%s", err);
  CHECK(count_dir_entries(sub) == 2 && count_dir_entries(target) == 1, "leftovers");
  unlink(inner);
  rmdir(target);

  /* A directory we may not write to (root may write anywhere: skipped then). */
  if (geteuid() != 0) {
    CHECK(chmod(sub, 0555) == 0, "chmod");
    CHECK(mtlrt_safetensors_save(path, t, 1, NULL, 0, MTLRT_DT_F32, err, sizeof err) < 0 &&
              strstr(err, "cannot create a temporary file"),
          "%s", err);
    chmod(sub, 0777);
    n1 = read_file(path, after, sizeof after);
    CHECK(n0 == n1 && memcmp(before, after, (size_t)n0) == 0, "the old file changed");
  }
  CHECK(count_dir_entries(sub) == 1, "leftovers");

  /* A directory that does not exist. */
  snprintf(target, sizeof target, "%s/none/model.safetensors", sub);
  CHECK(mtlrt_safetensors_save(target, t, 1, NULL, 0, MTLRT_DT_F32, err, sizeof err) < 0 &&
            strstr(err, "cannot create a temporary file"),
        "%s", err);
  unlink(path);
  rmdir(sub);
}

/* ---- The other modes ---- */

static double arena[1 << 22];

static int copy(int argc, char **argv) {
  static mtlrt_tensor_ref t[512];
  mtlrt_meta meta[2] = {{.key = "format"}, {.key = "model"}};
  mtlrt_dtype real = MTLRT_DT_F32;
  size_t used = 0;
  int n = 0;
  for (int i = 4; i < argc; i++) {
    if (strcmp(argv[i], "--f64") == 0) {
      real = MTLRT_DT_F64;
      continue;
    }
    char *eq = strrchr(argv[i], '='), *colon = eq ? strchr(eq, ':') : NULL;
    if (!colon || n == 512) {
      fprintf(stderr, "bad tensor spec '%s'\n", argv[i]);
      return 2;
    }
    *eq = '\0';
    mtlrt_tensor_ref *r = &t[n++];
    r->name = argv[i];
    r->dtype = strncmp(eq + 1, "f32", 3) == 0   ? MTLRT_DT_F32
               : strncmp(eq + 1, "f64", 3) == 0 ? MTLRT_DT_F64
                                                : MTLRT_DT_I64;
    int64_t count = 1;
    for (char *p = colon + 1; *p && r->rank < MTLRT_MAX_RANK; p += *p == ',') {
      r->shape[r->rank] = strtoll(p, &p, 10);
      count *= r->shape[r->rank++];
    }
    r->data = arena + used;
    used += (size_t)count;
    if (used > sizeof arena / sizeof arena[0]) {
      fprintf(stderr, "tensors too large\n");
      return 2;
    }
  }
  if (mtlrt_safetensors_load(argv[2], t, n, meta, 2, err, sizeof err) ||
      mtlrt_safetensors_save(argv[3], t, n, meta, 2, real, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  return 0;
}

static int seeds(const char *out) {
  mtlrt_tensor_ref t[ST_FUZZ_N], rev[ST_FUZZ_N];
  mtlrt_meta meta[ST_FUZZ_NMETA];
  char path[512];
  st_fuzz_request(t, meta);
  for (int i = 0; i < 18; i++)
    st_fuzz_w[i] = (float)i - 8.5f;
  st_fuzz_b[0] = 0.25, st_fuzz_b[1] = -1e-3;
  st_fuzz_count = 3;
  strcpy(meta[0].value, "pt");
  strcpy(meta[1].value, "fuzz\\\"\xc3\xa9");
  for (int i = 0; i < ST_FUZZ_N; i++)
    rev[i] = t[ST_FUZZ_N - 1 - i];
  struct {
    const char *name;
    const mtlrt_tensor_ref *t;
    int nmeta;
    mtlrt_dtype real;
  } files[] = {{"f32.safetensors", t, 2, MTLRT_DT_F32},
               {"f64.safetensors", t, 2, MTLRT_DT_F64},
               {"reversed_nometa.safetensors", rev, 0, MTLRT_DT_F32}};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", out, files[i].name);
    if (mtlrt_safetensors_save(path, files[i].t, ST_FUZZ_N, meta, files[i].nmeta, files[i].real,
                               err, sizeof err)) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "copy") == 0)
    return copy(argc, argv);
  if (argc == 3 && strcmp(argv[1], "seeds") == 0)
    return seeds(argv[2]);
  if (argc != 1) {
    fprintf(stderr, "usage: %s [copy IN OUT [--f64] NAME=TYPE:DIMS... | seeds DIR]\n", argv[0]);
    return 2;
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/mtlrt-st-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  test_round_trip();
  test_strict();
  test_hostile();
  test_corruption();
  test_many();
  test_atomic();
  int left = count_dir_entries(dir);
  const char *files[] = {"rt.safetensors", "strict.safetensors", "fuzz.safetensors",
                         "cut.safetensors", "many.safetensors"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    unlink(in_dir(files[i]));
  CHECK(rmdir(dir) == 0, "%s: %d entries were left, %s", dir, left, strerror(errno));
  printf("%d checks, %d failures\n", checks, failures);
  return failures != 0;
}
