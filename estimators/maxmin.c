/* maxmin.c — the MaxMin policy over group rewards (docs/theory.md §3.5).
 *
 *   F_u(pi) = sum_x rho_x [ sum_y pi(y|x) r_u(y) - beta KL(pi(.|x) || pi_ref(.|x)) ]
 *   D(w)    = beta sum_x rho_x log Z_x(w),  Z_x(w) = sum_y pi_ref(y|x) exp(w.r(y) / beta)
 *   dD/dw_u = sum_x rho_x E_{pi_w}[r_u] = g_u,
 *   d2D/dw_u dw_v = (1/beta) sum_x rho_x Cov_{pi_w}(r_u, r_v)
 *
 * Identity used throughout [D]: at pi_w, KL(pi_w || pi_ref) = E_{pi_w}[w.r]/beta - log Z,
 * so F_u(pi_w) = g_u - w.g + D(w) and sum_u w_u F_u(pi_w) = D(w).  Hence the
 * Frank-Wolfe gap w.g - min_u g_u equals the duality gap D(w) - min_u F_u(pi_w), and
 * the KKT conditions of min_simplex D (g_u = mu on the support, >= mu off it) are the
 * MaxMin optimality conditions: active F_u equal to D, inactive F_u >= D (Sion's
 * minimax theorem: F_u concave in pi, the min linear in w).
 *
 * Every log-partition goes through log-sum-exp; pi_ref = 0 items (log_ref = -inf)
 * get pi = 0 and contribute 0 log 0 = 0 to the KL. */
#include "maxmin.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"

typedef struct {
  const maxmin_problem *p;
  size_t n_items;
  double *lref;  /* normalised log pi_ref, n_items */
  double *rho;   /* normalised context weights */
  double *a;     /* scratch logits, m */
  double scale;  /* max(1, max |r|): the tolerance unit */
} mm_work;

int maxmin_result_alloc(maxmin_result *res, size_t U, size_t n_items, ps_msg *m) {
  memset(res, 0, sizeof *res);
  res->w = calloc(U ? U : 1, sizeof(double));
  res->F = calloc(U ? U : 1, sizeof(double));
  res->pi = calloc(n_items ? n_items : 1, sizeof(double));
  if (!res->w || !res->F || !res->pi) {
    maxmin_result_free(res);
    return ps_fail(m, PS_ENOMEM, "out of memory for a MaxMin result");
  }
  res->U = U;
  res->n_items = n_items;
  return PS_OK;
}

void maxmin_result_free(maxmin_result *res) {
  if (!res) return;
  free(res->w);
  free(res->F);
  free(res->pi);
  memset(res, 0, sizeof *res);
}

static void work_free(mm_work *w) {
  free(w->lref);
  free(w->rho);
  free(w->a);
}

/* Check the problem and normalise pi_ref and rho. */
static int work_init(mm_work *w, const maxmin_problem *p, ps_msg *m) {
  memset(w, 0, sizeof *w);
  w->p = p;
  if (!p) return ps_fail(m, PS_EINVAL, "no MaxMin problem");
  if (p->U == 0) return ps_fail(m, PS_EINVAL, "MaxMin needs at least one group");
  if (p->n_contexts == 0 || p->m == 0) return ps_fail(m, PS_EINVAL, "MaxMin needs at least one context and one item");
  if (!(p->beta > 0) || !isfinite(p->beta)) return ps_fail(m, PS_EINVAL, "beta must be finite and > 0 (got %g)", p->beta);
  if (!p->reward) return ps_fail(m, PS_EINVAL, "no group rewards");
  size_t N = p->n_contexts * p->m;
  w->n_items = N;
  double mx = 1;
  for (size_t i = 0; i < p->U * N; i++) {
    if (!isfinite(p->reward[i]))
      return ps_fail(m, PS_EINVAL, "reward of group %zu, item %zu is not finite", i / N, i % N);
    mx = fmax(mx, fabs(p->reward[i]));
  }
  w->scale = mx;
  w->lref = malloc(N * sizeof(double));
  w->rho = malloc(p->n_contexts * sizeof(double));
  w->a = malloc(p->m * sizeof(double));
  if (!w->lref || !w->rho || !w->a) {
    work_free(w);
    return ps_fail(m, PS_ENOMEM, "out of memory for the MaxMin workspace");
  }
  double rs = 0;
  for (size_t x = 0; x < p->n_contexts; x++) {
    double r = p->context_weight ? p->context_weight[x] : 1.0;
    if (!(r >= 0) || !isfinite(r)) {
      work_free(w);
      return ps_fail(m, PS_EINVAL, "context weight %zu is negative or not finite", x);
    }
    w->rho[x] = r;
    rs += r;
  }
  if (!(rs > 0)) {
    work_free(w);
    return ps_fail(m, PS_EINVAL, "the context weights sum to 0");
  }
  for (size_t x = 0; x < p->n_contexts; x++) w->rho[x] /= rs;
  for (size_t x = 0; x < p->n_contexts; x++) {
    double *l = w->lref + x * p->m;
    for (size_t j = 0; j < p->m; j++) {
      double v = p->log_ref ? p->log_ref[x * p->m + j] : 0.0;
      if (isnan(v) || v == INFINITY) {
        work_free(w);
        return ps_fail(m, PS_EINVAL, "log pi_ref of item %zu is NaN or +inf", x * p->m + j);
      }
      l[j] = v;
    }
    double z = ps_log_sum_exp(l, p->m);
    if (!isfinite(z)) {
      work_free(w);
      return ps_fail(m, PS_EINVAL, "pi_ref of context %zu has no item with positive probability", x);
    }
    for (size_t j = 0; j < p->m; j++) l[j] -= z;
  }
  return PS_OK;
}

