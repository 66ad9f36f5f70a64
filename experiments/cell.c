/* cell.c — simulate, fit, evaluate one (grid point, replicate) cell.
 *
 * The simulation is cellsim.c's; every estimator is allocated with its
 * hyperparameters at this grid point (looked up by name when the experiment was
 * built, exp_estimator.hyper, or the swept value), fitted on the training data
 * with its own random stream (PS_STREAM_ESTIMATOR, substream k) — on the rankings when
 * the data are rankings and it fits them (est_type.fit_rank), else on their breaking
 * (exp_estimator.breaking) — and evaluated on
 * exactly the metrics the experiment stores for it (experiment.h), each computed
 * only where it applies (quantity.h).  Truth and theory values are computed once
 * per cell, before the fits. */
#include "cell.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/rng.h"
#include "eval.h"

int cell_result_alloc(cell_result *r, const experiment *e) {
  size_t ne = e->n_estimators;
  memset(r, 0, sizeof *r);
  r->metrics = malloc((e->n_metric_values ? e->n_metric_values : 1) * sizeof(double));
  r->status = malloc((ne ? ne : 1) * sizeof(int));
  r->message = calloc(ne ? ne : 1, sizeof(char *));
  if (!r->metrics || !r->status || !r->message) goto oom;
  for (size_t i = 0; i < ne; i++)
    if (!(r->message[i] = calloc(PS_MSG_LEN, 1))) goto oom;
  return PS_OK;
oom:
  cell_result_free(r, e);
  return PS_ENOMEM;
}

void cell_result_free(cell_result *r, const experiment *e) {
  if (r->message)
    for (size_t i = 0; i < e->n_estimators; i++) free(r->message[i]);
  free(r->message);
  free(r->metrics);
  free(r->status);
  memset(r, 0, sizeof *r);
}

double cell_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cell_hyperparameters(const experiment *e, size_t p, size_t k, const char **hyper) {
  const exp_estimator *x = &e->estimators[k];
  for (size_t j = 0; x->type->params[j].key; j++) {
    hyper[j] = x->hyper[j];
    for (size_t a = 0; a < e->n_axes; a++)
      if (!strcmp(e->axes[a].section, x->section) && !strcmp(e->axes[a].key, x->type->params[j].key))
        hyper[j] = experiment_value(e, p, x->section, x->type->params[j].key);
  }
}

int cell_run(const experiment *e, size_t p, size_t rep, cell_result *r, ps_msg *m) {
  double t0 = cell_now();
  size_t ne = e->n_estimators;
  for (size_t i = 0; i < e->n_metric_values; i++) r->metrics[i] = NAN;
  for (size_t i = 0; i < CELL_MAX_Q; i++) r->truth[i] = r->theory[i] = NAN;
  for (size_t i = 0; i < ne; i++) {
    r->status[i] = -1;
    r->message[i][0] = 0;
  }
  r->iterations = 0;
  cell_sim sim;
  gsl_rng *rng = ps_rng_alloc(), *rj = ps_rng_alloc();
  int s = PS_OK;
  if (!rng || !rj) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto out;
  }
  {
    exp_point pt;
    if ((s = experiment_point(e, p, &pt, m))) goto out;
    if (exp_point_data(&pt) == EST_IN_SEGMENTS) {
      s = cell_run_mdp(e, p, rep, &pt, r, m);
      goto out;
    }
  }
  if ((s = cell_sim_alloc(&sim, e, p, rep, rng, rj, m))) goto out;
  cell_eval ce;
  memset(&ce, 0, sizeof ce);
  ce.sim = &sim;
  for (size_t j = 0; j < e->truth.n; j++) r->truth[j] = truth_value_at(&ce, e->truth.idx[j]);
  for (size_t j = 0; j < e->theory.n; j++) r->theory[j] = theory_value_at(&ce, e->theory.idx[j]);
  metric_eval *ev = malloc(sizeof *ev);
  if (!ev) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto free_sim;
  }
  for (size_t k = 0; k < ne; k++) {
    const exp_estimator *x = &e->estimators[k];
    const char *hyper[64];
    cell_hyperparameters(e, p, k, hyper);
    memset(ev, 0, sizeof *ev);
    ev->pt = &sim.pt;
    ev->sim = &sim;
    ev->t = x->type;
    ev->k = k;
    ev->rng = rng;
    const ps_param *pp = ps_param_find(x->type->params, "policy");
    ev->policy_mode = pp ? hyper[pp - x->type->params] : NULL;
    ev->hyper = hyper;
    est_model *mod = NULL;
    ps_msg fm = {{0}};
    /* rankings go to an estimator that fits them, else their breaking into pairs */
    const pref_data *pairs = sim.ranked && x->breaking == RANK_BREAK_ADJACENT ? &sim.train_adjacent : &sim.train;
    int fs = est_check_ties(x->type, pairs, &fm);
    if (fs == PS_OK) fs = x->type->alloc(&mod, hyper, &fm);
    double ft0 = cell_now();
    if (fs == PS_OK) {
      ps_rng_reset(rng, e->seed, PS_STREAM_ESTIMATOR, p, rep, k);
      fs = sim.ranked && x->type->fit_rank ? x->type->fit_rank(mod, &sim.rank, &sim.f, rng, &ev->info, &fm)
                                           : x->type->fit(mod, pairs, &sim.f, rng, &ev->info, &fm);
    }
    ev->fit_seconds = cell_now() - ft0;
    ev->fit_status = fs;
    ev->mod = mod;
    r->iterations += ev->info.iterations;
    r->status[k] = fs;
    if (fs != PS_OK) snprintf(r->message[k], PS_MSG_LEN, "%s", fm.text);
    double *out = r->metrics + e->metric_off[k];
    for (size_t j = 0; j < e->metrics[k].n; j++) out[j] = metric_value_at(ev, e->metrics[k].idx[j]);
    metric_eval_release(ev);
    if (mod) x->type->free(mod);
  }
  free(ev);
free_sim:
  cell_sim_free(&sim);
out:
  r->wall_seconds = cell_now() - t0;
  if (rng) gsl_rng_free(rng);
  if (rj) gsl_rng_free(rj);
  return s;
}
