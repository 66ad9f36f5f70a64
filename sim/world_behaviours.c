/* world_behaviours.c — separate behaviours for DPO's learning dynamics (docs/theory.md
 * §3.13c, "margins of separate behaviours"; Im and Li 2024): context c is one behaviour
 * with two responses whose features differ along its own axis only,
 *
 *     phi(c, 0) = +s_c / 2 e_c,   phi(c, 1) = -s_c / 2 e_c,   s_c = s_min (s_max / s_min)^(c / (C - 1)),
 *
 * so dim = contexts, the behaviours' difference vectors are orthogonal, and the gradient
 * flow of the mean DPO loss decouples into one scalar equation per behaviour whose
 * solution is closed-form: the margin m_c = beta theta^T (phi(c,0) - phi(c,1)) obeys
 * dm_c/dt = beta^2 s_c^2 w_c (p_c - sigma(m_c)), w_c the behaviour's share of the
 * training weight and p_c the share in which response 0 won.  s_c^2 w_c is the
 * behaviour's distinguishability.  A world in one file (docs/extending.md). */
#include <math.h>
#include <stdlib.h>

#include "sim.h"

static const ps_param behaviours_params[] = {
    {"separation_min", PS_PARAM_REAL, "0.5", 1e-6, 1e6, NULL,
     "behaviours worlds: feature distance s of the first behaviour's two responses"},
    {"separation_max", PS_PARAM_REAL, "4", 1e-6, 1e6, NULL,
     "behaviours worlds: that of the last; the others are spaced geometrically between"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int behaviours_alloc(world *w, const world_spec *spec, gsl_rng *r, ps_msg *m) {
  (void)r;
  double lo = world_setting(spec, "separation_min"), hi = world_setting(spec, "separation_max");
  size_t C = spec->contexts;
  if (C < 1 || spec->responses != 2)
    return ps_fail(m, PS_EINVAL, "a behaviours world needs contexts >= 1 (one per behaviour) and responses = 2 (it has "
                   "%zu)", spec->responses);
  if (spec->dim != C)
    return ps_fail(m, PS_EINVAL, "a behaviours world gives each behaviour its own feature: dim must equal contexts "
                   "(%zu), not %zu", C, spec->dim);
  if (!(lo > 0 && hi > 0 && isfinite(lo) && isfinite(hi)))
    return ps_fail(m, PS_EINVAL, "separation_min and separation_max must be finite and > 0");
  w->n_contexts = C;
  w->m = 2;
  w->n_items = 2 * C;
  w->d = C;
  w->phi = calloc(w->n_items * w->d, sizeof(double));
  if (!w->phi) return ps_fail(m, PS_ENOMEM, "out of memory building a world of %zu items", w->n_items);
  for (size_t c = 0; c < C; c++) {
    double s = C == 1 ? lo : lo * pow(hi / lo, (double)c / (double)(C - 1));
    w->phi[(2 * c) * C + c] = s / 2;
    w->phi[(2 * c + 1) * C + c] = -s / 2;
  }
  return PS_OK;
}

const world_type wt_behaviours = {
    .name = "behaviours",
    .doc = "one context per behaviour, two responses apart by s_c along the behaviour's own feature (s from "
           "separation_min to separation_max, geometric; dim = contexts): DPO's gradient flow decouples into "
           "closed-form margins per behaviour (docs/theory.md §3.13c)",
    .kind = WORLD_FEATURES,
    .params = behaviours_params,
    .alloc = behaviours_alloc,
};
