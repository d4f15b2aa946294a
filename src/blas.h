/*
** blas.h — which BLAS graphrun runs on, and choosing OpenBLAS's kernel for
** the CPU when OpenBLAS does not know it.
**
** Debian's OpenBLAS is built for every x86 core (DYNAMIC_ARCH) and picks
** its kernels when it loads, by the CPU model.  A model it does not know
** gets the oldest kernels (Prescott, SSE3): on an AVX-512 Xeon that is a
** quarter of the speed, and nothing says so.  OpenBLAS reads the variable
** OPENBLAS_CORETYPE when it loads, so the choice has to be made before:
** blas_startup, first thing in main, looks at the core OpenBLAS picked and
** at the CPU's vector units (cpuid); if the core lacks units the CPU has,
** it checks the better kernel in a child process (a small sgemm against a
** plain loop; a wrong result or a crash rules it out), sets the variable
** and re-executes graphrun once.  A variable the user set is never
** touched, and the re-executed graphrun finds it set, so it cannot loop.
*/
#ifndef GR_BLAS_H
#define GR_BLAS_H
#include <stddef.h>

/* CPU features the choice looks at (blas_cpu_flags). */
enum {
  BLAS_CPU_AVX2 = 1, BLAS_CPU_FMA = 2,
  BLAS_CPU_AVX512F = 4, BLAS_CPU_AVX512BW = 8, BLAS_CPU_AVX512VL = 16, BLAS_CPU_AVX512DQ = 32,
};
/* This CPU's features, by cpuid (and the OS's support for their
** registers); 0 off x86. */
unsigned blas_cpu_flags(void);

/* The vector level of an OpenBLAS x86 core name: 0 SSE, 1 AVX, 2 AVX2 +
** FMA, 3 AVX-512; -1 for a name not in the table (never replaced). */
int blas_core_level(const char *core);
/* The vector level of the kernel OpenBLAS runs now (as blas_core_level). */
int blas_kernel_level(void);

/* Checks a kernel in a fresh process: 0 good, else -1 with a reason in
** why (e.g. "wrong result", "crashed (signal 4)"). */
typedef int (*BlasCheckFn)(const char *kernel, char *why, size_t n);

/* The decision, without side effects: for the core OpenBLAS picked and
** the CPU's features, the kernels worth more, best first (SkylakeX for
** AVX-512 F/BW/VL/DQ, Haswell for AVX2 + FMA), each tried with check until
** one passes.  Returns that kernel, or NULL (keep OpenBLAS's pick); note
** gets what happened, for the header. */
const char *blas_choose(const char *core, unsigned cpu, BlasCheckFn check, char *note, size_t n);

/* First thing in main: the child's check when graphrun runs as one (exits),
** else the choice above and at most one re-execution (may not return). */
void blas_startup(char **argv);

/* One line for --version and the training header, e.g. "OpenBLAS 0.3.21,
** kernel SkylakeX (chosen by graphrun: ...), 2 threads". */
void blas_describe(char *buf, size_t n, int threads);

/* The check the child runs: small products through cblas_sgemm against
** plain loops, every transpose combination.  0 if all agree. */
int blas_selftest(void);

#endif
