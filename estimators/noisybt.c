/* noisybt.c — NoisyBT by direct MAP with L-BFGS (docs/theory.md §2.4, §3.3a; the model of
 * Bugakova et al., "Aggregation of pairwise comparisons with reduction of biases",
 * arXiv 1906.03711, as in crowd-kit's NoisyBT, whose gradient is wrong (§7): this file
 * is written from the likelihood and its gradient is checked against central finite
 * differences in tests/test_noisybt.c).
 *
 * One comparison r by annotator w, first-shown item a, second b, t = +1 when a won and
 * -1 otherwise, z = s_a - s_b:
 *
 *     log P(y_r) = LSE(A, B),   A = log sigma(gamma_w) + log sigma(t z)
 *                               B = log sigma(-gamma_w) + log sigma(t q_w)
 *
 * with every log sigma(x) written -softplus(-x) (never log of a sigmoid).  With
 * omega = e^A / (e^A + e^B), the posterior probability that the label came from the
 * scores, the derivatives of -log P are
 *
 *     d/dz = -omega t sigma(-t z),   d/dgamma = sigma(gamma) - omega,
 *     d/dq = -(1 - omega) t sigma(-t q).
 *
 * One pass over the rows per evaluation (O(n + n_items d + n_annotators)); the scores
 * are formed per item (s = Phi theta) and the score gradient is pulled back with
 * Phi^T, as in bt.c.  Presentation order unknown (first_won == NULL): the winner is
 * taken as "first" and q is fixed at 0, which makes the model symmetric in the order.
 *
 * Priors (see noisybt.h) and their defaults:
 *   - anchor r = 1e-5 on item scores (docs/theory.md §3.3a): removes the shift invariance
 *     with a negligible pull (its curvature r/2 per item against ~n/(4m) from data);
 *   - l2 = 1e-5 on feature weights: there is no shift invariance with features (no
 *     intercept), this only keeps separable designs finite;
 *   - l2_skill = 1 around skill_mean = logit(0.9): sigma(gamma) and the scale of s
 *     trade off (docs/theory.md §3.3a): lowering every gamma while stretching s fits almost
 *     as well, and with many annotators of few labels each the unpenalised fit runs off
 *     along that direction (measured: 3000 annotators x 33 labels, 1000 items, gave
 *     scores stretched 3.2x after 2000 iterations with a prior centred at 0, which
 *     pulls the same way).  A prior centred on a competent annotator (the start value)
 *     holds the scale; precision 1 (sigma(gamma) within [0.77, 0.96] at one sd) is
 *     weaker than the information a careless annotator's ~100 labels carry about gamma
 *     (~0.02 per label at sigma(gamma) = 0.6), while a careful annotator's gamma
 *     (~1e-3 per label at 0.98) stays near the prior: competence is ranked well, its
 *     top end is shrunk.  The scale is then over-corrected, by the shrunk top
 *     competences and by the incidental-parameter bias of the per-annotator
 *     parameters (measured on docs/theory.md's example population, slope of fitted on true
 *     scores: 1.18 at 200 labels per annotator, 1.13 at 800, where plain BT gives 0.80;
 *     with a negligible skill prior 1.24, 1.11, 1.05 at 200, 600, 2000 labels: the
 *     incidental part falls like 1/labels); compare rankings, as docs/theory.md advises;
 *   - l2_bias = 0.1 (sd 3.2, sigma(q) in [0.04, 0.96] at one sd): q of a careful
 *     annotator has information ~ (1 - sigma(gamma))^2 / 4 per label and would wander.
 *
 * Optimisation: L-BFGS (liblbfgs, More-Thuente line search) in the variables
 * v = x sqrt(h), h = the diagonal of the Fisher information at the start plus the prior
 * curvature: item scores see thousands of labels, an annotator's gamma a few hundred
 * times a small information, and without this scaling L-BFGS's first steps are off by
 * orders of magnitude between the blocks.  The problem is not convex (a mixture); the
 * start is a plain BT fit and sigma(gamma) = init_competence > 1/2, which selects the
 * mode where annotators are better than chance (docs/theory.md §3.3 label switching). */
#include "noisybt.h"

#include <lbfgs.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "bt.h"
#include "estimator.h"

