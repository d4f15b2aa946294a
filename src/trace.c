/*
** trace.c — the worked solution a student could hand in (--trace) and the
** machine-readable dump (--json).
**
** The trace reads a graph that has already run forward (and backward): it
** prints each node's equation with names, then with numbers, then the
** result; then each node's gradient as the sum, over the nodes that use it,
** of the upstream gradient times the local rule (ops.c's rule functions).
*/
#include "show.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VALW 96     /* widest value shown inline in a trace */

const char *frac_str(double v, char *buf, size_t sz) {
  buf[0] = 0;
  if (!isfinite(v) || v == floor(v) || fabs(v) > 1e6) return buf;
  for (int q = 2; q <= 64; q++) {
    double p = v * q, r = floor(p + 0.5);
    if (fabs(p - r) < 1e-5 * q && r != 0) { snprintf(buf, sz, "%.0f/%d", r, q); return buf; }
  }
  return buf;
}

/* The rounding noise of the traced pass (graph_noise): values this small
** print as 0, the value that exact arithmetic gives. */
static double noise;
static char *val(const Tensor *t, char *buf) { return tensor_str_noise(t, buf, VALW, noise); }

/* Input k of n as written: a hidden stack shows its items. */
static void operand(const Node *n, int k, int numeric, char *buf, size_t sz) {
  const Node *x = n->in[k];
  if ((x->flags & NF_HIDDEN) && x->op == OP_STACK) {
    int o = 0;
    for (int j = 0; j < x->nin && o < (int)sz; j++) {
      char v[VALW + 4];
      o += snprintf(buf + o, sz - o, "%s%s", j ? ", " : "", numeric ? val(&x->in[j]->val, v) : x->in[j]->label);
    }
    return;
  }
  if (numeric) val(&x->val, buf); else snprintf(buf, sz, "%s", x->label);
}

/* "w1 * x" (numeric: "0.25 * 1"), as the op's row spells it. */
static void equation(const Node *n, int numeric, char *buf, size_t sz) {
  char a[400], b[400];
  const OpDef *d = &gr_ops[n->op];
  if (d->infix) {
    operand(n, 0, numeric, a, sizeof a); operand(n, 1, numeric, b, sizeof b);
    snprintf(buf, sz, "%s %s %s", a, d->spelling, b);
    return;
  }
  if (d->spelling && !isalpha((unsigned char)d->spelling[0])) {      /* prefix: -a */
    operand(n, 0, numeric, a, sizeof a); snprintf(buf, sz, "%s%s", d->spelling, a); return;
  }
  if (n->op == OP_ADDN) {
    int o = 0;
    for (int j = 0; j < n->nin && o < (int)sz; j++) {
      operand(n, j, numeric, a, sizeof a);
      o += snprintf(buf + o, sz - o, "%s%s", j ? " + " : "", a);
    }
    return;
  }
  if (n->op == OP_PICK) {
    operand(n, 0, numeric, a, sizeof a);
    snprintf(buf, sz, "item %d of %s", n->iattr[0] + 1, a);
    return;
  }
  int o = snprintf(buf, sz, "%s(", ops_word(n->op));
  for (int j = 0; j < n->nin && o < (int)sz; j++) {
    operand(n, j, numeric, a, sizeof a);
    o += snprintf(buf + o, sz - o, "%s%s", j ? ", " : "", a);
  }
  if (o < (int)sz) snprintf(buf + o, sz - o, ")");
}

static int width_of(Model *m) {
  int w = 2;
  for (int i = 0; i < m->g->n; i++) {
    Node *n = m->g->nodes[i];
    if (n->kind == N_CONST || (n->flags & NF_HIDDEN)) continue;
    int k = (int)strlen(n->label);
    if (k > w) w = k;
  }
  return w > 24 ? 24 : w;
}

static void print_value_line(FILE *f, const Tensor *t) {
  char v[VALW + 4], fr[32];
  fputs(val(t, v), f);
  if (t->rank == 0 && fabsf(t->data[0]) > noise && *frac_str(t->data[0], fr, sizeof fr)) fprintf(f, "  (= %s)", fr);
}

static int all_scalar(const Node *n) {
  if (n->val.rank) return 0;
  for (int j = 0; j < n->nin; j++) if (n->in[j]->val.rank) return 0;
  return 1;
}

/* The lines being written: each goes to the sink with its node and phase. */
typedef struct Lines {
  FILE *f;             /* an open_memstream over buf */
  char *buf;
  size_t len, start;   /* the stream's size; where the current line starts */
  TraceSink sink;
  void *ctx;
} Lines;

