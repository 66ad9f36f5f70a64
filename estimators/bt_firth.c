/* bt_firth.c — Firth-penalised (Jeffreys-prior, bias-reduced) Bradley-Terry, logistic
 * link; the model, objective and conventions are in bt.h ("Firth") and
 * docs/theory.md §3.1.
 *
 * Gradient.  With w_i = c_i p_i (1 - p_i) and the leverages (hat values of the
 * weighted design) h_i = w_i x_i^T I^+ x_i, whose sum is the rank of I,
 *
 *     -grad f = U*(theta) = sum_i x_i [c_i (1 - p_i) + h_i (1/2 - p_i)] - lambda theta,
 *
 * the modified score (Firth 1993): d/dtheta (1/2) log det I = (1/2) tr(I^+ dI) with
 * dI/dtheta = sum_i c_i w'(z_i) x_i x_i^T x_i^T, w' = p(1-p)(1-2p).
 *
 * Which estimate.  f need not be convex: on sparse designs log L + (1/2) log det I
 * can have two maxima with a saddle between them (e.g. a > c 50 times, a > b,
 * b > c: the data are symmetric under reversing the order, the root with theta_b
 * midway is a saddle and the maxima put b near a or near c; tests/test_firth.c).
 * Firth's (1993) estimate is defined as the root of the modified score U* = 0; we
 * return the root reached by the pseudo-data fixed point from 0 (or the warm
 * start), which is what R's brglm / BradleyTerry2's BTm(br = TRUE) compute too
 * (agreement 1e-8 on the data sets of tests/test_fit_r.sh, within brglm's own
 * convergence, ~1e-6, on random sparse designs with saddle roots included).  It
 * respects the symmetries of the data, and on every design where f has one
 * stationary point it is the maximiser of log L + (1/2) log det I.  At a saddle
 * root the penalised Hessian is indefinite and bt_covariance says so.  About 2% of
 * connected 30-item designs with 60 comparisons gave a saddle root, none at 200.
 *
 * Algorithm: the pseudo-data fixed point (Firth 1992; Kosmidis & Firth 2010; what
 * brglm does), handing over to Newton on the same equation when it is slow.  For
 * fixed h, U* is exactly the BT score of augmented data in which row i counts
 * c_i + h_i/2 times as observed (winner beats loser) and h_i/2 times reversed.
 * So, from theta_0 (the warm start, else 0):
 *   1. at theta: I (bt_design_hessian), its Cholesky factor and inverse, h and
 *      U*(theta); stop when ||U*|| <= tol x max(weight, 1), bt_fit's rule;
 *   2. theta <- the BT fit (bt_fit: the same Newton-CG, tolerance and l2) to the
 *      augmented data, warm started at theta;
 *   3. when the contraction is slow but steady (||U*|| falls by a ratio above 1/4,
 *      within 10% of the previous ratio: the linear phase near the root being
 *      approached), a damped Newton-Raphson step on U* = 0 with the exact Hessian
 *      (newton_step) replaces step 2 if it beats the fixed point's ratio, and is
 *      kept while it does (then quadratically); else step 2.
 * Why the fixed point first, and not Newton on f throughout: every fixed-point step
 * is a strictly convex BT fit done by a solver tested to 1e-10, and it always
 * exists, separable data included (every row is seen in both directions with
 * positive weight, so the augmented win graph is strongly connected whenever the
 * comparison graph is connected, and no feature direction separates a row from its
 * own reverse); it defines which root we report (brglm's), whereas Newton with a
 * line search on f from 0 would go to whichever maximum is downhill, breaking the
 * data's symmetry; and Newton needs the O(P^2) third-derivative part of the Hessian
 * (P distinct pairs) at every step.  The fixed point converges linearly, at a rate
 * set by the penalty's curvature against I's: a few iterations on well-determined
 * data (the citations, baseball and icehockey data: 4-6), more on sparse separable
 * data (up to 76 at 30 items and 60 comparisons), which the Newton hand-over cuts
 * to at most 22 (median 7); it is used while P^2 (x d for features) <= 1e8.  One
 * fixed-point iteration costs a d x d Cholesky inverse (m^3 for m items) plus a BT
 * fit.  A modified score that stops decreasing (by less than 10% in an iteration)
 * while within 1e3 x the tolerance is accepted as stationary up to rounding, the
 * slack bt_fit itself allows.
 *
 * Items: I is the weighted Laplacian (I 1 = 0).  Every x_i is orthogonal to 1, so
 * with B = (I + 11^T/m)^{-1}, x_i^T B x_j = x_i^T I^+ x_j, and det(I + 11^T/m) is the
 * pseudo-determinant.  Features: the Cholesky factor L of I gives u_k = L^{-1} phi_k,
 * and x_i^T I^{-1} x_j = (u_w - u_l) . (u_w' - u_l').  Everything is summed in row
 * order (pairs in key order), so a fit is bit-reproducible. */
