/* test_vector_kernels.c: the kernels with hand-vectorized paths against plain scalar
 * references, on shapes that cover whole vectors, partial ones and the tails, and on values
 * chosen to find the edge cases: ties, signed zeros, infinities and NaNs.
 *
 *   maxpool2d 2x2 stride 2: the same bits (y) and argmax as the general loop's scan order,
 *   float and double, odd and even widths and heights;
 *   cross_entropy: the loss and gradient against a long double reference, within a few
 *   units in the last place of double, and the same bits for 1 to 4 threads.
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlrt.h"
#include "check.h"

static uint64_t state = 7;
static uint64_t next(void) {
  state = state * 6364136223846793005u + 1442695040888963407u;
  return state >> 11;
}
static double uniform(void) { /* [0, 1) */
  return (double)next() / 9007199254740992.0;
}

/* A pooling input value: mostly from a few values (ties between any of the four in a
 * window), sometimes a signed zero, an infinity or a NaN of either sign, else random. */
static double pool_value(void) {
  static const double few[] = {-1, 0.5, 2, 2, 3};
  uint64_t r = next() % 64;
  if (r < 24)
    return few[r % 5];
  if (r < 28)
    return r & 1 ? -0.0 : 0.0;
  if (r < 30)
    return r & 1 ? -INFINITY : INFINITY;
  if (r < 33)
    return r == 30 ? NAN : r == 31 ? -NAN : nan("0x5");
  return uniform() * 8 - 4;
}

/* The general maxpool loop (pool.inc's maxpool_fwd_range without padding) for a 2x2
 * window with stride 2: the first maximum in row-major order, a NaN always taken. */
#define POOL_REFERENCE(T, name)                                                                  \
  static void name(const mtlrt_pool2d_shape *s, const T *x, T *y, int32_t *argmax) {            \
    for (size_t pl = 0; pl < (size_t)s->n * (size_t)s->c; pl++)                                  \
      for (int oh = 0; oh < s->h_out; oh++)                                                      \
        for (int ow = 0; ow < s->w_out; ow++) {                                                  \
          const T *in = x + pl * (size_t)s->h_in * (size_t)s->w_in;                              \
          T best = -INFINITY;                                                                    \
          int32_t at = 2 * oh * s->w_in + 2 * ow;                                                \
          for (int h = 2 * oh; h < 2 * oh + 2; h++)                                              \
            for (int w = 2 * ow; w < 2 * ow + 2; w++) {                                          \
              T v = in[(size_t)h * (size_t)s->w_in + (size_t)w];                                 \
              if (v > best || v != v)                                                            \
                best = v, at = h * s->w_in + w;                                                  \
            }                                                                                    \
          size_t o = (pl * (size_t)s->h_out + (size_t)oh) * (size_t)s->w_out + (size_t)ow;       \
          y[o] = best, argmax[o] = at;                                                           \
        }                                                                                        \
  }
POOL_REFERENCE(float, pool_reference_f32)
POOL_REFERENCE(double, pool_reference_f64)

/* One shape, float and double: y bit for bit and argmax against the reference. */
static void test_maxpool(int n, int c, int h_in, int w_in) {
  mtlrt_pool2d_shape s = {n, c, h_in, w_in, 0, 0, 2, 2, 2, 2, 0, 0};
  CHECK(mtlrt_pool2d_shape_finish(&s) == 0, "pool shape %dx%dx%dx%d", n, c, h_in, w_in);
  size_t nx = (size_t)n * c * h_in * w_in, ny = (size_t)n * c * s.h_out * s.w_out;
  float *xf = malloc(nx * sizeof *xf), *yf = malloc(ny * sizeof *yf), *rf = malloc(ny * sizeof *rf);
  double *xd = malloc(nx * sizeof *xd), *yd = malloc(ny * sizeof *yd), *rd = malloc(ny * sizeof *rd);
  int32_t *a = malloc(ny * sizeof *a), *ra = malloc(ny * sizeof *ra);
  for (size_t i = 0; i < nx; i++)
    xd[i] = pool_value(), xf[i] = (float)xd[i];

  pool_reference_f32(&s, xf, rf, ra);
  mtlrt_maxpool2d_fwd_f32(&s, xf, yf, a);
  size_t bad = 0;
  while (bad < ny && !memcmp(&yf[bad], &rf[bad], sizeof *yf) && a[bad] == ra[bad])
    bad++;
  CHECK(bad == ny, "maxpool2x2 f32 %dx%dx%dx%d: output %zu is %g at %d, not %g at %d", n, c, h_in, w_in, bad,
        bad < ny ? yf[bad] : 0, bad < ny ? a[bad] : 0, bad < ny ? rf[bad] : 0, bad < ny ? ra[bad] : 0);

  pool_reference_f64(&s, xd, rd, ra);
  mtlrt_maxpool2d_fwd_f64(&s, xd, yd, a);
  bad = 0;
  while (bad < ny && !memcmp(&yd[bad], &rd[bad], sizeof *yd) && a[bad] == ra[bad])
    bad++;
  CHECK(bad == ny, "maxpool2x2 f64 %dx%dx%dx%d: output %zu is %g at %d, not %g at %d", n, c, h_in, w_in, bad,
        bad < ny ? yd[bad] : 0, bad < ny ? a[bad] : 0, bad < ny ? rd[bad] : 0, bad < ny ? ra[bad] : 0);
  free(xf), free(yf), free(rf), free(xd), free(yd), free(rd), free(a), free(ra);
}

