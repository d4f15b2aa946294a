/*
** fuzz_set.c — --set NAME=VALUE on arbitrary bytes: the literal parser
** (parse_expr_string + literal_tensor) alone, then model_set on a small
** model with a scalar, a vector and a matrix.
*/
#include "fuzz.h"
#include "model.h"
#include <stdlib.h>
#include <string.h>

static const char set_model[] =
  "input x = 1\n"
  "param v: [2] = [1, 2]\n"
  "param W: [2, 2] = [[1, 0], [0, 1]]\n"
  "z = sum(W @ v) * x\n"
  "output z\n";

int fuzz_set_one(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = 0;                      /* a command-line argument: stops at the first NUL */
  Err e = {0};
  int rc = 0;
  const char *eq = strchr(s, '=');         /* the literal alone: what follows NAME= */
  Ast *a = parse_expr_string("--set", eq ? eq + 1 : s, &e);
  if (!a) { fuzz_check_message(e.msg); rc = 1; }
  else {
    Tensor t;
    if (literal_tensor(a, &t, &e)) { fuzz_check_message(e.msg); rc = 1; }
    else free(t.data);
    ast_free(a);
  }
  Err e2 = {0};
  Model *m = model_parse("set.g", set_model, sizeof set_model - 1, &e2);
  if (!m) abort();                  /* the fixed model must build */
  if (model_set(m, s, &e2)) { fuzz_check_message(e2.msg); rc |= 2; }
  else {
    Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e2;
    if (graph_forward(m->g, &ex)) abort();   /* a value of the right shape always runs */
  }
  model_free(m);
  free(s);
  return rc;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { fuzz_set_one(data, size); return 0; }
#endif
