/* dpo.c — DPO, IPO, cDPO, rDPO, hinge and HyPO fits (docs/theory.md §3.9, §3.10, §3.15).
 *
 * Objective (dpo.h): F(theta) = sum_i c_i [l(Delta_i) + kl KL_{x_i}] + (l2/2)||theta||^2
 * with Delta_i = s(y_i+) - s(y_i-), s the policy scores.  Every evaluation goes
 * through item space: scores s of all items (Phi theta, or the MLP), a per-item
 * gradient g_s (scatter of c_i l'(Delta_i) over winner and loser, plus the KL terms
 * per context), then grad theta = Phi^T g_s + l2 theta.  Comparisons are never
 * materialised as feature differences.
 *
 * The exact Hessian in score space is block diagonal over contexts (items of one
 * context are contiguous, m each):
 *     B_c = sum_{i in c} c_i l''(Delta_i) (e_w - e_l)(e_w - e_l)^T + kl w_c K_c,
 *     K_c[j][k] = d^2 KL / ds_j ds_k
 *              = delta_jk pi_j (u_j - KL + 1) - pi_j pi_k (u_j + u_k - 2 KL + 1),
 * (differentiate d KL / ds_k = pi_k (u_k - KL) once more), and H = sum_c Phi_c^T B_c
 * Phi_c + l2 I.  Cost O(n + C (m^2 d + m d^2)) per build.
 *
 * Tolerances: Newton stops at ||grad|| <= tol W (W = total weight, tol 1e-10), so
 * the optimisation error is far below any statistical error of a fit on W rows.
 * The Armijo constant 1e-4 and step halving are the textbook choices (Nocedal &
 * Wright, Alg. 3.1). */
#include "dpo.h"

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

dpo_options dpo_options_default(void) {
  dpo_options o = {.loss = DPO_LOSS_DPO,
                   .beta = 0.1,
                   .eps = 0,
                   .tau = 0,
                   .l2 = 0,
                   .kl = 0,
                   .policy = DPO_POLICY_LOGLINEAR,
                   .width = 32,
                   .layers = 1,
                   .act = POLICY_ACT_TANH,
                   .lr = 1e-3,
                   .epochs = 500,
                   .restarts = 5,
                   .batch = 0,
                   .tol = 1e-10,
                   .max_iter = 100,
                   .solver = DPO_SOLVER_AUTO,
                   .kl_samples = 0};
  return o;
}

static const char *loss_name(dpo_loss l) {
  static const char *const names[] = {"dpo", "ipo", "cdpo", "rdpo", "hinge"};
  return (unsigned)l < 5 ? names[l] : "?";
}

/* 1 when separable data leave the loss without a minimiser (dpo, cdpo at eps 0, no penalty). */
static int may_separate(const dpo_options *o) {
  return (o->loss == DPO_LOSS_DPO || (o->loss == DPO_LOSS_CDPO && o->eps == 0)) && o->l2 == 0;
}

/* The one failure all log-linear solvers report on separable data (no penalty). */
static int fail_separable(const dpo_options *o, ps_msg *m) {
  return ps_fail(m, PS_ENOMLE,
                 "every comparison is ordered correctly by theta (margins all positive): the data are separable "
                 "and the %s loss has no minimiser (its infimum 0 is approached as ||theta|| -> infinity); add "
                 "l2 > 0 or use cdpo with eps > 0",
                 loss_name(o->loss));
}

int dpo_options_check(const dpo_options *o, ps_msg *m) {
  if (!(o->beta > 0) || !isfinite(o->beta))
    return ps_fail(m, PS_EINVAL, "beta must be a finite positive number, not %g", o->beta);
  if ((unsigned)o->loss > DPO_LOSS_HINGE) return ps_fail(m, PS_EINVAL, "unknown loss %d", (int)o->loss);
  if (!(o->eps >= 0 && o->eps < 0.5))
    return ps_fail(m, PS_EINVAL, "eps (the flip rate of cdpo/rdpo) must be in [0, 1/2), not %g", o->eps);
  if (!(o->l2 >= 0) || !isfinite(o->l2)) return ps_fail(m, PS_EINVAL, "l2 must be finite and >= 0, not %g", o->l2);
  if (!(o->kl >= 0) || !isfinite(o->kl)) return ps_fail(m, PS_EINVAL, "the KL weight must be finite and >= 0, not %g", o->kl);
  if (o->loss == DPO_LOSS_RDPO && !(o->l2 > 0))
    return ps_fail(m, PS_EINVAL,
                   "rdpo is unbounded below per sample (its loss falls linearly in z), so it needs l2 > 0 "
                   "(docs/theory.md §3.10: add L2 or a norm bound)");
  if (o->loss == DPO_LOSS_HINGE && !(o->l2 > 0))
    return ps_fail(m, PS_EINVAL, "hinge needs l2 > 0 (without it the minimiser is not unique or does not exist)");
  if (o->loss == DPO_LOSS_HINGE && o->kl > 0)
    return ps_fail(m, PS_EINVAL, "hinge is not combined with a KL term (use loss = dpo)");
  if (o->kl_samples != 0 && (o->kl_samples < 2 || o->kl_samples > DPO_MAX_KL_SAMPLES))
    return ps_fail(m, PS_EINVAL, "kl_samples must be 0 (exact KL) or in [2, %d] (RLOO needs two samples), not %d",
                   DPO_MAX_KL_SAMPLES, o->kl_samples);
  if (o->kl_samples > 0 && !(o->kl > 0))
    return ps_fail(m, PS_EINVAL, "kl_samples (HyPO's sampled KL) needs a KL weight kl > 0");
  if (o->tau < 0 || !isfinite(o->tau)) return ps_fail(m, PS_EINVAL, "tau must be >= 0 (0 means tau = beta), not %g", o->tau);
  if (o->policy == DPO_POLICY_MLP) {
    if (o->layers != 1 && o->layers != 2) return ps_fail(m, PS_EINVAL, "layers must be 1 or 2, not %d", o->layers);
    if (o->width < 1) return ps_fail(m, PS_EINVAL, "width must be >= 1");
  }
  if (o->policy == DPO_POLICY_MLP || o->kl_samples > 0) {
    if (!(o->lr > 0) || !isfinite(o->lr)) return ps_fail(m, PS_EINVAL, "lr must be positive, not %g", o->lr);
    if (o->epochs < 1) return ps_fail(m, PS_EINVAL, "epochs must be >= 1, not %d", o->epochs);
  }
  if (o->restarts < 1) return ps_fail(m, PS_EINVAL, "restarts must be >= 1, not %d", o->restarts);
  if (!(o->tol > 0)) return ps_fail(m, PS_EINVAL, "tol must be positive, not %g", o->tol);
  if (o->max_iter < 1) return ps_fail(m, PS_EINVAL, "max_iter must be >= 1, not %d", o->max_iter);
  return PS_OK;
}

