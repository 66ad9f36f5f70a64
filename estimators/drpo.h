/* drpo.h — doubly robust preference optimisation (DRPO, docs/theory.md §3.11).
 *
 * Samples are tuples (x, y1, y2, Z): context x, two responses drawn i.i.d. from
 * pi_ref(.|x), and Z = 1 when y1 was preferred.  Responses are indexed locally
 * within their context (0..m-1); every context has m responses.  Preference
 * models g are given as tables g[(x m + a) m + b] = P(a preferred to b | x) with
 * g(a,b) + g(b,a) = 1; policies as tables p[x m + y].
 *
 * The DR score of response y at context x, averaged with the swap
 * (y1 <-> y2, Z <-> 1-Z), for one sample i at x:
 *
 *     T_i(y) = 1/2 [ ghat(y, y2) + 1[y = y1] (Z   - ghat(y1, y2)) / pihat(y1) ]
 *            + 1/2 [ ghat(y, y1) + 1[y = y2] (1-Z - ghat(y2, y1)) / pihat(y2) ]
 *
 * cbar_x(y) = weighted mean of T_i(y) over the samples at x, p_DR(pi) =
 * sum_x rho_x sum_y pi(y|x) cbar_x(y), and the KL-regularised maximiser is
 * pi(.|x) proportional to pi_ref e^{cbar_x / beta}. */
#ifndef PS_ESTIMATORS_DRPO_H
#define PS_ESTIMATORS_DRPO_H

#include <stddef.h>
#include <stdint.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

/* Per-context DR scores.  Sample i (weight w[i], NULL = 1) at context ctx[i] with
 * responses y1[i], y2[i] (equal draws allowed) and label z[i] in [0, 1] uses the
 * nuisance set fold[i] (fold NULL: set 0): ghat + fold n_ctx m m and pihat +
 * fold n_ctx m (pihat: the estimated reference probabilities, > 0 where used).
 * Writes cbar (n_ctx x m; 0 for contexts without samples) and mass (n_ctx: total
 * sample weight per context).  PS_EINVAL on an index out of range, PS_EDOM on a
 * non-finite input or a non-positive pihat at an observed response. */
int drpo_scores(size_t n_ctx, size_t m, size_t n, const int32_t *ctx, const int32_t *y1,
                const int32_t *y2, const double *z, const double *w, const int32_t *fold,
                const double *ghat, const double *pihat, double *cbar, double *mass, ps_msg *msg);

/* p_DR(pi) = sum_x rho_x sum_y pi(y|x) cbar_x(y) / sum_x rho_x, with rho_x the
 * context weights (the mass of drpo_scores for the i.i.d. design). NaN when the
 * weights sum to 0. */
double drpo_value(size_t n_ctx, size_t m, const double *cbar, const double *rho, const double *pi);

/* The closed-form maximiser of p_DR(pi) - beta sum_x rho_x KL(pi(.|x) || pi_ref(.|x)):
 * pi(.|x) proportional to pi_ref(.|x) e^{cbar_x/beta} for contexts with rho_x > 0 and
 * pi_ref itself elsewhere (no data: the KL term alone).  log_ref is n_ctx x m
 * (NULL: uniform).  PS_EINVAL unless beta > 0. */
int drpo_policy(size_t n_ctx, size_t m, const double *cbar, const double *rho, const double *log_ref,
                double beta, double *pi, ps_msg *msg);

/* The exact bias of p_DR(pi) for the i.i.d. design (docs/theory.md §3.11):
 *
 *   E p_DR - p* = sum_x rho_x sum_{y2} ref(y2) sum_y pi(y) (ref(y)/pihat(y) - 1) (g - ghat)(y, y2)
 *
 * with rho normalised to sum 1 here.  Valid when ghat is skew-symmetric
 * (ghat(a,b) + ghat(b,a) = 1), as every model here is. */
double drpo_bias_exact(size_t n_ctx, size_t m, const double *rho, const double *pi, const double *ref,
                       const double *pihat, const double *g, const double *ghat);

/* The target p*(pi) = sum_x rho_x sum_{y,y'} pi(y|x) ref(y'|x) g(y,y'|x) / sum rho. */
double drpo_target(size_t n_ctx, size_t m, const double *rho, const double *pi, const double *ref,
                   const double *g);

/* The reference probabilities of the distinct-pair design: rows of pref_data
 * cannot hold equal draws, so a sample of pairs y1 != y2 from pi_ref x pi_ref
 * has likelihood prod_i pi(a_i) pi(b_i) / (1 - sum_y pi(y)^2) per context.  Given
 * appearance weights cnt (n_ctx x m: each pair adds its weight to both of its
 * responses, plus any pseudo-count), writes the maximiser pi (n_ctx x m) from the
 * stationarity condition pi_a (1 - pi_a) = cnt_a (1 - q) / (2 npair): each pi_a is a
 * root of a quadratic in the common multiplier, found by bisection on the two
 * possible branches (only the most frequent response can exceed 1/2), the branch
 * of higher likelihood kept.  Contexts with zero total weight get the uniform
 * distribution; a response present in every pair gets 1 - 1e-12 (the supremum is
 * on the boundary).  PS_EDOM on a negative or non-finite weight. */
int drpo_distinct_reference(size_t n_ctx, size_t m, const double *cnt, double *pi, ps_msg *msg);

/* The log-linear reference pi(y|x) proportional to e^{eta^T phi(x,y)} (phi NULL:
 * one-hot items) fitted by L-BFGS to the distinct-pair likelihood of
 * drpo_distinct_reference with appearance weights cnt (n_ctx x m) and the ridge
 * (l2/2)||eta||^2; writes pi (n_ctx x m).  Local maximum from eta = 0 (the
 * likelihood need not be concave).  PS_EDOM / PS_ENOCONV when L-BFGS fails. */
int drpo_loglinear_reference(const pref_features *f, size_t n_ctx, size_t m, const double *cnt, double l2,
                             double *pi, ps_msg *msg);

/* The fitted model's tie-corrected scores cbar (n_ctx x m) and context weights
 * rho (n_ctx) of a fitted "drpo" est_model (arrays owned by the model), so that
 * drpo_value(n_ctx, m, cbar, rho, pi) is the model's p_DR(pi).  PS_EINVAL before
 * a successful fit. */
struct est_model;
int drpo_model_scores(const struct est_model *e, size_t *n_ctx, size_t *m, const double **cbar,
                      const double **rho);

#endif
