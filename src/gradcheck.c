/*
** gradcheck.c — every gradient against central finite differences.
**
** For each element of each input and param: (f(x+h) - f(x-h)) / 2h, with the
** forward pass in float32, so h is relative to the element's size.  For big
** models, instead, a few random directions v per parameter: the difference
** quotient along v against g . v (float32 noise stays fixed while the
** signal adds up over all elements).  Where a
** perturbation flips which side of 0 a ReLU's input is on, the function has
** a kink there: that element is reported, not failed.
*/
#include "show.h"
#include "ops_seq.h"
#include "ops_tfm.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
  /* Layer norm is scale-invariant: of small activations (embeddings in
  ** +-0.1) the loss curves within a step of 5e-2.  Such models take steps
  ** scaled to each parameter and Richardson extrapolation (below). */
  int curved = 0;
  for (int i = 0; i < g->n; i++) curved |= g->nodes[i]->op == OP_LAYER_NORM || g->nodes[i]->op == OP_TRANSFORMER;
  unsigned long base = relu_signature(g);
  /* keep the analytic gradients: the forward passes below reuse the arena */
  int nleaf = 0;
  for (int i = 0; i < g->n; i++) if (g->nodes[i]->kind == N_INPUT || g->nodes[i]->kind == N_PARAM) nleaf++;
  float **ana = xcalloc(nleaf ? nleaf : 1, sizeof *ana);
  int bad = 0, k = 0;
  fprintf(f, "Gradient check of %s: analytic vs central differences\n", out->label);
  double gmax = 0;              /* the largest gradient anywhere: the floor for "zero" */
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if ((n->kind == N_INPUT || n->kind == N_PARAM) && n->grad.data)
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
    ana[k] = xmalloc(sizeof(float) * (n->val.n ? n->val.n : 1));
    memcpy(ana[k], n->grad.data, sizeof(float) * n->val.n);
    double worst = 0, maxdiff = 0, scale = 1e-3 * gmax; long kinks = 0, worst_at = 0;
    long count = directions ? directions : n->val.n;
    float *x0 = xmalloc(sizeof(float) * (n->val.n ? n->val.n : 1)), *v = NULL;
    memcpy(x0, n->val.data, sizeof(float) * n->val.n);
    if (directions) v = xmalloc(sizeof(float) * n->val.n);
    for (long c = 0; c < count; c++) {
      double h, fp, fm, a = 0, hp, hm;
      unsigned long sp, sm;
      if (directions) {          /* x +- h v along a random +-1 direction v: d f = g . v */
        /* larger than per element (the loss moves more, float noise less),
        ** but at most a quarter of the parameter's typical size: layer norm
        ** of small embeddings curves within a step of 5e-2 */
        double rms = 0;
        for (long j = 0; j < n->val.n; j++) rms += (double)x0[j] * x0[j];
        rms = sqrt(rms / (n->val.n ? n->val.n : 1));
        h = curved && rms > 0 ? fmin(5e-2, rms / 4) : 5e-2;
        for (long j = 0; j < n->val.n; j++) { v[j] = (rng_next(&pick) >> 63) ? 1.f : -1.f; a += (double)ana[k][j] * v[j]; }
        /* Richardson: (4 D(h/2) - D(h)) / 3 cancels the h^2 error of the
        ** central difference D, which a step this large makes visible where
        ** the loss curves fast (layer norm of small activations).  A step
        ** that crosses a ReLU kink is tried again 8 times shorter (a model
        ** with many ReLUs crosses one at almost every full step). */
        double half[2];
        for (int tries = 0; tries < (curved ? 3 : 1); tries++, h /= 8) {
          for (int r = !curved; r < 2; r++) {
            double s = r ? h : h / 2;
            for (long j = 0; j < n->val.n; j++) n->val.data[j] = (float)(x0[j] + s * v[j]);
            if (eval(g, out, &ex, before, &fp, &sp)) goto fail;
            for (long j = 0; j < n->val.n; j++) n->val.data[j] = (float)(x0[j] - s * v[j]);
            if (eval(g, out, &ex, before, &fm, &sm)) goto fail;
            half[r] = (fp - fm) / (2 * s);
            if (sp != base || sm != base) break;
          }
          if (sp == base && sm == base) break;
        }
        fp = curved ? (4 * half[0] - half[1]) / 3 : half[1]; fm = 0;
        hp = hm = 0.5;
        memcpy(n->val.data, x0, sizeof(float) * n->val.n);
      } else {                   /* one element */
        long j = c;
        h = 1e-2 * fmax(1.0, fabs(x0[j]));
        a = ana[k][j];
        n->val.data[j] = (float)(x0[j] + h);
        if (eval(g, out, &ex, before, &fp, &sp)) goto fail;
        n->val.data[j] = (float)(x0[j] - h);
        if (eval(g, out, &ex, before, &fm, &sm)) goto fail;
        hp = (double)(float)(x0[j] + h) - x0[j]; hm = x0[j] - (double)(float)(x0[j] - h);
        n->val.data[j] = x0[j];
      }
      double num = (fp - fm) / (hp + hm);
      if (sp != base || sm != base) { kinks++; continue; }
      scale = fmax(scale, fmax(fabs(a), fabs(num)));
      if (fabs(a - num) > maxdiff) { maxdiff = fabs(a - num); worst_at = c; }
    }
    free(x0); free(v);
    worst = scale > 0 ? maxdiff / scale : 0;
    fprintf(f, "  %-24s max relative error %.2e", lab, worst);
    if (directions) fprintf(f, " (%ld random directions)", count);
    else if (n->val.n > 1 && worst > 0) fprintf(f, " (element %ld)", worst_at);
    if (kinks) fprintf(f, "  [%ld at a ReLU kink: not compared]", kinks);
    fprintf(f, "%s\n", worst > tol ? "  FAIL" : kinks == count ? "  (none compared)" : "  ok");
    if (worst > tol) bad++;
    k++;
  }
  if (before) before(g);
  graph_forward(g, &ex);
  graph_backward(g, out, &ex);
  for (int i = 0; i < k; i++) free(ana[i]);
  free(ana);
  if (bad) fprintf(f, "%d gradient%s disagree beyond %.0e\n", bad, bad == 1 ? "" : "s", tol);
  else fprintf(f, "all gradients agree within %.0e\n", tol);
  return bad ? 1 : 0;
fail:
  for (int i = 0; i <= k && i < nleaf; i++) free(ana[i]);
  free(ana);
  return -1;
}