double dpo_loss_eval(const dpo_options *o, double delta, double *d1, double *d2) {
  double b = o->beta, z = b * delta, l, g, h;
  switch (o->loss) {
    case DPO_LOSS_IPO: {
      double tau = o->tau > 0 ? o->tau : o->beta, t = delta - 1 / (2 * tau);
      l = t * t;
      g = 2 * t;
      h = 2;
      break;
    }
    case DPO_LOSS_HINGE:
      l = z < 1 ? 1 - z : 0;
      g = z < 1 ? -b : 0;
      h = 0;
      break;
    default: {
      /* softplus(-z) + a z with a = 0 (dpo), eps (cdpo), -eps/(1-2eps) (rdpo).  One
       * exp serves all three: with e = e^{-|z|} <= 1, softplus(-z) = max(-z, 0) +
       * log1p(e), sigma(-z) = e/(1+e) (z >= 0) or 1/(1+e) (z < 0), sigma'(z) =
       * e/(1+e)^2 -- the forms of core/numerics.h, which never overflow. */
      double a = o->loss == DPO_LOSS_CDPO ? o->eps : o->loss == DPO_LOSS_RDPO ? -o->eps / (1 - 2 * o->eps) : 0;
      double e = exp(-fabs(z)), q = 1 / (1 + e);
      l = (z < 0 ? -z : 0) + log1p(e) + a * z;
      g = b * (a - (z >= 0 ? e * q : q));
      h = b * b * e * q * q;
    }
  }
  if (d1) *d1 = g;
  if (d2) *d2 = h;
  return l;
}

void dpo_result_free(dpo_result *r) {
  if (!r) return;
  free(r->theta);
  r->theta = NULL;
}

/* ---------------- shared item-space machinery ---------------- */

typedef struct {
  const pref_data *d;
  const pref_features *f;
  const dpo_options *o;
  size_t C, M, dim;  /* contexts, responses per context, parameter length */
  double W;          /* total weight */
  double *wc;        /* per-context row weight (C) */
  double *s, *gs;    /* item scores and their gradient (n_items) */
  double *work;      /* M */
  double *dkl;       /* M */
} space;

static void space_free(space *sp) {
  free(sp->wc);
  free(sp->s);
  free(sp->gs);
  free(sp->work);
  free(sp->dkl);
}

static int space_init(space *sp, const pref_data *d, const pref_features *f, const dpo_options *o) {
  memset(sp, 0, sizeof *sp);
  sp->d = d;
  sp->f = f;
  sp->o = o;
  sp->C = f->n_contexts ? f->n_contexts : 1;
  sp->M = f->n_items / sp->C;
  sp->dim = f->phi ? f->d : f->n_items;
  sp->wc = calloc(sp->C, sizeof(double));
  sp->s = malloc(f->n_items * sizeof(double));
  sp->gs = malloc(f->n_items * sizeof(double));
  sp->work = malloc(sp->M * sizeof(double));
  sp->dkl = malloc(sp->M * sizeof(double));
  if (!sp->wc || !sp->s || !sp->gs || !sp->work || !sp->dkl) {
    space_free(sp);
    return PS_ENOMEM;
  }
  for (size_t i = 0; i < d->n; i++) {
    double c = d->count ? d->count[i] : 1.0;
    sp->W += c;
    sp->wc[(size_t)d->winner[i] / sp->M] += c;
  }
  return PS_OK;
}

/* s = Phi theta over all items */
static void scores_all(const space *sp, const double *theta) {
  const pref_features *f = sp->f;
  if (!f->phi) {
    memcpy(sp->s, theta, f->n_items * sizeof(double));
    return;
  }
  size_t d = f->d;
  for (size_t i = 0; i < f->n_items; i++) {
    const double *p = f->phi + i * d;
    double v = 0;
    for (size_t k = 0; k < d; k++) v += p[k] * theta[k];
    sp->s[i] = v;
  }
}

/* F and gs from the scores in sp->s (no penalty). */
static double score_objective(space *sp) {
  const pref_data *d = sp->d;
  const dpo_options *o = sp->o;
  memset(sp->gs, 0, sp->f->n_items * sizeof(double));
  double F = 0;
  for (size_t i = 0; i < d->n; i++) {
    double c = d->count ? d->count[i] : 1.0, g;
    size_t w = (size_t)d->winner[i], l = (size_t)d->loser[i];
    F += c * dpo_loss_eval(o, sp->s[w] - sp->s[l], &g, NULL);
    sp->gs[w] += c * g;
    sp->gs[l] -= c * g;
  }
  if (o->kl > 0) {
    for (size_t c = 0; c < sp->C; c++) {
      if (sp->wc[c] == 0) continue;
      size_t first = c * sp->M;
      const double *lr = sp->f->log_ref ? sp->f->log_ref + first : NULL;
      double kl = policy_softmax_kl(lr, sp->s + first, sp->M, sp->dkl, sp->work);
      double a = o->kl * sp->wc[c];
      F += a * kl;
      for (size_t j = 0; j < sp->M; j++) sp->gs[first + j] += a * sp->dkl[j];
    }
  }
  return F;
}

static double full_objective(space *sp, const double *theta, double *grad) {
  scores_all(sp, theta);
  double F = score_objective(sp), pen = 0;
  for (size_t k = 0; k < sp->dim; k++) pen += theta[k] * theta[k];
  F += 0.5 * sp->o->l2 * pen;
  if (grad) {
    const pref_features *f = sp->f;
    if (!f->phi) {
      for (size_t k = 0; k < sp->dim; k++) grad[k] = sp->gs[k] + sp->o->l2 * theta[k];
    } else {
      size_t d = f->d;
      for (size_t k = 0; k < d; k++) grad[k] = sp->o->l2 * theta[k];
      for (size_t i = 0; i < f->n_items; i++) {
        double g = sp->gs[i];
        if (g == 0) continue;
        const double *p = f->phi + i * d;
        for (size_t k = 0; k < d; k++) grad[k] += g * p[k];
      }
    }
  }
  return F;
}

double dpo_objective(const pref_data *d, const pref_features *f, const dpo_options *o,
                     const double *theta, double *grad) {
  space sp;
  if (space_init(&sp, d, f, o) != PS_OK) return NAN;
  double F = full_objective(&sp, theta, grad);
  space_free(&sp);
  return F;
}

/* Exact Hessian of F at the scores in sp->s (call full_objective first), plus the
 * tabular per-context 11^T/M.  H is dim x dim.  PS_ENOMEM on failure. */
