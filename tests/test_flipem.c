/* test_flipem.c — flip-rate EM: docs/theory.md O16 (the eta step's fixed point 1 - eps at
 * theta*, exactly through expected counts and by a large sample within a CLT bound),
 * §5 row 23 across modules (NoisyBT with q = 0 has flip EM's likelihood), monotone
 * exact-EM traces, recovery of per-annotator flip rates within Fisher-information
 * (binomial-type) bounds and of theta against attenuated plain BT, the shared-eps
 * confounding on a sparse design, the lcpo variant, the estimator interface and every
 * error path. */
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>

#include "test_util.h"
#include "fixtures.h"
#include "../core/numerics.h"
#include "../estimators/bt.h"
#include "../estimators/estimator.h"
#include "../estimators/flipem.h"
#include "../estimators/noisybt.h"

/* `per` labels from each of H annotators with flip rates eps[h]: uniform pairs (i, j),
 * i wins w.p. eps + (1 - 2 eps) sigma(s_i - s_j).  Scores per item; the winner is
 * recorded as shown first (the flip model ignores the order). */
static void simulate(pref_data *d, gsl_rng *r, const double *s, size_t m, const double *eps, size_t H, size_t per) {
  fixtures_judges j = {.n_items = m, .reward = s, .n_types = 1, .flip = eps, .order = FIXTURES_WINNER_FIRST};
  fixtures_judge(d, &j, H, per, NULL, r, NULL);
}

static double slope_through_origin(const double *x, const double *y, size_t n) {
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; i++) {
    sxy += x[i] * y[i];
    sxx += x[i] * x[i];
  }
  return sxy / sxx;
}

/* The scalar pieces: log P, the posterior and its odds form. */
static void test_scalars(void **state) {
  (void)state;
  double eta[4] = {0.5, 0.62, 0.9, 0.999}, del[5] = {-6.5, -1, 0, 0.3, 4.4};
  for (int a = 0; a < 4; a++)
    for (int b = 0; b < 5; b++) {
      double p = ps_sigmoid(del[b]);
      double pt = eta[a] * p + (1 - eta[a]) * (1 - p);
      assert_close(flipem_log_prob(eta[a], del[b]), log(pt), 1e-14);
      assert_close(flipem_posterior(eta[a], del[b]), eta[a] * p / pt, 1e-14);
    }
  /* docs/theory.md O5 through the flip model: eps = 0.25, Delta = 1 */
  assert_close(exp(flipem_log_prob(0.75, 1)), 0.615529, 1e-6);
  /* eta = 1/2: labels carry nothing, the posterior is the prior p */
  assert_close(flipem_posterior(0.5, 0.8), ps_sigmoid(0.8), 1e-15);
  /* far tails stay finite */
  assert_true(isfinite(flipem_log_prob(1 - 1e-9, -800)));
  assert_close(flipem_log_prob(1 - 1e-9, -800), log(1e-9), 1e-6);
}

/* §5 row 23 across modules: on a whole data set, NoisyBT's log-likelihood with q = 0
 * and skill gamma_k equals the flip model's with eta_k = 1 - (1 - sigma(gamma_k))/2. */
static void test_row23_noisybt_agrees(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 6101);
  size_t m = 9, H = 4;
  double s[9], eps[4] = {0.05, 0.2, 0.33, 0.1}, skill[4] = {2.7, -0.3, 0.9, 5.1}, eta[4];
  for (size_t i = 0; i < m; i++) s[i] = gsl_ran_gaussian(r, 1.1);
  pref_data d;
  simulate(&d, r, s, m, eps, H, 60);
  d.count = malloc(d.n * sizeof(double));
  for (size_t i = 0; i < d.n; i++) d.count[i] = 0.5 + gsl_rng_uniform(r);
  for (size_t h = 0; h < H; h++) eta[h] = 1 - 0.5 * ps_sigmoid(-skill[h]);
  pref_features f = fixtures_items_view(m);
  noisybt_options o = noisybt_options_default();
  o.fit_bias = 0;
  double ll_nb;
  noisybt_objective(&d, &f, &o, s, skill, NULL, NULL, NULL, NULL, &ll_nb);
  double ll_fe = flipem_loglik(&d, &f, s, eta);
  assert_close(ll_nb, ll_fe, 1e-12 * fabs(ll_fe));
  pref_data_free(&d);
  gsl_rng_free(r);
}

