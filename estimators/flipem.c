/* flipem.c — EM over label correctness with per-annotator (or shared) flip rates,
 * LCPO style (docs/theory.md §2.3, §3.3b).  The model, the E and M steps and the two
 * variants are stated in flipem.h.
 *
 * Numerics: the posterior gamma = eta p / [eta p + (1 - eta)(1 - p)] has odds
 * (eta / (1 - eta)) e^Delta, so gamma = sigma(logit eta + Delta) and 1 - gamma =
 * sigma(-(logit eta + Delta)), each without cancellation; the marginal likelihood is
 * the log-sum-exp of log eta - softplus(-Delta) and log(1 - eta) - softplus(Delta).
 * Soft-label weights are floored at DBL_MIN because bt_fit requires positive counts (a
 * weight below 1e-300 changes nothing else).
 *
 * Why EM is monotone here (variant exact): the eta step maximises
 * sum gamma log eta + (1 - gamma) log(1 - eta), concave in eta, so clamping the
 * unconstrained maximiser to the interval is the constrained maximiser; the theta step
 * is solved to bt_fit's gradient tolerance (1e-10 W), so the EM bound increases up to
 * that accuracy.  The fixed point of the eta step at theta = theta* is eta = 1 - eps in
 * expectation (docs/theory.md O16): E[gamma] = p~ (1 - eps) p / p~ + (1 - p~)(1 - eps)(1 - p)
 * / (1 - p~) = 1 - eps with p~ = eps + (1 - 2 eps) p.
 *
 * Cost per EM map: one pass over the rows for the E step and one for the
 * likelihood, plus one bt_fit (Newton-CG, warm-started at the current theta) on 2n weighted rows (n for lcpo);
 * the duplicated rows are built once and only their weights change.
 *
 * Acceleration: EM is slow here when the labels leave much of the "which label is
 * correct" information missing (many annotators with few labels each).  SQUAREM
 * (Varadhan & Roland, Scand. J. Statist. 35, 2008, scheme S3) takes two EM maps
 * x1 = F(x0), x2 = F(x1) in x = (theta, logit eta), extrapolates
 * x' = x0 - 2 alpha r + alpha^2 v (r = x1 - x0, v = x2 - 2 x1 + x0,
 * alpha = -||r||/||v|| <= -1), stabilises with x'' = F(x') and keeps x'' only if its
 * objective is no worse than x2's, else x2: every accepted cycle is at least as good as
 * two EM steps, so the trace stays monotone.  Used for the exact variant only (lcpo
 * has no objective it is guaranteed to improve). */
#include "flipem.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "bt.h"
#include "estimator.h"

#define ETA_LO (0.5 + 1e-9)
#define ETA_HI (1.0 - 1e-9)

flipem_options flipem_options_default(void) {
  flipem_options o = {.variant = FLIPEM_EXACT, .shared = 0, .eta_init = 0.9, .l2 = 0, .tol = 1e-10, .max_iter = 1000,
                      .accelerate = 1};
  return o;
}

int flipem_options_check(const flipem_options *o, ps_msg *m) {
  if (o->variant != FLIPEM_EXACT && o->variant != FLIPEM_LCPO)
    return ps_fail(m, PS_EINVAL, "flipem: variant %d must be exact (0) or lcpo (1)", (int)o->variant);
  if (!(o->eta_init > 0.5 && o->eta_init < 1))
    return ps_fail(m, PS_EINVAL, "flipem: eta_init = %g must be in (0.5, 1)", o->eta_init);
  if (!(o->l2 >= 0) || !isfinite(o->l2)) return ps_fail(m, PS_EINVAL, "flipem: l2 = %g must be finite and >= 0", o->l2);
  if (!(o->tol > 0) || !isfinite(o->tol)) return ps_fail(m, PS_EINVAL, "flipem: tol = %g must be finite and > 0", o->tol);
  if (o->max_iter < 1) return ps_fail(m, PS_EINVAL, "flipem: max_iter = %d must be >= 1", o->max_iter);
  if (o->accelerate != 0 && o->accelerate != 1)
    return ps_fail(m, PS_EINVAL, "flipem: accelerate = %d must be 0 or 1", o->accelerate);
  return PS_OK;
}

