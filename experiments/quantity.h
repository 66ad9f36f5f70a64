/* quantity.h — the three tables of what a cell stores: metrics (estimate against
 * truth, one value per estimator), truth quantities and theory values (one value
 * per cell).  One door each: a quantity is one row of its table (metrics.c,
 * truth.c) with its compute function; nothing else in the tree names it.
 *
 * A row says where it applies: the kinds of world (the EST_IN_* bits of the data
 * the world makes) and, optionally, a predicate on the grid point's settings and
 * the estimator's type.  Applicability is decided from the configuration alone, so
 * the experiment knows before any cell runs which datasets its file will hold; a
 * quantity is computed for a cell only where it applies and is stored (an
 * experiment may list the ones it wants: [experiment] metrics).
 *
 * Rows compute one number each.  A row that needs another quantity asks for it by
 * name (metric_value, cell_value); values are memoised per cell (and estimator), so
 * a shared intermediate is computed once, whichever row asks first.  Quantities
 * are named, never addressed by position. */
#ifndef PS_EXPERIMENTS_QUANTITY_H
#define PS_EXPERIMENTS_QUANTITY_H

#include <stddef.h>

#include "../estimators/estimator.h"
#include "experiment.h"

typedef struct metric_eval metric_eval; /* one (cell, estimator): eval.h */
typedef struct cell_eval cell_eval;     /* one cell: eval.h */

typedef struct {
  const char *name;      /* stored as /metrics/<estimator>/<name> */
  const char *units;     /* "1", "nats", "s" */
  const char *long_name; /* one line: the definition */
  unsigned worlds;       /* EST_IN_* bits of the worlds where it applies */
  /* NULL: every estimator at every such point; else whether it applies to
   * estimators of type t at a point with settings pt */
  int (*applies)(const est_type *t, const exp_point *pt);
  double (*compute)(metric_eval *ev); /* NaN when the cell gives no value */
  double lo, hi; /* the range [lo, hi] its values lie in (lo == hi: none declared); figures
                  * clip confidence intervals to it */
} metric_def;

typedef struct {
  const char *name; /* stored as /truth/<name> or /theory/<name> */
  const char *units;
  const char *long_name;
  unsigned worlds;
  int (*applies)(const exp_point *pt);
  double (*compute)(cell_eval *ev);
} cellq_def;

extern const metric_def metric_table[];
extern const size_t metric_table_len;
extern const cellq_def truth_table[];
extern const size_t truth_table_len;
extern const cellq_def theory_table[];
extern const size_t theory_table_len;

/* Index of the row named `name` in its table, or -1. */
long metric_find(const char *name);
long truth_find(const char *name);
long theory_find(const char *name);

/* The EST_IN_* bit of the data a grid point's world makes. */
unsigned exp_point_data(const exp_point *pt);

/* Whether row i applies to estimators of type t at a point with settings pt. */
int metric_applies(size_t i, const est_type *t, const exp_point *pt);
int truth_applies(size_t i, const exp_point *pt);
int theory_applies(size_t i, const exp_point *pt);

/* The metrics every estimator stores whatever the experiment lists: fit_seconds,
 * iterations, converged. */
int metric_is_fit_record(size_t i);

#endif
