/* dpo_listwise.c — listwise DPO for log-linear policies through pl.c (see
 * dpo_listwise.h): the substitution theta' = beta theta. */
#include "dpo_listwise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t dim_of(const rank_data *d, const pref_features *f) { return f && f->phi ? f->d : d->n_items; }

double dpo_listwise_objective(const rank_data *d, const pref_features *f, double beta, double l2,
                              const double *theta, double *grad, double *H) {
  size_t D = dim_of(d, f);
  double *tp = calloc(D ? D : 1, sizeof *tp);
  if (!tp) return NAN;
  for (size_t k = 0; k < D; k++) tp[k] = beta * theta[k];
  /* F(theta) = G(beta theta), G = pl's objective with lambda' = l2 / beta^2:
   * grad F = beta grad G, H_F = beta^2 H_G */
  double v = pl_objective(d, f, l2 / (beta * beta), tp, grad, H, NULL);
  if (grad)
    for (size_t k = 0; k < D; k++) grad[k] *= beta;
  if (H)
    for (size_t k = 0; k < D * D; k++) H[k] *= beta * beta;
  free(tp);
  return v;
}

int dpo_listwise_fit(const rank_data *d, const pref_features *f, double beta, const pl_options *o, pl_result *res,
                     ps_msg *m) {
  memset(res, 0, sizeof *res);
  if (!(beta > 0 && isfinite(beta)))
    return res->status = ps_fail(m, PS_EINVAL, "listwise DPO: beta must be a positive number, not %g", beta);
  pl_options po = *o;
  po.l2 = o->l2 / (beta * beta);
  po.tol = o->tol; /* ||grad G|| <= tol W, i.e. ||grad F|| <= beta tol W */
  int s = pl_fit(d, f, &po, res, m);
  size_t D = res->d;
  if (res->theta)
    for (size_t k = 0; k < D; k++) res->theta[k] /= beta;
  if (res->hessian)
    for (size_t k = 0; k < D * D; k++) res->hessian[k] *= beta * beta;
  res->grad_norm *= beta;
  return s;
}
