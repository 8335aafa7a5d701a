/* test_threads.c: the tiled, multi-threaded convolutions and gemm against direct loops
 * (double; the convolutions in float too), and the same bits for 1, 2, 3 and 4 threads
 * (float); the convolutions fused with a max pool against the separate kernels; and kernels
 * called by several threads side by side, each with its own buffers.
 *
 * The shapes are chosen to cross the tile edges: im2col rows beyond MTLRT_CONV_TILE_K,
 * pixels beyond MTLRT_CONV_TILE_P, strides, padding, dilation, groups and the in-place
 * 1x1 path, and gemm bands that do not divide into the register blocks.
 */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlrt.h"
#include "check.h"

static uint64_t state = 42;
static double draw(void) {
  state = state * 6364136223846793005u + 1442695040888963407u;
  return (double)(state >> 11) / 9007199254740992.0 * 2 - 1;
}

/* n random reals in [-1, 1): floats when f32, else doubles. */
static void *fill(size_t n, int f32) {
  if (f32) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
      p[i] = (float)draw();
    return p;
  }
  double *p = malloc(n * sizeof *p);
  for (size_t i = 0; i < n; i++)
    p[i] = draw();
  return p;
}

/* The input pixel that output (oh, ow) sees through kernel tap (i, j), or -1 outside. */
static long tap(const mtlrt_conv2d_shape *s, int oh, int ow, int i, int j) {
  int ih = oh * s->stride_h - s->pad_top + i * s->dil_h, iw = ow * s->stride_w - s->pad_left + j * s->dil_w;
  return ih < 0 || ih >= s->h_in || iw < 0 || iw >= s->w_in ? -1 : (long)ih * s->w_in + iw;
}

/* Direct conv2d forward, data and weight gradients in double, summed over the taps. */
static void direct(const mtlrt_conv2d_shape *s, const double *x, const double *w, const double *dy,
                   double *y, double *dx, double *dw) {
  int cig = s->c_in / s->groups, cog = s->c_out / s->groups, hw = s->h_in * s->w_in, p = s->h_out * s->w_out;
  memset(dx, 0, sizeof(double) * (size_t)(s->n * s->c_in * hw));
  memset(dw, 0, sizeof(double) * (size_t)(s->c_out * cig * s->k_h * s->k_w));
  for (int n = 0; n < s->n; n++)
    for (int o = 0; o < s->c_out; o++)
      for (int oh = 0; oh < s->h_out; oh++)
        for (int ow = 0; ow < s->w_out; ow++) {
          double sum = 0, g = dy[((size_t)n * s->c_out + o) * p + oh * s->w_out + ow];
          for (int c = 0; c < cig; c++)
            for (int i = 0; i < s->k_h; i++)
              for (int j = 0; j < s->k_w; j++) {
                long at = tap(s, oh, ow, i, j);
                if (at < 0)
                  continue;
                size_t xi = ((size_t)n * s->c_in + (size_t)(o / cog * cig + c)) * hw + (size_t)at;
                size_t wi = (((size_t)o * cig + c) * s->k_h + i) * s->k_w + j;
                sum += w[wi] * x[xi];
                dx[xi] += w[wi] * g;
                dw[wi] += x[xi] * g;
              }
          y[((size_t)n * s->c_out + o) * p + oh * s->w_out + ow] = sum;
        }
}

static double worst(const double *a, const double *b, size_t n) {
  double e = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs(a[i] - b[i]) / fmax(1, fabs(b[i]));
    e = d > e ? d : e;
  }
  return e;
}

static double *widen(const float *f, size_t n) {
  double *d = malloc(n * sizeof *d);
  for (size_t i = 0; i < n; i++)
    d[i] = f[i];
  return d;
}

/* The float kernels' results got[] (y, dx, dw, db) against direct loops in double on the
 * same inputs, to within float rounding (of sums of up to 30 000 terms, in sequence in the
 * portable build): the f32 code has block sizes of its own, so its agreement across thread
 * counts is not enough. */
