/* metrics.c — the metric table: how good one fitted estimator is against the
 * simulated truth (docs/theory.md §4), one row per metric.  This file is the only
 * place that joins an estimate with the truth.
 *
 * With theta_star/T the identifiable truth:
 *   param_err         ||theta-hat - theta_star/T||_2 (items: both centred)
 *   param_err_sigma   sqrt(mean_i ((theta-hat - theta_star/T)^T x_i)^2), x_i the training
 *                     differences: the Sigma-hat norm
 *   heldout_logloss   -mean[p log p-hat + (1-p) log(1-p-hat)], p the true probability
 *                     that the first-shown item is reported preferred (flips included)
 *   excess_logloss    heldout_logloss - mean H(p)
 *   accuracy          mean 1[(p-hat - 1/2)(p - 1/2) > 0], 1/2 for ties
 *   kendall_tau       tau-b between fitted and true rewards, averaged over contexts
 * and the per-annotator, policy, game and group metrics documented in their rows.
 *
 * Adding a metric: one row in metric_table with its compute function (which may
 * ask for other metrics by name through metric_value).  Rows that share one pass
 * over the data (the policy sums, the per-annotator sums) fill a summary in the
 * metric_eval once; each row reads its field, so the values do not depend on which
 * rows an experiment stores. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "../core/rng.h"
#include "../estimators/bt.h"
#include "../estimators/cluster.h"
#include "../estimators/maxmin.h"
#include "../estimators/minimax.h"
#include "../estimators/nash.h"
#include "../estimators/policy.h"
#include "../sim/mdp.h"
#include "eval.h"

#define MAXMIN_ITERATIONS 20000 /* steps of the iterative MaxMin (Frank-Wolfe on the dual) */

/* ---------------------------------------------------------- shared helpers */

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

/* pi(.|x) ∝ pi_ref exp(r / beta) on one context of m items */
static void kl_policy(const double *r, const double *log_ref, size_t m, double beta, double *pi) {
  double mx = -INFINITY, z = 0;
  for (size_t y = 0; y < m; y++) mx = fmax(mx, log_ref[y] + r[y] / beta);
  for (size_t y = 0; y < m; y++) z += (pi[y] = exp(log_ref[y] + r[y] / beta - mx));
  for (size_t y = 0; y < m; y++) pi[y] /= z;
}

/* F_u(pi) = mean_x [sum_y pi r_u - beta KL(pi || pi_ref)] for the reward table r (n_items) */
static double group_value(const double *pi, const double *r, const double *log_ref, size_t C, size_t m, double beta) {
  double F = 0;
  for (size_t c = 0; c < C; c++)
    for (size_t y = 0; y < m; y++) {
      double p = pi[c * m + y];
      if (p > 0) F += p * r[c * m + y] - beta * p * (log(p) - log_ref[c * m + y]);
    }
  return F / (double)C;
}

/* F_u(pi*_u) = mean_x beta log sum_y pi_ref exp(r_u / beta): the group's own optimum */
static double group_optimum(const double *r, const double *log_ref, size_t C, size_t m, double beta) {
  double F = 0;
  for (size_t c = 0; c < C; c++) {
    double mx = -INFINITY, z = 0;
    for (size_t y = 0; y < m; y++) mx = fmax(mx, log_ref[c * m + y] + r[c * m + y] / beta);
    for (size_t y = 0; y < m; y++) z += exp(log_ref[c * m + y] + r[c * m + y] / beta - mx);
    F += beta * (mx + log(z));
  }
  return F / (double)C;
}

int eval_group_policy(const double *R, const double *wt, size_t K, size_t C, size_t m, const double *log_ref,
                      double beta, const char *mode, double *pi) {
  size_t M = C * m;
  maxmin_problem mp = {.U = K, .n_contexts = C, .m = m, .reward = R, .log_ref = log_ref, .beta = beta};
  maxmin_result res = {0};
  ps_msg msg;
  int s;
  if (!mode || !strcmp(mode, "pooled")) {
    double *r = calloc(M, sizeof(double));
    if (!r) return PS_ENOMEM;
    for (size_t k = 0; k < K; k++)
      for (size_t i = 0; i < M; i++) r[i] += wt[k] * R[k * M + i];
    s = maxmin_kl_policy(&mp, r, pi, &msg);
    free(r);
    return s;
  }
  if ((s = maxmin_result_alloc(&res, K, M, &msg))) return s;
  if (!strcmp(mode, "per_sample_min")) s = maxmin_per_sample_min(&mp, &res, &msg);
  else if (!strcmp(mode, "maxmin_iterative")) s = maxmin_iterative(&mp, MAXMIN_ITERATIONS, &res, &msg);
  else s = maxmin_dual(&mp, &res, &msg);
  if (s == PS_OK || s == PS_ENOCONV) memcpy(pi, res.pi, M * sizeof(double));
  maxmin_result_free(&res);
  return s == PS_ENOCONV ? PS_OK : s;
}

void eval_policy_group_summary(const double *pi, const double *groups, size_t K, const double *log_ref, size_t C,
                               size_t m, double beta, double *worst, double *mgap) {
  *worst = INFINITY;
  *mgap = -INFINITY;
  for (size_t u = 0; u < K; u++) {
    double F = group_value(pi, groups + u * C * m, log_ref, C, m, beta);
    *worst = fmin(*worst, F);
    if (u >= 1) *mgap = fmax(*mgap, group_optimum(groups + u * C * m, log_ref, C, m, beta) - F);
  }
}

/* The model's KL-regularised policy pi (n_items), built once per (cell, estimator):
 * MaxMin over its group rewards when it has groups; its own policy when it is a
 * policy learner (feature worlds); else pi ∝ pi_ref exp(r-hat / beta) of its reward,
 * r-hat(y) = logit(y, first item).  NULL when it cannot be built. */
static const double *model_policy(metric_eval *ev) {
  if (ev->pi_state) return ev->pi_state > 0 ? ev->pi : NULL;
  ev->pi_state = -1;
  const cell_sim *s = ev->sim;
  const world *w = &s->w;
  const est_type *t = ev->t;
  size_t C = w->n_contexts, m = w->m, M = w->n_items;
  double *pi = malloc(M * sizeof(double));
  if (!pi) return NULL;
  int st = PS_OK;
  if (t->groups) {
    size_t K;
    const double *R, *wt;
    st = t->groups(ev->mod, &K, &R, &wt) != PS_OK
             ? PS_EINVAL
             : eval_group_policy(R, wt, K, C, m, s->log_ref, s->pt.beta, ev->policy_mode, pi);
  } else if (t->policy && w->spec.kind == WORLD_FEATURES) {
    for (size_t c = 0; c < C && !st; c++)
      if (t->policy(ev->mod, (int32_t)(c * m), m, pi + c * m) != PS_OK) st = PS_EINVAL;
  } else {
    double *r = malloc(M * sizeof(double));
    if (!r) st = PS_ENOMEM;
    for (size_t c = 0; c < C && !st; c++) {
      int32_t base = (int32_t)(c * m);
      for (size_t y = 0; y < m; y++) r[c * m + y] = t->logit(ev->mod, base + (int32_t)y, base);
      kl_policy(r + c * m, s->log_ref + c * m, m, s->pt.beta, pi + c * m);
    }
    free(r);
  }
  if (st) {
    free(pi);
    return NULL;
  }
  ev->pi = pi;
  ev->pi_state = 1;
  return pi;
}

void metric_eval_release(metric_eval *ev) {
  free(ev->pi);
  ev->pi = NULL;
  ev->pi_state = 0;
}

/* ------------------------------------------------- prediction and parameter */

/* parameter errors, held-out predictions and Kendall tau in one pass each */
static void basic(metric_eval *ev) {
  if (ev->basic_done) return;
  ev->basic_done = 1;
  ev->param_err = ev->param_err_sigma = ev->logloss = ev->excess = ev->accuracy = ev->tau = NAN;
  const cell_sim *s = ev->sim;
  const world *w = &s->w;
  const population *pop = &s->pop;
  const pref_data *train = &s->train, *held = &s->held;
  double T = s->pt.noise.temperature;
  size_t dim;
  const double *th = ev->t->theta(ev->mod, &dim);
  if (th && dim == pop->d) {
    double *e = malloc(dim * sizeof(double)), *u = malloc(w->n_items * sizeof(double));
    if (e && u) {
      double s2 = 0;
      for (size_t k = 0; k < dim; k++) {
        e[k] = th[k] - pop->theta[k] / T;
        s2 += e[k] * e[k];
      }
      ev->param_err = sqrt(s2);
      for (size_t i = 0; i < w->n_items; i++) {
        if (!s->f.phi) {
          u[i] = e[i];
          continue;
        }
        double acc = 0;
        for (size_t k = 0; k < dim; k++) acc += s->f.phi[i * dim + k] * e[k];
        u[i] = acc;
      }
      double q = 0;
      for (size_t i = 0; i < train->n; i++) {
        double v = u[train->winner[i]] - u[train->loser[i]];
        q += v * v;
      }
      ev->param_err_sigma = sqrt(q / (double)train->n);
    }
    free(e);
    free(u);
  }
  double ce = 0, bayes = 0, acc = 0;
  for (size_t i = 0; i < held->n; i++) {
    int32_t a = pref_first(held, i), b = pref_second(held, i);
    double p = s->held_p[i];
    double z = ev->t->logit(ev->mod, a, b);
    ce += ps_cross_entropy_logit(p, z);
    bayes += ps_bern_entropy(p);
    if (z == 0 || p == 0.5) acc += 0.5;
    else acc += (z > 0) == (p > 0.5);
  }
  ev->logloss = ce / (double)held->n;
  ev->excess = (ce - bayes) / (double)held->n;
  ev->accuracy = acc / (double)held->n;
  double *rh = malloc(w->m * sizeof(double));
  if (rh) {
    double tau = 0;
    size_t k = 0;
    for (size_t c = 0; c < w->n_contexts; c++) {
      int32_t base = (int32_t)(c * w->m);
      for (size_t j = 0; j < w->m; j++) rh[j] = ev->t->logit(ev->mod, base + (int32_t)j, base);
      double v = kendall_tau_b(rh, pop->reward + base, w->m);
      if (isfinite(v)) tau += v, k++;
    }
    ev->tau = k ? tau / (double)k : NAN;
    free(rh);
  }
}

