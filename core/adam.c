/* adam.c — Adam / AdamW steps (Kingma & Ba 2015; Loshchilov & Hutter 2019); see adam.h.
 * Bias correction divides by 1 - b^t, by default computed by expm1 of t log b so that
 * it stays accurate at small t (1 - 0.999^1 = 1e-3 loses three digits when formed
 * directly); the other forms of adam_bias exist only to keep older fits bit-identical.
 * Invariant: c1, c2 are the corrections of step t (0 before the first adam_tick). */
#include "adam.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct adam {
  size_t n;
  long t;
  adam_bias bias;
  double b1, b2, eps;
  double b1t, b2t; /* b1^t, b2^t as running products (ADAM_BIAS_PRODUCT) */
  double c1, c2;   /* 1 - b1^t, 1 - b2^t of the current step */
  double *m, *v;
};

adam *adam_alloc_bias(size_t n, adam_bias bias) {
  if (n == 0) return NULL;
  adam *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->m = calloc(n, sizeof(double));
  a->v = calloc(n, sizeof(double));
  if (!a->m || !a->v) {
    adam_free(a);
    return NULL;
  }
  a->n = n;
  a->bias = bias;
  a->b1 = 0.9;
  a->b2 = 0.999;
  a->eps = 1e-8;
  a->b1t = a->b2t = 1;
  return a;
}

adam *adam_alloc(size_t n) { return adam_alloc_bias(n, ADAM_BIAS_EXPM1); }

void adam_free(adam *a) {
  if (!a) return;
  free(a->m);
  free(a->v);
  free(a);
}

void adam_reset(adam *a) {
  memset(a->m, 0, a->n * sizeof(double));
  memset(a->v, 0, a->n * sizeof(double));
  a->t = 0;
  a->b1t = a->b2t = 1;
  a->c1 = a->c2 = 0;
}

void adam_tick(adam *a) {
  a->t++;
  switch (a->bias) {
    case ADAM_BIAS_POW:
      a->c1 = 1 - pow(a->b1, (double)a->t);
      a->c2 = 1 - pow(a->b2, (double)a->t);
      break;
    case ADAM_BIAS_PRODUCT:
      a->b1t *= a->b1;
      a->b2t *= a->b2;
      a->c1 = 1 - a->b1t;
      a->c2 = 1 - a->b2t;
      break;
    default:
      a->c1 = -expm1((double)a->t * log(a->b1));
      a->c2 = -expm1((double)a->t * log(a->b2));
  }
}

void adam_update(adam *a, double *x, const double *g, size_t off, size_t len, double lr, double wd) {
  double c1 = a->c1, c2 = a->c2;
  double *m = a->m, *v = a->v;
  for (size_t i = off; i < off + len; i++) {
    m[i] = a->b1 * m[i] + (1 - a->b1) * g[i];
    v[i] = a->b2 * v[i] + (1 - a->b2) * g[i] * g[i];
    double step = lr * (m[i] / c1) / (sqrt(v[i] / c2) + a->eps);
    /* wd = 0 adds no term: lr 0 x is +-0 for finite x, which leaves the step as it is */
    x[i] -= wd != 0 ? step + lr * wd * x[i] : step;
  }
}

double adam_cosine(int t, int T, double floor) {
  if (T <= 0) return 1;
  return floor + (1 - floor) * 0.5 * (1 + cos(M_PI * (double)t / (double)T));
}

void adam_minibatch(gsl_rng *r, size_t n, size_t batch, size_t *idx) {
  if (batch >= n) {
    for (size_t i = 0; i < n; i++) idx[i] = i;
    return;
  }
  /* selection sampling (Knuth's Algorithm S): in order, one uniform per candidate */
  size_t chosen = 0;
  for (size_t i = 0; i < n && chosen < batch; i++)
    if ((double)(n - i) * gsl_rng_uniform(r) < (double)(batch - chosen)) idx[chosen++] = i;
}
