/* idealpoint.c — PAL-A ideal-point model: fit, predictions, few-shot adaptation
 * (docs/theory.md §2.6, §3.6; reference RamyaLab/pluralistic-alignment src/pal_rm_a/).
 *
 *     w_h = softmax(omega_h),  a_h = sum_k w_hk p_k,  s = d(f(y-), a_h) - d(f(y+), a_h),
 *     F = sum_i c_i loss(s_i) + (l2/2)(||P||^2 + ||E||^2) + (l2_user/2)||Omega||^2.
 *
 * Backpropagation, with u(x, a) = dd/dx = -dd/da = (x - a)/d(x, a) (euclidean) or
 * 2(x - a) (squared) and g_i = c_i loss'(s_i):
 *     dF/df(y-) += g u(f-, a),  dF/df(y+) -= g u(f+, a),  dF/da_h += g (u(f+, a) - u(f-, a)),
 *     dF/dp_k = sum_h w_hk dF/da_h,  dF/dw_hk = p_k^T dF/da_h,
 *     dF/domega_hj = w_hj (dF/dw_hj - sum_k w_hk dF/dw_hk)   (softmax Jacobian),
 *     dF/dA = sum_y dF/df(y) phi(y)^T.
 * The 1e-12 inside the euclidean square root (the reference's guard) keeps d and u
 * finite when an item sits on an ideal point.  Label sign (§7): the reference's score
 * is left distance minus right distance with the label choosing the side; here the
 * rows already name the winner, so s > 0 means the winner is the closer item. */
#include "idealpoint.h"

#include <gsl/gsl_randist.h>
#include <lbfgs.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "../core/adam.h"

#define DIST_EPS 1e-12

idealpoint_options idealpoint_options_default(void) {
  idealpoint_options o = {.K = 2,
                          .dim = 2,
                          .distance = IDEALPOINT_EUCLIDEAN,
                          .loss = IDEALPOINT_LOGISTIC,
                          .projector = IDEALPOINT_IDENTITY,
                          .tau = 1,
                          .lr = 0.02,
                          .lr_projector = 1e-3,
                          .projector_decay = 0.01,
                          .l2 = 1e-3,
                          .l2_user = 1,
                          .iterations = 1500,
                          .restarts = 4,
                          .init_sd = 0.5,
                          .batch = 0,
                          .tol = 1e-6,
                          .polish = 1000,
                          .adapt_iterations = 400,
                          .adapt_lr = 0.05};
  return o;
}

int idealpoint_options_check(const idealpoint_options *o, ps_msg *m) {
  if (o->K < 1 || o->K > IDEALPOINT_MAX_K)
    return ps_fail(m, PS_EINVAL, "idealpoint: K = %zu prototypes; need 1 <= K <= %d", o->K, IDEALPOINT_MAX_K);
  if (o->projector == IDEALPOINT_LINEAR && o->dim < 1)
    return ps_fail(m, PS_EINVAL, "idealpoint: dim must be >= 1");
  if (!(o->tau > 0) || !isfinite(o->tau)) return ps_fail(m, PS_EINVAL, "idealpoint: tau must be > 0");
  if (!(o->lr > 0) || !(o->lr_projector > 0) || !(o->adapt_lr > 0) || !isfinite(o->lr))
    return ps_fail(m, PS_EINVAL, "idealpoint: learning rates must be > 0");
  if (!(o->l2 >= 0) || !(o->l2_user >= 0) || !(o->projector_decay >= 0) || !isfinite(o->l2) ||
      !isfinite(o->l2_user))
    return ps_fail(m, PS_EINVAL, "idealpoint: l2, l2_user and projector_decay must be finite and >= 0");
  if (o->iterations < 1 || o->restarts < 1 || o->adapt_iterations < 0 || o->polish < 0)
    return ps_fail(m, PS_EINVAL, "idealpoint: iterations and restarts must be >= 1");
  if (!(o->init_sd > 0) || !isfinite(o->init_sd)) return ps_fail(m, PS_EINVAL, "idealpoint: init_sd must be > 0");
  if (!(o->tol >= 0)) return ps_fail(m, PS_EINVAL, "idealpoint: tol must be >= 0");
  if ((unsigned)o->distance > IDEALPOINT_SQUARED || (unsigned)o->loss > IDEALPOINT_HINGE ||
      (unsigned)o->projector > IDEALPOINT_LINEAR)
    return ps_fail(m, PS_EINVAL, "idealpoint: unknown distance, loss or projector");
  return PS_OK;
}

/* ---- the problem: dimensions, data, scratch ---- */

typedef struct {
  const pref_data *d;
  const pref_features *f;
  const idealpoint_options *o;
  size_t n_items, n_users, p, dphi, K;
  size_t n_emb;          /* length of the emb block of x */
  int items_world, linear;
  double *emb, *ideal, *w, *g_emb, *g_ideal, *u_plus, *u_minus;
} problem;

