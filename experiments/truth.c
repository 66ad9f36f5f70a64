/* truth.c — the truth and theory tables: one value per cell, from the simulated
 * world alone (no estimate).  Truth quantities are properties of the simulated
 * truth (Bayes log-loss, whether a Condorcet winner exists, ...); theory values are
 * what a theorem predicts for the estimators (docs/theory.md §4, §5).
 *
 * Cramér–Rao scale (docs/theory.md §4): for the well-specified model at the truth,
 * I = sum_i (1-2eps)^2 F'(z_i)^2 / (P_i (1-P_i)) x_i x_i^T with z_i = (r_w - r_l)/T,
 * x_i = phi(w) - phi(l).  The weight is even in z (F' is even and P(1-P) is
 * unchanged when z changes sign), so rows of the same unordered pair are
 * aggregated: I = X^T X with one row sqrt(count w) (phi_a - phi_b) per distinct
 * pair, built by BLAS dsyrk.  For items the Laplacian is filled directly (pseudo-
 * inverse on sum theta = 0 through the rank-one shift 11^T/d).  In a world with Davidson or
 * Rao-Kupper ties the well-specified model is the tie model: its information (ties_fisher),
 * with the tie parameter's Schur complement (crlb_of). */
#include <gsl/gsl_cblas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "../estimators/bt.h"
#include "../estimators/minimax.h"
#include "../estimators/pl.h"
#include "../estimators/policy.h"
#include "../estimators/ties.h"
#include "eval.h"

/* ------------------------------------------------------------ applicability */

static int has_annotators(const exp_point *pt) { return pt->population.annotators > 0; }
static int has_new_users(const exp_point *pt) { return pt->population.new_annotators > 0; }
static int bt_truth(const exp_point *pt) { return pt->population.kind == POP_BT; }
static int clean_bt(const exp_point *pt) { return pt->population.kind == POP_BT && !pt->population.annotators; }
static int clean_bt_logistic(const exp_point *pt) { return clean_bt(pt) && pt->noise.link == LINK_LOGISTIC; }
static int has_ties(const exp_point *pt) { return pt->noise.ties != NOISE_TIES_NONE; }
/* the tie layer is the Davidson or Rao-Kupper model itself: logistic link, no flips */
static int tie_model_world(const exp_point *pt) {
  return has_ties(pt) && clean_bt_logistic(pt) && pt->noise.flip == 0;
}
/* rankings that follow Plackett-Luce on the truth exactly: clean BT, logistic, no flips */
static int pl_rankings(const exp_point *pt) {
  return pt->design.ranking && clean_bt_logistic(pt) && pt->noise.flip == 0 && !pt->population.spurious;
}
/* a model whose Cramer-Rao scale is computed: BT pairs (flips in the weight), in a world
 * with ties the tie model, or Plackett-Luce rankings */
static int crlb_world(const exp_point *pt) {
  if (pt->design.ranking) return pl_rankings(pt);
  return clean_bt(pt) && (!has_ties(pt) || tie_model_world(pt));
}
/* the tie shortcuts' limits: item worlds with a BT truth and ties, pairs weighted equally */
static int shortcut_world(const exp_point *pt) {
  return has_ties(pt) && bt_truth(pt) && pt->world.items <= GAME_MAX_ITEMS && pt->design.kind != DESIGN_POLICY;
}
static int small_game(const exp_point *pt) { return pt->world.items <= GAME_MAX_ITEMS; }
static int luce_pop(const exp_point *pt) { return pt->population.kind == POP_LUCE && small_game(pt); }
static int luce_equal_pairs(const exp_point *pt) { return luce_pop(pt) && pt->design.kind != DESIGN_POLICY; }
static int user_mixture(const exp_point *pt) {
  return population_kind_typed(pt->population.kind) && !pt->population.per_comparison && pt->population.annotators > 0;
}
static int mixed_groups(const exp_point *pt) { return population_kind_typed(pt->population.kind) && pt->population.types >= 2; }

/* ---------------------------------------------------------------- truth */

static double t_bayes_logloss(cell_eval *ev) {
  const cell_sim *s = ev->sim;
  double bl = 0;
  for (size_t i = 0; i < s->held.n; i++) bl += ps_bern_entropy(s->held_p[i]);
  return bl / (double)s->held.n;
}

static double t_bayes_accuracy(cell_eval *ev) {
  const cell_sim *s = ev->sim;
  double ba = 0;
  for (size_t i = 0; i < s->held.n; i++) ba += fmax(s->held_p[i], 1 - s->held_p[i]);
  return ba / (double)s->held.n;
}

static double t_user_bayes_logloss(cell_eval *ev) {
  const cell_sim *s = ev->sim;
  double ul = 0;
  for (size_t i = 0; i < s->held.n; i++) ul += ps_bern_entropy(s->held_pu[i]);
  return ul / (double)s->held.n;
}

static double t_user_bayes_accuracy(cell_eval *ev) {
  const cell_sim *s = ev->sim;
  double ua = 0;
  for (size_t i = 0; i < s->held.n; i++) ua += fmax(s->held_pu[i], 1 - s->held_pu[i]);
  return ua / (double)s->held.n;
}

static double t_theta_norm(cell_eval *ev) {
  const population *pop = &ev->sim->pop;
  double tn = 0;
  for (size_t k = 0; k < pop->d; k++) tn += pop->theta[k] * pop->theta[k];
  return pop->d ? sqrt(tn) / ev->sim->pt.noise.temperature : NAN;
}

static double t_has_condorcet_winner(cell_eval *ev) {
  const double *game = cell_sim_game(ev->sim, NULL);
  return game ? minimax_condorcet_winner(game, ev->sim->w.n_items) >= 0 : NAN;
}

/* 1 when the true game has a Condorcet winner that pooled BT's pseudo-true scores do not
 * rank first (BT, like the Borda count it reproduces on equal pair weights, passes over
 * it), 0 when they do, NaN without a Condorcet winner (docs/theory.md §3.1). */
