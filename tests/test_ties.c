/* test_ties.c — ties: the data layer (pref_data.tie, resolve_ties, est_check_ties), the Davidson
 * and Rao–Kupper likelihoods and fits (estimators/ties.h; docs/theory.md §3.17), the bt
 * shortcuts.
 *
 * Oracles:
 *   - one pair, W wins, L losses, T ties (counts).  Davidson: the likelihood is
 *     W z/2 + T log nu - N log(e^{z/2} + e^{-z/2} + nu), whose score equations give
 *     e^{z} = W/L and nu = T / sqrt(W L), so theta_1 - theta_2 = log(W/L),
 *     log nu = log(T / sqrt(W L)).  Rao–Kupper: the model is saturated in (Delta, eta) on
 *     the three cells, so the MLE matches the cell shares: sigma(Delta - eta) = W/N and
 *     sigma(-Delta - eta) = L/N, i.e. Delta - eta = logit(W/N), -Delta - eta = logit(L/N):
 *     Delta = (logit(W/N) - logit(L/N))/2, eta = -(logit(W/N) + logit(L/N))/2 (> 0 iff T > 0:
 *     logit(W/N) + logit(L/N) < 0 iff W L < (N - W)(N - L) iff 0 < N T).  Both log-likelihoods
 *     then equal the saturated one, sum_k n_k log(n_k / N);
 *   - the gradient and the Hessian of both objectives against central differences (items with
 *     counts and ties, features, l2 > 0);
 *   - recovery of a known truth from data simulated with ties_probs: every coordinate within
 *     4.5 standard errors of the truth, the SEs being the fitted inverse information (Fisher
 *     information scale; at these n the chance of a 4.5-sigma excursion in any of 6 coordinates
 *     is below 1e-4);
 *   - the shortcuts' limits (docs/theory.md §3.17): one pair with W wins, L losses and T ties
 *     counted as half a win each way is BT on W + T/2 and L + T/2 wins, so theta_1 - theta_2 =
 *     log((W + T/2) / (L + T/2)); in the population (eval_pooled_bt, the theory rows
 *     half_win_slope and drop_ties_slope) with p_win, p_tie, p_loss of the tie layer:
 *     log((p_win + p_tie/2) / (p_loss + p_tie/2)) (half) and log(p_win / p_loss) (drop: Delta
 *     exactly under Davidson, log sigma(Delta - eta) - log sigma(-Delta - eta) under Rao-Kupper);
 *   - ties_fisher against the negative finite-difference Hessian of the expected
 *     log-likelihood sum_k p_k(z0, tau0) log p_k(z, tau) at (z0, tau0); the tie model's
 *     Cramer-Rao scale on one pair asked n times: the centred 2-item Laplacian
 *     n (I_zz - I_ztau^2 / I_tautau) [[1, -1], [-1, 1]] has pseudo-inverse trace
 *     1 / (2 n (I_zz - I_ztau^2 / I_tautau)); the strict-rows scale likewise with
 *     (1 - p_tie) sigma'(g) g'^2, g = Delta (Davidson);
 *   - the error paths: no tie, only ties, a graph not strongly connected (PS_ENOMLE), a tie flag
 *     of 2 (PS_EINVAL), eta <= 0 outside the domain, models without EST_IN_TIES refused, bt's
 *     ties = refuse / drop / half. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>

#include "test_util.h"
#include "fixtures.h"
#include "../core/numerics.h"
#include "../estimators/bt.h"
#include "../estimators/estimator.h"
#include "../estimators/ties.h"
#include "../sim/sim.h"
#include "../experiments/eval.h"

/* rows (w, l, tie, count) */
static void rows(pref_data *d, size_t m, size_t n, const int32_t *w, const int32_t *l, const uint8_t *t,
                 const double *c) {
  assert_int_equal(pref_data_alloc(d, n, m, 0, 0, c != NULL), PS_OK);
  assert_int_equal(pref_data_alloc_ties(d), PS_OK);
  for (size_t i = 0; i < n; i++) {
    d->winner[i] = w[i], d->loser[i] = l[i], d->tie[i] = t[i];
    if (c) d->count[i] = c[i];
  }
}

static double logit(double p) { return log(p / (1 - p)); }

