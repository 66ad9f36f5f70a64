/* gpm.h — the general preference model at item level (THEORY.md §2.8, §3.7).
 *
 * Each item y has an embedding v_y in R^{2k}; with 0-based coordinates
 *
 *     s(y, y') = sum_{l<k} (v_y[2l] v_y'[2l+1] - v_y[2l+1] v_y'[2l]),   P(y > y') = sigma(s / tau),
 *
 * a skew-symmetric bilinear form (one 2-D rotation block per l, lambda_l = 1), so it
 * represents intransitive (cyclic) preferences that no Bradley-Terry model can.  The
 * fit minimises, over all item embeddings V (n_items x 2k, row-major),
 *
 *     f(V) = sum_i c_i softplus(-s(w_i, l_i) / tau) + (l2/2) ||V||_F^2
 *
 * with full-batch Adam from V ~ N(0, init_sd^2) (never 0: s is bilinear, so V = 0 is a
 * stationary point), keeping the best of `restarts` runs.  Only the logit matrix
 * S_ij = s(i,j)/tau is identified (rotations within a block and (V, tau) -> (cV, c^2 tau)
 * leave it unchanged), so compare S, never V. */
#ifndef PS_ESTIMATORS_GPM_H
#define PS_ESTIMATORS_GPM_H

#include <gsl/gsl_rng.h>
#include <stddef.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

typedef struct {
  size_t k;        /* number of 2-D blocks; the embedding dimension is 2k (>= 1) */
  double tau;      /* temperature > 0 (0.1 is the reference value) */
  double lr;       /* Adam step size > 0 (1e-2) */
  int iterations;  /* Adam steps per restart (>= 1) */
  double l2;       /* ridge weight >= 0 on ||V||_F^2 / 2 */
  int restarts;    /* independent initialisations (>= 1); the lowest objective is kept */
  double init_sd;  /* standard deviation of the initial V entries > 0 (0.1) */
  double tol;      /* stop a run early when ||grad f|| <= tol x total weight (0: never) */
} gpm_options;

typedef struct {
  size_t n_items, k;
  double *v;          /* n_items x 2k embeddings, row-major (owned) */
  double tau;
  double objective;   /* f(V) at the returned V */
  double loss;        /* the data term alone: sum_i c_i softplus(-s/tau) */
  double grad_norm;   /* ||grad f(V)||_2 at the returned V */
  int iterations;     /* Adam steps of the kept run */
  int converged;      /* 1 when the kept run met tol before its step budget */
  int best_restart;   /* 0-based index of the kept run */
} gpm_result;

/* k = 2, tau = 0.1, lr = 1e-2, 2000 iterations, l2 = 0, one restart, init_sd = 0.1,
 * tol = 1e-8. */
gpm_options gpm_options_default(void);

/* Check every option's range; PS_EINVAL naming the option otherwise. */
int gpm_options_check(const gpm_options *o, ps_msg *m);

/* s(y, y') for two embeddings of dimension 2k (the formula above).  s(a,b) = -s(b,a) and
 * s(a,a) = 0 exactly in floating point (each product pair is evaluated in both orders
 * with the same rounding). */
double gpm_score(const double *va, const double *vb, size_t k);

/* The objective f(V) and, when grad is not NULL, its gradient (n_items x 2k) for data d
 * over d->n_items items.  The derivative of one term with respect to s is
 * -c sigma(-s/tau)/tau, and ds/dv_a = J v_b, ds/dv_b = -J v_a with J the block rotation
 * (v[2l] <- v[2l+1], v[2l+1] <- -v[2l]).  *loss (may be NULL) receives the data term.
 * Does not validate d. */
double gpm_objective(const pref_data *d, const double *v, size_t k, double tau, double l2, double *loss,
                     double *grad);

/* Fit V to d with options o, drawing the initial embeddings from r (so the result is a
 * deterministic function of the data, the options and the state of r).  res receives
 * a newly allocated V; release it with gpm_result_free.  Returns PS_OK (also when the
 * step budget ran out before tol: res->converged says which; the optimisation residual
 * is res->grad_norm), pref_data_check's and gpm_options_check's failures, PS_ENOMEM, or
 * PS_EDOM when the objective becomes non-finite.  On failure res is left empty. */
int gpm_fit(const pref_data *d, const gpm_options *o, gsl_rng *r, gpm_result *res, ps_msg *m);

/* The fitted logit S_ab = s(a, b) / tau. */
double gpm_logit(const gpm_result *res, size_t a, size_t b);

/* Free res->v and zero res; NULL and an empty result are allowed. */
void gpm_result_free(gpm_result *res);

#endif
