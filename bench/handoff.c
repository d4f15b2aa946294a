/*
** handoff.c — how long one cache line takes to go from one of this
** process's CPUs to another and back: the cost under every hand-off of
** graphrun's thread pool, and under every block of data one thread writes
** and the other reads.
**
** On a virtual machine it moves by hours while the sgemm peak does not: the
** host places the two vCPUs on cores that share a cache, or on cores that
** do not.  On an AMD EPYC (2 vCPUs, Haswell kernels) graphrun's lm on
** data/ ran at 87-97k tokens/s while this measured 95 ns and at 73-79k
** while it measured 400-450 ns, with the same code and an sgemm peak within
** 5% (bench/RESULTS.md).  bench/run records this figure next to every peak
** measurement so that a reader can tell the two kinds of hour apart.
**
** usage: handoff      (the first two CPUs of the affinity mask, pinned)
** Last line: "handoff ns X", the median of 9 timings of 100,000 round trips.
*/
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { TRIPS = 100000, TRIALS = 9 };

static _Alignas(64) _Atomic long ball;   /* odd: the first CPU threw it; even: the second */
static int cpu[2];

static void pin(int c) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(c, &s);
  pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static void *catcher(void *arg) {
  (void)arg;
  pin(cpu[1]);
  for (long i = 0; i < (long)TRIPS * TRIALS; i++) {
    while (atomic_load_explicit(&ball, memory_order_acquire) != 2 * i + 1) {}
    atomic_store_explicit(&ball, 2 * i + 2, memory_order_release);
  }
  return NULL;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(void) {
  cpu_set_t s;
  if (sched_getaffinity(0, sizeof s, &s)) { perror("handoff: sched_getaffinity"); return 1; }
  int n = 0;
  for (int c = 0; c < CPU_SETSIZE && n < 2; c++) if (CPU_ISSET(c, &s)) cpu[n++] = c;
  if (n < 2) { printf("handoff: one CPU, nothing to hand over\n"); return 0; }
  pthread_t t;
  pin(cpu[0]);
  if (pthread_create(&t, NULL, catcher, NULL)) { fprintf(stderr, "handoff: no second thread\n"); return 1; }
  double ns[TRIALS];
  long i = 0;
  for (int k = 0; k < TRIALS; k++) {
    double t0 = now();
    for (long e = i + TRIPS; i < e; i++) {
      atomic_store_explicit(&ball, 2 * i + 1, memory_order_release);
      while (atomic_load_explicit(&ball, memory_order_acquire) != 2 * i + 2) {}
    }
    ns[k] = (now() - t0) / TRIPS * 1e9;
  }
  pthread_join(t, NULL);
  qsort(ns, TRIALS, sizeof *ns, by_value);
  printf("CPUs %d and %d, round trip of a cache line: fastest %.0f ns, slowest %.0f ns\n", cpu[0], cpu[1], ns[0],
         ns[TRIALS - 1]);
  printf("handoff ns %.0f\n", ns[TRIALS / 2]);
  return 0;
}