#include <float.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "bt.h"

/* ------------------------------------------------------------ the state at theta */

typedef struct {
  const pref_data *d;
  const pref_features *f;
  size_t n, N, dim;
  int items;
  double *s;  /* N item scores phi theta */
  double *p;  /* n: sigma(z_i) */
  double *q;  /* n: 1 - p_i = sigma(-z_i), accurate in the upper tail */
  double *w;  /* n: c_i p_i (1 - p_i) */
  double *h;  /* n: leverages */
  double *A;  /* dim x dim: I (+ 11^T/m), then its Cholesky factor, then (items) B */
  double *U;  /* features: N x dim, row k = L^{-1} phi_k */
  double logdet; /* log det I (pseudo-determinant for items) */
} fstate;

static void fstate_free(fstate *st) {
  free(st->s);
  free(st->p);
  free(st->q);
  free(st->w);
  free(st->h);
  free(st->A);
  free(st->U);
  memset(st, 0, sizeof *st);
}

static int fstate_init(fstate *st, const pref_data *d, const pref_features *f, ps_msg *m) {
  memset(st, 0, sizeof *st);
  st->d = d;
  st->f = f;
  st->n = d->n;
  st->N = f->n_items;
  st->dim = f->d;
  st->items = f->phi == NULL;
  size_t n = st->n ? st->n : 1;
  st->s = malloc(st->N * sizeof(double));
  st->p = malloc(n * sizeof(double));
  st->q = malloc(n * sizeof(double));
  st->w = malloc(n * sizeof(double));
  st->h = malloc(n * sizeof(double));
  st->A = malloc(st->dim * st->dim * sizeof(double));
  if (!st->items) st->U = malloc(st->N * st->dim * sizeof(double));
  if (!st->s || !st->p || !st->q || !st->w || !st->h || !st->A || (!st->items && !st->U)) {
    fstate_free(st);
    return ps_fail(m, PS_ENOMEM, "out of memory for the Firth fit (%zu comparisons, dimension %zu)", d->n,
                   f->d);
  }
  return PS_OK;
}

/* s = phi theta */
static void scores(const fstate *st, const double *theta) {
  if (st->items) {
    memcpy(st->s, theta, st->N * sizeof(double));
    return;
  }
  for (size_t k = 0; k < st->N; k++) {
    const double *row = st->f->phi + k * st->dim;
    double acc = 0;
    for (size_t j = 0; j < st->dim; j++) acc += row[j] * theta[j];
    st->s[k] = acc;
  }
}

/* p, w, I, its Cholesky factor and log det, and the leverages h at theta.
 * PS_ESINGULAR when I is not positive definite on the identified space. */