/* pi_w for the score s(y) = sum_u coef[u] r_u(y) (coef = w; or s given directly when
 * coef is NULL and direct != NULL).  Fills pi, g (if not NULL), H (U x U, if not
 * NULL) and returns D = beta sum_x rho_x log Z_x. */
static double policy_of(mm_work *w, const double *coef, const double *direct, double *pi, double *g,
                        double *H) {
  const maxmin_problem *p = w->p;
  size_t U = p->U, M = p->m, N = w->n_items;
  double D = 0;
  if (g) memset(g, 0, U * sizeof(double));
  if (H) memset(H, 0, U * U * sizeof(double));
  for (size_t x = 0; x < p->n_contexts; x++) {
    size_t off = x * M;
    for (size_t j = 0; j < M; j++) {
      double s = 0;
      if (coef)
        for (size_t u = 0; u < U; u++) s += coef[u] * p->reward[u * N + off + j];
      else
        s = direct[off + j];
      w->a[j] = w->lref[off + j] + s / p->beta;
    }
    double lz = ps_log_sum_exp(w->a, M);
    for (size_t j = 0; j < M; j++) pi[off + j] = exp(w->a[j] - lz);
    /* lz = log Z_x relative to the normalised pi_ref */
    D += w->rho[x] * p->beta * lz;
    if (!g) continue;
    double rho = w->rho[x];
    for (size_t u = 0; u < U; u++) {
      const double *ru = p->reward + u * N + off;
      double e = 0;
      for (size_t j = 0; j < M; j++) e += pi[off + j] * ru[j];
      g[u] += rho * e;
      if (!H) continue;
      for (size_t v = 0; v <= u; v++) {
        const double *rv = p->reward + v * N + off;
        double ev = 0, c = 0;
        for (size_t j = 0; j < M; j++) ev += pi[off + j] * rv[j];
        /* centred products: no cancellation between E[r_u r_v] and E r_u E r_v */
        for (size_t j = 0; j < M; j++) c += pi[off + j] * (ru[j] - e) * (rv[j] - ev);
        H[u * U + v] += rho * c / p->beta;
      }
    }
  }
  if (H)
    for (size_t u = 0; u < U; u++)
      for (size_t v = 0; v < u; v++) H[v * U + u] = H[u * U + v];
  return D;
}

static void values(const mm_work *w, const double *pi, double *F) {
  const maxmin_problem *p = w->p;
  size_t U = p->U, M = p->m, N = w->n_items;
  memset(F, 0, U * sizeof(double));
  for (size_t x = 0; x < p->n_contexts; x++) {
    size_t off = x * M;
    double kl = 0;
    for (size_t j = 0; j < M; j++) {
      double q = pi[off + j];
      if (q > 0) kl += q * (log(q) - w->lref[off + j]); /* -inf lref: kl = +inf */
    }
    for (size_t u = 0; u < U; u++) {
      double e = 0;
      for (size_t j = 0; j < M; j++) e += pi[off + j] * p->reward[u * N + off + j];
      F[u] += w->rho[x] * (e - p->beta * kl);
    }
  }
}