noisybt_options noisybt_options_default(void) {
  noisybt_options o = {.anchor = 1e-5,
                       .l2 = 1e-5,
                       .l2_skill = 1,
                       .skill_mean = 2.1972245773362196, /* logit(0.9) */
                       .l2_bias = 0.1,
                       .fit_bias = 1,
                       .init_competence = 0.9,
                       .tol = 1e-8,
                       .max_iter = 2000};
  return o;
}

int noisybt_options_check(const noisybt_options *o, ps_msg *m) {
  if (!(o->anchor >= 0) || !isfinite(o->anchor))
    return ps_fail(m, PS_EINVAL, "noisybt: anchor = %g must be finite and >= 0", o->anchor);
  if (!(o->l2 >= 0) || !isfinite(o->l2)) return ps_fail(m, PS_EINVAL, "noisybt: l2 = %g must be finite and >= 0", o->l2);
  if (!(o->l2_skill >= 0) || !isfinite(o->l2_skill))
    return ps_fail(m, PS_EINVAL, "noisybt: l2_skill = %g must be finite and >= 0", o->l2_skill);
  if (!isfinite(o->skill_mean)) return ps_fail(m, PS_EINVAL, "noisybt: skill_mean must be finite");
  if (!(o->l2_bias >= 0) || !isfinite(o->l2_bias))
    return ps_fail(m, PS_EINVAL, "noisybt: l2_bias = %g must be finite and >= 0", o->l2_bias);
  if (!(o->init_competence > 0.5 && o->init_competence < 1))
    return ps_fail(m, PS_EINVAL, "noisybt: init_competence = %g must be in (0.5, 1)", o->init_competence);
  if (!(o->tol > 0) || !isfinite(o->tol)) return ps_fail(m, PS_EINVAL, "noisybt: tol = %g must be finite and > 0", o->tol);
  if (o->max_iter < 1) return ps_fail(m, PS_EINVAL, "noisybt: max_iter = %d must be >= 1", o->max_iter);
  return PS_OK;
}

double noisybt_log_prob(double skill, double bias, double margin, int first_won) {
  double t = first_won ? 1.0 : -1.0;
  double A = -ps_softplus(-skill) - ps_softplus(-t * margin);
  double B = -ps_softplus(skill) - ps_softplus(-t * bias);
  double hi = A > B ? A : B;
  return hi + log1p(exp(-fabs(A - B)));
}

/* ------------------------------------------------------------ objective */

typedef struct {
  const pref_data *d;
  const pref_features *f;
  const noisybt_options *o;
  int items, use_bias;
  size_t m, dim, H, nvar;
  double *s, *gs;       /* item scores and their gradient (m) */
  double *ann;          /* per annotator: log sigma(g), log sigma(-g), sigma(g), log sigma(q), log sigma(-q),
                         * sigma(q), sigma(-q) */
  double *x, *gx;       /* parameters and gradient in the original scale (nvar) */
  double *sqrt_h;       /* variable scaling (nvar) */
  double tol_abs, gnorm;
  int evals, iters;
} nb_work;

enum { ANN_LSG, ANN_LSMG, ANN_SG, ANN_LSQ, ANN_LSMQ, ANN_SQ, ANN_SMQ, ANN_N };

static int nb_work_init(nb_work *w, const pref_data *d, const pref_features *f, const noisybt_options *o) {
  memset(w, 0, sizeof *w);
  w->d = d;
  w->f = f;
  w->o = o;
  w->items = f->phi == NULL;
  w->use_bias = o->fit_bias && d->first_won != NULL;
  w->m = f->n_items;
  w->dim = f->d;
  w->H = d->annotator ? d->n_annotators : 1;
  w->nvar = w->dim + w->H * (w->use_bias ? 2 : 1);
  w->s = malloc(w->m * sizeof(double));
  w->gs = malloc(w->m * sizeof(double));
  w->ann = malloc(w->H * ANN_N * sizeof(double));
  return (w->s && w->gs && w->ann) ? PS_OK : PS_ENOMEM;
}

static void nb_work_free(nb_work *w) {
  free(w->s);
  free(w->gs);
  free(w->ann);
  free(w->x);
  free(w->gx);
  free(w->sqrt_h);
}

