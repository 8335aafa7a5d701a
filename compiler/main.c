/* main.c: the command line of mtlc (spec §9). It reads the options and the input, runs the
 * front end, writes the requested output atomically (a temporary file renamed into place,
 * so an error never leaves a partial file) and turns the diagnostic counts into the exit
 * status: 0 success, 1 errors in the input, 2 bad usage or I/O failure. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen, isatty */
#include "mtlc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_INPUT (64 << 20) /* bytes; a larger .mtl file is certainly not a model */

typedef enum { EMIT_C, EMIT_HEADER, EMIT_DOT, EMIT_SHAPES } EmitKind;

typedef struct Options {
  const char *input;
  const char *output;  /* -o */
  const char *header;  /* --header */
  const char *depfile; /* -MF */
  bool depend;         /* -MD */
  bool check;
  bool no_main;
  bool werror;
  bool f64;            /* --real double */
  int64_t max_memory;  /* --max-memory, in bytes */
  EmitKind emit;
  int color;           /* -1 auto, 0 never, 1 always */
} Options;

static const char usage[] =
    "usage: mtlc [options] FILE.mtl\n"
    "\n"
    "Compiles a multi-task model to C: forward, backward, joint loss, optimizer and trainer.\n"
    "\n"
    "options:\n"
    "  -o FILE          write the output to FILE ('-' for stdout); C output's header goes\n"
    "                   beside it, unless --header is given: FILE with a final .c replaced\n"
    "                   by .h (or .h added)\n"
    "  --header FILE    where to write the header\n"
    "  --check          parse and check only\n"
    "  --emit KIND      c (default) | header | dot (the model graph for Graphviz) |\n"
    "                   shapes (every node: op, shape, params, FLOPs)\n"
    "  -MD              write a Makefile-style dependency file (FILE.d beside the output)\n"
    "  -MF FILE         write the dependency file to FILE (implies -MD)\n"
    "  --no-main        leave the trainer main() out (for embedding the model)\n"
    "  --real TYPE      float (default) or double: the real type of the generated code\n"
    "                   (double is for gradient checks)\n"
    "  --max-memory SIZE\n"
    "                   the most static memory a model may need, in bytes or with a suffix\n"
    "                   K, M, G or T (powers of 1024; default 4G): more is an error\n"
    "  -Werror          treat warnings as errors\n"
    "  -fdiagnostics-color[=WHEN]\n"
    "                   colour diagnostics: always, never or auto (default: auto, a terminal\n"
    "                   and NO_COLOR unset)\n"
    "  --version        print the version and exit\n"
    "  --help           print this help and exit\n"
    "\n"
    "FILE '-' reads standard input. Exit status: 0 success, 1 errors in the input, 2 bad usage\n"
    "or I/O failure.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("mtlc: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n(run 'mtlc --help' for usage)\n", stderr);
  va_end(ap);
  return 2;
}

/* The value of an option given as `-o FILE`, `-oFILE`, `--emit KIND` or `--emit=KIND`. */
static const char *option_value(int argc, char **argv, int *i, const char *name, size_t len) {
  const char *arg = argv[*i] + len;
  if (*arg == '=' && name[1] == '-')
    return arg + 1;
  if (*arg && name[1] != '-')
    return arg;
  if (*arg)
    return NULL;
  if (*i + 1 >= argc)
    return NULL;
  return argv[++*i];
}

/* A size in bytes: digits, then optionally K, M, G or T (powers of 1024), from 1 byte to 1 EiB. */
static bool parse_size(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  if (*s < '0' || *s > '9')
    return false;
  unsigned long long v = strtoull(s, &end, 10);
  int shift = !*end ? 0 : !strcmp(end, "K") ? 10 : !strcmp(end, "M") ? 20 : !strcmp(end, "G") ? 30
                            : !strcmp(end, "T") ? 40 : -1;
  if (errno || shift < 0 || v == 0 || v > (1ULL << (60 - shift)))
    return false;
  *out = (int64_t)(v << shift);
  return true;
}

