/* plot.c — TSV export and gnuplot drivers (see plot.h).
 *
 * A figure is a set of [figure] keys (experiment.c's exp_figure_params, one door
 * for the config and the command line).  draw() resolves them against the results
 * file: the series (one per metric and value of the `by` axes), the panels (the
 * `facet` axis), the labels (the metric's long name and units, the axes in words),
 * the scales (log when the data span decades), the intervals (clipped to the
 * metric's declared range, metric_def.lo/hi), the size and a legend placed where no
 * data is.  It writes the data as TSV and a driver that sets everything explicitly,
 * so the driver alone (with style.gp beside it) redraws the figure and can be
 * edited for a paper without prefsim. */
#include "plot.h"

#include <errno.h>
#include <gsl/gsl_cdf.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/param.h"
#include "../results/h5store.h"
#include "../experiments/claims.h"
#include "../experiments/config.h"
#include "../experiments/experiment.h"
#include "../experiments/quantity.h"

#define MAX_METRICS 8
#define MAX_AXES 64
#define FONT_PT 8.0 /* text size of every figure, as printed */

enum { INT_BARS, INT_BAND, INT_NONE };
enum { LEG_AUTO, LEG_INSIDE, LEG_OUTSIDE, LEG_NONE };

typedef struct {
  char name[128];
  char metrics[MAX_METRICS][160];
  size_t n_metrics;
  char x[64], by[256], facet[64], at[512];
  char title[256], xlabel[256], ylabel[256], labels[1024];
  int rate;       /* kind = rate: log-log with a slope reference */
  int xscale_log; /* xscale = log (older key) */
  int logx, logy; /* -1 auto, 0 no, 1 yes */
  int interval, legend;
  double w_cm, h_cm;
  double slope;
} figure;

/* ------------------------------------------------------------ figure keys */

static int parse_size(const char *v, double *w, double *h) {
  if (!strcmp(v, "single")) return *w = 8.5, *h = 6.4, 1;
  if (!strcmp(v, "double")) return *w = 17.8, *h = 8.0, 1;
  char *e;
  double a = strtod(v, &e);
  if (e == v || (*e != 'x' && *e != 'X')) return 0;
  const char *p = e + 1;
  double b = strtod(p, &e);
  if (e == p || *e || !(a >= 3 && a <= 60 && b >= 3 && b <= 60)) return 0;
  *w = a, *h = b;
  return 1;
}

int plot_check_key(const char *key, const char *value, ps_msg *m) {
  const ps_param *p = ps_param_find(exp_figure_params, key);
  if (!p) {
    char list[600] = "";
    for (const ps_param *q = exp_figure_params; q->key; q++)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? " " : "", q->key);
    return ps_fail(m, PS_EINVAL, "unknown figure key '%s'; allowed: %s", key, list);
  }
  ps_msg sub;
  if (ps_param_check(p, value, &sub)) return ps_fail(m, PS_EINVAL, "%s = '%s': %s", key, value, sub.text);
  double w, h;
  if (!strcmp(key, "size") && !parse_size(value, &w, &h))
    return ps_fail(m, PS_EINVAL, "size = '%s'; allowed: single (8.5 cm wide), double (17.8 cm) or WxH in cm, "
                   "each 3 to 60, e.g. 12x8", value);
  return PS_OK;
}

static size_t split_metrics(const char *list, figure *fg) {
  char *copy = strdup(list), *save = NULL;
  fg->n_metrics = 0;
  if (!copy) return 0;
  for (char *t = strtok_r(copy, ",", &save); t && fg->n_metrics < MAX_METRICS; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ') t++;
    char *e = t + strlen(t);
    while (e > t && e[-1] == ' ') *--e = 0;
    if (*t) snprintf(fg->metrics[fg->n_metrics++], sizeof fg->metrics[0], "%s", t);
  }
  free(copy);
  return fg->n_metrics;
}

static int tristate(const char *v) { return !strcmp(v, "yes") ? 1 : !strcmp(v, "no") ? 0 : -1; }

/* one key (already checked) into the figure */
static void fig_set(figure *fg, const char *k, const char *v) {
#define TXT(field) snprintf(fg->field, sizeof fg->field, "%s", v)
  if (!strcmp(k, "metric")) split_metrics(v, fg);
  else if (!strcmp(k, "x")) TXT(x);
  else if (!strcmp(k, "by")) TXT(by);
  else if (!strcmp(k, "facet")) TXT(facet);
  else if (!strcmp(k, "at")) TXT(at);
  else if (!strcmp(k, "title")) TXT(title);
  else if (!strcmp(k, "xlabel")) TXT(xlabel);
  else if (!strcmp(k, "ylabel")) TXT(ylabel);
  else if (!strcmp(k, "labels")) TXT(labels);
  else if (!strcmp(k, "kind")) fg->rate = !strcmp(v, "rate");
  else if (!strcmp(k, "xscale")) fg->xscale_log = !strcmp(v, "log");
  else if (!strcmp(k, "slope")) fg->slope = strtod(v, NULL);
  else if (!strcmp(k, "logx")) fg->logx = tristate(v);
  else if (!strcmp(k, "logy")) fg->logy = tristate(v);
  else if (!strcmp(k, "interval")) fg->interval = !strcmp(v, "band") ? INT_BAND : !strcmp(v, "none") ? INT_NONE : INT_BARS;
  else if (!strcmp(k, "legend"))
    fg->legend = !strcmp(v, "inside") ? LEG_INSIDE : !strcmp(v, "outside") ? LEG_OUTSIDE : !strcmp(v, "none") ? LEG_NONE : LEG_AUTO;
  else if (!strcmp(k, "size")) parse_size(v, &fg->w_cm, &fg->h_cm);
#undef TXT
}

static void fig_defaults(figure *fg, const char *name) {
  memset(fg, 0, sizeof *fg);
  snprintf(fg->name, sizeof fg->name, "%s", name);
  for (const ps_param *p = exp_figure_params; p->key; p++)
    if (p->def) fig_set(fg, p->key, p->def);
}

/* ------------------------------------------------------------ text */

static int write_text(const char *dir, const char *name, const char *text, ps_msg *m) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) return ps_fail(m, PS_EIO, "%s: cannot write (%s)", path, strerror(errno));
  fputs(text, f);
  if (fclose(f)) return ps_fail(m, PS_EIO, "%s: write failed", path);
  return PS_OK;
}

static void gp_quote(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '\n') {
      fputs("\\n", f);
      continue;
    }
    if (*s == '"' || *s == '\\') fputc('\\', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

/* a gnuplot single-quoted string: only ' needs escaping, as '' */
static void gp_squote(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'') fputc('\'', f);
    fputc(*s, f);
  }
  fputc('\'', f);
}

static void put(char *out, size_t n, size_t *k, const char *s) {
  for (; *s && *k + 1 < n; s++) out[(*k)++] = *s;
  out[*k] = 0;
}

/* For cairolatex: text outside $...$ with LaTeX's specials escaped, math verbatim. */
static void to_tex(const char *s, char *out, size_t n) {
  size_t k = 0;
  int math = 0;
  out[0] = 0;
  for (const char *p = s; *p; p++) {
    char c[2] = {*p, 0};
    if (*p == '$') {
      math = !math;
      put(out, n, &k, "$");
      continue;
    }
    if (math || *p == '\n') {
      put(out, n, &k, *p == '\n' ? " " : c);
      continue;
    }
    switch (*p) {
    case '_': put(out, n, &k, "\\_"); break;
    case '%': put(out, n, &k, "\\%"); break;
    case '&': put(out, n, &k, "\\&"); break;
    case '#': put(out, n, &k, "\\#"); break;
    case '{': put(out, n, &k, "\\{"); break;
    case '}': put(out, n, &k, "\\}"); break;
    case '^': put(out, n, &k, "\\textasciicircum{}"); break;
    case '~': put(out, n, &k, "\\textasciitilde{}"); break;
    case '\\': put(out, n, &k, "\\textbackslash{}"); break;
    default: put(out, n, &k, c);
    }
  }
  if (math) put(out, n, &k, "$"); /* an unclosed $ would stop LaTeX */
}

