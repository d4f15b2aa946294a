/*
** ops.c — the op table and the core kernels: elementwise arithmetic with
** broadcasting, products, activations, reductions and list plumbing.
**
** Each op is a row of gr_ops[]: a shape rule (messages name the operator's
** location), a forward kernel, a backward kernel that ADDS into the inputs'
** gradients, and a trace rule that explains the local derivative.
**
** Broadcasting: two operands of an elementwise op must have the same shape,
** or one is a scalar, or one's shape is a suffix of the other's (a bias [m]
** added to rows [n,m]).  In all three cases the smaller operand's element
** for output element i is i % n_small, because tensors are row-major.
*/
#include "graph.h"
#include "ops_seq.h"
#include "ops_attn.h"
#include "ops_tfm.h"
#include "par.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN(k) (n->in[k])
#define V(k) (n->in[k]->val.data)
#define G(k) (n->in[k]->grad.data)

static int shape_err(Node *n, Err *e, const char *want) {
  char a[64], b[64];
  if (n->nin >= 2)
    return err_at(e, n->loc, "'%s' needs %s, got %s and %s", ops_word(n->op), want,
                  shape_str(&IN(0)->val, a, sizeof a), shape_str(&IN(1)->val, b, sizeof b));
  return err_at(e, n->loc, "'%s' needs %s, got %s", ops_word(n->op), want, shape_str(&IN(0)->val, a, sizeof a));
}

/* ---- elementwise binary ------------------------------------------------- */

static int suffix_of(const Tensor *s, const Tensor *t) {   /* s's shape ends t's */
  if (s->rank > t->rank) return 0;
  for (int i = 1; i <= s->rank; i++) if (s->shape[s->rank - i] != t->shape[t->rank - i]) return 0;
  return 1;
}
static int shape_bin(Node *n, Err *e) {
  const Tensor *a = &IN(0)->val, *b = &IN(1)->val;
  const Tensor *big = a->n >= b->n && a->rank >= b->rank ? a : b, *small = big == a ? b : a;
  if (!(small->rank == 0 || suffix_of(small, big)))
    return shape_err(n, e, "operands of the same shape (or a scalar, or a trailing-shape broadcast)");
  return tensor_shape(&n->val, big->rank, big->shape);
}

/* The broadcast operand (scalar or trailing shape) repeats every s elements
** of the full one, so both loops run rows of s without a division. */
#define BINARY(NAME, EXPR)                                                   \
  static void fwd_##NAME(Node *n, Exec *ex) {                               \
    const float *x = V(0), *y = V(1); float *o = n->val.data;               \
    long na = IN(0)->val.n, nb = IN(1)->val.n, N = n->val.n;                \
    if (na == N && nb == N) for (long i = 0; i < N; i++) { float a = x[i], b = y[i]; o[i] = EXPR; } \
    else if (na == N) for (long r = 0; r < N; r += nb) for (long j = 0; j < nb; j++) { float a = x[r + j], b = y[j]; o[r + j] = EXPR; } \
    else for (long r = 0; r < N; r += na) for (long j = 0; j < na; j++) { float a = x[j], b = y[r + j]; o[r + j] = EXPR; } \
  }
BINARY(add, a + b)
BINARY(sub, a - b)
BINARY(mul, a * b)
BINARY(div, a / b)

static void bwd_add(Node *n, Exec *ex) {
  const float *g = n->grad.data; long N = n->val.n;
  for (int k = 0; k < 2; k++) {
    float *d = G(k); long m = IN(k)->val.n;
    if (!d) continue;
    float s = (n->op == OP_SUB && k == 1) ? -1.f : 1.f;
    if (m == N) for (long i = 0; i < N; i++) d[i] += s * g[i];
    else for (long r = 0; r < N; r += m) for (long j = 0; j < m; j++) d[j] += s * g[r + j];
  }
}
static void bwd_mul(Node *n, Exec *ex) {
  const float *g = n->grad.data, *x = V(0), *y = V(1);
  long na = IN(0)->val.n, nb = IN(1)->val.n, N = n->val.n;
  if (G(0)) for (long i = 0; i < N; i++) G(0)[i % na] += g[i] * y[i % nb];
  if (G(1)) for (long i = 0; i < N; i++) G(1)[i % nb] += g[i] * x[i % na];
}
static void bwd_div(Node *n, Exec *ex) {
  const float *g = n->grad.data, *x = V(0), *y = V(1);
  long na = IN(0)->val.n, nb = IN(1)->val.n, N = n->val.n;
  if (G(0)) for (long i = 0; i < N; i++) G(0)[i % na] += g[i] / y[i % nb];
  if (G(1)) for (long i = 0; i < N; i++) { float b = y[i % nb]; G(1)[i % nb] -= g[i] * x[i % na] / (b * b); }
}

