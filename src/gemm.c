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
** it.  A last panel narrower than 16 takes one vector per row when 8
** columns or fewer are left, and reads and writes through lane masks.
**
** A CPU with AVX-512VL has 32 vector registers: there the same code takes
** blocks of up to MR_VL = 10 rows (20 accumulators), so a thread's 10 rows
** of a split step read each row of B's panel once instead of twice.  The
** vectors stay 8 floats wide (the arithmetic is the AVX2 kernel's, one
** 256-bit FMA per term), only the registers are more: alone, [10,256] x
** [256,1024] from panels ran at 1.09x the 6-row blocks' speed on an AMD EPYC
** (bench/gemm_bench.c).  Each element is the same sum either way.
*/
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <cblas.h>
#include "gemm.h"
#include "blas.h"
#include "par.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(GR_NO_CLONES)
#define GEMM_AVX2 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")

#include <immintrin.h>

#define W 8                        /* floats per vector */
#define NR (2 * W)
_Static_assert(NR == GEMM_PANEL, "the kernel reads gemm_pack's panels as NR columns");
#define MR 6
#define MR_VL 10

typedef float vec __attribute__((vector_size(W * sizeof(float))));

/* The panel kinds: 16 columns; the last panel's n < 16 columns, in one
** vector (n <= 8) or two, read and written through lane masks. */
enum { FULL, TAIL1, TAIL2 };

