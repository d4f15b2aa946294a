/*
** render.c — drawings rendered in-process by Graphviz's library (libgvc):
** --svg and --png, and the SVG inside the --html page.  dot.c writes the
** DOT text into memory; libgvc lays it out with the dot engine and renders
** it into a buffer.  No `dot` binary runs.
**
** This is the only file that includes Graphviz's headers; the library is
** linked into the programs that use these functions only.
*/
#include "show.h"
#include <stdlib.h>
#include <string.h>
#include <graphviz/gvc.h>

static char gv_msg[256];          /* Graphviz's last error or warning line */

static int gv_error(char *msg) {
  snprintf(gv_msg, sizeof gv_msg, "%s", msg);
  size_t k = strlen(gv_msg);
  while (k && (gv_msg[k - 1] == '\n' || gv_msg[k - 1] == ' ')) gv_msg[--k] = 0;
  return 0;
}

char *dot_text(Model *m, const DotOpts *o, int have_grads) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) { perror("graphrun: open_memstream"); exit(1); }
  dot_print(f, m, o, have_grads);
  fclose(f);
  return buf;
}

/* One Graphviz context for the whole process: 2.43's pango plugin keeps a
** font cache across contexts, so a second context would read freed memory. */
static GVC_t *gvc;

int render_dot(const char *dot, const char *format, char **out, size_t *len, Err *e) {
  gv_msg[0] = 0;
  agseterrf(gv_error);
  agseterr(AGERR);                 /* warnings (e.g. a missing font) are not shown */
  if (!gvc) gvc = gvContext();
  Agraph_t *g = gvc ? agmemread(dot) : NULL;
  char *data = NULL;
  unsigned n = 0;
  int ok = g && gvLayout(gvc, g, "dot") == 0;
  if (ok) ok = gvRenderData(gvc, g, format, &data, &n) == 0 && data;
  if (ok) {
    *out = xmalloc(n + 1);
    memcpy(*out, data, n);
    (*out)[n] = 0;
    *len = n;
  }
  if (data) gvFreeRenderData(data);
  if (g) { gvFreeLayout(gvc, g); agclose(g); }
  if (!ok) return err_set(e, "graphrun: error: Graphviz could not render the drawing as %s%s%s", format,
                          gv_msg[0] ? ": " : "", gv_msg);
  return 0;
}

int render_file(Model *m, const DotOpts *o, int have_grads, const char *format, const char *path, Err *e) {
  char *dot = dot_text(m, o, have_grads), *data = NULL;
  size_t n = 0;
  int rc = render_dot(dot, format, &data, &n, e);
  if (!rc) rc = write_file_atomic(path, data, n, e);
  free(dot);
  free(data);
  return rc;
}
