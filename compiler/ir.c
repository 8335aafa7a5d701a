/* ir.c: lowering. It turns the checked model into a Program: the parameter slots of the
 * model struct (trainable parameters, running statistics, counters, each under its §5 key),
 * a buffer per node's value, and the forward instructions in topological order, each with
 * the saved and scratch buffers its op's generator asks for. Nodes that lead to no task's
 * output are left out. autodiff.c appends the losses and the backward pass; memplan.c then
 * places the buffers. */
#include "mtlc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Words a generated name must not be: C's keywords and the generated code's own names. */
static const char *const reserved[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "bool", "true", "false", "m", "n", "s",
    "training", "task_loss", "loss", "count", "scale", "total", "path", "err", "seed", "outputs",
    "inputs", "targets", "main", "NULL", "size_t", "int32_t", "int64_t", "uint64_t", "tasks",
    "params", "array", "tensors", "forward_pass", "meta", "t", "tl", "in", "tg", "out", "p", "i",
    "epoch", "epochs", "which", "model", "loss_sum", "NPARAMS", "DROPOUT_STRIDE", "w", "l"};

const char *c_ident(Program *p, const char *name) {
  char *s = arena_printf(p->arena, "%s", name);
  for (char *c = s; *c; c++)
    if (!isalnum((unsigned char)*c))
      *c = '_';
  for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
    if (!strcmp(s, reserved[i]))
      s = arena_printf(p->arena, "%s_", s);
  const char *unique = s;
  for (int k = 2;; k++) {
    bool taken = false;
    for (int i = 0; i < p->nnames && !taken; i++)
      taken = !strcmp(p->names[i], unique);
    if (!taken)
      break;
    unique = arena_printf(p->arena, "%s_%d", s, k);
  }
  VEC_PUSH(p->arena, p->names, p->nnames, p->capnames, unique);
  return unique;
}

Buf *new_buf(Program *p, const char *name, int64_t per_sample, int64_t fixed) {
  Buf *b = arena_alloc(p->arena, sizeof *b);
  b->name = c_ident(p, name);
  b->per_sample = per_sample;
  b->fixed = fixed;
  VEC_PUSH(p->arena, p->bufs, p->nbufs, p->capbufs, b);
  return b;
}

Ins *add_ins(Program *p, InsKind kind) {
  if (p->nins == p->capins)
    vec_grow(p->arena, (void **)&p->ins, p->nins, &p->capins, sizeof *p->ins);
  Ins *ins = &p->ins[p->nins++];
  memset(ins, 0, sizeof *ins);
  ins->kind = kind;
  return ins;
}

static Buf *ext_buf(Program *p, const char *name, int64_t per_sample) {
  Buf *b = new_buf(p, name, per_sample, 0);
  b->ext = b->name;
  return b;
}

static void add_slot(Program *p, Slot s) {
  int64_t *next = s.kind == SLOT_PARAM ? &p->nparam : s.kind == SLOT_BUFFER ? &p->nbuffer : &p->ncount;
  s.offset = *next;
  *next += shape_elems(s.shape);
  s.cname = c_ident(p, s.key);
  p->slots[p->nslots++] = s;
}

/* Every parameter in node order; running statistics and counters after the trainable ones
 * of their node, as in PyTorch's state_dict. */
static void lay_out_slots(Program *p) {
  const Checked *c = p->c;
  int max = 1;
  for (int i = 0; i < c->nnodes; i++)
    max += c->nodes[i]->nparams + 1;
  p->slots = arena_alloc(p->arena, sizeof *p->slots * (size_t)max);
  for (int i = 0; i < c->nnodes; i++) {
    const Node *n = c->nodes[i];
    for (int k = 0; k < n->nparams; k++) {
      const Param *pm = &n->params[k];
      add_slot(p, (Slot){.key = arena_printf(p->arena, "%s.%s", n->key, pm->name), .shape = pm->shape,
                         .kind = pm->trainable ? SLOT_PARAM : SLOT_BUFFER, .node = n, .index = k});
    }
    if (n->kind == NODE_OP && n->op_id == OP_BATCHNORM)
      add_slot(p, (Slot){.key = arena_printf(p->arena, "%s.num_batches_tracked", n->key),
                         .shape = {.rank = 0}, .kind = SLOT_COUNT, .node = n, .index = -1});
  }
  p->log_var = -1;
  if (c->objective == OBJ_STRATEGY && c->strategy == OP_UNCERTAINTY) {
    p->log_var = p->nparam;
    add_slot(p, (Slot){.key = "objective.log_var", .shape = shape_of(1, c->ntasks), .kind = SLOT_PARAM});
  }
  if (c->objective == OBJ_STRATEGY && c->strategy == OP_GRADNORM) /* the learned task weights */
    add_slot(p, (Slot){.key = "objective.weight", .shape = shape_of(1, c->ntasks), .kind = SLOT_PARAM});
}

