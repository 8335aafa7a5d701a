/* trainer.c: the command line of every generated model (spec §10): `train`, `eval`,
 * `predict` and `info`. It maps the NPY data files (validated in full before the first
 * step), draws each epoch's order from a keyed permutation of [0, N), gathers batches into
 * the caller's static arrays, runs the model through its mtlrt_model_info, shows progress,
 * evaluates per task, and writes logs, plots and checkpoints atomically. Everything lives in
 * fixed tables: the trainer allocates nothing. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "mtlrt_io.h"
#include "mtlrt_train.h"

#define MAX_ARRAYS 64      /* inputs and targets of a model */
#define MAX_TASKS 32
#define MAX_TENSORS 4096   /* tensors of a checkpoint */
#define MAX_HISTORY 1000   /* epochs kept for the plot */
#define MAX_CURVES (MAX_TASKS * 10)
#define MAX_BATCH (1 << 20)
#define PATH 4096

/* ---- messages ---- */

static const char *prog = "model";

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: error: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: error: ", prog);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(run '%s %s --help' for usage)\n", prog, cmd);
  va_end(ap);
  return 2;
}

/* ---- options ---- */

typedef struct Options {
  const char *cmd;
  const char *train, *val, *data, *out;       /* directories */
  const char *init, *save, *checkpoint, *resume, *load, *log, *plot;
  const char *only;                           /* train: the one task to learn */
  long epochs, steps, threads;
  double lr;                                  /* NaN: the model's */
  long long seed;
  bool has_seed, no_shuffle, quiet, json, probs;
  bool on_nan, skip_nan;                      /* --on-nan given; its value is skip */
} Options;

static const char *const train_help =
    "usage: %s train --train DIR [--val DIR] [--epochs N] [--lr X] [--seed N] [--threads N]\n"
    "              [--init FILE] [--save FILE] [--checkpoint FILE] [--resume FILE]\n"
    "              [--log FILE.csv] [--plot FILE.svg] [--steps N] [--no-shuffle] [--quiet]\n"
    "              [--only TASK] [--on-nan stop|skip]\n"
    "\n"
    "Trains the model on DIR/<name>.npy for every input and target, N samples each.\n"
    "  --val DIR          evaluate on DIR after every epoch (loss and metrics per task)\n"
    "  --epochs N         passes over the data (default 1)\n"
    "  --lr X             the optimizer's learning rate (default: the model's)\n"
    "  --seed N           initialisation, shuffling and dropout (default: the model's seed)\n"
    "  --threads N        threads (default 1); the results are the same for every N\n"
    "  --init FILE        start from these weights (safetensors)\n"
    "  --save FILE        write the weights when training ends (safetensors)\n"
    "  --checkpoint FILE  write the full training state after every epoch\n"
    "  --resume FILE      continue from such a checkpoint\n"
    "  --log FILE.csv     one row per epoch: losses, task weights, validation metrics\n"
    "  --plot FILE.svg    a picture of those curves, redrawn after every epoch\n"
    "  --steps N          stop after N optimizer steps\n"
    "  --no-shuffle       keep the file order\n"
    "  --quiet            one line per epoch, no progress bar\n"
    "  --only TASK        the single-task baseline: the other tasks' labels count as missing\n"
    "  --on-nan stop|skip a NaN or an infinity in a loss or a gradient stops training there,\n"
    "                     naming the task, the step and the first layer where it appeared\n"
    "                     (stop, the default; nothing is saved after the last checkpoint), or\n"
    "                     skips that batch, leaving the model as it was before it (skip)\n";
static const char *const eval_help =
    "usage: %s eval --data DIR --load FILE [--json] [--threads N]\n"
    "\n"
    "Evaluates the weights in FILE on DIR: each task's loss (its mean over every labelled\n"
    "element) and metrics, and the objective at those losses.\n";
static const char *const predict_help =
    "usage: %s predict --data DIR --load FILE --out DIR [--probs] [--threads N]\n"
    "\n"
    "Writes OUT/<task>.npy with each task's output for the inputs in DIR: logits, or\n"
    "probabilities with --probs (softmax over the classes, sigmoid for bce).\n";
static const char *const info_help =
    "usage: %s info [--json]\n"
    "\n"
    "Prints every node with its shape, parameters and FLOPs per sample, the totals, and the\n"
    "static memory.\n";
static const char *const main_help =
    "usage: %s COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  train     train the model\n"
    "  eval      evaluate saved weights on a data set\n"
    "  predict   write the model's outputs for a data set\n"
    "  info      describe the model\n"
    "\n"
    "Run '%s COMMAND --help' for the options of a command.\n";

static bool parse_long(const char *s, long lo, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo)
    return false;
  *out = v;
  return true;
}

