/*
** util.c — located errors, checked allocation, whole-file I/O with atomic
** replace, a small deterministic RNG and number formatting for traces.
*/
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int err_at(Err *e, Loc loc, const char *fmt, ...) {
  if (!e || e->set) return -1;
  int k = 0;
  if (loc.file && loc.line > 0) k = snprintf(e->msg, sizeof e->msg, "%s:%d:%d: error: ", loc.file, loc.line, loc.col);
  else if (loc.file) k = snprintf(e->msg, sizeof e->msg, "%s: error: ", loc.file);
  else k = snprintf(e->msg, sizeof e->msg, "error: ");
  if (k < 0 || k >= (int)sizeof e->msg) k = 0;
  va_list ap; va_start(ap, fmt);
  vsnprintf(e->msg + k, sizeof e->msg - k, fmt, ap);
  va_end(ap);
  e->set = 1;
  return -1;
}

int err_set(Err *e, const char *fmt, ...) {
  if (!e || e->set) return -1;
  va_list ap; va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  e->set = 1;
  return -1;
}

static void oom(size_t n) {
  fprintf(stderr, "graphrun: error: out of memory (asked for %zu bytes)\n", n);
  exit(3);
}
void *xmalloc(size_t n) { void *p = malloc(n ? n : 1); if (!p) oom(n); return p; }
void *xcalloc(size_t n, size_t sz) { void *p = calloc(n ? n : 1, sz ? sz : 1); if (!p) oom(n * sz); return p; }
void *xrealloc(void *p, size_t n) { p = realloc(p, n ? n : 1); if (!p) oom(n); return p; }
char *xstrdup(const char *s) { size_t n = strlen(s) + 1; return memcpy(xmalloc(n), s, n); }
char *xasprintf(const char *fmt, ...) {
  va_list ap; va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = xmalloc((size_t)n + 1);
  va_start(ap, fmt); vsnprintf(s, (size_t)n + 1, fmt, ap); va_end(ap);
  return s;
}

char *read_file(const char *path, size_t *len, Err *e) {
  FILE *f = fopen(path, "rb");
  if (!f) { err_set(e, "%s: error: cannot open: %s", path, strerror(errno)); return NULL; }
  size_t cap = 1 << 16, n = 0;
  char *buf = xmalloc(cap);
  for (;;) {
    if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
    size_t k = fread(buf + n, 1, cap - n - 1, f);
    n += k;
    if (k == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) { free(buf); err_set(e, "%s: error: read failed", path); return NULL; }
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

int write_file_atomic(const char *path, const void *data, size_t len, Err *e) {
  /* One fixed temporary name: a writer killed mid-way leaves at most this
  ** one file behind, and the next save replaces it. */
  char *tmp = xasprintf("%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) { err_set(e, "%s: error: cannot create temporary file: %s", path, strerror(errno)); free(tmp); return -1; }
  const char *p = data; size_t left = len;
  while (left) {
    ssize_t k = write(fd, p, left);
    if (k < 0) { if (errno == EINTR) continue; goto fail; }
    p += k; left -= (size_t)k;
  }
  if (fsync(fd) != 0) goto fail;
  if (close(fd) != 0) { fd = -1; goto fail; }
  fd = -1;
  if (rename(tmp, path) != 0) goto fail;
  free(tmp);
  return 0;
fail:
  err_set(e, "%s: error: write failed: %s (previous file left as it was)", path, strerror(errno));
  if (fd >= 0) close(fd);
  unlink(tmp);
  free(tmp);
  return -1;
}

int file_check_writable(const char *path, Err *e) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return err_set(e, "%s: error: is a directory", path);
  /* A probe of its own name: mpirun's processes all check at once, and a
  ** shared name could vanish between one's O_EXCL and another's open. */
  char *tmp = xasprintf("%s.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    err_set(e, "%s: error: cannot write there: %s", path, strerror(errno));
    free(tmp);
    return -1;
  }
  close(fd);
  unlink(tmp);
  free(tmp);
  return 0;
}

/* xoroshiro128+; seeded through splitmix64 so any seed gives a good state. */
static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

void rng_seed(Rng *r, uint64_t seed) { r->s[0] = splitmix(&seed); r->s[1] = splitmix(&seed); }
float rng_normal(Rng *r) {
  double u1 = ((rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  double u2 = (rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* rng_next's state update is linear over GF(2) on the 128 state bits (XORs,
** shifts, rotations), so 2^i steps are one 128x128 bit matrix.  jump[i]
** holds it as the images of the 128 unit states; a state is advanced by
** XOR-ing the images of its set bits.  Built once (~1 ms, 128 KB) on the
** first call: the images of 2^i steps applied to those of 2^i steps. */
typedef struct RngJump { uint64_t col[128][2]; } RngJump;
static RngJump jump[64];
static pthread_once_t jump_once = PTHREAD_ONCE_INIT;

static void jump_apply(const RngJump *J, Rng *r) {
  uint64_t a = 0, b = 0;
  for (int j = 0; j < 128; j++) {
    uint64_t on = 0 - (r->s[j >> 6] >> (j & 63) & 1);
    a ^= J->col[j][0] & on;
    b ^= J->col[j][1] & on;
  }
  r->s[0] = a; r->s[1] = b;
}
static void jump_build(void) {
  for (int j = 0; j < 128; j++) {
    Rng e = {{0, 0}};
    e.s[j >> 6] = 1ull << (j & 63);
    rng_next(&e);
    memcpy(jump[0].col[j], e.s, sizeof e.s);
  }
  for (int i = 1; i < 64; i++)
    for (int j = 0; j < 128; j++) {
      Rng e;
      memcpy(e.s, jump[i - 1].col[j], sizeof e.s);
      jump_apply(&jump[i - 1], &e);
      memcpy(jump[i].col[j], e.s, sizeof e.s);
    }
}
void rng_advance(Rng *r, uint64_t n) {
  pthread_once(&jump_once, jump_build);
  for (int i = 0; n; i++, n >>= 1)
    if (n & 1) jump_apply(&jump[i], r);
}

void fmt_num(char *buf, size_t n, double v) {
  if (v == 0) v = 0;               /* no "-0" */
  snprintf(buf, n, "%.6g", v);
}
