/* test_newton.c — the damped Newton driver (core/newton.h) on small problems with known
 * minimisers, looped over a table as GSL's multimin/test.c does; the line search's
 * backtracking, domain handling, rounding-floor probes and failure paths. */
#include <float.h>
#include <math.h>

#include "../core/newton.h"
#include "test_util.h"

/* ---- problems: F, gradient, Hessian (dense, n <= 4) and the minimiser ---- */

typedef struct {
  const char *name;
  size_t n;
  double (*f)(const double *x, double *g, double *H); /* H may be NULL */
  double x0[4], xstar[4];
} problem;

/* convex quadratic 1/2 x^T A x - b^T x, A = [[2.385, 0.7], [0.7, 1.19]]; one full step */
static double quad_f(const double *x, double *g, double *H) {
  const double A[4] = {2.385, 0.7, 0.7, 1.19}, b[2] = {1.3, -0.45};
  double F = 0;
  for (size_t i = 0; i < 2; i++) {
    double Ax = A[2 * i] * x[0] + A[2 * i + 1] * x[1];
    F += 0.5 * x[i] * Ax - b[i] * x[i];
    if (g) g[i] = Ax - b[i];
  }
  if (H) memcpy(H, A, sizeof A);
  return F;
}

/* sum_i sqrt(1 + (x_i - c_i)^2): the full Newton step overshoots by x^3, so the line
 * search must halve far from the minimiser c */
static double hyp_f(const double *x, double *g, double *H) {
  const double c[3] = {0.31, -1.7, 2.9};
  double F = 0;
  if (H) memset(H, 0, 9 * sizeof(double));
  for (size_t i = 0; i < 3; i++) {
    double u = x[i] - c[i], r = sqrt(1 + u * u);
    F += r;
    if (g) g[i] = u / r;
    if (H) H[4 * i] = 1 / (r * r * r);
  }
  return F;
}

/* barrier x - a log x - log(1 - x/5) on 0 < x < 5 (+inf outside), minimiser the root of
 * 1 - a/x + 1/(5 - x) = 0 in (0, 5): x* = (6 + a - sqrt((6 + a)^2 - 20 a)) / 2 */
#define BAR_A 1.65
static double bar_f(const double *x, double *g, double *H) {
  double t = x[0];
  if (!(t > 0 && t < 5)) return INFINITY;
  if (g) g[0] = 1 - BAR_A / t + 1 / (5 - t);
  if (H) H[0] = BAR_A / (t * t) + 1 / ((5 - t) * (5 - t));
  return t - BAR_A * log(t) - log(1 - t / 5);
}

static const problem problems[] = {
    {"quadratic", 2, quad_f, {3.1, -2.2}, {0.7929646743180804, -0.8446010689266019}},
    {"hyperbolic", 3, hyp_f, {1.21, -0.9, 2.5}, {0.31, -1.7, 2.9}},
    {"barrier", 1, bar_f, {0.0125}, {0}},
};

/* Cholesky solve of H p = -g for n <= 4 (the problems are small and positive definite) */
static int solve(size_t n, const double *H, const double *g, double *p) {
  double L[16] = {0}, y[4];
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j <= i; j++) {
      double s = H[i * n + j];
      for (size_t k = 0; k < j; k++) s -= L[i * 4 + k] * L[j * 4 + k];
      if (i == j) {
        if (!(s > 0)) return PS_ESINGULAR;
        L[i * 4 + i] = sqrt(s);
      } else {
        L[i * 4 + j] = s / L[j * 4 + j];
      }
    }
  for (size_t i = 0; i < n; i++) {
    double s = -g[i];
    for (size_t k = 0; k < i; k++) s -= L[i * 4 + k] * y[k];
    y[i] = s / L[i * 4 + i];
  }
  for (size_t i = n; i-- > 0;) {
    double s = y[i];
    for (size_t k = i + 1; k < n; k++) s -= L[k * 4 + i] * p[k];
    p[i] = s / L[i * 4 + i];
  }
  return PS_OK;
}

typedef struct {
  const problem *pb;
  int evals, line_evals, directions;
  double shift; /* added to F (NaN: every later point is rejected) */
} ctx;

static double cb_fdf(void *params, const double *x, double *g) {
  ctx *c = params;
  c->evals++;
  return c->pb->f(x, g, NULL) + c->shift;
}

