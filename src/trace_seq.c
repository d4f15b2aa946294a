/*
** trace_seq.c — --trace and --json on a sequence model: one training step of
** the real model on the real data, as a worked solution of the assignment's
** questions (docs/training.md, docs/attention.md).
**
** The step is the trainer's own (train.h's TrainWalk: the same settings,
** seed, iterator and dropout RNG as --train's first step), run node by node
** with graph_forward / graph_backward / train_sgd_step.  The trace only
** reads: the fused recurrent ops keep every step on their tapes (lstm.h's
** LstmRun, attn.h's AttnTape), and their backward hands each step of
** backprop through time to Exec.bptt, which copies it here (tensor.h's
** BpttStep).  Numbers are the float32 values the step computed, shown with
** 4 significant digits; the few derived numbers (scores, a target's
** probability) are recomputed from them with the formula printed beside.
**
** Sections name the question they answer: 1 bptt, 2 loss and gradients,
** 3 the carried state, 4 bundles, 5 the encoder, 6 conditioning, 7 attention.
**
** The text is written to a memory stream and handed out line by line to a
** TraceSink (show.h), as trace.c does for a plain model: each line tagged
** with the node it belongs to (an op's forward or backward lines, the
** carried node's state, E's SGD row) and a phase; section titles and blank
** lines are headings.  --trace's sink prints them; the --html page steps
** through them.
*/
#include "show.h"
#include "train.h"
#include "lstm.h"
#include "attn.h"
#include "ops_seq.h"
#include "ops_attn.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Largest sizes --trace prints; above them it says how to make the model small. */
enum { TR_MAXH = 8, TR_MAXB = 4, TR_MAXT = 8 };

static const char *const Q[8] = {
  "",
  "question 1: what does bptt do?",
  "question 2: where are the loss and the gradients computed?",
  "question 3: how is the hidden state carried over between batches?",
  "question 4: why is bptt not used for translation bundles?",
  "question 5: where is the source encoded?",
  "question 6: where does the decoder condition on it?",
  "question 7: what do the attention weights look like?",
};

/* One recorded step of backprop through time: the BpttStep with its
** arrays copied (strided ones made contiguous) into buf. */
typedef struct Rec { BpttStep s; float *buf; } Rec;

typedef struct Tr {
  FILE *f;             /* an open_memstream over buf: what is written goes out by tag() */
  char *buf;
  size_t len, done;    /* the stream's size; how much of it went to the sink */
  TraceSink sink;
  void *ctx;
  const Node *at;      /* the node and phase of the lines being written */
  TracePhase ph;
  Model *m;
  const char *flag;    /* "--trace" or "--html": what the too-big message names */
  char *src;           /* the model file's text, for its lines */
  TrainWalk w;
  Batch b;
  Rec *rec; int nrec, cap;
} Tr;

/* ---- printing helpers ------------------------------------------------------ */

static void num(FILE *f, double v) {
  if (v == 0) fputs("0", f);
  else fprintf(f, "%.4g", v);
}
/* [a, b, c] of n values at stride s. */
static void vec(FILE *f, const float *v, int n, int s) {
  fputc('[', f);
  for (int i = 0; i < n; i++) { if (i) fputs(", ", f); num(f, v[(size_t)i * s]); }
  fputc(']', f);
}
/* [[row 1], [row 2]]: B rows of n values, rows ld apart. */
static void mat(FILE *f, const float *v, int B, int n, int ld) {
  fputc('[', f);
  for (int b = 0; b < B; b++) { if (b) fputs(", ", f); vec(f, v + (size_t)b * ld, n, 1); }
  fputc(']', f);
}
static const char *word(const Tr *t, int id) {
  const char *w = corpus_vocab_word(&t->m->data->vocab, id);
  return w ? w : "?";
}
/* Hands every whole line written so far to the sink, tagged with the node
** and phase they were written for (an empty line as a heading of no node);
** the lines written next belong to node n (or none) in phase ph. */
static void tag(Tr *t, const Node *n, TracePhase ph) {
  fflush(t->f);                      /* buf[len] is a NUL after a flush */
  char *s = t->buf + t->done, *nl;
  while ((nl = strchr(s, '\n'))) {    /* every line printed ends in '\n' */
    *nl = 0;
    t->sink(t->ctx, *s ? t->at : NULL, *s ? t->ph : TRACE_HEAD, s);
    *nl = '\n';
    s = nl + 1;
  }
  t->done = (size_t)(s - t->buf);
  t->at = n; t->ph = ph;
}
/* A section title: a heading; what follows is a note of no node. */
static void section(Tr *t, const char *title, int q) {
  tag(t, NULL, TRACE_HEAD);
  fprintf(t->f, "\n== %s%s%s%s\n", title, q ? "  [" : "", Q[q], q ? "]" : "");
  tag(t, NULL, TRACE_NOTE);
}
/* The source line `line` of the model file, as written ("" if unreadable). */
static void src_line(const Tr *t, int line, char *buf, size_t sz) {
  const char *s = t->src;
  for (int l = 1; s && *s && l < line; s++) if (*s == '\n') l++;
  size_t k = 0;
  while (s && s[k] && s[k] != '\n' && k + 1 < sz) { buf[k] = s[k]; k++; }
  buf[k] = 0;
}
static double l2(const float *v, long n) {
  double s = 0;
  for (long i = 0; i < n; i++) s += (double)v[i] * v[i];
  return sqrt(s);
}
/* The block a fused node belongs to (its first weight is the block's). */
static const Block *block_of(const Model *m, const Node *n) {
  const Node *w = n->op == OP_ATTN_DEC ? n->in[4] : n->in[1];
  for (int i = 0; i < m->nblocks; i++)
    if (m->blocks[i].nparams && m->blocks[i].params[0] == w) return &m->blocks[i];
  return NULL;
}
static const char *block_name(const Model *m, const Node *n) {
  const Block *bl = block_of(m, n);
  return bl ? bl->name : n->label;
}
/* The token ids of a [T,B] input, row by row, as words: "as a | the cat". */
static void words_row(Tr *t, const float *ids, int B, int ti) {
  for (int b = 0; b < B; b++) fprintf(t->f, "%s%s", b ? " | " : "", word(t, (int)ids[(size_t)ti * B + b]));
}

