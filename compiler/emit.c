/* emit.c: C emission. It fills the skeletons of templates/ (embedded into mtlc at build time)
 * with the planned program: the parameter and buffer offsets, the forward pass (each op's
 * block from opgen.c, under a comment naming its .mtl line), the losses and the objective,
 * the backward pass, the optimizer step, the schedule, the initialisation and the tables
 * that describe the model to generic code. The output depends on nothing but the input: no
 * timestamp, no path but the one given. */
#define _POSIX_C_SOURCE 200809L
#include "mtlc.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define ABI_VERSION 3 /* MTLRT_ABI_VERSION of the runtime this code generator targets */

/* A section of text being built: a memory stream. */
typedef struct Text {
  char *buf;
  size_t len;
  FILE *f;
} Text;

static void text_open(Text *t) {
  t->buf = NULL;
  t->len = 0;
  t->f = open_memstream(&t->buf, &t->len);
  if (!t->f) {
    fputs("mtlc: out of memory\n", stderr);
    abort();
  }
}

/* Closes the stream and moves its text into the arena. */
static const char *text_close(Text *t, Arena *a) {
  fclose(t->f);
  const char *s = arena_strndup(a, t->buf, t->len);
  free(t->buf);
  return s;
}

typedef struct Subst {
  const char *key;
  const char *value;
} Subst;

typedef struct Gen {
  Emit e;
  const EmitOptions *o;
  Subst subst[64];
  int nsubst;
} Gen;

static void set(Gen *g, const char *key, const char *value) {
  g->subst[g->nsubst++] = (Subst){key, value};
}

static void setf(Gen *g, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void setf(Gen *g, const char *key, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = arena_alloc(g->e.p->arena, (size_t)len + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)len + 1, fmt, ap);
  va_end(ap);
  set(g, key, s);
}

/* Copies the template to out, replacing each {{KEY}} by its value. */
static void expand(FILE *out, const char *tmpl, const Gen *g) {
  for (const char *s = tmpl; *s;) {
    const char *open = strstr(s, "{{");
    if (!open) {
      fputs(s, out);
      return;
    }
    fwrite(s, 1, (size_t)(open - s), out);
    const char *close = strstr(open, "}}");
    size_t klen = (size_t)(close - open - 2);
    const char *value = NULL;
    for (int i = 0; i < g->nsubst && !value; i++)
      if (strlen(g->subst[i].key) == klen && !strncmp(g->subst[i].key, open + 2, klen))
        value = g->subst[i].value;
    if (!value) {
      fprintf(stderr, "mtlc: internal error: no value for {{%.*s}} in a template\n", (int)klen, open + 2);
      abort();
    }
    fputs(value, out);
    s = close + 2;
  }
}

/* ---- small helpers ---- */


/* The source text of a one-line range, for comments; "..." closes what spans lines. */
static const char *source_text(const Gen *g, Loc loc) {
  const char *s = g->o->src;
  for (int line = 1; line < loc.first_line && *s; s++)
    line += *s == '\n';
  s += loc.first_column - 1;
  size_t len = 0;
  while (s[len] && s[len] != '\n' && (loc.last_line > loc.first_line || (int)len < loc.last_column - loc.first_column))
    len++;
  const char *text = arena_strndup(g->e.p->arena, s, len);
  if (loc.last_line > loc.first_line)
    text = arena_printf(g->e.p->arena, "%s ...", text);
  return strstr(text, "*/") ? "(...)" : text; /* never end the comment early */
}

static const char *where(const Gen *g, Loc loc) {
  return arena_printf(g->e.p->arena, "%s:%d", g->o->source, loc.first_line);
}

static const char *shape_text(const Gen *g, Shape sh) { return shape_str(g->e.p->arena, sh); }

static const char *target_type(const Gen *g, const Target *t) {
  return t->kind == TYPE_CLASS ? "int32_t" : g->e.real;
}

static int64_t max1(int64_t v) { return v > 0 ? v : 1; }

static const Program *prog(const Gen *g) { return g->e.p; }

/* ---- the parameters of the generated functions ---- */

