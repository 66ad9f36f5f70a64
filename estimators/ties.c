/* ties.c — Davidson and Rao–Kupper MLE by Newton's method (see ties.h).
 *
 * Per row, with z = s_w - s_l and c the row's count, the negative log-likelihood and its
 * derivatives in (z, tau):
 *
 *   Davidson (tau = gamma = log nu): D = log(e^{z/2} + e^{-z/2} + e^gamma), and
 *     p1, p2, p3 = e^{z/2 - D}, e^{-z/2 - D}, e^{gamma - D} (win, loss, tie);
 *     win: D - z/2,  tie: D - gamma;
 *     d/dz = (p1 - p2 - [win]) / 2,  d/dgamma = p3 - [tie];
 *     d2/dz2 = ((p1 + p2) - (p1 - p2)^2) / 4,  d2/dz dgamma = -p3 (p1 - p2) / 2,
 *     d2/dgamma2 = p3 (1 - p3)  (the same for both outcomes: an exponential family).
 *   Rao–Kupper (tau = eta > 0), A = z - eta, B = -z - eta:
 *     win: softplus(-A);  d/dz = -sigma(-A), d/deta = sigma(-A);
 *          d2/dz2 = d2/deta2 = sigma'(A), d2/dz deta = -sigma'(A);
 *     tie: -log expm1(2 eta) + softplus(-A) + softplus(-B);
 *          d/dz = -sigma(-A) + sigma(-B), d/deta = -2/(1 - e^{-2 eta}) + sigma(-A) + sigma(-B);
 *          d2/dz2 = sigma'(A) + sigma'(B), d2/dz deta = -sigma'(A) + sigma'(B),
 *          d2/deta2 = 4 e^{-2 eta} / expm1(-2 eta)^2 + sigma'(A) + sigma'(B).
 *
 * theta's gradient is Phi^T of the scatter of c d/dz (+ at w, - at l), its Hessian block
 * bt_design_hessian with weights c d2/dz2, the cross column Phi^T of the scatter of
 * c d2/dz dtau.  Sums run in row order: a fit is bit-reproducible. */
#include "ties.h"

#include <float.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/bigblock.h"
#include "../core/newton.h"
#include "../core/numerics.h"
#include "bt.h"

ties_options ties_options_default(ties_model model) {
  ties_options o = {.model = model, .l2 = 0, .tol = 1e-10, .max_iter = 100, .want_cov = 0};
  return o;
}

void ties_result_free(ties_result *r) {
  if (!r) return;
  free(r->theta);
  free(r->cov);
  memset(r, 0, sizeof *r);
}

void ties_probs(ties_model model, double z, double tau, double *p_win, double *p_tie, double *p_loss) {
  if (model == TIES_DAVIDSON) {
    double a = z / 2, mx = fmax(fabs(a), tau);
    double e1 = exp(a - mx), e2 = exp(-a - mx), e3 = exp(tau - mx), S = e1 + e2 + e3;
    *p_win = e1 / S, *p_loss = e2 / S, *p_tie = e3 / S;
  } else {
    *p_win = ps_sigmoid(z - tau);
    *p_loss = ps_sigmoid(-z - tau);
    *p_tie = tau > 0 ? expm1(2 * tau) * ps_sigmoid(z - tau) * ps_sigmoid(-z - tau) : 0;
  }
}

