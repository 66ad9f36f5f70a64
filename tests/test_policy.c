/* test_policy.c — policy maths and metrics: docs/theory.md oracles O10 (J identities) and
 * O14 (ranking accuracy), the softmax/KL gradients and the MLP backpropagation against
 * central finite differences, and the non-convexity of KL in theta that makes HyPO
 * use L-BFGS. */
#include <gsl/gsl_rng.h>
#include <math.h>

#include "test_util.h"
#include "../core/numerics.h"
#include "../estimators/policy.h"

/* relative agreement of an analytic and a finite-difference derivative: the central
 * difference with step h has truncation error O(h^2 f''') and rounding O(eps f / h);
 * h = 1e-5 puts both near 1e-10 for O(1) functions, well inside 1e-6. */
static void assert_rel(double analytic, double fd, double tol) {
  double scale = fmax(1e-6, fmax(fabs(analytic), fabs(fd)));
  if (!(fabs(analytic - fd) <= tol * scale)) {
    print_error("analytic %.12g vs finite difference %.12g (rel %.3g)\n", analytic, fd, fabs(analytic - fd) / scale);
    fail();
  }
}

/* O10: pi_ref = (0.5, 0.3, 0.2), r = (1, 0, -1), beta = 0.5. */
static void test_o10_j_identity(void **state) {
  (void)state;
  const double ref[3] = {0.5, 0.3, 0.2}, r[3] = {1, 0, -1}, beta = 0.5;
  double ps[3];
  double log_z = policy_kl_optimal(ref, r, beta, 3, ps);
  double Z = exp(log_z);
  /* closed form Z = sum ref e^{r/beta} */
  assert_close(Z, 0.5 * exp(2) + 0.3 + 0.2 * exp(-2), 1e-14);
  assert_close(Z, 4.021595, 1e-6);
  assert_close(beta * log_z, 0.695839, 1e-6);
  assert_close(ps[0], 0.918672, 1e-6);
  assert_close(ps[1], 0.074597, 1e-6);
  assert_close(ps[2], 0.006730, 1e-6);
  assert_close(ps[0] + ps[1] + ps[2], 1, 1e-15);
  /* J(pi*) = V* */
  assert_close(policy_objective(ps, ref, r, beta, 3), beta * log_z, 1e-14);
  const double unif[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
  double J = policy_objective(unif, ref, r, beta, 3);
  assert_close(J, -0.035120, 1e-6);
  assert_close(beta * log_z - J, 0.730959, 1e-6);
  assert_close(beta * log_z - J, beta * policy_kl(unif, ps, 3), 1e-14);
  double Jr = policy_objective(ref, ref, r, beta, 3);
  assert_close(Jr, 0.3, 1e-15);
  assert_close(beta * log_z - Jr, 0.395839, 1e-6);
  assert_close(beta * log_z - Jr, beta * policy_kl(ref, ps, 3), 1e-14);
  double kl = policy_kl(ps, ref, 3);
  assert_close(kl, 0.432205, 1e-6);
  assert_close(kl, policy_value(ps, r, 3) / beta - log_z, 1e-14);
  /* KL edge cases: 0 log 0 = 0; q = 0 under p > 0 is infinite */
  const double p0[3] = {0.5, 0.5, 0}, q0[3] = {0.25, 0.75, 0};
  assert_close(policy_kl(p0, q0, 3), 0.5 * log(2) + 0.5 * log(0.5 / 0.75), 1e-15);
  assert_true(isinf(policy_kl(q0, p0, 3)) == 0);
  const double q1[3] = {1, 0, 0};
  assert_true(isinf(policy_kl(p0, q1, 3)));
}

/* O14: pi_ref(y_w) = 0.2, pi_ref(y_l) = 0.5, alpha = 0.7. */
static void test_o14_ranking(void **state) {
  (void)state;
  double lw = log(0.2), ll = log(0.5), alpha = 0.7;
  double ratio01 = (0.2 / 0.5) * pow(0.7 / 0.3, 10), ratio1 = (0.2 / 0.5) * (0.7 / 0.3);
  assert_close(ratio01, 1913.497, 1e-3);
  assert_close(ratio1, 0.933333, 1e-6);
  pref_data d;
  assert_int_equal(pref_data_alloc(&d, 1, 2, 0, 0, 0), PS_OK);
  d.winner[0] = 0;
  d.loser[0] = 1;
  double log_ref[2] = {lw, ll};
  assert_close(policy_ideal_ranking_accuracy(log_ref, &alpha, 0.1, &d), 1, 0);
  assert_close(policy_ideal_ranking_accuracy(log_ref, &alpha, 1.0, &d), 0, 0);
  /* uniform reference: R* = 1[alpha > 1/2] */
  assert_close(policy_ideal_ranking_accuracy(NULL, &alpha, 1.0, &d), 1, 0);
  assert_close(policy_ranking_threshold(lw, ll, 0.1), 0.648382, 1e-6);
  assert_close(policy_ranking_threshold(lw, ll, 1.0), 0.336472, 1e-6);
  assert_close(policy_ranking_threshold(lw, ll, 1.0), -log(ps_sigmoid(log(2.5))), 1e-15);
  /* Chen et al.'s equivalence on random policies: R = 1 iff L_DPO <= threshold */
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 2385);
  for (int t = 0; t < 200; t++) {
    double beta = 0.05 + 2 * gsl_rng_uniform(r);
    double lp[2] = {-3 * gsl_rng_uniform(r), -3 * gsl_rng_uniform(r)};
    double R = policy_ranking_accuracy(lp, &d);
    double L = ps_softplus(-beta * ((lp[0] - lw) - (lp[1] - ll)));
    double thr = policy_ranking_threshold(lw, ll, beta);
    if (fabs(L - thr) < 1e-12) continue; /* tie: both sides equal up to rounding */
    assert_int_equal((int)R, L <= thr);
  }
  gsl_rng_free(r);
  pref_data_free(&d);
  /* weighted ranking accuracy over two rows */
  assert_int_equal(pref_data_alloc(&d, 2, 3, 0, 0, 1), PS_OK);
  d.winner[0] = 0, d.loser[0] = 1, d.count[0] = 3;
  d.winner[1] = 2, d.loser[1] = 1, d.count[1] = 1;
  double lp3[3] = {-1, -2, -3};
  assert_close(policy_ranking_accuracy(lp3, &d), 0.75, 1e-15);
  pref_data_free(&d);
}

