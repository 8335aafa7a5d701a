/* objective.c: the objective of spec §7 as code. One table row per objective says what it
 * keeps between steps and emits its pieces: the task weights of a step (before the task
 * losses, which are then scaled by them), what happens after an optimizer step and at the
 * start of an epoch; for a gradient strategy, which per-task gradients the backward pass
 * must give it (autodiff.c plans the passes) and the code that combines them. The math lives
 * in libmtlrt (kernels/strategy.inc, kernels/solvers.c); the generated code calls it with
 * the model's constants. */
#include "mtlc.h"

#include <string.h>

typedef struct ObjectiveGen {
  const char *doc;                                   /* for the generated comment */
  const char *state;                                 /* its state's size (a C expression), or NULL */
  void (*weights)(const Emit *e, const Checked *c);  /* fills w[] */
  void (*step)(const Emit *e, const Checked *c);     /* after an optimizer step */
  void (*epoch)(const Emit *e, const Checked *c);    /* as an epoch starts */
  void (*init)(const Emit *e, const Checked *c);     /* its parameters' initial values (else 0) */
  GradPlan plan;                                     /* gradient strategies: what they combine */
  void (*alpha)(const Emit *e, const Checked *c);    /* ... and their alpha[] from gram[] */
} ObjectiveGen;

static void sum_weights(const Emit *e, const Checked *c) {
  for (int t = 0; t < c->ntasks; t++)
    fprintf(e->out, "    w[%d] = %s;\n", t, real_lit(e, c->tasks[t].weight));
}

/* Kendall et al.: the weight of task t is ½·exp(−s_t); the objective adds ½·s_t for each
 * task with labels, and s_t's gradient is ½ − w_t·L_t (see emit_objective_task()). */
static void uncertainty_weights(const Emit *e, const Checked *c) {
  fprintf(e->out, "    for (int t = 0; t < %d; t++)\n        w[t] = (%s)0.5 * (%s)exp(-m->param[%s + t]);\n",
          c->ntasks, e->real, e->real, objective_param(e->p));
}

static double strategy_arg(const Checked *c, const char *name) {
  return op_arg(c->strategy, c->strategy_args, name);
}

static void dwa_weights(const Emit *e, const Checked *c) {
  fprintf(e->out, "    mtlrt_dwa_weights_%s(%d, m->objective_state, %s, w);\n", e->sfx, c->ntasks,
          real_str(e->p->arena, strategy_arg(c, "temperature")));
}

static void dwa_step(const Emit *e, const Checked *c) {
  fprintf(e->out, "    mtlrt_dwa_step_%s(%d, m->objective_state, task_loss, m->labelled);\n", e->sfx, c->ntasks);
}

static void dwa_epoch(const Emit *e, const Checked *c) {
  fprintf(e->out, "    mtlrt_dwa_epoch_%s(%d, m->objective_state);\n", e->sfx, c->ntasks);
}

/* Fresh draws each step from the seed + 2 (dropout has seed + 1), at the step's counter. */
static void rlw_weights(const Emit *e, const Checked *c) {
  fprintf(e->out, "    mtlrt_rlw_weights_%s(%d, m->train.seed + 2, (uint64_t)m->train.step, w);\n", e->sfx,
          c->ntasks);
}

const char *objective_param(const Program *p) {
  for (int i = 0; i < p->nslots; i++)
    if (!p->slots[i].node)
      return p->slots[i].cname;
  return NULL;
}

