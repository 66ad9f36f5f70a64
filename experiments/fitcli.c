/* fitcli.c — `prefsim fit`: parse the command line, read the CSV, fit, print.
 *
 * Bradley-Terry (THEORY.md §3.1) with bt.h's penalty convention: minimise
 *
 *     f(theta) = -sum_i c_i log sigma(theta_w(i) - theta_l(i)) + (lambda/2) ||theta||^2,
 *
 * lambda = --l2 (0 by default: the MLE, which exists iff the directed win graph is
 * strongly connected; that is checked first, with item names in the message).
 *
 * Standard errors come from C = the inverse Hessian of f restricted to the
 * sum-zero space (bt_covariance).  Only contrasts of theta are identified, and
 * the two reported scales are contrasts:
 *   centred (default):  score_i = theta_i - mean(theta),  SE_i = sqrt((P C P)_ii),
 *                       P = I - 11^T/m the centring projector;
 *   --reference r:      score_i = theta_i - theta_r,      SE_i = sqrt(C_ii + C_rr - 2 C_ir),
 *                       BradleyTerry2's convention (BTabilities with refcat r).
 * Applying P explicitly makes the centred SEs independent of how the covariance
 * routine fixes the component along 1 (which the contrasts never see).  With
 * lambda > 0, C is the Laplace (Gaussian-posterior) covariance of the penalised fit. */
#include "fitcli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/ps.h"
#include "../estimators/bt.h"
#include "csv.h"

typedef struct {
  const char *model;     /* --model, NULL when not given */
  const char *data;      /* DATA path, "-" for stdin */
  double l2;             /* --l2, >= 0 */
  const char *reference; /* --reference, or NULL */
  int want_se;           /* 0 with --no-se */
  int verbose;           /* -v: timings on stderr */
  int help;              /* --help */
} fit_args;

/* Standard errors keep the m x m Hessian and its inverse: 2 x 3.2 GB at this
 * limit.  Refusing up front beats an allocation that may succeed under memory
 * overcommit and then be killed while it is filled. */
#define MAX_SE_ITEMS 20000

static const char *const model_names[] = {"bt"};
#define N_MODELS (sizeof model_names / sizeof model_names[0])

void fitcli_usage(FILE *out) {
  fputs(
      "usage: prefsim fit --model bt DATA.csv [--l2 LAMBDA] [--reference ITEM] [--no-se] [-v]\n"
      "\n"
      "Fit a Bradley-Terry model to pairwise comparisons; print item scores and standard errors.\n"
      "\n"
      "DATA.csv  a header row, then one comparison per row.  Columns, found by name in any order:\n"
      "          winner, loser (required), count (optional: positive real multiplicity), annotator\n"
      "          (optional, read but not used by bt); other columns are ignored.  Fields may be\n"
      "          quoted (\"a, b\"; a literal \" is written \"\"); \\n or \\r\\n line ends; blank lines\n"
      "          and a UTF-8 BOM are skipped.  \"-\" reads standard input.\n"
      "\n"
      "options:\n"
      "  --model bt        the model; allowed: bt (Bradley-Terry, logistic link)\n"
      "  --l2 LAMBDA       add (LAMBDA/2)||theta||^2 to the summed negative log-likelihood;\n"
      "                    LAMBDA finite and >= 0 (default 0: maximum likelihood).  A small\n"
      "                    LAMBDA (e.g. 0.1) gives finite scores when no MLE exists\n"
      "  --reference ITEM  report theta_i - theta_ITEM, so ITEM scores 0 with SE 0, and the SEs\n"
      "                    of those differences (BradleyTerry2's convention); default: scores\n"
      "                    centred to sum 0 with the SEs of the centred scores\n"
      "  --no-se           skip standard errors (they need two items x items matrices;\n"
      "                    required above 20000 items)\n"
      "  -v, --verbose     print the time spent in each step on stderr\n"
      "  -h, --help        this text\n"
      "\n"
      "output (stdout, tab-separated):\n"
      "  item<TAB>score<TAB>se    header, then one row per item in order of first appearance\n"
      "                           in DATA (tabs in names are written as spaces; se is NA when\n"
      "                           not computed); numbers with 12 significant digits\n"
      "  # key<TAB>value          then: loglik, objective, status (ok, not-converged, ...),\n"
      "                           iterations, grad_norm, model, l2, scale (centred or\n"
      "                           reference), items, rows, weight (sum of counts)\n"
      "  se = sqrt of the diagonal of the inverse Hessian of the objective on the sum-zero\n"
      "  space, transformed to the reported scale.\n"
      "\n"
      "exit status:\n"
      "  0 ok\n"
      "  1 out of memory (or too many items for standard errors), internal error\n"
      "  2 usage error (unknown option or model, bad --l2, missing DATA)\n"
      "  3 bad data (malformed CSV, with file and line; unknown --reference item)\n"
      "  4 no maximum-likelihood estimate (e.g. a disconnected comparison graph, an item that\n"
      "    never wins or never loses); use --l2 LAMBDA\n"
      "  5 I/O error (DATA unreadable, stdout not writable)\n"
      "  6 the fit failed numerically (no convergence, singular Hessian); the table is still\n"
      "    printed, with its status\n",
      out);
}

