/* numerics.c — log-sum-exp and the probit log-CDF (see numerics.h).
 *
 * log Phi(z) for z < 0 goes through GSL's log_erfc so the lower tail keeps
 * full relative precision (Phi(-40) ~ 1e-350 underflows, its log does not). */
#include "numerics.h"

#include <gsl/gsl_sf_erf.h>
#include <math.h>

double ps_log_sum_exp(const double *v, size_t n) {
  double mx = -INFINITY;
  for (size_t i = 0; i < n; i++)
    if (v[i] > mx) mx = v[i];
  if (!isfinite(mx)) return mx;
  double s = 0;
  for (size_t i = 0; i < n; i++) s += exp(v[i] - mx);
  return mx + log(s);
}

double ps_log_normal_cdf(double z) {
  /* Phi(z) = erfc(-z/sqrt 2)/2 */
  if (z < 0) return gsl_sf_log_erfc(-z / M_SQRT2) - M_LN2;
  return log1p(-0.5 * erfc(z / M_SQRT2));
}

double ps_normal_cdf(double z) { return 0.5 * erfc(-z / M_SQRT2); }
