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
#include "commands.h"
#include "cmd_plot.h"
#include "fitcli.h"
#include "../experiments/merge.h"
#include "../experiments/run.h"
#include "opts.h"
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
          "                      [--quiet] [--shard K/N] [--allow-large] [--dry-run]\n"
          "                      simulate, fit and evaluate every cell of the sweep into an HDF5 file;\n"
          "                      --dry-run: the resolved config, cell count and estimated time only\n"
          "  merge OUT.h5 SHARD.h5 ... (or merge -o OUT.h5 SHARD.h5 ...)\n"
          "                      join the files of `run --shard K/N` into one, equal to a single run\n"
          "  verify RESULTS.h5 [--json|--tsv]\n"
          "                      check the experiment's [claim.*] sections: PASS, FAIL or INCONCLUSIVE\n"
          "  plot RESULTS.h5 [-o DIR] [--format pdf|png|both|cairolatex] [--metric M --x AXIS ...]\n"
          "                      TSV export + gnuplot figures beside the results (or in DIR)\n"
          "  export RESULTS.h5 [--format csv|netcdf] [-o FILE] [--partial]\n"
          "                      a tidy CSV table or a flat netCDF file of every value\n"
          "  fit --model MODEL DATA.csv [options]\n"
          "                      fit real comparisons (CSV winner,loser[,count][,annotator][,first])\n"
          "                      with any registered estimator that fits item comparisons\n"
          "                      (prefsim fit --list); --param KEY=VALUE sets a hyperparameter;\n"
          "                      inputs over its limits (file size, line length, counts, items)\n"
          "                      are refused before any work (prefsim fit --help)\n"
          "  info RESULTS.h5     provenance, axes, metrics and cell status of a results file\n"
          "  list [NAME]         an overview of estimators, worlds, metrics, sections and shipped\n"
          "                      experiments; with NAME (bt, items, param_err, data, dim) that one in\n"
          "                      detail; --all: everything\n"
          "  new EXPERIMENT [-o FILE]\n"
          "                      write a commented template experiment file that runs as it is\n"
          "  help COMMAND        help on one command (also: prefsim COMMAND --help)\n"
          "  --version           version and git revision\n"
          "\n"
          "Options follow GNU conventions (run, merge, verify, info, list, new): --name=value or\n"
          "--name value, a unique prefix of a long name, -o FILE or -oFILE, clustered short options\n"
          "(-qj2), -- ends the options; options and arguments in any order.  An unknown option or\n"
          "command is named with the closest one.\n"
          "\n"
          "exit status: 0 success; 1 a claim failed or the run was interrupted (rerun to resume);\n"
          "2 usage or configuration error; 3 data or I/O error; 4 a claim was inconclusive (none failed).  `prefsim fit` has its own\n"
          "finer codes (prefsim fit --help).\n",
          run_version());
}

