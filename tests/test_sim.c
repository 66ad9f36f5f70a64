/* test_sim.c — numerics primitives, counter-based streams, and the simulator:
 * links and flips (docs/theory.md §2.1, §2.3), the pair designs' exact distributions,
 * truth normalisation.  Frequency checks use chi-square bounds with p < 1e-4 under
 * a correct simulator, computed from the theory, at fixed seeds. */
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_sf_erf.h>
#include <math.h>

#include "test_util.h"
#include "../core/numerics.h"
#include "../core/rng.h"
#include "../sim/sim.h"

static void test_numerics(void **state) {
  (void)state;
  double ts[] = {-800, -40, -3.3, -1e-9, 0, 1e-9, 2.385, 37, 800};
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
    double t = ts[i];
    assert_close(ps_softplus(t) - ps_softplus(-t), t, 1e-12 * fmax(1, fabs(t)));
    assert_true(isfinite(ps_softplus(t)));
    assert_close(ps_sigmoid(t) + ps_sigmoid(-t), 1, 1e-15);
    assert_close(ps_log_sigmoid(t), -ps_softplus(-t), 0);
    assert_close(ps_sigmoid_deriv(t), ps_sigmoid(t) * ps_sigmoid(-t), 1e-16);
  }
  assert_close(ps_softplus(-800), 0, 0);           /* underflows gracefully, exact */
  assert_close(ps_softplus(-40), exp(-40), 1e-30); /* log1p keeps the tiny value */
  /* log Phi in the far tail: log Phi(-40) = -804.608442013754 (Mills series) */
  assert_close(ps_log_normal_cdf(-40), -804.608442013754, 1e-9);
  assert_close(ps_log_normal_cdf(0), log(0.5), 1e-15);
  assert_close(ps_log_normal_cdf(3), log(gsl_cdf_ugaussian_P(3)), 1e-14);
  assert_close(ps_normal_cdf(1.7), gsl_cdf_ugaussian_P(1.7), 1e-15);
  assert_close(ps_bern_entropy(0.5), log(2), 1e-15);
  assert_close(ps_bern_entropy(0), 0, 0);
  assert_close(ps_bern_entropy(1), 0, 0);
  double p = 0.3, q = 0.8, z = log(q / (1 - q));
  assert_close(ps_cross_entropy_logit(p, z), -p * log(q) - (1 - p) * log(1 - q), 1e-15);
  double v[3] = {1000, 1000, 1000 + log(2)};
  assert_close(ps_log_sum_exp(v, 3), 1000 + log(4), 1e-12);
}

static void test_rng_streams(void **state) {
  (void)state;
  gsl_rng *a = ps_rng_alloc(), *b = ps_rng_alloc();
  ps_rng_reset(a, 7, PS_STREAM_QUERIES, 3, 5, 0);
  ps_rng_reset(b, 7, PS_STREAM_QUERIES, 3, 5, 0);
  for (int i = 0; i < 1000; i++) assert_int_equal(gsl_rng_get(a), gsl_rng_get(b));
  /* each coordinate of (seed, purpose, point, replicate, substream) changes the stream */
  unsigned long first[6];
  ps_rng_reset(a, 7, PS_STREAM_QUERIES, 3, 5, 0), first[0] = gsl_rng_get(a);
  ps_rng_reset(a, 8, PS_STREAM_QUERIES, 3, 5, 0), first[1] = gsl_rng_get(a);
  ps_rng_reset(a, 7, PS_STREAM_JUDGEMENTS, 3, 5, 0), first[2] = gsl_rng_get(a);
  ps_rng_reset(a, 7, PS_STREAM_QUERIES, 4, 5, 0), first[3] = gsl_rng_get(a);
  ps_rng_reset(a, 7, PS_STREAM_QUERIES, 3, 6, 0), first[4] = gsl_rng_get(a);
  ps_rng_reset(a, 7, PS_STREAM_QUERIES, 3, 5, 1), first[5] = gsl_rng_get(a);
  for (int i = 0; i < 6; i++)
    for (int j = i + 1; j < 6; j++) assert_true(first[i] != first[j]);
  /* uniformity: chi-square over 20 bins of 200000 draws; P(chi2_19 > 50) < 1e-4 */
  size_t bins[20] = {0};
  ps_rng_reset(a, 20261127, PS_STREAM_WORLD, 0, 0, 0);
  for (int i = 0; i < 200000; i++) bins[(int)(gsl_rng_uniform(a) * 20)]++;
  double chi = 0;
  for (int k = 0; k < 20; k++) chi += (bins[k] - 10000.0) * (bins[k] - 10000.0) / 10000.0;
  assert_true(chi < 50);
  gsl_rng_free(a);
  gsl_rng_free(b);
}