static double m_param_err(metric_eval *ev) { return basic(ev), ev->param_err; }
static double m_param_err_sigma(metric_eval *ev) { return basic(ev), ev->param_err_sigma; }
static double m_logloss(metric_eval *ev) { return basic(ev), ev->logloss; }
static double m_excess(metric_eval *ev) { return basic(ev), ev->excess; }
static double m_accuracy(metric_eval *ev) { return basic(ev), ev->accuracy; }
static double m_tau(metric_eval *ev) { return basic(ev), ev->tau; }

/* Kendall tau-b of the model's rewards (logit against the context's first item, as
 * kendall_tau) against the Borda scores of the training data: each item's win rate
 * among its comparisons (1/2 for an item never compared).  Mean over contexts.  On a
 * balanced complete design the BT MLE orders the items exactly as their win counts
 * (docs/theory.md §3.1: its score equation sum_j N sigma(theta_i - theta_j) = wins_i is
 * increasing in theta_i), so BT's borda_tau is 1 there whatever the population.  Fitted
 * rewards are compared on a grid of 1e-8 nats, so that items with equal win counts,
 * whose fitted scores are equal only to the solver's tolerance (~1e-10), count as tied
 * on both sides. */
static double m_borda_tau(metric_eval *ev) {
  const cell_sim *s = ev->sim;
  const world *w = &s->w;
  const pref_data *d = &s->train;
  size_t M = w->n_items, m = w->m;
  double *win = calloc(2 * M + m, sizeof(double));
  if (!win) return NAN;
  double *seen = win + M, *rh = win + 2 * M, tau = 0;
  for (size_t i = 0; i < d->n; i++) {
    double c = d->count ? d->count[i] : 1.0;
    win[d->winner[i]] += c;
    seen[d->winner[i]] += c;
    seen[d->loser[i]] += c;
  }
  for (size_t y = 0; y < M; y++) win[y] = seen[y] > 0 ? win[y] / seen[y] : 0.5;
  size_t k = 0;
  for (size_t c = 0; c < w->n_contexts; c++) {
    int32_t base = (int32_t)(c * m);
    for (size_t j = 0; j < m; j++) rh[j] = nearbyint(ev->t->logit(ev->mod, base + (int32_t)j, base) * 1e8);
    double v = kendall_tau_b(rh, win + base, m);
    if (isfinite(v)) tau += v, k++;
  }
  free(win);
  return k ? tau / (double)k : NAN;
}

/* Spearman's rho of fitted vs true rewards per context (Pearson correlation of the
 * mid-ranks, so ties share their average rank), mean over the contexts where
 * neither is constant.  O(m^2) per context, like kendall_tau. */
static void mid_ranks(const double *x, size_t n, double *rank) {
  for (size_t i = 0; i < n; i++) {
    double below = 0, equal = 0;
    for (size_t j = 0; j < n; j++) below += x[j] < x[i], equal += x[j] == x[i];
    rank[i] = below + (equal + 1) / 2;
  }
}

static double m_spearman(metric_eval *ev) {
  const world *w = &ev->sim->w;
  size_t m = w->m;
  double *buf = malloc(4 * m * sizeof(double)), sum = 0;
  size_t used = 0;
  if (!buf) return NAN;
  double *rh = buf, *a = buf + m, *b = buf + 2 * m, *r = buf + 3 * m;
  for (size_t c = 0; c < w->n_contexts; c++) {
    int32_t base = (int32_t)(c * m);
    for (size_t j = 0; j < m; j++) rh[j] = ev->t->logit(ev->mod, base + (int32_t)j, base);
    for (size_t j = 0; j < m; j++) r[j] = ev->sim->pop.reward[base + j];
    mid_ranks(rh, m, a);
    mid_ranks(r, m, b);
    double mean = (double)(m + 1) / 2, sab = 0, saa = 0, sbb = 0;
    for (size_t j = 0; j < m; j++) {
      sab += (a[j] - mean) * (b[j] - mean);
      saa += (a[j] - mean) * (a[j] - mean);
      sbb += (b[j] - mean) * (b[j] - mean);
    }
    if (saa > 0 && sbb > 0) sum += sab / sqrt(saa * sbb), used++;
  }
  free(buf);
  return used ? sum / (double)used : NAN;
}
static double m_pair_prob(metric_eval *ev) { return ps_sigmoid(ev->t->logit(ev->mod, 0, 1)); }

/* The estimator's hyperparameter `key` at this grid point, as text (NULL when it has none)
 * or as a number (0 when it has none). */
static const char *hyper_text(const metric_eval *ev, const char *key) {
  const ps_param *pp = ps_param_find(ev->t->params, key);
  return pp && ev->hyper ? ev->hyper[pp - ev->t->params] : NULL;
}
static int hyper_of(const metric_eval *ev, const char *key, double *v) {
  const char *t = hyper_text(ev, key);
  if (t) *v = ps_param_real(t);
  return t != NULL;
}

/* ------------------------------------------------------------------ games */

/* max_y min_y' P(y > y') - E_{y ~ pi} min_y' P(y > y') on the game G = P - 1/2 (y' ranges
 * over every item, y itself included: P(y > y) = 1/2): how far pi is from the best
 * response against a follower who answers each realised y (SLHF's leader limit,
 * docs/theory.md §3.13a).  >= 0. */
static double pure_maxmin_gap(const double *G, size_t M, const double *pi) {
  double best = -INFINITY, mean = 0;
  for (size_t y = 0; y < M; y++) {
    double v = 0.5;
    for (size_t j = 0; j < M; j++) v = fmin(v, 0.5 + G[y * M + j]);
    best = fmax(best, v);
    mean += pi[y] * v;
  }
  return best - mean;
}

/* The model's policy over the items (its own, or the minimax winner of its
 * predicted matrix), judged against the true game: exploitability and distance to
 * the true minimax winner (docs/theory.md §3.13, §4). */
static void game(metric_eval *ev) {
  if (ev->game_done) return;
  ev->game_done = 1;
  ev->expl = ev->expl_model = ev->lp_dist = ev->pure_gap = ev->pure_gap_model = NAN;
  const double *game_p;
  const double *G = cell_sim_game(ev->sim, &game_p);
  if (!G) return;
  size_t Mn = ev->sim->w.n_items;
  const est_type *t = ev->t;
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
      double v = 0.5 * ((ps_sigmoid(t->logit(ev->mod, (int32_t)a, (int32_t)b)) - 0.5) -
                        (ps_sigmoid(t->logit(ev->mod, (int32_t)b, (int32_t)a)) - 0.5));
      Mh[a * Mn + b] = v;
      Mh[b * Mn + a] = -v;
    }
  int ok = t->policy && t->policy(ev->mod, 0, Mn, ph) == PS_OK;
  if (!ok) ok = minimax_lp(Mh, Mn, ph, NULL, NULL) == PS_OK;
  if (ok) {
    ev->expl = minimax_exploitability(G, Mn, ph);
    ev->expl_model = minimax_exploitability(Mh, Mn, ph);
    ev->pure_gap = pure_maxmin_gap(G, Mn, ph);
    ev->pure_gap_model = pure_maxmin_gap(Mh, Mn, ph);
    if (game_p) {
      double dist = 0;
      for (size_t y = 0; y < Mn; y++) dist += fabs(ph[y] - game_p[y]);
      ev->lp_dist = dist;
    }
  }
  free(Mh);
  free(ph);
}

static double m_exploitability(metric_eval *ev) { return game(ev), ev->expl; }
static double m_exploitability_model(metric_eval *ev) { return game(ev), ev->expl_model; }
static double m_lp_distance(metric_eval *ev) { return game(ev), ev->lp_dist; }
static double m_pure_gap(metric_eval *ev) { return game(ev), ev->pure_gap; }
static double m_pure_gap_model(metric_eval *ev) { return game(ev), ev->pure_gap_model; }

/* The regularisation temperature an estimator's policy is compared at: nash's tau, or
 * the beta of a KL-tilted policy (rlhf: pi ∝ mu e^{r/beta} against pi*_beta). */
static int game_tau(const metric_eval *ev, double *tau) { return hyper_of(ev, "tau", tau) || hyper_of(ev, "beta", tau); }

/* KL(pi*_tau || pi-hat): the model's policy against the regularised Nash equilibrium of
 * the TRUE game at the estimator's own tau (nash) or beta (rlhf), uniform reference
 * (docs/theory.md §3.13a). */
static double m_nash_kl(metric_eval *ev) {
  const double *game_p;
  const double *G = cell_sim_game(ev->sim, &game_p);
  double tau;
  if (!G || !game_tau(ev, &tau) || !ev->t->policy) return NAN;
  size_t Mn = ev->sim->w.n_items;
  double *w = malloc(3 * Mn * sizeof(double)), kl = NAN;
  if (!w) return NAN;
  double *mu = w, *star = w + Mn, *ph = w + 2 * Mn;
  for (size_t y = 0; y < Mn; y++) mu[y] = 1.0 / (double)Mn;
  if (nash_solve(G, Mn, mu, tau, star, NULL, NULL) == PS_OK && ev->t->policy(ev->mod, 0, Mn, ph) == PS_OK)
    kl = policy_kl(star, ph, Mn);
  free(w);
  return kl;
}

/* What rlhf's nash_kl converges to: KL(pi*_beta || pi-dagger), pi-dagger ∝ mu e^{theta-dagger
 * / beta} the KL-tilted policy of pooled BT's population limit (docs/theory.md §3.13a, "RLHF
 * against the regularised Nash equilibrium").  Positive unless the game is transitive in
 * the BT sense. */
