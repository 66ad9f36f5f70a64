/* fit_slhf.c — `prefsim fit --model slhf`: Stackelberg learning from human feedback on the
 * empirical preference matrix (docs/theory.md §3.13a, estimators/nash.h nash_slhf), with
 * both players: the leader's lottery with each response's value V(y) and worst case
 * min_y' P(y > y'), and the follower's answer omega*(y' | y) as a matrix; then the leader's
 * gap to the best worst case and its bound (tau_L + tau_F) log m.
 *
 * The margin matrix is minimax's: M_ij = n_ij / N_ij - 1/2, 0 for a pair never compared.
 * References are uniform (the estimator's).  The follower matrix is printed up to
 * SLHF_FOLLOWER_MAX items (m^2 numbers); beyond, only its argmax per row is summarised
 * by follower_top_share. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../estimators/minimax.h"
#include "../estimators/nash.h"
#include "fitcli_impl.h"

#define SLHF_FOLLOWER_MAX 50

static int slhf_run(const fit_job *j) {
  const csv_comparisons *c = j->c;
  size_t m = c->data.n_items;
  ps_msg msg = {{0}};
  double *M = malloc(m * m * sizeof *M), *F = malloc(m * m * sizeof *F), *w = malloc(4 * m * sizeof *w);
  unsigned char *seen = malloc(m * m);
  int rc = FITCLI_EXIT_OK;
  if (!M || !F || !w || !seen) {
    fprintf(stderr, "prefsim fit: out of memory for the %zux%zu preference matrix\n", m, m);
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  double *u = w, *lead = w + m, *V = w + 2 * m, *worst = w + 3 * m;
  for (size_t i = 0; i < m; i++) u[i] = 1.0 / (double)m;
  double tl = fit_hyper_real(j, "tau_leader", 0.1), tf = fit_hyper_real(j, "tau_follower", 0.1);
  size_t missing = 0;
  int s = minimax_empirical(&c->data, M, seen, &missing, &msg);
  if (s == PS_OK) s = nash_slhf(M, m, u, u, tl, tf, lead, V, F, &msg);
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", j->file, msg.text);
    rc = s == PS_ENOMEM ? FITCLI_EXIT_INTERNAL : FITCLI_EXIT_DATA;
    goto done;
  }
  /* each response's worst case over every answer (itself included: P(y > y) = 1/2) */
  double best = -INFINITY, mean = 0, top_share = 0;
  size_t best_y = 0;
  for (size_t y = 0; y < m; y++) {
    worst[y] = 0.5;
    for (size_t k = 0; k < m; k++) worst[y] = fmin(worst[y], 0.5 + M[y * m + k]);
    if (worst[y] > best) best = worst[y], best_y = y;
    mean += lead[y] * worst[y];
    double top = 0;
    for (size_t k = 0; k < m; k++) top = fmax(top, F[y * m + k]);
    top_share += lead[y] * top;
  }
  double gap = best - mean, bound = (tl + tf) * log((double)m);
  fit_verdict v = {0};
  fit_verdict_simplex(&v, "the leader's lottery", lead, m);
  fit_verdict_finite(&v, "the values", V, m);
  fit_report rep;
  fit_report_init(&rep, j);
  fit_table *it = fit_report_table(&rep, "items", "item", m, (const char *const *)c->item_name, 3, FIT_BOTH);
  if (it) {
    fit_table_column(&rep, it, 0, "probability", 0);
    fit_table_column(&rep, it, 1, "value", 0);
    fit_table_column(&rep, it, 2, "worst_case", 0);
    for (size_t y = 0; y < m; y++) it->v[3 * y] = lead[y], it->v[3 * y + 1] = V[y], it->v[3 * y + 2] = worst[y];
  }
  if (m <= SLHF_FOLLOWER_MAX) {
    fit_table *ft = fit_report_table(&rep, "follower", "item", m, (const char *const *)c->item_name, m, FIT_BOTH);
    if (ft) {
      ft->matrix = 1;
      for (size_t k = 0; k < m; k++) fit_table_column(&rep, ft, k, c->item_name[k], 0);
      for (size_t i = 0; i < m * m; i++) ft->v[i] = F[i];
    }
  }
  rep.status = fit_verdict_name(&v);
  fit_report_num(&rep, FIT_SEC_FIT, FIT_BOTH, "tau_leader", tl);
  fit_report_num(&rep, FIT_SEC_FIT, FIT_BOTH, "tau_follower", tf);
  fit_report_str(&rep, FIT_SEC_FIT, FIT_BOTH, "best_worst_case_item", c->item_name[best_y]);
  fit_report_num_fmt(&rep, FIT_SEC_FIT, FIT_BOTH, "maxmin_pure_gap", gap, "%.3g");
  fit_report_num_fmt(&rep, FIT_SEC_FIT, FIT_BOTH, "maxmin_pure_gap_bound", bound, "%.3g");
  fit_report_num_fmt(&rep, FIT_SEC_FIT, FIT_BOTH, "follower_top_share", top_share, "%.3g");
  fit_report_int(&rep, FIT_SEC_FIT, FIT_BOTH, "never_compared", (long long)missing);
  if (m > SLHF_FOLLOWER_MAX)
    fit_report_str(&rep, FIT_SEC_FIT, FIT_BOTH, "follower", "not printed: more than 50 items");
  fit_report_str(&rep, FIT_SEC_CONVERGENCE, FIT_BOTH, "status", rep.status);
  fit_report_str(&rep, FIT_SEC_OPTIONS, FIT_TEXT, "model", "slhf");
  static const char *const shown[] = {"tau_leader", "tau_follower", NULL};
  fit_report_hyper(&rep, j, shown, 1);
  fit_report_data(&rep, j, FIT_JSON);
  rc = fit_emit(j, &rep, fit_verdict_report(j, &v));
  fit_report_free(&rep);
done:
  free(M);
  free(F);
  free(w);
  free(seen);
  return rc;
}

const fit_hook fit_hook_slhf = {
    .model = "slhf",
    .summary = "item, probability, value, worst_case: SLHF's leader; the follower's answers as a matrix",
    .output = "  item<TAB>probability<TAB>value<TAB>worst_case\n"
              "                           one row per item: the leader's lottery pi ∝ exp(V / tau_leader),\n"
              "                           V(y) = -tau_follower log mean_y' exp(-P(y > y') / tau_follower),\n"
              "                           and min_y' P(y > y') on the empirical margins (a pair never\n"
              "                           compared: P = 1/2; docs/theory.md §3.13a)\n"
              "  follower table           (up to 50 items) row y: the follower's answer omega*(y' | y)\n"
              "                           ∝ exp(P(y' > y) / tau_follower)\n"
              "  # key<TAB>value          tau_leader, tau_follower, best_worst_case_item, maxmin_pure_gap\n"
              "                           (max_y worst_case - E_pi worst_case) and its bound (tau_leader +\n"
              "                           tau_follower) log m, follower_top_share, never_compared, status\n"
              "  As both temperatures -> 0 the leader plays best_worst_case_item.\n",
    .run = slhf_run,
    .max_items = FIT_MAX_ITEMS_MATRIX,
    .items_why = "the leader and the follower need the dense m x m preference matrix",
};
