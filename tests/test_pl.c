/* test_pl.c — Plackett-Luce rankings (core/rankdata, estimators/pl, cli/csv_rank)
 * against oracles:
 *   top-1 choices from the full set: theta_i = log c_i - mean_j log c_j;
 *   rankings of 2 are Bradley-Terry: the same MLE, covariance and log-likelihood as bt
 *   (items and features);
 *   at theta = 0 the information of one full ranking of k has trace k - H_k (and a
 *   top-m ranking of k: sum_{t<m} (1 - 1/(k - t)));
 *   finite-difference gradients and Hessians (items and features, top-k sets,
 *   counts, l2) and the Hessian-vector product against the dense Hessian;
 *   the CG path against the Cholesky path;
 *   recovery of a known truth (items, features) within 4 standard errors of the fit's
 *   own covariance;
 *   breaking counts; every error path of the rankings, the fit and the CSV fields;
 *   listwise DPO: finite differences, and on rankings of 2 dpo.h's pairwise DPO fit. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>

#include "test_util.h"
#include "../cli/csv.h"
#include "../core/rankdata.h"
#include "../estimators/bt.h"
#include "../estimators/dpo.h"
#include "../estimators/dpo_listwise.h"
#include "../estimators/pl.h"

/* n random rankings over m items: sets of size s drawn without replacement, the
 * first k ranked as PL draws under theta (Gumbel-max); counts when asked. */
static void sim_rankings(gsl_rng *g, rank_data *d, size_t n, size_t m, size_t s, size_t k, const double *theta,
                         int with_count) {
  assert_int_equal(rank_data_alloc(d, n, n * s, m, 0, with_count), PS_OK);
  int32_t *all = malloc(m * sizeof *all);
  double *u = malloc(s * sizeof *u);
  for (size_t i = 0; i < m; i++) all[i] = (int32_t)i;
  for (size_t r = 0; r < n; r++) {
    int32_t *it = d->item + r * s;
    gsl_ran_choose(g, it, s, all, m, sizeof *all);
    gsl_ran_shuffle(g, it, s, sizeof *it);
    for (size_t v = 0; v < s; v++) u[v] = (theta ? theta[it[v]] : 0) - log(-log(gsl_rng_uniform_pos(g)));
    /* sort the set by u, descending (insertion sort: s is small) */
    for (size_t a = 1; a < s; a++)
      for (size_t b = a; b > 0 && u[b] > u[b - 1]; b--) {
        double t = u[b];
        u[b] = u[b - 1], u[b - 1] = t;
        int32_t q = it[b];
        it[b] = it[b - 1], it[b - 1] = q;
      }
    d->off[r + 1] = (r + 1) * s;
    d->k[r] = (int32_t)k;
    if (with_count) d->count[r] = 0.5 + gsl_rng_uniform(g);
  }
  free(all);
  free(u);
}

static void test_top1_oracle(void **state) {
  (void)state;
  /* m = 4 items, c = (5, 2, 8, 1) top-1 choices from the full set */
  const double c[4] = {5, 2, 8, 1};
  rank_data d;
  assert_int_equal(rank_data_alloc(&d, 4, 16, 4, 0, 1), PS_OK);
  for (size_t r = 0; r < 4; r++) {
    d.item[4 * r] = (int32_t)r;
    for (size_t v = 1, o = 0; v < 4; o++)
      if (o != r) d.item[4 * r + v++] = (int32_t)o;
    d.off[r + 1] = 4 * (r + 1);
    d.k[r] = 1;
    d.count[r] = c[r];
  }
  pl_options o = pl_options_default();
  pl_result res;
  assert_int_equal(pl_check_items(&d, NULL, NULL), PS_OK);
  assert_int_equal(pl_fit(&d, NULL, &o, &res, NULL), PS_OK);
  double ml = 0;
  for (size_t i = 0; i < 4; i++) ml += log(c[i]) / 4;
  for (size_t i = 0; i < 4; i++) assert_close(res.theta[i], log(c[i]) - ml, 1e-9);
  /* loglik = sum_i c_i log(c_i / N) */
  double ll = 0;
  for (size_t i = 0; i < 4; i++) ll += c[i] * log(c[i] / 16);
  assert_close(res.loglik, ll, 1e-9);
  pl_result_free(&res);
  rank_data_free(&d);
}

