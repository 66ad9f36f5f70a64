/* claims.h — evaluate an experiment's [claim.*] sections on its results file.
 *
 * Kinds (docs/theory.md §5 protocol):
 *   slope  OLS slope of log(statistic) on log(axis `against`), one row per slice of
 *          the other axes; CI by a paired bootstrap over replicates (the same
 *          resampled replicates at every point, matching common random numbers).
 *          Every CI is Hesterberg's expanded percentile interval (claims.c), whose
 *          coverage tests/test_claims.c measures.
 *   below / above   the statistic at each selected grid point, with its bootstrap CI,
 *          is below / above `value`.
 *   equal  the statistic at each selected point equals `value` (within tol).
 *   ratio  statistic(metric) / statistic(other) at each selected point; below and
 *          above with `other` set bound that ratio instead of the statistic.
 *   exact  a deterministic identity: every replicate value equals `value` within the
 *          numerical tolerance `tol` (no bootstrap); listed apart from claims.
 *
 * Verdicts (docs/theory.md §5.1): each claim names what it rules out.
 *   slope / ratio / equal: `alternative` is the competing value (the nearest other
 *     exponent, constant, or 0 = no effect) and tol < |value - alternative| / 2.  PASS
 *     when the CI lies inside [value - tol, value + tol] (so it excludes the alternative)
 *     and meets [value - bias, value + bias] (bias = 0: the CI contains value; a claim
 *     may state a finite-sample bias bound, derived in its comment).  FAIL when the CI
 *     misses the band altogether, or lies inside it but away from value by more than
 *     bias (the data contradict the theoretical value).  INCONCLUSIVE otherwise: the CI
 *     straddles the band's edge — more replicates are needed to decide.
 *   below / above (a bound) and increasing / decreasing (an ordering): the alternative
 *     is the opposite side.  PASS when the CI is entirely on the claimed side, FAIL when
 *     it is entirely on the other, INCONCLUSIVE when it straddles.
 *   exact: PASS when every replicate is within tol of value, else FAIL.
 * Families (docs/theory.md §5.1): `level` is the confidence of the claim's family of
 * rows — its own rows (family = claim, the default), the rows of every claim naming the
 * same family = NAME, or each row alone (family = row).  Each of a family's k rows gets
 * its CI at 1 - (1 - level)/k (Bonferroni), so a true claim FAILs somewhere with
 * probability <= 1 - level whatever the rows' dependence; `bootstrap` (resamples for a
 * 95% interval) grows with the narrower tail.
 * The statistic is the mean, median or root mean square over finite replicates; NaN (failed fits) are
 * dropped and counted. */
#ifndef PS_EXPERIMENTS_CLAIMS_H
#define PS_EXPERIMENTS_CLAIMS_H

#include <stddef.h>

#include "../core/ps.h"
#include "../results/h5store.h"
#include "config.h"

enum { CLAIM_PASS = 0, CLAIM_FAIL = 1, CLAIM_INCONCLUSIVE = 2 };
extern const char *const claim_verdict_names[]; /* "PASS", "FAIL", "INCONCLUSIVE" */

typedef struct {
  char claim[96];      /* claim name (section without "claim.") */
  char slice[256];     /* "dim=16" or "n=1000, dim=16", "" when none */
  char expect[16];
  double value, tol;
  double alternative;  /* NaN for bounds, orderings and exact checks */
  double bias;         /* the claim's stated finite-sample bias bound (0: none) */
  double measured, lo, hi;
  size_t n_used;       /* finite replicate values used */
  size_t n_missing;    /* NaN values dropped */
  int verdict;         /* CLAIM_PASS / CLAIM_FAIL / CLAIM_INCONCLUSIVE */
  int pass;            /* verdict == CLAIM_PASS */
  int contains_value;  /* the CI contains value (band claims; -1 elsewhere) */
  double level;        /* this row's confidence level: the claim's level shared by its family */
  size_t family_rows;  /* rows of the claim's family (docs/theory.md §5.1; 0 for exact checks) */
  char note[256];      /* why it failed to evaluate or what decided, or "" */
} claim_row;

/* Where a claim's values come from: a results file, or a sweep's in-memory store. */
typedef struct {
  size_t n_axes;
  const h5store_axis *axes;
  size_t R;                /* replicates */
  uint64_t seed;           /* the master seed: bootstrap streams are keyed by it */
  /* the n_cells values of "metrics/EST/M", "truth/Q" or "theory/Q" (malloc'ed) */
  int (*array)(void *ctx, const char *path, double **out, ps_msg *m);
  void *ctx;
} claim_source;

/* The decision rule above, given the CI [lo, hi] of a claim of kind expect; fills
 * row->verdict, pass, contains_value and (when it decides) note.  Exposed for tests. */
void claims_decide(claim_row *row);

/* Evaluate every claim of config against src (see claims_evaluate). */
int claims_evaluate_source(const claim_source *src, const cfg *config, claim_row **rows, size_t *n_rows, ps_msg *m);

/* Evaluate every claim of the config stored in the results file.  *rows is
 * malloc'ed.  A claim that cannot be evaluated (unknown metric or axis, too few
 * values) becomes a failing row with a note; the return is PS_OK unless the file
 * cannot be read or memory runs out. */
int claims_evaluate(const h5read *r, const cfg *config, claim_row **rows, size_t *n_rows, ps_msg *m);

enum {
  CLAIM_STAT_MEAN = 0,
  CLAIM_STAT_MEDIAN = 1,
  CLAIM_STAT_RMS = 2,
  CLAIM_STAT_MAX = 3,
  CLAIM_STAT_Q90 = 4, /* the 0.90, 0.95, 0.99 quantiles (numpy's default linear rule) */
  CLAIM_STAT_Q95 = 5,
  CLAIM_STAT_Q99 = 6
};

/* Statistic (CLAIM_STAT_*) over the finite values of x[0..n-1] at stride `stride`;
 * NaN if none.  rms = sqrt(mean x^2), the natural summary of an error norm whose
 * square has a known expectation (e.g. tr I^-1).  qP = the P% quantile by linear
 * interpolation between order statistics: with v sorted and h = (k - 1) p, v[floor h] +
 * (h - floor h)(v[floor h + 1] - v[floor h]) (numpy.quantile's default, Hyndman-Fan 7):
 * the (1 - delta) quantile of a high-probability bound. */
double claims_statistic(const double *x, size_t n, size_t stride, int kind);

#endif
