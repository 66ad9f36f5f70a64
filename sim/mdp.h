/* mdp.h — the MDP worlds of regret vs partial-return segment preferences
 * (docs/theory.md §2.10): small deterministic episodic grids with their TRUE reward, the
 * segments drawn in them, their labellers and the scores of a policy under the truth.
 * The dynamics, solver, features and segment sums an estimator may see are in
 * core/mdp_env.h; an mdp is an mdp_env plus the reward.
 *
 * The reward of a transition is the reward of the cell it lands in, r(s,a,s') =
 * cell_reward[s'] (so "bumping" costs the reward of the current cell), 0 out of
 * terminals.  Regret of a segment sigma = (s_0, a_0, ..., s_L) under a reward with
 * optimal values V*:
 *
 *     regret(sigma) = V*(s_0) - PR(sigma) - gamma^L V*(s_L) = -sum_t gamma^t A*(s_t, a_t)
 *
 * Wherever a reward is asked for here, NULL means the MDP's own (the truth).  Each
 * feature kind of core/mdp_env.h represents the true reward exactly (mdp_true_weight). */
#ifndef PS_SIM_MDP_H
#define PS_SIM_MDP_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/mdp_env.h"
#include "../core/prefdata.h"
#include "../core/ps.h"

typedef struct mdp {
  mdp_env env;             /* dynamics and gamma: all an estimator may see */
  double *reward;          /* env.n_states x env.n_actions: true r(s, a, next); 0 out of terminals */
  double *type_reward;     /* env.n_types: reward of landing in a cell of that type */
} mdp;

/* A grid described cell by cell (row-major, y * width + x). */
typedef struct {
  size_t width, height;
  const double *cell_reward;     /* reward of landing in each cell (walls: ignored) */
  const uint8_t *wall;           /* NULL = no walls */
  const uint8_t *terminal;       /* NULL = no terminals */
  const int32_t *cell_type;      /* NULL = one type per distinct reward value, numbered in
                                    order of first appearance; else the reward must be
                                    constant within each type */
  double gamma;                  /* (0, 1] */
} mdp_grid_spec;

/* Build a grid MDP from spec.  Returns PS_OK, PS_EINVAL (size 0, gamma outside (0,1],
 * non-finite reward, terminal wall, reward not constant within a type) or
 * PS_ENOMEM; on failure *m_out is left empty (safe to mdp_free). */
int mdp_grid_alloc(mdp *m_out, const mdp_grid_spec *spec, ps_msg *msg);

/* The corridor of docs/theory.md §2.10: a 5 x 1 grid, states 0..4, goal 4 terminal, reward
 * -1 for every step (moving, or bumping into an end or the side walls), gamma 1, so
 * V*(s) = -(4 - s).  Two cell types: corridor (0) and goal (1), both -1. */
int mdp_corridor_alloc(mdp *m_out, ps_msg *msg);

/* A delivery-style grid (after Knox et al.'s delivery domain), gamma 1, 6 x 6:
 *
 *     y\x  0 1 2 3 4 5          types and rewards of landing there
 *      0   . . . . . .            .  road        -1  (the per-step cost)
 *      1   . m # X . .            m  mildly bad  -3  (step -1, mud -2)
 *      2   . m . X . G            X  very bad   -25  terminal (running over a sheep)
 *      3   . . . m . .            G  goal       +10  terminal (the delivery)
 *      4   X . m . # .            #  wall (a house): cannot be entered
 *      5   . . . . . .
 *
 * Types: road 0, goal 1, mildly bad 2, very bad 3 (cell-type features use this
 * order).  From every start the optimal policy delivers (no start prefers the -25
 * exit); several starts have a short route through mud and a longer dry one. */
int mdp_delivery_alloc(mdp *m_out, ps_msg *msg);

void mdp_free(mdp *m);

/* --------------------------------------------------------------- features */

/* The weight w (length f->d) with w^T psi(s, a) = m->reward(s, a) for every
 * non-terminal (s, a).  For MDP_FEAT_STATE, weights of walls and terminals are the
 * cell rewards too (a terminal's is the reward of arriving there). */
void mdp_true_weight(const mdp *m, const mdp_features *f, double *w);

/* -------------------------------------------------------------- segments */

typedef enum { MDP_BEHAVIOUR_UNIFORM = 0, MDP_BEHAVIOUR_EPS_GREEDY = 1 } mdp_behaviour;

