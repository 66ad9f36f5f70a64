/* fitcli_impl.h — the parts of `prefsim fit` shared by its files (not a library API).
 *
 *   fit_args.c      the command line: options, the aliases kept from before --param,
 *                   the hyperparameter texts checked with the estimator's own table
 *   fit_help.c      --help, --model NAME --help, --list, from the registry and hooks
 *   fitcli.c        fitcli_main, and the generic fit and output through the estimator
 *                   table: item scores (theta, else the mean logit), group scores, the
 *                   policy, the per-annotator table, the fit information
 *   fit_check.c     the post-fit check: finite values and the model's optimality
 *                   condition, or `# status not-converged` / `non-finite` and exit 6
 *   fit_report.c    the output: one report (tables and key/value lines) per fit, written
 *                   as --format text, tsv or json
 *   fit_io.c        no output is an input; -o FILE and --annotators FILE written atomically
 *   fit_hooks.c     the list of per-model hooks
 *   fit_bt.c, fit_gpm.c, fit_minimax.c, fit_mixture.c, fit_embedding.c   the hooks
 *
 * Invariant: every model is found with est_lookup() and its hyperparameters are
 * checked with its ps_param table; a model without a hook is fitted and printed by
 * the generic path, so a new registry entry works with no edit to cli/.  A hook adds
 * what only its model has (options, a rewrite of the settings, its own output) and
 * never replaces the lookup or the checks. */
#ifndef PS_CLI_FITCLI_IMPL_H
#define PS_CLI_FITCLI_IMPL_H

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "../estimators/estimator.h"
#include "csv.h"
#include "fitcli.h"

#define FIT_MAX_SETTINGS 64      /* --param and alias options on one command line */
#define FIT_MAX_PARAMS 64        /* hyperparameters of one estimator */
#define FIT_MAX_MODEL_OPTIONS 16 /* model-only options on one command line */

/* One hyperparameter setting from the command line, in the order given; a later
 * setting of the same key wins. */
typedef struct {
  char key[64];       /* hyperparameter key ("" for an alias until its model is known) */
  const char *value;  /* the text: points into argv, or is static */
  const char *origin; /* "--param" or the alias option ("--l2"), for messages */
} fit_setting;

/* An option only one model takes, declared by its hook. */
typedef struct {
  const char *name;    /* "--reference" */
  const char *metavar; /* "ITEM", or NULL for a flag */
  const char *doc;     /* what it does, one or two lines */
} fit_option;

enum { FIT_FORMAT_TEXT = 0, FIT_FORMAT_TSV = 1, FIT_FORMAT_JSON = 2 };

typedef struct {
  const char *model;          /* --model, NULL when not given */
  const char *data;           /* DATA path, "-" for stdin */
  int help;                   /* --help */
  int list;                   /* --list */
  int verbose;                /* -v: timings on stderr */
  unsigned long long seed;    /* --seed: the estimator's random stream (default 1) */
  const char *annotators_path; /* --annotators FILE: the per-annotator table goes there */
  int allow_large;            /* --allow-large: lift the item ceilings of the hooks (max_items) */
  uint64_t max_input_size;    /* --max-input-size: DATA's size limit in bytes (0: the default) */
  int format;                 /* --format: FIT_FORMAT_TEXT (default), _TSV or _JSON */
  const char *table;          /* --table NAME: the table --format tsv prints (NULL: the first) */
  const char *output;         /* -o, --output FILE: the output goes there instead of stdout */
  const char *columns;        /* --columns ROLE=NAME,...: the CSV columns of each role (csv.h) */
  fit_setting set[FIT_MAX_SETTINGS];
  size_t n_set;
  struct {
    const char *name;  /* the option as declared by a hook */
    const char *value; /* its value ("" for a flag) */
  } opt[FIT_MAX_MODEL_OPTIONS];
  size_t n_opt;
} fit_args;

/* What prefsim's loglik is, for the JSON document (and fit --help). */
#define FIT_LOGLIK_CONVENTION                                                                                  \
  "sum over rows of count x log F(score_winner - score_loser), F the link's CDF: the rows as Bernoulli "     \
  "trials, no binomial coefficient. BradleyTerry2's logLik(BTm(...)) with one binomial row per pair "         \
  "(countsToBinomial) is loglik + binomial_constant, binomial_constant = sum over unordered pairs {i, j} of " \
  "log C(n_ij, w_ij) (n_ij comparisons of i and j, w_ij wins of i); with one row per comparison it is "      \
  "loglik itself"