static void one_pair(ties_model model, double W, double L, double T) {
  pref_data d;
  int32_t w[3] = {0, 1, 1}, l[3] = {1, 0, 0};
  uint8_t t[3] = {0, 0, 1};
  double c[3] = {W, L, T};
  rows(&d, 2, 3, w, l, t, c);
  pref_features f = fixtures_items_view(2);
  ties_options o = ties_options_default(model);
  o.want_cov = 1;
  ties_result r;
  ps_msg m = {{0}};
  int s = ties_fit(&d, &f, &o, &r, &m);
  if (s) print_error("%s\n", m.text);
  assert_int_equal(s, PS_OK);
  double N = W + L + T, delta = r.theta[0] - r.theta[1];
  if (model == TIES_DAVIDSON) {
    assert_close(delta, log(W / L), 1e-9);
    assert_close(r.tau, log(T / sqrt(W * L)), 1e-9);
  } else {
    assert_close(delta, (logit(W / N) - logit(L / N)) / 2, 1e-9);
    assert_close(r.tau, -(logit(W / N) + logit(L / N)) / 2, 1e-9);
  }
  double sat = W * log(W / N) + L * log(L / N) + T * log(T / N);
  assert_close(r.loglik, sat, 1e-9 * N);
  assert_non_null(r.cov);
  /* the SEs are checked against R in test_fit_ties_r.sh; here the covariance is positive and
   * symmetric, and singular along (1, 1, 0) (centred scores) */
  assert_true(r.cov[0] > 0 && r.cov[8] > 0);
  assert_close(r.cov[2], r.cov[6], 1e-12);
  assert_close(r.cov[0] + r.cov[1], 0, 1e-10);
  ties_result_free(&r);
  pref_data_free(&d);
}

static void test_one_pair(void **state) {
  (void)state;
  one_pair(TIES_DAVIDSON, 9, 4, 5);
  one_pair(TIES_DAVIDSON, 7, 3, 4);
  one_pair(TIES_RAOKUPPER, 9, 4, 5);
  one_pair(TIES_RAOKUPPER, 20, 2, 1);
}

/* random rows with ties and counts over m items (or a feature world) */
static void random_rows(pref_data *d, gsl_rng *g, size_t n, size_t m) {
  assert_int_equal(pref_data_alloc(d, n, m, 0, 0, 1), PS_OK);
  assert_int_equal(pref_data_alloc_ties(d), PS_OK);
  for (size_t i = 0; i < n; i++) {
    fixtures_pair(g, m, &d->winner[i], &d->loser[i]);
    d->tie[i] = gsl_rng_uniform(g) < 0.3;
    d->count[i] = 0.5 + gsl_rng_uniform(g);
  }
}

static void fd_check(ties_model model, const pref_features *f, const pref_data *d, double l2, gsl_rng *g) {
  size_t N = f->d + 1;
  double *x = malloc(N * sizeof(double)), *gr = malloc(N * sizeof(double)), *H = malloc(N * N * sizeof(double));
  double *gp = malloc(N * sizeof(double)), *gm = malloc(N * sizeof(double));
  for (size_t k = 0; k < N; k++) x[k] = 0.5 * gsl_ran_gaussian(g, 1.0);
  x[N - 1] = model == TIES_DAVIDSON ? -0.3 : 0.7;
  ties_objective(d, f, model, l2, x, gr, H, NULL);
  double h = 1e-5;
  for (size_t k = 0; k < N; k++) {
    double keep = x[k];
    x[k] = keep + h;
    double fp = ties_objective(d, f, model, l2, x, gp, NULL, NULL);
    x[k] = keep - h;
    double fm = ties_objective(d, f, model, l2, x, gm, NULL, NULL);
    x[k] = keep;
    double scale = 1 + fabs(gr[k]);
    assert_close(gr[k], (fp - fm) / (2 * h), 1e-6 * scale);
    for (size_t j = 0; j < N; j++) assert_close(H[j * N + k], (gp[j] - gm[j]) / (2 * h), 1e-6 * (1 + fabs(H[j * N + k])));
  }
  free(x), free(gr), free(H), free(gp), free(gm);
}

