/*
** test_page.c — the --html page in a real browser: Debian's headless
** Chromium (make deps installs it), run as root with --no-sandbox.
**
** One browser session (tests/page_keys.py, which talks the DevTools protocol
** over a pipe) serves every test, so Chromium starts once: before the tests
** run (an unchecked fixture), it opens Problem 1's page past its last step,
** takes a screenshot, follows the URL fragment to step 1 and step 12,
** presses real arrow keys, then opens lm.g's page at toy size and presses
** more.  After every step it records the page's state and its DOM (after
** the page's script ran); each test checks its part of that record:
** - Problem 1 at the end: the box of x shows dz5/dx = 1/12 and the shown
**   equation is that gradient's line; at step 1 neither is there;
** - the screenshot is a PNG of the window's size;
** - the arrow keys move the highlight from one node to the next and back,
**   and the URL fragment follows;
** - lm.g's page steps through its --trace's lines the same way.
*/
#include "testutil.h"
#include <sys/stat.h>

static char dir[64], page[128], lm_page[128], shot[128];
static char *trace;          /* lm.g's --trace, the lines its page steps through */
static char *session;        /* page_keys.py's output: a state line, then a DOM line, per step */
static int session_ok, lm_before;

/* What `cmd` writes (page_keys.py writes only its failure on stderr); *ok: it exited 0. */
static char *sh_out(const char *cmd, int *ok) {
  char *full = malloc(strlen(cmd) + 32);
  sprintf(full, "%s 2>&1", cmd);
  FILE *p = popen(full, "r");
  size_t n = 0, cap = 1 << 16;
  char *s = malloc(cap);
  for (size_t k; p && (k = fread(s + n, 1, cap - n - 1, p)) > 0;)
    if ((n += k) + 1 >= cap) s = realloc(s, cap *= 2);
  s[n] = 0;
  int st = p ? pclose(p) : -1;
  *ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  free(full);
  return s;
}

/* The steps of lm.g's trace (all lines but blank ones and section titles):
** how many, and which one is the dropout's first line. */
static int lm_steps(int *dropout, const char **last) {
  char *t = strdup(trace);
  int n = 0;
  *dropout = 0;
  for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
    if (!strncmp(line, "== ", 3)) continue;
    n++;
    if (!*dropout && !strncmp(line, "  e = dropout(", 14)) *dropout = n;
    while (*line == ' ') line++;
    if (last) *last = trace + (line - t);
  }
  free(t);
  return n;
}

/* The session's steps, in order (page_keys.py's arguments after the URL). */
#define P1_STEPS "'#step=1' '#step=12' ArrowRight ArrowLeft End Home"
enum { AT_END, AT_1, AT_12, RIGHT, LEFT, END, HOME, LM_OPEN, LM_RIGHT, LM_END };

static void browse(void) {
  tu_mkdtemp(dir, "page");
  snprintf(page, sizeof page, "%s/problem1.html", dir);
  snprintf(lm_page, sizeof lm_page, "%s/lm.html", dir);
  snprintf(shot, sizeof shot, "%s/shot.png", dir);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "models/problem1.g --html %s", page);
  TuRun r = tu_run(cmd), t;
  snprintf(cmd, sizeof cmd, "models/lm.g --set d=4 --batch 2 --bptt 3 --html %s --trace", lm_page);
  t = tu_run(cmd);
  trace = t.out;
  t.out = strdup("");
  if (r.status || t.status) {
    session = strdup(r.status ? r.err : t.err);
    tu_free(&r); tu_free(&t);
    return;
  }
  tu_free(&r); tu_free(&t);
  lm_steps(&lm_before, NULL);
  lm_before--;                       /* opened at the step before the dropout's first line */
  snprintf(cmd, sizeof cmd, "timeout 120 python3 tests/page_keys.py --dom --shot %s 'file://%s#step=999' " P1_STEPS
           " 'file://%s#step=%d' ArrowRight End", shot, page, lm_page, lm_before);
  session = sh_out(cmd, &session_ok);
}
static void cleanup(void) {
  tu_rmdir(dir);
  free(session);
  free(trace);
}

/* State line k of the session (which = 0) or its DOM (which = 1), a copy. */
static char *at(int k, int which) {
  ck_assert_msg(session_ok, "the browser session failed:\n%s", session);
  const char *p = session;
  for (int i = 0; i < 2 * k + which; i++) {
    p = strchr(p, '\n');
    ck_assert_msg(p != NULL, "the session ended before state %d:\n%.2000s", k, session);
    p++;
  }
  const char *q = strchr(p, '\n');
  return strndup(p, q ? (size_t)(q - p) : strlen(p));
}

/* The element that starts with `open` up to the first `close` after it. */
static char *element(const char *dom, const char *open, const char *close) {
  const char *p = strstr(dom, open);
  ck_assert_msg(p != NULL, "no %s in the DOM", open);
  const char *q = strstr(p, close);
  ck_assert_ptr_nonnull(q);
  return strndup(p, (size_t)(q - p) + strlen(close));
}

#define DZDX_LINE "dz5/dx = dz5/dz1 * w1 = 0.333333 * 0.25 = 0.0833333  (= 1/12)"

