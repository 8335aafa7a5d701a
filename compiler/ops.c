/* ops.c: the registry of ops.def expanded into op_table, and the shape rule of every layer
 * and merge. A shape rule reads the node's bound arguments and its inputs' per-sample shapes
 * and fills in the output shape, the parameters under their §5 names, and the forward FLOPs
 * per sample (a multiply-add counts 2; an elementwise op 1 per element). sema.c calls the
 * rules while it walks the chains; explain.c and the later stages read what they filled. */
#include "mtlc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const Shape *in_shape(const Node *n, int i) { return &n->inputs[i]->shape; }

static bool need_rank3(Sema *s, Node *n) {
  if (in_shape(n, 0)->rank == 3)
    return true;
  node_error(s, n, "%s expects [C, H, W], got %s", n->op->name,
             shape_str(s->arena, *in_shape(n, 0)));
  return false;
}

static bool shape_dense(Sema *s, Node *n) {
  Shape in = *in_shape(n, 0), out = in;
  int units = (int)node_arg(n, "units")->num;
  bool bias = node_arg(n, "bias")->num != 0;
  int64_t f = in.dim[in.rank - 1], lead = shape_elems(in) / f;
  out.dim[out.rank - 1] = units;
  n->flops = sat_add(sat_mul(sat_mul(2 * lead, f), units), bias ? sat_mul(lead, units) : 0);
  return set_elems(s, n, out) && add_param(s, n, "weight", shape_of(2, units, (int)f), true) &&
         (!bias || add_param(s, n, "bias", shape_of(1, units), true));
}

/* The output size of a convolution or pooling window along one axis; < 1 when it doesn't fit. */
static int64_t window_out(int64_t in, int k, int stride, int pad, int dilation) {
  return (in + 2 * (int64_t)pad - (int64_t)dilation * (k - 1) - 1) / stride + 1;
}

static bool window_fits(Sema *s, Node *n, const int64_t out[2], const int k[2], const int dil[2],
                        const char *what) {
  if (out[0] >= 1 && out[1] >= 1)
    return true;
  const char *dilated = dil[0] == 1 && dil[1] == 1
                            ? ""
                            : arena_printf(s->arena, " (dilated to [%lld, %lld])", (long long)dil[0] * (k[0] - 1) + 1,
                                           (long long)dil[1] * (k[1] - 1) + 1);
  node_error(s, n, "%s: the %s [%d, %d]%s does not fit in the input %s", n->op->name, what, k[0], k[1],
             dilated, shape_str(s->arena, *in_shape(n, 0)));
  return false;
}

static bool shape_conv2d(Sema *s, Node *n) {
  if (!need_rank3(s, n))
    return false;
  Shape in = *in_shape(n, 0);
  int c = (int)node_arg(n, "channels")->num, groups = (int)node_arg(n, "groups")->num;
  const int *k = node_arg(n, "kernel")->pair, *st = node_arg(n, "stride")->pair;
  const int *dil = node_arg(n, "dilation")->pair;
  const Bound *pad = node_arg(n, "pad");
  bool bias = node_arg(n, "bias")->num != 0;
  if (in.dim[0] % groups || c % groups) {
    node_error(s, n, "conv2d: groups = %d must divide both the input channels (%d) and the output "
               "channels (%d)", groups, in.dim[0], c);
    return false;
  }
  int64_t out[2];
  for (int a = 0; a < 2; a++) {
    int64_t h = in.dim[a + 1];
    out[a] = pad->same ? (h + st[a] - 1) / st[a] : window_out(h, k[a], st[a], pad->pair[a], dil[a]);
  }
  if (!window_fits(s, n, out, k, dil, "kernel"))
    return false;
  if (out[0] > INT_MAX || out[1] > INT_MAX) {
    node_error(s, n, "conv2d: the output would be [%d, %lld, %lld], too large", c, (long long)out[0],
               (long long)out[1]);
    return false;
  }
  Shape sh = shape_of(3, c, (int)out[0], (int)out[1]);
  int64_t per_out = sat_mul(sat_mul((int64_t)in.dim[0] / groups, k[0]), k[1]); /* padding lets k exceed the input */
  n->flops = sat_add(sat_mul(sat_mul(2, per_out), shape_elems(sh)), bias ? shape_elems(sh) : 0);
  return set_elems(s, n, sh) &&
         add_param(s, n, "weight", shape_of(4, c, in.dim[0] / groups, k[0], k[1]), true) &&
         (!bias || add_param(s, n, "bias", shape_of(1, c), true));
}