/* Everything a fit needs once the command line is checked and DATA is read. */
typedef struct {
  const fit_args *args;
  const est_type *type;
  const char *hyper[FIT_MAX_PARAMS]; /* hyper[i]: the checked text of type->params[i] */
  const csv_comparisons *c;
  const char *file; /* DATA as named in messages ("<stdin>" for -) */
  double t0;        /* start of the command (fit_now) */
} fit_job;

/* Fits whose output or work grows with the square of the item count refuse more
 * items than their hook's max_items unless --allow-large is given. */
#define FIT_MAX_ITEMS_MATRIX 2000     /* gpm (an m x m matrix printed), minimax (dense LP), nash */
#define FIT_MAX_ITEMS_ANNOTATORS 5000 /* mixture, idealpoint, lowrank */

/* What one model adds to the generic command.  Every field but model may be NULL. */
typedef struct {
  const char *model;         /* the registry name it belongs to */
  const fit_option *options; /* options only this model takes, NULL-name terminated */
  const char *summary;       /* one line in `prefsim fit --help` */
  const char *output;        /* its output format, for `--model NAME --help` */
  /* Rewrite the settings before they are checked (mixture: --k auto). */
  int (*prepare)(fit_args *a, ps_msg *m);
  /* Once DATA is read, before the fit: check or adjust the checked hyperparameters
   * against the data (mixture: the K that BIC could ever choose); prints any message
   * and returns an exit status (FITCLI_EXIT_OK to go on). */
  int (*check)(fit_job *j);
  /* Fit and print in the model's own format; returns an exit status. */
  int (*run)(const fit_job *j);
  size_t max_items;        /* 0, or the item ceiling (without --allow-large) */
  const char *items_why;   /* why that ceiling, for messages and --help */
} fit_hook;

/* fit_hooks.c: NULL-terminated; fit_hook_find returns NULL for a model without one. */
extern const fit_hook *const fit_hooks[];
const fit_hook *fit_hook_find(const char *model);

extern const fit_hook fit_hook_bt, fit_hook_gpm, fit_hook_minimax, fit_hook_mixture, fit_hook_idealpoint,
    fit_hook_lowrank, fit_hook_pl, fit_hook_davidson, fit_hook_raokupper, fit_hook_nash, fit_hook_slhf;

/* ---- fit_bt.c / fit_pl.c / fit_ties.c: item scores with standard errors ---- */

/* Scores and SEs on the centred scale (ref < 0) or relative to item ref, from theta
 * and its covariance C (m x m; NULL: SEs NaN). */
void fit_transform_scale(const double *theta, const double *C, size_t m, long ref, double *score, double *se);
struct fit_report;
struct fit_table;
/* The item table "item, score, se" of a scores-with-SEs model (bt, pl, davidson,
 * raokupper), and the scale line: "centred", or "reference ITEM". */
struct fit_table *fit_report_scores(struct fit_report *rep, const csv_comparisons *c, const double *score,
                                    const double *se);
void fit_report_scale(struct fit_report *rep, const char *reference);
/* The index of --reference ITEM among the data's items into *ref (-1 without the option):
 * FITCLI_EXIT_OK, or FITCLI_EXIT_DATA after a message listing the items. */
int fit_reference_index(const fit_job *j, long *ref);
/* Ranking data (c->rank.n > 0): --model pl fits them, --model bt with --breaking gets
 * them broken into c->data; any other model, or bt without --breaking, is refused, as
 * is --breaking on pairs.  Prints any message; returns an exit status. */
int fit_rankings_prepare(const fit_args *a, const est_type *t, csv_comparisons *c, const char *file);

/* ---- fit_args.c ---- */

/* Options kept from before --param: `--OPTION V` is `--param KEY=V` (fit_args.c). */
typedef struct {
  const char *option; /* "--l2" */
  const char *model;  /* the model this row is for, or NULL for any model with KEY */
  const char *key;    /* the hyperparameter */
} fit_alias;
extern const fit_alias fit_aliases[]; /* NULL-option terminated */

/* The key alias option stands for with model t (it may be absent from t's table), or
 * NULL when option is not an alias. */
const char *fit_alias_key(const char *option, const est_type *t);

/* Parse argv (argv[0] is "fit") into a, which needs no freeing.  Checks syntax only:
 * which model takes which setting is checked by fit_check_model.  PS_EINVAL with the
 * message in m. */
int fit_parse_args(int argc, char **argv, fit_args *a, ps_msg *m);

/* Check the parts of a that depend on the model t (model-only options, --annotators),
 * give the aliases their hyperparameter keys, run the hook's prepare, and fill
 * hyper[] with t's defaults overridden by the settings, each checked against t's
 * table.  PS_EINVAL with a message naming the option, the key and what is allowed. */