static int build_hessian(space *sp, double *H) {
  const pref_data *d = sp->d;
  const pref_features *f = sp->f;
  const dpo_options *o = sp->o;
  size_t M = sp->M, C = sp->C, dim = sp->dim;
  double *B = calloc(C * M * M, sizeof(double)), *BP = f->phi ? malloc(M * dim * sizeof(double)) : NULL;
  if (!B || (f->phi && !BP)) {
    free(B);
    free(BP);
    return PS_ENOMEM;
  }
  for (size_t i = 0; i < d->n; i++) {
    double c = d->count ? d->count[i] : 1.0, h;
    size_t w = (size_t)d->winner[i], l = (size_t)d->loser[i];
    dpo_loss_eval(o, sp->s[w] - sp->s[l], NULL, &h);
    double *Bc = B + (w / M) * M * M;
    w %= M;
    l %= M;
    h *= c;
    Bc[w * M + w] += h;
    Bc[l * M + l] += h;
    Bc[w * M + l] -= h;
    Bc[l * M + w] -= h;
  }
  if (o->kl > 0)
    for (size_t c = 0; c < C; c++) {
      if (sp->wc[c] == 0) continue;
      size_t first = c * M;
      const double *lr = f->log_ref ? f->log_ref + first : NULL;
      double *lp = sp->work, *u = sp->dkl;
      double A = policy_log_softmax(lr, sp->s + first, M, lp), kl = 0;
      for (size_t j = 0; j < M; j++) {
        u[j] = sp->s[first + j] - A;
        lp[j] = exp(lp[j]);
        kl += lp[j] * u[j];
      }
      double a = o->kl * sp->wc[c], *Bc = B + c * M * M;
      for (size_t j = 0; j < M; j++) {
        for (size_t k = 0; k < M; k++) Bc[j * M + k] -= a * lp[j] * lp[k] * (u[j] + u[k] - 2 * kl + 1);
        Bc[j * M + j] += a * lp[j] * (u[j] - kl + 1);
      }
    }
  memset(H, 0, dim * dim * sizeof(double));
  for (size_t c = 0; c < C; c++) {
    const double *Bc = B + c * M * M;
    int any = 0;
    for (size_t j = 0; j < M * M && !any; j++) any = Bc[j] != 0;
    if (!any) continue;
    if (!f->phi) {
      for (size_t j = 0; j < M; j++)
        for (size_t k = 0; k < M; k++) H[(c * M + j) * dim + c * M + k] += Bc[j * M + k];
      continue;
    }
    const double *P = f->phi + c * M * dim;
    for (size_t j = 0; j < M; j++)
      for (size_t k = 0; k < dim; k++) {
        double v = 0;
        for (size_t t = 0; t < M; t++) v += Bc[j * M + t] * P[t * dim + k];
        BP[j * dim + k] = v;
      }
    for (size_t j = 0; j < M; j++) {
      const double *pj = P + j * dim, *bj = BP + j * dim;
      for (size_t k = 0; k < dim; k++) {
        double pk = pj[k];
        if (pk == 0) continue;
        double *hr = H + k * dim;
        for (size_t l = k; l < dim; l++) hr[l] += pk * bj[l];
      }
    }
  }
  if (f->phi)
    for (size_t k = 0; k < dim; k++)
      for (size_t l = 0; l < k; l++) H[k * dim + l] = H[l * dim + k];
  for (size_t k = 0; k < dim; k++) H[k * dim + k] += o->l2;
  if (!f->phi) /* fix the per-context constants, which no term identifies */
    for (size_t c = 0; c < C; c++)
      for (size_t j = 0; j < M; j++)
        for (size_t k = 0; k < M; k++) H[(c * M + j) * dim + c * M + k] += 1.0 / (double)M;
  free(B);
  free(BP);
  return PS_OK;
}

int dpo_hessian(const pref_data *d, const pref_features *f, const dpo_options *o, const double *theta, double *H) {
  space sp;
  if (space_init(&sp, d, f, o) != PS_OK) return PS_ENOMEM;
  full_objective(&sp, theta, NULL);
  int s = build_hessian(&sp, H);
  if (s == PS_OK && !f->phi) /* undo the identification term: report the Hessian of F itself */
    for (size_t c = 0; c < sp.C; c++)
      for (size_t j = 0; j < sp.M; j++)
        for (size_t k = 0; k < sp.M; k++) H[(c * sp.M + j) * sp.dim + c * sp.M + k] -= 1.0 / (double)sp.M;
  space_free(&sp);
  return s;
}

static double vnorm(const double *v, size_t n) {
  double s = 0;
  for (size_t k = 0; k < n; k++) s += v[k] * v[k];
  return sqrt(s);
}

/* Rounding bound of the objective F, a sum of n row terms: n eps (|F| + 1), here
 * its coefficient (n + 1) eps.  When the predicted decrease of a Newton step is
 * below it, Armijo tests noise. */
static double f_rounding_coef(const space *sp) { return (double)(sp->d->n + 1) * DBL_EPSILON; }

static double f_rounding(const space *sp, double F) { return f_rounding_coef(sp) * (fabs(F) + 1); }

/* 1 when every row has a positive margin (a separating direction for dpo). */
static int separated(const space *sp) {
  for (size_t i = 0; i < sp->d->n; i++)
    if (!(sp->s[sp->d->winner[i]] - sp->s[sp->d->loser[i]] > 0)) return 0;
  return 1;
}

/* The exact Newton fit's callbacks (core/newton.h): F through item space, and the
 * direction -H^-1 g by Cholesky of the exact Hessian, built at the scores fdf left in
 * sp->s (the driver asks for a direction right after evaluating its point). */
typedef struct {
  space *sp;
  double *H; /* dim x dim */
} exact_newton;

static double exact_fdf(void *params, const double *theta, double *g) {
  return full_objective(((exact_newton *)params)->sp, theta, g);
}

static int exact_direction(void *params, const double *theta, const double *g, double *p, ps_msg *m) {
  exact_newton *e = params;
  size_t dim = e->sp->dim;
  (void)theta;
  if (build_hessian(e->sp, e->H) != PS_OK) return ps_fail(m, PS_ENOMEM, "out of memory building the Hessian");
  gsl_matrix_view Hv = gsl_matrix_view_array(e->H, dim, dim);
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int cs = gsl_linalg_cholesky_decomp1(&Hv.matrix);
  gsl_set_error_handler(old);
  if (cs != GSL_SUCCESS)
    return ps_fail(m, PS_ESINGULAR,
                   "the Hessian is singular: the comparison differences do not span the %zu-dimensional "
                   "parameter space (add l2 > 0 or more varied comparisons)%s",
                   dim, e->sp->o->kl > 0 ? ", or the KL term is not convex here" : "");
  for (size_t k = 0; k < dim; k++) p[k] = -g[k];
  gsl_vector_view pv = gsl_vector_view_array(p, dim);
  gsl_linalg_cholesky_svx(&Hv.matrix, &pv.vector);
  return PS_OK;
}

