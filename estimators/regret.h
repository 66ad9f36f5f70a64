/* regret.h — learning a linear reward r_w = w^T psi(s, a, s') from segment
 * comparisons in a known deterministic MDP (docs/theory.md §3.8, §2.10).
 *
 * Two models of the comparison sigma+ (reported preferred) vs sigma-, with the
 * labeller's temperature T:
 *
 *   partial return   P(sigma+ > sigma-) = sigma((PR_w(sigma+) - PR_w(sigma-)) / T)
 *                    PR_w = w^T sum_t gamma^t psi_t: logistic regression on the
 *                    difference of the segments' summed features (convex).
 *   regret           P(sigma+ > sigma-) = sigma((regret_w(sigma-) - regret_w(sigma+)) / T)
 *                    regret_w = V*_w(s_0) - PR_w - gamma^L V*_w(s_L), V*_w from the MDP
 *                    solved for r_w (non-convex, piecewise smooth).
 *
 * Loss: the weighted mean cross-entropy (1/W) sum_i c_i softplus(-z_i), z_i the logit
 * above and c_i the row count (W = sum c_i; soft labels are two rows with counts p
 * and 1 - p).  The fitters see the MDP's dynamics and the features (core/mdp_env.h),
 * never its reward (the truth, sim/mdp.h).  regret_est.c puts them in the estimator
 * table: regret_model and partial_return, fitted on pref_features.traj.
 *
 * Regret gradient (envelope theorem): dV*_w(s)/dw = Psi^{pi*_w}(s), the successor
 * features of the greedy optimal policy of r_w, wherever that policy is unique;
 * at ties the lowest-index greedy policy's Psi is still a subgradient of V*_w
 * (convex and piecewise linear in w), though not necessarily of the loss.  The regret model is solved at a discount gamma < 1 (0.999 by
 * default, as the reference implementation [C]) so that V*_w is finite for every w,
 * including rewards with positive cycles; labels generated at gamma = 1 differ from
 * its regret by O((1 - gamma) |V*|). */
#ifndef PS_ESTIMATORS_REGRET_H
#define PS_ESTIMATORS_REGRET_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/mdp_env.h"
#include "../core/prefdata.h"
#include "../core/ps.h"

typedef struct {
  const mdp_env *env;         /* dynamics (next, terminal, wall) and gamma of the partial returns */
  const mdp_features *f;      /* psi table, dimension d */
  const mdp_segments *seg;    /* the compared segments */
  const pref_data *d;         /* rows: winner / loser = segment ids; count = weights (or NULL) */
  double temperature;         /* T > 0 of the labeller being modelled */
} regret_problem;

typedef struct {
  /* partial-return model */
  double l2;              /* ridge lambda on w, added to the SUMMED loss as (lambda/2)||w||^2 (1e-3):
                             equal-length segments leave r + c unidentified, and noiseless
                             labels are separable; the bias it adds is O(lambda / n) */
  double gamma;           /* discount in (0, 1) of V*_w (regret model) and of the optimal
                             policy reported for either fitted reward (0.999) */
  /* regret model */
  double learning_rate;   /* Adam step size (0.2: rewards of size 10-25 are reached in ~100 steps;
                             0.05 stopped short and 0.5 with annealing did no better) */
  int iterations;         /* Adam steps per restart (1500) */
  int restarts;           /* starts: w = 0 first, then w ~ N(0, init_scale^2) from r (4) */
  double init_scale;      /* (1.0) */
} regret_options;

typedef struct {
  int status;           /* PS_OK, or the failure status */
  size_t d;
  double *w;            /* d: fitted weights, in reward units */
  size_t n_states;
  int32_t *policy;      /* n_states: optimal policy of r_w (solved at options.gamma) */
  int32_t *greedy;      /* n_states: argmax_a r_w(s, a), the one-step greedy use of r_w */
  double loss;          /* mean cross-entropy of the fitted model at w */
  double grad_norm;     /* ||(sub)gradient|| of the mean loss (+ penalty / W for PR) at w */
  double restart_spread;/* regret: largest minus smallest best loss over restarts (0 for PR) */
  int iterations;       /* Newton iterations (PR) or Adam steps in total (regret) */
} regret_result;

/* Defaults as documented in regret_options. */
regret_options regret_options_default(void);

/* Mean cross-entropy of the partial-return model at w, with its gradient in grad
 * (length d) when grad is not NULL.  The penalty is not included.  Inputs are not
 * checked (call on a problem that regret_fit_* accepts). */
double regret_pr_objective(const regret_problem *p, const double *w, double *grad);

/* Mean cross-entropy of the regret model at w with V*_w solved at gamma, and its
 * envelope (sub)gradient in grad when not NULL.  warm (may be NULL) is a policy to
 * start policy iteration from, and receives pi*_w.  NaN (with m filled) when the
 * MDP solve fails. */
double regret_regret_objective(const regret_problem *p, double gamma, const double *w, double *grad,
                               int32_t *warm, ps_msg *m);

/* Fit the partial-return model: Newton-CG through bt_fit, with items = segments
 * and item features = summed psi / T, so theta = w exactly; stopping at gradient
 * norm <= 1e-10 (total weight).  Fills res (release with regret_result_free in every
 * case).  PS_EINVAL on a bad problem or options, the bt_fit status otherwise (e.g.
 * PS_ENOMLE for separable data with l2 = 0). */
int regret_fit_partial_return(const regret_problem *p, const regret_options *o, regret_result *res,
                              ps_msg *m);

/* Fit the regret model by Adam with restarts (first from w = 0, the others from
 * N(0, init_scale^2) draws of r), keeping the lowest-loss iterate over all of
 * them.  Optimisation residuals are reported separately: grad_norm (a subgradient
 * norm, not necessarily small at a kink) and restart_spread.  Fills res (release
 * with regret_result_free in every case). */
int regret_fit_regret(const regret_problem *p, const regret_options *o, gsl_rng *r, regret_result *res,
                      ps_msg *m);

void regret_result_free(regret_result *res);

#endif
