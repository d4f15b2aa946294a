/*
** model.c — the builder: gives the syntax tree its meaning as a graph.
**
** Walks the statements in order with an environment of constants and loop
** variables.  Names are keyed as written: "z5", "q[1,2]" (indices are
** evaluated: q[h,t] inside `for h in 1..2, t in 1..2` makes q[1,1] ...).
** A statement may only use names defined above it, so creation order is a
** topological order.  Shapes are checked as each node is made.
*/
#include "model.h"
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAXVARS 64
/* Most loop steps, names expanded and nodes made while building one model:
** a nest of loops that would unroll further is refused, never run. */
#define MAXWORK 2000000L

double model_max_bytes = 0;

typedef struct Var { const char *name; double v; } Var;

typedef struct Builder {
  Model *m;
  Graph *g;
  Err *e;
  Var consts[256]; int nconst;
  Var loops[MAXVARS]; int nloop;
  const Ast *root;
  double bytes;        /* memory promised so far: params and activations */
  double max_bytes;    /* model_max_bytes, or this machine's memory        */
  long work;           /* towards MAXWORK                                  */
} Builder;

/* Counts k units of building work; -1 with a message past MAXWORK. */
static int spend(Builder *b, Loc loc, long k) {
  b->work += k;
  if (b->work > MAXWORK)
    return err_at(b->e, loc, "the model unrolls into more than %ld steps (loop iterations, names and nodes); make the loops smaller", MAXWORK);
  return 0;
}

static const char *size_str(char *buf, size_t n, double bytes) {
  if (bytes >= 1e9) snprintf(buf, n, "%.3g GB", bytes / 1e9);
  else snprintf(buf, n, "%.3g MB", bytes / 1e6);
  return buf;
}
/* Promises memory for `what` (elems floats, `copies` of them: value,
** gradient, ...), refusing before anything is allocated when the model as a
** whole would need more than the machine has. */
static int charge(Builder *b, Loc loc, const char *what, long elems, int copies) {
  double bytes = (double)elems * sizeof(float) * copies;
  if (b->bytes + bytes > b->max_bytes) {
    char need[32], all[32], max[32], in_all[64] = "";
    if (b->bytes > bytes / 100) snprintf(in_all, sizeof in_all, " (the model %s in all)", size_str(all, sizeof all, b->bytes + bytes));
    return err_at(b->e, loc, "'%s' needs %s%s, more than %s (%s)", what, size_str(need, sizeof need, bytes), in_all,
                  model_max_bytes > 0 ? "the memory limit" : "this machine's memory", size_str(max, sizeof max, b->max_bytes));
  }
  b->bytes += bytes;
  return 0;
}

typedef struct NodeList { Node **v; int n, cap; } NodeList;
static void nl_push(NodeList *l, Node *x) {
  if (l->n == l->cap) { l->cap = l->cap ? l->cap * 2 : 8; l->v = xrealloc(l->v, sizeof *l->v * l->cap); }
  l->v[l->n++] = x;
}

/* ---- constants and indices ---------------------------------------------- */

static const Var *lookup_var(const Builder *b, const char *name) {
  for (int i = b->nloop - 1; i >= 0; i--) if (!strcmp(b->loops[i].name, name)) return &b->loops[i];
  for (int i = 0; i < b->nconst; i++) if (!strcmp(b->consts[i].name, name)) return &b->consts[i];
  return NULL;
}

/* Is the tree a compile-time number (numbers, constants, + - * / neg)? */
static int is_const(const Builder *b, const Ast *a) {
  switch (a->kind) {
  case A_NUM: return 1;
  case A_REF: return a->nkids == 0 && lookup_var(b, a->name);
  case A_NEG: return is_const(b, a->kids[0]);
  case A_BIN: return strchr("+-*/", a->op) && is_const(b, a->kids[0]) && is_const(b, a->kids[1]);
  default: return 0;
  }
}

static int const_eval(Builder *b, const Ast *a, double *out) {
  double x, y;
  switch (a->kind) {
  case A_NUM: *out = a->num; return 0;
  case A_REF: {
    const Var *v = a->nkids == 0 ? lookup_var(b, a->name) : NULL;
    if (!v) return err_at(b->e, a->loc, "'%s' is not a constant here (expected a number or a constant)", a->name);
    *out = v->v; return 0;
  }
  case A_NEG: if (const_eval(b, a->kids[0], &x)) return -1; *out = -x; return 0;
  case A_BIN:
    if (!strchr("+-*/", a->op)) return err_at(b->e, a->loc, "'%c' is not allowed in a constant expression", a->op);
    if (const_eval(b, a->kids[0], &x) || const_eval(b, a->kids[1], &y)) return -1;
    switch (a->op) {
    case '+': *out = x + y; break;
    case '-': *out = x - y; break;
    case '*': *out = x * y; break;
    default:
      if (y == 0) return err_at(b->e, a->loc, "division by zero in a constant expression");
      *out = x / y;
    }
    return 0;
  default:
    return err_at(b->e, a->loc, "expected a number or a constant expression");
  }
}

static int int_eval(Builder *b, const Ast *a, long lo, long hi, const char *what, int *out) {
  double v;
  if (const_eval(b, a, &v)) return -1;
  if (v != floor(v) || v < lo || v > hi)
    return err_at(b->e, a->loc, "%s must be a whole number from %ld to %ld, got %g", what, lo, hi, v);
  *out = (int)v;
  return 0;
}

/* ---- literals ----------------------------------------------------------- */

typedef struct Lit { Builder *b; int rank, shape[GR_MAXDIM]; float *data; long n, cap; } Lit;

static int lit_walk(Lit *L, const Ast *a, int depth) {
  if (a->kind != A_LIST) {
    if (depth != L->rank && L->n > 0) return err_at(L->b->e, a->loc, "ragged literal: expected a list here, got a number");
    if (L->n == 0) L->rank = depth;
    double v;
    if (const_eval(L->b, a, &v)) return -1;
    if (L->n == L->cap) { L->cap = L->cap ? L->cap * 2 : 16; L->data = xrealloc(L->data, sizeof(float) * L->cap); }
    L->data[L->n++] = (float)v;
    return 0;
  }
  if (depth >= GR_MAXDIM) return err_at(L->b->e, a->loc, "literal nested deeper than %d levels", GR_MAXDIM);
  if (L->n > 0 && depth >= L->rank) return err_at(L->b->e, a->loc, "ragged literal: expected a number here, got a list");
  if (L->n == 0 && depth >= L->rank) L->shape[depth] = a->nkids;
  else if (L->shape[depth] != a->nkids)
    return err_at(L->b->e, a->loc, "ragged literal: this list has %d items, an earlier one at the same depth has %d",
                  a->nkids, L->shape[depth]);
  if (a->nkids == 0) return err_at(L->b->e, a->loc, "empty list literal");
  for (int i = 0; i < a->nkids; i++) if (lit_walk(L, a->kids[i], depth + 1)) return -1;
  return 0;
}

