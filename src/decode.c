/*
** decode.c — inspection and decoding of translation models (decode.h).
**
** The model's graph is the only implementation: every function here fills
** the token leaves (x, y, src, src_len), runs graph_forward in eval mode and
** reads the logits (and the attention node's weights).  Step-by-step
** decoding feeds T = 1 pieces and lets the decoder carry its state; the
** encoder simply runs again each step (the same source gives the same
** memory), which keeps the graph untouched at the cost of S encoder steps
** per output word.
*/
#include "decode.h"
#include "ops_seq.h"
#include "ops_attn.h"
#include "ops_tfm.h"
#include "bleu.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- running the graph ---------------------------------------------------- */

int decoder_init(Decoder *d, Model *m, Err *e) {
  memset(d, 0, sizeof *d);
  d->m = m;
  if (!m->data) return err_at(e, (Loc){ m->path, 0, 0 }, "decoding needs a sequence model (a 'data' statement)");
  Node *loss = model_output(m);
  if (!loss || loss->op != OP_XENT)
    return err_at(e, loss ? loss->loc : (Loc){ m->path, 0, 0 }, "decoding needs the output to be cross_entropy(logits, y)");
  Graph *g = m->g;
  d->logits = loss->in[0];
  for (int i = 0; i < g->n && !d->attn; i++) if (g->nodes[i]->op == OP_ATTN_DEC) d->attn = g->nodes[i];
  d->V = m->data->vocab.n;
  return 0;
}

int decoder_forward(Decoder *d, int Ts, int B, const int32_t *src, const int32_t *slen,
                    int T, const int32_t *x, int carry, Err *e) {
  Graph *g = d->m->g;
  ModelData *md = d->m->data;
  if (md->translation) {                             /* a language model has no source */
    model_feed(md, TOK_SRC, 2, Ts, B, src);
    model_feed(md, TOK_SRC_LEN, 1, B, 0, slen);
  }
  model_feed(md, TOK_X, 2, T, B, x);
  model_feed(md, TOK_Y, 2, T, B, NULL);             /* <pad>: nothing scored */
  graph_carry(g, carry);
  d->ex.err = e;
  return graph_forward(g, &d->ex);
}

/* log sum exp of z[0..V) */
static double lse(const float *z, int V) {
  float mx = z[0];
  for (int i = 1; i < V; i++) if (z[i] > mx) mx = z[i];
  double s = 0;
  for (int i = 0; i < V; i++) s += exp((double)z[i] - mx);
  return mx + log(s);
}

int decode_emittable(int v) { return v != CORPUS_PAD && v != CORPUS_SOS; }

/* Most probable emittable token of z[0..V), the lower id on a tie. */
static int argmax_tok(const float *z, int V) {
  int best = -1;
  for (int i = 0; i < V; i++) if (decode_emittable(i) && (best < 0 || z[i] > z[best])) best = i;
  return best;
}

int decode_maxlen(int slen) { return 2 * slen + 10; }

int decode_greedy(Decoder *d, const int32_t *src, int slen, int maxlen,
                  int32_t *out, int *n, int *steps, float *probs, Err *e) {
  int V = d->V, k = 0, t = 0;
  int32_t tok = CORPUS_SOS, len = slen;
  while (k < maxlen) {
    if (decoder_forward(d, slen, 1, src, &len, 1, &tok, t > 0, e)) return -1;
    const float *z = d->logits->val.data;
    if (probs) {
      double l = lse(z, V);
      for (int i = 0; i < V; i++) probs[(size_t)t * V + i] = (float)exp(z[i] - l);
    }
    t++;
    tok = argmax_tok(z, V);
    if (tok == CORPUS_EOS) break;
    out[k++] = tok;
  }
  *n = k;
  if (steps) *steps = t;
  return 0;
}

/* ---- beam search ---------------------------------------------------------- */

typedef struct Cand { int row, tok; double score; } Cand;

static int cand_cmp(const void *a, const void *b) {
  const Cand *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  if (x->row != y->row) return x->row - y->row;
  return x->tok - y->tok;
}

