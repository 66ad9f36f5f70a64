/* cell_mdp.c — one cell of an MDP world (docs/theory.md §2.10, §3.8): n pairs of
 * trajectory segments from the behaviour policy, judged by the configured
 * labeller; each estimator that learns from segments (est_type.inputs has
 * EST_IN_SEGMENTS) is fitted through the estimator table on the trajectory view
 * (the dynamics and features, never the true reward), and each learned reward is
 * scored by the true scaled return of its optimal policy and of its one-step
 * greedy use, and by the share of states where its optimal action is optimal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/mdp_env.h"
#include "../core/rng.h"
#include "../sim/mdp.h"
#include "cell.h"
#include "eval.h"

#define MDP_HORIZON 1000 /* steps of the returns that score a learned reward's policies */

/* store value v of metric `name` for estimator k when the experiment stores it */
static void put(const experiment *e, cell_result *r, size_t k, const char *name, double v) {
  long row = metric_find(name);
  for (size_t j = 0; row >= 0 && j < e->metrics[k].n; j++)
    if (e->metrics[k].idx[j] == (size_t)row) r->metrics[e->metric_off[k] + j] = v;
}

int cell_run_mdp(const experiment *e, size_t p, size_t rep, const exp_point *pt, cell_result *r, ps_msg *m) {
  mdp md = {0};
  mdp_solution sol = {0};
  mdp_features feat = {0};
  mdp_segments seg = {0};
  pref_data data = {0};
  int32_t *policy = NULL, *greedy = NULL;
  gsl_rng *rng = ps_rng_alloc();
  int s = PS_OK;
  if (!rng) return ps_fail(m, PS_ENOMEM, "out of memory");
  /* the world's own layout and true reward; the world stream is shared by every grid
   * point with common_world */
  ps_rng_reset(rng, e->seed, PS_STREAM_WORLD, e->common_world ? 0 : p, rep, 0);
  s = pt->world.type->mdp_alloc(&md, &pt->world, rng, m);
  const mdp_env *env = &md.env; /* what the estimators see: md.reward is the truth */
  if (!s) s = mdp_solve(env, md.reward, env->gamma, NULL, &sol, m);
  if (!s) s = mdp_features_alloc(&feat, env, (mdp_feature_kind)pt->world.features, m);
  if (s) goto done;
  mdp_segment_spec ss = {.n = 2 * pt->n_train, .len = pt->world.segment_length,
                         .behaviour = pt->world.behaviour ? MDP_BEHAVIOUR_EPS_GREEDY : MDP_BEHAVIOUR_UNIFORM,
                         .eps = pt->world.behaviour_eps, .greedy = sol.policy,
                         .drop_absorbing = pt->world.drop_absorbing};
  ps_rng_reset(rng, e->seed, PS_STREAM_QUERIES, p, rep, 0);
  if ((s = mdp_segments_draw(env, &ss, rng, &seg, m))) goto done;
  mdp_label_spec ls = {.model = (mdp_label_model)pt->world.labeller, .temperature = pt->noise.temperature};
  ps_rng_reset(rng, e->seed, PS_STREAM_JUDGEMENTS, p, rep, 0);
  if ((s = mdp_label_pairs(&md, NULL, &sol, &ls, &seg, rng, &data, NULL, m))) goto done;
  policy = malloc(env->n_states * sizeof *policy);
  greedy = malloc(env->n_states * sizeof *greedy);
  if (!policy || !greedy) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  pref_trajectories traj = {.env = env, .features = &feat, .seg = &seg, .temperature = pt->noise.temperature};
  pref_features f = {.n_items = seg.n, .d = feat.d, .n_contexts = 1, .traj = &traj};
  for (size_t k = 0; k < e->n_estimators; k++) {
    const exp_estimator *x = &e->estimators[k];
    /* hyperparameters may be swept: read them at this point */
    const char *hyper[64];
    for (size_t j = 0; x->type->params[j].key && j < 64; j++)
      hyper[j] = experiment_value(e, p, x->section, x->type->params[j].key);
    est_model *mod = NULL;
    ps_msg fm = {{0}};
    est_fit_info info = {0};
    int fs = x->type->state_policy
                 ? x->type->alloc(&mod, hyper, &fm)
                 : ps_fail(&fm, PS_EINVAL, "estimator '%s' does not learn from trajectory segments (use "
                           "regret_model or partial_return in MDP worlds)", x->type->name);
    double ft0 = cell_now();
    if (fs == PS_OK) {
      ps_rng_reset(rng, e->seed, PS_STREAM_ESTIMATOR, p, rep, k);
      fs = x->type->fit(mod, &data, &f, rng, &info, &fm);
    }
    put(e, r, k, "fit_seconds", cell_now() - ft0);
    put(e, r, k, "iterations", info.iterations);
    put(e, r, k, "converged", fs == PS_OK && info.converged);
    r->iterations += info.iterations;
    if (fs == PS_OK && (fs = x->type->state_policy(mod, policy, greedy)) != PS_OK)
      ps_fail(&fm, fs, "estimator '%s' has no policy after its fit", x->type->name);
    r->status[k] = fs;
    if (fs == PS_OK) {
      mdp_scaled sc;
      if (mdp_scaled_return(&md, policy, MDP_HORIZON, &sc, NULL) == PS_OK) put(e, r, k, "return_policy", sc.scaled);
      if (mdp_scaled_return(&md, greedy, MDP_HORIZON, &sc, NULL) == PS_OK) put(e, r, k, "return_greedy", sc.scaled);
      /* reward recovery up to the class of rewards with the same optimal policies */
      size_t live = 0, agree = 0;
      for (size_t st = 0; st < env->n_states; st++) {
        if (!mdp_is_start(env, st)) continue;
        live++;
        agree += sol.adv[st * env->n_actions + (size_t)policy[st]] >= -1e-9;
      }
      if (live) put(e, r, k, "policy_agreement", (double)agree / (double)live);
    } else {
      snprintf(r->message[k], PS_MSG_LEN, "%s", fm.text);
    }
    if (mod) x->type->free(mod);
  }
done:
  free(policy);
  free(greedy);
  pref_data_free(&data);
  mdp_segments_free(&seg);
  mdp_features_free(&feat);
  mdp_solution_free(&sol);
  mdp_free(&md);
  gsl_rng_free(rng);
  return s;
}
