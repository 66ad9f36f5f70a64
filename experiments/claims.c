/* claims.c — claim evaluation with bootstrap confidence intervals (see claims.h).
 *
 * Bootstrap draws come from the PS_STREAM_BOOTSTRAP stream keyed by the file's
 * master seed and the claim's index, so `prefsim verify` prints the same CIs on
 * every run and machine. */
#include "claims.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/param.h"
#include "../core/rng.h"
#include "experiment.h"

const char *const claim_verdict_names[] = {"PASS", "FAIL", "INCONCLUSIVE"};

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double claims_statistic(const double *x, size_t n, size_t stride, int kind) {
  double buf[4096], *v = n <= 4096 ? buf : malloc(n * sizeof(double));
  if (!v) return NAN;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (isfinite(x[i * stride])) v[k++] = x[i * stride];
  double s = NAN;
  if (k && kind == CLAIM_STAT_MAX) {
    s = v[0];
    for (size_t i = 1; i < k; i++) s = fmax(s, v[i]);
  } else if (k && kind == CLAIM_STAT_RMS) {
    s = 0;
    for (size_t i = 0; i < k; i++) s += v[i] * v[i];
    s = sqrt(s / (double)k);
  } else if (k && (kind == CLAIM_STAT_Q90 || kind == CLAIM_STAT_Q95 || kind == CLAIM_STAT_Q99)) {
    double p = kind == CLAIM_STAT_Q90 ? 0.90 : kind == CLAIM_STAT_Q95 ? 0.95 : 0.99;
    qsort(v, k, sizeof(double), cmp_double);
    double h = (double)(k - 1) * p, fl = floor(h);
    size_t lo = (size_t)fl, hi = lo + 1 < k ? lo + 1 : lo;
    s = v[lo] + (h - fl) * (v[hi] - v[lo]);
  } else if (k && kind == CLAIM_STAT_MEDIAN) {
    qsort(v, k, sizeof(double), cmp_double);
    s = k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
  } else if (k) {
    s = 0;
    for (size_t i = 0; i < k; i++) s += v[i];
    s /= (double)k;
  }
  if (v != buf) free(v);
  return s;
}

/* statistic of replicate values x[idx[0..R-1]] (a bootstrap resample) */
static double stat_resample(const double *x, const size_t *idx, size_t R, int stat, double *scratch) {
  if (!R) return NAN;
  for (size_t i = 0; i < R; i++) scratch[i] = x[idx[i]];
  return claims_statistic(scratch, R, 1, stat);
}

typedef struct {
  size_t n_axes, R;
  const h5store_axis *axes;
  size_t *dims;
} grid;

/* parse "a=v, b=w" into fixed indices (-1 = free) */
static int parse_at(const grid *g, const char *at, long *fixed, char *note, size_t nlen) {
  for (size_t a = 0; a < g->n_axes; a++) fixed[a] = -1;
  if (!at || !*at) return 0;
  char *copy = strdup(at), *save = NULL;
  if (!copy) return -1;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ') tok++;
    char *eq = strchr(tok, '=');
    if (!eq) {
      snprintf(note, nlen, "at: '%s' is not axis=value", tok);
      free(copy);
      return -1;
    }
    *eq = 0;
    char *name = tok, *val = eq + 1;
    for (char *e = eq - 1; e >= name && *e == ' '; e--) *e = 0;
    while (*val == ' ') val++;
    for (char *e = val + strlen(val); e > val && e[-1] == ' ';) *--e = 0;
    size_t a;
    for (a = 0; a < g->n_axes; a++)
      if (!strcmp(g->axes[a].name, name)) break;
    if (a == g->n_axes) {
      snprintf(note, nlen, "at: no axis '%s'", name);
      free(copy);
      return -1;
    }
    if (fixed[a] >= 0) {
      snprintf(note, nlen, "at: axis '%s' is given twice", name);
      free(copy);
      return -1;
    }
    long hit = -1;
    char *end = NULL;
    double num = g->axes[a].labels ? 0 : strtod(val, &end);
    if (!g->axes[a].labels && (end == val || *end)) {
      snprintf(note, nlen, "at: '%s' is not a number for axis '%s'", val, name);
      free(copy);
      return -1;
    }
    for (size_t j = 0; j < g->axes[a].n; j++) {
      if (g->axes[a].labels ? !strcmp(g->axes[a].labels[j], val) : g->axes[a].values[j] == num)
        hit = (long)j;
    }
    if (hit < 0) {
      snprintf(note, nlen, "at: axis '%s' has no value '%s'", name, val);
      free(copy);
      return -1;
    }
    fixed[a] = hit;
  }
  free(copy);
  return 0;
}

