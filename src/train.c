/*
** train.c — the training loop of the sequence models, as the assignment's
** starter kit runs it:
**
**   lm (one `data` train file):   the corpus is one stream, laid out as B
**     parallel columns and cut into bptt-long pieces; the lstm's state is
**     carried from piece to piece with its gradient stopped there.
**   translation (src_train given): bundles of B sentence pairs; the encoder
**     reads the source, the decoder starts from its final state (init =);
**     long targets are still cut into bptt pieces, later pieces carrying
**     the decoder's state.
**
** Each step: forward, backward from the loss (mean token NLL), clip the
** global gradient norm, SGD.  After each epoch the validation perplexity;
** the learning rate is divided by `decay` when it is not a new best.
** Nothing is allocated per step: activations come from the graph's arena.
**
** Under mpirun (dist.h) every process walks the same batches and takes its
** share of each batch's columns; between backward and the optimizer step
** one reduction gives every process the gradient of the whole batch.
** Process 0 alone logs and writes files.
*/
#include "train.h"
#include "checkpoint.h"
#include "ops_seq.h"
#include "ops_attn.h"
#include "seqk.h"
#include "show.h"
#include "plot.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "par.h"
#include "dist.h"
#include "blas.h"

void train_opts_init(TrainOpts *o) {
  memset(o, 0, sizeof *o);
  o->lr = o->clip = o->decay = NAN;
  o->batch = o->vbatch = o->bptt = o->epochs = o->patience = o->seed = o->threads = o->replicas = -1;
  o->check_finite = 1;
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

/* ---- settings ------------------------------------------------------------- */

void train_config(const Model *m, const TrainOpts *o, TrainCfg *c) {
  *c = m->train;
  c->seed = m->seed;
  if (!isnan(o->lr)) c->lr = o->lr;
  if (!isnan(o->clip)) c->clip = o->clip;
  if (!isnan(o->decay)) c->decay = o->decay;
  if (o->batch > 0) c->batch = (int)o->batch;
  if (o->vbatch > 0) c->vbatch = (int)o->vbatch;
  if (o->bptt > 0) c->bptt = (int)o->bptt;
  if (o->epochs >= 0) c->epochs = (int)o->epochs;
  if (o->patience >= 0) c->patience = (int)o->patience;
  if (o->seed >= 0) c->seed = (unsigned long)o->seed;
  if (o->threads >= 0) c->threads = (int)o->threads;
  if (o->replicas >= 0) c->replicas = (int)o->replicas;
}

/* ---- the pieces of one pass ---------------------------------------------- */

/* One data source (train or valid), the token inputs it fills (the data
** statement's, m->data->tok) and the loss.  The iterator is laid out once
** and reset before each pass. */
typedef struct Feed {
  ModelData *d;
  Node *loss;
  Stream st; Bundles bu;
  int translation;
  int lo, hi;              /* this process's columns of the current batch */
  int32_t *part; long cap; /* those columns, when not all (feed_cols)         */
} Feed;

/* The model's token inputs and loss, no iterator yet. */
static int feed_nodes(Feed *f, Model *m, Err *e) {
  memset(f, 0, sizeof *f);
  f->d = m->data;
  f->loss = model_output(m);
  f->translation = m->data->translation;
  if (!f->loss || f->loss->op != OP_XENT)
    return err_at(e, f->loss ? f->loss->loc : (Loc){ m->path, 0, 0 }, "the output of a trained model must be cross_entropy(...)");
  return 0;
}
/* Sentences sorted by length within windows of this many bundles. */
#define BUCKET_WINDOW 100
/* The seed of an epoch's bundle order (batching = bucket). */
static uint64_t bucket_seed(const TrainCfg *c, int epoch) { return (uint64_t)c->seed * 1000003u + (uint64_t)epoch; }

/* Lays out the iterator over tgt (and src) for batches of B, translation
** bundles length-bucketed if bucket. */
static int feed_open(Feed *f, const Sents *tgt, const Sents *src, int B, int bptt, int bucket, Err *e) {
  char msg[GR_ERRMAX];
  int rc = f->translation ? corpus_bundles_init(&f->bu, src, tgt, B, bptt, msg, sizeof msg)
                          : corpus_stream_init(&f->st, tgt, B, bptt, msg, sizeof msg);
  if (!rc && f->translation && bucket) rc = corpus_bundles_bucket(&f->bu, BUCKET_WINDOW, msg, sizeof msg);
  return rc ? err_set(e, "%s", msg) : 0;
}
static void feed_free(Feed *f) {
  free(f->part); f->part = NULL;
  if (f->translation) corpus_bundles_free(&f->bu); else corpus_stream_free(&f->st);
}
static void feed_reset(Feed *f) {
  if (f->translation) corpus_bundles_reset(&f->bu); else corpus_stream_reset(&f->st);
}
/* Columns [lo, hi) of a [rows, cols] array of ids: ids itself when that
** is every column, else a copy in f->part. */
static const int32_t *feed_cols(Feed *f, int lo, int hi, int rows, int cols, const int32_t *ids) {
  if (lo == 0 && hi == cols) return ids;
  long k = (long)rows * (hi - lo);
  if (k > f->cap) { f->part = xrealloc(f->part, (size_t)k * sizeof *f->part); f->cap = k; }
  int32_t *p = f->part;
  for (long t = 0; t < rows; t++)
    for (int c = lo; c < hi; c++) *p++ = ids[t * cols + c];
  return f->part;
}
/* Columns [lo, hi) (not empty) of batch b into f's token inputs. */
static void feed_put(Feed *f, const Batch *b, int lo, int hi) {
  int n = hi - lo;
  model_feed(f->d, TOK_X, 2, b->T, n, feed_cols(f, lo, hi, b->T, b->B, b->x));
  model_feed(f->d, TOK_Y, 2, b->T, n, feed_cols(f, lo, hi, b->T, b->B, b->y));
  if (f->translation) {
    model_feed(f->d, TOK_SRC, 2, b->Ts, n, feed_cols(f, lo, hi, b->Ts, b->B, b->src));
    model_feed(f->d, TOK_SRC_LEN, 1, n, 0, feed_cols(f, lo, hi, 1, b->B, b->src_len));
  }
}
/* The next batch and this process's columns of it, [f->lo, f->hi) (empty
** when there are more processes than the batch has columns); put: those
** columns into the token inputs. */
static int feed_next(Feed *f, Batch *b, int put) {
  int more = f->translation ? corpus_bundles_next(&f->bu, b) : corpus_stream_next(&f->st, b);
  if (!more) return 0;
  dist_share(b->B, &f->lo, &f->hi);
  if (put && f->lo < f->hi) feed_put(f, b, f->lo, f->hi);
  return 1;
}

/* Recurrent blocks start over (a new stream, a new bundle) before each pass. */
static void restart_states(Graph *g) { graph_carry(g, 0); }

/* --gradcheck: the whole model on the first training piece, dropout off. */
static int check_gradients(Model *m, Feed *f, const TrainCfg *c, Err *e) {
  ModelData *d = m->data;
  if (feed_open(f, &d->train, &d->src_train, c->batch, c->bptt, 0, e)) return -1;
  Batch b;
  int rc = -1;
  if (!feed_next(f, &b, 1)) { err_set(e, "%s: error: no training piece", d->train.file); goto out; }
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = e;
  printf("checking on the first training piece (T = %d, B = %d), dropout off, 4 random directions per parameter\n", b.T, b.B);
  rc = gradcheck_run(stdout, m, f->loss, GRADCHECK_TOL, 4, restart_states, &ex);
out:
  feed_free(f);
  return rc;
}

/* ---- one epoch ------------------------------------------------------------ */

/* A parameter with multiplicity k stands for k PyTorch tensors that are
** only ever used summed and so get the same gradient each (an LSTM block's
** b = b_ih + b_hh: k = 2).  PyTorch's SGD moves each of them, so the sum
** moves k times as far, and clip_grad_norm_ counts the gradient k times. */
static int multiplicity(const Node *n) { return n->sgd_mult > 1 ? n->sgd_mult : 1; }

/* The squared norm and the update run over blocks of NORM_BLOCK elements on
** the thread pool.  Each block's sum goes to its own slot and the slots are
** added in order, so the norm does not depend on the thread count. */
#define NORM_BLOCK 16384L
typedef struct SgdJob { float *g; float *v; double *part; long n; float a; int zero; } SgdJob;

static void sq_blocks(void *ctx, long lo, long hi) {
  const SgdJob *j = ctx;
  for (long k = lo; k < hi; k++) {
    long e = (k + 1) * NORM_BLOCK < j->n ? (k + 1) * NORM_BLOCK : j->n;
    j->part[k] = seqk_sumsq(j->g + k * NORM_BLOCK, e - k * NORM_BLOCK);
  }
}
static void sgd_part(void *ctx, long lo, long hi) {
  const SgdJob *j = ctx;
  if (!j->zero) { for (long i = lo; i < hi; i++) j->v[i] -= j->a * j->g[i]; return; }
  for (long i = lo; i < hi; i++) { j->v[i] -= j->a * j->g[i]; j->g[i] = 0; }
}

static double grad_norm(Graph *g) {
  double s = 0;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind != N_PARAM || !n->grad.data) continue;
    long nb = (n->val.n + NORM_BLOCK - 1) / NORM_BLOCK;
    /* block sums in the graph's arena, which the next forward pass resets */
    double *part = arena_alloc(&g->arena, sizeof *part * (size_t)nb);
    SgdJob j = { n->grad.data, NULL, part, n->val.n, 0, 0 };
    par_for(nb, 1, sq_blocks, &j);
    double t = 0;
    for (long k = 0; k < nb; k++) t += part[k];
    s += multiplicity(n) * t;
  }
  return sqrt(s);
}

