/* pl.c — Plackett-Luce maximum likelihood (see pl.h).
 *
 * Per ranking of size s with T stages and weight c, from the utilities u_v of its
 * offered items in stored order (e_v = exp(u_v - max), S_t = sum_{v >= t} e_v):
 *
 *     loglik  += c sum_{t<T} (u_t - max - log S_t)
 *     df/du_v  = c (e_v A_v - [v < T]),         A_v = sum_{t <= min(v, T-1)} 1 / S_t
 *     H_vv     = c (e_v A_v - e_v^2 B_v),       B_v = sum_{t <= min(v, T-1)} 1 / S_t^2
 *     H_vw     = -c e_v e_w B_min(v,w)          (v != w)
 *     (H x)_v  = c e_v (A_v x_v - sum_{t <= min(v, T-1)} X_t / S_t^2),  X_t = sum_{w >= t} e_w x_w
 *
 * (the stage-t choice distribution is p^(t)_v = e_v / S_t for v >= t, its Fisher
 * information diag(p) - p p^T).  O(s) per ranking for f, its gradient and H x;
 * O(s^2) (items) or O(s^2 d + s d^2) (features) for the dense Hessian. */
#include "pl.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/newton.h"
#include "bt.h"

pl_options pl_options_default(void) {
  pl_options o = {.l2 = 0, .tol = 1e-10, .max_iter = 100, .want_hessian = 0};
  return o;
}

void pl_result_free(pl_result *r) {
  if (!r) return;
  free(r->theta);
  free(r->hessian);
  memset(r, 0, sizeof *r);
}

static size_t dim_of(const rank_data *d, const pref_features *f) { return f && f->phi ? f->d : d->n_items; }

static size_t max_size(const rank_data *d) {
  size_t s = 0;
  for (size_t r = 0; r < d->n; r++)
    if (rank_size(d, r) > s) s = rank_size(d, r);
  return s;
}

/* U = Phi theta (or theta) for every item */
static void utilities(const rank_data *d, const pref_features *f, const double *theta, double *U) {
  if (!f || !f->phi) {
    memcpy(U, theta, d->n_items * sizeof *U);
    return;
  }
  for (size_t i = 0; i < d->n_items; i++) {
    const double *p = f->phi + i * f->d;
    double s = 0;
    for (size_t k = 0; k < f->d; k++) s += p[k] * theta[k];
    U[i] = s;
  }
}

/* G (item space, n_items) -> grad = Phi^T G (features) or G (items) */
static void to_params(const rank_data *d, const pref_features *f, const double *G, double *grad) {
  if (!f || !f->phi) {
    memcpy(grad, G, d->n_items * sizeof *grad);
    return;
  }
  memset(grad, 0, f->d * sizeof *grad);
  for (size_t i = 0; i < d->n_items; i++) {
    const double *p = f->phi + i * f->d;
    if (G[i] != 0)
      for (size_t k = 0; k < f->d; k++) grad[k] += p[k] * G[i];
  }
}

/* The stage sums of ranking r: e (s), S (s), A (s), B (s, or NULL); returns its
 * log-likelihood term without the weight when want_ll (else 0: no logs). */
static double stages(const rank_data *d, size_t r, const double *U, double *e, double *S, double *A, double *B,
                     int want_ll) {
  const int32_t *it = d->item + d->off[r];
  size_t s = rank_size(d, r), T = rank_stages(d, r);
  double mx = -INFINITY, ll = 0;
  for (size_t v = 0; v < s; v++)
    if (U[it[v]] > mx) mx = U[it[v]];
  for (size_t v = 0; v < s; v++) e[v] = exp(U[it[v]] - mx);
  double acc = 0;
  for (size_t v = s; v-- > 0;) S[v] = acc += e[v];
  double a = 0, b = 0;
  for (size_t v = 0; v < s; v++) {
    if (v < T) {
      if (want_ll) ll += U[it[v]] - mx - log(S[v]);
      a += 1 / S[v];
      b += 1 / (S[v] * S[v]);
    }
    A[v] = a;
    if (B) B[v] = b;
  }
  return ll;
}

