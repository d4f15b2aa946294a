/*
** test_pictures.c — drawings (--dot, --svg, --png), the --html page's
** contents, training curves (--plot, graphrun plot) and their errors.
** The page in a real browser is tests/test_page.c.
*/
#include "testutil.h"
#include <sys/stat.h>
#include "plot.h"

static char dir[64];              /* a fresh directory for this run's files */
static void mkdir_tmp(void) { tu_mkdtemp(dir, "pics"); }
static void rm_tmp(void) { tu_rmdir(dir); }
static int exists(const char *path) { struct stat st; return stat(path, &st) == 0; }
static int count(const char *s, const char *sub) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, sub)); p += strlen(sub)) n++;
  return n;
}

START_TEST(operand_order) {
  /* W @ x: W is operand 1, x operand 2 (the box ids are the node indices) */
  TuRun r = tu_run("models/problem1_vec.g --dot");
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strstr(r.out, "n1 -> o5 [class=\"in5\", label=\"1\"]") && strstr(r.out, "n0 -> o5 [class=\"in5\", label=\"2\"]"), "%s", r.out);
  ck_assert_msg(strstr(r.out, "n5 -> o6 [class=\"in6\"];"), "+ is commutative, no label: %s", r.out);
  tu_free(&r);
  /* the attention block: m is memory and init, src_len lengths, the embeddings input */
  r = tu_run("models/attn_lm.g --dot --no-params");
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(count(r.out, "label=\"memory\"") == 1 && count(r.out, "label=\"init\"") == 1 &&
                count(r.out, "label=\"lengths\"") == 2 && count(r.out, "label=\"input\"") == 2, "%s", r.out);
  ck_assert_msg(strstr(r.out, "label=<A<SUP>T</SUP>>"), "transpose drawn readable: %s", r.out);
  tu_free(&r);
  /* ⊕ in problem 2: concat(h[1,t], h[2,t]) */
  r = tu_run("models/problem2.g --dot");
  ck_assert_msg(count(r.out, "label=\"⊕\"") == 2 && count(r.out, ", label=\"1\"]") >= 2, "%s", r.out);
  tu_free(&r);
}
END_TEST

START_TEST(values_boxes) {
  TuRun r = tu_run("models/problem1.g --dot --values");
  ck_assert_int_eq(r.status, 0);
  /* the output keeps its double border with three rows */
  const char *z5 = strstr(r.out, "  n9 [");
  ck_assert_msg(z5 && strstr(z5, "peripheries=2") && strstr(z5, "peripheries=2") < strchr(z5, '\n'), "%s", r.out);
  ck_assert_msg(strstr(r.out, "<B>x</B></TD></TR><HR/><TR><TD>1</TD></TR><HR/><TR><TD><FONT COLOR=\"#b91c1c\">grad 0.0833333 = 1/12</FONT>"), "%s", r.out);
  tu_free(&r);
  /* more than 4 numbers: shape, then the first three */
  const char *g = "input X: [2, 3] = [[1.5, 2, 3], [4, 5, 6]]\ns = sum(X)\noutput s\n";
  char *path = tu_tmpfile(".g", g, strlen(g)), args[256];
  snprintf(args, sizeof args, "%s --dot --values", path);
  r = tu_run(args);
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strstr(r.out, "<TD>[2,3] 1.5, 2, 3, …</TD>") && strstr(r.out, "grad [2,3] 1, 1, 1, …"), "%s", r.out);
  tu_free(&r);
  unlink(path); free(path);
}
END_TEST

