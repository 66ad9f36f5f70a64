/* dpo_fused.c — Newton-CG and the fused (quasi-)Newton solver of log-linear DPO on
 * features (see dpo.c for the objective and dpo_internal.h for what the files share). */
#include "dpo.h"
#include "dpo_internal.h"

#include <gsl/gsl_cblas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_randist.h>
#include <lbfgs.h>
#include <omp.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/adam.h"
#include "../core/newton.h"
#include "../core/numerics.h"
#include "bt.h"

/* OpenBLAS (linked; not in GSL's cblas header) */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int n);


/* out = (float)(sc (x - y)) */
static inline void diff_scale_f(float *out, double sc, const double *x, const double *y, size_t n) {
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (size_t q = 0; q < 8; q++) out[k + q] = (float)(sc * (x[k + q] - y[k + q]));
  for (; k < n; k++) out[k] = (float)(sc * (x[k] - y[k]));
}

/* ---------------- fused Newton-CG for features ---------------- */

/* Rows grouped by context (a counting sort), so that one sweep over the contexts
 * touches each block Phi_c (m x d, contiguous) once while it is in cache.  Per
 * Newton iteration: one gradient sweep (s_c = Phi_c theta, row terms, g += Phi_c^T a_c)
 * and one sweep per CG step (t_c = Phi_c v, b_c = L_c(D) t_c over the rows,
 * Hv += Phi_c^T b_c).  CG also accumulates Phi p = sum alpha_k Phi d_k from the t
 * vectors it already computed, so the Armijo line search evaluates F(theta + t p)
 * from s + t Phi p with row passes only.  Forcing term eta = min(0.5, sqrt(||g|| /
 * ||g_0||)) (Eisenstat-Walker: superlinear local convergence). */
typedef struct {
  size_t *start;   /* C + 1 offsets into rows */
  size_t *rows;    /* row ids sorted by context */
  uint8_t *lw, *ll; /* local winner / loser (item - c m) of each sorted row (m <= 256) */
  uint8_t *used;   /* 1 for the items that some row compares (n_items; m <= 256) */
  double *cw;      /* weight of each sorted row */
  double *D;       /* per-row c_i l''(Delta_i), in context order */
  double *u;       /* Phi p (n_items) */
  double *t;       /* Phi v of the current CG direction (n_items) */
  double *b;       /* scratch (n_items) */
} ncg_ws;

static int ncg_sort(const dpo_space *sp, ncg_ws *w, int rows);

static void ncg_free(ncg_ws *w) {
  free(w->used);
  free(w->lw);
  free(w->ll);
  free(w->cw);
  free(w->start);
  free(w->rows);
  free(w->D);
  free(w->u);
  free(w->t);
  free(w->b);
}

/* F at the item scores base + step * dir (dir may be NULL) over the rows; fills sp->gs
 * and w->D when grad is set.  No penalty. */
static double ncg_rows(dpo_space *sp, ncg_ws *w, const double *base, const double *dir, double step, int grad) {
  const pref_data *d = sp->d;
  const dpo_options *o = sp->o;
  double F = 0;
  if (grad) memset(sp->gs, 0, sp->f->n_items * sizeof(double));
  for (size_t k = 0; k < d->n; k++) {
    size_t i = w->rows[k], a = (size_t)d->winner[i], b = (size_t)d->loser[i];
    double c = d->count ? d->count[i] : 1.0, delta = base[a] - base[b], g, h;
    if (dir) delta += step * (dir[a] - dir[b]);
    F += c * dpo_loss_eval(o, delta, grad ? &g : NULL, grad ? &h : NULL);
    if (grad) {
      sp->gs[a] += c * g;
      sp->gs[b] -= c * g;
      w->D[k] = c * h;
    }
  }
  return F;
}

/* One sweep: s = Phi theta, then row terms, then grad = Phi^T gs + l2 theta. */
static double ncg_gradient(dpo_space *sp, ncg_ws *w, const double *theta, double *grad) {
  const pref_features *f = sp->f;
  size_t M = sp->M, dim = f->d;
  /* scores for every context first (a context's rows only need its own block, so
   * the sweep is context by context: scores, rows, projection) */
  const pref_data *d = sp->d;
  const dpo_options *o = sp->o;
  double F = 0, pen = 0;
  for (size_t k = 0; k < dim; k++) grad[k] = o->l2 * theta[k], pen += theta[k] * theta[k];
  for (size_t c = 0; c < sp->C; c++) {
    if (w->start[c] == w->start[c + 1]) continue;
    const double *P = f->phi + c * M * dim;
    double *s = sp->s + c * M, *a = sp->gs + c * M;
    for (size_t j = 0; j < M; j++) {
      s[j] = dot8(P + j * dim, theta, dim);
      a[j] = 0;
    }
    for (size_t k = w->start[c]; k < w->start[c + 1]; k++) {
      size_t i = w->rows[k], x = (size_t)d->winner[i] - c * M, y = (size_t)d->loser[i] - c * M;
      double cw = d->count ? d->count[i] : 1.0, g, h;
      F += cw * dpo_loss_eval(o, s[x] - s[y], &g, &h);
      a[x] += cw * g;
      a[y] -= cw * g;
      w->D[k] = cw * h;
    }
    for (size_t j = 0; j < M; j++) {
      double aj = a[j];
      if (aj == 0) continue;
      const double *pj = P + j * dim;
      for (size_t k = 0; k < dim; k++) grad[k] += aj * pj[k];
    }
  }
  return F + 0.5 * o->l2 * pen;
}

