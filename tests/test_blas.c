/*
** test_blas.c — choosing OpenBLAS's kernel (blas.c): the vector level of
** core names, the decision for faked core names and CPU flags with faked
** checks (passing, failing, crashing), the self-test on the loaded
** library, and graphrun's --version and training header: the user's
** OPENBLAS_CORETYPE wins, and without it the kernel is the one the
** decision names for this machine.
*/
#include "testutil.h"
#include <cblas.h>
#include "blas.h"

#define AVX512 (BLAS_CPU_AVX512F | BLAS_CPU_AVX512BW | BLAS_CPU_AVX512VL | BLAS_CPU_AVX512DQ)
#define AVX2FMA (BLAS_CPU_AVX2 | BLAS_CPU_FMA)

START_TEST(core_levels) {
  ck_assert_int_eq(blas_core_level("Prescott"), 0);
  ck_assert_int_eq(blas_core_level("Nehalem"), 0);
  ck_assert_int_eq(blas_core_level("Opteron_SSE3"), 0);
  ck_assert_int_eq(blas_core_level("Opteron"), 0);
  ck_assert_int_eq(blas_core_level("Sandybridge"), 1);
  ck_assert_int_eq(blas_core_level("Haswell"), 2);
  ck_assert_int_eq(blas_core_level("Zen"), 2);
  ck_assert_int_eq(blas_core_level("SkylakeX"), 3);
  ck_assert_int_eq(blas_core_level("Cooperlake"), 3);
  ck_assert_int_eq(blas_core_level("Sapphirerapids"), 3);   /* OpenBLAS's own spelling */
  /* unknown names, parts of names and odd input are never replaced */
  ck_assert_int_eq(blas_core_level("Unknown"), -1);
  ck_assert_int_eq(blas_core_level("NeoverseN1"), -1);
  ck_assert_int_eq(blas_core_level("Has"), -1);
  ck_assert_int_eq(blas_core_level("Haswell Zen"), -1);
  ck_assert_int_eq(blas_core_level(""), -1);
  ck_assert_int_eq(blas_core_level(NULL), -1);
}
END_TEST

/* Faked checks: which kernels were asked, and which fail. */
static char asked[128];
static const char *failing;
static int fake_check(const char *kernel, char *why, size_t n) {
  strcat(asked, kernel); strcat(asked, " ");
  if (failing && strstr(failing, kernel)) { snprintf(why, n, "crashed (signal 4)"); return -1; }
  return 0;
}
static const char *choose(const char *core, unsigned cpu, const char *fail, char *note) {
  asked[0] = 0; failing = fail;
  return blas_choose(core, cpu, fake_check, note, 256);
}

START_TEST(decision) {
  char note[256];
  struct { const char *core; unsigned cpu; const char *fail, *want, *asked; } c[] = {
    /* the machine of issue 18: AVX-512, OpenBLAS falls back to Prescott */
    { "Prescott", AVX512 | AVX2FMA, NULL, "SkylakeX", "SkylakeX " },
    { "Prescott", AVX2FMA, NULL, "Haswell", "Haswell " },
    { "Sandybridge", AVX2FMA, NULL, "Haswell", "Haswell " },
    { "Haswell", AVX512 | AVX2FMA, NULL, "SkylakeX", "SkylakeX " },
    /* the core already has the CPU's units: nothing asked */
    { "SkylakeX", AVX512 | AVX2FMA, NULL, NULL, "" },
    { "Cooperlake", AVX512 | AVX2FMA, NULL, NULL, "" },
    { "Haswell", AVX2FMA, NULL, NULL, "" },
    { "Zen", AVX2FMA, NULL, NULL, "" },
    /* AVX-512 needs all four of F, BW, VL, DQ; AVX2 needs FMA too */
    { "Prescott", BLAS_CPU_AVX512F | AVX2FMA, NULL, "Haswell", "Haswell " },
    { "Prescott", AVX512 & ~BLAS_CPU_AVX512DQ, NULL, NULL, "" },
    { "Prescott", BLAS_CPU_AVX2, NULL, NULL, "" },
    { "Prescott", 0, NULL, NULL, "" },
    /* a failing check falls back to the next kernel, then to OpenBLAS's own */
    { "Prescott", AVX512 | AVX2FMA, "SkylakeX", "Haswell", "SkylakeX Haswell " },
    { "Prescott", AVX512 | AVX2FMA, "SkylakeX Haswell", NULL, "SkylakeX Haswell " },
    { "Haswell", AVX512 | AVX2FMA, "SkylakeX", NULL, "SkylakeX " },
    /* names not in the table are left alone */
    { "Unknown", AVX512 | AVX2FMA, NULL, NULL, "" },
    { "ARMV8", AVX512 | AVX2FMA, NULL, NULL, "" },
  };
  for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
    const char *got = choose(c[i].core, c[i].cpu, c[i].fail, note);
    ck_assert_msg(got == c[i].want || (got && c[i].want && !strcmp(got, c[i].want)),
                  "case %zu (%s): got %s, want %s", i, c[i].core, got ? got : "NULL", c[i].want ? c[i].want : "NULL");
    ck_assert_msg(!strcmp(asked, c[i].asked), "case %zu: checked '%s', want '%s'", i, asked, c[i].asked);
  }
  /* the notes say what happened */
  choose("Prescott", AVX512 | AVX2FMA, "SkylakeX", note);
  ck_assert_str_eq(note, "chosen by graphrun: OpenBLAS picked Prescott, which lacks this CPU's AVX2; "
                         "SkylakeX failed graphrun's check: crashed (signal 4)");
  choose("Prescott", AVX512 | AVX2FMA, "SkylakeX Haswell", note);
  ck_assert_str_eq(note, "OpenBLAS's own choice; SkylakeX failed graphrun's check: crashed (signal 4); "
                         "Haswell failed graphrun's check: crashed (signal 4)");
  choose("SkylakeX", AVX512 | AVX2FMA, NULL, note);
  ck_assert_str_eq(note, "OpenBLAS's own choice");
}
END_TEST

