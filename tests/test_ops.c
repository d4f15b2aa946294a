/*
** test_ops.c — every op's forward and backward against central finite
** differences, on random inputs of several shapes, plus the op table's own
** consistency.  The loss is sum(op(inputs) * R) with a random R, so every
** output element's gradient matters.
*/
#include "testutil.h"
#include "graph.h"
#include <ctype.h>

#define MAXIN 25
typedef struct Case {
  OpKind op; int nin; int rank[MAXIN]; int shape[MAXIN][4]; float lo, hi; int iattr0;
  int ids[MAXIN];      /* > 0: input k holds token ids in [0, ids[k]) and takes no gradient */
  float p;             /* fattr[0] (dropout) */
  int training;        /* dropout on; every forward draws the same mask */
  /* Makes the op's node from the inputs, attributes and all (the sequence
  ** ops); NULL: the op applied to them, with iattr[0] = iattr0. */
  Node *(*make)(Graph *g, Node **in);
} Case;

static const Loc L = { "test", 1, 1 };

static double loss_of(Graph *g, Node *loss, const Case *c) {
  Exec ex; memset(&ex, 0, sizeof ex); Err e = {0}; ex.err = &e;
  ex.training = c->training; rng_seed(&ex.rng, 42);
  ck_assert_msg(graph_forward(g, &ex) == 0, "%s", e.msg);
  return loss->val.data[0];
}

static void check_case(const Case *c, unsigned seed) {
  Rng r; rng_seed(&r, seed);
  Graph *g = graph_new("test");
  Node *in[MAXIN];
  for (int k = 0; k < c->nin; k++) {
    Tensor t; ck_assert_int_eq(tensor_shape(&t, c->rank[k], c->shape[k]), 0);
    t.data = malloc(sizeof(float) * (t.n ? t.n : 1));
    for (long i = 0; i < t.n; i++) {
      float v = c->lo + (c->hi - c->lo) * rng_uniform(&r);
      if (c->op == OP_RELU && fabsf(v) < 0.1f) v = v < 0 ? v - 0.1f : v + 0.1f;   /* away from the kink */
      if (c->ids[k]) v = (float)(int)(rng_uniform(&r) * c->ids[k]);
      t.data[i] = v;
    }
    char name[16]; snprintf(name, sizeof name, "x%d", k);
    in[k] = graph_leaf(g, c->ids[k] ? N_INPUT : N_PARAM, name, L, &t);
    if (c->ids[k]) in[k]->flags |= NF_NOGRAD;
    free(t.data);
  }
  Node *y;
  if (c->make) y = c->make(g, in);
  else {
    y = graph_add(g, N_OP, c->op, "y", L, c->nin, in);
    y->iattr[0] = c->iattr0;
    y->fattr[0] = c->p;
  }
  ck_assert_int_eq(y->op, c->op);
  Err e = {0};
  ck_assert_msg(gr_ops[c->op].shape(y, &e) == 0, "%s: %s", gr_ops[c->op].name, e.msg);
  Tensor rt = y->val; rt.data = malloc(sizeof(float) * (rt.n ? rt.n : 1));
  for (long i = 0; i < rt.n; i++) rt.data[i] = rng_uniform(&r) * 2 - 1;
  Node *R = graph_leaf(g, N_CONST, "R", L, &rt);
  free(rt.data);
  Node *yr[2] = { y, R };
  Node *p = graph_add(g, N_OP, OP_MUL, "p", L, 2, yr);
  Node *loss = graph_add(g, N_OP, OP_SUM, "loss", L, 1, &p);
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
  ex.training = c->training; rng_seed(&ex.rng, 42);
  ck_assert_msg(graph_forward(g, &ex) == 0, "%s", e.msg);
  ck_assert_int_eq(graph_backward(g, loss, &ex), 0);
  /* A second backward pass gives the same bits: it reads the forward
  ** pass's values and writes only gradients (training names the op of a
  ** NaN in a parameter's gradient that way, Exec.params_later). */
  for (int again = 0; again < 2; again++) {
    float *first[MAXIN] = { 0 };
    for (int k = 0; k < c->nin; k++)
      if (!c->ids[k]) { first[k] = malloc(sizeof(float) * (in[k]->val.n ? in[k]->val.n : 1)); memcpy(first[k], in[k]->grad.data, sizeof(float) * in[k]->val.n); }
    ck_assert_int_eq(graph_backward(g, loss, &ex), 0);
    for (int k = 0; k < c->nin; k++) {
      if (!first[k]) continue;
      ck_assert_msg(!memcmp(first[k], in[k]->grad.data, sizeof(float) * in[k]->val.n), "%s: input %d's gradient differs in a second backward pass", gr_ops[c->op].name, k);
      free(first[k]);
    }
  }
  for (int k = 0; k < c->nin; k++) {
    if (c->ids[k]) continue;
    long n = in[k]->val.n;
    float *ana = malloc(sizeof(float) * n);
    memcpy(ana, in[k]->grad.data, sizeof(float) * n);
    for (long i = 0; i < n; i++) {
      float x0 = in[k]->val.data[i];
      double h = 1e-2;
      in[k]->val.data[i] = x0 + h; double fp = loss_of(g, loss, c);
      in[k]->val.data[i] = x0 - h; double fm = loss_of(g, loss, c);
      in[k]->val.data[i] = x0;
      double num = (fp - fm) / (2 * h);
      double err = fabs(num - ana[i]) / fmax(1e-2, fabs(num) + fabs(ana[i]));
      ck_assert_msg(err < 2e-2, "%s input %d element %ld: analytic %g, numeric %g", gr_ops[c->op].name, k, i, ana[i], num);
    }
    free(ana);
  }
  graph_free(g);
}