static int lit_build(Builder *b, const Ast *a, Tensor *t) {
  Lit L; memset(&L, 0, sizeof L); L.b = b; L.rank = 0;
  /* first pass decides the rank from the first leaf: walk sets rank on the first number */
  if (lit_walk(&L, a, 0)) { free(L.data); return -1; }
  int rc = tensor_shape(t, L.rank, L.shape);
  if (rc || t->n != L.n) { free(L.data); return err_at(b->e, a->loc, "ragged literal"); }
  t->data = L.data;
  return 0;
}

int literal_tensor(const Ast *a, Tensor *t, Err *e) {
  Builder b; memset(&b, 0, sizeof b); b.e = e;
  return lit_build(&b, a, t);
}

/* ---- names -------------------------------------------------------------- */

/* "q" with indices [1, 2] -> "q[1,2]". */
static void key_of(char *buf, size_t sz, const char *name, const int *idx, int nidx) {
  int k = snprintf(buf, sz, "%s", name);
  for (int i = 0; i < nidx && k < (int)sz; i++) k += snprintf(buf + k, sz - k, i ? ",%d" : "[%d", idx[i]);
  if (nidx && k < (int)sz) snprintf(buf + k, sz - k, "]");
}

/* Where is base name `name` first defined in the file (for "used before")? */
static const Ast *find_def(const Ast *a, const char *name) {
  if (!a) return NULL;
  if ((a->kind == S_ASSIGN || a->kind == S_INPUT || a->kind == S_PARAM) && !strcmp(a->kids[0]->name, name)) return a;
  if (a->kind == S_BODY || a->kind == S_FOR)
    for (int i = 0; i < a->nkids; i++) { const Ast *r = find_def(a->kids[i], name); if (r) return r; }
  return NULL;
}

/* Expands a reference's indices into the list of keys it names (ranges
** give several).  Returns the count, or -1. */
static int expand_ref(Builder *b, const Ast *ref, char ***keys_out) {
  int nidx = ref->nkids, lo[GR_MAXDIM * 2], hi[GR_MAXDIM * 2];
  if (nidx > 8) return err_at(b->e, ref->loc, "more than 8 indices");
  long total = 1;
  for (int i = 0; i < nidx; i++) {
    const Ast *x = ref->kids[i];
    if (x->kind == A_RANGE) {
      if (int_eval(b, x->kids[0], -1000000, 1000000, "a range bound", &lo[i]) ||
          int_eval(b, x->kids[1], -1000000, 1000000, "a range bound", &hi[i])) return -1;
      if (hi[i] < lo[i]) return err_at(b->e, x->loc, "empty range %d..%d", lo[i], hi[i]);
    } else {
      if (int_eval(b, x, -1000000, 1000000, "an index", &lo[i])) return -1;
      hi[i] = lo[i];
    }
    total *= hi[i] - lo[i] + 1;
    if (total > 100000) return err_at(b->e, ref->loc, "a range naming more than 100000 nodes");
  }
  if (spend(b, ref->loc, total)) return -1;
  char **keys = xmalloc(sizeof *keys * total);
  int cur[8];
  for (int i = 0; i < nidx; i++) cur[i] = lo[i];
  for (long k = 0; k < total; k++) {
    char buf[512];
    key_of(buf, sizeof buf, ref->name, cur, nidx);
    keys[k] = xstrdup(buf);
    for (int i = nidx - 1; i >= 0; i--) { if (++cur[i] <= hi[i]) break; cur[i] = lo[i]; }
  }
  *keys_out = keys;
  return (int)total;
}
static void free_keys(char **k, int n) { for (int i = 0; i < n; i++) free(k[i]); free(k); }

static Node *lookup_node(Builder *b, const Ast *ref, const char *key) {
  Node *n = graph_find(b->g, key);
  if (n) return n;
  const Ast *def = find_def(b->root, ref->name);
  if (lookup_var(b, ref->name))
    err_at(b->e, ref->loc, "'%s' is a constant and takes no index", ref->name);
  else if (def && (def->loc.line > ref->loc.line || (def->loc.line == ref->loc.line && def->loc.col > ref->loc.col)))
    err_at(b->e, ref->loc, "'%s' is used before it is defined (at %d:%d)", key, def->loc.line, def->loc.col);
  else if (def)
    err_at(b->e, ref->loc, "'%s' is not defined (that index was never assigned)", key);
  else
    err_at(b->e, ref->loc, "unknown name '%s'", key);
  return NULL;
}

/* ---- node creation ------------------------------------------------------ */

/* Runs n's shape rule now, so a mistake points at the operator. */
static Node *checked(Builder *b, Node *n) {
  if (gr_ops[n->op].shape(n, b->e)) {
    if (!b->e->set) err_at(b->e, n->loc, "'%s' result would have more than %ld elements", gr_ops[n->op].name, GR_MAXELEMS);
    return NULL;
  }
  if (spend(b, n->loc, 1) || charge(b, n->loc, n->name ? n->name : gr_ops[n->op].name, n->val.n, 2)) return NULL;  /* value, gradient */
  return n;
}
static Node *op_node(Builder *b, OpKind op, const char *name, Loc loc, int nin, Node **in) {
  return checked(b, graph_add(b->g, N_OP, op, name, loc, nin, in));
}
/* The same for ops whose shape rule reads attributes set first. */
static Node *op_node_attr(Builder *b, OpKind op, Loc loc, int nin, Node **in, const int *ia, const float *fa) {
  Node *n = graph_add(b->g, N_OP, op, NULL, loc, nin, in);
  memcpy(n->iattr, ia, sizeof n->iattr);
  memcpy(n->fattr, fa, sizeof n->fattr);
  return checked(b, n);
}

static Node *const_node(Builder *b, double v, Loc loc) {
  if (spend(b, loc, 1)) return NULL;
  Tensor t; tensor_shape(&t, 0, NULL);
  float f = (float)v; t.data = &f;
  Node *n = graph_leaf(b->g, N_CONST, NULL, loc, &t);
  char num[32]; fmt_num(num, sizeof num, v);
  free(n->label); n->label = xstrdup(num);
  return n;
}

static Node *build_expr(Builder *b, const Ast *a);
static int build_list(Builder *b, const Ast *a, NodeList *out);

