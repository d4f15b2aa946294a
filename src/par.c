/*
** par.c — the thread pool and the split matrix product (see par.h).
**
** One job at a time, posted by the thread that called par_init: it writes
** the job's chunks, then publishes one word (generation, chunk count, next
** chunk).  Every thread, the caller included, claims chunks from that word
** (compare-and-swap) until none is left, and counts each chunk it finished;
** the caller returns when all are counted.  So a worker that the system
** does not schedule in time (a busy machine) delays nothing: its chunk is
** claimed by a thread that runs.  The chunks are fixed by the shapes and the
** thread count, whichever thread runs them, so the results are too.  Idle
** workers spin on the word for about SPIN_NS, then sleep on a condition
** variable (so a pool left idle between epochs or after training costs
** nothing).
*/
#define _GNU_SOURCE                 /* sched_getaffinity, CPU_COUNT */
#include "par.h"
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SPIN_NS 200000L      /* a worker spins this long before sleeping */
#define GEMM_SERIAL 400000.0 /* products under this many flops (~4 us) are not split */
#define GEMM_BLOCK 16        /* split points fall on multiples of this */
#define GEMM_KSPLIT 4        /* gemm_split splits a sum this many times C's longer side */
#define GEMM_KSHARED (1 << 18) /* ... when the operand the threads would share has this many floats */

/* The job word: generation << 32 | chunks << 16 | next chunk to claim. */
#define JOB_GEN(w) ((uint32_t)((w) >> 32))
#define JOB_CHUNKS(w) ((int)((w) >> 16 & 0xffff))
#define JOB_NEXT(w) ((int)((w) & 0xffff))

