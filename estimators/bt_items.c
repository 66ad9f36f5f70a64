/* bt_items.c — MM, LSR, I-LSR and Rank Centrality on aggregated pair counts
 * (see bt_items.h).  Reference: Hunter (2004); Maystre & Grossglauser (2015,
 * choix); Negahban, Oh & Shah (2017).
 *
 * Pairs are aggregated once: comparisons are keyed by the unordered pair, sorted,
 * and merged into (i < j, n_ij, n_ji).  Stationary distributions are solved
 * exactly with a dense LU factorisation of the generator (m <= 3000 items). */
#include "bt_items.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int32_t i, j;   /* i < j */
  double nij, nji;
} pair_count;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* aggregate; *out malloc'ed */
static int aggregate(const pref_data *d, pair_count **out, size_t *np, ps_msg *m) {
  uint64_t *key = malloc((d->n ? d->n : 1) * sizeof *key);
  if (!key) return ps_fail(m, PS_ENOMEM, "out of memory");
  /* the unordered pair as one 64-bit key (min << 32 | max), sorted with its row */
  for (size_t r = 0; r < d->n; r++) {
    uint32_t a = (uint32_t)d->winner[r], b = (uint32_t)d->loser[r];
    uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
    key[r] = ((uint64_t)lo << 32) | hi;
  }
  /* sort a copy of keys with their row index: pack into an array of pairs */
  typedef struct {
    uint64_t k;
    size_t r;
  } kr;
  kr *v = malloc((d->n ? d->n : 1) * sizeof *v);
  if (!v) {
    free(key);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  for (size_t r = 0; r < d->n; r++) v[r].k = key[r], v[r].r = r;
  qsort(v, d->n, sizeof *v, cmp_u64); /* k is the first member */
  pair_count *pc = malloc((d->n ? d->n : 1) * sizeof *pc);
  if (!pc) {
    free(key);
    free(v);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  size_t k = 0;
  for (size_t t = 0; t < d->n; t++) {
    size_t r = v[t].r;
    double c = d->count ? d->count[r] : 1.0;
    int32_t lo = (int32_t)(v[t].k >> 32), hi = (int32_t)(v[t].k & 0xffffffffu);
    if (!k || pc[k - 1].i != lo || pc[k - 1].j != hi) {
      pc[k].i = lo;
      pc[k].j = hi;
      pc[k].nij = pc[k].nji = 0;
      k++;
    }
    if (d->winner[r] == lo) pc[k - 1].nij += c;
    else pc[k - 1].nji += c;
  }
  free(key);
  free(v);
  *out = pc;
  *np = k;
  return PS_OK;
}

static void normalise(double *pi, size_t m, double total) {
  double s = 0;
  for (size_t i = 0; i < m; i++) s += pi[i];
  if (s > 0)
    for (size_t i = 0; i < m; i++) pi[i] *= total / s;
}

void bt_items_theta(const double *pi, size_t m, double *theta) {
  double mean = 0;
  size_t k = 0;
  for (size_t i = 0; i < m; i++) {
    theta[i] = log(pi[i]);
    if (isfinite(theta[i])) mean += theta[i], k++;
  }
  mean = k ? mean / (double)k : 0;
  for (size_t i = 0; i < m; i++) theta[i] -= mean;
}

/* centred L1 distance between log pi vectors; +inf when a component is not finite */
static double theta_change(const double *a, const double *b, size_t m, double *ta, double *tb) {
  bt_items_theta(a, m, ta);
  bt_items_theta(b, m, tb);
  double s = 0;
  for (size_t i = 0; i < m; i++) {
    if (!isfinite(ta[i]) || !isfinite(tb[i])) return INFINITY;
    s += fabs(ta[i] - tb[i]);
  }
  return s;
}

int bt_items_mm(const pref_data *d, const bt_items_options *o, double *pi, int *iters, ps_msg *m) {
  size_t M = d->n_items, np;
  pair_count *pc;
  int s = aggregate(d, &pc, &np, m);
  if (s) return s;
  double *W = calloc(M, sizeof(double)), *D = malloc(M * sizeof(double)), *old = malloc(M * sizeof(double));
  double *t1 = malloc(M * sizeof(double)), *t2 = malloc(M * sizeof(double));
  if (!W || !D || !old || !t1 || !t2) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t e = 0; e < np; e++) W[pc[e].i] += pc[e].nij, W[pc[e].j] += pc[e].nji;
  for (size_t i = 0; i < M; i++) pi[i] = 1.0;
  s = PS_ENOCONV;
  int it;
  for (it = 0; it < o->max_iter; it++) {
    memcpy(old, pi, M * sizeof(double));
    if (!o->gauss_seidel) {
      memset(D, 0, M * sizeof(double));
      for (size_t e = 0; e < np; e++) {
        double nn = pc[e].nij + pc[e].nji, den = pi[pc[e].i] + pi[pc[e].j];
        if (den > 0) D[pc[e].i] += nn / den, D[pc[e].j] += nn / den;
      }
      for (size_t i = 0; i < M; i++) {
        double den = D[i] + o->alpha;
        pi[i] = den > 0 ? (W[i] + o->alpha) / den : pi[i];
      }
    } else {
      /* Gauss-Seidel: item i uses the updated pi of items before it */
      for (size_t i = 0; i < M; i++) {
        double Di = 0;
        for (size_t e = 0; e < np; e++) {
          if (pc[e].i != (int32_t)i && pc[e].j != (int32_t)i) continue;
          double nn = pc[e].nij + pc[e].nji, den = pi[pc[e].i] + pi[pc[e].j];
          if (den > 0) Di += nn / den;
        }
        double den = Di + o->alpha;
        if (den > 0) pi[i] = (W[i] + o->alpha) / den;
      }
    }
    normalise(pi, M, (double)M);
    if (theta_change(pi, old, M, t1, t2) <= o->tol * (double)M) {
      s = PS_OK;
      it++;
      break;
    }
  }
  *iters = it;
  normalise(pi, M, 1.0);
  if (s == PS_ENOCONV)
    ps_fail(m, PS_ENOCONV,
            "MM did not converge in %d iterations (if the win graph is not strongly connected the MLE "
            "does not exist and scores drift to 0; use alpha > 0)",
            it);
done:
  free(pc);
  free(W);
  free(D);
  free(old);
  free(t1);
  free(t2);
  return s;
}

/* stationary distribution of the CTMC with generator built from rates: solve
 * Q^T pi = 0 with the last equation replaced by sum pi = 1. */
static int stationary(size_t M, double *Q, double *pi, ps_msg *m) {
  if (M > 3000) return ps_fail(m, PS_EINVAL, "%zu items: the dense stationary solve is limited to 3000", M);
  /* A = Q^T, row M-1 = ones */
  double *A = malloc(M * M * sizeof(double));
  if (!A) return ps_fail(m, PS_ENOMEM, "out of memory");
  for (size_t i = 0; i < M; i++)
    for (size_t j = 0; j < M; j++) A[i * M + j] = Q[j * M + i];
  for (size_t j = 0; j < M; j++) A[(M - 1) * M + j] = 1.0;
  for (size_t i = 0; i < M; i++) pi[i] = i == M - 1;
  gsl_matrix_view Av = gsl_matrix_view_array(A, M, M);
  gsl_vector_view b = gsl_vector_view_array(pi, M);
  gsl_permutation *p = gsl_permutation_alloc(M);
  gsl_vector *x = gsl_vector_alloc(M);
  int sg, s = PS_OK;
  if (!p || !x) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int ls = gsl_linalg_LU_decomp(&Av.matrix, p, &sg);
  if (ls == GSL_SUCCESS) ls = gsl_linalg_LU_solve(&Av.matrix, p, &b.vector, x);
  gsl_set_error_handler(old);
  if (ls != GSL_SUCCESS) {
    s = ps_fail(m, PS_ESINGULAR, "the Markov chain has no unique stationary distribution (disconnected comparisons)");
    goto done;
  }
  for (size_t i = 0; i < M; i++) {
    double v = gsl_vector_get(x, i);
    if (!isfinite(v)) {
      s = ps_fail(m, PS_ESINGULAR, "the Markov chain has no unique stationary distribution");
      goto done;
    }
    pi[i] = v < 0 && v > -1e-12 ? 0 : v; /* rounding below an exact 0 */
  }
done:
  gsl_permutation_free(p);
  gsl_vector_free(x);
  free(A);
  return s;
}

static int build_and_solve(const pref_data *d, double alpha, const double *pi_in, int rank_centrality, double *pi_out,
                           ps_msg *m) {
  size_t M = d->n_items, np;
  if (M > 3000) return ps_fail(m, PS_EINVAL, "%zu items: the dense stationary solve is limited to 3000", M);
  pair_count *pc;
  int s = aggregate(d, &pc, &np, m);
  if (s) return s;
  double *Q = calloc(M * M, sizeof(double));
  if (!Q) {
    free(pc);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  for (size_t e = 0; e < np; e++) {
    int32_t i = pc[e].i, j = pc[e].j;
    double rij, rji; /* rate i -> j and j -> i */
    if (rank_centrality) {
      double nn = pc[e].nij + pc[e].nji;
      rij = pc[e].nji / nn; /* j beat i: i -> j */
      rji = pc[e].nij / nn;
    } else {
      double den = pi_in ? pi_in[i] + pi_in[j] : 2.0 / (double)M;
      rij = pc[e].nji / den;
      rji = pc[e].nij / den;
    }
    Q[i * M + j] += rij;
    Q[j * M + i] += rji;
  }
  if (alpha > 0)
    for (size_t i = 0; i < M; i++)
      for (size_t j = 0; j < M; j++)
        if (i != j) Q[i * M + j] += alpha;
  for (size_t i = 0; i < M; i++) {
    double out = 0;
    for (size_t j = 0; j < M; j++)
      if (j != i) out += Q[i * M + j];
    Q[i * M + i] = -out;
  }
  s = stationary(M, Q, pi_out, m);
  free(Q);
  free(pc);
  return s;
}

int bt_items_lsr_step(const pref_data *d, double alpha, const double *pi_in, double *pi_out, ps_msg *m) {
  return build_and_solve(d, alpha, pi_in, 0, pi_out, m);
}

int bt_items_rank_centrality(const pref_data *d, double *pi, ps_msg *m) {
  return build_and_solve(d, 0, NULL, 1, pi, m);
}

int bt_items_ilsr(const pref_data *d, const bt_items_options *o, double *pi, int *iters, ps_msg *m) {
  size_t M = d->n_items;
  double *cur = malloc(M * sizeof(double)), *t1 = malloc(M * sizeof(double)), *t2 = malloc(M * sizeof(double));
  if (!cur || !t1 || !t2) {
    free(cur);
    free(t1);
    free(t2);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < M; i++) cur[i] = 1.0 / (double)M;
  int s = PS_ENOCONV, it;
  for (it = 0; it < o->max_iter; it++) {
    int ls = bt_items_lsr_step(d, o->alpha, cur, pi, m);
    if (ls) {
      s = ls;
      break;
    }
    double ch = theta_change(pi, cur, M, t1, t2);
    memcpy(cur, pi, M * sizeof(double));
    if (ch <= o->tol * (double)M) {
      s = PS_OK;
      it++;
      break;
    }
  }
  *iters = it;
  if (s == PS_ENOCONV) ps_fail(m, PS_ENOCONV, "I-LSR did not converge in %d iterations", it);
  free(cur);
  free(t1);
  free(t2);
  return s;
}
