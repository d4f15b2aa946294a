/*
** plot.c — training curves (--plot, `graphrun plot`): the metrics CSV
** parsed with located errors, then drawn as plain SVG text.
**
** The picture: perplexity (log scale, gridlines at 1, 2, 5 x 10^k) against
** the epoch; per run one colour, valid solid with dots, train dashed; a
** learning-rate drop (lr smaller than the epoch before) is a dotted
** vertical line in the run's colour just before the epoch, labelled with
** the new rate.  The legend sits right of the plot.
*/
#include "plot.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { COL_EPOCH, COL_TRAIN, COL_VALID, COL_LR, NCOL };
static const char *col_name[NCOL] = { "epoch", "train_ppl", "valid_ppl", "lr" };

void plot_run_free(PlotRun *r) {
  free(r->name); free(r->epoch); free(r->train); free(r->valid); free(r->lr);
  memset(r, 0, sizeof *r);
}

/* The field of a CSV line starting at p: its length (up to ',' or end). */
static size_t field_len(const char *p) { return strcspn(p, ",\r\n"); }

int plot_parse(const char *path, const char *text, const char *name, PlotRun *r, Err *e) {
  memset(r, 0, sizeof r[0]);
  int at[NCOL] = { -1, -1, -1, -1 }, ncols = 0;
  const char *p = text;
  /* header: the columns by name */
  for (int c = 0;; c++) {
    size_t k = field_len(p);
    for (int j = 0; j < NCOL; j++)
      if (k == strlen(col_name[j]) && !strncmp(p, col_name[j], k)) at[j] = c;
    ncols = c + 1;
    p += k;
    if (*p != ',') break;
    p++;
  }
  for (int j = 0; j < COL_LR; j++)
    if (at[j] < 0)
      return err_set(e, "%s:1:1: error: no '%s' column: expected a header like "
                        "epoch,train_ppl,valid_ppl,lr (as --metrics writes)", path, col_name[j]);
  size_t cap = 16;
  double *v[NCOL];
  for (int j = 0; j < NCOL; j++) v[j] = xmalloc(cap * sizeof(double));
  int n = 0, line = 1;
  while (*p) {
    if (*p == '\r') p++;
    if (*p == '\n') p++;
    if (!*p) break;
    line++;
    if (*p == '\n' || *p == '\r') continue;            /* blank line */
    if ((size_t)n == cap) { cap *= 2; for (int j = 0; j < NCOL; j++) v[j] = xrealloc(v[j], cap * sizeof(double)); }
    const char *start = p;
    for (int j = 0; j < NCOL; j++) v[j][n] = NAN;
    int c = 0;
    for (;; c++) {
      size_t k = field_len(p);
      for (int j = 0; j < NCOL; j++) {
        if (at[j] != c) continue;
        char num[64], *end;
        snprintf(num, sizeof num, "%.*s", (int)(k < 63 ? k : 63), p);
        double x = strtod(num, &end);
        int ok = k > 0 && k < 63 && !*end && isfinite(x) && (j == COL_EPOCH || x > 0);
        if (!ok) {
          err_at(e, (Loc){ path, line, (int)(p - start) + 1 }, "expected a %s number in column '%s', got '%.*s'",
                 j == COL_EPOCH ? "finite" : "positive", col_name[j], (int)(k < 40 ? k : 40), p);
          goto fail;
        }
        v[j][n] = x;
      }
      p += k;
      if (*p != ',') break;
      p++;
    }
    if (c + 1 != ncols) {
      err_at(e, (Loc){ path, line, (int)(p - start) + 1 }, "expected %d comma-separated fields as in the header, got %d", ncols, c + 1);
      goto fail;
    }
    if (n && !(v[COL_EPOCH][n] > v[COL_EPOCH][n - 1])) {
      err_at(e, (Loc){ path, line, 1 }, "epochs must increase: %g after %g", v[COL_EPOCH][n], v[COL_EPOCH][n - 1]);
      goto fail;
    }
    n++;
  }
  if (!n) { err_set(e, "%s:2:1: error: no data rows after the header", path); goto fail; }
  r->name = xstrdup(name); r->n = n;
  r->epoch = v[COL_EPOCH]; r->train = v[COL_TRAIN]; r->valid = v[COL_VALID]; r->lr = v[COL_LR];
  return 0;
fail:
  for (int j = 0; j < NCOL; j++) free(v[j]);
  return -1;
}

/* ---- SVG ------------------------------------------------------------------ */

