/* plot.h — figures from a results file: TSV export + gnuplot.
 *
 * Figures come from the [figure.NAME] sections of the stored config, then one per
 * slope claim not already drawn, else param_err against the first numeric axis for
 * every estimator.  For figure F of results file S.h5 the directory receives
 * S_F.sK.tsv (one per series: x, mean, CI low, CI high, replicates used; the CI is
 * mean +- t_{0.975,k-1} sd/sqrt(k)), S_F.theory.sK.tsv (the theory curve when
 * there is one), a self-contained gnuplot driver S_F.gp with style.gp and the
 * fig_<kind>.gp set-up beside it, and S_F.pdf / S_F.png from gnuplot. */
#ifndef PS_EXPERIMENTS_PLOT_H
#define PS_EXPERIMENTS_PLOT_H

#include <stdio.h>

#include "../core/ps.h"

#define PLOT_MAX_KEYS 32

typedef struct {
  const char *outdir;   /* NULL: the results file's directory */
  const char *format;   /* "pdf", "png", "cairolatex" or "both" (pdf + png; default) */
  int run_gnuplot;      /* 0: write TSV and drivers only */
  FILE *log;            /* where to list the files written (NULL: nowhere) */
  /* [figure] keys given on the command line (NULL: unset), checked against
   * exp_figure_params: each overrides that key of every figure drawn.  With
   * fig[metric] set, one figure of these keys alone is drawn, named `name` (default:
   * the first metric with '/' as '_'). */
  const char *key[PLOT_MAX_KEYS];
  const char *value[PLOT_MAX_KEYS];
  size_t n_keys;
  const char *name;
} plot_options;

/* Check one [figure] key and value as a command-line option (PS_EINVAL naming what is
 * allowed); the same check the config applies. */
int plot_check_key(const char *key, const char *value, ps_msg *m);

int plot_results(const char *h5path, const plot_options *o, ps_msg *m);

/* The embedded gnuplot style (generated from plots/style.gp at build time). */
extern const char plot_style_gp[];

#endif
