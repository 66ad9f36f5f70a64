/* ties.h — paired comparisons with ties: the Davidson (1970) and Rao–Kupper (1967) models,
 * item scores or linear features (docs/theory.md §3.17).
 *
 * A row is a strict pair (winner w over loser l) or a tie of w and l (pref_data.tie);
 * z = s_w - s_l with s = theta (items) or s = Phi theta (features), and one tie parameter tau:
 *
 *   Davidson,    tau = log nu:   P(w > l) = e^{z/2} / S,  P(tie) = nu / S,
 *                                S = e^{z/2} + e^{-z/2} + nu
 *                (= pi_w / (pi_w + pi_l + nu sqrt(pi_w pi_l)), pi = e^s);
 *   Rao–Kupper,  tau = eta > 0:  P(w > l) = sigma(z - eta),  P(l > w) = sigma(-z - eta),
 *                                P(tie) = 1 - both = expm1(2 eta) sigma(z - eta) sigma(-z - eta).
 *
 * The objective is the summed negative log-likelihood f(theta, tau) = -sum_i c_i log P(row i)
 * (no combinatorial constants; l2 > 0 adds (l2/2)||theta||^2).  It is minimised by Newton's
 * method (core/newton) with the exact Hessian, each Newton step solved by Jacobi-preconditioned
 * CG on it: for features the Hessian is dense in the d + 1 parameters, built through item space
 * (bt_design_hessian); for items CG's products come from per-row weights of one cached pass
 * (ties.c), and the dense matrix is built once, for the covariance (one Cholesky
 * factorisation, at the end).  Davidson's likelihood is an
 * exponential family in (theta, log nu), so its Hessian is the Fisher information and f is
 * convex; Rao–Kupper's is the observed information (f is convex in (theta, eta) as well: both
 * log sigma terms are concave in (z, eta) and log expm1(2 eta) is concave).
 *
 * Items: scores are centred; the Hessian is singular along (1, 0), and the step and the
 * covariance use H + vv^T with v = (1, 0)/sqrt(m), whose inverse minus vv^T is H's
 * pseudo-inverse on the sum-zero space (as bt_covariance).  Existence (items, l2 = 0): the
 * MLE is finite iff there is at least one tie and one strict row and the graph with an edge
 * w -> l per win and both ways per tie is strongly connected (checked before fitting). */
#ifndef PS_ESTIMATORS_TIES_H
#define PS_ESTIMATORS_TIES_H

#include <stddef.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

typedef enum { TIES_DAVIDSON = 0, TIES_RAOKUPPER = 1 } ties_model;

typedef struct {
  ties_model model;
  double l2;       /* lambda >= 0 on theta (not on tau) */
  double tol;      /* stop at ||grad|| <= tol x total weight (1e-10) */
  int max_iter;    /* Newton iterations (100) */
  int want_cov;    /* keep the (d+1) x (d+1) covariance at the solution */
} ties_options;

typedef struct {
  int status;       /* PS_OK, PS_ENOMLE, PS_ENOCONV, PS_ESINGULAR, PS_EINVAL, PS_ENOMEM */
  size_t d;
  double *theta;    /* d; centred for items */
  double tau;       /* log nu (Davidson) or eta (Rao–Kupper) */
  double *cov;      /* (d+1) x (d+1), tau last, when asked for: inverse Hessian of f
                       (the pseudo-inverse on the sum-zero space for items) */
  double loglik;    /* sum_i c_i log P(row i) */
  double objective; /* -loglik + (l2/2) ||theta||^2 */
  double grad_norm;
  int iterations;
} ties_result;

ties_options ties_options_default(ties_model model);

/* Fit.  res must be released with ties_result_free whatever the status. */
int ties_fit(const pref_data *d, const pref_features *f, const ties_options *o, ties_result *res, ps_msg *m);
void ties_result_free(ties_result *r);

/* f at x = (theta, tau) (d + 1 values); grad (d + 1) and the Hessian H ((d+1)^2, row-major,
 * tau last) when not NULL; *loglik when not NULL.  +INFINITY outside the domain (eta <= 0).
 * Inputs are not checked.  NaN on ENOMEM. */
double ties_objective(const pref_data *d, const pref_features *f, ties_model model, double l2, const double *x,
                      double *grad, double *H, double *loglik);

/* The model's three probabilities (win of the first item, tie, loss) at margin z. */
void ties_probs(ties_model model, double z, double tau, double *p_win, double *p_tie, double *p_loss);

/* The expected (Fisher) information of one comparison about (z, tau) at the model's own
 * (z, tau): info[0] = I_zz, info[1] = I_z,tau, info[2] = I_tau,tau, the mean of the row
 * Hessians above over the three outcomes (win at z, loss: a win at -z with the z
 * derivative's sign flipped, tie).  Davidson's Hessian is the same for every outcome, so
 * its information is that Hessian.  I_zz and I_tau,tau are even in z, I_z,tau odd. */
void ties_fisher(ties_model model, double z, double tau, double info[3]);

/* The existence check above (items): PS_OK or PS_ENOMLE with the reason.  item_name may be NULL. */
int ties_check_items(const pref_data *d, const char *const *item_name, ps_msg *m);

#endif
