/*
** test_tfm_model.c — the Transformer in the language: the fused kernels
** (the TRANSFORMER op) against the same layer written in primitives
** (models/transformer_layer.g), values and every gradient; the tools on
** Transformer models at toy size (--gradcheck, --trace, --dot, training);
** whole training runs against PyTorch (tests/fixtures/tfm_torch.txt, written
** by tests/tfm_torch.py through bench/torch_ref.py).
*/
#include "testutil.h"
#include "model.h"
#include "tfm.h"
#include "decode.h"
#include "checkpoint.h"

static const Loc TL = { "t", 1, 1 };

static Node *param_copy(Graph *g, const char *name, int rank, const int *shape, const float *data) {
  Tensor t; ck_assert_int_eq(tensor_shape(&t, rank, shape), 0);
  t.data = (float *)data;
  return graph_leaf(g, N_PARAM, name, TL, &t);
}
static const Node *find(const Model *m, const char *name) {
  const Node *n = graph_find(m->g, name);
  ck_assert_msg(n != NULL, "no node '%s' in the primitives model", name);
  return n;
}

/* The fused layer's parameter k: the primitives' params of the same role
** (W_qkv stacks WQ[1..H], WK[1..H], WV[1..H]; b_qkv the same for biases). */
static const char *const prim_name[TFM_NW] = {
  "ln1_g", "ln1_b", NULL, NULL, "Wo", "bo", "ln2_g", "ln2_b", "W1", "b1", "W2", "b2" };

