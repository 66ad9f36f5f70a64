/* fit_args.c — the command line of `prefsim fit`: options, aliases, hyperparameters.
 *
 * Parsing is in two steps because options may come before --model:
 *   1. fit_parse_args reads the syntax: generic options, --param KEY=VALUE, the alias
 *      options (--l2, --k, ...) and every hook's model-only options, in order;
 *   2. fit_check_model, once the estimator t is known, gives each alias its key,
 *      rejects options of other models, lets t's hook rewrite the settings, and
 *      checks every setting against t's ps_param table (the only validation of a
 *      hyperparameter: its messages are the table's own range or choices).
 * Nothing here prints; messages go to the caller in a ps_msg. */
#include <errno.h>
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

/* ------------------------------------------------------------ syntax */

/* "--name" or "--name=value" */
static int is_option(const char *a, const char *name) {
  size_t k = strlen(name);
  return strncmp(a, name, k) == 0 && (a[k] == 0 || a[k] == '=');
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

/* The model-only option that argument s names (in any hook), or NULL. */
static const fit_option *hook_option(const char *s) {
  for (size_t h = 0; fit_hooks[h]; h++)
    for (const fit_option *o = fit_hooks[h]->options; o && o->name; o++)
      if (is_option(s, o->name)) return o;
  return NULL;
}

/* The alias option that argument s names (as spelt in fit_aliases), or NULL. */
static const char *alias_option(const char *s) {
  for (size_t i = 0; fit_aliases[i].option; i++)
    if (is_option(s, fit_aliases[i].option)) return fit_aliases[i].option;
  return NULL;
}

int fit_parse_args(int argc, char **argv, fit_args *a, ps_msg *m) {
  memset(a, 0, sizeof *a);
  a->seed = 1;
  int only_files = 0;
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i], *v;
    const fit_option *o;
    if (only_files || s[0] != '-' || strcmp(s, "-") == 0) {
      if (a->data) return ps_fail(m, PS_EINVAL, "more than one data file ('%s' and '%s')", a->data, s);
      a->data = s;
    } else if (strcmp(s, "--") == 0) {
      only_files = 1;
    } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
      a->help = 1;
    } else if (strcmp(s, "--list") == 0) {
      a->list = 1;
    } else if (strcmp(s, "-v") == 0 || strcmp(s, "--verbose") == 0) {
      a->verbose = 1;
    } else if (is_option(s, "--model")) {
      if (!(v = option_value(argc, argv, &i, "--model", m))) return PS_EINVAL;
      a->model = v;
    } else if (is_option(s, "--seed")) {
      if (!(v = option_value(argc, argv, &i, "--seed", m)) || parse_seed(v, &a->seed, m)) return PS_EINVAL;
    } else if (is_option(s, "--annotators")) {
      if (!(v = option_value(argc, argv, &i, "--annotators", m))) return PS_EINVAL;
      a->annotators_path = v;
    } else if (strcmp(s, "--allow-large") == 0) {
      a->allow_large = 1;
    } else if (is_option(s, "--max-input-size")) {
      if (!(v = option_value(argc, argv, &i, "--max-input-size", m)) || parse_size(v, &a->max_input_size, m))
        return PS_EINVAL;
    } else if (is_option(s, "--param")) {
      if (!(v = option_value(argc, argv, &i, "--param", m))) return PS_EINVAL;
      const char *eq = strchr(v, '=');
      if (!eq || eq == v) return ps_fail(m, PS_EINVAL, "--param needs KEY=VALUE, not '%s'", v);
      if (add_setting(a, v, (size_t)(eq - v), eq + 1, "--param", m)) return PS_EINVAL;
    } else if ((o = hook_option(s)) != NULL) {
      if (a->n_opt == FIT_MAX_MODEL_OPTIONS) return ps_fail(m, PS_EINVAL, "too many options");
      if (o->metavar) {
        if (!(v = option_value(argc, argv, &i, o->name, m))) return PS_EINVAL;
      } else {
        if (s[strlen(o->name)] == '=') return ps_fail(m, PS_EINVAL, "%s takes no value", o->name);
        v = "";
      }
      a->opt[a->n_opt].name = o->name;
      a->opt[a->n_opt++].value = v;
    } else if ((v = alias_option(s)) != NULL) {
      /* --l2 V, --k V, ...: the key is known once the model is */
      const char *option = v;
      if (!(v = option_value(argc, argv, &i, option, m))) return PS_EINVAL;
      if (add_setting(a, "", 0, v, option, m)) return PS_EINVAL;
    } else {
      return ps_fail(m, PS_EINVAL, "unknown option '%s'", s);
    }
  }
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