/* s = theta (items) or Phi theta */
static void nb_scores(nb_work *w, const double *theta) {
  const pref_features *f = w->f;
  if (w->items) {
    memcpy(w->s, theta, w->m * sizeof(double));
    return;
  }
  for (size_t i = 0; i < w->m; i++) {
    const double *p = f->phi + i * f->d;
    double v = 0;
    for (size_t k = 0; k < f->d; k++) v += p[k] * theta[k];
    w->s[i] = v;
  }
}

static void nb_annotator_cache(nb_work *w, const double *skill, const double *bias) {
  for (size_t h = 0; h < w->H; h++) {
    double g = skill[h], q = (w->use_bias && bias) ? bias[h] : 0.0;
    double *a = w->ann + h * ANN_N;
    a[ANN_LSG] = -ps_softplus(-g);
    a[ANN_LSMG] = -ps_softplus(g);
    a[ANN_SG] = ps_sigmoid(g);
    a[ANN_LSQ] = -ps_softplus(-q);
    a[ANN_LSMQ] = -ps_softplus(q);
    a[ANN_SQ] = ps_sigmoid(q);
    a[ANN_SMQ] = ps_sigmoid(-q);
  }
}

/* f, gradient (if g_theta != NULL; g_skill, g_bias then required, g_bias may be NULL
 * when !use_bias) and loglik. */
static double nb_eval(nb_work *w, const double *theta, const double *skill, const double *bias, double *g_theta,
                      double *g_skill, double *g_bias, double *loglik) {
  const pref_data *d = w->d;
  const noisybt_options *o = w->o;
  int grad = g_theta != NULL;
  nb_scores(w, theta);
  nb_annotator_cache(w, skill, bias);
  if (grad) {
    memset(w->gs, 0, w->m * sizeof(double));
    memset(g_skill, 0, w->H * sizeof(double));
    if (g_bias) memset(g_bias, 0, w->H * sizeof(double));
  }
  double ll = 0;
  const double *s = w->s;
  double *gs = w->gs;
  for (size_t r = 0; r < d->n; r++) {
    size_t h = d->annotator ? (size_t)d->annotator[r] : 0;
    const double *a = w->ann + h * ANN_N;
    double c = d->count ? d->count[r] : 1.0;
    int32_t first = d->winner[r], second = d->loser[r];
    double t = 1.0;
    if (d->first_won && !d->first_won[r]) {
      first = d->loser[r];
      second = d->winner[r];
      t = -1.0;
    }
    double u = t * (s[first] - s[second]);
    /* L = softplus(-u) = -log sigma(u); sigma(-u) from the same exponential */
    double e1 = exp(-fabs(u));
    double L = (u < 0 ? -u : 0.0) + log1p(e1);
    double A = a[ANN_LSG] - L;
    double B = a[ANN_LSMG] + (t > 0 ? a[ANN_LSQ] : a[ANN_LSMQ]);
    double D = A - B, e2 = exp(-fabs(D));
    ll += c * ((D >= 0 ? A : B) + log1p(e2));
    if (!grad) continue;
    double sneg = u >= 0 ? e1 / (1 + e1) : 1 / (1 + e1);      /* sigma(-u) */
    double omega = D >= 0 ? 1 / (1 + e2) : e2 / (1 + e2);     /* e^A / (e^A + e^B) */
    double omega_c = D >= 0 ? e2 / (1 + e2) : 1 / (1 + e2);   /* 1 - omega */
    double gz = -c * omega * t * sneg;
    gs[first] += gz;
    gs[second] -= gz;
    g_skill[h] += c * (a[ANN_SG] - omega);
    if (g_bias && w->use_bias) g_bias[h] += -c * omega_c * t * (t > 0 ? a[ANN_SMQ] : a[ANN_SQ]);
  }
  double fval = -ll;
  /* priors */
  if (w->items) {
    double r = o->anchor;
    if (r > 0)
      for (size_t i = 0; i < w->m; i++) {
        fval += r * (ps_softplus(s[i]) + ps_softplus(-s[i]));
        if (grad) gs[i] += r * (ps_sigmoid(s[i]) - ps_sigmoid(-s[i]));
      }
    /* (l2/2)||s||^2 on item scores too: with competence < 1 the likelihood is bounded
     * (P >= (1 - c)/2), so an item that almost always wins drifts far under the anchor
     * alone; a Gaussian prior keeps its score finite */
    if (o->l2 > 0)
      for (size_t i = 0; i < w->m; i++) {
        fval += 0.5 * o->l2 * s[i] * s[i];
        if (grad) gs[i] += o->l2 * s[i];
      }
    if (grad) memcpy(g_theta, gs, w->m * sizeof(double));
  } else {
    const pref_features *f = w->f;
    double sq = 0;
    for (size_t k = 0; k < w->dim; k++) sq += theta[k] * theta[k];
    fval += 0.5 * o->l2 * sq;
    if (grad) {
      for (size_t k = 0; k < w->dim; k++) g_theta[k] = o->l2 * theta[k];
      for (size_t i = 0; i < w->m; i++) {
        if (gs[i] == 0) continue;
        const double *p = f->phi + i * f->d;
        for (size_t k = 0; k < f->d; k++) g_theta[k] += gs[i] * p[k];
      }
    }
  }
  for (size_t h = 0; h < w->H; h++) {
    double dg = skill[h] - o->skill_mean;
    fval += 0.5 * o->l2_skill * dg * dg;
    if (grad) g_skill[h] += o->l2_skill * dg;
    if (w->use_bias && bias) {
      fval += 0.5 * o->l2_bias * bias[h] * bias[h];
      if (grad && g_bias) g_bias[h] += o->l2_bias * bias[h];
    }
  }
  if (loglik) *loglik = ll;
  return fval;
}

