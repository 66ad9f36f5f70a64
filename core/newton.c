/* newton.c — damped Newton driver (see newton.h for the method and the loop).
 *
 * Invariants between calls: f and g are F and grad F at x, gnorm = ||g||; p and
 * slope = g.p belong to the last newton_direction.  Every trial point is formed as
 * x + t p (x + p for the full step), and an accepted step sets x to that same
 * expression, so the point the line search measured is the point kept. */
#include "newton.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct newton_solver {
  size_t n;
  const newton_function *fn;
  const newton_params *par;
  double *x, *g, *p, *trial, *gtrial;
  double f, gnorm, slope, t;
};

newton_params newton_params_default(void) {
  newton_params par = {.armijo = 1e-4, .max_halvings = 60, .probe_first = 0, .probe = 0, .retrace = 0};
  return par;
}

newton_solver *newton_alloc(size_t n) {
  if (n == 0) return NULL;
  newton_solver *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->n = n;
  s->x = malloc(n * sizeof(double));
  s->g = malloc(n * sizeof(double));
  s->p = malloc(n * sizeof(double));
  s->trial = malloc(n * sizeof(double));
  s->gtrial = malloc(n * sizeof(double));
  if (!s->x || !s->g || !s->p || !s->trial || !s->gtrial) {
    newton_free(s);
    return NULL;
  }
  return s;
}

void newton_free(newton_solver *s) {
  if (!s) return;
  free(s->x);
  free(s->g);
  free(s->p);
  free(s->trial);
  free(s->gtrial);
  free(s);
}

static double norm2(const double *v, size_t n) {
  double q = 0;
  for (size_t k = 0; k < n; k++) q += v[k] * v[k];
  return sqrt(q);
}

int newton_set(newton_solver *s, const newton_function *fn, const newton_params *par, const double *x0) {
  if (!fn || fn->n != s->n) return PS_EINVAL;
  s->fn = fn;
  s->par = par;
  memcpy(s->x, x0, s->n * sizeof(double));
  s->f = fn->fdf(fn->params, s->x, s->g);
  s->gnorm = norm2(s->g, s->n);
  s->slope = NAN;
  s->t = NAN;
  return PS_OK;
}

int newton_direction(newton_solver *s, ps_msg *m) {
  int st = s->fn->direction(s->fn->params, s->x, s->g, s->p, m);
  double slope = 0;
  for (size_t k = 0; k < s->n; k++) slope += s->g[k] * s->p[k];
  s->slope = slope;
  return st;
}

/* F at x + t p, by the problem's line function when it has one. */
static double line_value(newton_solver *s, double t) {
  const newton_function *fn = s->fn;
  if (fn->line) return fn->line(fn->params, s->x, s->p, t);
  for (size_t k = 0; k < s->n; k++) s->trial[k] = s->x[k] + t * s->p[k];
  return fn->fdf(fn->params, s->trial, NULL);
}

/* 1 when the full step x + p lowers the gradient norm (trial then holds x + p). */
static int probe_full_step(newton_solver *s) {
  for (size_t k = 0; k < s->n; k++) s->trial[k] = s->x[k] + s->p[k];
  s->fn->fdf(s->fn->params, s->trial, s->gtrial);
  return norm2(s->gtrial, s->n) < s->gnorm;
}

int newton_step(newton_solver *s) {
  const newton_params *par = s->par;
  size_t n = s->n;
  double F = s->f, slope = s->slope, t = 1, floor = fabs(F) + 1;
  int ok = par->probe_first > 0 && -slope <= par->probe_first * floor && probe_full_step(s);
  for (int ls = 0; !ok && ls < par->max_halvings; ls++, t *= 0.5) {
    if (line_value(s, t) <= F + par->armijo * t * slope) {
      ok = 1;
      break;
    }
    if (ls == 0 && par->probe > 0 && -slope <= par->probe * floor) {
      if (probe_full_step(s)) {
        ok = 1;
        break;
      }
      if (par->retrace)
        for (size_t k = 0; k < n; k++) s->p[k] = s->trial[k] - s->x[k];
    }
  }
  if (!ok) return PS_ENOCONV;
  for (size_t k = 0; k < n; k++) s->x[k] += t * s->p[k];
  s->f = s->fn->fdf(s->fn->params, s->x, s->g);
  s->gnorm = norm2(s->g, n);
  s->t = t;
  return PS_OK;
}

const double *newton_x(const newton_solver *s) { return s->x; }

double newton_f(const newton_solver *s) { return s->f; }

const double *newton_gradient(const newton_solver *s) { return s->g; }

double newton_gradient_norm(const newton_solver *s) { return s->gnorm; }

double newton_slope(const newton_solver *s) { return s->slope; }

double newton_step_length(const newton_solver *s) { return s->t; }
