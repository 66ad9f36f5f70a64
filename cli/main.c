/* main.c — the prefsim command line: parse, call the library, print.
 * The only place (with fitcli.c) that prints to the terminal or exits. */
#include <errno.h>
#include <gsl/gsl_errno.h>
#include <hdf5.h>
#include <libgen.h>
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../estimators/estimator.h"
#include "../sim/sim.h"
#include "../experiments/quantity.h"
#include "../experiments/claims.h"
#include "../experiments/config.h"
#include "../experiments/experiment.h"
#include "cmd_plot.h"
#include "fitcli.h"
#include "../experiments/merge.h"
#include "../experiments/run.h"
#ifdef PS_MPI
#include <mpi.h>
#endif

/* exit codes: 0 ok, 1 claim failed / interrupted run, 2 usage or configuration error,
 * 3 data or run error, 4 a claim inconclusive (none failed) */
enum { EXIT_USAGE = 2, EXIT_DATA = 3, EXIT_INCONCLUSIVE = 4 };

/* `prefsim run` refuses sweeps of more cells unless --allow-large (PREFSIM_MAX_CELLS
 * overrides): two million cells of ten values is ~200 MB in memory and on disk */
#define DEFAULT_MAX_CELLS 2000000

static char *join_argv(int argc, char **argv);

static void usage(FILE *f) {
  fprintf(f,
          "prefsim %s — a workbench for the theory of learning from human preferences\n"
          "\n"
          "usage: prefsim COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  run EXPERIMENT.ini [section.key=value ...] [-o OUT.h5] [-j THREADS] [--resume] [--force]\n"
          "                      [--shard K/N]\n"
          "                      simulate, fit and evaluate every cell of the sweep into an HDF5 file\n"
          "  merge OUT.h5 SHARD.h5 ...\n"
          "                      join the files of `run --shard K/N` into one, equal to a single run\n"
          "  verify RESULTS.h5 [--json|--tsv]\n"
          "                      check the experiment's [claim.*] sections: PASS, FAIL or INCONCLUSIVE\n"
          "  plot RESULTS.h5 [-o DIR] [--format pdf|png|both|cairolatex] [--metric M --x AXIS ...]\n"
          "                      TSV export + gnuplot figures beside the results (or in DIR)\n"
          "  fit --model MODEL DATA.csv [options]\n"
          "                      fit real comparisons (CSV winner,loser[,count][,annotator][,first])\n"
          "                      with any registered estimator that fits item comparisons\n"
          "                      (prefsim fit --list); --param KEY=VALUE sets a hyperparameter;\n"
          "                      inputs over its limits (file size, line length, counts, items)\n"
          "                      are refused before any work (prefsim fit --help)\n"
          "  info RESULTS.h5     provenance, axes, metrics and cell status of a results file\n"
          "  list                estimators, configuration keys, metrics, shipped experiments\n"
          "  help COMMAND        help on one command (also: prefsim COMMAND --help)\n"
          "  --version           version and git revision\n"
          "\n"
          "exit status: 0 success; 1 a claim failed or the run was interrupted (rerun to resume);\n"
          "2 usage or configuration error; 3 data or I/O error; 4 a claim was inconclusive (none failed).  `prefsim fit` has its own\n"
          "finer codes (prefsim fit --help).\n",
          run_version());
}

static void usage_run(FILE *f) {
  fprintf(f,
          "usage: prefsim run EXPERIMENT.ini [section.key=value ...] [-o OUT.h5] [-j THREADS]\n"
          "                   [--resume] [--force] [--quiet] [--shard K/N] [--allow-large]\n"
          "\n"
          "Runs every (grid point x replicate) cell of the experiment and writes one HDF5 file\n"
          "(default out/<experiment>/<experiment>.h5).  Overrides such as data.n=500 or\n"
          "sweep.n=100,1000 or estimator.bt.l2=1e-3 replace keys of the file (Hydra style).\n"
          "  -o OUT.h5     results file\n"
          "  -j THREADS    worker threads over cells (default: all cores); results do not depend on it\n"
          "  --resume      continue OUT.h5 (the default: an existing OUT.h5 of the same config is\n"
          "                always resumed, running only cells not yet DONE; a COMPLETED one is left as is)\n"
          "  --force       overwrite an existing OUT.h5 (needed when it holds another config)\n"
          "  --quiet       no progress line on stderr\n"
          "  --shard K/N   run only shard K of N (1 <= K <= N; cells with id %% N == K-1: every shard\n"
          "                gets an equal share of every grid point); join the N files with prefsim merge\n"
          "  --allow-large run a sweep above the cell ceiling (default 2,000,000 cells; environment\n"
          "                PREFSIM_MAX_CELLS=N sets it, 0 for none); above it the sweep is refused with\n"
          "                its cell count, size and an estimated time\n"
          "Each finished cell is appended to OUT.h5.journal at once; OUT.h5 itself is replaced whole\n"
          "(written beside it, checksummed, renamed) at the start, every 30 s and at the end, so it\n"
          "is always a complete file that other programs can read (status RUNNING while the sweep\n"
          "runs).  Ctrl-C, SIGTERM and SIGHUP finish the running cells, mark the file INTERRUPTED\n"
          "and exit 1; after anything else (kill -9, a crash, a full disk) the same command resumes\n"
          "with every finished cell kept.  A second writer of OUT.h5 is refused, --force included.\n");
}

