/* fixtures.c — simulated data shared by the cmocka tests (see fixtures.h).
 *
 * Invariant a reader must keep: the order of the draws.  Tests fix their seeds and
 * derive tolerances from the data they get; changing what a fixture draws, or in
 * which order, changes every dependent test's data. */
#include "fixtures.h"

#include "test_util.h"
#include "../core/numerics.h"
#include "../core/rng.h"

pref_features fixtures_items_view(size_t m) {
  pref_features f = {.n_items = m, .d = m, .phi = NULL, .n_contexts = 1, .item_context = NULL};
  return f;
}

void fixtures_rows(pref_data *d, size_t n_items, const int32_t *winner, const int32_t *loser, size_t n) {
  assert_int_equal(pref_data_alloc(d, n, n_items, 0, 0, 0), PS_OK);
  memcpy(d->winner, winner, n * sizeof *winner);
  memcpy(d->loser, loser, n * sizeof *loser);
}

size_t fixtures_default_hyper(const est_type *t, const char **hyper, size_t cap) {
  size_t np = 0;
  for (; t->params[np].key; np++) {
    assert_true(np < cap);
    hyper[np] = t->params[np].def;
  }
  return np;
}

void fixtures_sim_alloc(fixtures_sim *s, uint64_t seed, const world_spec *ws, const population_spec *ps,
                        const noise_spec *ns, size_t n) {
  gsl_rng *rq = ps_rng_alloc(), *rj = ps_rng_alloc();
  assert_non_null(rq);
  assert_non_null(rj);
  ps_msg m = {{0}};
  ps_rng_reset(rq, seed, PS_STREAM_WORLD, 0, 0, 0);
  int st = world_alloc(&s->w, ws, rq, &m);
  if (st) print_error("fixtures_sim_alloc: world: %s\n", m.text);
  assert_int_equal(st, PS_OK);
  ps_rng_reset(rq, seed, PS_STREAM_POPULATION, 0, 0, 0);
  st = population_alloc(&s->p, &s->w, ps, rq, &m);
  if (st) print_error("fixtures_sim_alloc: population: %s\n", m.text);
  assert_int_equal(st, PS_OK);
  design_spec ds = {.kind = DESIGN_UNIFORM};
  ps_rng_reset(rq, seed, PS_STREAM_QUERIES, 0, 0, 0);
  ps_rng_reset(rj, seed, PS_STREAM_JUDGEMENTS, 0, 0, 0);
  st = design_simulate(&s->d, n, &s->w, &s->p, ns, &ds, rq, rj, &m);
  if (st) print_error("fixtures_sim_alloc: design: %s\n", m.text);
  assert_int_equal(st, PS_OK);
  s->f = world_features(&s->w);
  gsl_rng_free(rq);
  gsl_rng_free(rj);
}

void fixtures_sim_free(fixtures_sim *s) {
  pref_data_free(&s->d);
  population_free(&s->p);
  world_free(&s->w);
}

void fixtures_judged_alloc(pref_data *d, size_t n, const fixtures_judges *j, int with_annotator, size_t n_annotators) {
  assert_int_equal(pref_data_alloc(d, n, j->n_items, with_annotator, j->order != FIXTURES_ORDER_NONE, 0), PS_OK);
  if (with_annotator) d->n_annotators = n_annotators;
}

void fixtures_pair(gsl_rng *r, size_t n_items, int32_t *a, int32_t *b) {
  *a = (int32_t)gsl_rng_uniform_int(r, n_items);
  do *b = (int32_t)gsl_rng_uniform_int(r, n_items);
  while (*b == *a);
}

/* P(a wins) for annotator h of type z: the products and sums in the order the tests
 * that first wrote these models used, so their data are unchanged bit for bit. */
static double judged_prob(const fixtures_judges *j, size_t h, size_t z, int32_t a, int32_t b) {
  double delta = j->logit ? j->logit(j->truth, h, a, b)
                          : j->reward[z * j->n_items + (size_t)a] - j->reward[z * j->n_items + (size_t)b];
  double p = ps_sigmoid(delta);
  if (j->skill) p = ps_sigmoid(j->skill[h]) * p + ps_sigmoid(-j->skill[h]) * ps_sigmoid(j->bias ? j->bias[h] : 0);
  if (j->flip) p = j->flip[h] + (1 - 2 * j->flip[h]) * p;
  return p;
}

