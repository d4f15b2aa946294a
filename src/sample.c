/*
** sample.c — sampling sentences from a sequence model (sample.h).
**
** The model's own graph does every step, through decode.c's Decoder: the
** start token and the prompt go in as one piece, then one word at a time
** with the state carried.  For a translation model the encoder runs again
** at each step over the same source, as greedy decoding does.  A model that
** carries no state (a Transformer LM) reads the last window of words again
** at every step, as many as it has positions, and draws from the logits of
** the last one.
*/
#include "sample.h"
#include "decode.h"
#include "ops.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* z[a] ranks above z[b]: larger, or equal with the lower id. */
static int above(const float *z, int a, int b) { return z[a] > z[b] || (z[a] == z[b] && a < b); }

/* Min-heap on rank: h[0] is the lowest-ranked of the n kept. */
static void sift_down(const float *z, int *h, int n, int i) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && above(z, h[m], h[l])) m = l;
    if (r < n && above(z, h[m], h[r])) m = r;
    if (m == i) return;
    int t = h[i]; h[i] = h[m]; h[m] = t;
    i = m;
  }
}
static int int_cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int sample_pick(const float *z, int V, double temperature, int top_k, double u, int *scratch) {
  int n = 0, k = top_k > 0 ? top_k : V;
  for (int i = 0; i < V; i++) {
    if (!decode_emittable(i)) continue;
    if (n < k) {                                  /* fill, then heapify once full */
      scratch[n++] = i;
      if (n == k && k < V) for (int j = n / 2 - 1; j >= 0; j--) sift_down(z, scratch, n, j);
    } else if (above(z, i, scratch[0])) {
      scratch[0] = i;
      sift_down(z, scratch, n, 0);
    }
  }
  qsort(scratch, (size_t)n, sizeof *scratch, int_cmp);
  float mx = z[scratch[0]];
  for (int j = 1; j < n; j++) if (z[scratch[j]] > mx) mx = z[scratch[j]];
  double tot = 0;
  for (int j = 0; j < n; j++) tot += exp(((double)z[scratch[j]] - mx) / temperature);
  double want = u * tot, acc = 0;
  for (int j = 0; j < n; j++) {
    acc += exp(((double)z[scratch[j]] - mx) / temperature);
    if (acc > want) return scratch[j];
  }
  return scratch[n - 1];
}

/* The prompt's words as ids (words not in the vocabulary read as <unk>,
** with a note).  *n = count; malloc'ed.  NULL with a message if it names a
** special token other than <unk>. */
static int32_t *prompt_ids(const char *p, const Vocab *v, int *n, Err *e) {
  int32_t *ids = xmalloc(sizeof(int32_t) * (strlen(p) / 2 + 1));
  *n = 0;
  while (*p) {
    size_t len = strcspn(p, " \t\r\n");
    if (len) {
      int32_t id = corpus_vocab_find(v, p, len);
      if (id < 0) {
        fprintf(stderr, "graphrun: note: --prompt: '%.*s' is not in the vocabulary; read as <unk>\n", (int)len, p);
        id = CORPUS_UNK;
      } else if (id < CORPUS_NSPECIAL && id != CORPUS_UNK) {
        free(ids);
        err_set(e, "--prompt: error: '%.*s' is a special token, not a word", (int)len, p);
        return NULL;
      }
      ids[(*n)++] = id;
    }
    p += len;
    p += strspn(p, " \t\r\n");
  }
  return ids;
}

/* Words a model without recurrent state reads at each step: the rows of
** its positions table (positions(P, x)), else its bptt.  0 for a model that
** carries state, which reads one word a step. */
static int window_of(const Model *m) {
  const Graph *g = m->g;
  int w = m->train.bptt;
  for (int i = 0; i < g->n; i++) {
    if (gr_ops[g->nodes[i]->op].carry) return 0;
    if (g->nodes[i]->op == OP_POSITIONS) w = g->nodes[i]->in[0]->val.shape[0];
  }
  return w > 0 ? w : 1;
}

