/* newton.h — damped Newton iterations with a backtracking (Armijo) line search, the
 * one driver behind the exact and inexact Newton fits of dpo.c and grpo.c's barrier
 * method (Nocedal & Wright, Alg. 3.1 and §7.1; Boyd & Vandenberghe, Alg. 9.5).
 *
 * The caller owns the loop, in GSL's set / iterate / test style:
 *
 *     newton_set(s, &fn, &par, x0);                 F and its gradient at x0
 *     for (it = 0;; it++) {
 *       if (newton_gradient_norm(s) <= tol) break;  tests of the caller's choosing
 *       if (it >= max_iter) ...;
 *       if ((st = newton_direction(s, m))) break;   p from the caller's Hessian or CG
 *       if (newton_step(s) != PS_OK) ...;           line search: x += t p
 *     }
 *
 * The problem is a table of callbacks: F with its gradient, the Newton direction
 * (the caller solves H p = -g however it likes: Cholesky, CG, ...) and optionally F
 * along the search line, for callers that can evaluate F(x + t p) faster than at a
 * fresh point (item scores s + t Phi p instead of Phi (x + t p)).
 *
 * Line search: t = 1, 1/2, 1/4, ... until the sufficient decrease
 * F(x + t p) <= F(x) + c t g.p.  Near the optimum the predicted decrease -g.p falls
 * below the rounding of F (a sum of n terms: error ~ n eps |F|), Armijo then tests
 * noise and would halve t down to a null step; the probes of newton_params accept the
 * full step there when it lowers ||grad||, which the gradient can resolve.
 *
 * Determinism: the driver's arithmetic is sequential and fixed (x + t p, sums in
 * index order), so a fit is bit-reproducible given deterministic callbacks.
 *
 * Not every Newton loop of the tree is this one: bt.c's line search finds the root
 * of the directional derivative by regula falsi (exp-only passes whose scatter and
 * curvature are the next step's), dpo.c's fused solver is quasi-Newton (BFGS seeded
 * by exact Hessians, subsample levels stopped by the decrement, speculative full
 * steps) and maxmin.c's is an active-set method on the simplex (KKT system, steps
 * capped at the boundary). */
#ifndef PS_CORE_NEWTON_H
#define PS_CORE_NEWTON_H

#include <stddef.h>

#include "ps.h"

typedef struct {
  size_t n; /* number of variables, >= 1 */
  /* F(x), +inf outside its domain; when g != NULL also grad F(x) into g (n). */
  double (*fdf)(void *params, const double *x, double *g);
  /* The search direction p (n) at x, where fdf last gave the gradient g: the Newton
   * step -H^-1 g or an approximation of it.  PS_OK, or a status with a message in m
   * (e.g. PS_ESINGULAR for a Hessian that is not positive definite). */
  int (*direction)(void *params, const double *x, const double *g, double *p, ps_msg *m);
  /* Optional: F(x + t p) for the line search (no gradient).  NULL: fdf at x + t p. */
  double (*line)(void *params, const double *x, const double *p, double t);
  void *params;
} newton_function;

typedef struct {
  double armijo;     /* c of the sufficient decrease, in (0, 1/2) (1e-4) */
  int max_halvings;  /* trial steps t = 1, 1/2, ..., 2^(1 - max_halvings) (60) */
  double probe_first; /* > 0: when -g.p <= probe_first (|F| + 1), first try the full
                       * step on ||grad F(x + p)|| < ||g|| alone (0: off) */
  double probe;      /* > 0: when Armijo rejects t = 1 and -g.p <= probe (|F| + 1), accept
                       * the full step if ||grad F(x + p)|| < ||g|| (0: off); probe =
                       * (n + 1) DBL_EPSILON is the rounding of a sum of n terms */
  int retrace;       /* 1: after a failed probe continue along p' = (x + p) - x, the
                       * step the probe measured (dpo.c's exact Newton did; kept so that
                       * its fits stay bit-identical).  0: along p. */
} newton_params;

typedef struct newton_solver newton_solver;

/* Default parameters: armijo 1e-4, max_halvings 60, no probes, no retrace. */
newton_params newton_params_default(void);

/* Workspace for problems of n variables (x, gradient, direction, trial points).
 * NULL when out of memory or n = 0. */
newton_solver *newton_alloc(size_t n);

/* Free; newton_free(NULL) does nothing. */
void newton_free(newton_solver *s);

/* Start from x0 (n values, copied): evaluates F and its gradient there.  fn and par
 * are kept by pointer and must outlive the iterations; fn->n must equal the n of
 * newton_alloc (PS_EINVAL otherwise).  Returns PS_OK; F may be non-finite, which
 * the caller's tests see in newton_f. */
int newton_set(newton_solver *s, const newton_function *fn, const newton_params *par, const double *x0);

/* The search direction at the current point (fn->direction), and the slope g.p.
 * Returns fn->direction's status (its message in m). */
int newton_direction(newton_solver *s, ps_msg *m);

/* The line search along the direction of newton_direction; on success x += t p and
 * F, the gradient and its norm are evaluated at the new x (PS_OK).  PS_ENOCONV when
 * no trial step is acceptable: x, F and the gradient are then unchanged (the
 * caller's callbacks may have been called at trial points meanwhile). */
int newton_step(newton_solver *s);

/* The current point, F, gradient (n values) and Euclidean gradient norm. */
const double *newton_x(const newton_solver *s);
double newton_f(const newton_solver *s);
const double *newton_gradient(const newton_solver *s);
double newton_gradient_norm(const newton_solver *s);

/* The slope g.p of the last direction (negative for a descent direction); -g.p is the
 * Newton decrement lambda^2 when p = -H^-1 g. */
double newton_slope(const newton_solver *s);

/* The step length t of the last successful newton_step (1 = the full Newton step). */
double newton_step_length(const newton_solver *s);

#endif
