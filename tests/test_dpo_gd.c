/* test_dpo_gd.c — DPO's learning dynamics (estimator dpo_gd, docs/theory.md §3.13c)
 * against the gradient-flow closed form d log pi(y)/dt = beta sigma(-beta Delta)
 * (phi_y - phi-bar)^T (phi_w - phi_l) / W, and the trajectory's invariants. */
#include <math.h>

#include "fixtures.h"
#include "test_util.h"
#include "../estimators/estimator.h"
#include "../experiments/eval.h"

extern const est_type est_dpo_gd;

static est_model *make(const char *beta, const char *lr, const char *steps) {
  const char *h[8];
  size_t k = fixtures_default_hyper(&est_dpo_gd, h, 8);
  for (size_t i = 0; i < k; i++) {
    if (!strcmp(est_dpo_gd.params[i].key, "beta")) h[i] = beta;
    if (!strcmp(est_dpo_gd.params[i].key, "lr")) h[i] = lr;
    if (!strcmp(est_dpo_gd.params[i].key, "steps")) h[i] = steps;
  }
  est_model *e = NULL;
  assert_int_equal(est_dpo_gd.alloc(&e, h, NULL), PS_OK);
  return e;
}

/* One context of three responses with phi = 1, 0, 3 (d = 1), uniform reference, one
 * comparison 0 > 1, theta = 0: phi-bar = 4/3, sigma(0) = 1/2, so
 * d log pi_w/dt = beta/2 (1 - 4/3) = -beta/6 (the chosen response falls),
 * d log pi_l/dt = beta/2 (0 - 4/3) = -2 beta/3, d log pi_3/dt = beta/2 (3 - 4/3) = +5 beta/6.
 * One step of size lr approximates the rate to O(lr) (the second derivative of log pi
 * along the flow is O(beta^2)): with lr = 1e-7 the relative error is below 1e-5. */
static void test_rates_closed_form(void **state) {
  (void)state;
  const double phi[3] = {1, 0, 3};
  pref_features f = {.n_items = 3, .d = 1, .phi = phi, .n_contexts = 1};
  pref_data d;
  int32_t w = 0, l = 1;
  fixtures_rows(&d, 3, &w, &l, 1);
  const double betas[] = {0.1, 1, 4};
  const char *btxt[] = {"0.1", "1", "4"};
  for (int k = 0; k < 3; k++) {
    double beta = betas[k], lr = 1e-7;
    est_model *e = make(btxt[k], "1e-7", "1");
    est_fit_info info = {0};
    assert_int_equal(est_dpo_gd.fit(e, &d, &f, NULL, &info, NULL), PS_OK);
    double p[3];
    assert_int_equal(est_dpo_gd.policy(e, 0, 3, p), PS_OK);
    const double rate[3] = {-beta / 6, -2 * beta / 3, 5 * beta / 6};
    for (int y = 0; y < 3; y++) {
      double got = (log(p[y]) - log(1.0 / 3)) / lr;
      assert_close(got, rate[y], 1e-5 * fabs(rate[y]));
    }
    /* the implied logit is beta (s_a - s_b) with s = theta phi, theta = lr beta / 2 */
    size_t dim;
    const double *th = est_dpo_gd.theta(e, &dim);
    assert_int_equal(dim, 1);
    assert_close(th[0], lr * beta / 2, 1e-12 * lr * beta);
    assert_close(est_dpo_gd.logit(e, 0, 1), beta * th[0] * 1, 1e-15);
    est_dpo_gd.free(e);
  }
  pref_data_free(&d);
}

/* steps = 0 is the reference; many steps on one separable pair keep raising the margin
 * (no optimum: the loss only tends to 0) while the chosen response ends below its
 * reference probability — likelihood displacement in its simplest form, because the
 * third response, whose feature lies further along the preference direction, takes
 * the mass. */