/* Parses the options of o->cmd; returns -1 to go on, else an exit status. */
static int parse_options(int argc, char **argv, Options *o) {
  static const char *const value_opts[] = {"--train", "--val", "--data", "--out", "--init", "--save",
                                           "--checkpoint", "--resume", "--load", "--log", "--plot",
                                           "--epochs", "--steps", "--threads", "--lr", "--seed", "--only",
                                           "--on-nan"};
  const char *help = !strcmp(o->cmd, "train") ? train_help : !strcmp(o->cmd, "eval") ? eval_help
                     : !strcmp(o->cmd, "predict") ? predict_help : info_help;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      printf(help, prog);
      return 0;
    }
    bool takes = false;
    for (size_t k = 0; k < sizeof value_opts / sizeof *value_opts; k++)
      takes |= !strcmp(a, value_opts[k]);
    if (takes) {
      if (i + 1 >= argc)
        return usage_error(o->cmd, "%s needs a value", a);
      v = argv[++i];
    }
    bool ok = true;
    if (!strcmp(a, "--train")) o->train = v;
    else if (!strcmp(a, "--val")) o->val = v;
    else if (!strcmp(a, "--data")) o->data = v;
    else if (!strcmp(a, "--out")) o->out = v;
    else if (!strcmp(a, "--init")) o->init = v;
    else if (!strcmp(a, "--save")) o->save = v;
    else if (!strcmp(a, "--checkpoint")) o->checkpoint = v;
    else if (!strcmp(a, "--resume")) o->resume = v;
    else if (!strcmp(a, "--load")) o->load = v;
    else if (!strcmp(a, "--log")) o->log = v;
    else if (!strcmp(a, "--plot")) o->plot = v;
    else if (!strcmp(a, "--only")) o->only = v;
    else if (!strcmp(a, "--on-nan")) {
      ok = !strcmp(v, "stop") || !strcmp(v, "skip");
      o->skip_nan = !strcmp(v, "skip");
      o->on_nan = true;
    }
    else if (!strcmp(a, "--epochs")) ok = parse_long(v, 1, &o->epochs);
    else if (!strcmp(a, "--steps")) ok = parse_long(v, 1, &o->steps);
    else if (!strcmp(a, "--threads")) ok = parse_long(v, 1, &o->threads) && o->threads <= MTLRT_MAX_THREADS;
    else if (!strcmp(a, "--seed")) {
      long s;
      ok = parse_long(v, 0, &s);
      o->seed = s;
      o->has_seed = true;
    } else if (!strcmp(a, "--lr")) {
      char *end;
      o->lr = strtod(v, &end);
      ok = *v && !*end && o->lr > 0 && isfinite(o->lr);
    } else if (!strcmp(a, "--no-shuffle")) o->no_shuffle = true;
    else if (!strcmp(a, "--quiet")) o->quiet = true;
    else if (!strcmp(a, "--json")) o->json = true;
    else if (!strcmp(a, "--probs")) o->probs = true;
    else
      return usage_error(o->cmd, "unknown option '%s' for '%s'", a, o->cmd);
    if (!ok)
      return usage_error(o->cmd, "invalid value '%s' for %s", v, a);
  }
  /* Each command's options: anything else given is a mistake worth saying. */
  const char *allowed = !strcmp(o->cmd, "train") ? "train val epochs lr seed threads init save checkpoint resume log plot steps shuffle quiet only on-nan"
                        : !strcmp(o->cmd, "eval") ? "data load json threads"
                        : !strcmp(o->cmd, "predict") ? "data load out probs threads" : "json";
  struct { const char *name; bool given; } given[] = {
      {"train", o->train}, {"val", o->val}, {"data", o->data}, {"out", o->out}, {"init", o->init},
      {"save", o->save}, {"checkpoint", o->checkpoint}, {"resume", o->resume}, {"load", o->load},
      {"log", o->log}, {"plot", o->plot}, {"epochs", o->epochs != 1}, {"steps", o->steps > 0},
      {"threads", o->threads != 1}, {"lr", !isnan(o->lr)}, {"seed", o->has_seed},
      {"shuffle", o->no_shuffle}, {"quiet", o->quiet}, {"json", o->json}, {"probs", o->probs},
      {"only", o->only}, {"on-nan", o->on_nan}};
  for (size_t k = 0; k < sizeof given / sizeof *given; k++)
    if (given[k].given && !strstr(allowed, given[k].name))
      return usage_error(o->cmd, "'%s' does not take --%s%s", o->cmd,
                         !strcmp(given[k].name, "shuffle") ? "no-" : "", given[k].name);
  if (!strcmp(o->cmd, "train") && !o->train)
    return usage_error(o->cmd, "train needs --train DIR");
  if ((!strcmp(o->cmd, "eval") || !strcmp(o->cmd, "predict")) && (!o->data || !o->load))
    return usage_error(o->cmd, "%s needs --data DIR and --load FILE", o->cmd);
  if (!strcmp(o->cmd, "predict") && !o->out)
    return usage_error(o->cmd, "predict needs --out DIR");
  if (o->init && o->resume)
    return usage_error(o->cmd, "--init and --resume cannot be combined: a checkpoint has its own weights");
  return -1;
}

/* ---- data sets ---- */

typedef struct Dataset {
  const char *dir;
  int64_t n;                    /* samples */
  mtlrt_npy inputs[MAX_ARRAYS];
  mtlrt_npy targets[MAX_ARRAYS];
  bool with_targets;
} Dataset;

static void close_dataset(const mtlrt_model_info *info, Dataset *d) {
  for (int i = 0; i < info->ninputs; i++)
    mtlrt_npy_close(&d->inputs[i]);
  for (int i = 0; d->with_targets && i < info->ntargets; i++)
    mtlrt_npy_close(&d->targets[i]);
}

static const char *shape_text(char *buf, size_t len, int rank, const int64_t *dims, bool batch) {
  size_t at = (size_t)snprintf(buf, len, "[%s", batch ? "N" : "");
  for (int i = 0; i < rank && at < len; i++)
    at += (size_t)snprintf(buf + at, len - at, "%s%" PRId64, i || batch ? ", " : "", dims[i]);
  if (at < len)
    snprintf(buf + at, len - at, "]");
  return buf;
}

/* One data file: its type among `types` (a bit set over mtlrt_npy_type), its shape
 * [N, per-sample...], the same N as the files before it. */
static int open_array(Dataset *d, const mtlrt_array_info *a, const char *what, unsigned types, mtlrt_npy *out,
                      const char *first) {
  char path[PATH], err[512];
  snprintf(path, sizeof path, "%s/%s.npy", d->dir, a->name);
  if (mtlrt_npy_open(path, out, err, sizeof err))
    return fail("%s", err);
  if (!(types & 1u << out->type)) {
    const char *allowed = types == (1u << MTLRT_NPY_F4 | 1u << MTLRT_NPY_F8) ? "<f4 or <f8"
                          : types & 1u << MTLRT_NPY_I4 ? "|u1, <i4 or <i8" : "|u1, <f4 or <f8";
    return fail("%s: dtype %s, but the %s '%s' needs %s", path, mtlrt_npy_type_name(out->type), what, a->name,
                allowed);
  }
  bool ok = out->rank == a->rank + 1;
  for (int k = 0; ok && k < a->rank; k++)
    ok = out->shape[k + 1] == a->shape[k];
  if (!ok) {
    char want[160], got[160];
    int64_t dims[MTLRT_MAX_RANK];
    for (int k = 0; k < a->rank; k++)
      dims[k] = a->shape[k];
    return fail("%s: shape %s, but the %s '%s' needs %s", path, shape_text(got, sizeof got, out->rank, out->shape, false),
                what, a->name, shape_text(want, sizeof want, a->rank, dims, true));
  }
  if (first && out->shape[0] != d->n)
    return fail("%s has %" PRId64 " samples, but %s has %" PRId64, path, out->shape[0], first, d->n);
  d->n = out->shape[0];
  if (d->n == 0)
    return fail("%s holds no sample", path);
  return 0;
}

