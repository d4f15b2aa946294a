/*
** gemm.h — graphrun's own kernel for the few-row products of a recurrence
** (and, with the same kernels, the all-steps products beside it).
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
** OpenBLAS's speed; there gemm_rows_panels reads a packed copy instead.
**
** Every element of C is its own sum over k in increasing order, started
** from C (or 0), one fused multiply-add per term: a row's result does not
** depend on which other rows or columns are in the call, so splitting a
** batch over threads, or a step by units, changes no bit.  That holds where
** the kernel is (gemm_own()); elsewhere these functions call OpenBLAS, whose
** sums depend on the shape, and the *_on() choices below are 0.
*/
#ifndef GR_GEMM_H
#define GR_GEMM_H
#include <stddef.h>

/* Row-major C[M,N] = A[M,K] B[K,N] (+ C when acc), with leading
** dimensions lda, ldb, ldc.  Serial; made for M up to a few dozen.  Without
** graphrun's kernel (gemm_own) it calls OpenBLAS. */
void gemm_rows(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
               int acc, float *C, int ldc);

/* Whether the steps of a recurrence of H units (the LSTM's, the attention
** decoder's) should use gemm_rows: H is at most GEMM_ROWS_MAXH, the OpenBLAS
** kernel in use is an AVX2 one and the CPU has AVX2 and FMA (see above). */
#define GEMM_ROWS_MAXH 112
int gemm_rows_on(int H);
#define GEMM_PANEL 16
/* Above GEMM_ROWS_MAXH the weights are read from a copy in panels of
** GEMM_PANEL columns (gemm_pack), each panel's rows GEMM_PANEL floats apart, which the kernel
** then reads in order: at H = 256 a step's product runs at about 1.3x
** OpenBLAS's speed ([20,256] x [256,1024], one thread, AMD EPYC).
** gemm_panels_on(H): whether a recurrence of H units should do so (H above
** GEMM_ROWS_MAXH and a multiple of 16, so that a gate's columns start a
** panel; the kernel and the CPU as for gemm_rows_on). */
int gemm_panels_on(int H);
/* Floats from one panel of a [K,N] matrix's copy to the next: K rows of GEMM_PANEL. */
static inline size_t gemm_panels_stride(int K) { return (size_t)K * GEMM_PANEL; }
/* Floats of gemm_pack's copy of a [K,N] matrix: K x N rounded up to GEMM_PANEL. */
size_t gemm_panels_floats(size_t K, size_t N);   /* SIZE_MAX if that overflows */
/* P = B [K,N] (row stride ldb) in panels: panel p holds columns
** [16p, 16p + 16) as K rows of 16 floats (16 = GEMM_PANEL; the last panel
** zero-padded), and starts K * 16 floats after panel p - 1.  trans: B is
** given as its transpose, [N,K] with row stride ldb (an LSTM's W_hh for
** W_hh^T's panels, without a transposed copy first).  Split over the pool
** by panels. */
void gemm_pack(int K, int N, const float *B, int ldb, int trans, float *P);
/* gemm_pack of B as the K rows of a taller matrix's panels that start at P,
** each panel pstride floats after the one before: a matrix stacked from
** parts, [B1 ; B2] of K1 + K2 rows, packs as B1 at P and B2 at P + 16 K1,
** both with pstride gemm_panels_stride(K1 + K2). */
void gemm_pack_rows(int K, int N, const float *B, int ldb, int trans, float *P, size_t pstride);
/* gemm_rows with B given as panels: B's column 16p + i, row k is at
** P[p * pstride + k * 16 + i] (gemm_pack's copy, pstride gemm_panels_stride(K), or rows
** k0.. of it: P + 16 k0 with the same pstride).  The same bits as
** gemm_rows on the matrix itself. */
void gemm_rows_panels(int M, int N, int K, const float *A, int lda, const float *P, size_t pstride,
                      int acc, float *C, int ldc);
/* C[M,N] = A[M,K] B[K,N], B given as gemm_pack's panels (stride
** gemm_panels_stride(K)), plus C when acc, or else plus the bias row
** (bias[N], or none), split over the pool by rows: the products over all
** the steps of a sequence at once (an LSTM's input projections and input
** gradient), which with the bias at the start of every sum take no pass
** of their own over C.  Each element is one sum in k order from C, the
** bias or 0, as in gemm_rows: the bits do not depend on the threads. */
void gemm_panels_split(int M, int N, int K, const float *A, int lda, const float *P, const float *bias, int acc,
                       float *C, int ldc);
/* Whether such products should: the kernel and the CPU as for gemm_rows_on. */
int gemm_split_on(void);
/* C[M,N] = A[M,K] B (B [K,N], row stride ldb) or A B^T (tb: B [N,K]), plus C
** when acc, or else plus the bias row (or none): the products over all the
** steps of a sequence.  With gemm_split_on(), B is packed into P
** (gemm_panels_floats(K, N) floats) for gemm_panels_split; otherwise OpenBLAS
** takes it, split over the pool (par_gemm, par_gemm_bias), and P is unused. */
void gemm_all_steps(int M, int N, int K, const float *A, int lda, const float *B, int ldb, int tb, const float *bias,
                    int acc, float *P, float *C, int ldc);
/* Whether graphrun's kernel is here: compiled in (GCC on x86-64, without
** GR_NO_CLONES) and a CPU with AVX2 and FMA. */
int gemm_own(void);
/* Tests: 1 or 0 overrides the kernel and CPU part of gemm_rows_on's,
** gemm_panels_on's and gemm_split_on's answers (not the size), -1 restores it. */
void gemm_rows_force(int on);
/* Whether the kernel takes blocks of up to 10 rows in AVX-512VL's 32
** registers (a CPU that has them) instead of 6 in AVX2's 16; the same bits.
** Tests: off = 1 keeps it to 6 rows, 0 allows 10 again, -1 only asks. */
int gemm_rows_vl(int off);

#endif