static void test_derivatives(void **state) {
  (void)state;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 7);
  pref_data d;
  size_t m = 6;
  random_rows(&d, g, 200, m);
  pref_features fi = fixtures_items_view(m);
  /* features: 3 contexts x 4 responses, dim 3 */
  size_t C = 3, M = 4, dim = 3;
  double *phi = malloc(C * M * dim * sizeof(double));
  int32_t *ctx = malloc(C * M * sizeof(int32_t));
  for (size_t i = 0; i < C * M * dim; i++) phi[i] = gsl_ran_gaussian(g, 1.0);
  for (size_t i = 0; i < C * M; i++) ctx[i] = (int32_t)(i / M);
  pref_data df;
  assert_int_equal(pref_data_alloc(&df, 150, C * M, 0, 0, 1), PS_OK);
  assert_int_equal(pref_data_alloc_ties(&df), PS_OK);
  for (size_t i = 0; i < df.n; i++) {
    size_t c = gsl_rng_uniform_int(g, C), a = gsl_rng_uniform_int(g, M), b = gsl_rng_uniform_int(g, M - 1);
    if (b >= a) b++;
    df.winner[i] = (int32_t)(c * M + a), df.loser[i] = (int32_t)(c * M + b);
    df.tie[i] = gsl_rng_uniform(g) < 0.3;
    df.count[i] = 0.5 + gsl_rng_uniform(g);
  }
  pref_features ff = {.n_items = C * M, .d = dim, .phi = phi, .n_contexts = C, .item_context = ctx};
  for (int model = 0; model < 2; model++) {
    fd_check((ties_model)model, &fi, &d, 0, g);
    fd_check((ties_model)model, &fi, &d, 0.7, g);
    fd_check((ties_model)model, &ff, &df, 0, g);
    fd_check((ties_model)model, &ff, &df, 0.3, g);
  }
  /* Rao–Kupper outside its domain */
  double x[7] = {0, 0, 0, 0, 0, 0, -0.1};
  assert_true(isinf(ties_objective(&d, &fi, TIES_RAOKUPPER, 0, x, NULL, NULL, NULL)));
  /* the probabilities sum to 1 and match the objective of one row */
  for (int model = 0; model < 2; model++) {
    double pw, pt, pl;
    ties_probs((ties_model)model, 0.8, 0.4, &pw, &pt, &pl);
    assert_close(pw + pt + pl, 1, 1e-14);
    assert_true(pw > pl && pt > 0);
  }
  pref_data_free(&d);
  pref_data_free(&df);
  free(phi), free(ctx);
  gsl_rng_free(g);
}

/* simulate n rows of the model over items with scores theta (uniform pairs) */
static void simulate(pref_data *d, gsl_rng *g, ties_model model, const double *s, size_t m, double tau, size_t n) {
  assert_int_equal(pref_data_alloc(d, n, m, 0, 0, 0), PS_OK);
  assert_int_equal(pref_data_alloc_ties(d), PS_OK);
  for (size_t i = 0; i < n; i++) {
    int32_t a, b;
    fixtures_pair(g, m, &a, &b);
    double pw, pt, pl, u = gsl_rng_uniform(g);
    ties_probs(model, s[a] - s[b], tau, &pw, &pt, &pl);
    int win = u < pw, tie = !win && u < pw + pt;
    d->winner[i] = win || tie ? a : b;
    d->loser[i] = win || tie ? b : a;
    d->tie[i] = (uint8_t)tie;
  }
}

static void test_recovery(void **state) {
  (void)state;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 11);
  size_t m = 5;
  double theta[5] = {0.8, 0.3, 0, -0.4, -0.7};
  pref_features fi = fixtures_items_view(m);
  for (int model = 0; model < 2; model++) {
    double tau = model == TIES_DAVIDSON ? log(0.8) : 0.6;
    pref_data d;
    simulate(&d, g, (ties_model)model, theta, m, tau, 20000);
    ties_options o = ties_options_default((ties_model)model);
    o.want_cov = 1;
    ties_result r;
    ps_msg msg = {{0}};
    assert_int_equal(ties_fit(&d, &fi, &o, &r, &msg), PS_OK);
    size_t N = m + 1;
    for (size_t k = 0; k < m; k++) {
      double se = sqrt(r.cov[k * N + k]);
      assert_true(se > 0.005 && se < 0.05);
      assert_close(r.theta[k], theta[k], 4.5 * se);
    }
    assert_close(r.tau, tau, 4.5 * sqrt(r.cov[N * N - 1]));
    /* the covariance of centred scores sums to zero along 1 */
    double rs = 0;
    for (size_t k = 0; k < m; k++) rs += r.cov[k];
    assert_close(rs, 0, 1e-10);
    ties_result_free(&r);
    pref_data_free(&d);
  }
  gsl_rng_free(g);
}