static double t_bt_misses_condorcet(cell_eval *ev) {
  const double *G = cell_sim_game(ev->sim, NULL);
  if (!G) return NAN;
  size_t M = ev->sim->w.n_items;
  long cw = minimax_condorcet_winner(G, M);
  if (cw < 0) return NAN;
  double *td = malloc(M * sizeof *td), v = NAN;
  if (td && eval_pooled_bt(ev->sim, PREF_TIES_DROP, td) == PS_OK) {
    size_t top = 0;
    for (size_t y = 1; y < M; y++)
      if (td[y] > td[top]) top = y;
    v = top != (size_t)cw;
  }
  free(td);
  return v;
}

/* 1 when pooled BT's pseudo-true scores put a different item first than the Luce
 * population's pooled choice density q-bar does (its mode), 0 when they agree, NaN
 * outside population luce (docs/theory.md §2.12). */
static double t_bt_misses_density_mode(cell_eval *ev) {
  size_t M = ev->sim->w.n_items;
  double *td = malloc(2 * M * sizeof *td), v = NAN;
  if (td && eval_luce_density(ev->sim, td + M) == PS_OK && eval_pooled_bt(ev->sim, PREF_TIES_DROP, td) == PS_OK) {
    size_t a = 0, b = 0;
    for (size_t y = 1; y < M; y++) {
      if (td[y] > td[a]) a = y;
      if (td[M + y] > td[M + b]) b = y;
    }
    v = a != b;
  }
  free(td);
  return v;
}

static double t_flip_rate(cell_eval *ev) {
  const cell_sim *s = ev->sim;
  const noise_spec *ns = &s->pt.noise;
  if (!s->pop.n_users) return ns->flip;
  double fr = 0;
  for (size_t h = 0; h < s->pop.n_train_users; h++) fr += ns->flip + (1 - 2 * ns->flip) * (1 - s->pop.competence[h]) / 2;
  return fr / (double)s->pop.n_train_users;
}

static double t_minority_share(cell_eval *ev) {
  const population *pop = &ev->sim->pop;
  if (!pop->n_users || !population_kind_typed(pop->kind) || pop->per_comparison) return NAN;
  double minority = 0;
  for (size_t h = 0; h < pop->n_train_users; h++) minority += pop->user_type[h] >= 1;
  return minority / (double)pop->n_train_users;
}

static double t_fewshot_bayes_accuracy(cell_eval *ev) {
  const cell_sim *s = ev->sim;
  double fb = 0, fn = 0;
  for (size_t j = 0; j < s->n_new; j++) {
    size_t h = s->pop.n_train_users + j;
    for (size_t i = 0; i < s->shot_held[j].n; i++) {
      double q = noise_prob_user(&s->pt.noise, &s->pop, h, pref_first(&s->shot_held[j], i),
                                 pref_second(&s->shot_held[j], i));
      fb += fmax(q, 1 - q);
      fn += 1;
    }
  }
  return fn > 0 ? fb / fn : NAN;
}

static double t_ref_opt_mass(cell_eval *ev) {
  const cell_sim *s = ev->sim;
  const world *w = &s->w;
  double cov = 0;
  for (size_t c = 0; c < w->n_contexts; c++) {
    size_t best = 0;
    for (size_t y = 1; y < w->m; y++)
      if (s->pop.reward[c * w->m + y] > s->pop.reward[c * w->m + best]) best = y;
    cov += exp(s->log_ref[c * w->m + best]);
  }
  return cov / (double)w->n_contexts;
}

/* KL(pi* || pi_ref) of the true KL optimum: the yardstick of the learners' kl_ref */
/* The share of training rows whose chosen response the first gradient step of DPO
 * from pi_ref moves down, to first order (docs/theory.md §3.13c): the step is along
 * g = sum_j c_j (phi_w(j) - phi_l(j)), and log pi(y) moves by (phi_y - E_pi_ref phi)^T g
 * times a positive constant, so the prediction for row i is the sign of
 * (phi_w(i) - phi-bar_ref)^T g.  A property of the training data, whatever the estimator. */
static double t_first_step_fall_share(cell_eval *ev) {
  const cell_sim *s = ev->sim;
  const pref_features *f = &s->f;
  const pref_data *d = &s->train;
  size_t D = f->d, m = s->w.m;
  if (!f->phi || !d->n) return NAN;
  double *g = calloc(2 * D, sizeof *g);
  if (!g) return NAN;
  double *bar = g + D, W = 0, fall = 0;
  for (size_t i = 0; i < d->n; i++) {
    double c = d->count ? d->count[i] : 1.0;
    const double *pw = f->phi + (size_t)d->winner[i] * D, *pl = f->phi + (size_t)d->loser[i] * D;
    for (size_t k = 0; k < D; k++) g[k] += c * (pw[k] - pl[k]);
  }
  for (size_t i = 0; i < d->n; i++) {
    double c = d->count ? d->count[i] : 1.0;
    size_t first = (size_t)d->winner[i] / m * m;
    memset(bar, 0, D * sizeof *bar);
    for (size_t y = 0; y < m; y++) {
      double p = exp(s->log_ref[first + y]);
      for (size_t k = 0; k < D; k++) bar[k] += p * f->phi[(first + y) * D + k];
    }
    const double *pw = f->phi + (size_t)d->winner[i] * D;
    double pred = 0;
    for (size_t k = 0; k < D; k++) pred += (pw[k] - bar[k]) * g[k];
    fall += c * (pred < 0);
    W += c;
  }
  free(g);
  return fall / W;
}

static double t_opt_kl_ref(cell_eval *ev) {
  const cell_sim *s = ev->sim;
  const world *w = &s->w;
  double *ref = malloc(w->m * sizeof(double)), *rr = malloc(w->m * sizeof(double));
  double *star = malloc(w->m * sizeof(double)), out = NAN;
  if (ref && rr && star) {
    double kl = 0;
    for (size_t c = 0; c < w->n_contexts; c++) {
      for (size_t y = 0; y < w->m; y++) {
        ref[y] = exp(s->log_ref[c * w->m + y]);
        rr[y] = s->pop.reward[c * w->m + y] / s->pt.noise.temperature;
      }
      policy_kl_optimal(ref, rr, s->pt.beta, w->m, star);
      kl += policy_kl(star, ref, w->m);
    }
    out = kl / (double)w->n_contexts;
  }
  free(ref);
  free(rr);
  free(star);
  return out;
}