/* A function call's arguments as one flat list of nodes.  Named arguments
** are refused unless listed in `named` ("pad ignore"), which the caller
** then reads with kwarg(). */
static int call_args_named(Builder *b, const Ast *call, NodeList *args, const char *named) {
  for (int i = 0; i < call->nkids; i++) {
    const Ast *x = call->kids[i];
    if (x->kind == A_KW) {
      const char *p = named ? strstr(named, x->name) : NULL;
      size_t k = strlen(x->name);
      if (!p || (p[k] != ' ' && p[k] != 0) || (p != named && p[-1] != ' '))
        return err_at(b->e, x->loc, "'%s' takes no named argument '%s'%s%s", call->name, x->name,
                      named ? " (it takes: " : "", named ? named : "");
      continue;
    }
    if (build_list(b, x, args)) return -1;
  }
  return 0;
}
static int call_args(Builder *b, const Ast *call, NodeList *args) { return call_args_named(b, call, args, NULL); }

static const Ast *kwarg(const Ast *call, const char *name) {
  for (int i = 0; i < call->nkids; i++)
    if (call->kids[i]->kind == A_KW && !strcmp(call->kids[i]->name, name)) return call->kids[i]->kids[0];
  return NULL;
}
static Node *build_seq_call(Builder *b, const Ast *a);

/* Does the call get a list (several arguments, a range, a comprehension)? */
static int is_listy(const Ast *call) {
  if (call->nkids != 1) return 1;
  const Ast *x = call->kids[0];
  if (x->kind == A_COMPR) return 1;
  if (x->kind == A_REF) for (int i = 0; i < x->nkids; i++) if (x->kids[i]->kind == A_RANGE) return 1;
  return 0;
}

/* "add, ..., relu, ..., and blocks": every call the op table answers. */
static void known_calls(char *buf, size_t sz) {
  int o = 0;
  for (int op = 1; op < OP__COUNT && o < (int)sz; op++) {
    const OpDef *d = &gr_ops[op];
    const char *w = d->infix ? d->name : d->spelling;
    if (w && isalpha((unsigned char)w[0]) && d->list != OPL_ROW) o += snprintf(buf + o, sz - o, "%s, ", w);
  }
  if (o < (int)sz) snprintf(buf + o, sz - o, "and blocks");
}

static Node *build_call(Builder *b, const Ast *a) {
  for (int i = 0; i < b->m->nblocks; i++) if (!strcmp(b->m->blocks[i].name, a->name)) return build_seq_call(b, a);
  OpKind op = ops_called(a->name, is_listy(a));
  const OpDef *d = &gr_ops[op];
  if (!op) {
    char known[512];
    known_calls(known, sizeof known);
    err_at(b->e, a->loc, "unknown function '%s' (known: %s)", a->name, known);
    return NULL;
  }
  if (op == OP_EMBED || op == OP_DROPOUT || op == OP_XENT) return build_seq_call(b, a);
  NodeList args = {0};
  Node *r = NULL;
  if (call_args(b, a, &args)) goto done;
  if (d->list == OPL_STACK && is_listy(a) && args.n > 0) {     /* softmax over a list of nodes */
    Node *x = op_node(b, OP_STACK, NULL, a->loc, args.n, args.v);
    if (!x) goto done;
    x->flags |= NF_HIDDEN;
    args.v[0] = x; args.n = 1;
  }
  int maxin = d->infix ? d->minin : d->maxin;        /* dot(u, v): the operator's own two */
  static const char *const count[] = { "no", "one", "two", "three" };
  if (args.n < d->minin || (maxin >= 0 && args.n > maxin)) {
    if (maxin == d->minin) err_at(b->e, a->loc, "'%s' takes %s argument%s, got %d", a->name, count[d->minin], d->minin == 1 ? "" : "s", args.n);
    else err_at(b->e, a->loc, "'%s' needs at least %s argument%s", a->name, count[d->minin], d->minin == 1 ? "" : "s");
    goto done;
  }
  r = op_node(b, op, NULL, a->loc, args.n, args.v);
done:
  free(args.v);
  return r;
}

static Node *build_expr(Builder *b, const Ast *a) {
  if (is_const(b, a)) {
    double v;
    if (const_eval(b, a, &v)) return NULL;
    return const_node(b, v, a->loc);
  }
  switch (a->kind) {
  case A_REF: {
    char **keys; int k = expand_ref(b, a, &keys);
    if (k < 0) return NULL;
    Node *n = NULL;
    if (k != 1) err_at(b->e, a->loc, "'%s[...]' names %d nodes here, where one value is expected (a list goes into softmax, sum, concat or stack)", a->name, k);
    else n = lookup_node(b, a, keys[0]);
    free_keys(keys, k);
    return n;
  }
  case A_BIN: {
    Node *in[2];
    if (!(in[0] = build_expr(b, a->kids[0])) || !(in[1] = build_expr(b, a->kids[1]))) return NULL;
    return op_node(b, ops_infix((char)a->op), NULL, a->loc, 2, in);
  }
  case A_NEG: {
    Node *x = build_expr(b, a->kids[0]);
    return x ? op_node(b, OP_NEG, NULL, a->loc, 1, &x) : NULL;
  }
  case A_CALL: return build_call(b, a);
  case A_LIST: {
    Tensor t;
    if (spend(b, a->loc, 1) || lit_build(b, a, &t)) return NULL;
    Node *n = graph_leaf(b->g, N_CONST, NULL, a->loc, &t);
    free(t.data);
    return n;
  }
  case A_STR: err_at(b->e, a->loc, "a string is not a value here"); return NULL;
  case A_COMPR: err_at(b->e, a->loc, "'%s in ...: ...' makes a list; use it inside sum(...), concat(...), softmax(...) or stack(...)", a->name); return NULL;
  default: err_at(b->e, a->loc, "expected an expression"); return NULL;
  }
}

/* An argument that may stand for several nodes: q[1..H, t] or s in 1..T: e. */
static int build_list(Builder *b, const Ast *a, NodeList *out) {
  if (a->kind == A_REF && a->nkids > 0 && !is_const(b, a)) {
    char **keys; int k = expand_ref(b, a, &keys);
    if (k < 0) return -1;
    for (int i = 0; i < k; i++) {
      Node *n = lookup_node(b, a, keys[i]);
      if (!n) { free_keys(keys, k); return -1; }
      nl_push(out, n);
    }
    free_keys(keys, k);
    return 0;
  }
  if (a->kind == A_COMPR) {
    int lo, hi;
    if (int_eval(b, a->kids[0], -1000000, 1000000, "a range bound", &lo) ||
        int_eval(b, a->kids[1], -1000000, 1000000, "a range bound", &hi)) return -1;
    if (hi < lo) return err_at(b->e, a->loc, "empty range %d..%d", lo, hi);
    if (b->nloop == MAXVARS) return err_at(b->e, a->loc, "loops nested more than %d deep", MAXVARS);
    for (int v = lo; v <= hi; v++) {
      if (spend(b, a->loc, 1)) return -1;
      b->loops[b->nloop].name = a->name; b->loops[b->nloop].v = v; b->nloop++;
      Node *n = build_expr(b, a->kids[2]);
      b->nloop--;
      if (!n) return -1;
      nl_push(out, n);
    }
    return 0;
  }
  Node *n = build_expr(b, a);
  if (!n) return -1;
  nl_push(out, n);
  return 0;
}

