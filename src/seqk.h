/*
** seqk.h — small fused kernels for sequence models: embedding gather and
** scatter, dropout masks, softmax + cross-entropy.  Plain float arrays,
** row-major; token ids arrive as floats (that is how the graph stores them).
*/
#ifndef GR_SEQK_H
#define GR_SEQK_H
#include "util.h"

/* ---- embedding ---------------------------------------------------------- */

/* out[k,:] = E[ids[k],:] for k < n; E is [V,d], out [n,d].
** An id that is not an integer in [0,V) gives a zero row.
** Returns the number of such bad ids (0 on success). */
long emb_gather(long n, int d, int V, const float *E, const float *ids, float *out);

/* Backward: dE[ids[k],:] += dout[k,:] for k < n, skipping rows whose id is
** pad (pass -1 to skip none) or bad as above. */
void emb_scatter(long n, int d, int V, const float *dout, const float *ids, int pad, float *dE);

/* ---- dropout ------------------------------------------------------------ */

/* Inverted-dropout mask: each of n entries is 0 with probability p, else
** 1/(1-p), one rng_uniform draw per entry.  p <= 0: all 1; p >= 1: all 0. */
void drop_mask(long n, float p, Rng *rng, float *mask);

/* ---- softmax + cross-entropy ---------------------------------------------- */

/* logits [N,V], targets [N] (ids as floats).  Rows whose target is `ignore`
** (pass -1 for none) are not counted.  Computes per row
**   -log softmax(logits)[target] = lse - logit[target]
** with max-subtraction, summed in double.  Writes *sum and *count; lse [N]
** (may be NULL) receives each row's log-sum-exp for xent_bwd.
** Returns the number of bad targets (not an integer in [0,V) and not
** ignore); those rows are treated as ignored. */
long xent_fwd(long N, int V, const float *logits, const float *target, int ignore,
              float *lse, double *sum, long *count);

/* Backward: for each counted row, dlogits[r,:] += scale * (softmax - onehot);
** ignored and bad rows get nothing.  lse as written by xent_fwd, or NULL
** (recomputed). */
void xent_bwd(long N, int V, const float *logits, const float *target, int ignore,
              const float *lse, float scale, float *dlogits);

#endif
