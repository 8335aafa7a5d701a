/* autodiff.c: reverse mode as a transform of the Program. After the forward instructions it
 * appends one LOSS instruction per task, which seeds the gradient of the task's output, then
 * walks the forward instructions backwards and appends each node's BWD instruction: its op's
 * backward rule (opgen.c) reads the output's gradient and whatever forward values the rule
 * says it needs, and writes its inputs' gradients and its parameters' gradients. A node with
 * several consumers (the shared trunk feeds every task) gets the first consumer's share
 * written in place and every later share added by an ACCUM. Inputs and targets get no
 * gradient, nor does any node with no trainable parameter before it. A view, or a node whose
 * work a fused convolution does (Ins.fused), hands its gradient on to its input unchanged.
 *
 * Objectives that weight the losses need one such walk from all the seeds. A gradient
 * strategy (objective_grad_plan) needs per-task gradients: a walk per task through the
 * whole model, whose shared-parameter gradients are saved for the COMBINE; or a walk per
 * task through its head only, the COMBINE of the representation's gradients, and one walk
 * through the trunk from the combination. Heads read shared nodes and never the other way
 * round, so every head's backward can come before the trunk's. */
#include "mtlc.h"

#include <string.h>

static bool has_trainable(const Node *n) {
  for (int k = 0; k < n->nparams; k++)
    if (n->params[k].trainable)
      return true;
  return false;
}

/* Where a consumer writes its share of u's gradient: u's gradient buffer for the first share;
 * for later ones a buffer of its own, which add_share() then adds in. */
static Buf *share_buf(Program *p, const Node *u, const char *via, Buf **accum_into) {
  Buf **g = &p->grad[u->id];
  int64_t elems = shape_elems(u->shape);
  if (!*g) {
    *g = new_buf(p, arena_printf(p->arena, "d_%s", u->name), elems, 0);
    *accum_into = NULL;
    return *g;
  }
  *accum_into = *g;
  return new_buf(p, arena_printf(p->arena, "d_%s_from_%s", u->name, via), elems, 0);
}

static void add_share(Program *p, Buf *share, Buf *into) {
  if (!into)
    return;
  Ins *acc = add_ins(p, INS_ACCUM);
  acc->src = share;
  acc->dst = into;
}

enum { ALL_HEADS = -2, NO_HEAD = -1 };

/* Appends the BWD (and ACCUM) instructions of the selected nodes, in reverse order, from the
 * gradients in p->grad: the task-local nodes of task `heads` (or ALL_HEADS, or NO_HEAD) and
 * the shared nodes from index `trunk_from` on (0: all; c->nnodes: none). */
static void walk(Program *p, const bool *req, int heads, int trunk_from) {
  for (int i = p->nfwd - 1; i >= 0; i--) {
    Ins fwd = p->ins[i]; /* a copy: add_ins() may move the array */
    const Node *v = fwd.node;
    Buf *dy = p->grad[v->id];
    bool wanted = v->task < 0 ? v->id >= trunk_from : heads == ALL_HEADS || heads == v->task;
    if (!req[v->id] || !dy || !wanted)
      continue;
    if (v->op->gen->view || fwd.fused) {
      const Node *u = v->inputs[0];
      if (!req[u->id])
        continue;
      if (!p->grad[u->id])
        p->grad[u->id] = dy;
      else
        add_share(p, dy, p->grad[u->id]);
      continue;
    }
    Buf **dx = arena_alloc(p->arena, sizeof *dx * (size_t)v->ninputs);
    Buf **into = arena_alloc(p->arena, sizeof *into * (size_t)v->ninputs);
    for (int k = 0; k < v->ninputs; k++)
      if (req[v->inputs[k]->id])
        dx[k] = share_buf(p, v->inputs[k], v->name, &into[k]);
    Ins *bwd = add_ins(p, INS_BWD);
    *bwd = fwd;
    bwd->kind = INS_BWD;
    bwd->dy = dy;
    bwd->dx = dx;
    bwd->param_grads = has_trainable(v);
    if (bwd->scratch) /* the backward's scratch is its own, live at this instruction only */
      bwd->scratch = new_buf(p, arena_printf(p->arena, "scratch_d_%s", v->name), fwd.scratch->per_sample,
                             fwd.scratch->fixed);
    for (int k = 0; k < v->ninputs; k++)
      add_share(p, dx[k], into[k]);
  }
}

static void clear_grads(Program *p) {
  memset(p->grad, 0, sizeof *p->grad * (size_t)p->c->nnodes);
}

/* Per task: its head, then the gradients of the shared nodes it reads (the representation)
 * are its row of the COMBINE, which writes their combination where the trunk's walk starts. */