double pl_objective(const rank_data *d, const pref_features *f, double l2, const double *theta, double *grad,
                    double *H, double *loglik) {
  size_t m = d->n_items, D = dim_of(d, f), smax = max_size(d), fd = f && f->phi ? f->d : 0;
  double *U = malloc(m * sizeof *U), *G = grad ? calloc(m, sizeof *G) : NULL;
  double *w = malloc(4 * (smax ? smax : 1) * sizeof *w);
  double *L = H ? malloc((smax * smax + (fd ? smax * fd : 0) + 1) * sizeof *L) : NULL;
  if (!U || !w || (grad && !G) || (H && !L)) {
    free(U), free(G), free(w), free(L);
    return NAN;
  }
  double *e = w, *S = w + smax, *A = w + 2 * smax, *B = w + 3 * smax;
  utilities(d, f, theta, U);
  if (H) memset(H, 0, D * D * sizeof *H);
  double ll = 0;
  for (size_t r = 0; r < d->n; r++) {
    double c = d->count ? d->count[r] : 1.0;
    const int32_t *it = d->item + d->off[r];
    size_t s = rank_size(d, r), T = rank_stages(d, r);
    ll += c * stages(d, r, U, e, S, A, B, 1);
    if (G)
      for (size_t v = 0; v < s; v++) G[it[v]] += c * (e[v] * A[v] - (v < T ? 1.0 : 0.0));
    if (!H) continue;
    for (size_t v = 0; v < s; v++) {
      L[v * s + v] = c * (e[v] * A[v] - e[v] * e[v] * B[v]);
      for (size_t x = v + 1; x < s; x++) L[v * s + x] = L[x * s + v] = -c * e[v] * e[x] * B[v];
    }
    if (!fd) {
      for (size_t v = 0; v < s; v++)
        for (size_t x = 0; x < s; x++) H[(size_t)it[v] * D + (size_t)it[x]] += L[v * s + x];
    } else {
      /* H += X^T L X, X the s x d features of the set: LX first */
      double *LX = L + smax * smax;
      for (size_t v = 0; v < s; v++)
        for (size_t k = 0; k < fd; k++) {
          double acc = 0;
          for (size_t x = 0; x < s; x++) acc += L[v * s + x] * f->phi[(size_t)it[x] * fd + k];
          LX[v * fd + k] = acc;
        }
      for (size_t v = 0; v < s; v++) {
        const double *pv = f->phi + (size_t)it[v] * fd;
        for (size_t k = 0; k < fd; k++)
          for (size_t l = 0; l < fd; l++) H[k * D + l] += pv[k] * LX[v * fd + l];
      }
    }
  }
  double pen = 0;
  for (size_t k = 0; k < D; k++) pen += theta[k] * theta[k];
  if (grad) {
    to_params(d, f, G, grad);
    for (size_t k = 0; k < D; k++) grad[k] += l2 * theta[k];
  }
  if (H)
    for (size_t k = 0; k < D; k++) H[k * D + k] += l2;
  if (loglik) *loglik = ll;
  free(U), free(G), free(w), free(L);
  return -ll + 0.5 * l2 * pen;
}

int pl_hessian_vector(const rank_data *d, const pref_features *f, double l2, const double *theta, const double *v,
                      double *Hv) {
  size_t m = d->n_items, D = dim_of(d, f), smax = max_size(d);
  double *U = malloc(m * sizeof *U), *V = malloc(m * sizeof *V), *G = calloc(m, sizeof *G);
  double *w = malloc(4 * (smax ? smax : 1) * sizeof *w);
  if (!U || !V || !G || !w) {
    free(U), free(V), free(G), free(w);
    return PS_ENOMEM;
  }
  double *e = w, *S = w + smax, *A = w + 2 * smax, *X = w + 3 * smax;
  utilities(d, f, theta, U);
  utilities(d, f, v, V); /* Phi v: the direction in item space */
  for (size_t r = 0; r < d->n; r++) {
    double c = d->count ? d->count[r] : 1.0;
    const int32_t *it = d->item + d->off[r];
    size_t s = rank_size(d, r), T = rank_stages(d, r);
    stages(d, r, U, e, S, A, NULL, 0);
    double acc = 0;
    for (size_t x = s; x-- > 0;) X[x] = acc += e[x] * V[it[x]];
    double b = 0;
    for (size_t x = 0; x < s; x++) {
      if (x < T) b += X[x] / (S[x] * S[x]);
      G[it[x]] += c * e[x] * (A[x] * V[it[x]] - b);
    }
  }
  to_params(d, f, G, Hv);
  for (size_t k = 0; k < D; k++) Hv[k] += l2 * v[k];
  free(U), free(V), free(G), free(w);
  return PS_OK;
}

