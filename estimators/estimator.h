/* estimator.h — the common estimator interface and the registry.
 *
 * Each estimator is a const table of function pointers (as GSL's minimizer types
 * and REBOUND's integrators): a name, a one-paragraph doc with its reference, a
 * hyperparameter table that drives configuration parsing, --help and HDF5
 * attributes, and alloc / fit / free plus the queries an evaluator may ask of a
 * fitted model.  Estimators see only the data and the feature view; never the truth.
 * Adding an estimator is one new file and one line in registry.c. */
#ifndef PS_ESTIMATORS_ESTIMATOR_H
#define PS_ESTIMATORS_ESTIMATOR_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/param.h"
#include "../core/prefdata.h"
#include "../core/rankdata.h"
#include "../core/ps.h"

typedef struct est_model est_model; /* each estimator defines its own */

typedef struct {
  int status;          /* PS_OK or the failure status of the fit */
  int converged;       /* 1 when the optimiser met its tolerance (0 for a usable estimate
                        * that ran out of iterations, as a non-convex fit may) */
  int iterations;      /* outer iterations */
  double objective;    /* final objective value */
  double grad_norm;    /* final gradient norm (NaN if not applicable) */
} est_fit_info;

/* The data an estimator fits (est_type.inputs, a bit set): comparisons of items
 * without features, comparisons of items or responses with features, pairs of
 * trajectory segments.  A configuration that pairs an estimator with a world it
 * cannot fit is an error before any cell runs. */
enum { EST_IN_ITEMS = 1u, EST_IN_FEATURES = 2u, EST_IN_SEGMENTS = 4u, EST_IN_TIES = 8u };
/* EST_IN_TIES: the estimator reads pref_data.tie (a tie model, or a shortcut that resolves
 * ties itself).  Data with ties (pref_data_n_ties > 0) are refused, before the fit, for an
 * estimator without it: est_check_ties below, called by every caller of fit. */

