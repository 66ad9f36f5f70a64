/* cell.h — one cell of a sweep: simulate the grid point's world for one
 * replicate, fit every estimator, and compute metrics, truth and theory values.
 * This is the only place that joins estimates with the truth. */
#ifndef PS_EXPERIMENTS_CELL_H
#define PS_EXPERIMENTS_CELL_H

#include "../results/h5store.h"
#include "experiment.h"

/* Metric, truth and theory names: part of the file format. */
extern const h5store_quantity cell_metrics[];
extern const size_t cell_n_metrics;
extern const h5store_quantity cell_truth[];
extern const size_t cell_n_truth;
extern const h5store_quantity cell_theory[];
extern const size_t cell_n_theory;

/* Index of metric `name` in cell_metrics, or -1. */
int cell_metric_index(const char *name);

#define CELL_MAX_Q 24 /* capacity for truth and theory quantities */

typedef struct {
  double *metrics;   /* n_estimators x cell_n_metrics */
  int *status;       /* n_estimators */
  char **message;    /* n_estimators, each PS_MSG_LEN bytes */
  double truth[CELL_MAX_Q];
  double theory[CELL_MAX_Q];
  int iterations;    /* summed over estimators */
  double wall_seconds;
} cell_result;

int cell_result_alloc(cell_result *r, size_t n_estimators);
void cell_result_free(cell_result *r, size_t n_estimators);

/* Run grid point p, replicate rep.  Returns PS_OK when the simulation worked (fits
 * may still have failed: see r->status); a simulation failure returns its status
 * with a message and leaves every metric NaN. */
int cell_run(const experiment *e, size_t p, size_t rep, cell_result *r, ps_msg *m);

#endif
