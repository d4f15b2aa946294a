/*
** blas.c — OpenBLAS's kernel for this CPU (see blas.h): the CPU's vector
** units by cpuid, the vector level of OpenBLAS's core names, the decision,
** the check in a child process and the one re-execution.
**
** The child is graphrun itself, run as /proc/self/exe with
** GRAPHRUN_BLAS_CHECK=1 and the candidate kernel in OPENBLAS_CORETYPE: it
** runs blas_selftest and exits 0 or 1 before anything else happens.  The
** re-executed graphrun gets the chosen kernel in OPENBLAS_CORETYPE and the
** note for its header in GRAPHRUN_BLAS_NOTE, which it removes again.
*/
#include "blas.h"
#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK_ENV "GRAPHRUN_BLAS_CHECK"
#define NOTE_ENV "GRAPHRUN_BLAS_NOTE"
#define CHECK_SECONDS 20         /* a check child that runs longer is killed (SIGALRM) */

extern char **environ;

static char blas_note[256] = "OpenBLAS's own choice";

/* ---- the CPU ---------------------------------------------------------------- */

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static unsigned long long xgetbv0(void) {
  unsigned a, d;
  __asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
  return (unsigned long long)d << 32 | a;
}
unsigned blas_cpu_flags(void) {
  unsigned a, b, c, d, f = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  /* AVX registers need the OS to save them (OSXSAVE, then XCR0 bits). */
  if (!(c >> 27 & 1) || !(c >> 28 & 1)) return 0;
  unsigned long long x = xgetbv0();
  if ((x & 6) != 6) return 0;                    /* XMM and YMM state */
  if (c >> 12 & 1) f |= BLAS_CPU_FMA;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  if (b >> 5 & 1) f |= BLAS_CPU_AVX2;
  if ((x & 0xe0) == 0xe0) {                      /* opmask and the ZMM registers */
    if (b >> 16 & 1) f |= BLAS_CPU_AVX512F;
    if (b >> 17 & 1) f |= BLAS_CPU_AVX512DQ;
    if (b >> 30 & 1) f |= BLAS_CPU_AVX512BW;
    if (b >> 31 & 1) f |= BLAS_CPU_AVX512VL;
  }
  return f;
}
#else
unsigned blas_cpu_flags(void) { return 0; }
#endif

/* ---- the decision --------------------------------------------------------- */

/* OpenBLAS 0.3's x86 core names (driver/others/dynamic.c) by vector level. */
int blas_core_level(const char *core) {
  static const char *const levels[4] = {
    " Katmai Coppermine Northwood Prescott Banias Atom Core2 Penryn Dunnington Nehalem"
    " Athlon Opteron Opteron_SSE3 Barcelona Nano ",
    " Sandybridge Bulldozer Piledriver Steamroller ",
    " Haswell Excavator Zen Dhyana ",
    " SkylakeX Cooperlake SapphireRapids ",
  };
  if (!core || !*core || strchr(core, ' ')) return -1;
  size_t n = strlen(core);
  for (int l = 0; l < 4; l++)
    for (const char *p = levels[l]; (p = strchr(p, ' ')) && p[1]; p++)
      if (!strncasecmp(p + 1, core, n) && p[1 + n] == ' ') return l;
  return -1;
}

int blas_kernel_level(void) { return blas_core_level(openblas_get_corename()); }

const char *blas_choose(const char *core, unsigned cpu, BlasCheckFn check, char *note, size_t n) {
  static const struct { const char *kernel, *units; int level; unsigned need; } K[] = {
    { "SkylakeX", "AVX-512", 3, BLAS_CPU_AVX512F | BLAS_CPU_AVX512BW | BLAS_CPU_AVX512VL | BLAS_CPU_AVX512DQ },
    { "Haswell", "AVX2", 2, BLAS_CPU_AVX2 | BLAS_CPU_FMA },
  };
  int have = blas_core_level(core);
  char failed[160] = "";
  snprintf(note, n, "OpenBLAS's own choice");
  if (have < 0) return NULL;
  for (size_t i = 0; i < sizeof K / sizeof *K; i++) {
    if ((cpu & K[i].need) != K[i].need || K[i].level <= have) continue;
    char why[96] = "";
    if (!check(K[i].kernel, why, sizeof why)) {
      snprintf(note, n, "chosen by graphrun: OpenBLAS picked %s, which lacks this CPU's %s%s", core, K[i].units, failed);
      return K[i].kernel;
    }
    size_t k = strlen(failed);
    snprintf(failed + k, sizeof failed - k, "; %s failed graphrun's check: %s", K[i].kernel, why);
  }
  if (*failed) snprintf(note, n, "OpenBLAS's own choice%s", failed);
  return NULL;
}

/* ---- the check ------------------------------------------------------------ */