static inline vec ld(const float *p, int masked, __m256i m) {
  if (masked) return (vec)_mm256_maskload_ps(p, m);
  vec v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void st(float *p, vec v, int masked, __m256i m) {
  if (masked) _mm256_maskstore_ps(p, m, (__m256)v);
  else memcpy(p, &v, sizeof v);
}

/* Rows [0, mr) of a panel of the given kind; m0 and m1 mask the lanes of
** its two vectors (all lanes in a full panel).  mr and kind are constants
** in every call (the switch in block and block_vl), and the accumulators
** are named variables, one pair per row (EACH), so that they live in
** registers: GCC keeps an array of vectors in memory.  A tail panel's lanes
** past n are neither read nor written. */
#define EACH(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)
static inline __attribute__((always_inline)) void tile(const int mr, const int kind, int K, const float *A, int lda,
                                                      const float *B, int ldb, const float *bias, int acc, float *C,
                                                      int ldc, __m256i m0, __m256i m1) {
  const int two = kind != TAIL1, masked = kind != FULL;
  vec z0 = { 0 }, z1 = { 0 };      /* where a sum starts without acc: 0, or the bias */
  if (bias) {
    z0 = ld(bias, masked, m0);
    if (two) z1 = ld(bias + W, masked, m1);
  }
#define INIT(r) vec c0_##r = z0, c1_##r = z1; \
  if (r < mr && acc) { \
    c0_##r = ld(C + (size_t)r * ldc, masked, m0); \
    if (two) c1_##r = ld(C + (size_t)r * ldc + W, masked, m1); \
  }
#define TERM(r) if (r < mr) { \
    float a = A[(size_t)r * lda + k]; \
    c0_##r += b0 * a; \
    if (two) c1_##r += b1 * a; \
  }
#define STORE(r) if (r < mr) { \
    st(C + (size_t)r * ldc, c0_##r, masked, m0); \
    if (two) st(C + (size_t)r * ldc + W, c1_##r, masked, m1); \
  }
  EACH(INIT)
  for (int k = 0; k < K; k++) {
    vec b0 = ld(B + (size_t)k * ldb, masked, m0), b1 = { 0 };
    if (two) b1 = ld(B + (size_t)k * ldb + W, masked, m1);
    EACH(TERM)
  }
  EACH(STORE)
#undef INIT
#undef TERM
#undef STORE
}

#define KINDS(m) \
  case m: \
    if (kind == FULL) tile(m, FULL, K, A, lda, B, ldb, bias, acc, C, ldc, m0, m1); \
    else if (kind == TAIL1) tile(m, TAIL1, K, A, lda, B, ldb, bias, acc, C, ldc, m0, m1); \
    else tile(m, TAIL2, K, A, lda, B, ldb, bias, acc, C, ldc, m0, m1); \
    break;
static void block(int mr, int kind, int K, const float *A, int lda, const float *B, int ldb, const float *bias, int acc,
                  float *C, int ldc, __m256i m0, __m256i m1) {
  switch (mr) { KINDS(1) KINDS(2) KINDS(3) KINDS(4) KINDS(5) default: KINDS(6) }
}
/* The same tiles compiled for AVX-512VL: up to 10 rows in its 32 registers. */
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512vl")
static void block_vl(int mr, int kind, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
                     int acc, float *C, int ldc, __m256i m0, __m256i m1) {
  switch (mr) { KINDS(1) KINDS(2) KINDS(3) KINDS(4) KINDS(5) KINDS(6) KINDS(7) KINDS(8) KINDS(9) default: KINDS(10) }
}
#pragma GCC pop_options
#undef KINDS

/* The rows in blocks of nearly equal size, at most MR (vl: MR_VL) each (20
** rows: four blocks of 5, not 6 + 6 + 6 + 2; with vl two of 10). */
static void panel(int vl, int M, int kind, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
                  int acc, float *C, int ldc, __m256i m0, __m256i m1) {
  int most = vl ? MR_VL : MR, nb = (M + most - 1) / most;
  for (int i = 0, b = 0; b < nb; b++) {
    int mr = (int)((long)M * (b + 1) / nb) - i;
    (vl ? block_vl : block)(mr, kind, K, A + (size_t)i * lda, lda, B, ldb, bias, acc, C + (size_t)i * ldc, ldc, m0, m1);
    i += mr;
  }
}

/* Lanes [0, n) of a vector set, n in [0, 8]. */
static inline __m256i lanes(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* C's columns in panels of NR: panel p of B starts pstride floats after
** panel p - 1 and its rows are ldb floats apart (B in place: ldb, NR;
** gemm_pack's copy: NR, K * NR).  Sums start from C (acc), the bias
** row (bias) or 0. */
static void cols_avx2(int vl, int M, int N, int K, const float *A, int lda, const float *B, int ldb, size_t pstride,
                      const float *bias, int acc, float *C, int ldc) {
  const __m256i all = lanes(W);
  int j = 0;
#define AT(j) (bias ? bias + (j) : NULL)
  for (; j + NR <= N; j += NR, B += pstride) panel(vl, M, FULL, K, A, lda, B, ldb, AT(j), acc, C + j, ldc, all, all);
  int n = N - j;
  if (n > W) panel(vl, M, TAIL2, K, A, lda, B, ldb, AT(j), acc, C + j, ldc, all, lanes(n - W));
  else if (n > 0) panel(vl, M, TAIL1, K, A, lda, B, ldb, AT(j), acc, C + j, ldc, lanes(n), all);
#undef AT
}

/* P[k * 16 + i] = Bt[i * ldb + k], i < 16, k < K: gemm_pack's panel from
** 16 rows of B^T, by 8 x 8 blocks transposed in registers (a plain loop
** reads the 16 rows one float at a time). */
static void pack_trans16(int K, const float *Bt, int ldb, float *P) {
  int k = 0;
  for (; k + 8 <= K; k += 8)
    for (int h = 0; h < 16; h += 8) {
      const float *s = Bt + (size_t)h * ldb + k;
      __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ldb), r2 = _mm256_loadu_ps(s + 2 * (size_t)ldb),
             r3 = _mm256_loadu_ps(s + 3 * (size_t)ldb), r4 = _mm256_loadu_ps(s + 4 * (size_t)ldb),
             r5 = _mm256_loadu_ps(s + 5 * (size_t)ldb), r6 = _mm256_loadu_ps(s + 6 * (size_t)ldb),
             r7 = _mm256_loadu_ps(s + 7 * (size_t)ldb);
      __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
      __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
      __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
      __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
      __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
      __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
      float *d = P + (size_t)k * 16 + h;
      _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(d + 16, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(d + 32, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(d + 48, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(d + 64, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(d + 80, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(d + 96, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(d + 112, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
  for (; k < K; k++)
    for (int i = 0; i < 16; i++) P[(size_t)k * 16 + i] = Bt[(size_t)i * ldb + k];
}
#pragma GCC pop_options
#endif

static pthread_once_t pick_once = PTHREAD_ONCE_INIT;
static int cpu_ok, cpu_vl, kernel_ok, forced = -1, vl_off;

/* Without the kernel compiled in (another compiler or CPU, the sanitizer
** builds' GR_NO_CLONES) cpu_ok stays 0: the products stay with OpenBLAS, not
** with this file's fallbacks, which call it a panel at a time. */
static void pick(void) {
#ifdef GEMM_AVX2
  unsigned cpu = blas_cpu_flags();
  cpu_ok = (cpu & BLAS_CPU_AVX2) && (cpu & BLAS_CPU_FMA);
  cpu_vl = cpu_ok && (cpu & BLAS_CPU_AVX512F) && (cpu & BLAS_CPU_AVX512VL);
#endif
  kernel_ok = blas_kernel_level() == 2;
}

int gemm_own(void) {
  pthread_once(&pick_once, pick);
  return cpu_ok;
}

/* The kernel and CPU part of every choice below: the test override, or an
** AVX2 OpenBLAS kernel with graphrun's kernel here. */
int gemm_split_on(void) {
  pthread_once(&pick_once, pick);
  return forced >= 0 ? forced : cpu_ok && kernel_ok;
}
int gemm_rows_on(int H) { return H <= GEMM_ROWS_MAXH && gemm_split_on(); }
int gemm_panels_on(int H) { return H > GEMM_ROWS_MAXH && H % GEMM_PANEL == 0 && gemm_split_on(); }
void gemm_rows_force(int on) { forced = on; }

/* Whether the kernel takes 10-row blocks (after pick). */
static int vl_on(void) { return cpu_vl && !vl_off; }

int gemm_rows_vl(int off) {
  pthread_once(&pick_once, pick);
  if (off >= 0) vl_off = off;
  return vl_on();
}

size_t gemm_panels_floats(size_t K, size_t N) {
  size_t n = N > SIZE_MAX - GEMM_PANEL ? SIZE_MAX : (N + GEMM_PANEL - 1) / GEMM_PANEL * GEMM_PANEL;
  return K && n > SIZE_MAX / K ? SIZE_MAX : K * n;
}

typedef struct Pack { int K, N, ldb, trans; const float *B; float *P; size_t pstride; } Pack;
/* Panels [lo, hi). */
static void pack_part(void *ctx, long lo, long hi) {
  const Pack *c = ctx;
  const int K = c->K, N = c->N, ldb = c->ldb;
  for (long p = lo; p < hi; p++) {
    int j = (int)p * GEMM_PANEL, n = N - j < GEMM_PANEL ? N - j : GEMM_PANEL;
    float *P = c->P + (size_t)p * c->pstride;
    if (c->trans) {                 /* column j + i of B is row j + i of B^T */
#ifdef GEMM_AVX2
      if (cpu_ok && n == GEMM_PANEL) { pack_trans16(K, c->B + (size_t)j * ldb, ldb, P); continue; }
#endif
      for (int k = 0; k < K; k++) {
        for (int i = 0; i < n; i++) P[(size_t)k * GEMM_PANEL + i] = c->B[(size_t)(j + i) * ldb + k];
        for (int i = n; i < GEMM_PANEL; i++) P[(size_t)k * GEMM_PANEL + i] = 0.0f;
      }
      continue;
    }
    if (n == GEMM_PANEL) {          /* a constant size: two vector moves, not a call to memcpy per row */
      for (int k = 0; k < K; k++) memcpy(P + (size_t)k * GEMM_PANEL, c->B + (size_t)k * ldb + j, sizeof(float) * GEMM_PANEL);
      continue;
    }
    for (int k = 0; k < K; k++) {
      memcpy(P + (size_t)k * GEMM_PANEL, c->B + (size_t)k * ldb + j, sizeof(float) * (size_t)n);
      memset(P + (size_t)k * GEMM_PANEL + n, 0, sizeof(float) * (size_t)(GEMM_PANEL - n));   /* the last panel's padding */
    }
  }
}

void gemm_pack_rows(int K, int N, const float *B, int ldb, int trans, float *P, size_t pstride) {
  pthread_once(&pick_once, pick);
  Pack c = { K, N, ldb, trans, B, P, pstride };
  par_for((N + GEMM_PANEL - 1) / GEMM_PANEL, 2, pack_part, &c);
}

void gemm_pack(int K, int N, const float *B, int ldb, int trans, float *P) {
  gemm_pack_rows(K, N, B, ldb, trans, P, gemm_panels_stride(K));
}

/* The calls with nothing to multiply: an empty C, or an empty sum (BLAS
** refuses lda 0), which leaves C, the bias rows or zeros.  1 if the call
** was one. */
static int empty(int M, int N, int K, const float *bias, int acc, float *C, int ldc) {
  if (M <= 0 || N <= 0) return 1;
  if (K > 0) return 0;
  if (!acc)
    for (int i = 0; i < M; i++) {
      if (bias) memcpy(C + (size_t)i * ldc, bias, sizeof(float) * (size_t)N);
      else memset(C + (size_t)i * ldc, 0, sizeof(float) * (size_t)N);
    }
  return 1;
}

/* gemm_rows_panels, the sums started from the bias row when there is one
** (after pick; K > 0). */
static void rows_panels(int M, int N, int K, const float *A, int lda, const float *P, size_t pstride,
                        const float *bias, int acc, float *C, int ldc) {
#ifdef GEMM_AVX2
  if (cpu_ok) { cols_avx2(vl_on(), M, N, K, A, lda, P, NR, pstride, bias, acc, C, ldc); return; }
#endif
  if (bias) {                      /* C starts as the bias rows; the products add to it */
    for (int i = 0; i < M; i++) memcpy(C + (size_t)i * ldc, bias, sizeof(float) * (size_t)N);
    acc = 1;
  }
  for (int j = 0; j < N; j += GEMM_PANEL, P += pstride)     /* each panel as a [K,GEMM_PANEL] matrix */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N - j < GEMM_PANEL ? N - j : GEMM_PANEL, K, 1.0f, A, lda,
                P, GEMM_PANEL, acc ? 1.0f : 0.0f, C + j, ldc);
}

void gemm_rows_panels(int M, int N, int K, const float *A, int lda, const float *P, size_t pstride,
                      int acc, float *C, int ldc) {
  if (empty(M, N, K, NULL, acc, C, ldc)) return;
  pthread_once(&pick_once, pick);
  rows_panels(M, N, K, A, lda, P, pstride, NULL, acc, C, ldc);
}

/* gemm_panels_split's rows [lo, hi), in groups of about GROUP_BYTES of A:
** a group's rows are read again for every panel, from L2. */
#define GROUP_BYTES (256 << 10)
typedef struct Split { int N, K, lda, acc, ldc; const float *A, *P, *bias; float *C; } Split;
static void split_part(void *ctx, long lo, long hi) {
  const Split *s = ctx;
  long g = GROUP_BYTES / ((long)s->K * (long)sizeof(float));
  g = g < 10 ? 10 : g - g % 10;    /* whole 10-row (and 5-row) blocks */
  for (long i = lo; i < hi; i += g) {
    int m = (int)(hi - i < g ? hi - i : g);
    rows_panels(m, s->N, s->K, s->A + (size_t)i * s->lda, s->lda, s->P, gemm_panels_stride(s->K), s->bias, s->acc,
                s->C + (size_t)i * s->ldc, s->ldc);
  }
}

void gemm_panels_split(int M, int N, int K, const float *A, int lda, const float *P, const float *bias, int acc,
                       float *C, int ldc) {
  if (empty(M, N, K, bias, acc, C, ldc)) return;
  pthread_once(&pick_once, pick);
  Split s = { N, K, lda, acc, ldc, A, P, bias, C };
  par_for(M, 20, split_part, &s);
}

void gemm_all_steps(int M, int N, int K, const float *A, int lda, const float *B, int ldb, int tb, const float *bias,
                    int acc, float *P, float *C, int ldc) {
  if (gemm_split_on()) {
    gemm_pack(K, N, B, ldb, tb, P);
    gemm_panels_split(M, N, K, A, lda, P, bias, acc, C, ldc);
  } else if (bias && !acc) par_gemm_bias(0, tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
  else par_gemm(0, tb, M, N, K, 1.0f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C, ldc);
}

void gemm_rows(int M, int N, int K, const float *A, int lda, const float *B, int ldb, int acc, float *C, int ldc) {
  if (empty(M, N, K, NULL, acc, C, ldc)) return;
  pthread_once(&pick_once, pick);
#ifdef GEMM_AVX2
  if (cpu_ok) { cols_avx2(vl_on(), M, N, K, A, lda, B, ldb, NR, NULL, acc, C, ldc); return; }
#endif
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C, ldc);
}
