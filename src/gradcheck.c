/*
** gradcheck.c — every gradient against central finite differences.
**
** The forward pass runs in float32, so a difference quotient has two errors:
** truncation (curvature: (f(x+h) - f(x-h)) / 2h = f' + h^2 f'''/6 + ...) and
** rounding (each evaluation of f is off by some delta, the quotient by about
** delta / h).  The check removes the first and allows for the second:
**
** - Richardson extrapolation: D(h) and D(h/2) give R = (4 D(h/2) - D(h)) / 3,
**   whose truncation error is O(h^4) (exp(25 w) at h = 0.01: 1e-6, where
**   D(h) alone is 1% off).  h = 1e-2 max(1, |x|) per element, 5e-2 along a
**   random +-1 direction (in a model with layer norm, at most an eighth of
**   the parameter's root mean square).  The analytic side is taken along the step actually
**   made (x + h rounds to a float), so that rounding does not count.
** - A rounding allowance: each op's result carries a float32 rounding error
**   of up to u |value| (u = 2^-24), which reaches the output times the
**   output's derivative with respect to that value, known from the backward
**   pass (the adjoint).  The errors of many values are independent and add
**   as a root sum of squares: delta = GC_SAFETY u sqrt(sum (adjoint value)^2)
**   over the op nodes (a cross-entropy loss, kept in double, is the mean of
**   its rows: divided by their count); GC_SAFETY covers the rounding inside
**   fused ops and long sums.  R is then off by at most 3 delta / h.
** - Where that allowance swamps one element's signal (z = 50 + a^2 at
**   a = 0.0005), steps 10, 100 and 1000 times larger, as long as the
**   allowance (now also how far the estimate moved) keeps shrinking.
**
** An element fails when |analytic - R| > tol scale + allowance, scale being
** the largest gradient magnitude of that leaf (or 1e-3 of the largest
** anywhere, the floor for "zero").  Where a perturbation flips which side of
** 0 a ReLU's input is on, the function has a kink there: that element is
** reported, not failed (a layer-norm model first tries twice more, each
** time 8 times shorter).  A leaf the output does not depend on is reported as
** such.  For big models, instead of every element, a few random directions v
** per parameter: R along v against g . v.  tests/test_gradcheck.c shows every
** op's gradient made 1% wrong (graph_fault) caught.
*/
#include "show.h"
#include "ops_seq.h"
#include "ops_tfm.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GC_U 5.9604644775390625e-8      /* 2^-24: float32 unit roundoff */
#define GC_SAFETY 4.0

/* Bit pattern of every ReLU input's sign, to detect kinks. */
static unsigned long relu_signature(Graph *g) {
  unsigned long h = 1469598103934665603ul;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind == N_OP && n->op == OP_TRANSFORMER) h = tfmop_relu_hash(n, h);
    if (n->kind != N_OP || n->op != OP_RELU) continue;
    for (long j = 0; j < n->in[0]->val.n; j++) h = (h ^ (n->in[0]->val.data[j] > 0)) * 1099511628211ul;
  }
  return h;
}

static int eval(Graph *g, Node *out, Exec *ex, void (*before)(Graph *), double *v, unsigned long *sig) {
  if (before) before(g);
  if (graph_forward(g, ex)) return -1;
  const XentStat *xs = out->op == OP_XENT ? seqop_xent_stat(out) : NULL;
  *v = xs && xs->count ? xs->sum / xs->count : out->val.data[0];    /* the loss in double where kept */
  *sig = relu_signature(g);
  return 0;
}

/* delta above: the rounding error of one evaluation of out, from the
** adjoints of the backward pass just run.  The errors of the many values are
** independent, so they add as a root sum of squares; a loss kept in double
** (cross_entropy) is a mean of count rows, each rounded in float32. */
static double rounding_bound(Graph *g) {
  double s = 0;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind != N_OP || (n->flags & NF_DEAD) || !g->need[i] || !n->grad.data) continue;
    const XentStat *xs = n->op == OP_XENT ? seqop_xent_stat(n) : NULL;
    double t = 0;
    for (long j = 0; j < n->val.n; j++) t += pow((double)n->grad.data[j] * n->val.data[j], 2);
    s += xs && xs->count > 1 ? t / xs->count : t;
  }
  return GC_SAFETY * GC_U * sqrt(s);
}

/* One perturbation: element j of leaf n (v == NULL) or direction v;
** g: the analytic gradient of n. */
typedef struct Probe {
  Graph *g; Node *out, *n; Exec *ex; void (*before)(Graph *);
  const float *x0, *v, *grad; long j; unsigned long base;
} Probe;