/* ---- the bptt hook ------------------------------------------------------------ */

static float *copy_rows(float *dst, const float *src, int B, int n, int ld) {
  if (!src) return NULL;
  for (int b = 0; b < B; b++) memcpy(dst + (size_t)b * n, src + (size_t)b * ld, sizeof(float) * (size_t)n);
  return dst;
}

static void on_step(void *ctx, const BpttStep *s) {
  Tr *t = ctx;
  if (t->nrec == t->cap) { t->cap = t->cap ? 2 * t->cap : 64; t->rec = xrealloc(t->rec, sizeof *t->rec * t->cap); }
  Rec *r = &t->rec[t->nrec++];
  int B = s->B, H = s->H, G = s->layer < 0 ? s->S : 4 * H, wq = s->layer < 0 ? 2 * H : H;
  size_t need = (size_t)B * (H + G + H + wq + H);
  float *p = r->buf = xmalloc(sizeof(float) * need);
  r->s = *s;
  r->s.dh = copy_rows(p, s->dh, B, H, H); p += (size_t)B * H;
  r->s.dgates = copy_rows(p, s->dgates, B, G, G); p += (size_t)B * G;
  r->s.dc_prev = copy_rows(p, s->dc_prev, B, H, H); p += (size_t)B * H;
  r->s.dh_prev = copy_rows(p, s->dh_prev, B, wq, s->ld); p += (size_t)B * wq;
  r->s.dx = copy_rows(p, s->dx, B, H, s->ldx);
  r->s.ld = wq; r->s.ldx = H;
}

/* ---- the data ------------------------------------------------------------------ */

static void show_sentences(Tr *t, const Sents *s, int k) {
  for (long i = 0; i < s->n && i < k; i++) {
    fprintf(t->f, "  sentence %ld:", i + 1);
    for (long j = s->off[i]; j < s->off[i + 1]; j++) fprintf(t->f, " %s", word(t, s->ids[j]));
    fprintf(t->f, "\n         ids:");
    for (long j = s->off[i]; j < s->off[i + 1]; j++) fprintf(t->f, " %d", s->ids[j]);
    fputc('\n', t->f);
  }
}

/* One row of a [rows, B] id matrix: "    12  as (5)          the (7)". */
static void mat_row(Tr *t, const int32_t *mat, int B, int r, const char *note) {
  fprintf(t->f, "  %6d ", r + 1);
  for (int b = 0; b < B; b++) {
    char cell[64];
    int id = mat[(size_t)r * B + b];
    snprintf(cell, sizeof cell, "%s (%d)", word(t, id), id);
    fprintf(t->f, " %-18s", cell);
  }
  fprintf(t->f, "%s\n", note);
}

static void data_stream(Tr *t) {
  const Stream *st = t->w.stream;
  const Sents *s = &t->m->data->train;
  FILE *f = t->f;
  int B = st->B, T = t->w.cfg.bptt;
  section(t, "The data", 1);
  fprintf(f, "%s: %ld sentences, %ld words; vocabulary %d (ids 0-3 are <pad> <eos> <sos> <unk>)\n",
          s->file, s->n, s->ntok, t->m->data->vocab.n);
  show_sentences(t, s, 2);
  fprintf(f, "Each sentence is followed by <eos> and all of them are one stream of %ld tokens.\n", s->ntok + s->n);
  fprintf(f, "The stream is cut into B = %d columns of T_long = %d rows (the last %ld tokens dropped):\n"
             "column 1 holds tokens 1..%d, column 2 the next %d, and so on.  The T_long x B matrix:\n",
          B, st->rows, s->ntok + s->n - (long)st->rows * B, st->rows, st->rows);
  fprintf(f, "     row ");
  for (int b = 0; b < B; b++) fprintf(f, " column %-11d", b + 1);
  fputc('\n', f);
  for (int r = 0; r <= 2 * T && r < st->rows; r++)
    mat_row(t, st->mat, B, r, r == 0 ? "   <- x of piece 1 starts" : r == T ? "   <- x of piece 2 starts (its last y row ends piece 1)" : "");
  if (2 * T + 1 < st->rows) { fprintf(f, "     ...\n"); mat_row(t, st->mat, B, st->rows - 1, ""); }
  fprintf(f, "bptt = %d cuts the matrix into %ld pieces of %d rows: piece k has x = rows i+1..i+%d and\n"
             "y = rows i+2..i+%d (i = (k-1)*%d): each x word's target is the next word of its column.\n"
             "Backprop runs inside one piece only (truncated backprop through time); the state goes on.\n",
          T, st->npieces, T, T, T + 1, T);
  fprintf(f, "Traced: piece 1 of %ld (T = %d, B = %d).\n", st->npieces, t->b.T, t->b.B);
}

static void data_bundle(Tr *t) {
  const Bundles *bu = t->w.bundles;
  const ModelData *d = t->m->data;
  FILE *f = t->f;
  section(t, "The data", 4);
  fprintf(f, "%s and %s: %ld sentence pairs (line k of one with line k of the other); vocabulary %d\n"
             "(ids 0-3 are <pad> <eos> <sos> <unk>; source and target share it)\n",
          d->src_train.file, d->train.file, d->train.n, d->vocab.n);
  fprintf(f, "A bundle is B = %d sentence pairs: bundle %ld holds pairs %ld..%ld.  Sources are padded with <pad>\n"
             "to the longest (S = %d rows) and keep their lengths; targets become <sos> y <eos>, padded to %d rows.\n",
          bu->Bk, bu->bundle + 1, bu->bundle * bu->B + 1, bu->bundle * bu->B + bu->Bk, bu->Ts, bu->tl);
  fprintf(f, "source [S,B] (lengths");
  for (int b = 0; b < bu->Bk; b++) fprintf(f, " %d", bu->slen[b]);
  fprintf(f, "):\n");
  for (int r = 0; r < bu->Ts; r++) mat_row(t, bu->smat, bu->Bk, r, "");
  fprintf(f, "target [T_long,B]:\n");
  for (int r = 0; r < bu->tl; r++)
    mat_row(t, bu->tmat, bu->Bk, r, r == 0 ? "   <- x of piece 1 starts" : r == t->w.cfg.bptt ? "   <- x of piece 2 starts" : "");
  fprintf(f, "The target is still cut into pieces of bptt = %d rows (x = rows i+1..i+%d, y one row later);\n"
             "the decoder carries its state between the pieces of one bundle.  Traced: piece 1 of bundle 1\n"
             "(T = %d, B = %d); padding targets (id 0) are not counted in the loss.\n",
          t->w.cfg.bptt, t->w.cfg.bptt, t->b.T, t->b.B);
}