#define IF EST_IN_ITEMS | EST_IN_FEATURES
const cellq_def truth_table[] = {
    {"bayes_logloss", "nats", "held-out Bayes log-loss mean H(p)", IF, NULL, t_bayes_logloss},
    {"bayes_accuracy", "1", "held-out Bayes accuracy mean max(p, 1-p)", IF, NULL, t_bayes_accuracy},
    {"theta_norm", "1", "||theta*/T||_2 (items: centred scores); NaN without a parameter", IF, bt_truth, t_theta_norm},
    {"has_condorcet_winner", "1", "1 when one item beats every other with P > 1/2 (item worlds)", EST_IN_ITEMS,
     small_game, t_has_condorcet_winner},
    {"user_bayes_logloss", "nats", "held-out mean H(p) with p each comparison's own annotator's truth", IF,
     has_annotators, t_user_bayes_logloss},
    {"user_bayes_accuracy", "1", "held-out mean max(p, 1-p) with p each comparison's own annotator's truth", IF,
     has_annotators, t_user_bayes_accuracy},
    {"flip_rate", "1", "mean over training annotators of eps + (1-2eps)(1-competence)/2", IF, NULL, t_flip_rate},
    {"minority_share", "1", "share of training annotators of minority types (1..K-1)", IF, user_mixture,
     t_minority_share},
    {"fewshot_bayes_accuracy", "1",
     "new users' held-out Bayes accuracy: the full-information ceiling of few-shot accuracy", IF, has_new_users,
     t_fewshot_bayes_accuracy},
    {"bt_misses_density_mode", "1",
     "1 when pooled BT's pseudo-true scores rank first another item than the mode of a Luce population's pooled "
     "choice density, 0 when not (population luce)",
     EST_IN_ITEMS, luce_equal_pairs, t_bt_misses_density_mode},
    {"bt_misses_condorcet", "1",
     "1 when the true game's Condorcet winner is not pooled BT's pseudo-true top item, 0 when it is, NaN without one",
     EST_IN_ITEMS, NULL, t_bt_misses_condorcet},
    {"ref_opt_mass", "1", "mean over contexts of pi_ref(argmax_y r): the reference's coverage of the optimal response",
     IF, NULL, t_ref_opt_mass},
    {"first_step_fall_share", "1",
     "share of training rows whose chosen response DPO's first gradient step from pi_ref moves down (first order)",
     EST_IN_FEATURES, NULL, t_first_step_fall_share},
    {"opt_kl_ref", "nats",
     "E_x KL(pi* || pi_ref) of the KL optimum pi* ∝ pi_ref exp(r/(T beta)) of the true reward (feature worlds)",
     EST_IN_FEATURES, NULL, t_opt_kl_ref},
};
const size_t truth_table_len = sizeof truth_table / sizeof truth_table[0];
_Static_assert(sizeof truth_table / sizeof truth_table[0] <= 64, "cell_eval memo_truth holds 64 truth quantities");

/* ---------------------------------------------------------------- theory */

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

typedef double (*pair_weight)(const noise_spec *ns, double z);
static double logistic_weight(const noise_spec *ns, double z) { return ps_sigmoid_deriv(z); }

/* H = sum_i wf(z_i) x_i x_i^T and S = sum_i x_i x_i^T over the training rows of a
 * feature world, by dsyrk over the distinct unordered pairs (the weight is even in
 * z: see the top of this file): the design rows are built once, S taken from them,
 * then each row is scaled by sqrt(wf) for H.  H and S are dim x dim, full.
 * PS_ENOMEM when scratch cannot be had. */
static int feature_fisher(const cell_sim *s, pair_weight wf, double *H, double *S) {
  const pref_data *d = &s->train;
  const pref_features *f = &s->f;
  const double *r = s->pop.reward;
  double T = s->pt.noise.temperature;
  size_t dim = f->d, M = s->w.m, n = d->n, k = 0;
  /* per-context M x M count tables when they are not much larger than the rows */
  int dense = s->w.n_items * M <= 4 * n + (1u << 20);
  size_t cap = dense ? (n < s->w.n_items * (M - 1) / 2 ? n : s->w.n_items * (M - 1) / 2) : n;
  double *cnt = dense ? calloc(s->w.n_items * M, sizeof(double)) : NULL;
  double *X = malloc((cap ? cap : 1) * dim * sizeof(double)), *wt = malloc((cap ? cap : 1) * sizeof(double));
  int32_t *pa = malloc((cap ? cap : 1) * sizeof(int32_t)), *pb = malloc((cap ? cap : 1) * sizeof(int32_t));
  int st = PS_ENOMEM;
  if ((dense && !cnt) || !X || !wt || !pa || !pb) goto done;
  if (dense) {
    for (size_t i = 0; i < n; i++) {
      size_t a = (size_t)d->winner[i], b = (size_t)d->loser[i];
      if (a > b) {
        size_t t = a;
        a = b;
        b = t;
      }
      cnt[a * M + b % M] += d->count ? d->count[i] : 1;
    }
    for (size_t a = 0; a < s->w.n_items; a++) {
      size_t base = a - a % M;
      for (size_t j = a % M + 1; j < M; j++) {
        double c = cnt[a * M + j];
        if (c == 0) continue;
        pa[k] = (int32_t)a;
        pb[k] = (int32_t)(base + j);
        wt[k++] = c;
      }
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      pa[k] = d->winner[i];
      pb[k] = d->loser[i];
      wt[k++] = d->count ? d->count[i] : 1;
    }
  }
  if (!k) { /* no rows: both sums are 0 */
    memset(H, 0, dim * dim * sizeof(double));
    memset(S, 0, dim * dim * sizeof(double));
    st = PS_OK;
    goto done;
  }
  for (size_t i = 0; i < k; i++) {
    double sw = sqrt(wt[i]);
    const double *fa = f->phi + (size_t)pa[i] * dim, *fb = f->phi + (size_t)pb[i] * dim;
    double *x = X + i * dim;
    for (size_t j = 0; j < dim; j++) x[j] = sw * (fa[j] - fb[j]);
  }
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)dim, (int)k, 1.0, X, (int)dim, 0.0, S, (int)dim);
  for (size_t i = 0; i < k; i++) {
    double sw = sqrt(wf(&s->pt.noise, (r[pa[i]] - r[pb[i]]) / T));
    double *x = X + i * dim;
    for (size_t j = 0; j < dim; j++) x[j] *= sw;
  }
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)dim, (int)k, 1.0, X, (int)dim, 0.0, H, (int)dim);
  for (size_t a = 0; a < dim; a++)
    for (size_t b = 0; b < a; b++) {
      H[a * dim + b] = H[b * dim + a];
      S[a * dim + b] = S[b * dim + a];
    }
  st = PS_OK;
