/* test_rankings.c — rankings in simulation (sim/design.c design_simulate_rankings), the
 * exact expected Plackett-Luce information (pl_expected_information) and the ranking
 * estimators behind the registry (fit_rank, se, dpo_listwise), against oracles:
 *   the simulator's ranking frequencies against the exact Plackett-Luce probabilities of a
 *   4-item world (full, top-1 and top-2 rankings of 3; flips; the complete design; the policy
 *   design's successive sampling from pi_ref), by
 *   Pearson's chi-square at the 1e-6 upper quantile of its chi^2_{J-1} law (J the cells);
 *   rankings of 2 against the pair model of each noise layer (probit, flips, careless annotators
 *   with a position bias);
 *   the expected information: k - H_k at u = 0 for full rankings, sum_{t<m} (1 - 1/(k-t))
 *   for top-m, and at random utilities the probability-weighted sum over all k! orders of
 *   pl_objective's Hessian of each (the definition of the expectation);
 *   dpo_listwise through the registry: theta = pl's theta / beta, se = pl's se / beta, and
 *   its loss's gradient by central differences; bt's se against bt_covariance;
 *   the MLP listwise loss: central differences of its gradient, on rankings of 2 the pairwise
 *   DPO MLP objective (dpo_mlp_objective) exactly, and an Adam fit through the registry that
 *   lowers the loss below the Glorot start and predicts the true order better than chance. */
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>

#include "test_util.h"
#include "../core/rng.h"
#include "../estimators/bt.h"
#include "../estimators/dpo_listwise.h"
#include "../estimators/estimator.h"
#include "../estimators/pl.h"
#include "../sim/sim.h"

/* P(order) of Plackett-Luce with the first `stages` choices of items it[0..s) at utility u */
static double pl_prob(const double *u, const int32_t *it, size_t s, size_t stages) {
  double p = 1;
  for (size_t t = 0; t < stages; t++) {
    double z = 0;
    for (size_t v = t; v < s; v++) z += exp(u[it[v]]);
    p *= exp(u[it[t]]) / z;
  }
  return p;
}

/* cell index of a ranking of items of {0..3}: the offered set (bit mask) and its ranked prefix */
static size_t cell_of(const int32_t *it, size_t s, size_t ranked) {
  size_t mask = 0, code = 0;
  for (size_t v = 0; v < s; v++) mask |= (size_t)1 << it[v];
  for (size_t v = 0; v < ranked; v++) code = code * 4 + (size_t)it[v];
  return mask * 256 + code;
}

