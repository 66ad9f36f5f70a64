/* rankdata.c — allocation, checks and breaking of rankings (see rankdata.h). */
#include "rankdata.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int rank_data_alloc(rank_data *d, size_t n, size_t total, size_t n_items, int with_annotator, int with_count) {
  memset(d, 0, sizeof *d);
  size_t kn = n ? n : 1, kt = total ? total : 1;
  d->off = malloc((n + 1) * sizeof *d->off);
  d->item = malloc(kt * sizeof *d->item);
  d->k = malloc(kn * sizeof *d->k);
  if (with_annotator) d->annotator = calloc(kn, sizeof *d->annotator);
  if (with_count) d->count = malloc(kn * sizeof *d->count);
  if (!d->off || !d->item || !d->k || (with_annotator && !d->annotator) || (with_count && !d->count)) {
    rank_data_free(d);
    return PS_ENOMEM;
  }
  d->off[0] = 0;
  d->n = n;
  d->n_items = n_items;
  d->n_annotators = 1;
  return PS_OK;
}

void rank_data_free(rank_data *d) {
  if (!d) return;
  free(d->off);
  free(d->item);
  free(d->k);
  free(d->annotator);
  free(d->count);
  memset(d, 0, sizeof *d);
}

double rank_data_weight(const rank_data *d) {
  if (!d->count) return (double)d->n;
  double s = 0;
  for (size_t r = 0; r < d->n; r++) s += d->count[r];
  return s;
}

int rank_data_check(const rank_data *d, ps_msg *m) {
  if (d->n && !d->off) return ps_fail(m, PS_EINVAL, "rankings without offsets");
  unsigned char *seen = calloc(d->n_items ? d->n_items : 1, 1);
  if (!seen) return ps_fail(m, PS_ENOMEM, "out of memory");
  int s = PS_OK;
  for (size_t r = 0; r < d->n && s == PS_OK; r++) {
    size_t a = d->off[r], b = d->off[r + 1];
    if (b < a + 2) {
      s = ps_fail(m, PS_EINVAL, "ranking %zu: a set of %zu item%s; at least 2 are needed", r, b - a,
                  b - a == 1 ? "" : "s");
      break;
    }
    if (d->k[r] < 1 || (size_t)d->k[r] > b - a) {
      s = ps_fail(m, PS_EINVAL, "ranking %zu: %d items ranked out of a set of %zu", r, d->k[r], b - a);
      break;
    }
    size_t i = a;
    for (; i < b; i++) {
      int32_t it = d->item[i];
      if (it < 0 || (size_t)it >= d->n_items) {
        s = ps_fail(m, PS_EINVAL, "ranking %zu: item id %d out of range [0, %zu)", r, it, d->n_items);
        break;
      }
      if (seen[it]) {
        s = ps_fail(m, PS_EINVAL, "ranking %zu: item %d appears twice", r, it);
        break;
      }
      seen[it] = 1;
    }
    for (size_t j = a; j < i; j++) seen[d->item[j]] = 0;
    if (s == PS_OK && d->count && !(isfinite(d->count[r]) && d->count[r] > 0))
      s = ps_fail(m, PS_EINVAL, "ranking %zu: count %g is not a positive finite number", r, d->count[r]);
    if (s == PS_OK && d->annotator && (d->annotator[r] < 0 || (size_t)d->annotator[r] >= d->n_annotators))
      s = ps_fail(m, PS_EINVAL, "ranking %zu: annotator id out of range", r);
  }
  free(seen);
  return s;
}

/* pairs of ranking r under how; emit(w, l) when out != NULL, else only counted */
static size_t break_one(const rank_data *d, size_t r, rank_breaking how, pref_data *out, size_t at) {
  size_t a = d->off[r], s = rank_size(d, r), T = rank_stages(d, r), n = 0;
  const int32_t *it = d->item + a;
  for (size_t t = 0; t < T; t++) {
    size_t lo = t + 1, hi = s; /* full: every item below */
    if (how == RANK_BREAK_ADJACENT && t + 1 < T) hi = t + 2; /* the next ranked item only */
    /* adjacent, last stage: the next item and, for a top-k, every unranked one */
    for (size_t u = lo; u < hi; u++, n++)
      if (out) {
        out->winner[at + n] = it[t];
        out->loser[at + n] = it[u];
        out->count[at + n] = d->count ? d->count[r] : 1.0;
        if (out->annotator) out->annotator[at + n] = d->annotator ? d->annotator[r] : 0;
      }
  }
  return n;
}

int rank_data_break(const rank_data *d, rank_breaking how, pref_data *out, ps_msg *m) {
  size_t total = 0;
  for (size_t r = 0; r < d->n; r++) total += break_one(d, r, how, NULL, 0);
  if (pref_data_alloc(out, total, d->n_items, d->annotator != NULL, 0, 1) != PS_OK)
    return ps_fail(m, PS_ENOMEM, "out of memory for %zu broken pairs", total);
  out->n_annotators = d->n_annotators;
  size_t at = 0;
  for (size_t r = 0; r < d->n; r++) at += break_one(d, r, how, out, at);
  return PS_OK;
}

int rank_data_from_pairs(const pref_data *p, rank_data *out, ps_msg *m) {
  if (rank_data_alloc(out, p->n, 2 * p->n, p->n_items, p->annotator != NULL, p->count != NULL) != PS_OK)
    return ps_fail(m, PS_ENOMEM, "out of memory for %zu rankings", p->n);
  out->n_annotators = p->n_annotators;
  for (size_t i = 0; i < p->n; i++) {
    out->off[i + 1] = 2 * (i + 1);
    out->item[2 * i] = p->winner[i];
    out->item[2 * i + 1] = p->loser[i];
    out->k[i] = 2;
    if (p->count) out->count[i] = p->count[i];
    if (p->annotator) out->annotator[i] = p->annotator[i];
  }
  return PS_OK;
}
