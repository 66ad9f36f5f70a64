/* h5store.h — the prefsim results file (HDF5), the only code that touches HDF5.
 *
 * Layout (schema "prefsim-results/2"; netCDF-4 compatible: xarray.open_dataset(path,
 * group="metrics/<est>") opens it with engine h5netcdf or netcdf4):
 *
 *   /                     attrs (all variable-length UTF-8 strings unless noted):
 *                         Conventions ("CF-1.8"), title, schema, prefsim_version, git_rev,
 *                         created_utc, finished_utc, snapshot_utc, status (RUNNING|
 *                         COMPLETED|INTERRUPTED|FAILED), config (resolved INI text), argv,
 *                         rng, gsl_version, hdf5_version, experiment, provenance (the
 *                         caller's: git_dirty, compiler, cflags, blas, host, threads,
 *                         mpi_ranks); master_seed (uint64 scalar)
 *   /<axis>               1-D dimension scale (netCDF coordinate variable) per sweep axis,
 *                         created in sweep order: int64 for integer axes, float64 for other
 *                         numeric axes, variable-length UTF-8 strings for text axes; attrs
 *                         long_name, units (numeric axes);
 *   /replicate            int32 0..R-1, always the last dimension
 *   /metrics/<est>/<metric>  float64 [axis_1, ..., axis_k, replicate], NaN where not
 *                         (yet) computed or the fit failed; attrs units, long_name; the
 *                         root's scales attached (H5DS) to every dimension
 *   /status/<est>         int32 [axes..., replicate]: the fit's PS_* status code per cell
 *                         (-1 = not run); attr "codes" lists "0=ok,1=invalid,..."
 *   /messages/<est>       variable-length UTF-8 string [axes..., replicate]: the failure
 *                         message ("" when the fit succeeded)
 *   /truth/<quantity>     float64 [axes..., replicate] ground-truth values per cell
 *   /theory/<quantity>    float64 [axes..., replicate] predicted values per cell
 *   /cells/status         int8 [axes..., replicate] PENDING=0, DONE=1, FAILED=2 (CF
 *                         flag_values, flag_meanings); /cells/iterations int32 (summed over
 *                         estimators), /cells/wall_seconds float64
 *   /verdicts             (COMPLETED sweeps with claims) one row per claim and slice along
 *                         dimension "row": 1-D claim, slice, expect, value, tol,
 *                         alternative, bias, measured, ci_low, ci_high, contains_value (int8:
 *                         1, 0, -1 = n/a), n, missing, verdict (PASS|FAIL|INCONCLUSIVE),
 *                         note; attr rule
 *   Every group holding [axes..., replicate] arrays (each /metrics/<est>, /status,
 *   /messages, /truth, /theory, /cells) also holds hard links to the root's scales, so
 *   xarray, which reads one group, sees the coordinates; an axis therefore may not share
 *   a name with an estimator, a metric, a truth or theory quantity, a /cells column or a
 *   root group (the layout check refuses it).
 *
 * Schema "prefsim-results/1" (prefsim <= 0.3) kept the scales in /axes and /cells as one
 * compound table; h5read reads both, h5store_open_resume refuses /1 (rerun with --force).
 *
 * Cell ids are the C-order linear index over (axis_1, ..., axis_k, replicate), so the
 * replicate varies fastest.  Datasets of [axes..., replicate] shape and /cells are chunked
 * with shuffle + deflate + Fletcher-32.  The file begins with a 512-byte user block
 * holding its seal, "prefsim-seal 1 size=N crc32=X" (results/seal.h): readers check it
 * before HDF5 reads a byte, so a damaged file is reported, never parsed.  Root attribute
 * snapshot_utc says when the file was written.
 *
 * Durability (h5store.c has the argument): the writer keeps every value in memory,
 * appends each finished cell to PATH.journal (locked: one writer per file) and replaces
 * PATH whole (write PATH.tmp, seal, fsync, rename) when it opens, every 30 s while cells
 * arrive, and when it closes.  A killed run leaves the last file (status RUNNING) and
 * the journal; reopening with h5store_open_resume recovers every journaled cell.
 *
 * Errors: every function returns PS_OK or PS_EIO / PS_EINVAL / PS_ENOMEM with a message
 * naming the file; HDF5's own error-stack printing is switched off. */
#ifndef PS_RESULTS_H5STORE_H
#define PS_RESULTS_H5STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/ps.h"

#define H5STORE_SCHEMA "prefsim-results/2"
#define H5STORE_SCHEMA_V1 "prefsim-results/1" /* read, not resumed */

