/* run.h — run a sweep: every (grid point, replicate) cell, threads over cells,
 * one HDF5 writer, progress on stderr, SIGINT/SIGTERM finish the running cells and
 * mark the file INTERRUPTED, --resume runs only the cells not yet DONE. */
#ifndef PS_EXPERIMENTS_RUN_H
#define PS_EXPERIMENTS_RUN_H

#include "../results/h5store.h"
#include "cell.h"
#include "experiment.h"

typedef struct {
  const char *out_path;   /* results file */
  int threads;            /* 0: OpenMP default */
  int resume;             /* accepted for clarity: an existing file of the same config is always resumed */
  int force;              /* overwrite an existing file */
  const char *argv_text;  /* command line, stored in the file */
  int quiet;              /* no progress output */
  long stop_after;        /* testing: behave as if interrupted after this many cells (-1: never) */
  int shard_k, shard_n;   /* run only cells c with c % shard_n == shard_k - 1 (1 <= k <= n); n = 0: all */
  size_t max_cells;       /* refuse sweeps of more cells (0: no ceiling) unless allow_large */
  int allow_large;
} run_options;

typedef struct {
  size_t total, skipped, done, failed_fits, failed_cells;
  int interrupted;
  double seconds;
} run_summary;

/* Returns PS_OK when every cell ran, PS_EINTR when interrupted (the file is
 * consistent and resumable), or an error (PS_EIO, PS_EINVAL) with a message.
 * An existing output of the same config (and shard) is resumed: only cells not yet
 * DONE run, and a COMPLETED file is left untouched; an output of another config is
 * refused unless o->force. */
int run_experiment(const experiment *e, const run_options *o, run_summary *sum, ps_msg *m);

/* ---- the pieces run_experiment is made of, shared with the MPI driver ---- */
typedef struct run_layout run_layout;
typedef struct {
  run_layout *layout;
  h5store *store;
  size_t *to_run, n_to_run;  /* cell ids this run (or shard) still has to do */
  size_t n_written;
  int resumed, nothing_to_do;
  double t0, last_progress;
} run_session;

/* Open or create the output and list the cells to do. */
int run_open(const experiment *e, const run_options *o, run_session *ss, run_summary *sum, ps_msg *m);
/* Simulate and fit one cell; returns H5STORE_CELL_DONE or H5STORE_CELL_FAILED. */
int run_compute_cell(const experiment *e, size_t cell, cell_result *r);
/* Write one cell (single writer: the caller serialises calls). */
int run_write_cell(const experiment *e, run_session *ss, size_t cell, int cell_status, const cell_result *r,
                   run_summary *sum, ps_msg *m);
void run_progress(const run_options *o, const experiment *e, run_session *ss);
/* Set the final status (COMPLETED / INTERRUPTED / FAILED) and close. */
int run_close(const experiment *e, const run_options *o, run_session *ss, int write_status, const ps_msg *write_msg, run_summary *sum,
              ps_msg *m);
/* Install (1) or restore (0) the SIGINT/SIGTERM handlers; run_stopping() says
 * whether one has arrived. */
void run_signals(int install);
int run_stopping(void);

#ifdef PS_MPI
/* The same sweep over MPI ranks (run_mpi.c); every rank calls it, rank 0 writes.
 * With one rank it is run_experiment. */
int run_experiment_mpi(const experiment *e, const run_options *o, run_summary *sum, ps_msg *m);
int run_mpi_rank(void);
#endif

/* The cells of shard k of n (1-based k): c % n == k - 1.  Consecutive cell ids are
 * replicates of one grid point, so every shard gets an equal share of every grid
 * point: the assignment balances work whatever the cost of each point, and is stable
 * (it depends only on the cell id). */
static inline int run_cell_in_shard(size_t cell, int k, int n) { return n <= 0 || (int)(cell % (size_t)n) == k - 1; }

/* The file layout of an experiment (axes, estimators, metrics, root attributes).
 * `shard` is "" or "K/N".  Free with run_layout_free. */
int run_layout_build(const experiment *e, const char *argv_text, const char *shard, run_layout **out, ps_msg *m);
const h5store_layout *run_layout_get(const run_layout *l);
/* Evaluate the experiment's claims on the store's values and store them as /verdicts
 * (written with the next snapshot). */
int run_store_verdicts(const experiment *e, const run_layout *l, h5store *st, ps_msg *m);
/* float64 values stored per cell (metrics, statuses, messages, truth, theory) */
size_t run_layout_values_per_cell(const run_layout *l);
const char *run_layout_config(const run_layout *l);      /* the resolved config */
const char *run_layout_data_config(const run_layout *l); /* without claims and figures */

/* The canonical resolved config without [claim.*] and [figure.*]: what identifies a
 * results file's data for resume and merge (malloc'ed; config.h's canonical form, in
 * which key order, value spelling and comments do not count, but the order of the
 * [sweep] keys (the axes) and of the [estimator.*] sections does). */
char *run_data_config(const cfg *c);
/* The same with the claims and figures: what `prefsim run --dry-run` prints. */
char *run_canonical_config(const cfg *c);
/* Compare a stored config (a results file's "config_data", data_only = 1, or
 * "config"; canonical, or as an older prefsim wrote it) with c by their canonical
 * forms: 0 when they are the same, else the number of differences, named in diff
 * ("[data] n: '1000' -> '2000'; ..."). */
size_t run_config_compare(const char *stored, const cfg *c, int data_only, char *diff, size_t len);
/* The same for two stored texts. */
size_t run_config_compare_texts(const char *stored, const char *now, int data_only, char *diff, size_t len);
/* Make the layout carry the file's own identity text (one run_config_compare found
 * the same), so that the store, which compares texts, resumes it. */
int run_layout_adopt_identity(run_layout *l, const char *stored, ps_msg *m);
/* Seconds one cell takes, timing the sweep's first and last cells (which span the
 * grid's corners); NaN when it cannot tell.  Writes nothing. */
double run_estimate_cell_seconds(const experiment *e);
/* The worker threads a run with these options uses. */
int run_threads(const run_options *o);
void run_layout_free(run_layout *l);

/* Root attributes every results file carries (version, git revision, library
 * versions, rng); used by run and by tests.  Static storage. */
const char *run_version(void);
const char *run_git_rev(void);

#endif
