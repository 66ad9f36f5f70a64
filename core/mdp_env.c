/* mdp_env.c — optimal values, successor features, reward features and segment
 * sums of a deterministic episodic MDP's dynamics, each under an explicit reward
 * (see mdp_env.h; docs/theory.md §2.10, §3.8).  The true reward lives in sim/mdp.c.
 *
 * Solvers.  gamma = 1: V* is a longest-path problem to the terminals, solved by
 * Bellman-Ford from V = 0 at terminals and -inf elsewhere: after k sweeps V(s) is the
 * best return among episodes of at most k steps, so without positive cycles it is
 * exact after n_states sweeps; a value still rising then proves a positive cycle
 * (V* unbounded).  gamma < 1: Howard policy iteration, each policy evaluated exactly
 * by an LU solve of (I - gamma P_pi) V = r_pi; a policy changes only where the
 * improvement exceeds a relative 1e-12, so rounding cannot make it cycle.  Value
 * iteration would need ~log(eps)/log(gamma) sweeps (30 000 at gamma = 0.999).
 *
 * Invariants: terminal and wall rows of every value, Q, A and feature table are 0;
 * next[] never points into a wall. */
#include "mdp_env.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* relative tolerance for ties between action values (argmax, policy switches) */
#define MDP_TIE_TOL 1e-12

static int is_start(const mdp_env *env, size_t s) { return !env->terminal[s] && !env->wall[s]; }

int mdp_is_start(const mdp_env *env, size_t s) { return is_start(env, s); }

size_t mdp_n_starts(const mdp_env *env) {
  size_t k = 0;
  for (size_t s = 0; s < env->n_states; s++) k += is_start(env, s);
  return k;
}

void mdp_env_free(mdp_env *env) {
  if (!env) return;
  free(env->next);
  free(env->terminal);
  free(env->wall);
  free(env->cell_type);
  memset(env, 0, sizeof *env);
}

/* ------------------------------------------------------------------- solving */

void mdp_solution_free(mdp_solution *sol) {
  if (!sol) return;
  free(sol->v);
  free(sol->q);
  free(sol->adv);
  free(sol->policy);
  memset(sol, 0, sizeof *sol);
}

/* LU factors of I - gamma P_pi, with identity rows at terminals and walls.  With
 * gamma = 1 and a policy that cycles without reaching a terminal the matrix is
 * singular (exactly: its cycle rows sum to 0), detected on U's diagonal. */
static int policy_system(const mdp_env *env, const int32_t *policy, double gamma, gsl_matrix *A,
                         gsl_permutation *perm, ps_msg *msg) {
  size_t n = env->n_states;
  gsl_matrix_set_identity(A);
  for (size_t s = 0; s < n; s++) {
    if (!is_start(env, s)) continue;
    size_t t = (size_t)env->next[s * env->n_actions + (size_t)policy[s]];
    gsl_matrix_set(A, s, t, gsl_matrix_get(A, s, t) - gamma);
  }
  int sign;
  if (gsl_linalg_LU_decomp(A, perm, &sign) != GSL_SUCCESS)
    return ps_fail(msg, PS_ESINGULAR, "LU factorisation of I - gamma P_pi failed");
  for (size_t s = 0; s < n; s++)
    if (fabs(gsl_matrix_get(A, s, s)) < 1e-12)
      return ps_fail(msg, PS_ESINGULAR,
                     "the policy never reaches a terminal from some state, so its undiscounted "
                     "values are undefined");
  return PS_OK;
}

/* V = (I - gamma P_pi)^{-1} r_pi from the factors of policy_system */
static void policy_values(const mdp_env *env, const double *reward, const int32_t *policy,
                          const gsl_matrix *LU, const gsl_permutation *perm, double *v) {
  size_t n = env->n_states;
  for (size_t s = 0; s < n; s++) v[s] = is_start(env, s) ? reward[s * env->n_actions + (size_t)policy[s]] : 0;
  gsl_vector_view vv = gsl_vector_view_array(v, n);
  gsl_linalg_LU_svx(LU, perm, &vv.vector);
  for (size_t s = 0; s < n; s++)
    if (!is_start(env, s)) v[s] = 0; /* exact zeros, not rounding residue */
}

