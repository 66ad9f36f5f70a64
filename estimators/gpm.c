/* gpm.c — general preference model (GPM) at item level (v_y free) or with linear
 * features (v_y = W phi(y)): skew-symmetric bilinear scores s(y,y') = v_y^T J v_y'
 * fitted with full-batch Adam (docs/theory.md §2.8, §3.7;
 * Zhang et al., "Beyond Bradley-Terry Models: A General Preference Model", arXiv
 * 2410.02197, whose reference code is general-preference/general-preference-model).
 *
 *     f(V) = sum_i c_i softplus(-s(w_i, l_i)/tau) + (l2/2) ||V||^2
 *
 * The problem is not convex (s is bilinear) and has a saddle at V = 0, hence a random
 * start V ~ N(0, init_sd^2) and restarts (§3 general rules: report the optimisation
 * residual, here ||grad f||, separately).  Adam's step is invariant to the scale of the
 * gradient except through eps, so it is fed the gradient divided by the total weight W
 * (the mean loss's gradient): then eps = 1e-8 means the same for 10 and 10^6 rows.
 * When a term's data are perfectly cyclic and deterministic the infimum is 0 at
 * ||V|| -> infinity (the GPM analogue of separable data); Adam then stops at its step
 * budget with converged = 0 and a small, not zero, gradient.
 *
 * With features the parameter is W (2k x d) instead of V and everything else is the
 * same: the objective forms V = Phi W^T, reuses the item-level loss and gradient G, and
 * pulls G back to grad_W = G^T Phi.
 *
 * Determinism: the only randomness is the initial V (or W), drawn from the caller's
 * gsl_rng in a fixed order (restart, item or row, coordinate); the arithmetic is
 * sequential. */
#include "gpm.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/adam.h"
#include "../core/numerics.h"
#include "estimator.h"

gpm_options gpm_options_default(void) {
  gpm_options o = {.k = 2, .tau = 0.1, .lr = 1e-2, .iterations = 2000, .l2 = 0, .restarts = 1,
                   .init_sd = 0.1, .tol = 1e-8};
  return o;
}

int gpm_options_check(const gpm_options *o, ps_msg *m) {
  if (o->k < 1 || o->k > 4096) return ps_fail(m, PS_EINVAL, "gpm: k = %zu must be in [1, 4096]", o->k);
  if (!(o->tau > 0) || !isfinite(o->tau)) return ps_fail(m, PS_EINVAL, "gpm: tau = %g must be finite and > 0", o->tau);
  if (!(o->lr > 0) || !isfinite(o->lr)) return ps_fail(m, PS_EINVAL, "gpm: lr = %g must be finite and > 0", o->lr);
  if (o->iterations < 1) return ps_fail(m, PS_EINVAL, "gpm: iterations = %d must be >= 1", o->iterations);
  if (!(o->l2 >= 0) || !isfinite(o->l2)) return ps_fail(m, PS_EINVAL, "gpm: l2 = %g must be finite and >= 0", o->l2);
  if (o->restarts < 1) return ps_fail(m, PS_EINVAL, "gpm: restarts = %d must be >= 1", o->restarts);
  if (!(o->init_sd > 0) || !isfinite(o->init_sd))
    return ps_fail(m, PS_EINVAL, "gpm: init_sd = %g must be finite and > 0", o->init_sd);
  if (!(o->tol >= 0) || !isfinite(o->tol)) return ps_fail(m, PS_EINVAL, "gpm: tol = %g must be finite and >= 0", o->tol);
  return PS_OK;
}

double gpm_score(const double *va, const double *vb, size_t k) {
  double s = 0;
  for (size_t l = 0; l < k; l++) s += va[2 * l] * vb[2 * l + 1] - va[2 * l + 1] * vb[2 * l];
  return s;
}

double gpm_objective(const pref_data *d, const double *v, size_t k, double tau, double l2, double *loss,
                     double *grad) {
  size_t dim = 2 * k, nv = d->n_items * dim;
  double data = 0, ridge = 0;
  if (grad) memset(grad, 0, nv * sizeof *grad);
  for (size_t i = 0; i < d->n; i++) {
    const double *va = v + (size_t)d->winner[i] * dim, *vb = v + (size_t)d->loser[i] * dim;
    double c = d->count ? d->count[i] : 1.0, z = gpm_score(va, vb, k) / tau;
    data += c * ps_softplus(-z);
    if (!grad) continue;
    /* d softplus(-z)/ds = -sigma(-z)/tau */
    double g = -c * ps_sigmoid(-z) / tau;
    double *ga = grad + (size_t)d->winner[i] * dim, *gb = grad + (size_t)d->loser[i] * dim;
    for (size_t l = 0; l < k; l++) {
      ga[2 * l] += g * vb[2 * l + 1];
      ga[2 * l + 1] -= g * vb[2 * l];
      gb[2 * l + 1] += g * va[2 * l];
      gb[2 * l] -= g * va[2 * l + 1];
    }
  }
  if (l2 > 0) {
    for (size_t j = 0; j < nv; j++) ridge += v[j] * v[j];
    if (grad)
      for (size_t j = 0; j < nv; j++) grad[j] += l2 * v[j];
  }
  if (loss) *loss = data;
  return data + 0.5 * l2 * ridge;
}

