/* st_fuzz_request.h: the tensors and metadata that fuzz_safetensors.c loads every input
 * against, shared with test_safetensors.c, which writes the seed corpus from them. */
#ifndef ST_FUZZ_REQUEST_H
#define ST_FUZZ_REQUEST_H

#include "mtlrt_io.h"

enum { ST_FUZZ_N = 4, ST_FUZZ_NMETA = 2 };

static float st_fuzz_w[18];
static double st_fuzz_b[2];
static int64_t st_fuzz_count;

static void st_fuzz_request(mtlrt_tensor_ref t[ST_FUZZ_N], mtlrt_meta meta[ST_FUZZ_NMETA]) {
  t[0] = (mtlrt_tensor_ref){"trunk.0.weight", MTLRT_DT_F32, 4, {2, 1, 3, 3}, st_fuzz_w};
  t[1] = (mtlrt_tensor_ref){"trunk.0.bias", MTLRT_DT_F64, 1, {2}, st_fuzz_b};
  t[2] = (mtlrt_tensor_ref){"trunk.1.num_batches_tracked", MTLRT_DT_I64, 0, {0}, &st_fuzz_count};
  t[3] = (mtlrt_tensor_ref){"head.empty", MTLRT_DT_F32, 2, {0, 4}, NULL};
  meta[0] = (mtlrt_meta){.key = "format"};
  meta[1] = (mtlrt_meta){.key = "model"};
}

#endif
