/*
** test_dist.c — training over several processes (mpirun, src/dist.c)
** against one process: the parameters after one step (1e-5 relative), the
** validation perplexity after 2 epochs (1%), resuming with another number
** of processes, rank 0 alone printing and writing, refusals, the checksum
** comparison naming the epoch, a killed process (tests/dist_fault.sh), and
** the threads of a process that mpirun bound to one core.  And the same
** split inside one process (--replicas, src/train.c): one step and two
** epochs as one run, results that do not depend on the threads, an exact
** resume with dropout, each replica drawing its own masks, and the refusals.
**
** The models are the tiny lm, cond_lm and Transformer LM (Adam) without
** dropout (tests/data/tiny_*_exact.g): with dropout the masks differ per process
** by design.
** Open MPI never frees some of its own allocations, so LeakSanitizer is off
** in the processes mpirun starts; under valgrind (RUN_WITH) these tests skip.
*/
#define _GNU_SOURCE                 /* sched_getaffinity, CPU_COUNT */
#include "testutil.h"
#include <sched.h>
#include "model.h"
#include "par.h"
#include "train.h"
#include "checkpoint.h"

#define MPIRUN "mpirun --allow-run-as-root --oversubscribe --mca btl_vader_single_copy_mechanism none"
static const char *LM = "tests/data/tiny_lm_exact.g", *COND = "tests/data/tiny_cond_lm_exact.g",
                  *TFM = "tests/data/tiny_tfm_exact.g";

static int skip(void) {
  const char *v = getenv("RUN_WITH");
  return v && *v;
}

static TuRun mpi_run(int np, const char *args) {
  char pre[256];
  snprintf(pre, sizeof pre, "ASAN_OPTIONS=detect_leaks=0 " MPIRUN " -np %d", np);
  return tu_run_with(pre, args);
}

static char *tmp_path(const char *suffix) {
  char *p = tu_tmpfile(suffix, "", 0);
  unlink(p);
  return p;
}

/* The valid perplexity of the last epoch line. */
static double last_valid_ppl(const char *out) {
  const char *p = out, *q;
  double v = NAN;
  while ((q = strstr(p, "valid ppl "))) { sscanf(q + 10, "%lf", &v); p = q + 1; }
  return v;
}
static int count_lines(const char *out, const char *prefix) {
  int n = 0;
  for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    n += !strncmp(p, prefix, strlen(prefix));
  return n;
}

/* The checkpoints a and b hold the same parameters (each value within rel
** of its tensor's largest magnitude), and they moved from the initial ones. */
static void same_params(const char *model, const char *a, const char *b, double rel) {
  Err e = {0};
  Model *ma = model_load(model, &e), *mb = model_load(model, &e), *m0 = model_load(model, &e);
  ck_assert_msg(ma && mb && m0, "%s", e.msg);
  ck_assert_msg(ckpt_load(ma, a, NULL, &e) == 0 && ckpt_load(mb, b, NULL, &e) == 0, "%s", e.msg);
  long moved = 0, checked = 0;
  for (int i = 0; i < ma->g->n; i++) {
    const Node *na = ma->g->nodes[i], *nb = mb->g->nodes[i], *n0 = m0->g->nodes[i];
    if (na->kind != N_PARAM) continue;
    double big = 0;
    for (long k = 0; k < na->val.n; k++) big = fmax(big, fabs(na->val.data[k]));
    for (long k = 0; k < na->val.n; k++, checked++) {
      ck_assert_msg(fabs(na->val.data[k] - nb->val.data[k]) <= rel * big,
                    "%s[%ld]: %.9g (one process) against %.9g (several)", na->name, k, na->val.data[k], nb->val.data[k]);
      moved += fabs(na->val.data[k] - n0->val.data[k]) > 1e-4 * big;
    }
  }
  ck_assert_int_gt(checked, 100);
  ck_assert_msg(moved > checked / 4, "only %ld of %ld values moved in the step", moved, checked);
  model_free(ma); model_free(mb); model_free(m0);
}