static void test_errors(void **state) {
  (void)state;
  pref_features f = fixtures_items_view(3);
  ties_options o = ties_options_default(TIES_DAVIDSON);
  ties_result r;
  ps_msg m = {{0}};
  pref_data d;
  int32_t w[4] = {0, 1, 1, 2}, l[4] = {1, 0, 2, 1};
  uint8_t none[4] = {0, 0, 0, 0}, all[4] = {1, 1, 1, 1}, some[4] = {0, 0, 1, 0};
  rows(&d, 3, 4, w, l, none, NULL);
  assert_int_equal(ties_fit(&d, &f, &o, &r, &m), PS_ENOMLE);
  ties_result_free(&r);
  pref_data_free(&d);
  rows(&d, 3, 4, w, l, all, NULL);
  assert_int_equal(ties_fit(&d, &f, &o, &r, &m), PS_ENOMLE);
  ties_result_free(&r);
  pref_data_free(&d);
  /* item 2 never beats 1 and the 1-2 tie is absent: 2 -> 1 only, not strongly connected */
  uint8_t t3[4] = {1, 0, 0, 0};
  rows(&d, 3, 4, w, l, t3, NULL);
  d.winner[2] = 1, d.loser[2] = 2; /* 1 > 2 */
  d.winner[3] = 1, d.loser[3] = 2; /* 1 > 2 */
  assert_int_equal(ties_fit(&d, &f, &o, &r, &m), PS_ENOMLE);
  ties_result_free(&r);
  pref_data_free(&d);
  /* a bad tie flag */
  rows(&d, 3, 4, w, l, some, NULL);
  d.tie[1] = 2;
  assert_int_equal(pref_data_check(&d, &m), PS_EINVAL);
  assert_int_equal(ties_fit(&d, &f, &o, &r, &m), PS_EINVAL);
  ties_result_free(&r);
  pref_data_free(&d);
}

static void test_data_layer(void **state) {
  (void)state;
  pref_data d, out;
  ps_msg m = {{0}};
  int32_t w[3] = {0, 1, 2}, l[3] = {1, 2, 0};
  uint8_t t[3] = {0, 1, 0};
  double c[3] = {2, 3, 4};
  rows(&d, 3, 3, w, l, t, c);
  assert_int_equal(pref_data_n_ties(&d), 1);
  assert_close(pref_data_tie_weight(&d), 3, 0);
  assert_int_equal(pref_data_resolve_ties(&d, PREF_TIES_DROP, &out, &m), PS_OK);
  assert_int_equal(out.n, 2);
  assert_null(out.tie);
  assert_close(pref_data_weight(&out), 6, 0);
  pref_data_free(&out);
  d.first_won = calloc(3, 1);
  d.first_won[1] = 1;
  assert_int_equal(pref_data_resolve_ties(&d, PREF_TIES_HALF, &out, &m), PS_OK);
  assert_int_equal(out.n, 4);
  assert_close(pref_data_weight(&out), 9, 0);
  /* the tie (1, 2) of weight 3: 1 > 2 and 2 > 1, 1.5 each, the same item shown first */
  assert_int_equal(out.winner[1], 1);
  assert_int_equal(out.loser[1], 2);
  assert_close(out.count[1], 1.5, 0);
  assert_int_equal(out.winner[2], 2);
  assert_int_equal(out.loser[2], 1);
  assert_close(out.count[2], 1.5, 0);
  assert_int_equal(pref_first(&out, 1), pref_first(&out, 2));
  pref_data_free(&out);
  /* every row a tie: dropping leaves nothing */
  uint8_t all[3] = {1, 1, 1};
  pref_data a;
  rows(&a, 3, 3, w, l, all, NULL);
  assert_int_equal(pref_data_resolve_ties(&a, PREF_TIES_DROP, &out, &m), PS_EINVAL);
  pref_data_free(&a);
  /* the registry guard: mm does not read ties, bt and the tie models do */
  assert_int_equal(est_check_ties(est_lookup("mm"), &d, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "1 tie"));
  assert_int_equal(est_check_ties(est_lookup("davidson"), &d, &m), PS_OK);
  assert_int_equal(est_check_ties(est_lookup("bt"), &d, &m), PS_OK);
  d.tie[1] = 0; /* a tie column without ties is strict data */
  assert_int_equal(est_check_ties(est_lookup("mm"), &d, &m), PS_OK);
  pref_data_free(&d);
}

