/* mixture.c — EM for a mixture of K Bradley-Terry reward types at the user level
 * (docs/theory.md §2.5, §3.4; Dempster, Laird & Rubin 1977; classification EM: Celeux &
 * Govaert 1992).
 *
 *   l_hk   = sum_{i in D_h} c_i log sigma(r_k(w_i) - r_k(l_i))         (softplus form)
 *   E-step gamma_hk = exp(log w_k + l_hk - LSE_j(log w_j + l_hj))
 *   M-step w_k = mean_h gamma_hk,
 *          theta_k = argmax sum_i gamma_{h(i)k} c_i log sigma(.) - (lambda/2)||theta_k||^2
 *
 * The theta_k step is exactly one weighted BT fit (bt_fit with count = gamma c over the
 * rows with gamma >= 1e-12; hard EM: the rows of cluster k), so there is one BT solver
 * in the project; it is warm-started at the previous theta_k, which makes a late EM
 * iteration cost a Newton step or two per component.  Measured (K = 4, 1000 users x
 * 200 comparisons, d = 32, one core): per component, the first soft iteration costs
 * ~1.5-1.9 cold full-data BT fits (diffuse posteriors: every row, 5-6 Newton steps),
 * the second ~0.4, later ones ~0.05; a whole run averages ~1.0-1.4 including the
 * initial fits.  Features
 * are never materialised per comparison: rewards r_k = Phi theta_k are formed once per
 * component (n_items x d) and every comparison reads two of them.
 *
 * Invariant (checked): with exact M-steps Q never decreases.  Soft: Q = marginal
 * log-likelihood - penalty, the EM ascent property of a MAP objective.  Hard: Q =
 * sum_h max_k (log w_k + l_hk) - penalty; the z-step maximises it over z and the
 * M-step over (w, theta) given z.  bt_fit stops at ||grad|| <= 1e-10 x total weight,
 * so an M-step is exact to far below the 1e-9 relative tolerance of the check.  A
 * reseeded empty cluster breaks the ascent once (the moved user's cluster changes
 * by fiat), so the check skips that iteration. */
#include "mixture.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "bt.h"

#define MIXTURE_MAX_K 64 /* stack arrays of per-component values */

mixture_options mixture_options_default(void) {
  mixture_options o = {.K = 2, .assignment = MIXTURE_SOFT, .restarts = 10, .init = MIXTURE_INIT_RANDOM,
                       .l2 = 0.1, .max_iter = 500, .tol = 1e-8, .select = MIXTURE_SELECT_FIXED};
  return o;
}

void mixture_result_free(mixture_result *res) {
  if (!res) return;
  free(res->weight);
  free(res->theta);
  free(res->reward);
  free(res->resp);
  free(res->assign);
  free(res->user_weight);
  free(res->trace);
  free(res->bic_by_k);
  memset(res, 0, sizeof *res);
}

/* ------------------------------------------------------------- workspace */

typedef struct {
  const pref_data *d;
  const pref_features *f;
  const mixture_options *o;
  size_t n, H, K, N, dim, n_active;
  double *uw;     /* H: user weight */
  double *L;      /* H x K: l_hk */
  double *s;      /* n_items scratch scores */
  int32_t *sw, *sl; /* n: one component's rows (M-step) */
  double *sc;
  double *theta;  /* K x dim */
  double *w;      /* K */
  double *gam;    /* H x K */
  int32_t *z, *znew; /* H */
  size_t *size;   /* K: cluster sizes (hard) */
  double *trace;
  size_t trace_len, trace_cap;
  int reseeds, violations;
  double worst_decrease;
  int newton_cap;          /* > 0: M-step fits stop after this many Newton steps (GEM) */
} mx_work;

static inline size_t user_of(const pref_data *d, size_t i) {
  return d->annotator ? (size_t)d->annotator[i] : i;
}

static inline double count_of(const pref_data *d, size_t i) { return d->count ? d->count[i] : 1.0; }

/* r = Phi theta (features) or theta (items) */
static void rewards_of(const pref_features *f, const double *theta, double *r) {
  if (!f->phi) {
    memcpy(r, theta, f->n_items * sizeof(double));
    return;
  }
  for (size_t y = 0; y < f->n_items; y++) {
    const double *p = f->phi + y * f->d;
    double s = 0;
    for (size_t j = 0; j < f->d; j++) s += p[j] * theta[j];
    r[y] = s;
  }
}

/* L[h][k] = l_hk for every k */
static void compute_L(mx_work *w) {
  const pref_data *d = w->d;
  size_t K = w->K;
  memset(w->L, 0, w->H * K * sizeof(double));
  for (size_t k = 0; k < K; k++) {
    rewards_of(w->f, w->theta + k * w->dim, w->s);
    for (size_t i = 0; i < w->n; i++)
      w->L[user_of(d, i) * K + k] += count_of(d, i) * ps_log_sigmoid(w->s[d->winner[i]] - w->s[d->loser[i]]);
  }
}

