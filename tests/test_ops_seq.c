/*
** test_ops_seq.c — the sequence ops (EMBED, DROPOUT, LSTM, XENT) inside
** real graphs: values against direct kernel calls, gradients of whole
** models against central finite differences, the encoder->decoder link,
** carried state, and located errors for bad data and shapes.
*/
#include "testutil.h"
#include "graph.h"
#include "ops_seq.h"
#include "lstm.h"

static const Loc LOC = {"test", 1, 1};

/* A leaf [shape] with values uniform in [lo,hi) from r. */
static Node *leaf(Graph *g, NodeKind kind, const char *name, int rank, const int *shape, float lo, float hi, Rng *r) {
  Tensor t;
  ck_assert_int_eq(tensor_shape(&t, rank, shape), 0);
  t.data = malloc(sizeof(float) * (size_t)(t.n ? t.n : 1));
  for (long i = 0; i < t.n; i++) t.data[i] = lo + (hi - lo) * rng_uniform(r);
  Node *n = graph_leaf(g, kind, name, LOC, &t);
  free(t.data);
  return n;
}

/* Integer ids in [lo,hi) as a NOGRAD input. */
static Node *ids(Graph *g, const char *name, int rank, const int *shape, int lo, int hi, Rng *r) {
  Node *n = leaf(g, N_INPUT, name, rank, shape, 0, 1, r);
  for (long i = 0; i < n->val.n; i++) n->val.data[i] = (float)(lo + (int)(rng_uniform(r) * (hi - lo)));
  n->flags |= NF_NOGRAD;
  return n;
}

static Node *op(Graph *g, OpKind k, int nin, Node **in) { return graph_add(g, N_OP, k, NULL, LOC, nin, in); }
static Node *op2(Graph *g, OpKind k, Node *a, Node *b) { Node *in[2] = {a, b}; return op(g, k, 2, in); }

/* An LSTM node over x with fresh params; extra = trailing inputs (lengths, init). */
/* (x's width comes from its value's shape, so infer first if x is an op.) */
static Node *lstm_node(Graph *g, Node *x, int L, int H, float p, int flags, Node **extra, int nextra, Rng *r) {
  Node *in[1 + 3 * 4 + 2];
  int k = 0, D = x->val.rank == 3 ? x->val.shape[2] : 1;
  in[k++] = x;
  for (int l = 0; l < L; l++) {
    int wi[2] = {4 * H, l ? H : D}, wh[2] = {4 * H, H}, b[1] = {4 * H};
    in[k++] = leaf(g, N_PARAM, NULL, 2, wi, -0.5f, 0.5f, r);
    in[k++] = leaf(g, N_PARAM, NULL, 2, wh, -0.5f, 0.5f, r);
    in[k++] = leaf(g, N_PARAM, NULL, 1, b, -0.5f, 0.5f, r);
  }
  for (int i = 0; i < nextra; i++) in[k++] = extra[i];
  Node *n = op(g, OP_LSTM, k, in);
  n->iattr[0] = L; n->iattr[1] = H; n->iattr[2] = flags; n->fattr[0] = p;
  return n;
}

typedef struct Run { Exec ex; Err e; uint64_t seed; } Run;
static void run_init(Run *R, int training, uint64_t seed) {
  memset(R, 0, sizeof *R);
  R->ex.err = &R->e; R->ex.training = training; R->seed = seed;
}
/* Forward from the same RNG state every time (same dropout masks). */
static double fwd(Graph *g, Node *loss, Run *R) {
  rng_seed(&R->ex.rng, R->seed);
  ck_assert_msg(graph_forward(g, &R->ex) == 0, "%s", R->e.msg);
  return loss->val.data[0];
}

