/* f64.c: instantiates every kernel template in this directory for double, as
 * mtlrt_<name>_f64 (the precision the gradient checks run in). See f32.c.
 */
#include "mtlrt.h"
#include "parallel.h"
#include <string.h>
#include <tgmath.h>

#define REAL double
#define MTLRT_SIMD_F64
#define FN(name) mtlrt_##name##_f64
#define R(c) ((double)(c))
#include "kernels.inc"
