/* regret_est.c — the regret and partial-return preference models in the estimator
 * registry.  They learn a reward from comparisons of trajectory SEGMENTS in a small
 * MDP, so they need the MDP world's data (world.kind = corridor | delivery | grid),
 * which experiments/cell.c (cell_run_mdp) gives them through regret.h directly; this table supplies
 * their names, documentation and hyperparameters (validated with the config).
 * Called on item or feature data they report PS_EINVAL. */
#include <stdlib.h>

#include "estimator.h"

struct est_model {
  int unused;
};

const ps_param est_regret_params[] = {
    {"learning_rate", PS_PARAM_REAL, "0.2", 1e-6, 100, NULL, "Adam step size"},
    {"iterations", PS_PARAM_INT, "1500", 1, 1e7, NULL, "Adam steps per restart"},
    {"restarts", PS_PARAM_INT, "4", 1, 1000, NULL, "starts (w = 0 first, then random); the lowest loss is kept"},
    {"gamma", PS_PARAM_REAL, "0.999", 0.5, 0.999999, NULL, "discount of V*_w (keeps it finite for any w)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

const ps_param est_partial_return_params[] = {
    {"l2", PS_PARAM_REAL, "1e-3", 0, 1e12, NULL,
     "ridge on w, (l2/2)||w||^2 on the summed loss (equal-length segments leave r + c unidentified)"},
    {"gamma", PS_PARAM_REAL, "0.999", 0.5, 0.999999, NULL, "discount of the optimal policy reported for r_w"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int seg_alloc(est_model **out, const char *const *h, ps_msg *m) {
  (void)h;
  *out = calloc(1, sizeof **out);
  return *out ? PS_OK : ps_fail(m, PS_ENOMEM, "out of memory");
}

static int seg_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                   ps_msg *m) {
  (void)e, (void)d, (void)f, (void)r;
  return info->status = ps_fail(m, PS_EINVAL,
                                "this estimator learns from trajectory segments: use world.kind = corridor, delivery or grid");
}

static double seg_logit(const est_model *e, int32_t a, int32_t b) {
  (void)e, (void)a, (void)b;
  return 0;
}

static const double *seg_theta(const est_model *e, size_t *dim) {
  (void)e;
  *dim = 0;
  return NULL;
}

static void seg_free(est_model *e) { free(e); }

const est_type est_regret_model = {
    .name = "regret_model",
    .inputs = EST_IN_SEGMENTS,
    .doc = "Regret preference model (Knox et al.; THEORY §3.8): r_w = w^T psi, labels sigma((regret_w(2) - "
           "regret_w(1))/T) with V*_w by value iteration and the envelope-theorem gradient; Adam with restarts. "
           "MDP worlds only.",
    .params = est_regret_params, .alloc = seg_alloc, .fit = seg_fit, .logit = seg_logit, .theta = seg_theta,
    .free = seg_free};

const est_type est_partial_return = {
    .name = "partial_return",
    .inputs = EST_IN_SEGMENTS,
    .doc = "Partial-return preference model: logistic regression on the difference of the segments' summed "
           "psi (Newton-CG through bt_fit). MDP worlds only.",
    .params = est_partial_return_params, .alloc = seg_alloc, .fit = seg_fit, .logit = seg_logit,
    .theta = seg_theta, .free = seg_free};