/* O16 exactly: every pair (a, b) of annotator k enters twice, as a over b with count
 * p~ = eps_k + (1 - 2 eps_k) sigma(s_a - s_b) and as b over a with count 1 - p~: the
 * weighted mean of gamma is then E[gamma], and at theta = theta*, eta = 1 - eps it is
 * 1 - eps to rounding, per annotator and shared. */
static void test_o16_fixed_point_exact(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 1616);
  size_t m = 15, H = 3, pairs = 40;
  double s[15], eps[3] = {0.05, 0.21, 0.38}, eta[3], out[3];
  for (size_t i = 0; i < m; i++) s[i] = gsl_ran_gaussian(r, 1.7);
  pref_data d;
  assert_int_equal(pref_data_alloc(&d, 2 * H * pairs, m, 1, 0, 1), PS_OK);
  d.n_annotators = H;
  size_t k = 0;
  for (size_t h = 0; h < H; h++) {
    eta[h] = 1 - eps[h];
    for (size_t t = 0; t < pairs; t++) {
      int32_t a, b;
      fixtures_pair(r, m, &a, &b);
      double pt = eps[h] + (1 - 2 * eps[h]) * ps_sigmoid(s[a] - s[b]);
      d.winner[k] = a, d.loser[k] = b, d.count[k] = pt, d.annotator[k++] = (int32_t)h;
      d.winner[k] = b, d.loser[k] = a, d.count[k] = 1 - pt, d.annotator[k++] = (int32_t)h;
    }
  }
  pref_features f = fixtures_items_view(m);
  assert_int_equal(flipem_eta_update(&d, &f, s, eta, 0, out), PS_OK);
  for (size_t h = 0; h < H; h++) assert_close(out[h], 1 - eps[h], 1e-13);
  /* shared: with one eps for all, the fixed point is again 1 - eps */
  double eta_s[3] = {0.77, 0.77, 0.77};
  for (size_t i = 0; i < d.n; i++) {
    size_t h = (size_t)d.annotator[i];
    int first = i % 2 == 0;
    int32_t a = first ? d.winner[i] : d.loser[i], b = first ? d.loser[i] : d.winner[i];
    double pt = 0.23 + (1 - 2 * 0.23) * ps_sigmoid(s[a] - s[b]);
    d.count[i] = first ? pt : 1 - pt;
    (void)h;
  }
  assert_int_equal(flipem_eta_update(&d, &f, s, eta_s, 1, out), PS_OK);
  for (size_t h = 0; h < H; h++) assert_close(out[h], 0.77, 1e-13);
  /* and not at a wrong eta: the update moves toward 1 - eps */
  eta_s[0] = eta_s[1] = eta_s[2] = 0.9;
  assert_int_equal(flipem_eta_update(&d, &f, s, eta_s, 1, out), PS_OK);
  assert_true(out[0] < 0.9 && out[0] > 0.77);
  pref_data_free(&d);
  gsl_rng_free(r);
}

/* O16 by sampling: n = 20000 labels of one annotator with eps = 0.3 at theta*; the eta
 * update is a mean of n independent gamma_i whose exact variance is
 * mean_i [p~_i g+_i^2 + (1 - p~_i) g-_i^2] - (1 - eps)^2 -- within 4 of its standard
 * errors of 1 - eps (two-sided probability of failing 6e-5). */
