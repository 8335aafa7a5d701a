/* metrics.h: data-set evaluation for the trainer (internal to libmtlrt). */
#ifndef MTLRT_METRICS_H
#define MTLRT_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "mtlrt.h"
#include "mtlrt_model.h"

#define MTLRT_MAX_COUNTERS 65536 /* classes (or binary labels) over all tasks */

/* What a task has accumulated over the batches seen so far. */
typedef struct mtlrt_task_eval {
  double loss_sum;        /* the loss summed over labelled elements */
  int64_t loss_count;     /* labelled elements */
  int64_t correct;        /* accuracy: right predictions among `labelled` */
  int64_t labelled;
  double sq_err, abs_err; /* regression: rmse and mae */
  int64_t *per_class;     /* 3 counters per class (intersection, predicted, true) or label (tp, fp, fn) */
  int64_t ncounters;      /* classes or labels */
} mtlrt_task_eval;

/* Starts an evaluation: ev[ntasks] zeroed. Returns -1 when the model has more classes and
 * labels than MTLRT_MAX_COUNTERS. */
int mtlrt_eval_begin(const mtlrt_model_info *info, mtlrt_task_eval *ev);
/* Adds a batch: the model's outputs for n samples and their targets. */
void mtlrt_eval_batch(const mtlrt_model_info *info, int n, const void *const *outputs,
                      const void *const *targets, mtlrt_task_eval *ev);
/* The data-set mean of the loss; 0 when nothing was labelled. */
double mtlrt_eval_loss(const mtlrt_task_eval *ev);
/* accuracy, pixel_accuracy, miou, f1, rmse or mae; NaN when nothing was labelled. */
double mtlrt_eval_metric(const mtlrt_task_eval *ev, const char *metric);
/* The objective at the evaluated task losses (spec §10: the weighted sum, or uncertainty's
 * value with its 1/2 s terms, left out for a task with no label; for the strategies whose
 * weights change with every step or epoch, the plain sum). */
double mtlrt_objective_value(const mtlrt_model_info *info, const void *model, const mtlrt_task_eval *ev);
/* A task's weight in the last training step (0 before the first): the fixed w,
 * uncertainty's 1/2 exp(-s), or the strategy's weight of that step. */
double mtlrt_task_weight(const mtlrt_model_info *info, const void *model, int t);

#endif
