/* lowrank.c — low-rank personalised BT rewards, LoRe (simplex weights) and RFM (free
 * weights): fit, predictions, few-shot adaptation (docs/theory.md §2.7; reference
 * facebookresearch/LoRe utils.py).  See lowrank.h for the model and objective.
 *
 * Backpropagation, with g(y) = V^T phi(y) (or U_y), z = (g(y+) - g(y-))^T w_h and
 * e = -c sigma(-z) = dF/dz:
 *     dF/dw_h += e (g(y+) - g(y-)),   dF/dg(y+) += e w_h,   dF/dg(y-) -= e w_h,
 *     dF/domega_hj = w_hj (dF/dw_hj - sum_k w_hk dF/dw_hk)  (simplex)  or dF/dw_hj (free),
 *     dF/dV = sum_y phi(y) dF/dg(y)^T + l2 V,   dF/dU = dF/dG + l2 U. */
#include "lowrank.h"

#include <gsl/gsl_randist.h>
#include <lbfgs.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "../core/adam.h"

lowrank_options lowrank_options_default(void) {
  lowrank_options o = {.B = 2,
                       .weights = LOWRANK_SIMPLEX,
                       .l2 = 1e-3,
                       .l2_user = 1,
                       .lr = 0.02,
                       .iterations = 1000,
                       .restarts = 3,
                       .init_sd = 0.5,
                       .batch = 0,
                       .polish = 1000,
                       .tol = 1e-6,
                       .adapt_iterations = 400,
                       .adapt_lr = 0.05};
  return o;
}

int lowrank_options_check(const lowrank_options *o, ps_msg *m) {
  if (o->B < 1 || o->B > LOWRANK_MAX_B)
    return ps_fail(m, PS_EINVAL, "lowrank: B = %zu; need 1 <= B <= %d", o->B, LOWRANK_MAX_B);
  if ((unsigned)o->weights > LOWRANK_FREE) return ps_fail(m, PS_EINVAL, "lowrank: unknown weights kind");
  if (!(o->l2 >= 0) || !(o->l2_user >= 0) || !isfinite(o->l2) || !isfinite(o->l2_user))
    return ps_fail(m, PS_EINVAL, "lowrank: l2 and l2_user must be finite and >= 0");
  if (!(o->lr > 0) || !(o->adapt_lr > 0) || !isfinite(o->lr) || !isfinite(o->adapt_lr))
    return ps_fail(m, PS_EINVAL, "lowrank: learning rates must be > 0");
  if (o->iterations < 1 || o->restarts < 1 || o->polish < 0 || o->adapt_iterations < 0)
    return ps_fail(m, PS_EINVAL, "lowrank: iterations and restarts must be >= 1");
  if (!(o->init_sd > 0) || !isfinite(o->init_sd)) return ps_fail(m, PS_EINVAL, "lowrank: init_sd must be > 0");
  if (!(o->tol >= 0)) return ps_fail(m, PS_EINVAL, "lowrank: tol must be >= 0");
  return PS_OK;
}

typedef struct {
  const pref_data *d;
  const pref_features *f;
  const lowrank_options *o;
  size_t n_items, n_users, B, dphi, n_basis;
  int items_world;
  double *G, *gG, *w, *gw;
} problem;

static size_t users_of(const pref_data *d) { return d->annotator ? d->n_annotators : 1; }

static void problem_free(problem *pb) {
  free(pb->G);
  free(pb->gG);
  free(pb->w);
  free(pb->gw);
}