/* ------------------------------------------------------------ arguments */

static int parse_number(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end != 0) return 0;
  *out = v;
  return 1;
}

/* The value of option name at argv[*i]: "--name=value" or "--name value". */
static const char *option_value(int argc, char **argv, int *i, const char *name, ps_msg *m) {
  const char *a = argv[*i];
  size_t k = strlen(name);
  if (a[k] == '=') return a + k + 1;
  if (*i + 1 >= argc) {
    ps_fail(m, PS_EINVAL, "%s needs a value", name);
    return NULL;
  }
  return argv[++*i];
}

static int is_option(const char *a, const char *name) {
  size_t k = strlen(name);
  return strncmp(a, name, k) == 0 && (a[k] == 0 || a[k] == '=');
}

static int parse_args(int argc, char **argv, fit_args *a, ps_msg *m) {
  memset(a, 0, sizeof *a);
  a->want_se = 1;
  int only_files = 0;
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i], *v;
    if (only_files || s[0] != '-' || strcmp(s, "-") == 0) {
      if (a->data) return ps_fail(m, PS_EINVAL, "more than one data file ('%s' and '%s')", a->data, s);
      a->data = s;
    } else if (strcmp(s, "--") == 0) {
      only_files = 1;
    } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
      a->help = 1;
    } else if (strcmp(s, "-v") == 0 || strcmp(s, "--verbose") == 0) {
      a->verbose = 1;
    } else if (strcmp(s, "--no-se") == 0) {
      a->want_se = 0;
    } else if (is_option(s, "--model")) {
      if (!(v = option_value(argc, argv, &i, "--model", m))) return PS_EINVAL;
      a->model = v;
    } else if (is_option(s, "--reference")) {
      if (!(v = option_value(argc, argv, &i, "--reference", m))) return PS_EINVAL;
      a->reference = v;
    } else if (is_option(s, "--l2")) {
      if (!(v = option_value(argc, argv, &i, "--l2", m))) return PS_EINVAL;
      if (!parse_number(v, &a->l2) || !isfinite(a->l2) || !(a->l2 >= 0))
        return ps_fail(m, PS_EINVAL, "--l2 must be a finite number >= 0, not '%s'", v);
    } else {
      return ps_fail(m, PS_EINVAL, "unknown option '%s'", s);
    }
  }
  if (a->help) return PS_OK;
  if (!a->model) return ps_fail(m, PS_EINVAL, "missing --model (allowed: bt)");
  int known = 0;
  for (size_t k = 0; k < N_MODELS; k++) known |= strcmp(a->model, model_names[k]) == 0;
  if (!known) return ps_fail(m, PS_EINVAL, "unknown model '%s' (allowed: bt)", a->model);
  if (!a->data) return ps_fail(m, PS_EINVAL, "missing the data file (DATA.csv, or - for stdin)");
  return PS_OK;
}

/* ---------------------------------------------------------------- output */

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A name as one TSV cell: tabs (and any stray CR/LF) become spaces. */
static void put_cell(FILE *out, const char *s) {
  for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, out);
}

/* Scores and SEs on the requested scale from the centred theta and its
 * covariance C (m x m, or NULL for no SEs).  C is overwritten when centring. */
