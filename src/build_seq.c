/*
** build_seq.c — the builder's sequence statements and calls: `data` (reads
** the corpus, defines V and the token inputs), `train` (the recipe,
** evaluated here once), `block` (a fused layer and its parameters), and the
** calls embed(...), dropout(...), cross_entropy(...) and those of blocks.
*/
#include "build.h"
#include "ops_seq.h"
#include "tfm.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_arg(Builder *b, const Ast *s, const char *key, int required) {
  for (int i = 0; i < s->nkids; i++) {
    const Ast *k = s->kids[i];
    if (k->kind == A_KW && !strcmp(k->name, key)) {
      if (k->kids[0]->kind != A_STR) { err_at(b->e, k->kids[0]->loc, "'%s' needs a file name in quotes", key); return NULL; }
      return k->kids[0]->name;
    }
  }
  if (required) err_at(b->e, s->loc, "'data' needs %s = \"FILE\"", key);
  return NULL;
}

/* A corpus message ("FILE:L: error: ..."), said to come from the statement;
** one without a file ("error: out of memory") is located at the statement. */
static int data_error(Builder *b, const Ast *s, const char *msg) {
  if (!strncmp(msg, "error: ", 7)) return err_at(b->e, s->loc, "%s", msg + 7);
  return err_set(b->e, "%s (named by the 'data' statement at %s:%d:%d%s)", msg, s->loc.file, s->loc.line, s->loc.col,
                 strstr(msg, "cannot open") ? "; paths are relative to the current directory" : "");
}

/* Translation pairs source sentence i with target sentence i: the files
** must hold as many; the message names the first sentence left alone. */
static int pair_check(Builder *b, const Ast *s, const Sents *src, const Sents *tgt) {
  if (src->n == tgt->n) return 0;
  const Sents *more = src->n > tgt->n ? src : tgt, *less = more == src ? tgt : src;
  char msg[GR_ERRMAX];
  snprintf(msg, sizeof msg, "%s:%ld: error: sentence %ld has no partner: %s has %ld sentences, %s has %ld "
           "(source and target files pair line by line)", more->file, more->line[less->n], less->n + 1,
           src->file, src->n, tgt->file, tgt->n);
  return data_error(b, s, msg);
}

/* data train = "...", valid = "..." [, src_train = "...", src_valid = "..."]
** Reads the corpus, defines the constant V and the token inputs:
**   x, y          [T, B]   inputs and targets (ids)
**   src, src_len  [S, B], [B]  with src_train (translation mode)     */
int build_data(Builder *b, const Ast *s) {
  if (b->m->data) return err_at(b->e, s->loc, "only one 'data' statement");
  for (int i = 0; i < s->nkids; i++) {
    const Ast *k = s->kids[i];
    if (k->kind != A_KW || (strcmp(k->name, "train") && strcmp(k->name, "valid") && strcmp(k->name, "src_train") && strcmp(k->name, "src_valid")))
      return err_at(b->e, k->loc, "'data' takes train = \"FILE\", valid = \"FILE\", src_train = \"FILE\", src_valid = \"FILE\"");
  }
  const char *tr = str_arg(b, s, "train", 1), *va = tr ? str_arg(b, s, "valid", 1) : NULL;
  if (!tr || !va) return -1;
  const char *str = str_arg(b, s, "src_train", 0), *sva = str_arg(b, s, "src_valid", 0);
  if (b->e->set) return -1;
  if (!str != !sva) return err_at(b->e, s->loc, "translation data needs both src_train and src_valid");
  ModelData *d = b->m->data = xcalloc(1, sizeof *d);
  d->loc = s->loc;
  d->translation = str != NULL;
  char msg[GR_ERRMAX];
  if (corpus_vocab_init(&d->vocab, msg, sizeof msg) ||
      corpus_read(tr, &d->vocab, 1, &d->train, msg, sizeof msg) ||
      (str && corpus_read(str, &d->vocab, 1, &d->src_train, msg, sizeof msg)) ||
      corpus_read(va, &d->vocab, 0, &d->valid, msg, sizeof msg) ||
      (sva && corpus_read(sva, &d->vocab, 0, &d->src_valid, msg, sizeof msg)))
    return data_error(b, s, msg);
  if (str && (pair_check(b, s, &d->src_train, &d->train) || pair_check(b, s, &d->src_valid, &d->valid))) return -1;
  if (build_define(b, "V", d->vocab.n, s->loc)) return -1;
  const char *names[] = { "x", "y", "src", "src_len" };
  for (int i = 0; i < (d->translation ? 4 : 2); i++) {
    if (graph_find(b->g, names[i])) return err_at(b->e, s->loc, "'data' defines '%s', which is already defined", names[i]);
    Tensor t; int sh[2] = { 1, 1 };
    tensor_shape(&t, i == 3 ? 1 : 2, sh);
    float z[1] = { 0 }; t.data = z;
    Node *n = d->tok[i] = graph_leaf(b->g, N_INPUT, names[i], s->loc, &t);
    n->flags |= NF_NOGRAD;
  }
  return 0;
}

