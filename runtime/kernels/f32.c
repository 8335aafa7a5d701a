/* f32.c: instantiates every kernel template in this directory for float, as
 * mtlrt_<name>_f32. The templates are written once against REAL and FN(name); f64.c
 * instantiates the same files for double.
 */
#include "mtlrt.h"
#include "parallel.h"
#include <string.h>
#include <tgmath.h>

#define REAL float
#define MTLRT_SIMD_F32
#define FN(name) mtlrt_##name##_f32
#define R(c) ((float)(c))
#include "kernels.inc"