static size_t users_of(const pref_data *d) { return d->annotator ? d->n_annotators : 1; }

static void problem_free(problem *pb) {
  free(pb->emb);
  free(pb->ideal);
  free(pb->w);
  free(pb->g_emb);
  free(pb->g_ideal);
  free(pb->u_plus);
  free(pb->u_minus);
}

static int problem_init(problem *pb, const pref_data *d, const pref_features *f, const idealpoint_options *o,
                        ps_msg *m) {
  memset(pb, 0, sizeof *pb);
  int s = idealpoint_options_check(o, m);
  if (s) return s;
  if (!d || !f) return ps_fail(m, PS_EINVAL, "idealpoint: no data");
  if (d->n_items != f->n_items)
    return ps_fail(m, PS_EINVAL, "idealpoint: data has %zu items, features %zu", d->n_items, f->n_items);
  if (d->annotator && d->n_annotators == 0) return ps_fail(m, PS_EINVAL, "idealpoint: no users (n_annotators = 0)");
  if (d->n > 0 && (s = pref_data_check(d, m))) return s;
  pb->d = d;
  pb->f = f;
  pb->o = o;
  pb->K = o->K;
  pb->n_items = f->n_items;
  pb->n_users = users_of(d);
  pb->items_world = f->phi == NULL;
  pb->linear = !pb->items_world && o->projector == IDEALPOINT_LINEAR;
  pb->dphi = pb->items_world ? 0 : f->d;
  if (pb->items_world) {
    if (o->dim < 1) return ps_fail(m, PS_EINVAL, "idealpoint: dim must be >= 1");
    pb->p = o->dim;
    pb->n_emb = pb->n_items * pb->p;
  } else {
    if (f->d < 1) return ps_fail(m, PS_EINVAL, "idealpoint: feature dimension 0");
    for (size_t i = 0; i < f->n_items * f->d; i++)
      if (!isfinite(f->phi[i])) return ps_fail(m, PS_EDOM, "idealpoint: feature %zu of item %zu is not finite", i % f->d, i / f->d);
    pb->p = pb->linear ? o->dim : f->d;
    pb->n_emb = pb->linear ? pb->p * pb->dphi : 0;
  }
  size_t p = pb->p;
  pb->emb = malloc(pb->n_items * p * sizeof(double));
  pb->g_emb = malloc(pb->n_items * p * sizeof(double));
  pb->ideal = malloc(pb->n_users * p * sizeof(double));
  pb->g_ideal = malloc(pb->n_users * p * sizeof(double));
  pb->w = malloc(pb->n_users * pb->K * sizeof(double));
  pb->u_plus = malloc(p * sizeof(double));
  pb->u_minus = malloc(p * sizeof(double));
  if (!pb->emb || !pb->g_emb || !pb->ideal || !pb->g_ideal || !pb->w || !pb->u_plus || !pb->u_minus) {
    problem_free(pb);
    return ps_fail(m, PS_ENOMEM, "idealpoint: out of memory");
  }
  return PS_OK;
}

static size_t problem_nparams(const problem *pb) { return pb->n_emb + pb->K * pb->p + pb->n_users * pb->K; }

/* d(x, a) and u = dd/dx */
static double dist_grad(idealpoint_distance kind, const double *x, const double *a, size_t p, double *u) {
  double s2 = 0;
  for (size_t j = 0; j < p; j++) {
    double t = x[j] - a[j];
    s2 += t * t;
  }
  if (kind == IDEALPOINT_SQUARED) {
    if (u)
      for (size_t j = 0; j < p; j++) u[j] = 2 * (x[j] - a[j]);
    return s2;
  }
  double dd = sqrt(s2 + DIST_EPS);
  if (u)
    for (size_t j = 0; j < p; j++) u[j] = (x[j] - a[j]) / dd;
  return dd;
}

/* loss(s) and loss'(s) */
static double loss_eval(idealpoint_loss kind, double tau, double s, double *dl) {
  if (kind == IDEALPOINT_HINGE) {
    *dl = s < 1 ? -1.0 : 0.0;
    return s < 1 ? 1 - s : 0;
  }
  *dl = -ps_sigmoid(-s / tau) / tau;
  return ps_softplus(-s / tau);
}

static void softmax(const double *z, size_t K, double *w) {
  double mx = z[0], sum = 0;
  for (size_t k = 1; k < K; k++)
    if (z[k] > mx) mx = z[k];
  for (size_t k = 0; k < K; k++) sum += (w[k] = exp(z[k] - mx));
  for (size_t k = 0; k < K; k++) w[k] /= sum;
}