static int problem_init(problem *pb, const pref_data *d, const pref_features *f, const lowrank_options *o,
                        ps_msg *m) {
  memset(pb, 0, sizeof *pb);
  int s = lowrank_options_check(o, m);
  if (s) return s;
  if (!d || !f) return ps_fail(m, PS_EINVAL, "lowrank: no data");
  if (d->n_items != f->n_items)
    return ps_fail(m, PS_EINVAL, "lowrank: data has %zu items, features %zu", d->n_items, f->n_items);
  if (d->annotator && d->n_annotators == 0) return ps_fail(m, PS_EINVAL, "lowrank: no users (n_annotators = 0)");
  if (d->n > 0 && (s = pref_data_check(d, m))) return s;
  pb->d = d;
  pb->f = f;
  pb->o = o;
  pb->B = o->B;
  pb->n_items = f->n_items;
  pb->n_users = users_of(d);
  pb->items_world = f->phi == NULL;
  if (!pb->items_world) {
    if (f->d < 1) return ps_fail(m, PS_EINVAL, "lowrank: feature dimension 0");
    for (size_t i = 0; i < f->n_items * f->d; i++)
      if (!isfinite(f->phi[i]))
        return ps_fail(m, PS_EDOM, "lowrank: feature %zu of item %zu is not finite", i % f->d, i / f->d);
    pb->dphi = f->d;
  }
  pb->n_basis = (pb->items_world ? pb->n_items : pb->dphi) * pb->B;
  pb->G = malloc(pb->n_items * pb->B * sizeof(double));
  pb->gG = malloc(pb->n_items * pb->B * sizeof(double));
  pb->w = malloc(pb->n_users * pb->B * sizeof(double));
  pb->gw = malloc(pb->n_users * pb->B * sizeof(double));
  if (!pb->G || !pb->gG || !pb->w || !pb->gw) {
    problem_free(pb);
    return ps_fail(m, PS_ENOMEM, "lowrank: out of memory");
  }
  return PS_OK;
}

static size_t problem_nparams(const problem *pb) { return pb->n_basis + pb->n_users * pb->B; }

static void softmax(const double *z, size_t K, double *w) {
  double mx = z[0], sum = 0;
  for (size_t k = 1; k < K; k++)
    if (z[k] > mx) mx = z[k];
  for (size_t k = 0; k < K; k++) sum += (w[k] = exp(z[k] - mx));
  for (size_t k = 0; k < K; k++) w[k] /= sum;
}

static void user_weights(lowrank_weights kind, const double *omega, size_t B, double *w) {
  if (kind == LOWRANK_SIMPLEX)
    softmax(omega, B, w);
  else
    memcpy(w, omega, B * sizeof(double));
}

static void problem_forward(problem *pb, const double *x) {
  size_t B = pb->B;
  if (pb->items_world) {
    memcpy(pb->G, x, pb->n_items * B * sizeof(double));
  } else {
    for (size_t y = 0; y < pb->n_items; y++) {
      const double *ph = pb->f->phi + y * pb->dphi;
      double *gy = pb->G + y * B;
      memset(gy, 0, B * sizeof(double));
      for (size_t k = 0; k < pb->dphi; k++)
        for (size_t b = 0; b < B; b++) gy[b] += ph[k] * x[k * B + b];
    }
  }
  const double *omega = x + pb->n_basis;
  for (size_t h = 0; h < pb->n_users; h++) user_weights(pb->o->weights, omega + h * B, B, pb->w + h * B);
}