/* Every element of every param node's gradient against central
** differences of the loss (float model, so eps = 1e-2 and a loose rtol).
** The first nskip elements of node `skip` are left out (an embedding's
** padding row, whose gradient is zero by definition). */
static void gradcheck_skip(Graph *g, Node *loss, Run *R, Node **before_fwd_reset, int nreset, const Node *skip, long nskip) {
  for (int i = 0; i < nreset; i++) seqop_lstm_reset(before_fwd_reset[i]);
  fwd(g, loss, R);
  ck_assert_msg(graph_backward(g, loss, &R->ex) == 0, "%s", R->e.msg);
  int checked = 0;
  for (int i = 0; i < g->n; i++) {
    Node *p = g->nodes[i];
    if (p->kind != N_PARAM) continue;
    float *ana = malloc(sizeof(float) * (size_t)p->val.n);
    memcpy(ana, p->grad.data, sizeof(float) * (size_t)p->val.n);
    for (long k = p == skip ? nskip : 0; k < p->val.n; k++) {
      float x0 = p->val.data[k], h = 1e-2f;
      for (int j = 0; j < nreset; j++) seqop_lstm_reset(before_fwd_reset[j]);
      p->val.data[k] = x0 + h; double lp = fwd(g, loss, R);
      for (int j = 0; j < nreset; j++) seqop_lstm_reset(before_fwd_reset[j]);
      p->val.data[k] = x0 - h; double lm = fwd(g, loss, R);
      p->val.data[k] = x0;
      double num = (lp - lm) / (2.0 * h);
      ck_assert_msg(fabs(num - ana[k]) <= 3e-4 + 2e-2 * fabs(num),
                    "param %s (node %d) element %ld: analytic %.7g, numeric %.7g", p->label, p->id, k, ana[k], num);
      checked++;
    }
    free(ana);
  }
  ck_assert_int_gt(checked, 0);
}
static void gradcheck(Graph *g, Node *loss, Run *R, Node **before_fwd_reset, int nreset) {
  gradcheck_skip(g, loss, R, before_fwd_reset, nreset, NULL, 0);
}

/* ---- a whole language model ---------------------------------------------- */

/* ids -> embed -> dropout -> 2-layer lstm (dropout between) -> @ Wo + bo
** -> xent, training mode, every parameter checked. */
START_TEST(lm_gradcheck) {
  Rng r; rng_seed(&r, 11);
  Graph *g = graph_new("test");
  int V = 7, d = 4, T = 3, B = 2, H = 5;
  int se[2] = {V, d}, sx[2] = {T, B}, so[2] = {H, V}, sb[1] = {V};
  Node *E = leaf(g, N_PARAM, "E", 2, se, -0.5f, 0.5f, &r);
  Node *x = ids(g, "x", 2, sx, 0, V, &r);
  Node *y = ids(g, "y", 2, sx, 0, V, &r);
  x->val.data[1] = 0; y->val.data[2] = 0;            /* some padding */
  Node *e = op2(g, OP_EMBED, E, x); e->iattr[0] = 0;
  Node *dr = op(g, OP_DROPOUT, 1, &e); dr->fattr[0] = 0.3f;
  Err e1 = {0};
  ck_assert_msg(graph_infer(g, &e1) == 0, "%s", e1.msg);
  Node *h = lstm_node(g, dr, 2, H, 0.25f, 0, NULL, 0, &r);
  Node *Wo = leaf(g, N_PARAM, "Wo", 2, so, -0.5f, 0.5f, &r), *bo = leaf(g, N_PARAM, "bo", 1, sb, -0.1f, 0.1f, &r);
  Node *lg = op2(g, OP_ADD, op2(g, OP_MATMUL, h, Wo), bo);
  Node *loss = op2(g, OP_XENT, lg, y); loss->iattr[0] = 0;
  Err e0 = {0};
  ck_assert_msg(graph_infer(g, &e0) == 0, "%s", e0.msg);
  ck_assert_int_eq(e->val.rank, 3); ck_assert_int_eq(h->val.shape[2], H);
  Run R; run_init(&R, 1, 5);
  gradcheck_skip(g, loss, &R, NULL, 0, E, d);
  for (int j = 0; j < d; j++) ck_assert_float_eq(E->grad.data[j], 0.0f);   /* padding row */
  const XentStat *st = seqop_xent_stat(loss);
  ck_assert_ptr_nonnull(st);
  ck_assert_int_eq(st->count, T * B - 1);
  TU_CLOSE(loss->val.data[0], st->sum / st->count, 1e-6);
  graph_free(g);
}
END_TEST

