/* cmd_export.c — `prefsim export RESULTS.h5 --format csv|netcdf [-o FILE] [--partial]`:
 * a results file as a tidy CSV table or as one flat netCDF-4 dataset.
 *
 * CSV: one row per (estimator, metric, cell), then per (truth or theory quantity,
 * cell); columns estimator, metric, one per sweep axis, replicate, value.  Truth and
 * theory rows have estimator "truth" or "theory".  Numbers are written with the fewest
 * digits that read back to the same double (at most 17; with ".0" when integral, so a
 * float column reads back as float), so the table round-trips to the last bit; NaN is "NaN", infinities "Inf" and "-Inf"; integer axes are integers,
 * text axes text (quoted as RFC 4180 when they hold a comma, quote, line break or
 * edge space).  An axis whose name is a fixed column (estimator, metric, replicate,
 * value) is renamed axis_NAME (axis_axis_NAME, ... while that is taken too).
 * python/prefsim's tidy() returns the same table.
 *
 * netCDF: results/h5export.c's flat dataset (dimension estimator; each metric
 * [estimator, axes..., replicate]; truth_Q, theory_Q), which xarray.open_dataset
 * opens without a group.
 *
 * Only a COMPLETED file with every cell done is exported unless --partial (then cells
 * not done are NaN, like in the file).  Output goes through a temporary beside FILE,
 * fsync'd and renamed (fit_io.c); without -o the CSV goes to standard output.
 * Exit: 0, 2 usage, 3 data (unreadable, damaged or partial file, write error). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../results/h5store.h"
#include "commands.h"
#include "fitcli_impl.h"

enum { EXPORT_USAGE = 2, EXPORT_DATA = 3 };

void usage_export(FILE *f) {
  fprintf(f,
          "usage: prefsim export RESULTS.h5 [--format csv|netcdf] [-o FILE] [--partial]\n"
          "\n"
          "Writes the results as a tidy CSV table (default; standard output without -o) or as a\n"
          "netCDF-4 file (needs -o) that xarray.open_dataset(FILE) opens without a group.\n"
          "  --format csv     columns estimator, metric, one per sweep axis, replicate, value; one row\n"
          "                   per estimator, metric and cell, then truth and theory quantities (estimator\n"
          "                   \"truth\" or \"theory\"); an axis named like a column becomes axis_NAME.\n"
          "                   Numbers read back bit-identical; NaN is written NaN, infinities Inf/-Inf\n"
          "  --format netcdf  dimensions estimator, the axes, replicate; each metric a variable\n"
          "                   [estimator, axes..., replicate] (NaN where an estimator lacks it);\n"
          "                   truth_Q and theory_Q [axes..., replicate]; the file's attributes\n"
          "  -o, --output FILE  write FILE (through a temporary, fsync'd, renamed)\n"
          "  --partial        export a file that is not COMPLETED or has cells not done (their\n"
          "                   values are NaN); refused otherwise\n"
          "Exit status: 0 written, 2 usage error, 3 unreadable, damaged or partial file, or a\n"
          "write error.  pandas: prefsim.tidy(RESULTS.h5) (python/) returns the same table.\n");
}

/* Shortest text that strtod reads back as v (at most 17 significant digits). */
static void put_number(FILE *f, double v) {
  if (isnan(v)) {
    fputs("NaN", f);
    return;
  }
  if (isinf(v)) {
    fputs(v > 0 ? "Inf" : "-Inf", f);
    return;
  }
  char buf[40];
  for (int digits = 15; digits <= 17; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) break;
  }
  /* a float column reads back as float: "2.0", never "2" */
  if (!strpbrk(buf, ".e")) strcat(buf, ".0");
  fputs(buf, f);
}

static void put_text(FILE *f, const char *s) {
  size_t n = strlen(s);
  int quote = n && (s[0] == ' ' || s[n - 1] == ' ');
  for (const char *p = s; *p && !quote; p++) quote = *p == ',' || *p == '"' || *p == '\n' || *p == '\r';
  if (!quote) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (const char *p = s; *p; p++) {
    if (*p == '"') fputc('"', f);
    fputc(*p, f);
  }
  fputc('"', f);
}

