/*
** test_train.c — sequence models end to end: the fused lstm block against
** the same cell written in primitives (models/lstm_cell.g), the fused
** attention decoder against models/attn_decoder.g, whole-model
** gradient checks of lm, cond_lm and attn_lm on a tiny corpus, training
** output and overrides, checkpoints (save, load, refuse a wrong or damaged
** file), and located errors for bad settings and data.
*/
#include "testutil.h"
#include "par.h"
#include "model.h"
#include "ops_seq.h"
#include "train.h"
#include "checkpoint.h"
#include <fcntl.h>

/* The three models of the assignment on the tiny corpus (tests/data), and
** a Transformer LM trained with Adam (whose moments a checkpoint keeps). */
static const char *tiny_models[] = { "tests/data/tiny_lm.g", "tests/data/tiny_cond_lm.g", "tests/data/tiny_attn_lm.g",
                                     "tests/data/tiny_tfm_block.g" };

static Node *leaf(Graph *g, const char *name, int rank, const int *shape, const float *data) {
  Tensor t; ck_assert_int_eq(tensor_shape(&t, rank, shape), 0);
  t.data = (float *)data;
  return graph_leaf(g, N_PARAM, name, (Loc){ "t", 1, 1 }, &t);
}

START_TEST(fused_lstm_equals_primitives) {
  Err e = {0};
  Model *m = model_load("models/lstm_cell.g", &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
  ck_assert(graph_forward(m->g, &ex) == 0 && graph_backward(m->g, graph_find(m->g, "loss"), &ex) == 0);
  enum { T = 3, D = 3, H = 2 };
  const char *gate[4] = { "i", "f", "g", "o" };
  float Wih[4 * H * D], Whh[4 * H * H], b[4 * H], x[T * D], w[T * H];
  char name[16];
  for (int k = 0; k < 4; k++) {
    snprintf(name, sizeof name, "W%s", gate[k]); memcpy(Wih + k * H * D, graph_find(m->g, name)->val.data, sizeof(float) * H * D);
    snprintf(name, sizeof name, "U%s", gate[k]); memcpy(Whh + k * H * H, graph_find(m->g, name)->val.data, sizeof(float) * H * H);
    snprintf(name, sizeof name, "b%s", gate[k]); memcpy(b + k * H, graph_find(m->g, name)->val.data, sizeof(float) * H);
  }
  for (int t = 0; t < T; t++) {
    snprintf(name, sizeof name, "x[%d]", t + 1);
    memcpy(x + t * D, graph_find(m->g, name)->val.data, sizeof(float) * D);
    w[t * H] = 1.f * (t + 1); w[t * H + 1] = -2.f * (t + 1);       /* loss = sum_t h[t] . [1,-2] t */
  }
  Graph *g = graph_new("fused");
  int sx[3] = { T, 1, D }, s1[2] = { 4 * H, D }, s2[2] = { 4 * H, H }, s3[1] = { 4 * H }, sw[3] = { T, 1, H };
  Node *in[4] = { leaf(g, "x", 3, sx, x), leaf(g, "W_ih", 2, s1, Wih), leaf(g, "W_hh", 2, s2, Whh), leaf(g, "b", 1, s3, b) };
  Node *y = graph_add(g, N_OP, OP_LSTM, "y", (Loc){ "t", 1, 1 }, 4, in);
  y->iattr[0] = 1; y->iattr[1] = H; y->iattr[2] = 0; y->iattr[3] = D;
  ck_assert_msg(gr_ops[OP_LSTM].shape(y, &e) == 0, "%s", e.msg);
  Node *W = leaf(g, "w", 3, sw, w);
  W->kind = N_CONST;
  Node *yw[2] = { y, W };
  Node *p = graph_add(g, N_OP, OP_MUL, "p", (Loc){ "t", 1, 1 }, 2, yw);
  Node *loss = graph_add(g, N_OP, OP_SUM, "loss", (Loc){ "t", 1, 1 }, 1, &p);
  ck_assert_msg(graph_forward(g, &ex) == 0 && graph_backward(g, loss, &ex) == 0, "%s", e.msg);
  TU_CLOSE(loss->val.data[0], graph_find(m->g, "loss")->val.data[0], 1e-5);
  for (int t = 0; t < T; t++) {
    snprintf(name, sizeof name, "h[%d]", t + 1);
    for (int j = 0; j < H; j++) TU_CLOSE(y->val.data[t * H + j], graph_find(m->g, name)->val.data[j], 1e-6);
    snprintf(name, sizeof name, "x[%d]", t + 1);
    for (int j = 0; j < D; j++) TU_CLOSE(in[0]->grad.data[t * D + j], graph_find(m->g, name)->grad.data[j], 1e-5);
  }
  for (int k = 0; k < 4; k++) {
    snprintf(name, sizeof name, "W%s", gate[k]);
    for (int j = 0; j < H * D; j++) TU_CLOSE(in[1]->grad.data[k * H * D + j], graph_find(m->g, name)->grad.data[j], 1e-5);
    snprintf(name, sizeof name, "U%s", gate[k]);
    for (int j = 0; j < H * H; j++) TU_CLOSE(in[2]->grad.data[k * H * H + j], graph_find(m->g, name)->grad.data[j], 1e-5);
    snprintf(name, sizeof name, "b%s", gate[k]);
    for (int j = 0; j < H; j++) TU_CLOSE(in[3]->grad.data[k * H + j], graph_find(m->g, name)->grad.data[j], 1e-5);
  }
  graph_free(g);
  model_free(m);
}
END_TEST

/* Copies the four gate matrices named P+"i", P+"f", P+"g", P+"o" into one
** [4*rows, cols] block, PyTorch's layout. */
static void pack4(Model *m, const char *prefix, float *dst, int each) {
  const char *gate = "ifgo";
  char name[32];
  for (int k = 0; k < 4; k++) {
    snprintf(name, sizeof name, "%s%c", prefix, gate[k]);
    Node *n = graph_find(m->g, name);
    ck_assert_msg(n && n->val.n == each, "%s", name);
    memcpy(dst + k * each, n->val.data, sizeof(float) * each);
  }
}
static void check_grad4(Model *m, const char *prefix, const float *g, int each) {
  const char *gate = "ifgo";
  char name[32];
  for (int k = 0; k < 4; k++) {
    snprintf(name, sizeof name, "%s%c", prefix, gate[k]);
    const float *want = graph_find(m->g, name)->grad.data;
    for (int j = 0; j < each; j++) TU_CLOSE(g[k * each + j], want[j], 2e-5);
  }
}

/* The fused encoder lstm + attn_lstm decoder against models/attn_decoder.g. */
START_TEST(fused_attention_equals_primitives) {
  Err e = {0};
  Model *m = model_load("models/attn_decoder.g", &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
  ck_assert(graph_forward(m->g, &ex) == 0 && graph_backward(m->g, graph_find(m->g, "loss"), &ex) == 0);
  enum { S = 3, T = 2, D = 2, H = 2 };
  float xs[S * D], es[T * D], w[T * H], len[1] = { S };
  float EWih[4 * H * D], EWhh[4 * H * H], Eb[4 * H], Wih[4 * H * (D + H)], Whh[4 * H * H], b[4 * H], Win[H * H], Wc[H * 2 * H];
  char name[32];
  for (int j = 0; j < S; j++) { snprintf(name, sizeof name, "xs[%d]", j + 1); memcpy(xs + j * D, graph_find(m->g, name)->val.data, sizeof(float) * D); }
  for (int t = 0; t < T; t++) {
    snprintf(name, sizeof name, "e[%d]", t + 1); memcpy(es + t * D, graph_find(m->g, name)->val.data, sizeof(float) * D);
    w[t * H] = 1.f * (t + 1); w[t * H + 1] = -2.f * (t + 1);
  }
  pack4(m, "EW", EWih, H * D); pack4(m, "EU", EWhh, H * H); pack4(m, "Eb", Eb, H);
  pack4(m, "W", Wih, H * (D + H)); pack4(m, "U", Whh, H * H); pack4(m, "b", b, H);
  memcpy(Win, graph_find(m->g, "Win")->val.data, sizeof Win);
  memcpy(Wc, graph_find(m->g, "Wc")->val.data, sizeof Wc);

  Graph *g = graph_new("fused");
  Loc L = { "t", 1, 1 };
  int sx[3] = { S, 1, D }, se[3] = { T, 1, D }, s4d[2] = { 4 * H, D }, s4h[2] = { 4 * H, H }, s4[1] = { 4 * H },
      s4dh[2] = { 4 * H, D + H }, shh[2] = { H, H }, sc[2] = { H, 2 * H }, sl[1] = { 1 }, sw[3] = { T, 1, H };
  Node *enc_in[4] = { leaf(g, "xs", 3, sx, xs), leaf(g, "EW_ih", 2, s4d, EWih), leaf(g, "EW_hh", 2, s4h, EWhh), leaf(g, "Eb", 1, s4, Eb) };
  Node *enc = graph_add(g, N_OP, OP_LSTM, "m", L, 4, enc_in);
  enc->iattr[0] = 1; enc->iattr[1] = H; enc->iattr[2] = 0; enc->iattr[3] = D;
  ck_assert_msg(gr_ops[OP_LSTM].shape(enc, &e) == 0, "%s", e.msg);
  Node *lens = leaf(g, "len", 1, sl, len);
  lens->kind = N_INPUT; lens->flags |= NF_NOGRAD;
  Node *dec_in[9] = { leaf(g, "e", 3, se, es), enc, lens, enc, leaf(g, "W_ih", 2, s4dh, Wih), leaf(g, "W_hh", 2, s4h, Whh),
                      leaf(g, "b", 1, s4, b), leaf(g, "W_in", 2, shh, Win), leaf(g, "W_c", 2, sc, Wc) };
  Node *dec = graph_add(g, N_OP, OP_ATTN_DEC, "ht", L, 9, dec_in);
  dec->iattr[0] = 1; dec->iattr[1] = H; dec->iattr[3] = D;
  ck_assert_msg(gr_ops[OP_ATTN_DEC].shape(dec, &e) == 0, "%s", e.msg);
  Node *W = leaf(g, "w", 3, sw, w);
  W->kind = N_CONST;
  Node *dw[2] = { dec, W };
  Node *p = graph_add(g, N_OP, OP_MUL, "p", L, 2, dw);
  Node *loss = graph_add(g, N_OP, OP_SUM, "loss", L, 1, &p);
  ck_assert_msg(graph_forward(g, &ex) == 0 && graph_backward(g, loss, &ex) == 0, "%s", e.msg);

  TU_CLOSE(loss->val.data[0], graph_find(m->g, "loss")->val.data[0], 1e-5);
  for (int t = 0; t < T; t++) {
    snprintf(name, sizeof name, "ht[%d]", t + 1);
    for (int j = 0; j < H; j++) TU_CLOSE(dec->val.data[t * H + j], graph_find(m->g, name)->val.data[j], 1e-5);
    snprintf(name, sizeof name, "e[%d]", t + 1);
    for (int j = 0; j < D; j++) TU_CLOSE(dec_in[0]->grad.data[t * D + j], graph_find(m->g, name)->grad.data[j], 2e-5);
  }
  for (int j = 0; j < S; j++) {
    snprintf(name, sizeof name, "xs[%d]", j + 1);
    for (int k = 0; k < D; k++) TU_CLOSE(enc_in[0]->grad.data[j * D + k], graph_find(m->g, name)->grad.data[k], 2e-5);
  }
  check_grad4(m, "EW", enc_in[1]->grad.data, H * D); check_grad4(m, "EU", enc_in[2]->grad.data, H * H); check_grad4(m, "Eb", enc_in[3]->grad.data, H);
  check_grad4(m, "W", dec_in[4]->grad.data, H * (D + H)); check_grad4(m, "U", dec_in[5]->grad.data, H * H); check_grad4(m, "b", dec_in[6]->grad.data, H);
  for (int j = 0; j < H * H; j++) TU_CLOSE(dec_in[7]->grad.data[j], graph_find(m->g, "Win")->grad.data[j], 2e-5);
  for (int j = 0; j < 2 * H * H; j++) TU_CLOSE(dec_in[8]->grad.data[j], graph_find(m->g, "Wc")->grad.data[j], 2e-5);
  graph_free(g);
  model_free(m);
}
END_TEST

START_TEST(whole_model_gradcheck) {
  char args[256];
  snprintf(args, sizeof args, "%s --gradcheck", tiny_models[_i]);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0 && strstr(r.out, "all gradients agree within 1e-03"), "%s\n%s%s", tiny_models[_i], r.out, r.err);
  ck_assert_msg(strstr(r.out, "dloss/ddec.W_ih[1]") && strstr(r.out, "dloss/dE "), "%s", r.out);
  if (_i) ck_assert_msg(strstr(r.out, "dloss/denc.W_hh[2]"), "encoder not checked: %s", r.out);
  if (_i == 2) ck_assert_msg(strstr(r.out, "dloss/ddec.W_in") && strstr(r.out, "dloss/ddec.W_c"), "%s", r.out);
  tu_free(&r);
}
END_TEST

/* Training lowers the training perplexity, writes the metrics CSV and a
** checkpoint that --eval reads back to the same validation perplexity. */
START_TEST(train_save_eval) {
  char ck[] = "/tmp/gr_ckXXXXXX", csv[] = "/tmp/gr_csvXXXXXX", args[512];
  close(mkstemp(ck)); close(mkstemp(csv));
  snprintf(args, sizeof args, "%s --train --epochs 6 --lr 5 --quiet --save %s --metrics %s", tiny_models[_i], ck, csv);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
  double first = 0, last = 0, best = 0;
  int n = 0;
  for (char *p = r.err; (p = strstr(p, "train ppl")); p++) {
    double v = atof(p + 9);
    if (!n++) first = v;
    last = v;
  }
  ck_assert_int_eq(n, 6);
  ck_assert_msg(last < first * 0.8, "train ppl %g -> %g:\n%s", first, last, r.err);
  char *b = strstr(r.err, "best valid ppl ");
  ck_assert_ptr_nonnull(b);
  best = atof(b + 15);
  char *c = tu_slurp(csv);
  ck_assert_msg(!strncmp(c, "epoch,train_ppl,valid_ppl,lr,seconds,tokens_per_s\n1,", 52), "%s", c);
  int lines = 0; for (char *p = c; *p; p++) lines += *p == '\n';
  ck_assert_int_eq(lines, 7);
  free(c);
  tu_free(&r);
  snprintf(args, sizeof args, "%s --eval tests/data/tiny-valid.txt %s --load %s", tiny_models[_i], _i ? "--src tests/data/tiny-src-valid.txt" : "", ck);
  r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
  ck_assert_msg(!strncmp(r.out, "ppl ", 4), "%s", r.out);
  TU_CLOSE(atof(r.out + 4), best, 0.01);
  tu_free(&r);
  unlink(ck); unlink(csv);
}
END_TEST

/* tests/data/problem1.ckpt was written byte by byte by problem1_ckpt.py
** from the documented little-endian layout: graphrun reads its values and
** training state, and writes the same bytes back, whatever the host's order. */
START_TEST(checkpoint_fixture_is_little_endian) {
  Err e = {0};
  Model *m = model_load("models/problem1.g", &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  TrainState st = {0};
  ck_assert_msg(ckpt_load(m, "tests/data/problem1.ckpt", &st, &e) == 0, "%s", e.msg);
  const char *names[] = { "w1", "b1", "w2", "b2" };
  const float want[] = { 0.5f, -0.25f, 2.0f, 0.125f };
  for (int i = 0; i < 4; i++) ck_assert_float_eq(graph_find(m->g, names[i])->val.data[0], want[i]);
  ck_assert_int_eq(st.epoch, 3);
  ck_assert_int_eq(st.since_best, 1);
  ck_assert_double_eq(st.lr, 5.0);
  ck_assert_double_eq(st.best, 4.5);
  ck_assert(st.rng[0] == 0x0123456789ABCDEFull && st.rng[1] == 0xFEDCBA9876543210ull);
  char path[] = "/tmp/gr_leXXXXXX";
  close(mkstemp(path));
  ck_assert_msg(ckpt_save(m, path, &st, &e) == 0, "%s", e.msg);
  size_t n1, n2;
  char *a = read_file("tests/data/problem1.ckpt", &n1, &e), *b = read_file(path, &n2, &e);
  /* the fixture is format 1; graphrun writes format 2: the same bytes, version 2, and before
  ** the checksum a u32 0 (no Adam moments) */
  ck_assert(a && b && n1 == 120 && n2 == n1 + 4);
  ck_assert_msg(memcmp(a, b, 7) == 0 && b[7] == 2 && memcmp(a + 8, b + 8, n1 - 16) == 0 &&
                memcmp(b + n1 - 8, "\0\0\0\0", 4) == 0, "graphrun writes other bytes than the layout says");
  free(a); free(b); unlink(path);
  model_free(m);
}
END_TEST

START_TEST(checkpoint_errors) {
  char ck[] = "/tmp/gr_ckXXXXXX", args[512];
  close(mkstemp(ck));
  snprintf(args, sizeof args, "tests/data/tiny_lm.g --train --epochs 1 --quiet --save %s", ck);
  TuRun r = tu_run(args);
  ck_assert_int_eq(r.status, 0);
  tu_free(&r);
  /* a checkpoint of another model */
  snprintf(args, sizeof args, "tests/data/tiny_cond_lm.g --eval tests/data/tiny-valid.txt --src tests/data/tiny-src-valid.txt --load %s", ck);
  r = tu_run(args);
  ck_assert_msg(r.status == 1 && !r.signaled && strstr(r.err, "error: has no parameter 'enc.W_ih[1]' of tests/data/tiny_cond_lm.g"), "%s", r.err);
  tu_free(&r);
  /* damaged: flip one byte, then truncate */
  char *data = tu_slurp(ck);
  FILE *f = fopen(ck, "r+b"); fseek(f, 40, SEEK_SET); fputc(data[40] ^ 0x55, f); fclose(f);
  snprintf(args, sizeof args, "tests/data/tiny_lm.g --eval tests/data/tiny-valid.txt --load %s", ck);
  r = tu_run(args);
  ck_assert_msg(r.status == 1 && strstr(r.err, "checksum mismatch"), "%s", r.err);
  tu_free(&r);
  ck_assert_int_eq(truncate(ck, 30), 0);
  r = tu_run(args);
  ck_assert_msg(r.status == 1 && strstr(r.err, "error:"), "%s", r.err);
  tu_free(&r);
  f = fopen(ck, "wb"); fputs("hello", f); fclose(f);
  r = tu_run(args);
  ck_assert_msg(r.status == 1 && strstr(r.err, "not a graphrun checkpoint"), "%s", r.err);
  tu_free(&r);
  free(data);
  unlink(ck);
}
END_TEST

START_TEST(bad_settings_are_located) {
  struct { const char *text; const char *err; } cases[] = {
    { "train sgd(lr = 20, momentum = 0.9)\n", ":1:20: error: sgd has no setting 'momentum'" },
    { "train batch = 0\n", ":1:15: error: 'batch' must be from 1 to 65536, got 0" },
    { "train speed = 3\n", ":1:7: error: unknown training setting 'speed'" },
    { "train batching = sorted\n", ":1:18: error: 'batching' is 'file' (bundles in file order) or 'bucket'" },
    { "train batching = bucket\n", ":1:7: error: 'batching = bucket' is for translation models" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *base = tu_slurp("tests/data/tiny_lm.g");
    char *cut = strstr(base, "train sgd"); *cut = 0;
    size_t n = strlen(base) + strlen(cases[i].text) + 1;
    char *text = malloc(n); snprintf(text, n, "%s%s", base, cases[i].text);
    int line = 1; for (char *p = base; *p; p++) line += *p == '\n';
    char *path = tu_tmpfile(".g", text, strlen(text)), args[300], want[300];
    snprintf(args, sizeof args, "%s --train --epochs 1 --quiet", path);
    TuRun r = tu_run(args);
    const char *colon = strchr(cases[i].err + 1, ':');
    snprintf(want, sizeof want, "%s:%d%s", path, line, colon);
    ck_assert_msg(r.status == 1 && !r.signaled && !strncmp(r.err, want, strlen(want)), "got: %s\nwant: %s", r.err, want);
    tu_free(&r); unlink(path); free(path); free(text); free(base);
  }
  TuRun r = tu_run("tests/data/tiny_lm.g --train --epochs x");
  ck_assert_msg(r.status == 2 && strstr(r.err, "--epochs needs a number"), "%s", r.err);
  tu_free(&r);
  r = tu_run("tests/data/tiny_lm.g");
  ck_assert_msg(r.status == 1 && strstr(r.err, "this is a sequence model: run it with --train"), "%s", r.err);
  tu_free(&r);
}
END_TEST

/* The train statement is evaluated by the constant evaluator, once, when
** the model is built: constants and expressions work in every setting. */
START_TEST(settings_take_constants) {
  char *base = tu_slurp("tests/data/tiny_lm.g");
  char *cut = strstr(base, "train sgd"); *cut = 0;
  const char *tail = "const BS = 2\nconst LR = 10\ntrain sgd(lr = LR / 4, clip = -(-1)), batch = BS, vbatch = BS * 3, bptt = BS + 1, seed = 7\n";
  size_t n = strlen(base) + strlen(tail) + 1;
  char *text = malloc(n); snprintf(text, n, "%s%s", base, tail);
  Err e = {0};
  Model *m = model_parse("t.g", text, strlen(text), &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  ck_assert_int_eq(m->train.batch, 2);
  ck_assert_int_eq(m->train.vbatch, 6);
  ck_assert_int_eq(m->train.bptt, 3);
  ck_assert_int_eq(m->train.epochs, 10);              /* not said: the default */
  ck_assert_double_eq(m->train.lr, 2.5);
  ck_assert_double_eq(m->train.clip, 1);
  ck_assert_double_eq(m->train.decay, 4);
  ck_assert_int_eq(m->seed, 7);
  TrainOpts o; train_opts_init(&o);
  o.batch = 5;
  TrainCfg c; train_config(m, &o, &c);
  ck_assert_int_eq(c.batch, 5);                       /* the command line wins */
  ck_assert_int_eq(c.bptt, 3);
  model_free(m); free(text); free(base);
}
END_TEST

/* batching = bucket on the tiny translation models: the header says so and
** reports less padding than file order; training works and is repeatable. */
START_TEST(bucketed_bundles_train) {
  const char *models[] = { "tests/data/tiny_cond_lm.g", "tests/data/tiny_attn_lm.g" };
  for (int i = 0; i < 2; i++) {
    char *base = tu_slurp(models[i]);
    char *cut = strstr(base, "seed = ");
    ck_assert_ptr_nonnull(cut);
    size_t n = strlen(base) + 40;
    char *text = malloc(n);
    snprintf(text, n, "%.*sbatching = bucket, %s", (int)(cut - base), base, cut);
    char *path = tu_tmpfile(".g", text, strlen(text)), args[300];
    double ratio[2];
    char *out[2];
    for (int k = 0; k < 2; k++) {
      snprintf(args, sizeof args, "%s --train --epochs 2 --quiet", k ? path : models[i]);
      TuRun r = tu_run(args);
      ck_assert_msg(r.status == 0, "%s: %s", args, r.err);
      const char *b = strstr(r.err, k ? "bundles: length-bucketed (batching = bucket)" : "bundles: in file order");
      ck_assert_msg(b, "%s", r.err);
      const char *g = strstr(b, "padded target grid ");
      ck_assert_ptr_nonnull(g);
      ratio[k] = atof(g + strlen("padded target grid "));
      ck_assert(ratio[k] >= 1.0);
      out[k] = r.err; free(r.out);   /* the training log is on stderr */
    }
    ck_assert_msg(ratio[1] < ratio[0], "bucketed %g, file order %g", ratio[1], ratio[0]);
    TuRun r = tu_run(args);                   /* the bucketed run again: the same perplexities */
    int epochs = 0;
    for (const char *a = r.err, *b = out[1]; (a = strstr(a, "\nepoch ")) && (b = strstr(b, "\nepoch ")); a++, b++, epochs++) {
      size_t upto = (size_t)(strstr(a, " lr ") - a);
      ck_assert_msg(!strncmp(a, b, upto), "%.*s\nvs\n%.*s", (int)upto, a, (int)upto, b);
    }
    ck_assert_int_eq(epochs, 2);
    tu_free(&r); free(out[0]); free(out[1]);
    unlink(path); free(path); free(text); free(base);
  }
}
END_TEST

START_TEST(missing_data_file) {
  const char *text = "data train = \"no/such/train.txt\", valid = \"x.txt\"\n";
  char *path = tu_tmpfile(".g", text, strlen(text)), args[300];
  snprintf(args, sizeof args, "%s --train", path);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 1 && strstr(r.err, "no/such/train.txt: error: cannot open") && strstr(r.err, ":1:1;"), "%s", r.err);
  tu_free(&r); unlink(path); free(path);
}
END_TEST

START_TEST(generate_samples_words) {
  TuRun r = tu_run("tests/data/tiny_lm.g --generate 3 --seed 5");
  ck_assert_msg(r.status == 0, "%s", r.err);
  int lines = 0; for (char *p = r.out; *p; p++) lines += *p == '\n';
  ck_assert_int_eq(lines, 3);
  const char *vocab = " the cat dog sat ran on mat rug and slept ate . <unk> ";   /* never <pad>, <sos> (sample.h) */
  char *save, *tok = strtok_r(r.out, " \n", &save);
  for (; tok; tok = strtok_r(NULL, " \n", &save)) {
    char w[64]; snprintf(w, sizeof w, " %s ", tok);
    ck_assert_msg(strstr(vocab, w), "'%s' is not a word of the corpus", tok);
  }
  tu_free(&r);
}
END_TEST

/* --resume from a checkpoint after epoch 2 of 4 ends with exactly the bytes
** of an uninterrupted 4-epoch run (one thread, same seed): parameters, lr,
** best, RNG. */
START_TEST(resume_is_exact) {
  char a[] = "/tmp/gr_aXXXXXX", b[] = "/tmp/gr_bXXXXXX", args[512];
  close(mkstemp(a)); close(mkstemp(b));
  snprintf(args, sizeof args, "%s --train --epochs 4 --threads 1 --quiet --checkpoint %s", tiny_models[_i], a);
  TuRun r = tu_run(args); ck_assert_msg(r.status == 0, "%s", r.err); tu_free(&r);
  snprintf(args, sizeof args, "%s --train --epochs 2 --threads 1 --quiet --checkpoint %s", tiny_models[_i], b);
  r = tu_run(args); ck_assert_msg(r.status == 0, "%s", r.err); tu_free(&r);
  snprintf(args, sizeof args, "%s --epochs 4 --threads 1 --quiet --resume %s --checkpoint %s", tiny_models[_i], b, b);
  r = tu_run(args);
  ck_assert_msg(r.status == 0 && strstr(r.err, "resuming from") && strstr(r.err, "after epoch 2") && strstr(r.err, "epoch   3"), "%s%s", r.out, r.err);
  ck_assert_msg(!strstr(r.err, "epoch   1 "), "%s", r.err);
  tu_free(&r);
  long na, nb;
  char *x = tu_slurp_n(a, &na), *y = tu_slurp_n(b, &nb);
  ck_assert_int_gt(na, 0);
  ck_assert_int_eq(na, nb);
  ck_assert_msg(memcmp(x, y, na) == 0, "%s: resumed run differs from the uninterrupted one", tiny_models[_i]);
  free(x); free(y);
  /* a --save file has no training state: --resume refuses it */
  snprintf(args, sizeof args, "%s --train --epochs 1 --quiet --save %s", tiny_models[_i], a);
  r = tu_run(args); tu_free(&r);
  snprintf(args, sizeof args, "%s --resume %s", tiny_models[_i], a);
  r = tu_run(args);
  ck_assert_msg(r.status == 1 && strstr(r.err, "no training state"), "%s", r.err);
  tu_free(&r);
  unlink(a); unlink(b);
}
END_TEST

/* Killing a run at any moment leaves the last checkpoint whole: it loads,
** and training resumes from it. */
START_TEST(killed_mid_save_keeps_a_good_checkpoint) {
  char ck[] = "/tmp/gr_kXXXXXX", args[600];
  close(mkstemp(ck)); unlink(ck);
  for (int round = 0; round < 6; round++) {
    /* kill at a different moment each round, once a first checkpoint exists
    ** (waiting for it keeps the test true under valgrind's slowness too) */
    snprintf(args, sizeof args, "exec %s tests/data/tiny_lm.g --train --epochs 100000 --quiet --checkpoint %s >/dev/null 2>&1 &"
             " pid=$!; n=0; while [ ! -f %s ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done;"
             " sleep 0.%d; kill -9 $pid; wait $pid 2>/dev/null; true", tu_bin(), ck, ck, 1 + round);
    ck_assert_int_eq(system(args), 0);
    snprintf(args, sizeof args, "tests/data/tiny_lm.g --eval tests/data/tiny-valid.txt --load %s", ck);
    TuRun r = tu_run(args);
    ck_assert_msg(r.status == 0 && !strncmp(r.out, "ppl ", 4), "round %d: %s", round, r.err);
    tu_free(&r);
  }
  snprintf(args, sizeof args, "tests/data/tiny_lm.g --epochs 100000 --patience 1 --quiet --resume %s", ck);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0 && strstr(r.err, "resuming from"), "%s", r.err);
  tu_free(&r);
  /* no temporary files left beside it */
  snprintf(args, sizeof args, "ls %s.tmp* 2>/dev/null | wc -l", ck);
  FILE *p = popen(args, "r"); int left = -1; ck_assert_int_eq(fscanf(p, "%d", &left), 1); pclose(p);
  ck_assert_msg(left <= 1, "%d temporary files left", left);   /* one may be the killed writer's */
  snprintf(args, sizeof args, "rm -f %s %s.tmp*", ck, ck); ck_assert_int_eq(system(args), 0);
}
END_TEST

START_TEST(first_nan_stops_with_its_location) {
  char ck[] = "/tmp/gr_nXXXXXX", args[300];
  close(mkstemp(ck)); unlink(ck);
  snprintf(args, sizeof args, "tests/data/tiny_nan.g --train --epochs 2 --quiet --save %s", ck);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 1 && !r.signaled, "%s", r.err);
  ck_assert_msg(strstr(r.err, "tests/data/tiny_nan.g:16:10: error: forward pass: 'logits' (log) produced NaN or Inf at step 1; input 'dropout(h) @ transpose(E) + bout") &&
                strstr(r.err, "' in ["), "%s", r.err);
  ck_assert_int_ne(access(ck, F_OK), 0);      /* nothing was saved */
  tu_free(&r);
}
END_TEST

/* A NaN or Inf that first appears in a parameter's gradient (here the
** embed op's share of E's, made Inf by graph_fault) is caught by the
** gradient norm, where training leaves those checks (Exec.params_later),
** and named by a second backward pass with every gradient checked: the
** message a check after each op gives, with one replica or two; no step
** is taken and nothing is saved. */
START_TEST(nan_in_a_parameter_gradient_names_its_op) {
  for (int R = 1; R <= 2; R++) {
    char ck[] = "/tmp/gr_pXXXXXX";
    close(mkstemp(ck)); unlink(ck);
    Err e = {0};
    Model *m = model_load("tests/data/tiny_lm.g", &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    TrainOpts o; train_opts_init(&o);
    o.epochs = 1; o.quiet = 1; o.replicas = R; o.save = ck;
    TrainCfg c;
    ck_assert_msg(train_setup(m, &o, &c, &e) == 0, "%s", e.msg);
    graph_fault(OP_EMBED, INFINITY);
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2); close(null);          /* the training header */
    int rc = train_run(m, &o, &c, &e);
    fflush(stderr);
    dup2(saved, 2); close(saved);
    graph_fault(OP_LEAF, 1);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(e.msg, "tests/data/tiny_lm.g:14:18: error: backward pass: 'embed(E, x)' (embed) produced NaN or Inf at step 1;"),
                  "replicas %d: %s", R, e.msg);
    ck_assert_int_ne(access(ck, F_OK), 0);
    model_free(m);
  }
}
END_TEST