static bool shape_conv_transpose2d(Sema *s, Node *n) {
  if (!need_rank3(s, n))
    return false;
  Shape in = *in_shape(n, 0);
  int c = (int)node_arg(n, "channels")->num;
  const int *k = node_arg(n, "kernel")->pair, *st = node_arg(n, "stride")->pair;
  const int *pad = node_arg(n, "pad")->pair, *opad = node_arg(n, "output_pad")->pair;
  bool bias = node_arg(n, "bias")->num != 0;
  int64_t out[2];
  for (int a = 0; a < 2; a++) {
    if (opad[a] >= st[a]) {
      error_at(s->diag, node_arg(n, "output_pad")->loc,
               "conv_transpose2d: output_pad (%d) must be smaller than the stride (%d)", opad[a], st[a]);
      return false;
    }
    out[a] = ((int64_t)in.dim[a + 1] - 1) * st[a] - 2 * (int64_t)pad[a] + k[a] + opad[a];
  }
  if (out[0] < 1 || out[1] < 1 || out[0] > INT_MAX || out[1] > INT_MAX) {
    node_error(s, n, "conv_transpose2d: pad = [%d, %d] leaves no output for the input %s", pad[0],
               pad[1], shape_str(s->arena, in));
    return false;
  }
  Shape sh = shape_of(3, c, (int)out[0], (int)out[1]);
  n->flops = sat_add(sat_mul(sat_mul(sat_mul(2 * (int64_t)c, k[0]), k[1]), shape_elems(in)),
                     bias ? shape_elems(sh) : 0);
  return set_elems(s, n, sh) && add_param(s, n, "weight", shape_of(4, in.dim[0], c, k[0], k[1]), true) &&
         (!bias || add_param(s, n, "bias", shape_of(1, c), true));
}

static bool shape_pool2d(Sema *s, Node *n) {
  if (!need_rank3(s, n))
    return false;
  Shape in = *in_shape(n, 0);
  const Bound *stride = node_arg(n, "stride");
  const int *k = node_arg(n, "kernel")->pair, *pad = node_arg(n, "pad")->pair;
  const int *st = stride->given ? stride->pair : k;
  int64_t out[2];
  for (int a = 0; a < 2; a++) {
    if (pad[a] > k[a] / 2) {
      error_at(s->diag, node_arg(n, "pad")->loc,
               "%s: pad (%d) must be at most half the kernel (%d)", n->op->name, pad[a], k[a]);
      return false;
    }
    out[a] = window_out(in.dim[a + 1], k[a], st[a], pad[a], 1);
  }
  if (!window_fits(s, n, out, k, (const int[2]){1, 1}, "window"))
    return false;
  Shape sh = shape_of(3, in.dim[0], (int)out[0], (int)out[1]);
  n->flops = sat_mul(shape_elems(sh), (int64_t)k[0] * k[1]);
  return set_elems(s, n, sh);
}

static bool shape_global_avgpool(Sema *s, Node *n) {
  if (!need_rank3(s, n))
    return false;
  n->flops = shape_elems(*in_shape(n, 0));
  return set_elems(s, n, shape_of(1, in_shape(n, 0)->dim[0]));
}

