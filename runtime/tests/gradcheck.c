/* gradcheck.c: finite-difference checks, in double, of every backward kernel of
 * libmtlrt. Each case projects a kernel's output onto fixed random weights r, so the
 * objective is L = sum(r * f(x)); the backward kernel called with dy = r must match
 * central differences of L in every input and parameter. Inputs are chosen away from
 * kinks (ReLU at 0, ties in max pooling, |d| = delta in Huber). It also checks gemm
 * against a naive product and a few forward-only properties (loss with nothing
 * labelled, dropout's mask and scaling). Prints one line per check and exits non-zero
 * when any relative error exceeds 1e-6.
 */
#include "mtlrt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-6
#define STEP 1e-5

static int failures;
static double worst;

static uint64_t rng_state = 12345;

static double uniform(double lo, double hi) {
  rng_state = rng_state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
  return lo + (hi - lo) * (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

static double *rand_array(size_t n, double lo, double hi) {
  double *a = malloc((n ? n : 1) * sizeof *a);
  for (size_t i = 0; i < n; i++)
    a[i] = uniform(lo, hi);
  return a;
}

/* Values in +-[0.05, 1]: away from the kinks at 0. */
static double *rand_away_from_zero(size_t n) {
  double *a = rand_array(n, 0.05, 1);
  for (size_t i = 0; i < n; i++)
    if (uniform(0, 1) < 0.5)
      a[i] = -a[i];
  return a;
}

static double *zeros(size_t n) {
  return calloc(n ? n : 1, sizeof(double));
}

static double dot(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += a[i] * b[i];
  return s;
}

static void report(const char *name, double err) {
  int bad = !(err <= TOL);
  printf("%-34s rel err %.2e%s\n", name, err, bad ? "  FAIL" : "");
  failures += bad;
  if (!(err <= worst))
    worst = err;
}

/* Compares analytic[] with central differences of f() in each x[i]. */
static void fd_check(const char *name, double *x, size_t n, const double *analytic,
                     double (*f)(void)) {
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < n; i++) {
    double old = x[i];
    x[i] = old + STEP;
    double lp = f();
    x[i] = old - STEP;
    double lm = f();
    x[i] = old;
    double num = (lp - lm) / (2 * STEP);
    double diff = fabs(num - analytic[i]);
    if (!(diff <= max_diff))
      max_diff = diff;
    if (fabs(num) > max_ref)
      max_ref = fabs(num);
  }
  report(name, max_diff / (max_ref > 0 ? max_ref : 1));
}

/* Shared state of the case being checked (one case at a time). */
static double *gx, *gw, *gb, *gy, *gr, *gs1, *gs2, *gscratch;
static int32_t *gt;
static size_t gn, gny;
static int gi[8];
static double gd[4];
static mtlrt_conv2d_shape gcs;
static mtlrt_pool2d_shape gps;

/* ---- gemm ---- */

static void test_gemm(void) {
  int m = 5, n = 7, k = 4;
  double max_err = 0;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      double *a = rand_array((size_t)(m * k), -1, 1), *b = rand_array((size_t)(k * n), -1, 1);
      double *c = rand_array((size_t)(m * n), -1, 1), *ref = malloc((size_t)(m * n) * sizeof *ref);
      for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
          double s = 0;
          for (int p = 0; p < k; p++)
            s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
          ref[i * n + j] = 0.5 * s - 2 * c[i * n + j];
        }
      mtlrt_gemm_f64(ta, tb, m, n, k, 0.5, a, ta ? m : k, b, tb ? k : n, -2, c, n);
      for (int i = 0; i < m * n; i++)
        if (fabs(c[i] - ref[i]) > max_err)
          max_err = fabs(c[i] - ref[i]);
      free(a), free(b), free(c), free(ref);
    }
  report("gemm (all transposes) vs naive", max_err);
}

/* ---- dense ---- */

static double f_dense(void) {
  mtlrt_dense_fwd_f64(gi[0], gi[1], gi[2], gx, gw, gb, gy);
  return dot(gr, gy, gny);
}