/* An LSTM block's b stands for PyTorch's b_ih + b_hh, which both get the
** whole gradient: SGD must move b twice as far as one tensor, and the clip
** norm must count its gradient twice (as clip_grad_norm_ over both does).
** Every other parameter is one tensor.  Gradients set by hand: 0.01 for
** biases, 0.02 elsewhere; one step without clipping, one with. */
START_TEST(sgd_counts_the_lstm_bias_twice) {
  Err e = {0};
  Model *m = model_load(tiny_models[_i], &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  Graph *g = m->g;
  int nb = 0;
  double want2 = 0;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind != N_PARAM) continue;
    int bias = strstr(n->name, ".b[") != NULL;
    nb += bias;
    free(n->grad.data);
    n->grad = n->val; n->grad.data = xmalloc(sizeof(float) * n->val.n);
    for (long j = 0; j < n->val.n; j++) n->grad.data[j] = bias ? 0.01f : 0.02f;
    want2 += (bias ? 2 : 1) * n->val.n * (bias ? 1e-4 : 4e-4);
  }
  ck_assert_int_ge(nb, 2);
  for (int clipped = 0; clipped < 2; clipped++) {
    float *before[256]; int k = 0;
    for (int i = 0; i < g->n && k < 256; i++)
      if (g->nodes[i]->kind == N_PARAM) {
        Node *n = g->nodes[i];
        before[k] = xmalloc(sizeof(float) * n->val.n); memcpy(before[k++], n->val.data, sizeof(float) * n->val.n);
      }
    double clip = clipped ? sqrt(want2) / 4 : 0, f = clipped ? clip / (sqrt(want2) + 1e-6) : 1;
    double norm = train_sgd_step(g, 0.5, clip);
    TU_CLOSE(norm, sqrt(want2), 1e-6 * sqrt(want2));
    k = 0;
    for (int i = 0; i < g->n; i++) {
      Node *n = g->nodes[i];
      if (n->kind != N_PARAM) continue;
      int bias = strstr(n->name, ".b[") != NULL;
      double step = bias ? 2 * 0.5 * 0.01 * f : 0.5 * 0.02 * f;
      for (long j = 0; j < n->val.n; j++)
        ck_assert_msg(fabs(before[k][j] - n->val.data[j] - step) < 1e-6, "%s %s[%ld] moved %g, want %g",
                      tiny_models[_i], n->name, j, before[k][j] - n->val.data[j], step);
      free(before[k++]);
    }
  }
  model_free(m);
}
END_TEST

