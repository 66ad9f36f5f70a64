/* nash_est.c — the regularised Nash equilibrium of the empirical preference matrix
 * behind the estimator interface (item worlds; docs/theory.md §3.13a).
 *
 * The model is minimax_est.c's: the empirical margins M_ij = n_ij / N_ij - 1/2 (0 for a
 * pair never compared), predictions logit(1/2 + M_ab).  Its policy is pi*_tau of that
 * game against the uniform reference (the reference policy of item worlds): solved
 * exactly (Newton, certified), or by T steps of Nash-MD, its last iterate or the
 * average of its iterates.  As tau -> 0 the exact policy tends to a minimax winner;
 * at tau = beta, against BT's fitted rewards instead of M, it would be RLHF's tilted
 * policy.
 *
 * slhf: the same model; its policy is SLHF's leader pi* proportional to
 * mu exp(V / tau_leader), the follower's soft best response folded into
 * V(y) = -tau_follower log E_{y' ~ mu} exp(-P(y > y') / tau_follower), both references
 * uniform (nash.h).  As both temperatures vanish the leader plays the item whose worst
 * pairwise preference is best — the Condorcet winner when there is one, and never a
 * lottery: the difference from the Nash equilibrium on a cycle. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "estimator.h"
#include "minimax.h"
#include "nash.h"

typedef enum { NASH_EXACT = 0, NASH_MD_LAST = 1, NASH_MD_AVG = 2 } nash_method;

struct est_model {
  nash_method method;
  double tau, eta;
  long T;
  double tau_l, tau_f; /* slhf */
  double *M, *p; /* margins (m x m) and the policy */
  size_t m;
};

static const ps_param nash_params[] = {
    {"tau", PS_PARAM_REAL, "0.1", 1e-3, 1e6, NULL,
     "KL regularisation towards the uniform reference (tau -> 0: a minimax winner)"},
    {"method", PS_PARAM_ENUM, "exact", 0, 0, "exact|nash-md|nash-md-avg",
     "Newton's exact equilibrium (certified), or Nash-MD's last iterate or average"},
    {"eta", PS_PARAM_REAL, "0", 0, 1e6, NULL, "Nash-MD step; 0 = 1 / (2 tau + 1), so eta tau < 1/2"},
    {"T", PS_PARAM_INT, "1000", 1, 1e8, NULL, "Nash-MD steps"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int nash_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  const char *method = ps_param_text(nash_params, h, "method");
  e->method = !strcmp(method, "nash-md") ? NASH_MD_LAST : !strcmp(method, "nash-md-avg") ? NASH_MD_AVG : NASH_EXACT;
  e->tau = ps_param_real(ps_param_text(nash_params, h, "tau"));
  e->eta = ps_param_real(ps_param_text(nash_params, h, "eta"));
  if (!(e->eta > 0)) e->eta = 1.0 / (2.0 * e->tau + 1.0);
  e->T = ps_param_int(ps_param_text(nash_params, h, "T"));
  *out = e;
  return PS_OK;
}

/* The empirical game of d (item worlds) into e->M, e->p allocated, mu uniform (m doubles,
 * the caller's): PS_OK or the failure, in info and m, named after the estimator. */
static int game_prepare(est_model *e, const char *name, const pref_data *d, const pref_features *f, double **mu,
                        est_fit_info *info, ps_msg *m) {
  info->objective = info->grad_norm = NAN;
  *mu = NULL;
  if (f->phi) return info->status = ps_fail(m, PS_EINVAL, "%s fits item worlds only (world.kind = items)", name);
  if (!d->n) return info->status = ps_fail(m, PS_EINVAL, "%s: no comparisons to fit", name);
  size_t M = d->n_items;
  if (M > 2000) return info->status = ps_fail(m, PS_EINVAL, "%s: %zu items (at most 2000)", name, M);
  free(e->M);
  free(e->p);
  e->m = M;
  e->M = malloc(M * M * sizeof(double));
  e->p = malloc(M * sizeof(double));
  *mu = malloc(M * sizeof(double));
  if (!e->M || !e->p || !*mu) {
    free(*mu);
    *mu = NULL;
    return info->status = ps_fail(m, PS_ENOMEM, "out of memory");
  }
  for (size_t y = 0; y < M; y++) (*mu)[y] = 1.0 / (double)M;
  int s = minimax_empirical(d, e->M, NULL, NULL, m);
  if (s) {
    free(*mu);
    *mu = NULL;
    info->status = s;
  }
  return s;
}

static int nash_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                    ps_msg *m) {
  (void)r;
  if (e->method != NASH_EXACT && !(e->eta * e->tau <= 1))
    return info->status = ps_fail(m, PS_EINVAL, "nash: eta * tau = %g must be at most 1", e->eta * e->tau);
  double *mu;
  int s = game_prepare(e, "nash", d, f, &mu, info, m), iters = 0;
  if (s) return s;
  size_t M = e->m;
  if (e->method == NASH_EXACT)
    s = nash_solve(e->M, M, mu, e->tau, e->p, &iters, m);
  else
    s = nash_md(e->M, M, mu, e->tau, e->eta, e->T, e->method == NASH_MD_LAST ? e->p : NULL,
                e->method == NASH_MD_AVG ? e->p : NULL, NULL, NULL, m);
  info->status = s;
  info->converged = s == PS_OK;
  info->iterations = e->method == NASH_EXACT ? iters : (int)(e->T < 2147483647 ? e->T : 2147483647);
  /* objective: the regularised exploitability, 0 at the exact equilibrium */
  if (!s) info->objective = nash_reg_exploitability(e->M, M, mu, e->tau, e->p);
  free(mu);
  return s;
}