static void test_pairs_are_bt(void **state) {
  (void)state;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 7);
  const size_t m = 6, n = 400;
  double th[6] = {0.8, -0.3, 0.1, 0.5, -1.0, -0.1};
  rank_data d;
  sim_rankings(g, &d, n, m, 2, 2, th, 1);
  pref_data p;
  assert_int_equal(rank_data_break(&d, RANK_BREAK_FULL, &p, NULL), PS_OK);
  assert_int_equal(p.n, n);
  pl_options o = pl_options_default();
  o.want_hessian = 1;
  pl_result a;
  assert_int_equal(pl_fit(&d, NULL, &o, &a, NULL), PS_OK);
  bt_options bo = bt_options_default();
  bo.want_hessian = 1;
  bt_result b;
  pref_features f = {.n_items = m, .d = m, .n_contexts = 1};
  assert_int_equal(bt_fit(&p, &f, &bo, &b, NULL), PS_OK);
  for (size_t i = 0; i < m; i++) assert_close(a.theta[i], b.theta[i], 1e-9);
  assert_close(a.loglik, b.loglik, 1e-9);
  double ca[36], cb[36];
  bt_result ba = {.d = m, .hessian = a.hessian};
  assert_int_equal(bt_covariance(&ba, &f, ca, NULL), PS_OK);
  assert_int_equal(bt_covariance(&b, &f, cb, NULL), PS_OK);
  for (size_t i = 0; i < m * m; i++) assert_close(ca[i], cb[i], 1e-9);
  pl_result_free(&a);
  bt_result_free(&b);
  pref_data_free(&p);
  rank_data_free(&d);
  gsl_rng_free(g);
}

/* features: rankings of 2 are feature BT (same theta, Hessian, loglik); top-3 of 6
 * recovery of a known theta within 4 SEs of the inverse observed information */
static void test_features(void **state) {
  (void)state;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 13);
  const size_t m = 30, dim = 4;
  double phi[120], w[4] = {0.6, -0.3, 0.9, 0.1}, U[30];
  for (size_t i = 0; i < m * dim; i++) phi[i] = gsl_ran_gaussian(g, 1);
  for (size_t i = 0; i < m; i++) {
    U[i] = 0;
    for (size_t k = 0; k < dim; k++) U[i] += phi[i * dim + k] * w[k];
  }
  pref_features f = {.n_items = m, .d = dim, .phi = phi, .n_contexts = 1};
  rank_data d;
  sim_rankings(g, &d, 500, m, 2, 2, U, 1);
  pref_data p;
  assert_int_equal(rank_data_break(&d, RANK_BREAK_FULL, &p, NULL), PS_OK);
  pl_options o = pl_options_default();
  o.want_hessian = 1;
  pl_result a;
  assert_int_equal(pl_fit(&d, &f, &o, &a, NULL), PS_OK);
  bt_options bo = bt_options_default();
  bo.want_hessian = 1;
  bt_result b;
  assert_int_equal(bt_fit(&p, &f, &bo, &b, NULL), PS_OK);
  for (size_t k = 0; k < dim; k++) assert_close(a.theta[k], b.theta[k], 1e-9);
  for (size_t k = 0; k < dim * dim; k++) assert_close(a.hessian[k], b.hessian[k], 1e-7 * (fabs(b.hessian[k]) + 1));
  assert_close(a.loglik, b.loglik, 1e-9);
  pl_result_free(&a);
  bt_result_free(&b);
  pref_data_free(&p);
  rank_data_free(&d);
  sim_rankings(g, &d, 3000, m, 6, 3, U, 0);
  assert_int_equal(pl_fit(&d, &f, &o, &a, NULL), PS_OK);
  double C[16];
  bt_result ba = {.d = dim, .hessian = a.hessian};
  assert_int_equal(bt_covariance(&ba, &f, C, NULL), PS_OK);
  for (size_t k = 0; k < dim; k++) {
    double se = sqrt(C[k * dim + k]);
    assert_true(se > 0.003 && se < 0.1);
    assert_close(a.theta[k], w[k], 4 * se);
  }
  pl_result_free(&a);
  rank_data_free(&d);
  gsl_rng_free(g);
}