enum { H5STORE_CELL_PENDING = 0, H5STORE_CELL_DONE = 1, H5STORE_CELL_FAILED = 2 };

typedef struct {
  const char *name;          /* axis name, e.g. "n" */
  size_t n;                  /* number of values, >= 1 */
  const double *values;      /* numeric values (NULL for a text axis) */
  const char *const *labels; /* text values (NULL for a numeric axis) */
  int integer;               /* numeric values are integers: stored as int64 */
  const char *long_name;     /* written as the axis's long_name (NULL: the name) */
  const char *units;         /* written as its units (numeric axes; NULL: "1") */
} h5store_axis;

typedef struct {
  const char *name;      /* e.g. "param_err" */
  const char *units;     /* e.g. "nats", "1", "s" */
  const char *long_name; /* one line for plots and xarray */
} h5store_quantity;

typedef struct {
  const char *label;                  /* estimator instance label, e.g. "bt" */
  size_t n_metrics;
  const h5store_quantity *metrics;
} h5store_estimator;

typedef struct {
  const char *key, *value;
} h5store_attr;

/* Everything the writer needs to lay out a new file. */
typedef struct {
  size_t n_axes;                 /* sweep axes, not counting replicate */
  const h5store_axis *axes;
  size_t n_replicates;
  size_t n_estimators;
  const h5store_estimator *estimators;
  size_t n_truth;
  const h5store_quantity *truth;
  size_t n_theory;
  const h5store_quantity *theory;
  size_t n_attrs;                /* root string attributes (schema and status are set by the store) */
  const h5store_attr *attrs;     /* must include "config" (used to check resumes) */
  uint64_t master_seed;
} h5store_layout;

/* What one finished cell contributes.  Arrays are indexed like the layout:
 * metrics[e][j] is metric j of estimator e (NaN if absent); status[e] and
 * message[e] ("" or NULL when ok); truth[j]; theory[j]. */
typedef struct {
  uint64_t cell_id;
  const double *const *metrics;
  const int *status;
  const char *const *message;
  const double *truth;
  const double *theory;
  int cell_status;               /* H5STORE_CELL_DONE or H5STORE_CELL_FAILED */
  int32_t iterations;
  double wall_seconds;
} h5store_cell;

/* One row of /verdicts: a claim's evaluation on one slice (experiments/claims.h has
 * the rule).  Strings are copied by h5store_set_verdicts. */
typedef struct {
  const char *claim, *slice, *expect, *verdict, *note;
  double value, tol, alternative, bias, measured, ci_low, ci_high;
  int64_t n, missing;
  int8_t contains_value; /* 1, 0, or -1 when not a band claim */
} h5store_verdict;

typedef struct h5store h5store;

/* Start a new results file at path with the layout, every array NaN (status -1,
 * messages ""), every cell PENDING, root status RUNNING: an existing file is replaced
 * (atomically, by the first snapshot) and an existing journal's cells are discarded.
 * Refused (PS_EIO naming the process) while another process writes path.  The layout
 * must outlive the store.  On failure *out is NULL and an existing file is untouched. */
int h5store_create(const char *path, const h5store_layout *layout, h5store **out, ps_msg *m);

/* Resume path: load the existing file (if any; its seal must be intact, PS_EFORMAT
 * otherwise) and replay path's journal over it (cutting a torn tail).  Fails with
 * PS_EINVAL (message says which) unless the file's schema, axes, replicate count,
 * estimators/metrics and root "config_data" attribute (or "config" when the layout has
 * no config_data) equal the layout's, or a journal belongs to another configuration;
 * PS_EIO naming the process while another process writes path.  Sets root status
 * RUNNING.  *done (allocated, caller frees; done may be NULL) receives one byte per
 * cell: 1 if the cell is DONE, else 0. */
int h5store_open_resume(const char *path, const h5store_layout *layout, h5store **out,
                        unsigned char **done, ps_msg *m);

/* Record one finished cell: appended to the journal (one write) before it returns. */
int h5store_put_cell(h5store *s, const h5store_cell *c, ps_msg *m);

/* fdatasync the journal: every cell put so far survives a power loss too. */
int h5store_sync(h5store *s, ps_msg *m);

/* Store the claims' verdicts (replacing any), written as /verdicts with the next
 * snapshot: a compound table, one row per claim and slice. */
int h5store_set_verdicts(h5store *s, const h5store_verdict *v, size_t n, ps_msg *m);

/* The n_cells values of "metrics/EST/M", "truth/Q" or "theory/Q" as held now
 * (malloc'ed into *out). */