/* Q from V; greedy policy with lowest-index ties; Bellman residual */
static void finish_solution(const mdp_env *env, const double *reward, mdp_solution *sol) {
  size_t n = env->n_states, A = env->n_actions;
  double res = 0;
  for (size_t s = 0; s < n; s++) {
    if (!is_start(env, s)) {
      for (size_t a = 0; a < A; a++) sol->q[s * A + a] = sol->adv[s * A + a] = 0;
      sol->policy[s] = 0;
      continue;
    }
    double best = -INFINITY;
    for (size_t a = 0; a < A; a++) {
      double q = reward[s * A + a] + sol->gamma * sol->v[env->next[s * A + a]];
      sol->q[s * A + a] = q;
      if (q > best) best = q;
    }
    double tol = MDP_TIE_TOL * (1 + fabs(best));
    int32_t pick = 0;
    for (size_t a = A; a-- > 0;)
      if (sol->q[s * A + a] >= best - tol) pick = (int32_t)a;
    sol->policy[s] = pick;
    for (size_t a = 0; a < A; a++) sol->adv[s * A + a] = sol->q[s * A + a] - sol->v[s];
    res = fmax(res, fabs(sol->v[s] - best));
  }
  sol->residual = res;
}

static int solve_bellman_ford(const mdp_env *env, const double *reward, mdp_solution *sol, ps_msg *msg) {
  size_t n = env->n_states, A = env->n_actions;
  double *v = sol->v;
  for (size_t s = 0; s < n; s++) v[s] = is_start(env, s) ? -INFINITY : 0;
  int changed = 1;
  size_t sweep = 0;
  while (changed && sweep <= n) {
    changed = 0;
    sweep++;
    for (size_t s = 0; s < n; s++) {
      if (!is_start(env, s)) continue;
      for (size_t a = 0; a < A; a++) {
        double cand = reward[s * A + a] + v[env->next[s * A + a]];
        if (cand > v[s]) {
          v[s] = cand;
          changed = 1;
        }
      }
    }
  }
  sol->iterations = (int)sweep;
  if (changed)
    return ps_fail(msg, PS_ENOCONV,
                   "a positive-reward cycle makes V* unbounded at gamma = 1 (values still rising "
                   "after %zu sweeps)", n);
  for (size_t s = 0; s < n; s++)
    if (v[s] == -INFINITY)
      return ps_fail(msg, PS_ENOCONV, "state %zu cannot reach a terminal, so V* is undefined at gamma = 1", s);
  return PS_OK;
}

static int solve_policy_iteration(const mdp_env *env, const double *reward, const int32_t *warm,
                                  mdp_solution *sol, ps_msg *msg) {
  size_t n = env->n_states, A = env->n_actions;
  int status = PS_OK;
  gsl_matrix *LU = gsl_matrix_alloc(n, n);
  gsl_permutation *perm = gsl_permutation_alloc(n);
  int32_t *pi = sol->policy;
  if (!LU || !perm) {
    status = ps_fail(msg, PS_ENOMEM, "out of memory for policy iteration");
    goto done;
  }
  /* start: the warm policy, else myopically greedy */
  for (size_t s = 0; s < n; s++) {
    if (warm && warm[s] >= 0 && (size_t)warm[s] < A) {
      pi[s] = warm[s];
      continue;
    }
    size_t best = 0;
    for (size_t a = 1; a < A; a++)
      if (reward[s * A + a] > reward[s * A + best]) best = a;
    pi[s] = (int32_t)best;
  }
  /* Howard's iteration terminates in at most A^n steps, in practice a handful */
  int max_steps = 100 + 10 * (int)n;
  for (sol->iterations = 1;; sol->iterations++) {
    if ((status = policy_system(env, pi, sol->gamma, LU, perm, msg)) != PS_OK) goto done;
    policy_values(env, reward, pi, LU, perm, sol->v);
    int switched = 0;
    for (size_t s = 0; s < n; s++) {
      if (!is_start(env, s)) continue;
      double cur = reward[s * A + (size_t)pi[s]] + sol->gamma * sol->v[env->next[s * A + (size_t)pi[s]]];
      double best = cur;
      size_t arg = (size_t)pi[s];
      for (size_t a = 0; a < A; a++) {
        double q = reward[s * A + a] + sol->gamma * sol->v[env->next[s * A + a]];
        if (q > best) {
          best = q;
          arg = a;
        }
      }
      if (best > cur + MDP_TIE_TOL * (1 + fabs(cur))) {
        pi[s] = (int32_t)arg;
        switched = 1;
      }
    }
    if (!switched) break;
    if (sol->iterations >= max_steps) {
      status = ps_fail(msg, PS_ENOCONV, "policy iteration did not settle in %d steps", max_steps);
      goto done;
    }
  }
done:
  gsl_matrix_free(LU);
  gsl_permutation_free(perm);
  return status;
}


