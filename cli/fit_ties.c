/* fit_ties.c — `prefsim fit --model davidson|raokupper`: scores with standard errors and the
 * tie parameter, in fit_bt.c's conventions (estimators/ties.h, docs/theory.md §3.17).
 *
 * The hook fits with ties.h directly (the estimator table has no query for the covariance).
 * Scores and SEs on the centred or the --reference scale exactly as bt's (fit_transform_scale, on
 * the theta block of the (m+1) x (m+1) covariance, the inverse Hessian on the sum-zero
 * space); then the tie parameter and its SE: `# log_nu`, `# log_nu_se` (Davidson) or
 * `# eta`, `# eta_se` (Rao–Kupper), `# loglik` (sum of c_i log P(row i) as modelled: no
 * combinatorial constant), the status lines.  Without --l2 the MLE's existence is checked
 * first (exit 4: no tie, only ties, or the win-or-tie graph not strongly connected).  The
 * post-fit check recomputes the gradient at the printed point against 1e3 x tol x
 * max(weight, 1), as bt's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../estimators/ties.h"
#include "fitcli_impl.h"

#define MAX_SE_ITEMS 20000

static int ties_run(const fit_job *j) {
  const csv_comparisons *c = j->c;
  const char *file = j->file, *reference = fit_option_value(j->args, "--reference");
  size_t m = c->data.n_items, N = m + 1;
  ties_model model = !strcmp(j->type->name, "davidson") ? TIES_DAVIDSON : TIES_RAOKUPPER;
  const char *tau_name = model == TIES_DAVIDSON ? "log_nu" : "eta";
  ps_msg msg = {{0}};
  ties_result r;
  memset(&r, 0, sizeof r);
  double *cov = NULL, *score = NULL, *se = NULL, *g = NULL;
  int rc = FITCLI_EXIT_OK, s;
  double t_read = fit_now(), t_fit;

  ties_options o = ties_options_default(model);
  o.l2 = fit_hyper_real(j, "l2", o.l2);
  o.tol = fit_hyper_real(j, "tol", o.tol);
  o.max_iter = (int)fit_hyper_real(j, "max_iter", o.max_iter);
  o.want_cov = 1;

  long ref;
  int rrc = fit_reference_index(j, &ref);
  if (rrc != FITCLI_EXIT_OK) return rrc;
  if (m > MAX_SE_ITEMS) {
    fprintf(stderr, "prefsim fit: %s: %zu items: the %s fit keeps (items + 1)^2 matrices; at most %d items\n",
            file, m, j->type->name, MAX_SE_ITEMS);
    return FITCLI_EXIT_INTERNAL;
  }
  if (o.l2 == 0) {
    s = ties_check_items(&c->data, (const char *const *)c->item_name, &msg);
    if (s != PS_OK) {
      fprintf(stderr, "prefsim fit: %s: no maximum-likelihood estimate: %s.\n%s", file, msg.text,
              s == PS_ENOMLE ? "  Add a penalty on the scores, e.g. --l2 0.1 (the tie parameter needs ties and "
                               "strict rows whatever the penalty).\n"
                             : "");
      return s == PS_ENOMLE ? FITCLI_EXIT_NOMLE : FITCLI_EXIT_INTERNAL;
    }
  }
  pref_features items = {.n_items = m, .d = m, .phi = NULL, .n_contexts = 1, .item_context = NULL};
  s = ties_fit(&c->data, &items, &o, &r, &msg);
  t_fit = fit_now();
  if (s == PS_ENOMLE || s == PS_ENOMEM || s == PS_EINVAL || !r.theta) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    rc = s == PS_ENOMLE ? FITCLI_EXIT_NOMLE : s == PS_EINVAL ? FITCLI_EXIT_DATA : FITCLI_EXIT_INTERNAL;
    goto done;
  }
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    rc = FITCLI_EXIT_NUMERIC;
  }
  score = malloc(m * sizeof *score);
  se = malloc(m * sizeof *se);
  g = malloc(2 * N * sizeof *g);
  if (r.cov) cov = malloc(m * m * sizeof *cov);
  if (!score || !se || !g || (r.cov && !cov)) {
    fprintf(stderr, "prefsim fit: out of memory for %zu scores\n", m);
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  if (cov)
    for (size_t a = 0; a < m; a++) memcpy(cov + a * m, r.cov + a * N, m * sizeof(double));
  fit_transform_scale(r.theta, cov, m, ref, score, se);
  double tau_se = r.cov ? sqrt(fmax(0, r.cov[N * N - 1])) : NAN;

  fit_verdict v = {0};
  const char *status = ps_status_name(r.status);
  if (r.status == PS_OK) {
    double W = pref_data_weight(&c->data), tol = 1e3 * o.tol * (W > 1 ? W : 1), gn = 0;
    double *x = g + N;
    memcpy(x, r.theta, m * sizeof(double));
    x[m] = r.tau;
    ties_objective(&c->data, &items, model, o.l2, x, g, NULL, NULL);
    for (size_t k = 0; k < N; k++) gn += g[k] * g[k];
    gn = sqrt(gn);
    double stats[3] = {r.objective, r.loglik, r.tau};
    fit_verdict_finite(&v, "theta", r.theta, m);
    fit_verdict_finite(&v, "the objective", &stats[0], 1);
    fit_verdict_finite(&v, "the log-likelihood", &stats[1], 1);
    fit_verdict_finite(&v, tau_name, &stats[2], 1);
    fit_verdict_finite(&v, "the gradient norm", &gn, 1);
    if (cov) fit_verdict_finite(&v, "se", se, m);
    if (!cov) fit_verdict_fail(&v, PS_EDOM, "the Hessian is not positive definite at the estimate: no SEs");
    if (!(gn <= tol))
      fit_verdict_fail(&v, PS_ENOCONV,
                       "the gradient norm at the returned scores is %.3g, above the tolerance 1e3 x tol %g x "
                       "max(weight, 1) = %.3g",
                       gn, o.tol, tol);
    status = fit_verdict_name(&v);
  }
  fit_report rep;
  fit_report_init(&rep, j);
  fit_report_scores(&rep, c, score, se);
  rep.status = status;
  char se_key[32];
  snprintf(se_key, sizeof se_key, "%s_se", tau_name);
  fit_report_num(&rep, FIT_SEC_FIT, FIT_BOTH, tau_name, r.tau);
  fit_report_num_why(&rep, FIT_SEC_FIT, FIT_BOTH, se_key, tau_se, "%.12g",
                     "unavailable: the Hessian is not positive definite at the estimate");
  fit_report_num(&rep, FIT_SEC_FIT, FIT_BOTH, "loglik", r.loglik);
  fit_report_str(&rep, FIT_SEC_FIT, FIT_JSON, "loglik_convention",
                 "sum of count x log P(row) as modelled (win, loss or tie), no combinatorial constant");
  fit_report_num(&rep, FIT_SEC_FIT, FIT_BOTH, "objective", r.objective);
  fit_report_str(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "status", status);
  fit_report_bool(&rep, FIT_SEC_CONVERGENCE, FIT_JSON, "converged", r.status == PS_OK);
  fit_report_int(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "iterations", r.iterations);
  fit_report_num_why(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "grad_norm", r.grad_norm, "%.3g",
                     "unavailable: the fit stopped before its gradient was computed");
  fit_report_str(&rep, FIT_SEC_OPTIONS, FIT_TEXT, "model", j->type->name);
  fit_report_num(&rep, FIT_SEC_OPTIONS, FIT_BOTH, "l2", o.l2);
  static const char *const shown[] = {"l2", NULL};
  fit_report_hyper(&rep, j, shown, 1);
  fit_report_scale(&rep, reference);
  fit_report_int(&rep, FIT_SEC_DATA, FIT_BOTH, "items", (long long)m);
  fit_report_int(&rep, FIT_SEC_DATA, FIT_BOTH, "rows", (long long)c->data.n);
  fit_report_int(&rep, FIT_SEC_DATA, FIT_BOTH, "ties", (long long)pref_data_n_ties(&c->data));
  fit_report_num(&rep, FIT_SEC_DATA, FIT_BOTH, "weight", pref_data_weight(&c->data));
  if (v.status != PS_OK) rc = fit_verdict_report(j, &v);
  rc = fit_emit(j, &rep, rc);
  fit_report_free(&rep);
  if (j->args->verbose)
    fprintf(stderr, "prefsim fit: %zu rows, %zu items: read %.3f s, fit+covariance %.3f s (%d Newton), total %.3f s\n",
            c->data.n, m, t_read - j->t0, t_fit - t_read, r.iterations, fit_now() - j->t0);
done:
  free(cov);
  free(score);
  free(se);
  free(g);
  ties_result_free(&r);
  return rc;
}

static const fit_option ties_cli_options[] = {
    {"--reference", "ITEM",
     "report theta_i - theta_ITEM, so ITEM scores 0 with SE 0, and the SEs of those differences "
     "(BradleyTerry2's and psychotools' convention); default: scores centred to sum 0"},
    {NULL, NULL, NULL}};

#define TIES_OUTPUT(TAU)                                                                                         \
  "  item<TAB>score<TAB>se    header, then one row per item in order of first appearance in DATA\n"          \
  "  # key<TAB>value          then: " TAU ", " TAU "_se, loglik (sum of count x log P(row) as\n"          \
  "                           modelled, no combinatorial constant), objective, status, iterations,\n"        \
  "                           grad_norm, model, l2, tol / max_iter when set, scale (centred or\n"             \
  "                           reference ITEM), items, rows, ties (tied rows), weight\n"                       \
  "  se: square roots of the inverse Hessian of the objective (observed information) on the\n"            \
  "  sum-zero space, transformed to the reported scale, as bt's.  Without --l2 the MLE's\n"               \
  "  existence is checked first (exit 4: no tie, only ties, or a graph of wins and ties that\n"          \
  "  is not strongly connected).  Data need a tie column (tie = 1 on tied rows).\n"

const fit_hook fit_hook_davidson = {
    .model = "davidson",
    .options = ties_cli_options,
    .summary = "item, score, se, then log_nu and its SE: Davidson's model for data with ties",
    .output = TIES_OUTPUT("log_nu"),
    .run = ties_run,
};

const fit_hook fit_hook_raokupper = {
    .model = "raokupper",
    .options = ties_cli_options,
    .summary = "item, score, se, then eta and its SE: Rao & Kupper's threshold model for data with ties",
    .output = TIES_OUTPUT("eta"),
    .run = ties_run,
};
