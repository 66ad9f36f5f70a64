/* test_maxmin.c — the MaxMin policy (docs/theory.md §3.5): oracle O13 to its printed
 * digits, the dual against an independent golden-section minimisation (U = 2),
 * optimality conditions and the max-min property on random multi-context problems,
 * the paper's iterative algorithm converging to the dual's policy, U = 1 = the KL
 * optimum, invariances, and every error path. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>

#include "test_util.h"
#include "../core/numerics.h"
#include "../estimators/maxmin.h"

static const double o13_r[9] = {2, 0, 0, 0, 1, 0.5, 1, 1, 1};

static maxmin_problem o13(void) {
  maxmin_problem p = {.U = 3, .n_contexts = 1, .m = 3, .reward = o13_r, .log_ref = NULL,
                      .context_weight = NULL, .beta = 1};
  return p;
}

/* O13: the printed values are rounded to 6 decimals, so 1e-6 is the tolerance. */
static void test_o13_dual(void **state) {
  (void)state;
  maxmin_problem p = o13();
  maxmin_result r;
  ps_msg m;
  assert_int_equal(maxmin_result_alloc(&r, 3, 3, &m), PS_OK);
  assert_int_equal(maxmin_dual(&p, &r, &m), PS_OK);
  assert_close(r.w[0], 0.198575, 1e-6);
  assert_close(r.w[1], 0.801425, 1e-6);
  assert_true(r.w[2] == 0);
  assert_close(r.D, 0.551810, 1e-6);
  assert_close(r.pi[0], 0.285569, 1e-6);
  assert_close(r.pi[1], 0.427843, 1e-6);
  assert_close(r.pi[2], 0.286588, 1e-6);
  assert_close(r.F[0], 0.551810, 1e-6);
  assert_close(r.F[1], 0.551810, 1e-6);
  assert_close(r.F[2], 0.980673, 1e-6);
  /* the optimality condition itself, to rounding */
  assert_true(r.kkt <= 1e-12);
  assert_close(r.F[0], r.F[1], 1e-12);
  assert_true(r.gap >= -1e-15 && r.gap <= 1e-12);
  maxmin_result_free(&r);
}

static void test_o13_per_sample_min(void **state) {
  (void)state;
  maxmin_problem p = o13();
  maxmin_result r;
  ps_msg m;
  assert_int_equal(maxmin_result_alloc(&r, 3, 3, &m), PS_OK);
  assert_int_equal(maxmin_per_sample_min(&p, &r, &m), PS_OK);
  for (int j = 0; j < 3; j++) assert_close(r.pi[j], 1.0 / 3, 1e-15);
  assert_close(r.F[0], 2.0 / 3, 1e-12);
  assert_close(r.F[1], 0.5, 1e-12);
  assert_close(r.F[2], 1.0, 1e-12);
  /* and it is not MaxMin: its worst group is 0.5 < 0.551810 */
  assert_true(fmin(r.F[0], fmin(r.F[1], r.F[2])) < 0.551810 - 0.05);
  maxmin_result_free(&r);
}

/* Iterative (Frank-Wolfe / fictitious play in w) vs the dual on O13.  The step
 * 1/(t+1) averages the vertices chosen, so w_T - w* (and the policy, smooth in w)
 * decays like 1/T while zig-zagging.  Observed over T = 1e2 .. 3e5: the envelope of
 * the policy L1 error is about 0.8/T and the duality gap 0.2/T; asserted: L1 <= 2/T
 * and gap <= 0.5/T at T = 1e2, 1e3, 1e4, so L1 < 2e-4 < 1e-3 at T = 1e4. */
static void test_iterative_matches_dual(void **state) {
  (void)state;
  maxmin_problem p = o13();
  maxmin_result d, it;
  ps_msg m;
  assert_int_equal(maxmin_result_alloc(&d, 3, 3, &m), PS_OK);
  assert_int_equal(maxmin_result_alloc(&it, 3, 3, &m), PS_OK);
  assert_int_equal(maxmin_dual(&p, &d, &m), PS_OK);
  size_t Ts[3] = {100, 1000, 10000};
  double l1 = 0;
  for (int k = 0; k < 3; k++) {
    assert_int_equal(maxmin_iterative(&p, Ts[k], &it, &m), PS_OK);
    l1 = 0;
    for (int j = 0; j < 3; j++) l1 += fabs(it.pi[j] - d.pi[j]);
    if (getenv("PS_VERBOSE")) fprintf(stderr, "T = %zu: L1 = %.3g, gap = %.3g\n", Ts[k], l1, it.gap);
    assert_true(l1 <= 2.0 / (double)Ts[k]);
    assert_true(it.gap >= 0 && it.gap <= 0.5 / (double)Ts[k]);
  }
  assert_true(l1 < 1e-3);
  assert_close(it.D, d.D, 1e-4);
  maxmin_result_free(&d);
  maxmin_result_free(&it);
}