static void test_o16_fixed_point_sample(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 4242);
  size_t m = 25, n = 20000;
  double s[25], eps = 0.3, eta = 1 - eps, out;
  for (size_t i = 0; i < m; i++) s[i] = gsl_ran_gaussian(r, 1.5);
  pref_data d;
  simulate(&d, r, s, m, &eps, 1, n);
  pref_features f = fixtures_items_view(m);
  double m2 = 0;
  for (size_t i = 0; i < n; i++) {
    double z = s[d.winner[i]] - s[d.loser[i]];
    /* the pair's own orientation (first-shown = i in simulate) does not matter: use
     * the reported one and its reverse */
    double p = ps_sigmoid(z), pt = eps + (1 - 2 * eps) * p;
    double gp = eta * p / pt, gm = eta * (1 - p) / (1 - pt);
    m2 += (pt * gp * gp + (1 - pt) * gm * gm) / (double)n;
  }
  double sd = sqrt((m2 - eta * eta) / (double)n);
  assert_int_equal(flipem_eta_update(&d, &f, s, &eta, 0, &out), PS_OK);
  print_message("O16 sample: eta update %.5f vs 1 - eps = %.2f (sd %.5f)\n", out, eta, sd);
  assert_close(out, eta, 4 * sd);
  pref_data_free(&d);
  gsl_rng_free(r);
}

/* Recovery: 30 items s ~ N(0, 2^2), 20 annotators (10 with eps = 0.05, 10 with 0.3),
 * 300 labels each.
 *   - eta_k: standard error 1 / sqrt(I_k), I_k = sum_i (2 p_i - 1)^2 / (p~_i (1 - p~_i))
 *     the Fisher information about eta_k with theta known (it is n / (eps (1 - eps)),
 *     the binomial one, when every p_i is 0 or 1); each of the 20 estimates within 4
 *     standard errors (family-wise false alarm ~ 20 x 6e-5);
 *   - theta: exact EM's slope on the truth within 4 standard errors of 1, plain BT's
 *     slope attenuated below 1 - 4 se, and EM's mean squared error below BT's;
 *   - the exact-EM trace never decreases (beyond the theta step's 1e-10 W accuracy). */