/* The last shared layer with a weight matrix that every task's output depends on. */
const Node *strategy_layer(const Program *p) {
  const Checked *c = p->c;
  int *reach = arena_alloc(p->arena, sizeof *reach * (size_t)c->nnodes); /* tasks that depend on it */
  for (int t = 0; t < c->ntasks; t++) {
    bool *dep = arena_alloc(p->arena, sizeof *dep * (size_t)c->nnodes);
    dep[c->tasks[t].output->id] = true;
    for (int i = c->nnodes - 1; i >= 0; i--)
      for (int k = 0; dep[i] && k < c->nodes[i]->ninputs; k++)
        dep[c->nodes[i]->inputs[k]->id] = true;
    for (int i = 0; i < c->nnodes; i++)
      reach[i] += dep[i];
  }
  const Node *last = NULL;
  for (int i = 0; i < c->nnodes; i++) {
    const Node *n = c->nodes[i];
    for (int k = 0; n->kind == NODE_OP && n->task < 0 && reach[i] == c->ntasks && k < n->nparams; k++)
      if (n->params[k].trainable && !strcmp(n->params[k].name, "weight") && n->params[k].shape.rank >= 2)
        last = n;
  }
  return last;
}

/* GradNorm (Chen et al. 2018): weights w (objective.weight, from 1, trained by the model's
 * optimizer and renormalised to sum T after each step) scale the task losses; their
 * gradient is that of sum_t |w_t |grad_W L_t| - mean_u(w_u |grad_W L_u|) r_t^alpha| with the
 * target held constant, W the weight of strategy_layer() (the last shared layer common to
 * all tasks) and r_t the task's loss ratio to its first, over the mean ratio. */
static void gradnorm_combine(const Emit *e, const Checked *c) {
  const char *w = objective_param(e->p);
  int tasks = c->ntasks;
  fprintf(e->out, "        double norm[%d], loss[%d], weight[%d], init[%d], dw[%d];\n", tasks, tasks, tasks, tasks, tasks);
  fprintf(e->out, "        for (int t = 0; t < %d; t++) {\n", tasks);
  fprintf(e->out, "            norm[t] = sqrt(gram[t * %d + t]);\n            loss[t] = task_loss[t];\n", tasks);
  fprintf(e->out, "            weight[t] = m->param[%s + t];\n            init[t] = m->objective_state[t];\n        }\n", w);
  fprintf(e->out, "        mtlrt_gradnorm(%d, norm, loss, m->labelled, %s, weight, init, dw);\n", tasks,
          real_str(e->p->arena, strategy_arg(c, "alpha")));
  fprintf(e->out, "        for (int t = 0; t < %d; t++) {\n", tasks);
  fprintf(e->out, "            m->objective_state[t] = (%s)init[t];\n            m->grad[%s + t] = (%s)dw[t];\n", e->real, w,
          e->real);
  fprintf(e->out, "            m->task_weight[t] = m->param[%s + t];\n        }\n", w);
}

static void gradnorm_seeds(const Emit *e, const Ins *ins) {
  const Checked *c = e->p->c;
  for (int t = 0; t < c->ntasks; t++)
    if (ins->reps[t])
      fprintf(e->out, "        mtlrt_scale_%s((size_t)n * %lld, %s, m->param[%s + %d]);\n", e->sfx,
              (long long)shape_elems(c->tasks[t].output->shape), buf_expr(e, ins->reps[t]), objective_param(e->p), t);
}

static void gradnorm_init(const Emit *e, const Checked *c) {
  fprintf(e->out, "    mtlrt_fill_%s(%d, 1, m->param + %s); /* objective.weight */\n", e->sfx, c->ntasks,
          objective_param(e->p));
}

static void gradnorm_step(const Emit *e, const Checked *c) {
  const char *w = objective_param(e->p);
  fprintf(e->out, "    {   /* gradnorm: the weights renormalised to sum %d */\n        double sum = 0;\n", c->ntasks);
  fprintf(e->out, "        for (int t = 0; t < %d; t++)\n            sum += m->param[%s + t];\n", c->ntasks, w);
  fprintf(e->out, "        for (int t = 0; t < %d; t++)\n            m->param[%s + t] = (%s)(%d * m->param[%s + t] / sum);\n",
          c->ntasks, w, e->real, c->ntasks, w);
  fprintf(e->out, "    }\n");
}

/* Gradient strategies: the objective is the plain sum of the task losses (spec §10); the
 * update combines the per-task gradients with the coefficients alpha. */
