/* plot.c: the training-history picture of `train --plot FILE.svg` (spec §10): an SVG with one
 * panel per `panel` value (losses, then validation metrics) side by side, each with integer
 * epoch ticks, "nice" 1-2-5 value ticks, a light grid and a legend below it. A task's curves
 * share a colour (Okabe-Ito, safe for colour-blind readers) in every panel; validation curves
 * are dashed with hollow markers, and a task's metrics differ by marker and dash pattern.
 * Curves are grouped by their labels as the trainer writes them ("seg loss", "val seg loss",
 * "val seg accuracy": task "seg", kind "loss" or "accuracy"). A loss panel whose values span
 * more than LOG_RATIO turns logarithmic, so that an MSE in the hundreds and a cross-entropy
 * below one both stay readable. NaN and infinite values leave gaps; a lone value is a marker.
 * Numbers are formatted without printf's %f, so the file does not depend on the locale.
 * Nothing is allocated: the picture goes through stdio to a temporary file beside the target,
 * which is flushed, synced and renamed into place.
 */
#define _POSIX_C_SOURCE 200809L

#include "mtlrt_train.h"
#include "../io/files.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
  MAX_PANELS = 4,   /* panels drawn; curves of further panel values are left out */
  MAX_PLOTTED = 512,/* curves drawn; further curves are left out */
  PLOT_W = 400,     /* plot area of a panel, in px */
  PLOT_H = 260,
  TOP = 74,         /* top of the plot areas: room for the title and the panel titles */
  GAP = 40,         /* between panels */
  ROW_H = 20,       /* a legend row */
  SAMPLE_W = 28,    /* a legend's line sample */
  MARKER_MAX_EPOCHS = 30,
  LOG_RATIO = 100,  /* max/min of a loss panel's values above which its axis is logarithmic */
};

#define FONT "Helvetica, Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif"
#define VALUE_LIMIT 1e307 /* values are pinned to ±VALUE_LIMIT so spans stay finite */

/* Okabe & Ito (2008), reordered for a white background; their yellow is too pale for lines. */
static const char *const palette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                      "#CC79A7", "#56B4E9", "#555555", "#B59F00"};
static const char *const dashes[] = {"7 4", "2 3", "10 3 2 3", "4 2", "12 4"};
enum { NPALETTE = sizeof palette / sizeof palette[0], NDASHES = sizeof dashes / sizeof dashes[0] };
enum { NSHAPES = 5 }; /* circle, square, triangle, diamond, inverted triangle */

/* ---- output: a locale-free formatter over stdio ---- */

/* Appends v rounded to 0.1, the resolution of every coordinate. */
static void put_num(FILE *f, double v) {
  if (!(v > -1e7))
    v = -1e7;
  if (v > 1e7)
    v = 1e7;
  long t = lround(v * 10);
  if (t < 0)
    fputc('-', f), t = -t;
  fprintf(f, "%ld", t / 10);
  if (t % 10)
    fprintf(f, ".%ld", t % 10);
}

/* Decodes one UTF-8 character of s, setting *len; invalid bytes, controls and the characters
 * XML 1.0 forbids become U+FFFD, tabs and newlines a space. */
static uint32_t next_char(const unsigned char *s, int *len) {
  uint32_t c = s[0];
  *len = 1;
  if (c < 0x80)
    return c == '\t' || c == '\n' || c == '\r' ? ' ' : c < 0x20 || c == 0x7f ? 0xFFFD : c;
  int n = c >= 0xF0 && c <= 0xF4 ? 3 : c >= 0xE0 ? (c < 0xF0 ? 2 : 0) : c >= 0xC2 ? 1 : 0;
  if (n == 0)
    return 0xFFFD;
  c &= 0x3F >> n;
  for (int i = 1; i <= n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0xFFFD;
    c = c << 6 | (s[i] & 0x3F);
  }
  static const uint32_t least[] = {0, 0x80, 0x800, 0x10000};
  if (c < least[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF) || c == 0xFFFE || c == 0xFFFF ||
      (c >= 0x80 && c < 0xA0))
    return 0xFFFD;
  *len = n + 1;
  return c;
}