static bool shape_upsample(Sema *s, Node *n) {
  if (!need_rank3(s, n))
    return false;
  Shape in = *in_shape(n, 0);
  const int *sc = node_arg(n, "scale")->pair;
  int64_t h = sat_mul(in.dim[1], sc[0]), w = sat_mul(in.dim[2], sc[1]);
  if (h > INT_MAX || w > INT_MAX) {
    node_error(s, n, "upsample: the output is too large");
    return false;
  }
  Shape sh = shape_of(3, in.dim[0], (int)h, (int)w);
  bool bilinear = node_arg(n, "mode")->num == 1;
  n->flops = bilinear ? sat_mul(8, shape_elems(sh)) : 0; /* four multiply-adds per output */
  return set_elems(s, n, sh);
}

static bool shape_flatten(Sema *s, Node *n) {
  return set_elems(s, n, shape_of(1, (int)shape_elems(*in_shape(n, 0))));
}

static bool shape_reshape(Sema *s, Node *n) {
  const Bound *b = node_arg(n, "shape");
  int64_t total = shape_elems(*in_shape(n, 0)), known = 1;
  int infer = -1;
  Shape sh = {.rank = b->nints};
  for (int i = 0; i < b->nints; i++) {
    if (b->ints[i] == -1 && infer < 0) {
      infer = i;
    } else if (b->ints[i] == -1) {
      node_error(s, n, "reshape: at most one dimension may be -1");
      return false;
    } else if (b->ints[i] < 1) {
      node_error(s, n, "reshape: dimension %lld is invalid (each must be >= 1, one may be -1)",
                 b->ints[i]);
      return false;
    } else {
      known = sat_mul(known, b->ints[i]);
      sh.dim[i] = (int)b->ints[i];
    }
  }
  if (infer >= 0 && total % known == 0)
    sh.dim[infer] = (int)(total / known);
  if ((infer >= 0 && total % known) || (infer < 0 && known != total)) {
    const char *dims = "";
    for (int i = 0; i < b->nints; i++)
      dims = arena_printf(s->arena, "%s%s%lld", dims, i ? ", " : "", b->ints[i]);
    node_error(s, n, "reshape: cannot view %s (%lld elements) as [%s]",
               shape_str(s->arena, *in_shape(n, 0)), (long long)total, dims);
    return false;
  }
  return set_elems(s, n, sh);
}

static bool shape_elementwise(Sema *s, Node *n) {
  n->flops = shape_elems(*in_shape(n, 0));
  return set_elems(s, n, *in_shape(n, 0));
}

/* An axis of a per-sample shape; negative counts from the end, as in Python. */
static bool resolve_axis(Sema *s, Node *n, const Shape *sh, int *axis) {
  const Bound *b = node_arg(n, "axis");
  long long a = (long long)b->num;
  if (a < -sh->rank || a >= sh->rank) {
    error_at(s->diag, b->loc, "%s: axis %lld is out of range for %s", n->op->name, a,
             shape_str(s->arena, *sh));
    return false;
  }
  *axis = (int)(a < 0 ? a + sh->rank : a);
  return true;
}

static bool shape_softmax(Sema *s, Node *n) {
  int axis;
  if (!resolve_axis(s, n, in_shape(n, 0), &axis))
    return false;
  n->flops = sat_mul(3, shape_elems(*in_shape(n, 0)));
  return set_elems(s, n, *in_shape(n, 0));
}

static bool shape_batchnorm(Sema *s, Node *n) {
  Shape in = *in_shape(n, 0);
  if (in.rank != 1 && in.rank != 3) {
    node_error(s, n, "batchnorm expects [C, H, W] or [F], got %s", shape_str(s->arena, in));
    return false;
  }
  Shape c = shape_of(1, in.dim[0]);
  n->flops = sat_mul(2, shape_elems(in));
  return set_elems(s, n, in) && add_param(s, n, "weight", c, true) && add_param(s, n, "bias", c, true) &&
         add_param(s, n, "running_mean", c, false) && add_param(s, n, "running_var", c, false);
}

