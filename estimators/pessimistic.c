/* pessimistic.c — pessimistic MLE policy (Zhu, Jordan & Jiao 2023, "Principled
 * reinforcement learning with human feedback from pairwise or K-wise comparisons";
 * docs/theory.md §3.14) and the greedy MLE baseline.
 *
 *   theta_hat = argmin (1/n) sum_i c_i softplus(-theta^T x_i) + (lambda/2)||theta||^2
 *               (bt_fit with l2 = n lambda: bt penalises the summed loss)
 *   Sigma_D   = (1/n) sum_i c_i x_i x_i^T,  A = (Sigma_D + lambda I)^{-1}
 *   f         = C sqrt((d + log(1/delta))/(gamma^2 n) + lambda B^2)
 *   J(pi)     = theta_hat^T (phi_pi - v) - f ||phi_pi - v||_A    (min over the ellipsoid)
 *
 * gamma: `paper` = sigma'(L B) with L = max_y ||phi(y)|| (the reproduction's choice);
 * `realised` = min_i sigma'(B ||x_i||) over the observed difference vectors, the
 * smallest slope any theta in the B-ball can produce on the data (logits reach
 * 2 L B, so this can be smaller than the paper's).  Contexts are weighted
 * uniformly; v = E_s E_{pi_ref} phi.  J is maximised over deterministic policies by
 * enumeration when m^S <= 2^20; otherwise each context takes its own LCB choice
 * argmax_y theta_hat^T phi(s,y) - f ||phi(s,y) - v_s||_A and coordinate ascent on the
 * exact J follows (a local maximum: labelled `exact = 0`).  Item worlds use
 * phi = one-hot (d = items); the null direction 1 is harmless because every
 * w = phi_pi - v then sums to 0, but Sigma_D + lambda I needs lambda > 0.
 *
 * Guarantee (Zhu et al. Thm 3.2, with the factor 2 made explicit): when theta* lies
 * in the ellipsoid, SubOpt(pi_hat) = theta*^T (phi_pi* - phi_pi_hat)
 * <= theta*^T w* - J(pi_hat) <= theta*^T w* - J(pi*) <= 2 f ||w*||_A, w* = phi_pi* - v.
 * pi* is unknown to the estimator, so self_estimate reports the comparator-free
 * 2 f max_pi ||phi_pi - v||_A >= 2 f ||w*||_A (max over deterministic policies:
 * exact by enumeration, else the per-context triangle bound). */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "bt.h"
#include "estimator.h"
#include "pessimistic.h"

#define PESS_ENUM_MAX 1048576.0 /* 2^20 deterministic policies */

struct est_model {
  int greedy;
  double C, delta, B, lambda;
  int gamma_realised;
  const pref_features *f;
  size_t d, n_ctx, m;
  double *theta, *A, *v; /* d, d x d, d */
  double radius, gamma;
  int exact;
  int *choice;       /* n_ctx */
  double self_bound; /* 2 f max_pi ||phi_pi - v||_A (NaN for greedy_mle) */
};

double pessimistic_radius(double C, size_t d, double delta, double gamma, double n, double lambda, double B) {
  if (!(C >= 0) || !(delta > 0 && delta < 1) || !(gamma > 0) || !(n > 0) || !(lambda >= 0) || !(B >= 0)) return NAN;
  return C * sqrt(((double)d + log(1 / delta)) / (gamma * gamma * n) + lambda * B * B);
}

double pessimistic_lcb(size_t d, const double *theta, const double *A, double f, const double *w) {
  double lin = 0, quad = 0;
  for (size_t j = 0; j < d; j++) {
    lin += theta[j] * w[j];
    double aw = 0;
    for (size_t k = 0; k < d; k++) aw += A[j * d + k] * w[k];
    quad += w[j] * aw;
  }
  return lin - f * sqrt(fmax(quad, 0));
}

static double feat(const pref_features *f, size_t item, size_t k) {
  return f->phi ? f->phi[item * f->d + k] : (double)(item == k);
}

