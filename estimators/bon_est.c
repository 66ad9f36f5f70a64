/* bon_est.c — best-of-n sampling on a fitted proxy reward (docs/theory.md §3.13b).
 *
 * The proxy is the Bradley–Terry reward r-hat = theta^T phi fitted by bt_fit, with `l2`
 * on the summed loss (feature worlds: the policy metrics are defined there).  The policy of a context
 * is the law of the response with the highest r-hat among n draws from pi_ref
 * (policy_best_of_n); `n` may be fractional.  Predictions are the proxy's BT logits
 * r-hat_a - r-hat_b, so the metric proxy_gain measures the gain the policy sees and
 * gold_gain the gain it gets.  rlhf is the same proxy with the tilted policy
 * pi_ref e^{r-hat / beta}: the two trace the two frontiers of gold reward against KL. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt.h"
#include "estimator.h"
#include "policy.h"

struct est_model {
  double n, l2;
  double *theta;
  size_t dim;
  const pref_features *f;
};

static const ps_param bon_params[] = {
    {"n", PS_PARAM_REAL, "4", 1, 1e12, NULL, "best-of-n: draws from pi_ref per context (fractional n interpolates)"},
    {"l2", PS_PARAM_REAL, "0", 0, 1e12, NULL, "L2 penalty (lambda/2)||theta||^2 on the proxy's summed BT loss"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int bon_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->n = ps_param_real(ps_param_text(bon_params, h, "n"));
  e->l2 = ps_param_real(ps_param_text(bon_params, h, "l2"));
  *out = e;
  return PS_OK;
}

static int bon_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                   ps_msg *m) {
  (void)r;
  free(e->theta);
  e->theta = NULL;
  e->dim = 0;
  e->f = f;
  info->objective = info->grad_norm = NAN;
  if (!f || !f->phi) return info->status = ps_fail(m, PS_EINVAL, "bon fits feature worlds only (world.kind = features)");
  if (!d || !d->n) return info->status = ps_fail(m, PS_EINVAL, "bon: no comparisons to fit");
  bt_options o = bt_options_default();
  o.l2 = e->l2;
  bt_result br = {0};
  int s = bt_fit(d, f, &o, &br, m);
  info->status = s;
  info->converged = s == PS_OK;
  info->iterations = br.iterations;
  info->objective = br.objective;
  info->grad_norm = br.grad_norm;
  if (s == PS_OK) {
    e->theta = br.theta;
    e->dim = br.d;
    br.theta = NULL;
  }
  bt_result_free(&br);
  return s;
}

/* proxy reward of item a */
static double proxy(const est_model *e, int32_t a) {
  double s;
  policy_loglinear_scores(e->f, e->theta, (size_t)a, 1, &s);
  return s;
}

static double bon_logit(const est_model *e, int32_t a, int32_t b) {
  if (!e->theta) return NAN;
  return proxy(e, a) - proxy(e, b);
}

static const double *bon_theta(const est_model *e, size_t *dim) {
  *dim = e->theta ? e->dim : 0;
  return e->theta;
}

static int bon_policy(const est_model *e, int32_t first, size_t m, double *p) {
  const pref_features *f = e->f;
  if (!e->theta || first < 0 || m == 0 || (size_t)first + m > f->n_items) return PS_EINVAL;
  double *w = malloc(2 * m * sizeof *w);
  if (!w) return PS_ENOMEM;
  double *sc = w, *ref = w + m;
  for (size_t j = 0; j < m; j++) {
    sc[j] = proxy(e, (int32_t)((size_t)first + j));
    ref[j] = f->log_ref ? exp(f->log_ref[(size_t)first + j]) : 1.0 / (double)m;
  }
  int s = policy_best_of_n(ref, sc, m, e->n, p);
  free(w);
  return s;
}

static void bon_free(est_model *e) {
  if (!e) return;
  free(e->theta);
  free(e);
}

const est_type est_bon = {
    .name = "bon",
    .inputs = EST_IN_FEATURES,
    .doc = "Best-of-n sampling on a Bradley-Terry proxy reward (docs/theory.md §3.13b; Gao, Schulman and Hilton "
           "2023): the law of the response with the highest fitted reward among n draws from pi_ref, exact per "
           "context (ties split in proportion to pi_ref); predictions are the proxy's logits.",
    .params = bon_params,
    .alloc = bon_alloc,
    .fit = bon_fit,
    .logit = bon_logit,
    .theta = bon_theta,
    .policy = bon_policy,
    .free = bon_free,
};
