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
 * lambda > 0, C is the Laplace (Gaussian-posterior) covariance of the penalised fit.
 *
 * --model gpm (THEORY.md §3.7, gpm.h): item embeddings fitted with Adam from the
 * stream (seed, PS_STREAM_ESTIMATOR, 0, 0, 0); the only identified output is the logit
 * matrix S_ij = s(i,j)/tau, printed in full.
 *
 * --model minimax (THEORY.md §3.13, minimax.h): the minimax winner of the empirical
 * margin matrix M_ij = n_ij / N_ij - 1/2, where a pair never compared gets M = 0
 * (P = 1/2: no information, favouring neither side) and is listed. */
#include "fitcli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/ps.h"
#include "../estimators/bt.h"
#include "../estimators/estimator.h"
#include "../estimators/gpm.h"
#include "../estimators/minimax.h"
#include "../core/rng.h"
#include "csv.h"

typedef struct {
  const char *model;     /* --model, NULL when not given */
  const char *data;      /* DATA path, "-" for stdin */
  double l2;             /* --l2, >= 0 */
  const char *reference; /* --reference, or NULL */
  int want_se;           /* 0 with --no-se */
  int verbose;           /* -v: timings on stderr */
  int help;              /* --help */
  gpm_options gpm;       /* --k --tau --lr --iterations --restarts (and --l2) for gpm */
  unsigned long long seed; /* --seed for gpm's initial embeddings */
  const char *gpm_option;  /* the first gpm-only option given, for the misuse message */
  const char *bt_option;   /* the first bt-only option given (--reference, --no-se) */
  int l2_given;
  /* annotator-aware models (noisybt, flipem, mixture, idealpoint, lowrank) */
  const char *k_text;      /* --k as written (mixture: an integer or "auto") */
  unsigned long long k_max; /* --k-max for --k auto */
  const char *annotators_path; /* --annotators FILE: the per-annotator table goes there */
  const char *param[32];   /* --param KEY=VALUE, in order */
  size_t n_param;
} fit_args;

/* Standard errors keep the m x m Hessian and its inverse: 2 x 3.2 GB at this
 * limit.  Refusing up front beats an allocation that may succeed under memory
 * overcommit and then be killed while it is filled. */
#define MAX_SE_ITEMS 20000

static const char *const model_names[] = {"bt", "gpm", "minimax", "noisybt", "flipem", "mixture", "idealpoint",
                                          "lowrank"};
#define MODEL_LIST "bt, gpm, minimax, noisybt, flipem, mixture, idealpoint, lowrank"

/* models fitted through the estimator interface, with per-annotator output */
static int annotator_model(const char *name) {
  return name && (!strcmp(name, "noisybt") || !strcmp(name, "flipem") || !strcmp(name, "mixture") ||
                  !strcmp(name, "idealpoint") || !strcmp(name, "lowrank"));
}

/* The minimax LP is dense (m^2 nonzeros); GLPK's simplex takes minutes beyond this. */
#define MAX_MINIMAX_ITEMS 2000

/* Never-compared pairs listed by --model minimax (the count is always printed). */
#define MAX_LISTED_PAIRS 100
#define N_MODELS (sizeof model_names / sizeof model_names[0])

