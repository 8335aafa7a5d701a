/* parallel.c: the thread pool behind every multi-threaded kernel.
 *
 * mtlrt_set_threads(n) starts n - 1 workers (once; they live until the process ends). A
 * kernel hands mtlrt_parallel() a function and the number of parts of its work; part 0
 * runs on the calling thread and part i on worker i. Every worker acknowledges every job,
 * even one with fewer parts, so that the next job is published only when no worker still
 * reads the last one. Kernels split their work so that every output element is computed by
 * one part, in a fixed order whichever part it is (mtlrt_split(), mtlrt_units), which makes
 * results identical for every thread count, not only run to run.
 *
 * Workers wait for the next job by spinning for a while (kernels come in quick
 * succession during a training step), then sleep on a condition variable.
 */
#include "parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SPINS 20000     /* polls before a waiting worker sleeps: some 100 µs */
#define MAIN_SPINS 4000 /* polls before the caller, waiting for workers, yields its core */
#define RANGE_PIECES 8  /* the pieces of each part of mtlrt_parallel_range, for others to take over */

static struct {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int threads;          /* the parts a job may use: mtlrt_set_threads() */
  int started;          /* workers running: 1 .. started */
  atomic_uint job;      /* bumped to publish a job */
  atomic_int pending;   /* workers that have not yet finished the current job */
  atomic_int sleepers;  /* workers waiting on wake */
  mtlrt_part_fn fn;
  void *ctx;
  int parts;
  unsigned first_job[MTLRT_MAX_THREADS]; /* the job count when worker i was started */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 1, 0, 0, 0, 0, NULL, NULL, 1, {0}};

/* Set on a thread while it runs a part: a job started from inside a part runs inline. */
static _Thread_local int in_part;
/* Buffer slots. A thread takes the lowest free slot when it first asks for one and gives
 * it back when it exits (the key's destructor); the number is cached in `slot`, 1-based. */
static struct {
  pthread_mutex_t lock;
  pthread_once_t once;
  pthread_key_t key;
  int used[MTLRT_MAX_THREADS];
} slots = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_ONCE_INIT, 0, {0}};
static _Thread_local int slot;

static void slot_release(void *taken) {
  pthread_mutex_lock(&slots.lock);
  slots.used[(intptr_t)taken - 1] = 0;
  pthread_mutex_unlock(&slots.lock);
}

static void slot_init(void) {
  if (pthread_key_create(&slots.key, slot_release) != 0) {
    fputs("libmtlrt: cannot create the key of the kernels' buffer slots\n", stderr);
    abort();
  }
}

int mtlrt_thread_slot(void) {
  if (slot)
    return slot - 1;
  pthread_once(&slots.once, slot_init);
  pthread_mutex_lock(&slots.lock);
  int s = 0;
  while (s < MTLRT_MAX_THREADS && slots.used[s])
    s++;
  if (s < MTLRT_MAX_THREADS)
    slots.used[s] = 1;
  pthread_mutex_unlock(&slots.lock);
  if (s == MTLRT_MAX_THREADS) {
    fprintf(stderr, "libmtlrt: more than %d threads are running kernels at once\n", MTLRT_MAX_THREADS);
    abort();
  }
  pthread_setspecific(slots.key, (void *)(intptr_t)(s + 1));
  slot = s + 1;
  return s;
}

static void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static void *worker(void *arg) {
  int self = (int)(intptr_t)arg;
  unsigned seen = pool.first_job[self]; /* a job published before this thread ran is its own */
  in_part = 1;
  for (;;) {
    unsigned now;
    int spins = 0;
    while ((now = atomic_load(&pool.job)) == seen) {
      if (++spins < SPINS) {
        relax();
        continue;
      }
      pthread_mutex_lock(&pool.lock);
      atomic_fetch_add(&pool.sleepers, 1);
      while ((now = atomic_load(&pool.job)) == seen)
        pthread_cond_wait(&pool.wake, &pool.lock);
      atomic_fetch_sub(&pool.sleepers, 1);
      pthread_mutex_unlock(&pool.lock);
      break;
    }
    seen = now;
    if (self < pool.parts) /* every worker acknowledges every job, so none falls behind */
      pool.fn(pool.ctx, self, pool.parts);
    atomic_fetch_sub(&pool.pending, 1);
  }
  return NULL;
}

