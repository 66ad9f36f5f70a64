/* test_bt.c — Bradley-Terry: docs/theory.md oracles O1-O4, gradient and Hessian against
 * central finite differences, existence checks, and recovery of a planted theta*
 * within a few standard errors at fixed seeds. */
#include <gsl/gsl_randist.h>
#include <math.h>

#include "test_util.h"
#include "fixtures.h"
#include "../core/numerics.h"
#include "../estimators/bt.h"
#include "../sim/sim.h"

/* O1: two items, 7-3.  theta1 - theta2 = log(7/3), SE = sqrt(1/7 + 1/3). */
static void test_o1_two_items(void **state) {
  (void)state;
  pref_data d;
  int32_t w[2] = {0, 1}, l[2] = {1, 0};
  fixtures_rows(&d, 2, w, l, 2);
  d.count = malloc(2 * sizeof(double));
  d.count[0] = 7;
  d.count[1] = 3;
  pref_features f = fixtures_items_view(2);
  bt_options o = bt_options_default();
  o.want_hessian = 1;
  bt_result r;
  ps_msg m;
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_OK);
  assert_close(r.theta[0] - r.theta[1], log(7.0 / 3.0), 1e-9);
  assert_close(r.theta[0] + r.theta[1], 0, 1e-12);
  double cov[4];
  assert_int_equal(bt_covariance(&r, &f, cov, &m), PS_OK);
  double var_diff = cov[0] + cov[3] - 2 * cov[1];
  assert_close(sqrt(var_diff), sqrt(1.0 / 7 + 1.0 / 3), 1e-9);
  bt_result_free(&r);
  pref_data_free(&d);
}

/* O2: (0>1), (0>1), (1>2), (2>0): theta = (a, -a, 0), 2 sigma(2a) + sigma(a) = 2. */
static void test_o2_cycle_plus_one(void **state) {
  (void)state;
  pref_data d;
  int32_t w[4] = {0, 0, 1, 2}, l[4] = {1, 1, 2, 0};
  fixtures_rows(&d, 3, w, l, 4);
  pref_features f = fixtures_items_view(3);
  bt_options o = bt_options_default();
  bt_result r;
  ps_msg m;
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_OK);
  /* solve 2 sigma(2a) + sigma(a) = 2 by bisection for the expected value */
  double lo = 0, hi = 5;
  for (int i = 0; i < 200; i++) {
    double a = 0.5 * (lo + hi);
    if (2 * ps_sigmoid(2 * a) + ps_sigmoid(a) < 2) lo = a; else hi = a;
  }
  double a = 0.5 * (lo + hi);
  assert_close(a, 0.419617625, 1e-8);
  assert_close(r.theta[0], a, 1e-9);
  assert_close(r.theta[1], -a, 1e-9);
  assert_close(r.theta[2], 0, 1e-9);
  assert_close(r.loglik, -2.567814, 1e-6);
  assert_close(ps_sigmoid(r.theta[0] - r.theta[1]), 0.698304, 1e-6);
  assert_close(ps_sigmoid(r.theta[1] - r.theta[2]), 0.396608, 1e-6);
  /* O17: KKT residual W_i - sum_j N_ij sigma(theta_i - theta_j) */
  assert_true(r.grad_norm <= 1e-9);
  bt_result_free(&r);
  pref_data_free(&d);
}

/* O3: balanced 3-cycle: theta = 0, loglik = 3 log 1/2. */
static void test_o3_balanced_cycle(void **state) {
  (void)state;
  pref_data d;
  int32_t w[3] = {0, 1, 2}, l[3] = {1, 2, 0};
  fixtures_rows(&d, 3, w, l, 3);
  pref_features f = fixtures_items_view(3);
  bt_options o = bt_options_default();
  bt_result r;
  assert_int_equal(bt_fit(&d, &f, &o, &r, NULL), PS_OK);
  for (int i = 0; i < 3; i++) assert_close(r.theta[i], 0, 1e-12);
  assert_close(r.loglik, 3 * log(0.5), 1e-12);
  bt_result_free(&r);
  pref_data_free(&d);
}

