/* parity_driver.c: runs one float kernel family of libmtlrt for torch_parity.py.
 * Usage: mtlrt_parity_driver DIR CASE ARGS... It reads the inputs of CASE from raw
 * little-endian files DIR/<name>.bin (float32, or int32 for class ids), runs the
 * forward and backward kernels, and writes every result to DIR/<name>.bin for the
 * script to compare against torch.nn.functional / torch.optim. Exit status 2 on bad
 * usage or a missing file.
 */
#include "mtlrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;
static double arg[32];
static int nargs;
static void *allocs[64]; /* every buffer, freed before exit (clean under LeakSanitizer) */
static int nallocs;

static void *track(void *p) {
  if (nallocs == 64) {
    fprintf(stderr, "parity_driver: too many buffers\n");
    exit(2);
  }
  return allocs[nallocs++] = p;
}

static void die(const char *what, const char *name) {
  fprintf(stderr, "parity_driver: %s %s\n", what, name);
  exit(2);
}

static void *load(const char *name, size_t count, size_t size) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.bin", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    die("cannot open", path);
  void *p = track(calloc(count ? count : 1, size));
  if (fread(p, size, count, f) != count)
    die("short file", path);
  fclose(f);
  return p;
}

static float *loadf(const char *name, size_t count) {
  return load(name, count, sizeof(float));
}

static float *newf(size_t count) {
  return track(calloc(count ? count : 1, sizeof(float)));
}

static void save(const char *name, const float *p, size_t count) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.bin", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, sizeof *p, count, f) != count || fclose(f) != 0)
    die("cannot write", path);
}

static void save1(const char *name, double v) {
  float x = (float)v;
  save(name, &x, 1);
}

static int I(int k) {
  if (k >= nargs)
    die("missing argument", "");
  return (int)arg[k];
}

static float F(int k) {
  if (k >= nargs)
    die("missing argument", "");
  return (float)arg[k];
}

static void run_dense(void) {
  int rows = I(0), in = I(1), out = I(2);
  float *x = loadf("x", (size_t)(rows * in)), *w = loadf("w", (size_t)(out * in));
  float *b = loadf("b", (size_t)out), *dy = loadf("dy", (size_t)(rows * out));
  float *y = newf((size_t)(rows * out)), *dx = newf((size_t)(rows * in));
  float *dw = newf((size_t)(out * in)), *db = newf((size_t)out);
  mtlrt_dense_fwd_f32(rows, in, out, x, w, b, y);
  mtlrt_dense_bwd_f32(rows, in, out, x, w, dy, dx, dw, db);
  save("y", y, (size_t)(rows * out)), save("dx", dx, (size_t)(rows * in));
  save("dw", dw, (size_t)(out * in)), save("db", db, (size_t)out);
}

static void run_activation(const char *kind) {
  size_t n = (size_t)I(0);
  float slope = nargs > 1 ? F(1) : 0.01f;
  float *x = loadf("x", n), *dy = loadf("dy", n), *y = newf(n), *dx = newf(n);
  if (!strcmp(kind, "relu"))
    mtlrt_relu_fwd_f32(n, x, y), mtlrt_relu_bwd_f32(n, x, y, dy, dx);
  else if (!strcmp(kind, "leaky_relu"))
    mtlrt_leaky_relu_fwd_f32(n, slope, x, y), mtlrt_leaky_relu_bwd_f32(n, slope, x, y, dy, dx);
  else if (!strcmp(kind, "sigmoid"))
    mtlrt_sigmoid_fwd_f32(n, x, y), mtlrt_sigmoid_bwd_f32(n, x, y, dy, dx);
  else if (!strcmp(kind, "tanh"))
    mtlrt_tanh_fwd_f32(n, x, y), mtlrt_tanh_bwd_f32(n, x, y, dy, dx);
  else
    mtlrt_gelu_fwd_f32(n, x, y), mtlrt_gelu_bwd_f32(n, x, y, dy, dx);
  save("y", y, n), save("dx", dx, n);
}