int mtlrt_set_threads(int n) {
  if (n < 1 || n > MTLRT_MAX_THREADS)
    return -1;
  while (pool.started < n - 1) {
    pthread_t id;
    pool.first_job[pool.started + 1] = atomic_load(&pool.job);
    if (pthread_create(&id, NULL, worker, (void *)(intptr_t)(pool.started + 1)) != 0)
      return -1;
    pthread_detach(id);
    pool.started++;
  }
  pool.threads = n;
  return 0;
}

int mtlrt_threads(void) { return pool.threads; }

int mtlrt_parts(size_t units, double flops) {
  if (in_part || flops < MTLRT_PARALLEL_MIN_FLOPS)
    return 1;
  return units < (size_t)pool.threads ? (int)(units ? units : 1) : pool.threads;
}

void mtlrt_parallel(mtlrt_part_fn fn, void *ctx, int parts) {
  if (parts <= 1 || in_part) {
    for (int p = 0; p < parts; p++)
      fn(ctx, p, parts);
    return;
  }
  pool.fn = fn, pool.ctx = ctx, pool.parts = parts;
  atomic_store(&pool.pending, pool.started);
  atomic_fetch_add(&pool.job, 1);
  if (atomic_load(&pool.sleepers) > 0) {
    pthread_mutex_lock(&pool.lock);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
  }
  in_part = 1;
  fn(ctx, 0, parts);
  in_part = 0;
  for (int spins = 0; atomic_load(&pool.pending) > 0; spins++)
    if (spins < MAIN_SPINS)
      relax();
    else /* a worker lost its core: let it have ours */
      sched_yield();
}

typedef struct {
  mtlrt_range_fn fn;
  void *ctx;
  size_t n, piece;
  mtlrt_units units;
} range_job;

static void range_part(void *ctx, int part, int parts) {
  range_job *r = ctx;
  (void)parts; /* the units' */
  for (size_t u; mtlrt_unit(&r->units, part, &u);) {
    size_t lo = u * r->piece, hi = r->n - lo < r->piece ? r->n : lo + r->piece;
    r->fn(r->ctx, lo, hi);
  }
}

void mtlrt_parallel_range(mtlrt_range_fn fn, void *ctx, size_t n, size_t unit, double flops) {
  size_t units = (n + unit - 1) / unit;
  int parts = mtlrt_parts(units, flops);
  if (parts <= 1) {
    if (n > 0)
      fn(ctx, 0, n);
    return;
  }
  size_t per_piece = (units + (size_t)parts * RANGE_PIECES - 1) / ((size_t)parts * RANGE_PIECES);
  range_job r = {.fn = fn, .ctx = ctx, .n = n, .piece = per_piece * unit};
  mtlrt_parallel_units(range_part, &r, &r.units, (n + r.piece - 1) / r.piece, flops);
}

void mtlrt_parallel_units_from(mtlrt_part_fn fn, void *ctx, mtlrt_units *u, const size_t *start, int parts) {
  u->parts = parts;
  for (int p = 0; p < parts; p++)
    atomic_init(&u->left[p], (uint64_t)start[p] | (uint64_t)start[p + 1] << 32);
  mtlrt_parallel(fn, ctx, parts);
}

void mtlrt_parallel_units(mtlrt_part_fn fn, void *ctx, mtlrt_units *u, size_t n, double flops) {
  int parts = mtlrt_parts(n, flops);
  size_t start[MTLRT_MAX_THREADS + 1], hi;
  for (int p = 0; p < parts; p++)
    mtlrt_split(n, 1, p, parts, &start[p], &hi);
  start[parts] = n;
  mtlrt_parallel_units_from(fn, ctx, u, start, parts);
}