/* Ends the line written to l->f so far and hands it to the sink. */
static void line_end(Lines *l, const Node *n, TracePhase phase) {
  fflush(l->f);                      /* buf[len] is a NUL after a flush */
  l->sink(l->ctx, n, phase, l->buf + l->start);
  l->start = l->len;
}

/* One line of the backward pass: d out / d n as the sum over n's users. */
static void grad_line(Lines *l, Graph *g, Node *n, Node *out, const char *need) {
  FILE *f = l->f;
  const char *o = out->label;
  int i = n->id;
  if (!n->grad.data || (n->flags & NF_HIDDEN)) return;
  char sym[2048] = "", num[2048] = "";
  int ks = 0, kn = 0, scalar = n->val.rank == 0;
  for (int c = i + 1; c <= out->id; c++) {
    Node *u = g->nodes[c];
    if (!need[c] || !u->grad.data || (u->flags & NF_HIDDEN)) continue;   /* a hidden stack: its user's term */
    for (int j = 0; j < u->nin; j++) {
      const Node *x = u->in[j];
      if (x != n) {
        /* an input reached through a hidden stack: credit the stack's user */
        if (!((x->flags & NF_HIDDEN) && x->op == OP_STACK)) continue;
        int hit = 0;
        for (int k = 0; k < x->nin; k++) hit |= x->in[k] == n;
        if (!hit) continue;
      }
      char up[128], upv[VALW + 4], r[512];
      snprintf(up, sizeof up, "d%s/d%s", o, u->label);
      if (gr_ops[u->op].rule) gr_ops[u->op].rule(u, j, up, 0, r, sizeof r);
      else snprintf(r, sizeof r, "(backprop of %s)", ops_word(u->op));
      if (x != n) snprintf(r + strlen(r), sizeof r - strlen(r), " (the part for %s)", n->label);
      ks += snprintf(sym + ks, sizeof sym - ks > 0 ? sizeof sym - ks : 0, "%s%s", ks ? " + " : "", r);
      if (scalar && all_scalar(u) && x == n && gr_ops[u->op].rule) {
        gr_ops[u->op].rule(u, j, val(&u->grad, upv), 1, r, sizeof r);
        kn += snprintf(num + kn, sizeof num - kn > 0 ? sizeof num - kn : 0, "%s%s", kn ? " + " : "", r);
      } else scalar = 0;
    }
  }
  fprintf(f, "  d%s/d%s = %s", o, n->label, sym);
  if (scalar && kn) fprintf(f, " = %s", num);
  fprintf(f, " = ");
  print_value_line(f, &n->grad);
  line_end(l, n, TRACE_BWD);
}

void trace_lines(Model *m, Node *out, int have_grads, TraceSink sink, void *ctx) {
  Graph *g = m->g;
  int w = width_of(m);
  noise = graph_noise(g);
  Lines lines = { NULL, NULL, 0, 0, sink, ctx }, *l = &lines;
  FILE *f = l->f = open_memstream(&l->buf, &l->len);
  if (!f) { perror("graphrun: open_memstream"); exit(1); }
  fprintf(f, "Forward pass (%s)", m->path);
  line_end(l, NULL, TRACE_HEAD);
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind == N_CONST || (n->flags & NF_HIDDEN)) continue;
    if (n->kind != N_OP) {
      fprintf(f, "  %-8s %-*s = ", n->kind == N_INPUT ? "input" : "param", w, n->label);
      print_value_line(f, &n->val);
      line_end(l, n, TRACE_FWD);
      continue;
    }
    char at[32];
    snprintf(at, sizeof at, "line %d", n->loc.line);
    fprintf(f, "  %-8s %-*s = ", at, w, n->label);
    char sym[1024], num[1024];
    equation(n, 0, sym, sizeof sym);
    equation(n, 1, num, sizeof num);
    fprintf(f, "%s", sym);
    if (strcmp(sym, num)) fprintf(f, " = %s", num);
    fprintf(f, " = ");
    print_value_line(f, &n->val);
    line_end(l, n, TRACE_FWD);
  }
  if (!have_grads || !out) goto done;

  /* Backprop: each needed node's gradient, last node first. */
  const char *o = out->label;
  line_end(l, NULL, TRACE_HEAD);
  fprintf(f, "Backward pass (gradients of %s, last node first)", o);
  line_end(l, NULL, TRACE_HEAD);
  const char *need = g->need;        /* which nodes reach out: graph_backward left it */
  fprintf(f, "  d%s/d%s = 1", o, o);
  line_end(l, out, TRACE_BWD);
  /* A leaf's line follows the line of its first consumer (the last of its
  ** consumers to be printed), so b2, w2, b1, w1, x come as one reads them. */
  int *first_use = xmalloc(sizeof(int) * g->n);
  for (int i = 0; i < g->n; i++) first_use[i] = -1;
  for (int i = out->id; i >= 0; i--)
    if (need[i]) for (int j = 0; j < g->nodes[i]->nin; j++) first_use[g->nodes[i]->in[j]->id] = i;
  for (int i = out->id; i >= 0; i--) {
    Node *n = g->nodes[i];
    if (n->kind != N_OP || !need[i]) continue;
    if (n != out) grad_line(l, g, n, out, need);
    for (int j = 0; j < n->nin; j++) {
      Node *x = n->in[j];
      if (x->kind == N_OP || first_use[x->id] != i) continue;
      int dup = 0;
      for (int k = 0; k < j; k++) dup |= n->in[k] == x;
      if (!dup) grad_line(l, g, x, out, need);
    }
  }
  free(first_use);

  line_end(l, NULL, TRACE_HEAD);
  fprintf(f, "Gradients of %s", o);
  line_end(l, NULL, TRACE_HEAD);
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if ((n->kind != N_INPUT && n->kind != N_PARAM) || !n->grad.data) continue;
    char lab[256];
    snprintf(lab, sizeof lab, "d%s/d%s", o, n->label);
    fprintf(f, "  %-*s = ", w + (int)strlen(o) + 3, lab);
    print_value_line(f, &n->grad);
    line_end(l, n, TRACE_SUM);
  }
