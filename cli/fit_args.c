/* fit_args.c — the command line of `prefsim fit`: options, aliases, hyperparameters.
 *
 * Parsing is in two steps because options may come before --model:
 *   1. fit_parse_args reads the syntax with getopt_long: generic options, --param
 *      KEY=VALUE, the alias options (--l2, --k, ...) and every hook's model-only
 *      options, in order; an unknown option is named, with the nearest known one;
 *   2. fit_check_model, once the estimator t is known, gives each alias its key,
 *      rejects options of other models, lets t's hook rewrite the settings, and
 *      checks every setting against t's ps_param table (the only validation of a
 *      hyperparameter: its messages are the table's own range or choices).
 * Nothing here prints; messages go to the caller in a ps_msg. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fitcli_impl.h"

/* Options kept from before --param: `--OPTION V` is `--param KEY=V` for the model
 * named, or (model NULL) for any model whose table has KEY.  The first matching row
 * wins, so model-specific rows come first. */
const fit_alias fit_aliases[] = {
    {"--k", "idealpoint", "K"}, {"--k", "lowrank", "B"}, {"--l2", NULL, "l2"},
    {"--k", NULL, "k"},         {"--tau", NULL, "tau"},  {"--lr", NULL, "lr"},
    {"--iterations", NULL, "iterations"}, {"--restarts", NULL, "restarts"}, {"--ties", NULL, "ties"},
    {NULL, NULL, NULL}};

const char *fit_alias_key(const char *option, const est_type *t) {
  for (size_t i = 0; fit_aliases[i].option; i++)
    if (!strcmp(fit_aliases[i].option, option) && (!fit_aliases[i].model || !strcmp(fit_aliases[i].model, t->name)))
      return fit_aliases[i].key;
  return NULL;
}

/* --seed: decimal digits only (no sign, no exponent), in [0, ULLONG_MAX]. */
static int parse_seed(const char *v, unsigned long long *out, ps_msg *m) {
  char *end;
  errno = 0;
  unsigned long long x = *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
  if (!(*v >= '0' && *v <= '9') || errno || *end != 0)
    return ps_fail(m, PS_EINVAL, "--seed must be an integer in [0, %llu], not '%s'", ULLONG_MAX, v);
  *out = x;
  return PS_OK;
}

/* --max-input-size: a byte count, digits with an optional binary suffix K, M, G or T
 * (KiB, MiB, GiB, TiB; "k" and a trailing "B" or "iB" also accepted), >= 1. */
static int parse_size(const char *v, uint64_t *out, ps_msg *m) {
  char *end;
  errno = 0;
  unsigned long long x = *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
  int ok = *v >= '0' && *v <= '9' && !errno && x > 0;
  unsigned shift = 0;
  if (ok && *end) {
    switch (*end) {
    case 'k': case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: ok = 0;
    }
    if (ok) end++;
    if (ok && !strcmp(end, "iB")) end += 2;
    else if (ok && !strcmp(end, "B")) end++;
    ok = ok && *end == 0 && x <= (UINT64_MAX >> shift);
  }
  if (!ok)
    return ps_fail(m, PS_EINVAL,
                   "--max-input-size must be a byte count >= 1 with an optional suffix K, M, G or T (powers of "
                   "1024), e.g. 8G, not '%s'",
                   v);
  *out = (uint64_t)x << shift;
  return PS_OK;
}

static int add_setting(fit_args *a, const char *key, size_t key_len, const char *value, const char *origin,
                       ps_msg *m) {
  if (a->n_set == FIT_MAX_SETTINGS)
    return ps_fail(m, PS_EINVAL, "more than %d hyperparameter settings", FIT_MAX_SETTINGS);
  fit_setting *s = &a->set[a->n_set];
  if (key_len >= sizeof s->key) return ps_fail(m, PS_EINVAL, "%s: key '%.*s...' too long", origin, 20, key);
  memcpy(s->key, key, key_len);
  s->key[key_len] = 0;
  s->value = value;
  s->origin = origin;
  a->n_set++;
  return PS_OK;
}

/* ------------------------------------------------------------ syntax */

/* The options of the command: the generic ones, then (built at run time) the aliases
 * and every hook's model-only options.  getopt_long reads them: --name=value or
 * --name value, -oFILE or -o FILE, clustered flags (-vh), any unambiguous prefix of a
 * long name, DATA anywhere (and after --). */
