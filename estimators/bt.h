/* bt.h — Bradley-Terry maximum likelihood, item scores or linear features.
 *
 * Model: P(w beats l) = F(s_w - s_l), s = Phi theta (features) or s = theta (items),
 * F = sigma (logistic, BT) or Phi (probit, Thurstone).  Objective (docs/theory.md §3.1),
 * with the penalty on the SUMMED negative log-likelihood:
 *
 *     f(theta) = sum_i c_i * l(s_w(i) - s_l(i)) + (lambda/2) ||theta||^2,  l(z) = -log F(z)
 *
 * This is liblinear's convention with C = 1/lambda; docs/theory.md's per-sample
 * lambda_n (mean loss + lambda_n/2 ||theta||^2) is lambda = n lambda_n, and its item
 * alpha ||theta||^2 is lambda = 2 alpha.  Item scores are reported centred
 * (sum theta = 0); every L2 optimum already is.
 *
 * Solver: Newton-CG with Hessian-vector products computed through item space
 * (Phi v, a scatter over comparisons, Phi^T b), so one pass costs O(n + n_items d)
 * and features are never materialised per comparison.  The curvature weights are
 * kept in single precision (4 bytes per comparison): they only steer the inexact
 * Newton direction, while the gradient and the stopping test are in double.
 * Jacobi preconditioning for items; a line search on the directional derivative
 * (exp-only passes; the loss with its logs is evaluated once, at the end); stop at
 * ||grad|| <= tol * (total weight).  Existence (lambda = 0): the item MLE exists
 * iff the directed win graph is strongly connected, checked before fitting; a
 * feature fit that reaches all-positive margins has a separating direction (a
 * certificate that no MLE exists); a feature design that does not span R^d has no
 * unique MLE (checked on the exact Hessian). */
#ifndef PS_ESTIMATORS_BT_H
#define PS_ESTIMATORS_BT_H

#include <stddef.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

typedef enum { BT_LINK_LOGISTIC = 0, BT_LINK_PROBIT = 1 } bt_link;

typedef struct {
  double l2;        /* lambda >= 0, see above */
  bt_link link;
  double tol;       /* gradient tolerance relative to the total weight (1e-10) */
  int max_iter;     /* Newton iterations (100) */
  int want_hessian; /* keep the exact Hessian at the solution (for standard errors) */
  const double *theta0; /* warm start (length d, copied; centred for items), NULL = zeros */
} bt_options;

typedef struct {
  int status;        /* PS_OK, PS_ENOMLE, PS_ESINGULAR, PS_ENOCONV, PS_EDOM */
  size_t d;
  double *theta;     /* d; centred for items */
  double *hessian;   /* d x d at theta when asked for (or needed), else NULL */
  double loglik;     /* sum_i c_i log F(margin_i) */
  double objective;  /* -loglik + (lambda/2)||theta||^2 */
  double grad_norm;  /* Euclidean norm of the gradient of the objective */
  int iterations;    /* Newton iterations */
  int cg_iterations; /* total conjugate-gradient iterations */
} bt_result;

/* Default options: lambda 0, logistic, tol 1e-10, 100 iterations, no Hessian, start at 0. */
bt_options bt_options_default(void);

/* Fit.  Returns PS_OK, or the failure status (also in res->status) with a message
 * explaining it; res is filled as far as the fit got (theta is finite) and must be
 * released with bt_result_free in every case.  Invalid input (ids out of range,
 * non-finite counts or features) gives PS_EINVAL / PS_EDOM before any work. */
int bt_fit(const pref_data *d, const pref_features *f, const bt_options *o, bt_result *res,
           ps_msg *m);

void bt_result_free(bt_result *r);

/* Covariance of theta: H^{-1} for features, the pseudo-inverse of the Laplacian
 * Hessian on {sum theta = 0} for items, (H + 11^T/d)^{-1} - 11^T/d.  cov is d x d.
 * Needs res->hessian.  PS_ESINGULAR when H is not positive definite on that space. */
int bt_covariance(const bt_result *res, const pref_features *f, double *cov, ps_msg *m);

/* H = sum_i w_i x_i x_i^T + diag_add I with x_i = phi(winner) - phi(loser), built
 * per context through the m x m weighted Laplacian of each context (cost
 * O(n + contexts (m^2 d + m d^2))).  w has one weight per row.  H is d x d. */
int bt_design_hessian(const pref_data *d, const pref_features *f, const double *w, double diag_add,
                      double *H, ps_msg *m);

/* Objective f(theta) of the options' model; grad (length d) and D (per-row
 * curvature weights c_i l''(margin_i), length n) are filled when not NULL, and
 * *loglik (if not NULL) gets sum c_i log F(margin_i).  Inputs are not checked:
 * call after a successful bt_fit or on data known valid.  NaN on ENOMEM. */
double bt_objective(const pref_data *d, const pref_features *f, const bt_options *o,
                    const double *theta, double *grad, double *D, double *loglik);

/* The existence check for the unpenalised item MLE: PS_OK when the directed
 * win graph is strongly connected, else PS_ENOMLE with a sentence naming the
 * reason (disconnected graph with its component count, or an item that never
 * wins / never loses, by id).  item_name may be NULL (ids are printed). */
int bt_check_items(const pref_data *d, const char *const *item_name, ps_msg *m);

#endif
