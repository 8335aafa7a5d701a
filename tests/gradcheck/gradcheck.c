/* gradcheck.c: checks the backward pass that mtlc generated for a model (built with
 * --real double) against central finite differences of the objective.
 *
 * Usage: gradcheck [MAX_PER_TENSOR]
 *
 * It initialises the model, moves every parameter a little away from its initial value
 * (so that batchnorm and layernorm weights are not all 1 and log-variances not all 0),
 * draws a batch of n = batch - 1 samples (at least 1; a partial batch, like the last one
 * of an epoch) with random inputs and targets, and compares the generated gradient of
 * every trainable parameter (up to MAX_PER_TENSOR entries per tensor, spread over it)
 * with the fourth-order central difference
 *   (L(p - 2h) - 8 L(p - h) + 8 L(p + h) - L(p + 2h)) / 12h,   h = 1e-4,
 * whose truncation error (h^4) and rounding error (1e-16 / h) both stay far below the
 * tolerance, where the two-point formula's cannot both be. The error of an entry is |analytic - numeric| /
 * max(|analytic|, |numeric|, 1e-4); every one must stay below 1e-6. Prints the worst
 * error per tensor; exits 1 on any failure.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlrt_model.h"

extern const mtlrt_model_info MODEL_INFO;

#define TOLERANCE 1e-6
#define STEP 1e-4

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static double uniform(void) { /* xorshift64*: [0, 1) */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (double)((rng * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0;
}

/* A target: class ids, 0/1 for bce, reals otherwise. */
static void *draw_target(const mtlrt_model_info *info, int t, int n) {
  const mtlrt_array_info *a = &info->targets[t];
  const char *loss = NULL;
  for (int k = 0; k < info->ntasks; k++)
    if (info->tasks[k].target == t)
      loss = info->tasks[k].loss;
  size_t count = (size_t)n * (size_t)a->elems;
  if (a->is_class) {
    int32_t *ids = malloc(count * sizeof *ids);
    for (size_t i = 0; i < count; i++)
      ids[i] = (int32_t)(uniform() * a->classes);
    return ids;
  }
  double *v = malloc(count * sizeof *v);
  for (size_t i = 0; i < count; i++)
    v[i] = loss && !strcmp(loss, "bce") ? (double)(uniform() < 0.5) : 2 * uniform() - 1;
  return v;
}

int main(int argc, char **argv) {
  const mtlrt_model_info *info = &MODEL_INFO;
  int max_per_tensor = argc > 1 ? atoi(argv[1]) : 64;
  if (info->real_bytes != 8) {
    fprintf(stderr, "gradcheck: %s was generated with float; regenerate it with --real double\n", info->name);
    return 2;
  }
  void *m = calloc(1, info->size);
  const void **inputs = calloc((size_t)info->ninputs, sizeof *inputs);
  const void **targets = calloc((size_t)info->ntargets, sizeof *targets);
  double *task_loss = calloc((size_t)info->ntasks, sizeof *task_loss);
  double *analytic = calloc((size_t)info->param_elems, sizeof *analytic);
  if (!m || !inputs || !targets || !task_loss || !analytic)
    return 2;
  int n = info->batch > 1 ? info->batch - 1 : 1;

  info->init(m, 7);
  double *p = info->array(m, MTLRT_ARRAY_PARAM), *g = info->array(m, MTLRT_ARRAY_GRAD);
  for (int64_t i = 0; i < info->param_elems; i++)
    p[i] += 0.2 * (2 * uniform() - 1);
  for (int i = 0; i < info->ninputs; i++) {
    size_t count = (size_t)n * (size_t)info->inputs[i].elems;
    double *x = malloc(count * sizeof *x);
    for (size_t k = 0; k < count; k++)
      x[k] = 2 * uniform() - 1;
    inputs[i] = x;
  }
  for (int t = 0; t < info->ntargets; t++)
    targets[t] = draw_target(info, t, n);

  info->grad(m, n, inputs, targets, task_loss);
  memcpy(analytic, g, sizeof *analytic * (size_t)info->param_elems);

  double worst = 0;
  int failures = 0;
  for (int k = 0; k < info->nparams; k++) {
    const mtlrt_param_info *pi = &info->params[k];
    if (pi->array != MTLRT_ARRAY_PARAM)
      continue;
    int64_t stride = pi->elems > max_per_tensor ? pi->elems / max_per_tensor : 1;
    double tensor_worst = 0;
    for (int64_t e = 0; e < pi->elems; e += stride) {
      double *q = &p[pi->offset + e], saved = *q, at[4];
      static const double offsets[4] = {-2, -1, 1, 2};
      for (int s = 0; s < 4; s++) {
        *q = saved + offsets[s] * STEP;
        at[s] = info->grad(m, n, inputs, targets, task_loss);
      }
      *q = saved;
      double numeric = (at[0] - 8 * at[1] + 8 * at[2] - at[3]) / (12 * STEP), exact = analytic[pi->offset + e];
      double scale = fmax(fmax(fabs(exact), fabs(numeric)), 1e-4);
      double err = fabs(exact - numeric) / scale;
      if (!(err <= TOLERANCE)) {
        if (failures++ < 10)
          fprintf(stderr, "gradcheck: %s[%lld]: generated %.12g, finite differences %.12g\n", pi->key,
                  (long long)e, exact, numeric);
      }
      tensor_worst = fmax(tensor_worst, err);
    }
    printf("%-32s %8lld values  worst error %.2e%s\n", pi->key, (long long)pi->elems, tensor_worst,
           tensor_worst <= TOLERANCE ? "" : "  FAIL");
    worst = fmax(worst, tensor_worst);
  }
  printf("%s: n = %d, worst error %.2e (tolerance %.0e)\n", info->name, n, worst, TOLERANCE);
  for (int i = 0; i < info->ninputs; i++)
    free((void *)inputs[i]);
  for (int t = 0; t < info->ntargets; t++)
    free((void *)targets[t]);
  free(inputs);
  free(targets);
  free(task_loss);
  free(analytic);
  free(m);
  return failures ? 1 : 0;
}
