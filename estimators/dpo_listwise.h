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

#include <gsl/gsl_rng.h>

#include "../core/prefdata.h"
#include "../core/rankdata.h"
#include "dpo.h"
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

/* MLP policies (policy.h): s = f_w(phi), log pi = log pi_ref + s - A.  The same listwise
 * loss on u = beta s,
 *
 *     F(w) = -sum_r c_r log P_PL(ranking r | u = beta f_w(Phi)) + (l2/2) ||w||^2,
 *
 * whose gradient in the scores of ranking r is beta sum_{t < T_r} (p_t - e_{i_t}) (p_t the
 * choice probabilities of stage t), backpropagated through each item's score.  On full
 * rankings of 2 it is dpo_mlp_objective (loss dpo) exactly.  grad (a->n_params) when not
 * NULL; NaN when out of memory.  Inputs not checked. */
double dpo_listwise_mlp_objective(const rank_data *d, const pref_features *f, double beta, double l2,
                                  const policy_mlp *a, const double *w, double *grad);

/* Minimise it as dpo.h fits MLP policies: Adam (o->lr, o->epochs, minibatches of o->batch
 * rankings, 0 = all, bias corrections ADAM_BIAS_EXPM1) on the mean form F / W from o->restarts
 * Glorot initialisations drawn from r, each minibatch a uniform sample without replacement
 * (adam_minibatch; deterministic given r); the best final F is kept.  Uses
 * o->beta, l2, width, layers, act, lr, epochs, restarts, batch (o->policy must be MLP; the
 * pairwise-only options are ignored).  res as dpo_fit's (res->mlp the architecture,
 * res->theta the parameters, converged when ||grad F|| <= 1e-3 W); PS_EINVAL for bad
 * options, features missing or of another item count, rankings across contexts; PS_EDOM
 * when every restart ends non-finite.  Release res with dpo_result_free. */
int dpo_listwise_mlp_fit(const rank_data *d, const pref_features *f, const dpo_options *o, gsl_rng *r,
                         dpo_result *res, ps_msg *m);

#endif
