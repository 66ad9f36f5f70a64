/* borda.c — the Borda (win-rate) estimator: item y's score is its smoothed log odds
 * of winning, theta_y = log((W_y + a) / (L_y + a)) with W_y, L_y its (weighted) wins
 * and losses and a = `smoothing` pseudo-wins and losses, centred; P(a > b) =
 * sigma(theta_a - theta_b).  On a balanced complete design BT's MLE orders items
 * exactly as their win counts do (sum_j sigma(r_i - r_j) is increasing in r_i), so
 * this is the ranking pooled BT reports there, at no optimisation cost; elsewhere it
 * is a biased baseline (docs/theory.md §3.1).  Item worlds only.
 * A worked example of an estimator in one file (docs/extending.md). */
#include <math.h>
#include <stdlib.h>

#include "estimator.h"

struct est_model {
  double smoothing; /* pseudo-wins and pseudo-losses per item, > 0 */
  double *theta;    /* n_items centred log odds, NULL before a fit */
  size_t n;
};

static const ps_param borda_params[] = {
    {"smoothing", PS_PARAM_REAL, "0.5", 1e-9, 1e6, NULL,
     "pseudo-wins and pseudo-losses added to every item (keeps undefeated items finite)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int borda_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->smoothing = ps_param_real(ps_param_text(borda_params, h, "smoothing"));
  *out = e;
  return PS_OK;
}

static int borda_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                     ps_msg *m) {
  info->iterations = 0;
  info->objective = info->grad_norm = NAN;
  if (f->phi) return info->status = ps_fail(m, PS_EINVAL, "borda fits item comparisons only (no features)");
  if (!d->n) return info->status = ps_fail(m, PS_EINVAL, "borda: no comparisons to fit");
  int s = pref_data_check(d, m);
  if (s) return info->status = s;
  size_t n = d->n_items;
  double *wl = calloc(2 * n, sizeof(double)), *theta = malloc(n * sizeof(double));
  if (!wl || !theta) {
    free(wl);
    free(theta);
    return info->status = ps_fail(m, PS_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < d->n; i++) {
    double c = d->count ? d->count[i] : 1;
    wl[2 * (size_t)d->winner[i]] += c;
    wl[2 * (size_t)d->loser[i] + 1] += c;
  }
  double mean = 0;
  for (size_t y = 0; y < n; y++) mean += theta[y] = log((wl[2 * y] + e->smoothing) / (wl[2 * y + 1] + e->smoothing));
  mean /= (double)n;
  for (size_t y = 0; y < n; y++) theta[y] -= mean;
  free(wl);
  free(e->theta);
  e->theta = theta;
  e->n = n;
  info->converged = 1;
  return info->status = PS_OK;
}

static double borda_logit(const est_model *e, int32_t a, int32_t b) { return e->theta[a] - e->theta[b]; }

static const double *borda_theta(const est_model *e, size_t *dim) {
  *dim = e->n;
  return e->theta;
}

static void borda_free(est_model *e) {
  if (!e) return;
  free(e->theta);
  free(e);
}

const est_type est_borda = {
    .name = "borda",
    .inputs = EST_IN_ITEMS,
    .doc = "Borda / win-rate scores theta_y = log((wins + a) / (losses + a)), centred, P = sigma(theta_a - theta_b): "
           "the ranking BT gives on balanced complete designs, without optimisation; a biased baseline elsewhere.",
    .params = borda_params,
    .alloc = borda_alloc,
    .fit = borda_fit,
    .logit = borda_logit,
    .theta = borda_theta,
    .free = borda_free,
};
