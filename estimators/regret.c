/* regret.c — partial-return and regret preference models for segment comparisons
 * (see regret.h; docs/theory.md §3.8, Knox et al.'s regret preference model).
 *
 * Partial return: the logit of a row is w^T (Phi_+ - Phi_-) / T with Phi the
 * discounted feature sum of a segment, i.e. feature Bradley-Terry with the segments
 * as items and Phi / T as item features; bt_fit solves it by Newton-CG.
 *
 * Regret: for the current w, r_w = psi w, pi*_w and V*_w come from mdp_solve
 * (policy iteration warm-started at the previous policy, exact evaluation), then
 *
 *     regret_w(sigma)        = V*_w(s_0) - PR_w(sigma) - gamma^L V*_w(s_L)
 *     d regret_w(sigma) / dw = Psi(s_0) - Phi(sigma) - gamma^L Psi(s_L)
 *
 * with Psi the successor features of pi*_w.  The gradient of the mean loss is
 * accumulated as coefficients on states (for Psi) and on (s, a) pairs (for Phi),
 * so one evaluation costs O(rows + segments L + |S||A| d + |S|^2 d + |S|^3)
 * whatever d is.  V*_w is convex and piecewise linear in w, so the loss is neither
 * convex nor smooth: Adam with restarts, keeping the lowest-loss iterate. */
#include "regret.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "../core/adam.h"
#include "../core/numerics.h"
#include "bt.h"

regret_options regret_options_default(void) {
  regret_options o = {.l2 = 1e-3, .gamma = 0.999, .learning_rate = 0.2, .iterations = 1500,
                      .restarts = 4, .init_scale = 1.0};
  return o;
}

void regret_result_free(regret_result *res) {
  if (!res) return;
  free(res->w);
  free(res->policy);
  free(res->greedy);
  memset(res, 0, sizeof *res);
}

static int check_problem(const regret_problem *p, ps_msg *m) {
  if (!p->env || !p->f || !p->seg || !p->d) return ps_fail(m, PS_EINVAL, "regret problem is incomplete");
  if (!(p->temperature > 0) || !isfinite(p->temperature))
    return ps_fail(m, PS_EINVAL, "temperature %g must be finite and > 0", p->temperature);
  if (p->f->n_states != p->env->n_states || p->f->n_actions != p->env->n_actions)
    return ps_fail(m, PS_EINVAL, "features are for a %zu x %zu MDP, not %zu x %zu", p->f->n_states,
                   p->f->n_actions, p->env->n_states, p->env->n_actions);
  if (p->d->n == 0) return ps_fail(m, PS_EINVAL, "no comparisons");
  if (p->d->n_items != p->seg->n)
    return ps_fail(m, PS_EINVAL, "comparisons refer to %zu items but there are %zu segments",
                   p->d->n_items, p->seg->n);
  int s = pref_data_check(p->d, m);
  if (s != PS_OK) return s;
  for (size_t i = 0; i < p->seg->n * (p->seg->len + 1); i++)
    if (p->seg->state[i] < 0 || (size_t)p->seg->state[i] >= p->env->n_states)
      return ps_fail(m, PS_EINVAL, "segment state %d out of range", (int)p->seg->state[i]);
  for (size_t i = 0; i < p->seg->n * p->seg->len; i++)
    if (p->seg->action[i] < 0 || (size_t)p->seg->action[i] >= p->env->n_actions)
      return ps_fail(m, PS_EINVAL, "segment action %d out of range", (int)p->seg->action[i]);
  return PS_OK;
}

static double row_count(const pref_data *d, size_t i) { return d->count ? d->count[i] : 1.0; }

/* Phi: segments x d discounted feature sums (gamma of the MDP), divided by scale */
static double *segment_sums(const regret_problem *p, double scale) {
  size_t n = p->seg->n, d = p->f->d;
  double *phi = malloc((n * d + 1) * sizeof *phi);
  if (!phi) return NULL;
  for (size_t j = 0; j < n; j++) {
    mdp_segment_features(p->f, p->env->gamma, p->seg, j, phi + j * d);
    for (size_t k = 0; k < d; k++) phi[j * d + k] /= scale;
  }
  return phi;
}

