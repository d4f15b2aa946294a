/*
** seqk.c — embedding gather/scatter, dropout masks and fused softmax +
** cross-entropy (contracts in seqk.h).  Each kernel is one pass over its
** rows; nothing allocates.
*/
#include <math.h>
#include <string.h>
#include "seqk.h"
#include "par.h"
#include <stdatomic.h>

/* The token id v stands for, or -1 if v is not an integer in [0,V). */
static inline int tok_id(float v, int V) {
  if (!(v >= 0.0f && v < (float)V)) return -1;   /* also rejects NaN */
  int id = (int)v;
  return (float)id == v ? id : -1;
}

/* ---- embedding ---------------------------------------------------------- */

long seqk_emb_gather(long n, int d, int V, const float *E, const float *ids, float *out) {
  long bad = 0;
  for (long k = 0; k < n; k++) {
    int id = tok_id(ids[k], V);
    float *o = out + (size_t)k * d;
    if (id < 0) { memset(o, 0, sizeof(float) * (size_t)d); bad++; continue; }
    memcpy(o, E + (size_t)id * d, sizeof(float) * (size_t)d);
  }
  return bad;
}

void seqk_emb_scatter(long n, int d, int V, const float *dout, const float *ids, int pad, float *dE) {
  for (long k = 0; k < n; k++) {
    int id = tok_id(ids[k], V);
    if (id < 0 || id == pad) continue;
    float *g = dE + (size_t)id * d;
    const float *s = dout + (size_t)k * d;
    for (int j = 0; j < d; j++) g[j] += s[j];
  }
}

/* ---- dropout ------------------------------------------------------------ */

/* A mask is the serial stream's draws in order.  Long masks are cut into
** pieces of C = SEQK_DROP_CHUNK draws; a thread that fills pieces [lo, hi)
** starts from the caller's state advanced by lo * C draws (rng_advance, a
** few hundred ns) and runs the plain loop, so the entries and the end state
** are exactly the serial loop's, whatever the thread count. */

typedef struct DropJob { Rng start, end; long n; float p, keep; float *mask; } DropJob;

/* One mask entry: 0 with probability p, else keep. */
static inline float drop_draw(Rng *rng, float p, float keep) { return rng_uniform(rng) < p ? 0.0f : keep; }
static void drop_serial(Rng *rng, long lo, long hi, float p, float keep, float *mask) {
  for (long k = lo; k < hi; k++) mask[k] = drop_draw(rng, p, keep);
}
/* Draws [lo, hi) with rng at draw lo, leaving it at draw hi.  Each draw
** waits for the one before (about 4 cycles of shifts and XORs), so a long
** run is cut into four equal parts, each from its own rng_advance'd state,
** filled side by side: four chains in flight instead of one.  The last part
** takes the remainder and ends where the serial loop would. */
#define DROP_LANES_MIN 2048        /* draws per part; at 2048 the four already win (8,192 draws, one
                                      thread: 5.7 against 7.0 us); shorter runs were not timed */
static void drop_run(Rng *rng, long lo, long hi, float p, float keep, float *mask) {
  long q = (hi - lo) / 4;
  if (q < DROP_LANES_MIN) { drop_serial(rng, lo, hi, p, keep, mask); return; }
  Rng r0 = *rng, r1 = r0, r2, r3;
  rng_advance(&r1, (uint64_t)q);
  r2 = r1; rng_advance(&r2, (uint64_t)q);
  r3 = r2; rng_advance(&r3, (uint64_t)q);
  float *m0 = mask + lo, *m1 = m0 + q, *m2 = m1 + q, *m3 = m2 + q;
  for (long k = 0; k < q; k++) {
    m0[k] = drop_draw(&r0, p, keep);
    m1[k] = drop_draw(&r1, p, keep);
    m2[k] = drop_draw(&r2, p, keep);
    m3[k] = drop_draw(&r3, p, keep);
  }
  drop_serial(&r3, lo + 4 * q, hi, p, keep, mask);
  *rng = r3;
}
static void drop_part(void *ctx, long lo, long hi) {
  DropJob *d = ctx;
  Rng r = d->start;
  rng_advance(&r, (uint64_t)lo * SEQK_DROP_CHUNK);
  long end = hi * SEQK_DROP_CHUNK < d->n ? hi * SEQK_DROP_CHUNK : d->n;
  drop_run(&r, lo * SEQK_DROP_CHUNK, end, d->p, d->keep, d->mask);
  if (end == d->n) d->end = r;          /* the last piece: where the serial loop ends */
}