/* ---- statements --------------------------------------------------------- */

static int define(Builder *b, const Ast *target, const char *key) {
  if (graph_find(b->g, key)) {
    Node *old = graph_find(b->g, key);
    return err_at(b->e, target->loc, "'%s' is already defined (at %d:%d)", key, old->loc.line, old->loc.col);
  }
  if (lookup_var(b, target->name)) return err_at(b->e, target->loc, "'%s' is a constant or loop variable", target->name);
  return 0;
}

/* Names the result of an expression: a fresh anonymous op takes the name
** itself; anything else (an existing name, a leaf) gets a one-input sum
** node, traced and drawn as "z = y". */
static int name_node(Builder *b, Node *n, const char *key, Loc loc) {
  if (n->kind == N_OP && !n->name) { graph_name(b->g, n, key); return 0; }
  return op_node(b, OP_ADDN, key, loc, 1, &n) ? 0 : -1;
}

static int stmt_decl(Builder *b, const Ast *s) {
  const Ast *target = s->kids[0], *shape = s->kids[1], *init = s->kids[2];
  char **keys; int k = expand_ref(b, target, &keys);
  if (k < 0) return -1;
  int rc = -1;
  if (k != 1) { err_at(b->e, target->loc, "declare one name at a time (use a for loop for indexed names)"); goto out; }
  if (define(b, target, keys[0])) goto out;
  Tensor t = {0};
  int dims[GR_MAXDIM], rank = 0;
  if (shape) {
    if (shape->nkids > GR_MAXDIM) { err_at(b->e, shape->loc, "at most %d dimensions", GR_MAXDIM); goto out; }
    rank = shape->nkids;
    for (int i = 0; i < rank; i++) if (int_eval(b, shape->kids[i], 1, INT_MAX, "a dimension", &dims[i])) goto out;
    if (tensor_shape(&t, rank, dims)) {
      double tot = 1; for (int i = 0; i < rank; i++) tot *= dims[i];
      err_at(b->e, shape->loc, "shape has %.3g elements, more than the limit of %ld", tot, GR_MAXELEMS);
      goto out;
    }
    if (charge(b, shape->loc, keys[0], t.n, 3)) goto out;     /* value, gradient, initial copy */
  }
  if (init && init->op == '~') {
    if (!shape) { err_at(b->e, init->loc, "a random initialiser needs a shape: %s: [n, m] ~ ...", keys[0]); goto out; }
    int kind = !strcmp(init->name, "uniform") ? 1 : !strcmp(init->name, "normal") ? 2 : 0;
    if (!kind) { err_at(b->e, init->loc, "unknown initialiser '%s' (known: uniform(lo, hi), normal(mean, std))", init->name); goto out; }
    if (init->nkids != 2) { err_at(b->e, init->loc, "'%s' takes two numbers", init->name); goto out; }
    double p0, p1;
    if (const_eval(b, init->kids[0], &p0) || const_eval(b, init->kids[1], &p1)) goto out;
    t.data = xcalloc(t.n ? t.n : 1, sizeof(float));
    Node *n = graph_leaf(b->g, s->kind == S_INPUT ? N_INPUT : N_PARAM, keys[0], s->loc, &t);
    free(t.data);
    n->iattr[0] = kind; n->fattr[0] = (float)p0; n->fattr[1] = (float)p1;
    rc = 0; goto out;
  }
  Tensor v = {0};
  if (init) {
    if (!is_const(b, init) && init->kind != A_LIST) { err_at(b->e, init->loc, "a declaration's value must be a number or a list of numbers"); goto out; }
    if (lit_build(b, init, &v)) goto out;
    if (shape && v.rank == 0) {          /* a scalar fills the declared shape */
      float x = v.data[0]; free(v.data);
      v = t; v.data = xmalloc(sizeof(float) * (t.n ? t.n : 1));
      for (long i = 0; i < t.n; i++) v.data[i] = x;
    } else if (shape && !tensor_same_shape(&v, &t)) {
      char s1[64], s2[64];
      err_at(b->e, init->loc, "'%s' is declared %s but its value is %s", keys[0], shape_str(&t, s1, sizeof s1), shape_str(&v, s2, sizeof s2));
      free(v.data); goto out;
    }
  } else {
    if (!shape) { err_at(b->e, target->loc, "'%s' needs a value or a shape (%s = 1, or %s: [2])", keys[0], keys[0], keys[0]); goto out; }
    v = t; v.data = xcalloc(t.n ? t.n : 1, sizeof(float));
  }
  graph_leaf(b->g, s->kind == S_INPUT ? N_INPUT : N_PARAM, keys[0], s->loc, &v);
  free(v.data);
  rc = 0;
out:
  free_keys(keys, k);
  return rc;
}

static int stmt_assign(Builder *b, const Ast *s) {
  const Ast *target = s->kids[0];
  char **keys; int k = expand_ref(b, target, &keys);
  if (k < 0) return -1;
  int rc = -1;
  for (int i = 0; i < k; i++) if (define(b, target, keys[i])) goto out;
  Node *v = build_expr(b, s->kids[1]);
  if (!v) goto out;
  if (k == 1) { rc = name_node(b, v, keys[0], s->loc); goto out; }
  /* beta[1..T, h, t] = softmax(...): one name per item of the first axis;
  ** an anonymous right side is labelled as the whole list, beta[1..2,1,1] */
  if (v->kind == N_OP && !v->name) {
    char lab[512]; int o = snprintf(lab, sizeof lab, "%s[", target->name);
    for (int i = 0; i < target->nkids && o < (int)sizeof lab; i++) {
      const Ast *x = target->kids[i];
      int lo = 0, hi = 0;
      if (x->kind == A_RANGE) { int_eval(b, x->kids[0], -1000000, 1000000, "a range bound", &lo); int_eval(b, x->kids[1], -1000000, 1000000, "a range bound", &hi); }
      else int_eval(b, x, -1000000, 1000000, "an index", &lo);
      o += x->kind == A_RANGE ? snprintf(lab + o, sizeof lab - o, "%s%d..%d", i ? "," : "", lo, hi)
                              : snprintf(lab + o, sizeof lab - o, "%s%d", i ? "," : "", lo);
    }
    if (o < (int)sizeof lab - 1) { free(v->label); v->label = xasprintf("%s]", lab); }
  }
  if (v->val.rank == 0 || v->val.shape[0] != k) {
    char sh[64];
    err_at(b->e, s->kids[1]->loc, "the right side has shape %s, but the left side names %d items", shape_str(&v->val, sh, sizeof sh), k);
    goto out;
  }
  for (int i = 0; i < k; i++) {
    Node *p = op_node(b, OP_PICK, keys[i], s->loc, 1, &v);
    if (!p) goto out;
    p->iattr[0] = i;
    if (gr_ops[OP_PICK].shape(p, b->e)) goto out;
  }
  rc = 0;
out:
  free_keys(keys, k);
  return rc;
}

