/* fuzz_options.c: libFuzzer target for the command line of every generated trainer (spec §10).
 * It includes train/trainer.c to reach parse_options(), and runs it on the input cut into
 * arguments at NUL bytes: the first is the command, as argv[1]. Any input must end in a
 * usage error (exit status 2), --help (0) or options that hold together, never in a crash
 * or undefined behaviour; nothing is trained or opened. The trainer's messages go to
 * /dev/null. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>

static FILE *sink; /* the trainer's stdout and stderr */
#undef stdout
#undef stderr
#define stdout sink
#define stderr sink
#define printf(...) fprintf(sink, __VA_ARGS__)

#include "../train/trainer.c"

#include <stdlib.h>

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (!sink && !(sink = fopen("/dev/null", "w")))
    abort();
  char *text = malloc(size + 1), *argv[MAX_ARGS + 1] = {"model"};
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  int argc = 1;
  for (size_t at = 0; at <= size && argc < MAX_ARGS; at += strlen(text + at) + 1)
    argv[argc++] = text + at;
  argv[argc] = NULL;

  Options o = {.cmd = argv[1], .epochs = 1, .threads = 1, .lr = NAN};
  bool known = !strcmp(o.cmd, "train") || !strcmp(o.cmd, "eval") || !strcmp(o.cmd, "predict") ||
               !strcmp(o.cmd, "info");
  int rc = known ? parse_options(argc, argv, &o) : 2;
  if (rc != -1 && rc != 0 && rc != 2)
    abort();
  if (rc == -1) { /* what the commands rely on */
    bool train = !strcmp(o.cmd, "train"), eval = !strcmp(o.cmd, "eval"), predict = !strcmp(o.cmd, "predict");
    if ((train && !o.train) || ((eval || predict) && (!o.data || !o.load)) || (predict && !o.out))
      abort();
    if (o.threads < 1 || o.threads > MTLRT_MAX_THREADS || o.epochs < 1 || o.steps < 0 || (o.init && o.resume))
      abort();
    if (!isnan(o.lr) && !(o.lr > 0 && isfinite(o.lr)))
      abort();
    if (o.has_seed && o.seed < 0)
      abort();
    if (!train && (o.train || o.val || o.save || o.checkpoint || o.resume || o.init || o.on_nan || o.only))
      abort();
  }
  free(text);
  return 0;
}
