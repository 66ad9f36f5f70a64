/* world_correlated.c — a feature world whose features are equicorrelated: each
 * response's feature vector is phi = feature_scale (sqrt(1 - rho) z + sqrt(rho) u 1)
 * with z ~ N(0, I_dim) and one u ~ N(0, 1) per response, so Corr(phi_k, phi_l) = rho
 * for k != l.  The differences phi_a - phi_b that BT sees then have covariance
 * 2 feature_scale^2 ((1 - rho) I + rho 11^T): eigenvalue 2 s^2 (1 - rho) on the
 * dim - 1 directions orthogonal to 1 and 2 s^2 (1 - rho + dim rho) along 1.  The
 * Fisher information shrinks by about 1 - rho on those dim - 1 directions, so the
 * Cramér–Rao scale sqrt(tr I^-1) grows roughly like 1/sqrt(1 - rho) (exactly only
 * when the logistic weights sigma'(theta* . x) do not change with rho; measured at
 * dim 8, n 4000: 0.142 at rho 0, 0.306 at rho 0.9, where 1/sqrt(0.1) = 3.2 would
 * give 0.45) (docs/theory.md §2.2).
 * A worked example of a world in one file (docs/extending.md). */
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>

#include "sim.h"

static const ps_param correlated_params[] = {
    {"feature_correlation", PS_PARAM_REAL, "0.5", 0, 0.999, NULL,
     "correlated worlds: correlation rho between any two features of a response"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int correlated_alloc(world *w, const world_spec *spec, gsl_rng *r, ps_msg *m) {
  double rho = world_setting(spec, "feature_correlation"), s = spec->feature_scale;
  if (spec->contexts < 1 || spec->responses < 2 || spec->dim < 1)
    return ps_fail(m, PS_EINVAL, "a feature world needs contexts >= 1, responses >= 2, dim >= 1");
  if (!(s > 0)) return ps_fail(m, PS_EINVAL, "feature_scale must be > 0");
  if (!(rho >= 0 && rho < 1)) return ps_fail(m, PS_EINVAL, "feature_correlation must be in [0, 1)");
  w->n_contexts = spec->contexts;
  w->m = spec->responses;
  w->n_items = spec->contexts * spec->responses;
  w->d = spec->dim;
  w->phi = malloc(w->n_items * w->d * sizeof(double));
  if (!w->phi) return ps_fail(m, PS_ENOMEM, "out of memory building a world of %zu items", w->n_items);
  double a = s * sqrt(1 - rho), b = s * sqrt(rho);
  for (size_t i = 0; i < w->n_items; i++) {
    double u = gsl_ran_gaussian_ziggurat(r, 1.0);
    for (size_t k = 0; k < w->d; k++) w->phi[i * w->d + k] = a * gsl_ran_gaussian_ziggurat(r, 1.0) + b * u;
  }
  return PS_OK;
}

const world_type wt_correlated = {
    .name = "correlated",
    .doc = "as features, with every pair of a response's features correlated rho = feature_correlation",
    .kind = WORLD_FEATURES,
    .params = correlated_params,
    .alloc = correlated_alloc,
};
