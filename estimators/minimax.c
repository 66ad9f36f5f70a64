/* minimax.c — minimax winner by LP (GLPK), Hedge self-play, exploitability,
 * Condorcet winner and the empirical margin matrix (docs/theory.md §3.13, §4, O7, O12).
 *
 * The symmetric zero-sum game with payoff matrix M = P - 1/2 (skew-symmetric) has
 * value 0; its optimal strategies, the minimax winners, are the lotteries p with
 * p^T M >= 0 componentwise, equivalently M p <= 0.  The LP maximises the worst-case
 * margin v of p against every pure opponent j; at the optimum v = 0 up to rounding.
 *
 * Invariant kept by every function here: M is only read, and never assumed more than
 * skew-symmetric to MINIMAX_SKEW_TOL; p outputs are on the simplex (clipped at 0 and
 * renormalised, since the simplex may return -1e-17 for a basic variable at 0).
 *
 * GLPK: terminal output is switched off for the duration of each call and restored;
 * the problem object is created and deleted per call, so calls from different threads
 * share nothing but GLPK's per-thread environment.  GLPK aborts the process on an
 * internal failure (e.g. out of memory) instead of returning; inputs are validated
 * before GLPK sees them so that invalid arguments never reach it. */
#include "minimax.h"

#include <glpk.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int minimax_check(const double *M, size_t m, ps_msg *msg) {
  if (m == 0) return ps_fail(msg, PS_EINVAL, "the margin matrix has no items");
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < m; j++) {
      double a = M[i * m + j];
      if (!isfinite(a)) return ps_fail(msg, PS_EDOM, "margin M[%zu][%zu] is not finite", i, j);
      if (fabs(a) > 0.5 + MINIMAX_SKEW_TOL)
        return ps_fail(msg, PS_EINVAL, "margin M[%zu][%zu] = %g is outside [-1/2, 1/2]", i, j, a);
      if (fabs(a + M[j * m + i]) > MINIMAX_SKEW_TOL)
        return ps_fail(msg, PS_EINVAL,
                       "margins are not skew-symmetric: M[%zu][%zu] + M[%zu][%zu] = %g (P_ij + P_ji must be 1)",
                       i, j, j, i, a + M[j * m + i]);
    }
  return PS_OK;
}

/* Clip a simplex vector at 0 and renormalise (rounding residue of the solvers). */
static void simplex_clean(double *p, size_t m) {
  double s = 0;
  for (size_t i = 0; i < m; i++) {
    if (!(p[i] > 0)) p[i] = 0;
    s += p[i];
  }
  for (size_t i = 0; i < m; i++) p[i] /= s;
}

static const char *glpk_status_name(int st) {
  switch (st) {
  case GLP_OPT: return "optimal";
  case GLP_FEAS: return "feasible, not proven optimal";
  case GLP_INFEAS: return "infeasible";
  case GLP_NOFEAS: return "no feasible solution";
  case GLP_UNBND: return "unbounded";
  default: return "undefined";
  }
}

int minimax_lp(const double *M, size_t m, double *p, double *value, ps_msg *msg) {
  int s = minimax_check(M, m, msg);
  if (s) return s;
  /* rows 1..m: sum_i M_ij p_i - v >= 0; row m+1: sum_i p_i = 1.  At most m*(m-1)
   * nonzero margins, m entries -1 and m ones; GLPK indexes with int from 1. */
  if (m > 40000) return ps_fail(msg, PS_EINVAL, "%zu items exceed the LP size limit (40000)", m);
  size_t cap = m * m + 2 * m + 1;
  int *ia = malloc(cap * sizeof *ia), *ja = malloc(cap * sizeof *ja);
  double *ar = malloc(cap * sizeof *ar);
  glp_prob *lp = NULL;
  int old_term = glp_term_out(GLP_OFF);
  if (!ia || !ja || !ar) {
    s = ps_fail(msg, PS_ENOMEM, "out of memory for the %zu x %zu LP", m, m);
    goto done;
  }
  int im = (int)m, ne = 0;
  lp = glp_create_prob();
  glp_set_obj_dir(lp, GLP_MAX);
  glp_add_rows(lp, im + 1);
  glp_add_cols(lp, im + 1);
  for (int j = 1; j <= im; j++) {
    glp_set_row_bnds(lp, j, GLP_LO, 0.0, 0.0);
    glp_set_col_bnds(lp, j, GLP_LO, 0.0, 0.0);
    glp_set_obj_coef(lp, j, 0.0);
  }
  glp_set_row_bnds(lp, im + 1, GLP_FX, 1.0, 1.0);
  glp_set_col_bnds(lp, im + 1, GLP_FR, 0.0, 0.0); /* the value v is free */
  glp_set_obj_coef(lp, im + 1, 1.0);
  for (size_t j = 0; j < m; j++) {
    for (size_t i = 0; i < m; i++) {
      double a = M[i * m + j];
      if (a == 0) continue; /* GLPK stores no explicit zeros */
      ne++;
      ia[ne] = (int)j + 1;
      ja[ne] = (int)i + 1;
      ar[ne] = a;
    }
    ne++;
    ia[ne] = (int)j + 1;
    ja[ne] = im + 1;
    ar[ne] = -1.0;
  }
  for (int i = 1; i <= im; i++) {
    ne++;
    ia[ne] = im + 1;
    ja[ne] = i;
    ar[ne] = 1.0;
  }
  glp_load_matrix(lp, ne, ia, ja, ar);

  glp_smcp parm;
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  int ret = glp_simplex(lp, &parm);
  int st = glp_get_status(lp);
  if (ret != 0 || st != GLP_OPT) {
    s = ps_fail(msg, PS_ENOCONV, "GLPK simplex failed: return code %d, solution status %s", ret,
                glpk_status_name(st));
    goto done;
  }
  double *q = ar; /* the matrix is loaded: reuse its storage for the solution */
  for (size_t i = 0; i < m; i++) q[i] = glp_get_col_prim(lp, (int)i + 1);
  simplex_clean(q, m);
  double e = minimax_exploitability(M, m, q);
  if (!(e <= MINIMAX_CERT_TOL)) {
    s = ps_fail(msg, PS_ENOCONV, "GLPK simplex solution has exploitability %g > %g", e, MINIMAX_CERT_TOL);
    goto done;
  }
  memcpy(p, q, m * sizeof *p);
  if (value) *value = glp_get_obj_val(lp);
done:
  if (lp) glp_delete_prob(lp);
  glp_term_out(old_term);
  free(ia);
  free(ja);
  free(ar);
  return s;
}

