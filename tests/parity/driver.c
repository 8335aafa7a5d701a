/* driver.c: runs a generated model for tests/parity/parity.py, through the generic
 * description every generated model exports (mtlrt_model.h), here MODEL_INFO.
 *
 *   driver DIR STEPS SEED
 *
 * init(m, SEED), then load DIR/init.safetensors (written by parity.py from the PyTorch
 * module's state_dict). For each step k in [0, STEPS): read the batch from raw
 * little-endian files DIR/k/<name>.bin, one per input and target (float32 for reals,
 * int32 for class targets; n, the number of samples of the step, comes from the sizes of
 * the files, which must agree), call set_epoch(m, k, STEPS) (every step is an epoch), run
 * train_step, then write the weights to DIR/after_k.safetensors with the model's own
 * save(), the gradients the step used (after clipping) under the parameters' keys to
 * DIR/grad_k.safetensors, and the objective, the task losses and the task weights, one
 * "%.9g" per line, objective first, to DIR/losses_k.txt. At the end run the evaluation-mode forward pass on
 * the last batch and write each task's output to DIR/out_<task>.bin (float32), and run
 * eval_batch on it and write each task's loss sum and labelled count ("%.9g %lld" per
 * line) to DIR/eval.txt.
 *
 * Exits 0 on success, 1 with a message on stderr on any failure, 2 on bad usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlrt.h"
#include "mtlrt_model.h"

extern const mtlrt_model_info MODEL_INFO;

static const mtlrt_model_info *info = &MODEL_INFO;

static void fail(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "parity driver (%s): ", info->name);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  exit(1);
}

/* Reads a whole file of `elem_bytes`-byte elements, a whole number of samples of
 * `sample_elems` elements each; returns the data (malloc'ed) and the sample count. */
