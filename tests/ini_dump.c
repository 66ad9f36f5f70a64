/* ini_dump.c — print what the configuration reader makes of INI files, for
 * tests/compare_ini.sh (which builds it against two revisions' libprefsim.a and
 * diffs the output).  Not a test program of its own (not tests/test_*.c).
 *
 *   ini_dump FILE...   for each FILE: cfg_load_file's status and message, every
 *                      entry (section, key, value, origin:line) and every section
 *                      header; the same for cfg_load_string on the file's bytes;
 *                      then experiment_build's status and message, the experiment
 *                      name and the resolved configuration text (cfg_to_text).
 * Values are printed with C escapes, so whitespace and control bytes show. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../experiments/config.h"
#include "../experiments/experiment.h"

static void put_escaped(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p < 0x20 || *p >= 0x7f) printf("\\x%02x", *p);
    else putchar(*p);
  }
  putchar('"');
}

static void dump_cfg(const cfg *c) {
  for (size_t i = 0; i < cfg_size(c); i++) {
    const cfg_entry *e = cfg_at(c, i);
    printf("  entry ");
    put_escaped(e->section);
    putchar(' ');
    put_escaped(e->key);
    printf(" = ");
    put_escaped(e->value);
    printf("  @%s:%d\n", e->origin, e->line);
  }
  for (size_t i = 0; i < cfg_n_headers(c); i++) {
    const cfg_entry *h = cfg_header_at(c, i);
    printf("  header ");
    put_escaped(h->section);
    printf("  @%s:%d\n", h->origin, h->line);
  }
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t n = 0, cap = 4096;
  char *b = malloc(cap);
  for (size_t k; b && (k = fread(b + n, 1, cap - n - 1, f)) > 0;) {
    n += k;
    if (n + 1 == cap) {
      char *nb = realloc(b, cap *= 2);
      if (!nb) free(b);
      b = nb;
    }
  }
  fclose(f);
  if (b) b[n] = 0;
  return b;
}

int main(int argc, char **argv) {
  for (int a = 1; a < argc; a++) {
    const char *path = argv[a];
    printf("== %s\n", path);
    ps_msg m = {{0}};
    cfg *c = cfg_alloc();
    int s = cfg_load_file(c, path, &m);
    printf("file: status %d%s%s\n", s, s ? ": " : "", s ? m.text : "");
    dump_cfg(c);
    char *text = slurp(path);
    if (text) {
      cfg *cs = cfg_alloc();
      ps_msg ms = {{0}};
      int ss = cfg_load_string(cs, "string", text, &ms);
      printf("string: status %d%s%s\n", ss, ss ? ": " : "", ss ? ms.text : "");
      dump_cfg(cs);
      cfg_free(cs);
      free(text);
    }
    if (s != PS_OK) {
      cfg_free(c);
      continue;
    }
    experiment e;
    s = experiment_build(&e, c, "stem", &m);
    printf("build: status %d%s%s\n", s, s ? ": " : "", s ? m.text : "");
    if (s != PS_OK) {
      cfg_free(c);
      continue;
    }
    printf("name ");
    put_escaped(e.name);
    putchar('\n');
    char *t = cfg_to_text(e.config);
    printf("resolved:\n%s", t ? t : "(out of memory)\n");
    free(t);
    experiment_free(&e); /* frees e.config, which is c */
  }
  return 0;
}
