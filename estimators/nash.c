/* nash.c — the regularised Nash equilibrium by Newton's method with continuation,
 * Nash-MD, and SLHF's closed forms (nash.h; docs/theory.md §3.13a).
 *
 * Everything works in log space (u = log pi) and normalises through log-sum-exp, so a
 * small tau that drives some probabilities to 1e-200 neither underflows to a zero that
 * log cannot take nor overflows a partition function. */
#include "nash.h"

#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "minimax.h"

int nash_check_reference(const double *mu, size_t m, ps_msg *msg) {
  if (m == 0) return ps_fail(msg, PS_EINVAL, "the reference policy has no items");
  double s = 0;
  for (size_t y = 0; y < m; y++) {
    if (!isfinite(mu[y])) return ps_fail(msg, PS_EDOM, "reference probability of item %zu is not finite", y);
    if (!(mu[y] > 0))
      return ps_fail(msg, PS_EINVAL,
                     "reference probability of item %zu is %g: the reference must cover every item (> 0)", y, mu[y]);
    s += mu[y];
  }
  if (fabs(s - 1) > 1e-9) return ps_fail(msg, PS_EINVAL, "reference probabilities sum to %.12g, not 1", s);
  return PS_OK;
}

static int check_all(const double *M, size_t m, const double *mu, double tau, ps_msg *msg) {
  int s = minimax_check(M, m, msg);
  if (!s) s = nash_check_reference(mu, m, msg);
  if (!s && !(isfinite(tau) && tau > 0)) s = ps_fail(msg, PS_EINVAL, "tau = %g: it must be finite and > 0", tau);
  return s;
}

/* g = M p */
static void matvec(const double *M, size_t m, const double *p, double *g) {
  for (size_t y = 0; y < m; y++) {
    double a = 0;
    for (size_t j = 0; j < m; j++) a += M[y * m + j] * p[j];
    g[y] = a;
  }
}

/* p = softmax(l), in place into p; returns log of the normaliser */
static double softmax(const double *l, size_t m, double *p) {
  double z = ps_log_sum_exp(l, m);
  for (size_t y = 0; y < m; y++) p[y] = exp(l[y] - z);
  return z;
}

double nash_reg_exploitability(const double *M, size_t m, const double *mu, double tau, const double *pi) {
  double *w = calloc(2 * m, sizeof *w);
  if (!w) return NAN;
  double *g = w, *l = w + m;
  matvec(M, m, pi, g);
  for (size_t y = 0; y < m; y++) l[y] = log(mu[y]) + g[y] / tau;
  double e = tau * ps_log_sum_exp(l, m);
  for (size_t y = 0; y < m; y++)
    if (pi[y] > 0) e += tau * pi[y] * log(pi[y] / mu[y]);
  free(w);
  return e;
}

/* Newton work space for m items */
typedef struct {
  size_t m;
  gsl_matrix *J;
  gsl_permutation *perm;
  gsl_vector *F, *dz;
  double *pi, *g, *u_try, *F_try;
} newton_ws;

static void ws_free(newton_ws *w) {
  if (w->J) gsl_matrix_free(w->J);
  if (w->perm) gsl_permutation_free(w->perm);
  if (w->F) gsl_vector_free(w->F);
  if (w->dz) gsl_vector_free(w->dz);
  free(w->pi);
}

static int ws_alloc(newton_ws *w, size_t m) {
  memset(w, 0, sizeof *w);
  w->m = m;
  w->J = gsl_matrix_alloc(m + 1, m + 1);
  w->perm = gsl_permutation_alloc(m + 1);
  w->F = gsl_vector_alloc(m + 1);
  w->dz = gsl_vector_alloc(m + 1);
  w->pi = malloc((3 * m + 1) * sizeof(double) + (m + 1) * sizeof(double));
  if (!w->J || !w->perm || !w->F || !w->dz || !w->pi) {
    ws_free(w);
    return PS_ENOMEM;
  }
  w->g = w->pi + m;
  w->u_try = w->g + m;
  w->F_try = w->u_try + m + 1;
  return PS_OK;
}