/* The LSTM op's values are the kernel's on the same data. */
START_TEST(lstm_op_is_kernel) {
  Rng r; rng_seed(&r, 12);
  Graph *g = graph_new("test");
  int sx[3] = {4, 3, 2};
  Node *x = leaf(g, N_INPUT, "x", 3, sx, -1, 1, &r);
  Node *h = lstm_node(g, x, 2, 3, 0, 0, NULL, 0, &r);
  Node *s = op(g, OP_SUM, 1, &h);
  Run R; run_init(&R, 0, 1);
  fwd(g, s, &R);
  LstmLayer ly[2];
  for (int l = 0; l < 2; l++)
    ly[l] = (LstmLayer){h->in[1 + 3 * l]->val.data, h->in[2 + 3 * l]->val.data, h->in[3 + 3 * l]->val.data, 0, 0, 0};
  LstmRun run = {.T = 4, .B = 3, .D = 2, .H = 3, .L = 2, .layer = ly};
  Arena A; arena_init(&A, 1 << 16);
  float y[4 * 3 * 3], hN[2 * 3 * 3], cN[2 * 3 * 3];
  ck_assert_int_eq(lstm_seq_fwd(&run, &A, NULL, x->val.data, NULL, NULL, y, hN, cN), 0);
  for (int k = 0; k < 36; k++) ck_assert_float_eq(h->val.data[k], y[k]);
  for (int k = 0; k < 18; k++) {
    ck_assert_float_eq(h->aux[0].data[k], hN[k]);
    ck_assert_float_eq(h->aux[0].data[18 + k], cN[k]);
  }
  arena_free(&A);
  graph_free(g);
}
END_TEST

/* ---- encoder -> decoder ------------------------------------------------------ */

/* A padded encoder (lengths) whose final state starts the decoder: the
** decoder's values are the kernel run from the encoder's final state, and
** the encoder's parameters get their gradient through the link. */
START_TEST(encoder_decoder_link) {
  Rng r; rng_seed(&r, 13);
  Graph *g = graph_new("test");
  int Ts = 4, Tt = 3, B = 3, d = 3, H = 4, V = 5;
  int sxs[3] = {Ts, B, d}, sxt[3] = {Tt, B, d}, sl[1] = {B}, sy[2] = {Tt, B}, so[2] = {H, V};
  Node *xs = leaf(g, N_PARAM, "xs", 3, sxs, -1, 1, &r);
  Node *len = leaf(g, N_INPUT, "len", 1, sl, 0, 1, &r);
  len->flags |= NF_NOGRAD;
  len->val.data[0] = 4; len->val.data[1] = 2; len->val.data[2] = 1;
  Node *enc = lstm_node(g, xs, 2, H, 0, 1, &len, 1, &r);
  Node *xt = leaf(g, N_PARAM, "xt", 3, sxt, -1, 1, &r);
  Node *dec = lstm_node(g, xt, 2, H, 0, 2, &enc, 1, &r);
  Node *Wo = leaf(g, N_PARAM, "Wo", 2, so, -0.5f, 0.5f, &r);
  Node *y = ids(g, "y", 2, sy, 0, V, &r);
  Node *loss = op2(g, OP_XENT, op2(g, OP_MATMUL, dec, Wo), y); loss->iattr[0] = -1;
  Run R; run_init(&R, 1, 3);
  fwd(g, loss, &R);
  /* Decoder values = kernel from the encoder's final state. */
  LstmLayer ly[2];
  for (int l = 0; l < 2; l++)
    ly[l] = (LstmLayer){dec->in[1 + 3 * l]->val.data, dec->in[2 + 3 * l]->val.data, dec->in[3 + 3 * l]->val.data, 0, 0, 0};
  LstmRun run = {.T = Tt, .B = B, .D = d, .H = H, .L = 2, .layer = ly};
  Arena A; arena_init(&A, 1 << 16);
  float yy[3 * 3 * 4];
  const float *s = enc->aux[0].data;
  ck_assert_int_eq(lstm_seq_fwd(&run, &A, NULL, xt->val.data, s, s + 2 * B * H, yy, NULL, NULL), 0);
  for (int k = 0; k < Tt * B * H; k++) ck_assert_float_eq(dec->val.data[k], yy[k]);
  arena_free(&A);
  /* Encoder outputs past each row's length are zero. */
  for (int j = 0; j < H; j++) {
    ck_assert_float_eq(enc->val.data[(2 * B + 1) * H + j], 0.0f);   /* t=2, row 1 (len 2) */
    ck_assert_float_eq(enc->val.data[(1 * B + 2) * H + j], 0.0f);   /* t=1, row 2 (len 1) */
  }
  gradcheck(g, loss, &R, NULL, 0);
  /* The encoder's W_ih really received gradient (through the link only). */
  double mag = 0;
  for (long k = 0; k < enc->in[1]->val.n; k++) mag += fabs(enc->in[1]->grad.data[k]);
  ck_assert(mag > 1e-4);
  /* A second backward after one forward gives the same gradients (the
  ** link's state gradient is consumed, not counted twice). */
  long nw = enc->in[1]->val.n;
  float *g1 = malloc(sizeof(float) * (size_t)nw);
  fwd(g, loss, &R);
  ck_assert_int_eq(graph_backward(g, loss, &R.ex), 0);
  memcpy(g1, enc->in[1]->grad.data, sizeof(float) * (size_t)nw);
  ck_assert_int_eq(graph_backward(g, loss, &R.ex), 0);
  for (long k = 0; k < nw; k++) ck_assert_float_eq(enc->in[1]->grad.data[k], g1[k]);
  free(g1);
  graph_free(g);
}
END_TEST