static int cb_direction(void *params, const double *x, const double *g, double *p, ps_msg *m) {
  ctx *c = params;
  double H[16];
  c->directions++;
  c->pb->f(x, NULL, H);
  if (solve(c->pb->n, H, g, p) != PS_OK) return ps_fail(m, PS_ESINGULAR, "not positive definite");
  return PS_OK;
}

static double cb_line(void *params, const double *x, const double *p, double t) {
  ctx *c = params;
  double y[4];
  c->line_evals++;
  for (size_t k = 0; k < c->pb->n; k++) y[k] = x[k] + t * p[k];
  return c->pb->f(y, NULL, NULL) + c->shift;
}

/* Run the set / direction / step loop to ||g|| <= tol; returns the status. */
static int run(newton_solver *s, const newton_function *fn, const newton_params *par, const double *x0, double tol,
               int max_iter, int *iters) {
  newton_set(s, fn, par, x0);
  int it;
  for (it = 0; newton_gradient_norm(s) > tol; it++) {
    if (it >= max_iter) return *iters = it, PS_ENOCONV;
    ps_msg m;
    int st = newton_direction(s, &m);
    if (st != PS_OK) return *iters = it, st;
    if ((st = newton_step(s)) != PS_OK) return *iters = it, st;
  }
  *iters = it;
  return PS_OK;
}

static void test_problems(void **state) {
  (void)state;
  for (size_t q = 0; q < sizeof problems / sizeof *problems; q++) {
    const problem *pb = &problems[q];
    double xstar[4];
    memcpy(xstar, pb->xstar, sizeof xstar);
    if (pb->f == bar_f) xstar[0] = (6 + BAR_A - sqrt((6 + BAR_A) * (6 + BAR_A) - 20 * BAR_A)) / 2;
    newton_solver *s = newton_alloc(pb->n);
    assert_non_null(s);
    newton_params par = newton_params_default();
    for (int with_line = 0; with_line < 2; with_line++) {
      ctx c = {.pb = pb};
      newton_function fn = {pb->n, cb_fdf, cb_direction, with_line ? cb_line : NULL, &c};
      int it = 0, st = run(s, &fn, &par, pb->x0, 1e-12, 100, &it);
      if (st != PS_OK) print_error("problem %s (line %d): status %d after %d\n", pb->name, with_line, st, it);
      assert_int_equal(st, PS_OK);
      for (size_t k = 0; k < pb->n; k++) assert_close(newton_x(s)[k], xstar[k], 1e-10);
      /* the minimiser's F and gradient are the driver's state */
      double g[4];
      assert_true(newton_f(s) == pb->f(newton_x(s), g, NULL));
      if (pb->f == quad_f) assert_int_equal(it, 1); /* Newton is exact on a quadratic */
      if (pb->f == hyp_f) assert_true(it > 3);       /* damped: the overshooting steps were halved */
      if (with_line) assert_true(c.line_evals > 0);
    }
    newton_free(s);
  }
}

/* The line callback and the fdf at x + t p are the same function: bit-identical paths. */
static void test_line_matches_fdf(void **state) {
  (void)state;
  const problem *pb = &problems[1];
  newton_solver *a = newton_alloc(pb->n), *b = newton_alloc(pb->n);
  newton_params par = newton_params_default();
  ctx ca = {.pb = pb}, cb = {.pb = pb};
  newton_function fa = {pb->n, cb_fdf, cb_direction, NULL, &ca}, fb = {pb->n, cb_fdf, cb_direction, cb_line, &cb};
  int ia, ib;
  run(a, &fa, &par, pb->x0, 1e-12, 100, &ia);
  run(b, &fb, &par, pb->x0, 1e-12, 100, &ib);
  assert_int_equal(ia, ib);
  assert_memory_equal(newton_x(a), newton_x(b), pb->n * sizeof(double));
  newton_free(a);
  newton_free(b);
}

/* Steps that leave the domain see F = +inf and are halved back into it. */
static void test_domain(void **state) {
  (void)state;
  const problem *pb = &problems[2];
  newton_solver *s = newton_alloc(1);
  newton_params par = newton_params_default();
  ctx c = {.pb = pb};
  newton_function fn = {1, cb_fdf, cb_direction, NULL, &c};
  double x0[1] = {4.97}; /* near the upper wall: the Newton step jumps past it */
  int it;
  assert_int_equal(run(s, &fn, &par, x0, 1e-12, 100, &it), PS_OK);
  assert_true(newton_x(s)[0] > 0 && newton_x(s)[0] < 5);
  newton_free(s);
}