/* O4: a>b, b>c, a>c has no MLE; with l2 > 0 it is finite and centred. */
static void test_o4_separable_tournament(void **state) {
  (void)state;
  pref_data d;
  int32_t w[3] = {0, 1, 0}, l[3] = {1, 2, 2};
  fixtures_rows(&d, 3, w, l, 3);
  pref_features f = fixtures_items_view(3);
  bt_options o = bt_options_default();
  bt_result r;
  ps_msg m = {{0}};
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_ENOMLE);
  assert_non_null(strstr(m.text, "never loses"));
  bt_result_free(&r);
  o.l2 = 0.2; /* = alpha 0.1, the choix suggestion */
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_OK);
  assert_true(r.theta[0] > r.theta[1] && r.theta[1] > r.theta[2]);
  assert_close(r.theta[0] + r.theta[1] + r.theta[2], 0, 1e-12);
  /* KKT with penalty: W_i - sum_j N_ij sigma(theta_i - theta_j) = l2 theta_i */
  double W[3] = {2, 1, 0}, kkt = 0;
  for (int i = 0; i < 3; i++) {
    double s = 0;
    for (int k = 0; k < 3; k++) {
      int a = w[k], b = l[k];
      if (a == i) s += ps_sigmoid(r.theta[i] - r.theta[b]);
      if (b == i) s += ps_sigmoid(r.theta[i] - r.theta[a]);
    }
    kkt = fmax(kkt, fabs(W[i] - s - o.l2 * r.theta[i]));
  }
  assert_true(kkt <= 1e-9);
  bt_result_free(&r);
  pref_data_free(&d);
}

static void test_disconnected(void **state) {
  (void)state;
  pref_data d;
  int32_t w[4] = {0, 1, 2, 3}, l[4] = {1, 0, 3, 2};
  fixtures_rows(&d, 4, w, l, 4);
  pref_features f = fixtures_items_view(4);
  bt_options o = bt_options_default();
  bt_result r;
  ps_msg m = {{0}};
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_ENOMLE);
  assert_non_null(strstr(m.text, "disconnected (2 components"));
  bt_result_free(&r);
  /* weakly connected but one-directional between two groups */
  int32_t w2[5] = {0, 1, 2, 3, 0}, l2[5] = {1, 0, 3, 2, 2};
  pref_data_free(&d);
  fixtures_rows(&d, 4, w2, l2, 5);
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_ENOMLE);
  assert_non_null(strstr(m.text, "not strongly connected"));
  bt_result_free(&r);
  pref_data_free(&d);
}

/* random feature problem used by the gradient, Hessian and recovery tests: the
 * project's simulator, 50 contexts x 6 responses, uniform design */
typedef fixtures_sim problem;

static void make_problem(problem *pb, uint64_t seed, size_t n, size_t dim, double norm, link_kind link) {
  world_spec ws = {.kind = WORLD_FEATURES, .contexts = 50, .responses = 6, .dim = dim, .feature_scale = 1.0};
  population_spec ps = {.scale = 1, .norm = norm};
  noise_spec ns = {.link = link, .temperature = 1, .flip = 0};
  fixtures_sim_alloc(pb, seed, &ws, &ps, &ns, n);
}

static void free_problem(problem *pb) { fixtures_sim_free(pb); }

/* Gradient and Hessian against central differences (O17, 1e-6 relative), for
 * both links, with and without counts and penalty. */
static void test_gradient_hessian_fd(void **state) {
  (void)state;
  for (int link = 0; link < 2; link++) {
    problem pb;
    make_problem(&pb, 20261127 + link, 400, 5, 2.385, (link_kind)link);
    pref_features f = world_features(&pb.w);
    bt_options o = bt_options_default();
    o.link = (bt_link)link;
    o.l2 = 0.37;
    double th[5] = {0.31, -1.7, 0.05, 2.2, -0.6}, g[5], gp[5], gm[5];
    double *D = malloc(pb.d.n * sizeof(double));
    bt_objective(&pb.d, &f, &o, th, g, D, NULL);
    double H[25];
    assert_int_equal(bt_design_hessian(&pb.d, &f, D, o.l2, H, NULL), PS_OK);
    for (int k = 0; k < 5; k++) {
      double h = 1e-5, t[5];
      memcpy(t, th, sizeof t);
      t[k] += h;
      double fp = bt_objective(&pb.d, &f, &o, t, gp, NULL, NULL);
      t[k] -= 2 * h;
      double fm = bt_objective(&pb.d, &f, &o, t, gm, NULL, NULL);
      double fd = (fp - fm) / (2 * h);
      assert_close(g[k], fd, 1e-6 * fmax(1, fabs(fd)));
      for (int j = 0; j < 5; j++) {
        double hd = (gp[j] - gm[j]) / (2 * h);
        assert_close(H[j * 5 + k], hd, 1e-6 * fmax(1, fabs(hd)));
      }
    }
    free(D);
    free_problem(&pb);
  }
}