done:
  free(cnt);
  free(X);
  free(wt);
  free(pa);
  free(pb);
  return st;
}

/* A <- A^-1 for a symmetric positive definite dim x dim A; PS_ESINGULAR otherwise */
static int spd_invert(double *A, size_t dim) {
  gsl_matrix_view v = gsl_matrix_view_array(A, dim, dim);
  if (gsl_linalg_cholesky_decomp1(&v.matrix) != GSL_SUCCESS) return PS_ESINGULAR;
  if (gsl_linalg_cholesky_invert(&v.matrix) != GSL_SUCCESS) return PS_ESINGULAR;
  return PS_OK;
}

/* tr(A B) for dim x dim A, B */
static double trace_prod(const double *A, const double *B, size_t dim) {
  double t = 0;
  for (size_t k = 0; k < dim; k++)
    for (size_t l = 0; l < dim; l++) t += A[k * dim + l] * B[l * dim + k];
  return t;
}

/* The expected Plackett-Luce Fisher information of the training rankings at the truth
 * (docs/theory.md §3.18): I = sum_r X_r^T I(u_r) X_r with I(u_r) pl_expected_information's
 * for ranking r's offered set at u = r/T and X_r its rows of phi (items: the unit vectors).
 * *trace_u receives the mean over rankings of tr I(u_r).  PS_EINVAL for a set above
 * PL_INFO_MAX_SET, PS_ENOMEM. */
static int pl_fisher(const cell_sim *s, double *I, double *trace_u) {
  const rank_data *d = &s->rank;
  const pref_features *f = &s->f;
  size_t dim = f->d, kmax = 0;
  for (size_t r = 0; r < d->n; r++) kmax = rank_size(d, r) > kmax ? rank_size(d, r) : kmax;
  if (kmax > PL_INFO_MAX_SET) return PS_EINVAL;
  double *u = malloc((kmax + 1) * sizeof *u), *Is = malloc((kmax * kmax + 1) * sizeof *Is);
  double *XI = f->phi ? malloc((kmax * dim + 1) * sizeof *XI) : NULL, tsum = 0;
  if (!u || !Is || (f->phi && !XI)) {
    free(u);
    free(Is);
    free(XI);
    return PS_ENOMEM;
  }
  memset(I, 0, dim * dim * sizeof *I);
  for (size_t r = 0; r < d->n; r++) {
    size_t k = rank_size(d, r);
    const int32_t *it = d->item + d->off[r];
    double c = d->count ? d->count[r] : 1;
    for (size_t j = 0; j < k; j++) u[j] = s->pop.reward[it[j]] / s->pt.noise.temperature;
    tsum += c * pl_expected_information(u, k, rank_stages(d, r), Is);
    if (!f->phi) {
      for (size_t a = 0; a < k; a++)
        for (size_t b = 0; b < k; b++) I[(size_t)it[a] * dim + (size_t)it[b]] += c * Is[a * k + b];
      continue;
    }
    /* X^T Is X with X the k x dim rows of phi: (Is X) first, then X^T (Is X) */
    for (size_t a = 0; a < k; a++)
      for (size_t q = 0; q < dim; q++) {
        double v = 0;
        for (size_t b = 0; b < k; b++) v += Is[a * k + b] * f->phi[(size_t)it[b] * dim + q];
        XI[a * dim + q] = v;
      }
    for (size_t a = 0; a < k; a++) {
      const double *xa = f->phi + (size_t)it[a] * dim;
      for (size_t p = 0; p < dim; p++)
        for (size_t q = 0; q < dim; q++) I[p * dim + q] += c * xa[p] * XI[a * dim + q];
    }
  }
  *trace_u = tsum / rank_data_weight(d);
  free(u);
  free(Is);
  free(XI);
  return PS_OK;
}

static double th_ranking_info_trace(cell_eval *ev) {
  size_t dim = ev->sim->f.d;
  double *I = malloc(dim * dim * sizeof *I), t = NAN;
  if (I && pl_fisher(ev->sim, I, &t) != PS_OK) t = NAN;
  free(I);
  return t;
}

/* The tie layer as a model (docs/theory.md §2.11): Davidson with tau = log nu, Rao-Kupper
 * with tau = eta; the link is logistic without flips wherever these are asked for. */
static ties_model tie_model(const noise_spec *ns, double *tau) {
  *tau = ns->ties == NOISE_TIES_DAVIDSON ? log(ns->nu) : ns->eta;
  return ns->ties == NOISE_TIES_DAVIDSON ? TIES_DAVIDSON : TIES_RAOKUPPER;
}

/* I_zz of one comparison under the tie model (ties_fisher; tau is estimated too: the
 * cross terms are added by crlb_of) */
static double tie_weight(const noise_spec *ns, double z) {
  double tau, info[3];
  ties_model tm = tie_model(ns, &tau);
  ties_fisher(tm, z, tau, info);
  return info[0];
}

