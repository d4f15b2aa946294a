/*
** par.h — graphrun's own threads: a tiny pool that splits matrix products
** and row loops over the machine's cores.
**
** Why not OpenBLAS's threads: the products of a training step are small
** ([20,100] x [100,400] per time step, [700,100] x [100,1250] for the
** output layer).  OpenBLAS wakes its threads for each call and yields the
** CPU between calls; on this size its second thread gains little or loses
** (bench/RESULTS.md has the measurements).  Here the pool's threads spin
** briefly between jobs, so handing over a job costs well under a
** microsecond, and each thread runs single-threaded OpenBLAS on its own
** block of the result.  The split is fixed by the shapes and the thread
** count, so a run is repeatable for a given count (OpenBLAS may block a
** smaller product's sums differently, so other counts differ in the last
** bits).
**
** Without par_init (one-off commands, tests) everything runs on the
** calling thread and OpenBLAS keeps its own threading.
*/
#ifndef GR_PAR_H
#define GR_PAR_H

/* Starts n-1 worker threads (n <= 0: par_cores(), at most PAR_MAX),
** switches OpenBLAS to one thread and stops the threads it
** started when it loaded.  Calling it again with another n restarts the
** pool.  Returns the number of threads in use. */
#define PAR_MAX 16
int  par_init(int n);
/* The CPUs this process may run on (its affinity mask: taskset, a cpuset,
** mpirun's binding; at most its cgroup's CPU quota), at least 1. */
int  par_cores(void);
/* The whole CPUs a cgroup CPU quota allows (docker --cpus=2.5: 2; at least
** 1), 0 if there is no quota:
** the cgroup named in `self` (/proc/self/cgroup) and its ancestors, read
** under `root` (/sys/fs/cgroup), the smallest quota: v2 cpu.max, v1
** cpu.cfs_quota_us / cpu.cfs_period_us. */
int  par_quota_cpus(const char *self, const char *root);
/* Moves this process onto CPUs [first, first + n) (the kernel keeps only
** those a cpuset allows); returns par_cores() then, or -1 if it could not. */
int  par_bind(int first, int n);
int  par_threads(void);
/* Whether the caller runs inside a chunk of a pool job (where a par_for or
** par_gemm runs serially on the calling thread). */
int  par_nested(void);
/* Stops the workers (also registered with atexit by par_init). */
void par_shutdown(void);

/* fn(ctx, lo, hi) over [0, n) in contiguous chunks, one per thread, each
** at least `grain` long (fewer chunks when n is small).  The calling
** thread runs the first chunk; returns when all are done.  Calls from
** inside a chunk run serially. */
typedef void (*ParFn)(void *ctx, long lo, long hi);
void par_for(long n, long grain, ParFn fn, void *ctx);

/* Row-major C = alpha op(A) op(B) + beta C, as cblas_sgemm with
** CblasRowMajor; ta/tb: 1 = transposed.  Large products are split over the
** pool by the longer of C's two sides, or over the sum when it is much
** longer than both (the parts then added in a fixed order). */
void par_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc);

/* C = op(A) op(B) + bias: C's rows start as the bias [N] (each thread
** writes its own block's rows just before its product), alpha 1. */
void par_gemm_bias(int ta, int tb, int M, int N, int K, const float *A, int lda,
                   const float *B, int ldb, const float *bias, float *C, int ldc);

/* x[0..n) = 0, large arrays split over the pool. */
void par_zero(float *x, long n);

/* d[j] += sum over rows r of g[r*M + j]: a bias gradient; one block of
** columns per thread, each summed in row order. */
void par_colsum(const float *g, long N, int M, float *d);

#endif