/* Hv = sum_c Phi_c^T L_c Phi_c v + l2 v; w->t receives Phi v. */
static void ncg_hv(dpo_space *sp, ncg_ws *w, const double *v, double *Hv) {
  const pref_features *f = sp->f;
  const pref_data *d = sp->d;
  size_t M = sp->M, dim = f->d;
  for (size_t k = 0; k < dim; k++) Hv[k] = sp->o->l2 * v[k];
  for (size_t c = 0; c < sp->C; c++) {
    if (w->start[c] == w->start[c + 1]) continue;
    const double *P = f->phi + c * M * dim;
    double *t = w->t + c * M, *b = w->b + c * M;
    for (size_t j = 0; j < M; j++) {
      t[j] = dot8(P + j * dim, v, dim);
      b[j] = 0;
    }
    for (size_t k = w->start[c]; k < w->start[c + 1]; k++) {
      size_t i = w->rows[k], x = (size_t)d->winner[i] - c * M, y = (size_t)d->loser[i] - c * M;
      double q = w->D[k] * (t[x] - t[y]);
      b[x] += q;
      b[y] -= q;
    }
    for (size_t j = 0; j < M; j++) {
      double bj = b[j];
      if (bj == 0) continue;
      const double *pj = P + j * dim;
      for (size_t k = 0; k < dim; k++) Hv[k] += bj * pj[k];
    }
  }
}

/* The Newton-CG fit's callbacks (core/newton.h).  The direction is CG on H p = -g from
 * p = 0 (Hessian-vector products at the curvature of fdf's last sweep), which also
 * accumulates u = Phi p, so that the line search evaluates F(theta + t p) from the
 * scores s + t u with row passes only: rows(s + t u) + (l2/2)||theta + t p||^2. */
typedef struct {
  dpo_space *sp;
  ncg_ws *w;
  double *r, *dir, *Hd; /* CG residual, direction and H dir (dim) */
  double g0;            /* ||g|| at the start: the forcing term is min(0.5, sqrt(||g|| / g0)) */
  double th2, tp, pp;   /* ||theta||^2, theta.p, ||p||^2 of the current direction */
  int scores_at_theta;  /* 0 once fdf scored another point (a probe) than the search's theta */
  int cg_total;
} cg_newton;

static double cg_fdf(void *params, const double *theta, double *g) {
  cg_newton *c = params;
  c->scores_at_theta = 0;
  return ncg_gradient(c->sp, c->w, theta, g);
}

static int cg_direction(void *params, const double *theta, const double *g, double *p, ps_msg *m) {
  cg_newton *c = params;
  dpo_space *sp = c->sp;
  ncg_ws *w = c->w;
  size_t dim = sp->dim, N = sp->f->n_items;
  double *r = c->r, *dir = c->dir, *Hd = c->Hd, gn = dpo_vnorm(g, dim);
  (void)m;
  c->scores_at_theta = 1; /* the driver asks right after evaluating theta */
  double eta = fmin(0.5, sqrt(gn / c->g0)), rr = 0;
  memset(p, 0, dim * sizeof(double));
  memset(w->u, 0, N * sizeof(double));
  for (size_t k = 0; k < dim; k++) r[k] = -g[k], dir[k] = r[k], rr += r[k] * r[k];
  for (int cg = 0; cg < 2 * (int)dim + 10 && sqrt(rr) > eta * gn; cg++) {
    ncg_hv(sp, w, dir, Hd);
    c->cg_total++;
    double dHd = 0;
    for (size_t k = 0; k < dim; k++) dHd += dir[k] * Hd[k];
    if (!(dHd > 0)) break; /* no curvature along dir: keep the current p */
    double alpha = rr / dHd, rr2 = 0;
    for (size_t k = 0; k < dim; k++) {
      p[k] += alpha * dir[k];
      r[k] -= alpha * Hd[k];
      rr2 += r[k] * r[k];
    }
    for (size_t j = 0; j < N; j++) w->u[j] += alpha * w->t[j];
    double beta_cg = rr2 / rr;
    rr = rr2;
    for (size_t k = 0; k < dim; k++) dir[k] = r[k] + beta_cg * dir[k];
  }
  c->th2 = c->tp = c->pp = 0;
  for (size_t k = 0; k < dim; k++) c->pp += p[k] * p[k], c->tp += theta[k] * p[k], c->th2 += theta[k] * theta[k];
  return PS_OK;
}

static double cg_line(void *params, const double *theta, const double *p, double t) {
  cg_newton *c = params;
  dpo_space *sp = c->sp;
  (void)p;
  if (!c->scores_at_theta) { /* a failed probe scored theta + p: the search needs theta's scores back */
    ncg_gradient(sp, c->w, theta, c->Hd);
    c->scores_at_theta = 1;
  }
  return ncg_rows(sp, c->w, sp->s, c->w->u, t, 0) + 0.5 * sp->o->l2 * (c->th2 + 2 * t * c->tp + t * t * c->pp);
}