/* Replicas in one process, on 2 threads. */
static TuRun replicas_run(int n, const char *args) {
  char a[700];
  snprintf(a, sizeof a, "%s --threads 2 --replicas %d", args, n);
  return tu_run(a);
}

/* One step (one piece per epoch: bptt longer than any stream or bundle),
** split np ways by run (mpi_run or replicas_run). */
static void one_step(const char *model, int batch, int np, TuRun (*run)(int, const char *)) {
  char *ca = tmp_path(".ck"), *cb = tmp_path(".ck"), args[512];
  snprintf(args, sizeof args, "%s --train --epochs 1 --batch %d --bptt 1000 --quiet --save %s", model, batch, ca);
  TuRun r1 = tu_run(args);
  ck_assert_msg(r1.status == 0, "%s", r1.err);
  snprintf(args, sizeof args, "%s --train --epochs 1 --batch %d --bptt 1000 --quiet --save %s", model, batch, cb);
  TuRun r2 = run(np, args);
  ck_assert_msg(r2.status == 0, "%s", r2.err);
  same_params(model, ca, cb, 1e-5);
  unlink(ca); unlink(cb); free(ca); free(cb);
  tu_free(&r1); tu_free(&r2);
}

START_TEST(one_step_equals_one_process) {
  if (skip()) return;
  one_step(LM, 4, 2, mpi_run);       /* 2 + 2 stream columns */
  one_step(LM, 5, 3, mpi_run);       /* 1 + 2 + 2: an uneven split */
  one_step(COND, 40, 2, mpi_run);    /* the whole corpus as one bundle, 20 + 20 sentences */
}
END_TEST

/* Two epochs: the same valid perplexity; rank 0 alone prints and writes. */
static void two_epochs(const char *model, const char *opts) {
  char *met = tmp_path(".csv"), args[512];
  snprintf(args, sizeof args, "%s --train --epochs 2 --quiet %s", model, opts);
  TuRun r1 = tu_run(args);
  ck_assert_msg(r1.status == 0, "%s", r1.err);
  snprintf(args, sizeof args, "%s --train --epochs 2 --quiet %s --metrics %s", model, opts, met);
  TuRun r2 = mpi_run(2, args);
  ck_assert_msg(r2.status == 0, "%s", r2.err);
  double p1 = last_valid_ppl(r1.err), p2 = last_valid_ppl(r2.err);     /* the log is on stderr */
  ck_assert_msg(fabs(p1 - p2) <= 0.01 * p1, "valid ppl %g (one process) against %g (2 processes)", p1, p2);
  ck_assert_int_eq(count_lines(r2.err, "training "), 1);
  ck_assert_ptr_nonnull(strstr(r2.err, "; 2 processes, 1 thread each"));
  ck_assert_int_eq(count_lines(r2.err, "epoch "), 2);
  ck_assert_int_eq(count_lines(r2.err, "best valid ppl"), 1);
  ck_assert_str_eq(r2.out, "");
  char *csv = tu_slurp(met);
  ck_assert_int_eq(count_lines(csv, "epoch,"), 1);
  ck_assert_int_eq(count_lines(csv, "2,"), 1);
  free(csv); unlink(met); free(met);
  tu_free(&r1); tu_free(&r2);
}

START_TEST(two_epochs_same_valid_ppl) {
  if (skip()) return;
  two_epochs(LM, "--batch 4 --vbatch 4");
  /* batch 3: 1 + 2 sentences, the last bundle's 1 to rank 1 alone.  lr 2:
  ** at the file's lr 20 this tiny model is chaotic and float rounding (the
  ** order of the sums) grows into percents within 2 epochs. */
  two_epochs(COND, "--lr 2");
}
END_TEST