static const ps_param pess_params[] = {
    {"C", PS_PARAM_REAL, "1", 0, 1e6, NULL, "tuning constant of the confidence radius"},
    {"delta", PS_PARAM_REAL, "0.1", 1e-12, 0.999999, NULL, "confidence level 1 - delta"},
    {"B", PS_PARAM_REAL, "1", 0, 1e6, NULL, "norm bound ||theta|| <= B in the radius and in gamma"},
    {"lambda", PS_PARAM_REAL, "0.001", 0, 1e6, NULL,
     "per-sample L2: (lambda/2)||theta||^2 on the mean loss, and Sigma_D + lambda I"},
    {"gamma", PS_PARAM_ENUM, "paper", 0, 0, "paper|realised",
     "sigma'(L B) (paper) or min over rows of sigma'(B ||x_i||) (realised range)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static const ps_param greedy_params[] = {
    {"lambda", PS_PARAM_REAL, "0.001", 0, 1e6, NULL, "per-sample L2: (lambda/2)||theta||^2 on the mean loss"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int pess_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->C = ps_param_real(ps_param_text(pess_params, h, "C"));
  e->delta = ps_param_real(ps_param_text(pess_params, h, "delta"));
  e->B = ps_param_real(ps_param_text(pess_params, h, "B"));
  e->lambda = ps_param_real(ps_param_text(pess_params, h, "lambda"));
  e->gamma_realised = !strcmp(ps_param_text(pess_params, h, "gamma"), "realised");
  *out = e;
  return PS_OK;
}

static int greedy_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->greedy = 1;
  e->lambda = ps_param_real(ps_param_text(greedy_params, h, "lambda"));
  e->C = 0;
  e->delta = 0.1;
  e->B = 1;
  *out = e;
  return PS_OK;
}

static void pess_clear(est_model *e) {
  free(e->theta);
  free(e->A);
  free(e->v);
  free(e->choice);
  e->theta = e->A = e->v = NULL;
  e->choice = NULL;
}

/* J of the policy whose feature mean is phi_pi (scratch w of length d). */
static double pess_J(const est_model *e, const double *phi_pi, double *w) {
  for (size_t k = 0; k < e->d; k++) w[k] = phi_pi[k] - e->v[k];
  return pessimistic_lcb(e->d, e->theta, e->A, e->radius, w);
}

static void pess_add_choice(const est_model *e, size_t s, int y, double sign, double *phi_pi) {
  size_t item = s * e->m + (size_t)y;
  for (size_t k = 0; k < e->d; k++) phi_pi[k] += sign * feat(e->f, item, k) / (double)e->n_ctx;
}

static int pess_optimise(est_model *e, ps_msg *msg) {
  size_t S = e->n_ctx, M = e->m, d = e->d;
  double *phi = calloc(d, sizeof *phi), *w = malloc(d * sizeof *w);
  int *cur = calloc(S, sizeof *cur);
  if (!phi || !w || !cur) {
    free(phi);
    free(w);
    free(cur);
    return ps_fail(msg, PS_ENOMEM, "out of memory");
  }
  if (e->greedy) {
    for (size_t s = 0; s < S; s++) {
      double best = -INFINITY;
      for (size_t y = 0; y < M; y++) {
        double r = 0;
        for (size_t k = 0; k < d; k++) r += e->theta[k] * feat(e->f, s * M + y, k);
        if (r > best) best = r, e->choice[s] = (int)y;
      }
    }
    e->exact = 1;
  } else if (pow((double)M, (double)S) <= PESS_ENUM_MAX) {
    /* mixed-radix odometer over all M^S policies, phi_pi updated per changed digit */
    for (size_t s = 0; s < S; s++) pess_add_choice(e, s, 0, 1, phi);
    double best = pess_J(e, phi, w);
    memcpy(e->choice, cur, S * sizeof *cur);
    for (;;) {
      size_t s = 0;
      while (s < S && cur[s] == (int)M - 1) {
        pess_add_choice(e, s, cur[s], -1, phi);
        cur[s] = 0;
        pess_add_choice(e, s, 0, 1, phi);
        s++;
      }
      if (s == S) break;
      pess_add_choice(e, s, cur[s], -1, phi);
      cur[s]++;
      pess_add_choice(e, s, cur[s], 1, phi);
      double J = pess_J(e, phi, w);
      if (J > best) best = J, memcpy(e->choice, cur, S * sizeof *cur);
    }
    e->exact = 1;
  } else {
    /* per-context LCB, then coordinate ascent on the exact J */
    double *vs = malloc(d * sizeof *vs);
    if (!vs) {
      free(phi);
      free(w);
      free(cur);
      return ps_fail(msg, PS_ENOMEM, "out of memory");
    }
    for (size_t s = 0; s < S; s++) {
      for (size_t k = 0; k < d; k++) {
        vs[k] = 0;
        for (size_t y = 0; y < M; y++) {
          double pr = e->f->log_ref ? exp(e->f->log_ref[s * M + y]) : 1.0 / (double)M;
          vs[k] += pr * feat(e->f, s * M + y, k);
        }
      }
      double best = -INFINITY;
      for (size_t y = 0; y < M; y++) {
        for (size_t k = 0; k < d; k++) w[k] = feat(e->f, s * M + y, k) - vs[k];
        double J = pessimistic_lcb(d, e->theta, e->A, e->radius, w);
        if (J > best) best = J, e->choice[s] = (int)y;
      }
      pess_add_choice(e, s, e->choice[s], 1, phi);
    }
    free(vs);
    double J = pess_J(e, phi, w);
    for (int pass = 0, improved = 1; pass < 100 && improved; pass++) {
      improved = 0;
      for (size_t s = 0; s < S; s++) {
        int y0 = e->choice[s];
        for (size_t y = 0; y < M; y++) {
          if ((int)y == e->choice[s]) continue;
          pess_add_choice(e, s, e->choice[s], -1, phi);
          pess_add_choice(e, s, (int)y, 1, phi);
          double Jy = pess_J(e, phi, w);
          if (Jy > J + 1e-14 * fabs(J)) {
            J = Jy;
            e->choice[s] = (int)y;
          } else {
            pess_add_choice(e, s, (int)y, -1, phi);
            pess_add_choice(e, s, e->choice[s], 1, phi);
          }
        }
        improved |= e->choice[s] != y0;
      }
    }
    e->exact = 0;
  }
  free(phi);
  free(w);
  free(cur);
  return PS_OK;
}

/* max over deterministic policies of ||phi_pi - v||_A: the maximum of a convex
 * function over the product of simplices is attained at a deterministic policy,
 * so enumeration (m^S <= 2^20) is exact; otherwise the triangle inequality over
 * w_pi = (1/S) sum_s (phi(s, pi(s)) - v_s), v_s = E_{pi_ref} phi(s, .), gives the
 * upper bound (1/S) sum_s max_y ||phi(s, y) - v_s||_A.  NaN when out of memory. */
static double pess_max_norm(const est_model *e) {
  size_t S = e->n_ctx, M = e->m, d = e->d;
  double *phi = calloc(d, sizeof *phi), *w = malloc(d * sizeof *w), *zero = calloc(d, sizeof *zero);
  double *vs = malloc(d * sizeof *vs);
  int *cur = calloc(S, sizeof *cur);
  double best = NAN;
  if (!phi || !w || !zero || !vs || !cur) goto done;
  if (pow((double)M, (double)S) <= PESS_ENUM_MAX) {
    for (size_t s = 0; s < S; s++) pess_add_choice(e, s, 0, 1, phi);
    for (size_t k = 0; k < d; k++) w[k] = phi[k] - e->v[k];
    best = -pessimistic_lcb(d, zero, e->A, 1, w);
    for (;;) {
      size_t s = 0;
      while (s < S && cur[s] == (int)M - 1) {
        pess_add_choice(e, s, cur[s], -1, phi);
        cur[s] = 0;
        pess_add_choice(e, s, 0, 1, phi);
        s++;
      }
      if (s == S) break;
      pess_add_choice(e, s, cur[s], -1, phi);
      cur[s]++;
      pess_add_choice(e, s, cur[s], 1, phi);
      for (size_t k = 0; k < d; k++) w[k] = phi[k] - e->v[k];
      best = fmax(best, -pessimistic_lcb(d, zero, e->A, 1, w));
    }
  } else {
    best = 0;
    for (size_t s = 0; s < S; s++) {
      for (size_t k = 0; k < d; k++) {
        vs[k] = 0;
        for (size_t y = 0; y < M; y++) {
          double pr = e->f->log_ref ? exp(e->f->log_ref[s * M + y]) : 1.0 / (double)M;
          vs[k] += pr * feat(e->f, s * M + y, k);
        }
      }
      double mx = 0;
      for (size_t y = 0; y < M; y++) {
        for (size_t k = 0; k < d; k++) w[k] = feat(e->f, s * M + y, k) - vs[k];
        mx = fmax(mx, -pessimistic_lcb(d, zero, e->A, 1, w));
      }
      best += mx / (double)S;
    }
  }
done:
  free(phi);
  free(w);
  free(zero);
  free(vs);
  free(cur);
  return best;
}

static int pess_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                    ps_msg *msg) {
  (void)r;
  info->status = PS_OK;
  info->converged = 0;
  info->iterations = 0;
  info->objective = info->grad_norm = NAN;
  pess_clear(e);
  int s = PS_OK;
  double *wrow = NULL;
  bt_result res;
  memset(&res, 0, sizeof res);
  if (d->n == 0) return info->status = ps_fail(msg, PS_EINVAL, "%s: no comparisons", e->greedy ? "greedy_mle" : "pessimistic");
  if ((s = pref_data_check(d, msg))) return info->status = s;
  size_t S = f->n_contexts ? f->n_contexts : 1;
  if (f->n_items % S) return info->status = ps_fail(msg, PS_EINVAL, "pessimistic: %zu items do not split into %zu contexts", f->n_items, S);
  e->f = f;
  e->d = f->d;
  e->n_ctx = S;
  e->m = f->n_items / S;
  size_t D = e->d;
  double n = pref_data_weight(d);
  bt_options o = bt_options_default();
  o.l2 = e->lambda * n;
  s = bt_fit(d, f, &o, &res, msg);
  if (s) {
    ps_msg_prefix(msg, "%s: reward MLE", e->greedy ? "greedy_mle" : "pessimistic");
    goto fail;
  }
  e->theta = malloc(D * sizeof(double));
  e->A = malloc(D * D * sizeof(double));
  e->v = calloc(D, sizeof(double));
  e->choice = calloc(S, sizeof(int));
  wrow = malloc(d->n * sizeof *wrow);
  if (!e->theta || !e->A || !e->v || !e->choice || !wrow) {
    s = ps_fail(msg, PS_ENOMEM, "out of memory");
    goto fail;
  }
  memcpy(e->theta, res.theta, D * sizeof(double));
  for (size_t i = 0; i < d->n; i++) wrow[i] = (d->count ? d->count[i] : 1.0) / n;
  if ((s = bt_design_hessian(d, f, wrow, e->lambda, e->A, msg))) goto fail;
  {
    gsl_matrix_view Av = gsl_matrix_view_array(e->A, D, D);
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int gs = gsl_linalg_cholesky_decomp1(&Av.matrix);
    if (!gs) gs = gsl_linalg_cholesky_invert(&Av.matrix);
    gsl_set_error_handler(old);
    if (gs) {
      s = ps_fail(msg, PS_ESINGULAR, "pessimistic: Sigma_D + lambda I is not positive definite (lambda = %g; item "
                                     "worlds need lambda > 0)", e->lambda);
      goto fail;
    }
  }
  for (size_t c = 0; c < S; c++)
    for (size_t y = 0; y < e->m; y++) {
      size_t it = c * e->m + y;
      double pr = f->log_ref ? exp(f->log_ref[it]) : 1.0 / (double)e->m;
      for (size_t k = 0; k < D; k++) e->v[k] += pr * feat(f, it, k) / (double)S;
    }
  /* gamma and the radius */
  if (e->gamma_realised) {
    double xmax = 0;
    for (size_t i = 0; i < d->n; i++) {
      double q = 0;
      for (size_t k = 0; k < D; k++) {
        double x = feat(f, (size_t)d->winner[i], k) - feat(f, (size_t)d->loser[i], k);
        q += x * x;
      }
      xmax = fmax(xmax, sqrt(q));
    }
    e->gamma = ps_sigmoid_deriv(e->B * xmax);
  } else {
    double L = 0;
    for (size_t it = 0; it < f->n_items; it++) {
      double q = 0;
      for (size_t k = 0; k < D; k++) q += feat(f, it, k) * feat(f, it, k);
      L = fmax(L, sqrt(q));
    }
    e->gamma = ps_sigmoid_deriv(L * e->B);
  }
  e->radius = e->greedy ? 0 : pessimistic_radius(e->C, D, e->delta, e->gamma, n, e->lambda, e->B);
  if (!isfinite(e->radius)) {
    s = ps_fail(msg, PS_EDOM, "pessimistic: radius is not finite (gamma = %g)", e->gamma);
    goto fail;
  }
  if ((s = pess_optimise(e, msg))) goto fail;
  e->self_bound = NAN;
  if (!e->greedy) {
    double mw = pess_max_norm(e);
    if (isnan(mw)) {
      s = ps_fail(msg, PS_ENOMEM, "out of memory");
      goto fail;
    }
    e->self_bound = 2 * e->radius * mw;
  }
  if (!e->exact)
    ps_fail(msg, PS_OK, "pessimistic: %zu^%zu policies exceed 2^20; per-context LCB + coordinate ascent "
                        "(approximate maximiser of J)", e->m, S);
  info->converged = 1;
  info->iterations = res.iterations;
  info->objective = pessimistic_value(e, e->choice);
  info->grad_norm = res.grad_norm;
  goto done;
fail:
  pess_clear(e);
done:
  bt_result_free(&res);
  free(wrow);
  info->status = s;
  return s;
}

