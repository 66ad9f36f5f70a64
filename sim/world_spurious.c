/* world_spurious.c — a feature world whose last feature has a tail of its own: the
 * first dim - 1 features are N(0, feature_scale^2) as in `features`, the last is
 * feature_scale times a unit-variance Student t with spurious_df degrees of freedom
 * (spurious_df = 0: Gaussian).  With population.spurious = gamma the annotators reward
 * that feature and the true reward does not, so a proxy fitted to their labels carries
 * an error gamma phi_last whose tail this world sets: the setting of "catastrophic
 * Goodhart" (Kwa, Thomas and Garriga-Alonso 2024), where optimising a proxy with a
 * heavy-tailed error gains nothing in the true reward (docs/theory.md §3.13b).
 * A world in one file (docs/extending.md). */
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>

#include "sim.h"

static const ps_param spurious_params[] = {
    {"spurious_df", PS_PARAM_REAL, "0", 0, 1e6, NULL,
     "spurious worlds: degrees of freedom (> 2) of the last feature's Student t, scaled to unit variance; "
     "0 = Gaussian"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int spurious_alloc(world *w, const world_spec *spec, gsl_rng *r, ps_msg *m) {
  double df = world_setting(spec, "spurious_df"), s = spec->feature_scale;
  if (spec->contexts < 1 || spec->responses < 2 || spec->dim < 2)
    return ps_fail(m, PS_EINVAL, "a spurious world needs contexts >= 1, responses >= 2, dim >= 2");
  if (!(s > 0)) return ps_fail(m, PS_EINVAL, "feature_scale must be > 0");
  if (!(df == 0 || df > 2))
    return ps_fail(m, PS_EINVAL, "spurious_df = %g: 0 (Gaussian) or > 2 (a Student t with finite variance)", df);
  w->n_contexts = spec->contexts;
  w->m = spec->responses;
  w->n_items = spec->contexts * spec->responses;
  w->d = spec->dim;
  w->phi = malloc(w->n_items * w->d * sizeof(double));
  if (!w->phi) return ps_fail(m, PS_ENOMEM, "out of memory building a world of %zu items", w->n_items);
  double tscale = df > 0 ? sqrt((df - 2) / df) : 1; /* Var t_df = df / (df - 2) */
  for (size_t i = 0; i < w->n_items; i++) {
    double *f = w->phi + i * w->d;
    for (size_t k = 0; k + 1 < w->d; k++) f[k] = s * gsl_ran_gaussian_ziggurat(r, 1.0);
    f[w->d - 1] = s * (df > 0 ? tscale * gsl_ran_tdist(r, df) : gsl_ran_gaussian_ziggurat(r, 1.0));
  }
  return PS_OK;
}

const world_type wt_spurious = {
    .name = "spurious",
    .doc = "as features, with the last feature a unit-variance Student t (spurious_df; 0 = Gaussian): the "
           "feature population.spurious makes annotators reward",
    .kind = WORLD_FEATURES,
    .params = spurious_params,
    .alloc = spurious_alloc,
};