/* A checkpoint of 2 processes resumed by 1 and by 3: epoch 2 as in one run. */
START_TEST(resume_with_other_process_count) {
  if (skip()) return;
  char *ck = tmp_path(".ck"), args[512];
  TuRun ref = tu_run("tests/data/tiny_lm_exact.g --train --epochs 2 --batch 6 --quiet");
  ck_assert_msg(ref.status == 0, "%s", ref.err);
  snprintf(args, sizeof args, "%s --train --epochs 1 --batch 6 --quiet --checkpoint %s", LM, ck);
  TuRun a = mpi_run(2, args);
  ck_assert_msg(a.status == 0, "%s", a.err);
  snprintf(args, sizeof args, "%s --resume %s --epochs 2 --batch 6 --quiet", LM, ck);
  TuRun b = tu_run(args), c = mpi_run(3, args);
  ck_assert_msg(b.status == 0 && c.status == 0, "%s%s", b.err, c.err);
  double p = last_valid_ppl(ref.err);
  ck_assert_ptr_nonnull(strstr(c.err, "after epoch 1"));
  ck_assert_int_eq(count_lines(c.err, "epoch "), 1);
  TU_CLOSE(last_valid_ppl(b.err), p, 1e-4 * p);
  TU_CLOSE(last_valid_ppl(c.err), p, 1e-4 * p);
  unlink(ck); free(ck);
  tu_free(&ref); tu_free(&a); tu_free(&b); tu_free(&c);
}
END_TEST

START_TEST(refusals) {
  if (skip()) return;
  TuRun r = mpi_run(2, "tests/data/tiny_lm_exact.g --train --batch 1 --quiet");
  ck_assert_int_ne(r.status, 0);
  ck_assert_ptr_nonnull(strstr(r.err, "graphrun: error: --batch 1 is the global batch and cannot be split over 2 processes: it needs at least one stream column per process"));
  tu_free(&r);
  r = mpi_run(2, "tests/data/tiny_lm_exact.g --generate 2");
  ck_assert_int_eq(r.status, 2);
  ck_assert_ptr_nonnull(strstr(r.err, "graphrun: error: --generate runs in one process: start it without mpirun (mpirun runs --train, --resume and --eval)"));
  tu_free(&r);
  /* a mistake on the command line is every process's: process 0 alone says it */
  r = mpi_run(2, "tests/data/tiny_lm_exact.g --train --epochs x");
  ck_assert_int_eq(r.status, 2);
  ck_assert_int_eq(count_lines(r.err, "graphrun: error: --epochs needs a number from 0 to 1e+07, got 'x'"), 1);
  tu_free(&r);
  r = mpi_run(2, "tests/data/tiny_lm_exact.g --trace");
  ck_assert_int_eq(r.status, 2);
  ck_assert_ptr_nonnull(strstr(r.err, "graphrun: error: --trace runs in one process"));
  tu_free(&r);
  /* --eval is split too: the same perplexity as one process */
  TuRun one = tu_run("tests/data/tiny_cond_lm_exact.g --eval tests/data/tiny-valid.txt --src tests/data/tiny-src-valid.txt"),
        two = mpi_run(2, "tests/data/tiny_cond_lm_exact.g --eval tests/data/tiny-valid.txt --src tests/data/tiny-src-valid.txt");
  ck_assert_msg(one.status == 0 && two.status == 0, "%s%s", one.err, two.err);
  ck_assert_str_eq(one.out, two.out);
  ck_assert_int_eq(count_lines(two.err, "graphrun: warning: no --load"), 1);
  tu_free(&one); tu_free(&two);
}
END_TEST