/* For pdf and png: $...$ as plain text — Greek letters and a few symbols as
 * Unicode, braces and other commands dropped ($\hat\beta_{n}$ -> β_n). */
static void to_plain(const char *s, char *out, size_t n) {
  static const char *const sym[][2] = {
      {"alpha", "α"}, {"beta", "β"},   {"gamma", "γ"}, {"delta", "δ"},  {"epsilon", "ε"}, {"varepsilon", "ε"},
      {"eta", "η"},   {"theta", "θ"},  {"kappa", "κ"}, {"lambda", "λ"}, {"mu", "μ"},      {"nu", "ν"},
      {"pi", "π"},    {"rho", "ρ"},    {"sigma", "σ"}, {"tau", "τ"},    {"phi", "φ"},     {"chi", "χ"},
      {"psi", "ψ"},   {"omega", "ω"},  {"Gamma", "Γ"}, {"Delta", "Δ"},  {"Theta", "Θ"},   {"Lambda", "Λ"},
      {"Pi", "Π"},    {"Sigma", "Σ"},  {"Phi", "Φ"},   {"Omega", "Ω"},  {"le", "≤"},      {"leq", "≤"},
      {"ge", "≥"},    {"geq", "≥"},    {"pm", "±"},    {"times", "×"},  {"cdot", "·"},    {"infty", "∞"},
      {"approx", "≈"}, {"propto", "∝"}, {"sqrt", "√"}, {"|", "‖"},      {",", " "},       {";", " "},
      {"quad", " "},  {"to", "→"},     {"ell", "ℓ"},   {"partial", "∂"}, {"sum", "Σ"},    {"in", "∈"}};
  size_t k = 0;
  int math = 0;
  out[0] = 0;
  for (const char *p = s; *p; p++) {
    if (*p == '$') {
      math = !math;
      continue;
    }
    if (!math) {
      char c[2] = {*p, 0};
      put(out, n, &k, c);
      continue;
    }
    if (*p == '{' || *p == '}') continue;
    if (*p == '\\') {
      const char *q = p + 1;
      size_t l = 0;
      if ((q[0] >= 'a' && q[0] <= 'z') || (q[0] >= 'A' && q[0] <= 'Z'))
        while ((q[l] >= 'a' && q[l] <= 'z') || (q[l] >= 'A' && q[l] <= 'Z')) l++;
      else if (q[0])
        l = 1;
      const char *rep = NULL;
      for (size_t i = 0; i < sizeof sym / sizeof sym[0]; i++)
        if (strlen(sym[i][0]) == l && !strncmp(sym[i][0], q, l)) rep = sym[i][1];
      if (rep) put(out, n, &k, rep); /* \mathrm, \hat, \text, ...: dropped, their argument kept */
      p += l;
      if (!*p) break;
      continue;
    }
    char c[2] = {*p, 0};
    put(out, n, &k, c);
  }
}

/* A label as a gnuplot string expression: LaTeX for cairolatex, plain text else. */
static void gp_label(FILE *f, const char *s) {
  char tex[2048], plain[2048];
  to_tex(s, tex, sizeof tex);
  to_plain(s, plain, sizeof plain);
  fprintf(f, "(fmt eq 'cairolatex' ? ");
  gp_quote(f, tex);
  fprintf(f, " : ");
  gp_quote(f, plain);
  fprintf(f, ")");
}

/* Break a label longer than `limit` characters into lines of about equal length, at
 * the spaces nearest the even breaks (labels with math or their own breaks are kept). */
static void wrap_label(char *s, size_t limit) {
  size_t n = strlen(s);
  if (n <= limit || strchr(s, '\n') || strchr(s, '$')) return;
  size_t lines = (n + limit - 1) / limit, from = 0;
  for (size_t l = 1; l < lines; l++) {
    size_t target = n * l / lines, best = 0;
    for (size_t i = from + 1; i + 1 < n; i++)
      if (s[i] == ' ' && (!best || labs((long)i - (long)target) < labs((long)best - (long)target))) best = i;
    if (!best) break;
    s[best] = '\n';
    from = best;
  }
}

/* The words and units of a sweep axis; the axis name when it is not known here. */
static const struct {
  const char *name, *words, *symbol;
} axis_words[] = {
    {"n", "training comparisons n", "n"},
    {"dim", "feature dimension d", "d"},
    {"angle", "angle between the user types (degrees)", "angle"},
    {"minority", "minority share", "minority share"},
    {"ref_temperature", "reference temperature", "reference temperature"},
    {"T", "iterations T", "T"},
    {"shots", "comparisons of the new user (shots)", "shots"},
    {"annotators", "annotators", "annotators"},
    {"careless", "share of careless annotators", "careless share"},
    {"flip", "label flip rate", "flip rate"},
    {"delta", "preference strength delta", "delta"},
    {"kind", "world", "world"},
};

static const char *axis_text(const char *name, int symbol) {
  /* a swept hyperparameter or section key (estimator.hedge.T, world.kind): its key */
  const char *dot = strrchr(name, '.');
  if (dot) {
    for (size_t i = 0; i < sizeof axis_words / sizeof axis_words[0]; i++)
      if (!strcmp(axis_words[i].name, dot + 1)) return symbol ? axis_words[i].symbol : axis_words[i].words;
    return dot + 1;
  }
  for (size_t i = 0; i < sizeof axis_words / sizeof axis_words[0]; i++)
    if (!strcmp(axis_words[i].name, name)) return symbol ? axis_words[i].symbol : axis_words[i].words;
  return name;
}

static void words(const char *s, char *out, size_t n) {
  if (out != s) snprintf(out, n, "%s", s);
  for (char *p = out; *p; p++)
    if (*p == '_') *p = ' ';
}

/* ------------------------------------------------------------ data */

static int is_cellq(const char *metric) { return !strncmp(metric, "truth/", 6) || !strncmp(metric, "theory/", 7); }

static int metric_array_path(const char *metric, char *path, size_t len) {
  if (!strncmp(metric, "truth/", 6) || !strncmp(metric, "theory/", 7))
    snprintf(path, len, "%s", metric);
  else
    snprintf(path, len, "metrics/%s", metric);
  return 0;
}

/* mean, CI half-width and count of the finite values x[0..R-1] */
static void summarise(const double *x, size_t R, double *mean, double *lo, double *hi, size_t *k) {
  double s = 0, s2 = 0;
  size_t n = 0;
  for (size_t r = 0; r < R; r++)
    if (isfinite(x[r])) s += x[r], n++;
  *k = n;
  if (!n) {
    *mean = *lo = *hi = NAN;
    return;
  }
  double mu = s / (double)n;
  for (size_t r = 0; r < R; r++)
    if (isfinite(x[r])) s2 += (x[r] - mu) * (x[r] - mu);
  double half = 0;
  if (n > 1) half = gsl_cdf_tdist_Pinv(0.975, (double)(n - 1)) * sqrt(s2 / (double)(n - 1)) / sqrt((double)n);
  *mean = mu;
  *lo = mu - half;
  *hi = mu + half;
}

/* the declared range of an ESTIMATOR/METRIC (metric_def.lo/hi); 0 when none */
static int metric_range(const char *metric, double *lo, double *hi) {
  const char *slash = strchr(metric, '/');
  if (!slash || !strncmp(metric, "truth/", 6) || !strncmp(metric, "theory/", 7)) return 0;
  long i = metric_find(slash + 1);
  if (i < 0 || !(metric_table[i].lo < metric_table[i].hi)) return 0;
  *lo = metric_table[i].lo, *hi = metric_table[i].hi;
  return 1;
}