static void unit_weights(const Emit *e, const Checked *c) {
  fprintf(e->out, "    for (int t = 0; t < %d; t++)\n        w[t] = 1;\n", c->ntasks);
}

static void pcgrad_alpha(const Emit *e, const Checked *c) {
  fprintf(e->out, "        mtlrt_pcgrad(%d, gram, m->labelled, m->train.seed + 2, (uint64_t)m->train.step, alpha);\n",
          c->ntasks);
}

static void mgda_alpha(const Emit *e, const Checked *c) {
  fprintf(e->out, "        mtlrt_mgda(%d, gram, m->labelled, alpha);\n", c->ntasks);
}

static void imtl_alpha(const Emit *e, const Checked *c) {
  fprintf(e->out, "        mtlrt_imtl(%d, gram, m->labelled, alpha);\n", c->ntasks);
}

static void cagrad_alpha(const Emit *e, const Checked *c) {
  fprintf(e->out, "        mtlrt_cagrad(%d, gram, m->labelled, %s, alpha);\n", c->ntasks,
          real_str(e->p->arena, strategy_arg(c, "c")));
}

/* The last step's solution is the next one's starting point, kept in objective_state[]. */
static void nash_mtl_alpha(const Emit *e, const Checked *c) {
  fprintf(e->out, "        double prev[%d];\n        for (int t = 0; t < %d; t++)\n            prev[t] = m->objective_state[t];\n",
          c->ntasks, c->ntasks);
  fprintf(e->out, "        mtlrt_nash_mtl(%d, gram, m->labelled, prev, alpha);\n", c->ntasks);
  fprintf(e->out, "        for (int t = 0; t < %d; t++)\n            m->objective_state[t] = (%s)prev[t];\n", c->ntasks,
          e->real);
}

static const ObjectiveGen *objective_gen(const Checked *c) {
  static const ObjectiveGen sum = {.doc = "the weighted sum of the task losses", .weights = sum_weights};
  static const ObjectiveGen uncertainty = {
      .doc = "uncertainty weighting (Kendall et al. 2018), learned log-variances", .weights = uncertainty_weights};
  static const ObjectiveGen dwa = {
      .doc = "dynamic weight average (Liu et al. 2019): weights from the ratios of each task's last two "
             "epoch-mean losses",
      .state = "MTLRT_DWA_STATE(%d)", .weights = dwa_weights, .step = dwa_step, .epoch = dwa_epoch};
  static const ObjectiveGen rlw = {
      .doc = "random loss weighting (Lin et al. 2022): the softmax of fresh normal draws", .weights = rlw_weights};
  static const ObjectiveGen pcgrad = {
      .doc = "PCGrad (Yu et al. 2020): conflicting per-task gradients of the shared parameters projected "
             "apart, then summed",
      .weights = unit_weights, .plan = GRADS_PER_TASK_PARAMS, .alpha = pcgrad_alpha};
  static const ObjectiveGen mgda = {
      .doc = "MGDA-UB (Sener & Koltun 2018): the min-norm combination of the per-task gradients of the shared "
             "representation",
      .weights = unit_weights, .plan = GRADS_PER_TASK_REP, .alpha = mgda_alpha};
  static const ObjectiveGen imtl = {
      .doc = "IMTL-G (Liu et al. 2021): the combination of the per-task gradients of the shared parameters "
             "with equal projections on each",
      .weights = unit_weights, .plan = GRADS_PER_TASK_PARAMS, .alpha = imtl_alpha};
  static const ObjectiveGen cagrad = {
      .doc = "CAGrad (Liu et al. 2021): the average per-task gradient of the shared parameters, moved towards "
             "the worst task's improvement",
      .weights = unit_weights, .plan = GRADS_PER_TASK_PARAMS, .alpha = cagrad_alpha};
  static const ObjectiveGen nash_mtl = {
      .doc = "Nash-MTL (Navon et al. 2022): the bargaining solution G'G alpha = 1/alpha of the per-task gradients "
             "of the shared parameters",
      .state = "%d", .weights = unit_weights, .plan = GRADS_PER_TASK_PARAMS, .alpha = nash_mtl_alpha};
  static const ObjectiveGen gradnorm = {
      .doc = "GradNorm (Chen et al. 2018): learned task weights that balance the per-task gradient norms at the "
             "last shared layer",
      .state = "%d", .weights = unit_weights, .step = gradnorm_step, .init = gradnorm_init,
      .plan = GRADS_PER_TASK_LAYER, .alpha = gradnorm_combine};
  if (c->objective == OBJ_SUM)
    return &sum;
  switch (c->strategy) {
  case OP_UNCERTAINTY: return &uncertainty;
  case OP_DWA: return &dwa;
  case OP_RLW: return &rlw;
  case OP_PCGRAD: return &pcgrad;
  case OP_MGDA: return &mgda;
  case OP_IMTL: return &imtl;
  case OP_CAGRAD: return &cagrad;
  case OP_GRADNORM: return &gradnorm;
  case OP_NASH_MTL: return &nash_mtl;
  default: return NULL;
  }
}