/* Recovery: at fixed seeds the MLE lies within a few standard errors of theta*.
 * With n = 20000 the normal approximation is accurate; the Mahalanobis distance
 * (theta-hat - theta*)^T H (theta-hat - theta*) is ~ chi^2_d, and P(chi^2_6 > 22.5)
 * = 1e-3, so a failure here means a bug, not bad luck. */
static void test_recovery(void **state) {
  (void)state;
  for (int link = 0; link < 2; link++) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
      problem pb;
      make_problem(&pb, seed * 7919, 20000, 6, 1.5, (link_kind)link);
      pref_features f = world_features(&pb.w);
      bt_options o = bt_options_default();
      o.link = (bt_link)link;
      o.want_hessian = 1;
      bt_result r;
      ps_msg m;
      int s = bt_fit(&pb.d, &f, &o, &r, &m);
      if (s != PS_OK) print_error("seed %lu: %s\n", (unsigned long)seed, m.text);
      assert_int_equal(s, PS_OK);
      double e[6], maha = 0;
      for (int k = 0; k < 6; k++) e[k] = r.theta[k] - pb.p.theta[k];
      for (int k = 0; k < 6; k++)
        for (int j = 0; j < 6; j++) maha += e[k] * r.hessian[k * 6 + j] * e[j];
      if (!(maha < 22.5)) print_error("link %d seed %lu: Mahalanobis^2 %.3f\n", link, (unsigned long)seed, maha);
      assert_true(maha < 22.5);
      assert_true(r.grad_norm <= 1e-10 * 20000);
      bt_result_free(&r);
      free_problem(&pb);
    }
  }
}

/* Separable feature data (labels from the sign of theta*^T x, no noise) has no
 * MLE; rank-deficient features have no unique MLE. */
static void test_feature_existence(void **state) {
  (void)state;
  problem pb;
  make_problem(&pb, 42, 300, 4, 1.0, LINK_LOGISTIC);
  for (size_t i = 0; i < pb.d.n; i++) {
    int32_t a = pb.d.winner[i], b = pb.d.loser[i];
    if (pb.p.reward[a] < pb.p.reward[b]) {
      pb.d.winner[i] = b;
      pb.d.loser[i] = a;
    }
  }
  pref_features f = world_features(&pb.w);
  bt_options o = bt_options_default();
  bt_result r;
  ps_msg m = {{0}};
  assert_int_equal(bt_fit(&pb.d, &f, &o, &r, &m), PS_ENOMLE);
  assert_non_null(strstr(m.text, "separable"));
  for (size_t k = 0; k < r.d; k++) assert_true(isfinite(r.theta[k]));
  bt_result_free(&r);
  free_problem(&pb);

  make_problem(&pb, 43, 500, 4, 1.0, LINK_LOGISTIC);
  for (size_t i = 0; i < pb.w.n_items; i++) pb.w.phi[i * 4 + 3] = 2 * pb.w.phi[i * 4 + 1];
  f = world_features(&pb.w);
  assert_int_equal(bt_fit(&pb.d, &f, &o, &r, &m), PS_ESINGULAR);
  assert_non_null(strstr(m.text, "span"));
  bt_result_free(&r);
  o.l2 = 1;
  assert_int_equal(bt_fit(&pb.d, &f, &o, &r, &m), PS_OK);
  bt_result_free(&r);
  free_problem(&pb);
}

static void test_bad_input(void **state) {
  (void)state;
  pref_data d;
  int32_t w[2] = {0, 5}, l[2] = {1, 0};
  fixtures_rows(&d, 3, w, l, 2);
  pref_features f = fixtures_items_view(3);
  bt_options o = bt_options_default();
  bt_result r;
  ps_msg m = {{0}};
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "out of range"));
  bt_result_free(&r);
  d.winner[1] = 1;
  d.count = malloc(2 * sizeof(double));
  d.count[0] = 1;
  d.count[1] = NAN;
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_EINVAL);
  bt_result_free(&r);
  o.l2 = -1;
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_EINVAL);
  bt_result_free(&r);
  pref_data_free(&d);
}

/* Item covariance with a penalty: the covariance of centred scores has rows that
 * sum to 0 and is the inverse of H on the subspace {sum = 0}: C H C = C. */
