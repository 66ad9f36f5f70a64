/* bt.c — Bradley-Terry MLE by Newton-CG (see bt.h for the model and conventions).
 *
 * Per pass over the comparisons we need, for margins z_i = s_w - s_l:
 *   loss      sum c_i l(z_i)            l(z) = softplus(-z)  or  -log Phi(z)
 *   gradient  Phi^T a,  a = scatter of c_i l'(z_i) (+ at w, - at l)
 *   curvature D_i = c_i l''(z_i)         (sigma'(z), or h(z)(z + h(z)), h = phi/Phi)
 * and a Hessian-vector product is Phi^T b with b the scatter of D_i (u_w - u_l),
 * u = Phi v.  Everything is summed in row order, so a fit is bit-reproducible.
 *
 * Invariant: theta is finite at every return; for items it is centred. */
#include "bt.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/bigblock.h"
#include "../core/numerics.h"

/* Large blocks (the m x m Hessian and covariance of an item fit, 8 MB at m = 1000, and the
 * per-row arrays) come from ps_alloc_large (core/bigblock.h): huge pages, no fault storm. */

bt_options bt_options_default(void) {
  bt_options o = {.l2 = 0, .link = BT_LINK_LOGISTIC, .tol = 1e-10, .max_iter = 100, .want_hessian = 0,
                   .theta0 = NULL};
  return o;
}

void bt_result_free(bt_result *r) {
  if (!r) return;
  free(r->theta);
  free(r->hessian);
  memset(r, 0, sizeof *r);
}

/* -------------------------------------------------------------- link pieces */

/* loss l(z), derivative l'(z) (negative), second derivative l''(z) (positive) */
static inline void link_eval(bt_link link, double z, double *l, double *dl, double *d2l) {
  if (link == BT_LINK_LOGISTIC) {
    *l = ps_softplus(-z);
    *dl = -ps_sigmoid(-z);
    *d2l = ps_sigmoid_deriv(z);
  } else {
    double lphi = ps_log_normal_cdf(z);
    double h = exp(-0.5 * z * z - 0.5 * log(2 * M_PI) - lphi); /* Mills ratio phi/Phi */
    *l = -lphi;
    *dl = -h;
    *d2l = h * (z + h);
    if (*d2l < 0) *d2l = 0; /* rounding for very negative z, where it tends to 1 */
  }
}

/* ------------------------------------------------------------ item <-> param */

typedef struct {
  const pref_data *d;
  const pref_features *f;
  size_t n_items, dim;
  double *s, *a, *u; /* item-space scratch: scores, scatter accumulator, u = Phi v */
} bt_work;

static void to_items(const bt_work *w, const double *v, double *out) {
  if (!w->f->phi) {
    memcpy(out, v, w->n_items * sizeof(double));
    return;
  }
  size_t dim = w->dim;
  for (size_t i = 0; i < w->n_items; i++) {
    const double *row = w->f->phi + i * dim;
    /* eight fixed partial sums: the order of additions is set by this code, not by
     * the vector width, so the result is the same on every machine */
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t k = 0;
    for (; k + 8 <= dim; k += 8) {
      PS_SIMD
      for (size_t j = 0; j < 8; j++) acc[j] += row[k + j] * v[k + j];
    }
    for (; k < dim; k++) acc[k & 7] += row[k] * v[k];
    out[i] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  }
}

static void from_items(const bt_work *w, const double *a, double *out) {
  if (!w->f->phi) {
    memcpy(out, a, w->n_items * sizeof(double));
    return;
  }
  size_t dim = w->dim;
  memset(out, 0, dim * sizeof(double));
  for (size_t i = 0; i < w->n_items; i++) {
    double ai = a[i];
    if (ai == 0) continue;
    const double *row = w->f->phi + i * dim;
    PS_SIMD
    for (size_t k = 0; k < dim; k++) out[k] += ai * row[k];
  }
}

/* Objective at theta; fills grad (if not NULL) and per-row curvature D (if not
 * NULL).  Returns the objective; *loglik gets sum c log F. */