/* Parameters larger than one norm block, on two threads: the norm is the
** plain sum of squares and every element moves by lr * its gradient. */
START_TEST(sgd_on_large_parameters_with_threads) {
  Graph *g = graph_new("test");
  Loc L = { "test", 1, 1 };
  Rng r; rng_seed(&r, 3);
  static const long sizes[] = { 100003, 16384, 7 };
  Node *p[3];
  double want = 0;
  for (int k = 0; k < 3; k++) {
    Tensor t; int sh[1] = { (int)sizes[k] };
    ck_assert_int_eq(tensor_shape(&t, 1, sh), 0);
    t.data = xmalloc(sizeof(float) * t.n);
    for (long i = 0; i < t.n; i++) t.data[i] = rng_uniform(&r);
    char name[16]; snprintf(name, sizeof name, "p%d", k);
    p[k] = graph_leaf(g, N_PARAM, name, L, &t);
    free(t.data);
    p[k]->grad = p[k]->val;
    p[k]->grad.data = xmalloc(sizeof(float) * t.n);
    for (long i = 0; i < t.n; i++) { p[k]->grad.data[i] = rng_uniform(&r) - 0.5f; want += (double)p[k]->grad.data[i] * p[k]->grad.data[i]; }
  }
  par_init(2);
  float *before = xmalloc(sizeof(float) * sizes[0]);
  memcpy(before, p[0]->val.data, sizeof(float) * sizes[0]);
  double norm = train_sgd_step(g, 0.25, 0);
  TU_CLOSE(norm, sqrt(want), 1e-9 * sqrt(want));
  for (long i = 0; i < sizes[0]; i++)
    if (fabsf(before[i] - 0.25f * p[0]->grad.data[i] - p[0]->val.data[i]) > 1e-7f)
      ck_abort_msg("p0[%ld] = %g, want %g", i, p[0]->val.data[i], before[i] - 0.25f * p[0]->grad.data[i]);
  free(before);
  par_shutdown();
  graph_free(g);
}
END_TEST

