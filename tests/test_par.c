/*
** test_par.c — the thread pool (par.c): the split product against a plain
** triple loop in double, every index of par_for visited exactly once,
** nested calls, restarting the pool with another thread count, column
** sums in row order, par_zero, OpenBLAS's own threads stopped, the default
** thread count from the affinity mask and a cgroup's CPU quota, par_bind.
*/
#define _GNU_SOURCE                 /* sched_setaffinity, CPU_COUNT */
#include "testutil.h"
#include <sched.h>
#include <sys/stat.h>
#include <cblas.h>
#include <dirent.h>
#include "par.h"
#include "seqk.h"

static unsigned long long seed = 99;
static float urand(void) {
  seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((double)(seed >> 11) / 9007199254740992.0) - 0.5f;
}
static float *fnew(long n) {
  float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
  ck_assert_ptr_nonnull(p);
  for (long i = 0; i < n; i++) p[i] = urand();
  return p;
}

/* One product through par_gemm (or par_gemm_bias, if `bias`: alpha and beta
** 1, C's old values replaced by the bias row), checked element by element
** against a double triple loop.  Leading dimensions are padded by `pad` to
** exercise strides. */
static void check_gemm(int ta, int tb, int M, int N, int K, float alpha, float beta, int pad, int bias) {
  int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  long na = (long)(ta ? K : M) * lda, nb = (long)(tb ? N : K) * ldb, nc = (long)M * ldc;
  float *A = fnew(na), *B = fnew(nb), *C = fnew(nc), *C0 = malloc(sizeof(float) * (size_t)nc);
  if (beta == 0.0f && !bias)       /* beta = 0 reads nothing of C: not even a NaN */
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) C[(long)i * ldc + j] = NAN;
  memcpy(C0, C, sizeof(float) * (size_t)nc);
  float *b = bias ? fnew(N) : NULL;
  if (bias) { alpha = beta = 1.0f; par_gemm_bias(ta, tb, M, N, K, A, lda, B, ldb, b, C, ldc); }
  else par_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < ldc; j++) {
      double want = C0[(long)i * ldc + j];
      if (j < N) {
        double s = 0;
        for (int k = 0; k < K; k++)
          s += (double)(ta ? A[(long)k * lda + i] : A[(long)i * lda + k]) *
               (tb ? B[(long)j * ldb + k] : B[(long)k * ldb + j]);
        want = alpha * s + (b ? b[j] : beta ? beta * want : 0.0);
      }
      double got = C[(long)i * ldc + j];
      if (!(fabs(got - want) <= 1e-5 * (K + 1)))   /* a NaN fails too (ck_assert is slow: only on failure) */
        ck_abort_msg(
                    "%s ta=%d tb=%d M=%d N=%d K=%d: C[%d,%d] = %.8g, expected %.8g%s", b ? "par_gemm_bias" : "par_gemm",
                    ta, tb, M, N, K, i, j, got, want, j >= N ? " (padding must stay)" : "");
    }
  free(A); free(B); free(C); free(C0); free(b);
}

START_TEST(gemm_matches_loops) {
  /* Shapes of a training step (split by columns and by rows), sums long
  ** enough to be split (the output layer's dL E), odd sizes that leave
  ** partial blocks, and products too small to split. */
  static const int shapes[][3] = {
    { 20, 400, 100 }, { 20, 100, 400 }, { 700, 400, 100 }, { 400, 100, 700 }, { 333, 77, 129 },
    { 40, 30, 10000 }, { 33, 17, 16001 },
    { 17, 1250, 33 }, { 1, 1, 1 }, { 1, 700, 3 }, { 700, 1, 3 }, { 5, 3, 0 }, { 3, 5, 2 },
  };
  for (int th = 1; th <= 3; th++) {
    ck_assert_int_eq(par_init(th), th);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      for (int t = 0; t < 8; t++)           /* t & 4: with a bias row */
        check_gemm(t & 1, (t >> 1) & 1, shapes[s][0], shapes[s][1], shapes[s][2],
                   (t & 3) == 3 ? 0.5f : 1.0f, (t & 1) ? 1.0f : 0.0f, (int)(s % 3), t >> 2);
  }
  par_shutdown();
}
END_TEST