/* Chi-square of n simulated rankings of 3 of 4 items against PL, for one design and noise */
static void check_frequencies(size_t top, double flip, design_kind kind) {
  const size_t n = 60000, M = 4, k = 3, ranked = top ? top : k, stages = ranked < k - 1 ? ranked : k - 1;
  world_spec ws = {.kind = WORLD_ITEMS, .items = M};
  population_spec ps = {.kind = POP_BT, .scale = 1.0};
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = flip};
  design_spec ds = {.kind = kind, .ranking = k, .top = top, .ref_temperature = 0.7, .ref = REF_REWARD};
  world w;
  population p;
  gsl_rng *r = ps_rng_alloc(), *rj = ps_rng_alloc();
  ps_msg m = {{0}};
  ps_rng_reset(r, 7, PS_STREAM_WORLD, 0, 0, 0);
  assert_int_equal(world_alloc(&w, &ws, r, &m), PS_OK);
  ps_rng_reset(r, 7, PS_STREAM_POPULATION, 0, 0, 0);
  assert_int_equal(population_alloc(&p, &w, &ps, r, &m), PS_OK);
  rank_data d;
  ps_rng_reset(r, 7, PS_STREAM_QUERIES, 0, 0, 0);
  ps_rng_reset(rj, 7, PS_STREAM_JUDGEMENTS, 0, 0, 0);
  assert_int_equal(design_simulate_rankings(&d, n, &w, &p, &ns, &ds, 0, 0, r, rj, &m), PS_OK);
  assert_int_equal(rank_data_check(&d, &m), PS_OK);
  /* observed counts per (set, ranked prefix); the complete design offers each set n/4 times */
  static double obs[16 * 256];
  memset(obs, 0, sizeof obs);
  double set_count[16] = {0};
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(rank_size(&d, i), k);
    assert_int_equal(d.k[i], (int32_t)ranked);
    const int32_t *it = d.item + d.off[i];
    obs[cell_of(it, k, ranked)] += 1;
    size_t mask = 0;
    for (size_t v = 0; v < k; v++) mask |= (size_t)1 << it[v];
    set_count[mask] += 1;
  }
  if (kind == DESIGN_COMPLETE)
    for (size_t mask = 0; mask < 16; mask++)
      if (set_count[mask] > 0) assert_close(set_count[mask], (double)n / 4, 0.5);
  /* the offered set's law: 1/4 each (uniform, complete), or successive sampling from pi_ref
   * (policy: the probability of each order of draws, summed over the orders of the set) */
  double pset[16] = {0};
  if (kind == DESIGN_POLICY) {
    double lr[4], pr[4];
    assert_int_equal(design_log_ref(&w, &p, &ds, r, lr, &m), PS_OK);
    for (size_t j = 0; j < 4; j++) pr[j] = exp(lr[j]);
    for (size_t a = 0; a < 4; a++)
      for (size_t b = 0; b < 4; b++)
        for (size_t c = 0; c < 4; c++)
          if (a != b && a != c && b != c)
            pset[(1u << a) | (1u << b) | (1u << c)] += pr[a] * pr[b] / (1 - pr[a]) * pr[c] / (1 - pr[a] - pr[b]);
  } else {
    for (size_t mask = 0; mask < 16; mask++) pset[mask] = __builtin_popcount((unsigned)mask) == 3 ? 0.25 : 0;
  }
  /* expected: each set with its law, each ordered prefix with the PL probability of those
   * choices, mixed with a uniform order at rate 2 flip */
  double X2 = 0;
  size_t J = 0;
  for (int32_t a = 0; a < 4; a++)
    for (int32_t b = 0; b < 4; b++)
      for (int32_t c = 0; c < 4; c++) {
        if (a == b || a == c || b == c) continue;
        int32_t it[3] = {a, b, c};
        /* one cell per distinct ranked prefix: skip orders of the unranked tail but one */
        if (ranked < 3 && ranked == 1 && b > c) continue;
        double pr = pl_prob(p.reward, it, k, stages);
        double perms = ranked == 1 ? 3 : 6; /* distinct prefixes per set */
        double q = pset[(1u << a) | (1u << b) | (1u << c)] * ((1 - 2 * flip) * pr + 2 * flip / perms);
        size_t cell = cell_of(it, k, ranked);
        double e = (double)n * q;
        X2 += (obs[cell] - e) * (obs[cell] - e) / e;
        J++;
      }
  assert_int_equal(J, ranked == 1 ? 12 : 24);
  double crit = gsl_cdf_chisq_Qinv(1e-6, (double)(J - 1));
  if (!(X2 < crit)) print_error("top %zu flip %g design %d: X2 = %g >= %g (J = %zu)\n", top, flip, (int)kind, X2, crit, J);
  assert_true(X2 < crit);
  rank_data_free(&d);
  population_free(&p);
  world_free(&w);
  gsl_rng_free(r);
  gsl_rng_free(rj);
}

static void test_simulator_frequencies(void **state) {
  (void)state;
  check_frequencies(0, 0, DESIGN_UNIFORM); /* full rankings */
  check_frequencies(1, 0, DESIGN_UNIFORM); /* top-1 choices from 3 */
  check_frequencies(2, 0, DESIGN_UNIFORM); /* top-2 of 3: the same information as full */
  check_frequencies(0, 0.1, DESIGN_UNIFORM);
  check_frequencies(0, 0, DESIGN_COMPLETE);
  check_frequencies(1, 0, DESIGN_POLICY); /* sets by successive sampling from pi_ref */
}

/* Rankings of 2 of a 2-item world: P(item 0 ranked first) against the pair model of every
 * layer — probit (Thurstone: Phi(Delta/T)), flips (eps + (1 - 2 eps) q), careless annotators with a
 * position bias (c F + (1 - c)/2 over a uniform presentation order) — within 5 binomial sd
 * (deterministic seeds; a correct simulator fails one of these with probability ~6e-7). */