static int check_res(const mm_work *w, const maxmin_result *res, ps_msg *m) {
  if (!res || !res->w || !res->pi || !res->F || res->U != w->p->U || res->n_items != w->n_items)
    return ps_fail(m, PS_EINVAL, "result not allocated for %zu groups and %zu items", w->p->U, w->n_items);
  return PS_OK;
}

int maxmin_kl_policy(const maxmin_problem *p, const double *r, double *pi, ps_msg *m) {
  mm_work w;
  int s = work_init(&w, p, m);
  if (s != PS_OK) return s;
  for (size_t i = 0; i < w.n_items; i++)
    if (!isfinite(r[i])) {
      work_free(&w);
      return ps_fail(m, PS_EINVAL, "reward of item %zu is not finite", i);
    }
  double *tmp = malloc(w.n_items * sizeof(double));
  if (!tmp) {
    work_free(&w);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  policy_of(&w, NULL, r, tmp, NULL, NULL);
  memcpy(pi, tmp, w.n_items * sizeof(double));
  free(tmp);
  work_free(&w);
  return PS_OK;
}

int maxmin_group_values(const maxmin_problem *p, const double *pi, double *F, ps_msg *m) {
  mm_work w;
  int s = work_init(&w, p, m);
  if (s != PS_OK) return s;
  for (size_t x = 0; x < p->n_contexts; x++) {
    double t = 0;
    for (size_t j = 0; j < p->m; j++) {
      double q = pi[x * p->m + j];
      if (!(q >= 0) || !isfinite(q)) {
        work_free(&w);
        return ps_fail(m, PS_EINVAL, "pi of item %zu is negative or not finite", x * p->m + j);
      }
      t += q;
    }
    if (fabs(t - 1) > 1e-9) {
      work_free(&w);
      return ps_fail(m, PS_EINVAL, "pi of context %zu sums to %.12g, not 1", x, t);
    }
  }
  values(&w, pi, F);
  work_free(&w);
  return PS_OK;
}

/* Fill D, F, gap and kkt of res at res->w (pi recomputed). */
static void finish(mm_work *w, maxmin_result *res) {
  size_t U = w->p->U;
  res->D = policy_of(w, res->w, NULL, res->pi, NULL, NULL);
  values(w, res->pi, res->F);
  double worst = INFINITY, kkt = 0;
  for (size_t u = 0; u < U; u++) {
    worst = fmin(worst, res->F[u]);
    if (res->w[u] > 0)
      kkt = fmax(kkt, fabs(res->F[u] - res->D));
    else
      kkt = fmax(kkt, fmax(0, res->D - res->F[u]));
  }
  res->gap = res->D - worst;
  res->kkt = kkt;
}

/* Newton step on the face {w_A >= 0, sum w_A = 1}: solve
 *   [H_AA + eps I  1] [dw]   [-g_A]
 *   [1^T           0] [nu] = [ 0  ]
 * eps = 1e-12 (trace H / |A| + 1) keeps the system solvable when two active groups
 * have (nearly) the same rewards, where D is flat along their difference. */
static int face_newton(size_t U, const int *act, const double *g, const double *H, double *dw) {
  size_t A = 0, idx[64];
  for (size_t u = 0; u < U; u++)
    if (act[u]) idx[A++] = u;
  size_t n = A + 1;
  double *K = calloc(n * n + n, sizeof(double));
  if (!K) return PS_ENOMEM;
  double *b = K + n * n, tr = 0;
  for (size_t i = 0; i < A; i++) tr += H[idx[i] * U + idx[i]];
  double eps = 1e-12 * (tr / (double)A + 1);
  for (size_t i = 0; i < A; i++) {
    for (size_t j = 0; j < A; j++) K[i * n + j] = H[idx[i] * U + idx[j]];
    K[i * n + i] += eps;
    K[i * n + A] = K[A * n + i] = 1;
    b[i] = -g[idx[i]];
  }
  b[A] = 0;
  gsl_matrix_view Km = gsl_matrix_view_array(K, n, n);
  gsl_vector_view bv = gsl_vector_view_array(b, n);
  gsl_permutation *perm = gsl_permutation_alloc(n);
  gsl_vector *sol = gsl_vector_alloc(n);
  int s = PS_ENOMEM, sg, signum;
  if (perm && sol) {
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    sg = gsl_linalg_LU_decomp(&Km.matrix, perm, &signum);
    if (sg == GSL_SUCCESS) sg = gsl_linalg_LU_solve(&Km.matrix, perm, &bv.vector, sol);
    gsl_set_error_handler(old);
    s = sg == GSL_SUCCESS ? PS_OK : PS_ESINGULAR;
    memset(dw, 0, U * sizeof(double));
    if (s == PS_OK)
      for (size_t i = 0; i < A; i++) dw[idx[i]] = gsl_vector_get(sol, i);
  }
  gsl_permutation_free(perm);
  gsl_vector_free(sol);
  free(K);
  return s;
}

#define MAXMIN_MAX_GROUPS 64

int maxmin_dual(const maxmin_problem *p, maxmin_result *res, ps_msg *m) {
  mm_work w;
  int s = work_init(&w, p, m);
  if (s != PS_OK) return s;
  if ((s = check_res(&w, res, m)) != PS_OK) goto out;
  size_t U = p->U;
  if (U > MAXMIN_MAX_GROUPS) {
    s = ps_fail(m, PS_EINVAL, "the dual solver handles at most %d groups (got %zu)", MAXMIN_MAX_GROUPS, U);
    goto out;
  }
  double *g = malloc(U * sizeof(double)), *H = malloc(U * U * sizeof(double));
  double *dw = malloc(U * sizeof(double)), *wt = malloc(U * sizeof(double));
  int *act = calloc(U, sizeof(int));
  if (!g || !H || !dw || !wt || !act) {
    s = ps_fail(m, PS_ENOMEM, "out of memory in the MaxMin dual");
    goto fail;
  }
  double *wv = res->w, tol = 1e-13 * w.scale;
  int it = 0;
  /* Stage 1: exponentiated gradient (mirror descent on the simplex).  g varies by at
   * most the reward range R, so eta = 1/R keeps each multiplicative step within e^{+-1};
   * run until the Frank-Wolfe gap w.g - min g (= the duality gap) is below 1e-4 R. */
  double R = 0;
  for (size_t u = 0; u < U; u++) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < w.n_items; i++) {
      lo = fmin(lo, p->reward[u * w.n_items + i]);
      hi = fmax(hi, p->reward[u * w.n_items + i]);
    }
    R = fmax(R, hi - lo);
  }
  double eta = 1.0 / (R > 0 ? R : 1);
  for (size_t u = 0; u < U; u++) wv[u] = 1.0 / (double)U;
  for (; it < 5000; it++) {
    policy_of(&w, wv, NULL, res->pi, g, NULL);
    double wg = 0, gmin = INFINITY;
    for (size_t u = 0; u < U; u++) wg += wv[u] * g[u], gmin = fmin(gmin, g[u]);
    if (wg - gmin <= 1e-4 * (R > 0 ? R : 1)) break;
    double sum = 0;
    for (size_t u = 0; u < U; u++) sum += wv[u] *= exp(-eta * (g[u] - gmin));
    for (size_t u = 0; u < U; u++) wv[u] /= sum;
  }
  /* Stage 2: active-set Newton.  Start from the groups that kept a visible weight. */
  double wsum = 0;
  for (size_t u = 0; u < U; u++) {
    act[u] = wv[u] > 1e-3 / (double)U;
    if (!act[u]) wv[u] = 0;
    wsum += wv[u];
  }
  for (size_t u = 0; u < U; u++) wv[u] /= wsum;
  s = PS_ENOCONV;
  for (int nt = 0; nt < 200; nt++, it++) {
    double D0 = policy_of(&w, wv, NULL, res->pi, g, H);
    double amax = -INFINITY, amin = INFINITY, gmin = INFINITY;
    size_t umin = 0;
    for (size_t u = 0; u < U; u++) {
      if (act[u]) amax = fmax(amax, g[u]), amin = fmin(amin, g[u]);
      if (g[u] < gmin) gmin = g[u], umin = u;
    }
    if (amax - amin <= tol) {
      /* stationary on the face: optimal unless an inactive group is worse off */
      if (gmin >= amin - tol) {
        s = PS_OK;
        break;
      }
      act[umin] = 1;
    }
    int fs = face_newton(U, act, g, H, dw);
    if (fs != PS_OK) {
      s = ps_fail(m, fs, "the Newton system of the MaxMin dual could not be solved");
      goto fail;
    }
    /* largest step keeping w >= 0; a group that reaches 0 leaves the active set */
    double tmax = 1;
    size_t hit = U;
    for (size_t u = 0; u < U; u++)
      if (act[u] && dw[u] < 0 && wv[u] + tmax * dw[u] < 0) tmax = wv[u] / -dw[u], hit = u;
    double dd = 0;
    for (size_t u = 0; u < U; u++) dd += g[u] * dw[u];
    double t = tmax;
    /* Armijo backtracking on D (convex; the full Newton step is accepted near w*) */
    for (int ls = 0; ls < 60; ls++) {
      for (size_t u = 0; u < U; u++) wt[u] = wv[u] + t * dw[u];
      double D1 = policy_of(&w, wt, NULL, res->pi, NULL, NULL);
      if (D1 <= D0 + 1e-4 * t * dd + 1e-15 * fabs(D0)) break;
      t *= 0.5;
      hit = U;
    }
    for (size_t u = 0; u < U; u++) wv[u] = act[u] ? fmax(0, wv[u] + t * dw[u]) : 0;
    if (hit < U) {
      wv[hit] = 0;
      act[hit] = 0;
    }
    wsum = 0;
    for (size_t u = 0; u < U; u++) wsum += wv[u];
    for (size_t u = 0; u < U; u++) wv[u] /= wsum;
  }
  res->iterations = it;
  finish(&w, res);
  if (s == PS_OK && !(res->kkt <= 1e-9 * w.scale))
    s = PS_ENOCONV;
  if (s == PS_ENOCONV)
    ps_fail(m, PS_ENOCONV, "the MaxMin dual did not reach its optimality condition (KKT residual %.3g, "
                           "duality gap %.3g)", res->kkt, res->gap);