static void params_and_args(Gen *g) {
  const Program *p = prog(g);
  const Checked *c = p->c;
  Text ip, ia, tp, ta, op, gi, gt, go;
  Text *all[] = {&ip, &ia, &tp, &ta, &op, &gi, &gt, &go};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    text_open(all[i]);
  int k = 0;
  for (int i = 0; i < c->nnodes; i++) {
    const Buf *b = p->value[i];
    if (c->nodes[i]->kind != NODE_INPUT)
      continue;
    fprintf(ip.f, ", const %s *%s", g->e.real, b->ext);
    fprintf(ia.f, ", %s", b->ext);
    fprintf(gi.f, ", (const %s *)in[%d]", g->e.real, k++);
  }
  for (int i = 0; i < c->ntargets; i++) {
    const char *type = target_type(g, &c->targets[i]);
    fprintf(tp.f, ", const %s *%s", type, p->targets[i]->ext);
    fprintf(ta.f, ", %s", p->targets[i]->ext);
    fprintf(gt.f, ", (const %s *)tg[%d]", type, i);
  }
  for (int t = 0; t < c->ntasks; t++) {
    fprintf(op.f, ", %s *%s", g->e.real, p->out_names[t]);
    fprintf(go.f, ", (%s *)out[%d]", g->e.real, t);
  }
  const char *in_p = text_close(&ip, p->arena), *in_a = text_close(&ia, p->arena);
  const char *tg_p = text_close(&tp, p->arena), *tg_a = text_close(&ta, p->arena);
  const char *gen_in = text_close(&gi, p->arena), *gen_tg = text_close(&gt, p->arena);
  set(g, "INPUT_PARAMS", in_p);
  set(g, "INPUT_ARGS", in_a);
  setf(g, "BATCH_PARAMS", "%s%s", in_p, tg_p);
  setf(g, "BATCH_ARGS", "%s%s", in_a, tg_a);
  set(g, "OUTPUT_PARAMS", text_close(&op, p->arena));
  setf(g, "GENERIC_ARGS", "%s%s", gen_in, gen_tg);
  set(g, "GENERIC_INPUT_ARGS", gen_in);
  set(g, "GENERIC_OUTPUT_ARGS", text_close(&go, p->arena));
}

/* ---- offsets ---- */

static void offsets(Gen *g) {
  const Program *p = prog(g);
  static const char *const arrays[] = {[SLOT_PARAM] = "param", [SLOT_BUFFER] = "buffer", [SLOT_COUNT] = "count"};
  Text t;
  text_open(&t);
  for (int i = 0; i < p->nslots; i++) {
    const Slot *s = &p->slots[i];
    fprintf(t.f, "    %s = %lld, /* %s[]: %s %s */\n", s->cname, (long long)s->offset, arrays[s->kind], s->key,
            shape_text(g, s->shape));
  }
  set(g, "SLOTS", text_close(&t, p->arena));
  text_open(&t);
  for (int i = 0; i < p->nbufs; i++) {
    const Buf *b = p->bufs[i];
    if (b->ext || b->first < 0)
      continue;
    const char *size = b->per_sample ? arena_printf(p->arena, "n x %lld", (long long)b->per_sample) : "";
    if (b->fixed)
      size = arena_printf(p->arena, "%s%s%lld", size, b->per_sample ? " + " : "", (long long)b->fixed);
    fprintf(t.f, "    %s = %lld, /* %s[]: %s */\n", b->name, (long long)b->offset, b->is_int ? "ia" : "a", size);
  }
  set(g, "BUFFERS", text_close(&t, p->arena));
}

/* ---- the passes ---- */

static const char *node_comment(const Gen *g, const Node *n) {
  return arena_printf(prog(g)->arena, "%s: %s -> %s %s", where(g, n->loc), source_text(g, n->loc), n->name,
                      shape_text(g, n->shape));
}

/* A probe's check (forward_pass, grad_pass): `count` values at `x` must be finite, or the
 * pass stops there, blaming `node` in `phase`. */
static void probe_check(const Gen *g, FILE *out, const char *phase, int node, const char *count, const char *x) {
  fprintf(out, "    if (probe && !mtlrt_all_finite_%s(%s, %s))\n        return mtlrt_fault_at(probe, MTLRT_FAULT_%s, %d);\n",
          g->e.sfx, count, x, phase, node);
}

static void probe_buf(const Gen *g, FILE *out, const char *phase, int node, const Buf *b) {
  const char *count = b->per_sample ? arena_printf(prog(g)->arena, "(size_t)n * %lld", (long long)b->per_sample) : "0";
  if (b->fixed)
    count = arena_printf(prog(g)->arena, "%s + %lld", count, (long long)b->fixed);
  probe_check(g, out, phase, node, count, buf_expr(&g->e, b));
}

static void forward(Gen *g) {
  const Program *p = prog(g);
  const Checked *c = p->c;
  Text t;
  text_open(&t);
  g->e.out = t.f;
  fprintf(t.f, "    /* A probe starts with the data. */\n");
  for (int i = 0; i < c->nnodes; i++)
    if (c->nodes[i]->kind == NODE_INPUT && p->live[i])
      probe_buf(g, t.f, "FORWARD", i, p->value[i]);
  for (int i = 0; i < p->nfwd; i++) {
    const Ins *ins = &p->ins[i];
    if (!ins->node->op->gen->fwd)
      continue;
    fprintf(t.f, "\n    /* %s%s */\n", node_comment(g, ins->node),
            ins->fused ? ": done by the convolution before it, fused" : "");
    if (ins->fused)
      continue;
    ins->node->op->gen->fwd(&g->e, ins);
    if (ins->y)
      probe_buf(g, t.f, "FORWARD", ins->node->id, ins->y);
  }
  set(g, "FORWARD", text_close(&t, p->arena));
}