static void test_information_trace(void **state) {
  (void)state;
  for (size_t k = 2; k <= 8; k++)
    for (size_t top = 1; top <= k; top++) {
      rank_data d;
      assert_int_equal(rank_data_alloc(&d, 1, k, k, 0, 0), PS_OK);
      for (size_t v = 0; v < k; v++) d.item[v] = (int32_t)(k - 1 - v); /* any order: theta = 0 */
      d.off[1] = k;
      d.k[0] = (int32_t)top;
      double th[8] = {0}, H[64];
      pl_objective(&d, NULL, 0, th, NULL, H, NULL);
      double tr = 0, want = 0;
      for (size_t i = 0; i < k; i++) tr += H[i * k + i];
      size_t T = top < k - 1 ? top : k - 1;
      for (size_t t = 0; t < T; t++) want += 1 - 1.0 / (double)(k - t);
      assert_close(tr, want, 1e-12);
      if (T == k - 1) { /* full: k - H_k */
        double Hk = 0;
        for (size_t j = 1; j <= k; j++) Hk += 1.0 / (double)j;
        assert_close(tr, (double)k - Hk, 1e-12);
      }
      rank_data_free(&d);
    }
}

/* central differences of f (gradient) and of the gradient (Hessian) */
static void check_derivatives(const rank_data *d, const pref_features *f, double l2, const double *theta, size_t D) {
  double *g = malloc(D * sizeof *g), *H = malloc(D * D * sizeof *H), *x = malloc(D * sizeof *x);
  double *gp = malloc(D * sizeof *gp), *gm = malloc(D * sizeof *gm), *v = malloc(D * sizeof *v),
         *Hv = malloc(D * sizeof *Hv);
  double f0 = pl_objective(d, f, l2, theta, g, H, NULL);
  assert_true(isfinite(f0));
  const double h = 1e-5;
  for (size_t k = 0; k < D; k++) {
    memcpy(x, theta, D * sizeof *x);
    x[k] = theta[k] + h;
    double fp = pl_objective(d, f, l2, x, gp, NULL, NULL);
    x[k] = theta[k] - h;
    double fm = pl_objective(d, f, l2, x, gm, NULL, NULL);
    double scale = fabs(f0) + 1;
    assert_close(g[k], (fp - fm) / (2 * h), 1e-6 * scale);
    for (size_t l = 0; l < D; l++) assert_close(H[l * D + k], (gp[l] - gm[l]) / (2 * h), 1e-5 * scale);
  }
  for (size_t k = 0; k < D; k++) v[k] = sin(1.0 + (double)k);
  assert_int_equal(pl_hessian_vector(d, f, l2, theta, v, Hv), PS_OK);
  for (size_t k = 0; k < D; k++) {
    double acc = 0;
    for (size_t l = 0; l < D; l++) acc += H[k * D + l] * v[l];
    assert_close(Hv[k], acc, 1e-10 * (fabs(acc) + 1));
  }
  free(g), free(H), free(x), free(gp), free(gm), free(v), free(Hv);
}

static void test_fd_items_features(void **state) {
  (void)state;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 11);
  const size_t m = 7, dim = 3;
  double th[7], phi[21], w[3] = {0.4, -0.7, 0.2};
  for (size_t i = 0; i < m; i++) th[i] = gsl_ran_gaussian(g, 1);
  for (size_t i = 0; i < m * dim; i++) phi[i] = gsl_ran_gaussian(g, 1);
  rank_data d;
  sim_rankings(g, &d, 30, m, 5, 3, th, 1); /* top-3 of 5, with counts */
  d.k[0] = 5, d.k[1] = 4, d.k[2] = 1;      /* and a full one, a k = s - 1 one and a top-1 */
  check_derivatives(&d, NULL, 0, th, m);
  check_derivatives(&d, NULL, 0.3, th, m);
  pref_features f = {.n_items = m, .d = dim, .phi = phi, .n_contexts = 1};
  check_derivatives(&d, &f, 0, w, dim);
  check_derivatives(&d, &f, 0.5, w, dim);
  rank_data_free(&d);
  gsl_rng_free(g);
}

static void test_cg_matches_dense(void **state) {
  (void)state;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 3);
  const size_t m = 40;
  double th[40];
  for (size_t i = 0; i < m; i++) th[i] = gsl_ran_gaussian(g, 0.7);
  rank_data d;
  sim_rankings(g, &d, 3000, m, 5, 5, th, 0);
  pl_options o = pl_options_default();
  pl_result a, b;
  assert_int_equal(pl_fit(&d, NULL, &o, &a, NULL), PS_OK);
  o.dense_max = 10; /* CG for 40 items */
  assert_int_equal(pl_fit(&d, NULL, &o, &b, NULL), PS_OK);
  assert_true(b.cg_iterations > 0);
  for (size_t i = 0; i < m; i++) assert_close(a.theta[i], b.theta[i], 1e-8);
  assert_close(a.loglik, b.loglik, 1e-8);
  pl_result_free(&a);
  pl_result_free(&b);
  rank_data_free(&d);
  gsl_rng_free(g);
}

