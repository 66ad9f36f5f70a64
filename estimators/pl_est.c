/* pl_est.c — Plackett-Luce behind the common estimator interface.  The fitting is
 * pl.c.  Rankings come through fit_rank (experiments with [design] ranking = k; `prefsim
 * fit --model pl` fits with pl.c directly, cli/fit_pl.c); pairs through fit, as full
 * rankings of 2 (rank_data_from_pairs), on which PL is Bradley-Terry.  The Hessian is
 * kept up to BT_SE_MAX_DIM parameters for the se query (standard errors from the observed
 * information, as `prefsim fit` reports them). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt.h"
#include "estimator.h"
#include "pl.h"

struct est_model {
  pl_options opt;
  pl_result res;
  const pref_features *f;
};

static const ps_param pl_params[] = {
    {"l2", PS_PARAM_REAL, "0", 0, 1e12, NULL, "lambda: adds (lambda/2)||theta||^2 to the summed negative log-likelihood"},
    {"tol", PS_PARAM_REAL, "1e-10", 1e-15, 1e-2, NULL, "stop when ||gradient|| <= tol x total weight"},
    {"max_iter", PS_PARAM_INT, "100", 1, 10000, NULL, "Newton iterations before reporting not-converged"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int pl_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->opt = pl_options_default();
  e->opt.l2 = ps_param_real(ps_param_text(pl_params, h, "l2"));
  e->opt.tol = ps_param_real(ps_param_text(pl_params, h, "tol"));
  e->opt.max_iter = (int)ps_param_int(ps_param_text(pl_params, h, "max_iter"));
  *out = e;
  return PS_OK;
}

static void fit_info(const est_model *e, int s, est_fit_info *info) {
  info->status = s;
  info->converged = s == PS_OK;
  info->iterations = e->res.iterations;
  info->objective = s == PS_OK ? e->res.objective : NAN;
  info->grad_norm = s == PS_OK ? e->res.grad_norm : NAN;
}

static int pl_est_fit_rank(est_model *e, const rank_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                           ps_msg *m) {
  (void)r;
  pl_result_free(&e->res);
  e->f = f;
  int s = rank_data_check(d, m);
  if (s == PS_OK && d->n == 0) s = ps_fail(m, PS_EINVAL, "no rankings");
  if (s == PS_OK && f && f->n_items != d->n_items)
    s = ps_fail(m, PS_EINVAL, "the feature view has %zu items, the data %zu", f->n_items, d->n_items);
  if (s == PS_OK && e->opt.l2 == 0 && !(f && f->phi)) s = pl_check_items(d, NULL, m);
  if (s == PS_OK) {
    e->opt.want_hessian = (f && f->phi ? f->d : d->n_items) <= BT_SE_MAX_DIM;
    s = pl_fit(d, f, &e->opt, &e->res, m);
  }
  fit_info(e, s, info);
  return s;
}

static int pl_est_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                      ps_msg *m) {
  rank_data rd;
  int s = pref_data_check(d, m);
  if (s == PS_OK && d->n == 0) s = ps_fail(m, PS_EINVAL, "no comparisons");
  if (s == PS_OK) s = rank_data_from_pairs(d, &rd, m);
  if (s != PS_OK) {
    pl_result_free(&e->res);
    fit_info(e, s, info);
    return s;
  }
  s = pl_est_fit_rank(e, &rd, f, r, info, m);
  rank_data_free(&rd);
  return s;
}

static int pl_se(const est_model *e, double *se, ps_msg *m) {
  if (!e->res.theta || !e->res.hessian)
    return ps_fail(m, PS_EINVAL, "pl: no Hessian kept (not fitted, or more than %d parameters)", BT_SE_MAX_DIM);
  return bt_standard_errors(e->res.hessian, e->res.d, e->f, se, m);
}

static double pl_logit(const est_model *e, int32_t a, int32_t b) {
  const pref_features *f = e->f;
  if (!f || !f->phi) return e->res.theta[a] - e->res.theta[b];
  const double *pa = f->phi + (size_t)a * f->d, *pb = f->phi + (size_t)b * f->d;
  double z = 0;
  for (size_t k = 0; k < f->d; k++) z += e->res.theta[k] * (pa[k] - pb[k]);
  return z;
}

static const double *pl_theta(const est_model *e, size_t *dim) {
  *dim = e->res.d;
  return e->res.theta;
}

static void pl_free(est_model *e) {
  if (!e) return;
  pl_result_free(&e->res);
  free(e);
}

const est_type est_pl = {
    .name = "pl",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "Plackett-Luce maximum likelihood for rankings, full or top-k of an offered set (Plackett 1975; Luce "
           "1959; Hunter 2004), item scores or linear features; damped Newton to ||grad|| <= tol x weight, "
           "standard errors from the observed information.  `prefsim fit --model pl` reads a `ranking` column "
           "(a>c>b, best first) with an optional `set` column (a|b|c|d); in experiments it fits the rankings of [design] ranking = k; pairs are rankings of 2, "
           "where it is Bradley-Terry.  Reports no-mle when the ranked-above graph is not strongly connected.",
    .params = pl_params,
    .alloc = pl_alloc,
    .fit = pl_est_fit,
    .logit = pl_logit,
    .theta = pl_theta,
    .free = pl_free,
    .fit_rank = pl_est_fit_rank,
    .se = pl_se,
};