static const char *palette[] = { "#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563" };
enum { W = 780, H = 460, X0 = 64, X1 = 590, Y0 = 36, Y1 = 410 };

static void xml_text(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '<') fputs("&lt;", f);
    else if (*s == '>') fputs("&gt;", f);
    else if (*s == '&') fputs("&amp;", f);
    else if (*s == '"') fputs("&quot;", f);
    else fputc(*s, f);
  }
}

/* The largest 1-2-5 tick <= v (up = 0) or the smallest >= v (up = 1). */
static double tick125(double v, int up) {
  double d = pow(10, floor(log10(v))), best = up ? 10 * d : d;
  static const double m[] = { 1, 2, 5, 10 };
  for (int i = 0; i < 4; i++) {
    double t = m[i] * d;
    if (up ? (t >= v * (1 - 1e-9) && t < best) : (t <= v * (1 + 1e-9) && t > best)) best = t;
  }
  return best;
}

typedef struct Axes { double e0, e1, l0, l1; } Axes;
static double px(const Axes *a, double epoch) { return X0 + (X1 - X0) * (epoch - a->e0) / (a->e1 - a->e0); }
static double py(const Axes *a, double ppl) { return Y1 - (Y1 - Y0) * (log10(ppl) - a->l0) / (a->l1 - a->l0); }

static void curve(FILE *f, const Axes *a, const PlotRun *r, const double *y, const char *color, int dashed) {
  fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color,
          dashed ? " stroke-dasharray=\"6 4\"" : "");
  for (int i = 0; i < r->n; i++) fprintf(f, "%s%.1f,%.1f", i ? " " : "", px(a, r->epoch[i]), py(a, y[i]));
  fputs("\"/>\n", f);
  if (!dashed)
    for (int i = 0; i < r->n; i++)
      fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(a, r->epoch[i]), py(a, y[i]), color);
}

char *plot_svg(const PlotRun *runs, int nrun) {
  Axes a = { INFINITY, -INFINITY, INFINITY, -INFINITY };
  for (int k = 0; k < nrun; k++)
    for (int i = 0; i < runs[k].n; i++) {
      const PlotRun *r = &runs[k];
      a.e0 = fmin(a.e0, r->epoch[i]); a.e1 = fmax(a.e1, r->epoch[i]);
      a.l0 = fmin(a.l0, fmin(r->train[i], r->valid[i])); a.l1 = fmax(a.l1, fmax(r->train[i], r->valid[i]));
    }
  if (a.e1 - a.e0 < 1) { a.e0 -= 0.5; a.e1 += 0.5; }
  double lo = tick125(a.l0, 0), hi = tick125(a.l1, 1);
  if (hi <= lo) hi = tick125(lo * 1.5, 1);
  a.l0 = log10(lo); a.l1 = log10(hi);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) { perror("graphrun: open_memstream"); exit(1); }
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
             "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n", W, H, W, H);
  fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
  fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"14\" font-weight=\"bold\">perplexity per epoch (log scale)</text>\n", X0);
  /* y gridlines and labels: 1, 2, 5 x 10^k, or only the powers of ten when many */
  double dec = a.l1 - a.l0;
  for (double d = pow(10, floor(a.l0)); d <= hi * 1.0001; d *= 10)
    for (int m = 1; m <= 5; m += m == 1 ? 1 : 3) {
      double t = m * d;
      if (t < lo * 0.9999 || t > hi * 1.0001 || (dec > 3 && m != 1)) continue;
      double y = py(&a, t);
      fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e7eb\"/>\n", X0, X1, y, y);
      fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#374151\">%g</text>\n", X0 - 6, y + 4, t);
    }
  /* x ticks: whole epochs, at most about 12 */
  double span = a.e1 - a.e0, step = ceil(span / 12);
  if (step < 1) step = 1;
  for (double e = ceil(a.e0); e <= a.e1 + 1e-9; e += step) {
    double x = px(&a, e);
    fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#374151\"/>\n", x, x, Y1, Y1 + 5);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#374151\">%g</text>\n", x, Y1 + 19, e);
  }
  fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#374151\"/>\n", X0, Y0, X1 - X0, Y1 - Y0);
  fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#374151\">epoch</text>\n", (X0 + X1) / 2, H - 14);
  fprintf(f, "<text transform=\"translate(16 %d) rotate(-90)\" text-anchor=\"middle\" fill=\"#374151\">perplexity</text>\n", (Y0 + Y1) / 2);
  int ly = Y0 + 8;
  for (int k = 0; k < nrun; k++) {
    const PlotRun *r = &runs[k];
    const char *c = palette[k % (int)(sizeof palette / sizeof *palette)];
    for (int i = 1; i < r->n; i++) {
      if (!(r->lr[i] < r->lr[i - 1])) continue;
      double x = px(&a, r->epoch[i] - 0.5);
      fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-dasharray=\"2 3\"/>\n", x, x, Y0, Y1, c);
      fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"%s\">lr %g</text>\n", x + 3, Y0 + 12 + 12 * k, c, r->lr[i]);
    }
    curve(f, &a, r, r->train, c, 1);
    curve(f, &a, r, r->valid, c, 0);
    for (int dashed = 0; dashed < 2; dashed++, ly += 18) {
      fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", X1 + 16, X1 + 44, ly, ly, c,
              dashed ? " stroke-dasharray=\"6 4\"" : "");
      fprintf(f, "<text x=\"%d\" y=\"%d\">", X1 + 50, ly + 4);
      xml_text(f, r->name);
      fprintf(f, " %s</text>\n", dashed ? "train" : "valid");
    }
    ly += 6;
  }
  fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#374151\" stroke-dasharray=\"2 3\"/>\n",
          X1 + 30, X1 + 30, ly - 6, ly + 8);
  fprintf(f, "<text x=\"%d\" y=\"%d\">learning rate drop</text>\n", X1 + 50, ly + 5);
  fputs("</svg>\n", f);
  fclose(f);
  return buf;
}