int minimax_hedge(const double *M, size_t m, long T, double eta, double *p_avg, double *p_last,
                  ps_msg *msg) {
  int s = minimax_check(M, m, msg);
  if (s) return s;
  if (T < 1) return ps_fail(msg, PS_EINVAL, "Hedge needs T >= 1 rounds, not %ld", T);
  if (!(eta > 0)) eta = sqrt(8.0 * log((double)m) / (double)T);
  /* work: cumulative gains G = sum_{s<t} M p_s, the iterate p_t, the running sum */
  double *G = calloc(3 * m, sizeof *G);
  if (!G) return ps_fail(msg, PS_ENOMEM, "out of memory");
  double *pt = G + m, *sum = G + 2 * m;
  for (long t = 1; t <= T; t++) {
    /* p_t = softmax(eta G): subtract the max so exp never overflows */
    double mx = G[0];
    for (size_t y = 1; y < m; y++) mx = fmax(mx, G[y]);
    double z = 0;
    for (size_t y = 0; y < m; y++) z += pt[y] = exp(eta * (G[y] - mx));
    for (size_t y = 0; y < m; y++) {
      pt[y] /= z;
      sum[y] += pt[y];
    }
    for (size_t y = 0; y < m; y++) {
      double g = 0;
      for (size_t j = 0; j < m; j++) g += M[y * m + j] * pt[j];
      G[y] += g;
    }
  }
  if (p_avg) {
    for (size_t y = 0; y < m; y++) p_avg[y] = sum[y] / (double)T;
    simplex_clean(p_avg, m);
  }
  if (p_last) memcpy(p_last, pt, m * sizeof *pt);
  free(G);
  return PS_OK;
}

double minimax_exploitability(const double *M, size_t m, const double *p) {
  double best = -INFINITY;
  for (size_t y = 0; y < m; y++) {
    double g = 0;
    for (size_t j = 0; j < m; j++) g += M[y * m + j] * p[j];
    best = fmax(best, g);
  }
  return best;
}

long minimax_condorcet_winner(const double *M, size_t m) {
  for (size_t c = 0; c < m; c++) {
    size_t j = 0;
    while (j < m && (j == c || M[c * m + j] > 0)) j++;
    if (j == m) return (long)c;
  }
  return -1;
}

int minimax_empirical(const pref_data *d, double *M, unsigned char *compared, size_t *n_missing,
                      ps_msg *msg) {
  int s = pref_data_check(d, msg);
  if (s) return s;
  size_t m = d->n_items;
  if (m == 0) return ps_fail(msg, PS_EINVAL, "the data have no items");
  if (m > (size_t)sqrt((double)(SIZE_MAX / sizeof(double))))
    return ps_fail(msg, PS_ENOMEM, "%zu items: the %zu x %zu preference matrix does not fit in memory", m, m, m);
  /* M first holds the win totals n_ij, then the margins */
  memset(M, 0, m * m * sizeof *M);
  for (size_t k = 0; k < d->n; k++)
    M[(size_t)d->winner[k] * m + (size_t)d->loser[k]] += d->count ? d->count[k] : 1.0;
  size_t missing = 0;
  for (size_t i = 0; i < m; i++) {
    if (compared) compared[i * m + i] = 0;
    for (size_t j = i + 1; j < m; j++) {
      double nij = M[i * m + j], N = nij + M[j * m + i];
      int seen = N > 0;
      double margin = seen ? nij / N - 0.5 : 0.0;
      M[i * m + j] = margin;
      M[j * m + i] = -margin; /* exactly skew-symmetric */
      if (compared) compared[i * m + j] = compared[j * m + i] = (unsigned char)seen;
      missing += !seen;
    }
  }
  if (n_missing) *n_missing = missing;
  return PS_OK;
}

double minimax_margin_logit(const double *M, size_t m, size_t a, size_t b) {
  double q = M[a * m + b] + 0.5;
  double lim = -log(1e-12 / (1 - 1e-12));
  if (q <= 1e-12) return -lim;
  if (q >= 1 - 1e-12) return lim;
  return log(q / (1 - q));
}
