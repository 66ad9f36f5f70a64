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
 *               context, y, y' ~ pi_ref i.i.d. conditioned on y != y', or every
 *               pair of every context in turn (complete, balanced)        design.c
 *               with pi_ref(y|x) ∝ exp(s(y)/ref_temperature) (s = reward or a
 *               random direction of the same norm): low temperature = poor coverage */
#ifndef PS_SIM_SIM_H
#define PS_SIM_SIM_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/prefdata.h"
#include "../core/rankdata.h"
#include "../core/param.h"
#include "../core/ps.h"

/* What a world's comparisons are: items without features, items (responses of
 * contexts) with features, or trajectory segments of an MDP. */
typedef enum { WORLD_ITEMS = 0, WORLD_FEATURES = 1, WORLD_SEGMENTS = 2 } world_kind;
typedef enum { LINK_LOGISTIC = 0, LINK_PROBIT = 1 } link_kind;
typedef enum { DESIGN_UNIFORM = 0, DESIGN_POLICY = 1, DESIGN_COMPLETE = 2 } design_kind;
typedef enum { REF_REWARD = 0, REF_RANDOM = 1, REF_ANTI = 2 } ref_direction;

typedef struct world_type world_type;
typedef struct world world;
struct mdp;

#define WORLD_MAX_OWN 16 /* settings a world type may add to [world] */

typedef struct {
  world_kind kind;       /* the kind of data the world makes */
  const world_type *type; /* NULL: the built-in items or features world of that kind */
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
  double own[WORLD_MAX_OWN]; /* the type's own settings, in the order of type->params:
                              * read them with world_setting */
} world_spec;

/* A kind of world: one const table per kind, listed in world_registry (sim/worlds.c) as wt_NAME.
 * Adding a world is one file defining its world_type and one registry line.
 *   name     [world] kind = name
 *   params   its own [world] keys (NULL-key terminated, may be NULL): numbers, read
 *            with world_setting(spec, key); keys shared by several kinds (items,
 *            contexts, dim, ...) are the common [world] keys of experiment.c
 *   alloc    item and feature worlds: the items, contexts and features, drawn from r
 *            (stream PS_STREAM_WORLD); the population then draws the truth on it
 *   mdp_alloc  segment worlds: the MDP with its true reward (sim/mdp.h), drawn from r */
struct world_type {
  const char *name;
  const char *doc;
  world_kind kind;
  const ps_param *params;
  int (*alloc)(world *w, const world_spec *spec, gsl_rng *r, ps_msg *m);
  int (*mdp_alloc)(struct mdp *out, const world_spec *spec, gsl_rng *r, ps_msg *m);
};

/* NULL-terminated list of every world type; lookup by name (NULL if absent); the
 * names joined by '|' (static buffer). */
extern const world_type *const world_registry[];
const world_type *world_lookup(const char *name);
const char *world_names(void);

/* Setting `key` of spec's world type (one of type->params); NaN if it has none. */
double world_setting(const world_spec *spec, const char *key);

struct world {
  world_spec spec;
  size_t n_items;        /* items, or contexts * responses */
  size_t n_contexts;     /* 1 for item worlds */
  size_t m;              /* items per context */
  size_t d;              /* parameter dimension: n_items (items) or dim (features) */
  double *phi;           /* n_items x d, NULL for item worlds */
  int32_t *item_context; /* n_items; item i is response i % m of context i / m */
};

/* The annotators' true preferences (docs/theory.md §2.2, §2.8, §2.9):
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
typedef enum {
  POP_BT = 0, POP_GPM = 1, POP_CYCLE = 2, POP_CONDORCET = 3,
  POP_MIXTURE = 4, POP_IDEALPOINT = 5, POP_LOWRANK = 6, POP_LUCE = 7
} population_kind;

/* Kinds whose annotators come in K reward types with weights (mixture, luce). */
static inline int population_kind_typed(population_kind k) { return k == POP_MIXTURE || k == POP_LUCE; }

