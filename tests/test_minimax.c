/* test_minimax.c — minimax winner (LP), Hedge self-play, exploitability and the
 * Condorcet winner against docs/theory.md §3.13, O7 and O12; the empirical margin matrix;
 * error paths.  Random matrices come from gsl's mt19937 with a fixed seed, printed on
 * failure. */
#include <gsl/gsl_rng.h>
#include <math.h>

#include "fixtures.h"
#include "test_util.h"
#include "../core/numerics.h"
#include "../estimators/minimax.h"
#include "../estimators/policy.h"

#define SEED 2385ul

/* 1e-12: the LP solution is a ratio of 2x2 minors of margins <= 1/2, so its rounding
 * error is a few ulps. */
#define LP_TOL 1e-12

/* O12: M01 = 0.3, M12 = 0.4, M20 = 0.2 give p = (4/9, 2/9, 1/3) with M^T p = 0. */
static void test_o12_lp(void **state) {
  (void)state;
  double M[9], p[3], v;
  fixtures_cycle3(M, 0.3, 0.4, 0.2);
  const double want[3] = {4.0 / 9, 2.0 / 9, 1.0 / 3};
  assert_int_equal(minimax_lp(M, 3, p, &v, NULL), PS_OK);
  for (int i = 0; i < 3; i++) assert_close(p[i], want[i], LP_TOL);
  assert_close(v, 0, LP_TOL);
  for (int j = 0; j < 3; j++) assert_close(M[0 * 3 + j] * p[0] + M[1 * 3 + j] * p[1] + M[2 * 3 + j] * p[2], 0, LP_TOL);
  assert_close(minimax_exploitability(M, 3, p), 0, LP_TOL);
  assert_int_equal(minimax_condorcet_winner(M, 3), -1);
}

/* O12: expl(p-bar_T) <= sqrt(ln 3 / (2T)) = 0.0234 (T = 1000), 0.00586 (T = 16000). */
static void test_o12_hedge(void **state) {
  (void)state;
  double M[9], avg[3], last[3];
  fixtures_cycle3(M, 0.3, 0.4, 0.2);
  struct {
    long T;
    double bound;
  } rows[] = {{1000, 0.0234}, {16000, 0.00586}};
  for (size_t k = 0; k < 2; k++) {
    double b = sqrt(log(3.0) / (2.0 * (double)rows[k].T));
    assert_close(b, rows[k].bound, 5e-5); /* the table's rounding */
    assert_int_equal(minimax_hedge(M, 3, rows[k].T, 0, avg, last, NULL), PS_OK);
    double e = minimax_exploitability(M, 3, avg);
    assert_true(e >= 0);
    if (!(e <= b)) print_error("T = %ld: expl(p-bar) = %g > bound %g\n", rows[k].T, e, b);
    assert_true(e <= b);
    assert_close(avg[0] + avg[1] + avg[2], 1, 1e-12);
  }
}

/* The last iterate cycles: KL(p* || p_t) never decreases under Hedge in a zero-sum game
 * with interior equilibrium (log E_{p_t} e^{eta (M p_t)_y} >= eta p_t^T M p_t = 0 by
 * Jensen), so p_T stays at least KL(p* || uniform) from p*, and its exploitability
 * stays above the averaged iterate's bound, which shrinks as 1/sqrt(T). */
