/* fit_help.c — the help texts of `prefsim fit`, drawn from the estimator registry
 * (names, docs, inputs, hyperparameter tables) and the hooks (their options and
 * output formats), so a new estimator is documented here without an edit. */
#include <string.h>

#include "fitcli_impl.h"

const char *fit_item_models(void) {
  static char buf[1024];
  buf[0] = 0;
  for (size_t i = 0; est_registry[i]; i++) {
    if (!(est_registry[i]->inputs & EST_IN_ITEMS)) continue;
    if (buf[0]) strncat(buf, ", ", sizeof buf - strlen(buf) - 1);
    strncat(buf, est_registry[i]->name, sizeof buf - strlen(buf) - 1);
  }
  return buf;
}

const char *fit_inputs_text(unsigned inputs) {
  if (inputs & EST_IN_ITEMS) return "comparisons of items (the CSV file's rows)";
  if ((inputs & EST_IN_FEATURES) && (inputs & EST_IN_SEGMENTS))
    return "comparisons of items with feature vectors, or of trajectory segments";
  if (inputs & EST_IN_FEATURES) return "comparisons of items with feature vectors";
  if (inputs & EST_IN_SEGMENTS) return "comparisons of trajectory segments of an MDP";
  return "data that no CSV file describes";
}

/* text wrapped at width columns: the first word goes at column col (where the
 * caller left the line), continuation lines are indented by indent spaces */
static void wrap(FILE *out, const char *text, int col, int indent, int width) {
  int fresh = 1; /* nothing written on this line yet by us */
  for (const char *s = text; *s;) {
    while (*s == ' ') s++;
    size_t n = strcspn(s, " ");
    if (!n) break;
    if (!fresh && col + 1 + (int)n > width) {
      col = fprintf(out, "\n%*s", indent, "") - 1;
      fresh = 1;
    }
    if (col < indent && fresh) col += fprintf(out, "%*s", indent - col, "");
    else if (!fresh) col += fprintf(out, " ");
    col += fprintf(out, "%.*s", (int)n, s);
    fresh = 0;
    s += n;
  }
  fputc('\n', out);
}