double flipem_log_prob(double eta, double margin) {
  double A = log(eta) - ps_softplus(-margin), B = log1p(-eta) - ps_softplus(margin);
  double hi = A > B ? A : B;
  if (hi == -INFINITY) return -INFINITY;
  return hi + log1p(exp(-fabs(A - B)));
}

double flipem_posterior(double eta, double margin) { return ps_sigmoid(log(eta) - log1p(-eta) + margin); }

static void fe_scores(const pref_features *f, const double *theta, double *s) {
  if (!f->phi) {
    memcpy(s, theta, f->n_items * sizeof(double));
    return;
  }
  for (size_t i = 0; i < f->n_items; i++) {
    const double *p = f->phi + i * f->d;
    double v = 0;
    for (size_t k = 0; k < f->d; k++) v += p[k] * theta[k];
    s[i] = v;
  }
}

static double fe_loglik_s(const pref_data *d, const double *s, const double *eta) {
  double ll = 0;
  for (size_t i = 0; i < d->n; i++) {
    size_t k = d->annotator ? (size_t)d->annotator[i] : 0;
    double c = d->count ? d->count[i] : 1.0;
    ll += c * flipem_log_prob(eta[k], s[d->winner[i]] - s[d->loser[i]]);
  }
  return ll;
}

double flipem_loglik(const pref_data *d, const pref_features *f, const double *theta, const double *eta) {
  double *s = malloc(f->n_items * sizeof(double));
  if (!s) return NAN;
  fe_scores(f, theta, s);
  double ll = fe_loglik_s(d, s, eta);
  free(s);
  return ll;
}

/* E step at scores s: soft weights into soft->count (when soft != NULL), and the eta
 * step into eta_out (num, den scratch of length H). */
static void fe_e_step(const pref_data *d, const double *s, const double *eta_in, int shared, flipem_variant variant,
                      pref_data *soft, double *num, double *den, size_t H, double *eta_out) {
  memset(num, 0, H * sizeof(double));
  memset(den, 0, H * sizeof(double));
  for (size_t i = 0; i < d->n; i++) {
    size_t k = d->annotator ? (size_t)d->annotator[i] : 0;
    double c = d->count ? d->count[i] : 1.0;
    double x = log(eta_in[k]) - log1p(-eta_in[k]) + s[d->winner[i]] - s[d->loser[i]];
    double g = ps_sigmoid(x);
    size_t slot = shared ? 0 : k;
    num[slot] += c * g;
    den[slot] += c;
    if (!soft) continue;
    if (variant == FLIPEM_EXACT) {
      soft->count[2 * i] = fmax(c * g, DBL_MIN);
      soft->count[2 * i + 1] = fmax(c * ps_sigmoid(-x), DBL_MIN);
    } else {
      soft->count[i] = fmax(c * g, DBL_MIN);
    }
  }
  for (size_t k = 0; k < H; k++) {
    size_t slot = shared ? 0 : k;
    if (den[slot] > 0) {
      double e = num[slot] / den[slot];
      eta_out[k] = e < ETA_LO ? ETA_LO : (e > ETA_HI ? ETA_HI : e);
    } else {
      eta_out[k] = eta_in[k];
    }
  }
}

int flipem_eta_update(const pref_data *d, const pref_features *f, const double *theta, const double *eta_in,
                      int shared, double *eta_out) {
  size_t H = d->annotator ? d->n_annotators : 1;
  double *s = malloc(f->n_items * sizeof(double));
  double *num = malloc(H * sizeof(double)), *den = malloc(H * sizeof(double));
  int status = PS_ENOMEM;
  if (s && num && den) {
    fe_scores(f, theta, s);
    fe_e_step(d, s, eta_in, shared, FLIPEM_EXACT, NULL, num, den, H, eta_out);
    status = PS_OK;
  }
  free(s);
  free(num);
  free(den);
  return status;
}

