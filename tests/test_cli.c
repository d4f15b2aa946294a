/*
** test_cli.c — the command line as a user meets it (main.c's flag table):
** no flag is silently dropped (one that does not apply, two that conflict:
** exit 2 naming them, nothing on stdout), stdout carries only data and every
** message goes to stderr, output files are checked before any work.
*/
#include "testutil.h"

static int count(const char *s, const char *sub) {
  int k = 0;
  for (const char *p = s; (p = strstr(p, sub)); p += strlen(sub)) k++;
  return k;
}

/* exit 2, nothing on stdout, one line on stderr that starts with want */
static void refused(const char *args, const char *want) {
  TuRun r = tu_run(args);
  ck_assert_msg(!r.signaled && r.status == 2, "'%s': exit %d: %s", args, r.status, r.err);
  ck_assert_msg(!strncmp(r.err, want, strlen(want)) && count(r.err, "\n") == 1, "'%s':\n got: %s want: %s", args, r.err, want);
  ck_assert_msg(!*r.out, "'%s' wrote on stdout: %s", args, r.out);
  tu_free(&r);
}

START_TEST(flags_that_do_not_apply_are_refused) {
  /* the examples of issue 12 */
  refused("models/problem1.g --epochs 3", "graphrun: error: --epochs goes with --train or --resume");
  refused("models/problem1.g --trace --json", "graphrun: error: --trace and --json both write to standard output");
  refused("models/problem1.g --dot --json", "graphrun: error: --json and --dot both write to standard output");
  refused("models/problem1.g --gradcheck --trace", "graphrun: error: --trace and --gradcheck both write to standard output");
  refused("models/lm.g --dot --values", "graphrun: error: --values applies to models without a 'data' statement; models/lm.g is a language model");
  refused("models/problem1.g --generate 2", "graphrun: error: --generate applies to sequence models (a file with a 'data' statement); models/problem1.g is not one");
  /* and their kin */
  refused("models/problem1.g --threads 2", "graphrun: error: --threads goes with ");
  refused("models/problem1.g --dot --backprop z3", "graphrun: error: --backprop goes with --trace, --json, --html, --values or --gradcheck");
  refused("models/problem1.g --train", "graphrun: error: --train applies to sequence models (a file with a 'data' statement); models/problem1.g is not one");
  refused("models/problem1.g --trace=1", "graphrun: error: --trace takes no value");
  refused("tests/data/tiny_lm.g --train --epochs 1 --epochs 2", "graphrun: error: --epochs given twice");
  refused("tests/data/tiny_lm.g --train --gradcheck", "graphrun: error: --gradcheck does not go with --train");
  refused("tests/data/tiny_lm.g --train --set x=1", "graphrun: error: --set goes with a plain run, --trace, --json, --dot, --svg, --png, --html or --gradcheck");
  refused("tests/data/tiny_lm.g --resume a.ck --load b.ck", "graphrun: error: --load does not go with --resume");
  refused("tests/data/tiny_lm.g --resume a.ck --lr 1", "graphrun: error: --lr does not go with --resume");
  refused("tests/data/tiny_lm.g --eval tests/data/tiny-valid.txt --generate 2", "graphrun: error: --eval and --generate both write to standard output");
  refused("tests/data/tiny_lm.g --dot --seed 3", "graphrun: error: --seed goes with ");
  /* --load replaces the values the seed would draw: only dropout, bundle order and sampling are left */
  refused("tests/data/tiny_lm.g --load b.ck --eval tests/data/tiny-valid.txt --seed 3",
          "graphrun: error: --seed with --load goes with --train, --generate or a step view (--trace --json --gradcheck --html): the values come from b.ck");
  refused("tests/data/tiny_attn_lm.g --load b.ck --translate tests/data/tiny-src-valid.txt --seed 3",
          "graphrun: error: --seed with --load goes with --train, --generate or a step view");
  refused("tests/data/tiny_attn_lm.g --translate tests/data/tiny-src-valid.txt --show-attention",
          "graphrun: error: --show-attention and --translate both write to standard output");
  refused("tests/data/tiny_lm.g --show-attention", "graphrun: error: --show-attention applies to translation models");
}
END_TEST

