/* config.c — INI parsing (inih) into an ordered entry list with origins.
 *
 * inih's handler has no line number in Debian's build, so the file is fed through
 * ini_parse_stream with a reader that counts lines; inih calls the handler for a
 * key right after reading its line, so the count is that key's line. */
#include "config.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cfg {
  cfg_entry *e;
  size_t n, cap;
  cfg_entry *hdr; /* section headers as seen in files (key = "", value = "") */
  size_t n_hdr;
};

cfg *cfg_alloc(void) { return calloc(1, sizeof(cfg)); }

static void entry_free(cfg_entry *e) {
  free(e->section);
  free(e->key);
  free(e->value);
  free(e->origin);
}

void cfg_free(cfg *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) entry_free(&c->e[i]);
  for (size_t i = 0; i < c->n_hdr; i++) entry_free(&c->hdr[i]);
  free(c->hdr);
  free(c->e);
  free(c);
}

static char *xstrdup(const char *s) { return s ? strdup(s) : strdup(""); }

int cfg_set(cfg *c, const char *section, const char *key, const char *value, const char *origin,
            int line) {
  cfg_entry *old = (cfg_entry *)cfg_find(c, section, key);
  char *v = xstrdup(value), *o = xstrdup(origin);
  if (!v || !o) {
    free(v);
    free(o);
    return PS_ENOMEM;
  }
  if (old) {
    free(old->value);
    free(old->origin);
    old->value = v;
    old->origin = o;
    old->line = line;
    return PS_OK;
  }
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 32;
    cfg_entry *ne = realloc(c->e, cap * sizeof *ne);
    if (!ne) {
      free(v);
      free(o);
      return PS_ENOMEM;
    }
    c->e = ne;
    c->cap = cap;
  }
  cfg_entry *e = &c->e[c->n];
  e->section = xstrdup(section);
  e->key = xstrdup(key);
  if (!e->section || !e->key) {
    free(e->section);
    free(e->key);
    free(v);
    free(o);
    return PS_ENOMEM;
  }
  e->value = v;
  e->origin = o;
  e->line = line;
  c->n++;
  return PS_OK;
}

static int add_header(cfg *c, const char *section, const char *origin, int line) {
  for (size_t i = 0; i < c->n_hdr; i++)
    if (!strcmp(c->hdr[i].section, section)) return PS_OK;
  cfg_entry *nh = realloc(c->hdr, (c->n_hdr + 1) * sizeof *nh);
  if (!nh) return PS_ENOMEM;
  c->hdr = nh;
  cfg_entry *h = &c->hdr[c->n_hdr];
  h->section = strdup(section);
  h->key = strdup("");
  h->value = strdup("");
  h->origin = strdup(origin);
  h->line = line;
  if (!h->section || !h->key || !h->value || !h->origin) {
    entry_free(h);
    return PS_ENOMEM;
  }
  c->n_hdr++;
  return PS_OK;
}

size_t cfg_n_headers(const cfg *c) { return c->n_hdr; }
const cfg_entry *cfg_header_at(const cfg *c, size_t i) { return i < c->n_hdr ? &c->hdr[i] : NULL; }

cfg *cfg_dup(const cfg *c) {
  cfg *d = cfg_alloc();
  if (!d) return NULL;
  for (size_t i = 0; i < c->n_hdr; i++)
    if (add_header(d, c->hdr[i].section, c->hdr[i].origin, c->hdr[i].line) != PS_OK) {
      cfg_free(d);
      return NULL;
    }
  for (size_t i = 0; i < c->n; i++) {
    const cfg_entry *e = &c->e[i];
    if (cfg_set(d, e->section, e->key, e->value, e->origin, e->line) != PS_OK) {
      cfg_free(d);
      return NULL;
    }
  }
  return d;
}

const cfg_entry *cfg_find(const cfg *c, const char *section, const char *key) {
  for (size_t i = 0; i < c->n; i++)
    if (!strcmp(c->e[i].section, section) && !strcmp(c->e[i].key, key)) return &c->e[i];
  return NULL;
}

const char *cfg_get(const cfg *c, const char *section, const char *key) {
  const cfg_entry *e = cfg_find(c, section, key);
  return e ? e->value : NULL;
}

void cfg_unset(cfg *c, const char *section, const char *key) {
  cfg_entry *e = (cfg_entry *)cfg_find(c, section, key);
  if (!e) return;
  size_t i = (size_t)(e - c->e);
  entry_free(e);
  memmove(&c->e[i], &c->e[i + 1], (c->n - i - 1) * sizeof *e);
  c->n--;
}