static void check_f32(const char *name, const mtlrt_conv2d_shape *s, const float *fx, const float *fw,
                      const float *fb, const float *fdy, float *const got[4]) {
  size_t p = (size_t)s->h_out * s->w_out, nx = (size_t)s->n * s->c_in * s->h_in * s->w_in;
  size_t ny = (size_t)s->n * s->c_out * p, nw = (size_t)s->c_out * (s->c_in / s->groups) * s->k_h * s->k_w;
  double *x = widen(fx, nx), *w = widen(fw, nw), *dy = widen(fdy, ny), *ref[4], *out[4];
  size_t len[4] = {ny, nx, nw, (size_t)s->c_out};
  for (int k = 0; k < 4; k++)
    ref[k] = calloc(len[k], sizeof(double)), out[k] = widen(got[k], len[k]);
  direct(s, x, w, dy, ref[0], ref[1], ref[2]);
  for (size_t i = 0; i < ny; i++) {
    ref[0][i] += fb[i / p % (size_t)s->c_out];
    ref[3][i / p % (size_t)s->c_out] += dy[i];
  }
  static const char *what[4] = {"y", "dx", "dw", "db"};
  for (int k = 0; k < 4; k++) {
    CHECK(worst(out[k], ref[k], len[k]) < 1e-3, "%s: float %s off by %g", name, what[k], worst(out[k], ref[k], len[k]));
    free(ref[k]), free(out[k]);
  }
  free(x), free(w), free(dy);
}

static void test_conv(const char *name, mtlrt_conv2d_shape s) {
  CHECK(mtlrt_conv2d_shape_finish(&s) == 0, "%s: shape", name);
  size_t nx = (size_t)s.n * s.c_in * s.h_in * s.w_in, ny = (size_t)s.n * s.c_out * s.h_out * s.w_out;
  size_t nw = (size_t)s.c_out * (s.c_in / s.groups) * s.k_h * s.k_w, ns = mtlrt_conv2d_scratch(&s);
  double *x = fill(nx, 0), *w = fill(nw, 0), *dy = fill(ny, 0), *scratch = fill(ns, 0);
  double *y = fill(ny, 0), *dx = fill(nx, 0), *dw = fill(nw, 0), *ry = fill(ny, 0), *rdx = fill(nx, 0),
         *rdw = fill(nw, 0);
  direct(&s, x, w, dy, ry, rdx, rdw);
  mtlrt_set_threads(2);
  mtlrt_conv2d_fwd_f64(&s, x, w, NULL, y, scratch);
  for (int both = 0; both < 2; both++) { /* dx and dw apart, then in one call */
    for (size_t i = 0; i < nx; i++) /* nothing left from the last round */
      dx[i] = 1e30;
    for (size_t i = 0; i < nw; i++)
      dw[i] = 1e30;
    if (both)
      mtlrt_conv2d_bwd_f64(&s, x, w, dy, dx, dw, NULL, scratch);
    else {
      mtlrt_conv2d_bwd_f64(&s, NULL, w, dy, dx, NULL, NULL, scratch);
      mtlrt_conv2d_bwd_f64(&s, x, NULL, dy, NULL, dw, NULL, scratch);
    }
    CHECK(worst(y, ry, ny) < 1e-12, "%s: y off by %g", name, worst(y, ry, ny));
    CHECK(worst(dx, rdx, nx) < 1e-12, "%s: dx off by %g (both %d)", name, worst(dx, rdx, nx), both);
    CHECK(worst(dw, rdw, nw) < 1e-12, "%s: dw off by %g (both %d)", name, worst(dw, rdw, nw), both);
  }

  /* float: the same bits for every thread count */
  float *fx = fill(nx, 1), *fw = fill(nw, 1), *fb = fill((size_t)s.c_out, 1), *fdy = fill(ny, 1);
  float *fs = fill(ns, 1), *out[4][4];
  for (int t = 1; t <= 4; t++) {
    float **o = out[t - 1];
    o[0] = fill(ny, 1), o[1] = fill(nx, 1), o[2] = fill(nw, 1), o[3] = fill((size_t)s.c_out, 1);
    mtlrt_set_threads(t);
    mtlrt_conv2d_fwd_f32(&s, fx, fw, fb, o[0], fs);
    mtlrt_conv2d_bwd_f32(&s, fx, fw, fdy, o[1], o[2], o[3], fs);
    if (t == 1)
      check_f32(name, &s, fx, fw, fb, fdy, o);
    else
      CHECK(!memcmp(o[0], out[0][0], ny * sizeof(float)) && !memcmp(o[1], out[0][1], nx * sizeof(float)) &&
                !memcmp(o[2], out[0][2], nw * sizeof(float)) && !memcmp(o[3], out[0][3], (size_t)s.c_out * sizeof(float)),
            "%s: %d threads differ from 1", name, t);
  }
  for (int t = 0; t < 4; t++)
    for (int k = 0; k < 4; k++)
      free(out[t][k]);
  free(fx), free(fw), free(fb), free(fdy), free(fs);
  free(x), free(w), free(dy), free(scratch), free(y), free(dx), free(dw), free(ry), free(rdx), free(rdw);
}

