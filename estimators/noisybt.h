/* noisybt.h — NoisyBT: Bradley-Terry with per-annotator competence and position bias,
 * fitted by direct maximum a posteriori with L-BFGS (docs/theory.md §2.4, §3.3a).
 *
 * Annotator w has skill gamma_w and position bias q_w.  For a comparison shown as
 * (first i, second j), with y = +1 when the first-shown item wins,
 *
 *     P(y = +1 | i, j, w) = sigma(gamma_w) sigma(s_i - s_j) + (1 - sigma(gamma_w)) sigma(q_w)
 *
 * i.e. with probability sigma(gamma_w) the annotator judges by the scores, otherwise
 * picks the first-shown item with probability sigma(q_w).  Scores are one per item
 * (phi == NULL) or s = Phi theta.  Reductions: sigma(gamma) = 1 is BT; q = 0 is
 * symmetric flips with eps = (1 - sigma(gamma))/2 (docs/theory.md §5 rows 23, 24).
 *
 * Objective (minimised), W = total weight:
 *
 *     f = -sum_r c_r log P(y_r | ...)
 *         + anchor sum_i [softplus(s_i - x0) + softplus(x0 - s_i)]     (items, x0 = 0)
 *         + (l2/2) ||theta||^2                                          (features)
 *         + (l2_skill/2) sum_w (gamma_w - skill_mean)^2 + (l2_bias/2) sum_w q_w^2
 *
 * The annotator priors are real priors: without them an annotator whose few labels all
 * agree with the scores has gamma -> +inf, one whose labels all go against them
 * gamma -> -inf, and q of a careful annotator is unidentified (it multiplies
 * 1 - sigma(gamma) ~ 0).  The skill prior also holds the score scale, which trades off
 * against competence: with one annotator (or a few) that trade-off is a nearly flat
 * ridge and the scores can stretch several-fold (8 items x 300 labels of one annotator:
 * scores ~10 under the default prior); use BT there, or pin gamma with a stiff prior.
 * With many annotators the scale is over-corrected by an amount that falls with the
 * labels per annotator (measured 1.18x at 200, 1.13x at 800 where plain BT gives 0.80x);
 * rankings and the ordering of competences are reliable. */
#ifndef PS_ESTIMATORS_NOISYBT_H
#define PS_ESTIMATORS_NOISYBT_H

#include <stddef.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

typedef struct {
  double anchor;     /* r >= 0: weight of the anchor prior on item scores (1e-5; item model) */
  double l2;         /* lambda >= 0 on the feature weights, (lambda/2)||theta||^2 (1e-5; features) */
  double l2_skill;   /* precision >= 0 of the N(skill_mean, 1/l2_skill) prior on each gamma (1) */
  double skill_mean; /* prior mean of gamma (logit 0.9 = 2.197; it holds the scale, see noisybt.c) */
  double l2_bias;    /* precision >= 0 of the N(0, 1/l2_bias) prior on each q (0.1) */
  int fit_bias;      /* 1: fit q (needs first_won); 0: q fixed at 0 */
  double init_competence; /* sigma(gamma) at the start, in (1/2, 1) (0.9) */
  double tol;        /* stop at ||grad f|| <= tol * max(W, 1) (1e-8) */
  int max_iter;      /* L-BFGS iterations (2000) */
} noisybt_options;

typedef struct {
  int status;           /* PS_OK, PS_ENOCONV, PS_EINVAL, PS_EDOM, PS_ENOMEM */
  int converged;        /* 1 when ||grad|| <= tol * max(W, 1) */
  int iterations;       /* L-BFGS iterations */
  int evaluations;      /* objective + gradient evaluations (one pass over the data each) */
  int bias_fitted;      /* 0 when fit_bias = 0 or the presentation order is unknown */
  size_t d;             /* length of theta */
  size_t n_annotators;
  double *theta;        /* d: centred item scores, or feature weights */
  double *skill;        /* n_annotators: gamma_w */
  double *bias;         /* n_annotators: q_w (all 0 when !bias_fitted) */
  double *comparisons;  /* n_annotators: total weight of each annotator's rows */
  double loglik;        /* sum_r c_r log P(y_r) at the solution */
  double objective;     /* f at the solution */
  double grad_norm;     /* ||grad f|| at the solution, all parameters */
} noisybt_result;

/* Defaults listed beside the fields above. */
noisybt_options noisybt_options_default(void);

/* PS_OK when every option is in range, else PS_EINVAL naming the option. */
int noisybt_options_check(const noisybt_options *o, ps_msg *m);

/* log P(y | margin, skill, bias) of one comparison: margin = s_first - s_second,
 * first_won = 1 when the first-shown item won (y = +1).  Evaluated as a log-sum-exp of
 * log sigma terms written with softplus, so it is finite for every finite input. */
double noisybt_log_prob(double skill, double bias, double margin, int first_won);

/* Fit.  Annotator ids from d->annotator (NULL: one annotator); presentation order from
 * d->first_won (NULL: unknown, and then q is fixed at 0 whatever fit_bias says:
 * P(winner wins) = sigma(gamma) sigma(s_w - s_l) + (1 - sigma(gamma))/2 needs no
 * order).  Starts from a plain BT fit (bt_fit, lambda = 0.1) and sigma(gamma) =
 * init_competence, q = 0.  Returns PS_OK (converged, or stalled in the line search
 * with a gradient below 1000 tol W: converged = 0), PS_ENOCONV when it stops with a
 * larger gradient (res is then the last iterate), or an input error (PS_EINVAL, PS_EDOM)
 * before any work.  res must be released with noisybt_result_free in every case. */
int noisybt_fit(const pref_data *d, const pref_features *f, const noisybt_options *o, noisybt_result *res,
                ps_msg *m);

void noisybt_result_free(noisybt_result *r);

/* The objective f above at (theta, skill, bias) (bias may be NULL: q = 0), with its
 * gradient in g_theta (length f->d), g_skill and g_bias (length d->n_annotators) when
 * these are not NULL, and sum_r c_r log P(y_r) in *loglik when not NULL.  fit_bias in o
 * and a NULL first_won fix q at 0 exactly as in noisybt_fit (g_bias is then 0).  Inputs
 * are not checked; NaN on ENOMEM. */
double noisybt_objective(const pref_data *d, const pref_features *f, const noisybt_options *o,
                         const double *theta, const double *skill, const double *bias, double *g_theta,
                         double *g_skill, double *g_bias, double *loglik);

#endif