/* Class ids must be in [0, classes) or the ignore value; binary targets 0, 1 or NaN. */
static int check_target_values(const Dataset *d, const mtlrt_array_info *a, const mtlrt_npy *npy, int real_bytes,
                               void *scratch, int64_t scratch_elems) {
  int64_t rows_per = scratch_elems / a->elems, rows[4096];
  if (rows_per > 4096)
    rows_per = 4096;
  for (int64_t r0 = 0; r0 < d->n; r0 += rows_per) {
    int n = (int)(d->n - r0 < rows_per ? d->n - r0 : rows_per);
    for (int i = 0; i < n; i++)
      rows[i] = r0 + i;
    if (a->is_class) {
      int32_t *ids = scratch;
      mtlrt_npy_gather_i32(npy, rows, n, a->elems, ids);
      for (int64_t e = 0; e < n * a->elems; e++)
        if ((ids[e] < 0 || ids[e] >= a->classes) && ids[e] != a->ignore)
          return fail("%s/%s.npy: element %" PRId64 " is %" PRId32 ", outside class(%d) (ids 0 to %d, or the ignore "
                      "value %" PRId64 ")", d->dir, a->name, r0 * a->elems + e, ids[e], a->classes, a->classes - 1,
                      a->ignore);
    } else if (a->is_binary) {
      if (real_bytes == 8)
        mtlrt_npy_gather_f64(npy, rows, n, a->elems, 1, scratch);
      else
        mtlrt_npy_gather_f32(npy, rows, n, a->elems, 1, scratch);
      for (int64_t e = 0; e < n * a->elems; e++) {
        double v = real_bytes == 8 ? ((double *)scratch)[e] : ((float *)scratch)[e];
        if (!(v == 0 || v == 1 || isnan(v)))
          return fail("%s/%s.npy: element %" PRId64 " is %g; a binary target holds 0, 1 or NaN (missing)", d->dir,
                      a->name, r0 * a->elems + e, v);
      }
    }
  }
  return 0;
}

/* Opens and checks every file of a data set before anything is trained on it. */
static int open_dataset(const mtlrt_model_info *info, const char *dir, bool with_targets, Dataset *d,
                        void *const *targets) {
  memset(d, 0, sizeof *d);
  d->dir = dir;
  d->with_targets = with_targets;
  const unsigned reals = 1u << MTLRT_NPY_F4 | 1u << MTLRT_NPY_F8;
  const unsigned ids = 1u << MTLRT_NPY_U1 | 1u << MTLRT_NPY_I4 | 1u << MTLRT_NPY_I8;
  char first[PATH] = "";
  for (int i = 0; i < info->ninputs; i++) {
    if (open_array(d, &info->inputs[i], "input", reals | 1u << MTLRT_NPY_U1, &d->inputs[i], *first ? first : NULL))
      return 1;
    if (!*first)
      snprintf(first, sizeof first, "%s/%s.npy", dir, info->inputs[i].name);
  }
  for (int i = 0; with_targets && i < info->ntargets; i++) {
    const mtlrt_array_info *a = &info->targets[i];
    unsigned types = a->is_class ? ids : a->is_binary ? reals | 1u << MTLRT_NPY_U1 : reals;
    if (open_array(d, a, "target", types, &d->targets[i], *first ? first : NULL))
      return 1;
    /* the batch array of the target is scratch until training starts */
    if (check_target_values(d, a, &d->targets[i], info->real_bytes, targets[i], (int64_t)info->batch * a->elems))
      return 1;
  }
  return 0;
}

/* Fills the batch arrays with rows[0..n) of the data set. */
static void gather(const mtlrt_model_info *info, const Dataset *d, const int64_t *rows, int n, void *const *inputs,
                   void *const *targets) {
  for (int i = 0; i < info->ninputs; i++) {
    const mtlrt_npy *a = &d->inputs[i];
    double scale = a->type == MTLRT_NPY_U1 ? 1.0 / 255 : 1;
    if (info->real_bytes == 8)
      mtlrt_npy_gather_f64(a, rows, n, info->inputs[i].elems, scale, inputs[i]);
    else
      mtlrt_npy_gather_f32(a, rows, n, info->inputs[i].elems, (float)scale, inputs[i]);
  }
  for (int i = 0; d->with_targets && i < info->ntargets; i++) {
    const mtlrt_array_info *t = &info->targets[i];
    if (t->is_class)
      mtlrt_npy_gather_i32(&d->targets[i], rows, n, t->elems, targets[i]);
    else if (info->real_bytes == 8)
      mtlrt_npy_gather_f64(&d->targets[i], rows, n, t->elems, 1, targets[i]);
    else
      mtlrt_npy_gather_f32(&d->targets[i], rows, n, t->elems, 1, targets[i]);
  }
}

/* --only TASK: every other task's labels in the batch become missing (spec §6: the class
 * target's ignore id, NaN for the others), so that the objective leaves those tasks out. */
static void keep_only(const mtlrt_model_info *info, int only, int n, void *const *targets) {
  for (int t = 0; t < info->ntasks; t++) {
    int i = info->tasks[t].target;
    const mtlrt_array_info *a = &info->targets[i];
    if (t == only)
      continue;
    for (int64_t k = 0; k < (int64_t)n * a->elems; k++) {
      if (a->is_class)
        ((int32_t *)targets[i])[k] = (int32_t)a->ignore;
      else if (info->real_bytes == 8)
        ((double *)targets[i])[k] = NAN;
      else
        ((float *)targets[i])[k] = NAN;
    }
  }
}

/* ---- the order of an epoch: a keyed permutation of [0, n) ----
 * A four-round Feistel network over the smallest even number of bits that holds n, walked
 * until it lands in [0, n) (cycle walking): a bijection, so every sample is seen once per
 * epoch, computed per position with no table. */

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

typedef struct Order {
  int64_t n;
  int half;           /* bits per Feistel half */
  uint64_t key[4];
  bool identity;
} Order;

static Order epoch_order(int64_t n, uint64_t seed, long epoch, bool identity) {
  Order o = {.n = n, .identity = identity};
  int bits = 2;
  while (bits < 62 && (UINT64_C(1) << bits) < (uint64_t)n)
    bits += 2;
  o.half = bits / 2;
  for (int r = 0; r < 4; r++)
    o.key[r] = mix(seed * UINT64_C(0x9e3779b97f4a7c15) + mix((uint64_t)epoch * 4 + (uint64_t)r + 1));
  return o;
}

static int64_t order_at(const Order *o, int64_t i) {
  if (o->identity)
    return i;
  uint64_t mask = (UINT64_C(1) << o->half) - 1, x = (uint64_t)i;
  do {
    uint64_t l = x >> o->half, r = x & mask;
    for (int k = 0; k < 4; k++) {
      uint64_t t = l ^ (mix(r ^ o->key[k]) & mask);
      l = r;
      r = t;
    }
    x = l << o->half | r;
  } while (x >= (uint64_t)o->n);
  return (int64_t)x;
}

/* ---- weights and checkpoints ---- */

static mtlrt_tensor_ref tensors[MAX_TENSORS];
static char state_keys[MAX_TENSORS][300];

static mtlrt_train_state *state_of(void *model) { return model; }

/* The tensors of a checkpoint: the weights of spec §5, then optimizer.<key>.<state> for every
 * trainable parameter and the objective's state. Returns how many, or -1 when there are too
 * many. */