static double penalty(const mx_work *w) {
  double p = 0;
  for (size_t i = 0; i < w->K * w->dim; i++) p += w->theta[i] * w->theta[i];
  return 0.5 * w->o->l2 * p;
}

/* Soft E-step at (theta, w) with L current: fills gam, returns sum_h LSE. */
static double e_step(mx_work *w) {
  size_t K = w->K;
  double ll = 0, lp[MIXTURE_MAX_K];
  for (size_t h = 0; h < w->H; h++) {
    double *g = w->gam + h * K;
    if (w->uw[h] == 0) {
      memcpy(g, w->w, K * sizeof(double));
      continue;
    }
    for (size_t k = 0; k < K; k++) lp[k] = log(w->w[k]) + w->L[h * K + k];
    double z = ps_log_sum_exp(lp, K);
    for (size_t k = 0; k < K; k++) g[k] = exp(lp[k] - z);
    ll += z;
  }
  return ll;
}

/* Hard z-step: znew_h = argmax_k (log w_k + l_hk), ties to the lowest k; returns the
 * sum of the maxima over users with data. */
static double z_step(mx_work *w) {
  size_t K = w->K;
  double q = 0;
  for (size_t h = 0; h < w->H; h++) {
    if (w->uw[h] == 0) {
      w->znew[h] = -1;
      continue;
    }
    size_t best = 0;
    double bv = -INFINITY;
    for (size_t k = 0; k < K; k++) {
      double v = log(w->w[k]) + w->L[h * K + k];
      if (v > bv) bv = v, best = k;
    }
    w->znew[h] = (int32_t)best;
    q += bv;
  }
  return q;
}

/* Give every empty cluster the worst-fitted user (lowest l_{h z_h} / weight) of a
 * cluster with at least two users.  Returns the number of reseeds. */
static int reseed(mx_work *w) {
  size_t K = w->K;
  int moved = 0;
  memset(w->size, 0, K * sizeof(size_t));
  for (size_t h = 0; h < w->H; h++)
    if (w->z[h] >= 0) w->size[w->z[h]]++;
  for (size_t k = 0; k < K; k++) {
    if (w->size[k]) continue;
    size_t worst = w->H;
    double wv = INFINITY;
    for (size_t h = 0; h < w->H; h++) {
      if (w->z[h] < 0 || w->size[w->z[h]] < 2) continue;
      double v = w->L[h * K + (size_t)w->z[h]] / w->uw[h];
      if (v < wv) wv = v, worst = h;
    }
    if (worst == w->H) break; /* cannot happen while K <= users with data */
    w->size[w->z[worst]]--;
    w->z[worst] = (int32_t)k;
    w->size[k] = 1;
    moved++;
  }
  return moved;
}

static int fit_component(mx_work *w, const pref_data *dk, size_t k, ps_msg *m) {
  bt_options bo = bt_options_default();
  bo.l2 = w->o->l2;
  bo.theta0 = w->theta + k * w->dim;
  if (w->newton_cap > 0) bo.max_iter = w->newton_cap;
  bt_result br;
  int s = bt_fit(dk, w->f, &bo, &br, m);
  /* a capped (generalised-EM) M-step: every Newton step with its line search lowers the
   * component's weighted loss, so Q still cannot decrease */
  if (s == PS_ENOCONV && w->newton_cap > 0) s = PS_OK;
  if (s == PS_OK) memcpy(w->theta + k * w->dim, br.theta, w->dim * sizeof(double));
  else ps_msg_prefix(m, "M-step of component %zu", k);
  bt_result_free(&br);
  return s;
}

/* Soft M-step from gam.  Component k is fitted on the rows whose responsibility
 * gamma_{h(i)k} is at least MIXTURE_GAMMA_MIN, with count gamma c: the rows left out
 * carry less than 1e-12 of their loss in the exact M-step objective, far below the
 * 1e-9 relative tolerance of the monotonicity check, and leaving them out both makes a
 * late iteration cost ~ 1/K of a full pass per component and keeps bt_fit away from
 * denormal counts (it needs positive counts).  A component with no such row keeps its
 * theta (a generalised-EM step: Q cannot decrease). */
