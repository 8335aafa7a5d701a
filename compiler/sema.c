/* sema.c: the checker. It walks the AST in source order, resolves every name (one namespace
 * for inputs, targets, shared blocks and tasks; a scope per task for its local nodes), binds
 * every call's arguments against its ArgSpec table in ops.def, builds a Node per layer and
 * runs the layer's shape rule (ops.c), and checks each task's loss and metrics against its
 * target and the objective against the tasks. The result, a Checked model whose nodes are in
 * topological order with static per-sample shapes, is what explain.c and the code generator
 * read. Every mistake is reported at its token; a node whose chain failed is marked so that
 * its uses do not report the same mistake again. */
#include "mtlc.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef enum { SYM_INPUT, SYM_SHARED, SYM_TASK, SYM_TARGET, SYM_LOCAL } SymKind;

typedef struct Sym {
  const char *name;
  SymKind kind;
  Loc loc;       /* of the name in its definition */
  bool defined;  /* reached in source order */
  bool failed;   /* its definition had an error: uses stay silent */
  bool used;
  bool conflicted; /* redefined or shadowing: its uses stay silent */
  Node *node;    /* input, shared block, local node */
  int index;     /* task index (SYM_TASK), target index (SYM_TARGET) */
  int task;      /* owning task: targets and local nodes */
} Sym;

typedef struct Pending {
  Loc loc;
  const char *msg;
} Pending;

/* Symbols in declaration order, with a hash index over their names. */
typedef struct Scope {
  Sym *items;
  int n, cap;
  int *slots;           /* open addressing: index + 1, or 0 when free */
  int nslots;           /* a power of two, at least twice n */
} Scope;

typedef struct Checker {
  Sema sema;            /* what shape rules see; first member */
  Checked *out;
  Scope model;          /* inputs, targets, shared blocks, tasks */
  Scope locals;         /* the current task's nodes */
  int task;             /* the task being checked, or -1 */
  const char *defining; /* the shared block or local node whose chain is being checked */
  Node **nodes;
  int nnodes, capnodes;
  Target *targets;
  int ntargets, captargets;
  Decl *setting[DECL_CLIP_NORM + 1]; /* first declaration of each setting */
  const Model *model_ast; /* for "'h' is local to task 'a'" */
  Pending *warnings;    /* "never used", printed at the end in source order */
  int nwarnings, capwarnings;
} Checker;

static const char *const sym_kind_names[] = {"input", "shared block", "task", "target", "node"};

/* ---- helpers for the shape rules (declared in mtlc.h) ---- */

Shape shape_of(int rank, ...) {
  Shape sh = {.rank = rank};
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++)
    sh.dim[i] = va_arg(ap, int);
  va_end(ap);
  return sh;
}

/* Saturated at INT64_MAX: a shape is checked against MAX_ELEMS when it is set (set_elems),
 * and a rule may count its output's FLOPs before that. */
int64_t shape_elems(Shape sh) {
  int64_t n = 1;
  for (int i = 0; i < sh.rank; i++)
    n = sat_mul(n, sh.dim[i]);
  return n;
}

const char *shape_str(Arena *a, Shape sh) {
  const char *s = "[";
  for (int i = 0; i < sh.rank; i++)
    s = arena_printf(a, "%s%s%d", s, i ? ", " : "", sh.dim[i]);
  return arena_printf(a, "%s]", s);
}

void node_error(Sema *s, Node *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *msg = arena_alloc(s->arena, (size_t)len + 1);
  va_start(ap, fmt);
  vsnprintf(msg, (size_t)len + 1, fmt, ap);
  va_end(ap);
  error_at(s->diag, n->loc, "%s", msg);
}

static bool elems_ok(Shape sh) {
  int64_t n = 1;
  for (int i = 0; i < sh.rank; i++) {
    if (sh.dim[i] < 1)
      return false;
    n *= sh.dim[i];
    if (n > MAX_ELEMS)
      return false;
  }
  return true;
}

bool set_elems(Sema *s, Node *n, Shape sh) {
  if (!elems_ok(sh)) {
    node_error(s, n, "%s: the output would have more than %lld elements per sample", n->op->name,
               MAX_ELEMS);
    return false;
  }
  n->shape = sh;
  return true;
}

bool add_param(Sema *s, Node *n, const char *name, Shape sh, bool trainable) {
  if (!elems_ok(sh)) {
    node_error(s, n, "%s: the parameter '%s' would have more than %lld elements", n->op->name, name,
               MAX_ELEMS);
    return false;
  }
  n->params[n->nparams++] = (Param){.name = name, .shape = sh, .trainable = trainable};
  return true;
}

const Bound *node_arg(const Node *n, const char *name) {
  for (int i = 0; n->op->args[i].name; i++)
    if (!strcmp(n->op->args[i].name, name))
      return &n->args[i];
  fprintf(stderr, "mtlc: internal error: %s has no argument '%s'\n", n->op->name, name);
  abort();
}

const char *node_label(const Node *n) { return n->label ? n->label : n->name; }

/* ---- names ---- */