void seqk_drop_mask(long n, float p, Rng *rng, float *mask) {
  if (p <= 0.0f) { for (long k = 0; k < n; k++) mask[k] = 1.0f; return; }
  if (p >= 1.0f) { memset(mask, 0, sizeof(float) * (size_t)n); return; }
  float keep = 1.0f / (1.0f - p);
  if (n < 2 * SEQK_DROP_CHUNK) { drop_run(rng, 0, n, p, keep, mask); return; }
  DropJob d = { .start = *rng, .n = n, .p = p, .keep = keep, .mask = mask };
  par_for((n + SEQK_DROP_CHUNK - 1) / SEQK_DROP_CHUNK, 1, drop_part, &d);
  *rng = d.end;
}

typedef struct Ew { int op; const float *x, *m, *a; float *y; } Ew;
static void ew_part(void *ctx, long lo, long hi) {
  const Ew *e = ctx;
  const float *x = e->x, *restrict m = e->m, *restrict a = e->a;
  float *y = e->y;                 /* SEQK_MASK may work in place: no restrict on x, y */
  switch (e->op) {
  case SEQK_RESID:
    if (m) for (long i = lo; i < hi; i++) y[i] = x[i] + m[i] * a[i];
    else for (long i = lo; i < hi; i++) y[i] = x[i] + a[i];
    break;
  case SEQK_MASK:
    if (m) for (long i = lo; i < hi; i++) y[i] = m[i] * x[i];
    else if (y != x) memcpy(y + lo, x + lo, sizeof(float) * (size_t)(hi - lo));
    break;
  case SEQK_RELU:     for (long i = lo; i < hi; i++) y[i] = y[i] > 0 ? y[i] : 0; break;
  case SEQK_RELU_BWD: for (long i = lo; i < hi; i++) y[i] = x[i] > 0 ? y[i] : 0; break;
  case SEQK_ADD:      for (long i = lo; i < hi; i++) y[i] += x[i]; break;
  }
}
void seqk_ew(int op, long n, const float *x, const float *m, const float *a, float *y) {
  Ew e = { op, x, m, a, y };
  par_for(n, 1L << 14, ew_part, &e);
}

/* ---- softmax + cross-entropy ---------------------------------------------- */

/* Elementwise loops run on chunks of CH lanes (fixed trip count, local
** arrays) so that they vectorize at plain -O2. */
#define CH 16