static void *read_samples(const char *path, size_t elem_bytes, int64_t sample_elems, int *n) {
  FILE *f = fopen(path, "rb");
  if (!f)
    fail("cannot open %s: %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0)
    fail("cannot seek in %s: %s", path, strerror(errno));
  long size = ftell(f);
  if (size < 0 || fseek(f, 0, SEEK_SET) != 0)
    fail("cannot measure %s: %s", path, strerror(errno));
  size_t sample_bytes = elem_bytes * (size_t)sample_elems;
  if (size == 0 || (size_t)size % sample_bytes != 0) {
    char what[96];
    snprintf(what, sizeof what, "%ld bytes, not a positive multiple of %zu", size, sample_bytes);
    fail("%s has %s (one sample)", path, what);
  }
  void *data = malloc((size_t)size);
  if (!data)
    fail("out of memory reading %s%s", path, "");
  if (fread(data, 1, (size_t)size, f) != (size_t)size)
    fail("cannot read %s: %s", path, ferror(f) ? strerror(errno) : "short read");
  fclose(f);
  *n = (int)((size_t)size / sample_bytes);
  return data;
}

static void write_file(const char *path, const void *data, size_t bytes) {
  FILE *f = fopen(path, "wb");
  if (!f)
    fail("cannot create %s: %s", path, strerror(errno));
  if (fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0)
    fail("cannot write %s: %s", path, strerror(errno));
}

/* Reads one array of step directory `step_dir` into *data; checks n against *n (or sets it). */
static void read_array(const char *step_dir, const mtlrt_array_info *a, void **data, int *n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.bin", step_dir, a->name);
  int got;
  *data = read_samples(path, 4, a->elems, &got);
  if (*n == 0)
    *n = got;
  if (got != *n) {
    char what[64];
    snprintf(what, sizeof what, "%d samples, the step's first file %d", got, *n);
    fail("%s holds %s", path, what);
  }
  if (got > info->batch) {
    char what[64];
    snprintf(what, sizeof what, "%d samples, more than the batch of %d", got, info->batch);
    fail("%s holds %s", path, what);
  }
}

/* Saves grad[] under the keys of the trainable parameters. */
static void save_grads(void *m, const char *path) {
  const float *grad = info->array(m, MTLRT_ARRAY_GRAD);
  mtlrt_tensor_ref *t = calloc((size_t)info->nparams, sizeof *t);
  if (!t || !grad)
    fail("cannot reach the gradients%s%s", "", "");
  int nt = 0;
  for (int i = 0; i < info->nparams; i++) {
    const mtlrt_param_info *p = &info->params[i];
    if (p->array != MTLRT_ARRAY_PARAM)
      continue;
    t[nt].name = p->key;
    t[nt].dtype = MTLRT_DT_F32;
    t[nt].rank = p->rank;
    memcpy(t[nt].shape, p->shape, sizeof t[nt].shape);
    t[nt].data = (void *)(grad + p->offset);
    nt++;
  }
  char err[512];
  if (mtlrt_safetensors_save(path, t, nt, NULL, 0, MTLRT_DT_F32, err, sizeof err) != 0)
    fail("saving the gradients: %s%s", err, "");
  free(t);
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: %s DIR STEPS SEED [THREADS]\n", argv[0]);
    return 2;
  }
  if (argc == 5 && mtlrt_set_threads(atoi(argv[4])) != 0) {
    fprintf(stderr, "%s: cannot use %s threads\n", argv[0], argv[4]);
    return 2;
  }
  const char *dir = argv[1];
  int steps = atoi(argv[2]);
  uint64_t seed = strtoull(argv[3], NULL, 10);
  if (steps < 1) {
    fprintf(stderr, "%s: STEPS must be at least 1\n", argv[0]);
    return 2;
  }
  if (info->real_bytes != 4)
    fail("the model was generated with %s reals; the parity tests need float%s", "double", "");

  void *m = malloc(info->size);
  if (!m)
    fail("out of memory for the model struct%s%s", "", "");
  char err[512], path[4096];
  info->init(m, seed);
  snprintf(path, sizeof path, "%s/init.safetensors", dir);
  if (info->load(m, path, err, sizeof err) != 0)
    fail("load: %s%s", err, "");

  int ni = info->ninputs, nt = info->ntargets, nk = info->ntasks;
  void **inputs = calloc((size_t)ni, sizeof *inputs);
  void **targets = calloc((size_t)nt, sizeof *targets);
  double *task_loss = calloc((size_t)nk, sizeof *task_loss);
  if (!inputs || !targets || !task_loss)
    fail("out of memory%s%s", "", "");
  int n = 0;
  for (int k = 0; k < steps; k++) {
    char step_dir[4096];
    snprintf(step_dir, sizeof step_dir, "%s/%d", dir, k);
    n = 0;
    for (int i = 0; i < ni; i++) {
      free(inputs[i]);
      read_array(step_dir, &info->inputs[i], &inputs[i], &n);
    }
    for (int i = 0; i < nt; i++) {
      free(targets[i]);
      read_array(step_dir, &info->targets[i], &targets[i], &n);
    }
    info->set_epoch(m, k, steps);
    double loss = info->train_step(m, n, (const void *const *)inputs, (const void *const *)targets, task_loss);

    snprintf(path, sizeof path, "%s/after_%d.safetensors", dir, k);
    if (info->save(m, path, err, sizeof err) != 0)
      fail("save: %s%s", err, "");
    snprintf(path, sizeof path, "%s/grad_%d.safetensors", dir, k);
    save_grads(m, path);
    snprintf(path, sizeof path, "%s/losses_%d.txt", dir, k);
    FILE *f = fopen(path, "w");
    if (!f)
      fail("cannot create %s: %s", path, strerror(errno));
    fprintf(f, "%.9g\n", loss);
    for (int t = 0; t < nk; t++)
      fprintf(f, "%.9g\n", task_loss[t]);
    const float *weight = info->array(m, MTLRT_ARRAY_TASK_WEIGHT);
    for (int t = 0; t < nk; t++)
      fprintf(f, "%.9g\n", weight[t]);
    if (fclose(f) != 0)
      fail("cannot write %s: %s", path, strerror(errno));
  }

  /* The evaluation-mode forward pass on the last batch. */
  void **outputs = calloc((size_t)nk, sizeof *outputs);
  if (!outputs)
    fail("out of memory%s%s", "", "");
  for (int t = 0; t < nk; t++) {
    outputs[t] = malloc(sizeof(float) * (size_t)n * (size_t)info->tasks[t].output.elems);
    if (!outputs[t])
      fail("out of memory%s%s", "", "");
  }
  info->forward(m, n, (const void *const *)inputs, outputs);
  for (int t = 0; t < nk; t++) {
    snprintf(path, sizeof path, "%s/out_%s.bin", dir, info->tasks[t].name);
    write_file(path, outputs[t], sizeof(float) * (size_t)n * (size_t)info->tasks[t].output.elems);
    free(outputs[t]);
  }

  double *loss_sum = calloc((size_t)nk, sizeof *loss_sum);
  int64_t *count = calloc((size_t)nk, sizeof *count);
  if (!loss_sum || !count)
    fail("out of memory%s%s", "", "");
  info->eval_batch(m, n, (const void *const *)inputs, (const void *const *)targets, loss_sum, count);
  snprintf(path, sizeof path, "%s/eval.txt", dir);
  FILE *f = fopen(path, "w");
  if (!f)
    fail("cannot create %s: %s", path, strerror(errno));
  for (int t = 0; t < nk; t++)
    fprintf(f, "%.9g %lld\n", loss_sum[t], (long long)count[t]);
  if (fclose(f) != 0)
    fail("cannot write %s: %s", path, strerror(errno));
  free(loss_sum);
  free(count);
  for (int i = 0; i < ni; i++)
    free(inputs[i]);
  for (int i = 0; i < nt; i++)
    free(targets[i]);
  free(outputs);
  free(inputs);
  free(targets);
  free(task_loss);
  free(m);
  return 0;
}