/* clip_grad_norm_'s factor for a norm. */
static double clip_scale(double norm, double clip) { return clip > 0 && norm > clip ? clip / (norm + 1e-6) : 1.0; }

double train_adam_step(Graph *g, Adam *a, double lr, double clip) {
  double norm = grad_norm(g);
  if (isfinite(norm)) adam_step(a, lr, clip_scale(norm, clip));
  return norm;
}

/* train_sgd_step; zero: each gradient is cleared as it is read (the next
** backward pass then need not: Graph.grads_zero). */
static double sgd_step(Graph *g, double lr, double clip, int zero) {
  double norm = grad_norm(g), scale = clip_scale(norm, clip);
  if (!isfinite(norm)) return norm;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind != N_PARAM || !n->grad.data) continue;
    SgdJob j = { n->grad.data, n->val.data, NULL, n->val.n, (float)(lr * scale * multiplicity(n)), zero };
    par_for(n->val.n, NORM_BLOCK, sgd_part, &j);
  }
  g->grads_zero = zero;
  return norm;
}
/* Contract in train.h. */
double train_sgd_step(Graph *g, double lr, double clip) { return sgd_step(g, lr, clip, 0); }

static void progress(double frac, double tokps, int epoch) {
  int w = 30, k = (int)(frac * w);
  fprintf(stderr, "\repoch %d [", epoch);
  for (int i = 0; i < w; i++) fputc(i < k ? '=' : i == k ? '>' : ' ', stderr);
  fprintf(stderr, "] %3.0f%%  %.0f tok/s ", frac * 100, tokps);
  fflush(stderr);
}