int pessimistic_model_info(const est_model *e, double *radius, double *gamma, int *exact) {
  if (!e || !e->choice) return PS_EINVAL;
  if (radius) *radius = e->radius;
  if (gamma) *gamma = e->gamma;
  if (exact) *exact = e->exact;
  return PS_OK;
}

int pessimistic_model_design(const est_model *e, size_t *d, const double **theta_hat, const double **A,
                             const double **v) {
  if (!e || !e->choice) return PS_EINVAL;
  *d = e->d;
  *theta_hat = e->theta;
  *A = e->A;
  *v = e->v;
  return PS_OK;
}

int pessimistic_feature_mean(const est_model *e, const int *choice, double *phi_pi) {
  if (!e || !e->choice) return PS_EINVAL;
  for (size_t k = 0; k < e->d; k++) phi_pi[k] = 0;
  for (size_t s = 0; s < e->n_ctx; s++) {
    if (choice[s] < 0 || (size_t)choice[s] >= e->m) return PS_EINVAL;
    pess_add_choice(e, s, choice[s], 1, phi_pi);
  }
  return PS_OK;
}

double pessimistic_value(const est_model *e, const int *choice) {
  if (!e || !e->choice) return NAN;
  double *phi = malloc(2 * e->d * sizeof *phi);
  if (!phi) return NAN;
  double J = pessimistic_feature_mean(e, choice, phi) ? NAN : pess_J(e, phi, phi + e->d);
  free(phi);
  return J;
}

