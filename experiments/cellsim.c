/* cellsim.c — simulate one (grid point, replicate) cell of an item or feature
 * world: the world, the population's truth, training and held-out comparisons,
 * the reference policy, the truths of the held-out rows, few-shot users' data and
 * the true group rewards (see eval.h).
 *
 * Streams: world and population are keyed by point 0 when common_world is set
 * (replicate r sees the same truth at every grid point, so curves along an axis
 * are paired), else by the point index; queries, judgements and estimator streams
 * always by (point, replicate).  Training pairs (or rankings, [design] ranking = k) use substream 0, held-out pairs 1,
 * new user j's shots 16 + 2j and its held-out comparisons 17 + 2j (so fewer shots
 * are a prefix of more).  The order of the draws is part of the file format:
 * changing it changes every stored number. */
#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../estimators/minimax.h"

/* The true group rewards on the logit scale (r_u / T): the mixture types, or the one
 * population reward.  Returns a malloc'd K x n_items table. */
static double *true_groups(const population *pop, const noise_spec *ns, size_t *K) {
  size_t M = pop->n_items, k = pop->n_types ? pop->n_types : 1;
  const double *src = pop->n_types ? pop->type_reward : pop->reward;
  double *g = malloc(k * M * sizeof(double));
  if (!g) return NULL;
  for (size_t i = 0; i < k * M; i++) g[i] = src[i] / ns->temperature;
  *K = k;
  return g;
}

void cell_sim_free(cell_sim *s) {
  free(s->game);
  free(s->game_p);
  free(s->log_ref);
  free(s->held_p);
  free(s->held_pu);
  free(s->groups);
  for (size_t j = 0; j < s->n_new; j++) {
    if (s->shots) pref_data_free(&s->shots[j]);
    if (s->shot_held) pref_data_free(&s->shot_held[j]);
  }
  free(s->shots);
  free(s->shot_held);
  pref_data_free(&s->train);
  pref_data_free(&s->train_adjacent);
  rank_data_free(&s->rank);
  pref_data_free(&s->held);
  population_free(&s->pop);
  world_free(&s->w);
  memset(s, 0, sizeof *s);
}