/* One row: negative log-likelihood and derivatives (g: d/dz, d/dtau; h: zz, ztau, tautau). */
static inline double row_eval(ties_model model, int tie, double z, double tau, double *g, double *h) {
  if (model == TIES_DAVIDSON) {
    /* e^{z/2} + e^{-z/2} + nu = e^{|z|/2} S with S = 1 + u^2 + nu u, u = e^{-|z|/2} (one exp
     * beyond nu's); at nu overflow (log nu > 709) the scaled three-exp form */
    double a = z / 2, nu = exp(tau), p1, p2, p3, D;
    if (isfinite(nu)) {
      double u = exp(-fabs(a)), S = 1 + u * u + nu * u, r = 1 / S;
      p1 = a >= 0 ? r : u * u * r;
      p2 = a >= 0 ? u * u * r : r;
      p3 = nu * u * r;
      D = fabs(a) + log(S);
    } else {
      double mx = fmax(fabs(a), tau), e1 = exp(a - mx), e2 = exp(-a - mx), e3 = exp(tau - mx), S = e1 + e2 + e3;
      D = mx + log(S), p1 = e1 / S, p2 = e2 / S, p3 = e3 / S;
    }
    if (g) {
      g[0] = (p1 - p2 - (tie ? 0.0 : 1.0)) / 2;
      g[1] = p3 - (tie ? 1.0 : 0.0);
    }
    if (h) {
      double q = p1 - p2;
      h[0] = ((p1 + p2) - q * q) / 4;
      h[1] = -p3 * q / 2;
      h[2] = p3 * (1 - p3);
    }
    return tie ? D - tau : D - a;
  }
  double A = z - tau, B = -z - tau;
  if (!tie) {
    double s = ps_sigmoid(-A), sd = ps_sigmoid_deriv(A);
    if (g) g[0] = -s, g[1] = s;
    if (h) h[0] = sd, h[1] = -sd, h[2] = sd;
    return ps_softplus(-A);
  }
  double em = -expm1(-2 * tau); /* 1 - e^{-2 eta} */
  double sA = ps_sigmoid(-A), sB = ps_sigmoid(-B), dA = ps_sigmoid_deriv(A), dB = ps_sigmoid_deriv(B);
  if (g) g[0] = -sA + sB, g[1] = -2 / em + sA + sB;
  if (h) h[0] = dA + dB, h[1] = -dA + dB, h[2] = 4 * exp(-2 * tau) / (em * em) + dA + dB;
  /* log expm1(2 eta) = 2 eta + log(1 - e^{-2 eta}) */
  return -(2 * tau + log(em)) + ps_softplus(-A) + ps_softplus(-B);
}

void ties_fisher(ties_model model, double z, double tau, double info[3]) {
  double pw, pt, pl, hw[3], hl[3], ht[3];
  ties_probs(model, z, tau, &pw, &pt, &pl);
  row_eval(model, 0, z, tau, NULL, hw);
  row_eval(model, 0, -z, tau, NULL, hl);
  row_eval(model, 1, z, tau, NULL, ht);
  info[0] = pw * hw[0] + pl * hl[0] + pt * ht[0];
  info[1] = pw * hw[1] - pl * hl[1] + pt * ht[1];
  info[2] = pw * hw[2] + pl * hl[2] + pt * ht[2];
}

/* item scores s = Phi theta (or theta) */
static void item_scores(const pref_features *f, const double *theta, double *s) {
  if (!f->phi) {
    memcpy(s, theta, f->n_items * sizeof(double));
    return;
  }
  for (size_t i = 0; i < f->n_items; i++) {
    const double *row = f->phi + i * f->d;
    double acc = 0;
    for (size_t k = 0; k < f->d; k++) acc += row[k] * theta[k];
    s[i] = acc;
  }
}

/* out = Phi^T a (or a) */
static void to_params(const pref_features *f, const double *a, double *out) {
  if (!f->phi) {
    memcpy(out, a, f->n_items * sizeof(double));
    return;
  }
  memset(out, 0, f->d * sizeof(double));
  for (size_t i = 0; i < f->n_items; i++) {
    const double *row = f->phi + i * f->d;
    if (a[i] == 0) continue;
    for (size_t k = 0; k < f->d; k++) out[k] += row[k] * a[i];
  }
}

