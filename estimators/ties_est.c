/* ties_est.c — the Davidson and Rao–Kupper estimators behind the common interface
 * (estimators `davidson`, `raokupper`; the fitting is ties.c).
 *
 * logit(a, b) is the model's log odds of a over b among the untied outcomes,
 * log P(a > b) - log P(b > a): z for Davidson (its strict outcomes follow BT exactly),
 * log sigma(z - eta) - log sigma(-z - eta) for Rao–Kupper.  theta is the centred item
 * scores or the feature weights; the tie parameter is not part of theta (ties_fit
 * reports it). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "estimator.h"
#include "ties.h"

struct est_model {
  ties_options opt;
  ties_result res;
  const pref_features *f;
};

static const ps_param ties_params[] = {
    {"l2", PS_PARAM_REAL, "0", 0, 1e12, NULL,
     "lambda: adds (lambda/2)||theta||^2 (not on the tie parameter) to the summed negative log-likelihood"},
    {"tol", PS_PARAM_REAL, "1e-10", 1e-15, 1e-2, NULL, "stop when ||gradient|| <= tol x total weight"},
    {"max_iter", PS_PARAM_INT, "100", 1, 10000, NULL, "Newton iterations before reporting not-converged"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int alloc_model(est_model **out, const char *const *h, ties_model model, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->opt = ties_options_default(model);
  e->opt.l2 = ps_param_real(ps_param_text(ties_params, h, "l2"));
  e->opt.tol = ps_param_real(ps_param_text(ties_params, h, "tol"));
  e->opt.max_iter = (int)ps_param_int(ps_param_text(ties_params, h, "max_iter"));
  *out = e;
  return PS_OK;
}
static int davidson_alloc(est_model **out, const char *const *h, ps_msg *m) {
  return alloc_model(out, h, TIES_DAVIDSON, m);
}
static int raokupper_alloc(est_model **out, const char *const *h, ps_msg *m) {
  return alloc_model(out, h, TIES_RAOKUPPER, m);
}

static int ties_est_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                        ps_msg *m) {
  (void)r;
  ties_result_free(&e->res);
  e->f = f;
  int s = ties_fit(d, f, &e->opt, &e->res, m);
  info->status = s;
  info->converged = s == PS_OK;
  info->iterations = e->res.iterations;
  info->objective = e->res.objective;
  info->grad_norm = e->res.grad_norm;
  return s;
}

static double margin(const est_model *e, int32_t a, int32_t b) {
  const pref_features *f = e->f;
  if (!f->phi) return e->res.theta[a] - e->res.theta[b];
  const double *pa = f->phi + (size_t)a * f->d, *pb = f->phi + (size_t)b * f->d;
  double z = 0;
  for (size_t k = 0; k < f->d; k++) z += e->res.theta[k] * (pa[k] - pb[k]);
  return z;
}

static double ties_logit(const est_model *e, int32_t a, int32_t b) {
  double z = margin(e, a, b);
  if (e->opt.model == TIES_DAVIDSON) return z;
  return ps_log_sigmoid(z - e->res.tau) - ps_log_sigmoid(-z - e->res.tau);
}

static const double *ties_theta(const est_model *e, size_t *dim) {
  *dim = e->res.d;
  return e->res.theta;
}

/* the fitted tie parameter: log nu (Davidson) or eta (Rao–Kupper) */
static double ties_self(const est_model *e) { return e->res.tau; }

static void ties_free(est_model *e) {
  if (!e) return;
  ties_result_free(&e->res);
  free(e);
}

const est_type est_davidson = {
    .name = "davidson",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES | EST_IN_TIES,
    .doc = "Davidson's (1970, JASA 65:317) model for paired comparisons with ties, maximum likelihood: "
           "P(a > b) = pi_a / (pi_a + pi_b + nu sqrt(pi_a pi_b)), P(tie) = nu sqrt(pi_a pi_b) / (same), "
           "pi = exp(theta) (items) or exp(theta^T phi) (features); Newton on (theta, log nu) with the exact "
           "Hessian (the Fisher information: an exponential family).  self_estimate: log nu.",
    .params = ties_params,
    .alloc = davidson_alloc,
    .fit = ties_est_fit,
    .logit = ties_logit,
    .theta = ties_theta,
    .free = ties_free,
    .self_estimate = ties_self,
};

const est_type est_raokupper = {
    .name = "raokupper",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES | EST_IN_TIES,
    .doc = "Rao & Kupper's (1967, JASA 62:194) threshold model for paired comparisons with ties, maximum "
           "likelihood: P(a > b) = sigma(s_a - s_b - eta), P(tie) = 1 - sigma(s_a - s_b - eta) - "
           "sigma(s_b - s_a - eta), eta > 0, s = theta (items) or theta^T phi (features); Newton on (theta, "
           "eta) with the exact Hessian (observed information).  self_estimate: eta.",
    .params = ties_params,
    .alloc = raokupper_alloc,
    .fit = ties_est_fit,
    .logit = ties_logit,
    .theta = ties_theta,
    .free = ties_free,
    .self_estimate = ties_self,
};
