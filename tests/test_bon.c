/* test_bon.c — best-of-n and tilted policies against their closed forms
 * (docs/theory.md §3.13b): the discrete law (i/K)^n - ((i-1)/K)^n, ties, the
 * continuous-reward KL log n - (n-1)/n, the Gaussian expected maxima and the tilted
 * frontier sigma sqrt(2 KL), and the KL-optimality of tilting against best-of-n. */
#include <float.h>
#include <gsl/gsl_cdf.h>
#include <math.h>

#include "test_util.h"
#include "../estimators/policy.h"

/* K equiprobable distinct rewards given in a shuffled order: the i-th smallest gets
 * (i/K)^n - ((i-1)/K)^n, to rounding: exp(n log F) carries the relative error of log F
 * times n, so the tolerance is (n + 4) ulps of 1. */
static void test_discrete_law(void **state) {
  (void)state;
  enum { K = 7 };
  const double score[K] = {0.3, -1.0, 2.5, 0.0, 1.1, -0.2, 0.7}; /* ranks 3 0 6 2 5 1 4 (0-based) */
  const int rank[K] = {3, 0, 6, 2, 5, 1, 4};
  double ref[K], p[K];
  for (int y = 0; y < K; y++) ref[y] = 1.0 / K;
  const double ns[] = {1, 2, 3.5, 16, 1000};
  for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
    double n = ns[k];
    assert_int_equal(policy_best_of_n(ref, score, K, n, p), PS_OK);
    double s = 0;
    for (int y = 0; y < K; y++) {
      double i = rank[y] + 1;
      assert_close(p[y], pow(i / K, n) - pow((i - 1) / K, n), (n + 4) * DBL_EPSILON);
      s += p[y];
    }
    assert_close(s, 1, K * (n + 4) * DBL_EPSILON);
  }
  /* n = 1 is the reference itself, for a non-uniform reference too */
  double r2[3] = {0.2, 0.5, 0.3}, sc2[3] = {1, 3, 2}, p2[3];
  assert_int_equal(policy_best_of_n(r2, sc2, 3, 1, p2), PS_OK);
  for (int y = 0; y < 3; y++) assert_close(p2[y], r2[y], 1e-15);
}

/* Ties form one level, split in proportion to the reference: scores (1, 2, 2) with
 * reference (0.5, 0.2, 0.3): the level {1, 2} has mass 1 - 0.5^n, shared 2:3. */
static void test_ties(void **state) {
  (void)state;
  double ref[3] = {0.5, 0.2, 0.3}, sc[3] = {1, 2, 2}, p[3];
  assert_int_equal(policy_best_of_n(ref, sc, 3, 3, p), PS_OK);
  assert_close(p[0], 0.125, 1e-15);
  assert_close(p[1], 0.875 * 0.4, 1e-15);
  assert_close(p[2], 0.875 * 0.6, 1e-15);
  /* large n: all the mass on the top level, no NaN from 0^n or 1 - tiny */
  assert_int_equal(policy_best_of_n(ref, sc, 3, 1e9, p), PS_OK);
  assert_close(p[0], 0, 1e-300);
  assert_close(p[1] + p[2], 1, 1e-15);
}

/* Continuous rewards: with K equiprobable distinct rewards the law is the discretised
 * density n u^(n-1) on quantiles u, whose KL from uniform tends to
 * int n u^(n-1) log(n u^(n-1)) du = log n - (n-1)/n.  The discretisation error is
 * O(n log K / K) (the lowest cells, where u^(n-1) varies fastest); at K = 10^5 it is
 * below 1e-3 for n <= 16, and it falls with K. */
