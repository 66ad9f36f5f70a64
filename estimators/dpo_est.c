/* dpo_est.c — the policy learners dpo, hypo and rlhf behind the estimator interface.
 *
 * Conventions shared by every policy learner (estimator.h, policy.h):
 *   policy(first, m)  pi-hat(.|x) over the context's m responses;
 *   logit(a, b)       the implied preference logit beta (u_a - u_b), u = log pi - log pi_ref,
 *                     i.e. beta (s_a - s_b) for scores s (the log-partition cancels);
 *   theta             the log-linear offset theta (docs/theory.md's theta - theta_ref): for dpo its
 *                     population target under BT with reward theta_r^T phi is theta_r / beta;
 *                     NULL for MLP policies.
 * Items worlds (phi == NULL) use the tabular (one-hot) log-linear policy.
 *
 * rlhf: the two-stage pipeline.  Fit the BT reward r-hat (bt_fit on the features, or a
 * small MLP reward trained by Adam as DPO with beta = 1, which is exactly the BT
 * likelihood of r = f), then the exact KL-regularised optimum pi ∝ pi_ref e^{r-hat/beta}
 * per context (docs/theory.md §1); theta = theta_r-hat / beta. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"
#include "bt.h"
#include "dpo.h"
#include "estimator.h"

typedef enum { KIND_DPO, KIND_HYPO, KIND_RLHF } learner_kind;

struct est_model {
  learner_kind kind;
  dpo_options opt;
  double beta;        /* the learner's beta (rlhf: the KL weight of the policy step) */
  dpo_result res;     /* the policy scores s (rlhf: the reward r-hat = beta s) */
  double *theta_out;  /* offset theta reported by theta() (rlhf: theta_r / beta) */
  double *work;       /* MLP scratch */
  const pref_features *f;
  int fitted;
};

#define MLP_PARAMS                                                                                      \
  {"policy", PS_PARAM_ENUM, "loglinear", 0, 0, "loglinear|mlp",                                         \
   "loglinear: s = theta^T phi (tabular one-hot for items worlds); mlp: s = w^T act(W phi + b)"},       \
      {"width", PS_PARAM_INT, "32", 1, 4096, NULL, "MLP hidden width"},                                 \
      {"layers", PS_PARAM_INT, "1", 1, 2, NULL, "MLP hidden layers (1 or 2)"},                          \
      {"activation", PS_PARAM_ENUM, "tanh", 0, 0, "tanh|relu", "MLP activation"},                       \
      {"lr", PS_PARAM_REAL, "1e-3", 1e-12, 10, NULL, "Adam step size (MLP; hypo's rloo)"},              \
      {"epochs", PS_PARAM_INT, "500", 1, 10000000, NULL, "Adam epochs per restart (MLP; hypo's rloo)"}, \
      {"restarts", PS_PARAM_INT, "5", 1, 1000, NULL, "MLP initialisations (HyPO: L-BFGS starts)"},     \
      {"batch", PS_PARAM_INT, "0", 0, 1000000000, NULL, "Adam minibatch rows (0 = full batch; MLP, hypo's rloo)"}, \
      {"tol", PS_PARAM_REAL, "1e-10", 1e-15, 1e-2, NULL, "Newton: stop when ||gradient|| <= tol x total weight"}, \
      {"max_iter", PS_PARAM_INT, "100", 1, 100000, NULL, "Newton / L-BFGS iterations"}

