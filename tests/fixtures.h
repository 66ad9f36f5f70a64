/* fixtures.h — simulated data shared by the cmocka tests.
 *
 * Three kinds of fixture, each once:
 *
 *   fixtures_sim     the project's own simulator (sim/): a world, its population and
 *                    n comparisons from the uniform design, every part from its own
 *                    Philox stream of one seed (as a cell of an experiment draws them).
 *   fixtures_judge   a small generator for planted truths that sim/ does not express
 *                    (hand-set scores, per-annotator flip rates, a user's ideal point):
 *                    annotators judge uniform pairs of distinct items of a uniform
 *                    context, P(first drawn wins) = eps_h + (1 - 2 eps_h) (sigma(g_h)
 *                    sigma(Delta) + sigma(-g_h) sigma(q_h)), Delta the annotator's
 *                    reward difference (or its own logit, from a callback).
 *   fixtures_rows... hand-written rows, the item view, unlabelled random rows for
 *                    gradient checks.
 *
 * Every fixture is a deterministic function of its arguments and the state of the
 * generator it is given, and draws in a documented order, so a test that switches
 * to it keeps its data bit for bit.  Failures are cmocka assertion failures. */
#ifndef PS_TESTS_FIXTURES_H
#define PS_TESTS_FIXTURES_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/prefdata.h"
#include "../estimators/estimator.h"
#include "../sim/sim.h"

/* ---- hand-written data ---- */

/* The item model's feature view: m items, one context, phi = NULL. */
pref_features fixtures_items_view(size_t m);

/* d = the n rows winner[i] > loser[i] over n_items items (no annotator, order or
 * count columns). */
void fixtures_rows(pref_data *d, size_t n_items, const int32_t *winner, const int32_t *loser, size_t n);

/* hyper[i] = the default text of t->params[i]; returns the number of parameters
 * (at most cap). */
size_t fixtures_default_hyper(const est_type *t, const char **hyper, size_t cap);

/* ---- games (margin matrices M = P - 1/2, row-major) ---- */

/* The 3-cycle 0 > 1 > 2 > 0 with margins M01 = m01, M12 = m12, M20 = m20. */
void fixtures_cycle3(double *M, double m01, double m12, double m20);
/* A random skew-symmetric m x m margin matrix, entries uniform in (-1/2, 1/2). */
void fixtures_random_margins(gsl_rng *r, double *M, size_t m);

/* ---- the project's simulator ---- */

typedef struct {
  world w;
  population p;
  pref_data d;
  pref_features f; /* world_features(&w) */
} fixtures_sim;

/* World from stream (seed, PS_STREAM_WORLD), population from (seed,
 * PS_STREAM_POPULATION), n comparisons of the uniform design with pairs from (seed,
 * PS_STREAM_QUERIES) and labels from (seed, PS_STREAM_JUDGEMENTS); every counter 0. */
void fixtures_sim_alloc(fixtures_sim *s, uint64_t seed, const world_spec *ws, const population_spec *ps,
                        const noise_spec *ns, size_t n);
void fixtures_sim_free(fixtures_sim *s);

/* ---- planted annotators ---- */

/* Which item of a judged row is recorded as shown first. */
typedef enum {
  FIXTURES_ORDER_NONE = 0, /* first_won = NULL: order unknown */
  FIXTURES_WINNER_FIRST,   /* first_won = 1 on every row */
  FIXTURES_DRAWN_FIRST     /* the first item drawn was shown first: first_won = it won */
} fixtures_order;

/* How the second item of a pair is drawn, a first drawn uniformly. */
typedef enum {
  FIXTURES_PAIR_REJECT = 0, /* b uniform, redrawn until b != a */
  FIXTURES_PAIR_SHIFT       /* b uniform over m - 1 values, moved up by one when >= a */
} fixtures_pair_draw;

typedef struct {
  size_t n_items;
  size_t n_contexts;    /* contexts the pairs are drawn from (0 or 1: one, and no context draw) */
  size_t responses;     /* items per context, contiguous (0: n_items / n_contexts); items past
                         * the drawn contexts are never compared */
  fixtures_pair_draw pair;
  const double *reward; /* n_types x n_items: r_z(y) of type z */
  size_t n_types;       /* >= 1 with reward */
  /* instead of reward: annotator h's logit of a (drawn first) against b */
  double (*logit)(const void *truth, size_t h, int32_t a, int32_t b);
  const void *truth;
  const double *type_weight; /* n_types: z_h ~ Cat(type_weight), one uniform drawn before h's
                              * rows; NULL: z_h = h mod n_types */
  const double *skill;       /* per annotator: competence logit g_h; NULL: sigma(g) = 1 */
  const double *bias;        /* per annotator: position bias q_h (with skill); NULL: 0 */
  const double *flip;        /* per annotator: symmetric flip rate eps_h; NULL: 0 */
  fixtures_order order;
} fixtures_judges;

/* Allocate d for n judged rows: an annotator column when with_annotator (then
 * n_annotators = n_annotators), first_won unless order is NONE. */
void fixtures_judged_alloc(pref_data *d, size_t n, const fixtures_judges *j, int with_annotator, size_t n_annotators);

/* Rows first .. first + count - 1 judged by annotator h of type z.  Per row, from r:
 * the context (when n_contexts > 1), item a uniform in it, item b (j->pair), then one
 * uniform u; a wins when u < P.  h indexes skill, bias and
 * flip and is written to the annotator column when d has one. */
void fixtures_judge_rows(pref_data *d, size_t first, size_t count, size_t h, size_t z, const fixtures_judges *j,
                         gsl_rng *r);

/* Allocate and fill d: annotators 0 .. H-1 in turn, annotator h judging per_h[h] rows
 * (or `per` when per_h is NULL), after drawing its type when j->type_weight is set
 * (written to z_out[h] when z_out is not NULL).  H = 0: one anonymous judge (index 0)
 * of `per` rows and no annotator column. */
void fixtures_judge(pref_data *d, const fixtures_judges *j, size_t H, size_t per, const size_t *per_h, gsl_rng *r,
                    int32_t *z_out);

/* reward[z * n_items + y] = theta_z^T phi(y) (theta K x dim, phi n_items x dim, the sum
 * in feature order), or theta[z * dim + y] (dim = n_items) when phi is NULL. */
void fixtures_linear_rewards(const double *phi, const double *theta, size_t K, size_t n_items, size_t dim,
                             double *reward);

/* ---- unlabelled rows for gradient checks ---- */

/* Uniform pair of distinct items: a uniform, then b uniform until b != a. */
void fixtures_pair(gsl_rng *r, size_t n_items, int32_t *a, int32_t *b);

/* n rows: a fixtures_pair as (winner, loser), annotator uniform in 0..H-1, count
 * 0.5 + 2 u; d gets annotator and count columns. */
void fixtures_random_rows(pref_data *d, gsl_rng *r, size_t n, size_t n_items, size_t H);

#endif