static void test_kl_continuous(void **state) {
  (void)state;
  enum { K = 100000 };
  double *ref = malloc(K * sizeof *ref), *sc = malloc(K * sizeof *sc), *p = malloc(K * sizeof *p);
  for (int y = 0; y < K; y++) {
    ref[y] = 1.0 / K;
    sc[y] = gsl_cdf_ugaussian_Pinv((y + 0.5) / K);
  }
  /* Gaussian rewards: E max of n standard normals = 0.5642, 1.0294, 1.7660 (n = 2, 4, 16).
   * The quantile grid truncates the tails at |z| <= 4.4, which removes ~n * 1e-5 of the
   * mean: tolerance 1e-3. */
  const double ns[] = {2, 4, 16}, emax[] = {0.5641895835, 1.0293753730, 1.7659913931};
  for (int k = 0; k < 3; k++) {
    double n = ns[k];
    assert_int_equal(policy_best_of_n(ref, sc, K, n, p), PS_OK);
    double kl = policy_kl(p, ref, K), gain = policy_value(p, sc, K);
    assert_close(kl, log(n) - (n - 1) / n, 1e-3);
    assert_close(gain, emax[k], 1e-3);
    /* the tilted policy pi_ref e^{r/beta} at the same KL gains more: it maximises
     * E r - beta KL.  For Gaussian r its gain is sqrt(2 KL) (beta = 1/gain). */
    double lo = 0.05, hi = 20;
    double *tilt = malloc(K * sizeof *tilt);
    for (int it = 0; it < 200; it++) { /* bisection on beta for KL(tilted) = kl */
      double beta = sqrt(lo * hi);
      policy_kl_optimal(ref, sc, beta, K, tilt);
      if (policy_kl(tilt, ref, K) > kl) lo = beta;
      else hi = beta;
    }
    policy_kl_optimal(ref, sc, hi, K, tilt);
    double tg = policy_value(tilt, sc, K), tkl = policy_kl(tilt, ref, K);
    assert_close(tg, sqrt(2 * tkl), 2e-3);
    assert_true(tg > gain);
    free(tilt);
  }
  free(ref);
  free(sc);
  free(p);
}

/* The exact discrete KL of best-of-n over m = 2000 equiprobable responses, against
 * its value summed in 50-digit decimal arithmetic (Python's decimal module):
 * 1.83508604367167949 (n = 16) and 7.15972827680129965 (n = 4096).  F^n carries n times
 * the relative error of F, so F must be summed with compensation: plain summation was
 * 1.8e-9 off at n = 4096.  Tolerance 1e-12: n eps (9e-13) times a KL of order 1. */
static void test_kl_exact_large_n(void **state) {
  (void)state;
  enum { M = 2000 };
  static double ref[M], sc[M], p[M];
  for (int y = 0; y < M; y++) {
    ref[y] = exp(-log((double)M)); /* as design_log_ref makes it */
    sc[y] = (double)((y * 7919) % M); /* distinct scores, shuffled */
  }
  assert_int_equal(policy_best_of_n(ref, sc, M, 16, p), PS_OK);
  assert_close(policy_kl(p, ref, M), 1.83508604367167949, 1e-12);
  assert_int_equal(policy_best_of_n(ref, sc, M, 4096, p), PS_OK);
  assert_close(policy_kl(p, ref, M), 7.15972827680129965, 1e-12);
}

static void test_errors(void **state) {
  (void)state;
  double ref[2] = {0.5, 0.5}, sc[2] = {0, 1}, p[2];
  assert_int_equal(policy_best_of_n(ref, sc, 2, 0.5, p), PS_EINVAL);
  assert_int_equal(policy_best_of_n(ref, sc, 2, NAN, p), PS_EINVAL);
  assert_int_equal(policy_best_of_n(ref, sc, 2, INFINITY, p), PS_EINVAL);
  double bad[2] = {0, NAN};
  assert_int_equal(policy_best_of_n(ref, bad, 2, 2, p), PS_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_discrete_law),
      cmocka_unit_test(test_ties),
      cmocka_unit_test(test_kl_continuous),
      cmocka_unit_test(test_kl_exact_large_n),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
