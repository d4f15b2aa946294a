/*
** graph.h — the node DAG, the op table and the executor's contract.
**
** A Graph is a list of Nodes in creation order.  The builder only lets a
** statement refer to nodes that already exist, so creation order is a
** topological order: forward walks it front to back, backward back to front.
**
** Every node is an operation applied to its inputs (leaves: input, param,
** const).  Values and gradients are Tensors; parameters own heap memory for
** the whole run, every other node takes its memory from the graph's arena,
** which is reset before each forward pass.
*/
#ifndef GR_GRAPH_H
#define GR_GRAPH_H
#include "tensor.h"
#include "ops.h"

typedef enum NodeKind { N_INPUT, N_PARAM, N_CONST, N_OP } NodeKind;

enum {
  NF_OUTPUT = 1,      /* named by an `output` statement */
  NF_NOGRAD = 2,      /* integer data (token ids, lengths): no gradient */
  NF_HIDDEN = 4,      /* plumbing (stack/pick) drawn as a plain edge */
  NF_DEAD = 8,        /* folded into another node by ops_fuse: not run */
  NF_LAZY = 16,       /* a product its one consumer, the loss, computes itself
                         when the run asks for it (Exec.fused_loss; ops_fuse) */
};

typedef struct Node {
  int id;
  NodeKind kind;
  OpKind op;
  char *name;          /* as written in the file: "z5", "q[1,2]"; NULL if anonymous */
  char *label;         /* name, or a generated "tmp3" for anonymous nodes */
  Loc loc;             /* the statement (or declaration) that made it */
  int nin;
  struct Node **in;
  Tensor val, grad;    /* grad.data == NULL: no gradient flows here */
  unsigned flags;
  int iattr[4];        /* op attributes: pick index, layers, ...;
                          params: [0] init kind, [1] padding row + 1 */
  int sgd_mult;        /* params: how many PyTorch tensors this one stands
                          for in the SGD step and the clip norm (0 = 1) */
  float fattr[4];      /* op attributes: dropout p, ...               */
  void *state;         /* op-owned state that outlives a pass, or NULL */
  Tensor init;         /* inputs/params: the declared value (to reset) */
  Tensor aux[2];       /* forward -> backward scratch (graph arena)    */
} Node;

typedef struct Graph {
  Node **nodes; int n, cap;
  Node **outputs; int nout;
  Arena arena;         /* activations and their gradients */
  const char *file;
  struct Names *names; /* name -> node */
  char *need; int need_n;  /* after graph_backward(out): need[id] = node id reaches out */
  int grads_zero;          /* every parameter's gradient array holds zeros (the
                              training step cleared them as it read them), so
                              the next graph_backward need not; it resets this */
} Graph;

typedef struct Exec {
  struct Graph *g;     /* the graph being run (its arena for scratch)    */
  int training;        /* dropout on, states carried */
  Rng rng;
  Err *err;
  long step;           /* batch counter, for messages */
  int check_finite;    /* stop at the first NaN/Inf with a located message */
  int params_later;    /* with check_finite: parameters' gradients are left to
                          the caller, which checks their norm once (training:
                          a parameter's gradient, summed over every op that
                          reads it, was scanned once per op); on a NaN or Inf
                          it runs graph_backward again without this to name
                          the op (backward reads the forward pass's values and
                          writes only gradients, so a second run is the same) */
  BpttHook bptt;       /* --trace: fused recurrent ops hand each backward
                          step to bptt.fn, tagged with their node (tensor.h) */
  int fused_loss;      /* skip NF_LAZY nodes: the loss runs them on the rows
                          it counts (training and its evaluation; nobody else
                          reads the logits then) */
} Exec;

/* 1 if ex skips n (folded away, or computed by its consumer). */
static inline int graph_skips(const Node *n, const Exec *ex) {
  return (n->flags & NF_DEAD) || ((n->flags & NF_LAZY) && ex->fused_loss);
}

/* How a call given a list (q[1..T], s in 1..T: e, or several arguments)
** takes it: as its inputs, counted against the arity (concat); as the row
** for lists of a spelling two rows share (sum(a) is SUM, sum(q[1..T]) is
** ADDN); or stacked into one input first (softmax(a[1..T]) is one node). */
enum { OPL_INPUTS = 0, OPL_ROW = 1, OPL_STACK = 2 };