/* ---- front ends ----------------------------------------------------------- */

/* "runs/lm.csv" -> "lm"; "models/attn_lm.g" -> "attn_lm". */
static char *base_name(const char *path) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  const char *dot = strrchr(b, '.');
  return xasprintf("%.*s", (int)(dot && dot != b ? dot - b : (long)strlen(b)), b);
}

static int write_plot(const char *path, const PlotRun *runs, int n, Err *e) {
  char *svg = plot_svg(runs, n);
  int rc = write_file_atomic(path, svg, strlen(svg), e);
  free(svg);
  return rc;
}

int plot_metrics(const char *path, const char *model_path, const char *csv, Err *e) {
  PlotRun r;
  char *name = base_name(model_path);
  int rc = plot_parse("(training metrics)", csv, name, &r, e);
  free(name);
  if (rc) return rc;
  rc = write_plot(path, &r, 1, e);
  plot_run_free(&r);
  return rc;
}

static const char *plot_usage =
  "usage: graphrun plot METRICS.csv [MORE.csv ...] -o FILE.svg\n"
  "  train and valid perplexity per epoch of each --metrics file (log scale,\n"
  "  learning-rate drops marked), one colour per file, named after the file\n";

int plot_main(int argc, char **argv) {
  const char *out = NULL;
  int nfile = 0, rc = 0;
  const char **files = xcalloc((size_t)argc, sizeof *files);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
      if (i + 1 >= argc) { fprintf(stderr, "graphrun plot: error: %s needs a file name\n", a); rc = 2; goto done; }
      out = argv[++i];
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(plot_usage, stdout); goto done; }
    else if (a[0] == '-' && a[1]) { fprintf(stderr, "graphrun plot: error: unknown option '%s' (see graphrun plot --help)\n", a); rc = 2; goto done; }
    else files[nfile++] = a;
  }
  if (!nfile || !out) {
    fprintf(stderr, "graphrun plot: error: %s (see graphrun plot --help)\n", !nfile ? "needs at least one metrics CSV file" : "needs -o FILE.svg");
    rc = 2;
    goto done;
  }
  Err e = {0};
  if (file_check_writable(out, &e)) { fprintf(stderr, "graphrun plot: -o %s\n", e.msg); rc = 2; goto done; }
  PlotRun *runs = xcalloc((size_t)nfile, sizeof *runs);
  int nrun = 0;
  for (; nrun < nfile && !rc; nrun++) {
    char *text = read_file(files[nrun], NULL, &e), *name = base_name(files[nrun]);
    rc = !text || plot_parse(files[nrun], text, name, &runs[nrun], &e);
    free(text);
    free(name);
  }
  if (!rc) rc = write_plot(out, runs, nrun, &e) ? 1 : 0;
  if (rc) fprintf(stderr, "%s\n", e.msg);
  for (int k = 0; k < nrun; k++) plot_run_free(&runs[k]);
  free(runs);
done:
  free(files);
  return rc;
}