/* The call that computes task t's mean loss, its gradient into `grad` and its count. */
static const char *loss_call(const Gen *g, int t, const Buf *out, const char *grad) {
  const Program *p = prog(g);
  const Task *task = &p->c->tasks[t];
  const Target *tg = task->target;
  const char *x = buf_expr(&g->e, out), *y = p->targets[tg - p->c->targets]->ext;
  int64_t elems = shape_elems(task->output->shape);
  const char *all = arena_printf(p->arena, "(size_t)n * %lld", (long long)elems);
  const char *fn = arena_printf(p->arena, "mtlrt_%s_%s", task->loss == OP_BCE ? "bce_logits" : op_table[task->loss].name,
                                g->e.sfx);
  switch (task->loss) {
  case OP_CROSS_ENTROPY: {
    int classes = task->output->shape.dim[0];
    return arena_printf(p->arena, "%s(n, %d, %lld, %s, %s, %lld, %s, %s, &count)", fn, classes,
                        (long long)(elems / classes), x, y, tg->has_ignore ? tg->ignore : -100LL,
                        real_lit(&g->e, op_arg(task->loss, task->loss_args, "label_smoothing")), grad);
  }
  case OP_HUBER:
    return arena_printf(p->arena, "%s(%s, %s, %s, %s, %s, &count)", fn, all,
                        real_lit(&g->e, op_arg(task->loss, task->loss_args, "delta")), x, y, grad);
  default:
    return arena_printf(p->arena, "%s(%s, %s, %s, %s, &count)", fn, all, x, y, grad);
  }
}

/* A later consumer's share of a gradient, added to the first one's. */
static void accum(const Gen *g, FILE *out, const Ins *ins) {
  fprintf(out, "    mtlrt_axpy_%s((size_t)n * %lld, 1, %s, %s);\n", g->e.sfx, (long long)ins->dst->per_sample,
          buf_expr(&g->e, ins->src), buf_expr(&g->e, ins->dst));
}

static void losses(Gen *g) {
  const Program *p = prog(g);
  const Checked *c = p->c;
  Text t;
  text_open(&t);
  g->e.out = t.f;
  emit_objective_weights(&g->e);
  for (int i = p->nfwd; i < p->nfwd + p->nloss; i++) {
    const Ins *ins = &p->ins[i];
    if (ins->kind == INS_ACCUM) {
      accum(g, t.f, ins);
      continue;
    }
    const Task *task = &c->tasks[ins->task];
    const char *grad = ins->dst ? buf_expr(&g->e, ins->dst) : "NULL";
    fprintf(t.f, "    /* %s: task %s: loss = %s */\n    {\n", where(g, task->loss_loc), task->name,
            source_text(g, task->loss_loc));
    fprintf(t.f, "        size_t count;\n");
    fprintf(t.f, "        task_loss[%d] = %s;\n", ins->task, loss_call(g, ins->task, ins->src, grad));
    fprintf(t.f, "        if (probe && !(task_loss[%d] - task_loss[%d] == 0))\n"
                 "            return mtlrt_fault_at(probe, MTLRT_FAULT_LOSS, %d);\n",
            ins->task, ins->task, task->output->id);
    emit_objective_task(&g->e, ins->task, ins->dst ? grad : NULL, shape_elems(task->output->shape));
    fprintf(t.f, "    }\n");
  }
  set(g, "LOSSES", text_close(&t, p->arena));
  set(g, "OBJECTIVE_DOC", objective_doc(c));
  text_open(&t);
  g->e.out = t.f;
  emit_objective_step(&g->e);
  set(g, "OBJECTIVE_STEP", text_close(&t, p->arena));
  text_open(&t);
  g->e.out = t.f;
  emit_objective_epoch(&g->e);
  set(g, "OBJECTIVE_EPOCH", text_close(&t, p->arena));
}