static double nash_logit(const est_model *e, int32_t a, int32_t b) {
  return minimax_margin_logit(e->M, e->m, (size_t)a, (size_t)b);
}

static const double *nash_theta(const est_model *e, size_t *dim) {
  (void)e;
  *dim = 0;
  return NULL;
}

static int nash_policy(const est_model *e, int32_t first, size_t m, double *p) {
  if (first != 0 || m != e->m || !e->p) return PS_EINVAL;
  memcpy(p, e->p, m * sizeof(double));
  return PS_OK;
}

static void nash_free(est_model *e) {
  if (!e) return;
  free(e->M);
  free(e->p);
  free(e);
}

const est_type est_nash = {
    .name = "nash",
    .inputs = EST_IN_ITEMS,
    .doc = "Regularised Nash equilibrium of the empirical preference matrix against the uniform reference "
           "(Munos et al. 2024, Nash learning from human feedback; docs/theory.md §3.13a): the fixed point "
           "pi proportional to mu exp(M pi / tau) by certified Newton, or Nash-MD's last or averaged iterate; "
           "predictions are the empirical P (1/2 for pairs never compared); item worlds only.",
    .params = nash_params,
    .alloc = nash_alloc,
    .fit = nash_fit,
    .logit = nash_logit,
    .theta = nash_theta,
    .policy = nash_policy,
    .free = nash_free,
};

static const ps_param slhf_params[] = {
    {"tau_leader", PS_PARAM_REAL, "0.1", 1e-3, 1e6, NULL, "leader's KL regularisation towards the uniform reference"},
    {"tau_follower", PS_PARAM_REAL, "0.1", 1e-3, 1e6, NULL,
     "follower's KL regularisation towards the uniform reference"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int slhf_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->tau_l = ps_param_real(ps_param_text(slhf_params, h, "tau_leader"));
  e->tau_f = ps_param_real(ps_param_text(slhf_params, h, "tau_follower"));
  *out = e;
  return PS_OK;
}

static int slhf_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                    ps_msg *m) {
  (void)r;
  double *mu;
  int s = game_prepare(e, "slhf", d, f, &mu, info, m);
  if (s) return s;
  s = nash_slhf(e->M, e->m, mu, mu, e->tau_l, e->tau_f, e->p, NULL, NULL, m);
  free(mu);
  info->status = s;
  info->converged = s == PS_OK;
  info->iterations = 1;
  return s;
}

const est_type est_slhf = {
    .name = "slhf",
    .inputs = EST_IN_ITEMS,
    .doc = "Stackelberg learning from human feedback: the leader's policy of the empirical preference matrix, "
           "pi proportional to mu exp(V / tau_leader) with the follower's soft best response in V "
           "(docs/theory.md §3.13a); uniform references; item worlds only.",
    .params = slhf_params,
    .alloc = slhf_alloc,
    .fit = slhf_fit,
    .logit = nash_logit,
    .theta = nash_theta,
    .policy = nash_policy,
    .free = nash_free,
};