int pl_check_items(const rank_data *d, const char *const *item_name, ps_msg *m) {
  pref_data p;
  /* the adjacent breaking's graph has the full breaking's transitive closure (each full
   * pair is a path of adjacent ones), hence its strongly connected components, with
   * (s - 1) pairs per ranking instead of up to s (s - 1) / 2 */
  int s = rank_data_break(d, RANK_BREAK_ADJACENT, &p, m);
  if (s != PS_OK) return s;
  s = bt_check_items(&p, item_name, m);
  pref_data_free(&p);
  return s;
}

/* ------------------------------------------------------------- the fit */

typedef struct {
  const rank_data *d;
  const pref_features *f;
  double l2;
  size_t D;
  int items; /* add 11^T / m to the Hessian */
  double *H, *tmp; /* dense: D x D; CG: 5 D scratch */
  int dense;
  int cg_iterations;
  double W;        /* total weight (the CG forcing term is relative to it) */
  /* CG on items: the curvature at the direction's point, per offered entry, in single
   * precision (it only steers the inexact direction; the gradient and the stopping test
   * are in double): e_v, c e_v A_v and, per stage, 1 / S_t^2 */
  float *ce, *ceA, *is2;
  /* the line search asks for F at a trial point, then for F and its gradient at the
   * accepted one: the gradient of the last trial is kept (memo_x, memo_g) and reused */
  double *memo_x, *memo_g, memo_f;
  int memo_ok;
} pl_problem;

/* Fill the CG cache at item scores x: the exps of the whole data once per direction. */
static void cg_cache(pl_problem *p, const double *x, double *diag, double *w, size_t smax) {
  const rank_data *d = p->d;
  for (size_t r = 0; r < d->n; r++) {
    double c = d->count ? d->count[r] : 1.0;
    size_t a = d->off[r], s = rank_size(d, r), T = rank_stages(d, r);
    const int32_t *it = d->item + a;
    stages(d, r, x, w, w + smax, w + 2 * smax, w + 3 * smax, 0);
    for (size_t v = 0; v < s; v++) {
      double e = w[v], A = w[2 * smax + v], B = w[3 * smax + v];
      p->ce[a + v] = (float)(c * e);
      p->ceA[a + v] = (float)(c * e * A);
      p->is2[a + v] = v < T ? (float)(1 / (w[smax + v] * w[smax + v])) : 0.0f;
      diag[it[v]] += c * (e * A - e * e * B);
    }
  }
}

/* H v from the cache (items): (H v)_v = c e_v (A_v v_v - sum_{t <= min(v, T-1)} X_t / S_t^2) */
static void cg_hv(const pl_problem *p, const double *v, double *Hv) {
  const rank_data *d = p->d;
  memset(Hv, 0, p->D * sizeof *Hv);
  double X[64], *Xb = X;
  for (size_t r = 0; r < d->n; r++) {
    size_t a = d->off[r], s = rank_size(d, r);
    const int32_t *it = d->item + a;
    const float *ce = p->ce + a, *ceA = p->ceA + a, *is2 = p->is2 + a;
    if (s > 64) { /* rare: long rankings recompute the suffix sums without the stack buffer */
      double b = 0;
      for (size_t x = 0; x < s; x++) {
        double acc = 0, c = d->count ? d->count[r] : 1.0;
        for (size_t y = x; y < s; y++) acc += (double)ce[y] * v[it[y]]; /* X_x = c sum_{y >= x} e_y v_y */
        b += acc * is2[x];
        Hv[it[x]] += ceA[x] * v[it[x]] - ce[x] * b / c;
      }
      continue;
    }
    double acc = 0;
    double c = d->count ? d->count[r] : 1.0;
    for (size_t x = s; x-- > 0;) Xb[x] = acc += (double)ce[x] * v[it[x]]; /* c sum e_w v_w */
    double b = 0;
    for (size_t x = 0; x < s; x++) {
      b += Xb[x] * is2[x];
      Hv[it[x]] += ceA[x] * v[it[x]] - ce[x] * b / c;
    }
  }
}

