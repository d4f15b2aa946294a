/*
** test_decode.c — decode.c: --show-attention, --attention-svg, --translate
** (greedy, beam, BLEU) on the tiny corpora.  The tiny attn and cond models
** are trained once (graphrun --train --save) before the tests run.
*/
#include "testutil.h"
#include "decode.h"
#include "train.h"
#include "checkpoint.h"
#include "ops_attn.h"

#define ATTN_G "tests/data/tiny_attn_lm.g"
#define COND_G "tests/data/tiny_cond_lm.g"
#define SRC_VALID "tests/data/tiny-src-valid.txt"
#define TGT_VALID "tests/data/tiny-valid.txt"

static char ck_attn[64], ck_cond[64];

static void train_to(const char *model, char *ck) {
  snprintf(ck, 64, "/tmp/gr_dec_%d_%s.ckpt", (int)getpid(), strstr(model, "attn") ? "attn" : "cond");
  char args[256];
  snprintf(args, sizeof args, "%s --train --epochs 20 --quiet --save %s", model, ck);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s", r.err);
  tu_free(&r);
}
static void setup(void) { train_to(ATTN_G, ck_attn); train_to(COND_G, ck_cond); }
static void teardown(void) { unlink(ck_attn); unlink(ck_cond); }

static Model *load(const char *g, const char *ck, Decoder *d) {
  Err e = {0};
  Model *m = model_load(g, &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  ck_assert_msg(ckpt_load(m, ck, NULL, &e) == 0, "%s", e.msg);
  ck_assert_msg(decoder_init(d, m, &e) == 0, "%s", e.msg);
  return m;
}

static TuRun runf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static TuRun runf(const char *fmt, ...) {
  char args[1024];
  va_list ap; va_start(ap, fmt); vsnprintf(args, sizeof args, fmt, ap); va_end(ap);
  return tu_run(args);
}

static int count(const char *s, const char *sub) {
  int k = 0;
  for (const char *p = s; (p = strstr(p, sub)); p += strlen(sub)) k++;
  return k;
}

/* Splits s at sep into at most max malloc'ed pieces. */
static int split(const char *s, size_t len, const char *sep, char **out, int max) {
  int n = 0;
  const char *end = s + len;
  while (n < max) {
    const char *p = strstr(s, sep);
    if (!p || p > end) p = end;
    out[n++] = strndup(s, (size_t)(p - s));
    if (p == end) break;
    s = p + strlen(sep);
  }
  return n;
}

/* ---- --show-attention ---------------------------------------------------------- */

/* One step line "[w/0.1, ...], [p, ...], word": source words and weights,
** the prefix, the prediction.  Returns the number of source words. */
static int parse_step(const char *line, char **sw, double *w, int *np, char **prefix, char **pred) {
  ck_assert_msg(line[0] == '[', "%s", line);
  const char *a = strstr(line, "], [");
  ck_assert_msg(a != NULL, "%s", line);
  const char *b = strstr(a + 4, "], ");
  ck_assert_msg(b != NULL, "%s", line);
  int S = split(line + 1, (size_t)(a - line - 1), ", ", sw, 64);
  for (int s = 0; s < S; s++) {
    char *slash = strrchr(sw[s], '/');
    ck_assert_msg(slash != NULL, "%s", line);
    *slash = 0;
    char *end;
    w[s] = strtod(slash + 1, &end);
    ck_assert_msg(*end == 0 && end > slash + 1, "weight in %s", line);
  }
  *np = split(a + 4, (size_t)(b - a - 4), ", ", prefix, 128);
  *pred = strdup(b + 3);
  ck_assert_msg(**pred && !strchr(*pred, ' '), "prediction in %s", line);
  return S;
}

START_TEST(show_attention_format) {
  TuRun r = runf("%s --load %s --show-attention --sentences 1,3", ATTN_G, ck_attn);
  ck_assert_msg(r.status == 0, "%s", r.err);
  char *lines[512];
  int nl = split(r.out, strlen(r.out), "\n", lines, 512), blocks = 0;
  for (int i = 0; i < nl; i++) {
    if (strncmp(lines[i], "# sentence ", 11)) continue;
    blocks++;
    char *src[64], *ref[64];
    const char *colon = strstr(lines[i], ": ");
    ck_assert_msg(colon && i + 1 < nl && !strncmp(lines[i + 1], "# reference: ", 13), "%s", lines[i]);
    int S = split(colon + 2, strlen(colon + 2), " ", src, 64);
    int n = split(lines[i + 1] + 13, strlen(lines[i + 1] + 13), " ", ref, 64);
    int t = 0;
    for (int j = i + 2; j < nl && lines[j][0] == '['; j++, t++) {
      char *sw[64], *prefix[128], *pred;
      double w[64];
      int np, s2 = parse_step(lines[j], sw, w, &np, prefix, &pred);
      ck_assert_int_eq(s2, S);
      double sum = 0;
      for (int s = 0; s < S; s++) {
        ck_assert_str_eq(sw[s], src[s]);
        ck_assert_msg(w[s] >= 0 && w[s] <= 1, "%s", lines[j]);
        sum += w[s];
        free(sw[s]);
      }
      TU_CLOSE(sum, 1.0, 0.0005 * S + 1e-9);   /* printed with 3 decimals */
      ck_assert_int_eq(np, t + 1);             /* <sos> and the reference so far */
      ck_assert_str_eq(prefix[0], "<sos>");
      for (int k = 1; k < np; k++) ck_assert_str_eq(prefix[k], ref[k - 1]);
      for (int k = 0; k < np; k++) free(prefix[k]);
      free(pred);
    }
    ck_assert_int_eq(t, n + 1);                /* one step per word and one for <eos> */
    for (int k = 0; k < S; k++) free(src[k]);
    for (int k = 0; k < n; k++) free(ref[k]);
  }
  ck_assert_int_eq(blocks, 2);
  ck_assert_msg(strstr(r.out, "# sentence 1 of " SRC_VALID ":") && strstr(r.out, "# sentence 3 of " SRC_VALID ":"), "%s", r.out);
  for (int i = 0; i < nl; i++) free(lines[i]);
  tu_free(&r);
}
END_TEST

/* Two sentences of different source lengths as one padded batch: each
** step's weights sum to 1 over the real words and are exactly 0 on the
** padding, and both rows equal the sentences run alone. */
START_TEST(weights_zero_on_padding) {
  Decoder d;
  Model *m = load(ATTN_G, ck_attn, &d);
  Err e = {0};
  const Sents *ss = &m->data->src_valid, *ts = &m->data->valid;
  int a = 0, b = 1;
  int Sa = (int)(ss->off[a + 1] - ss->off[a]);
  while (b + 1 < ss->n && ss->off[b + 1] - ss->off[b] == Sa) b++;   /* a sentence of another length */
  int Sb = (int)(ss->off[b + 1] - ss->off[b]);
  int Ta = (int)(ts->off[a + 1] - ts->off[a]) + 1, Tb = (int)(ts->off[b + 1] - ts->off[b]) + 1;
  ck_assert_int_ne(Sa, Sb);
  int Ts = Sa > Sb ? Sa : Sb, T = Ta > Tb ? Ta : Tb, V = d.V;
  int32_t src[128] = {0}, x[128] = {0}, len[2] = { Sa, Sb };
  for (int s = 0; s < Sa; s++) src[s * 2] = ss->ids[ss->off[a] + s];
  for (int s = 0; s < Sb; s++) src[s * 2 + 1] = ss->ids[ss->off[b] + s];
  x[0] = x[1] = CORPUS_SOS;
  for (int t = 1; t < Ta; t++) x[t * 2] = ts->ids[ts->off[a] + t - 1];
  for (int t = 1; t < Tb; t++) x[t * 2 + 1] = ts->ids[ts->off[b] + t - 1];
  ck_assert_msg(decoder_forward(&d, Ts, 2, src, len, T, x, 0, &e) == 0, "%s", e.msg);
  int wT, wB, wS;
  const float *w = attn_dec_weights(d.attn, &wT, &wB, &wS);
  ck_assert(w && wT == T && wB == 2 && wS == Ts);
  float *wb = malloc(sizeof(float) * T * 2 * Ts), *zb = malloc(sizeof(float) * T * 2 * V);
  memcpy(wb, w, sizeof(float) * T * 2 * Ts);
  memcpy(zb, d.logits->val.data, sizeof(float) * T * 2 * V);
  for (int t = 0; t < T; t++)
    for (int r = 0; r < 2; r++) {
      double sum = 0;
      for (int s = 0; s < Ts; s++) {
        float v = wb[(t * 2 + r) * Ts + s];
        if (s < len[r]) sum += v; else ck_assert_msg(v == 0.0f, "weight %g on padding (t %d row %d s %d)", v, t, r, s);
      }
      TU_CLOSE(sum, 1.0, 1e-5);
    }
  for (int r = 0; r < 2; r++) {                    /* each alone */
    int S = len[r], Tr = r ? Tb : Ta;
    int32_t s1[64], x1[64], l1 = S;
    for (int s = 0; s < S; s++) s1[s] = src[s * 2 + r];
    for (int t = 0; t < Tr; t++) x1[t] = x[t * 2 + r];
    ck_assert_msg(decoder_forward(&d, S, 1, s1, &l1, Tr, x1, 0, &e) == 0, "%s", e.msg);
    const float *w1 = attn_dec_weights(d.attn, NULL, NULL, NULL);
    for (int t = 0; t < Tr; t++) {
      for (int s = 0; s < S; s++) TU_CLOSE(w1[t * S + s], wb[(t * 2 + r) * Ts + s], 1e-5);
      for (int v = 0; v < V; v++) TU_CLOSE(d.logits->val.data[t * V + v], zb[(t * 2 + r) * V + v], 1e-4);
    }
  }
  free(wb); free(zb);
  model_free(m);
}
END_TEST

/* ---- --attention-svg --------------------------------------------------------------- */

/* Minimal XML check: tags nest and close, text has no raw '<' or '&'
** outside entities.  Returns NULL or what is wrong. */
static const char *xml_ok(const char *s) {
  static char why[128];
  const char *stack[64]; size_t slen[64]; int depth = 0;
  while (*s) {
    if (*s == '&') {
      if (strncmp(s, "&lt;", 4) && strncmp(s, "&gt;", 4) && strncmp(s, "&amp;", 5) && strncmp(s, "&quot;", 6) && strncmp(s, "&apos;", 6))
        return "raw '&'";
      s++;
      continue;
    }
    if (*s != '<') { if (*s == '>') return "raw '>'"; s++; continue; }
    const char *end = strchr(s, '>');
    if (!end) return "unclosed tag";
    for (const char *q = s + 1; q < end; q++) if (*q == '<') return "'<' inside a tag";
    if (s[1] == '/') {
      size_t n = (size_t)(end - s - 2);
      if (!depth || slen[depth - 1] != n || strncmp(stack[depth - 1], s + 2, n)) {
        snprintf(why, sizeof why, "mismatched close tag at '%.20s'", s);
        return why;
      }
      depth--;
    } else if (end[-1] != '/') {
      size_t n = strcspn(s + 1, " \t\n>");
      if (depth == 64) return "too deep";
      stack[depth] = s + 1; slen[depth++] = n;
    }
    s = end + 1;
  }
  return depth ? "unclosed element" : NULL;
}

START_TEST(svg_well_formed) {
  ck_assert_ptr_null(xml_ok("<svg><rect/><text>a &lt;b&gt;</text></svg>"));   /* the checker itself */
  ck_assert_ptr_nonnull(xml_ok("<svg><text>a <b></text></svg>"));
  ck_assert_ptr_nonnull(xml_ok("<svg><g></svg>"));
  char svg[64];
  snprintf(svg, sizeof svg, "/tmp/gr_dec_%d.svg", (int)getpid());
  TuRun r = runf("%s --load %s --show-attention --sentences 2 --attention-svg %s", ATTN_G, ck_attn, svg);
  ck_assert_msg(r.status == 0, "%s", r.err);
  char *doc = tu_slurp(svg);
  unlink(svg);
  ck_assert_msg(!strncmp(doc, "<svg", 4), "%.80s", doc);
  const char *bad = xml_ok(doc);
  ck_assert_msg(bad == NULL, "%s", bad);
  /* sentence 2: S source words, T = reference words + 1 rows */
  FILE *f = fopen(SRC_VALID, "r"); char l1[256], l2[256];
  ck_assert(f && fgets(l1, sizeof l1, f) && fgets(l2, sizeof l2, f)); fclose(f);
  int S = 0; for (char *p = strtok(l2, " \n"); p; p = strtok(NULL, " \n")) S++;
  f = fopen(TGT_VALID, "r");
  ck_assert(f && fgets(l1, sizeof l1, f) && fgets(l2, sizeof l2, f)); fclose(f);
  int T = 1; for (char *p = strtok(l2, " \n"); p; p = strtok(NULL, " \n")) T++;
  ck_assert_int_eq(count(doc, "<rect"), S * T);
  ck_assert_msg(strstr(doc, "&lt;eos&gt;") && !strstr(doc, "<eos>"), "the last row is <eos>, escaped");
  /* cell k's title is the weight --show-attention printed for it */
  const char *p = doc;
  for (const char *line = strchr(r.out, '\n'); line; line = strchr(line + 1, '\n')) {
    if (line[1] != '[') continue;
    const char *a = line + 1, *end = strstr(a, "], [");
    for (const char *q = strchr(a, '/'); q && q < end; q = strchr(q + 1, '/')) {
      p = strstr(p, "<rect");
      ck_assert(p != NULL);
      const char *title = strstr(p, "<title>");
      ck_assert(title != NULL);
      TU_CLOSE(strtod(title + 7, NULL), strtod(q + 1, NULL), 1e-9);
      p++;
    }
  }
  free(doc);
  tu_free(&r);
}
END_TEST

/* ---- decoding ------------------------------------------------------------------- */

static void sentence(const Model *m, long i, int32_t *src, int *S) {
  const Sents *ss = &m->data->src_valid;
  *S = (int)(ss->off[i + 1] - ss->off[i]);
  memcpy(src, ss->ids + ss->off[i], sizeof(int32_t) * *S);
}

/* Step-by-step greedy decoding (T = 1, carried state) gives the same
** distributions as one teacher-forced forward over the decoded prefix. */
START_TEST(greedy_equals_teacher_forcing) {
  Decoder d;
  Model *m = load(_i ? COND_G : ATTN_G, _i ? ck_cond : ck_attn, &d);
  Err e = {0};
  int V = d.V, total = 0;
  for (long i = 0; i < m->data->src_valid.n; i++) {
    int32_t src[64], out[200], x[201];
    int S, n, steps;
    sentence(m, i, src, &S);
    int maxlen = decode_maxlen(S);
    float *p = malloc(sizeof(float) * maxlen * V);
    ck_assert_msg(decode_greedy(&d, src, S, maxlen, out, &n, &steps, p, &e) == 0, "%s", e.msg);
    ck_assert(steps == n || steps == n + 1);
    ck_assert(n <= maxlen);
    x[0] = CORPUS_SOS;
    memcpy(x + 1, out, sizeof(int32_t) * (steps - 1));
    int32_t len = S;
    ck_assert_msg(decoder_forward(&d, S, 1, src, &len, steps, x, 0, &e) == 0, "%s", e.msg);
    for (int t = 0; t < steps; t++) {
      const float *z = d.logits->val.data + (size_t)t * V;
      double mx = z[0], s = 0;
      for (int v = 1; v < V; v++) if (z[v] > mx) mx = z[v];
      for (int v = 0; v < V; v++) s += exp(z[v] - mx);
      for (int v = 0; v < V; v++) TU_CLOSE(p[(size_t)t * V + v], exp(z[v] - mx) / s, 1e-5);
      int chosen = t < n ? out[t] : CORPUS_EOS;
      for (int v = 0; v < V; v++)          /* the decoder took the most probable token */
        if (v != CORPUS_PAD && v != CORPUS_SOS) ck_assert(z[v] <= z[chosen]);
    }
    total += steps;
    free(p);
  }
  ck_assert_int_gt(total, (int)m->data->src_valid.n);
  model_free(m);
}
END_TEST

START_TEST(beam1_equals_greedy) {
  Decoder d;
  Model *m = load(_i ? COND_G : ATTN_G, _i ? ck_cond : ck_attn, &d);
  Err e = {0};
  for (long i = 0; i < m->data->src_valid.n; i++) {
    int32_t src[64], g[200], b[200];
    int S, ng, nb;
    double sc;
    sentence(m, i, src, &S);
    ck_assert(decode_greedy(&d, src, S, decode_maxlen(S), g, &ng, NULL, NULL, &e) == 0);
    ck_assert(decode_beam(&d, src, S, 1, decode_maxlen(S), b, &nb, &sc, &e) == 0);
    ck_assert_int_eq(ng, nb);
    for (int k = 0; k < ng; k++) ck_assert_int_eq(g[k], b[k]);
  }
  model_free(m);
  const char *g = _i ? COND_G : ATTN_G, *ck = _i ? ck_cond : ck_attn;
  TuRun r1 = runf("%s --load %s --translate " SRC_VALID, g, ck), r2 = runf("%s --load %s --translate " SRC_VALID " --beam 1", g, ck);
  ck_assert_msg(r1.status == 0 && r2.status == 0, "%s%s", r1.err, r2.err);
  ck_assert_int_eq(count(r1.out, "\n"), 8);
  ck_assert_str_eq(r1.out, r2.out);
  tu_free(&r1); tu_free(&r2);
}
END_TEST

/* log p of each token after each prefix of x (teacher forcing), [T][V]. */
static double *forced_logp(Decoder *d, const int32_t *src, int S, const int32_t *x, int T) {
  Err e = {0};
  int32_t len = S;
  ck_assert_msg(decoder_forward(d, S, 1, src, &len, T, x, 0, &e) == 0, "%s", e.msg);
  double *lp = malloc(sizeof(double) * T * d->V);
  for (int t = 0; t < T; t++) {
    const float *z = d->logits->val.data + (size_t)t * d->V;
    double mx = z[0], s = 0;
    for (int v = 1; v < d->V; v++) if (z[v] > mx) mx = z[v];
    for (int v = 0; v < d->V; v++) s += exp(z[v] - mx);
    for (int v = 0; v < d->V; v++) lp[t * d->V + v] = z[v] - mx - log(s);
  }
  return lp;
}

/* A beam wide enough to keep every hypothesis finds the best output of at
** most 2 words by brute force; a narrow beam's score is its output's. */
START_TEST(beam_search_exhaustive) {
  Decoder d;
  Model *m = load(_i ? COND_G : ATTN_G, _i ? ck_cond : ck_attn, &d);
  Err e = {0};
  int V = d.V;
  for (long i = 0; i < m->data->src_valid.n; i++) {
    int32_t src[64], out[200], x[202] = { CORPUS_SOS };
    int S, n;
    double sc;
    sentence(m, i, src, &S);
    ck_assert_msg(decode_beam(&d, src, S, V * V, 2, out, &n, &sc, &e) == 0, "%s", e.msg);
    double *lp0 = forced_logp(&d, src, S, x, 1);
    double best = lp0[CORPUS_EOS];                        /* the empty output */
    int bn = 0, b1 = -1, b2 = -1;
    for (int w1 = 0; w1 < V; w1++) {
      if (w1 == CORPUS_PAD || w1 == CORPUS_SOS || w1 == CORPUS_EOS) continue;
      x[1] = w1;
      double *lp = forced_logp(&d, src, S, x, 2);
      double s1 = (lp[w1] + lp[V + CORPUS_EOS]) / 2;    /* w1 <eos> */
      if (s1 > best) { best = s1; bn = 1; b1 = w1; }
      for (int w2 = 0; w2 < V; w2++) {
        if (w2 == CORPUS_PAD || w2 == CORPUS_SOS || w2 == CORPUS_EOS) continue;
        double s2 = (lp[w1] + lp[V + w2]) / 2;           /* w1 w2, cut at 2 words */
        if (s2 > best) { best = s2; bn = 2; b1 = w1; b2 = w2; }
      }
      free(lp);
    }
    free(lp0);
    TU_CLOSE(sc, best, 1e-5);
    ck_assert_int_eq(n, bn);
    if (bn >= 1) ck_assert_int_eq(out[0], b1);
    if (bn == 2) ck_assert_int_eq(out[1], b2);

    /* K = 3, full length: the reported score is the output's own */
    int maxlen = decode_maxlen(S);
    ck_assert(decode_beam(&d, src, S, 3, maxlen, out, &n, &sc, &e) == 0);
    memcpy(x + 1, out, sizeof(int32_t) * n);
    double *lp = forced_logp(&d, src, S, x, n + 1), sum = 0;
    for (int t = 0; t < n; t++) sum += lp[t * V + out[t]];
    int tokens = n;
    if (n < maxlen) { sum += lp[n * V + CORPUS_EOS]; tokens++; }
    TU_CLOSE(sc, sum / tokens, 1e-4);
    free(lp);
  }
  model_free(m);
}
END_TEST

/* --translate --ref prints (on stderr) what `graphrun bleu` says of the output. */
START_TEST(translate_bleu_matches_bleu_command) {
  const char *g = _i % 2 ? COND_G : ATTN_G, *ck = _i % 2 ? ck_cond : ck_attn;
  TuRun r = runf("%s --load %s --translate " SRC_VALID " --ref " TGT_VALID " %s", g, ck, _i >= 2 ? "--beam 3" : "");
  ck_assert_msg(r.status == 0, "%s", r.err);
  ck_assert_int_eq(count(r.out, "\n"), 8);
  ck_assert_msg(!strncmp(r.err, "BLEU = ", 7) && count(r.err, "\n") == 1, "%s", r.err);
  char *hyp = tu_tmpfile(".txt", r.out, strlen(r.out));
  TuRun b = runf("bleu %s " TGT_VALID, hyp);
  ck_assert_msg(b.status == 0, "%s", b.err);
  ck_assert_str_eq(r.err, b.out);
  unlink(hyp); free(hyp);
  tu_free(&r); tu_free(&b);
}
END_TEST

START_TEST(translate_unknown_words_and_blank_lines) {
  const char text[] = "zebra giraffe okapi\n\nthe cat\r\n  sat";
  char *in = tu_tmpfile(".txt", text, sizeof text - 1);
  TuRun r = runf("%s --load %s --translate %s --beam 2", ATTN_G, ck_attn, in);
  ck_assert_msg(r.status == 0, "%s", r.err);
  ck_assert_int_eq(count(r.out, "\n"), 4);
  ck_assert_msg(strstr(r.out, "\n\n") != NULL && strncmp(r.out, "\n", 1), "%s", r.out);  /* the blank line stays blank */
  tu_free(&r);
  unlink(in); free(in);
}
END_TEST

/* Every failure: exit status, one line on stderr naming the culprit, no crash. */
static void fails(int status, const char *want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fails(int status, const char *want, const char *fmt, ...) {
  char args[1024];
  va_list ap; va_start(ap, fmt); vsnprintf(args, sizeof args, fmt, ap); va_end(ap);
  TuRun r = tu_run(args);
  ck_assert_msg(!r.signaled && r.status == status, "%s: status %d, %s", args, r.status, r.err);
  ck_assert_msg(strstr(r.err, want) && count(r.err, "\n") == 1, "%s: %s", args, r.err);
  tu_free(&r);
}

START_TEST(errors) {
  fails(2, "--translate /nonexistent/in.txt: error: cannot read: No such file", "%s --load %s --translate /nonexistent/in.txt", ATTN_G, ck_attn);
  fails(2, "--ref /nonexistent/ref.txt: error: cannot read: No such file", "%s --load %s --translate " SRC_VALID " --ref /nonexistent/ref.txt", ATTN_G, ck_attn);
  fails(1, "tests/data/tiny-train.txt: error: has 40 lines, " SRC_VALID " has 8", "%s --load %s --translate " SRC_VALID " --ref tests/data/tiny-train.txt", COND_G, ck_cond);
  /* --translate reads files as `graphrun bleu` does: invalid UTF-8 is a located error */
  char *bad = tu_tmpfile(".txt", "the cat\nthe \xff dog\n", 17);
  char want[300]; snprintf(want, sizeof want, "%s:2: error: invalid UTF-8 (byte 0xff at column 5)", bad);
  fails(1, want, "%s --load %s --translate %s", COND_G, ck_cond, bad);
  unlink(bad); free(bad);
  fails(1, "needs an attention decoder", "%s --load %s --show-attention", COND_G, ck_cond);
  fails(1, "needs an attention decoder", "%s --load %s --attention-svg /tmp/x.svg", COND_G, ck_cond);
  fails(2, "--translate applies to translation models", "tests/data/tiny_lm.g --translate " SRC_VALID);
  fails(1, "--sentences: error: sentence 9 is beyond", "%s --load %s --show-attention --sentences 1,9", ATTN_G, ck_attn);
  fails(1, "--sentences: error: expected", "%s --load %s --show-attention --sentences 1,x", ATTN_G, ck_attn);
  fails(1, "--sentences: error: expected", "%s --load %s --show-attention --sentences 0", ATTN_G, ck_attn);
  fails(2, "--attention-svg /nonexistent/a.svg: error: cannot write there", "%s --load %s --attention-svg /nonexistent/a.svg", ATTN_G, ck_attn);
  fails(2, "--ref goes with --translate", "%s --load %s --show-attention --ref " TGT_VALID, ATTN_G, ck_attn);
  fails(2, "--beam goes with --translate", "%s --load %s --beam 2 --show-attention", ATTN_G, ck_attn);
  fails(2, "--beam needs a number", "%s --load %s --translate " SRC_VALID " --beam 0", ATTN_G, ck_attn);
  fails(2, "--sentences goes with", "%s --load %s --translate " SRC_VALID " --sentences 1", ATTN_G, ck_attn);
  /* no --load: allowed, with a warning */
  TuRun r = tu_run(ATTN_G " --translate " SRC_VALID);
  ck_assert_msg(r.status == 0 && strstr(r.err, "warning: no --load") && count(r.out, "\n") == 8, "%s", r.err);
  tu_free(&r);
}
END_TEST

/* After --train the inspection runs on the best (saved) model. */
START_TEST(after_training) {
  char ck[64];
  snprintf(ck, sizeof ck, "/tmp/gr_dec_t%d.ckpt", (int)getpid());
  TuRun r = runf("%s --train --epochs 2 --quiet --save %s --show-attention --sentences 2", ATTN_G, ck);
  ck_assert_msg(r.status == 0, "%s", r.err);
  ck_assert_msg(strstr(r.err, "best valid ppl"), "%s", r.err);
  TuRun l = runf("%s --load %s --show-attention --sentences 2", ATTN_G, ck);
  ck_assert_msg(l.status == 0 && !strcmp(r.out, l.out), "%s\n---\n%s", r.out, l.out);   /* stdout: the data alone */
  unlink(ck);
  tu_free(&r); tu_free(&l);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("decode");
  TCase *t = tcase_create("decode");
  tcase_set_timeout(t, 120);
  tcase_add_unchecked_fixture(t, setup, teardown);
  tcase_add_test(t, show_attention_format);
  tcase_add_test(t, weights_zero_on_padding);
  tcase_add_test(t, svg_well_formed);
  tcase_add_loop_test(t, greedy_equals_teacher_forcing, 0, 2);
  tcase_add_loop_test(t, beam1_equals_greedy, 0, 2);
  tcase_add_loop_test(t, beam_search_exhaustive, 0, 2);
  tcase_add_loop_test(t, translate_bleu_matches_bleu_command, 0, 4);
  tcase_add_test(t, translate_unknown_words_and_blank_lines);
  tcase_add_test(t, errors);
  tcase_add_test(t, after_training);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
