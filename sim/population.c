/* population.c — Bradley-Terry truth and the label noise model (see sim.h).
 *
 * Links (THEORY.md §2.1): P(a > b) = F((r_a - r_b)/T) with F = sigma (BT) or Phi
 * (Thurstone).  Symmetric flips (§2.3): P~ = eps + (1 - 2 eps) P.
 * Item scores are centred after drawing so theta* itself is the normalised
 * parameter the estimators' centred scores are compared with. */
#include "sim.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"

static double link_cdf(const noise_spec *ns, double z) {
  return ns->link == LINK_PROBIT ? ps_normal_cdf(z) : ps_sigmoid(z);
}

static double gpm_score(const population *p, int32_t a, int32_t b) {
  const double *va = p->embed + (size_t)a * 2 * p->k, *vb = p->embed + (size_t)b * 2 * p->k;
  double s = 0;
  for (size_t l = 0; l < p->k; l++) s += va[2 * l] * vb[2 * l + 1] - va[2 * l + 1] * vb[2 * l];
  return s;
}

/* the non-BT populations: item worlds, truth as a preference function */
static int population_general(population *p, const world *w, const population_spec *spec, gsl_rng *r,
                              ps_msg *m) {
  size_t M = w->n_items;
  if (w->spec.kind != WORLD_ITEMS)
    return ps_fail(m, PS_EINVAL, "population kinds gpm, cycle and condorcet need world.kind = items");
  if (M > 20000)
    return ps_fail(m, PS_EINVAL, "population kinds gpm, cycle and condorcet take at most 20000 items (%zu)", M);
  if (spec->kind != POP_GPM && M < 3)
    return ps_fail(m, PS_EINVAL, "a cycle or a Condorcet mixture needs at least 3 items");
  p->d = 0;
  p->reward = malloc(M * sizeof(double));
  if (!p->reward) return ps_fail(m, PS_ENOMEM, "out of memory");
  if (spec->kind == POP_CONDORCET) {
    p->mix = malloc(3 * M * sizeof(double));
    if (!p->mix) return ps_fail(m, PS_ENOMEM, "out of memory");
    /* type k's order is rotated by floor(k M / 3): distinct rotations for every M >= 3 */
    for (size_t k = 0; k < 3; k++)
      for (size_t y = 0; y < M; y++) p->mix[k * M + y] = spec->delta * (double)((M - 1 - y + (k * M) / 3) % M);
  } else {
    p->k = spec->kind == POP_CYCLE ? 1 : spec->k;
    if (p->k < 1) return ps_fail(m, PS_EINVAL, "population.k must be >= 1");
    if (!(spec->tau > 0)) return ps_fail(m, PS_EINVAL, "population.tau must be > 0");
    p->tau = spec->tau;
    p->embed = malloc(M * 2 * p->k * sizeof(double));
    if (!p->embed) return ps_fail(m, PS_ENOMEM, "out of memory");
    for (size_t y = 0; y < M; y++)
      for (size_t j = 0; j < 2 * p->k; j++)
        p->embed[y * 2 * p->k + j] =
            spec->kind == POP_CYCLE ? (j == 0 ? cos(2 * M_PI * (double)y / (double)M) : sin(2 * M_PI * (double)y / (double)M))
                                    : gsl_ran_gaussian_ziggurat(r, spec->scale);
  }
  return PS_OK;
}

/* Borda score mean_j P(y > j) of every item under the clean logistic link: a
 * reward-like summary for designs and rank metrics */
static void borda(population *p, size_t M) {
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0};
  for (size_t y = 0; y < M; y++) {
    double s = 0;
    for (size_t j = 0; j < M; j++)
      if (j != y) s += noise_prob_clean(&ns, p, (int32_t)y, (int32_t)j);
    p->reward[y] = M > 1 ? s / (double)(M - 1) : 0.5;
  }
}

int population_alloc(population *p, const world *w, const population_spec *spec, gsl_rng *r,
                     ps_msg *m) {
  memset(p, 0, sizeof *p);
  p->kind = spec->kind;
  p->n_items = w->n_items;
  if (spec->kind != POP_BT) {
    int s = population_general(p, w, spec, r, m);
    if (s) {
      population_free(p);
      return s;
    }
    borda(p, w->n_items);
    return PS_OK;
  }
  p->d = w->d;
  p->theta = malloc(p->d * sizeof(double));
  p->reward = malloc(w->n_items * sizeof(double));
  if (!p->theta || !p->reward) {
    population_free(p);
    return ps_fail(m, PS_ENOMEM, "out of memory drawing the population");
  }
  if (w->spec.kind == WORLD_ITEMS) {
    if (!(spec->scale >= 0)) {
      population_free(p);
      return ps_fail(m, PS_EINVAL, "population.scale must be >= 0");
    }
    double mean = 0;
    for (size_t i = 0; i < p->d; i++) mean += (p->theta[i] = gsl_ran_gaussian_ziggurat(r, spec->scale));
    mean /= (double)p->d;
    for (size_t i = 0; i < p->d; i++) p->reward[i] = (p->theta[i] -= mean);
  } else {
    /* uniform direction: normalised Gaussian vector */
    double nrm = 0;
    do {
      nrm = 0;
      for (size_t k = 0; k < p->d; k++) {
        p->theta[k] = gsl_ran_gaussian_ziggurat(r, 1.0);
        nrm += p->theta[k] * p->theta[k];
      }
    } while (nrm == 0);
    nrm = sqrt(nrm);
    for (size_t k = 0; k < p->d; k++) p->theta[k] *= spec->norm / nrm;
    for (size_t i = 0; i < w->n_items; i++) {
      const double *f = w->phi + i * w->d;
      double s = 0;
      for (size_t k = 0; k < p->d; k++) s += p->theta[k] * f[k];
      p->reward[i] = s;
    }
  }
  return PS_OK;
}

void population_free(population *p) {
  if (!p) return;
  free(p->theta);
  free(p->reward);
  free(p->embed);
  free(p->mix);
  memset(p, 0, sizeof *p);
}

double noise_prob_clean(const noise_spec *ns, const population *p, int32_t a, int32_t b) {
  switch (p->kind) {
  case POP_GPM: return link_cdf(ns, gpm_score(p, a, b) / (p->tau * ns->temperature));
  case POP_CYCLE: {
    /* antipodal items are an exact tie; sin(pi) is 1.2e-16 in floating point */
    double sc = gpm_score(p, a, b);
    if (fabs(sc) < 1e-12) sc = 0;
    return link_cdf(ns, sc / (p->tau * ns->temperature));
  }
  case POP_CONDORCET: {
    /* marginal of the per-comparison mixture: the mean of the three types' links */
    size_t M = p->n_items;
    double q = 0;
    for (size_t k = 0; k < 3; k++)
      q += link_cdf(ns, (p->mix[k * M + (size_t)a] - p->mix[k * M + (size_t)b]) / ns->temperature);
    return q / 3;
  }
  default: return link_cdf(ns, (p->reward[a] - p->reward[b]) / ns->temperature);
  }
}

double noise_prob(const noise_spec *ns, const population *p, int32_t a, int32_t b) {
  double q = noise_prob_clean(ns, p, a, b);
  return ns->flip + (1 - 2 * ns->flip) * q;
}