/* ---- carried state ----------------------------------------------------------- */

/* Pass 2 starts where pass 1 ended (no gradient into the init link);
** seqop_lstm_reset starts over from the init link. */
START_TEST(carried_state) {
  Rng r; rng_seed(&r, 14);
  Graph *g = graph_new("test");
  int T = 3, B = 2, d = 3, H = 3;
  int sx[3] = {T, B, d};
  Node *xs = leaf(g, N_INPUT, "xs", 3, sx, -1, 1, &r);
  Node *enc = lstm_node(g, xs, 1, H, 0, 0, NULL, 0, &r);
  Node *xt = leaf(g, N_INPUT, "xt", 3, sx, -1, 1, &r);
  Node *dec = lstm_node(g, xt, 1, H, 0, 2 | 4, &enc, 1, &r);
  Node *loss = op(g, OP_SUM, 1, &dec);
  Run R; run_init(&R, 1, 1);
  long ny = (long)T * B * H;
  float *y1 = malloc(sizeof(float) * ny), *fin = malloc(sizeof(float) * 2 * B * H);
  fwd(g, loss, &R);
  memcpy(y1, dec->val.data, sizeof(float) * ny);
  memcpy(fin, dec->aux[0].data, sizeof(float) * 2 * B * H);
  ck_assert_int_eq(graph_backward(g, loss, &R.ex), 0);
  double m1 = 0;
  for (long k = 0; k < enc->in[1]->val.n; k++) m1 += fabs(enc->in[1]->grad.data[k]);
  ck_assert(m1 > 1e-4);                                 /* pass 1: through the link */

  fwd(g, loss, &R);                                     /* pass 2: from the carried state */
  LstmLayer ly = {dec->in[1]->val.data, dec->in[2]->val.data, dec->in[3]->val.data, 0, 0, 0};
  LstmRun run = {.T = T, .B = B, .D = d, .H = H, .L = 1, .layer = &ly};
  Arena A; arena_init(&A, 1 << 16);
  float y2[3 * 2 * 3];
  ck_assert_int_eq(lstm_seq_fwd(&run, &A, NULL, xt->val.data, fin, fin + B * H, y2, NULL, NULL), 0);
  for (long k = 0; k < ny; k++) ck_assert_float_eq(dec->val.data[k], y2[k]);
  ck_assert_int_eq(graph_backward(g, loss, &R.ex), 0);
  for (long k = 0; k < enc->in[1]->val.n; k++) ck_assert_float_eq(enc->in[1]->grad.data[k], 0.0f);

  seqop_lstm_reset(dec);                                   /* pass 3 = pass 1 */
  fwd(g, loss, &R);
  for (long k = 0; k < ny; k++) ck_assert_float_eq(dec->val.data[k], y1[k]);
  arena_free(&A);
  free(y1); free(fin);
  graph_free(g);
}
END_TEST

/* Carried state without an init link: the gradient of a second pass, whose
** initial state (pass 1's final state, made with unperturbed parameters)
** is a constant.  Each finite-difference evaluation redoes pass 1 first. */
static double second_pass(Graph *g, Node *h, Node *loss, Run *R, Node *p, long k, float delta) {
  float x0 = p->val.data[k];
  seqop_lstm_reset(h);
  fwd(g, loss, R);
  p->val.data[k] = x0 + delta;
  double l = fwd(g, loss, R);
  p->val.data[k] = x0;
  return l;
}

