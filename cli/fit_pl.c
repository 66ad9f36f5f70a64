/* fit_pl.c — `prefsim fit --model pl`: Plackett-Luce scores with standard errors, and
 * the routing of ranking data (`--model bt --breaking full|adjacent`; a model with
 * est_type.fit_rank, such as dpo_listwise, gets the rankings through the generic path).
 *
 * The hook fits with pl.h directly (as fit_bt.c does with bt.h) for the Hessian the
 * standard errors need.  Data: the rankings of a `ranking` CSV (csv.h), or the pairs
 * of a winner/loser CSV as full rankings of 2 (where PL is BT: the same scores, SEs
 * and log-likelihood as --model bt).  Objective (estimators/pl.h):
 *
 *     f(theta) = -sum_r c_r log P_PL(ranking r) + (lambda/2) ||theta||^2,
 *
 * loglik = -f at lambda = 0: no combinatorial constant (what survival::clogit reports
 * on the exploded rows).  Existence (lambda = 0): the ranked-above graph of the full
 * breaking must be strongly connected (Hunter 2004), checked first, with item names.
 * SEs: C = (H + 11^T/m)^-1 of the observed information H at theta (bt_covariance),
 * put on the centred or --reference scale as bt's (fit_transform_scale).  The
 * post-fit check recomputes the gradient: ||grad|| <= 1e3 x tol x max(weight, 1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../estimators/bt.h"
#include "../estimators/pl.h"
#include "fitcli_impl.h"

#define MAX_SE_ITEMS 20000

int fit_rankings_prepare(const fit_args *a, const est_type *t, csv_comparisons *c, const char *file) {
  const char *brk = fit_option_value(a, "--breaking");
  if (brk && strcmp(brk, "full") && strcmp(brk, "adjacent")) {
    fprintf(stderr, "prefsim fit: --breaking must be full or adjacent, not '%s'\n", brk);
    return FITCLI_EXIT_USAGE;
  }
  if (!c->rank.n) {
    if (brk) {
      fprintf(stderr, "prefsim fit: %s: --breaking applies to rankings (a 'ranking' column); this file holds pairs\n",
              file);
      return FITCLI_EXIT_USAGE;
    }
    return FITCLI_EXIT_OK;
  }
  if (!strcmp(t->name, "pl") || t->fit_rank) return FITCLI_EXIT_OK; /* models that fit rankings */
  if (!strcmp(t->name, "bt")) {
    if (!brk) {
      fprintf(stderr,
              "prefsim fit: %s holds %zu rankings: --model bt needs --breaking full (every ranked item beats every "
              "item below it) or --breaking adjacent (each beats the next); --model pl fits the rankings themselves\n",
              file, c->rank.n);
      return FITCLI_EXIT_USAGE;
    }
    ps_msg m = {{0}};
    pref_data p;
    if (rank_data_break(&c->rank, strcmp(brk, "full") ? RANK_BREAK_ADJACENT : RANK_BREAK_FULL, &p, &m) != PS_OK) {
      fprintf(stderr, "prefsim fit: %s: %s\n", file, m.text);
      return FITCLI_EXIT_INTERNAL;
    }
    pref_data_free(&c->data);
    c->data = p;
    return FITCLI_EXIT_OK;
  }
  fprintf(stderr,
          "prefsim fit: %s holds %zu rankings; fit them with --model pl or dpo_listwise, or --model bt --breaking "
          "full|adjacent\n",
          file, c->rank.n);
  return FITCLI_EXIT_DATA;
}

