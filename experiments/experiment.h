/* experiment.h — a validated experiment: the configuration schema, the sweep
 * grid, the estimator instances and the claims.
 *
 * Sections (every key, its type, default and range are in experiment.c's tables
 * and printed by `prefsim list`):
 *   [experiment] name, seed, replicates, common_world, description
 *   [world] [population] [noise] [design] [data]   the synthetic world (sim/)
 *   [sweep]  key = v1, v2, ...   one axis per key; the key is a bare key name
 *            unique across the world sections (n, dim, flip, ...) or section.key
 *   [estimator.LABEL]  type = NAME (default LABEL) plus NAME's hyperparameters, and
 *            breaking = full|adjacent (ranking data, an estimator that fits pairs);
 *            results go to /metrics/LABEL/
 *   [claim.NAME]  checked by `prefsim verify` (claims.c)
 *   [figure.NAME] extra figures for `prefsim plot` (plot.c)
 * Unknown sections and keys, bad types and out-of-range values are errors that
 * name the file, the line, the key and what is allowed. */
#ifndef PS_EXPERIMENTS_EXPERIMENT_H
#define PS_EXPERIMENTS_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/param.h"
#include "../estimators/estimator.h"
#include "../results/h5store.h"
#include "../sim/sim.h"
#include "config.h"

#define EXP_MAX_ESTIMATORS 64
/* [experiment] name (or the file name it defaults to) makes output paths
 * (out/NAME/NAME.h5): letters, digits, '.', '_' and '-' only, not starting with '.',
 * at most EXP_NAME_MAX characters; anything else is a configuration error. */
#define EXP_NAME_MAX 100
#define EXP_MAX_AXIS_VALUES 4096

typedef struct {
  char *name;      /* axis name = the key, e.g. "n" */
  char *section;   /* where the key lives, e.g. "data" */
  char *key;
  size_t n;
  char **text;     /* the values as written */
  double *value;   /* numeric values (NaN for text) */
  int numeric;     /* every value is a number */
  int integer;     /* the key is an integer parameter */
  const char *doc; /* the key's one-line description (static) */
} exp_axis;

typedef struct {
  char *label;               /* section suffix: /metrics/<label>/ */
  char *section;             /* "estimator.<label>" */
  const est_type *type;
  char **hyper;              /* one text value per type->params entry */
  int breaking;              /* rank_breaking of ranking data for an estimator that fits pairs:
                              * [estimator.LABEL] breaking = full (default) | adjacent */
} exp_estimator;

typedef struct {
  char *section;             /* "claim.rate" */
  const char *origin;        /* file name */
  int line;                  /* line of the section's first key */
} exp_claim_ref;

/* What the results file stores of one table (quantity.h): the rows, in order. */
typedef struct {
  size_t n;
  size_t *idx;               /* row in metric_table / truth_table / theory_table */
  h5store_quantity *q;       /* name, units and long name of each (the table's strings) */
} exp_outputs;

typedef struct {
  cfg *config;               /* validated, defaults filled */
  char *name;
  uint64_t seed;
  size_t replicates;
  int common_world;
  size_t n_axes;
  exp_axis *axes;
  size_t n_points;           /* product of axis sizes */
  size_t n_estimators;
  exp_estimator *estimators;
  /* stored quantities: a row is stored where it applies at some grid point (and,
   * when [experiment] metrics lists names, where it is listed or named by a claim
   * or figure); fit_seconds, iterations and converged always */
  exp_outputs *metrics;      /* per estimator */
  size_t *metric_off;        /* per estimator: offset of its values in a cell's packed metrics */
  size_t n_metric_values;    /* sum of metrics[k].n */
  exp_outputs truth, theory;
} experiment;

/* Everything one grid point needs to simulate. */
typedef struct {
  world_spec world;
  population_spec population;
  noise_spec noise;
  design_spec design;
  size_t n_train, n_heldout;
  double beta;            /* [policy] beta: KL weight of reward-derived policies */
  size_t shots, shot_heldout; /* few-shot: per new user */
} exp_point;

/* Validate c (which the experiment takes over on success, and leaves to the caller
 * on failure) and build the experiment.  Errors name file:line, key and allowed values. */
int experiment_build(experiment *e, cfg *c, const char *default_name, ps_msg *m);
void experiment_free(experiment *e);

/* Axis indices of grid point p (C order, last axis fastest); idx has n_axes slots. */
void experiment_point_index(const experiment *e, size_t p, size_t *idx);

/* The value of (section, key) at grid point p: the axis value if that key is swept. */
const char *experiment_value(const experiment *e, size_t p, const char *section, const char *key);

/* Fill the simulation spec of grid point p. */
int experiment_point(const experiment *e, size_t p, exp_point *out, ps_msg *m);

/* The schema, for `prefsim list` and documentation: sections and their keys.  The
 * [world] keys include every registered world type's own keys:
 * experiment_schema_init (idempotent, called by experiment_build) adds them. */
void experiment_schema_init(void);
typedef struct {
  const char *section;
  const ps_param *params;
  const char *doc;
} exp_section_schema;
extern const exp_section_schema exp_schema[];
extern const ps_param exp_claim_params[];
extern const ps_param exp_figure_params[];

#endif
