/* fit_bt.c — `prefsim fit --model bt`: Bradley-Terry scores with standard errors.
 *
 * The hook fits with bt.h directly, from bt's own hyperparameters (l2, link, tol,
 * max_iter from the registry table), because the estimator table has no query for
 * the Hessian that the standard errors need.  docs/theory.md §3.1, bt.h's convention:
 *
 *     f(theta) = -sum_i c_i log F(theta_w(i) - theta_l(i)) + (lambda/2) ||theta||^2,
 *
 * lambda = l2 (0 by default: the MLE, which exists iff the directed win graph is
 * strongly connected; that is checked first, with item names in the message).
 *
 * Standard errors come from C = the inverse Hessian of f restricted to the
 * sum-zero space (bt_covariance).  Only contrasts of theta are identified, and
 * the two reported scales are contrasts:
 *   centred (default):  score_i = theta_i - mean(theta),  SE_i = sqrt((P C P)_ii),
 *                       P = I - 11^T/m the centring projector;
 *   --reference r:      score_i = theta_i - theta_r,      SE_i = sqrt(C_ii + C_rr - 2 C_ir),
 *                       BradleyTerry2's convention (BTabilities with refcat r).
 * Applying P explicitly makes the centred SEs independent of how the covariance
 * routine fixes the component along 1 (which the contrasts never see).  With
 * lambda > 0, C is the Laplace (Gaussian-posterior) covariance of the penalised fit.
 * A fit that stops without converging still prints its table, with its status, and
 * exits 6.
 *
 * --firth (= --param firth=true; bt.h "Firth", bt_firth.c): f gains -(1/2) log det I(theta),
 * the Jeffreys penalty, and the existence check becomes connectivity of the comparison
 * graph (bt_check_connected); C is then the inverse of the exact Hessian of the
 * penalised f (bt_firth_hessian), and the header says `# firth yes`.  The post-fit
 * check below recomputes the penalised gradient (bt_objective follows o.firth).
 *
 * The post-fit check (fit_check.c) of a fit that reports PS_OK: the gradient of f is
 * recomputed at the returned theta (bt_objective) and must satisfy bt's own test,
 * ||grad|| <= 1e3 x tol x max(weight, 1) (the slack bt_fit allows at the rounding
 * floor); theta, the objective, the log-likelihood and every computed SE must be
 * finite.  Otherwise the table is printed with `# status not-converged` or
 * `non-finite` and the exit status is 6; standard errors that cannot be computed
 * print NA with the covariance's status (e.g. singular) and exit 6 too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../estimators/bt.h"
#include "fitcli_impl.h"

/* Standard errors keep the m x m Hessian and its inverse: 2 x 3.2 GB at this
 * limit.  Refusing up front beats an allocation that may succeed under memory
 * overcommit and then be killed while it is filled. */
#define MAX_SE_ITEMS 20000

/* Scores and SEs on the requested scale from the centred theta and its
 * covariance C (m x m, or NULL for no SEs). */
void fit_transform_scale(const double *theta, const double *C, size_t m, long ref, double *score, double *se) {
  if (ref >= 0) {
    size_t r = (size_t)ref;
    for (size_t i = 0; i < m; i++) {
      score[i] = theta[i] - theta[r];
      se[i] = C ? sqrt(fmax(0, C[i * m + i] + C[r * m + r] - 2 * C[i * m + r])) : NAN;
    }
    if (C) se[r] = 0; /* exactly, not a rounding residue */
    return;
  }
  double mean = 0;
  for (size_t i = 0; i < m; i++) mean += theta[i];
  mean /= (double)m;
  for (size_t i = 0; i < m; i++) score[i] = theta[i] - mean;
  if (!C) {
    for (size_t i = 0; i < m; i++) se[i] = NAN;
    return;
  }
  /* (P C P)_ii = C_ii - 2 rowmean_i + grandmean  (C symmetric) */
  double grand = 0;
  for (size_t i = 0; i < m; i++) {
    double s = 0;
    for (size_t j = 0; j < m; j++) s += C[i * m + j];
    se[i] = s / (double)m; /* row mean, for now */
    grand += se[i];
  }
  grand /= (double)m;
  for (size_t i = 0; i < m; i++) se[i] = sqrt(fmax(0, C[i * m + i] - 2 * se[i] + grand));
}