#define MIXTURE_GAMMA_MIN 1e-12
#define MIXTURE_EARLY_NEWTON 1  /* Newton steps per early (generalised) soft M-step */
#define MIXTURE_EXACT_FROM 1e-4 /* relative change of Q below which M-steps are exact */
static int m_step_soft(mx_work *w, ps_msg *m) {
  size_t K = w->K;
  const pref_data *d = w->d;
  for (size_t k = 0; k < K; k++) {
    double t = 0;
    for (size_t h = 0; h < w->H; h++)
      if (w->uw[h] > 0) t += w->gam[h * K + k];
    w->w[k] = t / (double)w->n_active;
  }
  for (size_t k = 0; k < K; k++) {
    size_t nk = 0;
    for (size_t i = 0; i < w->n; i++) {
      double gk = w->gam[user_of(d, i) * K + k];
      if (gk < MIXTURE_GAMMA_MIN) continue;
      w->sw[nk] = d->winner[i];
      w->sl[nk] = d->loser[i];
      w->sc[nk] = gk * count_of(d, i);
      nk++;
    }
    if (nk == 0) continue;
    pref_data dk = {.n = nk, .n_items = d->n_items, .n_annotators = 1, .winner = w->sw, .loser = w->sl,
                    .annotator = NULL, .first_won = NULL, .count = w->sc};
    int s = fit_component(w, &dk, k, m);
    if (s != PS_OK) return s;
  }
  return PS_OK;
}

/* Q at the current (theta, w): l_hk, responsibilities (into gam) and the penalty. */
static double soft_objective(mx_work *w) {
  compute_L(w);
  return e_step(w) - penalty(w);
}

/* One SQUAREM cycle (scheme S3) of soft EM from the current point x0, whose
 * responsibilities are in gam: x1 = M(x0), x2 = M(x1), r = x1 - x0, v = x2 - 2 x1 + x0,
 * alpha = -||r|| / ||v|| (at most -1), x' = x0 - 2 alpha r + alpha^2 v (weights in log
 * space, renormalised), x3 = M(x'); x3 is kept when Q(x3) >= Q(x2), else x2.  On
 * return the parameters are the kept point (gam is recomputed by the caller's next E
 * step).  *Q_out receives Q of the kept point. */
static int squarem_cycle(mx_work *w, double *Q_out, ps_msg *m) {
  size_t K = w->K, P = K * w->dim;
  double *buf = malloc((3 * (P + K) + P + K) * sizeof(double));
  if (!buf) return ps_fail(m, PS_ENOMEM, "out of memory");
  double *t0 = buf, *w0 = t0 + P, *t1 = w0 + K, *w1 = t1 + P, *t2 = w1 + K, *w2 = t2 + P, *tx = w2 + K, *wx = tx + P;
  int s;
  memcpy(t0, w->theta, P * sizeof(double));
  memcpy(w0, w->w, K * sizeof(double));
  if ((s = m_step_soft(w, m))) goto done;
  memcpy(t1, w->theta, P * sizeof(double));
  memcpy(w1, w->w, K * sizeof(double));
  soft_objective(w);
  if ((s = m_step_soft(w, m))) goto done;
  memcpy(t2, w->theta, P * sizeof(double));
  memcpy(w2, w->w, K * sizeof(double));
  double Q2 = soft_objective(w);
  /* extrapolate in (theta, log w) */
  double rr = 0, vv = 0;
  for (size_t j = 0; j < P; j++) {
    double r = t1[j] - t0[j], v = t2[j] - 2 * t1[j] + t0[j];
    rr += r * r, vv += v * v;
  }
  for (size_t k = 0; k < K; k++) {
    double l0 = log(fmax(w0[k], 1e-300)), l1 = log(fmax(w1[k], 1e-300)), l2 = log(fmax(w2[k], 1e-300));
    double r = l1 - l0, v = l2 - 2 * l1 + l0;
    rr += r * r, vv += v * v;
  }
  double alpha = vv > 0 ? -sqrt(rr / vv) : -1;
  if (alpha > -1) alpha = -1;
  for (size_t j = 0; j < P; j++) {
    double r = t1[j] - t0[j], v = t2[j] - 2 * t1[j] + t0[j];
    tx[j] = t0[j] - 2 * alpha * r + alpha * alpha * v;
  }
  double ws = 0;
  for (size_t k = 0; k < K; k++) {
    double l0 = log(fmax(w0[k], 1e-300)), l1 = log(fmax(w1[k], 1e-300)), l2 = log(fmax(w2[k], 1e-300));
    double r = l1 - l0, v = l2 - 2 * l1 + l0;
    ws += (wx[k] = exp(l0 - 2 * alpha * r + alpha * alpha * v));
  }
  int ok = isfinite(ws) && ws > 0;
  for (size_t j = 0; ok && j < P; j++) ok = isfinite(tx[j]);
  double Q3 = -INFINITY;
  if (ok) {
    for (size_t k = 0; k < K; k++) w->w[k] = wx[k] / ws;
    memcpy(w->theta, tx, P * sizeof(double));
    double Qx = soft_objective(w);
    if (isfinite(Qx)) {
      ps_msg sub;
      if (m_step_soft(w, &sub) == PS_OK) Q3 = soft_objective(w);
    }
  }
  if (!(Q3 >= Q2)) { /* fall back to the two plain EM steps */
    memcpy(w->theta, t2, P * sizeof(double));
    memcpy(w->w, w2, K * sizeof(double));
    *Q_out = Q2;
  } else {
    *Q_out = Q3;
  }
  s = PS_OK;
done:
  free(buf);
  return s;
}