static void test_last_iterate_cycles(void **state) {
  (void)state;
  double M[9], avg[3], last[3];
  fixtures_cycle3(M, 0.3, 0.4, 0.2);
  const double star[3] = {4.0 / 9, 2.0 / 9, 1.0 / 3}, unif[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
  double kl0 = policy_kl(star, unif, 3);
  const long Ts[] = {1000, 4000, 16000, 64000};
  double worst_last = INFINITY;
  for (size_t k = 0; k < 4; k++) {
    assert_int_equal(minimax_hedge(M, 3, Ts[k], 0, avg, last, NULL), PS_OK);
    double b = sqrt(log(3.0) / (2.0 * (double)Ts[k]));
    assert_true(policy_kl(star, last, 3) >= kl0 - 1e-12);
    double el = minimax_exploitability(M, 3, last), ea = minimax_exploitability(M, 3, avg);
    assert_true(ea <= b);
    worst_last = fmin(worst_last, el);
    if (Ts[k] >= 16000 && !(el > 3 * b)) {
      print_error("T = %ld: expl(last) = %g, expl(avg) = %g, bound %g\n", Ts[k], el, ea, b);
      fail();
    }
  }
  /* and it does not shrink with T: the smallest value over T is within a factor 2 of
   * the exploitability of the starting point, uniform (0.1/3 here) */
  assert_true(worst_last >= 0.5 * minimax_exploitability(M, 3, unif));
}

/* 3-cycle 0 -> 1 -> 2 -> 0 with positive margins: p proportional to (M12, M20, M01). */
static void test_three_cycle_closed_form(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, SEED);
  for (int trial = 0; trial < 500; trial++) {
    double a = 0.5 * gsl_rng_uniform_pos(r), b = 0.5 * gsl_rng_uniform_pos(r), c = 0.5 * gsl_rng_uniform_pos(r);
    double M[9], p[3];
    fixtures_cycle3(M, a, b, c);
    assert_int_equal(minimax_lp(M, 3, p, NULL, NULL), PS_OK);
    double z = a + b + c;
    /* the ratio's condition: margins near 0 make p sensitive in proportion 1/z */
    double tol = LP_TOL / z;
    if (fabs(p[0] - b / z) > tol || fabs(p[1] - c / z) > tol || fabs(p[2] - a / z) > tol) {
      print_error("seed %lu trial %d: margins (%g, %g, %g)\n", SEED, trial, a, b, c);
      assert_close(p[0], b / z, tol);
      assert_close(p[1], c / z, tol);
      assert_close(p[2], a / z, tol);
    }
  }
  gsl_rng_free(r);
}

/* A planted Condorcet winner c is detected and delta_c is the minimax winner. */
static void test_condorcet_winner(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, SEED + 1);
  double M[144], p[12];
  for (int trial = 0; trial < 200; trial++) {
    size_t m = 2 + gsl_rng_uniform_int(r, 11);
    size_t c = gsl_rng_uniform_int(r, m);
    fixtures_random_margins(r, M, m);
    for (size_t j = 0; j < m; j++)
      if (j != c) {
        M[c * m + j] = 0.5 * gsl_rng_uniform_pos(r);
        M[j * m + c] = -M[c * m + j];
      }
    if (minimax_condorcet_winner(M, m) != (long)c) {
      print_error("seed %lu trial %d: m = %zu, c = %zu\n", SEED + 1, trial, m, c);
      fail();
    }
    assert_int_equal(minimax_lp(M, m, p, NULL, NULL), PS_OK);
    for (size_t i = 0; i < m; i++) assert_close(p[i], i == c, LP_TOL);
    assert_close(minimax_exploitability(M, m, p), 0, LP_TOL);
  }
  /* a tie with the would-be winner blocks it */
  double T[9];
  fixtures_cycle3(T, 0.2, 0.1, -0.3); /* 0 beats 1 and 2 */
  assert_int_equal(minimax_condorcet_winner(T, 3), 0);
  fixtures_cycle3(T, 0.2, 0.1, 0);
  assert_int_equal(minimax_condorcet_winner(T, 3), -1);
  double one = 0;
  assert_int_equal(minimax_condorcet_winner(&one, 1), 0);
  assert_int_equal(minimax_lp(&one, 1, p, NULL, NULL), PS_OK);
  assert_close(p[0], 1, 0);
  gsl_rng_free(r);
}

/* BT: P_ij = sigma(r_i - r_j) has the Condorcet winner argmax r, hence the minimax
 * winner delta_argmax. */
static void test_bt_gives_argmax(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, SEED + 2);
  double M[400], p[20], rew[20];
  for (int trial = 0; trial < 100; trial++) {
    size_t m = 2 + gsl_rng_uniform_int(r, 19), best = 0;
    for (size_t i = 0; i < m; i++) {
      rew[i] = 2.385 * (gsl_rng_uniform(r) - 0.5);
      if (rew[i] > rew[best]) best = i;
    }
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < m; j++) M[i * m + j] = i == j ? 0 : ps_sigmoid(rew[i] - rew[j]) - 0.5;
    /* sigma(x) - 1/2 and sigma(-x) - 1/2 round to opposites up to an ulp */
    assert_int_equal(minimax_condorcet_winner(M, m), (long)best);
    assert_int_equal(minimax_lp(M, m, p, NULL, NULL), PS_OK);
    for (size_t i = 0; i < m; i++) assert_close(p[i], i == best, LP_TOL);
  }
  gsl_rng_free(r);
}

