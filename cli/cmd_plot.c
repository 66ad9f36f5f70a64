/* cmd_plot.c — `prefsim plot RESULTS.h5 [options]`: parse the command line
 * (getopt_long) into [figure] keys and call plot_results (plots/plot.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plots/plot.h"
#include "../results/h5store.h"
#include "cmd_plot.h"

enum { EXIT_USAGE = 2, EXIT_DATA = 3 };

void cmd_plot_usage(FILE *f) {
  fprintf(f,
          "usage: prefsim plot RESULTS.h5 [options]\n"
          "\n"
          "Draws the experiment's figures: each [figure.NAME] section of its config, each slope claim not\n"
          "drawn by one (with its reference slope and the Cramer-Rao theory curve when one exists), else\n"
          "param_err per estimator.  Per figure F of S.h5 it writes, beside the results (or in DIR):\n"
          "S_F.sK.tsv (x, mean, CI low, CI high, replicates; the 95%% t interval clipped to the metric's\n"
          "declared range), a gnuplot driver S_F.gp (with style.gp beside it: `gnuplot -e \"fmt='png'\"\n"
          "S_F.gp` redraws it), and S_F.pdf and S_F.png.\n"
          "\n"
          "output:\n"
          "  -o, --output DIR          directory for the files (default: the results file's)\n"
          "  -f, --format FMT          pdf, png, both (default) or cairolatex (.tex + .pdf; labels may hold\n"
          "                            LaTeX math, $\\beta$, which pdf and png show as plain text)\n"
          "      --no-gnuplot          write the TSV files and drivers only\n"
          "\n"
          "figure keys (the same keys as [figure.NAME]; given here they override every figure drawn):\n"
          "  -m, --metric EST/METRIC   draw only this figure: one or more metrics (repeat, or a comma list;\n"
          "                            truth/Q and theory/Q too); its name is the first metric's (or --name)\n"
          "      --name NAME           the name F of the --metric figure\n"
          "  -x, --x AXIS              the horizontal axis (with --metric, default: the first numeric axis)\n"
          "      --by AXIS[,AXIS]      axes whose values make the series (default: every axis with more than\n"
          "                            one value not on x, fixed by --at or faceted)\n"
          "      --facet AXIS          small multiples: one panel per value of AXIS\n"
          "      --at 'AXIS=V, ...'    fix other axes at one value each\n"
          "      --xlabel, --ylabel, --title TEXT\n"
          "                            labels (default: the axis in words; the metric's long name and units)\n"
          "      --labels 'A|B|...'    series titles in drawing order (default: only what varies, in words)\n"
          "      --logx[=yes|no|auto], --logy[=yes|no|auto]\n"
          "                            log axes (auto, the default: rate figures, or positive values spanning\n"
          "                            max/min >= 20)\n"
          "      --band | --bars       the 95%% CI as a shaded band or as error bars (the default)\n"
          "      --interval bars|band|none\n"
          "      --legend auto|inside|outside|none\n"
          "                            auto (default): inside, in a corner free of data (with headroom added\n"
          "                            above the data if no corner is free), else outside right\n"
          "      --size single|double|WxH\n"
          "                            8.5 cm (one journal column, default), 17.8 cm (two) or W x H cm\n"
          "  -h, --help                this text\n"
          "[figure.NAME] also takes kind = rate|line (rate: log-log), slope (a reference line on a rate\n"
          "figure) and xscale = log|linear.\n"
          "\n"
          "Errors (exit 2): an unknown option, key value, metric or axis, named with what is allowed.\n"
          "A file that is still running or was stopped is drawn as it is, with a warning.\n");
}

static const struct option long_opts[] = {
    {"output", required_argument, NULL, 'o'},   {"format", required_argument, NULL, 'f'},
    {"no-gnuplot", no_argument, NULL, 'G'},     {"metric", required_argument, NULL, 'm'},
    {"name", required_argument, NULL, 'N'},     {"x", required_argument, NULL, 'x'},
    {"by", required_argument, NULL, 'b'},       {"facet", required_argument, NULL, 'F'},
    {"at", required_argument, NULL, 'a'},       {"xlabel", required_argument, NULL, 'X'},
    {"ylabel", required_argument, NULL, 'Y'},   {"title", required_argument, NULL, 't'},
    {"labels", required_argument, NULL, 'L'},   {"logx", optional_argument, NULL, '1'},
    {"logy", optional_argument, NULL, '2'},     {"band", no_argument, NULL, 'B'},
    {"bars", no_argument, NULL, 'E'},           {"interval", required_argument, NULL, 'I'},
    {"legend", required_argument, NULL, 'K'},   {"size", required_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};

static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), d[64];
  if (lb >= 63) return 99;
  for (size_t j = 0; j <= lb; j++) d[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t prev = d[0];
    d[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t cur = d[j], sub = prev + (a[i - 1] != b[j - 1]);
      d[j] = d[j] + 1 < d[j - 1] + 1 ? d[j] + 1 : d[j - 1] + 1;
      if (sub < d[j]) d[j] = sub;
      prev = cur;
    }
  }
  return d[lb];
}

static void unknown_option(const char *arg, int short_opt) {
  if (short_opt) {
    fprintf(stderr, "prefsim plot: unknown option '-%c' (prefsim plot --help lists them)\n", short_opt);
    return;
  }
  char name[128];
  snprintf(name, sizeof name, "%s", arg + (arg[0] == '-' && arg[1] == '-' ? 2 : 0));
  name[strcspn(name, "=")] = 0;
  const char *best = NULL;
  size_t bd = 3;
  for (const struct option *o = long_opts; o->name; o++) {
    size_t d = edit_distance(name, o->name);
    if (d < bd) bd = d, best = o->name;
  }
  if (best) fprintf(stderr, "prefsim plot: unknown option '--%s'; did you mean '--%s'?\n", name, best);
  else fprintf(stderr, "prefsim plot: unknown option '--%s' (prefsim plot --help lists them)\n", name);
}

int cmd_plot(int argc, char **argv) {
  plot_options o = {.format = "both", .run_gnuplot = 1, .log = stdout};
  char *metrics = NULL; /* --metric, repeated: joined with commas */
  int rc = 0;
  opterr = 0;
  optind = 1;
  int c;