static int run_gp(const char *dir, const char *driver, const char *fmt, ps_msg *m) {
  pid_t pid = fork();
  if (pid < 0) return ps_fail(m, PS_EIO, "cannot start gnuplot (fork: %s)", strerror(errno));
  if (pid == 0) {
    if (chdir(dir) != 0) _exit(126);
    char arg[64];
    snprintf(arg, sizeof arg, "fmt='%s'", fmt);
    execlp("gnuplot", "gnuplot", "-e", arg, driver, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  if (waitpid(pid, &st, 0) < 0) return ps_fail(m, PS_EIO, "waiting for gnuplot failed");
  if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
    return ps_fail(m, PS_EIO, "gnuplot is not installed (Debian package gnuplot-nox; run scripts/install-deps.sh)");
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return ps_fail(m, PS_EIO, "gnuplot failed on %s/%s (format %s); run it there to see why", dir, driver, fmt);
  return PS_OK;
}

typedef struct {
  size_t metric, panel, style; /* style: the series' index within its panel */
  double *mu, *lo, *hi, *th;   /* X->n values each; th: theory curve or NULL */
  size_t *k;
  char title[400];
  char tsv[1200], ttsv[1300];
} series;

static void free_series(series *sv, size_t n) {
  for (size_t i = 0; i < n; i++) free(sv[i].mu), free(sv[i].lo), free(sv[i].hi), free(sv[i].th), free(sv[i].k);
  free(sv);
}

static long find_axis(const h5read *r, const char *name) {
  for (size_t a = 0; a < h5read_n_axes(r); a++)
    if (!strcmp(h5read_axis(r, a)->name, name)) return (long)a;
  return -1;
}

static void axis_list(const h5read *r, char *buf, size_t n) {
  buf[0] = 0;
  for (size_t a = 0; a < h5read_n_axes(r); a++) {
    const h5store_axis *ax = h5read_axis(r, a);
    snprintf(buf + strlen(buf), n - strlen(buf), "%s%s (%zu value%s)", a ? ", " : "", ax->name, ax->n,
             ax->n == 1 ? "" : "s");
  }
}

static void value_text(const h5store_axis *ax, size_t j, char *buf, size_t n) {
  if (ax->labels) snprintf(buf, n, "%s", ax->labels[j]);
  else snprintf(buf, n, "%g", ax->values[j]);
}

static int axis_error(const h5read *r, const figure *fg, const char *key, const char *name, ps_msg *m) {
  char list[1024];
  axis_list(r, list, sizeof list);
  return ps_fail(m, PS_EINVAL, "figure %s: %s: the results have no axis '%s'; axes: %s", fg->name, key, name, list);
}

/* position of v on an axis [a, b] as a fraction (log or linear) */
static double frac(double v, double a, double b, int lg) {
  return lg ? (log(v) - log(a)) / (log(b) - log(a)) : (v - a) / (b - a);
}

typedef struct {
  double x0, x1, y0, y1;
  int logx, logy;
  double anchor_x, anchor_y, slope; /* the reference line (anchor_x NaN: none) */
  int intervals;
} view;

static int hit_box(double fx, double fy, double bx0, double by0, double kw, double kh) {
  return fx >= bx0 - 0.03 && fx <= bx0 + kw + 0.03 && fy >= by0 - 0.04 && fy <= by0 + kh + 0.04;
}

static double yfrac(double y, const view *v) {
  return frac(v->logy ? fmax(y, v->y0) : y, v->y0, v->y1, v->logy);
}

/* 1 when no point, interval end or segment of the first panel's curves (and no part
 * of the reference line) falls in the box [bx0, bx0+kw] x [by0, by0+kh] (graph units) */
static int box_free(const series *sv, size_t ns, const h5store_axis *X, const view *v, double bx0, double by0,
                    double kw, double kh) {
  for (size_t k = 0; k < ns; k++) {
    if (sv[k].panel) continue;
    for (int q = 0; q < 4; q++) {
      const double *y = q == 0 ? sv[k].mu : q == 1 ? sv[k].lo : q == 2 ? sv[k].hi : sv[k].th;
      if (!y || (q && q < 3 && !v->intervals)) continue;
      for (size_t j = 0; j < X->n; j++) {
        if (!isfinite(y[j]) || (v->logy && y[j] <= 0)) continue;
        double fx = frac(X->values[j], v->x0, v->x1, v->logx), fy = yfrac(y[j], v);
        if (hit_box(fx, fy, bx0, by0, kw, kh)) return 0;
        /* the segment to the next point (interval ends: the bar between them) */
        if (j + 1 < X->n && isfinite(y[j + 1]) && !(v->logy && y[j + 1] <= 0)) {
          double fx1 = frac(X->values[j + 1], v->x0, v->x1, v->logx), fy1 = yfrac(y[j + 1], v);
          for (int t = 1; t < 16; t++)
            if (hit_box(fx + (fx1 - fx) * t / 16.0, fy + (fy1 - fy) * t / 16.0, bx0, by0, kw, kh)) return 0;
        }
        if (q == 1 && v->intervals && isfinite(sv[k].hi[j])) {
          double fh = yfrac(sv[k].hi[j], v);
          for (int t = 1; t < 8; t++)
            if (hit_box(fx, fy + (fh - fy) * t / 8.0, bx0, by0, kw, kh)) return 0;
        }
      }
    }
  }
  if (isfinite(v->anchor_x))
    for (int t = 0; t <= 32; t++) {
      double xv = v->logx ? v->x0 * pow(v->x1 / v->x0, t / 32.0) : v->x0 + (v->x1 - v->x0) * t / 32.0;
      if (hit_box(t / 32.0, yfrac(v->anchor_y * pow(xv / v->anchor_x, v->slope), v), bx0, by0, kw, kh)) return 0;
    }
  return 1;
}

static int draw(const h5read *r, const figure *fg, const char *dir, const char *stem, const plot_options *o,
                ps_msg *m) {
  size_t na = h5read_n_axes(r), R = h5read_n_replicates(r);
  if (na > MAX_AXES) return ps_fail(m, PS_EINVAL, "figure %s: more than %d axes", fg->name, MAX_AXES);
  if (!fg->n_metrics) return ps_fail(m, PS_EINVAL, "figure %s: no metric", fg->name);
  if (!fg->x[0]) return ps_fail(m, PS_EINVAL, "figure %s: no x axis (x = AXIS)", fg->name);
  long xa = find_axis(r, fg->x);
  if (xa < 0) return axis_error(r, fg, "x", fg->x, m);
  const h5store_axis *X = h5read_axis(r, (size_t)xa);
  if (!X->values) return ps_fail(m, PS_EINVAL, "figure %s: axis '%s' is not numeric", fg->name, fg->x);
  long fa = -1;
  if (fg->facet[0]) {
    if ((fa = find_axis(r, fg->facet)) < 0) return axis_error(r, fg, "facet", fg->facet, m);
    if (fa == xa) return ps_fail(m, PS_EINVAL, "figure %s: facet and x are both '%s'", fg->name, fg->x);
  }
  /* role of each axis: x, facet, fixed by at, series (by), or a single value */
  long fixed[MAX_AXES];
  int is_by[MAX_AXES] = {0};
  for (size_t a = 0; a < na; a++) fixed[a] = -1;
  if (fg->at[0]) {
    char copy[512], *save = NULL;
    snprintf(copy, sizeof copy, "%s", fg->at);
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      char *eq = strchr(t, '=');
      if (!eq) return ps_fail(m, PS_EINVAL, "figure %s: at: '%s' is not axis=value", fg->name, t);
      *eq = 0;
      char *val = eq + 1, *end;
      while (*t == ' ') t++;
      for (char *q = eq - 1; q >= t && *q == ' '; q--) *q = 0;
      while (*val == ' ') val++;
      for (char *q = val + strlen(val); q > val && q[-1] == ' ';) *--q = 0;
      long a = find_axis(r, t);
      if (a < 0) return axis_error(r, fg, "at", t, m);
      const h5store_axis *ax = h5read_axis(r, (size_t)a);
      double num = strtod(val, &end);
      for (size_t j = 0; j < ax->n; j++)
        if (ax->labels ? !strcmp(ax->labels[j], val)
                       : (end != val && !*end && fabs(ax->values[j] - num) <= 1e-9 * fmax(1, fabs(num))))
          fixed[a] = (long)j;
      if (fixed[a] < 0) {
        char list[600] = "", v[64];
        for (size_t j = 0; j < ax->n; j++) {
          value_text(ax, j, v, sizeof v);
          snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", v);
        }
        return ps_fail(m, PS_EINVAL, "figure %s: at: axis '%s' has no value '%s'; values: %s", fg->name, t, val, list);
      }
      if (a == xa || a == fa)
        return ps_fail(m, PS_EINVAL, "figure %s: at fixes '%s', which is the figure's %s", fg->name, t,
                       a == xa ? "x" : "facet");
    }
  }
  if (fg->by[0]) {
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s", fg->by);
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      while (*t == ' ') t++;
      for (char *q = t + strlen(t); q > t && q[-1] == ' ';) *--q = 0;
      long a = find_axis(r, t);
      if (a < 0) return axis_error(r, fg, "by", t, m);
      if (a == xa || a == fa || fixed[a] >= 0)
        return ps_fail(m, PS_EINVAL, "figure %s: by names '%s', which is already the figure's %s", fg->name, t,
                       a == xa ? "x" : a == fa ? "facet" : "fixed axis (at)");
      is_by[a] = 1;
    }
    for (size_t a = 0; a < na; a++)
      if (!is_by[a] && (long)a != xa && (long)a != fa && fixed[a] < 0 && h5read_axis(r, a)->n > 1)
        return ps_fail(m, PS_EINVAL,
                       "figure %s: axis '%s' has %zu values: fix one with at = '%s=VALUE', or name it in by or "
                       "facet",
                       fg->name, h5read_axis(r, a)->name, h5read_axis(r, a)->n, h5read_axis(r, a)->name);
  } else {
    for (size_t a = 0; a < na; a++)
      is_by[a] = (long)a != xa && (long)a != fa && fixed[a] < 0 && h5read_axis(r, a)->n > 1;
  }
  size_t n_panels = fa >= 0 ? h5read_axis(r, (size_t)fa)->n : 1;

  /* what distinguishes the metrics, for the series titles */
  /* (among the estimators' metrics; truth and theory curves name their quantity) */
  int est_differs = 0, name_differs = 0;
  long first_est = -1;
  for (size_t mi = 0; mi < fg->n_metrics; mi++) {
    if (is_cellq(fg->metrics[mi])) continue;
    if (first_est < 0) {
      first_est = (long)mi;
      continue;
    }
    const char *m0 = fg->metrics[first_est], *s0 = strchr(m0, '/'), *s1 = strchr(fg->metrics[mi], '/');
    size_t l0 = s0 ? (size_t)(s0 - m0) : 0, l1 = s1 ? (size_t)(s1 - fg->metrics[mi]) : 0;
    if (l0 != l1 || strncmp(m0, fg->metrics[mi], l0)) est_differs = 1;
    if (strcmp(s0 ? s0 : "", s1 ? s1 : "")) name_differs = 1;
  }
  size_t *in_panel = calloc(n_panels, sizeof *in_panel);
  if (!in_panel) return ps_fail(m, PS_ENOMEM, "out of memory");

  size_t dims[MAX_AXES], idx[MAX_AXES];
  for (size_t a = 0; a < na; a++) dims[a] = h5read_axis(r, a)->n;
  series *sv = NULL;
  size_t ns = 0, cap = 0, per_panel = 0;
  int s = PS_OK, any_theory = 0, any_clipped = 0;
  char base[1024];
  snprintf(base, sizeof base, "%s_%s", stem, fg->name);
  for (size_t mi = 0; mi < fg->n_metrics; mi++) {
    double *A = NULL, *T = NULL, rlo = -INFINITY, rhi = INFINITY;
    char ap[256];
    metric_array_path(fg->metrics[mi], ap, sizeof ap);
    ps_msg sub;
    if ((s = h5read_array(r, ap, &A, &sub)) != PS_OK) {
      s = ps_fail(m, s, "figure %s: metric %s: %.400s", fg->name, fg->metrics[mi], sub.text);
      goto fail;
    }
    if (!metric_range(fg->metrics[mi], &rlo, &rhi)) rlo = -INFINITY, rhi = INFINITY;
    /* theory curve: theory/<metric>_crlb when it exists */
    const char *slash = strrchr(fg->metrics[mi], '/');
    if (slash && strncmp(fg->metrics[mi], "theory/", 7) && strncmp(fg->metrics[mi], "truth/", 6)) {
      char tp[256];
      snprintf(tp, sizeof tp, "theory/%s_crlb", slash + 1);
      if (h5read_array(r, tp, &T, NULL) != PS_OK) T = NULL;
    }
    /* the metric's part of a series title */
    char mpart[400] = "";
    if (fg->n_metrics > 1) {
      char est[160], nm[160];
      snprintf(est, sizeof est, "%s", fg->metrics[mi]);
      char *sl = strchr(est, '/');
      if (sl) *sl = 0;
      words(est, est, sizeof est);
      words(slash ? slash + 1 : fg->metrics[mi], nm, sizeof nm);
      if (is_cellq(fg->metrics[mi])) snprintf(mpart, sizeof mpart, "%s: %s", est, nm);
      else if (est_differs && name_differs) snprintf(mpart, sizeof mpart, "%s %s", est, nm);
      else if (est_differs || !name_differs) snprintf(mpart, sizeof mpart, "%s", est);
      else snprintf(mpart, sizeof mpart, "%s", nm);
    }
    for (size_t p = 0; p < n_panels; p++) {
      for (size_t a = 0; a < na; a++) idx[a] = fixed[a] >= 0 ? (size_t)fixed[a] : 0;
      if (fa >= 0) idx[fa] = p;
      for (;;) {
        if (ns == cap) {
          series *nv = realloc(sv, (cap = cap ? 2 * cap : 16) * sizeof *sv);
          if (!nv) {
            free(A), free(T);
            s = ps_fail(m, PS_ENOMEM, "out of memory");
            goto fail;
          }
          sv = nv;
        }
        series *S = &sv[ns];
        memset(S, 0, sizeof *S);
        ns++;
        S->metric = mi, S->panel = p, S->style = in_panel[p]++;
        S->mu = malloc(X->n * sizeof(double)), S->lo = malloc(X->n * sizeof(double));
        S->hi = malloc(X->n * sizeof(double)), S->k = malloc(X->n * sizeof(size_t));
        if (T) S->th = malloc(X->n * sizeof(double));
        if (!S->mu || !S->lo || !S->hi || !S->k || (T && !S->th)) {
          free(A), free(T);
          s = ps_fail(m, PS_ENOMEM, "out of memory");
          goto fail;
        }
        snprintf(S->title, sizeof S->title, "%s", mpart);
        for (size_t a = 0; a < na; a++) {
          if (!is_by[a]) continue;
          const h5store_axis *ax = h5read_axis(r, a);
          char v[128], part[300];
          value_text(ax, idx[a], v, sizeof v);
          if (ax->labels) snprintf(part, sizeof part, "%s%s %s", S->title[0] ? ", " : "", v, axis_text(ax->name, 1));
          else snprintf(part, sizeof part, "%s%s = %s", S->title[0] ? ", " : "", axis_text(ax->name, 1), v);
          strncat(S->title, part, sizeof S->title - strlen(S->title) - 1);
        }
        if (!S->title[0]) {
          char est[160];
          snprintf(est, sizeof est, "%s", fg->metrics[mi]);
          char *sl = strchr(est, '/');
          if (sl) *sl = 0;
          words(est, S->title, sizeof S->title);
        }
        for (size_t j = 0; j < X->n; j++) {
          idx[xa] = j;
          size_t off = 0;
          for (size_t a = 0; a < na; a++) off = off * dims[a] + idx[a];
          off *= R;
          summarise(A + off, R, &S->mu[j], &S->lo[j], &S->hi[j], &S->k[j]);
          /* the interval stays inside the metric's range (a mean of values in it is too) */
          if (S->lo[j] < rlo) S->lo[j] = rlo, any_clipped = 1;
          if (S->hi[j] > rhi) S->hi[j] = rhi, any_clipped = 1;
          if (T) {
            double tl, th;
            size_t tk;
            summarise(T + off, R, &S->th[j], &tl, &th, &tk);
          }
        }
        idx[xa] = 0;
        if (T) any_theory = 1;
        long a;
        for (a = (long)na - 1; a >= 0; a--) {
          if (!is_by[a]) continue;
          if (++idx[a] < dims[a]) break;
          idx[a] = 0;
        }
        if (a < 0) break;
      }
      if (in_panel[p] > per_panel) per_panel = in_panel[p];
    }
    free(A);
    free(T);
  }
  (void)any_clipped;
  /* titles given in the figure replace the automatic ones, in drawing order */
  if (fg->labels[0]) {
    char copy[1024], *save = NULL;
    snprintf(copy, sizeof copy, "%s", fg->labels);
    size_t i = 0;
    for (char *t = strtok_r(copy, "|", &save); t && i < per_panel; t = strtok_r(NULL, "|", &save), i++) {
      while (*t == ' ') t++;
      for (char *q = t + strlen(t); q > t && q[-1] == ' ';) *--q = 0;
      for (size_t k = 0; k < ns; k++)
        if (sv[k].style == i) snprintf(sv[k].title, sizeof sv[k].title, "%s", t);
    }
  }

  /* scales: log where asked, or (auto) for rate figures and positive data spanning decades */
  double xmin = INFINITY, xmax = -INFINITY;
  for (size_t j = 0; j < X->n; j++) xmin = fmin(xmin, X->values[j]), xmax = fmax(xmax, X->values[j]);
  int logx = fg->logx >= 0 ? fg->logx : fg->rate || fg->xscale_log || (xmin > 0 && xmax / xmin >= 20);
  if (logx && !(xmin > 0)) {
    s = ps_fail(m, PS_EINVAL, "figure %s: axis '%s' has the value %g, which a log axis cannot show (logx = no)",
                fg->name, fg->x, xmin);
    goto fail;
  }
  double mmin = INFINITY, mmax = -INFINITY;
  int all_pos = 1;
  for (size_t k = 0; k < ns; k++)
    for (size_t j = 0; j < X->n; j++) {
      double v[2] = {sv[k].mu[j], sv[k].th ? sv[k].th[j] : NAN};
      for (int q = 0; q < 2; q++) {
        if (!isfinite(v[q])) continue;
        if (v[q] <= 0) all_pos = 0;
        mmin = fmin(mmin, v[q]), mmax = fmax(mmax, v[q]);
      }
    }
  if (!isfinite(mmin)) {
    s = ps_fail(m, PS_EDOM, "figure %s: no finite values to draw (no cell finished, or every fit failed)", fg->name);
    goto fail;
  }
  int logy = fg->logy >= 0 ? fg->logy : (fg->rate && all_pos) || (all_pos && mmax / mmin >= 20);
  if (logy && !all_pos) {
    s = ps_fail(m, PS_EINVAL, "figure %s: a mean is <= 0, which a log vertical axis cannot show (logy = no)",
                fg->name);
    goto fail;
  }
  /* the reference slope beside the series whose own log-log slope is nearest to it
   * (first panel), 0.6x below it */
  double anchor_x = NAN, anchor_y = NAN;
  if (logx && logy && isfinite(fg->slope) && ns) {
    double best = INFINITY;
    for (size_t k = 0; k < ns; k++) {
      if (sv[k].panel || is_cellq(fg->metrics[sv[k].metric])) continue;
      double gx = 0, gy = 0, sxx = 0, sxy = 0;
      size_t gk = 0;
      for (size_t j = 0; j < X->n; j++)
        if (sv[k].mu[j] > 0) gx += log(X->values[j]), gy += log(sv[k].mu[j]), gk++;
      if (gk < 2) continue;
      gx /= (double)gk, gy /= (double)gk;
      for (size_t j = 0; j < X->n; j++)
        if (sv[k].mu[j] > 0) {
          double dx = log(X->values[j]) - gx;
          sxx += dx * dx, sxy += dx * (log(sv[k].mu[j]) - gy);
        }
      double d = sxx > 0 ? fabs(sxy / sxx - fg->slope) : INFINITY;
      if (d < best) {
        /* 0.6x below the series' lowest point relative to the line: below it everywhere */
        double lowest = INFINITY;
        for (size_t j = 0; j < X->n; j++)
          if (sv[k].mu[j] > 0) lowest = fmin(lowest, sv[k].mu[j] / pow(X->values[j] / exp(gx), fg->slope));
        best = d, anchor_x = exp(gx), anchor_y = 0.6 * lowest;
      }
    }
  }
#define REF_Y(xv) (anchor_y * pow((xv) / anchor_x, fg->slope))
  /* vertical range: every mean, interval and curve drawn */
  double ymin = INFINITY, ymax = -INFINITY;
  for (size_t k = 0; k < ns; k++)
    for (size_t j = 0; j < X->n; j++) {
      double v[4] = {sv[k].mu[j], fg->interval == INT_NONE ? NAN : sv[k].lo[j],
                     fg->interval == INT_NONE ? NAN : sv[k].hi[j], sv[k].th ? sv[k].th[j] : NAN};
      for (int q = 0; q < 4; q++)
        if (isfinite(v[q]) && (!logy || v[q] > 0)) ymin = fmin(ymin, v[q]), ymax = fmax(ymax, v[q]);
    }
  if (isfinite(anchor_x)) {
    ymin = fmin(ymin, fmin(REF_Y(xmin), REF_Y(xmax)));
    ymax = fmax(ymax, fmax(REF_Y(xmin), REF_Y(xmax)));
  }
  /* a log axis shows intervals that reach 0 down to a tenth of the smallest mean */
  if (logy) ymin = fmax(ymin, mmin / 10);
  if (!(ymax > ymin)) {
    if (logy) ymin /= 2, ymax *= 2;
    else ymin -= fmax(1, fabs(ymin)) * 0.5, ymax += fmax(1, fabs(ymax)) * 0.5;
  }
  double x0, x1, y0, y1;
  if (logx) x0 = xmin / pow(xmax / xmin, 0.05), x1 = xmax * pow(xmax / xmin, 0.05);
  else x0 = xmin - 0.05 * (xmax - xmin), x1 = xmax + 0.05 * (xmax - xmin);
  if (!(x1 > x0)) x0 = logx ? xmin / 2 : xmin - 1, x1 = logx ? xmax * 2 : xmax + 1;
  if (logy) y0 = ymin / pow(ymax / ymin, 0.06), y1 = ymax * pow(ymax / ymin, 0.06);
  else y0 = ymin - 0.06 * (ymax - ymin), y1 = ymax + 0.06 * (ymax - ymin);

  /* the legend: entries, size, and a corner where no data is */
  size_t entries = per_panel + (any_theory ? 1 : 0) + (isfinite(anchor_x) ? 1 : 0), maxlen = 0;
  for (size_t k = 0; k < ns; k++) {
    char plain[2048];
    to_plain(sv[k].title, plain, sizeof plain);
    if (strlen(plain) > maxlen) maxlen = strlen(plain);
  }
  if (any_theory && maxlen < 15) maxlen = 15; /* "theory (dotted)" */
  if (isfinite(anchor_x)) {
    char t[64];
    snprintf(t, sizeof t, "reference slope %g", fg->slope);
    if (strlen(t) > maxlen) maxlen = strlen(t);
  }
  int legend = fg->legend;
  if (entries <= 1 && legend != LEG_INSIDE && legend != LEG_OUTSIDE) legend = LEG_NONE;
  size_t cols = n_panels <= 3 ? n_panels : n_panels == 4 ? 2 : 3, rows = (n_panels + cols - 1) / cols;
  char title[300];
  snprintf(title, sizeof title, "%s", fg->title);
  wrap_label(title, (size_t)((fg->w_cm - 1.5) * 5.5)); /* centred on the graph, not the canvas */
  size_t title_lines = title[0] ? 1 : 0;
  for (const char *q = title; *q; q++) title_lines += *q == '\n';
  /* the graph's size in cm (margins measured on 8 pt figures), the key's as a fraction
   * of it (gnuplot's key: sample, text at ~0.55 em a character, and padding) */
  double pt = 2.54 / 72;
  double gw = (fg->w_cm - 0.3) / (double)cols - 2.3;
  double gh = (fg->h_cm - 0.45 * (double)title_lines) / (double)rows - 1.9 - (n_panels > 1 ? 0.45 : 0);
  if (strlen(fg->ylabel) > (size_t)(fg->h_cm / (double)rows * 5.2)) gw -= 0.4; /* a two-line y label */
  if (gw < 1) gw = 1;
  if (gh < 1) gh = 1;
  /* one column of entries, or two when one is too tall */
  double kw1 = ((double)maxlen * 0.64 + 4.8) * FONT_PT * pt / gw, kw = kw1, kh = 0;
  size_t key_rows = entries;
#define KEY_H(nrows) (((double)(nrows) * 1.25 + 1.0) * FONT_PT * pt / gh)
  char keypos[128] = ""; /* inside: "inside top right" or "at graph X, Y right top"; "band" */
  size_t band_cols = 0;   /* "band": entries per row of a horizontal key above the facets */
  double band_frac = 0;   /* and its height as a fraction of the figure's */
  if (legend == LEG_AUTO || legend == LEG_INSIDE) {
    static const char *const corners[] = {"top right", "top left", "bottom right", "bottom left"};
    const view v = {x0, x1, y0, y1, logx, logy, anchor_x, anchor_y, fg->slope, fg->interval != INT_NONE};
    for (size_t ncol = 1; ncol <= (entries > 3 ? 2u : 1u) && !keypos[0]; ncol++) {
      key_rows = (entries + ncol - 1) / ncol, kw = kw1 * (ncol == 1 ? 1 : 1.75), kh = KEY_H(key_rows);
      for (int c = 0; c < 4 && !keypos[0] && kw < 0.98; c++)
        if (box_free(sv, ns, X, &v, (c & 1) ? 0 : 1 - kw, (c & 2) ? 0 : 1 - kh, kw, kh))
          snprintf(keypos, sizeof keypos, "inside %s", corners[c]);
      /* between the curves, right then left, from the top down */
      for (double top = 0.92; !keypos[0] && kw < 0.98 && top - kh > 0.05; top -= 0.04)
        for (int side = 0; side < 2 && !keypos[0]; side++)
          if (box_free(sv, ns, X, &v, side ? 0 : 1 - kw, top - kh, kw, kh))
            snprintf(keypos, sizeof keypos, "at graph %s, %.3f %s top", side ? "0.02" : "0.98", top,
                     side ? "left" : "right");
    }
    if (!keypos[0] && n_panels > 1 && rows == 1 && kw1 >= 0.98) {
      /* facets side by side, each too narrow for the key: one horizontal key in a band
       * under the title, above every panel */
      double ew = ((double)maxlen * 0.64 + 4.8) * FONT_PT * pt;
      band_cols = (size_t)((fg->w_cm - 0.6) / ew);
      if (band_cols < 1) band_cols = 1;
      if (band_cols > entries) band_cols = entries;
      key_rows = (entries + band_cols - 1) / band_cols;
      band_frac = ((double)key_rows * 1.25 + 0.8) * FONT_PT * pt / fg->h_cm;
      snprintf(keypos, sizeof keypos, "band");
    }
    if (!keypos[0]) {
      /* no free place: two columns when they fit, and headroom above the data */
      key_rows = entries > 3 && 1.75 * kw1 < 0.98 ? (entries + 1) / 2 : entries;
      kw = kw1 * (key_rows < entries ? 1.75 : 1), kh = KEY_H(key_rows);
      if ((kh < 0.55 || fg->w_cm < 12 || legend == LEG_INSIDE) && kh < 0.8) {
        double keep = 1 - kh - 0.05;
        if (logy) y1 = y0 * pow(y1 / y0, 1 / keep);
        else y1 = y0 + (y1 - y0) / keep;
        snprintf(keypos, sizeof keypos, kw < 0.95 ? "inside top right" : "inside top left");
      }
    }
    if (!keypos[0]) {
      if (legend == LEG_INSIDE) snprintf(keypos, sizeof keypos, "inside top right");
      else legend = LEG_OUTSIDE, key_rows = entries;
    }
  }
#undef KEY_H

  /* the driver */
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.gp", dir, base);
  FILE *drv = fopen(path, "w");
  if (!drv) {
    s = ps_fail(m, PS_EIO, "%s: cannot write (%s)", path, strerror(errno));
    goto fail;
  }
  fprintf(drv, "# %s.gp: generated by prefsim plot; `gnuplot -e \"fmt='png'\" %s.gp` redraws it\n", base, base);
  fprintf(drv, "# (fmt: pdf, png or cairolatex; style.gp beside it sets the terminal, palette and line styles).\n");
  fprintf(drv, "size_w = %g; size_h = %g  # cm\nload 'style.gp'\nset output ", fg->w_cm, fg->h_cm);
  gp_quote(drv, base);
  fprintf(drv, " . '.' . (fmt eq 'cairolatex' ? 'tex' : fmt)\n");
  char lab[600];
  if (fg->xlabel[0]) snprintf(lab, sizeof lab, "%s", fg->xlabel);
  else snprintf(lab, sizeof lab, "%s", axis_text(fg->x, 0));
  size_t cols_chars = (size_t)((fg->w_cm - 0.3) / (double)cols * 6.3);
  wrap_label(lab, cols_chars);
  fprintf(drv, "set xlabel ");
  gp_label(drv, lab);
  if (fg->ylabel[0]) snprintf(lab, sizeof lab, "%s", fg->ylabel);
  else {
    /* the metric's long name and units when all series show one metric */
    const char *n0 = strrchr(fg->metrics[0], '/');
    int one = 1;
    for (size_t mi = 1; mi < fg->n_metrics; mi++) {
      const char *n1 = strrchr(fg->metrics[mi], '/');
      if (strcmp(n0 ? n0 : "", n1 ? n1 : "")) one = 0;
    }
    char p2[256];
    metric_array_path(fg->metrics[0], p2, sizeof p2);
    char *ln = one ? h5read_dataset_attr(r, p2, "long_name") : NULL, *un = one ? h5read_dataset_attr(r, p2, "units") : NULL;
    if (ln) ln[strcspn(ln, ";")] = 0; /* the definition's first clause */
    /* a definition longer than two lines of the axis: the metric's name in words */
    if (ln && strlen(ln) > (size_t)(fg->h_cm / (double)rows * 10)) ln[0] = 0;
    char unit[64] = "";
    if (un && strcmp(un, "1") && un[0]) snprintf(unit, sizeof unit, " (%s)", un);
    if (ln && ln[0]) snprintf(lab, sizeof lab, "%s%s", ln, unit);
    else {
      words(n0 ? n0 + 1 : fg->metrics[0], lab, sizeof lab);
      strncat(lab, unit, sizeof lab - strlen(lab) - 1);
    }
    free(ln);
    free(un);
  }
  wrap_label(lab, (size_t)(fg->h_cm / rows * 5.2));
  fprintf(drv, "\nset ylabel ");
  gp_label(drv, lab);
  fprintf(drv, "\n");
  char ylab[600];
  snprintf(ylab, sizeof ylab, "%s", lab);
  if (logx) fprintf(drv, "set logscale x\nset format x '%%g'\n");
  if (logy) fprintf(drv, "set logscale y\nset format y '%%g'\n");
  if (X->n <= 8) {
    /* few sweep values: label each one */
    /* every value a tic; on a narrow graph every k-th labelled (~0.16 cm a character) */
    double chars = 0;
    for (size_t j = 0; j < X->n; j++) {
      char b[32];
      chars += snprintf(b, sizeof b, "%.10g", X->values[j]) + 1.5;
    }
    size_t every = 1;
    while (every < X->n && chars * 0.16 / (double)every > gw) every++;
    fprintf(drv, "set xtics (");
    for (size_t j = 0; j < X->n; j++) {
      char b[32];
      snprintf(b, sizeof b, "%.10g", X->values[j]);
      fprintf(drv, "%s\"%s\" %.10g", j ? ", " : "", j % every ? "" : b, X->values[j]);
    }
    fprintf(drv, ")\nunset mxtics\n");
  }
  if (logy && y1 / y0 < 1000) {
    /* 1-2-5 steps on log axes that span less than three decades; evenly spaced tics
     * when fewer than three of those fall in the range */
    double lo10 = floor(log10(y0)), hi10 = ceil(log10(y1)), t[64];
    size_t nt = 0;
    for (double e = lo10; e <= hi10; e++)
      for (int k = 0; k < 3 && nt < 64; k++) {
        double v = (k == 0 ? 1 : k == 1 ? 2 : 5) * pow(10, e);
        if (v >= y0 && v <= y1) t[nt++] = v;
      }
    if (nt < 3) {
      double step = pow(10, floor(log10(y1 - y0)));
      if ((y1 - y0) / step < 3) step /= 5;
      else if ((y1 - y0) / step < 6) step /= 2;
      nt = 0;
      for (double v = ceil(y0 / step) * step; v <= y1 && nt < 64; v += step) t[nt++] = v;
    }
    fprintf(drv, "set ytics (");
    for (size_t k = 0; k < nt; k++) fprintf(drv, "%s%.3g", k ? ", " : "", t[k]);
    fprintf(drv, ")\nunset mytics\n");
  }
  {
    /* a label of two or more lines: gnuplot's automatic margin leaves room for one, so
     * the margin is set from the widest tic label and the label's lines */
    size_t lines = 1, tic = 0;
    for (const char *q = lab; *q; q++) lines += *q == '\n';
    if (lines > 1) {
      double probe[3] = {y0, y1, (y0 + y1) / 2};
      for (int k = 0; k < 3; k++) {
        char b[32];
        snprintf(b, sizeof b, "%.3g", probe[k]);
        if (strlen(b) > tic) tic = strlen(b);
      }
      if (logy && tic < 6) tic = 6;
      fprintf(drv, "set lmargin %zu\nset ylabel offset %.1f, 0\n", tic + 2 * lines + 2, -1.1 * (double)(lines - 1));
    }
  }
  fprintf(drv, "set xrange [%.10g:%.10g]\nset yrange [%.10g:%.10g]\n", x0, x1, y0, y1);
  fprintf(drv, "ylow = %.10g  # intervals reaching below the axis end there\n", y0);
  if (legend == LEG_NONE) fprintf(drv, "unset key\n");
  else if (legend == LEG_OUTSIDE) fprintf(drv, "set key outside right top vertical Left reverse\n");
  else if (band_cols) fprintf(drv, "unset key\n"); /* drawn last, across the figure (below) */
  else fprintf(drv, "set key %s vertical Left reverse maxrows %zu\n", keypos, key_rows);
  /* the band layout: panels placed by hand under the title and the key's band */
  double band_top = 1 - (title[0] ? ((double)title_lines * 1.3 + 0.7) * FONT_PT * pt / fg->h_cm : 0.02);
  if (band_cols) {
    fprintf(drv, "set multiplot");
    if (title[0]) {
      fprintf(drv, " title ");
      gp_label(drv, title);
    }
    fprintf(drv, "\n");
  } else if (n_panels > 1) {
    fprintf(drv, "set multiplot layout %zu,%zu", rows, cols);
    if (title[0]) {
      fprintf(drv, " title ");
      gp_label(drv, title);
    }
    fprintf(drv, "\n");
  } else if (title[0]) {
    fprintf(drv, "set title ");
    gp_label(drv, title);
    fprintf(drv, "\n");
  }
  size_t file_no = 0;
  for (size_t p = 0; p < n_panels; p++) {
    if (band_cols)
      fprintf(drv, "set origin %.4f, 0\nset size %.4f, %.4f\n", (double)p / (double)cols, 1 / (double)cols,
              band_top - band_frac);
    if (n_panels > 1) {
      const h5store_axis *F = h5read_axis(r, (size_t)fa);
      char v[128], t[400];
      value_text(F, p, v, sizeof v);
      /* the facet's symbol, or its words when the x axis has the same symbol (n of the
       * data beside n of best-of-n) */
      int same = !strcmp(axis_text(F->name, 1), axis_text(fg->x, 1));
      if (F->labels) snprintf(t, sizeof t, "%s %s", v, axis_text(F->name, same ? 0 : 1));
      else snprintf(t, sizeof t, "%s = %s", axis_text(F->name, same ? 0 : 1), v);
      fprintf(drv, "set title ");
      gp_label(drv, t);
      fprintf(drv, "\n");
      if (p == 1 && legend != LEG_NONE) fprintf(drv, "unset key\n");
      /* the vertical label once per row of panels, at its left */
      if (p % cols) fprintf(drv, "set ylabel ''\n");
      else if (p) {
        fprintf(drv, "set ylabel ");
        gp_label(drv, ylab);
        fprintf(drv, "\n");
      }
    }
    fprintf(drv, "plot \\\n");
    int theory_titled = 0;
    for (size_t k = 0; k < ns; k++) {
      series *S = &sv[k];
      if (S->panel != p) continue;
      file_no++;
      char sp[4096];
      snprintf(S->tsv, sizeof S->tsv, "%s.s%zu.tsv", base, file_no);
      snprintf(sp, sizeof sp, "%s/%s", dir, S->tsv);
      FILE *f = fopen(sp, "w");
      if (!f) {
        fclose(drv);
        s = ps_fail(m, PS_EIO, "%s: cannot write (%s)", sp, strerror(errno));
        goto fail;
      }
      fprintf(f, "# %s\t%s\n# x\tmean\tci_low\tci_high\treplicates\n", fg->metrics[S->metric], S->title);
      for (size_t j = 0; j < X->n; j++)
        fprintf(f, "%.10g\t%.10g\t%.10g\t%.10g\t%zu\n", X->values[j], S->mu[j], S->lo[j], S->hi[j], S->k[j]);
      if (fclose(f)) {
        fclose(drv);
        s = ps_fail(m, PS_EIO, "%s: write failed", sp);
        goto fail;
      }
      if (S->th) {
        snprintf(S->ttsv, sizeof S->ttsv, "%s.theory.s%zu.tsv", base, file_no);
        snprintf(sp, sizeof sp, "%s/%s", dir, S->ttsv);
        FILE *ft = fopen(sp, "w");
        if (ft) {
          fprintf(ft, "# theory for %s\t%s\n# x\tmean\n", fg->metrics[S->metric], S->title);
          for (size_t j = 0; j < X->n; j++) fprintf(ft, "%.10g\t%.10g\n", X->values[j], S->th[j]);
          fclose(ft);
        }
      }
      size_t ls = S->style % 8 + 1;
      const char *lowcol = logy ? "($3 > ylow ? $3 : ylow)" : "3";
      fprintf(drv, "  ");
      if (is_cellq(fg->metrics[S->metric])) {
        /* a truth or theory value: one number per cell, a thin line without markers */
        gp_squote(drv, S->tsv);
        fprintf(drv, " using 1:2 with lines ls %zu lw 1 title ", ls);
      } else if (fg->interval == INT_BAND) {
        gp_squote(drv, S->tsv);
        fprintf(drv, " using 1:%s:4 with filledcurves ls %zu fs transparent solid 0.18 noborder notitle, \\\n  ", lowcol,
                ls);
        gp_squote(drv, S->tsv);
        fprintf(drv, " using 1:2 with linespoints ls %zu title ", ls);
      } else if (fg->interval == INT_BARS) {
        /* solid bars under the series' dashed line */
        gp_squote(drv, S->tsv);
        fprintf(drv, " using 1:2:%s:4 with yerrorbars ls %zu dt 1 lw 1 notitle, \\\n  ", lowcol, ls);
        gp_squote(drv, S->tsv);
        fprintf(drv, " using 1:2 with linespoints ls %zu title ", ls);
      } else {
        gp_squote(drv, S->tsv);
        fprintf(drv, " using 1:2 with linespoints ls %zu title ", ls);
      }
      gp_label(drv, S->title);
      fprintf(drv, ", \\\n");
      if (S->th) {
        fprintf(drv, "  ");
        gp_squote(drv, S->ttsv);
        fprintf(drv, " using 1:2 with lines ls %zu dt 3 lw 1 notitle, \\\n", ls);
        theory_titled = 1;
      }
    }
    if (theory_titled) fprintf(drv, "  NaN with lines ls 101 title 'theory (dotted)', \\\n");
    if (isfinite(anchor_x))
      fprintf(drv, "  %.10g * (x / %.10g) ** (%.10g) with lines ls 100 title 'reference slope %g', \\\n", anchor_y,
              anchor_x, fg->slope, fg->slope);
    fprintf(drv, "  NaN notitle\n");
  }
  if (band_cols) {
    /* the key: an empty plot across the band, one sample per series of a panel */
    fprintf(drv, "set origin 0, %.4f\nset size 1, %.4f\nunset title\nunset xlabel\nunset ylabel\nunset border\n"
            "unset xtics\nunset ytics\nunset logscale\nset xrange [0:1]\nset yrange [0:1]\nset margins 0, 0, 0, 0\n"
            "set key inside center center horizontal Left reverse maxcols %zu\nplot \\\n",
            band_top - band_frac, band_frac, band_cols);
    for (size_t k = 0; k < ns; k++) {
      if (sv[k].panel) continue;
      size_t ls = sv[k].style % 8 + 1;
      fprintf(drv, "  NaN with %s ls %zu title ", is_cellq(fg->metrics[sv[k].metric]) ? "lines" : "linespoints", ls);
      gp_label(drv, sv[k].title);
      fprintf(drv, ", \\\n");
    }
    fprintf(drv, "  NaN notitle\n");
  }
  if (n_panels > 1) fprintf(drv, "unset multiplot\n");
  if (fclose(drv)) {
    s = ps_fail(m, PS_EIO, "%s: write failed", path);
    goto fail;
  }
#undef REF_Y
  if (o->log) fprintf(o->log, "%s/%s.gp\n", dir, base);
  if (o->run_gnuplot) {
    const char *fmt = o->format ? o->format : "both";
    char dname[1100];
    snprintf(dname, sizeof dname, "%s.gp", base);
    if (!strcmp(fmt, "both")) {
      if ((s = run_gp(dir, dname, "pdf", m)) == PS_OK) s = run_gp(dir, dname, "png", m);
      if (s == PS_OK && o->log) fprintf(o->log, "%s/%s.pdf\n%s/%s.png\n", dir, base, dir, base);
    } else {
      s = run_gp(dir, dname, fmt, m);
      if (s == PS_OK && o->log) fprintf(o->log, "%s/%s.%s\n", dir, base, !strcmp(fmt, "cairolatex") ? "tex" : fmt);
    }
  }
fail:
  free_series(sv, ns);
  free(in_panel);
  return s;
}

