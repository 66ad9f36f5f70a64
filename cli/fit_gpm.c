/* fit_gpm.c — `prefsim fit --model gpm`: the fitted logit matrix of the general
 * preference model (docs/theory.md §3.7, gpm.h).
 *
 * Item embeddings are fitted with Adam from the stream (seed, PS_STREAM_ESTIMATOR, 0,
 * 0, 0) with gpm's hyperparameters from the registry table (k, tau, lr, iterations,
 * l2, restarts), through gpm.h directly: the estimator table does not expose the
 * data loss and the kept restart that the output reports.  The embeddings are
 * identified only up to rotations and scale, so the output is the logit matrix
 * S_ij = s(i,j)/tau, printed in full: m^2 numbers, so more than FIT_MAX_ITEMS_MATRIX
 * items need --allow-large.  The post-fit check (fit_check.c): the loss, objective,
 * gradient norm and every logit finite, and the fit's gradient test met
 * (||grad|| <= tol x weight at the returned embeddings); otherwise the matrix is
 * printed with `# status not-converged` (or non-finite) and the exit status is 6. */
#include <math.h>

#include "../estimators/gpm.h"
#include "fitcli_impl.h"

static int gpm_run(const fit_job *j) {
  const csv_comparisons *c = j->c;
  size_t m = c->data.n_items;
  ps_msg msg = {{0}};
  gpm_options o = gpm_options_default();
  o.k = (size_t)fit_hyper_real(j, "k", (double)o.k);
  o.tau = fit_hyper_real(j, "tau", o.tau);
  o.lr = fit_hyper_real(j, "lr", o.lr);
  o.iterations = (int)fit_hyper_real(j, "iterations", o.iterations);
  o.l2 = fit_hyper_real(j, "l2", o.l2);
  o.restarts = (int)fit_hyper_real(j, "restarts", o.restarts);
  gpm_result res;
  gsl_rng *r = fit_rng(j);
  if (!r) {
    fprintf(stderr, "prefsim fit: out of memory\n");
    return FITCLI_EXIT_INTERNAL;
  }
  int s = gpm_fit(&c->data, &o, r, &res, &msg);
  gsl_rng_free(r);
  double t_fit = fit_now();
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", j->file, msg.text);
    return s == PS_EDOM ? FITCLI_EXIT_NUMERIC : s == PS_EINVAL ? FITCLI_EXIT_DATA : FITCLI_EXIT_INTERNAL;
  }
  fit_verdict v = {0};
  double stats[3] = {res.loss, res.objective, res.grad_norm};
  static const char *const stat_name[3] = {"the loss", "the objective", "the gradient norm"};
  for (int k = 0; k < 3; k++) fit_verdict_finite(&v, stat_name[k], &stats[k], 1);
  for (size_t i = 0; i < m && v.status != PS_EDOM; i++)
    for (size_t y = 0; y < m; y++)
      if (!isfinite(gpm_logit(&res, i, y))) {
        fit_verdict_fail(&v, PS_EDOM, "the logit of item %zu against item %zu is %g", i + 1, y + 1,
                         gpm_logit(&res, i, y));
        break;
      }
  if (!res.converged)
    fit_verdict_fail(&v, PS_ENOCONV,
                     "its gradient test failed (gradient norm %.3g > tol %g x weight %.6g after %d Adam steps; "
                     "perfectly cyclic data have no finite optimum without l2 > 0)",
                     res.grad_norm, o.tol, pref_data_weight(&c->data), res.iterations);
  fit_report rep;
  fit_report_init(&rep, j);
  /* JSON's items: the centred mean logit against the other items (the generic score) */
  fit_table *it = fit_report_table(&rep, "items", "item", m, (const char *const *)c->item_name, 1, FIT_JSON);
  fit_table *lt = fit_report_table(&rep, "logits", "item", m, (const char *const *)c->item_name, m, FIT_BOTH);
  if (it && lt) {
    lt->matrix = 1;
    fit_table_column(&rep, it, 0, "score", 0);
    double mean = 0;
    for (size_t i = 0; i < m; i++) {
      double acc = 0;
      fit_table_column(&rep, lt, i, c->item_name[i], 0);
      for (size_t y = 0; y < m; y++) acc += lt->v[i * m + y] = gpm_logit(&res, i, y);
      it->v[i] = m > 1 ? acc / (double)(m - 1) : 0;
      mean += it->v[i];
    }
    for (size_t i = 0; i < m; i++) it->v[i] -= mean / (double)m;
  }
  rep.status = fit_verdict_name(&v);
  fit_report_num(&rep, FIT_SEC_FIT, FIT_BOTH, "loss", res.loss);
  fit_report_num(&rep, FIT_SEC_FIT, FIT_BOTH, "objective", res.objective);
  fit_report_str(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "status", rep.status);
  fit_report_bool(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "converged", res.converged);
  fit_report_int(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "iterations", res.iterations);
  fit_report_num_fmt(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "grad_norm", res.grad_norm, "%.3g");
  fit_report_int(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "best_restart", res.best_restart);
  fit_report_str(&rep, FIT_SEC_OPTIONS, FIT_TEXT, "model", "gpm");
  fit_report_int(&rep, FIT_SEC_OPTIONS, FIT_BOTH, "k", (long long)o.k);
  fit_report_num(&rep, FIT_SEC_OPTIONS, FIT_BOTH, "tau", o.tau);
  fit_report_num(&rep, FIT_SEC_OPTIONS, FIT_BOTH, "lr", o.lr);
  fit_report_int(&rep, FIT_SEC_OPTIONS, FIT_BOTH, "max_iterations", o.iterations);
  fit_report_int(&rep, FIT_SEC_OPTIONS, FIT_BOTH, "restarts", o.restarts);
  fit_report_num(&rep, FIT_SEC_OPTIONS, FIT_BOTH, "l2", o.l2);
  static const char *const shown[] = {"k", "tau", "lr", "iterations", "restarts", "l2", NULL};
  fit_report_hyper(&rep, j, shown, 0); /* any hyperparameter the table gains later */
  fit_report_int(&rep, FIT_SEC_OPTIONS, FIT_BOTH, "seed", (long long)j->args->seed);
  fit_report_data(&rep, j, FIT_JSON);
  gpm_result_free(&res);
  int rc = fit_emit(j, &rep, fit_verdict_report(j, &v));
  fit_report_free(&rep);
  if (j->args->verbose)
    fprintf(stderr, "prefsim fit: %zu rows, %zu items: fit %.3f s (%d Adam steps x %d restarts), total %.3f s\n",
            c->data.n, m, t_fit - j->t0, o.iterations, o.restarts, fit_now() - j->t0);
  return rc;
}