static double m_nash_kl_limit(metric_eval *ev) {
  const double *G = cell_sim_game(ev->sim, NULL);
  double beta;
  if (!G || !game_tau(ev, &beta)) return NAN;
  size_t Mn = ev->sim->w.n_items;
  double *w = malloc(3 * Mn * sizeof(double)), kl = NAN;
  if (!w) return NAN;
  double *mu = w, *star = w + Mn, *td = w + 2 * Mn;
  for (size_t y = 0; y < Mn; y++) mu[y] = 1.0 / (double)Mn;
  if (nash_solve(G, Mn, mu, beta, star, NULL, NULL) == PS_OK && eval_pooled_bt(ev->sim, PREF_TIES_DROP, td) == PS_OK) {
    for (size_t y = 0; y < Mn; y++) td[y] /= beta;
    kl = eval_density_kl(star, td, Mn);
  }
  free(w);
  return kl;
}

/* The pooled BT pseudo-true parameter (docs/theory.md §3.1, "what pooled BT learns"; §3.17
 * for ties): the solution of BT's population score equations on the labels as generated
 * (annotators, noise, position bias and flips included, the order shown averaged out), every
 * pair of a context weighted equally as the uniform and complete designs ask them: BT fitted
 * to the fractional counts w_ab = (P(a reported over b | a first) + P(a reported over b | b
 * first)) / 2 and w_ba.  With ties (noise.ties) the counts are the ones BT sees after its tie
 * shortcut: dropped, w_ab and w_ba as they are (they sum to 1 - P(tie), the strict rows'
 * share of the pair); half, w_ab + t_ab / 2 and w_ba + t_ab / 2, t_ab the pair's tie
 * probability.  Without ties t_ab = 0 and both modes are pooled BT on q_ab, 1 - q_ab.
 * Item worlds: theta has n_items entries, centred; feature worlds: dim entries, the linear
 * BT over every pair of every context (PS_EINVAL beyond EVAL_POOLED_MAX_PAIRS pairs).
 * PS_OK or the fit's failure. */
int eval_pooled_bt(const cell_sim *s, pref_ties_mode mode, double *theta) {
  const world *w = &s->w;
  const noise_spec *ns = &s->pt.noise;
  size_t C = w->n_contexts ? w->n_contexts : 1, m = w->phi ? w->m : w->n_items, M = w->n_items;
  size_t P = C * (m * (m - 1) / 2), dim = w->phi ? w->d : M;
  if (P > EVAL_POOLED_MAX_PAIRS) return PS_EINVAL;
  pref_data d = {0};
  if (pref_data_alloc(&d, 2 * P, M, 0, 0, 1) != PS_OK) return PS_ENOMEM;
  size_t r = 0;
  for (size_t c = 0; c < C; c++)
    for (size_t i = 0; i < m; i++)
      for (size_t j = i + 1; j < m; j++) {
        int32_t a = (int32_t)(c * m + i), b = (int32_t)(c * m + j);
        double fa, ta, fb, tb;
        noise_tie_split(ns, noise_prob(ns, &s->pop, a, b), &fa, &ta);
        noise_tie_split(ns, noise_prob(ns, &s->pop, b, a), &fb, &tb);
        /* (fa + 1 - fb - tb): with tb = 0 the very sum the strict worlds always had */
        double t = 0.5 * (ta + tb), q = 0.5 * (fa + 1 - fb - tb), qb = 1 - q - t;
        if (mode == PREF_TIES_HALF) q += t / 2, qb += t / 2;
        /* a pair decided with certainty has one row (counts must be positive); if that
         * leaves the win graph not strongly connected the limit is at infinity and
         * bt_fit says no-mle */
        if (q > 0) d.winner[r] = a, d.loser[r] = b, d.count[r++] = q;
        if (qb > 0) d.winner[r] = b, d.loser[r] = a, d.count[r++] = qb;
      }
  d.n = r;
  pref_features fi = {.n_items = M, .d = M, .n_contexts = 1};
  bt_options o = bt_options_default();
  o.tol = 1e-13;
  bt_result br = {0};
  int st = bt_fit(&d, w->phi ? &s->f : &fi, &o, &br, NULL);
  if (st == PS_OK) memcpy(theta, br.theta, dim * sizeof *theta);
  bt_result_free(&br);
  pref_data_free(&d);
  return st;
}

int eval_luce_density(const cell_sim *s, double *qbar) {
  const population *pop = &s->pop;
  size_t M = pop->n_items, K = pop->n_types, H = pop->n_train_users;
  if (pop->kind != POP_LUCE || !K) return PS_EINVAL;
  for (size_t y = 0; y < M; y++) qbar[y] = 0;
  for (size_t k = 0; k < K; k++) {
    double share = pop->type_weight[k];
    if (H && !pop->per_comparison) {
      size_t cnt = 0;
      for (size_t h = 0; h < H; h++) cnt += pop->user_type[h] == (int32_t)k;
      share = (double)cnt / (double)H;
    }
    const double *r = pop->type_reward + k * M;
    double mx = r[0], z = 0;
    for (size_t y = 1; y < M; y++) mx = fmax(mx, r[y]);
    for (size_t y = 0; y < M; y++) z += exp(r[y] - mx);
    for (size_t y = 0; y < M; y++) qbar[y] += share * exp(r[y] - mx) / z;
  }
  return PS_OK;
}

double eval_density_kl(const double *q, const double *theta, size_t m) {
  double mx = theta[0], z = 0, kl = 0;
  for (size_t y = 1; y < m; y++) mx = fmax(mx, theta[y]);
  for (size_t y = 0; y < m; y++) z += exp(theta[y] - mx);
  double lz = mx + log(z);
  for (size_t y = 0; y < m; y++)
    if (q[y] > 0) kl += q[y] * (log(q[y]) - (theta[y] - lz));
  return kl > 0 ? kl : 0; /* >= 0 exactly; rounding can leave -1e-18 */
}

/* KL(q-bar || softmax(theta-hat)): a Luce population's pooled choice density against the
 * density an item model's scores define (Dumoulin et al.'s reading of a BT reward as a
 * log density, docs/theory.md §2.12). */
static double m_density_kl(metric_eval *ev) {
  size_t M = ev->sim->w.n_items, dim = 0;
  const double *th = ev->t->theta(ev->mod, &dim);
  if (!th || dim != M) return NAN;
  double *q = malloc(M * sizeof *q), kl = NAN;
  if (q && eval_luce_density(ev->sim, q) == PS_OK) kl = eval_density_kl(q, th, M);
  free(q);
  return kl;
}

/* The tie shortcut of an estimator with a `ties` hyperparameter (bt), drop for any other:
 * in a world without ties the two agree. */
static pref_ties_mode tie_mode(const metric_eval *ev) {
  const char *t = hyper_text(ev, "ties");
  return t && !strcmp(t, "half") ? PREF_TIES_HALF : PREF_TIES_DROP;
}

/* ||theta-hat - theta-dagger||: a model's parameter against pooled BT's pseudo-true one, with
 * the estimator's own tie shortcut — centred item scores in item worlds, the linear BT
 * parameter in feature worlds (NaN for models without one of that size). */
static double m_pseudo_true_err(metric_eval *ev) {
  const world *w = &ev->sim->w;
  size_t D = w->phi ? w->d : w->n_items, dim = 0;
  const double *th = ev->t->theta(ev->mod, &dim);
  if (!th || dim != D) return NAN;
  double *td = malloc(D * sizeof *td), e = NAN;
  if (td && eval_pooled_bt(ev->sim, tie_mode(ev), td) == PS_OK) {
    double mh = 0, s2 = 0;
    if (!w->phi)
      for (size_t y = 0; y < D; y++) mh += th[y] / (double)D;
    for (size_t y = 0; y < D; y++) s2 += (th[y] - mh - td[y]) * (th[y] - mh - td[y]);
    e = sqrt(s2);
  }
  free(td);
  return e;
}

double eval_theta_slope(const double *th, const population *pop, double T, int centre) {
  size_t d = pop->d;
  double mh = 0, dot = 0, nn = 0;
  for (size_t k = 0; centre && k < d; k++) mh += th[k] / (double)d;
  for (size_t k = 0; k < d; k++) {
    double t = pop->theta[k] / T;
    dot += (th[k] - mh) * t;
    nn += t * t;
  }
  return nn > 0 ? dot / nn : NAN;
}

/* <theta-hat, theta* / T> / ||theta* / T||^2 (items: theta-hat centred) */
static double m_theta_slope(metric_eval *ev) {
  size_t dim = 0;
  const double *th = ev->t->theta(ev->mod, &dim);
  const population *pop = &ev->sim->pop;
  if (!th || dim != pop->d) return NAN;
  return eval_theta_slope(th, pop, ev->sim->pt.noise.temperature, ev->sim->f.phi == NULL);
}

/* ------------------------------------------------------------ annotators */

/* Per-annotator evaluation (docs/theory.md §4): held-out predictions against each
 * comparison's own annotator's truth pu, with the model's per-annotator prediction
 * when it has one; accuracy per true type; estimated competences and flip rates
 * against the truth. */
