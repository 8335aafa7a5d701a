/* schedule.c: the learning-rate schedules of spec §8, set once per epoch like a PyTorch
 * scheduler stepped after each epoch. Computed in double, as Python computes them. */
#include "mtlrt.h"

#include <math.h>

double mtlrt_schedule_lr(mtlrt_schedule kind, double lr, int epoch, int epochs, double a, double b) {
  switch (kind) {
  case MTLRT_SCHEDULE_STEP:
    return lr * pow(b, floor(epoch / a));
  case MTLRT_SCHEDULE_COSINE:
    if (epoch < a)
      return lr * (epoch + 1) / (a + 1);
    if (epochs <= a)
      return lr;
    return lr * 0.5 * (1 + cos(3.14159265358979323846 * (epoch - a) / (epochs - a)));
  case MTLRT_SCHEDULE_CONSTANT:
    break;
  }
  return lr;
}
