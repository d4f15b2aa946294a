/*
** model.c — a model's life: parse and build a file (build.c), draw its
** random initial values, override one value (--set), free it.
*/
#include "model.h"
#include "build.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Draws the random initial values of params declared with `~`. */
static void init_random(Graph *g, unsigned long seed) {
  Rng r; rng_seed(&r, seed);
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind == N_OP || !n->iattr[0]) continue;
    for (long j = 0; j < n->val.n; j++)
      n->val.data[j] = n->iattr[0] == 1 ? n->fattr[0] + (n->fattr[1] - n->fattr[0]) * rng_uniform(&r)
                     : n->iattr[0] == 3 ? 2 * n->fattr[0] + (n->fattr[1] - n->fattr[0]) * (rng_uniform(&r) + rng_uniform(&r))
                                        : n->fattr[0] + n->fattr[1] * rng_normal(&r);
    if (n->iattr[1] && n->val.rank == 2) {         /* an embedding's padding row stays zero */
      int d = n->val.shape[1];
      memset(n->val.data + (long)(n->iattr[1] - 1) * d, 0, sizeof(float) * d);
    }
    memcpy(n->init.data, n->val.data, sizeof(float) * n->val.n);
  }
}

void model_reinit(Model *m, unsigned long seed) { m->seed = seed; init_random(m->g, seed); }

/* Builds the model of a parsed file (ast is freed). */
static Model *model_build(const char *path, Ast *ast, Err *e) {
  Model *m = xcalloc(1, sizeof *m);
  m->path = xstrdup(path);
  m->seed = 1111;
  m->g = graph_new(m->path);
  int rc = build_model(m, ast, e);
  ast_free(ast);                       /* the graph, blocks and settings hold all it said */
  if (rc) { model_free(m); return NULL; }
  m->seed = m->seed ? m->seed : 1111;
  if (m->g->n == 0) { err_at(e, (Loc){ m->path, 0, 0 }, "the model defines nothing (expected statements such as 'input x = 1')"); model_free(m); return NULL; }
  init_random(m->g, m->seed);
  return m;
}

Model *model_parse(const char *path, const char *src, size_t len, Err *e) {
  Ast *ast = parse_model(path, src, len, e);
  return ast ? model_build(path, ast, e) : NULL;
}

Model *model_load(const char *path, Err *e) { return model_load_set(path, NULL, 0, e); }

void model_free(Model *m) {
  if (!m) return;
  if (m->data) {
    corpus_sents_free(&m->data->train); corpus_sents_free(&m->data->valid);
    corpus_sents_free(&m->data->src_train); corpus_sents_free(&m->data->src_valid);
    corpus_vocab_free(&m->data->vocab);
    free(m->data);
  }
  for (int i = 0; i < m->nblocks; i++) { free(m->blocks[i].name); free(m->blocks[i].params); }
  free(m->blocks);
  graph_free(m->g);
  free(m->path);
  free(m);
}

void model_feed(ModelData *d, int which, int rank, int d0, int d1, const int32_t *ids) {
  Node *n = d->tok[which];
  long k = rank == 1 ? d0 : (long)d0 * d1;
  if (k > d->cap[which]) {           /* the first piece replaces the declared [1,1] */
    free(n->val.data);
    n->val.data = xcalloc((size_t)k, sizeof(float));
    d->cap[which] = k;
  }
  int sh[2] = { d0, d1 };
  tensor_shape(&n->val, rank, sh);
  for (long i = 0; i < k; i++) n->val.data[i] = ids ? (float)ids[i] : 0.0f;
}

Node *model_output(const Model *m) { return m->g->nout ? m->g->outputs[0] : NULL; }

/* Text from the command line, fit for a one-line message: at most 60
** bytes, anything but printable ASCII shown as '?'. */
static const char *printable(char *buf, size_t sz, const char *s, size_t len) {
  size_t k = 0;
  for (size_t i = 0; i < len && k + 4 < sz; i++) {
    if (k == 60) { memcpy(buf + k, "...", 3); k += 3; break; }
    buf[k++] = s[i] >= 32 && s[i] < 127 ? s[i] : '?';
  }
  buf[k] = 0;
  return buf;
}

