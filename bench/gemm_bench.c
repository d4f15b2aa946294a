/*
** gemm_bench.c — the few-row products of the recurrences' steps, one
** thread: OpenBLAS (cblas_sgemm, as par_gemm calls it inside a pool job)
** against graphrun's own gemm_rows (src/gemm.c), in GFLOP/s, best of 5.
** The shapes are lm's and attn_lm's at d = 100 on a thread's 10 rows
** (the batch of 20 split by rows), one thread's whole step, and d = 256.
**
** usage: gemm_bench        (bench/run builds and runs it; OPENBLAS_CORETYPE
**                           picks OpenBLAS's kernel, and gemm_rows follows it)
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>
#include "gemm.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *rnd(size_t n) {
  float *p = malloc(n * sizeof *p);
  if (!p) { fprintf(stderr, "gemm_bench: out of memory\n"); exit(1); }
  for (size_t i = 0; i < n; i++) p[i] = (float)rand() / RAND_MAX - 0.5f;
  return p;
}

/* C[M,N] += A[M,K] B[K,N] both ways; prints one line. */
static void bench(int M, int N, int K, const char *what) {
  float *A = rnd((size_t)M * K), *B = rnd((size_t)K * N), *C = rnd((size_t)M * N);
  int it = (int)(2e8 / (2.0 * M * N * K)) + 10;
  double best[2] = { 1e30, 1e30 };
  for (int rep = 0; rep < 5; rep++)
    for (int way = 0; way < 2; way++) {
      double t = now();
      for (int i = 0; i < it; i++) {
        if (way) gemm_rows(M, N, K, A, K, B, N, 1, C, N);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 1.0f, C, N);
      }
      double dt = (now() - t) / it;
      if (dt < best[way]) best[way] = dt;
    }
  double f = 2.0 * M * N * K * 1e-9;
  printf("[%2d,%4d] x [%4d,%4d]  OpenBLAS %6.1f GFLOP/s  gemm_rows %6.1f GFLOP/s  (%.2fx)  %s\n",
         M, K, K, N, f / best[0], f / best[1], best[0] / best[1], what);
  free(A); free(B); free(C);
}

int main(void) {
  openblas_set_num_threads(1);
  printf("gemm_rows %s here (the OpenBLAS kernel's vector level decides)\n",
         gemm_rows_on(100) ? "takes the steps at d = 100" : "is not used");
  bench(10, 400, 100, "LSTM step, d = 100, a thread's rows ([B,H] x [H,4H])");
  bench(10, 100, 400, "its backward ([B,4H] x [4H,H])");
  bench(10, 400, 200, "attention decoder step ([B,2H] x [2H,4H])");
  bench(10, 200, 400, "its backward");
  bench(10, 100, 200, "lin_out ([B,2H] x [2H,H])");
  bench(10, 200, 100, "its backward (dcq)");
  bench(10, 100, 100, "lin_in");
  bench(20, 400, 100, "LSTM step, d = 100, one thread's whole step");
  bench(20, 1024, 256, "LSTM step, d = 256 (gemm_rows not used: OpenBLAS's packing wins)");
  return 0;
}
