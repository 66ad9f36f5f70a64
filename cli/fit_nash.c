/* fit_nash.c — `prefsim fit --model nash`: the regularised Nash equilibrium of the
 * empirical preference matrix (docs/theory.md §3.13a, estimators/nash.h), with what only
 * it reports: tau, the regularised and the plain exploitability, the Condorcet winner and
 * the pairs never compared; `--mu FILE` sets the reference policy.
 *
 * The margin matrix is minimax's: M_ij = n_ij / N_ij - 1/2, 0 for a pair never compared
 * (P = 1/2: no information, favouring neither side).  The equilibrium comes from
 * nash.h with the model's hyperparameters: method = exact (certified Newton: its
 * regularised exploitability is at most NASH_CERT_TOL, else the call fails), or
 * nash-md / nash-md-avg (T steps of size eta: no certificate, the regularised
 * exploitability is reported and the status is ok when it is finite).  As tau -> 0 the
 * lottery tends to a minimax winner (`--model minimax`); its exploitability is at most
 * tau log(1 / min mu) (§3.13a), printed as the bound beside it.
 *
 * --mu FILE: a CSV with a header `item,probability` and one row per item of DATA, each
 * probability > 0 (the equilibrium has the reference's support), summing to 1 within
 * 1e-9; an item missing or unknown, a repeated item, a probability that is not a
 * positive number, or a wrong total is an error naming the file and the line. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../estimators/minimax.h"
#include "../estimators/nash.h"
#include "fitcli_impl.h"

/* Read --mu FILE into mu (m entries, in DATA's item order).  FITCLI_EXIT_OK or an exit
 * status after a message on stderr. */
static int read_mu(const char *path, const csv_comparisons *c, double *mu) {
  size_t m = c->data.n_items;
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "prefsim fit: --mu %s: %s\n", path, strerror(errno));
    return FITCLI_EXIT_DATA;
  }
  for (size_t i = 0; i < m; i++) mu[i] = -1;
  char line[4096];
  size_t ln = 0;
  int rc = FITCLI_EXIT_OK, header = 0;
  while (fgets(line, sizeof line, f)) {
    ln++;
    size_t len = strlen(line);
    if (len && line[len - 1] != '\n' && !feof(f)) {
      fprintf(stderr, "prefsim fit: --mu %s:%zu: line longer than %zu bytes\n", path, ln, sizeof line - 1);
      rc = FITCLI_EXIT_DATA;
      break;
    }
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (!len) continue;
    if (!header) {
      if (strcmp(line, "item,probability")) {
        fprintf(stderr, "prefsim fit: --mu %s:%zu: the header must be 'item,probability', not '%.60s'\n", path, ln,
                line);
        rc = FITCLI_EXIT_DATA;
        break;
      }
      header = 1;
      continue;
    }
    char *comma = strrchr(line, ',');
    if (!comma) {
      fprintf(stderr, "prefsim fit: --mu %s:%zu: expected ITEM,PROBABILITY\n", path, ln);
      rc = FITCLI_EXIT_DATA;
      break;
    }
    *comma = 0;
    char *end;
    errno = 0;
    double p = strtod(comma + 1, &end);
    if (errno || end == comma + 1 || *end || !isfinite(p) || !(p > 0)) {
      fprintf(stderr,
              "prefsim fit: --mu %s:%zu: probability '%s' of item '%s' is not a positive number (the "
              "reference must cover every item)\n",
              path, ln, comma + 1, line);
      rc = FITCLI_EXIT_DATA;
      break;
    }
    size_t i = 0;
    while (i < m && strcmp(c->item_name[i], line)) i++;
    if (i == m) {
      fprintf(stderr, "prefsim fit: --mu %s:%zu: item '%s' is not among the %zu items of the data\n", path, ln, line,
              m);
      rc = FITCLI_EXIT_DATA;
      break;
    }
    if (mu[i] >= 0) {
      fprintf(stderr, "prefsim fit: --mu %s:%zu: item '%s' appears twice\n", path, ln, line);
      rc = FITCLI_EXIT_DATA;
      break;
    }
    mu[i] = p;
  }
  fclose(f);
  if (rc != FITCLI_EXIT_OK) return rc;
  if (!header) {
    fprintf(stderr, "prefsim fit: --mu %s: empty file (expected a header 'item,probability')\n", path);
    return FITCLI_EXIT_DATA;
  }
  double s = 0;
  for (size_t i = 0; i < m; i++) {
    if (mu[i] < 0) {
      fprintf(stderr, "prefsim fit: --mu %s: item '%s' of the data has no probability (the reference must cover "
                      "every item)\n",
              path, c->item_name[i]);
      return FITCLI_EXIT_DATA;
    }
    s += mu[i];
  }
  if (fabs(s - 1) > 1e-9) {
    fprintf(stderr, "prefsim fit: --mu %s: the probabilities sum to %.12g, not 1\n", path, s);
    return FITCLI_EXIT_DATA;
  }
  return FITCLI_EXIT_OK;
}