void fitcli_usage(FILE *out) {
  fputs(
      "usage: prefsim fit --model bt DATA.csv [--l2 LAMBDA] [--reference ITEM] [--no-se] [-v]\n"
      "       prefsim fit --model gpm DATA.csv [--k K] [--tau TAU] [--seed S] [--lr LR]\n"
      "                   [--iterations N] [--restarts R] [--l2 LAMBDA] [-v]\n"
      "       prefsim fit --model minimax DATA.csv [-v]\n"
      "       prefsim fit --model noisybt|flipem|mixture|idealpoint|lowrank DATA.csv [--k K|auto]\n"
      "                   [--k-max K] [--l2 LAMBDA] [--seed S] [--param KEY=VALUE ...]\n"
      "                   [--annotators FILE] [-v]\n"
      "\n"
      "Fit a preference model to pairwise comparisons and print it: Bradley-Terry item scores\n"
      "and standard errors (bt); the logit matrix of a general (possibly intransitive)\n"
      "preference model (gpm); or the minimax winner of the empirical preference matrix\n"
      "(minimax).\n"
      "\n"
      "DATA.csv  a header row, then one comparison per row.  Columns, found by name in any order:\n"
      "          winner, loser (required), count (optional: positive real multiplicity), annotator\n"
      "          (optional: who judged the row; used by the annotator models, ignored by bt, gpm and\n"
      "          minimax), first (optional: the name of the item shown first, for noisybt's position\n"
      "          bias); other columns are ignored.  Fields may be\n"
      "          quoted (\"a, b\"; a literal \" is written \"\"); \\n or \\r\\n line ends; blank lines\n"
      "          and a UTF-8 BOM are skipped.  \"-\" reads standard input.\n"
      "\n"
      "options:\n"
      "  --model MODEL     bt (Bradley-Terry, logistic link), gpm (general preference model,\n"
      "                    skew-symmetric embeddings) or minimax (minimax winner by LP)\n"
      "  --l2 LAMBDA       bt, gpm: add (LAMBDA/2)||theta||^2 (gpm: ||V||^2) to the summed\n"
      "                    negative log-likelihood; LAMBDA finite and >= 0 (default 0: maximum\n"
      "                    likelihood).  A small LAMBDA (e.g. 0.1) gives finite bt scores when\n"
      "                    no MLE exists\n"
      "  --reference ITEM  report theta_i - theta_ITEM, so ITEM scores 0 with SE 0, and the SEs\n"
      "                    of those differences (BradleyTerry2's convention); default: scores\n"
      "                    centred to sum 0 with the SEs of the centred scores\n"
      "  --no-se           skip standard errors (they need two items x items matrices;\n"
      "                    required above 20000 items)\n"
      "                    (--reference and --no-se are for bt only)\n"
      "  --k K             gpm: embedding dimension 2K, K integer in [1, 4096] (default 2)\n"
      "  --tau TAU         gpm: temperature, P = sigma(s/TAU), TAU > 0 (default 0.1); it\n"
      "                    scales only the embeddings, not the fitted logits\n"
      "  --seed S          gpm: seed of the initial embeddings V ~ N(0, 0.1^2), an integer\n"
      "                    >= 0 (default 1); the fit is a deterministic function of it\n"
      "  --lr LR           gpm: Adam step size (default 0.01)\n"
      "  --iterations N    gpm: full-batch Adam steps per restart (default 2000); the run\n"
      "                    stops earlier when ||gradient|| <= 1e-8 x total weight\n"
      "  --restarts R      gpm: random starts; the lowest objective is kept (default 1)\n"
      "  -v, --verbose     print the time spent in each step on stderr\n"
      "  -h, --help        this text\n"
      "\n",
      out);
  fputs(
      "output (stdout, tab-separated):\n"
      "  item<TAB>score<TAB>se    header, then one row per item in order of first appearance\n"
      "                           in DATA (tabs in names are written as spaces; se is NA when\n"
      "                           not computed); numbers with 12 significant digits\n"
      "  # key<TAB>value          then: loglik, objective, status (ok, not-converged, ...),\n"
      "                           iterations, grad_norm, model, l2, scale (centred or\n"
      "                           reference), items, rows, weight (sum of counts)\n"
      "  se = sqrt of the diagonal of the inverse Hessian of the objective on the sum-zero\n"
      "  space, transformed to the reported scale.\n"
      "\n",
      out);
  fputs(
      "output of gpm:\n"
      "  item<TAB>NAME_1<TAB>...<TAB>NAME_m   header, then one row per item: row i, column j\n"
      "                           holds S_ij = s(i,j)/TAU = logit P(i preferred to j), a\n"
      "                           skew-symmetric matrix (S_ii = 0); the embeddings themselves\n"
      "                           are not identified (rotations, scale) and not printed\n"
      "  # key<TAB>value          loss (sum of counts x -log P(winner > loser)), objective (loss\n"
      "                           + ridge), status, converged (yes: the gradient tolerance was\n"
      "                           met; no: the step budget ran out, which is normal when the\n"
      "                           data are perfectly cyclic; the fit is still the estimate),\n"
      "                           iterations, grad_norm, best_restart, model, k, tau, lr,\n"
      "                           max_iterations, restarts, l2, seed, items, rows, weight\n"
      "\n"
      "output of minimax:\n"
      "  item<TAB>probability     header, then one row per item: a minimax (von Neumann)\n"
      "                           winner p of the empirical margin matrix M = P - 1/2, with\n"
      "                           P_ij = (wins of i over j) / (comparisons of i and j), by\n"
      "                           GLPK's simplex: p^T M >= 0; a vertex when not unique\n"
      "  # key<TAB>value          value (the LP's game value, 0 up to rounding),\n"
      "                           exploitability (max_y P(y > p) - 1/2, 0 up to rounding),\n"
      "                           condorcet_winner (the item beating every other with P > 1/2,\n"
      "                           or NA), never_compared (number of unordered pairs with no\n"
      "                           comparison: they are given P = 1/2, a tie, so they also block\n"
      "                           a Condorcet winner), then up to 100 lines\n"
      "                           \"# never_compared_pair<TAB>A<TAB>B\", then model, items,\n"
      "                           rows, weight\n"
      "\n",
      out);
  fputs(
      "annotator models (THEORY.md §2.4-2.7, §3.3-3.6), fitted on the item model with the\n"
      "annotator column as users (without it, everything is one annotator):\n"
      "  noisybt     item scores + each annotator's competence sigma(gamma) and position bias q\n"
      "  flipem      item scores + each annotator's flip rate, by EM over label correctness\n"
      "  mixture     K reward types of users by EM; --k K, or --k auto: K in 1..--k-max (6) by BIC\n"
      "  idealpoint  PAL-A ideal points: --k prototypes, free item embeddings (--param dim=P)\n"
      "  lowrank     per-user weights over --k shared reward components\n"
      "  --param KEY=VALUE sets any other hyperparameter (see `prefsim list`); --l2 sets l2;\n"
      "  --seed S seeds restarts and initialisations (deterministic given S).\n"
      "output: item<TAB>score[<TAB>score_1 ... score_K]: centred item scores (the model's\n"
      "  parameter, or the centred mean logit against every other item), and for mixture each\n"
      "  type's centred reward; then a blank line and annotator<TAB>COLUMNS..., one row per\n"
      "  annotator (noisybt: competence, skill, bias, flip, comparisons; flipem: eta, flip,\n"
      "  comparisons; mixture: cluster, posterior, comparisons; idealpoint: top_prototype,\n"
      "  top_weight, comparisons; lowrank: w_norm, top_component, top_weight, comparisons), or\n"
      "  that table in --annotators FILE; then # key<TAB>value lines (weight_k of each type,\n"
      "  objective, status, converged, iterations, grad_norm, model, every hyperparameter, seed,\n"
      "  items, annotators, rows, weight).\n"
      "\n",
      out);
  fputs(
      "exit status:\n"
      "  0 ok\n"
      "  1 out of memory (or too many items for standard errors, or above 2000 items for\n"
      "    minimax), internal error\n"
      "  2 usage error (unknown option or model, an option of another model, a bad value,\n"
      "    missing DATA)\n"
      "  3 bad data (malformed CSV, with file and line; unknown --reference item)\n"
      "  4 no maximum-likelihood estimate (e.g. a disconnected comparison graph, an item that\n"
      "    never wins or never loses); use --l2 LAMBDA\n"
      "  5 I/O error (DATA unreadable, stdout not writable)\n"
      "  6 the fit failed numerically: bt (no convergence, singular Hessian) still prints the\n"
      "    table with its status; gpm (a non-finite objective, e.g. too large --lr) and minimax\n"
      "    (the LP solver did not reach an optimum) print nothing\n",
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

/* The value of integer option name: decimal digits only, in [lo, hi].  Returns the
 * text, or NULL with the message in m. */
static const char *int_option(int argc, char **argv, int *i, const char *name, unsigned long long lo,
                              unsigned long long hi, unsigned long long *out, ps_msg *m) {
  const char *v = option_value(argc, argv, i, name, m);
  if (!v) return NULL;
  char *end;
  errno = 0;
  unsigned long long x = *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
  if (!(*v >= '0' && *v <= '9') || errno || *end != 0 || x < lo || x > hi) {
    ps_fail(m, PS_EINVAL, "%s must be an integer in [%llu, %llu], not '%s'", name, lo, hi, v);
    return NULL;
  }
  *out = x;
  return v;
}

static int parse_args(int argc, char **argv, fit_args *a, ps_msg *m) {
  memset(a, 0, sizeof *a);
  a->want_se = 1;
  a->gpm = gpm_options_default();
  a->seed = 1;
  int only_files = 0;
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i], *v;
    unsigned long long x;
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
      if (!a->bt_option) a->bt_option = "--no-se";
    } else if (is_option(s, "--model")) {
      if (!(v = option_value(argc, argv, &i, "--model", m))) return PS_EINVAL;
      a->model = v;
    } else if (is_option(s, "--reference")) {
      if (!(v = option_value(argc, argv, &i, "--reference", m))) return PS_EINVAL;
      a->reference = v;
      if (!a->bt_option) a->bt_option = "--reference";
    } else if (is_option(s, "--l2")) {
      if (!(v = option_value(argc, argv, &i, "--l2", m))) return PS_EINVAL;
      if (!parse_number(v, &a->l2) || !isfinite(a->l2) || !(a->l2 >= 0))
        return ps_fail(m, PS_EINVAL, "--l2 must be a finite number >= 0, not '%s'", v);
      a->l2_given = 1;
    } else if (is_option(s, "--k")) {
      if (i + 1 < argc && !strcmp(argv[i + 1], "auto")) {
        a->k_text = argv[++i];
        continue;
      }
      if (!(v = int_option(argc, argv, &i, "--k", 1, 4096, &x, m))) return PS_EINVAL;
      a->gpm.k = (size_t)x;
      a->k_text = v;
    } else if (is_option(s, "--k-max")) {
      if (!(v = int_option(argc, argv, &i, "--k-max", 1, 64, &a->k_max, m))) return PS_EINVAL;
    } else if (is_option(s, "--annotators")) {
      if (!(v = option_value(argc, argv, &i, "--annotators", m))) return PS_EINVAL;
      a->annotators_path = v;
    } else if (is_option(s, "--param")) {
      if (!(v = option_value(argc, argv, &i, "--param", m))) return PS_EINVAL;
      if (!strchr(v, '=')) return ps_fail(m, PS_EINVAL, "--param needs KEY=VALUE, not '%s'", v);
      if (a->n_param == sizeof a->param / sizeof a->param[0]) return ps_fail(m, PS_EINVAL, "too many --param options");
      a->param[a->n_param++] = v;
    } else if (is_option(s, "--iterations")) {
      if (!(v = int_option(argc, argv, &i, "--iterations", 1, 10000000, &x, m))) return PS_EINVAL;
      a->gpm.iterations = (int)x;
      if (!a->gpm_option) a->gpm_option = "--iterations";
    } else if (is_option(s, "--restarts")) {
      if (!(v = int_option(argc, argv, &i, "--restarts", 1, 1000, &x, m))) return PS_EINVAL;
      a->gpm.restarts = (int)x;
      if (!a->gpm_option) a->gpm_option = "--restarts";
    } else if (is_option(s, "--seed")) {
      if (!(v = int_option(argc, argv, &i, "--seed", 0, ULLONG_MAX, &a->seed, m))) return PS_EINVAL;
    } else if (is_option(s, "--tau") || is_option(s, "--lr")) {
      const char *name = is_option(s, "--tau") ? "--tau" : "--lr";
      double r;
      if (!(v = option_value(argc, argv, &i, name, m))) return PS_EINVAL;
      if (!parse_number(v, &r) || !isfinite(r) || !(r > 0))
        return ps_fail(m, PS_EINVAL, "%s must be a finite number > 0, not '%s'", name, v);
      if (strcmp(name, "--tau") == 0) a->gpm.tau = r;
      else a->gpm.lr = r;
      if (!a->gpm_option) a->gpm_option = name;
    } else {
      return ps_fail(m, PS_EINVAL, "unknown option '%s'", s);
    }
  }
  if (a->help) return PS_OK;
  if (!a->model) return ps_fail(m, PS_EINVAL, "missing --model (allowed: " MODEL_LIST ")");
  int known = 0;
  for (size_t k = 0; k < N_MODELS; k++) known |= strcmp(a->model, model_names[k]) == 0;
  if (!known) return ps_fail(m, PS_EINVAL, "unknown model '%s' (allowed: " MODEL_LIST ")", a->model);
  if (a->bt_option && strcmp(a->model, "bt") != 0)
    return ps_fail(m, PS_EINVAL, "%s applies to --model bt only, not %s", a->bt_option, a->model);
  if (a->gpm_option && strcmp(a->model, "gpm") != 0)
    return ps_fail(m, PS_EINVAL, "%s applies to --model gpm only, not %s", a->gpm_option, a->model);
  int am = annotator_model(a->model);
  if (a->k_text && strcmp(a->model, "gpm") && strcmp(a->model, "mixture") && strcmp(a->model, "idealpoint") &&
      strcmp(a->model, "lowrank"))
    return ps_fail(m, PS_EINVAL, "--k applies to --model gpm, mixture, idealpoint and lowrank, not %s", a->model);
  if (a->k_text && !strcmp(a->k_text, "auto") && strcmp(a->model, "mixture"))
    return ps_fail(m, PS_EINVAL, "--k auto (K chosen by BIC) applies to --model mixture only");
  if (a->k_max && !(a->k_text && !strcmp(a->k_text, "auto")))
    return ps_fail(m, PS_EINVAL, "--k-max applies to --model mixture --k auto only");
  if ((a->annotators_path || a->n_param) && !am)
    return ps_fail(m, PS_EINVAL, "%s applies to --model noisybt, flipem, mixture, idealpoint and lowrank, not %s",
                   a->annotators_path ? "--annotators" : "--param", a->model);
  if (am && !est_lookup(a->model))
    return ps_fail(m, PS_EINVAL, "model '%s' is not built into this prefsim", a->model);
  if (a->l2_given && strcmp(a->model, "minimax") == 0)
    return ps_fail(m, PS_EINVAL, "--l2 applies to --model bt and gpm, not minimax");
  a->gpm.l2 = a->l2;
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