int dpo_newton_cg(dpo_space *sp, double *theta, dpo_result *res, ps_msg *m) {
  const pref_data *d = sp->d;
  const dpo_options *o = sp->o;
  size_t dim = sp->dim, N = sp->f->n_items;
  ncg_ws w = {0};
  cg_newton c = {.sp = sp, .w = &w};
  c.r = malloc(dim * sizeof(double));
  c.dir = malloc(dim * sizeof(double));
  c.Hd = malloc(dim * sizeof(double));
  w.D = malloc(d->n * sizeof(double));
  w.u = malloc(N * sizeof(double));
  w.t = malloc(N * sizeof(double));
  w.b = malloc(N * sizeof(double));
  newton_solver *s = newton_alloc(dim);
  int status = PS_OK;
  if (!c.r || !c.dir || !c.Hd || !s || ncg_sort(sp, &w, 1) != PS_OK || !w.D || !w.u || !w.t || !w.b) {
    status = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  newton_function fn = {.n = dim, .fdf = cg_fdf, .direction = cg_direction, .line = cg_line, .params = &c};
  newton_params par = newton_params_default();
  par.probe = dpo_f_rounding_coef(sp);
  int separable = dpo_may_separate(o);
  newton_set(s, &fn, &par, theta);
  c.g0 = newton_gradient_norm(s);
  int it = 0;
  res->converged = 0;
  for (;; it++) {
    double gn = newton_gradient_norm(s);
    if (gn <= o->tol * sp->W) {
      res->converged = 1;
      break;
    }
    if (separable && dpo_separated(sp)) {
      status = dpo_fail_separable(o, m);
      break;
    }
    if (it >= o->max_iter) {
      status = ps_fail(m, PS_ENOCONV, "Newton-CG: ||grad|| = %.3g > %.3g after %d iterations", gn, o->tol * sp->W, it);
      break;
    }
    if ((status = newton_direction(s, m)) != PS_OK) break;
    if (!(newton_slope(s) < 0)) {
      status = ps_fail(m, PS_ESINGULAR, "Newton-CG found no descent direction at ||grad|| = %.3g (singular design?)", gn);
      break;
    }
    if (newton_step(s) != PS_OK) {
      status = ps_fail(m, PS_ENOCONV, "Newton-CG: line search failed at ||grad|| = %.3g (tolerance %.3g)", gn,
                       o->tol * sp->W);
      break;
    }
  }
  memcpy(theta, newton_x(s), dim * sizeof(double));
  res->objective = newton_f(s);
  res->grad_norm = newton_gradient_norm(s);
  res->iterations = it;
  res->cg_iterations = c.cg_total;
done:
  ncg_free(&w);
  newton_free(s);
  free(c.r);
  free(c.dir);
  free(c.Hd);
  return status;
}

/* Index of the first non-finite x[k], n if none.  Blocks of 4096 are screened with
 * sums of x * 0 in 8 lanes (0 for finite x, NaN otherwise; vectorised by the
 * compiler, so the check of large feature matrices runs at memory speed) and only a
 * block that fails is scanned element by element. */
static size_t first_nonfinite(const double *x, size_t n) {
  for (size_t b = 0; b < n; b += 4096) {
    size_t e = b + 4096 < n ? b + 4096 : n, k = b;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; k + 8 <= e; k += 8)
      for (size_t q = 0; q < 8; q++) acc[q] += x[k + q] * 0.0;
    double sum = 0;
    for (size_t q = 0; q < 8; q++) sum += acc[q];
    for (; k < e; k++) sum += x[k] * 0.0;
    if (sum == 0) continue;
    for (k = b; k < e; k++)
      if (!isfinite(x[k])) return k;
  }
  return n;
}

/* PS_EDOM naming the first non-finite feature, PS_OK if there is none. */
int dpo_phi_check(const pref_features *f, ps_msg *m) {
  size_t k = first_nonfinite(f->phi, f->n_items * f->d);
  if (k < f->n_items * f->d) return ps_fail(m, PS_EDOM, "feature %zu of item %zu is not finite", k % f->d, k / f->d);
  return PS_OK;
}