/* ---- forward --------------------------------------------------------------------- */

static void fwd_embed(Tr *t, const Node *n) {
  const Tensor *ids = &n->in[1]->val;
  int T = ids->shape[0], B = ids->rank > 1 ? ids->shape[1] : 1, d = n->val.shape[n->val.rank - 1];
  fprintf(t->f, "  %s = embed(%s, %s): row x[t,b] of %s for every token%s\n", n->label, n->in[0]->label, n->in[1]->label,
          n->in[0]->label, n->iattr[0] >= 0 ? " (the <pad> row gets no gradient)" : "");
  for (int ti = 0; ti < T; ti++) {
    fprintf(t->f, "    t=%d:", ti + 1);
    for (int b = 0; b < B; b++) {
      int id = (int)ids->data[(size_t)ti * B + b];
      fprintf(t->f, "%s %s = %s[%d] = ", b ? "   " : "", word(t, id), n->in[0]->label, id);
      vec(t->f, n->val.data + ((size_t)ti * B + b) * d, d, 1);
    }
    fputc('\n', t->f);
  }
}

static void fwd_dropout(Tr *t, const Node *n) {
  float p = n->fattr[0];
  const Tensor *v = &n->val;
  if (!n->aux[0].data || v->rank != 3) {
    fprintf(t->f, "  %s = dropout(%s, %g): %s\n", n->label, n->in[0]->label, (double)p,
            p > 0 ? "off here (identity)" : "p = 0: identity");
    return;
  }
  int T = v->shape[0], B = v->shape[1], H = v->shape[2];
  fprintf(t->f, "  %s = dropout(%s, %g): each number kept with probability %g and scaled by 1/(1-p) = %.4g, else 0\n",
          n->label, n->in[0]->label, (double)p, 1 - (double)p, 1 / (1 - (double)p));
  for (int ti = 0; ti < T; ti++) {
    fprintf(t->f, "    t=%d: mask = ", ti + 1);
    mat(t->f, n->aux[0].data + (size_t)ti * B * H, B, H, H);
    fprintf(t->f, "\n         out  = ");
    mat(t->f, v->data + (size_t)ti * B * H, B, H, H);
    fputc('\n', t->f);
  }
}

/* The gates of one cell step, activated, rows of [i | f | g | o]. */
static void gates(Tr *t, const float *G, int B, int H, const char *pre) {
  static const char *nm[4] = { "i = sigmoid", "f = sigmoid", "g = tanh   ", "o = sigmoid" };
  for (int k = 0; k < 4; k++) {
    fprintf(t->f, "%s%s(.)%s = ", pre, nm[k], k == 0 ? "" : "");
    mat(t->f, G + (size_t)k * H, B, H, 4 * H);
    fputc('\n', t->f);
  }
}

/* The nodes an LSTM node hands its final state to (init links). */
static const Node *init_user(const Tr *t, const Node *n) {
  Graph *g = t->m->g;
  for (int i = n->id + 1; i < g->n; i++) {
    const Node *u = g->nodes[i];
    if (u->op == OP_LSTM && (u->iattr[2] & 2) && u->in[u->nin - 1] == n) return u;
    if (u->op == OP_ATTN_DEC && u->in[3] == n) return u;
  }
  return NULL;
}

