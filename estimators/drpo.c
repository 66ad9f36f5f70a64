/* drpo.c — doubly robust preference optimisation (docs/theory.md §3.11; Xu et al. 2025,
 * "Doubly robust alignment for large language models", reference code DRPO4LLM).
 *
 * Target: p*(pi) = E_x E_{y~pi, y'~pi_ref} g*(x,y,y').  With samples (x, y1, y2, Z),
 * y1, y2 ~ pi_ref i.i.d., Z ~ Bern(g*(y1,y2)), the estimator
 *
 *   p_DR(pi) = mean_i { sum_y pi(y|x_i) ghat(y, y2_i) + pi(y1_i)/pihat(y1_i) (Z_i - ghat(y1_i, y2_i)) }
 *
 * averaged with the swap (y1 <-> y2, Z <-> 1-Z), has the exact bias
 * E_x E_{y2~ref} sum_y pi(y)(ref(y)/pihat(y) - 1)(g* - ghat)(y, y2): zero when either
 * nuisance is right, bilinear otherwise.  p_DR is linear in pi, so the KL-regularised
 * maximiser is per-context closed form, pi(.|x) ~ pi_ref e^{cbar_x/beta} (§3.11).
 *
 * Equal draws.  pref_data cannot hold y1 = y2, so the est_type sees the
 * distinct-pair design D(a,b | x) = ref(a) ref(b) / (1-q_x), q_x = sum ref^2, drawn
 * after the context as prefsim's policy design does (sim/design.c: a context
 * uniformly, then a distinct pair), so the rows' context shares estimate the
 * context distribution of the target.  Splitting the i.i.d. estimator at x into
 * distinct rows and ties (whose IS term Z - 1/2 has mean 0) gives the exact
 * correction used by the est_type:
 *
 *   cbar_x(y) = (1 - q~_x) mean_{rows at x} T_i(y) + sum_b ref~_x(b)^2 ghat(y, b),
 *   rho_x     = rows at x.
 *
 * (Were ties dropped from i.i.d. draws of the context as well, a context would
 * appear with frequency proportional to 1 - q_x and rho_x would need the factor
 * 1/(1 - q~_x); prefsim's simulator does not do that.)
 *
 * where ref~ is a consistent estimate of pi_ref that is NOT the IS nuisance: the
 * known log_ref when reference = known, otherwise the distinct-design MLE
 * (drpo_distinct_reference).  Both correction terms then are direct-method terms,
 * so the double robustness argument of §3.11 is unchanged (checked in
 * tests/test_drpo.c).  For m = 2 every distinct pair is {0,1}: pi_ref is not
 * identified from pairs and ref~ is uniform.
 *
 * Value of the fitted policy (self_estimate).  pi-hat maximises p_DR on the same
 * data, so the plug-in p_DR(pi-hat) is optimistic: with cbar = c + eps, the first
 * order of E sum_y pi-hat(y) eps(y) is tr(J Cov eps) = (1/beta)[sum_y pi(y) V_yy -
 * pi^T V pi] per context (J the softmax Jacobian, V = Cov cbar), an O(1/n) bias
 * that dominates the O(n^-1/2) error's mean and bends the RMSE slope at moderate
 * n.  value = debiased subtracts its estimate from the rows' sample covariance of
 * T_i (a Stein-type correction; drpo_optimism); value = plugin does not.
 *
 * Nuisances.  ghat: `bt` (feature or item BT, bt_fit with l2 = g_l2) or `constant`
 * (ghat = 1/2: the deliberately wrong model).  pihat: `known` (log_ref), `tabular`
 * (the distinct-design MLE with pseudo_count added to every response), `loglinear`
 * (pi(y|x) proportional to e^{eta^T phi(x,y)}, eta by L-BFGS on the same distinct-pair
 * likelihood with the ridge (pseudo_count/2)||eta||^2; right when log pi_ref is linear
 * in phi, e.g. tabular on one-hot items; the likelihood need not be concave, the
 * fit starts at eta = 0) or `uniform` (wrong unless pi_ref is uniform).  Cross-fitting: rows split at random into two
 * folds, each fold's scores use nuisances fitted on the other fold. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lbfgs.h>

#include "../core/numerics.h"
#include "bt.h"
#include "drpo.h"
#include "estimator.h"

/* T_i(y) of one sample (see drpo.h): responses a = y1, b = y2, label z, the nuisance
 * tables G (m x m) and P (m) of its context and fold. */
static double drpo_row_score(size_t m, size_t a, size_t b, double z, const double *G, const double *P, size_t y) {
  double t = 0.5 * (G[y * m + b] + G[y * m + a]);
  if (y == a) t += 0.5 * (z - G[a * m + b]) / P[a];
  if (y == b) t += 0.5 * ((1 - z) - G[b * m + a]) / P[b];
  return t;
}