/* The value of a setting (NAME = VALUE, a constant expression), in [lo, hi]
** and whole if asked. */
static int setting(Builder *b, const Ast *kw, double lo, double hi, int whole, double *out) {
  const Ast *v = kw->kids[0];
  if (build_const(b, v, out)) return -1;
  if (!(*out >= lo && *out <= hi)) return err_at(b->e, v->loc, "'%s' must be from %g to %g, got %g", kw->name, lo, hi, *out);
  if (whole && *out != floor(*out)) return err_at(b->e, v->loc, "'%s' must be a whole number", kw->name);
  return 0;
}

/* betas = [b1, b2], each in [0, 1). */
static int betas_setting(Builder *b, const Ast *kw, double *b1, double *b2) {
  const Ast *v = kw->kids[0];
  if (v->kind != A_LIST || v->nkids != 2 || !build_is_const(b, v->kids[0]) || !build_is_const(b, v->kids[1]))
    return err_at(b->e, v->loc, "'betas' must be two numbers: betas = [0.9, 0.999]");
  double x[2];
  for (int i = 0; i < 2; i++) {
    if (build_const(b, v->kids[i], &x[i])) return -1;
    if (!(x[i] >= 0 && x[i] < 1)) return err_at(b->e, v->kids[i]->loc, "each of 'betas' must be from 0 to below 1, got %g", x[i]);
  }
  *b1 = x[0]; *b2 = x[1];
  return 0;
}