/* A mean loss above this many nats per token makes the perplexity exp(loss)
** overflow a double: training has diverged even if every value is finite. */
#define DIVERGED 709.0

typedef struct PassResult { double nll; long ntok; double seconds; } PassResult;

/* ---- replicas: the batch split over copies of the model --------------------- */

/* With `replicas = R` (R > 1) the model is read R - 1 more times.  The
** copies take the model's own parameter arrays (shared, never written
** during a step) and keep their own gradients, states and activations.
** Each step gives copy r the r-th block of this process's columns of the
** batch (as dist_share gives processes theirs), and the R copies run
** forward and backward at once, one job of the pool each: inside a job the
** products and loops run whole on its thread (par.h), so nothing a copy
** computes crosses to another core until the gradients are summed, weighted
** by the copies' token counts, into the model's own.  One optimizer step
** follows, as in a single run.  The split threads of one copy instead pass
** every product's operands between the cores: on a machine whose two vCPUs
** share no cache that made lm take 1.15x as long (bench/RESULTS.md).
** Replica 0 is the model itself, run with the pass's Exec; with R = 1 a
** pass is exactly the single run. */
typedef struct Replica {
  Model *m;               /* the model (replica 0) or an owned copy           */
  Feed *feed; Exec *exec; /* replica 0: the pass's (run_pass); a copy: its own  */
  Feed f;                 /* a copy's token inputs and loss                    */
  Exec ex; Err err;       /* a copy's own                                      */
  double nll; long count; /* this step's loss sum and tokens                   */
  int ran, diverged, rc;
} Replica;
typedef struct Replicas { int n; Replica *r; } Replicas;