static void backward(Gen *g) {
  const Program *p = prog(g);
  Text t;
  text_open(&t);
  g->e.out = t.f;
  for (int i = p->nfwd + p->nloss; i < p->nins; i++) {
    const Ins *ins = &p->ins[i];
    if (ins->kind == INS_ACCUM) {
      accum(g, t.f, ins);
      continue;
    }
    if (ins->kind != INS_BWD) {
      emit_strategy_ins(&g->e, ins);
      continue;
    }
    const Node *node = ins->node;
    fprintf(t.f, "\n    /* %s */\n", node_comment(g, node));
    node->op->gen->bwd(&g->e, ins);
    for (int k = 0; k < node->ninputs; k++)
      if (ins->dx[k])
        probe_buf(g, t.f, "BACKWARD", node->id, ins->dx[k]);
    for (int k = 0; ins->param_grads && k < p->nslots; k++) {
      const Slot *s = &p->slots[k];
      if (s->node == node && s->kind == SLOT_PARAM)
        probe_check(g, t.f, "BACKWARD", node->id, arena_printf(p->arena, "%lld", (long long)shape_elems(s->shape)),
                    arena_printf(p->arena, "m->grad + %s", s->cname));
    }
  }
  set(g, "BACKWARD", text_close(&t, p->arena));
}

static void optimizer(Gen *g) {
  const Program *p = prog(g);
  const Checked *c = p->c;
  const Bound *a = c->optimizer_args;
  OpId op = c->optimizer;
  const char *n = arena_printf(p->arena, "%s_PARAMS", g->subst[0].value); /* UPPER is first */
  Text t;
  text_open(&t);
  if (c->clip_norm > 0)
    fprintf(t.f, "    mtlrt_clip_grad_norm_%s(%s, m->grad, %s);\n", g->e.sfx, n, real_str(p->arena, c->clip_norm));
  if (op == OP_SGD) {
    double momentum = op_arg(op, a, "momentum");
    fprintf(t.f, "    mtlrt_sgd_step_%s(%s, m->param, m->grad, %s, m->train.step, (%s)m->train.lr, %s, 0, %d, %s);\n", g->e.sfx,
            n, momentum ? "m->momentum_buffer" : "NULL", g->e.real, real_lit(&g->e, momentum),
            op_arg(op, a, "nesterov") != 0, real_lit(&g->e, op_arg(op, a, "weight_decay")));
  } else {
    fprintf(t.f, "    mtlrt_%s_step_%s(%s, m->param, m->grad, m->exp_avg, m->exp_avg_sq, m->train.step,\n        (%s)m->train.lr, ",
            op_table[op].name, g->e.sfx, n, g->e.real);
    fprintf(t.f, "%s, %s, %s, %s);\n", real_lit(&g->e, op_arg(op, a, "beta1")),
            real_lit(&g->e, op_arg(op, a, "beta2")), real_lit(&g->e, op_arg(op, a, "eps")),
            real_lit(&g->e, op_arg(op, a, "weight_decay")));
  }
  set(g, "OPTIMIZER", text_close(&t, p->arena));
  set(g, "LR", real_str(p->arena, op_arg(op, a, "lr")));
  set(g, "CLIP_DOC", c->clip_norm > 0 ? arena_printf(p->arena, "clipping of the gradient norm to %g, ", c->clip_norm) : "");
  set(g, "OPTIMIZER_DOC", arena_printf(p->arena, "%s (as torch.optim.%s)", op_table[op].name,
                                       op == OP_SGD ? "SGD" : op == OP_ADAM ? "Adam" : "AdamW"));
}

static void schedule(Gen *g) {
  const Program *p = prog(g);
  const Checked *c = p->c;
  const Bound *a = c->schedule_args;
  switch (c->schedule) {
  case OP_STEP:
    setf(g, "SCHEDULE", "    m->train.lr = mtlrt_schedule_lr(MTLRT_SCHEDULE_STEP, m->train.base_lr, epoch, epochs, %s, %s);\n",
         real_str(p->arena, op_arg(OP_STEP, a, "every")), real_str(p->arena, op_arg(OP_STEP, a, "gamma")));
    setf(g, "SCHEDULE_DOC", "step(every = %g, gamma = %g)", op_arg(OP_STEP, a, "every"), op_arg(OP_STEP, a, "gamma"));
    break;
  case OP_COSINE:
    setf(g, "SCHEDULE", "    m->train.lr = mtlrt_schedule_lr(MTLRT_SCHEDULE_COSINE, m->train.base_lr, epoch, epochs, %s, 0);\n",
         real_str(p->arena, op_arg(OP_COSINE, a, "warmup")));
    setf(g, "SCHEDULE_DOC", "cosine(warmup = %g)", op_arg(OP_COSINE, a, "warmup"));
    break;
  default:
    set(g, "SCHEDULE", "    (void)epoch;\n    (void)epochs;\n    m->train.lr = m->train.base_lr;\n");
    set(g, "SCHEDULE_DOC", "constant");
    break;
  }
}