static double eval(bt_work *w, bt_link link, double l2, const double *theta, double *grad, double *D,
                   double *loglik) {
  const pref_data *d = w->d;
  to_items(w, theta, w->s);
  if (grad) memset(w->a, 0, w->n_items * sizeof(double));
  double loss = 0;
  const int32_t *win = d->winner, *los = d->loser;
  const double *cnt = d->count;
  if (link == BT_LINK_LOGISTIC && !cnt) {
    /* softplus(-|z|) = log(1 + e), e = exp(-|z|) in (0, 1].  The logs of 16 rows
     * are taken at once as the log of the product of their (1 + e) <= 2 (no
     * overflow): each row then carries ~16 u of absolute error, below the rounding
     * of the running sum itself, for one log per 16 rows.  One reciprocal serves
     * sigma(-z) and D. */
    const double *s = w->s;
    double *a = w->a;
    size_t n = d->n;
    for (size_t i0 = 0; i0 < n; i0 += 16) {
      size_t i1 = i0 + 16 < n ? i0 + 16 : n;
      double prod = 1, lin = 0;
      for (size_t i = i0; i < i1; i++) {
        double z = s[win[i]] - s[los[i]];
        double e = exp(-fabs(z)), r = 1 / (1 + e);
        prod *= 1 + e;
        lin += z < 0 ? -z : 0;
        if (grad) {
          double sig_neg = z >= 0 ? e * r : r; /* sigma(-z) */
          a[win[i]] -= sig_neg;
          a[los[i]] += sig_neg;
        }
        if (D) D[i] = e * r * r;
      }
      loss += lin + log(prod);
    }
  } else {
    for (size_t i = 0; i < d->n; i++) {
      double c = cnt ? cnt[i] : 1.0;
      double z = w->s[win[i]] - w->s[los[i]], l, dl, d2l;
      link_eval(link, z, &l, &dl, &d2l);
      loss += c * l;
      if (grad) {
        w->a[win[i]] += c * dl;
        w->a[los[i]] -= c * dl;
      }
      if (D) D[i] = c * d2l;
    }
  }
  double pen = 0;
  for (size_t k = 0; k < w->dim; k++) pen += theta[k] * theta[k];
  if (grad) {
    from_items(w, w->a, grad);
    for (size_t k = 0; k < w->dim; k++) grad[k] += l2 * theta[k];
  }
  if (loglik) *loglik = -loss;
  return loss + 0.5 * l2 * pen;
}

/* out = H v = Phi^T scatter(D_i (u_w - u_l)) + l2 v */
static void hess_vec(bt_work *w, const float *D, double l2, const double *v, double *out) {
  const pref_data *d = w->d;
  to_items(w, v, w->u);
  memset(w->a, 0, w->n_items * sizeof(double));
  for (size_t i = 0; i < d->n; i++) {
    double t = (double)D[i] * (w->u[d->winner[i]] - w->u[d->loser[i]]);
    w->a[d->winner[i]] += t;
    w->a[d->loser[i]] -= t;
  }
  from_items(w, w->a, out);
  for (size_t k = 0; k < w->dim; k++) out[k] += l2 * v[k];
}

/* One pass over the comparisons at item scores s, without the loss: the gradient
 * scatter a (zeroed here; += c l'(z) at the winner, -= at the loser) and the
 * curvature weights D.  The logistic path needs one exp per comparison and no log:
 * with e = exp(-|z|), sigma(-z) = e/(1+e) (z >= 0) or 1/(1+e), sigma'(z) = e/(1+e)^2.
 * Returns the number of margins <= 0 (none: the data are separated by theta). */
static size_t grad_pass(const bt_work *w, bt_link link, const double *s, double *a, float *D) {
  const pref_data *d = w->d;
  const int32_t *win = d->winner, *los = d->loser;
  size_t nonpos = 0;
  memset(a, 0, w->n_items * sizeof(double));
  if (link == BT_LINK_LOGISTIC && !d->count) {
    for (size_t i = 0; i < d->n; i++) {
      double z = s[win[i]] - s[los[i]];
      double e = exp(-fabs(z)), inv = 1.0 / (1.0 + e);
      double sig_neg = z >= 0 ? e * inv : inv;
      a[win[i]] -= sig_neg;
      a[los[i]] += sig_neg;
      D[i] = (float)(e * inv * inv);
      nonpos += z <= 0;
    }
  } else {
    for (size_t i = 0; i < d->n; i++) {
      double c = d->count ? d->count[i] : 1.0;
      double z = s[win[i]] - s[los[i]], l, dl, d2l;
      link_eval(link, z, &l, &dl, &d2l);
      a[win[i]] += c * dl;
      a[los[i]] -= c * dl;
      D[i] = (float)(c * d2l);
      nonpos += z <= 0;
    }
  }
  return nonpos;
}

static double dot(const double *x, const double *y, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += x[i] * y[i];
  return s;
}

static void centre(double *v, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m += v[i];
  m /= (double)n;
  for (size_t i = 0; i < n; i++) v[i] -= m;
}

/* ----------------------------------------------------------- graph checks */

