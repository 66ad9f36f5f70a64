/* cluster.h — comparing clusterings: label matching and the adjusted Rand index.
 *
 * Mixture components are identified only up to a permutation (docs/theory.md §3.4, §4):
 * before a component's parameters are compared with the truth, the estimated
 * components are matched to the planted ones by a minimum-cost assignment, and the
 * partition of users is scored with the adjusted Rand index, which needs no
 * matching at all. */
#ifndef PS_ESTIMATORS_CLUSTER_H
#define PS_ESTIMATORS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/ps.h"

/* Largest K cluster_match accepts (the subset dynamic programme costs K^2 2^K). */
#define CLUSTER_MATCH_MAX 20

/* Minimum-cost assignment: perm[i] = the column assigned to row i, minimising
 * sum_i cost[i * K + perm[i]] over all permutations (cost is K x K row-major, finite).
 * Solved exactly by dynamic programming over subsets of columns (Held-Karp style,
 * O(K^2 2^K) time, O(K 2^K) memory), so the optimum is exact in double precision
 * for K <= CLUSTER_MATCH_MAX; among tied optima one is returned.
 * *total (if not NULL) receives the optimal cost.  Returns PS_OK, PS_EINVAL (K = 0,
 * K too large, a non-finite cost) or PS_ENOMEM; perm is unchanged on error. */
int cluster_match(size_t K, const double *cost, size_t *perm, double *total, ps_msg *m);

/* Adjusted Rand index of two labelings a, b of the same n objects (Hubert & Arabie
 * 1985): (sum_ij C(n_ij,2) - E) / (max - E), with E = sum_i C(a_i,2) sum_j C(b_j,2) /
 * C(n,2) and max = (sum_i C(a_i,2) + sum_j C(b_j,2)) / 2, over the contingency table
 * n_ij.  Labels are arbitrary int32 values (only equality matters).  Equal to 1 for
 * identical partitions (whatever the label names), about 0 for independent ones, and
 * may be negative.  When the denominator is 0 (both labelings put everything in one
 * cluster, or both make every object its own cluster) the partitions are identical
 * and 1 is returned.  NaN when n < 2 or on allocation failure. */
double cluster_ari(size_t n, const int32_t *a, const int32_t *b);

#endif