static void axis_value_text(const h5store_axis *ax, size_t j, char *buf, size_t len) {
  if (ax->labels)
    snprintf(buf, len, "%s", ax->labels[j]);
  else
    snprintf(buf, len, "%.6g", ax->values[j]);
}

/* offset of grid point idx (without replicate) times R */
static size_t point_offset(const grid *g, const size_t *idx) {
  size_t off = 0;
  for (size_t a = 0; a < g->n_axes; a++) off = off * g->dims[a] + idx[a];
  return off * g->R;
}

static int metric_path(const char *metric, char *path, size_t len) {
  if (!strncmp(metric, "truth/", 6) || !strncmp(metric, "theory/", 7))
    snprintf(path, len, "%s", metric);
  else
    snprintf(path, len, "metrics/%s", metric);
  return 0;
}

/* The tail probability of the expanded percentile interval (Hesterberg 2015, "What
 * teachers should know about the bootstrap", Am. Stat. 69(4) §3.4; docs/theory.md §5.1):
 * the plain percentile interval of a mean is too narrow by about sqrt((R-1)/R) and
 * ignores the t-distribution's tails, so at R = 50 replicates its 95% intervals covered
 * 93.2-93.6% in tests/test_claims.c.  Using the quantiles
 *   alpha'/2 = Phi(-sqrt(R/(R-1)) t_{R-1, 1-alpha/2})
 * instead brings the coverage to the nominal level. */
#define CLAIM_MAX_BOOT 1e6 /* the `bootstrap` key's own maximum */

static double expanded_tail(double level, size_t R) {
  double a = (1 - level) / 2;
  if (R < 2) return a;
  double t = gsl_cdf_tdist_Qinv(a, (double)(R - 1));
  return gsl_cdf_ugaussian_P(-sqrt((double)R / (double)(R - 1)) * t);
}

static double percentile(double *v, size_t n, double q) {
  gsl_sort(v, 1, n);
  return gsl_stats_quantile_from_sorted_data(v, 1, n, q);
}

/* Evaluate one claim over one slice (fixed indices for every axis except `free_axis`,
 * which is -1 for point claims). */