/* residual at z = (u, c) into F (length m + 1); returns its infinity norm */
static double residual(const double *M, size_t m, const double *logmu, double tau, const double *z, double *pi,
                       double *g, double *F) {
  double s = 0;
  for (size_t y = 0; y < m; y++) s += pi[y] = exp(z[y]);
  matvec(M, m, pi, g);
  double nrm = fabs(s - 1);
  for (size_t y = 0; y < m; y++) {
    F[y] = z[y] - logmu[y] - g[y] / tau - z[m];
    nrm = fmax(nrm, fabs(F[y]));
  }
  F[m] = s - 1;
  return isfinite(nrm) ? nrm : INFINITY;
}

/* Damped Newton at one tau from z (length m + 1, updated in place).  Returns 1 when
 * the residual fell below tol, 0 when it stalled or ran out of steps. */
static int newton_at(newton_ws *w, const double *M, const double *logmu, double tau, double *z, int *steps) {
  size_t m = w->m;
  const double tol = 1e-14;
  double *F = w->F->data;
  double r = residual(M, m, logmu, tau, z, w->pi, w->g, F);
  for (int it = 0; it < 100; it++) {
    if (r <= tol) return 1;
    /* J = [I - M diag(pi) / tau, -1; pi^T, 0] */
    for (size_t y = 0; y < m; y++) {
      double *row = gsl_matrix_ptr(w->J, y, 0);
      for (size_t k = 0; k < m; k++) row[k] = -M[y * m + k] * w->pi[k] / tau;
      row[y] += 1;
      row[m] = -1;
    }
    double *last = gsl_matrix_ptr(w->J, m, 0);
    for (size_t k = 0; k < m; k++) last[k] = w->pi[k];
    last[m] = 0;
    int sg;
    if (gsl_linalg_LU_decomp(w->J, w->perm, &sg) || gsl_linalg_LU_solve(w->J, w->perm, w->F, w->dz)) return 0;
    (*steps)++;
    /* backtrack on the residual's infinity norm */
    double a = 1;
    int ok = 0;
    for (int b = 0; b < 40 && !ok; b++, a *= 0.5) {
      for (size_t i = 0; i <= m; i++) w->u_try[i] = z[i] - a * w->dz->data[i];
      double rt = residual(M, m, logmu, tau, w->u_try, w->pi, w->g, w->F_try);
      if (rt < (1 - 1e-4 * a) * r || rt <= tol) {
        memcpy(z, w->u_try, (m + 1) * sizeof *z);
        memcpy(F, w->F_try, (m + 1) * sizeof *F);
        r = rt;
        ok = 1;
      }
    }
    if (!ok) {
      residual(M, m, logmu, tau, z, w->pi, w->g, F); /* restore pi at z */
      return r <= 1e-12;
    }
  }
  return r <= tol;
}

