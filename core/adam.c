/* adam.c — Adam / AdamW steps (Kingma & Ba 2015; Loshchilov & Hutter 2019); see adam.h.
 * Bias correction divides by 1 - b^t, computed by expm1 of t log b so that it stays
 * accurate at small t (1 - 0.999^1 = 1e-3 loses three digits when formed directly). */
#include "adam.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct adam {
  size_t n;
  long t;
  double b1, b2, eps;
  double *m, *v;
};

adam *adam_alloc(size_t n) {
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
  a->b1 = 0.9;
  a->b2 = 0.999;
  a->eps = 1e-8;
  return a;
}

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
}

void adam_tick(adam *a) { a->t++; }

void adam_update(adam *a, double *x, const double *g, size_t off, size_t len, double lr, double wd) {
  double c1 = -expm1((double)a->t * log(a->b1)), c2 = -expm1((double)a->t * log(a->b2));
  double *m = a->m, *v = a->v;
  for (size_t i = off; i < off + len; i++) {
    m[i] = a->b1 * m[i] + (1 - a->b1) * g[i];
    v[i] = a->b2 * v[i] + (1 - a->b2) * g[i] * g[i];
    x[i] -= lr * (m[i] / c1) / (sqrt(v[i] / c2) + a->eps) + lr * wd * x[i];
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