START_TEST(selftest_passes_on_loaded_blas) {
  ck_assert_int_eq(blas_selftest(), 0);
}
END_TEST

/* The first line of `blas: ...` in s, or "" */
static void blas_line(const char *s, char *line, size_t n) {
  const char *p = strstr(s, "blas: ");
  line[0] = 0;
  if (p) snprintf(line, n, "%.*s", (int)strcspn(p, "\n"), p);
}

START_TEST(user_variable_wins) {
  char line[512], *was = getenv("OPENBLAS_CORETYPE");
  was = was ? strdup(was) : NULL;              /* put back after: unforked runs share the environment */
  setenv("OPENBLAS_CORETYPE", "Prescott", 1);
  TuRun r = tu_run("--version");
  if (was) { setenv("OPENBLAS_CORETYPE", was, 1); free(was); } else unsetenv("OPENBLAS_CORETYPE");
  ck_assert_int_eq(r.status, 0);
  blas_line(r.out, line, sizeof line);
  ck_assert_msg(strstr(line, "blas: OpenBLAS ") && strstr(line, ", kernel Prescott (set by OPENBLAS_CORETYPE=Prescott), "), "%s", r.out);
  tu_free(&r);
}
END_TEST

/* Without the variable graphrun runs on the kernel the decision names for
** this CPU (on the AVX-512 Xeon of issue 18: SkylakeX instead of Prescott),
** and says so; in the training header too, with the thread count. */
START_TEST(graphrun_runs_the_chosen_kernel) {
  const char *env = getenv("OPENBLAS_CORETYPE");
  if (env) {           /* this process's OpenBLAS followed it: its own pick is unknown */
    fprintf(stderr, "test_blas: OPENBLAS_CORETYPE=%s is set: the automatic choice is not tested\n", env);
    return;
  }
  char note[256], want[64], line[512];
  const char *core = openblas_get_corename();
  const char *k = choose(core, blas_cpu_flags(), NULL, note);
  snprintf(want, sizeof want, ", kernel %s (%s", k ? k : core, k ? "chosen by graphrun: OpenBLAS picked " : "OpenBLAS's own choice");
  TuRun r = tu_run("--version");
  ck_assert_int_eq(r.status, 0);
  blas_line(r.out, line, sizeof line);
  ck_assert_msg(strstr(line, want), "want '%s' in '%s'", want, line);
  tu_free(&r);
  setenv("OPENBLAS_CORETYPE", "", 1);        /* empty names no kernel: the same choice, not OpenBLAS's reading of "" */
  r = tu_run("--version");
  unsetenv("OPENBLAS_CORETYPE");
  blas_line(r.out, line, sizeof line);
  ck_assert_msg(r.status == 0 && strstr(line, want), "OPENBLAS_CORETYPE='': want '%s' in '%s'", want, line);
  tu_free(&r);
  r = tu_run("models/lm.g --train --epochs 0 --threads 1");   /* the training log is on stderr */
  ck_assert_int_eq(r.status, 0);
  blas_line(r.err, line, sizeof line);
  ck_assert_msg(strstr(line, want) && strstr(line, "), 1 thread"), "want '%s' and 1 thread in '%s'", want, line);
  tu_free(&r);
}
END_TEST

/* The check child's mode: exit 0 when the products agree. */
START_TEST(check_mode_exits_with_the_result) {
  setenv("GRAPHRUN_BLAS_CHECK", "1", 1);
  TuRun r = tu_run("");
  unsetenv("GRAPHRUN_BLAS_CHECK");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "");
  tu_free(&r);
}
END_TEST

static Suite *blas_suite(void) {
  Suite *s = suite_create("blas");
  TCase *tc = tcase_create("kernel");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, core_levels);
  tcase_add_test(tc, decision);
  tcase_add_test(tc, selftest_passes_on_loaded_blas);
  tcase_add_test(tc, user_variable_wins);
  tcase_add_test(tc, graphrun_runs_the_chosen_kernel);
  tcase_add_test(tc, check_mode_exits_with_the_result);
  suite_add_tcase(s, tc);
  return s;
}
TU_MAIN(blas_suite)
