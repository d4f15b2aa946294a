/*
** optim.h — Adam, as torch.optim.Adam computes it (no weight decay, no
** amsgrad), for every parameter of a graph.
**
** Per element, at step t (1, 2, ...) with gradient g:
**   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
**   w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
** The moments live here, one pair per parameter, so that a checkpoint can
** keep them (--resume goes on exactly).
*/
#ifndef GR_OPTIM_H
#define GR_OPTIM_H
#include "graph.h"

/* One Adam update of n elements: the gradient is g * gscale (the clip
** factor), the step is `mult` times the update (a parameter that stands
** for mult PyTorch tensors with the same gradient; see Node.sgd_mult).
** t is the step number, counted from 1. */
void adam_update(long n, float *w, const float *g, float gscale, float *m, float *v,
                 double lr, double b1, double b2, double eps, long t, int mult);

typedef struct Adam {
  double beta1, beta2, eps;
  long t;              /* steps taken */
  int np;              /* parameters (the graph's N_PARAM nodes) */
  Node **p;            /* [np], in graph order */
  float **m, **v;      /* [np] first and second moments, each p[i]->val.n long */
} Adam;

/* Zero moments for every parameter of g (the graph must not gain
** parameters afterwards). */
void adam_init(Adam *a, Graph *g, double beta1, double beta2, double eps);
void adam_free(Adam *a);

/* One step over every parameter that has a gradient (grad.data set),
** from that gradient scaled by gscale; t counts the step. */
void adam_step(Adam *a, double lr, double gscale);

#endif
