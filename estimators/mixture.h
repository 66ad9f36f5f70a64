/* mixture.h — mixture of K Bradley-Terry reward types at the user level, fitted by
 * EM (docs/theory.md §2.5, §3.4).
 *
 * User h draws a type z_h ~ Cat(w) once; all of h's comparisons follow BT with the
 * type's reward r_k(y) = theta_k_y (items) or theta_k^T phi(y) (features).  With
 * l_hk = sum_{i in D_h} c_i log sigma(r_k(w_i) - r_k(l_i)) the fit maximises
 *
 *   soft:  Q = sum_h log sum_k w_k e^{l_hk}          - sum_k (lambda/2)||theta_k||^2
 *   hard:  Q = sum_h max_k (log w_k + l_hk)           - sum_k (lambda/2)||theta_k||^2
 *
 * (flat Dirichlet(1) prior on w, so its log prior is the constant 0; the hard
 * objective is the classification likelihood of Celeux & Govaert 1992).  Users are the
 * annotator ids; without annotator ids every comparison is its own user, which is the
 * per-comparison (MiCRo-style) mixture: it fits the same marginal
 * sum_k w_k sigma(Delta r_k) but cannot recover which comparisons share a user. */
#ifndef PS_ESTIMATORS_MIXTURE_H
#define PS_ESTIMATORS_MIXTURE_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

typedef enum { MIXTURE_SOFT = 0, MIXTURE_HARD = 1 } mixture_assignment;
typedef enum { MIXTURE_INIT_RANDOM = 0, MIXTURE_INIT_MOD = 1 } mixture_init;
typedef enum { MIXTURE_SELECT_FIXED = 0, MIXTURE_SELECT_BIC = 1 } mixture_select;

typedef struct {
  size_t K;                      /* components (select = bic: the largest K tried), >= 1 */
  mixture_assignment assignment; /* soft EM or hard (classification) EM */
  int restarts;                  /* EM runs, >= 1; the best penalised objective is kept */
  mixture_init init;             /* random balanced partition of the users, or user mod K
                                  * for the first run (later runs random) */
  double l2;                     /* lambda >= 0, on each component's summed loss (bt.h) */
  int max_iter;                  /* EM iterations per run, >= 1 */
  double tol;                    /* soft: stop when |Q_t - Q_{t-1}| <= tol |Q_t| */
  mixture_select select;         /* fixed K, or K = 1..K with the smallest BIC */
} mixture_options;

typedef struct {
  int status;             /* PS_OK or the failure status */
  size_t K;               /* components of the kept fit */
  size_t H;               /* users (annotators, or comparisons when there are no ids) */
  size_t n_items, dim;    /* reward length; parameter length per component */
  double *weight;         /* K: w_k */
  double *theta;          /* K x dim: centred item scores or feature weights */
  double *reward;         /* K x n_items: r_k(y), row k */
  double *resp;           /* H x K: posterior gamma_hk at the final parameters (users
                           * without comparisons get the prior w) */
  int32_t *assign;        /* H: argmax_k gamma_hk (ties to the lowest k) at the final parameters:
                           * for a converged hard run, its own final clusters */
  double *user_weight;    /* H: sum of the counts of the user's comparisons */
  double *trace;          /* objective Q per EM iteration of the kept run */
  size_t trace_len;
  double loglik;          /* marginal sum_h log sum_k w_k e^{l_hk} at the final parameters */
  double objective;       /* final Q of the kept run */
  double bic;             /* -2 loglik + n_params log(total weight) */
  size_t n_params;        /* (K - 1) + K (dim - 1 for items, dim for features) */
  double *bic_by_k;       /* select = bic: BIC of K = 1..n_bic (NaN when that K failed) */
  size_t n_bic;
  int iterations;         /* EM iterations of the kept run */
  int converged;          /* the kept run met its stopping rule before max_iter */
  int best_restart;       /* index of the kept run */
  int reseeds;            /* hard EM: empty clusters reseeded (kept run) */
  int monotone_violations;/* iterations where Q fell by more than 1e-9 max(1,|Q|), all runs */
  double worst_decrease;  /* largest such relative decrease (0 if none) */
} mixture_result;

/* Defaults: K 2, soft, 10 restarts, random init, lambda 0.1, 500 iterations, tol 1e-8,
 * fixed K. */
mixture_options mixture_options_default(void);

/* Fit.  d: comparisons with annotator ids (or NULL ids: per-comparison users); f: the
 * item or feature view; r: the estimator's stream (random initial partitions).  Each
 * EM run starts from a partition of the users with data into K non-empty clusters,
 * fits one BT per cluster, then iterates E- and M-steps; the M-step for theta_k is
 * bt_fit with counts gamma_{h(i)k} c_i over the rows with gamma >= 1e-12 (soft) or on
 * the rows of cluster k (hard), warm-started at the previous theta_k.  Hard EM reseeds an empty cluster with the user whose comparisons are worst
 * fitted (lowest mean log-likelihood under its own cluster) and counts it in reseeds.
 * The objective is checked to be non-decreasing (except across a reseed).
 * Returns PS_OK; PS_EINVAL for an invalid option, empty or invalid data, or K larger
 * than the number of users with comparisons; the bt_fit status of an M-step if every
 * run failed; PS_ENOMEM.  res must be released with mixture_result_free in every case. */
int mixture_fit(const pref_data *d, const pref_features *f, const mixture_options *o, gsl_rng *r,
                mixture_result *res, ps_msg *m);

void mixture_result_free(mixture_result *res);

/* Posterior over the K types of one new user from its comparisons `shots` (annotator
 * ids ignored): gamma_k ∝ w_k exp(sum_i c_i log sigma(r_k(w_i) - r_k(l_i))), computed with
 * log-sum-exp into gamma (length res->K).  No shots gives the prior w.  PS_EINVAL when
 * an item id is out of range. */
int mixture_posterior(const mixture_result *res, const pref_data *shots, double *gamma, ps_msg *m);

/* logit of sum_k p_k sigma(r_k(a) - r_k(b)) for weights p (the marginal with p = w, a
 * user's prediction with p = gamma_h), as LSE_k(log p_k + log sigma(z_k)) -
 * LSE_k(log p_k + log sigma(-z_k)): finite for any finite rewards. */
double mixture_logit(const mixture_result *res, const double *p, int32_t a, int32_t b);

#endif
