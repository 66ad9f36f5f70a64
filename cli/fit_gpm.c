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
  FILE *out = stdout;
  fputs("item", out);
  for (size_t y = 0; y < m; y++) {
    fputc('\t', out);
    fit_put_cell(out, c->item_name[y]);
  }
  fputc('\n', out);
  for (size_t i = 0; i < m; i++) {
    fit_put_cell(out, c->item_name[i]);
    for (size_t y = 0; y < m; y++) fprintf(out, "\t%.12g", gpm_logit(&res, i, y));
    fputc('\n', out);
  }
  fprintf(out, "# loss\t%.12g\n", res.loss);
  fprintf(out, "# objective\t%.12g\n", res.objective);
  fprintf(out, "# status\t%s\n", fit_verdict_name(&v));
  fprintf(out, "# converged\t%s\n", res.converged ? "yes" : "no");
  fprintf(out, "# iterations\t%d\n", res.iterations);
  fprintf(out, "# grad_norm\t%.3g\n", res.grad_norm);
  fprintf(out, "# best_restart\t%d\n", res.best_restart);
  fprintf(out, "# model\tgpm\n");
  fprintf(out, "# k\t%zu\n", o.k);
  fprintf(out, "# tau\t%.12g\n", o.tau);
  fprintf(out, "# lr\t%.12g\n", o.lr);
  fprintf(out, "# max_iterations\t%d\n", o.iterations);
  fprintf(out, "# restarts\t%d\n", o.restarts);
  fprintf(out, "# l2\t%.12g\n", o.l2);
  static const char *const shown[] = {"k", "tau", "lr", "iterations", "restarts", "l2", NULL};
  fit_print_hyper(out, j, shown, 0); /* any hyperparameter the table gains later */
  fprintf(out, "# seed\t%llu\n", j->args->seed);
  fprintf(out, "# items\t%zu\n", m);
  fprintf(out, "# rows\t%zu\n", c->data.n);
  fprintf(out, "# weight\t%.12g\n", pref_data_weight(&c->data));
  gpm_result_free(&res);
  int rc = fit_finish_output(out, NULL, fit_verdict_report(j, &v));
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