static void test_noise_model(void **state) {
  (void)state;
  double reward[2] = {0.9, -0.4};
  population p = {.d = 2, .theta = reward, .reward = reward};
  noise_spec bt = {.link = LINK_LOGISTIC, .temperature = 1.0, .flip = 0};
  assert_close(noise_prob(&bt, &p, 0, 1), ps_sigmoid(1.3), 1e-15);
  assert_close(noise_prob(&bt, &p, 0, 1) + noise_prob(&bt, &p, 1, 0), 1, 1e-15);
  noise_spec hot = {.link = LINK_LOGISTIC, .temperature = 2.5, .flip = 0.2};
  double q = ps_sigmoid(1.3 / 2.5);
  assert_close(noise_prob(&hot, &p, 0, 1), 0.2 + 0.6 * q, 1e-15);
  assert_close(noise_prob(&hot, &p, 0, 1), 0.8 * q + 0.2 * (1 - q), 1e-15); /* (1-e)P + e(1-P) */
  noise_spec th = {.link = LINK_PROBIT, .temperature = 1.7, .flip = 0};
  assert_close(noise_prob(&th, &p, 0, 1), gsl_cdf_ugaussian_P(1.3 / 1.7), 1e-15);
}

static void make_world(world *w, population *p, world_kind kind, uint64_t seed) {
  gsl_rng *r = ps_rng_alloc();
  world_spec ws = {.kind = kind, .items = 9, .contexts = 30, .responses = 4, .dim = 5, .feature_scale = 0.7};
  ps_rng_reset(r, seed, PS_STREAM_WORLD, 0, 0, 0);
  assert_int_equal(world_alloc(w, &ws, r, NULL), PS_OK);
  population_spec ps = {.scale = 1.3, .norm = 2.385};
  ps_rng_reset(r, seed, PS_STREAM_POPULATION, 0, 0, 0);
  assert_int_equal(population_alloc(p, w, &ps, r, NULL), PS_OK);
  gsl_rng_free(r);
}

static void test_truth(void **state) {
  (void)state;
  world w;
  population p;
  make_world(&w, &p, WORLD_ITEMS, 11);
  double s = 0;
  for (size_t i = 0; i < 9; i++) s += p.theta[i];
  assert_close(s, 0, 1e-12);
  population_free(&p);
  world_free(&w);
  make_world(&w, &p, WORLD_FEATURES, 12);
  double nrm = 0;
  for (size_t k = 0; k < 5; k++) nrm += p.theta[k] * p.theta[k];
  assert_close(sqrt(nrm), 2.385, 1e-12);
  assert_int_equal(w.n_items, 120);
  for (size_t i = 0; i < w.n_items; i++) {
    double r = 0;
    for (size_t k = 0; k < 5; k++) r += p.theta[k] * w.phi[i * 5 + k];
    assert_close(p.reward[i], r, 1e-12);
    assert_int_equal(w.item_context[i], (int32_t)(i / 4));
  }
  population_free(&p);
  world_free(&w);
  /* scores = grid: theta*_i = -scale i, centred; two items logit(0.8) apart give
   * P(0 > 1) = 0.8 exactly under the logistic link, and eps + (1 - 2 eps) 0.8 with flips */
  {
    gsl_rng *r = ps_rng_alloc();
    world_spec ws = {.kind = WORLD_ITEMS, .items = 2};
    assert_int_equal(world_alloc(&w, &ws, r, NULL), PS_OK);
    population_spec gs = {.scale = log(4.0), .grid = 1};
    assert_int_equal(population_alloc(&p, &w, &gs, r, NULL), PS_OK);
    assert_close(p.theta[0], log(4.0) / 2, 1e-15);
    assert_close(p.theta[1], -log(4.0) / 2, 1e-15);
    noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0.2};
    assert_close(noise_prob_clean(&ns, &p, 0, 1), 0.8, 1e-15);
    assert_close(noise_prob(&ns, &p, 0, 1), 0.68, 1e-15);
    population_free(&p);
    world_free(&w);
    world_spec w5 = {.kind = WORLD_ITEMS, .items = 5};
    assert_int_equal(world_alloc(&w, &w5, r, NULL), PS_OK);
    gs.scale = 0.5;
    assert_int_equal(population_alloc(&p, &w, &gs, r, NULL), PS_OK);
    for (size_t i = 0; i < 5; i++) assert_close(p.theta[i], 0.5 * (2.0 - (double)i), 1e-15);
    population_free(&p);
    world_free(&w);
    gsl_rng_free(r);
  }
  /* invalid specs */
  world_spec bad = {.kind = WORLD_ITEMS, .items = 1};
  ps_msg m;
  assert_int_equal(world_alloc(&w, &bad, NULL, &m), PS_EINVAL);
  world_spec bad2 = {.kind = WORLD_FEATURES, .contexts = 3, .responses = 1, .dim = 2, .feature_scale = 1};
  assert_int_equal(world_alloc(&w, &bad2, NULL, &m), PS_EINVAL);
}