/* Copies of m for c->replicas (0: one per thread of the pool). */
static int replicas_open(Replicas *rs, Model *m, const TrainOpts *o, const TrainCfg *c, Err *e) {
  int R = c->replicas ? c->replicas : par_threads();
  rs->n = 1;
  rs->r = xcalloc((size_t)(R > 1 ? R : 1), sizeof *rs->r);
  rs->r[0].m = m;
  if (R <= 1) return 0;
  if (R > c->batch)
    return err_set(e, "graphrun: error: replicas = %d (--replicas or the train statement) needs a batch of at least %d %s; the batch is %d",
                   R, R, m->data->translation ? "sentences" : "stream columns", c->batch);
  for (int k = 1; k < R; k++) {
    Replica *q = &rs->r[k];
    if (!(q->m = model_load_set(m->path, o->sets, o->nset, e))) return -1;
    rs->n = k + 1;
    Graph *g = q->m->g;
    int same = g->n == m->g->n;
    for (int i = 0; same && i < g->n; i++) {
      Node *a = g->nodes[i], *b = m->g->nodes[i];
      same = a->kind == b->kind && a->val.n == b->val.n;
      if (same && a->kind == N_PARAM) { free(a->val.data); a->val.data = b->val.data; }
    }
    if (!same) return err_set(e, "%s: error: the file changed while training started: replica %d read another model", m->path, k);
    ModelData *d = q->m->data;      /* the copies are fed from the model's own corpus */
    corpus_sents_free(&d->train); corpus_sents_free(&d->valid);
    corpus_sents_free(&d->src_train); corpus_sents_free(&d->src_valid);
    ops_fuse(g);
    if (feed_nodes(&q->f, q->m, e)) return -1;
    q->feed = &q->f; q->exec = &q->ex;
    q->ex.err = &q->err; q->ex.check_finite = o->check_finite; q->ex.params_later = 1; q->ex.fused_loss = 1;
  }
  return 0;
}

static void replicas_close(Replicas *rs) {
  for (int k = 1; k < rs->n; k++) {
    Replica *q = &rs->r[k];
    if (!q->m) continue;
    for (int i = 0; i < q->m->g->n; i++)   /* the model's arrays, not the copy's */
      if (q->m->g->nodes[i]->kind == N_PARAM && q->m->g->nodes[i]->val.data == rs->r[0].m->g->nodes[i]->val.data)
        q->m->g->nodes[i]->val.data = NULL;
    free(q->f.part);
    model_free(q->m);
  }
  free(rs->r);
  rs->r = NULL; rs->n = 0;
}

/* Dropout masks: copy k > 0 draws from the model's generator state mixed
** with k, before each training pass (a resumed run continues exactly). */
static void replicas_rng(Replicas *rs, const Rng *base) {
  for (int k = 1; k < rs->n; k++) {
    Rng mix;
    rng_seed(&mix, (uint64_t)k << 32 | 0x5245u);
    rs->r[k].ex.rng = *base;
    rs->r[k].ex.rng.s[0] ^= mix.s[0]; rs->r[k].ex.rng.s[1] ^= mix.s[1];
  }
}

/* One step of every replica on the batch: forward, the loss's statistics,
** and (training, not diverged) backward. */
typedef struct Pass {
  Replicas *rs; Feed *f; Exec *ex; const Batch *b; int training, epoch;
} Pass;

static void replica_step(void *ctx, long lo, long hi) {
  const Pass *p = ctx;
  const int R = p->rs->n, n = p->f->hi - p->f->lo;
  for (long k = lo; k < hi; k++) {
    Replica *q = &p->rs->r[k];
    Feed *f = q->feed;
    Exec *ex = q->exec;
    int c0 = p->f->lo + (int)((long)n * k / R), c1 = p->f->lo + (int)((long)n * (k + 1) / R);
    q->nll = 0; q->count = 0; q->diverged = q->rc = 0;
    if (!(q->ran = c1 > c0)) continue;
    if (k) { ex->training = p->ex->training; ex->step = p->ex->step; }
    feed_put(f, p->b, c0, c1);
    graph_carry(q->m->g, !p->b->first);
    if (graph_forward(q->m->g, ex)) { q->rc = -1; continue; }
    const XentStat *xs = seqop_xent_stat(f->loss);
    q->nll = xs->sum; q->count = xs->count;
    if (p->epoch > 0 && !(xs->sum <= DIVERGED * xs->count)) { q->diverged = 1; continue; }  /* in training (epoch 0: --eval) */
    if (p->training && graph_backward(q->m->g, f->loss, ex)) q->rc = -1;
  }
}