static void test_dense(void) {
  int rows = 4, in = 5, out = 3;
  gi[0] = rows, gi[1] = in, gi[2] = out;
  gx = rand_array((size_t)(rows * in), -1, 1), gw = rand_array((size_t)(out * in), -1, 1);
  gb = rand_array((size_t)out, -1, 1);
  gny = (size_t)(rows * out), gy = zeros(gny), gr = rand_array(gny, -1, 1);
  double *dx = zeros((size_t)(rows * in)), *dw = zeros((size_t)(out * in)),
         *db = zeros((size_t)out);
  mtlrt_dense_bwd_f64(rows, in, out, gx, gw, gr, dx, dw, db);
  fd_check("dense dx", gx, (size_t)(rows * in), dx, f_dense);
  fd_check("dense dw", gw, (size_t)(out * in), dw, f_dense);
  fd_check("dense db", gb, (size_t)out, db, f_dense);
  free(gx), free(gw), free(gb), free(gy), free(gr), free(dx), free(dw), free(db);
}

/* ---- activations ---- */

static int act_kind;

static void act_fwd(const double *x, double *y) {
  switch (act_kind) {
  case 0: mtlrt_relu_fwd_f64(gn, x, y); break;
  case 1: mtlrt_leaky_relu_fwd_f64(gn, 0.1, x, y); break;
  case 2: mtlrt_sigmoid_fwd_f64(gn, x, y); break;
  case 3: mtlrt_tanh_fwd_f64(gn, x, y); break;
  default: mtlrt_gelu_fwd_f64(gn, x, y); break;
  }
}

static double f_act(void) {
  act_fwd(gx, gy);
  return dot(gr, gy, gn);
}

static void test_activations(void) {
  static const char *names[] = {"relu dx", "leaky_relu dx", "sigmoid dx", "tanh dx", "gelu dx"};
  gn = 64;
  for (act_kind = 0; act_kind < 5; act_kind++) {
    gx = rand_away_from_zero(gn);
    for (size_t i = 0; i < gn; i++)
      gx[i] *= 3;
    gy = zeros(gn), gr = rand_array(gn, -1, 1);
    double *dx = zeros(gn);
    act_fwd(gx, gy);
    switch (act_kind) {
    case 0: mtlrt_relu_bwd_f64(gn, gx, gy, gr, dx); break;
    case 1: mtlrt_leaky_relu_bwd_f64(gn, 0.1, gx, gy, gr, dx); break;
    case 2: mtlrt_sigmoid_bwd_f64(gn, gx, gy, gr, dx); break;
    case 3: mtlrt_tanh_bwd_f64(gn, gx, gy, gr, dx); break;
    default: mtlrt_gelu_bwd_f64(gn, gx, gy, gr, dx); break;
    }
    fd_check(names[act_kind], gx, gn, dx, f_act);
    free(gx), free(gy), free(gr), free(dx);
  }
}

/* ---- softmax ---- */

static double f_softmax(void) {
  mtlrt_softmax_fwd_f64(gi[0], gi[1], gi[2], gx, gy);
  return dot(gr, gy, gny);
}

static void test_softmax(void) {
  gi[0] = 3, gi[1] = 5, gi[2] = 4;
  gny = 60, gx = rand_array(gny, -3, 3), gy = zeros(gny), gr = rand_array(gny, -1, 1);
  double *dx = zeros(gny);
  f_softmax();
  mtlrt_softmax_bwd_f64(gi[0], gi[1], gi[2], gy, gr, dx);
  fd_check("softmax dx (axis 1 of [3,5,4])", gx, gny, dx, f_softmax);
  free(gx), free(gy), free(gr), free(dx);
}

/* ---- losses ---- */

static int loss_kind;