/* the fit's own covariance: 4 SE bands on every centred score (a 6e-5 chance each) */
static void test_recovery(void **state) {
  (void)state;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 5);
  const size_t m = 10;
  double th[10], mean = 0;
  for (size_t i = 0; i < m; i++) mean += th[i] = 0.3 * (double)i - 1;
  for (size_t i = 0; i < m; i++) th[i] -= mean / (double)m;
  rank_data d;
  sim_rankings(g, &d, 2000, m, 6, 3, th, 0); /* top-3 of 6 */
  pl_options o = pl_options_default();
  o.want_hessian = 1;
  pl_result r;
  assert_int_equal(pl_fit(&d, NULL, &o, &r, NULL), PS_OK);
  double C[100];
  bt_result br = {.d = m, .hessian = r.hessian};
  pref_features f = {.n_items = m, .d = m, .n_contexts = 1};
  assert_int_equal(bt_covariance(&br, &f, C, NULL), PS_OK);
  for (size_t i = 0; i < m; i++) {
    double se = sqrt(C[i * m + i]);
    assert_true(se > 0.01 && se < 0.2);
    assert_close(r.theta[i], th[i], 4 * se);
  }
  pl_result_free(&r);
  rank_data_free(&d);
  gsl_rng_free(g);
}

static void test_breaking(void **state) {
  (void)state;
  rank_data d;
  assert_int_equal(rank_data_alloc(&d, 2, 8, 5, 0, 0), PS_OK);
  int32_t it[8] = {0, 1, 2, 3, /* full of 4 */ 4, 2, 0, 1 /* top-2 of 4 */};
  memcpy(d.item, it, sizeof it);
  d.off[1] = 4, d.off[2] = 8, d.k[0] = 4, d.k[1] = 2;
  assert_int_equal(rank_data_check(&d, NULL), PS_OK);
  pref_data p;
  assert_int_equal(rank_data_break(&d, RANK_BREAK_FULL, &p, NULL), PS_OK);
  assert_int_equal(p.n, 6 + 5);
  assert_int_equal(p.winner[6], 4);
  assert_int_equal(p.loser[10], 1);
  pref_data_free(&p);
  assert_int_equal(rank_data_break(&d, RANK_BREAK_ADJACENT, &p, NULL), PS_OK);
  assert_int_equal(p.n, 3 + 3); /* 0>1 1>2 2>3; 4>2, 2>0, 2>1 */
  assert_int_equal(p.winner[4], 2);
  assert_int_equal(p.loser[5], 1);
  pref_data_free(&p);
  rank_data_free(&d);
}

static void test_errors(void **state) {
  (void)state;
  rank_data d;
  ps_msg m;
  assert_int_equal(rank_data_alloc(&d, 1, 3, 3, 0, 1), PS_OK);
  int32_t it[3] = {0, 1, 2};
  memcpy(d.item, it, sizeof it);
  d.off[1] = 3, d.k[0] = 3, d.count[0] = 1;
  assert_int_equal(rank_data_check(&d, &m), PS_OK);
  d.item[2] = 0;
  assert_int_equal(rank_data_check(&d, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "twice"));
  d.item[2] = 3;
  assert_int_equal(rank_data_check(&d, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "out of range"));
  d.item[2] = 2, d.k[0] = 0;
  assert_int_equal(rank_data_check(&d, &m), PS_EINVAL);
  d.k[0] = 3, d.count[0] = NAN;
  assert_int_equal(rank_data_check(&d, &m), PS_EINVAL);
  d.count[0] = 1, d.off[1] = 1;
  assert_int_equal(rank_data_check(&d, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "at least 2"));
  d.off[1] = 3;
  /* no MLE: item 2 always last */
  assert_int_equal(pl_check_items(&d, NULL, &m), PS_ENOMLE);
  pl_options o = pl_options_default();
  pl_result r;
  double phi[3] = {1, NAN, 0};
  pref_features f = {.n_items = 3, .d = 1, .phi = phi, .n_contexts = 1};
  assert_int_equal(pl_fit(&d, &f, &o, &r, &m), PS_EDOM);
  pl_result_free(&r);
  f.n_items = 4;
  assert_int_equal(pl_fit(&d, &f, &o, &r, &m), PS_EINVAL);
  pl_result_free(&r);
  d.item[2] = 0;
  assert_int_equal(pl_fit(&d, NULL, &o, &r, &m), PS_EINVAL);
  pl_result_free(&r);
  rank_data_free(&d);
}