/* The op table: one row per OpKind (ops.c).  Everything that handles an op
** by name reads its row: the builder (calls and operators), messages, the
** trace and the drawings. */
typedef struct OpDef {
  const char *name;     /* "add": --json, and ops not written in a model   */
  const char *spelling; /* as a model writes it: "+", "relu", "cross_entropy";
                           NULL: never written (leaf, pick, lstm, ...)    */
  int infix;            /* 1: a binary operator, `a + b`; a call names it by
                           its name instead: dot(u, v)                     */
  int list;             /* OPL_*: how a call takes a list                  */
  const char *symbol;   /* drawn in the op node: "+", "×", "ReLU", "@"      */
  int minin, maxin;     /* arity; maxin < 0: any number                    */
  /* Sets n->val's shape from the inputs' shapes; on mismatch returns -1
  ** with a located message ("'@' needs [n,k] @ [k,m], got ...").      */
  int  (*shape)(Node *n, Err *e);
  void (*forward)(Node *n, Exec *ex);
  /* Adds n's contribution to each input's gradient: in[i]->grad += ... .
  ** Skips inputs whose grad.data is NULL.                               */
  void (*backward)(Node *n, Exec *ex);
  /* Trace text for the local rule of input i: given the upstream name
  ** ("dz5/dz4"), writes e.g. "dz5/dz4 × z3"; with numeric=1 the same
  ** with numbers ("1 × 0.25").  May be NULL (then "(backprop of op)").  */
  void (*rule)(const Node *n, int i, const char *up, int numeric, char *buf, size_t sz);
  /* Recurrent ops only (NULL otherwise).  carry: the next forward either
  ** starts over (0: zeros, or the state it is linked to) or goes on from
  ** this one's final state (1), detached.  reorder: row i of the carried
  ** state becomes old row rows[i] (beam search).                          */
  void (*carry)(Node *n, int on);
  void (*reorder)(Node *n, const int *rows, int B);
} OpDef;

/* Declares an op's four row functions, PREFIX_shape, PREFIX_fwd, PREFIX_bwd
** and PREFIX_rule, with the signatures OpDef takes (ops_seq.h, ops_tfm.h). */
#define GR_OP_FUNCS(p) \
  int  p##_shape(Node *n, Err *e); \
  void p##_fwd(Node *n, Exec *ex); \
  void p##_bwd(Node *n, Exec *ex); \
  void p##_rule(const Node *n, int i, const char *up, int numeric, char *buf, size_t sz)
extern const OpDef gr_ops[];
/* The op as messages name it: its spelling, else its name ("'@' needs ..."). */
const char *ops_word(OpKind op);
/* The op a call `word(...)` makes (list: the call is given a list), or
** OP_LEAF if no row is called so. */
OpKind ops_called(const char *word, int list);
/* The binary operator spelled c ('+', '@', '.'), or OP_LEAF. */
OpKind ops_infix(char c);
/* n for a message: its name, or for an anonymous node the expression that
** made it, over its inputs' names ("log(W @ x + b)"), never a generated
** label such as tmp16.  Deeper than two levels shows "...". */
void ops_describe(const Node *n, char *buf, size_t sz);

/* ---- graph construction (builder, tests) -------------------------------- */
Graph *graph_new(const char *file);
void   graph_free(Graph *g);
/* Appends a node; in[] is copied.  The name is copied (may be NULL). */
Node  *graph_add(Graph *g, NodeKind kind, OpKind op, const char *name, Loc loc, int nin, Node **in);
Node  *graph_find(Graph *g, const char *name);
/* Gives an anonymous node a name (the target of `z = ...`). */
void   graph_name(Graph *g, Node *n, const char *name);
/* A leaf with a fixed value (heap-owned), e.g. an input or param. */
Node  *graph_leaf(Graph *g, NodeKind kind, const char *name, Loc loc, const Tensor *value);

/* ---- execution ---------------------------------------------------------- */
/* Runs n's shape rule: 0, or -1 with a located message (a mismatch, or a
** result too large for a tensor). */
int  graph_shape(Node *n, Err *e);
/* Shape inference for every node; located error on the first mismatch. */
int  graph_infer(Graph *g, Err *e);
/* Resets the arena, allocates values, runs every op forward.  0 or -1. */
int  graph_forward(Graph *g, Exec *ex);
/* Reverse-mode from the scalar node `out` (seed 1); grads of every node.  */
int  graph_backward(Graph *g, Node *out, Exec *ex);
/* The rounding noise of g's last pass: 2^-20 (8 float32 epsilons) of the
** largest magnitude among its values and gradients.  Sums that cancel
** (a gradient that is 0 by hand) leave residues of about this size, so the
** trace and the drawings print anything this small as 0. */
double graph_noise(const Graph *g);
/* A located error at n: "<what> at step S; input 'a' in [lo, hi], ..."
** (the step when ex->step is set, each input's range).  Returns -1. */
int  graph_report(const Node *n, const Exec *ex, const char *what);
/* Calls every recurrent node's carry / reorder hook (see OpDef). */
void graph_carry(Graph *g, int on);
/* The gradient array of a parameter or input n, shaped as its value:
** allocated (not zeroed) the first time, then kept from step to step. */
float *graph_grad_array(Node *n);
void graph_reorder(Graph *g, const int *rows, int B);
/* Folds `a @ transpose(W)` and `a @ W + bias` into single matmul nodes
** (ops.c); for training, where nobody looks at the folded nodes. */
void ops_fuse(Graph *g);
/* Tests only: from now on, what every backward of op `op` adds to its
** inputs' gradients is multiplied by factor (1.01: a rule 1% off), to show
** that --gradcheck catches a wrong gradient.  OP_LEAF: off. */
void graph_fault(OpKind op, double factor);

#endif