static void usage_verify(FILE *f) {
  fprintf(f,
          "usage: prefsim verify RESULTS.h5 [--json | --tsv]\n"
          "\n"
          "Evaluates every [claim.NAME] of the stored config, one row per claim and slice: expected\n"
          "value, the alternative it rules out, measured value, bootstrap CI, whether the CI contains\n"
          "the theoretical value, and the verdict:\n"
          "  slope/ratio/equal: PASS when the CI lies inside value +- tol (tol < |value - alternative|/2,\n"
          "    so the alternative is excluded) and contains value (or comes within the claim's stated\n"
          "    finite-sample bias); FAIL when it misses the band, or excludes value beyond the bias;\n"
          "    INCONCLUSIVE when it straddles the band's edge (more replicates needed).\n"
          "  below/above/increasing/decreasing: PASS when the CI is on the claimed side, FAIL when on\n"
          "    the other, INCONCLUSIVE when it straddles.\n"
          "  exact: deterministic identities (every replicate within tol), listed apart.\n"
          "--json, --tsv: the same rows as data.  Exit status 0 when all pass, 1 when any fails,\n"
          "4 when none fails but some are inconclusive, 3 on a damaged or unreadable file.\n"
          "Claim keys: metric = EST/METRIC | truth/Q | theory/Q; expect = slope|below|above|ratio|equal|\n"
          "increasing|decreasing|exact; against = AXIS (slope, orderings); value; tol; alternative\n"
          "(slope/ratio/equal: required); bias; other = EST/METRIC (ratio); compare = ratio|difference;\n"
          "at = 'axis=v, ...'; level (0.95); bootstrap (2000); statistic = mean|median|rms|max;\n"
          "max_missing (0: a claim with any failed fit or unfinished cell among its values FAILs).\n");
}

static void usage_info(FILE *f) { fprintf(f, "usage: prefsim info RESULTS.h5\n"); }

static void usage_merge(FILE *f) {
  fprintf(f,
          "usage: prefsim merge OUT.h5 SHARD.h5 ... [--force]\n"
          "\n"
          "Joins the files of `prefsim run --shard K/N` (or any runs of one config whose finished\n"
          "cells do not overlap) into OUT.h5, whose /axes, /metrics, /status, /truth, /theory and\n"
          "/cells equal a single-machine run's (but for wall-clock times).  Refuses shards of\n"
          "different configs, a cell finished twice, a cell finished nowhere (naming the shard to\n"
          "resume or the shards not given), and an OUT.h5 that is one of the inputs.  An existing\n"
          "OUT.h5 of the same config is completed, not rewritten: rerun an interrupted merge as is.\n"
          "  --force   overwrite an OUT.h5 that holds another config\n");
}

static int cmd_merge(int argc, char **argv, int full_argc, char **full_argv) {
  const char *out = NULL;
  const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
  size_t n = 0;
  merge_options o = {0};
  if (!inputs) return EXIT_DATA;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage_merge(stdout);
      free(inputs);
      return 0;
    } else if (!strcmp(argv[i], "--force")) o.force = 1;
    else if (argv[i][0] == '-') {
      fprintf(stderr, "prefsim merge: unknown option '%s'\n\n", argv[i]);
      usage_merge(stderr);
      free(inputs);
      return EXIT_USAGE;
    } else if (!out) out = argv[i];
    else inputs[n++] = argv[i];
  }
  if (!out || n == 0) {
    usage_merge(stderr);
    free(inputs);
    return EXIT_USAGE;
  }
  char *argv_text = join_argv(full_argc, full_argv);
  o.argv_text = argv_text;
  merge_summary sum;
  ps_msg m = {{0}};
  int s = merge_files(out, inputs, n, &o, &sum, &m);
  free(argv_text);
  free(inputs);
  if (s != PS_OK) {
    fprintf(stderr, "prefsim merge: %s\n", m.text);
    return s == PS_EINTR ? 1 : s == PS_EINVAL ? EXIT_USAGE : EXIT_DATA;
  }
  fprintf(stderr, "%s: %zu cells (%zu copied from %zu shard files, %zu already there)\n", out, sum.cells, sum.copied,
          n, sum.kept);
  printf("%s\n", out);
  return 0;
}