/* ------------------------------------------------------------ partial return */

double regret_pr_objective(const regret_problem *p, const double *w, double *grad) {
  size_t d = p->f->d;
  double *phi = segment_sums(p, p->temperature);
  if (!phi) return NAN;
  const pref_data *pd = p->d;
  double loss = 0, W = pref_data_weight(pd);
  if (grad)
    for (size_t k = 0; k < d; k++) grad[k] = 0;
  for (size_t i = 0; i < pd->n; i++) {
    const double *a = phi + (size_t)pd->winner[i] * d, *b = phi + (size_t)pd->loser[i] * d;
    double z = 0;
    for (size_t k = 0; k < d; k++) z += w[k] * (a[k] - b[k]);
    double c = row_count(pd, i);
    loss += c * ps_softplus(-z);
    if (grad) {
      double g = -c * ps_sigmoid(-z); /* d softplus(-z) / dz */
      for (size_t k = 0; k < d; k++) grad[k] += g * (a[k] - b[k]);
    }
  }
  free(phi);
  if (grad)
    for (size_t k = 0; k < d; k++) grad[k] /= W;
  return loss / W;
}

/* the two policies of a fitted w: optimal at gamma, and one-step greedy */
static int finish_policies(const regret_problem *p, double gamma, regret_result *res, ps_msg *m) {
  size_t nk = p->env->n_states * p->env->n_actions;
  double *reward = malloc(nk * sizeof *reward);
  if (!reward) return ps_fail(m, PS_ENOMEM, "out of memory");
  mdp_reward_from_weight(p->f, res->w, reward);
  mdp_greedy_policy(p->env, reward, res->greedy);
  mdp_solution sol;
  int s = mdp_solve(p->env, reward, gamma, NULL, &sol, m);
  if (s == PS_OK) memcpy(res->policy, sol.policy, p->env->n_states * sizeof *res->policy);
  mdp_solution_free(&sol);
  free(reward);
  return s;
}

static int result_alloc(const regret_problem *p, regret_result *res, ps_msg *m) {
  memset(res, 0, sizeof *res);
  res->d = p->f->d;
  res->n_states = p->env->n_states;
  res->w = calloc(res->d, sizeof *res->w);
  res->policy = calloc(res->n_states, sizeof *res->policy);
  res->greedy = calloc(res->n_states, sizeof *res->greedy);
  if (!res->w || !res->policy || !res->greedy) return ps_fail(m, PS_ENOMEM, "out of memory for the result");
  return PS_OK;
}

int regret_fit_partial_return(const regret_problem *p, const regret_options *o, regret_result *res,
                              ps_msg *m) {
  memset(res, 0, sizeof *res);
  int status = check_problem(p, m);
  if (status != PS_OK) return res->status = status;
  if (!(o->l2 >= 0) || !isfinite(o->l2)) return res->status = ps_fail(m, PS_EINVAL, "l2 must be finite and >= 0");
  if (!(o->gamma > 0 && o->gamma < 1))
    return res->status = ps_fail(m, PS_EINVAL, "gamma %g (for the policy of r_w) is outside (0, 1)", o->gamma);
  if ((status = result_alloc(p, res, m)) != PS_OK) return res->status = status;
  size_t d = p->f->d;
  double *phi = segment_sums(p, p->temperature), *grad = malloc(d * sizeof *grad);
  bt_result br = {0};
  if (!phi || !grad) {
    status = ps_fail(m, PS_ENOMEM, "out of memory for segment features");
    goto done;
  }
  pref_features view = {.n_items = p->seg->n, .d = d, .phi = phi, .n_contexts = 1, .item_context = NULL};
  bt_options bo = bt_options_default();
  bo.l2 = o->l2;
  status = bt_fit(p->d, &view, &bo, &br, m);
  if (br.theta) memcpy(res->w, br.theta, d * sizeof *res->w);
  res->iterations = br.iterations;
  if (status != PS_OK) {
    ps_msg_prefix(m, "partial-return model");
    goto done;
  }
  /* report in the units of regret.h: mean loss, gradient of (mean loss + penalty / W) */
  double W = pref_data_weight(p->d);
  res->loss = regret_pr_objective(p, res->w, grad);
  double gn = 0;
  for (size_t k = 0; k < d; k++) {
    double g = grad[k] + o->l2 * res->w[k] / W;
    gn += g * g;
  }
  res->grad_norm = sqrt(gn);
  res->restart_spread = 0;
  status = finish_policies(p, o->gamma, res, m);
done:
  bt_result_free(&br);
  free(phi);
  free(grad);
  return res->status = status;
}

