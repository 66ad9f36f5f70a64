/* mdp.c — deterministic episodic grid MDPs, optimal values, segments and their
 * partial-return / regret labels (see mdp.h; THEORY.md §2.10, §3.8).
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
#include "mdp.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"

/* relative tolerance for ties between action values (argmax, policy switches) */
#define MDP_TIE_TOL 1e-12

static int is_start(const mdp *m, size_t s) { return !m->terminal[s] && !m->wall[s]; }

static const double *reward_or_own(const mdp *m, const double *reward) {
  return reward ? reward : m->reward;
}

/* ------------------------------------------------------------------ building */

void mdp_free(mdp *m) {
  if (!m) return;
  free(m->next);
  free(m->reward);
  free(m->terminal);
  free(m->wall);
  free(m->cell_type);
  free(m->type_reward);
  memset(m, 0, sizeof *m);
}

size_t mdp_n_starts(const mdp *m) {
  size_t k = 0;
  for (size_t s = 0; s < m->n_states; s++) k += is_start(m, s);
  return k;
}

int mdp_grid_alloc(mdp *m_out, const mdp_grid_spec *spec, ps_msg *msg) {
  memset(m_out, 0, sizeof *m_out);
  size_t W = spec->width, H = spec->height, n = W * H;
  if (W == 0 || H == 0 || n > (size_t)INT32_MAX / MDP_N_ACTIONS)
    return ps_fail(msg, PS_EINVAL, "grid size %zu x %zu is empty or too large", W, H);
  if (!(spec->gamma > 0 && spec->gamma <= 1))
    return ps_fail(msg, PS_EINVAL, "gamma %g is outside (0, 1]", spec->gamma);
  if (!spec->cell_reward) return ps_fail(msg, PS_EINVAL, "cell_reward is required");
  mdp m = {.width = W, .height = H, .n_states = n, .n_actions = MDP_N_ACTIONS, .gamma = spec->gamma};
  m.next = malloc(n * MDP_N_ACTIONS * sizeof *m.next);
  m.reward = calloc(n * MDP_N_ACTIONS, sizeof *m.reward);
  m.terminal = calloc(n, 1);
  m.wall = calloc(n, 1);
  m.cell_type = malloc(n * sizeof *m.cell_type);
  m.type_reward = malloc(n * sizeof *m.type_reward); /* at most n types */
  int status = PS_OK;
  if (!m.next || !m.reward || !m.terminal || !m.wall || !m.cell_type || !m.type_reward) {
    status = ps_fail(msg, PS_ENOMEM, "out of memory for a %zu-state grid", n);
    goto fail;
  }
  for (size_t s = 0; s < n; s++) {
    m.wall[s] = spec->wall ? spec->wall[s] != 0 : 0;
    m.terminal[s] = spec->terminal ? spec->terminal[s] != 0 : 0;
    if (m.wall[s] && m.terminal[s]) {
      status = ps_fail(msg, PS_EINVAL, "cell %zu is both a wall and a terminal", s);
      goto fail;
    }
    if (!m.wall[s] && !isfinite(spec->cell_reward[s])) {
      status = ps_fail(msg, PS_EDOM, "cell %zu has a non-finite reward", s);
      goto fail;
    }
  }
  /* cell types: given (reward constant within each), or by distinct reward value */
  m.n_types = 0;
  if (spec->cell_type) {
    for (size_t s = 0; s < n; s++) {
      if (spec->cell_type[s] < 0 || (size_t)spec->cell_type[s] >= n) {
        status = ps_fail(msg, PS_EINVAL, "cell %zu has type %d outside [0, %zu)", s, (int)spec->cell_type[s], n);
        goto fail;
      }
      m.cell_type[s] = spec->cell_type[s];
      if ((size_t)m.cell_type[s] + 1 > m.n_types) m.n_types = (size_t)m.cell_type[s] + 1;
    }
    uint8_t *seen = calloc(m.n_types, 1);
    if (!seen) {
      status = ps_fail(msg, PS_ENOMEM, "out of memory");
      goto fail;
    }
    for (size_t s = 0; s < n; s++) {
      if (m.wall[s]) continue;
      int32_t t = m.cell_type[s];
      if (!seen[t]) {
        seen[t] = 1;
        m.type_reward[t] = spec->cell_reward[s];
      } else if (m.type_reward[t] != spec->cell_reward[s]) {
        free(seen);
        status = ps_fail(msg, PS_EINVAL, "cell %zu has reward %g but type %d has reward %g", s,
                         spec->cell_reward[s], (int)t, m.type_reward[t]);
        goto fail;
      }
    }
    for (size_t t = 0; t < m.n_types; t++)
      if (!seen[t]) m.type_reward[t] = 0; /* a type used only by walls */
    free(seen);
  } else {
    for (size_t s = 0; s < n; s++) {
      m.cell_type[s] = 0; /* walls: never landed in, so any type */
      if (m.wall[s]) continue;
      size_t t = 0;
      while (t < m.n_types && m.type_reward[t] != spec->cell_reward[s]) t++;
      if (t == m.n_types) m.type_reward[m.n_types++] = spec->cell_reward[s];
      m.cell_type[s] = (int32_t)t;
    }
    if (m.n_types == 0) m.type_reward[m.n_types++] = 0; /* all walls */
  }
  /* transitions: moving off the grid or into a wall stays put; terminals absorb */
  static const int dx[MDP_N_ACTIONS] = {0, 1, 0, -1}, dy[MDP_N_ACTIONS] = {-1, 0, 1, 0};
  for (size_t s = 0; s < n; s++) {
    long x = (long)(s % W), y = (long)(s / W);
    for (int a = 0; a < MDP_N_ACTIONS; a++) {
      size_t k = s * MDP_N_ACTIONS + (size_t)a;
      long nx = x + dx[a], ny = y + dy[a];
      size_t t = s;
      if (!m.terminal[s] && !m.wall[s] && nx >= 0 && ny >= 0 && nx < (long)W && ny < (long)H &&
          !m.wall[(size_t)ny * W + (size_t)nx])
        t = (size_t)ny * W + (size_t)nx;
      m.next[k] = (int32_t)t;
      m.reward[k] = (m.terminal[s] || m.wall[s]) ? 0 : m.type_reward[m.cell_type[t]];
    }
  }
  *m_out = m;
  return PS_OK;
fail:
  mdp_free(&m);
  return status;
}

