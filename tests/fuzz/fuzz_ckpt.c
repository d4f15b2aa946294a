/*
** fuzz_ckpt.c — ckpt_load on arbitrary bytes, into a tiny model with a
** block (several parameters of several shapes).  A load that fails must
** leave every parameter as it was.
*/
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE   /* mkstemp */
#endif
#include "fuzz.h"
#include "train.h"
#include "checkpoint.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char ckpt_model[] =
  "param W: [2, 3] ~ uniform(-1, 1)\n"
  "param b: [2] = 0\n"
  "param s = 1/2\n"
  "input x: [3] = [1, 2, 3]\n"
  "z = sum(W @ x + b) * s\n"
  "output z\n";

/* Loads the bytes into a fresh model; returns 0 or 1 (refused). */
static int load_bytes(const uint8_t *data, size_t size) {
  Err e = {0};
  Model *m = model_parse("ckpt.g", ckpt_model, sizeof ckpt_model - 1, &e);
  if (!m) abort();
  char path[] = "/tmp/gr_fuzz_ckptXXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) abort();
  if (write(fd, data, size) != (ssize_t)size) abort();
  close(fd);
  /* the values before, to check that a refused file changes nothing */
  float before[16]; int k = 0;
  for (int i = 0; i < m->g->n; i++)
    if (m->g->nodes[i]->kind == N_PARAM)
      for (long j = 0; j < m->g->nodes[i]->val.n; j++) before[k++] = m->g->nodes[i]->val.data[j];
  int rc = ckpt_load(m, path, NULL, &e);
  unlink(path);
  if (rc) {
    fuzz_check_message(e.msg);
    k = 0;
    for (int i = 0; i < m->g->n; i++)
      if (m->g->nodes[i]->kind == N_PARAM)
        for (long j = 0; j < m->g->nodes[i]->val.n; j++)
          if (memcmp(&before[k++], &m->g->nodes[i]->val.data[j], sizeof(float))) abort();
  }
  model_free(m);
  return rc ? 1 : 0;
}

/* The bytes as they are (mostly stopped by the checksum), then with a
** correct checksum, so the fuzzer reaches the parameter records. */
int fuzz_ckpt_one(const uint8_t *data, size_t size) {
  int rc = load_bytes(data, size);
  if (size >= 8) {
    uint8_t *fixed = malloc(size);
    memcpy(fixed, data, size);
    uint64_t h = fnv1a(FNV_INIT, fixed, size - 8);   /* the checkpoint's trailer */
    memcpy(fixed + size - 8, &h, 8);
    rc |= load_bytes(fixed, size) << 1;
    free(fixed);
  }
  return rc;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { fuzz_ckpt_one(data, size); return 0; }
#endif