/* ---- unary elementwise -------------------------------------------------- */

static int shape_same(Node *n, Err *e) { return tensor_shape(&n->val, IN(0)->val.rank, IN(0)->val.shape); }

#define UNARY(NAME, FEXPR, DEXPR)                                            \
  static void fwd_##NAME(Node *n, Exec *ex) {                               \
    const float *x = V(0); float *o = n->val.data;                          \
    for (long i = 0; i < n->val.n; i++) { float a = x[i]; o[i] = FEXPR; }   \
  }                                                                         \
  static void bwd_##NAME(Node *n, Exec *ex) {                               \
    if (!G(0)) return;                                                      \
    const float *x = V(0), *y = n->val.data, *g = n->grad.data; float *d = G(0); \
    for (long i = 0; i < n->val.n; i++) { float a = x[i], o = y[i]; (void)a; (void)o; d[i] += g[i] * (DEXPR); } \
  }
UNARY(neg, -a, -1.f)
UNARY(relu, a > 0 ? a : 0.f, a > 0 ? 1.f : 0.f)
UNARY(tanh, tanhf(a), 1.f - o * o)
UNARY(sigmoid, 1.f / (1.f + expf(-a)), o * (1.f - o))
UNARY(exp, expf(a), o)
UNARY(log, logf(a), 1.f / a)

/* ---- products ----------------------------------------------------------- */

/* a [..., k] @ b [k, m] or [k]; a [k] @ b [k, m].  Leading dims of a are
** flattened into rows, so [T,B,d] @ [d,V] is one sgemm.  Fused by
** ops_fuse (training runs only; never written in a model file):
** iattr[0] = 1 reads b as stored transposed, [m, k] (for `@ transpose(E)`),
** and a third input [m] is added to every row (for `+ bout`). */
static void mm_dims(const Node *n, int *N, int *K, int *M) {
  const Tensor *a = &IN(0)->val, *b = &IN(1)->val;
  int tb = n->iattr[0];
  *K = b->shape[tb];
  *M = b->rank == 2 ? b->shape[1 - tb] : 1;
  *N = (int)(a->n / (*K ? *K : 1));
}
static int shape_matmul(Node *n, Err *e) {
  const Tensor *a = &IN(0)->val, *b = &IN(1)->val;
  int tb = n->iattr[0];
  if (a->rank == 0 || b->rank == 0) return shape_err(n, e, "matrices or vectors (use '*' for scalars)");
  if (a->rank == 1 && b->rank == 1) return shape_err(n, e, "[n,k] @ [k,m] or [n,k] @ [k] (for two vectors use '.')");
  if (b->rank > 2 || (tb && b->rank != 2) || a->shape[a->rank - 1] != b->shape[tb])
    return shape_err(n, e, "[n,k] @ [k,m] (inner dimensions equal)");
  int sh[GR_MAXDIM], r = 0;
  for (int i = 0; i < a->rank - 1; i++) sh[r++] = a->shape[i];
  if (b->rank == 2) sh[r++] = b->shape[1 - tb];
  if (n->nin == 3 && (IN(2)->val.rank != 1 || b->rank != 2 || IN(2)->val.n != b->shape[1 - tb]))
    return shape_err(n, e, "a bias vector as long as the result's rows");
  return tensor_shape(&n->val, r, sh);
}
static void fwd_matmul(Node *n, Exec *ex) {
  int N, K, M, tb = n->iattr[0]; mm_dims(n, &N, &K, &M);
  if (n->nin == 3) par_gemm_bias(0, tb, N, M, K, V(0), K, V(1), tb ? K : M, V(2), n->val.data, M);
  else par_gemm(0, tb, N, M, K, 1.f, V(0), K, V(1), tb ? K : M, 0.f, n->val.data, M);
}
static void bwd_matmul(Node *n, Exec *ex) {
  int N, K, M, tb = n->iattr[0]; mm_dims(n, &N, &K, &M);
  const float *g = n->grad.data;
  if (G(0)) par_gemm(0, !tb, N, K, M, 1.f, g, M, V(1), tb ? K : M, 1.f, G(0), K);
  if (G(1) && tb) par_gemm(1, 0, M, K, N, 1.f, g, M, V(0), K, 1.f, G(1), K);
  else if (G(1)) par_gemm(1, 0, K, M, N, 1.f, V(0), K, g, M, 1.f, G(1), M);
  if (n->nin == 3 && G(2)) par_colsum(g, N, M, G(2));
}

