/* dpo_listwise_est.c — listwise DPO (dpo_listwise.h) behind the estimator interface.
 *
 * The log-linear policy log pi = log pi_ref + theta^T phi - A (tabular one-hot in items
 * worlds), fitted by the Plackett-Luce likelihood of the ranked responses under the
 * implicit reward beta (log pi - log pi_ref) (Rafailov et al. 2023, appendix A.3;
 * docs/theory.md §3.18).  Rankings come through fit_rank; pairs through fit as full
 * rankings of 2, where the loss is pairwise DPO's exactly.  Conventions as dpo_est.c:
 * theta is the offset (target theta_r / beta when the rankings follow Plackett-Luce with
 * utility theta_r^T phi / T), logit(a, b) = beta (s_a - s_b), policy the softmax of
 * log pi_ref + s per context; se from the inverse Hessian of the listwise loss.  policy = mlp:
 * the MLP policy s = f_w(phi) fitted by Adam (dpo_listwise_mlp_fit; theta and se then absent). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt.h"
#include "dpo_listwise.h"
#include "estimator.h"
#include "policy.h"

struct est_model {
  double beta;
  pl_options opt;     /* log-linear */
  dpo_options mopt;   /* MLP (policy = mlp) */
  int mlp;
  pl_result res;      /* log-linear fit */
  dpo_result mres;    /* MLP fit */
  double *work;       /* MLP scratch */
  const pref_features *f;
};

static const ps_param lw_params[] = {
    {"beta", PS_PARAM_REAL, "0.1", 1e-9, 1e9, NULL, "KL strength beta of the implicit reward (TRL default 0.1)"},
    {"l2", PS_PARAM_REAL, "0", 0, 1e12, NULL, "adds (l2/2)||theta||^2 to the summed listwise loss"},
    {"tol", PS_PARAM_REAL, "1e-10", 1e-15, 1e-2, NULL, "log-linear: stop when ||gradient|| <= tol x total weight"},
    {"max_iter", PS_PARAM_INT, "100", 1, 10000, NULL, "log-linear: Newton iterations before reporting not-converged"},
    {"policy", PS_PARAM_ENUM, "loglinear", 0, 0, "loglinear|mlp",
     "loglinear: s = theta^T phi (tabular one-hot for items worlds), Newton; mlp: s = w^T act(W phi + b), Adam "
     "(feature worlds)"},
    {"width", PS_PARAM_INT, "32", 1, 4096, NULL, "MLP hidden width"},
    {"layers", PS_PARAM_INT, "1", 1, 2, NULL, "MLP hidden layers (1 or 2)"},
    {"activation", PS_PARAM_ENUM, "tanh", 0, 0, "tanh|relu", "MLP activation"},
    {"lr", PS_PARAM_REAL, "1e-3", 1e-12, 10, NULL, "MLP: Adam step size"},
    {"epochs", PS_PARAM_INT, "500", 1, 10000000, NULL, "MLP: Adam epochs per restart"},
    {"restarts", PS_PARAM_INT, "5", 1, 1000, NULL, "MLP: Glorot initialisations (the best final loss is kept)"},
    {"batch", PS_PARAM_INT, "0", 0, 1000000000, NULL, "MLP: rankings per Adam minibatch (0 = all)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int lw_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->beta = ps_param_real(ps_param_text(lw_params, h, "beta"));
  e->opt = pl_options_default();
  e->opt.l2 = ps_param_real(ps_param_text(lw_params, h, "l2"));
  e->opt.tol = ps_param_real(ps_param_text(lw_params, h, "tol"));
  e->opt.max_iter = (int)ps_param_int(ps_param_text(lw_params, h, "max_iter"));
  e->mlp = !strcmp(ps_param_text(lw_params, h, "policy"), "mlp");
  dpo_options o = dpo_options_default();
  o.policy = DPO_POLICY_MLP;
  o.beta = e->beta;
  o.l2 = e->opt.l2;
  o.width = (size_t)ps_param_int(ps_param_text(lw_params, h, "width"));
  o.layers = (int)ps_param_int(ps_param_text(lw_params, h, "layers"));
  o.act = !strcmp(ps_param_text(lw_params, h, "activation"), "relu") ? POLICY_ACT_RELU : POLICY_ACT_TANH;
  o.lr = ps_param_real(ps_param_text(lw_params, h, "lr"));
  o.epochs = (int)ps_param_int(ps_param_text(lw_params, h, "epochs"));
  o.restarts = (int)ps_param_int(ps_param_text(lw_params, h, "restarts"));
  o.batch = (size_t)ps_param_int(ps_param_text(lw_params, h, "batch"));
  int s = dpo_options_check(&o, m);
  if (s != PS_OK) {
    free(e);
    return s;
  }
  e->mopt = o;
  *out = e;
  return PS_OK;
}

static void lw_release(est_model *e) {
  pl_result_free(&e->res);
  dpo_result_free(&e->mres);
  free(e->work);
  e->work = NULL;
}

static int lw_fit_rank(est_model *e, const rank_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                       ps_msg *m) {
  lw_release(e);
  e->f = f;
  int s = rank_data_check(d, m);
  if (s == PS_OK && d->n == 0) s = ps_fail(m, PS_EINVAL, "no rankings");
  if (s == PS_OK && (!f || f->n_items != d->n_items))
    s = ps_fail(m, PS_EINVAL, "dpo_listwise needs the feature view of the data's %zu items", d->n_items);
  if (s == PS_OK && e->mlp) {
    s = dpo_listwise_mlp_fit(d, f, &e->mopt, r, &e->mres, m);
    if (s == PS_OK && !(e->work = malloc(policy_mlp_work_len(&e->mres.mlp) * sizeof *e->work)))
      s = e->mres.status = ps_fail(m, PS_ENOMEM, "out of memory");
    info->status = s;
    info->converged = s == PS_OK && e->mres.converged;
    info->iterations = e->mres.iterations;
    info->objective = s == PS_OK ? e->mres.objective : NAN;
    info->grad_norm = s == PS_OK ? e->mres.grad_norm : NAN;
    return s;
  }
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
    lw_release(e);
    memset(info, 0, sizeof *info);
    info->status = s;
    info->objective = info->grad_norm = NAN;
    return s;
  }
  s = lw_fit_rank(e, &rd, f, r, info, m);
  rank_data_free(&rd);
  return s;
}