static struct {
  int n;                          /* threads, the caller included; 1 = no pool */
  pthread_t th[PAR_MAX];
  _Atomic uint64_t job;           /* the job word above */
  atomic_int done;                /* chunks finished in the current job */
  atomic_int sleepers, quit;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ParFn fn; void *ctx;            /* the current job: read only after claiming a chunk */
  long bound[PAR_MAX + 1];
} P = { .n = 1, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static _Thread_local int in_job;  /* inside a chunk: nested calls run serially */

static void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Waits until the generation differs from `seen`; returns the new one. */
static uint32_t wait_job(uint32_t seen) {
  uint32_t g;
  long t0 = 0;
  for (unsigned k = 1;; k++) {
    if ((g = JOB_GEN(atomic_load_explicit(&P.job, memory_order_acquire))) != seen) return g;
    if (k < 4096) relax(); else sched_yield();
    if (k % 256) continue;
    if (!t0) t0 = now_ns();
    else if (now_ns() - t0 > SPIN_NS) break;
  }
  pthread_mutex_lock(&P.mu);
  atomic_fetch_add(&P.sleepers, 1);
  while ((g = JOB_GEN(atomic_load(&P.job))) == seen) pthread_cond_wait(&P.cv, &P.mu);
  atomic_fetch_sub(&P.sleepers, 1);
  pthread_mutex_unlock(&P.mu);
  return g;
}

/* Claims and runs chunks of job generation gen until none is left.  A
** claim succeeds only while the word still holds gen, so a late thread
** never runs a chunk of a finished job or of the next one. */
static void run_chunks(uint32_t gen) {
  uint64_t w = atomic_load_explicit(&P.job, memory_order_acquire);
  while (JOB_GEN(w) == gen && JOB_NEXT(w) < JOB_CHUNKS(w)) {
    if (!atomic_compare_exchange_weak_explicit(&P.job, &w, w + 1, memory_order_acq_rel, memory_order_acquire)) continue;
    int c = JOB_NEXT(w);
    P.fn(P.ctx, P.bound[c], P.bound[c + 1]);
    atomic_fetch_add_explicit(&P.done, 1, memory_order_release);
    w = atomic_load_explicit(&P.job, memory_order_acquire);
  }
}

static void *worker(void *arg) {
  uint32_t seen = (uint32_t)(uintptr_t)arg;   /* jobs posted before this pool began are not ours */
  in_job = 1;
  for (;;) {
    seen = wait_job(seen);
    if (atomic_load(&P.quit)) return NULL;
    run_chunks(seen);
  }
}

/* Publishes a job of `chunks` chunks (fn, ctx, bound already written) and
** wakes sleeping workers; returns its generation.  The seq_cst store and
** load pair with wait_job's increment and re-check, so a worker either
** sees the new generation or is counted as a sleeper and woken here. */
static uint32_t post(int chunks) {
  uint32_t gen = JOB_GEN(atomic_load_explicit(&P.job, memory_order_relaxed)) + 1;
  atomic_store_explicit(&P.done, 0, memory_order_relaxed);
  atomic_store(&P.job, (uint64_t)gen << 32 | (uint64_t)chunks << 16);
  if (atomic_load(&P.sleepers)) {
    pthread_mutex_lock(&P.mu);
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
  }
  return gen;
}

static float *ktmp;               /* the K-split's partial products (gemm_split) */
static size_t ktmp_cap;

void par_shutdown(void) {
  free(ktmp);
  ktmp = NULL;
  ktmp_cap = 0;
  if (P.n <= 1) return;
  atomic_store(&P.quit, 1);
  post(0);
  for (int i = 1; i < P.n; i++) pthread_join(P.th[i], NULL);
  atomic_store(&P.quit, 0);
  P.n = 1;
}

/* OpenBLAS starts its own threads when it loads, and they spin for about
** 2^28 cycles (~0.1 s) waiting for work that never comes once it is set to
** one thread, taking a core from the pool meanwhile.  Its fork handler's
** shutdown stops them; OpenBLAS starts them again if ever asked for
** threads.  Weak: a BLAS without it simply keeps its threads. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

/* Up to two numbers from the first line of root + dir + name ("max" reads
** as -1); how many were read.  b may be NULL. */
static int read_nums(const char *root, const char *dir, const char *name, long long *a, long long *b) {
  char path[4096], line[256], word[32];
  long long spare;
  if (!b) b = &spare;
  if (snprintf(path, sizeof path, "%s%s/%s", root, dir, name) >= (int)sizeof path) return 0;
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n = 0;
  if (fgets(line, sizeof line, f)) {
    n = sscanf(line, "%lld %lld", a, b);
    if (n <= 0 && sscanf(line, "%31s %lld", word, b) == 2 && !strcmp(word, "max")) { *a = -1; n = 2; }
  }
  fclose(f);
  return n < 0 ? 0 : n;
}

/* The smallest quota / period, in CPUs, of the cgroup pre + dir and of its
** ancestors (a limit on a systemd slice or a Kubernetes pod holds for the
** groups inside it): 0 if none has one, -1 if pre + dir has no such files
** (v1: not where this controller is mounted). */
static double tree_quota(const char *root, const char *pre, const char *dir, int v2) {
  char d[4096];
  if (snprintf(d, sizeof d, "%s%s", pre, dir) >= (int)sizeof d) return -1;
  size_t keep = strlen(pre);
  double cpus = 0;
  for (int leaf = 1;; leaf = 0) {
    long long q = -1, p = 0;
    int ok = v2 ? read_nums(root, d, "cpu.max", &q, &p) == 2
                : read_nums(root, d, "cpu.cfs_quota_us", &q, NULL) == 1 && read_nums(root, d, "cpu.cfs_period_us", &p, NULL) == 1;
    if (leaf && !ok && !v2) return -1;
    if (ok && q > 0 && p > 0 && (!cpus || (double)q / (double)p < cpus)) cpus = (double)q / (double)p;
    char *slash = strrchr(d + keep, '/');
    if (!slash) return cpus;
    *slash = 0;
  }
}

int par_quota_cpus(const char *self, const char *root) {
  FILE *f = fopen(self, "r");
  if (!f) return 0;
  char line[4096];
  double cpus = 0;
  while (fgets(line, sizeof line, f)) {
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    char *dir = c2 + 1;
    dir[strcspn(dir, "\n")] = 0;
    if (!strcmp(dir, "/")) dir = "";
    *c2 = 0;
    const char *ctl = c1 + 1;
    double c = -1;
    if (!*ctl) c = tree_quota(root, "", dir, 1);  /* v2: cpu.max "quota period" or "max period" */
    else {                                         /* v1: the line whose controllers include cpu */
      int cpu = 0;
      for (const char *p = ctl; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) cpu |= !strncmp(p, "cpu", 3) && (p[3] == ',' || !p[3]);
      const char *mount[2] = { ctl, "cpu" };      /* named after the controllers, or cpu */
      for (int k = 0; cpu && k < 2 && c < 0; k++) {
        char pre[300];
        snprintf(pre, sizeof pre, "/%s", mount[k]);
        c = tree_quota(root, pre, dir, 0);
      }
    }
    if (c > 0 && (!cpus || c < cpus)) cpus = c;
  }
  fclose(f);
  if (cpus <= 0) return 0;
  double n = floor(cpus);                          /* whole CPUs: spinning threads past the quota */
  return n < 1 ? 1 : n > 4096 ? 4096 : (int)n;    /* would only be throttled */
}

/* The CPUs this process may run on: its affinity mask (taskset, a
** container's cpuset, mpirun's binding), not every CPU the machine has,
** and no more than a cgroup's CPU quota allows (docker --cpus). */
int par_cores(void) {
  cpu_set_t set;
  long c = sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 ? CPU_COUNT(&set)
                                                                              : sysconf(_SC_NPROCESSORS_ONLN);
  int q = par_quota_cpus("/proc/self/cgroup", "/sys/fs/cgroup");
  if (q > 0 && q < c) c = q;
  return c > 0 ? (int)c : 1;
}

int par_bind(int first, int n) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c = first; c < first + n && c < CPU_SETSIZE; c++) if (c >= 0) CPU_SET(c, &set);
  if (CPU_COUNT(&set) == 0 || sched_setaffinity(0, sizeof set, &set)) return -1;
  return par_cores();
}

