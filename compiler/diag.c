/* diag.c: diagnostics. Every stage reports through diag_at(), which counts and prints in
 * the format of gcc and clang:
 *
 *   model.mtl:12:7: error: unknown layer 'conv3d'; did you mean 'conv2d'?
 *      12 |     -> conv3d(32)
 *         |        ^~~~~~
 *
 * Nothing here exits: main.c turns the counts into the exit status. After MAX_ERRORS
 * errors the rest of the run is silent and diag_full() tells the stages to stop early. */
#include "mtlc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define BOLD "\033[1m"
#define RED "\033[1;31m"
#define MAGENTA "\033[1;35m"
#define CYAN "\033[1;36m"
#define GREEN "\033[1;32m"
#define RESET "\033[0m"

/* The start and length of a source line. Diagnostics come mostly in source order, so the
 * search starts from the line found last time when it can. */
static const char *line_start(Diag *d, int line, size_t *len) {
  if (line < d->cached_line || d->cached_line < 1) {
    d->cached_line = 1;
    d->cached_offset = 0;
  }
  const char *p = d->src + d->cached_offset, *end = d->src + d->src_len;
  for (int l = d->cached_line; l < line; l++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
      return NULL;
    p = nl + 1;
  }
  d->cached_line = line;
  d->cached_offset = (size_t)(p - d->src);
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  *len = (size_t)((nl ? nl : end) - p);
  if (*len && p[*len - 1] == '\r')
    (*len)--;
  return p;
}

static void print_source(Diag *d, Loc loc) {
  size_t len;
  const char *line = d->src ? line_start(d, loc.first_line, &len) : NULL;
  if (!line)
    return;
  int width = fprintf(d->out, "%5d", loc.first_line);
  fprintf(d->out, " | %.*s\n", (int)len, line);
  fprintf(d->out, "%*s | ", width, "");
  size_t start = loc.first_column > 0 ? (size_t)loc.first_column - 1 : 0;
  if (start > len)
    start = len;
  for (size_t i = 0; i < start; i++) {
    unsigned char c = (unsigned char)line[i];
    if (c == '\t')
      fputc('\t', d->out);
    else if ((c & 0xC0) != 0x80) /* one column per character, not per UTF-8 byte */
      fputc(' ', d->out);
  }
  size_t end = loc.last_line == loc.first_line && loc.last_column > loc.first_column
                   ? (size_t)loc.last_column - 1
                   : len;
  if (end > len)
    end = len;
  fputs(d->color ? GREEN "^" : "^", d->out);
  for (size_t i = start + 1; i < end; i++)
    if (((unsigned char)line[i] & 0xC0) != 0x80)
      fputc('~', d->out);
  fputs(d->color ? RESET "\n" : "\n", d->out);
}

bool diag_full(const Diag *d) { return d->suppressed; }

void diag_at(Diag *d, DiagLevel level, Loc loc, const char *fmt, ...) {
  bool promoted = level == DIAG_WARNING && d->werror;
  if (promoted)
    level = DIAG_ERROR;
  if (level == DIAG_ERROR && d->errors >= MAX_ERRORS) {
    if (!d->suppressed && d->out)
      fprintf(d->out, "%s: note: stopping after %d errors\n", d->filename, MAX_ERRORS);
    d->suppressed = true;
  }
  if (d->suppressed)
    return;
  if (level == DIAG_ERROR)
    d->errors++;
  else if (level == DIAG_WARNING)
    d->warnings++;
  if (!d->out)
    return;

  static const char *const names[] = {"error", "warning", "note"};
  static const char *const colors[] = {RED, MAGENTA, CYAN};
  if (d->color)
    fputs(BOLD, d->out);
  if (loc.first_line > 0)
    fprintf(d->out, "%s:%d:%d: ", d->filename, loc.first_line, loc.first_column);
  else
    fprintf(d->out, "%s: ", d->filename);
  if (d->color)
    fprintf(d->out, "%s%s:" RESET BOLD " ", colors[level], names[level]);
  else
    fprintf(d->out, "%s: ", names[level]);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(d->out, fmt, ap);
  va_end(ap);
  if (promoted)
    fputs(" [-Werror]", d->out);
  fputs(d->color ? RESET "\n" : "\n", d->out);
  if (loc.first_line > 0)
    print_source(d, loc);
}

/* Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), capped. */
static int edit_distance(const char *a, const char *b, int cap) {
  int n = (int)strlen(a), m = (int)strlen(b);
  if (abs(n - m) > cap || m > 64)
    return cap + 1;
  int rows[3][66], *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
  for (int j = 0; j <= m; j++)
    prev[j] = j;
  for (int i = 1; i <= n; i++) {
    cur[0] = i;
    int best = cur[0];
    for (int j = 1; j <= m; j++) {
      int cost = a[i - 1] != b[j - 1];
      int v = prev[j - 1] + cost;
      if (prev[j] + 1 < v)
        v = prev[j] + 1;
      if (cur[j - 1] + 1 < v)
        v = cur[j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < v)
        v = prev2[j - 2] + 1;
      cur[j] = v;
      if (v < best)
        best = v;
    }
    if (best > cap)
      return cap + 1;
    int *t = prev2;
    prev2 = prev;
    prev = cur;
    cur = t;
  }
  return prev[m];
}

const char *closest_name(const char *name, const char *const *candidates, int n) {
  int len = (int)strlen(name);
  if (len <= 2) /* every short name is one edit from another: no guess is better than a wild one */
    return NULL;
  int cap = (len + 2) / 3;
  const char *best = NULL;
  int best_d = cap + 1;
  for (int i = 0; i < n; i++) {
    int dist = edit_distance(name, candidates[i], cap);
    if (dist < best_d && dist > 0) {
      best = candidates[i];
      best_d = dist;
    }
  }
  return best;
}