static void test_recovery(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 90210);
  size_t m = 30, H = 20, per = 300;
  double s[30], eps[20];
  for (size_t i = 0; i < m; i++) s[i] = gsl_ran_gaussian(r, 2.0);
  double mean = 0;
  for (size_t i = 0; i < m; i++) mean += s[i] / (double)m;
  for (size_t i = 0; i < m; i++) s[i] -= mean;
  for (size_t h = 0; h < H; h++) eps[h] = h < 10 ? 0.05 : 0.3;
  pref_data d;
  simulate(&d, r, s, m, eps, H, per);
  pref_features f = fixtures_items_view(m);
  flipem_options o = flipem_options_default();
  flipem_result res;
  ps_msg msg = {{0}};
  int st = flipem_fit(&d, &f, &o, &res, &msg);
  if (st != PS_OK) print_error("%s\n", msg.text);
  assert_int_equal(st, PS_OK);
  assert_true(res.converged);
  double W = (double)d.n;
  for (size_t t = 1; t < res.trace_len; t++) assert_true(res.trace[t] >= res.trace[t - 1] - 1e-10 * W);
  assert_close(res.trace[res.trace_len - 1], res.loglik, 1e-9 * fabs(res.loglik));
  /* flip rates */
  double info[20] = {0};
  for (size_t i = 0; i < d.n; i++) {
    size_t h = (size_t)d.annotator[i];
    double p = ps_sigmoid(s[d.winner[i]] - s[d.loser[i]]), pt = eps[h] + (1 - 2 * eps[h]) * p;
    info[h] += (2 * p - 1) * (2 * p - 1) / (pt * (1 - pt));
  }
  double worst = 0;
  for (size_t h = 0; h < H; h++) {
    double se = 1 / sqrt(info[h]), z = (res.eta[h] - (1 - eps[h])) / se;
    worst = fmax(worst, fabs(z));
    assert_true(fabs(z) <= 4);
  }
  /* theta against BT: standard errors from BT's covariance (the EM estimate's are
   * larger by ~1/(1 - 2 eps); BT's serve as the scale) */
  bt_options bo = bt_options_default();
  bo.want_hessian = 1;
  bt_result bt;
  assert_int_equal(bt_fit(&d, &f, &bo, &bt, &msg), PS_OK);
  double *cov = malloc(m * m * sizeof(double));
  assert_int_equal(bt_covariance(&bt, &f, cov, &msg), PS_OK);
  double sxx = 0, v = 0;
  for (size_t i = 0; i < m; i++) {
    sxx += s[i] * s[i];
    for (size_t j = 0; j < m; j++) v += s[i] * s[j] * cov[i * m + j];
  }
  double se_bt = sqrt(v) / sxx, se_em = se_bt / (1 - 2 * 0.175); /* mean eps 0.175 */
  double em_slope = slope_through_origin(s, res.theta, m), bt_slope = slope_through_origin(s, bt.theta, m);
  double em_mse = 0, bt_mse = 0;
  for (size_t i = 0; i < m; i++) {
    em_mse += (res.theta[i] - s[i]) * (res.theta[i] - s[i]) / (double)m;
    bt_mse += (bt.theta[i] - s[i]) * (bt.theta[i] - s[i]) / (double)m;
  }
  print_message("flipem: %d iterations, worst |z| of eta %.2f; slope em %.4f (se %.4f) bt %.4f (se %.4f); "
                "mse em %.4f bt %.4f\n",
                res.iterations, worst, em_slope, se_em, bt_slope, se_bt, em_mse, bt_mse);
  assert_close(em_slope, 1, 4 * se_em);
  assert_true(bt_slope < 1 - 4 * se_bt);
  assert_true(em_mse < bt_mse);

  /* plain EM reaches the same fixed point as the accelerated one, in more steps.  Plain
   * EM converges linearly and stops on a per-step change <= 1e-10 W while still creeping
   * along the flat scale-eta ridge (measured: log-likelihoods equal to 6e-6, theta to
   * 1.4e-3), so theta and eta are compared at 1e-2, an order below their standard
   * errors here (~0.1 per item score, ~0.02 per eta) */
  o.accelerate = 0;
  flipem_result plain;
  assert_int_equal(flipem_fit(&d, &f, &o, &plain, &msg), PS_OK);
  for (size_t t = 1; t < plain.trace_len; t++) assert_true(plain.trace[t] >= plain.trace[t - 1] - 1e-10 * W);
  print_message("plain EM: %d iterations (accelerated: %d), loglik %.6f vs %.6f\n", plain.iterations, res.iterations,
                plain.loglik, res.loglik);
  assert_true(plain.iterations > res.iterations);
  assert_close(plain.loglik, res.loglik, 1e-6 * W);
  for (size_t i = 0; i < m; i++) assert_close(plain.theta[i], res.theta[i], 1e-2);
  for (size_t h = 0; h < H; h++) assert_close(plain.eta[h], res.eta[h], 1e-2);
  flipem_result_free(&plain);
  o.accelerate = 1;

  /* the lcpo variant: runs, is labelled, and cannot beat exact EM's likelihood (the
   * exact EM fixed point is a maximum of the same marginal likelihood) */
  o.variant = FLIPEM_LCPO;
  flipem_result lc;
  assert_int_equal(flipem_fit(&d, &f, &o, &lc, &msg), PS_OK);
  double lc_slope = slope_through_origin(s, lc.theta, m);
  print_message("lcpo: %d iterations, loglik %.3f vs exact %.3f, slope %.4f, eta(careful) %.4f eta(careless) %.4f\n",
                lc.iterations, lc.loglik, res.loglik, lc_slope, lc.eta[0], lc.eta[H - 1]);
  assert_true(lc.loglik <= res.loglik + 1e-8 * fabs(res.loglik));
  flipem_result_free(&lc);

  free(cov);
  bt_result_free(&bt);
  flipem_result_free(&res);
  pref_data_free(&d);
  gsl_rng_free(r);
}

