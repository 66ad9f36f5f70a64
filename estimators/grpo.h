/* grpo.h — group-robust preference optimisation (GRPO of Ramesh et al. 2024,
 * docs/theory.md §3.12; not DeepSeek's group-relative PO).
 *
 * Log-linear policy pi_theta(y|x) = pi_ref(y|x) e^{theta^T phi(x,y)} / Z(x), so the
 * DPO log-ratio difference of a comparison is Delta_i = theta^T x_i with
 * x_i = phi(winner) - phi(loser) (the partitions cancel).  Group g's loss is the
 * weighted mean over its rows plus the common L2 term:
 *
 *   L_g(theta) = (1/n_g) sum_{i in g} c_i l(Delta_i) + lambda ||theta||^2,   n_g = sum_{i in g} c_i
 *   DPO: l = softplus(-beta Delta)      IPO: l = (Delta - 1/(2 tau))^2
 *
 * and the objective is min_{||theta|| <= B} max_{alpha in simplex} sum_g alpha_g L_g
 * (the common lambda term passes through the max because sum alpha = 1). */
#ifndef PS_ESTIMATORS_GRPO_H
#define PS_ESTIMATORS_GRPO_H

#include <stddef.h>
#include <stdint.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

typedef enum { GRPO_DPO = 0, GRPO_IPO = 1 } grpo_loss;

typedef struct {
  grpo_loss loss;
  double beta;   /* DPO inverse temperature (> 0) */
  double tau;    /* IPO: target margin 1/(2 tau) (> 0) */
  double lambda; /* L2 on every group loss (>= 0) */
} grpo_spec;

/* The data of one fit in item space: the feature view, the rows' items, weights
 * and groups; groups with no rows are kept (n_g = 0) and ignored. */
typedef struct {
  const pref_features *f;
  size_t n, d, K;
  const int32_t *winner, *loser; /* borrowed from pref_data */
  double *c;                     /* n row weights */
  int32_t *group;                /* n group ids in 0..K-1 */
  double *ng;                    /* K group weights n_g */
  double xmax;                   /* max_i ||x_i|| */
} grpo_problem;

/* Build the problem from data (groups = annotator ids, one group when annotator is
 * NULL) and the feature view (phi NULL: one-hot items).  PS_EINVAL on empty or
 * invalid data, PS_ENOMEM.  Free with grpo_problem_free (also after failure). */
int grpo_problem_alloc(grpo_problem *p, const pref_data *d, const pref_features *f, ps_msg *m);
void grpo_problem_free(grpo_problem *p);

/* Group losses L (length K; NaN for empty groups) at theta, and their gradients G
 * (K x d, row-major) when G is not NULL.  Cost O(n + n_items d) per call. */
int grpo_group_losses(const grpo_problem *p, const grpo_spec *s, const double *theta, double *L, double *G);

/* max over non-empty groups of L_g(theta). */
double grpo_worst_loss(const grpo_problem *p, const grpo_spec *s, const double *theta);

/* GR-IPO closed form at fixed group weights w (length K, >= 0, not all zero on the
 * non-empty groups): theta(w) minimises sum_g w_g L_g(theta) (IPO), i.e.
 *
 *   theta = (Y^T W Y + lambda' I)^{-1} Y^T W 1 / (2 tau),  W = diag(c_i w_g(i) / n_g(i)),
 *
 * with lambda' = lambda sum_g w_g.  This is docs/theory.md's (Y^T W_alpha Y + lambda I)^{-1}
 * Y^T W_alpha 1/(2 beta) with the mean-loss normalisation 1/n_g inside W_alpha and
 * beta written tau (TRL's name).  The norm bound B is not applied.  PS_ESINGULAR
 * when the system is not positive definite. */
int grpo_ipo_closed_form(const grpo_problem *p, const grpo_spec *s, const double *w, double *theta, ps_msg *m);

/* The GRPO theta-update alone with the weights w frozen: projected gradient descent
 * on sum_g w_g L_g over ||theta|| <= B (B = INFINITY: no projection) with the step
 * 1/S, S an upper bound of the smoothness constant, from theta (in/out) until the
 * gradient-mapping norm is <= tol or max_iter steps.  *iters receives the steps.
 * PS_ENOCONV at max_iter. */
int grpo_solve_fixed(const grpo_problem *p, const grpo_spec *s, const double *w, double B, double tol,
                     long max_iter, double *theta, long *iters, ps_msg *m);

/* Options of the GRPO algorithm (§3.12). */
typedef struct {
  long T;            /* iterations */
  double eta_theta;  /* theta step = eta_theta B / (G sqrt T), G a gradient bound */
  double eta_alpha;  /* alpha step = eta_alpha sqrt(log K / T) */
  double chi;        /* w_g = (1-chi)/K + chi alpha_g */
  double C;          /* alpha bonus C / sqrt(n_g) */
  double B;          /* norm bound of theta */
} grpo_options;

/* Run T iterations from theta = 0, alpha uniform over the non-empty groups:
 *   alpha_g <- alpha_g exp(eta_alpha chi [L_g(theta_t) + C/sqrt(n_g)]), normalised;
 *   theta_{t+1} = Proj_B(theta_t - eta_theta sum_g w_g grad L_g(theta_t)).
 * Writes the averaged iterate theta_bar = (1/T) sum_{t<T} theta_t, the last iterate
 * theta_last = theta_T and alpha_T (any may be NULL).  PS_EINVAL on bad options,
 * PS_EDOM if a loss becomes non-finite. */
int grpo_run(const grpo_problem *p, const grpo_spec *s, const grpo_options *o, double *theta_bar,
             double *theta_last, double *alpha, ps_msg *m);

/* The exact min-max value min_{||theta|| <= B} max_g L_g(theta) by a log-barrier
 * interior-point method on the epigraph form (minimise t subject to L_g(theta) <= t
 * and ||theta||^2 <= B^2; Newton with the exact Hessian), to a duality gap below
 * 1e-11 (B = INFINITY: no ball constraint).  theta (d), alpha (K, the dual weights
 * from the central path) and value may be NULL.  Meant for small d (dense d x d
 * Newton systems).  PS_ENOCONV if Newton stalls. */
int grpo_minmax_exact(const grpo_problem *p, const grpo_spec *s, double B, double *theta, double *alpha,
                      double *value, ps_msg *m);

/* After a fit of a "grpo" model: the last iterate (d) and alpha_T (K), owned by the
 * model.  PS_EINVAL before a fit. */
struct est_model;
int grpo_model_state(const struct est_model *e, size_t *d, size_t *K, const double **theta_last,
                     const double **alpha);

#endif