/* Uniform design: each ordered pair of distinct responses equally likely (item
 * world, 9 items: 72 ordered pairs).  Labels: empirical frequency of "first wins"
 * within a few standard errors of the mean true probability. */
static void test_uniform_design(void **state) {
  (void)state;
  world w;
  population p;
  make_world(&w, &p, WORLD_ITEMS, 21);
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0.1};
  design_spec ds = {.kind = DESIGN_UNIFORM};
  gsl_rng *rq = ps_rng_alloc(), *rj = ps_rng_alloc();
  ps_rng_reset(rq, 5, PS_STREAM_QUERIES, 0, 0, 0);
  ps_rng_reset(rj, 5, PS_STREAM_JUDGEMENTS, 0, 0, 0);
  pref_data d;
  size_t n = 144000;
  assert_int_equal(design_simulate(&d, n, &w, &p, &ns, &ds, rq, rj, NULL), PS_OK);
  size_t cnt[81] = {0};
  double wins = 0, pmean = 0, pvar = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t a = pref_first(&d, i), b = pref_second(&d, i);
    assert_true(a != b);
    cnt[a * 9 + b]++;
    double q = noise_prob(&ns, &p, a, b);
    pmean += q;
    pvar += q * (1 - q);
    wins += d.first_won[i];
    assert_int_equal(d.first_won[i] ? d.winner[i] : d.loser[i], a);
  }
  double chi = 0, e = (double)n / 72;
  for (int a = 0; a < 9; a++)
    for (int b = 0; b < 9; b++)
      if (a != b) chi += (cnt[a * 9 + b] - e) * (cnt[a * 9 + b] - e) / e;
  /* chi2 with 71 degrees of freedom: P(> 120) ~ 3e-4 */
  assert_true(chi < gsl_cdf_chisq_Qinv(1e-4, 71));
  /* labels: sum of independent Bernoulli(q_i); z-score of the total */
  double zscore = (wins - pmean) / sqrt(pvar);
  assert_true(fabs(zscore) < 4);
  pref_data_free(&d);
  gsl_rng_free(rq);
  gsl_rng_free(rj);
  population_free(&p);
  world_free(&w);
}

/* Complete design: every unordered pair of the 9 items exactly n / 36 times, each
 * shown first in about half of its rows (binomial, 4 sd), and a prefix of the rows that
 * is not a multiple of 36 still asks no pair more than once more than another. */
static void test_complete_design(void **state) {
  (void)state;
  world w;
  population p;
  make_world(&w, &p, WORLD_ITEMS, 23);
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0};
  design_spec ds = {.kind = DESIGN_COMPLETE};
  gsl_rng *rq = ps_rng_alloc(), *rj = ps_rng_alloc();
  ps_rng_reset(rq, 5, PS_STREAM_QUERIES, 0, 0, 0);
  ps_rng_reset(rj, 5, PS_STREAM_JUDGEMENTS, 0, 0, 0);
  pref_data d;
  size_t n = 36 * 400;
  assert_int_equal(design_simulate(&d, n, &w, &p, &ns, &ds, rq, rj, NULL), PS_OK);
  size_t cnt[81] = {0}, lowfirst[81] = {0};
  for (size_t i = 0; i < n; i++) {
    int32_t a = pref_first(&d, i), b = pref_second(&d, i);
    assert_true(a != b);
    int32_t lo = a < b ? a : b, hi = a < b ? b : a;
    cnt[lo * 9 + hi]++;
    lowfirst[lo * 9 + hi] += a == lo;
    if (i == 36 * 7 + 11) { /* a prefix of 7 rounds and 12 rows */
      for (int x = 0; x < 9; x++)
        for (int y = x + 1; y < 9; y++) assert_true(cnt[x * 9 + y] == 7 || cnt[x * 9 + y] == 8);
    }
  }
  for (int x = 0; x < 9; x++)
    for (int y = x + 1; y < 9; y++) {
      assert_int_equal(cnt[x * 9 + y], 400);
      assert_true(fabs((double)lowfirst[x * 9 + y] - 200) < 4 * 10);
    }
  pref_data_free(&d);
  gsl_rng_free(rq);
  gsl_rng_free(rj);
  population_free(&p);
  world_free(&w);
}

/* Policy design: (y, y') ~ pi_ref x pi_ref conditioned on y != y', so
 * P(a, b) = pi(a) pi(b) / (1 - sum pi^2) within a context. */