int par_init(int n) {
  static int registered;
  if (n <= 0) n = par_cores();
  if (n > PAR_MAX) n = PAR_MAX;
  openblas_set_num_threads(1);
  if (blas_thread_shutdown_) blas_thread_shutdown_();
  if (n == P.n) return n;
  par_shutdown();
  if (!registered) { atexit(par_shutdown); registered = 1; }
  uintptr_t start = JOB_GEN(atomic_load(&P.job));
  for (int i = 1; i < n; i++)
    if (pthread_create(&P.th[i], NULL, worker, (void *)start)) { n = i; break; }
  P.n = n;
  return n;
}

int par_threads(void) { return P.n; }
int par_nested(void) { return in_job; }

void par_for(long n, long grain, ParFn fn, void *ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  long chunks = n / grain < P.n ? n / grain : P.n;
  if (chunks <= 1 || in_job) { fn(ctx, 0, n); return; }
  P.fn = fn; P.ctx = ctx;
  for (long i = 0; i <= chunks; i++) P.bound[i] = n * i / chunks;
  uint32_t gen = post((int)chunks);
  in_job = 1;
  run_chunks(gen);
  in_job = 0;
  /* The chunks left are running on workers.  Spin, then yield: with more
  ** threads than free cores a worker may be waiting for this very CPU. */
  for (unsigned k = 0; atomic_load_explicit(&P.done, memory_order_acquire) < chunks; k++)
    if (k < 4096) relax(); else sched_yield();
}