/* The sequence ops' nodes, as the builder makes them (ops_seq.h, ops_attn.h). */
static Node *attrs(Node *n, int a0, int a1, int a2, int a3) {
  n->iattr[0] = a0; n->iattr[1] = a1; n->iattr[2] = a2; n->iattr[3] = a3;
  return n;
}
/* x [3,2,2] -> two layers of H = 2 (W_ih, W_hh, b each), from zeros. */
static Node *make_lstm(Graph *g, Node **in) { return attrs(graph_add(g, N_OP, OP_LSTM, "y", L, 7, in), 2, 2, 0, 2); }
/* e [T,B,2]; the encoder over in[1..4] with lengths in[5] (3 and 2 of S = 3);
** the decoder's W_ih, W_hh, b, W_in, W_c in[6..10]. */
static Node *make_attn(Graph *g, Node **in) {
  Err e = {0};
  Node *enc = attrs(graph_add(g, N_OP, OP_LSTM, "enc", L, 4, in + 1), 1, 2, 0, 2);
  ck_assert_msg(gr_ops[OP_LSTM].shape(enc, &e) == 0, "%s", e.msg);
  in[5]->val.data[0] = 3; in[5]->val.data[1] = 2;
  Node *dec[9] = { in[0], enc, in[5], enc, in[6], in[7], in[8], in[9], in[10] };
  return attrs(graph_add(g, N_OP, OP_ATTN_DEC, "y", L, 9, dec), 1, 2, 0, 2);
}
/* x [T,B,4], then layers of 12 parameters (d = 4, FFN 6); 2 heads; dropout
** 0.2.  The FFN's ReLU inputs are kept at least ~1 away from 0 (W_1 small,
** |b_1| >= 1, half of them negative), so that no step of the finite
** differences crosses a kink. */
static Node *make_tfm(Graph *g, Node **in, int layers) {
  for (int l = 0; l < layers; l++) {
    Node *W1 = in[1 + 12 * l + 8], *b1 = in[1 + 12 * l + 9];
    for (long i = 0; i < W1->val.n; i++) W1->val.data[i] *= 0.1f;
    for (long i = 0; i < b1->val.n; i++) b1->val.data[i] = (i % 2 ? -1.f : 1.f) * (1.f + fabsf(b1->val.data[i]));
  }
  Node *n = attrs(graph_add(g, N_OP, OP_TRANSFORMER, "y", L, 1 + 12 * layers, in), layers, 2, 0, 0);
  n->fattr[0] = 0.2f;
  return n;
}
static Node *make_tfm1(Graph *g, Node **in) { return make_tfm(g, in, 1); }
static Node *make_tfm2(Graph *g, Node **in) { return make_tfm(g, in, 2); }