/* train sgd(lr = 20, clip = 0.25, decay = 4), batch = 20, ...: the recipe,
** evaluated now into m->train (constants allowed: batch = BS); the seed
** also draws the initial values.  adam(lr = 1e-3, betas = [0.9, 0.999],
** eps = 1e-8, clip = 1, decay = 4) instead of sgd: Adam's step (optim.h). */
int build_train(Builder *b, const Ast *s) {
  if (b->train) return err_at(b->e, s->loc, "only one 'train' statement");
  b->train = s;
  TrainCfg *c = &b->m->train;
  int saw_opt = 0;
  for (int i = 0; i < s->nkids; i++) {
    const Ast *k = s->kids[i];
    if (k->kind == A_CALL && (!strcmp(k->name, "sgd") || !strcmp(k->name, "adam"))) {
      int adam = k->name[0] == 'a';
      const char *takes = adam ? "lr, betas, eps, clip, decay" : "lr, clip, decay";
      if (saw_opt) return err_at(b->e, k->loc, "only one optimizer (sgd(...) or adam(...)) per 'train' statement");
      saw_opt = 1;
      c->adam = adam;
      if (adam) c->lr = 1e-3;        /* torch.optim.Adam's default */
      for (int j = 0; j < k->nkids; j++) {
        const Ast *a = k->kids[j];
        if (a->kind != A_KW) return err_at(b->e, a->loc, "%s takes NAME = VALUE settings (%s)", k->name, takes);
        if (!strcmp(a->name, "lr")) { if (setting(b, a, 1e-9, 1e6, 0, &c->lr)) return -1; }
        else if (!strcmp(a->name, "clip")) { if (setting(b, a, 0, 1e9, 0, &c->clip)) return -1; }
        else if (!strcmp(a->name, "decay")) { if (setting(b, a, 1, 1e6, 0, &c->decay)) return -1; }
        else if (adam && !strcmp(a->name, "betas")) { if (betas_setting(b, a, &c->beta1, &c->beta2)) return -1; }
        else if (adam && !strcmp(a->name, "eps")) { if (setting(b, a, 0, 1, 0, &c->eps)) return -1; }
        else return err_at(b->e, a->loc, "%s has no setting '%s' (it takes %s)", k->name, a->name, takes);
      }
      continue;
    }
    if (k->kind != A_KW) return err_at(b->e, k->loc, "expected sgd(...), adam(...) or NAME = VALUE");
    if (!strcmp(k->name, "batching")) {         /* a word, not a number */
      const Ast *how = k->kids[0];
      if (how->kind != A_REF || how->nkids || (strcmp(how->name, "bucket") && strcmp(how->name, "file")))
        return err_at(b->e, how->loc, "'batching' is 'file' (bundles in file order) or 'bucket' (sentences of similar length)");
      c->bucket = !strcmp(how->name, "bucket");
      continue;
    }
    const struct { const char *name; int *dst; double lo, hi; } ints[] = {
      { "batch", &c->batch, 1, 1 << 16 }, { "vbatch", &c->vbatch, 1, 1 << 16 }, { "bptt", &c->bptt, 1, 1 << 16 },
      { "epochs", &c->epochs, 0, 1e7 }, { "patience", &c->patience, 0, 1e7 }, { "threads", &c->threads, 0, 256 }, { "replicas", &c->replicas, 0, 256 },
      { "seed", NULL, 0, 2147483647 },
    };
    size_t j = 0, n = sizeof ints / sizeof *ints;
    while (j < n && strcmp(k->name, ints[j].name)) j++;
    if (j == n)
      return err_at(b->e, k->loc, "unknown training setting '%s' (known: sgd(lr, clip, decay), adam(lr, betas, eps, clip, decay), batch, vbatch, bptt, epochs, patience, seed, threads, replicas, batching)", k->name);
    double v;
    if (setting(b, k, ints[j].lo, ints[j].hi, 1, &v)) return -1;
    if (ints[j].dst) *ints[j].dst = (int)v;
    else c->seed = b->m->seed = (unsigned long)v;
  }
  return 0;
}

/* After the whole file: settings that depend on the data statement. */
int build_train_check(Builder *b) {
  for (int i = 0; b->train && i < b->train->nkids; i++) {
    const Ast *k = b->train->kids[i];
    if (k->kind == A_KW && !strcmp(k->name, "batching") && b->m->train.bucket && !(b->m->data && b->m->data->translation))
      return err_at(b->e, k->loc, "'batching = bucket' is for translation models (data with src_train); a language model reads one stream");
  }
  return 0;
}

static int num_kw(Builder *b, const Ast *call, const char *key, double lo, double hi, double dflt, int required, double *out) {
  const Ast *v = build_kwarg(call, key);
  if (!v) {
    if (required) return err_at(b->e, call->loc, "'%s' needs %s = ...", call->name, key);
    *out = dflt; return 0;
  }
  if (build_const(b, v, out)) return -1;
  if (*out < lo || *out > hi) return err_at(b->e, v->loc, "%s must be from %g to %g, got %g", key, lo, hi, *out);
  return 0;
}

/* ---- blocks --------------------------------------------------------------- */

/* A parameter after the layers, [rows * H, cols * H]. */
typedef struct BlockParam { const char *name; int rows, cols; } BlockParam;