typedef struct {
  size_t n;                    /* segments to draw */
  size_t len;                  /* L >= 1 */
  mdp_behaviour behaviour;
  double eps;                  /* eps-greedy: probability of a uniform action, in [0, 1] */
  const int32_t *greedy;       /* eps-greedy: the greedy action per state (e.g. the policy of
                                  mdp_solve, greedy w.r.t. A*); required for EPS_GREEDY */
  int drop_absorbing;          /* redraw segments that would step out of a terminal (they
                                  reach one before step L), so every transition is real */
} mdp_segment_spec;

/* Draw spec->n segments from r: s_0 uniform over the starts, actions from the
 * behaviour policy (uniform: gsl_rng_uniform_int; eps-greedy: a Bernoulli(eps)
 * draw, then uniform or greedy).  Once a segment is in a terminal it stays there
 * (absorbing, reward 0) unless drop_absorbing asks for a redraw; at most 1000 n
 * redraws are tried (PS_ENOCONV beyond, e.g. when L is longer than every path).
 * seg is allocated here; release with mdp_segments_free (also after a failure). */
int mdp_segments_draw(const mdp_env *env, const mdp_segment_spec *spec, gsl_rng *r, mdp_segments *seg,
                      ps_msg *msg);

/* regret(sigma_i) = V*(s_0) - PR - gamma^L V*(s_L) with the values, reward and gamma of
 * sol; reward must be the one sol was solved for (NULL = m->reward). */
double mdp_segment_regret(const mdp *m, const double *reward, const mdp_solution *sol,
                          const mdp_segments *seg, size_t i);

/* --------------------------------------------------------------- labels */

typedef enum { MDP_LABEL_PARTIAL_RETURN = 0, MDP_LABEL_REGRET = 1 } mdp_label_model;

typedef struct {
  mdp_label_model model;
  double temperature;  /* T > 0: P(1 > 2) = sigma((PR_1 - PR_2)/T) or sigma((regret_2 - regret_1)/T) */
  int round2;          /* reference generator [C]: round the score (PR, or
                          -regret = PR + V*(s_L) - V*(s_0)) to 2 decimals first */
  int drop_ties;       /* drop pairs whose (rounded) scores are equal */
} mdp_label_spec;

/* Label P(first > second) for segments i and j: the probability of the spec's model,
 * with the values of sol (solved for the MDP's own reward) and reward NULL = m->reward.
 * *tie (if not NULL) is set when the two (rounded) scores are equal. */
double mdp_label_prob(const mdp *m, const double *reward, const mdp_solution *sol,
                      const mdp_label_spec *spec, const mdp_segments *seg, size_t i, size_t j, int *tie);

/* Label the pairs (2k, 2k+1), k < seg->n / 2: draw Bernoulli(P(first > second)) from r
 * (gsl_ran_bernoulli) and append a row to d (allocated here: items = segment ids,
 * with first_won) unless it is a tie to drop.  p_first (if not NULL, length
 * seg->n / 2) receives the true probability of each kept row's first segment
 * winning, in row order.  sol is the solution for reward (NULL = m->reward).
 * PS_EINVAL on T <= 0 or fewer than 2 segments; PS_ENOMEM.  d is left empty on
 * failure. */
int mdp_label_pairs(const mdp *m, const double *reward, const mdp_solution *sol,
                    const mdp_label_spec *spec, const mdp_segments *seg, gsl_rng *r, pref_data *d,
                    double *p_first, ps_msg *msg);

/* ------------------------------------------------------------ evaluation */

/* H-step return of a deterministic policy averaged uniformly over the starts, under
 * reward (NULL = m->reward) and m->env.gamma.  A policy that never reaches a terminal
 * is charged its H-step loop, so with H large it scores far below random. */
double mdp_policy_return(const mdp *m, const double *reward, const int32_t *policy, size_t horizon);

typedef struct {
  double policy_return;   /* J(pi) */
  double optimal_return;  /* J of the H-step optimum (= mean V* once H covers every optimal path) */
  double uniform_return;  /* J of the uniformly random policy */
  double scaled;          /* (J(pi) - J(unif)) / (J* - J(unif)): 1 optimal, 0 random */
} mdp_scaled;

/* Scaled return of policy under the MDP's TRUE reward and gamma, every return
 * being the H-step return averaged uniformly over the starts (docs/theory.md §3.8:
 * > 0.9 is near-optimal).  PS_EINVAL if H = 0 or J* = J(unif) (nothing to scale). */
int mdp_scaled_return(const mdp *m, const int32_t *policy, size_t horizon, mdp_scaled *out,
                      ps_msg *msg);

#endif