GradPlan objective_grad_plan(const Checked *c) { return objective_gen(c)->plan; }

/* The shared parameters whose per-task gradients the strategy reads (all of them, or the
 * strategy layer's weight): runs of param[] in order; `packed` is where a run starts in a
 * row of task_grad[]. Returns how many runs. */
typedef struct SharedRun {
  const char *first;   /* the C name of its first slot's offset */
  int64_t len, packed;
} SharedRun;

static int shared_runs(const Program *p, SharedRun *runs) {
  int n = 0;
  int64_t end = -1, packed = 0;
  const Node *layer = objective_grad_plan(p->c) == GRADS_PER_TASK_LAYER ? strategy_layer(p) : NULL;
  for (int i = 0; i < p->nslots; i++) {
    const Slot *s = &p->slots[i];
    if (s->kind != SLOT_PARAM || !s->node || s->node->task >= 0)
      continue;
    if (layer && (s->node != layer || strcmp(s->node->params[s->index].name, "weight")))
      continue;
    int64_t len = shape_elems(s->shape);
    if (s->offset == end) {
      runs[n - 1].len += len;
    } else {
      runs[n++] = (SharedRun){s->cname, len, packed};
    }
    end = s->offset + len;
    packed += len;
  }
  return n;
}

static int64_t shared_elems(const Program *p, SharedRun *runs, int *nruns) {
  *nruns = shared_runs(p, runs);
  int64_t total = 0;
  for (int r = 0; r < *nruns; r++)
    total += runs[r].len;
  return total;
}

bool objective_supported(const Checked *c) { return objective_gen(c) != NULL; }

const char *objective_doc(const Checked *c) { return objective_gen(c)->doc; }

const char *objective_state_size(const Program *p) {
  const ObjectiveGen *g = objective_gen(p->c);
  return g->state ? arena_printf(p->arena, g->state, p->c->ntasks) : NULL;
}

void emit_objective_weights(const Emit *e) {
  const Checked *c = e->p->c;
  fprintf(e->out, "    %s w[%d]; /* the task weights of this step */\n", e->real, c->ntasks);
  objective_gen(c)->weights(e, c);
  fprintf(e->out, "    for (int t = 0; t < %d; t++)\n        m->task_weight[t] = w[t];\n", c->ntasks);
}