#define KEY(k, v)                                                                                                     \
  do {                                                                                                                \
    if (o.n_keys == PLOT_MAX_KEYS) {                                                                                  \
      fprintf(stderr, "prefsim plot: too many options\n");                                                            \
      rc = EXIT_USAGE;                                                                                                \
      goto out;                                                                                                       \
    }                                                                                                                 \
    o.key[o.n_keys] = (k), o.value[o.n_keys++] = (v);                                                                 \
  } while (0)
  while ((c = getopt_long(argc, argv, ":o:f:m:x:h", long_opts, NULL)) != -1) {
    switch (c) {
    case 'o': o.outdir = optarg; break;
    case 'f':
      o.format = optarg;
      if (strcmp(optarg, "pdf") && strcmp(optarg, "png") && strcmp(optarg, "both") && strcmp(optarg, "cairolatex")) {
        fprintf(stderr, "prefsim plot: --format takes pdf, png, both or cairolatex, not '%s'\n", optarg);
        rc = EXIT_USAGE;
        goto out;
      }
      break;
    case 'G': o.run_gnuplot = 0; break;
    case 'm': {
      size_t l = metrics ? strlen(metrics) : 0;
      char *nm = realloc(metrics, l + strlen(optarg) + 2);
      if (!nm) {
        fprintf(stderr, "prefsim plot: out of memory\n");
        rc = EXIT_DATA;
        goto out;
      }
      if (l) nm[l++] = ',';
      strcpy(nm + l, optarg);
      metrics = nm;
      break;
    }
    case 'N': o.name = optarg; break;
    case 'x': KEY("x", optarg); break;
    case 'b': KEY("by", optarg); break;
    case 'F': KEY("facet", optarg); break;
    case 'a': KEY("at", optarg); break;
    case 'X': KEY("xlabel", optarg); break;
    case 'Y': KEY("ylabel", optarg); break;
    case 't': KEY("title", optarg); break;
    case 'L': KEY("labels", optarg); break;
    case '1': KEY("logx", optarg ? optarg : "yes"); break;
    case '2': KEY("logy", optarg ? optarg : "yes"); break;
    case 'B': KEY("interval", "band"); break;
    case 'E': KEY("interval", "bars"); break;
    case 'I': KEY("interval", optarg); break;
    case 'K': KEY("legend", optarg); break;
    case 'S': KEY("size", optarg); break;
    case 'h':
      cmd_plot_usage(stdout);
      goto out;
    case ':':
      fprintf(stderr, "prefsim plot: option '%s' needs a value (prefsim plot --help)\n", argv[optind - 1]);
      rc = EXIT_USAGE;
      goto out;
    default:
      unknown_option(argv[optind - 1], optopt);
      rc = EXIT_USAGE;
      goto out;
    }
  }
#undef KEY
  if (metrics) {
    if (o.n_keys == PLOT_MAX_KEYS) {
      fprintf(stderr, "prefsim plot: too many options\n");
      rc = EXIT_USAGE;
      goto out;
    }
    o.key[o.n_keys] = "metric", o.value[o.n_keys++] = metrics;
  }
  if (o.name && !metrics) {
    fprintf(stderr, "prefsim plot: --name names the figure of --metric; give --metric too\n");
    rc = EXIT_USAGE;
    goto out;
  }
  if (optind != argc - 1) {
    if (optind == argc) fprintf(stderr, "prefsim plot: give one RESULTS.h5\n");
    else fprintf(stderr, "prefsim plot: one RESULTS.h5 only, not also '%s'\n", argv[optind + (optind < argc - 1)]);
    cmd_plot_usage(stderr);
    rc = EXIT_USAGE;
    goto out;
  }
  const char *in = argv[optind];
  ps_msg m = {{0}};
  for (size_t i = 0; i < o.n_keys; i++)
    if (plot_check_key(o.key[i], o.value[i], &m)) {
      fprintf(stderr, "prefsim plot: %s\n", m.text);
      rc = EXIT_USAGE;
      goto out;
    }
  {
    /* an unreadable or damaged file is a data error (exit 3), whatever the options; a
     * running or stopped sweep's file is plotted as it is, with a warning */
    h5read *r = NULL;
    char partial[512] = "";
    if (h5read_open(in, &r, &m) != PS_OK) {
      fprintf(stderr, "prefsim plot: %s\n", m.text);
      rc = EXIT_DATA;
      goto out;
    }
    describe_partial(in, r, partial, sizeof partial);
    h5read_close(r);
    if (partial[0]) fprintf(stderr, "prefsim plot: warning: %s is %s; figures show the cells finished so far\n", in, partial);
  }
  int s = plot_results(in, &o, &m);
  if (s != PS_OK) {
    fprintf(stderr, "prefsim plot: %s\n", m.text);
    rc = s == PS_EINVAL ? EXIT_USAGE : EXIT_DATA;
  }
out:
  free(metrics);
  return rc;
}
