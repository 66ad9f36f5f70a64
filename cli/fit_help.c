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
        "                   [--format text|tsv|json] [--table NAME] [-o FILE]\n"
        "                   [--columns ROLE=NAME,...]\n"
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
        "          first (optional: the name of the item shown first, for position bias),\n"
        "          tie (optional: 1 = winner and loser tied, 0 = a strict row; only davidson,\n"
        "          raokupper and bt --ties drop|half fit data with ties); other columns are\n"
        "          ignored.  worker is accepted as the annotator column's name.\n"
        "          crowd-kit's pairwise layout (its BradleyTerry, NoisyBT): a header without\n"
        "          winner and loser but with left, right and label (worker,left,right,label) is\n"
        "          read as the pair left, right won by label, which must equal left or right.\n"
        "          --columns ROLE=NAME,... names the column of a role when the header calls it\n"
        "          something else (roles: winner, loser, count, annotator, first, left, right,\n"
        "          label, tie, ranking, set), e.g. --columns winner=left,loser=right,annotator=worker,count=n.\n"
        "          Rankings instead: a ranking column (items best first separated by '>', a>c>b),\n"
        "          an optional set column (the offered items separated by '|' when the ranking is\n"
        "          a top-k of a larger set), count and annotator as above; --model pl fits them,\n"
        "          --model bt with --breaking full|adjacent their pairs, --model dpo_listwise the rankings\n"
        "          (listwise DPO); other models refuse them.\n"
        "          Fields may be quoted (\"a, b\"; a literal \" is written \"\"); \\n or \\r\\n line ends\n"
        "          (a CR without \\n, as in old Mac files, is an error); blank lines and a UTF-8 BOM\n"
        "          are skipped.  \"-\" reads standard input.  Limits: 1 MiB per line, and the file\n"
        "          size (default 4 GiB, --max-input-size), both checked while DATA is read.\n"
        "\n",
        out);
  fputs("options (getopt_long: --name=value or --name value, -oFILE or -o FILE, clustered flags\n"
        "as -vh, an unambiguous prefix of a long name; an unknown option is named, with the\n"
        "nearest known one; DATA may come anywhere, and after --):\n"
        "  -m, --model NAME   the estimator, by its registry name\n"
        "  -p, --param KEY=VALUE\n"
        "                     set hyperparameter KEY of NAME (repeatable; a later setting wins);\n"
        "                     checked against NAME's table: an unknown KEY is an error listing\n"
        "                     NAME's keys, a bad VALUE an error giving the allowed range or choices\n"
        "  --seed S           seed of the estimator's random stream (initialisations, restarts), an\n"
        "                     integer >= 0 (default 1); the fit is a deterministic function of it\n"
        "  --annotators FILE  models with per-annotator estimates: write that table to FILE.  FILE\n"
        "                     must not be DATA (the same path, a symbolic or hard link: refused,\n"
        "                     exit 2) nor standard output's file; it is written to a temporary in\n"
        "                     its directory, fsync'd and renamed over FILE once the whole output is\n"
        "                     written, so a failure or a signal leaves FILE as it was\n"
        "  --format FORMAT    text (default): the first table (items) as TSV, then \"# key<TAB>value\"\n"
        "                     lines, then every other table commented out (\"#| \" before each\n"
        "                     line), so pd.read_csv(OUT, sep='\\t', comment='#') reads the items;\n"
        "                     tsv: one table and nothing else (--table); json: one document with\n"
        "                     every table and statistic (below)\n"
        "  --table NAME       with --format tsv: the table printed (default: the first, the one\n"
        "                     text prints): items, annotators,\n"
        "                     a model's own (mixture --k auto: bic; gpm: logits), or stats (the\n"
        "                     key/value lines as a key<TAB>value table)\n"
        "  -o, --output FILE  write the output to FILE (through a temporary renamed over FILE,\n"
        "                     as --annotators) instead of standard output\n"
        "  --columns ROLE=NAME,...\n"
        "                     the CSV columns of the roles (DATA above); an unknown role, a role\n"
        "                     mapped twice or a column mapped to two roles: exit 2; a NAME the\n"
        "                     header lacks: exit 3\n"
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
        "                     models with per-annotator estimates: in --annotators FILE, or\n"
        "                     commented out (\"#| \") after the key/value lines; one row per\n"
        "                     annotator of DATA ((all) when DATA has no annotator column)\n"
        "  # key<TAB>value    weight_k of each group, objective, status, converged (yes: the\n"
        "                     optimiser met its tolerance), iterations, grad_norm (NA, with a\n"
        "                     grad_norm_note saying why, for a model whose convergence test is not\n"
        "                     a gradient norm: EM, fixed points, closed forms), self_estimate\n"
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
  fputs("json (--format json): one object: format (\"prefsim-fit/1\"), model, status, items (one\n"
        "  object per item: name, score, se or the model's columns), annotators (models with\n"
        "  per-annotator estimates), a model's own tables (bic, logits), fit (loglik and\n"
        "  loglik_convention where the model has a likelihood, objective, parameters, aic, bic,\n"
        "  group weights, ...), convergence (status, converged, iterations, grad_norm), options\n"
        "  (every hyperparameter, seed, ...) and data (file, items, annotators, rows, weight).\n"
        "  Numbers with 17 significant digits; a value that is not finite is null, with KEY_status\n"
        "  saying why.\n"
        "\n"
        "conventions of the numbers (checked by tests/test_fit_json.sh):\n"
        "  loglik (bt) = sum over rows of count x log F(score_winner - score_loser): the rows as\n"
        "    Bernoulli trials, with no binomial coefficient.  R's BradleyTerry2 fits a binomial GLM,\n"
        "    and logLik(BTm(cbind(win1, win2), ...)) on one row per pair (countsToBinomial) is\n"
        "      loglik + sum over unordered pairs {i, j} of log C(n_ij, w_ij)\n"
        "    (n_ij comparisons of i and j, w_ij the wins of i); JSON gives the sum as\n"
        "    binomial_constant and the total as loglik_bradleyterry2 (integer counts only: R rounds\n"
        "    others).  With one BTm row per comparison the sum is 0 and the two agree.  aic and bic\n"
        "    (JSON) are -2 loglik + 2p and -2 loglik + p ln(weight), p = items - 1, for the\n"
        "    unpenalised fit only.\n"
        "  --l2 L (bt, and the models whose l2 is a ridge on the summed loss): the objective is\n"
        "    -loglik + (L/2)||theta||^2.  choix's opt_pairwise(..., alpha) minimises\n"
        "    -loglik + alpha ||theta||^2, so L = 2 x alpha (choix's alpha = 0.5 is --l2 1); liblinear\n"
        "    and scikit-learn's LogisticRegression(C) on +-1 difference rows: L = 1 / C.  choix's\n"
        "    alpha of lsr_pairwise, ilsr_pairwise and mm_pairwise is a different thing, a\n"
        "    pseudo-count: prefsim's mm, ilsr and lsr take it as --param alpha.\n"
        "  mixture: loglik is the marginal sum_h log sum_k w_k e^{l_hk} (no binomial coefficient),\n"
        "    bic = -2 loglik + p ln(weight), p = (K - 1) + K (items - 1).  With --k auto, # k is the\n"
        "    K chosen, # k_max the largest tried, the bic table every K's BIC, and bic_status\n"
        "    minimum-inside, still-falling (BIC(k_max) < BIC(k_max - 1): also a warning on stderr;\n"
        "    try a larger --k-max) or capped (k_max was lowered to what the data support).\n"
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
    fputs("\n      one row per annotator: in --annotators FILE, or commented out (\"#| \") after\n"
          "      the key/value lines\n", out);
  }
  fprintf(out, "  # key<TAB>value\n      %sobjective, status, converged, iterations, grad_norm (NA with a note when\n"
               "      the model's convergence test is not a gradient norm),%s model,\n"
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
