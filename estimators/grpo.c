/* grpo.c — group-robust preference optimisation (Ramesh et al. 2024, "Group robust
 * preference optimization in reward-free RLHF"; docs/theory.md §3.12; reference code
 * rsshyam/Group-robust-preference-optimization-bandits).
 *
 *   min_{||theta|| <= B} max_{alpha in simplex} sum_g alpha_g L_g(theta),
 *   L_g = (1/n_g) sum_{i in g} c_i l(theta^T x_i) + lambda ||theta||^2   (see grpo.h)
 *
 * Algorithm (mirror ascent on alpha, projected gradient on theta):
 *   alpha_g <- alpha_g exp(eta_a chi [L_g(theta_t) + C/sqrt(n_g)]), normalised
 *   theta_{t+1} = Proj_B(theta_t - eta_t sum_g w_g grad L_g(theta_t)), w_g = (1-chi)/K + chi alpha_g
 * with eta_a = eta_alpha sqrt(log K / T) and eta_t = eta_theta B / (G sqrt T), the
 * Zinkevich step for a G-Lipschitz loss on the B-ball: G = beta xmax (DPO) or
 * 2 (B xmax + 1/(2 tau)) xmax (IPO) plus 2 lambda B.  The averaged iterate has
 * worst-group gap O(T^{-1/2}) (convex-concave game regret); the last iterate may
 * oscillate.  The exact min-max value (for measuring that gap) comes from a
 * log-barrier interior-point method on the epigraph form, independent of the
 * algorithm.  All losses go through softplus (docs/theory.md numerics rule). */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/newton.h"
#include "../core/numerics.h"
#include "estimator.h"
#include "grpo.h"

static double feat(const pref_features *f, size_t item, size_t k) {
  return f->phi ? f->phi[item * f->d + k] : (double)(item == k);
}

int grpo_problem_alloc(grpo_problem *p, const pref_data *d, const pref_features *f, ps_msg *m) {
  memset(p, 0, sizeof *p);
  if (d->n == 0) return ps_fail(m, PS_EINVAL, "grpo: no comparisons");
  int s = pref_data_check(d, m);
  if (s) return s;
  if (d->n_items != f->n_items) return ps_fail(m, PS_EINVAL, "grpo: data has %zu items, features %zu", d->n_items, f->n_items);
  p->f = f;
  p->n = d->n;
  p->d = f->d;
  p->K = d->annotator ? (d->n_annotators ? d->n_annotators : 1) : 1;
  p->winner = d->winner;
  p->loser = d->loser;
  p->c = malloc(d->n * sizeof *p->c);
  p->group = malloc(d->n * sizeof *p->group);
  p->ng = calloc(p->K, sizeof *p->ng);
  if (!p->c || !p->group || !p->ng) return ps_fail(m, PS_ENOMEM, "out of memory");
  for (size_t i = 0; i < d->n; i++) {
    int32_t g = d->annotator ? d->annotator[i] : 0;
    if (g < 0 || (size_t)g >= p->K) return ps_fail(m, PS_EINVAL, "grpo: row %zu has group %d outside 0..%zu", i, g, p->K - 1);
    p->group[i] = g;
    p->c[i] = d->count ? d->count[i] : 1.0;
    p->ng[g] += p->c[i];
  }
  for (size_t k = 0; k < f->d * (f->phi ? f->n_items : 0); k++)
    if (!isfinite(f->phi[k])) return ps_fail(m, PS_EDOM, "grpo: feature value %zu is not finite", k);
  /* xmax over rows (one-hot items: sqrt 2) */
  double xm = 0;
  for (size_t i = 0; i < d->n && f->phi; i++) {
    double q = 0;
    for (size_t k = 0; k < f->d; k++) {
      double x = feat(f, (size_t)d->winner[i], k) - feat(f, (size_t)d->loser[i], k);
      q += x * x;
    }
    xm = fmax(xm, sqrt(q));
  }
  p->xmax = f->phi ? xm : sqrt(2.0);
  return PS_OK;
}

void grpo_problem_free(grpo_problem *p) {
  if (!p) return;
  free(p->c);
  free(p->group);
  free(p->ng);
  p->c = p->ng = NULL;
  p->group = NULL;
}

/* per-row loss l, first derivative l' and second derivative l'' in Delta */
static void grpo_row(const grpo_spec *s, double delta, double *l, double *l1, double *l2) {
  if (s->loss == GRPO_DPO) {
    double z = s->beta * delta;
    *l = ps_softplus(-z);
    if (l1) *l1 = -s->beta * ps_sigmoid(-z);
    if (l2) *l2 = s->beta * s->beta * ps_sigmoid_deriv(z);
  } else {
    double r = delta - 1 / (2 * s->tau);
    *l = r * r;
    if (l1) *l1 = 2 * r;
    if (l2) *l2 = 2;
  }
}