int mdp_solve(const mdp_env *env, const double *reward, double gamma, const int32_t *warm,
              mdp_solution *sol, ps_msg *msg) {
  memset(sol, 0, sizeof *sol);
  if (!(gamma > 0 && gamma <= 1)) return ps_fail(msg, PS_EINVAL, "gamma %g is outside (0, 1]", gamma);
  if (!reward) return ps_fail(msg, PS_EINVAL, "mdp_solve needs a reward");
  size_t n = env->n_states, A = env->n_actions;
  for (size_t k = 0; k < n * A; k++)
    if (!isfinite(reward[k])) return ps_fail(msg, PS_EDOM, "reward of (s, a) = (%zu, %zu) is not finite", k / A, k % A);
  sol->n_states = n;
  sol->n_actions = A;
  sol->gamma = gamma;
  sol->v = calloc(n, sizeof *sol->v);
  sol->q = calloc(n * A, sizeof *sol->q);
  sol->adv = calloc(n * A, sizeof *sol->adv);
  sol->policy = calloc(n, sizeof *sol->policy);
  if (!sol->v || !sol->q || !sol->adv || !sol->policy)
    return ps_fail(msg, PS_ENOMEM, "out of memory for a %zu-state solution", n);
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int status = gamma == 1 ? solve_bellman_ford(env, reward, sol, msg)
                          : solve_policy_iteration(env, reward, warm, sol, msg);
  gsl_set_error_handler(old);
  if (status != PS_OK) return status;
  finish_solution(env, reward, sol);
  return PS_OK;
}

int mdp_successor_features(const mdp_env *env, const int32_t *policy, double gamma, const double *psi,
                           size_t d, double *out, ps_msg *msg) {
  size_t n = env->n_states, A = env->n_actions;
  gsl_matrix *LU = gsl_matrix_alloc(n, n);
  gsl_permutation *perm = gsl_permutation_alloc(n);
  int status = PS_OK;
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  if (!LU || !perm) {
    status = ps_fail(msg, PS_ENOMEM, "out of memory for successor features");
    goto done;
  }
  if ((status = policy_system(env, policy, gamma, LU, perm, msg)) != PS_OK) goto done;
  for (size_t s = 0; s < n; s++)
    for (size_t k = 0; k < d; k++)
      out[s * d + k] = is_start(env, s) ? psi[(s * A + (size_t)policy[s]) * d + k] : 0;
  for (size_t k = 0; k < d; k++) {
    gsl_vector_view col = gsl_vector_view_array_with_stride(out + k, d, n);
    gsl_linalg_LU_svx(LU, perm, &col.vector);
  }
  for (size_t s = 0; s < n; s++)
    if (!is_start(env, s))
      for (size_t k = 0; k < d; k++) out[s * d + k] = 0;
done:
  gsl_set_error_handler(old);
  gsl_matrix_free(LU);
  gsl_permutation_free(perm);
  return status;
}


