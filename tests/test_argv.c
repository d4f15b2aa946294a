/*
** test_argv.c — no command line ends in a signal.  Every shipped model
** (the .g files in models/; the sequence models shrunk to d = 6 on tests/data/'s tiny
** corpora, so a training epoch takes milliseconds) runs with every flag
** alone, every pair of the graph flags, --backprop on a spread of its named
** nodes with each way of looking at gradients, and the sequence flags with
** --train, with --load of a saved model and with files that are missing or
** garbage.  Each run must exit 0, 1 or 2 (never a signal, never a sanitizer
** report), and a failing one must say why on stderr.
** Under ASan, leaks are checked on every model with every flag alone; the
** combinations (flag pairs, --backprop looks, flags after --train or --load)
** run with detect_leaks=0.  Their code paths are those of the flags alone, and
** LeakSanitizer's exit scan, which symbolizes every leak of Graphviz and the
** font libraries to match tests/lsan.supp, costs more than most runs (0.4 s of
** a 0.5 s --svg run).  Sanitizer errors other than leaks stay on throughout.
** Run from the repository root.
*/
#include "testutil.h"
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char tmpdir[] = "/tmp/gr_argvXXXXXX";
static char dir[400];         /* the current model's own folder in tmpdir ('@/' in flags) */
static char *path_in(const char *name) {
  static char buf[8][600]; static int k;
  char *p = buf[k++ % 8];
  snprintf(p, 600, "%s/%s", dir, name);
  return p;
}
static long runs, ran_ok;   /* command lines, and those that exited 0 */
static int combo;           /* running combinations of flags: no leak check (see above) */

/* Runs graphrun with the words args; fails on a signal, a sanitizer report,
** or a failure without a message.  Returns the exit status. */
static int run_ok(const char *args) {
  TuRun r = tu_run_with(combo ? "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\"" : "", args);
  runs++;
  ck_assert_msg(!r.signaled, "graphrun %s: killed by a signal (status %d): %.400s", args, r.status, r.err);
  ck_assert_msg(r.status >= 0 && r.status <= 2, "graphrun %s: exit %d", args, r.status);
  ck_assert_msg(!strstr(r.err, "Sanitizer") && !strstr(r.err, "runtime error"),
                "graphrun %s: sanitizer report: %.600s", args, r.err);
  ck_assert_msg(r.status == 0 || r.err[0] || strstr(r.out, "disagree beyond"),   /* --gradcheck's verdict */
                "graphrun %s: exit %d without a message", args, r.status);
  int st = r.status;
  ran_ok += st == 0;
  tu_free(&r);
  return st;
}

