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
int dpo_may_separate(const dpo_options *o) {
  return (o->loss == DPO_LOSS_DPO || (o->loss == DPO_LOSS_CDPO && o->eps == 0)) && o->l2 == 0;
}

/* The one failure all log-linear solvers report on separable data (no penalty). */
int dpo_fail_separable(const dpo_options *o, ps_msg *m) {
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


void dpo_space_free(dpo_space *sp) {
  free(sp->wc);
  free(sp->s);
  free(sp->gs);
  free(sp->work);
  free(sp->dkl);
}

int dpo_space_init(dpo_space *sp, const pref_data *d, const pref_features *f, const dpo_options *o) {
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
    dpo_space_free(sp);
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
static void scores_all(const dpo_space *sp, const double *theta) {
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
static double score_objective(dpo_space *sp) {
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

double dpo_full_objective(dpo_space *sp, const double *theta, double *grad) {
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
  dpo_space sp;
  if (dpo_space_init(&sp, d, f, o) != PS_OK) return NAN;
  double F = dpo_full_objective(&sp, theta, grad);
  dpo_space_free(&sp);
  return F;
}

/* Exact Hessian of F at the scores in sp->s (call full_objective first), plus the
 * tabular per-context 11^T/M.  H is dim x dim.  PS_ENOMEM on failure. */
static int build_hessian(dpo_space *sp, double *H) {
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
  dpo_space sp;
  if (dpo_space_init(&sp, d, f, o) != PS_OK) return PS_ENOMEM;
  dpo_full_objective(&sp, theta, NULL);
  int s = build_hessian(&sp, H);
  if (s == PS_OK && !f->phi) /* undo the identification term: report the Hessian of F itself */
    for (size_t c = 0; c < sp.C; c++)
      for (size_t j = 0; j < sp.M; j++)
        for (size_t k = 0; k < sp.M; k++) H[(c * sp.M + j) * sp.dim + c * sp.M + k] -= 1.0 / (double)sp.M;
  dpo_space_free(&sp);
  return s;
}

double dpo_vnorm(const double *v, size_t n) {
  double s = 0;
  for (size_t k = 0; k < n; k++) s += v[k] * v[k];
  return sqrt(s);
}

/* Rounding bound of the objective F, a sum of n row terms: n eps (|F| + 1), here
 * its coefficient (n + 1) eps.  When the predicted decrease of a Newton step is
 * below it, Armijo tests noise. */
double dpo_f_rounding_coef(const dpo_space *sp) { return (double)(sp->d->n + 1) * DBL_EPSILON; }

double dpo_f_rounding(const dpo_space *sp, double F) { return dpo_f_rounding_coef(sp) * (fabs(F) + 1); }

/* 1 when every row has a positive margin (a separating direction for dpo). */
int dpo_separated(const dpo_space *sp) {
  for (size_t i = 0; i < sp->d->n; i++)
    if (!(sp->s[sp->d->winner[i]] - sp->s[sp->d->loser[i]] > 0)) return 0;
  return 1;
}

/* The exact Newton fit's callbacks (core/newton.h): F through item space, and the
 * direction -H^-1 g by Cholesky of the exact Hessian, built at the scores fdf left in
 * sp->s (the driver asks for a direction right after evaluating its point). */
typedef struct {
  dpo_space *sp;
  double *H; /* dim x dim */
} exact_newton;

static double exact_fdf(void *params, const double *theta, double *g) {
  return dpo_full_objective(((exact_newton *)params)->sp, theta, g);
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
int dpo_newton(dpo_space *sp, double *theta, dpo_result *res, ps_msg *m) {
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
  par.probe = dpo_f_rounding_coef(sp);
  par.retrace = 1;
  int separable = dpo_may_separate(o) && o->kl == 0;
  newton_set(s, &fn, &par, theta);
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
/* ---------------- hinge: dual coordinate descent ---------------- */

static int hinge_fit(dpo_space *sp, double *theta, dpo_result *res, ps_msg *m) {
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
  res->objective = dpo_full_objective(sp, theta, NULL);
  res->grad_norm = viol;
  res->iterations = ep;
  free(alpha);
  free(q);
  return status;
}

/* ---------------- L-BFGS (HyPO) ---------------- */

typedef struct {
  dpo_space *sp;
  int k; /* L-BFGS iterations of the current start */
} lbfgs_inst;

static lbfgsfloatval_t lbfgs_eval(void *inst, const lbfgsfloatval_t *x, lbfgsfloatval_t *g, const int n,
                                  const lbfgsfloatval_t step) {
  (void)n;
  (void)step;
  return dpo_full_objective(((lbfgs_inst *)inst)->sp, x, g);
}

static int lbfgs_progress(void *inst, const lbfgsfloatval_t *x, const lbfgsfloatval_t *g, const lbfgsfloatval_t fx,
                          const lbfgsfloatval_t xnorm, const lbfgsfloatval_t gnorm, const lbfgsfloatval_t step, int n,
                          int k, int ls) {
  (void)x, (void)g, (void)fx, (void)xnorm, (void)gnorm, (void)step, (void)n, (void)ls;
  ((lbfgs_inst *)inst)->k = k;
  return 0;
}

static int hypo_loglinear(dpo_space *sp, gsl_rng *r, double *theta, dpo_result *res, ps_msg *m) {
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
    int s = dpo_newton(sp, x, &tmp, &tm);
    if (s != PS_OK) { /* Hessian not PD or line search stalled: keep the L-BFGS point */
      double *g = malloc(dim * sizeof(double));
      if (!g) {
        s = ps_fail(m, PS_ENOMEM, "out of memory");
        lbfgs_free(x);
        free(best);
        return s;
      }
      tmp.objective = dpo_full_objective(sp, x, g);
      tmp.grad_norm = dpo_vnorm(g, dim);
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
    if (!fused_phi && (s = dpo_phi_check(f, m)) != PS_OK) return s;
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
  dpo_space sp;
  if (dpo_space_init(&sp, d, f, o) != PS_OK) return res->status = ps_fail(m, PS_ENOMEM, "out of memory");
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
    status = dpo_adam_fit(&sp, r, res, m);
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
    status = r ? dpo_adam_fit(&sp, r, res, m) : ps_fail(m, PS_EINVAL, "the sampled KL (kl_samples > 0) needs a random stream");
  } else if (o->kl > 0) {
    status = hypo_loglinear(&sp, r, res->theta, res, m);
  } else if (fused) {
    status = dpo_newton_fused(&sp, res->theta, res, m);
    if (status == PS_ESINGULAR) {
      /* the single-precision Hessian blocks may round a nearly singular design to a
       * failed Cholesky: let the double-precision exact Newton decide */
      int it = res->iterations;
      status = dpo_newton(&sp, res->theta, res, m);
      res->iterations += it;
    }
  } else if (f->phi && (o->solver == DPO_SOLVER_CG || o->solver == DPO_SOLVER_AUTO)) {
    status = dpo_newton_cg(&sp, res->theta, res, m);
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
    res->objective = dpo_full_objective(&sp, res->theta, g);
    res->grad_norm = dpo_vnorm(g, sp.dim);
    free(g);
    res->converged = status == PS_OK;
  } else {
    status = dpo_newton(&sp, res->theta, res, m);
  }
done:
  dpo_space_free(&sp);
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

int dpo_check_input(const pref_data *d, const pref_features *f, const dpo_options *o, ps_msg *m) {
  return check_input(d, f, o, 0, m);
}