enum {
  OPT_SEED = 256, OPT_ANNOTATORS, OPT_ALLOW_LARGE, OPT_MAX_INPUT, OPT_FORMAT, OPT_TABLE, OPT_COLUMNS, OPT_LIST,
  OPT_ALIAS = 1000,  /* + the row of fit_aliases */
  OPT_HOOK = 2000,   /* + the hook's index x 100 + the option's index */
};
static const struct option generic_options[] = {
    {"model", required_argument, NULL, 'm'},        {"param", required_argument, NULL, 'p'},
    {"output", required_argument, NULL, 'o'},       {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},               {"list", no_argument, NULL, OPT_LIST},
    {"seed", required_argument, NULL, OPT_SEED},    {"annotators", required_argument, NULL, OPT_ANNOTATORS},
    {"allow-large", no_argument, NULL, OPT_ALLOW_LARGE},
    {"max-input-size", required_argument, NULL, OPT_MAX_INPUT},
    {"format", required_argument, NULL, OPT_FORMAT}, {"table", required_argument, NULL, OPT_TABLE},
    {"columns", required_argument, NULL, OPT_COLUMNS}};
#define N_GENERIC (sizeof generic_options / sizeof generic_options[0])
#define MAX_OPTIONS 96

/* The table getopt_long reads; NULL-terminated.  Built once. */
static const struct option *all_options(void) {
  static struct option o[MAX_OPTIONS];
  static int built;
  if (built) return o;
  size_t n = 0;
  for (size_t i = 0; i < N_GENERIC; i++) o[n++] = generic_options[i];
  for (size_t i = 0; fit_aliases[i].option && n + 1 < MAX_OPTIONS; i++) {
    int seen = 0;
    for (size_t k = 0; k < i; k++) seen |= !strcmp(fit_aliases[k].option, fit_aliases[i].option);
    if (!seen) o[n++] = (struct option){fit_aliases[i].option + 2, required_argument, NULL, OPT_ALIAS + (int)i};
  }
  for (size_t h = 0; fit_hooks[h]; h++)
    for (size_t k = 0; fit_hooks[h]->options && fit_hooks[h]->options[k].name && n + 1 < MAX_OPTIONS; k++) {
      const fit_option *fo = &fit_hooks[h]->options[k];
      o[n++] = (struct option){fo->name + 2, fo->metavar ? required_argument : no_argument, NULL,
                               OPT_HOOK + (int)(h * 100 + k)};
    }
  o[n] = (struct option){NULL, 0, NULL, 0};
  built = 1;
  return o;
}

/* The edit distance of a[0..la) and b (Levenshtein, with transpositions). */
static size_t edit_distance(const char *a, size_t la, const char *b) {
  size_t lb = strlen(b), d[3][64];
  if (la >= 63 || lb >= 63) return 99;
  for (size_t j = 0; j <= lb; j++) d[0][j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t *cur = d[i % 3], *prev = d[(i - 1) % 3], *pp = d[(i + 1) % 3];
    cur[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t c = prev[j - 1] + (a[i - 1] != b[j - 1]);
      if (prev[j] + 1 < c) c = prev[j] + 1;
      if (cur[j - 1] + 1 < c) c = cur[j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < c) c = pp[j - 2] + 1;
      cur[j] = c;
    }
  }
  return d[la % 3][lb];
}

/* The message for an argument getopt_long refused: unknown (with the nearest long
 * option, when one is near), ambiguous (the options it could be), a flag given a
 * value, a value missing. */
static int refused(const char *arg, int code, int opt, ps_msg *m) {
  const struct option *o = all_options();
  /* arg is the word getopt_long last finished: the long option at fault, or (a short
   * option inside a cluster) possibly the word before it; opt is 0 for an unknown long
   * option, else the option's code */
  const char *name = arg + 2;
  size_t len = strcspn(name, "=");
  int is_long = arg[0] == '-' && arg[1] == '-' && opt == 0;
  for (size_t i = 0; o[i].name && !is_long; i++)
    is_long = arg[0] == '-' && arg[1] == '-' && o[i].val == opt && len > 0 && !strncmp(o[i].name, name, len);
  if (code == ':') {
    for (size_t i = 0; o[i].name && is_long; i++) /* the full name of an abbreviation */
      if (o[i].val == opt) return ps_fail(m, PS_EINVAL, "--%s needs a value", o[i].name);
    if (is_long) return ps_fail(m, PS_EINVAL, "--%.*s needs a value", (int)len, name);
    return ps_fail(m, PS_EINVAL, "-%c needs a value", opt);
  }
  if (!is_long) return ps_fail(m, PS_EINVAL, "unknown option '-%c'", opt > 0 && opt < 128 ? opt : '?');
  for (size_t i = 0; o[i].name && opt; i++) /* --flag=value */
    if (o[i].val == opt && o[i].has_arg == no_argument)
      return ps_fail(m, PS_EINVAL, "--%s takes no value ('%s')", o[i].name, arg);
  char cands[400] = "";
  size_t n_prefix = 0;
  for (size_t i = 0; o[i].name; i++)
    if (len && !strncmp(o[i].name, name, len)) {
      n_prefix++;
      snprintf(cands + strlen(cands), sizeof cands - strlen(cands), "%s--%s", cands[0] ? ", " : "", o[i].name);
    }
  if (n_prefix > 1) return ps_fail(m, PS_EINVAL, "ambiguous option '--%.*s': %s", (int)len, name, cands);
  const char *best = NULL;
  size_t bd = 99;
  for (size_t i = 0; o[i].name; i++) {
    size_t d = edit_distance(name, len, o[i].name);
    if (d < bd) bd = d, best = o[i].name;
  }
  if (best && bd <= (len < 6 ? 1 : len < 10 ? 2 : 3))
    return ps_fail(m, PS_EINVAL, "unknown option '--%.*s'; did you mean --%s?", (int)len, name, best);
  return ps_fail(m, PS_EINVAL, "unknown option '--%.*s' (prefsim fit --help lists the options)", (int)len, name);
}

