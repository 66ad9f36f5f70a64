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
#include "../estimators/cluster.h"
#include "../estimators/maxmin.h"
#include "../estimators/minimax.h"
#include "../estimators/policy.h"
#include "../estimators/regret.h"
#include "../sim/mdp.h"
#include "../core/rng.h"

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
    {"user_excess_logloss", "nats", "held-out cross-entropy against each comparison's own annotator's truth, minus its Bayes log-loss; the model's per-annotator prediction when it has one"},
    {"user_accuracy", "1", "held-out agreement with the side the comparison's own annotator more likely prefers"},
    {"group_accuracy_min", "1", "min over true annotator types of user_accuracy on that type's comparisons (mixture populations)"},
    {"minority_accuracy", "1", "user_accuracy on the comparisons of minority-type annotators (types 1..K-1)"},
    {"ari", "1", "adjusted Rand index of the model's annotator clusters vs the true types"},
    {"competence_err", "1", "mean over training annotators of |competence-hat - competence| (NoisyBT sigma(gamma))"},
    {"flip_err", "1", "mean over training annotators of |flip-hat - flip|, flip = eps + (1-2eps)(1-competence)/2"},
    {"flip_rate", "1", "mean over training annotators of the estimated flip rate"},
    {"fewshot_accuracy", "1", "accuracy for new users after adapting to `shots` of their comparisons, against their truth"},
    {"worst_group_value", "1", "min over true types u of F_u(pi) = E_x[E_pi r_u/T - beta KL(pi||pi_ref)] of the model's policy"},
    {"minority_gap", "1", "max over minority types u of F_u(pi*_u) - F_u(pi): the minority's alignment gap"},
    {"max_group_gap", "1", "max over types u of F_u(pi*_u) - F_u(pi)"},
    {"policy_value", "1", "J(pi) = E_x[E_pi r/T - beta KL(pi||pi_ref)] of the model's policy under the true (mean) reward (feature worlds)"},
    {"suboptimality", "1", "J(pi*) - J(pi), pi* ∝ pi_ref exp(r/(T beta)) the KL optimum of the true reward"},
    {"identity_residual", "1", "|J(pi*) - J(pi) - beta E_x KL(pi||pi*)|: THEORY §1's identity, 0 to rounding for every policy"},
    {"kl_ref", "nats", "E_x KL(pi || pi_ref) of the model's policy"},
    {"win_rate", "1", "E_x sum pi(y) pi_ref(y') P(y > y') under the clean true preferences (1/2 for pi_ref)"},
    {"unreg_suboptimality", "1", "E_x[max_y r/T - E_pi r/T]: unregularised suboptimality"},
    {"policy_param_err", "1", "||theta-hat - theta*/(T beta)||: a log-linear policy's offset from pi_ref vs DPO's population target"},
    {"ranking_accuracy", "1", "held-out mean 1[pi(y_w) >= pi(y_l)], y_w the reported winner (Chen et al. 2024)"},
    {"ideal_ranking_accuracy", "1", "the same for the exact KL optimum of the true preference logits: the idealised ranking accuracy R*"},
    {"logpi_err", "nats", "max over items |log pi-hat - log pi*|, pi* the KL optimum of the true reward (any policy class)"},
    {"pair_prob", "1", "sigma(logit(first item, second item)) of context 0: the model's preference on one fixed pair"},
    {"self_estimate", "1", "the estimator's own estimate of its headline quantity (est_type self_estimate; DRPO: its p-hat_DR against pi_ref)"},
    {"bound_holds", "1", "1 when unreg_suboptimality <= self_estimate, else 0 (estimators whose self_estimate bounds it: pessimistic; NaN for others)"},
    {"self_estimate_err", "1", "|self_estimate - win_rate|: the error of a self_estimate that estimates the policy's win rate against pi_ref (estimators whose self_estimate is a win rate: DRPO; NaN for others)"},
    {"group_loss_spread", "1", "max - min over annotator groups of the model's own group loss (annotator column loss) among the groups active at its min-max point (column alpha_star > 1e-4; GRPO)"},
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
    {"user_bayes_logloss", "nats", "held-out mean H(p) with p each comparison's own annotator's truth"},
    {"user_bayes_accuracy", "1", "held-out mean max(p, 1-p) with p each comparison's own annotator's truth"},
    {"flip_rate", "1", "mean over training annotators of eps + (1-2eps)(1-competence)/2"},
    {"minority_share", "1", "share of training annotators of minority types (1..K-1)"},
    {"fewshot_bayes_accuracy", "1", "new users' held-out Bayes accuracy: the full-information ceiling of few-shot accuracy"},
    {"ref_opt_mass", "1", "mean over contexts of pi_ref(argmax_y r): the reference's coverage of the optimal response"},
    {"opt_kl_ref", "nats", "E_x KL(pi* || pi_ref) of the KL optimum pi* ∝ pi_ref exp(r/(T beta)) of the true reward (feature worlds)"},
};
const size_t cell_n_truth = sizeof cell_truth / sizeof cell_truth[0];