/* Rewrites, for training runs, `a @ transpose(W)` into a matmul that reads
** W transposed (no copy of W per step), and `(a @ W) + bias` into one
** matmul that starts from the bias rows (no extra pass over the result,
** and its gradient is not copied).  Only anonymous single-use nodes are
** folded; the folded ones are flagged NF_DEAD and skipped.  The numbers are
** the same: the bias is added to each finished dot product either way. */
void ops_fuse(Graph *g) {
  int *uses = xcalloc((size_t)g->n + 1, sizeof *uses);
  for (int i = 0; i < g->n; i++)
    for (int j = 0; j < g->nodes[i]->nin; j++) uses[g->nodes[i]->in[j]->id]++;
#define FOLDABLE(x, OP) ((x)->kind == N_OP && (x)->op == (OP) && uses[(x)->id] == 1 && \
                         !((x)->flags & (NF_OUTPUT | NF_DEAD)) && !(x)->name)
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind != N_OP || (n->flags & NF_DEAD)) continue;
    if (n->op == OP_MATMUL && n->nin == 2 && !n->iattr[0] && FOLDABLE(n->in[1], OP_TRANSPOSE)) {
      n->in[1]->flags |= NF_DEAD;
      n->in[1] = n->in[1]->in[0];
      n->iattr[0] = 1;
    }
    if (n->op != OP_ADD) continue;
    for (int s = 0; s < 2; s++) {
      Node *m = n->in[s], *bias = n->in[1 - s];
      if (!FOLDABLE(m, OP_MATMUL) || m->nin != 2 || m->in[1]->val.rank != 2 || bias->val.rank != 1 ||
          m->val.rank == 0 || bias->val.n != m->val.shape[m->val.rank - 1])
        continue;
      m->flags |= NF_DEAD;
      n->op = OP_MATMUL;
      n->in = xrealloc(n->in, 3 * sizeof *n->in);
      n->in[0] = m->in[0]; n->in[1] = m->in[1]; n->in[2] = bias;
      n->nin = 3;
      n->iattr[0] = m->iattr[0];
      break;
    }
  }
  /* The logits of a cross_entropy, when only it reads them: it computes the
  ** product itself, on the rows it counts (seqop_xent_fwd), in the runs
  ** that ask for it (Exec.fused_loss).  A name does not stop this fold:
  ** only a decoder or a trace reads a name, and they run it unfused. */
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i], *m = n->nin ? n->in[0] : NULL;
    if (n->kind == N_OP && !(n->flags & NF_DEAD) && n->op == OP_XENT && m->kind == N_OP &&
        m->op == OP_MATMUL && uses[m->id] == 1 && !(m->flags & (NF_OUTPUT | NF_DEAD)) &&
        m->in[1]->val.rank == 2 && m->in[0]->val.rank >= 1)
      m->flags |= NF_LAZY;
  }
#undef FOLDABLE
  free(uses);
}

static int shape_dot(Node *n, Err *e) {
  if (!tensor_same_shape(&IN(0)->val, &IN(1)->val) || IN(0)->val.rank == 0)
    return shape_err(n, e, "two vectors of the same length");
  return tensor_shape(&n->val, 0, NULL);
}
static void fwd_dot(Node *n, Exec *ex) {
  double s = 0;
  for (long i = 0; i < IN(0)->val.n; i++) s += (double)V(0)[i] * V(1)[i];
  n->val.data[0] = (float)s;
}
static void bwd_dot(Node *n, Exec *ex) {
  float g = n->grad.data[0];
  for (int k = 0; k < 2; k++) if (G(k)) for (long i = 0; i < IN(k)->val.n; i++) G(k)[i] += g * V(1 - k)[i];
}

/* ---- softmax and reductions --------------------------------------------- */

