/* prefdata.h — comparison data as struct-of-arrays, and the feature view.
 *
 * One comparison is 13 bytes: winner and loser item ids (int32), the annotator
 * id (int32) and whether the winner was the first-shown item (uint8).  The
 * context of a comparison is the context of its items (item_context in the
 * feature view), so it is not stored per comparison.  Features are stored once
 * per item (n_items x d, row-major) and never materialised per comparison.
 *
 * Ties (docs/theory.md §3.17): a row with tie[i] = 1 says winner[i] and loser[i] were
 * judged equal; the two names are then just the pair (their order carries no
 * preference; first_won still says which was shown first).  Ties are a per-row flag
 * column rather than a comparison kind of their own, because a tie has everything a
 * strict row has (the pair, annotator, count, presentation order) and nothing more:
 * a separate tie store would duplicate every column.  The column is NULL unless the
 * data have one (pref_data_alloc_ties), so strict data cost nothing more and every
 * existing estimator's loops stay as they were.  The guard: an estimator reads tie
 * only when its est_type.inputs has EST_IN_TIES; data with ties (pref_data_n_ties > 0)
 * given to any other is refused by its caller (cli/, experiments/), or first reduced
 * to strict pairs with pref_data_resolve_ties (drop them, or count each as half a win
 * each way).
 *
 * Invariants: 0 <= winner[i], loser[i] < n_items and winner[i] != loser[i];
 * annotator, first_won, count and tie may be NULL (one annotator, order unknown,
 * every row counts once, no ties); count[i] > 0 when present; tie[i] in {0, 1}. */
#ifndef PS_CORE_PREFDATA_H
#define PS_CORE_PREFDATA_H

#include <stddef.h>
#include <stdint.h>

#include "ps.h"

typedef struct {
  size_t n;              /* number of rows */
  size_t n_items;        /* item ids are 0..n_items-1 */
  size_t n_annotators;   /* annotator ids are 0..n_annotators-1 (1 if annotator is NULL) */
  int32_t *winner;       /* reported preferred item */
  int32_t *loser;
  int32_t *annotator;    /* NULL: one annotator */
  uint8_t *first_won;    /* NULL: presentation order unknown */
  double *count;         /* NULL: every row has multiplicity 1 */
  uint8_t *tie;          /* NULL: no ties; 1: winner and loser tied (see above) */
} pref_data;

/* The two shortcuts that turn ties into strict pairs (pref_data_resolve_ties):
 * drop every tie, or count a tie of weight c as a win of weight c/2 each way (BradleyTerry2's
 * win.adj; Firth & Turner's "half a win"). */
typedef enum { PREF_TIES_DROP = 0, PREF_TIES_HALF = 1 } pref_ties_mode;

/* Trajectory-segment worlds: the dynamics, reward features and segments a learner
 * of a reward from segment comparisons sees (defined in core/mdp_env.h). */
typedef struct pref_trajectories pref_trajectories;

/* Items and their features.  phi == NULL means the item model: one free score per
 * item (equivalently phi = identity, d = n_items). */
typedef struct {
  size_t n_items;
  size_t d;                    /* feature dimension (n_items for the item model) */
  const double *phi;           /* n_items x d row-major, or NULL */
  size_t n_contexts;
  const int32_t *item_context; /* context of each item, or NULL (one context) */
  /* Policy learners only (DPO and relatives, docs/theory.md §3.9-3.15): log pi_ref(y|x) of
   * every item, normalised within its context, or NULL for the uniform reference.
   * Items of one context are contiguous: item i is response i % m of context i / m
   * with m = n_items / n_contexts. */
  const double *log_ref;
  /* Segment learners only (regret and partial-return models, docs/theory.md §3.8): the MDP
   * view, items being its segments; NULL in item and feature worlds, where every
   * estimator ignores it. */
  const pref_trajectories *traj;
} pref_features;

/* Allocate arrays for n rows (annotator / first_won / count only when asked).
 * Returns PS_OK or PS_ENOMEM; on failure d is left empty. */
int pref_data_alloc(pref_data *d, size_t n, size_t n_items, int with_annotator,
                    int with_order, int with_count);
void pref_data_free(pref_data *d);

/* Add a tie column of d->n zeros (d->tie must be NULL).  PS_OK or PS_ENOMEM. */
int pref_data_alloc_ties(pref_data *d);

/* Number of rows with tie[i] = 1 (0 when tie is NULL) and their total weight. */
size_t pref_data_n_ties(const pref_data *d);
double pref_data_tie_weight(const pref_data *d);

/* Strict pairs from data with ties into out (allocated here; tie = NULL, count set
 * when the input has counts or mode is HALF): DROP keeps the strict rows; HALF keeps
 * them and writes each tie of weight c as two rows of weight c/2, winner over loser
 * and loser over winner (first_won flipped on the second, so the first-shown item
 * stays the same).  Annotators and n_items are kept.  PS_EINVAL when nothing is left
 * (every row a tie, DROP), PS_ENOMEM. */
int pref_data_resolve_ties(const pref_data *in, pref_ties_mode mode, pref_data *out, ps_msg *m);

/* Total weight sum_i count[i] (n when count is NULL). */
double pref_data_weight(const pref_data *d);

/* Check the invariants above (ids in range, winner != loser, finite positive
 * counts, tie flags 0 or 1).  PS_EINVAL with the offending row otherwise. */
int pref_data_check(const pref_data *d, ps_msg *m);

#endif
