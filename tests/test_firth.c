/* test_firth.c — Firth-penalised (Jeffreys-prior) Bradley-Terry (bt.h "Firth",
 * estimators/bt_firth.c; docs/theory.md §3.1, row 21, oracle O1).
 *
 * Oracles:
 *   - O1, two items 7-3: the penalised objective in Delta = theta_1 - theta_2 is
 *     -7.5 log sigma(Delta) - 3.5 log sigma(-Delta) + const (pdet I = 20 sigma'(Delta)),
 *     so Delta = log(7.5/3.5) and its SE from the penalised Hessian is
 *     sqrt(1/7.5 + 1/3.5);
 *   - separable tree designs (as many distinct pairs as m - 1): every pair's
 *     leverages sum to 1 at every theta (the hat matrix of a square design is the
 *     identity), so each pair is its own two-item problem:
 *     theta_a - theta_b = log((n_ab + 1/2) / (n_ba + 1/2)), finite where the MLE is not;
 *   - the separable tournament a>b, b>c, a>c (O4): by its symmetry theta_b is the
 *     midpoint, and the matrix-tree theorem gives pdet I = 3 (w1^2 + 2 w1 w2) with
 *     w1 = sigma'(Delta), w2 = sigma'(2 Delta): a one-dimensional root found here by
 *     bisection, and R's brglm (BTm(br = TRUE)) value 1.034757305201275;
 *   - the gradient and the exact Hessian of the penalised objective against central
 *     finite differences (items with counts, duplicates and reversals; features; with
 *     and without l2);
 *   - separable feature data: no MLE, a finite Firth fit in the planted direction;
 *   - the registry entry: firth = true reaches this fit, firth = false is bt as before.
 * Agreement with R on real and separable data sets is in tests/test_fit_r.sh. */
#include <gsl/gsl_linalg.h>
#include <math.h>

#include "test_util.h"
#include "fixtures.h"
#include "../core/numerics.h"
#include "../estimators/bt.h"
#include "../sim/sim.h"

extern const est_type est_bt;

/* rows with counts (count[i] > 0) */
static void rows_counts(pref_data *d, size_t m, const int32_t *w, const int32_t *l, const double *c, size_t n) {
  fixtures_rows(d, m, w, l, n);
  d->count = malloc(n * sizeof(double));
  for (size_t i = 0; i < n; i++) d->count[i] = c[i];
}

static bt_options firth_options(void) {
  bt_options o = bt_options_default();
  o.firth = 1;
  return o;
}

/* O1: two items, 7-3 */
static void test_o1_two_items(void **state) {
  (void)state;
  pref_data d;
  int32_t w[2] = {0, 1}, l[2] = {1, 0};
  double c[2] = {7, 3};
  rows_counts(&d, 2, w, l, c, 2);
  pref_features f = fixtures_items_view(2);
  bt_options o = firth_options();
  o.want_hessian = 1;
  bt_result r;
  ps_msg m = {{0}};
  int s = bt_fit(&d, &f, &o, &r, &m);
  if (s) print_error("%s\n", m.text);
  assert_int_equal(s, PS_OK);
  double delta = log(7.5 / 3.5);
  assert_close(delta, 0.762140, 1e-6); /* the value quoted in docs/theory.md */
  assert_close(r.theta[0] - r.theta[1], delta, 1e-9);
  assert_close(r.theta[0] + r.theta[1], 0, 1e-12);
  /* log-likelihood and objective: pdet I = det(I + 11^T/2) = 20 sigma'(Delta) */
  double ll = 7 * log(ps_sigmoid(delta)) + 3 * log(ps_sigmoid(-delta));
  assert_close(r.loglik, ll, 1e-10);
  assert_close(r.objective, -ll - 0.5 * log(20 * ps_sigmoid_deriv(delta)), 1e-10);
  /* SE of Delta from the penalised Hessian: 1 / sqrt(11 p (1 - p)), p = 7.5/11 */
  double cov[4];
  assert_int_equal(bt_covariance(&r, &f, cov, &m), PS_OK);
  assert_close(sqrt(cov[0] + cov[3] - 2 * cov[1]), sqrt(1 / 7.5 + 1 / 3.5), 1e-9);
  /* the plain MLE on the same data, for contrast: log(7/3) */
  bt_result r0;
  o.firth = 0;
  assert_int_equal(bt_fit(&d, &f, &o, &r0, &m), PS_OK);
  assert_close(r0.theta[0] - r0.theta[1], log(7.0 / 3.0), 1e-9);
  assert_true(fabs(r.theta[0] - r.theta[1]) < fabs(r0.theta[0] - r0.theta[1])); /* shrunk towards 0 */
  bt_result_free(&r0);
  bt_result_free(&r);
  pref_data_free(&d);
}