double gpm_feature_score(const double *w, size_t k, size_t d, const double *pa, const double *pb) {
  double s = 0;
  for (size_t l = 0; l < k; l++) {
    const double *w0 = w + 2 * l * d, *w1 = w0 + d;
    double a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    for (size_t j = 0; j < d; j++) {
      a0 += w0[j] * pa[j];
      a1 += w1[j] * pa[j];
      b0 += w0[j] * pb[j];
      b1 += w1[j] * pb[j];
    }
    s += a0 * b1 - a1 * b0;
  }
  return s;
}

double gpm_feature_objective(const pref_data *d, const double *phi, size_t dim, const double *w, size_t k,
                             double tau, double l2, double *loss, double *grad, double *work) {
  size_t e = 2 * k, n = d->n_items, nw = e * dim;
  double *v = work, *gv = work + n * e;
  /* V = Phi W^T: v_y[r] = w_r . phi_y */
  for (size_t y = 0; y < n; y++) {
    const double *py = phi + y * dim;
    for (size_t r = 0; r < e; r++) {
      const double *wr = w + r * dim;
      double t = 0;
      for (size_t j = 0; j < dim; j++) t += wr[j] * py[j];
      v[y * e + r] = t;
    }
  }
  double data = gpm_objective(d, v, k, tau, 0, NULL, grad ? gv : NULL), ridge = 0;
  if (grad) {
    /* grad_W = G^T Phi: row r gets sum_y G[y][r] phi_y (items with G[y] = 0 skipped) */
    memset(grad, 0, nw * sizeof *grad);
    for (size_t y = 0; y < n; y++) {
      const double *py = phi + y * dim, *gy = gv + y * e;
      for (size_t r = 0; r < e; r++) {
        if (gy[r] == 0) continue;
        double *gr = grad + r * dim;
        for (size_t j = 0; j < dim; j++) gr[j] += gy[r] * py[j];
      }
    }
  }
  if (l2 > 0) {
    for (size_t j = 0; j < nw; j++) ridge += w[j] * w[j];
    if (grad)
      for (size_t j = 0; j < nw; j++) grad[j] += l2 * w[j];
  }
  if (loss) *loss = data;
  return data + 0.5 * l2 * ridge;
}

/* What Adam optimises: item embeddings (phi == NULL; x = V) or the feature map (x = W,
 * work for gpm_feature_objective). */
typedef struct {
  const pref_data *d;
  const double *phi;
  size_t dim;
  double *work;
} gpm_problem;

static double problem_objective(const gpm_problem *p, const gpm_options *o, const double *x, double *loss,
                                double *grad) {
  if (!p->phi) return gpm_objective(p->d, x, o->k, o->tau, o->l2, loss, grad);
  return gpm_feature_objective(p->d, p->phi, p->dim, x, o->k, o->tau, o->l2, loss, grad, p->work);
}

static double norm2(const double *x, size_t n) {
  double s = 0;
  for (size_t j = 0; j < n; j++) s += x[j] * x[j];
  return sqrt(s);
}

/* One Adam run from the nv parameters in v (V or W; overwritten with the final
 * iterate), with the optimiser opt (reset here).  g holds nv doubles (the gradient).
 * Returns PS_OK or PS_EDOM. */
static int adam_run(const gpm_problem *p, const gpm_options *o, double W, size_t nv, double *v, double *g, adam *opt,
                    int *iters, int *converged, ps_msg *m) {
  adam_reset(opt);
  *converged = 0;
  for (int t = 1; t <= o->iterations; t++) {
    double f = problem_objective(p, o, v, NULL, g);
    if (!isfinite(f)) return ps_fail(m, PS_EDOM, "gpm: the objective became %g at Adam step %d", f, t);
    *iters = t - 1;
    if (o->tol > 0 && norm2(g, nv) <= o->tol * W) {
      *converged = 1;
      return PS_OK;
    }
    for (size_t j = 0; j < nv; j++) g[j] /= W; /* the mean loss's gradient (see the top) */
    adam_tick(opt);
    adam_update(opt, v, g, 0, nv, o->lr, 0);
  }
  *iters = o->iterations;
  return PS_OK;
}

