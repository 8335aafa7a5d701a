/* fuzz_frontend.c: libFuzzer target for the whole compiler: scanner, parser, checker and
 * shape inference, both explain outputs of a model that checks, and its code generation
 * (lowering, autodiff, memory plan, C and header). Any input must end in diagnostics or
 * code, never in a crash, a hang, a leak or undefined behaviour. */
#include "mtlc.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char *src = malloc(size + 1);
  if (!src)
    return 0;
  memcpy(src, data, size);
  src[size] = '\0';
  FILE *sink = fopen("/dev/null", "w");
  Diag diag = {.filename = "fuzz.mtl", .src = src, .src_len = size, .out = sink};
  Arena *arena = arena_new();
  Model *model = parse_model(arena, &diag);
  Checked *checked = model && !diag.errors ? check_model(arena, &diag, model) : NULL;
  if (checked && sink) {
    emit_shapes(sink, checked);
    emit_dot(sink, checked);
    Program *program = lower(arena, checked, size % 2, &diag);
    if (program) {
      autodiff(program);
      if (!memplan(program, &diag, DEFAULT_MEMORY_BUDGET))
        goto done;
      EmitOptions eo = {.source = "fuzz.mtl", .src = src, .file_name = "fuzz.c", .header_name = "fuzz.h"};
      emit_header(sink, program, &eo);
      emit_c(sink, program, &eo);
    }
  }
done:
  arena_free(arena);
  if (sink)
    fclose(sink);
  free(src);
  return 0;
}
