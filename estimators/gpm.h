/* gpm.h — the general preference model (docs/theory.md §2.8, §3.7), at item level or with
 * linear features.
 *
 * Item level: each item y has an embedding v_y in R^{2k}; with 0-based coordinates
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
 * leave it unchanged), so compare S, never V.
 *
 * Linear features (docs/theory.md §3.7 "v = W psi(y)"): when the feature view has phi != NULL
 * (n_items x d, row-major) the embedding is v_y = W phi(y) with one shared matrix
 * W in R^{2k x d} (row-major), so
 *
 *     s(y, y') = phi(y)^T W^T J W phi(y'),     J = blockdiag([[0, 1], [-1, 0]]) (k blocks),
 *
 * a skew-symmetric bilinear form in the features of rank <= 2k.  The loss, the
 * temperature, Adam and the restarts are the item-level ones, with W in place of V:
 *
 *     f(W) = sum_i c_i softplus(-s(w_i, l_i) / tau) + (l2/2) ||W||_F^2,   W ~ N(0, init_sd^2),
 *
 * and by the chain rule grad_W f = G^T Phi + l2 W, where G (n_items x 2k) is the
 * item-level gradient at V = Phi W^T.  The fitted logit S_ab = s(a,b)/tau is computed
 * from phi(a), phi(b) and W, so it applies to any item with features, including items of
 * contexts never compared.  Identification as above: W only up to W -> R W with R a
 * rotation within each block (and the (W, tau) scale), so compare S, never W.
 * Special case (Bradley-Terry): with k = 1, W's first row theta and its second row
 * picking a feature that is constantly 1, s(a, b) = theta^T phi(a) - theta^T phi(b). */
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
  double *v;          /* item level: n_items x 2k embeddings, row-major (owned); NULL with features */
  size_t d;           /* features: their dimension (0 at item level) */
  double *w;          /* features: the 2k x d matrix W, row-major (owned); NULL at item level */
  const double *phi;  /* features: the n_items x d features fitted on (borrowed: they must
                       * outlive the result); NULL at item level */
  double tau;
  double objective;   /* f(V) (or f(W)) at the returned V (or W) */
  double loss;        /* the data term alone: sum_i c_i softplus(-s/tau) */
  double grad_norm;   /* ||grad f||_2 at the returned V (or W) */
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

/* Features: s(a, b) for v_a = W pa, v_b = W pb, W 2k x d row-major and pa, pb feature
 * rows of length d, i.e. sum_l (w_{2l}.pa)(w_{2l+1}.pb) - (w_{2l+1}.pa)(w_{2l}.pb) with
 * w_r the rows of W.  Exactly skew-symmetric, as gpm_score. */
double gpm_feature_score(const double *w, size_t k, size_t d, const double *pa, const double *pb);

/* Features: the objective f(W) and, when grad is not NULL, its gradient (2k x d,
 * row-major) for data d over d->n_items items with features phi (d->n_items x dim,
 * row-major).  work holds 2 x d->n_items x 2k doubles (V = Phi W^T and its gradient).
 * *loss (may be NULL) receives the data term.  Validates neither d nor phi. */
double gpm_feature_objective(const pref_data *d, const double *phi, size_t dim, const double *w, size_t k,
                             double tau, double l2, double *loss, double *grad, double *work);

/* Features: fit W to d with the feature view f (f->phi != NULL, f->n_items =
 * d->n_items, f->d >= 1, finite features) and options o, drawing the initial W from r
 * in the order (restart, row, column).  res receives a newly allocated W and borrows
 * f->phi.  Returns as gpm_fit, plus PS_EINVAL for an inconsistent feature view and
 * PS_EDOM for a non-finite feature. */
int gpm_fit_features(const pref_data *d, const pref_features *f, const gpm_options *o, gsl_rng *r,
                     gpm_result *res, ps_msg *m);

/* The fitted logit S_ab = s(a, b) / tau (from the embeddings at item level, from the
 * features and W otherwise). */
double gpm_logit(const gpm_result *res, size_t a, size_t b);

/* Free res->v and res->w and zero res; NULL and an empty result are allowed. */
void gpm_result_free(gpm_result *res);

#endif