/* Embeddings, weights and ideal points from x. */
static void problem_forward(problem *pb, const double *x) {
  size_t p = pb->p, K = pb->K;
  const double *proto = x + pb->n_emb, *omega = proto + K * p;
  if (pb->items_world) {
    memcpy(pb->emb, x, pb->n_items * p * sizeof(double));
  } else if (pb->linear) {
    for (size_t y = 0; y < pb->n_items; y++) {
      const double *ph = pb->f->phi + y * pb->dphi;
      for (size_t j = 0; j < p; j++) {
        double acc = 0;
        for (size_t k = 0; k < pb->dphi; k++) acc += x[j * pb->dphi + k] * ph[k];
        pb->emb[y * p + j] = acc;
      }
    }
  } else {
    memcpy(pb->emb, pb->f->phi, pb->n_items * p * sizeof(double));
  }
  for (size_t h = 0; h < pb->n_users; h++) {
    double *wh = pb->w + h * K, *ah = pb->ideal + h * p;
    softmax(omega + h * K, K, wh);
    memset(ah, 0, p * sizeof(double));
    for (size_t k = 0; k < K; k++)
      for (size_t j = 0; j < p; j++) ah[j] += wh[k] * proto[k * p + j];
  }
}

/* F at x over rows (all rows if rows == NULL, else the nr listed ones with the data
 * term scaled by n / nr); gradient into grad if not NULL. */
static double problem_eval(problem *pb, const double *x, double *grad, const size_t *rows, size_t nr) {
  const pref_data *d = pb->d;
  const idealpoint_options *o = pb->o;
  size_t p = pb->p, K = pb->K, H = pb->n_users;
  problem_forward(pb, x);
  if (grad) {
    memset(pb->g_emb, 0, pb->n_items * p * sizeof(double));
    memset(pb->g_ideal, 0, H * p * sizeof(double));
  }
  size_t nrows = rows ? nr : d->n;
  double scale = rows && nr > 0 ? (double)d->n / (double)nr : 1.0;
  double F = 0;
  for (size_t t = 0; t < nrows; t++) {
    size_t i = rows ? rows[t] : t;
    size_t h = d->annotator ? (size_t)d->annotator[i] : 0;
    double c = (d->count ? d->count[i] : 1.0) * scale;
    const double *fw = pb->emb + (size_t)d->winner[i] * p, *fl = pb->emb + (size_t)d->loser[i] * p;
    const double *a = pb->ideal + h * p;
    double dp = dist_grad(o->distance, fw, a, p, grad ? pb->u_plus : NULL);
    double dm = dist_grad(o->distance, fl, a, p, grad ? pb->u_minus : NULL);
    double dl, s = dm - dp;
    F += c * loss_eval(o->loss, o->tau, s, &dl);
    if (!grad) continue;
    double g = c * dl;
    double *gw = pb->g_emb + (size_t)d->winner[i] * p, *gl = pb->g_emb + (size_t)d->loser[i] * p;
    double *ga = pb->g_ideal + h * p;
    for (size_t j = 0; j < p; j++) {
      gl[j] += g * pb->u_minus[j];
      gw[j] -= g * pb->u_plus[j];
      ga[j] += g * (pb->u_plus[j] - pb->u_minus[j]);
    }
  }
  const double *proto = x + pb->n_emb, *omega = proto + K * p;
  double pen = 0, pen_user = 0;
  for (size_t k = 0; k < K * p; k++) pen += proto[k] * proto[k];
  if (pb->items_world)
    for (size_t k = 0; k < pb->n_emb; k++) pen += x[k] * x[k];
  for (size_t k = 0; k < H * K; k++) pen_user += omega[k] * omega[k];
  F += 0.5 * o->l2 * pen + 0.5 * o->l2_user * pen_user;
  if (!grad) return F;

  double *g_proto = grad + pb->n_emb, *g_omega = g_proto + K * p;
  for (size_t k = 0; k < K * p; k++) g_proto[k] = o->l2 * proto[k];
  for (size_t h = 0; h < H; h++) {
    const double *wh = pb->w + h * K, *ga = pb->g_ideal + h * p;
    double gwh[IDEALPOINT_MAX_K];
    double mean = 0;
    for (size_t k = 0; k < K; k++) {
      double acc = 0;
      for (size_t j = 0; j < p; j++) {
        acc += proto[k * p + j] * ga[j];
        g_proto[k * p + j] += wh[k] * ga[j];
      }
      gwh[k] = acc;
      mean += wh[k] * acc;
    }
    for (size_t k = 0; k < K; k++) g_omega[h * K + k] = wh[k] * (gwh[k] - mean) + o->l2_user * omega[h * K + k];
  }
  if (pb->items_world) {
    for (size_t k = 0; k < pb->n_emb; k++) grad[k] = pb->g_emb[k] + o->l2 * x[k];
  } else if (pb->linear) {
    memset(grad, 0, pb->n_emb * sizeof(double));
    for (size_t y = 0; y < pb->n_items; y++) {
      const double *ph = pb->f->phi + y * pb->dphi, *gy = pb->g_emb + y * p;
      for (size_t j = 0; j < p; j++)
        for (size_t k = 0; k < pb->dphi; k++) grad[j * pb->dphi + k] += gy[j] * ph[k];
    }
  }
  return F;
}