static const char *item_label(const char *const *names, int32_t i, char *buf, size_t len) {
  if (names) return names[i];
  snprintf(buf, len, "%d", (int)i);
  return buf;
}

/* BFS over CSR adjacency from node 0; returns number reached. */
static size_t bfs(size_t n, const size_t *off, const int32_t *adj, unsigned char *seen, int32_t *queue) {
  memset(seen, 0, n);
  size_t head = 0, tail = 0, cnt = 1;
  seen[0] = 1;
  queue[tail++] = 0;
  while (head < tail) {
    int32_t v = queue[head++];
    for (size_t k = off[v]; k < off[v + 1]; k++) {
      int32_t u = adj[k];
      if (!seen[u]) {
        seen[u] = 1;
        cnt++;
        queue[tail++] = u;
      }
    }
  }
  return cnt;
}

int bt_check_items(const pref_data *d, const char *const *names, ps_msg *m) {
  size_t N = d->n_items;
  char b1[32];
  if (N < 2) return ps_fail(m, PS_ENOMLE, "only %zu item: nothing to compare", N);
  size_t *wins = calloc(N, sizeof *wins), *losses = calloc(N, sizeof *losses);
  size_t *off_f = calloc(N + 1, sizeof(size_t)), *off_b = calloc(N + 1, sizeof(size_t));
  size_t *off_u = calloc(N + 1, sizeof(size_t));
  int32_t *adj_f = ps_alloc_large((d->n + 1) * sizeof(int32_t)), *adj_b = ps_alloc_large((d->n + 1) * sizeof(int32_t));
  int32_t *adj_u = ps_alloc_large((2 * d->n + 1) * sizeof(int32_t)), *queue = malloc(N * sizeof(int32_t));
  unsigned char *seen = malloc(N);
  int status = PS_OK;
  if (!wins || !losses || !off_f || !off_b || !off_u || !adj_f || !adj_b || !adj_u || !queue || !seen) {
    status = ps_fail(m, PS_ENOMEM, "out of memory checking the comparison graph");
    goto done;
  }
  for (size_t i = 0; i < d->n; i++) {
    wins[d->winner[i]]++;
    losses[d->loser[i]]++;
  }
  /* undirected components first: the most basic reason */
  for (size_t i = 0; i < d->n; i++) {
    off_u[d->winner[i] + 1]++;
    off_u[d->loser[i] + 1]++;
    off_f[d->loser[i] + 1]++;  /* forward: loser -> winner */
    off_b[d->winner[i] + 1]++; /* backward: winner -> loser */
  }
  for (size_t v = 0; v < N; v++) {
    off_u[v + 1] += off_u[v];
    off_f[v + 1] += off_f[v];
    off_b[v + 1] += off_b[v];
  }
  {
    size_t *pu = malloc(N * sizeof(size_t)), *pf = malloc(N * sizeof(size_t)), *pb = malloc(N * sizeof(size_t));
    if (!pu || !pf || !pb) {
      free(pu);
      free(pf);
      free(pb);
      status = ps_fail(m, PS_ENOMEM, "out of memory checking the comparison graph");
      goto done;
    }
    memcpy(pu, off_u, N * sizeof(size_t));
    memcpy(pf, off_f, N * sizeof(size_t));
    memcpy(pb, off_b, N * sizeof(size_t));
    for (size_t i = 0; i < d->n; i++) {
      adj_u[pu[d->winner[i]]++] = d->loser[i];
      adj_u[pu[d->loser[i]]++] = d->winner[i];
      adj_f[pf[d->loser[i]]++] = d->winner[i];
      adj_b[pb[d->winner[i]]++] = d->loser[i];
    }
    free(pu);
    free(pf);
    free(pb);
  }
  /* components of the undirected graph */
  size_t reached = bfs(N, off_u, adj_u, seen, queue);
  if (reached < N) {
    size_t comps = 1, unseen_first = 0;
    for (size_t v = 0; v < N; v++)
      if (!seen[v]) {
        unseen_first = v;
        break;
      }
    /* count components with repeated BFS from unseen nodes */
    unsigned char *all = calloc(N, 1);
    if (all) {
      memcpy(all, seen, N);
      for (size_t v = 0; v < N; v++) {
        if (all[v]) continue;
        comps++;
        size_t head = 0, tail = 0;
        all[v] = 1;
        queue[tail++] = (int32_t)v;
        while (head < tail) {
          int32_t x = queue[head++];
          for (size_t k = off_u[x]; k < off_u[x + 1]; k++)
            if (!all[adj_u[k]]) {
              all[adj_u[k]] = 1;
              queue[tail++] = adj_u[k];
            }
        }
      }
      free(all);
    }
    status = ps_fail(m, PS_ENOMLE,
                     "the comparison graph is disconnected (%zu components; e.g. item '%s' is never "
                     "linked to item '%s'), so the scores of different components are not comparable",
                     comps, item_label(names, (int32_t)unseen_first, b1, sizeof b1),
                     names ? names[0] : "0");
    goto done;
  }
  for (size_t v = 0; v < N; v++) {
    if (losses[v] == 0) {
      status = ps_fail(m, PS_ENOMLE, "item '%s' never loses, so its maximum-likelihood score is +infinity",
                       item_label(names, (int32_t)v, b1, sizeof b1));
      goto done;
    }
    if (wins[v] == 0) {
      status = ps_fail(m, PS_ENOMLE, "item '%s' never wins, so its maximum-likelihood score is -infinity",
                       item_label(names, (int32_t)v, b1, sizeof b1));
      goto done;
    }
  }
  size_t rf = bfs(N, off_f, adj_f, seen, queue);
  if (rf == N) rf = bfs(N, off_b, adj_b, seen, queue);
  if (rf < N) {
    /* seen marks the group reachable from item 0; name one on each side */
    size_t out = 0;
    for (size_t v = 0; v < N; v++)
      if (!seen[v]) {
        out = v;
        break;
      }
    char b2[32];
    status = ps_fail(m, PS_ENOMLE,
                     "the win graph is not strongly connected: a group of %zu items (with '%s') and "
                     "the other %zu (with '%s') are only ever beaten in one direction, so the gap "
                     "between them is infinite",
                     rf, item_label(names, 0, b1, sizeof b1), N - rf,
                     item_label(names, (int32_t)out, b2, sizeof b2));
  }
done:
  free(wins);
  free(losses);
  free(off_f);
  free(off_b);
  free(off_u);
  free(adj_f);
  free(adj_b);
  free(adj_u);
  free(queue);
  free(seen);
  return status;
}