START_TEST(render_in_process) {
  mkdir_tmp();
  char args[512], svg[128], png[128];
  snprintf(svg, sizeof svg, "%s/p1.svg", dir);
  snprintf(png, sizeof png, "%s/p1.png", dir);
  snprintf(args, sizeof args, "models/problem1.g --values --svg %s --png %s", svg, png);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0 && !*r.out, "%d %s", r.status, r.err);
  tu_free(&r);
  char *s = tu_slurp(svg);
  ck_assert_msg(!strncmp(s, "<?xml", 5) && strstr(s, "<svg") && strstr(s, "<g id=\"n9\" class=\"node\">") &&
                strstr(s, "<g id=\"o5\" class=\"node\">") && strstr(s, "class=\"edge in5\"") &&
                strstr(s, ">grad 0.0833333 = 1/12</text>"), "%s", s);
  free(s);
  unsigned w = 0, h = 0;
  ck_assert_msg(tu_png_size(png, &w, &h), "%s is not a PNG", png);
  ck_assert_msg(w > 400 && h > 50, "%u x %u", w, h);
  /* a large drawing runs top to bottom and fits a screen's width */
  snprintf(svg, sizeof svg, "%s/ad.svg", dir);
  snprintf(args, sizeof args, "models/attn_decoder.g --svg %s", svg);
  r = tu_run(args);
  ck_assert_int_eq(r.status, 0);
  tu_free(&r);
  s = tu_slurp(svg);
  const char *p = strstr(s, "<svg width=\"");
  ck_assert_ptr_nonnull(p);
  double wpt = 0, hpt = 0;
  ck_assert_int_eq(sscanf(p, "<svg width=\"%lfpt\" height=\"%lfpt\"", &wpt, &hpt), 2);
  ck_assert_msg(wpt < 1200 && hpt > wpt, "%g x %g pt", wpt, hpt);
  free(s);
  /* a sequence model: blocks as nodes */
  snprintf(args, sizeof args, "models/attn_lm.g --no-params --svg %s", svg);
  r = tu_run(args);
  ck_assert_int_eq(r.status, 0);
  tu_free(&r);
  s = tu_slurp(svg);
  ck_assert_msg(strstr(s, ">attn</text>") && strstr(s, ">memory</text>"), "%s", s);
  free(s);
  /* a drawing and another mode: both are done (neither flag is dropped) */
  snprintf(args, sizeof args, "tests/data/tiny_lm.g --svg %s --generate 2", svg);
  r = tu_run(args);
  int lines = 0;
  for (const char *q = r.out; (q = strchr(q, '\n')); q++) lines++;
  ck_assert_msg(r.status == 0 && lines == 2, "exit %d, %d sample lines: %.300s %.300s", r.status, lines, r.out, r.err);
  tu_free(&r);
  s = tu_slurp(svg);
  ck_assert_msg(strstr(s, "<svg") && strstr(s, ">xent</text>") && strstr(s, ">embed</text>"), "%.300s", s);
  free(s);
  snprintf(args, sizeof args, "tests/data/tiny_lm.g --png %s --trace", png);
  r = tu_run(args);
  ck_assert_msg(r.status == 0 && strstr(r.out, "One training step of tests/data/tiny_lm.g"), "exit %d: %.300s %s", r.status, r.out, r.err);
  tu_free(&r);
  ck_assert_msg(tu_png_size(png, &w, &h), "%s is not a PNG", png);
  rm_tmp();
}
END_TEST

/* The STEPS array's text lines, in order, from a page (lines of up to
** LW - 1 bytes). */
enum { LW = 400 };
static int page_steps(const char *page, char lines[][LW], int max) {
  const char *p = strstr(page, "var STEPS=["), *end = p ? strstr(p, "];\n") : NULL;
  int n = 0;
  ck_assert_ptr_nonnull(end);
  while ((p = strstr(p, ",\"")) && p < end && n < max) {
    const char *q = strstr(p, "\"]");
    if (!q) break;
    if (!strchr("fbn", p[2]) || strncmp(p + 3, "\",\"", 3)) { p = q; continue; }
    p += 6;                                  /* past ,"f", and the opening quote */
    char *o = lines[n++];                    /* the JavaScript escapes undone */
    for (; p < q && o < lines[n - 1] + LW - 1; p++) {
      unsigned c;
      if (!strncmp(p, "\\u", 2) && sscanf(p + 2, "%4x", &c) == 1) { *o++ = (char)c; p += 5; }
      else if (*p == '\\') *o++ = *++p;
      else *o++ = *p;
    }
    *o = 0;
    p = q;
  }
  return n;
}

/* No network reference of any kind. */
static void self_contained(const char *page, const char *what) {
  ck_assert_msg(!strstr(page, "http") && !strstr(page, "src=") && !strstr(page, "<link") && !strstr(page, "url(") &&
                !strstr(page, "@import") && !strstr(page, "href="), "a network reference in the page of %s", what);
}