/* Processes that do not agree: another seed (at the start), another
** learning rate (after epoch 1).  Rank 0 alone reports. */
START_TEST(disagreement_names_the_epoch) {
  if (skip()) return;
  char args[512];
  snprintf(args, sizeof args, "%s --train --quiet : -np 1 %s %s --train --quiet --seed 7", LM, tu_bin(), LM);
  TuRun r = mpi_run(1, args);
  ck_assert_int_ne(r.status, 0);
  ck_assert_msg(strstr(r.err, "graphrun: error: at the start the parameters of process 1 differ from process 0's (checksum ") != NULL, "%s", r.err);
  ck_assert_ptr_nonnull(strstr(r.err, "every process must start from the same model"));
  tu_free(&r);
  snprintf(args, sizeof args, "%s --train --quiet : -np 1 %s %s --train --quiet --lr 10", LM, tu_bin(), LM);
  r = mpi_run(1, args);
  ck_assert_int_ne(r.status, 0);
  ck_assert_msg(strstr(r.err, "graphrun: error: after epoch 1 the parameters of process 1 differ from process 0's") != NULL, "%s", r.err);
  ck_assert_int_eq(count_lines(r.err, "graphrun: error:"), 1);
  tu_free(&r);
}
END_TEST
/* The valid perplexity of a --metrics file's last row (4 decimals). */
static double csv_valid_ppl(const char *path) {
  char *csv = tu_slurp(path), *last = strrchr(csv, '\n');
  while (last > csv && last[-1] != '\n') last--;                 /* start of the last row */
  double v = NAN;
  ck_assert_msg(last && sscanf(last, "%*d,%*f,%lf", &v) == 1, "%s: no rows in\n%s", path, csv);
  free(csv);
  return v;
}

/* Adam under mpirun: 2 processes stopped after epoch 1 and resumed by 2 end
** with exactly the checkpoint of 2 processes running 3 epochs at once (process
** 0 reads Adam's step count and moments, the others get them by broadcast).
** Resumed by 1 process: the same valid perplexity within 0.1%, not the same
** parameters.  The key bias b_qkv[k] has a gradient of float noise only (a
** constant added to every score of a row), which Adam scales up to steps of
** lr whatever its size: another summation order moves it elsewhere. */
START_TEST(adam_resume_is_exact) {
  if (skip()) return;
  char *full = tmp_path(".ck"), *half = tmp_path(".ck"), *met = tmp_path(".csv"), *met1 = tmp_path(".csv"), args[512];
  snprintf(args, sizeof args, "%s --train --epochs 3 --quiet --checkpoint %s --metrics %s", TFM, full, met);
  TuRun a = mpi_run(2, args);
  snprintf(args, sizeof args, "%s --train --epochs 1 --quiet --checkpoint %s", TFM, half);
  TuRun b = mpi_run(2, args);
  ck_assert_msg(a.status == 0 && b.status == 0, "%s%s", a.err, b.err);
  snprintf(args, sizeof args, "%s --resume %s --epochs 3 --quiet --metrics %s", TFM, half, met1);
  TuRun c = tu_run(args);
  snprintf(args, sizeof args, "%s --resume %s --epochs 3 --quiet --checkpoint %s", TFM, half, half);
  TuRun d = mpi_run(2, args);
  ck_assert_msg(c.status == 0 && d.status == 0, "%s%s", c.err, d.err);
  ck_assert_ptr_nonnull(strstr(d.err, "adam (betas"));
  ck_assert_ptr_nonnull(strstr(d.err, "after epoch 1"));
  ck_assert_int_eq(count_lines(d.err, "epoch "), 2);
  long nf, nh;
  char *x = tu_slurp_n(full, &nf), *y = tu_slurp_n(half, &nh);
  ck_assert_int_gt(nf, 0);
  ck_assert_int_eq(nf, nh);
  ck_assert_msg(memcmp(x, y, (size_t)nf) == 0, "2 processes resumed after epoch 1 differ from 2 processes run through");
  double p = csv_valid_ppl(met);
  TU_CLOSE(csv_valid_ppl(met1), p, 1e-3 * p);
  free(x); free(y);
  unlink(full); unlink(half); unlink(met); unlink(met1); free(full); free(half); free(met); free(met1);
  tu_free(&a); tu_free(&b); tu_free(&c); tu_free(&d);
}
END_TEST

