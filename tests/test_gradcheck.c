/*
** test_gradcheck.c — --gradcheck neither cries wolf nor sleeps.
**
** Correct gradients pass: every shipped model, the sequence models on their
** real data and size (on a short first piece), and two cases built to fool
** a plain difference quotient (tests/gradcheck/: noise.g, where float32
** rounding swamps the signal; steep.g, where curvature does).
** Wrong gradients fail: for every op with a backward, a small model whose
** parameters reach the output only through that op, checked once as it is
** (must pass) and once with the op's backward made 1% too big and 1% too
** small through graph_fault (must fail).
** Run from the repository root.
*/
#include "testutil.h"
#include "show.h"
#include "train.h"

/* ---- correct gradients pass ------------------------------------------------ */

static void expect_pass(const char *args) {
  TuRun r = tu_run(args);
  ck_assert_msg(!r.signaled && r.status == 0 && strstr(r.out, "all gradients agree within"),
                "graphrun %s: exit %d\n%s%s", args, r.status, r.out, r.err);
  ck_assert_msg(!strstr(r.out, "FAIL"), "graphrun %s:\n%s", args, r.out);
  tu_free(&r);
}

START_TEST(shipped_graph_models) {
  static const char *models[] = {"problem1", "problem1_vec", "problem1_skip", "problem2",
                                 "self_attention", "lstm_cell", "attn_decoder"};
  char args[256];
  for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
    snprintf(args, sizeof args, "models/%s.g --gradcheck", models[i]);
    expect_pass(args);
  }
  expect_pass("models/problem1.g --gradcheck --set x=2 --set b2=1/2");
  expect_pass("models/attn_decoder.g --gradcheck --backprop 'a[2,1]'");   /* small gradients */
}
END_TEST

/* The two: the rounding allowance and Richardson at work. */
START_TEST(noise_and_steep) {
  static const char *files[] = {"tests/gradcheck/noise.g", "tests/gradcheck/steep.g"};
  static const char *lines[] = {"  dz/da ", "  dz/dw "};
  static const double within[] = {1e-2, 1e-4};   /* one central difference: 4.6e-2, 1.0e-2 */
  for (int i = 0; i < 2; i++) {
    char args[128];
    snprintf(args, sizeof args, "%s --gradcheck", files[i]);
    TuRun r = tu_run(args);
    ck_assert_msg(r.status == 0 && strstr(r.out, "all gradients agree"), "%s: %s%s", files[i], r.out, r.err);
    const char *l = strstr(r.out, lines[i]);
    ck_assert_msg(l && strstr(l, "error "), "%s: %s", files[i], r.out);
    double err = 1;
    ck_assert_int_eq(sscanf(strstr(l, "error ") + 6, "%lf", &err), 1);
    ck_assert_msg(err < within[i], "%s: relative error %g", files[i], err);
    tu_free(&r);
  }
}
END_TEST

/* The three sequence models as shipped (d = 100, data/), on a short piece. */
START_TEST(shipped_sequence_models) {
  static const char *models[] = {"lm", "cond_lm", "attn_lm"};
  char args[256];
  snprintf(args, sizeof args, "models/%s.g --gradcheck --batch 4 --bptt 6", models[_i]);
  expect_pass(args);
}
END_TEST

/* ---- wrong gradients fail ------------------------------------------------------ */

/* Runs the check on the model text with op's backward times factor;
** returns gradcheck's result (0 agree, 1 disagree). */
static int check_with_fault(const char *text, OpKind op, double factor, int seq) {
  Err e = {0};
  char *path = tu_tmpfile(".g", text, strlen(text));
  Model *m = model_load(path, &e);
  ck_assert_msg(m != NULL, "%s: %s", gr_ops[op].name, e.msg);
  int present = 0;
  for (int i = 0; i < m->g->n; i++) present |= m->g->nodes[i]->kind == N_OP && m->g->nodes[i]->op == op;
  ck_assert_msg(present, "the case for %s has no %s node", gr_ops[op].name, gr_ops[op].name);
  FILE *out = fopen("/dev/null", "w");
  graph_fault(op, factor);
  int rc;
  if (seq) {
    TrainOpts to; train_opts_init(&to);
    TrainCfg c;
    ck_assert_msg(train_setup(m, &to, &c, &e) == 0, "%s: %s", gr_ops[op].name, e.msg);
    fflush(stdout);
    int saved = dup(1);
    dup2(fileno(out), 1);
    rc = train_gradcheck(m, &c, &e) ? 1 : 0;
    fflush(stdout);
    dup2(saved, 1); close(saved);
    if (rc) ck_assert_msg(strstr(e.msg, "gradients disagree"), "%s: %s", gr_ops[op].name, e.msg);
  } else {
    Node *o = m->g->outputs[m->g->nout - 1];
    Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
    ck_assert_int_eq(graph_forward(m->g, &ex), 0);
    rc = gradcheck(out, m, o, GRADCHECK_TOL, &e);
    ck_assert_msg(rc >= 0, "%s: %s", gr_ops[op].name, e.msg);
  }
  graph_fault(OP_LEAF, 1);
  fclose(out);
  model_free(m);
  unlink(path); free(path);
  return rc;
}

