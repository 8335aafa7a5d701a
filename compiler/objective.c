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

static const ObjectiveGen *objective_gen(const Checked *c) {
  static const ObjectiveGen sum = {"the weighted sum of the task losses", NULL, sum_weights, NULL, NULL};
  static const ObjectiveGen uncertainty = {"uncertainty weighting (Kendall et al. 2018), learned log-variances",
                                           NULL, uncertainty_weights, NULL, NULL};
  static const ObjectiveGen dwa = {"dynamic weight average (Liu et al. 2019): weights from the ratios of each "
                                   "task's last two epoch-mean losses",
                                   "MTLRT_DWA_STATE(%d)", dwa_weights, dwa_step, dwa_epoch};
  static const ObjectiveGen rlw = {"random loss weighting (Lin et al. 2022): the softmax of fresh normal draws",
                                   NULL, rlw_weights, NULL, NULL};
  if (c->objective == OBJ_SUM)
    return &sum;
  switch (c->strategy) {
  case OP_UNCERTAINTY: return &uncertainty;
  case OP_DWA: return &dwa;
  case OP_RLW: return &rlw;
  default: return NULL;
  }
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
  bool unit = c->objective == OBJ_SUM && c->tasks[t].weight == 1;
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
