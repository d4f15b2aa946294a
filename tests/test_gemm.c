/*
** test_gemm.c — graphrun's own few-row product (gemm.c): against a plain
** double-precision loop over many shapes (panel tails of one and two
** vectors, blocks of rows, empty sums, leading dimensions wider
** than the matrices, with and without accumulating); a row's and a
** column's result the same bits whatever else is in the call; the same
** bits from a packed copy in panels; and the choice, which follows the
** OpenBLAS kernel's vector level.  Where the 10-row blocks are taken
** (AVX-512VL), the product tests run twice (loop test _i): with them, and
** with 6-row blocks only; the two give the same bits.  gemm_panels_split, the
** all-steps products from panels over threads, gives gemm_rows's bits.
** The bits hold where graphrun's kernel is (gemm_own); a build without it
** (GR_NO_CLONES) calls OpenBLAS, and there they hold to rounding.
*/
#include "testutil.h"
#include "gemm.h"
#include "blas.h"
#include "par.h"
#include <math.h>
#include <stdint.h>

static unsigned seed = 12345;
static float rnd(void) {
  seed = seed * 1103515245u + 12345u;
  return (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* The same bits where graphrun's kernel is (gemm_own); elsewhere the calls
** go to OpenBLAS, whose sums depend on the shape: the same to the rounding
** of K terms of at most 1 (the tests' numbers are in [-1, 1]), far below a
** term missed or counted twice. */
static int same(const float *a, const float *b, size_t n, int K) {
  if (gemm_own()) return !memcmp(a, b, sizeof(float) * n);
  for (size_t i = 0; i < n; i++)
    if (!(fabsf(a[i] - b[i]) <= 1e-5f * (float)(K + 1))) return 0;
  return 1;
}

/* Sets up loop pass i (0: the 10-row blocks where taken; 1: 6-row blocks
** only); 0 for pass 1 where the 10-row blocks are not taken, which would
** repeat pass 0. */
static int vl_pass(int i) {
  if (i && !gemm_rows_vl(0)) return 0;
  gemm_rows_vl(i);
  return 1;
}

/* C = A B (+ C) with padding around every matrix: the padding must stay. */
static void check_shape(int M, int N, int K, int acc) {
  int lda = K + 3, ldb = N + 5, ldc = N + 2;
  size_t na = (size_t)M * lda + 1, nb = (size_t)(K ? K : 1) * ldb, nc = (size_t)M * ldc;
  float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb), *C = malloc(sizeof(float) * nc);
  double *want = malloc(sizeof(double) * nc), *mag = malloc(sizeof(double) * nc);
  for (size_t i = 0; i < na; i++) A[i] = rnd();
  for (size_t i = 0; i < nb; i++) B[i] = rnd();
  for (size_t i = 0; i < nc; i++) C[i] = rnd();
  for (int i = 0; i < M; i++)
    for (int j = 0; j < ldc; j++) {
      size_t o = (size_t)i * ldc + j;
      if (j >= N) { want[o] = C[o]; mag[o] = 0; continue; }
      double s = acc ? C[o] : 0, m = acc ? fabs(C[o]) : 0;
      for (int k = 0; k < K; k++) {
        s += (double)A[(size_t)i * lda + k] * B[(size_t)k * ldb + j];
        m += fabs((double)A[(size_t)i * lda + k] * B[(size_t)k * ldb + j]);
      }
      want[o] = s; mag[o] = m;
    }
  gemm_rows(M, N, K, A, lda, B, ldb, acc, C, ldc);
  for (size_t o = 0; o < nc; o++) {
    double tol = 1e-6 * (mag[o] + 1e-30);
    ck_assert_msg(fabs(C[o] - want[o]) <= tol || (mag[o] == 0 && C[o] == want[o]),
                  "M%d N%d K%d acc%d: C[%zu] = %.9g, want %.9g", M, N, K, acc, o, C[o], want[o]);
  }
  free(A); free(B); free(C); free(want); free(mag);
}

START_TEST(matches_a_plain_loop) {
  if (!vl_pass(_i)) return;
  static const int Ms[] = { 1, 2, 5, 6, 7, 10, 13, 20, 30 };  /* blocks of 1-6 rows, or 1-10 */
  static const int Ns[] = { 1, 3, 8, 9, 16, 17, 33, 100, 400 };  /* tails of 1 and 2 vectors */
  static const int Ks[] = { 0, 1, 7, 100, 300 };
  for (size_t m = 0; m < sizeof Ms / sizeof *Ms; m++)
    for (size_t n = 0; n < sizeof Ns / sizeof *Ns; n++)
      for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
        for (int acc = 0; acc <= 1; acc++) check_shape(Ms[m], Ns[n], Ks[k], acc);
  gemm_rows_vl(0);
}
END_TEST

/* Each element is its own sum in k order: computing rows one at a time,
** or the columns in two calls cut at an odd place, gives the same bits as
** one call; so do the rows of an LSTM step split over threads. */
START_TEST(rows_and_columns_do_not_depend_on_the_rest) {
  if (!vl_pass(_i)) return;
  const int M = 20, N = 100, K = 300;   /* N: 6 panels and a tail */
  float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
  float *C0 = malloc(sizeof(float) * M * N), *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
  for (int i = 0; i < M * K; i++) A[i] = rnd();
  for (int i = 0; i < K * N; i++) B[i] = rnd();
  for (int i = 0; i < M * N; i++) C0[i] = C1[i] = C2[i] = rnd();
  gemm_rows(M, N, K, A, K, B, N, 1, C0, N);
  for (int i = 0; i < M; i++) gemm_rows(1, N, K, A + (size_t)i * K, K, B, N, 1, C1 + (size_t)i * N, N);
  gemm_rows(M, 37, K, A, K, B, N, 1, C2, N);
  gemm_rows(M, N - 37, K, A, K, B + 37, N, 1, C2 + 37, N);
  ck_assert_msg(same(C0, C1, (size_t)M * N, K), "rows one at a time differ");
  ck_assert_msg(same(C0, C2, (size_t)M * N, K), "columns in two calls differ");
  free(A); free(B); free(C0); free(C1); free(C2);
  gemm_rows_vl(0);
}
END_TEST

/* The 10-row blocks (AVX-512VL) and the 6-row ones give the same bits, in
** place and from panels, full panels and tails; they are taken exactly
** where the CPU has AVX-512F and VL and graphrun has its own kernel
** (gemm_own: not in the sanitizer builds with GR_NO_CLONES, where OpenBLAS
** takes every product). */
START_TEST(ten_row_blocks_give_six_row_bits) {
  unsigned cpu = blas_cpu_flags();
  int want = gemm_own() && (cpu & BLAS_CPU_AVX512F) && (cpu & BLAS_CPU_AVX512VL);
  ck_assert_int_eq(gemm_rows_vl(-1), want);
  ck_assert_int_eq(gemm_rows_vl(1), 0);
  ck_assert_int_eq(gemm_rows_vl(0), want);
  static const int Ms[] = { 3, 9, 10, 11, 20, 27 };
  const int N = 57, K = 129;                      /* 3 panels and a tail of 2 vectors */
  float *A = malloc(sizeof(float) * 27 * K), *B = malloc(sizeof(float) * K * N);
  float *P = malloc(sizeof(float) * gemm_panels_floats(K, N));
  float *C[4];
  for (int i = 0; i < 4; i++) C[i] = malloc(sizeof(float) * 27 * N);
  for (int i = 0; i < 27 * K; i++) A[i] = rnd();
  for (int i = 0; i < K * N; i++) B[i] = rnd();
  gemm_pack(K, N, B, N, 0, P);
  for (size_t m = 0; m < sizeof Ms / sizeof *Ms; m++) {
    int M = Ms[m];
    for (int i = 0; i < M * N; i++) C[0][i] = C[1][i] = C[2][i] = C[3][i] = rnd();
    for (int off = 0; off <= 1; off++) {
      gemm_rows_vl(off);
      gemm_rows(M, N, K, A, K, B, N, 1, C[off], N);
      gemm_rows_panels(M, N, K, A, K, P, gemm_panels_stride(K), 1, C[2 + off], N);
    }
    gemm_rows_vl(0);
    ck_assert_msg(!memcmp(C[0], C[1], sizeof(float) * M * N), "M%d: in place", M);
    ck_assert_msg(!memcmp(C[2], C[3], sizeof(float) * M * N), "M%d: from panels", M);
  }
  free(A); free(B); free(P);
  for (int i = 0; i < 4; i++) free(C[i]);
}
END_TEST

/* On by the kernel's vector level: AVX2 kernels only, and graphrun's own
** kernel on a CPU with AVX2 and FMA, up to GEMM_ROWS_MAXH units; the
** override wins over the kernel but not over the size, and -1 gives the
** choice back. */
START_TEST(choice_follows_the_blas_kernel) {
  unsigned cpu = blas_cpu_flags();
  int own = (cpu & BLAS_CPU_AVX2) && (cpu & BLAS_CPU_FMA);
#if !defined(__x86_64__) || !defined(__GNUC__) || defined(__clang__) || defined(GR_NO_CLONES)
  own = 0;                                      /* the kernel is not compiled in (gemm.c) */
#endif
  ck_assert_int_eq(gemm_own(), own);
  int want = blas_kernel_level() == 2 && own;
  ck_assert_int_eq(gemm_rows_on(100), want);
  ck_assert_int_eq(gemm_rows_on(GEMM_ROWS_MAXH), want);
  ck_assert_int_eq(gemm_rows_on(GEMM_ROWS_MAXH + 1), 0);
  gemm_rows_force(!want);
  ck_assert_int_eq(gemm_rows_on(100), !want);
  gemm_rows_force(1);
  ck_assert_int_eq(gemm_rows_on(256), 0);
  gemm_rows_force(-1);
  ck_assert_int_eq(gemm_rows_on(100), want);
  /* panels: above GEMM_ROWS_MAXH, in whole panels only, on the same terms */
  ck_assert_int_eq(gemm_panels_on(256), want);
  ck_assert_int_eq(gemm_panels_on(128), want);
  ck_assert_int_eq(gemm_panels_on(100), 0);
  ck_assert_int_eq(gemm_panels_on(200), 0);
  gemm_rows_force(1);
  ck_assert_int_eq(gemm_panels_on(256), 1);
  ck_assert_int_eq(gemm_panels_on(GEMM_ROWS_MAXH), 0);
  gemm_rows_force(0);
  ck_assert_int_eq(gemm_panels_on(256), 0);
  ck_assert_int_eq(gemm_split_on(), 0);         /* the all-steps products: any size, on the same terms */
  gemm_rows_force(1);
  ck_assert_int_eq(gemm_split_on(), 1);
  gemm_rows_force(-1);
  ck_assert_int_eq(gemm_split_on(), want);
}
END_TEST

/* The panels are the same packed whole, from B^T, or in two parts of rows
** (gemm_pack_rows).  From them, the same bits as gemm_rows on the matrix itself
** (checked against the plain loop above): whole, from a later panel on,
** and from a later row on (the LSTM's gates and unit blocks), with tails
** of one and two vectors, with and without accumulating. */
START_TEST(panels_give_gemm_rows_bits) {
  if (!vl_pass(_i)) return;
  static const int Ns[] = { 1, 9, 16, 40, 64, 100 };
  const int M = 7, K = 37;
  for (size_t a = 0; a < sizeof Ns / sizeof *Ns; a++) {
    int N = Ns[a], ldb = N + 3;
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * ldb);
    float *P = malloc(sizeof(float) * gemm_panels_floats(K, N));
    float *C0 = malloc(sizeof(float) * M * N), *C1 = malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++) A[i] = rnd();
    for (int i = 0; i < K * ldb; i++) B[i] = rnd();
    gemm_pack(K, N, B, ldb, 0, P);
    size_t ps = (size_t)K * 16;
    {                                             /* from B^T, the same panels, on two threads */
      float *Bt = malloc(sizeof(float) * (size_t)N * (K + 2)), *P2 = malloc(sizeof(float) * gemm_panels_floats(K, N));
      for (int j = 0; j < N; j++)
        for (int k = 0; k < K + 2; k++) Bt[(size_t)j * (K + 2) + k] = k < K ? B[(size_t)k * ldb + j] : NAN;
      memset(P2, 0xff, sizeof(float) * gemm_panels_floats(K, N));
      par_init(2);
      gemm_pack(K, N, Bt, K + 2, 1, P2);
      par_init(1);
      ck_assert_msg(!memcmp(P, P2, sizeof(float) * gemm_panels_floats(K, N)), "N%d: packed from B^T", N);
      for (int tr = 0; tr <= 1; tr++) {           /* stacked from two parts, rows [0, 13) and [13, K) */
        const int k1 = 13;
        memset(P2, 0xff, sizeof(float) * gemm_panels_floats(K, N));
        if (tr) {
          gemm_pack_rows(k1, N, Bt, K + 2, 1, P2, ps);
          gemm_pack_rows(K - k1, N, Bt + k1, K + 2, 1, P2 + 16 * k1, ps);
        } else {
          gemm_pack_rows(k1, N, B, ldb, 0, P2, ps);
          gemm_pack_rows(K - k1, N, B + (size_t)k1 * ldb, ldb, 0, P2 + 16 * k1, ps);
        }
        ck_assert_msg(!memcmp(P, P2, sizeof(float) * gemm_panels_floats(K, N)), "N%d: packed in two parts%s", N,
                      tr ? " from B^T" : "");
      }
      free(Bt); free(P2);
    }
    for (int acc = 0; acc <= 1; acc++) {
      for (int i = 0; i < M * N; i++) C0[i] = C1[i] = rnd();
      gemm_rows(M, N, K, A, K, B, ldb, acc, C0, N);
      gemm_rows_panels(M, N, K, A, K, P, ps, acc, C1, N);
      ck_assert_msg(same(C0, C1, (size_t)M * N, K), "N%d acc%d: whole", N, acc);
      int j0 = N > 16 ? 16 : 0, k0 = 5;           /* columns from panel 1; rows from k0 */
      gemm_rows(M, N - j0, K - k0, A + k0, K, B + (size_t)k0 * ldb + j0, ldb, acc, C0 + j0, N);
      gemm_rows_panels(M, N - j0, K - k0, A + k0, K, P + (size_t)(j0 / 16) * ps + 16 * k0, ps, acc, C1 + j0, N);
      ck_assert_msg(same(C0, C1, (size_t)M * N, K), "N%d acc%d: from column %d, row %d", N, acc, j0, k0);
    }
    ck_assert_uint_eq(gemm_panels_floats(K, N), (size_t)K * ((N + 15) / 16 * 16));
    ck_assert_uint_eq(gemm_panels_floats(SIZE_MAX / 8, N), SIZE_MAX);   /* sizes that overflow saturate */
    ck_assert_uint_eq(gemm_panels_floats(2, SIZE_MAX - 3), SIZE_MAX);
    for (int k = 0; k < K; k++)                   /* the last panel's padding is zeros */
      for (int i = N % 16 ? N % 16 : 16; i < 16; i++) ck_assert_float_eq(P[(size_t)((N - 1) / 16) * ps + k * 16 + i], 0);
    free(A); free(B); free(P); free(C0); free(C1);
  }
  gemm_rows_vl(0);
}
END_TEST

