/* regret_est.c — the regret and partial-return preference models behind the common
 * estimator interface.  They learn a reward r_w = w^T psi from comparisons of
 * trajectory SEGMENTS in a small MDP, seen through pref_features.traj (dynamics,
 * feature table and segments, core/mdp_env.h; never the true reward), which the MDP
 * worlds (world.kind = corridor | delivery | grid) provide.  On item or feature
 * data (traj NULL) they report PS_EINVAL.  The fitting itself is regret.c; this file
 * maps hyperparameters and queries: theta is w, and state_policy gives the learned
 * reward's optimal policy (at the hyperparameter gamma) and its one-step greedy use,
 * which the MDP metrics score under the truth. */
#include <stdlib.h>
#include <string.h>

#include "../core/mdp_env.h"
#include "estimator.h"
#include "regret.h"

typedef enum { SEG_REGRET = 0, SEG_PARTIAL_RETURN = 1 } seg_model;

struct est_model {
  seg_model model;
  regret_options opt;
  regret_result res;  /* w and the two policies once fitted */
  int fitted;
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

static int seg_alloc(est_model **out, seg_model model, ps_msg *m) {
  *out = calloc(1, sizeof **out);
  if (!*out) return ps_fail(m, PS_ENOMEM, "out of memory");
  (*out)->model = model;
  (*out)->opt = regret_options_default();
  return PS_OK;
}

static int regret_alloc(est_model **out, const char *const *h, ps_msg *m) {
  int s = seg_alloc(out, SEG_REGRET, m);
  if (s != PS_OK) return s;
  regret_options *o = &(*out)->opt;
  o->learning_rate = ps_param_real(ps_param_text(est_regret_params, h, "learning_rate"));
  o->iterations = (int)ps_param_int(ps_param_text(est_regret_params, h, "iterations"));
  o->restarts = (int)ps_param_int(ps_param_text(est_regret_params, h, "restarts"));
  o->gamma = ps_param_real(ps_param_text(est_regret_params, h, "gamma"));
  return PS_OK;
}

static int pr_alloc(est_model **out, const char *const *h, ps_msg *m) {
  int s = seg_alloc(out, SEG_PARTIAL_RETURN, m);
  if (s != PS_OK) return s;
  (*out)->opt.l2 = ps_param_real(ps_param_text(est_partial_return_params, h, "l2"));
  (*out)->opt.gamma = ps_param_real(ps_param_text(est_partial_return_params, h, "gamma"));
  return PS_OK;
}

/* Both fitters run to their own end (Newton to its tolerance, Adam through every
 * restart), so a PS_OK fit counts as converged; the regret fit's optimisation
 * residuals are its grad_norm and restart spread. */
static int seg_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                   ps_msg *m) {
  regret_result_free(&e->res);
  e->fitted = 0;
  if (!f || !f->traj)
    return info->status = ps_fail(m, PS_EINVAL,
                                  "this estimator learns from trajectory segments: use world.kind = corridor, delivery or grid");
  const pref_trajectories *t = f->traj;
  regret_problem p = {.env = t->env, .f = t->features, .seg = t->seg, .d = d, .temperature = t->temperature};
  int s = e->model == SEG_REGRET ? regret_fit_regret(&p, &e->opt, r, &e->res, m)
                                 : regret_fit_partial_return(&p, &e->opt, &e->res, m);
  e->fitted = s == PS_OK;
  info->status = s;
  info->converged = s == PS_OK;
  info->iterations = e->res.iterations;
  info->objective = e->res.loss;
  info->grad_norm = e->res.grad_norm;
  return s;
}

static double seg_logit(const est_model *e, int32_t a, int32_t b) {
  (void)e, (void)a, (void)b;
  return 0;
}

static const double *seg_theta(const est_model *e, size_t *dim) {
  *dim = e->fitted ? e->res.d : 0;
  return e->fitted ? e->res.w : NULL;
}

static int seg_state_policy(const est_model *e, int32_t *policy, int32_t *greedy) {
  if (!e->fitted) return PS_EINVAL;
  size_t n = e->res.n_states;
  if (policy) memcpy(policy, e->res.policy, n * sizeof *policy);
  if (greedy) memcpy(greedy, e->res.greedy, n * sizeof *greedy);
  return PS_OK;
}

static void seg_free(est_model *e) {
  if (!e) return;
  regret_result_free(&e->res);
  free(e);
}

const est_type est_regret_model = {
    .name = "regret_model",
    .inputs = EST_IN_SEGMENTS,
    .doc = "Regret preference model (Knox et al.; docs/theory.md §3.8): r_w = w^T psi, labels sigma((regret_w(2) - "
           "regret_w(1))/T) with V*_w by policy iteration and the envelope-theorem gradient; Adam with restarts. "
           "MDP worlds only.",
    .params = est_regret_params, .alloc = regret_alloc, .fit = seg_fit, .logit = seg_logit, .theta = seg_theta,
    .free = seg_free, .state_policy = seg_state_policy};

const est_type est_partial_return = {
    .name = "partial_return",
    .inputs = EST_IN_SEGMENTS,
    .doc = "Partial-return preference model: logistic regression on the difference of the segments' summed "
           "psi (Newton-CG through bt_fit). MDP worlds only.",
    .params = est_partial_return_params, .alloc = pr_alloc, .fit = seg_fit, .logit = seg_logit,
    .theta = seg_theta, .free = seg_free, .state_policy = seg_state_policy};
