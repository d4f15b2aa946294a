/*
** build.h — the builder's private contract, between its language core
** (build.c) and its sequence statements (build_seq.c); model.c starts it.
** Every function that can fail returns -1 (or NULL) with a located message
** in b->e.
*/
#ifndef GR_BUILD_H
#define GR_BUILD_H
#include "model.h"

#define MAXVARS 64       /* loops nested at most this deep */
#define MAXCONSTS 256
#define MAXIDX 8         /* indices of one name: q[h,t] has 2 */
#define MAXINDEX 1000000 /* an index or range bound lies in [-MAXINDEX, MAXINDEX] */

typedef struct Var { const char *name; double v; } Var;

typedef struct Builder {
  Model *m;
  Graph *g;
  Err *e;
  Var consts[MAXCONSTS]; int nconst;
  Var loops[MAXVARS]; int nloop;
  const Ast *root;     /* the whole file, for "used before it is defined"  */
  const Ast *train;    /* the `train` statement, once seen                 */
  double bytes;        /* memory promised so far: params and activations */
  double max_bytes;    /* model_max_bytes, or this machine's memory        */
  long work;           /* towards the most building work allowed          */
} Builder;

typedef struct NodeList { Node **v; int n, cap; } NodeList;
void build_push(NodeList *l, Node *x);

/* Builds the statements of root into m->g (made by the caller), and m's
** blocks, data and training settings. */
int build_model(Model *m, const Ast *root, Err *e);

/* ---- the budget ---------------------------------------------------------- */
/* Counts k units of building work (loop steps, names, nodes); refuses a
** model that unrolls too far. */
int build_spend(Builder *b, Loc loc, long k);
/* Promises memory for `what` (elems floats, `copies` of them: value,
** gradient, ...), refusing before anything is allocated when the model as a
** whole would need more than the machine has. */
int build_charge(Builder *b, Loc loc, const char *what, long elems, int copies);

/* ---- constants ------------------------------------------------------------ */
/* The loop variable or constant called name, or NULL. */
const Var *build_var(const Builder *b, const char *name);
/* Defines the constant name = v (name must outlive the build). */
int build_define(Builder *b, const char *name, double v, Loc loc);
/* Is a a compile-time number (numbers, constants, + - * / neg)? */
int build_is_const(const Builder *b, const Ast *a);
/* The value of a constant expression. */
int build_const(Builder *b, const Ast *a, double *out);
/* The same, required whole and in [lo, hi]; `what` names it in messages. */
int build_int(Builder *b, const Ast *a, long lo, long hi, const char *what, int *out);

/* ---- expressions and calls ----------------------------------------------- */
Node *build_expr(Builder *b, const Ast *a);
/* An op node with attributes set before its shape rule runs (which may
** read them); checked and charged like every node. */
Node *build_op(Builder *b, OpKind op, Loc loc, int nin, Node **in, const int *ia, const float *fa);
/* A call's arguments as one flat list of nodes.  Named arguments are
** refused unless listed in `named` ("pad ignore"); read them with
** build_kwarg(). */
int build_args(Builder *b, const Ast *call, NodeList *args, const char *named);
/* 1 if word is one of the space-separated words (words may be NULL). */
int build_word_in(const char *word, const char *words);
/* The value of the named argument `name` of a call, or NULL. */
const Ast *build_kwarg(const Ast *call, const char *name);

/* ---- sequence statements and calls (build_seq.c) -------------------------- */
int   build_data(Builder *b, const Ast *s);
int   build_train(Builder *b, const Ast *s);
int   build_train_check(Builder *b);        /* after the file: batching = bucket needs translation data */
int   build_block(Builder *b, const Ast *s);
/* embed, dropout, cross_entropy (op), or a call of a block (op = OP_LEAF). */
Node *build_seq_call(Builder *b, const Ast *a);

#endif
