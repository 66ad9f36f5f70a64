/* cell.c — simulate, fit, evaluate one (grid point, replicate) cell.
 *
 * Streams: world and population are keyed by point 0 when common_world is set
 * (replicate r sees the same truth at every grid point, so curves along an axis
 * are paired), else by the point index; queries, judgements and estimator streams
 * always by (point, replicate).  Training pairs use substream 0, held-out pairs 1.
 *
 * Metrics (THEORY.md §4), with theta_star/T the identifiable truth:
 *   param_err         ||theta-hat - theta_star/T||_2 (items: both centred)
 *   param_err_sigma   sqrt(mean_i ((theta-hat - theta_star/T)^T x_i)^2), x_i the training
 *                     differences: the Sigma-hat norm
 *   heldout_logloss   -mean[p log p-hat + (1-p) log(1-p-hat)], p the true probability
 *                     that the first-shown item is reported preferred (flips included)
 *   excess_logloss    heldout_logloss - mean H(p)
 *   accuracy          mean 1[(p-hat - 1/2)(p - 1/2) > 0], 1/2 for ties
 *   kendall_tau       tau-b between fitted and true rewards, averaged over contexts
 * Theory: the Cramer-Rao scale sqrt(tr I^-1) of the well-specified model at the
 * truth, I = sum_i (1-2eps)^2 F'(z_i)^2 / (P_i (1-P_i)) x_i x_i^T (pseudo-inverse on
 * sum theta = 0 for items), and sqrt(tr(I^-1 Sigma-hat)) for the Sigma-hat norm. */
#include "cell.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/numerics.h"
#include "../estimators/bt.h"
#include "../estimators/minimax.h"
#include "../estimators/regret.h"
#include "../sim/mdp.h"
#include "../sim/rng.h"

const h5store_quantity cell_metrics[] = {
    {"param_err", "1", "||theta-hat - theta*/T||_2 after normalisation"},
    {"param_err_sigma", "1", "||theta-hat - theta*/T|| in the empirical design norm Sigma-hat"},
    {"heldout_logloss", "nats", "held-out cross-entropy against the true probabilities"},
    {"excess_logloss", "nats", "held-out cross-entropy minus the Bayes log-loss"},
    {"accuracy", "1", "held-out agreement with the truly more likely side"},
    {"kendall_tau", "1", "Kendall tau-b of fitted vs true rewards, mean over contexts"},
    {"exploitability", "1", "max_y P(y > policy) - 1/2 under the truth; policy = minimax winner of the model (item worlds)"},
    {"lp_distance", "1", "||policy - minimax winner of the truth||_1 (item worlds; meaningful when that winner is unique, e.g. odd cycles)"},
    {"return_policy", "1", "MDP worlds: scaled true return of the optimal policy of the learned reward (1 optimal, 0 random)"},
    {"return_greedy", "1", "MDP worlds: scaled true return of argmax_a of the learned reward, used as an advantage"},
    {"policy_agreement", "1", "MDP worlds: share of states where the learned reward's optimal action is optimal (reward recovery up to its equivalence class)"},
    {"exploitability_model", "1", "max_y P-hat(y > policy) - 1/2 under the model's own predictions: the solver's error (item worlds)"},
    {"fit_seconds", "s", "wall-clock fit time (the one metric that is not reproducible)"},
    {"iterations", "1", "solver iterations"},
    {"converged", "1", "1 when the fit converged, 0 otherwise"},
};
const size_t cell_n_metrics = sizeof cell_metrics / sizeof cell_metrics[0];

const h5store_quantity cell_truth[] = {
    {"bayes_logloss", "nats", "held-out Bayes log-loss mean H(p)"},
    {"bayes_accuracy", "1", "held-out Bayes accuracy mean max(p, 1-p)"},
    {"theta_norm", "1", "||theta*/T||_2 (items: centred scores); NaN without a parameter"},
    {"has_condorcet_winner", "1", "1 when one item beats every other with P > 1/2 (item worlds)"},
};
const size_t cell_n_truth = sizeof cell_truth / sizeof cell_truth[0];

