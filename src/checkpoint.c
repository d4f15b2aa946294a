/*
** checkpoint.c — saving and loading a model's parameters.
**
** Layout (little-endian, written and read byte by byte, so a file moves
** between machines of either byte order):
**   "GRCKPT" 0x00 VERSION             8 bytes
**   u32 count                          parameters
**   count x { u32 namelen, name, u32 rank, u32 shape[rank], f32 data[n] }
**   u32 has_state, then if 1: i32 epoch, i32 since_best, f64 lr, f64 best,
**       u64 rng[2]                     (the trainer's TrainState)
**   u32 has_adam, then if 1: i64 steps, and for each parameter in the
**       order above f32 m[n], f32 v[n] (Adam's moments; version 2 on)
**   u64 FNV-1a of every byte before it
** Version 1 files (no Adam section) still load.
** Loading checks magic, version, size, checksum, and that the names and
** shapes are exactly the model's; it changes nothing unless all is well.
** Saving goes through write_file_atomic: the old file survives any failure.
*/
#include "checkpoint.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_VERSION 2
static const char magic[7] = "GRCKPT";

typedef struct Buf { unsigned char *p; size_t n, cap; } Buf;
static void put(Buf *b, const void *x, size_t k) {
  if (b->n + k > b->cap) { b->cap = (b->n + k) * 2; b->p = xrealloc(b->p, b->cap); }
  memcpy(b->p + b->n, x, k); b->n += k;
}
static void put32(Buf *b, uint32_t v) {
  unsigned char x[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24) };
  put(b, x, 4);
}
static void put64(Buf *b, uint64_t v) { put32(b, (uint32_t)v); put32(b, (uint32_t)(v >> 32)); }
static void putf64(Buf *b, double d) { uint64_t u; memcpy(&u, &d, 8); put64(b, u); }
static uint32_t le32(const unsigned char *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

int ckpt_save(const Model *m, const char *path, const TrainState *st, Err *e) {
  Buf b = {0};
  put(&b, magic, 7);
  unsigned char v = CKPT_VERSION; put(&b, &v, 1);
  uint32_t count = 0;
  for (int i = 0; i < m->g->n; i++) count += m->g->nodes[i]->kind == N_PARAM;
  put32(&b, count);
  for (int i = 0; i < m->g->n; i++) {
    const Node *n = m->g->nodes[i];
    if (n->kind != N_PARAM) continue;
    put32(&b, (uint32_t)strlen(n->name)); put(&b, n->name, strlen(n->name));
    put32(&b, (uint32_t)n->val.rank);
    for (int d = 0; d < n->val.rank; d++) put32(&b, (uint32_t)n->val.shape[d]);
    for (long j = 0; j < n->val.n; j++) { uint32_t u; memcpy(&u, &n->val.data[j], 4); put32(&b, u); }
  }
  put32(&b, st ? 1 : 0);
  if (st) {
    put32(&b, (uint32_t)st->epoch); put32(&b, (uint32_t)st->since_best);
    putf64(&b, st->lr); putf64(&b, st->best); put64(&b, st->rng[0]); put64(&b, st->rng[1]);
  }
  const Adam *ad = st ? st->adam : NULL;
  put32(&b, ad ? 1 : 0);
  if (ad) {
    put64(&b, (uint64_t)ad->t);
    for (int i = 0; i < ad->np; i++)
      for (int w = 0; w < 2; w++) {
        const float *x = w ? ad->v[i] : ad->m[i];
        for (long j = 0; j < ad->p[i]->val.n; j++) { uint32_t u; memcpy(&u, &x[j], 4); put32(&b, u); }
      }
  }
  put64(&b, fnv1a(FNV_INIT, b.p, b.n));
  int rc = write_file_atomic(path, b.p, b.n, e);
  free(b.p);
  return rc;
}

typedef struct Rd { const unsigned char *p; size_t n, at; } Rd;
static int get(Rd *r, void *x, size_t k) {
  if (r->at + k > r->n) return -1;
  memcpy(x, r->p + r->at, k); r->at += k;
  return 0;
}
static int get32(Rd *r, uint32_t *v) {
  if (r->at + 4 > r->n) return -1;
  *v = le32(r->p + r->at); r->at += 4;
  return 0;
}
static int get64(Rd *r, uint64_t *v) {
  if (r->at + 8 > r->n) return -1;
  *v = le64(r->p + r->at); r->at += 8;
  return 0;
}
static int getf64(Rd *r, double *d) { uint64_t u; if (get64(r, &u)) return -1; memcpy(d, &u, 8); return 0; }

int ckpt_load(Model *m, const char *path, TrainState *st, Err *e) {
  size_t len;
  unsigned char *data = (unsigned char *)read_file(path, &len, e);
  if (!data) return -1;
  int rc = -1;
  char *found = NULL;          /* found[id]: the model's param id is in the file */
  Node **order = NULL;         /* the file's parameters, in its order */
  Rd r = { data, len >= 8 ? len - 8 : 0, 0 };
  if (len < 20 || memcmp(data, magic, 7)) { err_set(e, "%s: error: not a graphrun checkpoint", path); goto out; }
  if (data[7] < 1 || data[7] > CKPT_VERSION) { err_set(e, "%s: error: checkpoint format version %d, this graphrun reads versions 1 to %d", path, data[7], CKPT_VERSION); goto out; }
  if (fnv1a(FNV_INIT, data, len - 8) != le64(data + len - 8)) { err_set(e, "%s: error: checksum mismatch: the file is truncated or corrupted", path); goto out; }
  r.at = 8;
  uint32_t count, seen = 0, nparams = 0;
  found = xcalloc(m->g->n ? m->g->n : 1, 1);
  for (int i = 0; i < m->g->n; i++) nparams += m->g->nodes[i]->kind == N_PARAM;
  if (get32(&r, &count)) goto trunc;
  order = xcalloc(nparams + 1, sizeof *order);   /* a k-th distinct parameter has k < nparams */
  /* two passes: check everything, then copy, so a bad file changes nothing */
  for (int pass = 0; pass < 2; pass++) {
    r.at = 12;
    for (uint32_t k = 0; k < count; k++) {
      uint32_t nl, rank, sh[GR_MAXDIM];
      char name[512];
      if (get32(&r, &nl) || nl >= sizeof name || get(&r, name, nl)) goto trunc;
      name[nl] = 0;
      for (uint32_t i = 0; i < nl; i++)
        if ((unsigned char)name[i] <= 32 || (unsigned char)name[i] >= 127) {
          err_set(e, "%s: error: corrupted checkpoint: parameter %u's name has byte 0x%02x", path, k + 1, (unsigned char)name[i]);
          goto out;
        }
      if (get32(&r, &rank) || rank > GR_MAXDIM) goto trunc;
      for (uint32_t d = 0; d < rank; d++) if (get32(&r, &sh[d])) goto trunc;
      Node *n = graph_find(m->g, name);
      if (!n || n->kind != N_PARAM) { err_set(e, "%s: error: parameter '%s' is not in %s (a checkpoint of another model?)", path, name, m->path); goto out; }
      Tensor t; int ish[GR_MAXDIM];
      for (uint32_t d = 0; d < rank; d++) ish[d] = (int)sh[d];
      if (tensor_shape(&t, (int)rank, ish) || !tensor_same_shape(&t, &n->val)) {
        char a[64], b2[64];
        err_set(e, "%s: error: parameter '%s' is %s in the checkpoint but %s in %s", path, name,
                shape_str(&t, a, sizeof a), shape_str(&n->val, b2, sizeof b2), m->path);
        goto out;
      }
      if (r.at + sizeof(float) * t.n > r.n) goto trunc;
      if (!pass && found[n->id]) { err_set(e, "%s: error: corrupted checkpoint: parameter '%s' is stored twice", path, name); goto out; }
      if (pass) for (long j = 0; j < t.n; j++) { uint32_t u = le32(r.p + r.at + 4 * j); memcpy(&n->val.data[j], &u, 4); }
      found[n->id] = 1;
      order[k] = n;
      r.at += sizeof(float) * t.n;
      seen++;
    }
    if (pass) break;
    if (seen != nparams) {
      const char *missing = "?";
      for (int i = 0; i < m->g->n; i++) if (m->g->nodes[i]->kind == N_PARAM && !found[m->g->nodes[i]->id]) { missing = m->g->nodes[i]->name; break; }
      err_set(e, "%s: error: has no parameter '%s' of %s (it holds %u parameters, the model has %u)", path, missing, m->path, seen, nparams);
      goto out;
    }
    /* the training state, then nothing but the checksum */
    uint32_t has;
    TrainState ts; memset(&ts, 0, sizeof ts);
    if (get32(&r, &has) || has > 1) goto trunc;
    if (has) {
      uint32_t ep, sb;
      if (get32(&r, &ep) || get32(&r, &sb) || getf64(&r, &ts.lr) || getf64(&r, &ts.best) ||
          get64(&r, &ts.rng[0]) || get64(&r, &ts.rng[1]) || (int32_t)ep < 1) goto trunc;
      ts.epoch = (int32_t)ep; ts.since_best = (int32_t)sb;
    }
    uint32_t has_adam = 0;
    int64_t steps = 0;
    size_t adam_at = 0;
    if (data[7] >= 2 && (get32(&r, &has_adam) || has_adam > 1)) goto trunc;
    if (has_adam) {
      uint64_t u;
      if (get64(&r, &u) || u > (uint64_t)INT64_MAX) goto trunc;
      steps = (int64_t)u;
      adam_at = r.at;
      for (uint32_t k = 0; k < count; k++) {
        if (r.at + 2 * sizeof(float) * order[k]->val.n > r.n) goto trunc;
        r.at += 2 * sizeof(float) * order[k]->val.n;
      }
    }
    if (r.at != r.n) goto trunc;
    if (st) {
      Adam *ad = st->adam;
      if (ad && ts.epoch && !has_adam) { err_set(e, "%s: error: holds no Adam moments (trained with sgd?), the model trains with adam", path); goto out; }
      *st = ts;
      st->adam = ad;
      if (ad && has_adam) {          /* everything is checked: take the moments */
        ad->t = (long)steps;
        const unsigned char *q = r.p + adam_at;
        for (uint32_t k = 0; k < count; k++) {
          long n = order[k]->val.n;
          for (int i = 0; i < ad->np; i++)
            if (ad->p[i] == order[k])
              for (long j = 0; j < 2 * n; j++) {
                uint32_t u = le32(q + 4 * j);
                memcpy(j < n ? &ad->m[i][j] : &ad->v[i][j - n], &u, 4);
              }
          q += 8 * n;
        }
      }
    }
  }
  rc = 0;
  goto out;
trunc:
  err_set(e, "%s: error: truncated checkpoint", path);
out:
  free(found);
  free(order);
  free(data);
  return rc;
}