void emit_objective_task(const Emit *e, int t, const char *seed, int64_t seed_elems) {
  const Program *p = e->p;
  const Checked *c = p->c;
  fprintf(e->out, "        m->labelled[%d] = count != 0;\n", t);
  if (c->objective == OBJ_STRATEGY && c->strategy == OP_UNCERTAINTY) {
    const char *s = arena_printf(p->arena, "m->param[%s + %d]", objective_param(p), t);
    fprintf(e->out, "        m->grad[%s + %d] = count ? (%s)0.5 - w[%d] * task_loss[%d] : 0;\n", objective_param(p), t,
            e->real, t, t);
    fprintf(e->out, "        if (count)\n            loss += w[%d] * task_loss[%d] + (%s)0.5 * %s;\n", t, t, e->real, s);
  } else {
    fprintf(e->out, "        loss += w[%d] * task_loss[%d];\n", t, t);
  }
  bool unit = (c->objective == OBJ_SUM && c->tasks[t].weight == 1) || objective_grad_plan(c) != GRADS_JOINT;
  if (seed && !unit)
    fprintf(e->out, "        mtlrt_scale_%s((size_t)n * %lld, %s, w[%d]);\n", e->sfx, (long long)seed_elems, seed, t);
}

void emit_objective_step(const Emit *e) {
  const ObjectiveGen *g = objective_gen(e->p->c);
  if (g->step)
    g->step(e, e->p->c);
}

void emit_objective_epoch(const Emit *e) {
  const ObjectiveGen *g = objective_gen(e->p->c);
  if (g->epoch)
    g->epoch(e, e->p->c);
}

int64_t objective_task_grad_elems(const Program *p) {
  GradPlan plan = objective_grad_plan(p->c);
  if (plan != GRADS_PER_TASK_PARAMS && plan != GRADS_PER_TASK_LAYER)
    return 0;
  SharedRun *runs = arena_alloc(p->arena, sizeof *runs * (size_t)(p->nslots + 1));
  int nruns;
  return shared_elems(p, runs, &nruns);
}

void emit_objective_fields(FILE *f, const Program *p, const char *real) {
  const char *state = objective_state_size(p);
  if (state)
    fprintf(f, "    %s objective_state[%s]; /* what the objective keeps between steps */\n", real, state);
  int64_t shared = objective_task_grad_elems(p);
  if (shared)
    fprintf(f, "    %s task_grad[%d][%lld]; /* each task's gradient of the shared parameters */\n", real,
            p->c->ntasks, (long long)shared);
}

/* The per-task gradients' pointers of a COMBINE: task_grad[]'s rows, or one representation
 * node's gradient per task (NULL where the task does not read it). */
static void pointers(const Emit *e, const Ins *ins, int r, const char *name) {
  int tasks = e->p->c->ntasks;
  fprintf(e->out, "        const %s *%s[%d] = {", e->real, name, tasks);
  for (int t = 0; t < tasks; t++) {
    const Buf *b = r < 0 ? NULL : ins->reps[t * ins->nrep + r];
    if (r < 0)
      fprintf(e->out, "%sm->task_grad[%d]", t ? ", " : "", t);
    else
      fprintf(e->out, "%s%s", t ? ", " : "", b ? buf_expr(e, b) : "NULL");
  }
  fprintf(e->out, "};\n");
}