static int fe_check_input(const pref_data *d, const pref_features *f, const flipem_options *o, ps_msg *m) {
  int s = flipem_options_check(o, m);
  if (s != PS_OK) return s;
  if (f->n_items != d->n_items)
    return ps_fail(m, PS_EINVAL, "flipem: data has %zu items but the features describe %zu", d->n_items, f->n_items);
  if (!f->phi && f->d != f->n_items)
    return ps_fail(m, PS_EINVAL, "flipem: item model: dimension %zu must equal the item count %zu", f->d, f->n_items);
  if (d->n == 0) return ps_fail(m, PS_EINVAL, "flipem: no comparisons to fit");
  if (d->annotator && d->n_annotators == 0)
    return ps_fail(m, PS_EINVAL, "flipem: an annotator column with n_annotators = 0");
  s = pref_data_check(d, m);
  if (s != PS_OK) {
    ps_msg_prefix(m, "flipem");
    return s;
  }
  if (f->phi)
    for (size_t i = 0; i < f->n_items * f->d; i++)
      if (!isfinite(f->phi[i]))
        return ps_fail(m, PS_EDOM, "flipem: feature %zu of item %zu is not finite", i % f->d, i / f->d);
  return PS_OK;
}

void flipem_result_free(flipem_result *r) {
  if (!r) return;
  free(r->theta);
  free(r->eta);
  free(r->comparisons);
  free(r->trace);
  r->theta = r->eta = r->comparisons = r->trace = NULL;
  r->trace_len = 0;
}

static double sq_norm(const double *x, size_t n) {
  double v = 0;
  for (size_t k = 0; k < n; k++) v += x[k] * x[k];
  return v;
}

/* The fit's state: data, the duplicated soft-label rows, scratch. */
typedef struct {
  const pref_data *d;
  const pref_features *f;
  const flipem_options *o;
  size_t H, dim;
  pref_data soft;
  bt_options bo;
  double *s, *num, *den;
} fe_work;

/* Objective -loglik + (lambda/2)||theta||^2 at (theta, eta). */
static double fe_objective(fe_work *w, const double *theta, const double *eta) {
  fe_scores(w->f, theta, w->s);
  return -fe_loglik_s(w->d, w->s, eta) + 0.5 * w->o->l2 * sq_norm(theta, w->dim);
}

/* One EM map (theta, eta) -> (theta_out, eta_out): E step, eta step, theta step. */
static int fe_em_map(fe_work *w, const double *theta, const double *eta, double *theta_out, double *eta_out,
                     int step, ps_msg *m) {
  fe_scores(w->f, theta, w->s);
  fe_e_step(w->d, w->s, eta, w->o->shared, w->o->variant, &w->soft, w->num, w->den, w->H, eta_out);
  bt_result bt;
  /* warm start at the current theta: the soft labels move little between EM steps, so
   * the Newton solve takes one or two steps instead of a fit from zero */
  w->bo.theta0 = theta;
  int bs = bt_fit(&w->soft, w->f, &w->bo, &bt, m);
  w->bo.theta0 = NULL;
  if (bs != PS_OK) { /* e.g. an extrapolated (SQUAREM) start too far out: from zero */
    bt_result_free(&bt);
    bs = bt_fit(&w->soft, w->f, &w->bo, &bt, m);
  }
  if (bs == PS_OK) memcpy(theta_out, bt.theta, w->dim * sizeof(double));
  else ps_msg_prefix(m, "flipem: theta step %d", step);
  bt_result_free(&bt);
  return bs;
}

/* SQUAREM extrapolation (Varadhan & Roland 2008, scheme S3) in (theta, logit eta):
 * r = x1 - x0, v = x2 - 2 x1 + x0, alpha = -||r|| / ||v|| (at most -1), and
 * x' = x0 - 2 alpha r + alpha^2 v; eta is mapped back and clamped. */
