/* flipem.h — EM over label correctness for Bradley-Terry with per-annotator symmetric
 * flips (docs/theory.md §2.3, §3.3b; the LCPO-style reliability EM).
 *
 * Model: annotator k reports the clean BT label with probability eta_k = 1 - eps_k
 * and the flipped one otherwise, so for a row oriented as reported (w over l),
 *
 *     P(w over l) = eta_k sigma(Delta) + (1 - eta_k) sigma(-Delta),  Delta = s_w - s_l,
 *
 * with s = theta (items) or Phi theta (features).  EM treats "label correct" as the
 * latent variable:
 *
 *     E:  gamma_i = eta_k p_i / [eta_k p_i + (1 - eta_k)(1 - p_i)] = sigma(logit eta_k + Delta_i)
 *     M:  eta_k = sum_{i in k} c_i gamma_i / sum_{i in k} c_i, clamped to [1/2 + 1e-9, 1 - 1e-9]
 *         theta = argmin sum_i c_i [gamma_i l(theta; w over l) + (1 - gamma_i) l(theta; l over w)]
 *                 + (lambda/2) ||theta||^2
 *
 * The theta step is soft-label logistic regression, solved by bt_fit on the rows
 * duplicated with weights c gamma and c (1 - gamma) (variant exact: true EM, the
 * penalised marginal likelihood never decreases) or on the rows alone with weights
 * c gamma (variant lcpo: the second term dropped; docs/theory.md notes that whether LCPO
 * keeps it is unconfirmed; this is not EM and nothing is monotone).
 *
 * Identifiability: with one eta shared by all annotators on a sparse design (e.g. one
 * pair), eps and the scale of theta are confounded: only eps + (1 - 2 eps) sigma(Delta)
 * is identified, and EM stops wherever on that ridge it arrives from eta_init
 * (tests/test_flipem.c shows it).  Per-annotator eta needs tens of labels each; the
 * clamp above 1/2 and eta_init = 0.9 choose the mode with better-than-chance annotators
 * (eta <-> 1 - eta with theta <-> -theta is the other).
 *
 * Cost: each EM map is a bt_fit from zero on 2n weighted rows; EM needs many maps when
 * annotators have few labels each (measured, 2 busy cores: 20 annotators x 300 labels,
 * 69 maps with SQUAREM vs 167 plain; 10^5 rows from 3000 annotators, 162 maps, 18 s at
 * tol 1e-8).  A warm start in bt_fit would cut the per-map cost. */
#ifndef PS_ESTIMATORS_FLIPEM_H
#define PS_ESTIMATORS_FLIPEM_H

#include <stddef.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

typedef enum { FLIPEM_EXACT = 0, FLIPEM_LCPO = 1 } flipem_variant;

typedef struct {
  flipem_variant variant; /* FLIPEM_EXACT (default) or FLIPEM_LCPO */
  int shared;             /* 1: one eta for every annotator; 0: one per annotator (default) */
  double eta_init;        /* starting reliability in (1/2, 1) (0.9) */
  double l2;              /* lambda >= 0 of the theta step, bt.h's convention (0) */
  double tol;             /* stop when the objective changes by <= tol * max(W, 1) (1e-10) */
  int max_iter;           /* EM maps (theta steps) before PS_ENOCONV (1000) */
  int accelerate;         /* 1: SQUAREM cycles for variant exact, see flipem.c (1); 0: plain EM */
} flipem_options;

typedef struct {
  int status;          /* PS_OK, PS_ENOCONV, PS_ENOMLE (theta step), PS_EINVAL, PS_EDOM, PS_ENOMEM */
  int converged;
  int iterations;      /* EM maps (theta steps) done */
  size_t d;            /* length of theta */
  size_t n_annotators;
  double *theta;       /* d: centred item scores, or feature weights */
  double *eta;         /* n_annotators: reliability 1 - eps_k (all equal when shared) */
  double *comparisons; /* n_annotators: total weight of each annotator's rows */
  double loglik;       /* marginal log-likelihood of the flip model at (theta, eta) */
  double objective;    /* -loglik + (lambda/2)||theta||^2 */
  double *trace;       /* -objective (penalised log-likelihood) at the start and after each accepted
                        * update (one EM map, or one SQUAREM cycle of three) */
  size_t trace_len;
} flipem_result;

/* Defaults listed beside the fields above. */
flipem_options flipem_options_default(void);

/* PS_OK when every option is in range, else PS_EINVAL naming the option. */
int flipem_options_check(const flipem_options *o, ps_msg *m);

/* log P(row as reported) = log[eta sigma(Delta) + (1 - eta) sigma(-Delta)] as a
 * log-sum-exp (finite for eta in (0, 1) and any finite Delta). */
double flipem_log_prob(double eta, double margin);

/* The E-step posterior that the reported label is correct, sigma(logit eta + Delta). */
double flipem_posterior(double eta, double margin);

/* Marginal log-likelihood sum_i c_i flipem_log_prob(eta_k(i), Delta_i) at theta; eta has
 * one entry per annotator (d->n_annotators, or 1 when d->annotator is NULL).  Inputs
 * are not checked.  NaN on ENOMEM. */
double flipem_loglik(const pref_data *d, const pref_features *f, const double *theta, const double *eta);

/* One E-step and the eta M-step at fixed theta: eta_out[k] = weighted mean of gamma_i
 * over annotator k's rows (over all rows when shared; every entry then equal), clamped
 * as in the fit; annotators without rows keep eta_in[k].  PS_ENOMEM or PS_OK. */
int flipem_eta_update(const pref_data *d, const pref_features *f, const double *theta, const double *eta_in,
                      int shared, double *eta_out);

/* Fit by EM from theta = 0 and eta = eta_init (so the first theta step is BT on soft
 * labels eta_init), accelerated by SQUAREM when asked (variant exact only; every
 * accepted update still does not decrease the objective).  Returns PS_OK when the objective's change falls below tol,
 * PS_ENOCONV after max_iter iterations (res holds the last iterate), the theta step's
 * failure (e.g. PS_ENOMLE when the lcpo weights leave a win graph that is not strongly
 * connected and lambda = 0) with its message, or an input error before any work.  res
 * must be released with flipem_result_free in every case. */
int flipem_fit(const pref_data *d, const pref_features *f, const flipem_options *o, flipem_result *res,
               ps_msg *m);

void flipem_result_free(flipem_result *r);

#endif