/* Newton with the exact Hessian from theta (in/out).  Line search: Armijo with step
 * halving; near the optimum, where the predicted decrease g^T H^-1 g / 2 is within
 * the rounding of F (a sum of n terms: ~1e-11 relative at n = 2000), Armijo cannot
 * see it and would only accept steps t ~ 1e-10, stalling at ||grad|| ~ 1e-6, so the
 * full Newton step is taken when it reduces the gradient norm (probe_first below
 * 1e-10 (|F| + 1), probe below the rounding of F). */
static int newton(space *sp, double *theta, dpo_result *res, ps_msg *m) {
  const dpo_options *o = sp->o;
  size_t dim = sp->dim;
  int status = PS_OK;
  exact_newton e = {sp, malloc(dim * dim * sizeof(double))};
  newton_solver *s = newton_alloc(dim);
  if (!e.H || !s) {
    status = ps_fail(m, PS_ENOMEM, "out of memory (Hessian %zu x %zu)", dim, dim);
    goto done;
  }
  newton_function fn = {.n = dim, .fdf = exact_fdf, .direction = exact_direction, .line = NULL, .params = &e};
  newton_params par = newton_params_default();
  par.probe_first = 1e-10;
  par.probe = f_rounding_coef(sp);
  par.retrace = 1;
  int separable = may_separate(o) && o->kl == 0;
  newton_set(s, &fn, &par, theta);
  int it = 0;
  res->converged = 0;
  for (;; it++) {
    double gn = newton_gradient_norm(s);
    if (gn <= o->tol * sp->W) {
      res->converged = 1;
      break;
    }
    if (separable && separated(sp)) {
      status = fail_separable(o, m);
      break;
    }
    if (it >= o->max_iter) {
      status = ps_fail(m, PS_ENOCONV, "Newton: ||grad|| = %.3g > %.3g after %d iterations", gn, o->tol * sp->W, it);
      break;
    }
    if ((status = newton_direction(s, m)) != PS_OK) break;
    if (newton_step(s) != PS_OK) {
      status = ps_fail(m, PS_ENOCONV, "Newton: line search failed at ||grad|| = %.3g (tolerance %.3g)", gn,
                       o->tol * sp->W);
      break;
    }
  }
  memcpy(theta, newton_x(s), dim * sizeof(double));
  res->objective = newton_f(s);
  res->grad_norm = newton_gradient_norm(s);
  res->iterations += it;
done:
  free(e.H);
  newton_free(s);
  return status;
}

/* x . y with 8 independent partial sums: a plain loop is one serial chain of adds
 * (4-cycle latency each, and C forbids the compiler to reassociate it), which made
 * the score passes compute-bound; 8 lanes let the compiler vectorise and pipeline. */
static inline double dot8(const double *x, const double *y, size_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (size_t q = 0; q < 8; q++) acc[q] += x[k + q] * y[k + q];
  double s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; k < n; k++) s += x[k] * y[k];
  return s;
}

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

