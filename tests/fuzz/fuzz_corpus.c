/*
** fuzz_corpus.c — the text corpora of the sequence models (corpus.c) on
** arbitrary bytes.  The first byte picks the batch and bptt; the rest, up to
** a NUL byte, is the target file, and what follows it the source file.
** Both are read (the target growing the vocabulary, the source not), then
** cut into a stream and into translation bundles in file order and
** bucketed, every piece checked: ids inside the vocabulary, lengths inside
** the piece, every target token handed out once per pass.
*/
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE   /* mkstemp */
#endif
#include "fuzz.h"
#include "corpus.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes n bytes to a new temporary file; returns its path (malloc'd). */
static char *write_tmp(const uint8_t *p, size_t n) {
  char *path = strdup("/tmp/gr_fuzz_corpusXXXXXX");
  int fd = path ? mkstemp(path) : -1;
  if (fd < 0 || write(fd, p, n) != (ssize_t)n) abort();
  close(fd);
  return path;
}

static void check_ids(const int32_t *ids, long n, const Vocab *v) {
  for (long i = 0; i < n; i++) if (ids[i] < 0 || ids[i] >= v->n) abort();
}

static void walk_bundles(Bundles *bu, const Vocab *v) {
  Batch b;
  long grid = 0;
  while (corpus_bundles_next(bu, &b)) {
    if (b.T < 1 || b.B < 1 || b.Ts < 1) abort();
    check_ids(b.x, (long)b.T * b.B, v);
    check_ids(b.y, (long)b.T * b.B, v);
    check_ids(b.src, (long)b.Ts * b.B, v);
    for (int k = 0; k < b.B; k++) if (b.src_len[k] < 1 || b.src_len[k] > b.Ts) abort();
    grid += (long)b.T * b.B;
  }
  if (grid != bu->grid) abort();              /* every target cell once per pass */
}

int fuzz_corpus_one(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int B = 1 + data[0] % 7, bptt = 1 + (data[0] >> 3) % 9;
  const uint8_t *body = data + 1, *nul = memchr(body, 0, size - 1);
  size_t tn = nul ? (size_t)(nul - body) : size - 1;
  char *tgt = write_tmp(body, tn);
  char *src = nul ? write_tmp(nul + 1, size - 1 - tn - 1) : strdup(tgt);
  char msg[512] = "";
  Vocab v; Sents t = {0}, s = {0};
  Stream st = {0};
  Bundles bu = {0};
  int rc = 1;
  if (corpus_vocab_init(&v, msg, sizeof msg)) abort();
  if (corpus_read(tgt, &v, 1, &t, msg, sizeof msg)) goto out;
  if (corpus_read(src, &v, 0, &s, msg, sizeof msg)) goto out;   /* unknown words: <unk> */
  if (corpus_stream_init(&st, &t, B, bptt, msg, sizeof msg) == 0) {
    Batch b;
    for (int pass = 0; pass < 2; pass++) {
      while (corpus_stream_next(&st, &b)) {
        if (b.T < 1 || b.T > bptt || b.B != B) abort();
        check_ids(b.x, (long)b.T * b.B, &v);
        check_ids(b.y, (long)b.T * b.B, &v);
      }
      corpus_stream_reset(&st);
    }
  } else fuzz_check_message(msg);
  if (corpus_bundles_init(&bu, &s, &t, B, bptt, msg, sizeof msg)) goto out;
  walk_bundles(&bu, &v);
  corpus_bundles_reset(&bu);
  if (corpus_bundles_bucket(&bu, 1 + data[0] % 5, msg, sizeof msg)) goto out;
  for (uint64_t seed = 1; seed <= 2; seed++) {
    corpus_bundles_shuffle(&bu, seed);
    walk_bundles(&bu, &v);
    corpus_bundles_reset(&bu);
  }
  rc = 0;
out:
  if (rc) fuzz_check_message(msg);
  corpus_bundles_free(&bu);
  corpus_stream_free(&st);
  corpus_sents_free(&s);
  corpus_sents_free(&t);
  corpus_vocab_free(&v);
  unlink(tgt); unlink(src);
  free(tgt); free(src);
  return rc;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_corpus_one(data, size);
  return 0;
}
#endif