const h5store_quantity cell_theory[] = {
    {"param_err_crlb", "1", "sqrt(tr I^-1): Cramer-Rao scale of ||theta-hat - theta*/T||_2"},
    {"param_err_sigma_crlb", "1", "sqrt(tr(I^-1 Sigma-hat)): Cramer-Rao scale of the Sigma-hat-norm error"},
    {"excess_of_half", "nats", "log 2 - Bayes log-loss: the excess of predicting 1/2 everywhere (the best BT on a symmetric cycle)"},
    {"deterministic_exploitability", "1", "min over items y of max_j P(j > y) - 1/2: the least exploitable pure policy"},
};
const size_t cell_n_theory = sizeof cell_theory / sizeof cell_theory[0];

#define GAME_MAX_ITEMS 300 /* the exploitability metrics solve an LP over the items */

enum { M_PARAM, M_SIGMA, M_LOGLOSS, M_EXCESS, M_ACC, M_TAU, M_EXPL, M_LPDIST, M_RET_POLICY, M_RET_GREEDY, M_AGREE, M_EXPL_MODEL,
       M_SECONDS, M_ITER, M_CONV };

int cell_metric_index(const char *name) {
  for (size_t i = 0; i < cell_n_metrics; i++)
    if (!strcmp(cell_metrics[i].name, name)) return (int)i;
  return -1;
}

int cell_result_alloc(cell_result *r, size_t ne) {
  memset(r, 0, sizeof *r);
  r->metrics = malloc((ne ? ne : 1) * cell_n_metrics * sizeof(double));
  r->status = malloc((ne ? ne : 1) * sizeof(int));
  r->message = calloc(ne ? ne : 1, sizeof(char *));
  if (!r->metrics || !r->status || !r->message) goto oom;
  for (size_t i = 0; i < ne; i++)
    if (!(r->message[i] = calloc(PS_MSG_LEN, 1))) goto oom;
  return PS_OK;
oom:
  cell_result_free(r, ne);
  return PS_ENOMEM;
}

void cell_result_free(cell_result *r, size_t ne) {
  if (r->message)
    for (size_t i = 0; i < ne; i++) free(r->message[i]);
  free(r->message);
  free(r->metrics);
  free(r->status);
  memset(r, 0, sizeof *r);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Kendall tau-b of x vs y over n values, O(n^2). NaN when either is constant. */
static double kendall_tau_b(const double *x, const double *y, size_t n) {
  double conc = 0, disc = 0, tx = 0, ty = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      double a = x[i] - x[j], b = y[i] - y[j];
      if (a == 0 && b == 0) continue;
      if (a == 0) tx++;
      else if (b == 0) ty++;
      else if ((a > 0) == (b > 0)) conc++;
      else disc++;
    }
  double den = sqrt((conc + disc + tx) * (conc + disc + ty));
  return den > 0 ? (conc - disc) / den : NAN;
}

/* F'(z)^2 / (P(1-P)) (1-2eps)^2: Fisher weight of one comparison at the truth */
static double fisher_weight(const noise_spec *ns, double z) {
  double F, f;
  if (ns->link == LINK_PROBIT) {
    F = ps_normal_cdf(z);
    f = exp(-0.5 * z * z) / sqrt(2 * M_PI);
  } else {
    F = ps_sigmoid(z);
    f = ps_sigmoid_deriv(z);
  }
  double P = ns->flip + (1 - 2 * ns->flip) * F;
  double v = P * (1 - P);
  double g = (1 - 2 * ns->flip) * f;
  return v > 0 ? g * g / v : 0;
}

