/* minimax_est.c — the minimax winner of the empirical preference matrix behind the
 * estimator interface (item worlds).  The model's prediction for (a, b) is the
 * empirical P(a > b) (1/2 for a pair never compared); its policy, as for every
 * estimator in cell.c, is the minimax winner of its own predicted matrix: here the
 * LP solution of the empirical game, or Hedge self-play for T rounds (averaged or
 * last iterate), which is what `method` chooses. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "estimator.h"
#include "minimax.h"

typedef enum { MM_LP = 0, MM_HEDGE_AVG = 1, MM_HEDGE_LAST = 2 } mm_method;

struct est_model {
  mm_method method;
  long T;
  double *M;    /* empirical margins */
  double *p;    /* the policy */
  size_t m;
};

static const ps_param minimax_params[] = {
    {"method", PS_PARAM_ENUM, "lp", 0, 0, "lp|hedge|hedge-last",
     "exact LP (GLPK), Hedge self-play's averaged iterate, or its last iterate"},
    {"T", PS_PARAM_INT, "1000", 1, 1e9, NULL, "Hedge rounds, eta = sqrt(8 ln m / T)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int mx_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->method = !strcmp(ps_param_text(minimax_params, h, "method"), "hedge") ? MM_HEDGE_AVG : !strcmp(ps_param_text(minimax_params, h, "method"), "hedge-last") ? MM_HEDGE_LAST : MM_LP;
  e->T = ps_param_int(ps_param_text(minimax_params, h, "T"));
  *out = e;
  return PS_OK;
}

static int mx_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                  ps_msg *m) {
  (void)r;
  info->objective = info->grad_norm = NAN;
  if (f->phi) return info->status = ps_fail(m, PS_EINVAL, "minimax fits item worlds only (world.kind = items)");
  if (!d->n) return info->status = ps_fail(m, PS_EINVAL, "minimax: no comparisons to fit");
  size_t M = d->n_items;
  if (M > 2000) return info->status = ps_fail(m, PS_EINVAL, "minimax: %zu items (at most 2000)", M);
  free(e->M);
  free(e->p);
  e->m = M;
  e->M = malloc(M * M * sizeof(double));
  e->p = malloc(M * sizeof(double));
  if (!e->M || !e->p) return info->status = ps_fail(m, PS_ENOMEM, "out of memory");
  int s = minimax_empirical(d, e->M, NULL, NULL, m);
  if (!s) {
    if (e->method == MM_LP)
      s = minimax_lp(e->M, M, e->p, NULL, m);
    else
      s = minimax_hedge(e->M, M, e->T, 0, e->method == MM_HEDGE_AVG ? e->p : NULL,
                        e->method == MM_HEDGE_LAST ? e->p : NULL, m);
  }
  info->status = s;
  info->converged = s == PS_OK;
  info->iterations = e->method == MM_LP ? 1 : (int)(e->T < 2147483647 ? e->T : 2147483647);
  if (!s) info->objective = minimax_exploitability(e->M, M, e->p);
  return s;
}

static double mx_logit(const est_model *e, int32_t a, int32_t b) {
  return minimax_margin_logit(e->M, e->m, (size_t)a, (size_t)b);
}

static const double *mx_theta(const est_model *e, size_t *dim) {
  (void)e;
  *dim = 0;
  return NULL;
}

static int mx_policy(const est_model *e, int32_t first, size_t m, double *p) {
  if (first != 0 || m != e->m) return PS_EINVAL;
  memcpy(p, e->p, m * sizeof(double));
  return PS_OK;
}

static void mx_free(est_model *e) {
  if (!e) return;
  free(e->M);
  free(e->p);
  free(e);
}

const est_type est_minimax = {
    .name = "minimax",
    .inputs = EST_IN_ITEMS,
    .doc = "Minimax winner of the empirical preference matrix (docs/theory.md §3.13): exact LP with GLPK, or "
           "Hedge self-play (averaged or last iterate); predictions are the empirical P (1/2 for "
           "pairs never compared); item worlds only.",
    .params = minimax_params,
    .alloc = mx_alloc,
    .fit = mx_fit,
    .logit = mx_logit,
    .theta = mx_theta,
    .policy = mx_policy,
    .free = mx_free,
};