/* Hard M-step from z (no cluster empty). */
static int m_step_hard(mx_work *w, ps_msg *m) {
  size_t K = w->K;
  const pref_data *d = w->d;
  memset(w->size, 0, K * sizeof(size_t));
  for (size_t h = 0; h < w->H; h++)
    if (w->z[h] >= 0) w->size[w->z[h]]++;
  for (size_t k = 0; k < K; k++) w->w[k] = (double)w->size[k] / (double)w->n_active;
  for (size_t k = 0; k < K; k++) {
    size_t nk = 0;
    for (size_t i = 0; i < w->n; i++)
      if (w->z[user_of(d, i)] == (int32_t)k) {
        w->sw[nk] = d->winner[i];
        w->sl[nk] = d->loser[i];
        w->sc[nk] = count_of(d, i);
        nk++;
      }
    pref_data dk = {.n = nk, .n_items = d->n_items, .n_annotators = 1, .winner = w->sw, .loser = w->sl,
                    .annotator = NULL, .first_won = NULL, .count = w->sc};
    int s = fit_component(w, &dk, k, m);
    if (s != PS_OK) return s;
  }
  return PS_OK;
}

static int trace_push(mx_work *w, double q) {
  if (w->trace_len == w->trace_cap) {
    size_t cap = w->trace_cap ? 2 * w->trace_cap : 64;
    double *t = realloc(w->trace, cap * sizeof(double));
    if (!t) return PS_ENOMEM;
    w->trace = t;
    w->trace_cap = cap;
  }
  w->trace[w->trace_len++] = q;
  return PS_OK;
}

/* Initial partition of the users with data into K non-empty clusters: a uniformly
 * random balanced partition (shuffle, then position mod K), or user order mod K. */
static int init_partition(mx_work *w, int use_mod, gsl_rng *r) {
  size_t *idx = malloc(w->n_active * sizeof(size_t));
  if (!idx) return PS_ENOMEM;
  size_t a = 0;
  for (size_t h = 0; h < w->H; h++) {
    w->z[h] = -1;
    if (w->uw[h] > 0) idx[a++] = h;
  }
  if (!use_mod) gsl_ran_shuffle(r, idx, a, sizeof(size_t));
  for (size_t j = 0; j < a; j++) w->z[idx[j]] = (int32_t)(j % w->K);
  free(idx);
  return PS_OK;
}

/* One EM run from a fresh partition.  On return theta, w, z (hard), trace hold the
 * run; *q the final objective; *iters, *conv. */
static int em_run(mx_work *w, int use_mod, gsl_rng *r, double *q, int *iters, int *conv, ps_msg *m) {
  size_t K = w->K;
  int hard = w->o->assignment == MIXTURE_HARD;
  w->trace_len = 0;
  w->reseeds = 0;
  memset(w->theta, 0, K * w->dim * sizeof(double));
  int s = init_partition(w, use_mod, r);
  if (s != PS_OK) return ps_fail(m, s, "out of memory");
  if (hard) {
    s = m_step_hard(w, m);
  } else {
    for (size_t h = 0; h < w->H; h++)
      for (size_t k = 0; k < K; k++) w->gam[h * K + k] = w->z[h] == (int32_t)k;
    w->newton_cap = MIXTURE_EARLY_NEWTON;
    s = m_step_soft(w, m);
  }
  if (s != PS_OK) return s;
  double prev = -INFINITY, Q = -INFINITY;
  int it, reseeded = 0;
  *conv = 0;
  for (it = 0; it < w->o->max_iter; it++) {
    compute_L(w);
    Q = (hard ? z_step(w) : e_step(w)) - penalty(w);
    if (!isfinite(Q)) return ps_fail(m, PS_EDOM, "the EM objective became non-finite at iteration %d", it);
    if (trace_push(w, Q) != PS_OK) return ps_fail(m, PS_ENOMEM, "out of memory");
    if (it > 0 && !reseeded && Q < prev - 1e-9 * fmax(1, fabs(Q))) {
      w->violations++;
      w->worst_decrease = fmax(w->worst_decrease, (prev - Q) / fmax(1, fabs(Q)));
    }
    if (hard) {
      int changed = 0;
      for (size_t h = 0; h < w->H; h++) changed |= w->znew[h] != w->z[h];
      if (!changed) {
        *conv = 1;
        it++;
        break;
      }
      memcpy(w->z, w->znew, w->H * sizeof(int32_t));
      int moved = reseed(w);
      w->reseeds += moved;
      reseeded = moved > 0;
      s = m_step_hard(w, m);
    } else {
      if (it > 0 && fabs(Q - prev) <= w->o->tol * fabs(Q) && !w->newton_cap) {
        *conv = 1;
        it++;
        break;
      }
      /* generalised EM while far from convergence: a few Newton steps per M-step (the
       * responsibilities will move anyway); exact M-steps once Q changes by less than
       * MIXTURE_EXACT_FROM relative, so the fixed point and the stopping rule are EM's */
      w->newton_cap = (it == 0 || fabs(Q - prev) > MIXTURE_EXACT_FROM * fabs(Q)) ? MIXTURE_EARLY_NEWTON : 0;
      if (!w->newton_cap && it > 0 && it + 3 < w->o->max_iter) {
        /* SQUAREM (Varadhan & Roland 2008): two EM steps, an extrapolation along
         * them, one EM step from there; kept only when it beats the two plain steps,
         * so Q stays non-decreasing.  EM crawls when components overlap (hundreds of
         * iterations); this cuts that several-fold. */
        double Qs;
        s = squarem_cycle(w, &Qs, m);
        if (s != PS_OK) return s;
        it += 2; /* three EM maps were applied; the loop adds one */
        prev = Q;
        continue;
      }
      s = m_step_soft(w, m);
    }
    if (s != PS_OK) return s;
    prev = Q;
  }
  *q = Q;
  *iters = it;
  return PS_OK;
}