/* The model's gradient = the replicas', weighted by their tokens (of total).
** The copies' gradients are cleared as they are read (their next backward
** pass then need not: Graph.grads_zero); src[0] may be dst itself. */
typedef struct GradSum { float *dst; float *src[PAR_MAX]; float w[PAR_MAX]; int n, keep; } GradSum;
static void grad_sum_part(void *ctx, long lo, long hi) {
  const GradSum *j = ctx;
  for (long i = lo; i < hi; i++) {
    float s = 0;
    for (int k = 0; k < j->n; k++) s += j->w[k] * j->src[k][i];
    j->dst[i] = s;
    for (int k = j->keep; k < j->n; k++) j->src[k][i] = 0;
  }
}
static void replicas_sum(Replicas *rs, double total) {
  Graph *g = rs->r[0].m->g;
  for (int i = 0; i < g->n; i++) {
    Node *d = g->nodes[i];
    if (d->kind != N_PARAM) continue;
    GradSum j = { .n = 0 };
    for (int k = 0; k < rs->n; k++) {
      const Node *s = rs->r[k].m->g->nodes[i];
      if (!rs->r[k].ran || !s->grad.data) continue;
      j.src[j.n] = s->grad.data; j.w[j.n++] = (float)(rs->r[k].count / total);
    }
    if (!j.n) continue;
    j.dst = graph_grad_array(d);           /* replica 0 may have had no columns yet */
    j.keep = j.src[0] == j.dst;            /* the model's own: the sum goes there */
    par_for(d->val.n, NORM_BLOCK, grad_sum_part, &j);
  }
  for (int k = 1; k < rs->n; k++) if (rs->r[k].ran) rs->r[k].m->g->grads_zero = 1;
}

/* Fails the pass with replica rq's message (a copy's is in its own Err). */
static int pass_error(Exec *ex, const Replica *rq) {
  if (rq->exec != ex) *ex->err = *rq->exec->err;
  return -1;
}

/* The gradient norm is NaN or Inf.  The ops' checks left the parameters'
** gradients to it (Exec.params_later): each replica's backward pass again,
** every gradient checked, names the op that made one.  Failing that (the
** value came from another process), the parameter. */
static int locate_nonfinite(Replicas *rs, Exec *ex) {
  for (int q = 0; q < rs->n; q++) {
    Replica *rq = &rs->r[q];
    if (!rq->ran) continue;
    rq->exec->params_later = 0;
    int rc = graph_backward(rq->m->g, rq->feed->loss, rq->exec);
    rq->exec->params_later = 1;
    if (rc) return pass_error(ex, rq);
  }
  Graph *g = rs->r[0].m->g;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind == N_PARAM && n->grad.data && !seqk_all_finite(n->grad.data, n->val.n))
      return graph_report(n, ex, dist_size() > 1 ? "backward pass: the gradient of this parameter summed over the processes is NaN or Inf"
                                                 : "backward pass: the gradient of this parameter is NaN or Inf");
  }
  return err_set(ex->err, "graphrun: error: backward pass: the gradient norm is NaN or Inf at step %ld", ex->step);
}

static int run_pass(Replicas *rs, Feed *f, Exec *ex, int training, const TrainCfg *c, Adam *adam, double lr, int epoch, int bar, PassResult *r) {
  Graph *g = rs->r[0].m->g;
  Batch b;
  double t0 = now(), last = t0;
  long pieces = f->translation ? f->bu.npieces : f->st.npieces, k = 0;
  r->nll = 0; r->ntok = 0;
  ex->training = training;
  feed_reset(f);
  if (training && f->translation && c->bucket)      /* a new order of the bundles, from seed and epoch */
    corpus_bundles_shuffle(&f->bu, bucket_seed(c, epoch));
  rs->r[0].feed = f; rs->r[0].exec = ex;
  for (int q = 0; q < rs->n; q++) graph_carry(rs->r[q].m->g, 0);
  double all = 0;                 /* tokens of every process so far (training) */
  Pass p = { rs, f, ex, &b, training, epoch };
  while (feed_next(f, &b, 0)) {
    ex->step++;
    par_for(rs->n, 1, replica_step, &p);   /* one replica: runs here, its products split */
    double count = 0;
    int ran = 0;
    for (int q = 0; q < rs->n; q++) {
      Replica *rq = &rs->r[q];
      if (rq->rc) return pass_error(ex, rq);
      if (rq->diverged) {
        char what[300];
        const Node *loss = rq->feed->loss;
        snprintf(what, sizeof what, "training diverged (try a lower --lr or --clip): '%s' = %g nats per token, perplexity Inf, "
                 "in the %s pass of epoch %d", loss->label, rq->nll / rq->count, training ? "training" : "validation", epoch);
        graph_report(loss, rq->exec, what);
        return pass_error(ex, rq);
      }
      r->nll += rq->nll; r->ntok += rq->count; count += (double)rq->count; ran |= rq->ran;
    }
    if (training) {
      if (rs->n > 1 && ran) replicas_sum(rs, count);
      all += dist_reduce_grads(g, count, ran);    /* the gradient of the whole batch */
      double norm = adam ? train_adam_step(g, adam, lr, c->clip) : sgd_step(g, lr, c->clip, 1);
      if (!isfinite(norm)) return locate_nonfinite(rs, ex);
    }
    k++;
    if (bar && now() - last > 0.2) { last = now(); progress((double)k / pieces, all / (last - t0), epoch); }
  }
  r->seconds = now() - t0;
  if (bar) fprintf(stderr, "\r%*s\r", 70, "");
  double sums[2] = { r->nll, (double)r->ntok };
  dist_sum(sums, 2);
  r->nll = sums[0]; r->ntok = (long)sums[1];
  return 0;
}