static void users(metric_eval *ev) {
  if (ev->user_done) return;
  ev->user_done = 1;
  user_sums *u = &ev->us;
  u->excess = u->acc = u->group_min = u->minority = u->comp_err = u->flip_err = u->flip_rate = u->ari = NAN;
  const cell_sim *s = ev->sim;
  const est_type *t = ev->t;
  const pref_data *held = &s->held;
  const population *pop = &s->pop;
  const noise_spec *ns = &s->pt.noise;
  size_t K = pop->n_types ? pop->n_types : 1;
  double ce = 0, ent = 0, acc = 0, *tacc = calloc(2 * K, sizeof(double));
  double macc = 0, mcnt = 0;
  if (!tacc) return;
  for (size_t i = 0; i < held->n; i++) {
    int32_t a = pref_first(held, i), b = pref_second(held, i);
    size_t h = held->annotator ? (size_t)held->annotator[i] : 0;
    double z = t->logit_annotator && held->annotator ? t->logit_annotator(ev->mod, (int32_t)h, a, b)
                                                     : t->logit(ev->mod, a, b);
    double p = s->held_pu[i];
    ce += ps_cross_entropy_logit(p, z);
    ent += ps_bern_entropy(p);
    double hit = (z == 0 || p == 0.5) ? 0.5 : ((z > 0) == (p > 0.5) ? 1.0 : 0.0);
    acc += hit;
    if (pop->n_users && pop->user_type && pop->user_type[h] >= 0) {
      size_t k = (size_t)pop->user_type[h];
      tacc[2 * k] += hit;
      tacc[2 * k + 1] += 1;
      if (k >= 1) macc += hit, mcnt += 1;
    }
  }
  u->excess = (ce - ent) / (double)held->n;
  u->acc = acc / (double)held->n;
  if (pop->n_types >= 1 && pop->user_type) {
    double mn = INFINITY;
    for (size_t k = 0; k < K; k++)
      if (tacc[2 * k + 1] > 0) mn = fmin(mn, tacc[2 * k] / tacc[2 * k + 1]);
    if (isfinite(mn)) u->group_min = mn;
    if (mcnt > 0) u->minority = macc / mcnt;
  }
  free(tacc);
  /* per-annotator estimates against the truth */
  if (!t->annotator || !t->annotator_columns || !pop->n_users) return;
  long ccomp = -1, cflip = -1, cclus = -1;
  size_t nc = 0;
  for (; t->annotator_columns[nc]; nc++) {
    if (!strcmp(t->annotator_columns[nc], "competence")) ccomp = (long)nc;
    if (!strcmp(t->annotator_columns[nc], "flip")) cflip = (long)nc;
    if (!strcmp(t->annotator_columns[nc], "cluster")) cclus = (long)nc;
  }
  size_t H = pop->n_train_users, ok = 0;
  double *v = malloc((nc ? nc : 1) * sizeof(double));
  int32_t *clus = cclus >= 0 ? malloc(H * sizeof(int32_t)) : NULL;
  if (!v || (cclus >= 0 && !clus)) {
    free(v);
    free(clus);
    return;
  }
  double ec = 0, ef = 0, fr = 0;
  int clus_ok = cclus >= 0 && pop->n_types >= 1 && !pop->per_comparison;
  for (size_t h = 0; h < H; h++) {
    if (t->annotator(ev->mod, h, v) != PS_OK) {
      clus_ok = 0;
      continue;
    }
    ok++;
    if (clus) clus[h] = isfinite(v[cclus]) ? (int32_t)v[cclus] : -1;
    double truth_flip = ns->flip + (1 - 2 * ns->flip) * (1 - pop->competence[h]) / 2;
    if (ccomp >= 0) ec += fabs(v[ccomp] - pop->competence[h]);
    if (cflip >= 0) ef += fabs(v[cflip] - truth_flip), fr += v[cflip];
  }
  if (ok && ccomp >= 0) u->comp_err = ec / (double)ok;
  if (ok && cflip >= 0) u->flip_err = ef / (double)ok, u->flip_rate = fr / (double)ok;
  if (clus_ok) u->ari = cluster_ari(H, clus, pop->user_type);
  free(v);
  free(clus);
}

static double m_user_excess(metric_eval *ev) { return users(ev), ev->us.excess; }
static double m_user_accuracy(metric_eval *ev) { return users(ev), ev->us.acc; }
static double m_group_accuracy_min(metric_eval *ev) { return users(ev), ev->us.group_min; }
static double m_minority_accuracy(metric_eval *ev) { return users(ev), ev->us.minority; }
static double m_ari(metric_eval *ev) { return users(ev), ev->us.ari; }
static double m_competence_err(metric_eval *ev) { return users(ev), ev->us.comp_err; }
static double m_flip_err(metric_eval *ev) { return users(ev), ev->us.flip_err; }
static double m_flip_rate(metric_eval *ev) { return users(ev), ev->us.flip_rate; }

/* Few-shot (docs/theory.md §3.6): adapt to each new user's shots (its own
 * parameters only; the estimator stream, substream 1000 + 64 j + k), then accuracy
 * of its predictions against the user's truth on held-out comparisons. */
static double m_fewshot(metric_eval *ev) {
  const cell_sim *s = ev->sim;
  const est_type *t = ev->t;
  if (!s->n_new) return NAN;
  size_t L = t->user_state_len(ev->mod), n_shots = s->pt.shots;
  double *state = malloc((L ? L : 1) * sizeof(double)), acc = 0, cnt = 0;
  pref_data none = {0};
  if (!state) return NAN;
  for (size_t j = 0; j < s->n_new; j++) {
    ps_msg am = {{0}};
    ps_rng_reset(ev->rng, s->e->seed, PS_STREAM_ESTIMATOR, s->p, s->rep, 1000 + 64 * j + ev->k);
    none.n_items = s->shot_held[j].n_items;
    none.n_annotators = 1;
    if (t->adapt(ev->mod, n_shots ? &s->shots[j] : &none, ev->rng, state, &am) != PS_OK) {
      free(state);
      return NAN;
    }
    size_t h = s->pop.n_train_users + j;
    for (size_t i = 0; i < s->shot_held[j].n; i++) {
      int32_t a = pref_first(&s->shot_held[j], i), b = pref_second(&s->shot_held[j], i);
      double q = noise_prob_user(&s->pt.noise, &s->pop, h, a, b), z = t->logit_user(ev->mod, state, a, b);
      acc += (z == 0 || q == 0.5) ? 0.5 : ((z > 0) == (q > 0.5));
      cnt += 1;
    }
  }
  free(state);
  return cnt > 0 ? acc / cnt : NAN;
}

/* Spread of the active group losses (docs/theory.md §3.12): models reporting
 * annotator columns `loss` (their group objective) and `alpha_star` (the exact
 * min-max dual weight) give max - min of loss over the groups with alpha_star > 1e-4,
 * which are equal at the min-max point. */
static double m_group_loss_spread(metric_eval *ev) {
  const est_type *t = ev->t;
  const char *const *cols = t->annotator_columns;
  long il = -1, ia = -1;
  size_t nc = 0, H = ev->sim->train.n_annotators;
  for (; cols && cols[nc]; nc++) {
    if (!strcmp(cols[nc], "loss")) il = (long)nc;
    if (!strcmp(cols[nc], "alpha_star")) ia = (long)nc;
  }
  if (il < 0 || ia < 0 || !t->annotator || !ev->sim->train.annotator) return NAN;
  double *v = malloc(nc * sizeof(double)), hi = -INFINITY, lo = INFINITY;
  if (!v) return NAN;
  for (size_t h = 0; h < H; h++)
    if (t->annotator(ev->mod, h, v) == PS_OK && v[ia] > 1e-4 && isfinite(v[il])) {
      hi = fmax(hi, v[il]);
      lo = fmin(lo, v[il]);
    }
  free(v);
  return hi >= lo ? hi - lo : NAN;
}

/* ------------------------------------------------------- group values */

/* Per-group values of the model's policy (docs/theory.md §4): worst-group value,
 * the minority's alignment gap and the largest gap. */
static void group_values(metric_eval *ev) {
  if (ev->groupv_done) return;
  ev->groupv_done = 1;
  ev->worst = ev->mgap = ev->gap = NAN;
  const cell_sim *s = ev->sim;
  const double *pi = model_policy(ev);
  if (!pi) return;
  size_t C = s->w.n_contexts, m = s->w.m, M = s->w.n_items, K = s->n_groups;
  double worst = INFINITY, mgap = -INFINITY, gap = -INFINITY, beta = s->pt.beta;
  for (size_t u = 0; u < K; u++) {
    double F = group_value(pi, s->groups + u * M, s->log_ref, C, m, beta);
    double g = group_optimum(s->groups + u * M, s->log_ref, C, m, beta) - F;
    worst = fmin(worst, F);
    gap = fmax(gap, g);
    if (u >= 1) mgap = fmax(mgap, g);
  }
  ev->worst = worst;
  ev->gap = gap;
  if (K >= 2) ev->mgap = mgap;
}

static double m_worst_group_value(metric_eval *ev) { return group_values(ev), ev->worst; }
static double m_minority_gap(metric_eval *ev) { return group_values(ev), ev->mgap; }
static double m_max_group_gap(metric_eval *ev) { return group_values(ev), ev->gap; }

/* ------------------------------------------------------------ policies */

/* Policy sums (docs/theory.md §1, §4) of the model's KL-regularised policy pi under
 * the true reward r/T (the population's mean reward), the clean true preferences
 * and the reference pi_ref: J, suboptimality (and the identity J(pi*) - J(pi) =
 * beta KL(pi||pi*)), KL to the reference, win rate, and held-out (idealised)
 * ranking accuracy. */
static const policy_sums *policy(metric_eval *ev) {
  if (ev->policy_done) return ev->ps.ok ? &ev->ps : NULL;
  ev->policy_done = 1;
  const cell_sim *s = ev->sim;
  const world *w = &s->w;
  const population *pop = &s->pop;
  const noise_spec *ns = &s->pt.noise;
  const pref_data *held = &s->held;
  size_t C = w->n_contexts, m = w->m, M = w->n_items;
  double beta = s->pt.beta;
  const double *pi = model_policy(ev);
  double *ref = malloc(m * sizeof(double)), *r = malloc(m * sizeof(double));
  double *star = malloc(m * sizeof(double)), *logpi = malloc(M * sizeof(double));
  double *logstar = malloc(M * sizeof(double));
  double *alpha = malloc((held->n ? held->n : 1) * sizeof(double));
  policy_sums *o = &ev->ps;
  if (!pi || !ref || !r || !star || !logpi || !logstar || !alpha) goto done;
  double J = 0, Jstar = 0, kl = 0, klstar = 0, unreg = 0, lperr = 0;
  for (size_t c = 0; c < C; c++) {
    const double *p = pi + c * m;
    for (size_t y = 0; y < m; y++) {
      ref[y] = exp(s->log_ref[c * m + y]);
      r[y] = pop->reward[c * m + y] / ns->temperature;
    }
    policy_kl_optimal(ref, r, beta, m, star);
    J += policy_objective(p, ref, r, beta, m);
    Jstar += policy_objective(star, ref, r, beta, m);
    kl += policy_kl(p, ref, m);
    klstar += policy_kl(p, star, m);
    double best = -INFINITY;
    for (size_t y = 0; y < m; y++) best = fmax(best, r[y]);
    unreg += best - policy_value(p, r, m);
    for (size_t y = 0; y < m; y++) {
      logpi[c * m + y] = p[y] > 0 ? log(p[y]) : -INFINITY;
      logstar[c * m + y] = log(star[y]);
      lperr = fmax(lperr, fabs(logpi[c * m + y] - log(star[y])));
    }
  }
  o->lperr = lperr;
  o->J = J / (double)C;
  o->Jstar = (Jstar - J) / (double)C;
  o->klstar = fabs((Jstar - J) - beta * klstar) / (double)C;
  o->kl = kl / (double)C;
  o->unreg = unreg / (double)C;
  o->rankacc = policy_ranking_accuracy(logpi, held);
  {
    /* pairs the policy orders unlike pi* (ties as in ranking_accuracy: >= is "first") */
    double flip = 0, tot = 0;
    for (size_t i = 0; i < held->n; i++) {
      double cnt = held->count ? held->count[i] : 1.0;
      int32_t a = held->winner[i], b = held->loser[i];
      flip += cnt * ((logpi[a] >= logpi[b]) != (logstar[a] >= logstar[b]));
      tot += cnt;
    }
    o->rankflip = tot > 0 ? flip / tot : NAN;
  }
  /* alpha = P(y_w > y_l) of the row's own annotator, from the first-shown truth */
  for (size_t i = 0; i < held->n; i++) {
    int first_won = !held->first_won || held->first_won[i];
    alpha[i] = first_won ? s->held_pu[i] : 1 - s->held_pu[i];
  }
  o->idealrank = policy_ideal_ranking_accuracy(s->log_ref, alpha, beta, held);
  o->ok = 1;
done:
  free(ref);
  free(r);
  free(star);
  free(logpi);
  free(logstar);
  free(alpha);
  return o->ok ? o : NULL;
}