START_TEST(carried_state_gradcheck) {
  Rng r; rng_seed(&r, 15);
  Graph *g = graph_new("test");
  int sx[3] = {3, 2, 2}, so[2] = {3, 4}, sy[2] = {3, 2};
  Node *x = leaf(g, N_PARAM, "x", 3, sx, -1, 1, &r);
  Node *h = lstm_node(g, x, 2, 3, 0.2f, 4, NULL, 0, &r);
  Node *Wo = leaf(g, N_PARAM, "Wo", 2, so, -0.5f, 0.5f, &r);
  Node *y = ids(g, "y", 2, sy, 0, 4, &r);
  Node *loss = op2(g, OP_XENT, op2(g, OP_MATMUL, h, Wo), y); loss->iattr[0] = -1;
  Run R; run_init(&R, 1, 2);
  double l2 = second_pass(g, h, loss, &R, x, 0, 0.0f);
  seqop_lstm_reset(h);
  double l1 = fwd(g, loss, &R);
  ck_assert_msg(fabs(l1 - l2) > 1e-6, "pass 2 should differ from pass 1 (%g vs %g)", l1, l2);
  fwd(g, loss, &R);
  ck_assert_int_eq(graph_backward(g, loss, &R.ex), 0);
  for (int i = 0; i < g->n; i++) {
    Node *p = g->nodes[i];
    if (p->kind != N_PARAM) continue;
    float *ana = malloc(sizeof(float) * (size_t)p->val.n);
    memcpy(ana, p->grad.data, sizeof(float) * (size_t)p->val.n);
    for (long k = 0; k < p->val.n; k++) {
      double num = (second_pass(g, h, loss, &R, p, k, 1e-2f) - second_pass(g, h, loss, &R, p, k, -1e-2f)) / 2e-2;
      ck_assert_msg(fabs(num - ana[k]) <= 3e-4 + 2e-2 * fabs(num),
                    "param %s element %ld: analytic %.7g, numeric %.7g", p->label, k, ana[k], num);
    }
    free(ana);
  }
  graph_free(g);
}
END_TEST

/* ---- dropout ------------------------------------------------------------------ */

START_TEST(dropout_modes) {
  Rng r; rng_seed(&r, 16);
  Graph *g = graph_new("test");
  int sx[2] = {100, 50};
  Node *x = leaf(g, N_PARAM, "x", 2, sx, 0.5f, 1.5f, &r);
  Node *d = op(g, OP_DROPOUT, 1, &x); d->fattr[0] = 0.4f;
  Node *s = op(g, OP_SUM, 1, &d);
  Run R; run_init(&R, 0, 1);
  fwd(g, s, &R);                                        /* eval: identity */
  for (long k = 0; k < x->val.n; k++) ck_assert_float_eq(d->val.data[k], x->val.data[k]);
  ck_assert_int_eq(graph_backward(g, s, &R.ex), 0);
  for (long k = 0; k < x->val.n; k++) ck_assert_float_eq(x->grad.data[k], 1.0f);
  R.ex.training = 1;
  fwd(g, s, &R);
  ck_assert_int_eq(graph_backward(g, s, &R.ex), 0);
  long zeros = 0;
  for (long k = 0; k < x->val.n; k++) {
    if (d->val.data[k] == 0.0f) { zeros++; ck_assert_float_eq(x->grad.data[k], 0.0f); }
    else {
      TU_CLOSE(d->val.data[k], x->val.data[k] / 0.6f, 1e-6);
      TU_CLOSE(x->grad.data[k], 1 / 0.6f, 1e-6);
    }
  }
  ck_assert_msg(labs(zeros - 2000) < 200, "zeros %ld of 5000 at p=0.4", zeros);
  graph_free(g);
}
END_TEST

/* ---- xent ---------------------------------------------------------------------- */