/* --train --eval trains, then evaluates the trained model (--eval used to
** end the run before training started). */
START_TEST(train_then_eval) {
  TuRun r = tu_run("tests/data/tiny_lm.g --train --epochs 2 --quiet --eval tests/data/tiny-valid.txt");
  ck_assert_msg(r.status == 0, "%s", r.err);
  const char *ep = strstr(r.err, "epoch   2");
  ck_assert_msg(ep && strstr(ep, "valid ppl") && !strncmp(r.out, "ppl ", 4), "%s---\n%s", r.err, r.out);
  TU_CLOSE(atof(r.out + 4), atof(strstr(ep, "valid ppl") + 10), 0.006);
  tu_free(&r);
}
END_TEST

/* stdout carries the data only: translations, samples; the training log,
** the progress and BLEU are on stderr. */
START_TEST(stdout_is_data_only) {
  TuRun r = tu_run("tests/data/tiny_attn_lm.g --train --epochs 1 --quiet --translate tests/data/tiny-src-valid.txt"
                   " --ref tests/data/tiny-valid.txt");
  ck_assert_msg(r.status == 0, "%s", r.err);
  ck_assert_int_eq(count(r.out, "\n"), 8);                       /* one line per source line */
  ck_assert_msg(!strstr(r.out, "training") && !strstr(r.out, "epoch") && !strstr(r.out, "best") && !strstr(r.out, "BLEU"), "%s", r.out);
  ck_assert_msg(strstr(r.err, "training tests/data/tiny_attn_lm.g") && strstr(r.err, "epoch   1") &&
                strstr(r.err, "best valid ppl") && strstr(r.err, "BLEU = "), "%s", r.err);
  tu_free(&r);
  r = tu_run("tests/data/tiny_lm.g --train --epochs 1 --quiet --generate 2");
  ck_assert_msg(r.status == 0, "%s", r.err);
  ck_assert_int_eq(count(r.out, "\n"), 2);
  ck_assert_msg(!strstr(r.out, "epoch") && strstr(r.err, "epoch   1"), "%s---\n%s", r.out, r.err);
  tu_free(&r);
  /* a plain --train writes nothing on stdout */
  r = tu_run("tests/data/tiny_lm.g --train --epochs 1 --quiet");
  ck_assert_msg(r.status == 0 && !*r.out && strstr(r.err, "epoch   1"), "%s---\n%s", r.out, r.err);
  tu_free(&r);
}
END_TEST

/* Output files are checked before any work (a path that cannot be written
** used to fail after a whole epoch), and the check leaves no file behind. */
START_TEST(output_paths_checked_first) {
  refused("tests/data/tiny_lm.g --train --epochs 1 --quiet --save /nonexistent/dir/x.ckpt",
          "--save /nonexistent/dir/x.ckpt: error: cannot write there: No such file or directory");
  refused("tests/data/tiny_lm.g --train --epochs 1 --quiet --checkpoint /nonexistent/c.ckpt", "--checkpoint /nonexistent/c.ckpt: error: cannot write there");
  refused("tests/data/tiny_lm.g --train --epochs 1 --quiet --metrics /nonexistent/m.csv", "--metrics /nonexistent/m.csv: error: cannot write there");
  refused("tests/data/tiny_lm.g --train --epochs 1 --quiet --save /tmp", "--save /tmp: error: is a directory");
  refused("tests/data/tiny_attn_lm.g --attention-svg /nonexistent/a.svg", "--attention-svg /nonexistent/a.svg: error: cannot write there");
  refused("tests/data/tiny_lm.g --load /nonexistent/in.ckpt --eval tests/data/tiny-valid.txt", "--load /nonexistent/in.ckpt: error: cannot read: No such file");
  char dir[] = "/tmp/gr_cliXXXXXX", args[512];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(args, sizeof args, "tests/data/tiny_lm.g --train --epochs 1 --quiet --save %s/s.ckpt --metrics /nonexistent/m.csv", dir);
  refused(args, "--metrics /nonexistent/m.csv: error: cannot write there");
  ck_assert_int_eq(rmdir(dir), 0);                  /* empty: the check of --save left nothing */
}
END_TEST

