/*
** lstm_bench.c — speed of the fused LSTM (lstm.c): forward + backward of a
** 2-layer LSTM at T=35, B=20 (the assignment's bptt and batch), H = D = 100
** and 256, in GFLOP/s of the matrix products and ms per batch.
**
** usage: lstm_bench [iterations]      (threads: OPENBLAS_NUM_THREADS)
**
** OpenBLAS picks its kernels from OPENBLAS_CORETYPE when set: on an AVX-512
** machine, OPENBLAS_CORETYPE=Haswell (AVX2) is about 1.5x slower on these
** products than SKYLAKEX.  Compare with PyTorch under the same setting (it
** links the same OpenBLAS).
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "lstm.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *rnd(size_t n, Rng *r) {
  float *p = malloc(n * sizeof *p);
  if (!p) { fprintf(stderr, "lstm_bench: out of memory\n"); exit(1); }
  for (size_t i = 0; i < n; i++) p[i] = (rng_uniform(r) - 0.5f) * 0.2f;
  return p;
}

/* Times `it` forward+backward passes; prints one line. */
static void bench(int T, int B, int H, int L, float p, int it) {
  Rng rng; rng_seed(&rng, 1);
  int D = H;
  LstmLayer ly[8];
  for (int l = 0; l < L; l++) {
    size_t in = l ? H : D;
    ly[l] = (LstmLayer){rnd(4 * H * in, &rng), rnd(4 * (size_t)H * H, &rng), rnd(4 * H, &rng),
                        rnd(4 * H * in, &rng), rnd(4 * (size_t)H * H, &rng), rnd(4 * H, &rng)};
  }
  LstmRun r = {.T = T, .B = B, .D = D, .H = H, .L = L, .layer = ly, .p = p, .training = p > 0};
  size_t TBH = (size_t)T * B * H, LBH = (size_t)L * B * H;
  float *x = rnd((size_t)T * B * D, &rng), *y = rnd(TBH, &rng), *dy = rnd(TBH, &rng), *dx = rnd((size_t)T * B * D, &rng);
  float *h0 = rnd(LBH, &rng), *c0 = rnd(LBH, &rng), *hN = rnd(LBH, &rng), *cN = rnd(LBH, &rng);
  Arena A; arena_init(&A, lstm_fwd_bytes(&r) + lstm_bwd_bytes(&r));
  double best = 1e30;
  for (int k = 0; k < it; k++) {
    arena_reset(&A);
    double t0 = now();
    if (lstm_seq_fwd(&r, &A, &rng, x, h0, c0, y, hN, cN) || lstm_seq_bwd(&r, &A, dy, NULL, NULL, dx, NULL, NULL)) {
      fprintf(stderr, "lstm_bench: arena too small\n"); exit(1);
    }
    double dt = now() - t0;
    if (dt < best) best = dt;
  }
  /* Products: per layer fwd 2*T*B*4H*(in+H); backward twice that. */
  double fl = 0;
  for (int l = 0; l < L; l++) fl += 3.0 * 2.0 * T * B * 4.0 * H * ((l ? H : D) + H);
  printf("lstm T=%d B=%d D=H=%d L=%d p=%.1f: %.3f ms/batch (best of %d), %.2f GFLOP/s, %.0f tok/s\n",
         T, B, H, L, p, best * 1e3, it, fl / best * 1e-9, (double)T * B / best);
  for (int l = 0; l < L; l++) {
    free((void *)ly[l].W_ih); free((void *)ly[l].W_hh); free((void *)ly[l].b);
    free(ly[l].dW_ih); free(ly[l].dW_hh); free(ly[l].db);
  }
  free(x); free(y); free(dy); free(dx); free(h0); free(c0); free(hN); free(cN);
  arena_free(&A);
}

int main(int argc, char **argv) {
  int it = argc > 1 ? atoi(argv[1]) : 50;
  if (it < 1) it = 1;
  bench(35, 20, 100, 2, 0.2f, it);
  bench(35, 20, 256, 2, 0.2f, it);
  bench(35, 20, 100, 1, 0.0f, it);
  bench(35, 20, 256, 1, 0.0f, it);
  return 0;
}