#define S(...) { __VA_ARGS__ }
/* The elementwise and list cases leave the sequence fields zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const Case cases[] = {
  { OP_ADD, 2, {2, 2}, { S(3, 4), S(3, 4) }, -1, 1, 0 },
  { OP_ADD, 2, {0, 1}, { S(0), S(3) }, -1, 1, 0 },
  { OP_ADD, 2, {2, 1}, { S(3, 4), S(4) }, -1, 1, 0 },
  { OP_SUB, 2, {1, 2}, { S(4), S(3, 4) }, -1, 1, 0 },
  { OP_SUB, 2, {2, 0}, { S(2, 3), S(0) }, -1, 1, 0 },
  { OP_ADD, 2, {1, 3}, { S(4), S(2, 3, 4) }, -1, 1, 0 },
  { OP_SUB, 2, {3, 2}, { S(2, 3, 4), S(3, 4) }, -1, 1, 0 },
  { OP_MUL, 2, {2, 2}, { S(3, 4), S(3, 4) }, -1, 1, 0 },
  { OP_MUL, 2, {0, 2}, { S(0), S(2, 2) }, -1, 1, 0 },
  { OP_MUL, 2, {3, 1}, { S(2, 2, 3), S(3) }, -1, 1, 0 },
  { OP_DIV, 2, {1, 1}, { S(5), S(5) }, 0.5, 2, 0 },
  { OP_DIV, 2, {2, 0}, { S(2, 3), S(0) }, 0.5, 2, 0 },
  { OP_DIV, 2, {2, 3}, { S(3, 4), S(2, 3, 4) }, 0.5, 2, 0 },
  { OP_NEG, 1, {2}, { S(2, 3) }, -1, 1, 0 },
  { OP_MATMUL, 2, {2, 2}, { S(3, 4), S(4, 2) }, -1, 1, 0 },
  { OP_MATMUL, 2, {2, 1}, { S(3, 4), S(4) }, -1, 1, 0 },
  { OP_MATMUL, 2, {1, 2}, { S(4), S(4, 2) }, -1, 1, 0 },
  { OP_MATMUL, 2, {3, 2}, { S(2, 3, 4), S(4, 5) }, -1, 1, 0 },
  /* the fused forms ops_fuse makes: b read transposed, a bias row */
  { OP_MATMUL, 2, {2, 2}, { S(3, 4), S(2, 4) }, -1, 1, 1 },
  { OP_MATMUL, 3, {3, 2, 1}, { S(2, 3, 4), S(5, 4), S(5) }, -1, 1, 1 },
  { OP_MATMUL, 3, {2, 2, 1}, { S(3, 4), S(4, 5), S(5) }, -1, 1, 0 },
  { OP_DOT, 2, {1, 1}, { S(5), S(5) }, -1, 1, 0 },
  { OP_RELU, 1, {2}, { S(3, 4) }, -1, 1, 0 },
  { OP_RELU, 1, {0}, { S(0) }, 0.2, 1, 0 },
  { OP_TANH, 1, {2}, { S(3, 4) }, -2, 2, 0 },
  { OP_SIGMOID, 1, {1}, { S(6) }, -3, 3, 0 },
  { OP_EXP, 1, {2}, { S(2, 3) }, -1, 1, 0 },
  { OP_LOG, 1, {1}, { S(5) }, 0.5, 3, 0 },
  { OP_SOFTMAX, 1, {1}, { S(5) }, -2, 2, 0 },
  { OP_SOFTMAX, 1, {2}, { S(3, 4) }, -2, 2, 0 },
  { OP_SUM, 1, {2}, { S(3, 4) }, -1, 1, 0 },
  { OP_ADDN, 3, {2, 2, 2}, { S(2, 3), S(2, 3), S(2, 3) }, -1, 1, 0 },
  { OP_CONCAT, 2, {1, 1}, { S(2), S(3) }, -1, 1, 0 },
  { OP_CONCAT, 3, {2, 2, 2}, { S(2, 2), S(2, 3), S(2, 1) }, -1, 1, 0 },
  { OP_STACK, 3, {1, 1, 1}, { S(2), S(2), S(2) }, -1, 1, 0 },
  { OP_STACK, 2, {0, 0}, { S(0), S(0) }, -1, 1, 0 },
  { OP_PICK, 1, {2}, { S(4, 3) }, -1, 1, 2 },
  { OP_PICK, 1, {1}, { S(4) }, -1, 1, 0 },
  { OP_TRANSPOSE, 1, {2}, { S(2, 3) }, -1, 1, 0 },
  { OP_TRANSPOSE, 1, {2}, { S(33, 40) }, -1, 1, 0 },      /* more than one 32 x 32 tile */
  { OP_EMBED, 2, {2, 2}, { S(5, 3), S(2, 3) }, -1, 1, -1, .ids = { 0, 5 } },
  { OP_DROPOUT, 1, {2}, { S(4, 5) }, -1, 1, 0, .p = 0.3f, .training = 1 },
  { OP_DROPOUT, 1, {1}, { S(6) }, -1, 1, 0, .p = 0.5f },                   /* not training: identity */
  { OP_LSTM, 7, {3, 2, 2, 1, 2, 2, 1}, { S(3, 2, 2), S(8, 2), S(8, 2), S(8), S(8, 2), S(8, 2), S(8) }, -1, 1, 0, .make = make_lstm },
  { OP_XENT, 2, {2, 1}, { S(4, 5), S(4) }, -2, 2, -1, .ids = { 0, 5 } },
  { OP_XENT, 2, {3, 2}, { S(2, 3, 5), S(2, 3) }, -2, 2, 0, .ids = { 0, 5 } },   /* id 0 ignored */
  { OP_ATTN_DEC, 11, {3, 3, 2, 2, 1, 1, 2, 2, 1, 2, 2},
    { S(2, 2, 2), S(3, 2, 2), S(8, 2), S(8, 2), S(8), S(2), S(8, 4), S(8, 2), S(8), S(2, 2), S(2, 4) },
    -1, 1, 0, .ids = { [5] = 4 }, .make = make_attn },
  { OP_LAYER_NORM, 3, {3, 1, 1}, { S(2, 3, 5), S(5), S(5) }, -2, 2, 0 },
  { OP_LAYER_NORM, 3, {1, 1, 1}, { S(4), S(4), S(4) }, -2, 2, 0 },
  { OP_CAUSAL_SOFTMAX, 1, {2}, { S(4, 4) }, -2, 2, 0 },
  { OP_CAUSAL_SOFTMAX, 1, {4}, { S(2, 2, 3, 3) }, -2, 2, 0 },
  { OP_SCORES, 2, {3, 3}, { S(4, 2, 3), S(4, 2, 3) }, -1, 1, 0 },
  { OP_SCORES, 2, {4, 4}, { S(3, 2, 2, 3), S(3, 2, 2, 3) }, -1, 1, 0 },     /* streams and heads */
  { OP_SCORES, 2, {2, 2}, { S(3, 2), S(3, 2) }, -1, 1, 0 },
  { OP_ATTEND, 2, {3, 3}, { S(2, 4, 4), S(4, 2, 3) }, -1, 1, 0 },
  { OP_ATTEND, 2, {4, 4}, { S(2, 2, 3, 3), S(3, 2, 2, 3) }, -1, 1, 0 },
  { OP_POSITIONS, 2, {2, 2}, { S(5, 3), S(4, 2) }, -1, 1, 0, .ids = { 0, 7 } },
  { OP_POSITIONS, 2, {2, 1}, { S(3, 2), S(3) }, -1, 1, 0, .ids = { 0, 7 } },
  { OP_TRANSFORMER, 13, {3, 1, 1, 2, 1, 2, 1, 1, 1, 2, 1, 2, 1}, { S(3, 2, 4), S(4), S(4), S(12, 4), S(12), S(4, 4), S(4), S(4), S(4), S(6, 4), S(6), S(4, 6), S(4) }, -1, 1, 0, .make = make_tfm1 },
  { OP_TRANSFORMER, 13, {3, 1, 1, 2, 1, 2, 1, 1, 1, 2, 1, 2, 1}, { S(4, 1, 4), S(4), S(4), S(12, 4), S(12), S(4, 4), S(4), S(4), S(4), S(6, 4), S(6), S(4, 6), S(4) }, -1, 1, 0, .make = make_tfm1, .training = 1 },
  { OP_TRANSFORMER, 25, {3, 1, 1, 2, 1, 2, 1, 1, 1, 2, 1, 2, 1, 1, 1, 2, 1, 2, 1, 1, 1, 2, 1, 2, 1}, { S(2, 2, 4), S(4), S(4), S(12, 4), S(12), S(4, 4), S(4), S(4), S(4), S(6, 4), S(6), S(4, 6), S(4), S(4), S(4), S(12, 4), S(12), S(4, 4), S(4), S(4), S(4), S(6, 4), S(6), S(4, 6), S(4) }, -1, 1, 0, .make = make_tfm2 },
};