const Slot *find_slot(const Program *p, const Node *n, const char *name) {
  for (int i = 0; i < p->nslots; i++)
    if (p->slots[i].node == n && p->slots[i].index >= 0 && !strcmp(n->params[p->slots[i].index].name, name))
      return &p->slots[i];
  fprintf(stderr, "mtlc: internal error: %s has no parameter '%s'\n", n->name, name);
  abort();
}

Program *lower(Arena *a, const Checked *c, bool f64, Diag *d) {
  if (!objective_supported(c)) {
    error_at(d, c->strategy_loc,
             "code generation for the '%s' objective is not available in mtlc %s yet; "
             "use another strategy", op_table[c->strategy].name, MTLC_VERSION);
    return NULL;
  }
  Program *p = arena_alloc(a, sizeof *p);
  p->c = c;
  p->arena = a;
  p->f64 = f64;
  size_t nn = (size_t)c->nnodes;
  p->value = arena_alloc(a, sizeof *p->value * nn);
  p->grad = arena_alloc(a, sizeof *p->grad * nn);
  p->live = arena_alloc(a, sizeof *p->live * nn);
  p->targets = arena_alloc(a, sizeof *p->targets * (size_t)(c->ntargets + 1));

  /* The caller's arrays first, so that their C names are the user's names. */
  for (int i = 0; i < c->nnodes; i++)
    if (c->nodes[i]->kind == NODE_INPUT)
      p->value[i] = ext_buf(p, c->nodes[i]->name, shape_elems(c->nodes[i]->shape));
  for (int i = 0; i < c->ntargets; i++) {
    const Target *t = &c->targets[i];
    p->targets[i] = ext_buf(p, t->name, shape_elems(t->shape));
    p->targets[i]->is_int = t->kind == TYPE_CLASS;
  }
  p->out_names = arena_alloc(a, sizeof *p->out_names * (size_t)(c->ntasks + 1));
  for (int t = 0; t < c->ntasks; t++) /* forward()'s output parameters */
    p->out_names[t] = c_ident(p, arena_printf(a, "%s_out", c->tasks[t].name));
  lay_out_slots(p);

  for (int t = 0; t < c->ntasks; t++)
    p->live[c->tasks[t].output->id] = true;
  for (int i = c->nnodes - 1; i >= 0; i--)
    for (int k = 0; p->live[i] && k < c->nodes[i]->ninputs; k++)
      p->live[c->nodes[i]->inputs[k]->id] = true;

  for (int i = 0; i < c->nnodes; i++) {
    const Node *n = c->nodes[i];
    if (n->kind != NODE_OP || !p->live[i])
      continue;
    Ins *ins = add_ins(p, INS_FWD);
    ins->node = n;
    ins->x = arena_alloc(a, sizeof *ins->x * (size_t)n->ninputs);
    for (int k = 0; k < n->ninputs; k++)
      ins->x[k] = p->value[n->inputs[k]->id];
    p->value[i] = n->op->gen->view ? ins->x[0] : new_buf(p, n->name, shape_elems(n->shape), 0);
    ins->y = p->value[i];
    if (n->op->gen->plan)
      n->op->gen->plan(p, ins);
  }
  p->nfwd = p->nins;
  fuse_conv_pool(p);
  return objective_check(p, d) ? p : NULL;
}
