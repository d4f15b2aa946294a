/*
** dot.c — Graphviz drawings of a graph (--dot).
**
** Value nodes (inputs, params, every named result) are boxes; operations
** are circles with the op's symbol (×, +, ReLU, @, ·, softmax); anonymous
** intermediate results are just the edge between two circles.  Plumbing
** (the hidden stack before a list softmax, item picks, aliases) is drawn as
** plain edges, so a softmax over α[1..T] fans straight out to β[1..T].
** --no-ops drops the circles: edges run straight between value nodes;
** --no-params leaves the weights out.
** With values, each box shows `name | value | grad`, float32 rounding noise
** as 0 (graph_noise).  --max-index K keeps a
** large unrolled graph readable: names with an index above K are left out.
*/
#include "show.h"
#include <stdlib.h>
#include <string.h>

static void esc(FILE *f, const char *s) {
  for (; *s; s++) {
    if (strchr("{}|<>\"\\", *s)) fputc('\\', f);
    fputc(*s, f);
  }
}

static int is_box(const Node *n) { return n->kind != N_OP || n->name; }
/* Ops that draw no circle of their own. */
static int is_plumbing(const Node *n) {
  return n->kind == N_OP && ((n->flags & NF_HIDDEN) || n->op == OP_PICK || (n->op == OP_ADDN && n->nin == 1));
}

/* --max-index K: is every index of the name at most K?  ("q[2,11]" -> no) */
static int small_indices(const char *name, int k) {
  const char *p = name ? strchr(name, '[') : NULL;
  while (p && *p && *p != ']') {
    p++;
    long v = strtol(p, (char **)&p, 10);
    if (v > k) return 0;
  }
  return 1;
}
static char *visible;   /* per node id, for the drawing being made */
static double noise;    /* its rounding noise (graph_noise): printed as 0 */

/* Where the edges into a consumer start from, for input x: the box of a
** value node, the circle of an anonymous op, or (through plumbing and in
** --no-ops mode) further upstream.  Calls emit() for each source. */
static void sources(const Node *x, const DotOpts *o, FILE *f, const char *dst, int depth) {
  if (depth > 10000 || !visible[x->id]) return;
  if (x->kind == N_CONST) {          /* drawn where used: a constant nobody uses is not drawn */
    if (o->no_ops) return;
    char v[64];
    fprintf(f, "  c%d [shape=plaintext, label=\"", x->id); esc(f, tensor_str_noise(&x->val, v, sizeof v, noise)); fputs("\"];\n", f);
    fprintf(f, "  c%d -> %s;\n", x->id, dst);
    return;
  }
  if (x->kind == N_PARAM && o->no_params) return;
  if (is_box(x)) { fprintf(f, "  n%d -> %s;\n", x->id, dst); return; }
  if ((x->flags & NF_HIDDEN) || o->no_ops) {
    for (int j = 0; j < x->nin; j++) sources(x->in[j], o, f, dst, depth + 1);
    return;
  }
  fprintf(f, "  o%d -> %s;\n", x->id, dst);
}

static void box(FILE *f, const Node *n, const DotOpts *o, int have_grads) {
  const char *style = n->kind == N_INPUT ? "fillcolor=\"#dbeafe\"" :
                      n->kind == N_PARAM ? "fillcolor=\"#fde68a\"" : "fillcolor=\"#ffffff\"";
  fprintf(f, "  n%d [shape=%s, style=filled, %s%s, label=\"", n->id, o->values ? "record" : "box", style,
          (n->flags & NF_OUTPUT) ? ", peripheries=2" : "");
  if (o->values) {
    char v[80];
    fputc('{', f); esc(f, n->label); fputs(" | ", f);
    esc(f, tensor_str_noise(&n->val, v, sizeof v, noise));
    if (have_grads && n->grad.data) {
      Tensor gt = n->grad; gt.rank = n->val.rank; memcpy(gt.shape, n->val.shape, sizeof gt.shape); gt.n = n->val.n;
      fputs(" | grad ", f); esc(f, tensor_str_noise(&gt, v, sizeof v, noise));
    }
    fputc('}', f);
  } else esc(f, n->label);
  fputs("\"];\n", f);
}

void dot_print(FILE *f, Model *m, const DotOpts *o, int have_grads) {
  Graph *g = m->g;
  fprintf(f, "// %s — drawn by graphrun --dot; render with: dot -Tsvg\n", m->path);
  fputs("digraph graphrun {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [arrowsize=0.6];\n", f);
  /* a named node is shown by its indices; an anonymous one if any input is */
  visible = xcalloc(g->n ? g->n : 1, 1);
  noise = graph_noise(g);
  int hidden = 0;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    int v = 1;
    if (o->max_index > 0) {
      if (n->name) v = small_indices(n->name, o->max_index);
      else if (n->nin) { v = 0; for (int j = 0; j < n->nin; j++) v |= visible[n->in[j]->id]; }
    }
    visible[i] = (char)v;
    hidden += !v && n->name;
  }
  if (hidden)
    fprintf(f, "  note [shape=note, label=\"%d nodes with an index above %d are not drawn\"];\n", hidden, o->max_index);
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    char dst[32];
    if (!visible[i]) continue;
    if (n->kind == N_CONST) continue;
    if (n->kind != N_OP) { if (!(n->kind == N_PARAM && o->no_params)) box(f, n, o, have_grads); continue; }
    if (n->flags & NF_HIDDEN) continue;
    int drawn_op = !o->no_ops && !is_plumbing(n);
    if (drawn_op) {
      fprintf(f, "  o%d [shape=circle, fixedsize=false, style=filled, fillcolor=\"#e5e7eb\", label=\"", n->id);
      esc(f, gr_ops[n->op].symbol);
      fputs("\"];\n", f);
      snprintf(dst, sizeof dst, "o%d", n->id);
      for (int j = 0; j < n->nin; j++) sources(n->in[j], o, f, dst, 0);
      if (is_box(n)) fprintf(f, "  o%d -> n%d;\n", n->id, n->id);
    } else if (is_box(n)) {
      snprintf(dst, sizeof dst, "n%d", n->id);
      for (int j = 0; j < n->nin; j++) sources(n->in[j], o, f, dst, 0);
    }
    if (is_box(n)) box(f, n, o, have_grads);
  }
  fputs("}\n", f);
  free(visible);
  visible = NULL;
}