static int shape_softmax(Node *n, Err *e) {
  if (IN(0)->val.rank == 0) return shape_err(n, e, "a vector or matrix (softmax runs over the last axis)");
  return shape_same(n, e);
}
static void fwd_softmax(Node *n, Exec *ex) {
  int m = IN(0)->val.shape[IN(0)->val.rank - 1];
  long rows = m ? n->val.n / m : 0;
  for (long r = 0; r < rows; r++) {
    const float *x = V(0) + r * m; float *o = n->val.data + r * m;
    float mx = -INFINITY; double s = 0;
    for (int j = 0; j < m; j++) if (x[j] > mx) mx = x[j];
    for (int j = 0; j < m; j++) { o[j] = expf(x[j] - mx); s += o[j]; }
    for (int j = 0; j < m; j++) o[j] = (float)(o[j] / s);
  }
}
static void bwd_softmax(Node *n, Exec *ex) {
  if (!G(0)) return;
  int m = IN(0)->val.shape[IN(0)->val.rank - 1];
  long rows = m ? n->val.n / m : 0;
  for (long r = 0; r < rows; r++) {
    const float *y = n->val.data + r * m, *g = n->grad.data + r * m; float *d = G(0) + r * m;
    double dotp = 0;
    for (int j = 0; j < m; j++) dotp += (double)g[j] * y[j];
    for (int j = 0; j < m; j++) d[j] += y[j] * (float)(g[j] - dotp);
  }
}

static int shape_scalar(Node *n, Err *e) { return tensor_shape(&n->val, 0, NULL); }
static void fwd_sum(Node *n, Exec *ex) {
  double s = 0;
  for (long i = 0; i < IN(0)->val.n; i++) s += V(0)[i];
  n->val.data[0] = (float)s;
}
static void bwd_sum(Node *n, Exec *ex) {
  if (!G(0)) return;
  for (long i = 0; i < IN(0)->val.n; i++) G(0)[i] += n->grad.data[0];
}

/* ---- lists: addn, concat, stack, pick, transpose ------------------------- */

static int shape_list_same(Node *n, Err *e, const char *what) {
  for (int k = 1; k < n->nin; k++)
    if (!tensor_same_shape(&IN(k)->val, &IN(0)->val)) {
      char a[64], b[64];
      return err_at(e, n->loc, "'%s' needs %s, but item 1 is %s and item %d is %s", ops_word(n->op), what,
                    shape_str(&IN(0)->val, a, sizeof a), k + 1, shape_str(&IN(k)->val, b, sizeof b));
    }
  return 0;
}
static int shape_addn(Node *n, Err *e) {
  if (shape_list_same(n, e, "items of one shape")) return -1;
  return shape_same(n, e);
}
static void fwd_addn(Node *n, Exec *ex) {
  float *o = n->val.data;
  memcpy(o, V(0), sizeof(float) * n->val.n);
  for (int k = 1; k < n->nin; k++) for (long i = 0; i < n->val.n; i++) o[i] += V(k)[i];
}
static void bwd_addn(Node *n, Exec *ex) {
  for (int k = 0; k < n->nin; k++) if (G(k)) for (long i = 0; i < n->val.n; i++) G(k)[i] += n->grad.data[i];
}

/* concat along the last axis; a scalar counts as [1] */
static int last_dim(const Tensor *t) { return t->rank ? t->shape[t->rank - 1] : 1; }
static int shape_concat(Node *n, Err *e) {
  const Tensor *a = &IN(0)->val;
  int r = a->rank ? a->rank : 1, total = 0;
  for (int k = 0; k < n->nin; k++) {
    const Tensor *t = &IN(k)->val;
    int same = (t->rank ? t->rank : 1) == r;
    for (int i = 0; same && i < t->rank - 1; i++) same = t->shape[i] == a->shape[i];
    if (!same) {
      char s1[64], s2[64];
      return err_at(e, n->loc, "'concat' joins along the last axis and needs the other axes equal, but item 1 is %s and item %d is %s",
                    shape_str(a, s1, sizeof s1), k + 1, shape_str(t, s2, sizeof s2));
    }
    total += last_dim(t);
  }
  int sh[GR_MAXDIM];
  for (int i = 0; i < r - 1; i++) sh[i] = a->shape[i];
  sh[r - 1] = total;
  return tensor_shape(&n->val, r, sh);
}
static void concat_copy(Node *n, int back) {
  int total = last_dim(&n->val);
  long rows = total ? n->val.n / total : 0;
  int off = 0;
  for (int k = 0; k < n->nin; k++) {
    int m = last_dim(&IN(k)->val);
    if (!back) for (long r = 0; r < rows; r++) memcpy(n->val.data + r * total + off, V(k) + r * m, sizeof(float) * m);
    else if (G(k)) for (long r = 0; r < rows; r++) for (int j = 0; j < m; j++) G(k)[r * m + j] += n->grad.data[r * total + off + j];
    off += m;
  }
}
static void fwd_concat(Node *n, Exec *ex) { concat_copy(n, 0); }
static void bwd_concat(Node *n, Exec *ex) { concat_copy(n, 1); }

