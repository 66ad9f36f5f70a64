/* world.c — the built-in item and feature worlds, world_alloc, and the world
 * registry's lookups (see sim.h).
 *
 * Item i belongs to context i / m and is its response i % m; features are drawn
 * row by row from one stream, so a world depends only on (seed, counter, spec). */
#include "sim.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int items_alloc(world *w, const world_spec *spec, gsl_rng *r, ps_msg *m) {
  if (spec->items < 2) return ps_fail(m, PS_EINVAL, "an item world needs at least 2 items");
  w->n_items = spec->items;
  w->n_contexts = 1;
  w->m = spec->items;
  w->d = spec->items;
  return PS_OK;
}

static int features_alloc(world *w, const world_spec *spec, gsl_rng *r, ps_msg *m) {
  if (spec->contexts < 1 || spec->responses < 2 || spec->dim < 1)
    return ps_fail(m, PS_EINVAL, "a feature world needs contexts >= 1, responses >= 2, dim >= 1");
  if (!(spec->feature_scale > 0)) return ps_fail(m, PS_EINVAL, "feature_scale must be > 0");
  w->n_contexts = spec->contexts;
  w->m = spec->responses;
  w->n_items = spec->contexts * spec->responses;
  w->d = spec->dim;
  w->phi = malloc(w->n_items * w->d * sizeof(double));
  if (!w->phi) return ps_fail(m, PS_ENOMEM, "out of memory building a world of %zu items", w->n_items);
  for (size_t i = 0; i < w->n_items * w->d; i++) w->phi[i] = gsl_ran_gaussian_ziggurat(r, spec->feature_scale);
  return PS_OK;
}

const world_type wt_items = {
    .name = "items",
    .doc = "one context of `items` items, each with its own free score (no features)",
    .kind = WORLD_ITEMS,
    .alloc = items_alloc,
};

const world_type wt_features = {
    .name = "features",
    .doc = "`contexts` contexts of `responses` responses with features phi ~ N(0, feature_scale^2 I_dim)",
    .kind = WORLD_FEATURES,
    .alloc = features_alloc,
};

int world_alloc(world *w, const world_spec *spec, gsl_rng *r, ps_msg *m) {
  memset(w, 0, sizeof *w);
  w->spec = *spec;
  const world_type *t = spec->type ? spec->type : spec->kind == WORLD_ITEMS ? &wt_items : &wt_features;
  if (!t->alloc) return ps_fail(m, PS_EINVAL, "world kind '%s' is not an item or feature world", t->name);
  w->spec.type = t;
  w->spec.kind = t->kind;
  int s = t->alloc(w, &w->spec, r, m);
  if (s) {
    world_free(w);
    return s;
  }
  if (!w->item_context) {
    w->item_context = malloc(w->n_items * sizeof(int32_t));
    if (!w->item_context) {
      world_free(w);
      return ps_fail(m, PS_ENOMEM, "out of memory building a world of %zu items", w->n_items);
    }
    for (size_t i = 0; i < w->n_items; i++) w->item_context[i] = (int32_t)(i / w->m);
  }
  return PS_OK;
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

const world_type *world_lookup(const char *name) {
  for (size_t i = 0; world_registry[i]; i++)
    if (!strcmp(world_registry[i]->name, name)) return world_registry[i];
  return NULL;
}

const char *world_names(void) {
  static char buf[512];
  if (!buf[0])
    for (size_t i = 0; world_registry[i]; i++) {
      if (i) strncat(buf, "|", sizeof buf - strlen(buf) - 1);
      strncat(buf, world_registry[i]->name, sizeof buf - strlen(buf) - 1);
    }
  return buf;
}

double world_setting(const world_spec *spec, const char *key) {
  if (!spec->type || !spec->type->params) return NAN;
  for (size_t i = 0; spec->type->params[i].key && i < WORLD_MAX_OWN; i++)
    if (!strcmp(spec->type->params[i].key, key)) return spec->own[i];
  return NAN;
}