START_TEST(killed_process_ends_the_job) {
  if (skip()) return;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "ASAN_OPTIONS=detect_leaks=0 tests/dist_fault.sh %s " MPIRUN, tu_bin());
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* mpirun binds a process it starts alone to one core (Open MPI binds to a
** core when it starts two or fewer): graphrun takes the machine's cores
** back, as a run without mpirun has them, instead of one thread (or all of
** its threads on that one core).  No --oversubscribe here: it changes the
** binding. */
START_TEST(bound_process_takes_its_cores) {
  if (skip()) return;
  cpu_set_t own;
  ck_assert_int_eq(sched_getaffinity(0, sizeof own, &own), 0);
  int want = CPU_COUNT(&own) < PAR_MAX ? CPU_COUNT(&own) : PAR_MAX;
  char args[256];
  snprintf(args, sizeof args, "%s --train --epochs 1", LM);
  TuRun r = tu_run_with("ASAN_OPTIONS=detect_leaks=0 mpirun --allow-run-as-root --mca btl_vader_single_copy_mechanism none -np 1", args);
  ck_assert_msg(r.status == 0, "%s", r.err);
  const char *b = strstr(r.err, "blas: ");
  ck_assert_msg(b != NULL, "%s", r.err);
  const char *end = strchr(b, '\n'), *t = end;
  while (t > b && t[-1] != ',') t--;
  int got = -1;
  ck_assert_msg(sscanf(t, " %d thread", &got) == 1 && got == want, "want %d threads: %.*s", want, (int)(end - b), b);
  tu_free(&r);
}
END_TEST

/* ---- replicas: the same split inside one process ------------------------- */

START_TEST(replicas_step_as_one_run) {
  if (skip()) return;
  one_step(LM, 4, 2, replicas_run);       /* 2 + 2 stream columns */
  one_step(LM, 5, 2, replicas_run);       /* 2 + 3 */
  one_step(LM, 5, 3, replicas_run);       /* 3 replicas on 2 threads: 1 + 2 + 2 */
  one_step(COND, 40, 2, replicas_run);    /* 20 + 20 sentences */
}
END_TEST

/* Two epochs (validation split too): the valid perplexity of one run, with 2
** replicas in one process and with 2 in each of 2 processes. */
START_TEST(replicas_two_epochs_as_one_run) {
  if (skip()) return;
  const char *runs[][2] = { { LM, "--batch 4 --vbatch 4" }, { COND, "--lr 2" }, { TFM, "" } };
  for (int i = 0; i < 3; i++) {
    char args[512];
    snprintf(args, sizeof args, "%s --train --epochs 2 --quiet --threads 1 %s", runs[i][0], runs[i][1]);
    TuRun one = tu_run(args);
    snprintf(args, sizeof args, "%s --train --epochs 2 --quiet %s", runs[i][0], runs[i][1]);
    TuRun two = replicas_run(2, args);
    ck_assert_msg(one.status == 0 && two.status == 0, "%s%s", one.err, two.err);
    ck_assert_msg(strstr(two.err, "; 2 replicas of the model, each a share of every batch\n") != NULL, "%s", two.err);
    ck_assert_int_eq(count_lines(two.err, "epoch "), 2);
    double p1 = last_valid_ppl(one.err), p2 = last_valid_ppl(two.err);
    ck_assert_msg(fabs(p1 - p2) <= 1e-3 * p1, "%s: valid ppl %g (one run) against %g (2 replicas)", runs[i][0], p1, p2);
    /* under mpirun too: each process splits its columns over its replicas */
    snprintf(args, sizeof args, "%s --train --epochs 2 --quiet --threads 1 --replicas 2 %s", runs[i][0], runs[i][1]);
    TuRun four = mpi_run(2, args);
    ck_assert_msg(four.status == 0, "%s", four.err);
    ck_assert_msg(strstr(four.err, "; 2 processes, 1 thread each; 2 replicas of the model") != NULL, "%s", four.err);
    double p4 = last_valid_ppl(four.err);
    ck_assert_msg(fabs(p1 - p4) <= 1e-3 * p1, "%s: valid ppl %g (one run) against %g (2 processes x 2 replicas)", runs[i][0], p1, p4);
    tu_free(&one); tu_free(&two); tu_free(&four);
  }
}
END_TEST