double noisybt_objective(const pref_data *d, const pref_features *f, const noisybt_options *o,
                         const double *theta, const double *skill, const double *bias, double *g_theta,
                         double *g_skill, double *g_bias, double *loglik) {
  nb_work w;
  double v = NAN;
  if (nb_work_init(&w, d, f, o) == PS_OK) {
    if (g_bias && (!w.use_bias || !bias)) {
      memset(g_bias, 0, w.H * sizeof(double));
      g_bias = NULL;
    }
    if (g_theta && !g_skill) { /* gradient asked for partially: compute into scratch */
      double *tmp = malloc(w.H * sizeof(double));
      if (tmp) v = nb_eval(&w, theta, skill, bias, g_theta, tmp, g_bias, loglik);
      free(tmp);
    } else {
      v = nb_eval(&w, theta, skill, bias, g_theta, g_skill, g_bias, loglik);
    }
  }
  nb_work_free(&w);
  return v;
}

/* ------------------------------------------------------------ scaling */

/* h = diagonal of the expected (Fisher) information of the labels at x, in probability
 * space (only used to scale the variables), plus each prior's curvature. */
static void nb_fisher_diag(nb_work *w, const double *x, double *h) {
  const pref_data *d = w->d;
  const pref_features *f = w->f;
  const double *skill = x + w->dim, *bias = w->use_bias ? x + w->dim + w->H : NULL;
  nb_scores(w, x);
  memset(h, 0, w->nvar * sizeof(double));
  double *hs = w->gs; /* per-item information (items) */
  memset(hs, 0, w->m * sizeof(double));
  for (size_t r = 0; r < d->n; r++) {
    size_t a = d->annotator ? (size_t)d->annotator[r] : 0;
    double c = d->count ? d->count[r] : 1.0;
    int32_t i = d->winner[r], j = d->loser[r];
    if (d->first_won && !d->first_won[r]) {
      i = d->loser[r];
      j = d->winner[r];
    }
    double z = w->s[i] - w->s[j], g = skill[a], q = bias ? bias[a] : 0.0;
    double sg = ps_sigmoid(g), smg = ps_sigmoid(-g);
    double p1 = sg * ps_sigmoid(z) + smg * ps_sigmoid(q);  /* P(first wins) */
    double p0 = sg * ps_sigmoid(-z) + smg * ps_sigmoid(-q);
    double var = p1 * p0 + 1e-300;
    double dz = sg * ps_sigmoid_deriv(z), dg = ps_sigmoid_deriv(g) * (ps_sigmoid(z) - ps_sigmoid(q));
    double dq = smg * ps_sigmoid_deriv(q);
    double iz = c * dz * dz / var;
    if (w->items) {
      hs[i] += iz;
      hs[j] += iz;
    } else {
      const double *pi = f->phi + (size_t)i * f->d, *pj = f->phi + (size_t)j * f->d;
      for (size_t k = 0; k < f->d; k++) {
        double dx = pi[k] - pj[k];
        h[k] += iz * dx * dx;
      }
    }
    h[w->dim + a] += c * dg * dg / var;
    if (bias) h[w->dim + w->H + a] += c * dq * dq / var;
  }
  if (w->items)
    for (size_t k = 0; k < w->m; k++) h[k] = hs[k] + w->o->anchor * 2 * ps_sigmoid_deriv(x[k]);
  else
    for (size_t k = 0; k < w->dim; k++) h[k] += w->o->l2;
  for (size_t a = 0; a < w->H; a++) {
    h[w->dim + a] += w->o->l2_skill;
    if (bias) h[w->dim + w->H + a] += w->o->l2_bias;
  }
  double hmax = 0;
  for (size_t k = 0; k < w->nvar; k++)
    if (h[k] > hmax) hmax = h[k];
  /* a variable no label and no prior touches keeps a finite scale */
  for (size_t k = 0; k < w->nvar; k++)
    if (!(h[k] > 1e-12 * hmax)) h[k] = 1e-12 * hmax + 1e-300;
}