fit_table *fit_report_scores(fit_report *rep, const csv_comparisons *c, const double *score, const double *se) {
  size_t m = c->data.n_items;
  fit_table *t = fit_report_table(rep, "items", "item", m, (const char *const *)c->item_name, 2, FIT_BOTH);
  if (t) {
    fit_table_column(rep, t, 0, "score", 0);
    fit_table_column(rep, t, 1, "se", 0);
    for (size_t i = 0; i < m; i++) t->v[2 * i] = score[i], t->v[2 * i + 1] = se[i];
  }
  return t;
}

void fit_report_scale(fit_report *rep, const char *reference) {
  if (!reference) {
    fit_report_str(rep, FIT_SEC_OPTIONS, FIT_BOTH, "scale", "centred");
    return;
  }
  char *s = malloc(strlen(reference) + 16);
  if (s) sprintf(s, "reference %s", reference);
  fit_report_str(rep, FIT_SEC_OPTIONS, FIT_BOTH, "scale", s ? s : "reference");
  free(s);
}

/* the pair counts of binomial_constant */
typedef struct {
  int32_t a, b; /* a < b */
  double wa, n; /* a's wins, all comparisons */
} pair_count;

static int pair_cmp(const void *x, const void *y) {
  const pair_count *p = x, *q = y;
  if (p->a != q->a) return p->a < q->a ? -1 : 1;
  return p->b < q->b ? -1 : p->b > q->b;
}

/* Sum over unordered pairs {a, b} of log C(n_ab, w_ab), n_ab the comparisons of a and
 * b and w_ab a's wins: what BradleyTerry2's logLik (a binomial GLM with one row per
 * pair, as countsToBinomial makes) adds to loglik.  NaN when a count is not an
 * integer (R rounds such counts) or memory runs out. */
static double binomial_constant(const pref_data *d) {
  pair_count *p = malloc((d->n ? d->n : 1) * sizeof *p);
  if (!p) return NAN;
  for (size_t i = 0; i < d->n; i++) {
    double c = d->count ? d->count[i] : 1;
    if (c != floor(c)) {
      free(p);
      return NAN;
    }
    int32_t w = d->winner[i], l = d->loser[i];
    p[i] = (pair_count){w < l ? w : l, w < l ? l : w, w < l ? c : 0, c};
  }
  qsort(p, d->n, sizeof *p, pair_cmp);
  double sum = 0;
  for (size_t i = 0; i < d->n;) {
    double wa = 0, n = 0;
    size_t k = i;
    for (; k < d->n && p[k].a == p[i].a && p[k].b == p[i].b; k++) wa += p[k].wa, n += p[k].n;
    sum += lgamma(n + 1) - lgamma(wa + 1) - lgamma(n - wa + 1);
    i = k;
  }
  free(p);
  return sum;
}