START_TEST(first_and_last_step) {
  char *dom = at(AT_1, 1), *x = element(dom, "<g id=\"n0\" class=\"node", "</g>");
  char *eq = element(dom, "<div id=\"eq\">", "</div>"), *counter = element(dom, "<span id=\"counter\">", "</span>");
  ck_assert_str_eq(eq, "<div id=\"eq\">input    x  = 1</div>");
  ck_assert_str_eq(counter, "<span id=\"counter\">step 1 of 20</span>");
  ck_assert_msg(strstr(x, ">1</text>") && !strstr(x, "grad") && !strstr(x, "1/12"), "x at step 1: %s", x);
  ck_assert_msg(strstr(dom, "<div hidden=\"\">" DZDX_LINE "</div>"), "the line of dz5/dx is hidden at step 1");
  ck_assert_msg(strstr(dom, "<g id=\"n0\" class=\"node cur\">"), "x is the current node at step 1");
  free(dom); free(x); free(eq); free(counter);

  dom = at(AT_END, 1);               /* opened past the end: the final state */
  x = element(dom, "<g id=\"n0\" class=\"node", "</g>");
  eq = element(dom, "<div id=\"eq\">", "</div>");
  counter = element(dom, "<span id=\"counter\">", "</span>");
  ck_assert_str_eq(eq, "<div id=\"eq\">" DZDX_LINE "</div>");
  ck_assert_str_eq(counter, "<span id=\"counter\">step 20 of 20</span>");
  ck_assert_msg(strstr(x, ">grad 0.0833333 = 1/12</text>"), "x at the end: %s", x);
  ck_assert_msg(strstr(dom, "<div class=\"cur\">" DZDX_LINE "</div>"), "the line of dz5/dx is current at the end");
  free(dom); free(x); free(eq); free(counter);
}
END_TEST

START_TEST(screenshot) {
  free(at(AT_END, 0));               /* the session ran */
  unsigned w = 0, h = 0;
  struct stat st;
  ck_assert_msg(tu_png_size(shot, &w, &h) && w == 1280 && h == 720, "screenshot %s: %u x %u", shot, w, h);
  ck_assert_msg(stat(shot, &st) == 0 && st.st_size > 20000, "screenshot: %ld bytes, an empty page?", (long)st.st_size);
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
  char *line[5];
  for (int i = 0; i < 5; i++) line[i] = at(AT_12 + i, 0);
  /* step 12 is dz5/db2 (box n4); step 13 dz5/dz4: its circle o8 and box n8 */
  ck_assert_msg(current(line[0], "n4") && !current(line[0], "n8") && strstr(line[0], "\"hash\":\"#step=12\""), "%s", line[0]);
  ck_assert_msg(current(line[1], "n8") && current(line[1], "o8") && !current(line[1], "n4") &&
                strstr(line[1], "\"hash\":\"#step=13\"") && strstr(line[1], "\"eq\":\"dz5/dz4 = dz5/dz5 * 1 = 1 * 1 = 1\""), "%s", line[1]);
  ck_assert_msg(current(line[2], "n4") && strstr(line[2], "\"hash\":\"#step=12\""), "%s", line[2]);
  ck_assert_msg(current(line[3], "n0") && strstr(line[3], "\"hash\":\"#step=20\""), "%s", line[3]);
  ck_assert_msg(strstr(line[4], "\"cur\":[]") && strstr(line[4], "\"hash\":\"#step=0\""), "%s", line[4]);
  for (int i = 0; i < 5; i++) free(line[i]);
}
END_TEST

/* lm.g at toy size: opened at the step before the dropout's first line,
** → moves the highlight from the embedding (circle o10) to the dropout
** (o12 and its box e, n12) under the forward section's heading; End shows
** the trace's last line. */
START_TEST(sequence_model) {
  char *line[3], want[512];
  for (int i = 0; i < 3; i++) line[i] = at(LM_OPEN + i, 0);
  int k, n = lm_steps(&k, NULL);
  const char *last = NULL;
  lm_steps(&k, &last);
  ck_assert_msg(k > 1 && n > 200 && k == lm_before + 1, "k %d n %d", k, n);
  ck_assert_msg(current(line[0], "o10") && !current(line[0], "o12"), "%s", line[0]);
  snprintf(want, sizeof want, "\"hash\":\"#step=%d\"", k);
  ck_assert_msg(current(line[1], "o12") && current(line[1], "n12") && !current(line[1], "o10") && strstr(line[1], want) &&
                strstr(line[1], "\"eq\":\"e = dropout(tmp10, 0.2): each number kept") &&
                strstr(line[1], "\"phase\":\"Forward, node by node  [question 2:"), "%s", line[1]);
  snprintf(want, sizeof want, "\"eq\":\"%.*s\"", (int)strcspn(last, "\n"), last);
  ck_assert_msg(strstr(line[2], want), "the last step: %s\nwant %s", line[2], want);
  snprintf(want, sizeof want, "\"counter\":\"step %d of %d\"}", n, n);
  ck_assert_msg(strstr(line[2], want), "%s", line[2]);
  for (int i = 0; i < 3; i++) free(line[i]);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("page");
  TCase *t = tcase_create("chromium");
  tcase_set_timeout(t, 300);
  tcase_add_unchecked_fixture(t, browse, cleanup);
  tcase_add_test(t, first_and_last_step);
  tcase_add_test(t, screenshot);
  tcase_add_test(t, arrow_keys);
  tcase_add_test(t, sequence_model);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
