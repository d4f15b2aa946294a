/*
** model.h — a model file turned into a graph: parse, build, override.
**
** model_load() parses a file and builds its graph: constants are folded,
** loops unrolled into indexed names (q[1,2]), every expression becomes one
** node per operation, and shapes are checked as each node is made, so an
** error points at the operator that caused it.
*/
#ifndef GR_MODEL_H
#define GR_MODEL_H
#include "graph.h"
#include "ast.h"
#include "corpus.h"

/* The token inputs a `data` statement defines, in ModelData.tok[]. */
enum { TOK_X, TOK_Y, TOK_SRC, TOK_SRC_LEN };

/* The corpus a `data` statement names, read when the model is built:
** its vocabulary size becomes the constant V. */
typedef struct ModelData {
  int translation;     /* src_train given: sentence pairs, not one stream */
  Vocab vocab;
  Sents train, valid, src_train, src_valid;
  Loc loc;
  Node *tok[4];        /* x, y [T,B]; src [S,B], src_len [B] (translation) */
  long cap[4];         /* floats each one's storage holds (model_feed)     */
} ModelData;

/* A `block` statement: a fused layer with its own parameters.  Its kind
** (lstm, attn_lstm) is a row of build_seq.c's BlockDef table. */
typedef struct Block {
  char *name;
  const struct BlockDef *def;
  int in, hidden, layers;       /* transformer: in = d, hidden = the FFN's width */
  int heads;                    /* transformer only */
  float dropout;
  Loc loc;
  Node **params; int nparams;   /* per layer W_ih, W_hh, b; then W_in, W_c
                                   (transformer: per layer tfm.h's TFM_NW) */
} Block;

/* The `train` statement's recipe, checked and evaluated when the model is
** built (`train sgd(lr = 20, clip = 0.25, decay = 4), batch = BS, ...`);
** what it does not say has the defaults below.  The trainer applies the
** command line's overrides to a copy (train_config). */
typedef struct TrainCfg {
  double lr, clip, decay;                     /* 20, 0.25, 4 */
  int adam;                                   /* 0: sgd(...), 1: adam(...) */
  double beta1, beta2, eps;                   /* Adam's: 0.9, 0.999, 1e-8 */
  int batch, vbatch, bptt, epochs, patience;  /* 20, 60 (translation) or 1, 35, 10, 0 */
  unsigned long seed;                         /* 1111 */
  int threads;                                /* 0: one per core it may run on */
  int replicas;                               /* 1: none; 0: one per thread (train.c, replicas) */
  int bucket;                                 /* batching = bucket (translation): 0 = file order */
} TrainCfg;

typedef struct Model {
  Graph *g;
  char *path;
  unsigned long seed;  /* for random initialisation                       */
  ModelData *data;     /* NULL unless the file has a `data` statement      */
  Block *blocks; int nblocks;
  TrainCfg train;      /* the `train` statement (defaults without one)     */
} Model;

/* Draws the random initial values again (params declared with `~` and block
** weights), from seed. */
void model_reinit(Model *m, unsigned long seed);

/* Memory (bytes) the builder lets one model promise for its values and
** gradients; beyond it, a located error before anything is allocated.
** 0 (the default): this machine's physical memory. */
extern double model_max_bytes;

Model *model_load(const char *path, Err *e);
/* model_load with --set NAME=VALUE overrides: one that names a top-level
** `const` replaces its value in the file before the graph is built, so
** everything is built from it (a bad value gets the message the same value
** written in the file would get, at its place); the others then go through
** model_set (inputs, params; a sequence model takes only consts). */
Model *model_load_set(const char *path, const char *const *sets, int nset, Err *e);
Model *model_parse(const char *path, const char *src, size_t len, Err *e);
void   model_free(Model *m);

/* --set NAME=VALUE: replaces an input's or param's value with a literal in
** the language's syntax ("x=2", "W=[[1,0],[0,1]]").  0, or -1 with a message
** naming the flag. */
int model_set(Model *m, const char *assign, Err *e);

/* Puts a piece of token ids (zeros if ids is NULL) into the token input
** d->tok[which], as [d0, d1] (rank 2) or [d0] (rank 1).  Its storage grows
** to the largest piece given and then stays. */
void model_feed(ModelData *d, int which, int rank, int d0, int d1, const int32_t *ids);

/* The node named by `output` (the first, if several), or NULL. */
Node *model_output(const Model *m);

/* Builds a tensor from a literal (number, nested list, constant names).
** Heap data; 0 or -1 with a located message. */
int literal_tensor(const Ast *a, Tensor *t, Err *e);

#endif
