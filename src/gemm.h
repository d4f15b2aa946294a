/*
** gemm.h — graphrun's own kernel for the few-row products of a recurrence.
**
** A step of an LSTM multiplies [B,H] by [H,4H] with B = 20 rows or fewer
** (10 per thread when the batch is split by rows).  OpenBLAS packs the
** whole weight matrix into its own layout on every call, for a product it
** then runs in microseconds.  Its AVX-512 kernels have small-matrix
** kernels that skip the packing; its AVX2 kernels (Haswell, Zen) do not,
** and there this kernel, which reads the weights where they are, runs the
** step's products 1.8x as fast (one thread, AMD EPYC, [10,100] x [100,400]
** and [10,400] x [400,100]; bench/gemm_bench.c).  With the older kernels
** OpenBLAS leaves the upper halves of the vector registers dirty, which
** slows any SSE code after it tenfold, and with the AVX-512 ones it is the
** faster: there gemm_rows_on() is 0 and the products stay with OpenBLAS.
** So it is above GEMM_ROWS_MAXH units: at H = 256 ([20,256] x [256,1024])
** the weights' rows are a page apart, and read in place they run at 0.77x
** OpenBLAS's speed.
**
** Every element of C is its own sum over k in increasing order, started
** from C (or 0), one fused multiply-add per term: a row's result does not
** depend on which other rows or columns are in the call, so splitting a
** batch over threads, or a step by units, changes no bit.
*/
#ifndef GR_GEMM_H
#define GR_GEMM_H

/* Row-major C[M,N] = A[M,K] B[K,N] (+ C when acc), with leading
** dimensions lda, ldb, ldc.  Serial; made for M up to a few dozen.  On a
** CPU without AVX2 and FMA it calls OpenBLAS. */
void gemm_rows(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
               int acc, float *C, int ldc);

/* Whether the steps of a recurrence of H units (the LSTM's, the attention
** decoder's) should use gemm_rows: H is at most GEMM_ROWS_MAXH, the OpenBLAS
** kernel in use is an AVX2 one and the CPU has AVX2 and FMA (see above). */
#define GEMM_ROWS_MAXH 112
int gemm_rows_on(int H);
/* Tests: 1 or 0 overrides the kernel and CPU part of gemm_rows_on's
** answer (not the size), -1 restores it. */
void gemm_rows_force(int on);

#endif