size_t idealpoint_nparams(const pref_data *d, const pref_features *f, const idealpoint_options *o, size_t *p) {
  size_t n_emb, pp;
  if (!f->phi) {
    pp = o->dim;
    n_emb = f->n_items * pp;
  } else if (o->projector == IDEALPOINT_LINEAR) {
    pp = o->dim;
    n_emb = pp * f->d;
  } else {
    pp = f->d;
    n_emb = 0;
  }
  if (p) *p = pp;
  return n_emb + o->K * pp + users_of(d) * o->K;
}

int idealpoint_objective(const pref_data *d, const pref_features *f, const idealpoint_options *o,
                         const double *x, double *value, double *grad, ps_msg *m) {
  problem pb;
  int s = problem_init(&pb, d, f, o, m);
  if (s) return s;
  double F = problem_eval(&pb, x, grad, NULL, 0);
  problem_free(&pb);
  *value = F;
  if (!isfinite(F)) return ps_fail(m, PS_EDOM, "idealpoint: objective is not finite");
  return PS_OK;
}

/* ---- fitting ---- */

static lbfgsfloatval_t polish_eval(void *inst, const lbfgsfloatval_t *x, lbfgsfloatval_t *g, const int n,
                                   const lbfgsfloatval_t step) {
  (void)n;
  (void)step;
  return problem_eval(inst, x, g, NULL, 0);
}

/* L-BFGS (liblbfgs, More-Thuente line search) from the Adam end point, for the smooth
 * objectives (logistic loss, and no decoupled decay outside F).  Adam's per-coordinate
 * steps stall along the flat directions of F (prototypes sliding along a user's
 * indifference set); a quasi-Newton polish takes ||grad F|| from ~1e-3 to ~1e-9 per row
 * in a few hundred evaluations (the planted test stops at its 1000 iterations with
 * ~1e-6 per row: the prototypes inside the users' hull are tied only by the weak l2).  x is updated only if the polished point is finite and
 * not worse (a failed line search leaves liblbfgs at its last accepted point). */
static void polish(problem *pb, double *x, size_t np, int iterations) {
  lbfgsfloatval_t *xl = lbfgs_malloc((int)np);
  if (!xl) return;
  memcpy(xl, x, np * sizeof(double));
  lbfgs_parameter_t par;
  lbfgs_parameter_init(&par);
  par.max_iterations = iterations;
  par.epsilon = 1e-13;
  par.m = 10;
  lbfgsfloatval_t fx;
  double f0 = problem_eval(pb, x, NULL, NULL, 0);
  lbfgs((int)np, xl, &fx, polish_eval, NULL, pb, &par);
  double f1 = problem_eval(pb, xl, NULL, NULL, 0);
  if (isfinite(f1) && f1 <= f0) memcpy(x, xl, np * sizeof(double));
  lbfgs_free(xl);
}

static double norm2(const double *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += v[i] * v[i];
  return sqrt(s);
}

/* A random start: embeddings / projector and logits ~ N(0, init_sd^2) (A entries scaled
 * by 1/sqrt d so that A phi has the scale of phi x init_sd), prototypes at the embeddings
 * of K random items plus a little noise, so they start inside the cloud of items. */
static void random_start(problem *pb, gsl_rng *r, double *x) {
  const idealpoint_options *o = pb->o;
  size_t p = pb->p, K = pb->K;
  double sd_emb = pb->linear ? o->init_sd / sqrt((double)pb->dphi) : o->init_sd;
  for (size_t k = 0; k < pb->n_emb; k++) x[k] = gsl_ran_gaussian(r, sd_emb);
  double *proto = x + pb->n_emb, *omega = proto + K * p;
  for (size_t k = 0; k < pb->n_users * K; k++) omega[k] = gsl_ran_gaussian(r, o->init_sd);
  problem_forward(pb, x); /* embeddings at this start */
  for (size_t k = 0; k < K; k++) {
    size_t y = gsl_rng_uniform_int(r, pb->n_items);
    for (size_t j = 0; j < p; j++) proto[k * p + j] = pb->emb[y * p + j] + gsl_ran_gaussian(r, 0.1 * o->init_sd);
  }
}

void idealpoint_model_free(idealpoint_model *mod) {
  if (!mod) return;
  free(mod->emb);
  free(mod->proj);
  free(mod->proto);
  free(mod->omega);
  free(mod->weights);
  free(mod->ideal);
  free(mod->comparisons);
  memset(mod, 0, sizeof *mod);
}