static void report_table(fit_report *rep, const fit_job *j, const bt_options *o, const bt_result *r,
                         const char *status, const char *reference, const double *score, const double *se) {
  const csv_comparisons *c = j->c;
  size_t m = c->data.n_items;
  fit_report_scores(rep, c, score, se);
  rep->status = status;
  int penalised = o->l2 > 0 || o->firth;
  double W = pref_data_weight(&c->data), p = (double)m - 1;
  fit_report_num(rep, FIT_SEC_FIT, FIT_BOTH, "loglik", r->loglik);
  fit_report_str(rep, FIT_SEC_FIT, FIT_JSON, "loglik_convention", FIT_LOGLIK_CONVENTION);
  if (j->args->format == FIT_FORMAT_JSON) {
    double k = binomial_constant(&c->data);
    const char *why = "unavailable: a count is not an integer (R's binomial family rounds such counts)";
    fit_report_num_why(rep, FIT_SEC_FIT, FIT_JSON, "binomial_constant", k, "%.12g", why);
    fit_report_num_why(rep, FIT_SEC_FIT, FIT_JSON, "loglik_bradleyterry2", r->loglik + k, "%.12g", why);
  }
  fit_report_num(rep, FIT_SEC_FIT, FIT_BOTH, "objective", r->objective);
  fit_report_int(rep, FIT_SEC_FIT, FIT_JSON, "parameters", (long long)(m - 1));
  const char *pen = "unavailable: a penalised fit (--l2 > 0 or --firth) has no likelihood-based AIC or BIC";
  fit_report_num_why(rep, FIT_SEC_FIT, FIT_JSON, "aic", penalised ? NAN : -2 * r->loglik + 2 * p, "%.12g", pen);
  fit_report_num_why(rep, FIT_SEC_FIT, FIT_JSON, "bic", penalised || !(W > 0) ? NAN : -2 * r->loglik + p * log(W),
                     "%.12g", pen);
  fit_report_str(rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "status", status);
  fit_report_bool(rep, FIT_SEC_CONVERGENCE, FIT_JSON, "converged", r->status == PS_OK);
  fit_report_int(rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "iterations", r->iterations);
  fit_report_num_why(rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "grad_norm", r->grad_norm, "%.3g",
                     "unavailable: the fit stopped before its gradient was computed");
  fit_report_str(rep, FIT_SEC_OPTIONS, FIT_TEXT, "model", "bt");
  fit_report_num(rep, FIT_SEC_OPTIONS, FIT_BOTH, "l2", o->l2);
  fit_report_bool(rep, FIT_SEC_OPTIONS, o->firth ? FIT_BOTH : FIT_JSON, "firth", o->firth);
  if (pref_data_n_ties(&c->data) > 0) {
    char b[64];
    snprintf(b, sizeof b, "%s %zu", fit_hyper(j, "ties"), pref_data_n_ties(&c->data));
    fit_report_str(rep, FIT_SEC_OPTIONS, FIT_BOTH, "ties", b);
  }
  static const char *const shown[] = {"l2", "firth", "ties", NULL};
  fit_report_hyper(rep, j, shown, 1); /* text: link, tol, max_iter when set to other than the default */
  fit_report_scale(rep, reference);
  fit_report_data(rep, j, FIT_JSON);
  const char *brk = fit_option_value(j->args, "--breaking");
  if (brk) {
    char b[200];
    snprintf(b, sizeof b, "%s (%zu rankings; naive SEs: the pairs taken as independent)", brk, c->rank.n);
    fit_report_str(rep, FIT_SEC_OPTIONS, FIT_BOTH, "breaking", b);
  }
}

/* "'a', 'b', 'c', ... (m items)" for the unknown-reference message. */
static void fit_list_items(const csv_comparisons *c, char *buf, size_t size) {
  size_t k = 0, m = c->data.n_items, shown = m < 8 ? m : 8;
  buf[0] = 0;
  for (size_t i = 0; i < shown && k < size; i++) {
    int w = snprintf(buf + k, size - k, "%s'%.40s'", i ? ", " : "", c->item_name[i]);
    if (w < 0) return;
    k += (size_t)w;
  }
  if (m > shown && k < size) snprintf(buf + k, size - k, ", ... (%zu items)", m);
}

int fit_reference_index(const fit_job *j, long *ref) {
  const csv_comparisons *c = j->c;
  const char *reference = fit_option_value(j->args, "--reference");
  size_t m = c->data.n_items;
  *ref = -1;
  if (!reference) return FITCLI_EXIT_OK;
  for (size_t i = 0; i < m && *ref < 0; i++)
    if (strcmp(c->item_name[i], reference) == 0) *ref = (long)i;
  if (*ref >= 0) return FITCLI_EXIT_OK;
  char items[400];
  fit_list_items(c, items, sizeof items);
  fprintf(stderr, "prefsim fit: --reference '%s' is not among the %zu items of %s: %s\n", reference, m, j->file,
          items);
  return FITCLI_EXIT_DATA;
}

static int bt_run_data(const fit_job *j, const pref_data *data);