/* bt: ties = refuse fails naming the shortcuts; drop and half equal bt on the resolved data */
static void test_bt_shortcuts(void **state) {
  (void)state;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 3);
  double theta[4] = {0.5, 0.1, -0.2, -0.4};
  pref_data d;
  simulate(&d, g, TIES_DAVIDSON, theta, 4, 0, 400);
  pref_features f = fixtures_items_view(4);
  const est_type *t = est_lookup("bt");
  const char *names[3] = {"refuse", "drop", "half"};
  for (int k = 0; k < 3; k++) {
    const char *hyper[16];
    size_t nh = fixtures_default_hyper(t, hyper, 16);
    const ps_param *p = ps_param_find(t->params, "ties");
    assert_non_null(p);
    hyper[p - t->params] = names[k];
    (void)nh;
    est_model *e = NULL;
    ps_msg m = {{0}};
    est_fit_info info = {0};
    assert_int_equal(t->alloc(&e, hyper, &m), PS_OK);
    int s = t->fit(e, &d, &f, NULL, &info, &m);
    if (k == 0) {
      assert_int_equal(s, PS_EINVAL);
      assert_non_null(strstr(m.text, "drop or half"));
    } else {
      assert_int_equal(s, PS_OK);
      pref_data strict;
      assert_int_equal(pref_data_resolve_ties(&d, k == 1 ? PREF_TIES_DROP : PREF_TIES_HALF, &strict, &m), PS_OK);
      bt_options o = bt_options_default();
      bt_result r;
      assert_int_equal(bt_fit(&strict, &f, &o, &r, &m), PS_OK);
      size_t dim;
      const double *th = t->theta(e, &dim);
      for (size_t i = 0; i < 4; i++) assert_close(th[i], r.theta[i], 1e-12);
      bt_result_free(&r);
      pref_data_free(&strict);
    }
    t->free(e);
  }
  pref_data_free(&d);
  gsl_rng_free(g);
}

/* the simulator's tie layer (sim/design.c noise_tie_split) is the estimators' model: at
 * q = sigma(z) its split equals ties_probs(z, log nu) (Davidson) and ties_probs(z, eta)
 * (Rao–Kupper); and simulated feature data recover theta* and the tie parameter within 4.5 SE */
static void test_simulator(void **state) {
  (void)state;
  for (int k = 0; k < 2; k++) {
    noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0,
                     .ties = k ? NOISE_TIES_RAOKUPPER : NOISE_TIES_DAVIDSON, .nu = 0.7, .eta = 0.4};
    for (double z = -3; z <= 3; z += 0.75) {
      double pf, pt, pw, ptt, pl;
      noise_tie_split(&ns, ps_sigmoid(z), &pf, &pt);
      ties_probs(k ? TIES_RAOKUPPER : TIES_DAVIDSON, z, k ? ns.eta : log(ns.nu), &pw, &ptt, &pl);
      assert_close(pf, pw, 1e-12);
      assert_close(pt, ptt, 1e-12);
    }
    world_spec ws = {.kind = WORLD_FEATURES, .contexts = 50, .responses = 4, .dim = 3, .feature_scale = 1};
    population_spec ps = {.kind = POP_BT, .scale = 1, .norm = 1};
    fixtures_sim sim;
    fixtures_sim_alloc(&sim, 5 + (uint64_t)k, &ws, &ps, &ns, 20000);
    assert_non_null(sim.d.tie);
    size_t nt = pref_data_n_ties(&sim.d);
    assert_true(nt > 1000 && nt < 19000);
    ties_options o = ties_options_default(k ? TIES_RAOKUPPER : TIES_DAVIDSON);
    o.want_cov = 1;
    ties_result r;
    ps_msg m = {{0}};
    assert_int_equal(ties_fit(&sim.d, &sim.f, &o, &r, &m), PS_OK);
    for (size_t j = 0; j < 3; j++) assert_close(r.theta[j], sim.p.theta[j], 4.5 * sqrt(r.cov[j * 4 + j]));
    assert_close(r.tau, k ? ns.eta : log(ns.nu), 4.5 * sqrt(r.cov[15]));
    ties_result_free(&r);
    fixtures_sim_free(&sim);
  }
}

