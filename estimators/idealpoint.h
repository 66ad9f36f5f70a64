/* idealpoint.h — the ideal-point model PAL-A (docs/theory.md §2.6, §3.6): users prefer
 * items close to their own ideal point, a convex combination of K shared prototypes.
 *
 * Items have embeddings f(y) in R^p: f = phi (projector = identity, p = d), a learned
 * linear map f = A phi with A in R^{p x d} (projector = linear), or, in an item world
 * (phi == NULL), a free embedding E_y in R^p per item.  Prototypes p_1..p_K in R^p;
 * user h has logits omega_h in R^K, weights w_h = softmax(omega_h) and ideal point
 * a_h = sum_k w_hk p_k.  For a comparison (h, y+, y-) the score is
 *
 *     s = d(f(y-), a_h) - d(f(y+), a_h),
 *     d(x, a) = sqrt(||x - a||^2 + 1e-12)   (euclidean, the reference)  or  ||x - a||^2 (squared),
 *
 * and the loss is softplus(-s / tau) (logistic: -log P, a likelihood) or max(0, 1 - s)
 * (hinge, the reference default; not a likelihood, so its "logit" is an uncalibrated
 * score).  With the squared distance the model is exactly Bradley-Terry per user with
 * r_h(y) = 2 a_h^T f(y) - ||f(y)||^2 (docs/theory.md §2.6, O16).
 *
 * Fitted objective, on the summed loss (as bt_fit):
 *
 *     F = sum_i c_i loss(s_i) + (l2/2)(||P||^2 + ||E||^2) + (l2_user/2) ||Omega||^2,
 *
 * by Adam with a cosine-decayed step (adam.h) from `restarts` random starts drawn from
 * the gsl_rng, each polished by L-BFGS when F is smooth (logistic loss), keeping the
 * lowest F.  The linear projector is not penalised in F but
 * shrunk by AdamW's decoupled weight decay (the reference: lr 1e-4, decay 0.01), so
 * with a projector the reported gradient norm includes the decay's equilibrium pull.
 * Non-convex: with a learned embedding, joint rotations and translations of (f, P) are
 * unidentified; compare predictions, never parameters. */
#ifndef PS_ESTIMATORS_IDEALPOINT_H
#define PS_ESTIMATORS_IDEALPOINT_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

#define IDEALPOINT_MAX_K 64 /* prototypes at most */

typedef enum { IDEALPOINT_EUCLIDEAN = 0, IDEALPOINT_SQUARED = 1 } idealpoint_distance;
typedef enum { IDEALPOINT_LOGISTIC = 0, IDEALPOINT_HINGE = 1 } idealpoint_loss;
typedef enum { IDEALPOINT_IDENTITY = 0, IDEALPOINT_LINEAR = 1 } idealpoint_projector;

typedef struct {
  size_t K;                       /* prototypes, 1..IDEALPOINT_MAX_K */
  size_t dim;                     /* embedding dimension p of the linear projector or of free
                                   * item embeddings (>= 1); ignored with the identity */
  idealpoint_distance distance;
  idealpoint_loss loss;
  idealpoint_projector projector; /* features only; an item world always learns E */
  double tau;                     /* logistic temperature > 0 (1) */
  double lr;                      /* Adam step for prototypes, user logits, item embeddings */
  double lr_projector;            /* Adam step for A */
  double projector_decay;         /* AdamW decoupled decay of A, >= 0 */
  double l2;                      /* ridge on prototypes and item embeddings, >= 0 */
  double l2_user;                 /* ridge on user logits (prior N(0, 1/l2_user)), >= 0 */
  int iterations;                 /* Adam steps per restart, >= 1 */
  int restarts;                   /* random starts, >= 1; the lowest objective is kept */
  double init_sd;                 /* sd of the initial logits, embeddings, A entries (x 1/sqrt d) */
  size_t batch;                   /* minibatch rows per step; 0 = full batch */
  double tol;                     /* stop a restart when ||grad F|| <= tol x total weight */
  int polish;                     /* L-BFGS iterations after Adam (0: none); used only for
                                   * the logistic loss without projector decay */
  int adapt_iterations;           /* Adam steps of a new user's fit */
  double adapt_lr;                /* their step */
} idealpoint_options;

typedef struct {
  size_t K, p, n_items, n_users;
  size_t d;                  /* feature dimension (0 in an item world) */
  idealpoint_distance distance;
  idealpoint_loss loss;
  double tau, l2_user;
  int adapt_iterations;
  double adapt_lr;
  double *emb;               /* n_items x p fitted embeddings f(y) (owned) */
  double *proj;              /* p x d projector A, or NULL */
  double *proto;             /* K x p prototypes */
  double *omega;             /* n_users x K logits */
  double *weights;           /* n_users x K softmax weights */
  double *ideal;             /* n_users x p ideal points */
  double *comparisons;       /* n_users: training weight sum_i c_i of each user */
  double objective;          /* F at the kept estimate */
  double grad_norm;          /* ||grad F|| there (optimisation residual) */
  int iterations;            /* Adam steps of the kept restart */
  int converged;             /* 1 when the kept restart met tol */
  int best_restart;
} idealpoint_model;

