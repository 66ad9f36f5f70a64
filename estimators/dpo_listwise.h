/* dpo_listwise.h — listwise DPO for log-linear policies: a Plackett-Luce likelihood
 * over ranked responses of one context (Rafailov et al. 2023, appendix A.3;
 * docs/theory.md §3.18).
 *
 * Policy as dpo.h: log pi(y|x) = log pi_ref(y|x) + theta^T phi(x,y) - log Z(x) (one-hot
 * when phi == NULL).  The DPO implicit reward beta log pi/pi_ref = beta theta^T phi -
 * beta log Z(x), and log Z cancels inside every ranking (its responses share a
 * context), so the listwise loss is
 *
 *     F(theta) = -sum_r c_r log P_PL(ranking r | u = beta Phi theta) + (l2/2) ||theta||^2,
 *
 * Plackett-Luce on the features beta phi: with theta' = beta theta it is pl.h's
 * objective with lambda' = l2 / beta^2, so the fit is pl_fit's, theta = theta'/beta,
 * and the Hessian is beta^2 times pl's (standard errors 1/beta times).  On full
 * rankings of 2 it is pairwise DPO (dpo.h, loss dpo) exactly; its population minimiser
 * is theta_r / beta when the rankings follow PL with utility theta_r^T phi. */
#ifndef PS_ESTIMATORS_DPO_LISTWISE_H
#define PS_ESTIMATORS_DPO_LISTWISE_H

#include "../core/prefdata.h"
#include "../core/rankdata.h"
#include "pl.h"

/* F(theta) above with grad (dim) and H (dim x dim) when not NULL; dim = f->d, or
 * d->n_items when f == NULL or f->phi == NULL.  NaN when out of memory. */
double dpo_listwise_objective(const rank_data *d, const pref_features *f, double beta, double l2,
                              const double *theta, double *grad, double *H);

/* Minimise F (o: l2, tol, max_iter, want_hessian as pl.h; beta > 0).  res->theta is
 * the policy parameter theta, res->hessian F's Hessian, res->loglik the PL
 * log-likelihood, res->objective F.  PS_EINVAL for beta <= 0 or not finite, else
 * pl_fit's statuses; release res with pl_result_free. */
int dpo_listwise_fit(const rank_data *d, const pref_features *f, double beta, const pl_options *o, pl_result *res,
                     ps_msg *m);

#endif
