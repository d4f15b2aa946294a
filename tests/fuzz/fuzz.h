/*
** fuzz.h — the bodies of the fuzzing harnesses, shared by the libFuzzer
** entry points (fuzz_*.c, `make fuzz`) and the regression test that replays
** tests/fuzz/regress/ (tests/test_fuzz_regress.c).
**
** Each function takes arbitrary bytes, must never crash, hang or leak, and
** returns 0 if the input was accepted, 1 if it was refused with a message
** (which must then be one located line).
*/
#ifndef GR_FUZZ_H
#define GR_FUZZ_H
#include <stddef.h>
#include <stdint.h>

/* Largest graph (elements over all nodes) the model harness runs forward
** and backward; larger models are only built (the fuzzer must stay fast). */
#define FUZZ_MAX_RUN_ELEMS 1000000L
/* Memory the builder may promise a fuzzed model (model_max_bytes). */
#define FUZZ_MAX_BYTES (64.0 * 1024 * 1024)

int fuzz_model_one(const uint8_t *data, size_t size);   /* model_parse, forward, backward */
int fuzz_set_one(const uint8_t *data, size_t size);     /* --set NAME=VALUE literals      */
int fuzz_ckpt_one(const uint8_t *data, size_t size);    /* ckpt_load of arbitrary bytes   */
int fuzz_argv_one(const uint8_t *data, size_t size);    /* the command line (src/main.c)  */
int fuzz_corpus_one(const uint8_t *data, size_t size);  /* data files: read, stream, bundles */

/* Aborts (a fuzzer finding) unless msg is one line "...: error: ...". */
void fuzz_check_message(const char *msg);
#endif