static void transform_scale(const double *theta, double *C, size_t m, long ref, double *score,
                            double *se) {
  if (ref >= 0) {
    size_t r = (size_t)ref;
    for (size_t i = 0; i < m; i++) {
      score[i] = theta[i] - theta[r];
      se[i] = C ? sqrt(fmax(0, C[i * m + i] + C[r * m + r] - 2 * C[i * m + r])) : NAN;
    }
    if (C) se[r] = 0; /* exactly, not a rounding residue */
    return;
  }
  double mean = 0;
  for (size_t i = 0; i < m; i++) mean += theta[i];
  mean /= (double)m;
  for (size_t i = 0; i < m; i++) score[i] = theta[i] - mean;
  if (!C) {
    for (size_t i = 0; i < m; i++) se[i] = NAN;
    return;
  }
  /* (P C P)_ii = C_ii - 2 rowmean_i + grandmean  (C symmetric) */
  double grand = 0;
  for (size_t i = 0; i < m; i++) {
    double s = 0;
    for (size_t j = 0; j < m; j++) s += C[i * m + j];
    se[i] = s / (double)m; /* row mean, for now */
    grand += se[i];
  }
  grand /= (double)m;
  for (size_t i = 0; i < m; i++) se[i] = sqrt(fmax(0, C[i * m + i] - 2 * se[i] + grand));
}

static void print_table(FILE *out, const csv_comparisons *c, const fit_args *a, const bt_result *r,
                        const double *score, const double *se) {
  size_t m = c->data.n_items;
  fputs("item\tscore\tse\n", out);
  for (size_t i = 0; i < m; i++) {
    put_cell(out, c->item_name[i]);
    fprintf(out, "\t%.12g\t", score[i]);
    if (isnan(se[i]))
      fputs("NA\n", out);
    else
      fprintf(out, "%.12g\n", se[i]);
  }
  fprintf(out, "# loglik\t%.12g\n", r->loglik);
  fprintf(out, "# objective\t%.12g\n", r->objective);
  fprintf(out, "# status\t%s\n", ps_status_name(r->status));
  fprintf(out, "# iterations\t%d\n", r->iterations);
  fprintf(out, "# grad_norm\t%.3g\n", r->grad_norm);
  fprintf(out, "# model\t%s\n", a->model);
  fprintf(out, "# l2\t%.12g\n", a->l2);
  if (a->reference) {
    fputs("# scale\treference ", out);
    put_cell(out, a->reference);
    fputc('\n', out);
  } else {
    fputs("# scale\tcentred\n", out);
  }
  fprintf(out, "# items\t%zu\n", m);
  fprintf(out, "# rows\t%zu\n", c->data.n);
  fprintf(out, "# weight\t%.12g\n", pref_data_weight(&c->data));
}

/* ----------------------------------------------------------------- main */

static int exit_for_read(int status) {
  switch (status) {
  case PS_EIO: return FITCLI_EXIT_IO;
  case PS_EFORMAT: return FITCLI_EXIT_DATA;
  default: return FITCLI_EXIT_INTERNAL;
  }
}

/* "'a', 'b', 'c', ... (m items)" for the unknown-reference message. */
static void list_items(const csv_comparisons *c, char *buf, size_t size) {
  size_t k = 0, m = c->data.n_items, shown = m < 8 ? m : 8;
  buf[0] = 0;
  for (size_t i = 0; i < shown && k < size; i++) {
    int w = snprintf(buf + k, size - k, "%s'%.40s'", i ? ", " : "", c->item_name[i]);
    if (w < 0) return;
    k += (size_t)w;
  }
  if (m > shown && k < size) snprintf(buf + k, size - k, ", ... (%zu items)", m);
}

