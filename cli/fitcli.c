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
 *   metadata     est_fit_info (objective, converged, iterations, grad_norm: NA with
 *                the reason when the estimator has none), self_estimate(), the
 *                hyperparameters, the data's size.
 * All of it goes into a fit_report (fit_report.c), printed as --format asks (text:
 * the item table, the key/value lines, the other tables commented out; tsv; json).
 * A fit that fails prints nothing (the table's contract: the model is queryable only
 * when the fit returned PS_OK) and exits with fit_exit_for(status).  A fit that
 * returns an estimate is checked (fit_check.c): a non-finite value or a failed
 * convergence test prints the table with `# status non-finite` or `not-converged`
 * and exits 6.  -o FILE and --annotators FILE are refused when they are an input and
 * are written through a temporary renamed over FILE only once the whole output is
 * written (fit_io.c, fit_emit).  Before any fit: the hook's item ceiling (unless --allow-large) and
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

const char *fit_hyper(const fit_job *j, const char *key) {
  const ps_param *p = ps_param_find(j->type->params, key);
  return p ? j->hyper[p - j->type->params] : NULL;
}

double fit_hyper_real(const fit_job *j, const char *key, double dflt) {
  const char *v = fit_hyper(j, key);
  return v ? ps_param_real(v) : dflt;
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
static void check_generic(fit_verdict *v, const fit_job *j, const est_type *t, const est_model *mod,
                          const est_fit_info *info, const double *score, int have_scores, const double *policy,
                          int have_policy, size_t K, const double *R, const double *W, size_t nc) {
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

void fit_report_model(fit_report *r, fit_verdict *v, const fit_job *j, const est_type *t, const est_model *mod,
                      const est_fit_info *info, const char *const *skip) {
  const csv_comparisons *c = j->c;
  size_t m = c->data.n_items, nc = 0;
  while (t->annotator && t->annotator_columns && t->annotator_columns[nc]) nc++;
  size_t K = 0;
  const double *R = NULL, *W = NULL;
  if (t->groups && t->groups(mod, &K, &R, &W) != PS_OK) K = 0;
  double *score = malloc(m * sizeof *score), *policy = t->policy ? malloc(m * sizeof *policy) : NULL;
  if (!score || (t->policy && !policy)) {
    r->oom = 1;
    free(score);
    free(policy);
    return;
  }
  int have_scores = item_scores(t, mod, m, score) == PS_OK;
  int have_policy = policy && t->policy(mod, 0, m, policy) == PS_OK;
  check_generic(v, j, t, mod, info, score, have_scores, policy, have_policy, K, R, W, nc);

  /* the item table */
  fit_table *it = fit_report_table(r, "items", "item", m, (const char *const *)c->item_name,
                                   1 + K + (policy ? 1 : 0), FIT_BOTH);
  if (it) {
    char name[32];
    fit_table_column(r, it, 0, "score", 0);
    for (size_t k = 0; k < K; k++) {
      snprintf(name, sizeof name, "score_%zu", k + 1);
      fit_table_column(r, it, 1 + k, name, 0);
    }
    if (policy) fit_table_column(r, it, 1 + K, "policy", 0);
    for (size_t i = 0; i < m; i++) {
      double *row = it->v + i * it->cols;
      row[0] = have_scores ? score[i] : NAN;
      for (size_t k = 0; k < K; k++) {
        double mean = 0;
        for (size_t y = 0; y < m; y++) mean += R[k * m + y];
        row[1 + k] = R[k * m + i] - mean / (double)m;
      }
      if (policy) row[1 + K] = have_policy ? policy[i] : NAN;
    }
  }
  free(score);
  free(policy);

  /* the per-annotator table */
  static const char *const all[] = {"(all)"};
  fit_table *at = nc ? fit_report_table(r, "annotators", "annotator", c->data.n_annotators,
                                        c->annotator_name ? (const char *const *)c->annotator_name : all, nc, FIT_BOTH)
                     : NULL;
  if (at) {
    for (size_t k = 0; k < nc; k++) fit_table_column(r, at, k, t->annotator_columns[k], 0);
    for (size_t h = 0; h < c->data.n_annotators; h++)
      if (t->annotator(mod, h, at->v + h * nc) != PS_OK)
        for (size_t k = 0; k < nc; k++) at->v[h * nc + k] = NAN;
  }

  char key[32];
  for (size_t k = 0; k < K; k++) {
    snprintf(key, sizeof key, "weight_%zu", k + 1);
    fit_report_num(r, FIT_SEC_FIT, FIT_BOTH, key, W[k]);
  }
  fit_report_num_why(r, FIT_SEC_FIT, FIT_BOTH, "objective", info->objective, "%.12g",
                     "unavailable: the model has no objective (a closed form, a fixed point or a ranking)");
  r->status = fit_verdict_name(v);
  fit_report_str(r, FIT_SEC_CONVERGENCE, FIT_BOTH, "status", r->status);
  fit_report_bool(r, FIT_SEC_CONVERGENCE, FIT_BOTH, "converged", info->converged);
  fit_report_int(r, FIT_SEC_CONVERGENCE, FIT_BOTH, "iterations", info->iterations);
  fit_report_num_why(r, FIT_SEC_CONVERGENCE, FIT_BOTH, "grad_norm", info->grad_norm, "%.3g", fit_grad_norm_why(t));
  if (t->self_estimate) fit_report_num(r, FIT_SEC_FIT, FIT_BOTH, "self_estimate", t->self_estimate(mod));
  fit_report_str(r, FIT_SEC_OPTIONS, FIT_TEXT, "model", j->type->name);
  fit_report_hyper(r, j, skip, 0);
  fit_report_int(r, FIT_SEC_OPTIONS, FIT_BOTH, "seed", (long long)j->args->seed);
  fit_report_data(r, j, FIT_BOTH);
}

void fit_report_data(fit_report *r, const fit_job *j, int annotators) {
  const csv_comparisons *c = j->c;
  fit_report_str(r, FIT_SEC_DATA, FIT_JSON, "file", j->file);
  fit_report_int(r, FIT_SEC_DATA, FIT_BOTH, "items", (long long)c->data.n_items);
  fit_report_int(r, FIT_SEC_DATA, annotators, "annotators", (long long)c->data.n_annotators);
  /* a ranking file fitted as rankings: its rankings are the rows (bt --breaking: the pairs) */
  int ranked = c->rank.n > 0 && j->type->fit_rank;
  double w = ranked ? rank_data_weight(&c->rank) : pref_data_weight(&c->data);
  fit_report_int(r, FIT_SEC_DATA, FIT_BOTH, "rows", (long long)(ranked ? c->rank.n : c->data.n));
  fit_report_num(r, FIT_SEC_DATA, FIT_BOTH, "weight", w);
  /* the number of comparisons (rankings) the fit statistics count: the sum of the counts */
  fit_report_num(r, FIT_SEC_FIT, FIT_JSON, "n_comparisons", w);
}

int fit_emit(const fit_job *j, fit_report *r, int rc) {
  const fit_args *a = j->args;
  ps_msg msg = {{0}};
  fit_outfile out, ann;
  memset(&out, 0, sizeof out);
  memset(&ann, 0, sizeof ann);
  if (a->output && fit_out_open(&out, a->output, &msg) != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n", msg.text);
    return FITCLI_EXIT_IO;
  }
  int with_ann = a->annotators_path && fit_report_find(r, "annotators");
  if (with_ann && fit_out_open(&ann, a->annotators_path, &msg) != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n", msg.text);
    fit_out_abort(&out);
    return FITCLI_EXIT_IO;
  }
  FILE *fp = out.fp ? out.fp : stdout;
  int s = fit_report_write(r, fp, ann.fp, &msg);
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n", msg.text);
    fit_out_abort(&out);
    fit_out_abort(&ann);
    return s == PS_EINVAL ? FITCLI_EXIT_USAGE : FITCLI_EXIT_INTERNAL;
  }
  rc = fit_finish_output(fp, NULL, rc); /* the annotator file: its commit says */
  /* the files replace theirs only once everything is written */
  if (out.fp && rc != FITCLI_EXIT_IO && fit_out_commit(&out, &msg) != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n", msg.text);
    rc = FITCLI_EXIT_IO;
  }
  if (ann.fp && rc != FITCLI_EXIT_IO && fit_out_commit(&ann, &msg) != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n", msg.text);
    rc = FITCLI_EXIT_IO;
  }
  fit_out_abort(&out); /* after a commit: nothing left to do */
  fit_out_abort(&ann);
  return rc;
}

/* Fit through the estimator table and print the generic output.  Returns an exit status. */
static int run_generic(const fit_job *j) {
  const est_type *t = j->type;
  const csv_comparisons *c = j->c;
  ps_msg msg = {{0}};
  est_model *mod = NULL;
  est_fit_info info = {0};
  pref_features items = {.n_items = c->data.n_items, .d = c->data.n_items, .phi = NULL, .n_contexts = 1,
                         .item_context = NULL, .log_ref = NULL};
  gsl_rng *r = fit_rng(j);
  fit_report rep;
  fit_report_init(&rep, j);
  int rc = FITCLI_EXIT_OK;
  if (!r) {
    fprintf(stderr, "prefsim fit: out of memory\n");
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  int s = t->alloc(&mod, j->hyper, &msg);
  if (s != PS_OK) {
    rc = alloc_failed(t, s, &msg);
    goto done;
  }
  /* a ranking file reaches here only for a model that fits rankings (fit_rankings_prepare) */
  s = c->rank.n && t->fit_rank ? t->fit_rank(mod, &c->rank, &items, r, &info, &msg)
                               : t->fit(mod, &c->data, &items, r, &info, &msg);
  double t_fit = fit_now();
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", j->file, msg.text);
    if (s == PS_ENOMLE && ps_param_find(t->params, "l2"))
      fprintf(stderr, "  Add a penalty, e.g. --l2 0.1, to get finite (shrunken) estimates.\n");
    rc = fit_exit_for(s);
    goto done;
  }
  fit_verdict v = {0};
  fit_report_model(&rep, &v, j, t, mod, &info, NULL);
  rc = fit_emit(j, &rep, fit_verdict_report(j, &v));
  if (j->args->verbose)
    fprintf(stderr, "prefsim fit: %zu rows, %zu items, %zu annotators: fit %.3f s (%d iterations), total %.3f s\n",
            c->data.n, c->data.n_items, c->data.n_annotators, t_fit - j->t0, info.iterations, fit_now() - j->t0);
done:
  fit_report_free(&rep);
  if (mod) t->free(mod);
  if (r) gsl_rng_free(r);
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
    fprintf(stderr, "prefsim fit: %s\n  (prefsim fit --help lists the options)\n", msg.text);
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
  if (a.columns && csv_columns_check(a.columns, &msg) != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n", msg.text);
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
  csv_limits lim = {.max_file_bytes = a.max_input_size,
                    .size_hint = "--max-input-size SIZE raises it (e.g. 8G)",
                    .columns = a.columns};
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
  if (rc == FITCLI_EXIT_OK) rc = fit_rankings_prepare(&a, t, &c, job.file);
  if (rc == FITCLI_EXIT_OK && hook && hook->check) rc = hook->check(&job);
  if (rc == FITCLI_EXIT_OK) rc = hook && hook->run ? hook->run(&job) : run_generic(&job);
  csv_comparisons_free(&c);
  return rc;
}