static int fstate_at(fstate *st, const double *theta) {
  const pref_data *d = st->d;
  size_t dim = st->dim;
  scores(st, theta);
  for (size_t i = 0; i < st->n; i++) {
    double c = d->count ? d->count[i] : 1.0;
    double z = st->s[d->winner[i]] - st->s[d->loser[i]];
    st->p[i] = ps_sigmoid(z);
    st->q[i] = ps_sigmoid(-z);
    st->w[i] = c * st->p[i] * st->q[i];
  }
  if (bt_design_hessian(d, st->f, st->w, 0, st->A, NULL) != PS_OK) return PS_ENOMEM;
  if (st->items) {
    double J = 1.0 / (double)dim;
    for (size_t k = 0; k < dim * dim; k++) st->A[k] += J;
  }
  gsl_matrix_view A = gsl_matrix_view_array(st->A, dim, dim);
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int cs = gsl_linalg_cholesky_decomp1(&A.matrix);
  gsl_set_error_handler(old);
  if (cs != GSL_SUCCESS) return PS_ESINGULAR;
  double ld = 0;
  for (size_t k = 0; k < dim; k++) {
    double lk = st->A[k * dim + k];
    if (!(lk > 0)) return PS_ESINGULAR;
    ld += log(lk);
  }
  st->logdet = 2 * ld;
  if (st->items) {
    old = gsl_set_error_handler_off();
    cs = gsl_linalg_cholesky_invert(&A.matrix);
    gsl_set_error_handler(old);
    if (cs != GSL_SUCCESS) return PS_ESINGULAR;
    const double *B = st->A;
    for (size_t i = 0; i < st->n; i++) {
      size_t a = (size_t)d->winner[i], b = (size_t)d->loser[i];
      double xBx = B[a * dim + a] + B[b * dim + b] - 2 * B[a * dim + b];
      st->h[i] = st->w[i] * xBx;
    }
  } else {
    /* u_k = L^{-1} phi_k by forward substitution (L is the lower triangle of A) */
    const double *L = st->A;
    for (size_t k = 0; k < st->N; k++) {
      const double *ph = st->f->phi + k * dim;
      double *u = st->U + k * dim;
      for (size_t r = 0; r < dim; r++) {
        double acc = ph[r];
        for (size_t t = 0; t < r; t++) acc -= L[r * dim + t] * u[t];
        u[r] = acc / L[r * dim + r];
      }
    }
    for (size_t i = 0; i < st->n; i++) {
      const double *ua = st->U + (size_t)d->winner[i] * dim, *ub = st->U + (size_t)d->loser[i] * dim;
      double xBx = 0;
      for (size_t r = 0; r < dim; r++) {
        double t = ua[r] - ub[r];
        xBx += t * t;
      }
      st->h[i] = st->w[i] * xBx;
    }
  }
  return PS_OK;
}

/* Objective, gradient (grad may be NULL) and log-likelihood from a state at theta. */
static double fstate_eval(const fstate *st, double l2, const double *theta, double *grad, double *loglik) {
  const pref_data *d = st->d;
  double loss = 0, pen = 0;
  double *a = NULL;
  if (grad) {
    a = calloc(st->N, sizeof(double));
    if (!a) return NAN;
  }
  for (size_t i = 0; i < st->n; i++) {
    double c = d->count ? d->count[i] : 1.0;
    double z = st->s[d->winner[i]] - st->s[d->loser[i]];
    loss += c * ps_softplus(-z);
    if (a) {
      double r = c * st->q[i] + st->h[i] * (0.5 - st->p[i]); /* the modified score's row term */
      a[d->winner[i]] -= r;
      a[d->loser[i]] += r;
    }
  }
  for (size_t k = 0; k < st->dim; k++) pen += theta[k] * theta[k];
  if (grad) {
    if (st->items) {
      memcpy(grad, a, st->N * sizeof(double));
    } else {
      memset(grad, 0, st->dim * sizeof(double));
      for (size_t k = 0; k < st->N; k++) {
        if (a[k] == 0) continue;
        const double *row = st->f->phi + k * st->dim;
        for (size_t j = 0; j < st->dim; j++) grad[j] += a[k] * row[j];
      }
    }
    for (size_t k = 0; k < st->dim; k++) grad[k] += l2 * theta[k];
    free(a);
  }
  if (loglik) *loglik = -loss;
  return loss - 0.5 * st->logdet + 0.5 * l2 * pen;
}

static double norm2(const double *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += x[i] * x[i];
  return sqrt(s);
}

/* ------------------------------------------------------------ public: objective */