/* The information about z in a comparison's strict outcome alone, tau known: the row is
 * strict with probability 1 - P(tie), and then a Bernoulli with s(z) = P(win) / (P(win) +
 * P(loss)) = sigma(g(z)), g = z (Davidson) or log sigma(z - eta) - log sigma(-z - eta)
 * (Rao-Kupper, g' = sigma(eta - z) + sigma(eta + z)): (1 - P(tie)) sigma'(g) g'^2.  The
 * Cramer-Rao scale of an estimator that drops the ties (for Davidson: BT on the strict
 * rows). */
static double tie_drop_weight(const noise_spec *ns, double z) {
  double tau, pw, pt, pl;
  ties_model tm = tie_model(ns, &tau);
  ties_probs(tm, z, tau, &pw, &pt, &pl);
  double g = z, gp = 1;
  if (tm == TIES_RAOKUPPER) {
    g = ps_log_sigmoid(z - tau) - ps_log_sigmoid(-z - tau);
    gp = ps_sigmoid(tau - z) + ps_sigmoid(tau + z);
  }
  return (pw + pl) * ps_sigmoid_deriv(g) * gp * gp;
}

/* sqrt(tr I^-1) and sqrt(tr(I^-1 Sigma-hat)) (Sigma-hat = mean x x^T of the training rows)
 * for the per-comparison information wf(z) x x^T at the truth.  with_tau: the tie model's
 * tau is a nuisance estimated alongside, so I is the Schur complement
 * I_theta,theta - c c^T / I_tau,tau, c = sum_i I_z,tau(z_i) x_i (items: c sums to 0, so the
 * pseudo-inverse on sum theta = 0 still goes through the shift 11^T/d). */
static void crlb_of(const cell_sim *s, pair_weight wf, int with_tau, double out[2]) {
  out[0] = out[1] = NAN;
  const pref_data *d = &s->train;
  const pref_features *f = &s->f;
  const double *r = s->pop.reward;
  double T = s->pt.noise.temperature;
  size_t dim = f->d, n = d->n;
  if (dim > 4096 || !n) return;
  double *I = malloc(dim * dim * sizeof(double)), *S = malloc(dim * dim * sizeof(double)), *w = NULL;
  double *c = calloc(dim, sizeof(double));
  if (!I || !S || !c) goto done;
  if (s->ranked) {
    /* Plackett-Luce rankings: their exact expected information; Sigma-hat over the full
     * breaking's pairs (the sum-zero shift for items comes below) */
    double tu;
    if (pl_fisher(s, I, &tu) != PS_OK) goto done;
    w = malloc(n * sizeof(double));
    if (!w) goto done;
    for (size_t i = 0; i < n; i++) w[i] = 1.0 / (double)n;
    if (bt_design_hessian(d, f, w, 0, S, NULL) != PS_OK) goto done;
  } else if (f->phi) {
    if (feature_fisher(s, wf, I, S)) goto done;
    for (size_t k = 0; k < dim * dim; k++) S[k] /= (double)n;
  } else {
    w = malloc(n * sizeof(double));
    if (!w) goto done;
    for (size_t i = 0; i < n; i++)
      w[i] = (d->count ? d->count[i] : 1.0) * wf(&s->pt.noise, (r[d->winner[i]] - r[d->loser[i]]) / T);
    if (bt_design_hessian(d, f, w, 0, I, NULL) != PS_OK) goto done;
    for (size_t i = 0; i < n; i++) w[i] = 1.0 / (double)n;
    if (bt_design_hessian(d, f, w, 0, S, NULL) != PS_OK) goto done;
  }
  if (with_tau) {
    double tau, info[3], itt = 0;
    ties_model tm = tie_model(&s->pt.noise, &tau);
    for (size_t i = 0; i < n; i++) {
      double cnt = d->count ? d->count[i] : 1.0;
      int32_t a = d->winner[i], b = d->loser[i];
      ties_fisher(tm, (r[a] - r[b]) / T, tau, info);
      itt += cnt * info[2];
      if (!f->phi) {
        c[a] += cnt * info[1];
        c[b] -= cnt * info[1];
      } else {
        const double *pa = f->phi + (size_t)a * dim, *pb = f->phi + (size_t)b * dim;
        for (size_t k = 0; k < dim; k++) c[k] += cnt * info[1] * (pa[k] - pb[k]);
      }
    }
    if (!(itt > 0)) goto done;
    for (size_t k = 0; k < dim; k++)
      for (size_t l = 0; l < dim; l++) I[k * dim + l] -= c[k] * c[l] / itt;
  }
  if (!f->phi)
    for (size_t k = 0; k < dim * dim; k++) I[k] += 1.0 / (double)dim;
  if (spd_invert(I, dim)) goto done;
  if (!f->phi)
    for (size_t k = 0; k < dim * dim; k++) I[k] -= 1.0 / (double)dim;
  double tr = 0;
  for (size_t k = 0; k < dim; k++) tr += I[k * dim + k];
  out[0] = sqrt(tr);
  out[1] = sqrt(trace_prod(I, S, dim));
done:
  free(I);
  free(S);
  free(w);
  free(c);
}

/* the well-specified model's: BT (link, flips), or the tie model in a world with ties */
static void crlb_pair(cell_eval *ev) {
  if (ev->crlb_done) return;
  ev->crlb_done = 1;
  int ties = ev->sim->pt.noise.ties != NOISE_TIES_NONE;
  crlb_of(ev->sim, ties ? tie_weight : fisher_weight, ties, ev->crlb);
}

static double th_crlb_drop(cell_eval *ev) {
  double out[2];
  crlb_of(ev->sim, tie_drop_weight, 0, out);
  return out[0];
}

/* The tie shortcuts' pseudo-true scores theta-dagger (eval_pooled_bt, docs/theory.md
 * §3.17) against theta* / T: the slope of theta-dagger on the truth (theta_slope's value at
 * the limit) and the distance ||theta-dagger - theta* / T|| (param_err's limit). */