static void fe_extrapolate(size_t dim, size_t H, const double *t0, const double *e0, const double *t1,
                           const double *e1, const double *t2, const double *e2, double *tx, double *ex) {
  double rr = 0, vv = 0;
  for (size_t k = 0; k < dim; k++) {
    double r = t1[k] - t0[k], v = t2[k] - 2 * t1[k] + t0[k];
    rr += r * r;
    vv += v * v;
  }
  for (size_t k = 0; k < H; k++) {
    double l0 = log(e0[k] / (1 - e0[k])), l1 = log(e1[k] / (1 - e1[k])), l2 = log(e2[k] / (1 - e2[k]));
    double r = l1 - l0, v = l2 - 2 * l1 + l0;
    rr += r * r;
    vv += v * v;
  }
  double alpha = vv > 0 ? -sqrt(rr / vv) : -1;
  if (alpha > -1) alpha = -1;
  for (size_t k = 0; k < dim; k++) {
    double r = t1[k] - t0[k], v = t2[k] - 2 * t1[k] + t0[k];
    tx[k] = t0[k] - 2 * alpha * r + alpha * alpha * v;
  }
  for (size_t k = 0; k < H; k++) {
    double l0 = log(e0[k] / (1 - e0[k])), l1 = log(e1[k] / (1 - e1[k])), l2 = log(e2[k] / (1 - e2[k]));
    double r = l1 - l0, v = l2 - 2 * l1 + l0, e = ps_sigmoid(l0 - 2 * alpha * r + alpha * alpha * v);
    ex[k] = e < ETA_LO ? ETA_LO : (e > ETA_HI ? ETA_HI : e);
  }
}

int flipem_fit(const pref_data *d, const pref_features *f, const flipem_options *o, flipem_result *res, ps_msg *m) {
  memset(res, 0, sizeof *res);
  int status = fe_check_input(d, f, o, m);
  if (status != PS_OK) {
    res->status = status;
    return status;
  }
  size_t H = d->annotator ? d->n_annotators : 1, dim = f->d, N = f->n_items;
  int exact = o->variant == FLIPEM_EXACT;
  fe_work w = {.d = d, .f = f, .o = o, .H = H, .dim = dim};
  double obj = NAN;
  w.s = malloc(N * sizeof(double));
  w.num = malloc(H * sizeof(double));
  w.den = malloc(H * sizeof(double));
  /* three more points of (theta, eta): x1, x2, and the extrapolated / stabilised one */
  double *buf = malloc(4 * (dim + H) * sizeof(double));
  res->d = dim;
  res->n_annotators = H;
  res->theta = calloc(dim, sizeof(double));
  res->eta = malloc(H * sizeof(double));
  res->comparisons = calloc(H, sizeof(double));
  res->trace = malloc(((size_t)o->max_iter + 1) * sizeof(double));
  int soft_ok = pref_data_alloc(&w.soft, exact ? 2 * d->n : d->n, N, 0, 0, 1) == PS_OK;
  if (!w.s || !w.num || !w.den || !buf || !res->theta || !res->eta || !res->comparisons || !res->trace ||
      !soft_ok) {
    status = ps_fail(m, PS_ENOMEM, "flipem: out of memory (%zu comparisons)", d->n);
    goto done;
  }
  double *t1 = buf, *e1 = t1 + dim, *t2 = e1 + H, *e2 = t2 + dim, *tx = e2 + H, *ex = tx + dim, *ty = ex + H,
         *ey = ty + dim;
  for (size_t i = 0; i < d->n; i++) {
    res->comparisons[d->annotator ? (size_t)d->annotator[i] : 0] += d->count ? d->count[i] : 1.0;
    if (exact) {
      w.soft.winner[2 * i] = w.soft.loser[2 * i + 1] = d->winner[i];
      w.soft.loser[2 * i] = w.soft.winner[2 * i + 1] = d->loser[i];
    } else {
      w.soft.winner[i] = d->winner[i];
      w.soft.loser[i] = d->loser[i];
    }
  }
  for (size_t k = 0; k < H; k++) res->eta[k] = o->eta_init;
  double W = pref_data_weight(d), tol_abs = o->tol * (W > 1 ? W : 1);
  w.bo = bt_options_default();
  w.bo.l2 = o->l2;

  /* objective at the start: theta = 0 */
  obj = fe_objective(&w, res->theta, res->eta);
  res->trace[res->trace_len++] = -obj;
  status = PS_ENOCONV;
  int steps = 0;
  size_t bytes_t = dim * sizeof(double), bytes_e = H * sizeof(double);
  while (steps < o->max_iter) {
    double obj_new;
    int bs;
    if (o->accelerate && exact && o->max_iter - steps >= 3) {
      /* x1 = F(x0), x2 = F(x1), x' extrapolated, x'' = F(x'); keep x'' if it is no
       * worse than x2 (itself monotone: two EM steps), else x2 */
      if ((bs = fe_em_map(&w, res->theta, res->eta, t1, e1, steps + 1, m)) != PS_OK) goto theta_failed;
      if ((bs = fe_em_map(&w, t1, e1, t2, e2, steps + 2, m)) != PS_OK) goto theta_failed;
      fe_extrapolate(dim, H, res->theta, res->eta, t1, e1, t2, e2, tx, ex);
      if ((bs = fe_em_map(&w, tx, ex, ty, ey, steps + 3, m)) != PS_OK) goto theta_failed;
      steps += 3;
      double obj2 = fe_objective(&w, t2, e2), objy = fe_objective(&w, ty, ey);
      if (isfinite(objy) && objy <= obj2) {
        memcpy(res->theta, ty, bytes_t);
        memcpy(res->eta, ey, bytes_e);
        obj_new = objy;
      } else {
        memcpy(res->theta, t2, bytes_t);
        memcpy(res->eta, e2, bytes_e);
        obj_new = obj2;
      }
    } else {
      if ((bs = fe_em_map(&w, res->theta, res->eta, t1, e1, steps + 1, m)) != PS_OK) goto theta_failed;
      steps += 1;
      memcpy(res->theta, t1, bytes_t);
      memcpy(res->eta, e1, bytes_e);
      obj_new = fe_objective(&w, res->theta, res->eta);
    }
    if (!isfinite(obj_new)) {
      status = ps_fail(m, PS_EDOM, "flipem: the objective became non-finite after %d theta steps", steps);
      goto done;
    }
    res->trace[res->trace_len++] = -obj_new;
    double change = fabs(obj_new - obj);
    obj = obj_new;
    if (change <= tol_abs) {
      status = PS_OK;
      break;
    }
    continue;
  theta_failed:
    status = bs;
    goto done;
  }
  res->iterations = steps;
  if (status == PS_ENOCONV)
    ps_fail(m, PS_ENOCONV, "flipem: %d EM iterations reached before the objective settled to %.3g", o->max_iter,
            tol_abs);
done:
  if (status == PS_OK || status == PS_ENOCONV) {
    res->converged = status == PS_OK;
    res->objective = obj;
    res->loglik = -obj + 0.5 * o->l2 * sq_norm(res->theta, dim);
  }
  res->status = status;
  pref_data_free(&w.soft);
  free(w.s);
  free(w.num);
  free(w.den);
  free(buf);
  return status;
}

