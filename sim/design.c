/* design.c — query designs and judgements (see sim.h).
 *
 * Uniform design: a context uniformly, then an ordered pair of distinct responses
 * uniformly (presentation order is part of the draw).  Policy design: i.i.d. draws
 * y, y' ~ pi_ref conditioned on y != y', P(a, b) = pi(a) pi(b) / (1 - sum pi^2),
 * sampled exactly without a rejection loop (which could spin on a near-point
 * mass): a from its marginal ∝ pi(a)(1 - pi(a)), then b ~ pi restricted to b != a.
 * Labels: Bernoulli(noise_prob(first, second)); with ties, the same uniform split three
 * ways by noise_tie_split. */
#include "sim.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"

/* First element of an i.i.d. pair conditioned on being distinct: P(a) ∝ w_a (W - w_a)
 * with W = sum w, the marginal of a under P(a, b) ∝ w_a w_b (a != b). */
static size_t draw_first_of_distinct(gsl_rng *r, const double *wt, size_t m) {
  double W = 0, tot = 0;
  for (size_t j = 0; j < m; j++) W += wt[j];
  for (size_t j = 0; j < m; j++) tot += wt[j] * (W - wt[j]);
  double u = gsl_rng_uniform(r) * tot, acc = 0;
  size_t last = 0;
  for (size_t j = 0; j < m; j++) {
    double v = wt[j] * (W - wt[j]);
    if (v <= 0) continue;
    last = j;
    acc += v;
    if (u < acc) return j;
  }
  return last;
}

/* sample index from unnormalised weights wt[0..m-1] excluding `skip` (-1: none) */
static size_t draw_weighted(gsl_rng *r, const double *wt, size_t m, long skip) {
  double tot = 0;
  for (size_t j = 0; j < m; j++)
    if ((long)j != skip) tot += wt[j];
  double u = gsl_rng_uniform(r) * tot, acc = 0;
  size_t last = 0;
  for (size_t j = 0; j < m; j++) {
    if ((long)j == skip) continue;
    last = j;
    acc += wt[j];
    if (u < acc) return j;
  }
  return last;
}

/* pi_ref weights (unnormalised, max 1 per context) of the policy design */
static int reference_weights(const world *w, const population *p, const design_spec *ds, gsl_rng *rq, double *wt,
                             ps_msg *m) {
  size_t M = w->m;
  if (!(ds->ref_temperature > 0)) return ps_fail(m, PS_EINVAL, "design.ref_temperature must be > 0");
  double *sref = malloc(w->n_items * sizeof(double));
  if (!sref) return ps_fail(m, PS_ENOMEM, "out of memory");
  if (ds->ref == REF_RANDOM) {
    /* a random reward of the same spread: a Gaussian score with the truth's standard
     * deviation, drawn from the query stream */
    double mu = 0, v = 0;
    for (size_t i = 0; i < w->n_items; i++) mu += p->reward[i];
    mu /= (double)w->n_items;
    for (size_t i = 0; i < w->n_items; i++) v += (p->reward[i] - mu) * (p->reward[i] - mu);
    double sd = sqrt(v / (double)w->n_items);
    for (size_t i = 0; i < w->n_items; i++) sref[i] = gsl_ran_gaussian_ziggurat(rq, sd > 0 ? sd : 1.0);
  } else {
    /* reward: pi_ref leans toward the best responses; anti: away from them, so the
     * optimal response is the least covered (coverage shrinks with the temperature) */
    double sgn = ds->ref == REF_ANTI ? -1.0 : 1.0;
    for (size_t i = 0; i < w->n_items; i++) sref[i] = sgn * p->reward[i];
  }
  /* per-context softmax weights, shifted by the context max for stability */
  for (size_t c = 0; c < w->n_contexts; c++) {
    double mx = -INFINITY;
    for (size_t j = 0; j < M; j++) mx = fmax(mx, sref[c * M + j]);
    for (size_t j = 0; j < M; j++) wt[c * M + j] = exp((sref[c * M + j] - mx) / ds->ref_temperature);
  }
  free(sref);
  return PS_OK;
}

int design_log_ref(const world *w, const population *p, const design_spec *ds, gsl_rng *rq, double *log_ref,
                   ps_msg *m) {
  size_t M = w->m;
  if (ds->kind != DESIGN_POLICY) {
    for (size_t i = 0; i < w->n_items; i++) log_ref[i] = -log((double)M);
    return PS_OK;
  }
  int s = reference_weights(w, p, ds, rq, log_ref, m);
  if (s) return s;
  for (size_t c = 0; c < w->n_contexts; c++) {
    double z = 0;
    for (size_t j = 0; j < M; j++) z += log_ref[c * M + j];
    for (size_t j = 0; j < M; j++) log_ref[c * M + j] = log(log_ref[c * M + j] / z);
  }
  return PS_OK;
}