/* theory values: sqrt(tr I^-1), sqrt(tr(I^-1 Sigma)) */
static void theory_values(const pref_data *d, const pref_features *f, const population *pop,
                          const noise_spec *ns, double *out) {
  size_t dim = f->d, n = d->n;
  out[0] = out[1] = NAN;
  if (dim > 4096) return;
  double *w = malloc(n * sizeof(double)), *I = malloc(dim * dim * sizeof(double));
  double *S = malloc(dim * dim * sizeof(double));
  if (!w || !I || !S) goto done;
  for (size_t i = 0; i < n; i++)
    w[i] = fisher_weight(ns, (pop->reward[d->winner[i]] - pop->reward[d->loser[i]]) / ns->temperature);
  if (bt_design_hessian(d, f, w, 0, I, NULL) != PS_OK) goto done;
  for (size_t i = 0; i < n; i++) w[i] = 1.0 / (double)n;
  if (bt_design_hessian(d, f, w, 0, S, NULL) != PS_OK) goto done;
  int items = f->phi == NULL;
  if (items)
    for (size_t k = 0; k < dim * dim; k++) I[k] += 1.0 / (double)dim;
  gsl_matrix_view A = gsl_matrix_view_array(I, dim, dim);
  if (gsl_linalg_cholesky_decomp1(&A.matrix) != GSL_SUCCESS) goto done;
  if (gsl_linalg_cholesky_invert(&A.matrix) != GSL_SUCCESS) goto done;
  if (items)
    for (size_t k = 0; k < dim * dim; k++) I[k] -= 1.0 / (double)dim;
  double tr = 0, trS = 0;
  for (size_t k = 0; k < dim; k++) tr += I[k * dim + k];
  for (size_t k = 0; k < dim; k++)
    for (size_t l = 0; l < dim; l++) trS += I[k * dim + l] * S[l * dim + k];
  out[0] = sqrt(tr);
  out[1] = sqrt(trS);
done:
  free(w);
  free(I);
  free(S);
}

static void eval_metrics(const est_type *t, const est_model *mod, const pref_data *train,
                         const pref_data *held, const world *w, const population *pop,
                         const noise_spec *ns, double *out) {
  size_t dim;
  const double *th = t->theta(mod, &dim);
  pref_features f = world_features(w);
  double T = ns->temperature;
  /* parameter errors */
  if (th && dim == pop->d) {
    double *e = malloc(dim * sizeof(double)), *u = malloc(w->n_items * sizeof(double));
    if (e && u) {
      double s2 = 0;
      for (size_t k = 0; k < dim; k++) {
        e[k] = th[k] - pop->theta[k] / T;
        s2 += e[k] * e[k];
      }
      out[M_PARAM] = sqrt(s2);
      for (size_t i = 0; i < w->n_items; i++) {
        if (!f.phi) {
          u[i] = e[i];
          continue;
        }
        double acc = 0;
        for (size_t k = 0; k < dim; k++) acc += f.phi[i * dim + k] * e[k];
        u[i] = acc;
      }
      double q = 0;
      for (size_t i = 0; i < train->n; i++) {
        double v = u[train->winner[i]] - u[train->loser[i]];
        q += v * v;
      }
      out[M_SIGMA] = sqrt(q / (double)train->n);
    }
    free(e);
    free(u);
  }
  /* held-out predictions against the truth */
  double ce = 0, bayes = 0, acc = 0;
  for (size_t i = 0; i < held->n; i++) {
    int32_t a = pref_first(held, i), b = pref_second(held, i);
    double p = noise_prob(ns, pop, a, b);
    double z = t->logit(mod, a, b);
    ce += ps_cross_entropy_logit(p, z);
    bayes += ps_bern_entropy(p);
    if (z == 0 || p == 0.5) acc += 0.5;
    else acc += (z > 0) == (p > 0.5);
  }
  out[M_LOGLOSS] = ce / (double)held->n;
  out[M_EXCESS] = (ce - bayes) / (double)held->n;
  out[M_ACC] = acc / (double)held->n;
  /* Kendall tau per context of fitted vs true reward */
  double *rh = malloc(w->m * sizeof(double));
  if (rh) {
    double tau = 0;
    size_t k = 0;
    for (size_t c = 0; c < w->n_contexts; c++) {
      int32_t base = (int32_t)(c * w->m);
      for (size_t j = 0; j < w->m; j++) rh[j] = t->logit(mod, base + (int32_t)j, base);
      double v = kendall_tau_b(rh, pop->reward + base, w->m);
      if (isfinite(v)) tau += v, k++;
    }
    out[M_TAU] = k ? tau / (double)k : NAN;
    free(rh);
  }
}