const fit_hook fit_hook_gpm = {
    .model = "gpm",
    .summary = "the item x item logit matrix of a general (possibly intransitive) preference model",
    .output = "  item<TAB>NAME_1<TAB>...<TAB>NAME_m   header, then one row per item: row i, column j\n"
              "                           holds S_ij = s(i,j)/tau = logit P(i preferred to j), a\n"
              "                           skew-symmetric matrix (S_ii = 0); the embeddings themselves\n"
              "                           are not identified (rotations, scale) and not printed\n"
              "  # key<TAB>value          loss (sum of counts x -log P(winner > loser)), objective (loss\n"
              "                           + ridge), status (ok; not-converged: the gradient tolerance\n"
              "                           ||grad|| <= 1e-8 x weight was not met in the step budget, as on\n"
              "                           perfectly cyclic data without l2 > 0, whose logits grow without\n"
              "                           bound; non-finite), converged, iterations, grad_norm,\n"
              "                           best_restart, model, k, tau, lr, max_iterations, restarts, l2,\n"
              "                           seed, items, rows, weight\n"
              "  The fit is a deterministic function of --seed.  Status not-converged or non-finite:\n"
              "  the matrix is printed, exit 6; a fit that fails (non-finite objective) prints\n"
              "  nothing and exits 6.  Above 2000 items (an m x m matrix): exit 3 unless --allow-large.\n",
    .run = gpm_run,
    .max_items = FIT_MAX_ITEMS_MATRIX,
    .items_why = "it prints the m x m logit matrix: 4 million numbers, ~50 MB, at the ceiling",
};