/* A kind of block: `block NAME = KIND(settings)`.  params() reads the
** settings (those named in `settings`), promises the memory and makes the
** parameters.  The LSTM kinds take in = D, hidden = H, layers = L,
** dropout = p; their parameters are, per layer l = 1..L, W_ih[l]
** [gates*H, in_l], W_hh[l] [gates*H, H] and b[l] [gates*H] (in_1 = D, or
** D + H when the first layer also reads the previous output; in_l = H
** above), then the `after` ones.  A call `NAME(x, ...)` takes one input
** sequence and the named arguments `named`; make() builds its node. */
typedef struct BlockDef {
  const char *name;
  const char *settings;        /* "in hidden layers dropout" */
  int (*params)(Builder *b, const Ast *call, Block *bl);
  int gates;
  int feed;                    /* 1: the first layer reads x and the previous output */
  BlockParam after[2]; int nafter;
  const char *named;
  Node *(*make)(Builder *b, const Ast *call, const Block *bl, Node *x, Node *len, Node *init, Node *mem);
} BlockDef;

/* lstm: in[0] = x, the params, then lengths and init if given (ops_seq.h). */
static Node *make_lstm(Builder *b, const Ast *call, const Block *bl, Node *x, Node *len, Node *init, Node *mem) {
  NodeList in = {0};
  build_push(&in, x);
  for (int i = 0; i < bl->nparams; i++) build_push(&in, bl->params[i]);
  if (len) build_push(&in, len);
  if (init) build_push(&in, init);
  int ia[4] = { bl->layers, bl->hidden, (len ? LSTM_LEN : 0) | (init ? LSTM_INIT : 0) | (len ? 0 : LSTM_CARRY) };
  float fa[4] = { bl->dropout };
  Node *r = build_op(b, OP_LSTM, call->loc, in.n, in.v, ia, fa);
  free(in.v);
  return r;
}
/* attn_lstm: x, memory, lengths, the encoder (init), then the params (ops_attn.h). */
static Node *make_attn(Builder *b, const Ast *call, const Block *bl, Node *x, Node *len, Node *init, Node *mem) {
  if (!mem || !len || !init) { err_at(b->e, call->loc, "an attn_lstm block needs memory = ..., lengths = src_len and init = ..."); return NULL; }
  NodeList in = {0};
  build_push(&in, x); build_push(&in, mem); build_push(&in, len); build_push(&in, init);
  for (int i = 0; i < bl->nparams; i++) build_push(&in, bl->params[i]);
  int ia[4] = { bl->layers, bl->hidden };
  float fa[4] = { bl->dropout };
  Node *r = build_op(b, OP_ATTN_DEC, call->loc, in.n, in.v, ia, fa);
  free(in.v);
  return r;
}

/* transformer: x, then each layer's TFM_NW parameters (ops_tfm.h). */
static Node *make_tfm(Builder *b, const Ast *call, const Block *bl, Node *x, Node *len, Node *init, Node *mem) {
  NodeList in = {0};
  build_push(&in, x);
  for (int i = 0; i < bl->nparams; i++) build_push(&in, bl->params[i]);
  int ia[4] = { bl->layers, bl->heads };
  float fa[4] = { bl->dropout };
  Node *r = build_op(b, OP_TRANSFORMER, call->loc, in.n, in.v, ia, fa);
  free(in.v);
  return r;
}

static int lstm_params(Builder *b, const Ast *call, Block *bl);
static int tfm_params(Builder *b, const Ast *call, Block *bl);

static const BlockDef blocks[] = {
  { "lstm", "in hidden layers dropout", lstm_params, 4, 0, { { NULL, 0, 0 } }, 0, "lengths init", make_lstm },
  /* Luong input-feeding attention decoder: W_in scores, W_c combines [context; h] */
  { "attn_lstm", "in hidden layers dropout", lstm_params, 4, 1, { { "W_in", 1, 1 }, { "W_c", 1, 2 } }, 2, "memory lengths init", make_attn },
  /* pre-LN Transformer decoder layers (tfm.h), each window on its own */
  { "transformer", "d heads ffn layers dropout", tfm_params, 0, 0, { { NULL, 0, 0 } }, 0, "", make_tfm },
};

