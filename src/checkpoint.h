/*
** checkpoint.h — a model's parameters (and the trainer's state) on disk.
** The format is little-endian on every machine; checkpoint.c describes it.
*/
#ifndef GR_CHECKPOINT_H
#define GR_CHECKPOINT_H
#include <stdint.h>
#include "model.h"
#include "optim.h"

/* Where training stands after an epoch: enough to go on exactly as an
** uninterrupted run would (the data order is fixed, the RNG is saved). */
typedef struct TrainState {
  int epoch;               /* epochs done; 0 = no state in the file */
  int since_best;
  double lr, best;
  uint64_t rng[2];
  Adam *adam;              /* Adam's step count and moments (saved, and loaded
                              into, when set); NULL with sgd */
} TrainState;

/* Checkpoints (checkpoint.c): every parameter by name and shape, the
** training state if st is given (with Adam's moments if st->adam), a
** header and a checksum.  Saving is
** atomic (temporary file, fsync, rename).  Loading fills st (if not NULL;
** st->epoch = 0 when the file has none) and changes the model only if the
** whole file is good. */
int  ckpt_save(const Model *m, const char *path, const TrainState *st, Err *e);
int  ckpt_load(Model *m, const char *path, TrainState *st, Err *e);

#endif