/* Separable tree designs: no MLE, Firth = the two-item closed form per pair. */
static void test_separable_closed_form(void **state) {
  (void)state;
  pref_features f2 = fixtures_items_view(2);
  /* two items 5-0 */
  {
    pref_data d;
    int32_t w[1] = {0}, l[1] = {1};
    double c[1] = {5};
    rows_counts(&d, 2, w, l, c, 1);
    bt_options o = bt_options_default();
    bt_result r;
    ps_msg m = {{0}};
    assert_int_equal(bt_fit(&d, &f2, &o, &r, &m), PS_ENOMLE);
    assert_non_null(strstr(m.text, "never loses"));
    bt_result_free(&r);
    o.firth = 1;
    assert_int_equal(bt_fit(&d, &f2, &o, &r, &m), PS_OK);
    assert_close(r.theta[0] - r.theta[1], log(5.5 / 0.5), 1e-9);
    bt_result_free(&r);
    pref_data_free(&d);
  }
  /* a chain a > b (7 times, as rows of 3 and 4) and b > c (4 times): not strongly
   * connected, so no MLE; Firth: log(7.5/0.5) and log(4.5/0.5) */
  {
    pref_data d;
    int32_t w[3] = {0, 1, 0}, l[3] = {1, 2, 1};
    double c[3] = {3, 4, 4};
    rows_counts(&d, 3, w, l, c, 3);
    pref_features f = fixtures_items_view(3);
    bt_options o = bt_options_default();
    bt_result r;
    ps_msg m = {{0}};
    assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_ENOMLE);
    bt_result_free(&r);
    o.firth = 1;
    o.want_hessian = 1;
    int s = bt_fit(&d, &f, &o, &r, &m);
    if (s) print_error("%s\n", m.text);
    assert_int_equal(s, PS_OK);
    assert_close(r.theta[0] - r.theta[1], log(7.5 / 0.5), 1e-9);
    assert_close(r.theta[1] - r.theta[2], log(4.5 / 0.5), 1e-9);
    /* on a tree each pair's SE is its own two-item one: sqrt(1/(n+1/2) + 1/(1/2)) */
    double cov[9];
    assert_int_equal(bt_covariance(&r, &f, cov, &m), PS_OK);
    assert_close(sqrt(cov[0] + cov[4] - 2 * cov[1]), sqrt(1 / 7.5 + 1 / 0.5), 1e-8);
    assert_close(sqrt(cov[4] + cov[8] - 2 * cov[5]), sqrt(1 / 4.5 + 1 / 0.5), 1e-8);
    bt_result_free(&r);
    pref_data_free(&d);
  }
  /* a star around item 0 with one separable spoke and both directions elsewhere:
   * 0 vs 1 3-1, 0 vs 2 0-2 (rows 2 > 0), 0 vs 3 5-0 */
  {
    pref_data d;
    int32_t w[4] = {0, 1, 2, 0}, l[4] = {1, 0, 0, 3};
    double c[4] = {3, 1, 2, 5};
    rows_counts(&d, 4, w, l, c, 4);
    pref_features f = fixtures_items_view(4);
    bt_options o = firth_options();
    bt_result r;
    ps_msg m = {{0}};
    assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_OK);
    assert_close(r.theta[0] - r.theta[1], log(3.5 / 1.5), 1e-9);
    assert_close(r.theta[2] - r.theta[0], log(2.5 / 0.5), 1e-9);
    assert_close(r.theta[0] - r.theta[3], log(5.5 / 0.5), 1e-9);
    bt_result_free(&r);
    pref_data_free(&d);
  }
}

