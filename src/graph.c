/*
** graph.c — building the node list, name lookup, and the executor:
** shape inference, forward in creation (= topological) order, and
** reverse-mode backward from a scalar node.
*/
#include "graph.h"
#include "par.h"
#include "seqk.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names: open addressing, string keys -------------------------------- */
typedef struct Names { char **keys; Node **vals; int cap, n; } Names;

static unsigned long hash_str(const char *s) {
  unsigned long h = 1469598103934665603ul;
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ul;
  return h;
}
static void names_put(Names *m, const char *key, Node *v);
static void names_grow(Names *m) {
  Names old = *m;
  m->cap = old.cap ? old.cap * 2 : 64; m->n = 0;
  m->keys = xcalloc(m->cap, sizeof *m->keys); m->vals = xcalloc(m->cap, sizeof *m->vals);
  for (int i = 0; i < old.cap; i++) if (old.keys[i]) names_put(m, old.keys[i], old.vals[i]);
  free(old.keys); free(old.vals);
}
static void names_put(Names *m, const char *key, Node *v) {
  if (2 * (m->n + 1) > m->cap) names_grow(m);
  unsigned long i = hash_str(key) & (m->cap - 1);
  while (m->keys[i] && strcmp(m->keys[i], key)) i = (i + 1) & (m->cap - 1);
  if (!m->keys[i]) { m->keys[i] = (char *)key; m->n++; }
  m->vals[i] = v;
}
static Node *names_get(const Names *m, const char *key) {
  if (!m->cap) return NULL;
  unsigned long i = hash_str(key) & (m->cap - 1);
  while (m->keys[i]) { if (!strcmp(m->keys[i], key)) return m->vals[i]; i = (i + 1) & (m->cap - 1); }
  return NULL;
}

/* ---- construction ------------------------------------------------------- */
Graph *graph_new(const char *file) {
  Graph *g = xcalloc(1, sizeof *g);
  g->file = file;
  g->names = xcalloc(1, sizeof *g->names);
  arena_init(&g->arena, 0);
  return g;
}

void graph_free(Graph *g) {
  if (!g) return;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind != N_OP) { free(n->val.data); free(n->grad.data); }
    free(n->init.data);
    free(n->state);
    free(n->name); free(n->label); free(n->in); free(n);
  }
  free(g->nodes); free(g->outputs); free(g->need);
  free(g->names->keys); free(g->names->vals); free(g->names);
  arena_free(&g->arena);
  free(g);
}

Node *graph_add(Graph *g, NodeKind kind, OpKind op, const char *name, Loc loc, int nin, Node **in) {
  Node *n = xcalloc(1, sizeof *n);
  n->id = g->n; n->kind = kind; n->op = op; n->loc = loc; n->nin = nin;
  if (nin) { n->in = xmalloc(sizeof *n->in * nin); memcpy(n->in, in, sizeof *n->in * nin); }
  if (name) { n->name = xstrdup(name); n->label = xstrdup(name); names_put(g->names, n->name, n); }
  else n->label = xasprintf("tmp%d", g->n);
  if (g->n == g->cap) { g->cap = g->cap ? g->cap * 2 : 64; g->nodes = xrealloc(g->nodes, sizeof *g->nodes * g->cap); }
  g->nodes[g->n++] = n;
  return n;
}

void graph_name(Graph *g, Node *n, const char *name) {
  free(n->name); free(n->label);
  n->name = xstrdup(name); n->label = xstrdup(name);
  names_put(g->names, n->name, n);
}

Node *graph_find(Graph *g, const char *name) { return names_get(g->names, name); }

Node *graph_leaf(Graph *g, NodeKind kind, const char *name, Loc loc, const Tensor *value) {
  Node *n = graph_add(g, kind, OP_LEAF, name, loc, 0, NULL);
  n->val = *value;
  n->val.data = xmalloc(sizeof(float) * (value->n ? value->n : 1));
  memcpy(n->val.data, value->data, sizeof(float) * value->n);
  n->init = n->val;
  n->init.data = xmalloc(sizeof(float) * (value->n ? value->n : 1));
  memcpy(n->init.data, value->data, sizeof(float) * value->n);
  return n;
}