double ties_objective(const pref_data *d, const pref_features *f, ties_model model, double l2, const double *x,
                      double *grad, double *H, double *loglik) {
  size_t D = f->d, M = f->n_items, n = d->n;
  double tau = x[D];
  if (model == TIES_RAOKUPPER && !(tau > 0)) {
    if (grad)
      for (size_t k = 0; k <= D; k++) grad[k] = NAN;
    if (loglik) *loglik = -INFINITY;
    return INFINITY;
  }
  int need_items = grad || H;
  double *s = malloc(M * sizeof(double)), *a = need_items ? calloc(M, sizeof(double)) : NULL;
  double *ac = H ? calloc(M, sizeof(double)) : NULL, *w = H ? malloc((n ? n : 1) * sizeof(double)) : NULL;
  if (!s || (need_items && !a) || (H && (!ac || !w))) {
    free(s), free(a), free(ac), free(w);
    return NAN;
  }
  item_scores(f, x, s);
  double nll = 0, gt = 0, htt = 0, g[2], h[3];
  for (size_t i = 0; i < n; i++) {
    int32_t wi = d->winner[i], li = d->loser[i];
    double c = d->count ? d->count[i] : 1.0;
    int tie = d->tie && d->tie[i];
    nll += c * row_eval(model, tie, s[wi] - s[li], tau, need_items ? g : NULL, H ? h : NULL);
    if (need_items) {
      a[wi] += c * g[0];
      a[li] -= c * g[0];
      gt += c * g[1];
    }
    if (H) {
      w[i] = c * h[0];
      ac[wi] += c * h[1];
      ac[li] -= c * h[1];
      htt += c * h[2];
    }
  }
  double pen = 0;
  for (size_t k = 0; k < D && l2 > 0; k++) pen += 0.5 * l2 * x[k] * x[k];
  if (loglik) *loglik = -nll;
  if (grad) {
    to_params(f, a, grad);
    for (size_t k = 0; k < D; k++) grad[k] += l2 * x[k];
    grad[D] = gt;
  }
  int ok = 1;
  if (H && !f->phi) {
    /* items: the weighted Laplacian straight into H (no d x d temporary: at 1000 items a fresh
     * 8 MB block per call cost more in page faults than the whole pass) */
    size_t N = D + 1;
    for (size_t r = 0; r < N; r++) memset(H + r * N, 0, N * sizeof(double));
    for (size_t i = 0; i < n; i++) {
      size_t wi = (size_t)d->winner[i], li = (size_t)d->loser[i];
      H[wi * N + wi] += w[i];
      H[li * N + li] += w[i];
      H[wi * N + li] -= w[i];
      H[li * N + wi] -= w[i];
    }
    for (size_t k = 0; k < D; k++) {
      H[k * N + k] += l2;
      H[k * N + D] = H[D * N + k] = ac[k];
    }
    H[D * N + D] = htt;
  } else if (H) {
    size_t N = D + 1;
    double *HB = malloc(D * D * sizeof(double)), *col = malloc(D * sizeof(double));
    ps_msg m;
    if (!HB || !col || bt_design_hessian(d, f, w, l2, HB, &m) != PS_OK) {
      ok = 0;
    } else {
      /* bt_design_hessian fills the upper triangle at least; symmetrise from it */
      for (size_t r = 0; r < D; r++)
        for (size_t k = r; k < D; k++) H[r * N + k] = H[k * N + r] = HB[r * D + k];
      to_params(f, ac, col);
      for (size_t k = 0; k < D; k++) H[k * N + D] = H[D * N + k] = col[k];
      H[D * N + D] = htt;
    }
    free(HB), free(col);
  }
  free(s), free(a), free(ac), free(w);
  return ok ? nll + pen : NAN;
}

/* ---------------------------------------------------------------- Newton */

typedef struct {
  const pref_data *d;
  const pref_features *f;
  const ties_options *o;
  double *H, *L; /* (d+1)^2 each */
  int items;
  /* items: the last pass (item_pass) and the point it was taken at */
  int cached;
  double *xc, *gc;  /* d + 1 each */
  double *D, *ac;   /* n row weights c d2/dz2; m cross scatter of c d2/dz dtau */
  double fc, htt;
} fit_ctx;

static double fdf(void *par, const double *x, double *g) {
  fit_ctx *c = par;
  return ties_objective(c->d, c->f, c->o->model, c->o->l2, x, g, NULL, NULL);
}

/* Items: one pass over the rows at x = (theta, tau) gives the objective, the gradient and
 * every Hessian weight, kept with x.  The Newton driver evaluates a trial point, then (once
 * accepted) the same point again with its gradient, then the direction there: with the
 * cache each Newton step costs one pass instead of three.  Davidson's rows take one exp
 * each (row_eval's S = 1 + u^2 + nu u with nu = e^tau computed once) and, without counts,
 * one log per 16 rows: log S summed as the log of the product of 16 values S <= 2 + nu
 * (no overflow for nu < 1e6; each row then carries ~16 u of absolute error, below the
 * rounding of the running sum).  The sums run in row order as ties_objective's, whose
 * values they equal to rounding. */