static void outputs_and_eval(Gen *g) {
  const Program *p = prog(g);
  const Checked *c = p->c;
  Text o, ev;
  text_open(&o);
  text_open(&ev);
  for (int t = 0; t < c->ntasks; t++) {
    const Task *task = &c->tasks[t];
    const Buf *out = p->value[task->output->id];
    fprintf(o.f, "    memcpy(%s, %s, sizeof(%s) * (size_t)n * %lld);\n", p->out_names[t], buf_expr(&g->e, out),
            g->e.real, (long long)shape_elems(task->output->shape));
    fprintf(ev.f, "    {\n        size_t count_%d;\n", t);
    const char *call = loss_call(g, t, out, "NULL");
    /* loss_call() names its count `count`; eval_batch has a parameter of that name. */
    char *at = strstr(call, "&count)");
    fprintf(ev.f, "        double l = %.*s&count_%d);\n", (int)(at - call), call, t);
    fprintf(ev.f, "        loss_sum[%d] += l * (double)count_%d;\n        count[%d] += (int64_t)count_%d;\n    }\n", t, t,
            t, t);
  }
  set(g, "OUTPUTS", text_close(&o, p->arena));
  set(g, "EVAL", text_close(&ev, p->arena));
  Text d;
  text_open(&d);
  for (int t = 0; t < c->ntasks; t++)
    fprintf(d.f, "%s%s [n, %s", t ? ", " : "", p->out_names[t],
            shape_text(g, c->tasks[t].output->shape) + 1);
  set(g, "OUTPUT_DOC", text_close(&d, p->arena));
}

/* Spec §4: dense and conv weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in
 * computed from the weight as PyTorch does (its size(1) times the kernel); norm weights 1,
 * biases 0; running_var 1. */
static void init(Gen *g) {
  const Program *p = prog(g);
  Text t;
  text_open(&t);
  for (int i = 0; i < p->nslots; i++) {
    const Slot *s = &p->slots[i];
    if (!s->node || s->kind == SLOT_COUNT)
      continue; /* the objective's parameters and the counters start at 0 */
    const Param *w = &s->node->params[0]; /* "weight" comes first where there is one */
    const char *array = s->kind == SLOT_PARAM ? "param" : "buffer";
    const char *name = s->node->params[s->index].name;
    int64_t elems = shape_elems(s->shape);
    if (w->shape.rank >= 2 && (!strcmp(name, "weight") || !strcmp(name, "bias"))) {
      int64_t fan_in = shape_elems(w->shape) / w->shape.dim[0];
      fprintf(t.f, "    mtlrt_init_uniform_%s(%lld, %s, seed, %s, m->%s + %s); /* %s */\n", g->e.sfx, (long long)elems,
              real_lit(&g->e, 1 / sqrt((double)fan_in)), s->cname, array, s->cname, s->key);
    } else if (!strcmp(name, "weight") || !strcmp(name, "running_var")) {
      fprintf(t.f, "    mtlrt_fill_%s(%lld, 1, m->%s + %s); /* %s */\n", g->e.sfx, (long long)elems, array, s->cname,
              s->key);
    }
  }
  g->e.out = t.f;
  emit_objective_init(&g->e);
  set(g, "INIT", text_close(&t, p->arena));
}

/* ---- the tables of mtlrt_model_info ---- */

static const char *dims(const Gen *g, const int *d, int rank) {
  const char *s = "{";
  for (int i = 0; i < rank; i++)
    s = arena_printf(prog(g)->arena, "%s%s%d", s, i ? ", " : "", d[i]);
  return arena_printf(prog(g)->arena, "%s%s}", s, rank ? "" : "0");
}

/* A mtlrt_array_info initializer; t is the target, or NULL for an input or an output. */
static const char *array_info(const Gen *g, const char *name, const Target *t, Shape sh) {
  bool is_class = t && t->kind == TYPE_CLASS;
  return arena_printf(prog(g)->arena, "{\"%s\", %d, %d, %d, %lld, %d, %s, %lld}", name, is_class,
                      is_class ? t->classes : 0, t && t->kind == TYPE_BINARY,
                      is_class && t->has_ignore ? t->ignore : -100LL, sh.rank, dims(g, sh.dim, sh.rank),
                      (long long)shape_elems(sh));
}

static const char *loss_arg_name(OpId loss) {
  return loss == OP_CROSS_ENTROPY ? "label_smoothing" : loss == OP_HUBER ? "delta" : NULL;
}

