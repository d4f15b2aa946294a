/*
** seqk.h — small fused kernels for sequence models: embedding gather and
** scatter, dropout masks, softmax + cross-entropy.  Plain float arrays,
** row-major; token ids arrive as floats (that is how the graph stores them).
*/
#ifndef GR_SEQK_H
#define GR_SEQK_H
#include <stdint.h>
#include <string.h>
#include "util.h"

/* ---- vectorizable exp ------------------------------------------------------ */

/* Hot elementwise kernels are compiled three times, for AVX-512, AVX2 and
** the baseline, and the loader picks one for the CPU (GCC/Clang
** target_clones, x86-64 with ifunc; -DGR_NO_CLONES turns it off).  Results are the same bit for bit: no FMA contraction in C11
** mode, and the same operations in every lane.  Elsewhere: one plain copy. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && !defined(GR_NO_CLONES)
#define SEQK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SEQK_CLONES
#endif

/* e^x within 2 ulp for |x| <= 88; |x| beyond is treated as 88 (so e^-100
** gives 0, e^100 gives 1.65e38); NaN and +-inf give NaN (a blown-up value
** stays visibly non-finite).  Branch-free, so loops calling it vectorize at
** plain -O2: x = n ln2 + r with n the nearest integer to x log2(e) (rounded
** by adding 1.5*2^23, which leaves n in the low mantissa bits), e^r by a
** polynomial on |r| <= ln2/2, 2^n built from n's bits.  The clamp works on
** the bits because a float compare would stop the vectorizer (it may trap). */
static inline float seqk_expf(float x) {
  uint32_t ux;
  memcpy(&ux, &x, sizeof ux);
  int32_t ax = (int32_t)(ux & 0x7fffffffu);
  ax = ax < 0x42B00000 ? ax : 0x42B00000;              /* 88.0f */
  uint32_t uc = (uint32_t)ax | (ux & 0x80000000u);
  float xc;
  memcpy(&xc, &uc, sizeof xc);
  float t = xc * 1.44269504088896341f + 12582912.0f;
  float n = t - 12582912.0f;
  float r = xc - n * 0.693359375f;                     /* ln2 split in two for exactness */
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  uint32_t u;
  memcpy(&u, &t, sizeof u);
  u = (u - 0x4B400000u + 127u) << 23;                  /* n + 127 in the exponent field */
  float s;
  memcpy(&s, &u, sizeof s);
  return y * s + (x - x);                              /* x - x: 0, or NaN for NaN/inf */
}
/* 1/(1+e^-x) and tanh x = 2 sigmoid(2x) - 1 (absolute error ~1e-7). */
static inline float seqk_sigmf(float x) { return 1.0f / (1.0f + seqk_expf(-x)); }
static inline float seqk_tanhf(float x) { return 2.0f / (1.0f + seqk_expf(-2.0f * x)) - 1.0f; }

/* ---- embedding ---------------------------------------------------------- */

/* out[k,:] = E[ids[k],:] for k < n; E is [V,d], out [n,d].
** An id that is not an integer in [0,V) gives a zero row.
** Returns the number of such bad ids (0 on success). */
long seqk_emb_gather(long n, int d, int V, const float *E, const float *ids, float *out);

/* Backward: dE[ids[k],:] += dout[k,:] for k < n, skipping rows whose id is
** pad (pass -1 to skip none) or bad as above. */
void seqk_emb_scatter(long n, int d, int V, const float *dout, const float *ids, int pad, float *dE);

/* ---- dropout ------------------------------------------------------------ */

/* Inverted-dropout mask: each of n entries is 0 with probability p, else
** 1/(1-p): entry k is 0 iff the k-th rng_uniform draw is < p, and *rng
** ends n draws on, exactly as the plain serial loop leaves both (long masks
** are filled over the pool, see par.h).  p <= 0: all 1; p >= 1: all 0;
** neither draws. */
void seqk_drop_mask(long n, float p, Rng *rng, float *mask);