/* At most one thread per core this process may use (0: one per core,
** par.h): an idle worker spins, and each job waits for every worker to get
** a CPU.  The processes mpirun started on this machine share its cores,
** each its own block of them.  mpirun binds each process to one core when
** it starts two or fewer, which would put all of a process's threads on
** that core: a process held to fewer cores than its share takes its block. */
static void threads_init(const TrainCfg *c) {
  long local = dist_local_size(), share = sysconf(_SC_NPROCESSORS_ONLN) / local;
  if (share < 1) share = 1;
  long cores = par_cores();
  if (dist_launched() && cores < share) {
    int now = par_bind(dist_local_rank() * (int)share, (int)share);
    if (now > 0) cores = now;
  }
  if (local > 1 && share < cores) cores = share;
  if (cores < 1) cores = 1;
  par_init(c->threads && c->threads < cores ? c->threads : (int)cores);
}

/* ---- one step at a time, for the front ends (train.h) ---------------------- */

int train_walk_open(TrainWalk *w, Model *m, const TrainCfg *c, Err *e) {
  memset(w, 0, sizeof *w);
  w->m = m;
  w->cfg = *c;
  Feed *f = w->feed = xcalloc(1, sizeof *f);
  ModelData *d = m->data;
  if (feed_nodes(f, m, e) || feed_open(f, &d->train, &d->src_train, w->cfg.batch, w->cfg.bptt, w->cfg.bucket, e)) {
    free(f); w->feed = NULL;
    return -1;
  }
  if (f->translation && w->cfg.bucket) corpus_bundles_shuffle(&f->bu, bucket_seed(&w->cfg, 1));   /* epoch 1's order */
  w->x = d->tok[TOK_X]; w->y = d->tok[TOK_Y]; w->src = d->tok[TOK_SRC]; w->src_len = d->tok[TOK_SRC_LEN];
  w->loss = f->loss;
  w->stream = f->translation ? NULL : &f->st;
  w->bundles = f->translation ? &f->bu : NULL;
  w->ex.err = e; w->ex.training = 1; w->ex.check_finite = 1;
  rng_seed(&w->ex.rng, w->cfg.seed);
  graph_carry(m->g, 0);
  return 0;
}

int train_walk_next(TrainWalk *w, Batch *b) {
  if (!feed_next(w->feed, b, 1)) return 0;
  graph_carry(w->m->g, !b->first);
  w->ex.step++;
  return 1;
}

void train_walk_close(TrainWalk *w) {
  if (w->feed) { feed_free(w->feed); free(w->feed); }
  w->feed = NULL;
}

/* Under mpirun: the global batch must give every process a column; then
** the process joins the job. */
static int dist_join(const TrainCfg *c, int translation, Err *e) {
  int np = dist_size();
  if (np > 1 && c->batch < np)
    return err_set(e, "graphrun: error: --batch %d is the global batch and cannot be split over %d processes: it needs at least one %s per process",
                   c->batch, np, translation ? "sentence of each bundle" : "stream column");
  return dist_start(e);
}

/* Process 0 reads a model file, the others get its parameters. */
static int load_shared(Model *m, const char *path, TrainState *st, Err *e) {
  if (dist_lead() && ckpt_load(m, path, st, e)) return -1;
  Adam *ad = st ? st->adam : NULL;       /* each process's own; its moments travel below */
  if (st) { dist_bcast(st, sizeof *st); st->adam = ad; }
  dist_bcast_params(m->g);
  if (ad) {
    dist_bcast(&ad->t, sizeof ad->t);
    for (int i = 0; i < ad->np; i++) {
      dist_bcast(ad->m[i], sizeof(float) * (size_t)ad->p[i]->val.n);
      dist_bcast(ad->v[i], sizeof(float) * (size_t)ad->p[i]->val.n);
    }
  }
  return 0;
}

