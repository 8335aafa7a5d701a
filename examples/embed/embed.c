/* embed.c: the tabular model (spec example tabular.mtl) embedded in a C program through
 * the generated API: no trainer, no files except the ones this program writes.
 *
 *   embed OUT_DIR
 *
 * makes a synthetic data set of 256 samples in memory, writes it to OUT_DIR/data/ as the
 * NPY files the generated trainer reads (x.npy, kind.npy, price.npy, fraud.npy), trains
 * the model for a few epochs with tabular_train_step(), printing the loss of each epoch,
 * saves the weights to OUT_DIR/weights.safetensors and prints a few predictions of
 * tabular_forward() on the first batch. Build:
 *
 *   mtlc tabular.mtl --no-main -o tabular.c          # also writes tabular.h
 *   cc -std=c11 -O2 -I. -I<mtlrt include dir> embed.c tabular.c -o embed \
 *      <libmtlrt.a or -L<dir> -lmtlrt> -lm -lpthread
 */
#define _POSIX_C_SOURCE 200809L /* mkdir() */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mtlrt_io.h"
#include "tabular.h"

#define N 256       /* samples */
#define FEATURES 64 /* the size of input x */
#define CLASSES 10  /* target kind : class(10) */
#define EPOCHS 15

static tabular_model model; /* about 1.8 MB: static, as the header asks */

static float x[N][FEATURES];
static int32_t kind[N];
static float price[N][1];
static float fraud[N][1]; /* binary[1]: 0 or 1 as float */

static int fail(const char *what, const char *msg) {
  fprintf(stderr, "embed: %s: %s\n", what, msg);
  return 1;
}

/* splitmix64: a small, fixed generator, so that every run makes the same data. */
static uint64_t rng_state = 0x5eed2024u;
static float uniform(void) { /* in [-1, 1) */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  z ^= z >> 31;
  return (float)(z >> 40) / (float)(1u << 23) - 1.0f;
}

/* The targets are simple functions of x that an MLP can learn: kind is the index of the
 * largest of x[0..9], price a linear combination of x[10..17], fraud whether x[20] + x[21] > 0. */
static void make_data(void) {
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < FEATURES; j++) x[i][j] = uniform();
    int best = 0;
    for (int c = 1; c < CLASSES; c++)
      if (x[i][c] > x[i][best]) best = c;
    kind[i] = best;
    float p = 0.0f;
    for (int j = 10; j < 18; j++) p += (j % 2 ? 0.5f : -0.25f) * x[i][j];
    price[i][0] = p;
    fraud[i][0] = x[i][20] + x[i][21] > 0.0f ? 1.0f : 0.0f;
  }
}

/* Writes DIR/NAME.npy with the runtime's NPY writer (atomic: nothing is left on failure). */
static int write_npy(const char *dir, const char *name, mtlrt_npy_type type, int rank,
                     const int64_t *shape, const void *data, int64_t elems) {
  char path[4096], err[512];
  if (snprintf(path, sizeof path, "%s/%s.npy", dir, name) >= (int)sizeof path)
    return fail(dir, "path too long");
  mtlrt_npy_writer w;
  if (mtlrt_npy_create(&w, path, type, rank, shape, err, sizeof err) != 0) return fail("npy", err);
  if (mtlrt_npy_append(&w, data, elems, err, sizeof err) != 0) {
    mtlrt_npy_abort(&w);
    return fail("npy", err);
  }
  if (mtlrt_npy_commit(&w, err, sizeof err) != 0) return fail("npy", err);
  return 0;
}

static int make_dir(const char *path) {
  if (mkdir(path, 0777) != 0 && errno != EEXIST) return fail(path, strerror(errno));
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const char *out = argv[1];
  char data_dir[4096], weights[4096], err[512];
  if (snprintf(data_dir, sizeof data_dir, "%s/data", out) >= (int)sizeof data_dir ||
      snprintf(weights, sizeof weights, "%s/weights.safetensors", out) >= (int)sizeof weights)
    return fail(out, "path too long");

  /* 1. The data set, in memory and as NPY files named after the inputs and targets. */
  make_data();
  const int64_t shape_x[2] = {N, FEATURES}, shape_kind[1] = {N}, shape_1[2] = {N, 1};
  if (make_dir(out) || make_dir(data_dir) ||
      write_npy(data_dir, "x", MTLRT_NPY_F4, 2, shape_x, x, (int64_t)N * FEATURES) ||
      write_npy(data_dir, "kind", MTLRT_NPY_I4, 1, shape_kind, kind, N) ||
      write_npy(data_dir, "price", MTLRT_NPY_F4, 2, shape_1, price, N) ||
      write_npy(data_dir, "fraud", MTLRT_NPY_F4, 2, shape_1, fraud, N))
    return 1;
  printf("wrote %d samples to %s\n", N, data_dir);

  /* 2. Training: batches of up to TABULAR_BATCH samples in order, EPOCHS times. */
  tabular_init(&model, 42);
  for (int epoch = 0; epoch < EPOCHS; epoch++) {
    tabular_set_epoch(&model, epoch, EPOCHS);
    double sum = 0, task_sum[TABULAR_TASKS] = {0};
    int batches = 0;
    for (int start = 0; start < N; start += TABULAR_BATCH, batches++) {
      int n = N - start < TABULAR_BATCH ? N - start : TABULAR_BATCH;
      float task_loss[TABULAR_TASKS];
      float loss = tabular_train_step(&model, n, x[start], &kind[start], price[start],
                                      fraud[start], task_loss);
      if (!isfinite(loss)) return fail("training", "the loss is not finite");
      sum += loss;
      for (int t = 0; t < TABULAR_TASKS; t++) task_sum[t] += task_loss[t];
    }
    printf("epoch %2d/%d loss %.6f (classify %.4f, regress %.4f, detect %.4f)\n", epoch + 1,
           EPOCHS, sum / batches, task_sum[0] / batches, task_sum[1] / batches,
           task_sum[2] / batches);
  }

  /* 3. The checkpoint: safetensors with PyTorch's state_dict keys. */
  if (tabular_save(&model, weights, err, sizeof err) != 0) return fail("save", err);
  printf("saved %s\n", weights);

  /* 4. Predictions on the first batch, in evaluation mode. */
  static float logits[TABULAR_BATCH][CLASSES], price_out[TABULAR_BATCH][1],
      fraud_out[TABULAR_BATCH][1];
  tabular_forward(&model, TABULAR_BATCH, x[0], logits[0], price_out[0], fraud_out[0]);
  int correct = 0;
  for (int i = 0; i < TABULAR_BATCH; i++) {
    int best = 0;
    for (int c = 1; c < CLASSES; c++)
      if (logits[i][c] > logits[i][best]) best = c;
    correct += best == kind[i];
    if (i < 4)
      printf("sample %d: kind %d -> %d, price %+.3f -> %+.3f, fraud %.0f -> p=%.3f\n", i,
             (int)kind[i], best, price[i][0], price_out[i][0], fraud[i][0],
             1.0 / (1.0 + exp(-fraud_out[i][0])));
  }
  printf("first batch: %d/%d classes right\n", correct, TABULAR_BATCH);
  return 0;
}
