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

int population_alloc(population *p, const world *w, const population_spec *spec, gsl_rng *r,
                     ps_msg *m) {
  memset(p, 0, sizeof *p);
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
  memset(p, 0, sizeof *p);
}

double noise_prob_clean(const noise_spec *ns, const population *p, int32_t a, int32_t b) {
  double z = (p->reward[a] - p->reward[b]) / ns->temperature;
  return ns->link == LINK_PROBIT ? ps_normal_cdf(z) : ps_sigmoid(z);
}

double noise_prob(const noise_spec *ns, const population *p, int32_t a, int32_t b) {
  double q = noise_prob_clean(ns, p, a, b);
  return ns->flip + (1 - 2 * ns->flip) * q;
}
