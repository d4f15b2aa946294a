/*
** plot.h — training curves as plain SVG, written by graphrun itself: train
** and valid perplexity per epoch on a log scale, learning-rate drops marked,
** one colour per run.  Input: the CSV that --metrics writes
** (epoch,train_ppl,valid_ppl,lr,...; columns found by the header's names,
** lr optional, others ignored).
*/
#ifndef GR_PLOT_H
#define GR_PLOT_H
#include "util.h"

/* One run: n epochs of (epoch, train ppl, valid ppl, lr); lr NaN if the
** CSV has no lr column. */
typedef struct PlotRun {
  char *name;
  int n;
  double *epoch, *train, *valid, *lr;
} PlotRun;

/* Parses CSV text (path names it in messages: "path:line:col: error: ...").
** 0, or -1 with a located message in e (r then holds nothing to free). */
int  plot_parse(const char *path, const char *text, const char *name, PlotRun *r, Err *e);
void plot_run_free(PlotRun *r);

/* The SVG of runs[0..nrun) as a heap string (caller frees). */
char *plot_svg(const PlotRun *runs, int nrun);

/* --plot: the curves of one training run so far (its metrics CSV text),
** named after the model file, written atomically to path.  0 or -1. */
int plot_metrics(const char *path, const char *model_path, const char *csv, Err *e);

/* `graphrun plot A.csv [B.csv ...] -o FILE.svg` (argv[0] = "plot"):
** exit status 0, 1 (a bad CSV, a failed write) or 2 (a bad command line). */
int plot_main(int argc, char **argv);

#endif
