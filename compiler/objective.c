/* objective.c: the objective of spec §7 as code. One table row per objective says what it
 * keeps between steps and emits its pieces: the task weights of a step (before the task
 * losses, which are then scaled by them), what happens after an optimizer step and at the
 * start of an epoch. The math of the strategies lives in libmtlrt (strategy.inc); the
 * generated code calls it with the model's constants. */
#include "mtlc.h"

#include <string.h>

typedef struct ObjectiveGen {
  const char *doc;                                   /* for the generated comment */
  const char *state;                                 /* its state's size (a C expression), or NULL */
  void (*weights)(const Emit *e, const Checked *c);  /* fills w[] */
  void (*step)(const Emit *e, const Checked *c);     /* after an optimizer step */
  void (*epoch)(const Emit *e, const Checked *c);    /* as an epoch starts */
  GradPlan plan;                                     /* gradient strategies: what they combine */
  void (*alpha)(const Emit *e, const Checked *c);    /* ... and their alpha[] from gram[] */
} ObjectiveGen;

static void sum_weights(const Emit *e, const Checked *c) {
  for (int t = 0; t < c->ntasks; t++)
    fprintf(e->out, "    w[%d] = %s;\n", t, real_lit(e, c->tasks[t].weight));
}

/* Kendall et al.: the weight of task t is ½·exp(−s_t); the objective adds ½·s_t for each
 * task with labels, and s_t's gradient is ½ − w_t·L_t (see task_term()). */
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
    if (!p->slots[i].node && p->slots[i].offset == p->log_var)
      return p->slots[i].cname;
  return NULL;
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
  case OP_NASH_MTL: return &nash_mtl;
  default: return NULL;
  }
}

GradPlan objective_grad_plan(const Checked *c) { return objective_gen(c)->plan; }

/* The shared parameters: runs of param[] that belong to shared nodes, in order; `packed`
 * is where a run starts in a row of task_grad[]. Returns how many runs. */
typedef struct SharedRun {
  const char *first;   /* the C name of its first slot's offset */
  int64_t len, packed;
} SharedRun;

static int shared_runs(const Program *p, SharedRun *runs) {
  int n = 0;
  int64_t end = -1, packed = 0;
  for (int i = 0; i < p->nslots; i++) {
    const Slot *s = &p->slots[i];
    if (s->kind != SLOT_PARAM || !s->node || s->node->task >= 0)
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

void emit_objective_fields(FILE *f, const Program *p, const char *real) {
  const char *state = objective_state_size(p);
  if (state)
    fprintf(f, "    %s objective_state[%s]; /* what the objective keeps between steps */\n", real, state);
  if (objective_grad_plan(p->c) == GRADS_PER_TASK_PARAMS) {
    SharedRun *runs = arena_alloc(p->arena, sizeof *runs * (size_t)(p->nslots + 1));
    int nruns;
    fprintf(f, "    %s task_grad[%d][%lld]; /* each task's gradient of the shared parameters */\n", real,
            p->c->ntasks, (long long)shared_elems(p, runs, &nruns));
  }
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
  fprintf(e->out, "        double gram[%d] = {0}, alpha[%d];\n", c->ntasks * c->ntasks, c->ntasks);
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