static int cmd_list(void) {
  printf("estimators:\n");
  for (size_t i = 0; est_registry[i]; i++) {
    const est_type *t = est_registry[i];
    printf("  %-10s %s\n", t->name, t->doc);
    for (const ps_param *p = t->params; p->key; p++) {
      char allowed[200];
      ps_param_allowed(p, allowed, sizeof allowed);
      printf("      %-12s default %-10s %s — %s\n", p->key, p->def ? p->def : "(required)", allowed, p->doc);
    }
  }
  printf("\nworlds ([world] kind):\n");
  for (size_t i = 0; world_registry[i]; i++) {
    const world_type *w = world_registry[i];
    static const char *const data[] = {"item comparisons", "feature comparisons", "segment comparisons"};
    printf("  %-10s %s (%s)\n", w->name, w->doc, data[w->kind]);
    for (const ps_param *p = w->params; p && p->key; p++) printf("      %-20s its own key (below)\n", p->key);
  }
  printf("\nconfiguration sections and keys:\n");
  experiment_schema_init();
  for (size_t i = 0; exp_schema[i].section; i++) {
    printf("  [%s]  %s\n", exp_schema[i].section, exp_schema[i].doc);
    for (const ps_param *p = exp_schema[i].params; p->key; p++) {
      char allowed[200];
      ps_param_allowed(p, allowed, sizeof allowed);
      printf("      %-16s default %-10s %s — %s\n", p->key, p->def ? p->def : "(required)", allowed, p->doc);
    }
  }
  printf("  [sweep]  KEY = v1, v2, ...  (KEY: a key above, section.key, or estimator.LABEL.hyperparameter)\n");
  printf("  [estimator.LABEL]  type = NAME plus NAME's hyperparameters\n");
  printf("  [claim.NAME]\n");
  for (const ps_param *p = exp_claim_params; p->key; p++)
    printf("      %-16s default %-10s %s\n", p->key, p->def ? p->def : "(required)", p->doc);
  printf("  [figure.NAME]\n");
  for (const ps_param *p = exp_figure_params; p->key; p++)
    printf("      %-16s default %-10s %s\n", p->key, p->def ? p->def : "(required)", p->doc);
  printf("\nmetrics (/metrics/<estimator>/<name>):\n");
  for (size_t i = 0; i < metric_table_len; i++)
    printf("  %-18s [%s] %s\n", metric_table[i].name, metric_table[i].units, metric_table[i].long_name);
  printf("truth (/truth/<name>):\n");
  for (size_t i = 0; i < truth_table_len; i++) printf("  %-18s %s\n", truth_table[i].name, truth_table[i].long_name);
  printf("theory (/theory/<name>):\n");
  for (size_t i = 0; i < theory_table_len; i++) printf("  %-18s %s\n", theory_table[i].name, theory_table[i].long_name);
  printf("\nshipped experiments (experiments/*.ini):\n"
         "  bt_rate.ini   linear-feature BT: parameter error against n and d, efficiency\n"
         "  bt_items.ini  item BT: Newton, MM, I-LSR, LSR and Rank Centrality against n\n"
         "  cyclic.ini    a 3-cycle: BT a coin flip, GPM exact, BT's excess log-loss log 2 - H(p)\n"
         "  condorcet.ini mixtures of transitive annotators: BT's policy exploitable, minimax not\n"
         "  minimax.ini   Hedge self-play: averaged exploitability ~ T^-1/2, the last iterate cycles\n"
         "  regret_identifiability.ini  regret labels in MDPs: regret model optimal, partial return not\n"
         "  maxmin_gap.ini  two user types: a single reward's minority gap vs MaxMin over mixture groups\n"
         "  mixture_irreducible.ini  one BT plateaus on a mixture of users; the K-mixture's excess falls as 1/n\n"
         "  noisy_annotators.ini  careless annotators: NoisyBT and flip EM recover competences, beat BT\n"
         "  ideal_point.ini  PAL-A few-shot accuracy for unseen users rises with shots\n"
         "  coverage.ini  shrinking coverage of the optimum: DPO's KL to pi_ref grows, RLHF/HyPO stay bounded\n"
         "  dr_misspec.ini  DRPO: unbiased when either nuisance is right, biased when both are wrong\n"
         "  grpo_worstgroup.ini  group-robust DPO: worst-group gap and loss spread fall with T\n"
         "  rdpo_noise.ini  label flips: DPO attenuated, rDPO exact, cDPO biased (0.68/0.80/0.608); rDPO ~ n^-1/2\n"
         "  dpo_rate.ini  clean BT: log-linear DPO ~ n^-1/2 at the Cramer-Rao constant; the MLP's error falls\n");
  return 0;
}

