/* adam.h — the one deterministic Adam / AdamW optimiser of the tree, used by every
 * first-order fit (idealpoint.c, lowrank.c, gpm.c, regret.c, dpo.c's MLP and sampled-KL HyPO).
 *
 * Adam (Kingma & Ba 2015) keeps per-coordinate moment estimates m, v of the
 * gradient g and steps
 *
 *     m <- b1 m + (1-b1) g,   v <- b2 v + (1-b2) g^2,
 *     x <- x - lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) - lr wd x,
 *
 * the last term being AdamW's decoupled weight decay (Loshchilov & Hutter 2019;
 * torch.optim.AdamW's convention, wd multiplied by lr).  The parameter vector is
 * split by the caller into blocks with their own learning rate and decay (the
 * reference PAL-A code uses 5e-3 for prototypes and user weights, 1e-4 with decay
 * 0.01 for the projector): call adam_tick once per step, then adam_update once per
 * block.  No randomness: minibatching, if any, is the caller's (adam_minibatch). */
#ifndef PS_CORE_ADAM_H
#define PS_CORE_ADAM_H

#include <gsl/gsl_rng.h>
#include <stddef.h>

typedef struct adam adam;

/* How the bias corrections 1 - b^t are formed.  The three agree to a few units in the
 * last place; each fit keeps the form it was written with, so that its results stay
 * bit-identical to earlier versions.  New code takes the default, ADAM_BIAS_EXPM1. */
typedef enum {
  ADAM_BIAS_EXPM1 = 0, /* -expm1(t log b): accurate at small t (the default) */
  ADAM_BIAS_POW = 1,   /* 1 - pow(b, t), as torch.optim.Adam writes it (dpo.c) */
  ADAM_BIAS_PRODUCT = 2 /* 1 - b^t with b^t the running product b * b * ... (gpm.c,
                         * regret.c) */
} adam_bias;

/* Allocate the moments of an n-coordinate optimiser (zeroed, t = 0) with the
 * standard b1 = 0.9, b2 = 0.999, eps = 1e-8 and the ADAM_BIAS_EXPM1 corrections.
 * NULL when out of memory or n = 0. */
adam *adam_alloc(size_t n);

/* adam_alloc with the bias corrections formed as `bias` says. */
adam *adam_alloc_bias(size_t n, adam_bias bias);

/* Free; adam_free(NULL) does nothing. */
void adam_free(adam *a);

/* Zero the moments and the step counter (a fresh run from a new start). */
void adam_reset(adam *a);

/* Advance the step counter t by one and form the step's bias corrections; call once
 * per step before adam_update. */
void adam_tick(adam *a);

/* Update coordinates x[off .. off+len-1] from the gradient g (same indexing: g[off..])
 * with step size lr > 0 and decoupled weight decay wd >= 0 (wd = 0: no decay term at
 * all, so a plain Adam step).  Requires off + len <= n and a prior adam_tick. */
void adam_update(adam *a, double *x, const double *g, size_t off, size_t len, double lr, double wd);

/* The learning-rate multiplier at step t of T under a cosine decay to `floor`
 * (1 at t = 0, floor at t = T): floor + (1 - floor)(1 + cos(pi t / T)) / 2.  Decaying
 * the step removes Adam's end-of-run jitter, so the final gradient norm reports the
 * optimisation residual rather than the step size. */
double adam_cosine(int t, int T, double floor);

/* Fill idx[0 .. batch-1] with a uniform sample without replacement of {0..n-1}
 * (batch <= n) drawn from r: the rows of one minibatch.  batch = n gives 0..n-1 in
 * order and draws nothing, so full-batch fits consume no random numbers. */
void adam_minibatch(gsl_rng *r, size_t n, size_t batch, size_t *idx);

#endif