/* item scores phi theta (n_items) */
static void grpo_scores(const grpo_problem *p, const double *theta, double *score) {
  const pref_features *f = p->f;
  for (size_t it = 0; it < f->n_items; it++) {
    if (!f->phi) {
      score[it] = theta[it];
      continue;
    }
    double v = 0;
    for (size_t k = 0; k < f->d; k++) v += f->phi[it * f->d + k] * theta[k];
    score[it] = v;
  }
}

int grpo_group_losses(const grpo_problem *p, const grpo_spec *s, const double *theta, double *L, double *G) {
  size_t K = p->K, d = p->d, NI = p->f->n_items;
  double *score = malloc(NI * sizeof *score), *b = G ? calloc(K * NI, sizeof *b) : NULL;
  if (!score || (G && !b)) {
    free(score);
    free(b);
    return PS_ENOMEM;
  }
  grpo_scores(p, theta, score);
  double nrm = 0;
  for (size_t k = 0; k < d; k++) nrm += theta[k] * theta[k];
  for (size_t g = 0; g < K; g++) L[g] = 0;
  for (size_t i = 0; i < p->n; i++) {
    double l, l1;
    size_t g = (size_t)p->group[i], w = (size_t)p->winner[i], lo = (size_t)p->loser[i];
    grpo_row(s, score[w] - score[lo], &l, G ? &l1 : NULL, NULL);
    L[g] += p->c[i] * l;
    if (G) {
      b[g * NI + w] += p->c[i] * l1;
      b[g * NI + lo] -= p->c[i] * l1;
    }
  }
  for (size_t g = 0; g < K; g++) {
    if (!(p->ng[g] > 0)) {
      L[g] = NAN;
      if (G)
        for (size_t k = 0; k < d; k++) G[g * d + k] = 0;
      continue;
    }
    L[g] = L[g] / p->ng[g] + s->lambda * nrm;
    if (!G) continue;
    for (size_t k = 0; k < d; k++) {
      double v = 0;
      if (!p->f->phi) {
        v = b[g * NI + k];
      } else {
        for (size_t it = 0; it < NI; it++) v += b[g * NI + it] * p->f->phi[it * d + k];
      }
      G[g * d + k] = v / p->ng[g] + 2 * s->lambda * theta[k];
    }
  }
  free(score);
  free(b);
  return PS_OK;
}

double grpo_worst_loss(const grpo_problem *p, const grpo_spec *s, const double *theta) {
  double *L = malloc(p->K * sizeof *L), worst = -INFINITY;
  if (!L || grpo_group_losses(p, s, theta, L, NULL)) {
    free(L);
    return NAN;
  }
  for (size_t g = 0; g < p->K; g++)
    if (p->ng[g] > 0) worst = fmax(worst, L[g]);
  free(L);
  return worst;
}

/* H = sum_i c_i a_i x_i x_i^T (dense d x d) with a_i given per row. */
static void grpo_design(const grpo_problem *p, const double *a, double *H) {
  size_t d = p->d;
  double *x = malloc(d * sizeof *x);
  memset(H, 0, d * d * sizeof *H);
  if (!x) return;
  for (size_t i = 0; i < p->n; i++) {
    if (a[i] == 0) continue;
    for (size_t k = 0; k < d; k++) x[k] = feat(p->f, (size_t)p->winner[i], k) - feat(p->f, (size_t)p->loser[i], k);
    for (size_t j = 0; j < d; j++)
      for (size_t k = 0; k < d; k++) H[j * d + k] += a[i] * x[j] * x[k];
  }
  free(x);
}

static int grpo_chol_solve(double *H, double *rhs, size_t d) {
  gsl_matrix_view Hv = gsl_matrix_view_array(H, d, d);
  gsl_vector_view bv = gsl_vector_view_array(rhs, d);
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int gs = gsl_linalg_cholesky_decomp1(&Hv.matrix);
  if (!gs) gs = gsl_linalg_cholesky_svx(&Hv.matrix, &bv.vector);
  gsl_set_error_handler(old);
  return gs;
}