/* listwise DPO: finite differences of F, and on full rankings of 2 the pairwise DPO
 * fit of dpo.h (features in contexts, and tabular) */
static void test_dpo_listwise(void **state) {
  (void)state;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 21);
  const size_t C = 6, M = 4, n_items = C * M, dim = 3;
  double phi[24 * 3], w[3] = {0.5, -0.4, 0.8};
  int32_t ctx[24];
  for (size_t i = 0; i < n_items * dim; i++) phi[i] = gsl_ran_gaussian(g, 1);
  for (size_t i = 0; i < n_items; i++) ctx[i] = (int32_t)(i / M);
  pref_features f = {.n_items = n_items, .d = dim, .phi = phi, .n_contexts = C, .item_context = ctx};
  /* 300 full rankings of 3 of a context's 4 responses (for the FD), and 400 pairs */
  rank_data d;
  assert_int_equal(rank_data_alloc(&d, 300, 900, n_items, 0, 0), PS_OK);
  for (size_t r = 0; r < 300; r++) {
    size_t c0 = gsl_rng_uniform_int(g, C) * M;
    int32_t base[4] = {(int32_t)c0, (int32_t)c0 + 1, (int32_t)c0 + 2, (int32_t)c0 + 3};
    gsl_ran_shuffle(g, base, 4, sizeof *base);
    memcpy(d.item + 3 * r, base, 3 * sizeof *base);
    d.off[r + 1] = 3 * (r + 1);
    d.k[r] = 3;
  }
  const double beta = 0.5, l2 = 0.3, h = 1e-5;
  double gr[3], H[9], x[3], gp[3], gm[3];
  double f0 = dpo_listwise_objective(&d, &f, beta, l2, w, gr, H);
  for (size_t k = 0; k < dim; k++) {
    memcpy(x, w, sizeof x);
    x[k] += h;
    double fp = dpo_listwise_objective(&d, &f, beta, l2, x, gp, NULL);
    x[k] -= 2 * h;
    double fm = dpo_listwise_objective(&d, &f, beta, l2, x, gm, NULL);
    assert_close(gr[k], (fp - fm) / (2 * h), 1e-6 * (fabs(f0) + 1));
    for (size_t l = 0; l < dim; l++) assert_close(H[l * dim + k], (gp[l] - gm[l]) / (2 * h), 1e-5 * (fabs(f0) + 1));
  }
  rank_data_free(&d);
  /* pairs within contexts, labelled by P = sigma(beta w^T (phi_a - phi_b)) */
  pref_data p;
  assert_int_equal(pref_data_alloc(&p, 400, n_items, 0, 0, 0), PS_OK);
  for (size_t i = 0; i < 400; i++) {
    size_t c0 = gsl_rng_uniform_int(g, C) * M, a = gsl_rng_uniform_int(g, M), b = (a + 1 + gsl_rng_uniform_int(g, M - 1)) % M;
    double z = 0;
    for (size_t k = 0; k < dim; k++) z += w[k] * (phi[(c0 + a) * dim + k] - phi[(c0 + b) * dim + k]);
    int aw = gsl_rng_uniform(g) < 1 / (1 + exp(-beta * z));
    p.winner[i] = (int32_t)(c0 + (aw ? a : b));
    p.loser[i] = (int32_t)(c0 + (aw ? b : a));
  }
  assert_int_equal(rank_data_from_pairs(&p, &d, NULL), PS_OK);
  for (int tabular = 0; tabular < 2; tabular++) {
    pref_features ft = f;
    if (tabular) ft.phi = NULL, ft.d = n_items;
    dpo_options o = dpo_options_default();
    o.beta = beta;
    o.l2 = 0.05;
    dpo_result dr;
    assert_int_equal(dpo_fit(&p, &ft, &o, NULL, &dr, NULL), PS_OK);
    pl_options po = pl_options_default();
    po.l2 = 0.05;
    pl_result lr;
    assert_int_equal(dpo_listwise_fit(&d, &ft, beta, &po, &lr, NULL), PS_OK);
    assert_int_equal(lr.d, dr.dim);
    for (size_t k = 0; k < lr.d; k++) assert_close(lr.theta[k], dr.theta[k], 1e-7);
    assert_close(lr.objective, dr.objective, 1e-7);
    dpo_result_free(&dr);
    pl_result_free(&lr);
  }
  pl_options po = pl_options_default();
  pl_result lr;
  assert_int_equal(dpo_listwise_fit(&d, &f, 0, &po, &lr, NULL), PS_EINVAL);
  pl_result_free(&lr);
  rank_data_free(&d);
  pref_data_free(&p);
  gsl_rng_free(g);
}