START_TEST(html_page) {
  mkdir_tmp();
  char args[256], path[128];
  snprintf(path, sizeof path, "%s/p1.html", dir);
  snprintf(args, sizeof args, "models/problem1.g --html %s", path);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0 && !*r.out && !*r.err, "%d %s", r.status, r.err);
  tu_free(&r);
  char *page = tu_slurp(path);
  self_contained(page, "problem1");
  ck_assert_msg(strstr(page, "<svg width=") && strstr(page, "<g id=\"n0\" class=\"node\">") && strstr(page, "<style>") &&
                strstr(page, "<script>"), "page structure");
  /* the steps are --trace's node lines, names then numbers, in its order */
  static char steps[64][LW];
  int n = page_steps(page, steps, 64);
  ck_assert_int_eq(n, 20);
  r = tu_run("models/problem1.g --trace");
  int k = 0;
  for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
    if (strstr(line, "Gradients of")) break;
    if (line[0] != ' ') continue;
    while (*line == ' ') line++;
    ck_assert_msg(k < n && !strcmp(steps[k], line), "step %d: '%s', trace: '%s'", k + 1, k < n ? steps[k] : "", line);
    k++;
  }
  ck_assert_int_eq(k, n);
  ck_assert_str_eq(steps[0], "input    x  = 1");
  ck_assert_str_eq(steps[19], "dz5/dx = dz5/dz1 * w1 = 0.333333 * 0.25 = 0.0833333  (= 1/12)");
  ck_assert_msg(strstr(page, "[0,\"f\",\"input    x  = 1\"]") && strstr(page, "[9,\"b\",\"dz5/dz5 = 1\"]"), "step node ids");
  tu_free(&r);
  free(page);
  /* the other worked problems make pages too */
  const char *models[] = { "problem1_skip", "problem1_vec", "problem2", "self_attention" };
  for (int i = 0; i < 4; i++) {
    snprintf(args, sizeof args, "models/%s.g --html %s", models[i], path);
    r = tu_run(args);
    ck_assert_msg(r.status == 0, "%s: %s", models[i], r.err);
    tu_free(&r);
    page = tu_slurp(path);
    ck_assert_msg(page_steps(page, steps, 64) > 10, "%s", models[i]);
    self_contained(page, models[i]);
    free(page);
  }
  rm_tmp();
}
END_TEST

/* A sequence model at toy size: the page steps through every line of its
** --trace but the blank lines and section titles (those head the steps
** below them), each line tagged with the drawn node it belongs to; with
** --trace the same lines are printed, the same step. */
static void seq_page(const char *model, const char *set, int min_steps) {
  static char steps[1024][LW];
  char args[512], path[160];
  snprintf(path, sizeof path, "%s/seq.html", dir);
  snprintf(args, sizeof args, "%s %s --trace", model, set);
  TuRun tr = tu_run(args);
  ck_assert_msg(tr.status == 0, "%s: %s", args, tr.err);
  snprintf(args, sizeof args, "%s %s --html %s --trace", model, set, path);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0 && !*r.err, "%s: %d %s", args, r.status, r.err);
  ck_assert_msg(!strcmp(r.out, tr.out), "%s: --trace with --html printed another trace", model);
  tu_free(&r);
  char *page = tu_slurp(path);
  self_contained(page, model);
  ck_assert_msg(strstr(page, "var FILL=0;") && strstr(page, "<svg width=") && strstr(page, "\"Forward, node by node") && !strstr(page, "\"== "),
                "%s: page structure", model);
  int n = page_steps(page, steps, 1024), k = 0;
  ck_assert_msg(n >= min_steps && n < 1024, "%s: %d steps", model, n);
  for (char *line = strtok(tr.out, "\n"); line; line = strtok(NULL, "\n")) {
    if (!strncmp(line, "== ", 3)) continue;
    while (*line == ' ') line++;
    ck_assert_msg(k < n && !strncmp(steps[k], line, LW - 1), "%s step %d: '%s', trace: '%s'", model, k + 1, k < n ? steps[k] : "", line);
    k++;
  }
  ck_assert_int_eq(k, n);
  free(page);
  tu_free(&tr);
}

START_TEST(html_sequence) {
  mkdir_tmp();
  seq_page("models/lm.g", "--set d=4 --batch 2 --bptt 3", 200);
  /* lm.g's nodes: E is node 2, tmp10 = embed(E, x), e (box n12) = dropout(tmp10), h (n13) = dec(e) */
  char *page = tu_slurp(strcat(strcpy((char[200]){0}, dir), "/seq.html"));
  ck_assert_msg(strstr(page, "<g id=\"n13\" class=\"node\">") && strstr(page, "<g id=\"o13\" class=\"node\">"), "the lstm drawn");
  ck_assert_msg(strstr(page, "[-1,\"n\",\"One training step of models/lm.g, exactly as --train takes its first step\"]"), "title");
  ck_assert_msg(strstr(page, "[10,\"f\",\"tmp10 = embed(E, x): row x[t,b] of E"), "embed's forward line");
  ck_assert_msg(strstr(page, "[13,\"f\",\"line 15: h      = dec(e)\"]") && strstr(page, "[13,\"f\",\"layer 2, t = 3\"]") &&
                strstr(page, "[13,\"b\",\"h = dec(...): backprop through time, the last step first\"]"), "the lstm's lines");
  ck_assert_msg(strstr(page, "[2,\"b\",\"dloss/dE: the rows of de") && strstr(page, "[2,\"n\",\"SGD, lr 20:"), "E's lines");
  ck_assert_msg(strstr(page, "[25,\"Forward, node by node  [question 2:"), "the forward heading comes after 25 steps");
  free(page);
  seq_page("tests/data/trace_attn_lm.g", "", 300);
  rm_tmp();
}
END_TEST

