/* autodiff.c: reverse mode as a transform of the Program. After the forward instructions it
 * appends one LOSS instruction per task, which seeds the gradient of the task's output, then
 * walks the forward instructions backwards and appends each node's BWD instruction: its op's
 * backward rule (opgen.c) reads the output's gradient and whatever forward values the rule
 * says it needs, and writes its inputs' gradients and its parameters' gradients. A node with
 * several consumers (the shared trunk feeds every task) gets the first consumer's share
 * written in place and every later share added by an ACCUM. Inputs and targets get no
 * gradient, nor does any node with no trainable parameter before it. */
#include "mtlc.h"

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

void autodiff(Program *p) {
  const Checked *c = p->c;
  bool *req = arena_alloc(p->arena, sizeof *req * (size_t)c->nnodes);
  for (int i = 0; i < c->nnodes; i++) {
    const Node *n = c->nodes[i];
    req[i] = n->kind == NODE_OP && has_trainable(n);
    for (int k = 0; k < n->ninputs && !req[i]; k++)
      req[i] = req[n->inputs[k]->id];
  }

  for (int t = 0; t < c->ntasks; t++) {
    const Node *out = c->tasks[t].output;
    Buf *into = NULL, *dst = req[out->id] ? share_buf(p, out, c->tasks[t].name, &into) : NULL;
    Ins *loss = add_ins(p, INS_LOSS);
    loss->task = t;
    loss->src = p->value[out->id];
    loss->dst = dst;
    add_share(p, dst, into);
  }
  p->nloss = p->nins - p->nfwd;

  for (int i = p->nfwd - 1; i >= 0; i--) {
    Ins fwd = p->ins[i]; /* a copy: add_ins() may move the array */
    const Node *v = fwd.node;
    Buf *dy = p->grad[v->id];
    if (!req[v->id] || !dy)
      continue;
    if (v->op->gen->view) {
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
