/* config.c — experiment files (INI) read into an ordered entry list with origins.
 *
 * The reader is the project's own (below, "parsing"): every message names the file
 * and the line, and a line is never split, whatever its length. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* ---------------------------------------------------------------- parsing
 *
 * The project's own INI reader: lines of any length up to CFG_MAX_LINE (longer
 * ones are refused with FILE:LINE, never split), with the rules the experiment
 * files were written for (those of inih, which read them before, with inline
 * comments on and multi-line values off):
 *   - a UTF-8 byte-order mark at the start of the text is skipped;
 *   - lines end at "\n", "\r\n" or a lone "\r"; whitespace (space, \t, \v, \f,
 *     \r) around a line, a key and a value is dropped;
 *   - a line whose first non-blank character is ';' or '#' is a comment, and so
 *     is everything from a ';' that follows whitespace ("n = 5 ; five"; '#' is
 *     not an inline comment, and "a;b" is a value);
 *   - "[name]" starts the section called name (text after the ']' is ignored; the name is
 *     taken as written, inner spaces included);
 *   - "key = value" (or "key: value": the first '=' or ':' separates) sets a key;
 *     an indented line is a line of its own, not the continuation of a value;
 *   - anything else is a syntax error, and so is a NUL byte.
 * The first error stops the parse; every message names the file and the line. */

typedef struct {
  cfg *c;
  const char *name;
  int line;
  ps_msg *m;
  int status;
  /* the text: a file or a string */
  FILE *fp;
  const char *text;
  char *buf; /* the current line, NUL-terminated */
  size_t cap;
} parse_state;

