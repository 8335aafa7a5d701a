/* mtlrt_train.h: the trainer behind the `main` of a generated model (spec §10): the
 * train, eval, predict and info commands, and the pictures they draw.
 */
#ifndef MTLRT_TRAIN_H
#define MTLRT_TRAIN_H

#include <stddef.h>

#include "mtlrt_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The trainer's command line (spec §10): `train`, `eval`, `predict`, `info`, each with
 * --help. `model` is the model struct (info->size bytes, static storage); inputs[i],
 * targets[i] and outputs[i] are batch arrays of info->batch samples for the model's inputs,
 * targets and task outputs. Returns the exit status: 0 success, 1 a runtime error (reported
 * on stderr), 2 bad usage. */
int mtlrt_main(int argc, char **argv, const mtlrt_model_info *info, void *model,
               void *const *inputs, void *const *targets, void *const *outputs);

/* One curve of a training-history plot: a value per epoch, y[0..epochs), NaN where there
 * is none (a validation metric without --val). */
typedef struct mtlrt_curve {
  const char *label;   /* the legend: "seg loss", "val left accuracy" */
  const double *y;
  int panel;           /* 0: losses (training and validation), 1: validation metrics */
  int dashed;          /* validation curves are dashed, training curves solid */
} mtlrt_curve;

/* Writes an SVG picture of the curves against the epochs 1..epochs: one panel per `panel`
 * value present, each with axes, ticks, a grid and a legend; written to a temporary file and
 * renamed into place. Returns 0, or -1 with a message naming the file in err. */
int mtlrt_plot_svg(const char *path, const char *title, int epochs, const mtlrt_curve *curves,
                   int ncurves, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