/* ------------------------------------------------------------ L-BFGS */

static lbfgsfloatval_t nb_lbfgs_eval(void *inst, const lbfgsfloatval_t *v, lbfgsfloatval_t *gv, const int n,
                                     const lbfgsfloatval_t step) {
  (void)step;
  nb_work *w = inst;
  for (int k = 0; k < n; k++) w->x[k] = v[k] / w->sqrt_h[k];
  double *x = w->x, *gx = w->gx;
  double fval = nb_eval(w, x, x + w->dim, w->use_bias ? x + w->dim + w->H : NULL, gx, gx + w->dim,
                        w->use_bias ? gx + w->dim + w->H : NULL, NULL);
  w->evals++;
  for (int k = 0; k < n; k++) gv[k] = gx[k] / w->sqrt_h[k];
  if (!isfinite(fval)) return INFINITY; /* the line search backs off */
  return fval;
}

static int nb_lbfgs_progress(void *inst, const lbfgsfloatval_t *v, const lbfgsfloatval_t *gv,
                             const lbfgsfloatval_t fx, const lbfgsfloatval_t xnorm, const lbfgsfloatval_t gnorm,
                             const lbfgsfloatval_t step, int n, int k, int ls) {
  (void)v;
  (void)fx;
  (void)xnorm;
  (void)gnorm;
  (void)step;
  (void)ls;
  nb_work *w = inst;
  double g2 = 0;
  for (int j = 0; j < n; j++) {
    double gj = gv[j] * w->sqrt_h[j];
    g2 += gj * gj;
  }
  w->gnorm = sqrt(g2);
  w->iters = k;
  return w->gnorm <= w->tol_abs; /* nonzero stops */
}

static int nb_check_input(const pref_data *d, const pref_features *f, const noisybt_options *o, ps_msg *m) {
  int s = noisybt_options_check(o, m);
  if (s != PS_OK) return s;
  if (f->n_items != d->n_items)
    return ps_fail(m, PS_EINVAL, "noisybt: data has %zu items but the features describe %zu", d->n_items, f->n_items);
  if (!f->phi && f->d != f->n_items)
    return ps_fail(m, PS_EINVAL, "noisybt: item model: dimension %zu must equal the item count %zu", f->d,
                   f->n_items);
  if (d->n == 0) return ps_fail(m, PS_EINVAL, "noisybt: no comparisons to fit");
  if (d->annotator && d->n_annotators == 0)
    return ps_fail(m, PS_EINVAL, "noisybt: an annotator column with n_annotators = 0");
  if (d->n > (size_t)INT32_MAX || f->d + 2 * (d->annotator ? d->n_annotators : 1) > (size_t)INT32_MAX)
    return ps_fail(m, PS_EINVAL, "noisybt: too many variables for L-BFGS");
  s = pref_data_check(d, m);
  if (s != PS_OK) {
    ps_msg_prefix(m, "noisybt");
    return s;
  }
  if (f->phi)
    for (size_t i = 0; i < f->n_items * f->d; i++)
      if (!isfinite(f->phi[i]))
        return ps_fail(m, PS_EDOM, "noisybt: feature %zu of item %zu is not finite", i % f->d, i / f->d);
  return PS_OK;
}