static int checkpoint_tensors(const mtlrt_model_info *info, void *model, bool with_state) {
  int n = 0;
  mtlrt_dtype real = info->real_bytes == 8 ? MTLRT_DT_F64 : MTLRT_DT_F32;
  for (int s = -1; s < (with_state ? info->nstates : 0); s++)
    for (int i = 0; i < info->nparams; i++) {
      const mtlrt_param_info *p = &info->params[i];
      if (s >= 0 && p->array != MTLRT_ARRAY_PARAM)
        continue;
      if (n == MAX_TENSORS)
        return -1;
      mtlrt_tensor_ref *t = &tensors[n];
      mtlrt_array array = s >= 0 ? (mtlrt_array)(MTLRT_ARRAY_STATE + s) : p->array;
      unsigned char *base = info->array(model, array);
      size_t elem = array == MTLRT_ARRAY_COUNT ? sizeof(int64_t) : (size_t)info->real_bytes;
      t->name = p->key;
      if (s >= 0) {
        snprintf(state_keys[n], sizeof state_keys[n], "optimizer.%s.%s", p->key, info->state_names[s]);
        t->name = state_keys[n];
      }
      t->dtype = array == MTLRT_ARRAY_COUNT ? MTLRT_DT_I64 : real;
      t->rank = p->rank;
      memcpy(t->shape, p->shape, sizeof t->shape);
      t->data = base + (size_t)p->offset * elem;
      n++;
    }
  if (with_state && info->objective_elems > 0) { /* the strategy's state, as "objective.state" */
    if (n == MAX_TENSORS)
      return -1;
    tensors[n] = (mtlrt_tensor_ref){.name = "objective.state", .dtype = real, .rank = 1,
                                    .shape = {info->objective_elems},
                                    .data = info->array(model, MTLRT_ARRAY_OBJECTIVE)};
    n++;
  }
  return n;
}

static int save_checkpoint(const mtlrt_model_info *info, void *model, const char *path, long epoch) {
  char err[512];
  int n = checkpoint_tensors(info, model, true);
  const mtlrt_train_state *st = state_of(model);
  mtlrt_meta meta[7] = {{"format", "pt"}, {"model", ""}, {"epoch", ""}, {"step", ""}, {"seed", ""}, {"lr", ""},
                       {"layout", ""}};
  snprintf(meta[1].value, sizeof meta[1].value, "%s", info->name);
  snprintf(meta[6].value, sizeof meta[6].value, "%s", info->layout);
  snprintf(meta[2].value, sizeof meta[2].value, "%ld", epoch);
  snprintf(meta[3].value, sizeof meta[3].value, "%ld", st->step);
  snprintf(meta[4].value, sizeof meta[4].value, "%" PRIu64, st->seed);
  snprintf(meta[5].value, sizeof meta[5].value, "%.17g", st->base_lr);
  if (n < 0)
    return fail("%s: the model has more than %d tensors to checkpoint", path, MAX_TENSORS);
  if (mtlrt_safetensors_save(path, tensors, n, meta, 7, info->real_bytes == 8 ? MTLRT_DT_F64 : MTLRT_DT_F32, err, sizeof err))
    return fail("%s", err);
  return 0;
}

/* Restores a checkpoint; *epoch is the number of epochs it had completed. */
static int resume_checkpoint(const mtlrt_model_info *info, void *model, const char *path, long *epoch) {
  char err[512];
  int n = checkpoint_tensors(info, model, true);
  mtlrt_meta meta[5] = {{"model", ""}, {"epoch", ""}, {"step", ""}, {"seed", ""}, {"lr", ""}};
  if (n < 0)
    return fail("%s: the model has more than %d tensors to checkpoint", path, MAX_TENSORS);
  if (mtlrt_safetensors_check_model(path, info->name, info->layout, err, sizeof err) ||
      mtlrt_safetensors_load(path, tensors, n, meta, 5, err, sizeof err))
    return fail("%s", err);
  mtlrt_train_state *st = state_of(model);
  char *end;
  *epoch = strtol(meta[1].value, &end, 10);
  st->step = strtol(meta[2].value, &end, 10);
  st->seed = strtoull(meta[3].value, &end, 10);
  st->base_lr = strtod(meta[4].value, &end);
  if (strcmp(meta[0].value, info->name) || !*meta[1].value || !*meta[2].value || !*meta[3].value || !*meta[4].value)
    return fail("%s: not a checkpoint of the model '%s' (its metadata lacks model, epoch, step, seed or lr)", path,
                info->name);
  return 0;
}

static int load_weights(const mtlrt_model_info *info, void *model, const char *path) {
  char err[512];
  if (info->load(model, path, err, sizeof err))
    return fail("%s", err);
  return 0;
}

