/* opts.c — getopt_long-style parsing and "did you mean" (see opts.h). */
#include "opts.h"

#include <stdlib.h>
#include <string.h>

void cli_iter_init(cli_iter *it, const char *prog, const cli_opt *opts, int argc, char **argv) {
  memset(it, 0, sizeof *it);
  it->prog = prog;
  it->opts = opts;
  it->argc = argc;
  it->argv = argv;
  it->i = 1;
}

/* optimal string alignment: insertions, deletions, substitutions and swaps of two
 * neighbours ("hlep" is one edit from "help") */
size_t cli_edit_distance(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b), w = nb + 1;
  size_t *d = malloc((na + 1) * w * sizeof *d);
  if (!d) return (size_t)-1;
  for (size_t i = 0; i <= na; i++) d[i * w] = i;
  for (size_t j = 0; j <= nb; j++) d[j] = j;
  for (size_t i = 1; i <= na; i++)
    for (size_t j = 1; j <= nb; j++) {
      size_t best = d[(i - 1) * w + j - 1] + (a[i - 1] != b[j - 1]);
      if (d[(i - 1) * w + j] + 1 < best) best = d[(i - 1) * w + j] + 1;
      if (d[i * w + j - 1] + 1 < best) best = d[i * w + j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[(i - 2) * w + j - 2] + 1 < best)
        best = d[(i - 2) * w + j - 2] + 1;
      d[i * w + j] = best;
    }
  size_t r = d[na * w + nb];
  free(d);
  return r;
}

const char *cli_closest(const char *word, const char *const *cands, size_t n) {
  size_t lw = strlen(word), best = (size_t)-1;
  const char *pick = NULL;
  if (!lw) return NULL;
  /* a typo: about one edit in four characters, at least one */
  size_t limit = lw <= 4 ? 1 : lw <= 8 ? 2 : 3;
  for (size_t i = 0; i < n; i++) {
    if (!cands[i]) continue;
    size_t d = cli_edit_distance(word, cands[i]);
    if (d < best) best = d, pick = cands[i];
  }
  if (pick && best <= limit) return pick;
  /* a prefix or a part of a name (`list rate` for bt_rate) */
  for (size_t i = 0; i < n; i++)
    if (cands[i] && lw >= 2 && strstr(cands[i], word)) return cands[i];
  return NULL;
}

const char *cli_did_you_mean(const char *word, const char *const *cands, size_t n, char *buf, size_t len) {
  const char *c = cli_closest(word, cands, n);
  if (c) snprintf(buf, len, "; did you mean '%s'?", c);
  else if (len) buf[0] = 0;
  return buf;
}

static void unknown_long(cli_iter *it, const char *name, size_t len) {
  size_t n = 0;
  while (it->opts[n].name) n++;
  const char **cands = calloc(n + 1, sizeof *cands);
  char *word = strndup(name, len);
  if (cands && word) {
    for (size_t i = 0; i < n; i++) cands[i] = it->opts[i].name;
    const char *best = cli_closest(word, cands, n);
    if (best)
      fprintf(stderr, "%s: unknown option '--%s'; did you mean --%s?  (%s --help lists them)\n", it->prog, word,
              best, it->prog);
    else
      fprintf(stderr, "%s: unknown option '--%s'  (%s --help lists the options)\n", it->prog, word, it->prog);
  } else {
    fprintf(stderr, "%s: unknown option '--%.*s'\n", it->prog, (int)len, name);
  }
  free(word);
  free(cands);
}

/* the option whose long name is name[0..len) exactly, or its unique prefix;
 * -1 unknown, -2 ambiguous (printed) */
static int find_long(cli_iter *it, const char *name, size_t len) {
  int prefix = -1, count = 0;
  for (int k = 0; it->opts[k].name; k++) {
    const char *ln = it->opts[k].name;
    if (strncmp(ln, name, len)) continue;
    if (ln[len] == 0) return k;
    if (prefix < 0) prefix = k;
    count++;
  }
  if (count == 1) return prefix;
  if (count > 1) {
    fprintf(stderr, "%s: option '--%.*s' is ambiguous; possibilities:", it->prog, (int)len, name);
    for (int k = 0; it->opts[k].name; k++)
      if (!strncmp(it->opts[k].name, name, len)) fprintf(stderr, " --%s", it->opts[k].name);
    fputc('\n', stderr);
    return -2;
  }
  return -1;
}

static void missing_value(cli_iter *it, int k, int as_short) {
  const cli_opt *o = &it->opts[k];
  if (as_short)
    fprintf(stderr, "%s: option '-%c' needs a value (%s): -%c %s, -%c%s or --%s=%s\n", it->prog, o->short_name,
            o->arg ? o->arg : "VALUE", o->short_name, o->arg ? o->arg : "VALUE", o->short_name,
            o->arg ? o->arg : "VALUE", o->name, o->arg ? o->arg : "VALUE");
  else
    fprintf(stderr, "%s: option '--%s' needs a value (%s): --%s %s or --%s=%s\n", it->prog, o->name,
            o->arg ? o->arg : "VALUE", o->name, o->arg ? o->arg : "VALUE", o->name, o->arg ? o->arg : "VALUE");
}

int cli_next(cli_iter *it, int *which, const char **value) {
  *which = -1;
  *value = NULL;
  if (it->cluster && *it->cluster) {
    char ch = *it->cluster++;
    int k = -1;
    for (int j = 0; it->opts[j].name; j++)
      if (it->opts[j].short_name && it->opts[j].short_name == ch) k = j;
    if (k < 0) {
      fprintf(stderr, "%s: unknown option '-%c'  (%s --help lists the options)\n", it->prog, ch, it->prog);
      return CLI_ERROR;
    }
    *which = k;
    if (it->opts[k].has_arg) {
      if (*it->cluster) *value = it->cluster;
      else if (it->i < it->argc) *value = it->argv[it->i++];
      else {
        missing_value(it, k, 1);
        return CLI_ERROR;
      }
      it->cluster = NULL;
    }
    return CLI_OPTION;
  }
  it->cluster = NULL;
  if (it->i >= it->argc) return CLI_END;
  const char *a = it->argv[it->i++];
  if (it->only_args || a[0] != '-' || !a[1]) {
    *value = a;
    return CLI_ARG;
  }
  if (!strcmp(a, "--")) {
    it->only_args = 1;
    return cli_next(it, which, value);
  }
  if (a[1] == '-') {
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int k = find_long(it, name, len);
    if (k == -2) return CLI_ERROR;
    if (k < 0) {
      unknown_long(it, name, len);
      return CLI_ERROR;
    }
    *which = k;
    if (it->opts[k].has_arg) {
      if (eq) *value = eq + 1;
      else if (it->i < it->argc) *value = it->argv[it->i++];
      else {
        missing_value(it, k, 0);
        return CLI_ERROR;
      }
    } else if (eq) {
      fprintf(stderr, "%s: option '--%s' takes no value (given '%s')\n", it->prog, it->opts[k].name, eq + 1);
      return CLI_ERROR;
    }
    return CLI_OPTION;
  }
  /* "-force": a long name written with one dash is named as such, not read as -f -o rce */
  for (int k = 0; a[2] && it->opts[k].name; k++)
    if (!strcmp(it->opts[k].name, a + 1)) {
      fprintf(stderr, "%s: unknown option '%s'; did you mean --%s?\n", it->prog, a, it->opts[k].name);
      return CLI_ERROR;
    }
  it->cluster = a + 1;
  return cli_next(it, which, value);
}