const h5store_quantity cell_theory[] = {
    {"param_err_crlb", "1", "sqrt(tr I^-1): Cramer-Rao scale of ||theta-hat - theta*/T||_2"},
    {"param_err_sigma_crlb", "1", "sqrt(tr(I^-1 Sigma-hat)): Cramer-Rao scale of the Sigma-hat-norm error"},
    {"excess_of_half", "nats", "log 2 - Bayes log-loss: the excess of predicting 1/2 everywhere (the best BT on a symmetric cycle)"},
    {"deterministic_exploitability", "1", "min over items y of max_j P(j > y) - 1/2: the least exploitable pure policy"},
    {"maxmin_value", "1", "min_u F_u of the MaxMin policy of the true group rewards, by the dual (THEORY §3.5)"},
    {"maxmin_value_iterative", "1", "min_u F_u of the paper's iterative MaxMin on the true group rewards (20000 steps)"},
    {"per_sample_min_value", "1", "min_u F_u of pi ∝ pi_ref exp(min_u r_u / beta), the reference code's variant"},
    {"pooled_minority_gap", "1", "minority gap of the KL optimum of the share-weighted mean true reward (idealised single-reward RLHF)"},
    {"maxmin_minority_gap", "1", "minority gap of the true MaxMin policy"},
    {"rdpo_err", "1", "sqrt(tr(I0^-1 V I0^-1)) / beta: rDPO's (eps = noise.flip) asymptotic sd scale of policy_param_err; at flip 0 DPO's (= param_err_crlb / beta)"},
};
const size_t cell_n_theory = sizeof cell_theory / sizeof cell_theory[0];

#define GAME_MAX_ITEMS 300 /* the exploitability metrics solve an LP over the items */

enum { M_PARAM, M_SIGMA, M_LOGLOSS, M_EXCESS, M_ACC, M_TAU, M_EXPL, M_LPDIST, M_RET_POLICY, M_RET_GREEDY, M_AGREE, M_EXPL_MODEL,
       M_USER_EXCESS, M_USER_ACC, M_GROUP_ACC_MIN, M_MINORITY_ACC, M_ARI, M_COMP_ERR, M_FLIP_ERR, M_FLIP_RATE, M_FEWSHOT,
       M_WORST_VALUE, M_MINORITY_GAP, M_MAX_GAP, M_JVALUE, M_SUBOPT, M_IDENTITY, M_KLREF, M_WINRATE, M_UNREG,
       M_POLPARAM, M_RANKACC, M_IDEALRANK, M_LOGPI_ERR, M_PAIR_PROB, M_SELF_EST, M_BOUND_HOLDS, M_SELF_ERR, M_GROUP_SPREAD, M_SECONDS, M_ITER, M_CONV };

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

/* rDPO's asymptotic (fixed-design sandwich) error scale, THEORY §3.10: at the truth
 * z_i = r_i/T the rDPO score of row i takes two values (label kept or flipped) that
 * differ by beta x_i / (1 - 2 eps), so its variance is beta^2 x x^T p~(1 - p~) / (1 - 2 eps)^2
 * = beta^2 x x^T [sigma'(z) + eps (1 - eps) / (1 - 2 eps)^2]; its Hessian is the clean
 * beta^2 sigma'(z) x x^T (the linear term has none).  Hence Cov(theta-hat) =
 * (I0^-1 + kappa I0^-1 S I0^-1) / beta^2, I0 = sum sigma'(z_i) x_i x_i^T, S = sum x_i x_i^T,
 * kappa = eps (1 - eps) / (1 - 2 eps)^2, and E||theta-hat - theta* / (T beta)||^2 -> its trace.
 * Logistic link, feature worlds.  Ainv, Sx: d x d workspaces, w: n weights. */