static char *join_argv(int argc, char **argv) {
  size_t len = 1;
  for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 3;
  char *s = malloc(len);
  if (!s) return NULL;
  s[0] = 0;
  for (int i = 0; i < argc; i++) {
    if (i) strcat(s, " ");
    strcat(s, argv[i]);
  }
  return s;
}

static int mkdirs(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  return 0;
}

static int cmd_run_inner(int argc, char **argv, int full_argc, char **full_argv);

/* Under MPI=1 a run is an MPI program: every rank parses the same command line and
 * builds the same experiment; only rank 0 writes and prints. */
static int cmd_run(int argc, char **argv, int full_argc, char **full_argv) {
#ifdef PS_MPI
  int provided = 0;
  MPI_Init_thread(&full_argc, &full_argv, MPI_THREAD_SERIALIZED, &provided);
  int rank = run_mpi_rank();
  if (rank != 0) {
    /* quiet ranks: their errors are rank 0's errors */
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) return EXIT_DATA;
  }
  int rc = cmd_run_inner(argc, argv, full_argc, full_argv);
  MPI_Finalize();
  return rc;
#else
  return cmd_run_inner(argc, argv, full_argc, full_argv);
#endif
}

static int cmd_run_inner(int argc, char **argv, int full_argc, char **full_argv) {
  const char *ini = NULL, *out = NULL;
  run_options o = {.threads = 0, .stop_after = -1};
  cfg *c = cfg_alloc();
  ps_msg m = {{0}};
  int n_over = 0;
  char **over = calloc((size_t)argc + 1, sizeof(char *));
  if (!c || !over) {
    fprintf(stderr, "prefsim run: out of memory\n");
    return EXIT_DATA;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage_run(stdout);
      cfg_free(c);
      free(over);
      return 0;
    } else if (!strcmp(a, "-o") && i + 1 < argc) out = argv[++i];
    else if ((!strcmp(a, "-j") && i + 1 < argc) || (!strncmp(a, "-j", 2) && a[2])) {
      const char *jt = a[2] ? a + 2 : argv[++i];
      char *end;
      long j = strtol(jt, &end, 10);
      if (*end || j < 1 || j > 1024) {
        fprintf(stderr, "prefsim run: -j takes a thread count from 1 to 1024, not '%s'\n", jt);
        cfg_free(c);
        free(over);
        return EXIT_USAGE;
      }
      o.threads = (int)j;
    } else if (!strcmp(a, "--resume")) o.resume = 1;
    else if (!strcmp(a, "--force")) o.force = 1;
    else if (!strcmp(a, "--quiet")) o.quiet = 1;
    else if (!strcmp(a, "--allow-large")) o.allow_large = 1;
    else if (!strncmp(a, "--stop-after=", 13)) o.stop_after = strtol(a + 13, NULL, 10);
    else if ((!strcmp(a, "--shard") && i + 1 < argc) || !strncmp(a, "--shard=", 8)) {
      const char *v = a[7] == '=' ? a + 8 : argv[++i];
      int k, nn;
      char tail;
      if (sscanf(v, "%d/%d%c", &k, &nn, &tail) != 2 || nn < 1 || k < 1 || k > nn) {
        fprintf(stderr, "prefsim run: --shard takes K/N with 1 <= K <= N (e.g. --shard 2/8), not '%s'\n", v);
        cfg_free(c);
        free(over);
        return EXIT_USAGE;
      }
      o.shard_k = k;
      o.shard_n = nn;
    }
    else if (a[0] == '-') {
      fprintf(stderr, "prefsim run: unknown option '%s'\n\n", a);
      usage_run(stderr);
      cfg_free(c);
      free(over);
      return EXIT_USAGE;
    } else if (strchr(a, '=')) over[n_over++] = (char *)a;
    else if (!ini) ini = a;
    else {
      fprintf(stderr, "prefsim run: unexpected argument '%s' (one experiment file; overrides are section.key=value)\n", a);
      cfg_free(c);
      free(over);
      return EXIT_USAGE;
    }
  }
  if (!ini) {
    fprintf(stderr, "prefsim run: no experiment file given\n\n");
    usage_run(stderr);
    cfg_free(c);
    free(over);
    return EXIT_USAGE;
  }
  if (o.resume && o.force) {
    fprintf(stderr, "prefsim run: --resume and --force contradict each other\n");
    cfg_free(c);
    free(over);
    return EXIT_USAGE;
  }
  int s = cfg_load_file(c, ini, &m);
  for (int i = 0; s == PS_OK && i < n_over; i++) s = cfg_override(c, over[i], &m);
  free(over);
  if (s != PS_OK) {
    fprintf(stderr, "prefsim run: %s\n", m.text);
    cfg_free(c);
    return s == PS_EIO ? EXIT_DATA : EXIT_USAGE;
  }
  char stem[256];
  {
    char *copy = strdup(ini);
    char *b = basename(copy);
    char *dot = strrchr(b, '.');
    if (dot) *dot = 0;
    snprintf(stem, sizeof stem, "%s", b);
    free(copy);
  }
  experiment e;
  if ((s = experiment_build(&e, c, stem, &m)) != PS_OK) {
    fprintf(stderr, "prefsim run: %s\n", m.text);
    cfg_free(c);
    return EXIT_USAGE;
  }
  char defout[1024];
  if (!out) {
    snprintf(defout, sizeof defout, "out/%s/%s.h5", e.name, e.name);
    out = defout;
  }
  if (mkdirs(out) != 0) {
    fprintf(stderr, "prefsim run: cannot create the directory of %s: %s\n", out, strerror(errno));
    experiment_free(&e);
    return EXIT_DATA;
  }
  {
    /* the results file never replaces an input (the experiment file, a link to it) */
    struct stat si, so;
    if (stat(ini, &si) == 0 && stat(out, &so) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
      fprintf(stderr, "prefsim run: the results file %s is the experiment file %s: choose another -o\n", out, ini);
      experiment_free(&e);
      return EXIT_USAGE;
    }
  }
  o.out_path = out;
  o.max_cells = DEFAULT_MAX_CELLS;
  const char *mc = getenv("PREFSIM_MAX_CELLS");
  if (mc && *mc) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(mc, &end, 10);
    if (errno || *end || mc[0] == '-') {
      fprintf(stderr, "prefsim run: PREFSIM_MAX_CELLS must be a whole number of cells (0: no ceiling), not '%s'\n",
              mc);
      experiment_free(&e);
      return EXIT_USAGE;
    }
    o.max_cells = (size_t)v;
  }
  char *argv_text = join_argv(full_argc, full_argv);
  o.argv_text = argv_text;
  run_summary sum;