static void run_softmax(void) {
  int outer = I(0), dim = I(1), inner = I(2);
  size_t n = (size_t)(outer * dim * inner);
  float *x = loadf("x", n), *dy = loadf("dy", n), *y = newf(n), *dx = newf(n);
  mtlrt_softmax_fwd_f32(outer, dim, inner, x, y);
  mtlrt_softmax_bwd_f32(outer, dim, inner, y, dy, dx);
  save("y", y, n), save("dx", dx, n);
}

static void run_loss(const char *kind) {
  size_t cnt = 0;
  double loss;
  if (!strcmp(kind, "cross_entropy")) {
    int n = I(0), classes = I(1), inner = I(2);
    size_t len = (size_t)(n * classes * inner);
    float *x = loadf("x", len), *grad = newf(len);
    int32_t *t = load("t", (size_t)(n * inner), sizeof(int32_t));
    loss = mtlrt_cross_entropy_f32(n, classes, inner, x, t, (int32_t)I(3), F(4), grad, &cnt);
    save("grad", grad, len);
  } else {
    size_t n = (size_t)I(0);
    float *x = loadf("x", n), *t = loadf("t", n), *grad = newf(n);
    if (!strcmp(kind, "bce"))
      loss = mtlrt_bce_logits_f32(n, x, t, grad, &cnt);
    else if (!strcmp(kind, "mse"))
      loss = mtlrt_mse_f32(n, x, t, grad, &cnt);
    else if (!strcmp(kind, "l1"))
      loss = mtlrt_l1_f32(n, x, t, grad, &cnt);
    else
      loss = mtlrt_huber_f32(n, F(1), x, t, grad, &cnt);
    save("grad", grad, n);
  }
  save1("loss", loss);
  save1("count", (double)cnt);
}

/* p updated for `steps` steps with gradients g[steps][n]. */
static void run_optim(const char *kind) {
  size_t n = (size_t)I(0);
  int steps = I(1);
  float *p = loadf("p", n), *g = loadf("g", n * (size_t)steps), *s1 = newf(n), *s2 = newf(n);
  for (int k = 0; k < steps; k++) {
    const float *gk = g + (size_t)k * n;
    if (!strcmp(kind, "sgd"))
      mtlrt_sgd_step_f32(n, p, gk, s1, k + 1, F(2), F(3), F(4), I(5), F(6));
    else if (!strcmp(kind, "adam"))
      mtlrt_adam_step_f32(n, p, gk, s1, s2, k + 1, F(2), F(3), F(4), F(5), F(6));
    else
      mtlrt_adamw_step_f32(n, p, gk, s1, s2, k + 1, F(2), F(3), F(4), F(5), F(6));
  }
  save("p", p, n);
}

static void run_clip(void) {
  size_t n = (size_t)I(0);
  float *g = loadf("g", n);
  double norm = mtlrt_clip_grad_norm_f32(n, g, arg[1]);
  save("g", g, n);
  save1("norm", norm);
}

/* args: n ci h w co kh kw sh sw pt pl pb pr dh dw groups [same] */
static void run_conv2d(void) {
  mtlrt_conv2d_shape s = {I(0), I(1), I(2), I(3),  I(4),  0,     0,     I(5),  I(6),
                          I(7), I(8), I(9), I(10), I(11), I(12), I(13), I(14), I(15)};
  if ((nargs > 16 && I(16) ? mtlrt_conv2d_shape_same(&s) : mtlrt_conv2d_shape_finish(&s)) != 0)
    die("bad conv2d shape", "");
  size_t nx = (size_t)(s.n * s.c_in * s.h_in * s.w_in),
         ny = (size_t)(s.n * s.c_out * s.h_out * s.w_out);
  size_t nw = (size_t)(s.c_out * (s.c_in / s.groups) * s.k_h * s.k_w);
  float *x = loadf("x", nx), *w = loadf("w", nw), *b = loadf("b", (size_t)s.c_out);
  float *dy = loadf("dy", ny), *y = newf(ny), *dx = newf(nx), *dw = newf(nw);
  float *db = newf((size_t)s.c_out), *scratch = newf(mtlrt_conv2d_scratch(&s));
  mtlrt_conv2d_fwd_f32(&s, x, w, b, y, scratch);
  mtlrt_conv2d_bwd_f32(&s, x, w, dy, dx, dw, db, scratch);
  save("y", y, ny), save("dx", dx, nx), save("dw", dw, nw), save("db", db, (size_t)s.c_out);
}