static void test_win_rate_greedy(void **state) {
  (void)state;
  const double P[9] = {.5, .8, .3, .2, .5, .6, .7, .4, .5}, ref[3] = {0.2, 0.3, 0.5};
  assert_close(policy_win_rate(ref, ref, P, 3), 0.5, 1e-15);
  double p[3];
  const double score[3] = {0.3, 1.7, 1.7};
  policy_greedy(score, 3, p);
  assert_true(p[0] == 0 && p[1] == 1 && p[2] == 0);
  /* point mass on y = 1: sum_y' ref(y') P(1 > y') */
  assert_close(policy_win_rate(p, ref, P, 3), 0.2 * 0.2 + 0.3 * 0.5 + 0.5 * 0.6, 1e-15);
}

/* log-linear softmax: probabilities, E phi, d log pi / d theta = phi - E phi, and the KL
 * gradient in the scores, all against central differences. */
static void test_loglinear_gradients(void **state) {
  (void)state;
  const size_t m = 4, d = 3;
  double phi[12] = {0.3, -1.2, 0.7, 1.1, 0.4, -0.5, -0.9, 0.2, 1.3, 0.25, 0.8, -0.6};
  double log_ref[4] = {log(0.1), log(0.2), log(0.3), log(0.4)};
  pref_features f = {.n_items = m, .d = d, .phi = phi, .n_contexts = 1, .log_ref = log_ref};
  double theta[3] = {0.7, -0.35, 1.2}, p[4], mean[3], work[4];
  assert_int_equal(policy_loglinear_probs(&f, theta, 0, m, p), PS_OK);
  assert_close(p[0] + p[1] + p[2] + p[3], 1, 1e-15);
  assert_int_equal(policy_loglinear_probs(&f, theta, 2, 3, p), PS_EINVAL);
  policy_loglinear_mean_phi(&f, theta, 0, m, mean, work);
  const double h = 1e-5;
  for (size_t y = 0; y < m; y++)
    for (size_t k = 0; k < d; k++) {
      double tp[3], tm[3], pp[4], pm[4];
      memcpy(tp, theta, sizeof tp);
      memcpy(tm, theta, sizeof tm);
      tp[k] += h;
      tm[k] -= h;
      policy_loglinear_probs(&f, tp, 0, m, pp);
      policy_loglinear_probs(&f, tm, 0, m, pm);
      assert_rel(phi[y * d + k] - mean[k], (log(pp[y]) - log(pm[y])) / (2 * h), 1e-6);
    }
  /* KL(pi_s || pi_ref) gradient in the scores */
  double s[4] = {0.3, -0.8, 1.4, 0.1}, dkl[4];
  double kl = policy_softmax_kl(log_ref, s, m, dkl, work);
  double q[4], ps_[4];
  for (size_t y = 0; y < m; y++) q[y] = exp(log_ref[y]);
  policy_log_softmax(log_ref, s, m, ps_);
  for (size_t y = 0; y < m; y++) ps_[y] = exp(ps_[y]);
  assert_close(kl, policy_kl(ps_, q, m), 1e-14);
  for (size_t y = 0; y < m; y++) {
    double sp[4], sm[4];
    memcpy(sp, s, sizeof sp);
    memcpy(sm, s, sizeof sm);
    sp[y] += h;
    sm[y] -= h;
    double fd = (policy_softmax_kl(log_ref, sp, m, NULL, work) - policy_softmax_kl(log_ref, sm, m, NULL, work)) / (2 * h);
    assert_rel(dkl[y], fd, 1e-6);
  }
  /* tabular: one-hot phi, s = theta[item] */
  pref_features ft = {.n_items = 4, .d = 4, .phi = NULL, .n_contexts = 2, .log_ref = NULL};
  double th[4] = {0.5, -0.5, 2, 0};
  assert_int_equal(policy_loglinear_probs(&ft, th, 2, 2, p), PS_OK);
  assert_close(p[0], ps_sigmoid(2), 1e-15);
}