double pessimistic_bound(const est_model *e, const double *phi_star) {
  if (!e || !e->choice) return NAN;
  double *w = malloc(e->d * sizeof *w), *zero = calloc(e->d, sizeof *zero);
  double b = NAN;
  if (w && zero) {
    for (size_t k = 0; k < e->d; k++) w[k] = phi_star[k] - e->v[k];
    b = -pessimistic_lcb(e->d, zero, e->A, e->radius, w);
  }
  free(w);
  free(zero);
  return b;
}

double pessimistic_self_bound(const est_model *e) {
  return e && e->choice ? e->self_bound : NAN;
}

const int *pessimistic_choice(const est_model *e, size_t *n_ctx) {
  if (!e || !e->choice) return NULL;
  *n_ctx = e->n_ctx;
  return e->choice;
}

static double pess_logit(const est_model *e, int32_t a, int32_t b) {
  double z = 0;
  for (size_t k = 0; k < e->d; k++) z += e->theta[k] * (feat(e->f, (size_t)a, k) - feat(e->f, (size_t)b, k));
  return z;
}

static const double *pess_theta(const est_model *e, size_t *dim) {
  *dim = e->theta ? e->d : 0;
  return e->theta;
}

static int pess_policy(const est_model *e, int32_t first, size_t m, double *p) {
  if (!e->choice || m != e->m || first < 0 || (size_t)first % m || (size_t)first / m >= e->n_ctx) return PS_EINVAL;
  for (size_t y = 0; y < m; y++) p[y] = 0;
  p[e->choice[(size_t)first / m]] = 1;
  return PS_OK;
}