int idealpoint_fit(const pref_data *d, const pref_features *f, const idealpoint_options *o, gsl_rng *r,
                   idealpoint_model *out, ps_msg *m) {
  memset(out, 0, sizeof *out);
  problem pb;
  int s = problem_init(&pb, d, f, o, m);
  if (s) return s;
  if (d->n == 0) {
    problem_free(&pb);
    return ps_fail(m, PS_EINVAL, "idealpoint: no comparisons to fit");
  }
  size_t np = problem_nparams(&pb), p = pb.p, K = pb.K, H = pb.n_users;
  size_t batch = o->batch == 0 || o->batch > d->n ? d->n : o->batch;
  double *x = malloc(np * sizeof(double)), *g = malloc(np * sizeof(double)), *best = malloc(np * sizeof(double));
  size_t *rows = batch < d->n ? malloc(batch * sizeof(size_t)) : NULL;
  adam *opt = adam_alloc(np);
  double W = pref_data_weight(d), best_F = INFINITY, best_g = NAN;
  int best_it = 0, best_conv = 0, best_r = -1;
  if (!x || !g || !best || !opt || (batch < d->n && !rows)) {
    s = ps_fail(m, PS_ENOMEM, "idealpoint: out of memory");
    goto done;
  }
  for (int rs = 0; rs < o->restarts; rs++) {
    random_start(&pb, r, x);
    adam_reset(opt);
    int it, conv = 0;
    for (it = 0; it < o->iterations; it++) {
      double gn;
      if (rows) {
        adam_minibatch(r, d->n, batch, rows);
        problem_eval(&pb, x, g, rows, batch);
      } else {
        problem_eval(&pb, x, g, NULL, 0);
        gn = norm2(g, np);
        if (!isfinite(gn)) break;
        if (gn <= o->tol * W) {
          conv = 1;
          break;
        }
      }
      double mult = adam_cosine(it, o->iterations, 0.01);
      adam_tick(opt);
      if (pb.n_emb) {
        double lr_e = pb.linear ? o->lr_projector : o->lr, wd = pb.linear ? o->projector_decay : 0;
        adam_update(opt, x, g, 0, pb.n_emb, lr_e * mult, wd);
      }
      adam_update(opt, x, g, pb.n_emb, np - pb.n_emb, o->lr * mult, 0);
    }
    if (o->polish > 0 && o->loss == IDEALPOINT_LOGISTIC && !(pb.linear && o->projector_decay > 0))
      polish(&pb, x, np, o->polish);
    double F = problem_eval(&pb, x, g, NULL, 0);
    if (isfinite(F) && F < best_F) {
      best_F = F;
      best_g = norm2(g, np);
      best_it = it;
      best_conv = conv || best_g <= o->tol * W;
      best_r = rs;
      memcpy(best, x, np * sizeof(double));
    }
  }
  if (best_r < 0) {
    s = ps_fail(m, PS_EDOM, "idealpoint: the objective is not finite at any restart");
    goto done;
  }
  /* the kept estimate */
  problem_forward(&pb, best);
  out->K = K;
  out->p = p;
  out->n_items = pb.n_items;
  out->n_users = H;
  out->d = pb.dphi;
  out->distance = o->distance;
  out->loss = o->loss;
  out->tau = o->tau;
  out->l2_user = o->l2_user;
  out->adapt_iterations = o->adapt_iterations;
  out->adapt_lr = o->adapt_lr;
  out->emb = malloc(pb.n_items * p * sizeof(double));
  out->proto = malloc(K * p * sizeof(double));
  out->omega = malloc(H * K * sizeof(double));
  out->weights = malloc(H * K * sizeof(double));
  out->ideal = malloc(H * p * sizeof(double));
  out->comparisons = calloc(H, sizeof(double));
  out->proj = pb.linear ? malloc(pb.n_emb * sizeof(double)) : NULL;
  if (!out->emb || !out->proto || !out->omega || !out->weights || !out->ideal || !out->comparisons ||
      (pb.linear && !out->proj)) {
    idealpoint_model_free(out);
    s = ps_fail(m, PS_ENOMEM, "idealpoint: out of memory");
    goto done;
  }
  memcpy(out->emb, pb.emb, pb.n_items * p * sizeof(double));
  memcpy(out->proto, best + pb.n_emb, K * p * sizeof(double));
  memcpy(out->omega, best + pb.n_emb + K * p, H * K * sizeof(double));
  memcpy(out->weights, pb.w, H * K * sizeof(double));
  memcpy(out->ideal, pb.ideal, H * p * sizeof(double));
  if (pb.linear) memcpy(out->proj, best, pb.n_emb * sizeof(double));
  for (size_t i = 0; i < d->n; i++)
    out->comparisons[d->annotator ? (size_t)d->annotator[i] : 0] += d->count ? d->count[i] : 1.0;
  out->objective = best_F;
  out->grad_norm = best_g;
  out->iterations = best_it;
  out->converged = best_conv;
  out->best_restart = best_r;
  s = PS_OK;
done:
  free(x);
  free(g);
  free(best);
  free(rows);
  adam_free(opt);
  problem_free(&pb);
  return s;
}