static void put_char(FILE *f, uint32_t c) {
  switch (c) {
  case '&': fputs("&amp;", f); return;
  case '<': fputs("&lt;", f); return;
  case '>': fputs("&gt;", f); return;
  case '"': fputs("&quot;", f); return;
  case '\'': fputs("&apos;", f); return;
  }
  if (c < 0x80) {
    fputc((int)c, f);
  } else if (c < 0x800) {
    fputc((int)(0xC0 | c >> 6), f), fputc((int)(0x80 | (c & 0x3F)), f);
  } else if (c < 0x10000) {
    fputc((int)(0xE0 | c >> 12), f), fputc((int)(0x80 | (c >> 6 & 0x3F)), f);
    fputc((int)(0x80 | (c & 0x3F)), f);
  } else {
    fputc((int)(0xF0 | c >> 18), f), fputc((int)(0x80 | (c >> 12 & 0x3F)), f);
    fputc((int)(0x80 | (c >> 6 & 0x3F)), f), fputc((int)(0x80 | (c & 0x3F)), f);
  }
}

/* Width of a character in em, after Helvetica/Arial's metrics and 4% more (DejaVu Sans is ~8%
 * wider, so a label cut to fit may still overrun a little there). */
static double char_em(uint32_t c) {
  static const unsigned char ascii[95] = {
      /* ' ' to '/' */ 28, 28, 36, 56, 56, 89, 67, 19, 33, 33, 39, 58, 28, 33, 28, 28,
      /* '0' to '?' */ 56, 56, 56, 56, 56, 56, 56, 56, 56, 56, 28, 28, 58, 58, 58, 56,
      /* '@' to 'O' */ 102, 67, 67, 72, 72, 67, 61, 78, 72, 28, 50, 67, 56, 83, 72, 78,
      /* 'P' to '_' */ 67, 78, 72, 67, 61, 72, 67, 94, 67, 67, 61, 28, 28, 28, 47, 56,
      /* '`' to 'o' */ 33, 56, 56, 50, 56, 56, 28, 56, 56, 22, 22, 50, 22, 83, 56, 56,
      /* 'p' to '~' */ 56, 56, 33, 50, 28, 56, 50, 72, 50, 50, 50, 33, 26, 33, 58};
  return 1.04 * (c >= 0x20 && c < 0x7f ? ascii[c - 0x20] / 100.0 : c < 0x3000 ? 0.62 : 1.0);
}

/* How many bytes of s fit in max_px at font size px, with "…" when cut; *w gets the width. */
static size_t fit(const char *s, double px, double max_px, bool *cut, double *w) {
  const unsigned char *u = (const unsigned char *)(s ? s : "");
  double total = 0;
  int len;
  for (size_t i = 0; u[i]; i += (size_t)len)
    total += char_em(next_char(u + i, &len)) * px;
  *cut = total > max_px;
  if (!*cut) {
    *w = total;
    return strlen((const char *)u);
  }
  double used = 0, room = max_px - 1.0 * px; /* "…" */
  size_t i = 0;
  for (; u[i]; i += (size_t)len) {
    double cw = char_em(next_char(u + i, &len)) * px;
    if (used + cw > room)
      break;
    used += cw;
  }
  while (i > 0 && u[i - 1] == ' ')
    i--;
  *w = used + 1.0 * px;
  return i;
}

/* Appends the first n bytes of s escaped for XML, then "…" if cut. */
static void put_text(FILE *f, const char *s, size_t n, bool cut) {
  const unsigned char *u = (const unsigned char *)(s ? s : "");
  int len;
  for (size_t i = 0; i < n && u[i]; i += (size_t)len)
    put_char(f, next_char(u + i, &len));
  if (cut)
    put_char(f, 0x2026);
}