static int parse_options(int argc, char **argv, Options *o) {
  static const char *const known[] = {"-o", "--header", "--check", "--emit", "-MD", "-MF",
                                      "--no-main", "--real", "--max-memory", "-Werror", "-fdiagnostics-color",
                                      "--version", "--help"};
  static const char *const kinds[] = {"c", "header", "dot", "shapes"};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v;
#define IS_OPT(name) (!strncmp(a, name, sizeof name - 1) && (a[sizeof name - 1] == '\0' || \
                      a[sizeof name - 1] == '=' || (name[1] != '-' && sizeof name == 3)))
    if (!strcmp(a, "--help")) {
      fputs(usage, stdout);
      exit(0);
    } else if (!strcmp(a, "--version")) {
      printf("mtlc %s\n", MTLC_VERSION);
      exit(0);
    } else if (!strcmp(a, "--check")) {
      o->check = true;
    } else if (!strcmp(a, "--no-main")) {
      o->no_main = true;
    } else if (!strcmp(a, "-MD")) {
      o->depend = true;
    } else if (!strcmp(a, "-Werror")) {
      o->werror = true;
    } else if (!strcmp(a, "-fdiagnostics-color") || !strcmp(a, "-fdiagnostics-color=always")) {
      o->color = 1;
    } else if (!strcmp(a, "-fdiagnostics-color=never") || !strcmp(a, "-fno-diagnostics-color")) {
      o->color = 0;
    } else if (!strcmp(a, "-fdiagnostics-color=auto")) {
      o->color = -1;
    } else if (IS_OPT("-MF")) {
      if (!(v = option_value(argc, argv, &i, "-MF", 3)))
        return usage_error("-MF needs a file name");
      o->depfile = v;
      o->depend = true;
    } else if (IS_OPT("-o")) {
      if (!(v = option_value(argc, argv, &i, "-o", 2)))
        return usage_error("-o needs a file name");
      o->output = v;
    } else if (IS_OPT("--header")) {
      if (!(v = option_value(argc, argv, &i, "--header", 8)) || !*v)
        return usage_error("--header needs a file name");
      o->header = v;
    } else if (IS_OPT("--real")) {
      if (!(v = option_value(argc, argv, &i, "--real", 6)) || (strcmp(v, "float") && strcmp(v, "double")))
        return usage_error("--real needs a type: float or double");
      o->f64 = !strcmp(v, "double");
    } else if (IS_OPT("--max-memory")) {
      if (!(v = option_value(argc, argv, &i, "--max-memory", 12)) || !parse_size(v, &o->max_memory))
        return usage_error("--max-memory needs a size: a number of bytes, or with K, M, G or T after it (%s)",
                           v ? v : "none given");
    } else if (IS_OPT("--emit")) {
      if (!(v = option_value(argc, argv, &i, "--emit", 6)))
        return usage_error("--emit needs a kind: c, header, dot or shapes");
      int k = 0;
      while (k < 4 && strcmp(kinds[k], v))
        k++;
      if (k == 4) {
        const char *guess = closest_name(v, kinds, 4);
        return usage_error("unknown --emit kind '%s'%s%s%s; expected c, header, dot or shapes", v,
                           guess ? " (did you mean '" : "", guess ? guess : "", guess ? "'?)" : "");
      }
      o->emit = (EmitKind)k;
    } else if (a[0] == '-' && a[1] != '\0') {
      const char *guess = closest_name(a, known, (int)(sizeof known / sizeof *known));
      return usage_error("unknown option '%s'%s%s%s", a, guess ? "; did you mean '" : "",
                         guess ? guess : "", guess ? "'?" : "");
    } else if (o->input) {
      return usage_error("more than one input file: '%s' and '%s'", o->input, a);
    } else {
      o->input = a;
    }
#undef IS_OPT
  }
  if (!o->input)
    return usage_error("no input file");
  return 0;
}

/* Reads all of `f`; NULL with errno set on failure or when the input is too large. */
static char *read_all(FILE *f, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
    if (n == cap) {
      if (cap >= MAX_INPUT) {
        free(buf);
        errno = EFBIG;
        return NULL;
      }
      char *bigger = realloc(buf, cap * 2 + 1);
      if (!bigger)
        free(buf);
      buf = bigger;
      cap *= 2;
    }
  }
  if (!buf)
    return NULL;
  if (ferror(f)) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* An output file written beside its final name and renamed into place by out_commit(). */