static void work_free(mx_work *w) {
  free(w->uw);
  free(w->L);
  free(w->s);
  free(w->sw);
  free(w->sl);
  free(w->sc);
  free(w->theta);
  free(w->w);
  free(w->gam);
  free(w->z);
  free(w->znew);
  free(w->size);
  free(w->trace);
}

/* Fit with K components into res (allocated here). */
static int fit_fixed(const pref_data *d, const pref_features *f, const mixture_options *o, size_t K,
                     gsl_rng *r, mixture_result *res, ps_msg *m) {
  mx_work w = {.d = d, .f = f, .o = o, .n = d->n, .K = K, .N = d->n_items, .dim = f->d};
  w.H = d->annotator ? d->n_annotators : d->n;
  size_t H = w.H, dim = w.dim, N = w.N;
  int s = PS_OK;
  w.uw = calloc(H, sizeof(double));
  w.L = malloc(H * K * sizeof(double));
  w.s = malloc(N * sizeof(double));
  w.sw = malloc(d->n * sizeof(int32_t));
  w.sl = malloc(d->n * sizeof(int32_t));
  w.sc = malloc(d->n * sizeof(double));
  w.theta = malloc(K * dim * sizeof(double));
  w.w = malloc(K * sizeof(double));
  w.gam = malloc(H * K * sizeof(double));
  w.z = malloc(H * sizeof(int32_t));
  w.znew = malloc(H * sizeof(int32_t));
  w.size = malloc(K * sizeof(size_t));
  double *best_theta = malloc(K * dim * sizeof(double)), *best_w = malloc(K * sizeof(double));
  if (!w.uw || !w.L || !w.s || !w.sw || !w.sl || !w.sc || !w.theta || !w.w || !w.gam || !w.z ||
      !w.znew || !w.size || !best_theta || !best_w) {
    s = ps_fail(m, PS_ENOMEM, "out of memory for a %zu-component mixture over %zu users", K, H);
    goto done;
  }
  for (size_t i = 0; i < d->n; i++) w.uw[user_of(d, i)] += count_of(d, i);
  for (size_t h = 0; h < H; h++) w.n_active += w.uw[h] > 0;
  if (K > w.n_active) {
    s = ps_fail(m, PS_EINVAL, "k = %zu components but only %zu users have comparisons", K, w.n_active);
    goto done;
  }
  double best_q = -INFINITY, *best_trace = NULL;
  size_t best_len = 0;
  int runs = K == 1 ? 1 : o->restarts, ok = 0, last = PS_OK;
  ps_msg run_msg = {{0}};
  for (int run = 0; run < runs; run++) {
    double q = -INFINITY;
    int iters = 0, conv = 0;
    int rs = em_run(&w, o->init == MIXTURE_INIT_MOD && run == 0, r, &q, &iters, &conv, &run_msg);
    if (rs != PS_OK) {
      last = rs;
      if (rs == PS_ENOMEM) {
        s = ps_fail(m, rs, "%s", run_msg.text);
        free(best_trace);
        goto done;
      }
      continue;
    }
    if (!ok || q > best_q) {
      ok = 1;
      best_q = q;
      memcpy(best_theta, w.theta, K * dim * sizeof(double));
      memcpy(best_w, w.w, K * sizeof(double));
      double *t = realloc(best_trace, (w.trace_len ? w.trace_len : 1) * sizeof(double));
      if (!t) {
        free(best_trace);
        s = ps_fail(m, PS_ENOMEM, "out of memory");
        goto done;
      }
      best_trace = t;
      memcpy(best_trace, w.trace, w.trace_len * sizeof(double));
      best_len = w.trace_len;
      res->iterations = iters;
      res->converged = conv;
      res->best_restart = run;
      res->reseeds = w.reseeds;
    }
  }
  if (!ok) {
    s = ps_fail(m, last, "every EM run failed; last: %s", run_msg.text);
    free(best_trace);
    goto done;
  }
  /* the kept run's final quantities at its parameters */
  memcpy(w.theta, best_theta, K * dim * sizeof(double));
  memcpy(w.w, best_w, K * sizeof(double));
  compute_L(&w);
  res->K = K;
  res->H = H;
  res->n_items = N;
  res->dim = dim;
  res->trace = best_trace;
  res->trace_len = best_len;
  res->objective = best_q;
  res->loglik = e_step(&w); /* also the posterior gam */
  res->n_params = (K - 1) + K * (f->phi ? dim : dim - 1);
  res->bic = -2 * res->loglik + (double)res->n_params * log(pref_data_weight(d));
  res->monotone_violations = w.violations;
  res->worst_decrease = w.worst_decrease;
  res->weight = malloc(K * sizeof(double));
  res->theta = malloc(K * dim * sizeof(double));
  res->reward = malloc(K * N * sizeof(double));
  res->resp = malloc(H * K * sizeof(double));
  res->assign = malloc(H * sizeof(int32_t));
  res->user_weight = malloc(H * sizeof(double));
  if (!res->weight || !res->theta || !res->reward || !res->resp || !res->assign || !res->user_weight) {
    s = ps_fail(m, PS_ENOMEM, "out of memory for the mixture result");
    goto done;
  }
  memcpy(res->weight, best_w, K * sizeof(double));
  memcpy(res->theta, best_theta, K * dim * sizeof(double));
  for (size_t k = 0; k < K; k++) rewards_of(f, best_theta + k * dim, res->reward + k * N);
  memcpy(res->resp, w.gam, H * K * sizeof(double));
  memcpy(res->user_weight, w.uw, H * sizeof(double));
  /* labels: argmax_k gamma_hk = argmax_k (log w_k + l_hk) at the final parameters,
   * which for a converged hard run is its own final z */
  for (size_t h = 0; h < H; h++) {
    size_t b = 0;
    for (size_t k = 1; k < K; k++)
      if (w.gam[h * K + k] > w.gam[h * K + b]) b = k;
    res->assign[h] = (int32_t)b;
  }
done:
  free(best_theta);
  free(best_w);
  work_free(&w);
  res->status = s;
  return s;
}