int cell_sim_alloc(cell_sim *s, const experiment *e, size_t p, size_t rep, gsl_rng *rng, gsl_rng *rj, ps_msg *m) {
  memset(s, 0, sizeof *s);
  s->e = e;
  s->p = p;
  s->rep = rep;
  int st;
  if ((st = experiment_point(e, p, &s->pt, m))) return st;
  const exp_point *pt = &s->pt;
  uint64_t wp = e->common_world ? 0 : p;
  ps_rng_reset(rng, e->seed, PS_STREAM_WORLD, wp, rep, 0);
  if ((st = world_alloc(&s->w, &pt->world, rng, m))) goto fail;
  ps_rng_reset(rng, e->seed, PS_STREAM_POPULATION, wp, rep, 0);
  if ((st = population_alloc(&s->pop, &s->w, &pt->population, rng, m))) goto fail;
  ps_rng_reset(rng, e->seed, PS_STREAM_QUERIES, p, rep, 0);
  ps_rng_reset(rj, e->seed, PS_STREAM_JUDGEMENTS, p, rep, 0);
  if (pt->design.ranking) {
    /* rankings, and the two breakings the pair estimators and pair metrics see */
    s->ranked = 1;
    if ((st = design_simulate_rankings(&s->rank, pt->n_train, &s->w, &s->pop, &pt->noise, &pt->design, 0,
                                       s->pop.n_train_users, rng, rj, m)) ||
        (st = rank_data_break(&s->rank, RANK_BREAK_FULL, &s->train, m)) ||
        (st = rank_data_break(&s->rank, RANK_BREAK_ADJACENT, &s->train_adjacent, m)))
      goto fail;
  } else if ((st = design_simulate(&s->train, pt->n_train, &s->w, &s->pop, &pt->noise, &pt->design, rng, rj, m))) {
    goto fail;
  }
  ps_rng_reset(rng, e->seed, PS_STREAM_QUERIES, p, rep, 1);
  ps_rng_reset(rj, e->seed, PS_STREAM_JUDGEMENTS, p, rep, 1);
  /* held-out pairs stay strict (the metrics score P(first > second)); ties are training data */
  noise_spec strict = pt->noise;
  strict.ties = NOISE_TIES_NONE;
  if ((st = design_simulate(&s->held, pt->n_heldout, &s->w, &s->pop, &strict, &pt->design, rng, rj, m))) goto fail;
  /* the reference policy (KL anchor of reward-derived policies; what policy learners see) */
  s->log_ref = malloc(s->w.n_items * sizeof(double));
  s->held_p = malloc((s->held.n ? s->held.n : 1) * sizeof(double));
  s->held_pu = malloc((s->held.n ? s->held.n : 1) * sizeof(double));
  if (!s->log_ref || !s->held_p || !s->held_pu) goto oom;
  ps_rng_reset(rng, e->seed, PS_STREAM_QUERIES, p, rep, 0); /* the training design's reference draws */
  if ((st = design_log_ref(&s->w, &s->pop, &pt->design, rng, s->log_ref, m))) goto fail;
  /* held-out truths: unknown annotator (the population mean) and the comparison's own */
  for (size_t i = 0; i < s->held.n; i++) {
    int32_t a = pref_first(&s->held, i), b = pref_second(&s->held, i);
    s->held_p[i] = noise_prob(&pt->noise, &s->pop, a, b);
    s->held_pu[i] =
        s->held.annotator ? noise_prob_user(&pt->noise, &s->pop, (size_t)s->held.annotator[i], a, b) : s->held_p[i];
  }
  /* few-shot data: each new user's shots and held-out comparisons */
  if (s->pop.n_users > s->pop.n_train_users) {
    s->n_new = s->pop.n_users - s->pop.n_train_users;
    s->shots = calloc(s->n_new, sizeof(pref_data));
    s->shot_held = calloc(s->n_new, sizeof(pref_data));
    if (!s->shots || !s->shot_held) goto oom;
    for (size_t j = 0; j < s->n_new; j++) {
      size_t h = s->pop.n_train_users + j;
      ps_rng_reset(rng, e->seed, PS_STREAM_QUERIES, p, rep, 16 + 2 * j);
      ps_rng_reset(rj, e->seed, PS_STREAM_JUDGEMENTS, p, rep, 16 + 2 * j);
      if (pt->shots &&
          (st = design_simulate_users(&s->shots[j], pt->shots, &s->w, &s->pop, &pt->noise, &pt->design, h, 1, rng, rj, m)))
        goto fail;
      ps_rng_reset(rng, e->seed, PS_STREAM_QUERIES, p, rep, 17 + 2 * j);
      ps_rng_reset(rj, e->seed, PS_STREAM_JUDGEMENTS, p, rep, 17 + 2 * j);
      if ((st = design_simulate_users(&s->shot_held[j], pt->shot_heldout, &s->w, &s->pop, &pt->noise, &pt->design, h,
                                      1, rng, rj, m)))
        goto fail;
    }
  }
  s->groups = true_groups(&s->pop, &pt->noise, &s->n_groups);
  if (!s->groups) goto oom;
  s->f = world_features(&s->w);
  s->f.log_ref = s->log_ref;
  return PS_OK;
oom:
  st = ps_fail(m, PS_ENOMEM, "out of memory");
fail:
  cell_sim_free(s);
  return st;
}

const double *cell_sim_game(cell_sim *s, const double **winner) {
  if (s->game_state == 0) {
    s->game_state = -1;
    size_t Mn = s->w.n_items;
    if (s->w.spec.kind == WORLD_ITEMS && Mn <= GAME_MAX_ITEMS) {
      s->game = malloc(Mn * Mn * sizeof(double));
      s->game_p = malloc(Mn * sizeof(double));
      if (s->game && s->game_p) {
        double *game = s->game;
        for (size_t a = 0; a < Mn; a++)
          for (size_t b = 0; b < Mn; b++)
            game[a * Mn + b] = a == b ? 0 : noise_prob_clean(&s->pt.noise, &s->pop, (int32_t)a, (int32_t)b) - 0.5;
        /* exact skew-symmetry against rounding in P(a,b) + P(b,a) = 1 */
        for (size_t a = 0; a < Mn; a++)
          for (size_t b = a + 1; b < Mn; b++) {
            double v = 0.5 * (game[a * Mn + b] - game[b * Mn + a]);
            game[a * Mn + b] = v;
            game[b * Mn + a] = -v;
          }
        if (minimax_lp(game, Mn, s->game_p, NULL, NULL) != PS_OK) {
          free(s->game_p);
          s->game_p = NULL;
        }
        s->game_state = 1;
      } else {
        free(s->game);
        free(s->game_p);
        s->game = s->game_p = NULL;
      }
    }
  }
  if (winner) *winner = s->game_state == 1 ? s->game_p : NULL;
  return s->game_state == 1 ? s->game : NULL;
}