/* cross_entropy in long double, as loss.inc describes it: the loss, and the gradient into g. */
static long double ce_reference(int n, int classes, int inner, const double *z, const int32_t *t, int32_t ignore,
                                double eps, long double *g) {
  size_t cnt = 0;
  for (size_t e = 0; e < (size_t)n * inner; e++)
    cnt += t[e] != ignore;
  long double nll = 0, smooth = 0;
  for (int s = 0; s < n; s++)
    for (int i = 0; i < inner; i++) {
      const double *zs = z + (size_t)s * classes * inner + i;
      long double *gs = g + (size_t)s * classes * inner + i;
      int32_t ts = t[(size_t)s * inner + i];
      if (ts == ignore || ts < 0 || ts >= classes) {
        for (int c = 0; c < classes; c++)
          gs[(size_t)c * inner] = 0;
        if (ts != ignore)
          nll = NAN;
        continue;
      }
      long double mx = -INFINITY, sum = 0, zsum = 0;
      for (int c = 0; c < classes; c++)
        mx = zs[(size_t)c * inner] > mx ? zs[(size_t)c * inner] : mx;
      for (int c = 0; c < classes; c++)
        sum += expl(zs[(size_t)c * inner] - mx), zsum += zs[(size_t)c * inner];
      long double lse = mx + logl(sum);
      nll += lse - zs[(size_t)ts * inner];
      smooth += classes * lse - zsum;
      for (int c = 0; c < classes; c++)
        gs[(size_t)c * inner] = (expl(zs[(size_t)c * inner] - mx) / sum - (long double)eps / classes -
                                 (c == ts ? 1 - (long double)eps : 0)) / (long double)cnt;
    }
  return cnt ? ((1 - (long double)eps) * nll + (long double)eps / classes * smooth) / (long double)cnt : 0;
}

/* How far got is from ref, in units of `unit` plus `rel` of |ref|; NaN against NaN is 0. */
static double off(double got, long double ref, double unit, double rel) {
  if (isnan(got) || isnan((double)ref))
    return isnan(got) && isnan((double)ref) ? 0 : INFINITY;
  if (got == ref || isinf(got) || isinf((double)ref))
    return got == ref ? 0 : INFINITY;
  return (double)(fabsl(got - ref) / (unit + rel * fabsl(ref)));
}

/* One shape, float and double, logits uniform in [-scale, scale] with about one element in
 * `ignored` ignored: loss and gradient against the reference (double: within a few units in
 * the last place of the gradient's terms, float: of the float result), and the same bits for
 * 1 to 4 threads. */