void emit_strategy_ins(const Emit *e, const Ins *ins) {
  const Program *p = e->p;
  const Checked *c = p->c;
  SharedRun *runs = arena_alloc(p->arena, sizeof *runs * (size_t)(p->nslots + 1));
  int nruns;
  int64_t shared = shared_elems(p, runs, &nruns);
  switch (ins->kind) {
  case INS_ZERO_SHARED:
    fprintf(e->out, "\n    /* Task %s's gradient, alone: */\n", c->tasks[ins->task].name);
    for (int r = 0; r < nruns; r++)
      fprintf(e->out, "    memset(m->grad + %s, 0, sizeof(%s) * %lld);\n", runs[r].first, e->real,
              (long long)runs[r].len);
    return;
  case INS_SAVE_SHARED:
    for (int r = 0; r < nruns; r++)
      fprintf(e->out, "    memcpy(m->task_grad[%d] + %lld, m->grad + %s, sizeof(%s) * %lld);\n", ins->task,
              (long long)runs[r].packed, runs[r].first, e->real, (long long)runs[r].len);
    return;
  default:
    break;
  }
  const ObjectiveGen *g = objective_gen(c);
  fprintf(e->out, "\n    /* %s: %s */\n    {\n", op_table[c->strategy].name, g->doc);
  fprintf(e->out, "        double gram[%d] = {0};\n", c->ntasks * c->ntasks);
  if (g->plan != GRADS_PER_TASK_LAYER)
    fprintf(e->out, "        double alpha[%d];\n", c->ntasks);
  if (ins->rep) {
    for (int r = 0; r < ins->nrep; r++) {
      fprintf(e->out, "        {   /* the gradients of %s */\n    ", ins->rep[r]->name);
      pointers(e, ins, r, "g");
      fprintf(e->out, "            mtlrt_gram_add_%s(%d, (size_t)n * %lld, g, gram);\n        }\n", e->sfx, c->ntasks,
              (long long)shape_elems(ins->rep[r]->shape));
    }
  } else {
    pointers(e, ins, -1, "g");
    fprintf(e->out, "        mtlrt_gram_add_%s(%d, %lld, g, gram);\n", e->sfx, c->ntasks, (long long)shared);
  }
  g->alpha(e, c);
  if (g->plan == GRADS_PER_TASK_LAYER) {
    gradnorm_seeds(e, ins);
    fprintf(e->out, "    }\n\n    /* The whole model, once, from the weighted losses: */\n");
    return;
  }
  fprintf(e->out, "        for (int t = 0; t < %d; t++)\n            m->task_weight[t] = (%s)alpha[t];\n", c->ntasks,
          e->real);
  if (ins->rep) {
    for (int r = 0; r < ins->nrep; r++) {
      fprintf(e->out, "        {   /* where the trunk's pass starts: %s */\n    ", ins->rep[r]->name);
      pointers(e, ins, r, "g");
      fprintf(e->out, "            mtlrt_combine_%s(%d, (size_t)n * %lld, g, 0, alpha, %s);\n        }\n", e->sfx,
              c->ntasks, (long long)shape_elems(ins->rep[r]->shape), buf_expr(e, ins->combined[r]));
    }
  } else {
    for (int r = 0; r < nruns; r++)
      fprintf(e->out, "        mtlrt_combine_%s(%d, %lld, g, %lld, alpha, m->grad + %s);\n", e->sfx, c->ntasks,
              (long long)runs[r].len, (long long)runs[r].packed, runs[r].first);
  }
  fprintf(e->out, "    }\n");
  if (ins->rep)
    fprintf(e->out, "\n    /* The shared trunk, once, from the combination: */\n");
}

void emit_objective_init(const Emit *e) {
  const ObjectiveGen *g = objective_gen(e->p->c);
  if (g->init)
    g->init(e, e->p->c);
}

bool objective_check(const Program *p, Diag *d) {
  const Checked *c = p->c;
  if (c->objective == OBJ_SUM)
    return true;
  const char *name = op_table[c->strategy].name;
  if (c->strategy != OP_UNCERTAINTY && c->ntasks > MAX_STRATEGY_TASKS) {
    error_at(d, c->strategy_loc, "%s: at most %d tasks, the model has %d", name, MAX_STRATEGY_TASKS, c->ntasks);
    return false;
  }
  GradPlan plan = objective_grad_plan(c);
  if (plan == GRADS_JOINT)
    return true;
  bool shared = false;
  for (int i = 0; i < p->nslots; i++)
    shared |= p->slots[i].kind == SLOT_PARAM && p->slots[i].node && p->slots[i].node->task < 0 &&
              p->live[p->slots[i].node->id];
  if (plan == GRADS_PER_TASK_LAYER && !strategy_layer(p)) {
    error_at(d, c->strategy_loc, "%s needs a shared layer with a weight matrix (dense or conv) that every task "
             "depends on, to balance the tasks' gradients at; this model has none", name);
    return false;
  }
  if (!shared) {
    error_at(d, c->strategy_loc, "%s combines the tasks' gradients of the shared layers, and no shared layer of "
             "this model has a trainable parameter", name);
    return false;
  }
  return true;
}