static void test_item_covariance_l2(void **state) {
  (void)state;
  pref_data d;
  int32_t w[6] = {0, 0, 1, 2, 3, 1}, l[6] = {1, 2, 2, 0, 0, 3};
  fixtures_rows(&d, 4, w, l, 6);
  pref_features f = fixtures_items_view(4);
  for (int k = 0; k < 2; k++) {
    bt_options o = bt_options_default();
    o.l2 = k ? 0.3 : 0;
    o.want_hessian = 1;
    bt_result r;
    ps_msg m;
    int s = bt_fit(&d, &f, &o, &r, &m);
    if (s) print_error("%s\n", m.text);
    assert_int_equal(s, PS_OK);
    double C[16], CH[16], CHC[16];
    assert_int_equal(bt_covariance(&r, &f, C, &m), PS_OK);
    for (int i = 0; i < 4; i++) {
      double rs = 0;
      for (int j = 0; j < 4; j++) rs += C[i * 4 + j];
      assert_close(rs, 0, 1e-12);
    }
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) {
        CH[i * 4 + j] = 0;
        for (int t = 0; t < 4; t++) CH[i * 4 + j] += C[i * 4 + t] * r.hessian[t * 4 + j];
      }
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) {
        CHC[i * 4 + j] = 0;
        for (int t = 0; t < 4; t++) CHC[i * 4 + j] += CH[i * 4 + t] * C[t * 4 + j];
        assert_close(CHC[i * 4 + j], C[i * 4 + j], 1e-12);
      }
    bt_result_free(&r);
  }
  pref_data_free(&d);
}

/* Regression: a tight tolerance on the item model.  Near the optimum the rounding
 * residue of the gradient along 1 (the item model's null direction) once made CG's
 * step explode and the fit cycled from the optimum back towards 0 (status
 * not-converged, gradient 0.076 after 100 steps).  Fractional counts of a 5-item game
 * (the pooled-BT pseudo-true problem of metrics.c): with tol = 1e-13 the fit must
 * converge to the same log-likelihood as the default tolerance, with a smaller gradient. */
static void test_items_tight_tolerance(void **state) {
  (void)state;
  const double q[10] = {0.45543640595676921, 0.57584220878627734, 0.0023721644942003017, 0.93709041301946505,
                        0.48902636030415958, 0.1606312281798245,  0.92280870511423885,   0.88571822094984087,
                        0.052997995461476322, 0.34533643453438384};
  int32_t w[20], l[20];
  double c[20];
  size_t r = 0, k = 0;
  for (int32_t a = 0; a < 5; a++)
    for (int32_t b = a + 1; b < 5; b++, k++) {
      w[r] = a, l[r] = b, c[r++] = q[k];
      w[r] = b, l[r] = a, c[r++] = 1 - q[k];
    }
  pref_data d;
  fixtures_rows(&d, 5, w, l, 20);
  d.count = malloc(20 * sizeof(double));
  memcpy(d.count, c, sizeof c);
  pref_features f = fixtures_items_view(5);
  bt_options o = bt_options_default();
  bt_result loose, tight;
  ps_msg m;
  assert_int_equal(bt_fit(&d, &f, &o, &loose, &m), PS_OK);
  o.tol = 1e-13;
  assert_int_equal(bt_fit(&d, &f, &o, &tight, &m), PS_OK);
  assert_true(tight.grad_norm <= 1e-13 * 10);
  assert_true(tight.iterations <= 10);
  assert_close(tight.loglik, loose.loglik, 1e-12);
  for (int i = 0; i < 5; i++) assert_close(tight.theta[i], loose.theta[i], 1e-9);
  bt_result_free(&loose);
  bt_result_free(&tight);
  pref_data_free(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_o1_two_items),      cmocka_unit_test(test_o2_cycle_plus_one),
      cmocka_unit_test(test_o3_balanced_cycle), cmocka_unit_test(test_o4_separable_tournament),
      cmocka_unit_test(test_disconnected),      cmocka_unit_test(test_gradient_hessian_fd),
      cmocka_unit_test(test_recovery),          cmocka_unit_test(test_feature_existence),
      cmocka_unit_test(test_bad_input),         cmocka_unit_test(test_item_covariance_l2),
      cmocka_unit_test(test_items_tight_tolerance),
  };
  return cmocka_run_group_tests_name("bt", tests, NULL, NULL);
}