/* O7: three equal-weight BT components with rewards (2D, D, 0), (0, 2D, D), (D, 0, 2D)
 * give P(a>b) = P(b>c) = P(c>a) = p(D) = [2 sigma(D) + sigma(-2D)] / 3; the minimax winner
 * is uniform and a deterministic policy is exploited by p(D) - 1/2. */
static void test_o7_condorcet_mixture(void **state) {
  (void)state;
  struct {
    double delta, p, expl;
  } rows[] = {{1, 0.527107, 0.027107}, {2, 0.593193, 0.093193}, {5, 0.662220, 0.162220}, {INFINITY, 2.0 / 3, 1.0 / 6}};
  for (size_t k = 0; k < 4; k++) {
    double D = rows[k].delta, P[9];
    /* rewards in units of D; D = infinity makes every component deterministic */
    const double rw[3][3] = {{2, 1, 0}, {0, 2, 1}, {1, 0, 2}};
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) {
        double s = 0;
        for (int c = 0; c < 3; c++) {
          double gap = rw[c][i] - rw[c][j];
          s += i == j ? 0.5 : ps_sigmoid(isinf(D) ? copysign(INFINITY, gap) : D * gap);
        }
        P[i * 3 + j] = s / 3;
      }
    double pd = isinf(D) ? 2.0 / 3 : (2 * ps_sigmoid(D) + ps_sigmoid(-2 * D)) / 3;
    assert_close(P[0 * 3 + 1], pd, 1e-15);
    assert_close(P[1 * 3 + 2], pd, 1e-15);
    assert_close(P[2 * 3 + 0], pd, 1e-15);
    assert_close(pd, rows[k].p, 1e-6);
    double M[9], p[3], v;
    for (int i = 0; i < 9; i++) M[i] = P[i] - 0.5;
    assert_int_equal(minimax_lp(M, 3, p, &v, NULL), PS_OK);
    for (int i = 0; i < 3; i++) assert_close(p[i], 1.0 / 3, LP_TOL);
    assert_close(v, 0, LP_TOL);
    assert_int_equal(minimax_condorcet_winner(M, 3), -1);
    for (int y = 0; y < 3; y++) {
      double delta[3] = {0, 0, 0};
      delta[y] = 1;
      assert_close(minimax_exploitability(M, 3, delta), rows[k].expl, 1e-6);
      assert_close(minimax_exploitability(M, 3, delta), pd - 0.5, 1e-15);
    }
  }
}

/* Random games of several sizes: the LP winner has exploitability 0 and Hedge's
 * average meets its regret bound. */
static void test_random_games(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, SEED + 3);
  const size_t sizes[] = {2, 3, 5, 8, 17, 30};
  double *M = malloc(30 * 30 * sizeof *M), p[30], avg[30];
  for (size_t k = 0; k < 6; k++) {
    size_t m = sizes[k];
    fixtures_random_margins(r, M, m);
    double v;
    assert_int_equal(minimax_lp(M, m, p, &v, NULL), PS_OK);
    assert_close(v, 0, 1e-12);
    assert_true(minimax_exploitability(M, m, p) <= 1e-12);
    long T = 4000;
    assert_int_equal(minimax_hedge(M, m, T, 0, avg, NULL, NULL), PS_OK);
    double e = minimax_exploitability(M, m, avg), b = sqrt(log((double)m) / (2.0 * (double)T));
    if (!(e >= 0 && e <= b)) {
      print_error("seed %lu, m = %zu: expl(p-bar) = %g, bound %g\n", SEED + 3, m, e, b);
      fail();
    }
  }
  free(M);
  gsl_rng_free(r);
}