int drpo_scores(size_t n_ctx, size_t m, size_t n, const int32_t *ctx, const int32_t *y1,
                const int32_t *y2, const double *z, const double *w, const int32_t *fold,
                const double *ghat, const double *pihat, double *cbar, double *mass, ps_msg *msg) {
  memset(cbar, 0, n_ctx * m * sizeof *cbar);
  memset(mass, 0, n_ctx * sizeof *mass);
  for (size_t i = 0; i < n; i++) {
    if (ctx[i] < 0 || (size_t)ctx[i] >= n_ctx || y1[i] < 0 || (size_t)y1[i] >= m || y2[i] < 0 ||
        (size_t)y2[i] >= m || (fold && fold[i] < 0))
      return ps_fail(msg, PS_EINVAL, "drpo: sample %zu has an index out of range", i);
    double wi = w ? w[i] : 1.0, zi = z[i];
    if (!isfinite(wi) || !isfinite(zi) || zi < 0 || zi > 1 || wi < 0)
      return ps_fail(msg, PS_EDOM, "drpo: sample %zu has a non-finite or out-of-range label or weight", i);
    size_t x = (size_t)ctx[i], a = (size_t)y1[i], b = (size_t)y2[i], k = fold ? (size_t)fold[i] : 0;
    const double *G = ghat + (k * n_ctx + x) * m * m, *P = pihat + (k * n_ctx + x) * m;
    if (!(P[a] > 0) || !(P[b] > 0) || !isfinite(P[a]) || !isfinite(P[b]))
      return ps_fail(msg, PS_EDOM, "drpo: sample %zu: estimated reference probability %g of an observed response "
                                   "is not positive", i, P[a] > 0 ? P[b] : P[a]);
    double *c = cbar + x * m;
    for (size_t y = 0; y < m; y++) c[y] += wi * drpo_row_score(m, a, b, zi, G, P, y);
    mass[x] += wi;
  }
  for (size_t x = 0; x < n_ctx; x++)
    if (mass[x] > 0)
      for (size_t y = 0; y < m; y++) {
        cbar[x * m + y] /= mass[x];
        if (!isfinite(cbar[x * m + y])) return ps_fail(msg, PS_EDOM, "drpo: non-finite score at context %zu", x);
      }
  return PS_OK;
}

double drpo_value(size_t n_ctx, size_t m, const double *cbar, const double *rho, const double *pi) {
  double s = 0, tot = 0;
  for (size_t x = 0; x < n_ctx; x++) {
    if (!(rho[x] > 0)) continue;
    double v = 0;
    for (size_t y = 0; y < m; y++) v += pi[x * m + y] * cbar[x * m + y];
    s += rho[x] * v;
    tot += rho[x];
  }
  return tot > 0 ? s / tot : NAN;
}

int drpo_policy(size_t n_ctx, size_t m, const double *cbar, const double *rho, const double *log_ref,
                double beta, double *pi, ps_msg *msg) {
  if (!(beta > 0) || !isfinite(beta)) return ps_fail(msg, PS_EINVAL, "drpo: beta = %g must be positive", beta);
  double *v = malloc(m * sizeof *v);
  if (!v) return ps_fail(msg, PS_ENOMEM, "out of memory");
  for (size_t x = 0; x < n_ctx; x++) {
    for (size_t y = 0; y < m; y++)
      v[y] = (log_ref ? log_ref[x * m + y] : -log((double)m)) + (rho[x] > 0 ? cbar[x * m + y] / beta : 0);
    double lse = ps_log_sum_exp(v, m);
    for (size_t y = 0; y < m; y++) pi[x * m + y] = exp(v[y] - lse);
  }
  free(v);
  return PS_OK;
}

double drpo_bias_exact(size_t n_ctx, size_t m, const double *rho, const double *pi, const double *ref,
                       const double *pihat, const double *g, const double *ghat) {
  double s = 0, tot = 0;
  for (size_t x = 0; x < n_ctx; x++) {
    const double *R = ref + x * m, *H = pihat + x * m, *P = pi + x * m;
    const double *G = g + x * m * m, *GH = ghat + x * m * m;
    double bx = 0;
    for (size_t b = 0; b < m; b++)
      for (size_t y = 0; y < m; y++) bx += R[b] * P[y] * (R[y] / H[y] - 1) * (G[y * m + b] - GH[y * m + b]);
    s += rho[x] * bx;
    tot += rho[x];
  }
  return s / tot;
}

double drpo_target(size_t n_ctx, size_t m, const double *rho, const double *pi, const double *ref,
                   const double *g) {
  double s = 0, tot = 0;
  for (size_t x = 0; x < n_ctx; x++) {
    double v = 0;
    for (size_t y = 0; y < m; y++)
      for (size_t b = 0; b < m; b++) v += pi[x * m + y] * ref[x * m + b] * g[(x * m + y) * m + b];
    s += rho[x] * v;
    tot += rho[x];
  }
  return s / tot;
}

/* Stationary points of the distinct-pair likelihood (see drpo.h): p_a (1 - p_a) =
 * c_a s for a common s = (1 - q) / (2 npair) > 0, so p_a is a root of that quadratic,
 * (1 -+ sqrt(1 - 4 c_a s)) / 2; s <= 1 / (4 c_max), and only the most frequent
 * response can take the larger root (two responses above 1/2 would sum past 1).
 * Two candidates: every response on its smaller root, with s solving sum p = 1 (it
 * exists iff that sum reaches 1 at s_max = 1/(4 c_max)); or the most frequent on
 * its larger root, which exists in (0, s_max] when the sum at s_max is below 1 (it
 * is above 1 for small s > 0 because c_max < sum of the others: each pair holds two
 * distinct responses).  Both sums are monotone in s on those branches, so
 * bisection finds the root; the candidate of higher likelihood is kept.  (A
 * fixed-point iteration p ~ c/(1 - p) does not converge when one response holds
 * most of the mass: ref_temperature small.) */
