/* policy.h — policies over a finite response set: the log-linear softmax class, a
 * small MLP score, and the exact policy metrics of docs/theory.md §1 and §4.
 *
 * Conventions (shared by every policy learner, see estimators/estimator.h):
 * a context x has m responses stored as contiguous items first .. first+m-1; the
 * reference log pi_ref(.|x) is normalised within the context (NULL = uniform,
 * log pi_ref = -log m).  A score vector s (one value per response) defines
 *
 *     log pi(y|x) = log pi_ref(y|x) + s_y - log sum_y' pi_ref(y'|x) e^{s_y'},
 *
 * so u_y = log pi - log pi_ref = s_y - A and the DPO margin is Delta = s+ - s-.
 * Log-linear: s = theta^T phi(x,y) with theta the OFFSET from the reference
 * (docs/theory.md's theta - theta_ref); tabular (phi == NULL) is one-hot phi, s = theta[item].
 * MLP: s = f(phi) = w_out^T act(W2 act(W1 phi + b1) + b2) (second layer optional),
 * no output bias (it cancels in the softmax).
 *
 * References: Rafailov et al. 2023 (DPO); docs/theory.md §1 (J identities), §3.9 (policy
 * classes), §4 (ranking accuracy after Chen et al. 2024, win rate, KL). */
#ifndef PS_ESTIMATORS_POLICY_H
#define PS_ESTIMATORS_POLICY_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

/* ---------------- exact metrics on one context (vectors of length m) ---------------- */

/* KL(p || q) = sum_y p_y log(p_y / q_y) with 0 log 0 = 0; +INFINITY when some q_y = 0
 * has p_y > 0.  Inputs are probability vectors (not checked). */
double policy_kl(const double *p, const double *q, size_t m);

/* Expected reward sum_y p_y r_y. */
double policy_value(const double *p, const double *r, size_t m);

/* The KL-regularised optimum pi*(y) = pi_ref(y) e^{r_y/beta} / Z (docs/theory.md §1), written
 * into pi_star (length m) through log-sum-exp; returns log Z (so V* = beta log Z).
 * beta > 0. */
double policy_kl_optimal(const double *pi_ref, const double *r, double beta, size_t m, double *pi_star);

/* J(pi) = sum_y pi_y r_y - beta KL(pi || pi_ref) on one context. */
double policy_objective(const double *pi, const double *pi_ref, const double *r, double beta, size_t m);

/* Win rate against the reference, WR = sum_{y,y'} pi(y) pi_ref(y') P[y m + y'] with P an
 * m x m row-major preference matrix (P(y > y') , P[y][y] = 1/2); WR(pi_ref) = 1/2. */
double policy_win_rate(const double *pi, const double *pi_ref, const double *P, size_t m);

/* Best-of-n against a proxy score (docs/theory.md §3.13b): the law of the response
 * with the highest score among n >= 1 independent draws from pi_ref, written into p.
 * Responses whose scores are equal form one level, and the draw picks among a level in
 * proportion to pi_ref: with F(s) = pi_ref(score <= s), the level at s has probability
 * F(s)^n - F(s-)^n.  n may be fractional (the same formula, its continuous
 * interpolation).  PS_EINVAL for n < 1 or a NaN score, PS_ENOMEM. */
int policy_best_of_n(const double *pi_ref, const double *score, size_t m, double n, double *p);

/* The greedy policy of docs/theory.md §3.14's baseline: a point mass on argmax_y score_y
 * (the lowest index among ties) written into p. */
void policy_greedy(const double *score, size_t m, double *p);

/* Ranking accuracy (docs/theory.md §4, Chen et al. 2024): the weighted mean over the rows of d
 * of 1[log_pi[winner] >= log_pi[loser]], log_pi per item (n_items).  Row weights are
 * d->count (1 when NULL).  NaN on empty data. */
double policy_ranking_accuracy(const double *log_pi, const pref_data *d);

