/* dpo_gd.c — DPO by plain gradient descent from the reference, stopped after a given
 * number of steps: the learning dynamics of docs/theory.md §3.13c.
 *
 * Log-linear policy log pi = log pi_ref + theta^T phi - A (tabular one-hot in item
 * worlds), theta_0 = 0 (pi = pi_ref), and
 *
 *     theta_{k+1} = theta_k - lr grad F(theta_k) / W,   F = sum_i c_i l_DPO(Delta_i),
 *
 * W the total row weight, so that lr is a step on the mean loss and a sweep over
 * `steps` traces one trajectory whatever n is.  As lr -> 0 with lr * steps = t fixed
 * this is the gradient flow, along which
 *
 *     d log pi(y) / dt = (beta / W) (phi_y - phi-bar_theta)^T sum_i c_i sigma(-beta Delta_i) (phi_w(i) - phi_l(i)):
 *
 * a response's log-probability moves with the covariance of its features with the
 * data's mean preference direction, and the chosen response of a pair can fall.  The
 * gradient is dpo_objective's (the same code as the Newton solver's). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dpo.h"
#include "estimator.h"

struct est_model {
  dpo_options opt;
  double lr;
  long steps;
  double *theta;
  size_t dim;
  const pref_features *f;
};

static const ps_param dpo_gd_params[] = {
    {"beta", PS_PARAM_REAL, "0.1", 1e-9, 1e9, NULL, "KL strength beta of the implicit reward"},
    {"lr", PS_PARAM_REAL, "1", 1e-12, 1e6, NULL, "gradient-descent step on the mean loss"},
    {"steps", PS_PARAM_INT, "100", 0, 1e9, NULL, "gradient steps from the reference (0: pi = pi_ref)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int gd_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->opt = dpo_options_default();
  e->opt.beta = ps_param_real(ps_param_text(dpo_gd_params, h, "beta"));
  e->lr = ps_param_real(ps_param_text(dpo_gd_params, h, "lr"));
  e->steps = ps_param_int(ps_param_text(dpo_gd_params, h, "steps"));
  *out = e;
  return PS_OK;
}

static int gd_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                  ps_msg *m) {
  (void)r;
  free(e->theta);
  e->theta = NULL;
  e->f = f;
  info->objective = info->grad_norm = NAN;
  info->iterations = 0;
  int s = dpo_check_input(d, f, &e->opt, m);
  if (s) return info->status = s;
  size_t dim = f->phi ? f->d : f->n_items;
  double W = 0;
  for (size_t i = 0; i < d->n; i++) W += d->count ? d->count[i] : 1.0;
  double *theta = calloc(dim, sizeof *theta), *g = malloc(dim * sizeof *g);
  if (!theta || !g) {
    free(theta);
    free(g);
    return info->status = ps_fail(m, PS_ENOMEM, "out of memory");
  }
  double F = dpo_objective(d, f, &e->opt, theta, g);
  for (long k = 0; k < e->steps && isfinite(F); k++) {
    for (size_t j = 0; j < dim; j++) theta[j] -= e->lr * g[j] / W;
    F = dpo_objective(d, f, &e->opt, theta, g);
  }
  double gn = 0;
  for (size_t j = 0; j < dim; j++) gn += g[j] * g[j];
  free(g);
  if (!isfinite(F)) {
    free(theta);
    return info->status = ps_fail(m, PS_EDOM, "dpo_gd: the loss became non-finite (lr %g too large?)", e->lr);
  }
  e->theta = theta;
  e->dim = dim;
  info->status = PS_OK;
  /* a trajectory, not an optimum: `converged` reports that every step was taken */
  info->converged = 1;
  info->iterations = (int)(e->steps < 2147483647 ? e->steps : 2147483647);
  info->objective = F / W;
  info->grad_norm = sqrt(gn) / W;
  return PS_OK;
}

static double gd_score(const est_model *e, int32_t a) {
  double s;
  policy_loglinear_scores(e->f, e->theta, (size_t)a, 1, &s);
  return s;
}

static double gd_logit(const est_model *e, int32_t a, int32_t b) {
  if (!e->theta) return NAN;
  return e->opt.beta * (gd_score(e, a) - gd_score(e, b));
}

static const double *gd_theta(const est_model *e, size_t *dim) {
  *dim = e->theta ? e->dim : 0;
  return e->theta;
}

static int gd_policy(const est_model *e, int32_t first, size_t m, double *p) {
  if (!e->theta || first < 0) return PS_EINVAL;
  return policy_loglinear_probs(e->f, e->theta, (size_t)first, m, p);
}

static void gd_free(est_model *e) {
  if (!e) return;
  free(e->theta);
  free(e);
}

const est_type est_dpo_gd = {
    .name = "dpo_gd",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "DPO's learning dynamics (docs/theory.md §3.13c; Im and Li 2024): a log-linear policy trained by plain "
           "gradient descent on the mean DPO loss from pi_ref for `steps` steps of size `lr` (sweep `steps` to "
           "trace the trajectory); with small lr it follows the gradient flow.",
    .params = dpo_gd_params,
    .alloc = gd_alloc,
    .fit = gd_fit,
    .logit = gd_logit,
    .theta = gd_theta,
    .policy = gd_policy,
    .free = gd_free,
};
