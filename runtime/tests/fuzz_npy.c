/* fuzz_npy.c: libFuzzer target for libmtlrt's NPY reader and writer. It includes io/npy.c
 * to reach check_npy(), which mtlrt_npy_open() runs on the mapped file, so that each input
 * is checked straight from the fuzzer's buffer (where ASan sees any read past its end). An
 * input must end in success or a one-line message naming the file, never in a crash, a hang
 * or undefined behaviour. A file that passes must describe exactly the buffer (its data ends
 * where the input ends), every row must gather into each type, and the writer must write it
 * again, through a real file and mtlrt_npy_open(), with the same type, shape and bytes.
 */
#define _POSIX_C_SOURCE 200809L

#include "../io/npy.c"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static char path[4096];

static void cleanup(void) { unlink(path); }

static void rewrite(const mtlrt_npy *a, size_t bytes) {
  char err[512];
  mtlrt_npy_writer w;
  mtlrt_npy b;
  if (!path[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/fuzz_npy.%ld.npy", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    atexit(cleanup);
  }
  if (mtlrt_npy_create(&w, path, a->type, a->rank, a->shape, err, sizeof err) ||
      mtlrt_npy_append(&w, a->data, a->count, err, sizeof err) ||
      mtlrt_npy_commit(&w, err, sizeof err) || mtlrt_npy_open(path, &b, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    __builtin_trap(); /* a file we accepted can be written again */
  }
  if (b.type != a->type || b.rank != a->rank || b.count != a->count ||
      memcmp(b.shape, a->shape, sizeof b.shape) != 0 ||
      (bytes && memcmp(b.data, a->data, bytes) != 0) ||
      (b.data - (const unsigned char *)b.map) % 64 != 0)
    __builtin_trap(); /* the same array, its data aligned to 64 bytes */
  mtlrt_npy_close(&b);
  unlink(path);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  static float f[4096];
  static double d[4096];
  static int32_t i32[4096];
  static int64_t rows[4096];
  char err[512];
  mtlrt_npy a;
  int rc = check_npy("fuzz", size ? data : (const unsigned char *)"", size, &a, err, sizeof err);
  if (rc != 0) {
    if (strncmp(err, "fuzz: ", 6) != 0 || strchr(err, '\n'))
      __builtin_trap(); /* every failure has a one-line message naming the file */
    return 0;
  }
  size_t bytes = (size_t)a.count * types[a.type].size;
  if (a.data + bytes != data + size || a.rank < 0 || a.rank > MTLRT_MAX_RANK)
    __builtin_trap();
  int64_t n = a.rank ? a.shape[0] : 1, row_elems = n ? a.count / n : 0;
  if (n <= 4096 && a.count <= 4096) {
    for (int64_t r = 0; r < n; r++)
      rows[r] = n - 1 - r;
    mtlrt_npy_gather_f32(&a, rows, (int)n, row_elems, 1.0f / 255, f);
    mtlrt_npy_gather_f64(&a, rows, (int)n, row_elems, 1.0 / 255, d);
    mtlrt_npy_gather_i32(&a, rows, (int)n, row_elems, i32);
  }
  rewrite(&a, bytes);
  return 0;
}