/* ---------------- fused (quasi-)Newton for features (the default) ----------------
 *
 * One sweep over the contexts computes F, the gradient and, when asked, the exact
 * Hessian: while Phi_c is in cache, s_c = Phi_c theta, the row terms, g += Phi_c^T a_c,
 * and the scaled rows sqrt(c_i l''_i) x_i are written into a small cache-resident
 * block that BLAS ssyrk adds into H (H = X^T D X, never materialising X).  The
 * Hessian blocks are single precision, summed in double: H only steers the step
 * (relative error ~1e-7), while F, the gradient and the stopping test are double (as
 * bt.c keeps its curvature weights in float).  The full step is taken speculatively:
 * the sweep at theta + p both tests Armijo and, when accepted (the usual case), is the
 * next iteration's sweep, so an iteration costs one read of the features.
 *
 * Fewer sweeps and fewer Hessians (a sweep reads the features once; the ssyrk costs
 * about as much again):
 *  - warm start on nested subsamples of the contexts: every S-th context, S = 8^k,
 *    for each S that leaves >= FUSED_LEVEL_ROWS d rows, coarsest first, with l2
 *    scaled by the level's weight.  On a level, (quasi-)Newton as on the full data
 *    below (exact Hessian at its first sweep, then BFGS; exact in every sweep cost
 *    ~3 ms more on the DPO bench for the same path) until the decrement g^T B^-1 g <= d,
 *    then that last step unverified: at a level's optimum the next level's decrement
 *    is its sampling discrepancy, E[g^T H^-1 g] ~ d (1 - f) / f = 7 d for the fraction
 *    f = 1/8, so optimising a level further buys nothing (0.1 d cost one more sweep of
 *    each level, for the same full-data path).  A level costs 1/S of a sweep; a level
 *    that fails (separable, singular, not converging) is skipped.
 *  - the full data from there: the first sweep builds the exact Hessian, which seeds
 *    BFGS (Nocedal & Wright §6.1; the update is skipped unless y^T s > 1e-10 ||y||
 *    ||s||); later sweeps build no Hessian unless the last step reduced ||g|| by less
 *    than FUSED_RHO (then B is reset to the new exact Hessian); a failed line search
 *    or Cholesky on a BFGS matrix retries once from the exact Hessian.  On the DPO
 *    bench (n = 2e5, d = 64) this is 1 Hessian and 4 gradient sweeps of all rows plus
 *    levels worth ~0.4 sweep, instead of 8 sweeps with a Hessian each.
 *  - Armijo's sufficient decrease (1e-4) is waived for the full step when the
 *    predicted decrease -g^T p is below the rounding of F (1e-12 |F|) and ||g||
 *    falls: F cannot resolve such steps, the gradient can.
 *  - items that no row compares are not read, except in the first full sweep, which
 *    scores every item: that is the check of phi for non-finite values (a non-finite
 *    feature makes its score non-finite, even where theta is 0), instead of a
 *    separate read in check_input.
 *  - threads: the contexts are cut into FUSED_CHUNKS chunks, a fixed partition;
 *    threads take chunks and the partial sums are added in chunk order, so the fit
 *    is bit-identical for any thread count.  Inside a parallel region (a sweep's
 *    cells) or below FUSED_PAR_ROWS rows the fit runs on one thread.
 * The stopping test is unchanged (||grad|| <= tol W at a swept point, in double), so
 * the result is the same minimiser to the tolerance; levels and BFGS only choose the
 * path.  Cholesky failure of the exact Hessian = the design does not span R^d:
 * PS_ESINGULAR (dpo_fit then lets the double-precision Newton decide). */
#define FUSED_BLOCK 1024      /* rows per ssyrk call: 1024 x d floats (256 KiB at d = 64) stay in L2 */
#define FUSED_LEVEL_ROWS 32   /* a warm-start level needs >= 32 d rows */
#define FUSED_LEVEL_STEP 8    /* each level has 8x the contexts of the one before */
#define FUSED_LB 32           /* rows whose exp / log1p are evaluated in one batch */
#define FUSED_RHO 0.25        /* rebuild the Hessian when ||g_new|| > FUSED_RHO ||g_old|| */
#define FUSED_PAR_ROWS 20000 /* fewer rows: one thread */
#define FUSED_TLS_BYTES ((size_t)256 << 20) /* the threads' scratch together */
#define FUSED_CHUNKS 64       /* fixed partition of the contexts for the threads (results do not depend on them) */

static void fused_flush(const float *blk, size_t nb, size_t dim, float *Hb, double *H) {
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)dim, (int)nb, 1.0f, blk, (int)dim, 0.0f, Hb, (int)dim);
  for (size_t k = 0; k < dim; k++)
    for (size_t l = k; l < dim; l++) H[k * dim + l] += Hb[k * dim + l];
}

/* y += a x in groups of 8 (which GCC -O2 vectorises as straight-line code; restrict
 * tells it that the stores to y cannot change x) */

/* One thread's scratch for fused_chunk: the chunk's partial gradient and Hessian
 * and the ssyrk staging blocks. */
typedef struct {
  double *g, *H;
  float *blk, *Hb;
} fused_tls;

/* The contexts c = stride q, q0 <= q < q1: returns F (no penalty) and adds the
 * gradient into t->g and, when hess, the upper triangle of the Hessian into t->H;
 * *nonpos = rows whose margin is not positive.  all: score every item, compared or
 * not (the check sweep: a non-finite feature then shows as a non-finite score). */
