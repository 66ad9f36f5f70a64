/* plot.c — TSV export and gnuplot drivers (see plot.h).
 *
 * The gnuplot sources in plots/ are compiled into the binary, and written next to
 * every figure, so a figure's directory regenerates it with `gnuplot S_F.gp` alone
 * and can be edited for a paper without prefsim. */
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

#include "../results/h5store.h"
#include "../experiments/claims.h"
#include "../experiments/config.h"

typedef struct {
  char name[128];
  char metrics[8][160];
  size_t n_metrics;
  char x[64];
  int log_axes;
  int log_x; /* line figures with xscale = log */
  double slope;
  char title[256], ylabel[256];
  char at[512]; /* 'axis=value, ...': only the series at these axis values */
} figure;

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
    if (*s == '"' || *s == '\\') fputc('\\', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

/* A label: plain text for pdf/png, LaTeX-escaped text for cairolatex (where the
 * label goes through LaTeX: _ % & # $ ^ { } ~ \ are special there). */
static void gp_label(FILE *f, const char *s) {
  char tex[2048];
  size_t k = 0;
  for (const char *p = s; *p && k + 24 < sizeof tex; p++) {
    const char *rep = NULL;
    switch (*p) {
    case '_': rep = "\\_"; break;
    case '%': rep = "\\%"; break;
    case '&': rep = "\\&"; break;
    case '#': rep = "\\#"; break;
    case '$': rep = "\\$"; break;
    case '{': rep = "\\{"; break;
    case '}': rep = "\\}"; break;
    case '^': rep = "\\textasciicircum{}"; break;
    case '~': rep = "\\textasciitilde{}"; break;
    case '\\': rep = "\\textbackslash{}"; break;
    default: break;
    }
    if (rep) {
      size_t l = strlen(rep);
      memcpy(tex + k, rep, l);
      k += l;
    } else {
      tex[k++] = *p;
    }
  }
  tex[k] = 0;
  fprintf(f, "(fmt eq 'cairolatex' ? ");
  gp_quote(f, tex);
  fprintf(f, " : ");
  gp_quote(f, s);
  fprintf(f, ")");
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

static int draw(const h5read *r, const figure *fg, const char *dir, const char *stem, const plot_options *o,
                ps_msg *m) {
  size_t na = h5read_n_axes(r), R = h5read_n_replicates(r);
  long xa = -1;
  for (size_t a = 0; a < na; a++)
    if (!strcmp(h5read_axis(r, a)->name, fg->x)) xa = (long)a;
  if (xa < 0) return ps_fail(m, PS_EINVAL, "figure %s: the results have no axis '%s'", fg->name, fg->x);
  const h5store_axis *X = h5read_axis(r, (size_t)xa);
  if (!X->values) return ps_fail(m, PS_EINVAL, "figure %s: axis '%s' is not numeric", fg->name, fg->x);
  size_t *dims = calloc(na + 1, sizeof(size_t)), *idx = calloc(na + 1, sizeof(size_t));
  if (!dims || !idx) {
    free(dims);
    free(idx);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  for (size_t a = 0; a < na; a++) dims[a] = h5read_axis(r, a)->n;
  /* at = axis=value, ...: fix those axes (checked against the sweep by experiment.c) */
  long fixed[64];
  for (size_t a = 0; a < na && a < 64; a++) fixed[a] = -1;
  if (fg->at[0]) {
    char copy[512], *save = NULL;
    snprintf(copy, sizeof copy, "%s", fg->at);
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      char *eq = strchr(t, '=');
      if (!eq) continue;
      *eq = 0;
      char *val = eq + 1, *end;
      while (*t == ' ') t++;
      for (char *q = eq - 1; q >= t && *q == ' '; q--) *q = 0;
      while (*val == ' ') val++;
      for (char *q = val + strlen(val); q > val && q[-1] == ' ';) *--q = 0;
      for (size_t a = 0; a < na && a < 64; a++) {
        const h5store_axis *ax = h5read_axis(r, a);
        if (strcmp(ax->name, t)) continue;
        double num = strtod(val, &end);
        for (size_t j = 0; j < ax->n; j++)
          if (ax->labels ? !strcmp(ax->labels[j], val) : (end != val && !*end && ax->values[j] == num)) fixed[a] = (long)j;
      }
    }
  }
  char base[1024], path[4096];
  snprintf(base, sizeof base, "%s_%s", stem, fg->name);
  snprintf(path, sizeof path, "%s/%s.gp", dir, base);
  FILE *drv = fopen(path, "w");
  int s = PS_OK;
  if (!drv) {
    s = ps_fail(m, PS_EIO, "%s: cannot write (%s)", path, strerror(errno));
    goto done;
  }
  fprintf(drv, "# %s.gp: generated by prefsim plot; `gnuplot -e \"fmt='png'\" %s.gp` redraws it.\n", base, base);
  fprintf(drv, "load 'style.gp'\noutfile = ");
  gp_quote(drv, base);
  fprintf(drv, " . '.' . (fmt eq 'cairolatex' ? 'tex' : fmt)\n");
  fprintf(drv, "xlabel_text = ");
  gp_label(drv, fg->x);
  char ylab[300] = "";
  if (fg->ylabel[0])
    snprintf(ylab, sizeof ylab, "%s", fg->ylabel);
  else {
    char p2[256];
    metric_array_path(fg->metrics[0], p2, sizeof p2);
    char *ln = h5read_dataset_attr(r, p2, "long_name");
    snprintf(ylab, sizeof ylab, "%s", ln ? ln : fg->metrics[0]);
    free(ln);
  }
  fprintf(drv, "\nylabel_text = ");
  gp_label(drv, ylab);
  fprintf(drv, "\ntitle_text = ");
  gp_label(drv, fg->title);
  fprintf(drv, "\nload '%s'\n", fg->log_axes ? "fig_rate.gp" : "fig_line.gp");
  if (!fg->log_axes && fg->log_x) fprintf(drv, "set logscale x\nset format x '%%g'\n");
  if (X->n <= 8) {
    /* few sweep values: label each one */
    fprintf(drv, "set xtics (");
    for (size_t j = 0; j < X->n; j++) fprintf(drv, "%s%.10g", j ? ", " : "", X->values[j]);
    fprintf(drv, ")\nunset mxtics\n");
  }
  /* the plot command is assembled in memory: tic settings that depend on the data
   * must precede it in the driver */
  char *plotcmd = NULL;
  size_t plotlen = 0;
  FILE *main_drv = drv;
  drv = open_memstream(&plotcmd, &plotlen);
  if (!drv) {
    fclose(main_drv);
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  fprintf(drv, "plot \\\n");
  size_t series = 0;
  int theory_titled = 0;
  double ymin = INFINITY, ymax = 0;
  double anchor_x = NAN, anchor_y = NAN;
  for (size_t mi = 0; mi < fg->n_metrics; mi++) {
    double *A = NULL, *T = NULL;
    char ap[256];
    metric_array_path(fg->metrics[mi], ap, sizeof ap);
    ps_msg sub;
    if ((s = h5read_array(r, ap, &A, &sub)) != PS_OK) {
      s = ps_fail(m, s, "figure %s: %.300s", fg->name, sub.text);
      fclose(drv);
      free(plotcmd);
      fclose(main_drv);
      goto done;
    }
    /* theory curve: theory/<metric>_crlb when it exists */
    const char *slash = strrchr(fg->metrics[mi], '/');
    if (slash && strncmp(fg->metrics[mi], "theory/", 7) && strncmp(fg->metrics[mi], "truth/", 6)) {
      char tp[256];
      snprintf(tp, sizeof tp, "theory/%s_crlb", slash + 1);
      if (h5read_array(r, tp, &T, NULL) != PS_OK) T = NULL;
    }
    for (size_t a = 0; a < na; a++) idx[a] = 0;
    for (;;) {
      char title[400] = "", sp[4096], tsv[1200];
      int skip = 0;
      for (size_t a = 0; a < na && a < 64; a++)
        if (fixed[a] >= 0 && (long)a != xa && idx[a] != (size_t)fixed[a]) skip = 1;
      if (skip) goto next_series;
      if (fg->n_metrics > 1) snprintf(title, sizeof title, "%s", fg->metrics[mi]);
      for (size_t a = 0; a < na; a++) {
        if ((long)a == xa || dims[a] == 1 || (a < 64 && fixed[a] >= 0)) continue;
        const h5store_axis *ax = h5read_axis(r, a);
        char part[200];
        if (ax->labels)
          snprintf(part, sizeof part, "%s%s=%s", title[0] ? ", " : "", ax->name, ax->labels[idx[a]]);
        else
          snprintf(part, sizeof part, "%s%s=%g", title[0] ? ", " : "", ax->name, ax->values[idx[a]]);
        strncat(title, part, sizeof title - strlen(title) - 1);
      }
      if (!title[0]) snprintf(title, sizeof title, "%s", fg->metrics[mi]);
      snprintf(tsv, sizeof tsv, "%s.s%zu.tsv", base, series + 1);
      snprintf(sp, sizeof sp, "%s/%s", dir, tsv);
      FILE *f = fopen(sp, "w");
      if (!f) {
        s = ps_fail(m, PS_EIO, "%s: cannot write (%s)", sp, strerror(errno));
        free(A);
        free(T);
        fclose(drv);
        free(plotcmd);
        fclose(main_drv);
        goto done;
      }
      fprintf(f, "# %s\t%s\n# x\tmean\tci_low\tci_high\treplicates\n", fg->metrics[mi], title);
      double gx = 0, gy = 0;
      size_t gk = 0;
      FILE *ft = NULL;
      char ttsv[1300];
      if (T) {
        snprintf(ttsv, sizeof ttsv, "%s.theory.s%zu.tsv", base, series + 1);
        snprintf(sp, sizeof sp, "%s/%s", dir, ttsv);
        ft = fopen(sp, "w");
        if (ft) fprintf(ft, "# theory for %s\t%s\n# x\tmean\n", fg->metrics[mi], title);
      }
      for (size_t j = 0; j < X->n; j++) {
        idx[xa] = j;
        size_t off = 0;
        for (size_t a = 0; a < na; a++) off = off * dims[a] + idx[a];
        off *= R;
        double mu, lo, hi;
        size_t k;
        summarise(A + off, R, &mu, &lo, &hi, &k);
        fprintf(f, "%.10g\t%.10g\t%.10g\t%.10g\t%zu\n", X->values[j], mu, lo, hi, k);
        if (fg->log_axes && mu > 0 && X->values[j] > 0) gx += log(X->values[j]), gy += log(mu), gk++;
        if (lo > 0 && lo < ymin) ymin = lo;
        if (hi > ymax) ymax = hi;
        if (ft) {
          double tm, tl, th;
          size_t tk;
          summarise(T + off, R, &tm, &tl, &th, &tk);
          fprintf(ft, "%.10g\t%.10g\n", X->values[j], tm);
        }
      }
      idx[xa] = 0;
      fclose(f);
      if (ft) fclose(ft);
      if (series == 0 && gk) anchor_x = exp(gx / (double)gk), anchor_y = exp(gy / (double)gk);
      fprintf(drv, "  ");
      gp_squote(drv, tsv);
      fprintf(drv, " using 1:2:3:4 with yerrorlines ls %zu title ", series % 8 + 1);
      gp_label(drv, title);
      fprintf(drv, ", \\\n");
      if (ft) {
        if (!theory_titled) fprintf(drv, "  NaN with lines ls 101 title 'theory (dotted)', \\\n");
        fprintf(drv, "  ");
        gp_squote(drv, ttsv);
        fprintf(drv, " using 1:2 with lines ls %zu dt 3 notitle, \\\n", series % 8 + 1);
        theory_titled = 1;
      }
      series++;
    next_series:;
      long a;
      for (a = (long)na - 1; a >= 0; a--) {
        if (a == xa) continue;
        if (++idx[a] < dims[a]) break;
        idx[a] = 0;
      }
      if (a < 0) break;
    }
    free(A);
    free(T);
  }
  {
    /* the reference line's ends count for the tic range */
    double xl = X->values[0], xh = X->values[X->n - 1];
    for (size_t j = 0; j < X->n; j++) xl = fmin(xl, X->values[j]), xh = fmax(xh, X->values[j]);
    if (fg->log_axes && isfinite(fg->slope) && isfinite(anchor_x) && xl > 0) {
      double y1 = 0.6 * anchor_y * pow(xl / anchor_x, fg->slope), y2 = 0.6 * anchor_y * pow(xh / anchor_x, fg->slope);
      ymin = fmin(ymin, fmin(y1, y2));
      ymax = fmax(ymax, fmax(y1, y2));
    }
  }
  if (fg->log_axes && isfinite(fg->slope) && isfinite(anchor_x))
    /* drawn 0.6x below the first series so it does not hide the data */
    fprintf(drv, "  %.10g * (x / %.10g) ** (%.10g) with lines ls 100 title 'reference slope %g', \\\n",
            0.6 * anchor_y, anchor_x, fg->slope, fg->slope);
  fprintf(drv, "  NaN notitle\n");
  fclose(drv);
  drv = main_drv;
  if (fg->log_axes && ymax > 0 && isfinite(ymin)) {
    /* label 1-2-5 steps on log axes that span less than a few decades */
    double lo10 = floor(log10(ymin)), hi10 = ceil(log10(ymax));
    if (hi10 - lo10 <= 3) {
      fprintf(drv, "set ytics (");
      int first = 1;
      for (double e = lo10; e <= hi10; e++)
        for (int k = 0; k < 3; k++) {
          double v = (k == 0 ? 1 : k == 1 ? 2 : 5) * pow(10, e);
          if (v < ymin / 1.3 || v > ymax * 1.3) continue;
          fprintf(drv, "%s%.3g", first ? "" : ", ", v);
          first = 0;
        }
      fprintf(drv, ")\nunset mytics\n");
    }
  }
  fputs(plotcmd, drv);
  free(plotcmd);
  fclose(drv);
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
done:
  free(dims);
  free(idx);
  return s;
}

static size_t split_metrics(const char *list, figure *fg) {
  char *copy = strdup(list), *save = NULL;
  fg->n_metrics = 0;
  if (!copy) return 0;
  for (char *t = strtok_r(copy, ",", &save); t && fg->n_metrics < 8; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ') t++;
    char *e = t + strlen(t);
    while (e > t && e[-1] == ' ') *--e = 0;
    if (*t) snprintf(fg->metrics[fg->n_metrics++], sizeof fg->metrics[0], "%s", t);
  }
  free(copy);
  return fg->n_metrics;
}

int plot_results(const char *h5path, const plot_options *o, ps_msg *m) {
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
  /* [figure.*] */
  for (size_t i = 0; i < cfg_size(c); i++) {
    const cfg_entry *e = cfg_at(c, i);
    if (strncmp(e->section, "figure.", 7) || strcmp(e->key, "metric")) continue;
    figure *fg = &figs[nf++];
    snprintf(fg->name, sizeof fg->name, "%s", e->section + 7);
    split_metrics(e->value, fg);
    const char *v;
    snprintf(fg->x, sizeof fg->x, "%s", (v = cfg_get(c, e->section, "x")) ? v : "");
    fg->log_axes = !((v = cfg_get(c, e->section, "kind")) && !strcmp(v, "line"));
    fg->slope = (v = cfg_get(c, e->section, "slope")) ? strtod(v, NULL) : NAN;
    fg->log_x = (v = cfg_get(c, e->section, "xscale")) && !strcmp(v, "log");
    snprintf(fg->title, sizeof fg->title, "%s", (v = cfg_get(c, e->section, "title")) ? v : "");
    snprintf(fg->ylabel, sizeof fg->ylabel, "%s", (v = cfg_get(c, e->section, "ylabel")) ? v : "");
    snprintf(fg->at, sizeof fg->at, "%s", (v = cfg_get(c, e->section, "at")) ? v : "");
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
    snprintf(fg->name, sizeof fg->name, "%s", e->section + 6);
    split_metrics(e->value, fg);
    snprintf(fg->x, sizeof fg->x, "%s", ag);
    fg->log_axes = 1;
    fg->slope = strtod(cfg_get(c, e->section, "value"), NULL);
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
      snprintf(fg->name, sizeof fg->name, "%s_param_err", est[k]);
      snprintf(fg->metrics[0], sizeof fg->metrics[0], "%s/param_err", est[k]);
      fg->n_metrics = 1;
      snprintf(fg->x, sizeof fg->x, "%s", h5read_axis(r, (size_t)xa)->name);
      fg->log_axes = 1;
      fg->slope = NAN;
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
  if ((s = write_text(dir, "style.gp", plot_style_gp, m)) || (s = write_text(dir, "fig_rate.gp", plot_fig_rate_gp, m)) ||
      (s = write_text(dir, "fig_line.gp", plot_fig_line_gp, m)))
    goto done;
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
