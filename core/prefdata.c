/* prefdata.c — allocation and checks for comparison data (see prefdata.h). */
#include "prefdata.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int pref_data_alloc(pref_data *d, size_t n, size_t n_items, int with_annotator, int with_order,
                    int with_count) {
  memset(d, 0, sizeof *d);
  size_t k = n ? n : 1;
  d->winner = malloc(k * sizeof(int32_t));
  d->loser = malloc(k * sizeof(int32_t));
  if (with_annotator) d->annotator = calloc(k, sizeof(int32_t));
  if (with_order) d->first_won = calloc(k, 1);
  if (with_count) d->count = malloc(k * sizeof(double));
  if (!d->winner || !d->loser || (with_annotator && !d->annotator) || (with_order && !d->first_won) ||
      (with_count && !d->count)) {
    pref_data_free(d);
    return PS_ENOMEM;
  }
  d->n = n;
  d->n_items = n_items;
  d->n_annotators = 1;
  return PS_OK;
}

void pref_data_free(pref_data *d) {
  if (!d) return;
  free(d->winner);
  free(d->loser);
  free(d->annotator);
  free(d->first_won);
  free(d->count);
  memset(d, 0, sizeof *d);
}

double pref_data_weight(const pref_data *d) {
  if (!d->count) return (double)d->n;
  double s = 0;
  for (size_t i = 0; i < d->n; i++) s += d->count[i];
  return s;
}

int pref_data_check(const pref_data *d, ps_msg *m) {
  for (size_t i = 0; i < d->n; i++) {
    int32_t w = d->winner[i], l = d->loser[i];
    if (w < 0 || l < 0 || (size_t)w >= d->n_items || (size_t)l >= d->n_items)
      return ps_fail(m, PS_EINVAL, "row %zu: item id out of range [0, %zu)", i, d->n_items);
    if (w == l) return ps_fail(m, PS_EINVAL, "row %zu: an item is compared with itself", i);
    if (d->count && !(isfinite(d->count[i]) && d->count[i] > 0))
      return ps_fail(m, PS_EINVAL, "row %zu: count %g is not a positive finite number", i, d->count[i]);
    if (d->annotator && (d->annotator[i] < 0 || (size_t)d->annotator[i] >= d->n_annotators))
      return ps_fail(m, PS_EINVAL, "row %zu: annotator id out of range", i);
  }
  return PS_OK;
}