/* one pair, W wins, L losses, T ties counted as half a win each way: log((W + T/2) / (L + T/2)) */
static void test_half_win_pair(void **state) {
  (void)state;
  const double cases[][3] = {{7, 3, 4}, {2, 9, 5}, {1, 1, 10}, {30, 5, 0.5}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    double W = cases[k][0], L = cases[k][1], T = cases[k][2];
    pref_data d, half;
    int32_t w[3] = {0, 1, 1}, l[3] = {1, 0, 0};
    uint8_t t[3] = {0, 0, 1};
    double c[3] = {W, L, T};
    rows(&d, 2, 3, w, l, t, c);
    ps_msg m = {{0}};
    assert_int_equal(pref_data_resolve_ties(&d, PREF_TIES_HALF, &half, &m), PS_OK);
    pref_features f = fixtures_items_view(2);
    bt_options o = bt_options_default();
    o.tol = 1e-13;
    bt_result r = {0};
    assert_int_equal(bt_fit(&half, &f, &o, &r, &m), PS_OK);
    assert_close(r.theta[0] - r.theta[1], log((W + T / 2) / (L + T / 2)), 1e-10);
    bt_result_free(&r);
    pref_data_free(&half);
    pref_data_free(&d);
  }
}

/* A 2-item cell with scores (Delta/2, -Delta/2) and the given tie layer, n rows of the pair
 * (alternating orientation) for the Cramer-Rao rows. */
typedef struct {
  cell_sim s;
  double theta[2];
} pair_cell;

static void pair_cell_init(pair_cell *pc, noise_ties ties, double nu, double eta, double Delta, size_t n) {
  memset(pc, 0, sizeof *pc);
  cell_sim *s = &pc->s;
  pc->theta[0] = Delta / 2, pc->theta[1] = -Delta / 2;
  s->pt.world.kind = WORLD_ITEMS;
  s->pt.world.items = 2;
  s->pt.population.kind = POP_BT;
  s->pt.design.kind = DESIGN_UNIFORM;
  s->pt.noise = (noise_spec){.link = LINK_LOGISTIC, .temperature = 1, .flip = 0, .ties = ties, .nu = nu, .eta = eta};
  s->w.n_items = 2;
  s->pop.kind = POP_BT;
  s->pop.n_items = 2;
  s->pop.d = 2;
  s->pop.theta = pc->theta;
  s->pop.reward = pc->theta;
  s->f = fixtures_items_view(2);
  assert_int_equal(pref_data_alloc(&s->train, n, 2, 0, 0, 0), PS_OK);
  for (size_t i = 0; i < n; i++) s->train.winner[i] = (int32_t)(i % 2), s->train.loser[i] = (int32_t)(1 - i % 2);
}

static double theory_of(pair_cell *pc, const char *name) {
  cell_eval ev;
  memset(&ev, 0, sizeof ev);
  ev.sim = &pc->s;
  return theory_value(&ev, name);
}

/* the population limits of the shortcuts against their closed forms */
static void test_pseudo_true_pair(void **state) {
  (void)state;
  const double deltas[] = {-2.5, -0.3, 0.7, 3.0};
  for (int model = 0; model < 2; model++)
    for (size_t k = 0; k < 4; k++) {
      double Delta = deltas[k], nu = 1.3, eta = 0.6, pw, pt, pl, th[2];
      ties_model tm = model ? TIES_RAOKUPPER : TIES_DAVIDSON;
      ties_probs(tm, Delta, model ? eta : log(nu), &pw, &pt, &pl);
      pair_cell pc;
      pair_cell_init(&pc, model ? NOISE_TIES_RAOKUPPER : NOISE_TIES_DAVIDSON, nu, eta, Delta, 2);
      double half = log((pw + pt / 2) / (pl + pt / 2)), drop = log(pw / pl);
      assert_int_equal(eval_pooled_bt(&pc.s, PREF_TIES_HALF, th), PS_OK);
      assert_close(th[0] - th[1], half, 1e-10);
      assert_close(th[0] + th[1], 0, 1e-12);
      assert_int_equal(eval_pooled_bt(&pc.s, PREF_TIES_DROP, th), PS_OK);
      assert_close(th[0] - th[1], drop, 1e-10);
      if (!model) assert_close(drop, Delta, 1e-12); /* Davidson: the strict rows are BT */
      else assert_close(drop, ps_log_sigmoid(Delta - eta) - ps_log_sigmoid(-Delta - eta), 1e-12);
      /* the theory rows: slope <theta-dagger, theta*> / ||theta*||^2 = diff / Delta, bias the distance */
      assert_close(theory_of(&pc, "half_win_slope"), half / Delta, 1e-10);
      assert_close(theory_of(&pc, "drop_ties_slope"), drop / Delta, 1e-10);
      assert_close(theory_of(&pc, "half_win_bias"), fabs(half - Delta) / sqrt(2), 1e-10);
      assert_close(theory_of(&pc, "drop_ties_bias"), fabs(drop - Delta) / sqrt(2), 1e-10);
      pref_data_free(&pc.s.train);
    }
}