/* For a fixed thread count, the same product gives the same bits. */
START_TEST(gemm_repeatable) {
  par_init(2);
  static const int shapes[][3] = { { 300, 500, 200 }, { 50, 40, 10000 } };   /* the second splits its sum */
  for (int s = 0; s < 2; s++) {
    int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
    float *A = fnew((long)M * K), *B = fnew((long)K * N), *C1 = fnew((long)M * N), *C2 = fnew((long)M * N);
    par_gemm(0, 0, M, N, K, 1, A, K, B, N, 0, C1, N);
    for (int r = 0; r < 20; r++) {
      par_gemm(0, 0, M, N, K, 1, A, K, B, N, 0, C2, N);
      ck_assert(!memcmp(C1, C2, sizeof(float) * (size_t)M * N));
    }
    free(A); free(B); free(C1); free(C2);
  }
  par_shutdown();
}
END_TEST

static void count_visits(void *ctx, long lo, long hi) {
  int *seen = ctx;
  for (long i = lo; i < hi; i++) seen[i]++;
}

/* par_colsum adds each column in row order, whatever the thread count and
** however many rows it takes per pass: bit for bit a plain float loop. */
START_TEST(colsum_is_the_row_order_sum) {
  static const long Ns[] = {1, 3, 4, 7, 700};
  static const int Ms[] = {1, 5, 1250};
  for (int threads = 1; threads <= 2; threads++) {
    par_init(threads);
    for (int a = 0; a < 5; a++)
      for (int b = 0; b < 3; b++) {
        long N = Ns[a]; int M = Ms[b];
        float *g = fnew(N * M), *d = fnew(M), *want = malloc(sizeof(float) * (size_t)M);
        memcpy(want, d, sizeof(float) * (size_t)M);
        for (long r = 0; r < N; r++)
          for (int j = 0; j < M; j++) want[j] += g[r * M + j];
        par_colsum(g, N, M, d);
        for (int j = 0; j < M; j++)
          if (d[j] != want[j]) ck_abort_msg("par_colsum N=%ld M=%d threads %d: d[%d] = %.9g, expected %.9g", N, M, threads, j, d[j], want[j]);
        free(g); free(d); free(want);
      }
  }
  par_init(1);
}
END_TEST

START_TEST(par_for_visits_each_index_once) {
  static const long ns[] = { 0, 1, 2, 3, 7, 64, 1000, 100003 };
  static const long grains[] = { 1, 3, 1000 };
  int *seen = calloc(100003, sizeof *seen);
  for (int th = 1; th <= 4; th++) {
    par_init(th);
    ck_assert_int_eq(par_threads(), th);
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
      for (size_t b = 0; b < sizeof grains / sizeof grains[0]; b++)
        for (int rep = 0; rep < 50; rep++) {
          memset(seen, 0, sizeof *seen * 100003);
          par_for(ns[a], grains[b], count_visits, seen);
          for (long i = 0; i < ns[a]; i++)
            if (seen[i] != 1) ck_abort_msg( "threads %d n %ld grain %ld: index %ld visited %d times",
                          th, ns[a], grains[b], i, seen[i]);
        }
  }
  free(seen);
  par_shutdown();
}
END_TEST