static double fused_chunk(dpo_space *sp, const ncg_ws *w, size_t stride, size_t q0, size_t q1, const double *theta,
                          int hess, int all, fused_tls *t, size_t *nonpos) {
  const pref_features *f = sp->f;
  const dpo_options *o = sp->o;
  size_t M = sp->M, dim = f->d, nb = 0, bad = 0;
  double F = 0, b = o->beta, zb[FUSED_LB], eb[FUSED_LB], lb[FUSED_LB], *grad = t->g;
  /* the softplus losses inline (dpo_loss_eval's arithmetic, without the call) */
  int soft = o->loss == DPO_LOSS_DPO || o->loss == DPO_LOSS_CDPO || o->loss == DPO_LOSS_RDPO;
  double alin = o->loss == DPO_LOSS_CDPO ? o->eps : o->loss == DPO_LOSS_RDPO ? -o->eps / (1 - 2 * o->eps) : 0;
  for (size_t q = q0; q < q1; q++) {
    size_t c = q * stride;
    if (w->start[c] == w->start[c + 1] && !all) continue;
    const double *P = f->phi + c * M * dim;
    double *s = sp->s + c * M, *a = sp->gs + c * M;
    const uint8_t *used = w->used + c * M;
#ifdef __GNUC__
    /* the next context's block while this one computes (the row terms leave the
     * memory bus idle, and the hardware prefetcher does not run ahead of them) */
    if ((q + 2) * stride < sp->C) {
      const char *nx = (const char *)(f->phi + (c + 2 * stride) * M * dim);
      const uint8_t *nu = w->used + (c + 2 * stride) * M;
      for (size_t j = 0; j < M; j++)
        if (nu[j] || all)
          for (size_t k = 0; k < dim * sizeof(double); k += 64) __builtin_prefetch(nx + j * dim * sizeof(double) + k);
    }
#endif
    for (size_t j = 0; j < M; j++) { /* items that no row compares are not read */
      s[j] = used[j] || all ? dot8(P + j * dim, theta, dim) : 0;
      a[j] = 0;
    }
    for (size_t k = w->start[c]; k < w->start[c + 1]; k++) {
      size_t x = w->lw[k], y = w->ll[k], kb = (k - w->start[c]) % FUSED_LB;
      double cw = w->cw ? w->cw[k] : 1, g, h, delta = s[x] - s[y];
      if (soft && kb == 0) { /* the next FUSED_LB rows' exp in independent calls */
        size_t nk = w->start[c + 1] - k < FUSED_LB ? w->start[c + 1] - k : FUSED_LB;
        double lin = 0, prod = 1;
        for (size_t q2 = 0; q2 < nk; q2++) {
          double z = b * (s[w->lw[k + q2]] - s[w->ll[k + q2]]);
          zb[q2] = z;
          eb[q2] = exp(-fabs(z));
          lin += (z < 0 ? -z : 0) + alin * z;
        }
        if (w->cw) {
          for (size_t q2 = 0; q2 < nk; q2++) lb[q2] = log1p(eb[q2]);
        } else {
          /* unit weights: sum_q log1p(e_q) = log prod_q (1 + e_q), one log per batch
           * (each factor is in (1, 2], so the product of <= 32 cannot overflow; the
           * error, <= 32 eps per batch, is far below F's own rounding n eps |F|) */
          for (size_t q2 = 0; q2 < nk; q2++) prod *= 1 + eb[q2];
          F += lin + log(prod);
        }
      }
      bad += !(delta > 0);
      if (soft) {
        double z = zb[kb], e = eb[kb], r = 1 / (1 + e);
        if (w->cw) F += cw * ((z < 0 ? -z : 0) + lb[kb] + alin * z);
        g = b * (alin - (z >= 0 ? e * r : r));
        h = b * b * e * r * r;
      } else {
        F += cw * dpo_loss_eval(o, delta, &g, &h);
      }
      a[x] += cw * g;
      a[y] -= cw * g;
      if (!hess) continue;
      diff_scale_f(t->blk + nb * dim, sqrt(cw * h), P + x * dim, P + y * dim, dim);
      if (++nb == FUSED_BLOCK) {
        fused_flush(t->blk, nb, dim, t->Hb, t->H);
        nb = 0;
      }
    }
    for (size_t j = 0; j < M; j++)
      if (a[j] != 0) axpy8(a[j], P + j * dim, grad, dim);
  }
  if (hess && nb) fused_flush(t->blk, nb, dim, t->Hb, t->H);
  *nonpos = bad;
  return F;
}

/* One sweep over the contexts c = 0, stride, 2 stride, ...: F (penalty l2), grad and,
 * when H != NULL, the exact Hessian; *nonpos = rows whose margin is not positive.
 * The contexts are cut into a fixed number of chunks (FUSED_CHUNKS, whatever the
 * thread count); threads sweep chunks and the partial sums are added in chunk order
 * (omp ordered), so F, grad and H are bit-identical for any number of threads. */
static double fused_sweep(dpo_space *sp, const ncg_ws *w, size_t stride, double l2, const double *theta, double *grad,
                          double *H, int all, int nt, fused_tls *tls, size_t *nonpos) {
  size_t dim = sp->f->d, L = (sp->C + stride - 1) / stride, nch = L < FUSED_CHUNKS ? L : FUSED_CHUNKS, bad = 0;
  double F = 0, pen = 0;
  if (H) memset(H, 0, dim * dim * sizeof(double));
  for (size_t k = 0; k < dim; k++) grad[k] = l2 * theta[k], pen += theta[k] * theta[k];
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    fused_tls *t = tls + omp_get_thread_num();
#pragma omp for ordered schedule(static, 1)
    for (size_t k = 0; k < nch; k++) {
      size_t nbad;
      memset(t->g, 0, dim * sizeof(double));
      if (H) memset(t->H, 0, dim * dim * sizeof(double));
      double Fk = fused_chunk(sp, w, stride, k * L / nch, (k + 1) * L / nch, theta, H != NULL, all, t, &nbad);
#pragma omp ordered
      {
        F += Fk;
        bad += nbad;
        for (size_t j = 0; j < dim; j++) grad[j] += t->g[j];
        if (H)
          for (size_t j = 0; j < dim; j++)
            for (size_t l = j; l < dim; l++) H[j * dim + l] += t->H[j * dim + l];
      }
    }
  }
  if (H)
    for (size_t k = 0; k < dim; k++) {
      H[k * dim + k] += l2;
      for (size_t l = k + 1; l < dim; l++) H[l * dim + k] = H[k * dim + l];
    }
  *nonpos = bad;
  return F + 0.5 * l2 * pen;
}