static void test_cross_entropy(int n, int classes, int inner, double scale, int ignored, double eps) {
  size_t nz = (size_t)n * classes * inner, nt = (size_t)n * inner;
  double *zd = malloc(nz * sizeof *zd), *gd = malloc(nz * sizeof *gd), *gd1 = malloc(nz * sizeof *gd1);
  float *zf = malloc(nz * sizeof *zf), *gf = malloc(nz * sizeof *gf), *gf1 = malloc(nz * sizeof *gf1);
  long double *ref = malloc(nz * sizeof *ref), *ref32 = malloc(nz * sizeof *ref32);
  int32_t *t = malloc(nt * sizeof *t), ignore = -100;
  for (size_t i = 0; i < nz; i++)
    zf[i] = (float)((uniform() * 2 - 1) * scale), zd[i] = zf[i];
  for (size_t i = 0; i < nt; i++)
    t[i] = ignored && next() % (uint64_t)ignored == 0 ? ignore : (int32_t)(next() % (uint64_t)classes);
  size_t cnt = 0, cnt_ref = 0;
  for (size_t i = 0; i < nt; i++)
    cnt_ref += t[i] != ignore;
  double inv = cnt_ref ? 1.0 / (double)cnt_ref : 0;
  long double loss_ref = ce_reference(n, classes, inner, zd, t, ignore, eps, ref);
  long double loss_ref32 = ce_reference(n, classes, inner, zd, t, ignore, (float)eps, ref32); /* float's smoothing */

  double worst_d = 0, worst_f = 0, ld = 0;
  float lf = 0;
  for (int th = 1; th <= 4; th++) {
    mtlrt_set_threads(th);
    double l = mtlrt_cross_entropy_f64(n, classes, inner, zd, t, ignore, eps, gd, &cnt);
    float l32 = mtlrt_cross_entropy_f32(n, classes, inner, zf, t, ignore, (float)eps, gf, NULL);
    if (th == 1) {
      ld = l, lf = l32;
      memcpy(gd1, gd, nz * sizeof *gd), memcpy(gf1, gf, nz * sizeof *gf);
      for (size_t i = 0; i < nz; i++) {
        double e = off(gd[i], ref[i], 0x1p-52 * inv, 0x1p-52), e32 = off(gf[i], ref32[i], 0x1p-52 * inv, 0x1p-23);
        worst_d = e > worst_d ? e : worst_d, worst_f = e32 > worst_f ? e32 : worst_f;
      }
      continue;
    }
    CHECK(!memcmp(&l, &ld, sizeof l) && !memcmp(gd, gd1, nz * sizeof *gd),
          "cross_entropy f64 %dx%dx%d: %d threads differ from 1", n, classes, inner, th);
    CHECK(!memcmp(&l32, &lf, sizeof l32) && !memcmp(gf, gf1, nz * sizeof *gf),
          "cross_entropy f32 %dx%dx%d: %d threads differ from 1", n, classes, inner, th);
  }
  mtlrt_set_threads(1);
  CHECK(cnt == cnt_ref, "cross_entropy %dx%dx%d: count %zu, not %zu", n, classes, inner, cnt, cnt_ref);
  CHECK(off(ld, loss_ref, 0, 1e-13) <= 1, "cross_entropy f64 %dx%dx%d: loss %.17g, not %.17Lg", n, classes, inner, ld,
        loss_ref);
  CHECK(off(lf, loss_ref32, 0, 0x1p-23) <= 1, "cross_entropy f32 %dx%dx%d: loss %.9g, not %.17Lg", n, classes, inner, lf,
        loss_ref32);
  CHECK(worst_d <= 4, "cross_entropy f64 %dx%dx%d: gradient off by %g ulp", n, classes, inner, worst_d);
  CHECK(worst_f <= 1, "cross_entropy f32 %dx%dx%d: gradient off by %g float ulp", n, classes, inner, worst_f);
  free(zd), free(gd), free(gd1), free(zf), free(gf), free(gf1), free(ref), free(ref32), free(t);
}

/* Logits of every kind of value in a whole vector of positions and in the partial last one
 * (inner 19: 8 + 8 + 3 with AVX-512, 4 * 4 + 3 with AVX2; all scalar without): a NaN makes
 * the loss and its element's gradient NaN; -inf logits have probability 0, +inf makes the
 * element NaN; an id out of range makes the loss NaN, with a zero gradient; all ignored
 * gives 0. */
