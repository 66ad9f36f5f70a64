/* dpo_listwise.c — listwise DPO (see dpo_listwise.h): log-linear policies through pl.c by
 * the substitution theta' = beta theta; MLP policies by Adam on the same loss. */
#include "dpo_listwise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/adam.h"
#include "policy.h"

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

/* ---------------- MLP policies ---------------- */

typedef struct {
  const rank_data *d;
  const pref_features *f;
  const policy_mlp *a;
  double beta;
  double *s, *coef, *work; /* per offered item of the largest ranking: scores, dF/ds; MLP scratch */
} lw_mlp;

static void lw_mlp_free(lw_mlp *x) {
  free(x->s);
  free(x->coef);
  free(x->work);
}

static int lw_mlp_init(lw_mlp *x, const rank_data *d, const pref_features *f, const policy_mlp *a, double beta) {
  size_t kmax = 1;
  for (size_t r = 0; r < d->n; r++) kmax = rank_size(d, r) > kmax ? rank_size(d, r) : kmax;
  *x = (lw_mlp){.d = d, .f = f, .a = a, .beta = beta};
  x->s = malloc(kmax * sizeof *x->s);
  x->coef = malloc(kmax * sizeof *x->coef);
  x->work = malloc(policy_mlp_work_len(a) * sizeof *x->work);
  if (x->s && x->coef && x->work) return PS_OK;
  lw_mlp_free(x);
  return PS_ENOMEM;
}

/* c_r times ranking r's negative log-likelihood; its gradient added to grad (when not NULL) */
static double lw_mlp_ranking(lw_mlp *x, const double *w, size_t r, double *grad) {
  const rank_data *d = x->d;
  size_t k = rank_size(d, r), T = rank_stages(d, r), D = x->f->d;
  const int32_t *it = d->item + d->off[r];
  double c = d->count ? d->count[r] : 1, F = 0;
  for (size_t j = 0; j < k; j++) {
    x->s[j] = x->beta * policy_mlp_score(x->a, w, x->f->phi + (size_t)it[j] * D, x->work);
    x->coef[j] = 0;
  }
  for (size_t t = 0; t < T; t++) {
    double mx = -INFINITY, z = 0;
    for (size_t v = t; v < k; v++) mx = fmax(mx, x->s[v]);
    for (size_t v = t; v < k; v++) z += exp(x->s[v] - mx);
    double lse = mx + log(z);
    F += lse - x->s[t];
    if (grad) {
      for (size_t v = t; v < k; v++) x->coef[v] += exp(x->s[v] - lse);
      x->coef[t] -= 1;
    }
  }
  if (grad)
    for (size_t j = 0; j < k; j++) {
      if (x->coef[j] == 0) continue;
      const double *phi = x->f->phi + (size_t)it[j] * D;
      policy_mlp_score(x->a, w, phi, x->work);
      policy_mlp_backprop(x->a, w, phi, c * x->beta * x->coef[j], grad, x->work);
    }
  return c * F;
}

static double lw_mlp_full(lw_mlp *x, double l2, const double *w, double *grad) {
  size_t np = x->a->n_params;
  double F = 0, pen = 0;
  if (grad) memset(grad, 0, np * sizeof *grad);
  for (size_t r = 0; r < x->d->n; r++) F += lw_mlp_ranking(x, w, r, grad);
  for (size_t k = 0; k < np; k++) {
    pen += w[k] * w[k];
    if (grad) grad[k] += l2 * w[k];
  }
  return F + 0.5 * l2 * pen;
}

double dpo_listwise_mlp_objective(const rank_data *d, const pref_features *f, double beta, double l2,
                                  const policy_mlp *a, const double *w, double *grad) {
  lw_mlp x;
  if (lw_mlp_init(&x, d, f, a, beta) != PS_OK) return NAN;
  double F = lw_mlp_full(&x, l2, w, grad);
  lw_mlp_free(&x);
  return F;
}