int design_simulate_users(pref_data *out, size_t n, const world *w, const population *p,
                          const noise_spec *ns, const design_spec *ds, size_t first, size_t count,
                          gsl_rng *rq, gsl_rng *rj, ps_msg *m) {
  size_t M = w->m;
  if (M < 2) return ps_fail(m, PS_EINVAL, "a pair design needs at least 2 responses per context");
  if (!(ns->temperature > 0) || !(ns->flip >= 0 && ns->flip < 0.5))
    return ps_fail(m, PS_EINVAL, "noise needs temperature > 0 and flip in [0, 0.5)");
  if (count && first + count > p->n_users)
    return ps_fail(m, PS_EINVAL, "annotators %zu..%zu do not exist (the population has %zu)", first,
                   first + count - 1, p->n_users);
  double *wt = NULL;
  if (ds->kind == DESIGN_POLICY) {
    wt = malloc(w->n_items * sizeof(double));
    if (!wt) return ps_fail(m, PS_ENOMEM, "out of memory");
    int s = reference_weights(w, p, ds, rq, wt, m);
    if (s) {
      free(wt);
      return s;
    }
  }
  if (pref_data_alloc(out, n, w->n_items, count > 0, 1, 0) != PS_OK) {
    free(wt);
    return ps_fail(m, PS_ENOMEM, "out of memory for %zu comparisons", n);
  }
  if (count) out->n_annotators = first + count;
  if (ns->ties != NOISE_TIES_NONE && pref_data_alloc_ties(out) != PS_OK) {
    pref_data_free(out);
    free(wt);
    return ps_fail(m, PS_ENOMEM, "out of memory for %zu comparisons", n);
  }
  size_t P = M * (M - 1) / 2; /* unordered pairs per context, for the complete design */
  for (size_t i = 0; i < n; i++) {
    size_t c, a, b;
    if (ds->kind == DESIGN_COMPLETE) {
      /* round robin: row i asks pair i mod P of context (i / P) mod C, shown in a random
       * order; every pair of every context is asked equally often when C P divides n */
      size_t k = i % P;
      c = (i / P) % w->n_contexts;
      a = 0;
      while (k >= M - 1 - a) k -= M - 1 - a++;
      b = a + 1 + k;
      if (gsl_rng_uniform(rq) < 0.5) {
        size_t t = a;
        a = b;
        b = t;
      }
    } else {
      c = w->n_contexts > 1 ? gsl_rng_uniform_int(rq, w->n_contexts) : 0;
      if (ds->kind == DESIGN_POLICY) {
        a = draw_first_of_distinct(rq, wt + c * M, M);
        b = draw_weighted(rq, wt + c * M, M, (long)a);
      } else {
        a = gsl_rng_uniform_int(rq, M);
        b = gsl_rng_uniform_int(rq, M - 1);
        if (b >= a) b++;
      }
    }
    int32_t ia = (int32_t)(c * M + a), ib = (int32_t)(c * M + b);
    size_t h = count ? first + i % count : 0;
    double q = count ? noise_prob_user(ns, p, h, ia, ib) : noise_prob(ns, p, ia, ib);
    double u = gsl_rng_uniform(rj);
    int first_wins;
    if (ns->ties != NOISE_TIES_NONE) {
      double p_first, p_tie;
      noise_tie_split(ns, q, &p_first, &p_tie);
      first_wins = u < p_first;
      int tie = !first_wins && u < p_first + p_tie;
      out->tie[i] = (uint8_t)tie;
      first_wins |= tie; /* a tie is stored first, second */
    } else {
      first_wins = u < q;
    }
    out->winner[i] = first_wins ? ia : ib;
    out->loser[i] = first_wins ? ib : ia;
    out->first_won[i] = (uint8_t)first_wins;
    if (count) out->annotator[i] = (int32_t)h;
  }
  free(wt);
  return PS_OK;
}

void noise_tie_split(const noise_spec *ns, double q, double *p_first, double *p_tie) {
  if (ns->ties == NOISE_TIES_DAVIDSON) {
    double r = ns->nu * sqrt(q * (1 - q));
    *p_first = q / (1 + r);
    *p_tie = r / (1 + r);
  } else if (ns->ties == NOISE_TIES_RAOKUPPER) {
    double z = log(q) - log1p(-q);
    *p_first = ps_sigmoid(z - ns->eta);
    *p_tie = 1 - *p_first - ps_sigmoid(-z - ns->eta);
    if (*p_tie < 0) *p_tie = 0;
  } else {
    *p_first = q;
    *p_tie = 0;
  }
}