START_TEST(xent_values) {
  Rng r; rng_seed(&r, 17);
  Graph *g = graph_new("test");
  int sx[2] = {4, 3}, st[1] = {4};
  Node *x = leaf(g, N_PARAM, "x", 2, sx, -2, 2, &r);
  Node *t = ids(g, "t", 1, st, 0, 3, &r);
  t->val.data[0] = 1; t->val.data[1] = 2; t->val.data[2] = 1; t->val.data[3] = 0;
  Node *loss = op2(g, OP_XENT, x, t); loss->iattr[0] = 1;   /* ignore id 1 */
  Run R; run_init(&R, 0, 1);
  fwd(g, loss, &R);
  double want = 0;
  for (int row = 1; row < 4; row += 2) {
    const float *v = x->val.data + row * 3;
    double z = log(exp(v[0]) + exp(v[1]) + exp(v[2]));
    want += z - v[(int)t->val.data[row]];
  }
  TU_CLOSE(seqop_xent_stat(loss)->sum, want, 1e-5);
  ck_assert_int_eq(seqop_xent_stat(loss)->count, 2);
  TU_CLOSE(loss->val.data[0], want / 2, 1e-6);
  ck_assert_int_eq(graph_backward(g, loss, &R.ex), 0);
  for (int j = 0; j < 3; j++) { ck_assert_float_eq(x->grad.data[j], 0); ck_assert_float_eq(x->grad.data[6 + j], 0); }
  gradcheck(g, loss, &R, NULL, 0);
  /* Everything ignored: 0, and no gradient. */
  for (int k = 0; k < 4; k++) t->val.data[k] = 1;
  fwd(g, loss, &R);
  ck_assert_float_eq(loss->val.data[0], 0.0f);
  ck_assert_int_eq(graph_backward(g, loss, &R.ex), 0);
  for (long k = 0; k < x->val.n; k++) ck_assert_float_eq(x->grad.data[k], 0.0f);
  graph_free(g);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------- */

/* Forward of a graph whose output is `out`: must fail with `want` in the message. */
static void expect_fwd_error(Graph *g, const char *want) {
  Run R; run_init(&R, 1, 1);
  ck_assert_int_eq(graph_forward(g, &R.ex), -1);
  ck_assert_msg(strstr(R.e.msg, want) != NULL, "message '%s' lacks '%s'", R.e.msg, want);
  ck_assert_msg(strncmp(R.e.msg, "test:1:1", 8) == 0, "message '%s' not located", R.e.msg);
}

/* ops_fuse marks an output product NF_LAZY: cross_entropy then computes it
** itself on the counted rows (Exec.fused_loss).  Same loss and gradients as
** the primitives, the uncounted rows' gradient exactly zero; without
** fused_loss (a decoder) the logits are computed as before. */
static void fused_case(int tw, int bias, int ignore) {
  Rng r; rng_seed(&r, 40 + 4 * tw + 2 * bias + ignore + 1);
  enum { T = 3, B = 4, K = 5, V = 7 };
  int sx[3] = {T, B, K}, sw[2] = {tw ? V : K, tw ? K : V}, sb[1] = {V}, st[2] = {T, B};
  Graph *g = graph_new("test");
  Node *x = leaf(g, N_PARAM, "x", 3, sx, -1, 1, &r);
  Node *W = leaf(g, N_PARAM, "W", 2, sw, -1, 1, &r);
  Node *b = leaf(g, N_PARAM, "b", 1, sb, -1, 1, &r);
  Node *t = ids(g, "t", 2, st, 1, V, &r);
  t->val.data[2] = 0;                  /* a class when nothing is ignored */
  if (ignore == 0) { t->val.data[1] = 0; t->val.data[6] = 0; t->val.data[11] = 0; t->val.data[2] = 3; }
  Node *in1[1] = {W};
  Node *lg = op2(g, OP_MATMUL, x, tw ? op(g, OP_TRANSPOSE, 1, in1) : W);
  if (bias) lg = op2(g, OP_ADD, lg, b);
  Node *loss = op2(g, OP_XENT, lg, t); loss->iattr[0] = ignore;
  Err e0 = {0};
  ck_assert_msg(graph_infer(g, &e0) == 0, "%s", e0.msg);
  Node *p[3] = {x, W, b};
  float want[3][T * B * K];
  Run R; run_init(&R, 1, 1);
  R.ex.check_finite = 1;
  double l0 = fwd(g, loss, &R);
  ck_assert_int_eq(graph_backward(g, loss, &R.ex), 0);
  for (int k = 0; k < 2 + bias; k++) memcpy(want[k], p[k]->grad.data, sizeof(float) * (size_t)p[k]->val.n);
  float logits[T * B * V];
  memcpy(logits, lg->val.data, sizeof logits);
  ops_fuse(g);
  Node *prod = loss->in[0];
  ck_assert_int_eq(prod->op, OP_MATMUL);
  ck_assert_int_eq(prod->nin, 2 + bias);
  ck_assert(prod->flags & NF_LAZY);
  for (int fused = 1; fused >= 0; fused--) {
    R.ex.fused_loss = fused;
    TU_CLOSE(fwd(g, loss, &R), l0, 1e-6 * fabs(l0));
    ck_assert_int_eq(seqop_xent_stat(loss)->count, (ignore == 0 ? T * B - 3 : T * B));
    if (fused && ignore == 0) ck_assert_ptr_null(prod->val.data);   /* only the counted rows */
    else for (int i = 0; i < T * B * V; i++) TU_CLOSE(prod->val.data[i], logits[i], 1e-6);
    ck_assert_msg(graph_backward(g, loss, &R.ex) == 0, "%s", R.e.msg);
    if (fused) ck_assert_ptr_null(prod->val.data);                  /* they became the gradient */
    ck_assert(fused ? prod->grad.data == NULL : prod->grad.data != NULL);
    for (int k = 0; k < (bias ? 3 : 2); k++)
      for (long i = 0; i < p[k]->val.n; i++) TU_CLOSE(p[k]->grad.data[i], want[k][i], 1e-6);
    if (ignore == 0)
      for (int row = 1; row < T * B; row += 5)
        for (int j = 0; j < K; j++) ck_assert_float_eq(x->grad.data[row * K + j], 0.0f);
    /* The backward pass again on the same forward (the trainer's search for
    ** the op that made a NaN does this): the same gradients, bit for bit. */
    float once[3][T * B * K];
    for (int k = 0; k < 2 + bias; k++) memcpy(once[k], p[k]->grad.data, sizeof(float) * (size_t)p[k]->val.n);
    ck_assert_msg(graph_backward(g, loss, &R.ex) == 0, "%s", R.e.msg);
    for (int k = 0; k < 2 + bias; k++)
      ck_assert_msg(!memcmp(once[k], p[k]->grad.data, sizeof(float) * (size_t)p[k]->val.n), "fused %d: %s again",
                    fused, p[k]->label);
  }
  /* A bad target is the same located error, and a NaN is reported, not read. */
  R.ex.fused_loss = 1;
  for (int k = 0; k < 2; k++) {
    if (k) { t->val.data[4] = 1; W->val.data[2] = NAN; } else t->val.data[4] = (float)V;
    memset(&R.e, 0, sizeof R.e);
    ck_assert_int_eq(graph_forward(g, &R.ex), -1);
    const char *msg = k ? "produced NaN or Inf" : "'xent': target 7 (item 5 of 't') is not a class in [0,7)";
    ck_assert_msg(strstr(R.e.msg, msg) != NULL && !strncmp(R.e.msg, "test:1:1", 8), "%s", R.e.msg);
  }
  graph_free(g);
}
START_TEST(fused_loss_matches_its_primitives) {
  for (int tw = 0; tw < 2; tw++)
    for (int bias = 0; bias < 2; bias++)
      for (int ignore = -1; ignore <= 0; ignore++) fused_case(tw, bias, ignore);
}
END_TEST

START_TEST(bad_data_is_located_error) {
  Rng r; rng_seed(&r, 18);
  int se[2] = {5, 2}, sx[2] = {2, 2}, sxs[3] = {3, 2, 2}, sl[1] = {2};
  Graph *g = graph_new("test");
  Node *E = leaf(g, N_PARAM, "E", 2, se, -1, 1, &r);
  Node *x = ids(g, "x", 2, sx, 0, 5, &r);
  x->val.data[3] = 5;
  op2(g, OP_EMBED, E, x)->iattr[0] = -1;
  expect_fwd_error(g, "'embed': token id 5 (item 4 of 'x') is not in [0,5)");
  graph_free(g);

  g = graph_new("test");
  Node *lg = leaf(g, N_PARAM, "lg", 2, sx, -1, 1, &r);
  Node *t = ids(g, "t", 1, sl, 0, 2, &r);
  t->val.data[1] = 0.5f;
  op2(g, OP_XENT, lg, t)->iattr[0] = -1;
  expect_fwd_error(g, "'xent': target 0.5 (item 2 of 't') is not a class in [0,2)");
  graph_free(g);

  g = graph_new("test");
  Node *xs = leaf(g, N_INPUT, "xs", 3, sxs, -1, 1, &r);
  Node *len = leaf(g, N_INPUT, "len", 1, sl, 0, 1, &r);
  len->flags |= NF_NOGRAD;
  len->val.data[0] = 3; len->val.data[1] = 4;
  lstm_node(g, xs, 1, 2, 0, 1, &len, 1, &r);
  expect_fwd_error(g, "'lstm': length 4 (row 2 of 'len') is not an integer in [0,3]");
  graph_free(g);
}
END_TEST

START_TEST(bad_shapes_are_located_errors) {
  Rng r; rng_seed(&r, 19);
  int sxs[3] = {3, 2, 2}, s2[2] = {3, 2}, sw[2] = {8, 3};
  Graph *g = graph_new("test");
  Node *xs = leaf(g, N_INPUT, "xs", 3, sxs, -1, 1, &r);
  Node *h = lstm_node(g, xs, 1, 2, 0, 0, NULL, 0, &r);
  Node *bad = leaf(g, N_PARAM, "Whh", 2, sw, -1, 1, &r);
  h->in[2] = bad;
  expect_fwd_error(g, "'lstm' layer 1: W_hh must be [8,2]");
  graph_free(g);

  g = graph_new("test");
  Node *x2 = leaf(g, N_INPUT, "x2", 2, s2, -1, 1, &r);
  lstm_node(g, x2 = op(g, OP_DROPOUT, 1, &x2), 1, 2, 0, 0, NULL, 0, &r);
  expect_fwd_error(g, "'lstm' needs an input sequence [T,B,d]");
  graph_free(g);

  g = graph_new("test");
  xs = leaf(g, N_INPUT, "xs", 3, sxs, -1, 1, &r);
  Node *enc = lstm_node(g, xs, 1, 2, 0, 0, NULL, 0, &r);
  lstm_node(g, xs, 1, 3, 0, 2, &enc, 1, &r);             /* hidden 3 from hidden 2 */
  expect_fwd_error(g, "needs its layers, hidden size and batch (1, 3, 2), got (1, 2, 2)");
  graph_free(g);

  g = graph_new("test");
  Node *lg = leaf(g, N_PARAM, "lg", 3, sxs, -1, 1, &r);
  Node *t = ids(g, "t", 2, s2, 0, 2, &r);
  op2(g, OP_XENT, lg, t);
  Err e = {0};
  ck_assert_int_eq(graph_infer(g, &e), 0);                /* [3,2,2] vs [3,2]: fine */
  graph_free(g);

  g = graph_new("test");
  lg = leaf(g, N_PARAM, "lg", 2, s2, -1, 1, &r);
  t = ids(g, "t", 2, s2, 0, 2, &r);
  op2(g, OP_XENT, lg, t);
  expect_fwd_error(g, "'xent' needs logits [..., V] and targets [...]");
  graph_free(g);

  g = graph_new("test");
  Node *d = leaf(g, N_PARAM, "d", 2, s2, -1, 1, &r);
  op(g, OP_DROPOUT, 1, &d)->fattr[0] = 1.0f;
  expect_fwd_error(g, "'dropout' needs a probability in [0,1), got 1");
  graph_free(g);
}
END_TEST

static Suite *ops_seq_suite(void) {
  Suite *s = suite_create("ops_seq");
  TCase *tc = tcase_create("ops_seq");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, lm_gradcheck);
  tcase_add_test(tc, lstm_op_is_kernel);
  tcase_add_test(tc, encoder_decoder_link);
  tcase_add_test(tc, carried_state);
  tcase_add_test(tc, carried_state_gradcheck);
  tcase_add_test(tc, dropout_modes);
  tcase_add_test(tc, xent_values);
  tcase_add_test(tc, fused_loss_matches_its_primitives);
  tcase_add_test(tc, bad_data_is_located_error);
  tcase_add_test(tc, bad_shapes_are_located_errors);
  suite_add_tcase(s, tc);
  return s;
}

TU_MAIN(ops_seq_suite)