/* ---- elementwise passes ----------------------------------------------------- */

/* One pass over n floats, split over the pool (m NULL: no dropout mask,
** i.e. all 1):  SEQK_RESID y = x + m a;  SEQK_MASK y = m x (y may be x);
** SEQK_RELU y = max(y, 0);  SEQK_RELU_BWD y = x > 0 ? y : 0;  SEQK_ADD y += x. */
enum { SEQK_RESID, SEQK_MASK, SEQK_RELU, SEQK_RELU_BWD, SEQK_ADD };
void seqk_ew(int op, long n, const float *x, const float *m, const float *a, float *y);
/* Draws per piece; masks shorter than two pieces are filled serially. */
#define SEQK_DROP_CHUNK 4096

/* ---- softmax + cross-entropy ---------------------------------------------- */

/* logits [N,V], targets [N] (ids as floats).  Rows whose target is `ignore`
** (pass -1 for none) are not counted.  Computes per row
**   -log softmax(logits)[target] = lse - logit[target]
** with max-subtraction, summed in double.  Writes *sum and *count; lse [N]
** (may be NULL) receives each row's log-sum-exp for seqk_xent_bwd.
** Returns the number of bad targets (not an integer in [0,V) and not
** ignore); those rows are treated as ignored. */
long seqk_xent_fwd(long N, int V, const float *logits, const float *target, int ignore,
              float *lse, double *sum, long *count);

/* Backward: for each counted row, dlogits[r,:] += scale * (softmax - onehot);
** ignored and bad rows get nothing.  lse as written by seqk_xent_fwd, or NULL
** (recomputed). */
void seqk_xent_bwd(long N, int V, const float *logits, const float *target, int ignore,
              const float *lse, float scale, float *dlogits);

/* cross_entropy(A @ W + b, targets) with the product computed here, on the
** counted rows only: the output layer fused into its loss (ops_seq.c's
** XENT when ops_fuse marked its logits lazy).  A [N,K]; W [V,K] read
** transposed when tw (`@ transpose(E)`), else [K,V]; b [V] or NULL.  The
** caller fills the first block and the buffers ([n] ids and rows, [n,K] Ac
** when n < N, [n,V] L, [n] lse); rows is NULL when every row counts (then Ac
** may be A).  Forward leaves the logits in L, backward turns them into
** their gradient in place (gscale: 0 until then, then the scale); a second
** backward of the same forward, whose scale is the same, reuses it. */
typedef struct XentMM {
  long N; int K, V, tw;
  const float *A, *W, *b;
  long n;              /* counted rows */
  const int *id;       /* [n] their target classes */
  const int *rows;     /* [n] their row numbers in A, or NULL: all N, in order */
  float *Ac;           /* [n,K] their rows of A (gathered by the forward) */
  float *L, *lse;      /* [n,V] logits, [n] their log-sum-exps */
  float gscale;        /* L holds gscale * (softmax - onehot); 0: still the logits */
} XentMM;

/* Logits, log-sum-exps and the sum of -log p over the counted rows. */
double seqk_xentmm_fwd(XentMM *m);
/* Adds scale * the gradient into dA [N,K], dW (W's shape) and db [V]
** (each may be NULL).  dA's uncounted rows get nothing; when rows is set,
** dA's share goes through scratch [n,K]. */
void seqk_xentmm_bwd(XentMM *m, float scale, float *dA, float *dW, float *db, float *scratch);

/* The sum of x[i]^2 over [0, n), in double: 16 lanes, each summing every
** 16th square in order, then the lanes in order (one thread).  The squares
** of floats are exact in double, so every clone gives the same value. */
double seqk_sumsq(const float *x, long n);

/* 1 if none of x[0..n) is NaN or +-inf (split over the thread pool). */
int seqk_all_finite(const float *x, long n);

#endif