static int bt_run(const fit_job *j) {
  const csv_comparisons *c = j->c;
  /* data with ties: --ties drop|half (= --param ties=...) reduces them to strict pairs
   * (pref_data_resolve_ties) before anything else; without it they are refused */
  const char *ties = fit_hyper(j, "ties");
  pref_data strict;
  const pref_data *data = &c->data;
  if (pref_data_n_ties(&c->data) > 0) {
    ps_msg tm = {{0}};
    if (!ties || !strcmp(ties, "refuse")) {
      fprintf(stderr,
              "prefsim fit: %s: the data have %zu tied rows, which bt does not model: add --ties drop (fit the "
              "strict rows only) or --ties half (count a tie as half a win each way, BradleyTerry2's win.adj), "
              "or fit a tie model (--model davidson|raokupper)\n",
              j->file, pref_data_n_ties(&c->data));
      return FITCLI_EXIT_DATA;
    }
    if (pref_data_resolve_ties(&c->data, !strcmp(ties, "drop") ? PREF_TIES_DROP : PREF_TIES_HALF, &strict, &tm) !=
        PS_OK) {
      fprintf(stderr, "prefsim fit: %s: --ties %s: %s\n", j->file, ties, tm.text);
      return tm.text[0] && strstr(tm.text, "memory") ? FITCLI_EXIT_INTERNAL : FITCLI_EXIT_DATA;
    }
    data = &strict;
  }
  int rc = bt_run_data(j, data);
  if (data != &c->data) pref_data_free(&strict);
  return rc;
}

