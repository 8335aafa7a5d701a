/* memplan.c: the static memory plan. Every buffer that is not the caller's gets an offset in
 * one of the model struct's two arenas (reals; int32 for argmax indices). A buffer is live
 * from the first to the last instruction of the train step that touches it; two buffers may
 * share memory when their live ranges do not overlap. Placement is greedy, largest first, at
 * the lowest offset that fits: simple, deterministic, and close to the peak of live bytes on
 * the chain-shaped graphs that models are. Offsets are multiples of 16 elements (64 bytes
 * for floats), so that SIMD kernels see aligned rows. */
#include "mtlc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 16

static void touch(Buf *b, int at) {
  if (!b)
    return;
  if (b->first < 0 || at < b->first)
    b->first = at;
  if (at > b->last)
    b->last = at;
}

static void touch_all(Buf **bufs, int n, int at) {
  for (int k = 0; bufs && k < n; k++)
    touch(bufs[k], at);
}

static int64_t size_of(const Program *p, const Buf *b) {
  return sat_add(sat_mul(b->per_sample, p->c->batch), b->fixed);
}

static const Program *sort_program;

static int by_size(const void *a, const void *b) {
  const Buf *x = *(Buf *const *)a, *y = *(Buf *const *)b;
  int64_t sx = size_of(sort_program, x), sy = size_of(sort_program, y);
  if (sx != sy)
    return sx > sy ? -1 : 1;
  if (x->first != y->first)
    return x->first - y->first;
  return strcmp(x->name, y->name); /* names are unique: the order, and so the plan, is total */
}

/* Places bufs[0..n) (sorted, largest first); returns the arena's size in elements. */
static int64_t place(const Program *p, Buf **bufs, int n) {
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    Buf *b = bufs[i];
    int64_t size = (size_of(p, b) + ALIGN - 1) / ALIGN * ALIGN, at = 0;
    for (bool moved = true; moved;) {
      moved = false;
      for (int j = 0; j < i; j++) {
        const Buf *o = bufs[j];
        int64_t osize = (size_of(p, o) + ALIGN - 1) / ALIGN * ALIGN;
        bool overlap_time = b->first <= o->last && o->first <= b->last;
        if (overlap_time && at < o->offset + osize && o->offset < at + size) {
          at = o->offset + osize;
          moved = true;
        }
      }
    }
    b->offset = at;
    if (at + size > total)
      total = at + size;
  }
  return total;
}

int64_t optimizer_states(const Checked *c) {
  if (c->optimizer == OP_SGD)
    return op_arg(OP_SGD, c->optimizer_args, "momentum") != 0;
  return 2;
}

static const char *bytes_text(Arena *a, int64_t bytes) {
  static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024 && u < 6)
    v /= 1024, u++;
  return u ? arena_printf(a, "%.1f %s", v, units[u]) : arena_printf(a, "%lld bytes", (long long)bytes);
}

/* What a buffer or a parameter is, for the notes of a memory error: where it comes from. */
typedef struct Use {
  const char *what;
  const Node *node;
  int64_t bytes;
  int order;         /* ties keep the program's order */
} Use;

static Use buffer_use(const Program *p, const Buf *b) {
  int64_t bytes = sat_mul(size_of(p, b), b->is_int ? 4 : p->f64 ? 8 : 4);
  for (int i = 0; i < p->c->nnodes; i++) {
    if (p->value[i] == b)
      return (Use){"the output of", p->c->nodes[i], bytes, 0};
    if (p->grad && p->grad[i] == b)
      return (Use){"the gradient of", p->c->nodes[i], bytes, 0};
  }
  for (int i = 0; i < p->nins; i++) {
    const Ins *ins = &p->ins[i];
    if (ins->node && (ins->scratch == b || ins->aux[0] == b || ins->aux[1] == b))
      return (Use){ins->scratch == b ? "the scratch of" : "what the backward pass keeps of", ins->node, bytes, 0};
  }
  return (Use){"a buffer of", NULL, bytes, 0};
}

static int by_bytes(const void *a, const void *b) {
  const Use *x = a, *y = b;
  return x->bytes != y->bytes ? (x->bytes > y->bytes ? -1 : 1) : x->order - y->order;
}

/* The error of a model over budget: the total, then the three largest buffers and parameters. */
static void over_budget(const Program *p, Diag *d, const char *why) {
  int64_t rb = p->f64 ? 8 : 4, per_param = rb * (2 + optimizer_states(p->c));
  Use *uses = arena_alloc(p->arena, sizeof *uses * (size_t)(p->nbufs + p->nslots + 1));
  int n = 0;
  for (int i = 0; i < p->nbufs; i++) {
    if (p->bufs[i]->ext || p->bufs[i]->first < 0) /* the caller's arrays; unused buffers */
      continue;
    uses[n] = buffer_use(p, p->bufs[i]);
    uses[n].order = n;
    n++;
  }
  for (int i = 0; i < p->nslots; i++) {
    if (p->slots[i].kind != SLOT_PARAM || !p->slots[i].node)
      continue;
    uses[n] = (Use){arena_printf(p->arena, "the parameter %s, its gradient and the optimizer's state, of",
                                 p->slots[i].key),
                    p->slots[i].node, sat_mul(shape_elems(p->slots[i].shape), per_param), n};
    n++;
  }
  qsort(uses, (size_t)n, sizeof *uses, by_bytes);
  error_at(d, p->c->batch_loc, "%s", why);
  for (int i = 0; i < n && i < 3; i++)
    if (uses[i].node)
      note_at(d, uses[i].node->loc, "%s %s (%s): %s", uses[i].what, uses[i].node->name,
              uses[i].node->kind == NODE_INPUT ? "input" : uses[i].node->op->name, bytes_text(p->arena, uses[i].bytes));
}