typedef struct Out {
  const char *path;
  char *tmp;
  FILE *f;
} Out;

static bool out_open(Out *o, const char *path) {
  o->path = path;
  o->tmp = NULL;
  if (!strcmp(path, "-")) {
    o->f = stdout;
    return true;
  }
  size_t n = strlen(path) + 16;
  o->tmp = malloc(n);
  if (!o->tmp)
    return false;
  snprintf(o->tmp, n, "%s.tmpXXXXXX", path);
  int fd = mkstemp(o->tmp);
  o->f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!o->f) {
    fprintf(stderr, "mtlc: error: cannot write '%s': %s\n", path, strerror(errno));
    if (fd >= 0) {
      close(fd);
      remove(o->tmp);
    }
    free(o->tmp);
    return false;
  }
  return true;
}

static bool out_commit(Out *o) {
  bool ok;
  if (o->f == stdout) {
    ok = fflush(stdout) == 0;
  } else {
    ok = !ferror(o->f);
    ok &= fclose(o->f) == 0;
    ok = ok && rename(o->tmp, o->path) == 0;
    if (!ok)
      remove(o->tmp);
    free(o->tmp);
  }
  if (!ok)
    fprintf(stderr, "mtlc: error: cannot write '%s': %s\n", o->path, strerror(errno));
  return ok;
}

static void out_discard(Out *o) {
  if (o->f == stdout)
    return;
  fclose(o->f);
  remove(o->tmp);
  free(o->tmp);
}

/* A path as make reads it in a rule: spaces escaped, '$' doubled. */
static void put_make_path(FILE *f, const char *p) {
  for (; *p; p++) {
    if (*p == ' ' || *p == '#')
      fputc('\\', f);
    else if (*p == '$')
      fputc('$', f);
    fputc(*p, f);
  }
}

/* The dependency file (-MD, -MF) is opened before anything is written, so that a path that
 * cannot be written fails the run with no output at all, and committed after the rest. */
static bool depfile_open(const Options *o, Arena *a, Out *out) {
  const char *path = o->depfile;
  if (!path) {
    const char *dot = strrchr(o->output, '.'), *slash = strrchr(o->output, '/');
    int stem = (int)(dot && (!slash || dot > slash) ? (size_t)(dot - o->output) : strlen(o->output));
    path = arena_printf(a, "%.*s.d", stem, o->output);
  }
  return out_open(out, path);
}

