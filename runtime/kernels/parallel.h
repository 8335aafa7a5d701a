/* parallel.h: libmtlrt's internal interface to its thread pool (parallel.c). */
#ifndef MTLRT_PARALLEL_H
#define MTLRT_PARALLEL_H

#include "mtlrt.h"

#include <stdatomic.h>
#include <stdint.h>

/* Below this much arithmetic a job runs on one thread: a worker costs more, mostly in
 * moving the job's data between the cores' caches (measured on the tabular model, whose
 * 256x256 dense layers at batch 32 run slower on 2 threads than on 1). */
#define MTLRT_PARALLEL_MIN_FLOPS 8e6
/* What one element of a memory-bound kernel (elementwise, pooling, optimizer) weighs
 * against a FLOP of gemm in that decision. */
#define MTLRT_MEMORY_BOUND 8.0
/* The same for one element of a reduction over data that earlier kernels left in the
 * shared cache or in the other cores' (conv's channel sums and chunk partials): about
 * 0.5 ns each on one thread (seed_cifar's), some 64 FLOPs of gemm. */
#define MTLRT_STREAMED 64.0

/* One part of a job: part p of `parts`. */
typedef void (*mtlrt_part_fn)(void *ctx, int part, int parts);

/* How many parts to split `units` independent pieces of work into, `flops` in all: the
 * thread count, fewer when there are fewer units, 1 for small jobs or inside a part. */
int mtlrt_parts(size_t units, double flops);

/* Runs fn(ctx, p, parts) for p = 0 .. parts-1, part 0 on the calling thread and part p
 * on worker p, and returns when all have finished. */
void mtlrt_parallel(mtlrt_part_fn fn, void *ctx, int parts);

/* The calling thread's slot in [0, MTLRT_MAX_THREADS): one of its own among the threads
 * alive that have run kernels (pool workers and callers alike), for the kernels' buffers,
 * which are static arrays of MTLRT_MAX_THREADS sets indexed by it. Thread-local buffers
 * would cost every thread their full size: a thread zeroes, so touches, all its
 * thread-local storage when it starts, whereas a static set's pages are touched only when
 * its thread uses them. More than MTLRT_MAX_THREADS threads running kernels at once abort. */
int mtlrt_thread_slot(void);

/* The range [*lo, *hi) of part p of `parts` near-equal parts of [0, n), cut at multiples
 * of `unit` (the last part takes the remainder). */
static inline void mtlrt_split(size_t n, size_t unit, int p, int parts, size_t *lo, size_t *hi) {
  size_t units = (n + unit - 1) / unit;
  size_t a = units * (size_t)p / (size_t)parts, b = units * (size_t)(p + 1) / (size_t)parts;
  *lo = a * unit < n ? a * unit : n;
  *hi = b * unit < n ? b * unit : n;
}

/* Runs fn(ctx, lo, hi) over pieces that cover [0, n), cut at multiples of `unit`, for work
 * whose pieces are independent: `flops` in all decides how many parts (mtlrt_parts). Each
 * part has a range of some pieces, as mtlrt_units hands them out, so that a part that runs
 * faster takes over the last pieces of a slower one. */
typedef void (*mtlrt_range_fn)(void *ctx, size_t lo, size_t hi);
void mtlrt_parallel_range(mtlrt_range_fn fn, void *ctx, size_t n, size_t unit, double flops);

/* The units [0, n) of a job, cut into mtlrt_split's ranges, one per part, which each part
 * takes from the front (mtlrt_unit); a part whose range is done then takes units from the
 * back of another's. So a part that runs faster does more, and a slower core (one the
 * host shares) holds the others up less, while each part still works mostly on the
 * samples it had in the step before (its caches). Only for units that each write their
 * own outputs, computed the same whichever part takes them: the results keep their bits
 * for every thread count. */
typedef struct {
  _Atomic uint64_t left[MTLRT_MAX_THREADS]; /* part p's units not yet taken: [low half, high half); n < 2^32 */
  int parts;
} mtlrt_units;

/* mtlrt_parallel(fn, ctx, ...) over n units that *u (which ctx points to) hands out, in as
 * many parts as mtlrt_parts(n, flops). */
void mtlrt_parallel_units(mtlrt_part_fn fn, void *ctx, mtlrt_units *u, size_t n, double flops);

/* The same in `parts` parts whose own ranges are given: part p's is [start[p], start[p + 1]). */
void mtlrt_parallel_units_from(mtlrt_part_fn fn, void *ctx, mtlrt_units *u, const size_t *start, int parts);

/* The next unit for part `part`, into *unit; 0 when none is left. */
static inline int mtlrt_unit(mtlrt_units *u, int part, size_t *unit) {
  for (int k = 0; k < u->parts; k++) {
    int p = (part + k) % u->parts;
    uint64_t left = atomic_load_explicit(&u->left[p], memory_order_relaxed);
    for (;;) {
      uint64_t lo = left & 0xffffffffu, hi = left >> 32;
      if (lo >= hi)
        break;
      uint64_t taken = k == 0 ? (lo + 1) | hi << 32 : lo | (hi - 1) << 32; /* own: the front; another's: the back */
      if (atomic_compare_exchange_weak_explicit(&u->left[p], &left, taken, memory_order_relaxed, memory_order_relaxed)) {
        *unit = (size_t)(k == 0 ? lo : hi - 1);
        return 1;
      }
    }
  }
  return 0;
}

#endif