/* ------------------------------------------------------ gpm and minimax */

/* The fitted logit matrix of --model gpm and its summary.  Returns an exit status. */
static int run_gpm(const fit_args *a, const csv_comparisons *c, const char *file, double t0) {
  size_t m = c->data.n_items;
  ps_msg msg = {{0}};
  gpm_result res;
  gsl_rng *r = ps_rng_alloc();
  if (!r) {
    fprintf(stderr, "prefsim fit: out of memory\n");
    return FITCLI_EXIT_INTERNAL;
  }
  ps_rng_reset(r, (uint64_t)a->seed, PS_STREAM_ESTIMATOR, 0, 0, 0);
  int s = gpm_fit(&c->data, &a->gpm, r, &res, &msg);
  gsl_rng_free(r);
  double t_fit = now_seconds();
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    return s == PS_EDOM ? FITCLI_EXIT_NUMERIC : s == PS_EINVAL ? FITCLI_EXIT_DATA : FITCLI_EXIT_INTERNAL;
  }
  FILE *out = stdout;
  fputs("item", out);
  for (size_t j = 0; j < m; j++) {
    fputc('\t', out);
    put_cell(out, c->item_name[j]);
  }
  fputc('\n', out);
  for (size_t i = 0; i < m; i++) {
    put_cell(out, c->item_name[i]);
    for (size_t j = 0; j < m; j++) fprintf(out, "\t%.12g", gpm_logit(&res, i, j));
    fputc('\n', out);
  }
  fprintf(out, "# loss\t%.12g\n", res.loss);
  fprintf(out, "# objective\t%.12g\n", res.objective);
  fprintf(out, "# status\t%s\n", ps_status_name(PS_OK));
  fprintf(out, "# converged\t%s\n", res.converged ? "yes" : "no");
  fprintf(out, "# iterations\t%d\n", res.iterations);
  fprintf(out, "# grad_norm\t%.3g\n", res.grad_norm);
  fprintf(out, "# best_restart\t%d\n", res.best_restart);
  fprintf(out, "# model\tgpm\n");
  fprintf(out, "# k\t%zu\n", a->gpm.k);
  fprintf(out, "# tau\t%.12g\n", a->gpm.tau);
  fprintf(out, "# lr\t%.12g\n", a->gpm.lr);
  fprintf(out, "# max_iterations\t%d\n", a->gpm.iterations);
  fprintf(out, "# restarts\t%d\n", a->gpm.restarts);
  fprintf(out, "# l2\t%.12g\n", a->gpm.l2);
  fprintf(out, "# seed\t%llu\n", a->seed);
  fprintf(out, "# items\t%zu\n", m);
  fprintf(out, "# rows\t%zu\n", c->data.n);
  fprintf(out, "# weight\t%.12g\n", pref_data_weight(&c->data));
  gpm_result_free(&res);
  if (fflush(out) != 0 || ferror(out)) {
    fprintf(stderr, "prefsim fit: error writing the results to standard output\n");
    return FITCLI_EXIT_IO;
  }
  if (a->verbose)
    fprintf(stderr, "prefsim fit: %zu rows, %zu items: fit %.3f s (%d Adam steps x %d restarts), total %.3f s\n",
            c->data.n, m, t_fit - t0, a->gpm.iterations, a->gpm.restarts, now_seconds() - t0);
  return FITCLI_EXIT_OK;
}

