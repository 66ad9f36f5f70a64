/* mdp_env.h — the dynamics of a small deterministic episodic MDP, without its true
 * reward: what an estimator of a reward may see (docs/theory.md §2.10, §3.8).  The world
 * that owns the truth (sim/mdp.h) embeds an mdp_env and adds the reward.
 *
 * A grid MDP has width x height cells, state s = y * width + x, and four actions
 * (MDP_UP, MDP_RIGHT, MDP_DOWN, MDP_LEFT).  Moving off the grid or into a wall
 * leaves the agent where it is.  Terminal cells are absorbing: every action keeps
 * the agent there with reward 0, and those transitions are excluded from values
 * (V = Q = A = 0 at terminals) and from reward features (psi = 0).  Walls are cells
 * the agent can never occupy; they are never starts and their values are 0.
 *
 * Rewards are arrays of n_states * n_actions values r(s, a) (the landing state is
 * determined by (s, a)); every function here takes the reward explicitly.
 *
 * Values: with gamma = 1 V*(s) is the best return of an episode that ends in a
 * terminal (shortest paths, Bellman-Ford); with gamma < 1 it is the usual discounted
 * optimum (Howard policy iteration with exact evaluation).  Q* = r + gamma V*(s'),
 * A* = Q* - V*.  Partial return of a segment sigma = (s_0, a_0, ..., s_L):
 *
 *     PR(sigma) = sum_{t<L} gamma^t r(s_t, a_t, s_{t+1})
 *
 * Features psi(s, a, s') for linear rewards r_w = w^T psi (all zero out of terminals):
 *   MDP_FEAT_CELL_TYPE     one-hot of the cell type of s' (d = n_types)
 *   MDP_FEAT_STATE         one-hot of s' (d = n_states; tabular state reward)
 *   MDP_FEAT_STATE_ACTION  one-hot of (s, a) (d = n_states * n_actions; can express A*) */
#ifndef PS_CORE_MDP_ENV_H
#define PS_CORE_MDP_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "prefdata.h"
#include "ps.h"

enum { MDP_UP = 0, MDP_RIGHT = 1, MDP_DOWN = 2, MDP_LEFT = 3, MDP_N_ACTIONS = 4 };

typedef struct {
  size_t width, height;
  size_t n_states;         /* width * height (walls included, never occupied) */
  size_t n_actions;        /* 4 */
  int32_t *next;           /* n_states x n_actions: landing state, never a wall */
  uint8_t *terminal;       /* n_states: absorbing */
  uint8_t *wall;           /* n_states: never occupied */
  int32_t *cell_type;      /* n_states, in [0, n_types) */
  size_t n_types;
  double gamma;            /* in (0, 1]; 1 = undiscounted episodic */
} mdp_env;

/* Release the arrays of env (the builders of sim/mdp.h allocate them) and zero it;
 * NULL does nothing. */
void mdp_env_free(mdp_env *env);

/* 1 when s is a start: a cell that is neither a wall nor a terminal. */
int mdp_is_start(const mdp_env *env, size_t s);

/* Number of starts. */
size_t mdp_n_starts(const mdp_env *env);

/* ------------------------------------------------------------------ solving */

typedef struct {
  size_t n_states, n_actions;
  double gamma;
  double *v;          /* n_states: V*; 0 at terminals and walls */
  double *q;          /* n_states x n_actions: Q* = r + gamma V*(s') */
  double *adv;        /* n_states x n_actions: A* = Q* - V* (<= 0; 0 at terminals) */
  int32_t *policy;    /* n_states: greedy in Q*, lowest action index among ties */
  int iterations;     /* Bellman-Ford sweeps or policy-iteration steps */
  double residual;    /* max_s |V*(s) - max_a Q*(s,a)| (Bellman residual) */
} mdp_solution;