static void tables(Gen *g) {
  const Program *p = prog(g);
  const Checked *c = p->c;
  Text in, tg, tk, pm, nd;
  text_open(&in);
  text_open(&tg);
  text_open(&tk);
  text_open(&pm);
  text_open(&nd);
  for (int i = 0; i < c->nnodes; i++) {
    const Node *n = c->nodes[i];
    if (n->kind == NODE_INPUT)
      fprintf(in.f, "    %s,\n", array_info(g, n->name, NULL, n->shape));
    int64_t params = 0;
    for (int k = 0; k < n->nparams; k++)
      params += n->params[k].trainable ? shape_elems(n->params[k].shape) : 0;
    fprintf(nd.f, "    {\"%s\", \"%s\", %d, %s, %lld, %lld, %d, %d},\n", n->name,
            n->kind == NODE_INPUT ? "input" : n->op->name, n->shape.rank, dims(g, n->shape.dim, n->shape.rank),
            (long long)params, (long long)n->flops, n->loc.first_line, n->task);
  }
  for (int i = 0; i < c->ntargets; i++) {
    const Target *t = &c->targets[i];
    fprintf(tg.f, "    %s,\n", array_info(g, t->name, t, t->shape));
  }
  for (int t = 0; t < c->ntasks; t++) {
    const Task *task = &c->tasks[t];
    const char *arg = loss_arg_name(task->loss), *metrics = "";
    for (int k = 0; k < task->nmetrics; k++)
      metrics = arena_printf(p->arena, "%s%s\"%s\"", metrics, k ? ", " : "", task->metrics[k]);
    fprintf(tk.f, "    {\"%s\", \"%s\", %s, %d,\n     %s,\n     %s, %d, {%s}},\n", task->name,
            op_table[task->loss].name, real_str(p->arena, arg ? op_arg(task->loss, task->loss_args, arg) : 0),
            (int)(task->target - c->targets), array_info(g, task->name, NULL, task->output->shape),
            real_str(p->arena, c->objective == OBJ_SUM ? task->weight : 1), task->nmetrics, metrics);
  }
  static const char *const arrays[] = {[SLOT_PARAM] = "MTLRT_ARRAY_PARAM", [SLOT_BUFFER] = "MTLRT_ARRAY_BUFFER",
                                       [SLOT_COUNT] = "MTLRT_ARRAY_COUNT"};
  for (int i = 0; i < p->nslots; i++) {
    const Slot *s = &p->slots[i];
    fprintf(pm.f, "    {\"%s\", %s, %s, %d, %s, %lld},\n", s->key, arrays[s->kind], s->cname, s->shape.rank,
            dims(g, s->shape.dim, s->shape.rank), (long long)shape_elems(s->shape));
  }
  set(g, "INPUT_INFO", text_close(&in, p->arena));
  set(g, "TARGET_INFO", text_close(&tg, p->arena));
  set(g, "TASK_INFO", text_close(&tk, p->arena));
  set(g, "PARAM_INFO", text_close(&pm, p->arena));
  set(g, "NODE_INFO", text_close(&nd, p->arena));
}

/* ---- the struct and the sizes ---- */

/* FNV-1a (64 bits) over every slot's key, array and shape, in order: the checkpoint's layout. */
static uint64_t layout_hash(const Program *p) {
  uint64_t h = 0xcbf29ce484222325u;
  for (int i = 0; i < p->nslots; i++) {
    const Slot *s = &p->slots[i];
    char text[160];
    int len = snprintf(text, sizeof text, "|%d|%d", (int)s->kind, s->shape.rank);
    for (int k = 0; k < s->shape.rank; k++)
      len += snprintf(text + len, sizeof text - (size_t)len, ",%d", s->shape.dim[k]);
    const char *parts[] = {s->key, text};
    for (int k = 0; k < 2; k++)
      for (const char *q = parts[k]; *q; q++)
        h = (h ^ (unsigned char)*q) * 0x100000001b3u;
    h = (h ^ '\n') * 0x100000001b3u;
  }
  return h;
}