double bt_firth_objective(const pref_data *d, const pref_features *f, const bt_options *o,
                          const double *theta, double *grad, double *D, double *loglik) {
  fstate st;
  if (fstate_init(&st, d, f, NULL) != PS_OK) return NAN;
  double v;
  int s = fstate_at(&st, theta);
  if (s == PS_ESINGULAR) {
    v = INFINITY;
    if (grad)
      for (size_t k = 0; k < f->d; k++) grad[k] = NAN;
    if (loglik) {
      double ll = 0;
      for (size_t i = 0; i < d->n; i++)
        ll -= (d->count ? d->count[i] : 1.0) * ps_softplus(-(st.s[d->winner[i]] - st.s[d->loser[i]]));
      *loglik = ll;
    }
  } else if (s != PS_OK) {
    v = NAN;
  } else {
    v = fstate_eval(&st, o->l2, theta, grad, loglik);
  }
  if (D && s != PS_ENOMEM)
    for (size_t i = 0; i < d->n; i++) D[i] = st.w[i];
  fstate_free(&st);
  return v;
}

/* ------------------------------------------------------------ public: Hessian */

typedef struct {
  uint64_t key; /* a * N + b, a < b the pair's items */
  size_t row;
} pair_key;

static int pair_cmp(const void *x, const void *y) {
  const pair_key *a = x, *b = y;
  if (a->key != b->key) return a->key < b->key ? -1 : 1;
  return a->row < b->row ? -1 : a->row > b->row;
}

/* The exact Hessian from a state at theta (A holding B for items, U for features). */
static int hessian_from_state(const fstate *st, double l2, double *H, ps_msg *m) {
  const pref_data *d = st->d;
  size_t n = st->n, dim = st->dim, N = st->N;
  /* the part through X^T diag(v) X: I - (1/2) X^T diag(c w'' q) X, with
   * c w'' q = h (1 - 6 p (1 - p)) */
  double *v = malloc((n ? n : 1) * sizeof(double));
  pair_key *keys = malloc((n ? n : 1) * sizeof(pair_key));
  double *beta = malloc((n ? n : 1) * sizeof(double));
  size_t *pa = malloc((n ? n : 1) * sizeof(size_t)), *pb = malloc((n ? n : 1) * sizeof(size_t));
  double *M = calloc(dim * dim, sizeof(double));
  int status = PS_OK;
  if (!v || !keys || !beta || !pa || !pb || !M) {
    status = ps_fail(m, PS_ENOMEM, "out of memory for the Firth Hessian");
    goto done;
  }
  for (size_t i = 0; i < n; i++) v[i] = st->w[i] - 0.5 * st->h[i] * (1 - 6 * st->p[i] * st->q[i]);
  status = bt_design_hessian(d, st->f, v, l2, H, m);
  if (status != PS_OK) goto done;
  /* the part (1/2) X^T diag(c w') (Q o Q) diag(c w') X, c w' = w (1 - 2p), with rows
   * aggregated by unordered pair {a, b}: a row and its reverse have the same
   * c w' x (both signs flip), so beta_P = sum over the pair's rows of c w' (+1 when
   * the winner is a, -1 otherwise), x_P = phi_a - phi_b */
  for (size_t i = 0; i < n; i++) {
    size_t a = (size_t)d->winner[i], b = (size_t)d->loser[i];
    keys[i].key = a < b ? (uint64_t)a * N + b : (uint64_t)b * N + a;
    keys[i].row = i;
  }
  qsort(keys, n, sizeof *keys, pair_cmp);
  size_t P = 0;
  for (size_t k = 0; k < n; k++) {
    size_t i = keys[k].row;
    size_t a = (size_t)d->winner[i], b = (size_t)d->loser[i];
    double alpha = st->w[i] * (st->q[i] - st->p[i]);
    if (a > b) alpha = -alpha, a = (size_t)d->loser[i], b = (size_t)d->winner[i];
    if (P > 0 && keys[k].key == keys[k - 1].key) {
      beta[P - 1] += alpha;
    } else {
      pa[P] = a;
      pb[P] = b;
      beta[P++] = alpha;
    }
  }
  if (st->items) {
    const double *B = st->A;
    for (size_t r = 0; r < P; r++) {
      size_t a = pa[r], b = pb[r];
      const double *Ba = B + a * dim, *Bb = B + b * dim;
      double *Ma = M + a * dim, *Mb = M + b * dim;
      for (size_t t = 0; t < P; t++) {
        size_t a2 = pa[t], b2 = pb[t];
        double Q = Ba[a2] - Ba[b2] - Bb[a2] + Bb[b2];
        double c = 0.5 * beta[r] * beta[t] * Q * Q;
        Ma[a2] += c;
        Ma[b2] -= c;
        Mb[a2] -= c;
        Mb[b2] += c;
      }
    }
  } else {
    double *zr = malloc(dim * sizeof(double)), *zt = malloc(dim * sizeof(double));
    double *acc = malloc(dim * sizeof(double)), *xr = malloc(dim * sizeof(double));
    if (!zr || !zt || !acc || !xr) {
      free(zr), free(zt), free(acc), free(xr);
      status = ps_fail(m, PS_ENOMEM, "out of memory for the Firth Hessian");
      goto done;
    }
    const double *phi = st->f->phi, *U = st->U;
    for (size_t r = 0; r < P; r++) {
      for (size_t j = 0; j < dim; j++) {
        zr[j] = U[pa[r] * dim + j] - U[pb[r] * dim + j];
        xr[j] = phi[pa[r] * dim + j] - phi[pb[r] * dim + j];
        acc[j] = 0;
      }
      for (size_t t = 0; t < P; t++) {
        double Q = 0;
        for (size_t j = 0; j < dim; j++) {
          zt[j] = U[pa[t] * dim + j] - U[pb[t] * dim + j];
          Q += zr[j] * zt[j];
        }
        double c = beta[t] * Q * Q;
        for (size_t j = 0; j < dim; j++) acc[j] += c * (phi[pa[t] * dim + j] - phi[pb[t] * dim + j]);
      }
      for (size_t j = 0; j < dim; j++)
        for (size_t k = 0; k < dim; k++) M[j * dim + k] += 0.5 * beta[r] * xr[j] * acc[k];
    }
    free(zr), free(zt), free(acc), free(xr);
  }
  /* M is symmetric in exact arithmetic; add its symmetric part */
  for (size_t j = 0; j < dim; j++)
    for (size_t k = 0; k <= j; k++) {
      double s = 0.5 * (M[j * dim + k] + M[k * dim + j]);
      H[j * dim + k] += s;
      if (k != j) H[k * dim + j] += s;
    }
done:
  free(v);
  free(keys);
  free(beta);
  free(pa);
  free(pb);
  free(M);
  return status;
}