/* ------------------------------------------------------------ est_type */

struct est_model {
  flipem_options opt;
  flipem_result res;
  double *s; /* fitted item scores */
  int fitted;
};

static const ps_param flipem_params[] = {
    {"variant", PS_PARAM_ENUM, "exact", 0, 0, "exact|lcpo",
     "exact: both soft-label terms (true EM); lcpo: the flipped-label term dropped (not EM)"},
    {"shared", PS_PARAM_BOOL, "false", 0, 0, NULL,
     "one flip rate for all annotators (confounded with the score scale on sparse designs)"},
    {"eta_init", PS_PARAM_REAL, "0.9", 0.5000001, 0.9999999, NULL, "starting reliability 1 - eps"},
    {"l2", PS_PARAM_REAL, "0", 0, 1e12, NULL, "lambda of the theta step, (lambda/2)||theta||^2 on the summed loss"},
    {"tol", PS_PARAM_REAL, "1e-10", 1e-15, 1e-2, NULL, "stop when the objective changes by <= tol x total weight"},
    {"max_iter", PS_PARAM_INT, "1000", 1, 1000000, NULL, "EM maps (theta steps) before reporting not-converged"},
    {"accelerate", PS_PARAM_BOOL, "true", 0, 0, NULL, "SQUAREM acceleration of exact EM (monotone; false: plain EM)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int flipem_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->opt = flipem_options_default();
  e->opt.variant = strcmp(ps_param_text(flipem_params, h, "variant"), "lcpo") == 0 ? FLIPEM_LCPO : FLIPEM_EXACT;
  e->opt.shared = ps_param_bool(ps_param_text(flipem_params, h, "shared"));
  e->opt.eta_init = ps_param_real(ps_param_text(flipem_params, h, "eta_init"));
  e->opt.l2 = ps_param_real(ps_param_text(flipem_params, h, "l2"));
  e->opt.tol = ps_param_real(ps_param_text(flipem_params, h, "tol"));
  e->opt.max_iter = (int)ps_param_int(ps_param_text(flipem_params, h, "max_iter"));
  e->opt.accelerate = ps_param_bool(ps_param_text(flipem_params, h, "accelerate"));
  int s = flipem_options_check(&e->opt, m);
  if (s != PS_OK) {
    free(e);
    return s;
  }
  *out = e;
  return PS_OK;
}

static int flipem_est_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                          ps_msg *m) {
  (void)r;
  flipem_result_free(&e->res);
  free(e->s);
  e->s = NULL;
  e->fitted = 0;
  int s = flipem_fit(d, f, &e->opt, &e->res, m);
  info->status = s;
  info->converged = e->res.converged;
  info->iterations = e->res.iterations;
  info->objective = e->res.objective;
  info->grad_norm = NAN;
  if (s != PS_OK) return s;
  e->s = malloc(f->n_items * sizeof(double));
  if (!e->s) return info->status = ps_fail(m, PS_ENOMEM, "out of memory");
  fe_scores(f, e->res.theta, e->s);
  e->fitted = 1;
  return PS_OK;
}