/* ---- predictions ---- */

double idealpoint_logit_ideal(const idealpoint_model *mod, const double *ideal, int32_t a, int32_t b) {
  size_t p = mod->p;
  double da = dist_grad(mod->distance, mod->emb + (size_t)a * p, ideal, p, NULL);
  double db = dist_grad(mod->distance, mod->emb + (size_t)b * p, ideal, p, NULL);
  return mod->loss == IDEALPOINT_HINGE ? db - da : (db - da) / mod->tau;
}

double idealpoint_logit_user(const idealpoint_model *mod, size_t h, int32_t a, int32_t b) {
  return idealpoint_logit_ideal(mod, mod->ideal + h * mod->p, a, b);
}

double idealpoint_logit_population(const idealpoint_model *mod, int32_t a, int32_t b) {
  size_t H = mod->n_users, n_active = 0;
  for (size_t h = 0; h < H; h++) n_active += mod->comparisons[h] > 0;
  double mx_p = -INFINITY, mx_m = -INFINITY, sum_p = 0, sum_m = 0;
  /* two-pass log-sum-exp of log sigma(z_h) and log sigma(-z_h) over the active users */
  for (int pass = 0; pass < 2; pass++)
    for (size_t h = 0; h < H; h++) {
      if (n_active && !(mod->comparisons[h] > 0)) continue;
      double z = idealpoint_logit_user(mod, h, a, b), lp = ps_log_sigmoid(z), lm = ps_log_sigmoid(-z);
      if (pass == 0) {
        if (lp > mx_p) mx_p = lp;
        if (lm > mx_m) mx_m = lm;
      } else {
        sum_p += exp(lp - mx_p);
        sum_m += exp(lm - mx_m);
      }
    }
  return (mx_p + log(sum_p)) - (mx_m + log(sum_m));
}

static void ideal_of(const idealpoint_model *mod, const double *omega, double *w, double *a) {
  softmax(omega, mod->K, w);
  memset(a, 0, mod->p * sizeof(double));
  for (size_t k = 0; k < mod->K; k++)
    for (size_t j = 0; j < mod->p; j++) a[j] += w[k] * mod->proto[k * mod->p + j];
}

double idealpoint_logit_omega(const idealpoint_model *mod, const double *omega, int32_t a, int32_t b) {
  double wb[16], ab[16];
  double *w = mod->K <= 16 ? wb : malloc(mod->K * sizeof(double));
  double *ap = mod->p <= 16 ? ab : malloc(mod->p * sizeof(double));
  double z = NAN;
  if (w && ap) {
    ideal_of(mod, omega, w, ap);
    z = idealpoint_logit_ideal(mod, ap, a, b);
  }
  if (w != wb) free(w);
  if (ap != ab) free(ap);
  return z;
}

int idealpoint_adapt(const idealpoint_model *mod, const pref_data *shots, double *omega_out, ps_msg *m) {
  size_t K = mod->K, p = mod->p;
  for (size_t i = 0; i < shots->n; i++)
    if (shots->winner[i] < 0 || shots->loser[i] < 0 || (size_t)shots->winner[i] >= mod->n_items ||
        (size_t)shots->loser[i] >= mod->n_items || shots->winner[i] == shots->loser[i] ||
        (shots->count && !(shots->count[i] > 0 && isfinite(shots->count[i]))))
      return ps_fail(m, PS_EINVAL, "idealpoint adapt: shot %zu has bad items or count", i);
  double *om = calloc(K, sizeof(double)), *g = malloc(K * sizeof(double)), *w = malloc(K * sizeof(double));
  double *a = malloc(p * sizeof(double)), *ga = malloc(p * sizeof(double));
  double *up = malloc(p * sizeof(double)), *um = malloc(p * sizeof(double));
  adam *opt = adam_alloc(K);
  int s = PS_OK;
  if (!om || !g || !w || !a || !ga || !up || !um || !opt) {
    s = ps_fail(m, PS_ENOMEM, "idealpoint adapt: out of memory");
    goto done;
  }
  if (shots->n > 0)
    for (int it = 0; it < mod->adapt_iterations; it++) {
      ideal_of(mod, om, w, a);
      memset(ga, 0, p * sizeof(double));
      for (size_t i = 0; i < shots->n; i++) {
        const double *fw = mod->emb + (size_t)shots->winner[i] * p, *fl = mod->emb + (size_t)shots->loser[i] * p;
        double c = shots->count ? shots->count[i] : 1.0, dl;
        double sc = dist_grad(mod->distance, fl, a, p, um) - dist_grad(mod->distance, fw, a, p, up);
        loss_eval(mod->loss, mod->tau, sc, &dl);
        for (size_t j = 0; j < p; j++) ga[j] += c * dl * (up[j] - um[j]);
      }
      double mean = 0;
      for (size_t k = 0; k < K; k++) {
        double acc = 0;
        for (size_t j = 0; j < p; j++) acc += mod->proto[k * p + j] * ga[j];
        g[k] = acc;
        mean += w[k] * acc;
      }
      for (size_t k = 0; k < K; k++) g[k] = w[k] * (g[k] - mean) + mod->l2_user * om[k];
      adam_tick(opt);
      adam_update(opt, om, g, 0, K, mod->adapt_lr * adam_cosine(it, mod->adapt_iterations, 0.01), 0);
    }
  for (size_t k = 0; k < K; k++)
    if (!isfinite(om[k])) {
      s = ps_fail(m, PS_EDOM, "idealpoint adapt: logits not finite");
      goto done;
    }
  memcpy(omega_out, om, K * sizeof(double));
done:
  free(om);
  free(g);
  free(w);
  free(a);
  free(ga);
  free(up);
  free(um);
  adam_free(opt);
  return s;
}