/* gemm_panels_split, over many rows in groups and on one or two threads:
** the same bits as gemm_rows on the matrix itself with C started as the
** bias rows (then accumulating), as zeros, or as C (acc); an empty sum
** leaves the bias rows. */
START_TEST(split_gives_gemm_rows_bits) {
  if (!vl_pass(_i)) return;
  static const int shapes[][3] = { { 613, 70, 300 }, { 1, 9, 5 }, { 257, 100, 1100 }, { 40, 33, 0 } };
  for (size_t a = 0; a < sizeof shapes / sizeof *shapes; a++) {
    const int M = shapes[a][0], N = shapes[a][1], K = shapes[a][2], lda = K + 2, ldb = N + 3, ldc = N + 1;
    float *A = malloc(sizeof(float) * ((size_t)M * lda + 1)), *B = malloc(sizeof(float) * ((size_t)K * ldb + 1));
    float *P = malloc(sizeof(float) * (gemm_panels_floats(K, N) + 1)), *bias = malloc(sizeof(float) * N);
    float *C0 = malloc(sizeof(float) * (size_t)M * ldc), *C1 = malloc(sizeof(float) * (size_t)M * ldc);
    for (size_t i = 0; i < (size_t)M * lda; i++) A[i] = rnd();
    for (size_t i = 0; i < (size_t)K * ldb; i++) B[i] = rnd();
    for (int j = 0; j < N; j++) bias[j] = rnd();
    gemm_pack(K, N, B, ldb, 0, P);
    for (int how = 0; how < 3; how++)             /* 0: from the bias, 1: from zeros, 2: acc */
      for (int threads = 1; threads <= 2; threads++) {
        for (size_t i = 0; i < (size_t)M * ldc; i++) C0[i] = C1[i] = rnd();
        if (how == 0)
          for (int i = 0; i < M; i++) memcpy(C0 + (size_t)i * ldc, bias, sizeof(float) * N);
        gemm_rows(M, N, K, A, lda, B, ldb, how != 1, C0, ldc);
        par_init(threads);
        gemm_panels_split(M, N, K, A, lda, P, how == 0 ? bias : NULL, how == 2, C1, ldc);
        par_init(1);
        ck_assert_msg(same(C0, C1, (size_t)M * ldc, K), "M%d N%d K%d: how %d, %d threads", M, N, K,
                      how, threads);
      }
    free(A); free(B); free(P); free(bias); free(C0); free(C1);
  }
  gemm_rows_vl(0);
}
END_TEST

static Suite *gemm_suite(void) {
  Suite *s = suite_create("gemm");
  TCase *tc = tcase_create("rows");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, matches_a_plain_loop, 0, 2);
  tcase_add_loop_test(tc, rows_and_columns_do_not_depend_on_the_rest, 0, 2);
  tcase_add_test(tc, choice_follows_the_blas_kernel);
  tcase_add_loop_test(tc, panels_give_gemm_rows_bits, 0, 2);
  tcase_add_test(tc, ten_row_blocks_give_six_row_bits);
  tcase_add_loop_test(tc, split_gives_gemm_rows_bits, 0, 2);
  suite_add_tcase(s, tc);
  return s;
}
TU_MAIN(gemm_suite)
