/* test_adam.c — core/adam: each bias-correction form against the loop it replaced,
 * bit for bit (the fits that moved onto adam.c must not change by one ulp); the forms
 * against each other; decay, reset and minibatch draws. */
#include <gsl/gsl_rng.h>
#include <math.h>

#include "../core/adam.h"
#include "test_util.h"

#define N 7
#define STEPS 400

/* deterministic, sign-changing, badly scaled gradients */
static double grad_at(int t, int k) { return (1 + k * k) * 0.37 * sin(0.731 * t + 1.19 * k) + 0.01 * (k - 3); }

/* The reference loops, as the fits wrote them before adam.c served them.  form 0: the
 * old adam.c (expm1, decoupled decay); 1: dpo.c (1 - pow(b, t)); 2: gpm.c (running
 * products of b). */
static void reference(int form, double lr, double wd, double *x) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  double m[N] = {0}, v[N] = {0}, g[N], b1t = 1, b2t = 1;
  for (int t = 1; t <= STEPS; t++) {
    for (int k = 0; k < N; k++) g[k] = grad_at(t, k);
    double c1, c2;
    if (form == 0) {
      c1 = -expm1((double)t * log(b1));
      c2 = -expm1((double)t * log(b2));
    } else if (form == 1) {
      c1 = 1 - pow(b1, (double)t);
      c2 = 1 - pow(b2, (double)t);
    } else {
      b1t *= b1;
      b2t *= b2;
      c1 = 1 - b1t;
      c2 = 1 - b2t;
    }
    for (int k = 0; k < N; k++) {
      m[k] = b1 * m[k] + (1 - b1) * g[k];
      v[k] = b2 * v[k] + (1 - b2) * g[k] * g[k];
      if (form == 0)
        x[k] -= lr * (m[k] / c1) / (sqrt(v[k] / c2) + eps) + lr * wd * x[k];
      else
        x[k] -= lr * (m[k] / c1) / (sqrt(v[k] / c2) + eps);
    }
  }
}

static void run(adam *a, double lr, double wd, double *x) {
  double g[N];
  for (int t = 1; t <= STEPS; t++) {
    for (int k = 0; k < N; k++) g[k] = grad_at(t, k);
    adam_tick(a);
    /* two blocks, as idealpoint.c updates its parameter groups */
    adam_update(a, x, g, 0, 3, lr, wd);
    adam_update(a, x, g, 3, N - 3, lr, wd);
  }
}

static void test_bit_identical(void **state) {
  (void)state;
  const adam_bias forms[3] = {ADAM_BIAS_EXPM1, ADAM_BIAS_POW, ADAM_BIAS_PRODUCT};
  for (int f = 0; f < 3; f++)
    for (int decay = 0; decay < (f == 0 ? 2 : 1); decay++) {
      double wd = decay ? 0.0135 : 0, x[N], xr[N];
      for (int k = 0; k < N; k++) x[k] = xr[k] = 2.385 - 0.9 * k;
      adam *a = adam_alloc_bias(N, forms[f]);
      assert_non_null(a);
      run(a, 0.0213, wd, x);
      reference(f, 0.0213, wd, xr);
      if (memcmp(x, xr, sizeof x) != 0) print_error("form %d, wd %g: adam.c differs from its reference loop\n", f, wd);
      assert_memory_equal(x, xr, sizeof x);
      /* reset: the same run again from the same start gives the same bits */
      double y[N];
      for (int k = 0; k < N; k++) y[k] = 2.385 - 0.9 * k;
      adam_reset(a);
      run(a, 0.0213, wd, y);
      assert_memory_equal(x, y, sizeof x);
      adam_free(a);
    }
}

/* The forms compute the same 1 - b^t to a few ulp: 400 steps stay within 1e-12. */
static void test_forms_agree(void **state) {
  (void)state;
  double x[3][N];
  const adam_bias forms[3] = {ADAM_BIAS_EXPM1, ADAM_BIAS_POW, ADAM_BIAS_PRODUCT};
  for (int f = 0; f < 3; f++) {
    for (int k = 0; k < N; k++) x[f][k] = 2.385 - 0.9 * k;
    adam *a = adam_alloc_bias(N, forms[f]);
    run(a, 0.0213, 0, x[f]);
    adam_free(a);
  }
  for (int f = 1; f < 3; f++)
    for (int k = 0; k < N; k++) assert_close(x[f][k], x[0][k], 1e-12 * (1 + fabs(x[0][k])));
}

/* First step: m / c1 = g and v / c2 = g^2, so x moves by lr g / (|g| + eps), plus lr wd x. */
static void test_first_step(void **state) {
  (void)state;
  const adam_bias forms[3] = {ADAM_BIAS_EXPM1, ADAM_BIAS_POW, ADAM_BIAS_PRODUCT};
  for (int f = 0; f < 3; f++) {
    adam *a = adam_alloc_bias(2, forms[f]);
    double x[2] = {1.5, -2.25}, g[2] = {0.3, -4.0};
    adam_tick(a);
    adam_update(a, x, g, 0, 2, 0.1, 0.2);
    assert_close(x[0], 1.5 - 0.1 * 0.3 / (0.3 + 1e-8) - 0.1 * 0.2 * 1.5, 1e-15);
    assert_close(x[1], -2.25 + 0.1 * 4.0 / (4.0 + 1e-8) + 0.1 * 0.2 * 2.25, 1e-15);
    adam_free(a);
  }
  assert_null(adam_alloc(0));
  adam_free(NULL);
}

/* adam_minibatch: the full batch is 0..n-1 and draws nothing; a proper batch is an
 * increasing sample without repeats. */
static void test_minibatch(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937), *r2 = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 2385);
  gsl_rng_set(r2, 2385);
  size_t idx[40];
  adam_minibatch(r, 40, 40, idx);
  for (size_t i = 0; i < 40; i++) assert_int_equal(idx[i], i);
  assert_int_equal(gsl_rng_get(r), gsl_rng_get(r2)); /* nothing was drawn */
  adam_minibatch(r, 40, 13, idx);
  for (size_t i = 1; i < 13; i++) assert_true(idx[i] > idx[i - 1]);
  assert_true(idx[12] < 40);
  gsl_rng_free(r);
  gsl_rng_free(r2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bit_identical),
      cmocka_unit_test(test_forms_agree),
      cmocka_unit_test(test_first_step),
      cmocka_unit_test(test_minibatch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
