/*
** dist.c — data-parallel training over Open MPI, loaded at run time.
**
** libmpi is dlopen()ed (RTLD_GLOBAL: Open MPI's own plugins need its
** symbols) only when mpirun started more than one process, so a single run
** neither links nor loads it (docs/distributed.md has the start-up
** measurement).  mpi.h gives the types; the handles MPI_COMM_WORLD,
** MPI_FLOAT, ... are Open MPI's global objects, looked up by name as its
** macros would reference them (Open MPI 4.x ABI, libmpi.so.40).
**
** State is per process (one job per process): the function table, the
** ranks, and the flat gradient buffer, sized once for the model.
*/
#include "dist.h"
#include <dlfcn.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
  int size, rank, local, local_rank, launched, started;
  void *lib;
  int (*init_thread)(int *, char ***, int, int *);
  int (*finalize)(void);
  int (*allreduce)(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
  int (*bcast)(void *, int, MPI_Datatype, int, MPI_Comm);
  int (*allgather)(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm);
  int (*barrier)(MPI_Comm);
  MPI_Comm world;
  MPI_Datatype f32, f64, byte;
  MPI_Op sum;
  float *flat;             /* every parameter's gradient, then the token count */
  long nflat;
} D = { .size = 1, .local = 1 };

static int env_int(const char *name, int dflt) {
  const char *s = getenv(name);
  char *end;
  long v = s && *s ? strtol(s, &end, 10) : dflt;
  return s && *s && (*end || v < 0 || v > INT_MAX) ? dflt : (int)v;
}
static void env_once(void) {
  static int done;
  if (done) return;
  done = 1;
  D.launched = getenv("OMPI_COMM_WORLD_SIZE") != NULL;
  D.size = env_int("OMPI_COMM_WORLD_SIZE", 1);
  if (D.size < 1) D.size = 1;
  D.rank = D.size > 1 ? env_int("OMPI_COMM_WORLD_RANK", 0) : 0;
  D.local = D.size > 1 ? env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1) : 1;
  if (D.local < 1) D.local = 1;
  D.local_rank = D.size > 1 ? env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0) : 0;
  if (D.local_rank >= D.local) D.local_rank = 0;
}
int dist_size(void) { env_once(); return D.size; }
int dist_rank(void) { env_once(); return D.rank; }
int dist_local_size(void) { env_once(); return D.local; }
int dist_local_rank(void) { env_once(); return D.local_rank; }
int dist_launched(void) { env_once(); return D.launched; }

static void *sym(const char *name, Err *e) {
  void *p = dlsym(D.lib, name);
  if (!p) err_set(e, "graphrun: error: libmpi has no '%s' (graphrun needs Open MPI 4: apt-get install openmpi-bin)", name);
  return p;
}

int dist_start(Err *e) {
  env_once();
  if (D.size == 1 || D.started) return 0;
  D.lib = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL);
  if (!D.lib) D.lib = dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL);
  if (!D.lib) return err_set(e, "graphrun: error: started by mpirun (%d processes) but cannot load Open MPI's libmpi: %s", D.size, dlerror());
  struct { void **dst; const char *name; } t[] = {
    { (void **)&D.init_thread, "MPI_Init_thread" }, { (void **)&D.finalize, "MPI_Finalize" },
    { (void **)&D.allreduce, "MPI_Allreduce" }, { (void **)&D.bcast, "MPI_Bcast" },
    { (void **)&D.allgather, "MPI_Allgather" }, { (void **)&D.barrier, "MPI_Barrier" },
    { (void **)&D.world, "ompi_mpi_comm_world" }, { (void **)&D.f32, "ompi_mpi_float" },
    { (void **)&D.f64, "ompi_mpi_double" }, { (void **)&D.byte, "ompi_mpi_byte" },
    { (void **)&D.sum, "ompi_mpi_op_sum" },
  };
  for (size_t i = 0; i < sizeof t / sizeof *t; i++)
    if (!(*t[i].dst = sym(t[i].name, e))) return -1;
  int provided;      /* only the main thread calls MPI; the pool's workers never do */
  if (D.init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return err_set(e, "graphrun: error: MPI_Init failed (rank %d of %d)", D.rank, D.size);
  D.started = 1;
  if (D.rank != 0 && !freopen("/dev/null", "w", stdout))
    return err_set(e, "graphrun: error: rank %d cannot silence its output", D.rank);
  return 0;
}

void dist_end(void) {
  if (!D.started) return;
  free(D.flat); D.flat = NULL; D.nflat = 0;
  D.finalize();
  D.started = 0;
}

void dist_share(int B, int *lo, int *hi) {
  env_once();
  *lo = (int)((long)B * D.rank / D.size);
  *hi = (int)((long)B * (D.rank + 1) / D.size);
}

static long param_floats(const Graph *g) {
  long n = 0;
  for (int i = 0; i < g->n; i++) if (g->nodes[i]->kind == N_PARAM) n += g->nodes[i]->val.n;
  return n;
}

