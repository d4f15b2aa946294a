/*
** util.h — small helpers shared by every module: source locations, located
** error messages, checked allocation, a deterministic RNG.
**
** Errors never abort: a function that can fail on user input returns a
** non-zero status and leaves a one-line message in a caller's buffer
** ("file:line:col: error: ..."), which main() prints on stderr.
*/
#ifndef GR_UTIL_H
#define GR_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

typedef struct Loc { const char *file; int line, col; } Loc;

#define GR_ERRMAX 512
typedef struct Err { int set; char msg[GR_ERRMAX]; } Err;

/* Records the first error only; later ones are ignored.  Returns -1. */
int err_at(Err *e, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int err_set(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that exits with a message on out-of-memory (an environment
** failure, not a user error: sizes from user input are checked before). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a whole file; NULL with a message in e on failure. */
char *read_file(const char *path, size_t *len, Err *e);

/* Atomic write: data goes to PATH.tmp, is fsync'ed, then renamed over
** PATH.  Returns 0, or -1 with a message in e (PATH untouched). */
int write_file_atomic(const char *path, const void *data, size_t len, Err *e);
/* Whether write_file_atomic(path) can succeed as far as the file system
** says now: path is not a directory and PATH.tmp can be created beside it.
** Leaves nothing behind.  0, or -1 with "PATH: error: cannot write there:
** <strerror>" in e. */
int file_check_writable(const char *path, Err *e);

/* xoroshiro128+ (rotations 24, 16, 37): deterministic for a seed on every machine. */
typedef struct Rng { uint64_t s[2]; } Rng;
void rng_seed(Rng *r, uint64_t seed);
float rng_normal(Rng *r);                    /* N(0, 1) */
/* Inline: dropout masks draw one number per element. */
static inline uint64_t rng_next(Rng *r) {
  uint64_t s0 = r->s[0], s1 = r->s[1], res = s0 + s1;
  s1 ^= s0;
  r->s[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
  r->s[1] = (s1 << 37) | (s1 >> 27);
  return res;
}
static inline float rng_uniform(Rng *r) {   /* [0, 1) */
  return (float)(rng_next(r) >> 40) * (1.0f / 16777216.0f);
}
/* Leaves r where n calls of rng_next would, in popcount(n) steps of about
** 128 two-word XORs each (no draws), so a long stream can be cut into
** pieces that separate threads fill.  Thread-safe. */
void rng_advance(Rng *r, uint64_t n);

/* FNV-1a over bytes p[0..n), continuing from h (start with FNV_INIT). */
#define FNV_INIT 1469598103934665603ull
uint64_t fnv1a(uint64_t h, const void *p, size_t n);

/* Formats a float the way traces show numbers: shortest of %.6g. */
void fmt_num(char *buf, size_t n, double v);

#endif