static int shape_stack(Node *n, Err *e) {
  if (shape_list_same(n, e, "items of one shape")) return -1;
  const Tensor *a = &IN(0)->val;
  if (a->rank + 1 > GR_MAXDIM) return shape_err(n, e, "items of rank below 4");
  int sh[GR_MAXDIM]; sh[0] = n->nin;
  for (int i = 0; i < a->rank; i++) sh[i + 1] = a->shape[i];
  return tensor_shape(&n->val, a->rank + 1, sh);
}
static void fwd_stack(Node *n, Exec *ex) {
  long m = IN(0)->val.n;
  for (int k = 0; k < n->nin; k++) memcpy(n->val.data + k * m, V(k), sizeof(float) * m);
}
static void bwd_stack(Node *n, Exec *ex) {
  long m = IN(0)->val.n;
  for (int k = 0; k < n->nin; k++) if (G(k)) for (long i = 0; i < m; i++) G(k)[i] += n->grad.data[k * m + i];
}

static int shape_pick(Node *n, Err *e) {
  const Tensor *a = &IN(0)->val;
  if (a->rank == 0) return shape_err(n, e, "a vector or matrix to split into items");
  if (n->iattr[0] < 0 || n->iattr[0] >= a->shape[0]) {
    char s[64];
    return err_at(e, n->loc, "item %d does not exist: the value has shape %s", n->iattr[0] + 1, shape_str(a, s, sizeof s));
  }
  return tensor_shape(&n->val, a->rank - 1, a->shape + 1);
}
static void fwd_pick(Node *n, Exec *ex) { memcpy(n->val.data, V(0) + n->iattr[0] * n->val.n, sizeof(float) * n->val.n); }
static void bwd_pick(Node *n, Exec *ex) {
  if (!G(0)) return;
  float *d = G(0) + n->iattr[0] * n->val.n;
  for (long i = 0; i < n->val.n; i++) d[i] += n->grad.data[i];
}

static int shape_transpose(Node *n, Err *e) {
  const Tensor *a = &IN(0)->val;
  if (a->rank != 2) return shape_err(n, e, "a matrix");
  int sh[2] = { a->shape[1], a->shape[0] };
  return tensor_shape(&n->val, 2, sh);
}
/* In 32 x 32 tiles, so both sides stay in cache (training folds the tied
** output layer's transpose into its matmul, ops_fuse; this is for the rest). */
static void fwd_transpose(Node *n, Exec *ex) {
  transpose_to(IN(0)->val.shape[0], IN(0)->val.shape[1], V(0), n->val.data, 0);
}
static void bwd_transpose(Node *n, Exec *ex) {
  if (!G(0)) return;
  /* G(0)[i,c] += grad[c,i]: the grad [c,r] transposed back */
  transpose_to(IN(0)->val.shape[1], IN(0)->val.shape[0], n->grad.data, G(0), 1);
}

/* ---- trace rules: the local derivative, in words and in numbers ---------- */

/* Operand k as a name, or as its value when numeric. */
static const char *opnd(const Node *n, int k, int numeric, char *buf, size_t sz) {
  if (!numeric) return n->in[k]->label;
  return tensor_str(&n->in[k]->val, buf, sz);
}
static int broadcast_from(const Node *n, int k) { return n->in[k]->val.n != n->val.n; }