/* ---- progress ---- */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void duration(char *buf, size_t len, double s) {
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

typedef struct Progress {
  bool bar;                     /* a terminal: redraw one line */
  double start, last_draw;
  long epoch, epochs, batches;
} Progress;

static void task_losses(const mtlrt_model_info *info, const void *model, const double *loss, FILE *f) {
  for (int t = 0; t < info->ntasks; t++)
    fprintf(f, "  %s %.4f (w %.3g)", info->tasks[t].name, loss[t], mtlrt_task_weight(info, model, t));
}

static void draw(const mtlrt_model_info *info, const void *model, Progress *p, long done, int64_t samples,
                 double loss, const double *tl, bool final) {
  double t = now(), elapsed = t - p->start;
  if (!final && (!p->bar || t - p->last_draw < 0.1))
    return;
  p->last_draw = t;
  char eta[32], took[32];
  duration(eta, sizeof eta, done ? elapsed / (double)done * (double)(p->batches - done) : 0);
  duration(took, sizeof took, elapsed);
  int width = 24, fill = (int)(width * done / (p->batches ? p->batches : 1));
  if (p->bar)
    fputs("\r\033[K", stderr);
  fprintf(stderr, "epoch %ld/%ld %ld/%ld [", p->epoch + 1, p->epochs, done, p->batches);
  for (int i = 0; i < width; i++)
    fputc(i < fill ? '=' : i == fill ? '>' : ' ', stderr);
  fprintf(stderr, "] %s %s %.0f samples/s  loss %.4f", final ? took : eta, final ? "" : "ETA",
          elapsed > 0 ? (double)samples / elapsed : 0, loss);
  task_losses(info, model, tl, stderr);
  if (final)
    fputc('\n', stderr);
  fflush(stderr);
}

/* ---- evaluation ---- */

static mtlrt_task_eval evals[MAX_TASKS];
static int64_t rows[MAX_BATCH];

static int evaluate(const mtlrt_model_info *info, void *model, const Dataset *d, void *const *inputs,
                    void *const *targets, void *const *outputs) {
  if (mtlrt_eval_begin(info, evals))
    return fail("the model has more than %d classes and labels to evaluate", MTLRT_MAX_COUNTERS);
  for (int64_t b = 0; b < d->n; b += info->batch) {
    int n = (int)(d->n - b < info->batch ? d->n - b : info->batch);
    for (int i = 0; i < n; i++)
      rows[i] = b + i;
    gather(info, d, rows, n, inputs, targets);
    info->forward(model, n, (const void *const *)inputs, outputs);
    mtlrt_eval_batch(info, n, (const void *const *)outputs, (const void *const *)targets, evals);
  }
  return 0;
}

static void print_eval(const mtlrt_model_info *info, FILE *f, const char *lead) {
  fputs(lead, f);
  for (int t = 0; t < info->ntasks; t++) {
    const mtlrt_task_info *task = &info->tasks[t];
    fprintf(f, "%s%s: loss %.4f", t ? " | " : "", task->name, mtlrt_eval_loss(&evals[t]));
    for (int k = 0; k < task->nmetrics; k++)
      fprintf(f, " %s %.4f", task->metrics[k], mtlrt_eval_metric(&evals[t], task->metrics[k]));
  }
  fputc('\n', f);
}

/* A JSON number; NaN and infinities (no labels) become null. */
static void json_number(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.9g", v);
  else
    fputs("null", f);
}

/* ---- history: the CSV log and the plot ---- */

static double history[MAX_CURVES][MAX_HISTORY];
static char curve_labels[MAX_CURVES][160];
static mtlrt_curve curves[MAX_CURVES];

typedef struct Log {
  FILE *csv;
  int ncurves;
} Log;

static int open_log(const mtlrt_model_info *info, const Options *o, Log *log, bool append) {
  memset(log, 0, sizeof *log);
  for (int i = 0; i < MAX_CURVES; i++)
    for (int e = 0; e < MAX_HISTORY; e++)
      history[i][e] = NAN;
  /* Curves: each task's training loss, its validation loss, then its validation metrics. */
  int c = 0;
  for (int t = 0; t < info->ntasks; t++) {
    const mtlrt_task_info *task = &info->tasks[t];
    snprintf(curve_labels[c], sizeof curve_labels[c], "%s loss", task->name);
    curves[c] = (mtlrt_curve){curve_labels[c], history[c], 0, 0};
    c++;
    snprintf(curve_labels[c], sizeof curve_labels[c], "val %s loss", task->name);
    curves[c] = (mtlrt_curve){curve_labels[c], history[c], 0, 1};
    c++;
    for (int k = 0; k < task->nmetrics; k++, c++) {
      snprintf(curve_labels[c], sizeof curve_labels[c], "val %s %s", task->name, task->metrics[k]);
      curves[c] = (mtlrt_curve){curve_labels[c], history[c], 1, 1};
    }
  }
  log->ncurves = c;
  if (!o->log)
    return 0;
  bool exists = append && access(o->log, F_OK) == 0;
  log->csv = fopen(o->log, exists ? "a" : "w");
  if (!log->csv)
    return fail("%s: cannot write the log: %s", o->log, strerror(errno));
  if (exists)
    return 0;
  fputs("epoch,step,loss", log->csv);
  for (int t = 0; t < info->ntasks; t++)
    fprintf(log->csv, ",%s_loss", info->tasks[t].name);
  for (int t = 0; t < info->ntasks; t++)
    fprintf(log->csv, ",%s_weight", info->tasks[t].name);
  for (int t = 0; t < info->ntasks; t++)
    for (int k = 0; k < info->tasks[t].nmetrics; k++)
      fprintf(log->csv, ",val_%s_%s", info->tasks[t].name, info->tasks[t].metrics[k]);
  fputc('\n', log->csv);
  fflush(log->csv);
  return 0;
}

static void csv_number(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, ",%.9g", v);
  else
    fputs(",", f);
}

static int log_epoch(const mtlrt_model_info *info, const void *model, const Options *o, Log *log, long epoch,
                     long step, double loss, const double *tl, bool validated) {
  int c = 0;
  for (int t = 0; t < info->ntasks; t++) {
    const mtlrt_task_info *task = &info->tasks[t];
    if (epoch < MAX_HISTORY) {
      history[c][epoch] = tl[t];
      history[c + 1][epoch] = validated ? mtlrt_eval_loss(&evals[t]) : NAN;
      for (int k = 0; k < task->nmetrics; k++)
        history[c + 2 + k][epoch] = validated ? mtlrt_eval_metric(&evals[t], task->metrics[k]) : NAN;
    }
    c += 2 + task->nmetrics;
  }
  if (log->csv) {
    fprintf(log->csv, "%ld,%ld", epoch + 1, step);
    csv_number(log->csv, loss);
    for (int t = 0; t < info->ntasks; t++)
      csv_number(log->csv, tl[t]);
    for (int t = 0; t < info->ntasks; t++)
      csv_number(log->csv, mtlrt_task_weight(info, model, t));
    for (int t = 0; t < info->ntasks; t++)
      for (int k = 0; k < info->tasks[t].nmetrics; k++)
        csv_number(log->csv, validated ? mtlrt_eval_metric(&evals[t], info->tasks[t].metrics[k]) : NAN);
    fputc('\n', log->csv);
    if (fflush(log->csv))
      return fail("%s: cannot write the log: %s", o->log, strerror(errno));
  }
  if (o->plot) {
    char err[512], title[200];
    snprintf(title, sizeof title, "%s: training history", info->name);
    int epochs = (int)(epoch + 1 < MAX_HISTORY ? epoch + 1 : MAX_HISTORY);
    if (mtlrt_plot_svg(o->plot, title, epochs, curves, log->ncurves, err, sizeof err))
      return fail("%s", err);
  }
  return 0;
}

/* ---- what the trainer never overwrites ---- */

/* An output file of a command: --save, --checkpoint, --log, --plot, predict's OUT/<task>.npy. */
typedef struct Output {
  const char *what;  /* "--save", ... */
  const char *path;  /* NULL: not asked for */
  bool weights;      /* it may replace the weights the run started from (--init, --resume) */
} Output;