static void fwd_lstm(Tr *t, const Node *n) {
  int from_init = 0;
  const LstmRun *r = seqop_lstm_run(n, &from_init);
  if (!r) return;
  FILE *f = t->f;
  const int T = r->T, B = r->B, H = r->H, L = r->L, D = r->D;
  const size_t BH = (size_t)B * H;
  const Node *user = init_user(t, n);
  int compact = r->len != NULL;
  fprintf(f, "  %s = %s(%s): an LSTM of %d layers, hidden %d, over T = %d steps of B = %d rows\n"
             "  gates (PyTorch order): [i f g o] = W_ih x_t + W_hh h_{t-1} + b;  c_t = f*c_{t-1} + i*g;  h_t = o*tanh(c_t)\n",
          n->label, block_name(t->m, n), n->in[0]->label, L, H, T, B);
  const char *start = from_init ? "the final state of the encoder (init = ...): the decoder starts from the source"
                    : (n->iattr[2] & 4) && t->w.stream && !t->b.first ? "the state carried from the previous piece"
                    : "zeros";
  fprintf(f, "  initial state: %s%s\n", start, from_init ? "  [question 6]" : "");
  for (int l = 0; l < L; l++) {
    const float *h = r->h + (size_t)l * (T + 1) * BH, *c = r->c + (size_t)l * (T + 1) * BH;
    fprintf(f, "    layer %d: h_0 = ", l + 1); mat(f, h, B, H, H);
    fprintf(f, "  c_0 = "); mat(f, c, B, H, H); fputc('\n', f);
  }
  if (compact) {
    fprintf(f, "  lengths:");
    for (int b = 0; b < B; b++) fprintf(f, " %d", r->len[b]);
    fprintf(f, " -- past its length a row holds its state (padding changes nothing) and outputs 0\n");
  }
  for (int l = 0; l < L; l++) {
    const float *G = r->gates + (size_t)l * T * B * 4 * H;
    const float *h = r->h + (size_t)l * (T + 1) * BH, *c = r->c + (size_t)l * (T + 1) * BH;
    int in = l ? H : D;
    for (int ti = 0; ti < T; ti++) {
      const float *x = l == 0 ? r->x + (size_t)ti * B * D : r->xin ? r->xin + ((size_t)(l - 1) * T + ti) * BH
                     : r->h + (size_t)(l - 1) * (T + 1) * BH + (ti + 1) * BH;
      if (compact) {
        fprintf(f, "    layer %d t=%-2d (", l + 1, ti + 1);
        fprintf(f, "%s): h = ", l ? "from layer below" : "input row t");
        mat(f, h + (ti + 1) * BH, B, H, H);
        fprintf(f, "  c = "); mat(f, c + (ti + 1) * BH, B, H, H);
        fputc('\n', f);
        continue;
      }
      fprintf(f, "    layer %d, t = %d\n      x_t = ", l + 1, ti + 1);
      mat(f, x, B, in, in);
      if (l && r->mask) {
        fprintf(f, "  (h of layer %d times the dropout mask ", l);
        mat(f, r->mask + ((size_t)(l - 1) * T + ti) * BH, B, H, H);
        fputc(')', f);
      } else if (l) fprintf(f, "  (h of layer %d; no dropout between layers here)", l);
      fputc('\n', f);
      gates(t, G + (size_t)ti * B * 4 * H, B, H, "      ");
      fprintf(f, "      c_t = f*c_{t-1} + i*g = "); mat(f, c + (ti + 1) * BH, B, H, H);
      fprintf(f, "\n      h_t = o*tanh(c_t)     = "); mat(f, h + (ti + 1) * BH, B, H, H);
      fputc('\n', f);
    }
  }
  fprintf(f, "  final state (h_T, c_T of every layer)%s:\n", user ? "" : ", kept for the next piece");
  for (int l = 0; l < L; l++) {
    const float *h = n->aux[0].data + l * BH, *c = n->aux[0].data + (size_t)L * BH + l * BH;
    fprintf(f, "    layer %d: h_T = ", l + 1); mat(f, h, B, H, H);
    fprintf(f, "  c_T = "); mat(f, c, B, H, H); fputc('\n', f);
  }
  if (user)
    fprintf(f, "  This is where the source is encoded [question 5]: the final state goes to '%s' (line %d)\n"
               "  as its initial state%s.\n", user->label, user->loc.line,
            user->op == OP_ATTN_DEC ? ", and the top layer's outputs m (zeros at padding) are its memory" : "");
  else
    fprintf(f, "  output %s [T,B,H] = the top layer's h_t at every step\n", n->label);
}

/* Row b's scores over its sources at step tt: score_j = m_j . qin_b. */
static void att_scores(const AttnDec *d, const AttnTape *tp, int tt, int b, float *s) {
  const int B = d->B, H = d->H;
  const float *q = tp->QIN + ((size_t)tt * B + b) * H;
  for (int j = 0; j < d->S; j++) {
    const float *mj = d->mem + ((size_t)j * B + b) * H;
    double v = 0;
    for (int k = 0; k < H; k++) v += (double)mj[k] * q[k];
    s[j] = (float)v;
  }
}

static void fwd_attn(Tr *t, const Node *n) {
  AttnTape tp;
  const AttnDec *d = attn_dec_last(n, &tp);
  if (!d) return;
  FILE *f = t->f;
  const int T = d->T, B = d->B, S = d->S, E = d->E, H = d->H, L = d->L;
  const size_t BH = (size_t)B * H, B2H = 2 * BH;
  const float *src = t->w.src->val.data;
  fprintf(f, "  %s = %s(%s, memory = %s): Luong attention with input feeding, %d layers of %d, T = %d steps\n"
             "  per step: layer 1 reads [e_t ; h~_{t-1}]; the top layer's h_t is the query q;\n"
             "  score_j = m_j . (W_in q) over the source words j, padding masked; a = softmax(score);\n"
             "  context c = sum_j a_j m_j;  h~_t = tanh(W_c [c ; q]) goes to the output layer and into step t+1\n",
          n->label, block_name(t->m, n), n->in[0]->label, n->in[1]->label, L, H, T);
  fprintf(f, "  initial state: %s  [question 6]\n",
          t->b.first ? "the encoder's final state (h, c of every layer); h~_0 = 0"
                     : "the state and h~ carried from the previous piece of this bundle");
  for (int l = 0; l < L; l++) {
    fprintf(f, "    layer %d: h_0 = ", l + 1); mat(f, d->h0 + l * BH, B, H, H);
    fprintf(f, "  c_0 = "); mat(f, d->c0 + l * BH, B, H, H); fputc('\n', f);
  }
  fprintf(f, "    h~_0 = "); mat(f, d->feed0, B, H, H); fputc('\n', f);
  float *sc = xmalloc(sizeof(float) * (size_t)S);
  for (int tt = 0; tt < T; tt++) {
    fprintf(f, "    step t = %d (fed: ", tt + 1);
    words_row(t, t->w.x->val.data, B, tt);
    fprintf(f, ")\n");
    for (int l = 0; l < L; l++) {
      size_t lt = (size_t)l * T + tt;
      const float *xh = tp.XH + lt * B2H, *G = tp.G + lt * 4 * BH, *c = tp.C + lt * BH;
      const float *h = l == L - 1 ? tp.CQ + tt * B2H + H : tt + 1 < T ? tp.XH + (lt + 1) * B2H + H : d->hN + l * BH;
      int ldh = l == L - 1 || tt + 1 < T ? 2 * H : H;
      fprintf(f, "      layer %d: x = ", l + 1);
      if (l == 0) {
        fprintf(f, "[e_t ; h~_{t-1}] with e_t = "); mat(f, d->e + (size_t)tt * B * E, B, E, E);
        fprintf(f, " and h~_{t-1} = "); mat(f, xh, B, H, 2 * H);
      } else {
        mat(f, xh, B, H, 2 * H);
        fprintf(f, d->drop ? "  (h of layer %d times its dropout mask)" : "  (h of layer %d)", l);
      }
      fprintf(f, "\n");
      gates(t, G, B, H, "        ");
      fprintf(f, "        c_t = f*c_{t-1} + i*g = "); mat(f, c, B, H, H);
      fprintf(f, "\n        h_t = o*tanh(c_t)     = "); mat(f, h, B, H, ldh);
      fputc('\n', f);
    }
    const float *w = tp.W + (size_t)tt * B * S;
    for (int b = 0; b < B; b++) {
      att_scores(d, &tp, tt, b, sc);
      int len = d->len[b];
      fprintf(f, "      row %d: q = h_t of the top layer; W_in q = ", b + 1);
      vec(f, tp.QIN + ((size_t)tt * B + b) * H, H, 1);
      fprintf(f, "\n        scores m_j . (W_in q):");
      for (int j = 0; j < S; j++) {
        fprintf(f, " %s ", word(t, (int)src[(size_t)j * B + b]));
        if (j < len) num(f, sc[j]); else fputs("masked", f);
      }
      fprintf(f, "\n        weights softmax:     ");
      for (int j = 0; j < S; j++) {
        fprintf(f, " %s ", word(t, (int)src[(size_t)j * B + b]));
        num(f, w[(size_t)b * S + j]);
      }
      if (len < S) fprintf(f, "   (%d padding positions: weight exactly 0)", S - len);
      fprintf(f, "\n        context c = sum_j a_j m_j = ");
      vec(f, tp.CQ + tt * B2H + (size_t)b * 2 * H, H, 1);
      fprintf(f, "\n        h~ = tanh(W_c [c ; q]) = ");
      vec(f, d->out + tt * BH + (size_t)b * H, H, 1);
      fputc('\n', f);
    }
    if (tt + 1 < T) fprintf(f, "      h~_t goes to the output layer and is fed into step %d with its embedding\n", tt + 2);
  }
  free(sc);
  fprintf(f, "  the last h~, h and c are kept for the next piece of the bundle\n");
}