int fit_check_model(fit_args *a, const est_type *t, const char **hyper, ps_msg *m);

/* The value of model-only option name ("" for a flag), or NULL when not given. */
const char *fit_option_value(const fit_args *a, const char *name);

/* "bt, mm, ..." — the registered names whose inputs include items (static buffer). */
const char *fit_item_models(void);

/* "comparisons of trajectory segments", ... — what data t fits, for messages. */
const char *fit_inputs_text(unsigned inputs);

/* The help of one model: its doc, data, hyperparameters, aliases, options, output. */
void fit_model_usage(FILE *out, const est_type *t);

/* --list: every estimator, the ones that fit item comparisons first. */
void fit_list(FILE *out);

/* ---- fitcli.c: helpers for the hooks ---- */

double fit_now(void);

/* The checked text of hyperparameter key, or NULL when the model has none. */
const char *fit_hyper(const fit_job *j, const char *key);
/* Its value as a number; dflt when the model has no such key. */
double fit_hyper_real(const fit_job *j, const char *key, double dflt);

/* The exit status of a failed fit's library status. */
int fit_exit_for(int status);

/* Flush out (and extra, may be NULL): FITCLI_EXIT_IO with a message on failure,
 * else rc. */
int fit_finish_output(FILE *out, FILE *extra, int rc);

/* A fresh estimator stream for --seed: (seed, PS_STREAM_ESTIMATOR, 0, 0, 0); NULL when
 * out of memory. */
gsl_rng *fit_rng(const fit_job *j);

/* The generic fit's report from a fitted model of type t (the registry's, or a hook's
 * view of its own result): the item table (score, score_k, policy), the annotator
 * table, the group weights, objective, status, convergence, the hyperparameters not in
 * skip, seed and the data's size; the post-fit check's findings go into v. */
struct fit_report;
struct fit_verdict;
void fit_report_model(struct fit_report *r, struct fit_verdict *v, const fit_job *j, const est_type *t,
                      const est_model *mod, const est_fit_info *info, const char *const *skip);

/* The data lines: file (JSON), items, annotators (where: FIT_BOTH, or FIT_JSON for a
 * model that ignores them), rows, weight. */
void fit_report_data(struct fit_report *r, const fit_job *j, int annotators);

/* Write r as --format asks (fit_report.c) to the command's output (stdout, or -o FILE
 * through a temporary) and the annotator table to --annotators FILE; then the
 * verdict's report (fit_verdict_report) and the exit status: rc, or
 * FITCLI_EXIT_IO / _USAGE when an output fails. */
int fit_emit(const fit_job *j, struct fit_report *r, int rc);

/* ---- fit_check.c: the post-fit check ---- */

/* What the check found: status PS_OK, PS_ENOCONV (the answer is not stationary: the
 * model's optimality condition fails its tolerance) or PS_EDOM (a value that must be
 * finite is not); why says which value and by how much (the first non-finite value,
 * else the first failed condition). */
typedef struct fit_verdict {
  int status;
  char why[400];
} fit_verdict;

