/* world.c — items, contexts and Gaussian response features (see sim.h).
 *
 * Item i belongs to context i / m and is its response i % m; features are drawn
 * row by row from one stream, so a world depends only on (seed, counter, spec). */
#include "sim.h"

#include <gsl/gsl_randist.h>
#include <stdlib.h>
#include <string.h>

int world_alloc(world *w, const world_spec *spec, gsl_rng *r, ps_msg *m) {
  memset(w, 0, sizeof *w);
  w->spec = *spec;
  if (spec->kind == WORLD_ITEMS) {
    if (spec->items < 2) return ps_fail(m, PS_EINVAL, "an item world needs at least 2 items");
    w->n_items = spec->items;
    w->n_contexts = 1;
    w->m = spec->items;
    w->d = spec->items;
  } else {
    if (spec->contexts < 1 || spec->responses < 2 || spec->dim < 1)
      return ps_fail(m, PS_EINVAL, "a feature world needs contexts >= 1, responses >= 2, dim >= 1");
    if (!(spec->feature_scale > 0)) return ps_fail(m, PS_EINVAL, "feature_scale must be > 0");
    w->n_contexts = spec->contexts;
    w->m = spec->responses;
    w->n_items = spec->contexts * spec->responses;
    w->d = spec->dim;
    w->phi = malloc(w->n_items * w->d * sizeof(double));
    if (!w->phi) goto oom;
    for (size_t i = 0; i < w->n_items * w->d; i++) w->phi[i] = gsl_ran_gaussian_ziggurat(r, spec->feature_scale);
  }
  w->item_context = malloc(w->n_items * sizeof(int32_t));
  if (!w->item_context) goto oom;
  for (size_t i = 0; i < w->n_items; i++) w->item_context[i] = (int32_t)(i / w->m);
  return PS_OK;
oom:
  world_free(w);
  return ps_fail(m, PS_ENOMEM, "out of memory building a world of %zu items", spec->items);
}

void world_free(world *w) {
  if (!w) return;
  free(w->phi);
  free(w->item_context);
  memset(w, 0, sizeof *w);
}

pref_features world_features(const world *w) {
  pref_features f = {.n_items = w->n_items,
                     .d = w->d,
                     .phi = w->phi,
                     .n_contexts = w->n_contexts,
                     .item_context = w->item_context};
  return f;
}