/* Logits, the target's probability and the loss of the XENT node n. */
static void fwd_xent(Tr *t, const Node *n) {
  FILE *f = t->f;
  const Node *z = n->in[0], *y = n->in[1];
  int V = z->val.shape[z->val.rank - 1], ign = n->iattr[0];
  long N = y->val.n;
  int B = y->val.rank > 1 ? y->val.shape[1] : 1;
  const XentStat *xs = seqop_xent_stat(n);
  fprintf(f, "  %s = cross_entropy(%s, %s): per position -log p(target), p = softmax over the %d words;\n"
             "  p(target) = exp(logit_target - log-sum-exp of the %d logits)\n", n->label, z->label, y->label, V, V);
  for (long k = 0; k < N; k++) {
    int tg = (int)y->val.data[k];
    fprintf(f, "    t=%ld b=%ld target %-12s", k / B + 1, k % B + 1, word(t, tg));
    if (ign >= 0 && tg == ign) { fprintf(f, " (padding: not counted)\n"); continue; }
    double lg = z->val.data[(size_t)k * V + tg], lse = n->aux[0].data[k], p = exp(lg - lse);
    fprintf(f, " logit %.4g  log-sum-exp %.5g  p = %.4g  -log p = %.5g\n", lg, lse, p, -log(p));
  }
  fprintf(f, "  loss = mean -log p = %.6g  (the sum of -log p, %.6g, over %ld counted targets; perplexity exp(loss) = %.5g)\n",
          (double)n->val.data[0], xs->sum, xs->count, exp((double)n->val.data[0]));
}

static void fwd_other(Tr *t, const Node *n) {
  char sh[64];
  fprintf(t->f, "  %s = %s(", n->label, ops_word(n->op));
  for (int j = 0; j < n->nin; j++) fprintf(t->f, "%s%s", j ? ", " : "", n->in[j]->label);
  fprintf(t->f, ")  %s", shape_str(&n->val, sh, sizeof sh));
  if (n->val.n <= 8) { fputs(" = ", t->f); vec(t->f, n->val.data, (int)n->val.n, 1); }
  else if (n->op == OP_MATMUL && n->iattr[0] && n->nin == 3)       /* ops_fuse folded it */
    fprintf(t->f, "  = %s @ transpose(%s) + %s in one product: the output layer reads the embedding table (tied)",
            n->in[0]->label, n->in[1]->label, n->in[2]->label);
  else if (n->val.shape[n->val.rank - 1] == t->m->data->vocab.n) fprintf(t->f, "  (one logit per word of the vocabulary at every position)");
  fputc('\n', t->f);
}

static void forward(Tr *t) {
  Graph *g = t->m->g;
  int line = 0;
  section(t, "Forward, node by node", 2);
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind != N_OP || (n->flags & (NF_HIDDEN | NF_DEAD))) continue;
    tag(t, n, TRACE_FWD);
    if (n->loc.line != line) {
      char s[512];
      line = n->loc.line;
      src_line(t, line, s, sizeof s);
      fprintf(t->f, "line %d: %s\n", line, s);
    }
    switch (n->op) {
      case OP_EMBED: fwd_embed(t, n); break;
      case OP_DROPOUT: fwd_dropout(t, n); break;
      case OP_LSTM: fwd_lstm(t, n); break;
      case OP_ATTN_DEC: fwd_attn(t, n); break;
      case OP_XENT: fwd_xent(t, n); break;
      default: fwd_other(t, n); break;
    }
  }
}

/* ---- backward ----------------------------------------------------------------------- */

static const Rec *prev_rec(const Tr *t, int k) {
  for (int j = k - 1; j >= 0; j--)
    if (t->rec[j].s.tag == t->rec[k].s.tag && t->rec[j].s.layer == t->rec[k].s.layer) return &t->rec[j];
  return NULL;
}