static double problem_eval(problem *pb, const double *x, double *grad, const size_t *rows, size_t nr) {
  const pref_data *d = pb->d;
  const lowrank_options *o = pb->o;
  size_t B = pb->B, H = pb->n_users;
  problem_forward(pb, x);
  if (grad) {
    memset(pb->gG, 0, pb->n_items * B * sizeof(double));
    memset(pb->gw, 0, H * B * sizeof(double));
  }
  size_t nrows = rows ? nr : d->n;
  double scale = rows && nr > 0 ? (double)d->n / (double)nr : 1.0, F = 0;
  for (size_t t = 0; t < nrows; t++) {
    size_t i = rows ? rows[t] : t;
    size_t h = d->annotator ? (size_t)d->annotator[i] : 0;
    double c = (d->count ? d->count[i] : 1.0) * scale;
    const double *gp = pb->G + (size_t)d->winner[i] * B, *gm = pb->G + (size_t)d->loser[i] * B, *wh = pb->w + h * B;
    double z = 0;
    for (size_t b = 0; b < B; b++) z += (gp[b] - gm[b]) * wh[b];
    F += c * ps_softplus(-z);
    if (!grad) continue;
    double e = -c * ps_sigmoid(-z);
    double *ggp = pb->gG + (size_t)d->winner[i] * B, *ggm = pb->gG + (size_t)d->loser[i] * B, *gwh = pb->gw + h * B;
    for (size_t b = 0; b < B; b++) {
      gwh[b] += e * (gp[b] - gm[b]);
      ggp[b] += e * wh[b];
      ggm[b] -= e * wh[b];
    }
  }
  const double *omega = x + pb->n_basis;
  double pen = 0, pen_user = 0;
  for (size_t k = 0; k < pb->n_basis; k++) pen += x[k] * x[k];
  for (size_t k = 0; k < H * B; k++) pen_user += omega[k] * omega[k];
  F += 0.5 * o->l2 * pen + 0.5 * o->l2_user * pen_user;
  if (!grad) return F;
  if (pb->items_world) {
    for (size_t k = 0; k < pb->n_basis; k++) grad[k] = pb->gG[k] + o->l2 * x[k];
  } else {
    for (size_t k = 0; k < pb->n_basis; k++) grad[k] = o->l2 * x[k];
    for (size_t y = 0; y < pb->n_items; y++) {
      const double *ph = pb->f->phi + y * pb->dphi, *gy = pb->gG + y * B;
      for (size_t k = 0; k < pb->dphi; k++)
        for (size_t b = 0; b < B; b++) grad[k * B + b] += ph[k] * gy[b];
    }
  }
  double *g_omega = grad + pb->n_basis;
  for (size_t h = 0; h < H; h++) {
    const double *wh = pb->w + h * B, *gwh = pb->gw + h * B;
    if (o->weights == LOWRANK_SIMPLEX) {
      double mean = 0;
      for (size_t b = 0; b < B; b++) mean += wh[b] * gwh[b];
      for (size_t b = 0; b < B; b++) g_omega[h * B + b] = wh[b] * (gwh[b] - mean);
    } else {
      memcpy(g_omega + h * B, gwh, B * sizeof(double));
    }
    for (size_t b = 0; b < B; b++) g_omega[h * B + b] += o->l2_user * omega[h * B + b];
  }
  return F;
}

size_t lowrank_nparams(const pref_data *d, const pref_features *f, const lowrank_options *o) {
  return (f->phi ? f->d : f->n_items) * o->B + users_of(d) * o->B;
}

int lowrank_objective(const pref_data *d, const pref_features *f, const lowrank_options *o, const double *x,
                      double *value, double *grad, ps_msg *m) {
  problem pb;
  int s = problem_init(&pb, d, f, o, m);
  if (s) return s;
  double F = problem_eval(&pb, x, grad, NULL, 0);
  problem_free(&pb);
  *value = F;
  if (!isfinite(F)) return ps_fail(m, PS_EDOM, "lowrank: objective is not finite");
  return PS_OK;
}

static double norm2(const double *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += v[i] * v[i];
  return sqrt(s);
}

static lbfgsfloatval_t polish_eval(void *inst, const lbfgsfloatval_t *x, lbfgsfloatval_t *g, const int n,
                                   const lbfgsfloatval_t step) {
  (void)n;
  (void)step;
  return problem_eval(inst, x, g, NULL, 0);
}

/* L-BFGS from the Adam end point (see idealpoint.c's polish); x replaced only by a
 * finite, not-worse point. */
static void polish(problem *pb, double *x, size_t np, int iterations) {
  lbfgsfloatval_t *xl = lbfgs_malloc((int)np);
  if (!xl) return;
  memcpy(xl, x, np * sizeof(double));
  lbfgs_parameter_t par;
  lbfgs_parameter_init(&par);
  par.max_iterations = iterations;
  par.epsilon = 1e-13;
  lbfgsfloatval_t fx;
  double f0 = problem_eval(pb, x, NULL, NULL, 0);
  lbfgs((int)np, xl, &fx, polish_eval, NULL, pb, &par);
  double f1 = problem_eval(pb, xl, NULL, NULL, 0);
  if (isfinite(f1) && f1 <= f0) memcpy(x, xl, np * sizeof(double));
  lbfgs_free(xl);
}

void lowrank_model_free(lowrank_model *mod) {
  if (!mod) return;
  free(mod->basis);
  free(mod->item_features);
  free(mod->omega);
  free(mod->w);
  free(mod->comparisons);
  free(mod->omega_mean);
  free(mod->w_mean);
  free(mod->theta);
  memset(mod, 0, sizeof *mod);
}

