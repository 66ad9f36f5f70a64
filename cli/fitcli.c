/* fitcli.c — `prefsim fit`: check the command line against the registry, read the
 * CSV, then fit and print through the estimator table (or the model's hook).
 *
 * The data are the item model: pref_features with phi = NULL (one free score per
 * item), one context holding every item of DATA, the uniform reference policy.
 * The generic output uses only the table's queries:
 *   score        theta() when it has one value per item, else the mean logit
 *                s_i = (1/(m-1)) sum_{j != i} logit(i, j) (quadratic: at most 5000
 *                items); both centred to sum 0, since only differences are identified;
 *   score_k      groups(): each group's reward, centred, with its weight as metadata;
 *   policy       policy(0, m): the model's policy over the items;
 *   annotator()  one row per annotator, columns annotator_columns;
 *   metadata     est_fit_info (objective, converged, iterations, grad_norm),
 *                self_estimate(), the hyperparameters, the data's size.
 * A fit that fails prints nothing (the table's contract: the model is queryable only
 * when the fit returned PS_OK) and exits with fit_exit_for(status).  A fit that
 * returns an estimate is checked (fit_check.c): a non-finite value or a failed
 * convergence test prints the table with `# status non-finite` or `not-converged`
 * and exits 6.  --annotators FILE is refused when it is an input and is written
 * through a temporary renamed over FILE only once the whole output is written
 * (fit_io.c).  Before any fit: the hook's item ceiling (unless --allow-large) and
 * its check of the settings against the data. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/rng.h"
#include "fitcli_impl.h"

/* The fallback item score is quadratic in the items. */
#define MAX_MEAN_LOGIT_ITEMS 5000

/* ------------------------------------------------------------ helpers */


double fit_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void fit_put_cell(FILE *out, const char *s) {
  for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, out);
}

/* "<TAB>x" with 12 significant digits, or "<TAB>NA" */
static void put_num(FILE *out, double x) {
  if (isfinite(x)) fprintf(out, "\t%.12g", x);
  else fputs("\tNA", out);
}

const char *fit_hyper(const fit_job *j, const char *key) {
  const ps_param *p = ps_param_find(j->type->params, key);
  return p ? j->hyper[p - j->type->params] : NULL;
}

double fit_hyper_real(const fit_job *j, const char *key, double dflt) {
  const char *v = fit_hyper(j, key);
  return v ? ps_param_real(v) : dflt;
}

void fit_print_hyper(FILE *out, const fit_job *j, const char *const *skip, int changed_only) {
  for (size_t i = 0; j->type->params && j->type->params[i].key; i++) {
    const ps_param *p = &j->type->params[i];
    int skipped = 0;
    for (size_t k = 0; skip && skip[k]; k++) skipped |= !strcmp(skip[k], p->key);
    if (skipped || (changed_only && p->def && !strcmp(p->def, j->hyper[i]))) continue;
    fprintf(out, "# %s\t", p->key);
    fit_put_cell(out, j->hyper[i]);
    fputc('\n', out);
  }
}

int fit_exit_for(int status) {
  switch (status) {
  case PS_ENOMLE: return FITCLI_EXIT_NOMLE;
  case PS_EINVAL: return FITCLI_EXIT_DATA;
  case PS_ENOMEM: return FITCLI_EXIT_INTERNAL;
  case PS_EIO: return FITCLI_EXIT_IO;
  default: return FITCLI_EXIT_NUMERIC;
  }
}

int fit_finish_output(FILE *out, FILE *extra, int rc) {
  int bad = fflush(out) != 0 || ferror(out);
  if (extra) bad |= fflush(extra) != 0 || ferror(extra);
  if (bad) {
    fprintf(stderr, "prefsim fit: error writing the results\n");
    return FITCLI_EXIT_IO;
  }
  return rc;
}

gsl_rng *fit_rng(const fit_job *j) {
  gsl_rng *r = ps_rng_alloc();
  if (r) ps_rng_reset(r, (uint64_t)j->args->seed, PS_STREAM_ESTIMATOR, 0, 0, 0);
  return r;
}

/* ------------------------------------------------------- generic output */

/* Centred item scores of a fitted model (see the top of the file).  PS_EINVAL when
 * it has no theta per item and too many items for the mean logit. */
static int item_scores(const est_type *t, const est_model *mod, size_t m, double *score) {
  size_t dim = 0;
  const double *th = t->theta ? t->theta(mod, &dim) : NULL;
  if (th && dim == m) {
    for (size_t i = 0; i < m; i++) score[i] = th[i];
  } else if (m <= MAX_MEAN_LOGIT_ITEMS && t->logit) {
    for (size_t i = 0; i < m; i++) {
      double acc = 0;
      for (size_t j = 0; j < m; j++)
        if (j != i) acc += t->logit(mod, (int32_t)i, (int32_t)j);
      score[i] = m > 1 ? acc / (double)(m - 1) : 0;
    }
  } else {
    return PS_EINVAL;
  }
  double mean = 0;
  for (size_t i = 0; i < m; i++) mean += score[i];
  mean /= (double)m;
  for (size_t i = 0; i < m; i++) score[i] -= mean;
  return PS_OK;
}