/* A run whose loss overflows the perplexity (every value finite) stops with
** a located report and exit 1, and saves nothing; it used to go on printing
** "ppl inf" and exit 0. */
START_TEST(diverging_run_fails) {
  char ck[] = "/tmp/gr_divXXXXXX", args[512];
  close(mkstemp(ck)); unlink(ck);
  snprintf(args, sizeof args, "tests/data/tiny_lm.g --train --epochs 3 --quiet --lr 1e6 --clip 1e6 --save %s", ck);
  TuRun r = tu_run(args);
  ck_assert_msg(!r.signaled && r.status == 1, "exit %d: %s", r.status, r.err);
  ck_assert_msg(strstr(r.err, "tests/data/tiny_lm.g:17:10: error: training diverged (try a lower --lr or --clip): 'loss' = ") &&
                strstr(r.err, "nats per token, perplexity Inf, in the training pass of epoch 1 at step ") &&
                strstr(r.err, "; input 'logits' (line 16) in ["), "%s", r.err);
  ck_assert_msg(!strstr(r.err, "epoch   1"), "%s", r.err);
  ck_assert_int_ne(access(ck, F_OK), 0);
  tu_free(&r);
}
END_TEST

/* --eval FILE scores any text file: its words and one <eos> per sentence
** (a language model reads the file as one stream whose first word starts
** it and is not scored), unknown words read as <unk> and are counted; a translation
** model's sentences are independent, so the file twice over has the same
** perplexity and twice the tokens.  (--eval took no file: the validation
** data only.) */
START_TEST(eval_any_file) {
  TuRun r = tu_run("tests/data/tiny_lm.g --eval tests/data/tiny-train.txt");
  ck_assert_msg(r.status == 0 && !strncmp(r.out, "ppl ", 4) &&
                strstr(r.out, "(tests/data/tiny-train.txt: 40 sentences, 345 tokens scored, 0 words not in the vocabulary read as <unk>)\n"),
                "%s%s", r.out, r.err);
  tu_free(&r);
  const char text[] = "the zebra sat\n\nthe cat sat on the mat .\n";
  char *f = tu_tmpfile(".txt", text, strlen(text)), args[512];
  snprintf(args, sizeof args, "tests/data/tiny_lm.g --eval %s", f);
  r = tu_run(args);
  ck_assert_msg(r.status == 0 && strstr(r.out, ": 2 sentences, 11 tokens scored, 1 words not in the vocabulary read as <unk>)"), "%s%s", r.out, r.err);
  tu_free(&r);
  /* translation: sources with --src, the file twice gives the same ppl */
  char *two = malloc(4096), *src2 = malloc(4096), *v = tu_slurp("tests/data/tiny-valid.txt"), *sv = tu_slurp("tests/data/tiny-src-valid.txt");
  snprintf(two, 4096, "%s%s", v, v); snprintf(src2, 4096, "%s%s", sv, sv);
  char *ft = tu_tmpfile(".txt", two, strlen(two)), *fs = tu_tmpfile(".txt", src2, strlen(src2));
  r = tu_run("tests/data/tiny_attn_lm.g --eval tests/data/tiny-valid.txt --src tests/data/tiny-src-valid.txt");
  snprintf(args, sizeof args, "tests/data/tiny_attn_lm.g --eval %s --src %s", ft, fs);
  TuRun r2 = tu_run(args);
  ck_assert_msg(r.status == 0 && r2.status == 0, "%s%s", r.err, r2.err);
  ck_assert_msg(strstr(r.out, "8 sentences, 66 tokens scored") && strstr(r2.out, "16 sentences, 132 tokens scored"), "%s%s", r.out, r2.out);
  TU_CLOSE(atof(r.out + 4), atof(r2.out + 4), 0.006);
  tu_free(&r); tu_free(&r2);
  refused("tests/data/tiny_attn_lm.g --eval tests/data/tiny-valid.txt",
          "graphrun: error: --eval on a translation model needs --src FILE, the source sentences of tests/data/tiny-valid.txt line by line");
  refused("tests/data/tiny_lm.g --eval --load x.ckpt", "graphrun: error: --eval needs FILE, got '--load'");
  refused("tests/data/tiny_lm.g --eval tests/data/tiny-valid.txt --src tests/data/tiny-src-valid.txt", "graphrun: error: --src applies to translation models");
  unlink(f); unlink(ft); unlink(fs);
  free(f); free(ft); free(fs); free(two); free(src2); free(v); free(sv);
}
END_TEST