static int stmt_output(Builder *b, const Ast *s) {
  for (int i = 0; i < s->nkids; i++) {
    char **keys; int k = expand_ref(b, s->kids[i], &keys);
    if (k < 0) return -1;
    for (int j = 0; j < k; j++) {
      Node *n = lookup_node(b, s->kids[i], keys[j]);
      if (!n) { free_keys(keys, k); return -1; }
      n->flags |= NF_OUTPUT;
      b->g->outputs = xrealloc(b->g->outputs, sizeof *b->g->outputs * (b->g->nout + 1));
      b->g->outputs[b->g->nout++] = n;
    }
    free_keys(keys, k);
  }
  return 0;
}

static int build_body(Builder *b, const Ast *body);
static int stmt_block(Builder *b, const Ast *s);
static int stmt_data(Builder *b, const Ast *s);
static int stmt_train(Builder *b, const Ast *s);

static int stmt_for(Builder *b, const Ast *s, int level) {
  const Ast *iters = s->kids[0];
  if (level == iters->nkids) return build_body(b, s->kids[1]);
  const Ast *it = iters->kids[level];
  int lo, hi;
  if (int_eval(b, it->kids[0], -1000000, 1000000, "a range bound", &lo) ||
      int_eval(b, it->kids[1], -1000000, 1000000, "a range bound", &hi)) return -1;
  if (hi - lo > 100000) return err_at(b->e, it->loc, "a loop of more than 100000 steps");
  if (lookup_var(b, it->name)) return err_at(b->e, it->loc, "loop variable '%s' hides a constant or an outer loop variable", it->name);
  if (b->nloop == MAXVARS) return err_at(b->e, it->loc, "loops nested more than %d deep", MAXVARS);
  for (int v = lo; v <= hi; v++) {
    if (spend(b, it->loc, 1)) return -1;
    b->loops[b->nloop].name = it->name; b->loops[b->nloop].v = v; b->nloop++;
    int rc = stmt_for(b, s, level + 1);
    b->nloop--;
    if (rc) return -1;
  }
  return 0;
}

static int build_stmt(Builder *b, const Ast *s) {
  switch (s->kind) {
  case S_CONST: {
    if (lookup_var(b, s->name) || graph_find(b->g, s->name)) return err_at(b->e, s->loc, "'%s' is already defined", s->name);
    if (b->nconst == 256) return err_at(b->e, s->loc, "more than 256 constants");
    double v;
    if (const_eval(b, s->kids[0], &v)) return -1;
    b->consts[b->nconst].name = s->name; b->consts[b->nconst].v = v; b->nconst++;
    return 0;
  }
  case S_INPUT: case S_PARAM: return stmt_decl(b, s);
  case S_ASSIGN: return stmt_assign(b, s);
  case S_OUTPUT: return stmt_output(b, s);
  case S_FOR: return stmt_for(b, s, 0);
  case S_BLOCK: return stmt_block(b, s);
  case S_SETTINGS: return !strcmp(s->name, "data") ? stmt_data(b, s) : stmt_train(b, s);
  default: return err_at(b->e, s->loc, "unexpected statement");
  }
}

static int build_body(Builder *b, const Ast *body) {
  for (int i = 0; i < body->nkids; i++) if (build_stmt(b, body->kids[i])) return -1;
  return 0;
}

/* Draws the random initial values of params declared with `~`. */
static void init_random(Graph *g, unsigned long seed) {
  Rng r; rng_seed(&r, seed);
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind == N_OP || !n->iattr[0]) continue;
    for (long j = 0; j < n->val.n; j++)
      n->val.data[j] = n->iattr[0] == 1 ? n->fattr[0] + (n->fattr[1] - n->fattr[0]) * rng_uniform(&r)
                     : n->iattr[0] == 3 ? 2 * n->fattr[0] + (n->fattr[1] - n->fattr[0]) * (rng_uniform(&r) + rng_uniform(&r))
                                        : n->fattr[0] + n->fattr[1] * rng_normal(&r);
    if (n->iattr[1] && n->val.rank == 2) {         /* an embedding's padding row stays zero */
      int d = n->val.shape[1];
      memset(n->val.data + (long)(n->iattr[1] - 1) * d, 0, sizeof(float) * d);
    }
    memcpy(n->init.data, n->val.data, sizeof(float) * n->val.n);
  }
}

void model_reinit(Model *m, unsigned long seed) { m->seed = seed; init_random(m->g, seed); }

Model *model_parse(const char *path, const char *src, size_t len, Err *e) {
  Model *m = xcalloc(1, sizeof *m);
  m->path = xstrdup(path);
  m->seed = 1111;
  m->ast = parse_model(m->path, src, len, e);
  if (!m->ast) { model_free(m); return NULL; }
  Builder b; memset(&b, 0, sizeof b);
  b.m = m; b.e = e; b.root = m->ast;
  b.max_bytes = model_max_bytes;
  if (!(b.max_bytes > 0)) {            /* physical memory, or less under `ulimit -v` */
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    b.max_bytes = pages > 0 && psz > 0 ? (double)pages * psz : 1e300;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (double)rl.rlim_cur < b.max_bytes)
      b.max_bytes = (double)rl.rlim_cur;
  }
  b.g = m->g = graph_new(m->path);
  if (build_body(&b, m->ast)) { model_free(m); return NULL; }
  m->seed = m->seed ? m->seed : 1111;
  if (m->g->n == 0) { err_at(e, (Loc){ m->path, 0, 0 }, "the model defines nothing (expected statements such as 'input x = 1')"); model_free(m); return NULL; }
  init_random(m->g, m->seed);
  return m;
}