/* A tiny printf: %d int, %s raw string, %g a coordinate (double), %% a percent sign. */
static void out(FILE *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  for (const char *p = fmt; *p; p++) {
    if (*p != '%') {
      fputc(*p, f);
      continue;
    }
    switch (*++p) {
    case 'd': fprintf(f, "%d", va_arg(ap, int)); break;
    case 's': fputs(va_arg(ap, const char *), f); break;
    case 'g': put_num(f, va_arg(ap, double)); break;
    default: fputc(*p, f); break;
    }
  }
  va_end(ap);
}

/* A <text> element; anchor is "start", "middle" or "end"; text is cut to max_px. */
static void text(FILE *f, double x, double y, int px, const char *anchor, const char *attrs,
                 const char *s, double max_px) {
  bool cut;
  double w; /* bold text is ~10% wider */
  size_t n = fit(s, strstr(attrs, "bold") ? 1.1 * px : px, max_px, &cut, &w);
  out(f, "<text x=\"%g\" y=\"%g\" font-size=\"%d\" text-anchor=\"%s\"%s>", x, y, px, anchor, attrs);
  put_text(f, s, n, cut);
  if (cut) {
    fputs("<title>", f);
    put_text(f, s, strlen(s), false);
    fputs("</title>", f);
  }
  fputs("</text>\n", f);
}

/* ---- numbers on axes ---- */

/* Writes the tick label n×10^d (exactly, from integers) into buf, with a minus sign. */
static void tick_label(char *buf, size_t cap, long long n, int d) {
  char digits[64];
  size_t k = 0;
  if (n < 0)
    k += (size_t)snprintf(buf + k, cap - k, "\xe2\x88\x92"); /* U+2212 minus */
  unsigned long long a = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
  int nd = snprintf(digits, sizeof digits, "%llu", a);
  if (d >= 0) {
    snprintf(buf + k, cap - k, "%s%.*s", a ? digits : "0", a ? d : 0, "000000000000000000000000");
    return;
  }
  int frac = -d;
  if (nd <= frac)
    snprintf(buf + k, cap - k, "0.%.*s%s", frac - nd, "000000000000000000000000", digits);
  else
    snprintf(buf + k, cap - k, "%.*s.%s", nd - frac, digits, digits + nd - frac);
}

/* Superscript digits for "×10ⁿ". */
static void superscript(char *buf, size_t cap, int e) {
  static const char *const sup[] = {"\xe2\x81\xb0", "\xc2\xb9", "\xc2\xb2", "\xc2\xb3", "\xe2\x81\xb4",
                                    "\xe2\x81\xb5", "\xe2\x81\xb6", "\xe2\x81\xb7", "\xe2\x81\xb8", "\xe2\x81\xb9"};
  char digits[16];
  size_t k = 0;
  buf[0] = '\0';
  if (e < 0)
    k += (size_t)snprintf(buf + k, cap - k, "\xe2\x81\xbb"), e = -e;
  snprintf(digits, sizeof digits, "%d", e);
  for (const char *p = digits; *p && k < cap; p++)
    k += (size_t)snprintf(buf + k, cap - k, "%s", sup[*p - '0']);
}

typedef struct Axis {
  double lo, hi;    /* the value range of the plot area (log10 of it on a log axis) */
  bool log;
  double step;      /* linear: m×10^e; log: decades between labelled ticks */
  int m, e;
  int exp10;        /* linear: labels show value/10^exp10 (0: none) */
  bool sub;         /* log: 2× and 5× ticks too */
} Axis;

static double axis_pos(const Axis *a, double v) {
  return a->log ? log10(v) : v;
}

/* Linear ticks: the smallest 1-2-5 step that gives at most max_ticks ticks in [lo, hi]. */
static void linear_ticks(Axis *a, int max_ticks) {
  double span = a->hi - a->lo;
  int e = (int)floor(log10(span / max_ticks)) - 1;
  static const int ms[] = {1, 2, 5};
  for (;; e++) {
    for (int i = 0; i < 3; i++) {
      double step = ms[i] * pow(10, e);
      if (floor(a->hi / step) - ceil(a->lo / step) + 1 <= max_ticks) {
        a->m = ms[i], a->e = e, a->step = step;
        double big = fmax(fabs(ceil(a->lo / step)), fabs(floor(a->hi / step))) * step;
        a->exp10 = big >= 1e6 || (big > 0 && big < 1e-3) ? (int)floor(log10(big)) : 0;
        return;
      }
    }
  }
}

