/* cell.h — one cell of a sweep: simulate the grid point's world for one
 * replicate, fit every estimator through the estimator table, and compute the
 * stored metrics, truth and theory values (quantity.h's tables). */
#ifndef PS_EXPERIMENTS_CELL_H
#define PS_EXPERIMENTS_CELL_H

#include "experiment.h"

#define CELL_MAX_Q 64 /* capacity for stored truth and theory quantities */

typedef struct {
  double *metrics;   /* e->n_metric_values: estimator k's stored metrics from e->metric_off[k],
                      * in the order of e->metrics[k] */
  int *status;       /* n_estimators */
  char **message;    /* n_estimators, each PS_MSG_LEN bytes */
  double truth[CELL_MAX_Q];  /* in the order of e->truth */
  double theory[CELL_MAX_Q]; /* in the order of e->theory */
  int iterations;    /* summed over estimators */
  double wall_seconds;
} cell_result;

int cell_result_alloc(cell_result *r, const experiment *e);
void cell_result_free(cell_result *r, const experiment *e);

/* Run grid point p, replicate rep.  Returns PS_OK when the simulation worked (fits
 * may still have failed: see r->status); a simulation failure returns its status
 * with a message and leaves every metric NaN. */
int cell_run(const experiment *e, size_t p, size_t rep, cell_result *r, ps_msg *m);

/* MDP worlds (cell_mdp.c): the same for trajectory-segment comparisons. */
int cell_run_mdp(const experiment *e, size_t p, size_t rep, const exp_point *pt, cell_result *r, ps_msg *m);

/* The hyperparameter texts of estimator k at grid point p, one per entry of its
 * table (hyper has room for them): swept ones from their axis, the rest as validated
 * when the experiment was built. */
void cell_hyperparameters(const experiment *e, size_t p, size_t k, const char **hyper);

/* Seconds on the monotonic clock. */
double cell_now(void);

#endif
