/* fit_minimax.c — `prefsim fit --model minimax`: the minimax winner of the empirical
 * preference matrix (docs/theory.md §3.13, minimax.h), with what only it reports: the game
 * value, the exploitability, the Condorcet winner and the pairs never compared.
 *
 * The margin matrix is M_ij = n_ij / N_ij - 1/2, where a pair never compared gets
 * M = 0 (P = 1/2: no information, favouring neither side) and is listed.  The winner
 * comes from minimax.h with the model's hyperparameters from the registry table:
 * method = lp (GLPK's simplex; the game value is the LP's) or hedge / hedge-last
 * (T rounds of Hedge self-play; no LP value, so value is NA).
 *
 * The post-fit check (fit_check.c): p is a finite probability vector and is a minimax
 * winner to the method's tolerance: its exploitability is at most MINIMAX_CERT_TOL
 * for the LP, at most sqrt(ln m / (2T)) for Hedge (the regret bound of the averaged
 * iterate; the last iterate has no such guarantee and is held to the same bound).
 * Otherwise the table is printed with `# status not-converged` and the exit status is
 * 6.  The payoff matrix is dense (m^2), so more than FIT_MAX_ITEMS_MATRIX items need
 * --allow-large. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../estimators/minimax.h"
#include "fitcli_impl.h"

/* Never-compared pairs listed (the count is always printed). */
#define MAX_LISTED_PAIRS 100

static int minimax_run(const fit_job *j) {
  const csv_comparisons *c = j->c;
  const char *file = j->file, *method = fit_hyper(j, "method");
  size_t m = c->data.n_items;
  ps_msg msg = {{0}};
  double *M = malloc(m * m * sizeof *M), *p = malloc(m * sizeof *p);
  unsigned char *seen = malloc(m * m);
  int rc = FITCLI_EXIT_OK;
  if (!M || !p || !seen) {
    fprintf(stderr, "prefsim fit: out of memory for the %zux%zu preference matrix\n", m, m);
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  size_t missing = 0;
  double value = NAN;
  int s = minimax_empirical(&c->data, M, seen, &missing, &msg);
  if (s == PS_OK) {
    if (!method || !strcmp(method, "lp"))
      s = minimax_lp(M, m, p, &value, &msg);
    else
      s = minimax_hedge(M, m, (long)fit_hyper_real(j, "T", 1000), 0, strcmp(method, "hedge-last") ? p : NULL,
                        strcmp(method, "hedge-last") ? NULL : p, &msg);
  }
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    rc = s == PS_ENOMEM ? FITCLI_EXIT_INTERNAL : s == PS_ENOCONV ? FITCLI_EXIT_NUMERIC : FITCLI_EXIT_DATA;
    goto done;
  }
  double t_fit = fit_now();
  int lp = !method || !strcmp(method, "lp");
  long T = (long)fit_hyper_real(j, "T", 1000);
  double expl = minimax_exploitability(M, m, p);
  double tol = lp ? MINIMAX_CERT_TOL : sqrt(log((double)m) / (2.0 * (double)T)) + 1e-12;
  fit_verdict v = {0};
  fit_verdict_simplex(&v, "the lottery", p, m);
  if (lp) fit_verdict_finite(&v, "the game value", &value, 1);
  fit_verdict_finite(&v, "the exploitability", &expl, 1);
  if (!(expl <= tol))
    fit_verdict_fail(&v, PS_ENOCONV, "the exploitability %.3g of the lottery exceeds %s %.3g", expl,
                     lp ? "the LP's certificate tolerance" : "Hedge's bound sqrt(ln m / (2T)) =", tol);
  fit_report rep;
  fit_report_init(&rep, j);
  fit_table *it = fit_report_table(&rep, "items", "item", m, (const char *const *)c->item_name, 1, FIT_BOTH);
  if (it) {
    fit_table_column(&rep, it, 0, "probability", 0);
    for (size_t i = 0; i < m; i++) it->v[i] = p[i];
  }
  long cw = minimax_condorcet_winner(M, m);
  rep.status = fit_verdict_name(&v);
  fit_report_num_why(&rep, FIT_SEC_FIT, FIT_BOTH, "value", value, "%.3g",
                     "unavailable: Hedge has no LP game value");
  fit_report_num_fmt(&rep, FIT_SEC_FIT, FIT_BOTH, "exploitability", expl, "%.3g");
  fit_report_str(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "status", rep.status);
  if (cw >= 0) {
    fit_report_str(&rep, FIT_SEC_FIT, FIT_BOTH, "condorcet_winner", c->item_name[cw]);
  } else {
    fit_report_str(&rep, FIT_SEC_FIT, FIT_TEXT, "condorcet_winner", "NA");
    fit_report_num_why(&rep, FIT_SEC_FIT, FIT_JSON, "condorcet_winner", NAN, "%.12g",
                       "none: no item beats every other with P > 1/2");
  }
  fit_report_int(&rep, FIT_SEC_FIT, FIT_BOTH, "never_compared", (long long)missing);
  /* up to MAX_LISTED_PAIRS pairs: text lines "# never_compared_pair<TAB>A<TAB>B" (a tab
   * in a name is a space), a table of name pairs in JSON is not kept: the count is */
  size_t listed = 0;
  for (size_t i = 0; i < m && listed < MAX_LISTED_PAIRS; i++)
    for (size_t y = i + 1; y < m && listed < MAX_LISTED_PAIRS; y++)
      if (!seen[i * m + y]) {
        size_t la = strlen(c->item_name[i]), lb = strlen(c->item_name[y]);
        char *pair = malloc(la + lb + 2);
        if (!pair) {
          rep.oom = 1;
          break;
        }
        for (size_t k = 0; k < la; k++) pair[k] = c->item_name[i][k] == '\t' ? ' ' : c->item_name[i][k];
        pair[la] = '\t';
        for (size_t k = 0; k <= lb; k++) pair[la + 1 + k] = c->item_name[y][k] == '\t' ? ' ' : c->item_name[y][k];
        fit_report_str(&rep, FIT_SEC_FIT, FIT_TEXT, "never_compared_pair", pair);
        if (!rep.oom) rep.meta[rep.n_meta - 1].raw = 1; /* keep the tab between the two names */
        free(pair);
        listed++;
      }
  fit_report_str(&rep, FIT_SEC_OPTIONS, FIT_TEXT, "model", "minimax");
  fit_report_hyper(&rep, j, NULL, 1); /* text: method, T when not the default */
  fit_report_data(&rep, j, FIT_JSON);
  rc = fit_emit(j, &rep, fit_verdict_report(j, &v));
  fit_report_free(&rep);
  if (j->args->verbose)
    fprintf(stderr, "prefsim fit: %zu rows, %zu items: matrix and %s %.3f s, total %.3f s\n", c->data.n, m,
            isnan(value) ? "Hedge" : "LP", t_fit - j->t0, fit_now() - j->t0);
done:
  free(M);
  free(p);
  free(seen);
  return rc;
}