/* Output of a shell command (make without the parent make's flags). */
static char *shell(const char *cmd) {
  char full[512];
  snprintf(full, sizeof full, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL %s 2>&1", cmd);
  FILE *p = popen(full, "r");
  ck_assert_ptr_nonnull(p);
  size_t n = 0, cap = 1 << 16;
  char *s = malloc(cap);
  for (size_t k; (k = fread(s + n, 1, cap - n - 1, p)) > 0; ) { n += k; if (n + 1 == cap) s = realloc(s, cap *= 2); }
  s[n] = 0;
  pclose(p);
  return s;
}

/* Every `make TARGET` the README names is in `make help`, and `make demo`
** traces Problem 2 as the README says (it only printed its outputs). */
START_TEST(make_help_and_demo_as_the_readme_says) {
  char *readme = tu_slurp("README.md"), *help = shell("make -s --no-print-directory help");
  int seen = 0;
  for (const char *p = readme; (p = strstr(p, "make ")); p += 5) {
    if (p > readme && (p[-1] != '`' && p[-1] != '\n')) continue;   /* `make X` or a command line */
    char target[40], want[48];
    if (sscanf(p + 5, "%39[a-z-]", target) != 1) continue;
    snprintf(want, sizeof want, "make %s ", target);
    ck_assert_msg(strstr(help, want), "README names 'make %s', make help does not:\n%s", target, help);
    seen++;
  }
  ck_assert_int_ge(seen, 10);
  static const char *named[] = { "make docs ", "make data-brown ", "make clean " };   /* the examples */
  for (size_t i = 0; i < sizeof named / sizeof *named; i++) ck_assert_msg(strstr(help, named[i]), "'%s' missing from make help", named[i]);
  ck_assert_msg(strstr(readme, "traces and draws Problems 1 and 2"), "the README changed: check this test");
  char *demo = shell("make -n demo");
  ck_assert_msg(strstr(demo, "models/problem1.g --trace") && strstr(demo, "models/problem2.g --trace"), "%s", demo);
  free(readme); free(help); free(demo);
}
END_TEST

/* The repository stands on its own: the README and docs name no path
** outside it (../shared/..., /work/..., /tmp/...). */
START_TEST(docs_name_no_outside_paths) {
  char *list = shell("ls README.md docs/*.md");
  int files = 0;
  char *save;
  for (char *f = strtok_r(list, "\n", &save); f; f = strtok_r(NULL, "\n", &save), files++) {
    char *text = tu_slurp(f);
    static const char *bad[] = { "../shared", "/work/", "/tmp/", "/home/", "/root/" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
      const char *at = strstr(text, bad[i]);
      ck_assert_msg(!at, "%s names '%s': ...%.60s", f, bad[i], at ? at : "");
    }
    free(text);
  }
  ck_assert_int_ge(files, 5);
  free(list);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("cli");
  TCase *t = tcase_create("cli");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, flags_that_do_not_apply_are_refused);
  tcase_add_test(t, train_then_eval);
  tcase_add_test(t, stdout_is_data_only);
  tcase_add_test(t, output_paths_checked_first);
  tcase_add_test(t, diverging_run_fails);
  tcase_add_test(t, eval_any_file);
  tcase_add_test(t, make_help_and_demo_as_the_readme_says);
  tcase_add_test(t, docs_name_no_outside_paths);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