static int fitted(const est_model *e) {
  return e->mlp ? e->mres.theta && e->mres.status == PS_OK && e->work : e->res.theta && e->res.status == PS_OK;
}

/* s(item): the log-linear score theta^T phi or the MLP's f(phi) */
static double score(const est_model *e, size_t item) {
  if (e->mlp) return policy_mlp_score(&e->mres.mlp, e->mres.theta, e->f->phi + item * e->f->d, e->work);
  double s;
  policy_loglinear_scores(e->f, e->res.theta, item, 1, &s);
  return s;
}

static double lw_logit(const est_model *e, int32_t a, int32_t b) {
  if (!fitted(e)) return NAN;
  return e->beta * (score(e, (size_t)a) - score(e, (size_t)b));
}

/* the log-linear offset theta (NULL for MLP policies) */
static const double *lw_theta(const est_model *e, size_t *dim) {
  int ok = fitted(e) && !e->mlp;
  *dim = ok ? e->res.d : 0;
  return ok ? e->res.theta : NULL;
}

static int lw_policy(const est_model *e, int32_t first, size_t m, double *p) {
  if (!fitted(e)) return PS_EINVAL;
  const pref_features *f = e->f;
  if (first < 0 || m == 0 || (size_t)first + m > f->n_items) return PS_EINVAL;
  for (size_t j = 0; j < m; j++) p[j] = score(e, (size_t)first + j);
  policy_log_softmax(f->log_ref ? f->log_ref + first : NULL, p, m, p);
  for (size_t j = 0; j < m; j++) p[j] = exp(p[j]);
  return PS_OK;
}

static int lw_se(const est_model *e, double *se, ps_msg *m) {
  if (!fitted(e) || e->mlp || !e->res.hessian)
    return ps_fail(m, PS_EINVAL, "dpo_listwise: no Hessian kept (not fitted, an MLP policy, or more than %d parameters)",
                   BT_SE_MAX_DIM);
  return bt_standard_errors(e->res.hessian, e->res.d, e->f, se, m);
}

static void lw_free(est_model *e) {
  if (!e) return;
  lw_release(e);
  free(e);
}

const est_type est_dpo_listwise = {
    .name = "dpo_listwise",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "Listwise DPO (Rafailov et al. 2023, appendix A.3): the Plackett-Luce likelihood of ranked responses "
           "under the implicit reward beta log(pi / pi_ref) of a log-linear policy log pi = log pi_ref + theta^T "
           "phi - A (tabular in items worlds), Newton to ||grad|| <= tol x weight (pl.c on beta phi), or an MLP "
           "policy s = f_w(phi) by Adam from Glorot restarts.  Fits the rankings of [design] ranking = k; on pairs "
           "it is pairwise DPO.  theta is the log-linear offset from pi_ref (target theta_r / beta); se from the "
           "inverse Hessian.",
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
