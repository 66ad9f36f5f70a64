/* minimax.h — the minimax (von Neumann) winner of a general preference matrix,
 * Hedge self-play, exploitability, Condorcet winners (docs/theory.md §3.13, §4).
 *
 * Every function takes the margin matrix M = P - 1/2 of m items, row-major
 * (M[i*m + j] = P(i preferred to j) - 1/2), which must be skew-symmetric:
 * M[i*m+j] + M[j*m+i] = 0 and M[i*m+i] = 0, with |M_ij| <= 1/2.  A lottery p over
 * the items is a length-m vector on the simplex.  (M p)_y = P(y preferred to p) - 1/2
 * is the margin of the pure item y against p. */
#ifndef PS_ESTIMATORS_MINIMAX_H
#define PS_ESTIMATORS_MINIMAX_H

#include <stddef.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

/* Largest |M_ij + M_ji| (and |M_ii|) accepted as skew-symmetric: the rounding of
 * P_ij - 1/2 and P_ji - 1/2 computed from n_ij / N_ij leaves ~1e-16; 1e-9 also admits
 * matrices typed with ten digits. */
#define MINIMAX_SKEW_TOL 1e-9

/* Largest exploitability accepted from the LP solver: far above the simplex's rounding
 * (~1e-16 x condition of the basis) and far below any statistically visible margin. */
#define MINIMAX_CERT_TOL 1e-9

/* Check that M (m x m) is a finite skew-symmetric margin matrix with entries in
 * [-1/2, 1/2] (both up to MINIMAX_SKEW_TOL).  Returns PS_OK; PS_EDOM for a NaN or
 * infinite entry and PS_EINVAL for m == 0, an asymmetry or an out-of-range entry,
 * naming the entry in m. */
int minimax_check(const double *M, size_t m, ps_msg *msg);

/* The minimax winner by linear programming with GLPK's primal simplex:
 *
 *     maximise v  subject to  sum_i p_i M_ij >= v for every j,  1^T p = 1,  p >= 0.
 *
 * The simplex runs in double precision; the basic solution is the exact solution of
 * its basis system up to rounding (~1e-16 for margins <= 1/2), and the result is
 * certified before it is returned: expl(p) <= MINIMAX_CERT_TOL.  (GLPK's rational
 * glp_exact was tried and dropped: on dense random games it is ~1000x slower at 100
 * items and its rounded result was no more accurate.)  GLPK prints nothing.  On success
 * p (length m) holds a minimax winner, clipped to >= 0 and renormalised, and *value
 * (may be NULL) the game value, 0 for skew-symmetric M up to rounding.  When the winner
 * is not unique, p is a vertex of the optimal face chosen by the simplex.  Returns
 * PS_OK; minimax_check's failures; PS_ENOMEM; PS_ENOCONV when GLPK does not report an
 * optimal solution (its return code and status are in msg) or the certificate fails.
 * p is unchanged on failure. */
int minimax_lp(const double *M, size_t m, double *p, double *value, ps_msg *msg);

/* Hedge (multiplicative weights) self-play for T >= 1 rounds:
 *
 *     p_1 uniform,  p_t proportional to exp(eta sum_{s<t} M p_s),
 *
 * eta = sqrt(8 ln m / T) when eta <= 0 is passed (the horizon-tuned rate for payoffs
 * in a range of width 1).  Because p_t^T M p_t = 0, the exploitability of the average
 * p_avg = (1/T) sum_{t<=T} p_t equals the external regret over T, so with the default
 * rate expl(p_avg) <= sqrt(ln m / (2T)).  The last iterate p_T (p_last) cycles around
 * the equilibrium instead of converging.  Weights are normalised through log-sum-exp.
 * Either output may be NULL.  Returns PS_OK, minimax_check's failures, PS_EINVAL for
 * T < 1, PS_ENOMEM; outputs are unchanged on failure. */
int minimax_hedge(const double *M, size_t m, long T, double eta, double *p_avg, double *p_last,
                  ps_msg *msg);

/* Exploitability expl(p) = max_y (M p)_y = max_y P(y preferred to p) - 1/2.  It is >= 0
 * for every lottery (p^T M p = 0), and 0 exactly at a minimax winner; the duality gap
 * is 2 expl(p).  No checks: M skew-symmetric, p on the simplex. */
double minimax_exploitability(const double *M, size_t m, const double *p);

/* The Condorcet winner: the item c with M_cj > 0 for every j != c, or -1 when there is
 * none (a pair tied at M = 0 blocks it, so with the empirical matrix below an item
 * never compared with some other item is not a Condorcet winner).  When it exists it is
 * unique and delta_c is the unique minimax winner.  m == 1 gives item 0. */
long minimax_condorcet_winner(const double *M, size_t m);

/* The empirical margin matrix of comparison data over d->n_items items:
 *
 *     M_ij = n_ij / (n_ij + n_ji) - 1/2,   n_ij = total count of rows "i beat j",
 *
 * and M_ij = 0 (P = 1/2: a tie, no information either way) for a pair never compared.
 * That choice keeps M skew-symmetric and lets a never-compared pair favour neither
 * side; it also means such a pair blocks a Condorcet winner.  compared (m x m, may be
 * NULL) receives 1 where N_ij > 0, else 0 (the diagonal is 0); *n_missing (may be NULL)
 * the number of unordered pairs i < j never compared.  M must hold m*m doubles.
 * Returns PS_OK, pref_data_check's failures, PS_EINVAL when there are no items,
 * PS_ENOMEM; outputs unchanged on failure. */
int minimax_empirical(const pref_data *d, double *M, unsigned char *compared, size_t *n_missing,
                      ps_msg *msg);

/* logit of q = 1/2 + M_ab clamped to [1e-12, 1 - 1e-12]: the prediction of an
 * estimator whose model is the margin matrix itself.  At the clamp the value is +-L
 * with L = -log(1e-12 / (1 - 1e-12)), so that logit(a, b) = -logit(b, a) there too:
 * computing log(q / (1 - q)) at q = 1 - 1e-12 gave 27.631021, not 27.631043, since
 * 1 - (1 - 1e-12) is not 1e-12 in double precision. */
double minimax_margin_logit(const double *M, size_t m, size_t a, size_t b);

#endif
