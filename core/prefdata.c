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
  free(d->tie);
  memset(d, 0, sizeof *d);
}

int pref_data_alloc_ties(pref_data *d) {
  d->tie = calloc(d->n ? d->n : 1, 1);
  return d->tie ? PS_OK : PS_ENOMEM;
}

size_t pref_data_n_ties(const pref_data *d) {
  size_t k = 0;
  if (d->tie)
    for (size_t i = 0; i < d->n; i++) k += d->tie[i] != 0;
  return k;
}

double pref_data_tie_weight(const pref_data *d) {
  double s = 0;
  if (d->tie)
    for (size_t i = 0; i < d->n; i++)
      if (d->tie[i]) s += d->count ? d->count[i] : 1.0;
  return s;
}

int pref_data_resolve_ties(const pref_data *in, pref_ties_mode mode, pref_data *out, ps_msg *m) {
  size_t k = pref_data_n_ties(in), n = mode == PREF_TIES_HALF ? in->n + k : in->n - k;
  memset(out, 0, sizeof *out);
  if (n == 0) return ps_fail(m, PS_EINVAL, "every one of the %zu rows is a tie: dropping them leaves no data", in->n);
  if (pref_data_alloc(out, n, in->n_items, in->annotator != NULL, in->first_won != NULL,
                      in->count != NULL || (mode == PREF_TIES_HALF && k > 0)) != PS_OK)
    return ps_fail(m, PS_ENOMEM, "out of memory for %zu rows", n);
  out->n_annotators = in->n_annotators;
  size_t j = 0;
  for (size_t i = 0; i < in->n; i++) {
    int t = in->tie && in->tie[i];
    if (t && mode == PREF_TIES_DROP) continue;
    double c = in->count ? in->count[i] : 1.0;
    for (int rep = 0; rep < 1 + t; rep++, j++) {
      out->winner[j] = rep ? in->loser[i] : in->winner[i];
      out->loser[j] = rep ? in->winner[i] : in->loser[i];
      if (out->annotator) out->annotator[j] = in->annotator[i];
      if (out->first_won) out->first_won[j] = (uint8_t)(rep ? !in->first_won[i] : in->first_won[i]);
      if (out->count) out->count[j] = t ? 0.5 * c : c;
    }
  }
  return PS_OK;
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
    if (d->tie && d->tie[i] > 1) return ps_fail(m, PS_EINVAL, "row %zu: tie flag %d is not 0 or 1", i, d->tie[i]);
    if (d->annotator && (d->annotator[i] < 0 || (size_t)d->annotator[i] >= d->n_annotators))
      return ps_fail(m, PS_EINVAL, "row %zu: annotator id out of range", i);
  }
  return PS_OK;
}