int fitcli_main(int argc, char **argv) {
  fit_args a;
  ps_msg msg = {{0}};
  if (parse_args(argc, argv, &a, &msg) != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n\n", msg.text);
    fitcli_usage(stderr);
    return FITCLI_EXIT_USAGE;
  }
  if (a.help) {
    fitcli_usage(stdout);
    return FITCLI_EXIT_OK;
  }

  csv_comparisons c;
  bt_result r;
  memset(&r, 0, sizeof r);
  double *cov = NULL, *score = NULL, *se = NULL;
  int rc = FITCLI_EXIT_OK;
  double t0 = now_seconds(), t_read, t_check, t_fit, t_cov = 0, t_out;

  int s = csv_read_comparisons(a.data, &c, &msg);
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n", msg.text);
    return exit_for_read(s);
  }
  t_read = now_seconds();
  size_t m = c.data.n_items;
  const char *file = strcmp(a.data, "-") == 0 ? "<stdin>" : a.data;

  long ref = -1;
  if (a.reference) {
    for (size_t i = 0; i < m && ref < 0; i++)
      if (strcmp(c.item_name[i], a.reference) == 0) ref = (long)i;
    if (ref < 0) {
      char items[400];
      list_items(&c, items, sizeof items);
      fprintf(stderr, "prefsim fit: --reference '%s' is not among the %zu items of %s: %s\n",
              a.reference, m, file, items);
      rc = FITCLI_EXIT_DATA;
      goto done;
    }
  }

  if (a.want_se && m > MAX_SE_ITEMS) {
    fprintf(stderr,
            "prefsim fit: %s: standard errors for %zu items need two %zux%zu matrices (%.0f GB); "
            "rerun with --no-se\n",
            file, m, m, m, 2.0 * 8 * (double)m * (double)m / 1e9);
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  if (a.l2 == 0) {
    s = bt_check_items(&c.data, (const char *const *)c.item_name, &msg);
    if (s != PS_OK) {
      if (s == PS_ENOMLE)
        fprintf(stderr,
                "prefsim fit: %s: no maximum-likelihood estimate: %s.\n"
                "  Add a penalty, e.g. --l2 0.1, to get finite (shrunken) scores.\n",
                file, msg.text);
      else
        fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
      rc = s == PS_ENOMLE ? FITCLI_EXIT_NOMLE : FITCLI_EXIT_INTERNAL;
      goto done;
    }
  }
  t_check = now_seconds();

  pref_features items = {.n_items = m, .d = m, .phi = NULL, .n_contexts = 1, .item_context = NULL};
  bt_options o = bt_options_default();
  o.l2 = a.l2;
  o.want_hessian = a.want_se;
  s = bt_fit(&c.data, &items, &o, &r, &msg);
  t_fit = now_seconds();
  if (s == PS_ENOMLE) {
    fprintf(stderr, "prefsim fit: %s: %s.\n  Add a penalty, e.g. --l2 0.1.\n", file, msg.text);
    rc = FITCLI_EXIT_NOMLE;
    goto done;
  }
  if (s == PS_ENOMEM) {
    fprintf(stderr, "prefsim fit: %s%s\n", msg.text,
            a.want_se ? " (--no-se avoids the items x items Hessian)" : "");
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  if (s != PS_OK && s != PS_ENOCONV && s != PS_EDOM) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    rc = FITCLI_EXIT_NUMERIC;
  }

  score = malloc(m * sizeof *score);
  se = malloc(m * sizeof *se);
  if (!score || !se) {
    fprintf(stderr, "prefsim fit: out of memory for %zu scores\n", m);
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  if (a.want_se && r.hessian) {
    cov = malloc(m * m * sizeof *cov);
    if (!cov) {
      fprintf(stderr, "prefsim fit: out of memory for the %zux%zu covariance (try --no-se)\n", m, m);
      rc = FITCLI_EXIT_INTERNAL;
      goto done;
    }
    s = bt_covariance(&r, &items, cov, &msg);
    if (s != PS_OK) {
      fprintf(stderr, "prefsim fit: %s: standard errors: %s\n", file, msg.text);
      free(cov);
      cov = NULL;
      rc = FITCLI_EXIT_NUMERIC;
    }
  }
  t_cov = now_seconds();
  transform_scale(r.theta, cov, m, ref, score, se);
  print_table(stdout, &c, &a, &r, score, se);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "prefsim fit: error writing the results to standard output\n");
    rc = FITCLI_EXIT_IO;
  }
  t_out = now_seconds();
  if (a.verbose)
    fprintf(stderr,
            "prefsim fit: %zu rows, %zu items: read+parse %.3f s, existence check %.3f s, fit "
            "%.3f s (%d Newton, %d CG iterations%s), covariance %.3f s, output %.3f s, total %.3f s\n",
            c.data.n, m, t_read - t0, t_check - t_read, t_fit - t_check, r.iterations,
            r.cg_iterations, a.want_se ? ", incl. the Hessian" : "", t_cov - t_fit, t_out - t_cov,
            t_out - t0);

done:
  free(cov);
  free(score);
  free(se);
  bt_result_free(&r);
  csv_comparisons_free(&c);
  return rc;
}
