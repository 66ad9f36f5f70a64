/* cmd_list.c — `prefsim list [NAME]`: what exists, from the registries (estimators,
 * worlds, metrics, the configuration schema), never from a list kept here. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../estimators/estimator.h"
#include "../experiments/config.h"
#include "../experiments/experiment.h"
#include "../experiments/quantity.h"
#include "../sim/sim.h"
#include "commands.h"
#include "opts.h"

enum { EXIT_USAGE = 2 };

static const char *const data_names[] = {"item comparisons", "feature comparisons", "segment comparisons"};
#define N_KINDS 3

void usage_list(FILE *f) {
  fprintf(f,
          "usage: prefsim list [NAME] [--all]\n"
          "\n"
          "Without NAME: the estimators, worlds, metrics, configuration sections and shipped experiments\n"
          "by name, with their counts.  With NAME, that entry in detail:\n"
          "  an estimator (list bt): its data, hyperparameters with defaults and ranges, the metrics\n"
          "    that apply to it;\n"
          "  a world (list items): its data, its own [world] keys, the estimators that fit it and the\n"
          "    metrics that apply;\n"
          "  a metric, truth or theory quantity (list param_err): units, definition, where it applies;\n"
          "  a configuration section (list data, list claim) or key (list dim): keys, defaults, ranges;\n"
          "  a shipped experiment (list bt_rate): its file and description.\n"
          "A name that is several of these (mixture: an estimator and a population kind) prints each.\n"
          "An unknown NAME exits 2 with the closest name.  --all prints every entry in detail.\n");
}

/* the world kinds (bits 1 << kind, as EST_IN_*) as "items, features" */
static void kinds_text(unsigned bits, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = 0;
  for (size_t i = 0; world_registry[i]; i++)
    if (bits & (1u << world_registry[i]->kind))
      used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s", used ? ", " : "",
                               world_registry[i]->name);
}

static void param_rows(const ps_param *p, const char *indent) {
  for (; p && p->key; p++) {
    char allowed[200] = "one of the choices below";
    if (p->type != PS_PARAM_ENUM || p->choices) ps_param_allowed(p, allowed, sizeof allowed);
    printf("%s%-16s default %-10s %s — %s\n", indent, p->key, p->def ? (*p->def ? p->def : "''") : "(required)",
           allowed, p->doc);
  }
}

/* names in columns: "  a, b, c" wrapped at 100 characters */
static void name_line(const char *title, size_t n, const char *(*name)(size_t)) {
  printf("%s (%zu):\n ", title, n);
  size_t col = 1;
  for (size_t i = 0; i < n; i++) {
    const char *s = name(i);
    if (col + strlen(s) + 2 > 100) {
      printf("\n ");
      col = 1;
    }
    printf(" %s%s", s, i + 1 < n ? "," : "");
    col += strlen(s) + 2;
  }
  printf("\n");
}

static size_t n_estimators(void) {
  size_t n = 0;
  while (est_registry[n]) n++;
  return n;
}
static size_t n_worlds(void) {
  size_t n = 0;
  while (world_registry[n]) n++;
  return n;
}
static const char *est_name(size_t i) { return est_registry[i]->name; }
static const char *world_name(size_t i) { return world_registry[i]->name; }
static const char *metric_name(size_t i) { return metric_table[i].name; }
static const char *truth_name(size_t i) { return truth_table[i].name; }
static const char *theory_name(size_t i) { return theory_table[i].name; }

/* ---- shipped experiments: the .ini files in experiments/ of the current directory ---- */
typedef struct {
  char **names; /* file stems, sorted */
  size_t n;
} exp_files;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void exp_files_read(exp_files *x) {
  x->names = NULL;
  x->n = 0;
  DIR *d = opendir("experiments");
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l < 5 || strcmp(de->d_name + l - 4, ".ini") || de->d_name[0] == '.') continue;
    char **nn = realloc(x->names, (x->n + 1) * sizeof *nn);
    if (!nn) break;
    x->names = nn;
    if (!(x->names[x->n] = strndup(de->d_name, l - 4))) break;
    x->n++;
  }
  closedir(d);
  if (x->n) qsort(x->names, x->n, sizeof *x->names, cmp_str);
}

