/* dpo.h — the DPO family (DPO, IPO, cDPO, rDPO, hinge) and HyPO, for log-linear and
 * MLP policies (docs/theory.md §3.9, §3.10, §3.15).
 *
 * Policy: log pi(y|x) = log pi_ref(y|x) + s(x,y) - log sum_y' pi_ref e^{s(x,y')} with
 * s = theta^T phi (log-linear, theta the offset from the reference; one-hot when
 * phi == NULL) or s = f_theta(phi) (MLP, policy.h).  The margin of a comparison is
 * Delta = s(y+) - s(y-) (the log-partition cancels) and z = beta Delta.  Per-row losses
 * (c_i the row weight, d->count):
 *
 *     dpo    softplus(-z)                    ipo    (Delta - 1/(2 tau))^2
 *     cdpo   softplus(-z) + eps z            rdpo   softplus(-z) - eps/(1-2eps) z
 *     hinge  max(0, 1 - z)
 *
 * Objective, on the SUMMED loss as bt.h (liblinear convention):
 *
 *     F(theta) = sum_i c_i [ l(Delta_i) + kl * KL(pi_theta(.|x_i) || pi_ref(.|x_i)) ]
 *                + (l2/2) ||theta||^2
 *
 * kl = 0 is the DPO family; kl = lambda > 0 is HyPO with its KL exact over the finite
 * response set, averaged over the contexts of the training rows (each row's context
 * weighted by c_i, i.e. E_x over the empirical context distribution of D; contexts
 * without comparisons do not enter).  Mean form: F / W = mean loss + lambda E_x KL +
 * (l2 / 2W)||theta||^2, W = total weight.
 *
 * Solvers.  Log-linear, kl = 0, smooth loss, features (solver AUTO, m <= 256): fused
 * sweeps over the features (rows grouped by context; scores, row terms, gradient and,
 * when needed, the Hessian X^T D X by BLAS ssyrk on cache-resident blocks, summed in
 * double; the full step is evaluated speculatively so an accepted step costs no extra
 * sweep).  Large data are warm-started on nested subsamples of the contexts (every
 * 8^k-th context while >= 32 d rows remain), each solved as the full data are: on all
 * rows the first sweep builds the exact Hessian, which seeds BFGS, and later sweeps
 * rebuild it only when a step reduced ||grad|| by less than 4x.  The sweeps use the
 * OpenMP threads (not inside a parallel region, >= 20000 rows) with a fixed partition
 * of the contexts: bit-identical results for any thread count.  Cholesky, Armijo halving, to ||grad||
 * <= tol W (tol 1e-10) at a swept point, so the minimiser is the same as exact
 * Newton's.  A failed Cholesky falls back to the double-precision exact Newton, which
 * reports PS_ESINGULAR when the design does not span R^d.  Solver CG: Newton-CG with
 * fused Hessian-vector products (for large d; it does not test uniqueness).  Tabular
 * (one-hot, phi == NULL), or solver NEWTON: the generic exact Newton, Hessian
 * sum c_i l''(Delta_i) x_i x_i^T + l2 I built per context (tabular: plus the per-context
 * 11^T/m that fixes the unidentified constants).  Solver BT (loss = dpo only): bt_fit,
 * as logistic regression on beta x_i is BT with theta_bt = beta theta, lambda_bt = l2 /
 * beta^2.  Hinge: dual coordinate descent (Hsieh et al. 2008, liblinear -s 3) on the SVM with
 * C = 1/l2, requires l2 > 0 (log-linear; the MLP takes Adam).  kl > 0 (HyPO): the KL term is not convex in theta
 * (policy.c), so liblbfgs L-BFGS from theta = 0 and restarts - 1 random starts, each
 * polished by Newton with the exact Hessian when it is positive definite; the best
 * objective is kept (iterations = L-BFGS plus Newton iterations over all starts).
 * kl > 0 with kl_samples = k > 0 (HyPO as the paper trains it): the KL gradient is
 * not computed but estimated per row's context by REINFORCE with the leave-one-out
 * baseline (RLOO) from k responses drawn from pi_theta, unbiased (dpo_kl_rloo); Adam
 * (lr, epochs, batch) from theta = 0 (pi = pi_ref) for log-linear policies, and the
 * result is the average of the iterates over the second half of the epochs.
 * MLP: Adam (lr, epochs, minibatches of `batch` rows, 0 = full batch) from `restarts`
 * Glorot initialisations, deterministic given the gsl_rng (every loss, hinge through
 * its subgradient); the final full-batch gradient norm is reported as the residual,
 * converged means ||grad|| <= 1e-3 W.
 *
 * Existence: dpo (and cdpo with eps = 0) without l2 has no minimiser when a theta
 * orders every pair correctly (p = 1 data): PS_ENOMLE with the separation certificate.
 * rdpo is unbounded below per row and hinge is not strictly convex: both require
 * l2 > 0 (PS_EINVAL otherwise). */