/* The label of linear tick k (value k×m×10^e). */
static void linear_label(const Axis *a, long long k, char *buf, size_t cap) {
  tick_label(buf, cap, k * a->m, a->e - a->exp10);
}

/* The label of log tick m×10^e. */
static void log_label(int m, int e, char *buf, size_t cap) {
  if (e >= -4 && e <= 5) {
    tick_label(buf, cap, m, e);
    return;
  }
  char sup[64];
  superscript(sup, sizeof sup, e);
  if (m == 1)
    snprintf(buf, cap, "10%s", sup);
  else
    snprintf(buf, cap, "%d\xc3\x97" "10%s", m, sup);
}

/* Calls visit(a, value position, label) for every labelled tick. */
typedef struct TickIter {
  const Axis *a;
  long long k, kmax; /* linear: tick k; log: decade k */
  int sub;           /* log: 0, 1, 2 for 1×, 2×, 5× */
} TickIter;

static void ticks_begin(TickIter *t, const Axis *a) {
  t->a = a;
  t->sub = 0;
  if (a->log) {
    t->k = (long long)floor(a->lo);
    t->kmax = (long long)ceil(a->hi);
  } else {
    t->k = (long long)ceil(a->lo / a->step);
    t->kmax = (long long)floor(a->hi / a->step);
  }
}

static bool ticks_next(TickIter *t, double *pos, char *label, size_t cap) {
  const Axis *a = t->a;
  if (!a->log) {
    if (t->k > t->kmax)
      return false;
    *pos = (double)t->k * a->step;
    linear_label(a, t->k, label, cap);
    t->k++;
    return true;
  }
  static const int mult[] = {1, 2, 5};
  for (; t->k <= t->kmax; t->sub = 0, t->k++) {
    for (; t->sub < 3; t->sub++) {
      if (t->sub > 0 && !a->sub)
        break;
      long long stride = (long long)a->step;
      if (t->k % stride != 0)
        break;
      double p = (double)t->k + log10(mult[t->sub]);
      if (p < a->lo || p > a->hi)
        continue;
      *pos = p;
      log_label(mult[t->sub], (int)t->k, label, cap);
      t->sub++;
      return true;
    }
  }
  return false;
}

/* ---- the figure ---- */

typedef struct Panel {
  int id;          /* the curves' panel value */
  double x0, y0;   /* top left of the plot area */
  Axis y;
  double tick_w;   /* widest value label */
  int nlegend, cols, rows;
  double col_w;
} Panel;

typedef struct Curve {
  int panel;       /* index into panels, -1 when not drawn */
  int color, style;
  bool any;        /* has a finite value */
} Curve;

static double value_at(const mtlrt_curve *c, int i) {
  double v = c->y ? c->y[i] : NAN;
  if (!isfinite(v))
    return NAN;
  return v > VALUE_LIMIT ? VALUE_LIMIT : v < -VALUE_LIMIT ? -VALUE_LIMIT : v;
}

/* A label's task ("seg" of "val seg accuracy") and kind ("accuracy"), as byte ranges. */
static void split_label(const char *s, const char **task, size_t *task_len, const char **kind) {
  static const char *const prefixes[] = {"validation ", "valid ", "val ", "training ", "train "};
  if (!s)
    s = "";
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
    size_t n = strlen(prefixes[i]), j = 0;
    while (j < n && s[j] && (s[j] | 0x20) == prefixes[i][j])
      j++;
    if (j == n && s[n]) {
      s += n;
      break;
    }
  }
  const char *space = strchr(s, ' ');
  *task = s;
  *task_len = space ? (size_t)(space - s) : strlen(s);
  *kind = space ? space + 1 : "";
}

static bool same_task(const char *a, const char *b) {
  const char *ta, *tb, *ka, *kb;
  size_t la, lb;
  split_label(a, &ta, &la, &ka);
  split_label(b, &tb, &lb, &kb);
  return la == lb && memcmp(ta, tb, la) == 0;
}