/* A parameter of the block: uniform(-bound, bound) (kind 1), or PyTorch's
** two LSTM biases as one (kind 3: a sum of two draws, multiplicity 2, see
** below), or the constant `bound` (kind 0: layer norm's gains and biases). */
static Node *block_param(Builder *b, Block *bl, const char *what, int layer, int rows, int cols, float bound, int kind) {
  char name[300];
  if (layer) snprintf(name, sizeof name, "%s.%s[%d]", bl->name, what, layer);
  else snprintf(name, sizeof name, "%s.%s", bl->name, what);
  Tensor t; int sh[2] = { rows, cols };
  if (tensor_shape(&t, cols ? 2 : 1, sh)) { err_at(b->e, bl->loc, "'%s' is too large", name); return NULL; }
  t.data = xcalloc(t.n, sizeof(float));
  if (!kind) for (long i = 0; i < t.n; i++) t.data[i] = bound;
  Node *n = graph_leaf(b->g, N_PARAM, name, bl->loc, &t);
  free(t.data);
  /* PyTorch's default init: U(-1/sqrt(fan), 1/sqrt(fan)) with fan = H for
  ** the recurrent layers; its two biases b_ih + b_hh are one bias here, so
  ** that one is a sum of two draws.  It also trains like the two: each of
  ** them gets the whole gradient, so SGD moves their sum twice as far and
  ** the clip norm counts it twice (sgd_mult, read by train.c's step). */
  if (kind) { n->iattr[0] = kind; n->fattr[0] = -bound; n->fattr[1] = bound; }
  n->sgd_mult = kind == 3 ? 2 : 1;
  bl->params[bl->nparams++] = n;
  return n;
}

/* A whole-number setting from lo to hi (a default when not required). */
static int int_kw(Builder *b, const Ast *call, const char *key, int lo, int hi, int dflt, int required, int *out) {
  double v;
  if (num_kw(b, call, key, lo, hi, dflt, required, &v)) return -1;
  if (v != floor(v)) return err_at(b->e, build_kwarg(call, key)->loc, "%s must be a whole number, got %g", key, v);
  *out = (int)v;
  return 0;
}

/* transformer(d = D, heads = H, ffn = F, layers = L, dropout = p): per
** layer l tfm.h's parameters, NAME.ln1_g[l], NAME.W_qkv[l], ...; linear
** layers start in U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as torch.nn.Linear,
** layer norms at gain 1, bias 0. */
static int tfm_params(Builder *b, const Ast *c, Block *bl) {
  int d, H, F, L;
  double p;
  if (int_kw(b, c, "d", 1, 1 << 16, 0, 1, &d) || int_kw(b, c, "heads", 1, 1 << 10, 1, 0, &H) ||
      int_kw(b, c, "ffn", 1, 1 << 18, 4 * d, 0, &F) || int_kw(b, c, "layers", 1, 64, 1, 0, &L) ||
      num_kw(b, c, "dropout", 0, 0.99, 0, 0, &p)) return -1;
  if (d % H) return err_at(b->e, c->loc, "transformer: d = %d does not split into %d heads", d, H);
  double elems = 0;
  for (int k = 0; k < TFM_NW; k++) { int r, w; tfm_param_shape(k, d, F, &r, &w); elems += (double)r * (w ? w : 1); }
  if (build_charge(b, c->loc, bl->name, (long)(elems * L), 3)) return -1;   /* value, gradient, initial copy */
  bl->in = d; bl->hidden = F; bl->layers = L; bl->heads = H; bl->dropout = (float)p;
  bl->params = xcalloc((size_t)TFM_NW * L, sizeof *bl->params);
  for (int l = 0; l < L; l++)
    for (int k = 0; k < TFM_NW; k++) {
      int r, w, ln = k == TFM_LN1_G || k == TFM_LN1_B || k == TFM_LN2_G || k == TFM_LN2_B;
      tfm_param_shape(k, d, F, &r, &w);
      float bound = ln ? (k == TFM_LN1_G || k == TFM_LN2_G) : 1.0f / sqrtf((float)(k == TFM_W2 || k == TFM_B2 ? F : d));
      if (!block_param(b, bl, tfm_param_name[k], l + 1, r, w, bound, ln ? 0 : 1)) return -1;
    }
  return 0;
}