static double drpo_ref_sum(const double *c, size_t m, size_t top, int large, double s, double *p) {
  double sum = 0;
  for (size_t y = 0; y < m; y++) {
    double r = sqrt(fmax(0, 1 - 4 * c[y] * s));
    p[y] = (y == top && large) ? 0.5 * (1 + r) : 2 * c[y] * s / (1 + r); /* (1 - r)/2 without cancellation */
    sum += p[y];
  }
  return sum;
}

static double drpo_ref_loglik(const double *c, size_t m, const double *p) {
  double ll = 0, q = 0, N = 0;
  for (size_t y = 0; y < m; y++) {
    if (c[y] > 0) ll += c[y] * log(p[y]);
    q += p[y] * p[y];
    N += c[y];
  }
  return ll - 0.5 * N * log1p(-q);
}

int drpo_distinct_reference(size_t n_ctx, size_t m, const double *cnt, double *pi, ps_msg *msg) {
  double *pa = malloc(2 * m * sizeof *pa);
  if (!pa) return ps_fail(msg, PS_ENOMEM, "out of memory");
  double *pb = pa + m;
  int s = PS_OK;
  for (size_t x = 0; x < n_ctx && !s; x++) {
    const double *c = cnt + x * m;
    double *p = pi + x * m, tot = 0, cmax = 0;
    size_t top = 0, support = 0;
    for (size_t y = 0; y < m; y++) {
      if (!(c[y] >= 0) || !isfinite(c[y])) s = ps_fail(msg, PS_EDOM, "drpo: bad appearance count at context %zu", x);
      tot += c[y];
      support += c[y] > 0;
      if (c[y] > cmax) cmax = c[y], top = y;
    }
    if (s) break;
    if (!(tot > 0)) {
      for (size_t y = 0; y < m; y++) p[y] = 1.0 / (double)m;
      continue;
    }
    if (support < 2 || cmax >= (tot - cmax) * (1 - 1e-12)) {
      /* one response in every pair: the likelihood increases toward the boundary
       * p_top = 1, where (1 - p_top) splits among the others in proportion to c */
      for (size_t y = 0; y < m; y++) p[y] = y == top ? 1 - 1e-12 : 1e-12 * c[y] / fmax(tot - cmax, 1e-300);
      continue;
    }
    double smax = 0.25 / cmax, best = -INFINITY;
    int found = 0;
    if (drpo_ref_sum(c, m, top, 0, smax, pa) >= 1) { /* small roots: sum increasing in s */
      double lo = 0, hi = smax;
      for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (drpo_ref_sum(c, m, top, 0, mid, pa) < 1) lo = mid;
        else hi = mid;
      }
      drpo_ref_sum(c, m, top, 0, 0.5 * (lo + hi), pa);
      best = drpo_ref_loglik(c, m, pa);
      memcpy(p, pa, m * sizeof *p);
      found = 1;
    }
    if (drpo_ref_sum(c, m, top, 1, smax, pb) < 1) { /* the top on its larger root */
      double lo = smax, hi = smax;
      for (int it = 0; it < 1100 && drpo_ref_sum(c, m, top, 1, lo, pb) <= 1; it++) lo *= 0.5;
      if (drpo_ref_sum(c, m, top, 1, lo, pb) > 1) {
        for (int it = 0; it < 200; it++) {
          double mid = 0.5 * (lo + hi);
          if (drpo_ref_sum(c, m, top, 1, mid, pb) > 1) lo = mid;
          else hi = mid;
        }
        drpo_ref_sum(c, m, top, 1, 0.5 * (lo + hi), pb);
        double ll = drpo_ref_loglik(c, m, pb);
        if (ll > best) {
          memcpy(p, pb, m * sizeof *p);
          found = 1;
        }
      }
    }
    if (!found) {
      s = ps_fail(msg, PS_ENOCONV, "drpo: no stationary point of the reference likelihood at context %zu", x);
      break;
    }
    double sum = 0;
    for (size_t y = 0; y < m; y++) sum += p[y];
    for (size_t y = 0; y < m; y++) p[y] /= sum; /* the bisection leaves sum = 1 to ~1e-16 */
  }
  free(pa);
  return s;
}

/* Log-linear reference on the distinct-pair design: maximise
 *   sum_x [ sum_y cnt_xy log pi_eta(y|x) - N_x log(1 - q_x(eta)) ] - (l2/2)||eta||^2,
 * q_x = sum_y pi_eta(y|x)^2, N_x = pairs at x = sum_y cnt_xy / 2.  Gradient: with
 * phibar_x = E_pi phi, sum_x sum_y [cnt_xy + 2 N_x pi_y^2 / (1 - q_x)](phi_xy - phibar_x) - l2 eta. */
typedef struct {
  const pref_features *f;
  size_t n_ctx, m;
  const double *cnt;
  double l2;
  double *pi, *phibar; /* scratch m, d */
} drpo_ll_data;