typedef struct ColSum { const float *g; float *d; long N; int M; } ColSum;
/* Four rows per pass over d (one load and store of d per four rows), the
** sums still taken in row order. */
static void colsum_part(void *ctx, long lo, long hi) {
  const ColSum *c = ctx;
  float *restrict d = c->d;
  long r = 0;
  for (; r + 4 <= c->N; r += 4) {
    const float *restrict g0 = c->g + r * c->M, *restrict g1 = g0 + c->M;
    const float *restrict g2 = g1 + c->M, *restrict g3 = g2 + c->M;
    for (long j = lo; j < hi; j++) d[j] = (((d[j] + g0[j]) + g1[j]) + g2[j]) + g3[j];
  }
  for (; r < c->N; r++) {
    const float *restrict gr = c->g + r * c->M;
    for (long j = lo; j < hi; j++) d[j] += gr[j];
  }
}
void par_colsum(const float *g, long N, int M, float *d) {
  ColSum c = { g, d, N, M };
  par_for(M, N >= 4096 ? 16 : 65536 / (N + 1) + 16, colsum_part, &c);
}

/* ---- the split product ---------------------------------------------------- */

typedef struct Gemm {
  int ta, tb, M, N, K, lda, ldb, ldc, by_cols;
  float alpha, beta;
  const float *A, *B, *bias;
  float *C;
} Gemm;

static void sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* A rows x cols block of C starts as the bias row, or as zeros for beta =
** 0, while it stays in cache; the product then adds to it (the beta this
** returns).  OpenBLAS 0.3.21's own pass for beta = 0 is slower than
** memset: [700,256] x [256,512] with C 1024 wide took 1.19x the time, the
** output layer's [440,256] x [256,5000] 1.09x (Haswell, one thread).
** OpenBLAS too zeroes C and then adds to it: the same bits. */
static float start_block(float *C, int ldc, int rows, int cols, const float *bias, float beta) {
  if (!bias && beta != 0.0f) return beta;
  for (int i = 0; i < rows; i++) {
    float *c = C + (size_t)i * ldc;
    if (bias) memcpy(c, bias, sizeof(float) * (size_t)cols);
    else memset(c, 0, sizeof(float) * (size_t)cols);
  }
  return 1.0f;
}

/* Blocks [lo, hi) of GEMM_BLOCK rows or columns of C. */
static void gemm_part(void *ctx, long lo, long hi) {
  const Gemm *g = ctx;
  int side = g->by_cols ? g->N : g->M;
  int a = (int)lo * GEMM_BLOCK, b = (int)hi * GEMM_BLOCK;
  if (b > side) b = side;
  if (a >= b) return;
  int r0 = g->by_cols ? 0 : a, r1 = g->by_cols ? g->M : b, c0 = g->by_cols ? a : 0, c1 = g->by_cols ? b : g->N;
  float beta = start_block(g->C + (size_t)r0 * g->ldc + c0, g->ldc, r1 - r0, c1 - c0, g->bias ? g->bias + c0 : NULL, g->beta);
  if (g->by_cols)
    sgemm(g->ta, g->tb, g->M, b - a, g->K, g->alpha, g->A, g->lda,
          g->tb ? g->B + (size_t)a * g->ldb : g->B + a, g->ldb, beta, g->C + a, g->ldc);
  else
    sgemm(g->ta, g->tb, b - a, g->N, g->K, g->alpha, g->ta ? g->A + a : g->A + (size_t)a * g->lda,
          g->lda, g->B, g->ldb, beta, g->C + (size_t)a * g->ldc, g->ldc);
}