/* Features: theta recovered through Phi, with per-annotator eta. */
static void test_features(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 1357);
  size_t m = 40, dim = 3, H = 6, per = 400;
  double phi[120], theta[3] = {1.4, -2.1, 0.6}, s[40], eps[6] = {0.05, 0.05, 0.05, 0.25, 0.25, 0.25};
  for (size_t k = 0; k < m * dim; k++) phi[k] = gsl_ran_gaussian(r, 1.0);
  for (size_t i = 0; i < m; i++) {
    s[i] = 0;
    for (size_t k = 0; k < dim; k++) s[i] += phi[i * dim + k] * theta[k];
  }
  pref_data d;
  simulate(&d, r, s, m, eps, H, per);
  pref_features f = {.n_items = m, .d = dim, .phi = phi, .n_contexts = 1, .item_context = NULL};
  flipem_options o = flipem_options_default();
  flipem_result res;
  ps_msg msg = {{0}};
  assert_int_equal(flipem_fit(&d, &f, &o, &res, &msg), PS_OK);
  assert_int_equal(res.d, dim);
  /* standard errors from the flip model's Fisher information at the truth, theta block
   * J = sum_i [(1 - 2 eps) sigma'(Delta_i)]^2 / (p~ (1 - p~)) x_i x_i^T, and per annotator
   * I_k as in test_recovery; both with the other block known, so 4.5 of them */
  gsl_matrix *J = gsl_matrix_calloc(dim, dim);
  double info[6] = {0};
  for (size_t i = 0; i < d.n; i++) {
    size_t h = (size_t)d.annotator[i];
    double z = s[d.winner[i]] - s[d.loser[i]], p = ps_sigmoid(z), pt = eps[h] + (1 - 2 * eps[h]) * p;
    double dz = (1 - 2 * eps[h]) * ps_sigmoid_deriv(z), I = dz * dz / (pt * (1 - pt));
    info[h] += (2 * p - 1) * (2 * p - 1) / (pt * (1 - pt));
    for (size_t a = 0; a < dim; a++)
      for (size_t b = 0; b < dim; b++)
        *gsl_matrix_ptr(J, a, b) += I * (phi[d.winner[i] * dim + a] - phi[d.loser[i] * dim + a]) *
                                    (phi[d.winner[i] * dim + b] - phi[d.loser[i] * dim + b]);
  }
  gsl_linalg_cholesky_decomp1(J);
  gsl_linalg_cholesky_invert(J);
  for (size_t k = 0; k < dim; k++) {
    double se = sqrt(gsl_matrix_get(J, k, k));
    print_message("features: theta[%zu] = %.4f vs %.4f (se %.4f)\n", k, res.theta[k], theta[k], se);
    assert_close(res.theta[k], theta[k], 4.5 * se);
  }
  for (size_t h = 0; h < H; h++) {
    double se = 1 / sqrt(info[h]);
    print_message("features: eta[%zu] = %.4f vs %.4f (se %.4f)\n", h, res.eta[h], 1 - eps[h], se);
    assert_close(res.eta[h], 1 - eps[h], 4.5 * se);
  }
  gsl_matrix_free(J);
  for (size_t t = 1; t < res.trace_len; t++) assert_true(res.trace[t] >= res.trace[t - 1] - 1e-10 * (double)d.n);
  flipem_result_free(&res);
  pref_data_free(&d);
  gsl_rng_free(r);
}

/* The identifiability caveat: one pair of items, one shared eps.  Only
 * p~ = eps + (1 - 2 eps) sigma(Delta) is identified: two (eps, Delta) on that ridge have
 * the same likelihood, and EM from two eta_init values stops at two different points of
 * the ridge with the same p~ (the empirical frequency 0.7) and the same likelihood. */
