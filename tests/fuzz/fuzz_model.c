/*
** fuzz_model.c — lexer, parser and builder on arbitrary bytes; models that
** build (and are small) then run forward and backward.
*/
#include "fuzz.h"
#include "model.h"
#include <stdlib.h>
#include <string.h>

int fuzz_model_one(const uint8_t *data, size_t size) {
  Err e = {0};
  model_max_bytes = FUZZ_MAX_BYTES;
  Model *m = model_parse("fuzz.g", (const char *)data, size, &e);
  if (!m) { fuzz_check_message(e.msg); return 1; }
  long total = 0;
  for (int i = 0; i < m->g->n; i++) total += m->g->nodes[i]->val.n;
  int rc = 0;
  if (total <= FUZZ_MAX_RUN_ELEMS) {
    Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
    rng_seed(&ex.rng, 1);
    if (graph_forward(m->g, &ex)) { fuzz_check_message(e.msg); rc = 1; }
    else {
      Node *out = model_output(m);
      if (out && out->val.rank == 0 && graph_backward(m->g, out, &ex)) { fuzz_check_message(e.msg); rc = 1; }
    }
  }
  model_free(m);
  return rc;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { fuzz_model_one(data, size); return 0; }
#endif
