/* run.h — run a sweep: every (grid point, replicate) cell, threads over cells,
 * one HDF5 writer, progress on stderr, SIGINT/SIGTERM finish the running cells and
 * mark the file INTERRUPTED, --resume runs only the cells not yet DONE. */
#ifndef PS_EXPERIMENTS_RUN_H
#define PS_EXPERIMENTS_RUN_H

#include "../results/h5store.h"
#include "experiment.h"

typedef struct {
  const char *out_path;   /* results file */
  int threads;            /* 0: OpenMP default */
  int resume;             /* continue an existing file */
  int force;              /* overwrite an existing file */
  const char *argv_text;  /* command line, stored in the file */
  int quiet;              /* no progress output */
  long stop_after;        /* testing: behave as if interrupted after this many cells (-1: never) */
  int shard_k, shard_n;   /* run only cells c with c % shard_n == shard_k - 1 (1 <= k <= n); n = 0: all */
} run_options;

typedef struct {
  size_t total, skipped, done, failed_fits, failed_cells;
  int interrupted;
  double seconds;
} run_summary;

/* Returns PS_OK when every cell ran, PS_EINTR when interrupted (the file is
 * consistent and resumable), or an error (PS_EIO, PS_EINVAL) with a message. */
int run_experiment(const experiment *e, const run_options *o, run_summary *sum, ps_msg *m);

/* The cells of shard k of n (1-based k): c % n == k - 1.  Consecutive cell ids are
 * replicates of one grid point, so every shard gets an equal share of every grid
 * point: the assignment balances work whatever the cost of each point, and is stable
 * (it depends only on the cell id). */
static inline int run_cell_in_shard(size_t cell, int k, int n) { return n <= 0 || (int)(cell % (size_t)n) == k - 1; }

/* The file layout of an experiment (axes, estimators, metrics, root attributes).
 * `shard` is "" or "K/N".  Free with run_layout_free. */
typedef struct run_layout run_layout;
int run_layout_build(const experiment *e, const char *argv_text, const char *shard, run_layout **out, ps_msg *m);
const h5store_layout *run_layout_get(const run_layout *l);
void run_layout_free(run_layout *l);

/* Root attributes every results file carries (version, git revision, library
 * versions, rng); used by run and by tests.  Static storage. */
const char *run_version(void);
const char *run_git_rev(void);

#endif