static void test_gemm(int ta, int tb, int m, int n, int k) {
  int lda = ta ? m : k, ldb = tb ? k : n;
  float *a = fill((size_t)m * k, 1), *b = fill((size_t)k * n, 1), *c0 = fill((size_t)m * n, 1), *c[4];
  double *ad = fill((size_t)m * k, 0), *bd = fill((size_t)k * n, 0), *cd = fill((size_t)m * n, 0);
  for (int t = 1; t <= 4; t++) {
    c[t - 1] = malloc((size_t)m * n * sizeof(float));
    memcpy(c[t - 1], c0, (size_t)m * n * sizeof(float));
    mtlrt_set_threads(t);
    mtlrt_gemm_f32(ta, tb, m, n, k, 1, a, lda, b, ldb, 0.5f, c[t - 1], n);
    if (t > 1)
      CHECK(!memcmp(c[t - 1], c[0], (size_t)m * n * sizeof(float)), "gemm %d%d %dx%dx%d: %d threads differ", ta, tb, m, n, k, t);
  }
  double e = 0;
  mtlrt_gemm_f64(ta, tb, m, n, k, 1, ad, lda, bd, ldb, 0, cd, n);
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double ref = 0;
      for (int p = 0; p < k; p++)
        ref += (ta ? ad[(size_t)p * lda + i] : ad[(size_t)i * lda + p]) * (tb ? bd[(size_t)j * ldb + p] : bd[(size_t)p * ldb + j]);
      e = fmax(e, fabs(ref - cd[(size_t)i * n + j]));
    }
  CHECK(e < 1e-11, "gemm %d%d %dx%dx%d: off by %g", ta, tb, m, n, k, e);
  for (int t = 0; t < 4; t++)
    free(c[t]);
  free(a), free(b), free(c0), free(ad), free(bd), free(cd);
}

/* The conv2d_pool kernels (a convolution fused with [relu and] the max pool after it)
 * against the separate kernels in double, and the same bits for 1 to 4 threads (float). */