/* With dropout: the replicas' masks come from the model's generator and the
** replica's index, so the result depends on neither the threads (which
** thread runs which replica) nor an interruption (--resume). */
START_TEST(replicas_with_dropout_are_exact) {
  if (skip()) return;
  const char *models[] = { "tests/data/tiny_lm.g", "tests/data/tiny_attn_lm.g" };
  for (int i = 0; i < 2; i++) {
    char *a = tmp_path(".ck"), *b = tmp_path(".ck"), *c = tmp_path(".ck"), args[512];
    snprintf(args, sizeof args, "%s --train --epochs 3 --quiet --replicas 2 --threads 2 --checkpoint %s", models[i], a);
    TuRun r1 = tu_run(args);
    snprintf(args, sizeof args, "%s --train --epochs 3 --quiet --replicas 2 --threads 1 --checkpoint %s", models[i], b);
    TuRun r2 = tu_run(args);
    snprintf(args, sizeof args, "%s --train --epochs 1 --quiet --replicas 2 --threads 2 --checkpoint %s", models[i], c);
    TuRun r3 = tu_run(args);
    ck_assert_msg(r1.status == 0 && r2.status == 0 && r3.status == 0, "%s%s%s", r1.err, r2.err, r3.err);
    snprintf(args, sizeof args, "%s --resume %s --epochs 3 --quiet --replicas 2 --threads 2 --checkpoint %s", models[i], c, c);
    TuRun r4 = tu_run(args);
    ck_assert_msg(r4.status == 0 && strstr(r4.err, "after epoch 1"), "%s", r4.err);
    long na, nb, nc;
    char *x = tu_slurp_n(a, &na), *y = tu_slurp_n(b, &nb), *z = tu_slurp_n(c, &nc);
    ck_assert_int_gt(na, 0);
    ck_assert_msg(na == nb && memcmp(x, y, (size_t)na) == 0, "%s: 2 replicas on 1 thread differ from 2 replicas on 2", models[i]);
    ck_assert_msg(na == nc && memcmp(x, z, (size_t)na) == 0, "%s: 2 replicas resumed after epoch 1 differ from a run through", models[i]);
    free(x); free(y); free(z);
    unlink(a); unlink(b); unlink(c); free(a); free(b); free(c);
    tu_free(&r1); tu_free(&r2); tu_free(&r3); tu_free(&r4);
  }
}
END_TEST

/* Each replica draws its own dropout masks.  The corpus twice over, in a
** batch of 2 columns split over 2 replicas, puts the same text in both
** replicas; if they also drew the same masks, each step's gradient (the
** mean of two equal halves) and so the whole run would be bit for bit that
** of one column of the corpus alone.  Without dropout it is (the control). */
static char *run_ckpt(const char *model, const char *flags) {
  char *ck = tmp_path(".ck"), args[700];
  snprintf(args, sizeof args, "%s --train --epochs 2 --quiet %s --save %s", model, flags, ck);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s: %s", args, r.err);
  tu_free(&r);
  return ck;
}
START_TEST(replicas_draw_their_own_masks) {
  if (skip()) return;
  static const char train[] = "tests/data/tiny-train.txt";   /* as the models name it */
  char *text = tu_slurp(train), *twice = malloc(2 * strlen(text) + 1);
  ck_assert_ptr_nonnull(text);
  strcpy(twice, text); strcat(twice, text);
  char *data = tu_tmpfile(".txt", twice, strlen(twice));
  const char *models[] = { "tests/data/tiny_lm_exact.g", "tests/data/tiny_lm.g" };
  for (int i = 0; i < 2; i++) {
    char *src = tu_slurp(models[i]), *at = strstr(src, train);
    ck_assert_ptr_nonnull(at);
    char g[4096];
    int n = snprintf(g, sizeof g, "%.*s%s%s", (int)(at - src), src, data, at + strlen(train));
    ck_assert_int_lt(n, (int)sizeof g);
    char *model2 = tu_tmpfile(".g", g, strlen(g));
    char *one = run_ckpt(models[i], "--batch 1 --threads 1"), *two = run_ckpt(model2, "--batch 2 --replicas 2 --threads 2");
    long n1, n2;
    char *a = tu_slurp_n(one, &n1), *b = tu_slurp_n(two, &n2);
    int same = n1 == n2 && n1 > 0 && memcmp(a, b, (size_t)n1) == 0;
    if (i == 0) ck_assert_msg(same, "without dropout, 2 replicas on the text twice differ from 1 column of it");
    else ck_assert_msg(!same, "with dropout, 2 replicas on the text twice train as 1 column of it: they drew the same masks");
    free(a); free(b); unlink(one); unlink(two); free(one); free(two);
    unlink(model2); free(model2); free(src);
  }
  unlink(data); free(data); free(text); free(twice);
}
END_TEST