/* win_rate on its own, since its preference matrix costs O(m^2) per context where the
 * other policy metrics cost O(m): E_x sum pi(y) pi_ref(y') P(y > y') (clean truth). */
static double m_win_rate(metric_eval *ev) {
  const cell_sim *s = ev->sim;
  const world *w = &s->w;
  size_t C = w->n_contexts, m = w->m;
  const double *pi = model_policy(ev);
  double *ref = malloc(m * sizeof(double)), *P = malloc(m * m * sizeof(double)), wr = 0;
  if (!pi || !ref || !P) {
    free(ref);
    free(P);
    return NAN;
  }
  for (size_t c = 0; c < C; c++) {
    for (size_t y = 0; y < m; y++) ref[y] = exp(s->log_ref[c * m + y]);
    for (size_t a = 0; a < m; a++)
      for (size_t b = 0; b < m; b++)
        P[a * m + b] = a == b ? 0.5 : noise_prob_clean(&s->pt.noise, &s->pop, (int32_t)(c * m + a), (int32_t)(c * m + b));
    wr += policy_win_rate(pi + c * m, ref, P, m);
  }
  free(ref);
  free(P);
  return wr / (double)C;
}

/* DRPO's bias at its own policy when both nuisances are fixed (docs/theory.md §3.11):
 * E p_DR(pi) - p*(pi) = E_x sum_y pi(y|x) (pi_ref(y|x) / pi-hat_ref(y|x) - 1) sum_b pi_ref(b|x)
 * (g*(x,y,b) - g-hat(x,y,b)), evaluated at the fitted policy for g-hat = 1/2 (preference =
 * constant) and pi-hat_ref uniform or known (reference); g* the labels' probability
 * (noise_prob, the order shown averaged out; g*(y,y) = 1/2), contexts equally weighted as
 * win_rate weights them.  NaN for the fitted nuisances, whose g-hat or pi-hat_ref the
 * metric cannot see.  The distinct-pair rows do not change it (§3.11: the tie correction's
 * terms are direct-method terms, and their expectation cancels against the rows'). */
static double m_dr_bilinear_bias(metric_eval *ev) {
  const char *pref = hyper_text(ev, "preference"), *ref = hyper_text(ev, "reference");
  if (!pref || !ref) return NAN;
  int uniform = !strcmp(ref, "uniform");
  if (strcmp(pref, "constant") || (!uniform && strcmp(ref, "known"))) return NAN;
  const cell_sim *s = ev->sim;
  size_t C = s->w.n_contexts, m = s->w.m;
  const double *pi = model_policy(ev);
  if (!pi) return NAN;
  double bias = 0;
  for (size_t c = 0; c < C; c++)
    for (size_t y = 0; y < m; y++) {
      int32_t a = (int32_t)(c * m + y);
      double ry = exp(s->log_ref[a]), inner = 0;
      for (size_t b = 0; b < m; b++) {
        if (b == y) continue;
        int32_t bb = (int32_t)(c * m + b);
        double g = 0.5 * (noise_prob(&s->pt.noise, &s->pop, a, bb) + 1 - noise_prob(&s->pt.noise, &s->pop, bb, a));
        inner += exp(s->log_ref[bb]) * (g - 0.5);
      }
      bias += pi[a] * (uniform ? ry * (double)m - 1 : 0) * inner;
    }
  return bias / (double)C;
}

#define POLICY_FIELD(fn, field)                                                                                    \
  static double fn(metric_eval *ev) {                                                                              \
    const policy_sums *ps = policy(ev);                                                                            \
    return ps ? ps->field : NAN;                                                                                   \
  }
POLICY_FIELD(m_policy_value, J)
POLICY_FIELD(m_suboptimality, Jstar)
POLICY_FIELD(m_identity_residual, klstar)
POLICY_FIELD(m_kl_ref, kl)
POLICY_FIELD(m_unreg_suboptimality, unreg)
POLICY_FIELD(m_logpi_err, lperr)
POLICY_FIELD(m_ranking_accuracy, rankacc)
POLICY_FIELD(m_ideal_ranking_accuracy, idealrank)
POLICY_FIELD(m_ranking_flip_share, rankflip)

/* Gains over the reference (docs/theory.md §3.13b): E_x[E_pi g - E_pi_ref g] with g the
 * true reward r/T (gold) or the model's own reward, its logit against the context's
 * first response (proxy; the offset cancels in the difference of expectations). */
static double policy_gain(metric_eval *ev, int gold) {
  const cell_sim *s = ev->sim;
  const world *w = &s->w;
  size_t C = w->n_contexts, m = w->m;
  const double *pi = model_policy(ev);
  if (!pi) return NAN;
  double g = 0;
  for (size_t c = 0; c < C; c++)
    for (size_t y = 0; y < m; y++) {
      size_t i = c * m + y;
      double v = gold ? s->pop.reward[i] / s->pt.noise.temperature
                      : ev->t->logit(ev->mod, (int32_t)i, (int32_t)(c * m));
      g += (pi[i] - exp(s->log_ref[i])) * v;
    }
  return g / (double)C;
}
/* The proxy gain against the Gaussian KL frontier (docs/theory.md §3.13b): per context,
 * (E_pi r-hat - E_ref r-hat) / (sd_ref(r-hat) sqrt(2 KL(pi || pi_ref))), averaged over the
 * contexts where the policy moved (KL > 0).  Tilting a Gaussian reward attains 1, the most
 * any policy gains at its KL; best-of-n on a Gaussian attains e_n / sqrt(2 (log n - (n-1)/n)),
 * e_n = E max of n standard normals. */
static double m_frontier_ratio(metric_eval *ev) {
  const cell_sim *s = ev->sim;
  const world *w = &s->w;
  size_t C = w->n_contexts, m = w->m, used = 0;
  const double *pi = model_policy(ev);
  double *r = pi ? malloc(m * sizeof *r) : NULL, sum = 0;
  if (!r) return NAN;
  for (size_t c = 0; c < C; c++) {
    double mean = 0, var = 0, gain = 0, kl = 0;
    for (size_t y = 0; y < m; y++) {
      size_t i = c * m + y;
      r[y] = ev->t->logit(ev->mod, (int32_t)i, (int32_t)(c * m));
      mean += exp(s->log_ref[i]) * r[y];
    }
    for (size_t y = 0; y < m; y++) {
      size_t i = c * m + y;
      double q = exp(s->log_ref[i]);
      var += q * (r[y] - mean) * (r[y] - mean);
      gain += (pi[i] - q) * r[y];
      if (pi[i] > 0) kl += pi[i] * (log(pi[i]) - s->log_ref[i]);
    }
    if (kl > 1e-12 && var > 0) sum += gain / sqrt(2 * kl * var), used++;
  }
  free(r);
  return used ? sum / (double)used : NAN;
}

static double m_gold_gain(metric_eval *ev) { return policy_gain(ev, 1); }
static double m_proxy_gain(metric_eval *ev) { return policy_gain(ev, 0); }

/* Likelihood displacement on the training comparisons (docs/theory.md §3.13c): the
 * row-weighted mean of log pi(y) - log pi_ref(y) over the chosen (reported winner) or
 * rejected responses, or the weighted share of rows whose chosen response lost
 * probability. */
enum { DISP_CHOSEN, DISP_REJECTED, DISP_FALL };
static double displacement(metric_eval *ev, int what) {
  const cell_sim *s = ev->sim;
  const pref_data *d = &s->train;
  const double *pi = model_policy(ev);
  if (!pi || !d->n) return NAN;
  double sum = 0, W = 0;
  for (size_t i = 0; i < d->n; i++) {
    double c = d->count ? d->count[i] : 1.0;
    int32_t y = what == DISP_REJECTED ? d->loser[i] : d->winner[i];
    double u = log(pi[y]) - s->log_ref[y];
    sum += c * (what == DISP_FALL ? (u < 0) : u);
    W += c;
  }
  return sum / W;
}
static double m_chosen_logp_change(metric_eval *ev) { return displacement(ev, DISP_CHOSEN); }
static double m_rejected_logp_change(metric_eval *ev) { return displacement(ev, DISP_REJECTED); }
static double m_chosen_fall_share(metric_eval *ev) { return displacement(ev, DISP_FALL); }

/* ------------------------------------------------------ margins of behaviours */