static double pl_fdf(void *par, const double *x, double *g) {
  pl_problem *p = par;
  if (!p->memo_x) return pl_objective(p->d, p->f, p->l2, x, g, NULL, NULL);
  if (g && p->memo_ok && !memcmp(x, p->memo_x, p->D * sizeof *x)) {
    memcpy(g, p->memo_g, p->D * sizeof *g);
    return p->memo_f;
  }
  double f = pl_objective(p->d, p->f, p->l2, x, p->memo_g, NULL, NULL);
  memcpy(p->memo_x, x, p->D * sizeof *x);
  p->memo_f = f;
  p->memo_ok = !isnan(f);
  if (g) memcpy(g, p->memo_g, p->D * sizeof *g);
  return f;
}

static int pl_direction(void *par, const double *x, const double *g, double *dir, ps_msg *m) {
  pl_problem *p = par;
  size_t D = p->D;
  double J = p->items ? 1.0 / (double)D : 0;
  if (p->dense) {
    if (isnan(pl_objective(p->d, p->f, p->l2, x, NULL, p->H, NULL))) return ps_fail(m, PS_ENOMEM, "out of memory");
    for (size_t i = 0; i < D * D; i++) p->H[i] += J;
    gsl_matrix_view A = gsl_matrix_view_array(p->H, D, D);
    gsl_vector_const_view b = gsl_vector_const_view_array(g, D);
    gsl_vector_view xv = gsl_vector_view_array(dir, D);
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int s = gsl_linalg_cholesky_decomp1(&A.matrix);
    if (s == GSL_SUCCESS) s = gsl_linalg_cholesky_solve(&A.matrix, &b.vector, &xv.vector);
    gsl_set_error_handler(old);
    if (s != GSL_SUCCESS)
      return ps_fail(m, PS_ESINGULAR, "the Hessian is singular: the rankings do not determine every parameter");
    for (size_t i = 0; i < D; i++) dir[i] = -dir[i];
    return PS_OK;
  }
  /* preconditioned CG on (H + J 11^T) dir = -g, Jacobi from the exact diagonal */
  double *r = p->tmp, *z = r + D, *q = z + D, *Hq = q + D, *diag = Hq + D;
  /* items: the curvature cached once (cg_cache), its exact diagonal the preconditioner;
   * features: Hessian-vector products through pl_hessian_vector, no preconditioner */
  if (p->items) {
    size_t smax = max_size(p->d);
    double *w = malloc(4 * (smax ? smax : 1) * sizeof *w);
    if (!w) return ps_fail(m, PS_ENOMEM, "out of memory");
    for (size_t i = 0; i < D; i++) diag[i] = p->l2 + J;
    cg_cache(p, x, diag, w, smax);
    free(w);
  } else {
    for (size_t i = 0; i < D; i++) diag[i] = 1;
  }
  double gn = 0;
  for (size_t i = 0; i < D; i++) dir[i] = 0, r[i] = -g[i], gn += g[i] * g[i];
  gn = sqrt(gn);
  double rz = 0;
  for (size_t i = 0; i < D; i++) z[i] = r[i] / diag[i], q[i] = z[i], rz += r[i] * z[i];
  /* inexact Newton forcing term (Eisenstat-Walker choice 2 style): superlinear as the
   * gradient, relative to the total weight, vanishes */
  double eta = fmin(0.1, sqrt(gn / (p->W > 1 ? p->W : 1)));
  for (int k = 0; k < (int)(2 * D + 10); k++) {
    if (p->items) {
      cg_hv(p, q, Hq);
      for (size_t i = 0; i < D; i++) Hq[i] += p->l2 * q[i];
    } else if (pl_hessian_vector(p->d, p->f, p->l2, x, q, Hq) != PS_OK) {
      return ps_fail(m, PS_ENOMEM, "out of memory");
    }
    double sq = 0;
    for (size_t i = 0; i < D; i++) sq += q[i];
    double qHq = 0;
    for (size_t i = 0; i < D; i++) Hq[i] += J * sq, qHq += q[i] * Hq[i];
    p->cg_iterations++;
    if (!(qHq > 0)) break;
    double a = rz / qHq, rn = 0;
    for (size_t i = 0; i < D; i++) dir[i] += a * q[i], r[i] -= a * Hq[i], rn += r[i] * r[i];
    if (sqrt(rn) <= eta * gn) break;
    double rz2 = 0;
    for (size_t i = 0; i < D; i++) z[i] = r[i] / diag[i], rz2 += r[i] * z[i];
    double beta = rz2 / rz;
    rz = rz2;
    for (size_t i = 0; i < D; i++) q[i] = z[i] + beta * q[i];
  }
  return PS_OK;
}