#ifndef PS_ESTIMATORS_DPO_H
#define PS_ESTIMATORS_DPO_H

#include <gsl/gsl_rng.h>
#include <stddef.h>

#include "../core/prefdata.h"
#include "../core/ps.h"
#include "policy.h"

typedef enum { DPO_LOSS_DPO = 0, DPO_LOSS_IPO, DPO_LOSS_CDPO, DPO_LOSS_RDPO, DPO_LOSS_HINGE } dpo_loss;
typedef enum { DPO_POLICY_LOGLINEAR = 0, DPO_POLICY_MLP = 1 } dpo_policy;
/* AUTO: features -> the fused solver (m <= 256), tabular -> exact Newton; NEWTON: exact Hessian
 * always (also checks uniqueness); BT: loss = dpo on features through bt_fit. */
typedef enum { DPO_SOLVER_AUTO = 0, DPO_SOLVER_NEWTON = 1, DPO_SOLVER_BT = 2, DPO_SOLVER_CG = 3 } dpo_solver;

typedef struct {
  dpo_loss loss;
  double beta;        /* > 0 (0.1, TRL) */
  double eps;         /* cDPO / rDPO flip rate, [0, 1/2) */
  double tau;         /* IPO; <= 0 means tau = beta (TRL) */
  double l2;          /* >= 0, on the summed loss */
  double kl;          /* HyPO lambda >= 0 (0: the DPO family) */
  dpo_policy policy;
  size_t width;       /* MLP hidden width (32) */
  int layers;         /* MLP hidden layers, 1 or 2 */
  policy_activation act;
  double lr;          /* Adam step (1e-3) */
  int epochs;         /* Adam epochs per restart (500) */
  int restarts;       /* MLP initialisations / HyPO starts (5) */
  size_t batch;       /* Adam minibatch rows; 0 = full batch */
  double tol;         /* gradient tolerance relative to the total weight (1e-10) */
  int max_iter;       /* Newton / L-BFGS / dual CD outer iterations (100) */
  dpo_solver solver;  /* log-linear, kl = 0, smooth loss (see above) */
  int kl_samples;     /* HyPO's KL: 0 exact; k in [2, DPO_MAX_KL_SAMPLES] the RLOO estimate from k draws */
} dpo_options;

#define DPO_MAX_KL_SAMPLES 4096

typedef struct {
  int status;         /* PS_OK, PS_ENOMLE, PS_ESINGULAR, PS_ENOCONV, ... */
  int converged;
  dpo_policy policy;
  size_t dim;         /* length of theta (log-linear: d; MLP: n_params) */
  double *theta;      /* log-linear theta (offset coordinates) or the MLP parameters */
  policy_mlp mlp;     /* architecture when policy == DPO_POLICY_MLP */
  double objective;   /* F at theta */
  double grad_norm;   /* ||grad F|| (for hinge: the norm of the projected dual gradient) */
  int iterations;
  int cg_iterations;  /* Hessian-vector products of the Newton-CG path (0 otherwise) */
} dpo_result;

/* Defaults: dpo loss, beta 0.1, eps 0, tau = beta, l2 0, kl 0, log-linear, width 32,
 * 1 tanh layer, lr 1e-3, 500 epochs, 5 restarts, full batch, tol 1e-10, 100 iterations,
 * solver AUTO. */