static void rule_add(const Node *n, int i, const char *up, int num, char *b, size_t sz) {
  const char *s = (n->op == OP_SUB && i == 1) ? "-" : "";
  if (broadcast_from(n, i)) snprintf(b, sz, "%ssum(%s)", s, up);
  else snprintf(b, sz, "%s%s%s", s, up, *s ? "" : " * 1");
}
static void rule_mul(const Node *n, int i, const char *up, int num, char *b, size_t sz) {
  char o[128];
  snprintf(b, sz, broadcast_from(n, i) ? "sum(%s * %s)" : "%s * %s", up, opnd(n, 1 - i, num, o, sizeof o));
}
static void rule_div(const Node *n, int i, const char *up, int num, char *b, size_t sz) {
  char o0[128], o1[128];
  if (i == 0) snprintf(b, sz, "%s / %s", up, opnd(n, 1, num, o1, sizeof o1));
  else snprintf(b, sz, "-%s * %s / %s^2", up, opnd(n, 0, num, o0, sizeof o0), opnd(n, 1, num, o1, sizeof o1));
}
static void rule_neg(const Node *n, int i, const char *up, int num, char *b, size_t sz) { snprintf(b, sz, "-%s", up); }
static void rule_matmul(const Node *n, int i, const char *up, int num, char *b, size_t sz) {
  const Node *a = n->in[0], *c = n->in[1];
  if (i == 0) snprintf(b, sz, c->val.rank == 1 ? "outer(%s, %s)" : "%s @ transpose(%s)", up, c->label);
  else if (a->val.rank == 1) snprintf(b, sz, "outer(%s, %s)", a->label, up);
  else snprintf(b, sz, "transpose(%s) @ %s", a->label, up);
}
static void rule_dot(const Node *n, int i, const char *up, int num, char *b, size_t sz) {
  snprintf(b, sz, "%s * %s", up, n->in[1 - i]->label);
}
static void rule_unary(const Node *n, int i, const char *up, int num, char *b, size_t sz) {
  char x[128], y[128];
  const char *xs = opnd(n, 0, num, x, sizeof x);
  const char *ys = num ? tensor_str(&n->val, y, sizeof y) : n->label;
  switch (n->op) {
  case OP_RELU:
    if (num && n->val.rank == 0) snprintf(b, sz, "%s * %d", up, n->in[0]->val.data[0] > 0);
    else snprintf(b, sz, "%s * [%s > 0]", up, xs);
    break;
  case OP_TANH: snprintf(b, sz, "%s * (1 - %s^2)", up, ys); break;
  case OP_SIGMOID: snprintf(b, sz, "%s * %s * (1 - %s)", up, ys, ys); break;
  case OP_EXP: snprintf(b, sz, "%s * %s", up, ys); break;
  case OP_LOG: snprintf(b, sz, "%s / %s", up, xs); break;
  default: snprintf(b, sz, "%s", up);
  }
}
static void rule_softmax(const Node *n, int i, const char *up, int num, char *b, size_t sz) {
  snprintf(b, sz, "%s * (%s - sum(%s * %s))", n->label, up, up, n->label);
}
static void rule_sum(const Node *n, int i, const char *up, int num, char *b, size_t sz) { snprintf(b, sz, "%s (to every element)", up); }
static void rule_addn(const Node *n, int i, const char *up, int num, char *b, size_t sz) { snprintf(b, sz, "%s * 1", up); }
static void rule_part(const Node *n, int i, const char *up, int num, char *b, size_t sz) {
  switch (n->op) {
  case OP_CONCAT: snprintf(b, sz, "%s (part %d of %d)", up, i + 1, n->nin); break;
  case OP_STACK: snprintf(b, sz, "%s[%d]", up, i + 1); break;
  case OP_PICK: snprintf(b, sz, "%s placed at item %d", up, n->iattr[0] + 1); break;
  default: snprintf(b, sz, "transpose(%s)", up);
  }
}

/* ---- the table ----------------------------------------------------------- */