Model *model_load(const char *path, Err *e) {
  size_t len;
  char *src = read_file(path, &len, e);
  if (!src) return NULL;
  Model *m = model_parse(path, src, len, e);
  if (m) m->src = src; else free(src);
  return m;
}

void model_free(Model *m) {
  if (!m) return;
  if (m->data) {
    corpus_sents_free(&m->data->train); corpus_sents_free(&m->data->valid);
    corpus_sents_free(&m->data->src_train); corpus_sents_free(&m->data->src_valid);
    corpus_vocab_free(&m->data->vocab);
    free(m->data);
  }
  for (int i = 0; i < m->nblocks; i++) { free(m->blocks[i].name); free(m->blocks[i].params); }
  free(m->blocks);
  graph_free(m->g);
  ast_free(m->ast);
  free(m->src); free(m->path);
  free(m);
}

Node *model_output(const Model *m) { return m->g->nout ? m->g->outputs[0] : NULL; }

/* Text from the command line, fit for a one-line message: at most 60
** bytes, anything but printable ASCII shown as '?'. */
static const char *printable(char *buf, size_t sz, const char *s, size_t len) {
  size_t k = 0;
  for (size_t i = 0; i < len && k + 4 < sz; i++) {
    if (k == 60) { memcpy(buf + k, "...", 3); k += 3; break; }
    buf[k++] = s[i] >= 32 && s[i] < 127 ? s[i] : '?';
  }
  buf[k] = 0;
  return buf;
}

int model_set(Model *m, const char *assign, Err *e) {
  const char *eq = strchr(assign, '=');
  char shown[80];
  if (!eq || eq == assign)
    return err_set(e, "--set %s: error: expected NAME=VALUE, e.g. --set x=2 or --set 'W=[[1,0],[0,1]]'",
                   printable(shown, sizeof shown, assign, strlen(assign)));
  for (const char *p = assign; p < eq; p++)
    if (*p <= 32 || *p >= 127)
      return err_set(e, "--set %s: error: '%s' is not a name (no spaces or control bytes before '=')",
                     printable(shown, sizeof shown, assign, eq - assign), shown);
  if (eq - assign > 200) return err_set(e, "--set %s: error: name longer than 200 characters", printable(shown, sizeof shown, assign, eq - assign));
  char *name = strndup(assign, eq - assign);
  char *what = xasprintf("--set %s", name);
  int rc = -1;
  Node *n = graph_find(m->g, name);
  if (!n) { err_set(e, "--set %s: error: no input or param named '%s' in %s", name, name, m->path); goto out; }
  if (n->kind != N_INPUT && n->kind != N_PARAM) { err_set(e, "--set %s: error: '%s' is computed, not an input or param", name, name); goto out; }
  Ast *a = parse_expr_string(what, eq + 1, e);
  if (!a) goto out;
  Tensor t;
  if (literal_tensor(a, &t, e)) { ast_free(a); goto out; }
  ast_free(a);
  if (!tensor_same_shape(&t, &n->val)) {
    char s1[64], s2[64];
    err_set(e, "--set %s: error: '%s' is %s, the value given is %s", name, name, shape_str(&n->val, s1, sizeof s1), shape_str(&t, s2, sizeof s2));
    free(t.data); goto out;
  }
  memcpy(n->val.data, t.data, sizeof(float) * t.n);
  free(t.data);
  rc = 0;
out:
  free(name); free(what);
  return rc;
}

/* ---- sequence models: data, blocks, and their calls ------------------------ */

static const char *str_arg(Builder *b, const Ast *s, const char *key, int required) {
  for (int i = 0; i < s->nkids; i++) {
    const Ast *k = s->kids[i];
    if (k->kind == A_KW && !strcmp(k->name, key)) {
      if (k->kids[0]->kind != A_STR) { err_at(b->e, k->kids[0]->loc, "'%s' needs a file name in quotes", key); return NULL; }
      return k->kids[0]->name;
    }
  }
  if (required) err_at(b->e, s->loc, "'data' needs %s = \"FILE\"", key);
  return NULL;
}

/* A corpus message ("FILE:L: error: ..."), said to come from the statement;
** one without a file ("error: out of memory") is located at the statement. */
static int data_error(Builder *b, const Ast *s, const char *msg) {
  if (!strncmp(msg, "error: ", 7)) return err_at(b->e, s->loc, "%s", msg + 7);
  return err_set(b->e, "%s (named by the 'data' statement at %s:%d:%d%s)", msg, s->loc.file, s->loc.line, s->loc.col,
                 strstr(msg, "cannot open") ? "; paths are relative to the current directory" : "");
}

/* Translation pairs source sentence i with target sentence i: the files
** must hold as many; the message names the first sentence left alone. */
static int pair_check(Builder *b, const Ast *s, const Sents *src, const Sents *tgt) {
  if (src->n == tgt->n) return 0;
  const Sents *more = src->n > tgt->n ? src : tgt, *less = more == src ? tgt : src;
  char msg[GR_ERRMAX];
  snprintf(msg, sizeof msg, "%s:%ld: error: sentence %ld has no partner: %s has %ld sentences, %s has %ld "
           "(source and target files pair line by line)", more->file, more->line[less->n], less->n + 1,
           src->file, src->n, tgt->file, tgt->n);
  return data_error(b, s, msg);
}