/* -------------------------------------------------------------- Hessian */

int bt_design_hessian(const pref_data *d, const pref_features *f, const double *w, double diag_add,
                      double *H, ps_msg *m) {
  size_t dim = f->d;
  memset(H, 0, dim * dim * sizeof(double));
  if (!f->phi) {
    for (size_t i = 0; i < d->n; i++) {
      size_t a = (size_t)d->winner[i], b = (size_t)d->loser[i];
      H[a * dim + a] += w[i];
      H[b * dim + b] += w[i];
      H[a * dim + b] -= w[i];
      H[b * dim + a] -= w[i];
    }
  } else {
    /* items are grouped by context: item i is response i % M of context i / M when
     * item_context is the standard layout; otherwise fall back to rank-1 updates. */
    size_t C = f->n_contexts ? f->n_contexts : 1, M = f->n_items / C;
    int blocked = M * C == f->n_items && M <= 64;
    if (blocked && f->item_context)
      for (size_t i = 0; i < f->n_items && blocked; i++)
        if ((size_t)f->item_context[i] != i / M) blocked = 0;
    if (blocked) {
      double *L = calloc(C * M * M, sizeof(double)), *LP = malloc(M * dim * sizeof(double));
      if (!L || !LP) {
        free(L);
        free(LP);
        return ps_fail(m, PS_ENOMEM, "out of memory building the Hessian");
      }
      for (size_t i = 0; i < d->n; i++) {
        size_t a = (size_t)d->winner[i], b = (size_t)d->loser[i], c = a / M;
        double *Lc = L + c * M * M;
        a %= M;
        b %= M;
        Lc[a * M + a] += w[i];
        Lc[b * M + b] += w[i];
        Lc[a * M + b] -= w[i];
        Lc[b * M + a] -= w[i];
      }
      for (size_t c = 0; c < C; c++) {
        const double *Lc = L + c * M * M, *P = f->phi + c * M * dim;
        int any = 0;
        for (size_t j = 0; j < M; j++) any |= Lc[j * M + j] != 0;
        if (!any) continue;
        /* LP = Lc P  (M x dim) */
        for (size_t j = 0; j < M; j++)
          for (size_t k = 0; k < dim; k++) {
            double s = 0;
            for (size_t t = 0; t < M; t++) s += Lc[j * M + t] * P[t * dim + k];
            LP[j * dim + k] = s;
          }
        /* H += P^T LP, upper triangle */
        for (size_t j = 0; j < M; j++) {
          const double *pj = P + j * dim, *lpj = LP + j * dim;
          for (size_t k = 0; k < dim; k++) {
            double pk = pj[k];
            if (pk == 0) continue;
            double *hr = H + k * dim;
            for (size_t l = k; l < dim; l++) hr[l] += pk * lpj[l];
          }
        }
      }
      free(L);
      free(LP);
    } else {
      double *x = malloc(dim * sizeof(double));
      if (!x) return ps_fail(m, PS_ENOMEM, "out of memory building the Hessian");
      for (size_t i = 0; i < d->n; i++) {
        const double *pa = f->phi + (size_t)d->winner[i] * dim, *pb = f->phi + (size_t)d->loser[i] * dim;
        for (size_t k = 0; k < dim; k++) x[k] = pa[k] - pb[k];
        for (size_t k = 0; k < dim; k++) {
          double t = w[i] * x[k];
          for (size_t l = k; l < dim; l++) H[k * dim + l] += t * x[l];
        }
      }
      free(x);
    }
    for (size_t k = 0; k < dim; k++)
      for (size_t l = 0; l < k; l++) H[k * dim + l] = H[l * dim + k];
  }
  for (size_t k = 0; k < dim; k++) H[k * dim + k] += diag_add;
  return PS_OK;
}