START_TEST(replicas_refusals) {
  if (skip()) return;
  TuRun r = tu_run("tests/data/tiny_lm_exact.g --train --batch 3 --replicas 4 --quiet");
  ck_assert_int_eq(r.status, 1);
  ck_assert_msg(strstr(r.err, "graphrun: error: replicas = 4 (--replicas or the train statement) needs a batch of at least 4 stream columns; the batch is 3") != NULL, "%s", r.err);
  tu_free(&r);
  r = tu_run("tests/data/tiny_lm_exact.g --eval tests/data/tiny-valid.txt --replicas 2");
  ck_assert_int_eq(r.status, 2);
  ck_assert_msg(strstr(r.err, "--replicas") != NULL, "%s", r.err);
  tu_free(&r);
  /* the train statement's setting, located when out of range, named in the header when taken */
  const char *head = "data train = \"tests/data/tiny-train.txt\", valid = \"tests/data/tiny-valid.txt\"\n"
                     "param E: [V, 4] ~ uniform(-0.1, 0.1)\nloss = cross_entropy(embed(E, x) @ transpose(E), y)\noutput loss\n";
  char text[512];
  snprintf(text, sizeof text, "%strain sgd(lr = 1), batch = 4, replicas = 300\n", head);
  char *bad = tu_tmpfile(".g", text, strlen(text));
  char args[512];
  snprintf(args, sizeof args, "%s --train --quiet", bad);
  r = tu_run(args);
  ck_assert_int_eq(r.status, 1);
  ck_assert_msg(strstr(r.err, ":5:42: error: 'replicas' must be from 0 to 256, got 300") != NULL, "%s", r.err);
  tu_free(&r);
  unlink(bad); free(bad);
  snprintf(text, sizeof text, "%strain sgd(lr = 1), batch = 4, epochs = 1, replicas = 2\n", head);
  char *good = tu_tmpfile(".g", text, strlen(text));
  snprintf(args, sizeof args, "%s --train --quiet --threads 2", good);
  r = tu_run(args);
  ck_assert_msg(r.status == 0 && strstr(r.err, "; 2 replicas of the model") != NULL, "%s", r.err);
  tu_free(&r);
  unlink(good); free(good);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("dist");
  TCase *t = tcase_create("mpirun");
  tcase_set_timeout(t, 240);
  tcase_add_test(t, one_step_equals_one_process);
  tcase_add_test(t, two_epochs_same_valid_ppl);
  tcase_add_test(t, resume_with_other_process_count);
  tcase_add_test(t, adam_resume_is_exact);
  tcase_add_test(t, refusals);
  tcase_add_test(t, disagreement_names_the_epoch);
  tcase_add_test(t, killed_process_ends_the_job);
  tcase_add_test(t, bound_process_takes_its_cores);
  suite_add_tcase(s, t);
  t = tcase_create("replicas");
  tcase_set_timeout(t, 240);
  tcase_add_test(t, replicas_step_as_one_run);
  tcase_add_test(t, replicas_two_epochs_as_one_run);
  tcase_add_test(t, replicas_with_dropout_are_exact);
  tcase_add_test(t, replicas_draw_their_own_masks);
  tcase_add_test(t, replicas_refusals);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