const OpDef gr_ops[] = {
  /*               name         spelling  infix list  symbol  arity  shape, forward, backward, rule, carry, reorder */
  [OP_LEAF]      = { "leaf",      NULL,     0, 0,        "",        0, 0,  NULL, NULL, NULL, NULL, NULL, NULL },
  [OP_ADD]       = { "add",       "+",      1, 0,        "+",       2, 2,  shape_bin, fwd_add, bwd_add, rule_add, NULL, NULL },
  [OP_SUB]       = { "sub",       "-",      1, 0,        "-",       2, 2,  shape_bin, fwd_sub, bwd_add, rule_add, NULL, NULL },
  [OP_MUL]       = { "mul",       "*",      1, 0,        "×",       2, 2,  shape_bin, fwd_mul, bwd_mul, rule_mul, NULL, NULL },
  [OP_DIV]       = { "div",       "/",      1, 0,        "÷",       2, 2,  shape_bin, fwd_div, bwd_div, rule_div, NULL, NULL },
  [OP_NEG]       = { "neg",       "-",      0, 0,        "−",       1, 1,  shape_same, fwd_neg, bwd_neg, rule_neg, NULL, NULL },
  [OP_MATMUL]    = { "matmul",    "@",      1, 0,        "@",       2, 3,  shape_matmul, fwd_matmul, bwd_matmul, rule_matmul, NULL, NULL },
  [OP_DOT]       = { "dot",       ".",      1, 0,        "·",       2, 2,  shape_dot, fwd_dot, bwd_dot, rule_dot, NULL, NULL },
  [OP_RELU]      = { "relu",      "relu",   0, 0,        "ReLU",    1, 1,  shape_same, fwd_relu, bwd_relu, rule_unary, NULL, NULL },
  [OP_TANH]      = { "tanh",      "tanh",   0, 0,        "tanh",    1, 1,  shape_same, fwd_tanh, bwd_tanh, rule_unary, NULL, NULL },
  [OP_SIGMOID]   = { "sigmoid",   "sigmoid", 0, 0,       "σ",       1, 1,  shape_same, fwd_sigmoid, bwd_sigmoid, rule_unary, NULL, NULL },
  [OP_EXP]       = { "exp",       "exp",    0, 0,        "exp",     1, 1,  shape_same, fwd_exp, bwd_exp, rule_unary, NULL, NULL },
  [OP_LOG]       = { "log",       "log",    0, 0,        "log",     1, 1,  shape_same, fwd_log, bwd_log, rule_unary, NULL, NULL },
  [OP_SOFTMAX]   = { "softmax",   "softmax", 0, OPL_STACK, "softmax", 1, 1, shape_softmax, fwd_softmax, bwd_softmax, rule_softmax, NULL, NULL },
  [OP_SUM]       = { "sum",       "sum",    0, 0,        "Σ",       1, 1,  shape_scalar, fwd_sum, bwd_sum, rule_sum, NULL, NULL },
  [OP_ADDN]      = { "sum",       "sum",    0, OPL_ROW,  "Σ",       1, -1, shape_addn, fwd_addn, bwd_addn, rule_addn, NULL, NULL },
  [OP_CONCAT]    = { "concat",    "concat", 0, 0,        "⊕",       1, -1, shape_concat, fwd_concat, bwd_concat, rule_part, NULL, NULL },
  [OP_STACK]     = { "stack",     "stack",  0, 0,        "stack",   1, -1, shape_stack, fwd_stack, bwd_stack, rule_part, NULL, NULL },
  [OP_PICK]      = { "pick",      NULL,     0, 0,        "pick",    1, 1,  shape_pick, fwd_pick, bwd_pick, rule_part, NULL, NULL },
  [OP_TRANSPOSE] = { "transpose", "transpose", 0, 0,     "ᵀ",       1, 1,  shape_transpose, fwd_transpose, bwd_transpose, rule_part, NULL, NULL },
  [OP_EMBED]     = { "embed",     "embed",  0, 0,        "embed",   2, 2,  seqop_embed_shape, seqop_embed_fwd, seqop_embed_bwd, seqop_embed_rule, NULL, NULL },
  [OP_DROPOUT]   = { "dropout",   "dropout", 0, 0,       "dropout", 1, 1,  seqop_dropout_shape, seqop_dropout_fwd, seqop_dropout_bwd, seqop_dropout_rule, NULL, NULL },
  [OP_LSTM]      = { "lstm",      NULL,     0, 0,        "LSTM",    4, -1, seqop_lstm_shape, seqop_lstm_fwd, seqop_lstm_bwd, seqop_lstm_rule, seqop_lstm_carry, seqop_lstm_reorder },
  [OP_XENT]      = { "xent",      "cross_entropy", 0, 0, "xent",    2, 2,  seqop_xent_shape, seqop_xent_fwd, seqop_xent_bwd, seqop_xent_rule, NULL, NULL },
  [OP_ATTN_DEC]  = { "attn_dec",  NULL,     0, 0,        "attn",    9, -1, attn_dec_shape, attn_dec_fwd, attn_dec_bwd, NULL, attn_dec_carry, attn_dec_reorder },
  [OP_LAYER_NORM] = { "layer_norm", "layer_norm", 0, 0,  "LN",      3, 3,  tfmop_ln_shape, tfmop_ln_fwd, tfmop_ln_bwd, tfmop_ln_rule, NULL, NULL },
  [OP_CAUSAL_SOFTMAX] = { "causal_softmax", "causal_softmax", 0, 0, "masked softmax", 1, 1, tfmop_csm_shape, tfmop_csm_fwd, tfmop_csm_bwd, tfmop_csm_rule, NULL, NULL },
  [OP_SCORES]    = { "scores",    "scores", 0, 0,        "q·k",     2, 2,  tfmop_scores_shape, tfmop_scores_fwd, tfmop_scores_bwd, tfmop_scores_rule, NULL, NULL },
  [OP_ATTEND]    = { "attend",    "attend", 0, 0,        "Σ β v",   2, 2,  tfmop_attend_shape, tfmop_attend_fwd, tfmop_attend_bwd, tfmop_attend_rule, NULL, NULL },
  [OP_POSITIONS] = { "positions", "positions", 0, 0,     "pos",     2, 2,  tfmop_pos_shape, tfmop_pos_fwd, tfmop_pos_bwd, tfmop_pos_rule, NULL, NULL },
  [OP_TRANSFORMER] = { "transformer", NULL, 0, 0,       "Transformer", 13, -1, tfmop_block_shape, tfmop_block_fwd, tfmop_block_bwd, tfmop_block_rule, NULL, NULL },
};

