/* test_nash.c — the regularised Nash equilibrium, Nash-MD and SLHF (estimators/nash.h)
 * against closed forms (docs/theory.md §3.13a), the fixed-point equation on random
 * games, the tau -> 0 limit, Nash-MD's last-iterate convergence against Hedge's
 * cycling, and every error path.  Random games come from gsl's mt19937 with a fixed
 * seed. */
#include <gsl/gsl_rng.h>
#include <math.h>

#include "fixtures.h"
#include "test_util.h"
#include "../estimators/minimax.h"
#include "../estimators/policy.h"
#include "../estimators/nash.h"

#define SEED 9071ul

/* Two items, P(a > b) = 0.8, mu = (0.3, 0.7), tau = 0.2.  (M pi)_a - (M pi)_b =
 * 0.3 (pi_b + pi_a) = 0.3, so pi_a / pi_b = (3/7) e^{0.3/0.2}: pi_a = 0.657619...
 * (RLHF at beta = tau on the BT reward logit 0.8 would give 0.997727: the regularised
 * game tilts by a margin, not a log-odds.)  1e-13: Newton converges quadratically to a
 * residual of 1e-14 in log space. */
static void test_two_items_closed_form(void **state) {
  (void)state;
  double M[4] = {0, 0.3, -0.3, 0}, mu[2] = {0.3, 0.7}, pi[2];
  double want = 1.0 / (1.0 + (7.0 / 3.0) * exp(-1.5));
  assert_close(want, 0.657619, 5e-7);
  int it = 0;
  assert_int_equal(nash_solve(M, 2, mu, 0.2, pi, &it, NULL), PS_OK);
  assert_close(pi[0], want, 1e-13);
  assert_close(pi[0] + pi[1], 1, 1e-15);
  assert_true(it >= 1 && it < 20);
  assert_true(nash_reg_exploitability(M, 2, mu, 0.2, pi) <= NASH_CERT_TOL);
  assert_true(nash_reg_exploitability(M, 2, mu, 0.2, mu) > 1e-3);
  /* Nash-MD with a small step ends near it; the averaged iterate lags behind */
  double last[2], avg[2];
  assert_int_equal(nash_md(M, 2, mu, 0.2, 0.05, 4000, last, avg, NULL, NULL, NULL), PS_OK);
  assert_close(last[0], want, 2e-3);
}

/* The fixed point pi = softmax(log mu + M pi / tau) on random 20-item games, for tau
 * from 10 (pi near mu) to 0.002 (near a minimax winner), with a random reference. */
static void test_fixed_point_random(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, SEED);
  enum { m = 20 };
  double M[m * m], mu[m], pi[m], g[m];
  const double taus[] = {10, 1, 0.1, 0.01, 0.002};
  for (int rep = 0; rep < 5; rep++) {
    fixtures_random_margins(r, M, m);
    double s = 0;
    for (int y = 0; y < m; y++) s += mu[y] = 0.2 + gsl_rng_uniform(r);
    for (int y = 0; y < m; y++) mu[y] /= s;
    for (size_t k = 0; k < sizeof taus / sizeof *taus; k++) {
      double tau = taus[k];
      assert_int_equal(nash_solve(M, m, mu, tau, pi, NULL, NULL), PS_OK);
      for (int y = 0; y < m; y++) {
        g[y] = 0;
        for (int j = 0; j < m; j++) g[y] += M[y * m + j] * pi[j];
      }
      /* log pi_y - log mu_y - g_y / tau is the same constant for every y */
      double c0 = log(pi[0]) - log(mu[0]) - g[0] / tau;
      for (int y = 1; y < m; y++)
        if (pi[y] > 1e-250) assert_close(log(pi[y]) - log(mu[y]) - g[y] / tau, c0, 1e-9 / tau);
      assert_true(nash_reg_exploitability(M, m, mu, tau, pi) <= NASH_CERT_TOL);
      /* and it is a strict improvement over the reference and over the minimax winner */
      assert_true(nash_reg_exploitability(M, m, mu, tau, mu) > 0);
    }
  }
  gsl_rng_free(r);
}

/* tau -> 0: the 3-cycle with margins (0.4, 0.3, 0.2) (a over b, b over c, c over a)
 * has the unique minimax winner (1/3, 2/9, 4/9).  At an interior winner p0 the
 * equilibrium moves by delta with M delta = tau (log p0 - log mu) + const + O(tau |delta|):
 * linear in tau.  So the l1 error must halve with tau (ratio in [1.8, 2.2]) and at
 * tau = 1e-3 lie below 1e-2 (|log(p0 / mu)| <= 0.3 over margins >= 0.2). */
