/*
** allreduce.c — the time of one training step's reduction (docs/distributed.md):
** MPI_Allreduce (sum, in place) of a float buffer the size of a model's
** gradients plus the token count, as src/dist.c runs it.  Built with mpicc
** by bench/dist.sh and started by mpirun:
**
**   mpirun -np 2 allreduce NAME=FLOATS ...     e.g.  lm-d256=3620625
**
** For each buffer: 3 warm-up reductions, then REPS timed ones (barrier
** before each); rank 0 prints the median seconds, the bytes and the bus
** bandwidth 2(N-1)/N * bytes / seconds (what a ring allreduce moves per
** process), one line each:
**   allreduce lm-d256 np 2 bytes 14482500 median_s 0.003210 busbw_GBps 4.51
*/
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPS 21

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, np;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &np);
  for (int a = 1; a < argc; a++) {
    const char *eq = strchr(argv[a], '=');
    long n = eq ? atol(eq + 1) : 0;
    if (n < 1 || n > 1L << 30) {
      if (rank == 0) fprintf(stderr, "allreduce: error: argument %d '%s' is not NAME=FLOATS\n", a, argv[a]);
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    float *buf = malloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) buf[i] = (float)((i + rank) % 7) * 1e-3f;
    double t[REPS];
    for (int r = -3; r < REPS; r++) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      if (r >= 0) t[r] = MPI_Wtime() - t0;
    }
    qsort(t, REPS, sizeof *t, cmp);
    double med = t[REPS / 2], bytes = 4.0 * n;
    if (rank == 0)
      printf("allreduce %.*s np %d bytes %.0f median_s %.6f busbw_GBps %.2f\n", (int)(eq - argv[a]), argv[a], np,
             bytes, med, 2.0 * (np - 1) / np * bytes / med / 1e9);
    free(buf);
  }
  MPI_Finalize();
  return 0;
}