START_TEST(op_gradient) {
  const Case *c = &cases[_i];
  for (unsigned seed = 1; seed <= 3; seed++) check_case(c, seed * 7919 + _i);
}
END_TEST

/* ops_fuse folds `x @ transpose(W) + b` into one matmul node with the
** same value and gradients; a named intermediate is left alone. */
static Graph *linear_graph(int name_mid, Node **x, Node **W, Node **b, Node **y, Node **loss) {
  Graph *g = graph_new("test");
  Rng r; rng_seed(&r, 5);
  Node **leaf[3] = { x, W, b };
  const int rank[3] = { 3, 2, 1 }, shape[3][3] = { { 2, 3, 4 }, { 5, 4 }, { 5 } };
  for (int k = 0; k < 3; k++) {
    Tensor t; ck_assert_int_eq(tensor_shape(&t, rank[k], shape[k]), 0);
    t.data = malloc(sizeof(float) * t.n);
    for (long i = 0; i < t.n; i++) t.data[i] = rng_uniform(&r) * 2 - 1;
    *leaf[k] = graph_leaf(g, N_PARAM, k == 0 ? "x" : k == 1 ? "W" : "b", L, &t);
    free(t.data);
  }
  Node *t = graph_add(g, N_OP, OP_TRANSPOSE, name_mid ? "Wt" : NULL, L, 1, W);
  Node *xm[2] = { *x, t };
  Node *m = graph_add(g, N_OP, OP_MATMUL, NULL, L, 2, xm);
  Node *mb[2] = { m, *b };
  *y = graph_add(g, N_OP, OP_ADD, "y", L, 2, mb);
  Node *yy[2] = { *y, *y };
  Node *sq = graph_add(g, N_OP, OP_MUL, NULL, L, 2, yy);
  *loss = graph_add(g, N_OP, OP_SUM, "loss", L, 1, &sq);
  Err e = {0};
  ck_assert_int_eq(graph_infer(g, &e), 0);
  return g;
}
static void run_fb(Graph *g, Node *loss) {
  Err e = {0};
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
  ck_assert_msg(graph_forward(g, &ex) == 0 && graph_backward(g, loss, &ex) == 0, "%s", e.msg);
}
START_TEST(fuse_linear_layer) {
  for (int named = 0; named < 2; named++) {
    Node *x, *W, *b, *y, *loss;
    Graph *g = linear_graph(named, &x, &W, &b, &y, &loss);
    run_fb(g, loss);
    Node *p[4] = { x, W, b, y };
    float *before[4];
    for (int k = 0; k < 4; k++) {
      Tensor *t = k < 3 ? &p[k]->grad : &p[k]->val;
      before[k] = malloc(sizeof(float) * t->n);
      memcpy(before[k], t->data, sizeof(float) * t->n);
    }
    float l0 = loss->val.data[0];
    ops_fuse(g);
    int dead = 0;
    for (int i = 0; i < g->n; i++) dead += !!(g->nodes[i]->flags & NF_DEAD);
    if (named) {   /* Wt has a name: the transpose stays; the matmul still takes the bias */
      ck_assert_int_eq(dead, 1);
      ck_assert_int_eq(y->iattr[0], 0);
      ck_assert_int_eq(y->in[1]->op, OP_TRANSPOSE);
    } else {
      ck_assert_int_eq(dead, 2);
      ck_assert_int_eq(y->iattr[0], 1);
      ck_assert_ptr_eq(y->in[1], W);
    }
    ck_assert_int_eq(y->op, OP_MATMUL);
    ck_assert_int_eq(y->nin, 3);
    ck_assert_ptr_eq(y->in[2], b);
    run_fb(g, loss);
    TU_CLOSE(loss->val.data[0], l0, 1e-5 * fabs(l0));
    for (int k = 0; k < 4; k++) {
      Tensor *t = k < 3 ? &p[k]->grad : &p[k]->val;
      for (long i = 0; i < t->n; i++) TU_CLOSE(t->data[i], before[k][i], 1e-5);
      free(before[k]);
    }
    graph_free(g);
  }
}
END_TEST