/* The common fit: nv parameters (V, or W when p->phi != NULL), validated inputs. */
static int fit_impl(const gpm_problem *p, size_t nv, const gpm_options *o, gsl_rng *r, gpm_result *res,
                    ps_msg *m) {
  int s = PS_OK;
  double W = pref_data_weight(p->d);
  if (!(W > 0)) W = 1; /* no rows: every gradient is the ridge term's */
  double *best = malloc(nv * sizeof *best), *cur = malloc(nv * sizeof *cur);
  double *work = malloc(nv * sizeof *work);
  adam *opt = adam_alloc_bias(nv, ADAM_BIAS_PRODUCT);
  if (!best || !cur || !work || !opt) {
    s = p->phi ? ps_fail(m, PS_ENOMEM, "gpm: out of memory for a %zu x %zu feature map", 2 * o->k, p->dim)
               : ps_fail(m, PS_ENOMEM, "gpm: out of memory for %zu x %zu embeddings", p->d->n_items, 2 * o->k);
    goto fail;
  }
  double best_f = INFINITY;
  for (int rs = 0; rs < o->restarts; rs++) {
    for (size_t j = 0; j < nv; j++) cur[j] = gsl_ran_gaussian(r, o->init_sd);
    int it = 0, conv = 0;
    if ((s = adam_run(p, o, W, nv, cur, work, opt, &it, &conv, m))) {
      ps_msg_prefix(m, "restart %d", rs);
      goto fail;
    }
    double f = problem_objective(p, o, cur, NULL, NULL);
    if (!isfinite(f)) {
      s = ps_fail(m, PS_EDOM, "gpm: restart %d ended with objective %g", rs, f);
      goto fail;
    }
    if (f < best_f) {
      best_f = f;
      memcpy(best, cur, nv * sizeof *cur);
      res->iterations = it;
      res->converged = conv;
      res->best_restart = rs;
    }
  }
  res->n_items = p->d->n_items;
  res->k = o->k;
  res->tau = o->tau;
  res->objective = problem_objective(p, o, best, &res->loss, work);
  res->grad_norm = norm2(work, nv);
  if (p->phi) {
    res->d = p->dim;
    res->w = best;
    res->phi = p->phi;
  } else {
    res->v = best;
  }
  free(cur);
  free(work);
  adam_free(opt);
  return PS_OK;
fail:
  free(best);
  free(cur);
  free(work);
  adam_free(opt);
  memset(res, 0, sizeof *res);
  return s;
}

int gpm_fit(const pref_data *d, const gpm_options *o, gsl_rng *r, gpm_result *res, ps_msg *m) {
  memset(res, 0, sizeof *res);
  int s = gpm_options_check(o, m);
  if (s) return s;
  if ((s = pref_data_check(d, m))) return s;
  if (d->n_items == 0) return ps_fail(m, PS_EINVAL, "gpm: the data have no items");
  size_t nv = d->n_items * 2 * o->k;
  if (nv / (2 * o->k) != d->n_items) return ps_fail(m, PS_ENOMEM, "gpm: %zu items x 2k overflow", d->n_items);
  gpm_problem p = {.d = d};
  return fit_impl(&p, nv, o, r, res, m);
}

int gpm_fit_features(const pref_data *d, const pref_features *f, const gpm_options *o, gsl_rng *r,
                     gpm_result *res, ps_msg *m) {
  memset(res, 0, sizeof *res);
  int s = gpm_options_check(o, m);
  if (s) return s;
  if (!f->phi) return ps_fail(m, PS_EINVAL, "gpm: the feature view has no features (use gpm_fit)");
  if (f->n_items != d->n_items)
    return ps_fail(m, PS_EINVAL, "gpm: data has %zu items but the features describe %zu", d->n_items, f->n_items);
  if (d->n_items == 0) return ps_fail(m, PS_EINVAL, "gpm: the data have no items");
  if (f->d == 0) return ps_fail(m, PS_EINVAL, "gpm: the features have dimension 0");
  if ((s = pref_data_check(d, m))) return s;
  size_t e = 2 * o->k, nw = e * f->d, nx = d->n_items * e;
  if (nw / e != f->d || nx / e != d->n_items || f->n_items * f->d / f->d != f->n_items ||
      nw > SIZE_MAX / (3 * sizeof(double)) || nx > SIZE_MAX / (2 * sizeof(double)))
    return ps_fail(m, PS_ENOMEM, "gpm: %zu items x %zu features x 2k overflow", d->n_items, f->d);
  for (size_t i = 0; i < f->n_items * f->d; i++)
    if (!isfinite(f->phi[i]))
      return ps_fail(m, PS_EDOM, "gpm: feature %zu of item %zu is not finite", i % f->d, i / f->d);
  double *ework = malloc(2 * nx * sizeof *ework);
  if (!ework) return ps_fail(m, PS_ENOMEM, "gpm: out of memory for %zu x %zu embeddings", d->n_items, e);
  gpm_problem p = {.d = d, .phi = f->phi, .dim = f->d, .work = ework};
  s = fit_impl(&p, nw, o, r, res, m);
  free(ework);
  return s;
}