/* The model's policy over the items (its own, or the minimax winner of its predicted
 * matrix), judged against the true game: exploitability and distance to the true
 * minimax winner (THEORY §3.13, §4). */
static void eval_policy(const est_type *t, const est_model *mod, const double *game, const double *game_p,
                        size_t Mn, double *out) {
  double *ph = malloc(Mn * sizeof(double)), *Mh = malloc(Mn * Mn * sizeof(double));
  if (!ph || !Mh) {
    free(ph);
    free(Mh);
    return;
  }
  /* the model's own game, from its predictions (made exactly skew-symmetric) */
  for (size_t a = 0; a < Mn; a++) Mh[a * Mn + a] = 0;
  for (size_t a = 0; a < Mn; a++)
    for (size_t b = a + 1; b < Mn; b++) {
      double v = 0.5 * ((ps_sigmoid(t->logit(mod, (int32_t)a, (int32_t)b)) - 0.5) -
                        (ps_sigmoid(t->logit(mod, (int32_t)b, (int32_t)a)) - 0.5));
      Mh[a * Mn + b] = v;
      Mh[b * Mn + a] = -v;
    }
  int ok = t->policy && t->policy(mod, 0, Mn, ph) == PS_OK;
  if (!ok) ok = minimax_lp(Mh, Mn, ph, NULL, NULL) == PS_OK;
  if (ok) {
    out[M_EXPL] = minimax_exploitability(game, Mn, ph);
    out[M_EXPL_MODEL] = minimax_exploitability(Mh, Mn, ph);
    if (game_p) {
      double dist = 0;
      for (size_t y = 0; y < Mn; y++) dist += fabs(ph[y] - game_p[y]);
      out[M_LPDIST] = dist;
    }
  }
  free(Mh);
  free(ph);
}

#define MDP_HORIZON 1000 /* steps of the returns that score a learned reward's policies */

/* MDP worlds (THEORY §2.10, §3.8): n pairs of trajectory segments from the uniform
 * behaviour policy, judged by the configured labeller; the regret and
 * partial-return models learn w, and each learned reward is scored by the true
 * scaled return of its optimal policy and of its one-step greedy use. */