int pl_fit(const rank_data *d, const pref_features *f, const pl_options *o, pl_result *res, ps_msg *m) {
  memset(res, 0, sizeof *res);
  int s = rank_data_check(d, m);
  if (s != PS_OK) return res->status = s;
  if (f && f->phi) {
    if (f->n_items != d->n_items)
      return res->status = ps_fail(m, PS_EINVAL, "the feature view has %zu items, the rankings %zu", f->n_items,
                                   d->n_items);
    for (size_t i = 0; i < f->n_items * f->d; i++)
      if (!isfinite(f->phi[i])) return res->status = ps_fail(m, PS_EDOM, "feature %zu is not finite", i);
  }
  if (d->n == 0) return res->status = ps_fail(m, PS_EINVAL, "no rankings");
  size_t D = dim_of(d, f);
  pl_problem p = {.d = d, .f = f, .l2 = o->l2, .D = D, .items = !(f && f->phi), .dense = D <= (o->dense_max ? o->dense_max : PL_DENSE_MAX)};
  res->d = D;
  res->theta = calloc(D, sizeof *res->theta);
  p.W = rank_data_weight(d);
  p.memo_x = malloc(D * sizeof *p.memo_x);
  p.memo_g = malloc(D * sizeof *p.memo_g);
  if (!p.memo_x || !p.memo_g) { /* the memo is an optimisation: run without it */
    free(p.memo_x), free(p.memo_g);
    p.memo_x = p.memo_g = NULL;
  }
  if (p.dense) {
    p.H = malloc(D * D * sizeof *p.H);
  } else {
    p.tmp = malloc(5 * D * sizeof *p.tmp);
    if (p.items) {
      size_t tot = d->off[d->n] ? d->off[d->n] : 1;
      p.ce = malloc(tot * sizeof *p.ce);
      p.ceA = malloc(tot * sizeof *p.ceA);
      p.is2 = malloc(tot * sizeof *p.is2);
      if (!p.ce || !p.ceA || !p.is2) {
        free(p.tmp);
        p.tmp = NULL; /* reported below */
      }
    }
  }
  newton_solver *ns = newton_alloc(D);
  if (!res->theta || (p.dense ? !p.H : !p.tmp) || !ns) {
    s = ps_fail(m, PS_ENOMEM, "out of memory for %zu parameters", D);
    goto done;
  }
  newton_function fn = {.n = D, .fdf = pl_fdf, .direction = pl_direction, .line = NULL, .params = &p};
  newton_params par = newton_params_default();
  par.probe = (double)(d->n + 1) * 2.2e-16;
  newton_set(ns, &fn, &par, res->theta);
  double W = rank_data_weight(d), tol = o->tol * (W > 1 ? W : 1);
  int it = 0;
  s = PS_OK;
  for (;; it++) {
    if (!isfinite(newton_f(ns))) {
      s = ps_fail(m, PS_EDOM, "the objective is not finite");
      break;
    }
    if (newton_gradient_norm(ns) <= tol) break;
    if (it >= o->max_iter) {
      s = ps_fail(m, PS_ENOCONV, "no convergence in %d Newton iterations (||grad|| %.3g > %.3g)", o->max_iter,
                  newton_gradient_norm(ns), tol);
      break;
    }
    if ((s = newton_direction(ns, m)) != PS_OK) break;
    if (newton_step(ns) != PS_OK) {
      if (newton_gradient_norm(ns) <= 1e3 * tol) break; /* the rounding floor */
      s = ps_fail(m, PS_ENOCONV, "the line search made no progress at ||grad|| %.3g (tolerance %.3g)",
                  newton_gradient_norm(ns), tol);
      break;
    }
  }
  memcpy(res->theta, newton_x(ns), D * sizeof *res->theta);
  if (p.items && o->l2 == 0) { /* centre: only contrasts are identified */
    double mean = 0;
    for (size_t i = 0; i < D; i++) mean += res->theta[i];
    mean /= (double)D;
    for (size_t i = 0; i < D; i++) res->theta[i] -= mean;
  }
  res->objective = pl_objective(d, f, o->l2, res->theta, NULL, NULL, &res->loglik);
  res->grad_norm = newton_gradient_norm(ns);
  res->iterations = it;
  res->cg_iterations = p.cg_iterations;
  if (o->want_hessian && (s == PS_OK || s == PS_ENOCONV)) {
    res->hessian = malloc(D * D * sizeof *res->hessian);
    if (!res->hessian || isnan(pl_objective(d, f, o->l2, res->theta, NULL, res->hessian, NULL))) {
      free(res->hessian);
      res->hessian = NULL;
      s = ps_fail(m, PS_ENOMEM, "out of memory for the %zux%zu Hessian", D, D);
    }
  }
done:
  newton_free(ns);
  free(p.H);
  free(p.tmp);
  free(p.ce);
  free(p.ceA);
  free(p.is2);
  free(p.memo_x);
  free(p.memo_g);
  res->status = s;
  return s;
}