int grpo_ipo_closed_form(const grpo_problem *p, const grpo_spec *s, const double *w, double *theta, ps_msg *m) {
  size_t d = p->d;
  double *a = calloc(p->n + 1, sizeof *a), *H = malloc(d * d * sizeof *H), wsum = 0;
  if (!a || !H) {
    free(a);
    free(H);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  for (size_t g = 0; g < p->K; g++)
    if (p->ng[g] > 0) wsum += w[g];
  for (size_t i = 0; i < p->n; i++) {
    size_t g = (size_t)p->group[i];
    a[i] = p->ng[g] > 0 ? p->c[i] * w[g] / p->ng[g] : 0;
  }
  grpo_design(p, a, H);
  for (size_t k = 0; k < d; k++) {
    H[k * d + k] += s->lambda * wsum;
    theta[k] = 0;
  }
  double t = 1 / (2 * s->tau);
  for (size_t i = 0; i < p->n; i++)
    for (size_t k = 0; k < d; k++)
      theta[k] += a[i] * t * (feat(p->f, (size_t)p->winner[i], k) - feat(p->f, (size_t)p->loser[i], k));
  int gs = grpo_chol_solve(H, theta, d);
  free(a);
  free(H);
  if (gs) return ps_fail(m, PS_ESINGULAR, "grpo: Y^T W Y + lambda I is not positive definite");
  return PS_OK;
}

static void grpo_project(double *theta, size_t d, double B) {
  if (!isfinite(B)) return;
  double q = 0;
  for (size_t k = 0; k < d; k++) q += theta[k] * theta[k];
  if (q > B * B) {
    double sc = B / sqrt(q);
    for (size_t k = 0; k < d; k++) theta[k] *= sc;
  }
}

int grpo_solve_fixed(const grpo_problem *p, const grpo_spec *s, const double *w, double B, double tol,
                     long max_iter, double *theta, long *iters, ps_msg *m) {
  size_t d = p->d, K = p->K;
  double *a = calloc(p->n + 1, sizeof *a), *H = malloc(d * d * sizeof *H), *L = malloc(K * sizeof *L),
         *G = malloc(K * d * sizeof *G), *old = malloc(d * sizeof *old);
  int st = PS_OK;
  if (!a || !H || !L || !G || !old) {
    st = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  /* smoothness bound: sup l'' times the Frobenius norm of Y^T W Y, plus 2 lambda sum w */
  double l2max = s->loss == GRPO_DPO ? s->beta * s->beta / 4 : 2, wsum = 0;
  for (size_t g = 0; g < K; g++)
    if (p->ng[g] > 0) wsum += w[g];
  for (size_t i = 0; i < p->n; i++) {
    size_t g = (size_t)p->group[i];
    a[i] = p->ng[g] > 0 ? p->c[i] * w[g] / p->ng[g] : 0;
  }
  grpo_design(p, a, H);
  double fro = 0;
  for (size_t k = 0; k < d * d; k++) fro += H[k] * H[k];
  double S = l2max * sqrt(fro) + 2 * s->lambda * wsum;
  if (!(S > 0)) {
    st = ps_fail(m, PS_EINVAL, "grpo: zero curvature bound (no weighted rows)");
    goto done;
  }
  long it = 0;
  for (; it < max_iter; it++) {
    if (grpo_group_losses(p, s, theta, L, G)) {
      st = ps_fail(m, PS_ENOMEM, "out of memory");
      goto done;
    }
    memcpy(old, theta, d * sizeof *old);
    for (size_t k = 0; k < d; k++) {
      double gk = 0;
      for (size_t g = 0; g < K; g++)
        if (p->ng[g] > 0) gk += w[g] * G[g * d + k];
      theta[k] -= gk / S;
    }
    grpo_project(theta, d, B);
    double step = 0;
    for (size_t k = 0; k < d; k++) step += (theta[k] - old[k]) * (theta[k] - old[k]);
    if (sqrt(step) * S <= tol) {
      it++;
      break;
    }
  }
  if (iters) *iters = it;
  if (it >= max_iter) st = ps_fail(m, PS_ENOCONV, "grpo: fixed-weight solver reached %ld steps", max_iter);
done:
  free(a);
  free(H);
  free(L);
  free(G);
  free(old);
  return st;
}

static double grpo_grad_bound(const grpo_problem *p, const grpo_spec *s, double B) {
  double G = s->loss == GRPO_DPO ? s->beta * p->xmax : 2 * (B * p->xmax + 1 / (2 * s->tau)) * p->xmax;
  return G + 2 * s->lambda * B;
}

int grpo_run(const grpo_problem *p, const grpo_spec *s, const grpo_options *o, double *theta_bar,
             double *theta_last, double *alpha, ps_msg *m) {
  size_t d = p->d, K = p->K, Kne = 0;
  if (o->T < 1 || !(o->eta_theta > 0) || !(o->eta_alpha >= 0) || !(o->chi >= 0 && o->chi <= 1) || !(o->C >= 0) ||
      !(o->B > 0) || !isfinite(o->B))
    return ps_fail(m, PS_EINVAL, "grpo: need T >= 1, eta_theta > 0, eta_alpha >= 0, chi in [0,1], C >= 0, 0 < B < inf");
  for (size_t g = 0; g < K; g++) Kne += p->ng[g] > 0;
  double *th = calloc(d, sizeof *th), *bar = calloc(d, sizeof *bar), *al = calloc(K, sizeof *al),
         *L = malloc(K * sizeof *L), *G = malloc(K * d * sizeof *G);
  int st = PS_OK;
  if (!th || !bar || !al || !L || !G) {
    st = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t g = 0; g < K; g++) al[g] = p->ng[g] > 0 ? 1.0 / (double)Kne : 0;
  double sqT = sqrt((double)o->T);
  double eta_a = o->eta_alpha * sqrt(log((double)Kne) / (double)o->T);
  double eta_t = o->eta_theta * o->B / (grpo_grad_bound(p, s, o->B) * sqT);
  for (long t = 0; t < o->T; t++) {
    for (size_t k = 0; k < d; k++) bar[k] += th[k];
    if (grpo_group_losses(p, s, th, L, G)) {
      st = ps_fail(m, PS_ENOMEM, "out of memory");
      goto done;
    }
    /* alpha: exponentiated step in log space, shifted by the max for stability */
    double mx = -INFINITY, z = 0;
    for (size_t g = 0; g < K; g++)
      if (p->ng[g] > 0) {
        if (!isfinite(L[g])) {
          st = ps_fail(m, PS_EDOM, "grpo: group %zu loss is not finite at iteration %ld", g, t);
          goto done;
        }
        mx = fmax(mx, eta_a * o->chi * (L[g] + o->C / sqrt(p->ng[g])));
      }
    for (size_t g = 0; g < K; g++)
      if (p->ng[g] > 0) z += al[g] *= exp(eta_a * o->chi * (L[g] + o->C / sqrt(p->ng[g])) - mx);
    for (size_t g = 0; g < K; g++) al[g] /= z;
    for (size_t k = 0; k < d; k++) {
      double gk = 0;
      for (size_t g = 0; g < K; g++)
        if (p->ng[g] > 0) gk += ((1 - o->chi) / (double)Kne + o->chi * al[g]) * G[g * d + k];
      th[k] -= eta_t * gk;
    }
    grpo_project(th, d, o->B);
  }
  if (theta_bar)
    for (size_t k = 0; k < d; k++) theta_bar[k] = bar[k] / (double)o->T;
  if (theta_last) memcpy(theta_last, th, d * sizeof *th);
  if (alpha) memcpy(alpha, al, K * sizeof *al);
done:
  free(th);
  free(bar);
  free(al);
  free(L);
  free(G);
  return st;
}

/* Barrier objective s t - sum_g log(t - L_g) - log(B^2 - ||theta||^2); +inf outside. */
static double grpo_barrier(const grpo_problem *p, const grpo_spec *s, double B, double sc, const double *z,
                           double *L) {
  size_t d = p->d;
  double t = z[d], v = sc * t;
  if (grpo_group_losses(p, s, z, L, NULL)) return NAN;
  for (size_t g = 0; g < p->K; g++) {
    if (!(p->ng[g] > 0)) continue;
    if (!(t - L[g] > 0)) return INFINITY;
    v -= log(t - L[g]);
  }
  if (isfinite(B)) {
    double q = 0;
    for (size_t k = 0; k < d; k++) q += z[k] * z[k];
    if (!(B * B - q > 0)) return INFINITY;
    v -= log(B * B - q);
  }
  return v;
}

/* The central path's alpha_g = 1/(s (t - L_g)) loses digits once t - L_g nears the
 * rounding of t.  Polish it on the active set A = {alpha_g > 1e-6} by the KKT
 * conditions at theta: minimise ||sum_A alpha_g grad L_g + 2 mu theta||^2 subject to
 * sum alpha = 1 (mu >= 0 only when the ball is active), by least squares with the
 * constraint as a heavily weighted row.  Kept only if every alpha stays >= 0. */
static void grpo_polish_alpha(const grpo_problem *p, const grpo_spec *s, double B, const double *theta,
                              double *alpha) {
  size_t d = p->d, K = p->K, na = 0;
  double nrm = 0;
  for (size_t k = 0; k < d; k++) nrm += theta[k] * theta[k];
  int ball = isfinite(B) && B * B - nrm < 1e-6 * B * B;
  size_t *act = malloc(K * sizeof *act);
  double *L = malloc(K * sizeof *L), *G = malloc(K * d * sizeof *G);
  double *N = NULL, *r = NULL;
  if (!act || !L || !G || grpo_group_losses(p, s, theta, L, G)) goto done;
  for (size_t g = 0; g < K; g++)
    if (alpha[g] > 1e-6) act[na++] = g;
  size_t u = na + (size_t)ball;
  N = calloc(u * u, sizeof *N);
  r = calloc(u, sizeof *r);
  if (!N || !r) goto done;
  /* columns: grad L_g (g in A), then 2 theta; plus the row (1..1, 0) weighted by W */
  const double W = 1e3;
  for (size_t a = 0; a < u; a++)
    for (size_t b = 0; b < u; b++) {
      double v = 0;
      for (size_t k = 0; k < d; k++) {
        double ca = a < na ? G[act[a] * d + k] : 2 * theta[k], cb = b < na ? G[act[b] * d + k] : 2 * theta[k];
        v += ca * cb;
      }
      if (a < na && b < na) v += W * W;
      N[a * u + b] = v;
    }
  for (size_t a = 0; a < na; a++) r[a] = W * W;
  if (grpo_chol_solve(N, r, u)) goto done;
  for (size_t a = 0; a < u; a++)
    if (!(r[a] >= 0)) goto done;
  double tot = 0;
  for (size_t a = 0; a < na; a++) tot += r[a];
  for (size_t g = 0; g < K; g++) alpha[g] = 0;
  for (size_t a = 0; a < na; a++) alpha[act[a]] = r[a] / tot;
done:
  free(act);
  free(L);
  free(G);
  free(N);
  free(r);
}

/* The barrier problem of grpo_minmax_exact in z = (theta, t), for core/newton.h:
 * F = grpo_barrier, its gradient (s e_t + sum_g (G_g, -1) / (t - L_g) + the ball's
 * 2 theta / (B^2 - ||theta||^2)) and the Newton direction from the exact Hessian
 *     sum_g [grad h_g grad h_g^T / c_g^2 + (hess L_g (+) 0) / c_g],  c_g = t - L_g,
 * plus the ball's 2 I / c + 4 theta theta^T / c^2, by Cholesky. */
typedef struct {
  const grpo_problem *p;
  const grpo_spec *s;
  double B, sc;            /* ball radius; barrier weight s */
  double *L, *G, *H, *a, *Hg, *score; /* K, K d, D^2, n + 1, d^2, n_items */
} grpo_barrier_fn;

static double grpo_barrier_fdf(void *params, const double *z, double *gr) {
  grpo_barrier_fn *b = params;
  const grpo_problem *p = b->p;
  size_t d = p->d;
  double v = grpo_barrier(p, b->s, b->B, b->sc, z, b->L);
  if (!gr) return v;
  grpo_group_losses(p, b->s, z, b->L, b->G);
  memset(gr, 0, (d + 1) * sizeof *gr);
  gr[d] = b->sc;
  for (size_t g = 0; g < p->K; g++) {
    if (!(p->ng[g] > 0)) continue;
    double c = z[d] - b->L[g];
    const double *Gg = b->G + g * d;
    for (size_t k = 0; k < d; k++) gr[k] += Gg[k] / c;
    gr[d] -= 1 / c;
  }
  if (isfinite(b->B)) {
    double q = 0;
    for (size_t k = 0; k < d; k++) q += z[k] * z[k];
    double c = b->B * b->B - q;
    for (size_t j = 0; j < d; j++) gr[j] += 2 * z[j] / c;
  }
  return v;
}

static int grpo_barrier_direction(void *params, const double *z, const double *gr, double *dz, ps_msg *m) {
  grpo_barrier_fn *b = params;
  const grpo_problem *p = b->p;
  const grpo_spec *s = b->s;
  size_t d = p->d, D = d + 1;
  double *H = b->H, *a = b->a, *Hg = b->Hg, t = z[d];
  grpo_group_losses(p, s, z, b->L, b->G);
  grpo_scores(p, z, b->score);
  memset(H, 0, D * D * sizeof *H);
  for (size_t g = 0; g < p->K; g++) {
    if (!(p->ng[g] > 0)) continue;
    double c = t - b->L[g];
    const double *Gg = b->G + g * d;
    /* grad h = (Gg, -1): H += grad h grad h^T / c^2 + [hess L_g 0; 0 0] / c */
    for (size_t j = 0; j < D; j++)
      for (size_t k = 0; k < D; k++) {
        double hj = j < d ? Gg[j] : -1, hk = k < d ? Gg[k] : -1;
        H[j * D + k] += hj * hk / (c * c);
      }
    for (size_t i = 0; i < p->n; i++) {
      double l, l1, l2;
      grpo_row(s, b->score[p->winner[i]] - b->score[p->loser[i]], &l, &l1, &l2);
      a[i] = (size_t)p->group[i] == g ? p->c[i] * l2 / p->ng[g] : 0;
    }
    grpo_design(p, a, Hg);
    for (size_t j = 0; j < d; j++) {
      Hg[j * d + j] += 2 * s->lambda;
      for (size_t k = 0; k < d; k++) H[j * D + k] += Hg[j * d + k] / c;
    }
  }
  if (isfinite(b->B)) {
    double q = 0;
    for (size_t k = 0; k < d; k++) q += z[k] * z[k];
    double c = b->B * b->B - q;
    for (size_t j = 0; j < d; j++) {
      H[j * D + j] += 2 / c;
      for (size_t k = 0; k < d; k++) H[j * D + k] += 4 * z[j] * z[k] / (c * c);
    }
  }
  for (size_t k = 0; k < D; k++) dz[k] = -gr[k];
  if (grpo_chol_solve(H, dz, D))
    return ps_fail(m, PS_ESINGULAR, "grpo: barrier Hessian is not positive definite (design does not span R^d?)");
  return PS_OK;
}

int grpo_minmax_exact(const grpo_problem *p, const grpo_spec *s, double B, double *theta, double *alpha,
                      double *value, ps_msg *m) {
  size_t d = p->d, K = p->K, D = d + 1, Kne = 0;
  for (size_t g = 0; g < K; g++) Kne += p->ng[g] > 0;
  grpo_barrier_fn bf = {.p = p, .s = s, .B = B, .sc = 1};
  double *z = calloc(D, sizeof *z);
  bf.L = malloc(K * sizeof *bf.L);
  bf.G = malloc(K * d * sizeof *bf.G);
  bf.H = malloc(D * D * sizeof *bf.H);
  bf.a = calloc(p->n + 1, sizeof *bf.a);
  bf.Hg = malloc(d * d * sizeof *bf.Hg);
  bf.score = malloc(p->f->n_items * sizeof *bf.score);
  newton_solver *ns = newton_alloc(D);
  double *L = bf.L;
  int st = PS_OK;
  if (!z || !L || !bf.G || !bf.H || !bf.a || !bf.Hg || !bf.score || !ns) {
    st = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  grpo_group_losses(p, s, z, L, NULL);
  double t0 = -INFINITY;
  for (size_t g = 0; g < K; g++)
    if (p->ng[g] > 0) t0 = fmax(t0, L[g]);
  z[d] = t0 + 1;
  size_t ncons = Kne + (isfinite(B) ? 1 : 0);
  /* damped Newton on each barrier problem (Boyd & Vandenberghe Alg. 9.5 with alpha =
   * 1/4, beta = 1/2; steps below 2^-49 ~ 1.8e-15 make no progress at machine
   * precision, so the search stops there and the centring ends) */
  newton_function fn = {.n = D, .fdf = grpo_barrier_fdf, .direction = grpo_barrier_direction, .line = NULL,
                        .params = &bf};
  newton_params par = newton_params_default();
  par.armijo = 0.25;
  par.max_halvings = 50;
  for (int outer = 0; outer < 60; outer++) {
    newton_set(ns, &fn, &par, z);
    for (int it = 0;; it++) {
      if (it == 200) {
        st = ps_fail(m, PS_ENOCONV, "grpo: barrier Newton did not converge (s = %g, outer %d)", bf.sc, outer);
        goto done;
      }
      if ((st = newton_direction(ns, m)) != PS_OK) goto done;
      /* Newton decrement: the barrier suboptimality is ~ dec/2; below 1e-13 |f| the
       * decrease is lost in the rounding of f ~ s t (large s), so stop there too */
      double dec = -newton_slope(ns);
      if (dec / 2 <= 1e-12 || dec / 2 <= 1e-13 * fabs(newton_f(ns))) break;
      if (newton_step(ns) != PS_OK) break; /* no progress possible at machine precision */
    }
    memcpy(z, newton_x(ns), D * sizeof *z);
    if ((double)ncons / bf.sc < 1e-11) break; /* duality gap ncons/s on the central path */
    bf.sc *= 10;
  }
  grpo_group_losses(p, s, z, L, NULL);
  if (value) {
    double v = -INFINITY;
    for (size_t g = 0; g < K; g++)
      if (p->ng[g] > 0) v = fmax(v, L[g]);
    *value = v;
  }
  if (theta) memcpy(theta, z, d * sizeof *z);
  if (alpha) {
    double tot = 0;
    for (size_t g = 0; g < K; g++) tot += alpha[g] = p->ng[g] > 0 ? 1 / (bf.sc * (z[d] - L[g])) : 0;
    for (size_t g = 0; g < K; g++) alpha[g] /= tot;
    grpo_polish_alpha(p, s, B, z, alpha);
  }
done:
  newton_free(ns);
  free(z);
  free(bf.L);
  free(bf.G);
  free(bf.H);
  free(bf.a);
  free(bf.Hg);
  free(bf.score);
  return st;
}

/* ------------------------------------------------------------------------- */
/* The estimator interface.                                                    */

struct est_model {
  grpo_spec spec;
  grpo_options opt;
  const pref_features *f;
  size_t d, K, n_ctx, m;
  double *theta_bar, *theta_last, *alpha, *loss, *ng;
  double *alpha_star; /* K: the exact min-max dual weights (grpo_minmax_exact) */
  double value;       /* the exact min-max value on the training data (NaN if it failed) */
  int report;         /* self_estimate: 0 = gap, 1 = spread */
};

static const ps_param grpo_params[] = {
    {"loss", PS_PARAM_ENUM, "dpo", 0, 0, "dpo|ipo", "group loss: DPO softplus(-beta Delta) or IPO (Delta - 1/(2 tau))^2"},
    {"beta", PS_PARAM_REAL, "0.1", 1e-6, 1e6, NULL, "DPO inverse temperature (TRL default 0.1); logit() = beta Delta"},
    {"tau", PS_PARAM_REAL, "0.1", 1e-6, 1e6, NULL, "IPO regulariser: target log-ratio margin 1/(2 tau)"},
    {"T", PS_PARAM_INT, "2000", 1, 1e8, NULL, "iterations"},
    {"eta_theta", PS_PARAM_REAL, "1", 1e-12, 1e12, NULL, "theta step eta_theta B / (G sqrt T) (G: gradient bound)"},
    {"eta_alpha", PS_PARAM_REAL, "1", 0, 1e12, NULL, "alpha step eta_alpha sqrt(log K / T)"},
    {"chi", PS_PARAM_REAL, "1", 0, 1, NULL, "weights w_g = (1-chi)/K + chi alpha_g"},
    {"C", PS_PARAM_REAL, "0", 0, 1e12, NULL, "small-group bonus C / sqrt(n_g) in the alpha step"},
    {"B", PS_PARAM_REAL, "20", 1e-12, 1e12, NULL, "norm bound ||theta|| <= B (beta = 0.1 puts theta* at theta_r / beta)"},
    {"l2", PS_PARAM_REAL, "0", 0, 1e12, NULL, "lambda ||theta||^2 added to every group's mean loss"},
    {"report", PS_PARAM_ENUM, "gap", 0, 0, "gap|spread",
     "self_estimate: worst-group loss of the averaged iterate minus the exact min-max value (gap), or the spread max - min of its "
     "losses over the groups active at the exact min-max point (dual weight > 1e-4)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL}};

static int grpo_alloc(est_model **out, const char *const *h, ps_msg *m) {
  est_model *e = calloc(1, sizeof *e);
  if (!e) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->spec.loss = !strcmp(ps_param_text(grpo_params, h, "loss"), "ipo") ? GRPO_IPO : GRPO_DPO;
  e->spec.beta = ps_param_real(ps_param_text(grpo_params, h, "beta"));
  e->spec.tau = ps_param_real(ps_param_text(grpo_params, h, "tau"));
  e->opt.T = ps_param_int(ps_param_text(grpo_params, h, "T"));
  e->opt.eta_theta = ps_param_real(ps_param_text(grpo_params, h, "eta_theta"));
  e->opt.eta_alpha = ps_param_real(ps_param_text(grpo_params, h, "eta_alpha"));
  e->opt.chi = ps_param_real(ps_param_text(grpo_params, h, "chi"));
  e->opt.C = ps_param_real(ps_param_text(grpo_params, h, "C"));
  e->opt.B = ps_param_real(ps_param_text(grpo_params, h, "B"));
  e->spec.lambda = ps_param_real(ps_param_text(grpo_params, h, "l2"));
  e->report = !strcmp(ps_param_text(grpo_params, h, "report"), "spread");
  e->value = NAN;
  *out = e;
  return PS_OK;
}

static void grpo_clear(est_model *e) {
  free(e->theta_bar);
  free(e->theta_last);
  free(e->alpha);
  free(e->loss);
  free(e->ng);
  free(e->alpha_star);
  e->theta_bar = e->theta_last = e->alpha = e->loss = e->ng = e->alpha_star = NULL;
  e->value = NAN;
}

static int grpo_fit(est_model *e, const pref_data *d, const pref_features *f, gsl_rng *r, est_fit_info *info,
                    ps_msg *msg) {
  (void)r;
  info->status = PS_OK;
  info->converged = 0;
  info->iterations = 0;
  info->objective = info->grad_norm = NAN;
  grpo_clear(e);
  grpo_problem p;
  int s = grpo_problem_alloc(&p, d, f, msg);
  if (s) goto done;
  size_t S = f->n_contexts ? f->n_contexts : 1;
  if (f->n_items % S) {
    s = ps_fail(msg, PS_EINVAL, "grpo: %zu items do not split into %zu contexts", f->n_items, S);
    goto done;
  }
  e->f = f;
  e->d = p.d;
  e->K = p.K;
  e->n_ctx = S;
  e->m = f->n_items / S;
  e->theta_bar = malloc(p.d * sizeof(double));
  e->theta_last = malloc(p.d * sizeof(double));
  e->alpha = malloc(p.K * sizeof(double));
  e->loss = malloc(p.K * sizeof(double));
  e->ng = malloc(p.K * sizeof(double));
  e->alpha_star = malloc(p.K * sizeof(double));
  if (!e->theta_bar || !e->theta_last || !e->alpha || !e->loss || !e->ng || !e->alpha_star) {
    s = ps_fail(msg, PS_ENOMEM, "out of memory");
    goto done;
  }
  if ((s = grpo_run(&p, &e->spec, &e->opt, e->theta_bar, e->theta_last, e->alpha, msg))) goto done;
  if (grpo_group_losses(&p, &e->spec, e->theta_bar, e->loss, NULL)) {
    s = ps_fail(msg, PS_ENOMEM, "out of memory");
    goto done;
  }
  memcpy(e->ng, p.ng, p.K * sizeof(double));
  {
    /* the exact min-max point on the same data and ball, for self_estimate and the
     * alpha_star column; its failure leaves them NaN but not the fit */
    ps_msg xm = {{0}};
    if (grpo_minmax_exact(&p, &e->spec, e->opt.B, NULL, e->alpha_star, &e->value, &xm) != PS_OK) {
      e->value = NAN;
      for (size_t g = 0; g < p.K; g++) e->alpha_star[g] = NAN;
    }
  }
  info->converged = 1;
  info->iterations = e->opt.T < 2147483647 ? (int)e->opt.T : 2147483647;
  info->objective = grpo_worst_loss(&p, &e->spec, e->theta_bar);
done:
  if (s) grpo_clear(e);
  grpo_problem_free(&p);
  info->status = s;
  return s;
}

static double grpo_logit(const est_model *e, int32_t a, int32_t b) {
  double z = 0;
  for (size_t k = 0; k < e->d; k++) z += e->theta_bar[k] * (feat(e->f, (size_t)a, k) - feat(e->f, (size_t)b, k));
  return e->spec.beta * z;
}

static const double *grpo_theta(const est_model *e, size_t *dim) {
  *dim = e->theta_bar ? e->d : 0;
  return e->theta_bar;
}

static int grpo_policy(const est_model *e, int32_t first, size_t m, double *p) {
  if (!e->theta_bar || m != e->m || first < 0 || (size_t)first % m || (size_t)first / m >= e->n_ctx) return PS_EINVAL;
  for (size_t y = 0; y < m; y++) {
    size_t it = (size_t)first + y;
    double v = e->f->log_ref ? e->f->log_ref[it] : 0;
    for (size_t k = 0; k < e->d; k++) v += e->theta_bar[k] * feat(e->f, it, k);
    p[y] = v;
  }
  double lse = ps_log_sum_exp(p, m);
  for (size_t y = 0; y < m; y++) p[y] = exp(p[y] - lse);
  return PS_OK;
}

static const char *const grpo_columns[] = {"alpha", "loss", "comparisons", "alpha_star", NULL};

static int grpo_annotator(const est_model *e, size_t h, double *vals) {
  if (!e->alpha || h >= e->K) return PS_EINVAL;
  vals[0] = e->alpha[h];
  vals[1] = e->loss[h];
  vals[2] = e->ng[h];
  vals[3] = e->alpha_star[h];
  return PS_OK;
}

/* The estimator's own convergence measure (§5 row 12), against the exact min-max
 * point of its training data: report = gap, max_g L_g(theta_bar) - min_theta max_g L_g
 * (>= 0, O(T^-1/2) by the regret bound); report = spread, max - min of L_g(theta_bar)
 * over the groups active at the exact point (dual weight alpha*_g > 1e-4), whose
 * losses are equal there.  NaN before a fit or when the exact solver failed. */
#define GRPO_ACTIVE 1e-4
static double grpo_self_estimate(const est_model *e) {
  if (!e || !e->loss || !isfinite(e->value)) return NAN;
  double worst = -INFINITY, hi = -INFINITY, lo = INFINITY;
  for (size_t g = 0; g < e->K; g++) {
    if (!(e->ng[g] > 0)) continue;
    worst = fmax(worst, e->loss[g]);
    if (e->alpha_star[g] > GRPO_ACTIVE) {
      hi = fmax(hi, e->loss[g]);
      lo = fmin(lo, e->loss[g]);
    }
  }
  if (e->report) return hi >= lo ? hi - lo : NAN;
  return worst - e->value;
}

int grpo_model_state(const est_model *e, size_t *d, size_t *K, const double **theta_last, const double **alpha) {
  if (!e || !e->alpha) return PS_EINVAL;
  *d = e->d;
  *K = e->K;
  *theta_last = e->theta_last;
  *alpha = e->alpha;
  return PS_OK;
}

static void grpo_free(est_model *e) {
  if (!e) return;
  grpo_clear(e);
  free(e);
}

const est_type est_grpo = {
    .name = "grpo",
    .inputs = EST_IN_ITEMS | EST_IN_FEATURES,
    .doc = "Group-robust preference optimisation (Ramesh et al. 2024; docs/theory.md §3.12): log-linear policy, "
           "min over theta max over group weights alpha of the annotator groups' mean DPO or IPO losses, "
           "by mirror ascent on alpha and projected gradient on theta; reports the averaged iterate "
           "(annotator(): alpha_T, the group loss at the averaged iterate, the group's comparisons, the exact min-max dual weight); "
           "self_estimate: its worst-group gap to the exact min-max value, or the spread of the active groups' losses.",
    .params = grpo_params,
    .alloc = grpo_alloc,
    .fit = grpo_fit,
    .logit = grpo_logit,
    .theta = grpo_theta,
    .policy = grpo_policy,
    .free = grpo_free,
    .annotator_columns = grpo_columns,
    .annotator = grpo_annotator,
    .self_estimate = grpo_self_estimate,
};
