/* policy.c — softmax policies over a finite response set and their exact metrics.
 *
 * Softmax with a reference: log pi = log pi_ref + s - A, A = log sum pi_ref e^s,
 * evaluated by log-sum-exp so that scores of any size are safe (docs/theory.md §1 numerics).
 *
 * KL(pi_s || pi_ref) = E_pi u with u = s - A.  Its gradient in the scores is the
 * covariance form d KL / d s_k = pi_k (u_k - KL): differentiating pi_y = pi_ref e^{u_y}
 * gives d pi_y / d s_k = pi_y (delta_yk - pi_k), and the direct term sum_y pi_y d u_y
 * / d s_k vanishes.  For the log-linear class grad_theta KL = Cov_pi(phi, s), which is
 * NOT positive semidefinite in general: KL is not convex in theta (for two responses
 * with a uniform reference, KL(t) = log 2 - H(sigma(t)) has second derivative
 * sigma'(t)(1 + t(1 - 2 sigma(t))) < 0 for t > 1.54).  HyPO therefore uses L-BFGS.
 *
 * Metrics follow docs/theory.md §4: J(pi) = E_pi r - beta KL(pi || pi_ref); pi* = pi_ref e^{r/beta}
 * / Z; ranking accuracy and its idealised version (Chen et al. 2024, Corollary 3.3:
 * strict inequality, no tie band); the win rate against the reference.
 *
 * MLP: f(phi) = w_out^T act(W2 act(W1 phi + b1) + b2) with tanh or ReLU, Glorot
 * (Glorot & Bengio 2010) uniform initialisation, backpropagation written out by hand
 * and checked against central finite differences in tests/test_policy.c. */
#include "policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"

double policy_kl(const double *p, const double *q, size_t m) {
  double kl = 0;
  for (size_t y = 0; y < m; y++) {
    if (p[y] <= 0) continue;
    if (q[y] <= 0) return INFINITY;
    kl += p[y] * log(p[y] / q[y]);
  }
  return kl;
}

double policy_value(const double *p, const double *r, size_t m) {
  double v = 0;
  for (size_t y = 0; y < m; y++) v += p[y] * r[y];
  return v;
}

double policy_kl_optimal(const double *pi_ref, const double *r, double beta, size_t m, double *pi_star) {
  /* log pi* = log pi_ref + r/beta - log Z; pi_star doubles as the log buffer */
  for (size_t y = 0; y < m; y++) pi_star[y] = (pi_ref[y] > 0 ? log(pi_ref[y]) : -INFINITY) + r[y] / beta;
  double log_z = ps_log_sum_exp(pi_star, m);
  for (size_t y = 0; y < m; y++) pi_star[y] = exp(pi_star[y] - log_z);
  return log_z;
}

double policy_objective(const double *pi, const double *pi_ref, const double *r, double beta, size_t m) {
  return policy_value(pi, r, m) - beta * policy_kl(pi, pi_ref, m);
}

double policy_win_rate(const double *pi, const double *pi_ref, const double *P, size_t m) {
  double w = 0;
  for (size_t y = 0; y < m; y++) {
    if (pi[y] == 0) continue;
    double s = 0;
    for (size_t z = 0; z < m; z++) s += pi_ref[z] * P[y * m + z];
    w += pi[y] * s;
  }
  return w;
}

void policy_greedy(const double *score, size_t m, double *p) {
  size_t best = 0;
  for (size_t y = 1; y < m; y++)
    if (score[y] > score[best]) best = y;
  for (size_t y = 0; y < m; y++) p[y] = y == best;
}

double policy_ranking_accuracy(const double *log_pi, const pref_data *d) {
  double hit = 0, tot = 0;
  for (size_t i = 0; i < d->n; i++) {
    double c = d->count ? d->count[i] : 1.0;
    tot += c;
    if (log_pi[d->winner[i]] >= log_pi[d->loser[i]]) hit += c;
  }
  return tot > 0 ? hit / tot : NAN;
}

double policy_ideal_ranking_accuracy(const double *log_ref, const double *alpha, double beta,
                                     const pref_data *d) {
  double hit = 0, tot = 0;
  for (size_t i = 0; i < d->n; i++) {
    double c = d->count ? d->count[i] : 1.0;
    tot += c;
    double lr = log_ref ? log_ref[d->winner[i]] - log_ref[d->loser[i]] : 0.0;
    /* (pi_ref(w)/pi_ref(l)) (a/(1-a))^{1/beta} > 1, in logs */
    double logit_a = log(alpha[i]) - log1p(-alpha[i]);
    if (lr + logit_a / beta > 0) hit += c;
  }
  return tot > 0 ? hit / tot : NAN;
}

double policy_ranking_threshold(double log_ref_w, double log_ref_l, double beta) {
  double c = log_ref_l - log_ref_w;
  return ps_softplus(-beta * c);
}