int train_setup(Model *m, const TrainOpts *o, TrainCfg *c, Err *e) {
  Feed f;
  if (!m->data) return err_at(e, (Loc){ m->path, 0, 0 }, "--train needs a 'data' statement (data train = \"...\", valid = \"...\")");
  train_config(m, o, c);
  if (feed_nodes(&f, m, e) || dist_join(c, m->data->translation, e)) return -1;
  if (c->seed != m->seed) model_reinit(m, c->seed);
  threads_init(c);
  ops_fuse(m->g);
  return o->load ? load_shared(m, o->load, NULL, e) : 0;
}

int train_gradcheck(Model *m, const TrainCfg *c, Err *e) {
  Feed f;
  if (feed_nodes(&f, m, e)) return -1;
  int bad = check_gradients(m, &f, c, e);
  if (bad > 0) err_set(e, "graphrun: error: gradients disagree with finite differences");
  return bad ? -1 : 0;
}

int train_eval(Model *m, const TrainCfg *c, const char *file, const char *src, Err *e) {
  Feed f;
  ModelData *d = m->data;
  Sents tgt = {0}, ss = {0};
  char msg[GR_ERRMAX];
  int rc = -1;
  if (feed_nodes(&f, m, e)) return -1;
  if (f.translation && !src) return err_set(e, "--eval %s: error: a translation model needs the source sentences too: --src FILE", file);
  if (corpus_read(file, &d->vocab, 0, &tgt, msg, sizeof msg) || (src && corpus_read(src, &d->vocab, 0, &ss, msg, sizeof msg))) {
    err_set(e, "%s", msg);
    goto out;
  }
  if (feed_open(&f, &tgt, &ss, c->vbatch, c->bptt, c->bucket, e)) goto out;
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = e; ex.check_finite = 1; ex.fused_loss = 1;
  PassResult r;
  long what[2] = { 0, f.translation ? f.bu.npieces : f.st.npieces };
  Replica one = { .m = m };
  Replicas rs = { 1, &one };
  rc = dist_agree(m->g, 0, what, 2, e) || run_pass(&rs, &f, &ex, 0, c, NULL, 0, 0, 0, &r) ? -1 : 0;
  feed_free(&f);
  if (!rc)
    printf("ppl %.2f  (%s: %ld sentences, %ld tokens scored, %ld words not in the vocabulary read as <unk>)\n",
           exp(r.nll / r.ntok), file, tgt.n, r.ntok, tgt.nunk);
out:
  corpus_sents_free(&tgt); corpus_sents_free(&ss);
  return rc;
}

static int train_epochs(Model *m, const TrainOpts *o, const TrainCfg *cfg, TrainState ts, Err *e);

int train_run(Model *m, const TrainOpts *o, const TrainCfg *c, Err *e) {
  TrainState ts; memset(&ts, 0, sizeof ts);
  Adam adam;
  if (c->adam) { adam_init(&adam, m->g, c->beta1, c->beta2, c->eps); ts.adam = &adam; }
  int rc = train_epochs(m, o, c, ts, e);
  if (c->adam) adam_free(&adam);
  return rc;
}

