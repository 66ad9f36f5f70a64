/* dpo_internal.h — what the DPO solvers share (private to estimators/dpo*.c): the
 * item-space workspace (scores of all items and their gradient, per-context weights),
 * the objective and exact Hessian through it, the rounding floor of the objective, the
 * separability test, and the solvers each file provides:
 *   dpo.c        options, losses, item-space machinery, exact Newton, the hinge's dual
 *                coordinate descent, HyPO's L-BFGS, validation and the driver dpo_fit
 *   dpo_fused.c  Newton-CG and the fused (quasi-)Newton solver for feature policies
 *   dpo_mlp.c    MLP policies by Adam (with HyPO's exact or sampled KL) */
#ifndef PS_ESTIMATORS_DPO_INTERNAL_H
#define PS_ESTIMATORS_DPO_INTERNAL_H

#include <gsl/gsl_rng.h>
#include <stddef.h>

#include "dpo.h"

typedef struct {
  const pref_data *d;
  const pref_features *f;
  const dpo_options *o;
  size_t C, M, dim;  /* contexts, responses per context, parameter length */
  double W;          /* total weight */
  double *wc;        /* per-context row weight (C) */
  double *s, *gs;    /* item scores and their gradient (n_items) */
  double *work;      /* M */
  double *dkl;       /* M */
} dpo_space;

/* Whether the loss can be driven to 0 on separable data (no minimiser), and the
 * PS_ENOMLE failure that says so. */
int dpo_may_separate(const dpo_options *o);
int dpo_fail_separable(const dpo_options *o, ps_msg *m);
/* The workspace of a fit on (d, f, o); PS_ENOMEM.  F(theta) and its gradient through
 * item space; ||v||; the rounding floor of F (coefficient, and at F); whether the
 * current scores separate every comparison. */
void dpo_space_free(dpo_space *sp);
int dpo_space_init(dpo_space *sp, const pref_data *d, const pref_features *f, const dpo_options *o);
double dpo_full_objective(dpo_space *sp, const double *theta, double *grad);
double dpo_vnorm(const double *v, size_t n);
double dpo_f_rounding_coef(const dpo_space *sp);
double dpo_f_rounding(const dpo_space *sp, double F);
int dpo_separated(const dpo_space *sp);
/* The solvers: exact Newton (dpo.c), Newton-CG and the fused solver (dpo_fused.c;
 * dpo_phi_check rejects non-finite features), Adam for MLP policies (dpo_mlp.c).
 * Each fills res and returns PS_OK or the failure with a message. */
int dpo_newton(dpo_space *sp, double *theta, dpo_result *res, ps_msg *m);
int dpo_newton_cg(dpo_space *sp, double *theta, dpo_result *res, ps_msg *m);
int dpo_phi_check(const pref_features *f, ps_msg *m);
int dpo_newton_fused(dpo_space *sp, double *theta, dpo_result *res, ps_msg *m);
int dpo_adam_fit(dpo_space *sp, gsl_rng *r, dpo_result *res, ps_msg *m);

/* x . y and y += a x with eight partial sums / lanes (the summation order is part of
 * the results: keep it). */
static inline double dot8(const double *x, const double *y, size_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (size_t q = 0; q < 8; q++) acc[q] += x[k + q] * y[k + q];
  double s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; k < n; k++) s += x[k] * y[k];
  return s;
}

static inline void axpy8(double a, const double *restrict x, double *restrict y, size_t n) {
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (size_t q = 0; q < 8; q++) y[k + q] += a * x[k + q];
  for (; k < n; k++) y[k] += a * x[k];
}

#endif