/* ---- the est_type ---- */

#include "estimator.h"

struct est_model {
  idealpoint_options opt;
  idealpoint_model mod;
  int fitted;
};

static const ps_param ip_params[] = {
    {"K", PS_PARAM_INT, "2", 1, IDEALPOINT_MAX_K, NULL, "number of prototypes"},
    {"dim", PS_PARAM_INT, "2", 1, 1000, NULL,
     "embedding dimension p of the linear projector or of free item embeddings (item worlds)"},
    {"distance", PS_PARAM_ENUM, "euclidean", 0, 0, "euclidean|squared",
     "euclidean = sqrt(||f - a||^2 + 1e-12) (the reference); squared = exactly BT per user"},
    {"loss", PS_PARAM_ENUM, "logistic", 0, 0, "logistic|hinge",
     "logistic softplus(-s/tau) (a likelihood); hinge max(0, 1 - s) (reference default, not a likelihood)"},
    {"projector", PS_PARAM_ENUM, "identity", 0, 0, "identity|linear", "features: f = phi or f = A phi (A is p x d)"},
    {"tau", PS_PARAM_REAL, "1", 1e-6, 1e6, NULL, "temperature of the logistic loss"},
    {"lr", PS_PARAM_REAL, "0.02", 1e-8, 10, NULL, "Adam step for prototypes, user logits, item embeddings"},
    {"lr_projector", PS_PARAM_REAL, "1e-3", 1e-8, 10, NULL, "Adam step for the projector A"},
    {"projector_decay", PS_PARAM_REAL, "0.01", 0, 1e3, NULL, "AdamW decoupled weight decay of A"},
    {"l2", PS_PARAM_REAL, "1e-3", 0, 1e12, NULL, "(l2/2)(||P||^2 + ||E||^2) on the summed loss"},
    {"l2_user", PS_PARAM_REAL, "1", 0, 1e12, NULL, "(l2_user/2)||omega_h||^2: user logits shrink to uniform weights"},
    {"iterations", PS_PARAM_INT, "1500", 1, 10000000, NULL, "Adam steps per restart (cosine-decayed step)"},
    {"restarts", PS_PARAM_INT, "4", 1, 10000, NULL, "random starts; the lowest objective is kept"},
    {"init_sd", PS_PARAM_REAL, "0.5", 1e-8, 1e6, NULL, "sd of the initial logits and embeddings"},
    {"batch", PS_PARAM_INT, "0", 0, 1e12, NULL, "minibatch rows per Adam step; 0 = full batch"},
    {"tol", PS_PARAM_REAL, "1e-6", 0, 1, NULL, "stop a restart when ||grad|| <= tol x total weight"},
    {"polish", PS_PARAM_INT, "1000", 0, 1000000, NULL,
     "L-BFGS iterations after Adam (logistic loss without projector decay only); 0 = Adam only"},
    {"adapt_iterations", PS_PARAM_INT, "400", 0, 1000000, NULL, "Adam steps of a new user's few-shot fit"},
    {"adapt_lr", PS_PARAM_REAL, "0.05", 1e-8, 10, NULL, "their step"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int ip_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  idealpoint_options *o = &e->opt;
  *o = idealpoint_options_default();
  o->K = (size_t)ps_param_int(ps_param_text(ip_params, h, "K"));
  o->dim = (size_t)ps_param_int(ps_param_text(ip_params, h, "dim"));
  o->distance = strcmp(ps_param_text(ip_params, h, "distance"), "squared") == 0 ? IDEALPOINT_SQUARED : IDEALPOINT_EUCLIDEAN;
  o->loss = strcmp(ps_param_text(ip_params, h, "loss"), "hinge") == 0 ? IDEALPOINT_HINGE : IDEALPOINT_LOGISTIC;
  o->projector = strcmp(ps_param_text(ip_params, h, "projector"), "linear") == 0 ? IDEALPOINT_LINEAR : IDEALPOINT_IDENTITY;
  o->tau = ps_param_real(ps_param_text(ip_params, h, "tau"));
  o->lr = ps_param_real(ps_param_text(ip_params, h, "lr"));
  o->lr_projector = ps_param_real(ps_param_text(ip_params, h, "lr_projector"));
  o->projector_decay = ps_param_real(ps_param_text(ip_params, h, "projector_decay"));
  o->l2 = ps_param_real(ps_param_text(ip_params, h, "l2"));
  o->l2_user = ps_param_real(ps_param_text(ip_params, h, "l2_user"));
  o->iterations = (int)ps_param_int(ps_param_text(ip_params, h, "iterations"));
  o->restarts = (int)ps_param_int(ps_param_text(ip_params, h, "restarts"));
  o->init_sd = ps_param_real(ps_param_text(ip_params, h, "init_sd"));
  o->batch = (size_t)ps_param_int(ps_param_text(ip_params, h, "batch"));
  o->tol = ps_param_real(ps_param_text(ip_params, h, "tol"));
  o->polish = (int)ps_param_int(ps_param_text(ip_params, h, "polish"));
  o->adapt_iterations = (int)ps_param_int(ps_param_text(ip_params, h, "adapt_iterations"));
  o->adapt_lr = ps_param_real(ps_param_text(ip_params, h, "adapt_lr"));
  int s = idealpoint_options_check(o, m);
  if (s) {
    free(e);
    return s;
  }
  *out = e;
  return PS_OK;
}

static int ip_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                  ps_msg *m) {
  idealpoint_model_free(&e->mod);
  int s = idealpoint_fit(d, f, &e->opt, r, &e->mod, m);
  e->fitted = s == PS_OK;
  info->status = s;
  info->converged = s == PS_OK && e->mod.converged;
  info->iterations = e->mod.iterations;
  info->objective = s == PS_OK ? e->mod.objective : NAN;
  info->grad_norm = s == PS_OK ? e->mod.grad_norm : NAN;
  return s;
}