/* The model file to run: the shipped one, or for a sequence model a copy
** made small (each replacement must apply: the test says so if a shipped
** model changes). */
static const char *model_path(const char *name, int *seq) {
  static char src[300], dst[600];
  snprintf(src, sizeof src, "models/%s", name);
  char *text = tu_slurp(src);
  ck_assert_msg(text[0], "%s: empty or missing", src);
  *seq = strstr(text, "\ndata ") != NULL || !strncmp(text, "data ", 5);
  if (!*seq) { free(text); return src; }
  /* the LSTM models have d = 100, the Transformer ones d = 128 (4 heads: 8 keeps 2 per head) */
  static const char *from[] = {"\"data/", "const d = 100", "batch = 20", "bptt = 35", "const d = 128"};
  static const char *to[] = {"\"tests/data/tiny-", "const d = 6", "batch = 3", "bptt = 5", "const d = 8"};
  for (int k = 0; k < 4; k++) {
    int j = k == 1 && !strstr(text, from[1]) ? 4 : k;    /* one of the two widths */
    char *at = strstr(text, from[j]);
    ck_assert_msg(at != NULL, "%s: no '%s' to shrink", src, from[j]);
    while (at) {
      size_t lf = strlen(from[j]), lt = strlen(to[j]), n = strlen(text);
      char *t2 = malloc(n - lf + lt + 1);
      memcpy(t2, text, at - text);
      memcpy(t2 + (at - text), to[j], lt);
      strcpy(t2 + (at - text) + lt, at + lf);
      size_t off = (at - text) + lt;
      free(text); text = t2;
      at = strstr(text + off, from[j]);
    }
  }
  snprintf(dst, sizeof dst, "%s/%s", dir, name);
  FILE *f = fopen(dst, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  free(text);
  return dst;
}

/* Up to max named nodes of a graph model, spread over its list (from --json). */
static int node_names(const char *model, char names[][64], int max) {
  char args[512];
  snprintf(args, sizeof args, "%s --json", model);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s --json: exit %d: %s", model, r.status, r.err);
  char all[512][64]; int n = 0;
  const char *g = strstr(r.out, "\"grads\"");
  for (const char *s = r.out; s && (!g || s < g) && n < 512; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL) {
    if (strncmp(s, "  \"", 3)) continue;
    const char *e = strchr(s + 3, '"');
    if (!e || e - s - 3 >= 60) continue;
    memcpy(all[n], s + 3, e - s - 3); all[n][e - s - 3] = 0; n++;
  }
  tu_free(&r);
  ck_assert_int_gt(n, 0);
  int k = n < max ? n : max;
  for (int i = 0; i < k; i++) snprintf(names[i], 64, "%s", all[(long)i * (n - 1) / (k > 1 ? k - 1 : 1)]);
  return k;
}

/* Flags for any model; those for sequence models; garbage. */
static const char *graph_flags[] = {
  "--trace", "--json", "--dot", "--dot --values", "--dot --no-ops", "--dot --no-params",
  "--dot --max-index 1", "--gradcheck", "--values", "--no-ops", "--set x=2", "--backprop nosuchnode",
  "--svg @/d.svg --values", "--png @/d.png", "--html @/d.html",
};
static const char *seq_flags[] = {      /* the first N_DECODE_FLAGS also with --load */
  "--eval tests/data/tiny-valid.txt", "--eval tests/data/tiny-valid.txt --src tests/data/tiny-src-valid.txt",
  "--generate 2", "--generate 2 --temperature 0.5 --top-k 3 --prompt 'the cat' --max-len 3", "--generate 1 --sentences 2",
  "--show-attention", "--show-attention --sentences 2,1",
  "--translate tests/data/tiny-src-valid.txt", "--translate tests/data/tiny-src-valid.txt --beam 3",
  "--translate tests/data/tiny-src-valid.txt --ref tests/data/tiny-valid.txt",
  "--attention-svg @/a.svg", "--translate @/missing.txt", "--sentences 99",
  "--train", "--save @/s.ckpt", "--checkpoint @/c.ckpt", "--metrics @/m.csv",
  "--load @/missing.ckpt", "--load tests/data/tiny-train.txt", "--resume tests/data/tiny-train.txt",
  "--lr 1e6 --clip 1e6", "--batch 1 --bptt 1", "--threads 2", "--vbatch 1", "--patience 0",
  "--seed 7", "--decay 1", "--epochs 0", "--set E=1", "--gradcheck", "--dot", "--dot --values",
  "--trace", "--json", "--plot @/p.svg",
};
#define N_DECODE_FLAGS 14

/* "@/" in a flag stands for the temporary directory. */
static void expand(char *dst, size_t n, const char *s) {
  size_t k = 0;
  for (; *s && k + 1 < n; s++) {
    if (s[0] == '@' && s[1] == '/') { k += snprintf(dst + k, n - k, "%s", dir); continue; }
    dst[k++] = *s;
  }
  dst[k < n ? k : n - 1] = 0;
}

/* tail: appended when the run trains (one short epoch, no progress bar). */
static int run_with(const char *m, const char *pre, const char *flag, const char *flag2, const char *tail) {
  char args[2048], f1[256], f2[256];
  expand(f1, sizeof f1, flag);
  expand(f2, sizeof f2, flag2 ? flag2 : "");
  snprintf(args, sizeof args, "%s %s %s %s", m, pre, f1, f2);
  if (strstr(args, "--train") || strstr(args, "--resume")) strncat(args, tail, sizeof args - strlen(args) - 1);
  return run_ok(args);
}

#define COUNT(a) (sizeof a / sizeof *a)

/* Every flag alone; graph models: --backprop on a spread of named nodes
** with each way of looking at gradients (problem1.g also every pair of
** flags); sequence models: every flag with --train, and the decoding
** flags with --load of a model saved here. */
static void sweep_model(const char *name) {
  int seq;
  const char *m = model_path(name, &seq);
  const char *tail = seq ? " --epochs 1 --quiet" : "";
  combo = 0;
  run_with(m, "", "", NULL, tail);
  for (size_t i = 0; i < COUNT(graph_flags); i++) run_with(m, "", graph_flags[i], NULL, tail);
  if (!seq) {
    combo = 1;
    static const char *look[] = {"", "--gradcheck", "--json", "--trace", "--dot --values"};
    char names[3][64], bp[256];
    int k = node_names(m, names, 3);
    for (int i = 0; i < k; i++)
      for (size_t l = 0; l < COUNT(look); l++) {
        snprintf(bp, sizeof bp, "--backprop '%s'", names[i]);
        run_with(m, bp, look[l], NULL, tail);
      }
    if (strcmp(name, "problem1.g")) return;
    for (size_t i = 0; i < COUNT(graph_flags); i++)
      for (size_t j = i + 1; j < COUNT(graph_flags); j++) run_with(m, "", graph_flags[i], graph_flags[j], tail);
    combo = 0;
  }
  for (size_t i = 0; i < COUNT(seq_flags); i++) run_with(m, "", seq_flags[i], NULL, tail);
  if (!seq) return;
  char save[300];
  snprintf(save, sizeof save, "--train --save %s", path_in("s.ckpt"));
  ck_assert_int_eq(run_with(m, save, "", NULL, tail), 0);
  char load[300];
  snprintf(load, sizeof load, "--load %s", path_in("s.ckpt"));
  char *text = tu_slurp(m);
  const char *ev = strstr(text, "src_train") ? seq_flags[1] : seq_flags[0];
  ck_assert_int_eq(run_with(m, load, ev, NULL, ""), 0);        /* the saved model loads (--epochs, --quiet go with --train) */
  free(text);
  combo = 1;
  for (size_t i = 0; i < COUNT(seq_flags); i++) {
    run_with(m, "--train", seq_flags[i], NULL, tail);
    if (i < N_DECODE_FLAGS) run_with(m, load, seq_flags[i], NULL, tail);
  }
}

/* The file in which sweep worker w leaves its counts, opened with mode. */
static FILE *counts_file(int w, const char *mode) {
  char cf[600];
  snprintf(cf, sizeof cf, "%s/counts-%d", tmpdir, w);
  FILE *f = fopen(cf, mode);
  ck_assert_msg(f != NULL, "%s: cannot open", cf);
  return f;
}

/* The models are swept by one child per core (check_fork: their failures
** are the test's), each model in its own folder; each child leaves its
** counts in tmpdir for the totals. */
START_TEST(every_model_every_flag) {
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
  setenv("OPENBLAS_NUM_THREADS", "1", 1);     /* faster start-up; the sweep is about exits */
  static char names[64][256];
  int models = 0;
  DIR *d = opendir("models");
  ck_assert_ptr_nonnull(d);
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t n = strlen(de->d_name);
    if (n < 3 || n >= sizeof names[0] || strcmp(de->d_name + n - 2, ".g")) continue;
    ck_assert_int_lt(models, 64);
    strcpy(names[models++], de->d_name);
  }
  closedir(d);
  ck_assert_int_ge(models, 10);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int jobs = cores < 1 ? 1 : cores > 4 ? 4 : (int)cores;
  pid_t kids[4];
  for (int w = 0; w < jobs; w++) {
    ck_assert_int_ge(kids[w] = check_fork(), 0);
    if (kids[w]) continue;
    for (int i = w; i < models; i += jobs) {
      snprintf(dir, sizeof dir, "%s/%s", tmpdir, names[i]);
      ck_assert_int_eq(mkdir(dir, 0700), 0);
      sweep_model(names[i]);
    }
    FILE *f = counts_file(w, "w");
    fprintf(f, "%ld %ld\n", runs, ran_ok);
    ck_assert_int_eq(fclose(f), 0);
    fflush(stdout);
    _exit(0);
  }
  for (int w = 0; w < jobs; w++) {
    int st;
    ck_assert_int_eq(waitpid(kids[w], &st, 0), kids[w]);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sweep worker %d failed (status %d)", w, st);
    FILE *f = counts_file(w, "r");
    long r, ok;
    ck_assert_int_eq(fscanf(f, "%ld %ld", &r, &ok), 2);
    fclose(f);
    runs += r; ran_ok += ok;
  }
  printf("test_argv: %d models, %ld command lines (%ld exit 0), none ended in a signal\n", models, runs, ran_ok);
  ck_assert_int_ge(runs, 600);             /* the sweep ran (898 when written) */
  ck_assert_int_ge(ran_ok, runs / 4);      /* the sweep reaches the work, not only the flag checks */
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The defect that started this test: a parameter that does not reach the
** --backprop node (problem1.g: w2 and b2 do not reach z3). */
START_TEST(param_not_reaching_output) {
  TuRun r = tu_run("models/problem1.g --backprop z3 --gradcheck");
  ck_assert_msg(!r.signaled && r.status == 0, "exit %d: %s", r.status, r.err);
  ck_assert_msg(strstr(r.out, "  dz3/dw2                  does not reach z3: not checked\n"), "%s", r.out);
  ck_assert_msg(strstr(r.out, "  dz3/db2                  does not reach z3: not checked\n"), "%s", r.out);
  ck_assert_msg(strstr(r.out, "  dz3/dw1                  max relative error"), "%s", r.out);
  tu_free(&r);
  r = tu_run("models/problem1.g --backprop z1 --gradcheck");
  ck_assert_msg(!r.signaled && r.status == 0, "exit %d: %s", r.status, r.err);
  ck_assert_msg(strstr(r.out, "  dz1/db1                  does not reach z1: not checked\n"), "%s", r.out);
  tu_free(&r);
  /* --json: null for every node the output does not depend on */
  r = tu_run("models/problem1.g --backprop z3 --json");
  ck_assert_int_eq(r.status, 0);
  const char *g = strstr(r.out, "\"grads\": {");
  ck_assert_ptr_nonnull(g);
  const char *want = "\"grads\": {\n  \"x\": 0.25,\n  \"w1\": 1,\n  \"b1\": 1,\n  \"w2\": null,\n  \"b2\": null,\n"
                     "  \"z1\": 1,\n  \"z2\": 1,\n  \"z3\": 1,\n  \"z4\": null,\n  \"z5\": null\n },\n";
  ck_assert_msg(!strncmp(g, want, strlen(want)), "%s", g);
  tu_free(&r);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("argv");
  TCase *t = tcase_create("argv");
  tcase_set_timeout(t, 900);
  tcase_add_test(t, param_not_reaching_output);
  tcase_add_test(t, every_model_every_flag);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