/* ------------------------------------------- annotator-aware models */

/* The hyperparameter texts of estimator t: its defaults, then --l2, --k and the
 * --param KEY=VALUE options, each checked against the table.  hyper[] points into
 * t's defaults and into argv. */
static int annotator_hyper(const fit_args *a, const est_type *t, const char **hyper, char *kbuf, size_t kcap, ps_msg *m) {
  size_t np = 0;
  while (t->params[np].key) np++;
  if (np > 63) return ps_fail(m, PS_EINVAL, "too many hyperparameters");
  for (size_t j = 0; j < np; j++) hyper[j] = t->params[j].def;
  char list[600] = "";
  for (size_t j = 0; j < np; j++) {
    if (j) strncat(list, ", ", sizeof list - strlen(list) - 1);
    strncat(list, t->params[j].key, sizeof list - strlen(list) - 1);
  }
  static char l2buf[64];
  const char *set_key[40], *set_val[40];
  size_t ns = 0;
  if (a->l2_given) {
    snprintf(l2buf, sizeof l2buf, "%.17g", a->l2);
    set_key[ns] = "l2", set_val[ns++] = l2buf;
  }
  if (a->k_text) {
    const char *kkey = !strcmp(t->name, "idealpoint") ? "K" : !strcmp(t->name, "lowrank") ? "B" : "k";
    if (!strcmp(a->k_text, "auto")) {
      snprintf(kbuf, kcap, "%llu", a->k_max ? a->k_max : 6ULL);
      set_key[ns] = "select", set_val[ns++] = "bic";
      set_key[ns] = kkey, set_val[ns++] = kbuf;
    } else {
      set_key[ns] = kkey, set_val[ns++] = a->k_text;
    }
  }
  static char keybuf[32][64];
  for (size_t i = 0; i < a->n_param && ns < 40; i++) {
    const char *eq = strchr(a->param[i], '=');
    size_t len = (size_t)(eq - a->param[i]);
    if (len >= sizeof keybuf[0]) return ps_fail(m, PS_EINVAL, "--param %s: key too long", a->param[i]);
    memcpy(keybuf[i], a->param[i], len);
    keybuf[i][len] = 0;
    set_key[ns] = keybuf[i], set_val[ns++] = eq + 1;
  }
  for (size_t i = 0; i < ns; i++) {
    const ps_param *p = ps_param_find(t->params, set_key[i]);
    if (!p) {
      if (!strcmp(set_key[i], "select") || !strcmp(set_key[i], "l2") || !strcmp(set_key[i], "k") ||
          !strcmp(set_key[i], "K") || !strcmp(set_key[i], "B"))
        return ps_fail(m, PS_EINVAL, "--model %s has no hyperparameter '%s' (its hyperparameters: %s)", t->name,
                       set_key[i], list);
      return ps_fail(m, PS_EINVAL, "--param %s: unknown hyperparameter of --model %s; allowed: %s", set_key[i],
                     t->name, list);
    }
    ps_msg sub;
    if (ps_param_check(p, set_val[i], &sub) != PS_OK)
      return ps_fail(m, PS_EINVAL, "%s = %s: %s", set_key[i], set_val[i], sub.text);
    hyper[p - t->params] = set_val[i];
  }
  return PS_OK;
}