void noisybt_result_free(noisybt_result *r) {
  if (!r) return;
  free(r->theta);
  free(r->skill);
  free(r->bias);
  free(r->comparisons);
  r->theta = r->skill = r->bias = r->comparisons = NULL;
}

int noisybt_fit(const pref_data *d, const pref_features *f, const noisybt_options *o, noisybt_result *res,
                ps_msg *m) {
  memset(res, 0, sizeof *res);
  int status = nb_check_input(d, f, o, m);
  if (status != PS_OK) {
    res->status = status;
    return status;
  }
  nb_work w;
  bt_result bt;
  memset(&bt, 0, sizeof bt);
  double *v = NULL;
  status = nb_work_init(&w, d, f, o);
  size_t H = w.H, dim = w.dim, nvar = w.nvar;
  res->d = dim;
  res->n_annotators = H;
  res->bias_fitted = w.use_bias;
  res->theta = calloc(dim, sizeof(double));
  res->skill = calloc(H, sizeof(double));
  res->bias = calloc(H, sizeof(double));
  res->comparisons = calloc(H, sizeof(double));
  w.x = calloc(nvar, sizeof(double));
  w.gx = calloc(nvar, sizeof(double));
  w.sqrt_h = calloc(nvar, sizeof(double));
  v = calloc(nvar, sizeof(double));
  if (status != PS_OK || !res->theta || !res->skill || !res->bias || !res->comparisons || !w.x || !w.gx ||
      !w.sqrt_h || !v) {
    status = ps_fail(m, PS_ENOMEM, "noisybt: out of memory (%zu comparisons, %zu variables)", d->n, nvar);
    goto done;
  }
  for (size_t r = 0; r < d->n; r++)
    res->comparisons[d->annotator ? (size_t)d->annotator[r] : 0] += d->count ? d->count[r] : 1.0;
  double W = pref_data_weight(d);
  w.tol_abs = o->tol * (W > 1 ? W : 1);

  /* start: plain BT with a little L2 (lambda = 0.1 on the summed loss, a N(0, 10) prior)
   * so that it exists on any design; competent annotators, no bias */
  bt_options bo = bt_options_default();
  bo.l2 = 0.1;
  bo.tol = 1e-8;
  ps_msg bm;
  bt_fit(d, f, &bo, &bt, &bm);
  int finite = bt.theta != NULL;
  for (size_t k = 0; finite && k < dim; k++) finite = isfinite(bt.theta[k]);
  if (finite) memcpy(w.x, bt.theta, dim * sizeof(double));
  double g0 = log(o->init_competence / (1 - o->init_competence));
  for (size_t a = 0; a < H; a++) w.x[dim + a] = g0;

  nb_fisher_diag(&w, w.x, w.sqrt_h);
  for (size_t k = 0; k < nvar; k++) {
    w.sqrt_h[k] = sqrt(w.sqrt_h[k]);
    v[k] = w.x[k] * w.sqrt_h[k];
  }

  lbfgs_parameter_t lp;
  lbfgs_parameter_init(&lp);
  lp.m = 10;
  lp.epsilon = 0;  /* our own test on the unscaled gradient, in the progress callback */
  lp.past = 0;
  lp.max_iterations = o->max_iter;
  lp.max_linesearch = 60;
  double fx = NAN;
  w.gnorm = INFINITY;
  int ret = lbfgs((int)nvar, v, &fx, nb_lbfgs_eval, nb_lbfgs_progress, &w, &lp);

  /* final point, in the original variables */
  for (size_t k = 0; k < nvar; k++) w.x[k] = v[k] / w.sqrt_h[k];
  double *x = w.x, *gx = w.gx, ll = 0;
  double fval = nb_eval(&w, x, x + dim, w.use_bias ? x + dim + H : NULL, gx, gx + dim,
                        w.use_bias ? gx + dim + H : NULL, &ll);
  double g2 = 0;
  for (size_t k = 0; k < nvar; k++) g2 += gx[k] * gx[k];
  res->grad_norm = sqrt(g2);
  res->objective = fval;
  res->loglik = ll;
  res->iterations = w.iters;
  res->evaluations = w.evals + 1;
  memcpy(res->theta, x, dim * sizeof(double));
  memcpy(res->skill, x + dim, H * sizeof(double));
  if (w.use_bias) memcpy(res->bias, x + dim + H, H * sizeof(double));
  if (w.items) {
    double mean = 0;
    for (size_t k = 0; k < dim; k++) mean += res->theta[k];
    mean /= (double)dim;
    for (size_t k = 0; k < dim; k++) res->theta[k] -= mean;
  }
  if (!isfinite(fval) || !isfinite(res->grad_norm)) {
    status = ps_fail(m, PS_EDOM, "noisybt: the objective became non-finite (L-BFGS status %d)", ret);
    goto done;
  }
  res->converged = res->grad_norm <= w.tol_abs;
  if (res->converged || (ret != LBFGSERR_MAXIMUMITERATION && res->grad_norm <= 1e3 * w.tol_abs)) {
    status = PS_OK; /* converged, or a line search stalled at rounding level */
  } else if (ret == LBFGSERR_MAXIMUMITERATION) {
    status = ps_fail(m, PS_ENOCONV, "noisybt: %d L-BFGS iterations reached with ||grad|| = %.3g > %.3g",
                     o->max_iter, res->grad_norm, w.tol_abs);
  } else {
    status = ps_fail(m, PS_ENOCONV, "noisybt: L-BFGS stopped (status %d) at ||grad|| = %.3g > %.3g", ret,
                     res->grad_norm, w.tol_abs);
  }
done:
  res->status = status;
  bt_result_free(&bt);
  free(v);
  nb_work_free(&w);
  return status;
}