int fit_parse_args(int argc, char **argv, fit_args *a, ps_msg *m) {
  memset(a, 0, sizeof *a);
  a->seed = 1;
  const struct option *opts = all_options();
  optind = 0; /* GNU: start afresh */
  opterr = 0;
  int c, idx;
  while ((c = getopt_long(argc, argv, ":m:p:o:vh", opts, &idx)) != -1) {
    const char *v = optarg;
    switch (c) {
    case 'm': a->model = v; break;
    case 'o': a->output = v; break;
    case 'v': a->verbose = 1; break;
    case 'h': a->help = 1; break;
    case OPT_LIST: a->list = 1; break;
    case OPT_SEED:
      if (parse_seed(v, &a->seed, m)) return PS_EINVAL;
      break;
    case OPT_ANNOTATORS: a->annotators_path = v; break;
    case OPT_ALLOW_LARGE: a->allow_large = 1; break;
    case OPT_MAX_INPUT:
      if (parse_size(v, &a->max_input_size, m)) return PS_EINVAL;
      break;
    case OPT_FORMAT:
      if (!strcmp(v, "text")) a->format = FIT_FORMAT_TEXT;
      else if (!strcmp(v, "tsv")) a->format = FIT_FORMAT_TSV;
      else if (!strcmp(v, "json")) a->format = FIT_FORMAT_JSON;
      else return ps_fail(m, PS_EINVAL, "--format %s: allowed: text, tsv, json", v);
      break;
    case OPT_TABLE: a->table = v; break;
    case OPT_COLUMNS: a->columns = v; break;
    case 'p': {
      const char *eq = strchr(v, '=');
      if (!eq || eq == v) return ps_fail(m, PS_EINVAL, "--param needs KEY=VALUE, not '%s'", v);
      if (add_setting(a, v, (size_t)(eq - v), eq + 1, "--param", m)) return PS_EINVAL;
      break;
    }
    case ':':
    case '?': return refused(argv[optind - 1], c, optopt, m);
    default:
      if (c >= OPT_HOOK) { /* a model-only option */
        const fit_option *o = &fit_hooks[(c - OPT_HOOK) / 100]->options[(c - OPT_HOOK) % 100];
        if (a->n_opt == FIT_MAX_MODEL_OPTIONS) return ps_fail(m, PS_EINVAL, "too many options");
        a->opt[a->n_opt].name = o->name;
        a->opt[a->n_opt++].value = o->metavar ? v : "";
      } else if (c >= OPT_ALIAS) { /* --l2 V, --k V, ...: the key is known once the model is */
        if (add_setting(a, "", 0, v, fit_aliases[c - OPT_ALIAS].option, m)) return PS_EINVAL;
      } else {
        return ps_fail(m, PS_EINVAL, "unexpected option code %d", c);
      }
    }
  }
  for (int i = optind; i < argc; i++) {
    if (a->data) return ps_fail(m, PS_EINVAL, "more than one data file ('%s' and '%s')", a->data, argv[i]);
    a->data = argv[i];
  }
  if (a->table && a->format != FIT_FORMAT_TSV)
    return ps_fail(m, PS_EINVAL, "--table %s applies to --format tsv only (text prints the first table and the "
                   "others commented out; json prints every table)", a->table);
  return PS_OK;
}