static double rdpo_err_scale(const pref_data *d, const pref_features *f, const population *pop,
                             const noise_spec *ns, double beta, double *w, double *Ainv, double *Sx) {
  size_t dim = f->d, n = d->n;
  if (!f->phi || ns->link != LINK_LOGISTIC || !(beta > 0)) return NAN;
  double eps = ns->flip, kappa = eps * (1 - eps) / ((1 - 2 * eps) * (1 - 2 * eps));
  for (size_t i = 0; i < n; i++)
    w[i] = ps_sigmoid_deriv((pop->reward[d->winner[i]] - pop->reward[d->loser[i]]) / ns->temperature);
  if (bt_design_hessian(d, f, w, 0, Ainv, NULL) != PS_OK) return NAN;
  for (size_t i = 0; i < n; i++) w[i] = 1;
  if (bt_design_hessian(d, f, w, 0, Sx, NULL) != PS_OK) return NAN;
  gsl_matrix_view A = gsl_matrix_view_array(Ainv, dim, dim);
  if (gsl_linalg_cholesky_decomp1(&A.matrix) != GSL_SUCCESS) return NAN;
  if (gsl_linalg_cholesky_invert(&A.matrix) != GSL_SUCCESS) return NAN;
  /* tr(I0^-1 S I0^-1) = sum_kl (I0^-1 S)_kl (I0^-1)_lk */
  double tr = 0, tr2 = 0;
  for (size_t k = 0; k < dim; k++) {
    tr += Ainv[k * dim + k];
    for (size_t l = 0; l < dim; l++) {
      double a = 0;
      for (size_t j = 0; j < dim; j++) a += Ainv[k * dim + j] * Sx[j * dim + l];
      tr2 += a * Ainv[l * dim + k];
    }
  }
  return sqrt(tr + kappa * tr2) / beta;
}

