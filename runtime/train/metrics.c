/* metrics.c: per-task evaluation over a data set (spec §6): the loss as a mean over every
 * labelled element of the whole set (not a mean of batch means) and the task's metrics,
 * accumulated batch by batch from the model's outputs. Missing labels (the ignore id, a NaN
 * target) count for nothing. Accumulators live in fixed tables: nothing is allocated. */
#include "metrics.h"

#include <math.h>
#include <string.h>

/* Per-class or per-label counters of every task, carved out of one table. */
static int64_t counters[3 * MTLRT_MAX_COUNTERS];
static int64_t counters_used;

static double real_at(const void *p, int64_t i, int real_bytes) {
  return real_bytes == 8 ? ((const double *)p)[i] : ((const float *)p)[i];
}

static bool is_cross_entropy(const mtlrt_task_info *t) { return !strcmp(t->loss, "cross_entropy"); }
static bool is_bce(const mtlrt_task_info *t) { return !strcmp(t->loss, "bce"); }

int mtlrt_eval_begin(const mtlrt_model_info *info, mtlrt_task_eval *ev) {
  counters_used = 0;
  memset(counters, 0, sizeof counters);
  for (int t = 0; t < info->ntasks; t++) {
    const mtlrt_task_info *task = &info->tasks[t];
    memset(&ev[t], 0, sizeof ev[t]);
    int64_t need = is_cross_entropy(task) ? task->output.shape[0] : is_bce(task) ? task->output.elems : 0;
    if (counters_used + need > MTLRT_MAX_COUNTERS)
      return -1;
    ev[t].per_class = counters + 3 * counters_used;
    ev[t].ncounters = need;
    counters_used += need;
  }
  return 0;
}

/* Sum of the task's loss over the batch's labelled elements, with their count. */
static double batch_loss(const mtlrt_model_info *info, const mtlrt_task_info *task, int n, const void *out,
                         const void *target, int64_t *count) {
  const mtlrt_array_info *tg = &info->targets[task->target];
  size_t cnt = 0, all = (size_t)n * (size_t)task->output.elems;
  double mean;
  bool f64 = info->real_bytes == 8;
  if (is_cross_entropy(task)) {
    int classes = task->output.shape[0], inner = (int)(task->output.elems / classes);
    mean = f64 ? mtlrt_cross_entropy_f64(n, classes, inner, out, target, (int32_t)tg->ignore, task->loss_arg, NULL, &cnt)
               : mtlrt_cross_entropy_f32(n, classes, inner, out, target, (int32_t)tg->ignore, (float)task->loss_arg,
                                         NULL, &cnt);
  } else if (is_bce(task)) {
    mean = f64 ? mtlrt_bce_logits_f64(all, out, target, NULL, &cnt) : mtlrt_bce_logits_f32(all, out, target, NULL, &cnt);
  } else if (!strcmp(task->loss, "mse")) {
    mean = f64 ? mtlrt_mse_f64(all, out, target, NULL, &cnt) : mtlrt_mse_f32(all, out, target, NULL, &cnt);
  } else if (!strcmp(task->loss, "l1")) {
    mean = f64 ? mtlrt_l1_f64(all, out, target, NULL, &cnt) : mtlrt_l1_f32(all, out, target, NULL, &cnt);
  } else {
    mean = f64 ? mtlrt_huber_f64(all, task->loss_arg, out, target, NULL, &cnt)
               : mtlrt_huber_f32(all, (float)task->loss_arg, out, target, NULL, &cnt);
  }
  *count = (int64_t)cnt;
  return mean * (double)cnt;
}

/* Class ids: accuracy over labelled elements, and per class the intersection with the
 * prediction (counters[0]), the predicted (counters[1]) and the true (counters[2]) counts. */
static void class_metrics(const mtlrt_model_info *info, const mtlrt_task_info *task, int n, const void *out,
                          const int32_t *target, mtlrt_task_eval *ev) {
  int classes = task->output.shape[0];
  int64_t inner = task->output.elems / classes;
  int64_t ignore = info->targets[task->target].ignore;
  for (int s = 0; s < n; s++)
    for (int64_t i = 0; i < inner; i++) {
      int32_t t = target[s * inner + i];
      if (t == ignore || t < 0 || t >= classes)
        continue;
      int64_t base = (int64_t)s * classes * inner + i;
      int best = 0;
      double top = real_at(out, base, info->real_bytes);
      for (int c = 1; c < classes; c++) {
        double v = real_at(out, base + c * inner, info->real_bytes);
        if (v > top) {
          top = v;
          best = c;
        }
      }
      ev->correct += best == t;
      ev->labelled++;
      ev->per_class[3 * best + 1]++;
      ev->per_class[3 * t + 2]++;
      if (best == t)
        ev->per_class[3 * t]++;
    }
}

