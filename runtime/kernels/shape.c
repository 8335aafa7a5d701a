/* shape.c: the precision-independent helpers of libmtlrt. It turns a layer's arguments
 * into the geometry structs the conv and pool kernels read (output sizes computed as
 * PyTorch does, `pad = same` split as TensorFlow does), sizes the im2col scratch, and
 * holds the counter-based random generator that dropout, initialisation and rlw draw from.
 */
#include "mtlrt.h"

#include <math.h>

static int conv_out(int in, int pad_lo, int pad_hi, int k, int stride, int dil) {
  int span = in + pad_lo + pad_hi - dil * (k - 1) - 1;
  if (span < 0)
    return 0;
  return span / stride + 1;
}

static int conv_valid(const mtlrt_conv2d_shape *s) {
  return s->n > 0 && s->c_in > 0 && s->c_out > 0 && s->k_h > 0 && s->k_w > 0 && s->stride_h > 0 &&
         s->stride_w > 0 && s->dil_h > 0 && s->dil_w > 0 && s->groups > 0 &&
         s->c_in % s->groups == 0 && s->c_out % s->groups == 0 && s->pad_top >= 0 &&
         s->pad_left >= 0 && s->pad_bottom >= 0 && s->pad_right >= 0;
}

int mtlrt_conv2d_shape_finish(mtlrt_conv2d_shape *s) {
  if (!conv_valid(s) || s->h_in <= 0 || s->w_in <= 0)
    return -1;
  s->h_out = conv_out(s->h_in, s->pad_top, s->pad_bottom, s->k_h, s->stride_h, s->dil_h);
  s->w_out = conv_out(s->w_in, s->pad_left, s->pad_right, s->k_w, s->stride_w, s->dil_w);
  return s->h_out > 0 && s->w_out > 0 ? 0 : -1;
}

static void same_pad(int in, int k, int stride, int dil, int *lo, int *hi) {
  int out = (in + stride - 1) / stride;
  int total = (out - 1) * stride + (k - 1) * dil + 1 - in;
  if (total < 0)
    total = 0;
  *lo = total / 2;
  *hi = total - total / 2;
}

int mtlrt_conv2d_shape_same(mtlrt_conv2d_shape *s) {
  if (!conv_valid(s))
    return -1;
  same_pad(s->h_in, s->k_h, s->stride_h, s->dil_h, &s->pad_top, &s->pad_bottom);
  same_pad(s->w_in, s->k_w, s->stride_w, s->dil_w, &s->pad_left, &s->pad_right);
  return mtlrt_conv2d_shape_finish(s);
}

int mtlrt_conv_transpose2d_shape_finish(mtlrt_conv2d_shape *s, int out_pad_h, int out_pad_w) {
  if (!conv_valid(s) || s->h_out <= 0 || s->w_out <= 0 || out_pad_h < 0 || out_pad_w < 0)
    return -1;
  if ((out_pad_h >= s->stride_h && out_pad_h >= s->dil_h) ||
      (out_pad_w >= s->stride_w && out_pad_w >= s->dil_w))
    return -1;
  s->h_in = (s->h_out - 1) * s->stride_h - s->pad_top - s->pad_bottom + s->dil_h * (s->k_h - 1) +
            out_pad_h + 1;
  s->w_in = (s->w_out - 1) * s->stride_w - s->pad_left - s->pad_right + s->dil_w * (s->k_w - 1) +
            out_pad_w + 1;
  if (s->h_in <= 0 || s->w_in <= 0)
    return -1;
  /* The adjoint relation needs the convolution of y to give back exactly h_out. */
  if (conv_out(s->h_in, s->pad_top, s->pad_bottom, s->k_h, s->stride_h, s->dil_h) != s->h_out ||
      conv_out(s->w_in, s->pad_left, s->pad_right, s->k_w, s->stride_w, s->dil_w) != s->w_out)
    return -1;
  return 0;
}

size_t mtlrt_conv2d_scratch(const mtlrt_conv2d_shape *s) {
  return mtlrt_conv_scratch_elems((size_t)(s->c_in / s->groups) * (size_t)s->k_h * (size_t)s->k_w,
                                  (size_t)(s->c_out / s->groups),
                                  (size_t)s->h_out * (size_t)(s->w_in > s->w_out ? s->w_in : s->w_out));
}

size_t mtlrt_conv2d_pool_scratch(const mtlrt_conv2d_shape *s) {
  return mtlrt_conv2d_scratch(s) + (size_t)MTLRT_MAX_THREADS * (size_t)s->c_out * (size_t)s->h_out * (size_t)s->w_out;
}

int mtlrt_pool2d_shape_finish(mtlrt_pool2d_shape *s) {
  if (s->n <= 0 || s->c <= 0 || s->h_in <= 0 || s->w_in <= 0 || s->k_h <= 0 || s->k_w <= 0 ||
      s->stride_h <= 0 || s->stride_w <= 0 || s->pad_h < 0 || s->pad_w < 0 ||
      s->pad_h > s->k_h / 2 || s->pad_w > s->k_w / 2)
    return -1;
  s->h_out = conv_out(s->h_in, s->pad_h, s->pad_h, s->k_h, s->stride_h, 1);
  s->w_out = conv_out(s->w_in, s->pad_w, s->pad_w, s->k_w, s->stride_w, 1);
  return s->h_out > 0 && s->w_out > 0 ? 0 : -1;
}

static uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

float mtlrt_uniform(uint64_t seed, uint64_t counter) {
  uint64_t base = splitmix64(seed + UINT64_C(0x9e3779b97f4a7c15));
  uint64_t h = splitmix64(base + (counter + 1) * UINT64_C(0x9e3779b97f4a7c15));
  return (float)(h >> 40) * (1.0f / 16777216.0f);
}

double mtlrt_normal(uint64_t seed, uint64_t counter) {
  double u1 = mtlrt_uniform(seed, 2 * counter), u2 = mtlrt_uniform(seed, 2 * counter + 1);
  return sqrt(-2 * log(1 - u1)) * cos(2 * 3.14159265358979323846 * u2);
}
