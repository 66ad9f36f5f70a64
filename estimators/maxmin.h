/* maxmin.h — the MaxMin policy over U groups' rewards (docs/theory.md §3.5).
 *
 *     max_pi min_u F_u(pi),  F_u(pi) = E_x[ sum_y pi(y|x) r_u(x,y) - beta KL(pi(.|x) || pi_ref(.|x)) ]
 *
 * equals min_{w in simplex} D(w), D(w) = beta E_x log sum_y pi_ref exp(w.r / beta), and the
 * MaxMin policy is pi_w* ∝ pi_ref exp(w*.r / beta), one w* shared by all contexts.
 * Items are grouped in n_contexts contexts of m items each (item i lies in context
 * i / m); x is drawn with the context weights. */
#ifndef PS_ESTIMATORS_MAXMIN_H
#define PS_ESTIMATORS_MAXMIN_H

#include <stddef.h>

#include "../core/ps.h"

typedef struct {
  size_t U;                     /* groups, >= 1 */
  size_t n_contexts;            /* >= 1 */
  size_t m;                     /* items per context, >= 1 */
  const double *reward;         /* U x (n_contexts m) row-major: reward[u * n_items + y] = r_u(y) */
  const double *log_ref;        /* n_contexts m: log pi_ref up to a constant per context (-inf
                                 * allowed for an excluded item), or NULL = uniform */
  const double *context_weight; /* n_contexts, >= 0 with a positive sum (normalised here), or
                                 * NULL = uniform */
  double beta;                  /* KL strength, > 0 */
} maxmin_problem;

typedef struct {
  size_t U, n_items;
  double *w;       /* U: weights on the simplex (maxmin_per_sample_min: all 0, no w exists) */
  double *pi;      /* n_items: the policy; each context sums to 1 */
  double *F;       /* U: group values F_u(pi) */
  double D;        /* D(w), the dual value (NaN for maxmin_per_sample_min) */
  double gap;      /* duality gap D(w) - min_u F_u(pi) >= 0 (NaN for per-sample-min) */
  double kkt;      /* max of |F_u - D| over w_u > 0 and of max(0, D - F_u) over w_u = 0 */
  int iterations;  /* solver iterations (dual: exponentiated-gradient + Newton steps) */
} maxmin_result;

/* Allocate the arrays of res for U groups and n_items items (zeroed).  PS_ENOMEM
 * leaves res empty; maxmin_result_free(NULL-filled res) is safe. */
int maxmin_result_alloc(maxmin_result *res, size_t U, size_t n_items, ps_msg *m);
void maxmin_result_free(maxmin_result *res);

/* The KL-regularised optimum of one reward r (length n_items): pi ∝ pi_ref e^{r/beta}
 * per context, computed with log-sum-exp.  PS_EINVAL on an invalid problem or a
 * non-finite r; pi unchanged then. */
int maxmin_kl_policy(const maxmin_problem *p, const double *r, double *pi, ps_msg *m);

/* F_u(pi) for every group into F (length U), with 0 log 0 = 0 in the KL; -inf when pi
 * puts mass on an item with pi_ref = 0.  PS_EINVAL on an invalid problem or when pi is
 * not a probability vector per context (entries >= 0 summing to 1 within 1e-9). */
int maxmin_group_values(const maxmin_problem *p, const double *pi, double *F, ps_msg *m);

/* The MaxMin policy by the dual: minimise D over the simplex with exponentiated
 * gradient (w_u <- w_u e^{-eta dD/dw_u}, normalised) to locate the active groups, then
 * an active-set Newton method on the face (exact Hessian (1/beta) E_x Cov_pi(r_u, r_v),
 * equality-constrained KKT solve, drop a group that reaches w_u = 0, add a group whose
 * F_u falls below D) until F_u is equal over the active groups to rounding.  Fills
 * res (allocated by maxmin_result_alloc with p->U and n_contexts m).  Verifies the
 * optimality condition — active F_u equal to D, inactive F_u no smaller — to
 * 1e-9 max(1, max|r|) and returns PS_ENOCONV (res filled with the last iterate) if it
 * does not hold.  PS_EINVAL on an invalid problem. */
int maxmin_dual(const maxmin_problem *p, maxmin_result *res, ps_msg *m);

/* The iterative MaxMin of the paper (Chakraborty et al. 2024, [R] in docs/theory.md):
 * at step t the policy is pi_t ∝ pi_ref exp(w_t.r / beta); the worst-off group
 * u_min = argmin_u F_u(pi_t) is found and the policy steps toward that group's own
 * optimum in w space, w_{t+1} = (1 - 1/(t+1)) w_t + (1/(t+1)) e_{u_min}, starting from
 * the uniform w_1 (a Frank-Wolfe / fictitious-play step on D).  After T >= 1 steps res
 * holds w_T, pi_T, F(pi_T), D(w_T) and the residual gap = D(w_T) - min_u F_u(pi_T),
 * which is 0 exactly at the MaxMin policy.  PS_EINVAL on an invalid problem or T = 0. */
int maxmin_iterative(const maxmin_problem *p, size_t T, maxmin_result *res, ps_msg *m);

/* The reference code's variant (docs/theory.md §3.5 [C]): the KL optimum of the
 * per-sample minimum reward, pi ∝ pi_ref exp(min_u r_u(y) / beta).  Generally NOT the
 * MaxMin policy (O13: uniform with min_u F_u = 0.5 < 0.551810).  res->w is all 0, D and
 * gap are NaN, F holds the group values.  PS_EINVAL on an invalid problem. */
int maxmin_per_sample_min(const maxmin_problem *p, maxmin_result *res, ps_msg *m);

#endif