static void eval_row(const grid *g, const double *A, const double *B, int diff, const char *expect, long against,
                     const size_t *idx_base, int stat, size_t nboot, double level, uint64_t seed,
                     uint64_t claim_index, uint64_t row_index, size_t max_missing, claim_row *row) {
  size_t R = g->R;
  size_t npts = against >= 0 ? g->dims[against] : 1;
  const double tail = expanded_tail(level, R);
  /* `bootstrap` counts resamples for a 95% interval; a narrower tail (a higher level,
   * or a family's share of alpha) gets proportionally more, so that as many resamples
   * lie beyond each end of the interval as at 95% (its percentiles are as precise), up to
   * CLAIM_MAX_BOOT: with a handful of replicates the t tail makes the expanded tail so small
   * (R = 4 at a family level of 99.4%: ~1e-17) that the count would not fit in memory, and
   * such an interval's end is the extreme resample anyway */
  if (level > 0.95) {
    double want = ceil((double)nboot * expanded_tail(0.95, R) / tail);
    nboot = want < CLAIM_MAX_BOOT ? (size_t)want : (size_t)CLAIM_MAX_BOOT;
  }
  if (npts > EXP_MAX_AXIS_VALUES) {
    snprintf(row->note, sizeof row->note, "axis has more than %d values", EXP_MAX_AXIS_VALUES);
    return;
  }
  size_t *idx = malloc(g->n_axes * sizeof(size_t) + 1), *bidx = malloc(R * sizeof(size_t));
  double *xs = malloc(npts * sizeof(double)), *ys = malloc(npts * sizeof(double));
  double *scratch = malloc(R * sizeof(double)), *boot = malloc(nboot * sizeof(double));
  size_t *offs = malloc(npts * sizeof(size_t));
  gsl_rng *rng = ps_rng_alloc();
  if (!idx || !bidx || !xs || !ys || !scratch || !boot || !offs || !rng) {
    snprintf(row->note, sizeof row->note, "out of memory");
    goto done;
  }
  memcpy(idx, idx_base, g->n_axes * sizeof(size_t));
  row->n_used = row->n_missing = 0;
  size_t min_point = R;
  for (size_t j = 0; j < npts; j++) {
    if (against >= 0) idx[against] = j;
    offs[j] = point_offset(g, idx);
    if (against >= 0) xs[j] = g->axes[against].values[j];
    size_t here = 0;
    for (size_t r = 0; r < R; r++) {
      int fin = isfinite(A[offs[j] + r]) && (!B || isfinite(B[offs[j] + r]));
      if (fin) row->n_used++, here++;
      else row->n_missing++;
    }
    if (here < min_point) min_point = here;
  }
  /* a claim is evidence only when its replicates are there: failed fits and
   * unfinished cells are NaN, and dropping them silently could turn a FAIL into a
   * PASS measured on a handful of survivors */
  if (row->n_missing > max_missing) {
    snprintf(row->note, sizeof row->note,
             "%zu of %zu values are missing (failed fits or unfinished cells); allowed: max_missing = %zu",
             row->n_missing, row->n_missing + row->n_used, max_missing);
    goto done;
  }
  if (min_point < 2) {
    snprintf(row->note, sizeof row->note, "a point has %zu finite replicate value(s); a CI needs at least 2",
             min_point);
    goto done;
  }
  if (!strcmp(expect, "exact")) {
    /* a deterministic identity: every finite replicate within tol of value */
    double worst = 0;
    for (size_t j = 0; j < npts; j++)
      for (size_t r = 0; r < R; r++) {
        double v = A[offs[j] + r];
        if (isfinite(v)) worst = fmax(worst, fabs(v - row->value));
      }
    row->measured = row->lo = row->hi = worst;
    row->verdict = worst <= row->tol ? CLAIM_PASS : CLAIM_FAIL;
    row->pass = row->verdict == CLAIM_PASS;
    row->contains_value = -1;
    if (!row->pass) snprintf(row->note, sizeof row->note, "a replicate is %.3g from %.6g", worst, row->value);
    goto done;
  }
  int is_slope = !strcmp(expect, "slope");
  int is_order = !strcmp(expect, "increasing") || !strcmp(expect, "decreasing");
  int incr = !strcmp(expect, "increasing");
  /* the statistic for a given resample (identity when bidx is the identity) */
#define STAT(J, RES) stat_resample(A + offs[J], (RES), R, stat, scratch)
  /* an ordering of a paired comparison: statistic(A) - statistic(B), or their ratio, on
   * the same resample */
#define PAIRED(J, RES)                                                                                               \
  (B ? (diff ? STAT(J, RES) - stat_resample(B + offs[J], (RES), R, stat, scratch)                                    \
             : STAT(J, RES) / stat_resample(B + offs[J], (RES), R, stat, scratch))                                   \
     : STAT(J, RES))
  for (size_t r = 0; r < R; r++) bidx[r] = r;
  double point = NAN;
  if (is_order) {
    /* the smallest step along the axis (largest for decreasing) of the paired
     * statistic: every consecutive difference must have the sign */
    if (npts < 2) {
      snprintf(row->note, sizeof row->note, "an ordering needs at least 2 values of the axis");
      goto done;
    }
    ps_rng_reset(rng, seed, PS_STREAM_BOOTSTRAP, claim_index, row_index, 0);
    size_t nb = 0;
    for (size_t b = 0; b <= nboot; b++) {
      if (b > 0)
        for (size_t r = 0; r < R; r++) bidx[r] = gsl_rng_uniform_int(rng, R);
      double ext = incr ? INFINITY : -INFINITY, prev = PAIRED(0, bidx);
      for (size_t j = 1; j < npts; j++) {
        double cur = PAIRED(j, bidx), d = cur - prev;
        ext = incr ? fmin(ext, d) : fmax(ext, d);
        prev = cur;
      }
      if (b == 0) point = ext;
      else if (isfinite(ext)) boot[nb++] = ext;
    }
    row->measured = point;
    if (!isfinite(point) || nb < nboot / 2) {
      snprintf(row->note, sizeof row->note, "no finite values along the axis");
      goto done;
    }
    row->lo = percentile(boot, nb, tail);
    row->hi = percentile(boot, nb, 1 - tail);
  } else if (is_slope) {
    size_t k = 0;
    for (size_t j = 0; j < npts; j++) {
      double s = STAT(j, bidx);
      if (!(s > 0) || !(xs[j] > 0)) {
        snprintf(row->note, sizeof row->note, "slope needs positive axis values and statistics (point %zu)", j);
        goto done;
      }
      ys[j] = log(s);
      k++;
    }
    double lx[EXP_MAX_AXIS_VALUES];
    for (size_t j = 0; j < npts; j++) lx[j] = log(xs[j]);
    {
      /* OLS slope of log statistic on log axis */
      double mx = 0, my = 0;
      for (size_t j = 0; j < npts; j++) mx += lx[j], my += ys[j];
      mx /= (double)npts;
      my /= (double)npts;
      double sxy = 0, sxx = 0;
      for (size_t j = 0; j < npts; j++) sxy += (lx[j] - mx) * (ys[j] - my), sxx += (lx[j] - mx) * (lx[j] - mx);
      point = sxx > 0 ? sxy / sxx : NAN;
    }
    ps_rng_reset(rng, seed, PS_STREAM_BOOTSTRAP, claim_index, row_index, 0);
    size_t nb = 0;
    for (size_t b = 0; b < nboot; b++) {
      for (size_t r = 0; r < R; r++) bidx[r] = gsl_rng_uniform_int(rng, R);
      double mx = 0, my = 0, ok = 1;
      for (size_t j = 0; j < npts; j++) {
        double s = STAT(j, bidx);
        if (!(s > 0)) ok = 0;
        ys[j] = ok ? log(s) : 0;
        mx += lx[j];
        my += ys[j];
      }
      if (!ok) continue;
      mx /= (double)npts;
      my /= (double)npts;
      double sxy = 0, sxx = 0;
      for (size_t j = 0; j < npts; j++) sxy += (lx[j] - mx) * (ys[j] - my), sxx += (lx[j] - mx) * (lx[j] - mx);
      boot[nb++] = sxy / sxx;
    }
    if (npts < 2) {
      snprintf(row->note, sizeof row->note, "slope needs at least 2 values of the axis");
      goto done;
    }
    row->measured = point;
    if (nb < nboot / 2) {
      snprintf(row->note, sizeof row->note, "too many bootstrap resamples had no finite statistic");
      goto done;
    }
    row->lo = percentile(boot, nb, tail);
    row->hi = percentile(boot, nb, 1 - tail);
  } else {
    int ratio = B != NULL; /* ratio, or below/above applied to metric / other */
    double sa = STAT(0, bidx), sb = ratio ? stat_resample(B + offs[0], bidx, R, stat, scratch) : diff ? 0 : 1;
    point = diff ? sa - sb : sa / sb;
    ps_rng_reset(rng, seed, PS_STREAM_BOOTSTRAP, claim_index, row_index, 0);
    size_t nb = 0;
    for (size_t b = 0; b < nboot; b++) {
      for (size_t r = 0; r < R; r++) bidx[r] = gsl_rng_uniform_int(rng, R);
      double a = STAT(0, bidx), c = ratio ? stat_resample(B + offs[0], bidx, R, stat, scratch) : diff ? 0 : 1;
      double v = diff ? a - c : a / c;
      if (isfinite(v)) boot[nb++] = v;
    }
    row->measured = point;
    if (!isfinite(point) || nb < nboot / 2) {
      snprintf(row->note, sizeof row->note, "no finite values at this point");
      goto done;
    }
    row->lo = percentile(boot, nb, tail);
    row->hi = percentile(boot, nb, 1 - tail);
  }
#undef STAT
#undef PAIRED
  claims_decide(row);
done:
  free(idx);
  free(bidx);
  free(xs);
  free(ys);
  free(scratch);
  free(boot);
  free(offs);
  if (rng) gsl_rng_free(rng);
}