#ifdef PS_MPI
  s = run_experiment_mpi(&e, &o, &sum, &m);
#else
  s = run_experiment(&e, &o, &sum, &m);
#endif
  free(argv_text);
  if (s == PS_OK || s == PS_EINTR) {
    fprintf(stderr, "%s: %zu cells (%zu already done, %zu run, %zu failed fits, %zu failed cells) in %.1fs\n", out,
            sum.total, sum.skipped, sum.done, sum.failed_fits, sum.failed_cells, sum.seconds);
  }
  experiment_free(&e);
  if (s == PS_EINTR) {
    fprintf(stderr, "prefsim run: %s\n", m.text);
    return 1;
  }
  if (s != PS_OK) {
    fprintf(stderr, "prefsim run: %s\n", m.text);
    return s == PS_EINVAL ? EXIT_USAGE : EXIT_DATA;
  }
  printf("%s\n", out);
  return 0;
}

/* One line on a file that is not COMPLETED: who writes it, how fresh it is, what the
 * journal holds beyond it.  Empty for a COMPLETED file. */
void describe_partial(const char *path, h5read *r, char *buf, size_t n) {
  const char *status = h5read_attr(r, "status"), *snap = h5read_attr(r, "snapshot_utc");
  buf[0] = 0;
  if (!status || !strcmp(status, "COMPLETED")) return;
  long pid = 0;
  size_t jc = 0;
  int w = h5store_writer(path, &pid, &jc);
  char more[96] = "";
  if (jc) snprintf(more, sizeof more, "; %zu more finished cells are in its journal", jc);
  if (w == 1)
    snprintf(buf, n, "partial: a sweep (pid %ld) is writing it; this is its snapshot of %s%s", pid,
             snap ? snap : "?", more);
  else if (!strcmp(status, "RUNNING"))
    snprintf(buf, n, "partial: status RUNNING but no process writes it (the run was killed); run its command "
             "again to finish it%s", more);
  else
    snprintf(buf, n, "partial: %s; run its command again to finish it%s", status, more);
}