/* Item scores of a fitted model: its parameter when it has one (centred item
 * scores), else the centred mean logit against every other item (at most 5000
 * items: quadratic). */
static int model_item_scores(const est_type *t, const est_model *mod, size_t m, double *score) {
  size_t dim = 0;
  const double *th = t->theta(mod, &dim);
  if (th && dim == m) {
    for (size_t i = 0; i < m; i++) score[i] = th[i];
  } else if (m <= 5000) {
    for (size_t i = 0; i < m; i++) {
      double acc = 0;
      for (size_t j = 0; j < m; j++)
        if (j != i) acc += t->logit(mod, (int32_t)i, (int32_t)j);
      score[i] = acc / (double)(m - 1);
    }
  } else {
    return PS_EINVAL;
  }
  double mean = 0;
  for (size_t i = 0; i < m; i++) mean += score[i];
  mean /= (double)m;
  for (size_t i = 0; i < m; i++) score[i] -= mean;
  return PS_OK;
}

/* --model noisybt|flipem|mixture|idealpoint|lowrank: fit through the estimator
 * interface on the item model, print item scores (and group scores), then the
 * per-annotator table.  Returns an exit status. */
static int run_annotator_model(const fit_args *a, const csv_comparisons *c, const char *file, double t0) {
  const est_type *t = est_lookup(a->model);
  const char *hyper[64];
  char kbuf[32];
  ps_msg msg = {{0}};
  size_t m = c->data.n_items;
  if (annotator_hyper(a, t, hyper, kbuf, sizeof kbuf, &msg) != PS_OK) {
    fprintf(stderr, "prefsim fit: %s\n", msg.text);
    return FITCLI_EXIT_USAGE;
  }
  est_model *mod = NULL;
  est_fit_info info = {0};
  pref_features items = {.n_items = m, .d = m, .phi = NULL, .n_contexts = 1, .item_context = NULL};
  gsl_rng *r = ps_rng_alloc();
  double *score = malloc(m * sizeof(double));
  int rc = FITCLI_EXIT_OK, s;
  FILE *ann = NULL;
  if (!r || !score) {
    fprintf(stderr, "prefsim fit: out of memory\n");
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  ps_rng_reset(r, (uint64_t)a->seed, PS_STREAM_ESTIMATOR, 0, 0, 0);
  s = t->alloc(&mod, hyper, &msg);
  if (s == PS_OK) s = t->fit(mod, &c->data, &items, r, &info, &msg);
  double t_fit = now_seconds();
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    rc = s == PS_ENOMLE ? FITCLI_EXIT_NOMLE : s == PS_EINVAL ? FITCLI_EXIT_DATA : s == PS_ENOMEM ? FITCLI_EXIT_INTERNAL
                                                                                                : FITCLI_EXIT_NUMERIC;
    goto done;
  }
  FILE *out = stdout;
  size_t K = 0;
  const double *R = NULL, *W = NULL;
  if (t->groups && t->groups(mod, &K, &R, &W) != PS_OK) K = 0;
  int have_scores = model_item_scores(t, mod, m, score) == PS_OK;
  fputs("item	score", out);
  for (size_t k = 0; k < K; k++) fprintf(out, "	score_%zu", k + 1);
  fputc('\n', out);
  for (size_t i = 0; i < m; i++) {
    put_cell(out, c->item_name[i]);
    if (have_scores) fprintf(out, "	%.12g", score[i]);
    else fputs("	NA", out);
    for (size_t k = 0; k < K; k++) {
      double mean = 0;
      for (size_t j = 0; j < m; j++) mean += R[k * m + j];
      fprintf(out, "	%.12g", R[k * m + i] - mean / (double)m);
    }
    fputc('\n', out);
  }
  /* the per-annotator table: to --annotators FILE, or after a blank line */
  FILE *at = out;
  if (a->annotators_path) {
    if (!(ann = fopen(a->annotators_path, "w"))) {
      fprintf(stderr, "prefsim fit: cannot write %s: %s\n", a->annotators_path, strerror(errno));
      rc = FITCLI_EXIT_IO;
      goto done;
    }
    at = ann;
  } else {
    fputc('\n', out);
  }
  size_t nc = 0;
  while (t->annotator_columns && t->annotator_columns[nc]) nc++;
  if (t->annotator && nc) {
    double *v = malloc(nc * sizeof(double));
    if (!v) {
      rc = FITCLI_EXIT_INTERNAL;
      goto done;
    }
    fputs("annotator", at);
    for (size_t j = 0; j < nc; j++) fprintf(at, "	%s", t->annotator_columns[j]);
    fputc('\n', at);
    for (size_t h = 0; h < c->data.n_annotators; h++) {
      if (c->annotator_name) put_cell(at, c->annotator_name[h]);
      else fputs("(all)", at);
      if (t->annotator(mod, h, v) != PS_OK) {
        for (size_t j = 0; j < nc; j++) fputs("	NA", at);
      } else {
        for (size_t j = 0; j < nc; j++) fprintf(at, "	%.12g", v[j]);
      }
      fputc('\n', at);
    }
    free(v);
  }
  if (K) {
    for (size_t k = 0; k < K; k++) fprintf(out, "# weight_%zu	%.12g\n", k + 1, W[k]);
  }
  fprintf(out, "# objective	%.12g\n", info.objective);
  fprintf(out, "# status	%s\n", ps_status_name(PS_OK));
  fprintf(out, "# converged	%s\n", info.converged ? "yes" : "no");
  fprintf(out, "# iterations	%d\n", info.iterations);
  fprintf(out, "# grad_norm	%.3g\n", info.grad_norm);
  fprintf(out, "# model	%s\n", t->name);
  for (size_t j = 0; t->params[j].key; j++) fprintf(out, "# %s	%s\n", t->params[j].key, hyper[j]);
  fprintf(out, "# seed	%llu\n", a->seed);
  fprintf(out, "# items	%zu\n", m);
  fprintf(out, "# annotators	%zu\n", c->data.n_annotators);
  fprintf(out, "# rows	%zu\n", c->data.n);
  fprintf(out, "# weight	%.12g\n", pref_data_weight(&c->data));
  if (fflush(out) != 0 || ferror(out) || (ann && (fflush(ann) != 0 || ferror(ann)))) {
    fprintf(stderr, "prefsim fit: error writing the results\n");
    rc = FITCLI_EXIT_IO;
  }
  if (a->verbose)
    fprintf(stderr, "prefsim fit: %zu rows, %zu items, %zu annotators: fit %.3f s (%d iterations), total %.3f s\n",
            c->data.n, m, c->data.n_annotators, t_fit - t0, info.iterations, now_seconds() - t0);
done:
  if (ann) fclose(ann);
  if (mod) t->free(mod);
  if (r) gsl_rng_free(r);
  free(score);
  return rc;
}