static void bwd_steps(Tr *t, const Node *n) {
  FILE *f = t->f;
  int compact = n->op == OP_LSTM && (n->iattr[2] & 1);
  fprintf(f, "  %s = %s(...): backprop through time, the last step first%s\n", n->label, block_name(t->m, n),
          compact ? " (dh, dc per step; the gates as for the decoder)" : "");
  for (int k = 0; k < t->nrec; k++) {
    const Rec *r = &t->rec[k];
    if (r->s.tag != n) continue;
    const BpttStep *s = &r->s;
    int B = s->B, H = s->H, S = s->S;
    if (s->layer < 0) {
      fprintf(f, "    step t = %d, attention: dh~_t = ", s->t + 1); mat(f, s->dh, B, H, H);
      fprintf(f, "  (from the output layer + fed back from step %d)\n", s->t + 2);
      fprintf(f, "      dscores (softmax backward, 0 at padding) = "); mat(f, s->dgates, B, S, S);
      fprintf(f, "\n      d context = W_c^T dz (left half) = "); mat(f, s->dh_prev, B, H, 2 * H);
      fputc('\n', f);
      continue;
    }
    const Rec *pr = prev_rec(t, k);
    if (compact) {
      fprintf(f, "    layer %d t=%-2d dh_t = ", s->layer + 1, s->t + 1); mat(f, s->dh, B, H, H);
      fprintf(f, "  -> dc_{t-1} = "); mat(f, s->dc_prev, B, H, H); fputc('\n', f);
      continue;
    }
    fprintf(f, "    layer %d, t = %d: dh_t = ", s->layer + 1, s->t + 1); mat(f, s->dh, B, H, H);
    fprintf(f, pr ? "  (from above + from step %d)\n" : "  (from above; nothing from step %d: the piece ends here)\n", s->t + 2);
    fprintf(f, "      dc_t = ");
    if (pr) mat(f, pr->s.dc_prev, B, H, H); else fputs("0 (the piece's last step: nothing comes back from the next piece)", f);
    fprintf(f, "\n      dc_t in total = dc_t + dh_t * o * (1 - tanh(c_t)^2); through the gates (pre-activation):\n");
    static const char *nm[4] = { "di = dc*g*i(1-i)", "df = dc*c_{t-1}*f(1-f)", "dg = dc*i*(1-g^2)", "do = dh*tanh(c)*o(1-o)" };
    for (int q = 0; q < 4; q++) {
      fprintf(f, "      %-22s = ", nm[q]); mat(f, s->dgates + (size_t)q * H, B, H, 4 * H); fputc('\n', f);
    }
    fprintf(f, "      -> dc_{t-1} = dc*f = "); mat(f, s->dc_prev, B, H, H);
    fprintf(f, "\n      -> dh_{t-1} = W_hh^T [di df dg do] = "); mat(f, s->dh_prev, B, H, H);
    if (s->dx && s->layer == 0) { fprintf(f, "\n      -> dh~_{t-1} (the fed input) = "); mat(f, s->dx, B, H, H); }
    fputc('\n', f);
  }
  fprintf(f, "  the weights: each step's [di df dg do] times its input (dW_ih) and h_{t-1} (dW_hh), summed over steps:\n");
  int first = n->op == OP_ATTN_DEC ? 4 : 1;
  for (int j = first; j < n->nin; j++) {
    const Node *p = n->in[j];
    if (p->kind != N_PARAM || !p->grad.data) continue;
    char sh[64];
    fprintf(f, "    d%s %s: norm %.4g, row 1 = ", p->label, shape_str(&p->val, sh, sizeof sh), l2(p->grad.data, p->grad.n));
    vec(f, p->grad.data, p->val.rank == 2 ? p->val.shape[1] : (int)(p->val.n < 8 ? p->val.n : 8), 1);
    fputc('\n', f);
  }
}

static void backward(Tr *t) {
  Graph *g = t->m->g;
  FILE *f = t->f;
  Node *loss = t->w.loss;
  section(t, "Backward, last node first", 2);
  tag(t, loss, TRACE_BWD);
  fprintf(f, "graph_backward starts from d%s/d%s = 1 and visits the nodes in reverse order.\n", loss->label, loss->label);
  for (int i = loss->id; i >= 0; i--) {
    Node *n = g->nodes[i];
    if (n->kind != N_OP || (n->flags & (NF_HIDDEN | NF_DEAD)) || !g->need[i]) continue;
    tag(t, n, TRACE_BWD);
    if (n->op == OP_XENT) {
      const Node *z = n->in[0], *y = n->in[1];
      int V = z->val.shape[z->val.rank - 1];
      const XentStat *xs = seqop_xent_stat(n);
      fprintf(f, "  d%s/d%s = (softmax(%s) - onehot(%s)) / %ld: at each target p - 1, elsewhere p, over %ld counted targets\n",
              loss->label, z->label, z->label, y->label, xs->count, xs->count);
      for (long k = 0; k < y->val.n && k < 4; k++) {
        int tg = (int)y->val.data[k];
        fprintf(f, "    position %ld, target %s: %.4g\n", k + 1, word(t, tg), (double)z->grad.data[(size_t)k * V + tg]);
      }
      continue;
    }
    if (n->op == OP_LSTM || n->op == OP_ATTN_DEC) { bwd_steps(t, n); continue; }
    char sh[64];
    fprintf(f, "  d%s/d%s %s: norm %.4g", loss->label, n->label, shape_str(&n->val, sh, sizeof sh), l2(n->grad.data, n->grad.n));
    if (n->val.rank == 3 && n->val.shape[2] <= TR_MAXH) {
      int B = n->val.shape[1], H = n->val.shape[2];
      fprintf(f, ", per step:\n");
      for (int ti = 0; ti < n->val.shape[0]; ti++) {
        fprintf(f, "    t=%d: ", ti + 1); mat(f, n->grad.data + (size_t)ti * B * H, B, H, H); fputc('\n', f);
      }
    } else fputc('\n', f);
  }
  /* The embedding table gathers from every use. */
  for (int i = 0; i < g->n; i++) {
    Node *p = g->nodes[i];
    if (p->kind != N_PARAM || !p->grad.data || p->val.rank != 2 || strcmp(p->label, "E")) continue;
    int id = (int)t->w.x->val.data[0], d = p->val.shape[1];
    tag(t, p, TRACE_BWD);
    fprintf(f, "  d%s/dE: the rows of de added at the ids (embedding) plus dlogits^T h (the tied output layer);\n"
               "    row %d (%s) = ", loss->label, id, word(t, id));
    vec(f, p->grad.data + (size_t)id * d, d, 1);
    fputc('\n', f);
  }
}

/* ---- clip, SGD, carry ----------------------------------------------------------------- */