static void test_shared_confounding(void **state) {
  (void)state;
  pref_data d;
  assert_int_equal(pref_data_alloc(&d, 2, 2, 0, 0, 1), PS_OK);
  d.winner[0] = 0, d.loser[0] = 1, d.count[0] = 70;
  d.winner[1] = 1, d.loser[1] = 0, d.count[1] = 30;
  pref_features f = fixtures_items_view(2);
  /* the ridge: eps = 0.1 and eps = 0.2 with sigma(Delta) solving p~ = 0.7 */
  double e1 = 0.1, e2 = 0.2, p1 = (0.7 - e1) / (1 - 2 * e1), p2 = (0.7 - e2) / (1 - 2 * e2);
  double t1[2] = {0.5 * log(p1 / (1 - p1)), -0.5 * log(p1 / (1 - p1))};
  double t2[2] = {0.5 * log(p2 / (1 - p2)), -0.5 * log(p2 / (1 - p2))};
  double eta1 = 1 - e1, eta2 = 1 - e2;
  double l1 = flipem_loglik(&d, &f, t1, &eta1), l2 = flipem_loglik(&d, &f, t2, &eta2);
  assert_close(l1, l2, 1e-12);
  assert_close(l1, 70 * log(0.7) + 30 * log(0.3), 1e-10);
  flipem_options o = flipem_options_default();
  o.shared = 1;
  double init[2] = {0.9, 0.6}, eta_hat[2];
  for (int k = 0; k < 2; k++) {
    o.eta_init = init[k];
    flipem_result res;
    ps_msg msg = {{0}};
    int st = flipem_fit(&d, &f, &o, &res, &msg);
    assert_true(st == PS_OK || st == PS_ENOCONV);
    double delta = res.theta[0] - res.theta[1], eps = 1 - res.eta[0];
    assert_close(eps + (1 - 2 * eps) * ps_sigmoid(delta), 0.7, 1e-4);
    assert_close(res.loglik, l1, 1e-6);
    eta_hat[k] = res.eta[0];
    flipem_result_free(&res);
  }
  print_message("shared eps on one pair: eta_init 0.9 -> eta %.4f, 0.6 -> %.4f\n", eta_hat[0], eta_hat[1]);
  assert_true(fabs(eta_hat[0] - eta_hat[1]) > 0.05);
  pref_data_free(&d);
}

/* One annotator column absent = one annotator = shared: the fits coincide, and counts
 * act as multiplicities (count 3 = the row three times).  Plain EM (accelerate = 0), so
 * that the iterates are the same maps in the same order: SQUAREM's step length weighs
 * the H copies of a shared eta H times and would stop elsewhere on the flat ridge. */
static void test_shared_equals_single(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 3141);
  size_t m = 12, H = 3;
  double s[12], eps[3] = {0.1, 0.2, 0.15};
  for (size_t i = 0; i < m; i++) s[i] = gsl_ran_gaussian(r, 1.3);
  pref_data d;
  simulate(&d, r, s, m, eps, H, 150);
  pref_features f = fixtures_items_view(m);
  flipem_options o = flipem_options_default();
  o.shared = 1;
  o.accelerate = 0;
  flipem_result a, b, c;
  assert_int_equal(flipem_fit(&d, &f, &o, &a, NULL), PS_OK);
  int32_t *ann = d.annotator;
  d.annotator = NULL;
  o.shared = 0;
  assert_int_equal(flipem_fit(&d, &f, &o, &b, NULL), PS_OK);
  assert_int_equal(b.n_annotators, 1);
  /* the same rows three times as one row with count 3 */
  pref_data t3;
  assert_int_equal(pref_data_alloc(&t3, d.n, m, 0, 0, 1), PS_OK);
  memcpy(t3.winner, d.winner, d.n * sizeof(int32_t));
  memcpy(t3.loser, d.loser, d.n * sizeof(int32_t));
  for (size_t i = 0; i < d.n; i++) t3.count[i] = 3;
  assert_int_equal(flipem_fit(&t3, &f, &o, &c, NULL), PS_OK);
  /* a and b: identical arithmetic; c: the theta steps agree to bt_fit's tolerance */
  assert_int_equal(a.iterations, b.iterations);
  for (size_t h = 0; h < H; h++) assert_close(a.eta[h], b.eta[0], 1e-12);
  assert_close(a.loglik, b.loglik, 1e-12 * fabs(b.loglik));
  assert_close(c.eta[0], b.eta[0], 1e-6);
  assert_close(c.loglik, 3 * b.loglik, 1e-8 * fabs(c.loglik));
  for (size_t i = 0; i < m; i++) {
    assert_close(a.theta[i], b.theta[i], 1e-12);
    assert_close(c.theta[i], b.theta[i], 1e-6);
  }
  d.annotator = ann;
  flipem_result_free(&a);
  flipem_result_free(&b);
  flipem_result_free(&c);
  pref_data_free(&t3);
  pref_data_free(&d);
  gsl_rng_free(r);
}