double gpm_logit(const gpm_result *res, size_t a, size_t b) {
  if (res->w)
    return gpm_feature_score(res->w, res->k, res->d, res->phi + a * res->d, res->phi + b * res->d) / res->tau;
  size_t dim = 2 * res->k;
  return gpm_score(res->v + a * dim, res->v + b * dim, res->k) / res->tau;
}

void gpm_result_free(gpm_result *res) {
  if (!res) return;
  free(res->v);
  free(res->w);
  memset(res, 0, sizeof *res);
}

/* ------------------------------------------------ the estimator interface */

struct est_model {
  gpm_options opt;
  gpm_result res;
};

static const ps_param gpm_params[] = {
    {"k", PS_PARAM_INT, "2", 1, 4096, NULL, "number of 2-D rotation blocks: embeddings have dimension 2k"},
    {"tau", PS_PARAM_REAL, "0.1", 1e-6, 1e6, NULL, "temperature: P = sigma(s / tau)"},
    {"lr", PS_PARAM_REAL, "1e-2", 1e-8, 10, NULL, "Adam step size"},
    {"iterations", PS_PARAM_INT, "2000", 1, 1e7, NULL, "Adam steps per restart (full batch)"},
    {"l2", PS_PARAM_REAL, "0", 0, 1e12, NULL, "adds (l2/2)||V||^2 (features: ||W||^2) to the summed negative log-likelihood"},
    {"restarts", PS_PARAM_INT, "1", 1, 1000, NULL, "random initialisations V (or W) ~ N(0, 0.1^2); the lowest objective is kept"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int gpm_est_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->opt = gpm_options_default();
  e->opt.k = (size_t)ps_param_int(ps_param_text(gpm_params, h, "k"));
  e->opt.tau = ps_param_real(ps_param_text(gpm_params, h, "tau"));
  e->opt.lr = ps_param_real(ps_param_text(gpm_params, h, "lr"));
  e->opt.iterations = (int)ps_param_int(ps_param_text(gpm_params, h, "iterations"));
  e->opt.l2 = ps_param_real(ps_param_text(gpm_params, h, "l2"));
  e->opt.restarts = (int)ps_param_int(ps_param_text(gpm_params, h, "restarts"));
  *out = e;
  return PS_OK;
}

static int gpm_est_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                       ps_msg *m) {
  gpm_result_free(&e->res);
  info->iterations = 0;
  info->objective = info->grad_norm = NAN;
  if (!d->n) return info->status = ps_fail(m, PS_EINVAL, "gpm: no comparisons to fit");
  int s = f->phi ? gpm_fit_features(d, f, &e->opt, r, &e->res, m) : gpm_fit(d, &e->opt, r, &e->res, m);
  info->status = s;
  if (s) return s;
  info->iterations = e->res.iterations;
  info->objective = e->res.objective;
  info->grad_norm = e->res.grad_norm;
  info->converged = s == PS_OK && e->res.converged;
  return PS_OK;
}

static double gpm_est_logit(const est_model *e, int32_t a, int32_t b) { return gpm_logit(&e->res, (size_t)a, (size_t)b); }

/* No parameter comparable with a BT truth: V (or W) is identified only up to rotations
 * and scale, so the evaluator's parameter errors stay NaN. */
static const double *gpm_est_theta(const est_model *e, size_t *dim) {
  (void)e;
  *dim = 0;
  return NULL;
}

static void gpm_est_free(est_model *e) {
  if (!e) return;
  gpm_result_free(&e->res);
  free(e);
}

const est_type est_gpm = {
    .name = "gpm",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "General preference model (Zhang et al. 2024, arXiv 2410.02197): item embeddings in R^{2k}, "
           "skew-symmetric score s(a,b) = sum_l (v_a[2l] v_b[2l+1] - v_a[2l+1] v_b[2l]), P = sigma(s/tau); "
           "in feature worlds v_y = W phi(y) with W in R^{2k x d}, so logits extend to unseen contexts; "
           "full-batch Adam on the logistic loss from V (or W) ~ N(0, 0.1^2) with restarts; represents "
           "cyclic preferences; no theta (parameter errors are NaN).",
    .params = gpm_params, .alloc = gpm_est_alloc, .fit = gpm_est_fit, .logit = gpm_est_logit,
    .theta = gpm_est_theta, .free = gpm_est_free};