static const ps_param dpo_params[] = {
    {"loss", PS_PARAM_ENUM, "dpo", 0, 0, "dpo|ipo|cdpo|rdpo|hinge",
     "dpo softplus(-z); ipo (Delta - 1/(2 tau))^2; cdpo softplus(-z) + eps z; rdpo softplus(-z) - eps/(1-2eps) z; "
     "hinge max(0, 1-z); z = beta Delta"},
    {"beta", PS_PARAM_REAL, "0.1", 1e-9, 1e9, NULL, "KL strength beta of the implicit reward (TRL default 0.1)"},
    {"eps", PS_PARAM_REAL, "0", 0, 0.4999999, NULL, "label flip rate assumed by cdpo / rdpo, [0, 1/2)"},
    {"tau", PS_PARAM_REAL, "0", 0, 1e9, NULL, "IPO tau (0 = beta, as TRL)"},
    {"l2", PS_PARAM_REAL, "0", 0, 1e12, NULL,
     "adds (l2/2)||theta||^2 to the summed loss; required > 0 for rdpo and hinge"},
    MLP_PARAMS,
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static const ps_param hypo_params[] = {
    {"beta", PS_PARAM_REAL, "0.1", 1e-9, 1e9, NULL, "DPO beta (TRL default 0.1)"},
    {"lambda", PS_PARAM_REAL, "0.1", 0, 1e9, NULL,
     "weight of the online term lambda E_x KL(pi || pi_ref) (exact over each context's responses, x over "
     "the training rows' contexts); typical 0.01, 0.1, 1"},
    {"l2", PS_PARAM_REAL, "0", 0, 1e12, NULL, "adds (l2/2)||theta||^2 to the summed loss"},
    {"kl_estimator", PS_PARAM_ENUM, "exact", 0, 0, "exact|rloo",
     "exact: the KL over each context's finite response set (L-BFGS, Newton polish); rloo: as the paper, "
     "REINFORCE with the leave-one-out baseline from `samples` draws of pi_theta per row, trained by Adam "
     "(lr, epochs, batch), iterates averaged over the second half"},
    {"samples", PS_PARAM_INT, "4", 2, 4096, NULL, "responses drawn from pi_theta per row and step (kl_estimator = rloo)"},
    MLP_PARAMS,
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static const ps_param rlhf_params[] = {
    {"beta", PS_PARAM_REAL, "0.1", 1e-9, 1e9, NULL, "KL weight of the policy step: pi ∝ pi_ref e^{r/beta}"},
    {"l2", PS_PARAM_REAL, "0", 0, 1e12, NULL,
     "reward fit: adds (l2/2)||theta_r||^2 to the summed BT loss (items worlds: tabular reward, per-context constants fixed)"},
    MLP_PARAMS,
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int common_alloc(est_model **out, learner_kind kind, const ps_param *t, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->kind = kind;
  dpo_options o = dpo_options_default();
  o.beta = ps_param_real(ps_param_text(t, h, "beta"));
  o.l2 = ps_param_real(ps_param_text(t, h, "l2"));
  o.policy = !strcmp(ps_param_text(t, h, "policy"), "mlp") ? DPO_POLICY_MLP : DPO_POLICY_LOGLINEAR;
  o.width = (size_t)ps_param_int(ps_param_text(t, h, "width"));
  o.layers = (int)ps_param_int(ps_param_text(t, h, "layers"));
  o.act = !strcmp(ps_param_text(t, h, "activation"), "relu") ? POLICY_ACT_RELU : POLICY_ACT_TANH;
  o.lr = ps_param_real(ps_param_text(t, h, "lr"));
  o.epochs = (int)ps_param_int(ps_param_text(t, h, "epochs"));
  o.restarts = (int)ps_param_int(ps_param_text(t, h, "restarts"));
  o.batch = (size_t)ps_param_int(ps_param_text(t, h, "batch"));
  o.tol = ps_param_real(ps_param_text(t, h, "tol"));
  o.max_iter = (int)ps_param_int(ps_param_text(t, h, "max_iter"));
  if (kind == KIND_DPO) {
    const char *l = ps_param_text(t, h, "loss");
    o.loss = !strcmp(l, "ipo") ? DPO_LOSS_IPO : !strcmp(l, "cdpo") ? DPO_LOSS_CDPO
           : !strcmp(l, "rdpo") ? DPO_LOSS_RDPO : !strcmp(l, "hinge") ? DPO_LOSS_HINGE : DPO_LOSS_DPO;
    o.eps = ps_param_real(ps_param_text(t, h, "eps"));
    o.tau = ps_param_real(ps_param_text(t, h, "tau"));
  } else if (kind == KIND_HYPO) {
    o.kl = ps_param_real(ps_param_text(t, h, "lambda"));
    if (!strcmp(ps_param_text(t, h, "kl_estimator"), "rloo")) {
      if (!(o.kl > 0)) {
        free(e);
        return ps_fail(m, PS_EINVAL, "hypo: kl_estimator = rloo needs lambda > 0 (lambda = 0 has no KL term to sample)");
      }
      o.kl_samples = (int)ps_param_int(ps_param_text(t, h, "samples"));
    }
  }
  e->beta = o.beta;
  if (kind == KIND_RLHF) o.beta = 1; /* the reward fit: DPO with beta = 1 is the BT likelihood of r = s */
  int s = dpo_options_check(&o, m);
  if (s != PS_OK) {
    free(e);
    return s;
  }
  e->opt = o;
  *out = e;
  return PS_OK;
}

static int dpo_alloc(est_model **out, const char *const *h, ps_msg *m) {
  return common_alloc(out, KIND_DPO, dpo_params, h, m);
}
static int hypo_alloc(est_model **out, const char *const *h, ps_msg *m) {
  return common_alloc(out, KIND_HYPO, hypo_params, h, m);
}
static int rlhf_alloc(est_model **out, const char *const *h, ps_msg *m) {
  return common_alloc(out, KIND_RLHF, rlhf_params, h, m);
}

static int learner_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r,
                       est_fit_info *info, ps_msg *m) {
  dpo_result_free(&e->res);
  free(e->theta_out);
  free(e->work);
  e->theta_out = e->work = NULL;
  e->fitted = 0;
  e->f = f;
  int s;
  if (e->kind == KIND_RLHF && e->opt.policy == DPO_POLICY_LOGLINEAR && f && f->phi) {
    /* BT reward by bt_fit; stored as scores s = r-hat (beta 1) */
    memset(&e->res, 0, sizeof e->res);
    bt_options bo = bt_options_default();
    bo.l2 = e->opt.l2;
    bo.tol = e->opt.tol;
    bo.max_iter = e->opt.max_iter;
    bt_result br = {0};
    s = d && d->n ? bt_fit(d, f, &bo, &br, m) : ps_fail(m, PS_EINVAL, "no comparisons to fit");
    e->res.policy = DPO_POLICY_LOGLINEAR;
    e->res.status = s;
    e->res.dim = f->d;
    e->res.theta = br.theta;
    br.theta = NULL;
    e->res.objective = br.objective;
    e->res.grad_norm = br.grad_norm;
    e->res.iterations = br.iterations;
    e->res.converged = s == PS_OK;
    bt_result_free(&br);
  } else {
    s = dpo_fit(d, f, &e->opt, r, &e->res, m);
  }
  info->status = s;
  info->converged = e->res.converged;
  info->iterations = e->res.iterations;
  info->objective = e->res.objective;
  info->grad_norm = e->res.grad_norm;
  if (s != PS_OK) return s;
  if (e->res.policy == DPO_POLICY_MLP) {
    e->work = malloc(policy_mlp_work_len(&e->res.mlp) * sizeof(double));
    if (!e->work) return info->status = ps_fail(m, PS_ENOMEM, "out of memory");
  } else {
    e->theta_out = malloc(e->res.dim * sizeof(double));
    if (!e->theta_out) return info->status = ps_fail(m, PS_ENOMEM, "out of memory");
    /* rlhf scores are rewards (theta_r): the policy offset is theta_r / beta */
    double sc = e->kind == KIND_RLHF ? 1 / e->beta : 1;
    for (size_t k = 0; k < e->res.dim; k++) e->theta_out[k] = sc * e->res.theta[k];
  }
  e->fitted = 1;
  return PS_OK;
}

/* score of one item in offset units: log pi - log pi_ref = score - A */
static double item_score(const est_model *e, int32_t a) {
  const pref_features *f = e->f;
  if (e->res.policy == DPO_POLICY_MLP) {
    double s = policy_mlp_score(&e->res.mlp, e->res.theta, f->phi + (size_t)a * f->d, e->work);
    return e->kind == KIND_RLHF ? s / e->beta : s;
  }
  double s;
  policy_loglinear_scores(f, e->theta_out, (size_t)a, 1, &s);
  return s;
}

static double learner_logit(const est_model *e, int32_t a, int32_t b) {
  if (!e->fitted) return NAN;
  return e->beta * (item_score(e, a) - item_score(e, b));
}

static const double *learner_theta(const est_model *e, size_t *dim) {
  if (!e->fitted || !e->theta_out) {
    *dim = 0;
    return NULL;
  }
  *dim = e->res.dim;
  return e->theta_out;
}

static int learner_policy(const est_model *e, int32_t first, size_t m, double *p) {
  if (!e->fitted) return PS_EINVAL;
  const pref_features *f = e->f;
  if (first < 0 || m == 0 || (size_t)first + m > f->n_items) return PS_EINVAL;
  for (size_t j = 0; j < m; j++) p[j] = item_score(e, (int32_t)((size_t)first + j));
  const double *lr = f->log_ref ? f->log_ref + first : NULL;
  policy_log_softmax(lr, p, m, p);
  for (size_t j = 0; j < m; j++) p[j] = exp(p[j]);
  return PS_OK;
}

static void learner_free(est_model *e) {
  if (!e) return;
  dpo_result_free(&e->res);
  free(e->theta_out);
  free(e->work);
  free(e);
}

const est_type est_dpo = {
    .name = "dpo",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "Direct preference optimisation (Rafailov et al. 2023) and its variants IPO (Azar et al. 2024), "
           "conservative cDPO (label smoothing) and robust rDPO (Chowdhury et al. 2024), hinge (SLiC); "
           "log-linear policy log pi = log pi_ref + theta^T phi - A (tabular for items worlds), Newton with the "
           "exact Hessian (one fused sweep over the features per iteration) to ||grad|| <= tol x weight, hinge by "
           "dual coordinate descent, or a small MLP by Adam; theta is the offset from pi_ref "
           "(target theta_r / beta under BT); no-mle on separable data without l2.",
    .params = dpo_params,
    .alloc = dpo_alloc,
    .fit = learner_fit,
    .logit = learner_logit,
    .theta = learner_theta,
    .policy = learner_policy,
    .free = learner_free,
};

const est_type est_hypo = {
    .name = "hypo",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "HyPO (Song et al. 2024): DPO on the offline comparisons plus lambda E_x KL(pi || pi_ref).  "
           "kl_estimator = exact: the KL over each training context's responses; log-linear by L-BFGS with "
           "restarts polished by Newton (the KL term is not convex in theta), or MLP by Adam.  kl_estimator = "
           "rloo: as the paper trains it, the KL gradient estimated from responses sampled from pi (REINFORCE, "
           "leave-one-out baseline; unbiased), Adam on minibatches, iterates averaged.",
    .params = hypo_params,
    .alloc = hypo_alloc,
    .fit = learner_fit,
    .logit = learner_logit,
    .theta = learner_theta,
    .policy = learner_policy,
    .free = learner_free,
};

const est_type est_rlhf = {
    .name = "rlhf",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "Two-stage RLHF (Christiano et al. 2017; Ouyang et al. 2022) with an exact policy step: Bradley-"
           "Terry reward by bt_fit (or an MLP reward by Adam), then pi ∝ pi_ref e^{r-hat/beta} on each context "
           "(the KL-regularised optimum); theta = theta_r-hat / beta.",
    .params = rlhf_params,
    .alloc = rlhf_alloc,
    .fit = learner_fit,
    .logit = learner_logit,
    .theta = learner_theta,
    .policy = learner_policy,
    .free = learner_free,
};