double dist_reduce_grads(Graph *g, double count, int ran) {
  if (!D.started) return count;
  if (!D.flat) {
    D.nflat = param_floats(g) + 1;
    if (D.nflat > INT_MAX) { fprintf(stderr, "graphrun: error: %ld parameters are more than one MPI_Allreduce can sum\n", D.nflat); exit(1); }
    D.flat = xmalloc(sizeof(float) * (size_t)D.nflat);
  }
  float *p = D.flat, w = ran ? (float)count : 0.0f;
  for (int i = 0; i < g->n; i++) {
    const Node *n = g->nodes[i];
    if (n->kind != N_PARAM) continue;
    if (n->grad.data && w) for (long k = 0; k < n->val.n; k++) p[k] = n->grad.data[k] * w;
    else memset(p, 0, sizeof(float) * (size_t)n->val.n);
    p += n->val.n;
  }
  *p = w;          /* counts are whole numbers far below 2^24: exact in a float */
  D.allreduce(MPI_IN_PLACE, D.flat, (int)D.nflat, D.f32, D.sum, D.world);
  double total = D.flat[D.nflat - 1];
  float inv = total > 0 ? (float)(1.0 / total) : 0.0f;
  p = D.flat;
  for (int i = 0; i < g->n; i++) {
    Node *n = g->nodes[i];
    if (n->kind != N_PARAM) continue;
    graph_grad_array(n);                     /* a rank that has not run backward yet has none */
    for (long k = 0; k < n->val.n; k++) n->grad.data[k] = p[k] * inv;
    p += n->val.n;
  }
  return total;
}

void dist_sum(double *v, int n) {
  if (D.started) D.allreduce(MPI_IN_PLACE, v, n, D.f64, D.sum, D.world);
}

void dist_bcast(void *p, size_t len) {
  if (D.started) D.bcast(p, (int)len, D.byte, 0, D.world);
}

void dist_bcast_params(Graph *g) {
  if (!D.started) return;
  for (int i = 0; i < g->n; i++)
    if (g->nodes[i]->kind == N_PARAM) D.bcast(g->nodes[i]->val.data, (int)g->nodes[i]->val.n, D.f32, 0, D.world);
}

void dist_rng(Rng *r) {
  if (!D.started) return;
  dist_bcast(r->s, sizeof r->s);
  if (D.rank == 0) return;
  Rng k; rng_seed(&k, (uint64_t)D.rank);
  r->s[0] ^= k.s[0]; r->s[1] ^= k.s[1];
}

/* What each rank sends: a checksum of its parameters, their count, and
** up to four numbers describing its data. */
typedef struct Print { uint64_t sum; int64_t nparam, what[4]; } Print;

int dist_agree(Graph *g, int epoch, const long *what, int n, Err *e) {
  if (!D.started) return 0;
  Print me; memset(&me, 0, sizeof me);
  me.sum = FNV_INIT;
  for (int i = 0; i < g->n; i++)
    if (g->nodes[i]->kind == N_PARAM) me.sum = fnv1a(me.sum, g->nodes[i]->val.data, sizeof(float) * (size_t)g->nodes[i]->val.n);
  me.nparam = param_floats(g);
  for (int i = 0; i < n && i < 4; i++) me.what[i] = what[i];
  Print *all = xmalloc(sizeof *all * (size_t)D.size);
  D.allgather(&me, (int)sizeof me, D.byte, all, (int)sizeof me, D.byte, D.world);
  int bad = 0, r;
  for (r = 1; r < D.size && !bad; r++) bad = memcmp(&all[r], &all[0], sizeof me) != 0;
  r--;
  char when[48];
  if (epoch) snprintf(when, sizeof when, "after epoch %d", epoch); else snprintf(when, sizeof when, "at the start");
  if (bad && all[r].nparam != all[0].nparam)
    err_set(e, "graphrun: error: %s process %d has %lld parameter values, process 0 has %lld: every process must read the same model and data files",
            when, r, (long long)all[r].nparam, (long long)all[0].nparam);
  else if (bad && memcmp(all[r].what, all[0].what, sizeof me.what))
    err_set(e, "graphrun: error: %s process %d walks other data than process 0 (%lld training and %lld validation pieces against %lld and %lld): every process must read the same data files",
            when, r, (long long)all[r].what[0], (long long)all[r].what[1], (long long)all[0].what[0], (long long)all[0].what[1]);
  else if (bad)
    err_set(e, "graphrun: error: %s the parameters of process %d differ from process 0's (checksum %016llx against %016llx)%s",
            when, r, (unsigned long long)all[r].sum, (unsigned long long)all[0].sum,
            epoch ? ": the processes no longer take the same steps" : ": every process must start from the same model (same files, seed and --set)");
  free(all);
  if (!bad) return 0;
  if (D.rank != 0) for (;;) D.barrier(D.world);   /* rank 0 reports and exits; mpirun ends us */
  return -1;
}