static bool same_kind(const char *a, const char *b) {
  const char *ta, *tb, *ka, *kb;
  size_t la, lb;
  split_label(a, &ta, &la, &ka);
  split_label(b, &tb, &lb, &kb);
  return strcmp(ka, kb) == 0;
}

static void marker(FILE *f, int shape, double x, double y, const char *color, bool hollow) {
  const char *fill = hollow ? "#ffffff" : color;
  double r = 3.3;
  switch (shape % NSHAPES) {
  case 0:
    out(f, "<circle cx=\"%g\" cy=\"%g\" r=\"%g\" fill=\"%s\" stroke=\"%s\"/>", x, y, r, fill, color);
    break;
  case 1:
    r = 3;
    out(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"%s\" stroke=\"%s\"/>", x - r, y - r, 2 * r,
        2 * r, fill, color);
    break;
  case 2:
  case 4: {
    double s = shape % NSHAPES == 2 ? 1 : -1;
    r = 4;
    out(f, "<path d=\"M%g %gL%g %gL%g %gZ\" fill=\"%s\" stroke=\"%s\"/>", x, y - s * r, x + 0.87 * r,
        y + s * 0.5 * r, x - 0.87 * r, y + s * 0.5 * r, fill, color);
    break;
  }
  default:
    r = 4;
    out(f, "<path d=\"M%g %gL%g %gL%g %gL%g %gZ\" fill=\"%s\" stroke=\"%s\"/>", x, y - r, x + r * 0.8, y, x,
        y + r, x - r * 0.8, y, fill, color);
  }
}

static void line_attrs(FILE *f, const mtlrt_curve *c, const Curve *k) {
  out(f, " fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\"",
      palette[k->color % NPALETTE]);
  if (c->dashed)
    out(f, " stroke-dasharray=\"%s\"", dashes[k->style % NDASHES]);
  else
    fputs(" stroke-linecap=\"round\"", f);
}

typedef struct Figure {
  int epochs;
  double xlo, xhi;   /* the epoch range of the plot areas */
  int xstep;         /* epochs between ticks */
  bool markers;
} Figure;

static double px_x(const Figure *g, const Panel *p, double epoch) {
  return p->x0 + (epoch - g->xlo) / (g->xhi - g->xlo) * PLOT_W;
}

static double px_y(const Panel *p, double v) {
  double t = (axis_pos(&p->y, v) - p->y.lo) / (p->y.hi - p->y.lo);
  return p->y0 + PLOT_H - t * PLOT_H;
}

static void draw_curve(FILE *f, const Figure *g, const Panel *p, const mtlrt_curve *c, const Curve *k) {
  const char *color = palette[k->color % NPALETTE];
  fputs("<g><title>", f);
  put_text(f, c->label, strlen(c->label ? c->label : ""), false);
  fputs("</title>\n<path d=\"", f);
  for (int i = 0; i < g->epochs; i++) {
    double v = value_at(c, i);
    if (isnan(v))
      continue;
    bool first = i == 0 || isnan(value_at(c, i - 1)), last = i + 1 == g->epochs || isnan(value_at(c, i + 1));
    if (first && last)
      continue;
    out(f, "%s%g %g", first ? "M" : "L", px_x(g, p, i + 1), px_y(p, v));
  }
  fputs("\"", f);
  line_attrs(f, c, k);
  fputs("/>\n", f);
  for (int i = 0; i < g->epochs; i++) {
    double v = value_at(c, i);
    bool lone = !isnan(v) && (i == 0 || isnan(value_at(c, i - 1))) &&
                (i + 1 == g->epochs || isnan(value_at(c, i + 1)));
    if (!isnan(v) && (g->markers || lone)) {
      marker(f, k->style, px_x(g, p, i + 1), px_y(p, v), color, c->dashed);
      fputc('\n', f);
    }
  }
  fputs("</g>\n", f);
}

