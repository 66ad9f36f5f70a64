/* dpo_mlp.c — MLP policies fitted by Adam, with HyPO's exact or sampled (RLOO) KL
 * (see dpo.c for the objective and dpo_internal.h for what the files share). */
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

/* ---------------- MLP ---------------- */

typedef struct {
  const policy_mlp *a;               /* NULL: the log-linear policy */
  double *wa, *wb, *s, *dkl, *work;  /* two activation caches, M scores, M KL grads, M */
  size_t *draw;                      /* kl_samples sampled responses */
} mlp_ws;

/* The policy behind the Adam loop: the MLP, or the log-linear scores theta^T phi
 * (one-hot without phi).  pol_backprop adds coef * d s(item) / d P to grad; for the
 * MLP, cache must hold pol_score's activations of the same item. */
static double pol_score(const dpo_space *sp, const mlp_ws *ws, const double *P, size_t item, double *cache) {
  const pref_features *f = sp->f;
  if (ws->a) return policy_mlp_score(ws->a, P, f->phi + item * f->d, cache);
  return f->phi ? dot8(f->phi + item * f->d, P, f->d) : P[item];
}

static void pol_backprop(const dpo_space *sp, const mlp_ws *ws, const double *P, size_t item, double coef, double *grad,
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
static double mlp_row(const dpo_space *sp, mlp_ws *ws, const double *P, size_t i, double *grad) {
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
static double mlp_context_kl(const dpo_space *sp, mlp_ws *ws, const double *P, size_t ctx, double c, double *grad) {
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
static void rloo_kl(const dpo_space *sp, mlp_ws *ws, const double *P, size_t ctx, double c, gsl_rng *r, double *grad) {
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
  dpo_space sp = {.f = f, .o = o, .C = C, .M = M, .dim = dim};
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

static double mlp_full(dpo_space *sp, mlp_ws *ws, const double *P, double *grad) {
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
  dpo_space sp;
  mlp_ws ws = {0};
  double F = NAN;
  if (dpo_space_init(&sp, d, f, o) != PS_OK) return NAN;
  if (mlp_ws_alloc(&ws, a, sp.M, 0) == PS_OK) F = mlp_full(&sp, &ws, params, grad);
  mlp_ws_free(&ws);
  dpo_space_free(&sp);
  return F;
}

/* Adam on minibatches: the MLP policy (restarts from Glorot initialisations), and
 * HyPO with the sampled KL (kl_samples > 0; log-linear from theta = 0, i.e. pi = pi_ref,
 * once).  With the sampled KL the gradient is noisy even at full batch, so the result
 * is the Polyak-Ruppert average of the iterates over the second half of the epochs;
 * F, the gradient norm and `converged` (||grad|| <= 1e-3 W) are exact, at that point. */
int dpo_adam_fit(dpo_space *sp, gsl_rng *r, dpo_result *res, ps_msg *m) {
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
      res->grad_norm = dpo_vnorm(g, np);
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