/* ---- execution ---------------------------------------------------------- */
int graph_shape(Node *n, Err *e) {
  if (!gr_ops[n->op].shape(n, e)) return 0;
  if (!e->set) err_at(e, n->loc, "'%s' result would have more than %ld elements", ops_word(n->op), GR_MAXELEMS);
  return -1;
}
int graph_infer(Graph *g, Err *e) {
  for (int i = 0; i < g->n; i++)
    if (g->nodes[i]->kind == N_OP && graph_shape(g->nodes[i], e)) return -1;
  return 0;
}


/* Contract in graph.h: an anonymous node by its expression (ops_describe),
** an input made on another line with that line. */
int graph_report(const Node *n, const Exec *ex, const char *head) {
  char msg[GR_ERRMAX - 100], what[200]; int k = 0;
  k += snprintf(msg + k, sizeof msg - k, "%s", head);
  if (ex->step) k += snprintf(msg + k, sizeof msg - k, " at step %ld", ex->step);
  for (int j = 0; j < n->nin && k < (int)sizeof msg - 80; j++) {
    const Node *x = n->in[j];
    const Tensor *t = &x->val;
    float lo = INFINITY, hi = -INFINITY;
    for (long i = 0; t->data && i < t->n; i++) { if (t->data[i] < lo) lo = t->data[i]; if (t->data[i] > hi) hi = t->data[i]; }
    ops_describe(x, what, sizeof what);
    k += snprintf(msg + k, sizeof msg - k, "%s input '%s'", j ? "," : ";", what);
    if (x->loc.line != n->loc.line && x->loc.line > 0) k += snprintf(msg + k, sizeof msg - k, " (line %d)", x->loc.line);
    if (t->data) k += snprintf(msg + k, sizeof msg - k, " in [%g, %g]", lo, hi);
    else k += snprintf(msg + k, sizeof msg - k, " (only its counted rows were computed)");
  }
  return err_at(ex->err, n->loc, "%s", msg);
}
/* Names the first non-finite value of n, with its inputs' ranges. */
static int report_nonfinite(Node *n, Exec *ex, const char *pass) {
  char what[200], head[300];
  ops_describe(n, what, sizeof what);
  snprintf(head, sizeof head, "%s pass: '%s' (%s) produced NaN or Inf", pass, what, ops_word(n->op));
  return graph_report(n, ex, head);
}
static int all_finite(const Tensor *t) { return seqk_all_finite(t->data, t->n); }

double graph_noise(const Graph *g) {
  double m = 0;
  for (int i = 0; i < g->n; i++) {
    const Node *n = g->nodes[i];
    if (n->flags & NF_DEAD) continue;
    for (int k = 0; k < 2; k++) {
      const Tensor *t = k ? &n->grad : &n->val;
      if (t->data) for (long j = 0; j < n->val.n; j++) if (fabs(t->data[j]) > m && isfinite(t->data[j])) m = fabs(t->data[j]);
    }
  }
  return ldexp(m, -20);
}

int graph_forward(Graph *g, Exec *ex) {
  ex->g = g;
  arena_reset(&g->arena);
  if (graph_infer(g, ex->err)) return -1;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    n->aux[0].data = n->aux[1].data = NULL;
    if (n->kind != N_OP) continue;
    n->grad.data = NULL;
    if (graph_skips(n, ex)) { n->val.data = NULL; continue; }
    n->val.data = arena_floats(&g->arena, n->val.n);
    gr_ops[n->op].forward(n, ex);
    if (ex->err && ex->err->set) return -1;
    if (ex->check_finite && !all_finite(&n->val)) return report_nonfinite(n, ex, "forward");
  }
  return 0;
}

/* graph_fault: tests only. */
static OpKind fault_op = OP_LEAF;
static double fault_factor = 1;
void graph_fault(OpKind op, double factor) { fault_op = op; fault_factor = factor; }

