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

/* The same lines one at a time, without their newline, for other front ends
** (the --html page steps through them): a heading or blank line, a node's
** forward equation, one gradient of the backward pass, or one row of the
** closing list of gradients (TRACE_SUM).  A sequence model's trace also has
** notes (its data, clipping and SGD, the carried state), of a node or of
** none (NULL), and a forward or backward step takes several lines, each
** tagged with its node.  `line` lives until the call returns. */
typedef enum TracePhase { TRACE_HEAD, TRACE_FWD, TRACE_BWD, TRACE_SUM, TRACE_NOTE } TracePhase;
typedef void (*TraceSink)(void *ctx, const Node *n, TracePhase phase, const char *line);
void trace_lines(Model *m, Node *out, int have_grads, TraceSink sink, void *ctx);
/* The sink that prints each line and a newline to the FILE * ctx. */
void trace_to_file(void *ctx, const Node *n, TracePhase phase, const char *line);

/* --trace on a sequence model (json = 0), after train_setup with the
** settings c: one training step as --train takes its first, printed as a
** worked solution of the assignment's questions (data, forward step by
** step, backprop through time, clipping, SGD, the carried state); refused
** with a message saying how to make the model small when it is too large to
** read.  json = 1: the --json dump (values and gradients of every named
** node, with shapes) of the same piece.  0, or -1 with a message in e.
** trace_seq_lines: the same trace handed to a sink line by line. */
int trace_seq(FILE *f, Model *m, const TrainCfg *c, int json, Err *e);
int trace_seq_lines(Model *m, const TrainCfg *c, const char *flag, TraceSink sink, void *ctx, Err *e);

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
/* The same drawing as a heap string (caller frees). */
char *dot_text(Model *m, const DotOpts *o, int have_grads);

/* render.c: DOT text laid out and rendered in-process by libgvc into a heap
** buffer *out (NUL-terminated, *len bytes without the NUL; caller frees);
** format is a Graphviz output format ("svg", "png").  0, or -1 with a
** message in e.  render_file draws m and writes the result atomically. */
int render_dot(const char *dot, const char *format, char **out, size_t *len, Err *e);
int render_file(Model *m, const DotOpts *o, int have_grads, const char *format, const char *path, Err *e);

/* html.c: the --html page (file comment there), written atomically to
** path.  dot: the drawing's DOT text (dot_text).  Its steps: for a plain
** model (seq NULL) that has run forward (and backward, if have_grads), the
** lines of trace_lines(m, out, have_grads), and the drawing should have
** values; for a sequence model after train_setup with the settings seq,
** the lines of trace_seq_lines, also printed to echo if set (--trace with
** --html: one traced step, since it ends with an SGD update).  0, or -1
** with a message in e. */
int html_write(const char *path, Model *m, const char *dot, Node *out, int have_grads, const TrainCfg *seq,
               FILE *echo, Err *e);

/* Central differences (Richardson-extrapolated) for every element of every
** input and param, or, when directions > 0, along that many random +-1
** directions per parameter; prints the largest relative error per leaf
** (difference over the largest gradient magnitude seen for it) and fails
** one beyond tol plus the float32 rounding allowance (gradcheck.c).  `before`, if set, runs before every
** forward pass (the trainer uses it to restart recurrent state), and ex
** gives the mode (dropout off for a deterministic loss).  Returns 0 if all
** agree, 1 if not, -1 on error. */
/* The tolerance --gradcheck uses, beyond float32 rounding (gradcheck.c). */
#define GRADCHECK_TOL 1e-3
int gradcheck_run(FILE *f, Model *m, Node *out, double tol, long directions, void (*before)(Graph *), Exec *ex);
int gradcheck(FILE *f, Model *m, Node *out, double tol, Err *e);

/* "1/12" when v is a simple fraction (denominator <= 64), else "". */
const char *frac_str(double v, char *buf, size_t sz);

#endif
