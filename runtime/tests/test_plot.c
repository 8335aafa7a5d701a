/* test_plot.c: mtlrt_plot_svg on typical and edge cases. `test_plot DIR` writes the cases into
 * DIR (plot_check.py then parses them with xml.etree and removes DIR); it checks return values,
 * error messages, a few details of the SVG text and that no temporary file is left behind.
 * `test_plot --clean DIR` removes them afterwards, for machines without python3.
 * `test_plot --demo FILE.svg` writes only the typical case, for looking at. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mtlrt_train.h"

#define MAXE 200

static int failures;
static char dir[1024];

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                     \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

static double y[16][MAXE];
static char labels[16][300];
static mtlrt_curve curves[16];

static char svg[1 << 20];

static const char *path_of(const char *name) {
  static char p[2048];
  snprintf(p, sizeof p, "%s/%s.svg", dir, name);
  return p;
}

/* Writes a case and reads it back into svg[]. */
static void plot(const char *name, const char *title, int epochs, int n) {
  char err[512] = "";
  const char *p = path_of(name);
  int rc = mtlrt_plot_svg(p, title, epochs, curves, n, err, sizeof err);
  CHECK(rc == 0, "%s: %s", name, err);
  FILE *f = fopen(p, "rb");
  CHECK(f != NULL, "%s: not written", name);
  svg[0] = '\0';
  if (f) {
    size_t len = fread(svg, 1, sizeof svg - 1, f);
    svg[len] = '\0';
    fclose(f);
  }
  CHECK(!strncmp(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44), "%s: no SVG header", name);
  size_t len = strlen(svg);
  CHECK(len > 8 && !strcmp(svg + len - 7, "</svg>\n"), "%s: not closed", name);
  for (const char *a = strchr(svg, '&'); a; a = strchr(a + 1, '&'))
    CHECK(!strncmp(a, "&amp;", 5) || !strncmp(a, "&lt;", 4) || !strncmp(a, "&gt;", 4) ||
              !strncmp(a, "&quot;", 6) || !strncmp(a, "&apos;", 6),
          "%s: a bare '&'", name);
  CHECK(!strstr(svg, "nan") && !strstr(svg, "inf"), "%s: a non-number", name); /* titles say "NaN" */
}