static void pess_free(est_model *e) {
  if (!e) return;
  pess_clear(e);
  free(e);
}

const est_type est_pessimistic = {
    .name = "pessimistic",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "Pessimistic MLE policy (Zhu, Jordan & Jiao 2023; docs/theory.md §3.14): feature-BT MLE, confidence "
           "ellipsoid ||theta - theta_hat||_{Sigma_D + lambda I} <= f, deterministic policy maximising the "
           "lower confidence value theta_hat^T(phi_pi - v) - f ||phi_pi - v||_{(Sigma_D + lambda I)^-1} "
           "(exact enumeration up to 2^20 policies, else per-context LCB + coordinate ascent). theta() is the "
           "reward MLE; self_estimate is the data-only guarantee 2 f max_pi ||phi_pi - v||_A on the unregularised "
           "suboptimality theta*^T(phi_pi* - phi_pi-hat) when theta* lies in the confidence set.",
    .params = pess_params,
    .alloc = pess_alloc,
    .fit = pess_fit,
    .logit = pess_logit,
    .theta = pess_theta,
    .policy = pess_policy,
    .free = pess_free,
    .self_estimate = pessimistic_self_bound,
    .self_estimate_of = EST_SELF_SUBOPT_BOUND,
};

const est_type est_greedy_mle = {
    .name = "greedy_mle",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "Greedy MLE policy (the baseline of docs/theory.md §3.14): feature-BT MLE with per-sample L2 lambda, "
           "deterministic argmax theta_hat^T phi(s, y) per context. theta() is the reward MLE.",
    .params = greedy_params,
    .alloc = greedy_alloc,
    .fit = pess_fit,
    .logit = pess_logit,
    .theta = pess_theta,
    .policy = pess_policy,
    .free = pess_free,
};