/* theory values: sqrt(tr I^-1), sqrt(tr(I^-1 Sigma)); rDPO's error scale */
static void theory_values(const pref_data *d, const pref_features *f, const population *pop,
                          const noise_spec *ns, double beta, double *out) {
  size_t dim = f->d, n = d->n;
  out[0] = out[1] = out[9] = NAN;
  if (dim > 4096) return;
  double *w = calloc(n ? n : 1, sizeof(double)), *I = malloc(dim * dim * sizeof(double));
  double *S = malloc(dim * dim * sizeof(double));
  if (!w || !I || !S) goto done;
  out[9] = rdpo_err_scale(d, f, pop, ns, beta, w, I, S);
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
                         const pref_data *held, const double *held_p, const world *w, const population *pop,
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
    double p = held_p[i];
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

static void kl_policy(const double *r, const double *log_ref, size_t m, double beta, double *pi);

static double group_value(const double *pi, const double *r, const double *log_ref, size_t C, size_t m, double beta);
static double group_optimum(const double *r, const double *log_ref, size_t C, size_t m, double beta);

#define MAXMIN_ITERATIONS 20000 /* steps of the iterative MaxMin (Frank-Wolfe on the dual) */

/* MaxMin and its variants (THEORY §3.5) over K group rewards R (K x n_items, logit
 * scale) with weights wt: mode maxmin (the dual), maxmin_iterative, per_sample_min,
 * or pooled (the KL optimum of the weighted mean reward).  pi receives the policy. */
static int cell_group_policy(const double *R, const double *wt, size_t K, size_t C, size_t m, const double *log_ref,
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

/* min_u F_u and the minority gap max_{u >= 1} F_u(pi*_u) - F_u(pi) of a policy */
static void policy_group_summary(const double *pi, const double *groups, size_t K, const double *log_ref, size_t C,
                                 size_t m, double beta, double *worst, double *mgap) {
  *worst = INFINITY;
  *mgap = -INFINITY;
  for (size_t u = 0; u < K; u++) {
    double F = group_value(pi, groups + u * C * m, log_ref, C, m, beta);
    *worst = fmin(*worst, F);
    if (u >= 1) *mgap = fmax(*mgap, group_optimum(groups + u * C * m, log_ref, C, m, beta) - F);
  }
}

/* MaxMin on the truth (theory values 4..8): dual, iterative, per-sample minimum, and
 * the gaps of the pooled single reward and of MaxMin */
static void theory_groups(const world *w, const population *pop, const double *groups, size_t K, const double *log_ref,
                          double beta, double *theory) {
  size_t C = w->n_contexts, m = w->m, M = w->n_items, H = pop->n_train_users;
  double *share = calloc(K, sizeof(double)), *pi = malloc(M * sizeof(double)), mgap;
  if (!share || !pi) goto done;
  for (size_t h = 0; h < H; h++)
    if (pop->user_type[h] >= 0) share[pop->user_type[h]] += 1.0 / (double)H;
  if (pop->per_comparison)
    for (size_t k = 0; k < K; k++) share[k] = pop->type_weight[k];
  static const char *const modes[] = {"maxmin", "maxmin_iterative", "per_sample_min", "pooled"};
  for (int i = 0; i < 4; i++) {
    double worst;
    if (cell_group_policy(groups, share, K, C, m, log_ref, beta, modes[i], pi) != PS_OK) continue;
    policy_group_summary(pi, groups, K, log_ref, C, m, beta, &worst, &mgap);
    if (i < 3) theory[4 + i] = worst;
    if (i == 0) theory[8] = mgap;
    if (i == 3) theory[7] = mgap;
  }
done:
  free(share);
  free(pi);
}

/* Per-annotator evaluation (THEORY §4): held-out predictions against each
 * comparison's own annotator's truth pu, with the model's per-annotator prediction
 * when it has one; accuracy per true type; estimated competences and flip rates
 * against the truth. */
static void eval_user_metrics(const est_type *t, const est_model *mod, const pref_data *held, const double *pu,
                              const population *pop, const noise_spec *ns, double *out) {
  size_t K = pop->n_types ? pop->n_types : 1;
  double ce = 0, ent = 0, acc = 0, *tacc = calloc(2 * K, sizeof(double));
  double macc = 0, mcnt = 0;
  if (!tacc) return;
  for (size_t i = 0; i < held->n; i++) {
    int32_t a = pref_first(held, i), b = pref_second(held, i);
    size_t h = held->annotator ? (size_t)held->annotator[i] : 0;
    double z = t->logit_annotator && held->annotator ? t->logit_annotator(mod, (int32_t)h, a, b) : t->logit(mod, a, b);
    double p = pu[i];
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
  out[M_USER_EXCESS] = (ce - ent) / (double)held->n;
  out[M_USER_ACC] = acc / (double)held->n;
  if (pop->n_types >= 1 && pop->user_type) {
    double mn = INFINITY;
    for (size_t k = 0; k < K; k++)
      if (tacc[2 * k + 1] > 0) mn = fmin(mn, tacc[2 * k] / tacc[2 * k + 1]);
    if (isfinite(mn)) out[M_GROUP_ACC_MIN] = mn;
    if (mcnt > 0) out[M_MINORITY_ACC] = macc / mcnt;
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
    if (t->annotator(mod, h, v) != PS_OK) {
      clus_ok = 0;
      continue;
    }
    ok++;
    if (clus) clus[h] = isfinite(v[cclus]) ? (int32_t)v[cclus] : -1;
    double truth_flip = ns->flip + (1 - 2 * ns->flip) * (1 - pop->competence[h]) / 2;
    if (ccomp >= 0) ec += fabs(v[ccomp] - pop->competence[h]);
    if (cflip >= 0) ef += fabs(v[cflip] - truth_flip), fr += v[cflip];
  }
  if (ok && ccomp >= 0) out[M_COMP_ERR] = ec / (double)ok;
  if (ok && cflip >= 0) out[M_FLIP_ERR] = ef / (double)ok, out[M_FLIP_RATE] = fr / (double)ok;
  if (clus_ok) out[M_ARI] = cluster_ari(H, clus, pop->user_type);
  free(v);
  free(clus);
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

/* The model's KL-regularised policy pi (n_items): MaxMin over its group rewards when
 * it has groups; its own policy when it is a policy learner (feature worlds); else
 * pi ∝ pi_ref exp(r-hat / beta) of its reward, r-hat(y) = logit(y, first item). */
static int model_kl_policy(const est_type *t, const est_model *mod, const world *w, const double *log_ref,
                           double beta, const char *mode, double *pi) {
  size_t C = w->n_contexts, m = w->m, M = w->n_items;
  if (t->groups) {
    size_t K;
    const double *R, *wt;
    if (t->groups(mod, &K, &R, &wt) != PS_OK) return PS_EINVAL;
    return cell_group_policy(R, wt, K, C, m, log_ref, beta, mode, pi);
  }
  if (t->policy && w->spec.kind == WORLD_FEATURES) {
    for (size_t c = 0; c < C; c++)
      if (t->policy(mod, (int32_t)(c * m), m, pi + c * m) != PS_OK) return PS_EINVAL;
    return PS_OK;
  }
  double *r = malloc(M * sizeof(double));
  if (!r) return PS_ENOMEM;
  for (size_t c = 0; c < C; c++) {
    int32_t base = (int32_t)(c * m);
    for (size_t y = 0; y < m; y++) r[c * m + y] = t->logit(mod, base + (int32_t)y, base);
    kl_policy(r + c * m, log_ref + c * m, m, beta, pi + c * m);
  }
  free(r);
  return PS_OK;
}

/* Per-group values of the model's policy (THEORY §4): worst-group value, the
 * minority's alignment gap and the largest gap. */
static void eval_group_values(const est_type *t, const est_model *mod, const world *w, const double *groups, size_t K,
                              const double *log_ref, double beta, const char *mode, double *out) {
  size_t C = w->n_contexts, m = w->m, M = w->n_items;
  double *pi = malloc(M * sizeof(double));
  if (!pi) return;
  if (model_kl_policy(t, mod, w, log_ref, beta, mode, pi) == PS_OK) {
    double worst = INFINITY, mgap = -INFINITY, gap = -INFINITY;
    for (size_t u = 0; u < K; u++) {
      double F = group_value(pi, groups + u * M, log_ref, C, m, beta);
      double g = group_optimum(groups + u * M, log_ref, C, m, beta) - F;
      worst = fmin(worst, F);
      gap = fmax(gap, g);
      if (u >= 1) mgap = fmax(mgap, g);
    }
    out[M_WORST_VALUE] = worst;
    out[M_MAX_GAP] = gap;
    if (K >= 2) out[M_MINORITY_GAP] = mgap;
  }
  free(pi);
}

/* Policy metrics (THEORY §1, §4) of the model's KL-regularised policy pi under the
 * true reward r/T (the population's mean reward), the clean true preferences and the
 * reference pi_ref: J, suboptimality (and the identity J(pi*) - J(pi) = beta KL(pi||pi*)
 * checked), KL to the reference, win rate, the log-linear parameter error against
 * DPO's target theta* / (T beta), and held-out (idealised) ranking accuracy. */
static void eval_policy_metrics(const est_type *t, const est_model *mod, const world *w, const population *pop,
                                const noise_spec *ns, const pref_data *held, const double *held_pu,
                                const double *log_ref, double beta, const char *mode, double *out) {
  size_t C = w->n_contexts, m = w->m, M = w->n_items;
  double *pi = malloc(M * sizeof(double)), *ref = malloc(m * sizeof(double)), *r = malloc(m * sizeof(double));
  double *star = malloc(m * sizeof(double)), *P = malloc(m * m * sizeof(double)), *logpi = malloc(M * sizeof(double));
  if (!pi || !ref || !r || !star || !P || !logpi) goto done;
  if (model_kl_policy(t, mod, w, log_ref, beta, mode, pi) != PS_OK) goto done;
  double J = 0, Jstar = 0, kl = 0, klstar = 0, wr = 0, unreg = 0, lperr = 0;
  for (size_t c = 0; c < C; c++) {
    const double *p = pi + c * m;
    for (size_t y = 0; y < m; y++) {
      ref[y] = exp(log_ref[c * m + y]);
      r[y] = pop->reward[c * m + y] / ns->temperature;
    }
    policy_kl_optimal(ref, r, beta, m, star);
    J += policy_objective(p, ref, r, beta, m);
    Jstar += policy_objective(star, ref, r, beta, m);
    kl += policy_kl(p, ref, m);
    klstar += policy_kl(p, star, m);
    for (size_t a = 0; a < m; a++)
      for (size_t b = 0; b < m; b++)
        P[a * m + b] = a == b ? 0.5 : noise_prob_clean(ns, pop, (int32_t)(c * m + a), (int32_t)(c * m + b));
    wr += policy_win_rate(p, ref, P, m);
    double best = -INFINITY;
    for (size_t y = 0; y < m; y++) best = fmax(best, r[y]);
    unreg += best - policy_value(p, r, m);
    for (size_t y = 0; y < m; y++) {
      logpi[c * m + y] = p[y] > 0 ? log(p[y]) : -INFINITY;
      lperr = fmax(lperr, fabs(logpi[c * m + y] - log(star[y])));
    }
  }
  out[M_LOGPI_ERR] = lperr;
  out[M_JVALUE] = J / (double)C;
  out[M_SUBOPT] = (Jstar - J) / (double)C;
  out[M_IDENTITY] = fabs((Jstar - J) - beta * klstar) / (double)C;
  out[M_KLREF] = kl / (double)C;
  out[M_WINRATE] = wr / (double)C;
  out[M_UNREG] = unreg / (double)C;
  size_t dim = 0;
  const double *th = t->theta(mod, &dim);
  if (th && pop->theta && dim == pop->d && w->phi && t->policy) {
    double e2 = 0;
    for (size_t k = 0; k < dim; k++) {
      double d = th[k] - pop->theta[k] / (ns->temperature * beta);
      e2 += d * d;
    }
    out[M_POLPARAM] = sqrt(e2);
  }
  out[M_RANKACC] = policy_ranking_accuracy(logpi, held);
  double *alpha = malloc((held->n ? held->n : 1) * sizeof(double));
  if (alpha) {
    /* alpha = P(y_w > y_l) of the row's own annotator, from the first-shown truth */
    for (size_t i = 0; i < held->n; i++) {
      int first_won = !held->first_won || held->first_won[i];
      alpha[i] = first_won ? held_pu[i] : 1 - held_pu[i];
    }
    out[M_IDEALRANK] = policy_ideal_ranking_accuracy(log_ref, alpha, beta, held);
    free(alpha);
  }
done:
  free(pi);
  free(ref);
  free(r);
  free(star);
  free(P);
  free(logpi);
}

/* Spread of the active group losses (THEORY §3.12, §5 row 12): models reporting
 * annotator columns `loss` (their group objective) and `alpha_star` (the exact
 * min-max dual weight) give max - min of loss over the groups with alpha_star > 1e-4,
 * which are equal at the min-max point. */
static void eval_group_spread(const est_type *t, const est_model *mod, size_t H, double *out) {
  const char *const *cols = t->annotator_columns;
  long il = -1, ia = -1;
  size_t nc = 0;
  for (; cols && cols[nc]; nc++) {
    if (!strcmp(cols[nc], "loss")) il = (long)nc;
    if (!strcmp(cols[nc], "alpha_star")) ia = (long)nc;
  }
  if (il < 0 || ia < 0 || !t->annotator) return;
  double *v = malloc(nc * sizeof(double)), hi = -INFINITY, lo = INFINITY;
  if (!v) return;
  for (size_t h = 0; h < H; h++)
    if (t->annotator(mod, h, v) == PS_OK && v[ia] > 1e-4 && isfinite(v[il])) {
      hi = fmax(hi, v[il]);
      lo = fmin(lo, v[il]);
    }
  if (hi >= lo) out[M_GROUP_SPREAD] = hi - lo;
  free(v);
}

/* Few-shot (THEORY §3.6, §5 row 27): adapt to each new user's shots (its own
 * parameters only; the estimator stream, substream 1000 + new user), then accuracy
 * of its predictions against the user's truth on held-out comparisons. */
static void eval_fewshot(const est_type *t, const est_model *mod, const pref_data *shots, const pref_data *held,
                         size_t n_new, size_t n_shots, const population *pop, const noise_spec *ns, gsl_rng *rng,
                         uint64_t seed, size_t p, size_t rep, size_t k, double *out) {
  size_t L = t->user_state_len(mod);
  double *state = malloc((L ? L : 1) * sizeof(double)), acc = 0, cnt = 0;
  pref_data none = {0};
  if (!state) return;
  for (size_t j = 0; j < n_new; j++) {
    ps_msg am = {{0}};
    ps_rng_reset(rng, seed, PS_STREAM_ESTIMATOR, p, rep, 1000 + 64 * j + k);
    none.n_items = held[j].n_items;
    none.n_annotators = 1;
    if (t->adapt(mod, n_shots ? &shots[j] : &none, rng, state, &am) != PS_OK) {
      free(state);
      return;
    }
    size_t h = pop->n_train_users + j;
    for (size_t i = 0; i < held[j].n; i++) {
      int32_t a = pref_first(&held[j], i), b = pref_second(&held[j], i);
      double q = noise_prob_user(ns, pop, h, a, b), z = t->logit_user(mod, state, a, b);
      acc += (z == 0 || q == 0.5) ? 0.5 : ((z > 0) == (q > 0.5));
      cnt += 1;
    }
  }
  free(state);
  if (cnt > 0) out[M_FEWSHOT] = acc / cnt;
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
  for (size_t i = 0; i < CELL_MAX_Q; i++) r->truth[i] = r->theory[i] = NAN;
  for (size_t i = 0; i < ne; i++) {
    r->status[i] = -1;
    r->message[i][0] = 0;
  }
  r->iterations = 0;
  exp_point pt;
  double *game = NULL, *game_p = NULL, *log_ref = NULL, *held_p = NULL, *held_pu = NULL, *groups = NULL;
  size_t n_groups = 0, n_new = 0;
  pref_data *shots = NULL, *shot_held = NULL;
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
  /* the reference policy (KL anchor of reward-derived policies; what policy learners see) */
  log_ref = malloc(w.n_items * sizeof(double));
  held_p = malloc(held.n * sizeof(double));
  held_pu = malloc(held.n * sizeof(double));
  if (!log_ref || !held_p || !held_pu) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  ps_rng_reset(rng, e->seed, PS_STREAM_QUERIES, p, rep, 0); /* the training design's reference draws */
  if ((s = design_log_ref(&w, &pop, &pt.design, rng, log_ref, m))) goto done;
  /* held-out truths: unknown annotator (the population mean) and the comparison's own */
  for (size_t i = 0; i < held.n; i++) {
    int32_t a = pref_first(&held, i), b = pref_second(&held, i);
    held_p[i] = noise_prob(&pt.noise, &pop, a, b);
    held_pu[i] = held.annotator ? noise_prob_user(&pt.noise, &pop, (size_t)held.annotator[i], a, b) : held_p[i];
  }
  /* few-shot data: each new user's shots (a prefix of the same draws for every
   * `shots`) and held-out comparisons, substreams 16 + 2j and 17 + 2j */
  if (pop.n_users > pop.n_train_users) {
    n_new = pop.n_users - pop.n_train_users;
    shots = calloc(n_new, sizeof(pref_data));
    shot_held = calloc(n_new, sizeof(pref_data));
    if (!shots || !shot_held) {
      s = ps_fail(m, PS_ENOMEM, "out of memory");
      goto done;
    }
    double fb = 0, fn = 0;
    for (size_t j = 0; j < n_new && !s; j++) {
      size_t h = pop.n_train_users + j;
      ps_rng_reset(rng, e->seed, PS_STREAM_QUERIES, p, rep, 16 + 2 * j);
      ps_rng_reset(rj, e->seed, PS_STREAM_JUDGEMENTS, p, rep, 16 + 2 * j);
      if (pt.shots) s = design_simulate_users(&shots[j], pt.shots, &w, &pop, &pt.noise, &pt.design, h, 1, rng, rj, m);
      ps_rng_reset(rng, e->seed, PS_STREAM_QUERIES, p, rep, 17 + 2 * j);
      ps_rng_reset(rj, e->seed, PS_STREAM_JUDGEMENTS, p, rep, 17 + 2 * j);
      if (!s) s = design_simulate_users(&shot_held[j], pt.shot_heldout, &w, &pop, &pt.noise, &pt.design, h, 1, rng, rj, m);
      for (size_t i = 0; !s && i < shot_held[j].n; i++) {
        double q = noise_prob_user(&pt.noise, &pop, h, pref_first(&shot_held[j], i), pref_second(&shot_held[j], i));
        fb += fmax(q, 1 - q);
        fn += 1;
      }
    }
    if (s) goto done;
    r->truth[8] = fn > 0 ? fb / fn : NAN;
  }
  {
    double cov = 0;
    for (size_t c = 0; c < w.n_contexts; c++) {
      size_t best = 0;
      for (size_t y = 1; y < w.m; y++)
        if (pop.reward[c * w.m + y] > pop.reward[c * w.m + best]) best = y;
      cov += exp(log_ref[c * w.m + best]);
    }
    r->truth[9] = cov / (double)w.n_contexts;
  }
  if (w.spec.kind == WORLD_FEATURES) {
    /* KL(pi* || pi_ref) of the true KL optimum: the yardstick of the learners' kl_ref */
    double *ref = malloc(w.m * sizeof(double)), *rr = malloc(w.m * sizeof(double)), *star = malloc(w.m * sizeof(double));
    if (ref && rr && star) {
      double kl = 0;
      for (size_t c = 0; c < w.n_contexts; c++) {
        for (size_t y = 0; y < w.m; y++) {
          ref[y] = exp(log_ref[c * w.m + y]);
          rr[y] = pop.reward[c * w.m + y] / pt.noise.temperature;
        }
        policy_kl_optimal(ref, rr, pt.beta, w.m, star);
        kl += policy_kl(star, ref, w.m);
      }
      r->truth[10] = kl / (double)w.n_contexts;
    }
    free(ref);
    free(rr);
    free(star);
  }
  groups = true_groups(&pop, &pt.noise, &n_groups);
  if (groups && n_groups >= 2 && w.spec.kind == WORLD_FEATURES) theory_groups(&w, &pop, groups, n_groups, log_ref, pt.beta, r->theory);

  /* truth and theory */
  {
    double bl = 0, ba = 0, ul = 0, ua = 0;
    for (size_t i = 0; i < held.n; i++) {
      double q = held_p[i], qu = held_pu[i];
      bl += ps_bern_entropy(q);
      ba += fmax(q, 1 - q);
      ul += ps_bern_entropy(qu);
      ua += fmax(qu, 1 - qu);
    }
    r->truth[0] = bl / (double)held.n;
    r->truth[1] = ba / (double)held.n;
    r->truth[4] = ul / (double)held.n;
    r->truth[5] = ua / (double)held.n;
    if (pop.n_users) {
      double fr = 0, minority = 0;
      for (size_t h = 0; h < pop.n_train_users; h++) {
        fr += pt.noise.flip + (1 - 2 * pt.noise.flip) * (1 - pop.competence[h]) / 2;
        minority += pop.user_type[h] >= 1;
      }
      r->truth[6] = fr / (double)pop.n_train_users;
      if (pop.kind == POP_MIXTURE && !pop.per_comparison) r->truth[7] = minority / (double)pop.n_train_users;
    } else {
      r->truth[6] = pt.noise.flip;
    }
    double tn = 0;
    for (size_t k = 0; k < pop.d; k++) tn += pop.theta[k] * pop.theta[k];
    r->truth[2] = pop.d ? sqrt(tn) / pt.noise.temperature : NAN;
    pref_features f = world_features(&w);
    /* the well-specified Cramer-Rao scale: one BT reward, no annotator noise */
    if (pop.kind == POP_BT && !pop.n_users) theory_values(&train, &f, &pop, &pt.noise, pt.beta, r->theory);
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
  f.log_ref = log_ref;
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
      eval_metrics(x->type, mod, &train, &held, held_p, &w, &pop, &pt.noise, out);
      eval_user_metrics(x->type, mod, &held, held_pu, &pop, &pt.noise, out);
      out[M_PAIR_PROB] = ps_sigmoid(x->type->logit(mod, 0, 1));
      if (x->type->self_estimate) out[M_SELF_EST] = x->type->self_estimate(mod);
      if (x->type->annotator_columns && train.annotator) eval_group_spread(x->type, mod, train.n_annotators, out);
      if (w.spec.kind == WORLD_FEATURES) {
        const char *mode = ps_param_find(x->type->params, "policy") ? experiment_value(e, p, sec, "policy") : NULL;
        if (groups) eval_group_values(x->type, mod, &w, groups, n_groups, log_ref, pt.beta, mode, out);
        if (w.m <= 64)
          eval_policy_metrics(x->type, mod, &w, &pop, &pt.noise, &held, held_pu, log_ref, pt.beta, mode, out);
        /* compare the estimator's own estimate with the truth it estimates */
        int of = x->type->self_estimate_of;
        if (of == EST_SELF_SUBOPT_BOUND && isfinite(out[M_SELF_EST]) && isfinite(out[M_UNREG]))
          out[M_BOUND_HOLDS] = out[M_UNREG] <= out[M_SELF_EST];
        if (of == EST_SELF_WIN_RATE && isfinite(out[M_SELF_EST]) && isfinite(out[M_WINRATE]))
          out[M_SELF_ERR] = fabs(out[M_SELF_EST] - out[M_WINRATE]);
      }
      if (n_new && x->type->adapt && x->type->logit_user && x->type->user_state_len)
        eval_fewshot(x->type, mod, shots, shot_held, n_new, pt.shots, &pop, &pt.noise, rng, e->seed, p, rep, k, out);
      if (game) eval_policy(x->type, mod, game, game_p, w.n_items, out);
    } else
      snprintf(r->message[k], PS_MSG_LEN, "%s", fm.text);
    if (mod) x->type->free(mod);
  }
done:
  free(game);
  free(game_p);
  free(log_ref);
  free(held_p);
  free(held_pu);
  free(groups);
  for (size_t j = 0; j < n_new; j++) {
    if (shots) pref_data_free(&shots[j]);
    if (shot_held) pref_data_free(&shot_held[j]);
  }
  free(shots);
  free(shot_held);
  r->wall_seconds = now_seconds() - t0;
  pref_data_free(&train);
  pref_data_free(&held);
  population_free(&pop);
  world_free(&w);
  if (rng) gsl_rng_free(rng);
  if (rj) gsl_rng_free(rj);
  return s;
}