static void test_tau_to_zero(void **state) {
  (void)state;
  double M[9], mu[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3}, pi[3];
  fixtures_cycle3(M, 0.4, 0.3, 0.2);
  const double want[3] = {1.0 / 3, 2.0 / 9, 4.0 / 9};
  double err[2];
  const double taus[2] = {2e-3, 1e-3};
  for (int k = 0; k < 2; k++) {
    assert_int_equal(nash_solve(M, 3, mu, taus[k], pi, NULL, NULL), PS_OK);
    err[k] = 0;
    for (int y = 0; y < 3; y++) err[k] += fabs(pi[y] - want[y]);
  }
  assert_true(err[1] < 1e-2);
  assert_true(err[0] / err[1] > 1.8 && err[0] / err[1] < 2.2);
  /* a Condorcet winner: the equilibrium concentrates on it as tau -> 0 */
  double C[9];
  fixtures_cycle3(C, 0.3, 0.2, -0.1); /* item 0 beats 1 and 2 */
  assert_int_equal(minimax_condorcet_winner(C, 3), 0);
  assert_int_equal(nash_solve(C, 3, mu, 1e-3, pi, NULL, NULL), PS_OK);
  assert_true(pi[0] > 1 - 1e-6);
}

/* Nash-MD's last iterate on the regularised 3-cycle converges to a floor that shrinks
 * with eta; Hedge's last iterate on the same game (unregularised) keeps cycling: its
 * exploitability after 4000 rounds stays above the bound its average meets. */
static void test_nash_md_last_iterate(void **state) {
  (void)state;
  double M[9], mu[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3}, star[3], last[3], avg[3];
  fixtures_cycle3(M, 0.4, 0.3, 0.2);
  const double tau = 0.05;
  assert_int_equal(nash_solve(M, 3, mu, tau, star, NULL, NULL), PS_OK);
  enum { T = 4000 };
  static double tr1[T], tr2[T];
  assert_int_equal(nash_md(M, 3, mu, tau, 2.0, T, last, avg, star, tr1, NULL), PS_OK);
  assert_int_equal(nash_md(M, 3, mu, tau, 1.0, T, NULL, NULL, star, tr2, NULL), PS_OK);
  /* Theorem 1 of Munos et al.: KL(pi* || pi_T) <= (1 - eta tau)^T KL(pi* || mu) + 2 eta / tau */
  assert_true(tr1[T - 1] <= pow(1 - 2.0 * tau, T) * policy_kl(star, mu, 3) + 2 * 2.0 / tau);
  assert_close(tr1[T - 1], policy_kl(star, last, 3), 1e-12);
  /* linear phase: the KL falls by at least (1 - eta tau / 2) per step early on */
  assert_true(tr1[49] < tr1[0] * pow(1 - 2.0 * tau / 2, 49));
  /* a floor set by eta: it falls when eta halves, and is small */
  assert_true(tr2[T - 1] < tr1[T - 1]);
  assert_true(tr1[T - 1] < 1e-3);
  /* Hedge's last iterate does not settle: exploitability of its final iterate stays
   * well above that of its average (<= sqrt(ln 3 / (2T)) = 0.0117) */
  double hl[3], ha[3];
  assert_int_equal(minimax_hedge(M, 3, T, 0, ha, hl, NULL), PS_OK);
  assert_true(minimax_exploitability(M, 3, ha) <= sqrt(log(3.0) / (2.0 * T)));
  assert_true(minimax_exploitability(M, 3, hl) > 2 * sqrt(log(3.0) / (2.0 * T)));
}

/* SLHF closed forms on two items (P(a > b) = 0.8, uniform references):
 * V(a) = -tf log(0.5 e^{-0.5/tf} + 0.5 e^{-0.8/tf}), V(b) = -tf log(0.5 e^{-0.2/tf} + 0.5 e^{-0.5/tf});
 * follower's answer to a: omega(a | a) / omega(b | a) = e^{(0.5 - 0.2)/tf}. */
static void test_slhf(void **state) {
  (void)state;
  double M[4] = {0, 0.3, -0.3, 0}, u[2] = {0.5, 0.5}, lead[2], V[2], F[4];
  const double tl = 0.3, tf = 0.2;
  assert_int_equal(nash_slhf(M, 2, u, u, tl, tf, lead, V, F, NULL), PS_OK);
  double va = -tf * log(0.5 * exp(-0.5 / tf) + 0.5 * exp(-0.8 / tf));
  double vb = -tf * log(0.5 * exp(-0.2 / tf) + 0.5 * exp(-0.5 / tf));
  assert_close(V[0], va, 1e-15);
  assert_close(V[1], vb, 1e-15);
  assert_close(lead[0], 1 / (1 + exp((vb - va) / tl)), 1e-15);
  assert_close(F[0] / F[1], exp(0.3 / tf), 1e-12);
  assert_close(F[0] + F[1], 1, 1e-15);
  assert_close(F[2] + F[3], 1, 1e-15);
  /* vanishing temperatures: the leader picks the best worst case.  On the 3-cycle
   * (0.4, 0.3, 0.2) the worst cases are 0.3 (a vs c), 0.1 (b vs a), 0.2 (c vs b),
   * so a — a pure item where the Nash equilibrium is a lottery. */
  double C[9], u3[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3}, l3[3];
  fixtures_cycle3(C, 0.4, 0.3, 0.2);
  assert_int_equal(nash_slhf(C, 3, u3, u3, 1e-3, 1e-3, l3, NULL, NULL, NULL), PS_OK);
  assert_true(l3[0] > 1 - 1e-6);
}