static bool same_file(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Refuses outputs that would replace a data file of the run (through any name: a link or
 * another spelling of the path), the weights it reads (except a checkpoint or the weights
 * being continued), or one another. */
static int check_outputs(const mtlrt_model_info *info, const Output *out, int nout, const Dataset *const *sets,
                         int nsets, const char *const *weights, int nweights) {
  char data[PATH];
  for (int k = 0; k < nout; k++) {
    const Output *a = &out[k];
    if (!a->path)
      continue;
    for (int j = 0; j < k; j++)
      if (out[j].path && (!strcmp(out[j].path, a->path) || same_file(out[j].path, a->path)))
        return fail("%s %s and %s %s are the same file", out[j].what, out[j].path, a->what, a->path);
    for (int d = 0; d < nsets; d++)
      for (int i = 0; i < info->ninputs + (sets[d]->with_targets ? info->ntargets : 0); i++) {
        const char *name = i < info->ninputs ? info->inputs[i].name : info->targets[i - info->ninputs].name;
        snprintf(data, sizeof data, "%s/%s.npy", sets[d]->dir, name);
        if (same_file(a->path, data))
          return fail("%s %s is the data file %s: the trainer never overwrites its input", a->what, a->path, data);
      }
    for (int w = 0; !a->weights && w < nweights; w++)
      if (weights[w] && same_file(a->path, weights[w]))
        return fail("%s %s is the weights file %s that this run reads", a->what, a->path, weights[w]);
  }
  return 0;
}

/* ---- steps with a NaN or an infinity (--on-nan) ---- */

#define MAX_NAN_REPORTS 10 /* --on-nan skip: the skipped steps described in full */

/* Whether the n reals of the model's real type at x are all finite. */
static bool all_finite(const mtlrt_model_info *info, size_t n, const void *x) {
  return info->real_bytes == 8 ? mtlrt_all_finite_f64(n, x) : mtlrt_all_finite_f32(n, x);
}

static bool step_finite(const mtlrt_model_info *info, void *model, double loss, const double *tl) {
  bool ok = isfinite(loss);
  for (int t = 0; t < info->ntasks; t++)
    ok &= isfinite(tl[t]);
  return ok && all_finite(info, (size_t)info->param_elems, info->array(model, MTLRT_ARRAY_GRAD));
}

static void describe_node(const mtlrt_model_info *info, int node) {
  const mtlrt_node_info *nd = &info->nodes[node];
  fprintf(stderr, "node '%s' (%s, line %d, %s%s%s)", nd->name, nd->op, nd->line, nd->task < 0 ? "shared" : "task '",
          nd->task < 0 ? "" : info->tasks[nd->task].name, nd->task < 0 ? "" : "'");
}

/* Says where the step's first NaN or infinity appeared: the tasks whose loss it reached, and
 * the first layer (or input sample) that held one, found by running the step again under a
 * probe. The step is left as grad() left it. */
static void report_nonfinite(const mtlrt_model_info *info, void *model, const Dataset *d, int n, void *const *inputs,
                             void *const *targets, const double *tl, long epoch, long batch, bool skip) {
  mtlrt_fault f = {0};
  bool found = info->probe(model, n, (const void *const *)inputs, (const void *const *)targets, &f);
  fprintf(stderr, "%s: %s: step %ld (epoch %ld, batch %ld): a NaN or an infinity", prog, skip ? "warning" : "error",
          state_of(model)->step + 1, epoch + 1, batch + 1);
  int bad = 0;
  for (int t = 0; t < info->ntasks; t++)
    if (!isfinite(tl[t]))
      fprintf(stderr, "%s task '%s' (loss %s)", bad++ ? "," : " in", info->tasks[t].name,
              isnan(tl[t]) ? "nan" : tl[t] > 0 ? "inf" : "-inf");
  fprintf(stderr, "%s\n  it first appeared ", bad ? "" : " in the gradients; every task's loss is finite");
  const mtlrt_node_info *nd = found && f.node >= 0 ? &info->nodes[f.node] : NULL;
  if (!found) {
    fprintf(stderr, "nowhere when the step was run again: the computation is not deterministic\n");
  } else if (f.phase == MTLRT_FAULT_FORWARD && !strcmp(nd->op, "input")) {
    for (int i = 0; i < info->ninputs; i++) {
      if (strcmp(info->inputs[i].name, nd->name))
        continue;
      size_t elems = (size_t)info->inputs[i].elems, bytes = elems * (size_t)info->real_bytes;
      int s = 0;
      while (s + 1 < n && all_finite(info, elems, (const char *)inputs[i] + (size_t)s * bytes))
        s++;
      fprintf(stderr, "in the data: the input '%s' of sample %" PRId64 " of %s/%s.npy\n", nd->name, rows[s], d->dir,
              nd->name);
    }
  } else if (f.phase == MTLRT_FAULT_FORWARD || f.phase == MTLRT_FAULT_BACKWARD) {
    fprintf(stderr, "in the %s of ",
            f.phase == MTLRT_FAULT_FORWARD ? "forward pass, in the output" : "backward pass, in the gradients");
    describe_node(info, f.node);
    fputc('\n', stderr);
  } else if (f.phase == MTLRT_FAULT_LOSS) {
    fprintf(stderr, "in the loss of task '%s' (%s), computed from finite outputs of ", info->tasks[nd->task].name,
            info->tasks[nd->task].loss);
    describe_node(info, f.node);
    fputc('\n', stderr);
  } else {
    fprintf(stderr, "in the objective (%s), from finite task losses and gradients\n", info->objective);
  }
}

/* ---- commands ---- */

static double task_sums[MAX_TASKS], task_loss[MAX_TASKS];

static int train(const mtlrt_model_info *info, void *model, const Options *o, void *const *inputs,
                 void *const *targets, void *const *outputs) {
  static Dataset train_set, val_set;
  uint64_t seed = o->has_seed ? (uint64_t)o->seed : info->seed;
  info->init(model, seed);
  mtlrt_train_state *st = state_of(model);
  long first_epoch = 0;
  int rc = 0;
  if ((o->init && load_weights(info, model, o->init)) || (o->resume && resume_checkpoint(info, model, o->resume, &first_epoch)))
    return 1;
  if (o->resume)
    seed = st->seed;
  if (!isnan(o->lr))
    st->base_lr = o->lr;
  if (first_epoch >= o->epochs)
    return fail("%s has already completed %ld epochs; ask for more with --epochs", o->resume, first_epoch);
  int only = -1;
  for (int t = 0; o->only && t < info->ntasks; t++)
    if (!strcmp(info->tasks[t].name, o->only))
      only = t;
  if (o->only && only < 0) {
    char names[512] = "";
    for (int t = 0; t < info->ntasks; t++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", t ? ", " : "", info->tasks[t].name);
    return usage_error("train", "--only %s: the model has no such task (its tasks: %s)", o->only, names);
  }
  if (open_dataset(info, o->train, true, &train_set, targets))
    return 1;
  if (o->val && open_dataset(info, o->val, true, &val_set, targets)) {
    close_dataset(info, &train_set);
    return 1;
  }
  const Output outputs_of_train[] = {{"--save", o->save, true}, {"--checkpoint", o->checkpoint, true},
                                     {"--log", o->log, false}, {"--plot", o->plot, false}};
  const Dataset *const sets[] = {&train_set, &val_set};
  const char *const weights[] = {o->init, o->resume};
  Log log = {0};
  if (check_outputs(info, outputs_of_train, 4, sets, o->val ? 2 : 1, weights, 2)) {
    rc = 1;
    goto done;
  }
  if (open_log(info, o, &log, o->resume != NULL)) {
    rc = 1;
    goto done;
  }
  long skipped = 0;        /* --on-nan skip: batches skipped so far */
  char last_saved[PATH + 64]; /* for --on-nan stop's message */
  snprintf(last_saved, sizeof last_saved, "%s%s", o->resume ? "nothing saved since resuming from " : "nothing saved",
           o->resume ? o->resume : "");
  Progress p = {.bar = !o->quiet && isatty(STDERR_FILENO), .epochs = o->epochs,
                .batches = (long)((train_set.n + info->batch - 1) / info->batch)};
  bool stop = false;
  for (long epoch = first_epoch; epoch < o->epochs && !stop; epoch++) {
    info->set_epoch(model, (int)epoch, (int)o->epochs);
    Order order = epoch_order(train_set.n, seed, epoch, o->no_shuffle);
    p.epoch = epoch;
    p.start = now();
    p.last_draw = 0;
    double loss_sum = 0;
    int64_t seen = 0;
    memset(task_sums, 0, sizeof task_sums);
    long done = 0, skipped_epoch = 0;
    for (int64_t b = 0; b < train_set.n && !stop; b += info->batch, done++) {
      int n = (int)(train_set.n - b < info->batch ? train_set.n - b : info->batch);
      for (int i = 0; i < n; i++)
        rows[i] = order_at(&order, b + i);
      gather(info, &train_set, rows, n, inputs, targets);
      if (only >= 0)
        keep_only(info, only, n, targets);
      double loss = info->grad(model, n, (const void *const *)inputs, (const void *const *)targets, task_loss);
      if (!step_finite(info, model, loss, task_loss)) {
        if (!o->skip_nan || skipped < MAX_NAN_REPORTS)
          report_nonfinite(info, model, &train_set, n, inputs, targets, task_loss, epoch, done, o->skip_nan);
        if (!o->skip_nan) {
          fprintf(stderr, "  training stopped, %s (--on-nan skip would skip such batches)\n", last_saved);
          rc = 1;
          goto stopped;
        }
        info->rollback(model);
        skipped++;
        skipped_epoch++;
        continue;
      }
      info->apply(model, task_loss);
      loss_sum += loss * n;
      for (int t = 0; t < info->ntasks; t++)
        task_sums[t] += task_loss[t] * n;
      seen += n;
      for (int t = 0; t < info->ntasks; t++)
        task_loss[t] = task_sums[t] / (double)seen;
      draw(info, model, &p, done + 1, seen, loss_sum / (double)seen, task_loss, false);
      stop = o->steps > 0 && st->step >= o->steps;
    }
    p.batches = done; /* --steps may end the epoch early */
    draw(info, model, &p, done, seen, loss_sum / (double)seen, task_loss, true);
    if (skipped_epoch)
      fprintf(stderr, "  skipped %ld batch%s with a NaN or an infinity\n", skipped_epoch, skipped_epoch == 1 ? "" : "es");
    p.batches = (long)((train_set.n + info->batch - 1) / info->batch);
    if (o->val) {
      if (evaluate(info, model, &val_set, inputs, targets, outputs)) {
        rc = 1;
        break;
      }
      print_eval(info, stderr, "  val  ");
    }
    if (log_epoch(info, model, o, &log, epoch, st->step, loss_sum / (double)seen, task_loss, o->val != NULL) ||
        (o->checkpoint && save_checkpoint(info, model, o->checkpoint, epoch + 1))) {
      rc = 1;
      break;
    }
    if (o->checkpoint)
      snprintf(last_saved, sizeof last_saved, "the last state saved is %s, of epoch %ld", o->checkpoint, epoch + 1);
  }
  if (rc == 0 && o->save) {
    char err[512];
    if (info->save(model, o->save, err, sizeof err))
      rc = fail("%s", err);
  }
stopped:
  if (log.csv)
    fclose(log.csv);
done:
  close_dataset(info, &train_set);
  if (o->val)
    close_dataset(info, &val_set);
  return rc;
}

static int eval(const mtlrt_model_info *info, void *model, const Options *o, void *const *inputs,
                void *const *targets, void *const *outputs) {
  static Dataset d;
  info->init(model, info->seed);
  if (load_weights(info, model, o->load) || open_dataset(info, o->data, true, &d, targets))
    return 1;
  int rc = evaluate(info, model, &d, inputs, targets, outputs);
  close_dataset(info, &d);
  if (rc)
    return rc;
  double objective = mtlrt_objective_value(info, model, evals);
  if (!o->json) {
    printf("%s on %s (%" PRId64 " samples): loss %.4f\n", info->name, o->data, d.n, objective);
    print_eval(info, stdout, "  ");
    return 0;
  }
  printf("{\"loss\": ");
  json_number(stdout, objective);
  printf(", \"tasks\": {");
  for (int t = 0; t < info->ntasks; t++) {
    const mtlrt_task_info *task = &info->tasks[t];
    printf("%s\"%s\": {\"loss\": ", t ? ", " : "", task->name);
    json_number(stdout, mtlrt_eval_loss(&evals[t]));
    for (int k = 0; k < task->nmetrics; k++) {
      printf(", \"%s\": ", task->metrics[k]);
      json_number(stdout, mtlrt_eval_metric(&evals[t], task->metrics[k]));
    }
    printf("}");
  }
  printf("}}\n");
  return 0;
}

/* Probabilities in place: softmax over the class axis of [n, C, inner], or the sigmoid. */
static void to_probs(const mtlrt_task_info *task, int n, void *out, int real_bytes) {
  int64_t elems = (int64_t)n * task->output.elems;
  if (!strcmp(task->loss, "cross_entropy")) {
    int classes = task->output.shape[0], inner = (int)(task->output.elems / classes);
    if (real_bytes == 8)
      mtlrt_softmax_fwd_f64(n, classes, inner, out, out);
    else
      mtlrt_softmax_fwd_f32(n, classes, inner, out, out);
  } else if (!strcmp(task->loss, "bce")) {
    if (real_bytes == 8)
      mtlrt_sigmoid_fwd_f64((size_t)elems, out, out);
    else
      mtlrt_sigmoid_fwd_f32((size_t)elems, out, out);
  }
}

static int predict(const mtlrt_model_info *info, void *model, const Options *o, void *const *inputs,
                   void *const *targets, void *const *outputs) {
  static Dataset d;
  static mtlrt_npy_writer writers[MAX_TASKS];
  char err[512];
  info->init(model, info->seed);
  if (load_weights(info, model, o->load) || open_dataset(info, o->data, false, &d, targets))
    return 1;
  int rc = 0, opened = 0;
  static char out_paths[MAX_TASKS][PATH];
  Output outs[MAX_TASKS];
  const Dataset *const sets[] = {&d};
  for (int t = 0; t < info->ntasks; t++) {
    snprintf(out_paths[t], PATH, "%s/%s.npy", o->out, info->tasks[t].name);
    outs[t] = (Output){"--out", out_paths[t], false};
  }
  if (check_outputs(info, outs, info->ntasks, sets, 1, &o->load, 1)) {
    rc = 1;
    goto done;
  }
  if (mkdir(o->out, 0777) && errno != EEXIST) {
    rc = fail("%s: cannot create the directory: %s", o->out, strerror(errno));
    goto done;
  }
  for (; opened < info->ntasks; opened++) {
    const mtlrt_task_info *task = &info->tasks[opened];
    int64_t shape[MTLRT_MAX_RANK + 1] = {d.n};
    for (int k = 0; k < task->output.rank; k++)
      shape[k + 1] = task->output.shape[k];
    if (mtlrt_npy_create(&writers[opened], out_paths[opened], info->real_bytes == 8 ? MTLRT_NPY_F8 : MTLRT_NPY_F4,
                         task->output.rank + 1, shape, err, sizeof err)) {
      rc = fail("%s", err);
      goto done;
    }
  }
  for (int64_t b = 0; b < d.n && !rc; b += info->batch) {
    int n = (int)(d.n - b < info->batch ? d.n - b : info->batch);
    for (int i = 0; i < n; i++)
      rows[i] = b + i;
    gather(info, &d, rows, n, inputs, targets);
    info->forward(model, n, (const void *const *)inputs, outputs);
    for (int t = 0; t < info->ntasks && !rc; t++) {
      if (o->probs)
        to_probs(&info->tasks[t], n, outputs[t], info->real_bytes);
      if (mtlrt_npy_append(&writers[t], outputs[t], (int64_t)n * info->tasks[t].output.elems, err, sizeof err))
        rc = fail("%s", err);
    }
  }
  for (int t = 0; t < opened; t++) {
    if (!rc && mtlrt_npy_commit(&writers[t], err, sizeof err))
      rc = fail("%s", err);
    else if (rc)
      mtlrt_npy_abort(&writers[t]);
  }
  opened = 0;
done:
  for (int t = 0; t < opened; t++)
    mtlrt_npy_abort(&writers[t]);
  close_dataset(info, &d);
  return rc;
}

static int info_cmd(const mtlrt_model_info *info, const Options *o) {
  int64_t params = 0, flops = 0, rb = info->real_bytes;
  for (int i = 0; i < info->nnodes; i++) {
    params += info->nodes[i].params;
    flops += info->nodes[i].flops;
  }
  int64_t mem_params = info->param_elems * rb, mem_grads = info->param_elems * rb, mem_state = info->state_elems * rb;
  int64_t mem_buffers = info->buffer_elems * rb + info->count_elems * 8;
  int64_t mem_act = info->arena_elems * rb + info->iarena_elems * 4;
  if (o->json) {
    printf("{\"model\": \"%s\", \"batch\": %d, \"nodes\": [", info->name, info->batch);
    for (int i = 0; i < info->nnodes; i++) {
      const mtlrt_node_info *n = &info->nodes[i];
      printf("%s{\"name\": \"%s\", \"op\": \"%s\", \"shape\": [", i ? ", " : "", n->name, n->op);
      for (int k = 0; k < n->rank; k++)
        printf("%s%d", k ? ", " : "", n->shape[k]);
      printf("], \"params\": %" PRId64 ", \"flops\": %" PRId64 "}", n->params, n->flops);
    }
    printf("], \"params\": %" PRId64 ", \"flops\": %" PRId64 ", \"memory\": {\"parameters\": %" PRId64
           ", \"gradients\": %" PRId64 ", \"optimizer_state\": %" PRId64 ", \"buffers\": %" PRId64
           ", \"activations\": %" PRId64 ", \"total\": %zu}}\n",
           params, flops, mem_params, mem_grads, mem_state, mem_buffers, mem_act, info->size);
    return 0;
  }
  int wname = 4, wop = 2;
  for (int i = 0; i < info->nnodes; i++) {
    int ln = (int)strlen(info->nodes[i].name), lo = (int)strlen(info->nodes[i].op);
    wname = ln > wname ? ln : wname;
    wop = lo > wop ? lo : wop;
  }
  printf("model %s (per sample; batch = %d, %s)\n\n", info->name, info->batch, rb == 8 ? "double" : "float");
  printf("%-*s  %-*s  %-18s %12s %14s\n", wname, "node", wop, "op", "shape", "params", "FLOPs");
  for (int i = 0; i < info->nnodes; i++) {
    const mtlrt_node_info *n = &info->nodes[i];
    char shape[160];
    int64_t dims[MTLRT_MAX_RANK];
    for (int k = 0; k < n->rank; k++)
      dims[k] = n->shape[k];
    printf("%-*s  %-*s  %-18s %12" PRId64 " %14" PRId64 "\n", wname, n->name, wop, n->op,
           shape_text(shape, sizeof shape, n->rank, dims, false), n->params, n->flops);
  }
  printf("\ntotal: %" PRId64 " parameters, %" PRId64 " FLOPs per sample (forward)\n", params, flops);
  printf("memory: parameters %" PRId64 " B, gradients %" PRId64 " B, optimizer state %" PRId64
         " B, running statistics %" PRId64 " B, activations and scratch %" PRId64 " B; the model struct is %zu B\n",
         mem_params, mem_grads, mem_state, mem_buffers, mem_act, info->size);
  return 0;
}

int mtlrt_main(int argc, char **argv, const mtlrt_model_info *info, void *model, void *const *inputs,
               void *const *targets, void *const *outputs) {
  if (argc > 0 && argv[0] && *argv[0]) {
    const char *slash = strrchr(argv[0], '/');
    prog = slash ? slash + 1 : argv[0];
  }
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    printf(main_help, prog, prog);
    return argc < 2 ? 2 : 0;
  }
  if (info->ninputs > MAX_ARRAYS || info->ntargets > MAX_ARRAYS || info->ntasks > MAX_TASKS ||
      info->batch > MAX_BATCH)
    return fail("the model is larger than this trainer supports (%d inputs or targets, %d tasks)", MAX_ARRAYS,
                MAX_TASKS);
  Options o = {.cmd = argv[1], .epochs = 1, .threads = 1, .lr = NAN};
  if (strcmp(o.cmd, "train") && strcmp(o.cmd, "eval") && strcmp(o.cmd, "predict") && strcmp(o.cmd, "info")) {
    fprintf(stderr, "%s: error: unknown command '%s'; expected train, eval, predict or info\n", prog, o.cmd);
    return 2;
  }
  int rc = parse_options(argc, argv, &o);
  if (rc >= 0)
    return rc;
  if (mtlrt_set_threads((int)o.threads) != 0)
    return fail("cannot start %ld threads", o.threads);
  if (!strcmp(o.cmd, "train"))
    return train(info, model, &o, inputs, targets, outputs);
  if (!strcmp(o.cmd, "eval"))
    return eval(info, model, &o, inputs, targets, outputs);
  if (!strcmp(o.cmd, "predict"))
    return predict(info, model, &o, inputs, targets, outputs);
  return info_cmd(info, &o);
}