static int parse(const char *text, csv_comparisons *c, ps_msg *m) {
  return csv_parse_comparisons("t.csv", text, strlen(text), c, m);
}

static void expect_error(const char *text, const char *needle) {
  csv_comparisons c;
  ps_msg m = {{0}};
  int s = parse(text, &c, &m);
  if (s != PS_EFORMAT || !strstr(m.text, needle)) {
    print_error("input:\n%s\nstatus %d, message '%s', expected '%s'\n", text, s, m.text, needle);
    fail();
  }
}

static void test_csv(void **state) {
  (void)state;
  csv_comparisons c;
  ps_msg m = {{0}};
  assert_int_equal(parse("annotator,set,ranking,count\nx,b|a|c|d,a>c,2\ny,,c>b>a,1\nx,a|d,d,1\n", &c, &m), PS_OK);
  assert_int_equal(c.rank.n, 3);
  assert_int_equal(c.data.n, 0);
  assert_int_equal(c.data.n_items, 4);
  assert_string_equal(c.item_name[0], "b"); /* the set column comes first */
  assert_int_equal(c.rank.k[0], 2);
  assert_int_equal(rank_size(&c.rank, 0), 4);
  assert_int_equal(c.rank.item[0], 1); /* a, c, then b, d */
  assert_int_equal(c.rank.item[1], 2);
  assert_int_equal(c.rank.k[1], 3);
  assert_int_equal(c.rank.k[2], 1);
  assert_int_equal(c.rank.item[c.rank.off[2]], 3);
  assert_int_equal(c.rank.n_annotators, 2);
  assert_close(c.rank.count[0], 2, 0);
  assert_int_equal(rank_data_check(&c.rank, NULL), PS_OK);
  csv_comparisons_free(&c);
  expect_error("ranking\na>b>a\n", "t.csv:2: ranking 'a>b>a' (column 1) repeats an item");
  expect_error("ranking\n\"\"\n", "t.csv:2: empty ranking (column 1)");
  expect_error("ranking,set\na>e,a|b|c\n", "t.csv:2: ranking 'a>e' (column 1) ranks an item outside its set 'a|b|c' (column 2)");
  expect_error("ranking\nb>c\na\n", "t.csv:3: ranking 'a' (column 1) has one item");
  expect_error("x,ranking\n1,a>>b\n", "t.csv:2: ranking 'a>>b' (column 2) has an empty item name");
  expect_error("ranking,set\na,a|a|b\n", "t.csv:2: set 'a|a|b' (column 2) lists an item twice");
  expect_error("ranking,set\na,a\n", "t.csv:2: set 'a' (column 2) offers one item");
  expect_error("ranking,winner\na>b,a\n", "t.csv:1: the header has a 'ranking' column and a 'winner' column");
  expect_error("set,count\na|b,1\n", "t.csv:1: the header has a 'set' column but no 'ranking' column");
  expect_error("ranking\n", "t.csv:1: the header is not followed by any data rows");
  expect_error("ranking,count\na>b,0\n", "count '0' (column 2) is not positive");
  expect_error("ranking,count\na>b\n", "t.csv:2: 1 field, but the header (line 1) has 2");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_top1_oracle),      cmocka_unit_test(test_pairs_are_bt),
      cmocka_unit_test(test_information_trace), cmocka_unit_test(test_fd_items_features),
      cmocka_unit_test(test_cg_matches_dense), cmocka_unit_test(test_recovery),
      cmocka_unit_test(test_breaking),         cmocka_unit_test(test_errors),
      cmocka_unit_test(test_csv),              cmocka_unit_test(test_dpo_listwise),
      cmocka_unit_test(test_features),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