static void test_policy_design(void **state) {
  (void)state;
  world w;
  population p;
  make_world(&w, &p, WORLD_ITEMS, 31);
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0};
  design_spec ds = {.kind = DESIGN_POLICY, .ref_temperature = 0.8, .ref = REF_REWARD};
  gsl_rng *rq = ps_rng_alloc(), *rj = ps_rng_alloc();
  ps_rng_reset(rq, 6, PS_STREAM_QUERIES, 0, 0, 0);
  ps_rng_reset(rj, 6, PS_STREAM_JUDGEMENTS, 0, 0, 0);
  pref_data d;
  size_t n = 200000;
  assert_int_equal(design_simulate(&d, n, &w, &p, &ns, &ds, rq, rj, NULL), PS_OK);
  double pi[9], z = 0, s2 = 0;
  for (int i = 0; i < 9; i++) z += (pi[i] = exp(p.reward[i] / 0.8));
  for (int i = 0; i < 9; i++) pi[i] /= z;
  for (int i = 0; i < 9; i++) s2 += pi[i] * pi[i];
  size_t cnt[81] = {0};
  for (size_t i = 0; i < n; i++) cnt[pref_first(&d, i) * 9 + pref_second(&d, i)]++;
  double chi = 0;
  int df = -1;
  for (int a = 0; a < 9; a++)
    for (int b = 0; b < 9; b++) {
      if (a == b) {
        assert_int_equal(cnt[a * 9 + b], 0);
        continue;
      }
      double e = (double)n * pi[a] * pi[b] / (1 - s2);
      if (e < 5) continue;
      chi += (cnt[a * 9 + b] - e) * (cnt[a * 9 + b] - e) / e;
      df++;
    }
  assert_true(chi < gsl_cdf_chisq_Qinv(1e-4, df));
  pref_data_free(&d);
  /* a low temperature concentrates the pairs (poor coverage) */
  design_spec cold = {.kind = DESIGN_POLICY, .ref_temperature = 0.05, .ref = REF_REWARD};
  assert_int_equal(design_simulate(&d, 20000, &w, &p, &ns, &cold, rq, rj, NULL), PS_OK);
  int best = 0;
  for (int i = 1; i < 9; i++)
    if (p.reward[i] > p.reward[best]) best = i;
  size_t with_best = 0;
  for (size_t i = 0; i < d.n; i++) with_best += d.winner[i] == best || d.loser[i] == best;
  assert_true(with_best > 0.95 * (double)d.n);
  pref_data_free(&d);
  gsl_rng_free(rq);
  gsl_rng_free(rj);
  population_free(&p);
  world_free(&w);
}

/* The same counters give the same data: the simulator is a pure function of them. */
static void test_reproducible(void **state) {
  (void)state;
  pref_data d[2];
  for (int k = 0; k < 2; k++) {
    world w;
    population p;
    make_world(&w, &p, WORLD_FEATURES, 99);
    noise_spec ns = {.link = LINK_PROBIT, .temperature = 0.7, .flip = 0.05};
    design_spec ds = {.kind = DESIGN_UNIFORM};
    gsl_rng *rq = ps_rng_alloc(), *rj = ps_rng_alloc();
    ps_rng_reset(rq, 1, PS_STREAM_QUERIES, 2, 3, 0);
    ps_rng_reset(rj, 1, PS_STREAM_JUDGEMENTS, 2, 3, 0);
    assert_int_equal(design_simulate(&d[k], 5000, &w, &p, &ns, &ds, rq, rj, NULL), PS_OK);
    gsl_rng_free(rq);
    gsl_rng_free(rj);
    population_free(&p);
    world_free(&w);
  }
  assert_memory_equal(d[0].winner, d[1].winner, 5000 * sizeof(int32_t));
  assert_memory_equal(d[0].loser, d[1].loser, 5000 * sizeof(int32_t));
  assert_memory_equal(d[0].first_won, d[1].first_won, 5000);
  pref_data_free(&d[0]);
  pref_data_free(&d[1]);
}

/* O6 / O7 through the simulator's populations: the cycle's consecutive
 * probabilities are sigma(sqrt(3)/2 / tau); the Condorcet mixture's are
 * p(Delta) = [2 sigma(Delta) + sigma(-2 Delta)]/3 in the cyclic direction. */