/* Time (times k) at which the flow dm/dt = k (p - sigma(m)), m(0) = 0, reaches margin m
 * (docs/theory.md §3.13c): integral of dm / (p - sigma(m)) in closed form,
 *   t k = m / p - log((p - q e^m) / (p - q)) / (p q),   q = 1 - p,
 * and m + e^m - 1 at p = 1 (mirrored at p = 0).  m lies between 0 and logit p. */
static double flow_time(double m, double p) {
  if (p >= 1) return m + expm1(m);
  if (p <= 0) return -m + expm1(-m);
  double q = 1 - p;
  /* (p - q e^m) / (p - q) = 1 - q (e^m - 1) / (p - q) */
  return m / p - log1p(-q * expm1(m) / (p - q)) / (p * q);
}

/* The flow's margin at time t: flow_time inverted by bisection (monotone in |m|). */
double eval_flow_margin(double k, double p, double t) {
  double T = k * t;
  if (!(T > 0) || fabs(p - 0.5) < 1e-15) return 0;
  int up = p > 0.5;
  double lo = 0, hi = p >= 1 || p <= 0 ? log1p(T) + 1 : fabs(log(p / (1 - p)));
  for (int it = 0; it < 200; it++) {
    double mid = 0.5 * (lo + hi);
    if (mid == lo || mid == hi) break;
    if (flow_time(up ? mid : -mid, p) < T) lo = mid;
    else hi = mid;
  }
  double mm = 0.5 * (lo + hi);
  return up ? mm : -mm;
}

/* Per-behaviour quantities of a world whose contexts hold 2 responses with mutually
 * orthogonal difference vectors Delta_c (world behaviours, docs/theory.md §3.13c):
 * k_c = beta^2 |Delta_c|^2 w_c, p_c, and the fitted margin beta theta-hat^T Delta_c.
 * 0 when the world or the estimator does not have that structure. */
typedef struct {
  size_t C;
  double *k, *p, *mh;
  double eta, t;
} margin_view;

static int margin_view_build(metric_eval *ev, margin_view *mv) {
  const cell_sim *s = ev->sim;
  const world *w = &s->w;
  size_t dim = 0, C = w->n_contexts, D = w->d;
  const double *th = ev->t->theta(ev->mod, &dim);
  double beta, steps;
  memset(mv, 0, sizeof *mv);
  if (!th || !w->phi || w->m != 2 || dim != D || C > 4096 || !hyper_of(ev, "beta", &beta) ||
      !hyper_of(ev, "lr", &mv->eta) || !hyper_of(ev, "steps", &steps))
    return 0;
  mv->t = mv->eta * steps;
  double *buf = calloc(3 * C + C * D, sizeof *buf);
  if (!buf) return 0;
  mv->k = buf, mv->p = buf + C, mv->mh = buf + 2 * C;
  double *delta = buf + 3 * C, *wc = calloc(2 * C, sizeof *wc);
  if (!wc) {
    free(buf);
    return 0;
  }
  for (size_t c = 0; c < C; c++)
    for (size_t j = 0; j < D; j++) delta[c * D + j] = w->phi[(2 * c) * D + j] - w->phi[(2 * c + 1) * D + j];
  int ok = 1;
  for (size_t a = 0; a < C && ok; a++)
    for (size_t b = a + 1; b < C && ok; b++) {
      double ab = 0, aa = 0, bb = 0;
      for (size_t j = 0; j < D; j++)
        ab += delta[a * D + j] * delta[b * D + j], aa += delta[a * D + j] * delta[a * D + j],
            bb += delta[b * D + j] * delta[b * D + j];
      ok = fabs(ab) <= 1e-12 * sqrt(aa * bb);
    }
  const pref_data *d = &s->train;
  double W = 0;
  for (size_t i = 0; i < d->n && ok; i++) {
    double cnt = d->count ? d->count[i] : 1.0;
    size_t c = (size_t)d->winner[i] / 2;
    wc[c] += cnt;
    if (d->winner[i] % 2 == 0) wc[C + c] += cnt;
    W += cnt;
  }
  for (size_t c = 0; c < C && ok; c++) {
    double n2 = 0, m = 0;
    for (size_t j = 0; j < D; j++) n2 += delta[c * D + j] * delta[c * D + j], m += th[j] * delta[c * D + j];
    mv->k[c] = beta * beta * n2 * wc[c] / W;
    mv->p[c] = wc[c] > 0 ? wc[C + c] / wc[c] : 0.5;
    mv->mh[c] = beta * m;
  }
  free(wc);
  if (!ok || !(W > 0)) {
    free(buf);
    memset(mv, 0, sizeof *mv);
    return 0;
  }
  mv->C = C;
  return 1;
}

/* max_c |m-hat_c - m_c(lr steps)| / B_c, B_c = eta k_c / 4 + (eta k_c)^2 / 16: gradient descent's
 * distance from the closed-form flow in units of its Euler bound (§3.13c) */
static double m_margin_flow_err(metric_eval *ev) {
  margin_view mv;
  if (!margin_view_build(ev, &mv)) return NAN;
  double worst = 0;
  for (size_t c = 0; c < mv.C; c++) {
    double ek = mv.eta * mv.k[c], B = ek / 4 + ek * ek / 16;
    double e = fabs(mv.mh[c] - eval_flow_margin(mv.k[c], mv.p[c], mv.t));
    worst = fmax(worst, B > 0 ? e / B : (e > 0 ? INFINITY : 0));
  }
  free(mv.k);
  return worst;
}

/* Kendall tau-b of the behaviours' fitted |margins| against their distinguishabilities k_c */
static double m_margin_order(metric_eval *ev) {
  margin_view mv;
  if (!margin_view_build(ev, &mv)) return NAN;
  for (size_t c = 0; c < mv.C; c++) mv.mh[c] = fabs(mv.mh[c]);
  double v = mv.C >= 2 ? kendall_tau_b(mv.mh, mv.k, mv.C) : NAN;
  free(mv.k);
  return v;
}

/* ||theta-hat - theta* / (T beta)||: a log-linear policy's offset from pi_ref against
 * DPO's population target */
static double m_policy_param_err(metric_eval *ev) {
  const cell_sim *s = ev->sim;
  const population *pop = &s->pop;
  size_t dim = 0;
  const double *th = ev->t->theta(ev->mod, &dim);
  if (!policy(ev) || !th || !pop->theta || dim != pop->d || !s->w.phi || !ev->t->policy) return NAN;
  double e2 = 0;
  for (size_t k = 0; k < dim; k++) {
    double d = th[k] - pop->theta[k] / (s->pt.noise.temperature * s->pt.beta);
    e2 += d * d;
  }
  return sqrt(e2);
}

/* share of the coordinates of theta whose naive 95% interval theta-hat_k +- 1.96 se_k (the
 * estimator's own standard errors, est_type.se) covers theta*_k / T: near 0.95 for an MLE of
 * a well-specified model, below it when the rows it treats as independent are not (ranking
 * breaking, docs/theory.md §3.18) */
static double m_ci_coverage(metric_eval *ev) {
  const population *pop = &ev->sim->pop;
  size_t dim = 0;
  const double *th = ev->t->theta(ev->mod, &dim);
  if (!th || dim != pop->d || !dim) return NAN;
  double *se = malloc(dim * sizeof *se), cov = NAN;
  ps_msg m;
  if (se && ev->t->se(ev->mod, se, &m) == PS_OK) {
    double hit = 0;
    for (size_t k = 0; k < dim; k++) hit += fabs(th[k] - pop->theta[k] / ev->sim->pt.noise.temperature) <= 1.959963984540054 * se[k];
    cov = hit / (double)dim;
  }
  free(se);
  return cov;
}

static double m_self_estimate(metric_eval *ev) { return ev->t->self_estimate(ev->mod); }

/* compare the estimator's own estimate with the truth it estimates */
static double m_bound_holds(metric_eval *ev) {
  double se = metric_value(ev, "self_estimate"), un = metric_value(ev, "unreg_suboptimality");
  return isfinite(se) && isfinite(un) ? un <= se : NAN;
}

static double m_self_estimate_err(metric_eval *ev) {
  double se = metric_value(ev, "self_estimate"), wr = metric_value(ev, "win_rate");
  return isfinite(se) && isfinite(wr) ? fabs(se - wr) : NAN;
}

static double m_self_estimate_diff(metric_eval *ev) {
  double se = metric_value(ev, "self_estimate"), wr = metric_value(ev, "win_rate");
  return isfinite(se) && isfinite(wr) ? se - wr : NAN;
}

/* ---------------------------------------------------------- fit records */

static double m_fit_seconds(metric_eval *ev) { return ev->fit_seconds; }
static double m_iterations(metric_eval *ev) { return ev->info.iterations; }
static double m_converged(metric_eval *ev) { return ev->fit_status == PS_OK && ev->info.converged; }

/* ------------------------------------------------------------ MDP worlds */

#define MDP_HORIZON 1000 /* steps of the returns that score a learned reward's policies */

/* true scaled return (1 optimal, 0 random) of the learned reward's optimal policy and
 * of its one-step greedy use (docs/theory.md §4.8) */
static double m_return_policy(metric_eval *ev) {
  mdp_scaled sc;
  return mdp_scaled_return(ev->mdp->md, ev->mdp->policy, MDP_HORIZON, &sc, NULL) == PS_OK ? sc.scaled : NAN;
}

static double m_return_greedy(metric_eval *ev) {
  mdp_scaled sc;
  return mdp_scaled_return(ev->mdp->md, ev->mdp->greedy, MDP_HORIZON, &sc, NULL) == PS_OK ? sc.scaled : NAN;
}

/* reward recovery up to the class of rewards with the same optimal policies: the share
 * of start states where the learned reward's optimal action is optimal */
static double m_policy_agreement(metric_eval *ev) {
  const mdp_env *env = &ev->mdp->md->env;
  size_t live = 0, agree = 0;
  for (size_t st = 0; st < env->n_states; st++) {
    if (!mdp_is_start(env, st)) continue;
    live++;
    agree += ev->mdp->sol->adv[st * env->n_actions + (size_t)ev->mdp->policy[st]] >= -1e-9;
  }
  return live ? (double)agree / (double)live : NAN;
}