/* train_run once the optimizer's state is set up (ts.adam). */
static int train_epochs(Model *m, const TrainOpts *o, const TrainCfg *cfg, TrainState ts, Err *e) {
  const TrainCfg c = *cfg;
  Feed f;
  if (feed_nodes(&f, m, e)) return -1;
  if (o->resume) {
    if (load_shared(m, o->resume, &ts, e)) return -1;
    if (!ts.epoch) return err_set(e, "%s: error: holds a model but no training state (made by --save, not --checkpoint); use --load", o->resume);
  }
  Replicas rs;
  if (replicas_open(&rs, m, o, &c, e)) { replicas_close(&rs); return -1; }
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = e; ex.check_finite = o->check_finite; ex.params_later = 1;
  ex.fused_loss = 1;            /* nothing reads the logits here (ops_fuse) */
  rng_seed(&ex.rng, c.seed);
  ModelData *d = m->data;
  int lead = dist_lead();       /* process 0 alone logs and writes files */
  int bar = !o->quiet && isatty(2) && lead;
  if (lead) {
    char opt[96] = "";
    if (c.adam) snprintf(opt, sizeof opt, "adam (betas %g, %g, eps %g), ", c.beta1, c.beta2, c.eps);
    fprintf(stderr, "training %s: %ld sentences, vocabulary %d, %s mode; %slr %g, clip %g, batch %d, bptt %d, epochs %d, seed %lu",
            m->path, d->train.n, d->vocab.n, d->translation ? "translation" : "stream", opt, c.lr, c.clip, c.batch, c.bptt, c.epochs, c.seed);
    if (dist_size() > 1) fprintf(stderr, "; %d processes, %d thread%s each", dist_size(), par_threads(), par_threads() > 1 ? "s" : "");
    if (rs.n > 1) fprintf(stderr, "; %d replicas of the model, each a share of every batch", rs.n);
    fputc('\n', stderr);
    char blas[512];
    blas_describe(blas, sizeof blas, par_threads());
    fprintf(stderr, "blas: %s\n", blas);
  }
  /* both iterators are laid out once; each pass resets its own */
  Feed fv = f;
  if (feed_open(&f, &d->train, &d->src_train, c.batch, c.bptt, c.bucket, e)) { replicas_close(&rs); return -1; }
  if (feed_open(&fv, &d->valid, &d->src_valid, c.vbatch, c.bptt, c.bucket, e)) { feed_free(&f); replicas_close(&rs); return -1; }
  long what[2] = { f.translation ? f.bu.npieces : f.st.npieces, fv.translation ? fv.bu.npieces : fv.st.npieces };
  if (lead && f.translation)
    fprintf(stderr, "bundles: %s, %ld of up to %d sentences; padded target grid %.2fx the target tokens\n",
            c.bucket ? "length-bucketed (batching = bucket), shuffled every epoch" : "in file order",
            f.bu.nbundles, c.batch, (double)f.bu.grid / (d->train.ntok + d->train.n));
  char *csv = xstrdup("epoch,train_ppl,valid_ppl,lr,seconds,tokens_per_s\n");
  double lr = c.lr, best = INFINITY;
  int since_best = 0, rc = -1, first = 1;
  if (ts.epoch) {                 /* --resume: exactly where the checkpoint left off */
    first = ts.epoch + 1; lr = ts.lr; best = ts.best; since_best = ts.since_best;
    ex.rng.s[0] = ts.rng[0]; ex.rng.s[1] = ts.rng[1];
    if (lead) fprintf(stderr, "resuming from %s after epoch %d (lr %g, best valid ppl %.2f)\n", o->resume, ts.epoch, lr, exp(best));
  }
  if (dist_agree(m->g, 0, what, 2, e)) goto out;
  if (c.epochs == 0 && o->save && lead && ckpt_save(m, o->save, NULL, e)) goto out;   /* --epochs 0: the initial model */
  for (int ep = first; ep <= c.epochs; ep++) {
    PassResult tr, vr;
    dist_rng(&ex.rng);
    replicas_rng(&rs, &ex.rng);
    if (run_pass(&rs, &f, &ex, 1, &c, ts.adam, lr, ep, bar, &tr) || dist_agree(m->g, ep, what, 2, e) ||
        run_pass(&rs, &fv, &ex, 0, &c, NULL, lr, ep, 0, &vr)) goto out;
    double tppl = exp(tr.nll / tr.ntok), vloss = vr.nll / vr.ntok, vppl = exp(vloss), tokps = tr.ntok / tr.seconds;
    if (lead) fprintf(stderr, "epoch %3d  train ppl %8.2f  valid ppl %8.2f  lr %-8g %6.2f s  %8.0f tok/s\n", ep, tppl, vppl, lr, tr.seconds, tokps);
    char line[256];
    snprintf(line, sizeof line, "%d,%.4f,%.4f,%g,%.3f,%.0f\n", ep, tppl, vppl, lr, tr.seconds, tokps);
    csv = xrealloc(csv, strlen(csv) + strlen(line) + 1); strcat(csv, line);
    if (o->metrics && lead && write_file_atomic(o->metrics, csv, strlen(csv), e)) goto out;
    if (o->plot && lead && plot_metrics(o->plot, m->path, csv, e)) goto out;
    int stop = 0;
    if (vloss < best) {
      best = vloss; since_best = 0;
      if (o->save && lead && ckpt_save(m, o->save, NULL, e)) goto out;
    } else {
      lr /= c.decay;
      stop = c.patience && ++since_best >= c.patience;
    }
    if (o->checkpoint && lead) {
      TrainState now_st = { ep, since_best, lr, best, { ex.rng.s[0], ex.rng.s[1] }, ts.adam };
      if (ckpt_save(m, o->checkpoint, &now_st, e)) goto out;
    }
    if (stop) { if (lead) fprintf(stderr, "stopping: no better validation perplexity in %d epochs\n", c.patience); break; }
  }
  if (isfinite(best) && lead) fprintf(stderr, "best valid ppl %.2f%s%s\n", exp(best), o->save ? ", saved to " : "", o->save ? o->save : "");
  if (o->save && isfinite(best) && load_shared(m, o->save, NULL, e)) goto out;   /* what comes next uses the best */
  rc = 0;
out:
  feed_free(&f); feed_free(&fv);
  replicas_close(&rs);
  free(csv);
  return rc;
}