int mdp_corridor_alloc(mdp *m_out, ps_msg *msg) {
  double reward[5] = {-1, -1, -1, -1, -1};
  uint8_t terminal[5] = {0, 0, 0, 0, 1};
  int32_t type[5] = {0, 0, 0, 0, 1};
  mdp_grid_spec spec = {.width = 5, .height = 1, .cell_reward = reward, .terminal = terminal,
                        .cell_type = type, .gamma = 1};
  return mdp_grid_alloc(m_out, &spec, msg);
}

int mdp_delivery_alloc(mdp *m_out, ps_msg *msg) {
  static const char *const map[6] = {"......", ".m#X..", ".m.X.G", "...m..", "X.m.#.", "......"};
  static const double type_reward[4] = {-1, 10, -3, -25};
  double reward[36];
  uint8_t wall[36], terminal[36];
  int32_t type[36];
  for (size_t y = 0; y < 6; y++)
    for (size_t x = 0; x < 6; x++) {
      size_t s = y * 6 + x;
      char c = map[y][x];
      type[s] = c == 'G' ? 1 : c == 'm' ? 2 : c == 'X' ? 3 : 0;
      reward[s] = type_reward[type[s]];
      wall[s] = c == '#';
      terminal[s] = c == 'G' || c == 'X';
    }
  mdp_grid_spec spec = {.width = 6, .height = 6, .cell_reward = reward, .wall = wall,
                        .terminal = terminal, .cell_type = type, .gamma = 1};
  return mdp_grid_alloc(m_out, &spec, msg);
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
static int policy_system(const mdp *m, const int32_t *policy, double gamma, gsl_matrix *A,
                         gsl_permutation *perm, ps_msg *msg) {
  size_t n = m->n_states;
  gsl_matrix_set_identity(A);
  for (size_t s = 0; s < n; s++) {
    if (!is_start(m, s)) continue;
    size_t t = (size_t)m->next[s * m->n_actions + (size_t)policy[s]];
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
static void policy_values(const mdp *m, const double *reward, const int32_t *policy,
                          const gsl_matrix *LU, const gsl_permutation *perm, double *v) {
  size_t n = m->n_states;
  for (size_t s = 0; s < n; s++) v[s] = is_start(m, s) ? reward[s * m->n_actions + (size_t)policy[s]] : 0;
  gsl_vector_view vv = gsl_vector_view_array(v, n);
  gsl_linalg_LU_svx(LU, perm, &vv.vector);
  for (size_t s = 0; s < n; s++)
    if (!is_start(m, s)) v[s] = 0; /* exact zeros, not rounding residue */
}

/* Q from V; greedy policy with lowest-index ties; Bellman residual */
static void finish_solution(const mdp *m, const double *reward, mdp_solution *sol) {
  size_t n = m->n_states, A = m->n_actions;
  double res = 0;
  for (size_t s = 0; s < n; s++) {
    if (!is_start(m, s)) {
      for (size_t a = 0; a < A; a++) sol->q[s * A + a] = sol->adv[s * A + a] = 0;
      sol->policy[s] = 0;
      continue;
    }
    double best = -INFINITY;
    for (size_t a = 0; a < A; a++) {
      double q = reward[s * A + a] + sol->gamma * sol->v[m->next[s * A + a]];
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

static int solve_bellman_ford(const mdp *m, const double *reward, mdp_solution *sol, ps_msg *msg) {
  size_t n = m->n_states, A = m->n_actions;
  double *v = sol->v;
  for (size_t s = 0; s < n; s++) v[s] = is_start(m, s) ? -INFINITY : 0;
  int changed = 1;
  size_t sweep = 0;
  while (changed && sweep <= n) {
    changed = 0;
    sweep++;
    for (size_t s = 0; s < n; s++) {
      if (!is_start(m, s)) continue;
      for (size_t a = 0; a < A; a++) {
        double cand = reward[s * A + a] + v[m->next[s * A + a]];
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

static int solve_policy_iteration(const mdp *m, const double *reward, const int32_t *warm,
                                  mdp_solution *sol, ps_msg *msg) {
  size_t n = m->n_states, A = m->n_actions;
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
    if ((status = policy_system(m, pi, sol->gamma, LU, perm, msg)) != PS_OK) goto done;
    policy_values(m, reward, pi, LU, perm, sol->v);
    int switched = 0;
    for (size_t s = 0; s < n; s++) {
      if (!is_start(m, s)) continue;
      double cur = reward[s * A + (size_t)pi[s]] + sol->gamma * sol->v[m->next[s * A + (size_t)pi[s]]];
      double best = cur;
      size_t arg = (size_t)pi[s];
      for (size_t a = 0; a < A; a++) {
        double q = reward[s * A + a] + sol->gamma * sol->v[m->next[s * A + a]];
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

int mdp_solve(const mdp *m, const double *reward, double gamma, const int32_t *warm,
              mdp_solution *sol, ps_msg *msg) {
  memset(sol, 0, sizeof *sol);
  if (!(gamma > 0 && gamma <= 1)) return ps_fail(msg, PS_EINVAL, "gamma %g is outside (0, 1]", gamma);
  reward = reward_or_own(m, reward);
  size_t n = m->n_states, A = m->n_actions;
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
  int status = gamma == 1 ? solve_bellman_ford(m, reward, sol, msg)
                          : solve_policy_iteration(m, reward, warm, sol, msg);
  gsl_set_error_handler(old);
  if (status != PS_OK) return status;
  finish_solution(m, reward, sol);
  return PS_OK;
}

int mdp_successor_features(const mdp *m, const int32_t *policy, double gamma, const double *psi,
                           size_t d, double *out, ps_msg *msg) {
  size_t n = m->n_states, A = m->n_actions;
  gsl_matrix *LU = gsl_matrix_alloc(n, n);
  gsl_permutation *perm = gsl_permutation_alloc(n);
  int status = PS_OK;
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  if (!LU || !perm) {
    status = ps_fail(msg, PS_ENOMEM, "out of memory for successor features");
    goto done;
  }
  if ((status = policy_system(m, policy, gamma, LU, perm, msg)) != PS_OK) goto done;
  for (size_t s = 0; s < n; s++)
    for (size_t k = 0; k < d; k++)
      out[s * d + k] = is_start(m, s) ? psi[(s * A + (size_t)policy[s]) * d + k] : 0;
  for (size_t k = 0; k < d; k++) {
    gsl_vector_view col = gsl_vector_view_array_with_stride(out + k, d, n);
    gsl_linalg_LU_svx(LU, perm, &col.vector);
  }
  for (size_t s = 0; s < n; s++)
    if (!is_start(m, s))
      for (size_t k = 0; k < d; k++) out[s * d + k] = 0;
done:
  gsl_set_error_handler(old);
  gsl_matrix_free(LU);
  gsl_permutation_free(perm);
  return status;
}

/* ------------------------------------------------------------------ features */

void mdp_features_free(mdp_features *f) {
  if (!f) return;
  free(f->psi);
  memset(f, 0, sizeof *f);
}

int mdp_features_alloc(mdp_features *f, const mdp *m, mdp_feature_kind kind, ps_msg *msg) {
  memset(f, 0, sizeof *f);
  size_t n = m->n_states, A = m->n_actions, d;
  switch (kind) {
  case MDP_FEAT_CELL_TYPE: d = m->n_types; break;
  case MDP_FEAT_STATE: d = n; break;
  case MDP_FEAT_STATE_ACTION: d = n * A; break;
  default: return ps_fail(msg, PS_EINVAL, "unknown feature kind %d", (int)kind);
  }
  double *psi = calloc(n * A * d, sizeof *psi);
  if (!psi) return ps_fail(msg, PS_ENOMEM, "out of memory for a %zu x %zu feature table", n * A, d);
  for (size_t s = 0; s < n; s++) {
    if (!is_start(m, s)) continue;
    for (size_t a = 0; a < A; a++) {
      size_t k = s * A + a, t = (size_t)m->next[k];
      size_t j = kind == MDP_FEAT_CELL_TYPE ? (size_t)m->cell_type[t] : kind == MDP_FEAT_STATE ? t : k;
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

void mdp_true_weight(const mdp *m, const mdp_features *f, double *w) {
  size_t n = m->n_states, A = m->n_actions;
  switch (f->kind) {
  case MDP_FEAT_CELL_TYPE:
    for (size_t t = 0; t < m->n_types; t++) w[t] = m->type_reward[t];
    break;
  case MDP_FEAT_STATE:
    for (size_t s = 0; s < n; s++) w[s] = m->type_reward[m->cell_type[s]];
    break;
  case MDP_FEAT_STATE_ACTION:
    for (size_t k = 0; k < n * A; k++) w[k] = m->reward[k];
    break;
  }
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

int mdp_segments_draw(const mdp *m, const mdp_segment_spec *spec, gsl_rng *r, mdp_segments *seg,
                      ps_msg *msg) {
  memset(seg, 0, sizeof *seg);
  size_t n = spec->n, L = spec->len, ns = mdp_n_starts(m);
  if (L == 0) return ps_fail(msg, PS_EINVAL, "segment length must be >= 1");
  if (ns == 0) return ps_fail(msg, PS_EINVAL, "the MDP has no start states");
  if (spec->behaviour == MDP_BEHAVIOUR_EPS_GREEDY && (!spec->greedy || !(spec->eps >= 0 && spec->eps <= 1)))
    return ps_fail(msg, PS_EINVAL, "eps-greedy needs a greedy policy and eps in [0, 1] (eps = %g)", spec->eps);
  if (spec->behaviour != MDP_BEHAVIOUR_UNIFORM && spec->behaviour != MDP_BEHAVIOUR_EPS_GREEDY)
    return ps_fail(msg, PS_EINVAL, "unknown behaviour policy %d", (int)spec->behaviour);
  int32_t *starts = malloc(ns * sizeof *starts);
  seg->state = malloc((n * (L + 1) + 1) * sizeof *seg->state);
  seg->action = malloc((n * L + 1) * sizeof *seg->action);
  if (!starts || !seg->state || !seg->action) {
    free(starts);
    mdp_segments_free(seg);
    return ps_fail(msg, PS_ENOMEM, "out of memory for %zu segments", n);
  }
  for (size_t s = 0, k = 0; s < m->n_states; s++)
    if (is_start(m, s)) starts[k++] = (int32_t)s;
  seg->n = n;
  seg->len = L;
  size_t A = m->n_actions, redraws = 0, max_redraws = 1000 * (n + 1);
  for (size_t i = 0; i < n; i++) {
    int32_t *st = seg->state + i * (L + 1), *ac = seg->action + i * L;
    int retry;
    do {
      retry = 0;
      st[0] = starts[gsl_rng_uniform_int(r, ns)];
      for (size_t t = 0; t < L; t++) {
        int32_t s = st[t], a;
        if (spec->behaviour == MDP_BEHAVIOUR_EPS_GREEDY && !gsl_ran_bernoulli(r, spec->eps))
          a = spec->greedy[s];
        else
          a = (int32_t)gsl_rng_uniform_int(r, A);
        ac[t] = a;
        st[t + 1] = m->next[(size_t)s * A + (size_t)a];
        if (spec->drop_absorbing && m->terminal[st[t + 1]] && t + 1 < L) {
          retry = 1;
          break;
        }
      }
      if (retry && ++redraws > max_redraws) {
        free(starts);
        mdp_segments_free(seg);
        return ps_fail(msg, PS_ENOCONV,
                       "could not draw %zu segments of length %zu that avoid stepping out of a "
                       "terminal (%zu redraws)", n, L, max_redraws);
      }
    } while (retry);
  }
  free(starts);
  return PS_OK;
}

double mdp_segment_return(const mdp *m, const double *reward, double gamma, const mdp_segments *seg,
                          size_t i) {
  reward = reward_or_own(m, reward);
  size_t L = seg->len, A = m->n_actions;
  const int32_t *st = seg->state + i * (L + 1), *ac = seg->action + i * L;
  double pr = 0, disc = 1;
  for (size_t t = 0; t < L; t++) {
    pr += disc * reward[(size_t)st[t] * A + (size_t)ac[t]];
    disc *= gamma;
  }
  return pr;
}

double mdp_segment_regret(const mdp *m, const double *reward, const mdp_solution *sol,
                          const mdp_segments *seg, size_t i) {
  size_t L = seg->len;
  const int32_t *st = seg->state + i * (L + 1);
  double pr = mdp_segment_return(m, reward, sol->gamma, seg, i);
  return sol->v[st[0]] - pr - pow(sol->gamma, (double)L) * sol->v[st[L]];
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

/* ------------------------------------------------------------------- labels */

/* the score whose difference, over T, is the logit: PR, or -regret */
static double label_score(const mdp *m, const double *reward, const mdp_solution *sol,
                          const mdp_label_spec *spec, const mdp_segments *seg, size_t i) {
  double sc = spec->model == MDP_LABEL_REGRET ? -mdp_segment_regret(m, reward, sol, seg, i)
                                              : mdp_segment_return(m, reward, m->gamma, seg, i);
  if (spec->round2) sc = round(sc * 100) / 100;
  return sc;
}

double mdp_label_prob(const mdp *m, const double *reward, const mdp_solution *sol,
                      const mdp_label_spec *spec, const mdp_segments *seg, size_t i, size_t j, int *tie) {
  double a = label_score(m, reward, sol, spec, seg, i), b = label_score(m, reward, sol, spec, seg, j);
  if (tie) *tie = a == b;
  return ps_sigmoid((a - b) / spec->temperature);
}

int mdp_label_pairs(const mdp *m, const double *reward, const mdp_solution *sol,
                    const mdp_label_spec *spec, const mdp_segments *seg, gsl_rng *r, pref_data *d,
                    double *p_first, ps_msg *msg) {
  memset(d, 0, sizeof *d);
  if (!(spec->temperature > 0) || !isfinite(spec->temperature))
    return ps_fail(msg, PS_EINVAL, "temperature %g must be finite and > 0", spec->temperature);
  if (seg->n < 2) return ps_fail(msg, PS_EINVAL, "need at least 2 segments to form a pair");
  if (spec->model == MDP_LABEL_REGRET && !sol) return ps_fail(msg, PS_EINVAL, "regret labels need a solution");
  size_t pairs = seg->n / 2;
  if (pref_data_alloc(d, pairs, seg->n, 0, 1, 0) != PS_OK)
    return ps_fail(msg, PS_ENOMEM, "out of memory for %zu comparisons", pairs);
  size_t kept = 0;
  for (size_t k = 0; k < pairs; k++) {
    int tie;
    double p = mdp_label_prob(m, reward, sol, spec, seg, 2 * k, 2 * k + 1, &tie);
    if (tie && spec->drop_ties) continue;
    int first = (int)gsl_ran_bernoulli(r, p);
    d->winner[kept] = (int32_t)(first ? 2 * k : 2 * k + 1);
    d->loser[kept] = (int32_t)(first ? 2 * k + 1 : 2 * k);
    d->first_won[kept] = (uint8_t)first;
    if (p_first) p_first[kept] = p;
    kept++;
  }
  d->n = kept;
  return PS_OK;
}

/* ---------------------------------------------------------------- evaluation */

/* H-step returns averaged over the starts: mode 0 follows policy, 1 uniform, 2 optimal */
static double horizon_return(const mdp *m, const double *reward, const int32_t *policy, int mode,
                             size_t horizon) {
  size_t n = m->n_states, A = m->n_actions;
  double *v = calloc(n, sizeof *v), *nv = calloc(n, sizeof *nv);
  if (!v || !nv) {
    free(v);
    free(nv);
    return NAN;
  }
  for (size_t h = 0; h < horizon; h++) {
    for (size_t s = 0; s < n; s++) {
      if (!is_start(m, s)) {
        nv[s] = 0;
        continue;
      }
      double acc = mode == 2 ? -INFINITY : 0;
      for (size_t a = 0; a < A; a++) {
        if (mode == 0 && (int32_t)a != policy[s]) continue;
        double q = reward[s * A + a] + m->gamma * v[m->next[s * A + a]];
        if (mode == 2) acc = fmax(acc, q);
        else acc += mode == 1 ? q / (double)A : q;
      }
      nv[s] = acc;
    }
    double *tmp = v;
    v = nv;
    nv = tmp;
  }
  double sum = 0;
  size_t ns = 0;
  for (size_t s = 0; s < n; s++)
    if (is_start(m, s)) {
      sum += v[s];
      ns++;
    }
  free(v);
  free(nv);
  return ns ? sum / (double)ns : NAN;
}

double mdp_policy_return(const mdp *m, const double *reward, const int32_t *policy, size_t horizon) {
  return horizon_return(m, reward_or_own(m, reward), policy, 0, horizon);
}

int mdp_scaled_return(const mdp *m, const int32_t *policy, size_t horizon, mdp_scaled *out,
                      ps_msg *msg) {
  if (horizon == 0) return ps_fail(msg, PS_EINVAL, "horizon must be >= 1");
  out->policy_return = horizon_return(m, m->reward, policy, 0, horizon);
  out->uniform_return = horizon_return(m, m->reward, NULL, 1, horizon);
  out->optimal_return = horizon_return(m, m->reward, NULL, 2, horizon);
  if (isnan(out->policy_return) || isnan(out->uniform_return) || isnan(out->optimal_return))
    return ps_fail(msg, PS_ENOMEM, "out of memory (or no start states) for the returns");
  double span = out->optimal_return - out->uniform_return;
  if (!(span > 0)) {
    out->scaled = NAN;
    return ps_fail(msg, PS_EINVAL, "the optimal and uniform policies have the same return %g",
                   out->optimal_return);
  }
  out->scaled = (out->policy_return - out->uniform_return) / span;
  return PS_OK;
}

void mdp_greedy_policy(const mdp *m, const double *reward, int32_t *policy) {
  size_t n = m->n_states, A = m->n_actions;
  for (size_t s = 0; s < n; s++) {
    policy[s] = 0;
    if (!is_start(m, s)) continue;
    double best = -INFINITY;
    for (size_t a = 0; a < A; a++) best = fmax(best, reward[s * A + a]);
    double tol = MDP_TIE_TOL * (1 + fabs(best));
    for (size_t a = A; a-- > 0;)
      if (reward[s * A + a] >= best - tol) policy[s] = (int32_t)a;
  }
}
