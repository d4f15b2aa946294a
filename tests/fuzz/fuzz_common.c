/*
** fuzz_common.c — checks shared by the harnesses.
*/
#include "fuzz.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_check_message(const char *msg) {
  if (!msg[0] || !strstr(msg, "error: ") || strchr(msg, '\n')) {
    fprintf(stderr, "fuzz: refused without a one-line located message: '%s'\n", msg);
    abort();
  }
}