static void exp_files_free(exp_files *x) {
  for (size_t i = 0; i < x->n; i++) free(x->names[i]);
  free(x->names);
}

static void exp_file_row(const char *stem) {
  char path[1024];
  snprintf(path, sizeof path, "experiments/%s.ini", stem);
  cfg *c = cfg_alloc();
  ps_msg m = {{0}};
  const char *desc = c && cfg_load_file(c, path, &m) == PS_OK ? cfg_get(c, "experiment", "description") : NULL;
  if (desc && strlen(desc) > 70) printf("  %-28s %.67s...\n", path, desc);
  else printf("  %-28s %s\n", path, desc ? desc : "");
  cfg_free(c);
}

/* ---- details ---- */
static void show_estimator(const est_type *t) {
  char kinds[200];
  printf("estimator %s — %s\n", t->name, t->doc);
  printf("  data:  ");
  for (int k = 0, first = 1; k < N_KINDS; k++)
    if (t->inputs & (1u << k)) printf("%s%s", first ? "" : ", ", data_names[k]), first = 0;
  kinds_text(t->inputs, kinds, sizeof kinds);
  printf(" (worlds: %s)\n", kinds[0] ? kinds : "none");
  printf("  rankings ([design] ranking = k): %s\n",
         t->fit_rank ? "fitted as rankings" : "fitted as their breaking into pairs ([estimator.LABEL] breaking = full|adjacent)");
  printf("  hyperparameters ([estimator.LABEL] with type = %s; prefsim fit --param KEY=VALUE):\n", t->name);
  if (!t->params || !t->params->key) printf("    (none)\n");
  param_rows(t->params, "    ");
  /* a metric without an applies() test applies wherever its world does; one with a
   * test depends on the estimator's capabilities and the grid point's settings */
  for (int conditional = 0; conditional < 2; conditional++) {
    printf(conditional ? "  metrics stored only where the estimator and the settings allow them (annotators, groups, "
                         "policies, ...):\n   "
                       : "  metrics stored for it (/metrics/LABEL/NAME; in the worlds of each metric: prefsim list "
                         "METRIC):\n   ");
    size_t col = 3;
    for (size_t i = 0; i < metric_table_len; i++) {
      if (!(metric_table[i].worlds & t->inputs) || (metric_table[i].applies != NULL) != conditional) continue;
      if (col + strlen(metric_table[i].name) > 100) printf("\n   "), col = 3;
      printf(" %s", metric_table[i].name);
      col += strlen(metric_table[i].name) + 1;
    }
    printf("\n");
  }
}

static void show_world(const world_type *w) {
  printf("world %s — %s\n", w->name, w->doc);
  printf("  data:  %s ([world] kind = %s)\n", data_names[w->kind], w->name);
  printf("  its own [world] keys:%s\n", w->params && w->params->key ? "" : " (none: the shared ones, prefsim list world)");
  param_rows(w->params, "    ");
  printf("  estimators that fit it:");
  for (size_t i = 0; est_registry[i]; i++)
    if (est_registry[i]->inputs & (1u << w->kind)) printf(" %s", est_registry[i]->name);
  printf("\n  metrics that can apply:");
  for (size_t i = 0; i < metric_table_len; i++)
    if (metric_table[i].worlds & (1u << w->kind)) printf(" %s", metric_table[i].name);
  printf("\n  truth:");
  for (size_t i = 0; i < truth_table_len; i++)
    if (truth_table[i].worlds & (1u << w->kind)) printf(" %s", truth_table[i].name);
  printf("\n  theory:");
  for (size_t i = 0; i < theory_table_len; i++)
    if (theory_table[i].worlds & (1u << w->kind)) printf(" %s", theory_table[i].name);
  printf("\n");
}