static double ip_logit(const est_model *e, int32_t a, int32_t b) {
  return idealpoint_logit_population(&e->mod, a, b);
}

static const double *ip_theta(const est_model *e, size_t *dim) {
  (void)e;
  *dim = 0;
  return NULL;
}

static void ip_free(est_model *e) {
  if (!e) return;
  idealpoint_model_free(&e->mod);
  free(e);
}

static const char *const ip_columns[] = {"top_prototype", "top_weight", "comparisons", NULL};

static int ip_annotator(const est_model *e, size_t h, double *vals) {
  if (!e->fitted || h >= e->mod.n_users) return PS_EINVAL;
  const double *w = e->mod.weights + h * e->mod.K;
  size_t top = 0;
  for (size_t k = 1; k < e->mod.K; k++)
    if (w[k] > w[top]) top = k;
  vals[0] = (double)top;
  vals[1] = w[top];
  vals[2] = e->mod.comparisons[h];
  return PS_OK;
}

static double ip_logit_annotator(const est_model *e, int32_t h, int32_t a, int32_t b) {
  if (h < 0 || (size_t)h >= e->mod.n_users) return NAN;
  return idealpoint_logit_user(&e->mod, (size_t)h, a, b);
}

static size_t ip_state_len(const est_model *e) { return e->opt.K; }

static int ip_adapt(const est_model *e, const pref_data *shots, gsl_rng *r, double *state, ps_msg *m) {
  (void)r;
  if (!e->fitted) return ps_fail(m, PS_EINVAL, "idealpoint adapt: model not fitted");
  return idealpoint_adapt(&e->mod, shots, state, m);
}

static double ip_logit_user(const est_model *e, const double *state, int32_t a, int32_t b) {
  return idealpoint_logit_omega(&e->mod, state, a, b);
}

const est_type est_idealpoint = {
    .name = "idealpoint",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "PAL-A ideal-point model (Chen et al. 2024, pluralistic alignment; docs/theory.md §3.6): user h "
           "prefers items near a_h = sum_k softmax(omega_h)_k p_k; euclidean or squared distance, logistic "
           "or hinge loss, fixed features, a linear projector or free item embeddings; Adam with restarts. "
           "logit = logit of the mean over training users of P_h; logit_annotator = user h's own; adapt fits "
           "a new user's K logits (prototypes fixed).  Annotator columns: top_prototype (0-based index of "
           "the largest weight), top_weight, comparisons (training weight).",
    .params = ip_params,
    .alloc = ip_alloc,
    .fit = ip_fit,
    .logit = ip_logit,
    .theta = ip_theta,
    .free = ip_free,
    .annotator_columns = ip_columns,
    .annotator = ip_annotator,
    .logit_annotator = ip_logit_annotator,
    .user_state_len = ip_state_len,
    .adapt = ip_adapt,
    .logit_user = ip_logit_user,
};