/* Counting sort of the rows by context into w.  rows: also the row ids (Newton-CG
 * reads the data through them; the fused solver only needs the local copies, and the
 * weights only when the data have counts: w->cw stays NULL for unit weights, which
 * spares two scattered 8-byte writes per row). */
static int ncg_sort(const dpo_space *sp, ncg_ws *w, int rows) {
  const pref_data *d = sp->d;
  size_t C = sp->C, M = sp->M;
  w->start = calloc(C + 1, sizeof(size_t));
  w->rows = rows ? malloc(d->n * sizeof(size_t)) : NULL;
  size_t *fill = malloc((C + 1) * sizeof(size_t));
  if (!w->start || (rows && !w->rows) || !fill) {
    free(fill);
    return PS_ENOMEM;
  }
  for (size_t i = 0; i < d->n; i++) w->start[(size_t)d->winner[i] / M + 1]++;
  for (size_t c = 0; c < C; c++) w->start[c + 1] += w->start[c];
  memcpy(fill, w->start, (C + 1) * sizeof(size_t));
  /* sequential copies of the row data in context order (m <= 256): the sweeps then
   * stream them instead of gathering winner[rows[k]] at random (a cache miss per row) */
  if (M <= 256) {
    w->lw = malloc(d->n);
    w->ll = malloc(d->n);
    w->cw = d->count ? malloc(d->n * sizeof(double)) : NULL;
    w->used = calloc(sp->f->n_items, 1);
    if (!w->lw || !w->ll || (d->count && !w->cw) || !w->used) {
      free(fill);
      return PS_ENOMEM;
    }
  }
  for (size_t i = 0; i < d->n; i++) {
    size_t a = (size_t)d->winner[i], b = (size_t)d->loser[i], c = a / M, k = fill[c]++;
    if (rows) w->rows[k] = i;
    if (M > 256) continue;
    w->lw[k] = (uint8_t)(a - c * M);
    w->ll[k] = (uint8_t)(b - c * M);
    if (w->cw) w->cw[k] = d->count[i];
    w->used[a] = w->used[b] = 1;
  }
  free(fill);
  return PS_OK;
}

typedef struct {
  ncg_ws w;
  size_t dim;
  double *g, *g2;   /* gradient at theta and at the trial point */
  double *B, *H2;   /* Hessian (approximation) at theta; exact Hessian of the trial sweep */
  double *L;        /* Cholesky factor of B */
  double *p, *trial, *y, *Bs;
  int nt;           /* threads of the sweeps */
  fused_tls *tls;   /* nt of them */
} fused_ws;

static void fused_ws_free(fused_ws *z) {
  ncg_free(&z->w);
  free(z->g);
  free(z->g2);
  free(z->B);
  free(z->H2);
  free(z->L);
  free(z->p);
  free(z->trial);
  free(z->y);
  free(z->Bs);
  for (int k = 0; z->tls && k < z->nt; k++) {
    free(z->tls[k].g);
    free(z->tls[k].H);
    free(z->tls[k].blk);
    free(z->tls[k].Hb);
  }
  free(z->tls);
}

static int fused_ws_alloc(const dpo_space *sp, fused_ws *z) {
  size_t dim = sp->dim;
  memset(z, 0, sizeof *z);
  z->dim = dim;
  z->g = malloc(dim * sizeof(double));
  z->g2 = malloc(dim * sizeof(double));
  z->B = malloc(dim * dim * sizeof(double));
  z->H2 = malloc(dim * dim * sizeof(double));
  z->L = malloc(dim * dim * sizeof(double));
  z->p = malloc(dim * sizeof(double));
  z->trial = malloc(dim * sizeof(double));
  z->y = malloc(dim * sizeof(double));
  z->Bs = malloc(dim * sizeof(double));
  /* threads only when the fit is not inside a parallel region (the cells of a sweep,
   * whatever its -j) and has enough rows to pay for them; each needs a d x d partial
   * Hessian and its ssyrk blocks, so at large d no more than fit in FUSED_TLS_BYTES */
  size_t per = dim * dim * (sizeof(double) + sizeof(float)) + dim * (FUSED_BLOCK * sizeof(float) + sizeof(double));
  int cap = per * 2 > FUSED_TLS_BYTES ? 1 : (int)(FUSED_TLS_BYTES / per);
  z->nt = omp_get_level() > 0 || sp->d->n < FUSED_PAR_ROWS ? 1 : omp_get_max_threads();
  if (z->nt > cap) z->nt = cap;
  z->tls = calloc((size_t)z->nt, sizeof(fused_tls));
  if (!z->g || !z->g2 || !z->B || !z->H2 || !z->L || !z->p || !z->trial || !z->y || !z->Bs || !z->tls)
    return PS_ENOMEM;
  for (int k = 0; k < z->nt; k++) {
    fused_tls *t = z->tls + k;
    t->g = malloc(dim * sizeof(double));
    t->H = malloc(dim * dim * sizeof(double));
    t->blk = malloc(FUSED_BLOCK * dim * sizeof(float));
    t->Hb = malloc(dim * dim * sizeof(float));
    if (!t->g || !t->H || !t->blk || !t->Hb) return PS_ENOMEM;
  }
  return ncg_sort(sp, &z->w, 0);
}