static void check_pair_marginal(link_kind link, double flip, double competence, double bias) {
  const size_t n = 200000;
  world_spec ws = {.kind = WORLD_ITEMS, .items = 2};
  population_spec ps = {.kind = POP_BT, .scale = 1.5, .annotators = competence < 1 ? 3 : 0,
                        .competence = competence, .bias = bias, .careless_competence = 0.6};
  noise_spec ns = {.link = link, .temperature = 0.8, .flip = flip};
  design_spec ds = {.kind = DESIGN_UNIFORM, .ranking = 2};
  world w;
  population p;
  gsl_rng *r = ps_rng_alloc(), *rj = ps_rng_alloc();
  ps_msg m = {{0}};
  ps_rng_reset(r, 11, PS_STREAM_WORLD, 0, 0, 0);
  assert_int_equal(world_alloc(&w, &ws, r, &m), PS_OK);
  ps_rng_reset(r, 11, PS_STREAM_POPULATION, 0, 0, 0);
  assert_int_equal(population_alloc(&p, &w, &ps, r, &m), PS_OK);
  rank_data d;
  ps_rng_reset(r, 11, PS_STREAM_QUERIES, 0, 0, 0);
  ps_rng_reset(rj, 11, PS_STREAM_JUDGEMENTS, 0, 0, 0);
  size_t H = p.n_train_users;
  assert_int_equal(design_simulate_rankings(&d, n, &w, &p, &ns, &ds, 0, H, r, rj, &m), PS_OK);
  double z = (p.reward[0] - p.reward[1]) / ns.temperature;
  double F = link == LINK_PROBIT ? gsl_cdf_ugaussian_P(z) : 1 / (1 + exp(-z)), want = 0, wins = 0;
  for (size_t h = 0; h < (H ? H : 1); h++) { /* annotators in turn: the mean of their laws */
    double c = H ? p.competence[h] : 1;
    want += (flip + (1 - 2 * flip) * (c * F + (1 - c) / 2)) / (double)(H ? H : 1);
  }
  for (size_t i = 0; i < n; i++) wins += d.item[d.off[i]] == 0;
  double sd = sqrt(want * (1 - want) / (double)n);
  if (!(fabs(wins / (double)n - want) <= 5 * sd))
    print_error("link %d flip %g competence %g: %g vs %g (sd %g)\n", (int)link, flip, competence, wins / (double)n,
                want, sd);
  assert_true(fabs(wins / (double)n - want) <= 5 * sd);
  rank_data_free(&d);
  population_free(&p);
  world_free(&w);
  gsl_rng_free(r);
  gsl_rng_free(rj);
}

static void test_simulator_layers(void **state) {
  (void)state;
  check_pair_marginal(LINK_PROBIT, 0, 1, 0);
  check_pair_marginal(LINK_LOGISTIC, 0.15, 1, 0);
  check_pair_marginal(LINK_LOGISTIC, 0.1, 0.7, 1.0);
  check_pair_marginal(LINK_PROBIT, 0, 0.5, 2.0);
}

static void test_simulator_errors(void **state) {
  (void)state;
  world_spec ws = {.kind = WORLD_ITEMS, .items = 4};
  population_spec ps = {.kind = POP_BT, .scale = 1.0};
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1};
  world w;
  population p;
  gsl_rng *r = ps_rng_alloc();
  ps_msg m = {{0}};
  ps_rng_reset(r, 1, PS_STREAM_WORLD, 0, 0, 0);
  assert_int_equal(world_alloc(&w, &ws, r, &m), PS_OK);
  assert_int_equal(population_alloc(&p, &w, &ps, r, &m), PS_OK);
  rank_data d;
  design_spec ds = {.kind = DESIGN_UNIFORM, .ranking = 5};
  assert_int_equal(design_simulate_rankings(&d, 10, &w, &p, &ns, &ds, 0, 0, r, r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "ranking = 5"));
  ds.ranking = 3, ds.top = 3;
  assert_int_equal(design_simulate_rankings(&d, 10, &w, &p, &ns, &ds, 0, 0, r, r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "top = 3"));
  ds.top = 0;
  ns.ties = NOISE_TIES_DAVIDSON;
  assert_int_equal(design_simulate_rankings(&d, 10, &w, &p, &ns, &ds, 0, 0, r, r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "ties"));
  population_free(&p);
  world_free(&w);
  gsl_rng_free(r);
}