static void json_string(FILE *f, const char *t) {
  fputc('"', f);
  for (; *t; t++) {
    unsigned char c = (unsigned char)*t;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c == '\n') fputs("\\n", f);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static void json_number(FILE *f, double x) {
  if (isfinite(x)) fprintf(f, "%.17g", x);
  else fputs("null", f);
}

static void tsv_text(FILE *f, const char *t) {
  for (; *t; t++) fputc(*t == '\t' || *t == '\n' ? ' ' : *t, f);
}

enum { VERIFY_TEXT, VERIFY_JSON, VERIFY_TSV };

static void verify_print(FILE *f, int format, const char *path, const claim_row *rows, size_t n) {
  if (format == VERIFY_JSON) {
    fprintf(f, "{\"file\": ");
    json_string(f, path);
    fprintf(f, ", \"claims\": [");
    for (size_t i = 0; i < n; i++) {
      const claim_row *w = &rows[i];
      fprintf(f, "%s\n  {\"claim\": ", i ? "," : "");
      json_string(f, w->claim);
      fprintf(f, ", \"slice\": ");
      json_string(f, w->slice);
      fprintf(f, ", \"expect\": ");
      json_string(f, w->expect);
      fprintf(f, ", \"value\": ");
      json_number(f, w->value);
      fprintf(f, ", \"tol\": ");
      json_number(f, w->tol);
      fprintf(f, ", \"alternative\": ");
      json_number(f, w->alternative);
      fprintf(f, ", \"bias\": ");
      json_number(f, w->bias);
      fprintf(f, ", \"measured\": ");
      json_number(f, w->measured);
      fprintf(f, ", \"ci_low\": ");
      json_number(f, w->lo);
      fprintf(f, ", \"ci_high\": ");
      json_number(f, w->hi);
      fprintf(f, ", \"contains_value\": %s", w->contains_value < 0 ? "null" : w->contains_value ? "true" : "false");
      fprintf(f, ", \"n\": %zu, \"missing\": %zu, \"verdict\": \"%s\", \"note\": ", w->n_used, w->n_missing,
              claim_verdict_names[w->verdict]);
      json_string(f, w->note);
      fputc('}', f);
    }
    fprintf(f, "\n]}\n");
    return;
  }
  if (format == VERIFY_TSV) {
    fprintf(f, "claim\tslice\texpect\tvalue\ttol\talternative\tbias\tmeasured\tci_low\tci_high\tcontains_value\tn\t"
               "missing\tverdict\tnote\n");
    for (size_t i = 0; i < n; i++) {
      const claim_row *w = &rows[i];
      tsv_text(f, w->claim);
      fputc('\t', f);
      tsv_text(f, w->slice);
      fprintf(f, "\t%s\t%.17g\t%.17g\t%.17g\t%.17g\t%.17g\t%.17g\t%.17g\t%s\t%zu\t%zu\t%s\t", w->expect, w->value,
              w->tol, w->alternative, w->bias, w->measured, w->lo, w->hi,
              w->contains_value < 0 ? "NA" : w->contains_value ? "yes" : "no", w->n_used, w->n_missing,
              claim_verdict_names[w->verdict]);
      tsv_text(f, w->note);
      fputc('\n', f);
    }
    return;
  }
  int wc = 5, ws = 5;
  for (size_t i = 0; i < n; i++) {
    if ((int)strlen(rows[i].claim) > wc) wc = (int)strlen(rows[i].claim);
    if ((int)strlen(rows[i].slice) > ws) ws = (int)strlen(rows[i].slice);
  }
  for (int part = 0; part < 2; part++) {
    /* claims first, then the exact checks (deterministic identities), apart */
    int header = 0;
    for (size_t i = 0; i < n; i++) {
      const claim_row *w = &rows[i];
      if ((strcmp(w->expect, "exact") == 0) != part) continue;
      if (!header++) {
        if (part) fprintf(f, "\nexact checks (deterministic identities, not statistical claims):\n");
        fprintf(f, "%-*s  %-*s  %-10s %14s %10s %12s  %-27s %5s %-4s %s\n", wc, part ? "check" : "claim", ws, "slice",
                "expect", "expected", "rules out", part ? "max |error|" : "measured", part ? "" : "CI", "n",
                part ? "" : "hits", "verdict");
      }
      char ex[64], alt[32], ci[64];
      if (!strcmp(w->expect, "below") || !strcmp(w->expect, "above"))
        snprintf(ex, sizeof ex, "%s %.4g", !strcmp(w->expect, "below") ? "<" : ">", w->value);
      else if (!strcmp(w->expect, "increasing") || !strcmp(w->expect, "decreasing"))
        snprintf(ex, sizeof ex, "%s", !strcmp(w->expect, "increasing") ? "steps > 0" : "steps < 0");
      else
        snprintf(ex, sizeof ex, "%.4g±%.3g", w->value, w->tol);
      if (isfinite(w->alternative)) snprintf(alt, sizeof alt, "%.4g", w->alternative);
      else if (part) snprintf(alt, sizeof alt, "-");
      else snprintf(alt, sizeof alt, "opposite");
      if (part) ci[0] = 0;
      else snprintf(ci, sizeof ci, "[%.4g, %.4g]", w->lo, w->hi);
      fprintf(f, "%-*s  %-*s  %-10s %14s %10s %12.5g  %-27s %5zu %-4s %s", wc, w->claim, ws, w->slice[0] ? w->slice : "-",
              w->expect, ex, alt, w->measured, ci, w->n_used,
              w->contains_value < 0 ? "" : w->contains_value ? "yes" : "no", claim_verdict_names[w->verdict]);
      if (w->n_missing) fprintf(f, " (%zu NaN dropped)", w->n_missing);
      if (w->note[0]) fprintf(f, " — %s", w->note);
      fputc('\n', f);
    }
  }
  size_t k[3] = {0, 0, 0};
  for (size_t i = 0; i < n; i++) k[rows[i].verdict]++;
  fprintf(f, "%zu passed, %zu failed, %zu inconclusive\n", k[CLAIM_PASS], k[CLAIM_FAIL], k[CLAIM_INCONCLUSIVE]);
}

static int cmd_verify(int argc, char **argv) {
  const char *path = NULL;
  int format = VERIFY_TEXT;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage_verify(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--json")) format = VERIFY_JSON;
    else if (!strcmp(argv[i], "--tsv")) format = VERIFY_TSV;
    else if (argv[i][0] != '-' && !path) path = argv[i];
    else {
      if (argv[i][0] == '-') fprintf(stderr, "prefsim verify: unknown option '%s'\n\n", argv[i]);
      usage_verify(stderr);
      return EXIT_USAGE;
    }
  }
  if (!path) {
    usage_verify(stderr);
    return EXIT_USAGE;
  }
  ps_msg m = {{0}};
  h5read *r = NULL;
  if (h5read_open(path, &r, &m) != PS_OK) {
    fprintf(stderr, "prefsim verify: %s\n", m.text);
    return EXIT_DATA;
  }
  cfg *c = cfg_alloc();
  const char *ct = h5read_attr(r, "config");
  if (!c || !ct || cfg_load_string(c, "stored config", ct, &m) != PS_OK) {
    fprintf(stderr, "prefsim verify: %s: no readable stored config %s\n", path, ct ? m.text : "");
    cfg_free(c);
    h5read_close(r);
    return EXIT_DATA;
  }
  char partial[512];
  describe_partial(path, r, partial, sizeof partial);
  if (partial[0])
    fprintf(stderr, "prefsim verify: warning: %s is %s; claims use the cells finished so far\n", path, partial);
  claim_row *rows = NULL;
  size_t n = 0;
  if (claims_evaluate(r, c, &rows, &n, &m) != PS_OK) {
    fprintf(stderr, "prefsim verify: %s\n", m.text);
    cfg_free(c);
    h5read_close(r);
    return EXIT_DATA;
  }
  verify_print(stdout, format, path, rows, n);
  size_t fails = 0, unsure = 0;
  for (size_t i = 0; i < n; i++) fails += rows[i].verdict == CLAIM_FAIL, unsure += rows[i].verdict == CLAIM_INCONCLUSIVE;
  free(rows);
  cfg_free(c);
  h5read_close(r);
  if (n == 0) fprintf(stderr, "prefsim verify: %s has no [claim.*] sections\n", path);
  return fails ? 1 : unsure ? EXIT_INCONCLUSIVE : 0;
}

static int cmd_info(int argc, char **argv) {
  if (argc != 2 || argv[1][0] == '-') {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
      usage_info(stdout);
      return 0;
    }
    usage_info(stderr);
    return EXIT_USAGE;
  }
  ps_msg m = {{0}};
  h5read *r = NULL;
  if (h5read_open(argv[1], &r, &m) != PS_OK) {
    fprintf(stderr, "prefsim info: %s\n", m.text);
    return EXIT_DATA;
  }
  const char *keys[] = {"schema", "experiment", "description", "status", "shard", "prefsim_version", "git_rev", "created_utc",
                        "finished_utc", "snapshot_utc", "master_seed", "rng", "gsl_version", "hdf5_version", "argv", NULL};
  printf("file            %s\n", argv[1]);
  for (size_t i = 0; keys[i]; i++) {
    const char *v = h5read_attr(r, keys[i]);
    if (v) printf("%-15s %s\n", keys[i], v);
  }
  printf("axes           ");
  for (size_t a = 0; a < h5read_n_axes(r); a++) {
    const h5store_axis *ax = h5read_axis(r, a);
    printf(" %s[%zu] =", ax->name, ax->n);
    for (size_t j = 0; j < ax->n; j++) {
      if (ax->labels) printf(" %s", ax->labels[j]);
      else printf(" %g", ax->values[j]);
    }
    printf(";");
  }
  printf(" replicate[%zu]\n", h5read_n_replicates(r));
  const char *const *est = h5read_estimators(r);
  for (size_t k = 0; est && est[k]; k++) {
    printf("metrics/%-7s", est[k]);
    const char *const *mets = h5read_metrics(r, est[k]);
    for (size_t j = 0; mets && mets[j]; j++) printf(" %s", mets[j]);
    printf("\n");
  }
  size_t pend = 0, done = 0, failed = 0;
  if (h5read_cell_counts(r, &pend, &done, &failed, &m) == PS_OK)
    printf("cells           %zu done, %zu pending, %zu failed\n", done, pend, failed);
  printf("checksum        %s\n", h5read_sealed(r) ? "intact (whole-file seal checked)"
                                                   : "none (written before prefsim 0.2; read unchecked)");
  char partial[512];
  describe_partial(argv[1], r, partial, sizeof partial);
  if (partial[0]) printf("%-15s %s\n", "note", partial);
  const char *cfgtext = h5read_attr(r, "config");
  if (cfgtext) printf("\nresolved config:\n%s", cfgtext);
  h5read_close(r);
  return 0;
}

