/* bt_items.h — the item-score alternatives to Newton (docs/theory.md §3.2):
 * Hunter's MM, Luce spectral ranking (LSR) and its iteration I-LSR, and Rank
 * Centrality.  All work on pair counts aggregated from the comparisons.
 *
 *   MM:    pi_i <- (W_i + alpha) / (sum_j N_ij / (pi_i + pi_j) + alpha), then pi is
 *          rescaled to sum m (choix's convention; it matters only when alpha > 0).
 *          Jacobi (all items from the same pi) or Gauss-Seidel (in item order).
 *   LSR:   a continuous-time Markov chain in which each "w beat l" adds rate
 *          1 / (pi_w + pi_l) to l -> w, and alpha adds a pseudo-rate to every ordered
 *          pair; theta = log of its stationary distribution, centred.  One step from
 *          uniform is the spectral estimate; iterating (I-LSR) reaches the MLE.
 *   Rank Centrality: rate n_wl / (n_wl + n_lw) on l -> w.  Not the MLE.
 * Convergence: centred ||theta_t - theta_{t-1}||_1 <= tol m (tol 1e-8). */
#ifndef PS_ESTIMATORS_BT_ITEMS_H
#define PS_ESTIMATORS_BT_ITEMS_H

#include "../core/prefdata.h"
#include "../core/ps.h"

typedef struct {
  double alpha;     /* regularisation, >= 0 (see above for its meaning per method) */
  double tol;       /* 1e-8 */
  int max_iter;     /* MM 10000, I-LSR 100 */
  int gauss_seidel; /* MM only */
} bt_items_options;

/* Hunter MM from uniform.  pi (length n_items) receives the iterate scaled to sum 1
 * after the last iteration done; *iters the iteration count.  PS_ENOCONV when
 * max_iter is reached (pi still holds the last iterate: O4's trajectory). */
int bt_items_mm(const pref_data *d, const bt_items_options *o, double *pi, int *iters, ps_msg *m);

/* One LSR step from pi_in (NULL: uniform): pi_out gets the stationary distribution
 * (sum 1).  PS_ESINGULAR when the chain has no unique stationary distribution. */
int bt_items_lsr_step(const pref_data *d, double alpha, const double *pi_in, double *pi_out, ps_msg *m);

/* I-LSR from uniform to the fixed point (the MLE for alpha = 0). */
int bt_items_ilsr(const pref_data *d, const bt_items_options *o, double *pi, int *iters, ps_msg *m);

/* Rank Centrality stationary distribution (sum 1). */
int bt_items_rank_centrality(const pref_data *d, double *pi, ps_msg *m);

/* theta = log pi, centred; -inf entries stay -inf. */
void bt_items_theta(const double *pi, size_t m, double *theta);

#endif