static int ncg_sort(const space *sp, ncg_ws *w, int rows);

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
static double ncg_rows(space *sp, ncg_ws *w, const double *base, const double *dir, double step, int grad) {
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
static double ncg_gradient(space *sp, ncg_ws *w, const double *theta, double *grad) {
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
static void ncg_hv(space *sp, ncg_ws *w, const double *v, double *Hv) {
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
  space *sp;
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
  space *sp = c->sp;
  ncg_ws *w = c->w;
  size_t dim = sp->dim, N = sp->f->n_items;
  double *r = c->r, *dir = c->dir, *Hd = c->Hd, gn = vnorm(g, dim);
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
  space *sp = c->sp;
  (void)p;
  if (!c->scores_at_theta) { /* a failed probe scored theta + p: the search needs theta's scores back */
    ncg_gradient(sp, c->w, theta, c->Hd);
    c->scores_at_theta = 1;
  }
  return ncg_rows(sp, c->w, sp->s, c->w->u, t, 0) + 0.5 * sp->o->l2 * (c->th2 + 2 * t * c->tp + t * t * c->pp);
}

static int newton_cg(space *sp, double *theta, dpo_result *res, ps_msg *m) {
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
  par.probe = f_rounding_coef(sp);
  int separable = may_separate(o);
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
    if (separable && separated(sp)) {
      status = fail_separable(o, m);
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
static int phi_check(const pref_features *f, ps_msg *m) {
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
static inline void axpy8(double a, const double *restrict x, double *restrict y, size_t n) {
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (size_t q = 0; q < 8; q++) y[k + q] += a * x[k + q];
  for (; k < n; k++) y[k] += a * x[k];
}

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
static double fused_chunk(space *sp, const ncg_ws *w, size_t stride, size_t q0, size_t q1, const double *theta,
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
static double fused_sweep(space *sp, const ncg_ws *w, size_t stride, double l2, const double *theta, double *grad,
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
static int ncg_sort(const space *sp, ncg_ws *w, int rows) {
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

static int fused_ws_alloc(const space *sp, fused_ws *z) {
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
static int fused_solve(space *sp, fused_ws *z, const fused_level *lv, double *theta, double *F_out, double *gn_out,
                       int *iters, ps_msg *m) {
  const dpo_options *o = sp->o;
  size_t dim = z->dim, nonpos, nonpos2;
  int separable = may_separate(o);
  int b_exact = 1, status = PS_OK, retried = 0, it;
  double F = fused_sweep(sp, &z->w, lv->stride, lv->l2, theta, z->g, z->B, lv->check, z->nt, z->tls, &nonpos);
  double gn = vnorm(z->g, dim), ratio = 0;
  if (lv->check) /* every item was scored: a non-finite feature makes its score non-finite, even at theta = 0 */
    for (size_t j = 0; j < sp->f->n_items; j++)
      if (!isfinite(sp->s[j])) {
        if ((status = phi_check(sp->f, m)) != PS_OK) {
          *F_out = F, *gn_out = gn;
          return status;
        }
        break; /* finite features, overflowing score: the iteration decides */
      }
  for (it = 0;; it++) {
    if (lv->tol > 0 && gn <= lv->tol) break;
    if (separable && nonpos == 0) {
      status = fail_separable(o, m);
      break;
    }
    if (it >= lv->max_iter) {
      status = ps_fail(m, PS_ENOCONV, "Newton: ||grad|| = %.3g > %.3g after %d iterations", gn, lv->tol, it);
      break;
    }
    int cs = fused_direction(z, z->g);
    if (cs != GSL_SUCCESS && !b_exact) { /* BFGS matrix lost definiteness in rounding: rebuild */
      F = fused_sweep(sp, &z->w, lv->stride, lv->l2, theta, z->g, z->B, 0, z->nt, z->tls, &nonpos);
      gn = vnorm(z->g, dim);
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
    double fnoise = f_rounding(sp, F);
    for (int ls = 0; ls < 60; ls++, t *= 0.5) {
      for (size_t k = 0; k < dim; k++) z->trial[k] = theta[k] + t * z->p[k];
      Ft = fused_sweep(sp, &z->w, lv->stride, lv->l2, z->trial, z->g2, build ? z->H2 : NULL, 0, z->nt, z->tls, &nonpos2);
      if (Ft <= F + 1e-4 * t * slope ||
          (t == 1 && -slope <= fmax(fnoise, 1e-12 * fabs(F)) && vnorm(z->g2, dim) < gn)) {
        ok = 1;
        break;
      }
    }
    if (!ok && !b_exact && !retried) { /* the quasi-Newton direction failed: once more with the exact Hessian */
      F = fused_sweep(sp, &z->w, lv->stride, lv->l2, theta, z->g, z->B, 0, z->nt, z->tls, &nonpos);
      gn = vnorm(z->g, dim);
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
    double gn2 = vnorm(z->g, dim);
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

static int newton_fused(space *sp, double *theta, dpo_result *res, ps_msg *m) {
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

/* ---------------- hinge: dual coordinate descent ---------------- */

static int hinge_fit(space *sp, double *theta, dpo_result *res, ps_msg *m) {
  const pref_data *d = sp->d;
  const pref_features *f = sp->f;
  const dpo_options *o = sp->o;
  size_t dim = sp->dim, n = d->n;
  double b = o->beta;
  double *alpha = calloc(n, sizeof(double)), *q = malloc(n * sizeof(double));
  if (!alpha || !q) {
    free(alpha);
    free(q);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  /* primal: (l2/2)||theta||^2 + sum c_i max(0, 1 - b theta^T x_i); dual variables
   * alpha_i in [0, c_i / l2], theta = sum alpha_i b x_i */
  memset(theta, 0, dim * sizeof(double));
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    if (!f->phi) s = 2;
    else {
      const double *pw = f->phi + (size_t)d->winner[i] * dim, *pl = f->phi + (size_t)d->loser[i] * dim;
      for (size_t k = 0; k < dim; k++) s += (pw[k] - pl[k]) * (pw[k] - pl[k]);
    }
    q[i] = b * b * s;
  }
  int ep, status = PS_OK;
  double viol = INFINITY;
  int max_ep = 100 * o->max_iter;
  for (ep = 0; ep < max_ep; ep++) {
    viol = 0;
    for (size_t i = 0; i < n; i++) {
      if (q[i] == 0) continue;
      size_t w = (size_t)d->winner[i], l = (size_t)d->loser[i];
      double ub = (d->count ? d->count[i] : 1.0) / o->l2, mg;
      if (!f->phi) mg = theta[w] - theta[l];
      else {
        const double *pw = f->phi + w * dim, *pl = f->phi + l * dim;
        mg = 0;
        for (size_t k = 0; k < dim; k++) mg += theta[k] * (pw[k] - pl[k]);
      }
      double G = b * mg - 1, pg = G;
      if (alpha[i] == 0) pg = fmin(G, 0);
      else if (alpha[i] >= ub) pg = fmax(G, 0);
      viol = fmax(viol, fabs(pg));
      if (pg == 0) continue;
      double a = fmin(fmax(alpha[i] - G / q[i], 0), ub), da = (a - alpha[i]) * b;
      alpha[i] = a;
      if (!f->phi) {
        theta[w] += da;
        theta[l] -= da;
      } else {
        const double *pw = f->phi + w * dim, *pl = f->phi + l * dim;
        for (size_t k = 0; k < dim; k++) theta[k] += da * (pw[k] - pl[k]);
      }
    }
    if (viol <= o->tol * 10) break;
  }
  res->converged = viol <= o->tol * 10;
  if (!res->converged)
    status = ps_fail(m, PS_ENOCONV, "hinge dual coordinate descent: violation %.3g after %d epochs", viol, ep);
  res->objective = full_objective(sp, theta, NULL);
  res->grad_norm = viol;
  res->iterations = ep;
  free(alpha);
  free(q);
  return status;
}

/* ---------------- L-BFGS (HyPO) ---------------- */

typedef struct {
  space *sp;
  int k; /* L-BFGS iterations of the current start */
} lbfgs_inst;

static lbfgsfloatval_t lbfgs_eval(void *inst, const lbfgsfloatval_t *x, lbfgsfloatval_t *g, const int n,
                                  const lbfgsfloatval_t step) {
  (void)n;
  (void)step;
  return full_objective(((lbfgs_inst *)inst)->sp, x, g);
}

static int lbfgs_progress(void *inst, const lbfgsfloatval_t *x, const lbfgsfloatval_t *g, const lbfgsfloatval_t fx,
                          const lbfgsfloatval_t xnorm, const lbfgsfloatval_t gnorm, const lbfgsfloatval_t step, int n,
                          int k, int ls) {
  (void)x, (void)g, (void)fx, (void)xnorm, (void)gnorm, (void)step, (void)n, (void)ls;
  ((lbfgs_inst *)inst)->k = k;
  return 0;
}

static int hypo_loglinear(space *sp, gsl_rng *r, double *theta, dpo_result *res, ps_msg *m) {
  const dpo_options *o = sp->o;
  size_t dim = sp->dim;
  double *x = lbfgs_malloc((int)dim), *best = malloc(dim * sizeof(double));
  if (!x || !best) {
    lbfgs_free(x);
    free(best);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  double bestF = INFINITY, bestG = NAN;
  int best_status = PS_ENOCONV, best_conv = 0, iters = 0;
  ps_msg best_msg = {{0}};
  lbfgs_parameter_t par;
  lbfgs_parameter_init(&par);
  par.epsilon = 1e-14;
  par.max_iterations = 20 * o->max_iter;
  for (int rs = 0; rs < o->restarts; rs++) {
    for (size_t k = 0; k < dim; k++)
      x[k] = rs == 0 || !r ? 0 : gsl_ran_gaussian(r, 1.0 / (o->beta * sqrt((double)dim)));
    lbfgsfloatval_t fx;
    lbfgs_inst li = {sp, 0};
    int ls = lbfgs((int)dim, x, &fx, lbfgs_eval, lbfgs_progress, &li, &par);
    (void)ls; /* L-BFGS only brings the iterate near a minimum; Newton decides */
    iters += li.k;
    dpo_result tmp = {0};
    ps_msg tm = {{0}};
    int s = newton(sp, x, &tmp, &tm);
    if (s != PS_OK) { /* Hessian not PD or line search stalled: keep the L-BFGS point */
      double *g = malloc(dim * sizeof(double));
      if (!g) {
        s = ps_fail(m, PS_ENOMEM, "out of memory");
        lbfgs_free(x);
        free(best);
        return s;
      }
      tmp.objective = full_objective(sp, x, g);
      tmp.grad_norm = vnorm(g, dim);
      free(g);
      if (tmp.grad_norm <= o->tol * sp->W) s = PS_OK, tmp.converged = 1;
    }
    iters += tmp.iterations;
    if (tmp.objective < bestF) {
      bestF = tmp.objective;
      bestG = tmp.grad_norm;
      best_status = s;
      best_conv = tmp.converged;
      best_msg = tm;
      memcpy(best, x, dim * sizeof(double));
    }
  }
  memcpy(theta, best, dim * sizeof(double));
  res->objective = bestF;
  res->grad_norm = bestG;
  res->converged = best_conv;
  res->iterations = iters;
  if (best_status != PS_OK && m) *m = best_msg;
  lbfgs_free(x);
  free(best);
  return best_status;
}

/* ---------------- MLP ---------------- */

typedef struct {
  const policy_mlp *a;               /* NULL: the log-linear policy */
  double *wa, *wb, *s, *dkl, *work;  /* two activation caches, M scores, M KL grads, M */
  size_t *draw;                      /* kl_samples sampled responses */
} mlp_ws;

/* The policy behind the Adam loop: the MLP, or the log-linear scores theta^T phi
 * (one-hot without phi).  pol_backprop adds coef * d s(item) / d P to grad; for the
 * MLP, cache must hold pol_score's activations of the same item. */
static double pol_score(const space *sp, const mlp_ws *ws, const double *P, size_t item, double *cache) {
  const pref_features *f = sp->f;
  if (ws->a) return policy_mlp_score(ws->a, P, f->phi + item * f->d, cache);
  return f->phi ? dot8(f->phi + item * f->d, P, f->d) : P[item];
}

static void pol_backprop(const space *sp, const mlp_ws *ws, const double *P, size_t item, double coef, double *grad,
                         double *cache) {
  const pref_features *f = sp->f;
  if (ws->a)
    policy_mlp_backprop(ws->a, P, f->phi + item * f->d, coef, grad, cache);
  else if (f->phi)
    axpy8(coef, f->phi + item * f->d, grad, f->d);
  else
    grad[item] += coef;
}

/* Add the weight-c contribution of row i to F (returned) and grad (unscaled). */
static double mlp_row(const space *sp, mlp_ws *ws, const double *P, size_t i, double *grad) {
  const pref_data *d = sp->d;
  const dpo_options *o = sp->o;
  size_t w = (size_t)d->winner[i], l = (size_t)d->loser[i];
  double c = d->count ? d->count[i] : 1.0, g;
  double sw = pol_score(sp, ws, P, w, ws->wa), sl = pol_score(sp, ws, P, l, ws->wb);
  double F = c * dpo_loss_eval(o, sw - sl, &g, NULL);
  if (grad) {
    pol_backprop(sp, ws, P, w, c * g, grad, ws->wa);
    pol_backprop(sp, ws, P, l, -c * g, grad, ws->wb);
  }
  return F;
}

/* c * kl * KL of context ctx, gradient added to grad. */
static double mlp_context_kl(const space *sp, mlp_ws *ws, const double *P, size_t ctx, double c, double *grad) {
  size_t M = sp->M, first = ctx * M;
  for (size_t j = 0; j < M; j++) ws->s[j] = pol_score(sp, ws, P, first + j, ws->wa);
  const double *lr = sp->f->log_ref ? sp->f->log_ref + first : NULL;
  double kl = policy_softmax_kl(lr, ws->s, M, grad ? ws->dkl : NULL, ws->work), a = sp->o->kl * c;
  if (grad)
    for (size_t j = 0; j < M; j++) {
      pol_score(sp, ws, P, first + j, ws->wa);
      pol_backprop(sp, ws, P, first + j, a * ws->dkl[j], grad, ws->wa);
    }
  return a * kl;
}

/* HyPO's online term as the paper trains it: c * kl times the REINFORCE estimate with
 * the leave-one-out baseline (RLOO; Kool et al. 2019, Ahmadian et al. 2024) of
 * grad KL(pi_theta(.|x) || pi_ref(.|x)) from k = kl_samples responses y_j drawn from
 * pi_theta(.|x) with r:
 *     r_j = log pi(y_j) / pi_ref(y_j) = s(y_j) - log sum_y pi_ref(y) e^{s(y)},
 *     A_j = r_j - mean_{l != j} r_l,      g = (1/k) sum_j A_j grad s(y_j).
 * Unbiased: grad KL = E_pi[r grad log pi] (E_pi grad log pi = 0), each A_j's baseline
 * is independent of y_j, and grad log pi(y) = grad s(y) - E_pi grad s, whose second
 * term drops because the A_j sum to zero.  Added to grad. */
static void rloo_kl(const space *sp, mlp_ws *ws, const double *P, size_t ctx, double c, gsl_rng *r, double *grad) {
  size_t M = sp->M, first = ctx * M, k = (size_t)sp->o->kl_samples;
  const double *lr = sp->f->log_ref ? sp->f->log_ref + first : NULL;
  double lu = -log((double)M), mx = -INFINITY, L = 0, R = 0;
  for (size_t j = 0; j < M; j++) {
    ws->s[j] = pol_score(sp, ws, P, first + j, ws->wa);
    ws->work[j] = (lr ? lr[j] : lu) + ws->s[j];
    if (ws->work[j] > mx) mx = ws->work[j];
  }
  for (size_t j = 0; j < M; j++) L += (ws->dkl[j] = exp(ws->work[j] - mx));
  for (size_t j = 0; j < M; j++) ws->dkl[j] /= L; /* pi_theta */
  L = mx + log(L); /* log sum_y pi_ref e^s */
  for (size_t q = 0; q < k; q++) { /* inverse CDF draws from pi_theta */
    double u = gsl_rng_uniform(r), cum = 0;
    size_t j = 0;
    for (; j + 1 < M; j++)
      if ((cum += ws->dkl[j]) > u) break;
    ws->draw[q] = j;
    R += ws->s[j] - L;
  }
  double a = sp->o->kl * c / (double)k;
  for (size_t q = 0; q < k; q++) {
    size_t j = ws->draw[q];
    double rj = ws->s[j] - L, A = rj - (R - rj) / (double)(k - 1);
    if (ws->a) pol_score(sp, ws, P, first + j, ws->wa);
    pol_backprop(sp, ws, P, first + j, a * A, grad, ws->wa);
  }
}

int dpo_kl_rloo(const pref_features *f, const dpo_options *o, const double *theta, size_t ctx, gsl_rng *r,
                double *grad) {
  if (!f || !o || !theta || !r || !grad || o->kl_samples < 2 || o->policy != DPO_POLICY_LOGLINEAR) return PS_EINVAL;
  size_t C = f->n_contexts ? f->n_contexts : 1, M = f->n_items / C, dim = f->phi ? f->d : f->n_items;
  if (ctx >= C) return PS_EINVAL;
  space sp = {.f = f, .o = o, .C = C, .M = M, .dim = dim};
  mlp_ws ws = {0};
  ws.s = malloc(M * sizeof(double));
  ws.work = malloc(M * sizeof(double));
  ws.dkl = malloc(M * sizeof(double));
  ws.draw = malloc((size_t)o->kl_samples * sizeof(size_t));
  int status = PS_ENOMEM;
  if (ws.s && ws.work && ws.dkl && ws.draw) {
    dpo_options one = *o;
    one.kl = 1;
    sp.o = &one;
    memset(grad, 0, dim * sizeof(double));
    rloo_kl(&sp, &ws, theta, ctx, 1, r, grad);
    status = PS_OK;
  }
  free(ws.s);
  free(ws.work);
  free(ws.dkl);
  free(ws.draw);
  return status;
}

/* a NULL: the log-linear policy (one-value activation caches) */
static int mlp_ws_alloc(mlp_ws *ws, const policy_mlp *a, size_t M, int k) {
  size_t L = a ? policy_mlp_work_len(a) : 1;
  ws->a = a;
  ws->wa = malloc(L * sizeof(double));
  ws->wb = malloc(L * sizeof(double));
  ws->s = malloc(M * sizeof(double));
  ws->dkl = malloc(M * sizeof(double));
  ws->work = malloc(M * sizeof(double));
  ws->draw = malloc((size_t)(k > 0 ? k : 1) * sizeof(size_t));
  return ws->wa && ws->wb && ws->s && ws->dkl && ws->work && ws->draw ? PS_OK : PS_ENOMEM;
}

static void mlp_ws_free(mlp_ws *ws) {
  free(ws->wa);
  free(ws->wb);
  free(ws->s);
  free(ws->dkl);
  free(ws->work);
  free(ws->draw);
}

static double mlp_full(space *sp, mlp_ws *ws, const double *P, double *grad) {
  size_t np = ws->a ? ws->a->n_params : sp->dim;
  double F = 0, pen = 0;
  if (grad) memset(grad, 0, np * sizeof(double));
  for (size_t i = 0; i < sp->d->n; i++) F += mlp_row(sp, ws, P, i, grad);
  if (sp->o->kl > 0)
    for (size_t c = 0; c < sp->C; c++)
      if (sp->wc[c] > 0) F += mlp_context_kl(sp, ws, P, c, sp->wc[c], grad);
  for (size_t k = 0; k < np; k++) {
    pen += P[k] * P[k];
    if (grad) grad[k] += sp->o->l2 * P[k];
  }
  return F + 0.5 * sp->o->l2 * pen;
}

double dpo_mlp_objective(const pref_data *d, const pref_features *f, const dpo_options *o,
                         const policy_mlp *a, const double *params, double *grad) {
  space sp;
  mlp_ws ws = {0};
  double F = NAN;
  if (space_init(&sp, d, f, o) != PS_OK) return NAN;
  if (mlp_ws_alloc(&ws, a, sp.M, 0) == PS_OK) F = mlp_full(&sp, &ws, params, grad);
  mlp_ws_free(&ws);
  space_free(&sp);
  return F;
}

/* Adam on minibatches: the MLP policy (restarts from Glorot initialisations), and
 * HyPO with the sampled KL (kl_samples > 0; log-linear from theta = 0, i.e. pi = pi_ref,
 * once).  With the sampled KL the gradient is noisy even at full batch, so the result
 * is the Polyak-Ruppert average of the iterates over the second half of the epochs;
 * F, the gradient norm and `converged` (||grad|| <= 1e-3 W) are exact, at that point. */
static int adam_fit(space *sp, gsl_rng *r, dpo_result *res, ps_msg *m) {
  const dpo_options *o = sp->o;
  const pref_data *d = sp->d;
  const policy_mlp *a = o->policy == DPO_POLICY_MLP ? &res->mlp : NULL;
  size_t np = a ? a->n_params : sp->dim, n = d->n;
  size_t batch = o->batch == 0 || o->batch > n ? n : o->batch;
  int sampled = o->kl > 0 && o->kl_samples > 0, restarts = a ? o->restarts : 1;
  mlp_ws ws = {0};
  double *P = malloc(np * sizeof(double)), *g = malloc(np * sizeof(double));
  double *avg = malloc(np * sizeof(double));
  size_t *order = malloc(n * sizeof(size_t));
  adam *opt = adam_alloc_bias(np, ADAM_BIAS_POW);
  int status = PS_OK;
  if (!P || !g || !avg || !order || !opt || mlp_ws_alloc(&ws, a, sp->M, o->kl_samples) != PS_OK) {
    status = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  double bestF = INFINITY;
  for (int rs = 0; rs < restarts; rs++) {
    if (a)
      policy_mlp_glorot(a, P, r);
    else
      memset(P, 0, np * sizeof(double));
    adam_reset(opt);
    memset(avg, 0, np * sizeof(double));
    long navg = 0;
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (int ep = 0; ep < o->epochs; ep++) {
      if (batch < n) gsl_ran_shuffle(r, order, n, sizeof(size_t));
      for (size_t b0 = 0; b0 < n; b0 += batch) {
        size_t b1 = b0 + batch < n ? b0 + batch : n;
        double wb = 0;
        memset(g, 0, np * sizeof(double));
        for (size_t t = b0; t < b1; t++) {
          size_t i = order[t], ctx = (size_t)d->winner[i] / sp->M;
          double c = d->count ? d->count[i] : 1.0;
          wb += c;
          mlp_row(sp, &ws, P, i, g);
          if (sampled)
            rloo_kl(sp, &ws, P, ctx, c, r, g);
          else if (o->kl > 0)
            mlp_context_kl(sp, &ws, P, ctx, c, g);
        }
        /* gradient of the mean-form objective F / W estimated on the batch */
        for (size_t k = 0; k < np; k++) g[k] = g[k] / wb + o->l2 / sp->W * P[k];
        adam_tick(opt);
        adam_update(opt, P, g, 0, np, o->lr, 0);
        if (sampled && 2 * ep >= o->epochs) { /* running mean of the second half's iterates */
          navg++;
          for (size_t k = 0; k < np; k++) avg[k] += (P[k] - avg[k]) / (double)navg;
        }
      }
    }
    if (sampled) memcpy(P, avg, np * sizeof(double));
    double F = mlp_full(sp, &ws, P, g);
    if (!isfinite(F)) continue;
    if (F < bestF) {
      bestF = F;
      res->objective = F;
      res->grad_norm = vnorm(g, np);
      memcpy(res->theta, P, np * sizeof(double));
    }
  }
  res->iterations = o->epochs;
  if (!isfinite(bestF)) {
    status = ps_fail(m, PS_EDOM, "every %s ended with a non-finite objective (lower lr)",
                     a ? "MLP restart" : "Adam run");
    goto done;
  }
  res->converged = res->grad_norm <= 1e-3 * sp->W;
done:
  mlp_ws_free(&ws);
  free(P);
  free(g);
  adam_free(opt);
  free(avg);
  free(order);
  return status;
}

/* ---------------- validation and the driver ---------------- */

/* fused_phi: the fused solver will check phi itself (newton_fused), so the separate
 * scan of the feature matrix -- a full read of it -- is skipped here. */
static int check_input(const pref_data *d, const pref_features *f, const dpo_options *o, int fused_phi, ps_msg *m) {
  int s = dpo_options_check(o, m);
  if (s != PS_OK) return s;
  if (!d || d->n == 0) return ps_fail(m, PS_EINVAL, "no comparisons to fit");
  if (!f || f->n_items == 0) return ps_fail(m, PS_EINVAL, "no items");
  if (f->n_items != d->n_items)
    return ps_fail(m, PS_EINVAL, "data have %zu items but the features %zu", d->n_items, f->n_items);
  if ((s = pref_data_check(d, m)) != PS_OK) return s;
  size_t C = f->n_contexts ? f->n_contexts : 1, M = f->n_items / C;
  if (M * C != f->n_items || M < 2)
    return ps_fail(m, PS_EINVAL, "%zu items do not split into %zu contexts of >= 2 responses", f->n_items, C);
  for (size_t i = 0; i < d->n; i++)
    if ((size_t)d->winner[i] / M != (size_t)d->loser[i] / M)
      return ps_fail(m, PS_EINVAL, "row %zu compares items %d and %d of different contexts", i, d->winner[i],
                     d->loser[i]);
  if (f->phi) {
    if (f->d == 0) return ps_fail(m, PS_EINVAL, "feature dimension is 0");
    if (!fused_phi && (s = phi_check(f, m)) != PS_OK) return s;
  } else if (o->policy == DPO_POLICY_MLP) {
    return ps_fail(m, PS_EINVAL, "policy = mlp needs item features (phi); items worlds use the tabular log-linear policy");
  }
  if (f->log_ref)
    for (size_t i = 0; i < f->n_items; i++)
      if (!isfinite(f->log_ref[i])) return ps_fail(m, PS_EDOM, "log pi_ref of item %zu is not finite", i);
  return PS_OK;
}

int dpo_fit(const pref_data *d, const pref_features *f, const dpo_options *o, gsl_rng *r,
            dpo_result *res, ps_msg *m) {
  memset(res, 0, sizeof *res);
  res->grad_norm = NAN;
  res->objective = NAN;
  res->policy = o->policy;
  size_t C = f && f->n_contexts ? f->n_contexts : 1;
  int fused = o->policy == DPO_POLICY_LOGLINEAR && o->loss != DPO_LOSS_HINGE && !(o->kl > 0) && f && f->phi &&
              o->solver == DPO_SOLVER_AUTO && f->n_items / C <= 256;
  int status = check_input(d, f, o, fused, m);
  if (status != PS_OK) return res->status = status;
  space sp;
  if (space_init(&sp, d, f, o) != PS_OK) return res->status = ps_fail(m, PS_ENOMEM, "out of memory");
  if (o->policy == DPO_POLICY_MLP) {
    if ((status = policy_mlp_init(&res->mlp, f->d, o->width, o->layers, o->act, m)) != PS_OK) goto done;
    if (!r) {
      status = ps_fail(m, PS_EINVAL, "the MLP fit needs a random stream");
      goto done;
    }
    res->dim = res->mlp.n_params;
    res->theta = calloc(res->dim, sizeof(double));
    if (!res->theta) {
      status = ps_fail(m, PS_ENOMEM, "out of memory");
      goto done;
    }
    status = adam_fit(&sp, r, res, m);
    goto done;
  }
  res->dim = sp.dim;
  res->theta = calloc(res->dim, sizeof(double));
  if (!res->theta) {
    status = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  if (o->loss == DPO_LOSS_HINGE) {
    status = hinge_fit(&sp, res->theta, res, m);
  } else if (o->kl > 0 && o->kl_samples > 0) {
    status = r ? adam_fit(&sp, r, res, m) : ps_fail(m, PS_EINVAL, "the sampled KL (kl_samples > 0) needs a random stream");
  } else if (o->kl > 0) {
    status = hypo_loglinear(&sp, r, res->theta, res, m);
  } else if (fused) {
    status = newton_fused(&sp, res->theta, res, m);
    if (status == PS_ESINGULAR) {
      /* the single-precision Hessian blocks may round a nearly singular design to a
       * failed Cholesky: let the double-precision exact Newton decide */
      int it = res->iterations;
      status = newton(&sp, res->theta, res, m);
      res->iterations += it;
    }
  } else if (f->phi && (o->solver == DPO_SOLVER_CG || o->solver == DPO_SOLVER_AUTO)) {
    status = newton_cg(&sp, res->theta, res, m);
  } else if (o->loss == DPO_LOSS_DPO && f->phi && o->solver == DPO_SOLVER_BT) {
    /* logistic regression on beta x_i: BT with theta_bt = beta theta, lambda_bt = l2 / beta^2 */
    bt_options bo = bt_options_default();
    bo.l2 = o->l2 / (o->beta * o->beta);
    bo.tol = o->tol;
    bo.max_iter = o->max_iter;
    pref_features fb = *f;
    bt_result br = {0};
    status = bt_fit(d, &fb, &bo, &br, m);
    if (br.theta)
      for (size_t k = 0; k < sp.dim; k++) res->theta[k] = br.theta[k] / o->beta;
    res->iterations = br.iterations;
    bt_result_free(&br);
    double *g = malloc(sp.dim * sizeof(double));
    if (!g) {
      status = ps_fail(m, PS_ENOMEM, "out of memory");
      goto done;
    }
    res->objective = full_objective(&sp, res->theta, g);
    res->grad_norm = vnorm(g, sp.dim);
    free(g);
    res->converged = status == PS_OK;
  } else {
    status = newton(&sp, res->theta, res, m);
  }
done:
  space_free(&sp);
  res->status = status;
  return status;
}

void dpo_result_scores(const dpo_result *res, const pref_features *f, size_t first, size_t m, double *s,
                       double *work) {
  if (res->policy == DPO_POLICY_LOGLINEAR) {
    policy_loglinear_scores(f, res->theta, first, m, s);
    return;
  }
  for (size_t j = 0; j < m; j++) s[j] = policy_mlp_score(&res->mlp, res->theta, f->phi + (first + j) * f->d, work);
}
