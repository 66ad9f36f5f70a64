/* cluster.c — exact minimum-cost matching of mixture components and the adjusted
 * Rand index (Hubert & Arabie 1985, J. Classification 2:193).
 *
 * Matching: best[S] = min cost of assigning rows 0..|S|-1 to the column set S,
 * best[S] = min_{j in S} best[S \ j] + cost[|S|-1][j].  This enumerates every
 * permutation implicitly and exactly (no integer scaling, which GLPK's out-of-kilter
 * assignment solver would need), and K stays small for mixtures.
 *
 * ARI: labels are compacted to 0..r-1 by sorting, the cells of the contingency table are counted
 * from the runs of sorted pair codes, and pair counts C(x,2) = x(x-1)/2 are summed
 * in double (exact below 2^53). */
#include "cluster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cluster_match(size_t K, const double *cost, size_t *perm, double *total, ps_msg *m) {
  if (K == 0 || K > CLUSTER_MATCH_MAX)
    return ps_fail(m, PS_EINVAL, "matching needs 1 <= K <= %d, got %zu", CLUSTER_MATCH_MAX, K);
  for (size_t i = 0; i < K * K; i++)
    if (!isfinite(cost[i])) return ps_fail(m, PS_EINVAL, "cost[%zu][%zu] is not finite", i / K, i % K);
  size_t S = (size_t)1 << K;
  double *best = malloc(S * sizeof *best);
  unsigned char *arg = malloc(S);
  if (!best || !arg) {
    free(best);
    free(arg);
    return ps_fail(m, PS_ENOMEM, "out of memory matching %zu components", K);
  }
  best[0] = 0;
  for (size_t s = 1; s < S; s++) {
    size_t row = (size_t)__builtin_popcountll((unsigned long long)s) - 1;
    double b = INFINITY;
    unsigned char bj = 0;
    /* the last row of the subset takes column j */
    for (size_t j = 0; j < K; j++)
      if (s & ((size_t)1 << j)) {
        double c = best[s & ~((size_t)1 << j)] + cost[row * K + j];
        if (c < b) b = c, bj = (unsigned char)j;
      }
    best[s] = b;
    arg[s] = bj;
  }
  size_t s = S - 1;
  if (total) *total = best[s];
  for (size_t row = K; row-- > 0;) {
    perm[row] = arg[s];
    s &= ~((size_t)1 << arg[s]);
  }
  free(best);
  free(arg);
  return PS_OK;
}

static int cmp_i32(const void *x, const void *y) {
  int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
  return (a > b) - (a < b);
}

/* compact labels to 0..r-1 (r distinct values); returns r, 0 on ENOMEM */
static size_t compact(size_t n, const int32_t *lab, size_t *out) {
  int32_t *u = malloc(n * sizeof *u);
  if (!u) return 0;
  memcpy(u, lab, n * sizeof *u);
  qsort(u, n, sizeof *u, cmp_i32);
  size_t r = 0;
  for (size_t i = 0; i < n; i++)
    if (i == 0 || u[i] != u[r - 1]) u[r++] = u[i];
  for (size_t i = 0; i < n; i++) {
    size_t lo = 0, hi = r;
    while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      if (u[mid] <= lab[i]) lo = mid; else hi = mid;
    }
    out[i] = lo;
  }
  free(u);
  return r;
}

static int cmp_size(const void *x, const void *y) {
  size_t a = *(const size_t *)x, b = *(const size_t *)y;
  return (a > b) - (a < b);
}

static double pairs(double x) { return 0.5 * x * (x - 1); }

double cluster_ari(size_t n, const int32_t *a, const int32_t *b) {
  if (n < 2) return NAN;
  double ari = NAN;
  size_t *ca = malloc(n * sizeof *ca), *cb = malloc(n * sizeof *cb), *code = malloc(n * sizeof *code);
  double *ra = NULL, *rb = NULL;
  if (!ca || !cb || !code) goto done;
  size_t A = compact(n, a, ca), B = compact(n, b, cb);
  if (!A || !B) goto done;
  ra = calloc(A, sizeof *ra);
  rb = calloc(B, sizeof *rb);
  if (!ra || !rb) goto done;
  /* the non-zero cells n_ij of the contingency table are the runs of equal codes
   * ca * B + cb after sorting (no dense A x B table: A and B may reach n) */
  for (size_t i = 0; i < n; i++) {
    code[i] = ca[i] * B + cb[i];
    ra[ca[i]] += 1;
    rb[cb[i]] += 1;
  }
  qsort(code, n, sizeof *code, cmp_size);
  double sij = 0, sa = 0, sb = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && code[j] == code[i]) j++;
    sij += pairs((double)(j - i));
    i = j;
  }
  for (size_t i = 0; i < A; i++) sa += pairs(ra[i]);
  for (size_t j = 0; j < B; j++) sb += pairs(rb[j]);
  double e = sa * sb / pairs((double)n), mx = 0.5 * (sa + sb);
  /* the denominator vanishes only for identical trivial partitions (see cluster.h) */
  ari = mx - e == 0 ? 1.0 : (sij - e) / (mx - e);
done:
  free(ca);
  free(cb);
  free(code);
  free(ra);
  free(rb);
  return ari;
}