/* One sentence after x[0..np] (the start token and the prompt): its words
** on stdout.  hist has room for np + 1 + max_len + 1 words (window models).
** *cut = 1 when max_len words came without <eos>. */
static int one_sentence(Decoder *d, int window, const int32_t *src, int32_t slen, const int32_t *x, int np,
                        const SampleOpts *o, int max_len, Rng *r, int *scratch, int32_t *hist, int *cut, Err *e) {
  const Vocab *v = &d->m->data->vocab;
  int V = d->V, n = np + 1, T = window && n > window ? window : n;
  double temp = o->temperature > 0 ? o->temperature : 1;
  memcpy(hist, x, sizeof(int32_t) * (size_t)n);
  if (decoder_forward(d, slen, 1, src, &slen, T, hist + n - T, 0, e)) return -1;
  const float *z = d->logits->val.data + (size_t)(T - 1) * V;     /* the last step's row */
  for (int j = 0; j < np; j++) printf("%s%s", j ? " " : "", corpus_vocab_word(v, x[j + 1]));
  *cut = 0;
  for (int k = 0; ; k++) {
    int32_t tok = sample_pick(z, V, temp, (int)o->top_k, rng_uniform(r), scratch);
    if (tok == CORPUS_EOS) break;
    if (k == max_len) { *cut = 1; break; }
    printf("%s%s", np + k ? " " : "", corpus_vocab_word(v, tok));
    hist[n++] = tok;
    if (window) {                                 /* no state: the last window again */
      T = n > window ? window : n;
      if (decoder_forward(d, slen, 1, src, &slen, T, hist + n - T, 0, e)) return -1;
      z = d->logits->val.data + (size_t)(T - 1) * V;
    } else {
      if (decoder_forward(d, slen, 1, src, &slen, 1, &tok, 1, e)) return -1;
      z = d->logits->val.data;
    }
  }
  putchar('\n');
  return 0;
}

int sample_main(Model *m, const SampleOpts *o, Err *e) {
  Decoder d;
  if (decoder_init(&d, m, e)) return -1;
  const ModelData *md = m->data;
  int max_len = o->max_len > 0 ? (int)o->max_len : SAMPLE_MAX_LEN, np = 0, nsrc = 1, rc = -1, *idx = NULL;
  int32_t *prompt = prompt_ids(o->prompt ? o->prompt : "", &md->vocab, &np, e);
  if (!prompt) return -1;
  if (md->translation && (nsrc = decode_sentences(o->sentences, md->src_valid.n, md->src_valid.file, &idx, e)) < 0) {
    free(prompt);
    return -1;
  }
  int32_t *x = xmalloc(sizeof(int32_t) * (size_t)(np + 1));
  x[0] = md->translation ? CORPUS_SOS : CORPUS_EOS;
  memcpy(x + 1, prompt, sizeof(int32_t) * (size_t)np);
  int *scratch = xmalloc(sizeof(int) * (size_t)d.V), window = window_of(m);
  int32_t *hist = xmalloc(sizeof(int32_t) * ((size_t)np + (size_t)max_len + 2));
  Rng r; rng_seed(&r, o->seed);
  long done = 0;
  for (int j = 0; j < nsrc; j++) {
    const int32_t *src = NULL;
    int32_t slen = 0;
    if (md->translation) {
      const Sents *ss = &md->src_valid;
      src = ss->ids + ss->off[idx[j]];
      slen = (int32_t)(ss->off[idx[j] + 1] - ss->off[idx[j]]);
      if (slen < 1) { err_set(e, "%s: error: sentence %d is empty", ss->file, idx[j] + 1); goto out; }
      printf("# sentence %d of %s:", idx[j] + 1, ss->file);
      for (int s = 0; s < slen; s++) printf(" %s", corpus_vocab_word(&md->vocab, src[s]));
      putchar('\n');
    }
    for (long s = 0; s < o->count; s++) {
      int cut;
      if (one_sentence(&d, window, src, slen, x, np, o, max_len, &r, scratch, hist, &cut, e)) goto out;
      done++;
      if (cut) fprintf(stderr, "graphrun: note: sample %ld stopped at --max-len %d words, before <eos>\n", done, max_len);
    }
  }
  rc = 0;
out:
  free(prompt); free(idx); free(x); free(scratch); free(hist);
  return rc;
}