static void test_conv_pool(const char *name, mtlrt_conv2d_shape s, mtlrt_pool2d_shape p, int relu) {
  CHECK(mtlrt_conv2d_shape_finish(&s) == 0, "%s: shape", name);
  p.n = s.n, p.c = s.c_out, p.h_in = s.h_out, p.w_in = s.w_out;
  CHECK(mtlrt_pool2d_shape_finish(&p) == 0, "%s: pool shape", name);
  size_t nx = (size_t)s.n * s.c_in * s.h_in * s.w_in, ny = (size_t)s.n * s.c_out * s.h_out * s.w_out;
  size_t np = (size_t)s.n * p.c * p.h_out * p.w_out, nw = (size_t)s.c_out * (s.c_in / s.groups) * s.k_h * s.k_w;
  size_t ns = mtlrt_conv2d_pool_scratch(&s), nb = (size_t)s.c_out;
  double *x = fill(nx, 0), *w = fill(nw, 0), *b = fill(nb, 0), *dp = fill(np, 0), *scratch = fill(ns, 0);
  double *y = fill(ny, 0), *r = fill(ny, 0), *dr = fill(ny, 0), *dy = fill(ny, 0);
  double *ref[4] = {fill(np, 0), fill(nx, 0), fill(nw, 0), fill(nb, 0)}, *got[4] = {fill(np, 0), fill(nx, 0), fill(nw, 0), fill(nb, 0)};
  int32_t *argmax = malloc(np * sizeof *argmax);
  mtlrt_set_threads(2);
  mtlrt_conv2d_fwd_f64(&s, x, w, b, y, scratch); /* the separate kernels */
  if (relu)
    mtlrt_relu_fwd_f64(ny, y, r);
  mtlrt_maxpool2d_fwd_f64(&p, relu ? r : y, ref[0], argmax);
  mtlrt_maxpool2d_bwd_f64(&p, argmax, dp, relu ? dr : dy);
  if (relu)
    mtlrt_relu_bwd_f64(ny, y, r, dr, dy);
  mtlrt_conv2d_bwd_f64(&s, NULL, w, dy, ref[1], NULL, NULL, scratch);
  mtlrt_conv2d_bwd_f64(&s, x, NULL, dy, NULL, ref[2], ref[3], scratch);
  mtlrt_conv2d_pool_fwd_f64(&s, &p, relu, x, w, b, got[0], argmax, scratch);
  size_t len[4] = {np, nx, nw, nb};
  const char *what[4] = {"y", "dx", "dw", "db"};
  for (int both = 0; both < 2; both++) { /* dx and dw apart, then in one call */
    for (int k = 1; k < 4; k++) /* nothing left from the last round */
      for (size_t i = 0; i < len[k]; i++)
        got[k][i] = 1e30;
    if (both)
      mtlrt_conv2d_pool_bwd_f64(&s, &p, relu, x, w, got[0], argmax, dp, got[1], got[2], got[3], scratch);
    else {
      mtlrt_conv2d_pool_bwd_f64(&s, &p, relu, NULL, w, got[0], argmax, dp, got[1], NULL, NULL, scratch);
      mtlrt_conv2d_pool_bwd_f64(&s, &p, relu, x, NULL, got[0], argmax, dp, NULL, got[2], got[3], scratch);
    }
    for (int k = 0; k < 4; k++)
      CHECK(worst(got[k], ref[k], len[k]) < 1e-12, "%s: fused %s off by %g (both %d)", name, what[k],
            worst(got[k], ref[k], len[k]), both);
  }

  float *fx = fill(nx, 1), *fw = fill(nw, 1), *fb = fill(nb, 1), *fdp = fill(np, 1), *fs = fill(ns, 1), *out[4][4];
  int32_t *fa = malloc(np * sizeof *fa);
  for (int t = 1; t <= 4; t++) {
    float **o = out[t - 1];
    o[0] = fill(np, 1), o[1] = fill(nx, 1), o[2] = fill(nw, 1), o[3] = fill(nb, 1);
    mtlrt_set_threads(t);
    mtlrt_conv2d_pool_fwd_f32(&s, &p, relu, fx, fw, fb, o[0], fa, fs);
    mtlrt_conv2d_pool_bwd_f32(&s, &p, relu, fx, fw, o[0], fa, fdp, o[1], o[2], o[3], fs);
    for (int k = 0; t > 1 && k < 4; k++)
      CHECK(!memcmp(o[k], out[0][k], len[k] * sizeof(float)), "%s: fused %s: %d threads differ from 1", name, what[k], t);
  }
  for (int t = 0; t < 4; t++)
    for (int k = 0; k < 4; k++)
      free(out[t][k]);
  for (int k = 0; k < 4; k++)
    free(ref[k]), free(got[k]);
  free(fx), free(fw), free(fb), free(fdp), free(fs), free(fa), free(argmax);
  free(x), free(w), free(b), free(dp), free(scratch), free(y), free(r), free(dr), free(dy);
}

/* One caller of several running side by side: the same convolution (the dot and direct
 * forms, which use the buffers) over and over, its weight gradient compared bit for bit
 * with the one computed alone. */
typedef struct {
  mtlrt_conv2d_shape s;
  const float *x, *dy, *expect;
  size_t nw;
  int ok;
} caller_job;