static void test_trajectory(void **state) {
  (void)state;
  const double phi[3] = {1, 0, 3};
  pref_features f = {.n_items = 3, .d = 1, .phi = phi, .n_contexts = 1};
  pref_data d;
  int32_t w = 0, l = 1;
  fixtures_rows(&d, 3, &w, &l, 1);
  double p[3], prev_margin = -1;
  const char *steps[] = {"0", "10", "100", "1000"};
  for (int k = 0; k < 4; k++) {
    est_model *e = make("1", "0.5", steps[k]);
    est_fit_info info = {0};
    assert_int_equal(est_dpo_gd.fit(e, &d, &f, NULL, &info, NULL), PS_OK);
    assert_int_equal(est_dpo_gd.policy(e, 0, 3, p), PS_OK);
    double margin = est_dpo_gd.logit(e, 0, 1);
    if (k == 0) {
      for (int y = 0; y < 3; y++) assert_close(p[y], 1.0 / 3, 1e-15);
      assert_close(margin, 0, 0);
    } else {
      assert_true(margin > prev_margin);
      assert_true(p[0] < 1.0 / 3);
      assert_true(p[2] > 1.0 / 3);
    }
    prev_margin = margin;
    est_dpo_gd.free(e);
  }
  pref_data_free(&d);
}

static void test_errors(void **state) {
  (void)state;
  const double phi[3] = {1, NAN, 3};
  pref_features f = {.n_items = 3, .d = 1, .phi = phi, .n_contexts = 1};
  pref_data d;
  int32_t w = 0, l = 1;
  fixtures_rows(&d, 3, &w, &l, 1);
  est_model *e = make("1", "1", "5");
  est_fit_info info = {0};
  ps_msg msg = {{0}};
  assert_int_not_equal(est_dpo_gd.fit(e, &d, &f, NULL, &info, &msg), PS_OK);
  assert_true(msg.text[0] != 0);
  double p[3];
  assert_int_equal(est_dpo_gd.policy(e, 0, 3, p), PS_EINVAL);
  est_dpo_gd.free(e);
  pref_data_free(&d);
}

/* The closed-form margin of one behaviour, dm/dt = k (p - sigma(m)), m(0) = 0 (metric
 * margin_flow_err, docs/theory.md §3.13c), against classical RK4 with 20000 steps, over
 * sure and unsure annotators, both orientations, and early and late times; at p = 1/2
 * the margin stays 0; at p = 1, m + e^m - 1 = k t exactly. */
static double rk4(double k, double p, double t) {
  int N = 20000;
  double h = t / N, m = 0;
  for (int i = 0; i < N; i++) {
    double a = k * (p - 1 / (1 + exp(-m))), b = k * (p - 1 / (1 + exp(-(m + h * a / 2))));
    double c = k * (p - 1 / (1 + exp(-(m + h * b / 2)))), d = k * (p - 1 / (1 + exp(-(m + h * c))));
    m += h * (a + 2 * b + 2 * c + d) / 6;
  }
  return m;
}

static void test_flow_margin(void **state) {
  (void)state;
  const double ps[] = {0, 0.1, 0.3, 0.49, 0.7, 0.95, 1}, ks[] = {0.05, 1, 4}, ts[] = {0.1, 2, 50};
  for (size_t a = 0; a < 7; a++)
    for (size_t b = 0; b < 3; b++)
      for (size_t c = 0; c < 3; c++) {
        double m = eval_flow_margin(ks[b], ps[a], ts[c]), ref = rk4(ks[b], ps[a], ts[c]);
        assert_true(fabs(m - ref) <= 1e-9 * fmax(1, fabs(ref)));
      }
  assert_true(eval_flow_margin(3, 0.5, 10) == 0);
  double m = eval_flow_margin(2, 1, 3);
  assert_close(m + expm1(m), 6, 1e-12);
  assert_close(eval_flow_margin(2, 0, 3), -m, 1e-12);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rates_closed_form),
      cmocka_unit_test(test_trajectory),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_flow_margin),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