/* Binary labels: accuracy of (logit > 0) and, per label, true and false positives and false
 * negatives for the macro F1. */
static void binary_metrics(const mtlrt_model_info *info, const mtlrt_task_info *task, int n, const void *out,
                           const void *target, mtlrt_task_eval *ev) {
  int64_t elems = task->output.elems;
  for (int64_t i = 0; i < (int64_t)n * elems; i++) {
    double t = real_at(target, i, info->real_bytes);
    if (isnan(t))
      continue;
    bool truth = t > 0.5, pred = real_at(out, i, info->real_bytes) > 0;
    int64_t *c = ev->per_class + 3 * (i % elems);
    ev->correct += truth == pred;
    ev->labelled++;
    c[0] += truth && pred;
    c[1] += !truth && pred;
    c[2] += truth && !pred;
  }
}

static void regression_metrics(const mtlrt_model_info *info, const mtlrt_task_info *task, int n, const void *out,
                               const void *target, mtlrt_task_eval *ev) {
  for (int64_t i = 0; i < (int64_t)n * task->output.elems; i++) {
    double t = real_at(target, i, info->real_bytes);
    if (isnan(t))
      continue;
    double d = real_at(out, i, info->real_bytes) - t;
    ev->sq_err += d * d;
    ev->abs_err += fabs(d);
    ev->labelled++;
  }
}

void mtlrt_eval_batch(const mtlrt_model_info *info, int n, const void *const *outputs,
                      const void *const *targets, mtlrt_task_eval *ev) {
  for (int t = 0; t < info->ntasks; t++) {
    const mtlrt_task_info *task = &info->tasks[t];
    const void *out = outputs[t], *target = targets[task->target];
    int64_t count;
    ev[t].loss_sum += batch_loss(info, task, n, out, target, &count);
    ev[t].loss_count += count;
    if (is_cross_entropy(task))
      class_metrics(info, task, n, out, target, &ev[t]);
    else if (is_bce(task))
      binary_metrics(info, task, n, out, target, &ev[t]);
    else
      regression_metrics(info, task, n, out, target, &ev[t]);
  }
}

double mtlrt_eval_loss(const mtlrt_task_eval *ev) {
  return ev->loss_count ? ev->loss_sum / (double)ev->loss_count : 0;
}

double mtlrt_eval_metric(const mtlrt_task_eval *ev, const char *metric) {
  if (!ev->labelled)
    return NAN;
  if (!strcmp(metric, "accuracy") || !strcmp(metric, "pixel_accuracy"))
    return (double)ev->correct / (double)ev->labelled;
  if (!strcmp(metric, "rmse"))
    return sqrt(ev->sq_err / (double)ev->labelled);
  if (!strcmp(metric, "mae"))
    return ev->abs_err / (double)ev->labelled;
  double sum = 0;
  int64_t used = 0;
  for (int64_t c = 0; c < ev->ncounters; c++) {
    const int64_t *k = ev->per_class + 3 * c;
    if (!strcmp(metric, "miou")) { /* classes present in the target or the prediction */
      int64_t uni = k[1] + k[2] - k[0];
      if (uni > 0) {
        sum += (double)k[0] / (double)uni;
        used++;
      }
    } else { /* f1, macro over the labels: 2 tp / (2 tp + fp + fn); 0 for a label never seen */
      int64_t den = 2 * k[0] + k[1] + k[2];
      sum += den ? 2.0 * (double)k[0] / (double)den : 0;
      used++;
    }
  }
  return used ? sum / (double)used : NAN;
}

double mtlrt_objective_value(const mtlrt_model_info *info, const void *model, const mtlrt_task_eval *ev) {
  double total = 0;
  const void *param = info->array((void *)model, MTLRT_ARRAY_PARAM);
  for (int t = 0; t < info->ntasks; t++) {
    double loss = mtlrt_eval_loss(&ev[t]);
    if (info->log_var < 0) {
      total += info->tasks[t].weight * loss;
    } else if (ev[t].loss_count) {
      double s = real_at(param, info->log_var + t, info->real_bytes);
      total += 0.5 * exp(-s) * loss + 0.5 * s;
    }
  }
  return total;
}

double mtlrt_task_weight(const mtlrt_model_info *info, const void *model, int t) {
  return real_at(info->array((void *)model, MTLRT_ARRAY_TASK_WEIGHT), t, info->real_bytes);
}