/* ------------------------------------------------------------------- regret */

double regret_regret_objective(const regret_problem *p, double gamma, const double *w, double *grad,
                               int32_t *warm, ps_msg *m) {
  const mdp_env *md = p->env;
  const mdp_segments *seg = p->seg;
  const pref_data *pd = p->d;
  size_t S = md->n_states, A = md->n_actions, d = p->f->d, L = seg->len;
  double *reward = malloc(S * A * sizeof *reward), *reg = malloc(seg->n * sizeof *reg);
  double *cseg = calloc(seg->n, sizeof *cseg), *psi = NULL, *cs = NULL, *csa = NULL;
  double loss = NAN;
  mdp_solution sol = {0};
  if (!reward || !reg || !cseg) {
    ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  mdp_reward_from_weight(p->f, w, reward);
  if (mdp_solve(md, reward, gamma, warm, &sol, m) != PS_OK) goto done;
  if (warm) memcpy(warm, sol.policy, S * sizeof *warm);
  /* regret of every segment under r_w; partial returns use the MDP's own gamma in
   * the labels but the model's gamma here, so that the telescoping identity holds */
  double gL = pow(gamma, (double)L);
  for (size_t j = 0; j < seg->n; j++) {
    const int32_t *st = seg->state + j * (L + 1), *ac = seg->action + j * L;
    double pr = 0, disc = 1;
    for (size_t t = 0; t < L; t++) {
      pr += disc * reward[(size_t)st[t] * A + (size_t)ac[t]];
      disc *= gamma;
    }
    reg[j] = sol.v[st[0]] - pr - gL * sol.v[st[L]];
  }
  double W = pref_data_weight(pd), T = p->temperature, acc = 0;
  for (size_t i = 0; i < pd->n; i++) {
    double z = (reg[pd->loser[i]] - reg[pd->winner[i]]) / T, c = row_count(pd, i);
    acc += c * ps_softplus(-z);
    double g = -c * ps_sigmoid(-z) / (T * W); /* d loss_i / dz, over T for dz/dregret */
    cseg[pd->loser[i]] += g;
    cseg[pd->winner[i]] -= g;
  }
  loss = acc / W;
  if (grad) {
    psi = malloc(S * d * sizeof *psi);
    cs = calloc(S, sizeof *cs);
    csa = calloc(S * A, sizeof *csa);
    if (!psi || !cs || !csa) {
      loss = NAN;
      ps_fail(m, PS_ENOMEM, "out of memory");
      goto done;
    }
    if (mdp_successor_features(md, sol.policy, gamma, p->f->psi, d, psi, m) != PS_OK) {
      loss = NAN;
      goto done;
    }
    for (size_t j = 0; j < seg->n; j++) {
      if (cseg[j] == 0) continue;
      const int32_t *st = seg->state + j * (L + 1), *ac = seg->action + j * L;
      cs[st[0]] += cseg[j];
      cs[st[L]] -= cseg[j] * gL;
      double disc = 1;
      for (size_t t = 0; t < L; t++) {
        csa[(size_t)st[t] * A + (size_t)ac[t]] -= cseg[j] * disc;
        disc *= gamma;
      }
    }
    for (size_t k = 0; k < d; k++) grad[k] = 0;
    for (size_t s = 0; s < S; s++)
      if (cs[s] != 0)
        for (size_t k = 0; k < d; k++) grad[k] += cs[s] * psi[s * d + k];
    for (size_t q = 0; q < S * A; q++)
      if (csa[q] != 0)
        for (size_t k = 0; k < d; k++) grad[k] += csa[q] * p->f->psi[q * d + k];
  }
done:
  mdp_solution_free(&sol);
  free(reward);
  free(reg);
  free(cseg);
  free(psi);
  free(cs);
  free(csa);
  return loss;
}

int regret_fit_regret(const regret_problem *p, const regret_options *o, gsl_rng *r, regret_result *res,
                      ps_msg *m) {
  memset(res, 0, sizeof *res);
  int status = check_problem(p, m);
  if (status != PS_OK) return res->status = status;
  if (!(o->gamma > 0 && o->gamma < 1))
    return res->status = ps_fail(m, PS_EINVAL, "the regret model needs gamma in (0, 1), got %g", o->gamma);
  if (!(o->learning_rate > 0) || o->iterations < 1 || o->restarts < 1 || !(o->init_scale >= 0))
    return res->status = ps_fail(m, PS_EINVAL, "learning_rate > 0, iterations >= 1, restarts >= 1 and "
                                               "init_scale >= 0 are required");
  if (o->restarts > 1 && !r) return res->status = ps_fail(m, PS_EINVAL, "restarts need a random stream");
  if ((status = result_alloc(p, res, m)) != PS_OK) return res->status = status;
  size_t d = p->f->d, S = p->env->n_states;
  double *w = malloc(d * sizeof *w), *g = malloc(d * sizeof *g);
  int32_t *warm = malloc(S * sizeof *warm);
  /* Adam (core/adam.h: beta1 = 0.9, beta2 = 0.999, eps = 1e-8), its bias corrections
   * from the running products b^t as this fit has always formed them */
  adam *opt = adam_alloc_bias(d, ADAM_BIAS_PRODUCT);
  if (!w || !g || !warm || !opt) {
    status = ps_fail(m, PS_ENOMEM, "out of memory for Adam");
    goto done;
  }
  double best = INFINITY, best_gn = NAN, lo = INFINITY, hi = -INFINITY;
  for (int rs = 0; rs < o->restarts; rs++) {
    for (size_t k = 0; k < d; k++) w[k] = rs == 0 ? 0 : o->init_scale * gsl_ran_gaussian(r, 1.0);
    adam_reset(opt);
    for (size_t s = 0; s < S; s++) warm[s] = -1;
    double run_best = INFINITY;
    for (int it = 1; it <= o->iterations + 1; it++) {
      double f = regret_regret_objective(p, o->gamma, w, g, warm, m);
      if (isnan(f)) {
        status = PS_EDOM;
        ps_msg_prefix(m, "regret model, restart %d, step %d", rs, it);
        goto done;
      }
      res->iterations++;
      if (f < run_best) run_best = f;
      if (f < best) {
        best = f;
        memcpy(res->w, w, d * sizeof *w);
        double gn = 0;
        for (size_t k = 0; k < d; k++) gn += g[k] * g[k];
        best_gn = sqrt(gn);
      }
      if (it > o->iterations) break; /* the last iterate is evaluated, not stepped from */
      adam_tick(opt);
      adam_update(opt, w, g, 0, d, o->learning_rate, 0);
    }
    lo = fmin(lo, run_best);
    hi = fmax(hi, run_best);
  }
  res->loss = best;
  res->grad_norm = best_gn;
  res->restart_spread = hi - lo;
  status = finish_policies(p, o->gamma, res, m);
done:
  free(w);
  free(g);
  free(warm);
  adam_free(opt);
  return res->status = status;
}