/* Float compares stop the vectorizer (they may trap), so the row max works
** on integer keys that order like the floats: the bits themselves for
** x >= 0, the magnitude bits flipped for x < 0. */
static inline int32_t fkey(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return (int32_t)(u ^ ((0u - (u >> 31)) >> 1));
}
static inline float fkey_inv(int32_t k) {
  uint32_t u = (uint32_t)k;
  u ^= (0u - (u >> 31)) >> 1;
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* log(sum_j exp(x_j)) of one row, with the max subtracted first; max and
** sum are kept in CH lanes. */
SEQK_CLONES static float row_lse(int V, const float *x) {
  int32_t mk[CH];
  for (int k = 0; k < CH; k++) mk[k] = fkey(x[0]);
  int j = 0;
  for (; j + CH <= V; j += CH)
    for (int k = 0; k < CH; k++) { int32_t v = fkey(x[j + k]); mk[k] = v > mk[k] ? v : mk[k]; }
  for (; j < V; j++) { int32_t v = fkey(x[j]); mk[0] = v > mk[0] ? v : mk[0]; }
  for (int k = 1; k < CH; k++) mk[0] = mk[k] > mk[0] ? mk[k] : mk[0];
  float m = fkey_inv(mk[0]);
  float acc[CH] = {0};
  for (j = 0; j + CH <= V; j += CH)
    for (int k = 0; k < CH; k++) acc[k] += seqk_expf(x[j + k] - m);
  float s = 0.0f;
  for (; j < V; j++) s += seqk_expf(x[j] - m);
  for (int k = 0; k < CH; k++) s += acc[k];
  return m + logf(s);
}

/* Target of row r: its id, -1 if ignored, -2 if bad. */
static inline int xent_target(float t, int V, int ignore) {
  if (ignore >= 0 && t == (float)ignore) return -1;
  int id = tok_id(t, V);
  return id < 0 ? -2 : id;
}

/* Rows are independent: the row kernels run over blocks of rows on the
** thread pool (par.h), blocks of about XENT_GRAIN logits. */
#define XENT_GRAIN 16384L
typedef struct XentJob {
  int V, ignore;
  const float *logits, *target, *lse;
  float *lse_out, scale, *dlogits;
} XentJob;
static long xent_rows_grain(int V) { return V >= XENT_GRAIN ? 1 : XENT_GRAIN / V; }

static void xent_lse_rows(void *ctx, long lo, long hi) {
  const XentJob *j = ctx;
  for (long r = lo; r < hi; r++)
    j->lse_out[r] = xent_target(j->target[r], j->V, j->ignore) < 0 ? 0.0f
                    : row_lse(j->V, j->logits + (size_t)r * j->V);
}

long seqk_xent_fwd(long N, int V, const float *logits, const float *target, int ignore,
              float *lse, double *sum, long *count) {
  if (lse) {                       /* the costly part in parallel, the sum in row order */
    XentJob j = { V, ignore, logits, target, NULL, lse, 0.0f, NULL };
    par_for(N, xent_rows_grain(V), xent_lse_rows, &j);
  }
  double s = 0.0;
  long cnt = 0, bad = 0;
  for (long r = 0; r < N; r++) {
    const float *x = logits + (size_t)r * V;
    int id = xent_target(target[r], V, ignore);
    if (id == -2) bad++;
    if (id < 0) continue;
    float l = lse ? lse[r] : row_lse(V, x);
    s += (double)l - (double)x[id];
    cnt++;
  }
  *sum = s;
  *count = cnt;
  return bad;
}

/* g += scale * softmax(x) for one row; restrict parameters are what lets GCC
** vectorize it (it ignores restrict on local pointers). */
SEQK_CLONES static void xent_row_bwd(int V, const float *restrict x, float l, float scale,
                                     float *restrict g) {
  int j = 0;
  for (; j + CH <= V; j += CH)
    for (int k = 0; k < CH; k++) g[j + k] += scale * seqk_expf(x[j + k] - l);
  for (; j < V; j++) g[j] += scale * seqk_expf(x[j] - l);
}

static void xent_bwd_rows(void *ctx, long lo, long hi) {
  const XentJob *J = ctx;
  for (long r = lo; r < hi; r++) {
    int id = xent_target(J->target[r], J->V, J->ignore);
    if (id < 0) continue;
    const float *x = J->logits + (size_t)r * J->V;
    float *g = J->dlogits + (size_t)r * J->V;
    xent_row_bwd(J->V, x, J->lse ? J->lse[r] : row_lse(J->V, x), J->scale, g);
    g[id] -= J->scale;
  }
}

void seqk_xent_bwd(long N, int V, const float *logits, const float *target, int ignore,
              const float *lse, float scale, float *dlogits) {
  XentJob j = { V, ignore, logits, target, lse, NULL, scale, dlogits };
  par_for(N, xent_rows_grain(V), xent_bwd_rows, &j);
}

/* ---- the output product inside the loss ------------------------------------ */

typedef struct XmmJob { XentMM *m; float scale; float *dA, *scratch; } XmmJob;

static void xmm_gather(void *ctx, long lo, long hi) {
  const XentMM *m = ((XmmJob *)ctx)->m;
  for (long i = lo; i < hi; i++)
    memcpy(m->Ac + (size_t)i * m->K, m->A + (size_t)m->rows[i] * m->K, sizeof(float) * (size_t)m->K);
}

static void xmm_lse(void *ctx, long lo, long hi) {
  const XentMM *m = ((XmmJob *)ctx)->m;
  for (long i = lo; i < hi; i++) m->lse[i] = row_lse(m->V, m->L + (size_t)i * m->V);
}

double seqk_xentmm_fwd(XentMM *m) {
  XmmJob j = { m, 0.0f, NULL, NULL };
  m->gscale = 0.0f;
  if (!m->n) return 0.0;
  if (m->rows) par_for(m->n, xent_rows_grain(m->K > 0 ? m->K : 1), xmm_gather, &j);
  else m->Ac = (float *)m->A;
  /* With a bias, the logits' rows start as it and the product adds to them
  ** (no second pass over them): b + dot, the same sum as the unfused
  ** graph's dot + b while the sum fits one of OpenBLAS's blocks of K. */
  if (m->b) par_gemm_bias(0, m->tw, (int)m->n, m->V, m->K, m->Ac, m->K, m->W, m->tw ? m->K : m->V, m->b, m->L, m->V);
  else par_gemm(0, m->tw, (int)m->n, m->V, m->K, 1.0f, m->Ac, m->K, m->W, m->tw ? m->K : m->V, 0.0f, m->L, m->V);
  par_for(m->n, xent_rows_grain(m->V), xmm_lse, &j);
  double s = 0.0;                  /* in row order: the same sum on any thread count */
  for (long i = 0; i < m->n; i++) s += (double)m->lse[i] - (double)m->L[(size_t)i * m->V + m->id[i]];
  return s;
}

/* L's rows become scale * (softmax - onehot). */
SEQK_CLONES static void row_grad(int V, float l, float scale, float *restrict x) {
  int j = 0;
  for (; j + CH <= V; j += CH)
    for (int k = 0; k < CH; k++) x[j + k] = scale * seqk_expf(x[j + k] - l);
  for (; j < V; j++) x[j] = scale * seqk_expf(x[j] - l);
}
static void xmm_grad(void *ctx, long lo, long hi) {
  const XmmJob *J = ctx;
  const XentMM *m = J->m;
  for (long i = lo; i < hi; i++) {
    float *x = m->L + (size_t)i * m->V;
    row_grad(m->V, m->lse[i], J->scale, x);
    x[m->id[i]] -= J->scale;
  }
}
static void xmm_scatter(void *ctx, long lo, long hi) {
  const XmmJob *J = ctx;
  const XentMM *m = J->m;
  for (long i = lo; i < hi; i++) {
    float *d = J->dA + (size_t)m->rows[i] * m->K;
    const float *s = J->scratch + (size_t)i * m->K;
    for (int k = 0; k < m->K; k++) d[k] += s[k];
  }
}

void seqk_xentmm_bwd(XentMM *m, float scale, float *dA, float *dW, float *db, float *scratch) {
  XmmJob j = { m, scale, dA, scratch };
  long n = m->n;
  int K = m->K, V = m->V, tw = m->tw;
  if (!n) return;
  if (!m->gscale) {                /* a second backward of the same forward (the trainer's search */
    par_for(n, xent_rows_grain(V), xmm_grad, &j);   /* for a NaN) has the same scale: L is it already */
    m->gscale = scale;
  }
  if (dA && !m->rows) par_gemm(0, !tw, (int)n, K, V, 1.0f, m->L, V, m->W, tw ? K : V, 1.0f, dA, K);
  else if (dA) {
    par_gemm(0, !tw, (int)n, K, V, 1.0f, m->L, V, m->W, tw ? K : V, 0.0f, scratch, K);
    par_for(n, xent_rows_grain(K > 0 ? K : 1), xmm_scatter, &j);
  }
  if (dW && tw) par_gemm(1, 0, V, K, (int)n, 1.0f, m->L, V, m->Ac, K, 1.0f, dW, K);
  else if (dW) par_gemm(1, 0, K, V, (int)n, 1.0f, m->Ac, K, m->L, V, 1.0f, dW, V);
  if (db) par_colsum(m->L, n, V, db);
}

/* ---- sum of squares (the gradient norm) ------------------------------------- */

/* One chain of double additions is bound by the adder's latency; CH
** independent lanes vectorize. */
SEQK_CLONES double seqk_sumsq(const float *x, long n) {
  double acc[CH] = {0};
  long j = 0;
  for (; j + CH <= n; j += CH)
    for (int k = 0; k < CH; k++) acc[k] += (double)x[j + k] * (double)x[j + k];
  for (int k = 0; j < n; j++, k++) acc[k] += (double)x[j] * (double)x[j];
  double s = 0;
  for (int k = 0; k < CH; k++) s += acc[k];
  return s;
}

/* ---- finite check ------------------------------------------------------- */

/* A float is NaN or +-inf when its exponent bits are all ones, i.e. when its
** bits without the sign are at least 0x7f800000: an integer maximum, which
** vectorizes (a float compare in a loop does not at -O2). */
SEQK_CLONES static uint32_t absbits_max(const float *x, long n) {
  uint32_t mk[CH] = {0};
  long j = 0;
  for (; j + CH <= n; j += CH)
    for (int k = 0; k < CH; k++) {
      uint32_t u;
      memcpy(&u, x + j + k, sizeof u);
      u &= 0x7fffffffu;
      mk[k] = u > mk[k] ? u : mk[k];
    }
  for (; j < n; j++) {
    uint32_t u;
    memcpy(&u, x + j, sizeof u);
    u &= 0x7fffffffu;
    mk[0] = u > mk[0] ? u : mk[0];
  }
  for (int k = 1; k < CH; k++) mk[0] = mk[k] > mk[0] ? mk[k] : mk[0];
  return mk[0];
}

typedef struct FiniteJob { const float *x; atomic_int bad; } FiniteJob;
static void finite_part(void *ctx, long lo, long hi) {
  FiniteJob *j = ctx;
  if (absbits_max(j->x + lo, hi - lo) >= 0x7f800000u) atomic_store_explicit(&j->bad, 1, memory_order_relaxed);
}

int seqk_all_finite(const float *x, long n) {
  FiniteJob j = { x, 0 };
  par_for(n, 65536, finite_part, &j);
  return !atomic_load(&j.bad);
}