static void sgd(Tr *t) {
  FILE *f = t->f;
  Graph *g = t->m->g;
  const TrainCfg *c = &t->w.cfg;
  section(t, "Clipping and the SGD step", 2);
  Node *E = graph_find(g, "E");
  int id = (int)t->w.x->val.data[0], d = E ? E->val.shape[1] : 0;
  float *before = xmalloc(sizeof(float) * (size_t)(2 * d + 1)), *grad = before + d;
  if (E) { memcpy(before, E->val.data + (size_t)id * d, sizeof(float) * d); memcpy(grad, E->grad.data + (size_t)id * d, sizeof(float) * d); }
  double norm = train_sgd_step(g, c->lr, c->clip);
  double scale = c->clip > 0 && norm > c->clip ? c->clip / (norm + 1e-6) : 1.0;
  fprintf(f, "gradient norm over all parameters (a block's b counted twice: PyTorch's b_ih + b_hh) = %.6g\n", norm);
  if (scale < 1)
    fprintf(f, "clip %g: the norm is larger, so every gradient is scaled by %g/(%.6g + 1e-6) = %.6g; norm after = %.6g\n",
            c->clip, c->clip, norm, scale, norm * scale);
  else fprintf(f, "clip %g: the norm is not larger, the gradients stay as they are; norm after = %.6g\n", c->clip, norm);
  if (E) {
    tag(t, E, TRACE_NOTE);
    fprintf(f, "SGD, lr %g: p <- p - lr * scale * dp.  Row %d (%s) of E:\n  before   ", c->lr, id, word(t, id));
    vec(f, before, d, 1);
    fprintf(f, "\n  gradient "); vec(f, grad, d, 1);
    fprintf(f, "\n  after    "); vec(f, E->val.data + (size_t)id * d, d, 1);
    fprintf(f, "  (= before - %g * %.6g * gradient)\n", c->lr, scale);
  }
  free(before);
}

/* The recurrent node whose state goes on between pieces (the decoder, or the lm's lstm). */
static Node *carried_node(Graph *g) {
  Node *r = NULL;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if ((n->op == OP_LSTM && (n->iattr[2] & 4)) || n->op == OP_ATTN_DEC) r = n;
  }
  return r;
}

/* The final state [h; c] [2,L,B,H] of n's last forward, copied. */
static float *final_state(Node *n, long *len) {
  if (n->op == OP_LSTM) {
    *len = n->aux[0].n;
    float *s = xmalloc(sizeof(float) * (size_t)*len);
    memcpy(s, n->aux[0].data, sizeof(float) * (size_t)*len);
    return s;
  }
  AttnTape tp;
  const AttnDec *d = attn_dec_last(n, &tp);
  size_t lbh = (size_t)d->L * d->B * d->H;
  *len = (long)(2 * lbh);
  float *s = xmalloc(sizeof(float) * 2 * lbh);
  memcpy(s, d->hN, sizeof(float) * lbh);
  memcpy(s + lbh, d->cN, sizeof(float) * lbh);
  return s;
}
/* The initial state [h0; c0] of n's last forward (pointers, per layer l). */
static void initial_state(Node *n, int l, const float **h0, const float **c0) {
  if (n->op == OP_LSTM) {
    const LstmRun *r = seqop_lstm_run(n, NULL);
    size_t BH = (size_t)r->B * r->H;
    *h0 = r->h + (size_t)l * (r->T + 1) * BH; *c0 = r->c + (size_t)l * (r->T + 1) * BH;
    return;
  }
  AttnTape tp;
  const AttnDec *d = attn_dec_last(n, &tp);
  size_t BH = (size_t)d->B * d->H;
  *h0 = d->h0 + l * BH; *c0 = d->c0 + l * BH;
}

static void show_pair(Tr *t, Node *n, const float *fin, int L, int B, int H, const char *a, const char *b) {
  size_t BH = (size_t)B * H;
  for (int l = 0; l < L; l++) {
    const float *h0, *c0;
    initial_state(n, l, &h0, &c0);
    fprintf(t->f, "  layer %d %s: h = ", l + 1, a); mat(t->f, fin + l * BH, B, H, H);
    fprintf(t->f, "  c = "); mat(t->f, fin + (size_t)L * BH + l * BH, B, H, H);
    fprintf(t->f, "\n  layer %d %s: h = ", l + 1, b); mat(t->f, h0, B, H, H);
    fprintf(t->f, "  c = "); mat(t->f, c0, B, H, H); fputc('\n', t->f);
  }
}