static unsigned hash_name(const char *s) {
  unsigned h = 2166136261u; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* The slot of `name`: where it is, or the free slot where it would go. */
static int *scope_slot(const Scope *sc, const char *name) {
  unsigned mask = (unsigned)sc->nslots - 1;
  for (unsigned i = hash_name(name) & mask;; i = (i + 1) & mask) {
    int *slot = &sc->slots[i];
    if (!*slot || !strcmp(sc->items[*slot - 1].name, name))
      return slot;
  }
}

static Sym *find_sym(const Scope *sc, const char *name) {
  if (!sc->nslots)
    return NULL;
  int idx = *scope_slot(sc, name);
  return idx ? &sc->items[idx - 1] : NULL;
}

static void scope_clear(Scope *sc) {
  for (int i = 0; i < sc->n; i++)
    *scope_slot(sc, sc->items[i].name) = 0;
  sc->n = 0;
}

/* The symbol that `decl` declared, or NULL after reporting it as a redefinition. */
static Sym *owner(Checker *c, Scope *sc, const Decl *decl) {
  Sym *sym = decl->name ? find_sym(sc, decl->name) : NULL;
  if (!sym || (sym->loc.first_line == decl->name_loc.first_line &&
               sym->loc.first_column == decl->name_loc.first_column))
    return sym;
  error_at(c->sema.diag, decl->name_loc, "redefinition of '%s'", decl->name);
  note_at(c->sema.diag, sym->loc, "'%s' is first defined here as %s %s", decl->name,
          sym->kind == SYM_INPUT ? "an" : "a", sym_kind_names[sym->kind]);
  sym->conflicted = true;
  return NULL;
}

static void warn_later(Checker *c, Loc loc, const char *msg) {
  VEC_PUSH(c->sema.arena, c->warnings, c->nwarnings, c->capwarnings, ((Pending){loc, msg}));
}

static int loc_cmp(const void *a, const void *b) {
  const Loc *x = &((const Pending *)a)->loc, *y = &((const Pending *)b)->loc;
  return x->first_line != y->first_line ? (x->first_line > y->first_line) - (x->first_line < y->first_line)
                                        : (x->first_column > y->first_column) - (x->first_column < y->first_column);
}

static Sym *declare(Checker *c, Scope *sc, Sym sym) {
  if (find_sym(sc, sym.name))
    return NULL; /* reported in source order by owner() */
  if (2 * (sc->n + 1) > sc->nslots) { /* grow the index and put every name back */
    sc->nslots = sc->nslots ? 2 * sc->nslots : 16;
    sc->slots = arena_alloc(c->sema.arena, sizeof *sc->slots * (size_t)sc->nslots);
    for (int i = 0; i < sc->n; i++)
      *scope_slot(sc, sc->items[i].name) = i + 1;
  }
  VEC_PUSH(c->sema.arena, sc->items, sc->n, sc->cap, sym);
  *scope_slot(sc, sym.name) = sc->n;
  return &sc->items[sc->n - 1];
}

/* "; did you mean 'x'?" or "" */
static const char *suggest(Arena *a, const char *name, const char *const *cands, int n) {
  const char *best = closest_name(name, cands, n);
  return best ? arena_printf(a, "; did you mean '%s'?", best) : "";
}

/* The node that `name` denotes in a chain or a loss, or NULL after reporting why not. */
static Node *resolve_node(Checker *c, const char *name, Loc loc) {
  Diag *d = c->sema.diag;
  Sym *sym = find_sym(&c->locals, name);
  if (!sym)
    sym = find_sym(&c->model, name);
  if (!sym) {
    for (const Decl *t = c->model_ast->decls; t; t = t->next)
      for (const Decl *b = t->kind == DECL_TASK ? t->body : NULL; b; b = b->next)
        if (b->kind == DECL_NODE && !strcmp(b->name, name)) {
          error_at(d, loc, "'%s' is local to task '%s'; share it with a shared block", name, t->name);
          note_at(d, b->name_loc, "'%s' is defined here", name);
          return NULL;
        }
    const char **cands = arena_alloc(c->sema.arena, sizeof *cands * (size_t)(c->model.n + c->locals.n + 1));
    int n = 0;
    for (int i = 0; i < c->locals.n; i++)
      cands[n++] = c->locals.items[i].name;
    for (int i = 0; i < c->model.n; i++)
      if (c->model.items[i].kind == SYM_INPUT || c->model.items[i].kind == SYM_SHARED)
        cands[n++] = c->model.items[i].name;
    const OpInfo *op = find_op(name, ~0u);
    if (op && op->kind == KIND_LAYER)
      error_at(d, loc, "unknown name '%s'; a chain starts with a node name or a merge, and '%s' is a layer",
               name, name);
    else
      error_at(d, loc, "unknown name '%s'%s", name, suggest(c->sema.arena, name, cands, n));
    return NULL;
  }
  sym->used = true;
  if (sym->conflicted)
    return NULL;
  switch (sym->kind) {
  case SYM_TARGET:
    error_at(d, loc, "'%s' is a target; a chain cannot read a target", name);
    note_at(d, sym->loc, "'%s' is defined here", name);
    return NULL;
  case SYM_TASK:
    error_at(d, loc, "'%s' is a task, not a node", name);
    return NULL;
  default:
    break;
  }
  if (!sym->defined) {
    if (c->defining && !strcmp(c->defining, name)) {
      error_at(d, loc, "'%s' refers to itself", name);
    } else {
      error_at(d, loc, "'%s' is used before its definition", name);
      note_at(d, sym->loc, "'%s' is defined here", name);
    }
    return NULL;
  }
  return sym->failed ? NULL : sym->node;
}

/* ---- arguments ---- */

static bool in_range(Range r, double v) {
  switch (r) {
  case R_ANY: return true;
  case R_POS: return v > 0;
  case R_NONNEG: return v >= 0;
  case R_ONE_UP: return v >= 1;
  case R_TWO_UP: return v >= 2;
  case R_PROB: return v >= 0 && v < 1;
  case R_UNIT: return v >= 0 && v <= 1;
  }
  return false;
}

static const char *const range_text[] = {
    [R_ANY] = "", [R_POS] = "> 0", [R_NONNEG] = ">= 0", [R_ONE_UP] = ">= 1",
    [R_TWO_UP] = ">= 2", [R_PROB] = "in [0, 1)", [R_UNIT] = "in [0, 1]",
};

typedef struct {
  Checker *c;
  const OpInfo *op;
  const ArgSpec *spec;
} ArgCtx;

static bool check_number(ArgCtx *x, const Value *v, bool want_int) {
  Diag *d = x->c->sema.diag;
  Arena *a = x->c->sema.arena;
  if (!isfinite(v->num) || !in_range(x->spec->range, v->num)) {
    if (isfinite(v->num))
      error_at(d, v->loc, "%s: '%s' must be %s, got %s", x->op->name, x->spec->name,
               range_text[x->spec->range], value_str(a, v));
    return false;
  }
  if (want_int && (v->i > INT_MAX || v->i < -INT_MAX)) {
    error_at(d, v->loc, "%s: '%s' is out of range: %s", x->op->name, x->spec->name, value_str(a, v));
    return false;
  }
  return true;
}

static bool type_error(ArgCtx *x, const Value *v, const char *what) {
  error_at(x->c->sema.diag, v->loc, "%s: '%s' must be %s, got %s", x->op->name, x->spec->name, what,
           value_str(x->c->sema.arena, v));
  return false;
}

/* An integer, or a list of two: kernel = 3, kernel = [3, 5]. */
static bool get_pair(ArgCtx *x, const Value *v, int out[2], const char *what) {
  if (v->kind == VAL_INT) {
    if (!check_number(x, v, true))
      return false;
    out[0] = out[1] = (int)v->i;
    return true;
  }
  if (v->kind != VAL_LIST || !v->items || !v->items->next || v->items->next->next ||
      v->items->kind != VAL_INT || v->items->next->kind != VAL_INT)
    return type_error(x, v, what);
  for (int i = 0; i < 2; i++) {
    const Value *it = i ? v->items->next : v->items;
    if (!check_number(x, it, true))
      return false;
    out[i] = (int)it->i;
  }
  return true;
}

static bool convert(ArgCtx *x, const Value *v, Bound *b) {
  Arena *a = x->c->sema.arena;
  switch (x->spec->type) {
  case ARG_INT:
    if (v->kind != VAL_INT)
      return type_error(x, v, "an integer");
    b->num = (double)v->i;
    return check_number(x, v, true);
  case ARG_REAL:
    if (v->kind != VAL_INT && v->kind != VAL_REAL)
      return type_error(x, v, "a number");
    b->num = v->num;
    return check_number(x, v, false);
  case ARG_BOOL:
    if (v->kind != VAL_IDENT || (strcmp(v->name, "true") && strcmp(v->name, "false"))) {
      static const char *const bools[] = {"true", "false"};
      error_at(x->c->sema.diag, v->loc, "%s: '%s' must be true or false, got %s%s", x->op->name,
               x->spec->name, value_str(a, v), v->kind == VAL_IDENT ? suggest(a, v->name, bools, 2) : "");
      return false;
    }
    b->num = !strcmp(v->name, "true");
    return true;
  case ARG_PAIR:
    return get_pair(x, v, b->pair, "an integer or a pair [a, b]");
  case ARG_PAD:
    if (v->kind == VAL_IDENT && !strcmp(v->name, "same")) {
      b->same = true;
      return true;
    }
    if (v->kind == VAL_IDENT) {
      static const char *const same[] = {"same"};
      error_at(x->c->sema.diag, v->loc, "%s: '%s' must be an integer, a pair [a, b] or same, got %s%s",
               x->op->name, x->spec->name, v->name, suggest(a, v->name, same, 1));
      return false;
    }
    return get_pair(x, v, b->pair, "an integer, a pair [a, b] or same");
  case ARG_CHOICE: {
    const char *const *ch = x->spec->choices;
    int n = 0;
    while (ch[n])
      n++;
    for (int i = 0; v->kind == VAL_IDENT && i < n; i++)
      if (!strcmp(v->name, ch[i])) {
        b->num = i;
        return true;
      }
    const char *list = "";
    for (int i = 0; i < n; i++)
      list = arena_printf(a, "%s%s%s", list, i == 0 ? "" : i == n - 1 ? " or " : ", ", ch[i]);
    error_at(x->c->sema.diag, v->loc, "%s: '%s' must be %s, got %s%s", x->op->name, x->spec->name,
             list, value_str(a, v), v->kind == VAL_IDENT ? suggest(a, v->name, ch, n) : "");
    return false;
  }
  case ARG_NODE:
  case ARG_TARGET:
    if (v->kind != VAL_IDENT)
      return type_error(x, v, x->spec->type == ARG_NODE ? "a node name" : "a target name");
    return true;
  case ARG_INTS:
  case ARG_NAMES:
    break; /* bound by bind_args from all positional arguments */
  }
  return true;
}

static void set_defaults(const OpInfo *op, Loc loc, Bound *out) {
  for (int i = 0; op->args[i].name; i++) {
    double def = op->args[i].def;
    out[i] = (Bound){.loc = loc, .num = def, .pair = {(int)def, (int)def}};
  }
}

/* Binds `call`'s arguments to `op`'s specs; `out` gets one Bound per spec. */
static bool bind_args(Checker *c, const Call *call, const OpInfo *op, Bound *out) {
  Diag *d = c->sema.diag;
  Arena *a = c->sema.arena;
  int nspec = 0, variadic = -1;
  const char *names[MAX_ARGS];
  for (; op->args[nspec].name; nspec++) {
    names[nspec] = op->args[nspec].name;
    if (op->args[nspec].type == ARG_INTS || op->args[nspec].type == ARG_NAMES)
      variadic = nspec;
  }
  set_defaults(op, call->args_loc, out);
  bool ok = true, seen_named = false;
  int pos = 0;
  const Arg *given[MAX_ARGS] = {0};
  for (const Arg *arg = call->args; arg; arg = arg->next) {
    int slot;
    if (arg->name) {
      seen_named = true;
      for (slot = 0; slot < nspec && strcmp(names[slot], arg->name); slot++)
        ;
      if (slot == nspec || slot == variadic) {
        error_at(d, arg->name_loc, "%s has no argument '%s'%s", op->name, arg->name,
                 suggest(a, arg->name, names, nspec));
        ok = false;
        continue;
      }
    } else if (seen_named) {
      error_at(d, arg->loc, "%s: positional argument after a named argument", op->name);
      ok = false;
      continue;
    } else if (variadic >= 0 && pos >= variadic) {
      Bound *b = &out[variadic];
      if (op->args[variadic].type == ARG_INTS) {
        if (arg->value->kind != VAL_INT) {
          error_at(d, arg->value->loc, "%s: expected an integer, got %s", op->name,
                   value_str(a, arg->value));
          ok = false;
        } else if (b->nints == MAX_RANK) {
          error_at(d, arg->loc, "%s: at most %d dimensions are supported", op->name, MAX_RANK);
          ok = false;
        } else {
          b->ints[b->nints] = arg->value->i;
        }
      }
      if (!b->given)
        b->value = arg->value, b->loc = arg->loc;
      b->given = true;
      b->nints++;
      continue;
    } else {
      slot = pos++;
      if (slot >= nspec) {
        error_at(d, arg->loc, "too many arguments to %s (it takes %d)", op->name, nspec);
        ok = false;
        continue;
      }
    }
    if (given[slot]) {
      error_at(d, arg->loc, "%s: argument '%s' is given twice", op->name, names[slot]);
      note_at(d, given[slot]->loc, "first given here");
      ok = false;
      continue;
    }
    given[slot] = arg;
    Bound *b = &out[slot];
    b->given = true;
    b->value = arg->value;
    b->loc = arg->value->loc;
    ArgCtx x = {c, op, &op->args[slot]};
    ok &= convert(&x, arg->value, b);
  }
  bool clean = ok; /* after another error, "missing" is likely its echo */
  for (int i = 0; clean && i < nspec; i++) {
    const ArgSpec *sp = &op->args[i];
    if (sp->required && !out[i].given) {
      if (i == variadic)
        error_at(d, call->args_loc, "%s needs at least one %s", op->name,
                 sp->type == ARG_INTS ? "dimension" : op->kind == KIND_MERGE ? "input" : "task");
      else
        error_at(d, call->args_loc, "%s: missing argument '%s'", op->name, sp->name);
      ok = false;
    }
  }
  return ok;
}

static const OpInfo *lookup_op(Checker *c, const Call *call, CallKind kind) {
  Diag *d = c->sema.diag;
  const OpInfo *op = find_op(call->name, 1u << kind);
  const char *what = call_kind_name(kind);
  if (!op) {
    const OpInfo *other = find_op(call->name, ~0u);
    if (other && other->kind == KIND_MERGE && kind == KIND_LAYER) {
      error_at(d, call->loc, "'%s' is a merge; it can only start a chain", call->name);
    } else if (other) {
      error_at(d, call->loc, "'%s' is %s %s, not %s %s", call->name,
               other->kind == KIND_OPTIMIZER ? "an" : "a", call_kind_name(other->kind),
               kind == KIND_OPTIMIZER ? "an" : "a", what);
    } else {
      const char *names[OP_COUNT];
      int n = op_names(1u << kind, names);
      error_at(d, call->loc, "unknown %s '%s'%s", what, call->name,
               suggest(c->sema.arena, call->name, names, n));
    }
    return NULL;
  }
  if (op->tier3) {
    error_at(d, call->loc, "%s '%s' is not supported yet", what, op->name);
    return NULL;
  }
  return op;
}

/* ---- chains ---- */

static Node *new_node(Checker *c, NodeKind kind, const char *name, Loc loc) {
  Node *n = arena_alloc(c->sema.arena, sizeof *n);
  n->kind = kind;
  n->id = c->nnodes;
  n->name = name;
  n->key = name;
  n->loc = loc;
  n->task = c->task;
  VEC_PUSH(c->sema.arena, c->nodes, c->nnodes, c->capnodes, n);
  return n;
}

/* A node's own copy of its bound arguments, one per entry of op->args. */
static Bound *keep_args(Checker *c, const OpInfo *op, const Bound *args) {
  size_t n = 0;
  while (op->args[n].name)
    n++;
  Bound *copy = arena_alloc(c->sema.arena, sizeof *copy * (n + 1));
  memcpy(copy, args, sizeof *copy * n);
  return copy;
}

static Node *build_merge(Checker *c, const Call *call, const OpInfo *op, const char *block) {
  Bound args[MAX_ARGS];
  bool ok = bind_args(c, call, op, args);
  Node **inputs = arena_alloc(c->sema.arena, sizeof *inputs * (size_t)(call->nargs + 1));
  int n = 0;
  for (const Arg *arg = call->args; arg && !arg->name; arg = arg->next) {
    if (arg->value->kind != VAL_IDENT) {
      error_at(c->sema.diag, arg->value->loc, "%s: expected a node name, got %s", op->name,
               value_str(c->sema.arena, arg->value));
      ok = false;
      continue;
    }
    Node *in = resolve_node(c, arg->value->name, arg->value->loc);
    ok &= in != NULL;
    inputs[n++] = in;
  }
  if (ok && n < 2) {
    error_at(c->sema.diag, call->args_loc, "%s needs at least two inputs", op->name);
    ok = false;
  }
  if (!ok)
    return NULL;
  Node *node = new_node(c, NODE_OP, arena_printf(c->sema.arena, "%s.%s", block, op->name), call->args_loc);
  node->op = op;
  node->op_id = (OpId)(op - op_table);
  node->block = block;
  node->inputs = inputs;
  node->ninputs = n;
  node->args = keep_args(c, op, args);
  return op->rule(&c->sema, node) ? node : NULL;
}

/* The last node of the chain, or NULL if it has an error (all of them are reported). */
static Node *build_chain(Checker *c, const Chain *ch, const char *block) {
  const Call *src = ch->src_call;
  Node *cur = NULL;
  bool ok = true;
  if (src->bare) {
    cur = resolve_node(c, src->name, src->loc);
  } else {
    const OpInfo *op = find_op(src->name, ~0u);
    if (op && op->kind == KIND_MERGE) {
      cur = build_merge(c, src, op, block);
    } else if (op) {
      error_at(c->sema.diag, src->loc, "a chain starts with a node name or a merge, not the %s '%s'",
               call_kind_name(op->kind), src->name);
    } else {
      lookup_op(c, src, KIND_MERGE);
    }
  }
  ok = cur != NULL;
  int i = 0;
  for (const Layer *l = ch->layers; l; l = l->next, i++) {
    const OpInfo *op = lookup_op(c, &l->call, KIND_LAYER);
    if (!op) {
      ok = false;
      continue;
    }
    Bound args[MAX_ARGS];
    if (!bind_args(c, &l->call, op, args) || !ok) {
      ok = false;
      continue;
    }
    Node *n = new_node(c, NODE_OP, arena_printf(c->sema.arena, "%s.%d", block, i), l->call.args_loc);
    n->op = op;
    n->op_id = (OpId)(op - op_table);
    n->block = block;
    n->inputs = arena_alloc(c->sema.arena, sizeof *n->inputs);
    n->inputs[0] = cur;
    n->ninputs = 1;
    n->args = keep_args(c, op, args);
    ok = op->rule(&c->sema, n);
    cur = n;
  }
  return ok ? cur : NULL;
}

/* ---- declarations ---- */

/* A shared block or a task-local node: its chain, under the parameter prefix `block`. */
static void define_chain(Checker *c, Sym *sym, const Decl *decl, const char *block) {
  c->defining = decl->name;
  Node *n = build_chain(c, &decl->chain, block);
  c->defining = NULL;
  if (n && !n->label)
    n->label = decl->name;
  if (sym) {
    sym->defined = true;
    sym->node = n;
    sym->failed = !n;
  }
}

static bool dims_to_shape(Checker *c, const Value *dims, Loc loc, Shape *out) {
  Diag *d = c->sema.diag;
  *out = (Shape){0};
  int64_t elems = 1;
  for (const Value *v = dims; v; v = v->next) {
    if (out->rank == MAX_RANK) {
      error_at(d, v->loc, "a shape has at most %d dimensions", MAX_RANK);
      return false;
    }
    if (v->i < 1 || v->i > INT_MAX) {
      error_at(d, v->loc, "a dimension must be between 1 and %d, got %lld", INT_MAX, v->i);
      return false;
    }
    out->dim[out->rank++] = (int)v->i;
    elems *= v->i;
    if (elems > MAX_ELEMS) {
      error_at(d, loc, "this shape has more than %lld elements", MAX_ELEMS);
      return false;
    }
  }
  return true;
}

static void check_input(Checker *c, Decl *decl, Sym *sym) {
  Shape sh;
  bool ok;
  if (decl->type.kind == TYPE_INDEX) {
    error_at(c->sema.diag, decl->type.loc, "'index' inputs are not supported yet");
    ok = false;
  } else {
    ok = dims_to_shape(c, decl->type.dims, decl->type.shape_loc, &sh);
  }
  if (!sym)
    return;
  sym->defined = true;
  sym->failed = !ok;
  if (ok) {
    sym->node = new_node(c, NODE_INPUT, decl->name, decl->name_loc);
    sym->node->shape = sh;
  }
}

static void check_target(Checker *c, Decl *decl, Sym *sym) {
  Diag *d = c->sema.diag;
  const Type *t = &decl->type;
  Target tg = {.name = decl->name, .loc = decl->name_loc, .kind = t->kind, .task = c->task,
               .ignore = -100 /* PyTorch's ignore_index */};
  bool ok = dims_to_shape(c, t->dims, t->shape_loc, &tg.shape);
  if (t->kind == TYPE_CLASS) {
    if (t->n->i < 2 || t->n->i > INT_MAX) {
      error_at(d, t->n->loc, "a class target needs at least 2 classes, got %s",
               value_str(c->sema.arena, t->n));
      ok = false;
    }
    tg.classes = (int)t->n->i;
    if (t->ignore) {
      tg.has_ignore = true;
      tg.ignore = t->ignore->i;
    }
  }
  if (!sym)
    return;
  sym->defined = true;
  sym->failed = !ok;
  sym->index = c->ntargets;
  VEC_PUSH(c->sema.arena, c->targets, c->ntargets, c->captargets, tg);
}

static const char *target_type_str(Arena *a, const Target *t) {
  switch (t->kind) {
  case TYPE_CLASS:
    return arena_printf(a, "class(%d)%s", t->classes, t->shape.rank ? shape_str(a, t->shape) : "");
  case TYPE_BINARY:
    return arena_printf(a, "binary%s", shape_str(a, t->shape));
  default:
    return arena_printf(a, "f32%s", shape_str(a, t->shape));
  }
}

static bool shape_eq(Shape a, Shape b) {
  return a.rank == b.rank && !memcmp(a.dim, b.dim, sizeof(int) * (size_t)a.rank);
}

/* The output against the target, as §6 pairs them. */
static bool check_loss_shapes(Checker *c, const OpInfo *op, Loc loc, const Node *out, const Target *t) {
  Diag *d = c->sema.diag;
  Arena *a = c->sema.arena;
  const char *os = shape_str(a, out->shape), *ts = target_type_str(a, t);
  if (op - op_table == OP_CROSS_ENTROPY) {
    if (t->kind != TYPE_CLASS) {
      error_at(d, loc, "cross_entropy needs a class target, but '%s' is %s", t->name, ts);
      return false;
    }
    Shape want = {.rank = t->shape.rank + 1, .dim = {t->classes}};
    memcpy(want.dim + 1, t->shape.dim, sizeof(int) * (size_t)t->shape.rank);
    if (shape_eq(want, out->shape))
      return true;
    const char *expected = shape_str(a, want);
    want.dim[0] = out->shape.dim[0];
    if (shape_eq(want, out->shape))
      error_at(d, loc, "cross_entropy: output has %d classes but target '%s' is %s", out->shape.dim[0],
               t->name, ts);
    else
      error_at(d, loc, "cross_entropy: output is %s but target '%s' is %s; expected %s", os, t->name,
               ts, expected);
    return false;
  }
  bool want_binary = op - op_table == OP_BCE;
  if (t->kind == TYPE_CLASS || (t->kind == TYPE_BINARY && !want_binary)) {
    error_at(d, loc, "%s needs %s target, but '%s' is %s", op->name,
             want_binary ? "a binary or f32" : "an f32", t->name, ts);
    return false;
  }
  if (!shape_eq(out->shape, t->shape)) {
    error_at(d, loc, "%s: output is %s but target '%s' is %s", op->name, os, t->name, ts);
    return false;
  }
  return true;
}

/* Which metrics apply to a task: its loss and whether the target has spatial axes. */
static bool metric_applies(OpId metric, OpId loss, const Target *t) {
  bool spatial = t->kind == TYPE_CLASS && t->shape.rank > 0;
  switch (metric) {
  case OP_ACCURACY: return loss == OP_CROSS_ENTROPY || loss == OP_BCE;
  case OP_MIOU:
  case OP_PIXEL_ACCURACY: return loss == OP_CROSS_ENTROPY && spatial;
  case OP_RMSE:
  case OP_MAE: return loss == OP_MSE || loss == OP_L1 || loss == OP_HUBER;
  case OP_F1: return loss == OP_BCE;
  default: return false;
  }
}

static void check_metrics(Checker *c, Task *task, Decl *metrics_decl, const Target *t);

static void check_loss(Checker *c, Task *task, Decl *loss_decl, Decl *metrics_decl) {
  Diag *d = c->sema.diag;
  Arena *a = c->sema.arena;
  const Call *call = loss_decl->call;
  for (const Arg *arg = call->args; arg; arg = arg->next) { /* whatever follows, they are used */
    Sym *l = arg->value->kind == VAL_IDENT ? find_sym(&c->locals, arg->value->name) : NULL;
    if (l)
      l->used = true;
  }
  const OpInfo *op = lookup_op(c, call, KIND_LOSS);
  if (!op || !bind_args(c, call, op, task->loss_args)) {
    for (int i = 0; i < c->ntargets; i++) /* no "never used" on top of this error */
      c->targets[i].used |= c->targets[i].task == c->task;
    check_metrics(c, task, metrics_decl, NULL);
    return;
  }
  task->loss = (OpId)(op - op_table);
  task->loss_loc = call->args_loc;
  const Value *ov = task->loss_args[0].value, *tv = task->loss_args[1].value;
  Sym *os = find_sym(&c->model, ov->name);
  Node *out = NULL;
  if (os && os->kind == SYM_TARGET && os->defined && !os->failed)
    c->targets[os->index].used = true;
  if (os && os->kind == SYM_TARGET)
    error_at(d, ov->loc, "%s: '%s' is a target, but the first argument is the task's output: "
             "%s(output, target)", op->name, ov->name, op->name);
  else
    out = resolve_node(c, ov->name, ov->loc);
  Sym *ts = find_sym(&c->locals, tv->name);
  if (!ts)
    ts = find_sym(&c->model, tv->name);
  Target *t = NULL;
  if (!ts || ts->kind != SYM_TARGET) {
    const char *cands[64];
    int n = 0;
    for (int i = 0; i < c->ntargets && n < 64; i++)
      if (c->targets[i].task == c->task)
        cands[n++] = c->targets[i].name;
    if (ts)
      error_at(d, tv->loc, "%s: '%s' is %s %s, not a target", op->name, tv->name,
               ts->kind == SYM_INPUT ? "an" : "a", sym_kind_names[ts->kind]);
    else
      error_at(d, tv->loc, "%s: unknown target '%s'%s", op->name, tv->name, suggest(a, tv->name, cands, n));
  } else if (ts->defined && ts->failed) {
    /* reported at the target */
  } else if (ts->task != c->task) { /* ts->task: the owner, known before the target is checked */
    if (ts->defined)
      error_at(d, tv->loc, "%s: '%s' is a target of task '%s'", op->name, tv->name, c->out->tasks[ts->task].name);
    else
      error_at(d, tv->loc, "%s: '%s' is a target of a later task", op->name, tv->name);
    note_at(d, ts->loc, "'%s' is defined here", tv->name);
  } else {
    t = &c->targets[ts->index];
    t->used = true;
  }
  if (!out || !t || !check_loss_shapes(c, op, call->args_loc, out, t)) {
    check_metrics(c, task, metrics_decl, NULL);
    return;
  }
  task->output = out;
  task->target = t;
  check_metrics(c, task, metrics_decl, t);
}

/* The task's metrics; with no target (its loss had an error) only their names are checked. */
static void check_metrics(Checker *c, Task *task, Decl *metrics_decl, const Target *t) {
  Diag *d = c->sema.diag;
  Arena *a = c->sema.arena;
  if (!t && metrics_decl) {
    for (const Metric *m = metrics_decl->metrics; m; m = m->next)
      lookup_op(c, &(Call){.name = m->name, .loc = m->loc, .args_loc = m->loc}, KIND_METRIC);
    return;
  }
  if (!t)
    return;

  if (!metrics_decl) {
    static const OpId defaults[][2] = {
        [OP_CROSS_ENTROPY] = {OP_ACCURACY, OP_MIOU}, [OP_BCE] = {OP_ACCURACY, OP_COUNT},
        [OP_MSE] = {OP_RMSE, OP_COUNT}, [OP_L1] = {OP_MAE, OP_COUNT}, [OP_HUBER] = {OP_MAE, OP_COUNT},
    };
    for (int i = 0; i < 2; i++)
      if (defaults[task->loss][i] != OP_COUNT && metric_applies(defaults[task->loss][i], task->loss, t))
        task->metrics[task->nmetrics++] = op_table[defaults[task->loss][i]].name;
    return;
  }
  for (const Metric *m = metrics_decl->metrics; m; m = m->next) {
    const OpInfo *mop = lookup_op(c, &(Call){.name = m->name, .loc = m->loc, .args_loc = m->loc},
                                  KIND_METRIC);
    if (!mop)
      continue;
    bool dup = false;
    for (int i = 0; i < task->nmetrics; i++)
      dup |= !strcmp(task->metrics[i], mop->name);
    if (dup) {
      error_at(d, m->loc, "metric '%s' is listed twice", m->name);
    } else if (!metric_applies((OpId)(mop - op_table), task->loss, t)) {
      error_at(d, m->loc, "metric '%s' does not apply to %s on %s", m->name, op_table[task->loss].name,
               target_type_str(a, t));
    } else if (task->nmetrics < (int)(sizeof task->metrics / sizeof *task->metrics)) {
      task->metrics[task->nmetrics++] = mop->name;
    }
  }
}

/* The first of a kind of declaration in a scope; later ones are errors. */
static bool first_of(Checker *c, Decl **slot, Decl *decl, const char *msg) {
  if (*slot) {
    error_at(c->sema.diag, decl->loc, "%s", msg);
    note_at(c->sema.diag, (*slot)->loc, "first set here");
    return false;
  }
  *slot = decl;
  return true;
}

static void check_task(Checker *c, Decl *decl, int index) {
  Diag *d = c->sema.diag;
  Arena *a = c->sema.arena;
  Task *task = &c->out->tasks[index];
  task->name = decl->name;
  task->loc = decl->name_loc;
  task->weight = 1;
  c->task = index;
  scope_clear(&c->locals);
  for (Decl *b = decl->body; b; b = b->next)
    if (b->kind == DECL_NODE)
      declare(c, &c->locals, (Sym){.name = b->name, .kind = SYM_LOCAL, .loc = b->name_loc, .task = index,
                                   .conflicted = find_sym(&c->model, b->name) != NULL});
  Decl *loss = NULL, *metrics = NULL;
  for (Decl *b = decl->body; b; b = b->next) {
    switch (b->kind) {
    case DECL_TARGET:
      check_target(c, b, owner(c, &c->model, b));
      break;
    case DECL_NODE: {
      Sym *model_sym = find_sym(&c->model, b->name), *sym = NULL;
      if (model_sym) {
        model_sym->used = true; /* its uses in this task were meant for the local */
        error_at(d, b->name_loc, "local node '%s' shadows the %s '%s'", b->name,
                 sym_kind_names[model_sym->kind], b->name);
        note_at(d, model_sym->loc, "'%s' is defined here", b->name);
      } else {
        sym = owner(c, &c->locals, b);
      }
      define_chain(c, sym, b, arena_printf(a, "%s.%s", decl->name, b->name));
      break;
    }
    case DECL_LOSS:
      first_of(c, &loss, b, "this task already has a loss");
      break;
    case DECL_METRICS:
      first_of(c, &metrics, b, "this task already lists its metrics");
      break;
    default:
      break;
    }
  }
  if (loss) {
    check_loss(c, task, loss, metrics);
  } else {
    error_at(d, decl->name_loc, "task '%s' has no loss", decl->name);
    for (int i = 0; i < c->ntargets; i++) /* no "never used" on top of this error */
      c->targets[i].used |= c->targets[i].task == index;
  }
  for (int i = 0; i < c->locals.n; i++) {
    const Sym *l = &c->locals.items[i];
    if (!l->used && !l->failed && !l->conflicted)
      warn_later(c, l->loc, arena_printf(a, "node '%s' of task '%s' is never used", l->name, decl->name));
  }
  c->task = -1;
}

static int find_task(Checker *c, const char *name, Loc loc, const char *where) {
  Sym *sym = find_sym(&c->model, name);
  if (sym && sym->kind == SYM_TASK)
    return sym->index;
  Diag *d = c->sema.diag;
  if (sym) {
    error_at(d, loc, "%s: '%s' is %s %s, not a task", where, name, sym->kind == SYM_INPUT ? "an" : "a",
             sym_kind_names[sym->kind]);
  } else {
    const char **cands = arena_alloc(c->sema.arena, sizeof *cands * (size_t)(c->out->ntasks + 1));
    for (int i = 0; i < c->out->ntasks; i++)
      cands[i] = c->out->tasks[i].name;
    error_at(d, loc, "%s: unknown task '%s'%s", where, name,
             suggest(c->sema.arena, name, cands, c->out->ntasks));
  }
  return -1;
}

static void check_objective(Checker *c, Decl *decl) {
  Diag *d = c->sema.diag;
  Checked *out = c->out;
  Loc *mark = arena_alloc(c->sema.arena, sizeof *mark * (size_t)(out->ntasks + 1)); /* where each task is */
  int errors = d->errors;
  if (!decl) { /* the default: the plain sum of all tasks */
    out->objective = OBJ_SUM;
    return;
  }
  if (decl->call) {
    const OpInfo *op = lookup_op(c, decl->call, KIND_STRATEGY);
    if (!op || !bind_args(c, decl->call, op, out->strategy_args))
      return;
    out->objective = OBJ_STRATEGY;
    out->strategy = (OpId)(op - op_table);
    out->strategy_loc = decl->call->loc;
    for (const Arg *arg = decl->call->args; arg && !arg->name; arg = arg->next) {
      if (arg->value->kind != VAL_IDENT) {
        error_at(d, arg->value->loc, "%s: expected a task name, got %s", op->name,
                 value_str(c->sema.arena, arg->value));
        continue;
      }
      int t = find_task(c, arg->value->name, arg->value->loc, op->name);
      if (t < 0)
        continue;
      if (mark[t].first_line) {
        error_at(d, arg->value->loc, "task '%s' appears twice in the objective", arg->value->name);
        note_at(d, mark[t], "first here");
      }
      mark[t] = arg->value->loc;
    }
  } else {
    out->objective = OBJ_SUM;
    for (const Term *term = decl->terms; term; term = term->next) {
      int t = find_task(c, term->task, term->loc, "objective");
      if (t < 0)
        continue;
      if (mark[t].first_line) {
        error_at(d, term->loc, "task '%s' appears twice in the objective", term->task);
        note_at(d, mark[t], "first here");
      }
      mark[t] = term->loc;
      out->tasks[t].weight = term->has_weight ? term->weight : 1;
    }
  }
  if (d->errors > errors)
    return;
  for (int t = 0; t < out->ntasks; t++)
    if (!mark[t].first_line)
      error_at(d, decl->loc, "task '%s' is missing from the objective (weight 0 is allowed)",
               out->tasks[t].name);
}

static void check_call_setting(Checker *c, Decl *decl, CallKind kind, OpId *id, Bound *args) {
  const OpInfo *op = lookup_op(c, decl->call, kind);
  if (!op || !bind_args(c, decl->call, op, args))
    return;
  *id = (OpId)(op - op_table);
  if (*id == OP_SGD && args[2].num != 0 && args[1].num == 0)
    error_at(c->sema.diag, args[2].loc, "sgd: nesterov = true needs momentum > 0");
}

static void check_settings(Checker *c) {
  Diag *d = c->sema.diag;
  Checked *out = c->out;
  out->batch = 32;
  out->seed = 0;
  out->optimizer = OP_SGD;
  out->schedule = OP_CONSTANT;
  set_defaults(&op_table[OP_SGD], (Loc){0}, out->optimizer_args);
  out->optimizer_args[0].num = 0.01; /* the default optimizer: sgd(lr = 0.01) */
  set_defaults(&op_table[OP_CONSTANT], (Loc){0}, out->schedule_args);
  if (c->setting[DECL_OPTIMIZER])
    check_call_setting(c, c->setting[DECL_OPTIMIZER], KIND_OPTIMIZER, &out->optimizer, out->optimizer_args);
  if (c->setting[DECL_SCHEDULE])
    check_call_setting(c, c->setting[DECL_SCHEDULE], KIND_SCHEDULE, &out->schedule, out->schedule_args);
  Decl *b = c->setting[DECL_BATCH];
  if (b) {
    if (b->number->i < 1 || b->number->i > 1 << 20)
      error_at(d, b->number->loc, "batch must be between 1 and %d, got %lld", 1 << 20, b->number->i);
    out->batch = b->number->i;
    out->batch_loc = b->number->loc;
  }
  if (c->setting[DECL_SEED])
    out->seed = c->setting[DECL_SEED]->number->i;
  Decl *cn = c->setting[DECL_CLIP_NORM];
  if (cn) {
    if (!(cn->number->num > 0) || !isfinite(cn->number->num))
      error_at(d, cn->number->loc, "clip_norm must be > 0, got %s", value_str(c->sema.arena, cn->number));
    out->clip_norm = cn->number->num;
  }
}

Checked *check_model(Arena *a, Diag *d, Model *m) {
  Checker c = {.sema = {a, d}, .task = -1, .model_ast = m};
  Checked *out = c.out = arena_alloc(a, sizeof *out);
  out->name = m->name;
  out->batch_loc = m->loc;

  /* Declare every model-level name first: later uses of earlier names resolve, and uses of
   * later names get "used before its definition" rather than "unknown". */
  for (Decl *decl = m->decls; decl; decl = decl->next) {
    if (decl->kind == DECL_INPUT || decl->kind == DECL_SHARED || decl->kind == DECL_TASK) {
      SymKind kind = decl->kind == DECL_INPUT ? SYM_INPUT : decl->kind == DECL_SHARED ? SYM_SHARED : SYM_TASK;
      Sym *sym = declare(&c, &c.model, (Sym){.name = decl->name, .kind = kind,
                                                                  .loc = decl->name_loc});
      if (sym && kind == SYM_TASK)
        sym->index = out->ntasks;
    }
    if (decl->kind == DECL_TASK) {
      for (Decl *b = decl->body; b; b = b->next)
        if (b->kind == DECL_TARGET)
          declare(&c, &c.model, (Sym){.name = b->name, .kind = SYM_TARGET,
                                                          .loc = b->name_loc, .task = out->ntasks});
      out->ntasks++;
    }
  }
  out->tasks = arena_alloc(a, sizeof *out->tasks * (size_t)(out->ntasks + 1));
  if (!out->ntasks)
    error_at(d, m->loc, "model '%s' has no tasks", m->name);

  int task = 0;
  for (Decl *decl = m->decls; decl && !diag_full(d); decl = decl->next) {
    Sym *sym = decl->kind <= DECL_TASK ? owner(&c, &c.model, decl) : NULL;
    switch (decl->kind) {
    case DECL_INPUT:
      check_input(&c, decl, sym);
      break;
    case DECL_SHARED:
      define_chain(&c, sym, decl, decl->name);
      break;
    case DECL_TASK:
      if (sym)
        sym->defined = true;
      check_task(&c, decl, task++);
      break;
    default: {
      static const char *const what[] = {
          [DECL_OBJECTIVE] = "the objective is already set", [DECL_OPTIMIZER] = "the optimizer is already set",
          [DECL_SCHEDULE] = "the schedule is already set", [DECL_BATCH] = "batch is already set",
          [DECL_SEED] = "seed is already set", [DECL_CLIP_NORM] = "clip_norm is already set"};
      first_of(&c, &c.setting[decl->kind], decl, what[decl->kind]);
      break;
    }
    }
  }
  check_objective(&c, c.setting[DECL_OBJECTIVE]);
  check_settings(&c);

  for (int i = 0; i < c.model.n; i++) {
    Sym *s = &c.model.items[i];
    if (s->used || s->failed || s->conflicted)
      continue;
    if (s->kind == SYM_INPUT || s->kind == SYM_SHARED)
      warn_later(&c, s->loc, arena_printf(a, "%s '%s' is never used", sym_kind_names[s->kind], s->name));
    else if (s->kind == SYM_TARGET && s->defined && !c.targets[s->index].used)
      warn_later(&c, s->loc, arena_printf(a, "target '%s' is never used by the loss", s->name));
  }
  /* After an error, most "never used" would only echo it (the misspelt use of a name). */
  if (c.nwarnings)
    qsort(c.warnings, (size_t)c.nwarnings, sizeof *c.warnings, loc_cmp);
  for (int i = 0, clean = !d->errors; i < c.nwarnings && clean; i++) /* every one under -Werror too */
    warn_at(d, c.warnings[i].loc, "%s", c.warnings[i].msg);
  out->nodes = c.nodes;
  out->nnodes = c.nnodes;
  out->targets = c.targets;
  out->ntargets = c.ntargets;
  return d->errors ? NULL : out;
}