/* --resume trains on before it decodes: it is training, not decode-only
** (a copy of the train flag once missed --resume, and this decoded the
** checkpoint untrained, with a warning). */
START_TEST(resume_then_translate_trains_first) {
  char ck[] = "/tmp/gr_rtXXXXXX";
  int fd = mkstemp(ck); close(fd);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "tests/data/tiny_attn_lm.g --train --epochs 2 --checkpoint %s --quiet", ck);
  TuRun r = tu_run(cmd);
  ck_assert_msg(r.status == 0, "%s", r.err);
  tu_free(&r);
  snprintf(cmd, sizeof cmd, "tests/data/tiny_attn_lm.g --resume %s --epochs 3 --translate tests/data/tiny-src-valid.txt --quiet", ck);
  r = tu_run(cmd);
  ck_assert_msg(r.status == 0, "%s", r.err);
  ck_assert_msg(strstr(r.err, "epoch   3"), "no epoch 3 in: %s", r.err);
  ck_assert_msg(!strstr(r.err, "untrained"), "%s", r.err);
  tu_free(&r);
  unlink(ck);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("train");
  TCase *t = tcase_create("train");
  tcase_set_timeout(t, 240);
  tcase_add_test(t, fused_lstm_equals_primitives);
  tcase_add_test(t, fused_attention_equals_primitives);
  tcase_add_loop_test(t, whole_model_gradcheck, 0, 3);
  tcase_add_loop_test(t, train_save_eval, 0, 3);
  tcase_add_test(t, checkpoint_fixture_is_little_endian);
  tcase_add_test(t, checkpoint_errors);
  tcase_add_test(t, sgd_on_large_parameters_with_threads);
  tcase_add_test(t, resume_then_translate_trains_first);
  tcase_add_test(t, bad_settings_are_located);
  tcase_add_test(t, settings_take_constants);
  tcase_add_test(t, missing_data_file);
  tcase_add_test(t, bucketed_bundles_train);
  tcase_add_test(t, generate_samples_words);
  tcase_add_loop_test(t, resume_is_exact, 0, 4);
  tcase_add_test(t, killed_mid_save_keeps_a_good_checkpoint);
  tcase_add_test(t, first_nan_stops_with_its_location);
  tcase_add_test(t, nan_in_a_parameter_gradient_names_its_op);
  tcase_add_loop_test(t, sgd_counts_the_lstm_bias_twice, 0, 3);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