int dpo_listwise_mlp_fit(const rank_data *d, const pref_features *f, const dpo_options *o, gsl_rng *r,
                         dpo_result *res, ps_msg *m) {
  memset(res, 0, sizeof *res);
  res->policy = DPO_POLICY_MLP;
  int st = dpo_options_check(o, m);
  if (st == PS_OK && o->policy != DPO_POLICY_MLP)
    st = ps_fail(m, PS_EINVAL, "listwise DPO: dpo_listwise_mlp_fit fits MLP policies (log-linear: dpo_listwise_fit)");
  if (st == PS_OK && (!f || !f->phi || f->n_items != d->n_items))
    st = ps_fail(m, PS_EINVAL, "listwise DPO: an MLP policy needs the features of the data's %zu items", d->n_items);
  if (st == PS_OK) st = rank_data_check(d, m);
  if (st == PS_OK && d->n == 0) st = ps_fail(m, PS_EINVAL, "no rankings");
  size_t C = f && f->n_contexts ? f->n_contexts : 1;
  for (size_t i = 0; st == PS_OK && f->item_context && i < d->n; i++)
    for (size_t j = d->off[i] + 1; j < d->off[i + 1]; j++)
      if (f->item_context[d->item[j]] != f->item_context[d->item[d->off[i]]]) {
        st = ps_fail(m, PS_EINVAL, "ranking %zu offers responses of different contexts (of %zu)", i + 1, C);
        break;
      }
  for (size_t i = 0; st == PS_OK && i < f->n_items * f->d; i++)
    if (!isfinite(f->phi[i])) st = ps_fail(m, PS_EDOM, "feature %zu of item %zu is not finite", i % f->d, i / f->d);
  if (st == PS_OK) st = policy_mlp_init(&res->mlp, f->d, o->width, o->layers, o->act, m);
  if (st != PS_OK) return res->status = st;
  const policy_mlp *a = &res->mlp;
  size_t np = a->n_params, n = d->n, batch = o->batch == 0 || o->batch > n ? n : o->batch;
  double W = rank_data_weight(d), bestF = INFINITY;
  lw_mlp x = {0};
  double *P = malloc(np * sizeof *P), *g = malloc(np * sizeof *g);
  size_t *idx = malloc(n * sizeof *idx);
  adam *opt = adam_alloc(np);
  res->theta = malloc(np * sizeof *res->theta);
  res->dim = np;
  if (!P || !g || !idx || !opt || !res->theta || lw_mlp_init(&x, d, f, a, o->beta) != PS_OK) {
    st = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  for (int rs = 0; rs < o->restarts; rs++) {
    policy_mlp_glorot(a, P, r);
    adam_reset(opt);
    for (int ep = 0; ep < o->epochs; ep++)
      for (size_t b0 = 0; b0 < n; b0 += batch) {
        size_t nb = b0 + batch < n ? batch : n - b0;
        adam_minibatch(r, n, nb, idx);
        double wb = 0;
        memset(g, 0, np * sizeof *g);
        for (size_t t = 0; t < nb; t++) {
          wb += d->count ? d->count[idx[t]] : 1;
          lw_mlp_ranking(&x, P, idx[t], g);
        }
        /* the mean form F / W estimated on the batch */
        for (size_t k = 0; k < np; k++) g[k] = g[k] / wb + o->l2 / W * P[k];
        adam_tick(opt);
        adam_update(opt, P, g, 0, np, o->lr, 0);
      }
    double F = lw_mlp_full(&x, o->l2, P, g);
    if (isfinite(F) && F < bestF) {
      bestF = F;
      res->objective = F;
      double gn = 0;
      for (size_t k = 0; k < np; k++) gn += g[k] * g[k];
      res->grad_norm = sqrt(gn);
      memcpy(res->theta, P, np * sizeof *P);
    }
  }
  res->iterations = o->epochs;
  if (!isfinite(bestF)) {
    st = ps_fail(m, PS_EDOM, "every MLP restart ended with a non-finite objective (lower lr)");
    goto done;
  }
  res->converged = res->grad_norm <= 1e-3 * W;
done:
  lw_mlp_free(&x);
  free(P);
  free(g);
  free(idx);
  adam_free(opt);
  return res->status = st;
}