static void *caller(void *arg) {
  caller_job *c = arg;
  float *dw = fill(c->nw, 1), *y = fill((size_t)c->s.n * c->s.c_out * c->s.h_out * c->s.w_out, 1);
  float *scratch = fill(mtlrt_conv2d_scratch(&c->s), 1);
  c->ok = 1;
  for (int r = 0; r < 20; r++) {
    mtlrt_conv2d_fwd_f32(&c->s, c->x, c->dy, NULL, y, scratch); /* weights: any values */
    mtlrt_conv2d_bwd_f32(&c->s, c->x, NULL, c->dy, NULL, dw, NULL, scratch);
    c->ok &= !memcmp(dw, c->expect, c->nw * sizeof(float));
  }
  free(dw), free(y), free(scratch);
  return NULL;
}

static void test_side_by_side(void) {
  mtlrt_conv2d_shape s = {8, 6, 20, 20, 12, 0, 0, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1};
  CHECK(mtlrt_conv2d_shape_finish(&s) == 0, "side by side: shape");
  size_t nx = (size_t)s.n * s.c_in * s.h_in * s.w_in, ny = (size_t)s.n * s.c_out * s.h_out * s.w_out;
  size_t nw = (size_t)s.c_out * s.c_in * s.k_h * s.k_w;
  float *x = fill(nx, 1), *dy = fill(ny > nw ? ny : nw, 1), *expect = fill(nw, 1), *scratch = fill(mtlrt_conv2d_scratch(&s), 1);
  mtlrt_set_threads(1);
  mtlrt_conv2d_bwd_f32(&s, x, NULL, dy, NULL, expect, NULL, scratch);
  enum { CALLERS = 4 };
  pthread_t id[CALLERS];
  caller_job jobs[CALLERS];
  for (int i = 0; i < CALLERS; i++) {
    jobs[i] = (caller_job){s, x, dy, expect, nw, 0};
    CHECK(pthread_create(&id[i], NULL, caller, &jobs[i]) == 0, "side by side: thread %d", i);
  }
  for (int i = 0; i < CALLERS; i++) {
    pthread_join(id[i], NULL);
    CHECK(jobs[i].ok, "side by side: caller %d computed a different weight gradient", i);
  }
  free(x), free(dy), free(expect), free(scratch);
}