/* Fixes the value axis of a panel from its curves' finite values. */
static void panel_axis(Panel *p, const mtlrt_curve *curves, const Curve *k, int ncurves, int epochs,
                       int pi) {
  double lo = INFINITY, hi = -INFINITY;
  for (int c = 0; c < ncurves; c++)
    if (k[c].panel == pi)
      for (int i = 0; i < epochs; i++) {
        double v = value_at(&curves[c], i);
        if (!isnan(v))
          lo = fmin(lo, v), hi = fmax(hi, v);
      }
  Axis *a = &p->y;
  memset(a, 0, sizeof *a);
  if (lo > hi) {
    lo = 0, hi = 1;
  } else if (p->id == 0 && lo > 0 && hi / lo > LOG_RATIO) {
    a->log = true;
    lo = log10(lo), hi = log10(hi);
  } else if (p->id != 0 && lo >= 0 && hi <= 1) {
    lo = 0, hi = 1;
  }
  double mag = fmax(fabs(lo), fabs(hi));
  if (hi - lo <= 1e-7 * mag || hi - lo == 0) {
    double d = mag > 0 ? 0.05 * mag : 0.05;
    lo -= d, hi += d;
  }
  double margin = 0.05 * (hi - lo);
  a->lo = lo - margin, a->hi = hi + margin;
  if (a->log) {
    double decades = a->hi - a->lo;
    a->sub = decades < 2.5;
    a->step = ceil(decades / 7);
  } else {
    linear_ticks(a, 6);
  }
  TickIter t;
  char label[96];
  double pos;
  p->tick_w = 0;
  for (ticks_begin(&t, a); ticks_next(&t, &pos, label, sizeof label);) {
    bool cut;
    double w;
    fit(label, 11, 1e9, &cut, &w);
    p->tick_w = fmax(p->tick_w, w);
  }
}