static double loss_value(double *grad) {
  switch (loss_kind) {
  case 0: return mtlrt_cross_entropy_f64(gi[0], gi[1], gi[2], gx, gt, gi[3], gd[0], grad, NULL);
  case 1: return mtlrt_bce_logits_f64(gn, gx, gy, grad, NULL);
  case 2: return mtlrt_mse_f64(gn, gx, gy, grad, NULL);
  case 3: return mtlrt_l1_f64(gn, gx, gy, grad, NULL);
  default: return mtlrt_huber_f64(gn, gd[1], gx, gy, grad, NULL);
  }
}

static double f_loss(void) {
  return loss_value(NULL);
}

static void test_losses(void) {
  /* cross entropy per element: logits [3, 4, 5], ignore id 9, label smoothing 0.1 */
  gi[0] = 3, gi[1] = 4, gi[2] = 5, gi[3] = 9, gd[0] = 0.1;
  gn = 60, gx = rand_array(gn, -3, 3), gt = malloc(15 * sizeof *gt);
  for (int i = 0; i < 15; i++)
    gt[i] = i % 4 == 3 ? 9 : (int32_t)(uniform(0, 4));
  double *grad = zeros(gn);
  loss_kind = 0;
  loss_value(grad);
  fd_check("cross_entropy (ignore, smoothing)", gx, gn, grad, f_loss);
  gd[0] = 0, gi[2] = 1, gi[0] = 15; /* per-sample targets, no smoothing */
  loss_value(grad);
  fd_check("cross_entropy (per sample)", gx, gn, grad, f_loss);
  for (int i = 0; i < 15; i++)
    gt[i] = 9;
  size_t cnt = 1;
  double l = mtlrt_cross_entropy_f64(15, 4, 1, gx, gt, 9, 0.1, grad, &cnt);
  report("cross_entropy all ignored -> 0",
         fabs(l) + (double)cnt + fabs(mtlrt_sum_squares_f64(gn, grad)));
  gt[3] = 4, gt[7] = -2;
  l = mtlrt_cross_entropy_f64(15, 4, 1, gx, gt, 9, 0, grad, NULL);
  report("cross_entropy bad id -> NaN", isnan(l) ? 0 : 1);
  free(gx), free(gt), free(grad);

  static const char *names[] = {"", "bce_logits (NaN targets)", "mse (NaN targets)",
                                "l1 (NaN targets)", "huber delta 0.5 (NaN targets)"};
  gn = 40, gd[1] = 0.5;
  for (loss_kind = 1; loss_kind < 5; loss_kind++) {
    gx = rand_array(gn, -3, 3), gy = zeros(gn), grad = zeros(gn);
    for (size_t i = 0; i < gn; i++) {
      /* target at a distance in [0.05, 0.4] or [0.6, 2] from x: no kink within STEP */
      double d = uniform(0, 1) < 0.5 ? uniform(0.05, 0.4) : uniform(0.6, 2);
      gy[i] =
          loss_kind == 1 ? (double)(uniform(0, 1) < 0.5) : gx[i] + (uniform(0, 1) < 0.5 ? d : -d);
      if (i % 7 == 0)
        gy[i] = NAN;
    }
    loss_value(grad);
    fd_check(names[loss_kind], gx, gn, grad, f_loss);
    for (size_t i = 0; i < gn; i++)
      gy[i] = NAN;
    l = loss_value(grad);
    if (loss_kind == 1)
      report("elementwise losses all missing -> 0",
             fabs(l) + fabs(mtlrt_sum_squares_f64(gn, grad)));
    free(gx), free(gy), free(grad);
  }
}

/* ---- conv2d and conv_transpose2d ---- */

static double f_conv(void) {
  mtlrt_conv2d_fwd_f64(&gcs, gx, gw, gb, gy, gscratch);
  return dot(gr, gy, gny);
}

static double f_convt(void) {
  mtlrt_conv_transpose2d_fwd_f64(&gcs, gx, gw, gb, gy, gscratch);
  return dot(gr, gy, gny);
}