/* ------------------------------------------------------------ est_type */

struct est_model {
  noisybt_options opt;
  noisybt_result res;
  const pref_features *f;
  double *s; /* fitted item scores (n_items) for predictions */
  int fitted;
};

static const ps_param noisybt_params[] = {
    {"anchor", PS_PARAM_REAL, "1e-5", 0, 1e6, NULL,
     "r: anchor prior r sum_i [softplus(s_i) + softplus(-s_i)] on item scores (item model)"},
    {"l2", PS_PARAM_REAL, "0.1", 0, 1e12, NULL,
     "lambda: (lambda/2)||theta||^2 on item scores or feature weights, on the summed loss (a N(0, 1/lambda) prior: "
     "with competence < 1 the likelihood is bounded, so an item that almost always wins needs it)"},
    {"l2_skill", PS_PARAM_REAL, "1", 0, 1e12, NULL,
     "precision of the Gaussian prior on each skill gamma (it holds the score scale, see noisybt.c)"},
    {"skill_mean", PS_PARAM_REAL, "2.197225", -50, 50, NULL, "prior mean of gamma (default 2.197225 = logit 0.9)"},
    {"l2_bias", PS_PARAM_REAL, "0.1", 0, 1e12, NULL, "precision of the N(0, 1/l2_bias) prior on each position bias q"},
    {"bias", PS_PARAM_BOOL, "true", 0, 0, NULL,
     "fit the position bias q (needs the presentation order; fixed at 0 when it is unknown)"},
    {"init_competence", PS_PARAM_REAL, "0.9", 0.5000001, 0.9999999, NULL, "sigma(gamma) at the start"},
    {"tol", PS_PARAM_REAL, "1e-8", 1e-15, 1e-2, NULL, "stop when ||gradient|| <= tol x total weight"},
    {"max_iter", PS_PARAM_INT, "2000", 1, 1000000, NULL, "L-BFGS iterations before reporting not-converged"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int noisybt_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->opt = noisybt_options_default();
  e->opt.anchor = ps_param_real(ps_param_text(noisybt_params, h, "anchor"));
  e->opt.l2 = ps_param_real(ps_param_text(noisybt_params, h, "l2"));
  e->opt.l2_skill = ps_param_real(ps_param_text(noisybt_params, h, "l2_skill"));
  e->opt.skill_mean = ps_param_real(ps_param_text(noisybt_params, h, "skill_mean"));
  e->opt.l2_bias = ps_param_real(ps_param_text(noisybt_params, h, "l2_bias"));
  e->opt.fit_bias = ps_param_bool(ps_param_text(noisybt_params, h, "bias"));
  e->opt.init_competence = ps_param_real(ps_param_text(noisybt_params, h, "init_competence"));
  e->opt.tol = ps_param_real(ps_param_text(noisybt_params, h, "tol"));
  e->opt.max_iter = (int)ps_param_int(ps_param_text(noisybt_params, h, "max_iter"));
  int s = noisybt_options_check(&e->opt, m);
  if (s != PS_OK) {
    free(e);
    return s;
  }
  *out = e;
  return PS_OK;
}

static int noisybt_est_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r,
                           est_fit_info *info, ps_msg *m) {
  (void)r;
  noisybt_result_free(&e->res);
  free(e->s);
  e->s = NULL;
  e->f = f;
  int s = noisybt_fit(d, f, &e->opt, &e->res, m);
  info->status = s;
  info->converged = e->res.converged;
  info->iterations = e->res.iterations;
  info->objective = e->res.objective;
  info->grad_norm = e->res.grad_norm;
  e->fitted = 0;
  if (s != PS_OK) return s;
  e->s = malloc(f->n_items * sizeof(double));
  if (!e->s) return info->status = ps_fail(m, PS_ENOMEM, "out of memory");
  for (size_t i = 0; i < f->n_items; i++) {
    if (!f->phi) {
      e->s[i] = e->res.theta[i];
      continue;
    }
    double v = 0;
    for (size_t k = 0; k < f->d; k++) v += f->phi[i * f->d + k] * e->res.theta[k];
    e->s[i] = v;
  }
  e->fitted = 1;
  return PS_OK;
}