int h5store_array(const h5store *s, const char *path, double **out, ps_msg *m);

/* Whether another process is writing the results file at path: 1 (its pid in *pid),
 * 0 (none), -1 (cannot tell).  *journal_cells (may be NULL) gets the number of finished
 * cells in path's journal that its last snapshot may not hold yet (0 when none). */
int h5store_writer(const char *path, long *pid, size_t *journal_cells);

/* Status of every cell (H5STORE_CELL_*), as loaded, replayed and put so far. */
const int8_t *h5store_cell_states(const h5store *s);

/* Set (create or replace) a root string attribute (written with the next snapshot).  Not for the store's own
 * attributes (schema, status, created_utc, ...). */
int h5store_set_attr(h5store *s, const char *key, const char *value, ps_msg *m);

/* Set root attribute status (and finished_utc when status is not RUNNING). */
int h5store_set_status(h5store *s, const char *status, ps_msg *m);

/* Write the final snapshot and remove the journal; if the snapshot fails (a full
 * disk), the journal stays and the next h5store_open_resume recovers every cell.
 * Frees the store either way.  h5store_close(NULL) does nothing. */
int h5store_close(h5store *s, ps_msg *m);

/* ------------------------------------------------------------------------ reader */

typedef struct h5read h5read;

/* Open a results file: its seal is checked first (PS_EFORMAT naming the damage; a file
 * without a seal, written before prefsim 0.2, is read unchecked), then HDF5 opens it. */
int h5read_open(const char *path, h5read **out, ps_msg *m);
/* 1 when the file's seal was checked intact, 0 for an older unsealed file. */
int h5read_sealed(const h5read *r);
void h5read_close(h5read *r);

/* Root string attribute (NULL if absent); the string is owned by the reader. */
const char *h5read_attr(const h5read *r, const char *key);
/* The root attributes readable as text (integers and floats formatted), by index. */
size_t h5read_n_attrs(const h5read *r);
const char *h5read_attr_key(const h5read *r, size_t i);

/* Sweep axes (replicate excluded), in dimension order.  Owned by the reader. */
size_t h5read_n_axes(const h5read *r);
const h5store_axis *h5read_axis(const h5read *r, size_t i);
size_t h5read_n_replicates(const h5read *r);

/* Names of the groups under /metrics, and of the metrics of one estimator; owned by
 * the reader, NULL-terminated. */
const char *const *h5read_estimators(const h5read *r);
const char *const *h5read_metrics(const h5read *r, const char *estimator);
/* Names of the quantities under /truth or /theory (group "truth" or "theory"), owned by
 * the reader, NULL-terminated; NULL for another group. */
const char *const *h5read_quantities(const h5read *r, const char *group);

/* Read a whole [axes..., replicate] array: "metrics/<est>/<metric>", "truth/<q>",
 * "theory/<q>".  *out is malloc'ed (caller frees), length = product of axis sizes ×
 * replicates.  PS_EINVAL with a message listing what exists when the path is absent. */
int h5read_array(const h5read *r, const char *path, double **out, ps_msg *m);

/* String attribute of a dataset (e.g. "units", "long_name"); NULL if absent.  The
 * returned string is malloc'ed; caller frees. */
char *h5read_dataset_attr(const h5read *r, const char *path, const char *key);

/* The whole file as one flat netCDF-4 dataset (results/h5export.c has its layout: a
 * dimension "estimator", each metric [estimator, axes..., replicate], truth_<q> and
 * theory_<q>), built in memory: *image (malloc'ed, caller frees) of *size bytes. */
int h5read_export_netcdf(const h5read *r, unsigned char **image, size_t *size, ps_msg *m);

/* Count cells by status in /cells. */
int h5read_cell_counts(const h5read *r, size_t *pending, size_t *done, size_t *failed,
                       ps_msg *m);

/* Total cells (grid points x replicates). */
size_t h5read_n_cells(const h5read *r);

/* Every /cells row: status (H5STORE_CELL_*), iterations and wall seconds, each an array
 * of h5read_n_cells() values (malloc'ed; the caller frees all three). */
int h5read_cells(const h5read *r, int8_t **status, int32_t **iterations, double **wall,
                 ps_msg *m);

/* /status/<estimator> as ints (malloc'ed, h5read_n_cells() values). */
int h5read_status(const h5read *r, const char *estimator, int **out, ps_msg *m);

/* /messages/<estimator>: h5read_n_cells() malloc'ed strings in a malloc'ed array. */
int h5read_messages(const h5read *r, const char *estimator, char ***out, ps_msg *m);

#endif