const fit_hook fit_hook_minimax = {
    .model = "minimax",
    .summary = "item, probability: the minimax winner, its exploitability, the Condorcet winner",
    .output = "  item<TAB>probability     header, then one row per item: a minimax (von Neumann)\n"
              "                           winner p of the empirical margin matrix M = P - 1/2, with\n"
              "                           P_ij = (wins of i over j) / (comparisons of i and j), by\n"
              "                           GLPK's simplex: p^T M >= 0; a vertex when not unique\n"
              "                           (method = hedge, hedge-last: Hedge self-play for T rounds)\n"
              "  # key<TAB>value          value (the LP's game value, 0 up to rounding; NA for Hedge),\n"
              "                           exploitability (max_y P(y > p) - 1/2, 0 up to rounding),\n"
              "                           status (ok: p is a minimax winner to 1e-9 for the LP, to\n"
              "                           Hedge's bound sqrt(ln m / (2T)) for hedge and hedge-last;\n"
              "                           else not-converged, or non-finite),\n"
              "                           condorcet_winner (the item beating every other with P > 1/2,\n"
              "                           or NA), never_compared (number of unordered pairs with no\n"
              "                           comparison: they are given P = 1/2, a tie, so they also block\n"
              "                           a Condorcet winner), then up to 100 lines\n"
              "                           \"# never_compared_pair<TAB>A<TAB>B\", then model, method and T\n"
              "                           when not the default, items, rows, weight\n"
              "  Above 2000 items (a dense m x m game): exit 3 unless --allow-large.  The LP solver not\n"
              "  reaching an optimum: exit 6, nothing printed; status not ok: the table, exit 6.\n",
    .run = minimax_run,
    .max_items = FIT_MAX_ITEMS_MATRIX,
    .items_why = "its payoff matrix is dense, m x m, and GLPK's simplex on it takes minutes beyond this",
};
