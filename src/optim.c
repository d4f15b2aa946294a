/*
** optim.c — Adam's update and its per-parameter moments (optim.h).
**
** The update is split over the thread pool by elements; each element's
** arithmetic is PyTorch's, in float, with the two bias corrections computed
** once per step in double.
*/
#include <math.h>
#include <stdlib.h>
#include "optim.h"
#include "par.h"

typedef struct AdamJob {
  float *w, *m, *v;
  const float *g;
  float gscale, b1, b2, eps, step, rbc2;
} AdamJob;

static void adam_part(void *ctx, long lo, long hi) {
  const AdamJob *j = ctx;
  for (long i = lo; i < hi; i++) {
    float g = j->g[i] * j->gscale;
    float m = j->m[i] + (1.0f - j->b1) * (g - j->m[i]);        /* torch: exp_avg.lerp_ */
    float v = j->b2 * j->v[i] + (1.0f - j->b2) * g * g;
    j->m[i] = m; j->v[i] = v;
    j->w[i] -= j->step * (m / (sqrtf(v) * j->rbc2 + j->eps));
  }
}

void adam_update(long n, float *w, const float *g, float gscale, float *m, float *v,
                 double lr, double b1, double b2, double eps, long t, int mult) {
  double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
  AdamJob j = { w, m, v, g, gscale, (float)b1, (float)b2, (float)eps,
                (float)(lr / bc1 * (mult > 1 ? mult : 1)), (float)(1.0 / sqrt(bc2)) };
  par_for(n, 16384, adam_part, &j);
}

void adam_init(Adam *a, Graph *g, double beta1, double beta2, double eps) {
  *a = (Adam){ .beta1 = beta1, .beta2 = beta2, .eps = eps };
  for (int i = 0; i < g->n; i++) a->np += g->nodes[i]->kind == N_PARAM;
  a->p = xcalloc((size_t)a->np + 1, sizeof *a->p);
  a->m = xcalloc((size_t)a->np + 1, sizeof *a->m);
  a->v = xcalloc((size_t)a->np + 1, sizeof *a->v);
  int k = 0;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind != N_PARAM) continue;
    a->p[k] = n;
    a->m[k] = xcalloc((size_t)n->val.n, sizeof(float));
    a->v[k] = xcalloc((size_t)n->val.n, sizeof(float));
    k++;
  }
}

void adam_free(Adam *a) {
  for (int i = 0; i < a->np; i++) { free(a->m[i]); free(a->v[i]); }
  free(a->p); free(a->m); free(a->v);
  *a = (Adam){0};
}

void adam_step(Adam *a, double lr, double gscale) {
  a->t++;
  for (int i = 0; i < a->np; i++) {
    Node *n = a->p[i];
    if (!n->grad.data) continue;     /* not reached from the loss: as PyTorch, no step */
    adam_update(n->val.n, n->val.data, n->grad.data, (float)gscale, a->m[i], a->v[i],
                lr, a->beta1, a->beta2, a->eps, a->t, n->sgd_mult);
  }
}