size_t cfg_size(const cfg *c) { return c->n; }
const cfg_entry *cfg_at(const cfg *c, size_t i) { return i < c->n ? &c->e[i] : NULL; }

const char *cfg_where(const cfg_entry *e, char *buf, size_t len) {
  if (e->line > 0)
    snprintf(buf, len, "%s:%d", e->origin, e->line);
  else
    snprintf(buf, len, "%s", e->origin);
  return buf;
}

/* ---------------------------------------------------------------- parsing */

typedef struct {
  cfg *c;
  const char *name;
  int line;
  ps_msg *m;
  int status;
  int err_line; /* line of the handler's error */
  /* stream state */
  FILE *fp;
  const char *text;
} parse_state;

/* remember "[name]" lines so that sections without keys are known too */
static void note_header(parse_state *st, const char *line) {
  while (*line == ' ' || *line == '\t') line++;
  if (*line != '[') return;
  const char *end = strchr(line, ']');
  if (!end || end == line + 1) return;
  char name[256];
  size_t len = (size_t)(end - line - 1);
  if (len >= sizeof name) return;
  memcpy(name, line + 1, len);
  name[len] = 0;
  add_header(st->c, name, st->name, st->line);
}

static char *read_line_file(char *str, int num, void *stream) {
  parse_state *st = stream;
  char *r = fgets(str, num, st->fp);
  if (r) {
    st->line++;
    note_header(st, r);
  }
  return r;
}

static char *read_line_string(char *str, int num, void *stream) {
  parse_state *st = stream;
  if (!st->text || !*st->text) return NULL;
  int i = 0;
  while (i < num - 1 && st->text[i] && st->text[i] != '\n') i++;
  if (st->text[i] == '\n' && i < num - 1) i++;
  memcpy(str, st->text, (size_t)i);
  str[i] = 0;
  st->text += i;
  st->line++;
  note_header(st, str);
  return str;
}

static int handler(void *user, const char *section, const char *key, const char *value) {
  parse_state *st = user;
  if (st->status != PS_OK) return 0; /* keep the first error */
  if (!*section) {
    st->err_line = st->line;
    st->status = ps_fail(st->m, PS_EFORMAT, "%s:%d: key '%s' is outside any [section]", st->name,
                         st->line, key);
    return 0;
  }
  if (!key) return 1; /* section header callback (INI_CALL_HANDLER_ON_NEW_SECTION) */
  const cfg_entry *old = cfg_find(st->c, section, key);
  if (old && old->line > 0 && !strcmp(old->origin, st->name)) {
    st->err_line = st->line;
    st->status = ps_fail(st->m, PS_EFORMAT, "%s:%d: key '%s' in [%s] is given twice (first at line %d)",
                         st->name, st->line, key, section, old->line);
    return 0;
  }
  if (cfg_set(st->c, section, key, value, st->name, st->line) != PS_OK) {
    st->status = ps_fail(st->m, PS_ENOMEM, "out of memory reading %s", st->name);
    return 0;
  }
  return 1;
}

static int finish_parse(cfg *c, cfg *work, parse_state *st, int rc, ps_msg *m) {
  /* inih goes on after a syntax error; an earlier syntax error wins */
  if (rc > 0 && st->status != PS_OK && rc < st->err_line) st->status = PS_OK;
  if (st->status == PS_OK && rc != 0)
    st->status = ps_fail(m, PS_EFORMAT,
                         "%s:%d: syntax error (expected '[section]', 'key = value' or a comment)",
                         st->name, rc > 0 ? rc : st->line);
  if (st->status != PS_OK) {
    cfg_free(work);
    return st->status;
  }
  for (size_t i = 0; i < work->n; i++) {
    cfg_entry *e = &work->e[i];
    if (cfg_set(c, e->section, e->key, e->value, e->origin, e->line) != PS_OK) {
      cfg_free(work);
      return ps_fail(m, PS_ENOMEM, "out of memory");
    }
  }
  for (size_t i = 0; i < work->n_hdr; i++)
    if (add_header(c, work->hdr[i].section, work->hdr[i].origin, work->hdr[i].line) != PS_OK) {
      cfg_free(work);
      return ps_fail(m, PS_ENOMEM, "out of memory");
    }
  cfg_free(work);
  return PS_OK;
}