/* Idealised ranking accuracy R* = mean 1[log pi_ref(y_w) - log pi_ref(y_l) +
 * logit(alpha)/beta > 0], with alpha[i] = P(y_w > y_l) of row i (the true preference
 * probability) and log_ref per item (NULL = uniform, every ratio 1): the ranking
 * accuracy of the exact KL-optimal policy of the BT reward logit(alpha).  NaN on empty
 * data. */
double policy_ideal_ranking_accuracy(const double *log_ref, const double *alpha, double beta,
                                     const pref_data *d);

/* Chen et al.'s per-pair threshold: R = 1 on a pair iff L_DPO <= -log sigma(beta c),
 * c = log(pi_ref(y_l)/pi_ref(y_w)).  Returns softplus(-beta c). */
double policy_ranking_threshold(double log_ref_w, double log_ref_l, double beta);

/* ---------------- softmax over a context ---------------- */

/* log pi = log_ref + s - log sum exp(log_ref + s) over m responses (log_ref NULL =
 * uniform).  Returns A = log sum_y pi_ref(y) e^{s_y} (the log-partition relative to
 * the reference).  logpi may alias s. */
double policy_log_softmax(const double *log_ref, const double *s, size_t m, double *logpi);

/* KL(pi_s || pi_ref) of the softmax policy of scores s (exact, m responses); when
 * dkl is not NULL it receives d KL / d s_y = pi_y (u_y - KL), u = log pi - log pi_ref
 * (the covariance form; see policy.c).  work has m doubles. */
double policy_softmax_kl(const double *log_ref, const double *s, size_t m, double *dkl, double *work);

/* Scores of a log-linear policy: s[j] = theta^T phi(item first + j) for j < m (one-hot
 * when f->phi is NULL: s[j] = theta[first + j]). */
void policy_loglinear_scores(const pref_features *f, const double *theta, size_t first, size_t m,
                             double *s);

/* pi_theta over the context starting at `first` (m responses) into p.  PS_EINVAL when
 * the range is outside the item set. */
int policy_loglinear_probs(const pref_features *f, const double *theta, size_t first, size_t m,
                           double *p);

/* E_{pi_theta} phi over the context (d values into mean); the gradient of log pi is
 * phi(x,y) - E phi (docs/theory.md §3.9).  work has m doubles. */
void policy_loglinear_mean_phi(const pref_features *f, const double *theta, size_t first, size_t m,
                               double *mean, double *work);

/* ---------------- MLP score ---------------- */

typedef enum { POLICY_ACT_TANH = 0, POLICY_ACT_RELU = 1 } policy_activation;

/* Architecture of f(phi) = w_out^T act(W2 act(W1 phi + b1) + b2) (layers = 2) or
 * w_out^T act(W1 phi + b1) (layers = 1).  The parameters are one flat vector of
 * n_params doubles: W1 (width x d, row-major), b1, [W2 (width x width), b2], w_out. */
typedef struct {
  size_t d, width;
  int layers;                  /* 1 or 2 */
  policy_activation act;
  size_t n_params;
} policy_mlp;

/* Fill the architecture (n_params computed).  PS_EINVAL for layers not in {1,2},
 * width or d zero. */
int policy_mlp_init(policy_mlp *a, size_t d, size_t width, int layers, policy_activation act, ps_msg *m);

/* Glorot-uniform weights U(+-sqrt(6/(fan_in + fan_out))), zero biases, drawn from r. */
void policy_mlp_glorot(const policy_mlp *a, double *params, gsl_rng *r);

/* Doubles of scratch needed by policy_mlp_score / policy_mlp_backprop (4 width). */
size_t policy_mlp_work_len(const policy_mlp *a);

/* f(phi) for one feature vector; work (policy_mlp_work_len doubles) keeps the
 * activations for a following policy_mlp_backprop on the same phi. */
double policy_mlp_score(const policy_mlp *a, const double *params, const double *phi, double *work);

/* grad += g * d f(phi) / d params, using the activations left in work by
 * policy_mlp_score(phi) (hand-written backpropagation).  work is overwritten. */
void policy_mlp_backprop(const policy_mlp *a, const double *params, const double *phi, double g,
                         double *grad, double *work);

#endif