static void test_intransitive_populations(void **state) {
  (void)state;
  world w;
  world_spec ws = {.kind = WORLD_ITEMS, .items = 3};
  assert_int_equal(world_alloc(&w, &ws, NULL, NULL), PS_OK);
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0};
  double taus[2] = {0.1, 1.0}, want[2] = {0.999827, 0.703918};
  for (int k = 0; k < 2; k++) {
    population p;
    population_spec ps = {.kind = POP_CYCLE, .tau = taus[k]};
    assert_int_equal(population_alloc(&p, &w, &ps, NULL, NULL), PS_OK);
    for (int a = 0; a < 3; a++) {
      assert_close(noise_prob_clean(&ns, &p, a, (a + 1) % 3), ps_sigmoid(sqrt(3) / 2 / taus[k]), 1e-12);
      assert_close(noise_prob_clean(&ns, &p, a, (a + 1) % 3), want[k], 1e-6);
      assert_close(noise_prob_clean(&ns, &p, a, (a + 1) % 3) + noise_prob_clean(&ns, &p, (a + 1) % 3, a), 1, 1e-15);
    }
    assert_null(p.theta);
    population_free(&p);
  }
  double deltas[3] = {1, 2, 5}, pd[3] = {0.527107, 0.593193, 0.662220};
  for (int k = 0; k < 3; k++) {
    population p;
    population_spec ps = {.kind = POP_CONDORCET, .delta = deltas[k]};
    assert_int_equal(population_alloc(&p, &w, &ps, NULL, NULL), PS_OK);
    double want_p = (2 * ps_sigmoid(deltas[k]) + ps_sigmoid(-2 * deltas[k])) / 3;
    /* rewards (2D, D, 0): item 0 beats 1, 1 beats 2, 2 beats 0 */
    assert_close(noise_prob_clean(&ns, &p, 0, 1), want_p, 1e-12);
    assert_close(noise_prob_clean(&ns, &p, 1, 2), want_p, 1e-12);
    assert_close(noise_prob_clean(&ns, &p, 2, 0), want_p, 1e-12);
    assert_close(want_p, pd[k], 1e-6);
    population_free(&p);
  }
  /* non-BT populations need an item world */
  world fw;
  world_spec fs = {.kind = WORLD_FEATURES, .contexts = 2, .responses = 3, .dim = 2, .feature_scale = 1};
  gsl_rng *r = ps_rng_alloc();
  assert_int_equal(world_alloc(&fw, &fs, r, NULL), PS_OK);
  population p;
  population_spec ps = {.kind = POP_GPM, .k = 1, .tau = 1, .scale = 1};
  ps_msg m;
  assert_int_equal(population_alloc(&p, &fw, &ps, r, &m), PS_EINVAL);
  world_free(&fw);
  world_free(&w);
  gsl_rng_free(r);
}


/* ---- heterogeneous annotators (docs/theory.md §2.4-2.7) ---- */

static void user_world(world *w, population *p, population_spec *ps, size_t dim, int expect) {
  gsl_rng *r = ps_rng_alloc();
  world_spec ws = {.kind = WORLD_FEATURES, .contexts = 40, .responses = 6, .dim = dim, .feature_scale = 0.8};
  ps_rng_reset(r, 2385, PS_STREAM_WORLD, 0, 0, 0);
  assert_int_equal(world_alloc(w, &ws, r, NULL), PS_OK);
  ps_msg m = {{0}};
  ps_rng_reset(r, 2385, PS_STREAM_POPULATION, 0, 0, 0);
  int s = population_alloc(p, w, ps, r, &m);
  if (s != expect) fail_msg("population_alloc: %d (%s), expected %d", s, m.text, expect);
  gsl_rng_free(r);
}

/* mixture types at the configured angle, weights, and the marginal = the mean of the
 * annotators' own probabilities (exactly: it is computed by type) */
static void test_mixture_population(void **state) {
  (void)state;
  world w;
  population p;
  population_spec ps = {.kind = POP_MIXTURE, .norm = 2.385, .annotators = 300, .types = 3, .minority = 0.4,
                        .angle = 70, .competence = 1, .careless = 0.2, .careless_competence = 0.6, .bias = 0.3};
  user_world(&w, &p, &ps, 7, PS_OK);
  assert_int_equal(p.n_types, 3);
  assert_close(p.type_weight[0], 0.6, 1e-15);
  assert_close(p.type_weight[1], 0.2, 1e-15);
  for (size_t k = 0; k < 3; k++) {
    double n2 = 0;
    for (size_t i = 0; i < 7; i++) n2 += p.type_theta[k * 7 + i] * p.type_theta[k * 7 + i];
    assert_close(sqrt(n2), 2.385, 1e-12);
  }
  double c01 = 0, c12 = 0;
  for (size_t i = 0; i < 7; i++) {
    c01 += p.type_theta[i] * p.type_theta[7 + i];
    c12 += p.type_theta[7 + i] * p.type_theta[14 + i];
  }
  assert_close(c01 / (2.385 * 2.385), cos(70 * M_PI / 180), 1e-12);
  assert_close(c12 / (2.385 * 2.385), cos(70 * M_PI / 180) * cos(70 * M_PI / 180), 1e-12); /* orthonormal v_k */
  /* exactly 60 careless annotators (20% of 300) */
  size_t careless = 0, minority = 0;
  for (size_t h = 0; h < 300; h++) careless += p.competence[h] == 0.6, minority += p.user_type[h] >= 1;
  assert_int_equal(careless, 60);
  /* types drawn ~ Cat(w): minority share 0.4 +- 4 sd (sd = sqrt(0.24/300) = 0.028) */
  assert_true(fabs((double)minority / 300 - 0.4) < 4 * 0.0283);
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1.3, .flip = 0.07};
  for (int32_t a = 0; a < 6; a++)
    for (int32_t b = 0; b < 6; b++) {
      if (a == b) continue;
      double mean = 0, mean_clean = 0;
      for (size_t h = 0; h < 300; h++) {
        mean += noise_prob_user(&ns, &p, h, a, b);
        mean_clean += noise_prob_user_clean(&ns, &p, h, a, b);
      }
      assert_close(noise_prob(&ns, &p, a, b), mean / 300, 1e-13);
      assert_close(noise_prob_clean(&ns, &p, a, b), mean_clean / 300, 1e-13);
    }
  population_free(&p);
  world_free(&w);
}