/* The minimax winner of the empirical margin matrix.  Returns an exit status. */
static int run_minimax(const fit_args *a, const csv_comparisons *c, const char *file, double t0) {
  size_t m = c->data.n_items;
  ps_msg msg = {{0}};
  if (m > MAX_MINIMAX_ITEMS) {
    fprintf(stderr, "prefsim fit: %s: %zu items exceed the minimax limit of %d (a dense %zux%zu LP)\n", file, m,
            MAX_MINIMAX_ITEMS, m, m);
    return FITCLI_EXIT_INTERNAL;
  }
  double *M = malloc(m * m * sizeof *M), *p = malloc(m * sizeof *p);
  unsigned char *seen = malloc(m * m);
  int rc = FITCLI_EXIT_OK;
  if (!M || !p || !seen) {
    fprintf(stderr, "prefsim fit: out of memory for the %zux%zu preference matrix\n", m, m);
    rc = FITCLI_EXIT_INTERNAL;
    goto done;
  }
  size_t missing = 0;
  double value = NAN;
  int s = minimax_empirical(&c->data, M, seen, &missing, &msg);
  if (s == PS_OK) s = minimax_lp(M, m, p, &value, &msg);
  if (s != PS_OK) {
    fprintf(stderr, "prefsim fit: %s: %s\n", file, msg.text);
    rc = s == PS_ENOMEM ? FITCLI_EXIT_INTERNAL : s == PS_ENOCONV ? FITCLI_EXIT_NUMERIC : FITCLI_EXIT_DATA;
    goto done;
  }
  double t_fit = now_seconds();
  FILE *out = stdout;
  fputs("item\tprobability\n", out);
  for (size_t i = 0; i < m; i++) {
    put_cell(out, c->item_name[i]);
    fprintf(out, "\t%.12g\n", p[i]);
  }
  long cw = minimax_condorcet_winner(M, m);
  fprintf(out, "# value\t%.3g\n", value);
  fprintf(out, "# exploitability\t%.3g\n", minimax_exploitability(M, m, p));
  fputs("# condorcet_winner\t", out);
  if (cw >= 0) put_cell(out, c->item_name[cw]);
  else fputs("NA", out);
  fputc('\n', out);
  fprintf(out, "# never_compared\t%zu\n", missing);
  size_t listed = 0;
  for (size_t i = 0; i < m && listed < MAX_LISTED_PAIRS; i++)
    for (size_t j = i + 1; j < m && listed < MAX_LISTED_PAIRS; j++)
      if (!seen[i * m + j]) {
        fputs("# never_compared_pair\t", out);
        put_cell(out, c->item_name[i]);
        fputc('\t', out);
        put_cell(out, c->item_name[j]);
        fputc('\n', out);
        listed++;
      }
  fprintf(out, "# model\tminimax\n");
  fprintf(out, "# items\t%zu\n", m);
  fprintf(out, "# rows\t%zu\n", c->data.n);
  fprintf(out, "# weight\t%.12g\n", pref_data_weight(&c->data));
  if (fflush(out) != 0 || ferror(out)) {
    fprintf(stderr, "prefsim fit: error writing the results to standard output\n");
    rc = FITCLI_EXIT_IO;
  }
  if (a->verbose)
    fprintf(stderr, "prefsim fit: %zu rows, %zu items: matrix and LP %.3f s, total %.3f s\n", c->data.n, m,
            t_fit - t0, now_seconds() - t0);
done:
  free(M);
  free(p);
  free(seen);
  return rc;
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
  if (strcmp(a.model, "gpm") == 0 || strcmp(a.model, "minimax") == 0) {
    rc = strcmp(a.model, "gpm") == 0 ? run_gpm(&a, &c, file, t0) : run_minimax(&a, &c, file, t0);
    goto done;
  }
  if (annotator_model(a.model)) {
    rc = run_annotator_model(&a, &c, file, t0);
    goto done;
  }

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