static void item_pass(fit_ctx *c, const double *x) {
  const pref_data *d = c->d;
  size_t M = c->f->n_items, n = d->n, N = M + 1;
  double tau = x[M], l2 = c->o->l2, *a = c->gc, *ac = c->ac, *D = c->D;
  const int32_t *win = d->winner, *los = d->loser;
  const uint8_t *tie = d->tie;
  const double *cnt = d->count;
  memcpy(c->xc, x, N * sizeof(double));
  c->cached = 1;
  if (c->o->model == TIES_RAOKUPPER && !(tau > 0)) {
    for (size_t k = 0; k < N; k++) c->gc[k] = NAN;
    c->fc = INFINITY;
    c->htt = NAN;
    return;
  }
  memset(a, 0, M * sizeof(double));
  memset(ac, 0, M * sizeof(double));
  double nll = 0, gt = 0, htt = 0, nu = exp(tau);
  if (c->o->model == TIES_DAVIDSON && isfinite(nu) && nu < 1e6) {
    for (size_t i0 = 0; i0 < n; i0 += 16) {
      size_t i1 = i0 + 16 < n ? i0 + 16 : n;
      double prod = 1, lin = 0;
      for (size_t i = i0; i < i1; i++) {
        int32_t wi = win[i], li = los[i];
        double cw = cnt ? cnt[i] : 1.0, h = (x[wi] - x[li]) / 2;
        int t = tie && tie[i];
        double u = exp(-fabs(h)), S = 1 + u * u + nu * u, r = 1 / S;
        double p1 = h >= 0 ? r : u * u * r, p2 = h >= 0 ? u * u * r : r, p3 = nu * u * r, q = p1 - p2;
        double g0 = (q - (t ? 0.0 : 1.0)) / 2, h1 = -p3 * q / 2;
        if (cnt) nll += cw * (fabs(h) + log(S) - (t ? tau : h));
        else prod *= S, lin += fabs(h) - (t ? tau : h);
        a[wi] += cw * g0;
        a[li] -= cw * g0;
        gt += cw * (p3 - (t ? 1.0 : 0.0));
        D[i] = cw * (((p1 + p2) - q * q) / 4);
        ac[wi] += cw * h1;
        ac[li] -= cw * h1;
        htt += cw * (p3 * (1 - p3));
      }
      if (!cnt) nll += lin + log(prod);
    }
  } else {
    double g[2], h[3];
    for (size_t i = 0; i < n; i++) {
      int32_t wi = win[i], li = los[i];
      double cw = cnt ? cnt[i] : 1.0;
      nll += cw * row_eval(c->o->model, tie && tie[i], x[wi] - x[li], tau, g, h);
      a[wi] += cw * g[0];
      a[li] -= cw * g[0];
      gt += cw * g[1];
      D[i] = cw * h[0];
      ac[wi] += cw * h[1];
      ac[li] -= cw * h[1];
      htt += cw * h[2];
    }
  }
  double pen = 0;
  for (size_t k = 0; k < M; k++) {
    a[k] += l2 * x[k];
    pen += 0.5 * l2 * x[k] * x[k];
  }
  c->gc[M] = gt;
  c->htt = htt;
  c->fc = nll + pen;
}

static double fdf_items(void *par, const double *x, double *g) {
  fit_ctx *c = par;
  size_t N = c->f->n_items + 1;
  if (!c->cached || memcmp(c->xc, x, N * sizeof(double))) item_pass(c, x);
  if (g) memcpy(g, c->gc, N * sizeof(double));
  return c->fc;
}

/* the dense Hessian at the cached point (for the covariance): the weighted Laplacian, l2, the
 * cross column, htt */
static void items_hessian(fit_ctx *c) {
  const pref_data *d = c->d;
  size_t D = c->f->n_items, N = D + 1;
  double *H = c->H;
  for (size_t r = 0; r < N; r++) memset(H + r * N, 0, N * sizeof(double));
  for (size_t i = 0; i < d->n; i++) {
    size_t wi = (size_t)d->winner[i], li = (size_t)d->loser[i];
    double w = c->D[i];
    H[wi * N + wi] += w;
    H[li * N + li] += w;
    H[wi * N + li] -= w;
    H[li * N + wi] -= w;
  }
  for (size_t k = 0; k < D; k++) {
    H[k * N + k] += c->o->l2;
    H[k * N + D] = H[D * N + k] = c->ac[k];
  }
  H[D * N + D] = c->htt;
}