double policy_log_softmax(const double *log_ref, const double *s, size_t m, double *logpi) {
  double lm = -log((double)m);
  for (size_t y = 0; y < m; y++) logpi[y] = (log_ref ? log_ref[y] : lm) + s[y];
  double a = ps_log_sum_exp(logpi, m);
  for (size_t y = 0; y < m; y++) logpi[y] -= a;
  return a;
}

double policy_softmax_kl(const double *log_ref, const double *s, size_t m, double *dkl, double *work) {
  double a = policy_log_softmax(log_ref, s, m, work);
  double kl = 0;
  for (size_t y = 0; y < m; y++) kl += exp(work[y]) * (s[y] - a);
  if (dkl)
    for (size_t y = 0; y < m; y++) dkl[y] = exp(work[y]) * (s[y] - a - kl);
  return kl;
}

void policy_loglinear_scores(const pref_features *f, const double *theta, size_t first, size_t m,
                             double *s) {
  if (!f->phi) {
    for (size_t j = 0; j < m; j++) s[j] = theta[first + j];
    return;
  }
  for (size_t j = 0; j < m; j++) {
    const double *p = f->phi + (first + j) * f->d;
    double v = 0;
    for (size_t k = 0; k < f->d; k++) v += theta[k] * p[k];
    s[j] = v;
  }
}

int policy_loglinear_probs(const pref_features *f, const double *theta, size_t first, size_t m,
                           double *p) {
  if (m == 0 || first + m > f->n_items) return PS_EINVAL;
  policy_loglinear_scores(f, theta, first, m, p);
  const double *lr = f->log_ref ? f->log_ref + first : NULL;
  /* in place: scores -> log pi -> pi (policy_log_softmax reads s[y] before writing y) */
  policy_log_softmax(lr, p, m, p);
  for (size_t y = 0; y < m; y++) p[y] = exp(p[y]);
  return PS_OK;
}

void policy_loglinear_mean_phi(const pref_features *f, const double *theta, size_t first, size_t m,
                               double *mean, double *work) {
  policy_loglinear_probs(f, theta, first, m, work);
  size_t d = f->d;
  memset(mean, 0, d * sizeof *mean);
  for (size_t y = 0; y < m; y++) {
    if (!f->phi) {
      mean[first + y] += work[y];
      continue;
    }
    const double *p = f->phi + (first + y) * d;
    for (size_t k = 0; k < d; k++) mean[k] += work[y] * p[k];
  }
}

/* ---------------- MLP ---------------- */

int policy_mlp_init(policy_mlp *a, size_t d, size_t width, int layers, policy_activation act, ps_msg *m) {
  if (layers != 1 && layers != 2) return ps_fail(m, PS_EINVAL, "MLP layers must be 1 or 2, not %d", layers);
  if (d == 0 || width == 0) return ps_fail(m, PS_EINVAL, "MLP needs d > 0 and width > 0 (d = %zu, width = %zu)", d, width);
  a->d = d;
  a->width = width;
  a->layers = layers;
  a->act = act;
  a->n_params = width * d + width + width + (layers == 2 ? width * width + width : 0);
  return PS_OK;
}

static void glorot_fill(double *w, size_t n, size_t fan_in, size_t fan_out, gsl_rng *r) {
  double lim = sqrt(6.0 / (double)(fan_in + fan_out));
  for (size_t i = 0; i < n; i++) w[i] = lim * (2 * gsl_rng_uniform(r) - 1);
}

void policy_mlp_glorot(const policy_mlp *a, double *params, gsl_rng *r) {
  size_t W = a->width, d = a->d;
  double *p = params;
  glorot_fill(p, W * d, d, W, r);
  p += W * d;
  memset(p, 0, W * sizeof *p);
  p += W;
  if (a->layers == 2) {
    glorot_fill(p, W * W, W, W, r);
    p += W * W;
    memset(p, 0, W * sizeof *p);
    p += W;
  }
  glorot_fill(p, W, W, 1, r);
}

size_t policy_mlp_work_len(const policy_mlp *a) { return 4 * a->width; }

static inline double act_apply(policy_activation act, double z) { return act == POLICY_ACT_TANH ? tanh(z) : (z > 0 ? z : 0); }
/* derivative from the post-activation value */
static inline double act_deriv(policy_activation act, double a) { return act == POLICY_ACT_TANH ? 1 - a * a : (a > 0); }