/* A chunk that itself calls par_for and par_gemm: the inner calls run on the
** chunk's own thread, and the results are still right. */
typedef struct Nest { float *A, *B, *C; int M, N, K; int *seen; } Nest;
static void nested(void *ctx, long lo, long hi) {
  Nest *s = ctx;
  for (long r = lo; r < hi; r++) {
    par_gemm(0, 0, s->M, s->N, s->K, 1, s->A, s->K, s->B, s->N, 0, s->C + r * s->M * s->N, s->N);
    par_for(10, 1, count_visits, s->seen + r * 10);
  }
}
START_TEST(nested_calls_run_serially) {
  par_init(2);
  Nest s = { NULL, NULL, NULL, 64, 96, 80, NULL };
  s.A = fnew((long)s.M * s.K); s.B = fnew((long)s.K * s.N);
  s.C = calloc(4 * (size_t)s.M * s.N, sizeof(float));
  s.seen = calloc(40, sizeof(int));
  par_for(4, 1, nested, &s);
  float *ref = calloc((size_t)s.M * s.N, sizeof(float));
  par_init(1);
  par_gemm(0, 0, s.M, s.N, s.K, 1, s.A, s.K, s.B, s.N, 0, ref, s.N);
  for (int r = 0; r < 4; r++)
    for (long i = 0; i < (long)s.M * s.N; i++)
      if (fabs(s.C[r * s.M * s.N + i] - ref[i]) > 1e-4) ck_abort_msg("block %d [%ld]: %g vs %g", r, i, s.C[r * s.M * s.N + i], ref[i]);
  for (int i = 0; i < 40; i++) ck_assert_int_eq(s.seen[i], 1);
  free(s.A); free(s.B); free(s.C); free(s.seen); free(ref);
  par_shutdown();
}
END_TEST

/* Restarting the pool: a new worker must not run the job that was current
** when the old pool stopped (its context is gone). */
START_TEST(restart_pool) {
  int *seen = calloc(1000, sizeof *seen);
  for (int k = 0; k < 30; k++) {
    par_init(1 + k % 3);
    memset(seen, 0, sizeof *seen * 1000);
    par_for(1000, 1, count_visits, seen);
    for (int i = 0; i < 1000; i++)
      if (seen[i] != 1) ck_abort_msg("threads %d: index %d visited %d times", 1 + k % 3, i, seen[i]);
  }
  /* The last job's context is still readable here, so a worker that ran it
  ** again would show up as a second visit. */
  par_init(2);
  memset(seen, 0, sizeof *seen * 1000);
  par_for(1000, 1, count_visits, seen);
  par_init(3);
  usleep(20000);
  for (int i = 0; i < 1000; i++)
    if (seen[i] != 1) ck_abort_msg("after restart: index %d visited %d times", i, seen[i]);
  par_shutdown();
  ck_assert_int_eq(par_threads(), 1);
  free(seen);
}
END_TEST

/* The finite check (seqk.c, split over the pool): every position, both
** infinities and NaN; the largest float, denormals and -0 are finite. */
/* par_zero clears exactly [0, n), on any thread count. */
START_TEST(zero_clears_exactly_n) {
  static const long ns[] = { 0, 1, 65535, 65536, 200003 };
  float *x = malloc(sizeof(float) * 200004);
  for (int th = 1; th <= 2; th++) {
    par_init(th);
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
      for (long i = 0; i <= ns[a]; i++) x[i] = 1.5f;
      par_zero(x, ns[a]);
      for (long i = 0; i <= ns[a]; i++)
        if (x[i] != (i < ns[a] ? 0.0f : 1.5f)) ck_abort_msg("threads %d n %ld: x[%ld] = %g", th, ns[a], i, x[i]);
    }
  }
  free(x);
  par_shutdown();
}
END_TEST

/* After par_init OpenBLAS's own threads are gone (they would spin for
** ~0.1 s, taking a core from the pool): the process has exactly the
** pool's threads. */
static int task_count(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}
/* task_count once it is `want`, or after a second: a thread that has been
** joined can stay listed a moment until the kernel reaps it (a busy
** machine showed 2 for 1 once). */
static int settled_task_count(int want) {
  int n = task_count();
  for (int i = 0; i < 100 && n != want; i++) {
    usleep(10000);
    n = task_count();
  }
  return n;
}
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1                     /* its runtime runs a thread of its own */
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
START_TEST(only_the_pool_runs_threads) {
#ifdef UNDER_TSAN
  return;
#endif
  if (task_count() < 0) return;          /* no /proc: nothing to count */
  /* Wake OpenBLAS's threads first (a forked test starts without them). */
  int n = 256;
  float *A = fnew((long)n * n), *C = fnew((long)n * n);
  openblas_set_num_threads(2);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, A, n, A, n, 0.0f, C, n);
  free(A); free(C);
  for (int th = 1; th <= 2; th++) {
    ck_assert_int_eq(par_init(th), th);
    ck_assert_int_eq(settled_task_count(th), th);
  }
  par_shutdown();
}
END_TEST