/* U = 2: D(w, 1-w) is convex in w; golden-section search is an independent solver. */
static double d_of(const maxmin_problem *p, double a) {
  /* D via a single reward a r1 + (1-a) r2 and maxmin_kl_policy: D = F_u weighted */
  size_t N = p->n_contexts * p->m;
  double *r = malloc(N * sizeof(double)), *pi = malloc(N * sizeof(double)), F[2];
  for (size_t i = 0; i < N; i++) r[i] = a * p->reward[i] + (1 - a) * p->reward[N + i];
  assert_int_equal(maxmin_kl_policy(p, r, pi, NULL), PS_OK);
  assert_int_equal(maxmin_group_values(p, pi, F, NULL), PS_OK);
  free(r);
  free(pi);
  return a * F[0] + (1 - a) * F[1]; /* = D(w) by the identity of maxmin.c */
}

static void random_problem(gsl_rng *g, size_t U, size_t C, size_t M, double *R, double *lref, double *rho) {
  for (size_t i = 0; i < U * C * M; i++) R[i] = 1.7 * gsl_ran_gaussian(g, 1);
  for (size_t i = 0; i < C * M; i++) lref[i] = 0.8 * gsl_ran_gaussian(g, 1);
  for (size_t x = 0; x < C; x++) rho[x] = 0.2 + gsl_rng_uniform(g);
}

static void test_two_groups_golden(void **state) {
  (void)state;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 2385);
  enum { C = 4, M = 5 };
  double R[2 * C * M], lref[C * M], rho[C];
  for (int rep = 0; rep < 5; rep++) {
    random_problem(g, 2, C, M, R, lref, rho);
    maxmin_problem p = {.U = 2, .n_contexts = C, .m = M, .reward = R, .log_ref = lref,
                        .context_weight = rho, .beta = 0.37 + rep * 0.5};
    double lo = 0, hi = 1, phi = (sqrt(5) - 1) / 2;
    for (int i = 0; i < 200; i++) {
      double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo);
      if (d_of(&p, a) < d_of(&p, b)) hi = b; else lo = a;
    }
    double a = 0.5 * (lo + hi);
    maxmin_result r;
    assert_int_equal(maxmin_result_alloc(&r, 2, C * M, NULL), PS_OK);
    ps_msg m;
    assert_int_equal(maxmin_dual(&p, &r, &m), PS_OK);
    /* golden section locates the minimiser of a smooth convex function to about
     * sqrt(eps) relative in w; D itself agrees to rounding */
    assert_close(r.w[0], a, 1e-6);
    assert_close(r.D, d_of(&p, a), 1e-11);
    maxmin_result_free(&r);
  }
  gsl_rng_free(g);
}

/* Random U = 4, several contexts: KKT, D = sum_u w_u F_u, the duality gap 0, and the
 * max-min property against random policies and against each group's own KL optimum. */
