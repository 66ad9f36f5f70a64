/* bt_items_est.c — MM, LSR, I-LSR and Rank Centrality behind the estimator
 * interface (item worlds only; see bt_items.h for the algorithms). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt.h"
#include "bt_items.h"
#include "estimator.h"

typedef enum { M_MM, M_LSR, M_ILSR, M_RC } items_method;

struct est_model {
  items_method method;
  bt_items_options opt;
  double *theta;
  size_t d;
};

static const ps_param mm_params[] = {
    {"alpha", PS_PARAM_REAL, "0", 0, 1e12, NULL, "pseudo-count added to wins and denominators (choix)"},
    {"tol", PS_PARAM_REAL, "1e-8", 1e-15, 1, NULL, "stop at centred ||theta_t - theta_{t-1}||_1 <= tol m"},
    {"max_iter", PS_PARAM_INT, "10000", 1, 1e7, NULL, "iterations before reporting not-converged"},
    {"order", PS_PARAM_ENUM, "jacobi", 0, 0, "jacobi|gauss-seidel", "update all items at once, or in turn"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};
static const ps_param lsr_params[] = {
    {"alpha", PS_PARAM_REAL, "0", 0, 1e12, NULL, "pseudo-rate added to every ordered pair of items"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};
static const ps_param ilsr_params[] = {
    {"alpha", PS_PARAM_REAL, "0", 0, 1e12, NULL, "pseudo-rate added to every ordered pair of items"},
    {"tol", PS_PARAM_REAL, "1e-8", 1e-15, 1, NULL, "stop at centred ||theta_t - theta_{t-1}||_1 <= tol m"},
    {"max_iter", PS_PARAM_INT, "100", 1, 1e6, NULL, "iterations before reporting not-converged"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};
static const ps_param rc_params[] = {{NULL, 0, NULL, 0, 0, NULL, NULL}};

static int alloc_common(est_model **out, items_method meth, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->method = meth;
  e->opt.tol = 1e-8;
  e->opt.max_iter = meth == M_MM ? 10000 : 100;
  *out = e;
  return PS_OK;
}

static int mm_alloc(est_model **out, const char *const *h, ps_msg *m) {
  int s = alloc_common(out, M_MM, m);
  if (s) return s;
  (*out)->opt.alpha = ps_param_real(ps_param_text(mm_params, h, "alpha"));
  (*out)->opt.tol = ps_param_real(ps_param_text(mm_params, h, "tol"));
  (*out)->opt.max_iter = (int)ps_param_int(ps_param_text(mm_params, h, "max_iter"));
  (*out)->opt.gauss_seidel = strcmp(ps_param_text(mm_params, h, "order"), "gauss-seidel") == 0;
  return PS_OK;
}
static int lsr_alloc(est_model **out, const char *const *h, ps_msg *m) {
  int s = alloc_common(out, M_LSR, m);
  if (!s) (*out)->opt.alpha = ps_param_real(ps_param_text(lsr_params, h, "alpha"));
  return s;
}
static int ilsr_alloc(est_model **out, const char *const *h, ps_msg *m) {
  int s = alloc_common(out, M_ILSR, m);
  if (s) return s;
  (*out)->opt.alpha = ps_param_real(ps_param_text(ilsr_params, h, "alpha"));
  (*out)->opt.tol = ps_param_real(ps_param_text(ilsr_params, h, "tol"));
  (*out)->opt.max_iter = (int)ps_param_int(ps_param_text(ilsr_params, h, "max_iter"));
  return PS_OK;
}
static int rc_alloc(est_model **out, const char *const *h, ps_msg *m) {
  (void)h;
  return alloc_common(out, M_RC, m);
}

static int items_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                     ps_msg *m) {
  (void)r;
  info->grad_norm = NAN;
  info->objective = NAN;
  if (f->phi)
    return info->status = ps_fail(m, PS_EINVAL, "this estimator fits item scores only (world.kind = items)");
  int s = pref_data_check(d, m);
  if (s) return info->status = s;
  if (e->opt.alpha == 0 && e->method != M_RC && (s = bt_check_items(d, NULL, m)) != PS_OK) return info->status = s;
  free(e->theta);
  e->d = d->n_items;
  e->theta = malloc(e->d * sizeof(double));
  double *pi = malloc(e->d * sizeof(double));
  if (!e->theta || !pi) {
    free(pi);
    return info->status = ps_fail(m, PS_ENOMEM, "out of memory");
  }
  int it = 1;
  switch (e->method) {
  case M_MM: s = bt_items_mm(d, &e->opt, pi, &it, m); break;
  case M_LSR: s = bt_items_lsr_step(d, e->opt.alpha, NULL, pi, m); break;
  case M_ILSR: s = bt_items_ilsr(d, &e->opt, pi, &it, m); break;
  default: s = bt_items_rank_centrality(d, pi, m); break;
  }
  bt_items_theta(pi, e->d, e->theta);
  for (size_t i = 0; s == PS_OK && i < e->d; i++)
    if (!isfinite(e->theta[i])) s = ps_fail(m, PS_ENOMLE, "item %zu has probability 0: its score is -infinity", i);
  free(pi);
  info->iterations = it;
  info->status = s;
  info->converged = s == PS_OK;
  return s;
}

static double items_logit(const est_model *e, int32_t a, int32_t b) { return e->theta[a] - e->theta[b]; }

static const double *items_theta(const est_model *e, size_t *dim) {
  *dim = e->d;
  return e->theta;
}

static void items_free(est_model *e) {
  if (!e) return;
  free(e->theta);
  free(e);
}

const est_type est_mm = {
    .name = "mm",
    .inputs = EST_IN_ITEMS,
    .doc = "Hunter's MM algorithm for the item BT MLE (Hunter 2004), Jacobi or Gauss-Seidel, with "
           "choix's alpha pseudo-counts; item worlds only.",
    .params = mm_params, .alloc = mm_alloc, .fit = items_fit, .logit = items_logit, .theta = items_theta,
    .free = items_free};
const est_type est_lsr = {
    .name = "lsr",
    .inputs = EST_IN_ITEMS,
    .doc = "Luce spectral ranking, one step from uniform: the stationary distribution of a Markov chain "
           "on items (Maystre & Grossglauser 2015); a spectral estimate, not the MLE.",
    .params = lsr_params, .alloc = lsr_alloc, .fit = items_fit, .logit = items_logit, .theta = items_theta,
    .free = items_free};
const est_type est_ilsr = {
    .name = "ilsr",
    .inputs = EST_IN_ITEMS,
    .doc = "Iterative LSR: LSR re-weighted by the current scores until its fixed point, the item BT MLE "
           "(Maystre & Grossglauser 2015).",
    .params = ilsr_params, .alloc = ilsr_alloc, .fit = items_fit, .logit = items_logit, .theta = items_theta,
    .free = items_free};
const est_type est_rank_centrality = {
    .name = "rank_centrality",
    .inputs = EST_IN_ITEMS,
    .doc = "Rank Centrality (Negahban, Oh & Shah 2017): stationary distribution of the chain with rates "
           "n_wl / (n_wl + n_lw); consistent for BT on dense designs but not the MLE.",
    .params = rc_params, .alloc = rc_alloc, .fit = items_fit, .logit = items_logit, .theta = items_theta,
    .free = items_free};