/* Heterogeneous annotators (docs/theory.md §2.4-2.7).  A population may have H annotators
 * (ids 0..H-1, the training users) plus new users (ids H..H+H_new-1, for few-shot
 * evaluation); every comparison is judged by one of them.  Each user h is a BT
 * judge with its own reward r_h (P_h(a > b) = F((r_h(a) - r_h(b))/T)):
 *   bt         r_h = r for every user (one reward)
 *   mixture    K types; type 0 (the majority) has weight 1 - minority, types 1..K-1
 *              share `minority`; type k >= 1 has parameter theta_k at `angle` degrees
 *              from theta_0 (orthonormal directions, equal norms); z_h ~ Cat(w) per
 *              user, or per comparison (assignment = comparison, MiCRo style: the
 *              label then follows the marginal sum_k w_k F(.) and users are alike)
 *   luce       the same K weighted types (items worlds), each choosing by Luce's rule on
 *              its own density q_k ~ Dirichlet(concentration 1_m) over the items:
 *              P_k(a > b) = q_k(a) / (q_k(a) + q_k(b)), i.e. BT with r_k = log q_k
 *              (centred); needs the logistic link at temperature 1 (docs/theory.md §2.12)
 *   idealpoint K prototypes p_k ~ N(0, scale^2 I_d) in feature space, user weights
 *              w_h ~ Dirichlet(concentration), ideal point a_h = sum_k w_hk p_k,
 *              r_h(y) = -||phi(y) - a_h||^2 (squared: exactly BT with 2 a^T phi - ||phi||^2)
 *              or -||phi(y) - a_h|| (euclidean, the PAL reference)
 *   lowrank    r_h(y) = phi(y)^T V w_h, V in R^{d x B} with orthonormal columns scaled by
 *              `norm`, w_h ~ Dirichlet (simplex, LoRe) or N(0, I_B/B) (free, RFM)
 * Then the NoisyBT layer (§2.4) per annotator: competence c_h = sigma(gamma_h) and
 * position bias q_h, P(first wins | h) = c_h P_h(first > second) + (1 - c_h) sigma(q_h);
 * a share `careless` of the annotators has competence careless_competence, the others
 * `competence`; q_h ~ N(0, bias^2).  Finally symmetric flips eps (§2.3). */

typedef struct {
  population_kind kind;
  double scale;          /* item worlds: sd of the true scores (bt) or embeddings (gpm) */
  double norm;           /* feature worlds: ||theta*|| */
  int grid;              /* bt item worlds: scores -scale i (centred) instead of N(0, scale^2) */
  size_t k;              /* gpm: 2-D blocks of the embedding */
  double tau;            /* gpm, cycle: tau in sigma(s / tau) */
  double delta;          /* condorcet: reward step */
  size_t annotators;     /* H training annotators (0: no annotator ids) */
  size_t new_annotators; /* extra users never in the training data (few-shot) */
  size_t types;          /* mixture: K >= 1 reward types */
  double minority;       /* mixture: total weight of types 1..K-1, in [0, 1) */
  double angle;          /* mixture: degrees between theta_0 and each minority type */
  int per_comparison;    /* mixture: type drawn per comparison (MiCRo) instead of per user */
  size_t prototypes;     /* idealpoint: K >= 1 */
  double concentration;  /* idealpoint, lowrank simplex: Dirichlet concentration > 0 */
  int euclidean;         /* idealpoint: r = -||phi - a|| instead of -||phi - a||^2 */
  size_t rank;           /* lowrank: B >= 1 */
  int free_weights;      /* lowrank: w_h ~ N(0, I/B) (RFM) instead of Dirichlet (LoRe) */
  int balanced;          /* mixture: user h has type h mod K (groups of equal size, e.g. one
                          * annotator id per group) instead of z_h ~ Cat(w) */
  double careless;       /* share of annotators that are careless, in [0, 1] */
  double spurious;       /* bt feature worlds: weight of the last feature in the annotators' reward
                          * only (the true reward leaves it out): a spurious feature, 0 = none */
  double careless_competence; /* their competence sigma(gamma) in (0, 1] */
  double competence;     /* the others' competence in (0, 1] (0 = unset: 1) */
  double bias;           /* sd of the position bias q_h */
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
  /* users (n_users = 0 when the population has no annotators) */
  size_t n_users;        /* training annotators + new users */
  size_t n_train_users;  /* ids 0..n_train_users-1 judge the training data */
  size_t n_types;        /* mixture: K; bt with users: 1; 0 when users have their own rewards */
  double *type_reward;   /* n_types x n_items (bt with users: a copy of reward) */
  double *type_theta;    /* n_types x d (mixture in feature or item space) */
  double *type_weight;   /* n_types: population weights w_k */
  int32_t *user_type;    /* n_users: z_h, or -1 (per-comparison mixture; own rewards) */
  double *user_vec;      /* idealpoint: a_h (n_users x d); lowrank: theta_h = V w_h (n_users x d) */
  double *user_weight;   /* idealpoint: n_users x prototypes; lowrank: n_users x rank */
  double *competence;    /* n_users: c_h = sigma(gamma_h) in (0, 1] */
  double *bias;          /* n_users: q_h */
  double *type_comp;     /* n_types: mean over training users of type k of c_h, times their share */
  double bias_term;      /* mean over training users of (1 - c_h) sigma(q_h) */
  int per_comparison;
  int euclidean;
  double *label_offset; /* n_items or NULL: added to reward in the labels only (population.spurious) */
  const double *phi;     /* the world's features (idealpoint, lowrank), not owned */
  size_t feat_dim;
} population;