void claims_decide(claim_row *row) {
  const char *ex = row->expect;
  double lo = row->lo, hi = row->hi, v = row->value;
  row->contains_value = -1;
  if (!(lo <= hi)) {
    row->verdict = CLAIM_FAIL;
  } else if (!strcmp(ex, "increasing") || !strcmp(ex, "above")) {
    double b = !strcmp(ex, "above") ? v : 0;
    row->verdict = lo > b ? CLAIM_PASS : hi < b ? CLAIM_FAIL : CLAIM_INCONCLUSIVE;
  } else if (!strcmp(ex, "decreasing") || !strcmp(ex, "below")) {
    double b = !strcmp(ex, "below") ? v : 0;
    row->verdict = hi < b ? CLAIM_PASS : lo > b ? CLAIM_FAIL : CLAIM_INCONCLUSIVE;
  } else {
    /* a band claim: [v - tol, v + tol] against the alternative */
    double blo = v - row->tol, bhi = v + row->tol, bias = row->bias > 0 ? row->bias : 0;
    row->contains_value = lo <= v && v <= hi;
    int meets_value = hi >= v - bias && lo <= v + bias;
    if (hi < blo || lo > bhi) {
      row->verdict = CLAIM_FAIL;
      if (!row->note[0])
        snprintf(row->note, sizeof row->note, "the CI lies outside value +- tol%s",
                 isfinite(row->alternative) && lo <= row->alternative && row->alternative <= hi
                     ? " and contains the alternative"
                     : "");
    } else if (lo >= blo && hi <= bhi) {
      row->verdict = meets_value ? CLAIM_PASS : CLAIM_FAIL;
      if (!meets_value && !row->note[0])
        snprintf(row->note, sizeof row->note,
                 "the CI excludes the theoretical value%s: a real departure, or a finite-sample bias to derive",
                 bias > 0 ? " by more than the stated bias" : "");
    } else {
      row->verdict = CLAIM_INCONCLUSIVE;
      if (!row->note[0]) snprintf(row->note, sizeof row->note, "the CI straddles the edge of value +- tol: more replicates");
    }
  }
  row->pass = row->verdict == CLAIM_PASS;
}