int main(void) {
  /* n, c_in, h_in, w_in, c_out, (h_out, w_out), k_h, k_w, stride, pads, dil, groups */
  test_conv("3x3 pad 1, 288 rows, 400 pixels", (mtlrt_conv2d_shape){3, 32, 20, 20, 24, 0, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  test_conv("5x5 stride 2, uneven pads", (mtlrt_conv2d_shape){2, 12, 37, 35, 10, 0, 0, 5, 5, 2, 2, 2, 1, 1, 2, 1, 1, 1});
  test_conv("3x3 dil 2, groups 2", (mtlrt_conv2d_shape){2, 8, 19, 23, 6, 0, 0, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 2});
  test_conv("1x1 in place, 300 rows", (mtlrt_conv2d_shape){3, 300, 17, 17, 20, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1});
  test_conv("9x9 valid (wide), 1000 wide pixels", (mtlrt_conv2d_shape){5, 1, 36, 36, 10, 0, 0, 9, 9, 1, 1, 0, 0, 0, 0, 1, 1, 1});
  test_conv("5x5 valid (wide), 2 groups of samples, 21 channels", (mtlrt_conv2d_shape){40, 10, 14, 14, 21, 0, 0, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1});
  test_conv("9x9 valid (wide), 40 channels, samples in groups of 1", (mtlrt_conv2d_shape){40, 1, 36, 36, 40, 0, 0, 9, 9, 1, 1, 0, 0, 0, 0, 1, 1, 1});
  test_conv("5x5 valid (wide), 86 wide pixels: a last direct block of one vector",
            (mtlrt_conv2d_shape){3, 4, 13, 10, 7, 0, 0, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1});
  test_conv("3x3 valid (wide), dil 2, groups 2, 288 rows", (mtlrt_conv2d_shape){2, 64, 13, 19, 6, 0, 0, 3, 3, 1, 1, 0, 0, 0, 0, 2, 2, 2});
  /* pools: n, c, h_in, w_in (from the conv), (h_out, w_out), k_h, k_w, stride, pad */
  test_conv_pool("9x9 valid (direct), 2x2 pool, relu", (mtlrt_conv2d_shape){20, 1, 36, 36, 10, 0, 0, 9, 9, 1, 1, 0, 0, 0, 0, 1, 1, 1},
                 (mtlrt_pool2d_shape){0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 0, 0}, 1);
  test_conv_pool("7x7 valid (sparse weights), 2x2 pool, relu", (mtlrt_conv2d_shape){9, 1, 30, 30, 7, 0, 0, 7, 7, 1, 1, 0, 0, 0, 0, 1, 1, 1},
                 (mtlrt_pool2d_shape){0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 0, 0}, 1);
  test_conv_pool("7x7 valid, 3 channels (sparse weights, 21 kernel rows: two sets of accumulators), 2x2 pool, relu",
                 (mtlrt_conv2d_shape){6, 3, 40, 40, 6, 0, 0, 7, 7, 1, 1, 0, 0, 0, 0, 1, 1, 1},
                 (mtlrt_pool2d_shape){0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 0, 0}, 1);
  test_conv_pool("5x5 pad 2 (sparse weights, walked), 3x3 pool stride 3 pad 1", (mtlrt_conv2d_shape){5, 2, 24, 24, 6, 0, 0, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1},
                 (mtlrt_pool2d_shape){0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 1, 1}, 0);
  test_conv_pool("5x5 valid (dot weights, direct data gradient), 2x2 pool, relu",
                 (mtlrt_conv2d_shape){20, 10, 14, 14, 20, 0, 0, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1},
                 (mtlrt_pool2d_shape){0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 0, 0}, 1);
  test_conv_pool("5x5 pad 1 (walked; dot weights, direct data gradient), overlapping 2x2 pool stride 1",
                 (mtlrt_conv2d_shape){6, 8, 14, 14, 20, 0, 0, 5, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                 (mtlrt_pool2d_shape){0, 0, 0, 0, 0, 0, 2, 2, 1, 1, 0, 0}, 0);
  test_conv_pool("3x3 pad 1 (gemm weights), 3x3 pool stride 2 pad 1", (mtlrt_conv2d_shape){6, 12, 12, 12, 64, 0, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                 (mtlrt_pool2d_shape){0, 0, 0, 0, 0, 0, 3, 3, 2, 2, 1, 1}, 0);
  test_conv_pool("3x3 pad 1 (Winograd), 3x3 pool stride 2 pad 1", (mtlrt_conv2d_shape){6, 32, 12, 12, 64, 0, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                 (mtlrt_pool2d_shape){0, 0, 0, 0, 0, 0, 3, 3, 2, 2, 1, 1}, 0);
  test_conv_pool("3x3 pad 1 (Winograd, blocks of 4 samples, the last partial), 2x2 pool, relu",
                 (mtlrt_conv2d_shape){7, 16, 8, 8, 24, 0, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                 (mtlrt_pool2d_shape){0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 0, 0}, 1);
  test_conv_pool("3x3 pad 2 (Winograd data gradient of 36 x 36 planes, read from the pool's gradient), 2x2 pool, relu",
                 (mtlrt_conv2d_shape){2, 16, 34, 34, 16, 0, 0, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1, 1},
                 (mtlrt_pool2d_shape){0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 0, 0}, 1);
  test_conv_pool("groups 2 stride 2 (gemm), 2x1 pool, relu", (mtlrt_conv2d_shape){5, 4, 11, 9, 6, 0, 0, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 2},
                 (mtlrt_pool2d_shape){0, 0, 0, 0, 0, 0, 2, 1, 2, 1, 0, 0}, 1);
  int sizes[][3] = {{1, 1, 1}, {13, 33, 7}, {37, 70, 300}, {128, 10, 64}, {32, 256, 64}, {300, 5, 513},
                    {64, 128, 2048}, {100, 77, 700}}; /* the last two in parallel, in units that threads take over */
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
    for (int t = 0; t < 4; t++)
      test_gemm(t & 1, t >> 1, sizes[i][0], sizes[i][1], sizes[i][2]);
  test_side_by_side();
  printf("%d checks, %d failures\n", checks, failures);
  return failures != 0;
}