static double drpo_phi(const pref_features *f, size_t item, size_t k) {
  return f->phi ? f->phi[item * f->d + k] : (double)(item == k);
}

static lbfgsfloatval_t drpo_ll_eval(void *inst, const lbfgsfloatval_t *eta, lbfgsfloatval_t *grad, const int n,
                                    const lbfgsfloatval_t step) {
  (void)step;
  const drpo_ll_data *o = inst;
  size_t m = o->m, d = (size_t)n;
  double nll = 0;
  for (size_t k = 0; k < d; k++) {
    nll += 0.5 * o->l2 * eta[k] * eta[k];
    grad[k] = o->l2 * eta[k];
  }
  for (size_t x = 0; x < o->n_ctx; x++) {
    const double *c = o->cnt + x * m;
    double N = 0;
    for (size_t y = 0; y < m; y++) N += c[y];
    N /= 2;
    if (!(N > 0)) continue;
    for (size_t y = 0; y < m; y++) {
      double v = 0;
      for (size_t k = 0; k < d; k++) v += eta[k] * drpo_phi(o->f, x * m + y, k);
      o->pi[y] = v;
    }
    double lse = ps_log_sum_exp(o->pi, m), q = 0;
    for (size_t y = 0; y < m; y++) {
      nll -= c[y] * (o->pi[y] - lse);
      o->pi[y] = exp(o->pi[y] - lse);
      q += o->pi[y] * o->pi[y];
    }
    nll += N * log1p(-q);
    for (size_t k = 0; k < d; k++) {
      o->phibar[k] = 0;
      for (size_t y = 0; y < m; y++) o->phibar[k] += o->pi[y] * drpo_phi(o->f, x * m + y, k);
    }
    for (size_t y = 0; y < m; y++) {
      double wgt = c[y] + 2 * N * o->pi[y] * o->pi[y] / (1 - q);
      for (size_t k = 0; k < d; k++) grad[k] -= wgt * (drpo_phi(o->f, x * m + y, k) - o->phibar[k]);
    }
  }
  return nll;
}