/* The rows a claim will have: one per combination of its free axes (those neither
 * fixed by `at` nor the slope's or ordering's own axis); 0 for an exact check, which has
 * no interval; 1 for a claim that cannot be evaluated (it becomes one failing row).
 * fixed is scratch of n_axes entries. */
static size_t claim_row_count(const grid *g, const cfg *config, const char *sec, long *fixed) {
  const char *expect = cfg_get(config, sec, "expect"), *against = cfg_get(config, sec, "against");
  char note[256];
  if (expect && !strcmp(expect, "exact")) return 0;
  if (parse_at(g, cfg_get(config, sec, "at"), fixed, note, sizeof note)) return 1;
  int ordering = expect && (!strcmp(expect, "increasing") || !strcmp(expect, "decreasing"));
  if (expect && (!strcmp(expect, "slope") || ordering)) {
    long ag = -1;
    for (size_t a = 0; a < g->n_axes; a++)
      if (against && !strcmp(g->axes[a].name, against)) ag = (long)a;
    if (ag < 0 || fixed[ag] >= 0 || (g->axes[ag].labels && !ordering)) return 1;
    fixed[ag] = -2;
  }
  size_t k = 1;
  for (size_t a = 0; a < g->n_axes; a++)
    if (fixed[a] == -1) k *= g->dims[a];
  return k;
}