/* The per-annotator table of a model that has one. */
static int print_annotators(FILE *at, const fit_job *j, const est_model *mod, size_t nc) {
  const est_type *t = j->type;
  const csv_comparisons *c = j->c;
  double *v = malloc(nc * sizeof *v);
  if (!v) return PS_ENOMEM;
  fputs("annotator", at);
  for (size_t k = 0; k < nc; k++) fprintf(at, "\t%s", t->annotator_columns[k]);
  fputc('\n', at);
  for (size_t h = 0; h < c->data.n_annotators; h++) {
    if (c->annotator_name) fit_put_cell(at, c->annotator_name[h]);
    else fputs("(all)", at);
    if (t->annotator(mod, h, v) != PS_OK)
      for (size_t k = 0; k < nc; k++) fputs("\tNA", at);
    else
      for (size_t k = 0; k < nc; k++) put_num(at, v[k]);
    fputc('\n', at);
  }
  free(v);
  return PS_OK;
}

/* The estimator refused its hyperparameters (or memory ran out): say so, and
 * return the exit status. */
static int alloc_failed(const est_type *t, int status, const ps_msg *msg) {
  size_t len = strlen(t->name); /* the message may already name the model */
  if (!strncmp(msg->text, t->name, len) && msg->text[len] == ':') fprintf(stderr, "prefsim fit: --model %s\n", msg->text);
  else fprintf(stderr, "prefsim fit: --model %s: %s\n", t->name, msg->text);
  if (status == PS_ENOMEM) return FITCLI_EXIT_INTERNAL;
  fprintf(stderr, "  (prefsim fit --model %s --help lists its hyperparameters)\n", t->name);
  return FITCLI_EXIT_USAGE;
}

/* The post-fit check of a generic fit (fit_check.c): the estimator's convergence
 * test, and every printed number that must be finite.  An objective that is NaN
 * together with the gradient norm is a model without either (mm, borda, ...); one
 * that is NaN alone, or an infinite one, is a failure.  A per-annotator value may be
 * NaN (a diagnostic the model could not compute for that annotator, printed NA, e.g.
 * grpo's alpha_star), never infinite. */
static void check_generic(fit_verdict *v, const fit_job *j, const est_model *mod, const est_fit_info *info,
                          const double *score, int have_scores, const double *policy, int have_policy, size_t K,
                          const double *R, const double *W, size_t nc) {
  const est_type *t = j->type;
  size_t m = j->c->data.n_items;
  if (isinf(info->objective) || (isnan(info->objective) && !isnan(info->grad_norm)))
    fit_verdict_fail(v, PS_EDOM, "the objective is %g", info->objective);
  if (isinf(info->grad_norm)) fit_verdict_fail(v, PS_EDOM, "the gradient norm is %g", info->grad_norm);
  size_t dim = 0;
  const double *th = t->theta ? t->theta(mod, &dim) : NULL;
  if (th) fit_verdict_finite(v, "theta", th, dim);
  if (have_scores) fit_verdict_finite(v, "score", score, m);
  if (K) {
    fit_verdict_finite(v, "the group rewards", R, K * m);
    fit_verdict_simplex(v, "the group weights", W, K);
  }
  if (have_policy) fit_verdict_simplex(v, "the policy", policy, m);
  if (nc) {
    double vals[64];
    for (size_t h = 0; h < j->c->data.n_annotators && nc <= 64; h++)
      if (t->annotator(mod, h, vals) == PS_OK)
        for (size_t k = 0; k < nc; k++)
          if (isinf(vals[k])) { /* NaN is a value the model does not have for that annotator (NA) */
            fit_verdict_fail(v, PS_EDOM, "annotator %zu's %s is %g", h + 1, t->annotator_columns[k], vals[k]);
            break;
          }
  }
  if (!info->converged)
    fit_verdict_fail(v, PS_ENOCONV,
                     "the estimator's convergence test failed (converged = no after %d iterations, gradient norm %.3g)",
                     info->iterations, info->grad_norm);
}