static int cell_run_mdp(const experiment *e, size_t p, size_t rep, const exp_point *pt, cell_result *r,
                        ps_msg *m) {
  mdp env = {0};
  mdp_solution sol = {0};
  mdp_features feat = {0};
  mdp_segments seg = {0};
  pref_data data = {0};
  gsl_rng *rng = ps_rng_alloc();
  int s = PS_OK;
  if (!rng) return ps_fail(m, PS_ENOMEM, "out of memory");
  if (pt->world.kind == WORLD_GRID) {
    /* a width x height grid: the goal is the last cell; bad terminal cells are placed
     * at random (world stream, shared by every grid point with common_world) */
    size_t W = pt->world.grid_width, H = pt->world.grid_height, C = W * H;
    double *cr = malloc(C * sizeof(double));
    uint8_t *term = calloc(C, 1);
    if (!cr || !term) {
      free(cr);
      free(term);
      gsl_rng_free(rng);
      return ps_fail(m, PS_ENOMEM, "out of memory");
    }
    for (size_t c = 0; c < C; c++) cr[c] = pt->world.step_reward;
    cr[C - 1] = pt->world.goal_reward;
    term[C - 1] = 1;
    ps_rng_reset(rng, e->seed, PS_STREAM_WORLD, e->common_world ? 0 : p, rep, 0);
    size_t nbad = (size_t)floor(pt->world.bad_fraction * (double)C);
    for (size_t b = 0; b < nbad; b++) {
      size_t c = gsl_rng_uniform_int(rng, C - 1); /* never the goal */
      cr[c] = pt->world.bad_reward;
      term[c] = 1;
    }
    mdp_grid_spec gs = {.width = W, .height = H, .cell_reward = cr, .terminal = term, .gamma = 1};
    s = mdp_grid_alloc(&env, &gs, m);
    free(cr);
    free(term);
  } else {
    s = pt->world.kind == WORLD_CORRIDOR ? mdp_corridor_alloc(&env, m) : mdp_delivery_alloc(&env, m);
  }
  if (!s) s = mdp_solve(&env, NULL, env.gamma, NULL, &sol, m);
  if (!s) s = mdp_features_alloc(&feat, &env, (mdp_feature_kind)pt->world.features, m);
  if (s) goto done;
  mdp_segment_spec ss = {.n = 2 * pt->n_train, .len = pt->world.segment_length,
                         .behaviour = pt->world.behaviour ? MDP_BEHAVIOUR_EPS_GREEDY : MDP_BEHAVIOUR_UNIFORM,
                         .eps = pt->world.behaviour_eps, .greedy = sol.policy,
                         .drop_absorbing = pt->world.drop_absorbing};
  ps_rng_reset(rng, e->seed, PS_STREAM_QUERIES, p, rep, 0);
  if ((s = mdp_segments_draw(&env, &ss, rng, &seg, m))) goto done;
  mdp_label_spec ls = {.model = (mdp_label_model)pt->world.labeller, .temperature = pt->noise.temperature};
  ps_rng_reset(rng, e->seed, PS_STREAM_JUDGEMENTS, p, rep, 0);
  if ((s = mdp_label_pairs(&env, NULL, &sol, &ls, &seg, rng, &data, NULL, m))) goto done;
  regret_problem prob = {.m = &env, .f = &feat, .seg = &seg, .d = &data, .temperature = pt->noise.temperature};
  for (size_t k = 0; k < e->n_estimators; k++) {
    const exp_estimator *x = &e->estimators[k];
    double *out = r->metrics + k * cell_n_metrics;
    char sec[300];
    snprintf(sec, sizeof sec, "estimator.%s", x->label);
    regret_options o = regret_options_default();
    regret_result res = {0};
    ps_msg fm = {{0}};
    double ft0 = now_seconds();
    int fs;
    if (x->type == &est_regret_model) {
      o.learning_rate = ps_param_real(experiment_value(e, p, sec, "learning_rate"));
      o.iterations = (int)ps_param_int(experiment_value(e, p, sec, "iterations"));
      o.restarts = (int)ps_param_int(experiment_value(e, p, sec, "restarts"));
      o.gamma = ps_param_real(experiment_value(e, p, sec, "gamma"));
      ps_rng_reset(rng, e->seed, PS_STREAM_ESTIMATOR, p, rep, k);
      fs = regret_fit_regret(&prob, &o, rng, &res, &fm);
    } else if (x->type == &est_partial_return) {
      o.l2 = ps_param_real(experiment_value(e, p, sec, "l2"));
      o.gamma = ps_param_real(experiment_value(e, p, sec, "gamma"));
      fs = regret_fit_partial_return(&prob, &o, &res, &fm);
    } else {
      fs = ps_fail(&fm, PS_EINVAL, "estimator '%s' does not learn from trajectory segments (use regret_model or "
                   "partial_return in MDP worlds)", x->type->name);
    }
    out[M_SECONDS] = now_seconds() - ft0;
    out[M_ITER] = res.iterations;
    out[M_CONV] = fs == PS_OK;
    r->iterations += res.iterations;
    r->status[k] = fs;
    if (fs == PS_OK) {
      mdp_scaled sc;
      if (mdp_scaled_return(&env, res.policy, MDP_HORIZON, &sc, NULL) == PS_OK) out[M_RET_POLICY] = sc.scaled;
      if (mdp_scaled_return(&env, res.greedy, MDP_HORIZON, &sc, NULL) == PS_OK) out[M_RET_GREEDY] = sc.scaled;
      /* reward recovery up to the class of rewards with the same optimal policies */
      size_t live = 0, agree = 0;
      for (size_t st = 0; st < env.n_states; st++) {
        if (env.terminal[st] || env.wall[st]) continue;
        live++;
        agree += sol.adv[st * env.n_actions + (size_t)res.policy[st]] >= -1e-9;
      }
      if (live) out[M_AGREE] = (double)agree / (double)live;
    } else {
      snprintf(r->message[k], PS_MSG_LEN, "%s", fm.text);
    }
    regret_result_free(&res);
  }
done:
  pref_data_free(&data);
  mdp_segments_free(&seg);
  mdp_features_free(&feat);
  mdp_solution_free(&sol);
  mdp_free(&env);
  gsl_rng_free(rng);
  return s;
}

