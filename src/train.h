/*
** train.h — training, evaluation and sampling of sequence models.
**
** The model file says what to compute (data, blocks, loss) and how to train
** (`train sgd(lr = 20, clip = 0.25, decay = 4), batch = 20, ...`); every
** setting can be overridden from the command line (TrainOpts).
*/
#ifndef GR_TRAIN_H
#define GR_TRAIN_H
#include "model.h"
#include "optim.h"

typedef struct TrainOpts {
  /* overrides: < 0 (or NaN for doubles) means "as the file says" */
  double lr, clip, decay;
  long batch, vbatch, bptt, epochs, patience, seed, threads, replicas;
  const char *const *sets; int nset;   /* --set, for the replicas' own copies of the model */
  const char *save, *load, *metrics;
  const char *checkpoint;  /* --checkpoint FILE: the latest state, every epoch */
  const char *resume;      /* --resume FILE: go on from such a checkpoint     */
  const char *plot;        /* --plot FILE.svg: perplexity curves, every epoch */
  int quiet;             /* no progress bar                                  */
  int check_finite;      /* stop at the first NaN/Inf (on by default)         */
} TrainOpts;

void train_opts_init(TrainOpts *o);
/* Settings from the file's `train` statement, then the overrides. */
void train_config(const Model *m, const TrainOpts *o, TrainCfg *c);

/* The sequence-model runs main.c dispatches to.  Each returns 0, or -1
** with a message; messages about progress (the training log) go to stderr,
** results to stdout.
**
** train_setup comes first: the settings (c), the initial values drawn from
** c->seed, the thread pool, the fused products, and --load. */
int  train_setup(Model *m, const TrainOpts *o, TrainCfg *c, Err *e);
/* --train (--resume): the epochs, logged on stderr.  Afterwards m holds the
** best model when --save kept one (it is read back), else the last. */
int  train_run(Model *m, const TrainOpts *o, const TrainCfg *c, Err *e);
/* --eval FILE [--src SRC]: the perplexity of m on a text file (a
** translation model: target sentences in FILE, their sources line by line
** in SRC), on stdout.  Words not in the vocabulary read as <unk>. */
int  train_eval(Model *m, const TrainCfg *c, const char *file, const char *src, Err *e);
/* --gradcheck: the whole model on the first training piece, the report on
** stdout; -1 with a message also when a gradient disagrees. */
int  train_gradcheck(Model *m, const TrainCfg *c, Err *e);

/* One pass over the training data a piece at a time, after train_setup,
** as --train runs its first epoch (the iterator, the token inputs, the
** dropout RNG seeded from c->seed, the recurrent state restarted): for the
** front ends that show one training step (--trace and --json on a sequence
** model).  The caller runs graph_forward / graph_backward / train_sgd_step
** on m->g with ex. */
typedef struct TrainWalk {
  Model *m;
  TrainCfg cfg;
  Exec ex;                 /* training mode; ex.err is the Err given to open  */
  Node *x, *y, *src, *src_len, *loss;
  const Stream *stream;    /* lm mode: the layout of the stream, else NULL    */
  const Bundles *bundles;  /* translation mode: the current bundle, else NULL */
  struct Feed *feed;
} TrainWalk;
int  train_walk_open(TrainWalk *w, Model *m, const TrainCfg *c, Err *e);
/* The next piece into the token inputs, the recurrent state carried on or
** restarted (b->first) as --train does; 1, or 0 at the end of the pass. */
int  train_walk_next(TrainWalk *w, Batch *b);
void train_walk_close(TrainWalk *w);

/* One SGD step from the gradients in g: the global gradient norm is clipped
** to clip (if > 0), as torch.nn.utils.clip_grad_norm_ does, then every
** parameter moves by -lr * its gradient.  A parameter of multiplicity k
** (Node.sgd_mult; an LSTM block's bias b = PyTorch's b_ih + b_hh has k = 2)
** counts k times in the norm and moves k times as far: exactly what PyTorch
** does to the sum of its k copies.  Returns the norm before clipping; when
** that is NaN or Inf no parameter moves. */
double train_sgd_step(Graph *g, double lr, double clip);
/* The same clipping, then Adam's step (optim.h) instead of SGD's. */
double train_adam_step(Graph *g, Adam *a, double lr, double clip);

#endif