/* the expectation over all k! orders of the observed Hessian, by brute force */
static void test_expected_information(void **state) {
  (void)state;
  for (size_t k = 2; k <= 8; k++) {
    double u0[8] = {0}, Hk = 0;
    for (size_t j = 1; j <= k; j++) Hk += 1.0 / (double)j;
    assert_close(pl_expected_information(u0, k, k - 1, NULL), (double)k - Hk, 1e-12);
    for (size_t top = 1; top < k - 1; top++) {
      double want = 0;
      for (size_t t = 0; t < top; t++) want += 1 - 1.0 / (double)(k - t);
      assert_close(pl_expected_information(u0, k, top, NULL), want, 1e-12);
    }
  }
  const double u[5] = {0.7, -1.2, 0.1, 1.5, -0.3};
  for (size_t k = 3; k <= 5; k++)
    for (size_t stages = 1; stages < k; stages++) {
      double I[25], E[25] = {0}, H[25], tr = pl_expected_information(u, k, stages, I), total = 0;
      /* every order of 0..k-1 (Heap's algorithm over a copy) */
      int32_t perm[5] = {0, 1, 2, 3, 4}, c[5] = {0};
      rank_data d;
      assert_int_equal(rank_data_alloc(&d, 1, k, k, 0, 0), PS_OK);
      d.off[1] = k;
      d.k[0] = (int32_t)stages;
      size_t i = 0;
      for (int go = 1; go;) {
        double pr = pl_prob(u, perm, k, stages);
        /* orders that differ only below the ranked stages are one outcome: count each once */
        int canonical = 1;
        for (size_t v = stages + 1; v < k; v++) canonical &= perm[v - 1] < perm[v];
        if (canonical) {
          memcpy(d.item, perm, k * sizeof *perm);
          pl_objective(&d, NULL, 0, u, NULL, H, NULL);
          for (size_t q = 0; q < k * k; q++) E[q] += pr * H[q];
          total += pr;
        }
        while (i < k && c[i] >= (int32_t)i) c[i++] = 0;
        if (i >= k) {
          go = 0;
          break;
        }
        size_t sw = i % 2 ? (size_t)c[i] : 0;
        int32_t t = perm[sw];
        perm[sw] = perm[i];
        perm[i] = t;
        c[i]++;
        i = 0;
      }
      assert_close(total, 1, 1e-12);
      double trE = 0;
      for (size_t q = 0; q < k * k; q++) assert_close(I[q], E[q], 1e-12);
      for (size_t q = 0; q < k; q++) trE += E[q * k + q];
      assert_close(tr, trE, 1e-12);
      rank_data_free(&d);
    }
  double big[PL_INFO_MAX_SET + 1] = {0};
  assert_true(isnan(pl_expected_information(big, PL_INFO_MAX_SET + 1, 2, NULL)));
}

/* a fitted estimator from the registry with its default hyperparameters but beta */
static est_model *fit_rank_by_name(const char *name, const char *beta, const rank_data *d, const pref_features *f) {
  const est_type *t = est_lookup(name);
  assert_non_null(t);
  assert_non_null(t->fit_rank);
  const char *hyper[16];
  size_t np = 0;
  for (; t->params[np].key; np++) hyper[np] = !strcmp(t->params[np].key, "beta") ? beta : t->params[np].def;
  est_model *e = NULL;
  ps_msg m = {{0}};
  assert_int_equal(t->alloc(&e, hyper, &m), PS_OK);
  est_fit_info info;
  int s = t->fit_rank(e, d, f, NULL, &info, &m);
  if (s) print_error("%s: %s\n", name, m.text);
  assert_int_equal(s, PS_OK);
  return e;
}