/* "--reference ITEM" */
static void option_head(const fit_option *o, char *buf, size_t len) {
  snprintf(buf, len, "%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
}

void fitcli_usage(FILE *out) {
  fputs("usage: prefsim fit --model NAME DATA.csv [--param KEY=VALUE ...] [--seed S]\n"
        "                   [--annotators FILE] [--allow-large] [--max-input-size SIZE] [-v]\n"
        "                   [options of NAME]\n"
        "       prefsim fit --model NAME --help   NAME's doc, hyperparameters, options, output\n"
        "       prefsim fit --list                every estimator and the data it fits\n"
        "\n"
        "Fit an estimator of the registry (the same ones `prefsim run` uses) to pairwise\n"
        "comparisons of items in a CSV file and print its estimates as tab-separated text.\n"
        "\n",
        out);
  fputs("models (every registered estimator that fits item comparisons):\n", out);
  wrap(out, fit_item_models(), 0, 2, 88);
  fputs("  The others fit features or trajectory segments: `--model NAME` says which and\n"
        "  exits 2.\n"
        "\n"
        "DATA.csv  a header row, then one comparison per row.  Columns, found by name in any order:\n"
        "          winner, loser (required), count (optional: the row's multiplicity or weight,\n"
        "          a plain decimal number in [1e-06, 1e+12]: no hex, inf, nan, 0, negative or\n"
        "          subnormal values; the fits sum and square counts), annotator (optional: who\n"
        "          judged the row; the annotator-aware models use it, the others ignore it),\n"
        "          first (optional: the name of the item shown first, for position bias), tie\n"
        "          (optional: 1 = winner and loser tied, 0 = a strict row; only davidson,\n"
        "          raokupper and bt --ties drop|half fit data with ties); other columns are ignored.\n"
        "          Fields may be quoted (\"a, b\"; a literal \" is written \"\"); \\n or \\r\\n line ends\n"
        "          (a CR without \\n, as in old Mac files, is an error); blank lines and a UTF-8 BOM\n"
        "          are skipped.  \"-\" reads standard input.  Limits: 1 MiB per line, and the file\n"
        "          size (default 4 GiB, --max-input-size), both checked while DATA is read.\n"
        "\n",
        out);
  fputs("options:\n"
        "  --model NAME       the estimator, by its registry name\n"
        "  --param KEY=VALUE  set hyperparameter KEY of NAME (repeatable; a later setting wins);\n"
        "                     checked against NAME's table: an unknown KEY is an error listing\n"
        "                     NAME's keys, a bad VALUE an error giving the allowed range or choices\n"
        "  --seed S           seed of the estimator's random stream (initialisations, restarts), an\n"
        "                     integer >= 0 (default 1); the fit is a deterministic function of it\n"
        "  --annotators FILE  models with per-annotator estimates: write that table to FILE.  FILE\n"
        "                     must not be DATA (the same path, a symbolic or hard link: refused,\n"
        "                     exit 2) nor standard output's file; it is written to a temporary in\n"
        "                     its directory, fsync'd and renamed over FILE once the whole output is\n"
        "                     written, so a failure or a signal leaves FILE as it was\n"
        "  --allow-large      fit more items than the model's item ceiling (below)\n"
        "  --max-input-size SIZE\n"
        "                     the largest DATA accepted, in bytes, with an optional suffix K, M,\n"
        "                     G or T (powers of 1024); default 4G\n"
        "  -v, --verbose      print the time spent in each step on stderr\n"
        "  -h, --help         this text (with --model NAME: that model's help)\n"
        "  --list             the estimators, the data each fits, their hyperparameter keys\n"
        "aliases kept from earlier versions, for every model with that hyperparameter:\n"
        "  --l2 L, --k K, --tau T, --lr R, --iterations N, --restarts R  are  --param l2=L,\n"
        "  k=K, tau=T, lr=R, iterations=N, restarts=R  (--k is K for idealpoint, B for lowrank)\n"
        "Standard output may not be DATA itself (`prefsim fit ... d.csv >> d.csv`: exit 2).\n"
        "\n",
        out);
  fputs("options, output and item ceilings of single models:\n", out);
  for (size_t h = 0; fit_hooks[h]; h++) {
    const fit_hook *k = fit_hooks[h];
    if (k->summary) fprintf(out, "  %-8s %s\n", k->model, k->summary);
    for (const fit_option *o = k->options; o && o->name; o++) {
      char head[64];
      option_head(o, head, sizeof head);
      wrap(out, o->doc, fprintf(out, "           %-16s ", head), 28, 88);
    }
  }
  fputs("  item ceilings (more items: exit 3 before any work, unless --allow-large):\n", out);
  for (size_t h = 0; fit_hooks[h]; h++) {
    const fit_hook *k = fit_hooks[h];
    if (!k->max_items) continue;
    char head[64];
    snprintf(head, sizeof head, "%s %zu:", k->model, k->max_items);
    wrap(out, k->items_why, fprintf(out, "    %-16s ", head), 21, 88);
  }
  fputs("\n", out);
  fputs("output of the other models (stdout, tab-separated, numbers with 12 significant digits;\n"
        "NA in a table where a value is missing or not finite):\n"
        "  item<TAB>score[<TAB>score_1 ... score_K][<TAB>policy]\n"
        "                     header, then one row per item in order of first appearance in DATA\n"
        "                     (tabs in names are written as spaces).  score: the model's fitted\n"
        "                     item parameter (theta), centred; a model without one (e.g. a\n"
        "                     general preference model) gets the centred mean logit against every\n"
        "                     other item (up to 5000 items, else NA).  score_k: the centred reward\n"
        "                     of group k (models with groups, e.g. mixture).  policy: the model's\n"
        "                     policy over the items (policy learners)\n"
        "  annotator<TAB>COLUMNS...\n"
        "                     models with per-annotator estimates: after a blank line, or in\n"
        "                     --annotators FILE; one row per annotator of DATA ((all) when DATA\n"
        "                     has no annotator column)\n"
        "  # key<TAB>value    weight_k of each group, objective, status, converged (yes: the\n"
        "                     optimiser met its tolerance), iterations, grad_norm (nan for an\n"
        "                     optimiser without one), self_estimate\n"
        "                     (models that have one), model, every hyperparameter, seed, items,\n"
        "                     annotators, rows, weight (sum of counts)\n"
        "status (every model): ok only when the answer is finite and stationary: the model's own\n"
        "  convergence test met (converged yes; bt: its gradient recomputed at the printed scores\n"
        "  within its tolerance; minimax: the exploitability within the method's tolerance), and\n"
        "  the objective, gradient norm, scores, group weights and policy finite.  Otherwise the\n"
        "  table is printed with status not-converged (or non-finite), stderr says which value\n"
        "  failed, and the exit status is 6.\n"
        "\n",
        out);
  fputs("exit status:\n"
        "  0 ok\n"
        "  1 out of memory (or too many items for bt's standard errors), internal error\n"
        "  2 usage error (unknown option or model, a model that does not fit item comparisons,\n"
        "    an option of another model, an unknown hyperparameter, a bad value, missing DATA,\n"
        "    --annotators FILE or standard output being DATA)\n"
        "  3 bad data (malformed CSV, with file and line; a count outside [1e-06, 1e+12], with\n"
        "    file, line and column; a line over 1 MiB or DATA over --max-input-size; more items\n"
        "    than the model's ceiling without --allow-large; data the model cannot fit, e.g. more\n"
        "    types than annotators; unknown --reference item)\n"
        "  4 no maximum-likelihood estimate (e.g. a disconnected comparison graph, an item that\n"
        "    never wins or never loses); use --l2 LAMBDA (or the model's own penalty), or for bt\n"
        "    --firth (finite unless the comparison graph is disconnected)\n"
        "  5 I/O error (DATA unreadable, stdout or --annotators FILE not writable)\n"
        "  6 the fit failed numerically (no convergence, a non-finite value): a fit that returns\n"
        "    an estimate prints its table with status not-converged or non-finite; a fit that\n"
        "    fails outright prints nothing\n",
        out);
}

/* " word" at column col of a synopsis, on a new indented line when it would pass
 * column 88; returns the new column. */
static int synopsis_word(FILE *out, int col, const char *word) {
  if (col + 1 + (int)strlen(word) > 88) col = fprintf(out, "\n%*s", 20, "") - 1;
  else col += fprintf(out, " ");
  return col + fprintf(out, "%s", word);
}

void fit_model_usage(FILE *out, const est_type *t) {
  const fit_hook *hook = fit_hook_find(t->name);
  char head[64];
  if (t->inputs & EST_IN_ITEMS) {
    int col = fprintf(out, "usage: prefsim fit --model %s DATA.csv", t->name);
    col = synopsis_word(out, col, "[--param KEY=VALUE ...]");
    col = synopsis_word(out, col, "[--seed S]");
    col = synopsis_word(out, col, "[-v]");
    for (const fit_option *o = hook ? hook->options : NULL; o && o->name; o++) {
      char word[80];
      option_head(o, head, sizeof head);
      snprintf(word, sizeof word, "[%s]", head);
      col = synopsis_word(out, col, word);
    }
    if (t->annotator && t->annotator_columns) col = synopsis_word(out, col, "[--annotators FILE]");
    if (hook && hook->max_items) col = synopsis_word(out, col, "[--allow-large]");
    fputs("\n\n", out);
  }
  wrap(out, t->doc ? t->doc : "", fprintf(out, "%s: ", t->name), 2, 88);
  fprintf(out, "\ndata: %s.\n", fit_inputs_text(t->inputs));
  if (!(t->inputs & EST_IN_ITEMS))
    fprintf(out, "`prefsim fit` reads item comparisons only, so it cannot fit %s; use it in an\n"
                 "experiment whose world provides that data (prefsim run; prefsim list).\n",
            t->name);
  fputs("\nhyperparameters (--param KEY=VALUE):\n", out);
  if (!t->params || !t->params[0].key) fputs("  none\n", out);
  for (const ps_param *p = t->params; p && p->key; p++) {
    char allowed[200];
    ps_param_allowed(p, allowed, sizeof allowed);
    fprintf(out, "  %-16s default %-10s %s\n", p->key, p->def ? p->def : "(required)", allowed);
    wrap(out, p->doc ? p->doc : "", 0, 19, 88);
  }
  int col = 0;
  for (size_t i = 0; fit_aliases[i].option; i++) {
    const char *key = fit_alias_key(fit_aliases[i].option, t);
    int first = 1; /* each option once */
    for (size_t k = 0; k < i; k++) first &= strcmp(fit_aliases[k].option, fit_aliases[i].option) != 0;
    if (!first || !key || !ps_param_find(t->params, key)) continue;
    char one[80];
    snprintf(one, sizeof one, "%s V is --param %s=V", fit_aliases[i].option, key);
    if (!col) col = fprintf(out, "\naliases: %s", one) - 1;
    else if (col + 2 + (int)strlen(one) > 88) col = fprintf(out, ",\n  %s", one) - 2;
    else col += fprintf(out, ", %s", one);
  }
  if (col) fputc('\n', out);
  if (!(t->inputs & EST_IN_ITEMS)) return;
  if (hook && (hook->options || hook->summary || hook->max_items)) {
    fputs("\nthis model in prefsim fit:\n", out);
    if (hook->summary) wrap(out, hook->summary, 0, 2, 88);
    for (const fit_option *o = hook->options; o && o->name; o++) {
      option_head(o, head, sizeof head);
      wrap(out, o->doc, fprintf(out, "  %-16s ", head), 19, 88);
    }
    if (hook->max_items) {
      char text[400];
      snprintf(text, sizeof text, "at most %zu items (%s); more exit 3 before any work unless --allow-large is given",
               hook->max_items, hook->items_why);
      wrap(out, text, fprintf(out, "  %-16s ", "item ceiling"), 19, 88);
    }
  }
  fputs("\noutput (stdout, tab-separated):\n", out);
  if (hook && hook->output) {
    fputs(hook->output, out);
    return;
  }
  size_t nc = 0;
  while (t->annotator_columns && t->annotator_columns[nc]) nc++;
  fprintf(out, "  item<TAB>score%s%s\n", t->groups ? "<TAB>score_1 ... score_K" : "", t->policy ? "<TAB>policy" : "");
  fprintf(out, "      one row per item: the centred item scores%s%s\n", t->groups ? ", each group's centred reward" : "",
          t->policy ? ", the policy over the items" : "");
  if (t->annotator && nc) {
    fputs("  annotator", out);
    for (size_t j = 0; j < nc; j++) fprintf(out, "<TAB>%s", t->annotator_columns[j]);
    fputs("\n      after a blank line (or in --annotators FILE), one row per annotator\n", out);
  }
  fprintf(out, "  # key<TAB>value\n      %sobjective, status, converged, iterations, grad_norm,%s model,\n"
               "      every hyperparameter, seed, items, annotators, rows, weight\n",
          t->groups ? "weight_k of each group, " : "", t->self_estimate ? " self_estimate," : "");
  fputs("  status is ok only when the fit met its convergence test (converged yes) and every printed\n"
        "  value is finite; otherwise not-converged or non-finite, with the table, and exit 6\n",
        out);
}

void fit_list(FILE *out) {
  for (int pass = 0; pass < 2; pass++) {
    fputs(pass == 0 ? "estimators that fit item comparisons (prefsim fit --model NAME DATA.csv):\n"
                    : "\nestimators for other data (prefsim run; not prefsim fit):\n",
          out);
    for (size_t i = 0; est_registry[i]; i++) {
      const est_type *t = est_registry[i];
      if (((t->inputs & EST_IN_ITEMS) != 0) != (pass == 0)) continue;
      char keys[600] = "";
      for (const ps_param *p = t->params; p && p->key; p++) {
        if (keys[0]) strncat(keys, ", ", sizeof keys - strlen(keys) - 1);
        strncat(keys, p->key, sizeof keys - strlen(keys) - 1);
      }
      const fit_hook *hook = fit_hook_find(t->name);
      if (pass == 0)
        fprintf(out, "  %-16s %s%s\n", t->name, hook && hook->run ? "(own output) " : "",
                keys[0] ? keys : "(no hyperparameters)");
      else
        fprintf(out, "  %-16s %s\n", t->name, fit_inputs_text(t->inputs));
    }
  }
  fputs("\nprefsim fit --model NAME --help gives NAME's doc and hyperparameter table.\n", out);
}