int drpo_loglinear_reference(const pref_features *f, size_t n_ctx, size_t m, const double *cnt, double l2,
                             double *pi, ps_msg *msg) {
  size_t d = f->d;
  lbfgsfloatval_t *eta = lbfgs_malloc((int)d);
  drpo_ll_data o = {f, n_ctx, m, cnt, l2, malloc(m * sizeof(double)), malloc(d * sizeof(double))};
  int s = PS_OK;
  if (!eta || !o.pi || !o.phibar) {
    s = ps_fail(msg, PS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t k = 0; k < d; k++) eta[k] = 0;
  lbfgs_parameter_t par;
  lbfgs_parameter_init(&par);
  par.epsilon = 1e-10;
  par.max_iterations = 2000;
  lbfgsfloatval_t fx;
  int ret = lbfgs((int)d, eta, &fx, drpo_ll_eval, NULL, &o, &par);
  if (!isfinite(fx) || (ret < 0 && ret != LBFGSERR_ROUNDING_ERROR && ret != LBFGSERR_MAXIMUMLINESEARCH)) {
    s = ps_fail(msg, ret == LBFGSERR_MAXIMUMITERATION ? PS_ENOCONV : PS_EDOM,
                "drpo: log-linear reference fit failed (L-BFGS status %d)", ret);
    goto done;
  }
  for (size_t x = 0; x < n_ctx; x++) {
    for (size_t y = 0; y < m; y++) {
      double v = 0;
      for (size_t k = 0; k < d; k++) v += eta[k] * drpo_phi(f, x * m + y, k);
      pi[x * m + y] = v;
    }
    double lse = ps_log_sum_exp(pi + x * m, m);
    for (size_t y = 0; y < m; y++) pi[x * m + y] = exp(pi[x * m + y] - lse);
  }
done:
  lbfgs_free(eta);
  free(o.pi);
  free(o.phibar);
  return s;
}

/* ------------------------------------------------------------------------- */
/* The estimator interface.                                                    */

typedef enum { PREF_BT = 0, PREF_CONSTANT = 1 } drpo_pref;
typedef enum { REF_KNOWN = 0, REF_TABULAR = 1, REF_UNIFORM = 2, REF_LOGLINEAR = 3 } drpo_ref;

struct est_model {
  double beta, g_l2, pseudo;
  drpo_pref pref;
  drpo_ref ref;
  int crossfit;
  size_t n_ctx, m, n_folds;
  double *ghat;   /* n_folds x n_ctx x m x m */
  double *cbar;   /* n_ctx x m, tie-corrected */
  double *rho;    /* n_ctx */
  double *pi;     /* n_ctx x m, the fitted policy */
  double *ref_tilde; /* n_ctx x m */
  double optimism;   /* estimated E[p_DR(pi-hat) - p(pi-hat)], drpo_optimism */
  int debias;        /* self_estimate: 1 = p_DR(pi-hat) - optimism, 0 = the plug-in */
};

static const ps_param drpo_params[] = {
    {"beta", PS_PARAM_REAL, "1", 1e-6, 1e6, NULL,
     "KL weight; scores are probabilities in [0,1] plus IS noise, beta = 1 tilts pi_ref by at most e^{cbar}"},
    {"preference", PS_PARAM_ENUM, "bt", 0, 0, "bt|constant",
     "preference nuisance ghat: BT fit (features or items), or the deliberately wrong ghat = 1/2"},
    {"reference", PS_PARAM_ENUM, "known", 0, 0, "known|tabular|loglinear|uniform",
     "IS nuisance pihat_ref: the known log_ref, the distinct-pair tabular or log-linear MLE, or uniform (wrong unless pi_ref is)"},
    {"crossfit", PS_PARAM_BOOL, "true", 0, 0, NULL, "2-fold cross-fitting of both nuisances"},
    {"g_l2", PS_PARAM_REAL, "0.01", 0, 1e12, NULL, "L2 on the summed BT loss of ghat (bt's l2)"},
    {"pseudo_count", PS_PARAM_REAL, "0.5", 0, 1e6, NULL,
     "added to each response's appearances in the tabular pihat; the ridge on eta of the log-linear one"},
    {"value", PS_PARAM_ENUM, "debiased", 0, 0, "debiased|plugin",
     "self_estimate: p_DR of the fitted policy minus its estimated O(1/n) optimism (the policy maximises p_DR on the same data), or the plug-in p_DR"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int drpo_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->beta = ps_param_real(ps_param_text(drpo_params, h, "beta"));
  e->pref = !strcmp(ps_param_text(drpo_params, h, "preference"), "constant") ? PREF_CONSTANT : PREF_BT;
  e->ref = !strcmp(ps_param_text(drpo_params, h, "reference"), "tabular")     ? REF_TABULAR
           : !strcmp(ps_param_text(drpo_params, h, "reference"), "loglinear") ? REF_LOGLINEAR
           : !strcmp(ps_param_text(drpo_params, h, "reference"), "uniform")   ? REF_UNIFORM
                                        : REF_KNOWN;
  e->crossfit = ps_param_bool(ps_param_text(drpo_params, h, "crossfit"));
  e->g_l2 = ps_param_real(ps_param_text(drpo_params, h, "g_l2"));
  e->pseudo = ps_param_real(ps_param_text(drpo_params, h, "pseudo_count"));
  e->debias = strcmp(ps_param_text(drpo_params, h, "value"), "plugin") != 0;
  *out = e;
  return PS_OK;
}

static void drpo_clear(est_model *e) {
  free(e->ghat);
  free(e->cbar);
  free(e->rho);
  free(e->pi);
  free(e->ref_tilde);
  e->ghat = e->cbar = e->rho = e->pi = e->ref_tilde = NULL;
}

/* ghat table (n_ctx x m x m) from the rows with keep[i] set (keep NULL: all). */
static int drpo_fit_g(const est_model *e, const pref_data *d, const pref_features *f, const uint8_t *keep,
                      double *G, ps_msg *msg) {
  size_t n_ctx = e->n_ctx, m = e->m;
  if (e->pref == PREF_CONSTANT) {
    for (size_t i = 0; i < n_ctx * m * m; i++) G[i] = 0.5;
    return PS_OK;
  }
  pref_data sub = *d;
  size_t nk = 0;
  int s = PS_OK;
  if (keep) {
    for (size_t i = 0; i < d->n; i++) nk += keep[i];
    s = pref_data_alloc(&sub, nk, d->n_items, 0, 0, d->count != NULL);
    if (s) return ps_fail(msg, s, "out of memory");
    for (size_t i = 0, j = 0; i < d->n; i++)
      if (keep[i]) {
        sub.winner[j] = d->winner[i];
        sub.loser[j] = d->loser[i];
        if (d->count) sub.count[j] = d->count[i];
        j++;
      }
  }
  bt_options o = bt_options_default();
  o.l2 = e->g_l2;
  bt_result r;
  s = bt_fit(&sub, f, &o, &r, msg);
  if (s) {
    ps_msg_prefix(msg, "drpo: preference nuisance (bt)");
  } else {
    double *score = malloc(d->n_items * sizeof *score);
    if (!score) {
      s = ps_fail(msg, PS_ENOMEM, "out of memory");
    } else {
      for (size_t it = 0; it < d->n_items; it++) {
        if (!f->phi) {
          score[it] = r.theta[it];
        } else {
          double v = 0;
          for (size_t k = 0; k < f->d; k++) v += r.theta[k] * f->phi[it * f->d + k];
          score[it] = v;
        }
      }
      for (size_t x = 0; x < n_ctx; x++)
        for (size_t a = 0; a < m; a++)
          for (size_t b = 0; b < m; b++)
            G[(x * m + a) * m + b] = ps_sigmoid(score[x * m + a] - score[x * m + b]);
      free(score);
    }
  }
  bt_result_free(&r);
  if (keep) pref_data_free(&sub);
  return s;
}

/* The optimism of the plug-in value p_DR(pi-hat) at its own maximiser (see the top
 * of the file): with cbar_x = c_x + eps_x and pi-hat = softmax(log ref + cbar/beta),
 * E sum_y pi-hat(y) eps_x(y) = tr(J_x Cov eps_x) + O(n^-3/2), J_x = (diag pi - pi pi^T)/beta
 * the Jacobian of pi-hat in cbar_x.  Cov eps_x is estimated by the rows' sample
 * covariance of T_i (scaled by the tie factor (1 - q~_x)^2) over their weight n_x;
 * sets e->optimism = sum_x rho_x tr(J_x Cov eps_x) / sum_x rho_x (contexts with
 * weight <= 1: no estimate, 0).  Needs the raw row means, recovered from cbar. */
static int drpo_optimism(est_model *e, size_t n, const int32_t *ctx, const int32_t *y1, const int32_t *y2,
                         const double *z, const double *w, const int32_t *fold, const double *pihat,
                         const double *mass, ps_msg *msg) {
  size_t n_ctx = e->n_ctx, m = e->m;
  double *S = calloc(n_ctx * m * m, sizeof *S), *mu = malloc(n_ctx * m * sizeof *mu), *t = malloc(m * sizeof *t);
  if (!S || !mu || !t) {
    free(S);
    free(mu);
    free(t);
    return ps_fail(msg, PS_ENOMEM, "out of memory");
  }
  /* raw means: exact second pass (two-pass covariance, no cancellation) */
  memset(mu, 0, n_ctx * m * sizeof *mu);
  for (size_t i = 0; i < n; i++) {
    size_t x = (size_t)ctx[i], k = fold ? (size_t)fold[i] : 0;
    const double *G = e->ghat + (k * n_ctx + x) * m * m, *P = pihat + (k * n_ctx + x) * m;
    double wi = w ? w[i] : 1.0;
    for (size_t y = 0; y < m; y++) mu[x * m + y] += wi * drpo_row_score(m, (size_t)y1[i], (size_t)y2[i], z[i], G, P, y);
  }
  for (size_t x = 0; x < n_ctx; x++)
    for (size_t y = 0; y < m && mass[x] > 0; y++) mu[x * m + y] /= mass[x];
  for (size_t i = 0; i < n; i++) {
    size_t x = (size_t)ctx[i], k = fold ? (size_t)fold[i] : 0;
    const double *G = e->ghat + (k * n_ctx + x) * m * m, *P = pihat + (k * n_ctx + x) * m;
    double wi = w ? w[i] : 1.0, *Sx = S + x * m * m;
    for (size_t y = 0; y < m; y++)
      t[y] = drpo_row_score(m, (size_t)y1[i], (size_t)y2[i], z[i], G, P, y) - mu[x * m + y];
    for (size_t a = 0; a < m; a++)
      for (size_t b = 0; b < m; b++) Sx[a * m + b] += wi * t[a] * t[b];
  }
  double num = 0, tot = 0;
  for (size_t x = 0; x < n_ctx; x++) {
    if (!(e->rho[x] > 0)) continue;
    tot += e->rho[x];
    if (!(mass[x] > 1)) continue;
    const double *R = e->ref_tilde + x * m, *p = e->pi + x * m, *Sx = S + x * m * m;
    double q = 0, tr = 0;
    for (size_t y = 0; y < m; y++) q += R[y] * R[y];
    for (size_t a = 0; a < m; a++) {
      tr += p[a] * Sx[a * m + a];
      for (size_t b = 0; b < m; b++) tr -= p[a] * p[b] * Sx[a * m + b];
    }
    /* Cov(mean) = S / (n_x (n_x - 1)), times the tie factor (1 - q)^2, J = (.)/beta */
    num += e->rho[x] * (1 - q) * (1 - q) * tr / (mass[x] * (mass[x] - 1) * e->beta);
  }
  e->optimism = tot > 0 ? num / tot : 0;
  free(S);
  free(mu);
  free(t);
  return PS_OK;
}

static int drpo_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                    ps_msg *msg) {
  info->status = PS_OK;
  info->converged = 0;
  info->iterations = 0;
  info->objective = info->grad_norm = NAN;
  drpo_clear(e);
  int s = PS_OK;
  int32_t *ctx = NULL, *y1 = NULL, *y2 = NULL, *fold = NULL;
  double *z = NULL, *pihat = NULL, *mass = NULL, *cnt = NULL;
  uint8_t *keep = NULL;
  if (d->n == 0) return info->status = ps_fail(msg, PS_EINVAL, "drpo: no comparisons");
  if ((s = pref_data_check(d, msg))) return info->status = s;
  size_t n_ctx = f->n_contexts ? f->n_contexts : 1, n_items = f->n_items;
  if (n_items % n_ctx) return info->status = ps_fail(msg, PS_EINVAL, "drpo: %zu items do not split into %zu contexts", n_items, n_ctx);
  size_t m = n_items / n_ctx;
  if ((double)n_ctx * m * m * 2 > 5e7)
    return info->status = ps_fail(msg, PS_EINVAL, "drpo: %zu contexts x %zu^2 responses is too large for tabular nuisances", n_ctx, m);
  if (e->crossfit && d->n < 4) return info->status = ps_fail(msg, PS_EINVAL, "drpo: cross-fitting needs at least 4 comparisons");
  e->n_ctx = n_ctx;
  e->m = m;
  e->n_folds = e->crossfit ? 2 : 1;
  size_t K = e->n_folds, n = d->n;
  e->ghat = malloc(K * n_ctx * m * m * sizeof(double));
  e->cbar = malloc(n_ctx * m * sizeof(double));
  e->rho = malloc(n_ctx * sizeof(double));
  e->pi = malloc(n_ctx * m * sizeof(double));
  e->ref_tilde = malloc(n_ctx * m * sizeof(double));
  ctx = malloc(n * sizeof *ctx);
  y1 = malloc(n * sizeof *y1);
  y2 = malloc(n * sizeof *y2);
  fold = malloc(n * sizeof *fold);
  z = malloc(n * sizeof *z);
  pihat = malloc(K * n_ctx * m * sizeof *pihat);
  mass = malloc(n_ctx * sizeof *mass);
  cnt = malloc(n_ctx * m * sizeof *cnt);
  keep = malloc(n);
  if (!e->ghat || !e->cbar || !e->rho || !e->pi || !e->ref_tilde || !ctx || !y1 || !y2 || !fold || !z || !pihat ||
      !mass || !cnt || !keep) {
    s = ps_fail(msg, PS_ENOMEM, "out of memory");
    goto fail;
  }
  if (f->log_ref)
    for (size_t i = 0; i < n_items; i++)
      if (!isfinite(f->log_ref[i]) && !(f->log_ref[i] < 0)) {
        s = ps_fail(msg, PS_EDOM, "drpo: log_ref of item %zu is not finite", i);
        goto fail;
      }
  for (size_t i = 0; i < n; i++) {
    int32_t a = d->first_won && !d->first_won[i] ? d->loser[i] : d->winner[i];
    int32_t b = a == d->winner[i] ? d->loser[i] : d->winner[i];
    size_t xa = f->item_context ? (size_t)f->item_context[a] : (size_t)a / m;
    size_t xb = f->item_context ? (size_t)f->item_context[b] : (size_t)b / m;
    if (xa != xb || xa >= n_ctx || (size_t)a / m != xa) {
      s = ps_fail(msg, PS_EINVAL, "drpo: row %zu compares items of different contexts (or items are not "
                                  "contiguous per context)", i);
      goto fail;
    }
    ctx[i] = (int32_t)xa;
    y1[i] = (int32_t)((size_t)a - xa * m);
    y2[i] = (int32_t)((size_t)b - xa * m);
    z[i] = a == d->winner[i] ? 1.0 : 0.0;
    fold[i] = e->crossfit ? (int32_t)gsl_rng_uniform_int(r, 2) : 0;
  }
  if (e->crossfit) { /* both folds must be non-empty */
    size_t n1 = 0;
    for (size_t i = 0; i < n; i++) n1 += (size_t)fold[i];
    if (n1 == 0) fold[0] = 1;
    if (n1 == n) fold[0] = 0;
  }
  /* ref~: the consistent reference for the tie correction (not the IS nuisance) */
  for (size_t i = 0; i < n_ctx * m; i++) cnt[i] = 0;
  for (size_t i = 0; i < n; i++) {
    double w = d->count ? d->count[i] : 1.0;
    cnt[(size_t)ctx[i] * m + (size_t)y1[i]] += w;
    cnt[(size_t)ctx[i] * m + (size_t)y2[i]] += w;
  }
  if (f->log_ref && e->ref == REF_KNOWN) {
    for (size_t i = 0; i < n_items; i++) e->ref_tilde[i] = exp(f->log_ref[i]);
  } else if (!f->log_ref && e->ref == REF_KNOWN) {
    for (size_t i = 0; i < n_items; i++) e->ref_tilde[i] = 1.0 / (double)m;
  } else if ((s = drpo_distinct_reference(n_ctx, m, cnt, e->ref_tilde, msg))) {
    goto fail;
  }
  /* nuisances per fold: fold k's rows use nuisances fitted on the other fold */
  for (size_t k = 0; k < K; k++) {
    for (size_t i = 0; i < n; i++) keep[i] = K == 1 || (size_t)fold[i] != k;
    if ((s = drpo_fit_g(e, d, f, K == 1 ? NULL : keep, e->ghat + k * n_ctx * m * m, msg))) goto fail;
    double *P = pihat + k * n_ctx * m;
    if (e->ref == REF_KNOWN) {
      for (size_t i = 0; i < n_items; i++) P[i] = f->log_ref ? exp(f->log_ref[i]) : 1.0 / (double)m;
    } else if (e->ref == REF_UNIFORM) {
      for (size_t i = 0; i < n_items; i++) P[i] = 1.0 / (double)m;
    } else if (e->ref == REF_LOGLINEAR) {
      for (size_t i = 0; i < n_ctx * m; i++) cnt[i] = 0;
      for (size_t i = 0; i < n; i++)
        if (keep[i]) {
          double w = d->count ? d->count[i] : 1.0;
          cnt[(size_t)ctx[i] * m + (size_t)y1[i]] += w;
          cnt[(size_t)ctx[i] * m + (size_t)y2[i]] += w;
        }
      if ((s = drpo_loglinear_reference(f, n_ctx, m, cnt, e->pseudo, P, msg))) goto fail;
    } else {
      for (size_t i = 0; i < n_ctx * m; i++) cnt[i] = e->pseudo;
      for (size_t i = 0; i < n; i++)
        if (keep[i]) {
          double w = d->count ? d->count[i] : 1.0;
          cnt[(size_t)ctx[i] * m + (size_t)y1[i]] += w;
          cnt[(size_t)ctx[i] * m + (size_t)y2[i]] += w;
        }
      if ((s = drpo_distinct_reference(n_ctx, m, cnt, P, msg))) goto fail;
      for (size_t i = 0; i < n_ctx * m; i++)
        if (!(P[i] > 0)) P[i] = 1e-300; /* unseen with pseudo_count 0: never an observed y1 */
    }
  }
  if ((s = drpo_scores(n_ctx, m, n, ctx, y1, y2, z, d->count, fold, e->ghat, pihat, e->cbar, mass, msg))) goto fail;
  /* tie correction (see the top of the file) */
  for (size_t x = 0; x < n_ctx; x++) {
    const double *R = e->ref_tilde + x * m;
    double q = 0;
    for (size_t b = 0; b < m; b++) q += R[b] * R[b];
    e->rho[x] = mass[x] > 0 ? mass[x] : 0; /* context first, then a distinct pair */
    if (!(mass[x] > 0)) continue;
    for (size_t y = 0; y < m; y++) {
      double tie = 0;
      for (size_t k = 0; k < K; k++)
        for (size_t b = 0; b < m; b++) tie += R[b] * R[b] * e->ghat[((k * n_ctx + x) * m + y) * m + b];
      e->cbar[x * m + y] = (1 - q) * e->cbar[x * m + y] + tie / (double)K;
    }
  }
  if ((s = drpo_policy(n_ctx, m, e->cbar, e->rho, f->log_ref, e->beta, e->pi, msg))) goto fail;
  if ((s = drpo_optimism(e, n, ctx, y1, y2, z, d->count, fold, pihat, mass, msg))) goto fail;
  info->converged = 1;
  info->iterations = 1;
  info->objective = drpo_value(n_ctx, m, e->cbar, e->rho, e->pi);
  goto done;
fail:
  drpo_clear(e);
done:
  free(ctx);
  free(y1);
  free(y2);
  free(fold);
  free(z);
  free(pihat);
  free(mass);
  free(cnt);
  free(keep);
  info->status = s;
  return s;
}

static double drpo_logit(const est_model *e, int32_t a, int32_t b) {
  size_t m = e->m, x = (size_t)a / m, la = (size_t)a % m, lb = (size_t)b % m;
  double g = 0;
  for (size_t k = 0; k < e->n_folds; k++) g += e->ghat[((k * e->n_ctx + x) * m + la) * m + lb];
  g /= (double)e->n_folds;
  g = fmin(fmax(g, 1e-300), 1 - 1e-16); /* a saturated BT probability stays finite */
  return log(g) - log1p(-g);
}

static const double *drpo_theta(const est_model *e, size_t *dim) {
  (void)e;
  *dim = 0;
  return NULL;
}

static int drpo_est_policy(const est_model *e, int32_t first, size_t m, double *p) {
  if (!e->pi || m != e->m || first < 0 || (size_t)first % m || (size_t)first / m >= e->n_ctx) return PS_EINVAL;
  memcpy(p, e->pi + (size_t)first, m * sizeof *p);
  return PS_OK;
}

/* The estimator's own estimate of its headline quantity, the win rate of its policy
 * against pi_ref (the truth is the cell's win_rate of the same policy): the plug-in
 * p_DR(pi-hat), minus the estimated optimism when value = debiased.  NaN before a fit. */
static double drpo_self_estimate(const est_model *e) {
  if (!e || !e->cbar || !e->pi) return NAN;
  return drpo_value(e->n_ctx, e->m, e->cbar, e->rho, e->pi) - (e->debias ? e->optimism : 0);
}

static void drpo_free(est_model *e) {
  if (!e) return;
  drpo_clear(e);
  free(e);
}

int drpo_model_scores(const est_model *e, size_t *n_ctx, size_t *m, const double **cbar, const double **rho) {
  if (!e || !e->cbar) return PS_EINVAL;
  *n_ctx = e->n_ctx;
  *m = e->m;
  *cbar = e->cbar;
  *rho = e->rho;
  return PS_OK;
}

const est_type est_drpo = {
    .name = "drpo",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "Doubly robust preference optimisation (docs/theory.md §3.11; Xu et al. 2025): DR estimate of the win rate "
           "p(pi) against pi_ref from a preference nuisance (BT or the wrong constant 1/2) and a reference "
           "nuisance (known, tabular, log-linear, uniform) with 2-fold cross-fitting, swap-averaged, corrected for the "
           "absent equal draws; policy pi ~ pi_ref e^{cbar/beta} per context (pi_ref where a context has no data); "
           "self_estimate = p_DR of that policy, minus its estimated O(1/n) optimism (value = debiased).",
    .params = drpo_params,
    .alloc = drpo_alloc,
    .fit = drpo_fit,
    .logit = drpo_logit,
    .theta = drpo_theta,
    .policy = drpo_est_policy,
    .free = drpo_free,
    .self_estimate = drpo_self_estimate,
    .self_estimate_of = EST_SELF_WIN_RATE,
};