int main(int argc, char **argv) {
  gsl_set_error_handler_off();
#ifdef __GLIBC__
  /* Every chunk flush of the results file runs zlib's compress2, which allocates and
   * frees ~256 KiB of deflate state per call; glibc then trims the heap top back to
   * the kernel and the next call faults the pages in again (brk + page faults + memset
   * were 4/5 of a small-cell sweep: 5 ms a cell at 1,000 cells).  Keeping up to 64 MiB
   * of freed memory in the heap makes it 1 ms.  Likewise a cell's per-cell arrays
   * (features, comparison tables, the Fisher design rows: 0.1-2 MiB each) were
   * above glibc's mmap threshold, so every cell mapped fresh pages and faulted them
   * in (a sixth of a bt_rate cell); below 32 MiB they now come from the heap and are
   * reused by the next cell of the same thread. */
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
#endif
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    printf("prefsim %s (git %s)\n", run_version(), run_git_rev());
    return 0;
  }
  if (!strcmp(cmd, "help")) {
    if (argc < 3) usage(stdout);
    else if (!strcmp(argv[2], "run")) usage_run(stdout);
    else if (!strcmp(argv[2], "verify")) usage_verify(stdout);
    else if (!strcmp(argv[2], "plot")) cmd_plot_usage(stdout);
    else if (!strcmp(argv[2], "fit")) fitcli_usage(stdout);
    else if (!strcmp(argv[2], "info")) usage_info(stdout);
    else if (!strcmp(argv[2], "merge")) usage_merge(stdout);
    else usage(stdout);
    return 0;
  }
  int rc = -1;
  if (!strcmp(cmd, "run")) rc = cmd_run(argc - 1, argv + 1, argc, argv);
  else if (!strcmp(cmd, "verify")) rc = cmd_verify(argc - 1, argv + 1);
  else if (!strcmp(cmd, "merge")) rc = cmd_merge(argc - 1, argv + 1, argc, argv);
  else if (!strcmp(cmd, "plot")) rc = cmd_plot(argc - 1, argv + 1);
  else if (!strcmp(cmd, "fit")) rc = fitcli_main(argc - 1, argv + 1);
  else if (!strcmp(cmd, "info")) rc = cmd_info(argc - 1, argv + 1);
  else if (!strcmp(cmd, "list")) rc = cmd_list();
  if (rc >= 0) {
    /* a full disk or a closed pipe behind stdout is an error, not a silent success */
    if (fflush(stdout) != 0 || ferror(stdout)) {
      fprintf(stderr, "prefsim %s: cannot write to standard output: %s\n", cmd, strerror(errno));
      return rc ? rc : EXIT_DATA;
    }
    return rc;
  }
  fprintf(stderr, "prefsim: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return EXIT_USAGE;
}