static void test_random_optimality(void **state) {
  (void)state;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 7151);
  enum { U = 4, C = 5, M = 6, N = C * M };
  double R[U * N], lref[N], rho[C], pi2[N], F2[U];
  for (int rep = 0; rep < 6; rep++) {
    random_problem(g, U, C, M, R, lref, rho);
    if (rep == 5) /* a duplicated group: D is flat along w_0 - w_3 */
      memcpy(R + 3 * N, R, N * sizeof(double));
    maxmin_problem p = {.U = U, .n_contexts = C, .m = M, .reward = R, .log_ref = lref,
                        .context_weight = rho, .beta = 0.5 + 0.3 * rep};
    maxmin_result r, it;
    ps_msg m;
    assert_int_equal(maxmin_result_alloc(&r, U, N, NULL), PS_OK);
    assert_int_equal(maxmin_result_alloc(&it, U, N, NULL), PS_OK);
    int s = maxmin_dual(&p, &r, &m);
    if (s != PS_OK) print_error("rep %d: %s\n", rep, m.text);
    assert_int_equal(s, PS_OK);
    double ws = 0, wf = 0, worst = INFINITY;
    for (int u = 0; u < U; u++) {
      assert_true(r.w[u] >= 0);
      ws += r.w[u];
      wf += r.w[u] * r.F[u];
      worst = fmin(worst, r.F[u]);
    }
    assert_close(ws, 1, 1e-14);
    assert_close(wf, r.D, 1e-12);
    assert_close(worst, r.D, 1e-9);
    for (int trial = 0; trial < 50; trial++) {
      /* random perturbations of pi*: the worst group can only lose */
      for (size_t x = 0; x < C; x++) {
        double t = 0;
        for (size_t j = 0; j < M; j++) t += pi2[x * M + j] = r.pi[x * M + j] * exp(0.3 * gsl_ran_gaussian(g, 1));
        for (size_t j = 0; j < M; j++) pi2[x * M + j] /= t;
      }
      assert_int_equal(maxmin_group_values(&p, pi2, F2, &m), PS_OK);
      double w2 = INFINITY;
      for (int u = 0; u < U; u++) w2 = fmin(w2, F2[u]);
      assert_true(w2 <= worst + 1e-12);
    }
    /* the iterative algorithm converges to the same policy */
    assert_int_equal(maxmin_iterative(&p, 20000, &it, &m), PS_OK);
    double l1 = 0;
    for (size_t i = 0; i < N; i++) l1 += fabs(it.pi[i] - r.pi[i]);
    assert_true(l1 / C < 1e-3);
    assert_true(it.gap < 1e-3);
    maxmin_result_free(&r);
    maxmin_result_free(&it);
  }
  gsl_rng_free(g);
}

/* U = 1: the MaxMin policy is the KL optimum pi_ref e^{r/beta}/Z, with D = F = beta E log Z. */
static void test_one_group_is_kl_optimum(void **state) {
  (void)state;
  double r[6] = {0.3, -1.2, 2.5, 0.1, 0.7, -0.4}, lref[6] = {log(0.2), log(0.5), log(0.3), 0, 0, 0};
  maxmin_problem p = {.U = 1, .n_contexts = 2, .m = 3, .reward = r, .log_ref = lref, .beta = 0.6};
  maxmin_result res;
  assert_int_equal(maxmin_result_alloc(&res, 1, 6, NULL), PS_OK);
  assert_int_equal(maxmin_dual(&p, &res, NULL), PS_OK);
  assert_close(res.w[0], 1, 0);
  double D = 0;
  for (int x = 0; x < 2; x++) {
    double z = 0, ref[3];
    for (int j = 0; j < 3; j++) ref[j] = x == 0 ? exp(lref[j]) : 1.0 / 3;
    for (int j = 0; j < 3; j++) z += ref[j] * exp(r[3 * x + j] / 0.6);
    for (int j = 0; j < 3; j++) assert_close(res.pi[3 * x + j], ref[j] * exp(r[3 * x + j] / 0.6) / z, 1e-14);
    D += 0.5 * 0.6 * log(z);
  }
  assert_close(res.D, D, 1e-13);
  assert_close(res.F[0], D, 1e-13);
  maxmin_result_free(&res);
}

/* Invariances.  (a) A constant added to one reward within a context leaves its KL
 * policy unchanged.  (b) A constant added to EVERY group's reward in a context shifts
 * every F_u by rho_x c, so w* and pi* are unchanged.  (c) A constant added to ONE
 * group's reward shifts that F_u by rho_x c for every policy, which does change the
 * MaxMin problem: a large enough shift makes that group never the worst (w_u = 0). */