/* One thread per CPU the process may run on, not per CPU the machine has:
** restricted to one CPU (as taskset or a container's cpuset would), the
** default pool is one thread. */
START_TEST(default_threads_follow_the_affinity_mask) {
  cpu_set_t all, one;
  ck_assert_int_eq(sched_getaffinity(0, sizeof all, &all), 0);
  ck_assert_int_eq(par_cores(), CPU_COUNT(&all));
  int first = 0;
  while (!CPU_ISSET(first, &all)) first++;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
  ck_assert_int_eq(par_cores(), 1);
  ck_assert_int_eq(par_init(0), 1);
  par_shutdown();
  /* par_bind over every CPU id gives back exactly what the process may use */
  int last = 0;
  for (int c = 0; c < CPU_SETSIZE; c++) if (CPU_ISSET(c, &all)) last = c;
  ck_assert_int_eq(par_bind(0, last + 1), CPU_COUNT(&all));
  ck_assert_int_eq(sched_setaffinity(0, sizeof all, &all), 0);
  int want = CPU_COUNT(&all) < PAR_MAX ? CPU_COUNT(&all) : PAR_MAX;
  ck_assert_int_eq(par_init(0), want);
  par_shutdown();
}
END_TEST

/* Writes text to root/rel, making its directories. */
static void put(const char *root, const char *rel, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) { *p = 0; mkdir(path, 0700); *p = '/'; }
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

/* A cgroup CPU quota (docker --cpus) caps the threads: whole CPUs, at least
** one; v2's cpu.max and v1's cfs files, read for the process's own cgroup. */
START_TEST(cgroup_quota_caps_the_threads) {
  char root[256], self[300];
  tu_mkdtemp(root, "cg");
  snprintf(self, sizeof self, "%s/self", root);
  put(root, "self", "0::/a/b\n");
  ck_assert_int_eq(par_quota_cpus(self, root), 0);              /* no cpu.max: no quota */
  put(root, "a/b/cpu.max", "250000 100000\n");
  ck_assert_int_eq(par_quota_cpus(self, root), 2);
  put(root, "a/b/cpu.max", "50000 100000\n");
  ck_assert_int_eq(par_quota_cpus(self, root), 1);
  put(root, "a/b/cpu.max", "max 100000\n");
  ck_assert_int_eq(par_quota_cpus(self, root), 0);
  put(root, "a/cpu.max", "350000 100000\n");                    /* a parent's quota holds too */
  ck_assert_int_eq(par_quota_cpus(self, root), 3);
  put(root, "a/b/cpu.max", "250000 100000\n");                  /* the smallest on the way up */
  ck_assert_int_eq(par_quota_cpus(self, root), 2);
  put(root, "a/b/cpu.max", "max 100000\n");
  put(root, "a/cpu.max", "max 100000\n");
  put(root, "self", "12:pids:/x\n4:cpu,cpuacct:/docker/c1\n3:memory:/x\n");
  put(root, "cpu,cpuacct/docker/c1/cpu.cfs_quota_us", "300000\n");
  put(root, "cpu,cpuacct/docker/c1/cpu.cfs_period_us", "100000\n");
  ck_assert_int_eq(par_quota_cpus(self, root), 3);
  put(root, "cpu,cpuacct/docker/c1/cpu.cfs_quota_us", "-1\n");
  ck_assert_int_eq(par_quota_cpus(self, root), 0);
  put(root, "cpu,cpuacct/docker/cpu.cfs_quota_us", "200000\n");  /* the parent's, v1 */
  put(root, "cpu,cpuacct/docker/cpu.cfs_period_us", "100000\n");
  ck_assert_int_eq(par_quota_cpus(self, root), 2);
  put(root, "cpu,cpuacct/docker/cpu.cfs_quota_us", "-1\n");
  ck_assert_int_eq(par_quota_cpus(self, root), 0);
  put(root, "self", "4:cpuacct,cpu:/\n");                       /* mounted as cpu only */
  put(root, "cpu/cpu.cfs_quota_us", "100000\n");
  put(root, "cpu/cpu.cfs_period_us", "100000\n");
  ck_assert_int_eq(par_quota_cpus(self, root), 1);
  put(root, "self", "4:cpuacct:/\n");                           /* no cpu controller */
  ck_assert_int_eq(par_quota_cpus(self, root), 0);
  snprintf(self, sizeof self, "%s/none", root);
  ck_assert_int_eq(par_quota_cpus(self, root), 0);              /* no /proc/self/cgroup */
  tu_rmdir(root);
}
END_TEST