static void layout(Gen *g) {
  const Program *p = prog(g);
  const Checked *c = p->c;
  const char *up = g->subst[0].value, *real = g->e.real;
  StaticMemory mem = static_memory(p);
  setf(g, "MEMORY",
       " * Static memory, in bytes: parameters %lld, gradients %lld, optimizer state %lld, running\n"
       " * statistics and counters %lld, activations, gradients of activations and scratch %lld.",
       (long long)mem.params, (long long)mem.params, (long long)mem.state, (long long)mem.buffers,
       (long long)mem.activations);
  setf(g, "SIZES",
       "#define %s_PARAMS %lld /* trainable parameters */\n"
       "#define %s_BUFFERS %lld /* running statistics */\n"
       "#define %s_COUNTS %lld /* batch counters */\n"
       "#define %s_ARENA %lld /* reals: activations, gradients and scratch */\n"
       "#define %s_IARENA %lld /* int32: pooling indices */\n",
       up, (long long)p->nparam, up, (long long)p->nbuffer, up, (long long)p->ncount, up,
       (long long)max1(p->arena_elems), up, (long long)max1(p->iarena_elems));
  Text f;
  text_open(&f);
  fprintf(f.f, "    mtlrt_train_state train;       /* seed, steps taken, learning rate */\n");
  fprintf(f.f, "    %s param[%s_PARAMS];        /* trainable parameters: %s_info.params */\n", real, up, c->name);
  fprintf(f.f, "    %s grad[%s_PARAMS];         /* their gradients */\n", real, up);
  if (c->optimizer == OP_SGD && optimizer_states(c))
    fprintf(f.f, "    %s momentum_buffer[%s_PARAMS]; /* SGD's momentum */\n", real, up);
  if (c->optimizer != OP_SGD)
    fprintf(f.f, "    %s exp_avg[%s_PARAMS];      /* Adam's first moment */\n"
                 "    %s exp_avg_sq[%s_PARAMS];   /* Adam's second moment */\n",
            real, up, real, up);
  fprintf(f.f, "    %s buffer[%lld];           /* running statistics */\n", real, (long long)max1(p->nbuffer));
  fprintf(f.f, "    int64_t count[%lld];           /* num_batches_tracked */\n", (long long)max1(p->ncount));
  fprintf(f.f, "    %s task_weight[%d];         /* each task's weight in the last step */\n", real, c->ntasks);
  fprintf(f.f, "    int labelled[%d];              /* the tasks with labels in the last batch */\n", c->ntasks);
  emit_objective_fields(f.f, p, real);
  const char *state = objective_state_size(p);
  /* What grad() changes besides the gradients, kept for rollback(). */
  fprintf(f.f, "    struct {                       /* what the last grad() found, for rollback() */\n");
  fprintf(f.f, "        %s buffer[%lld];\n        int64_t count[%lld];\n        %s task_weight[%d];\n", real,
          (long long)max1(p->nbuffer), (long long)max1(p->ncount), real, c->ntasks);
  if (state)
    fprintf(f.f, "        %s objective_state[%s];\n", real, state);
  fprintf(f.f, "    } saved;\n");
  Text save, back;
  text_open(&save);
  text_open(&back);
  static const char *const kept[] = {"buffer", "count", "task_weight", "objective_state"};
  for (int k = 0; k < (state ? 4 : 3); k++) {
    fprintf(save.f, "    memcpy(m->saved.%s, m->%s, sizeof m->saved.%s);\n", kept[k], kept[k], kept[k]);
    fprintf(back.f, "    memcpy(m->%s, m->saved.%s, sizeof m->saved.%s);\n", kept[k], kept[k], kept[k]);
  }
  set(g, "SAVE", text_close(&save, p->arena));
  set(g, "ROLLBACK", text_close(&back, p->arena));
  setf(g, "LAYOUT", "%016llx", (unsigned long long)layout_hash(p));
  fprintf(f.f, "    %s a[%s_ARENA];            /* activations, gradients, scratch */\n", real, up);
  fprintf(f.f, "    int32_t ia[%s_IARENA];         /* pooling indices */\n", up);
  set(g, "FIELDS", text_close(&f, p->arena));
  bool sgd = c->optimizer == OP_SGD;
  const char *states = optimizer_states(c) == 2 ? "{\"exp_avg\", \"exp_avg_sq\"}" : optimizer_states(c) ? "{\"momentum_buffer\"}" : "{NULL, NULL}";
  setf(g, "INFO_MODEL",
       "    .seed = %lld,\n    .objective = \"%s\",\n    .log_var = %s,\n    .optimizer = \"%s\",\n"
       "    .nstates = %lld,\n    .state_names = %s,\n",
       c->seed, c->objective == OBJ_SUM ? "sum" : op_table[c->strategy].name,
       p->log_var >= 0 ? objective_param(p) : "-1", op_table[c->optimizer].name, (long long)optimizer_states(c), states);
  setf(g, "STATE_CASES", "%s%s", !sgd ? "    case MTLRT_ARRAY_STATE: return m->exp_avg;\n"
                                        "    case MTLRT_ARRAY_STATE + 1: return m->exp_avg_sq;\n"
                                 : optimizer_states(c) ? "    case MTLRT_ARRAY_STATE: return m->momentum_buffer;\n" : "",
       state ? "    case MTLRT_ARRAY_OBJECTIVE: return m->objective_state;\n" : "");
  setf(g, "OBJECTIVE_ELEMS", "%s", state ? arena_printf(p->arena, "(int64_t)(%s)", state) : "0");
  setf(g, "INFO_SIZES",
       "    .param_elems = %s_PARAMS,\n    .buffer_elems = %s_BUFFERS,\n    .count_elems = %s_COUNTS,\n"
       "    .state_elems = %lld * (int64_t)%s_PARAMS,\n    .arena_elems = %s_ARENA,\n    .iarena_elems = %s_IARENA,\n",
       up, up, up, (long long)optimizer_states(c), up, up, up);
}