int mixture_fit(const pref_data *d, const pref_features *f, const mixture_options *o, gsl_rng *r,
                mixture_result *res, ps_msg *m) {
  memset(res, 0, sizeof *res);
  int s = PS_OK;
  if (o->K < 1 || o->K > MIXTURE_MAX_K)
    s = ps_fail(m, PS_EINVAL, "k must be in [1, %d] (got %zu)", MIXTURE_MAX_K, o->K);
  else if (o->restarts < 1)
    s = ps_fail(m, PS_EINVAL, "restarts must be >= 1 (got %d)", o->restarts);
  else if (o->max_iter < 1)
    s = ps_fail(m, PS_EINVAL, "max_iter must be >= 1 (got %d)", o->max_iter);
  else if (!(o->l2 >= 0) || !isfinite(o->l2))
    s = ps_fail(m, PS_EINVAL, "l2 must be a finite number >= 0");
  else if (!(o->tol > 0))
    s = ps_fail(m, PS_EINVAL, "tol must be > 0");
  else if (d->n == 0)
    s = ps_fail(m, PS_EINVAL, "no comparisons to fit");
  else if (f->n_items != d->n_items)
    s = ps_fail(m, PS_EINVAL, "data has %zu items but the features describe %zu", d->n_items, f->n_items);
  else if (!f->phi && f->d != f->n_items)
    s = ps_fail(m, PS_EINVAL, "item model: dimension %zu must equal the item count %zu", f->d, f->n_items);
  else if (!r && !(o->init == MIXTURE_INIT_MOD && o->restarts == 1) && o->K > 1)
    s = ps_fail(m, PS_EINVAL, "random initialisation needs a random stream");
  if (s == PS_OK) s = pref_data_check(d, m);
  if (s != PS_OK) {
    res->status = s;
    return s;
  }
  if (o->select == MIXTURE_SELECT_FIXED) return fit_fixed(d, f, o, o->K, r, res, m);
  /* BIC over K = 1..K: keep the smallest */
  double *bics = malloc(o->K * sizeof(double));
  if (!bics) {
    res->status = PS_ENOMEM;
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  int have = 0;
  for (size_t K = 1; K <= o->K; K++) {
    mixture_result cur;
    memset(&cur, 0, sizeof cur);
    ps_msg cm;
    int cs = fit_fixed(d, f, o, K, r, &cur, &cm);
    bics[K - 1] = cs == PS_OK ? cur.bic : NAN;
    if (cs == PS_OK && (!have || cur.bic < res->bic)) {
      mixture_result_free(res);
      *res = cur;
      have = 1;
    } else {
      if (!have) {
        s = cs;
        if (m) *m = cm;
      }
      mixture_result_free(&cur);
    }
  }
  if (!have) {
    free(bics);
    res->status = s;
    return s;
  }
  res->bic_by_k = bics;
  res->n_bic = o->K;
  return PS_OK;
}

/* ------------------------------------------------------------- queries */

int mixture_posterior(const mixture_result *res, const pref_data *shots, double *gamma, ps_msg *m) {
  size_t K = res->K, N = res->n_items;
  double lp[MIXTURE_MAX_K] = {0};
  for (size_t k = 0; k < K; k++) lp[k] = log(res->weight[k]);
  if (shots)
    for (size_t i = 0; i < shots->n; i++) {
      int32_t a = shots->winner[i], b = shots->loser[i];
      if (a < 0 || b < 0 || (size_t)a >= N || (size_t)b >= N)
        return ps_fail(m, PS_EINVAL, "shot %zu: item id out of range", i);
      double c = shots->count ? shots->count[i] : 1.0;
      if (!(c > 0) || !isfinite(c)) return ps_fail(m, PS_EINVAL, "shot %zu: count %g is not positive", i, c);
      for (size_t k = 0; k < K; k++) lp[k] += c * ps_log_sigmoid(res->reward[k * N + a] - res->reward[k * N + b]);
    }
  double z = ps_log_sum_exp(lp, K);
  for (size_t k = 0; k < K; k++) gamma[k] = exp(lp[k] - z);
  return PS_OK;
}

double mixture_logit(const mixture_result *res, const double *p, int32_t a, int32_t b) {
  size_t K = res->K, N = res->n_items;
  double up[MIXTURE_MAX_K] = {0}, dn[MIXTURE_MAX_K] = {0};
  for (size_t k = 0; k < K; k++) {
    double z = res->reward[k * N + a] - res->reward[k * N + b], lw = log(p[k]);
    up[k] = lw + ps_log_sigmoid(z);
    dn[k] = lw + ps_log_sigmoid(-z);
  }
  return ps_log_sum_exp(up, K) - ps_log_sum_exp(dn, K);
}

/* ------------------------------------------------ the est_type "mixture" */

#include "estimator.h"

struct est_model {
  mixture_options opt;
  mixture_result res;
  int fitted;
};

static const ps_param mixture_params[] = {
    {"k", PS_PARAM_INT, "2", 1, MIXTURE_MAX_K, NULL, "number of reward types K (select = bic: the largest K tried)"},
    {"select", PS_PARAM_ENUM, "fixed", 0, 0, "fixed|bic", "fixed K, or the K in 1..k with the smallest BIC"},
    {"assignment", PS_PARAM_ENUM, "soft", 0, 0, "soft|hard",
     "soft EM (responsibilities) or hard/classification EM (MaxMin-RLHF's clustering)"},
    {"restarts", PS_PARAM_INT, "10", 1, 1000, NULL, "EM runs from random partitions; the best objective is kept"},
    {"init", PS_PARAM_ENUM, "random", 0, 0, "random|mod",
     "first run from a random balanced partition of the users, or user id mod K (the reference code)"},
    {"l2", PS_PARAM_REAL, "0.1", 0, 1e12, NULL,
     "lambda: (lambda/2)||theta_k||^2 per component on its summed loss; keeps a cluster's fit finite when its "
     "comparisons are separable"},
    {"max_iter", PS_PARAM_INT, "500", 1, 100000, NULL, "EM iterations per run"},
    {"tol", PS_PARAM_REAL, "1e-8", 1e-15, 1e-2, NULL, "soft EM: stop at relative objective change <= tol"},
    {"policy", PS_PARAM_ENUM, "maxmin", 0, 0, "maxmin|maxmin_iterative|per_sample_min|pooled",
     "the KL-regularised policy built from the fitted group rewards (experiments' policy metrics): MaxMin by "
     "its dual, the paper's iterative MaxMin, the reference code's per-sample minimum, or the weighted mean "
     "reward (single-reward RLHF on the mixture)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int mix_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->opt = mixture_options_default();
  e->opt.K = (size_t)ps_param_int(ps_param_text(mixture_params, h, "k"));
  e->opt.select = strcmp(ps_param_text(mixture_params, h, "select"), "bic") == 0 ? MIXTURE_SELECT_BIC : MIXTURE_SELECT_FIXED;
  e->opt.assignment = strcmp(ps_param_text(mixture_params, h, "assignment"), "hard") == 0 ? MIXTURE_HARD : MIXTURE_SOFT;
  e->opt.restarts = (int)ps_param_int(ps_param_text(mixture_params, h, "restarts"));
  e->opt.init = strcmp(ps_param_text(mixture_params, h, "init"), "mod") == 0 ? MIXTURE_INIT_MOD : MIXTURE_INIT_RANDOM;
  e->opt.l2 = ps_param_real(ps_param_text(mixture_params, h, "l2"));
  e->opt.max_iter = (int)ps_param_int(ps_param_text(mixture_params, h, "max_iter"));
  e->opt.tol = ps_param_real(ps_param_text(mixture_params, h, "tol"));
  *out = e;
  return PS_OK;
}

static int mix_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                   ps_msg *m) {
  mixture_result_free(&e->res);
  int s = mixture_fit(d, f, &e->opt, r, &e->res, m);
  e->fitted = s == PS_OK;
  info->status = s;
  /* an objective that fell (beyond 1e-9 relative) means an inexact M-step: flagged as
   * not converged, with the count in the result */
  info->converged = s == PS_OK && e->res.converged && e->res.monotone_violations == 0;
  info->iterations = e->res.iterations;
  info->objective = e->res.objective;
  info->grad_norm = NAN;
  return s;
}

static double mix_logit(const est_model *e, int32_t a, int32_t b) {
  return mixture_logit(&e->res, e->res.weight, a, b);
}

static const double *mix_theta(const est_model *e, size_t *dim) {
  (void)e;
  *dim = 0; /* K parameter vectors, no single one: see groups() */
  return NULL;
}

static void mix_free(est_model *e) {
  if (!e) return;
  mixture_result_free(&e->res);
  free(e);
}

static const char *const mix_columns[] = {"cluster", "posterior", "comparisons", NULL};

static int mix_annotator(const est_model *e, size_t h, double *vals) {
  if (!e->fitted || h >= e->res.H) return PS_EINVAL;
  size_t K = e->res.K;
  double mx = 0;
  for (size_t k = 0; k < K; k++) mx = fmax(mx, e->res.resp[h * K + k]);
  vals[0] = e->res.assign[h];
  vals[1] = mx;
  vals[2] = e->res.user_weight[h];
  return PS_OK;
}

static double mix_logit_annotator(const est_model *e, int32_t h, int32_t a, int32_t b) {
  if (h < 0 || (size_t)h >= e->res.H) return NAN;
  if (e->opt.assignment == MIXTURE_HARD) {
    /* hard EM predicts with the user's own cluster */
    const double *r = e->res.reward + (size_t)e->res.assign[h] * e->res.n_items;
    return r[a] - r[b];
  }
  return mixture_logit(&e->res, e->res.resp + (size_t)h * e->res.K, a, b);
}

static int mix_groups(const est_model *e, size_t *K, const double **reward, const double **weight) {
  if (!e->fitted) return PS_EINVAL;
  *K = e->res.K;
  *reward = e->res.reward;
  *weight = e->res.weight;
  return PS_OK;
}

static size_t mix_state_len(const est_model *e) { return e->res.K; }

static int mix_adapt(const est_model *e, const pref_data *shots, gsl_rng *r, double *state, ps_msg *m) {
  (void)r;
  if (!e->fitted) return ps_fail(m, PS_EINVAL, "the mixture is not fitted");
  return mixture_posterior(&e->res, shots, state, m);
}

static double mix_logit_user(const est_model *e, const double *state, int32_t a, int32_t b) {
  return mixture_logit(&e->res, state, a, b);
}

static const double *mix_trace(const est_model *e, size_t *len) {
  *len = e->res.trace_len;
  return e->res.trace;
}

const est_type est_mixture = {
    .name = "mixture",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "Mixture of K Bradley-Terry reward types at the user level, fitted by EM (soft, or hard as in "
           "MaxMin-RLHF, Chakraborty et al. 2024): users are annotator ids (every comparison its own user "
           "without ids: the per-comparison MiCRo-style mixture, which cannot recover users); M-step = a "
           "weighted BT fit per component, restarts, BIC selection of K; logit = the marginal "
           "sum_k w_k sigma(r_k(a) - r_k(b)); groups() gives the K component rewards for MaxMin.",
    .params = mixture_params,
    .alloc = mix_alloc,
    .fit = mix_fit,
    .logit = mix_logit,
    .theta = mix_theta,
    .free = mix_free,
    .annotator_columns = mix_columns,
    .annotator = mix_annotator,
    .logit_annotator = mix_logit_annotator,
    .groups = mix_groups,
    .user_state_len = mix_state_len,
    .adapt = mix_adapt,
    .logit_user = mix_logit_user,
    .trace = mix_trace,
};