/* The est_type interface. */
static void test_estimator_interface(void **state) {
  (void)state;
  const est_type *t = est_lookup("flipem");
  assert_non_null(t);
  assert_non_null(t->trace);
  const char *cols[] = {"eta", "flip", "comparisons"};
  for (int k = 0; k < 3; k++) assert_string_equal(t->annotator_columns[k], cols[k]);
  assert_null(t->annotator_columns[3]);
  size_t np = 0;
  while (t->params[np].key) np++;
  const char **hyper = malloc(np * sizeof(char *));
  for (size_t k = 0; k < np; k++) hyper[k] = t->params[k].def;
  est_model *e = NULL;
  ps_msg msg = {{0}};
  assert_int_equal(t->alloc(&e, hyper, &msg), PS_OK);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 777);
  size_t m = 10, H = 4;
  double s[10], eps[4] = {0.02, 0.1, 0.3, 0.15};
  for (size_t i = 0; i < m; i++) s[i] = gsl_ran_gaussian(r, 1.5);
  pref_data d;
  simulate(&d, r, s, m, eps, H, 200);
  pref_features f = fixtures_items_view(m);
  est_fit_info info;
  int fs_ = t->fit(e, &d, &f, r, &info, &msg);
  if (fs_ != PS_OK) fail_msg("%s", msg.text);
  assert_true(info.converged);
  size_t dim, len;
  const double *th = t->theta(e, &dim);
  assert_int_equal(dim, m);
  const double *tr = t->trace(e, &len);
  assert_true(len >= 2 && len <= (size_t)info.iterations + 1); /* SQUAREM: one entry per cycle of 3 */
  for (size_t k = 1; k < len; k++) assert_true(tr[k] >= tr[k - 1] - 1e-10 * (double)d.n);
  assert_close(tr[len - 1], -info.objective, 1e-9 * fabs(info.objective));
  assert_close(t->logit(e, 1, 4), th[1] - th[4], 1e-12);
  double vals[3];
  for (size_t h = 0; h < H; h++) {
    assert_int_equal(t->annotator(e, h, vals), PS_OK);
    assert_close(vals[0] + vals[1], 1, 1e-15);
    assert_close(vals[2], 200, 0);
    double pt = vals[1] + (1 - 2 * vals[1]) * ps_sigmoid(th[6] - th[2]);
    assert_close(t->logit_annotator(e, (int32_t)h, 6, 2), log(pt / (1 - pt)), 1e-12);
  }
  assert_int_equal(t->annotator(e, H, vals), PS_EINVAL);
  assert_true(isnan(t->logit_annotator(e, (int32_t)H, 0, 1)));
  /* lcpo and shared through the text hyperparameters */
  size_t iv = 0, is = 0;
  while (strcmp(t->params[iv].key, "variant")) iv++;
  while (strcmp(t->params[is].key, "shared")) is++;
  assert_int_equal(ps_param_check(&t->params[iv], "lcpo", &msg), PS_OK);
  assert_int_equal(ps_param_check(&t->params[iv], "em", &msg), PS_EINVAL);
  hyper[iv] = "lcpo";
  hyper[is] = "true";
  est_model *e2 = NULL;
  assert_int_equal(t->alloc(&e2, hyper, &msg), PS_OK);
  assert_int_equal(t->fit(e2, &d, &f, r, &info, &msg), PS_OK);
  for (size_t h = 1; h < H; h++) {
    double v0[3];
    t->annotator(e2, 0, v0);
    t->annotator(e2, h, vals);
    assert_true(vals[0] == v0[0]); /* shared */
  }
  t->free(e2);
  free(hyper);
  t->free(e);
  t->free(NULL);
  pref_data_free(&d);
  gsl_rng_free(r);
}