static int singular_msg(const fstate *st, ps_msg *m) {
  if (st->items)
    return ps_fail(m, PS_ENOMLE,
                   "the Fisher information is singular on the sum-zero space: the comparison graph is not "
                   "connected, so the Firth penalty is undefined");
  return ps_fail(m, PS_ESINGULAR,
                 "the comparison differences do not span the %zu-dimensional feature space, so the Fisher "
                 "information is singular and the Firth penalty undefined",
                 st->dim);
}

int bt_firth_hessian(const pref_data *d, const pref_features *f, const bt_options *o, const double *theta,
                     double *H, ps_msg *m) {
  fstate st;
  int s = fstate_init(&st, d, f, m);
  if (s != PS_OK) return s;
  s = fstate_at(&st, theta);
  if (s == PS_ESINGULAR) s = singular_msg(&st, m);
  else if (s != PS_OK) s = ps_fail(m, s, "out of memory for the Firth Hessian");
  else s = hessian_from_state(&st, o->l2, H, m);
  fstate_free(&st);
  return s;
}

/* ------------------------------------------------------------ connectivity */

static size_t uf_find(size_t *parent, size_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

int bt_check_connected(const pref_data *d, const char *const *item_name, ps_msg *m) {
  size_t N = d->n_items;
  if (N <= 1) return PS_OK;
  size_t *parent = malloc(N * sizeof(size_t));
  if (!parent) return ps_fail(m, PS_ENOMEM, "out of memory");
  for (size_t k = 0; k < N; k++) parent[k] = k;
  for (size_t i = 0; i < d->n; i++) {
    size_t a = uf_find(parent, (size_t)d->winner[i]), b = uf_find(parent, (size_t)d->loser[i]);
    if (a != b) parent[a < b ? b : a] = a < b ? a : b;
  }
  size_t comps = 0, other = 0;
  size_t root0 = uf_find(parent, 0);
  for (size_t k = 0; k < N; k++) {
    size_t r = uf_find(parent, k);
    if (r == k) comps++;
    if (!other && r != root0) other = k;
  }
  free(parent);
  if (comps == 1) return PS_OK;
  char b0[32], b1[32];
  snprintf(b0, sizeof b0, "0");
  snprintf(b1, sizeof b1, "%zu", other);
  return ps_fail(m, PS_ENOMLE,
                 "the comparison graph is disconnected (%zu components; e.g. item '%s' is never linked to item "
                 "'%s'), so the scores of different components are not comparable",
                 comps, item_name ? item_name[other] : b1, item_name ? item_name[0] : b0);
}

/* ------------------------------------------------------------ the fit */

static void centre(double *v, size_t n) {
  double mean = 0;
  for (size_t i = 0; i < n; i++) mean += v[i];
  mean /= (double)n;
  for (size_t i = 0; i < n; i++) v[i] -= mean;
}

/* One damped Newton-Raphson step on the modified score equation grad f = 0 from
 * theta (st holds the state at theta, g = grad f there): the direction solves
 * H step = -g with the exact Hessian (+ 11^T/m for items, whose f is flat along 1)
 * by LU, which also serves an indefinite H (the root the fixed point converges to
 * may be a saddle of f, see the top of the file); it is a descent direction of
 * ||g||^2 whenever H is nonsingular.  Steps t = 1, 1/2, 1/4, 1/8 of it are tried,
 * and the first whose gradient norm is at most target x ||g|| (target: what the
 * fixed point achieves per step) is kept: 1 is returned with theta moved, st at the
 * new theta and g its gradient; else 0, theta unchanged (st holds another point:
 * the caller recomputes it). */
static int newton_step(fstate *st, double l2, double *theta, double *g, double target, double *H, double *step,
                       double *trial, double *gt) {
  size_t dim = st->dim;
  if (hessian_from_state(st, l2, H, NULL) != PS_OK) return 0;
  if (st->items) {
    double J = 1.0 / (double)dim;
    for (size_t k = 0; k < dim * dim; k++) H[k] += J;
  }
  gsl_permutation *perm = gsl_permutation_alloc(dim);
  if (!perm) return 0;
  gsl_matrix_view A = gsl_matrix_view_array(H, dim, dim);
  gsl_vector_const_view b = gsl_vector_const_view_array(g, dim);
  gsl_vector_view x = gsl_vector_view_array(step, dim);
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int sign, cs = gsl_linalg_LU_decomp(&A.matrix, perm, &sign);
  if (cs == GSL_SUCCESS) cs = gsl_linalg_LU_solve(&A.matrix, perm, &b.vector, &x.vector);
  gsl_set_error_handler(old);
  gsl_permutation_free(perm);
  if (cs != GSL_SUCCESS) return 0;
  double gnorm = 0;
  for (size_t k = 0; k < dim; k++) {
    if (!isfinite(step[k])) return 0;
    gnorm += g[k] * g[k];
  }
  for (double t = 1; t >= 0.125; t *= 0.5) {
    for (size_t k = 0; k < dim; k++) trial[k] = theta[k] - t * step[k];
    if (st->items) centre(trial, dim);
    if (fstate_at(st, trial) != PS_OK) continue;
    fstate_eval(st, l2, trial, gt, NULL);
    double gg = 0;
    for (size_t k = 0; k < dim; k++) gg += gt[k] * gt[k];
    if (gg <= target * target * gnorm) {
      memcpy(theta, trial, dim * sizeof(double));
      memcpy(g, gt, dim * sizeof(double));
      return 1;
    }
  }
  return 0;
}

int bt_firth_fit(const pref_data *d, const pref_features *f, const bt_options *o, bt_result *res, ps_msg *m) {
  memset(res, 0, sizeof *res);
  size_t dim = f->d, n = d->n;
  int items = f->phi == NULL;
  res->d = dim;
  int status;
  if (o->link != BT_LINK_LOGISTIC) {
    res->theta = calloc(dim, sizeof(double));
    status = ps_fail(m, PS_EINVAL,
                     "firth needs the logistic link (the Jeffreys penalty of the probit model is not implemented)");
    res->status = status;
    return status;
  }
  fstate st;
  pref_data aug;
  memset(&aug, 0, sizeof aug);
  double *H = NULL, *step = NULL, *trial = NULL, *gt = NULL;
  double *g = malloc(dim * sizeof(double));
  res->theta = calloc(dim, sizeof(double));
  if ((status = fstate_init(&st, d, f, m)) != PS_OK) {
    free(g);
    res->status = status;
    return status;
  }
  if (!g || !res->theta || pref_data_alloc(&aug, 2 * n, d->n_items, 0, 0, 1) != PS_OK) {
    status = ps_fail(m, PS_ENOMEM, "out of memory for the Firth fit (%zu comparisons, dimension %zu)", n, dim);
    goto done;
  }
  double *theta = res->theta;
  /* identifiability: items need a connected graph (said with the component count);
   * features a design that spans R^d, checked on I at theta = 0 with bt's criterion
   * for a numerically singular Cholesky factor */
  if (items && (status = bt_check_connected(d, NULL, m)) != PS_OK) goto done;
  status = fstate_at(&st, theta);
  if (status == PS_OK && !items) {
    double mind = INFINITY, maxd = 0;
    for (size_t k = 0; k < dim; k++) {
      mind = fmin(mind, st.A[k * dim + k]);
      maxd = fmax(maxd, st.A[k * dim + k]);
    }
    if (mind <= 1e-7 * maxd) status = PS_ESINGULAR;
  }
  if (status == PS_ESINGULAR) {
    status = singular_msg(&st, m);
    goto done;
  }
  if (status != PS_OK) {
    status = ps_fail(m, status, "out of memory for the Firth fit");
    goto done;
  }
  if (o->theta0) {
    for (size_t k = 0; k < dim; k++) {
      if (!isfinite(o->theta0[k])) {
        status = ps_fail(m, PS_EDOM, "warm start theta0[%zu] is not finite", k);
        goto done;
      }
      theta[k] = o->theta0[k];
    }
    if (items) centre(theta, dim);
  }
  /* Newton steps need the exact Hessian, O(P^2) (x d for features) for P distinct
   * pairs: allowed while that is below 1e8 */
  size_t P = 0;
  {
    pair_key *keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys) {
      status = ps_fail(m, PS_ENOMEM, "out of memory for the Firth fit");
      goto done;
    }
    for (size_t i = 0; i < n; i++) {
      size_t a = (size_t)d->winner[i], b = (size_t)d->loser[i];
      keys[i].key = a < b ? (uint64_t)a * f->n_items + b : (uint64_t)b * f->n_items + a;
      keys[i].row = i;
    }
    qsort(keys, n, sizeof *keys, pair_cmp);
    for (size_t k = 0; k < n; k++) P += k == 0 || keys[k].key != keys[k - 1].key;
    free(keys);
  }
  int newton_ok = (double)P * (double)P * (items ? 1.0 : (double)dim) <= 1e8, newton = 0, have_state = 0;
  H = malloc(dim * dim * sizeof(double));
  step = malloc(dim * sizeof(double));
  trial = malloc(dim * sizeof(double));
  gt = malloc(dim * sizeof(double));
  if (!H || !step || !trial || !gt) {
    status = ps_fail(m, PS_ENOMEM, "out of memory for the Firth fit");
    goto done;
  }
  double W = pref_data_weight(d);
  double tol_abs = o->tol * (W > 1 ? W : 1), gnorm = INFINITY, prev = INFINITY, prev_ratio = NAN;
  bt_options inner = bt_options_default();
  inner.l2 = o->l2;
  inner.tol = o->tol;
  inner.max_iter = o->max_iter;
  inner.theta0 = theta;
  status = PS_ENOCONV;
  int it;
  for (it = 0;; it++) {
    int s = have_state ? PS_OK : fstate_at(&st, theta);
    have_state = 0;
    if (s != PS_OK) {
      status = s == PS_ESINGULAR ? ps_fail(m, PS_EDOM,
                                           "the Fisher information became numerically singular at iteration %d "
                                           "(margins beyond the range of double precision)",
                                           it)
                                 : ps_fail(m, s, "out of memory for the Firth fit");
      goto done;
    }
    fstate_eval(&st, o->l2, theta, g, NULL);
    gnorm = norm2(g, dim);
    if (!isfinite(gnorm)) {
      status = ps_fail(m, PS_EDOM, "the modified score became non-finite at iteration %d", it);
      goto done;
    }
    if (gnorm <= tol_abs) {
      status = PS_OK;
      break;
    }
    if (gnorm <= 1e3 * tol_abs && gnorm >= 0.9 * prev) {
      status = PS_OK; /* stationary up to rounding */
      break;
    }
    if (it >= o->max_iter) break;
    double ratio = gnorm / prev;
    prev = gnorm;
    /* a slow but steady contraction (ratio above 1/4 and within 10% of the last
     * one: the linear phase near the root the fixed point is converging to) hands
     * over to Newton on the same equation, kept while it is accepted; else, or when
     * it fails, the fixed-point step */
    int steady = it >= 3 && ratio > 0.25 && fabs(ratio - prev_ratio) <= 0.1 * prev_ratio;
    prev_ratio = ratio;
    if (newton_ok && (newton || steady)) {
      newton = newton_step(&st, o->l2, theta, g, fmax(ratio, 0.25), H, step, trial, gt);
      if (newton) {
        have_state = 1;
        continue;
      }
      if ((s = fstate_at(&st, theta)) != PS_OK) {
        status = ps_fail(m, s == PS_ESINGULAR ? PS_EDOM : s, "the Fisher information failed at iteration %d", it);
        goto done;
      }
    }
    /* the augmented data: row i (c_i + h_i/2) as observed, (h_i/2) reversed; a
     * reversed weight that underflows to 0 is left out (counts must be positive) */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      double c = d->count ? d->count[i] : 1.0;
      aug.winner[k] = d->winner[i];
      aug.loser[k] = d->loser[i];
      aug.count[k++] = c + 0.5 * st.h[i];
      if (0.5 * st.h[i] > 0) {
        aug.winner[k] = d->loser[i];
        aug.loser[k] = d->winner[i];
        aug.count[k++] = 0.5 * st.h[i];
      }
    }
    aug.n = k;
    bt_result ir;
    ps_msg im = {{0}};
    s = bt_fit(&aug, f, &inner, &ir, &im);
    res->cg_iterations += ir.cg_iterations;
    if (s != PS_OK) {
      status = ps_fail(m, s == PS_ENOMEM ? PS_ENOMEM : PS_ENOCONV,
                       "Firth iteration %d: the weighted BT fit to the pseudo-data failed: %s", it + 1, im.text);
      bt_result_free(&ir);
      goto done;
    }
    memcpy(theta, ir.theta, dim * sizeof(double));
    bt_result_free(&ir);
  }
  res->iterations = it;
  res->grad_norm = gnorm;
  double loglik = 0;
  res->objective = fstate_eval(&st, o->l2, theta, NULL, &loglik);
  res->loglik = loglik;
  if (status == PS_ENOCONV)
    ps_fail(m, PS_ENOCONV, "no convergence after %d Firth iterations (modified score norm %.3g > %.3g)", it, gnorm,
            tol_abs);
  if (status == PS_OK && o->want_hessian) {
    res->hessian = malloc(dim * dim * sizeof(double));
    if (!res->hessian) {
      status = ps_fail(m, PS_ENOMEM, "out of memory for the %zux%zu Hessian", dim, dim);
      goto done;
    }
    status = hessian_from_state(&st, o->l2, res->hessian, m);
  }
done:
  res->status = status;
  free(g);
  free(H);
  free(step);
  free(trial);
  free(gt);
  pref_data_free(&aug);
  fstate_free(&st);
  return status;
}