static void conv_case(const char *name, mtlrt_conv2d_shape s, int same, int transpose,
                      int out_pad) {
  char label[96];
  int ok = transpose ? mtlrt_conv_transpose2d_shape_finish(&s, out_pad, out_pad)
           : same    ? mtlrt_conv2d_shape_same(&s)
                     : mtlrt_conv2d_shape_finish(&s);
  if (ok != 0) {
    printf("%s: bad shape\n", name);
    failures++;
    return;
  }
  gcs = s;
  size_t nx = (size_t)s.n * (size_t)s.c_in * (size_t)s.h_in * (size_t)s.w_in;
  size_t ny = (size_t)s.n * (size_t)s.c_out * (size_t)s.h_out * (size_t)s.w_out;
  size_t nw = (size_t)s.c_out * (size_t)(s.c_in / s.groups) * (size_t)s.k_h * (size_t)s.k_w;
  size_t nb = transpose ? (size_t)s.c_in : (size_t)s.c_out;
  if (transpose) { /* x is the small side, y the big side */
    size_t t = nx;
    nx = ny, ny = t;
  }
  gx = rand_array(nx, -1, 1), gw = rand_array(nw, -1, 1), gb = rand_array(nb, -1, 1);
  gny = ny, gy = zeros(ny), gr = rand_array(ny, -1, 1), gscratch = zeros(mtlrt_conv2d_scratch(&s));
  double *dx = zeros(nx), *dw = zeros(nw), *db = zeros(nb);
  (transpose ? mtlrt_conv_transpose2d_bwd_f64 : mtlrt_conv2d_bwd_f64)(&s, gx, gw, gr, dx, dw, db, gscratch);
  double (*f)(void) = transpose ? f_convt : f_conv;
  snprintf(label, sizeof label, "%s dx", name);
  fd_check(label, gx, nx, dx, f);
  snprintf(label, sizeof label, "%s dw", name);
  fd_check(label, gw, nw, dw, f);
  snprintf(label, sizeof label, "%s db", name);
  fd_check(label, gb, nb, db, f);
  free(gx), free(gw), free(gb), free(gy), free(gr), free(gscratch), free(dx), free(dw), free(db);
}