/* data train = "...", valid = "..." [, src_train = "...", src_valid = "..."]
** Reads the corpus, defines the constant V and the token inputs:
**   x, y          [T, B]   inputs and targets (ids)
**   src, src_len  [S, B], [B]  with src_train (translation mode)     */
static int stmt_data(Builder *b, const Ast *s) {
  if (b->m->data) return err_at(b->e, s->loc, "only one 'data' statement");
  for (int i = 0; i < s->nkids; i++) {
    const Ast *k = s->kids[i];
    if (k->kind != A_KW || (strcmp(k->name, "train") && strcmp(k->name, "valid") && strcmp(k->name, "src_train") && strcmp(k->name, "src_valid")))
      return err_at(b->e, k->loc, "'data' takes train = \"FILE\", valid = \"FILE\", src_train = \"FILE\", src_valid = \"FILE\"");
  }
  const char *tr = str_arg(b, s, "train", 1), *va = tr ? str_arg(b, s, "valid", 1) : NULL;
  if (!tr || !va) return -1;
  const char *str = str_arg(b, s, "src_train", 0), *sva = str_arg(b, s, "src_valid", 0);
  if (b->e->set) return -1;
  if (!str != !sva) return err_at(b->e, s->loc, "translation data needs both src_train and src_valid");
  ModelData *d = b->m->data = xcalloc(1, sizeof *d);
  d->loc = s->loc;
  d->translation = str != NULL;
  char msg[GR_ERRMAX];
  if (corpus_vocab_init(&d->vocab, msg, sizeof msg) ||
      corpus_read(tr, &d->vocab, 1, &d->train, msg, sizeof msg) ||
      (str && corpus_read(str, &d->vocab, 1, &d->src_train, msg, sizeof msg)) ||
      corpus_read(va, &d->vocab, 0, &d->valid, msg, sizeof msg) ||
      (sva && corpus_read(sva, &d->vocab, 0, &d->src_valid, msg, sizeof msg)))
    return data_error(b, s, msg);
  if (str && (pair_check(b, s, &d->src_train, &d->train) || pair_check(b, s, &d->src_valid, &d->valid))) return -1;
  if (b->nconst == 256) return err_at(b->e, s->loc, "more than 256 constants");
  b->consts[b->nconst].name = "V"; b->consts[b->nconst].v = d->vocab.n; b->nconst++;
  const char *names[] = { "x", "y", "src", "src_len" };
  for (int i = 0; i < (d->translation ? 4 : 2); i++) {
    if (graph_find(b->g, names[i])) return err_at(b->e, s->loc, "'data' defines '%s', which is already defined", names[i]);
    Tensor t; int sh[2] = { 1, 1 };
    tensor_shape(&t, i == 3 ? 1 : 2, sh);
    float z[1] = { 0 }; t.data = z;
    Node *n = graph_leaf(b->g, N_INPUT, names[i], s->loc, &t);
    n->flags |= NF_NOGRAD;
  }
  return 0;
}

/* train sgd(lr = 20, clip = 0.25, decay = 4), batch = 20, ...: kept for the
** trainer, which reads and checks it; the seed is needed now, for init. */
static int stmt_train(Builder *b, const Ast *s) {
  if (b->m->train) return err_at(b->e, s->loc, "only one 'train' statement");
  b->m->train = s;
  const Ast *seed = NULL;
  for (int i = 0; i < s->nkids; i++) if (s->kids[i]->kind == A_KW && !strcmp(s->kids[i]->name, "seed")) seed = s->kids[i]->kids[0];
  if (seed) {
    int v;
    if (int_eval(b, seed, 0, 2147483647, "seed", &v)) return -1;
    b->m->seed = (unsigned long)v;
  }
  return 0;
}

static int num_kw(Builder *b, const Ast *call, const char *key, double lo, double hi, double dflt, int required, double *out) {
  const Ast *v = kwarg(call, key);
  if (!v) {
    if (required) return err_at(b->e, call->loc, "'%s' needs %s = ...", call->name, key);
    *out = dflt; return 0;
  }
  if (const_eval(b, v, out)) return -1;
  if (*out < lo || *out > hi) return err_at(b->e, v->loc, "%s must be from %g to %g, got %g", key, lo, hi, *out);
  return 0;
}

static Node *block_param(Builder *b, Block *bl, const char *what, int layer, int rows, int cols, Loc loc) {
  char name[300];
  if (layer) snprintf(name, sizeof name, "%s.%s[%d]", bl->name, what, layer);
  else snprintf(name, sizeof name, "%s.%s", bl->name, what);
  Tensor t; int sh[2] = { rows, cols };
  if (tensor_shape(&t, cols ? 2 : 1, sh)) { err_at(b->e, loc, "'%s' is too large", name); return NULL; }
  t.data = xcalloc(t.n, sizeof(float));
  Node *n = graph_leaf(b->g, N_PARAM, name, loc, &t);
  free(t.data);
  float bound = 1.0f / sqrtf((float)(bl->kind && !strcmp(what, "W_c") ? 2 * bl->hidden : bl->hidden));
  /* PyTorch's default init: U(-1/sqrt(H), 1/sqrt(H)); its two LSTM biases
  ** b_ih + b_hh are one bias here, so that one is a sum of two draws.  It
  ** also trains like the two: each of them gets the whole gradient, so SGD
  ** moves their sum twice as far and the clip norm counts it twice
  ** (sgd_mult, read by train.c's step). */
  n->iattr[0] = !strcmp(what, "b") ? 3 : 1; n->fattr[0] = -bound; n->fattr[1] = bound;
  n->sgd_mult = !strcmp(what, "b") ? 2 : 1;
  bl->params[bl->nparams++] = n;
  return n;
}

/* block NAME = lstm(in = D, hidden = H, layers = L, dropout = p)
**            | attn_lstm(...)   (Luong input-feeding attention decoder)   */
static int stmt_block(Builder *b, const Ast *s) {
  const Ast *c = s->kids[0];
  int kind = !strcmp(c->name, "lstm") ? BLOCK_LSTM : !strcmp(c->name, "attn_lstm") ? BLOCK_ATTN_LSTM : 0;
  if (!kind) return err_at(b->e, c->loc, "unknown block '%s' (known: lstm, attn_lstm)", c->name);
  if (lookup_var(b, s->name) || graph_find(b->g, s->name)) return err_at(b->e, s->loc, "'%s' is already defined", s->name);
  for (int i = 0; i < b->m->nblocks; i++) if (!strcmp(b->m->blocks[i].name, s->name)) return err_at(b->e, s->loc, "block '%s' is already defined", s->name);
  for (int i = 0; i < c->nkids; i++) {
    const Ast *k = c->kids[i];
    if (k->kind != A_KW || (strcmp(k->name, "in") && strcmp(k->name, "hidden") && strcmp(k->name, "layers") && strcmp(k->name, "dropout")))
      return err_at(b->e, k->loc, "'%s' takes in = N, hidden = N, layers = N, dropout = p", c->name);
  }
  double in, hid, layers, p;
  if (num_kw(b, c, "in", 1, 1 << 16, 0, 1, &in) || num_kw(b, c, "hidden", 1, 1 << 16, 0, 1, &hid) ||
      num_kw(b, c, "layers", 1, 16, 1, 0, &layers) || num_kw(b, c, "dropout", 0, 0.99, 0, 0, &p)) return -1;
  if (in != floor(in) || hid != floor(hid) || layers != floor(layers)) return err_at(b->e, c->loc, "in, hidden and layers must be whole numbers");
  /* all of the block's weights are promised before any is allocated */
  double elems = layers * (4 * hid * hid + 4 * hid) + 4 * hid * (in + (kind == BLOCK_ATTN_LSTM ? hid : 0)) +
                 4 * hid * hid * (layers - 1) + (kind == BLOCK_ATTN_LSTM ? 3 * hid * hid : 0);
  double widest = 4 * hid * fmax(hid, in + (kind == BLOCK_ATTN_LSTM ? hid : 0));
  if (widest > (double)GR_MAXELEMS)
    return err_at(b->e, c->loc, "block '%s' would have a weight matrix of %.3g elements, more than the limit of %ld", s->name, widest, GR_MAXELEMS);
  if (charge(b, c->loc, s->name, (long)elems, 3)) return -1;   /* value, gradient, initial copy */
  b->m->blocks = xrealloc(b->m->blocks, sizeof *b->m->blocks * (b->m->nblocks + 1));
  Block *bl = &b->m->blocks[b->m->nblocks++];
  memset(bl, 0, sizeof *bl);
  bl->name = xstrdup(s->name); bl->kind = kind; bl->in = (int)in; bl->hidden = (int)hid;
  bl->layers = (int)layers; bl->dropout = (float)p; bl->loc = s->loc;
  bl->params = xcalloc(3 * bl->layers + 2, sizeof *bl->params);
  int H = bl->hidden;
  for (int l = 0; l < bl->layers; l++) {
    int inl = l ? H : bl->in + (kind == BLOCK_ATTN_LSTM ? H : 0);
    if (!block_param(b, bl, "W_ih", l + 1, 4 * H, inl, s->loc) || !block_param(b, bl, "W_hh", l + 1, 4 * H, H, s->loc) ||
        !block_param(b, bl, "b", l + 1, 4 * H, 0, s->loc)) return -1;
  }
  if (kind == BLOCK_ATTN_LSTM)
    if (!block_param(b, bl, "W_in", 0, H, H, s->loc) || !block_param(b, bl, "W_c", 0, H, 2 * H, s->loc)) return -1;
  return 0;
}