/* block NAME = KIND(in = D, hidden = H, layers = L, dropout = p), KIND one of blocks[]. */
int build_block(Builder *b, const Ast *s) {
  const Ast *c = s->kids[0];
  const BlockDef *def = NULL;
  for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++) if (!strcmp(c->name, blocks[i].name)) def = &blocks[i];
  if (!def) {
    char known[256]; int o = 0;
    for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++) o += snprintf(known + o, sizeof known - o, "%s%s", i ? ", " : "", blocks[i].name);
    return err_at(b->e, c->loc, "unknown block '%s' (known: %s)", c->name, known);
  }
  if (build_var(b, s->name) || graph_find(b->g, s->name)) return err_at(b->e, s->loc, "'%s' is already defined", s->name);
  for (int i = 0; i < b->m->nblocks; i++) if (!strcmp(b->m->blocks[i].name, s->name)) return err_at(b->e, s->loc, "block '%s' is already defined", s->name);
  for (int i = 0; i < c->nkids; i++) {
    const Ast *k = c->kids[i];
    if (k->kind != A_KW || !build_word_in(k->name, def->settings)) {
      char takes[128]; int o = 0;
      for (const char *w = def->settings; *w;) {
        size_t n = strcspn(w, " ");
        o += snprintf(takes + o, sizeof takes - o, "%s%.*s = %s", o ? ", " : "", (int)n, w, strncmp(w, "dropout", n) ? "N" : "p");
        w += n + (w[n] == ' ');
      }
      return err_at(b->e, k->loc, "'%s' takes %s", c->name, takes);
    }
  }
  b->m->blocks = xrealloc(b->m->blocks, sizeof *b->m->blocks * (b->m->nblocks + 1));
  Block *bl = &b->m->blocks[b->m->nblocks++];
  memset(bl, 0, sizeof *bl);
  bl->name = xstrdup(s->name); bl->def = def; bl->loc = s->loc;
  return def->params(b, c, bl);
}

/* lstm, attn_lstm: in = D, hidden = H, layers = L, dropout = p. */
static int lstm_params(Builder *b, const Ast *c, Block *bl) {
  const BlockDef *def = bl->def;
  const char *bname = bl->name;
  double in, hid, layers, p;
  if (num_kw(b, c, "in", 1, 1 << 16, 0, 1, &in) || num_kw(b, c, "hidden", 1, 1 << 16, 0, 1, &hid) ||
      num_kw(b, c, "layers", 1, 16, 1, 0, &layers) || num_kw(b, c, "dropout", 0, 0.99, 0, 0, &p)) return -1;
  if (in != floor(in) || hid != floor(hid) || layers != floor(layers)) return err_at(b->e, c->loc, "in, hidden and layers must be whole numbers");
  /* all of the block's weights are promised before any is allocated */
  double G = def->gates * hid, in1 = in + def->feed * hid;
  double elems = layers * (G * hid + G) + G * in1 + G * hid * (layers - 1), widest = G * fmax(hid, in1);
  for (int i = 0; i < def->nafter; i++) elems += def->after[i].rows * def->after[i].cols * hid * hid;
  if (widest > (double)GR_MAXELEMS)
    return err_at(b->e, c->loc, "block '%s' would have a weight matrix of %.3g elements, more than the limit of %ld", bname, widest, GR_MAXELEMS);
  if (build_charge(b, c->loc, bname, (long)elems, 3)) return -1;   /* value, gradient, initial copy */
  bl->in = (int)in; bl->hidden = (int)hid; bl->layers = (int)layers; bl->dropout = (float)p;
  bl->params = xcalloc(3 * bl->layers + def->nafter, sizeof *bl->params);
  int H = bl->hidden, GH = def->gates * H;
  float bound = 1.0f / sqrtf((float)H);
  for (int l = 0; l < bl->layers; l++)
    if (!block_param(b, bl, "W_ih", l + 1, GH, l ? H : (int)in1, bound, 1) || !block_param(b, bl, "W_hh", l + 1, GH, H, bound, 1) ||
        !block_param(b, bl, "b", l + 1, GH, 0, bound, 3)) return -1;
  for (int i = 0; i < def->nafter; i++) {
    const BlockParam *q = &def->after[i];
    if (!block_param(b, bl, q->name, 0, q->rows * H, q->cols * H, 1.0f / sqrtf((float)(q->cols * H)), 1)) return -1;
  }
  return 0;
}