static int is_fixed_column(const char *name) {
  static const char *const fixed[] = {"estimator", "metric", "replicate", "value", NULL};
  for (size_t i = 0; fixed[i]; i++)
    if (!strcmp(name, fixed[i])) return 1;
  return 0;
}

/* Column names of the axes: the axis name, or axis_NAME (repeated) when it is taken. */
static char **axis_columns(const h5read *r) {
  size_t k = h5read_n_axes(r);
  char **cols = calloc(k ? k : 1, sizeof *cols);
  if (!cols) return NULL;
  for (size_t a = 0; a < k; a++) {
    const char *name = h5read_axis(r, a)->name;
    size_t prefixes = 0;
    for (;;) {
      size_t len = strlen(name) + 5 * prefixes + 1;
      char *c = malloc(len);
      if (!c) goto oom;
      c[0] = 0;
      for (size_t i = 0; i < prefixes; i++) strcat(c, "axis_");
      strcat(c, name);
      int taken = is_fixed_column(c);
      for (size_t b = 0; b < k && !taken; b++) taken = b != a && !strcmp(c, h5read_axis(r, b)->name);
      for (size_t b = 0; b < a && !taken; b++) taken = !strcmp(c, cols[b]);
      if (!taken) {
        cols[a] = c;
        break;
      }
      free(c);
      prefixes++;
    }
  }
  return cols;
oom:
  for (size_t a = 0; a < k; a++) free(cols[a]);
  free(cols);
  return NULL;
}

/* The rows of one array: estimator, metric, the cell's axis values, replicate, value. */
static void put_rows(FILE *f, const h5read *r, const char *est, const char *metric, const double *v) {
  size_t k = h5read_n_axes(r), R = h5read_n_replicates(r), nc = h5read_n_cells(r);
  size_t idx[64]; /* HDF5 allows 32 dimensions */
  for (size_t c = 0; c < nc; c++) {
    size_t rest = c / R;
    for (size_t a = k; a-- > 0;) {
      idx[a] = rest % h5read_axis(r, a)->n;
      rest /= h5read_axis(r, a)->n;
    }
    put_text(f, est);
    fputc(',', f);
    put_text(f, metric);
    for (size_t a = 0; a < k; a++) {
      const h5store_axis *ax = h5read_axis(r, a);
      fputc(',', f);
      if (ax->labels) put_text(f, ax->labels[idx[a]]);
      else if (ax->integer) fprintf(f, "%lld", (long long)ax->values[idx[a]]);
      else put_number(f, ax->values[idx[a]]);
    }
    fprintf(f, ",%zu,", c % R);
    put_number(f, v[c]);
    fputc('\n', f);
  }
}

static int write_csv(FILE *f, const h5read *r, const char *in, ps_msg *m) {
  const char *const *est = h5read_estimators(r);
  for (size_t e = 0; est && est[e]; e++)
    if (!strcmp(est[e], "truth") || !strcmp(est[e], "theory"))
      return ps_fail(m, PS_EINVAL, "%s: an estimator is labelled '%s', the estimator column's name for %s rows: "
                     "the CSV would be ambiguous (export --format netcdf has no such limit)", in, est[e], est[e]);
  char **cols = axis_columns(r);
  if (!cols) return ps_fail(m, PS_ENOMEM, "out of memory");
  fputs("estimator,metric", f);
  for (size_t a = 0; a < h5read_n_axes(r); a++) {
    fputc(',', f);
    put_text(f, cols[a]);
  }
  fputs(",replicate,value\n", f);
  char path[1024];
  double *v = NULL;
  int s = PS_OK;
  for (size_t e = 0; est && est[e] && !s; e++)
    for (const char *const *q = h5read_metrics(r, est[e]); q && *q && !s; q++) {
      snprintf(path, sizeof path, "metrics/%s/%s", est[e], *q);
      if (!(s = h5read_array(r, path, &v, m))) put_rows(f, r, est[e], *q, v);
      free(v);
      v = NULL;
    }
  for (int part = 0; part < 2 && !s; part++) {
    const char *g = part ? "theory" : "truth";
    for (const char *const *q = h5read_quantities(r, g); q && *q && !s; q++) {
      snprintf(path, sizeof path, "%s/%s", g, *q);
      if (!(s = h5read_array(r, path, &v, m))) put_rows(f, r, g, *q, v);
      free(v);
      v = NULL;
    }
  }
  for (size_t a = 0; a < h5read_n_axes(r); a++) free(cols[a]);
  free(cols);
  return s;
}