/* The leader's bound (docs/theory.md §3.13a): with uniform references, 0 <= max_y w(y) -
 * E_leader w(y) <= (tau_L + tau_F) log m, w(y) = min_y' P(y > y') over every y' (y included),
 * on random 20-item games over a grid of temperatures; and the bound is not slack by
 * orders of magnitude where the temperatures are large (the gap reaches a tenth of it). */
static void test_slhf_leader_bound(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, SEED + 7);
  enum { m = 20 };
  double M[m * m], u[m], lead[m], w[m];
  for (int y = 0; y < m; y++) u[y] = 1.0 / m;
  const double taus[] = {1, 0.3, 0.1, 0.01, 0.003};
  double worst_share = 0;
  for (int rep = 0; rep < 5; rep++) {
    fixtures_random_margins(r, M, m);
    double best = -1;
    for (int y = 0; y < m; y++) {
      w[y] = 0.5;
      for (int j = 0; j < m; j++) w[y] = fmin(w[y], 0.5 + M[y * m + j]);
      best = fmax(best, w[y]);
    }
    for (size_t a = 0; a < 5; a++)
      for (size_t b = 0; b < 5; b++) {
        assert_int_equal(nash_slhf(M, m, u, u, taus[a], taus[b], lead, NULL, NULL, NULL), PS_OK);
        double mean = 0;
        for (int y = 0; y < m; y++) mean += lead[y] * w[y];
        double gap = best - mean, bound = (taus[a] + taus[b]) * log((double)m);
        assert_true(gap >= -1e-15);
        assert_true(gap <= bound + 1e-15);
        worst_share = fmax(worst_share, gap / bound);
      }
  }
  assert_true(worst_share > 0.1);
  gsl_rng_free(r);
}

static void test_errors(void **state) {
  (void)state;
  double M[4] = {0, 0.3, -0.3, 0}, mu[2] = {0.3, 0.7}, pi[2] = {-1, -1};
  ps_msg msg = {{0}};
  assert_int_equal(nash_solve(M, 2, mu, 0, pi, NULL, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "tau"));
  assert_int_equal(nash_solve(M, 2, mu, NAN, pi, NULL, &msg), PS_EINVAL);
  assert_int_equal(nash_solve(M, 2, mu, INFINITY, pi, NULL, &msg), PS_EINVAL);
  double bad[2] = {0, 1};
  assert_int_equal(nash_solve(M, 2, bad, 0.2, pi, NULL, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "cover"));
  double nan_mu[2] = {NAN, 0.5};
  assert_int_equal(nash_solve(M, 2, nan_mu, 0.2, pi, NULL, &msg), PS_EDOM);
  double unnorm[2] = {0.3, 0.8};
  assert_int_equal(nash_solve(M, 2, unnorm, 0.2, pi, NULL, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "sum"));
  double asym[4] = {0, 0.3, 0.3, 0};
  assert_int_equal(nash_solve(asym, 2, mu, 0.2, pi, NULL, &msg), PS_EINVAL);
  assert_int_equal(nash_solve(M, 0, mu, 0.2, pi, NULL, &msg), PS_EINVAL);
  assert_true(pi[0] == -1 && pi[1] == -1); /* unchanged on failure */
  assert_int_equal(nash_md(M, 2, mu, 0.2, 6.0, 10, pi, NULL, NULL, NULL, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "eta"));
  assert_int_equal(nash_md(M, 2, mu, 0.2, 1.0, 0, pi, NULL, NULL, NULL, &msg), PS_EINVAL);
  assert_int_equal(nash_md(M, 2, mu, 0.2, -1.0, 10, pi, NULL, NULL, NULL, &msg), PS_EINVAL);
  assert_int_equal(nash_slhf(M, 2, mu, mu, 0, 0.1, pi, NULL, NULL, &msg), PS_EINVAL);
  assert_int_equal(nash_slhf(M, 2, mu, bad, 0.1, 0.1, pi, NULL, NULL, &msg), PS_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_items_closed_form), cmocka_unit_test(test_fixed_point_random),
      cmocka_unit_test(test_tau_to_zero),           cmocka_unit_test(test_nash_md_last_iterate),
      cmocka_unit_test(test_slhf), cmocka_unit_test(test_slhf_leader_bound),                  cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