/* The NAME of "NAME=VALUE" (malloc'ed) and where VALUE starts, or NULL
** with a message naming the flag. */
static char *set_name(const char *assign, const char **value, Err *e) {
  const char *eq = strchr(assign, '=');
  char shown[80];
  if (!eq || eq == assign) {
    err_set(e, "--set %s: error: expected NAME=VALUE, e.g. --set x=2 or --set 'W=[[1,0],[0,1]]'",
            printable(shown, sizeof shown, assign, strlen(assign)));
    return NULL;
  }
  for (const char *p = assign; p < eq; p++)
    if (*p <= 32 || *p >= 127) {
      err_set(e, "--set %s: error: '%s' is not a name (no spaces or control bytes before '=')",
              printable(shown, sizeof shown, assign, eq - assign), shown);
      return NULL;
    }
  if (eq - assign > 200) { err_set(e, "--set %s: error: name longer than 200 characters", printable(shown, sizeof shown, assign, eq - assign)); return NULL; }
  *value = eq + 1;
  return strndup(assign, eq - assign);
}

/* Every location in a becomes loc: a value from the command line then
** reads, in messages, as if it were written in the file there. */
static void relocate(Ast *a, Loc loc) {
  a->loc = loc;
  for (int i = 0; i < a->nkids; i++) if (a->kids[i]) relocate(a->kids[i], loc);
}

/* --set NAME=VALUE of a top-level `const NAME = ...`: VALUE replaces the
** value in the tree, at its place.  1 if NAME is such a const, 0 if not,
** -1 with a message. */
static int set_const(Ast *root, const char *assign, Err *e) {
  const char *value;
  char *name = set_name(assign, &value, e);
  if (!name) return -1;
  Ast *c = NULL;
  for (int i = 0; i < root->nkids; i++)
    if (root->kids[i]->kind == S_CONST && !strcmp(root->kids[i]->name, name)) c = root->kids[i];
  int rc = 0;
  if (c) {
    char *what = xasprintf("--set %s", name);
    Ast *v = parse_expr_string(what, value, e);
    free(what);
    rc = v ? 1 : -1;
    if (v) { relocate(v, c->kids[0]->loc); ast_free(c->kids[0]); c->kids[0] = v; }
  }
  free(name);
  return rc;
}

Model *model_load_set(const char *path, const char *const *sets, int nset, Err *e) {
  size_t len;
  char *src = read_file(path, &len, e);
  if (!src) return NULL;
  Ast *ast = parse_model(path, src, len, e);
  free(src);
  if (!ast) return NULL;
  char *is_const = xcalloc((size_t)nset + 1, 1);
  for (int i = 0; i < nset; i++) {
    int rc = set_const(ast, sets[i], e);
    if (rc < 0) { ast_free(ast); free(is_const); return NULL; }
    is_const[i] = (char)rc;
  }
  Model *m = model_build(path, ast, e);
  for (int i = 0; m && i < nset; i++) {
    if (is_const[i]) continue;
    if (m->data) {
      const char *v;
      char *name = set_name(sets[i], &v, e);
      err_set(e, "--set %s: error: '%s' is not a const of %s; on a sequence model --set changes only consts "
              "(its token inputs come from the data, its parameters from the seed)", name, name, path);
      free(name);
    }
    if (m->data || model_set(m, sets[i], e)) { model_free(m); m = NULL; }
  }
  free(is_const);
  return m;
}

int model_set(Model *m, const char *assign, Err *e) {
  const char *value;
  char *name = set_name(assign, &value, e);
  if (!name) return -1;
  char *what = xasprintf("--set %s", name);
  int rc = -1;
  Node *n = graph_find(m->g, name);
  if (!n) { err_set(e, "--set %s: error: no const, input or param named '%s' in %s", name, name, m->path); goto out; }
  if (n->kind != N_INPUT && n->kind != N_PARAM) { err_set(e, "--set %s: error: '%s' is computed, not an input or param", name, name); goto out; }
  Ast *a = parse_expr_string(what, value, e);
  if (!a) goto out;
  Tensor t;
  if (literal_tensor(a, &t, e)) { ast_free(a); goto out; }
  ast_free(a);
  if (!tensor_same_shape(&t, &n->val)) {
    char s1[64], s2[64];
    err_set(e, "--set %s: error: '%s' is %s, the value given is %s", name, name, shape_str(&n->val, s1, sizeof s1), shape_str(&t, s2, sizeof s2));
    free(t.data); goto out;
  }
  memcpy(n->val.data, t.data, sizeof(float) * t.n);
  free(t.data);
  rc = 0;
out:
  free(name); free(what);
  return rc;
}