/* The clean BT prediction: what a reliable annotator (eta = 1) would say. */
static double flipem_logit(const est_model *e, int32_t a, int32_t b) {
  if (!e->fitted) return NAN;
  return e->s[a] - e->s[b];
}

static const double *flipem_theta(const est_model *e, size_t *dim) {
  *dim = e->res.d;
  return e->res.theta;
}

static const char *const flipem_columns[] = {"eta", "flip", "comparisons", NULL};

static int flipem_annotator(const est_model *e, size_t h, double *vals) {
  if (!e->fitted || h >= e->res.n_annotators) return PS_EINVAL;
  vals[0] = e->res.eta[h];
  vals[1] = 1 - e->res.eta[h];
  vals[2] = e->res.comparisons[h];
  return PS_OK;
}

/* logit of eps_k + (1 - 2 eps_k) sigma(Delta), as a difference of log-sum-exps. */
static double flipem_logit_annotator(const est_model *e, int32_t h, int32_t a, int32_t b) {
  if (!e->fitted || h < 0 || (size_t)h >= e->res.n_annotators) return NAN;
  double z = e->s[a] - e->s[b], eta = e->res.eta[h];
  return flipem_log_prob(eta, z) - flipem_log_prob(eta, -z);
}

static const double *flipem_trace(const est_model *e, size_t *len) {
  *len = e->res.trace_len;
  return e->res.trace;
}

static void flipem_free(est_model *e) {
  if (!e) return;
  flipem_result_free(&e->res);
  free(e->s);
  free(e);
}

const est_type est_flipem = {
    .name = "flipem",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "Flip-rate EM (docs/theory.md 2.3, 3.3b; LCPO style): BT scores (items or features) with "
           "per-annotator (or shared) reliability eta = 1 - eps; E step gamma = sigma(logit eta + "
           "Delta), M step eta = mean gamma (clamped to (1/2, 1)) and theta = soft-label BT (bt_fit on "
           "duplicated weighted rows). variant = exact is EM (monotone marginal likelihood; SQUAREM-"
           "accelerated with a monotone safeguard); lcpo drops the flipped term (not EM). logit() is the clean BT model; trace() the penalised marginal "
           "log-likelihood per iteration.",
    .params = flipem_params,
    .alloc = flipem_alloc,
    .fit = flipem_est_fit,
    .logit = flipem_logit,
    .theta = flipem_theta,
    .free = flipem_free,
    .annotator_columns = flipem_columns,
    .annotator = flipem_annotator,
    .logit_annotator = flipem_logit_annotator,
    .trace = flipem_trace,
};