int design_simulate(pref_data *out, size_t n, const world *w, const population *p,
                    const noise_spec *ns, const design_spec *ds, gsl_rng *rq, gsl_rng *rj,
                    ps_msg *m) {
  return design_simulate_users(out, n, w, p, ns, ds, 0, p->n_train_users, rq, rj, m);
}

/* ---------------------------------------------------------------- rankings */

/* The utility of item y for the judge of one ranking: annotator h's reward (a type drawn
 * per ranking, uniform u_type, for per-comparison mixtures and condorcet), with the
 * spurious label offset of a population without users. */
static double judge_reward(const population *p, size_t h, int type, int32_t y) {
  if (p->kind == POP_CONDORCET) return p->mix[(size_t)type * p->n_items + (size_t)y];
  if (p->n_users && p->per_comparison) return p->type_reward[(size_t)type * p->n_items + (size_t)y];
  if (p->n_users) return population_user_reward(p, h, y);
  return p->reward[y] + (p->label_offset ? p->label_offset[y] : 0);
}

/* the type of one ranking's judge from a uniform u (per-comparison mixtures, condorcet) */
static int judge_type(const population *p, double u) {
  if (p->kind == POP_CONDORCET) return u < 1.0 / 3 ? 0 : u < 2.0 / 3 ? 1 : 2;
  if (!(p->n_users && p->per_comparison)) return 0;
  double acc = 0;
  for (size_t k = 0; k + 1 < p->n_types; k++)
    if (u < (acc += p->type_weight[k])) return (int)k;
  return (int)p->n_types - 1;
}

/* C(n, k) as a double (exact below 2^53 for the sizes a design can enumerate) */
static double choose(size_t n, size_t k) {
  double c = 1;
  for (size_t j = 1; j <= k; j++) c = c * (double)(n - k + j) / (double)j;
  return c;
}

/* the idx-th k-subset of {0..M-1} in lexicographic order (combinatorial number system) */
static void unrank_subset(size_t idx, size_t M, size_t k, size_t *out) {
  size_t a = 0;
  for (size_t j = 0; j < k; j++) {
    for (;; a++) {
      size_t c = (size_t)choose(M - a - 1, k - j - 1);
      if (idx < c) break;
      idx -= c;
    }
    out[j] = a++;
  }
}