int cell_run(const experiment *e, size_t p, size_t rep, cell_result *r, ps_msg *m) {
  double t0 = now_seconds();
  size_t ne = e->n_estimators;
  for (size_t i = 0; i < ne * cell_n_metrics; i++) r->metrics[i] = NAN;
  for (size_t i = 0; i < 8; i++) r->truth[i] = r->theory[i] = NAN;
  for (size_t i = 0; i < ne; i++) {
    r->status[i] = -1;
    r->message[i][0] = 0;
  }
  r->iterations = 0;
  exp_point pt;
  double *game = NULL, *game_p = NULL;
  world w = {0};
  population pop = {0};
  pref_data train = {0}, held = {0};
  gsl_rng *rng = ps_rng_alloc(), *rj = ps_rng_alloc();
  int s = PS_OK;
  if (!rng || !rj) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  if ((s = experiment_point(e, p, &pt, m))) goto done;
  if (pt.world.kind == WORLD_CORRIDOR || pt.world.kind == WORLD_DELIVERY || pt.world.kind == WORLD_GRID) {
    s = cell_run_mdp(e, p, rep, &pt, r, m);
    goto done;
  }
  uint64_t wp = e->common_world ? 0 : p;
  ps_rng_reset(rng, e->seed, PS_STREAM_WORLD, wp, rep, 0);
  if ((s = world_alloc(&w, &pt.world, rng, m))) goto done;
  ps_rng_reset(rng, e->seed, PS_STREAM_POPULATION, wp, rep, 0);
  if ((s = population_alloc(&pop, &w, &pt.population, rng, m))) goto done;
  ps_rng_reset(rng, e->seed, PS_STREAM_QUERIES, p, rep, 0);
  ps_rng_reset(rj, e->seed, PS_STREAM_JUDGEMENTS, p, rep, 0);
  if ((s = design_simulate(&train, pt.n_train, &w, &pop, &pt.noise, &pt.design, rng, rj, m))) goto done;
  ps_rng_reset(rng, e->seed, PS_STREAM_QUERIES, p, rep, 1);
  ps_rng_reset(rj, e->seed, PS_STREAM_JUDGEMENTS, p, rep, 1);
  if ((s = design_simulate(&held, pt.n_heldout, &w, &pop, &pt.noise, &pt.design, rng, rj, m))) goto done;

  /* truth and theory */
  {
    double bl = 0, ba = 0;
    for (size_t i = 0; i < held.n; i++) {
      double q = noise_prob(&pt.noise, &pop, pref_first(&held, i), pref_second(&held, i));
      bl += ps_bern_entropy(q);
      ba += fmax(q, 1 - q);
    }
    r->truth[0] = bl / (double)held.n;
    r->truth[1] = ba / (double)held.n;
    double tn = 0;
    for (size_t k = 0; k < pop.d; k++) tn += pop.theta[k] * pop.theta[k];
    r->truth[2] = pop.d ? sqrt(tn) / pt.noise.temperature : NAN;
    pref_features f = world_features(&w);
    if (pop.kind == POP_BT) theory_values(&train, &f, &pop, &pt.noise, r->theory);
    r->theory[2] = log(2.0) - r->truth[0];
  }
  /* item worlds: the true game M = P - 1/2 (clean preferences), its minimax winner */
  if (w.spec.kind == WORLD_ITEMS && w.n_items <= GAME_MAX_ITEMS) {
    size_t Mn = w.n_items;
    game = malloc(Mn * Mn * sizeof(double));
    game_p = malloc(Mn * sizeof(double));
    if (game && game_p) {
      for (size_t a = 0; a < Mn; a++)
        for (size_t b = 0; b < Mn; b++)
          game[a * Mn + b] = a == b ? 0 : noise_prob_clean(&pt.noise, &pop, (int32_t)a, (int32_t)b) - 0.5;
      /* exact skew-symmetry against rounding in P(a,b) + P(b,a) = 1 */
      for (size_t a = 0; a < Mn; a++)
        for (size_t b = a + 1; b < Mn; b++) {
          double v = 0.5 * (game[a * Mn + b] - game[b * Mn + a]);
          game[a * Mn + b] = v;
          game[b * Mn + a] = -v;
        }
      if (minimax_lp(game, Mn, game_p, NULL, NULL) != PS_OK) {
        free(game_p);
        game_p = NULL;
      }
      r->truth[3] = minimax_condorcet_winner(game, Mn) >= 0;
      double best = INFINITY;
      for (size_t y = 0; y < Mn; y++) {
        double worst = 0;
        for (size_t j = 0; j < Mn; j++) worst = fmax(worst, game[j * Mn + y]);
        best = fmin(best, worst);
      }
      r->theory[3] = best;
    }
  }

  pref_features f = world_features(&w);
  for (size_t k = 0; k < ne; k++) {
    const exp_estimator *x = &e->estimators[k];
    double *out = r->metrics + k * cell_n_metrics;
    /* hyperparameters may be swept: read them at this point */
    const char *hyper[32];
    char sec[300];
    snprintf(sec, sizeof sec, "estimator.%s", x->label);
    for (size_t j = 0; x->type->params[j].key && j < 32; j++)
      hyper[j] = experiment_value(e, p, sec, x->type->params[j].key);
    est_model *mod = NULL;
    ps_msg fm = {{0}};
    int fs = x->type->alloc(&mod, hyper, &fm);
    est_fit_info info = {0};
    double ft0 = now_seconds();
    if (fs == PS_OK) {
      ps_rng_reset(rng, e->seed, PS_STREAM_ESTIMATOR, p, rep, k);
      fs = x->type->fit(mod, &train, &f, rng, &info, &fm);
    }
    out[M_SECONDS] = now_seconds() - ft0;
    out[M_ITER] = info.iterations;
    out[M_CONV] = fs == PS_OK && info.converged;
    r->iterations += info.iterations;
    r->status[k] = fs;
    if (fs == PS_OK) {
      eval_metrics(x->type, mod, &train, &held, &w, &pop, &pt.noise, out);
      if (game) eval_policy(x->type, mod, game, game_p, w.n_items, out);
    } else
      snprintf(r->message[k], PS_MSG_LEN, "%s", fm.text);
    if (mod) x->type->free(mod);
  }
done:
  free(game);
  free(game_p);
  r->wall_seconds = now_seconds() - t0;
  pref_data_free(&train);
  pref_data_free(&held);
  population_free(&pop);
  world_free(&w);
  if (rng) gsl_rng_free(rng);
  if (rj) gsl_rng_free(rj);
  return s;
}