START_TEST(fused_equals_primitives) {
  Err e = {0};
  Model *m = model_load("models/transformer_layer.g", &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
  ck_assert_msg(graph_forward(m->g, &ex) == 0 && graph_backward(m->g, graph_find(m->g, "loss"), &ex) == 0, "%s", e.msg);
  enum { T = 3, B = 2, d = 4, H = 2, dh = 2, F = 6 };
  const char *qkv[3] = { "WQ", "WK", "WV" }, *bqkv[3] = { "bQ", "bK", "bV" };
  float Wqkv[3 * d * d], bq[3 * d];
  char name[32];
  for (int j = 0; j < 3; j++)
    for (int h = 0; h < H; h++) {
      snprintf(name, sizeof name, "%s[%d]", qkv[j], h + 1);
      memcpy(Wqkv + (j * d + h * dh) * d, find(m, name)->val.data, sizeof(float) * dh * d);
      snprintf(name, sizeof name, "%s[%d]", bqkv[j], h + 1);
      memcpy(bq + j * d + h * dh, find(m, name)->val.data, sizeof(float) * dh);
    }
  Graph *g = graph_new("fused");
  Node *in[1 + TFM_NW];
  int sx[3] = { T, B, d };
  in[0] = param_copy(g, "X", 3, sx, find(m, "X")->val.data);
  for (int k = 0; k < TFM_NW; k++) {
    int r, c, sh[2];
    tfm_param_shape(k, d, F, &r, &c);
    sh[0] = r; sh[1] = c;
    const float *src = k == TFM_WQKV ? Wqkv : k == TFM_BQKV ? bq : find(m, prim_name[k])->val.data;
    in[1 + k] = param_copy(g, tfm_param_name[k], c ? 2 : 1, sh, src);
  }
  Node *y = graph_add(g, N_OP, OP_TRANSFORMER, "Y", TL, 1 + TFM_NW, in);
  y->iattr[0] = 1; y->iattr[1] = H;
  ck_assert_msg(gr_ops[OP_TRANSFORMER].shape(y, &e) == 0, "%s", e.msg);
  Node *R = param_copy(g, "R", 3, sx, find(m, "R")->val.data);
  R->kind = N_CONST;
  Node *yr[2] = { y, R };
  Node *p = graph_add(g, N_OP, OP_MUL, "p", TL, 2, yr);
  Node *loss = graph_add(g, N_OP, OP_SUM, "loss", TL, 1, &p);
  ck_assert_msg(graph_forward(g, &ex) == 0 && graph_backward(g, loss, &ex) == 0, "%s", e.msg);

  TU_CLOSE(loss->val.data[0], find(m, "loss")->val.data[0], 1e-5);
  const Node *Y = find(m, "Y");
  for (int i = 0; i < T * B * d; i++) TU_CLOSE(y->val.data[i], Y->val.data[i], 1e-5);
  for (int i = 0; i < T * B * d; i++) TU_CLOSE(in[0]->grad.data[i], find(m, "X")->grad.data[i], 1e-5);
  for (int k = 0; k < TFM_NW; k++) {
    const float *gf = in[1 + k]->grad.data;
    if (k == TFM_WQKV || k == TFM_BQKV) {
      int w = k == TFM_WQKV ? d : 1;
      for (int j = 0; j < 3; j++)
        for (int h = 0; h < H; h++) {
          snprintf(name, sizeof name, "%s[%d]", (k == TFM_WQKV ? qkv : bqkv)[j], h + 1);
          const float *gp = find(m, name)->grad.data;
          for (int i = 0; i < dh * w; i++) TU_CLOSE(gf[(j * d + h * dh) * w + i], gp[i], 1e-5);
        }
      continue;
    }
    const Node *pn = find(m, prim_name[k]);
    for (long i = 0; i < pn->val.n; i++) TU_CLOSE(gf[i], pn->grad.data[i], 1e-5);
  }
  graph_free(g);
  model_free(m);
}
END_TEST

/* Token ids [T,B] into a data input (replacing its value and shape). */
static void set_tokens(Node *n, int T, int B, const float *ids) {
  int sh[2] = { T, B };
  ck_assert_int_eq(tensor_shape(&n->val, 2, sh), 0);
  free(n->val.data);
  n->val.data = malloc(sizeof(float) * T * B);
  memcpy(n->val.data, ids, sizeof(float) * T * B);
}

/* The whole language model, block against heads written out: the fused
** model's weights copied into the primitives model give the same loss and
** the same gradient for every parameter (dropout off). */
START_TEST(fused_lm_equals_heads_lm) {
  Err e = {0};
  Model *fm = model_load("tests/data/tiny_tfm_block.g", &e);
  ck_assert_msg(fm != NULL, "%s", e.msg);
  Model *pm = model_load("tests/data/tiny_tfm_lm.g", &e);
  ck_assert_msg(pm != NULL, "%s", e.msg);
  enum { T = 5, B = 3, d = 8, H = 2, dh = 4 };
  /* every block parameter to its primitives: name, rows (W_qkv, b_qkv: per head and q/k/v) */
  const char *same[] = { "E", "P", "bout", "lnf_g", "lnf_b" };
  const char *blk[] = { "tf.ln1_g[1]", "tf.ln1_b[1]", "tf.W_o[1]", "tf.b_o[1]", "tf.ln2_g[1]", "tf.ln2_b[1]",
                        "tf.W_1[1]", "tf.b_1[1]", "tf.W_2[1]", "tf.b_2[1]" };
  const char *prim[] = { "ln1_g", "ln1_b", "Wo", "bo", "ln2_g", "ln2_b", "W1", "b1", "W2", "b2" };
  const char *qkv[2][3] = { { "WQ", "WK", "WV" }, { "bQ", "bK", "bV" } }, *fused[2] = { "tf.W_qkv[1]", "tf.b_qkv[1]" };
  char name[32];
  for (int i = 0; i < 5; i++) memcpy(find(pm, same[i])->val.data, find(fm, same[i])->val.data, sizeof(float) * find(fm, same[i])->val.n);
  for (int i = 0; i < 10; i++) memcpy(find(pm, prim[i])->val.data, find(fm, blk[i])->val.data, sizeof(float) * find(fm, blk[i])->val.n);
  for (int w = 0; w < 2; w++)
    for (int j = 0; j < 3; j++)
      for (int h = 0; h < H; h++) {
        snprintf(name, sizeof name, "%s[%d]", qkv[w][j], h + 1);
        int cols = w ? 1 : d;
        memcpy(find(pm, name)->val.data, find(fm, fused[w])->val.data + (j * d + h * dh) * cols, sizeof(float) * dh * cols);
      }
  float x[T * B], y[T * B];
  for (int i = 0; i < T * B; i++) { x[i] = 1 + (i * 7) % 15; y[i] = 1 + (i * 11 + 3) % 15; }
  Model *ms[2] = { fm, pm };
  for (int k = 0; k < 2; k++) {
    set_tokens(graph_find(ms[k]->g, "x"), T, B, x);
    set_tokens(graph_find(ms[k]->g, "y"), T, B, y);
    Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
    ck_assert_msg(graph_forward(ms[k]->g, &ex) == 0 && graph_backward(ms[k]->g, graph_find(ms[k]->g, "loss"), &ex) == 0, "%s", e.msg);
  }
  TU_CLOSE(find(fm, "loss")->val.data[0], find(pm, "loss")->val.data[0], 1e-5);
  ck_assert(find(fm, "loss")->val.data[0] > 1);
  for (int i = 0; i < 5; i++)
    for (long j = 0; j < find(fm, same[i])->val.n; j++) TU_CLOSE(find(fm, same[i])->grad.data[j], find(pm, same[i])->grad.data[j], 1e-5);
  for (int i = 0; i < 10; i++)
    for (long j = 0; j < find(fm, blk[i])->val.n; j++) TU_CLOSE(find(fm, blk[i])->grad.data[j], find(pm, prim[i])->grad.data[j], 1e-5);
  for (int w = 0; w < 2; w++)
    for (int j = 0; j < 3; j++)
      for (int h = 0; h < H; h++) {
        snprintf(name, sizeof name, "%s[%d]", qkv[w][j], h + 1);
        int cols = w ? 1 : d;
        const float *gf = find(fm, fused[w])->grad.data + (j * d + h * dh) * cols;
        for (int i = 0; i < dh * cols; i++) TU_CLOSE(gf[i], find(pm, name)->grad.data[i], 1e-5);
      }
  model_free(fm); model_free(pm);
}
END_TEST

/* The tools on the primitives layer: trace, dot, gradcheck. */
START_TEST(tools_on_the_layer) {
  TuRun r = tu_run("models/transformer_layer.g --gradcheck");
  ck_assert_msg(r.status == 0 && strstr(r.out, "all gradients agree"), "%s%s", r.out, r.err);
  tu_free(&r);
  r = tu_run("models/transformer_layer.g --trace");
  ck_assert_msg(r.status == 0, "%s", r.err);
  ck_assert_msg(strstr(r.out, "layer_norm") && strstr(r.out, "causal_softmax") && strstr(r.out, "scores"), "%s", r.out);
  tu_free(&r);
  r = tu_run("models/transformer_layer.g --dot");
  ck_assert_msg(r.status == 0 && strstr(r.out, "digraph") && strstr(r.out, "masked softmax"), "%s", r.err);
  tu_free(&r);
}
END_TEST

/* The language model in primitives on the tiny corpus: gradients agree,
** training lowers the perplexity, a window longer than the position
** table is a located error. */
START_TEST(tiny_lm) {
  TuRun r = tu_run("tests/data/tiny_tfm_lm.g --gradcheck");
  ck_assert_msg(r.status == 0 && strstr(r.out, "all gradients agree"), "%s%s", r.out, r.err);
  tu_free(&r);
  r = tu_run("tests/data/tiny_tfm_block.g --gradcheck");
  ck_assert_msg(r.status == 0 && strstr(r.out, "all gradients agree") && strstr(r.out, "dloss/dtf.W_qkv[1]"), "%s%s", r.out, r.err);
  ck_assert_msg(!strstr(r.out, "none compared"), "%s", r.out);
  tu_free(&r);
  r = tu_run("tests/data/tiny_tfm_lm.g --train --quiet --epochs 3");
  ck_assert_msg(r.status == 0, "%s", r.err);
  double v1 = 0, v3 = 0;
  const char *l1 = strstr(r.err, "epoch   1"), *l3 = strstr(r.err, "epoch   3");   /* the log is on stderr */
  ck_assert_msg(l1 && l3, "%s", r.err);
  ck_assert_int_eq(sscanf(strstr(l1, "valid ppl"), "valid ppl %lf", &v1), 1);
  ck_assert_int_eq(sscanf(strstr(l3, "valid ppl"), "valid ppl %lf", &v3), 1);
  ck_assert_msg(v3 < v1 && v3 < 3, "valid ppl %g -> %g", v1, v3);
  tu_free(&r);
  r = tu_run("tests/data/tiny_tfm_lm.g --train --quiet --bptt 6");
  ck_assert_int_eq(r.status, 1);
  ck_assert_msg(strstr(r.err, "tiny_tfm_lm.g:34:37: error: 'positions': 6 steps but the table [5,8] has rows for 5"), "%s", r.err);
  tu_free(&r);
}
END_TEST

/* --show-attention on a Transformer LM: per step and layer, each head's
** most attended word; the first step can only see itself (weight 1). */
START_TEST(show_attention_lm) {
  TuRun r = tu_run("tests/data/tiny_tfm_block.g --train --epochs 2 --quiet --show-attention --sentences 2");
  ck_assert_msg(r.status == 0, "%s", r.err);
  ck_assert_msg(strstr(r.out, "# sentence 2 of tests/data/tiny-valid.txt: the cat ran on the mat ."), "%s", r.out);
  ck_assert_msg(strstr(r.out, "\n<eos>        | <eos>/1.00 <eos>/1.00\n"), "%s", r.out);
  ck_assert_msg(strstr(r.out, "\ncat          | "), "%s", r.out);
  tu_free(&r);
  r = tu_run("tests/data/tiny_tfm_lm.g --show-attention");
  ck_assert_msg(r.status == 2 && strstr(r.err, "--show-attention applies to translation models and transformer language models"), "%s", r.err);
  tu_free(&r);
}
END_TEST

/* The most probable token of z[0..V) that sampling may draw. */
static int argmax_emittable(const float *z, int V) {
  int best = -1;
  for (int v = 0; v < V; v++) if (decode_emittable(v) && (best < 0 || z[v] > z[best])) best = v;
  return best;
}

/* --generate with a Transformer reads the whole window again at each step
** (no state to carry): after a little training on the tiny corpus, the
** samples are its sentences' kind ("the cat sat on the mat ."). */
START_TEST(generate_lm) {
  char ck[] = "/tmp/gr_tfmXXXXXX", args[256];
  close(mkstemp(ck));
  snprintf(args, sizeof args, "tests/data/tiny_tfm_block.g --train --epochs 6 --quiet --save %s", ck);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s", r.err);
  tu_free(&r);
  snprintf(args, sizeof args, "tests/data/tiny_tfm_block.g --generate 4 --load %s", ck);
  r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s", r.err);
  int lines = 0, starts = 0;
  for (char *l = r.out; *l; l = strchr(l, '\n') + 1) {
    lines++;
    starts += !strncmp(l, "the ", 4);
    if (!strchr(l, '\n')) break;
  }
  ck_assert_msg(lines == 4 && starts >= 3, "%s", r.out);
  tu_free(&r);
  /* Greedy (--top-k 1) sampling re-reads the window, so its words are the
  ** argmax at each position of ONE causal forward over <eos> and the words:
  ** position i sees tokens 0..i only.  (Carrying nothing and feeding one
  ** word a step would lose the context and the positions.) */
  snprintf(args, sizeof args, "tests/data/tiny_tfm_block.g --train --epochs 2 --quiet --save %s", ck);
  r = tu_run(args);        /* less sure of itself than after 6: the context matters */
  ck_assert_msg(r.status == 0, "%s", r.err);
  tu_free(&r);
  snprintf(args, sizeof args, "tests/data/tiny_tfm_block.g --generate 1 --top-k 1 --max-len 4 --load %s", ck);
  r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s", r.err);
  Err e = {0};
  Model *m = model_load("tests/data/tiny_tfm_block.g", &e);
  ck_assert_msg(m && ckpt_load(m, ck, NULL, &e) == 0, "%s", e.msg);
  int32_t x[5] = { CORPUS_EOS };
  int n = 1;
  for (char *w = strtok(r.out, " \n"); w && n < 5; w = strtok(NULL, " \n")) {
    x[n] = corpus_vocab_find(&m->data->vocab, w, strlen(w));
    ck_assert_msg(x[n] >= 0, "'%s' not a word", w);
    n++;
  }
  ck_assert_int_ge(n, 2);
  Decoder d;
  ck_assert_msg(decoder_init(&d, m, &e) == 0 && decoder_forward(&d, 0, 1, NULL, NULL, n, x, 0, &e) == 0, "%s", e.msg);
  int best[5];
  for (int i = 0; i < n; i++) {
    best[i] = argmax_emittable(d.logits->val.data + (size_t)i * d.V, d.V);
    if (i + 1 < n) ck_assert_msg(best[i] == x[i + 1], "step %d: sampled %d, argmax %d", i, x[i + 1], best[i]);
    else if (n < 5) ck_assert_msg(best[i] == CORPUS_EOS, "ended before <eos>: argmax %d", best[i]);   /* <eos> ended it */
  }
  int differs = 0;           /* and one word a step would have drawn other words */
  for (int i = 1; i < n; i++) {
    ck_assert_msg(decoder_forward(&d, 0, 1, NULL, NULL, 1, x + i, 0, &e) == 0, "%s", e.msg);
    differs += argmax_emittable(d.logits->val.data, d.V) != best[i];
  }
  ck_assert_msg(differs > 0, "this check cannot tell the window from one word a step: %s", args);
  model_free(m);
  tu_free(&r);
  unlink(ck);
}
END_TEST

/* Training the tiny Transformer LM without dropout (tests/data/tiny_tfm_exact.g
** at 1 and 2 layers): every epoch's train and valid perplexity and lr as
** PyTorch's from the same initial weights (tests/tfm_torch.py, float64), up to
** the 4 decimals --metrics prints.  8 epochs: forward, backward, Adam with its
** bias corrections, the clip and, in the last epochs, lr / 4 after an epoch
** without a new best. */
START_TEST(trains_like_pytorch) {
  static const struct { const char *name; int layers; } cases[] = { { "tiny_tfm_exact", 1 }, { "two_layers", 2 } };
  char *fix = tu_fixture("tfm_torch.txt");
  char *text = tu_slurp("tests/data/tiny_tfm_exact.g");
  char *at = strstr(text, "layers = 1");
  ck_assert_ptr_nonnull(at);
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    const char *sec = tu_fix_case(fix, cases[c].name);
    float dims[3];
    tu_fix_read(sec, "dims", dims, 3);
    int ep = (int)dims[0];
    ck_assert_int_eq((int)dims[1], cases[c].layers);
    float *tp = tu_fix_get(sec, "train_ppl", ep), *vp = tu_fix_get(sec, "valid_ppl", ep), *lr = tu_fix_get(sec, "lr", ep);
    at[9] = (char)('0' + cases[c].layers);
    char *model = tu_tmpfile(".g", text, strlen(text)), *met = tu_tmpfile(".csv", "", 0), args[512];
    snprintf(args, sizeof args, "%s --train --epochs %d --threads 1 --quiet --metrics %s", model, ep, met);
    TuRun r = tu_run(args);
    ck_assert_msg(r.status == 0, "%s", r.err);
    char *csv = tu_slurp(met), *row = strchr(csv, '\n');
    for (int e = 0; e < ep; e++) {
      int n;
      double t, v, l;
      ck_assert_msg(row && sscanf(row + 1, "%d,%lf,%lf,%lf", &n, &t, &v, &l) == 4 && n == e + 1, "%s: row %d of\n%s", cases[c].name, e + 1, csv);
      ck_assert_msg(fabs(t - tp[e]) <= 2e-4 * tp[e] && fabs(v - vp[e]) <= 2e-4 * vp[e] && fabs(l - lr[e]) <= 1e-5 * lr[e],
                    "%s, epoch %d: train ppl %.4f, valid ppl %.4f, lr %g; PyTorch %.4f, %.4f, %g",
                    cases[c].name, e + 1, t, v, l, tp[e], vp[e], lr[e]);
      row = strchr(row + 1, '\n');
    }
    ck_assert_msg(lr[ep - 1] < lr[0], "%s: the fixture never lowers the lr", cases[c].name);
    free(csv); free(tp); free(vp); free(lr);
    unlink(model); unlink(met); free(model); free(met);
    tu_free(&r);
  }
  free(text); free(fix);
}
END_TEST

static Suite *tfm_model_suite(void) {
  Suite *s = suite_create("tfm_model");
  TCase *c = tcase_create("model");
  tcase_set_timeout(c, 120);
  tcase_add_test(c, fused_equals_primitives);
  tcase_add_test(c, tools_on_the_layer);
  tcase_add_test(c, tiny_lm);
  tcase_add_test(c, fused_lm_equals_heads_lm);
  tcase_add_test(c, show_attention_lm);
  tcase_add_test(c, generate_lm);
  tcase_add_test(c, trains_like_pytorch);
  suite_add_tcase(s, c);
  return s;
}

TU_MAIN(tfm_model_suite)