/* Ties (docs/theory.md §2.11): a layer on the strict probability q = P(first > second) of
 * everything above (link, temperature, annotators, flips), so it composes with every
 * population, noise and design.  With pi_a / (pi_a + pi_b) = q:
 *   davidson    P(first) = q / (1 + nu sqrt(q (1 - q))), P(tie) = nu sqrt(q (1 - q)) / (same)
 *               (= pi_a / (pi_a + pi_b + nu sqrt(pi_a pi_b)), Davidson 1970);
 *   raokupper   with z = logit q: P(first) = sigma(z - eta), P(second) = sigma(-z - eta), the rest
 *               a tie (Rao & Kupper 1967).
 * Given no tie, Davidson's first item wins with probability q exactly; Rao–Kupper's with
 * sigma(z - eta) / (sigma(z - eta) + sigma(-z - eta)), which is further from 1/2 than q. */
typedef enum { NOISE_TIES_NONE = 0, NOISE_TIES_DAVIDSON = 1, NOISE_TIES_RAOKUPPER = 2 } noise_ties;

typedef struct {
  link_kind link;
  double temperature;    /* T > 0 */
  double flip;           /* symmetric label-flip rate eps in [0, 1/2) */
  noise_ties ties;       /* NONE: strict judgements only */
  double nu;             /* davidson: nu > 0 */
  double eta;            /* raokupper: eta > 0 */
} noise_spec;

/* The tie layer above: from the strict q, the probabilities of "first wins" and "tie". */
void noise_tie_split(const noise_spec *ns, double q, double *p_first, double *p_tie);

typedef struct {
  design_kind kind;
  double ref_temperature; /* DESIGN_POLICY: softmax temperature > 0 */
  ref_direction ref;
  size_t ranking;         /* 0: pairs; k >= 2: each query offers k items and the annotator ranks them
                           * (design_simulate_rankings) */
  size_t top;             /* rankings: items ranked, 1 <= top < k (a top-m ranking), 0 = all (full) */
} design_spec;

/* Build a world from spec with draws from r (stream PS_STREAM_WORLD).  PS_EINVAL on
 * a bad spec, PS_ENOMEM; on failure w is zeroed. */
int world_alloc(world *w, const world_spec *spec, gsl_rng *r, ps_msg *m);
void world_free(world *w);

/* The feature view an estimator may see (no truth in it). */
pref_features world_features(const world *w);

/* Draw the truth (stream PS_STREAM_POPULATION): rewards, then users and their types
 * or weights, then competences and biases.  PS_EINVAL names the bad key. */
int population_alloc(population *p, const world *w, const population_spec *spec, gsl_rng *r,
                     ps_msg *m);

/* Reward of item y for user h (docs/theory.md §2.4-2.7), before the temperature. */
double population_user_reward(const population *p, size_t h, int32_t y);
void population_free(population *p);

/* True probability that item a (shown first) is reported preferred over b: for a
 * population with annotators, the mean over the training annotators (the Bayes
 * predictor for a comparison by an unknown training annotator), with the NoisyBT
 * layer and flips. */
double noise_prob(const noise_spec *ns, const population *p, int32_t a, int32_t b);

/* Clean link probability F((r_a - r_b)/T), without flips or annotator noise; the
 * mean over the training annotators' own links for a population with annotators. */
double noise_prob_clean(const noise_spec *ns, const population *p, int32_t a, int32_t b);

