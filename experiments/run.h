/* run.h — run a sweep: every (grid point, replicate) cell, threads over cells,
 * one HDF5 writer, progress on stderr, SIGINT/SIGTERM finish the running cells and
 * mark the file INTERRUPTED, --resume runs only the cells not yet DONE. */
#ifndef PS_EXPERIMENTS_RUN_H
#define PS_EXPERIMENTS_RUN_H

#include "experiment.h"

typedef struct {
  const char *out_path;   /* results file */
  int threads;            /* 0: OpenMP default */
  int resume;             /* continue an existing file */
  int force;              /* overwrite an existing file */
  const char *argv_text;  /* command line, stored in the file */
  int quiet;              /* no progress output */
  long stop_after;        /* testing: behave as if interrupted after this many cells (-1: never) */
} run_options;

typedef struct {
  size_t total, skipped, done, failed_fits, failed_cells;
  int interrupted;
  double seconds;
} run_summary;

/* Returns PS_OK when every cell ran, PS_EINTR when interrupted (the file is
 * consistent and resumable), or an error (PS_EIO, PS_EINVAL) with a message. */
int run_experiment(const experiment *e, const run_options *o, run_summary *sum, ps_msg *m);

/* Root attributes every results file carries (version, git revision, library
 * versions, rng); used by run and by tests.  Static storage. */
const char *run_version(void);
const char *run_git_rev(void);

#endif
