/*
** fuzz_argv.c — the command line on arbitrary bytes: src/main.c itself
** (compiled in, its main renamed) on a model the input picks, with argument
** words the input gives, one per line.  The first line names the model
** (one of fuzz_models below, by file name; anything else picks one by its
** first byte).  Must end in exit status 0, 1 or 2, never a crash.
**
** The harness bounds the work and keeps the fuzzer inside its sandbox:
** --help, -h and --version (which exit the process) are dropped; counts are
** capped (--epochs 1, --generate 3, --beam 4, --threads 2, --batch and
** --vbatch 64, --bptt 16); the value of a flag that names a file becomes a
** fixed one: outputs go to a temporary directory or to a path that cannot
** be written, inputs are one of a few files of tests/ or a missing one.
** Data goes to /dev/null; messages stay on stderr.
*/
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE   /* mkdtemp */
#endif
#include "fuzz.h"
#include <cblas.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define main graphrun_main
#include "../../src/main.c"
#undef main

static const char *fuzz_models[] = {
  "models/problem1.g", "models/problem1_vec.g", "models/problem1_skip.g", "models/problem2.g",
  "models/self_attention.g", "models/lstm_cell.g", "models/attn_decoder.g",
  "tests/data/tiny_lm.g", "tests/data/tiny_cond_lm.g", "tests/data/tiny_attn_lm.g",
};
static const char *fuzz_inputs[] = {
  "tests/data/tiny-src-valid.txt", "tests/data/tiny-valid.txt", "tests/fuzz/seeds/ckpt/valid.ckpt",
  "tests/data/tiny_lm.g", "/nonexistent/graphrun-fuzz",
};
#define NMODELS (sizeof fuzz_models / sizeof *fuzz_models)
#define NINPUTS (sizeof fuzz_inputs / sizeof *fuzz_inputs)
#define MAXW 48

/* The temporary directory for outputs: made on first use, removed with what
** the runs wrote into it when the process exits. */
static char out_dir[] = "/tmp/gr_fuzz_argvXXXXXX";
static void outdir_remove(void) {
  DIR *d = opendir(out_dir);
  if (!d) return;
  char path[sizeof out_dir + 256];
  for (struct dirent *e; (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(path, sizeof path, "%s/%s", out_dir, e->d_name);
      unlink(path);
    }
  closedir(d);
  rmdir(out_dir);
}
static const char *outdir(void) {
  static int made;
  if (!made) { if (!mkdtemp(out_dir)) abort(); made = 1; atexit(outdir_remove); }
  return out_dir;
}

/* The bounded value of a count flag, or NULL if flag is not one. */
static const char *capped(const char *flag, const char *val, char *buf, size_t n) {
  static const struct { const char *flag; double cap; } caps[] = {
    {"--epochs", 1}, {"--generate", 3}, {"--beam", 4}, {"--threads", 2},
    {"--batch", 64}, {"--vbatch", 64}, {"--bptt", 16},
  };
  for (size_t k = 0; k < sizeof caps / sizeof *caps; k++)
    if (!strcmp(flag, caps[k].flag)) {
      double v = strtod(val, NULL);
      if (v > caps[k].cap) { snprintf(buf, n, "%g", caps[k].cap); return buf; }
      return val;
    }
  return NULL;
}

int fuzz_argv_one(const uint8_t *data, size_t size) {
  /* With no OPENBLAS_CORETYPE, main may choose a kernel and re-execute the
  ** process (src/blas.c), and check the kernel in a child started from
  ** /proc/self/exe: here both would start the fuzzer (or the test) anew.
  ** Naming the kernel OpenBLAS already runs keeps everything in this one. */
  setenv("OPENBLAS_CORETYPE", openblas_get_corename(), 0);
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = 0;
  char *words[MAXW + 8];
  int nw = 0;
  for (char *p = s, *nl; p && nw < MAXW; p = nl ? nl + 1 : NULL) {
    nl = strchr(p, '\n');
    if (nl) *nl = 0;
    if (*p || nl) words[nw++] = p;    /* not the empty word after a final newline */
  }
  const char *model = fuzz_models[(unsigned char)(size ? s[0] : 0) % NMODELS];
  for (size_t k = 0; k < NMODELS; k++) {
    const char *base = strrchr(fuzz_models[k], '/') + 1;
    if (nw && !strcmp(words[0], base)) model = fuzz_models[k];
  }
  char *argv[MAXW + 8], bufs[MAXW][64];
  int argc = 0;
  argv[argc++] = "graphrun";
  argv[argc++] = (char *)model;
  for (int i = 1; i < nw; i++) {
    const char *w = words[i], *prev = argc > 2 ? argv[argc - 1] : "";
    if (!strcmp(w, "--help") || !strcmp(w, "-h") || !strcmp(w, "--version")) continue;
    const char *v = capped(prev, w, bufs[i], sizeof bufs[0]);
    if (!v && (!strcmp(prev, "--save") || !strcmp(prev, "--checkpoint") || !strcmp(prev, "--metrics") ||
               !strcmp(prev, "--attention-svg"))) {
      if (w[0] == '/') v = "/nonexistent/graphrun-fuzz/out";
      else { snprintf(bufs[i], sizeof bufs[0], "%s/out%d", outdir(), i % 4); v = bufs[i]; }
    }
    if (!v && (!strcmp(prev, "--load") || !strcmp(prev, "--resume") || !strcmp(prev, "--translate") ||
               !strcmp(prev, "--ref")))
      v = fuzz_inputs[(unsigned char)w[0] % NINPUTS];
    argv[argc++] = (char *)(v ? v : w);
  }
  argv[argc] = NULL;
  fflush(stdout);
  int saved = dup(1);
  FILE *null = fopen("/dev/null", "w");
  if (saved < 0 || !null) abort();
  dup2(fileno(null), 1);
  fclose(null);
  int rc = graphrun_main(argc, argv);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  free(s);
  if (rc < 0 || rc > 2) {
    fprintf(stderr, "fuzz_argv: exit status %d\n", rc);
    abort();
  }
  return rc ? 1 : 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { fuzz_argv_one(data, size); return 0; }
#endif