/* A claim's family (docs/theory.md §5.1): the rows whose verdicts are read together, so
 * that a claim that holds FAILs somewhere among them with probability at most
 * alpha = 1 - level.  family = claim (the default): the claim's own rows; family = NAME:
 * the rows of every claim naming NAME; family = row: each row alone.  A family of k rows
 * gives each row's interval the level 1 - alpha/k (Bonferroni). */
static size_t claim_family_rows(const grid *g, const cfg *config, const char *sec, long *fixed) {
  const char *fam = cfg_get(config, sec, "family");
  size_t own = claim_row_count(g, config, sec, fixed);
  if (!fam || !*fam || !strcmp(fam, "claim") || own == 0) return own;
  if (!strcmp(fam, "row")) return 1;
  size_t k = 0;
  for (size_t i = 0; i < cfg_size(config); i++) {
    const cfg_entry *e = cfg_at(config, i);
    if (strncmp(e->section, "claim.", 6) || strcmp(e->key, "family") || strcmp(e->value, fam)) continue;
    k += claim_row_count(g, config, e->section, fixed);
  }
  return k ? k : own;
}

static int push_row(claim_row **rows, size_t *n, size_t *cap, const claim_row *r) {
  if (*n == *cap) {
    size_t c = *cap ? 2 * *cap : 16;
    claim_row *nr = realloc(*rows, c * sizeof *nr);
    if (!nr) return -1;
    *rows = nr;
    *cap = c;
  }
  (*rows)[(*n)++] = *r;
  return 0;
}

static int read_file_array(void *ctx, const char *path, double **out, ps_msg *m) {
  return h5read_array((const h5read *)ctx, path, out, m);
}

int claims_evaluate(const h5read *r, const cfg *config, claim_row **rows_out, size_t *n_out, ps_msg *m) {
  size_t na = h5read_n_axes(r);
  h5store_axis *axes = calloc(na + 1, sizeof *axes);
  if (!axes) return ps_fail(m, PS_ENOMEM, "out of memory evaluating claims");
  for (size_t a = 0; a < na; a++) axes[a] = *h5read_axis(r, a);
  const char *seed_text = h5read_attr(r, "master_seed");
  claim_source src = {.n_axes = na,
                      .axes = axes,
                      .R = h5read_n_replicates(r),
                      .seed = seed_text ? strtoull(seed_text, NULL, 10) : 0,
                      .array = read_file_array,
                      .ctx = (void *)r};
  int s = claims_evaluate_source(&src, config, rows_out, n_out, m);
  free(axes);
  return s;
}

