/* numerics.h — the stable scalar primitives every loss is written with.
 *
 * docs/theory.md's numerics rule: log-probabilities go through softplus and
 * log-sum-exp, never log(sigmoid(.)).  softplus(t) = max(t,0) + log1p(e^-|t|)
 * is exact to rounding for all t and never overflows. */
#ifndef PS_CORE_NUMERICS_H
#define PS_CORE_NUMERICS_H

#include <math.h>
#include <stddef.h>

/* vectorise a loop whose iterations are independent (no reassociation is implied, so results
 * do not depend on the vector width); a no-op without OpenMP */
#ifdef _OPENMP
#define PS_SIMD _Pragma("omp simd")
#else
#define PS_SIMD
#endif

/* log(1 + e^t) */
static inline double ps_softplus(double t) {
  return (t > 0 ? t : 0.0) + log1p(exp(-fabs(t)));
}

/* 1 / (1 + e^-z), written so that neither branch overflows. */
static inline double ps_sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + exp(-z));
  double e = exp(z);
  return e / (1.0 + e);
}

/* log sigma(z) = -softplus(-z) */
static inline double ps_log_sigmoid(double z) { return -ps_softplus(-z); }

/* sigma'(z) = sigma(z) sigma(-z), computed without cancellation. */
static inline double ps_sigmoid_deriv(double z) {
  double a = fabs(z), e = exp(-a);
  return e / ((1.0 + e) * (1.0 + e));
}

/* Bernoulli entropy H(p) = -p log p - (1-p) log(1-p), with 0 log 0 = 0. */
static inline double ps_bern_entropy(double p) {
  double h = 0;
  if (p > 0) h -= p * log(p);
  if (p < 1) h -= (1 - p) * log1p(-p);
  return h;
}

/* Cross-entropy -p log q - (1-p) log(1-q) with q given through its logit z,
 * so that q near 0 or 1 loses no precision: = p softplus(-z) + (1-p) softplus(z). */
static inline double ps_cross_entropy_logit(double p, double z) {
  return p * ps_softplus(-z) + (1 - p) * ps_softplus(z);
}

/* log sum_i exp(v[i]) over n > 0 values. */
double ps_log_sum_exp(const double *v, size_t n);

/* log Phi(z), accurate in both tails (Phi = standard normal CDF). */
double ps_log_normal_cdf(double z);

/* Phi(z) */
double ps_normal_cdf(double z);

#endif