int lowrank_fit(const pref_data *d, const pref_features *f, const lowrank_options *o, gsl_rng *r,
                lowrank_model *out, ps_msg *m) {
  memset(out, 0, sizeof *out);
  problem pb;
  int s = problem_init(&pb, d, f, o, m);
  if (s) return s;
  if (d->n == 0) {
    problem_free(&pb);
    return ps_fail(m, PS_EINVAL, "lowrank: no comparisons to fit");
  }
  size_t np = problem_nparams(&pb), B = pb.B, H = pb.n_users;
  size_t batch = o->batch == 0 || o->batch > d->n ? d->n : o->batch;
  double *x = malloc(np * sizeof(double)), *g = malloc(np * sizeof(double)), *best = malloc(np * sizeof(double));
  size_t *rows = batch < d->n ? malloc(batch * sizeof(size_t)) : NULL;
  adam *opt = adam_alloc(np);
  double W = pref_data_weight(d), best_F = INFINITY, best_g = NAN;
  int best_it = 0, best_r = -1;
  if (!x || !g || !best || !opt || (batch < d->n && !rows)) {
    s = ps_fail(m, PS_ENOMEM, "lowrank: out of memory");
    goto done;
  }
  for (int rs = 0; rs < o->restarts; rs++) {
    /* V entries ~ N(0, init_sd^2 / d) so that g(y) = V^T phi has the scale of init_sd x phi */
    double sd_basis = pb.items_world ? o->init_sd : o->init_sd / sqrt((double)pb.dphi);
    for (size_t k = 0; k < pb.n_basis; k++) x[k] = gsl_ran_gaussian(r, sd_basis);
    for (size_t k = pb.n_basis; k < np; k++) x[k] = gsl_ran_gaussian(r, o->init_sd);
    adam_reset(opt);
    int it;
    for (it = 0; it < o->iterations; it++) {
      if (rows) {
        adam_minibatch(r, d->n, batch, rows);
        problem_eval(&pb, x, g, rows, batch);
      } else {
        problem_eval(&pb, x, g, NULL, 0);
        double gn = norm2(g, np);
        if (!isfinite(gn) || gn <= o->tol * W) break;
      }
      adam_tick(opt);
      adam_update(opt, x, g, 0, np, o->lr * adam_cosine(it, o->iterations, 0.01), 0);
    }
    if (o->polish > 0) polish(&pb, x, np, o->polish);
    double F = problem_eval(&pb, x, g, NULL, 0);
    if (isfinite(F) && F < best_F) {
      best_F = F;
      best_g = norm2(g, np);
      best_it = it;
      best_r = rs;
      memcpy(best, x, np * sizeof(double));
    }
  }
  if (best_r < 0) {
    s = ps_fail(m, PS_EDOM, "lowrank: the objective is not finite at any restart");
    goto done;
  }
  problem_forward(&pb, best);
  out->B = B;
  out->n_items = pb.n_items;
  out->n_users = H;
  out->d = pb.dphi;
  out->weights = o->weights;
  out->l2_user = o->l2_user;
  out->adapt_iterations = o->adapt_iterations;
  out->adapt_lr = o->adapt_lr;
  out->theta_dim = pb.items_world ? pb.n_items : pb.dphi;
  out->basis = malloc(pb.n_basis * sizeof(double));
  out->item_features = malloc(pb.n_items * B * sizeof(double));
  out->omega = malloc(H * B * sizeof(double));
  out->w = malloc(H * B * sizeof(double));
  out->comparisons = calloc(H, sizeof(double));
  out->omega_mean = calloc(B, sizeof(double));
  out->w_mean = calloc(B, sizeof(double));
  out->theta = calloc(out->theta_dim, sizeof(double));
  if (!out->basis || !out->item_features || !out->omega || !out->w || !out->comparisons || !out->omega_mean ||
      !out->w_mean || !out->theta) {
    lowrank_model_free(out);
    s = ps_fail(m, PS_ENOMEM, "lowrank: out of memory");
    goto done;
  }
  memcpy(out->basis, best, pb.n_basis * sizeof(double));
  memcpy(out->item_features, pb.G, pb.n_items * B * sizeof(double));
  memcpy(out->omega, best + pb.n_basis, H * B * sizeof(double));
  memcpy(out->w, pb.w, H * B * sizeof(double));
  for (size_t i = 0; i < d->n; i++) out->comparisons[d->annotator ? (size_t)d->annotator[i] : 0] += d->count ? d->count[i] : 1.0;
  size_t n_active = 0;
  for (size_t h = 0; h < H; h++) n_active += out->comparisons[h] > 0;
  for (size_t h = 0; h < H; h++) {
    if (!(out->comparisons[h] > 0)) continue;
    for (size_t b = 0; b < B; b++) {
      out->omega_mean[b] += out->omega[h * B + b] / (double)n_active;
      out->w_mean[b] += out->w[h * B + b] / (double)n_active;
    }
  }
  /* theta: the mean user's reward parameter, V w_mean (features) or U w_mean centred */
  if (pb.items_world) {
    double mean = 0;
    for (size_t y = 0; y < pb.n_items; y++) {
      double acc = 0;
      for (size_t b = 0; b < B; b++) acc += pb.G[y * B + b] * out->w_mean[b];
      out->theta[y] = acc;
      mean += acc / (double)pb.n_items;
    }
    for (size_t y = 0; y < pb.n_items; y++) out->theta[y] -= mean;
  } else {
    for (size_t k = 0; k < pb.dphi; k++)
      for (size_t b = 0; b < B; b++) out->theta[k] += best[k * B + b] * out->w_mean[b];
  }
  out->objective = best_F;
  out->grad_norm = best_g;
  out->iterations = best_it;
  out->converged = best_g <= o->tol * W;
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

static double logit_w(const lowrank_model *mod, const double *w, int32_t a, int32_t b) {
  const double *ga = mod->item_features + (size_t)a * mod->B, *gb = mod->item_features + (size_t)b * mod->B;
  double z = 0;
  for (size_t k = 0; k < mod->B; k++) z += (ga[k] - gb[k]) * w[k];
  return z;
}

double lowrank_logit_user(const lowrank_model *mod, size_t h, int32_t a, int32_t b) {
  return logit_w(mod, mod->w + h * mod->B, a, b);
}

double lowrank_logit_population(const lowrank_model *mod, int32_t a, int32_t b) {
  return logit_w(mod, mod->w_mean, a, b);
}

double lowrank_logit_omega(const lowrank_model *mod, const double *omega, int32_t a, int32_t b) {
  double w[LOWRANK_MAX_B];
  user_weights(mod->weights, omega, mod->B, w);
  return logit_w(mod, w, a, b);
}

int lowrank_adapt(const lowrank_model *mod, const pref_data *shots, double *omega_out, ps_msg *m) {
  size_t B = mod->B;
  for (size_t i = 0; i < shots->n; i++)
    if (shots->winner[i] < 0 || shots->loser[i] < 0 || (size_t)shots->winner[i] >= mod->n_items ||
        (size_t)shots->loser[i] >= mod->n_items || shots->winner[i] == shots->loser[i] ||
        (shots->count && !(shots->count[i] > 0 && isfinite(shots->count[i]))))
      return ps_fail(m, PS_EINVAL, "lowrank adapt: shot %zu has bad items or count", i);
  double om[LOWRANK_MAX_B], w[LOWRANK_MAX_B], gw[LOWRANK_MAX_B], g[LOWRANK_MAX_B];
  memcpy(om, mod->omega_mean, B * sizeof(double));
  adam *opt = adam_alloc(B);
  if (!opt) return ps_fail(m, PS_ENOMEM, "lowrank adapt: out of memory");
  if (shots->n > 0)
    for (int it = 0; it < mod->adapt_iterations; it++) {
      user_weights(mod->weights, om, B, w);
      memset(gw, 0, B * sizeof(double));
      for (size_t i = 0; i < shots->n; i++) {
        const double *gp = mod->item_features + (size_t)shots->winner[i] * B;
        const double *gm = mod->item_features + (size_t)shots->loser[i] * B;
        double c = shots->count ? shots->count[i] : 1.0, z = 0;
        for (size_t b = 0; b < B; b++) z += (gp[b] - gm[b]) * w[b];
        double e = -c * ps_sigmoid(-z);
        for (size_t b = 0; b < B; b++) gw[b] += e * (gp[b] - gm[b]);
      }
      if (mod->weights == LOWRANK_SIMPLEX) {
        double mean = 0;
        for (size_t b = 0; b < B; b++) mean += w[b] * gw[b];
        for (size_t b = 0; b < B; b++) g[b] = w[b] * (gw[b] - mean);
      } else {
        memcpy(g, gw, B * sizeof(double));
      }
      for (size_t b = 0; b < B; b++) g[b] += mod->l2_user * (om[b] - mod->omega_mean[b]);
      adam_tick(opt);
      adam_update(opt, om, g, 0, B, mod->adapt_lr * adam_cosine(it, mod->adapt_iterations, 0.01), 0);
    }
  adam_free(opt);
  for (size_t b = 0; b < B; b++)
    if (!isfinite(om[b])) return ps_fail(m, PS_EDOM, "lowrank adapt: weights not finite");
  memcpy(omega_out, om, B * sizeof(double));
  return PS_OK;
}

/* ---- the est_type ---- */

#include "estimator.h"

struct est_model {
  lowrank_options opt;
  lowrank_model mod;
  int fitted;
};

static const ps_param lr_params[] = {
    {"B", PS_PARAM_INT, "2", 1, LOWRANK_MAX_B, NULL, "basis size (rank of the user x item reward matrix)"},
    {"weights", PS_PARAM_ENUM, "simplex", 0, 0, "simplex|free",
     "simplex = LoRe, w_h = softmax(omega_h); free = RFM, w_h in R^B"},
    {"l2", PS_PARAM_REAL, "1e-3", 0, 1e12, NULL, "(l2/2)||V||^2 (item worlds ||U||^2) on the summed loss"},
    {"l2_user", PS_PARAM_REAL, "1", 0, 1e12, NULL, "(l2_user/2)||omega_h||^2; adapt shrinks toward the mean user"},
    {"lr", PS_PARAM_REAL, "0.02", 1e-8, 10, NULL, "Adam step (cosine-decayed)"},
    {"iterations", PS_PARAM_INT, "1000", 1, 10000000, NULL, "Adam steps per restart"},
    {"restarts", PS_PARAM_INT, "3", 1, 10000, NULL, "random starts; the lowest objective is kept"},
    {"init_sd", PS_PARAM_REAL, "0.5", 1e-8, 1e6, NULL, "sd of the initial basis and user entries"},
    {"batch", PS_PARAM_INT, "0", 0, 1e12, NULL, "minibatch rows per Adam step; 0 = full batch"},
    {"polish", PS_PARAM_INT, "1000", 0, 1000000, NULL, "L-BFGS iterations after Adam; 0 = Adam only"},
    {"tol", PS_PARAM_REAL, "1e-6", 0, 1, NULL, "converged when ||grad|| <= tol x total weight"},
    {"adapt_iterations", PS_PARAM_INT, "400", 0, 1000000, NULL, "Adam steps of a new user's few-shot fit"},
    {"adapt_lr", PS_PARAM_REAL, "0.05", 1e-8, 10, NULL, "their step"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int lr_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  lowrank_options *o = &e->opt;
  *o = lowrank_options_default();
  o->B = (size_t)ps_param_int(ps_param_text(lr_params, h, "B"));
  o->weights = strcmp(ps_param_text(lr_params, h, "weights"), "free") == 0 ? LOWRANK_FREE : LOWRANK_SIMPLEX;
  o->l2 = ps_param_real(ps_param_text(lr_params, h, "l2"));
  o->l2_user = ps_param_real(ps_param_text(lr_params, h, "l2_user"));
  o->lr = ps_param_real(ps_param_text(lr_params, h, "lr"));
  o->iterations = (int)ps_param_int(ps_param_text(lr_params, h, "iterations"));
  o->restarts = (int)ps_param_int(ps_param_text(lr_params, h, "restarts"));
  o->init_sd = ps_param_real(ps_param_text(lr_params, h, "init_sd"));
  o->batch = (size_t)ps_param_int(ps_param_text(lr_params, h, "batch"));
  o->polish = (int)ps_param_int(ps_param_text(lr_params, h, "polish"));
  o->tol = ps_param_real(ps_param_text(lr_params, h, "tol"));
  o->adapt_iterations = (int)ps_param_int(ps_param_text(lr_params, h, "adapt_iterations"));
  o->adapt_lr = ps_param_real(ps_param_text(lr_params, h, "adapt_lr"));
  int s = lowrank_options_check(o, m);
  if (s) {
    free(e);
    return s;
  }
  *out = e;
  return PS_OK;
}

static int lr_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                  ps_msg *m) {
  lowrank_model_free(&e->mod);
  int s = lowrank_fit(d, f, &e->opt, r, &e->mod, m);
  e->fitted = s == PS_OK;
  info->status = s;
  info->converged = s == PS_OK && e->mod.converged;
  info->iterations = e->mod.iterations;
  info->objective = s == PS_OK ? e->mod.objective : NAN;
  info->grad_norm = s == PS_OK ? e->mod.grad_norm : NAN;
  return s;
}

static double lr_logit(const est_model *e, int32_t a, int32_t b) { return lowrank_logit_population(&e->mod, a, b); }

static const double *lr_theta(const est_model *e, size_t *dim) {
  *dim = e->fitted ? e->mod.theta_dim : 0;
  return e->fitted ? e->mod.theta : NULL;
}

static void lr_free(est_model *e) {
  if (!e) return;
  lowrank_model_free(&e->mod);
  free(e);
}

static const char *const lr_columns[] = {"w_norm", "top_component", "top_weight", "comparisons", NULL};

static int lr_annotator(const est_model *e, size_t h, double *vals) {
  if (!e->fitted || h >= e->mod.n_users) return PS_EINVAL;
  const double *w = e->mod.w + h * e->mod.B;
  size_t top = 0;
  double s = 0;
  for (size_t b = 0; b < e->mod.B; b++) {
    s += w[b] * w[b];
    if (fabs(w[b]) > fabs(w[top])) top = b;
  }
  vals[0] = sqrt(s);
  vals[1] = (double)top;
  vals[2] = w[top];
  vals[3] = e->mod.comparisons[h];
  return PS_OK;
}

static double lr_logit_annotator(const est_model *e, int32_t h, int32_t a, int32_t b) {
  if (h < 0 || (size_t)h >= e->mod.n_users) return NAN;
  return lowrank_logit_user(&e->mod, (size_t)h, a, b);
}

static size_t lr_state_len(const est_model *e) { return e->opt.B; }

static int lr_adapt(const est_model *e, const pref_data *shots, gsl_rng *r, double *state, ps_msg *m) {
  (void)r;
  if (!e->fitted) return ps_fail(m, PS_EINVAL, "lowrank adapt: model not fitted");
  return lowrank_adapt(&e->mod, shots, state, m);
}

static double lr_logit_user(const est_model *e, const double *state, int32_t a, int32_t b) {
  return lowrank_logit_omega(&e->mod, state, a, b);
}

const est_type est_lowrank = {
    .name = "lowrank",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "Low-rank personalised Bradley-Terry rewards r_h(y) = phi(y)^T V w_h (item worlds U_y^T w_h), "
           "V in R^{d x B}: LoRe (Bose et al. 2025; simplex weights, w_h = softmax(omega_h)) or RFM (free "
           "w_h); Adam + L-BFGS with restarts (docs/theory.md §2.7).  logit = the mean user's reward difference "
           "(theta = V w_mean, or U w_mean centred); logit_annotator = user h's own; adapt fits a new "
           "user's B parameters with the basis fixed, shrunk toward the mean user.  Annotator columns: "
           "w_norm = ||w_h||, top_component (0-based index of the largest |w_hb|), top_weight, comparisons.",
    .params = lr_params,
    .alloc = lr_alloc,
    .fit = lr_fit,
    .logit = lr_logit,
    .theta = lr_theta,
    .free = lr_free,
    .annotator_columns = lr_columns,
    .annotator = lr_annotator,
    .logit_annotator = lr_logit_annotator,
    .user_state_len = lr_state_len,
    .adapt = lr_adapt,
    .logit_user = lr_logit_user,
};