/* The K-split: parts [lo, hi) of the sum's s->parts, split at multiples
** of GEMM_BLOCK; part 0 goes into C (with beta), part c > 0 into ktmp's
** (c-1)-th M x N block. */
typedef struct KSum { Gemm g; int parts; } KSum;
static void ksum_part(void *ctx, long lo, long hi) {
  const KSum *s = ctx;
  const Gemm *g = &s->g;
  for (long c = lo; c < hi; c++) {
    int k0 = (int)((long)g->K * c / s->parts) / GEMM_BLOCK * GEMM_BLOCK;
    int k1 = c + 1 == s->parts ? g->K : (int)((long)g->K * (c + 1) / s->parts) / GEMM_BLOCK * GEMM_BLOCK;
    float *C = c ? ktmp + (size_t)(c - 1) * g->M * g->N : g->C;
    int ldc = c ? g->N : g->ldc;
    float beta = start_block(C, ldc, g->M, g->N, NULL, c ? 0.0f : g->beta);
    sgemm(g->ta, g->tb, g->M, g->N, k1 - k0, g->alpha, g->ta ? g->A + (size_t)k0 * g->lda : g->A + k0, g->lda,
          g->tb ? g->B + k0 : g->B + (size_t)k0 * g->ldb, g->ldb, beta, C, ldc);
  }
}
/* Rows [lo, hi) of C += the parts in ktmp, in part order, one row of C at
** a time (it stays in cache over the parts).  par.c is below seqk.h's
** seqk_ew, and C's rows are ldc apart: hence its own loop. */
static void ksum_add(void *ctx, long lo, long hi) {
  const KSum *s = ctx;
  const Gemm *g = &s->g;
  for (long i = lo; i < hi; i++) {
    float *restrict d = g->C + (size_t)i * g->ldc;
    for (int c = 1; c < s->parts; c++) {
      const float *restrict t = ktmp + ((size_t)(c - 1) * g->M + (size_t)i) * g->N;
      for (int j = 0; j < g->N; j++) d[j] += t[j];
    }
  }
}

static void gemm_split(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                       const float *B, int ldb, const float *bias, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (bias) beta = 1.0f;
  if (K <= 0) {                    /* an empty sum: C = beta C or the bias (BLAS refuses lda 0) */
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++)
        C[(size_t)i * ldc + j] = bias ? bias[j] : beta ? beta * C[(size_t)i * ldc + j] : 0.0f;
    return;
  }
  /* Split the side whose operand is larger, so that each thread packs only
  ** its part of it: columns share A and split B, rows share B and split A.
  ** When the sum is much longer than both sides (the output layer's
  ** gradient dL E sums over the vocabulary), both operands are large and C
  ** is small: split the sum, each thread packing its part of both, and add
  ** the parts after.  OpenBLAS packs a shared operand once per call, so the
  ** row split would pack all of E on both threads.  A shared operand that
  ** fits in L2 costs little to pack twice: not worth the second job and
  ** the sum.  ktmp holds (threads - 1) x M x N floats, kept from call to
  ** call (it grows to the largest such C, [rows, d] in training). */
  Gemm g = { ta, tb, M, N, K, lda, ldb, ldc, N >= M, alpha, beta, A, B, bias, C };
  int side = g.by_cols ? N : M;
  if (P.n <= 1 || in_job || 2.0 * M * N * K < GEMM_SERIAL) { gemm_part(&g, 0, (side + GEMM_BLOCK - 1) / GEMM_BLOCK); return; }
  if (!bias && K >= GEMM_KSPLIT * (M > N ? M : N) && (double)K * (M < N ? M : N) >= GEMM_KSHARED) {
    size_t need = (size_t)(P.n - 1) * (size_t)M * (size_t)N;
    if (need > ktmp_cap) {
      float *t = realloc(ktmp, sizeof(float) * need);
      if (t) { ktmp = t; ktmp_cap = need; }
    }
    if (need <= ktmp_cap) {
      KSum s = { g, P.n };
      par_for(P.n, 1, ksum_part, &s);
      par_for(M, 8, ksum_add, &s);
      return;
    }
  }
  par_for((side + GEMM_BLOCK - 1) / GEMM_BLOCK, 1, gemm_part, &g);
}

void par_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc) {
  gemm_split(ta, tb, M, N, K, alpha, A, lda, B, ldb, NULL, beta, C, ldc);
}

void par_gemm_bias(int ta, int tb, int M, int N, int K, const float *A, int lda,
                   const float *B, int ldb, const float *bias, float *C, int ldc) {
  gemm_split(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, bias, 1.0f, C, ldc);
}

/* ---- row loops ------------------------------------------------------------- */

typedef struct Zero { float *x; } Zero;
static void zero_part(void *ctx, long lo, long hi) {
  memset(((Zero *)ctx)->x + lo, 0, sizeof(float) * (size_t)(hi - lo));
}
void par_zero(float *x, long n) {
  Zero z = { x };
  par_for(n, 1L << 16, zero_part, &z);
}
