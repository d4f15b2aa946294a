/*
** gemm.c — gemm_rows (gemm.h), an AVX2 + FMA body written with GCC's
** vector extensions.  The file is compiled with -ffp-contract=fast
** (Makefile) so that each multiply-add is one FMA instruction.
**
** C is done in panels of NR = 16 columns (2 vectors).  For a panel and a
** block of up to MR = 6 rows, 12 accumulators start from C (or 0) and take,
** for k = 0, 1, ..., K-1, A[r,k] times row k of B's panel: 2 loads of B, 6
** broadcasts of A and 12 FMAs per k, 15 of the 16 vector registers.  The
** panel of B (K x 16 floats) stays in L1 while the row blocks pass over
** it.  A last panel narrower than 16 reads a zero-padded copy of its
** columns, KC rows of B at a time, storing and reloading the running sums
** between copies (which changes no bit).
*/
#include <string.h>
#include <pthread.h>
#include <cblas.h>
#include "gemm.h"
#include "blas.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(GR_NO_CLONES)
#define GEMM_AVX2 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")

#define W 8                        /* floats per vector */
#define NR (2 * W)
#define MR 6
#define KC 128

typedef float vec __attribute__((vector_size(W * sizeof(float))));

static inline vec load(const float *p) {
  vec v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* Rows [0, mr) of a panel: n <= NR columns of C; B's panel has NR
** readable columns per row.  mr is a constant in every call (the switch in
** block), and the accumulators are named variables, one pair per row
** (EACH), so that they live in registers: GCC keeps an array of vectors in
** memory. */
#define EACH(X) X(0) X(1) X(2) X(3) X(4) X(5)
static inline __attribute__((always_inline)) void tile(const int mr, int K, const float *A, int lda,
                                                      const float *B, int ldb, int acc, float *C, int ldc, int n) {
#define INIT(r) vec c0_##r = { 0 }, c1_##r = { 0 }; \
  if (r < mr && acc && n == NR) { c0_##r = load(C + (size_t)r * ldc); c1_##r = load(C + (size_t)r * ldc + W); } \
  else if (r < mr && acc) { \
    float t[NR] = { 0 }; \
    memcpy(t, C + (size_t)r * ldc, sizeof(float) * (size_t)n); \
    c0_##r = load(t); c1_##r = load(t + W); \
  }
#define TERM(r) if (r < mr) { float a = A[(size_t)r * lda + k]; c0_##r += b0 * a; c1_##r += b1 * a; }
#define STORE(r) if (r < mr && n == NR) { \
    memcpy(C + (size_t)r * ldc, &c0_##r, sizeof c0_##r); memcpy(C + (size_t)r * ldc + W, &c1_##r, sizeof c1_##r); \
  } else if (r < mr) { \
    float t[NR]; \
    memcpy(t, &c0_##r, sizeof c0_##r); memcpy(t + W, &c1_##r, sizeof c1_##r); \
    memcpy(C + (size_t)r * ldc, t, sizeof(float) * (size_t)n); \
  }
  EACH(INIT)
  for (int k = 0; k < K; k++) {
    vec b0 = load(B + (size_t)k * ldb), b1 = load(B + (size_t)k * ldb + W);
    EACH(TERM)
  }
  EACH(STORE)
#undef INIT
#undef TERM
#undef STORE
}

static void block(int mr, int K, const float *A, int lda, const float *B, int ldb, int acc, float *C, int ldc, int n) {
  switch (mr) {
  case 1: tile(1, K, A, lda, B, ldb, acc, C, ldc, n); break;
  case 2: tile(2, K, A, lda, B, ldb, acc, C, ldc, n); break;
  case 3: tile(3, K, A, lda, B, ldb, acc, C, ldc, n); break;
  case 4: tile(4, K, A, lda, B, ldb, acc, C, ldc, n); break;
  case 5: tile(5, K, A, lda, B, ldb, acc, C, ldc, n); break;
  default: tile(6, K, A, lda, B, ldb, acc, C, ldc, n); break;
  }
}

/* The rows in blocks of nearly equal size, at most MR each (20 rows: four
** blocks of 5, not 6 + 6 + 6 + 2). */
static void panel(int M, int K, const float *A, int lda, const float *B, int ldb, int acc, float *C, int ldc, int n) {
  int nb = (M + MR - 1) / MR;
  for (int i = 0, b = 0; b < nb; b++) {
    int mr = (int)((long)M * (b + 1) / nb) - i;
    block(mr, K, A + (size_t)i * lda, lda, B, ldb, acc, C + (size_t)i * ldc, ldc, n);
    i += mr;
  }
}

static void rows_avx2(int M, int N, int K, const float *A, int lda, const float *B, int ldb, int acc, float *C, int ldc) {
  int j = 0;
  for (; j + NR <= N; j += NR) panel(M, K, A, lda, B + j, ldb, acc, C + j, ldc, NR);
  if (j == N) return;
  int n = N - j;
  float Bt[KC * NR] __attribute__((aligned(64)));
  memset(Bt, 0, sizeof Bt);
  for (int k0 = 0; k0 < K; k0 += KC) {
    int kc = K - k0 < KC ? K - k0 : KC;
    for (int k = 0; k < kc; k++) memcpy(Bt + (size_t)k * NR, B + (size_t)(k0 + k) * ldb + j, sizeof(float) * (size_t)n);
    panel(M, kc, A + k0, lda, Bt, NR, acc || k0 > 0, C + j, ldc, n);
  }
}
#pragma GCC pop_options
#endif

static pthread_once_t pick_once = PTHREAD_ONCE_INIT;
static int cpu_ok, kernel_ok, forced = -1;

static void pick(void) {
  unsigned cpu = blas_cpu_flags();
  cpu_ok = (cpu & BLAS_CPU_AVX2) && (cpu & BLAS_CPU_FMA);
  kernel_ok = blas_kernel_level() == 2;
}

int gemm_rows_on(void) {
  pthread_once(&pick_once, pick);
  return forced >= 0 ? forced : cpu_ok && kernel_ok;
}

void gemm_rows_force(int on) { forced = on; }

void gemm_rows(int M, int N, int K, const float *A, int lda, const float *B, int ldb, int acc, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {                    /* an empty sum (BLAS refuses lda 0) */
    if (!acc) for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, sizeof(float) * (size_t)N);
    return;
  }
  pthread_once(&pick_once, pick);
#ifdef GEMM_AVX2
  if (cpu_ok) { rows_avx2(M, N, K, A, lda, B, ldb, acc, C, ldc); return; }
#endif
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C, ldc);
}