/* H + v v^T on the theta block (items: v = 1/sqrt(m)), Cholesky-factorised into c->L */
static int factor(fit_ctx *c, size_t N, ps_msg *m) {
  memcpy(c->L, c->H, N * N * sizeof(double));
  if (c->items) {
    double v = 1.0 / (double)c->f->n_items;
    for (size_t r = 0; r + 1 < N; r++)
      for (size_t k = 0; k + 1 < N; k++) c->L[r * N + k] += v;
  }
  gsl_matrix_view L = gsl_matrix_view_array(c->L, N, N);
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int s = gsl_linalg_cholesky_decomp1(&L.matrix);
  gsl_set_error_handler(old);
  if (s) return ps_fail(m, PS_ESINGULAR, "the Hessian is not positive definite (the design does not identify theta)");
  return PS_OK;
}

/* The Newton direction: (H + vv^T) p = -g by conjugate gradients with a Jacobi
 * preconditioner on the dense Hessian (a product costs (d+1)^2, against (d+1)^3/3 for a
 * Cholesky factorisation: at 1000 items a CG solve to 1e-12 is several times cheaper), to a
 * relative residual of min(1e-2, ||g||) x 1e-6 (inexact Newton, quadratic near the optimum);
 * the one factorisation is the covariance's, at the end. */
static void hv(const fit_ctx *c, size_t N, const double *v, double *out) {
  double sv = 0, w = 1.0 / (double)c->f->n_items;
  if (c->items)
    for (size_t k = 0; k + 1 < N; k++) sv += v[k];
  if (c->items) {
    /* items, from the cached row weights (no dense matrix): the weighted Laplacian by one
     * scatter over the rows, l2, the cross column and the shift 11^T/m */
    size_t M = N - 1;
    const pref_data *d = c->d;
    double last = c->htt * v[M];
    for (size_t k = 0; k < M; k++) {
      out[k] = c->o->l2 * v[k] + c->ac[k] * v[M] + w * sv;
      last += c->ac[k] * v[k];
    }
    for (size_t i = 0; i < d->n; i++) {
      int32_t a = d->winner[i], b = d->loser[i];
      double t = c->D[i] * (v[a] - v[b]);
      out[a] += t;
      out[b] -= t;
    }
    out[M] = last;
    return;
  }
  for (size_t r = 0; r < N; r++) {
    const double *h = c->H + r * N;
    /* eight fixed partial sums (as bt.c's to_items): the order of the additions is set
     * here, not by the vector width, so the product is the same on every machine, and the
     * eight chains hide the latency of one add per element */
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t k = 0;
    for (; k + 8 <= N; k += 8) {
      PS_SIMD
      for (size_t j = 0; j < 8; j++) acc[j] += h[k + j] * v[k + j];
    }
    for (; k < N; k++) acc[k & 7] += h[k] * v[k];
    double sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    out[r] = sum + (c->items && r + 1 < N ? w * sv : 0);
  }
}

