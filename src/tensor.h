/*
** tensor.h — float32 tensors and the arena they live in.
**
** A Tensor is a plain struct: rank <= 4, row-major, data owned by someone
** else (an Arena, or the heap for parameters).  Shape rules work on the
** shape fields alone; kernels only touch data.
*/
#ifndef GR_TENSOR_H
#define GR_TENSOR_H
#include <stddef.h>
#include "util.h"

#define GR_MAXDIM 4
/* Largest tensor we agree to allocate (elements): beyond it, a located error. */
#define GR_MAXELEMS ((long)1 << 31)

typedef struct Tensor {
  int rank;                 /* 0 = scalar */
  int shape[GR_MAXDIM];
  long n;                   /* number of elements (1 for a scalar) */
  float *data;
} Tensor;

/* Bump allocator; reset between batches so a training loop does no malloc. */
typedef struct Arena { char *base; size_t cap, used, peak; struct Spill *spills; } Arena;   /* spills: this pass's overflow */
void  arena_init(Arena *a, size_t cap);
void *arena_alloc(Arena *a, size_t bytes);     /* 64-byte aligned; grows by realloc only when empty */
float *arena_floats(Arena *a, long n);         /* n floats (at least one) */
/* dst [rows, m] = the row repeated: a bias before sgemm adds the product (beta 1). */
void fill_rows(float *dst, long rows, const float *row, int m);
/* dst [c,r] = src [r,c]^T, or dst += it when add; in cache-sized tiles. */
void transpose_to(int r, int c, const float *src, float *dst, int add);
void  arena_reset(Arena *a);
void  arena_free(Arena *a);

/* One step of backprop through time inside a fused recurrent kernel (lstm.c,
** attn.c), handed to a hook when one is set (--trace watches the steps;
** training sets none and pays one test per step).  Rows are [B,H]. */
typedef struct BpttStep {
  const void *tag;          /* the hook's tag (the caller's graph node)        */
  int layer, t, B, H, S;    /* layer -1: a decoder's attention step; S: sources */
  const float *dh;          /* dL/dh_t in total: from above plus from step t+1
                               (attention: dL/dh~_t, from the output plus fed back) */
  const float *dgates;      /* [B,4H] dL/d(pre-activations) i f g o
                               (attention: [B,S] dL/dscores, 0 where masked)  */
  const float *dc_prev;     /* dL/dc_{t-1} (attention: NULL)                  */
  const float *dh_prev;     /* dL/dh_{t-1} through W_hh, row stride ld
                               (attention: dL/d[context ; query], stride 2H)  */
  int ld;
  const float *dx;          /* attention decoder cells: dL/d of the cell's input
                               (layer 0: the fed h~_{t-1}), stride ldx; else NULL */
  int ldx;
} BpttStep;
typedef struct BpttHook {
  void (*fn)(void *ctx, const BpttStep *s);   /* NULL: no hook */
  void *ctx;
  const void *tag;
} BpttHook;

/* Sets rank/shape/n (data untouched).  Returns 0, or -1 if the element
** count overflows GR_MAXELEMS. */
int  tensor_shape(Tensor *t, int rank, const int *shape);
int  tensor_same_shape(const Tensor *a, const Tensor *b);
/* "[2,3]" or "scalar" into buf. */
char *shape_str(const Tensor *t, char *buf, size_t n);
/* Reorders rows in place: in each of the nslice [rows, width] slices of x,
** row i becomes the old row from[i] (beam search follows its survivors). */
void tensor_gather_rows(float *x, int nslice, int rows, int width, const int *from);

/* Prints values as numbers / nested lists: 0.25, [1, 2], [[1, 0], [0, 1]]. */
void tensor_fprint(const Tensor *t, void *FILE_ptr);
char *tensor_str(const Tensor *t, char *buf, size_t n);   /* same into buf, truncated with "..." */
/* The same, printing values of magnitude at most noise as 0 (graph_noise). */
char *tensor_str_noise(const Tensor *t, char *buf, size_t n, double noise);

#endif