static int nash_run(const fit_job *j) {
  const csv_comparisons *c = j->c;
  const char *file = j->file, *method = fit_hyper(j, "method"), *mu_file = fit_option_value(j->args, "--mu");
  size_t m = c->data.n_items;
  ps_msg msg = {{0}};
  double *M = malloc(m * m * sizeof *M), *p = malloc(m * sizeof *p), *mu = malloc(m * sizeof *mu);
  unsigned char *seen = malloc(m * m);
  int rc = FITCLI_EXIT_OK;
  if (!M || !p || !mu || !seen) {
    fprintf(stderr, "prefsim fit: out of memory for the %zux%zu preference matrix\n", m, m);
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  if (mu_file && strcmp(mu_file, "uniform")) {
    if ((rc = read_mu(mu_file, c, mu)) != FITCLI_EXIT_OK) goto done;
  } else {
    for (size_t i = 0; i < m; i++) mu[i] = 1.0 / (double)m;
  }
  double tau = fit_hyper_real(j, "tau", 0.1), eta = fit_hyper_real(j, "eta", 0);
  long T = (long)fit_hyper_real(j, "T", 1000);
  if (!(eta > 0)) eta = 1.0 / (2.0 * tau + 1.0);
  int exact = !method || !strcmp(method, "exact");
  size_t missing = 0;
  int iters = 0;
  int s = minimax_empirical(&c->data, M, seen, &missing, &msg);
  if (s == PS_OK) {
    if (exact)
      s = nash_solve(M, m, mu, tau, p, &iters, &msg);
    else
      s = nash_md(M, m, mu, tau, eta, T, strcmp(method, "nash-md") ? NULL : p, strcmp(method, "nash-md") ? p : NULL,
                  NULL, NULL, &msg);
  }
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    rc = s == PS_ENOMEM ? FITCLI_EXIT_INTERNAL : s == PS_ENOCONV ? FITCLI_EXIT_NUMERIC : FITCLI_EXIT_DATA;
    goto done;
  }
  double reg = nash_reg_exploitability(M, m, mu, tau, p), expl = minimax_exploitability(M, m, p);
  double mu_min = mu[0];
  for (size_t i = 1; i < m; i++) mu_min = fmin(mu_min, mu[i]);
  fit_verdict v = {0};
  fit_verdict_simplex(&v, "the lottery", p, m);
  fit_verdict_finite(&v, "the regularised exploitability", &reg, 1);
  fit_verdict_finite(&v, "the exploitability", &expl, 1);
  if (exact && !(reg <= NASH_CERT_TOL))
    fit_verdict_fail(&v, PS_ENOCONV, "the regularised exploitability %.3g exceeds the certificate's %g", reg,
                     NASH_CERT_TOL);
  fit_report rep;
  fit_report_init(&rep, j);
  fit_table *it = fit_report_table(&rep, "items", "item", m, (const char *const *)c->item_name, 1, FIT_BOTH);
  if (it) {
    fit_table_column(&rep, it, 0, "probability", 0);
    for (size_t i = 0; i < m; i++) it->v[i] = p[i];
  }
  rep.status = fit_verdict_name(&v);
  fit_report_num(&rep, FIT_SEC_FIT, FIT_BOTH, "tau", tau);
  fit_report_num_fmt(&rep, FIT_SEC_FIT, FIT_BOTH, "reg_exploitability", reg, "%.3g");
  fit_report_num_fmt(&rep, FIT_SEC_FIT, FIT_BOTH, "exploitability", expl, "%.3g");
  fit_report_num_fmt(&rep, FIT_SEC_FIT, FIT_BOTH, "exploitability_bound", -tau * log(mu_min), "%.3g");
  long cw = minimax_condorcet_winner(M, m);
  if (cw >= 0) {
    fit_report_str(&rep, FIT_SEC_FIT, FIT_BOTH, "condorcet_winner", c->item_name[cw]);
  } else {
    fit_report_str(&rep, FIT_SEC_FIT, FIT_TEXT, "condorcet_winner", "NA");
    fit_report_num_why(&rep, FIT_SEC_FIT, FIT_JSON, "condorcet_winner", NAN, "%.12g",
                       "none: no item beats every other with P > 1/2");
  }
  fit_report_int(&rep, FIT_SEC_FIT, FIT_BOTH, "never_compared", (long long)missing);
  fit_report_str(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "status", rep.status);
  fit_report_int(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "iterations", exact ? iters : T);
  fit_report_str(&rep, FIT_SEC_OPTIONS, FIT_TEXT, "model", "nash");
  static const char *const shown[] = {"tau", NULL};
  fit_report_hyper(&rep, j, shown, 1); /* text: method, eta, T when not the default */
  fit_report_str(&rep, FIT_SEC_OPTIONS, FIT_BOTH, "mu", mu_file ? mu_file : "uniform");
  fit_report_data(&rep, j, FIT_JSON);
  rc = fit_emit(j, &rep, fit_verdict_report(j, &v));
  fit_report_free(&rep);
done:
  free(M);
  free(p);
  free(mu);
  free(seen);
  return rc;
}