/* Exit status and the one message line; with `file` set, nothing is written there. */
static void refused(int status, const char *want, const char *file, const char *args) {
  TuRun r = tu_run(args);
  ck_assert_msg(!r.signaled && r.status == status, "%s: status %d, %s", args, r.status, r.err);
  ck_assert_msg(strstr(r.err, want) && count(r.err, "\n") == 1, "%s: %s", args, r.err);
  ck_assert_msg(!strstr(r.out, "epoch"), "%s: work was done before the refusal: %s", args, r.out);
  if (file) ck_assert_msg(!exists(file), "%s left behind", file);
  tu_free(&r);
}

START_TEST(errors) {
  mkdir_tmp();
  char args[512], csv[160];
  refused(2, "--svg /nonexistent/d.svg: error: cannot write there", NULL, "models/problem1.g --svg /nonexistent/d.svg");
  refused(2, "--png /nonexistent/d.png: error: cannot write there", NULL, "models/problem1.g --png /nonexistent/d.png");
  refused(2, "--html /nonexistent/d.html: error: cannot write there", NULL, "models/problem1.g --html /nonexistent/d.html");
  snprintf(args, sizeof args, "models/problem1.g --svg %s", dir);
  refused(2, "error: is a directory", NULL, args);
  /* before any work: training never starts */
  refused(2, "--plot /nonexistent/c.svg: error: cannot write there", NULL, "tests/data/tiny_lm.g --train --plot /nonexistent/c.svg");
  refused(2, "--metrics /nonexistent/m.csv: error: cannot write there", NULL, "tests/data/tiny_lm.g --train --metrics /nonexistent/m.csv");
  snprintf(csv, sizeof csv, "%s/c.svg", dir);
  snprintf(args, sizeof args, "models/problem1.g --plot %s", csv);
  refused(2, "--plot goes with --train", csv, args);
  snprintf(args, sizeof args, "tests/data/tiny_lm.g --train --html %s", csv);
  refused(2, "--html does not go with --train", csv, args);
  refused(2, "--values goes with --dot, --svg or --png", NULL, "models/problem1.g --values");
  snprintf(args, sizeof args, "tests/data/tiny_lm.g --html %s --generate 2", csv);   /* the page's step ends in SGD */
  refused(2, "--html does not go with --generate", csv, args);
  snprintf(args, sizeof args, "models/lm.g --set d=4 --batch 5 --bptt 3 --html %s", csv);   /* too big to trace */
  refused(1, "models/lm.g: error: --html shows every number of a training step, and at hidden size 4, batch 5, bptt 3 "
             "that is far too many to read; make the model small: --set d=4 --batch 2 --bptt 4", csv, args);
  /* graphrun plot */
  refused(2, "graphrun plot: error: needs -o FILE.svg", NULL, "plot tests/data/tiny-train.txt");
  refused(2, "graphrun plot: error: needs at least one metrics CSV file", NULL, "plot -o x.svg");
  refused(2, "graphrun plot: -o /nonexistent/p.svg: error: cannot write there", NULL, "plot a.csv -o /nonexistent/p.svg");
  snprintf(args, sizeof args, "plot /nonexistent/m.csv -o %s", csv);
  refused(1, "/nonexistent/m.csv: error: cannot open", csv, args);
  struct { const char *text, *msg; } bad[] = {
    { "epoch,train_ppl,lr\n1,50,20\n", ":1:1: error: no 'valid_ppl' column: expected a header like epoch,train_ppl,valid_ppl,lr" },
    { "epoch,train_ppl,valid_ppl,lr\n1,50,60,20\n2,abc,40,20\n", ":3:3: error: expected a positive number in column 'train_ppl', got 'abc'" },
    { "epoch,train_ppl,valid_ppl,lr\n1,50,-1,20\n", ":2:6: error: expected a positive number in column 'valid_ppl', got '-1'" },
    { "epoch,train_ppl,valid_ppl,lr\n1,50,60\n", ":2:8: error: expected 4 comma-separated fields as in the header, got 3" },
    { "epoch,train_ppl,valid_ppl,lr\n2,50,60,1\n1,40,50,1\n", ":3:1: error: epochs must increase: 1 after 2" },
    { "epoch,train_ppl,valid_ppl,lr\n", ":2:1: error: no data rows after the header" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *in = tu_tmpfile(".csv", bad[i].text, strlen(bad[i].text)), want[256];
    snprintf(want, sizeof want, "%s%s", in, bad[i].msg);
    snprintf(args, sizeof args, "plot %s -o %s", in, csv);
    refused(1, want, csv, args);
    unlink(in); free(in);
  }
  rm_tmp();
}
END_TEST

/* The points of the n-th polyline of an SVG. */
static void polyline(const char *svg, int nth, char *out, size_t sz) {
  const char *p = svg;
  for (int i = 0; i <= nth; i++) { p = strstr(p, "<polyline"); ck_assert_ptr_nonnull(p); p++; }
  p = strstr(p, "points=\"") + 8;
  snprintf(out, sz, "%.*s", (int)(strchr(p, '"') - p), p);
}

START_TEST(curves) {
  mkdir_tmp();
  /* log scale: 200 at the top, 50 at the bottom, 100 halfway (x: 64..590, y: 36..410) */
  const char *a = "epoch,train_ppl,valid_ppl,lr,seconds,tokens_per_s\n1,200,150,20,1,1\n2,100,120,20,1,1\n3,50,110,5,1,1\n";
  const char *b = "lr,valid_ppl,train_ppl,epoch\n1,190,180,1\n1,140,130,2\n";
  char *fa = tu_tmpfile(".csv", a, strlen(a)), *fb = tu_tmpfile(".csv", b, strlen(b)), args[512], out[160], pts[512];
  snprintf(out, sizeof out, "%s/curves.svg", dir);
  snprintf(args, sizeof args, "plot %s %s -o %s", fa, fb, out);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0 && !*r.out && !*r.err, "%d %s", r.status, r.err);
  tu_free(&r);
  char *svg = tu_slurp(out);
  polyline(svg, 0, pts, sizeof pts);              /* run a, train */
  ck_assert_str_eq(pts, "64.0,36.0 327.0,223.0 590.0,410.0");
  polyline(svg, 3, pts, sizeof pts);              /* run b, valid: columns found by name */
  ck_assert_str_eq(pts, "64.0,49.8 327.0,132.2");   /* 410 - 374 log(190/50) / log(4), ... */
  ck_assert_int_eq(count(svg, "<polyline"), 4);
  ck_assert_int_eq(count(svg, "<circle"), 5);    /* the valid points */
  ck_assert_int_eq(count(svg, ">lr 5</text>"), 1);      /* the drop before epoch 3, at x = 2.5 */
  ck_assert_msg(strstr(svg, "<line x1=\"458.5\" x2=\"458.5\""), "%s", svg);
  const char *na = strrchr(fa, '/') + 1;
  char legend[128];
  snprintf(legend, sizeof legend, ">%.*s valid</text>", (int)(strlen(na) - 4), na);
  ck_assert_msg(strstr(svg, legend) && strstr(svg, ">100</text>") && strstr(svg, ">200</text>"), "%s", svg);
  free(svg);
  unlink(fa); unlink(fb); free(fa); free(fb);
  /* --plot during training: the curves of the epochs so far, named after the model */
  char m[160];
  snprintf(m, sizeof m, "%s/m.csv", dir);
  snprintf(args, sizeof args, "tests/data/tiny_lm.g --train --epochs 3 --quiet --plot %s --metrics %s", out, m);
  r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s", r.err);
  tu_free(&r);
  svg = tu_slurp(out);
  ck_assert_msg(count(svg, "<circle") == 3 && strstr(svg, ">tiny_lm valid</text>"), "%s", svg);
  free(svg);
  /* the same picture from the metrics file */
  char out2[160];
  snprintf(out2, sizeof out2, "%s/again.svg", dir);
  snprintf(args, sizeof args, "plot %s -o %s", m, out2);
  r = tu_run(args);
  ck_assert_int_eq(r.status, 0);
  tu_free(&r);
  char *again = tu_slurp(out2);
  svg = tu_slurp(out);
  polyline(svg, 1, pts, sizeof pts);
  char pts2[512];
  polyline(again, 1, pts2, sizeof pts2);
  ck_assert_str_eq(pts, pts2);
  free(svg); free(again);
  rm_tmp();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("pictures");
  TCase *t = tcase_create("pictures");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, operand_order);
  tcase_add_test(t, values_boxes);
  tcase_add_test(t, render_in_process);
  tcase_add_test(t, html_page);
  tcase_add_test(t, html_sequence);
  tcase_add_test(t, errors);
  tcase_add_test(t, curves);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
