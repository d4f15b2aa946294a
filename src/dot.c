/*
** dot.c — Graphviz drawings of a graph (--dot, --svg, --png, --html).
**
** Value nodes (inputs, params, every named result) are boxes; operations
** are circles with the op's symbol (×, +, ReLU, @, ·, softmax); anonymous
** intermediate results are just the edge between two circles.  Plumbing
** (the hidden stack before a list softmax, item picks, aliases) is drawn as
** plain edges, so a softmax over α[1..T] fans straight out to β[1..T].
** Where operand order matters (-, ÷, @, ⊕, the blocks' inputs) each edge
** into the circle carries a small label: 1, 2 or the input's role.
** --no-ops drops the circles: edges run straight between value nodes;
** --no-params leaves the weights out.
** With values, each box shows name, value and gradient on three rows,
** float32 rounding noise as 0 (graph_noise); a
** tensor of more than 4 numbers shows its shape and its first numbers.
** --max-index K keeps a large unrolled graph readable: names with an index
** above K are left out.  A graph whose longest chain of drawn boxes and
** circles is more than DEEP long is laid out top to bottom and tighter
** (smaller gaps and circles), so that it fits a screen's width and scrolls
** down instead of growing sideways.
**
** Every drawn element has a stable SVG id for the --html page: box n<id>,
** circle o<id>, constant c<id> (id = the node's index in the graph); every
** edge into a node's circle or box has class "in<id>".
*/
#include "show.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEEP 24      /* a longer chain of boxes and circles runs top to bottom */

/* A double-quoted DOT string's body. */
static void esc(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    fputc(*s, f);
  }
}
/* Text inside an HTML-like label. */
static void esc_html(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '&') fputs("&amp;", f);
    else if (*s == '<') fputs("&lt;", f);
    else if (*s == '>') fputs("&gt;", f);
    else if (*s == '"') fputs("&quot;", f);
    else fputc(*s, f);
  }
}

static int is_box(const Node *n) { return n->kind != N_OP || n->name; }
/* Ops that draw no circle of their own. */
static int is_plumbing(const Node *n) {
  return n->kind == N_OP && ((n->flags & NF_HIDDEN) || n->op == OP_PICK || (n->op == OP_ADDN && n->nin == 1));
}