/* p = -B^-1 g through the Cholesky factor of B (copied into L); GSL_SUCCESS or not. */
static int fused_direction(fused_ws *z, const double *g) {
  size_t dim = z->dim;
  memcpy(z->L, z->B, dim * dim * sizeof(double));
  gsl_matrix_view Lv = gsl_matrix_view_array(z->L, dim, dim);
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int cs = gsl_linalg_cholesky_decomp1(&Lv.matrix);
  gsl_set_error_handler(old);
  if (cs != GSL_SUCCESS) return cs;
  for (size_t k = 0; k < dim; k++) z->p[k] = -g[k];
  gsl_vector_view pv = gsl_vector_view_array(z->p, dim);
  return gsl_linalg_cholesky_svx(&Lv.matrix, &pv.vector);
}

/* B += y y^T / y^T s - (B s)(B s)^T / s^T B s, s = step p; skipped unless y^T s is
 * clearly positive (F is convex: y^T s >= 0 always; ~0 only from rounding). */
static void fused_bfgs(fused_ws *z, double step) {
  size_t dim = z->dim;
  double ys = 0, yy = 0, ss = 0, sBs = 0;
  for (size_t k = 0; k < dim; k++) {
    double v = 0;
    for (size_t l = 0; l < dim; l++) v += z->B[k * dim + l] * z->p[l];
    z->Bs[k] = step * v;
    ys += z->y[k] * step * z->p[k];
    yy += z->y[k] * z->y[k];
    ss += step * step * z->p[k] * z->p[k];
  }
  for (size_t k = 0; k < dim; k++) sBs += step * z->p[k] * z->Bs[k];
  if (!(ys > 1e-10 * sqrt(yy * ss)) || !(sBs > 0)) return;
  for (size_t k = 0; k < dim; k++)
    for (size_t l = 0; l < dim; l++) z->B[k * dim + l] += z->y[k] * z->y[l] / ys - z->Bs[k] * z->Bs[l] / sBs;
}

typedef struct {
  size_t stride;  /* contexts c = 0, stride, ... */
  double l2;      /* penalty scaled to the level's weight */
  int exact;      /* exact Hessian in every sweep (not BFGS) */
  double dec;     /* > 0: stop when g^T B^-1 g <= dec and take that step unverified */
  double tol;     /* > 0: stop when ||g|| <= tol (the full data) */
  int max_iter;
  int check;      /* check after the first sweep that every compared item's score is finite */
} fused_level;

/* (Quasi-)Newton on one level from theta (in/out): the first sweep builds the exact
 * Hessian, later ones only when the level asks (exact) or progress was poor.  *F_out,
 * *gn_out: at theta on return; *iters is incremented by the iterations. */