/* The central difference at step h into *d, and into *a what the analytic
** gradient predicts for the step actually taken (x0 + h v rounds to floats);
** 1 at a kink, -1 on error. */
static int central(const Probe *p, double h, double *d, double *a) {
  Node *n = p->n;
  double f[2];
  unsigned long sig[2];
  int failed = 0;
  *a = 0;
  for (int s = 0; s < 2; s++) {
    double hs = s ? -h : h, sg = s ? -1 : 1;
    if (p->v)
      for (long k = 0; k < n->val.n; k++) {
        n->val.data[k] = (float)(p->x0[k] + hs * p->v[k]);
        *a += sg * (double)p->grad[k] * ((double)n->val.data[k] - p->x0[k]);
      }
    else {
      n->val.data[p->j] = (float)(p->x0[p->j] + hs);
      *a += sg * (double)p->grad[p->j] * ((double)n->val.data[p->j] - p->x0[p->j]);
    }
    if (eval(p->g, p->out, p->ex, p->before, &f[s], &sig[s])) { failed = 1; break; }
  }
  if (p->v) memcpy(n->val.data, p->x0, sizeof(float) * n->val.n);     /* the value as it was, even on error */
  else n->val.data[p->j] = p->x0[p->j];
  if (failed) return -1;
  *d = (f[0] - f[1]) / (2 * h);
  *a /= 2 * h;
  return sig[0] != p->base || sig[1] != p->base;
}

/* Richardson at step h: the difference quotient into *r, the analytic side
** into *a, the rounding allowance into *allow; 1 at a kink (then D(h/2)
** alone if that has none), -1 on error. */
static int estimate(const Probe *p, double h, double delta, double *r, double *a, double *allow) {
  double d1, d2, a1, a2;
  int k2 = central(p, h / 2, &d2, &a2);
  if (k2) return k2;
  int k1 = central(p, h, &d1, &a1);
  if (k1 < 0) return -1;
  if (k1) { *r = d2; *a = a2; *allow = 2 * delta / h; return 0; }   /* the kink is farther out than h/2 */
  *r = (4 * d2 - d1) / 3;
  *a = (4 * a2 - a1) / 3;
  *allow = 3 * delta / h;
  return 0;
}

int gradcheck(FILE *f, Model *m, Node *out, double tol, Err *e) {
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = e;
  return gradcheck_run(f, m, out, tol, 0, NULL, &ex);
}