static Node *one_arg(Builder *b, const Ast *call, const char *key) {
  const Ast *v = build_kwarg(call, key);
  return v ? build_expr(b, v) : NULL;
}

/* embed(E, ids, pad = 0), dropout(x, p), cross_entropy(logits, y, ignore = 0),
** and calls of blocks: enc(x, lengths = n), dec(x, init = enc_out),
** att(x, memory = enc_out, lengths = n, init = enc_out). */
Node *build_seq_call(Builder *b, const Ast *a) {
  NodeList args = {0};
  Node *r = NULL;
  Block *bl = NULL;
  for (int i = 0; i < b->m->nblocks; i++) if (!strcmp(b->m->blocks[i].name, a->name)) bl = &b->m->blocks[i];
  const char *named = bl ? bl->def->named : !strcmp(a->name, "embed") ? "pad" : !strcmp(a->name, "cross_entropy") ? "ignore" : "";
  if (build_args(b, a, &args, named)) goto done;
  if (!strcmp(a->name, "embed") || !strcmp(a->name, "cross_entropy")) {
    int emb = a->name[0] == 'e';
    if (args.n != 2) { err_at(b->e, a->loc, emb ? "'embed' takes (E, ids)" : "'cross_entropy' takes (logits, targets)"); goto done; }
    double pad;
    if (num_kw(b, a, emb ? "pad" : "ignore", -1, 1 << 30, -1, 0, &pad)) goto done;
    if (!(args.v[1]->flags & NF_NOGRAD)) { err_at(b->e, a->loc, "'%s' needs token ids (x, y, src from 'data') as its second argument", a->name); goto done; }
    int ia[4] = { (int)pad }; float fa[4] = { 0 };
    r = build_op(b, emb ? OP_EMBED : OP_XENT, a->loc, 2, args.v, ia, fa);
    if (!r) goto done;
    if (emb && pad >= 0 && args.v[0]->kind == N_PARAM && args.v[0]->val.rank == 2 && pad < args.v[0]->val.shape[0]) {
      int d = args.v[0]->val.shape[1];               /* the padding row starts (and, as input, stays) zero */
      memset(args.v[0]->val.data + (long)pad * d, 0, sizeof(float) * d);
      args.v[0]->iattr[1] = (int)pad + 1;            /* init_random keeps it zero */
    }
  } else if (!strcmp(a->name, "dropout")) {
    double p;
    /* Two written arguments, not only two after expansion (x[1..2] gives two from one). */
    if (a->nkids != 2 || args.n != 2 || !build_is_const(b, a->kids[1])) { err_at(b->e, a->loc, "'dropout' takes (x, p) with p a number"); goto done; }
    if (build_const(b, a->kids[1], &p)) goto done;
    if (p < 0 || p >= 1) { err_at(b->e, a->kids[1]->loc, "dropout p must be in [0, 1), got %g", p); goto done; }
    int ia[4] = { 0 }; float fa[4] = { (float)p };
    r = build_op(b, OP_DROPOUT, a->loc, 1, args.v, ia, fa);
  } else if (bl) {
    if (args.n != 1) { err_at(b->e, a->loc, "block '%s' takes one input sequence (and named arguments)", bl->name); goto done; }
    Node *len = one_arg(b, a, "lengths"), *init = one_arg(b, a, "init"), *mem = one_arg(b, a, "memory");
    if (b->e->set) goto done;
    if (len && !(len->flags & NF_NOGRAD)) { err_at(b->e, a->loc, "lengths must be src_len from 'data'"); goto done; }
    if (init && init->op != OP_LSTM) { err_at(b->e, a->loc, "init must be the output of an lstm block (its final state starts this one)"); goto done; }
    r = bl->def->make(b, a, bl, args.v[0], len, init, mem);
  }
done:
  free(args.v);
  return r;
}