static void usage_run(FILE *f) {
  fprintf(f,
          "usage: prefsim run EXPERIMENT.ini [section.key=value ...] [-o OUT.h5] [-j THREADS]\n"
          "                   [--resume] [--force] [--quiet] [--shard K/N] [--allow-large] [--dry-run]\n"
          "\n"
          "Runs every (grid point x replicate) cell of the experiment and writes one HDF5 file\n"
          "(default out/<experiment>/<experiment>.h5).  Overrides such as data.n=500 or\n"
          "sweep.n=100,1000 or estimator.bt.l2=1e-3 replace keys of the file (Hydra style).\n"
          "  -o, --output OUT.h5  results file\n"
          "  -j, --jobs THREADS   worker threads over cells (default: all cores); results do not depend on it\n"
          "  --resume             continue OUT.h5 (the default: an existing OUT.h5 of the same config is\n"
          "                       always resumed, running only cells not yet DONE; a COMPLETED one is left\n"
          "                       as is)\n"
          "  -f, --force          overwrite an existing OUT.h5 (needed when it holds another config)\n"
          "  -q, --quiet          no progress line on stderr\n"
          "  --shard K/N          run only shard K of N (1 <= K <= N; cells with id %% N == K-1: every\n"
          "                       shard gets an equal share of every grid point); join the N files with\n"
          "                       prefsim merge\n"
          "  --allow-large        run a sweep above the cell ceiling (default 2,000,000 cells; environment\n"
          "                       PREFSIM_MAX_CELLS=N sets it, 0 for none); above it the sweep is refused\n"
          "                       with its cell count, size and an estimated time\n"
          "  -n, --dry-run        run nothing and write nothing: print the resolved config in canonical\n"
          "                       form (a valid experiment file, after ';' comment lines giving the cell\n"
          "                       count, the axes, the estimators, what would happen to OUT.h5 and an\n"
          "                       estimated time from timing the sweep's first and last cells)\n"
          "  -h, --help           this text\n"
          "The identity of OUT.h5 is the canonical resolved config without claims and figures:\n"
          "sections and keys sorted, values normalised (1e3 = 1000, \"a,b\" = \"a, b\"), comments\n"
          "ignored; the order of the [sweep] keys (the results' axes) and of the [estimator.*]\n"
          "sections counts.  A file of another identity is refused, naming the differing keys\n"
          "([data] n: '1000' -> '2000'); files written before the canonical form resume as well.\n"
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
          "max_missing (0: a claim with any failed fit or unfinished cell among its values FAILs);\n"
          "family = claim|row|NAME: the rows that share the level (default claim: its k rows get\n"
          "Bonferroni intervals at 1 - (1 - level)/k each; row: each row alone; NAME: several claims\n"
          "that test one formula, whose levels must agree).  Each row's note names its interval.\n");
}

static void usage_info(FILE *f) {
  fprintf(f, "usage: prefsim info RESULTS.h5\n"
             "\n"
             "Prints a results file's provenance (version, git revision, times, seed, command line,\n"
             "library versions), its axes, estimators and metrics, the cells done, pending and failed,\n"
             "whether its checksum holds, and the resolved config.\n");
}

static void usage_merge(FILE *f) {
  fprintf(f,
          "usage: prefsim merge OUT.h5 SHARD.h5 ... [--force]\n"
          "       prefsim merge -o OUT.h5 SHARD.h5 ... [--force]\n"
          "\n"
          "Joins the files of `prefsim run --shard K/N` (or any runs of one config whose finished\n"
          "cells do not overlap) into OUT.h5, whose /axes, /metrics, /status, /truth, /theory and\n"
          "/cells equal a single-machine run's (but for wall-clock times).  Refuses shards of\n"
          "different configs, a cell finished twice, a cell finished nowhere (naming the shard to\n"
          "resume or the shards not given), and an OUT.h5 that is one of the inputs.  An existing\n"
          "OUT.h5 of the same config is completed, not rewritten: rerun an interrupted merge as is.\n"
          "  -o, --output OUT.h5  the output (then every file given is a shard)\n"
          "  -f, --force          overwrite an OUT.h5 that holds another config\n");
}

static const cli_opt merge_opts[] = {{"output", 'o', 1, "OUT.h5"}, {"force", 'f', 0, NULL}, {"help", 'h', 0, NULL}, {NULL}};
enum { MERGE_OUTPUT, MERGE_FORCE, MERGE_HELP };