/* O5: the NoisyBT layer with competence sigma(0) = 1/2, no bias, a reward gap of 1 is
 * P = 0.615529 = (1 - eps) sigma(1) + eps sigma(-1), eps = 1/4 (§5 row 23) */
static void test_noisybt_layer(void **state) {
  (void)state;
  world w;
  population p;
  population_spec ps = {.kind = POP_BT, .norm = 1, .annotators = 4, .competence = 0.5};
  user_world(&w, &p, &ps, 3, PS_OK);
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0};
  /* set a reward gap of exactly 1 between items 0 and 1 */
  p.type_reward[0] = 0.5, p.type_reward[1] = -0.5;
  double P = noise_prob_user(&ns, &p, 2, 0, 1);
  assert_close(P, 0.615529, 5e-7);
  assert_close(P, 0.75 * ps_sigmoid(1) + 0.25 * ps_sigmoid(-1), 1e-15);
  /* a position bias: the careless half prefers the first-shown item with sigma(q) */
  p.bias[2] = 1.1;
  assert_close(noise_prob_user(&ns, &p, 2, 0, 1), 0.5 * ps_sigmoid(1) + 0.5 * ps_sigmoid(1.1), 1e-15);
  assert_close(noise_prob_user(&ns, &p, 2, 1, 0), 0.5 * ps_sigmoid(-1) + 0.5 * ps_sigmoid(1.1), 1e-15);
  population_free(&p);
  world_free(&w);
}

/* O16: the squared ideal-point reward differences are 2 a^T (f - f') - (||f||^2 - ||f'||^2);
 * the low-rank user x item reward matrix has rank <= B */
static void test_idealpoint_lowrank(void **state) {
  (void)state;
  world w;
  population p;
  population_spec ps = {.kind = POP_IDEALPOINT, .scale = 1.7, .annotators = 20, .new_annotators = 5, .prototypes = 3,
                        .concentration = 0.5};
  user_world(&w, &p, &ps, 4, PS_OK);
  assert_int_equal(p.n_users, 25);
  for (size_t h = 0; h < 25; h++) {
    double ws = 0;
    for (size_t k = 0; k < 3; k++) ws += p.user_weight[h * 3 + k];
    assert_close(ws, 1, 1e-12); /* Dirichlet weights on the simplex */
    const double *a = p.user_vec + h * 4;
    for (int32_t y = 0; y < 6; y++) {
      const double *f = w.phi + y * 4, *g = w.phi + (y + 1) * 4;
      double lin = 0, nf = 0, ng = 0;
      for (size_t k = 0; k < 4; k++) lin += 2 * a[k] * (f[k] - g[k]), nf += f[k] * f[k], ng += g[k] * g[k];
      assert_close(population_user_reward(&p, h, y) - population_user_reward(&p, h, y + 1), lin - (nf - ng), 1e-12);
    }
  }
  population_free(&p);
  world_free(&w);
  population_spec pl = {.kind = POP_LOWRANK, .norm = 2, .annotators = 12, .rank = 2, .concentration = 1};
  user_world(&w, &p, &pl, 6, PS_OK);
  gsl_matrix *R = gsl_matrix_alloc(24, 12), *V = gsl_matrix_alloc(12, 12);
  gsl_vector *sv = gsl_vector_alloc(12), *work = gsl_vector_alloc(12);
  for (size_t y = 0; y < 24; y++)
    for (size_t h = 0; h < 12; h++) gsl_matrix_set(R, y, h, population_user_reward(&p, h, (int32_t)y));
  assert_int_equal(gsl_linalg_SV_decomp(R, V, sv, work), 0);
  assert_true(gsl_vector_get(sv, 1) > 1e-3);
  assert_true(gsl_vector_get(sv, 2) < 1e-12 * gsl_vector_get(sv, 0));
  gsl_matrix_free(R), gsl_matrix_free(V), gsl_vector_free(sv), gsl_vector_free(work);
  population_free(&p);
  world_free(&w);
}