static void test_listwise_estimator(void **state) {
  (void)state;
  /* a feature world ranked by the simulator: 5 of 6 responses, 800 rankings */
  world_spec ws = {.kind = WORLD_FEATURES, .contexts = 40, .responses = 6, .dim = 3, .feature_scale = 1};
  population_spec ps = {.kind = POP_BT, .norm = 1};
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1};
  design_spec ds = {.kind = DESIGN_UNIFORM, .ranking = 5};
  world w;
  population p;
  gsl_rng *r = ps_rng_alloc(), *rj = ps_rng_alloc();
  ps_msg m = {{0}};
  ps_rng_reset(r, 3, PS_STREAM_WORLD, 0, 0, 0);
  assert_int_equal(world_alloc(&w, &ws, r, &m), PS_OK);
  ps_rng_reset(r, 3, PS_STREAM_POPULATION, 0, 0, 0);
  assert_int_equal(population_alloc(&p, &w, &ps, r, &m), PS_OK);
  rank_data d;
  ps_rng_reset(r, 3, PS_STREAM_QUERIES, 0, 0, 0);
  ps_rng_reset(rj, 3, PS_STREAM_JUDGEMENTS, 0, 0, 0);
  assert_int_equal(design_simulate_rankings(&d, 800, &w, &p, &ns, &ds, 0, 0, r, rj, &m), PS_OK);
  pref_features f = world_features(&w);
  const est_type *tl = est_lookup("dpo_listwise"), *tp = est_lookup("pl");
  est_model *lw = fit_rank_by_name("dpo_listwise", "0.5", &d, &f), *pl = fit_rank_by_name("pl", "0.5", &d, &f);
  size_t dl, dp;
  const double *thl = tl->theta(lw, &dl), *thp = tp->theta(pl, &dp);
  assert_int_equal(dl, 3);
  assert_int_equal(dp, 3);
  double sel[3], sep[3];
  assert_int_equal(tl->se(lw, sel, &m), PS_OK);
  assert_int_equal(tp->se(pl, sep, &m), PS_OK);
  for (size_t k = 0; k < 3; k++) {
    assert_close(thl[k], thp[k] / 0.5, 1e-8);
    assert_close(sel[k], sep[k] / 0.5, 1e-10);
    assert_true(sep[k] > 0 && sep[k] < 1);
  }
  /* the listwise loss's gradient by central differences at the fit and away from it */
  double x[3], g[3], gp[3];
  for (int at = 0; at < 2; at++) {
    for (size_t k = 0; k < 3; k++) x[k] = thl[k] + (at ? 0.3 * (double)k - 0.2 : 0);
    double f0 = dpo_listwise_objective(&d, &f, 0.5, 0, x, g, NULL);
    for (size_t k = 0; k < 3; k++) {
      const double h = 1e-5;
      memcpy(gp, x, sizeof gp);
      gp[k] += h;
      double fp = dpo_listwise_objective(&d, &f, 0.5, 0, gp, NULL, NULL);
      gp[k] -= 2 * h;
      double fm = dpo_listwise_objective(&d, &f, 0.5, 0, gp, NULL, NULL);
      assert_close(g[k], (fp - fm) / (2 * h), 1e-6 * (fabs(f0) + 1));
    }
  }
  /* the implied preference logit beta (s_a - s_b) and a normalised policy */
  double pol[6], z = 0;
  assert_int_equal(tl->policy(lw, 0, 6, pol), PS_OK);
  for (size_t j = 0; j < 6; j++) z += pol[j];
  assert_close(z, 1, 1e-12);
  assert_close(tl->logit(lw, 0, 1), log(pol[0] / pol[1]) * 0.5, 1e-10);
  tl->free(lw);
  tp->free(pl);
  /* bt's se on the full breaking against bt_covariance */
  pref_data br;
  assert_int_equal(rank_data_break(&d, RANK_BREAK_FULL, &br, &m), PS_OK);
  const est_type *tb = est_lookup("bt");
  const char *hyper[16];
  size_t np = 0;
  for (; tb->params[np].key; np++) hyper[np] = tb->params[np].def;
  est_model *bm;
  est_fit_info info;
  assert_int_equal(tb->alloc(&bm, hyper, &m), PS_OK);
  assert_int_equal(tb->fit(bm, &br, &f, NULL, &info, &m), PS_OK);
  double seb[3], cov[9];
  assert_int_equal(tb->se(bm, seb, &m), PS_OK);
  bt_options bo = bt_options_default();
  bo.want_hessian = 1;
  bt_result res;
  assert_int_equal(bt_fit(&br, &f, &bo, &res, &m), PS_OK);
  assert_int_equal(bt_covariance(&res, &f, cov, &m), PS_OK);
  for (size_t k = 0; k < 3; k++) assert_close(seb[k], sqrt(cov[k * 3 + k]), 1e-12);
  bt_result_free(&res);
  tb->free(bm);
  pref_data_free(&br);
  rank_data_free(&d);
  population_free(&p);
  world_free(&w);
  gsl_rng_free(r);
  gsl_rng_free(rj);
}

