/*
** dist.h — synchronous data-parallel training over MPI (docs/distributed.md).
**
**   mpirun -np N graphrun models/M.g --train ...
**
** Every process ("rank") builds the same model from the same seed and walks
** the same batches; each takes its share of the columns of every batch (lm
** stream columns, bundle sentences), computes its gradient, and one
** MPI_Allreduce per step sums all gradients (in one flat buffer, weighted by
** the token counts, with the token count) so that every rank holds the
** gradient of the whole batch and takes the same optimizer step.
**
** A run not started by mpirun (OMPI_COMM_WORLD_SIZE unset, or 1) is a single
** run: nothing here loads, links or calls MPI, and every function below is a
** no-op or the identity.  Under mpirun with N > 1, dist_start() dlopen()s
** Open MPI's libmpi, so graphrun needs no MPI runtime unless it is used.
**
** Errors: a rank that fails returns -1 up to main(), which prints the message
** and exits 1 without MPI_Finalize; mpirun then ends the whole job.  Errors
** that every rank detects together (dist_agree) are printed by rank 0 alone.
*/
#ifndef GR_DIST_H
#define GR_DIST_H
#include "graph.h"

/* From the environment mpirun sets, before dist_start: the processes in the
** job (1 for a single run), this one's rank, the ranks on this machine and
** this one's place among them, and whether mpirun started this process at
** all (also with -np 1, which is otherwise a single run). */
int  dist_size(void);
int  dist_rank(void);
int  dist_local_size(void);
int  dist_local_rank(void);
int  dist_launched(void);
static inline int dist_lead(void) { return dist_rank() == 0; }

/* Loads libmpi and joins the job (once; a no-op for single runs).  Ranks
** other than 0 then write nothing on stdout (it goes to /dev/null).
** 0, or -1 with a message naming what is missing. */
int  dist_start(Err *e);
/* Leaves the job (MPI_Finalize).  Only on success: every rank must call it. */
void dist_end(void);

/* This rank's columns [*lo, *hi) of a batch of B columns: contiguous
** blocks that differ by at most one; empty when B < N. */
void dist_share(int B, int *lo, int *hi);

/* The one reduction of a training step.  This rank's gradients (the mean
** over its `count` tokens; ran = 0 if it had no columns and computed none)
** are summed over the ranks, weighted by the counts, in one flat buffer with
** the counts.  Afterwards every parameter of g has a gradient (allocated if
** it had none), the mean over all tokens of the step.  Returns the tokens of
** the whole step.  Single runs: returns count, touches nothing. */
double dist_reduce_grads(Graph *g, double count, int ran);

/* Sums v[0..n) over the ranks, in place. */
void dist_sum(double *v, int n);
/* Rank 0's bytes p[0..len) to every rank. */
void dist_bcast(void *p, size_t len);
/* Rank 0's parameter values to every rank (after rank 0 alone loaded them). */
void dist_bcast_params(Graph *g);

/* Dropout: before each epoch rank 0's generator state is sent to all; ranks
** r > 0 mix r into it, so masks differ per rank, yet a resumed run (which
** has rank 0's state in its checkpoint) continues exactly. */
void dist_rng(Rng *r);

/* Checks that every rank holds the same parameters (a checksum of every
** value) and walks the same data (what[0..n): e.g. pieces per pass).
** epoch 0 means "at the start".  0, or -1 with a message naming the epoch
** and the first rank that differs; ranks other than 0 then wait for mpirun
** to end the job, so the message is printed once. */
int  dist_agree(Graph *g, int epoch, const long *what, int n, Err *e);

#endif