static int pl_run(const fit_job *j) {
  const csv_comparisons *c = j->c;
  const char *file = j->file, *reference = fit_option_value(j->args, "--reference");
  int want_se = fit_option_value(j->args, "--no-se") == NULL;
  size_t m = c->data.n_items;
  ps_msg msg = {{0}};
  pl_result r;
  memset(&r, 0, sizeof r);
  rank_data pairs;
  memset(&pairs, 0, sizeof pairs);
  double *cov = NULL, *score = NULL, *se = NULL, *g = NULL;
  int rc = FITCLI_EXIT_OK, s;

  pl_options o = pl_options_default();
  o.l2 = fit_hyper_real(j, "l2", o.l2);
  o.tol = fit_hyper_real(j, "tol", o.tol);
  o.max_iter = (int)fit_hyper_real(j, "max_iter", o.max_iter);
  o.want_hessian = want_se;

  long ref;
  int rrc = fit_reference_index(j, &ref);
  if (rrc != FITCLI_EXIT_OK) return rrc;
  if (want_se && m > MAX_SE_ITEMS) {
    fprintf(stderr, "prefsim fit: %s: standard errors for %zu items need two %zux%zu matrices; rerun with --no-se\n",
            file, m, m, m);
    return FITCLI_EXIT_INTERNAL;
  }
  const rank_data *d = &c->rank;
  if (!c->rank.n) {
    if (rank_data_from_pairs(&c->data, &pairs, &msg) != PS_OK) {
      fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
      return FITCLI_EXIT_INTERNAL;
    }
    d = &pairs;
  }
  if (o.l2 == 0) {
    s = pl_check_items(d, (const char *const *)c->item_name, &msg);
    if (s != PS_OK) {
      if (s == PS_ENOMLE)
        fprintf(stderr,
                "prefsim fit: %s: no maximum-likelihood estimate: %s.\n"
                "  Add a penalty, e.g. --l2 0.1, to get finite (shrunken) scores.\n",
                file, msg.text);
      else
        fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
      rc = s == PS_ENOMLE ? FITCLI_EXIT_NOMLE : FITCLI_EXIT_INTERNAL;
      goto done;
    }
  }
  struct timespec c0, c1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  double t_fit = fit_now();
  s = pl_fit(d, NULL, &o, &r, &msg);
  t_fit = fit_now() - t_fit;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  double cpu_fit = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
  if (s != PS_OK && s != PS_ENOCONV && s != PS_EDOM) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    rc = s == PS_ESINGULAR ? FITCLI_EXIT_NUMERIC : FITCLI_EXIT_INTERNAL;
    goto done;
  }
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    rc = FITCLI_EXIT_NUMERIC;
  }
  score = malloc(m * sizeof *score);
  se = malloc(m * sizeof *se);
  g = malloc(m * sizeof *g);
  if (!score || !se || !g) {
    fprintf(stderr, "prefsim fit: out of memory for %zu scores\n", m);
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  int cov_status = PS_OK;
  if (want_se && r.hessian) {
    cov = malloc(m * m * sizeof *cov);
    if (!cov) {
      fprintf(stderr, "prefsim fit: out of memory for the %zux%zu covariance (try --no-se)\n", m, m);
      rc = FITCLI_EXIT_INTERNAL;
      goto done;
    }
    bt_result br = {.d = m, .hessian = r.hessian};
    pref_features items = {.n_items = m, .d = m, .n_contexts = 1};
    cov_status = bt_covariance(&br, &items, cov, &msg);
    if (cov_status != PS_OK) {
      fprintf(stderr, "prefsim fit: %s: standard errors: %s\n", file, msg.text);
      free(cov);
      cov = NULL;
      rc = FITCLI_EXIT_NUMERIC;
    }
  }
  fit_transform_scale(r.theta, cov, m, ref, score, se);
  const char *status = ps_status_name(r.status);
  fit_verdict v = {0};
  if (r.status == PS_OK) {
    double W = rank_data_weight(d), tol = 1e3 * o.tol * (W > 1 ? W : 1);
    pl_objective(d, NULL, o.l2, r.theta, g, NULL, NULL);
    double gn = 0;
    for (size_t i = 0; i < m; i++) gn += g[i] * g[i];
    gn = sqrt(gn);
    double stats[2] = {r.objective, r.loglik};
    fit_verdict_finite(&v, "theta", r.theta, m);
    fit_verdict_finite(&v, "the objective", &stats[0], 1);
    fit_verdict_finite(&v, "the log-likelihood", &stats[1], 1);
    fit_verdict_finite(&v, "the gradient norm", &gn, 1);
    if (cov) fit_verdict_finite(&v, "se", se, m);
    if (!(gn <= tol))
      fit_verdict_fail(&v, PS_ENOCONV,
                       "the gradient norm at the returned scores is %.3g, above 1e3 x tol %g x max(weight, 1) = %.3g",
                       gn, o.tol, tol);
    status = fit_verdict_name(&v);
    if (v.status == PS_OK && want_se && !cov) status = ps_status_name(cov_status);
  }
  fit_report rep;
  fit_report_init(&rep, j);
  fit_report_scores(&rep, c, score, se);
  rep.status = status;
  fit_report_num(&rep, FIT_SEC_FIT, FIT_BOTH, "loglik", r.loglik);
  fit_report_str(&rep, FIT_SEC_FIT, FIT_JSON, "loglik_convention",
                 "sum over rankings of count x log P(ranking) under Plackett-Luce (the exploded logit's, as "
                 "survival::clogit reports it), no combinatorial constant");
  fit_report_num(&rep, FIT_SEC_FIT, FIT_BOTH, "objective", r.objective);
  fit_report_str(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "status", status);
  fit_report_bool(&rep, FIT_SEC_CONVERGENCE, FIT_JSON, "converged", r.status == PS_OK);
  fit_report_int(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "iterations", r.iterations);
  fit_report_num_why(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "grad_norm", r.grad_norm, "%.3g",
                     "unavailable: the fit stopped before its gradient was computed");
  fit_report_str(&rep, FIT_SEC_OPTIONS, FIT_TEXT, "model", "pl");
  fit_report_num(&rep, FIT_SEC_OPTIONS, FIT_BOTH, "l2", o.l2);
  static const char *const shown[] = {"l2", NULL};
  fit_report_hyper(&rep, j, shown, 1);
  fit_report_scale(&rep, reference);
  fit_report_int(&rep, FIT_SEC_DATA, FIT_BOTH, "items", (long long)m);
  fit_report_int(&rep, FIT_SEC_DATA, FIT_BOTH, "rows", (long long)d->n);
  fit_report_num(&rep, FIT_SEC_DATA, FIT_BOTH, "weight", rank_data_weight(d));
  if (v.status != PS_OK) rc = fit_verdict_report(j, &v);
  rc = fit_emit(j, &rep, rc);
  fit_report_free(&rep);
  if (j->args->verbose)
    fprintf(stderr,
            "prefsim fit: %zu rankings, %zu items: fit %.3f s (%.3f s CPU; %d Newton, %d CG iterations%s), total "
            "%.3f s\n",
            d->n, m, t_fit, cpu_fit, r.iterations, r.cg_iterations, want_se ? ", incl. the Hessian" : "",
            fit_now() - j->t0);
done:
  free(cov);
  free(score);
  free(se);
  free(g);
  pl_result_free(&r);
  rank_data_free(&pairs);
  return rc;
}

