/*
** show.h — the front ends that read a graph after a run: step-by-step
** trace, JSON dump, Graphviz drawing, finite-difference gradient check.
*/
#ifndef GR_SHOW_H
#define GR_SHOW_H
#include <stdio.h>
#include "model.h"

/* Forward values, then (if `out` is a scalar) backprop rule by rule, then
** the gradient of `out` for every input and param.  Graph already run. */
void trace_print(FILE *f, Model *m, Node *out, int have_grads);

/* --trace on a sequence model (json = 0), after train_setup with the
** settings c: one training step as --train takes its first, printed as a worked solution of the assignment's questions
** (data, forward step by step, backprop through time, clipping, SGD, the
** carried state); refused with a message saying how to make the model small
** when it is too large to read.  json = 1: the --json dump (values and
** gradients of every named node, with shapes) of the same piece.
** 0, or -1 with a message in e. */
int trace_seq(FILE *f, Model *m, const TrainCfg *c, int json, Err *e);

/* {"values": {...}, "grads": {...}, "shapes": {...}} for every named node
** (a shape is a list of sizes, [] for a scalar); grads null when there was
** no backward pass. */
void json_print(FILE *f, Model *m, int have_grads);

typedef struct DotOpts {
  int values;     /* value | grad in each box                      */
  int no_ops;     /* edges straight between value nodes            */
  int no_params;  /* leave parameters (weights) out                */
  int max_index;  /* > 0: leave out names with an index above it     */
} DotOpts;
void dot_print(FILE *f, Model *m, const DotOpts *o, int have_grads);

/* Central differences for every element of every input and param, or, when
** directions > 0, along that many random +-1 directions per parameter;
** prints the largest relative error per leaf (difference over the largest
** gradient magnitude seen for it).  `before`, if set, runs before every
** forward pass (the trainer uses it to restart recurrent state), and ex
** gives the mode (dropout off for a deterministic loss).  Returns 0 if all
** agree within tol, 1 if not, -1 on error. */
int gradcheck_run(FILE *f, Model *m, Node *out, double tol, long directions, void (*before)(Graph *), Exec *ex);
int gradcheck(FILE *f, Model *m, Node *out, double tol, Err *e);

/* "1/12" when v is a simple fraction (denominator <= 64), else "". */
const char *frac_str(double v, char *buf, size_t sz);

#endif