int claims_evaluate_source(const claim_source *src, const cfg *config, claim_row **rows_out, size_t *n_out,
                           ps_msg *m) {
  claim_row *rows = NULL;
  size_t n = 0, cap = 0, ncell = src->R;
  grid g = {.n_axes = src->n_axes, .R = src->R};
  g.dims = calloc(g.n_axes + 1, sizeof(size_t));
  long *fixed = calloc(g.n_axes + 1, sizeof(long));
  size_t *idx = calloc(g.n_axes + 1, sizeof(size_t));
  if (!g.dims || !fixed || !idx) goto oom;
  for (size_t a = 0; a < g.n_axes; a++) {
    g.dims[a] = src->axes[a].n;
    ncell *= g.dims[a];
  }
  g.axes = src->axes;
  uint64_t seed = src->seed;
  uint64_t claim_index = 0;
  for (size_t i = 0; i < cfg_size(config); i++) {
    const cfg_entry *e = cfg_at(config, i);
    if (strncmp(e->section, "claim.", 6) || strcmp(e->key, "metric")) continue;
    const char *sec = e->section;
    claim_index++;
    claim_row base;
    memset(&base, 0, sizeof base);
    snprintf(base.claim, sizeof base.claim, "%s", sec + 6);
    const char *expect = cfg_get(config, sec, "expect");
    const char *against = cfg_get(config, sec, "against");
    const char *other = cfg_get(config, sec, "other");
    const char *at = cfg_get(config, sec, "at");
    snprintf(base.expect, sizeof base.expect, "%s", expect ? expect : "?");
    base.value = cfg_get(config, sec, "value") ? strtod(cfg_get(config, sec, "value"), NULL) : NAN;
    base.tol = cfg_get(config, sec, "tol") ? strtod(cfg_get(config, sec, "tol"), NULL) : 0;
    base.alternative = cfg_get(config, sec, "alternative") ? strtod(cfg_get(config, sec, "alternative"), NULL) : NAN;
    base.bias = cfg_get(config, sec, "bias") ? strtod(cfg_get(config, sec, "bias"), NULL) : 0;
    base.verdict = CLAIM_FAIL; /* until evaluated: a claim that cannot be evaluated fails */
    base.contains_value = -1;
    base.measured = base.lo = base.hi = NAN;
    const char *st = cfg_get(config, sec, "statistic");
    int stat = !st                  ? CLAIM_STAT_MEAN
               : !strcmp(st, "median") ? CLAIM_STAT_MEDIAN
               : !strcmp(st, "rms")    ? CLAIM_STAT_RMS
               : !strcmp(st, "max")    ? CLAIM_STAT_MAX
               : !strcmp(st, "q90")    ? CLAIM_STAT_Q90
               : !strcmp(st, "q95")    ? CLAIM_STAT_Q95
               : !strcmp(st, "q99")    ? CLAIM_STAT_Q99
                                       : CLAIM_STAT_MEAN;
    double level = cfg_get(config, sec, "level") ? strtod(cfg_get(config, sec, "level"), NULL) : 0.95;
    const char *family = cfg_get(config, sec, "family");
    size_t family_rows = claim_family_rows(&g, config, sec, fixed), own_rows = claim_row_count(&g, config, sec, fixed);
    double row_level = family_rows > 1 ? 1 - (1 - level) / (double)family_rows : level;
    base.level = row_level;
    base.family_rows = family_rows;
    size_t nboot = cfg_get(config, sec, "bootstrap") ? (size_t)strtod(cfg_get(config, sec, "bootstrap"), NULL) : 2000;
    size_t max_missing =
        cfg_get(config, sec, "max_missing") ? (size_t)strtod(cfg_get(config, sec, "max_missing"), NULL) : 0;
    char path[512];
    double *A = NULL, *B = NULL;
    ps_msg sub;
    metric_path(e->value, path, sizeof path);
    if (src->array(src->ctx, path, &A, &sub) != PS_OK) {
      snprintf(base.note, sizeof base.note, "%.250s", sub.text);
      if (push_row(&rows, &n, &cap, &base)) goto oom;
      continue;
    }
    int is_ratio = expect && (!strcmp(expect, "ratio") || (other && *other && strcmp(expect, "slope")));
    if (is_ratio) {
      if (!other || !*other) {
        snprintf(base.note, sizeof base.note, "ratio needs 'other = ESTIMATOR/METRIC'");
        free(A);
        if (push_row(&rows, &n, &cap, &base)) goto oom;
        continue;
      }
      metric_path(other, path, sizeof path);
      if (src->array(src->ctx, path, &B, &sub) != PS_OK) {
        snprintf(base.note, sizeof base.note, "%.250s", sub.text);
        free(A);
        if (push_row(&rows, &n, &cap, &base)) goto oom;
        continue;
      }
    }
    if (B) {
      /* a ratio pairs replicates: both values must be there, or neither is used */
      for (size_t k = 0; k < ncell; k++)
        if (!isfinite(A[k]) || !isfinite(B[k])) A[k] = B[k] = NAN;
    }
    if (expect && !strcmp(expect, "slope") && other && *other) {
      snprintf(base.note, sizeof base.note, "slope takes no 'other' (the slope of a ratio is not supported)");
      free(A);
      free(B);
      if (push_row(&rows, &n, &cap, &base)) goto oom;
      continue;
    }
    if (parse_at(&g, at, fixed, base.note, sizeof base.note)) {
      free(A);
      free(B);
      if (push_row(&rows, &n, &cap, &base)) goto oom;
      continue;
    }
    long against_axis = -1;
    int diff = cfg_get(config, sec, "compare") && !strcmp(cfg_get(config, sec, "compare"), "difference");
    /* Paired per-replicate values where the statistic of a combination is not the
     * combination of statistics: an exact check of metric - other (or metric / other)
     * holds replicate by replicate, and the median or max of a difference is the
     * median or max of the paired differences, not max(A) - max(B).  (The mean of a
     * difference and the ratio of two statistics keep their form.) */
    int exact = expect && !strcmp(expect, "exact");
    if (B && (exact || (diff && stat != CLAIM_STAT_MEAN))) {
      for (size_t k = 0; k < ncell; k++) A[k] = diff ? A[k] - B[k] : A[k] / B[k];
      free(B);
      B = NULL;
      diff = 0;
    }
    int ordering = expect && (!strcmp(expect, "increasing") || !strcmp(expect, "decreasing"));
    if (expect && (!strcmp(expect, "slope") || ordering)) {
      for (size_t a = 0; a < g.n_axes; a++)
        if (against && !strcmp(g.axes[a].name, against)) against_axis = (long)a;
      if (against_axis >= 0 && fixed[against_axis] >= 0) {
        snprintf(base.note, sizeof base.note, "slope against '%s' cannot also fix it with at", against);
        free(A);
        if (push_row(&rows, &n, &cap, &base)) goto oom;
        continue;
      }
      if (against_axis < 0 || (g.axes[against_axis].labels && !ordering)) {
        snprintf(base.note, sizeof base.note, "%s: 'against = %s' is not a numeric axis of this file",
                 expect, against ? against : "");
        free(A);
        if (push_row(&rows, &n, &cap, &base)) goto oom;
        continue;
      }
      fixed[against_axis] = -2; /* iterated inside eval_row */
    }
    /* iterate over every combination of the free axes */
    for (size_t a = 0; a < g.n_axes; a++) idx[a] = fixed[a] >= 0 ? (size_t)fixed[a] : 0;
    uint64_t row_index = 0;
    for (;;) {
      claim_row row = base;
      row.slice[0] = 0;
      for (size_t a = 0; a < g.n_axes; a++) {
        if ((long)a == against_axis || g.dims[a] == 1) continue;
        char v[64], part[160];
        axis_value_text(&g.axes[a], idx[a], v, sizeof v);
        snprintf(part, sizeof part, "%s%s=%s", row.slice[0] ? ", " : "", g.axes[a].name, v);
        strncat(row.slice, part, sizeof row.slice - strlen(row.slice) - 1);
      }
      eval_row(&g, A, B, diff, base.expect, against_axis, idx, stat, nboot, row_level, seed, claim_index,
               row_index++, max_missing, &row);
      if (family_rows > 1 || own_rows > 1) {
        /* say which interval was printed: not a 95% one when the family shares alpha */
        size_t len = strlen(row.note);
        if (family_rows > 1)
          snprintf(row.note + len, sizeof row.note - len, "%s%.4g%% CI: Bonferroni over %zu rows%s%s", len ? "; " : "",
                   100 * row_level, family_rows, family && strcmp(family, "claim") ? " of family " : "",
                   family && strcmp(family, "claim") ? family : "");
        else
          snprintf(row.note + len, sizeof row.note - len, "%s%.4g%% CI per row (family = row)", len ? "; " : "",
                   100 * row_level);
      }
      if (push_row(&rows, &n, &cap, &row)) goto oom;
      /* advance odometer over free axes (fixed >= 0 and the slope axis stay) */
      long a;
      for (a = (long)g.n_axes - 1; a >= 0; a--) {
        if (fixed[a] != -1) continue;
        if (++idx[a] < g.dims[a]) break;
        idx[a] = 0;
      }
      if (a < 0) break;
    }
    free(A);
    free(B);
  }
  free(g.dims);
  free(fixed);
  free(idx);
  *rows_out = rows;
  *n_out = n;
  return PS_OK;
oom:
  free(g.dims);
  free(fixed);
  free(idx);
  free(rows);
  return ps_fail(m, PS_ENOMEM, "out of memory evaluating claims");
}
