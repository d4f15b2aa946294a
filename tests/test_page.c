/*
** test_page.c — the --html page in a real browser: Debian's headless
** Chromium (make deps installs it), run as root with --no-sandbox.
**
** Problem 1's page is loaded at #step=1 and past its last step, and the DOM
** Chromium dumps after the page's script ran is checked: at the end the
** box of x shows dz5/dx = 1/12 and the shown equation is that gradient's
** line; at step 1 neither is there.  A screenshot is taken and checked as a
** PNG of the window's size.  Real arrow-key presses (the DevTools protocol
** over a pipe, tests/page_keys.py) move the highlight from one node to the
** next and back, and the URL fragment follows.  The page of a sequence
** model at toy size (lm.g) steps through its --trace's lines the same way.
*/
#include "testutil.h"
#include <sys/stat.h>

static char dir[64], page[128], url[192];

/* Everything a shell command writes on stdout (stderr dropped). */
static char *sh_out(const char *cmd) {
  char *full = malloc(strlen(cmd) + 32);
  sprintf(full, "%s 2>/dev/null", cmd);
  FILE *p = popen(full, "r");
  ck_assert_ptr_nonnull(p);
  size_t n = 0, cap = 1 << 16;
  char *s = malloc(cap);
  for (size_t k; (k = fread(s + n, 1, cap - n - 1, p)) > 0;)
    if ((n += k) + 1 >= cap) s = realloc(s, cap *= 2);
  s[n] = 0;
  int st = pclose(p);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: exit %d\n%s", cmd, WEXITSTATUS(st), s);
  free(full);
  return s;
}

#define CHROMIUM "timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=%s/profile"

/* The page's DOM after its script ran, opened at fragment frag. */
static char *dom_at(const char *frag) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, CHROMIUM " --dump-dom '%s%s'", dir, url, frag);
  return sh_out(cmd);
}

/* The element that starts with `open` up to the first `close` after it. */
static char *element(const char *dom, const char *open, const char *close) {
  const char *p = strstr(dom, open);
  ck_assert_msg(p != NULL, "no %s in the DOM", open);
  const char *q = strstr(p, close);
  ck_assert_ptr_nonnull(q);
  return strndup(p, (size_t)(q - p) + strlen(close));
}

static void setup(void) {
  tu_mkdtemp(dir, "page");
  snprintf(page, sizeof page, "%s/problem1.html", dir);
  snprintf(url, sizeof url, "file://%s", page);
  char args[256];
  snprintf(args, sizeof args, "models/problem1.g --html %s", page);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s", r.err);
  tu_free(&r);
}
static void teardown(void) { tu_rmdir(dir); }

#define DZDX_LINE "dz5/dx = dz5/dz1 * w1 = 0.333333 * 0.25 = 0.0833333  (= 1/12)"

START_TEST(first_and_last_step) {
  setup();
  char *dom = dom_at("#step=1"), *x = element(dom, "<g id=\"n0\" class=\"node", "</g>");
  char *eq = element(dom, "<div id=\"eq\">", "</div>"), *counter = element(dom, "<span id=\"counter\">", "</span>");
  ck_assert_str_eq(eq, "<div id=\"eq\">input    x  = 1</div>");
  ck_assert_str_eq(counter, "<span id=\"counter\">step 1 of 20</span>");
  ck_assert_msg(strstr(x, ">1</text>") && !strstr(x, "grad") && !strstr(x, "1/12"), "x at step 1: %s", x);
  ck_assert_msg(strstr(dom, "<div hidden=\"\">" DZDX_LINE "</div>"), "the line of dz5/dx is hidden at step 1");
  ck_assert_msg(strstr(dom, "<g id=\"n0\" class=\"node cur\">"), "x is the current node at step 1");
  free(dom); free(x); free(eq); free(counter);

  dom = dom_at("#step=999");                   /* past the end: the final state */
  x = element(dom, "<g id=\"n0\" class=\"node", "</g>");
  eq = element(dom, "<div id=\"eq\">", "</div>");
  counter = element(dom, "<span id=\"counter\">", "</span>");
  ck_assert_str_eq(eq, "<div id=\"eq\">" DZDX_LINE "</div>");
  ck_assert_str_eq(counter, "<span id=\"counter\">step 20 of 20</span>");
  ck_assert_msg(strstr(x, ">grad 0.0833333 = 1/12</text>"), "x at the end: %s", x);
  ck_assert_msg(strstr(dom, "<div class=\"cur\">" DZDX_LINE "</div>"), "the line of dz5/dx is current at the end");
  free(dom); free(x); free(eq); free(counter);
  teardown();
}
END_TEST

