/* dpo_listwise_est.c — listwise DPO (dpo_listwise.h) behind the estimator interface.
 *
 * The log-linear policy log pi = log pi_ref + theta^T phi - A (tabular one-hot in items
 * worlds), fitted by the Plackett-Luce likelihood of the ranked responses under the
 * implicit reward beta (log pi - log pi_ref) (Rafailov et al. 2023, appendix A.3;
 * docs/theory.md §3.18).  Rankings come through fit_rank; pairs through fit as full
 * rankings of 2, where the loss is pairwise DPO's exactly.  Conventions as dpo_est.c:
 * theta is the offset (target theta_r / beta when the rankings follow Plackett-Luce with
 * utility theta_r^T phi / T), logit(a, b) = beta (s_a - s_b), policy the softmax of
 * log pi_ref + s per context; se from the inverse Hessian of the listwise loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt.h"
#include "dpo_listwise.h"
#include "estimator.h"
#include "policy.h"

struct est_model {
  double beta;
  pl_options opt;
  pl_result res;
  const pref_features *f;
};

static const ps_param lw_params[] = {
    {"beta", PS_PARAM_REAL, "0.1", 1e-9, 1e9, NULL, "KL strength beta of the implicit reward (TRL default 0.1)"},
    {"l2", PS_PARAM_REAL, "0", 0, 1e12, NULL, "adds (l2/2)||theta||^2 to the summed listwise loss"},
    {"tol", PS_PARAM_REAL, "1e-10", 1e-15, 1e-2, NULL, "stop when ||gradient|| <= tol x total weight"},
    {"max_iter", PS_PARAM_INT, "100", 1, 10000, NULL, "Newton iterations before reporting not-converged"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int lw_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->beta = ps_param_real(ps_param_text(lw_params, h, "beta"));
  e->opt = pl_options_default();
  e->opt.l2 = ps_param_real(ps_param_text(lw_params, h, "l2"));
  e->opt.tol = ps_param_real(ps_param_text(lw_params, h, "tol"));
  e->opt.max_iter = (int)ps_param_int(ps_param_text(lw_params, h, "max_iter"));
  *out = e;
  return PS_OK;
}

static int lw_fit_rank(est_model *e, const rank_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                       ps_msg *m) {
  (void)r;
  pl_result_free(&e->res);
  e->f = f;
  int s = rank_data_check(d, m);
  if (s == PS_OK && d->n == 0) s = ps_fail(m, PS_EINVAL, "no rankings");
  if (s == PS_OK && (!f || f->n_items != d->n_items))
    s = ps_fail(m, PS_EINVAL, "dpo_listwise needs the feature view of the data's %zu items", d->n_items);
  if (s == PS_OK && e->opt.l2 == 0 && !f->phi) s = pl_check_items(d, NULL, m);
  if (s == PS_OK) {
    e->opt.want_hessian = (f->phi ? f->d : d->n_items) <= BT_SE_MAX_DIM;
    s = dpo_listwise_fit(d, f, e->beta, &e->opt, &e->res, m);
  }
  info->status = s;
  info->converged = s == PS_OK;
  info->iterations = e->res.iterations;
  info->objective = s == PS_OK ? e->res.objective : NAN;
  info->grad_norm = s == PS_OK ? e->res.grad_norm : NAN;
  return s;
}

static int lw_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                  ps_msg *m) {
  rank_data rd;
  int s = pref_data_check(d, m);
  if (s == PS_OK && d->n == 0) s = ps_fail(m, PS_EINVAL, "no comparisons");
  if (s == PS_OK) s = rank_data_from_pairs(d, &rd, m);
  if (s != PS_OK) {
    pl_result_free(&e->res);
    memset(info, 0, sizeof *info);
    info->status = s;
    info->objective = info->grad_norm = NAN;
    return s;
  }
  s = lw_fit_rank(e, &rd, f, r, info, m);
  rank_data_free(&rd);
  return s;
}

static int fitted(const est_model *e) { return e->res.theta && e->res.status == PS_OK; }

static double lw_logit(const est_model *e, int32_t a, int32_t b) {
  if (!fitted(e)) return NAN;
  double sa, sb;
  policy_loglinear_scores(e->f, e->res.theta, (size_t)a, 1, &sa);
  policy_loglinear_scores(e->f, e->res.theta, (size_t)b, 1, &sb);
  return e->beta * (sa - sb);
}

static const double *lw_theta(const est_model *e, size_t *dim) {
  *dim = fitted(e) ? e->res.d : 0;
  return fitted(e) ? e->res.theta : NULL;
}

static int lw_policy(const est_model *e, int32_t first, size_t m, double *p) {
  if (!fitted(e)) return PS_EINVAL;
  const pref_features *f = e->f;
  if (first < 0 || m == 0 || (size_t)first + m > f->n_items) return PS_EINVAL;
  policy_loglinear_scores(f, e->res.theta, (size_t)first, m, p);
  policy_log_softmax(f->log_ref ? f->log_ref + first : NULL, p, m, p);
  for (size_t j = 0; j < m; j++) p[j] = exp(p[j]);
  return PS_OK;
}

static int lw_se(const est_model *e, double *se, ps_msg *m) {
  if (!fitted(e) || !e->res.hessian)
    return ps_fail(m, PS_EINVAL, "dpo_listwise: no Hessian kept (not fitted, or more than %d parameters)",
                   BT_SE_MAX_DIM);
  return bt_standard_errors(e->res.hessian, e->res.d, e->f, se, m);
}

static void lw_free(est_model *e) {
  if (!e) return;
  pl_result_free(&e->res);
  free(e);
}

const est_type est_dpo_listwise = {
    .name = "dpo_listwise",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "Listwise DPO (Rafailov et al. 2023, appendix A.3): the Plackett-Luce likelihood of ranked responses "
           "under the implicit reward beta log(pi / pi_ref) of a log-linear policy log pi = log pi_ref + theta^T "
           "phi - A (tabular in items worlds); Newton to ||grad|| <= tol x weight (pl.c on beta phi).  Fits the "
           "rankings of [design] ranking = k; on pairs it is pairwise DPO.  theta is the offset from pi_ref "
           "(target theta_r / beta); se from the inverse Hessian.",
    .params = lw_params,
    .alloc = lw_alloc,
    .fit = lw_fit,
    .logit = lw_logit,
    .theta = lw_theta,
    .policy = lw_policy,
    .free = lw_free,
    .fit_rank = lw_fit_rank,
    .se = lw_se,
};