/* annotator columns of the designs: row i is judged by user first + i % count */
static void test_user_design(void **state) {
  (void)state;
  world w;
  population p;
  population_spec ps = {.kind = POP_MIXTURE, .norm = 2, .annotators = 7, .new_annotators = 2, .types = 2,
                        .minority = 0.5, .angle = 180};
  user_world(&w, &p, &ps, 3, PS_OK);
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1};
  design_spec ds = {.kind = DESIGN_UNIFORM};
  gsl_rng *rq = ps_rng_alloc(), *rj = ps_rng_alloc();
  pref_data d;
  ps_msg m = {{0}};
  ps_rng_reset(rq, 1, PS_STREAM_QUERIES, 0, 0, 0);
  ps_rng_reset(rj, 1, PS_STREAM_JUDGEMENTS, 0, 0, 0);
  assert_int_equal(design_simulate(&d, 30, &w, &p, &ns, &ds, rq, rj, &m), PS_OK);
  assert_non_null(d.annotator);
  assert_int_equal(d.n_annotators, 7);
  for (size_t i = 0; i < 30; i++) assert_int_equal(d.annotator[i], (int32_t)(i % 7));
  assert_int_equal(pref_data_check(&d, &m), PS_OK);
  pref_data_free(&d);
  assert_int_equal(design_simulate_users(&d, 5, &w, &p, &ns, &ds, 8, 1, rq, rj, &m), PS_OK);
  for (size_t i = 0; i < 5; i++) assert_int_equal(d.annotator[i], 8);
  assert_int_equal(d.n_annotators, 9);
  pref_data_free(&d);
  assert_int_equal(design_simulate_users(&d, 5, &w, &p, &ns, &ds, 8, 2, rq, rj, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "do not exist"));
  /* opposite types (angle 180): the two types' probabilities are complementary */
  int32_t t0 = -1, t1 = -1;
  for (size_t h = 0; h < 7; h++) {
    if (p.user_type[h] == 0) t0 = (int32_t)h;
    if (p.user_type[h] == 1) t1 = (int32_t)h;
  }
  if (t0 >= 0 && t1 >= 0)
    assert_close(noise_prob_user_clean(&ns, &p, (size_t)t0, 0, 1) + noise_prob_user_clean(&ns, &p, (size_t)t1, 0, 1), 1,
                 1e-12);
  gsl_rng_free(rq), gsl_rng_free(rj);
  population_free(&p);
  world_free(&w);
}

static void test_user_population_errors(void **state) {
  (void)state;
  world w;
  population p;
  population_spec a = {.kind = POP_MIXTURE, .norm = 1, .types = 2, .minority = 0.3};
  user_world(&w, &p, &a, 3, PS_EINVAL); /* no annotators */
  world_free(&w);
  population_spec b = {.kind = POP_LOWRANK, .norm = 1, .annotators = 5, .rank = 9, .concentration = 1};
  user_world(&w, &p, &b, 3, PS_EINVAL); /* rank > d */
  world_free(&w);
  population_spec c = {.kind = POP_BT, .norm = 1, .careless = 0.3, .careless_competence = 0.6};
  user_world(&w, &p, &c, 3, PS_EINVAL); /* careless annotators without annotators */
  world_free(&w);
  population_spec d = {.kind = POP_MIXTURE, .norm = 1, .annotators = 5, .types = 5, .minority = 0.3};
  user_world(&w, &p, &d, 3, PS_EINVAL); /* 5 types need d >= 5 */
  world_free(&w);
  /* item worlds: no ideal points */
  gsl_rng *r = ps_rng_alloc();
  world_spec ws = {.kind = WORLD_ITEMS, .items = 5};
  assert_int_equal(world_alloc(&w, &ws, r, NULL), PS_OK);
  population_spec e = {.kind = POP_IDEALPOINT, .annotators = 3, .prototypes = 2, .concentration = 1};
  ps_msg m = {{0}};
  assert_int_equal(population_alloc(&p, &w, &e, r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "world.kind = features"));
  world_free(&w);
  gsl_rng_free(r);
}

/* population luce (docs/theory.md §2.12): each type is Luce's rule on a density, and
 * per-comparison types without annotator ids label by the mixture's marginal (not by
 * the mean reward, which the layer once used when there were no annotators) */