#define HEAD "param a: [3] = [0.3, -0.7, 1.1]\nparam b: [3] = [0.5, 0.8, -0.9]\n" \
             "param c: [3] = [0.5, 1.5, 2.5]\nparam W: [2, 3] = [[0.2, -0.4, 0.6], [0.9, 0.1, -0.3]]\n"
#define SEQ_DATA "data train = \"tests/data/tiny-train.txt\", valid = \"tests/data/tiny-valid.txt\""
#define SEQ_SRC ", src_train = \"tests/data/tiny-src-train.txt\", src_valid = \"tests/data/tiny-src-valid.txt\""
#define SEQ_PARAMS "const d = 6\nparam E: [V, d] ~ uniform(-0.5, 0.5)\nparam Wo: [V, d] ~ uniform(-0.5, 0.5)\n" \
                   "param bout: [V] = 0\n"
#define SEQ_TAIL "loss = cross_entropy(logits, y, ignore = 0)\noutput loss\n" \
                 "train sgd(lr = 1), batch = 3, bptt = 5, epochs = 1, seed = 7\n"

/* One causal attention head over the embeddings: scores, causal_softmax and
** attend, each reached by every parameter. */
#define TFM_ATTN SEQ_DATA "\n" SEQ_PARAMS "e = embed(E, x, pad = 0)\n" \
                 "logits = attend(causal_softmax(scores(e, e)), e) @ transpose(Wo) + bout\n" SEQ_TAIL

