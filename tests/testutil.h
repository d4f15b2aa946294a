/*
** testutil.h — small helpers shared by the Check suites: run the graphrun
** binary and capture its output, write temporary files, compare floats.
*/
#ifndef GR_TESTUTIL_H
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE   /* mkstemps */
#endif
#define GR_TESTUTIL_H
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Path of the binary under test (make check sets GRAPHRUN). */
static inline const char *tu_bin(void) {
  const char *b = getenv("GRAPHRUN");
  return b && *b ? b : "./graphrun";
}

typedef struct TuRun { int status; int signaled; char *out; char *err; } TuRun;

static inline char *tu_slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return strdup("");
  fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
  char *s = malloc(n + 1);
  size_t k = fread(s, 1, n, f); s[k] = 0; fclose(f);
  return s;
}

/* Runs `graphrun ARGS` through the shell (args are shell words). */
static inline TuRun tu_run(const char *args) {
  char out[] = "/tmp/gr_outXXXXXX", err[] = "/tmp/gr_errXXXXXX";
  int fo = mkstemp(out), fe = mkstemp(err);
  close(fo); close(fe);
  char *cmd = malloc(strlen(args) + strlen(tu_bin()) + 128);
  sprintf(cmd, "%s %s >%s 2>%s </dev/null", tu_bin(), args, out, err);
  int st = system(cmd);
  TuRun r;
  r.signaled = WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) >= 128);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = tu_slurp(out); r.err = tu_slurp(err);
  unlink(out); unlink(err); free(cmd);
  return r;
}
static inline void tu_free(TuRun *r) { free(r->out); free(r->err); }

/* Writes text to a fresh temporary file; returns its malloc'ed path. */
static inline char *tu_tmpfile(const char *suffix, const char *text, size_t len) {
  char *path = malloc(64);
  snprintf(path, 64, "/tmp/gr_tXXXXXX%s", suffix);
  int fd = mkstemps(path, (int)strlen(suffix));
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
  close(fd);
  return path;
}

#define TU_CLOSE(a, b, tol) ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), \
  "%s = %.9g, expected %.9g (tol %g)", #a, (double)(a), (double)(b), (double)(tol))

/* Standard main: one suite, CK_NORMAL output, non-zero exit on failure. */
#define TU_MAIN(suite_fn) \
  int main(void) { \
    SRunner *sr = srunner_create(suite_fn()); \
    srunner_run_all(sr, CK_NORMAL); \
    int nf = srunner_ntests_failed(sr); \
    srunner_free(sr); \
    return nf ? 1 : 0; \
  }
#endif