static int handler(void *user, const char *section, const char *key, const char *value) {
  parse_state *st = user;
  if (st->status != PS_OK) return 0; /* keep the first error */
  if (!*section) {
    st->status = ps_fail(st->m, PS_EFORMAT, "%s:%d: key '%s' is outside any [section]", st->name,
                         st->line, key);
    return 0;
  }
  const cfg_entry *old = cfg_find(st->c, section, key);
  if (old && old->line > 0 && !strcmp(old->origin, st->name)) {
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

/* Next character of the text, or EOF. */
static int next_char(parse_state *st) {
  if (st->fp) return getc(st->fp);
  if (!st->text || !*st->text) return EOF;
  return (unsigned char)*st->text++;
}

static void unread_char(parse_state *st, int ch) {
  if (st->fp)
    ungetc(ch, st->fp);
  else
    st->text--;
}

/* Read the next line into st->buf without its line end.  1: a line; 0: end of the
 * text; -1: an error (st->status set). */
static int read_line(parse_state *st) {
  size_t n = 0;
  int ch = next_char(st);
  if (ch == EOF) {
    if (st->fp && ferror(st->fp))
      st->status = ps_fail(st->m, PS_EIO, "%s:%d: cannot read: %s", st->name, st->line + 1, strerror(errno));
    return st->fp && ferror(st->fp) ? -1 : 0;
  }
  st->line++;
  for (; ch != EOF && ch != '\n' && ch != '\r'; ch = next_char(st)) {
    if (ch == 0) {
      st->status = ps_fail(st->m, PS_EFORMAT, "%s:%d: NUL byte at column %zu (is this a text file?)", st->name,
                           st->line, n + 1);
      return -1;
    }
    if (n >= CFG_MAX_LINE) {
      st->status = ps_fail(st->m, PS_EFORMAT, "%s:%d: line longer than %d bytes (the longest line an experiment "
                           "file may have)", st->name, st->line, CFG_MAX_LINE);
      return -1;
    }
    if (n + 1 >= st->cap) {
      size_t cap = st->cap ? 2 * st->cap : 256;
      char *nb = realloc(st->buf, cap);
      if (!nb) {
        st->status = ps_fail(st->m, PS_ENOMEM, "out of memory reading %s", st->name);
        return -1;
      }
      st->buf = nb;
      st->cap = cap;
    }
    st->buf[n++] = (char)ch;
  }
  if (ch == '\r') {
    int next = next_char(st);
    if (next != '\n' && next != EOF) unread_char(st, next);
  }
  if (ch == EOF && st->fp && ferror(st->fp)) {
    st->status = ps_fail(st->m, PS_EIO, "%s:%d: cannot read: %s", st->name, st->line, strerror(errno));
    return -1;
  }
  if (!st->buf) {
    st->buf = malloc(st->cap = 256);
    if (!st->buf) {
      st->status = ps_fail(st->m, PS_ENOMEM, "out of memory reading %s", st->name);
      return -1;
    }
  }
  st->buf[n] = 0;
  return 1;
}

static int is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r'; }

static char *rstrip(char *s) {
  char *p = s + strlen(s);
  while (p > s && is_blank(p[-1])) *--p = 0;
  return s;
}

static char *lskip(char *s) {
  while (*s && is_blank(*s)) s++;
  return s;
}

/* The first of chars (NULL: none) or of a ';' that follows whitespace (an inline
 * comment) in s, or its end. */
static char *find_chars_or_comment(char *s, const char *chars) {
  int was_space = 0;
  while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
    was_space = is_blank(*s);
    s++;
  }
  return s;
}

static int syntax_error(parse_state *st, const char *line, const char *what) {
  return st->status = ps_fail(st->m, PS_EFORMAT, "%s:%d: syntax error: %s in '%.60s%s' (expected '[section]', "
                              "'key = value' or a comment)", st->name, st->line, what, line,
                              strlen(line) > 60 ? "..." : "");
}

static int parse(parse_state *st) {
  char *section = strdup("");
  if (!section) return st->status = ps_fail(st->m, PS_ENOMEM, "out of memory reading %s", st->name);
  while (st->status == PS_OK && read_line(st) > 0) {
    char *start = st->buf;
    if (st->line == 1 && !strncmp(start, "\xEF\xBB\xBF", 3)) start += 3;
    start = lskip(rstrip(start));
    if (!*start || *start == ';' || *start == '#') continue;
    if (*start == '[') {
      char *end = find_chars_or_comment(start + 1, "]");
      if (*end != ']') {
        syntax_error(st, start, "no ']' closing the section name");
        break;
      }
      *end = 0;
      char *ns = strdup(start + 1);
      if (!ns || (*ns && add_header(st->c, ns, st->name, st->line) != PS_OK)) {
        free(ns);
        st->status = ps_fail(st->m, PS_ENOMEM, "out of memory reading %s", st->name);
        break;
      }
      free(section);
      section = ns;
      continue;
    }
    char *end = find_chars_or_comment(start, "=:");
    if (*end != '=' && *end != ':') {
      syntax_error(st, start, *end == ';' ? "a ';' comment before any '='" : "no '='");
      break;
    }
    *end = 0;
    char *key = rstrip(start), *value = end + 1;
    *find_chars_or_comment(value, NULL) = 0;
    value = rstrip(lskip(value));
    if (!handler(st, section, key, value)) break;
  }
  free(section);
  free(st->buf);
  st->buf = NULL;
  return st->status;
}

/* On success, move the parsed entries and headers into c. */
static int finish_parse(cfg *c, cfg *work, parse_state *st, ps_msg *m) {
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

int cfg_load_file(cfg *c, const char *path, ps_msg *m) {
  FILE *fp = fopen(path, "r");
  if (!fp) return ps_fail(m, PS_EIO, "%s: cannot open experiment file: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(fp), &sb) == 0 && S_ISDIR(sb.st_mode)) {
    fclose(fp);
    return ps_fail(m, PS_EIO, "%s: is a directory, not an experiment file (give one FILE.ini, e.g. "
                   "experiments/bt_rate.ini)", path);
  }
  cfg *work = cfg_alloc();
  if (!work) {
    fclose(fp);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  parse_state st = {.c = work, .name = path, .m = m, .status = PS_OK, .fp = fp};
  parse(&st);
  fclose(fp);
  return finish_parse(c, work, &st, m);
}

int cfg_load_string(cfg *c, const char *name, const char *text, ps_msg *m) {
  cfg *work = cfg_alloc();
  if (!work) return ps_fail(m, PS_ENOMEM, "out of memory");
  parse_state st = {.c = work, .name = name, .m = m, .status = PS_OK, .text = text};
  parse(&st);
  return finish_parse(c, work, &st, m);
}

int cfg_override(cfg *c, const char *a, ps_msg *m) {
  const char *eq = strchr(a, '=');
  if (!eq) return ps_fail(m, PS_EINVAL, "override '%s': expected section.key=value", a);
  /* the stored configuration is INI text, read back by verify, plot and merge */
  if (strpbrk(a, "\r\n"))
    return ps_fail(m, PS_EINVAL, "override '%.200s': a line break is not allowed in a section, key or value", a);
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

/* ---------------------------------------------------------------- canonical form */

static int in_list(const char *s, const char *const *list) {
  for (size_t i = 0; list && list[i]; i++)
    if (!strcmp(s, list[i])) return 1;
  return 0;
}

static int is_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* a plain decimal number: [+-] digits [. digits] [e [+-] digits] (no hex, inf, nan) */
static int is_decimal(const char *s) {
  if (*s == '+' || *s == '-') s++;
  int digits = 0;
  while (*s >= '0' && *s <= '9') s++, digits++;
  if (*s == '.') {
    s++;
    while (*s >= '0' && *s <= '9') s++, digits++;
  }
  if (!digits) return 0;
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-') s++;
    if (!(*s >= '0' && *s <= '9')) return 0;
    while (*s >= '0' && *s <= '9') s++;
  }
  return *s == 0;
}

/* one comma-separated item, trimmed, into b */
static int canon_item(strbuf *b, const char *s, size_t n) {
  while (n && is_blank(*s)) s++, n--;
  while (n && is_blank(s[n - 1])) n--;
  char *t = malloc(n + 1), *o = t;
  if (!t) return -1;
  /* inner runs of blanks: one space */
  for (size_t i = 0; i < n; i++) {
    if (is_blank(s[i])) {
      if (o > t && o[-1] == ' ') continue;
      *o++ = ' ';
    } else
      *o++ = s[i];
  }
  *o = 0;
  char num[64];
  const char *out = t;
  const char *d = t + (*t == '+' || *t == '-');
  if (is_digits(d)) {
    /* an integer: digit for digit (a 64-bit seed must not pass through a double),
     * without a '+' or leading zeros */
    while (d[0] == '0' && d[1]) d++;
    snprintf(num, sizeof num, "%s%.40s", *t == '-' && strcmp(d, "0") ? "-" : "", d);
    if (strlen(d) < 40) out = num;
  } else if (is_decimal(t)) {
    double x = strtod(t, NULL);
    if (isfinite(x)) {
      if (x == floor(x) && fabs(x) < 9007199254740992.0)
        snprintf(num, sizeof num, "%.0f", x == 0 ? 0.0 : x);
      else
        for (int prec = 1; prec <= 17; prec++) {
          snprintf(num, sizeof num, "%.*g", prec, x);
          if (strtod(num, NULL) == x) break;
        }
      out = num;
    }
  }
  int r = sb_put(b, out);
  free(t);
  return r;
}

char *cfg_canonical_value(const char *v) {
  strbuf b = {0};
  if (sb_put(&b, "")) return NULL;
  for (const char *p = v;;) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (canon_item(&b, p, n) || (comma && sb_put(&b, ", "))) {
      free(b.buf);
      return NULL;
    }
    if (!comma) break;
    p = comma + 1;
  }
  return b.buf;
}

/* The sections of c under how, in canonical order (indices of their first entry). */
typedef struct {
  const cfg *c;
  const cfg_canon *how;
} canon_ctx;

static const char *section_group(const cfg_canon *how, const char *sec) {
  return how->keep_section_order && !strncmp(sec, how->keep_section_order, strlen(how->keep_section_order))
             ? how->keep_section_order
             : sec;
}

static size_t *canonical_sections(const cfg *c, const cfg_canon *how, size_t *n_out) {
  size_t *first = malloc((c->n + 1) * sizeof *first), n = 0;
  if (!first) return NULL;
  for (size_t i = 0; i < c->n; i++) {
    const char *sec = c->e[i].section;
    if (skipped(sec, how->skip)) continue;
    size_t j = 0;
    while (j < n && strcmp(c->e[first[j]].section, sec)) j++;
    if (j == n) first[n++] = i;
  }
  /* insertion sort: (group, first appearance within the group, name) */
  for (size_t i = 1; i < n; i++) {
    size_t x = first[i], j = i;
    for (; j > 0; j--) {
      size_t y = first[j - 1];
      const char *gx = section_group(how, c->e[x].section), *gy = section_group(how, c->e[y].section);
      int cmp = strcmp(gy, gx);
      if (cmp == 0 && gx != how->keep_section_order) cmp = strcmp(c->e[y].section, c->e[x].section);
      if (cmp == 0) cmp = y > x ? 1 : -1;
      if (cmp <= 0) break;
      first[j] = y;
    }
    first[j] = x;
  }
  *n_out = n;
  return first;
}

/* The entries of section sec, in canonical order. */
static size_t *canonical_keys(const cfg *c, const cfg_canon *how, const char *sec, size_t *n_out) {
  size_t *k = malloc((c->n + 1) * sizeof *k), n = 0;
  if (!k) return NULL;
  for (size_t i = 0; i < c->n; i++)
    if (!strcmp(c->e[i].section, sec)) k[n++] = i;
  if (!in_list(sec, how->keep_key_order))
    for (size_t i = 1; i < n; i++) {
      size_t x = k[i], j = i;
      for (; j > 0 && strcmp(c->e[k[j - 1]].key, c->e[x].key) > 0; j--) k[j] = k[j - 1];
      k[j] = x;
    }
  *n_out = n;
  return k;
}

char *cfg_canonical_text(const cfg *c, const cfg_canon *how) {
  static const cfg_canon none = {0};
  if (!how) how = &none;
  strbuf b = {0};
  size_t ns = 0;
  size_t *secs = canonical_sections(c, how, &ns);
  if (!secs || sb_put(&b, "")) goto oom;
  for (size_t s = 0; s < ns; s++) {
    const char *sec = c->e[secs[s]].section;
    if ((s && sb_put(&b, "\n")) || sb_put(&b, "[") || sb_put(&b, sec) || sb_put(&b, "]\n")) goto oom;
    size_t nk = 0;
    size_t *keys = canonical_keys(c, how, sec, &nk);
    if (!keys) goto oom;
    for (size_t j = 0; j < nk; j++) {
      char *v = cfg_canonical_value(c->e[keys[j]].value);
      int bad = !v || sb_put(&b, c->e[keys[j]].key) || sb_put(&b, " = ") || sb_put(&b, v) || sb_put(&b, "\n");
      free(v);
      if (bad) {
        free(keys);
        goto oom;
      }
    }
    free(keys);
  }
  free(secs);
  return b.buf;
oom:
  free(secs);
  free(b.buf);
  return NULL;
}

typedef struct {
  char *buf;
  size_t len, used, count, cut;
} diff_out;

static void diff_add(diff_out *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diff_add(diff_out *d, const char *fmt, ...) {
  char item[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(item, sizeof item, fmt, ap);
  va_end(ap);
  d->count++;
  size_t k = strlen(item);
  /* keep room for "; ... and N more" */
  if (d->cut || d->used + k + 2 + 32 >= d->len) {
    d->cut++;
    return;
  }
  d->used += (size_t)snprintf(d->buf + d->used, d->len - d->used, "%s%s", d->used ? "; " : "", item);
}

/* a value for a message: at most 60 characters */
static const char *shown(const char *v, char *buf, size_t len) {
  if (!v) return "(absent)";
  snprintf(buf, len, "%s%.60s%s", "'", v, strlen(v) > 60 ? "...'" : "'");
  return buf;
}

/* the keys of sec (or, sec NULL, the order-keeping sections) as "a, b, c" */
static void order_list(const cfg *c, const cfg_canon *how, const char *sec, char *buf, size_t len) {
  size_t n = 0, *ix = sec ? canonical_keys(c, how, sec, &n) : canonical_sections(c, how, &n);
  buf[0] = 0;
  if (!ix) return;
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    const cfg_entry *e = &c->e[ix[i]];
    if (!sec && section_group(how, e->section) != how->keep_section_order) continue;
    const char *name = sec ? e->key : e->section + strlen(how->keep_section_order);
    if (used + strlen(name) + 3 >= len) break;
    used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
  }
  free(ix);
}

size_t cfg_describe_diff(const cfg *was, const cfg *now, const cfg_canon *how, char *buf, size_t len) {
  static const cfg_canon none = {0};
  if (!how) how = &none;
  diff_out d = {.buf = buf, .len = len};
  if (len) buf[0] = 0;
  char b1[80], b2[80];
  for (size_t i = 0; i < was->n; i++) {
    const cfg_entry *e = &was->e[i];
    if (skipped(e->section, how->skip)) continue;
    const char *nv = cfg_get(now, e->section, e->key);
    char *a = cfg_canonical_value(e->value), *b = nv ? cfg_canonical_value(nv) : NULL;
    if (!nv || !a || !b || strcmp(a, b))
      diff_add(&d, "[%s] %s: %s -> %s", e->section, e->key, shown(e->value, b1, sizeof b1),
               shown(nv, b2, sizeof b2));
    free(a);
    free(b);
  }
  for (size_t i = 0; i < now->n; i++) {
    const cfg_entry *e = &now->e[i];
    if (!skipped(e->section, how->skip) && !cfg_find(was, e->section, e->key))
      diff_add(&d, "[%s] %s: (absent) -> %s", e->section, e->key, shown(e->value, b2, sizeof b2));
  }
  char o1[256], o2[256];
  for (size_t i = 0; how->keep_key_order && how->keep_key_order[i]; i++) {
    const char *sec = how->keep_key_order[i];
    if (skipped(sec, how->skip)) continue;
    order_list(was, how, sec, o1, sizeof o1);
    order_list(now, how, sec, o2, sizeof o2);
    if (strcmp(o1, o2) && !d.count)
      diff_add(&d, "the order of the keys of [%s]: %s -> %s (it is the order of the results' dimensions)", sec, o1,
               o2);
  }
  if (how->keep_section_order) {
    order_list(was, how, NULL, o1, sizeof o1);
    order_list(now, how, NULL, o2, sizeof o2);
    if (strcmp(o1, o2) && !d.count)
      diff_add(&d, "the order of the [%s*] sections: %s -> %s (it is the order of the results' estimators)",
               how->keep_section_order, o1, o2);
  }
  if (d.cut && d.used + 1 < len) snprintf(buf + d.used, len - d.used, "; ... and %zu more", d.cut);
  return d.count;
}