void mdp_greedy_policy(const mdp_env *env, const double *reward, int32_t *policy) {
  size_t n = env->n_states, A = env->n_actions;
  for (size_t s = 0; s < n; s++) {
    policy[s] = 0;
    if (!is_start(env, s)) continue;
    double best = -INFINITY;
    for (size_t a = 0; a < A; a++) best = fmax(best, reward[s * A + a]);
    double tol = MDP_TIE_TOL * (1 + fabs(best));
    for (size_t a = A; a-- > 0;)
      if (reward[s * A + a] >= best - tol) policy[s] = (int32_t)a;
  }
}

/* ------------------------------------------------------------------ features */

void mdp_features_free(mdp_features *f) {
  if (!f) return;
  free(f->psi);
  memset(f, 0, sizeof *f);
}

int mdp_features_alloc(mdp_features *f, const mdp_env *env, mdp_feature_kind kind, ps_msg *msg) {
  memset(f, 0, sizeof *f);
  size_t n = env->n_states, A = env->n_actions, d;
  switch (kind) {
  case MDP_FEAT_CELL_TYPE: d = env->n_types; break;
  case MDP_FEAT_STATE: d = n; break;
  case MDP_FEAT_STATE_ACTION: d = n * A; break;
  default: return ps_fail(msg, PS_EINVAL, "unknown feature kind %d", (int)kind);
  }
  double *psi = calloc(n * A * d, sizeof *psi);
  if (!psi) return ps_fail(msg, PS_ENOMEM, "out of memory for a %zu x %zu feature table", n * A, d);
  for (size_t s = 0; s < n; s++) {
    if (!is_start(env, s)) continue;
    for (size_t a = 0; a < A; a++) {
      size_t k = s * A + a, t = (size_t)env->next[k];
      size_t j = kind == MDP_FEAT_CELL_TYPE ? (size_t)env->cell_type[t] : kind == MDP_FEAT_STATE ? t : k;
      psi[k * d + j] = 1;
    }
  }
  f->kind = kind;
  f->d = d;
  f->n_states = n;
  f->n_actions = A;
  f->psi = psi;
  return PS_OK;
}

void mdp_reward_from_weight(const mdp_features *f, const double *w, double *reward) {
  size_t nk = f->n_states * f->n_actions, d = f->d;
  for (size_t k = 0; k < nk; k++) {
    double r = 0;
    const double *p = f->psi + k * d;
    for (size_t j = 0; j < d; j++) r += p[j] * w[j];
    reward[k] = r;
  }
}

/* ------------------------------------------------------------------ segments */

void mdp_segments_free(mdp_segments *seg) {
  if (!seg) return;
  free(seg->state);
  free(seg->action);
  memset(seg, 0, sizeof *seg);
}

double mdp_segment_return(const mdp_env *env, const double *reward, double gamma, const mdp_segments *seg,
                          size_t i) {
  size_t L = seg->len, A = env->n_actions;
  const int32_t *st = seg->state + i * (L + 1), *ac = seg->action + i * L;
  double pr = 0, disc = 1;
  for (size_t t = 0; t < L; t++) {
    pr += disc * reward[(size_t)st[t] * A + (size_t)ac[t]];
    disc *= gamma;
  }
  return pr;
}

void mdp_segment_features(const mdp_features *f, double gamma, const mdp_segments *seg, size_t i,
                          double *out) {
  size_t L = seg->len, A = f->n_actions, d = f->d;
  const int32_t *st = seg->state + i * (L + 1), *ac = seg->action + i * L;
  for (size_t j = 0; j < d; j++) out[j] = 0;
  double disc = 1;
  for (size_t t = 0; t < L; t++) {
    const double *p = f->psi + ((size_t)st[t] * A + (size_t)ac[t]) * d;
    for (size_t j = 0; j < d; j++) out[j] += disc * p[j];
    disc *= gamma;
  }
}