static double shortcut_limit(cell_eval *ev, pref_ties_mode mode, int slope) {
  const cell_sim *s = ev->sim;
  size_t M = s->w.n_items;
  double *td = malloc(M * sizeof *td), v = NAN, T = s->pt.noise.temperature;
  if (td && eval_pooled_bt(s, mode, td) == PS_OK) {
    if (slope) {
      v = eval_theta_slope(td, &s->pop, T, 1);
    } else {
      double e2 = 0;
      for (size_t y = 0; y < M; y++) e2 += (td[y] - s->pop.theta[y] / T) * (td[y] - s->pop.theta[y] / T);
      v = sqrt(e2);
    }
  }
  free(td);
  return v;
}
static double th_half_win_slope(cell_eval *ev) { return shortcut_limit(ev, PREF_TIES_HALF, 1); }
static double th_half_win_bias(cell_eval *ev) { return shortcut_limit(ev, PREF_TIES_HALF, 0); }
static double th_drop_ties_slope(cell_eval *ev) { return shortcut_limit(ev, PREF_TIES_DROP, 1); }
static double th_drop_ties_bias(cell_eval *ev) { return shortcut_limit(ev, PREF_TIES_DROP, 0); }

static double th_crlb(cell_eval *ev) { return crlb_pair(ev), ev->crlb[0]; }
static double th_crlb_sigma(cell_eval *ev) { return crlb_pair(ev), ev->crlb[1]; }

/* rDPO's asymptotic (fixed-design sandwich) error scale, docs/theory.md §3.10: at
 * the truth z_i = r_i/T the rDPO score of row i takes two values (label kept or
 * flipped) that differ by beta x_i / (1 - 2 eps), so its variance is
 * beta^2 x x^T [sigma'(z) + eps (1 - eps) / (1 - 2 eps)^2]; its Hessian is the clean
 * beta^2 sigma'(z) x x^T.  Hence Cov(theta-hat) = (I0^-1 + kappa I0^-1 S I0^-1) / beta^2,
 * I0 = sum sigma'(z_i) x_i x_i^T, S = sum x_i x_i^T, kappa = eps (1 - eps) / (1 - 2 eps)^2,
 * and E||theta-hat - theta* / (T beta)||^2 -> its trace. */
static double th_rdpo_err(cell_eval *ev) {
  const cell_sim *s = ev->sim;
  size_t dim = s->f.d;
  double eps = s->pt.noise.flip, beta = s->pt.beta, out = NAN;
  if (!s->f.phi || s->pt.noise.link != LINK_LOGISTIC || !(beta > 0) || dim > 4096 || !s->train.n) return NAN;
  double kappa = eps * (1 - eps) / ((1 - 2 * eps) * (1 - 2 * eps));
  double *A = malloc(dim * dim * sizeof(double)), *S = malloc(dim * dim * sizeof(double));
  double *AS = malloc(dim * dim * sizeof(double));
  if (!A || !S || !AS) goto done;
  if (feature_fisher(s, logistic_weight, A, S)) goto done;
  if (spd_invert(A, dim)) goto done;
  /* tr(I0^-1 S I0^-1) = tr((I0^-1 S) I0^-1) */
  cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, (int)dim, (int)dim, 1.0, A, (int)dim, S, (int)dim, 0.0, AS,
              (int)dim);
  double tr = 0;
  for (size_t k = 0; k < dim; k++) tr += A[k * dim + k];
  out = sqrt(tr + kappa * trace_prod(AS, A, dim)) / beta;
done:
  free(A);
  free(S);
  free(AS);
  return out;
}

static double th_excess_of_half(cell_eval *ev) { return log(2.0) - truth_value(ev, "bayes_logloss"); }

static double th_deterministic_exploitability(cell_eval *ev) {
  const double *game = cell_sim_game(ev->sim, NULL);
  if (!game) return NAN;
  size_t Mn = ev->sim->w.n_items;
  double best = INFINITY;
  for (size_t y = 0; y < Mn; y++) {
    double worst = 0;
    for (size_t j = 0; j < Mn; j++) worst = fmax(worst, game[j * Mn + y]);
    best = fmin(best, worst);
  }
  return best;
}

/* MaxMin on the truth: dual, iterative, per-sample minimum, and the gaps of the
 * pooled single reward and of MaxMin (docs/theory.md §3.5) */
static void group_theory(cell_eval *ev) {
  if (ev->groups_done) return;
  ev->groups_done = 1;
  for (int i = 0; i < 5; i++) ev->group_theory[i] = NAN;
  const cell_sim *s = ev->sim;
  const world *w = &s->w;
  const population *pop = &s->pop;
  size_t K = s->n_groups, C = w->n_contexts, m = w->m, M = w->n_items, H = pop->n_train_users;
  if (K < 2 || w->spec.kind != WORLD_FEATURES) return;
  double *share = calloc(K, sizeof(double)), *pi = malloc(M * sizeof(double)), mgap;
  if (!share || !pi) goto done;
  for (size_t h = 0; h < H; h++)
    if (pop->user_type[h] >= 0) share[pop->user_type[h]] += 1.0 / (double)H;
  if (pop->per_comparison)
    for (size_t k = 0; k < K; k++) share[k] = pop->type_weight[k];
  static const char *const modes[] = {"maxmin", "maxmin_iterative", "per_sample_min", "pooled"};
  for (int i = 0; i < 4; i++) {
    double worst;
    if (eval_group_policy(s->groups, share, K, C, m, s->log_ref, s->pt.beta, modes[i], pi) != PS_OK) continue;
    eval_policy_group_summary(pi, s->groups, K, s->log_ref, C, m, s->pt.beta, &worst, &mgap);
    if (i < 3) ev->group_theory[i] = worst;
    if (i == 0) ev->group_theory[4] = mgap;
    if (i == 3) ev->group_theory[3] = mgap;
  }
done:
  free(share);
  free(pi);
}

