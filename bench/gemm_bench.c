/*
** gemm_bench.c — the few-row products of the recurrences' steps, one
** thread: OpenBLAS (cblas_sgemm, as par_gemm calls it inside a pool job)
** against graphrun's own gemm_rows (src/gemm.c), in GFLOP/s, best of 5.
** The shapes are lm's and attn_lm's at d = 100 on a thread's 10 rows
** (the batch of 20 split by rows), one thread's whole step, and d = 256,
** whose steps read the weights from gemm_pack's panels (gemm_rows_panels).
** On a CPU with AVX-512VL a last column times the kernel held to 6-row
** blocks (gemm_rows_vl) against its 10-row ones.
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

/* C[M,N] += A[M,K] B[K,N] by OpenBLAS, by graphrun's kernel (from panels
** when `panels`), and by the kernel in 6-row blocks where it takes 10;
** prints one line. */
static void bench(int M, int N, int K, int panels, const char *what) {
  float *A = rnd((size_t)M * K), *B = rnd((size_t)K * N), *C = rnd((size_t)M * N);
  float *P = panels ? rnd(gemm_panels_floats(K, N)) : NULL;
  if (P) gemm_pack(K, N, B, N, 0, P);
  int it = (int)(2e8 / (2.0 * M * N * K)) + 10, ways = gemm_rows_vl(-1) ? 3 : 2;
  double best[3] = { 1e30, 1e30, 1e30 };
  for (int rep = 0; rep < 5; rep++)
    for (int way = 0; way < ways; way++) {
      gemm_rows_vl(way == 2);
      double t = now();
      for (int i = 0; i < it; i++) {
        if (!way) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 1.0f, C, N);
        else if (P) gemm_rows_panels(M, N, K, A, K, P, gemm_panels_stride(K), 1, C, N);
        else gemm_rows(M, N, K, A, K, B, N, 1, C, N);
      }
      double dt = (now() - t) / it;
      if (dt < best[way]) best[way] = dt;
    }
  gemm_rows_vl(0);
  double f = 2.0 * M * N * K * 1e-9;
  printf("[%2d,%4d] x [%4d,%4d]  OpenBLAS %6.1f GFLOP/s  %s %6.1f GFLOP/s  (%.2fx)", M, K, K, N, f / best[0],
         P ? "panels" : "in place", f / best[1], best[0] / best[1]);
  if (ways == 3) printf("  6-row blocks %6.1f (10-row %.2fx)", f / best[2], best[2] / best[1]);
  printf("  %s\n", what);
  free(A); free(B); free(C); free(P);
}

int main(void) {
  openblas_set_num_threads(1);
  printf("gemm_rows %s here (the OpenBLAS kernel's vector level decides); blocks of up to %d rows\n",
         gemm_rows_on(100) ? "takes the steps at d = 100" : "is not used", gemm_rows_vl(-1) ? 10 : 6);
  static const struct { int M, N, K, panels; const char *what; } shapes[] = {
    { 10, 400, 100, 0, "LSTM step, d = 100, a thread's rows ([B,H] x [H,4H])" },
    { 10, 100, 400, 0, "its backward ([B,4H] x [4H,H])" },
    { 10, 400, 200, 0, "attention decoder step ([B,2H] x [2H,4H])" },
    { 10, 200, 400, 0, "its backward" },
    { 10, 100, 200, 0, "lin_out ([B,2H] x [2H,H])" },
    { 10, 200, 100, 0, "its backward (dcq)" },
    { 10, 100, 100, 0, "lin_in" },
    { 20, 400, 100, 0, "LSTM step, d = 100, one thread's whole step" },
    { 10, 1024, 256, 1, "LSTM step, d = 256, a thread's rows" },
    { 10, 256, 1024, 1, "its backward" },
    { 10, 1024, 512, 1, "attention decoder step, d = 256" },
    { 10, 512, 1024, 1, "its backward" },
  };
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
    bench(shapes[i].M, shapes[i].N, shapes[i].K, shapes[i].panels, shapes[i].what);
  return 0;
}