/* The defaults: K = 2, dim = 2, euclidean, logistic, identity, tau = 1, lr = 0.02,
 * lr_projector = 1e-3, projector_decay = 0.01, l2 = 1e-3, l2_user = 1, 1500 iterations,
 * 4 restarts, init_sd = 0.5, full batch, tol = 1e-6, polish 1000, adapt 400 steps at 0.05.  The
 * step sizes are 4x and 10x the reference's 5e-3 and 1e-4 because the reference trains
 * for epochs of minibatches, while these defaults take 1500 full-batch steps: with the
 * cosine decay this moves a prototype by O(10) units, enough for unit-scale features.
 * Adam alone stalls at ||grad F|| ~ 1e-3 x weight on the planted test (flat directions);
 * the L-BFGS polish brings it to ~1e-6 x weight. */
idealpoint_options idealpoint_options_default(void);

/* Check o; PS_EINVAL and a message naming the field otherwise. */
int idealpoint_options_check(const idealpoint_options *o, ps_msg *m);

/* Number of packed parameters and their layout, x = [emb | proto | omega]:
 * emb = E (n_items x p) in an item world, A (p x d) with the linear projector, empty
 * with the identity; proto = P (K x p); omega = Omega (n_users x K), all row-major.
 * n_users = d->n_annotators (1 if d->annotator is NULL).  *p receives the dimension. */
size_t idealpoint_nparams(const pref_data *d, const pref_features *f, const idealpoint_options *o,
                          size_t *p);

/* Evaluate F at the packed x (layout above) and, if grad != NULL, its gradient by
 * hand-written backpropagation.  Exposed for the finite-difference tests and for
 * callers that want the objective of their own parameters.  Returns PS_OK, PS_EINVAL
 * on bad options, PS_ENOMEM, or PS_EDOM when F is not finite. */
int idealpoint_objective(const pref_data *d, const pref_features *f, const idealpoint_options *o,
                         const double *x, double *value, double *grad, ps_msg *m);

/* Fit the model to d with features f, drawing starts (and minibatches) from r.  On
 * PS_OK *out owns its arrays (free with idealpoint_model_free); a run that exhausts
 * its iterations is still PS_OK with out->converged = 0.  Errors: PS_EINVAL (no rows,
 * bad options, ids out of range, no users),
 * PS_EDOM (NaN or infinite features or a non-finite objective), PS_ENOMEM; *out is
 * then empty. */
int idealpoint_fit(const pref_data *d, const pref_features *f, const idealpoint_options *o,
                   gsl_rng *r, idealpoint_model *out, ps_msg *m);

/* Free the arrays of a fitted model and zero it; NULL or an empty model is fine. */
void idealpoint_model_free(idealpoint_model *mod);

/* logit P(a > b) for the user with ideal point `ideal` (length p): (d(f_b, a) -
 * d(f_a, a)) / tau, or the raw score d(f_b, a) - d(f_a, a) under the hinge loss. */
double idealpoint_logit_ideal(const idealpoint_model *mod, const double *ideal, int32_t a, int32_t b);

/* logit P(a > b | training user h) (0 <= h < n_users). */
double idealpoint_logit_user(const idealpoint_model *mod, size_t h, int32_t a, int32_t b);

/* The population prediction: the logit of the mean over training users with at least
 * one comparison (all users if none has) of P_h(a > b) = sigma(logit_h), computed as
 * log-sum-exp(log sigma(z_h)) - log-sum-exp(log sigma(-z_h)), so it never overflows. */
double idealpoint_logit_population(const idealpoint_model *mod, int32_t a, int32_t b);

/* Few-shot adaptation: fit only a new user's logits omega in R^K (embeddings and
 * prototypes fixed) on `shots` (annotator ids ignored; n = 0 allowed) by minimising
 * sum_i c_i loss(s_i) + (l2_user/2)||omega||^2 with Adam from omega = 0, so zero
 * shots give uniform weights.  Writes omega to omega_out[0..K-1].  PS_EINVAL for item
 * ids out of range; omega_out unchanged on error. */
int idealpoint_adapt(const idealpoint_model *mod, const pref_data *shots, double *omega_out, ps_msg *m);

/* logit P(a > b) for a user with logits omega (length K), as adapted above. */
double idealpoint_logit_omega(const idealpoint_model *mod, const double *omega, int32_t a, int32_t b);

#endif
