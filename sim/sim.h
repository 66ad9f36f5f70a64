/* sim.h — the synthetic world, its annotators and the comparisons they make.
 *
 * The truth lives here and only here: the true parameter, the reward of every
 * item, and the probability that the first-shown item of a pair is preferred.
 * Estimators never see these structs; experiments/ joins them with estimates.
 *
 *   world       items (one context, m items) or contexts x responses with
 *               Gaussian features phi(x,y) ~ N(0, feature_scale^2 I_d)   world.c
 *   population  Bradley-Terry truth: item scores theta*_y ~ N(0, scale^2), or a
 *               feature parameter theta* of norm `norm`, uniform direction  population.c
 *   noise       P(a > b) = eps + (1-2 eps) F((r_a - r_b)/T), F = sigma or Phi  population.c
 *   design      which pairs are asked: uniform over distinct pairs of a uniform
 *               context, or y, y' ~ pi_ref i.i.d. conditioned on y != y'   design.c
 *               with pi_ref(y|x) ∝ exp(s(y)/ref_temperature) (s = reward or a
 *               random direction of the same norm): low temperature = poor coverage */
#ifndef PS_SIM_SIM_H
#define PS_SIM_SIM_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

typedef enum { WORLD_ITEMS = 0, WORLD_FEATURES = 1, WORLD_CORRIDOR = 2, WORLD_DELIVERY = 3, WORLD_GRID = 4 } world_kind;
typedef enum { LINK_LOGISTIC = 0, LINK_PROBIT = 1 } link_kind;
typedef enum { DESIGN_UNIFORM = 0, DESIGN_POLICY = 1 } design_kind;
typedef enum { REF_REWARD = 0, REF_RANDOM = 1 } ref_direction;

typedef struct {
  world_kind kind;
  size_t items;          /* WORLD_ITEMS: number of items m >= 2 */
  size_t contexts;       /* WORLD_FEATURES: number of contexts >= 1 */
  size_t responses;      /* WORLD_FEATURES: responses per context >= 2 */
  size_t dim;            /* WORLD_FEATURES: feature dimension d >= 1 */
  double feature_scale;  /* standard deviation of each feature entry, > 0 */
  /* MDP worlds (corridor, delivery: sim/mdp.h): comparisons of trajectory segments */
  size_t segment_length; /* transitions per segment */
  int features;          /* mdp_feature_kind of the learned reward r_w = w^T psi */
  int drop_absorbing;    /* redraw segments that step out of a terminal */
  int labeller;          /* mdp_label_model: partial return or regret */
  int behaviour;         /* mdp_behaviour of the segments: uniform or eps-greedy in A* */
  double behaviour_eps;  /* eps of the eps-greedy behaviour */
  size_t grid_width, grid_height; /* grid worlds: size; goal (terminal) in the last cell */
  double step_reward, goal_reward, bad_reward; /* grid worlds: landing rewards */
  double bad_fraction;   /* grid worlds: share of cells that are bad terminals (placed at random) */
} world_spec;

typedef struct {
  world_spec spec;
  size_t n_items;        /* items, or contexts * responses */
  size_t n_contexts;     /* 1 for item worlds */
  size_t m;              /* items per context */
  size_t d;              /* parameter dimension: n_items (items) or dim (features) */
  double *phi;           /* n_items x d, NULL for item worlds */
  int32_t *item_context; /* n_items; item i is response i % m of context i / m */
} world;

/* The annotators' true preferences (THEORY.md §2.2, §2.8, §2.9):
 *   bt         one reward: item scores or linear features
 *   gpm        skew-symmetric general preference: embeddings v_y ~ N(0, scale^2 I_2k),
 *              s(a,b) = sum_l v_a[2l-1] v_b[2l] - v_a[2l] v_b[2l-1], P = F(s/(tau T))
 *   cycle      the GPM with k = 1 and unit vectors at angles 2 pi y / m: every item
 *              beats the next one around the circle (m = 3: the 3-cycle, s = sqrt(3)/2)
 *   condorcet  three equal-weight BT annotator types with rewards
 *              r_k(y) = delta ((m-1-y + floor(k m/3)) mod m): each is transitive, the
 *              population is not (m = 3: the Condorcet mixture of §2.9); m >= 3
 * The last three are item worlds only; they have no parameter theta (d = 0) and
 * their `reward` is the Borda score mean_j P(y > j) (used by policy designs and
 * Kendall's tau). */
typedef enum { POP_BT = 0, POP_GPM = 1, POP_CYCLE = 2, POP_CONDORCET = 3 } population_kind;

typedef struct {
  population_kind kind;
  double scale;          /* item worlds: sd of the true scores (bt) or embeddings (gpm) */
  double norm;           /* feature worlds: ||theta*|| */
  size_t k;              /* gpm: 2-D blocks of the embedding */
  double tau;            /* gpm, cycle: tau in sigma(s / tau) */
  double delta;          /* condorcet: reward step */
} population_spec;

typedef struct {
  population_kind kind;
  size_t n_items;
  size_t d;
  double *theta;         /* true parameter; item scores are centred (sum 0); NULL when d = 0 */
  double *reward;        /* n_items: r(y) = theta*_y or theta*^T phi(y); Borda score otherwise */
  size_t k;              /* gpm / cycle */
  double *embed;         /* n_items x 2k */
  double tau;
  double *mix;           /* condorcet: 3 x n_items rewards */
} population;

typedef struct {
  link_kind link;
  double temperature;    /* T > 0 */
  double flip;           /* symmetric label-flip rate eps in [0, 1/2) */
} noise_spec;

typedef struct {
  design_kind kind;
  double ref_temperature; /* DESIGN_POLICY: softmax temperature > 0 */
  ref_direction ref;
} design_spec;

/* Build a world from spec with draws from r (stream PS_STREAM_WORLD).  PS_EINVAL on
 * a bad spec, PS_ENOMEM; on failure w is zeroed. */
int world_alloc(world *w, const world_spec *spec, gsl_rng *r, ps_msg *m);
void world_free(world *w);

/* The feature view an estimator may see (no truth in it). */
pref_features world_features(const world *w);

/* Draw the BT truth (stream PS_STREAM_POPULATION). */
int population_alloc(population *p, const world *w, const population_spec *spec, gsl_rng *r,
                     ps_msg *m);
void population_free(population *p);

/* True probability that item a (shown first) is reported preferred over b. */
double noise_prob(const noise_spec *ns, const population *p, int32_t a, int32_t b);

/* Clean link probability F((r_a - r_b)/T), without flips. */
double noise_prob_clean(const noise_spec *ns, const population *p, int32_t a, int32_t b);

/* Simulate n comparisons into out (allocated here, with annotator = NULL and
 * first_won set): pairs from the design (stream rq), labels from the noise model
 * (stream rj).  PS_EINVAL when the design cannot produce a pair. */
int design_simulate(pref_data *out, size_t n, const world *w, const population *p,
                    const noise_spec *ns, const design_spec *ds, gsl_rng *rq, gsl_rng *rj,
                    ps_msg *m);

/* First-shown and second-shown item of row i (from winner/loser and first_won). */
static inline int32_t pref_first(const pref_data *d, size_t i) {
  return (!d->first_won || d->first_won[i]) ? d->winner[i] : d->loser[i];
}
static inline int32_t pref_second(const pref_data *d, size_t i) {
  return (!d->first_won || d->first_won[i]) ? d->loser[i] : d->winner[i];
}

#endif