static void show_metric(const metric_def *d) {
  char kinds[200];
  kinds_text(d->worlds, kinds, sizeof kinds);
  printf("metric %s — %s\n", d->name, d->long_name);
  printf("  units: %s;  stored as /metrics/<estimator>/%s\n", d->units, d->name);
  printf("  worlds: %s%s\n", kinds[0] ? kinds : "none",
         d->applies ? " (and only at settings where it is defined: NaN elsewhere)" : "");
  printf("  estimators:");
  for (size_t i = 0; est_registry[i]; i++)
    if (est_registry[i]->inputs & d->worlds) printf(" %s", est_registry[i]->name);
  printf("%s\n", d->applies ? " (those it applies to)" : "");
}

static void show_cellq(const char *what, const cellq_def *d) {
  char kinds[200];
  kinds_text(d->worlds, kinds, sizeof kinds);
  printf("%s %s — %s\n", what, d->name, d->long_name);
  printf("  units: %s;  stored as /%s/%s (one per cell, not per estimator); in claims: %s/%s\n", d->units, what,
         d->name, what, d->name);
  printf("  worlds: %s%s\n", kinds[0] ? kinds : "none", d->applies ? " (where it is defined: NaN elsewhere)" : "");
}

static void show_section(const exp_section_schema *sec) {
  printf("section [%s] — %s\n", sec->section, sec->doc);
  param_rows(sec->params, "    ");
  printf("  any of these keys is swept with [sweep] KEY = v1, v2, ... (or %s.KEY)\n", sec->section);
}

static void show_special(const char *name) {
  if (!strcmp(name, "sweep")) {
    printf("section [sweep] — one axis per key, in the order written (the results' dimensions):\n"
           "  KEY = v1, v2, ...   KEY: a key of [world] [population] [noise] [design] [data] [policy] [experiment]\n"
           "                      unique across them (n, dim, flip, ...), or section.key, or\n"
           "                      estimator.LABEL.hyperparameter\n");
  } else if (!strcmp(name, "estimator")) {
    printf("section [estimator.LABEL] — one fitted estimator; results under /metrics/LABEL/\n"
           "  type = NAME (default: LABEL), plus NAME's hyperparameters (prefsim list NAME)\n"
           "  breaking = full|adjacent (default full): with ranking data ([design] ranking = k), how an estimator\n"
           "             that fits pairs gets them: every ranked item over every item below it, or each over\n"
           "             the next (estimators that fit rankings themselves, such as pl, take none)\n"
           "  estimators:");
    for (size_t i = 0; est_registry[i]; i++) printf(" %s", est_registry[i]->name);
    printf("\n");
  } else if (!strcmp(name, "claim")) {
    printf("section [claim.NAME] — checked by prefsim verify (docs/theory.md §5.1)\n");
    param_rows(exp_claim_params, "    ");
  } else if (!strcmp(name, "figure")) {
    printf("section [figure.NAME] — drawn by prefsim plot\n");
    param_rows(exp_figure_params, "    ");
  }
}

static const char *const special_sections[] = {"sweep", "estimator", "claim", "figure", NULL};

static void overview(void) {
  exp_files x;
  exp_files_read(&x);
  name_line("estimators", n_estimators(), est_name);
  name_line("worlds ([world] kind)", n_worlds(), world_name);
  name_line("metrics (/metrics/<estimator>/NAME)", metric_table_len, metric_name);
  name_line("truth (/truth/NAME)", truth_table_len, truth_name);
  name_line("theory (/theory/NAME)", theory_table_len, theory_name);
  size_t nsec = 0, nkeys = 0;
  for (; exp_schema[nsec].section; nsec++)
    for (const ps_param *p = exp_schema[nsec].params; p->key; p++) nkeys++;
  printf("configuration sections (%zu, with %zu keys):\n ", nsec + 4, nkeys);
  for (size_t i = 0; exp_schema[i].section; i++) printf(" [%s]", exp_schema[i].section);
  printf(" [sweep] [estimator.LABEL] [claim.NAME] [figure.NAME]\n");
  if (x.n) {
    printf("shipped experiments (%zu):\n", x.n);
    for (size_t i = 0; i < x.n; i++) exp_file_row(x.names[i]);
  }
  printf("\nprefsim list NAME: one of these in detail (prefsim list bt, list items, list param_err, list data,\n"
         "list dim); prefsim list --all: everything; prefsim new NAME: a template experiment file.\n");
  exp_files_free(&x);
}