/* KL(pi_theta || pi_ref) is not convex in theta: two responses, uniform reference,
 * KL(t) = log 2 - H(sigma(t)), KL''(t) = sigma'(t)(1 + t(1 - 2 sigma(t))) < 0 at t = 3. */
static void test_kl_not_convex(void **state) {
  (void)state;
  double work[2], h = 1e-4;
  double s0[2] = {3, 0}, sp[2] = {3 + h, 0}, sm[2] = {3 - h, 0};
  double k0 = policy_softmax_kl(NULL, s0, 2, NULL, work);
  assert_close(k0, log(2) - ps_bern_entropy(ps_sigmoid(3)), 1e-14);
  double second = (policy_softmax_kl(NULL, sp, 2, NULL, work) - 2 * k0 + policy_softmax_kl(NULL, sm, 2, NULL, work)) / (h * h);
  double exact = ps_sigmoid_deriv(3) * (1 + 3 * (1 - 2 * ps_sigmoid(3)));
  assert_true(exact < 0);
  assert_close(second, exact, 1e-5);
}

/* MLP: backpropagation = central differences for tanh / relu and 1 / 2 layers. */
static void test_mlp_gradients(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 4711);
  const size_t d = 5, width = 7;
  double phi[5] = {0.31, -1.27, 0.55, 2.05, -0.42};
  for (int act = 0; act < 2; act++)
    for (int layers = 1; layers <= 2; layers++) {
      policy_mlp a;
      ps_msg m;
      assert_int_equal(policy_mlp_init(&a, d, width, layers, (policy_activation)act, &m), PS_OK);
      assert_int_equal(a.n_params, width * d + 2 * width + (layers == 2 ? width * width + width : 0));
      double *P = malloc(a.n_params * sizeof(double)), *g = calloc(a.n_params, sizeof(double));
      double *work = malloc(policy_mlp_work_len(&a) * sizeof(double));
      policy_mlp_glorot(&a, P, r);
      /* non-zero biases so that every parameter is exercised */
      for (size_t k = 0; k < a.n_params; k++)
        if (P[k] == 0) P[k] = 0.3 * (gsl_rng_uniform(r) - 0.5);
      double f0 = policy_mlp_score(&a, P, phi, work);
      assert_true(isfinite(f0));
      policy_mlp_backprop(&a, P, phi, 1.7, g, work);
      const double h = 1e-6;
      for (size_t k = 0; k < a.n_params; k++) {
        double save = P[k];
        P[k] = save + h;
        double fp = policy_mlp_score(&a, P, phi, work);
        P[k] = save - h;
        double fm = policy_mlp_score(&a, P, phi, work);
        P[k] = save;
        /* ReLU kinks: skip a parameter whose perturbation crosses one */
        if (act == POLICY_ACT_RELU) {
          double f2 = policy_mlp_score(&a, P, phi, work);
          if (fabs((fp - f2) - (f2 - fm)) > 1e-9 * fmax(1, fabs(fp - fm))) continue;
        }
        assert_rel(g[k], 1.7 * (fp - fm) / (2 * h), 1e-6);
      }
      free(P);
      free(g);
      free(work);
    }
  policy_mlp a;
  ps_msg m;
  assert_int_equal(policy_mlp_init(&a, 3, 4, 3, POLICY_ACT_TANH, &m), PS_EINVAL);
  assert_int_equal(policy_mlp_init(&a, 3, 0, 1, POLICY_ACT_TANH, &m), PS_EINVAL);
  gsl_rng_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_o10_j_identity),      cmocka_unit_test(test_o14_ranking),
      cmocka_unit_test(test_win_rate_greedy),     cmocka_unit_test(test_loglinear_gradients),
      cmocka_unit_test(test_kl_not_convex),       cmocka_unit_test(test_mlp_gradients),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