int bt_covariance(const bt_result *res, const pref_features *f, double *cov, ps_msg *m) {
  size_t dim = res->d;
  if (!res->hessian) return ps_fail(m, PS_EINVAL, "bt_covariance: the fit kept no Hessian");
  int items = f->phi == NULL;
  ps_advise_large(cov, dim * dim * sizeof(double));
  if (items) {
    double J = 1.0 / (double)dim;
    for (size_t i = 0; i < dim * dim; i++) cov[i] = res->hessian[i] + J;
  } else {
    memcpy(cov, res->hessian, dim * dim * sizeof(double));
  }
  gsl_matrix_view A = gsl_matrix_view_array(cov, dim, dim);
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int s = gsl_linalg_cholesky_decomp1(&A.matrix);
  if (s == GSL_SUCCESS) s = gsl_linalg_cholesky_invert(&A.matrix);
  gsl_set_error_handler(old);
  if (s != GSL_SUCCESS)
    return ps_fail(m, PS_ESINGULAR,
                   "the Hessian is singular: the comparisons do not determine every parameter");
  if (items) {
    /* centre rows and columns: P M P with P = I - 11^T/m.  For lambda = 0 this is
     * M - 11^T/m (M 1 = 1); for lambda > 0 it is the covariance of the centred
     * scores, which every L2 optimum has. */
    double grand = 0;
    double *mean = malloc(dim * sizeof(double));
    if (!mean) return ps_fail(m, PS_ENOMEM, "out of memory");
    /* row sums, each in column order, four rows at a time: four independent chains
     * of additions instead of one (the latency of one add per element was the cost) */
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
      const double *c0 = cov + i * dim, *c1 = c0 + dim, *c2 = c1 + dim, *c3 = c2 + dim;
      double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (size_t j = 0; j < dim; j++) a0 += c0[j], a1 += c1[j], a2 += c2[j], a3 += c3[j];
      mean[i] = a0 / (double)dim;
      mean[i + 1] = a1 / (double)dim;
      mean[i + 2] = a2 / (double)dim;
      mean[i + 3] = a3 / (double)dim;
    }
    for (; i < dim; i++) {
      double acc = 0;
      for (size_t j = 0; j < dim; j++) acc += cov[i * dim + j];
      mean[i] = acc / (double)dim;
    }
    for (i = 0; i < dim; i++) grand += mean[i];
    grand /= (double)dim;
    for (i = 0; i < dim; i++)
      for (size_t j = 0; j < dim; j++) cov[i * dim + j] += grand - mean[i] - mean[j];
    free(mean);
  }
  return PS_OK;
}

int bt_standard_errors(const double *H, size_t dim, const pref_features *f, double *se, ps_msg *m) {
  double *cov = malloc((dim ? dim * dim : 1) * sizeof *cov);
  if (!cov) return ps_fail(m, PS_ENOMEM, "out of memory");
  pref_features items = {.n_items = dim, .d = dim, .n_contexts = 1};
  bt_result view = {.d = dim, .hessian = (double *)H};
  int s = bt_covariance(&view, f && f->phi ? f : &items, cov, m);
  for (size_t k = 0; s == PS_OK && k < dim; k++) se[k] = sqrt(fmax(cov[k * dim + k], 0));
  free(cov);
  return s;
}