/* ------------------------------------------------------------ figures */

/* the command line's keys over a figure's */
static void apply_options(figure *fg, const plot_options *o) {
  for (size_t i = 0; i < o->n_keys; i++)
    if (strcmp(o->key[i], "metric")) fig_set(fg, o->key[i], o->value[i]);
}

static const char *option(const plot_options *o, const char *key) {
  const char *v = NULL;
  for (size_t i = 0; i < o->n_keys; i++)
    if (!strcmp(o->key[i], key)) v = o->value[i];
  return v;
}

int plot_results(const char *h5path, const plot_options *o, ps_msg *m) {
  for (size_t i = 0; i < o->n_keys; i++)
    if (plot_check_key(o->key[i], o->value[i], m)) return PS_EINVAL;
  h5read *r = NULL;
  int s = h5read_open(h5path, &r, m);
  if (s) return s;
  cfg *c = cfg_alloc();
  figure *figs = NULL;
  size_t nf = 0;
  char *pathcopy = strdup(h5path), *pathcopy2 = strdup(h5path);
  if (!c || !pathcopy || !pathcopy2) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  const char *ctext = h5read_attr(r, "config");
  if (!ctext || (s = cfg_load_string(c, "stored config", ctext, m)) != PS_OK) {
    if (!ctext) s = ps_fail(m, PS_EINVAL, "%s has no stored config", h5path);
    goto done;
  }
  figs = calloc(cfg_size(c) + 64, sizeof *figs);
  if (!figs) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  const char *want = option(o, "metric");
  if (want) {
    /* one figure of the command line's keys alone */
    figure *fg = &figs[nf++];
    char name[128];
    snprintf(name, sizeof name, "%s", o->name ? o->name : want);
    if (!o->name) name[strcspn(name, ",")] = 0; /* named after the first metric */
    for (char *q = name; *q; q++)
      if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-')) *q = '_';
    fig_defaults(fg, name);
    fg->rate = 0; /* scales from the data unless asked */
    fig_set(fg, "metric", want);
    if (!option(o, "x")) {
      for (size_t a = 0; a < h5read_n_axes(r) && !fg->x[0]; a++)
        if (h5read_axis(r, a)->values && h5read_axis(r, a)->n > 1) fig_set(fg, "x", h5read_axis(r, a)->name);
    }
    apply_options(fg, o);
  } else {
    /* [figure.*] */
    for (size_t i = 0; i < cfg_size(c); i++) {
      const cfg_entry *e = cfg_at(c, i);
      if (strncmp(e->section, "figure.", 7) || strcmp(e->key, "metric")) continue;
      figure *fg = &figs[nf++];
      fig_defaults(fg, e->section + 7);
      for (size_t j = 0; j < cfg_size(c); j++) {
        const cfg_entry *x = cfg_at(c, j);
        if (!strcmp(x->section, e->section)) fig_set(fg, x->key, x->value);
      }
      apply_options(fg, o);
    }
    /* slope claims not drawn yet */
    for (size_t i = 0; i < cfg_size(c); i++) {
      const cfg_entry *e = cfg_at(c, i);
      if (strncmp(e->section, "claim.", 6) || strcmp(e->key, "metric")) continue;
      const char *ex = cfg_get(c, e->section, "expect"), *ag = cfg_get(c, e->section, "against");
      if (!ex || strcmp(ex, "slope") || !ag) continue;
      int dup = 0;
      for (size_t k = 0; k < nf; k++)
        if (figs[k].n_metrics && !strcmp(figs[k].metrics[0], e->value) && !strcmp(figs[k].x, ag)) dup = 1;
      if (dup) continue;
      figure *fg = &figs[nf++];
      fig_defaults(fg, e->section + 6);
      fig_set(fg, "metric", e->value);
      fig_set(fg, "x", ag);
      fig_set(fg, "kind", "rate");
      const char *v = cfg_get(c, e->section, "value");
      fig_set(fg, "slope", v ? v : "nan");
      const char *at = cfg_get(c, e->section, "at");
      if (at) fig_set(fg, "at", at);
      apply_options(fg, o);
    }
    if (nf == 0) {
      long xa = -1;
      for (size_t a = 0; a < h5read_n_axes(r) && xa < 0; a++)
        if (h5read_axis(r, a)->values) xa = (long)a;
      if (xa < 0) {
        s = ps_fail(m, PS_EINVAL, "%s: nothing to plot (no [figure.*], no slope claim, no numeric axis)", h5path);
        goto done;
      }
      const char *const *est = h5read_estimators(r);
      for (size_t k = 0; est && est[k] && nf < 60; k++) {
        figure *fg = &figs[nf++];
        char name[160], metric[160];
        snprintf(name, sizeof name, "%s_param_err", est[k]);
        snprintf(metric, sizeof metric, "%s/param_err", est[k]);
        fig_defaults(fg, name);
        fig_set(fg, "metric", metric);
        fig_set(fg, "x", h5read_axis(r, (size_t)xa)->name);
        apply_options(fg, o);
      }
    }
  }
  const char *dir = o->outdir ? o->outdir : dirname(pathcopy);
  {
    char part[4096];
    snprintf(part, sizeof part, "%s/", dir);
    for (char *q = part + 1; *q; q++) {
      if (*q != '/') continue;
      *q = 0;
      if (mkdir(part, 0777) != 0 && errno != EEXIST) {
        s = ps_fail(m, PS_EIO, "%s: cannot create directory (%s)", part, strerror(errno));
        goto done;
      }
      *q = '/';
    }
  }
  char *stem = basename(pathcopy2);
  char *dot = strrchr(stem, '.');
  if (dot && !strcmp(dot, ".h5")) *dot = 0;
  if ((s = write_text(dir, "style.gp", plot_style_gp, m))) goto done;
  /* one figure's failure does not stop the others; the first failure is returned */
  ps_msg first = {{0}};
  int first_s = PS_OK;
  for (size_t k = 0; k < nf; k++) {
    ps_msg fm = {{0}};
    int fs = draw(r, &figs[k], dir, stem, o, &fm);
    if (fs != PS_OK && first_s == PS_OK) {
      first_s = fs;
      first = fm;
    }
  }
  s = first_s;
  if (s && m) *m = first;
done:
  free(figs);
  free(pathcopy);
  free(pathcopy2);
  cfg_free(c);
  h5read_close(r);
  return s;
}