/* d/dDelta of the tournament's penalised objective along theta = (D, 0, -D) */
static double tournament_slope(double D) {
  double w1 = ps_sigmoid_deriv(D), w2 = ps_sigmoid_deriv(2 * D);
  double w1p = w1 * (1 - 2 * ps_sigmoid(D)), w2p = w2 * (1 - 2 * ps_sigmoid(2 * D)) * 2;
  /* f = -2 log sigma(D) - log sigma(2D) - (1/2) log(3 (w1^2 + 2 w1 w2)) */
  double dll = -2 * ps_sigmoid(-D) - 2 * ps_sigmoid(-2 * D);
  double dpen = -0.5 * (2 * w1 * w1p + 2 * (w1p * w2 + w1 * w2p)) / (w1 * w1 + 2 * w1 * w2);
  return dll + dpen;
}

/* O4's separable tournament: bt no-mle, Firth finite and equal to the 1-D root and to R. */
static void test_separable_tournament(void **state) {
  (void)state;
  pref_data d;
  int32_t w[3] = {0, 1, 0}, l[3] = {1, 2, 2};
  fixtures_rows(&d, 3, w, l, 3);
  pref_features f = fixtures_items_view(3);
  bt_options o = bt_options_default();
  bt_result r;
  ps_msg m = {{0}};
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_ENOMLE);
  bt_result_free(&r);
  double lo = 0.01, hi = 10;
  assert_true(tournament_slope(lo) < 0 && tournament_slope(hi) > 0);
  for (int i = 0; i < 200; i++) {
    double mid = 0.5 * (lo + hi);
    if (tournament_slope(mid) < 0) lo = mid;
    else hi = mid;
  }
  double D = 0.5 * (lo + hi);
  /* brglm 0.7.2 via BTm(br = TRUE), br.epsilon 1e-12: its modified score there is
   * still 1e-9, so it agrees to ~2e-9 */
  assert_close(D, 1.034757305201275, 1e-8);
  o.firth = 1;
  o.want_hessian = 1;
  int s = bt_fit(&d, &f, &o, &r, &m);
  if (s) print_error("%s\n", m.text);
  assert_int_equal(s, PS_OK);
  assert_close(r.theta[0], D, 1e-9);
  assert_close(r.theta[1], 0, 1e-9);
  assert_close(r.theta[2], -D, 1e-9);
  assert_true(r.grad_norm <= 1e-10 * 3);
  /* the penalised Hessian is positive definite on the sum-zero space and H 1 = 0 */
  for (int i = 0; i < 3; i++) assert_close(r.hessian[i * 3] + r.hessian[i * 3 + 1] + r.hessian[i * 3 + 2], 0, 1e-12);
  double cov[9];
  assert_int_equal(bt_covariance(&r, &f, cov, &m), PS_OK);
  /* R: SEs of theta_b - theta_a and theta_c - theta_a from the inverse of the
   * penalised Hessian (central differences of R's own modified score) */
  assert_close(sqrt(cov[0] + cov[4] - 2 * cov[1]), 1.581658456645982, 1e-6);
  assert_close(sqrt(cov[0] + cov[8] - 2 * cov[2]), 1.880620706333368, 1e-6);
  bt_result_free(&r);
  /* l2 and Firth together: the Gaussian prior shrinks further, the fit stays centred
   * and stationary for the sum of both penalties */
  o.l2 = 0.5;
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_OK);
  assert_true(r.theta[0] > r.theta[1] && r.theta[1] > r.theta[2]);
  assert_true(r.theta[0] < D);
  assert_close(r.theta[0] + r.theta[1] + r.theta[2], 0, 1e-12);
  double g[3];
  bt_objective(&d, &f, &o, r.theta, g, NULL, NULL);
  assert_true(sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]) <= 1e-10 * 3 * 1e3);
  bt_result_free(&r);
  pref_data_free(&d);
}