int decode_beam(Decoder *d, const int32_t *src, int slen, int K, int maxlen,
                int32_t *out, int *n, double *score, Err *e) {
  int V = d->V, rc = -1;
  /* K rows: live hypotheses first (nlive of them), the rest copies of row 0
  ** whose results are ignored.  Tokens of row r: tok[r*maxlen ..]. */
  int32_t *srcK = xmalloc(sizeof(int32_t) * (size_t)slen * K), *lenK = xmalloc(sizeof(int32_t) * K);
  int32_t *tok = xcalloc((size_t)K * (maxlen + 1), sizeof(int32_t)), *ntok = xcalloc(K, sizeof(int32_t));
  int32_t *tok2 = xcalloc((size_t)K * (maxlen + 1), sizeof(int32_t)), *ntok2 = xcalloc(K, sizeof(int32_t));
  double *sc = xcalloc(K, sizeof(double)), *sc2 = xcalloc(K, sizeof(double));
  int32_t *xin = xmalloc(sizeof(int32_t) * K), *best = xcalloc(maxlen + 1, sizeof(int32_t));
  int *rows = xmalloc(sizeof(int) * K);
  Cand *c = xmalloc(sizeof(Cand) * (size_t)K * V);
  for (int s = 0; s < slen; s++) for (int b = 0; b < K; b++) srcK[s * K + b] = src[s];
  for (int b = 0; b < K; b++) { lenK[b] = slen; xin[b] = CORPUS_SOS; }
  int nlive = 1, nfin = 0, bestn = 0;
  double bestscore = -INFINITY;
  for (int t = 0; nlive > 0; t++) {
    if (decoder_forward(d, slen, K, srcK, lenK, 1, xin, t > 0, e)) goto out;
    int nc = 0;
    for (int r = 0; r < nlive; r++) {
      const float *z = d->logits->val.data + (size_t)r * V;
      double l = lse(z, V);
      for (int v = 0; v < V; v++)
        if (decode_emittable(v)) c[nc++] = (Cand){ r, v, sc[r] + (z[v] - l) };
    }
    qsort(c, nc, sizeof *c, cand_cmp);
    int keep = K - nfin < nc ? K - nfin : nc, nl = 0;
    for (int i = 0; i < keep; i++) {
      const Cand *ci = &c[i];
      int words = ntok[ci->row] + (ci->tok != CORPUS_EOS);
      if (ci->tok == CORPUS_EOS || words >= maxlen) {      /* leaves the beam */
        nfin++;
        double norm = ci->score / (ntok[ci->row] + 1);
        if (norm > bestscore) {
          bestscore = norm; bestn = words;
          memcpy(best, tok + (size_t)ci->row * (maxlen + 1), sizeof(int32_t) * ntok[ci->row]);
          if (ci->tok != CORPUS_EOS) best[bestn - 1] = ci->tok;
        }
        continue;
      }
      memcpy(tok2 + (size_t)nl * (maxlen + 1), tok + (size_t)ci->row * (maxlen + 1), sizeof(int32_t) * ntok[ci->row]);
      tok2[(size_t)nl * (maxlen + 1) + ntok[ci->row]] = ci->tok;
      ntok2[nl] = words; sc2[nl] = ci->score; rows[nl] = ci->row; xin[nl] = ci->tok;
      nl++;
    }
    for (int r = nl; r < K; r++) { rows[r] = rows[0]; xin[r] = xin[0]; }
    nlive = nl;
    if (!nlive) break;
    graph_reorder(d->m->g, rows, K);
    int32_t *ti = tok; tok = tok2; tok2 = ti;
    ti = ntok; ntok = ntok2; ntok2 = ti;
    double *si = sc; sc = sc2; sc2 = si;
  }
  memcpy(out, best, sizeof(int32_t) * bestn);
  *n = bestn;
  if (score) *score = bestscore;
  rc = 0;
out:
  free(srcK); free(lenK); free(tok); free(ntok); free(tok2); free(ntok2);
  free(sc); free(sc2); free(xin); free(best); free(rows); free(c);
  return rc;
}

/* ---- text ------------------------------------------------------------------ */

/* ---- --show-attention, --attention-svg ---------------------------------------- */

int decode_sentences(const char *s, long max, const char *file, int **out, Err *e) {
  int n = 0, cap = 4;
  *out = xmalloc(sizeof(int) * cap);
  if (!s) {
    for (; n < 3 && n < max; n++) (*out)[n] = n;
    return n;
  }
  const char *p = s;
  for (;;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || (*end && *end != ',') || v < 1) {
      free(*out); *out = NULL;
      return err_set(e, "--sentences: error: expected sentence numbers from 1 like 1,5,9, got '%s'", s);
    }
    if (v > max) {
      free(*out); *out = NULL;
      return err_set(e, "--sentences: error: sentence %ld is beyond the validation data (%s has %ld)", v, file, max);
    }
    if (n == cap) *out = xrealloc(*out, sizeof(int) * (cap *= 2));
    (*out)[n++] = (int)(v - 1);
    if (!*end) break;
    p = end + 1;
  }
  return n;
}