void fixtures_judge_rows(pref_data *d, size_t first, size_t count, size_t h, size_t z, const fixtures_judges *j,
                         gsl_rng *r) {
  size_t S = j->n_contexts > 1 ? j->n_contexts : 1, M = j->responses ? j->responses : j->n_items / S;
  assert_true(M * S <= j->n_items && M >= 2 && first + count <= d->n);
  assert_true(j->logit || (j->reward && z < j->n_types));
  for (size_t i = first; i < first + count; i++) {
    size_t x = S > 1 ? gsl_rng_uniform_int(r, S) : 0;
    int32_t a, b;
    if (j->pair == FIXTURES_PAIR_SHIFT) {
      a = (int32_t)gsl_rng_uniform_int(r, M);
      b = (int32_t)gsl_rng_uniform_int(r, M - 1);
      if (b >= a) b++;
    } else {
      fixtures_pair(r, M, &a, &b);
    }
    a += (int32_t)(x * M);
    b += (int32_t)(x * M);
    int a_wins = gsl_rng_uniform(r) < judged_prob(j, h, z, a, b);
    d->winner[i] = a_wins ? a : b;
    d->loser[i] = a_wins ? b : a;
    if (d->first_won) d->first_won[i] = j->order == FIXTURES_WINNER_FIRST ? 1 : (uint8_t)a_wins;
    if (d->annotator) d->annotator[i] = (int32_t)h;
  }
}

void fixtures_judge(pref_data *d, const fixtures_judges *j, size_t H, size_t per, const size_t *per_h, gsl_rng *r,
                    int32_t *z_out) {
  size_t n = 0, judges = H ? H : 1;
  for (size_t h = 0; h < judges; h++) n += per_h ? per_h[h] : per;
  fixtures_judged_alloc(d, n, j, H > 0, H);
  size_t K = j->n_types ? j->n_types : 1, row = 0;
  for (size_t h = 0; h < judges; h++) {
    size_t z = h % K;
    if (j->type_weight) { /* the inverse CDF, the last type taking any rounding remainder */
      double u = gsl_rng_uniform(r), acc = 0;
      for (z = 0; z + 1 < K; z++)
        if (u < (acc += j->type_weight[z])) break;
    }
    if (z_out) z_out[h] = (int32_t)z;
    size_t count = per_h ? per_h[h] : per;
    fixtures_judge_rows(d, row, count, h, z, j, r);
    row += count;
  }
}

void fixtures_linear_rewards(const double *phi, const double *theta, size_t K, size_t n_items, size_t dim,
                             double *reward) {
  for (size_t k = 0; k < K; k++)
    for (size_t y = 0; y < n_items; y++) {
      double s = 0;
      if (phi)
        for (size_t c = 0; c < dim; c++) s += phi[y * dim + c] * theta[k * dim + c];
      else
        s = theta[k * dim + y];
      reward[k * n_items + y] = s;
    }
}

void fixtures_random_rows(pref_data *d, gsl_rng *r, size_t n, size_t n_items, size_t H) {
  assert_int_equal(pref_data_alloc(d, n, n_items, 1, 0, 1), PS_OK);
  d->n_annotators = H;
  for (size_t i = 0; i < n; i++) {
    fixtures_pair(r, n_items, &d->winner[i], &d->loser[i]);
    d->annotator[i] = (int32_t)gsl_rng_uniform_int(r, H);
    d->count[i] = 0.5 + 2 * gsl_rng_uniform(r);
  }
}

void fixtures_cycle3(double *M, double m01, double m12, double m20) {
  const double v[9] = {0, m01, -m20, -m01, 0, m12, m20, -m12, 0};
  memcpy(M, v, sizeof v);
}

void fixtures_random_margins(gsl_rng *r, double *M, size_t m) {
  for (size_t i = 0; i < m; i++) {
    M[i * m + i] = 0;
    for (size_t j = i + 1; j < m; j++) {
      M[i * m + j] = gsl_rng_uniform(r) - 0.5;
      M[j * m + i] = -M[i * m + j];
    }
  }
}
