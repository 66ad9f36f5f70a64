/* fit_mixture.c — `prefsim fit --model mixture`: K chosen by BIC.
 *
 * `--k auto` (or --param k=auto) becomes select = bic with k = the largest K tried
 * (--k-max, default 6): the mixture estimator then fits K = 1..k and keeps the K with
 * the smallest BIC.  The rest (item and group scores, the annotator table with each
 * user's cluster, the weights of the K types) is the generic output.
 *
 * With select = bic, the largest K is lowered, before any fit, to what the data can
 * support (mixture_check): at most the number of users (annotators, or rows without
 * an annotator column), and below the K that BIC can never choose.  With W the total
 * weight (> 1) and m items, a K-type model has p(K) = K m - 1 parameters and
 *     BIC(K) = -2 loglik(K) + p(K) ln W >= p(K) ln W          (loglik <= 0),
 *     BIC(1) <= 2 W ln 2 + (m - 1) ln W       (the one-type fit is at least as likely
 *                                              as equal scores: loglik >= -W ln 2),
 * so BIC(K) < BIC(1) needs K < 1 + 2 W ln 2 / (m ln W).  Larger K are fitted after the
 * smaller ones (and draw from the random stream after them), so leaving them out
 * gives the same answer; they are what made `--k auto --k-max 64` on 400 rows run for
 * minutes.  The note on stderr and `# k` in the output give the K used. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "../estimators/mixture.h"
#include "fitcli_impl.h"

/* The largest K that select = bic was asked to try (--k-max, 6, or --param k), before
 * mixture_check lowered it. */
static long asked_k_max;

static int mixture_prepare(fit_args *a, ps_msg *m) {
  const char *kmax = fit_option_value(a, "--k-max");
  size_t n = a->n_set;
  int automatic = 0;
  for (size_t i = 0; i < n; i++) {
    fit_setting *s = &a->set[i];
    if (strcmp(s->key, "k") || strcmp(s->value, "auto")) continue;
    automatic = 1;
    s->value = kmax ? kmax : "6";
    s->origin = kmax ? "--k-max" : "--k auto";
    if (a->n_set == FIT_MAX_SETTINGS) return ps_fail(m, PS_EINVAL, "too many hyperparameter settings");
    fit_setting *sel = &a->set[a->n_set++];
    strcpy(sel->key, "select");
    sel->value = "bic";
    sel->origin = "--k auto";
  }
  if (kmax && !automatic) return ps_fail(m, PS_EINVAL, "--k-max applies to --model mixture --k auto only");
  return PS_OK;
}

static int mixture_check(fit_job *j) {
  const char *select = fit_hyper(j, "select");
  const ps_param *p = ps_param_find(j->type->params, "k");
  if (!select || strcmp(select, "bic") || !p) return FITCLI_EXIT_OK;
  const pref_data *d = &j->c->data;
  long k = (long)fit_hyper_real(j, "k", 2), cap = k;
  asked_k_max = k;
  size_t users = d->annotator ? d->n_annotators : d->n, m = d->n_items;
  double W = pref_data_weight(d), bound = INFINITY;
  if ((size_t)cap > users) cap = (long)users;
  if (W > 1) {
    bound = 1 + 2 * W * log(2.0) / ((double)m * log(W));
    long useful = (long)ceil(bound) - 1; /* the largest K < bound */
    if (useful < 1) useful = 1;
    if (useful < cap) cap = useful;
  }
  if (cap >= k) return FITCLI_EXIT_OK;
  static char text[32];
  snprintf(text, sizeof text, "%ld", cap);
  j->hyper[p - j->type->params] = text;
  fprintf(stderr,
          "prefsim fit: %s: --model mixture, BIC over K = 1..%ld: K lowered to %ld, the most the data support "
          "(%zu user%s%s; K >= %.3g = 1 + 2 W ln 2 / (m ln W), with weight W = %.6g and m = %zu items, can never "
          "have the smallest BIC: its penalty alone exceeds the one-type BIC); the answer is unchanged\n",
          j->file, k, cap, users, users == 1 ? "" : "s", d->annotator ? "" : ": rows, without an annotator column",
          bound, W, m);
  return FITCLI_EXIT_OK;
}

