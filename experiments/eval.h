/* eval.h — what the quantity rows (metrics.c, truth.c) see of one cell: the
 * simulated world with its truth (cell_sim), and the evaluation contexts with their
 * memo tables.  Private to the cell runner and the tables; not a public interface.
 *
 * Invariants: a cell_sim is filled once by cell_sim_alloc and read-only afterwards
 * except for its lazily computed parts (the true game), which are filled on first
 * use inside the one thread that runs the cell.  Memo states: 0 not computed, 1 being
 * computed (a cycle between rows is a programming error and yields NaN), 2 done. */
#ifndef PS_EXPERIMENTS_EVAL_H
#define PS_EXPERIMENTS_EVAL_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

#include "../core/mdp_env.h"
#include "../sim/sim.h"
#include "quantity.h"

#define GAME_MAX_ITEMS 300 /* the exploitability quantities solve an LP over the items */
#define EVAL_POOLED_MAX_PAIRS 1000000 /* eval_pooled_bt enumerates every pair of every context */

typedef struct {
  const experiment *e;
  size_t p, rep;
  exp_point pt;
  world w;
  population pop;
  pref_data train, held;   /* with rankings, train is their full breaking (every ranked item over every
                             * item below it), the pairs the pair metrics and pair estimators see */
  int ranked;               /* [design] ranking = k: the training data are rankings */
  rank_data rank;           /* the rankings (ranked only) */
  pref_data train_adjacent; /* their adjacent breaking (ranked only) */
  double *log_ref;          /* n_items: log pi_ref, the KL anchor (design_log_ref) */
  double *held_p, *held_pu; /* held.n: truth for an unknown annotator / the row's own */
  size_t n_new;             /* new users (few-shot) */
  pref_data *shots, *shot_held;
  double *groups;           /* n_groups x n_items: true group rewards on the logit scale */
  size_t n_groups;
  pref_features f;          /* the world's feature view with log_ref */
  /* lazily: the true game M = P - 1/2 of an item world and its minimax winner */
  int game_state;           /* 0 not built, 1 built, -1 not available */
  double *game, *game_p;    /* game_p NULL when the LP failed */
} cell_sim;

/* Simulate grid point p, replicate rep of e (streams as in cell.c's header).
 * PS_OK or the simulation's failure with a message; s is freed on failure. */
int cell_sim_alloc(cell_sim *s, const experiment *e, size_t p, size_t rep, gsl_rng *rng, gsl_rng *rj, ps_msg *m);
void cell_sim_free(cell_sim *s);

/* The true game of an item world (NULL when the world has none or is too large). */
const double *cell_sim_game(cell_sim *s, const double **winner);

struct cell_eval {
  cell_sim *sim;
  double memo_truth[64], memo_theory[64];
  unsigned char st_truth[64], st_theory[64];
  /* shared intermediates of the theory rows */
  int crlb_done;
  double crlb[2];          /* sqrt(tr I^-1), sqrt(tr(I^-1 Sigma-hat)) */
  int groups_done;
  double group_theory[5];  /* maxmin, iterative, per-sample min, pooled gap, maxmin gap */
  int pooled_bt_done;
  double pooled_bt[2];     /* pooled BT's population limit: minority gap, worst-group value */
};

typedef struct {
  double J, Jstar, kl, klstar, unreg, lperr, rankacc, idealrank, rankflip;
  int ok;
} policy_sums;

typedef struct {
  double excess, acc, group_min, minority; /* NaN where undefined */
  double comp_err, flip_err, flip_rate, ari;
} user_sums;

/* What an MDP cell's metrics see of one fitted segment learner (cell_mdp.c): the
 * world with its true reward, its optimal solution, and the learned reward's optimal
 * and one-step greedy policies (est_type.state_policy). */
typedef struct {
  const struct mdp *md;
  const mdp_solution *sol;
  const int32_t *policy, *greedy;
} cell_mdp_view;