START_TEST(screenshot) {
  setup();
  char cmd[1024], png[128];
  snprintf(png, sizeof png, "%s/shot.png", dir);
  snprintf(cmd, sizeof cmd, CHROMIUM " --window-size=1280,720 --screenshot=%s '%s#step=13' >/dev/null", dir, png, url);
  free(sh_out(cmd));
  unsigned w = 0, h = 0;
  struct stat st;
  ck_assert_msg(tu_png_size(png, &w, &h) && w == 1280 && h == 720, "screenshot %s: %u x %u", png, w, h);
  ck_assert_msg(stat(png, &st) == 0 && st.st_size > 20000, "screenshot: %ld bytes, an empty page?", (long)st.st_size);
  teardown();
}
END_TEST

/* Does the JSON state line hold "id" in its "cur" list? */
static int current(const char *line, const char *id) {
  char q[32];
  const char *end = strstr(line, "]");
  snprintf(q, sizeof q, "\"%s\"", id);
  const char *p = strstr(line, q);
  return p && end && p < end;
}

START_TEST(arrow_keys) {
  setup();
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "python3 tests/page_keys.py '%s#step=12' ArrowRight ArrowLeft End Home", url);
  char *out = sh_out(cmd), *line[5];
  line[0] = strtok(out, "\n");
  for (int i = 1; i < 5; i++) line[i] = strtok(NULL, "\n");
  for (int i = 0; i < 5; i++) ck_assert_msg(line[i] != NULL, "%d state lines:\n%s", i, out);
  /* step 12 is dz5/db2 (box n4); step 13 dz5/dz4: its circle o8 and box n8 */
  ck_assert_msg(current(line[0], "n4") && !current(line[0], "n8") && strstr(line[0], "\"hash\":\"#step=12\""), "%s", line[0]);
  ck_assert_msg(current(line[1], "n8") && current(line[1], "o8") && !current(line[1], "n4") &&
                strstr(line[1], "\"hash\":\"#step=13\"") && strstr(line[1], "\"eq\":\"dz5/dz4 = dz5/dz5 * 1 = 1 * 1 = 1\""), "%s", line[1]);
  ck_assert_msg(current(line[2], "n4") && strstr(line[2], "\"hash\":\"#step=12\""), "%s", line[2]);
  ck_assert_msg(current(line[3], "n0") && strstr(line[3], "\"hash\":\"#step=20\""), "%s", line[3]);
  ck_assert_msg(strstr(line[4], "\"cur\":[]") && strstr(line[4], "\"hash\":\"#step=0\""), "%s", line[4]);
  free(out);
  teardown();
}
END_TEST

/* lm.g at toy size: opened at the step before the dropout's first line,
** → moves the highlight from the embedding (circle o10) to the dropout
** (o12 and its box e, n12) under the forward section's heading; End shows
** the trace's last line. */
START_TEST(sequence_model) {
  tu_mkdtemp(dir, "page");
  snprintf(page, sizeof page, "%s/lm.html", dir);
  snprintf(url, sizeof url, "file://%s", page);
  char cmd[1024], want[512];
  snprintf(cmd, sizeof cmd, "models/lm.g --set d=4 --batch 2 --bptt 3 --html %s --trace", page);
  TuRun r = tu_run(cmd);
  ck_assert_msg(r.status == 0, "%s", r.err);
  int n = 0, k = 0;                  /* the steps: the trace's lines but blank ones and titles */
  const char *last = "";
  for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
    if (!strncmp(line, "== ", 3)) continue;
    n++;
    if (!k && !strncmp(line, "  e = dropout(", 14)) k = n;
    while (*line == ' ') line++;
    last = line;
  }
  ck_assert_msg(k > 1 && n > 200, "k %d n %d", k, n);
  snprintf(cmd, sizeof cmd, "python3 tests/page_keys.py '%s#step=%d' ArrowRight End", url, k - 1);
  char *out = sh_out(cmd), *line[3];
  line[0] = strtok(out, "\n");
  for (int i = 1; i < 3; i++) line[i] = strtok(NULL, "\n");
  for (int i = 0; i < 3; i++) ck_assert_msg(line[i] != NULL, "%d state lines:\n%s", i, out);
  ck_assert_msg(current(line[0], "o10") && !current(line[0], "o12"), "%s", line[0]);
  snprintf(want, sizeof want, "\"hash\":\"#step=%d\"", k);
  ck_assert_msg(current(line[1], "o12") && current(line[1], "n12") && !current(line[1], "o10") && strstr(line[1], want) &&
                strstr(line[1], "\"eq\":\"e = dropout(tmp10, 0.2): each number kept") &&
                strstr(line[1], "\"phase\":\"== Forward, node by node  [question 2:"), "%s", line[1]);
  snprintf(want, sizeof want, "\"eq\":\"%s\"", last);
  ck_assert_msg(strstr(line[2], want), "the last step: %s\nwant %s", line[2], want);
  snprintf(want, sizeof want, "\"counter\":\"step %d of %d\"}", n, n);
  ck_assert_msg(strstr(line[2], want), "%s", line[2]);
  free(out);
  tu_free(&r);
  teardown();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("page");
  TCase *t = tcase_create("chromium");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, first_and_last_step);
  tcase_add_test(t, screenshot);
  tcase_add_test(t, arrow_keys);
  tcase_add_test(t, sequence_model);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
