/*
** test_core.c — the language and the interpreter end to end: the parser,
** the assignment's Problem 1 numbers (values and gradients against hand
** computation), --set, --trace/--json/--dot output, and bad model files,
** each of which must fail with a located one-line message and no crash.
*/
#include "testutil.h"
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>
#include "model.h"
#include "show.h"

/* Loads, runs forward and backward; returns the model. */
static Model *run(const char *path, const char **sets, int nset) {
  Err e = {0};
  Model *m = model_load(path, &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  for (int i = 0; i < nset; i++) ck_assert_msg(model_set(m, sets[i], &e) == 0, "%s", e.msg);
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
  ck_assert_msg(graph_forward(m->g, &ex) == 0, "%s", e.msg);
  ck_assert_msg(graph_backward(m->g, model_output(m), &ex) == 0, "%s", e.msg);
  return m;
}
static float value(Model *m, const char *name, int i) { Node *n = graph_find(m->g, name); ck_assert_ptr_nonnull(n); return n->val.data[i]; }
static float grad(Model *m, const char *name, int i) { Node *n = graph_find(m->g, name); ck_assert_ptr_nonnull(n); return n->grad.data[i]; }

START_TEST(problem1_scalar) {
  Model *m = run("models/problem1.g", NULL, 0);
  TU_CLOSE(value(m, "z5", 0), 1.0 / 12, 1e-7);
  TU_CLOSE(grad(m, "b2", 0), 1.0, 1e-7);
  TU_CLOSE(grad(m, "w2", 0), 1.0 / 4, 1e-7);
  TU_CLOSE(grad(m, "b1", 0), 1.0 / 3, 1e-7);
  TU_CLOSE(grad(m, "w1", 0), 1.0 / 3, 1e-7);
  TU_CLOSE(grad(m, "x", 0), 1.0 / 12, 1e-7);
  model_free(m);
}
END_TEST

START_TEST(problem1_skip) {
  Model *m = run("models/problem1_skip.g", NULL, 0);
  TU_CLOSE(value(m, "z6", 0), 13.0 / 12, 1e-6);
  TU_CLOSE(grad(m, "x", 0), 13.0 / 12, 1e-6);
  TU_CLOSE(grad(m, "w1", 0), 1.0 / 3, 1e-7);
  model_free(m);
}
END_TEST

START_TEST(problem1_vector) {
  Model *m = run("models/problem1_vec.g", NULL, 0);
  TU_CLOSE(value(m, "z5", 0), 2, 1e-7);
  float du[] = { 0, 2 }, db1[] = { 0, 1 }, dW[] = { 0, 0, 1, 1 }, dx[] = { 1, 1 };
  for (int i = 0; i < 2; i++) { TU_CLOSE(grad(m, "u", i), du[i], 1e-7); TU_CLOSE(grad(m, "b1", i), db1[i], 1e-7); TU_CLOSE(grad(m, "x", i), dx[i], 1e-7); }
  for (int i = 0; i < 4; i++) TU_CLOSE(grad(m, "W", i), dW[i], 1e-7);
  TU_CLOSE(grad(m, "b2", 0), 1, 1e-7);
  model_free(m);
}
END_TEST

START_TEST(set_overrides) {
  /* x = 2: z2 = 1/2, z5 = 1/6, dz5/dw1 = w2 * x = 2/3 */
  const char *s1[] = { "x=2" };
  Model *m = run("models/problem1.g", s1, 1);
  TU_CLOSE(value(m, "z5", 0), 1.0 / 6, 1e-7);
  TU_CLOSE(grad(m, "w1", 0), 2.0 / 3, 1e-6);
  model_free(m);
  /* x = -4: the ReLU is off, nothing flows back past it */
  const char *s2[] = { "x=-4", "b2=1/2" };
  m = run("models/problem1.g", s2, 2);
  TU_CLOSE(value(m, "z5", 0), 0.5, 1e-7);
  TU_CLOSE(grad(m, "w1", 0), 0, 0);
  TU_CLOSE(grad(m, "w2", 0), 0, 0);
  model_free(m);
  /* vectors: x = [2, -1], W = [[1, 0], [0, 1]] -> z3 = [2, 0], z5 = 2 */
  const char *s3[] = { "x=[2, -1]", "W=[[1, 0], [0, 1]]" };
  m = run("models/problem1_vec.g", s3, 2);
  TU_CLOSE(value(m, "z5", 0), 2, 1e-7);
  TU_CLOSE(grad(m, "W", 0), 2, 1e-7);   /* dW = (u * [z2 > 0]) x^T = [1,0]^T [2,-1] */
  TU_CLOSE(grad(m, "W", 1), -1, 1e-7);
  TU_CLOSE(grad(m, "W", 2), 0, 0);
  model_free(m);
}
END_TEST

START_TEST(set_errors) {
  Err e = {0};
  Model *m = model_load("models/problem1.g", &e);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_ne(model_set(m, "q=1", &e), 0);
  ck_assert_str_eq(e.msg, "--set q: error: no const, input or param named 'q' in models/problem1.g");
  e.set = 0;
  ck_assert_int_ne(model_set(m, "x=[1,2]", &e), 0);
  ck_assert_str_eq(e.msg, "--set x: error: 'x' is scalar, the value given is [2]");
  e.set = 0;
  ck_assert_int_ne(model_set(m, "z3=1", &e), 0);
  ck_assert_str_eq(e.msg, "--set z3: error: 'z3' is computed, not an input or param");
  e.set = 0;
  ck_assert_int_ne(model_set(m, "x=1+", &e), 0);
  ck_assert_str_eq(e.msg, "--set x:1:3: error: unexpected end of line");
  model_free(m);
}
END_TEST

START_TEST(parser_structure) {
  const char *src = "const H = 2\nfor h in 1..H {\n  q[h] = h * 2\n}\nz = sum(s in 1..H: q[s])\noutput z\n";
  Err e = {0};
  Ast *a = parse_model("t.g", src, strlen(src), &e);
  ck_assert_msg(a != NULL, "%s", e.msg);
  ck_assert_int_eq(a->kind, S_BODY);
  ck_assert_int_eq(a->nkids, 4);
  ck_assert_int_eq(a->kids[0]->kind, S_CONST);
  ck_assert_int_eq(a->kids[1]->kind, S_FOR);
  ck_assert_int_eq(a->kids[2]->kind, S_ASSIGN);
  ck_assert_int_eq(a->kids[2]->kids[1]->kind, A_CALL);
  ck_assert_int_eq(a->kids[2]->kids[1]->kids[0]->kind, A_COMPR);
  ck_assert_int_eq(a->kids[3]->kind, S_OUTPUT);
  ast_free(a);
  Model *m = model_parse("t.g", src, strlen(src), &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
  ck_assert_int_eq(graph_forward(m->g, &ex), 0);
  TU_CLOSE(value(m, "z", 0), 6, 0);            /* q[1] + q[2] = 2 + 4 */
  model_free(m);
}
END_TEST

/* A range on the left names the items of the right side's first axis, one
** or many: with T = 1 the attention step is an ordinary model (issue 12). */
static Model *built(const char *src, Err *e) { return model_parse("t.g", src, strlen(src), e); }
static void blank(char *text, const char *what) {
  char *p = strstr(text, what);
  ck_assert_msg(p != NULL, "no '%s'", what);
  memset(p, ' ', strlen(what));
}
START_TEST(one_item_ranges_on_the_left) {
  const char *attn = "const T = 1\n"
                     "input x[1] = [1, 2]\n"
                     "param W: [2, 2] = [[1, 0], [0, 1]]\n"
                     "for t in 1..T {\n  q[t] = W @ x[t]\n}\n"
                     "for t in 1..T, s in 1..T {\n  alpha[s,t] = q[s] . q[t]\n}\n"
                     "for t in 1..T {\n"
                     "  beta[1..T,t] = softmax(alpha[1..T,t])\n"
                     "  a[t] = sum(s in 1..T: beta[s,t] * q[s])\n"
                     "}\n"
                     "loss = sum(a[1])\n"
                     "output loss\n";
  Err e = {0};
  Model *m = built(attn, &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
  ck_assert_int_eq(graph_forward(m->g, &ex), 0);
  TU_CLOSE(value(m, "loss", 0), 3, 1e-6);           /* beta = softmax of one score = 1 */
  ck_assert_int_eq(graph_find(m->g, "beta[1,1]")->val.rank, 0);
  model_free(m);

  m = built("input M: [1, 2] = [[1, 2]]\nr[1..1] = M\noutput r[1]\n", &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  ck_assert_int_eq(graph_forward(m->g, &ex), 0);
  Node *r = graph_find(m->g, "r[1]");
  ck_assert_int_eq(r->val.rank, 1);
  ck_assert_int_eq(r->val.shape[0], 2);
  TU_CLOSE(r->val.data[1], 2, 0);
  model_free(m);

  const char *wrong[][2] = {
    { "input a = [1, 2, 3]\nb[1..1] = softmax(a)\noutput b[1]\n", "t.g:2:11: error: the right side has shape [3], but the left side names 1 item" },
    { "input a = [1, 2, 3]\nb[1..2] = softmax(a)\noutput b[1]\n", "t.g:2:11: error: the right side has shape [3], but the left side names 2 items" },
  };
  for (int i = 0; i < 2; i++) {
    Err e2 = {0};
    ck_assert_ptr_null(built(wrong[i][0], &e2));
    ck_assert_str_eq(e2.msg, wrong[i][1]);
  }

  /* Problem 2 itself with one step */
  char *p2 = tu_slurp("models/problem2.g");
  char *t = strstr(p2, "const T = 2"); ck_assert_ptr_nonnull(t); t[10] = '1';
  blank(p2, " + sum(z[2])");                             /* loss = sum(z[1]) */
  blank(p2, " z[2],");                                   /* output z[1], loss */
  m = built(p2, &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  ck_assert_int_eq(graph_forward(m->g, &ex), 0);
  /* one step: beta = 1, a[i,1] = v[i,1], h[i,1] = v[i,1] + q[i,1] = 2 x[1][i] */
  TU_CLOSE(value(m, "loss", 0), 2 * (1 + 2), 1e-6);
  model_free(m);
  free(p2);
}
END_TEST

START_TEST(precedence_and_literals) {
  const char *src = "input x = 3\n"
                    "a = 1 + 2 * x - -x / 3   # 1 + 6 + 1 = 8\n"
                    "b = [[1, 2], [3, 4]] @ [1, -1/2] /* block\n comment */\n"
                    "c = (1 + 2) * x\n"
                    "output a\n";
  Err e = {0};
  Model *m = model_parse("t.g", src, strlen(src), &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
  ck_assert_int_eq(graph_forward(m->g, &ex), 0);
  TU_CLOSE(value(m, "a", 0), 8, 1e-6);
  TU_CLOSE(value(m, "b", 0), 0, 1e-7);
  TU_CLOSE(value(m, "b", 1), 1, 1e-7);
  TU_CLOSE(value(m, "c", 0), 9, 0);
  model_free(m);
}
END_TEST

START_TEST(trace_shows_the_worked_solution) {
  TuRun r = tu_run("models/problem1.g --trace");
  ck_assert_int_eq(r.status, 0);
  const char *want[] = {
    "z1 = w1 * x = 0.25 * 1 = 0.25  (= 1/4)",
    "z3 = relu(z2) = relu(0.25) = 0.25",
    "z5 = z4 + b2 = 0.0833333 + 0 = 0.0833333  (= 1/12)",
    "dz5/dw2 = dz5/dz4 * z3 = 1 * 0.25 = 0.25  (= 1/4)",
    "dz5/dz2 = dz5/dz3 * [z2 > 0] = 0.333333 * 1 = 0.333333  (= 1/3)",
    "dz5/dx = dz5/dz1 * w1 = 0.333333 * 0.25 = 0.0833333  (= 1/12)",
  };
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) ck_assert_msg(strstr(r.out, want[i]), "missing: %s\n%s", want[i], r.out);
  /* backprop order: b2, w2, b1, w1, x as a student reads them */
  const char *p = r.out;
  const char *order[] = { "dz5/db2 =", "dz5/dw2 =", "dz5/db1 =", "dz5/dw1 =", "dz5/dx =" };
  for (int i = 0; i < 5; i++) { p = strstr(p, order[i]); ck_assert_msg(p != NULL, "%s out of order", order[i]); }
  tu_free(&r);
  r = tu_run("models/problem1_skip.g --trace");
  ck_assert_msg(strstr(r.out, "dz6/dx = dz6/dz1 * w1 + dz6/dz6 * 1 = 0.333333 * 0.25 + 1 * 1 = 1.08333  (= 13/12)"), "%s", r.out);
  tu_free(&r);
}
END_TEST

START_TEST(json_and_dot) {
  TuRun r = tu_run("models/problem1_vec.g --json");
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strstr(r.out, "\"W\": [[0, 0], [1, 1]]") && strstr(r.out, "\"z5\": 2") && strstr(r.out, "\"grads\": {"), "%s", r.out);
  tu_free(&r);
  r = tu_run("models/problem1.g --dot --values");
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strstr(r.out, "digraph") && strstr(r.out, "label=\"×\"") && strstr(r.out, "label=\"ReLU\"") &&
                strstr(r.out, "<B>z5</B></TD></TR><HR/><TR><TD>0.0833333 = 1/12</TD></TR><HR/>"
                              "<TR><TD><FONT COLOR=\"#b91c1c\">grad 1</FONT>"), "%s", r.out);
  tu_free(&r);
  r = tu_run("models/problem1_vec.g --dot");
  ck_assert_msg(strstr(r.out, "label=\"@\"") && strstr(r.out, "label=\"·\""), "%s", r.out);
  tu_free(&r);
  r = tu_run("models/problem1.g --gradcheck");
  ck_assert_msg(r.status == 0 && strstr(r.out, "all gradients agree"), "%s", r.out);
  tu_free(&r);
}
END_TEST

START_TEST(gradcheck_reports_relu_kink) {
  TuRun r = tu_run("models/problem1.g --gradcheck --set x=0");
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strstr(r.out, "at a ReLU kink: not compared"), "%s", r.out);
  tu_free(&r);
}
END_TEST

/* mpirun's processes all check an output path at once.  With one shared
** probe name, one's probe could vanish between another's O_EXCL and its
** plain open, and the path was refused (adam_resume_is_exact failed now and
** then); 3 processes checking 20,000 times each showed it. */
START_TEST(writable_check_survives_a_neighbour) {
  char dir[] = "/tmp/gr_wcXXXXXX", path[64];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/x.ckpt", dir);
  pid_t kid[3];
  for (int k = 0; k < 3; k++)
    if ((kid[k] = fork()) == 0) {
      for (int i = 0; i < 20000; i++) { Err e = {0}; if (file_check_writable(path, &e)) _exit(1); }
      _exit(0);
    }
  int bad = 0;
  for (int k = 0; k < 3; k++) { int st; waitpid(kid[k], &st, 0); bad += !WIFEXITED(st) || WEXITSTATUS(st); }
  ck_assert_int_eq(bad, 0);
  ck_assert_int_eq(rmdir(dir), 0);                /* no probe left behind */
}
END_TEST

/* Every file in tests/bad/ starts with "# expect L:C: message" (or is
** binary/empty, with its expectation below); graphrun must exit 1, with no
** signal, printing exactly one line "FILE:L:C: error: message...". */
START_TEST(bad_model_files) {
  DIR *d = opendir("tests/bad");
  ck_assert_ptr_nonnull(d);
  struct dirent *de;
  int count = 0;
  while ((de = readdir(d))) {
    if (!strstr(de->d_name, ".g")) continue;
    char path[512], want[1200], args[600];
    snprintf(path, sizeof path, "tests/bad/%s", de->d_name);
    char *text = tu_slurp(path);
    if (!strncmp(text, "# expect ", 9)) {
      char *nl = strchr(text, '\n'); if (nl) *nl = 0;
      int line, col, k = 0;
      ck_assert_int_eq(sscanf(text + 9, "%d:%d: %n", &line, &col, &k), 2);
      if (line) snprintf(want, sizeof want, "%s:%d:%d: error: %s", path, line, col, text + 9 + k);
      else snprintf(want, sizeof want, "%s: error: %s", path, text + 9 + k);
    } else if (!strcmp(de->d_name, "empty.g")) snprintf(want, sizeof want, "%s: error: the model defines nothing", path);
    else if (!strcmp(de->d_name, "binary.g")) snprintf(want, sizeof want, "%s:1:1: error: unexpected byte 0x7f", path);
    else ck_abort_msg("%s has no expectation", path);
    free(text);
    snprintf(args, sizeof args, "'%s'", path);
    TuRun r = tu_run(args);
    ck_assert_msg(!r.signaled, "%s crashed", path);
    ck_assert_msg(r.status == 1, "%s: exit %d", path, r.status);
    ck_assert_msg(!strncmp(r.err, want, strlen(want)), "%s:\n got: %s want: %s", path, r.err, want);
    ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "%s: not one line: %s", path, r.err);
    ck_assert_str_eq(r.out, "");
    tu_free(&r);
    count++;
  }
  closedir(d);
  ck_assert_int_ge(count, 20);
}
END_TEST

START_TEST(bad_command_lines) {
  struct { const char *args; int status; const char *err; } cases[] = {
    { "", 2, "usage: graphrun" },
    { "--bogus models/problem1.g", 2, "graphrun: error: unknown option '--bogus'" },
    { "models/problem1.g --set", 2, "graphrun: error: --set needs NAME=VALUE" },
    { "models/problem1.g --set q=1", 1, "--set q: error: no const, input or param named 'q'" },
    { "models/problem1.g --set 'x=[1,'", 1, "--set x:1:1: error: unterminated '['" },
    { "models/problem1.g --values", 2, "graphrun: error: --values goes with --dot" },
    { "no/such/file.g", 1, "no/such/file.g: error: cannot open: No such file or directory" },
    { "models/problem1.g other.g", 2, "graphrun: error: one model file at a time" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    TuRun r = tu_run(cases[i].args);
    ck_assert_msg(!r.signaled && r.status == cases[i].status, "'%s': exit %d", cases[i].args, r.status);
    ck_assert_msg(strstr(r.err, cases[i].err) == r.err, "'%s': %s", cases[i].args, r.err);
    tu_free(&r);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("core");
  TCase *t = tcase_create("core");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, problem1_scalar);
  tcase_add_test(t, problem1_skip);
  tcase_add_test(t, problem1_vector);
  tcase_add_test(t, set_overrides);
  tcase_add_test(t, set_errors);
  tcase_add_test(t, parser_structure);
  tcase_add_test(t, precedence_and_literals);
  tcase_add_test(t, trace_shows_the_worked_solution);
  tcase_add_test(t, json_and_dot);
  tcase_add_test(t, gradcheck_reports_relu_kink);
  tcase_add_test(t, one_item_ranges_on_the_left);
  tcase_add_test(t, writable_check_survives_a_neighbour);
  tcase_add_test(t, bad_model_files);
  tcase_add_test(t, bad_command_lines);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