struct metric_eval {
  const exp_point *pt;      /* the grid point's settings */
  cell_sim *sim;            /* item and feature worlds; NULL in MDP worlds */
  const cell_mdp_view *mdp; /* MDP worlds; NULL elsewhere */
  const est_type *t;
  const est_model *mod;
  size_t k;                 /* estimator index in the experiment */
  const char *policy_mode;  /* the estimator's `policy` hyperparameter here, or NULL */
  const char *const *hyper; /* the estimator's hyperparameter texts here (its params' order) */
  gsl_rng *rng;             /* scratch stream (few-shot adaptation resets it) */
  est_fit_info info;
  int fit_status;
  double fit_seconds;
  double memo[128];
  unsigned char st[128];
  /* shared intermediates */
  int basic_done;
  double param_err, param_err_sigma, logloss, excess, accuracy, tau;
  int pi_state;             /* 0 not built, 1 built, -1 failed */
  double *pi;               /* n_items: the model's KL-regularised policy */
  int policy_done;
  policy_sums ps;
  int user_done;
  user_sums us;
  int game_done;
  double expl, expl_model, lp_dist, pure_gap, pure_gap_model;
  int groupv_done;
  double worst, mgap, gap;
};

/* The pooled BT pseudo-true parameter (metrics.c): BT on the population's label
 * probabilities, every pair of every context weighted equally, ties (when the world has
 * them) dropped or counted as half a win each way (mode); theta has n_items entries (item
 * worlds, centred) or dim (feature worlds).  PS_OK or the fit's failure. */
int eval_pooled_bt(const cell_sim *s, pref_ties_mode mode, double *theta);

/* <th, theta* / T> / ||theta* / T||^2 over the population's d parameters, th centred first
 * when centre (item scores): the slope of th on the truth. */
double eval_theta_slope(const double *th, const population *pop, double T, int centre);

/* A Luce population's pooled choice density q-bar = sum_k s_k q_k over the items
 * (docs/theory.md §2.12), with the type shares s_k that generate the labels (the weights
 * for per-comparison types, the training annotators' shares otherwise).  PS_OK, or
 * PS_EINVAL when the population is not of kind luce. */
int eval_luce_density(const cell_sim *s, double *qbar);

/* The margin at time t of the scalar DPO flow dm/dt = k (p - sigma(m)), m(0) = 0, by its
 * closed form (docs/theory.md §3.13c). */
double eval_flow_margin(double k, double p, double t);

/* KL(q || softmax(theta)) over m items (theta any shift). */
double eval_density_kl(const double *q, const double *theta, size_t m);

/* MaxMin and its variants (docs/theory.md §3.5) over K group rewards R (K x n_items,
 * logit scale) with weights wt: mode maxmin (the dual), maxmin_iterative,
 * per_sample_min, or pooled (NULL too: the KL optimum of the weighted mean reward).
 * pi (n_items) receives the policy. */
int eval_group_policy(const double *R, const double *wt, size_t K, size_t C, size_t m, const double *log_ref,
                      double beta, const char *mode, double *pi);

/* min_u F_u and the minority gap max_{u >= 1} F_u(pi*_u) - F_u(pi) of a policy */
void eval_policy_group_summary(const double *pi, const double *groups, size_t K, const double *log_ref, size_t C,
                               size_t m, double beta, double *worst, double *mgap);

/* The value of metric `name` for this (cell, estimator): computed once, then
 * memoised.  NaN when it does not apply or the cell gives none. */
double metric_value(metric_eval *ev, const char *name);
double metric_value_at(metric_eval *ev, size_t i);
void metric_eval_release(metric_eval *ev);

/* The value of truth (theory) quantity `name` for this cell, memoised. */
double truth_value(cell_eval *ev, const char *name);
double theory_value(cell_eval *ev, const char *name);
double truth_value_at(cell_eval *ev, size_t i);
double theory_value_at(cell_eval *ev, size_t i);

#endif