/* The probability for annotator h (0 <= h < n_users), with its competence, bias and
 * the flips: the truth of one recorded comparison.  Without users it is noise_prob. */
double noise_prob_user(const noise_spec *ns, const population *p, size_t h, int32_t a, int32_t b);

/* Clean link of user h alone: F((r_h(a) - r_h(b))/T). */
double noise_prob_user_clean(const noise_spec *ns, const population *p, size_t h, int32_t a, int32_t b);

/* Simulate n comparisons into out (allocated here, with annotator = NULL and
 * first_won set): pairs from the design (stream rq), labels from the noise model
 * (stream rj), one uniform per row (ties, when the noise has them, split the same
 * draw: u < P(first) first wins, then a tie, else the second; the tie column is
 * allocated only then, so strict worlds draw and store exactly what they did before).  PS_EINVAL when the design cannot produce a pair. */
int design_simulate(pref_data *out, size_t n, const world *w, const population *p,
                    const noise_spec *ns, const design_spec *ds, gsl_rng *rq, gsl_rng *rj,
                    ps_msg *m);

/* As design_simulate, judged by users first..first+count-1 in turn (row i by user
 * first + i % count), with an annotator column (n_annotators = first + count).  The
 * plain design_simulate uses the training annotators 0..n_train_users-1 when the
 * population has users (and then also fills the annotator column). */
int design_simulate_users(pref_data *out, size_t n, const world *w, const population *p,
                          const noise_spec *ns, const design_spec *ds, size_t first, size_t count,
                          gsl_rng *rq, gsl_rng *rj, ps_msg *m);

/* Rankings (docs/theory.md §2.13): n queries, each offering ds->ranking = k distinct items of
 * one context and ranking all of them (ds->top = 0) or the best ds->top, into out (allocated
 * here; item ids as the world's; annotator column when the population has users).  The
 * offered set: uniform (a uniform context, k distinct responses uniformly, in a uniform
 * order), policy (k responses drawn one after another from pi_ref without replacement:
 * successive sampling), or complete (the k-subsets of every context in turn, in
 * lexicographic order, shown in a random order).  The judgement, for annotator h =
 * first + i % count (0 when count = 0):
 *   with probability 2 eps (noise.flip) a uniformly random order (the pair flip's "fair
 *   coin": every pairwise marginal of a full ranking is then eps + (1 - 2 eps) F);
 *   else, with probability 1 - c_h (careless), Plackett-Luce on u_j = -q_h j (j the
 *   presentation position: the pair case is sigma(q_h) for the first-shown item);
 *   else the items sorted by u_y / T + noise with u the annotator's reward (population_user_reward,
 *   a type drawn per ranking for per-comparison mixtures and condorcet) and i.i.d. standard
 *   Gumbel noise for the logistic link (Gumbel-max: exactly Plackett-Luce on u/T) or
 *   N(0, 1/2) for the probit link (Thurstone case V: every pair difference is N(0, 1), so
 *   a ranking of 2 is the pair design's Phi).
 * Every ranking draws from rq (context and items) and from rj (the flip and careless
 * uniforms, the type uniform, then one noise draw per offered item, in presentation
 * order), whatever the branch, so the streams stay aligned.  The unranked items of a
 * top-m ranking follow the ranked ones in presentation order.  PS_EINVAL for k < 2, k above
 * the responses per context, top >= k, ties, or a population without rewards (gpm,
 * cycle). */
int design_simulate_rankings(rank_data *out, size_t n, const world *w, const population *p, const noise_spec *ns,
                             const design_spec *ds, size_t first, size_t count, gsl_rng *rq, gsl_rng *rj,
                             ps_msg *m);

/* log pi_ref(y|x) of the design's reference policy for every item (normalised per
 * context): uniform for the uniform design, the softmax of the reward (or of a
 * random score drawn from rq) over ref_temperature for the policy design. */
int design_log_ref(const world *w, const population *p, const design_spec *ds, gsl_rng *rq,
                   double *log_ref, ps_msg *m);

/* First-shown and second-shown item of row i (from winner/loser and first_won). */
static inline int32_t pref_first(const pref_data *d, size_t i) {
  return (!d->first_won || d->first_won[i]) ? d->winner[i] : d->loser[i];
}
static inline int32_t pref_second(const pref_data *d, size_t i) {
  return (!d->first_won || d->first_won[i]) ? d->loser[i] : d->winner[i];
}

#endif