/* central differences of the objective (gradient) and of the gradient (Hessian) */
static void check_fd(const pref_data *d, const pref_features *f, const bt_options *o, const double *th, size_t dim) {
  double *g = malloc(dim * sizeof(double)), *gp = malloc(dim * sizeof(double)), *gm = malloc(dim * sizeof(double));
  double *H = malloc(dim * dim * sizeof(double)), *t = malloc(dim * sizeof(double));
  ps_msg m = {{0}};
  double f0 = bt_objective(d, f, o, th, g, NULL, NULL);
  assert_true(isfinite(f0));
  assert_int_equal(bt_firth_hessian(d, f, o, th, H, &m), PS_OK);
  for (size_t k = 0; k < dim; k++) {
    double h = 1e-5;
    memcpy(t, th, dim * sizeof(double));
    t[k] += h;
    double fp = bt_objective(d, f, o, t, gp, NULL, NULL);
    t[k] -= 2 * h;
    double fm = bt_objective(d, f, o, t, gm, NULL, NULL);
    double fd = (fp - fm) / (2 * h);
    assert_close(g[k], fd, 1e-6 * fmax(1, fabs(fd)));
    for (size_t j = 0; j < dim; j++) {
      double hd = (gp[j] - gm[j]) / (2 * h);
      assert_close(H[j * dim + k], hd, 1e-6 * fmax(1, fabs(hd)));
    }
  }
  free(g), free(gp), free(gm), free(H), free(t);
}

/* The penalised objective's gradient and Hessian against central differences. */
static void test_gradient_hessian_fd(void **state) {
  (void)state;
  /* items: 5 items, counts, a duplicate pair and reversals, a separable item (4 never wins) */
  pref_data d;
  int32_t w[9] = {0, 1, 0, 2, 3, 1, 0, 2, 3}, l[9] = {1, 0, 2, 3, 1, 2, 1, 4, 4};
  double c[9] = {2, 1, 0.5, 3, 1.5, 1, 1, 2, 1};
  rows_counts(&d, 5, w, l, c, 9);
  pref_features f = fixtures_items_view(5);
  double th[5] = {0.7, -0.3, 1.1, -1.6, 0.2};
  for (int k = 0; k < 2; k++) {
    bt_options o = firth_options();
    o.l2 = k ? 0.3 : 0;
    check_fd(&d, &f, &o, th, 5);
  }
  pref_data_free(&d);

  /* features: the project's simulator, 30 contexts x 4 responses, 5 dimensions */
  fixtures_sim pb;
  world_spec ws = {.kind = WORLD_FEATURES, .contexts = 30, .responses = 4, .dim = 5, .feature_scale = 1.0};
  population_spec ps = {.scale = 1, .norm = 2.0};
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0};
  fixtures_sim_alloc(&pb, 20261207, &ws, &ps, &ns, 150);
  pref_features ff = world_features(&pb.w);
  double tf[5] = {0.31, -1.2, 0.05, 0.9, -0.6};
  for (int k = 0; k < 2; k++) {
    bt_options o = firth_options();
    o.l2 = k ? 0.37 : 0;
    check_fd(&pb.d, &ff, &o, tf, 5);
  }
  fixtures_sim_free(&pb);
}

/* Separable feature data (labels from the sign of theta*^T x): bt no-mle; Firth
 * finite, stationary, pointing along theta*; the fit through the registry. */
static void test_features_separable(void **state) {
  (void)state;
  fixtures_sim pb;
  world_spec ws = {.kind = WORLD_FEATURES, .contexts = 50, .responses = 6, .dim = 4, .feature_scale = 1.0};
  population_spec ps = {.scale = 1, .norm = 1.0};
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0};
  fixtures_sim_alloc(&pb, 42, &ws, &ps, &ns, 300);
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
  bt_result_free(&r);
  o.firth = 1;
  o.want_hessian = 1;
  int s = bt_fit(&pb.d, &f, &o, &r, &m);
  if (s) print_error("%s\n", m.text);
  assert_int_equal(s, PS_OK);
  double nrm = 0, dot = 0, nstar = 0;
  for (size_t k = 0; k < 4; k++) {
    assert_true(isfinite(r.theta[k]));
    nrm += r.theta[k] * r.theta[k];
    nstar += pb.p.theta[k] * pb.p.theta[k];
    dot += r.theta[k] * pb.p.theta[k];
  }
  assert_true(sqrt(nrm) < 100);
  assert_true(dot / sqrt(nrm * nstar) > 0.95);
  assert_true(r.grad_norm <= 1e-10 * 300);
  /* every margin positive: the data are separated by the Firth estimate as well */
  double cov[16];
  assert_int_equal(bt_covariance(&r, &f, cov, &m), PS_OK);
  for (size_t k = 0; k < 4; k++) assert_true(cov[k * 4 + k] > 0);

  /* the registry entry with firth = true gives the same fit */
  const char *hyper[16];
  size_t np = fixtures_default_hyper(&est_bt, hyper, 16);
  for (size_t k = 0; k < np; k++)
    if (!strcmp(est_bt.params[k].key, "firth")) hyper[k] = "true";
  est_model *e = NULL;
  assert_int_equal(est_bt.alloc(&e, hyper, &m), PS_OK);
  est_fit_info info;
  assert_int_equal(est_bt.fit(e, &pb.d, &f, NULL, &info, &m), PS_OK);
  size_t dim = 0;
  const double *th = est_bt.theta(e, &dim);
  assert_int_equal(dim, 4);
  for (size_t k = 0; k < 4; k++) assert_true(th[k] == r.theta[k]);
  est_bt.free(e);
  bt_result_free(&r);
  fixtures_sim_free(&pb);
}