static const struct { OpKind op; int seq; const char *text; } cases[] = {
  { OP_ADD, 0, HEAD "z = sum(tanh(a + b))\noutput z\n" },
  { OP_SUB, 0, HEAD "z = sum(tanh(a - b))\noutput z\n" },
  { OP_MUL, 0, HEAD "z = sum(tanh(a * b))\noutput z\n" },
  { OP_DIV, 0, HEAD "z = sum(tanh(a / b))\noutput z\n" },
  { OP_NEG, 0, HEAD "z = sum(tanh(-a) * b)\noutput z\n" },
  { OP_MATMUL, 0, HEAD "z = sum(tanh(W @ a))\noutput z\n" },
  { OP_DOT, 0, HEAD "z = tanh(a . b)\noutput z\n" },
  { OP_RELU, 0, HEAD "z = sum(relu(a) * b)\noutput z\n" },
  { OP_TANH, 0, HEAD "z = sum(tanh(a) * b)\noutput z\n" },
  { OP_SIGMOID, 0, HEAD "z = sum(sigmoid(a) * b)\noutput z\n" },
  { OP_EXP, 0, HEAD "z = sum(exp(a) * b)\noutput z\n" },
  { OP_LOG, 0, HEAD "z = sum(log(c) * b)\noutput z\n" },
  { OP_SOFTMAX, 0, HEAD "z = sum(softmax(a) * b)\noutput z\n" },
  { OP_SUM, 0, HEAD "z = tanh(sum(a))\noutput z\n" },
  { OP_ADDN, 0, HEAD "for t in 1..3 {\n  q[t] = a * b\n}\nz = sum(tanh(sum(q[1..3])))\noutput z\n" },
  { OP_CONCAT, 0, HEAD "z = sum(tanh(concat(a, b)) * concat(c, b))\noutput z\n" },
  { OP_STACK, 0, HEAD "z = sum(tanh(stack(a, b)))\noutput z\n" },
  { OP_PICK, 0, HEAD "r[1..3] = tanh(a)\nz = r[1] * r[2] + r[3]\noutput z\n" },
  { OP_TRANSPOSE, 0, HEAD "param u: [2] = [0.4, -1.2]\nz = sum(tanh(transpose(W) @ u))\noutput z\n" },
  { OP_EMBED, 1, SEQ_DATA "\n" SEQ_PARAMS "e = embed(E, x, pad = 0)\nlogits = tanh(e) @ transpose(Wo) + bout\n" SEQ_TAIL },
  { OP_DROPOUT, 1, SEQ_DATA "\n" SEQ_PARAMS "e = embed(E, x, pad = 0)\n"
                   "logits = dropout(tanh(e), 0.2) @ transpose(Wo) + bout\n" SEQ_TAIL },
  { OP_LSTM, 1, SEQ_DATA "\n" SEQ_PARAMS "block dec = lstm(in = d, hidden = d, layers = 2)\n"
                "h = dec(embed(E, x, pad = 0))\nlogits = h @ transpose(Wo) + bout\n" SEQ_TAIL },
  { OP_XENT, 1, SEQ_DATA "\n" SEQ_PARAMS "logits = tanh(embed(E, x, pad = 0)) @ transpose(Wo) + bout\n" SEQ_TAIL },
  { OP_ATTN_DEC, 1, SEQ_DATA SEQ_SRC "\n" SEQ_PARAMS
                    "block enc = lstm(in = d, hidden = d, layers = 2)\nblock dec = attn_lstm(in = d, hidden = d, layers = 2)\n"
                    "m = enc(embed(E, src, pad = 0), lengths = src_len)\n"
                    "h = dec(embed(E, x, pad = 0), memory = m, lengths = src_len, init = m)\n"
                    "logits = h @ transpose(Wo) + bout\n" SEQ_TAIL },
  { OP_LAYER_NORM, 1, SEQ_DATA "\n" SEQ_PARAMS "param g: [d] ~ uniform(0.5, 1.5)\nparam bb: [d] ~ uniform(-0.5, 0.5)\n"
                      "logits = layer_norm(embed(E, x, pad = 0), g, bb) @ transpose(Wo) + bout\n" SEQ_TAIL },
  { OP_POSITIONS, 1, SEQ_DATA "\n" SEQ_PARAMS "param P: [5, d] ~ uniform(-0.5, 0.5)\n"
                     "logits = tanh(embed(E, x, pad = 0) + positions(P, x)) @ transpose(Wo) + bout\n" SEQ_TAIL },
  { OP_SCORES, 1, TFM_ATTN },
  { OP_CAUSAL_SOFTMAX, 1, TFM_ATTN },
  { OP_ATTEND, 1, TFM_ATTN },
  { OP_TRANSFORMER, 1, SEQ_DATA "\n" SEQ_PARAMS "block tf = transformer(d = d, heads = 2, ffn = 12, layers = 1, dropout = 0)\n"
                       "logits = tf(embed(E, x, pad = 0)) @ transpose(Wo) + bout\n" SEQ_TAIL },
};
#define NCASES (int)(sizeof cases / sizeof *cases)

/* Case _i: passes as it is, fails 1% off either way. */
START_TEST(one_percent_off_is_caught) {
  const char *name = gr_ops[cases[_i].op].name;
  ck_assert_msg(check_with_fault(cases[_i].text, cases[_i].op, 1.0, cases[_i].seq) == 0, "%s: correct gradient refused", name);
  ck_assert_msg(check_with_fault(cases[_i].text, cases[_i].op, 1.01, cases[_i].seq) == 1, "%s: gradient 1%% too big not caught", name);
  ck_assert_msg(check_with_fault(cases[_i].text, cases[_i].op, 0.99, cases[_i].seq) == 1, "%s: gradient 1%% too small not caught", name);
}
END_TEST

/* Every op with a backward has a case above. */
START_TEST(every_op_has_a_case) {
  for (int op = 0; op < OP__COUNT; op++) {
    if (op == OP_LEAF) continue;
    int found = 0;
    for (int i = 0; i < NCASES; i++) found |= (int)cases[i].op == op;
    ck_assert_msg(found, "no 1%% fault case for op %s in test_gradcheck.c", gr_ops[op].name);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("gradcheck");
  TCase *t = tcase_create("passes");
  tcase_set_timeout(t, 600);
  tcase_add_test(t, shipped_graph_models);
  tcase_add_test(t, noise_and_steep);
  tcase_add_loop_test(t, shipped_sequence_models, 0, 3);
  suite_add_tcase(s, t);
  t = tcase_create("sharp");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, every_op_has_a_case);
  tcase_add_loop_test(t, one_percent_off_is_caught, 0, NCASES);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