done:
  fclose(l->f);
  free(l->buf);
}

void trace_to_file(void *f, const Node *n, TracePhase phase, const char *line) {
  fputs(line, f);
  fputc('\n', f);
}

void trace_print(FILE *f, Model *m, Node *out, int have_grads) {
  trace_lines(m, out, have_grads, trace_to_file, f);
}

/* ---- JSON: values, gradients and shapes of every named node ------------- */

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 32) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}
static void json_num(FILE *f, float v) {
  if (!isfinite(v)) fputs("null", f);
  else fprintf(f, "%.9g", (double)v);
}
static void json_rec(FILE *f, const Tensor *t, int d, long off, long stride) {
  if (d == t->rank) { json_num(f, t->data[off]); return; }
  long inner = stride / (t->shape[d] ? t->shape[d] : 1);
  fputc('[', f);
  for (int i = 0; i < t->shape[d]; i++) { if (i) fputs(", ", f); json_rec(f, t, d + 1, off + i * inner, inner); }
  fputc(']', f);
}
static void json_tensor(FILE *f, const Tensor *t) { json_rec(f, t, 0, 0, t->n); }

void json_print(FILE *f, Model *m, int have_grads) {
  Graph *g = m->g;
  for (int pass = 0; pass < 2; pass++) {
    fputs(pass ? ",\n \"grads\": " : "{\"values\": ", f);
    if (pass && !have_grads) { fputs("null", f); break; }
    fputc('{', f);
    int first = 1;
    for (int i = 0; i < g->n; i++) {
      Node *n = g->nodes[i];
      if (!n->name) continue;
      const Tensor *t = pass ? &n->grad : &n->val;
      /* null: no gradient reaches it (the output does not depend on it) */
      int none = pass && (!t->data || !g->need || !g->need[n->id] || (n->flags & NF_NOGRAD));
      if (!pass && !t->data) continue;
      fputs(first ? "\n  " : ",\n  ", f); first = 0;
      json_str(f, n->name); fputs(": ", f);
      if (none) { fputs("null", f); continue; }
      Tensor shown = *t;
      if (pass) { shown.rank = n->val.rank; memcpy(shown.shape, n->val.shape, sizeof shown.shape); shown.n = n->val.n; }
      json_tensor(f, &shown);
    }
    fputs(first ? "}" : "\n }", f);
  }
  fputs(",\n \"shapes\": {", f);
  int first = 1;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (!n->name || !n->val.data) continue;
    fputs(first ? "\n  " : ",\n  ", f); first = 0;
    json_str(f, n->name); fputs(": [", f);
    for (int k = 0; k < n->val.rank; k++) fprintf(f, "%s%d", k ? ", " : "", n->val.shape[k]);
    fputc(']', f);
  }
  fputs(first ? "}" : "\n }", f);
  fputs("}\n", f);
}
