/* mdp.c — the MDP worlds: grids with their true reward, segments drawn in them,
 * partial-return / regret labels and scaled returns under the truth (see mdp.h;
 * docs/theory.md §2.10, §3.8).  Solving, features and segment sums are core/mdp_env.c.
 *
 * Invariants: terminal and wall rows of the reward are 0; next[] never points into
 * a wall. */
#include "mdp.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"

static const double *reward_or_own(const mdp *m, const double *reward) {
  return reward ? reward : m->reward;
}

/* ------------------------------------------------------------------ building */

void mdp_free(mdp *m) {
  if (!m) return;
  mdp_env_free(&m->env);
  free(m->reward);
  free(m->type_reward);
  memset(m, 0, sizeof *m);
}

int mdp_grid_alloc(mdp *m_out, const mdp_grid_spec *spec, ps_msg *msg) {
  memset(m_out, 0, sizeof *m_out);
  size_t W = spec->width, H = spec->height, n = W * H;
  if (W == 0 || H == 0 || n > (size_t)INT32_MAX / MDP_N_ACTIONS)
    return ps_fail(msg, PS_EINVAL, "grid size %zu x %zu is empty or too large", W, H);
  if (!(spec->gamma > 0 && spec->gamma <= 1))
    return ps_fail(msg, PS_EINVAL, "gamma %g is outside (0, 1]", spec->gamma);
  if (!spec->cell_reward) return ps_fail(msg, PS_EINVAL, "cell_reward is required");
  mdp m = {.env = {.width = W, .height = H, .n_states = n, .n_actions = MDP_N_ACTIONS, .gamma = spec->gamma}};
  mdp_env *env = &m.env;
  env->next = malloc(n * MDP_N_ACTIONS * sizeof *env->next);
  m.reward = calloc(n * MDP_N_ACTIONS, sizeof *m.reward);
  env->terminal = calloc(n, 1);
  env->wall = calloc(n, 1);
  env->cell_type = malloc(n * sizeof *env->cell_type);
  m.type_reward = malloc(n * sizeof *m.type_reward); /* at most n types */
  int status = PS_OK;
  if (!env->next || !m.reward || !env->terminal || !env->wall || !env->cell_type || !m.type_reward) {
    status = ps_fail(msg, PS_ENOMEM, "out of memory for a %zu-state grid", n);
    goto fail;
  }
  for (size_t s = 0; s < n; s++) {
    env->wall[s] = spec->wall ? spec->wall[s] != 0 : 0;
    env->terminal[s] = spec->terminal ? spec->terminal[s] != 0 : 0;
    if (env->wall[s] && env->terminal[s]) {
      status = ps_fail(msg, PS_EINVAL, "cell %zu is both a wall and a terminal", s);
      goto fail;
    }
    if (!env->wall[s] && !isfinite(spec->cell_reward[s])) {
      status = ps_fail(msg, PS_EDOM, "cell %zu has a non-finite reward", s);
      goto fail;
    }
  }
  /* cell types: given (reward constant within each), or by distinct reward value */
  env->n_types = 0;
  if (spec->cell_type) {
    for (size_t s = 0; s < n; s++) {
      if (spec->cell_type[s] < 0 || (size_t)spec->cell_type[s] >= n) {
        status = ps_fail(msg, PS_EINVAL, "cell %zu has type %d outside [0, %zu)", s, (int)spec->cell_type[s], n);
        goto fail;
      }
      env->cell_type[s] = spec->cell_type[s];
      if ((size_t)env->cell_type[s] + 1 > env->n_types) env->n_types = (size_t)env->cell_type[s] + 1;
    }
    uint8_t *seen = calloc(env->n_types, 1);
    if (!seen) {
      status = ps_fail(msg, PS_ENOMEM, "out of memory");
      goto fail;
    }
    for (size_t s = 0; s < n; s++) {
      if (env->wall[s]) continue;
      int32_t t = env->cell_type[s];
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
    for (size_t t = 0; t < env->n_types; t++)
      if (!seen[t]) m.type_reward[t] = 0; /* a type used only by walls */
    free(seen);
  } else {
    for (size_t s = 0; s < n; s++) {
      env->cell_type[s] = 0; /* walls: never landed in, so any type */
      if (env->wall[s]) continue;
      size_t t = 0;
      while (t < env->n_types && m.type_reward[t] != spec->cell_reward[s]) t++;
      if (t == env->n_types) m.type_reward[env->n_types++] = spec->cell_reward[s];
      env->cell_type[s] = (int32_t)t;
    }
    if (env->n_types == 0) m.type_reward[env->n_types++] = 0; /* all walls */
  }
  /* transitions: moving off the grid or into a wall stays put; terminals absorb */
  static const int dx[MDP_N_ACTIONS] = {0, 1, 0, -1}, dy[MDP_N_ACTIONS] = {-1, 0, 1, 0};
  for (size_t s = 0; s < n; s++) {
    long x = (long)(s % W), y = (long)(s / W);
    for (int a = 0; a < MDP_N_ACTIONS; a++) {
      size_t k = s * MDP_N_ACTIONS + (size_t)a;
      long nx = x + dx[a], ny = y + dy[a];
      size_t t = s;
      if (!env->terminal[s] && !env->wall[s] && nx >= 0 && ny >= 0 && nx < (long)W && ny < (long)H &&
          !env->wall[(size_t)ny * W + (size_t)nx])
        t = (size_t)ny * W + (size_t)nx;
      env->next[k] = (int32_t)t;
      m.reward[k] = (env->terminal[s] || env->wall[s]) ? 0 : m.type_reward[env->cell_type[t]];
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

/* ------------------------------------------------------------------ features */

void mdp_true_weight(const mdp *m, const mdp_features *f, double *w) {
  const mdp_env *env = &m->env;
  size_t n = env->n_states, A = env->n_actions;
  switch (f->kind) {
  case MDP_FEAT_CELL_TYPE:
    for (size_t t = 0; t < env->n_types; t++) w[t] = m->type_reward[t];
    break;
  case MDP_FEAT_STATE:
    for (size_t s = 0; s < n; s++) w[s] = m->type_reward[env->cell_type[s]];
    break;
  case MDP_FEAT_STATE_ACTION:
    for (size_t k = 0; k < n * A; k++) w[k] = m->reward[k];
    break;
  }
}

/* ------------------------------------------------------------------ segments */

int mdp_segments_draw(const mdp_env *env, const mdp_segment_spec *spec, gsl_rng *r, mdp_segments *seg,
                      ps_msg *msg) {
  memset(seg, 0, sizeof *seg);
  size_t n = spec->n, L = spec->len, ns = mdp_n_starts(env);
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
  for (size_t s = 0, k = 0; s < env->n_states; s++)
    if (mdp_is_start(env, s)) starts[k++] = (int32_t)s;
  seg->n = n;
  seg->len = L;
  size_t A = env->n_actions, redraws = 0, max_redraws = 1000 * (n + 1);
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
        st[t + 1] = env->next[(size_t)s * A + (size_t)a];
        if (spec->drop_absorbing && env->terminal[st[t + 1]] && t + 1 < L) {
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

double mdp_segment_regret(const mdp *m, const double *reward, const mdp_solution *sol,
                          const mdp_segments *seg, size_t i) {
  size_t L = seg->len;
  const int32_t *st = seg->state + i * (L + 1);
  double pr = mdp_segment_return(&m->env, reward_or_own(m, reward), sol->gamma, seg, i);
  return sol->v[st[0]] - pr - pow(sol->gamma, (double)L) * sol->v[st[L]];
}

/* ------------------------------------------------------------------- labels */

/* the score whose difference, over T, is the logit: PR, or -regret */
static double label_score(const mdp *m, const double *reward, const mdp_solution *sol,
                          const mdp_label_spec *spec, const mdp_segments *seg, size_t i) {
  double sc = spec->model == MDP_LABEL_REGRET ? -mdp_segment_regret(m, reward, sol, seg, i)
                                              : mdp_segment_return(&m->env, reward_or_own(m, reward), m->env.gamma, seg, i);
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
  const mdp_env *env = &m->env;
  size_t n = env->n_states, A = env->n_actions;
  double *v = calloc(n, sizeof *v), *nv = calloc(n, sizeof *nv);
  if (!v || !nv) {
    free(v);
    free(nv);
    return NAN;
  }
  for (size_t h = 0; h < horizon; h++) {
    for (size_t s = 0; s < n; s++) {
      if (!mdp_is_start(env, s)) {
        nv[s] = 0;
        continue;
      }
      double acc = mode == 2 ? -INFINITY : 0;
      for (size_t a = 0; a < A; a++) {
        if (mode == 0 && (int32_t)a != policy[s]) continue;
        double q = reward[s * A + a] + env->gamma * v[env->next[s * A + a]];
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
    if (mdp_is_start(env, s)) {
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