/* Appends printf output to a growing string. */
typedef struct Str { char *p; size_t n, cap; } Str;
static void sputs(Str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sputs(Str *s, const char *fmt, ...) {
  for (;;) {
    va_list ap; va_start(ap, fmt);
    int k = vsnprintf(s->p ? s->p + s->n : NULL, s->p ? s->cap - s->n : 0, fmt, ap);
    va_end(ap);
    if (k >= 0 && s->p && s->n + (size_t)k < s->cap) { s->n += (size_t)k; return; }
    s->cap = (s->cap + (size_t)(k > 0 ? k : 0)) * 2 + 256;
    s->p = xrealloc(s->p, s->cap);
  }
}
/* A word for XML text or an attribute. */
static void sxml(Str *s, const char *w) {
  for (; *w; w++) {
    switch (*w) {
    case '<': sputs(s, "&lt;"); break;
    case '>': sputs(s, "&gt;"); break;
    case '&': sputs(s, "&amp;"); break;
    case '"': sputs(s, "&quot;"); break;
    case '\'': sputs(s, "&apos;"); break;
    default: sputs(s, "%c", *w);
    }
  }
}

char *decode_svg(const char *const *src_words, int S, const char *const *tgt_words, int T,
                 const float *w) {
  const int cell = 30, font = 12;
  int lw = 0, tw = 0;                              /* longest labels, in characters */
  for (int t = 0; t < T; t++) { int k = (int)strlen(tgt_words[t]); if (k > lw) lw = k; }
  for (int s = 0; s < S; s++) { int k = (int)strlen(src_words[s]); if (k > tw) tw = k; }
  if (lw > 24) lw = 24;
  if (tw > 24) tw = 24;
  int left = 16 + lw * 7, top = 16 + tw * 7 + 24, width = left + S * cell + 16, height = top + T * cell + 48;
  if (width < 330) width = 330;                    /* room for the caption */
  Str o = {0};
  sputs(&o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
        "font-family=\"DejaVu Sans Mono, monospace\" font-size=\"%d\">\n", width, height, width, height, font);
  sputs(&o, "<title>attention weights: source words (columns) for each target word (rows)</title>\n");
  sputs(&o, "<text x=\"%d\" y=\"16\" font-weight=\"bold\">source</text>\n", left);
  for (int s = 0; s < S; s++) {                    /* column labels, rotated */
    int x = left + s * cell + cell / 2 + 4, y = top - 6;
    sputs(&o, "<text x=\"%d\" y=\"%d\" transform=\"rotate(-60 %d %d)\">", x, y, x, y);
    sxml(&o, src_words[s]);
    sputs(&o, "</text>\n");
  }
  for (int t = 0; t < T; t++) {
    int y = top + t * cell;
    sputs(&o, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 6, y + cell / 2 + 4);
    sxml(&o, tgt_words[t]);
    sputs(&o, "</text>\n");
    for (int s = 0; s < S; s++) {
      float v = w[(size_t)t * S + s];
      if (!(v >= 0)) v = 0;
      if (v > 1) v = 1;
      int shade = (int)lrintf(255 * (1 - v));      /* white (0) to black (1) */
      sputs(&o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" stroke=\"#ccc\">"
            "<title>%.3f</title></rect>\n", left + s * cell, y, cell, cell, shade, shade, shade, v);
      if (v >= 0.1f)
        sputs(&o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"9\" fill=\"%s\">%.2f</text>\n",
              left + s * cell + cell / 2, y + cell / 2 + 3, v > 0.5f ? "white" : "black", v);
    }
  }
  sputs(&o, "<text x=\"8\" y=\"%d\">rows: the word each step predicts</text>\n", top + T * cell + 20);
  sputs(&o, "<text x=\"8\" y=\"%d\">shade: attention weight (white 0, black 1)</text>\n", top + T * cell + 38);
  sputs(&o, "</svg>\n");
  return o.p;
}

/* Teacher-forced forward of validation sentence i, then its lines of
** `[src/w, ...], [prefix], predicted` on stdout and, if svg, the heat map.
** The weights of step t are row t of the [T,1,S] weights. */
static int show_sentence(Decoder *d, long i, int print, const char *svg, Err *e) {
  ModelData *md = d->m->data;
  const Sents *ss = &md->src_valid, *ts = &md->valid;
  const Vocab *v = &md->vocab;
  const int32_t *src = ss->ids + ss->off[i], *tgt = ts->ids + ts->off[i];
  int S = (int)(ss->off[i + 1] - ss->off[i]), n = (int)(ts->off[i + 1] - ts->off[i]), T = n + 1;
  if (S < 1) return err_set(e, "%s: error: sentence %ld is empty", ss->file, i + 1);
  int32_t *x = xmalloc(sizeof(int32_t) * T), len = S;
  x[0] = CORPUS_SOS;
  memcpy(x + 1, tgt, sizeof(int32_t) * n);
  int rc = -1;
  if (decoder_forward(d, S, 1, src, &len, T, x, 0, e)) goto out;
  int wT, wB, wS;
  const float *w = attn_dec_weights(d->attn, &wT, &wB, &wS);
  if (!w || wT != T || wB != 1 || wS != S) { err_set(e, "error: no attention weights after the forward pass"); goto out; }
  if (print) {
    printf("# sentence %ld of %s:", i + 1, ss->file);
    for (int s = 0; s < S; s++) printf(" %s", corpus_vocab_word(v, src[s]));
    printf("\n# reference:");
    for (int k = 0; k < n; k++) printf(" %s", corpus_vocab_word(v, tgt[k]));
    printf("\n");
    for (int t = 0; t < T; t++) {
      putchar('[');
      for (int s = 0; s < S; s++) printf("%s%s/%.3f", s ? ", " : "", corpus_vocab_word(v, src[s]), w[(size_t)t * S + s]);
      printf("], [");
      for (int k = 0; k <= t; k++) printf("%s%s", k ? ", " : "", corpus_vocab_word(v, x[k]));
      printf("], %s\n", corpus_vocab_word(v, argmax_tok(d->logits->val.data + (size_t)t * d->V, d->V)));
    }
    printf("\n");
  }
  if (svg) {
    const char **sw = xmalloc(sizeof(char *) * S), **tw = xmalloc(sizeof(char *) * T);
    for (int s = 0; s < S; s++) sw[s] = corpus_vocab_word(v, src[s]);
    for (int t = 0; t < T; t++) tw[t] = corpus_vocab_word(v, t < n ? tgt[t] : CORPUS_EOS);
    char *doc = decode_svg(sw, S, tw, T, w);
    int bad = write_file_atomic(svg, doc, strlen(doc), e);
    free(doc); free(sw); free(tw);
    if (bad) goto out;
  }
  rc = 0;
out:
  free(x);
  return rc;
}

static int show_attention(Decoder *d, const DecodeOpts *o, Err *e) {
  ModelData *md = d->m->data;
  if (!d->attn)
    return err_at(e, (Loc){ d->m->path, 0, 0 }, "--%s needs an attention decoder (an attn_lstm block, as in models/attn_lm.g); this model has none",
                  o->show_attention ? "show-attention" : "attention-svg");
  int *idx, k = decode_sentences(o->sentences, md->src_valid.n, md->src_valid.file, &idx, e);
  if (k < 0) return -1;
  int rc = 0;
  if (o->show_attention)
    printf("# each decoder step (teacher forcing on the reference): [source word/attention weight, ...], "
           "[words fed to the decoder so far], the word the model predicts (argmax)\n\n");
  for (int j = 0; j < k && !rc; j++)
    rc = show_sentence(d, idx[j], o->show_attention, j == 0 ? o->svg : NULL, e);
  free(idx);
  return rc;
}

/* ---- --show-attention of a Transformer LM ------------------------------------- */

/* Validation sentence i read as the LM reads the stream: x = <eos> w_1 ..
** w_n (the previous sentence's <eos> starts it), y = w_1 .. w_n <eos>, cut
** at T steps (the positions the model has).  Per step and layer, the word
** each head attends to most, with its weight. */
static int show_lm_sentence(Model *m, Node *tfm, long i, int T, Err *e) {
  ModelData *md = m->data;
  const Sents *ts = &md->valid;
  const Vocab *v = &md->vocab;
  int n = (int)(ts->off[i + 1] - ts->off[i]);
  if (n + 1 < T) T = n + 1;
  int32_t *x = xmalloc(sizeof(int32_t) * T), *y = xmalloc(sizeof(int32_t) * T);
  x[0] = CORPUS_EOS;
  memcpy(x + 1, ts->ids + ts->off[i], sizeof(int32_t) * (T - 1));
  memcpy(y, ts->ids + ts->off[i], sizeof(int32_t) * (T - 1 < n ? T : n));
  if (T == n + 1) y[T - 1] = CORPUS_EOS;
  model_feed(md, TOK_X, 2, T, 1, x);
  model_feed(md, TOK_Y, 2, T, 1, y);
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = e;
  int rc = -1, L = tfm->iattr[0], H = tfm->iattr[1];
  if (graph_forward(m->g, &ex)) goto out;
  printf("# sentence %ld of %s:", i + 1, ts->file);
  for (int k = 0; k < n; k++) printf(" %s", corpus_vocab_word(v, ts->ids[ts->off[i] + k]));
  printf("\n");
  for (int t = 0; t < T; t++) {
    printf("%-12s", corpus_vocab_word(v, x[t]));
    for (int l = 0; l < L; l++) {
      printf(" |");
      for (int h = 0; h < H; h++) {
        int wt;
        const float *w = tfmop_attention(tfm, l, 0, h, &wt);
        if (!w || wt != T) { err_set(e, "error: no attention weights after the forward pass"); goto out; }
        int best = 0;
        for (int s = 1; s <= t; s++) if (w[(size_t)t * T + s] > w[(size_t)t * T + best]) best = s;
        printf(" %s/%.2f", corpus_vocab_word(v, x[best]), w[(size_t)t * T + best]);
      }
    }
    printf("\n");
  }
  printf("\n");
  rc = 0;
out:
  free(x); free(y);
  return rc;
}

static int show_lm_attention(Model *m, const DecodeOpts *o, Err *e) {
  Node *tfm = NULL, *loss = model_output(m);
  for (int i = 0; i < m->g->n && !tfm; i++) if (m->g->nodes[i]->op == OP_TRANSFORMER) tfm = m->g->nodes[i];
  if (!tfm || !loss || loss->op != OP_XENT)
    return err_at(e, (Loc){ m->path, 0, 0 }, "--show-attention needs an attention decoder (attn_lstm, models/attn_lm.g) or a transformer block (models/transformer_lm.g); this model has neither");
  /* as many steps as the positions allow: the table's rows, if there is one */
  int T = 35;
  for (int i = 0; i < m->g->n; i++)
    if (m->g->nodes[i]->op == OP_POSITIONS) T = m->g->nodes[i]->in[0]->val.shape[0];
  int *idx, k = decode_sentences(o->sentences, m->data->valid.n, m->data->valid.file, &idx, e);
  if (k < 0) return -1;
  printf("# each step: the word read, then for each layer (|) the word each head attends to most, with its weight\n\n");
  int rc = 0;
  for (int j = 0; j < k && !rc; j++) rc = show_lm_sentence(m, tfm, idx[j], T, e);
  free(idx);
  return rc;
}

/* ---- --translate ------------------------------------------------------------- */

static int translate(Decoder *d, const DecodeOpts *o, Err *e) {
  BleuText in, ref = {0};
  if (bleu_text_read(&in, o->translate, e)) return -1;
  int rc = -1;
  if (o->ref) {
    if (bleu_text_read(&ref, o->ref, e)) goto out;
    if (ref.nlines != in.nlines) {
      err_set(e, "%s: error: has %zu line%s, %s has %zu", o->ref, ref.nlines, ref.nlines == 1 ? "" : "s", o->translate, in.nlines);
      goto out;
    }
  }
  const Vocab *voc = &d->m->data->vocab;
  /* BLEU: hypothesis and reference words interned in one table of their own */
  Vocab bv = {0};
  char msg[GR_ERRMAX];
  uint32_t *hyp_ids = NULL, *ref_ids = NULL;
  BleuLine *lines = NULL; BleuSent *rs = NULL;
  long *hoff = NULL, nh = 0, hcap = 0;
  if (o->ref) {
    if (corpus_vocab_init(&bv, msg, sizeof msg)) { err_set(e, "%s", msg); goto out; }
    ref_ids = xmalloc(sizeof(uint32_t) * (ref.ntok ? ref.ntok : 1));
    for (size_t j = 0; j < ref.ntok; j++) {
      int32_t id = corpus_vocab_add(&bv, ref.buf + ref.at[j], ref.len[j], msg, sizeof msg);
      if (id < 0) { err_set(e, "%s: %s", o->ref, msg); goto out_bleu; }
      ref_ids[j] = (uint32_t)id;
    }
    hoff = xcalloc(in.nlines + 1, sizeof(long));
  }
  for (size_t i = 0; i < in.nlines; i++) {
    int S = (int)(in.line[i + 1] - in.line[i]), n = 0;
    int32_t *out = NULL;
    if (S > 0) {
      int32_t *src = xmalloc(sizeof(int32_t) * S);
      for (int s = 0; s < S; s++) {
        long j = in.line[i] + s;
        int32_t id = corpus_vocab_find(voc, in.buf + in.at[j], (size_t)in.len[j]);
        src[s] = id < 0 ? CORPUS_UNK : id;
      }
      int maxlen = decode_maxlen(S);
      out = xmalloc(sizeof(int32_t) * maxlen);
      int bad = o->beam > 1 ? decode_beam(d, src, S, (int)o->beam, maxlen, out, &n, NULL, e)
                            : decode_greedy(d, src, S, maxlen, out, &n, NULL, NULL, e);
      free(src);
      if (bad) { free(out); goto out_bleu; }
    }
    for (int k = 0; k < n; k++) printf("%s%s", k ? " " : "", corpus_vocab_word(voc, out[k]));
    putchar('\n');
    if (o->ref) {
      if (nh + n > hcap) { hcap = (nh + n) * 2 + 256; hyp_ids = xrealloc(hyp_ids, sizeof(uint32_t) * hcap); }
      for (int k = 0; k < n; k++) {
        const char *w = corpus_vocab_word(voc, out[k]);
        int32_t id = corpus_vocab_add(&bv, w, strlen(w), msg, sizeof msg);
        if (id < 0) { free(out); err_set(e, "%s", msg); goto out_bleu; }
        hyp_ids[nh++] = (uint32_t)id;
      }
      hoff[i + 1] = nh;
    }
    free(out);
  }
  fflush(stdout);
  if (o->ref) {
    lines = xcalloc(in.nlines ? in.nlines : 1, sizeof *lines);
    rs = xcalloc(in.nlines ? in.nlines : 1, sizeof *rs);
    for (size_t i = 0; i < in.nlines; i++) {
      rs[i] = (BleuSent){ ref_ids + ref.line[i], (size_t)(ref.line[i + 1] - ref.line[i]) };
      lines[i] = (BleuLine){ { hyp_ids ? hyp_ids + hoff[i] : NULL, (size_t)(hoff[i + 1] - hoff[i]) }, &rs[i], 1 };
    }
    BleuScore s;
    if (bleu_corpus(lines, (size_t)in.nlines, &s, e)) goto out_bleu;
    fprintf(stderr, "BLEU = %.4f  p1..p4 = %.4f/%.4f/%.4f/%.4f  BP = %.4f  hyp_len = %lld  ref_len = %lld\n",
            s.bleu, s.prec[0], s.prec[1], s.prec[2], s.prec[3], s.bp, (long long)s.hyp_len, (long long)s.ref_len);
  }
  rc = 0;
out_bleu:
  corpus_vocab_free(&bv);
  free(hyp_ids); free(ref_ids); free(hoff); free(lines); free(rs);
out:
  bleu_text_free(&in); bleu_text_free(&ref);
  return rc;
}

/* ---- entry -------------------------------------------------------------------- */

int decode_wanted(const DecodeOpts *o) { return o->show_attention || o->svg || o->translate; }

int decode_main(Model *m, const DecodeOpts *o, Err *e) {
  Decoder d;
  if (m->data && !m->data->translation) {   /* language models: only a transformer's heads */
    if (o->show_attention && !o->svg && !o->translate) return show_lm_attention(m, o, e);
    return err_at(e, m->data->loc, "decoding needs a translation model (a 'data' statement with src_train and src_valid, as in models/cond_lm.g)");
  }
  if (decoder_init(&d, m, e)) return -1;
  if ((o->show_attention || o->svg) && show_attention(&d, o, e)) return -1;
  if (o->translate && translate(&d, o, e)) return -1;
  return 0;
}