double policy_mlp_score(const policy_mlp *a, const double *params, const double *phi, double *work) {
  size_t W = a->width, d = a->d;
  const double *W1 = params, *b1 = W1 + W * d;
  double *a1 = work, *a2 = work + W;
  for (size_t j = 0; j < W; j++) {
    const double *row = W1 + j * d;
    double z = b1[j];
    for (size_t k = 0; k < d; k++) z += row[k] * phi[k];
    a1[j] = act_apply(a->act, z);
  }
  const double *w_out = b1 + W, *last = a1;
  if (a->layers == 2) {
    const double *W2 = b1 + W, *b2 = W2 + W * W;
    for (size_t j = 0; j < W; j++) {
      const double *row = W2 + j * W;
      double z = b2[j];
      for (size_t k = 0; k < W; k++) z += row[k] * a1[k];
      a2[j] = act_apply(a->act, z);
    }
    w_out = b2 + W;
    last = a2;
  }
  double f = 0;
  for (size_t j = 0; j < W; j++) f += w_out[j] * last[j];
  return f;
}

void policy_mlp_backprop(const policy_mlp *a, const double *params, const double *phi, double g,
                         double *grad, double *work) {
  size_t W = a->width, d = a->d;
  const double *W1 = params, *b1 = W1 + W * d;
  double *gW1 = grad, *gb1 = gW1 + W * d;
  double *a1 = work, *a2 = work + W, *d1 = work + 2 * W, *d2 = work + 3 * W;
  if (a->layers == 1) {
    const double *w_out = b1 + W;
    double *gw = gb1 + W;
    for (size_t j = 0; j < W; j++) {
      gw[j] += g * a1[j];
      d1[j] = g * w_out[j] * act_deriv(a->act, a1[j]);
    }
  } else {
    const double *W2 = b1 + W, *b2 = W2 + W * W, *w_out = b2 + W;
    double *gW2 = gb1 + W, *gb2 = gW2 + W * W, *gw = gb2 + W;
    for (size_t j = 0; j < W; j++) {
      gw[j] += g * a2[j];
      d2[j] = g * w_out[j] * act_deriv(a->act, a2[j]);
      gb2[j] += d2[j];
    }
    for (size_t k = 0; k < W; k++) d1[k] = 0;
    for (size_t j = 0; j < W; j++) {
      if (d2[j] == 0) continue;
      const double *row = W2 + j * W;
      double *grow = gW2 + j * W;
      for (size_t k = 0; k < W; k++) {
        grow[k] += d2[j] * a1[k];
        d1[k] += d2[j] * row[k];
      }
    }
    for (size_t k = 0; k < W; k++) d1[k] *= act_deriv(a->act, a1[k]);
  }
  for (size_t j = 0; j < W; j++) {
    if (d1[j] == 0) continue;
    gb1[j] += d1[j];
    double *grow = gW1 + j * d;
    for (size_t k = 0; k < d; k++) grow[k] += d1[j] * phi[k];
  }
}

/* index sort of the scores for policy_best_of_n (qsort has no context argument) */
typedef struct {
  double s;
  size_t i;
} bon_key;

static int bon_cmp(const void *a, const void *b) {
  double x = ((const bon_key *)a)->s, y = ((const bon_key *)b)->s;
  return (x > y) - (x < y);
}

int policy_best_of_n(const double *pi_ref, const double *score, size_t m, double n, double *p) {
  if (!(n >= 1) || !isfinite(n)) return PS_EINVAL;
  bon_key *k = malloc(m * sizeof *k);
  if (!k) return PS_ENOMEM;
  for (size_t y = 0; y < m; y++) {
    if (isnan(score[y])) {
      free(k);
      return PS_EINVAL;
    }
    k[y].s = score[y];
    k[y].i = y;
  }
  qsort(k, m, sizeof *k, bon_cmp);
  /* levels in increasing score; F_lo the reference mass strictly below the level.
   * F^n - F_lo^n = F^n (-expm1(n log(F_lo / F))): both factors lie in [0, 1] for every
   * n, and the second keeps the small differences near F = 1 accurate. */
  /* F is a running sum of up to m reference probabilities: compensated (Neumaier) so
   * that its rounding stays ~1e-16 instead of growing with m, since F^n multiplies the
   * relative error of F by n (at m = 2000, n = 4096 plain summation put the law's KL
   * 1.8e-9 off) */
  double sum = 0, comp = 0, F_lo = 0;
  for (size_t a = 0; a < m;) {
    size_t b = a;
    double w = 0;
    while (b < m && k[b].s == k[a].s) w += pi_ref[k[b++].i];
    double t = sum + w;
    comp += fabs(sum) >= fabs(w) ? (sum - t) + w : (w - t) + sum;
    sum = t;
    double F = sum + comp;
    if (F > 1) F = 1;
    double mass = F_lo > 0 ? exp(n * log(F)) * -expm1(n * log(F_lo / F)) : exp(n * log(F));
    if (!(mass >= 0)) mass = 0;
    for (size_t j = a; j < b; j++) p[k[j].i] = w > 0 ? mass * pi_ref[k[j].i] / w : 0;
    F_lo = F;
    a = b;
  }
  free(k);
  return PS_OK;
}