static const fit_option pl_cli_options[] = {
    {"--reference", "ITEM",
     "report theta_i - theta_ITEM, so ITEM scores 0 with SE 0, and the SEs of those differences; default: "
     "scores centred to sum 0 with the SEs of the centred scores"},
    {"--no-se", NULL, "skip standard errors (they need two items x items matrices; required above 20000 items)"},
    {NULL, NULL, NULL}};

const fit_hook fit_hook_pl = {
    .model = "pl",
    .options = pl_cli_options,
    .summary = "item, score, se: Plackett-Luce scores of rankings (a `ranking` column) with standard errors",
    .output = "  item<TAB>score<TAB>se    as --model bt: one row per item in order of first appearance\n"
              "  # key<TAB>value          then: loglik (sum of count x log P(ranking), no combinatorial\n"
              "                           constant), objective, status, iterations, grad_norm, model,\n"
              "                           l2, tol / max_iter when not the default, scale, items,\n"
              "                           rows (rankings, or pairs), weight (sum of counts)\n"
              "  Input: a `ranking` column, items best first separated by '>' (a>c>b), and an optional\n"
              "  `set` column, the offered items separated by '|', for a top-k of a larger set; count\n"
              "  and annotator as for pairs.  A winner,loser file is read as rankings of 2 (= bt).\n"
              "  se = sqrt of the diagonal of (H + 11^T/m)^-1, H the observed information, on the\n"
              "  reported scale.  Without --l2 the MLE's existence is checked first (exit 4, naming\n"
              "  the items, when the ranked-above graph is not strongly connected: Hunter 2004).\n"
              "  Ranking data with --model bt need --breaking full|adjacent (naive SEs of the pairs).\n",
    .run = pl_run,
};