static const fit_option nash_cli_options[] = {
    {"--mu", "uniform|FILE",
     "the reference policy: uniform (the default), or a CSV 'item,probability' covering every item with "
     "probabilities > 0 summing to 1"},
    {NULL, NULL, NULL}};

const fit_hook fit_hook_nash = {
    .model = "nash",
    .options = nash_cli_options,
    .summary = "item, probability: the regularised Nash equilibrium (tau, --mu), its exploitabilities",
    .output = "  item<TAB>probability     header, then one row per item: the regularised Nash\n"
              "                           equilibrium pi of the empirical margins M = P - 1/2 (a pair\n"
              "                           never compared: P = 1/2), pi proportional to mu exp(M pi / tau)\n"
              "                           (Munos et al. 2024; docs/theory.md §3.13a): exact (certified\n"
              "                           Newton) or Nash-MD's last iterate / average (method)\n"
              "  # key<TAB>value          tau, reg_exploitability (0 at the equilibrium; <= 1e-10 for\n"
              "                           exact), exploitability (max_y P(y > pi) - 1/2), and its bound\n"
              "                           tau log(1 / min mu); condorcet_winner (or NA), never_compared,\n"
              "                           status (ok: a finite lottery, certified when exact), iterations,\n"
              "                           model, method / eta / T when set, mu, items, rows, weight\n"
              "  --tau T is --param tau=T; as tau -> 0 the lottery tends to --model minimax's winner.\n",
    .run = nash_run,
    .max_items = FIT_MAX_ITEMS_MATRIX,
    .items_why = "the equilibrium needs the dense m x m preference matrix and Newton's (m+1) x (m+1) system",
};
