/* pessimistic.h — the pessimistic MLE policy of Zhu, Jordan & Jiao (2023) and its
 * greedy baseline (docs/theory.md §3.14).
 *
 * theta_hat is the feature-BT MLE with the per-sample penalty (lambda/2)||theta||^2;
 * Sigma_D = (1/n) sum_i x_i x_i^T (x_i = phi(winner) - phi(loser), n the total
 * weight); A = (Sigma_D + lambda I)^{-1}; the confidence radius
 *
 *     f = C sqrt((d + log(1/delta)) / (gamma^2 n) + lambda B^2);
 *
 * and the pessimistic value of a deterministic policy pi, with w = phi_pi - v,
 * phi_pi = (1/S) sum_s phi(s, pi(s)) (contexts weighted uniformly) and
 * v = (1/S) sum_s E_{pi_ref} phi(s, .):
 *
 *     J(pi) = min_{||theta - theta_hat||_{A^{-1}} <= f} theta^T w = theta_hat^T w - f ||w||_A. */
#ifndef PS_ESTIMATORS_PESSIMISTIC_H
#define PS_ESTIMATORS_PESSIMISTIC_H

#include <stddef.h>

#include "../core/ps.h"

struct est_model;

/* f = C sqrt((d + log(1/delta)) / (gamma^2 n) + lambda B^2).  NaN unless C >= 0,
 * 0 < delta < 1, gamma > 0, n > 0, lambda >= 0, B >= 0. */
double pessimistic_radius(double C, size_t d, double delta, double gamma, double n, double lambda, double B);

/* theta^T w - f sqrt(w^T A w) for a d-vector w and a symmetric positive definite
 * d x d matrix A (row-major). */
double pessimistic_lcb(size_t d, const double *theta, const double *A, double f, const double *w);

/* After a successful fit of a "pessimistic" or "greedy_mle" model: the radius f,
 * the gamma used, and whether the policy is the exact maximiser of J over all
 * deterministic policies (1) or the per-context approximation (0).  Any output
 * pointer may be NULL.  PS_EINVAL before a fit. */
int pessimistic_model_info(const struct est_model *e, double *radius, double *gamma, int *exact);

/* The dimension d and the fitted theta_hat, A = (Sigma_D + lambda I)^{-1}, v (owned
 * by the model). PS_EINVAL before a fit. */
int pessimistic_model_design(const struct est_model *e, size_t *d, const double **theta_hat,
                             const double **A, const double **v);

/* phi_pi (length d) of the deterministic policy choice[s] in 0..m-1 (one per
 * context).  PS_EINVAL on a choice out of range or before a fit. */
int pessimistic_feature_mean(const struct est_model *e, const int *choice, double *phi_pi);

/* The pessimistic value J of the deterministic policy `choice`. NaN on error. */
double pessimistic_value(const struct est_model *e, const int *choice);

/* The quantity of §5 row 7: radius ||(Sigma_D + lambda I)^{-1/2} (phi_star - v)||
 * = f ||phi_star - v||_A for a comparator's feature mean phi_star (length d, e.g.
 * from pessimistic_feature_mean of the optimal policy).  On the event that theta*
 * lies in the confidence set, SubOpt(pi_hat) <= theta*^T w* - J(pi_hat) <=
 * theta*^T w* - J(pi*) <= 2 f ||w*||_A: the guarantee carries a factor 2 (tested).
 * NaN before a fit. */
double pessimistic_bound(const struct est_model *e, const double *phi_star);

/* The comparator-free guarantee 2 f max_pi ||phi_pi - v||_A (max over deterministic
 * policies pi: exact by enumeration when m^S <= 2^20, else the upper bound
 * (1/S) sum_s max_y ||phi(s,y) - v_s||_A by the triangle inequality).  It bounds
 * 2 pessimistic_bound(pi*) for every comparator, so on the event that theta* lies in
 * the confidence set the unregularised suboptimality theta*^T(phi_pi* - phi_pi-hat)
 * (contexts weighted uniformly; the experiments' unreg_suboptimality) is below it.
 * The est_type self_estimate of "pessimistic".  NaN for greedy_mle or before a fit. */
double pessimistic_self_bound(const struct est_model *e);

/* The chosen deterministic policy (one response index per context, owned by the
 * model) and the number of contexts. NULL before a fit. */
const int *pessimistic_choice(const struct est_model *e, size_t *n_ctx);

#endif