static void test_listwise_mlp(void **state) {
  (void)state;
  world_spec ws = {.kind = WORLD_FEATURES, .contexts = 30, .responses = 5, .dim = 3, .feature_scale = 1};
  population_spec ps = {.kind = POP_BT, .norm = 2};
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1};
  world w;
  population p;
  gsl_rng *r = ps_rng_alloc(), *rj = ps_rng_alloc();
  ps_msg m = {{0}};
  ps_rng_reset(r, 4, PS_STREAM_WORLD, 0, 0, 0);
  assert_int_equal(world_alloc(&w, &ws, r, &m), PS_OK);
  ps_rng_reset(r, 4, PS_STREAM_POPULATION, 0, 0, 0);
  assert_int_equal(population_alloc(&p, &w, &ps, r, &m), PS_OK);
  pref_features f = world_features(&w);
  policy_mlp a;
  assert_int_equal(policy_mlp_init(&a, 3, 6, 2, POLICY_ACT_TANH, &m), PS_OK);
  double *P = malloc(a.n_params * sizeof *P), *g = malloc(a.n_params * sizeof *g), *x = malloc(a.n_params * sizeof *x);
  policy_mlp_glorot(&a, P, r);
  /* rankings of 4 of 5 (top-2 for half of them, through the simulator): central differences */
  for (size_t top = 0; top <= 2; top += 2) {
    design_spec ds = {.kind = DESIGN_UNIFORM, .ranking = 4, .top = top};
    rank_data d;
    ps_rng_reset(r, 4, PS_STREAM_QUERIES, top, 0, 0);
    ps_rng_reset(rj, 4, PS_STREAM_JUDGEMENTS, top, 0, 0);
    assert_int_equal(design_simulate_rankings(&d, 200, &w, &p, &ns, &ds, 0, 0, r, rj, &m), PS_OK);
    double F0 = dpo_listwise_mlp_objective(&d, &f, 0.7, 0.2, &a, P, g);
    for (size_t k = 0; k < a.n_params; k++) {
      const double h = 1e-6;
      memcpy(x, P, a.n_params * sizeof *x);
      x[k] += h;
      double Fp = dpo_listwise_mlp_objective(&d, &f, 0.7, 0.2, &a, x, NULL);
      x[k] -= 2 * h;
      double Fm = dpo_listwise_mlp_objective(&d, &f, 0.7, 0.2, &a, x, NULL);
      assert_close(g[k], (Fp - Fm) / (2 * h), 1e-6 * (fabs(F0) + 1));
    }
    rank_data_free(&d);
  }
  /* rankings of 2 are pairwise DPO (loss dpo) with the same MLP */
  pref_data pairs;
  design_spec dp = {.kind = DESIGN_UNIFORM};
  ps_rng_reset(r, 4, PS_STREAM_QUERIES, 9, 0, 0);
  ps_rng_reset(rj, 4, PS_STREAM_JUDGEMENTS, 9, 0, 0);
  assert_int_equal(design_simulate(&pairs, 150, &w, &p, &ns, &dp, r, rj, &m), PS_OK);
  rank_data two;
  assert_int_equal(rank_data_from_pairs(&pairs, &two, &m), PS_OK);
  dpo_options o = dpo_options_default();
  o.policy = DPO_POLICY_MLP;
  o.beta = 0.7;
  o.l2 = 0.2;
  o.width = 6;
  o.layers = 2;
  double *g2 = malloc(a.n_params * sizeof *g2);
  double Fl = dpo_listwise_mlp_objective(&two, &f, 0.7, 0.2, &a, P, g);
  double Fd = dpo_mlp_objective(&pairs, &f, &o, &a, P, g2);
  assert_close(Fl, Fd, 1e-10 * fabs(Fd));
  for (size_t k = 0; k < a.n_params; k++) assert_close(g[k], g2[k], 1e-10 * (fabs(g2[k]) + 1));
  rank_data_free(&two);
  pref_data_free(&pairs);
  /* the estimator with policy = mlp: it fits, its loss falls below the start's, its policy is
   * normalised, and it orders the true best response first more often than chance (1/5) */
  design_spec ds = {.kind = DESIGN_UNIFORM, .ranking = 5};
  rank_data d;
  ps_rng_reset(r, 4, PS_STREAM_QUERIES, 5, 0, 0);
  ps_rng_reset(rj, 4, PS_STREAM_JUDGEMENTS, 5, 0, 0);
  assert_int_equal(design_simulate_rankings(&d, 400, &w, &p, &ns, &ds, 0, 0, r, rj, &m), PS_OK);
  const est_type *t = est_lookup("dpo_listwise");
  const char *hyper[16];
  for (size_t k = 0; t->params[k].key; k++) {
    const char *key = t->params[k].key;
    hyper[k] = !strcmp(key, "policy") ? "mlp" : !strcmp(key, "beta") ? "1" : !strcmp(key, "width") ? "6"
             : !strcmp(key, "epochs") ? "300" : !strcmp(key, "restarts") ? "2" : !strcmp(key, "lr") ? "0.02"
             : t->params[k].def;
  }
  est_model *e;
  est_fit_info info;
  assert_int_equal(t->alloc(&e, hyper, &m), PS_OK);
  ps_rng_reset(r, 4, PS_STREAM_ESTIMATOR, 0, 0, 0);
  int st = t->fit_rank(e, &d, &f, r, &info, &m);
  if (st) print_error("%s\n", m.text);
  assert_int_equal(st, PS_OK);
  policy_mlp a1;
  assert_int_equal(policy_mlp_init(&a1, 3, 6, 1, POLICY_ACT_TANH, &m), PS_OK);
  double *P1 = malloc(a1.n_params * sizeof *P1);
  ps_rng_reset(r, 4, PS_STREAM_ESTIMATOR, 0, 0, 0);
  policy_mlp_glorot(&a1, P1, r);
  assert_true(info.objective < dpo_listwise_mlp_objective(&d, &f, 1, 0, &a1, P1, NULL));
  size_t dim;
  assert_null(t->theta(e, &dim));
  double pol[5], se[3];
  assert_int_equal(t->se(e, se, &m), PS_EINVAL);
  size_t hits = 0;
  for (size_t c = 0; c < 30; c++) {
    assert_int_equal(t->policy(e, (int32_t)(c * 5), 5, pol), PS_OK);
    size_t best = 0, top = 0;
    double z = 0;
    for (size_t j = 0; j < 5; j++) {
      z += pol[j];
      if (pol[j] > pol[top]) top = j;
      if (p.reward[c * 5 + j] > p.reward[c * 5 + best]) best = j;
    }
    assert_close(z, 1, 1e-12);
    hits += top == best;
  }
  assert_true(hits >= 15); /* chance: 6 of 30 */
  t->free(e);
  free(P1);
  rank_data_free(&d);
  free(P);
  free(g);
  free(g2);
  free(x);
  population_free(&p);
  world_free(&w);
  gsl_rng_free(r);
  gsl_rng_free(rj);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_simulator_frequencies),
      cmocka_unit_test(test_simulator_layers),
      cmocka_unit_test(test_simulator_errors),
      cmocka_unit_test(test_expected_information),
      cmocka_unit_test(test_listwise_estimator),
      cmocka_unit_test(test_listwise_mlp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