START_TEST(every_op_is_tested_and_complete) {
  int seen[OP__COUNT] = {0};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) seen[cases[i].op] = 1;
  for (int op = 1; op < OP__COUNT; op++) {
    const OpDef *d = &gr_ops[op];
    ck_assert_msg(d->name && d->symbol, "op %d has no name", op);
    ck_assert_msg(d->shape && d->forward && d->backward, "op %s lacks a kernel", d->name);
    ck_assert_msg(seen[op], "op %s has no finite-difference case", d->name);
    /* a written op is what the builder makes of its spelling */
    if (d->infix) ck_assert_msg((int)ops_infix(d->spelling[0]) == op && (int)ops_called(d->name, 0) == op, "op %s", d->name);
    else if (d->spelling && isalpha((unsigned char)d->spelling[0]))
      ck_assert_msg((int)ops_called(d->spelling, d->list == OPL_ROW) == op, "op %s is not called '%s'", d->name, d->spelling);
  }
}
END_TEST

START_TEST(shape_errors_name_the_operator) {
  Graph *g = graph_new("m.g");
  Loc at = { "m.g", 3, 7 };
  float d[12] = {0};
  Tensor a, b; int sa[2] = { 100, 200 }, sb[2] = { 100, 3 };
  tensor_shape(&a, 2, sa); tensor_shape(&b, 2, sb);
  a.data = b.data = d; a.n = b.n = 12;   /* values unused by shape rules */
  Node *in[2];
  in[0] = graph_add(g, N_OP, OP_LEAF, "A", at, 0, NULL); in[0]->val = a;
  in[1] = graph_add(g, N_OP, OP_LEAF, "B", at, 0, NULL); in[1]->val = b;
  tensor_shape(&in[0]->val, 2, sa); tensor_shape(&in[1]->val, 2, sb);
  Node *m = graph_add(g, N_OP, OP_MATMUL, NULL, at, 2, in);
  Err e = {0};
  ck_assert_int_ne(gr_ops[OP_MATMUL].shape(m, &e), 0);
  ck_assert_str_eq(e.msg, "m.g:3:7: error: '@' needs [n,k] @ [k,m] (inner dimensions equal), got [100,200] and [100,3]");
  for (int i = 0; i < g->n; i++) g->nodes[i]->val.data = NULL, g->nodes[i]->kind = N_OP;
  graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("ops");
  TCase *t = tcase_create("ops");
  tcase_add_loop_test(t, op_gradient, 0, (int)(sizeof cases / sizeof cases[0]));
  tcase_add_test(t, fuse_linear_layer);
  tcase_add_test(t, every_op_is_tested_and_complete);
  tcase_add_test(t, shape_errors_name_the_operator);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