int gradcheck_run(FILE *f, Model *m, Node *out, double tol, long directions, void (*before)(Graph *), Exec *exp) {
  Graph *g = m->g;
  Exec ex = *exp;
  Rng pick; rng_seed(&pick, 12345);
  if (before) before(g);
  if (graph_forward(g, &ex) || graph_backward(g, out, &ex)) return -1;
  unsigned long base = relu_signature(g);
  double delta = rounding_bound(g);
  /* Layer norm is scale-invariant: of small activations (embeddings in
  ** +-0.1) the loss curves within a step of 5e-2, beyond what Richardson
  ** removes.  Such models step along directions by at most an eighth of the
  ** parameter's typical size, and retry shorter after a kink (below). */
  int curved = 0;
  for (int i = 0; i < g->n; i++) curved |= g->nodes[i]->kind == N_OP && (g->nodes[i]->op == OP_LAYER_NORM || g->nodes[i]->op == OP_TRANSFORMER);
  /* keep the analytic gradients: the forward passes below reuse the arena */
  int nleaf = 0;
  for (int i = 0; i < g->n; i++) if (g->nodes[i]->kind == N_INPUT || g->nodes[i]->kind == N_PARAM) nleaf++;
  float **ana = xcalloc(nleaf ? nleaf : 1, sizeof *ana);
  int bad = 0, k = 0, rc = -1;
  fprintf(f, "Gradient check of %s: analytic vs central differences (Richardson extrapolation)\n", out->label);
  double gmax = 0;              /* the largest gradient anywhere: the floor for "zero" */
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if ((n->kind == N_INPUT || n->kind == N_PARAM) && n->grad.data && g->need[i])
      for (long j = 0; j < n->val.n; j++) gmax = fmax(gmax, fabs(n->grad.data[j]));
  }
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if ((n->kind != N_INPUT && n->kind != N_PARAM) || (n->flags & NF_NOGRAD)) continue;
    char lab[256];
    snprintf(lab, sizeof lab, "d%s/d%s", out->label, n->label);
    if (!g->need[n->id] || !n->grad.data) {      /* no path from it to the output */
      fprintf(f, "  %-24s does not reach %s: not checked\n", lab, out->label);
      continue;
    }
    long nv = n->val.n ? n->val.n : 1, count = directions ? directions : n->val.n;
    ana[k] = xmalloc(sizeof(float) * nv);
    memcpy(ana[k], n->grad.data, sizeof(float) * n->val.n);
    float *x0 = xmalloc(sizeof(float) * nv), *v = directions ? xmalloc(sizeof(float) * nv) : NULL;
    memcpy(x0, n->val.data, sizeof(float) * n->val.n);
    double *an = xmalloc(sizeof(double) * (count ? count : 1) * 3), *num = an + count, *allow = num + count;
    double scale = 1e-3 * gmax;
    long kinks = 0;
    Probe p = { g, out, n, &ex, before, x0, v, ana[k], 0, base };
    double rms = 0;              /* the parameter's typical size */
    for (long j = 0; j < n->val.n; j++) rms += (double)x0[j] * x0[j];
    rms = sqrt(rms / nv);
    for (long c = 0; c < count; c++) {
      double h;
      if (directions) {          /* x +- h v along a random +-1 direction v: d f = g . v */
        h = 5e-2;                /* larger than per element: the loss moves more, float noise less */
        if (curved && rms > 0) h = fmin(h, rms / 8);
        for (long j = 0; j < n->val.n; j++) v[j] = (rng_next(&pick) >> 63) ? 1.f : -1.f;
      } else {
        p.j = c;
        h = 1e-2 * fmax(1.0, fabs(x0[c]));
      }
      int kink = estimate(&p, h, delta, &num[c], &an[c], &allow[c]);
      /* A layer-norm model with the fused block's many ReLUs crosses a kink
      ** at almost every step: twice more, each 8 times shorter. */
      for (int tries = 0; curved && kink == 1 && tries < 2; tries++) {
        h /= 8;
        kink = estimate(&p, h, delta, &num[c], &an[c], &allow[c]);
      }
      /* One element whose signal rounding swamps: steps 10, 100, 1000 times
      ** larger, while no kink comes in and the allowance shrinks.  At a larger
      ** step the allowance includes how far the estimate moved from the last
      ** one (curvature Richardson left), so it is never laxer than before. */
      for (int grow = 0; !directions && !kink && grow < 3 && allow[c] > tol * fmax(fabs(an[c]), fabs(num[c])); grow++) {
        double r2, a2, al2;
        h *= 10;
        int k2 = estimate(&p, h, delta, &r2, &a2, &al2);
        if (k2 < 0) kink = -1;
        if (k2 || !isfinite(r2)) break;
        al2 += fabs(r2 - num[c]);
        if (al2 >= allow[c]) break;
        num[c] = r2; an[c] = a2; allow[c] = al2;
      }
      if (kink < 0) { free(x0); free(v); free(an); goto out; }
      if (kink) { kinks++; allow[c] = -1; continue; }
      scale = fmax(scale, fmax(fabs(an[c]), fabs(num[c])));
    }
    double worst = 0, worst_round = 0; long worst_at = 0, nbad = 0;
    for (long c = 0; c < count; c++) {
      if (allow[c] < 0) continue;
      double err = scale > 0 ? fabs(an[c] - num[c]) / scale : 0;
      if (err > worst) { worst = err; worst_at = c; }
      worst_round = fmax(worst_round, scale > 0 ? allow[c] / scale : 0);
      if (fabs(an[c] - num[c]) > tol * scale + allow[c]) nbad++;
    }
    free(x0); free(v); free(an);
    fprintf(f, "  %-24s max relative error %.2e", lab, worst);
    if (directions) fprintf(f, " (%ld random directions)", count);
    else if (n->val.n > 1 && worst > 0) fprintf(f, " (element %ld)", worst_at);
    if (worst_round > 1e-2) fprintf(f, "  [float32 limits this check to %.1e]", worst_round);   /* 1% may pass */
    if (kinks) fprintf(f, "  [%ld at a ReLU kink: not compared]", kinks);
    fprintf(f, "%s\n", nbad ? "  FAIL" : kinks == count ? "  (none compared)" : "  ok");
    if (nbad) bad++;
    k++;
  }
  if (before) before(g);
  graph_forward(g, &ex);
  graph_backward(g, out, &ex);
  if (bad) fprintf(f, "%d gradient%s disagree beyond %.0e (plus float32 rounding)\n", bad, bad == 1 ? "" : "s", tol);
  else fprintf(f, "all gradients agree within %.0e (plus float32 rounding)\n", tol);
  rc = bad ? 1 : 0;
out:
  for (int i = 0; i <= k && i < nleaf; i++) free(ana[i]);   /* ana[k]: NULL, or the one a failure left */
  free(ana);
  return rc;
}
