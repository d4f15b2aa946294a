/*
** build.c — the language core of the builder: gives the syntax tree its
** meaning as a graph.
**
** Walks the statements in order with an environment of constants and loop
** variables.  Names are keyed as written: "z5", "q[1,2]" (indices are
** evaluated: q[h,t] inside `for h in 1..2, t in 1..2` makes q[1,1] ...).
** A statement may only use names defined above it, so creation order is a
** topological order.  Shapes are checked as each node is made, and the
** memory the model will need is promised (and refused) before it is taken.
** The sequence statements (data, train, block) and calls are build_seq.c's.
*/
#include "build.h"
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Most loop steps, names expanded and nodes made while building one model:
** a nest of loops that would unroll further is refused, never run. */
#define MAXWORK 2000000L

double model_max_bytes = 0;

int build_spend(Builder *b, Loc loc, long k) {
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
int build_charge(Builder *b, Loc loc, const char *what, long elems, int copies) {
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

void build_push(NodeList *l, Node *x) {
  if (l->n == l->cap) { l->cap = l->cap ? l->cap * 2 : 8; l->v = xrealloc(l->v, sizeof *l->v * l->cap); }
  l->v[l->n++] = x;
}

/* ---- constants and indices ---------------------------------------------- */

int build_define(Builder *b, const char *name, double v, Loc loc) {
  if (b->nconst == MAXCONSTS) return err_at(b->e, loc, "more than %d constants", MAXCONSTS);
  b->consts[b->nconst].name = name; b->consts[b->nconst].v = v; b->nconst++;
  return 0;
}

const Var *build_var(const Builder *b, const char *name) {
  for (int i = b->nloop - 1; i >= 0; i--) if (!strcmp(b->loops[i].name, name)) return &b->loops[i];
  for (int i = 0; i < b->nconst; i++) if (!strcmp(b->consts[i].name, name)) return &b->consts[i];
  return NULL;
}

/* Is the tree a compile-time number (numbers, constants, + - * / neg, sqrt)? */
int build_is_const(const Builder *b, const Ast *a) {
  switch (a->kind) {
  case A_NUM: return 1;
  case A_REF: return a->nkids == 0 && build_var(b, a->name);
  case A_NEG: return build_is_const(b, a->kids[0]);
  case A_BIN: return strchr("+-*/", a->op) && build_is_const(b, a->kids[0]) && build_is_const(b, a->kids[1]);
  case A_CALL: return !strcmp(a->name, "sqrt") && a->nkids == 1 && build_is_const(b, a->kids[0]);
  default: return 0;
  }
}

int build_const(Builder *b, const Ast *a, double *out) {
  double x, y;
  switch (a->kind) {
  case A_NUM: *out = a->num; return 0;
  case A_REF: {
    const Var *v = a->nkids == 0 ? build_var(b, a->name) : NULL;
    if (!v) return err_at(b->e, a->loc, "'%s' is not a constant here (expected a number or a constant)", a->name);
    *out = v->v; return 0;
  }
  case A_NEG: if (build_const(b, a->kids[0], &x)) return -1; *out = -x; return 0;
  case A_BIN:
    if (!strchr("+-*/", a->op)) return err_at(b->e, a->loc, "'%c' is not allowed in a constant expression", a->op);
    if (build_const(b, a->kids[0], &x) || build_const(b, a->kids[1], &y)) return -1;
    switch (a->op) {
    case '+': *out = x + y; break;
    case '-': *out = x - y; break;
    case '*': *out = x * y; break;
    default:
      if (y == 0) return err_at(b->e, a->loc, "division by zero in a constant expression");
      *out = x / y;
    }
    return 0;
  case A_CALL:
    if (strcmp(a->name, "sqrt") || a->nkids != 1) break;
    if (build_const(b, a->kids[0], &x)) return -1;
    if (x < 0) return err_at(b->e, a->loc, "sqrt of a negative number (%g) in a constant expression", x);
    *out = sqrt(x); return 0;
  default:
    break;
  }
  return err_at(b->e, a->loc, "expected a number or a constant expression");
}

int build_int(Builder *b, const Ast *a, long lo, long hi, const char *what, int *out) {
  double v;
  if (build_const(b, a, &v)) return -1;
  if (v != floor(v) || v < lo || v > hi)
    return err_at(b->e, a->loc, "%s must be a whole number from %ld to %ld, got %g", what, lo, hi, v);
  *out = (int)v;
  return 0;
}
/* The bounds of lo..hi (kids 0 and 1 of a range, a loop or a comprehension). */
static int range_eval(Builder *b, const Ast *r, int *lo, int *hi) {
  return build_int(b, r->kids[0], -MAXINDEX, MAXINDEX, "a range bound", lo) ||
         build_int(b, r->kids[1], -MAXINDEX, MAXINDEX, "a range bound", hi);
}

/* ---- literals ----------------------------------------------------------- */

typedef struct Lit { Builder *b; int rank, shape[GR_MAXDIM]; float *data; long n, cap; } Lit;

static int lit_walk(Lit *L, const Ast *a, int depth) {
  if (a->kind != A_LIST) {
    if (depth != L->rank && L->n > 0) return err_at(L->b->e, a->loc, "ragged literal: expected a list here, got a number");
    if (L->n == 0) L->rank = depth;
    double v;
    if (build_const(L->b, a, &v)) return -1;
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
  int nidx = ref->nkids, lo[MAXIDX], hi[MAXIDX];
  if (nidx > MAXIDX) return err_at(b->e, ref->loc, "more than %d indices", MAXIDX);
  long total = 1;
  for (int i = 0; i < nidx; i++) {
    const Ast *x = ref->kids[i];
    if (x->kind == A_RANGE) {
      if (range_eval(b, x, &lo[i], &hi[i])) return -1;
      if (hi[i] < lo[i]) return err_at(b->e, x->loc, "empty range %d..%d", lo[i], hi[i]);
    } else {
      if (build_int(b, x, -MAXINDEX, MAXINDEX, "an index", &lo[i])) return -1;
      hi[i] = lo[i];
    }
    total *= hi[i] - lo[i] + 1;
    if (total > 100000) return err_at(b->e, ref->loc, "a range naming more than 100000 nodes");
  }
  if (build_spend(b, ref->loc, total)) return -1;
  char **keys = xmalloc(sizeof *keys * total);
  int cur[MAXIDX];
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
  if (build_var(b, ref->name))
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
  if (graph_shape(n, b->e)) return NULL;
  if (build_spend(b, n->loc, 1) || build_charge(b, n->loc, n->name ? n->name : gr_ops[n->op].name, n->val.n, 2)) return NULL;  /* value, gradient */
  return n;
}
static Node *op_node(Builder *b, OpKind op, const char *name, Loc loc, int nin, Node **in) {
  return checked(b, graph_add(b->g, N_OP, op, name, loc, nin, in));
}
/* The same for ops whose shape rule reads attributes set first. */
Node *build_op(Builder *b, OpKind op, Loc loc, int nin, Node **in, const int *ia, const float *fa) {
  Node *n = graph_add(b->g, N_OP, op, NULL, loc, nin, in);
  memcpy(n->iattr, ia, sizeof n->iattr);
  memcpy(n->fattr, fa, sizeof n->fattr);
  return checked(b, n);
}

static Node *const_node(Builder *b, double v, Loc loc) {
  if (build_spend(b, loc, 1)) return NULL;
  Tensor t; tensor_shape(&t, 0, NULL);
  float f = (float)v; t.data = &f;
  Node *n = graph_leaf(b->g, N_CONST, NULL, loc, &t);
  char num[32]; fmt_num(num, sizeof num, v);
  free(n->label); n->label = xstrdup(num);
  return n;
}

static int build_list(Builder *b, const Ast *a, NodeList *out);

int build_word_in(const char *word, const char *words) {
  size_t k = strlen(word);
  for (const char *w = words; w && *w;) {
    size_t n = strcspn(w, " ");
    if (n == k && !strncmp(w, word, k)) return 1;
    w += n + (w[n] == ' ');
  }
  return 0;
}

int build_args(Builder *b, const Ast *call, NodeList *args, const char *named) {
  for (int i = 0; i < call->nkids; i++) {
    const Ast *x = call->kids[i];
    if (x->kind == A_KW) {
      if (!build_word_in(x->name, named))
        return err_at(b->e, x->loc, "'%s' takes no named argument '%s'%s%s", call->name, x->name,
                      named ? " (it takes: " : "", named ? named : "");
      continue;
    }
    if (build_list(b, x, args)) return -1;
  }
  return 0;
}
static int call_args(Builder *b, const Ast *call, NodeList *args) { return build_args(b, call, args, NULL); }

const Ast *build_kwarg(const Ast *call, const char *name) {
  for (int i = 0; i < call->nkids; i++)
    if (call->kids[i]->kind == A_KW && !strcmp(call->kids[i]->name, name)) return call->kids[i]->kids[0];
  return NULL;
}
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

Node *build_expr(Builder *b, const Ast *a) {
  if (build_is_const(b, a)) {
    double v;
    if (build_const(b, a, &v)) return NULL;
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
    if (build_spend(b, a->loc, 1) || lit_build(b, a, &t)) return NULL;
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
  if (a->kind == A_REF && a->nkids > 0 && !build_is_const(b, a)) {
    char **keys; int k = expand_ref(b, a, &keys);
    if (k < 0) return -1;
    for (int i = 0; i < k; i++) {
      Node *n = lookup_node(b, a, keys[i]);
      if (!n) { free_keys(keys, k); return -1; }
      build_push(out, n);
    }
    free_keys(keys, k);
    return 0;
  }
  if (a->kind == A_COMPR) {
    int lo, hi;
    if (range_eval(b, a, &lo, &hi)) return -1;
    if (hi < lo) return err_at(b->e, a->loc, "empty range %d..%d", lo, hi);
    if (b->nloop == MAXVARS) return err_at(b->e, a->loc, "loops nested more than %d deep", MAXVARS);
    for (int v = lo; v <= hi; v++) {
      if (build_spend(b, a->loc, 1)) return -1;
      b->loops[b->nloop].name = a->name; b->loops[b->nloop].v = v; b->nloop++;
      Node *n = build_expr(b, a->kids[2]);
      b->nloop--;
      if (!n) return -1;
      build_push(out, n);
    }
    return 0;
  }
  Node *n = build_expr(b, a);
  if (!n) return -1;
  build_push(out, n);
  return 0;
}

/* ---- statements --------------------------------------------------------- */

static int define(Builder *b, const Ast *target, const char *key) {
  if (graph_find(b->g, key)) {
    Node *old = graph_find(b->g, key);
    return err_at(b->e, target->loc, "'%s' is already defined (at %d:%d)", key, old->loc.line, old->loc.col);
  }
  if (build_var(b, target->name)) return err_at(b->e, target->loc, "'%s' is a constant or loop variable", target->name);
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
    for (int i = 0; i < rank; i++) if (build_int(b, shape->kids[i], 1, INT_MAX, "a dimension", &dims[i])) goto out;
    if (tensor_shape(&t, rank, dims)) {
      double tot = 1; for (int i = 0; i < rank; i++) tot *= dims[i];
      err_at(b->e, shape->loc, "shape has %.3g elements, more than the limit of %ld", tot, GR_MAXELEMS);
      goto out;
    }
    if (build_charge(b, shape->loc, keys[0], t.n, 3)) goto out;     /* value, gradient, initial copy */
  }
  if (init && init->op == '~') {
    if (!shape) { err_at(b->e, init->loc, "a random initialiser needs a shape: %s: [n, m] ~ ...", keys[0]); goto out; }
    int kind = !strcmp(init->name, "uniform") ? 1 : !strcmp(init->name, "normal") ? 2 : 0;
    if (!kind) { err_at(b->e, init->loc, "unknown initialiser '%s' (known: uniform(lo, hi), normal(mean, std))", init->name); goto out; }
    if (init->nkids != 2) { err_at(b->e, init->loc, "'%s' takes two numbers", init->name); goto out; }
    double p0, p1;
    if (build_const(b, init->kids[0], &p0) || build_const(b, init->kids[1], &p1)) goto out;
    t.data = xcalloc(t.n ? t.n : 1, sizeof(float));
    Node *n = graph_leaf(b->g, s->kind == S_INPUT ? N_INPUT : N_PARAM, keys[0], s->loc, &t);
    free(t.data);
    n->iattr[0] = kind; n->fattr[0] = (float)p0; n->fattr[1] = (float)p1;
    rc = 0; goto out;
  }
  Tensor v = {0};
  if (init) {
    if (!build_is_const(b, init) && init->kind != A_LIST) { err_at(b->e, init->loc, "a declaration's value must be a number or a list of numbers"); goto out; }
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
  int ranged = 0;
  for (int i = 0; i < target->nkids; i++) ranged |= target->kids[i]->kind == A_RANGE;
  if (!ranged) { rc = name_node(b, v, keys[0], s->loc); goto out; }
  /* beta[1..T, h, t] = softmax(...): one name per item of the first axis,
  ** however many (r[1..1] = M names M's one row); an anonymous right side
  ** is labelled as the whole list, beta[1..2,1,1] */
  if (v->kind == N_OP && !v->name) {
    char lab[512]; int o = snprintf(lab, sizeof lab, "%s[", target->name);
    for (int i = 0; i < target->nkids && o < (int)sizeof lab; i++) {
      const Ast *x = target->kids[i];
      int lo = 0, hi = 0;
      if (x->kind == A_RANGE) range_eval(b, x, &lo, &hi);
      else build_int(b, x, -MAXINDEX, MAXINDEX, "an index", &lo);
      o += x->kind == A_RANGE ? snprintf(lab + o, sizeof lab - o, "%s%d..%d", i ? "," : "", lo, hi)
                              : snprintf(lab + o, sizeof lab - o, "%s%d", i ? "," : "", lo);
    }
    if (o < (int)sizeof lab - 1) { free(v->label); v->label = xasprintf("%s]", lab); }
  }
  if (v->val.rank == 0 || v->val.shape[0] != k) {
    char sh[64];
    err_at(b->e, s->kids[1]->loc, "the right side has shape %s, but the left side names %d item%s", shape_str(&v->val, sh, sizeof sh), k, k == 1 ? "" : "s");
    goto out;
  }
  for (int i = 0; i < k; i++) {
    Node *p = op_node(b, OP_PICK, keys[i], s->loc, 1, &v);
    if (!p) goto out;
    p->iattr[0] = i;
    if (graph_shape(p, b->e)) goto out;
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

static int stmt_for(Builder *b, const Ast *s, int level) {
  const Ast *iters = s->kids[0];
  if (level == iters->nkids) return build_body(b, s->kids[1]);
  const Ast *it = iters->kids[level];
  int lo, hi;
  if (range_eval(b, it, &lo, &hi)) return -1;
  if (hi - lo > 100000) return err_at(b->e, it->loc, "a loop of more than 100000 steps");
  if (build_var(b, it->name)) return err_at(b->e, it->loc, "loop variable '%s' hides a constant or an outer loop variable", it->name);
  if (b->nloop == MAXVARS) return err_at(b->e, it->loc, "loops nested more than %d deep", MAXVARS);
  for (int v = lo; v <= hi; v++) {
    if (build_spend(b, it->loc, 1)) return -1;
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
    double v;
    if (build_var(b, s->name) || graph_find(b->g, s->name)) return err_at(b->e, s->loc, "'%s' is already defined", s->name);
    return build_const(b, s->kids[0], &v) || build_define(b, s->name, v, s->loc);
  }
  case S_INPUT: case S_PARAM: return stmt_decl(b, s);
  case S_ASSIGN: return stmt_assign(b, s);
  case S_OUTPUT: return stmt_output(b, s);
  case S_FOR: return stmt_for(b, s, 0);
  case S_BLOCK: return build_block(b, s);
  case S_SETTINGS: return !strcmp(s->name, "data") ? build_data(b, s) : build_train(b, s);
  default: return err_at(b->e, s->loc, "unexpected statement");
  }
}

static int build_body(Builder *b, const Ast *body) {
  for (int i = 0; i < body->nkids; i++) if (build_stmt(b, body->kids[i])) return -1;
  return 0;
}

int build_model(Model *m, const Ast *root, Err *e) {
  Builder b; memset(&b, 0, sizeof b);
  b.m = m; b.e = e; b.root = root;
  b.max_bytes = model_max_bytes;
  if (!(b.max_bytes > 0)) {            /* physical memory, or less under `ulimit -v` */
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    b.max_bytes = pages > 0 && psz > 0 ? (double)pages * psz : 1e300;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (double)rl.rlim_cur < b.max_bytes)
      b.max_bytes = (double)rl.rlim_cur;
  }
  b.g = m->g;
  m->train = (TrainCfg){ .lr = 20, .clip = 0.25, .decay = 4, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .batch = 20, .bptt = 35, .replicas = 1, .epochs = 10, .seed = m->seed };
  if (build_body(&b, root) || build_train_check(&b)) return -1;
  if (!m->train.vbatch) m->train.vbatch = m->data && m->data->translation ? 60 : 1;
  return 0;
}