dpo_options dpo_options_default(void);

/* Check the options: PS_EINVAL with a sentence for beta <= 0 or non-finite, eps
 * outside [0, 1/2), rdpo or hinge without l2 > 0, tau <= 0 after defaulting, layers
 * not in {1, 2}, lr <= 0, epochs / restarts < 1. */
int dpo_options_check(const dpo_options *o, ps_msg *m);

/* Per-row loss l(Delta) of the options' loss with its first and second derivatives
 * in Delta (d1, d2 may be NULL; hinge's d2 is 0 and d1 the subgradient -beta 1[z < 1]).
 * The rewritten forms of docs/theory.md §3.10 are used (cdpo softplus(-z) + eps z, rdpo
 * softplus(-z) - eps/(1-2eps) z), which agree with the mixture forms to rounding. */
double dpo_loss_eval(const dpo_options *o, double delta, double *d1, double *d2);

/* Fit.  Validates options, data (ids in range, both items of a row in one context,
 * non-empty) and features (finite phi and log_ref); returns PS_OK or the failure
 * status with a message.  res is filled as far as the fit got and must be released
 * with dpo_result_free in every case.  r drives the MLP initialisation, minibatch
 * order and HyPO restarts (unused otherwise). */
int dpo_fit(const pref_data *d, const pref_features *f, const dpo_options *o, gsl_rng *r,
            dpo_result *res, ps_msg *m);

void dpo_result_free(dpo_result *r);

/* The input checks dpo_fit makes before any work (options, ids in range, both items of a
 * row in one context, non-empty data, finite phi and log_ref), for solvers built on
 * dpo_objective: PS_OK or the failure status with a message. */
int dpo_check_input(const pref_data *d, const pref_features *f, const dpo_options *o, ps_msg *m);

/* F(theta) of a log-linear policy, with grad (length f->d) when not NULL.  Inputs
 * are not checked (call on data dpo_fit accepts).  NaN on ENOMEM. */
double dpo_objective(const pref_data *d, const pref_features *f, const dpo_options *o,
                     const double *theta, double *grad);

/* The exact Hessian of F (log-linear) at theta into H (dim x dim, dim = f->d or
 * n_items for tabular): sum_i c_i l''(Delta_i) x_i x_i^T + kl sum_x w_x Phi_x^T K_x Phi_x
 * + l2 I with K_x the Hessian of KL in the scores (dpo.c).  Hinge gives its a.e. value
 * 0 for the loss part.  PS_OK or PS_ENOMEM; inputs not checked. */
int dpo_hessian(const pref_data *d, const pref_features *f, const dpo_options *o, const double *theta, double *H);

/* One RLOO estimate (kl_samples = k draws from pi_theta) of grad_theta KL(pi_theta(.|x)
 * || pi_ref(.|x)) for context ctx of a log-linear policy, into grad (length f->d, or
 * n_items when phi is NULL), as the sampled-KL HyPO fit uses it (dpo.c, rloo_kl; o->kl
 * is ignored: weight 1).  PS_EINVAL for a bad argument (kl_samples < 2, MLP, ctx out
 * of range), PS_ENOMEM. */
int dpo_kl_rloo(const pref_features *f, const dpo_options *o, const double *theta, size_t ctx, gsl_rng *r,
                double *grad);

/* F(params) of an MLP policy with architecture a, with grad (a->n_params) when not
 * NULL: full batch, the same objective as dpo_objective with l2 on every weight.
 * NaN on ENOMEM. */
double dpo_mlp_objective(const pref_data *d, const pref_features *f, const dpo_options *o,
                         const policy_mlp *a, const double *params, double *grad);

/* Scores s(x, y) of every item of the context starting at `first` (m responses)
 * under a fitted result: theta^T phi or the MLP output.  work: policy_mlp_work_len
 * doubles for MLP results (may be NULL for log-linear). */
void dpo_result_scores(const dpo_result *res, const pref_features *f, size_t first, size_t m, double *s,
                       double *work);

#endif