static void test_conv(void) {
  /* n, c_in, h_in, w_in, c_out, h_out, w_out, k_h, k_w, s_h, s_w, pt, pl, pb, pr, d_h, d_w, g */
  conv_case("conv2d 3x3 pad 1",
            (mtlrt_conv2d_shape){2, 3, 6, 5, 4, 0, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 0, 0);
  conv_case("conv2d stride 2 same",
            (mtlrt_conv2d_shape){2, 2, 7, 6, 3, 0, 0, 3, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1}, 1, 0, 0);
  conv_case("conv2d dil 2 groups 2",
            (mtlrt_conv2d_shape){1, 4, 7, 7, 6, 0, 0, 3, 3, 1, 2, 2, 1, 0, 2, 2, 2, 2}, 0, 0, 0);
  conv_case("conv2d 3x3 Winograd, uneven pad, partial block",
            (mtlrt_conv2d_shape){3, 16, 9, 8, 17, 0, 0, 3, 3, 1, 1, 2, 1, 0, 2, 1, 1, 1}, 0, 0, 0);
  /* transpose: c_out/h_out/w_out are the transposed conv's input, c_in its output */
  conv_case("conv_t stride 2 out_pad 1",
            (mtlrt_conv2d_shape){2, 3, 0, 0, 2, 3, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1}, 0, 1, 1);
  conv_case("conv_t groups 2 dil 2",
            (mtlrt_conv2d_shape){1, 4, 0, 0, 2, 4, 3, 2, 3, 1, 1, 0, 1, 0, 1, 2, 2, 2}, 0, 1, 0);
  conv_case("conv_t 3x3 Winograd",
            (mtlrt_conv2d_shape){2, 16, 0, 0, 18, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 1, 0);
}

/* ---- pooling and upsampling ---- */

static int pool_kind;

static double f_pool(void) {
  switch (pool_kind) {
  case 0: mtlrt_maxpool2d_fwd_f64(&gps, gx, gy, gt); break;
  case 1: mtlrt_avgpool2d_fwd_f64(&gps, gx, gy); break;
  case 2: mtlrt_global_avgpool_fwd_f64(gi[0], gi[1], gx, gy); break;
  case 3: mtlrt_upsample_nearest_fwd_f64(gi[0], gi[1], gi[2], gi[3], gi[4], gx, gy); break;
  default: mtlrt_upsample_bilinear_fwd_f64(gi[0], gi[1], gi[2], gi[3], gi[4], gx, gy); break;
  }
  return dot(gr, gy, gny);
}

static void pool_case(const char *name, int kind, mtlrt_pool2d_shape s) {
  pool_kind = kind;
  size_t nx;
  if (kind <= 1) {
    if (mtlrt_pool2d_shape_finish(&s) != 0) {
      printf("%s: bad shape\n", name);
      failures++;
      return;
    }
    gps = s;
    nx = (size_t)(s.n * s.c * s.h_in * s.w_in), gny = (size_t)(s.n * s.c * s.h_out * s.w_out);
  } else if (kind == 2) {
    gi[0] = s.n * s.c, gi[1] = s.h_in * s.w_in;
    nx = (size_t)(gi[0] * gi[1]), gny = (size_t)gi[0];
  } else {
    gi[0] = s.n * s.c, gi[1] = s.h_in, gi[2] = s.w_in, gi[3] = s.k_h, gi[4] = s.k_w;
    nx = (size_t)(gi[0] * gi[1] * gi[2]), gny = nx * (size_t)(gi[3] * gi[4]);
  }
  /* distinct values at least 0.01 apart: no ties in max pooling within STEP */
  gx = zeros(nx);
  for (size_t i = 0; i < nx; i++)
    gx[i] = 0.01 * (double)i - 0.005 * (double)nx;
  for (size_t i = nx; i > 1; i--) {
    size_t j = (size_t)uniform(0, (double)i), t = i - 1;
    double v = gx[t];
    gx[t] = gx[j], gx[j] = v;
  }
  gy = zeros(gny), gr = rand_array(gny, -1, 1), gt = malloc(gny * sizeof *gt);
  double *dx = zeros(nx);
  f_pool();
  switch (kind) {
  case 0: mtlrt_maxpool2d_bwd_f64(&gps, gt, gr, dx); break;
  case 1: mtlrt_avgpool2d_bwd_f64(&gps, gr, dx); break;
  case 2: mtlrt_global_avgpool_bwd_f64(gi[0], gi[1], gr, dx); break;
  case 3: mtlrt_upsample_nearest_bwd_f64(gi[0], gi[1], gi[2], gi[3], gi[4], gr, dx); break;
  default: mtlrt_upsample_bilinear_bwd_f64(gi[0], gi[1], gi[2], gi[3], gi[4], gr, dx); break;
  }
  fd_check(name, gx, nx, dx, f_pool);
  free(gx), free(gy), free(gr), free(gt), free(dx);
}

static void test_pools(void) {
  /* n, c, h_in, w_in, h_out, w_out, k_h, k_w, s_h, s_w, p_h, p_w */
  pool_case("maxpool2d 3x3 s2 pad 1 dx", 0,
            (mtlrt_pool2d_shape){2, 2, 7, 6, 0, 0, 3, 3, 2, 2, 1, 1});
  pool_case("maxpool2d 2x2 dx", 0, (mtlrt_pool2d_shape){1, 3, 6, 5, 0, 0, 2, 2, 2, 2, 0, 0});
  pool_case("avgpool2d 3x2 s(2,1) pad dx", 1,
            (mtlrt_pool2d_shape){2, 2, 7, 6, 0, 0, 3, 2, 2, 1, 1, 1});
  pool_case("global_avgpool dx", 2, (mtlrt_pool2d_shape){2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0});
  pool_case("upsample nearest (2,3) dx", 3,
            (mtlrt_pool2d_shape){2, 2, 3, 4, 0, 0, 2, 3, 0, 0, 0, 0});
  pool_case("upsample bilinear (2,3) dx", 4,
            (mtlrt_pool2d_shape){2, 2, 3, 4, 0, 0, 2, 3, 0, 0, 0, 0});
}

/* ---- batchnorm, layernorm ---- */

static double f_bn(void) {
  mtlrt_batchnorm_fwd_f64(gi[0], gi[1], gi[2], gx, gw, gb, gs1 + 2 * gi[1], gs1 + 3 * gi[1], 1, 0.1,
                          1e-5, gy, gs1, gs1 + gi[1]);
  return dot(gr, gy, gny);
}

static double f_ln(void) {
  mtlrt_layernorm_fwd_f64(gi[0], gi[1], gx, gw, gb, 1e-5, gy, gs1, gs2);
  return dot(gr, gy, gny);
}

static void test_norms(void) {
  static const int hws[2] = {6, 1};
  for (int v = 0; v < 2; v++) {
    int n = 4, c = 3, hw = hws[v];
    gi[0] = n, gi[1] = c, gi[2] = hw;
    gny = (size_t)(n * c * hw), gx = rand_array(gny, -2, 2), gy = zeros(gny),
    gr = rand_array(gny, -1, 1);
    gw = rand_array((size_t)c, 0.5, 1.5), gb = rand_array((size_t)c, -1, 1),
    gs1 = zeros((size_t)(4 * c));
    double *dx = zeros(gny), *dw = zeros((size_t)c), *db = zeros((size_t)c);
    f_bn();
    mtlrt_batchnorm_bwd_f64(n, c, hw, gx, gw, gs1, gs1 + c, gr, dx, dw, db);
    fd_check(v ? "batchnorm1d dx" : "batchnorm2d dx", gx, gny, dx, f_bn);
    fd_check(v ? "batchnorm1d dweight" : "batchnorm2d dweight", gw, (size_t)c, dw, f_bn);
    fd_check(v ? "batchnorm1d dbias" : "batchnorm2d dbias", gb, (size_t)c, db, f_bn);
    free(gx), free(gy), free(gr), free(gw), free(gb), free(gs1), free(dx), free(dw), free(db);
  }
  int rows = 5, f = 7;
  gi[0] = rows, gi[1] = f;
  gny = (size_t)(rows * f), gx = rand_array(gny, -2, 2), gy = zeros(gny),
  gr = rand_array(gny, -1, 1);
  gw = rand_array((size_t)f, 0.5, 1.5), gb = rand_array((size_t)f, -1, 1);
  gs1 = zeros((size_t)rows), gs2 = zeros((size_t)rows);
  double *dx = zeros(gny), *dw = zeros((size_t)f), *db = zeros((size_t)f);
  f_ln();
  mtlrt_layernorm_bwd_f64(rows, f, gx, gw, gs1, gs2, gr, dx, dw, db);
  fd_check("layernorm dx", gx, gny, dx, f_ln);
  fd_check("layernorm dweight", gw, (size_t)f, dw, f_ln);
  fd_check("layernorm dbias", gb, (size_t)f, db, f_ln);
  free(gx), free(gy), free(gr), free(gw), free(gb), free(gs1), free(gs2), free(dx), free(dw),
      free(db);
}

/* ---- dropout ---- */

static double f_dropout(void) {
  mtlrt_dropout_fwd_f64(gn, 0.3, 42, 1000, gx, gy);
  return dot(gr, gy, gn);
}

static void test_dropout(void) {
  gn = 20000, gx = rand_array(gn, -1, 1), gy = zeros(gn), gr = rand_array(gn, -1, 1);
  double *dx = zeros(gn);
  mtlrt_dropout_bwd_f64(gn, 0.3, 42, 1000, gr, dx);
  fd_check("dropout dx", gx, 200, dx, f_dropout);
  f_dropout();
  size_t kept = 0;
  double scale_err = 0;
  for (size_t i = 0; i < gn; i++)
    if (gy[i] != 0) {
      kept++;
      scale_err = fmax(scale_err, fabs(gy[i] - gx[i] / 0.7));
    }
  double frac = (double)kept / (double)gn;
  /* 4.5 standard deviations of a binomial(20000, 0.7) proportion */
  report("dropout keep fraction ~ 0.7",
         fabs(frac - 0.7) < 4.5 * sqrt(0.21 / (double)gn) ? scale_err : 1);
  free(gx), free(gy), free(gr), free(dx);
}

/* ---- shape helpers and axpy ---- */

static void test_shapes(void) {
  int bad = 0;
  /* pad = same, stride 2: in 7 -> out 4, total pad 2 (1 + 1); in 8 -> out 4, total 1 (0 + 1) */
  mtlrt_conv2d_shape s = {1, 1, 7, 8, 1, 0, 0, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 1};
  bad += mtlrt_conv2d_shape_same(&s) != 0 || s.h_out != 4 || s.w_out != 4 || s.pad_top != 1 ||
         s.pad_bottom != 1 || s.pad_left != 0 || s.pad_right != 1;
  /* pad = same, stride 1, dilation 2, kernel 3: total 4 split 2 + 2, output = input */
  s = (mtlrt_conv2d_shape){1, 1, 5, 6, 1, 0, 0, 3, 3, 1, 1, 0, 0, 0, 0, 2, 2, 1};
  bad += mtlrt_conv2d_shape_same(&s) != 0 || s.h_out != 5 || s.w_out != 6 || s.pad_top != 2 ||
         s.pad_bottom != 2;
  /* bad groups, kernel larger than the padded input */
  s = (mtlrt_conv2d_shape){1, 3, 5, 5, 4, 0, 0, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 2};
  bad += mtlrt_conv2d_shape_finish(&s) != -1;
  s = (mtlrt_conv2d_shape){1, 2, 2, 2, 2, 0, 0, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1};
  bad += mtlrt_conv2d_shape_finish(&s) != -1;
  /* conv_transpose2d(k 3, stride 2, pad 1, out_pad 1): 4 -> 8; out_pad 2 is invalid */
  s = (mtlrt_conv2d_shape){1, 2, 0, 0, 3, 4, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1};
  bad += mtlrt_conv_transpose2d_shape_finish(&s, 1, 1) != 0 || s.h_in != 8 || s.w_in != 8;
  bad += mtlrt_conv_transpose2d_shape_finish(&s, 2, 0) != -1;
  /* pooling: 7 with k 3, s 2, pad 1 -> 4; pad > k/2 is invalid */
  mtlrt_pool2d_shape p = {1, 1, 7, 7, 0, 0, 3, 3, 2, 2, 1, 1};
  bad += mtlrt_pool2d_shape_finish(&p) != 0 || p.h_out != 4 || p.w_out != 4;
  p = (mtlrt_pool2d_shape){1, 1, 7, 7, 0, 0, 2, 2, 2, 2, 2, 0};
  bad += mtlrt_pool2d_shape_finish(&p) != -1;
  size_t want = MTLRT_MAX_THREADS * (18 + 1) * 16; /* per thread: 18 im2col rows and 1 output, 16 pixels */
  s = (mtlrt_conv2d_shape){1, 4, 4, 4, 2, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2};
  bad += mtlrt_conv2d_scratch(&s) != want;
  double x[3] = {1, 2, 3}, y[3] = {1, 1, 1};
  mtlrt_axpy_f64(3, 0.5, x, y);
  bad += y[0] != 1.5 || y[1] != 2 || y[2] != 2.5;
  report("shape helpers, axpy (mismatches)", bad);
}

int main(void) {
  test_shapes();
  test_gemm();
  test_dense();
  test_activations();
  test_softmax();
  test_losses();
  test_conv();
  test_pools();
  test_norms();
  test_dropout();
  printf("worst relative error %.2e; %d failure(s)\n", worst, failures);
  return failures ? 1 : 0;
}
