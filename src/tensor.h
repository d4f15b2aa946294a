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
typedef struct Arena { char *base; size_t cap, used, peak; } Arena;
void  arena_init(Arena *a, size_t cap);
void *arena_alloc(Arena *a, size_t bytes);     /* 64-byte aligned; grows by realloc only when empty */
float *arena_floats(Arena *a, long n);         /* n floats (at least one) */
/* dst [rows, m] = the row repeated: a bias before sgemm adds the product (beta 1). */
void fill_rows(float *dst, long rows, const float *row, int m);
void  arena_reset(Arena *a);
void  arena_free(Arena *a);

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

#endif