static bool depfile_commit(const Options *o, Out *out) {
  put_make_path(out->f, o->output);
  fputc(':', out->f);
  if (strcmp(o->input, "-")) {
    fputc(' ', out->f);
    put_make_path(out->f, o->input);
  }
  fputc('\n', out->f);
  return out_commit(out);
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* The C file and its header (--emit c), or the header alone (--emit header). The header goes
 * to --header, else beside a named C file (model.c -> model.h); with the C file on stdout
 * and no --header, none is written and the C file includes "<model>.h". */
static bool write_code(const Options *o, const Program *p, const char *src, Arena *a) {
  const char *output = o->output ? o->output : "-";
  const char *header = o->header;
  if (o->emit == EMIT_HEADER) {
    header = output;
  } else if (!header && strcmp(output, "-")) {
    size_t len = strlen(output);
    bool dot_c = len > 2 && !strcmp(output + len - 2, ".c");
    header = arena_printf(a, "%.*s.h", (int)(dot_c ? len - 2 : len), output);
  }
  EmitOptions eo = {
      .source = strcmp(o->input, "-") ? o->input : "<stdin>",
      .src = src,
      .file_name = strcmp(output, "-") ? base_name(output) : arena_printf(a, "%s.c", p->c->name),
      .header_name = header && strcmp(header, "-") ? base_name(header) : arena_printf(a, "%s.h", p->c->name),
      .with_main = !o->no_main,
  };
  Out h = {0}, c = {0};
  if (header && !out_open(&h, header))
    return false;
  if (o->emit == EMIT_C && !out_open(&c, output)) {
    if (header)
      out_discard(&h);
    return false;
  }
  if (header)
    emit_header(h.f, p, &eo);
  if (o->emit == EMIT_C)
    emit_c(c.f, p, &eo);
  bool ok = !header || out_commit(&h);
  if (o->emit == EMIT_C)
    ok = ok ? out_commit(&c) : (out_discard(&c), false);
  return ok;
}

int main(int argc, char **argv) {
  static char errbuf[1 << 16];
  setvbuf(stderr, errbuf, _IOFBF, sizeof errbuf); /* diagnostics in blocks, flushed at exit */
  Options o = {.color = -1, .max_memory = DEFAULT_MEMORY_BUDGET};
  int rc = parse_options(argc, argv, &o);
  if (rc)
    return rc;
  if (o.depend && (!o.output || !strcmp(o.output, "-")))
    return usage_error("-MD and -MF need an output file: -o FILE");

  bool from_stdin = !strcmp(o.input, "-");
  FILE *in = from_stdin ? stdin : fopen(o.input, "rb");
  if (!in) {
    fprintf(stderr, "mtlc: error: cannot open '%s': %s\n", o.input, strerror(errno));
    return 2;
  }
  size_t len = 0;
  char *src = read_all(in, &len);
  int read_errno = errno;
  if (!from_stdin)
    fclose(in);
  if (!src) {
    fprintf(stderr, "mtlc: error: cannot read '%s': %s\n", o.input,
            read_errno == EFBIG ? "file is larger than 64 MiB" : strerror(read_errno));
    return 2;
  }

  const char *no_color = getenv("NO_COLOR");
  Diag diag = {
      .filename = from_stdin ? "<stdin>" : o.input,
      .src = src,
      .src_len = len,
      .out = stderr,
      .color = o.color == 1 || (o.color == -1 && isatty(STDERR_FILENO) && !(no_color && *no_color)),
      .werror = o.werror,
  };
  Arena *arena = arena_new();
  Model *model = parse_model(arena, &diag);
  /* After a syntax error the tree lacks what recovery skipped: checking it would only
   * report the consequences. */
  Checked *checked = model && !diag.errors ? check_model(arena, &diag, model) : NULL;

  rc = 0;
  if (diag.warnings && diag.errors)
    fprintf(stderr, "%d warning%s and %d error%s generated.\n", diag.warnings, diag.warnings == 1 ? "" : "s",
            diag.errors, diag.errors == 1 ? "" : "s");
  else if (diag.warnings)
    fprintf(stderr, "%d warning%s generated.\n", diag.warnings, diag.warnings == 1 ? "" : "s");
  else if (diag.errors)
    fprintf(stderr, "%d error%s generated.\n", diag.errors, diag.errors == 1 ? "" : "s");
  bool depend = o.depend && !o.check && !diag.errors;
  Out dep = {0};
  if (diag.errors) {
    rc = 1;
  } else if (o.check) {
    rc = 0;
  } else if (depend && !depfile_open(&o, arena, &dep)) {
    rc = 2;
    depend = false;
  } else if (o.emit == EMIT_C || o.emit == EMIT_HEADER) {
    Program *program = lower(arena, checked, o.f64, &diag);
    if (!program) {
      fprintf(stderr, "%d error%s generated.\n", diag.errors, diag.errors == 1 ? "" : "s");
      rc = 1;
    } else {
      autodiff(program);
      if (!memplan(program, &diag, o.max_memory)) {
        fprintf(stderr, "%d error%s generated.\n", diag.errors, diag.errors == 1 ? "" : "s");
        rc = 1;
      } else {
        rc = write_code(&o, program, src, arena) ? 0 : 2;
      }
    }
  } else {
    Out out;
    if (!out_open(&out, o.output ? o.output : "-")) {
      rc = 2;
    } else {
      if (o.emit == EMIT_SHAPES)
        emit_shapes(out.f, checked);
      else
        emit_dot(out.f, checked);
      rc = out_commit(&out) ? 0 : 2;
    }
  }
  if (depend && rc == 0)
    rc = depfile_commit(&o, &dep) ? 0 : 2;
  else if (depend)
    out_discard(&dep);
  arena_free(arena);
  free(src);
  return rc;
}