static void test_invariances(void **state) {
  (void)state;
  double R[9], pi0[3], pi1[3];
  memcpy(R, o13_r, sizeof R);
  maxmin_problem p = o13();
  p.reward = R;
  assert_int_equal(maxmin_kl_policy(&p, o13_r + 3, pi0, NULL), PS_OK);
  double r2[3] = {o13_r[3] + 4.25, o13_r[4] + 4.25, o13_r[5] + 4.25};
  assert_int_equal(maxmin_kl_policy(&p, r2, pi1, NULL), PS_OK);
  for (int j = 0; j < 3; j++) assert_close(pi0[j], pi1[j], 1e-15);

  maxmin_result a, b;
  assert_int_equal(maxmin_result_alloc(&a, 3, 3, NULL), PS_OK);
  assert_int_equal(maxmin_result_alloc(&b, 3, 3, NULL), PS_OK);
  assert_int_equal(maxmin_dual(&p, &a, NULL), PS_OK);
  for (int i = 0; i < 9; i++) R[i] += 2.5;
  assert_int_equal(maxmin_dual(&p, &b, NULL), PS_OK);
  for (int j = 0; j < 3; j++) {
    assert_close(a.pi[j], b.pi[j], 1e-12);
    assert_close(a.w[j], b.w[j], 1e-12);
    assert_close(b.F[j], a.F[j] + 2.5, 1e-12);
  }
  memcpy(R, o13_r, sizeof R);
  double F0[3], F1[3];
  assert_int_equal(maxmin_group_values(&p, a.pi, F0, NULL), PS_OK);
  for (int j = 0; j < 3; j++) R[j] += 1.5;
  assert_int_equal(maxmin_group_values(&p, a.pi, F1, NULL), PS_OK);
  assert_close(F1[0], F0[0] + 1.5, 1e-14);
  assert_close(F1[1], F0[1], 1e-15);
  assert_int_equal(maxmin_dual(&p, &b, NULL), PS_OK);
  assert_true(b.w[0] == 0); /* group 0 now never the worst off */
  maxmin_result_free(&a);
  maxmin_result_free(&b);
}

static void test_errors(void **state) {
  (void)state;
  maxmin_problem p = o13();
  maxmin_result r, small;
  ps_msg m;
  double pi[3], F[3];
  assert_int_equal(maxmin_result_alloc(&r, 3, 3, NULL), PS_OK);
  assert_int_equal(maxmin_result_alloc(&small, 2, 3, NULL), PS_OK);
  p.beta = 0;
  assert_int_equal(maxmin_dual(&p, &r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "beta"));
  p.beta = NAN;
  assert_int_equal(maxmin_iterative(&p, 10, &r, &m), PS_EINVAL);
  p = o13();
  p.U = 0;
  assert_int_equal(maxmin_per_sample_min(&p, &r, &m), PS_EINVAL);
  p = o13();
  double bad[9];
  memcpy(bad, o13_r, sizeof bad);
  bad[4] = NAN;
  p.reward = bad;
  assert_int_equal(maxmin_dual(&p, &r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "not finite"));
  p = o13();
  double rho0 = 0;
  p.context_weight = &rho0;
  assert_int_equal(maxmin_dual(&p, &r, &m), PS_EINVAL);
  double rhon = -1;
  p.context_weight = &rhon;
  assert_int_equal(maxmin_dual(&p, &r, &m), PS_EINVAL);
  p = o13();
  double lr[3] = {0, NAN, 0};
  p.log_ref = lr;
  assert_int_equal(maxmin_dual(&p, &r, &m), PS_EINVAL);
  double lrinf[3] = {-INFINITY, -INFINITY, -INFINITY};
  p.log_ref = lrinf;
  assert_int_equal(maxmin_dual(&p, &r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "positive probability"));
  p = o13();
  assert_int_equal(maxmin_dual(&p, &small, &m), PS_EINVAL);
  assert_int_equal(maxmin_iterative(&p, 0, &r, &m), PS_EINVAL);
  double pin[3] = {0.5, 0.5, 0.5};
  assert_int_equal(maxmin_group_values(&p, pin, F, &m), PS_EINVAL);
  double rn[3] = {0, INFINITY, 0};
  assert_int_equal(maxmin_kl_policy(&p, rn, pi, &m), PS_EINVAL);
  /* an excluded item (pi_ref = 0) gets no mass and a policy on it has F = -inf */
  double lr1[3] = {-INFINITY, 0, 0};
  p.log_ref = lr1;
  assert_int_equal(maxmin_dual(&p, &r, &m), PS_OK);
  assert_true(r.pi[0] == 0);
  double pu[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
  assert_int_equal(maxmin_group_values(&p, pu, F, &m), PS_OK);
  assert_true(F[0] == -INFINITY);
  maxmin_result_free(&r);
  maxmin_result_free(&small);
  maxmin_result_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_o13_dual),
      cmocka_unit_test(test_o13_per_sample_min),
      cmocka_unit_test(test_iterative_matches_dual),
      cmocka_unit_test(test_two_groups_golden),
      cmocka_unit_test(test_random_optimality),
      cmocka_unit_test(test_one_group_is_kl_optimum),
      cmocka_unit_test(test_invariances),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
