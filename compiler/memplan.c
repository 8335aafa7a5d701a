/* memplan.c: the static memory plan. Every buffer that is not the caller's gets an offset in
 * one of the model struct's two arenas (reals; int32 for argmax indices). A buffer is live
 * from the first to the last instruction of the train step that touches it; two buffers may
 * share memory when their live ranges do not overlap. Placement is greedy, largest first, at
 * the lowest offset that fits: simple, deterministic, and close to the peak of live bytes on
 * the chain-shaped graphs that models are. Offsets are multiples of 16 elements (64 bytes
 * for floats), so that SIMD kernels see aligned rows. */
#include "mtlc.h"

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
  return b->per_sample * p->c->batch + b->fixed;
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

void memplan(Program *p) {
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
  sort_program = p;
  qsort(reals, (size_t)nreal, sizeof *reals, by_size);
  qsort(ints, (size_t)nint, sizeof *ints, by_size);
  p->arena_elems = place(p, reals, nreal);
  p->iarena_elems = place(p, ints, nint);
}