/* Pooled BT's own limit on a mixture (docs/theory.md §3.4, "pseudo-true"): as n grows
 * the BT MLE on everybody's labels converges to theta-dagger, the solution of the BT
 * score equations on the population's preference probabilities,
 *   sum_x sum_{a != b} (pbar_ab - sigma(theta^T (phi_a - phi_b))) (phi_a - phi_b) = 0,
 *   pbar_ab = sum_u share_u P_u(a > b)   (the labels' probabilities, flips included),
 * weighted as the uniform design draws pairs (every context, every unordered pair
 * alike).  It is found as a BT fit with fractional counts (pbar_ab for a > b, 1 - pbar_ab
 * for b > a).  Its KL-optimal policy's minority gap and worst-group value are what the
 * measured bt/minority_gap and bt/worst_group_value tend to.  This is not the
 * share-weighted mean reward (theory/pooled_minority_gap): the BT projection of mixed
 * preferences weighs each pair by the logistic link, and orders responses more like a
 * Borda count. */
static int bt_limit_applies(const exp_point *pt) {
  return mixed_groups(pt) && !pt->population.per_comparison && pt->design.kind == DESIGN_UNIFORM;
}

static void pooled_bt_limit(cell_eval *ev) {
  if (ev->pooled_bt_done) return;
  ev->pooled_bt_done = 1;
  ev->pooled_bt[0] = ev->pooled_bt[1] = NAN;
  const cell_sim *s = ev->sim;
  const world *w = &s->w;
  const population *pop = &s->pop;
  size_t K = s->n_groups, C = w->n_contexts, m = w->m, M = w->n_items, H = pop->n_train_users;
  if (K < 2 || !s->f.phi || pop->per_comparison || m < 2) return;
  double *share = calloc(K, sizeof(double)), *r = malloc(M * sizeof(double)), *pi = malloc(M * sizeof(double));
  long *rep = malloc(K * sizeof(long));
  pref_data d = {0};
  bt_result res = {0};
  if (!share || !r || !pi || !rep) goto done;
  for (size_t u = 0; u < K; u++) rep[u] = -1;
  for (size_t h = 0; h < H; h++) {
    int32_t u = pop->user_type[h];
    if (u < 0 || (size_t)u >= K) continue;
    share[u] += 1.0 / (double)H;
    if (rep[u] < 0) rep[u] = (long)h;
  }
  if (pref_data_alloc(&d, C * m * (m - 1), M, 0, 0, 1) != PS_OK) goto done;
  size_t n = 0;
  for (size_t c = 0; c < C; c++)
    for (size_t a = 0; a < m; a++)
      for (size_t b = a + 1; b < m; b++) {
        int32_t ia = (int32_t)(c * m + a), ib = (int32_t)(c * m + b);
        double p = 0;
        for (size_t u = 0; u < K; u++)
          if (rep[u] >= 0) p += share[u] * noise_prob_user(&s->pt.noise, pop, (size_t)rep[u], ia, ib);
        d.winner[n] = ia, d.loser[n] = ib, d.count[n++] = p;
        d.winner[n] = ib, d.loser[n] = ia, d.count[n++] = 1 - p;
      }
  d.n = n;
  bt_options o = bt_options_default();
  o.l2 = 0;
  if (bt_fit(&d, &s->f, &o, &res, NULL) != PS_OK) goto done;
  for (size_t i = 0; i < M; i++) {
    double z = 0;
    for (size_t k = 0; k < s->f.d; k++) z += s->f.phi[i * s->f.d + k] * res.theta[k];
    r[i] = z;
  }
  const double one = 1;
  if (eval_group_policy(r, &one, 1, C, m, s->log_ref, s->pt.beta, "pooled", pi) != PS_OK) goto done;
  eval_policy_group_summary(pi, s->groups, K, s->log_ref, C, m, s->pt.beta, &ev->pooled_bt[1], &ev->pooled_bt[0]);
done:
  bt_result_free(&res);
  pref_data_free(&d);
  free(share);
  free(r);
  free(pi);
  free(rep);
}

static double th_pooled_bt_minority_gap(cell_eval *ev) { return pooled_bt_limit(ev), ev->pooled_bt[0]; }
static double th_pooled_bt_worst_value(cell_eval *ev) { return pooled_bt_limit(ev), ev->pooled_bt[1]; }

static double th_maxmin_value(cell_eval *ev) { return group_theory(ev), ev->group_theory[0]; }
static double th_maxmin_value_iterative(cell_eval *ev) { return group_theory(ev), ev->group_theory[1]; }
static double th_per_sample_min_value(cell_eval *ev) { return group_theory(ev), ev->group_theory[2]; }
static double th_pooled_minority_gap(cell_eval *ev) { return group_theory(ev), ev->group_theory[3]; }
static double th_maxmin_minority_gap(cell_eval *ev) { return group_theory(ev), ev->group_theory[4]; }

/* KL(q-bar || softmax(theta-dagger)): how far pooled BT's population limit, read as a
 * density, stays from a Luce population's pooled choice density (0 for one type). */
static double th_pooled_bt_density_kl(cell_eval *ev) {
  size_t M = ev->sim->w.n_items;
  double *td = malloc(2 * M * sizeof *td), v = NAN;
  if (td && eval_luce_density(ev->sim, td + M) == PS_OK && eval_pooled_bt(ev->sim, PREF_TIES_DROP, td) == PS_OK)
    v = eval_density_kl(td + M, td, M);
  free(td);
  return v;
}

