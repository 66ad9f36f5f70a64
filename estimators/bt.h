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
  int firth;        /* 1: the Firth / Jeffreys-prior penalised fit below (logistic link
                       only); 0 (the default): the MLE or L2 fit, untouched by this flag */
} bt_options;

typedef struct {
  int status;        /* PS_OK, PS_ENOMLE, PS_ESINGULAR, PS_ENOCONV, PS_EDOM */
  size_t d;
  double *theta;     /* d; centred for items */
  double *hessian;   /* d x d at theta when asked for (or needed), else NULL */
  double loglik;     /* sum_i c_i log F(margin_i) */
  double objective;  /* -loglik + (lambda/2)||theta||^2; with firth, also - (1/2) log det I */
  double grad_norm;  /* Euclidean norm of the gradient of the objective (firth: of the
                        penalised objective, i.e. the modified score's norm) */
  int iterations;    /* Newton iterations (firth: fixed-point iterations) */
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

/* Standard errors sqrt(diag C) with C as bt_covariance's, from the Hessian H (dim x dim) of
 * any model on the items (f == NULL or f->phi == NULL) or features of f: what the
 * estimators' se query reports.  PS_ESINGULAR, PS_ENOMEM. */
#define BT_SE_MAX_DIM 256 /* the estimators keep their Hessian for the se query up to this dim */
int bt_standard_errors(const double *H, size_t dim, const pref_features *f, double *se, ps_msg *m);

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

/* ------------------------------------------------------------------ Firth
 *
 * bt_fit with o->firth = 1 (bt_firth.c; docs/theory.md §3.1) solves grad f = 0,
 *
 *     f(theta) = -log L(theta) - (1/2) log det I(theta) + (lambda/2) ||theta||^2,
 *     I(theta) = sum_i c_i p_i (1 - p_i) x_i x_i^T,
 *
 * x_i = phi(winner) - phi(loser) (features) or e_w - e_l (items), p_i = sigma(x_i^T theta):
 * Firth's (1993) bias-reduced estimate, the posterior mode under Jeffreys' prior
 * (times a Gaussian prior of precision lambda when l2 > 0; the Jeffreys factor is
 * the likelihood's own I, without lambda).  For items I is the weighted Laplacian,
 * singular along 1, and det is its pseudo-determinant det(I + 11^T/m) (m times the
 * determinant with one item pinned: a constant factor).  The estimate is finite on
 * every data set whose design identifies theta (Kosmidis & Firth 2021), separable
 * ones included.  f need not be convex: the root returned is the one the
 * pseudo-data fixed point reaches from 0 (or theta0), as R's brglm; it minimises f
 * wherever f has a single stationary point, and on rare sparse designs it is a
 * saddle between two minima (bt_firth.c).  Identification: items need a connected
 * comparison graph (else PS_ENOMLE), features differences spanning R^d (else
 * PS_ESINGULAR), whatever lambda.  Logistic link only (PS_EINVAL for probit).  With want_hessian, res->hessian is the exact Hessian of
 * f (bt_firth_hessian), so bt_covariance gives its inverse. */

/* The fit (bt_fit calls it when o->firth; inputs already checked there). */
int bt_firth_fit(const pref_data *d, const pref_features *f, const bt_options *o, bt_result *res, ps_msg *m);

/* f(theta) above and its gradient (when grad != NULL); D (if not NULL) gets the
 * likelihood's curvature weights c_i p_i (1 - p_i), *loglik the log-likelihood.
 * bt_objective calls it when o->firth.  +INFINITY (gradient NaN) when I(theta) is
 * singular on the identified space; NaN on ENOMEM. */
double bt_firth_objective(const pref_data *d, const pref_features *f, const bt_options *o,
                          const double *theta, double *grad, double *D, double *loglik);

/* The exact Hessian of f at theta (d x d; for items H 1 = 0):
 *   I + lambda Id - (1/2) X^T diag(c w'' q) X + (1/2) X^T diag(c w') (Q o Q) diag(c w') X,
 * w = p(1-p), w' = w(1-2p), w'' = w(1-6w), Q = X I^+ X^T, q = diag Q (rows aggregated by
 * unordered pair: cost O(P^2) for P distinct pairs, plus one d x d inverse). */
int bt_firth_hessian(const pref_data *d, const pref_features *f, const bt_options *o, const double *theta,
                     double *H, ps_msg *m);

/* PS_OK when every item is linked to every other through comparisons in either
 * direction (what the Firth item fit needs), else PS_ENOMLE with a sentence giving
 * the component count and an item on each side.  item_name may be NULL. */
int bt_check_connected(const pref_data *d, const char *const *item_name, ps_msg *m);

#endif