const char *ops_word(OpKind op) { return gr_ops[op].spelling ? gr_ops[op].spelling : gr_ops[op].name; }

OpKind ops_called(const char *word, int list) {
  OpKind found = OP_LEAF;
  for (int op = 1; op < OP__COUNT; op++) {
    const OpDef *d = &gr_ops[op];
    const char *w = d->infix ? d->name : d->spelling;
    if (w && !strcmp(w, word) && (!found || (d->list == OPL_ROW) == !!list)) found = (OpKind)op;
  }
  return found;
}

/* n as a model writes it, nested at most depth deep. */
static int describe(const Node *n, char *buf, size_t sz, int depth) {
  if (n->name || n->kind != N_OP) return snprintf(buf, sz, "%s", n->label);
  if (depth < 0) return snprintf(buf, sz, "...");
  const OpDef *d = &gr_ops[n->op];
  char in[3][160];
  for (int k = 0; k < n->nin && k < 3; k++) {
    const Node *x = n->in[k];
    int wrap = !x->name && x->kind == N_OP && (gr_ops[x->op].infix || x->nin == 3) && (d->infix || n->op == OP_NEG);
    char *o = in[k]; size_t osz = sizeof in[k];
    if (wrap) { *o++ = '('; osz -= 2; }
    describe(x, o, osz, depth - 1);
    if (wrap) strcat(in[k], ")");
  }
  if (n->op == OP_MATMUL && n->nin == 3)                     /* folded by ops_fuse */
    return snprintf(buf, sz, n->iattr[0] ? "%s @ transpose(%s) + %s" : "%s @ %s + %s", in[0], in[1], in[2]);
  if (n->op == OP_MATMUL && n->iattr[0]) return snprintf(buf, sz, "%s @ transpose(%s)", in[0], in[1]);
  if (d->infix) return snprintf(buf, sz, "%s %s %s", in[0], d->spelling, in[1]);
  if (n->op == OP_NEG) return snprintf(buf, sz, "-%s", in[0]);
  if (n->op == OP_PICK) return snprintf(buf, sz, "item %d of %s", n->iattr[0] + 1, in[0]);
  int list = n->op == OP_STACK && (n->flags & NF_HIDDEN);   /* softmax(a[1..T]): the items as written */
  int o = list ? 0 : snprintf(buf, sz, "%s(", ops_word(n->op));
  for (int k = 0; k < n->nin && o < (int)sz; k++) {
    char more[160];
    const char *item = k < 3 ? in[k] : (describe(n->in[k], more, sizeof more, depth - 1), more);
    o += snprintf(buf + o, sz - o, "%s%s", k ? ", " : "", item);
  }
  if (!list && o < (int)sz) o += snprintf(buf + o, sz - o, ")");
  return o;
}
void ops_describe(const Node *n, char *buf, size_t sz) { describe(n, buf, sz, 2); }

OpKind ops_infix(char c) {
  for (int op = 1; op < OP__COUNT; op++)
    if (gr_ops[op].infix && gr_ops[op].spelling[0] == c && !gr_ops[op].spelling[1]) return (OpKind)op;
  return OP_LEAF;
}