/* When no trial point is acceptable (here every point but the start has F = NaN) the
 * step fails with PS_ENOCONV after max_halvings trials, leaving x, F and g unchanged. */
static void test_line_search_fails(void **state) {
  (void)state;
  const problem *pb = &problems[1];
  newton_solver *s = newton_alloc(pb->n);
  newton_params par = newton_params_default();
  ctx c = {.pb = pb};
  newton_function fn = {pb->n, cb_fdf, cb_direction, NULL, &c};
  newton_set(s, &fn, &par, pb->x0);
  double F = newton_f(s), x[3], g[3];
  memcpy(x, newton_x(s), sizeof x);
  memcpy(g, newton_gradient(s), sizeof g);
  assert_int_equal(newton_direction(s, NULL), PS_OK);
  assert_true(newton_slope(s) < 0);
  c.shift = NAN;
  c.evals = 0;
  assert_int_equal(newton_step(s), PS_ENOCONV);
  assert_int_equal(c.evals, par.max_halvings);
  assert_true(newton_f(s) == F);
  assert_memory_equal(newton_x(s), x, sizeof x);
  assert_memory_equal(newton_gradient(s), g, sizeof g);
  newton_free(s);
}

/* F = hyp + a deterministic "rounding noise" of up to 1e-9 (a hash of x): steps whose
 * decrease is below it are invisible to Armijo, as at the end of a fit on many rows.
 * With the probe the full steps that lower ||grad|| are taken there, and the fit
 * reaches ||grad|| <= 1e-12 in a few Newton steps. */
static double noisy_f(const double *x, double *g, double *H) {
  double F = hyp_f(x, g, H), h = 0;
  for (size_t k = 0; k < 3; k++) h += sin(x[k] * 7.31e6 + (double)k);
  return F + 1e-9 * (0.5 + 0.5 * sin(h * 1.9e3));
}

static void test_probe(void **state) {
  (void)state;
  problem pb = problems[1];
  pb.f = noisy_f;
  newton_solver *s = newton_alloc(pb.n);
  double x0[3] = {0.4, -1.5, 2.7};
  newton_params par = newton_params_default();
  par.probe = 1e-6; /* generous: this F's noise is 1e-9 absolute */
  ctx c = {.pb = &pb};
  newton_function fn = {pb.n, cb_fdf, cb_direction, NULL, &c};
  int it, st = run(s, &fn, &par, x0, 1e-12, 50, &it);
  assert_int_equal(st, PS_OK);
  assert_true(it <= 8);
  assert_true(newton_step_length(s) == 1);
  for (size_t k = 0; k < pb.n; k++) assert_close(newton_x(s)[k], pb.xstar[k], 1e-10);
  newton_free(s);
}

/* A double well -x^2 + x^4 at x = 0.1: the Hessian is negative, the direction callback
 * fails, and its status and message reach the caller unchanged. */
static double well_f(const double *x, double *g, double *H) {
  double t = x[0];
  if (g) g[0] = -2 * t + 4 * t * t * t;
  if (H) H[0] = -2 + 12 * t * t;
  return -t * t + t * t * t * t;
}

static void test_errors(void **state) {
  (void)state;
  problem pb = {"well", 1, well_f, {0.1}, {0}};
  newton_solver *s = newton_alloc(1);
  newton_params par = newton_params_default();
  ctx c = {.pb = &pb};
  newton_function fn = {1, cb_fdf, cb_direction, NULL, &c};
  assert_int_equal(newton_set(s, &fn, &par, pb.x0), PS_OK);
  ps_msg m = {{0}};
  assert_int_equal(newton_direction(s, &m), PS_ESINGULAR);
  assert_string_equal(m.text, "not positive definite");
  newton_free(s);
  /* a workspace of another size refuses the problem */
  s = newton_alloc(2);
  assert_int_equal(newton_set(s, &fn, &par, pb.x0), PS_EINVAL);
  newton_free(s);
  assert_null(newton_alloc(0));
  newton_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_problems),     cmocka_unit_test(test_line_matches_fdf), cmocka_unit_test(test_domain),
      cmocka_unit_test(test_line_search_fails), cmocka_unit_test(test_probe),            cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