/* Indented lines are not continuations of the previous value: an indented
 * "key = value" is a key of its own (inih's multi-line mode would glue it on). */
static void ini_settings(void) { ini_allow_multiline = false; }

int cfg_load_file(cfg *c, const char *path, ps_msg *m) {
  ini_settings();
  FILE *fp = fopen(path, "r");
  if (!fp) return ps_fail(m, PS_EIO, "%s: cannot open experiment file", path);
  cfg *work = cfg_alloc();
  if (!work) {
    fclose(fp);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  parse_state st = {.c = work, .name = path, .m = m, .status = PS_OK, .fp = fp};
  int rc = ini_parse_stream(read_line_file, &st, handler, &st);
  fclose(fp);
  return finish_parse(c, work, &st, rc, m);
}

int cfg_load_string(cfg *c, const char *name, const char *text, ps_msg *m) {
  ini_settings();
  cfg *work = cfg_alloc();
  if (!work) return ps_fail(m, PS_ENOMEM, "out of memory");
  parse_state st = {.c = work, .name = name, .m = m, .status = PS_OK, .text = text};
  int rc = ini_parse_stream(read_line_string, &st, handler, &st);
  return finish_parse(c, work, &st, rc, m);
}

int cfg_override(cfg *c, const char *a, ps_msg *m) {
  const char *eq = strchr(a, '=');
  if (!eq) return ps_fail(m, PS_EINVAL, "override '%s': expected section.key=value", a);
  size_t lhs = (size_t)(eq - a);
  char *name = strndup(a, lhs);
  if (!name) return ps_fail(m, PS_ENOMEM, "out of memory");
  /* trim */
  while (lhs && (name[lhs - 1] == ' ')) name[--lhs] = 0;
  /* the section may contain dots (estimator.bt.l2 = section estimator.bt), except
   * for the sweep, whose keys do (sweep.noise.flip = key noise.flip of [sweep]) */
  char *dot = !strncmp(name, "sweep.", 6) ? name + 5 : strrchr(name, '.');
  if (!dot || dot == name || !dot[1]) {
    int s = ps_fail(m, PS_EINVAL, "override '%s': expected section.key=value (e.g. world.dim=16)", a);
    free(name);
    return s;
  }
  *dot = 0;
  const char *v = eq + 1;
  while (*v == ' ') v++;
  int s = cfg_set(c, name, dot + 1, v, "command line", 0);
  free(name);
  return s == PS_OK ? PS_OK : ps_fail(m, s, "out of memory");
}

/* ---------------------------------------------------------------- output */

typedef struct {
  char *buf;
  size_t n, cap;
} strbuf;

static int sb_put(strbuf *b, const char *s) {
  size_t k = strlen(s);
  if (b->n + k + 1 > b->cap) {
    size_t cap = (b->cap + k + 1) * 2;
    char *nb = realloc(b->buf, cap);
    if (!nb) return -1;
    b->buf = nb;
    b->cap = cap;
  }
  memcpy(b->buf + b->n, s, k + 1);
  b->n += k;
  return 0;
}

static int skipped(const char *sec, const char *const *skip) {
  for (size_t i = 0; skip && skip[i]; i++)
    if (!strncmp(sec, skip[i], strlen(skip[i]))) return 1;
  return 0;
}

char *cfg_to_text(const cfg *c) { return cfg_to_text_without(c, NULL); }

char *cfg_to_text_without(const cfg *c, const char *const *skip) {
  strbuf b = {0};
  if (sb_put(&b, "")) return NULL;
  unsigned char *seen = calloc(c->n + 1, 1);
  if (!seen) {
    free(b.buf);
    return NULL;
  }
  for (size_t i = 0; i < c->n; i++) {
    if (seen[i]) continue;
    const char *sec = c->e[i].section;
    if (skipped(sec, skip)) continue;
    if ((b.n && sb_put(&b, "\n")) || sb_put(&b, "[") || sb_put(&b, sec) || sb_put(&b, "]\n")) goto oom;
    for (size_t j = i; j < c->n; j++) {
      if (seen[j] || strcmp(c->e[j].section, sec)) continue;
      seen[j] = 1;
      if (sb_put(&b, c->e[j].key) || sb_put(&b, " = ") || sb_put(&b, c->e[j].value) || sb_put(&b, "\n"))
        goto oom;
    }
  }
  free(seen);
  return b.buf;
oom:
  free(seen);
  free(b.buf);
  return NULL;
}