/* ------------------------------------------------------------ the fit */

/* A view of a mixture_result through the estimator table's queries, so that the
 * generic report (fit_report_model) prints it as it prints any model: the same
 * answers as the registry's mixture (estimators/mixture.c: mix_logit, mix_groups,
 * mix_annotator) from the same result. */
static const mixture_result *res_of(const est_model *e) { return (const mixture_result *)(const void *)e; }
static double view_logit(const est_model *e, int32_t a, int32_t b) {
  return mixture_logit(res_of(e), res_of(e)->weight, a, b);
}
static const double *view_theta(const est_model *e, size_t *dim) {
  (void)e;
  *dim = 0;
  return NULL;
}
static int view_groups(const est_model *e, size_t *K, const double **reward, const double **weight) {
  *K = res_of(e)->K;
  *reward = res_of(e)->reward;
  *weight = res_of(e)->weight;
  return PS_OK;
}
static int view_annotator(const est_model *e, size_t h, double *vals) {
  const mixture_result *r = res_of(e);
  if (h >= r->H) return PS_EINVAL;
  double mx = 0;
  for (size_t k = 0; k < r->K; k++) mx = fmax(mx, r->resp[h * r->K + k]);
  vals[0] = r->assign[h];
  vals[1] = mx;
  vals[2] = r->user_weight[h];
  return PS_OK;
}