/* args (PyTorch's view): n ci h w co kh kw stride pad out_pad dilation groups */
static void run_conv_transpose2d(void) {
  int n = I(0), ci = I(1), h = I(2), w_ = I(3), co = I(4), kh = I(5), kw = I(6), st = I(7);
  int pad = I(8), op = I(9), dil = I(10), groups = I(11);
  mtlrt_conv2d_shape s = {n,  co, 0,   0,   ci,  h,   w_,  kh,  kw,
                          st, st, pad, pad, pad, pad, dil, dil, groups};
  if (mtlrt_conv_transpose2d_shape_finish(&s, op, op) != 0)
    die("bad conv_transpose2d shape", "");
  size_t nx = (size_t)(n * ci * h * w_), ny = (size_t)(n * co * s.h_in * s.w_in);
  size_t nw = (size_t)(ci * (co / groups) * kh * kw);
  float *x = loadf("x", nx), *w = loadf("w", nw), *b = loadf("b", (size_t)co);
  float *dy = loadf("dy", ny), *y = newf(ny), *dx = newf(nx), *dw = newf(nw);
  float *db = newf((size_t)co), *scratch = newf(mtlrt_conv2d_scratch(&s));
  mtlrt_conv_transpose2d_fwd_f32(&s, x, w, b, y, scratch);
  mtlrt_conv_transpose2d_bwd_f32(&s, x, w, dy, dx, dw, db, scratch);
  save("y", y, ny), save("dx", dx, nx), save("dw", dw, nw), save("db", db, (size_t)co);
}

/* args: n c h w kh kw sh sw ph pw */
static void run_pool(const char *kind) {
  mtlrt_pool2d_shape s = {I(0), I(1), I(2), I(3), 0, 0, I(4), I(5), I(6), I(7), I(8), I(9)};
  if (mtlrt_pool2d_shape_finish(&s) != 0)
    die("bad pool shape", "");
  size_t nx = (size_t)(s.n * s.c * s.h_in * s.w_in), ny = (size_t)(s.n * s.c * s.h_out * s.w_out);
  float *x = loadf("x", nx), *dy = loadf("dy", ny), *y = newf(ny), *dx = newf(nx);
  int32_t *am = track(calloc(ny, sizeof *am));
  if (!strcmp(kind, "maxpool2d")) {
    mtlrt_maxpool2d_fwd_f32(&s, x, y, am);
    mtlrt_maxpool2d_bwd_f32(&s, am, dy, dx);
  } else {
    mtlrt_avgpool2d_fwd_f32(&s, x, y);
    mtlrt_avgpool2d_bwd_f32(&s, dy, dx);
  }
  save("y", y, ny), save("dx", dx, nx);
}

static void run_global_avgpool(void) {
  int planes = I(0), hw = I(1);
  float *x = loadf("x", (size_t)(planes * hw)), *dy = loadf("dy", (size_t)planes);
  float *y = newf((size_t)planes), *dx = newf((size_t)(planes * hw));
  mtlrt_global_avgpool_fwd_f32(planes, hw, x, y);
  mtlrt_global_avgpool_bwd_f32(planes, hw, dy, dx);
  save("y", y, (size_t)planes), save("dx", dx, (size_t)(planes * hw));
}

/* args: planes h w sh sw */
static void run_upsample(const char *kind) {
  int planes = I(0), h = I(1), w = I(2), sh = I(3), sw = I(4);
  size_t nx = (size_t)(planes * h * w), ny = nx * (size_t)(sh * sw);
  float *x = loadf("x", nx), *dy = loadf("dy", ny), *y = newf(ny), *dx = newf(nx);
  if (!strcmp(kind, "nearest")) {
    mtlrt_upsample_nearest_fwd_f32(planes, h, w, sh, sw, x, y);
    mtlrt_upsample_nearest_bwd_f32(planes, h, w, sh, sw, dy, dx);
  } else {
    mtlrt_upsample_bilinear_fwd_f32(planes, h, w, sh, sw, x, y);
    mtlrt_upsample_bilinear_bwd_f32(planes, h, w, sh, sw, dy, dx);
  }
  save("y", y, ny), save("dx", dx, nx);
}