fail:
  free(g);
  free(H);
  free(dw);
  free(wt);
  free(act);
out:
  work_free(&w);
  return s;
}

int maxmin_iterative(const maxmin_problem *p, size_t T, maxmin_result *res, ps_msg *m) {
  mm_work w;
  int s = work_init(&w, p, m);
  if (s != PS_OK) return s;
  if ((s = check_res(&w, res, m)) != PS_OK) goto out;
  if (T == 0) {
    s = ps_fail(m, PS_EINVAL, "the iterative MaxMin needs T >= 1 steps");
    goto out;
  }
  size_t U = p->U;
  double *g = malloc(U * sizeof(double));
  if (!g) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t u = 0; u < U; u++) res->w[u] = 1.0 / (double)U;
  for (size_t t = 1; t < T; t++) {
    /* F_u(pi_w) = g_u - w.g + D(w): the worst-off group is argmin g (ties: lowest u) */
    policy_of(&w, res->w, NULL, res->pi, g, NULL);
    size_t umin = 0;
    for (size_t u = 1; u < U; u++)
      if (g[u] < g[umin]) umin = u;
    double step = 1.0 / (double)(t + 1);
    for (size_t u = 0; u < U; u++) res->w[u] *= 1 - step;
    res->w[umin] += step;
  }
  free(g);
  res->iterations = (int)(T < (size_t)INT_MAX ? T : INT_MAX);
  finish(&w, res);
out:
  work_free(&w);
  return s;
}

int maxmin_per_sample_min(const maxmin_problem *p, maxmin_result *res, ps_msg *m) {
  mm_work w;
  int s = work_init(&w, p, m);
  if (s != PS_OK) return s;
  if ((s = check_res(&w, res, m)) != PS_OK) goto out;
  double *r = malloc(w.n_items * sizeof(double));
  if (!r) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < w.n_items; i++) {
    r[i] = p->reward[i];
    for (size_t u = 1; u < p->U; u++) r[i] = fmin(r[i], p->reward[u * w.n_items + i]);
  }
  policy_of(&w, NULL, r, res->pi, NULL, NULL);
  free(r);
  values(&w, res->pi, res->F);
  memset(res->w, 0, p->U * sizeof(double));
  res->D = res->gap = res->kkt = NAN;
  res->iterations = 0;
out:
  work_free(&w);
  return s;
}
