/* claims.h — evaluate an experiment's [claim.*] sections on its results file.
 *
 * Kinds (docs/theory.md §5 protocol):
 *   slope  OLS slope of log(statistic) on log(axis `against`), one row per slice of
 *          the other axes; CI by a paired bootstrap over replicates (the same
 *          resampled replicates at every point, matching common random numbers).
 *   below / above   the statistic at each selected grid point, with its bootstrap CI,
 *          is below / above `value`.
 *   equal  the statistic at each selected point equals `value` (within tol).
 *   ratio  statistic(metric) / statistic(other) at each selected point; below and
 *          above with `other` set bound that ratio instead of the statistic.
 * Decision: with tol > 0, PASS when the whole CI lies inside [value - tol, value + tol]
 * (an equivalence test: the data show the claim holds to within tol); with tol = 0,
 * PASS when the CI contains value.  below: CI upper end < value; above: lower > value.
 * The statistic is the mean, median or root mean square over finite replicates; NaN (failed fits) are
 * dropped and counted. */
#ifndef PS_EXPERIMENTS_CLAIMS_H
#define PS_EXPERIMENTS_CLAIMS_H

#include <stddef.h>

#include "../core/ps.h"
#include "../results/h5store.h"
#include "config.h"

typedef struct {
  char claim[96];      /* claim name (section without "claim.") */
  char slice[256];     /* "dim=16" or "n=1000, dim=16", "" when none */
  char expect[16];
  double value, tol;
  double measured, lo, hi;
  size_t n_used;       /* finite replicate values used */
  size_t n_missing;    /* NaN values dropped */
  int pass;
  char note[256];      /* why it failed to evaluate, or "" */
} claim_row;

/* Evaluate every claim of the config stored in the results file.  *rows is
 * malloc'ed.  A claim that cannot be evaluated (unknown metric or axis, too few
 * values) becomes a failing row with a note; the return is PS_OK unless the file
 * cannot be read or memory runs out. */
int claims_evaluate(const h5read *r, const cfg *config, claim_row **rows, size_t *n_rows, ps_msg *m);

enum { CLAIM_STAT_MEAN = 0, CLAIM_STAT_MEDIAN = 1, CLAIM_STAT_RMS = 2, CLAIM_STAT_MAX = 3 };

/* Statistic (CLAIM_STAT_*) over the finite values of x[0..n-1] at stride `stride`;
 * NaN if none.  rms = sqrt(mean x^2), the natural summary of an error norm whose
 * square has a known expectation (e.g. tr I^-1). */
double claims_statistic(const double *x, size_t n, size_t stride, int kind);

#endif
