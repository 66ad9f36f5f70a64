/* nash.h — the regularised Nash equilibrium of a preference game, Nash-MD, and the
 * Stackelberg (SLHF) leader and follower (docs/theory.md §3.13a).
 *
 * Every function takes the margin matrix M = P - 1/2 of m items (row-major,
 * skew-symmetric, |M_ij| <= 1/2: minimax.h's convention, checked by minimax_check)
 * and a reference lottery mu with every mu_y > 0 summing to 1.  With P(y > pi) =
 * 1/2 + (M pi)_y, the regularised game of Munos et al. (2024, "Nash learning from
 * human feedback", ICML) is
 *
 *     max_pi min_pi'  P(pi > pi') - tau KL(pi || mu) + tau KL(pi' || mu),
 *
 * a symmetric, strongly convex-concave game whose unique equilibrium pi*_tau is the
 * fixed point  pi* proportional to  mu exp((M pi*) / tau).  As tau -> 0 it tends to a
 * minimax winner (minimax.h); as tau -> infinity to mu. */
#ifndef PS_ESTIMATORS_NASH_H
#define PS_ESTIMATORS_NASH_H

#include <stddef.h>

#include "../core/ps.h"

/* Largest regularised exploitability nash_solve accepts: far above the rounding of a
 * Newton step on margins <= 1/2 (~1e-15 / tau), far below any statistical margin. */
#define NASH_CERT_TOL 1e-10

/* Check that mu (length m) is a finite probability vector with every entry > 0 (the
 * equilibrium has the support of mu, so an item outside it could never be played and
 * the KL terms would be infinite) summing to 1 within 1e-9.  PS_EDOM for a non-finite
 * entry, PS_EINVAL otherwise, naming the entry in msg. */
int nash_check_reference(const double *mu, size_t m, ps_msg *msg);

/* The regularised exploitability of a lottery pi with full support,
 *
 *     e_tau(pi) = tau log sum_y mu_y exp((M pi)_y / tau) + tau KL(pi || mu)  >= 0,
 *
 * half the duality gap of the regularised game at (pi, pi); 0 exactly at pi*_tau.
 * As tau -> 0 it tends to minimax_exploitability(M, m, pi).  No checks. */
double nash_reg_exploitability(const double *M, size_t m, const double *mu, double tau, const double *pi);

/* pi*_tau by Newton's method on  u_y - log mu_y - (M e^u)_y / tau = c,  sum e^u = 1
 * (u = log pi; the Jacobian [I - M diag(pi)/tau, -1; pi^T, 0] is nonsingular for
 * every pi > 0 because M is skew-symmetric), damped by backtracking on the residual,
 * started from mu, and continued in tau (from a tau where the fixed-point map is a
 * contraction, halving towards the target) when the direct solve stalls.  The result
 * is certified: e_tau(pi) <= NASH_CERT_TOL.  *iters (may be NULL) receives the Newton
 * steps taken.  Returns PS_OK; minimax_check's and nash_check_reference's failures;
 * PS_EINVAL for tau not finite and > 0; PS_ENOMEM; PS_ENOCONV when the certificate
 * fails (tau so small that exp(1/(2 tau)) overflows the mu-weighted scale: below about
 * 1e-3 for margins of 1/2).  pi is unchanged on failure. */
int nash_solve(const double *M, size_t m, const double *mu, double tau, double *pi, int *iters, ps_msg *msg);

/* Nash-MD (Munos et al. 2024, §6) for T >= 1 steps of size eta (0 < eta tau <= 1):
 *
 *     pi^mu_t proportional to pi_t^(1 - eta tau) mu^(eta tau),
 *     pi_{t+1} proportional to pi_t^(1 - eta tau) mu^(eta tau) exp(eta (M pi^mu_t)),
 *
 * from pi_0 = mu, in log space.  Its last iterate converges linearly in KL to a
 * neighbourhood of pi*_tau whose size is set by eta (KL(pi* || pi_T) <=
 * (1 - eta tau)^T KL(pi* || mu) + 2 eta / tau, their Theorem 1); last and avg
 * (the mean of pi_1 .. pi_T) may be NULL; kl_trace (length T, may be NULL) receives
 * KL(target || pi_t) for t = 1..T when target (pi*_tau, may be NULL) is given.
 * Returns PS_OK, the checks' failures, PS_EINVAL for eta tau outside (0, 1] or T < 1,
 * PS_ENOMEM. */
int nash_md(const double *M, size_t m, const double *mu, double tau, double eta, long T, double *last,
            double *avg, const double *target, double *kl_trace, ps_msg *msg);

/* SLHF (Stackelberg learning from human feedback).  The follower answers a leader's
 * response y with  omega*(y' | y) proportional to omega_ref(y') exp(P(y' > y) / tau_f)
 * (follower, m x m row-major: row y is the answer to y; may be NULL); the leader's
 * value of y is  V(y) = -tau_f log sum_y' omega_ref(y') exp(-P(y > y') / tau_f)
 * (value, length m; may be NULL) and the leader plays  pi* proportional to
 * pi_ref exp(V / tau_l)  (leader, may be NULL).  As tau_f -> 0, V(y) -> min over the
 * support of omega_ref of P(y > y'), so as both temperatures vanish the leader picks
 * the item with the best worst case.  Log-sum-exp throughout.  Returns PS_OK, the
 * checks' failures (pi_ref and omega_ref as references), PS_EINVAL for a temperature
 * not finite and > 0, PS_ENOMEM. */
int nash_slhf(const double *M, size_t m, const double *pi_ref, const double *omega_ref, double tau_l,
              double tau_f, double *leader, double *value, double *follower, ps_msg *msg);

#endif
