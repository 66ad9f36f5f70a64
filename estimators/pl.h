/* pl.h — Plackett-Luce maximum likelihood for rankings (core/rankdata.h), item scores
 * or linear features (docs/theory.md §3.18; Plackett 1975, Luce 1959, Hunter 2004).
 *
 * Model: utility u_i = theta_i (items) or phi_i^T theta (features); a ranking r of
 * weight c_r is the choices of rankdata.h's stages, so
 *
 *     f(theta) = -sum_r c_r sum_{t < T_r} [u_{i_t} - log sum_{v >= t} exp u_{i_v}]
 *                + (lambda/2) ||theta||^2,
 *
 * with no combinatorial constant: -f at lambda = 0 is the log-likelihood of the
 * rankings as modelled (what survival::clogit reports on the exploded rows).  A
 * full ranking of 2 is one Bradley-Terry comparison, so on pairs f is bt's.
 *
 * Solver: damped Newton (core/newton.h) from 0.  The direction solves
 * (H + 11^T/m) p = -g for items (H 1 = 0: only contrasts are identified; the
 * gradient sums to 0, so p does too), H p = -g for features; by Cholesky on the
 * dense Hessian when dim <= PL_DENSE_MAX, else by Jacobi-preconditioned conjugate
 * gradients with Hessian-vector products computed per ranking in O(size) (no
 * matrix; for items from the curvature e_v, c e_v A_v, 1/S_t^2 cached once per
 * direction in single precision, as bt.c keeps its curvature weights: it only steers
 * the inexact direction, the gradient and the stopping test are in double; forcing
 * term min(0.1, sqrt(||g|| / weight))).  Stop at ||grad|| <= tol x total weight.
 * Existence (items, lambda = 0): the MLE exists iff the "ranked above" graph of the
 * full breaking is strongly connected (Hunter 2004, assumption 1); pl_check_items
 * checks it by bt_check_items on the adjacent breaking's pairs, whose graph has the
 * same transitive closure. */
#ifndef PS_ESTIMATORS_PL_H
#define PS_ESTIMATORS_PL_H

#include <stddef.h>

#include "../core/prefdata.h"
#include "../core/ps.h"
#include "../core/rankdata.h"

#define PL_DENSE_MAX 3000

typedef struct {
  double l2;        /* lambda >= 0 */
  double tol;       /* gradient tolerance relative to the total weight (1e-10) */
  int max_iter;     /* Newton iterations (100) */
  int want_hessian; /* keep the exact Hessian at the solution (dim x dim) */
  size_t dense_max; /* Cholesky directions up to this dim, CG above (0: PL_DENSE_MAX) */
} pl_options;

typedef struct {
  int status;       /* PS_OK, PS_ENOCONV, PS_EDOM, PS_ESINGULAR */
  size_t d;
  double *theta;    /* d; centred for items */
  double *hessian;  /* d x d at theta when asked for, else NULL */
  double loglik;    /* sum_r c_r log P(ranking r) */
  double objective; /* -loglik + (lambda/2) ||theta||^2 */
  double grad_norm;
  int iterations;
  int cg_iterations;
} pl_result;

/* l2 0, tol 1e-10, 100 iterations, no Hessian. */
pl_options pl_options_default(void);

/* Fit on d with the feature view f (f == NULL or f->phi == NULL: items, dim =
 * d->n_items).  Returns PS_OK or the failure status (also in res->status) with a
 * message; res must be released with pl_result_free in every case.  PS_EINVAL for
 * invalid rankings (rank_data_check) or a feature view of another item count,
 * PS_EDOM for non-finite features. */
int pl_fit(const rank_data *d, const pref_features *f, const pl_options *o, pl_result *res, ps_msg *m);

void pl_result_free(pl_result *r);

/* f(theta) of the options' lambda; grad (dim) and H (dim x dim, the exact Hessian,
 * without any 11^T term) when not NULL; *loglik when not NULL.  Inputs not
 * checked.  NaN when out of memory. */
double pl_objective(const rank_data *d, const pref_features *f, double l2, const double *theta, double *grad,
                    double *H, double *loglik);

/* H v for the Hessian of f at theta, without forming H (O(total offered + n_items d)). */
int pl_hessian_vector(const rank_data *d, const pref_features *f, double l2, const double *theta, const double *v,
                      double *Hv);

/* Existence of the unpenalised item MLE (Hunter 2004): PS_OK, or PS_ENOMLE with
 * bt_check_items' sentence on the full breaking's pairs.  item_name may be NULL. */
int pl_check_items(const rank_data *d, const char *const *item_name, ps_msg *m);

/* The expected Fisher information, in the utilities, of one ranking of an offered set of s
 * items with `stages` Plackett-Luce choices (s - 1 for a full ranking, top for a top-m one) at
 * the utilities u (s of them): I = sum over the remaining sets R (|R| >= 2, reached after fewer
 * than `stages` choices) of P(R) (diag p_R - p_R p_R^T), p_R the choice probabilities within R
 * and P(R) the probability that the items outside R were the first chosen (the recursion
 * P(R) = sum_{x not in R} P(R + x) pi_x / pi(R + x), pi = e^u).  The information does not
 * depend on the outcome's realisation beyond the remaining sets, so this is exact
 * (docs/theory.md §3.18): at u = 0 a full ranking of k has tr I = sum_{r=2..k} (1 - 1/r)
 * = k - H_k.  I (s x s, may be NULL) receives the matrix; returns tr I, NaN for s >
 * PL_INFO_MAX_SET (2^s subsets) or out of memory. */
#define PL_INFO_MAX_SET 16
double pl_expected_information(const double *u, size_t s, size_t stages, double *I);

#endif