static Node *one_arg(Builder *b, const Ast *call, const char *key) {
  const Ast *v = kwarg(call, key);
  return v ? build_expr(b, v) : NULL;
}

/* embed(E, ids, pad = 0), dropout(x, p), cross_entropy(logits, y, ignore = 0),
** and calls of blocks: enc(x, lengths = n), dec(x, init = enc_out),
** att(x, memory = enc_out, lengths = n, init = enc_out). */
static Node *build_seq_call(Builder *b, const Ast *a) {
  NodeList args = {0};
  Node *r = NULL;
  Block *bl = NULL;
  for (int i = 0; i < b->m->nblocks; i++) if (!strcmp(b->m->blocks[i].name, a->name)) bl = &b->m->blocks[i];
  const char *named = bl ? (bl->kind == BLOCK_LSTM ? "lengths init" : "memory lengths init") :
                      !strcmp(a->name, "embed") ? "pad" : !strcmp(a->name, "cross_entropy") ? "ignore" : "";
  if (call_args_named(b, a, &args, named)) goto done;
  if (!strcmp(a->name, "embed") || !strcmp(a->name, "cross_entropy")) {
    int emb = a->name[0] == 'e';
    if (args.n != 2) { err_at(b->e, a->loc, emb ? "'embed' takes (E, ids)" : "'cross_entropy' takes (logits, targets)"); goto done; }
    double pad;
    if (num_kw(b, a, emb ? "pad" : "ignore", -1, 1 << 30, -1, 0, &pad)) goto done;
    if (!(args.v[1]->flags & NF_NOGRAD)) { err_at(b->e, a->loc, "'%s' needs token ids (x, y, src from 'data') as its second argument", a->name); goto done; }
    int ia[4] = { (int)pad }; float fa[4] = { 0 };
    r = op_node_attr(b, emb ? OP_EMBED : OP_XENT, a->loc, 2, args.v, ia, fa);
    if (!r) goto done;
    if (emb && pad >= 0 && args.v[0]->kind == N_PARAM && args.v[0]->val.rank == 2 && pad < args.v[0]->val.shape[0]) {
      int d = args.v[0]->val.shape[1];               /* the padding row starts (and, as input, stays) zero */
      memset(args.v[0]->val.data + (long)pad * d, 0, sizeof(float) * d);
      args.v[0]->iattr[1] = (int)pad + 1;            /* init_random keeps it zero */
    }
  } else if (!strcmp(a->name, "dropout")) {
    double p;
    if (args.n != 2 || !is_const(b, a->kids[1])) { err_at(b->e, a->loc, "'dropout' takes (x, p) with p a number"); goto done; }
    if (const_eval(b, a->kids[1], &p)) goto done;
    if (p < 0 || p >= 1) { err_at(b->e, a->kids[1]->loc, "dropout p must be in [0, 1), got %g", p); goto done; }
    int ia[4] = { 0 }; float fa[4] = { (float)p };
    r = op_node_attr(b, OP_DROPOUT, a->loc, 1, args.v, ia, fa);
  } else if (bl) {
    if (args.n != 1) { err_at(b->e, a->loc, "block '%s' takes one input sequence (and named arguments)", bl->name); goto done; }
    Node *len = one_arg(b, a, "lengths"), *init = one_arg(b, a, "init"), *mem = one_arg(b, a, "memory");
    if (b->e->set) goto done;
    if (len && !(len->flags & NF_NOGRAD)) { err_at(b->e, a->loc, "lengths must be src_len from 'data'"); goto done; }
    if (init && init->op != OP_LSTM) { err_at(b->e, a->loc, "init must be the output of an lstm block (its final state starts this one)"); goto done; }
    NodeList in = {0};
    nl_push(&in, args.v[0]);
    if (bl->kind == BLOCK_LSTM) {
      for (int i = 0; i < bl->nparams; i++) nl_push(&in, bl->params[i]);
      if (len) nl_push(&in, len);
      if (init) nl_push(&in, init);
      int ia[4] = { bl->layers, bl->hidden, (len ? 1 : 0) | (init ? 2 : 0) | (len ? 0 : 4), bl->in };
      float fa[4] = { bl->dropout };
      r = op_node_attr(b, OP_LSTM, a->loc, in.n, in.v, ia, fa);
    } else {
      if (!mem || !len || !init) { free(in.v); err_at(b->e, a->loc, "an attn_lstm block needs memory = ..., lengths = src_len and init = ..."); goto done; }
      nl_push(&in, mem); nl_push(&in, len); nl_push(&in, init);
      for (int i = 0; i < bl->nparams; i++) nl_push(&in, bl->params[i]);
      int ia[4] = { bl->layers, bl->hidden, 0, bl->in };
      float fa[4] = { bl->dropout };
      r = op_node_attr(b, OP_ATTN_DEC, a->loc, in.n, in.v, ia, fa);
    }
    free(in.v);
  }
done:
  free(args.v);
  return r;
}