StaticMemory static_memory(const Program *p) {
  int64_t rb = p->f64 ? 8 : 4;
  StaticMemory m = {.params = sat_mul(p->nparam, rb), .state = sat_mul(p->nparam, rb * optimizer_states(p->c)),
                    .buffers = sat_add(sat_mul(p->nbuffer, rb), sat_mul(p->ncount, 8)),
                    .activations = sat_add(sat_mul(p->arena_elems, rb), sat_mul(p->iarena_elems, 4))};
  m.total = sat_add(sat_add(sat_mul(m.params, 2), m.state), sat_add(sat_mul(m.buffers, 2), m.activations));
  m.total = sat_add(m.total, sat_mul(sat_mul(objective_task_grad_elems(p), p->c->ntasks), rb));
  return m;
}

bool memplan(Program *p, Diag *d, int64_t budget) {
  for (int i = 0; i < p->nbufs; i++)
    p->bufs[i]->first = p->bufs[i]->last = -1;
  for (int i = 0; i < p->nins; i++) {
    Ins *ins = &p->ins[i];
    int nx = ins->node ? ins->node->ninputs : 0;
    unsigned saves = ins->node ? ins->node->op->gen->saves : 0;
    if (ins->fused)
      continue;
    if (ins->pool && ins->relu) /* the pooled output masks the gradient */
      saves |= SAVE_Y;
    switch (ins->kind) {
    case INS_FWD:
      touch_all(ins->x, nx, i);
      touch(ins->y, i);
      break;
    case INS_BWD:
      touch(ins->dy, i);
      touch_all(ins->dx, nx, i);
      if (saves & SAVE_X)
        touch_all(ins->x, nx, i);
      if (saves & SAVE_Y)
        touch(ins->y, i);
      break;
    case INS_LOSS:
    case INS_ACCUM:
      touch(ins->src, i);
      touch(ins->dst, i);
      break;
    case INS_COMBINE:
      touch_all(ins->reps, ins->nrep * p->c->ntasks, i);
      touch_all(ins->combined, ins->nrep, i);
      break;
    case INS_ZERO_SHARED:
    case INS_SAVE_SHARED:
      break;
    }
    touch_all(ins->aux, 2, i);
    touch(ins->scratch, i);
  }

  Buf **reals = arena_alloc(p->arena, sizeof *reals * (size_t)(p->nbufs + 1));
  Buf **ints = arena_alloc(p->arena, sizeof *ints * (size_t)(p->nbufs + 1));
  int nreal = 0, nint = 0;
  for (int i = 0; i < p->nbufs; i++) {
    Buf *b = p->bufs[i];
    if (b->ext || b->first < 0)
      continue;
    if (b->is_int)
      ints[nint++] = b;
    else
      reals[nreal++] = b;
  }
  /* Placing needs sums that do not overflow: a model whose buffers add up to more than
   * 2^62 elements is over any budget anyway. */
  int64_t all = 0;
  for (int i = 0; i < nreal + nint; i++)
    all = sat_add(all, sat_add(size_of(p, i < nreal ? reals[i] : ints[i - nreal]), ALIGN));
  if (all > INT64_MAX / 4) {
    over_budget(p, d, arena_printf(p->arena, "the model needs more than %s of static memory, over the budget of %s "
                                   "(mtlc --max-memory SIZE)", bytes_text(p->arena, INT64_MAX / 4),
                                   bytes_text(p->arena, budget)));
    return false;
  }
  sort_program = p;
  qsort(reals, (size_t)nreal, sizeof *reals, by_size);
  qsort(ints, (size_t)nint, sizeof *ints, by_size);
  p->arena_elems = place(p, reals, nreal);
  p->iarena_elems = place(p, ints, nint);

  int64_t bytes = static_memory(p).total;
  if (bytes > budget) {
    over_budget(p, d, arena_printf(p->arena, "the model needs %s of static memory, over the budget of %s (mtlc "
                                   "--max-memory SIZE)", bytes_text(p->arena, bytes), bytes_text(p->arena, budget)));
    return false;
  }
  /* The generated code names offsets with enum constants, which are ints. */
  int64_t most = p->arena_elems > p->nparam ? p->arena_elems : p->nparam;
  if (most > INT32_MAX) {
    over_budget(p, d, arena_printf(p->arena, "the model needs %lld elements in one array, more than the %d that "
                                   "the generated code can address", (long long)most, INT32_MAX));
    return false;
  }
  return true;
}