/* The trainer program (spec §10): the model and the batch arrays in static storage, handed
 * to libmtlrt's driver. */
static void trainer_main(Gen *g) {
  const Program *p = prog(g);
  const Checked *c = p->c;
  if (!g->o->with_main) {
    set(g, "MAIN", "");
    return;
  }
  Text t;
  text_open(&t);
  const char *up = g->subst[0].value, *ins = "", *tgs = "", *outs = "";
  fprintf(t.f, "\n/* ---- the trainer: ./%s train|eval|predict|info (spec §10) ---- */\n\n", c->name);
  fprintf(t.f, "int main(int argc, char **argv) {\n    static %s_model m;\n    static struct {\n", c->name);
  for (int i = 0; i < c->nnodes; i++) {
    const Node *n = c->nodes[i];
    if (n->kind != NODE_INPUT)
      continue;
    const char *name = p->value[i]->ext;
    fprintf(t.f, "        %s %s[%s_BATCH * %lld];\n", g->e.real, name, up, (long long)shape_elems(n->shape));
    ins = arena_printf(p->arena, "%s%sio.%s", ins, *ins ? ", " : "", name);
  }
  for (int i = 0; i < c->ntargets; i++) {
    const char *name = p->targets[i]->ext;
    fprintf(t.f, "        %s %s[%s_BATCH * %lld];\n", target_type(g, &c->targets[i]), name, up,
            (long long)shape_elems(c->targets[i].shape));
    tgs = arena_printf(p->arena, "%s%sio.%s", tgs, *tgs ? ", " : "", name);
  }
  for (int k = 0; k < c->ntasks; k++) {
    fprintf(t.f, "        %s %s[%s_BATCH * %lld];\n", g->e.real, p->out_names[k], up,
            (long long)shape_elems(c->tasks[k].output->shape));
    outs = arena_printf(p->arena, "%s%sio.%s", outs, *outs ? ", " : "", p->out_names[k]);
  }
  fprintf(t.f, "    } io;\n");
  fprintf(t.f, "    void *const inputs[] = {%s};\n    void *const targets[] = {%s};\n    void *const outputs[] = {%s};\n",
          ins, tgs, outs);
  fprintf(t.f, "    return mtlrt_main(argc, argv, &%s_info, &m, inputs, targets, outputs);\n}\n", c->name);
  set(g, "MAIN", text_close(&t, p->arena));
}

static void common(Gen *g, const Program *p, const EmitOptions *o) {
  g->o = o;
  g->e.p = p;
  g->e.real = p->f64 ? "double" : "float";
  g->e.sfx = p->f64 ? "f64" : "f32";
  char *up = arena_printf(p->arena, "%s", p->c->name);
  for (char *s = up; *s; s++)
    *s = (char)toupper((unsigned char)*s);
  set(g, "UPPER", up); /* first: optimizer() and layout() read it */
  set(g, "MODEL", p->c->name);
  set(g, "VERSION", MTLC_VERSION);
  set(g, "SOURCE", o->source);
  set(g, "FILE", o->file_name);
  set(g, "HEADER", o->header_name);
  set(g, "REAL", g->e.real);
  set(g, "SFX", g->e.sfx);
  set(g, "DTYPE", p->f64 ? "MTLRT_DT_F64" : "MTLRT_DT_F32");
  setf(g, "ABI", "%d", ABI_VERSION);
  setf(g, "BATCH", "%lld", p->c->batch);
  setf(g, "NTASKS", "%d", p->c->ntasks);
  setf(g, "GUARD", "MTLC_%s_H", up);
  setf(g, "DROPOUT_STRIDE", "%lld", (long long)max1(p->dropout_elems));
  params_and_args(g);
  optimizer(g);
  schedule(g);
  layout(g);
  outputs_and_eval(g);
}

void emit_header(FILE *out, const Program *p, const EmitOptions *o) {
  Gen g = {0};
  common(&g, p, o);
  expand(out, tmpl_model_h, &g);
}

void emit_c(FILE *out, const Program *p, const EmitOptions *o) {
  Gen g = {0};
  common(&g, p, o);
  offsets(&g);
  forward(&g);
  losses(&g);
  backward(&g);
  init(&g);
  tables(&g);
  trainer_main(&g);
  expand(out, tmpl_model_c, &g);
}