double pl_expected_information(const double *u, size_t s, size_t stages, double *I) {
  if (s > PL_INFO_MAX_SET || s < 1) return NAN;
  size_t full = ((size_t)1 << s) - 1;
  double *P = calloc(full + 1, sizeof *P), *pi = malloc(s * sizeof *pi), mx = -INFINITY, tr = 0;
  if (!P || !pi) {
    free(P);
    free(pi);
    return NAN;
  }
  for (size_t j = 0; j < s; j++) mx = fmax(mx, u[j]);
  for (size_t j = 0; j < s; j++) pi[j] = exp(u[j] - mx);
  if (I) memset(I, 0, s * s * sizeof *I);
  P[full] = 1;
  /* a remaining set's supersets are larger masks: visiting masks downward pushes each P(R)
   * complete to its subsets */
  for (size_t R = full; R > 0; R--) {
    if (P[R] == 0) continue;
    size_t size = (size_t)__builtin_popcountll((unsigned long long)R);
    if (size < 2 || s - size >= stages) continue;
    double Z = 0;
    for (size_t j = 0; j < s; j++)
      if (R >> j & 1) Z += pi[j];
    for (size_t j = 0; j < s; j++) {
      if (!(R >> j & 1)) continue;
      double pj = pi[j] / Z;
      tr += P[R] * pj * (1 - pj);
      if (I)
        for (size_t l = 0; l < s; l++)
          if (R >> l & 1) I[j * s + l] += P[R] * ((j == l ? pj : 0) - pj * pi[l] / Z);
      P[R & ~((size_t)1 << j)] += P[R] * pj;
    }
  }
  free(P);
  free(pi);
  return tr;
}