typedef struct {
  const char *name;
  const char *doc;
  const ps_param *params; /* hyperparameters, NULL-key terminated */
  unsigned inputs;        /* EST_IN_* bits: the data it fits */

  /* Allocate with hyperparameter values: hyper[i] is the text for params[i]
   * (already checked against the table). */
  int (*alloc)(est_model **out, const char *const *hyper, ps_msg *m);

  /* Fit on data with the feature view; r is the estimator's own random stream
   * (PS_STREAM_ESTIMATOR) for initialisation and restarts.  The features must
   * outlive the model.  A failed fit returns its status, fills info and m, and
   * leaves the model queryable only if info->status is PS_OK. */
  int (*fit)(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r,
             est_fit_info *info, ps_msg *m);

  /* logit P(a preferred to b), a shown first, for items a, b of one context. */
  double (*logit)(const est_model *e, int32_t a, int32_t b);

  /* The fitted parameter after the model's normalisation (centred item scores or
   * the feature weights); *dim receives its length.  NULL before a fit. */
  const double *(*theta)(const est_model *e, size_t *dim);

  /* Optional: the model's policy over the m items of the context starting at item
   * `first` (a probability vector p).  NULL: the evaluator uses the minimax winner
   * of the model's own predicted preference matrix (for a transitive model, its
   * best item). */
  int (*policy)(const est_model *e, int32_t first, size_t m, double *p);

  void (*free)(est_model *e);

  /* ---- Optional queries of annotator-aware models (NULL when not supported). ---- */

  /* Per-annotator estimates: annotator_columns names them (NULL-terminated, e.g.
   * "competence", "bias"); annotator() writes one value per column for annotator h
   * of the training data (0 <= h < d->n_annotators).  PS_EINVAL when h is out of
   * range.  `prefsim fit` prints them as TSV. */
  const char *const *annotator_columns;
  int (*annotator)(const est_model *e, size_t h, double *vals);

  /* logit P(a preferred to b | annotator h of the training data), a shown first:
   * the model's own prediction for that annotator (its posterior type, its
   * competence and bias, its ideal point). */
  double (*logit_annotator)(const est_model *e, int32_t h, int32_t a, int32_t b);

  /* Group rewards: *K groups, reward[k * n_items + y] the fitted reward of item y
   * for group k (on the logit scale), weight[k] the group's estimated share.  The
   * arrays belong to the model.  Used by group-aware policies (MaxMin). */
  int (*groups)(const est_model *e, size_t *K, const double **reward, const double **weight);

  /* New-user adaptation (few-shot): fit only a new user's own parameters (the
   * shared ones fixed) from `shots` (annotator ids ignored) into state[0 ..
   * user_state_len - 1]; logit_user then predicts for that user. */
  size_t (*user_state_len)(const est_model *e);
  int (*adapt)(const est_model *e, const pref_data *shots, gsl_rng *r, double *state, ps_msg *m);
  double (*logit_user)(const est_model *e, const double *state, int32_t a, int32_t b);

  /* Trace of the objective over outer iterations (EM: log-likelihood per iteration
   * of the best restart); *len receives its length.  The array belongs to the model. */
  const double *(*trace)(const est_model *e, size_t *len);

  /* The estimator's own estimate of its headline quantity, compared with the truth by
   * the experiments (metric self_estimate): DRPO, p-hat_DR of its policy against
   * pi_ref (the truth is the win_rate metric); others document theirs. */
  double (*self_estimate)(const est_model *e);
  /* What self_estimate estimates, so the evaluator compares it with the right truth:
   * EST_SELF_OTHER (the default), EST_SELF_WIN_RATE (metric self_estimate_err =
   * |self_estimate - win_rate|), or EST_SELF_SUBOPT_BOUND (an upper bound on
   * unreg_suboptimality: metric bound_holds). */
  int self_estimate_of;

  /* Optional, reward learners from trajectory segments (NULL otherwise): the learned
   * reward's optimal policy (solved at the model's own discount) into policy and its
   * one-step greedy use argmax_a r(s, a) into greedy, one action per state of the
   * MDP in f->traj (env->n_states each; either may be NULL).  PS_EINVAL before a
   * successful fit.  The evaluator scores both under the true reward. */
  int (*state_policy)(const est_model *e, int32_t *policy, int32_t *greedy);

  /* ---- Rankings (docs/theory.md §3.18; core/rankdata.h). ---- */

  /* Optional: fit rankings themselves (Plackett-Luce, listwise DPO), with fit's contract.
   * NULL: the estimator fits pairs, and ranking data reach it broken into pairs (the
   * experiment's [estimator.LABEL] breaking = full|adjacent; prefsim fit's --breaking). */
  int (*fit_rank)(est_model *e, const rank_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                  ps_msg *m);

  /* Optional: the model's own (naive) standard errors of theta(), one per coordinate, into se:
   * from the inverse of its observed information at the fit (items: the pseudo-inverse on
   * sum theta = 0), treating the rows it was fitted on as independent.  PS_EINVAL before a fit
   * or when the fit kept no information (dim above its limit), PS_ESINGULAR, PS_ENOMEM. */
  int (*se)(const est_model *e, double *se, ps_msg *m);
} est_type;

enum { EST_SELF_OTHER = 0, EST_SELF_WIN_RATE = 1, EST_SELF_SUBOPT_BOUND = 2 };

/* NULL-terminated list of every estimator. */
extern const est_type *const est_registry[];

/* Look up by name; NULL if absent. */
const est_type *est_lookup(const char *name);

/* PS_OK when t may fit d: d has no tie rows or t->inputs has EST_IN_TIES; else PS_EINVAL
 * with a sentence naming the tie count and the remedy. */
int est_check_ties(const est_type *t, const pref_data *d, ps_msg *m);

/* "bt, ..." — the registered names joined by ", " (static buffer). */
const char *est_names(void);

/* The estimators themselves (est_bt, est_dpo, ...) are declared where they are
 * listed, in registry.c; code that needs one by name asks est_lookup. */

#endif
