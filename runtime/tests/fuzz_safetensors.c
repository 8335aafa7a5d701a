/* fuzz_safetensors.c: libFuzzer target for libmtlrt's safetensors loader. Each input is a
 * whole file, opened with fmemopen() and loaded strictly against the small request of
 * st_fuzz_request.h; it must end in success or a message, never in a crash, a hang or
 * undefined behaviour, and the loader must never write past the request's buffers. */
#define _POSIX_C_SOURCE 200809L

#include "mtlrt_io.h"
#include "st_fuzz_request.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  mtlrt_tensor_ref t[ST_FUZZ_N];
  mtlrt_meta meta[ST_FUZZ_NMETA];
  char err[512];
  static const unsigned char empty[1];
  st_fuzz_request(t, meta);
  /* fmemopen() of a zero-sized buffer fails on older C libraries: give it one byte. */
  FILE *f = fmemopen((void *)(size ? data : empty), size ? size : 1, "rb");
  if (!f)
    return 0;
  int rc = mtlrt_safetensors_fload(f, "fuzz", t, ST_FUZZ_N, meta, ST_FUZZ_NMETA, err, sizeof err);
  fclose(f);
  if (rc != 0 && (strncmp(err, "fuzz: ", 6) != 0 || strchr(err, '\n')))
    __builtin_trap(); /* every failure has a one-line message naming the file */
  for (int i = 0; rc == 0 && i < ST_FUZZ_NMETA; i++)
    if (!memchr(meta[i].value, '\0', sizeof meta[i].value))
      __builtin_trap();
  return 0;
}
