/* bt_est.c — Bradley-Terry behind the common estimator interface.
 * The fitting itself is bt.c; this file maps hyperparameters and queries. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "bt.h"
#include "estimator.h"

struct est_model {
  bt_options opt;
  int ties; /* -1 refuse, else a pref_ties_mode */
  bt_result res;
  const pref_features *f;
  int fitted;
};

static const ps_param bt_params[] = {
    {"l2", PS_PARAM_REAL, "0", 0, 1e12, NULL,
     "lambda: adds (lambda/2)||theta||^2 to the summed negative log-likelihood (liblinear C = 1/lambda)"},
    {"link", PS_PARAM_ENUM, "logistic", 0, 0, "logistic|probit", "logistic = Bradley-Terry, probit = Thurstone"},
    {"tol", PS_PARAM_REAL, "1e-10", 1e-15, 1e-2, NULL, "stop when ||gradient|| <= tol x total weight"},
    {"max_iter", PS_PARAM_INT, "100", 1, 10000, NULL, "Newton iterations before reporting not-converged"},
    {"firth", PS_PARAM_BOOL, "false", 0, 0, NULL,
     "Firth's bias-reduced fit: maximise log L + (1/2) log det I (Jeffreys prior; finite on separable data; "
     "logistic link only; with l2 > 0 the Gaussian prior is added)"},
    {"ties", PS_PARAM_ENUM, "refuse", 0, 0, "refuse|drop|half",
     "data with ties: refuse them, drop them, or count each as half a win each way (BradleyTerry2's win.adj)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int bt_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->opt = bt_options_default();
  e->opt.l2 = ps_param_real(ps_param_text(bt_params, h, "l2"));
  e->opt.link = strcmp(ps_param_text(bt_params, h, "link"), "probit") == 0 ? BT_LINK_PROBIT : BT_LINK_LOGISTIC;
  e->opt.tol = ps_param_real(ps_param_text(bt_params, h, "tol"));
  e->opt.max_iter = (int)ps_param_int(ps_param_text(bt_params, h, "max_iter"));
  e->opt.firth = ps_param_bool(ps_param_text(bt_params, h, "firth"));
  const char *ties = ps_param_text(bt_params, h, "ties");
  e->ties = !strcmp(ties, "drop") ? PREF_TIES_DROP : !strcmp(ties, "half") ? PREF_TIES_HALF : -1;
  if (e->opt.firth && e->opt.link != BT_LINK_LOGISTIC) {
    free(e);
    return ps_fail(m, PS_EINVAL, "bt: firth = true needs link = logistic (the probit Jeffreys penalty is not "
                                 "implemented)");
  }
  *out = e;
  return PS_OK;
}

static int bt_est_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r,
                      est_fit_info *info, ps_msg *m) {
  (void)r;
  bt_result_free(&e->res);
  e->f = f;
  int s;
  /* keep the Hessian for the se query when it is small */
  e->opt.want_hessian = (f && f->phi ? f->d : d->n_items) <= BT_SE_MAX_DIM;
  if (pref_data_n_ties(d) > 0) {
    /* the shortcuts: strict pairs from the ties, then plain BT (the strict rows' loops untouched) */
    pref_data strict;
    if (e->ties < 0)
      s = ps_fail(m, PS_EINVAL,
                  "bt: the data have %zu ties; set ties = drop or half (prefsim fit: --ties drop|half), or fit a "
                  "tie model (davidson, raokupper)",
                  pref_data_n_ties(d));
    else if ((s = pref_data_resolve_ties(d, (pref_ties_mode)e->ties, &strict, m)) == PS_OK) {
      s = bt_fit(&strict, f, &e->opt, &e->res, m);
      pref_data_free(&strict);
    }
  } else {
    s = bt_fit(d, f, &e->opt, &e->res, m);
  }
  e->fitted = s == PS_OK;
  info->status = s;
  info->converged = s == PS_OK;
  info->iterations = e->res.iterations;
  info->objective = e->res.objective;
  info->grad_norm = e->res.grad_norm;
  return s;
}

static double bt_logit(const est_model *e, int32_t a, int32_t b) {
  const pref_features *f = e->f;
  double sa, sb;
  if (!f->phi) {
    sa = e->res.theta[a];
    sb = e->res.theta[b];
  } else {
    const double *pa = f->phi + (size_t)a * f->d, *pb = f->phi + (size_t)b * f->d;
    sa = sb = 0;
    for (size_t k = 0; k < f->d; k++) {
      sa += e->res.theta[k] * pa[k];
      sb += e->res.theta[k] * pb[k];
    }
  }
  double z = sa - sb;
  if (e->opt.link == BT_LINK_PROBIT) {
    /* logit of Phi(z): log Phi(z) - log Phi(-z) */
    return ps_log_normal_cdf(z) - ps_log_normal_cdf(-z);
  }
  return z;
}

static const double *bt_params_get(const est_model *e, size_t *dim) {
  *dim = e->res.d;
  return e->res.theta;
}

static int bt_se(const est_model *e, double *se, ps_msg *m) {
  if (!e->fitted || !e->res.hessian)
    return ps_fail(m, PS_EINVAL, "bt: no Hessian kept (not fitted, or more than %d parameters)", BT_SE_MAX_DIM);
  return bt_standard_errors(e->res.hessian, e->res.d, e->f, se, m);
}

static void bt_free(est_model *e) {
  if (!e) return;
  bt_result_free(&e->res);
  free(e);
}

const est_type est_bt = {
    .name = "bt",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES | EST_IN_TIES,
    .doc = "Bradley-Terry maximum likelihood (Zermelo 1929; Bradley & Terry 1952), item scores or "
           "linear features r = theta^T phi, logistic or probit (Thurstone) link; Newton-CG to "
           "||grad|| <= tol; reports no-mle when the win graph is not strongly connected (Ford 1957; "
           "Hunter 2004) or the data are separable.  firth = true: Firth's (1993) bias-reduced, "
           "Jeffreys-prior penalised fit, finite on separable data (Kosmidis & Firth 2021).  Data with "
           "ties: refused, or (ties = drop|half) reduced to strict pairs first.",
    .params = bt_params,
    .alloc = bt_alloc,
    .fit = bt_est_fit,
    .logit = bt_logit,
    .theta = bt_params_get,
    .free = bt_free,
    .se = bt_se,
};