/* n's backward with what it adds to each input's gradient times fault_factor. */
static void backward_faulty(Node *n, Exec *ex) {
  float *before[64];
  int k = n->nin < 64 ? n->nin : 64;
  for (int j = 0; j < k; j++) {
    Node *in = n->in[j];
    before[j] = NULL;
    for (int i = 0; i < j; i++) if (n->in[i] == in) in = NULL;     /* an input may repeat */
    if (!in || !in->grad.data) continue;
    before[j] = xmalloc(sizeof(float) * (in->val.n ? in->val.n : 1));
    memcpy(before[j], in->grad.data, sizeof(float) * in->val.n);
  }
  gr_ops[n->op].backward(n, ex);
  for (int j = 0; j < k; j++) {
    if (!before[j]) continue;
    float *gr = n->in[j]->grad.data;
    for (long i = 0; i < n->in[j]->val.n; i++) gr[i] = (float)(before[j][i] + fault_factor * (gr[i] - before[j][i]));
    free(before[j]);
  }
}

static void grad_shape(Node *n) {
  n->grad.rank = n->val.rank; memcpy(n->grad.shape, n->val.shape, sizeof n->val.shape); n->grad.n = n->val.n;
}
float *graph_grad_array(Node *n) {
  grad_shape(n);
  if (!n->grad.data) n->grad.data = xmalloc(sizeof(float) * (size_t)(n->val.n ? n->val.n : 1));
  return n->grad.data;
}

int graph_backward(Graph *g, Node *out, Exec *ex) {
  ex->g = g;
  if (out->val.rank != 0) {
    char s[64];
    return err_at(ex->err, out->loc, "backprop needs a scalar output, '%s' is %s (use sum(...) for a scalar)",
                  out->label, shape_str(&out->val, s, sizeof s));
  }
  if (g->need_n < g->n) { free(g->need); g->need = xmalloc(g->n); g->need_n = g->n; }   /* once, not per step */
  char *need = g->need;
  memset(need, 0, g->n);
  need[out->id] = 1;
  for (int i = out->id; i >= 0; i--)
    if (need[i]) for (int j = 0; j < g->nodes[i]->nin; j++) need[g->nodes[i]->in[j]->id] = 1;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind == N_CONST || (n->flags & NF_NOGRAD) || !need[i] || (n->kind == N_OP && graph_skips(n, ex))) {
      if (n->kind == N_OP) n->grad.data = NULL;
      else if (n->grad.data) memset(n->grad.data, 0, sizeof(float) * n->val.n);
      continue;
    }
    if (n->kind == N_OP) {
      grad_shape(n);
      n->grad.data = arena_floats(&g->arena, n->val.n);
    } else {
      int zero = n->grad.data && g->grads_zero;     /* the step cleared it */
      graph_grad_array(n);
      if (zero) continue;
    }
    par_zero(n->grad.data, n->val.n);
  }
  g->grads_zero = 0;
  out->grad.data[0] = 1;
  for (int i = out->id; i >= 0; i--) {
    Node *n = g->nodes[i];
    if (!need[i] || n->kind != N_OP || !n->grad.data) continue;
    if (n->op == fault_op) backward_faulty(n, ex);
    else gr_ops[n->op].backward(n, ex);
    if (ex->check_finite)
      for (int j = 0; j < n->nin; j++) {
        const Node *x = n->in[j];
        int lazy = graph_skips(x, ex);      /* then n wrote the gradients of x's inputs */
        for (int k = 0; k < (lazy ? x->nin : 1); k++) {
          const Node *y = lazy ? x->in[k] : x;
          if (y->kind == N_PARAM && ex->params_later) continue;
          if (y->grad.data && !all_finite(&y->grad)) return report_nonfinite(n, ex, "backward");
        }
      }
  }
  return 0;
}

void graph_carry(Graph *g, int on) {
  for (int i = 0; i < g->n; i++)
    if (gr_ops[g->nodes[i]->op].carry) gr_ops[g->nodes[i]->op].carry(g->nodes[i], on);
}

void graph_reorder(Graph *g, const int *rows, int B) {
  for (int i = 0; i < g->n; i++)
    if (gr_ops[g->nodes[i]->op].reorder) gr_ops[g->nodes[i]->op].reorder(g->nodes[i], rows, B);
}