static int direction(void *par, const double *x, const double *g, double *p, ps_msg *m) {
  fit_ctx *c = par;
  size_t N = c->f->d + 1;
  /* scratch: r, z, q, dinv in L */
  double *r = c->L, *z = r + N, *q = z + N, *dinv = q + N, gn = 0;
  if (c->items) {
    /* the products come from the row weights of the pass at x (hv); the diagonal is the
     * weighted degree of each item */
    if (!c->cached || memcmp(c->xc, x, N * sizeof(double))) item_pass(c, x);
    for (size_t k = 0; k + 1 < N; k++) dinv[k] = c->o->l2;
    for (size_t i = 0; i < c->d->n; i++) dinv[c->d->winner[i]] += c->D[i], dinv[c->d->loser[i]] += c->D[i];
    dinv[N - 1] = c->htt;
    int finite = isfinite(c->htt);
    for (size_t k = 0; k + 1 < N; k++) finite &= isfinite(dinv[k]) && isfinite(c->ac[k]);
    if (!finite) return ps_fail(m, PS_EDOM, "the Hessian is not finite");
  } else {
    ties_objective(c->d, c->f, c->o->model, c->o->l2, x, NULL, c->H, NULL);
    for (size_t k = 0; k < N * N; k++)
      if (!isfinite(c->H[k])) return ps_fail(m, PS_EDOM, "the Hessian is not finite");
    for (size_t k = 0; k < N; k++) dinv[k] = c->H[k * N + k];
  }
  for (size_t k = 0; k < N; k++) {
    double dk = dinv[k] + (c->items && k + 1 < N ? 1.0 / (double)c->f->n_items : 0);
    if (!(dk > 0)) return ps_fail(m, PS_ESINGULAR, "the Hessian is not positive definite (the design does not identify theta)");
    dinv[k] = 1 / dk;
    p[k] = 0;
    r[k] = -g[k];
    gn += g[k] * g[k];
  }
  gn = sqrt(gn);
  double stop = gn * 1e-6 * fmin(1e-2, gn), rz = 0;
  for (size_t k = 0; k < N; k++) z[k] = dinv[k] * r[k], rz += r[k] * z[k];
  double *dir = malloc(N * sizeof(double));
  if (!dir) return ps_fail(m, PS_ENOMEM, "out of memory");
  memcpy(dir, z, N * sizeof(double));
  for (size_t it = 0; it < 10 * N + 100; it++) {
    double rn = 0;
    for (size_t k = 0; k < N; k++) rn += r[k] * r[k];
    if (sqrt(rn) <= stop) break;
    hv(c, N, dir, q);
    double dq = 0;
    for (size_t k = 0; k < N; k++) dq += dir[k] * q[k];
    if (!(dq > 0)) {
      free(dir);
      return ps_fail(m, PS_ESINGULAR, "the Hessian is not positive definite (the design does not identify theta)");
    }
    double a = rz / dq, rz1 = 0;
    for (size_t k = 0; k < N; k++) p[k] += a * dir[k], r[k] -= a * q[k];
    for (size_t k = 0; k < N; k++) z[k] = dinv[k] * r[k], rz1 += r[k] * z[k];
    double b = rz1 / rz;
    rz = rz1;
    for (size_t k = 0; k < N; k++) dir[k] = z[k] + b * dir[k];
  }
  free(dir);
  if (c->o->model == TIES_RAOKUPPER && x[N - 1] + p[N - 1] <= 0) {
    /* keep eta > 0: shorten the step to land at most halfway to the boundary */
    double t = 0.5 * x[N - 1] / -p[N - 1];
    for (size_t k = 0; k < N; k++) p[k] *= t;
  }
  return PS_OK;
}

/* the strongly connected check of ties.h on the graph: win w -> l, tie both ways */
int ties_check_items(const pref_data *d, const char *const *item_name, ps_msg *m) {
  size_t k = pref_data_n_ties(d);
  if (k == 0)
    return ps_fail(m, PS_ENOMLE, "the data have no ties: the tie parameter's MLE is at its boundary (nu = 0, "
                                 "eta = 0); fit bt instead");
  if (k == d->n)
    return ps_fail(m, PS_ENOMLE, "every row is a tie: the tie parameter's MLE is infinite");
  pref_data both;
  int s = pref_data_resolve_ties(d, PREF_TIES_HALF, &both, m);
  if (s) return s;
  s = bt_check_items(&both, item_name, m);
  pref_data_free(&both);
  return s;
}