/* Fit through the estimator table and print the generic output.  Returns an exit status. */
static int run_generic(const fit_job *j) {
  const est_type *t = j->type;
  const csv_comparisons *c = j->c;
  const fit_args *a = j->args;
  size_t m = c->data.n_items, nc = 0;
  while (t->annotator && t->annotator_columns && t->annotator_columns[nc]) nc++;
  ps_msg msg = {{0}};
  est_model *mod = NULL;
  est_fit_info info = {0};
  pref_features items = {.n_items = m, .d = m, .phi = NULL, .n_contexts = 1, .item_context = NULL, .log_ref = NULL};
  gsl_rng *r = fit_rng(j);
  double *score = malloc(m * sizeof *score), *policy = t->policy ? malloc(m * sizeof *policy) : NULL;
  FILE *out = stdout;
  fit_outfile ann;
  memset(&ann, 0, sizeof ann);
  int rc = FITCLI_EXIT_OK;
  if (!r || !score || (t->policy && !policy)) {
    fprintf(stderr, "prefsim fit: out of memory\n");
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  int s = t->alloc(&mod, j->hyper, &msg);
  if (s != PS_OK) {
    rc = alloc_failed(t, s, &msg);
    goto done;
  }
  s = t->fit(mod, &c->data, &items, r, &info, &msg);
  double t_fit = fit_now();
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", j->file, msg.text);
    if (s == PS_ENOMLE && ps_param_find(t->params, "l2"))
      fprintf(stderr, "  Add a penalty, e.g. --l2 0.1, to get finite (shrunken) estimates.\n");
    rc = fit_exit_for(s);
    goto done;
  }
  if (a->annotators_path && fit_out_open(&ann, a->annotators_path, &msg) != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n", msg.text);
    rc = FITCLI_EXIT_IO;
    goto done;
  }

  /* the item table */
  size_t K = 0;
  const double *R = NULL, *W = NULL;
  if (t->groups && t->groups(mod, &K, &R, &W) != PS_OK) K = 0;
  int have_scores = item_scores(t, mod, m, score) == PS_OK;
  int have_policy = policy && t->policy(mod, 0, m, policy) == PS_OK;
  fit_verdict v = {0};
  check_generic(&v, j, mod, &info, score, have_scores, policy, have_policy, K, R, W, nc);
  fputs("item\tscore", out);
  for (size_t k = 0; k < K; k++) fprintf(out, "\tscore_%zu", k + 1);
  if (policy) fputs("\tpolicy", out);
  fputc('\n', out);
  for (size_t i = 0; i < m; i++) {
    fit_put_cell(out, c->item_name[i]);
    put_num(out, have_scores ? score[i] : NAN);
    for (size_t k = 0; k < K; k++) {
      double mean = 0;
      for (size_t y = 0; y < m; y++) mean += R[k * m + y];
      put_num(out, R[k * m + i] - mean / (double)m);
    }
    if (policy) put_num(out, have_policy ? policy[i] : NAN);
    fputc('\n', out);
  }

  /* the per-annotator table: to --annotators FILE, or after a blank line */
  if (nc) {
    if (!ann.fp) fputc('\n', out);
    if (print_annotators(ann.fp ? ann.fp : out, j, mod, nc) != PS_OK) {
      fprintf(stderr, "prefsim fit: out of memory\n");
      rc = FITCLI_EXIT_INTERNAL;
      goto done;
    }
  }

  for (size_t k = 0; k < K; k++) fprintf(out, "# weight_%zu\t%.12g\n", k + 1, W[k]);
  fprintf(out, "# objective\t%.12g\n", info.objective);
  fprintf(out, "# status\t%s\n", fit_verdict_name(&v));
  fprintf(out, "# converged\t%s\n", info.converged ? "yes" : "no");
  fprintf(out, "# iterations\t%d\n", info.iterations);
  fprintf(out, "# grad_norm\t%.3g\n", info.grad_norm);
  if (t->self_estimate) fprintf(out, "# self_estimate\t%.12g\n", t->self_estimate(mod));
  fprintf(out, "# model\t%s\n", t->name);
  fit_print_hyper(out, j, NULL, 0);
  fprintf(out, "# seed\t%llu\n", a->seed);
  fprintf(out, "# items\t%zu\n", m);
  fprintf(out, "# annotators\t%zu\n", c->data.n_annotators);
  fprintf(out, "# rows\t%zu\n", c->data.n);
  fprintf(out, "# weight\t%.12g\n", pref_data_weight(&c->data));
  rc = fit_verdict_report(j, &v);
  rc = fit_finish_output(out, NULL, rc);
  /* the annotator file replaces FILE only once everything else is written */
  if (ann.fp && rc != FITCLI_EXIT_IO && fit_out_commit(&ann, &msg) != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n", msg.text);
    rc = FITCLI_EXIT_IO;
  }
  if (a->verbose)
    fprintf(stderr, "prefsim fit: %zu rows, %zu items, %zu annotators: fit %.3f s (%d iterations), total %.3f s\n",
            c->data.n, m, c->data.n_annotators, t_fit - j->t0, info.iterations, fit_now() - j->t0);
done:
  fit_out_abort(&ann); /* after a commit: nothing left to do */
  if (mod) t->free(mod);
  if (r) gsl_rng_free(r);
  free(score);
  free(policy);
  return rc;
}