/* args: n c hw training momentum eps */
static void run_batchnorm(void) {
  int n = I(0), c = I(1), hw = I(2), training = I(3);
  size_t len = (size_t)(n * c * hw), nc = (size_t)c;
  float *x = loadf("x", len), *w = loadf("w", nc), *b = loadf("b", nc), *rm = loadf("rm", nc);
  float *rv = loadf("rv", nc), *dy = loadf("dy", len), *y = newf(len), *dx = newf(len);
  float *dw = newf(nc), *db = newf(nc), *sm = newf(nc), *si = newf(nc);
  mtlrt_batchnorm_fwd_f32(n, c, hw, x, w, b, rm, rv, training, F(4), F(5), y, sm, si);
  save("y", y, len), save("rm", rm, nc), save("rv", rv, nc);
  if (training) {
    mtlrt_batchnorm_bwd_f32(n, c, hw, x, w, sm, si, dy, dx, dw, db);
    save("dx", dx, len), save("dw", dw, nc), save("db", db, nc);
  }
}

/* args: rows f eps */
static void run_layernorm(void) {
  int rows = I(0), f = I(1);
  size_t len = (size_t)(rows * f);
  float *x = loadf("x", len), *w = loadf("w", (size_t)f), *b = loadf("b", (size_t)f);
  float *dy = loadf("dy", len), *y = newf(len), *dx = newf(len), *dw = newf((size_t)f);
  float *db = newf((size_t)f), *sm = newf((size_t)rows), *sr = newf((size_t)rows);
  mtlrt_layernorm_fwd_f32(rows, f, x, w, b, F(2), y, sm, sr);
  mtlrt_layernorm_bwd_f32(rows, f, x, w, sm, sr, dy, dx, dw, db);
  save("y", y, len), save("dx", dx, len), save("dw", dw, (size_t)f), save("db", db, (size_t)f);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: mtlrt_parity_driver DIR CASE ARGS...\n");
    return 2;
  }
  dir = argv[1];
  const char *kind = argv[2];
  for (int i = 3; i < argc && nargs < 32; i++)
    arg[nargs++] = strtod(argv[i], NULL);
  if (!strcmp(kind, "dense"))
    run_dense();
  else if (!strcmp(kind, "relu") || !strcmp(kind, "leaky_relu") || !strcmp(kind, "sigmoid") ||
           !strcmp(kind, "tanh") || !strcmp(kind, "gelu"))
    run_activation(kind);
  else if (!strcmp(kind, "softmax"))
    run_softmax();
  else if (!strcmp(kind, "cross_entropy") || !strcmp(kind, "bce") || !strcmp(kind, "mse") ||
           !strcmp(kind, "l1") || !strcmp(kind, "huber"))
    run_loss(kind);
  else if (!strcmp(kind, "sgd") || !strcmp(kind, "adam") || !strcmp(kind, "adamw"))
    run_optim(kind);
  else if (!strcmp(kind, "clip"))
    run_clip();
  else if (!strcmp(kind, "conv2d"))
    run_conv2d();
  else if (!strcmp(kind, "conv_transpose2d"))
    run_conv_transpose2d();
  else if (!strcmp(kind, "maxpool2d") || !strcmp(kind, "avgpool2d"))
    run_pool(kind);
  else if (!strcmp(kind, "global_avgpool"))
    run_global_avgpool();
  else if (!strcmp(kind, "nearest") || !strcmp(kind, "bilinear"))
    run_upsample(kind);
  else if (!strcmp(kind, "batchnorm"))
    run_batchnorm();
  else if (!strcmp(kind, "layernorm"))
    run_layernorm();
  else {
    fprintf(stderr, "parity_driver: unknown case '%s'\n", kind);
    return 2;
  }
  while (nallocs > 0)
    free(allocs[--nallocs]);
  return 0;
}