static int count(const char *needle) {
  int n = 0;
  for (const char *p = strstr(svg, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

static void set(int c, const char *label, int panel, int dashed) {
  snprintf(labels[c], sizeof labels[c], "%s", label);
  curves[c] = (mtlrt_curve){labels[c], y[c], panel, dashed};
}

/* Three tasks: seg (cross-entropy), depth (MSE), cls, with validation losses and metrics. */
static int typical(int epochs) {
  static const char *tasks[] = {"seg", "depth", "cls"};
  int c = 0;
  for (int t = 0; t < 3; t++) {
    char l[64];
    snprintf(l, sizeof l, "%s loss", tasks[t]);
    set(c, l, 0, 0);
    snprintf(l, sizeof l, "val %s loss", tasks[t]);
    set(c + 1, l, 0, 1);
    for (int e = 0; e < epochs; e++) {
      double base = (t == 1 ? 0.9 : 2.0 - 0.5 * t) * exp(-e / (6.0 + 3 * t)) + 0.08 + 0.05 * t;
      y[c][e] = base * (1 + 0.03 * sin(e * 1.7 + t));
      y[c + 1][e] = base * 1.12 + 0.04 + 0.004 * e + 0.02 * sin(e * 2.3 + t);
    }
    c += 2;
  }
  set(c, "val seg accuracy", 1, 1);
  set(c + 1, "val seg miou", 1, 1);
  set(c + 2, "val depth r2", 1, 1);
  set(c + 3, "val cls accuracy", 1, 1);
  for (int e = 0; e < epochs; e++) {
    y[c][e] = 0.93 - 0.55 * exp(-e / 5.0) + 0.01 * sin(e * 1.3);
    y[c + 1][e] = 0.71 - 0.6 * exp(-e / 7.0) + 0.01 * sin(e * 0.9);
    y[c + 2][e] = 0.82 - 0.7 * exp(-e / 4.0);
    y[c + 3][e] = 0.88 - 0.5 * exp(-e / 6.0) + 0.012 * cos(e * 1.1);
  }
  return c + 4;
}

static void clean(void) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  for (struct dirent *e; (e = readdir(d));)
    if (strstr(e->d_name, ".svg")) {
      char p[2048];
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      remove(p);
    }
  closedir(d);
  remove(dir);
}

static int no_temporaries(void) {
  DIR *d = opendir(dir);
  int bad = 0;
  if (!d)
    return 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strstr(e->d_name, ".tmp"))
      bad++;
  closedir(d);
  return bad == 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--demo")) {
    char err[512];
    int n = typical(20);
    if (mtlrt_plot_svg(argv[2], "mtl_demo: training history", 20, curves, n, err, sizeof err)) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    return 0;
  }
  bool cleanup = argc == 3 && !strcmp(argv[1], "--clean");
  if (argc != 2 && !cleanup) {
    fprintf(stderr, "usage: test_plot [--clean] DIR | test_plot --demo FILE.svg\n");
    return 2;
  }
  snprintf(dir, sizeof dir, "%s", argv[argc - 1]);
  mkdir(dir, 0777);

  int n = typical(20);
  plot("typical", "mtl_demo: training history", 20, n);
  CHECK(count("<path d=\"M") >= n, "typical: %d curves", count("<path d=\"M"));
  CHECK(strstr(svg, ">epoch<") != NULL, "typical: no x label");
  CHECK(strstr(svg, ">Validation metrics<") != NULL, "typical: no metrics panel");
  CHECK(count("<circle") > 60, "typical: markers expected for 20 epochs");

  /* the same, rewritten in place: the rename replaces the old picture */
  plot("typical", "mtl_demo: training history", 20, n);

  /* one epoch: markers, no lines */
  plot("one_epoch", "one epoch", 1, n);
  CHECK(count("<circle") + count("<rect x") + count("<path d=\"M") >= n, "one_epoch: no markers");

  /* 200 epochs: no markers, thinned ticks */
  n = typical(200);
  plot("many_epochs", "200 epochs", 200, n);
  CHECK(count("<circle") == 0, "many_epochs: markers on 200 points");
  CHECK(strstr(svg, ">200<") != NULL && strstr(svg, ">199<") == NULL, "many_epochs: tick thinning");

  /* an all-NaN curve is left out (not in the legend), NaN gaps elsewhere */
  n = typical(12);
  for (int e = 0; e < 12; e++)
    y[1][e] = NAN;
  set(1, "val seg loss ghost", 0, 1);
  y[0][4] = NAN, y[0][5] = INFINITY, y[2][7] = -INFINITY;
  plot("nan", "NaN values", 12, n);
  CHECK(strstr(svg, "ghost") == NULL, "nan: an all-NaN curve in the legend");

  /* no validation at all: only the loss panel */
  n = typical(8);
  for (int c = 0; c < n; c++)
    if (curves[c].dashed)
      for (int e = 0; e < 8; e++)
        y[c][e] = NAN;
  plot("no_val", "no --val", 8, n);
  CHECK(strstr(svg, "Validation metrics") == NULL, "no_val: an empty metrics panel");

  /* nothing at all */
  plot("empty", "empty", 0, 0);
  plot("all_nan", "all NaN values", 5, 1);

  /* huge, negative and equal values */
  set(0, "huge", 0, 0);
  set(1, "negative", 0, 1);
  set(2, "equal", 1, 0);
  set(3, "tiny", 1, 1);
  for (int e = 0; e < 10; e++) {
    y[0][e] = 1e300 * (e + 1) - 5e299 * e;
    y[1][e] = -1e12 - 3e11 * e;
    y[2][e] = 42.0;
    y[3][e] = 1e-9 * (1 + e);
  }
  plot("huge", "huge values", 10, 2);
  plot("extremes", "extremes", 10, 4);
  y[0][3] = DBL_MAX, y[1][3] = -DBL_MAX;
  plot("dbl_max", "DBL_MAX", 10, 4);
  set(0, "equal loss", 0, 0);
  set(1, "zero loss", 0, 0);
  for (int e = 0; e < 10; e++)
    y[0][e] = 1.25, y[1][e] = 0;
  plot("equal", "equal values", 10, 1);
  CHECK(strstr(svg, ">1.20<") != NULL && strstr(svg, ">1.30<") != NULL, "equal: no ticks around the value");
  plot("zero", "zero values", 10, 2);
  for (int e = 0; e < 10; e++)
    y[0][e] = 1 + 1e-7 * e;
  plot("close", "nearly equal values", 10, 1);
  for (int e = 0; e < 10; e++)
    y[0][e] = 300 * exp(-e) + 0.01, y[1][e] = 0.5;
  set(1, "small loss", 0, 0);
  plot("log", "a log-scale loss panel", 10, 2);
  CHECK(strstr(svg, "log scale") != NULL, "log: expected a log axis");

  /* XML special characters, invalid UTF-8 and controls, very long labels */
  n = typical(15);
  set(0, "a<b & c>d \"quoted\" 'single'", 0, 0);
  set(1, "val \xff\xfe broken \x01 utf-8 \xe2\x82", 0, 1);
  set(2, "a very long label that goes on and on and on, far wider than any legend column could ever "
         "be, so that it must be cut with an ellipsis somewhere around here and then some more",
      0, 0);
  set(3, "ünïcödé λ 損失", 0, 1);
  plot("special", "<title> & \"quotes\" 'too' with a title long enough to need cutting, because it "
                  "goes on well beyond the width of the whole figure and then some more words",
       15, n);
  CHECK(strstr(svg, "a&lt;b &amp; c&gt;d &quot;quoted&quot; &apos;single&apos;") != NULL,
        "special: label not escaped");
  CHECK(strstr(svg, "\xe2\x80\xa6") != NULL, "special: no ellipsis on a long label");

  /* more panels than two, panel values out of order */
  n = typical(10);
  curves[0].panel = 7, curves[1].panel = -3;
  plot("panels", "odd panels", 10, n);

  /* errors: an unwritable path names the file; nothing is left behind */
  char err[512] = "";
  char bad[1100];
  snprintf(bad, sizeof bad, "%s/no/such/dir/plot.svg", dir);
  CHECK(mtlrt_plot_svg(bad, "x", 3, curves, n, err, sizeof err) == -1, "unwritable: no error");
  CHECK(strstr(err, bad) == err, "unwritable: message '%s' does not name the file", err);
  fprintf(stderr, "expected error: %s\n", err);
  CHECK(mtlrt_plot_svg(dir, "x", 3, curves, n, err, sizeof err) == -1, "a directory: no error");
  CHECK(strstr(err, dir) == err, "directory: message '%s' does not name the file", err);
  CHECK(mtlrt_plot_svg(NULL, "x", 3, curves, n, err, sizeof err) == -1, "NULL path: no error");
  CHECK(mtlrt_plot_svg(path_of("tiny_err"), "x", 3, NULL, 2, err, 4) == -1 && strlen(err) < 4,
        "NULL curves: no error or err overflowed");
  CHECK(no_temporaries(), "temporary files left in %s", dir);

  if (cleanup)
    clean();
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("test_plot: all checks passed\n");
  return failures != 0;
}
