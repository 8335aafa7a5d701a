/* opgen.c: what each layer and merge becomes in the generated C. An op's generator says
 * which forward values its backward rule reads (so that memplan.c keeps exactly those
 * alive), which saved and scratch buffers it needs, and emits its forward and backward
 * blocks as calls into libmtlrt with the shapes written out as constants. The generated
 * functions around these blocks (emit.c) provide `m` (the model), `n` (the rows of this
 * batch, at most the static batch) and, in the forward pass, `training`. */
#include "mtlc.h"
#include "mtlrt.h" /* the runtime's sizes of the kernels' scratch */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* One line of generated code, indented one level per open block; "{" opens one, "}" closes. */
static void line(Emit *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(Emit *e, const char *fmt, ...) {
  if (fmt[0] == '}')
    e->indent--;
  fprintf(e->out, "%*s", 4 * (e->indent + 1), "");
  va_list ap;
  va_start(ap, fmt);
  vfprintf(e->out, fmt, ap);
  va_end(ap);
  fputc('\n', e->out);
  if (fmt[0] == '{')
    e->indent++;
}

const char *real_str(Arena *a, double v) {
  for (int digits = 1; digits < 17; digits++) {
    const char *s = arena_printf(a, "%.*g", digits, v);
    if (strtod(s, NULL) == v)
      return s;
  }
  return arena_printf(a, "%.17g", v);
}

const char *real_lit(const Emit *e, double v) {
  return arena_printf(e->p->arena, "(%s)%s", e->real, real_str(e->p->arena, v));
}

const char *buf_expr(const Emit *e, const Buf *b) {
  if (!b)
    return "NULL";
  if (b->ext)
    return b->ext;
  return arena_printf(e->p->arena, "m->%s + %s", b->is_int ? "ia" : "a", b->name);
}

static const char *slot_expr(const Emit *e, const Slot *s, const char *array) {
  return arena_printf(e->p->arena, "m->%s + %s", array, s->cname);
}

static bool node_has_param(const Node *n, const char *name) {
  for (int k = 0; k < n->nparams; k++)
    if (!strcmp(n->params[k].name, name))
      return true;
  return false;
}

const char *param_expr(const Emit *e, const Node *n, const char *name) {
  if (!node_has_param(n, name))
    return "NULL";
  const Slot *s = find_slot(e->p, n, name);
  return slot_expr(e, s, s->kind == SLOT_PARAM ? "param" : "buffer");
}

const char *grad_expr(const Emit *e, const Node *n, const char *name) {
  if (!node_has_param(n, name))
    return "NULL";
  return slot_expr(e, find_slot(e->p, n, name), "grad");
}

/* ---- shapes of the calls ---- */

static int64_t elems(const Node *n) { return shape_elems(n->shape); }
static int64_t in_elems(const Node *n) { return shape_elems(n->inputs[0]->shape); }
static const Shape *in_shape(const Node *n) { return &n->inputs[0]->shape; }

/* "n * 784" or "n" */
static const char *rows(const Emit *e, int64_t per_sample) {
  return per_sample == 1 ? "n" : arena_printf(e->p->arena, "n * %lld", (long long)per_sample);
}

static const char *kernel(const Emit *e, const char *name) {
  return arena_printf(e->p->arena, "mtlrt_%s_%s", name, e->sfx);
}

/* The geometry of a convolution as a mtlrt_conv2d_shape initializer. For conv_transpose2d it
 * is the convolution the layer is the adjoint of (see mtlrt.h). */
static void conv_shape(Emit *e, const Node *n, bool transpose) {
  const Shape *in = in_shape(n), *out = &n->shape;
  const int *k = node_arg(n, "kernel")->pair, *st = node_arg(n, "stride")->pair;
  const Bound *pad = node_arg(n, "pad");
  int dil[2] = {1, 1}, groups = 1, lo[2], hi[2];
  if (!transpose) {
    memcpy(dil, node_arg(n, "dilation")->pair, sizeof dil);
    groups = (int)node_arg(n, "groups")->num;
  }
  for (int a = 0; a < 2; a++) {
    lo[a] = hi[a] = pad->pair[a];
    if (pad->same) {
      int total = (out->dim[a + 1] - 1) * st[a] + (k[a] - 1) * dil[a] + 1 - in->dim[a + 1];
      total = total > 0 ? total : 0;
      lo[a] = total / 2;
      hi[a] = total - lo[a];
    }
  }
  const Shape *big = transpose ? out : in, *small = transpose ? in : out;
  line(e, "const mtlrt_conv2d_shape s = {.n = n, .c_in = %d, .h_in = %d, .w_in = %d, "
          ".c_out = %d, .h_out = %d, .w_out = %d,",
       big->dim[0], big->dim[1], big->dim[2], small->dim[0], small->dim[1], small->dim[2]);
  line(e, "    .k_h = %d, .k_w = %d, .stride_h = %d, .stride_w = %d, .pad_top = %d, .pad_left = %d, "
          ".pad_bottom = %d, .pad_right = %d,",
       k[0], k[1], st[0], st[1], lo[0], lo[1], hi[0], hi[1]);
  line(e, "    .dil_h = %d, .dil_w = %d, .groups = %d};", dil[0], dil[1], groups);
}

static void plan_conv(Program *p, Ins *ins, bool transpose) {
  const Node *n = ins->node;
  const Shape *big = transpose ? &n->shape : in_shape(n), *small = transpose ? in_shape(n) : &n->shape;
  int groups = transpose ? 1 : (int)node_arg(n, "groups")->num;
  const int *k = node_arg(n, "kernel")->pair;
  size_t rows = (size_t)(big->dim[0] / groups) * (size_t)k[0] * (size_t)k[1];
  int width = big->dim[2] > small->dim[2] ? big->dim[2] : small->dim[2];
  size_t pixels = (size_t)small->dim[1] * (size_t)width;
  ins->scratch = new_buf(p, arena_printf(p->arena, "scratch_%s", n->name), 0,
                         (int64_t)mtlrt_conv_scratch_elems(rows, (size_t)(small->dim[0] / groups), pixels));
}

/* ---- dense ---- */

static void dense_dims(const Node *n, int64_t *lead, int *f, int *units) {
  *f = in_shape(n)->dim[in_shape(n)->rank - 1];
  *units = n->shape.dim[n->shape.rank - 1];
  *lead = in_elems(n) / *f;
}

static void fwd_dense(Emit *e, const Ins *ins) {
  const Node *n = ins->node;
  int64_t lead;
  int f, units;
  dense_dims(n, &lead, &f, &units);
  line(e, "%s(%s, %d, %d, %s, %s, %s, %s);", kernel(e, "dense_fwd"), rows(e, lead), f, units,
       buf_expr(e, ins->x[0]), param_expr(e, n, "weight"), param_expr(e, n, "bias"), buf_expr(e, ins->y));
}

static void bwd_dense(Emit *e, const Ins *ins) {
  const Node *n = ins->node;
  int64_t lead;
  int f, units;
  dense_dims(n, &lead, &f, &units);
  line(e, "%s(%s, %d, %d, %s, %s, %s,", kernel(e, "dense_bwd"), rows(e, lead), f, units,
       buf_expr(e, ins->x[0]), param_expr(e, n, "weight"), buf_expr(e, ins->dy));
  line(e, "    %s, %s, %s);", buf_expr(e, ins->dx[0]), grad_expr(e, n, "weight"), grad_expr(e, n, "bias"));
}

const OpGen gen_dense = {SAVE_X, false, NULL, fwd_dense, bwd_dense};

/* The geometry of a pooling window as a mtlrt_pool2d_shape initializer of `var`. */
static void pool_shape(Emit *e, const Node *n, const char *var) {
  const Shape *in = in_shape(n);
  const Bound *stride = node_arg(n, "stride");
  const int *k = node_arg(n, "kernel")->pair, *pad = node_arg(n, "pad")->pair;
  const int *st = stride->given ? stride->pair : k;
  line(e, "const mtlrt_pool2d_shape %s = {.n = n, .c = %d, .h_in = %d, .w_in = %d, .h_out = %d, "
          ".w_out = %d,",
       var, in->dim[0], in->dim[1], in->dim[2], n->shape.dim[1], n->shape.dim[2]);
  line(e, "    .k_h = %d, .k_w = %d, .stride_h = %d, .stride_w = %d, .pad_h = %d, .pad_w = %d};", k[0],
       k[1], st[0], st[1], pad[0], pad[1]);
}

/* ---- conv2d, conv_transpose2d ---- */

static void plan_conv2d(Program *p, Ins *ins) { plan_conv(p, ins, false); }
static void plan_conv_transpose2d(Program *p, Ins *ins) { plan_conv(p, ins, true); }

/* A convolution's block opens with its geometry `s` and, fused with a pool, the pool's `p`;
 * `fused` then receives the arguments that come before the kernel's own: "&p, relu, ". */
static void conv_open(Emit *e, const Ins *ins, bool transpose, const char **fused) {
  line(e, "{");
  conv_shape(e, ins->node, transpose);
  *fused = "";
  if (ins->pool) {
    pool_shape(e, ins->pool, "p");
    *fused = ins->relu ? "&p, 1, " : "&p, 0, ";
  }
}

static void conv_fwd(Emit *e, const Ins *ins, bool transpose, const char *name) {
  const Node *n = ins->node;
  const char *fused;
  conv_open(e, ins, transpose, &fused);
  const char *argmax = ins->pool ? arena_printf(e->p->arena, ", %s", buf_expr(e, ins->aux[0])) : "";
  line(e, "%s(&s, %s%s, %s, %s, %s%s, %s);", kernel(e, ins->pool ? "conv2d_pool_fwd" : name), fused,
       buf_expr(e, ins->x[0]), param_expr(e, n, "weight"), param_expr(e, n, "bias"), buf_expr(e, ins->y), argmax,
       buf_expr(e, ins->scratch));
  line(e, "}");
}

static void conv_bwd(Emit *e, const Ins *ins, bool transpose, const char *name) {
  const Node *n = ins->node;
  const char *fused;
  conv_open(e, ins, transpose, &fused);
  if (ins->pool) /* the pooled output and the argmax, which stand for the convolution's output */
    name = "conv2d_pool";
  const char *pooled =
      ins->pool ? arena_printf(e->p->arena, "%s, %s, ", buf_expr(e, ins->y), buf_expr(e, ins->aux[0])) : "";
  line(e, "%s(&s, %s%s, %s, %s%s,", kernel(e, arena_printf(e->p->arena, "%s_bwd", name)), fused,
       buf_expr(e, ins->x[0]), param_expr(e, n, "weight"), pooled, buf_expr(e, ins->dy));
  line(e, "    %s, %s, %s, %s);", ins->dx[0] ? buf_expr(e, ins->dx[0]) : "NULL", grad_expr(e, n, "weight"),
       grad_expr(e, n, "bias"), buf_expr(e, ins->scratch));
  line(e, "}");
}

/* The one node that reads v (NULL if none, several, or v is a task's output). */
static const Node *only_reader(const Program *p, const Node *v) {
  const Checked *c = p->c;
  const Node *reader = NULL;
  for (int t = 0; t < c->ntasks; t++)
    if (c->tasks[t].output == v)
      return NULL;
  for (int i = 0; i < c->nnodes; i++)
    for (int k = 0; p->live[i] && k < c->nodes[i]->ninputs; k++)
      if (c->nodes[i]->inputs[k] == v) {
        if (reader)
          return NULL;
        reader = c->nodes[i];
      }
  return reader;
}

static Ins *fwd_ins(Program *p, const Node *n) {
  for (int i = 0; i < p->nfwd; i++)
    if (p->ins[i].node == n)
      return &p->ins[i];
  return NULL;
}

/* Whether n is a `want` op of the same task (or shared) as `of`. */
static bool is_op(const Node *n, OpId want, const Node *of) {
  return n && n->op_id == want && n->task == of->task;
}

void fuse_conv_pool(Program *p) {
  for (int i = 0; i < p->nfwd; i++) {
    Ins *conv = &p->ins[i];
    const Node *v = conv->node, *a = v->op_id == OP_CONV2D ? only_reader(p, v) : NULL;
    const Node *b = a ? only_reader(p, a) : NULL;
    /* conv -> maxpool [-> relu], or conv -> relu -> maxpool: the same, as relu(max) = max(relu). All
     * three are in one task's head or all shared, so that a walk through a head alone (gradient
     * strategies) never passes the pool's gradient off as the convolution's. */
    const Node *pool = is_op(a, OP_MAXPOOL2D, v)                               ? a
                       : is_op(a, OP_RELU, v) && is_op(b, OP_MAXPOOL2D, v) ? b
                                                                           : NULL;
    const Node *relu = pool == a && is_op(b, OP_RELU, v) ? b : pool == b ? a : NULL;
    /* Its scratch holds a sample per thread: no more than the output it replaces. */
    if (!pool || p->c->batch < MTLRT_MAX_THREADS)
      continue;
    Ins *pool_ins = fwd_ins(p, pool);
    conv->pool = pool;
    conv->relu = relu != NULL;
    conv->y = relu && relu == b ? fwd_ins(p, relu)->y : pool_ins->y;
    conv->aux[0] = pool_ins->aux[0];
    conv->scratch->fixed += (int64_t)MTLRT_MAX_THREADS * elems(v);
    pool_ins->fused = true;
    if (relu)
      fwd_ins(p, relu)->fused = true;
  }
}

static void fwd_conv2d(Emit *e, const Ins *ins) { conv_fwd(e, ins, false, "conv2d_fwd"); }
static void bwd_conv2d(Emit *e, const Ins *ins) { conv_bwd(e, ins, false, "conv2d"); }
static void fwd_conv_transpose2d(Emit *e, const Ins *ins) { conv_fwd(e, ins, true, "conv_transpose2d_fwd"); }
static void bwd_conv_transpose2d(Emit *e, const Ins *ins) { conv_bwd(e, ins, true, "conv_transpose2d"); }

const OpGen gen_conv2d = {SAVE_X, false, plan_conv2d, fwd_conv2d, bwd_conv2d};
const OpGen gen_conv_transpose2d = {SAVE_X, false, plan_conv_transpose2d, fwd_conv_transpose2d,
                                    bwd_conv_transpose2d};

/* ---- pooling, upsampling ---- */

static void plan_maxpool2d(Program *p, Ins *ins) {
  ins->aux[0] = new_buf(p, arena_printf(p->arena, "argmax_%s", ins->node->name), elems(ins->node), 0);
  ins->aux[0]->is_int = true;
}

/* A pooling kernel's call, in a block that declares its geometry `s`. */
static void pool_call(Emit *e, const Ins *ins, const char *name, const Buf *a, const Buf *b, const Buf *c) {
  line(e, "{");
  pool_shape(e, ins->node, "s");
  line(e, "%s(&s, %s, %s%s%s);", kernel(e, name), buf_expr(e, a), buf_expr(e, b), c ? ", " : "",
       c ? buf_expr(e, c) : "");
  line(e, "}");
}

static void fwd_maxpool2d(Emit *e, const Ins *ins) {
  pool_call(e, ins, "maxpool2d_fwd", ins->x[0], ins->y, ins->aux[0]);
}
static void bwd_maxpool2d(Emit *e, const Ins *ins) {
  pool_call(e, ins, "maxpool2d_bwd", ins->aux[0], ins->dy, ins->dx[0]);
}
static void fwd_avgpool2d(Emit *e, const Ins *ins) { pool_call(e, ins, "avgpool2d_fwd", ins->x[0], ins->y, NULL); }
static void bwd_avgpool2d(Emit *e, const Ins *ins) { pool_call(e, ins, "avgpool2d_bwd", ins->dy, ins->dx[0], NULL); }

const OpGen gen_maxpool2d = {0, false, plan_maxpool2d, fwd_maxpool2d, bwd_maxpool2d};
const OpGen gen_avgpool2d = {0, false, NULL, fwd_avgpool2d, bwd_avgpool2d};

static void fwd_global_avgpool(Emit *e, const Ins *ins) {
  const Shape *in = in_shape(ins->node);
  line(e, "%s(%s, %d, %s, %s);", kernel(e, "global_avgpool_fwd"), rows(e, in->dim[0]), in->dim[1] * in->dim[2],
       buf_expr(e, ins->x[0]), buf_expr(e, ins->y));
}

static void bwd_global_avgpool(Emit *e, const Ins *ins) {
  const Shape *in = in_shape(ins->node);
  line(e, "%s(%s, %d, %s, %s);", kernel(e, "global_avgpool_bwd"), rows(e, in->dim[0]), in->dim[1] * in->dim[2],
       buf_expr(e, ins->dy), buf_expr(e, ins->dx[0]));
}

const OpGen gen_global_avgpool = {0, false, NULL, fwd_global_avgpool, bwd_global_avgpool};

static void upsample(Emit *e, const Ins *ins, const char *dir, const Buf *from, const Buf *to) {
  const Node *n = ins->node;
  const Shape *in = in_shape(n);
  const int *sc = node_arg(n, "scale")->pair;
  const char *mode = node_arg(n, "mode")->num == 1 ? "bilinear" : "nearest";
  line(e, "%s(%s, %d, %d, %d, %d, %s, %s);", kernel(e, arena_printf(e->p->arena, "upsample_%s_%s", mode, dir)),
       rows(e, in->dim[0]), in->dim[1], in->dim[2], sc[0], sc[1], buf_expr(e, from), buf_expr(e, to));
}

static void fwd_upsample(Emit *e, const Ins *ins) { upsample(e, ins, "fwd", ins->x[0], ins->y); }
static void bwd_upsample(Emit *e, const Ins *ins) { upsample(e, ins, "bwd", ins->dy, ins->dx[0]); }

const OpGen gen_upsample = {0, false, NULL, fwd_upsample, bwd_upsample};

/* ---- views: the same memory, another shape ---- */

const OpGen gen_flatten = {0, true, NULL, NULL, NULL};
const OpGen gen_reshape = {0, true, NULL, NULL, NULL};

/* ---- elementwise ---- */

static void unary(Emit *e, const Ins *ins, const char *name, const char *extra) {
  line(e, "%s(%s, %s%s, %s);", kernel(e, arena_printf(e->p->arena, "%s_fwd", name)), rows(e, elems(ins->node)),
       extra, buf_expr(e, ins->x[0]), buf_expr(e, ins->y));
}

static void unary_bwd(Emit *e, const Ins *ins, const char *name, const char *extra) {
  line(e, "%s(%s, %s%s, %s, %s, %s);", kernel(e, arena_printf(e->p->arena, "%s_bwd", name)),
       rows(e, elems(ins->node)), extra, buf_expr(e, ins->x[0]), buf_expr(e, ins->y), buf_expr(e, ins->dy),
       buf_expr(e, ins->dx[0]));
}

#define ACTIVATION(act)                                                                                  \
  static void fwd_##act(Emit *e, const Ins *ins) { unary(e, ins, #act, ""); }                           \
  static void bwd_##act(Emit *e, const Ins *ins) { unary_bwd(e, ins, #act, ""); }                       \
  const OpGen gen_##act = {SAVE_X | SAVE_Y, false, NULL, fwd_##act, bwd_##act};
ACTIVATION(relu)
ACTIVATION(sigmoid)
ACTIVATION(tanh)
ACTIVATION(gelu)
#undef ACTIVATION

static const char *slope(const Emit *e, const Ins *ins) {
  return arena_printf(e->p->arena, "%s, ", real_lit(e, node_arg(ins->node, "slope")->num));
}
static void fwd_leaky_relu(Emit *e, const Ins *ins) { unary(e, ins, "leaky_relu", slope(e, ins)); }
static void bwd_leaky_relu(Emit *e, const Ins *ins) { unary_bwd(e, ins, "leaky_relu", slope(e, ins)); }
const OpGen gen_leaky_relu = {SAVE_X | SAVE_Y, false, NULL, fwd_leaky_relu, bwd_leaky_relu};

/* softmax over a per-sample axis: [outer, dim, inner] with the batch folded into outer. */
static void softmax_dims(const Node *n, int64_t *outer, int *dim, int64_t *inner) {
  int axis = (int)node_arg(n, "axis")->num;
  if (axis < 0)
    axis += n->shape.rank;
  *outer = 1, *inner = 1;
  for (int a = 0; a < axis; a++)
    *outer *= n->shape.dim[a];
  for (int a = axis + 1; a < n->shape.rank; a++)
    *inner *= n->shape.dim[a];
  *dim = n->shape.dim[axis];
}

static void fwd_softmax(Emit *e, const Ins *ins) {
  int64_t outer, inner;
  int dim;
  softmax_dims(ins->node, &outer, &dim, &inner);
  line(e, "%s(%s, %d, %lld, %s, %s);", kernel(e, "softmax_fwd"), rows(e, outer), dim, (long long)inner,
       buf_expr(e, ins->x[0]), buf_expr(e, ins->y));
}

static void bwd_softmax(Emit *e, const Ins *ins) {
  int64_t outer, inner;
  int dim;
  softmax_dims(ins->node, &outer, &dim, &inner);
  line(e, "%s(%s, %d, %lld, %s, %s, %s);", kernel(e, "softmax_bwd"), rows(e, outer), dim, (long long)inner,
       buf_expr(e, ins->y), buf_expr(e, ins->dy), buf_expr(e, ins->dx[0]));
}

const OpGen gen_softmax = {SAVE_Y, false, NULL, fwd_softmax, bwd_softmax};

/* Dropout's mask comes from the counter-based generator: element i of this node in step s
 * (m->train.step, counted from 0) uses counter s * DROPOUT_STRIDE + base + i, where base is the sum
 * of batch * elements of the dropout nodes before it; the backward regenerates it. */
static void plan_dropout(Program *p, Ins *ins) {
  ins->counter = p->dropout_elems;
  p->dropout_elems += p->c->batch * elems(ins->node);
}

static const char *dropout_args(const Emit *e, const Ins *ins) {
  return arena_printf(e->p->arena, "%s, %s, m->train.seed + 1, (uint64_t)m->train.step * DROPOUT_STRIDE + %lld",
                      rows(e, elems(ins->node)), real_lit(e, node_arg(ins->node, "p")->num),
                      (long long)ins->counter);
}

static void fwd_dropout(Emit *e, const Ins *ins) {
  line(e, "if (training)");
  line(e, "    %s(%s, %s, %s);", kernel(e, "dropout_fwd"), dropout_args(e, ins), buf_expr(e, ins->x[0]),
       buf_expr(e, ins->y));
  line(e, "else");
  line(e, "    memcpy(%s, %s, sizeof(%s) * (size_t)%s);", buf_expr(e, ins->y), buf_expr(e, ins->x[0]), e->real,
       rows(e, elems(ins->node)));
}

static void bwd_dropout(Emit *e, const Ins *ins) {
  line(e, "%s(%s, %s, %s);", kernel(e, "dropout_bwd"), dropout_args(e, ins), buf_expr(e, ins->dy),
       buf_expr(e, ins->dx[0]));
}

const OpGen gen_dropout = {0, false, plan_dropout, fwd_dropout, bwd_dropout};

/* ---- normalisation ---- */

static void plan_stats(Program *p, Ins *ins, int64_t per_sample, int64_t fixed) {
  const char *name = ins->node->name;
  ins->aux[0] = new_buf(p, arena_printf(p->arena, "mean_%s", name), per_sample, fixed);
  ins->aux[1] = new_buf(p, arena_printf(p->arena, "invstd_%s", name), per_sample, fixed);
}

static void plan_batchnorm(Program *p, Ins *ins) { plan_stats(p, ins, 0, ins->node->shape.dim[0]); }

static int64_t bn_hw(const Node *n) { return n->shape.rank == 3 ? (int64_t)n->shape.dim[1] * n->shape.dim[2] : 1; }

static void fwd_batchnorm(Emit *e, const Ins *ins) {
  const Node *n = ins->node;
  const Slot *count = NULL;
  for (int i = 0; i < e->p->nslots; i++)
    if (e->p->slots[i].node == n && e->p->slots[i].kind == SLOT_COUNT)
      count = &e->p->slots[i];
  line(e, "%s(n, %d, %lld, %s, %s, %s,", kernel(e, "batchnorm_fwd"), n->shape.dim[0], (long long)bn_hw(n),
       buf_expr(e, ins->x[0]), param_expr(e, n, "weight"), param_expr(e, n, "bias"));
  line(e, "    %s, %s, training, %s, %s,", param_expr(e, n, "running_mean"), param_expr(e, n, "running_var"),
       real_lit(e, node_arg(n, "momentum")->num), real_lit(e, node_arg(n, "eps")->num));
  line(e, "    %s, %s, %s);", buf_expr(e, ins->y), buf_expr(e, ins->aux[0]), buf_expr(e, ins->aux[1]));
  line(e, "if (training)");
  line(e, "    m->count[%s]++;", count->cname);
}

static void bwd_batchnorm(Emit *e, const Ins *ins) {
  const Node *n = ins->node;
  line(e, "%s(n, %d, %lld, %s, %s, %s, %s,", kernel(e, "batchnorm_bwd"), n->shape.dim[0], (long long)bn_hw(n),
       buf_expr(e, ins->x[0]), param_expr(e, n, "weight"), buf_expr(e, ins->aux[0]), buf_expr(e, ins->aux[1]));
  line(e, "    %s, %s, %s, %s);", buf_expr(e, ins->dy), buf_expr(e, ins->dx[0]), grad_expr(e, n, "weight"),
       grad_expr(e, n, "bias"));
}

const OpGen gen_batchnorm = {SAVE_X, false, plan_batchnorm, fwd_batchnorm, bwd_batchnorm};

static int ln_features(const Node *n) { return n->shape.dim[n->shape.rank - 1]; }

static void plan_layernorm(Program *p, Ins *ins) {
  plan_stats(p, ins, elems(ins->node) / ln_features(ins->node), 0);
}

static void fwd_layernorm(Emit *e, const Ins *ins) {
  const Node *n = ins->node;
  int f = ln_features(n);
  line(e, "%s(%s, %d, %s, %s, %s, %s,", kernel(e, "layernorm_fwd"), rows(e, elems(n) / f), f,
       buf_expr(e, ins->x[0]), param_expr(e, n, "weight"), param_expr(e, n, "bias"),
       real_lit(e, node_arg(n, "eps")->num));
  line(e, "    %s, %s, %s);", buf_expr(e, ins->y), buf_expr(e, ins->aux[0]), buf_expr(e, ins->aux[1]));
}

static void bwd_layernorm(Emit *e, const Ins *ins) {
  const Node *n = ins->node;
  int f = ln_features(n);
  line(e, "%s(%s, %d, %s, %s, %s, %s,", kernel(e, "layernorm_bwd"), rows(e, elems(n) / f), f,
       buf_expr(e, ins->x[0]), param_expr(e, n, "weight"), buf_expr(e, ins->aux[0]), buf_expr(e, ins->aux[1]));
  line(e, "    %s, %s, %s, %s);", buf_expr(e, ins->dy), buf_expr(e, ins->dx[0]), grad_expr(e, n, "weight"),
       grad_expr(e, n, "bias"));
}

const OpGen gen_layernorm = {SAVE_X, false, plan_layernorm, fwd_layernorm, bwd_layernorm};

/* ---- merges ---- */

/* concat along a per-sample axis: rows of the output hold each input's block in turn. */
static void concat_copy(Emit *e, const Ins *ins, bool backward) {
  const Node *n = ins->node;
  int axis = (int)node_arg(n, "axis")->num;
  if (axis < 0)
    axis += n->shape.rank;
  int64_t outer = 1, total = 1, at = 0;
  for (int a = 0; a < axis; a++)
    outer *= n->shape.dim[a];
  for (int a = axis; a < n->shape.rank; a++)
    total *= n->shape.dim[a];
  for (int k = 0; k < n->ninputs; k++) {
    int64_t len = shape_elems(n->inputs[k]->shape) / outer;
    const char *y = arena_printf(e->p->arena, "%s + %lld", buf_expr(e, backward ? ins->dy : ins->y), (long long)at);
    if (!backward)
      line(e, "%s(%s, %lld, %s, %lld, %s, %lld);", kernel(e, "copy_rows"), rows(e, outer), (long long)len,
           buf_expr(e, ins->x[k]), (long long)len, y, (long long)total);
    else if (ins->dx[k])
      line(e, "%s(%s, %lld, %s, %lld, %s, %lld);", kernel(e, "copy_rows"), rows(e, outer), (long long)len, y,
           (long long)total, buf_expr(e, ins->dx[k]), (long long)len);
    at += len;
  }
}

static void fwd_concat(Emit *e, const Ins *ins) { concat_copy(e, ins, false); }
static void bwd_concat(Emit *e, const Ins *ins) { concat_copy(e, ins, true); }

const OpGen gen_concat = {0, false, NULL, fwd_concat, bwd_concat};

static void fwd_add(Emit *e, const Ins *ins) {
  const char *count = rows(e, elems(ins->node));
  for (int k = 1; k < ins->node->ninputs; k++)
    line(e, "%s(%s, %s, %s, %s);", kernel(e, "add"), count, buf_expr(e, k == 1 ? ins->x[0] : ins->y),
         buf_expr(e, ins->x[k]), buf_expr(e, ins->y));
}

static void bwd_add(Emit *e, const Ins *ins) {
  for (int k = 0; k < ins->node->ninputs; k++)
    if (ins->dx[k])
      line(e, "memcpy(%s, %s, sizeof(%s) * (size_t)%s);", buf_expr(e, ins->dx[k]), buf_expr(e, ins->dy), e->real,
           rows(e, elems(ins->node)));
}

const OpGen gen_add = {0, false, NULL, fwd_add, bwd_add};

const OpGen gen_none = {0, false, NULL, NULL, NULL};
