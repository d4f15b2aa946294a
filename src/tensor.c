/*
** tensor.c — shapes, printing, and the bump arena activations live in.
*/
#include "tensor.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

void arena_init(Arena *a, size_t cap) {
  a->base = cap ? xmalloc(cap + 64) : NULL;   /* + 64: the first block is aligned up from base */
  a->cap = cap; a->used = 0; a->peak = 0; a->spills = NULL;
}

/* 64-byte aligned bump allocation.  When the arena is too small it grows,
** but only while empty (right after a reset): pointers handed out earlier in
** a pass must stay valid.  A non-empty arena that overflows gets a fresh,
** larger block next pass; this pass's overflow comes from the arena's own
** overflow list (own: arenas of other threads reset at other times). */
typedef struct Spill { struct Spill *next; } Spill;
static void free_spills(Arena *a) {
  while (a->spills) { Spill *s = a->spills; a->spills = s->next; free(s); }
}

void *arena_alloc(Arena *a, size_t bytes) {
  size_t need = (bytes + 63) & ~(size_t)63;
  if (a->used + need > a->cap) {
    if (a->used == 0) {
      free(a->base);
      a->cap = need * 2 > (1u << 20) ? need * 2 : (1u << 20);
      a->base = xmalloc(a->cap + 64);
    } else {
      /* remember the demand so the next reset makes the block big enough */
      a->peak = a->peak > a->used + need ? a->peak : a->used + need;
      a->used += need;
      Spill *s = xmalloc(sizeof(Spill) + need + 64);
      s->next = a->spills; a->spills = s;
      char *p = (char *)(s + 1);
      p += (64 - ((uintptr_t)p & 63)) & 63;
      return p;
    }
  }
  char *p = a->base + a->used;
  p += (64 - ((uintptr_t)p & 63)) & 63;
  a->used += need;
  if (a->used > a->peak) a->peak = a->used;
  return p;
}

void fill_rows(float *dst, long rows, const float *row, int m) {
  for (long r = 0; r < rows; r++) memcpy(dst + r * m, row, sizeof(float) * (size_t)m);
}
#define TT 32
void transpose_to(int r, int c, const float *src, float *dst, int add) {
  for (int i0 = 0; i0 < r; i0 += TT)
    for (int j0 = 0; j0 < c; j0 += TT) {
      int i1 = i0 + TT < r ? i0 + TT : r, j1 = j0 + TT < c ? j0 + TT : c;
      if (add)
        for (int j = j0; j < j1; j++)
          for (int i = i0; i < i1; i++) dst[(size_t)j * r + i] += src[(size_t)i * c + j];
      else
        for (int j = j0; j < j1; j++)
          for (int i = i0; i < i1; i++) dst[(size_t)j * r + i] = 0.f + src[(size_t)i * c + j];   /* 0 + x: -0 becomes +0, as before */
    }
}
float *arena_floats(Arena *a, long n) { return arena_alloc(a, sizeof(float) * (size_t)(n > 0 ? n : 1)); }
void arena_reset(Arena *a) {
  free_spills(a);
  if (a->peak > a->cap) {            /* grow once to the demand seen */
    free(a->base);
    a->cap = a->peak + a->peak / 4;
    a->base = xmalloc(a->cap + 64);
  }
  a->used = 0;
}

void arena_free(Arena *a) {
  free_spills(a);
  free(a->base);
  a->base = NULL; a->cap = a->used = a->peak = 0;
}

int tensor_shape(Tensor *t, int rank, const int *shape) {
  long n = 1;
  if (rank < 0 || rank > GR_MAXDIM) return -1;
  t->rank = rank;
  for (int i = 0; i < GR_MAXDIM; i++) t->shape[i] = i < rank ? shape[i] : 0;
  for (int i = 0; i < rank; i++) {
    if (shape[i] < 0) return -1;
    if (shape[i] && n > GR_MAXELEMS / shape[i]) return -1;
    n *= shape[i];
  }
  t->n = n;
  return 0;
}

void tensor_gather_rows(float *x, int nslice, int rows, int width, const int *from) {
  float *tmp = xmalloc(sizeof(float) * (size_t)rows * width);
  for (int l = 0; l < nslice; l++) {
    float *s = x + (size_t)l * rows * width;
    for (int i = 0; i < rows; i++) memcpy(tmp + (size_t)i * width, s + (size_t)from[i] * width, sizeof(float) * width);
    memcpy(s, tmp, sizeof(float) * (size_t)rows * width);
  }
  free(tmp);
}

int tensor_same_shape(const Tensor *a, const Tensor *b) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++) if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

char *shape_str(const Tensor *t, char *buf, size_t n) {
  if (t->rank == 0) { snprintf(buf, n, "scalar"); return buf; }
  size_t k = 0;
  k += snprintf(buf + k, n - k, "[");
  for (int i = 0; i < t->rank && k < n; i++)
    k += snprintf(buf + k, n - k, i ? ",%d" : "%d", t->shape[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
  return buf;
}

/* Writes the nested-list form into a growing string. */
typedef struct Sb { char *s; size_t n, cap, limit; double noise; } Sb;
static void sb_put(Sb *b, const char *s) {
  size_t k = strlen(s);
  if (b->limit && b->n + k > b->limit) return;
  if (b->n + k + 1 > b->cap) { b->cap = (b->n + k + 1) * 2; b->s = xrealloc(b->s, b->cap); }
  memcpy(b->s + b->n, s, k + 1); b->n += k;
}
static void put_rec(Sb *b, const Tensor *t, int d, long off, long stride) {
  char num[32];
  if (d == t->rank) { float v = t->data[off]; fmt_num(num, sizeof num, fabsf(v) <= b->noise ? 0 : v); sb_put(b, num); return; }
  long inner = stride / t->shape[d];
  sb_put(b, "[");
  for (int i = 0; i < t->shape[d]; i++) {
    if (i) sb_put(b, ", ");
    put_rec(b, t, d + 1, off + i * inner, inner);
  }
  sb_put(b, "]");
}
static char *tensor_render(const Tensor *t, size_t limit, double noise) {
  Sb b = {0}; b.limit = limit; b.noise = noise;
  sb_put(&b, "");
  if (!t->data) sb_put(&b, "(no value)");
  else if (t->rank == 0) put_rec(&b, t, 0, 0, 1);
  else if (t->n == 0) sb_put(&b, "[]");
  else put_rec(&b, t, 0, 0, t->n);
  return b.s;
}
void tensor_fprint(const Tensor *t, void *fp) {
  char *s = tensor_render(t, 0, 0);
  fputs(s, (FILE *)fp);
  free(s);
}
char *tensor_str(const Tensor *t, char *buf, size_t n) { return tensor_str_noise(t, buf, n, 0); }
char *tensor_str_noise(const Tensor *t, char *buf, size_t n, double noise) {
  char *s = tensor_render(t, n + 8, noise);
  if (strlen(s) >= n) { snprintf(buf, n, "%.*s...", (int)(n > 4 ? n - 4 : 0), s); }
  else snprintf(buf, n, "%s", s);
  free(s);
  return buf;
}