int ties_fit(const pref_data *d, const pref_features *f, const ties_options *o, ties_result *res, ps_msg *m) {
  memset(res, 0, sizeof *res);
  size_t D = f->d, N = D + 1;
  if (d->n == 0) return res->status = ps_fail(m, PS_EINVAL, "no comparisons");
  int s = pref_data_check(d, m);
  if (s) return res->status = s;
  if (d->n_items != f->n_items)
    return res->status = ps_fail(m, PS_EINVAL, "the data have %zu items, the features %zu", d->n_items, f->n_items);
  if (f->phi)
    for (size_t i = 0; i < f->n_items * D; i++)
      if (!isfinite(f->phi[i])) return res->status = ps_fail(m, PS_EDOM, "feature %zu is not finite", i);
  double W = pref_data_weight(d), T = pref_data_tie_weight(d);
  if (!f->phi && o->l2 == 0) {
    s = ties_check_items(d, NULL, m);
    if (s) return res->status = s;
  } else if (T <= 0 || T >= W) {
    return res->status = ps_fail(m, PS_ENOMLE, T <= 0 ? "the data have no ties: the tie parameter's MLE is at "
                                                        "its boundary; fit bt instead"
                                                      : "every row is a tie: the tie parameter's MLE is infinite");
  }
  res->d = D;
  res->theta = calloc(D, sizeof(double));
  fit_ctx c = {.d = d, .f = f, .o = o, .H = ps_alloc_large(N * N * sizeof(double)),
               .L = ps_alloc_large((N * N > 4 * N ? N * N : 4 * N) * sizeof(double)),
               .items = f->phi == NULL};
  if (c.items) {
    c.xc = malloc(N * sizeof(double));
    c.gc = malloc(N * sizeof(double));
    c.D = ps_alloc_large(d->n * sizeof(double));
    c.ac = malloc(D * sizeof(double));
  }
  double *x0 = calloc(N, sizeof(double));
  newton_solver *ns = newton_alloc(N);
  if (!res->theta || !c.H || !c.L || !x0 || !ns || (c.items && (!c.xc || !c.gc || !c.D || !c.ac))) {
    s = ps_fail(m, PS_ENOMEM, "out of memory for %zu parameters", N);
    goto done;
  }
  /* start at theta = 0 with the tie parameter matching the tie share t: Davidson
   * nu/(2 + nu) = t, Rao–Kupper 1 - 2 sigma(-eta) = t */
  double t = T / W;
  x0[D] = o->model == TIES_DAVIDSON ? log(2 * t / (1 - t)) : log((1 + t) / (1 - t));
  newton_function fn = {.n = N, .fdf = c.items ? fdf_items : fdf, .direction = direction, .params = &c};
  newton_params par = newton_params_default();
  par.probe_first = 1e-10;
  par.probe = (double)(d->n + 1) * DBL_EPSILON;
  newton_set(ns, &fn, &par, x0);
  double gtol = o->tol * (W > 1 ? W : 1);
  int it = 0;
  s = PS_OK;
  for (;; it++) {
    if (!isfinite(newton_f(ns))) {
      s = ps_fail(m, PS_EDOM, "the objective is not finite");
      break;
    }
    if (newton_gradient_norm(ns) <= gtol) break;
    if (it >= o->max_iter) {
      s = ps_fail(m, PS_ENOCONV, "no convergence in %d Newton iterations (gradient norm %.3g)", it,
                  newton_gradient_norm(ns));
      break;
    }
    if ((s = newton_direction(ns, m)) != PS_OK) break;
    if (newton_step(ns) != PS_OK) {
      /* at the rounding floor: accept when the gradient is within 1e3 x tol */
      if (newton_gradient_norm(ns) <= 1e3 * gtol) break;
      s = ps_fail(m, PS_ENOCONV, "the line search failed (gradient norm %.3g)", newton_gradient_norm(ns));
      break;
    }
  }
  const double *x = newton_x(ns);
  memcpy(res->theta, x, D * sizeof(double));
  res->tau = x[D];
  if (c.items) { /* centre (every step already keeps the sum; remove rounding) */
    double mean = 0;
    for (size_t k = 0; k < D; k++) mean += res->theta[k];
    mean /= (double)D;
    for (size_t k = 0; k < D; k++) res->theta[k] -= mean;
  }
  res->iterations = it;
  res->grad_norm = newton_gradient_norm(ns);
  /* the reported point (theta centred, tau) */
  memcpy(x0, res->theta, D * sizeof(double));
  x0[D] = res->tau;
  res->objective = ties_objective(d, f, o->model, o->l2, x0, NULL, NULL, &res->loglik);
  if (s == PS_OK && o->want_cov) {
    res->cov = malloc(N * N * sizeof(double));
    if (!res->cov) {
      s = ps_fail(m, PS_ENOMEM, "out of memory for the %zux%zu covariance", N, N);
      goto done;
    }
    if (c.items) {
      item_pass(&c, x0);
      items_hessian(&c);
    } else {
      ties_objective(d, f, o->model, o->l2, x0, NULL, c.H, NULL);
    }
    s = factor(&c, N, m);
    if (s == PS_OK) {
      gsl_matrix_view L = gsl_matrix_view_array(c.L, N, N);
      gsl_linalg_cholesky_invert(&L.matrix);
      memcpy(res->cov, c.L, N * N * sizeof(double));
      if (c.items) {
        double v = 1.0 / (double)D;
        for (size_t r = 0; r < D; r++)
          for (size_t k = 0; k < D; k++) res->cov[r * N + k] -= v;
      }
    } else {
      free(res->cov);
      res->cov = NULL;
    }
  }
done:
  newton_free(ns);
  free(x0), free(c.H), free(c.L), free(c.xc), free(c.gc), free(c.D), free(c.ac);
  return res->status = s;
}