static int bt_run_data(const fit_job *j, const pref_data *data) {
  const csv_comparisons *c = j->c;
  const char *file = j->file, *reference = fit_option_value(j->args, "--reference");
  int want_se = fit_option_value(j->args, "--no-se") == NULL;
  size_t m = c->data.n_items;
  ps_msg msg = {{0}};
  bt_result r;
  memset(&r, 0, sizeof r);
  double *cov = NULL, *score = NULL, *se = NULL;
  int rc = FITCLI_EXIT_OK, s;
  double t_read = fit_now(), t_check, t_fit, t_cov, t_out;

  bt_options o = bt_options_default();
  o.l2 = fit_hyper_real(j, "l2", o.l2);
  const char *link = fit_hyper(j, "link");
  o.link = link && !strcmp(link, "probit") ? BT_LINK_PROBIT : BT_LINK_LOGISTIC;
  o.tol = fit_hyper_real(j, "tol", o.tol);
  o.max_iter = (int)fit_hyper_real(j, "max_iter", o.max_iter);
  const char *firth = fit_hyper(j, "firth");
  o.firth = firth && ps_param_bool(firth);
  o.want_hessian = want_se;

  long ref;
  int rrc = fit_reference_index(j, &ref);
  if (rrc != FITCLI_EXIT_OK) return rrc;
  if (want_se && m > MAX_SE_ITEMS) {
    fprintf(stderr,
            "prefsim fit: %s: standard errors for %zu items need two %zux%zu matrices (%.0f GB); "
            "rerun with --no-se\n",
            file, m, m, m, 2.0 * 8 * (double)m * (double)m / 1e9);
    return FITCLI_EXIT_INTERNAL;
  }
  if (o.firth) {
    /* the Firth estimate exists on every connected graph, separable ones included */
    s = bt_check_connected(data, (const char *const *)c->item_name, &msg);
    if (s != PS_OK) {
      if (s == PS_ENOMLE)
        fprintf(stderr,
                "prefsim fit: %s: no Firth estimate: %s.\n"
                "  Firth needs a connected comparison graph whatever --l2; drop --firth and use --l2 0.1 "
                "for finite (shrunken) scores.\n",
                file, msg.text);
      else
        fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
      return s == PS_ENOMLE ? FITCLI_EXIT_NOMLE : FITCLI_EXIT_INTERNAL;
    }
  } else if (o.l2 == 0) {
    s = bt_check_items(data, (const char *const *)c->item_name, &msg);
    if (s != PS_OK) {
      if (s == PS_ENOMLE)
        fprintf(stderr,
                "prefsim fit: %s: no maximum-likelihood estimate: %s.\n"
                "  Add a penalty, e.g. --l2 0.1, to get finite (shrunken) scores.\n",
                file, msg.text);
      else
        fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
      return s == PS_ENOMLE ? FITCLI_EXIT_NOMLE : FITCLI_EXIT_INTERNAL;
    }
  }
  t_check = fit_now();

  pref_features items = {.n_items = m, .d = m, .phi = NULL, .n_contexts = 1, .item_context = NULL};
  s = bt_fit(data, &items, &o, &r, &msg);
  t_fit = fit_now();
  if (s == PS_ENOMLE) {
    fprintf(stderr, "prefsim fit: %s: %s.\n  Add a penalty, e.g. --l2 0.1.\n", file, msg.text);
    rc = FITCLI_EXIT_NOMLE;
    goto done;
  }
  if (s == PS_ENOMEM) {
    fprintf(stderr, "prefsim fit: %s%s\n", msg.text, want_se ? " (--no-se avoids the items x items Hessian)" : "");
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  if (s != PS_OK && s != PS_ENOCONV && s != PS_EDOM) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    rc = FITCLI_EXIT_NUMERIC;
  }

  score = malloc(m * sizeof *score);
  se = malloc(m * sizeof *se);
  if (!score || !se) {
    fprintf(stderr, "prefsim fit: out of memory for %zu scores\n", m);
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  if (want_se && r.hessian) {
    cov = malloc(m * m * sizeof *cov);
    if (!cov) {
      fprintf(stderr, "prefsim fit: out of memory for the %zux%zu covariance (try --no-se)\n", m, m);
      rc = FITCLI_EXIT_INTERNAL;
      goto done;
    }
    s = bt_covariance(&r, &items, cov, &msg);
    if (s != PS_OK) {
      if (o.firth && s == PS_ESINGULAR)
        snprintf(msg.text, sizeof msg.text,
                 "the Hessian of the penalised objective is not positive definite at the Firth estimate: this "
                 "root of the modified score (the one R's brglm finds too) is a saddle of log L + 1/2 log det I, "
                 "which has more than one maximum on these data (docs/theory.md §3.1); the scores stand, the SEs "
                 "are NA");
      fprintf(stderr, "prefsim fit: %s: standard errors: %s\n", file, msg.text);
      free(cov);
      cov = NULL;
      rc = FITCLI_EXIT_NUMERIC;
    }
  }
  t_cov = fit_now();
  fit_transform_scale(r.theta, cov, m, ref, score, se);
  const char *status = ps_status_name(r.status);
  fit_verdict v = {0};
  if (r.status == PS_OK) {
    double gn = NAN, W = pref_data_weight(data), tol = 1e3 * o.tol * (W > 1 ? W : 1);
    double *g = malloc(m * sizeof *g);
    if (g) {
      bt_objective(data, &items, &o, r.theta, g, NULL, NULL);
      gn = 0;
      for (size_t i = 0; i < m; i++) gn += g[i] * g[i];
      gn = sqrt(gn);
      free(g);
    }
    double stats[2] = {r.objective, r.loglik};
    fit_verdict_finite(&v, "theta", r.theta, m);
    fit_verdict_finite(&v, "the objective", &stats[0], 1);
    fit_verdict_finite(&v, "the log-likelihood", &stats[1], 1);
    fit_verdict_finite(&v, "the gradient norm", &gn, 1);
    if (cov) fit_verdict_finite(&v, "se", se, m);
    if (!(gn <= tol))
      fit_verdict_fail(&v, PS_ENOCONV,
                       "the gradient norm at the returned scores is %.3g, above bt's tolerance 1e3 x tol %g x "
                       "max(weight, 1) = %.3g",
                       gn, o.tol, tol);
    status = fit_verdict_name(&v);
    if (v.status == PS_OK && want_se && !cov) status = ps_status_name(s); /* the covariance's failure */
  }
  fit_report rep;
  fit_report_init(&rep, j);
  report_table(&rep, j, &o, &r, status, reference, score, se);
  if (v.status != PS_OK) rc = fit_verdict_report(j, &v);
  rc = fit_emit(j, &rep, rc);
  fit_report_free(&rep);
  t_out = fit_now();
  if (j->args->verbose)
    fprintf(stderr,
            "prefsim fit: %zu rows, %zu items: read+parse %.3f s, existence check %.3f s, fit "
            "%.3f s (%d Newton, %d CG iterations%s), covariance %.3f s, output %.3f s, total %.3f s\n",
            c->data.n, m, t_read - j->t0, t_check - t_read, t_fit - t_check, r.iterations, r.cg_iterations,
            want_se ? ", incl. the Hessian" : "", t_cov - t_fit, t_out - t_cov, t_out - j->t0);
done:
  free(cov);
  free(score);
  free(se);
  bt_result_free(&r);
  return rc;
}

static const fit_option bt_cli_options[] = {
    {"--reference", "ITEM",
     "report theta_i - theta_ITEM, so ITEM scores 0 with SE 0, and the SEs of those differences "
     "(BradleyTerry2's convention); default: scores centred to sum 0 with the SEs of the centred scores"},
    {"--no-se", NULL, "skip standard errors (they need two items x items matrices; required above 20000 items)"},
    {"--breaking", "full|adjacent",
     "ranking data (a `ranking` column): fit BT to the pairs of every ranked item over each item below it "
     "(full) or over the next one (adjacent); required on ranking data"},
    {"--firth", NULL,
     "Firth's bias-reduced fit (= --param firth=true): maximise log L + (1/2) log det I, finite on "
     "separable data (an item that never loses, a win graph not strongly connected) as long as the "
     "comparison graph is connected; SEs from the Hessian of that penalised objective"},
    {NULL, NULL, NULL}};

/* --firth is --param firth=true; an explicit --param firth=false with it is refused. */
static int bt_prepare(fit_args *a, ps_msg *m) {
  if (!fit_option_value(a, "--firth")) return PS_OK;
  const ps_param *p = ps_param_find(est_lookup("bt")->params, "firth");
  for (size_t i = 0; i < a->n_set; i++)
    if (!strcmp(a->set[i].key, "firth") && ps_param_check(p, a->set[i].value, NULL) == PS_OK &&
        !ps_param_bool(a->set[i].value))
      return ps_fail(m, PS_EINVAL, "--firth contradicts %s firth=%s", a->set[i].origin, a->set[i].value);
  if (a->n_set == FIT_MAX_SETTINGS) return ps_fail(m, PS_EINVAL, "too many hyperparameter settings");
  fit_setting *s = &a->set[a->n_set++];
  strcpy(s->key, "firth");
  s->value = "true";
  s->origin = "--firth";
  return PS_OK;
}

const fit_hook fit_hook_bt = {
    .model = "bt",
    .options = bt_cli_options,
    .summary = "item, score, se: scores with standard errors; the MLE's existence is checked first",
    .output = "  item<TAB>score<TAB>se    header, then one row per item in order of first appearance\n"
              "                           in DATA (tabs in names are written as spaces; se is NA when\n"
              "                           not computed); numbers with 12 significant digits\n"
              "  # key<TAB>value          then: loglik, objective, status (ok, not-converged, ...),\n"
              "                           iterations, grad_norm, model, l2, firth (yes, with --firth\n"
              "                           only), link / tol / max_iter when not the default, scale\n"
              "                           (centred or reference ITEM), items, rows, weight (sum of\n"
              "                           counts)\n"
              "  se = sqrt of the diagonal of the inverse Hessian of the objective on the sum-zero\n"
              "  space, transformed to the reported scale.  Without --l2 the MLE's existence is\n"
              "  checked first (exit 4, naming the items, when the win graph is not strongly\n"
              "  connected); a fit that stops without converging, or whose recomputed gradient fails\n"
              "  bt's test (||grad|| <= 1e3 x tol x max(weight, 1)), or has a non-finite value, prints\n"
              "  its table with status not-converged / non-finite and exits 6; so do SEs that cannot be\n"
              "  computed (NA, with the covariance's status, e.g. singular).\n"
              "  --firth (docs/theory.md §3.1): the objective is -loglik - (1/2) log det I(theta) (+\n"
              "  (l2/2)||theta||^2), I the Fisher information, its pseudo-determinant over the\n"
              "  sum-zero space; grad_norm is the modified score's norm and iterations count\n"
              "  pseudo-data fixed-point and Newton steps. It needs only a connected comparison graph\n"
              "  (exit 4 otherwise, whatever --l2), and the logistic link. se comes from the exact\n"
              "  Hessian of that penalised objective, I + l2 - the Hessian of (1/2) log det I, not\n"
              "  from I alone (R's brglm / BTm(br = TRUE) report I^-1 at the estimate: the two differ\n"
              "  by a relative O(1/n)); it costs O(P^2) for P distinct pairs, and each fixed-point\n"
              "  step an items x items inverse. With --l2 too, the Gaussian prior is added to\n"
              "  Jeffreys' (the penalty uses the likelihood's own I). The scores are the root of\n"
              "  Firth's modified score that brglm finds too; on rare sparse data it is a saddle of\n"
              "  the penalised likelihood (two maxima either side): its Hessian is then indefinite,\n"
              "  so the SEs are NA with status singular and exit 6, the scores stand.\n",
    .prepare = bt_prepare,
    .run = bt_run,
};