/* Record a failure (a PS_EDOM replaces a PS_ENOCONV; otherwise the first one stays). */
void fit_verdict_fail(fit_verdict *v, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Every x[0..n) finite, else PS_EDOM naming what[i]. */
void fit_verdict_finite(fit_verdict *v, const char *what, const double *x, size_t n);

/* A probability vector: finite, >= -1e-12, summing to 1 within 1e-9. */
void fit_verdict_simplex(fit_verdict *v, const char *what, const double *p, size_t n);

/* The status line's name of the verdict: "ok", "not-converged", "non-finite". */
const char *fit_verdict_name(const fit_verdict *v);

/* Print the failed verdict on stderr (with a hint naming the model's iteration and
 * tolerance hyperparameters) and return FITCLI_EXIT_NUMERIC; FITCLI_EXIT_OK when it
 * passed. */
int fit_verdict_report(const fit_job *j, const fit_verdict *v);

/* ---- fit_io.c: the files ---- */

/* Same (st_dev, st_ino). */
int fit_same_file(const struct stat *a, const struct stat *b);

/* Refuse, before anything is read or written, an output that is an input: standard
 * output (without -o), -o FILE or --annotators FILE being DATA (same path, symbolic or
 * hard link), --annotators FILE being the main output's file (PS_EINVAL); and a FILE
 * that cannot be written: not writable, or in a directory that does not exist
 * (PS_EIO). */
int fit_check_outputs(const fit_args *a, ps_msg *m);

/* An output file written through a temporary in its directory, then fsync'd and
 * renamed over path (fit_io.c). */
typedef struct {
  FILE *fp;         /* write here */
  const char *path; /* as given */
  char *target;     /* the file replaced (a symbolic link's target) */
  char *tmp;        /* the temporary */
  int tmp_exists;
} fit_outfile;

int fit_out_open(fit_outfile *o, const char *path, ps_msg *m);
/* Flush, fsync, close, rename: PS_OK, or PS_EIO (path left as it was, temporary removed). */
int fit_out_commit(fit_outfile *o, ps_msg *m);
/* Close and remove the temporary: path is left as it was.  Harmless on a zeroed o. */
void fit_out_abort(fit_outfile *o);

/* ---- fit_report.c: one output, three formats ---- */

/* JSON sections of the key/value lines. */
enum { FIT_SEC_FIT, FIT_SEC_CONVERGENCE, FIT_SEC_OPTIONS, FIT_SEC_DATA, FIT_N_SEC };
/* Where a value or table appears: text (and tsv's stats table), JSON, both. */
enum { FIT_TEXT = 1, FIT_JSON = 2, FIT_BOTH = 3 };
enum { FIT_V_NUM, FIT_V_INT, FIT_V_STR, FIT_V_BOOL };
#define FIT_MAX_TABLES 6

typedef struct {
  char key[48];
  int sec, where, type;
  double num;       /* FIT_V_NUM (and json_num) */
  long long ival;   /* FIT_V_INT, FIT_V_BOOL (and json_bool) */
  char *str;        /* FIT_V_STR, owned */
  const char *fmt;  /* text format of num ("%.12g") */
  char *why;        /* owned: why num is not finite (text KEY_note, JSON KEY_status) */
  int json_num, json_bool; /* a hyperparameter's text written in JSON as a number / boolean */
  int raw;          /* text: str written as it is (its tabs kept) */
} fit_meta;

typedef struct fit_table {
  char name[32];               /* "items", "annotators", "bic", "logits" */
  const char *row_key;         /* header of the name column ("item"), NULL for none */
  size_t rows, cols;
  const char *const *row_name; /* borrowed */
  char **col_name;             /* owned */
  unsigned char *col_int;      /* a column of integers */
  double *v;                   /* rows x cols, row-major; NaN prints NA / null */
  int where;
  int matrix;                  /* JSON: {"rows", "columns", "values"} instead of objects */
} fit_table;

typedef struct fit_report {
  const fit_job *j;
  const char *status; /* "ok", "not-converged", ... (static) */
  fit_table tab[FIT_MAX_TABLES];
  size_t n_tab;
  fit_meta *meta;
  size_t n_meta, cap;
  int oom;
} fit_report;

void fit_report_init(fit_report *r, const fit_job *j);
void fit_report_free(fit_report *r);
/* A table of rows x cols NaNs (NULL, with r->oom set, when out of memory). */
fit_table *fit_report_table(fit_report *r, const char *name, const char *row_key, size_t rows,
                            const char *const *row_name, size_t cols, int where);
void fit_table_column(fit_report *r, fit_table *t, size_t c, const char *name, int is_int);
const fit_table *fit_report_find(const fit_report *r, const char *name);
void fit_report_num(fit_report *r, int sec, int where, const char *key, double x);
void fit_report_num_fmt(fit_report *r, int sec, int where, const char *key, double x, const char *fmt);
/* A number that may be unavailable: why (when x is not finite) is printed as KEY_note
 * in text and KEY_status in JSON. */
void fit_report_num_why(fit_report *r, int sec, int where, const char *key, double x, const char *fmt,
                        const char *why);
void fit_report_int(fit_report *r, int sec, int where, const char *key, long long x);
void fit_report_str(fit_report *r, int sec, int where, const char *key, const char *s);
void fit_report_bool(fit_report *r, int sec, int where, const char *key, int yes);
/* Every hyperparameter not in skip (options section; JSON typed by the table); in
 * text only those that differ from the default when changed_only. */
void fit_report_hyper(fit_report *r, const fit_job *j, const char *const *skip, int changed_only);
void fit_report_param(fit_report *r, int where, const ps_param *p, const char *text);
/* Print r in --format to out (and the annotator table to ann, NULL when not asked). */
int fit_report_write(const fit_report *r, FILE *out, FILE *ann, ps_msg *m);
/* A name as one TSV cell: tabs (and any stray CR/LF) become spaces. */
void fit_put_cell(FILE *out, const char *s);
/* Why grad_norm is unavailable for model t ("unavailable: ..."; static buffer). */
const char *fit_grad_norm_why(const est_type *t);

#endif