static void test_cross_entropy_special(void) {
  enum { N = 2, C = 3, I = 19 };
  double z[N * C * I], g[N * C * I];
  int32_t t[N * I];
  for (int e = 0; e < N * C * I; e++)
    z[e] = (double)(e % 7) - 3;
  for (int e = 0; e < N * I; e++)
    t[e] = e % C;
  double l = mtlrt_cross_entropy_f64(N, C, I, z, t, -1, 0, g, NULL);
  CHECK(isfinite(l), "cross_entropy: loss %g", l);
  /* sample 1, class 2 at position 5 (t = 0 there), class 1 at position 17 (t = 2): with
   * smoothing, the loss is +inf (-inf's share in the smoothing term); without, NaN, as
   * 0 times that infinite term */
  z[C * I + 2 * I + 5] = -INFINITY, z[C * I + 1 * I + 17] = -INFINITY;
  l = mtlrt_cross_entropy_f64(N, C, I, z, t, -1, 0.1, g, NULL);
  double smoothing_only = (0 - 0.1 / 3) * (1.0 / (N * I)); /* the gradient of a class of probability 0 */
  CHECK(isinf(l) && l > 0 && g[C * I + 2 * I + 5] == smoothing_only && g[C * I + 1 * I + 17] == smoothing_only &&
            isfinite(g[C * I + 5]) && isfinite(g[C * I + I + 5]),
        "cross_entropy with -inf logits: loss %g, gradient %g %g", l, g[C * I + 2 * I + 5], g[C * I + 1 * I + 17]);
  z[C * I + 2 * I + 5] = z[C * I + 1 * I + 17] = 0;
  for (int at = 0; at < I; at += 9) { /* in the first vector, and in the last one or the tail */
    double keep = z[I + at];
    z[I + at] = NAN; /* sample 0, class 1 */
    l = mtlrt_cross_entropy_f64(N, C, I, z, t, -1, 0, g, NULL);
    CHECK(isnan(l) && isnan(g[at]) && isnan(g[I + at]) && !isnan(g[at + 1]), "cross_entropy NaN at %d: loss %g, gradient %g",
          at, l, g[at]);
    z[I + at] = INFINITY;
    l = mtlrt_cross_entropy_f64(N, C, I, z, t, -1, 0, g, NULL);
    CHECK(isnan(l) && isnan(g[at]) && !isnan(g[at + 1]), "cross_entropy +inf at %d: loss %g, gradient %g", at, l, g[at]);
    z[I + at] = keep;
    t[at] = C;
    l = mtlrt_cross_entropy_f64(N, C, I, z, t, -1, 0, g, NULL);
    CHECK(isnan(l) && g[at] == 0 && g[I + at] == 0 && g[2 * I + at] == 0, "cross_entropy id out of range at %d: loss %g", at,
          l);
    t[at] = -1; /* ignored */
    l = mtlrt_cross_entropy_f64(N, C, I, z, t, -1, 0, g, NULL);
    CHECK(isfinite(l) && g[at] == 0 && g[I + at] == 0, "cross_entropy ignored at %d: loss %g", at, l);
    t[at] = at % C;
  }
  for (int e = 0; e < N * I; e++)
    t[e] = -1;
  size_t cnt = 1;
  l = mtlrt_cross_entropy_f64(N, C, I, z, t, -1, 0.1, g, &cnt);
  int zero = 1;
  for (int e = 0; e < N * C * I; e++)
    zero &= g[e] == 0;
  CHECK(l == 0 && cnt == 0 && zero, "cross_entropy all ignored: loss %g, count %zu", l, cnt);
}

int main(void) {
  /* every width up to past two AVX-512 float vectors of windows; odd and even heights, up to
   * more rows than the narrow ones put in a vector, and a partial vector of rows */
  int heights[] = {2, 3, 4, 5, 7, 10, 15, 17, 35};
  for (int w_in = 2; w_in <= 70; w_in++)
    for (size_t h = 0; h < sizeof heights / sizeof *heights; h++)
      test_maxpool(1 + w_in % 3, 1 + heights[h] % 2, heights[h], w_in);
  /* the models' pools (multifashion, seed_cifar) and larger planes */
  int shapes[][4] = {{8, 10, 28, 28}, {8, 20, 10, 10}, {4, 32, 32, 32}, {4, 64, 16, 16}, {4, 128, 8, 8},
                     {2, 3, 65, 129}, {1, 2, 100, 255}, {3, 5, 31, 33}};
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
    for (int t = 1; t <= 2; t++) {
      mtlrt_set_threads(t);
      test_maxpool(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3]);
    }
  mtlrt_set_threads(1);
  /* n, classes, inner: seed_cifar's two, whole vectors with tails, classes past those kept */
  int ce[][3] = {{64, 2, 1024}, {256, 10, 1}, {5, 3, 7}, {3, 4, 30}, {2, 40, 9}, {7, 1, 13}, {17, 5, 8}, {40, 6, 17}};
  for (size_t i = 0; i < sizeof ce / sizeof *ce; i++) {
    test_cross_entropy(ce[i][0], ce[i][1], ce[i][2], 4, 0, 0);
    test_cross_entropy(ce[i][0], ce[i][1], ce[i][2], 30, 9, 0.1);
  }
  test_cross_entropy(16, 5, 33, 300, 5, 0.05);
  test_cross_entropy_special();
  printf("%d checks, %d failures\n", checks, failures);
  return failures != 0;
}
