/* h5state.h — a whole results file held in memory, and the function that writes it
 * as one sealed HDF5 file (h5snap.c).  Private to results/.
 *
 * The writer (h5store.c) keeps every value of the sweep here; a file on disk is only
 * ever written whole, from this state, to a temporary that is sealed (seal.h), synced
 * and renamed over the results file. */
#ifndef PS_RESULTS_H5STATE_H
#define PS_RESULTS_H5STATE_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "h5store.h"

typedef struct {
  const h5store_layout *L; /* the caller's; outlives the state */
  int rank;                /* n_axes + 1 */
  hsize_t dims[H5S_MAX_RANK];
  size_t n_cells;
  size_t n_q;              /* float64 arrays: every estimator's metrics, then truth, then theory */
  size_t *q0;              /* q0[e]: the first array of estimator e; q0[n_estimators]: truth */
  double *val;             /* n_q x n_cells, array-major (array q is val + q n_cells) */
  int32_t *fit_status;     /* n_estimators x n_cells, -1 = not run */
  char **msg;              /* n_estimators x n_cells, NULL = "" */
  int8_t *cell_status;     /* H5STORE_CELL_* per cell */
  int32_t *iterations;
  double *wall;
  char created_utc[40], finished_utc[40], status[16];
  size_t n_extra;          /* root attributes set after the layout (override the layout's) */
  char **extra_key, **extra_val;
  size_t n_verdicts;       /* /verdicts rows (strings owned) */
  h5store_verdict *verdicts;
} h5state;

/* Write st as a new sealed HDF5 file at path (created or truncated), fsync'd.  On
 * failure the partial file is removed.  HDF5 is not thread-safe: one caller at a time. */
int h5snap_write(const h5state *st, const char *path, ps_msg *m);

#endif