START_TEST(all_finite_finds_every_position) {
  static const long ns[] = { 1, 15, 16, 17, 100, 65536, 200003 };
  float *x = malloc(sizeof(float) * 200003);
  for (int th = 1; th <= 2; th++) {
    par_init(th);
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
      long n = ns[a];
      for (long i = 0; i < n; i++) x[i] = (i % 3 == 0) ? 3.4028235e38f : (i % 3 == 1) ? -1e-42f : -0.0f;
      ck_assert_int_eq(seqk_all_finite(x, n), 1);
      const long pos[] = { 0, n / 2, n - 1, n > 70000 ? 65535 : 0, n > 70000 ? 65536 : 0 };
      for (int p = 0; p < 5; p++)
        for (int kind = 0; kind < 3; kind++) {
          float keep = x[pos[p]];
          x[pos[p]] = kind == 0 ? INFINITY : kind == 1 ? -INFINITY : NAN;
          if (seqk_all_finite(x, n)) ck_abort_msg("threads %d n %ld: %s at %ld not found", th, n,
                                                  kind == 2 ? "NaN" : "inf", pos[p]);
          x[pos[p]] = keep;
        }
      ck_assert_int_eq(seqk_all_finite(x, n), 1);
    }
  }
  free(x);
  par_shutdown();
}
END_TEST

/* seqk_sumsq against a long-double loop over lengths around its 16 lanes.
** Every square is at least 1/4 of the largest, so a dropped or doubled
** element (a tail, a lane) moves the sum by at least 1/(4n), far above the
** rounding (about 1e-13 here). */
START_TEST(sumsq_matches_a_plain_loop) {
  static const long ns[] = { 0, 1, 7, 15, 16, 17, 31, 33, 100, 16384, 16391 };
  float *x = malloc(sizeof(float) * 16391);
  uint32_t r = 12345;
  for (long i = 0; i < 16391; i++) {
    r = r * 1664525u + 1013904223u;
    x[i] = (r & 1 ? -1.0f : 1.0f) * (0.5f + (float)(r >> 9) / 16777216.0f);
  }
  for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
    long n = ns[a];
    long double want = 0;
    for (long i = 0; i < n; i++) want += (long double)x[i] * x[i];
    double got = seqk_sumsq(x, n);
    if (fabsl(got - want) > 1e-12L * want) ck_abort_msg("n %ld: %.17g, want %.17Lg", n, got, want);
  }
  free(x);
}
END_TEST

static Suite *par_suite(void) {
  Suite *s = suite_create("par");
  TCase *tc = tcase_create("pool");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, gemm_matches_loops);
  tcase_add_test(tc, gemm_repeatable);
  tcase_add_test(tc, colsum_is_the_row_order_sum);
  tcase_add_test(tc, par_for_visits_each_index_once);
  tcase_add_test(tc, nested_calls_run_serially);
  tcase_add_test(tc, restart_pool);
  tcase_add_test(tc, all_finite_finds_every_position);
  tcase_add_test(tc, sumsq_matches_a_plain_loop);
  tcase_add_test(tc, zero_clears_exactly_n);
  tcase_add_test(tc, only_the_pool_runs_threads);
  tcase_add_test(tc, default_threads_follow_the_affinity_mask);
  tcase_add_test(tc, cgroup_quota_caps_the_threads);
  suite_add_tcase(s, tc);
  return s;
}
TU_MAIN(par_suite)