/* firth = false (the default) is bt exactly; firth with probit is refused. */
static void test_registry_default_and_refusals(void **state) {
  (void)state;
  const char *hyper[16];
  size_t np = fixtures_default_hyper(&est_bt, hyper, 16);
  int found = 0;
  for (size_t k = 0; k < np; k++)
    if (!strcmp(est_bt.params[k].key, "firth")) {
      found = 1;
      assert_string_equal(hyper[k], "false");
    }
  assert_true(found);
  pref_data d;
  int32_t w[4] = {0, 0, 1, 2}, l[4] = {1, 1, 2, 0};
  fixtures_rows(&d, 3, w, l, 4);
  pref_features f = fixtures_items_view(3);
  est_model *e = NULL;
  ps_msg m = {{0}};
  assert_int_equal(est_bt.alloc(&e, hyper, &m), PS_OK);
  est_fit_info info;
  assert_int_equal(est_bt.fit(e, &d, &f, NULL, &info, &m), PS_OK);
  bt_options o = bt_options_default();
  bt_result r;
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_OK);
  size_t dim;
  const double *th = est_bt.theta(e, &dim);
  for (size_t k = 0; k < 3; k++) assert_true(th[k] == r.theta[k]); /* bit for bit */
  assert_true(info.objective == r.objective);
  bt_result_free(&r);
  est_bt.free(e);
  /* probit with firth: refused by the registry entry and by bt_fit */
  for (size_t k = 0; k < np; k++) {
    if (!strcmp(est_bt.params[k].key, "firth")) hyper[k] = "true";
    if (!strcmp(est_bt.params[k].key, "link")) hyper[k] = "probit";
  }
  e = NULL;
  assert_int_equal(est_bt.alloc(&e, hyper, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "logistic"));
  o.firth = 1;
  o.link = BT_LINK_PROBIT;
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_EINVAL);
  bt_result_free(&r);
  pref_data_free(&d);
}

/* Unidentified designs: a disconnected item graph, rank-deficient features. */
static void test_unidentified(void **state) {
  (void)state;
  pref_data d;
  int32_t w[4] = {0, 1, 2, 3}, l[4] = {1, 0, 3, 2};
  fixtures_rows(&d, 4, w, l, 4);
  pref_features f = fixtures_items_view(4);
  bt_options o = firth_options();
  bt_result r;
  ps_msg m = {{0}};
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_ENOMLE);
  assert_non_null(strstr(m.text, "disconnected (2 components"));
  bt_result_free(&r);
  o.l2 = 1; /* refused whatever l2: the Jeffreys factor is undefined */
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_ENOMLE);
  bt_result_free(&r);
  const char *names[4] = {"w", "x", "y", "z"};
  assert_int_equal(bt_check_connected(&d, names, &m), PS_ENOMLE);
  assert_non_null(strstr(m.text, "item 'y' is never linked to item 'w'"));
  pref_data_free(&d);

  fixtures_sim pb;
  world_spec ws = {.kind = WORLD_FEATURES, .contexts = 50, .responses = 6, .dim = 4, .feature_scale = 1.0};
  population_spec ps = {.scale = 1, .norm = 1.0};
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0};
  fixtures_sim_alloc(&pb, 43, &ws, &ps, &ns, 500);
  for (size_t i = 0; i < pb.w.n_items; i++) pb.w.phi[i * 4 + 3] = 2 * pb.w.phi[i * 4 + 1];
  pref_features ff = world_features(&pb.w);
  o = firth_options();
  assert_int_equal(bt_fit(&pb.d, &ff, &o, &r, &m), PS_ESINGULAR);
  assert_non_null(strstr(m.text, "span"));
  bt_result_free(&r);
  fixtures_sim_free(&pb);
}