/* the same share for the one-step greedy policy argmax_a r_w(s, a): with (state, action)
 * features r_w can be A* + c, and this says in how many states its argmax is optimal */
static double m_greedy_agreement(metric_eval *ev) {
  const mdp_env *env = &ev->mdp->md->env;
  size_t live = 0, agree = 0;
  for (size_t st = 0; st < env->n_states; st++) {
    if (!mdp_is_start(env, st)) continue;
    live++;
    agree += ev->mdp->sol->adv[st * env->n_actions + (size_t)ev->mdp->greedy[st]] >= -1e-9;
  }
  return live ? (double)agree / (double)live : NAN;
}

/* ------------------------------------------------------- applicability */

static int has_theta(const est_type *t, const exp_point *pt) { return t->theta && pt->population.kind == POP_BT; }
static int small_items(const est_type *t, const exp_point *pt) { return pt->world.items <= GAME_MAX_ITEMS; }
static int equal_pairs(const est_type *t, const exp_point *pt) {
  return small_items(t, pt) && pt->design.kind != DESIGN_POLICY;
}
/* pseudo_true_err: equal pair weights, item worlds with a game, or feature worlds whose
 * pairs eval_pooled_bt can enumerate; in a world with ties only for the models that reduce
 * them to strict pairs (a `ties` hyperparameter: bt), not for the tie models, whose limit
 * is their own */
static int pooled_limit(const est_type *t, const exp_point *pt) {
  if (pt->design.kind == DESIGN_POLICY) return 0;
  if (pt->noise.ties != NOISE_TIES_NONE && (t->inputs & EST_IN_TIES) && !ps_param_find(t->params, "ties")) return 0;
  if (pt->world.kind == WORLD_ITEMS) return small_items(t, pt);
  double pairs = (double)pt->world.contexts * (double)pt->world.responses * ((double)pt->world.responses - 1) / 2;
  return pt->world.kind == WORLD_FEATURES && pairs <= EVAL_POOLED_MAX_PAIRS;
}
static int luce_items(const est_type *t, const exp_point *pt) {
  return pt->population.kind == POP_LUCE && t->theta;
}
static int gd_behaviours(const est_type *t, const exp_point *pt) {
  return ps_param_find(t->params, "lr") && ps_param_find(t->params, "steps") && ps_param_find(t->params, "beta") &&
         pt->world.responses == 2;
}
static int drpo_fixed(const est_type *t, const exp_point *pt) {
  return ps_param_find(t->params, "preference") && ps_param_find(t->params, "reference");
}
static int nash_items(const est_type *t, const exp_point *pt) {
  return small_items(t, pt) && (!strcmp(t->name, "nash") || !strcmp(t->name, "rlhf"));
}
static int rlhf_items(const est_type *t, const exp_point *pt) {
  return equal_pairs(t, pt) && !strcmp(t->name, "rlhf");
}
static int annotators(const est_type *t, const exp_point *pt) { return pt->population.annotators > 0; }
static int typed(const est_type *t, const exp_point *pt) {
  return pt->population.annotators > 0 && (pt->population.kind == POP_BT || population_kind_typed(pt->population.kind));
}
static int minority_types(const est_type *t, const exp_point *pt) {
  return pt->population.annotators > 0 && population_kind_typed(pt->population.kind) && pt->population.types >= 2;
}
static int has_column(const est_type *t, const char *name) {
  for (size_t i = 0; t->annotator && t->annotator_columns && t->annotator_columns[i]; i++)
    if (!strcmp(t->annotator_columns[i], name)) return 1;
  return 0;
}
static int clusters(const est_type *t, const exp_point *pt) {
  return has_column(t, "cluster") && typed(t, pt) && !pt->population.per_comparison;
}
static int competences(const est_type *t, const exp_point *pt) { return has_column(t, "competence") && annotators(t, pt); }
static int flips(const est_type *t, const exp_point *pt) { return has_column(t, "flip") && annotators(t, pt); }
static int group_losses(const est_type *t, const exp_point *pt) {
  return has_column(t, "loss") && has_column(t, "alpha_star") && annotators(t, pt);
}
static int fewshot(const est_type *t, const exp_point *pt) {
  return pt->population.new_annotators > 0 && t->adapt && t->logit_user && t->user_state_len;
}
static int mixture_groups(const est_type *t, const exp_point *pt) {
  return population_kind_typed(pt->population.kind) && pt->population.types >= 2;
}
static int policy_param(const est_type *t, const exp_point *pt) {
  return t->theta && t->policy && pt->population.kind == POP_BT;
}
static int self_estimate(const est_type *t, const exp_point *pt) { return t->self_estimate != NULL; }
static int reward_se(const est_type *t, const exp_point *pt) { return t->se && !t->policy && has_theta(t, pt); }
static int bound(const est_type *t, const exp_point *pt) {
  return t->self_estimate && t->self_estimate_of == EST_SELF_SUBOPT_BOUND;
}
static int win_rate_estimate(const est_type *t, const exp_point *pt) {
  return t->self_estimate && t->self_estimate_of == EST_SELF_WIN_RATE;
}

#define IF EST_IN_ITEMS | EST_IN_FEATURES
#define FE EST_IN_FEATURES
#define ALL EST_IN_ITEMS | EST_IN_FEATURES | EST_IN_SEGMENTS

/* declared ranges of a row's values (plots clip confidence intervals to them) */
#define RPOS 0, INFINITY
#define R01 0, 1
#define RPM1 -1, 1
#define RHALF 0, 0.5
#define R02 0, 2
#define RNONE 0, 0 /* no declared range */