/* Counts from data: P_ij = n_ij / N_ij, 1/2 for pairs never compared (reported). */
static void test_empirical(void **state) {
  (void)state;
  pref_data d;
  /* 4 items: 0 beats 1 three times (weights 2 + 1), 1 beats 0 once; 1 beats 2 twice;
   * 2 beats 0 once; item 3 beats 2 once; pairs (0,3) and (1,3) never compared */
  int32_t w[6] = {0, 0, 1, 1, 2, 3}, l[6] = {1, 1, 0, 2, 0, 2};
  double c[6] = {2, 1, 1, 2, 1, 1};
  assert_int_equal(pref_data_alloc(&d, 6, 4, 0, 0, 1), PS_OK);
  memcpy(d.winner, w, sizeof w);
  memcpy(d.loser, l, sizeof l);
  memcpy(d.count, c, sizeof c);
  double M[16];
  unsigned char seen[16];
  size_t missing = 99;
  assert_int_equal(minimax_empirical(&d, M, seen, &missing, NULL), PS_OK);
  assert_int_equal(missing, 2);
  assert_close(M[0 * 4 + 1], 0.75 - 0.5, 0);
  assert_close(M[1 * 4 + 0], -0.25, 0);
  assert_close(M[1 * 4 + 2], 0.5, 0);
  assert_close(M[2 * 4 + 0], 0.5, 0);
  assert_close(M[3 * 4 + 2], 0.5, 0);
  assert_close(M[0 * 4 + 3], 0, 0);
  assert_int_equal(seen[0 * 4 + 3], 0);
  assert_int_equal(seen[3 * 4 + 1], 0);
  assert_int_equal(seen[3 * 4 + 2], 1);
  assert_int_equal(seen[2 * 4 + 2], 0);
  assert_int_equal(minimax_check(M, 4, NULL), PS_OK);
  pref_data_free(&d);

  /* a balanced rock-paper-scissors tournament: uniform winner, no Condorcet winner */
  int32_t rw[3] = {0, 1, 2}, rl[3] = {1, 2, 0};
  assert_int_equal(pref_data_alloc(&d, 3, 3, 0, 0, 0), PS_OK);
  memcpy(d.winner, rw, sizeof rw);
  memcpy(d.loser, rl, sizeof rl);
  double p[3];
  assert_int_equal(minimax_empirical(&d, M, NULL, NULL, NULL), PS_OK);
  assert_int_equal(minimax_lp(M, 3, p, NULL, NULL), PS_OK);
  for (int i = 0; i < 3; i++) assert_close(p[i], 1.0 / 3, LP_TOL);
  assert_int_equal(minimax_condorcet_winner(M, 3), -1);
  /* bad data: winner == loser */
  d.loser[1] = 1;
  ps_msg msg = {{0}};
  assert_int_equal(minimax_empirical(&d, M, NULL, NULL, &msg), PS_EINVAL);
  assert_true(strlen(msg.text) > 0);
  pref_data_free(&d);
}

static void test_errors(void **state) {
  (void)state;
  double M[9], p[3] = {-1, -1, -1};
  ps_msg msg = {{0}};
  fixtures_cycle3(M, 0.3, 0.4, 0.2);
  M[1] = 0.31; /* M01 + M10 = 0.01 */
  assert_int_equal(minimax_lp(M, 3, p, NULL, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "skew-symmetric"));
  assert_close(p[0], -1, 0); /* unchanged on failure */
  fixtures_cycle3(M, 0.3, 0.4, 0.2);
  M[5] = NAN;
  assert_int_equal(minimax_lp(M, 3, p, NULL, &msg), PS_EDOM);
  assert_int_equal(minimax_hedge(M, 3, 10, 0, p, NULL, &msg), PS_EDOM);
  fixtures_cycle3(M, 0.7, 0.4, 0.2); /* P = 1.2 */
  assert_int_equal(minimax_check(M, 3, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "outside"));
  fixtures_cycle3(M, 0.3, 0.4, 0.2);
  assert_int_equal(minimax_hedge(M, 3, 0, 0, p, NULL, &msg), PS_EINVAL);
  assert_int_equal(minimax_lp(M, 0, p, NULL, &msg), PS_EINVAL);
  assert_int_equal(minimax_check(M, 3, NULL), PS_OK);
  /* one item: Hedge's rate is 0 and p = (1) */
  double one = 0;
  assert_int_equal(minimax_hedge(&one, 1, 5, 0, p, p + 1, NULL), PS_OK);
  assert_close(p[0], 1, 0);
  assert_close(p[1], 1, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_o12_lp),
      cmocka_unit_test(test_o12_hedge),
      cmocka_unit_test(test_last_iterate_cycles),
      cmocka_unit_test(test_three_cycle_closed_form),
      cmocka_unit_test(test_condorcet_winner),
      cmocka_unit_test(test_bt_gives_argmax),
      cmocka_unit_test(test_o7_condorcet_mixture),
      cmocka_unit_test(test_random_games),
      cmocka_unit_test(test_empirical),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests_name("minimax", tests, NULL, NULL);
}