/* C = 1.5 op(A) op(B) + 0.5 C against a double loop, for shapes that use
** the kernels' full and partial blocks. */
int blas_selftest(void) {
  static const int shapes[][3] = { { 37, 53, 29 }, { 70, 90, 66 }, { 1, 17, 5 } };
  enum { MAXE = 90 * 70 };
  static float A[MAXE], B[MAXE], C[MAXE], C0[MAXE];
  unsigned long long s = 12345;
  for (int i = 0; i < MAXE; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL; A[i] = (float)(s >> 40) / 16777216.0f - 0.5f;
    s = s * 6364136223846793005ULL + 1442695040888963407ULL; B[i] = (float)(s >> 40) / 16777216.0f - 0.5f;
    C0[i] = (float)((i % 7) - 3) * 0.25f;
  }
  for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++)
    for (int t = 0; t < 4; t++) {
      int M = shapes[sh][0], N = shapes[sh][1], K = shapes[sh][2], ta = t & 1, tb = t >> 1;
      int lda = ta ? M : K, ldb = tb ? K : N;
      memcpy(C, C0, sizeof(float) * (size_t)M * N);
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                  M, N, K, 1.5f, A, lda, B, ldb, 0.5f, C, N);
      for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
          double d = 0;
          for (int k = 0; k < K; k++)
            d += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
          double want = 1.5 * d + 0.5 * C0[i * N + j];
          if (!(fabs(C[i * N + j] - want) <= 1e-5 * (K + 1))) return 1;
        }
    }
  return 0;
}

/* The environment for a child: ours without the named variable, plus
** `set` (NAME=VALUE strings).  Built before fork: the child only execs. */
static char **env_with(const char *const *set, int nset) {
  int n = 0;
  while (environ[n]) n++;
  char **env = calloc((size_t)n + nset + 1, sizeof *env);
  if (!env) return NULL;
  int k = 0;
  for (int i = 0; i < n; i++) {
    int keep = 1;
    for (int j = 0; j < nset; j++) {
      size_t len = strcspn(set[j], "=") + 1;
      if (!strncmp(environ[i], set[j], len)) keep = 0;
    }
    if (keep) env[k++] = environ[i];
  }
  for (int j = 0; j < nset; j++) env[k++] = (char *)set[j];
  env[k] = NULL;
  return env;
}

static const char *self_argv0 = "graphrun";

static int check_in_child(const char *kernel, char *why, size_t n) {
  char core[64];
  snprintf(core, sizeof core, "OPENBLAS_CORETYPE=%s", kernel);
  const char *set[] = { core, CHECK_ENV "=1", "OPENBLAS_NUM_THREADS=1" };
  char **env = env_with(set, 3);
  if (!env) { snprintf(why, n, "out of memory"); return -1; }
  char *args[] = { (char *)self_argv0, NULL };
  fflush(NULL);
  pid_t p = fork();
  if (p == 0) {
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
    alarm(CHECK_SECONDS);                        /* kept across exec */
    execve("/proc/self/exe", args, env);
    _exit(126);
  }
  free(env);
  if (p < 0) { snprintf(why, n, "cannot start it: %s", strerror(errno)); return -1; }
  int st;
  while (waitpid(p, &st, 0) < 0)
    if (errno != EINTR) { snprintf(why, n, "lost it: %s", strerror(errno)); return -1; }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) snprintf(why, n, "no result in %d s", CHECK_SECONDS);
  else if (WIFSIGNALED(st)) snprintf(why, n, "crashed (signal %d)", WTERMSIG(st));
  else if (WEXITSTATUS(st) == 126) snprintf(why, n, "could not run /proc/self/exe");
  else snprintf(why, n, "wrong product");
  return -1;
}

/* Runs this program again with argv and the environment as it now is;
** returns (errno) only if that failed. */
static int restart(char **argv) {
  fflush(NULL);
  execv("/proc/self/exe", argv);
  return errno;
}

void blas_startup(char **argv) {
  if (getenv(CHECK_ENV)) _exit(blas_selftest() ? 1 : 0);
  if (argv && argv[0]) self_argv0 = argv[0];
  const char *user = getenv("OPENBLAS_CORETYPE"), *mine = getenv(NOTE_ENV);
  if (user && mine) {                            /* the re-executed graphrun */
    snprintf(blas_note, sizeof blas_note, "%s", mine);
    unsetenv(NOTE_ENV);
    return;
  }
  if (user && !*user && argv) {
    /* An empty value names no kernel, but OpenBLAS read it as a choice
    ** (0.3.21 forces Cooperlake, whose kernels need AVX-512): start again
    ** without it, once (the variable is then unset, not empty). */
    unsetenv("OPENBLAS_CORETYPE");
    restart(argv);
    setenv("OPENBLAS_CORETYPE", "", 1);          /* not re-executed: go on as we are */
    user = getenv("OPENBLAS_CORETYPE");
  }
  if (user) { snprintf(blas_note, sizeof blas_note, "set by OPENBLAS_CORETYPE=%s", user); return; }
  const char *k = blas_choose(openblas_get_corename(), blas_cpu_flags(), check_in_child, blas_note, sizeof blas_note);
  if (!k || !argv) return;
  setenv("OPENBLAS_CORETYPE", k, 1);
  setenv(NOTE_ENV, blas_note, 1);
  int er = restart(argv);                        /* not re-executed: go on as we are */
  unsetenv("OPENBLAS_CORETYPE"); unsetenv(NOTE_ENV);
  snprintf(blas_note, sizeof blas_note, "OpenBLAS's own choice; %s passed graphrun's check but re-executing failed: %s", k, strerror(er));
}

void blas_describe(char *buf, size_t n, int threads) {
  const char *cfg = openblas_get_config();
  int w = 0;                                     /* "OpenBLAS 0.3.21 DYNAMIC_ARCH ...": the first two words */
  for (int sp = 0; cfg && cfg[w] && !(cfg[w] == ' ' && ++sp == 2); w++) {}
  snprintf(buf, n, "%.*s, kernel %s (%s), %d thread%s", w, cfg ? cfg : "OpenBLAS", openblas_get_corename(), blas_note,
           threads, threads == 1 ? "" : "s");
}
