/*
** sgemm_peak.c — this machine's OpenBLAS single-precision product rate, the
** ceiling graphrun's GFLOP/s are compared with: the best rate of any row,
** the square products or the shapes an LSTM model's step really runs (on a
** virtual machine a square product's rate moves by 10-25% between runs;
** bench/run measures at its start, after each whole-corpus run and at its
** end, and keeps the best).
**
** usage: sgemm_peak         (threads: OPENBLAS_NUM_THREADS, default all cores)
** Last line: "peak GFLOP/s X", the best rate above, for bench/run to read.
*/
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Best of 5 timings of C[M,N] = A[M,K] B (B^T when tb), repeated until
** ~0.3 s have passed; returns GFLOP/s. */
static double rate(int M, int N, int K, int tb) {
  float *a = malloc(sizeof(float) * (size_t)M * K), *b = malloc(sizeof(float) * (size_t)K * N);
  float *c = malloc(sizeof(float) * (size_t)M * N);
  if (!a || !b || !c) { fprintf(stderr, "sgemm_peak: out of memory\n"); exit(1); }
  for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 13) * 0.01f;
  for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)(i % 11) * 0.01f;
  double best = 0;
  for (int trial = 0; trial < 5; trial++) {
    long reps = 0;
    double t0 = now(), t;
    do {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                  a, K, b, tb ? K : N, 0.0f, c, N);
      reps++;
    } while ((t = now() - t0) < 0.3);
    double g = 2.0 * M * N * K * reps / t * 1e-9;
    if (g > best) best = g;
  }
  free(a); free(b); free(c);
  return best;
}

int main(void) {
  static const struct { int M, N, K, tb; const char *what; } s[] = {
    { 1024, 1024, 1024, 0, "square" },
    { 2048, 2048, 2048, 0, "square" },
    { 20, 400, 100, 0, "LSTM step, H=100 ([B,H] x [H,4H], as graphrun runs it)" },
    { 20, 400, 100, 1, "LSTM step, H=100, W_hh read transposed (not used)" },
    { 20, 1024, 256, 0, "LSTM step, H=256 ([B,H] x [H,4H], as graphrun runs it)" },
    { 20, 1024, 256, 1, "LSTM step, H=256, W_hh read transposed (not used)" },
    { 700, 400, 100, 1, "LSTM input projection, all steps, H=100" },
    { 700, 1024, 256, 1, "LSTM input projection, all steps, H=256" },
    { 700, 10000, 100, 1, "output layer, d=100, V=10k (x E^T)" },
    { 700, 10000, 256, 1, "output layer, d=256, V=10k (x E^T)" },
  };
  double peak = 0;
  printf("OpenBLAS kernel %s, %d threads\n", openblas_get_corename(), openblas_get_num_threads());
  for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
    double g = rate(s[i].M, s[i].N, s[i].K, s[i].tb);
    if (g > peak) peak = g;
    printf("sgemm %5d x %5d x %5d%s %8.1f GFLOP/s  %s\n", s[i].M, s[i].N, s[i].K, s[i].tb ? "T" : " ", g, s[i].what);
  }
  printf("peak GFLOP/s %.1f\n", peak);
  return 0;
}
