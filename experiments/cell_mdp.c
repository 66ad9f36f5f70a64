/* cell_mdp.c — one cell of an MDP world (docs/theory.md §2.10, §3.8): n pairs of
 * trajectory segments from the behaviour policy, judged by the configured
 * labeller; each estimator that learns from segments (est_type.inputs has
 * EST_IN_SEGMENTS) is fitted through the estimator table on the trajectory view
 * (the dynamics and features, never the true reward), and each learned reward is
 * scored by the true scaled return of its optimal policy and of its one-step
 * greedy use, and by the share of states where its optimal action is optimal (the
 * MDP rows of metrics.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/mdp_env.h"
#include "../core/rng.h"
#include "../sim/mdp.h"
#include "cell.h"
#include "eval.h"

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
  cell_mdp_view view = {.md = &md, .sol = &sol, .policy = policy, .greedy = greedy};
  metric_eval *ev = malloc(sizeof *ev);
  if (!ev) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t k = 0; k < e->n_estimators; k++) {
    const exp_estimator *x = &e->estimators[k];
    const char *hyper[64];
    cell_hyperparameters(e, p, k, hyper);
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
    memset(ev, 0, sizeof *ev);
    ev->pt = pt;
    ev->mdp = &view;
    ev->t = x->type;
    ev->k = k;
    ev->info = info;
    ev->fit_seconds = cell_now() - ft0;
    ev->fit_status = fs;
    /* the fit records describe the fit itself, before its policies are asked for */
    metric_value(ev, "fit_seconds");
    metric_value(ev, "iterations");
    metric_value(ev, "converged");
    r->iterations += info.iterations;
    if (fs == PS_OK && (fs = x->type->state_policy(mod, policy, greedy)) != PS_OK)
      ps_fail(&fm, fs, "estimator '%s' has no policy after its fit", x->type->name);
    ev->fit_status = fs;
    r->status[k] = fs;
    if (fs != PS_OK) snprintf(r->message[k], PS_MSG_LEN, "%s", fm.text);
    double *out = r->metrics + e->metric_off[k];
    for (size_t j = 0; j < e->metrics[k].n; j++) out[j] = metric_value_at(ev, e->metrics[k].idx[j]);
    if (mod) x->type->free(mod);
  }
  free(ev);
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