int nash_solve(const double *M, size_t m, const double *mu, double tau, double *pi, int *iters, ps_msg *msg) {
  int s = check_all(M, m, mu, tau, msg);
  if (s) return s;
  newton_ws w;
  if (ws_alloc(&w, m)) return ps_fail(msg, PS_ENOMEM, "out of memory for the %zu-item Newton system", m);
  double *z = calloc(m + 1, sizeof *z), *logmu = calloc(m, sizeof *logmu), *z0 = calloc(m + 1, sizeof *z0);
  int steps = 0;
  if (!z || !logmu || !z0) {
    s = ps_fail(msg, PS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t y = 0; y < m; y++) z0[y] = logmu[y] = log(mu[y]);
  z0[m] = 0;
  memcpy(z, z0, (m + 1) * sizeof *z);
  int ok = newton_at(&w, M, logmu, tau, z, &steps);
  if (!ok) {
    /* Continuation in tau.  The map pi -> softmax(log mu + M pi / tau) has Lipschitz
     * constant at most max|M| / tau <= 1/(2 tau) in l1 -> l_inf terms, so at tau = 1
     * pi = mu is inside Newton's basin; halve tau towards the target, warm-starting. */
    memcpy(z, z0, (m + 1) * sizeof *z);
    double t = fmax(tau, 1.0);
    ok = 1;
    for (;;) {
      if (!newton_at(&w, M, logmu, t, z, &steps)) {
        ok = 0;
        break;
      }
      if (t == tau) break;
      t = fmax(tau, t / 2);
    }
  }
  double e = NAN;
  if (ok) {
    for (size_t y = 0; y < m; y++) w.pi[y] = z[y];
    softmax(w.pi, m, w.pi);
    e = nash_reg_exploitability(M, m, mu, tau, w.pi);
  }
  if (!ok || !(e <= NASH_CERT_TOL)) {
    s = ps_fail(msg, PS_ENOCONV,
                "the regularised Nash equilibrium at tau = %g was not certified: %s (regularised exploitability %.3g, "
                "tolerance %g)",
                tau, ok ? "certificate failed" : "Newton's method stalled", e, NASH_CERT_TOL);
    goto done;
  }
  memcpy(pi, w.pi, m * sizeof *pi);
done:
  if (iters) *iters = steps;
  ws_free(&w);
  free(z);
  free(z0);
  free(logmu);
  return s;
}

int nash_md(const double *M, size_t m, const double *mu, double tau, double eta, long T, double *last,
            double *avg, const double *target, double *kl_trace, ps_msg *msg) {
  int s = check_all(M, m, mu, tau, msg);
  if (s) return s;
  if (T < 1) return ps_fail(msg, PS_EINVAL, "Nash-MD needs T >= 1 steps, not %ld", T);
  if (!(isfinite(eta) && eta > 0 && eta * tau <= 1))
    return ps_fail(msg, PS_EINVAL, "Nash-MD step eta = %g with tau = %g: eta tau must lie in (0, 1]", eta, tau);
  double *w = calloc(6 * m, sizeof *w);
  if (!w) return ps_fail(msg, PS_ENOMEM, "out of memory");
  double *l = w, *lm = w + m, *pm = w + 2 * m, *g = w + 3 * m, *sum = w + 4 * m, *logmu = w + 5 * m;
  double a = eta * tau;
  for (size_t y = 0; y < m; y++) l[y] = logmu[y] = log(mu[y]);
  for (long t = 0; t < T; t++) {
    /* pi^mu_t = geometric mixture of pi_t and mu */
    for (size_t y = 0; y < m; y++) lm[y] = (1 - a) * l[y] + a * logmu[y];
    softmax(lm, m, pm);
    matvec(M, m, pm, g);
    for (size_t y = 0; y < m; y++) l[y] = lm[y] + eta * g[y];
    double z = ps_log_sum_exp(l, m);
    double kl = 0;
    for (size_t y = 0; y < m; y++) {
      l[y] -= z;
      sum[y] += exp(l[y]);
      if (target && target[y] > 0) kl += target[y] * (log(target[y]) - l[y]);
    }
    if (kl_trace && target) kl_trace[t] = kl;
  }
  if (last)
    for (size_t y = 0; y < m; y++) last[y] = exp(l[y]);
  if (avg)
    for (size_t y = 0; y < m; y++) avg[y] = sum[y] / (double)T;
  free(w);
  return PS_OK;
}

int nash_slhf(const double *M, size_t m, const double *pi_ref, const double *omega_ref, double tau_l,
              double tau_f, double *leader, double *value, double *follower, ps_msg *msg) {
  int s = minimax_check(M, m, msg);
  if (!s) s = nash_check_reference(pi_ref, m, msg);
  if (!s) s = nash_check_reference(omega_ref, m, msg);
  if (s) return s;
  if (!(isfinite(tau_l) && tau_l > 0 && isfinite(tau_f) && tau_f > 0))
    return ps_fail(msg, PS_EINVAL, "SLHF temperatures tau_leader = %g, tau_follower = %g: both must be finite and > 0",
                   tau_l, tau_f);
  double *w = malloc(2 * m * sizeof *w);
  if (!w) return ps_fail(msg, PS_ENOMEM, "out of memory");
  double *V = w, *l = w + m;
  for (size_t y = 0; y < m; y++) {
    /* V(y) = -tau_f log sum_y' omega_ref(y') exp(-P(y > y') / tau_f), P = 1/2 + M */
    for (size_t j = 0; j < m; j++) l[j] = log(omega_ref[j]) - (0.5 + M[y * m + j]) / tau_f;
    V[y] = -tau_f * ps_log_sum_exp(l, m);
  }
  if (value) memcpy(value, V, m * sizeof *V);
  if (leader) {
    for (size_t y = 0; y < m; y++) l[y] = log(pi_ref[y]) + V[y] / tau_l;
    softmax(l, m, leader);
  }
  if (follower)
    for (size_t y = 0; y < m; y++) {
      /* omega*(y' | y) proportional to omega_ref(y') exp(P(y' > y) / tau_f) */
      for (size_t j = 0; j < m; j++) l[j] = log(omega_ref[j]) + (0.5 + M[j * m + y]) / tau_f;
      softmax(l, m, follower + y * m);
    }
  free(w);
  return PS_OK;
}