static int carry(Tr *t, Node *dec, const float *fin) {
  FILE *f = t->f;
  Graph *g = t->m->g;
  int L = dec->iattr[0];
  int B = t->b.B, H = dec->val.shape[2];
  Batch b;
  section(t, "The carry", 3);
  tag(t, dec, TRACE_NOTE);
  int more = train_walk_next(&t->w, &b);
  if (!more || (t->w.bundles && b.first)) {
    fprintf(f, "(the traced piece is the only piece%s: nothing is carried)\n", t->w.bundles ? " of its bundle" : "");
  } else {
    if (graph_forward(g, &t->w.ex)) return -1;
    fprintf(f, "The next piece (rows %d.. of the %s) starts from this piece's final state, taken as a\n"
               "constant: the new graph begins at h_0, c_0, so the backward of piece 2 stops there (detached);\n"
               "it never reaches back into piece 1, whose activations are gone.  The same numbers:\n",
            t->w.cfg.bptt + 1, t->w.stream ? "stream" : "bundle's target");
    show_pair(t, dec, fin, L, B, H, "final state of piece 1", "initial state of piece 2");
    if (dec->op == OP_ATTN_DEC) {
      AttnTape tp;
      const AttnDec *d = attn_dec_last(dec, &tp);
      fprintf(f, "  and h~_0 of piece 2 = "); mat(f, d->feed0, B, H, H);
      fprintf(f, " = the last h~ of piece 1\n");
    }
  }
  if (t->w.stream) {
    fprintf(f, "At the start of each epoch the state starts again from zeros.  [question 4] A translation\n"
               "bundle instead starts fresh from its own source (models/cond_lm.g, models/attn_lm.g).\n");
    return 0;
  }
  section(t, "A new bundle starts fresh", 4);
  tag(t, dec, TRACE_NOTE);
  while (more && !b.first) more = train_walk_next(&t->w, &b);
  if (!more) { fprintf(f, "(there is only one bundle)\n"); return 0; }
  long n1; float *prev = final_state(dec, &n1);
  if (graph_forward(g, &t->w.ex)) { free(prev); return -1; }
  Node *enc = NULL;
  for (int i = 0; i < g->n; i++) if (g->nodes[i]->op == OP_LSTM && init_user(t, g->nodes[i]) == dec) enc = g->nodes[i];
  fprintf(f, "Bundle %ld holds other sentences: nothing of bundle %ld's decoder state belongs to them.  Its first\n"
             "piece starts the decoder from the encoder's final state of its own sources%s, so\n"
             "no state crosses from one bundle to the next and a bundle needs no carry from the one before;\n"
             "bptt only cuts a long target within the bundle.\n", t->w.bundles->bundle + 1, t->w.bundles->bundle,
          dec->op == OP_ATTN_DEC ? " (and h~_0 = 0)" : "");
  B = b.B;
  if (enc && B == t->b.B) {
    size_t BH = (size_t)B * H;
    for (int l = 0; l < L; l++) {
      const float *h0, *c0;
      initial_state(dec, l, &h0, &c0);
      fprintf(f, "  layer %d decoder's h after piece 2 of bundle 1: ", l + 1); mat(f, prev + l * BH, B, H, H);
      fprintf(f, "\n  layer %d encoder's final h, bundle 2:          ", l + 1); mat(f, enc->aux[0].data + l * BH, B, H, H);
      fprintf(f, "\n  layer %d decoder's h_0, bundle 2:              ", l + 1); mat(f, h0, B, H, H);
      fputc('\n', f);
    }
  }
  free(prev);
  return 0;
}

/* ---- entry points ------------------------------------------------------------------------ */

static int too_big(Tr *t, Err *e) {
  int H = 0;
  for (int i = 0; i < t->m->nblocks; i++) {
    const Block *b = &t->m->blocks[i];
    int w = b->heads ? b->in : b->hidden;    /* a transformer's width d (its FFN is wider) */
    if (w > H) H = w;
  }
  const TrainCfg *c = &t->w.cfg;
  if (H <= TR_MAXH && c->batch <= TR_MAXB && c->bptt <= TR_MAXT) return 0;
  return err_set(e, "%s: error: %s shows every number of a training step, and at hidden size %d, batch %d, bptt %d "
                 "that is far too many to read; make the model small: --set d=4 --batch 2 --bptt 4 "
                 "(at most hidden %d, batch %d, bptt %d)", t->m->path, t->flag, H, c->batch, c->bptt, TR_MAXH, TR_MAXB, TR_MAXT);
}

static void tr_free(Tr *t) {
  for (int k = 0; k < t->nrec; k++) free(t->rec[k].buf);
  free(t->rec);
  free(t->src);
  train_walk_close(&t->w);
}

/* The traced step; json: the --json dump to that file instead. */
static int run(Tr *t, const TrainCfg *c, FILE *json, Err *e) {
  Model *m = t->m;
  if (train_walk_open(&t->w, m, c, e)) return -1;
  if (!json && too_big(t, e)) return -1;
  if (!train_walk_next(&t->w, &t->b)) return err_set(e, "%s: error: no training piece", m->data->train.file);
  if (json) {
    if (graph_forward(m->g, &t->w.ex) || graph_backward(m->g, t->w.loss, &t->w.ex)) return -1;
    json_print(json, m, 1);
    return 0;
  }
  FILE *f = t->f;
  fprintf(f, "One training step of %s, exactly as --train takes its first step\n"
             "(lr %g, clip %g, batch %d, bptt %d, seed %lu; dropout as the file says)\n",
          m->path, c->lr, c->clip, c->batch, c->bptt, c->seed);
  Err ignore = {0};
  size_t len;
  t->src = read_file(m->path, &len, &ignore);
  fprintf(f, "parameters:");
  for (int i = 0; i < m->g->n; i++) {
    Node *n = m->g->nodes[i];
    char sh[64];
    if (n->kind == N_PARAM) fprintf(f, " %s %s", n->label, shape_str(&n->val, sh, sizeof sh));
  }
  fputc('\n', f);
  if (t->w.stream) data_stream(t); else data_bundle(t);
  t->w.ex.bptt = (BpttHook){ on_step, t, NULL };
  if (graph_forward(m->g, &t->w.ex)) return -1;
  forward(t);
  Node *dec = carried_node(m->g);
  long nfin = 0;
  float *fin = dec ? final_state(dec, &nfin) : NULL;
  if (graph_backward(m->g, t->w.loss, &t->w.ex)) { free(fin); return -1; }
  t->w.ex.bptt.fn = NULL;
  backward(t);
  sgd(t);
  int rc = dec ? carry(t, dec, fin) : 0;
  free(fin);
  return rc;
}

/* Contract in show.h. */
int trace_seq_lines(Model *m, const TrainCfg *c, const char *flag, TraceSink sink, void *ctx, Err *e) {
  Tr t;
  memset(&t, 0, sizeof t);
  t.m = m; t.flag = flag; t.sink = sink; t.ctx = ctx; t.ph = TRACE_NOTE;
  t.f = open_memstream(&t.buf, &t.len);
  if (!t.f) { perror("graphrun: open_memstream"); exit(1); }
  int rc = run(&t, c, NULL, e);
  tag(&t, NULL, TRACE_HEAD);         /* what was written before an error goes out too */
  fclose(t.f);
  free(t.buf);
  tr_free(&t);
  return rc;
}

/* Contract in show.h. */
int trace_seq(FILE *f, Model *m, const TrainCfg *c, int json, Err *e) {
  if (!json) return trace_seq_lines(m, c, "--trace", trace_to_file, f, e);
  Tr t;
  memset(&t, 0, sizeof t);
  t.m = m;
  int rc = run(&t, c, f, e);
  tr_free(&t);
  return rc;
}