static void per_task_rep(Program *p, const bool *req, Buf **seed) {
  const Checked *c = p->c;
  const Node **rep = arena_alloc(p->arena, sizeof *rep * (size_t)c->nnodes);
  Buf **reps = arena_alloc(p->arena, sizeof *reps * (size_t)c->nnodes * (size_t)c->ntasks);
  int nrep = 0;
  Buf ***grads = arena_alloc(p->arena, sizeof *grads * (size_t)c->ntasks);
  for (int t = 0; t < c->ntasks; t++) {
    clear_grads(p);
    p->grad[c->tasks[t].output->id] = seed[t];
    walk(p, req, t, c->nnodes);
    grads[t] = arena_alloc(p->arena, sizeof **grads * (size_t)c->nnodes);
    memcpy(grads[t], p->grad, sizeof **grads * (size_t)c->nnodes);
  }
  for (int i = 0; i < c->nnodes; i++) { /* the representation: shared nodes with a gradient */
    const Node *v = c->nodes[i];
    bool read = false;
    for (int t = 0; t < c->ntasks; t++)
      read |= v->task < 0 && grads[t][i];
    if (!read)
      continue;
    for (int t = 0; t < c->ntasks; t++)
      reps[t * c->nnodes + nrep] = grads[t][i];
    rep[nrep++] = v;
  }
  Ins *comb = add_ins(p, INS_COMBINE);
  comb->rep = rep;
  comb->nrep = nrep;
  comb->reps = arena_alloc(p->arena, sizeof *comb->reps * (size_t)(nrep * c->ntasks + 1));
  comb->combined = arena_alloc(p->arena, sizeof *comb->combined * (size_t)(nrep + 1));
  clear_grads(p);
  for (int r = 0; r < nrep; r++) {
    for (int t = 0; t < c->ntasks; t++)
      comb->reps[t * nrep + r] = reps[t * c->nnodes + r];
    p->grad[rep[r]->id] = comb->combined[r] =
        new_buf(p, arena_printf(p->arena, "d_%s_combined", rep[r]->name), shape_elems(rep[r]->shape), 0);
  }
  walk(p, req, NO_HEAD, 0);
}

void autodiff(Program *p) {
  const Checked *c = p->c;
  bool *req = arena_alloc(p->arena, sizeof *req * (size_t)c->nnodes);
  for (int i = 0; i < c->nnodes; i++) {
    const Node *n = c->nodes[i];
    req[i] = n->kind == NODE_OP && has_trainable(n);
    for (int k = 0; k < n->ninputs && !req[i]; k++)
      req[i] = req[n->inputs[k]->id];
  }

  GradPlan plan = objective_grad_plan(c);
  Buf **seed = arena_alloc(p->arena, sizeof *seed * (size_t)c->ntasks);
  for (int t = 0; t < c->ntasks; t++) {
    const Node *out = c->tasks[t].output;
    if (plan != GRADS_JOINT) /* each task's seed is its own, even where two share an output */
      p->grad[out->id] = NULL;
    Buf *into = NULL, *dst = req[out->id] ? share_buf(p, out, c->tasks[t].name, &into) : NULL;
    Ins *loss = add_ins(p, INS_LOSS);
    loss->task = t;
    loss->src = p->value[out->id];
    loss->dst = seed[t] = dst;
    add_share(p, dst, into);
  }
  p->nloss = p->nins - p->nfwd;

  switch (plan) {
  case GRADS_JOINT:
    walk(p, req, ALL_HEADS, 0);
    break;
  case GRADS_PER_TASK_PARAMS:
  case GRADS_PER_TASK_LAYER: {
    /* GRADS_PER_TASK_LAYER needs the gradient of one shared layer: the walk stops there. */
    int from = plan == GRADS_PER_TASK_LAYER ? strategy_layer(p)->id : 0;
    for (int t = 0; t < c->ntasks; t++) {
      add_ins(p, INS_ZERO_SHARED)->task = t;
      clear_grads(p);
      p->grad[c->tasks[t].output->id] = seed[t];
      walk(p, req, ALL_HEADS, from);
      add_ins(p, INS_SAVE_SHARED)->task = t;
    }
    Ins *comb = add_ins(p, INS_COMBINE);
    if (plan == GRADS_PER_TASK_PARAMS)
      break;
    /* ... which sets the task weights and scales the seeds: then one joint walk. */
    comb->reps = seed;
    comb->nrep = 1;
    clear_grads(p);
    for (int t = 0; t < c->ntasks; t++) {
      Buf **g = &p->grad[c->tasks[t].output->id];
      if (*g && seed[t])
        add_share(p, seed[t], *g);
      else if (seed[t])
        *g = seed[t];
    }
    walk(p, req, ALL_HEADS, 0);
    break;
  }
  case GRADS_PER_TASK_REP:
    per_task_rep(p, req, seed);
    break;
  }
}