const cellq_def theory_table[] = {
    {"param_err_crlb", "1",
     "sqrt(tr I^-1): Cramer-Rao scale of ||theta-hat - theta*/T||_2 (with ties: the tie model's, its tie parameter "
     "estimated too; rankings: I the exact expected Plackett-Luce information of the offered sets)",
     IF, crlb_world, th_crlb},
    {"param_err_sigma_crlb", "1", "sqrt(tr(I^-1 Sigma-hat)): Cramer-Rao scale of the Sigma-hat-norm error", IF,
     crlb_world, th_crlb_sigma},
    {"param_err_crlb_drop", "1",
     "sqrt(tr I_strict^-1): Cramer-Rao scale of an estimator that drops the ties, I_strict the strict rows' "
     "information with the tie parameter known (Davidson: BT on the strict rows)",
     IF, tie_model_world, th_crlb_drop},
    {"half_win_slope", "1",
     "theta_slope of theta-dagger, BT's limit with a tie as half a win each way (pairs weighted equally; item worlds)",
     EST_IN_ITEMS, shortcut_world, th_half_win_slope},
    {"half_win_bias", "1", "||theta-dagger - theta*/T|| of that limit: the error bt (ties = half) plateaus at",
     EST_IN_ITEMS, shortcut_world, th_half_win_bias},
    {"drop_ties_slope", "1", "theta_slope of BT's limit with the ties dropped (Davidson: 1; Rao-Kupper: > 1)",
     EST_IN_ITEMS, shortcut_world, th_drop_ties_slope},
    {"drop_ties_bias", "1", "||theta-dagger - theta*/T|| of BT's limit with the ties dropped", EST_IN_ITEMS,
     shortcut_world, th_drop_ties_bias},
    {"ranking_info_trace", "1",
     "mean over training rankings of tr I(u), the exact expected Plackett-Luce information of one ranking in its "
     "utilities u = r/T (k - H_k for a full ranking of k at theta = 0; a pair at theta = 0: 1/2)",
     IF, pl_rankings, th_ranking_info_trace},
    {"excess_of_half", "nats",
     "log 2 - Bayes log-loss: the excess of predicting 1/2 everywhere (the best BT on a symmetric cycle)", IF, NULL,
     th_excess_of_half},
    {"deterministic_exploitability", "1",
     "min over items y of max_j P(j > y) - 1/2: the least exploitable pure policy", EST_IN_ITEMS, small_game,
     th_deterministic_exploitability},
    {"maxmin_value", "1", "min_u F_u of the MaxMin policy of the true group rewards, by the dual (docs/theory.md §3.5)",
     EST_IN_FEATURES, mixed_groups, th_maxmin_value},
    {"maxmin_value_iterative", "1", "min_u F_u of the paper's iterative MaxMin on the true group rewards (20000 steps)",
     EST_IN_FEATURES, mixed_groups, th_maxmin_value_iterative},
    {"per_sample_min_value", "1", "min_u F_u of pi ∝ pi_ref exp(min_u r_u / beta), the reference code's variant",
     EST_IN_FEATURES, mixed_groups, th_per_sample_min_value},
    {"pooled_minority_gap", "1",
     "minority gap of the KL optimum of the share-weighted mean true reward (NOT pooled BT's limit: see "
     "pooled_bt_minority_gap)",
     EST_IN_FEATURES, mixed_groups, th_pooled_minority_gap},
    {"maxmin_minority_gap", "1", "minority gap of the true MaxMin policy", EST_IN_FEATURES, mixed_groups,
     th_maxmin_minority_gap},
    {"pooled_bt_density_kl", "nats",
     "KL(q-bar || softmax(theta-dagger)): pooled BT's population limit read as a density, against a Luce "
     "population's pooled choice density (population luce; 0 with one type)",
     EST_IN_ITEMS, luce_equal_pairs, th_pooled_bt_density_kl},
    {"pooled_bt_minority_gap", "1",
     "minority gap of pooled BT's population limit (the BT projection of the mixed preferences, docs/theory.md §3.4)",
     EST_IN_FEATURES, bt_limit_applies, th_pooled_bt_minority_gap},
    {"pooled_bt_worst_value", "1", "min_u F_u of pooled BT's population limit's KL-optimal policy", EST_IN_FEATURES,
     bt_limit_applies, th_pooled_bt_worst_value},
    {"rdpo_err", "1",
     "sqrt(tr(I0^-1 V I0^-1)) / beta: rDPO's (eps = noise.flip) asymptotic sd scale of policy_param_err; at flip 0 "
     "DPO's (= param_err_crlb / beta)",
     EST_IN_FEATURES, clean_bt_logistic, th_rdpo_err},
};
const size_t theory_table_len = sizeof theory_table / sizeof theory_table[0];
_Static_assert(sizeof theory_table / sizeof theory_table[0] <= 64, "cell_eval memo_theory holds 64 theory values");

/* ---------------------------------------------------------------- lookups */

static long find(const cellq_def *t, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(t[i].name, name)) return (long)i;
  return -1;
}

long truth_find(const char *name) { return find(truth_table, truth_table_len, name); }
long theory_find(const char *name) { return find(theory_table, theory_table_len, name); }

unsigned exp_point_data(const exp_point *pt) {
  switch (pt->world.kind) {
  case WORLD_ITEMS: return EST_IN_ITEMS;
  case WORLD_FEATURES: return EST_IN_FEATURES;
  default: return EST_IN_SEGMENTS;
  }
}

static int applies(const cellq_def *q, const exp_point *pt) {
  return (q->worlds & exp_point_data(pt)) && (!q->applies || q->applies(pt));
}

int truth_applies(size_t i, const exp_point *pt) { return i < truth_table_len && applies(&truth_table[i], pt); }
int theory_applies(size_t i, const exp_point *pt) { return i < theory_table_len && applies(&theory_table[i], pt); }

static double memo_get(cell_eval *ev, const cellq_def *t, size_t i, double *memo, unsigned char *st) {
  if (st[i] == 2) return memo[i];
  if (st[i] == 1 || !applies(&t[i], &ev->sim->pt)) return NAN;
  st[i] = 1;
  memo[i] = t[i].compute(ev);
  st[i] = 2;
  return memo[i];
}

double truth_value_at(cell_eval *ev, size_t i) {
  return i < truth_table_len ? memo_get(ev, truth_table, i, ev->memo_truth, ev->st_truth) : NAN;
}
double theory_value_at(cell_eval *ev, size_t i) {
  return i < theory_table_len ? memo_get(ev, theory_table, i, ev->memo_theory, ev->st_theory) : NAN;
}
double truth_value(cell_eval *ev, const char *name) {
  long i = truth_find(name);
  return i < 0 ? NAN : truth_value_at(ev, (size_t)i);
}
double theory_value(cell_eval *ev, const char *name) {
  long i = theory_find(name);
  return i < 0 ? NAN : theory_value_at(ev, (size_t)i);
}
