/*
** testutil.h — small helpers shared by the Check suites: run the graphrun
** binary and capture its output, write temporary files, compare floats,
** read committed reference values (tests/fixtures/).
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

/* The whole file, NUL-terminated; *n (if set) its size in bytes (binary
** files too).  A missing file reads as empty. */
static inline char *tu_slurp_n(const char *path, long *n) {
  FILE *f = fopen(path, "rb");
  if (n) *n = 0;
  if (!f) return strdup("");
  fseek(f, 0, SEEK_END); long len = ftell(f); fseek(f, 0, SEEK_SET);
  char *s = malloc(len + 1);
  size_t k = fread(s, 1, len, f); s[k] = 0; fclose(f);
  if (n) *n = (long)k;
  return s;
}
static inline char *tu_slurp(const char *path) { return tu_slurp_n(path, NULL); }

/* Runs `PREFIX graphrun ARGS` through the shell (shell words; PREFIX is
** e.g. "mpirun -np 2" or ""). */
static inline TuRun tu_run_with(const char *prefix, const char *args) {
  char out[] = "/tmp/gr_outXXXXXX", err[] = "/tmp/gr_errXXXXXX";
  int fo = mkstemp(out), fe = mkstemp(err);
  close(fo); close(fe);
  char *cmd = malloc(strlen(prefix) + strlen(args) + strlen(tu_bin()) + 128);
  sprintf(cmd, "%s %s %s >%s 2>%s </dev/null", prefix, tu_bin(), args, out, err);
  int st = system(cmd);
  TuRun r;
  r.signaled = WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) >= 128);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = tu_slurp(out); r.err = tu_slurp(err);
  unlink(out); unlink(err); free(cmd);
  return r;
}
static inline TuRun tu_run(const char *args) { return tu_run_with("", args); }
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

/* ---- committed reference values ----------------------------------------------
** A fixture is text that a tests/NAME_torch.py script wrote (`make fixtures`;
** tests/torch_fixture.py describes it): sections "case NAME", each with lines
** "name count v1 v2 ...".  The tests read tests/fixtures/FILE, or
** $GR_FIXTURES/FILE: `make check-torch` points that at values PyTorch has
** just computed.  Anything missing or malformed fails the test, naming it. */
static inline char *tu_fixture(const char *file) {
  const char *dir = getenv("GR_FIXTURES");
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/fixtures", file);
  ck_assert_msg(access(path, R_OK) == 0, "%s: missing (the committed reference values; make fixtures writes them)", path);
  return tu_slurp(path);
}

/* The section "case NAME" of a fixture's text. */
static inline const char *tu_fix_case(const char *text, const char *name) {
  size_t nl = strlen(name);
  for (const char *s = text; s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL)
    if (!strncmp(s, "case ", 5) && !strncmp(s + 5, name, nl) && (s[5 + nl] == '\n' || !s[5 + nl])) return s;
  ck_abort_msg("fixture: no case %s (make fixtures writes it)", name);
  return NULL;
}

/* Reads array NAME of exactly n values of the section sec into dst. */
static inline void tu_fix_read(const char *sec, const char *name, float *dst, size_t n) {
  size_t nl = strlen(name);
  for (const char *s = strchr(sec, '\n'); s && *++s && strncmp(s, "case ", 5); s = strchr(s, '\n')) {
    if (strncmp(s, name, nl) || s[nl] != ' ') continue;
    char *end;
    size_t cnt = strtoul(s + nl + 1, &end, 10);
    ck_assert_msg(cnt == n, "fixture %.40s: %s has %zu values, the test wants %zu", sec, name, cnt, n);
    for (size_t i = 0; i < n; i++) {
      char *e2;
      dst[i] = strtof(end, &e2);
      ck_assert_msg(e2 != end && (*e2 == ' ' || *e2 == '\n' || !*e2), "fixture %.40s: %s[%zu] is not a number", sec, name, i);
      end = e2;
    }
    ck_assert_msg(*end == '\n' || !*end, "fixture %.40s: %s has more than %zu values", sec, name, n);
    return;
  }
  ck_abort_msg("fixture %.40s: no %s", sec, name);
}

/* The same, malloc'ed. */
static inline float *tu_fix_get(const char *sec, const char *name, size_t n) {
  float *v = malloc((n ? n : 1) * sizeof *v);
  tu_fix_read(sec, name, v, n);
  return v;
}

/* A fresh directory /tmp/gr_<tag>XXXXXX, its path in dir (64 bytes);
** tu_rmdir removes it with everything in it. */
static inline void tu_mkdtemp(char *dir, const char *tag) {
  snprintf(dir, 64, "/tmp/gr_%sXXXXXX", tag);
  ck_assert_ptr_nonnull(mkdtemp(dir));
}
static inline void tu_rmdir(const char *dir) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Width and height of a PNG file from its header; 0 if it is not a PNG. */
static inline int tu_png_size(const char *path, unsigned *w, unsigned *h) {
  unsigned char b[24];
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(b, 1, sizeof b, f) : 0;
  if (f) fclose(f);
  if (n < 24 || memcmp(b, "\x89PNG\r\n\x1a\n", 8) || memcmp(b + 12, "IHDR", 4)) return 0;
  *w = (unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19];
  *h = (unsigned)b[20] << 24 | (unsigned)b[21] << 16 | (unsigned)b[22] << 8 | b[23];
  return 1;
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