/* expected log-likelihood of the outcome distribution p0 under the model at (z, tau) */
static double expected_ll(ties_model tm, const double *p0, double z, double tau) {
  double pw, pt, pl;
  ties_probs(tm, z, tau, &pw, &pt, &pl);
  return p0[0] * log(pw) + p0[1] * log(pt) + p0[2] * log(pl);
}

static void test_fisher(void **state) {
  (void)state;
  const double zs[] = {-3.1, -0.4, 0, 0.9, 2.5};
  for (int model = 0; model < 2; model++)
    for (size_t k = 0; k < 5; k++) {
      ties_model tm = model ? TIES_RAOKUPPER : TIES_DAVIDSON;
      double z = zs[k], tau = model ? 0.8 : -0.4, p0[3], info[3], e = 1e-4;
      ties_probs(tm, z, tau, &p0[0], &p0[1], &p0[2]);
      ties_fisher(tm, z, tau, info);
      double f0 = expected_ll(tm, p0, z, tau);
      double hzz = (expected_ll(tm, p0, z + e, tau) - 2 * f0 + expected_ll(tm, p0, z - e, tau)) / (e * e);
      double htt = (expected_ll(tm, p0, z, tau + e) - 2 * f0 + expected_ll(tm, p0, z, tau - e)) / (e * e);
      double hzt = (expected_ll(tm, p0, z + e, tau + e) - expected_ll(tm, p0, z + e, tau - e) -
                    expected_ll(tm, p0, z - e, tau + e) + expected_ll(tm, p0, z - e, tau - e)) /
                   (4 * e * e);
      assert_close(info[0], -hzz, 1e-6);
      assert_close(info[1], -hzt, 1e-6);
      assert_close(info[2], -htt, 1e-6);
      assert_true(info[0] > 0 && info[2] > 0 && info[0] * info[2] > info[1] * info[1]);
    }
}

/* the Cramer-Rao rows on one pair asked n times */
static void test_crlb_pair(void **state) {
  (void)state;
  for (int model = 0; model < 2; model++) {
    double Delta = 1.2, nu = 0.8, eta = 0.5, tau = model ? eta : log(nu), info[3], pw, pt, pl;
    size_t n = 400;
    ties_model tm = model ? TIES_RAOKUPPER : TIES_DAVIDSON;
    pair_cell pc;
    pair_cell_init(&pc, model ? NOISE_TIES_RAOKUPPER : NOISE_TIES_DAVIDSON, nu, eta, Delta, n);
    ties_fisher(tm, Delta, tau, info);
    double a = (double)n * (info[0] - info[1] * info[1] / info[2]);
    assert_close(theory_of(&pc, "param_err_crlb"), sqrt(1 / (2 * a)), 1e-10);
    ties_probs(tm, Delta, tau, &pw, &pt, &pl);
    double g = Delta, gp = 1;
    if (model) g = ps_log_sigmoid(Delta - eta) - ps_log_sigmoid(-Delta - eta), gp = ps_sigmoid(eta - Delta) + ps_sigmoid(eta + Delta);
    double as = (double)n * (1 - pt) * ps_sigmoid_deriv(g) * gp * gp;
    assert_close(theory_of(&pc, "param_err_crlb_drop"), sqrt(1 / (2 * as)), 1e-10);
    pref_data_free(&pc.s.train);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_pair),   cmocka_unit_test(test_derivatives), cmocka_unit_test(test_recovery),
      cmocka_unit_test(test_errors),     cmocka_unit_test(test_data_layer),  cmocka_unit_test(test_bt_shortcuts),
      cmocka_unit_test(test_simulator),  cmocka_unit_test(test_half_win_pair), cmocka_unit_test(test_pseudo_true_pair),
      cmocka_unit_test(test_fisher),     cmocka_unit_test(test_crlb_pair),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
