/* lowrank.h — low-rank personalised rewards (docs/theory.md §2.7): a shared basis of B
 * reward features and per-user weights, Bradley-Terry per user.
 *
 *     r_h(y) = phi(y)^T V w_h,   V in R^{d x B}          (features)
 *     r_h(y) = U_y^T w_h,        U in R^{n_items x B}    (item world, phi == NULL)
 *     P(y+ > y- | h) = sigma(r_h(y+) - r_h(y-))
 *
 * weights = simplex (LoRe, Bose et al. 2025, facebookresearch/LoRe): w_h = softmax(omega_h);
 * weights = free (reward-feature models, RFM): w_h = omega_h in R^B.  The user x item
 * reward matrix has rank <= B; B = 1 is a single BT reward (exactly so with simplex
 * weights, whose only value is w = 1; up to each user's scale with free weights).
 * No temperature: the scale of r lives in V (LoRe's fixed 1/100 is absorbed there too).
 *
 * Fitted objective, on the summed loss (as bt_fit):
 *
 *     F = sum_i c_i softplus(-(r_h(y+) - r_h(y-))) + (l2/2) ||V or U||^2 + (l2_user/2) ||Omega||^2,
 *
 * by full-batch (or minibatch) Adam with a cosine-decayed step from `restarts` random
 * starts, each polished by L-BFGS (F is smooth), keeping the lowest F.  Chosen over
 * alternating fits because one code path (and one gradient, checked by finite
 * differences) serves both weight kinds and both worlds.  V and Omega are identified
 * only up to V -> V M, w -> M^{-1} w (free) or a permutation of the columns (simplex):
 * compare rewards and predictions, never V. */
#ifndef PS_ESTIMATORS_LOWRANK_H
#define PS_ESTIMATORS_LOWRANK_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

#define LOWRANK_MAX_B 64 /* basis size at most */

typedef enum { LOWRANK_SIMPLEX = 0, LOWRANK_FREE = 1 } lowrank_weights;

typedef struct {
  size_t B;                 /* basis size, 1..LOWRANK_MAX_B */
  lowrank_weights weights;
  double l2;                /* ridge on V (or U), >= 0 */
  double l2_user;           /* ridge on the user parameters omega, >= 0 */
  double lr;                /* Adam step > 0 */
  int iterations;           /* Adam steps per restart, >= 1 */
  int restarts;             /* random starts, >= 1 */
  double init_sd;           /* sd of the initial V (x 1/sqrt d), U and omega entries, > 0 */
  size_t batch;             /* minibatch rows per Adam step; 0 = full batch */
  int polish;               /* L-BFGS iterations after Adam (0: none) */
  double tol;               /* converged when ||grad F|| <= tol x total weight */
  int adapt_iterations;     /* Adam steps of a new user's fit */
  double adapt_lr;
} lowrank_options;

typedef struct {
  size_t B, n_items, n_users;
  size_t d;                 /* feature dimension (0 in an item world) */
  lowrank_weights weights;
  double l2_user;
  int adapt_iterations;
  double adapt_lr;
  double *basis;            /* V (d x B) or U (n_items x B), row-major (owned) */
  double *item_features;    /* n_items x B: g(y) = V^T phi(y) or U_y */
  double *omega;            /* n_users x B user parameters (logits or free weights) */
  double *w;                /* n_users x B user weights */
  double *comparisons;      /* n_users training weight */
  double *omega_mean;       /* B: mean omega over users with comparisons (the adapt prior) */
  double *w_mean;           /* B: mean w over those users (the population's weights) */
  double *theta;            /* the mean-user reward parameter: V w_mean (d), or U w_mean
                             * centred (n_items) */
  size_t theta_dim;
  double objective, grad_norm;
  int iterations, converged, best_restart;
} lowrank_model;

/* Defaults: B = 2, simplex, l2 = 1e-3, l2_user = 1, lr = 0.02, 1000 iterations,
 * 3 restarts, init_sd = 0.5, full batch, polish 1000, tol = 1e-6, adapt 400 steps at
 * 0.05.  Adam's 1000 steps bring unit-scale problems near a minimum; L-BFGS then
 * removes Adam's stall on the flat directions (scale trades between V and w). */
lowrank_options lowrank_options_default(void);

/* Check o; PS_EINVAL naming the field otherwise. */
int lowrank_options_check(const lowrank_options *o, ps_msg *m);

/* Packed parameters x = [V (d x B) or U (n_items x B) | Omega (n_users x B)], row-major;
 * returns their number (n_users = d->n_annotators, or 1 without annotators). */
size_t lowrank_nparams(const pref_data *d, const pref_features *f, const lowrank_options *o);

/* F at x and, if grad != NULL, its analytic gradient.  PS_EINVAL, PS_ENOMEM, or PS_EDOM
 * when F is not finite. */
int lowrank_objective(const pref_data *d, const pref_features *f, const lowrank_options *o, const double *x,
                      double *value, double *grad, ps_msg *m);

/* Fit; on PS_OK *out owns its arrays (lowrank_model_free).  Errors as idealpoint_fit:
 * PS_EINVAL (no rows, no users, bad options or ids), PS_EDOM (non-finite features or
 * objective), PS_ENOMEM; *out is then empty. */
int lowrank_fit(const pref_data *d, const pref_features *f, const lowrank_options *o, gsl_rng *r,
                lowrank_model *out, ps_msg *m);

/* Free and zero; NULL or an empty model is fine. */
void lowrank_model_free(lowrank_model *mod);

/* logit P(a > b | training user h) = g(a)^T w_h - g(b)^T w_h. */
double lowrank_logit_user(const lowrank_model *mod, size_t h, int32_t a, int32_t b);

/* The population prediction: the mean user's reward, g(a)^T w_mean - g(b)^T w_mean,
 * a BT model with parameter theta (transitive; not the mean of the users' P). */
double lowrank_logit_population(const lowrank_model *mod, int32_t a, int32_t b);

/* logit for a user with parameters omega (length B: logits if simplex, weights if free). */
double lowrank_logit_omega(const lowrank_model *mod, const double *omega, int32_t a, int32_t b);

/* Few-shot adaptation: fit only a new user's omega on `shots` (annotator ids ignored,
 * n = 0 allowed) by minimising sum_i c_i softplus(-z_i) + (l2_user/2)||omega - omega_mean||^2
 * with Adam from omega_mean: zero shots give the mean user (free: its weights exactly;
 * simplex: the softmax of the mean logits).  PS_EINVAL for bad shots (omega_out unchanged). */
int lowrank_adapt(const lowrank_model *mod, const pref_data *shots, double *omega_out, ps_msg *m);

#endif
