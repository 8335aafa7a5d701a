/* parallel.h: libmtlrt's internal interface to its thread pool (parallel.c). */
#ifndef MTLRT_PARALLEL_H
#define MTLRT_PARALLEL_H

#include "mtlrt.h"

/* Below this much arithmetic a job runs on one thread: waking a worker costs more. */
#define MTLRT_PARALLEL_MIN_FLOPS 2e5

/* One part of a job: part p of `parts`. */
typedef void (*mtlrt_part_fn)(void *ctx, int part, int parts);

/* How many parts to split `units` independent pieces of work into, `flops` in all: the
 * thread count, fewer when there are fewer units, 1 for small jobs or inside a part. */
int mtlrt_parts(size_t units, double flops);

/* Runs fn(ctx, p, parts) for p = 0 .. parts-1, part 0 on the calling thread and part p
 * on worker p, and returns when all have finished. */
void mtlrt_parallel(mtlrt_part_fn fn, void *ctx, int parts);

/* The range [*lo, *hi) of part p of `parts` near-equal parts of [0, n), cut at multiples
 * of `unit` (the last part takes the remainder). */
static inline void mtlrt_split(size_t n, size_t unit, int p, int parts, size_t *lo, size_t *hi) {
  size_t units = (n + unit - 1) / unit;
  size_t a = units * (size_t)p / (size_t)parts, b = units * (size_t)(p + 1) / (size_t)parts;
  *lo = a * unit < n ? a * unit : n;
  *hi = b * unit < n ? b * unit : n;
}

#endif
