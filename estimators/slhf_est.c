/* slhf_est.c — the Stackelberg (SLHF) leader of the empirical preference matrix
 * behind the estimator interface (item worlds; docs/theory.md §3.13a).
 *
 * The model is minimax_est.c's empirical margins; its policy is SLHF's leader
 * pi* proportional to mu exp(V / tau_leader) with the follower's soft best response
 * folded into V(y) = -tau_follower log E_{y' ~ mu} exp(-P(y > y') / tau_follower), both
 * references uniform (nash.h).  As both temperatures vanish the leader plays the item
 * whose worst pairwise preference is best — the Condorcet winner when there is one,
 * and never a lottery: the difference from the Nash equilibrium on a cycle. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "estimator.h"
#include "minimax.h"
#include "nash.h"

struct est_model {
  double tau_l, tau_f;
  double *M, *p;
  size_t m;
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
  info->objective = info->grad_norm = NAN;
  if (f->phi) return info->status = ps_fail(m, PS_EINVAL, "slhf fits item worlds only (world.kind = items)");
  if (!d->n) return info->status = ps_fail(m, PS_EINVAL, "slhf: no comparisons to fit");
  size_t M = d->n_items;
  if (M > 2000) return info->status = ps_fail(m, PS_EINVAL, "slhf: %zu items (at most 2000)", M);
  free(e->M);
  free(e->p);
  e->m = M;
  e->M = malloc(M * M * sizeof(double));
  e->p = malloc(M * sizeof(double));
  double *mu = malloc(M * sizeof(double));
  if (!e->M || !e->p || !mu) {
    free(mu);
    return info->status = ps_fail(m, PS_ENOMEM, "out of memory");
  }
  for (size_t y = 0; y < M; y++) mu[y] = 1.0 / (double)M;
  int s = minimax_empirical(d, e->M, NULL, NULL, m);
  if (!s) s = nash_slhf(e->M, M, mu, mu, e->tau_l, e->tau_f, e->p, NULL, NULL, m);
  free(mu);
  info->status = s;
  info->converged = s == PS_OK;
  info->iterations = 1;
  return s;
}

static double slhf_logit(const est_model *e, int32_t a, int32_t b) {
  return minimax_margin_logit(e->M, e->m, (size_t)a, (size_t)b);
}

static const double *slhf_theta(const est_model *e, size_t *dim) {
  (void)e;
  *dim = 0;
  return NULL;
}

static int slhf_policy(const est_model *e, int32_t first, size_t m, double *p) {
  if (first != 0 || m != e->m || !e->p) return PS_EINVAL;
  memcpy(p, e->p, m * sizeof(double));
  return PS_OK;
}

static void slhf_free(est_model *e) {
  if (!e) return;
  free(e->M);
  free(e->p);
  free(e);
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
    .logit = slhf_logit,
    .theta = slhf_theta,
    .policy = slhf_policy,
    .free = slhf_free,
};