static void everything(void) {
  for (size_t i = 0; est_registry[i]; i++) show_estimator(est_registry[i]), printf("\n");
  for (size_t i = 0; world_registry[i]; i++) show_world(world_registry[i]), printf("\n");
  for (size_t i = 0; exp_schema[i].section; i++) show_section(&exp_schema[i]), printf("\n");
  for (size_t i = 0; special_sections[i]; i++) show_special(special_sections[i]), printf("\n");
  for (size_t i = 0; i < metric_table_len; i++) show_metric(&metric_table[i]);
  printf("\n");
  for (size_t i = 0; i < truth_table_len; i++) show_cellq("truth", &truth_table[i]);
  printf("\n");
  for (size_t i = 0; i < theory_table_len; i++) show_cellq("theory", &theory_table[i]);
}

/* every entry NAME names; the number found */
static int show_name(const char *name) {
  int found = 0;
  const est_type *t = est_lookup(name);
  if (t) found++, show_estimator(t);
  const world_type *w = world_lookup(name);
  if (w) printf(found++ ? "\n" : ""), show_world(w);
  /* "metrics/X", "truth/X", "theory/X" are accepted as in claims */
  const char *bare = name;
  int want = 0; /* 0 any, 1 metric, 2 truth, 3 theory */
  if (!strncmp(name, "truth/", 6)) bare = name + 6, want = 2;
  else if (!strncmp(name, "theory/", 7)) bare = name + 7, want = 3;
  else if (!strncmp(name, "metrics/", 8)) bare = name + 8, want = 1;
  long i;
  if ((!want || want == 1) && (i = metric_find(bare)) >= 0) printf(found++ ? "\n" : ""), show_metric(&metric_table[i]);
  if ((!want || want == 2) && (i = truth_find(bare)) >= 0) printf(found++ ? "\n" : ""), show_cellq("truth", &truth_table[i]);
  if ((!want || want == 3) && (i = theory_find(bare)) >= 0)
    printf(found++ ? "\n" : ""), show_cellq("theory", &theory_table[i]);
  const char *sname = name;
  if (name[0] == '[' && name[strlen(name) - 1] == ']') {
    static char buf[128];
    snprintf(buf, sizeof buf, "%.*s", (int)strlen(name) - 2, name + 1);
    sname = buf;
  }
  for (size_t s = 0; exp_schema[s].section; s++)
    if (!strcmp(exp_schema[s].section, sname)) printf(found++ ? "\n" : ""), show_section(&exp_schema[s]);
  for (size_t s = 0; special_sections[s]; s++)
    if (!strcmp(special_sections[s], sname)) printf(found++ ? "\n" : ""), show_special(sname);
  /* a key: "dim" or "world.dim" */
  const char *dot = strrchr(name, '.');
  for (size_t s = 0; exp_schema[s].section; s++) {
    const char *key = name;
    if (dot) {
      if (strncmp(name, exp_schema[s].section, (size_t)(dot - name)) || exp_schema[s].section[dot - name]) continue;
      key = dot + 1;
    }
    const ps_param *p = ps_param_find(exp_schema[s].params, key);
    if (!p) continue;
    char allowed[200];
    ps_param_allowed(p, allowed, sizeof allowed);
    printf(found++ ? "\n" : "");
    printf("key [%s] %s — %s\n  default %s; %s\n  sweep it with [sweep] %s = v1, v2, ... or override it with "
           "prefsim run FILE %s.%s=VALUE\n",
           exp_schema[s].section, p->key, p->doc, p->def ? (*p->def ? p->def : "''") : "(required)", allowed,
           p->key, exp_schema[s].section, p->key);
  }
  int hp = 0;
  for (size_t s = 0; !dot && est_registry[s]; s++) {
    const ps_param *p = ps_param_find(est_registry[s]->params, name);
    if (!p) continue;
    if (!hp++) printf(found++ ? "\nhyperparameter %s ([estimator.LABEL] %s = ...):\n" : "hyperparameter %s ([estimator.LABEL] %s = ...):\n", name, name);
    char allowed[200];
    ps_param_allowed(p, allowed, sizeof allowed);
    printf("  of %-16s default %-10s %s — %s\n", est_registry[s]->name, p->def ? (*p->def ? p->def : "''") : "(required)",
           allowed, p->doc);
  }
  exp_files x;
  exp_files_read(&x);
  for (size_t k = 0; k < x.n; k++)
    if (!strcmp(x.names[k], name)) {
      printf(found++ ? "\n" : "");
      printf("shipped experiment\n");
      exp_file_row(name);
      printf("  prefsim run --dry-run experiments/%s.ini: its resolved config, cells and estimated time\n", name);
    }
  exp_files_free(&x);
  return found;
}