/* The label on the edge of input j into u, where operand order matters;
** NULL where it does not (+, ×, ·, one input, the blocks' weights). */
static const char *operand_name(const Node *u, int j) {
  static const char *num[] = { "1", "2", "3", "4", "5", "6", "7", "8", "9" };
  switch (u->op) {
  case OP_SUB: case OP_DIV: return num[j];
  case OP_MATMUL: return j < 2 ? num[j] : "bias";
  case OP_CONCAT: return u->nin > 1 && j < 9 ? num[j] : NULL;
  case OP_EMBED: return j ? "ids" : "table";
  case OP_XENT: return j ? "targets" : "logits";
  case OP_ATTN_DEC: {
    static const char *role[] = { "input", "memory", "lengths", "init" };
    return j < 4 ? role[j] : NULL;
  }
  case OP_LSTM: {
    int w = 1 + 3 * u->iattr[0];            /* after x and the weights: lengths, then init */
    if (j == 0) return "input";
    if (j < w) return NULL;
    return (j == w && (u->iattr[2] & 1)) ? "lengths" : "init";
  }
  default: return NULL;
  }
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

typedef struct Drawing {
  FILE *f;
  const DotOpts *o;
  char *visible;       /* per node id */
  double noise;        /* rounding noise of the graph's values (graph_noise): printed as 0 */
} Drawing;

static void edge(Drawing *d, char kind, int from, int to_id, const char *to, const char *label) {
  fprintf(d->f, "  %c%d -> %s [class=\"in%d\"", kind, from, to, to_id);
  if (label) {
    fputs(", label=\"", d->f); esc(d->f, label); fputs("\"", d->f);
  }
  fputs("];\n", d->f);
}

/* Where the edges into a consumer (node to_id, drawn as `to`) start from,
** for input x: the box of a value node, the circle of an anonymous op, or
** (through plumbing and in --no-ops mode) further upstream. */
static void sources(Drawing *d, const Node *x, int to_id, const char *to, const char *label, int depth) {
  FILE *f = d->f;
  const DotOpts *o = d->o;
  if (depth > 10000 || !d->visible[x->id]) return;
  if (x->kind == N_CONST) {          /* drawn where used: a constant nobody uses is not drawn */
    if (o->no_ops) return;
    char v[64];
    fprintf(f, "  c%d [id=\"c%d\", shape=plaintext, label=\"", x->id, x->id);
    esc(f, tensor_str_noise(&x->val, v, sizeof v, d->noise));
    fputs("\"];\n", f);
    edge(d, 'c', x->id, to_id, to, label);
    return;
  }
  if (x->kind == N_PARAM && o->no_params) return;
  if (is_box(x)) { edge(d, 'n', x->id, to_id, to, label); return; }
  if ((x->flags & NF_HIDDEN) || o->no_ops) {
    for (int j = 0; j < x->nin; j++) sources(d, x->in[j], to_id, to, label, depth + 1);
    return;
  }
  edge(d, 'o', x->id, to_id, to, label);
}

/* A value for a box: as the trace writes it when small (with its fraction),
** else "[3,4] 0.1, -2, 0.5, ..." (shape, then the first numbers). */
static void short_value(FILE *f, const Tensor *t, double noise) {
  char v[96];
  if (!t->data) { fputs("(no value)", f); return; }
  if (t->n <= 4) {
    esc_html(f, tensor_str_noise(t, v, sizeof v, noise));
    if (t->rank == 0 && fabsf(t->data[0]) > noise && *frac_str(t->data[0], v, sizeof v)) { fputs(" = ", f); esc_html(f, v); }
    return;
  }
  esc_html(f, shape_str(t, v, sizeof v));
  for (int i = 0; i < 3; i++) {
    fmt_num(v, sizeof v, fabsf(t->data[i]) <= noise ? 0.0f : t->data[i]);
    fprintf(f, "%s%s", i ? ", " : " ", v);
  }
  fputs(", …", f);
}

static void box(Drawing *d, const Node *n, int have_grads) {
  FILE *f = d->f;
  const char *fill = n->kind == N_INPUT ? "#dbeafe" : n->kind == N_PARAM ? "#fde68a" : "#ffffff";
  fprintf(f, "  n%d [id=\"n%d\", shape=box, style=filled, fillcolor=\"%s\"%s, ", n->id, n->id, fill,
          (n->flags & NF_OUTPUT) ? ", peripheries=2" : "");
  if (!d->o->values) { fputs("label=\"", f); esc(f, n->label); fputs("\"];\n", f); return; }
  /* name, value, grad: three rows (the --html page finds the value and the
  ** gradient as the box's second and third text) */
  fputs("margin=0.04, label=<<TABLE BORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"1\"><TR><TD><B>", f);
  esc_html(f, n->label);
  fputs("</B></TD></TR><HR/><TR><TD>", f);
  short_value(f, &n->val, d->noise);
  fputs("</TD></TR>", f);
  if (have_grads && n->grad.data) {
    Tensor gt = n->grad; gt.rank = n->val.rank; memcpy(gt.shape, n->val.shape, sizeof gt.shape); gt.n = n->val.n;
    fputs("<HR/><TR><TD><FONT COLOR=\"#b91c1c\">grad ", f);
    short_value(f, &gt, d->noise);
    fputs("</FONT></TD></TR>", f);
  }
  fputs("</TABLE>>];\n", f);
}

/* The op's circle.  Transpose is drawn as a letter with a superscript T:
** the one-character ᵀ is too small to read. */
static void circle(Drawing *d, const Node *n) {
  FILE *f = d->f;
  fprintf(f, "  o%d [id=\"o%d\", shape=circle, style=filled, fillcolor=\"#e5e7eb\", ", n->id, n->id);
  if (n->op == OP_TRANSPOSE) fputs("label=<A<SUP>T</SUP>>];\n", f);
  else { fputs("label=\"", f); esc(f, gr_ops[n->op].symbol); fputs("\"];\n", f); }
}

void dot_print(FILE *f, Model *m, const DotOpts *o, int have_grads) {
  Graph *g = m->g;
  Drawing d = { f, o, xcalloc(g->n ? g->n : 1, 1), graph_noise(g) };
  /* a named node is shown by its indices; an anonymous one if any input is;
  ** depth: the longest chain of drawn boxes and circles ending at a node */
  int hidden = 0, deepest = 0;
  int *depth = xcalloc(g->n ? g->n : 1, sizeof(int));
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    int v = 1;
    if (o->max_index > 0) {
      if (n->name) v = small_indices(n->name, o->max_index);
      else if (n->nin) { v = 0; for (int j = 0; j < n->nin; j++) v |= d.visible[n->in[j]->id]; }
    }
    d.visible[i] = (char)v;
    hidden += !v && n->name;
    for (int j = 0; j < n->nin; j++) if (depth[n->in[j]->id] > depth[i]) depth[i] = depth[n->in[j]->id];
    if (v && n->kind != N_CONST && !(n->kind == N_PARAM && o->no_params))
      depth[i] += is_box(n) + (!o->no_ops && n->kind == N_OP && !is_plumbing(n));
    if (depth[i] > deepest) deepest = depth[i];
  }
  free(depth);
  int large = deepest > DEEP;
  fprintf(f, "// %s — drawn by graphrun; render with: dot -Tsvg\n", m->path);
  /* a large graph runs top to bottom: it scrolls down instead of sideways */
  fprintf(f, "digraph graphrun {\n  rankdir=%s;\n", large ? "TB" : "LR");
  fputs("  node [fontname=\"Helvetica\", fontsize=11];\n"
        "  edge [arrowsize=0.6, fontsize=8, fontcolor=\"#6b7280\"];\n", f);
  if (large)
    fputs("  ranksep=0.15; nodesep=0.08;\n  node [margin=\"0.04,0.02\", height=0.3, width=0.3];\n", f);
  if (hidden)
    fprintf(f, "  note [shape=note, label=\"%d nodes with an index above %d are not drawn\"];\n", hidden, o->max_index);
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    char dst[32];
    if (!d.visible[i]) continue;
    if (n->kind == N_CONST) continue;
    if (n->kind != N_OP) { if (!(n->kind == N_PARAM && o->no_params)) box(&d, n, have_grads); continue; }
    if (n->flags & NF_HIDDEN) continue;
    int drawn_op = !o->no_ops && !is_plumbing(n);
    if (drawn_op || is_box(n)) {
      if (drawn_op) circle(&d, n);
      snprintf(dst, sizeof dst, "%c%d", drawn_op ? 'o' : 'n', n->id);
      for (int j = 0; j < n->nin; j++) sources(&d, n->in[j], n->id, dst, drawn_op ? operand_name(n, j) : NULL, 0);
      if (drawn_op && is_box(n)) fprintf(f, "  o%d -> n%d [class=\"in%d\"];\n", n->id, n->id, n->id);
    }
    if (is_box(n)) box(&d, n, have_grads);
  }
  fputs("}\n", f);
  free(d.visible);
}