int design_simulate_rankings(rank_data *out, size_t n, const world *w, const population *p, const noise_spec *ns,
                             const design_spec *ds, size_t first, size_t count, gsl_rng *rq, gsl_rng *rj,
                             ps_msg *m) {
  size_t M = w->m, k = ds->ranking, top = ds->top;
  memset(out, 0, sizeof *out);
  if (k < 2 || k > M)
    return ps_fail(m, PS_EINVAL, "[design] ranking = %zu: a ranking offers 2..%zu items (the %s per context)", k, M,
                   w->spec.kind == WORLD_ITEMS ? "items" : "responses");
  if (top >= k)
    return ps_fail(m, PS_EINVAL, "[design] top = %zu: a top-m ranking ranks 1..%zu of its %zu items (0 = all)", top,
                   k - 1, k);
  if (ns->ties != NOISE_TIES_NONE)
    return ps_fail(m, PS_EINVAL, "[noise] ties = %s: ties are a pair model; rankings take ties = none",
                   ns->ties == NOISE_TIES_DAVIDSON ? "davidson" : "raokupper");
  if (p->kind == POP_GPM || p->kind == POP_CYCLE)
    return ps_fail(m, PS_EINVAL, "[population] kind = %s has no reward to rank by; rankings need bt, condorcet, "
                   "mixture, idealpoint or lowrank", p->kind == POP_GPM ? "gpm" : "cycle");
  if (!(ns->temperature > 0) || !(ns->flip >= 0 && ns->flip < 0.5))
    return ps_fail(m, PS_EINVAL, "noise needs temperature > 0 and flip in [0, 0.5)");
  if (count && first + count > p->n_users)
    return ps_fail(m, PS_EINVAL, "annotators %zu..%zu do not exist (the population has %zu)", first,
                   first + count - 1, p->n_users);
  double n_subsets = choose(M, k);
  if (ds->kind == DESIGN_COMPLETE && !(n_subsets < 9e15))
    return ps_fail(m, PS_EINVAL, "[design] kind = complete: C(%zu, %zu) subsets per context are too many to enumerate",
                   M, k);
  double *wt = NULL, *key = malloc(k * sizeof *key), *cw = malloc(M * sizeof *cw);
  size_t *pick = malloc((M > k ? M : k) * sizeof *pick), *ord = malloc(k * sizeof *ord);
  int st = PS_OK;
  if (!key || !cw || !pick || !ord) goto oom;
  if (ds->kind == DESIGN_POLICY) {
    if (!(wt = malloc(w->n_items * sizeof *wt))) goto oom;
    if ((st = reference_weights(w, p, ds, rq, wt, m))) goto done;
  }
  if (rank_data_alloc(out, n, n * k, w->n_items, count > 0, 0) != PS_OK) {
    st = ps_fail(m, PS_ENOMEM, "out of memory for %zu rankings of %zu", n, k);
    goto done;
  }
  if (count) out->n_annotators = first + count;
  double sd_noise = ns->link == LINK_PROBIT ? sqrt(0.5) : 0;
  for (size_t i = 0; i < n; i++) {
    size_t c;
    /* the offered items, in presentation order: pick[0..k) */
    if (ds->kind == DESIGN_COMPLETE) {
      size_t P = (size_t)n_subsets;
      c = (i / P) % w->n_contexts;
      unrank_subset(i % P, M, k, pick);
      for (size_t j = k; j-- > 1;) { /* shown in a uniform order */
        size_t r = gsl_rng_uniform_int(rq, j + 1), t = pick[j];
        pick[j] = pick[r];
        pick[r] = t;
      }
    } else {
      c = w->n_contexts > 1 ? gsl_rng_uniform_int(rq, w->n_contexts) : 0;
      if (ds->kind == DESIGN_POLICY) {
        memcpy(cw, wt + c * M, M * sizeof *cw);
        for (size_t j = 0; j < k; j++) {
          pick[j] = draw_weighted(rq, cw, M, -1);
          cw[pick[j]] = 0;
        }
      } else {
        /* a partial Fisher-Yates shuffle of 0..M-1: k distinct, uniformly ordered */
        for (size_t j = 0; j < M; j++) pick[j] = j;
        for (size_t j = 0; j < k; j++) {
          size_t r = j + gsl_rng_uniform_int(rq, M - j), t = pick[j];
          pick[j] = pick[r];
          pick[r] = t;
        }
      }
    }
    size_t h = count ? first + i % count : 0;
    double u_flip = gsl_rng_uniform(rj), u_care = gsl_rng_uniform(rj), u_type = gsl_rng_uniform(rj);
    int flipped = u_flip < 2 * ns->flip;
    int careless = !flipped && count && u_care >= p->competence[h];
    int type = judge_type(p, u_type);
    for (size_t j = 0; j < k; j++) {
      int32_t y = (int32_t)(c * M + pick[j]);
      double u = flipped ? 0 : careless ? -p->bias[h] * (double)j : judge_reward(p, h, type, y) / ns->temperature;
      double e = (sd_noise > 0 && !flipped && !careless) ? gsl_ran_gaussian_ziggurat(rj, sd_noise)
                                                          : -log(-log(gsl_rng_uniform_pos(rj)));
      key[j] = u + e;
      ord[j] = j;
    }
    /* best first: insertion sort of the positions by key, descending (k is small) */
    for (size_t j = 1; j < k; j++) {
      size_t t = ord[j], q = j;
      while (q > 0 && key[ord[q - 1]] < key[t]) ord[q] = ord[q - 1], q--;
      ord[q] = t;
    }
    size_t ranked = top ? top : k, o = out->off[i];
    unsigned char *taken = (unsigned char *)cw; /* reuse: k flags */
    memset(taken, 0, k);
    for (size_t j = 0; j < ranked; j++) {
      out->item[o + j] = (int32_t)(c * M + pick[ord[j]]);
      taken[ord[j]] = 1;
    }
    for (size_t j = 0, q = ranked; j < k; j++)
      if (!taken[j]) out->item[o + q++] = (int32_t)(c * M + pick[j]);
    out->k[i] = (int32_t)ranked;
    out->off[i + 1] = o + k;
    if (count) out->annotator[i] = (int32_t)h;
  }
  goto done;
oom:
  st = ps_fail(m, PS_ENOMEM, "out of memory");
done:
  if (st) rank_data_free(out);
  free(wt);
  free(key);
  free(cw);
  free(pick);
  free(ord);
  return st;
}
