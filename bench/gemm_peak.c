/* gemm_peak.c: the single-core FMA peak of this CPU in float (independent vector FMAs in
 * registers, with the vectors libmtlrt's kernels use), and libmtlrt's GEMM on the shapes of
 * the convolutions and dense layers of the spec's models, as GFLOP/s and as a share of that
 * peak. Best of 5 runs of each.
 *
 *   cc -std=c11 -O3 -march=native -Iruntime/include bench/gemm_peak.c build/runtime/libmtlrt.a -lm
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtlrt.h"

#define REAL float
#define MTLRT_SIMD_F32
#include "../runtime/kernels/simd.inc"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* 16 independent chains of vector FMAs: enough to cover the FMA latency on every target. */
static double peak_gflops(void) {
  enum { CHAINS = 16 };
  VEC acc[CHAINS], a = V_SET1(1.0000001f), b = V_SET1(0.9999999f);
  for (int c = 0; c < CHAINS; c++)
    acc[c] = V_SET1((float)c);
  long iters = 20000000;
  double start = now();
  for (long i = 0; i < iters; i++)
#pragma GCC unroll 16
    for (int c = 0; c < CHAINS; c++)
      acc[c] = V_FMA(acc[c], a, b);
  double secs = now() - start;
  float sink[VLEN], total = 0;
  for (int c = 0; c < CHAINS; c++) {
    V_STORE(sink, acc[c]);
    total += sink[0];
  }
  if (total == 42) /* keeps the loop */
    puts("");
  return 2.0 * VLEN * CHAINS * (double)iters / secs / 1e9;
}

static double gemm_gflops(int ta, int tb, int m, int n, int k) {
  float *a = malloc(sizeof *a * (size_t)m * (size_t)k), *b = malloc(sizeof *b * (size_t)k * (size_t)n);
  float *c = malloc(sizeof *c * (size_t)m * (size_t)n);
  for (long i = 0; i < (long)m * k; i++)
    a[i] = (float)(i % 7) * 0.1f;
  for (long i = 0; i < (long)k * n; i++)
    b[i] = (float)(i % 5) * 0.1f;
  int reps = (int)(2e9 / (2.0 * m * n * k)) + 1;
  double best = 1e30;
  for (int run = 0; run < 5; run++) {
    double start = now();
    for (int r = 0; r < reps; r++)
      mtlrt_gemm_f32(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 0, c, n);
    double secs = (now() - start) / reps;
    best = secs < best ? secs : best;
  }
  free(a);
  free(b);
  free(c);
  return 2.0 * m * n * k / best / 1e9;
}

int main(void) {
  double peak = 0;
  for (int run = 0; run < 5; run++) {
    double p = peak_gflops();
    peak = p > peak ? p : peak;
  }
  printf("simd %s, float FMA peak of one core: %.1f GFLOP/s\n\n", MTLRT_SIMD_NAME, peak);
  static const struct {
    const char *what;
    int ta, tb, m, n, k;
  } shapes[] = {
      {"fashion_cls_seg seg conv, forward (per sample)", 0, 0, 32, 324, 864},
      {"fashion_cls_seg seg conv, weight gradient (per sample)", 0, 1, 32, 864, 324},
      {"fashion_cls_seg seg conv, data gradient (per sample)", 1, 0, 864, 324, 32},
      {"seed_cifar conv 2, forward (per sample)", 0, 0, 64, 256, 288},
      {"seed_cifar conv 3, forward (per sample)", 0, 0, 128, 64, 576},
      {"tabular dense 256x256, batch 32, forward", 0, 1, 32, 256, 256},
      {"square 512", 0, 0, 512, 512, 512},
  };
  printf("| shape | op(A) m x k, op(B) k x n | GFLOP/s | of peak |\n|---|---|---|---|\n");
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
    double g = gemm_gflops(shapes[i].ta, shapes[i].tb, shapes[i].m, shapes[i].n, shapes[i].k);
    printf("| %s | %d x %d, %d x %d%s%s | %.1f | %.0f%% |\n", shapes[i].what, shapes[i].m, shapes[i].k, shapes[i].k,
           shapes[i].n, shapes[i].ta ? " (A^T)" : "", shapes[i].tb ? " (B^T)" : "", g, 100 * g / peak);
  }
  return 0;
}