/* every name list NAME knows, for "did you mean" */
static const char **all_names(size_t *n) {
  exp_files x;
  exp_files_read(&x);
  size_t cap = n_estimators() + n_worlds() + metric_table_len + truth_table_len + theory_table_len + 16 + x.n;
  for (size_t s = 0; exp_schema[s].section; s++)
    for (const ps_param *p = exp_schema[s].params; p->key; p++) cap++;
  const char **v = calloc(cap + 1, sizeof *v);
  size_t k = 0;
  if (v) {
    for (size_t i = 0; est_registry[i]; i++) v[k++] = est_registry[i]->name;
    for (size_t i = 0; world_registry[i]; i++) v[k++] = world_registry[i]->name;
    for (size_t i = 0; i < metric_table_len; i++) v[k++] = metric_table[i].name;
    for (size_t i = 0; i < truth_table_len; i++) v[k++] = truth_table[i].name;
    for (size_t i = 0; i < theory_table_len; i++) v[k++] = theory_table[i].name;
    for (size_t s = 0; exp_schema[s].section; s++) {
      v[k++] = exp_schema[s].section;
      for (const ps_param *p = exp_schema[s].params; p->key; p++) v[k++] = p->key;
    }
    for (size_t s = 0; special_sections[s]; s++) v[k++] = special_sections[s];
  }
  /* the experiment stems are not kept (their memory goes with x) */
  exp_files_free(&x);
  *n = k;
  return v;
}

int cmd_list(int argc, char **argv) {
  static const cli_opt opts[] = {{"all", 'a', 0, NULL}, {"help", 'h', 0, NULL}, {NULL}};
  cli_iter it;
  cli_iter_init(&it, "prefsim list", opts, argc, argv);
  int r, k, all = 0;
  const char *v, *name = NULL;
  while ((r = cli_next(&it, &k, &v)) != CLI_END) {
    if (r == CLI_ERROR) return EXIT_USAGE;
    if (r == CLI_ARG) {
      if (name) {
        fprintf(stderr, "prefsim list: one NAME, not '%s' and '%s'\n", name, v);
        return EXIT_USAGE;
      }
      name = v;
    } else if (k == 1) {
      usage_list(stdout);
      return 0;
    } else
      all = 1;
  }
  experiment_schema_init();
  if (all && name) {
    fprintf(stderr, "prefsim list: --all or a NAME, not both\n");
    return EXIT_USAGE;
  }
  if (all) {
    everything();
    return 0;
  }
  if (!name) {
    overview();
    return 0;
  }
  if (show_name(name)) {
    printf("\n");
    return 0;
  }
  size_t n = 0;
  const char **names = all_names(&n);
  const char *best = names ? cli_closest(name, names, n) : NULL;
  fprintf(stderr, "prefsim list: no estimator, world, metric, section, key or shipped experiment is called '%s'", name);
  if (best) fprintf(stderr, "; did you mean '%s'?", best);
  fprintf(stderr, "  (prefsim list shows the names)\n");
  free(names);
  return EXIT_USAGE;
}
