/*
** gradcheck.c — every gradient against central finite differences.
**
** For each element of each input and param: (f(x+h) - f(x-h)) / 2h, with the
** forward pass in float32, so h is relative to the element's size.  Where a
** perturbation flips which side of 0 a ReLU's input is on, the function has
** a kink there: that element is reported, not failed.
*/
#include "show.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Bit pattern of every ReLU input's sign, to detect kinks. */
static unsigned long relu_signature(Graph *g) {
  unsigned long h = 1469598103934665603ul;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind != N_OP || n->op != OP_RELU) continue;
    for (long j = 0; j < n->in[0]->val.n; j++) h = (h ^ (n->in[0]->val.data[j] > 0)) * 1099511628211ul;
  }
  return h;
}

static int eval(Graph *g, Node *out, Exec *ex, double *v, unsigned long *sig) {
  if (graph_forward(g, ex)) return -1;
  *v = out->val.data[0];
  *sig = relu_signature(g);
  return 0;
}

int gradcheck(FILE *f, Model *m, Node *out, double tol, Err *e) {
  Graph *g = m->g;
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = e;
  if (graph_forward(g, &ex) || graph_backward(g, out, &ex)) return -1;
  unsigned long base = relu_signature(g);
  /* keep the analytic gradients: the forward passes below reuse the arena */
  int nleaf = 0;
  for (int i = 0; i < g->n; i++) if (g->nodes[i]->kind == N_INPUT || g->nodes[i]->kind == N_PARAM) nleaf++;
  float **ana = xcalloc(nleaf ? nleaf : 1, sizeof *ana);
  int bad = 0, k = 0;
  fprintf(f, "Gradient check of %s: analytic vs central differences\n", out->label);
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind != N_INPUT && n->kind != N_PARAM) continue;
    ana[k] = xmalloc(sizeof(float) * (n->val.n ? n->val.n : 1));
    memcpy(ana[k], n->grad.data, sizeof(float) * n->val.n);
    double worst = 0; long kinks = 0, worst_at = 0;
    for (long j = 0; j < n->val.n; j++) {
      float x0 = n->val.data[j];
      double h = 1e-2 * fmax(1.0, fabs(x0)), fp, fm;
      unsigned long sp, sm;
      n->val.data[j] = (float)(x0 + h);
      if (eval(g, out, &ex, &fp, &sp)) goto fail;
      n->val.data[j] = (float)(x0 - h);
      if (eval(g, out, &ex, &fm, &sm)) goto fail;
      n->val.data[j] = x0;
      double hp = (double)(float)(x0 + h) - x0, hm = x0 - (double)(float)(x0 - h);
      double num = (fp - fm) / (hp + hm), a = ana[k][j];
      if (sp != base || sm != base) { kinks++; continue; }
      double err = fabs(a - num) / fmax(1e-3, fabs(a) + fabs(num));
      if (err > worst) { worst = err; worst_at = j; }
    }
    char lab[256];
    snprintf(lab, sizeof lab, "d%s/d%s", out->label, n->label);
    fprintf(f, "  %-24s max relative error %.2e", lab, worst);
    if (n->val.n > 1 && worst > 0) fprintf(f, " (element %ld)", worst_at);
    if (kinks) fprintf(f, "  [%ld element%s at a ReLU kink: not compared]", kinks, kinks > 1 ? "s" : "");
    fprintf(f, "%s\n", worst > tol ? "  FAIL" : "  ok");
    if (worst > tol) bad++;
    k++;
  }
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