const char *fit_option_value(const fit_args *a, const char *name) {
  const char *v = NULL;
  for (size_t i = 0; i < a->n_opt; i++)
    if (!strcmp(a->opt[i].name, name)) v = a->opt[i].value;
  return v;
}

/* ------------------------------------------------------------ the model */

/* "k, select, ..." — the keys of table t (or "none"). */
static void key_list(const ps_param *t, char *buf, size_t len) {
  buf[0] = 0;
  for (size_t j = 0; t && t[j].key; j++) {
    if (j) strncat(buf, ", ", len - strlen(buf) - 1);
    strncat(buf, t[j].key, len - strlen(buf) - 1);
  }
  if (!buf[0]) snprintf(buf, len, "none (it has no hyperparameters)");
}

int fit_check_model(fit_args *a, const est_type *t, const char **hyper, ps_msg *m) {
  const fit_hook *hook = fit_hook_find(t->name);
  char keys[800];
  key_list(t->params, keys, sizeof keys);

  /* model-only options belong to this model's hook */
  for (size_t i = 0; i < a->n_opt; i++) {
    int ours = 0;
    for (const fit_option *o = hook ? hook->options : NULL; o && o->name; o++) ours |= !strcmp(o->name, a->opt[i].name);
    if (!ours) {
      char owner[200] = ""; /* every model whose hook takes it */
      for (size_t h = 0; fit_hooks[h]; h++)
        for (const fit_option *o = fit_hooks[h]->options; o && o->name; o++)
          if (!strcmp(o->name, a->opt[i].name)) {
            if (owner[0]) strncat(owner, ", ", sizeof owner - strlen(owner) - 1);
            strncat(owner, fit_hooks[h]->model, sizeof owner - strlen(owner) - 1);
          }
      return ps_fail(m, PS_EINVAL, "%s applies to --model %s only, not %s", a->opt[i].name,
                     owner[0] ? owner : "another model", t->name);
    }
  }
  if (a->annotators_path && !(t->annotator && t->annotator_columns))
    return ps_fail(m, PS_EINVAL, "--annotators: --model %s has no per-annotator estimates", t->name);

  /* aliases get their keys */
  for (size_t i = 0; i < a->n_set; i++) {
    fit_setting *s = &a->set[i];
    if (s->key[0]) continue;
    const char *key = fit_alias_key(s->origin, t);
    if (!key || !ps_param_find(t->params, key))
      return ps_fail(m, PS_EINVAL, "%s: --model %s has no hyperparameter '%s'; allowed: %s", s->origin, t->name,
                     key ? key : s->origin + 2, keys);
    snprintf(s->key, sizeof s->key, "%s", key);
  }
  if (hook && hook->prepare && hook->prepare(a, m) != PS_OK) return PS_EINVAL;

  /* defaults, then the settings in order, each checked with the table */
  size_t np = 0;
  while (t->params && t->params[np].key) np++;
  if (np > FIT_MAX_PARAMS) return ps_fail(m, PS_EINVAL, "--model %s: more than %d hyperparameters", t->name, FIT_MAX_PARAMS);
  for (size_t j = 0; j < np; j++) hyper[j] = t->params[j].def;
  for (size_t i = 0; i < a->n_set; i++) {
    const fit_setting *s = &a->set[i];
    const int is_param = !strcmp(s->origin, "--param");
    const ps_param *p = ps_param_find(t->params, s->key);
    if (!p) {
      if (is_param)
        return ps_fail(m, PS_EINVAL, "--param %s: unknown hyperparameter of --model %s; allowed: %s", s->key, t->name,
                       keys);
      return ps_fail(m, PS_EINVAL, "%s: --model %s has no hyperparameter '%s'; allowed: %s", s->origin, t->name,
                     s->key, keys);
    }
    ps_msg sub = {{0}};
    if (ps_param_check(p, s->value, &sub) != PS_OK) {
      if (is_param) return ps_fail(m, PS_EINVAL, "--param %s=%s: %s", s->key, s->value, sub.text);
      if (!strcmp(s->origin + 2, s->key)) return ps_fail(m, PS_EINVAL, "%s %s: %s", s->origin, s->value, sub.text);
      return ps_fail(m, PS_EINVAL, "%s %s (hyperparameter %s): %s", s->origin, s->value, s->key, sub.text);
    }
    hyper[p - t->params] = s->value;
  }
  for (size_t j = 0; j < np; j++)
    if (!hyper[j])
      return ps_fail(m, PS_EINVAL, "--model %s needs --param %s=VALUE (no default)", t->name, t->params[j].key);
  return PS_OK;
}