double bt_objective(const pref_data *d, const pref_features *f, const bt_options *o,
                    const double *theta, double *grad, double *D, double *loglik) {
  if (o->firth) return bt_firth_objective(d, f, o, theta, grad, D, loglik);
  bt_work w = {.d = d, .f = f, .n_items = f->n_items, .dim = f->d};
  w.s = malloc(f->n_items * sizeof(double));
  w.a = malloc(f->n_items * sizeof(double));
  double v = NAN;
  if (w.s && w.a) v = eval(&w, o->link, o->l2, theta, grad, D, loglik);
  free(w.s);
  free(w.a);
  return v;
}

/* ----------------------------------------------------------------- fit */

static int check_input(const pref_data *d, const pref_features *f, const bt_options *o, ps_msg *m) {
  if (!(o->l2 >= 0) || !isfinite(o->l2)) return ps_fail(m, PS_EINVAL, "l2 must be a finite number >= 0");
  if (!(o->tol > 0)) return ps_fail(m, PS_EINVAL, "tol must be > 0");
  if (f->n_items != d->n_items)
    return ps_fail(m, PS_EINVAL, "data has %zu items but the features describe %zu", d->n_items, f->n_items);
  if (!f->phi && f->d != f->n_items)
    return ps_fail(m, PS_EINVAL, "item model: dimension %zu must equal the item count %zu", f->d, f->n_items);
  if (d->n == 0) return ps_fail(m, PS_EINVAL, "no comparisons to fit");
  int s = pref_data_check(d, m);
  if (s != PS_OK) return s;
  if (f->phi)
    for (size_t i = 0; i < f->n_items * f->d; i++)
      if (!isfinite(f->phi[i])) return ps_fail(m, PS_EDOM, "feature %zu of item %zu is not finite", i % f->d, i / f->d);
  return PS_OK;
}