static void draw_panel(FILE *f, const Figure *g, const Panel *p, int pi, const mtlrt_curve *curves,
                       const Curve *k, int ncurves, double legend_top) {
  double x0 = p->x0, y0 = p->y0, x1 = x0 + PLOT_W, y1 = y0 + PLOT_H;
  const char *name = p->id == 0 ? "Loss" : p->id == 1 ? "Validation metrics" : "Values";
  const char *ylabel = p->id == 0 ? (p->y.log ? "loss (log scale)" : "loss") : "value";
  text(f, x0 + PLOT_W / 2.0, y0 - 14, 13, "middle", " font-weight=\"bold\" fill=\"#222222\"", name, PLOT_W);

  /* grid and ticks */
  TickIter t;
  char label[96];
  double pos;
  fputs("<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n", f);
  for (ticks_begin(&t, &p->y); ticks_next(&t, &pos, label, sizeof label);) {
    double y = y0 + PLOT_H - (pos - p->y.lo) / (p->y.hi - p->y.lo) * PLOT_H;
    out(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>\n", x0, y, x1, y);
  }
  for (int e = g->xstep; e <= g->epochs; e += g->xstep)
    out(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>\n", px_x(g, p, e), y0, px_x(g, p, e), y1);
  fputs("</g>\n", f);

  for (int c = 0; c < ncurves; c++)
    if (k[c].panel == pi && k[c].any)
      draw_curve(f, g, p, &curves[c], &k[c]);

  /* axes on top of the curves: left and bottom spines, outward ticks */
  out(f, "<path d=\"M%g %gV%gH%g\" fill=\"none\" stroke=\"#555555\" stroke-width=\"1\"/>\n", x0, y0, y1, x1);
  fputs("<g fill=\"#444444\">\n", f);
  for (ticks_begin(&t, &p->y); ticks_next(&t, &pos, label, sizeof label);) {
    double y = y0 + PLOT_H - (pos - p->y.lo) / (p->y.hi - p->y.lo) * PLOT_H;
    out(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#555555\"/>\n", x0 - 5, y, x0, y);
    text(f, x0 - 8, y + 4, 11, "end", "", label, 1e9);
  }
  for (int e = g->xstep; e <= g->epochs; e += g->xstep) {
    char num[16];
    snprintf(num, sizeof num, "%d", e);
    out(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#555555\"/>\n", px_x(g, p, e), y1,
        px_x(g, p, e), y1 + 5);
    text(f, px_x(g, p, e), y1 + 18, 11, "middle", "", num, 1e9);
  }
  if (p->y.exp10) {
    char sup[64], off[96];
    superscript(sup, sizeof sup, p->y.exp10);
    snprintf(off, sizeof off, "\xc3\x97" "10%s", sup);
    text(f, x0, y0 - 4, 11, "start", "", off, 1e9);
  }
  fputs("</g>\n<g fill=\"#222222\">\n", f);
  text(f, x0 + PLOT_W / 2.0, y1 + 38, 12, "middle", "", "epoch", 1e9);
  double ly = y0 + PLOT_H / 2.0, lx = x0 - p->tick_w - 16;
  char attrs[96];
  snprintf(attrs, sizeof attrs, " transform=\"rotate(-90 %d %d)\"", (int)lx, (int)ly);
  text(f, (int)lx, (int)ly, 12, "middle", attrs, ylabel, PLOT_H);
  fputs("</g>\n", f);

  /* the legend, row by row below the axis */
  int n = 0;
  for (int c = 0; c < ncurves; c++) {
    if (k[c].panel != pi || !k[c].any)
      continue;
    double x = x0 + (n % p->cols) * p->col_w, y = legend_top + (n / p->cols) * ROW_H;
    const char *color = palette[k[c].color % NPALETTE];
    out(f, "<g><path d=\"M%g %gH%g\"", x, y, x + SAMPLE_W);
    line_attrs(f, &curves[c], &k[c]);
    fputs("/>", f);
    if (g->markers)
      marker(f, k[c].style, x + SAMPLE_W / 2.0, y, color, curves[c].dashed);
    text(f, x + SAMPLE_W + 7, y + 4, 12, "start", " fill=\"#222222\"", curves[c].label,
         p->col_w - SAMPLE_W - 14);
    fputs("</g>\n", f);
    n++;
  }
}

static void write_svg(FILE *f, const char *title, int epochs, const mtlrt_curve *curves, int ncurves) {
  Curve k[MAX_PLOTTED];
  Panel panels[MAX_PANELS];
  int npanels = 0;
  if (ncurves > MAX_PLOTTED)
    ncurves = MAX_PLOTTED;

  /* panels in increasing order of their value, among curves that have data */
  for (int c = 0; c < ncurves; c++) {
    k[c] = (Curve){.panel = -1};
    for (int i = 0; i < epochs && !k[c].any; i++)
      k[c].any = !isnan(value_at(&curves[c], i));
  }
  for (;;) {
    bool found = false;
    int best = 0;
    for (int c = 0; c < ncurves; c++) {
      if (!k[c].any || (npanels > 0 && curves[c].panel <= panels[npanels - 1].id))
        continue;
      if (!found || curves[c].panel < best)
        best = curves[c].panel, found = true;
    }
    if (!found || npanels == MAX_PANELS)
      break;
    panels[npanels++] = (Panel){.id = best};
  }
  if (npanels == 0)
    panels[npanels++] = (Panel){.id = ncurves > 0 ? curves[0].panel : 0};

  /* colours by task in order of appearance, styles by kind within a panel */
  int ntasks = 0;
  bool first_kind[MAX_PLOTTED];
  for (int c = 0; c < ncurves; c++) {
    for (int p = 0; p < npanels; p++)
      if (curves[c].panel == panels[p].id && k[c].any)
        k[c].panel = p;
    int j = 0;
    while (j < c && !same_task(curves[j].label, curves[c].label))
      j++;
    k[c].color = j < c ? k[j].color : ntasks++;
    int kinds = 0;
    for (j = 0; j < c; j++) {
      if (curves[j].panel != curves[c].panel)
        continue;
      if (same_kind(curves[j].label, curves[c].label))
        break;
      kinds += first_kind[j];
    }
    first_kind[c] = j == c;
    k[c].style = j < c ? k[j].style : kinds;
  }

  Figure g = {.epochs = epochs};
  double pad = epochs <= 1 ? 1 : fmax(0.4, 0.03 * (epochs - 1));
  g.xlo = 1 - pad, g.xhi = (epochs < 1 ? 1 : epochs) + pad;
  int digits = snprintf(NULL, 0, "%d", epochs < 1 ? 1 : epochs);
  int max_xticks = (int)(PLOT_W / (digits * 6.2 + 22));
  static const int steps[] = {1, 2, 5};
  for (int s = 0;; s++) {
    long long step = steps[s % 3];
    for (int i = 0; i < s / 3; i++)
      step *= 10;
    if (epochs / step <= max_xticks || step > epochs) {
      g.xstep = (int)step;
      break;
    }
  }
  g.markers = epochs <= MARKER_MAX_EPOCHS;

  /* layout: panels side by side, legends below them */
  double x = 14;
  int rows = 0;
  for (int p = 0; p < npanels; p++) {
    Panel *P = &panels[p];
    panel_axis(P, curves, k, ncurves, epochs, p);
    P->x0 = x + 18 + 12 + P->tick_w + 9;
    P->y0 = TOP;
    x = P->x0 + PLOT_W + GAP;
    double widest = 0;
    P->nlegend = 0;
    for (int c = 0; c < ncurves; c++) {
      if (k[c].panel != p || !k[c].any)
        continue;
      bool cut;
      double w;
      fit(curves[c].label, 12, 1e9, &cut, &w);
      widest = fmax(widest, w);
      P->nlegend++;
    }
    P->cols = widest + SAMPLE_W + 24 <= PLOT_W / 2.0 && P->nlegend > 1 ? 2 : 1;
    P->col_w = PLOT_W / (double)P->cols;
    P->rows = (P->nlegend + P->cols - 1) / P->cols;
    rows = P->rows > rows ? P->rows : rows;
  }
  double width = x - GAP + 24, legend_top = TOP + PLOT_H + 62;
  double height = legend_top + rows * ROW_H + (rows ? 4 : -18);

  out(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
         "font-family=\"%s\">\n",
      ceil(width), ceil(height), ceil(width), ceil(height), FONT);
  fputs("<title>", f);
  put_text(f, title ? title : "training history", strlen(title ? title : "training history"), false);
  fputs("</title>\n", f);
  out(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
  if (title && *title)
    text(f, width / 2, 28, 14, "middle", " font-weight=\"bold\" fill=\"#111111\"", title, width - 40);
  for (int p = 0; p < npanels; p++)
    draw_panel(f, &g, &panels[p], p, curves, k, ncurves, legend_top);
  bool any = false;
  for (int c = 0; c < ncurves; c++)
    any |= k[c].any;
  if (!any)
    text(f, panels[0].x0 + PLOT_W / 2.0, TOP + PLOT_H / 2.0, 13, "middle", " fill=\"#888888\"",
         epochs < 1 ? "no epochs yet" : "no values yet", PLOT_W);
  fputs("</svg>\n", f);
}

/* ---- the file ---- */

#define fail mtlrt_file_error /* "FILE: message" into err; returns -1 */

int mtlrt_plot_svg(const char *path, const char *title, int epochs, const mtlrt_curve *curves,
                   int ncurves, char *err, size_t errlen) {
  if (!path || !*path)
    return fail(err, errlen, "(null)", "no file name for the plot");
  if (ncurves < 0 || (ncurves > 0 && !curves))
    return fail(err, errlen, path, "no curves to plot");
  if (epochs < 0)
    epochs = 0;

  char tmp[4200];
  const char *why;
  FILE *f = mtlrt_atomic_create(path, tmp, sizeof tmp, &why);
  if (!f)
    return fail(err, errlen, path, "cannot write the plot: %s", why);
  write_svg(f, title, epochs, curves, ncurves);
  if (mtlrt_atomic_commit(f, 0, tmp, path, &why))
    return fail(err, errlen, path, "cannot write the plot: %s", why);
  return 0;
}