int cmd_export(int argc, char **argv) {
  static const struct option longs[] = {{"format", required_argument, NULL, 'f'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"partial", no_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
  const char *format = "csv", *out = NULL;
  int partial = 0, c;
  opterr = 0;
  optind = 0; /* GNU: a full reset, in case another command parsed before */
  while ((c = getopt_long(argc, argv, ":o:h", longs, NULL)) != -1) {
    switch (c) {
    case 'f': format = optarg; break;
    case 'o': out = optarg; break;
    case 'p': partial = 1; break;
    case 'h': usage_export(stdout); return 0;
    case ':':
      fprintf(stderr, "prefsim export: option '%s' needs a value\n", argv[optind - 1]);
      return EXPORT_USAGE;
    default:
      if (optopt)
        fprintf(stderr, "prefsim export: unknown option '-%c' (options: --format, -o/--output, --partial)\n", optopt);
      else
        fprintf(stderr, "prefsim export: unknown option '%s' (options: --format, -o/--output, --partial)\n",
                argv[optind - 1]);
      return EXPORT_USAGE;
    }
  }
  if (optind != argc - 1) {
    if (optind >= argc) fprintf(stderr, "prefsim export: which results file? (prefsim export RESULTS.h5)\n");
    else fprintf(stderr, "prefsim export: one results file, not '%s' too\n", argv[optind + 1]);
    usage_export(stderr);
    return EXPORT_USAGE;
  }
  int netcdf = !strcmp(format, "netcdf");
  if (!netcdf && strcmp(format, "csv")) {
    fprintf(stderr, "prefsim export: --format '%s' is not csv or netcdf\n", format);
    return EXPORT_USAGE;
  }
  if (netcdf && (!out || !strcmp(out, "-"))) {
    fprintf(stderr, "prefsim export: --format netcdf writes a binary file: name it with -o FILE\n");
    return EXPORT_USAGE;
  }
  const char *in = argv[optind];
  ps_msg m = {{0}};
  h5read *r = NULL;
  if (h5read_open(in, &r, &m) != PS_OK) {
    fprintf(stderr, "prefsim export: %s\n", m.text);
    return EXPORT_DATA;
  }
  size_t pending = 0, done = 0, failed = 0;
  const char *status = h5read_attr(r, "status");
  if (h5read_cell_counts(r, &pending, &done, &failed, &m) != PS_OK) {
    fprintf(stderr, "prefsim export: %s\n", m.text);
    h5read_close(r);
    return EXPORT_DATA;
  }
  if (!partial && (pending || !status || strcmp(status, "COMPLETED"))) {
    fprintf(stderr,
            "prefsim export: %s is %s with %zu of %zu cells done: its values are incomplete; finish it (prefsim "
            "run resumes it) or pass --partial to export it as it is (cells not done are NaN)\n",
            in, status ? status : "of unknown status", done + failed, h5read_n_cells(r));
    h5read_close(r);
    return EXPORT_DATA;
  }
  int s = PS_OK;
  fit_outfile o;
  memset(&o, 0, sizeof o);
  FILE *f = stdout;
  unsigned char *image = NULL;
  size_t size = 0;
  if (netcdf && (s = h5read_export_netcdf(r, &image, &size, &m))) ps_msg_prefix(&m, "%s", in);
  if (!s && out && strcmp(out, "-")) {
    if (!(s = fit_out_open(&o, out, &m))) f = o.fp;
  }
  if (!s) {
    if (netcdf) {
      if (fwrite(image, 1, size, f) != size) s = ps_fail(&m, PS_EIO, "cannot write %s: %s", out, strerror(errno));
    } else {
      s = write_csv(f, r, in, &m);
    }
  }
  if (!s && o.fp) s = fit_out_commit(&o, &m);
  else if (o.fp) fit_out_abort(&o);
  free(image);
  h5read_close(r);
  if (s) {
    fprintf(stderr, "prefsim export: %s\n", m.text);
    return EXPORT_DATA;
  }
  return 0;
}