/* A warm start at the solution takes no step; a non-finite one is refused. */
static void test_warm_start(void **state) {
  (void)state;
  pref_data d;
  int32_t w[5] = {0, 1, 2, 0, 3}, l[5] = {1, 2, 0, 3, 1};
  fixtures_rows(&d, 4, w, l, 5);
  pref_features f = fixtures_items_view(4);
  bt_options o = firth_options();
  bt_result r, r2;
  ps_msg m = {{0}};
  assert_int_equal(bt_fit(&d, &f, &o, &r, &m), PS_OK);
  assert_true(r.iterations >= 1);
  o.theta0 = r.theta;
  assert_int_equal(bt_fit(&d, &f, &o, &r2, &m), PS_OK);
  assert_int_equal(r2.iterations, 0);
  for (int k = 0; k < 4; k++) assert_close(r2.theta[k], r.theta[k], 1e-15); /* re-centred */
  bt_result_free(&r2);
  double bad[4] = {0, NAN, 0, 0};
  o.theta0 = bad;
  assert_int_equal(bt_fit(&d, &f, &o, &r2, &m), PS_EDOM);
  bt_result_free(&r2);
  bt_result_free(&r);
  pref_data_free(&d);
}

/* Is H + 11^T/m positive definite (the penalised objective locally convex on the
 * sum-zero space)? */
static int pd_items(const double *H, size_t m) {
  double *A = malloc(m * m * sizeof(double));
  for (size_t k = 0; k < m * m; k++) A[k] = H[k] + 1.0 / (double)m;
  gsl_matrix_view v = gsl_matrix_view_array(A, m, m);
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int ok = gsl_linalg_cholesky_decomp1(&v.matrix) == GSL_SUCCESS;
  gsl_set_error_handler(old);
  free(A);
  return ok;
}

/* Sparse random item designs (30 items, 60 comparisons: mostly without an MLE):
 * where the graph is connected the fit converges in few iterations (the slow
 * fixed point hands over to Newton), is a root of the modified score, and where
 * the penalised Hessian is positive definite (a maximum of log L + 1/2 log det I)
 * a perturbed warm start comes back to it. */
static void test_sparse_designs(void **state) {
  (void)state;
  int fitted = 0, separable = 0, maxima = 0;
  double H[900];
  for (uint64_t seed = 1; seed <= 30; seed++) {
    fixtures_sim pb;
    world_spec ws = {.kind = WORLD_ITEMS, .items = 30};
    population_spec ps = {.scale = 1, .norm = 1.0};
    noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0};
    fixtures_sim_alloc(&pb, seed * 104729, &ws, &ps, &ns, 60);
    pref_features f = fixtures_items_view(30);
    ps_msg m = {{0}};
    if (bt_check_connected(&pb.d, NULL, &m) != PS_OK) {
      fixtures_sim_free(&pb);
      continue;
    }
    separable += bt_check_items(&pb.d, NULL, &m) == PS_ENOMLE;
    bt_options o = firth_options();
    bt_result r, r2;
    int s = bt_fit(&pb.d, &f, &o, &r, &m);
    if (s) print_error("seed %lu: %s\n", (unsigned long)seed, m.text);
    assert_int_equal(s, PS_OK);
    if (!(r.iterations <= 20 && r.grad_norm <= 1e-10 * 60))
      print_error("seed %lu: gradient %g after %d iterations\n", (unsigned long)seed, r.grad_norm, r.iterations);
    assert_true(r.iterations <= 20);
    assert_true(r.grad_norm <= 1e-10 * 60);
    fitted++;
    assert_int_equal(bt_firth_hessian(&pb.d, &f, &o, r.theta, H, &m), PS_OK);
    if (pd_items(H, 30)) {
      maxima++;
      double start[30];
      for (int k = 0; k < 30; k++) start[k] = r.theta[k] + 0.05 * sin(3.0 * k + (double)seed);
      o.theta0 = start;
      assert_int_equal(bt_fit(&pb.d, &f, &o, &r2, &m), PS_OK);
      /* both stop at ||grad|| <= 6e-9, along directions of curvature ~0.1 */
      for (int k = 0; k < 30; k++) assert_close(r2.theta[k], r.theta[k], 1e-7);
      bt_result_free(&r2);
    }
    bt_result_free(&r);
    fixtures_sim_free(&pb);
  }
  assert_true(fitted >= 10);
  assert_true(separable >= 5); /* the point: most of these have no MLE */
  assert_true(maxima >= fitted / 2);
}