static int cmd_merge(int argc, char **argv, int full_argc, char **full_argv) {
  const char *out = NULL;
  const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
  size_t n = 0;
  merge_options o = {0};
  if (!inputs) return EXIT_DATA;
  cli_iter it;
  cli_iter_init(&it, "prefsim merge", merge_opts, argc, argv);
  int r, k;
  const char *v;
  while ((r = cli_next(&it, &k, &v)) != CLI_END) {
    if (r == CLI_ERROR) {
      free(inputs);
      return EXIT_USAGE;
    }
    if (r == CLI_ARG) inputs[n++] = v;
    else if (k == MERGE_HELP) {
      usage_merge(stdout);
      free(inputs);
      return 0;
    } else if (k == MERGE_FORCE) o.force = 1;
    else if (k == MERGE_OUTPUT) out = v;
  }
  /* without -o, the first file is the output */
  if (!out && n) {
    out = inputs[0];
    memmove(inputs, inputs + 1, --n * sizeof *inputs);
  }
  if (!out || n == 0) {
    fprintf(stderr, "prefsim merge: %s\n\n", !out ? "no output file given" : "no shard files given");
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

static const cli_opt run_opts[] = {{"output", 'o', 1, "OUT.h5"}, {"jobs", 'j', 1, "THREADS"},
                                   {"resume", 0, 0, NULL},       {"force", 'f', 0, NULL},
                                   {"quiet", 'q', 0, NULL},      {"shard", 0, 1, "K/N"},
                                   {"allow-large", 0, 0, NULL},  {"dry-run", 'n', 0, NULL},
                                   {"help", 'h', 0, NULL},       {"stop-after", 0, 1, "CELLS"},
                                   {NULL}};
enum { RUN_OUTPUT, RUN_JOBS, RUN_RESUME, RUN_FORCE, RUN_QUIET, RUN_SHARD, RUN_ALLOW_LARGE, RUN_DRY_RUN, RUN_HELP,
       RUN_STOP_AFTER };

static int run_dry(const experiment *e, const run_options *o, const char *ini);

static int cmd_run_inner(int argc, char **argv, int full_argc, char **full_argv) {
  const char *ini = NULL, *out = NULL;
  run_options o = {.threads = 0, .stop_after = -1};
  cfg *c = cfg_alloc();
  ps_msg m = {{0}};
  int n_over = 0, dry = 0;
  char **over = calloc((size_t)argc + 1, sizeof(char *));
  if (!c || !over) {
    fprintf(stderr, "prefsim run: out of memory\n");
    cfg_free(c);
    free(over);
    return EXIT_DATA;
  }
  cli_iter it;
  cli_iter_init(&it, "prefsim run", run_opts, argc, argv);
  int r, k, bad = 0;
  const char *v;
  while (!bad && (r = cli_next(&it, &k, &v)) != CLI_END) {
    if (r == CLI_ERROR) bad = 1;
    else if (r == CLI_ARG) {
      if (strchr(v, '=')) over[n_over++] = (char *)v;
      else if (!ini) ini = v;
      else {
        fprintf(stderr, "prefsim run: unexpected argument '%s' (one experiment file; overrides are "
                "section.key=value)\n", v);
        bad = 1;
      }
    } else if (k == RUN_HELP) {
      usage_run(stdout);
      cfg_free(c);
      free(over);
      return 0;
    } else if (k == RUN_OUTPUT) out = v;
    else if (k == RUN_JOBS) {
      char *end;
      long j = strtol(v, &end, 10);
      if (!*v || *end || j < 1 || j > 1024) {
        fprintf(stderr, "prefsim run: -j takes a thread count from 1 to 1024, not '%s'\n", v);
        bad = 1;
      }
      o.threads = (int)j;
    } else if (k == RUN_RESUME) o.resume = 1;
    else if (k == RUN_FORCE) o.force = 1;
    else if (k == RUN_QUIET) o.quiet = 1;
    else if (k == RUN_ALLOW_LARGE) o.allow_large = 1;
    else if (k == RUN_DRY_RUN) dry = 1;
    else if (k == RUN_STOP_AFTER) o.stop_after = strtol(v, NULL, 10);
    else if (k == RUN_SHARD) {
      int sk, nn;
      char tail;
      if (sscanf(v, "%d/%d%c", &sk, &nn, &tail) != 2 || nn < 1 || sk < 1 || sk > nn) {
        fprintf(stderr, "prefsim run: --shard takes K/N with 1 <= K <= N (e.g. --shard 2/8), not '%s'\n", v);
        bad = 1;
      }
      o.shard_k = sk;
      o.shard_n = nn;
    }
  }
  if (bad) {
    cfg_free(c);
    free(over);
    return EXIT_USAGE;
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
    unsigned long long cap = strtoull(mc, &end, 10);
    if (errno || *end || mc[0] == '-') {
      fprintf(stderr, "prefsim run: PREFSIM_MAX_CELLS must be a whole number of cells (0: no ceiling), not '%s'\n",
              mc);
      experiment_free(&e);
      return EXIT_USAGE;
    }
    o.max_cells = (size_t)cap;
  }
  if (dry) {
    /* --dry-run: what the run would do; nothing is created or written */
    s = run_dry(&e, &o, ini);
    experiment_free(&e);
    return s;
  }
  if (mkdirs(out) != 0) {
    fprintf(stderr, "prefsim run: cannot create the directory of %s: %s\n", out, strerror(errno));
    experiment_free(&e);
    return EXIT_DATA;
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

static void print_duration(FILE *f, double sec) {
  if (sec > 2 * 86400) fprintf(f, "%.3g days", sec / 86400);
  else if (sec > 2 * 3600) fprintf(f, "%.3g h", sec / 3600);
  else if (sec > 120) fprintf(f, "%.3g min", sec / 60);
  else fprintf(f, "%.3g s", sec);
}

/* `prefsim run --dry-run`: the resolved config in canonical form (a valid experiment
 * file: the lines before it are ';' comments), the cells, what would happen to the
 * output and an estimated time.  Creates and writes nothing. */
static int run_dry(const experiment *e, const run_options *o, const char *ini) {
  size_t R = e->replicates, total = e->n_points * R, mine = 0;
  for (size_t c = 0; c < total; c++) mine += run_cell_in_shard(c, o->shard_k, o->shard_n);
  char *text = run_canonical_config(e->config);
  if (!text) {
    fprintf(stderr, "prefsim run: out of memory\n");
    return EXIT_DATA;
  }
  printf("; prefsim run --dry-run %s: nothing was run or written\n", ini);
  printf("; experiment  %s\n", e->name);
  printf("; cells       %zu = %zu grid point%s x %zu replicate%s", total, e->n_points, e->n_points == 1 ? "" : "s", R,
         R == 1 ? "" : "s");
  if (o->shard_n) printf("; shard %d/%d runs %zu of them", o->shard_k, o->shard_n, mine);
  printf("\n; axes       ");
  if (!e->n_axes) printf(" (none: one grid point)");
  for (size_t a = 0; a < e->n_axes; a++) {
    printf(" %s[%zu] =", e->axes[a].name, e->axes[a].n);
    for (size_t j = 0; j < e->axes[a].n; j++) printf(" %s", e->axes[a].text[j]);
    printf(a + 1 < e->n_axes ? ";" : "");
  }
  printf("\n; estimators ");
  for (size_t k = 0; k < e->n_estimators; k++)
    printf(" %s%s%s%s", e->estimators[k].label, strcmp(e->estimators[k].label, e->estimators[k].type->name) ? " (" : "",
           strcmp(e->estimators[k].label, e->estimators[k].type->name) ? e->estimators[k].type->name : "",
           strcmp(e->estimators[k].label, e->estimators[k].type->name) ? ")" : "");
  printf("\n; output      %s: ", o->out_path);
  struct stat sb;
  long pid = 0;
  size_t jc = 0;
  int writer = h5store_writer(o->out_path, &pid, &jc) == 1;
  if (writer) printf("being written by another prefsim process (pid %ld): the run would be refused", pid);
  else if (stat(o->out_path, &sb) != 0)
    printf(jc ? "absent, but its journal holds %zu finished cells: the run would resume them" : "new", jc);
  else if (o->force)
    printf("exists: --force would overwrite it");
  else {
    h5read *r = NULL;
    ps_msg m = {{0}};
    char diff[1024];
    if (h5read_open(o->out_path, &r, &m) != PS_OK)
      printf("exists but is not a readable results file (%s): the run would be refused without --force", m.text);
    else if (run_config_compare(h5read_attr(r, "config_data"), e->config, 1, diff, sizeof diff))
      printf("holds another config (%s): the run would be refused without --force", diff);
    else {
      size_t pend = 0, done = 0, failed = 0;
      const char *st = h5read_attr(r, "status");
      if (h5read_cell_counts(r, &pend, &done, &failed, &m) != PS_OK) pend = total;
      if (st && !strcmp(st, "COMPLETED") && !pend)
        printf("COMPLETED with this config: nothing to run");
      else
        printf("%s with this config: the run would resume it (%zu cells finished%s%zu more in its journal)",
               st ? st : "?", done + failed, jc ? ", " : "; ", jc);
    }
    h5read_close(r);
  }
  printf("\n");
  if (o->max_cells && total > o->max_cells && !o->allow_large)
    printf("; ceiling     %zu cells is above the ceiling of %zu: the run would be refused without --allow-large\n",
           total, o->max_cells);
  fflush(stdout);
  double per = run_estimate_cell_seconds(e);
  int threads = run_threads(o);
  if (isfinite(per)) {
    printf("; estimate    about ");
    print_duration(stdout, per * (double)mine / threads);
    printf(" on %d thread%s (%.3g s a cell: the mean of its first and last cells)\n", threads,
           threads == 1 ? "" : "s", per);
  }
  printf("\n%s", text);
  free(text);
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

static const cli_opt verify_opts[] = {{"json", 0, 0, NULL}, {"tsv", 0, 0, NULL}, {"help", 'h', 0, NULL}, {NULL}};
enum { VERIFY_OPT_JSON, VERIFY_OPT_TSV, VERIFY_OPT_HELP };

static int cmd_verify(int argc, char **argv) {
  const char *path = NULL;
  int format = VERIFY_TEXT;
  cli_iter it;
  cli_iter_init(&it, "prefsim verify", verify_opts, argc, argv);
  int rr, k;
  const char *v;
  while ((rr = cli_next(&it, &k, &v)) != CLI_END) {
    if (rr == CLI_ERROR) return EXIT_USAGE;
    if (rr == CLI_ARG) {
      if (path) {
        fprintf(stderr, "prefsim verify: one results file, not '%s' and '%s'\n", path, v);
        return EXIT_USAGE;
      }
      path = v;
    } else if (k == VERIFY_OPT_HELP) {
      usage_verify(stdout);
      return 0;
    } else if ((k == VERIFY_OPT_JSON && format == VERIFY_TSV) || (k == VERIFY_OPT_TSV && format == VERIFY_JSON)) {
      fprintf(stderr, "prefsim verify: --json and --tsv exclude each other\n");
      return EXIT_USAGE;
    } else format = k == VERIFY_OPT_JSON ? VERIFY_JSON : VERIFY_TSV;
  }
  if (!path) {
    fprintf(stderr, "prefsim verify: no results file given\n\n");
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

/* a command whose only option is --help and which takes exactly one argument */
static int one_file(const char *prog, const char *what, int argc, char **argv, void (*usage_fn)(FILE *),
                    const char **file) {
  static const cli_opt help_opts[] = {{"help", 'h', 0, NULL}, {NULL}};
  cli_iter it;
  cli_iter_init(&it, prog, help_opts, argc, argv);
  int r, k;
  const char *v;
  *file = NULL;
  while ((r = cli_next(&it, &k, &v)) != CLI_END) {
    if (r == CLI_ERROR) return EXIT_USAGE;
    if (r == CLI_OPTION) {
      usage_fn(stdout);
      return 0;
    }
    if (*file) {
      fprintf(stderr, "%s: one %s, not '%s' and '%s'\n", prog, what, *file, v);
      return EXIT_USAGE;
    }
    *file = v;
  }
  return -1;
}

static int cmd_info(int argc, char **argv) {
  const char *path;
  int rc = one_file("prefsim info", "results file", argc, argv, usage_info, &path);
  if (rc >= 0) return rc;
  if (!path) {
    fprintf(stderr, "prefsim info: no results file given\n\n");
    usage_info(stderr);
    return EXIT_USAGE;
  }
  ps_msg m = {{0}};
  h5read *r = NULL;
  if (h5read_open(path, &r, &m) != PS_OK) {
    fprintf(stderr, "prefsim info: %s\n", m.text);
    return EXIT_DATA;
  }
  const char *keys[] = {"schema", "experiment", "description", "status", "shard", "prefsim_version", "git_rev", "created_utc",
                        "finished_utc", "snapshot_utc", "master_seed", "rng", "gsl_version", "hdf5_version", "argv",
                        "git_dirty", "compiler", "cflags", "blas", "host", "threads", "mpi_ranks", NULL};
  printf("file            %s\n", path);
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
  describe_partial(path, r, partial, sizeof partial);
  if (partial[0]) printf("%-15s %s\n", "note", partial);
  const char *cfgtext = h5read_attr(r, "config");
  if (cfgtext) printf("\nresolved config:\n%s", cfgtext);
  h5read_close(r);
  return 0;
}

/* ---- the commands: one row each (a new command is a function, its usage and a row) ---- */
static int do_run(int argc, char **argv, int fc, char **fv) { return cmd_run(argc, argv, fc, fv); }
static int do_merge(int argc, char **argv, int fc, char **fv) { return cmd_merge(argc, argv, fc, fv); }
static int do_verify(int argc, char **argv, int fc, char **fv) { return cmd_verify(argc, argv); }
static int do_plot(int argc, char **argv, int fc, char **fv) { return cmd_plot(argc, argv); }
static int do_fit(int argc, char **argv, int fc, char **fv) { return fitcli_main(argc, argv); }
static int do_info(int argc, char **argv, int fc, char **fv) { return cmd_info(argc, argv); }
static int do_list(int argc, char **argv, int fc, char **fv) { return cmd_list(argc, argv); }
static int do_new(int argc, char **argv, int fc, char **fv) { return cmd_new(argc, argv); }
static int do_export(int argc, char **argv, int fc, char **fv) { return cmd_export(argc, argv); }

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv, int full_argc, char **full_argv);
  void (*usage)(FILE *f);
} commands[] = {
    {"run", do_run, usage_run},       {"merge", do_merge, usage_merge}, {"verify", do_verify, usage_verify},
    {"plot", do_plot, cmd_plot_usage},    {"fit", do_fit, fitcli_usage},    {"info", do_info, usage_info},
    {"list", do_list, usage_list},    {"new", do_new, usage_new},       {"export", do_export, usage_export},
};

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
  size_t nc = sizeof commands / sizeof *commands;
  const char *names[sizeof commands / sizeof *commands];
  for (size_t i = 0; i < nc; i++) names[i] = commands[i].name;
  if (!strcmp(cmd, "help")) {
    if (argc < 3) {
      usage(stdout);
      return 0;
    }
    for (size_t i = 0; i < nc; i++)
      if (!strcmp(argv[2], commands[i].name)) {
        commands[i].usage(stdout);
        return 0;
      }
    char dym[160];
    fprintf(stderr, "prefsim help: no command '%s'%s  (prefsim --help lists the commands)\n", argv[2],
            cli_did_you_mean(argv[2], names, nc, dym, sizeof dym));
    return EXIT_USAGE;
  }
  int rc = -1;
  for (size_t i = 0; i < nc && rc < 0; i++)
    if (!strcmp(cmd, commands[i].name)) rc = commands[i].fn(argc - 1, argv + 1, argc, argv);
  if (rc >= 0) {
    /* a full disk or a closed pipe behind stdout is an error, not a silent success */
    if (fflush(stdout) != 0 || ferror(stdout)) {
      fprintf(stderr, "prefsim %s: cannot write to standard output: %s\n", cmd, strerror(errno));
      return rc ? rc : EXIT_DATA;
    }
    return rc;
  }
  char dym[160];
  fprintf(stderr, "prefsim: unknown command '%s'%s  (prefsim --help lists the commands)\n", cmd,
          cli_did_you_mean(cmd, names, nc, dym, sizeof dym));
  return EXIT_USAGE;
}