static void test_errors(void **state) {
  (void)state;
  int32_t w[4] = {0, 1, 2, 0}, l[4] = {1, 2, 0, 2};
  pref_data d;
  assert_int_equal(pref_data_alloc(&d, 4, 3, 1, 0, 1), PS_OK);
  memcpy(d.winner, w, sizeof w);
  memcpy(d.loser, l, sizeof l);
  d.n_annotators = 2;
  for (int i = 0; i < 4; i++) {
    d.annotator[i] = i % 2;
    d.count[i] = 1;
  }
  pref_features f = fixtures_items_view(3);
  flipem_result res;
  ps_msg m = {{0}};
  flipem_options o = flipem_options_default();
  flipem_options bad[6];
  for (int k = 0; k < 6; k++) bad[k] = o;
  bad[0].variant = (flipem_variant)7;
  bad[1].eta_init = 0.5;
  bad[2].eta_init = 1;
  bad[3].l2 = -1;
  bad[4].tol = NAN;
  bad[5].max_iter = 0;
  const char *names[6] = {"variant", "eta_init", "eta_init", "l2", "tol", "max_iter"};
  for (int k = 0; k < 6; k++) {
    assert_int_equal(flipem_fit(&d, &f, &bad[k], &res, &m), PS_EINVAL);
    assert_int_equal(res.status, PS_EINVAL);
    assert_non_null(strstr(m.text, names[k]));
    flipem_result_free(&res);
  }
  d.count[1] = NAN;
  assert_int_equal(flipem_fit(&d, &f, &o, &res, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "count"));
  flipem_result_free(&res);
  d.count[1] = 1;
  d.annotator[0] = -1;
  assert_int_equal(flipem_fit(&d, &f, &o, &res, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "annotator"));
  flipem_result_free(&res);
  d.annotator[0] = 0;
  size_t n = d.n;
  d.n = 0;
  assert_int_equal(flipem_fit(&d, &f, &o, &res, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "no comparisons"));
  flipem_result_free(&res);
  d.n = n;
  d.n_annotators = 0;
  assert_int_equal(flipem_fit(&d, &f, &o, &res, &m), PS_EINVAL);
  flipem_result_free(&res);
  d.n_annotators = 2;
  pref_features g = fixtures_items_view(5);
  assert_int_equal(flipem_fit(&d, &g, &o, &res, &m), PS_EINVAL);
  flipem_result_free(&res);
  double phi[6] = {1, 0, INFINITY, 1, 0, 1};
  pref_features h = {.n_items = 3, .d = 2, .phi = phi, .n_contexts = 1, .item_context = NULL};
  assert_int_equal(flipem_fit(&d, &h, &o, &res, &m), PS_EDOM);
  flipem_result_free(&res);
  /* the theta step fails: lcpo keeps the raw win graph, here a tournament 0>1>2, 0>2
   * with no MLE (l2 = 0) */
  d.winner[2] = 1, d.loser[2] = 2, d.winner[3] = 0, d.loser[3] = 2;
  d.winner[1] = 0, d.loser[1] = 1;
  o.variant = FLIPEM_LCPO;
  assert_int_equal(flipem_fit(&d, &f, &o, &res, &m), PS_ENOMLE);
  assert_non_null(strstr(m.text, "theta step"));
  flipem_result_free(&res);
  /* exact EM on the same data exists (both orientations carry weight) */
  o.variant = FLIPEM_EXACT;
  o.max_iter = 3;
  int st = flipem_fit(&d, &f, &o, &res, &m);
  assert_true(st == PS_OK || st == PS_ENOCONV);
  flipem_result_free(&res);
  /* not converged: two iterations on a real problem */
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 99);
  double s[12], eps[3] = {0.1, 0.3, 0.2};
  for (size_t i = 0; i < 12; i++) s[i] = gsl_ran_gaussian(r, 1.0);
  pref_data e;
  simulate(&e, r, s, 12, eps, 3, 100);
  pref_features fe = fixtures_items_view(12);
  o.max_iter = 2;
  assert_int_equal(flipem_fit(&e, &fe, &o, &res, &m), PS_ENOCONV);
  assert_false(res.converged);
  assert_int_equal(res.iterations, 2);
  assert_int_equal(res.trace_len, 3);
  assert_non_null(strstr(m.text, "EM iterations"));
  flipem_result_free(&res);
  flipem_result_free(&res);
  pref_data_free(&e);
  gsl_rng_free(r);
  pref_data_free(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scalars),
      cmocka_unit_test(test_row23_noisybt_agrees),
      cmocka_unit_test(test_o16_fixed_point_exact),
      cmocka_unit_test(test_o16_fixed_point_sample),
      cmocka_unit_test(test_recovery),
      cmocka_unit_test(test_features),
      cmocka_unit_test(test_shared_confounding),
      cmocka_unit_test(test_shared_equals_single),
      cmocka_unit_test(test_estimator_interface),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