static bool shape_layernorm(Sema *s, Node *n) {
  Shape in = *in_shape(n, 0), f = shape_of(1, in.dim[in.rank - 1]);
  n->flops = sat_mul(5, shape_elems(in));
  return set_elems(s, n, in) && add_param(s, n, "weight", f, true) && add_param(s, n, "bias", f, true);
}

static bool shape_concat(Sema *s, Node *n) {
  Shape out = *in_shape(n, 0);
  int axis;
  if (!resolve_axis(s, n, &out, &axis))
    return false;
  int64_t along = out.dim[axis];
  for (int i = 1; i < n->ninputs; i++) {
    const Shape *sh = in_shape(n, i);
    bool ok = sh->rank == out.rank;
    for (int a = 0; ok && a < out.rank; a++)
      ok = a == axis || sh->dim[a] == out.dim[a];
    if (!ok) {
      node_error(s, n, "concat: '%s' is %s but '%s' is %s; they must agree except on axis %d",
                 node_label(n->inputs[0]), shape_str(s->arena, out), node_label(n->inputs[i]),
                 shape_str(s->arena, *sh), axis);
      return false;
    }
    along += sh->dim[axis];
  }
  if (along > INT_MAX) {
    node_error(s, n, "concat: the output is too large");
    return false;
  }
  out.dim[axis] = (int)along;
  return set_elems(s, n, out);
}

static bool shape_add(Sema *s, Node *n) {
  const Shape *a = in_shape(n, 0);
  for (int i = 1; i < n->ninputs; i++) {
    const Shape *b = in_shape(n, i);
    if (b->rank != a->rank || memcmp(a->dim, b->dim, sizeof(int) * (size_t)a->rank)) {
      node_error(s, n, "add: '%s' is %s but '%s' is %s; the shapes must be equal", node_label(n->inputs[0]),
                 shape_str(s->arena, *a), node_label(n->inputs[i]), shape_str(s->arena, *b));
      return false;
    }
  }
  n->flops = sat_mul(n->ninputs - 1, shape_elems(*a));
  return set_elems(s, n, *a);
}

#define END {0}
#define REQ(n, t, r) {n, ARG_##t, true, 0, R_##r, NULL}
#define OPT(n, t, d, r) {n, ARG_##t, false, d, R_##r, NULL}
#define CHOICE(n, d, ...) {n, ARG_CHOICE, false, d, R_ANY, (const char *const[]){__VA_ARGS__, NULL}}

const OpInfo op_table[OP_COUNT] = {
#define OP(id, nm, k, tier, rule, gen, ...) \
  [OP_##id] = {nm, KIND_##k, tier == 3, rule, &gen, (const ArgSpec[]){__VA_ARGS__}},
#include "ops.def"
#undef OP
};

const OpInfo *find_op(const char *name, unsigned kinds) {
  for (int i = 0; i < OP_COUNT; i++)
    if (kinds & 1u << op_table[i].kind && !strcmp(op_table[i].name, name))
      return &op_table[i];
  return NULL;
}

int op_names(unsigned kinds, const char **out) {
  int n = 0;
  for (int i = 0; i < OP_COUNT; i++)
    if (kinds & 1u << op_table[i].kind)
      out[n++] = op_table[i].name;
  return n;
}

const char *call_kind_name(CallKind k) {
  static const char *const names[] = {
      [KIND_LAYER] = "layer",         [KIND_MERGE] = "merge",         [KIND_LOSS] = "loss",
      [KIND_STRATEGY] = "strategy",   [KIND_OPTIMIZER] = "optimizer", [KIND_SCHEDULE] = "schedule",
      [KIND_METRIC] = "metric",
  };
  return names[k];
}

double op_arg(OpId op, const Bound *args, const char *name) {
  for (int i = 0; op_table[op].args[i].name; i++)
    if (!strcmp(op_table[op].args[i].name, name))
      return args[i].num;
  fprintf(stderr, "mtlc: internal error: %s has no argument '%s'\n", op_table[op].name, name);
  abort();
}