static void test_luce_population(void **state) {
  (void)state;
  gsl_rng *r = ps_rng_alloc();
  world w;
  world_spec ws = {.kind = WORLD_ITEMS, .items = 7};
  assert_int_equal(world_alloc(&w, &ws, r, NULL), PS_OK);
  population_spec sp = {.kind = POP_LUCE, .types = 3, .minority = 0.5, .concentration = 1.5, .per_comparison = 1};
  population p;
  ps_msg m = {{0}};
  assert_int_equal(population_alloc(&p, &w, &sp, r, &m), PS_OK);
  assert_int_equal(p.n_types, 3);
  const double wt[3] = {0.5, 0.25, 0.25};
  double q[3][7];
  for (size_t k = 0; k < 3; k++) {
    assert_close(p.type_weight[k], wt[k], 1e-15);
    double z = 0, c = 0;
    for (size_t y = 0; y < 7; y++) z += exp(p.type_reward[k * 7 + y]), c += p.type_reward[k * 7 + y];
    assert_close(c, 0, 1e-12); /* centred log density */
    for (size_t y = 0; y < 7; y++) q[k][y] = exp(p.type_reward[k * 7 + y]) / z;
  }
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1};
  double worst_mean_reward = 0;
  for (int32_t a = 0; a < 7; a++)
    for (int32_t b = 0; b < 7; b++) {
      if (a == b) continue;
      double luce = 0;
      for (size_t k = 0; k < 3; k++) luce += wt[k] * q[k][a] / (q[k][a] + q[k][b]);
      assert_close(noise_prob(&ns, &p, a, b), luce, 1e-14);
      worst_mean_reward = fmax(worst_mean_reward, fabs(ps_sigmoid(p.reward[a] - p.reward[b]) - luce));
    }
  assert_true(worst_mean_reward > 1e-3); /* the marginal is not BT on the mean reward */
  population_free(&p);
  /* errors: features worlds, a zero concentration, user types without annotators */
  population_spec no_users = {.kind = POP_LUCE, .types = 2, .minority = 0.3, .concentration = 1};
  assert_int_equal(population_alloc(&p, &w, &no_users, r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "assignment = comparison"));
  population_spec zero = {.kind = POP_LUCE, .types = 2, .minority = 0.3, .concentration = 0, .per_comparison = 1};
  assert_int_equal(population_alloc(&p, &w, &zero, r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "concentration"));
  world_free(&w);
  world_spec fs = {.kind = WORLD_FEATURES, .contexts = 3, .responses = 4, .dim = 5, .feature_scale = 1};
  assert_int_equal(world_alloc(&w, &fs, r, NULL), PS_OK);
  population_spec feat = {.kind = POP_LUCE, .types = 2, .minority = 0.3, .concentration = 1, .per_comparison = 1};
  assert_int_equal(population_alloc(&p, &w, &feat, r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "world.kind = items"));
  world_free(&w);
  gsl_rng_free(r);
}

/* world behaviours: orthogonal two-response behaviours with geometric separations, and
 * its errors (docs/theory.md §3.13c) */
static void test_behaviours_world(void **state) {
  (void)state;
  gsl_rng *r = ps_rng_alloc();
  world w;
  world_spec ws = {.kind = WORLD_FEATURES, .type = world_lookup("behaviours"), .contexts = 3, .responses = 2, .dim = 3};
  assert_non_null(ws.type);
  ws.own[0] = 0.5, ws.own[1] = 2; /* separation_min, separation_max */
  assert_int_equal(world_alloc(&w, &ws, r, NULL), PS_OK);
  const double sep[3] = {0.5, 1, 2};
  for (size_t c = 0; c < 3; c++)
    for (size_t j = 0; j < 3; j++) {
      assert_close(w.phi[(2 * c) * 3 + j] - w.phi[(2 * c + 1) * 3 + j], j == c ? sep[c] : 0, 1e-15);
      assert_close(w.phi[(2 * c) * 3 + j] + w.phi[(2 * c + 1) * 3 + j], 0, 1e-15);
    }
  world_free(&w);
  ps_msg m = {{0}};
  ws.responses = 3;
  assert_int_equal(world_alloc(&w, &ws, r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "responses = 2"));
  ws.responses = 2, ws.dim = 4;
  assert_int_equal(world_alloc(&w, &ws, r, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "dim must equal contexts"));
  gsl_rng_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_numerics),       cmocka_unit_test(test_rng_streams),
      cmocka_unit_test(test_noise_model),    cmocka_unit_test(test_truth),
      cmocka_unit_test(test_uniform_design), cmocka_unit_test(test_complete_design),
      cmocka_unit_test(test_policy_design),
      cmocka_unit_test(test_reproducible),  cmocka_unit_test(test_intransitive_populations),
      cmocka_unit_test(test_mixture_population), cmocka_unit_test(test_noisybt_layer),
      cmocka_unit_test(test_idealpoint_lowrank), cmocka_unit_test(test_user_design),
      cmocka_unit_test(test_user_population_errors), cmocka_unit_test(test_luce_population),
      cmocka_unit_test(test_behaviours_world),
  };
  return cmocka_run_group_tests_name("sim", tests, NULL, NULL);
}
