/* rankdata.h — rankings (full or top-k of an offered set) as offsets into one flat
 * item array, beside the pair store of prefdata.h (which they leave untouched: a
 * strict pair costs what it did).
 *
 * Ranking r offers the items item[off[r] .. off[r+1]): its size s_r >= 2 items, the
 * k[r] ranked ones first, best first, then the offered items left unranked (in any
 * order; none when the ranking is full).  1 <= k[r] <= s_r; k[r] = s_r - 1 and
 * k[r] = s_r carry the same information (the last item is the one left).  Under
 * Plackett-Luce (docs/theory.md §3.18) ranking r is the choices
 *
 *     stage t = 0 .. min(k_r, s_r - 1) - 1:  item[off+t] chosen from item[off+t .. off+s_r),
 *
 * each with probability exp(u_chosen) / sum exp(u_rest).  A ranking of one item out
 * of a set (k = 1) is a top-1 choice.
 *
 * Invariants (rank_data_check): ids in [0, n_items), no item twice in one ranking,
 * s_r >= 2, 1 <= k[r] <= s_r, count[r] finite > 0 when present. */
#ifndef PS_CORE_RANKDATA_H
#define PS_CORE_RANKDATA_H

#include <stddef.h>
#include <stdint.h>

#include "prefdata.h"
#include "ps.h"

typedef struct {
  size_t n;            /* rankings */
  size_t n_items;      /* item ids are 0..n_items-1 */
  size_t n_annotators; /* 1 when annotator is NULL */
  size_t *off;         /* n + 1 offsets into item; off[0] = 0, off[n] = total offered */
  int32_t *item;       /* off[n] item ids: per ranking the ranked ones best first, then the rest */
  int32_t *k;          /* items ranked per ranking */
  int32_t *annotator;  /* NULL: one annotator */
  double *count;       /* NULL: every ranking counts once */
} rank_data;

/* Room for n rankings offering `total` items in all (annotator / count only when
 * asked); off[0] = 0, n and n_items set, the arrays to be filled by the caller.
 * PS_OK or PS_ENOMEM (d left empty). */
int rank_data_alloc(rank_data *d, size_t n, size_t total, size_t n_items, int with_annotator, int with_count);
void rank_data_free(rank_data *d);

/* Size of ranking r and its number of Plackett-Luce choice stages, min(k, size - 1). */
static inline size_t rank_size(const rank_data *d, size_t r) { return d->off[r + 1] - d->off[r]; }
static inline size_t rank_stages(const rank_data *d, size_t r) {
  size_t s = rank_size(d, r), k = (size_t)d->k[r];
  return k < s - 1 ? k : s - 1;
}

/* Total weight sum_r count[r] (n when count is NULL). */
double rank_data_weight(const rank_data *d);

/* The invariants above; PS_EINVAL naming the ranking otherwise. */
int rank_data_check(const rank_data *d, ps_msg *m);

/* Breaking a ranking into pairs (docs/theory.md §3.18), each pair weighted by the
 * ranking's count and carrying its annotator:
 *   RANK_BREAK_FULL      every ranked item beats every item below it in its set
 *                        (ranked or not): sum_t (s - 1 - t) pairs over the stages;
 *   RANK_BREAK_ADJACENT  each ranked item beats the next ranked one, and the last
 *                        ranked item of a top-k beats each unranked offered item.
 * out is allocated here (with count always, annotator when d has one); PS_ENOMEM. */
typedef enum { RANK_BREAK_FULL = 0, RANK_BREAK_ADJACENT = 1 } rank_breaking;
int rank_data_break(const rank_data *d, rank_breaking how, pref_data *out, ps_msg *m);

/* Pairs as full rankings of 2 (winner > loser), counts and annotators kept.  PS_ENOMEM. */
int rank_data_from_pairs(const pref_data *p, rank_data *out, ps_msg *m);

#endif