int bt_fit(const pref_data *d, const pref_features *f, const bt_options *o, bt_result *res, ps_msg *m) {
  memset(res, 0, sizeof *res);
  int status = check_input(d, f, o, m);
  if (status != PS_OK) {
    res->status = status;
    return status;
  }
  if (o->firth) return bt_firth_fit(d, f, o, res, m); /* bt_firth.c: a separate path */
  size_t dim = f->d, N = f->n_items;
  int items = f->phi == NULL;
  res->d = dim;
  res->theta = calloc(dim, sizeof(double));
  bt_work w = {.d = d, .f = f, .n_items = N, .dim = dim};
  w.s = malloc(N * sizeof(double));
  w.a = malloc(N * sizeof(double));
  w.u = malloc(N * sizeof(double));
  double *g = malloc(dim * sizeof(double)), *p = malloc(dim * sizeof(double));
  double *r = malloc(dim * sizeof(double)), *z = malloc(dim * sizeof(double));
  double *q = malloc(dim * sizeof(double)), *Hp = malloc(dim * sizeof(double));
  double *trial = malloc(dim * sizeof(double));
  float *D = ps_alloc_large(d->n * sizeof(float));
  double *prec = malloc(dim * sizeof(double));
  double *up = malloc(N * sizeof(double)), *st = malloc(N * sizeof(double));
  double *Dd = NULL; /* double curvature weights for the exact Hessian, at the end */
  if (!res->theta || !w.s || !w.a || !w.u || !g || !p || !r || !z || !q || !Hp || !trial || !D || !prec || !up ||
      !st) {
    status = ps_fail(m, PS_ENOMEM, "out of memory fitting BT (%zu comparisons, dimension %zu)", d->n, dim);
    goto done;
  }
  if (items && o->l2 == 0) {
    status = bt_check_items(d, NULL, m);
    if (status != PS_OK) goto done;
  }
  double W = pref_data_weight(d);
  double tol_abs = o->tol * (W > 1 ? W : 1);
  double *theta = res->theta, loglik = 0, fval = NAN;
  if (o->theta0) {
    /* warm start (an EM M-step from the previous component): any finite point is a
     * valid Newton start; item scores are centred as every iterate is */
    for (size_t k = 0; k < dim; k++) {
      if (!isfinite(o->theta0[k])) {
        status = ps_fail(m, PS_EDOM, "warm start theta0[%zu] is not finite", k);
        goto done;
      }
      theta[k] = o->theta0[k];
    }
    if (items) centre(theta, dim);
  }
  /* s = Phi theta (w.s), a = gradient scatter (w.a), D, g = Phi^T a + l2 theta */
  to_items(&w, theta, w.s);
  size_t nonpos = grad_pass(&w, o->link, w.s, w.a, D);
  from_items(&w, w.a, g);
  for (size_t k = 0; k < dim; k++) g[k] += o->l2 * theta[k];
  double gnorm = sqrt(dot(g, g, dim));
  status = PS_ENOCONV;
  int it;
  for (it = 0; it < o->max_iter; it++) {
    if (!isfinite(gnorm)) {
      status = ps_fail(m, PS_EDOM, "the gradient became non-finite at iteration %d", it);
      goto done;
    }
    if (gnorm <= tol_abs) {
      status = PS_OK;
      break;
    }
    /* preconditioner: Jacobi for items, identity for features */
    if (items) {
      memset(prec, 0, dim * sizeof(double));
      for (size_t i = 0; i < d->n; i++) {
        prec[d->winner[i]] += D[i];
        prec[d->loser[i]] += D[i];
      }
      for (size_t k = 0; k < dim; k++) prec[k] = 1.0 / (prec[k] + o->l2 + 1e-300);
    } else {
      for (size_t k = 0; k < dim; k++) prec[k] = 1.0;
    }
    /* CG on H p = -g to relative residual eta (Eisenstat-Walker style forcing).  For
     * items H is singular along 1 (a common shift): the residual and the preconditioned
     * residual are kept in the sum-zero subspace, where H is positive definite.  Without
     * the projection, near the optimum the rounding residue of g along 1 (relative
     * 1e-6 of a 1e-11 gradient) cannot be reduced, so CG's step sizes blew up along the
     * null direction and the polluted step threw theta away (found with tol = 1e-13 on
     * fractional counts: it cycled from the optimum back to near 0 every 4 steps). */
    double eta = fmin(0.1, sqrt(gnorm / (W > 1 ? W : 1)));
    memset(p, 0, dim * sizeof(double));
    for (size_t k = 0; k < dim; k++) r[k] = -g[k];
    if (items) centre(r, dim);
    for (size_t k = 0; k < dim; k++) z[k] = prec[k] * r[k];
    if (items) centre(z, dim);
    memcpy(q, z, dim * sizeof(double));
    double rz = dot(r, z, dim);
    int maxcg = (int)(dim < 500 ? 2 * dim + 10 : 1000);
    for (int cg = 0; cg < maxcg; cg++) {
      hess_vec(&w, D, o->l2, q, Hp);
      res->cg_iterations++;
      double qHq = dot(q, Hp, dim);
      if (!(qHq > 0)) break; /* flat direction: the step so far is still a descent step */
      double alpha = rz / qHq;
      for (size_t k = 0; k < dim; k++) {
        p[k] += alpha * q[k];
        r[k] -= alpha * Hp[k];
      }
      if (items) centre(r, dim);
      if (sqrt(dot(r, r, dim)) <= eta * gnorm) break;
      for (size_t k = 0; k < dim; k++) z[k] = prec[k] * r[k];
      if (items) centre(z, dim);
      double rz_new = dot(r, z, dim);
      double beta = rz_new / rz;
      rz = rz_new;
      for (size_t k = 0; k < dim; k++) q[k] = z[k] + beta * q[k];
    }
    if (dot(p, p, dim) == 0)
      for (size_t k = 0; k < dim; k++) p[k] = -prec[k] * g[k];
    /* Line search on phi(t) = f(theta + t p), convex, through its derivative only:
     * phi'(t) = sum_items a_t u + l2 (theta + t p).p with u = Phi p, so each trial is
     * one exp-only pass whose scatter and curvature are exactly what the next Newton
     * step needs.  phi'(t) <= 0 means t is at or before the line minimum: accepted
     * (f decreased).  Otherwise regula falsi towards the root of phi'.  At the
     * rounding floor near the optimum, where phi'(1)'s sign is noise, the full step
     * is kept when it does not overshoot by more than |phi'(0)| and shrinks the
     * gradient. */
    to_items(&w, p, up);
    double d0 = dot(g, p, dim), t = 1.0, pp = dot(p, p, dim), thp = dot(theta, p, dim);
    int accepted = 0;
    for (int ls = 0; ls < 40 && d0 < 0; ls++) {
      for (size_t i = 0; i < N; i++) st[i] = w.s[i] + t * up[i];
      nonpos = grad_pass(&w, o->link, st, w.a, D);
      double dphi = dot(w.a, up, N) + o->l2 * (thp + t * pp);
      if (!isfinite(dphi)) break;
      if (dphi <= 1e-6 * -d0) {
        accepted = 1;
        break;
      }
      if (ls == 0 && dphi <= -d0) {
        from_items(&w, w.a, trial);
        for (size_t k = 0; k < dim; k++) trial[k] += o->l2 * (theta[k] + p[k]);
        if (dot(trial, trial, dim) < gnorm * gnorm) {
          accepted = 1;
          break;
        }
      }
      double tn = t * -d0 / (dphi - d0);
      t = fmin(fmax(tn, 0.1 * t), 0.9 * t);
    }
    if (!accepted) {
      /* no descent is measurable at double precision: stationary up to rounding */
      if (gnorm <= 1e3 * tol_abs) status = PS_OK;
      /* restore a, D at theta for the Hessian below */
      nonpos = grad_pass(&w, o->link, w.s, w.a, D);
      break;
    }
    for (size_t k = 0; k < dim; k++) theta[k] += t * p[k];
    memcpy(w.s, st, N * sizeof(double));
    if (items) {
      centre(theta, dim); /* a shift of every score: margins, a and D are unchanged */
      memcpy(w.s, theta, N * sizeof(double));
    }
    from_items(&w, w.a, g);
    for (size_t k = 0; k < dim; k++) g[k] += o->l2 * theta[k];
    gnorm = sqrt(dot(g, g, dim));
    /* separation certificate: every margin positive with no penalty means the
     * likelihood keeps increasing along theta: no MLE */
    if (o->l2 == 0 && !items && nonpos == 0) {
      status = ps_fail(m, PS_ENOMLE,
                       "the comparisons are separable: a direction orders every pair as observed, so "
                       "the likelihood has no maximum (add l2 > 0)");
      it++;
      goto done_iter;
    }
  }
done_iter:;
  /* the one pass with logs; when the exact Hessian follows it also gives the double
   * curvature weights that the Hessian wants (D above is single precision) */
  int hessian = status == PS_OK && (o->want_hessian || (o->l2 == 0 && !items));
  if (hessian) Dd = ps_alloc_large(d->n * sizeof(double));
  fval = eval(&w, o->link, o->l2, theta, NULL, Dd, &loglik);
  res->iterations = it;
  res->objective = fval;
  res->loglik = loglik;
  res->grad_norm = gnorm;
  if (status == PS_ENOCONV) {
    double nrm = sqrt(dot(theta, theta, dim));
    if (o->l2 == 0 && !items && nrm > 1e3)
      ps_fail(m, PS_ENOMLE, "no convergence after %d Newton steps with ||theta|| = %.3g growing: the "
                            "comparisons look (quasi-)separable, so no MLE exists (add l2 > 0)",
              it, nrm), status = PS_ENOMLE;
    else
      ps_fail(m, PS_ENOCONV, "no convergence after %d Newton steps (gradient norm %.3g > %.3g)", it,
              gnorm, tol_abs);
  }
  if (hessian) {
    res->hessian = ps_alloc_large(dim * dim * sizeof(double));
    if (!res->hessian) {
      status = ps_fail(m, PS_ENOMEM, "out of memory for the %zux%zu Hessian", dim, dim);
      goto done;
    }
    if (!Dd) {
      status = ps_fail(m, PS_ENOMEM, "out of memory for the Hessian");
      goto done;
    }
    status = bt_design_hessian(d, f, Dd, o->l2, res->hessian, m);
    if (status == PS_OK && o->l2 == 0 && !items) {
      /* uniqueness: the Hessian must be positive definite */
      double *tmp = ps_alloc_large(dim * dim * sizeof(double));
      if (!tmp) {
        status = ps_fail(m, PS_ENOMEM, "out of memory");
        goto done;
      }
      memcpy(tmp, res->hessian, dim * dim * sizeof(double));
      gsl_matrix_view A = gsl_matrix_view_array(tmp, dim, dim);
      gsl_error_handler_t *old = gsl_set_error_handler_off();
      int cs = gsl_linalg_cholesky_decomp1(&A.matrix);
      gsl_set_error_handler(old);
      double mind = INFINITY, maxd = 0;
      if (cs == GSL_SUCCESS)
        for (size_t k = 0; k < dim; k++) {
          double dk = tmp[k * dim + k];
          mind = fmin(mind, dk);
          maxd = fmax(maxd, dk);
        }
      free(tmp);
      if (cs != GSL_SUCCESS || mind <= 1e-7 * maxd)
        status = ps_fail(m, PS_ESINGULAR,
                         "the comparison differences do not span the %zu-dimensional feature space, so "
                         "the MLE is not unique (add l2 > 0 or more varied comparisons)", dim);
      if (!o->want_hessian) {
        free(res->hessian);
        res->hessian = NULL;
      }
    }
  }
done:
  res->status = status;
  free(Dd);
  free(w.s);
  free(w.a);
  free(w.u);
  free(g);
  free(p);
  free(r);
  free(z);
  free(q);
  free(Hp);
  free(trial);
  free(D);
  free(prec);
  free(up);
  free(st);
  return status;
}