const metric_def metric_table[] = {
    {"param_err", "1", "||theta-hat - theta*/T||_2 after normalisation", IF, has_theta, m_param_err, RPOS},
    {"param_err_sigma", "1", "||theta-hat - theta*/T|| in the empirical design norm Sigma-hat", IF, has_theta,
     m_param_err_sigma, RPOS},
    {"ci_coverage", "1",
     "share of coordinates whose naive 95% interval theta-hat +- 1.96 se (the model's own information) covers "
     "theta*/T", IF, reward_se, m_ci_coverage, R01},
    {"heldout_logloss", "nats", "held-out cross-entropy against the true probabilities", IF, NULL, m_logloss, RPOS},
    {"excess_logloss", "nats", "held-out cross-entropy minus the Bayes log-loss", IF, NULL, m_excess, RPOS},
    {"accuracy", "1", "held-out agreement with the truly more likely side", IF, NULL, m_accuracy, R01},
    {"kendall_tau", "1", "Kendall tau-b of fitted vs true rewards, mean over contexts", IF, NULL, m_tau, RPM1},
    {"borda_tau", "1",
     "Kendall tau-b of fitted rewards vs the training data's win rates (Borda scores), mean over contexts", IF,
     NULL, m_borda_tau, RPM1},
    {"spearman_rho", "1", "Spearman rho (mid-ranks) of fitted vs true rewards, mean over contexts", IF, NULL, m_spearman, RPM1},
    {"exploitability", "1",
     "max_y P(y > policy) - 1/2 under the truth; policy = minimax winner of the model (item worlds)", EST_IN_ITEMS,
     small_items, m_exploitability, RHALF},
    {"lp_distance", "1",
     "||policy - minimax winner of the truth||_1 (item worlds; meaningful when that winner is unique, e.g. odd "
     "cycles)",
     EST_IN_ITEMS, small_items, m_lp_distance, R02},
    {"return_policy", "1",
     "MDP worlds: scaled true return of the optimal policy of the learned reward (1 optimal, 0 random)",
     EST_IN_SEGMENTS, NULL, m_return_policy, RNONE},
    {"return_greedy", "1", "MDP worlds: scaled true return of argmax_a of the learned reward, used as an advantage",
     EST_IN_SEGMENTS, NULL, m_return_greedy, RNONE},
    {"policy_agreement", "1",
     "MDP worlds: share of states where the learned reward's optimal action is optimal (reward recovery up to its "
     "equivalence class)",
     EST_IN_SEGMENTS, NULL, m_policy_agreement, R01},
    {"greedy_agreement", "1",
     "MDP worlds: share of states where argmax_a of the learned reward (its greedy use) is an optimal action",
     EST_IN_SEGMENTS, NULL, m_greedy_agreement, R01},
    {"nash_kl", "nats",
     "KL(pi*_tau || policy): distance to the regularised Nash equilibrium of the true game at the estimator's tau "
     "(nash) or beta (rlhf), uniform reference",
     EST_IN_ITEMS, nash_items, m_nash_kl, RPOS},
    {"nash_kl_limit", "nats",
     "KL(pi*_beta || pi-dagger), pi-dagger ∝ mu e^{theta-dagger/beta} from pooled BT's population limit: the value "
     "rlhf's nash_kl converges to (rlhf, item worlds)",
     EST_IN_ITEMS, rlhf_items, m_nash_kl_limit, RPOS},
    {"maxmin_pure_gap", "1",
     "max_y min_y' P(y > y') - E_policy min_y' P(y > y') under the truth: distance to the best response against a "
     "follower who answers each realised y (SLHF's leader limit; item worlds)",
     EST_IN_ITEMS, small_items, m_pure_gap, RHALF},
    {"maxmin_pure_gap_model", "1", "maxmin_pure_gap on the model's own predicted game (item worlds)", EST_IN_ITEMS,
     small_items, m_pure_gap_model, RHALF},
    {"pseudo_true_err", "1",
     "||theta-hat - theta-dagger||: the parameter vs pooled BT's pseudo-true limit on the population's "
     "preferences, every pair weighted equally, ties dropped or (ties = half) half a win each way (centred item "
     "scores, or the linear parameter in feature worlds)",
     IF, pooled_limit, m_pseudo_true_err, RPOS},
    {"density_kl", "nats",
     "KL(q-bar || softmax(theta-hat)): a Luce population's pooled choice density against the density the item "
     "scores define (population luce)",
     EST_IN_ITEMS, luce_items, m_density_kl, RPOS},
    {"theta_slope", "1",
     "<theta-hat, theta*/T> / ||theta*/T||^2 (items centred): the slope of theta-hat on the truth, 1 unbiased, "
     "< 1 shrunk, > 1 inflated",
     IF, has_theta, m_theta_slope, RNONE},
    {"exploitability_model", "1",
     "max_y P-hat(y > policy) - 1/2 under the model's own predictions: the solver's error (item worlds)",
     EST_IN_ITEMS, small_items, m_exploitability_model, RHALF},
    {"user_excess_logloss", "nats",
     "held-out cross-entropy against each comparison's own annotator's truth, minus its Bayes log-loss; the model's "
     "per-annotator prediction when it has one",
     IF, annotators, m_user_excess, RPOS},
    {"user_accuracy", "1", "held-out agreement with the side the comparison's own annotator more likely prefers", IF,
     annotators, m_user_accuracy, R01},
    {"group_accuracy_min", "1",
     "min over true annotator types of user_accuracy on that type's comparisons (mixture populations)", IF, typed,
     m_group_accuracy_min, R01},
    {"minority_accuracy", "1", "user_accuracy on the comparisons of minority-type annotators (types 1..K-1)", IF,
     minority_types, m_minority_accuracy, R01},
    {"ari", "1", "adjusted Rand index of the model's annotator clusters vs the true types", IF, clusters, m_ari, RPM1},
    {"competence_err", "1",
     "mean over training annotators of |competence-hat - competence| (NoisyBT sigma(gamma))", IF, competences,
     m_competence_err, R01},
    {"flip_err", "1",
     "mean over training annotators of |flip-hat - flip|, flip = eps + (1-2eps)(1-competence)/2", IF, flips,
     m_flip_err, R01},
    {"flip_rate", "1", "mean over training annotators of the estimated flip rate", IF, flips, m_flip_rate, R01},
    {"fewshot_accuracy", "1",
     "accuracy for new users after adapting to `shots` of their comparisons, against their truth", IF, fewshot,
     m_fewshot, R01},
    {"worst_group_value", "1",
     "min over true types u of F_u(pi) = E_x[E_pi r_u/T - beta KL(pi||pi_ref)] of the model's policy", FE, NULL,
     m_worst_group_value, RNONE},
    {"minority_gap", "1", "max over minority types u of F_u(pi*_u) - F_u(pi): the minority's alignment gap", FE,
     mixture_groups, m_minority_gap, RPOS},
    {"max_group_gap", "1", "max over types u of F_u(pi*_u) - F_u(pi)", FE, NULL, m_max_group_gap, RPOS},
    {"policy_value", "1",
     "J(pi) = E_x[E_pi r/T - beta KL(pi||pi_ref)] of the model's policy under the true (mean) reward (feature worlds)",
     FE, NULL, m_policy_value, RNONE},
    {"suboptimality", "1", "J(pi*) - J(pi), pi* ∝ pi_ref exp(r/(T beta)) the KL optimum of the true reward", FE, NULL,
     m_suboptimality, RPOS},
    {"identity_residual", "1",
     "|J(pi*) - J(pi) - beta E_x KL(pi||pi*)|: docs/theory.md §1's identity, 0 to rounding for every policy", FE,
     NULL, m_identity_residual, RPOS},
    {"kl_ref", "nats", "E_x KL(pi || pi_ref) of the model's policy", FE, NULL, m_kl_ref, RPOS},
    {"win_rate", "1", "E_x sum pi(y) pi_ref(y') P(y > y') under the clean true preferences (1/2 for pi_ref)", FE,
     NULL, m_win_rate, R01},
    {"unreg_suboptimality", "1", "E_x[max_y r/T - E_pi r/T]: unregularised suboptimality", FE, NULL,
     m_unreg_suboptimality, RPOS},
    {"gold_gain", "1", "E_x[E_pi r/T - E_pi_ref r/T]: the policy's gain in true reward over the reference", FE, NULL,
     m_gold_gain, RNONE},
    {"chosen_logp_change", "nats",
     "training rows' mean log pi(y_w) - log pi_ref(y_w): the chosen responses' log-probability change", FE, NULL,
     m_chosen_logp_change, RNONE},
    {"rejected_logp_change", "nats", "the same for the rejected responses y_l", FE, NULL, m_rejected_logp_change,
     RNONE},
    {"margin_flow_err", "1",
     "max over behaviours of |m-hat - m(lr steps)| / (eta k / 4 + (eta k)^2 / 16): gradient descent's distance from "
     "the closed-form DPO flow in units of its Euler bound (2-response contexts with orthogonal differences, e.g. "
     "world behaviours; dpo_gd)",
     FE, gd_behaviours, m_margin_flow_err, RPOS},
    {"margin_order", "1",
     "Kendall tau-b of the behaviours' |implicit-reward margins| against their distinguishability beta^2 s^2 w "
     "(world behaviours; dpo_gd)",
     FE, gd_behaviours, m_margin_order, RPM1},
    {"chosen_fall_share", "1", "share of training rows whose chosen response has pi(y_w) < pi_ref(y_w)", FE, NULL,
     m_chosen_fall_share, R01},
    {"proxy_gain", "1",
     "E_x[E_pi r-hat - E_pi_ref r-hat], r-hat the model's own reward (its logits): the gain the policy sees", FE, NULL,
     m_proxy_gain, RNONE},
    {"dr_bilinear_bias", "1",
     "DRPO's bias at its own policy with both nuisances fixed: E_x sum_y pi (pi_ref / pi-hat_ref - 1) sum_b pi_ref "
     "(g* - g-hat), for preference = constant and reference = uniform or known (drpo)",
     FE, drpo_fixed, m_dr_bilinear_bias, RNONE},
    {"frontier_ratio", "1",
     "E_x[proxy gain / (sd_ref(r-hat) sqrt(2 KL))]: the proxy gain against the Gaussian KL frontier (1: tilting a "
     "Gaussian reward; best-of-n below it)",
     FE, NULL, m_frontier_ratio, RNONE},
    {"policy_param_err", "1",
     "||theta-hat - theta*/(T beta)||: a log-linear policy's offset from pi_ref vs DPO's population target", FE,
     policy_param, m_policy_param_err, RPOS},
    {"ranking_accuracy", "1", "held-out mean 1[pi(y_w) >= pi(y_l)], y_w the reported winner (Chen et al. 2024)", FE,
     NULL, m_ranking_accuracy, R01},
    {"ranking_flip_share", "1",
     "held-out share of pairs the policy orders unlike pi*, the KL optimum of the true reward at [policy] beta "
     "(ranking_accuracy - ideal_ranking_accuracy is at most this)",
     FE, NULL, m_ranking_flip_share, R01},
    {"ideal_ranking_accuracy", "1",
     "the same for the exact KL optimum of the true preference logits: the idealised ranking accuracy R*", FE, NULL,
     m_ideal_ranking_accuracy, R01},
    {"logpi_err", "nats",
     "max over items |log pi-hat - log pi*|, pi* the KL optimum of the true reward (any policy class)", FE, NULL,
     m_logpi_err, RPOS},
    {"pair_prob", "1", "sigma(logit(first item, second item)) of context 0: the model's preference on one fixed pair",
     IF, NULL, m_pair_prob, R01},
    {"self_estimate", "1",
     "the estimator's own estimate of its headline quantity (est_type self_estimate; DRPO: its p-hat_DR against "
     "pi_ref)",
     IF, self_estimate, m_self_estimate, RNONE},
    {"bound_holds", "1",
     "1 when unreg_suboptimality <= self_estimate, else 0 (estimators whose self_estimate bounds it: pessimistic)", FE,
     bound, m_bound_holds, R01},
    {"self_estimate_err", "1",
     "|self_estimate - win_rate|: the error of a self_estimate that estimates the policy's win rate against pi_ref "
     "(DRPO)",
     FE, win_rate_estimate, m_self_estimate_err, RPOS},
    {"self_estimate_diff", "1", "self_estimate - win_rate: the signed error (bias) of that self_estimate (DRPO)", FE,
     win_rate_estimate, m_self_estimate_diff, RNONE},
    {"group_loss_spread", "1",
     "max - min over annotator groups of the model's own group loss (annotator column loss) among the groups active "
     "at its min-max point (column alpha_star > 1e-4; GRPO)",
     IF, group_losses, m_group_loss_spread, RPOS},
    {"fit_seconds", "s", "wall-clock fit time (the one metric that is not reproducible)", ALL, NULL, m_fit_seconds, RPOS},
    {"iterations", "1", "solver iterations", ALL, NULL, m_iterations, RPOS},
    {"converged", "1", "1 when the fit converged, 0 otherwise", ALL, NULL, m_converged, R01},
};
const size_t metric_table_len = sizeof metric_table / sizeof metric_table[0];
_Static_assert(sizeof metric_table / sizeof metric_table[0] <= 128, "metric_eval's memo holds 128 metrics");

long metric_find(const char *name) {
  for (size_t i = 0; i < metric_table_len; i++)
    if (!strcmp(metric_table[i].name, name)) return (long)i;
  return -1;
}

int metric_is_fit_record(size_t i) {
  return i < metric_table_len && (!strcmp(metric_table[i].name, "fit_seconds") ||
                                  !strcmp(metric_table[i].name, "iterations") ||
                                  !strcmp(metric_table[i].name, "converged"));
}

int metric_applies(size_t i, const est_type *t, const exp_point *pt) {
  if (i >= metric_table_len) return 0;
  const metric_def *d = &metric_table[i];
  return (d->worlds & exp_point_data(pt)) && (!d->applies || d->applies(t, pt));
}

double metric_value_at(metric_eval *ev, size_t i) {
  if (i >= metric_table_len) return NAN;
  if (ev->st[i] == 2) return ev->memo[i];
  /* fit records exist for failed fits too; every other metric needs a fitted model */
  if (ev->st[i] == 1 || !metric_applies(i, ev->t, ev->pt) || (ev->fit_status != PS_OK && !metric_is_fit_record(i)))
    return NAN;
  ev->st[i] = 1;
  ev->memo[i] = metric_table[i].compute(ev);
  ev->st[i] = 2;
  return ev->memo[i];
}

double metric_value(metric_eval *ev, const char *name) {
  long i = metric_find(name);
  return i < 0 ? NAN : metric_value_at(ev, (size_t)i);
}