/* Optimal values of reward (required, n_states x n_actions) at discount gamma in
 * (0, 1].  sol is allocated here; release with mdp_solution_free (also after a
 * failure).  warm, if not NULL, is a policy to start policy iteration from (gamma < 1
 * only; speeds up repeated solves for slowly changing rewards).  Returns PS_OK;
 * PS_ENOCONV when gamma = 1 and a positive-reward cycle makes V* unbounded, or some
 * state cannot reach a terminal; PS_EINVAL / PS_EDOM on bad gamma, a NULL or
 * non-finite reward; PS_ENOMEM. */
int mdp_solve(const mdp_env *env, const double *reward, double gamma, const int32_t *warm,
              mdp_solution *sol, ps_msg *msg);

void mdp_solution_free(mdp_solution *sol);

/* Discounted feature expectations of a deterministic policy, Psi(s) = psi(s, pi(s))
 * + gamma Psi(s'), by one LU solve of (I - gamma P_pi) Psi = psi_pi (terminal and
 * wall rows: Psi = 0).  psi is the n_states x n_actions x d feature table, out is
 * n_states x d.  By the envelope theorem dV*_w(s)/dw = Psi^{pi*_w}(s) wherever
 * pi*_w is unique.  PS_ESINGULAR when gamma = 1 and pi never reaches a terminal
 * from some state; PS_ENOMEM. */
int mdp_successor_features(const mdp_env *env, const int32_t *policy, double gamma, const double *psi,
                           size_t d, double *out, ps_msg *msg);

/* Greedy one-step use of a reward as an advantage: policy[s] = argmax_a reward(s, a),
 * lowest index among ties (within 1e-12 relative).  Terminals and walls get 0. */
void mdp_greedy_policy(const mdp_env *env, const double *reward, int32_t *policy);

/* --------------------------------------------------------------- features */

typedef enum { MDP_FEAT_CELL_TYPE = 0, MDP_FEAT_STATE = 1, MDP_FEAT_STATE_ACTION = 2 } mdp_feature_kind;

typedef struct {
  mdp_feature_kind kind;
  size_t d;
  size_t n_states, n_actions;
  double *psi;        /* n_states x n_actions x d, row (s, a) at (s * n_actions + a) * d */
} mdp_features;

/* Fill f with the feature table of the given kind (see the top of this file).
 * PS_EINVAL on an unknown kind, PS_ENOMEM; f is left empty on failure. */
int mdp_features_alloc(mdp_features *f, const mdp_env *env, mdp_feature_kind kind, ps_msg *msg);
void mdp_features_free(mdp_features *f);

/* reward(s, a) = w^T psi(s, a) for every (s, a) (length n_states x n_actions). */
void mdp_reward_from_weight(const mdp_features *f, const double *w, double *reward);

/* -------------------------------------------------------------- segments */

typedef struct {
  size_t n;           /* number of segments */
  size_t len;         /* L: transitions per segment */
  int32_t *state;     /* n x (L + 1): s_0 .. s_L */
  int32_t *action;    /* n x L: a_0 .. a_{L-1} */
} mdp_segments;

void mdp_segments_free(mdp_segments *seg);

/* Partial return of segment i under reward (required) at discount gamma. */
double mdp_segment_return(const mdp_env *env, const double *reward, double gamma, const mdp_segments *seg,
                          size_t i);

/* Summed features of segment i, sum_t gamma^t psi(s_t, a_t), into out (length f->d). */
void mdp_segment_features(const mdp_features *f, double gamma, const mdp_segments *seg, size_t i,
                          double *out);

/* ------------------------------------------------------ trajectory view */

/* What a learner from segment comparisons sees (pref_features.traj): the dynamics,
 * the features of the reward it learns, and the segments the comparisons refer to
 * (item i of the data is segment i).  Everything is borrowed and must outlive the
 * models fitted on it. */
struct pref_trajectories {
  const mdp_env *env;           /* dynamics, and the gamma of the labeller's partial returns */
  const mdp_features *features; /* psi of r_w = w^T psi */
  const mdp_segments *seg;      /* the compared segments */
  double temperature;           /* T > 0 of the labeller being modelled (the experiment's setting) */
};

#endif