static int fused_solve(dpo_space *sp, fused_ws *z, const fused_level *lv, double *theta, double *F_out, double *gn_out,
                       int *iters, ps_msg *m) {
  const dpo_options *o = sp->o;
  size_t dim = z->dim, nonpos, nonpos2;
  int separable = dpo_may_separate(o);
  int b_exact = 1, status = PS_OK, retried = 0, it;
  double F = fused_sweep(sp, &z->w, lv->stride, lv->l2, theta, z->g, z->B, lv->check, z->nt, z->tls, &nonpos);
  double gn = dpo_vnorm(z->g, dim), ratio = 0;
  if (lv->check) /* every item was scored: a non-finite feature makes its score non-finite, even at theta = 0 */
    for (size_t j = 0; j < sp->f->n_items; j++)
      if (!isfinite(sp->s[j])) {
        if ((status = dpo_phi_check(sp->f, m)) != PS_OK) {
          *F_out = F, *gn_out = gn;
          return status;
        }
        break; /* finite features, overflowing score: the iteration decides */
      }
  for (it = 0;; it++) {
    if (lv->tol > 0 && gn <= lv->tol) break;
    if (separable && nonpos == 0) {
      status = dpo_fail_separable(o, m);
      break;
    }
    if (it >= lv->max_iter) {
      status = ps_fail(m, PS_ENOCONV, "Newton: ||grad|| = %.3g > %.3g after %d iterations", gn, lv->tol, it);
      break;
    }
    int cs = fused_direction(z, z->g);
    if (cs != GSL_SUCCESS && !b_exact) { /* BFGS matrix lost definiteness in rounding: rebuild */
      F = fused_sweep(sp, &z->w, lv->stride, lv->l2, theta, z->g, z->B, 0, z->nt, z->tls, &nonpos);
      gn = dpo_vnorm(z->g, dim);
      b_exact = 1;
      continue;
    }
    if (cs != GSL_SUCCESS) {
      status = ps_fail(m, PS_ESINGULAR,
                       "the Hessian is singular: the comparison differences do not span the %zu-dimensional "
                       "feature space (add l2 > 0 or more varied comparisons)", dim);
      break;
    }
    double slope = 0;
    for (size_t k = 0; k < dim; k++) slope += z->g[k] * z->p[k];
    if (lv->dec > 0 && -slope <= lv->dec) {
      for (size_t k = 0; k < dim; k++) theta[k] += z->p[k];
      break;
    }
    int build = lv->exact || ratio > FUSED_RHO;
    double t = 1, Ft = NAN;
    int ok = 0;
    /* Near the optimum the predicted decrease -slope/2 falls below the rounding of F
     * (a sum of n terms: error <= n eps |F|), and Armijo then rejects the full step on
     * noise and halves t until F(theta + t p) == F: a null step, repeated until
     * max_iter.  There, accept the full Newton step when it reduces ||grad||. */
    double fnoise = dpo_f_rounding(sp, F);
    for (int ls = 0; ls < 60; ls++, t *= 0.5) {
      for (size_t k = 0; k < dim; k++) z->trial[k] = theta[k] + t * z->p[k];
      Ft = fused_sweep(sp, &z->w, lv->stride, lv->l2, z->trial, z->g2, build ? z->H2 : NULL, 0, z->nt, z->tls, &nonpos2);
      if (Ft <= F + 1e-4 * t * slope ||
          (t == 1 && -slope <= fmax(fnoise, 1e-12 * fabs(F)) && dpo_vnorm(z->g2, dim) < gn)) {
        ok = 1;
        break;
      }
    }
    if (!ok && !b_exact && !retried) { /* the quasi-Newton direction failed: once more with the exact Hessian */
      F = fused_sweep(sp, &z->w, lv->stride, lv->l2, theta, z->g, z->B, 0, z->nt, z->tls, &nonpos);
      gn = dpo_vnorm(z->g, dim);
      b_exact = 1;
      retried = 1;
      continue;
    }
    if (!ok) {
      status = ps_fail(m, PS_ENOCONV, "Newton: line search failed at ||grad|| = %.3g (tolerance %.3g)", gn, lv->tol);
      break;
    }
    for (size_t k = 0; k < dim; k++) z->y[k] = z->g2[k] - z->g[k];
    if (build) {
      double *sw = z->B;
      z->B = z->H2, z->H2 = sw;
      b_exact = 1;
    } else {
      fused_bfgs(z, t);
      b_exact = 0;
    }
    memcpy(theta, z->trial, dim * sizeof(double));
    double *sw = z->g;
    z->g = z->g2, z->g2 = sw;
    double gn2 = dpo_vnorm(z->g, dim);
    ratio = gn2 / gn;
    gn = gn2;
    F = Ft;
    nonpos = nonpos2;
    retried = 0;
  }
  *F_out = F;
  *gn_out = gn;
  *iters += it;
  return status;
}

int dpo_newton_fused(dpo_space *sp, double *theta, dpo_result *res, ps_msg *m) {
  const dpo_options *o = sp->o;
  size_t dim = sp->dim, C = sp->C;
  fused_ws z;
  int status = PS_OK, iters = 0, blas_threads = openblas_get_num_threads();
  double *save = malloc(dim * sizeof(double)), F = NAN, gn = NAN;
  if (fused_ws_alloc(sp, &z) != PS_OK || !save) {
    status = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  /* the sweeps' threads call ssyrk on small blocks: one BLAS thread each (restored below) */
  if (z.nt > 1) openblas_set_num_threads(1);
  /* phi is checked here rather than in check_input (which would read all of it once
   * more): the first sweep over all rows scores every item (full.check) */
  /* warm start, the coarsest level first */
  size_t S = 1;
  while (S * FUSED_LEVEL_STEP < C && sp->d->n / (S * FUSED_LEVEL_STEP) >= FUSED_LEVEL_ROWS * dim) S *= FUSED_LEVEL_STEP;
  for (; S > 1; S /= FUSED_LEVEL_STEP) {
    size_t rows = 0;
    double Ws = 0;
    for (size_t c = 0; c < C; c += S) {
      rows += z.w.start[c + 1] - z.w.start[c];
      for (size_t k = z.w.start[c]; k < z.w.start[c + 1]; k++) Ws += z.w.cw ? z.w.cw[k] : 1;
    }
    if (rows < FUSED_LEVEL_ROWS * dim || !(Ws > 0)) continue;
    fused_level lv = {.stride = S, .l2 = o->l2 * Ws / sp->W, .exact = 0, .dec = 1.0 * (double)dim, .tol = 0,
                      .max_iter = 30};
    int it = 0;
    double Fl, gl;
    ps_msg lm = {{0}};
    memcpy(save, theta, dim * sizeof(double));
    if (fused_solve(sp, &z, &lv, theta, &Fl, &gl, &it, &lm) != PS_OK || !isfinite(Fl) || !isfinite(gl)) {
      memcpy(theta, save, dim * sizeof(double)); /* a level that fails (separable, singular) is skipped */
      continue;
    }
    iters += it;
  }
  fused_level full = {.stride = 1, .l2 = o->l2, .exact = 0, .dec = 0, .tol = o->tol * sp->W, .max_iter = o->max_iter,
                      .check = 1};
  status = fused_solve(sp, &z, &full, theta, &F, &gn, &iters, m);
  res->converged = status == PS_OK;
  res->objective = F;
  res->grad_norm = gn;
  res->iterations = iters;
done:
  if (z.nt > 1) openblas_set_num_threads(blas_threads);
  fused_ws_free(&z);
  free(save);
  return status;
}