/* The penalised likelihood need not be concave.  a > c 50 times, a > b, b > c: the
 * data are symmetric under reversing the order (a <-> c, theta -> -theta), so the
 * fixed point from 0 keeps theta_b = 0; with a gap this wide that root of the
 * modified score is a saddle of log L + 1/2 log det I (b sits where the Jeffreys
 * factor is smallest), which has two mirror-image maxima with theta_b on either
 * side.  The fit returns the root from 0, as R's brglm does (BTm(br = TRUE):
 * theta_c - theta_a = -4.45880421745467, its penalised-Hessian SEs NaN); a warm
 * start off the symmetric line reaches a maximum instead. */
static void test_saddle_root(void **state) {
  (void)state;
  pref_data d;
  int32_t w[3] = {0, 0, 1}, l[3] = {2, 1, 2};
  double c[3] = {50, 1, 1};
  rows_counts(&d, 3, w, l, c, 3);
  pref_features f = fixtures_items_view(3);
  bt_options o = firth_options();
  o.want_hessian = 1;
  bt_result r, rp, rm;
  ps_msg m = {{0}};
  int s = bt_fit(&d, &f, &o, &r, &m);
  if (s) print_error("%s\n", m.text);
  assert_int_equal(s, PS_OK);
  assert_close(r.theta[1], 0, 1e-12);
  assert_close(r.theta[2] - r.theta[0], -4.45880421745467, 1e-8);
  assert_false(pd_items(r.hessian, 3));
  double cov[9];
  assert_int_equal(bt_covariance(&r, &f, cov, &m), PS_ESINGULAR);
  double start[3] = {r.theta[0], 0.5, r.theta[2]};
  o.theta0 = start;
  assert_int_equal(bt_fit(&d, &f, &o, &rp, &m), PS_OK);
  start[1] = -0.5;
  assert_int_equal(bt_fit(&d, &f, &o, &rm, &m), PS_OK);
  assert_true(rp.theta[1] > 0.1 && rm.theta[1] < -0.1);
  assert_true(rp.objective < r.objective - 1e-6);           /* a higher penalised likelihood */
  assert_close(rp.objective, rm.objective, 1e-10);           /* mirror images */
  assert_close(rp.theta[0], -rm.theta[2], 1e-8);
  assert_close(rp.theta[1], -rm.theta[1], 1e-8);
  assert_true(pd_items(rp.hessian, 3));
  assert_int_equal(bt_covariance(&rp, &f, cov, &m), PS_OK);
  bt_result_free(&r);
  bt_result_free(&rp);
  bt_result_free(&rm);
  pref_data_free(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_o1_two_items),         cmocka_unit_test(test_separable_closed_form),
      cmocka_unit_test(test_separable_tournament), cmocka_unit_test(test_gradient_hessian_fd),
      cmocka_unit_test(test_features_separable),   cmocka_unit_test(test_registry_default_and_refusals),
      cmocka_unit_test(test_unidentified),         cmocka_unit_test(test_warm_start),
      cmocka_unit_test(test_sparse_designs),       cmocka_unit_test(test_saddle_root),
  };
  return cmocka_run_group_tests_name("firth", tests, NULL, NULL);
}