static int mixture_run(const fit_job *j) {
  const csv_comparisons *c = j->c;
  size_t m = c->data.n_items;
  mixture_options o = mixture_options_default();
  o.K = (size_t)fit_hyper_real(j, "k", 2);
  o.select = !strcmp(fit_hyper(j, "select"), "bic") ? MIXTURE_SELECT_BIC : MIXTURE_SELECT_FIXED;
  o.assignment = !strcmp(fit_hyper(j, "assignment"), "hard") ? MIXTURE_HARD : MIXTURE_SOFT;
  o.restarts = (int)fit_hyper_real(j, "restarts", o.restarts);
  o.init = !strcmp(fit_hyper(j, "init"), "mod") ? MIXTURE_INIT_MOD : MIXTURE_INIT_RANDOM;
  o.l2 = fit_hyper_real(j, "l2", o.l2);
  o.max_iter = (int)fit_hyper_real(j, "max_iter", o.max_iter);
  o.tol = fit_hyper_real(j, "tol", o.tol);
  pref_features items = {.n_items = m, .d = m, .phi = NULL, .n_contexts = 1, .item_context = NULL, .log_ref = NULL};
  mixture_result res;
  memset(&res, 0, sizeof res);
  ps_msg msg = {{0}};
  gsl_rng *r = fit_rng(j);
  if (!r) {
    fprintf(stderr, "prefsim fit: out of memory\n");
    return FITCLI_EXIT_INTERNAL;
  }
  int s = mixture_fit(&c->data, &items, &o, r, &res, &msg);
  gsl_rng_free(r);
  double t_fit = fit_now();
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", j->file, msg.text);
    mixture_result_free(&res);
    return fit_exit_for(s);
  }
  /* as the registry's mixture reports it: an objective that fell (an inexact M-step)
   * is not converged; EM has no gradient */
  est_fit_info info = {.status = PS_OK,
                       .converged = res.converged && res.monotone_violations == 0,
                       .iterations = res.iterations,
                       .objective = res.objective,
                       .grad_norm = NAN};
  est_type view = *j->type;
  view.theta = view_theta;
  view.logit = view_logit;
  view.groups = view_groups;
  view.annotator = view_annotator;
  view.policy = NULL;
  view.self_estimate = NULL;
  fit_report rep;
  fit_report_init(&rep, j);
  fit_verdict v = {0};
  int bic = o.select == MIXTURE_SELECT_BIC;
  static const char *const skip_k[] = {"k", NULL};
  fit_report_model(&rep, &v, j, &view, (const est_model *)(const void *)&res, &info, bic ? skip_k : NULL);

  /* the fit statistics of the kept K */
  double W = pref_data_weight(&c->data);
  fit_report_num(&rep, FIT_SEC_FIT, FIT_JSON, "loglik", res.loglik);
  fit_report_str(&rep, FIT_SEC_FIT, FIT_JSON, "loglik_convention",
                 "the marginal log-likelihood sum over users h of log sum_k w_k exp(l_hk), l_hk = sum over h's rows "
                 "of count x log sigmoid(r_k(winner) - r_k(loser)); no binomial coefficient; objective adds the "
                 "ridge -(l2/2) sum_k ||theta_k||^2");
  fit_report_int(&rep, FIT_SEC_FIT, FIT_JSON, "parameters", (long long)res.n_params);
  fit_report_num(&rep, FIT_SEC_FIT, FIT_JSON, "aic", -2 * res.loglik + 2 * (double)res.n_params);
  fit_report_num(&rep, FIT_SEC_FIT, FIT_JSON, "bic", res.bic);
  fit_report_str(&rep, FIT_SEC_FIT, FIT_JSON, "bic_convention", "-2 loglik + parameters x ln(weight), weight = the sum of counts");
  if (bic) {
    /* the chosen K, every K's BIC, and whether BIC still fell at the largest K */
    size_t n = res.n_bic;
    const char *state = "minimum-inside";
    if (n >= 2 && res.bic_by_k[n - 1] < res.bic_by_k[n - 2])
      state = (long)n < asked_k_max ? "capped" : "still-falling";
    fit_report_int(&rep, FIT_SEC_OPTIONS, FIT_BOTH, "k", (long long)res.K);
    fit_report_int(&rep, FIT_SEC_OPTIONS, FIT_BOTH, "k_max", (long long)n);
    fit_report_num(&rep, FIT_SEC_FIT, FIT_TEXT, "bic", res.bic);
    fit_report_str(&rep, FIT_SEC_FIT, FIT_BOTH, "bic_status", state);
    fit_table *t = fit_report_table(&rep, "bic", NULL, n, NULL, 2, FIT_BOTH);
    if (t) {
      fit_table_column(&rep, t, 0, "k", 1);
      fit_table_column(&rep, t, 1, "bic", 0);
      for (size_t k = 0; k < n; k++) t->v[2 * k] = (double)(k + 1), t->v[2 * k + 1] = res.bic_by_k[k];
    }
    if (!strcmp(state, "still-falling"))
      fprintf(stderr,
              "prefsim fit: %s: --model mixture --k auto: BIC is still falling at --k-max %zu (BIC(%zu) = %.6g < "
              "BIC(%zu) = %.6g): the best K may be larger; rerun with a larger --k-max\n",
              j->file, n, n, res.bic_by_k[n - 1], n - 1, res.bic_by_k[n - 2]);
  }
  (void)W;
  mixture_result_free(&res);
  int rc = fit_emit(j, &rep, fit_verdict_report(j, &v));
  fit_report_free(&rep);
  if (j->args->verbose)
    fprintf(stderr, "prefsim fit: %zu rows, %zu items, %zu annotators: fit %.3f s, total %.3f s\n", c->data.n, m,
            c->data.n_annotators, t_fit - j->t0, fit_now() - j->t0);
  return rc;
}

static const fit_option mixture_cli_options[] = {
    {"--k-max", "K",
     "with --k auto: the largest K tried (default 6); lowered, with a note, to the number of users and below "
     "the K whose BIC penalty alone exceeds the one-type BIC (such K can never be chosen)"},
    {NULL, NULL, NULL}};

const fit_hook fit_hook_mixture = {
    .model = "mixture",
    .options = mixture_cli_options,
    .summary = "--k auto: the number of types K in 1..--k-max (default 6) chosen by BIC (select = bic)",
    .prepare = mixture_prepare,
    .check = mixture_check,
    .run = mixture_run,
    .max_items = FIT_MAX_ITEMS_ANNOTATORS,
    .items_why = "its item score is the mean logit over all m(m-1) ordered pairs of items, each a mixture of K "
                 "types, and its EM fits run for minutes with no output beyond this",
};