/* The typical annotator's prediction is the clean model sigma(s_a - s_b): the "true
 * preference" NoisyBT separates from each annotator's noise and bias. */
static double noisybt_logit(const est_model *e, int32_t a, int32_t b) {
  if (!e->fitted) return NAN;
  return e->s[a] - e->s[b];
}

static const double *noisybt_theta(const est_model *e, size_t *dim) {
  *dim = e->res.d;
  return e->res.theta;
}

static const char *const noisybt_columns[] = {"competence", "skill", "bias", "flip", "comparisons", NULL};

static int noisybt_annotator(const est_model *e, size_t h, double *vals) {
  if (!e->fitted || h >= e->res.n_annotators) return PS_EINVAL;
  double g = e->res.skill[h];
  vals[0] = ps_sigmoid(g);
  vals[1] = g;
  vals[2] = e->res.bias[h];
  vals[3] = 0.5 * ps_sigmoid(-g);
  vals[4] = e->res.comparisons[h];
  return PS_OK;
}

/* logit of the full annotator model with a shown first:
 * log P(first wins) - log P(second wins), both as log-sum-exps. */
static double noisybt_logit_annotator(const est_model *e, int32_t h, int32_t a, int32_t b) {
  if (!e->fitted || h < 0 || (size_t)h >= e->res.n_annotators) return NAN;
  double z = e->s[a] - e->s[b], g = e->res.skill[h], q = e->res.bias[h];
  return noisybt_log_prob(g, q, z, 1) - noisybt_log_prob(g, q, z, 0);
}

static void noisybt_free(est_model *e) {
  if (!e) return;
  noisybt_result_free(&e->res);
  free(e->s);
  free(e);
}

const est_type est_noisybt = {
    .name = "noisybt",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "NoisyBT (Bugakova et al. 2019; docs/theory.md 2.4, 3.3a): BT scores (items or s = theta^T phi) "
           "with per-annotator competence sigma(gamma) and position bias q, P(first wins) = "
           "sigma(gamma) sigma(s_i - s_j) + (1 - sigma(gamma)) sigma(q); MAP with an anchor prior on "
           "item scores and Gaussian priors on gamma and q, by L-BFGS from a BT start. logit() is the "
           "clean model s_a - s_b; logit_annotator() the annotator's full model; q is fixed at 0 when "
           "the presentation order is unknown.",
    .params = noisybt_params,
    .alloc = noisybt_alloc,
    .fit = noisybt_est_fit,
    .logit = noisybt_logit,
    .theta = noisybt_theta,
    .free = noisybt_free,
    .annotator_columns = noisybt_columns,
    .annotator = noisybt_annotator,
    .logit_annotator = noisybt_logit_annotator,
};