/* ---------------------------------------------------------------- main */

static int exit_for_read(int status) {
  switch (status) {
  case PS_EIO: return FITCLI_EXIT_IO;
  case PS_EFORMAT: return FITCLI_EXIT_DATA;
  default: return FITCLI_EXIT_INTERNAL;
  }
}

int fitcli_main(int argc, char **argv) {
  fit_args a;
  fit_job job;
  ps_msg msg = {{0}};
  memset(&job, 0, sizeof job);
  if (fit_parse_args(argc, argv, &a, &msg) != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n\n", msg.text);
    fitcli_usage(stderr);
    return FITCLI_EXIT_USAGE;
  }
  if (a.list) {
    fit_list(stdout);
    return fit_finish_output(stdout, NULL, FITCLI_EXIT_OK);
  }
  if (a.help && !a.model) {
    fitcli_usage(stdout);
    return fit_finish_output(stdout, NULL, FITCLI_EXIT_OK);
  }
  if (!a.model) {
    fprintf(stderr, "prefsim fit: missing --model (allowed: %s)\n", fit_item_models());
    return FITCLI_EXIT_USAGE;
  }
  const est_type *t = est_lookup(a.model);
  if (!t) {
    fprintf(stderr, "prefsim fit: unknown model '%s' (allowed: %s)\n", a.model, fit_item_models());
    return FITCLI_EXIT_USAGE;
  }
  if (a.help) {
    fit_model_usage(stdout, t);
    return fit_finish_output(stdout, NULL, FITCLI_EXIT_OK);
  }
  if (!(t->inputs & EST_IN_ITEMS)) {
    fprintf(stderr,
            "prefsim fit: --model %s fits %s, not the item comparisons of a CSV file.\n"
            "  Use it in an experiment whose world provides them (prefsim run).\n"
            "  Models for item comparisons: %s\n",
            t->name, fit_inputs_text(t->inputs), fit_item_models());
    return FITCLI_EXIT_USAGE;
  }
  if (fit_check_model(&a, t, job.hyper, &msg) != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n  (prefsim fit --model %s --help lists its hyperparameters and options)\n",
            msg.text, t->name);
    return FITCLI_EXIT_USAGE;
  }
  if (!a.data) {
    fprintf(stderr, "prefsim fit: missing the data file (DATA.csv, or - for stdin)\n");
    return FITCLI_EXIT_USAGE;
  }
  /* no output may be an input, and --annotators FILE must be writable: checked before
   * anything is read or written */
  int out_status = fit_check_outputs(&a, &msg);
  if (out_status != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n", msg.text);
    return out_status == PS_EIO ? FITCLI_EXIT_IO : FITCLI_EXIT_USAGE;
  }
  /* the estimator's own checks of the hyperparameters together (e.g. hypo's rloo
   * needs lambda > 0), before any data are read */
  est_model *probe = NULL;
  int s = t->alloc(&probe, job.hyper, &msg);
  if (probe) t->free(probe);
  if (s != PS_OK) return alloc_failed(t, s, &msg);

  csv_comparisons c;
  csv_limits lim = {.max_file_bytes = a.max_input_size, .size_hint = "--max-input-size SIZE raises it (e.g. 8G)"};
  job.t0 = fit_now();
  s = csv_read_comparisons_limited(a.data, &lim, &c, &msg);
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n", msg.text);
    return exit_for_read(s);
  }
  /* data with ties only for a model that reads them (EST_IN_TIES) */
  s = est_check_ties(t, &c.data, &msg);
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", strcmp(a.data, "-") == 0 ? "<stdin>" : a.data, msg.text);
    csv_comparisons_free(&c);
    return FITCLI_EXIT_DATA;
  }
  job.args = &a;
  job.type = t;
  job.c = &c;
  job.file = strcmp(a.data, "-") == 0 ? "<stdin>" : a.data;
  const fit_hook *hook = fit_hook_find(t->name);
  int rc = FITCLI_EXIT_OK;
  /* the item ceiling of a model whose output or work is quadratic in the items,
   * before any work */
  if (hook && hook->max_items && c.data.n_items > hook->max_items && !a.allow_large) {
    fprintf(stderr,
            "prefsim fit: %s: %zu items exceed the ceiling of %zu items for --model %s (%s); rerun with "
            "--allow-large to fit them anyway\n",
            job.file, c.data.n_items, hook->max_items, t->name, hook->items_why);
    rc = FITCLI_EXIT_DATA;
  }
  if (rc == FITCLI_EXIT_OK && hook && hook->check) rc = hook->check(&job);
  if (rc == FITCLI_EXIT_OK) rc = hook && hook->run ? hook->run(&job) : run_generic(&job);
  csv_comparisons_free(&c);
  return rc;
}
