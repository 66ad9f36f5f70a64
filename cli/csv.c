/* csv.c — comparison CSV reader (format in csv.h).
 *
 * The file is read into one buffer in chunks; each chunk is scanned for line ends
 * as it arrives (scan_lines: the limits on a line's length and the file's size,
 * carriage returns without a line feed, and the line count that bounds the rows),
 * so an oversized or CR-only file is refused before it is read whole.  Then the
 * buffer is parsed once.  Fields are slices of that buffer: a quoted field with doubled quotes is unescaped in place (the
 * result is never longer than the source), so parsing allocates nothing per row.
 * Names are interned in a name_table: an open-addressing hash table (linear
 * probing, FNV-1a, load <= 1/2) over an arena holding each distinct name once.
 * At the end the arena and a pointer array are copied into one block, which is
 * what csv_comparisons.item_name points at.
 *
 * Invariants: r->line is the 1-based line of r->pos; a record never spans lines
 * (a quote left open at the end of a line is an error, not a multi-line field),
 * so every message can name the one line at fault. */
#include "csv.h"
#include "csv_rank.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Longest name or value quoted back in a message. */
#define SHOW 80

/* ------------------------------------------------------------ name table */

typedef struct {
  char *arena;         /* distinct names back to back, each NUL-terminated */
  size_t arena_len, arena_cap;
  size_t *start;       /* start[id]: offset of name id; start[n] == arena_len */
  uint64_t *hash;      /* hash[id] */
  size_t n, cap;       /* names stored; capacity of hash (start has cap + 1) */
  int32_t *slot;       /* n_slots entries, each an id or -1 */
  size_t n_slots;      /* 0 or a power of two >= 2 (n + 1) */
} name_table;

static uint64_t fnv1a(const char *s, size_t len) {
  uint64_t h = 14695981039346656037u;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211u;
  }
  return h ^ (h >> 29); /* FNV's low bits mix poorly; the slot index uses them */
}

static void names_free(name_table *t) {
  free(t->arena);
  free(t->start);
  free(t->hash);
  free(t->slot);
  memset(t, 0, sizeof *t);
}

static int names_rehash(name_table *t, size_t n_slots) {
  int32_t *slot = malloc(n_slots * sizeof *slot);
  if (!slot) return PS_ENOMEM;
  for (size_t k = 0; k < n_slots; k++) slot[k] = -1;
  for (size_t id = 0; id < t->n; id++) {
    size_t k = t->hash[id] & (n_slots - 1);
    while (slot[k] >= 0) k = (k + 1) & (n_slots - 1);
    slot[k] = (int32_t)id;
  }
  free(t->slot);
  t->slot = slot;
  t->n_slots = n_slots;
  return PS_OK;
}

/* realloc p to hold at least need elements of elem bytes (capacity *cap,
 * doubling); NULL on failure, when p is still valid and *cap unchanged. */
static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return p;
  size_t c = *cap ? *cap : 64;
  while (c < need) c *= 2;
  void *q = realloc(p, c * elem);
  if (q) *cap = c;
  return q;
}

/* The id of the name s[0..len), adding it if new.  PS_ENOMEM, or PS_EINVAL when
 * there would be more than INT32_MAX names. */
static int names_intern(name_table *t, const char *s, size_t len, int32_t *id) {
  if (2 * (t->n + 1) > t->n_slots && names_rehash(t, t->n_slots ? 2 * t->n_slots : 1024) != PS_OK)
    return PS_ENOMEM;
  uint64_t h = fnv1a(s, len);
  size_t mask = t->n_slots - 1, k = h & mask;
  for (; t->slot[k] >= 0; k = (k + 1) & mask) {
    int32_t e = t->slot[k];
    if (t->hash[e] == h && t->start[e + 1] - t->start[e] == len + 1 &&
        memcmp(t->arena + t->start[e], s, len) == 0) {
      *id = e;
      return PS_OK;
    }
  }
  if (t->n >= INT32_MAX) return PS_EINVAL;
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 1024;
    uint64_t *hash = realloc(t->hash, cap * sizeof *hash);
    if (!hash) return PS_ENOMEM;
    t->hash = hash;
    size_t *start = realloc(t->start, (cap + 1) * sizeof *start);
    if (!start) return PS_ENOMEM;
    t->start = start;
    t->cap = cap;
  }
  char *arena = grow(t->arena, &t->arena_cap, t->arena_len + len + 1, 1);
  if (!arena) return PS_ENOMEM;
  t->arena = arena;
  memcpy(t->arena + t->arena_len, s, len);
  t->arena[t->arena_len + len] = 0;
  t->start[t->n] = t->arena_len;
  t->arena_len += len + 1;
  t->start[t->n + 1] = t->arena_len;
  t->hash[t->n] = h;
  t->slot[k] = (int32_t)t->n;
  *id = (int32_t)t->n++;
  return PS_OK;
}

/* One block: t->n pointers followed by a copy of the arena they point into, so
 * that a single free releases both. */
static char **names_export(const name_table *t) {
  char **v = malloc(t->n * sizeof(char *) + t->arena_len + 1);
  if (!v) return NULL;
  char *text = (char *)(v + t->n);
  if (t->arena_len) memcpy(text, t->arena, t->arena_len);
  for (size_t i = 0; i < t->n; i++) v[i] = text + t->start[i];
  return v;
}

/* ---------------------------------------------------------------- fields */

typedef struct {
  char *s; /* not NUL-terminated */
  size_t len;
} field;

typedef struct {
  const char *name; /* file name for messages */
  char *buf;
  size_t len, pos;
  size_t line; /* 1-based line of buf[pos] */
  field *f;    /* fields of the current record */
  size_t nf, cap;
} reader;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* "'x'" for a printable ASCII byte, "byte 0xNN" otherwise. */
static const char *show_char(char c, char *b, size_t size) {
  unsigned char u = (unsigned char)c;
  if (u >= 0x20 && u < 0x7f)
    snprintf(b, size, "'%c'", c);
  else
    snprintf(b, size, "byte 0x%02x", u);
  return b;
}

/* Scan one field at r->pos.  *end is the byte that ended it: ',' '\n' or 0 (end
 * of input); r->pos moves past that byte. */
static int next_field(reader *r, field *out, char *end, ps_msg *m) {
  char *b = r->buf;
  size_t n = r->len, p = r->pos;
  while (p < n && (b[p] == ' ' || b[p] == '\t')) p++;
  if (p < n && b[p] == '"') {
    size_t q = p + 1, w = p + 1; /* read and write positions: unescape in place */
    for (;;) {
      if (q == n || b[q] == '\n')
        return ps_fail(m, PS_EFORMAT,
                       "%s:%zu: unterminated quoted field (field %zu opens a \" that is not closed on "
                       "this line; write a literal \" inside quotes as \"\")",
                       r->name, r->line, r->nf + 1);
      if (b[q] == '"') {
        if (q + 1 < n && b[q + 1] == '"') {
          b[w++] = '"';
          q += 2;
          continue;
        }
        q++;
        break;
      }
      if (b[q] == 0)
        return ps_fail(m, PS_EFORMAT, "%s:%zu: NUL byte in field %zu (is this a text file?)", r->name,
                       r->line, r->nf + 1);
      b[w++] = b[q++];
    }
    out->s = b + p + 1;
    out->len = w - (p + 1);
    while (q < n && is_space(b[q])) q++;
    if (q < n && b[q] != ',' && b[q] != '\n') {
      char c[16];
      return ps_fail(m, PS_EFORMAT,
                     "%s:%zu: unexpected %s after the closing quote of field %zu (quote the whole "
                     "field and write a literal \" as \"\")",
                     r->name, r->line, show_char(b[q], c, sizeof c), r->nf + 1);
    }
    p = q;
  } else {
    size_t q = p;
    while (q < n && b[q] != ',' && b[q] != '\n') {
      if (b[q] == 0)
        return ps_fail(m, PS_EFORMAT, "%s:%zu: NUL byte in field %zu (is this a text file?)", r->name,
                       r->line, r->nf + 1);
      q++;
    }
    size_t e = q;
    while (e > p && is_space(b[e - 1])) e--;
    out->s = b + p;
    out->len = e - p;
    p = q;
  }
  *end = 0;
  if (p < n) {
    *end = b[p];
    if (b[p] == '\n') r->line++;
    p++;
  }
  r->pos = p;
  return PS_OK;
}

/* Parse the next non-blank line into r->f[0..nf); *line gets its line number
 * and *got is 0 at the end of the input. */
static int next_record(reader *r, int *got, size_t *line, ps_msg *m) {
  *got = 0;
  for (;;) {
    size_t p = r->pos;
    while (p < r->len && is_space(r->buf[p])) p++;
    if (p == r->len) {
      r->pos = p;
      return PS_OK;
    }
    if (r->buf[p] != '\n') break;
    r->pos = p + 1;
    r->line++;
  }
  *line = r->line;
  r->nf = 0;
  char end;
  do {
    field *f = grow(r->f, &r->cap, r->nf + 1, sizeof *r->f);
    if (!f) return ps_fail(m, PS_ENOMEM, "%s: out of memory", r->name);
    r->f = f;
    int s = next_field(r, &r->f[r->nf], &end, m);
    if (s != PS_OK) return s;
    r->nf++;
  } while (end == ',');
  *got = 1;
  return PS_OK;
}

/* ------------------------------------------------------------ the columns */

/* The roles a column can play, one row each: the role (the name --columns uses), the
 * header names that give a column the role by default ("a|b": either), and what it
 * holds.  Two layouts name the pair and its winner:
 *   winner, loser               (the default);
 *   left, right, label          crowd-kit's pairwise layout (worker,left,right,label:
 *                               label is the name of the winning item, left's or
 *                               right's), used when the header has no winner/loser.
 * The other roles are optional in both.  A new role is one row here plus its use in
 * parse(). */
enum {
  COL_WINNER, COL_LOSER, COL_COUNT, COL_ANNOTATOR, COL_FIRST, COL_LEFT, COL_RIGHT, COL_LABEL, COL_TIE, COL_RANKING,
  COL_SET, N_COLS
};
static const struct {
  const char *role, *headers, *doc;
} col_role[N_COLS] = {
    [COL_WINNER] = {"winner", "winner", "the winning item"},
    [COL_LOSER] = {"loser", "loser", "the losing item"},
    [COL_COUNT] = {"count", "count", "the row's multiplicity or weight"},
    [COL_ANNOTATOR] = {"annotator", "annotator|worker", "who judged the row"},
    [COL_FIRST] = {"first", "first", "the item shown first"},
    [COL_LEFT] = {"left", "left", "one item of the pair (crowd-kit layout)"},
    [COL_RIGHT] = {"right", "right", "the other item (crowd-kit layout)"},
    [COL_LABEL] = {"label", "label", "the winning item's name, left's or right's (crowd-kit layout)"},
    [COL_TIE] = {"tie", "tie", "1: the two items tied (their order irrelevant); 0: a strict row"},
    [COL_RANKING] = {"ranking", "ranking", "items best first, separated by '>' (a ranking file)"},
    [COL_SET] = {"set", "set", "the offered items, separated by '|', when the ranking is a top-k"},
};

/* "winner, loser, ..." — the roles, for messages. */
static const char *role_list(void) {
  static char buf[200];
  buf[0] = 0;
  for (int c = 0; c < N_COLS; c++) {
    if (c) strncat(buf, ", ", sizeof buf - strlen(buf) - 1);
    strncat(buf, col_role[c].role, sizeof buf - strlen(buf) - 1);
  }
  return buf;
}

/* The header name of each role that spec ("ROLE=NAME,...", may be NULL) maps, as
 * slices of spec (len 0: not mapped). */
typedef struct {
  const char *name[N_COLS];
  size_t len[N_COLS];
} col_map;

static int parse_map(const char *spec, col_map *map, ps_msg *m) {
  memset(map, 0, sizeof *map);
  if (!spec) return PS_OK;
  const char *p = spec;
  for (;;) {
    size_t n = strcspn(p, ","), k = strcspn(p, "=");
    if (k >= n || k == 0 || k + 1 == n)
      return ps_fail(m, PS_EINVAL, "--columns: '%.*s' is not ROLE=COLUMN (e.g. --columns winner=left,loser=right)",
                     (int)n, p);
    int c = 0;
    while (c < N_COLS && !(strlen(col_role[c].role) == k && !strncmp(col_role[c].role, p, k))) c++;
    if (c == N_COLS)
      return ps_fail(m, PS_EINVAL, "--columns: unknown role '%.*s'; allowed: %s", (int)k, p, role_list());
    if (map->name[c])
      return ps_fail(m, PS_EINVAL, "--columns: role %s is mapped twice ('%.*s' and '%.*s')", col_role[c].role,
                     (int)map->len[c], map->name[c], (int)(n - k - 1), p + k + 1);
    for (int o = 0; o < N_COLS; o++)
      if (map->name[o] && map->len[o] == n - k - 1 && !strncasecmp(map->name[o], p + k + 1, n - k - 1))
        return ps_fail(m, PS_EINVAL, "--columns: column '%.*s' is mapped to two roles, %s and %s", (int)(n - k - 1),
                       p + k + 1, col_role[o].role, col_role[c].role);
    map->name[c] = p + k + 1;
    map->len[c] = n - k - 1;
    if (!p[n]) break;
    p += n + 1;
  }
  return PS_OK;
}

int csv_columns_check(const char *spec, ps_msg *m) {
  col_map map;
  return parse_map(spec, &map, m);
}

static int name_is(const field *f, const char *word, size_t k) {
  if (f->len != k) return 0;
  for (size_t i = 0; i < k; i++) {
    char c = f->s[i], w = word[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (w >= 'A' && w <= 'Z') w = (char)(w - 'A' + 'a');
    if (c != w) return 0;
  }
  return 1;
}

/* field f is one of the '|'-separated names in names */
static int name_in(const field *f, const char *names) {
  for (const char *p = names;;) {
    size_t k = strcspn(p, "|");
    if (name_is(f, p, k)) return 1;
    if (!p[k]) return 0;
    p += k + 1;
  }
}

/* "'a', 'b', ..." — the header's fields, for messages. */
static void header_fields(const reader *r, char *found, size_t size) {
  size_t k = 0;
  found[0] = 0;
  for (size_t i = 0; i < r->nf && k + 8 < size; i++) {
    int len = r->f[i].len > 40 ? 40 : (int)r->f[i].len;
    int w = snprintf(found + k, size - k, "%s'%.*s'", i ? ", " : "", len, r->f[i].s);
    if (w < 0) break;
    k += (size_t)w;
  }
  if (k >= size) snprintf(found + size - 5, 5, "...");
}

/* The column of each role (-1 when absent) and the layout: *crowd = 1 for
 * left/right/label.  A role mapped by --columns takes exactly the column named. */
static int find_columns(const reader *r, size_t line, const col_map *map, long col[N_COLS], int *crowd, ps_msg *m) {
  char found[256];
  for (int c = 0; c < N_COLS; c++) col[c] = -1;
  for (int c = 0; c < N_COLS; c++) {
    for (size_t i = 0; i < r->nf; i++) {
      int is = map->name[c] ? name_is(&r->f[i], map->name[c], map->len[c]) : name_in(&r->f[i], col_role[c].headers);
      if (!is) continue;
      if (col[c] >= 0 && name_is(&r->f[i], r->f[col[c]].s, r->f[col[c]].len))
        return ps_fail(m, PS_EFORMAT, "%s:%zu: the header names column '%.*s' twice (fields %ld and %zu)", r->name,
                       line, (int)r->f[i].len, r->f[i].s, col[c] + 1, i + 1);
      if (col[c] >= 0)
        return ps_fail(m, PS_EFORMAT, "%s:%zu: the header has two %s columns, '%.*s' (field %ld) and '%.*s' (field %zu)",
                       r->name, line, col_role[c].role, (int)r->f[col[c]].len, r->f[col[c]].s, col[c] + 1,
                       (int)r->f[i].len, r->f[i].s, i + 1);
      col[c] = (long)i;
    }
    if (map->name[c] && col[c] < 0) {
      header_fields(r, found, sizeof found);
      return ps_fail(m, PS_EFORMAT, "%s:%zu: --columns %s=%.*s: the header has no column '%.*s'; found %zu column%s: %s",
                     r->name, line, col_role[c].role, (int)map->len[c], map->name[c], (int)map->len[c], map->name[c],
                     r->nf, r->nf == 1 ? "" : "s", found);
    }
  }
  /* a column mapped to one role is not also another role by its default name */
  for (int c = 0; c < N_COLS; c++)
    for (int o = 0; o < N_COLS; o++)
      if (o != c && col[c] >= 0 && col[c] == col[o] && map->name[o] && !map->name[c]) col[c] = -1;
  int pairwise = col[COL_WINNER] >= 0 || col[COL_LOSER] >= 0;
  if (col[COL_RANKING] >= 0) {
    for (int c = 0; c < COL_RANKING; c++)
      if (c != COL_COUNT && c != COL_ANNOTATOR && col[c] >= 0)
        return ps_fail(m, PS_EFORMAT,
                       "%s:%zu: the header has a 'ranking' column and a '%s' column; a file holds either rankings "
                       "(ranking[,set][,count][,annotator]) or pairs (winner,loser[,count][,annotator][,first])",
                       r->name, line, col_role[c].role);
    *crowd = 0;
    return PS_OK;
  }
  if (col[COL_SET] >= 0)
    return ps_fail(m, PS_EFORMAT, "%s:%zu: the header has a 'set' column but no 'ranking' column", r->name, line);
  *crowd = !pairwise && col[COL_LEFT] >= 0 && col[COL_RIGHT] >= 0 && col[COL_LABEL] >= 0;
  if (pairwise)
    for (int c = COL_LEFT; c <= COL_LABEL; c++)
      if (map->name[c])
        return ps_fail(m, PS_EFORMAT,
                       "%s:%zu: --columns maps %s, a role of the left,right,label layout, but the header has the "
                       "winner,loser layout; map winner and loser, or left, right and label",
                       r->name, line, col_role[c].role);
  if (*crowd) return PS_OK;
  int need[3] = {COL_WINNER, COL_LOSER, -1};
  if (!pairwise && (col[COL_LEFT] >= 0 || col[COL_RIGHT] >= 0 || col[COL_LABEL] >= 0))
    need[0] = COL_LEFT, need[1] = COL_RIGHT, need[2] = COL_LABEL;
  for (int k = 0; k < 3 && need[k] >= 0; k++) {
    int c = need[k];
    if (col[c] >= 0) continue;
    header_fields(r, found, sizeof found);
    return ps_fail(m, PS_EFORMAT,
                   "%s:%zu: the header has no '%s' column (required: winner, loser, or crowd-kit's left, right, "
                   "label, or a ranking column instead; optional: count, annotator (or worker), first, tie;"
                   " --columns "
                   "ROLE=NAME names another column); found %zu column%s: %s",
                   r->name, line, col_role[c].role, r->nf, r->nf == 1 ? "" : "s", found);
  }
  return PS_OK;
}

/* s[0..len) is a plain decimal number: [+-] digits [. digits] [e [+-] digits], at
 * least one digit before the exponent; no hex, inf, nan, no spaces inside. */
static int plain_decimal(const char *s, size_t len) {
  size_t i = 0, digits = 0;
  if (i < len && (s[i] == '+' || s[i] == '-')) i++;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) digits++;
  if (i < len && s[i] == '.')
    for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) digits++;
  if (!digits) return 0;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    size_t e = 0;
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) e++;
    if (!e) return 0;
  }
  return i == len;
}

/* A count field: a plain decimal number in [CSV_COUNT_MIN, CSV_COUNT_MAX] (csv.h).
 * Every refusal names the file, the line, the column and what is allowed. */
static int parse_count(const reader *r, size_t line, long column, const field *f, double *out, ps_msg *m) {
  char text[64];
  const char *why = NULL, *note = "";
  double v = NAN;
  if (f->len < sizeof text) {
    memcpy(text, f->s, f->len);
    text[f->len] = 0;
  }
  if (f->len == 0) {
    why = "is empty";
  } else if (f->len >= sizeof text || !plain_decimal(f->s, f->len)) {
    why = "is not a plain decimal number";
    if (f->len < sizeof text) {
      char *rest;
      double x = strtod(text, &rest);
      if (*rest == 0 && rest != text) /* strtod takes it: say what it is */
        why = isnan(x) ? "is not a number (nan)" : isinf(x) ? "is not finite" : "is hexadecimal, not a plain decimal number";
    }
  } else {
    v = strtod(text, NULL); /* a plain decimal: strtod reads all of it (inf when it overflows) */
    if (!(v > 0)) {
      why = "is not positive", note = " (counts are multiplicities or weights > 0)";
    } else if (v < CSV_COUNT_MIN) {
      why = v < DBL_MIN ? "is below the floor (a subnormal number)" : "is below the floor";
      note = " (rescale every count by one constant instead)";
    } else if (!(v <= CSV_COUNT_MAX)) {
      why = isinf(v) ? "is above the ceiling (it overflows a double)" : "is above the ceiling";
      note = " (the fits sum and square counts: larger ones overflow them or swamp every other count)";
    }
  }
  if (!why) {
    *out = v;
    return PS_OK;
  }
  int show = f->len > SHOW ? SHOW : (int)f->len;
  return ps_fail(m, PS_EFORMAT,
                 "%s:%zu: count '%.*s' (column %ld) %s; allowed: a plain decimal number (digits, an optional '.' "
                 "and exponent: 3, 0.5, 1.5e3) in [%g, %g]%s",
                 r->name, line, show, f->s, column + 1, why, CSV_COUNT_MIN, CSV_COUNT_MAX, note);
}

static int intern(name_table *t, const reader *r, size_t line, const field *f, const char *what,
                  int32_t *id, ps_msg *m) {
  if (f->len == 0) return ps_fail(m, PS_EFORMAT, "%s:%zu: empty %s", r->name, line, what);
  int s = names_intern(t, f->s, f->len, id);
  if (s == PS_ENOMEM) return ps_fail(m, PS_ENOMEM, "%s:%zu: out of memory storing names", r->name, line);
  if (s != PS_OK) return ps_fail(m, PS_EFORMAT, "%s:%zu: more than %d distinct names", r->name, line, INT32_MAX);
  return PS_OK;
}

/* --------------------------------------------------------------- parsing */

static int intern_item(void *t, const char *s, size_t len, int32_t *id) { return names_intern(t, s, len, id); }

/* The data rows of a ranking file (csv.h): out->rank, and out->data empty (no pairs)
 * with the item and annotator counts; the ranking and set fields are csv_rank.c's. */
static int parse_rankings(reader *r, size_t header_line, size_t n_fields, const long col[N_COLS], size_t max_rows,
                          name_table *items, name_table *annotators, csv_comparisons *out, ps_msg *m) {
  csv_rank_builder b;
  memset(&b, 0, sizeof b);
  size_t k = max_rows ? max_rows : 1, line = header_line;
  int got, st = PS_OK;
  double *count = col[COL_COUNT] >= 0 ? malloc(k * sizeof *count) : NULL;
  int32_t *ann = col[COL_ANNOTATOR] >= 0 ? malloc(k * sizeof *ann) : NULL;
  if ((col[COL_COUNT] >= 0 && !count) || (col[COL_ANNOTATOR] >= 0 && !ann))
    st = ps_fail(m, PS_ENOMEM, "%s: out of memory for %zu rows", r->name, max_rows);
  while (st == PS_OK && (st = next_record(r, &got, &line, m)) == PS_OK && got) {
    if (r->nf != n_fields) {
      st = ps_fail(m, PS_EFORMAT, "%s:%zu: %zu field%s, but the header (line %zu) has %zu; a name containing a "
                   "comma must be quoted (\"...\")", r->name, line, r->nf, r->nf == 1 ? "" : "s", header_line, n_fields);
      break;
    }
    size_t i = b.d.n;
    const field *rk = &r->f[col[COL_RANKING]], *set = col[COL_SET] >= 0 ? &r->f[col[COL_SET]] : NULL;
    st = csv_rank_row(&b, r->name, line, col[COL_RANKING], rk->s, rk->len, col[COL_SET], set ? set->s : NULL,
                      set ? set->len : 0, col[COL_RANKING] < col[COL_SET] || !set, intern_item, items, m);
    if (st == PS_OK && count) st = parse_count(r, line, col[COL_COUNT], &r->f[col[COL_COUNT]], &count[i], m);
    if (st == PS_OK && ann) st = intern(annotators, r, line, &r->f[col[COL_ANNOTATOR]], "annotator", &ann[i], m);
  }
  if (st == PS_OK && b.d.n == 0)
    st = ps_fail(m, PS_EFORMAT, "%s:%zu: the header is not followed by any data rows", r->name, header_line);
  csv_rank_builder_done(&b);
  if (st == PS_OK && pref_data_alloc(&out->data, 0, items->n, 0, 0, 0) != PS_OK)
    st = ps_fail(m, PS_ENOMEM, "%s: out of memory", r->name);
  if (st != PS_OK) {
    free(count), free(ann);
    rank_data_free(&b.d);
    pref_data_free(&out->data);
    return st;
  }
  b.d.n_items = items->n;
  b.d.count = count;
  b.d.annotator = ann;
  b.d.n_annotators = ann ? annotators->n : 1;
  out->data.n_annotators = b.d.n_annotators;
  out->rank = b.d;
  return PS_OK;
}

/* Parse buf[0..len) (modified in place: quoted fields are unescaped), which has
 * at most max_rows lines (scan_lines counted them). */
static int parse(const char *name, char *buf, size_t len, size_t max_rows, const char *columns, csv_comparisons *out,
                 ps_msg *m) {
  memset(out, 0, sizeof *out);
  reader r = {.name = name, .buf = buf, .len = len, .line = 1};
  name_table items = {0}, annotators = {0};
  pref_data d;
  memset(&d, 0, sizeof d);
  int got, status;
  size_t line = 1, header_line;
  long col[N_COLS];
  int crowd = 0;
  col_map map;
  if ((status = parse_map(columns, &map, m)) != PS_OK) return status;

  if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) r.pos = 3;
  status = next_record(&r, &got, &line, m);
  if (status != PS_OK) goto fail;
  if (!got) {
    status = ps_fail(m, PS_EFORMAT,
                     "%s: the file is empty; expected a header row with columns winner,loser "
                     "(optionally count, annotator) and one comparison per row",
                     name);
    goto fail;
  }
  header_line = line;
  size_t n_fields = r.nf;
  status = find_columns(&r, line, &map, col, &crowd, m);
  if (status != PS_OK) goto fail;

  if (col[COL_RANKING] >= 0) {
    status = parse_rankings(&r, header_line, n_fields, col, max_rows, &items, &annotators, out, m);
    if (status == PS_OK) goto names;
    goto fail;
  }
  if (pref_data_alloc(&d, max_rows, 0, col[COL_ANNOTATOR] >= 0, col[COL_FIRST] >= 0, col[COL_COUNT] >= 0) != PS_OK) {
    status = ps_fail(m, PS_ENOMEM, "%s: out of memory for %zu rows", name, max_rows);
    goto fail;
  }
  if (col[COL_TIE] >= 0 && pref_data_alloc_ties(&d) != PS_OK) {
    status = ps_fail(m, PS_ENOMEM, "%s: out of memory for %zu rows", name, max_rows);
    goto fail;
  }
  static const char *const what[2] = {"winner name", "loser name"};
  size_t n = 0;
  for (;;) {
    status = next_record(&r, &got, &line, m);
    if (status != PS_OK) goto fail;
    if (!got) break;
    if (r.nf != n_fields) {
      status = ps_fail(m, PS_EFORMAT,
                       "%s:%zu: %zu field%s, but the header (line %zu) has %zu; a name containing a "
                       "comma must be quoted (\"...\")",
                       name, line, r.nf, r.nf == 1 ? "" : "s", header_line, n_fields);
      goto fail;
    }
    /* the winner's and the loser's fields: named, or (crowd-kit) the one of left and
     * right that label names, and the other */
    const field *f[2];
    const char *role[2] = {what[0], what[1]};
    if (crowd) {
      const field *a = &r.f[col[COL_LEFT]], *b = &r.f[col[COL_RIGHT]], *lab = &r.f[col[COL_LABEL]];
      int left_won = lab->len == a->len && !memcmp(lab->s, a->s, a->len);
      if (!left_won && !(lab->len == b->len && !memcmp(lab->s, b->s, b->len))) {
        status = ps_fail(m, PS_EFORMAT,
                         "%s:%zu: label '%.*s' (column %ld) is neither left '%.*s' (column %ld) nor right '%.*s' "
                         "(column %ld); allowed: the name of the winning item, exactly as in left or right",
                         name, line, lab->len > SHOW ? SHOW : (int)lab->len, lab->s, col[COL_LABEL] + 1,
                         a->len > SHOW ? SHOW : (int)a->len, a->s, col[COL_LEFT] + 1, b->len > SHOW ? SHOW : (int)b->len,
                         b->s, col[COL_RIGHT] + 1);
        goto fail;
      }
      f[0] = left_won ? a : b, f[1] = left_won ? b : a;
      role[0] = left_won ? "left name" : "right name", role[1] = left_won ? "right name" : "left name";
    } else {
      f[0] = &r.f[col[COL_WINNER]], f[1] = &r.f[col[COL_LOSER]];
    }
    /* intern in the order the two names appear on the line */
    int first = f[0] < f[1] ? 0 : 1;
    int32_t id[2];
    for (int k = 0; k < 2; k++) {
      int c = k == 0 ? first : 1 - first;
      status = intern(&items, &r, line, f[c], role[c], &id[c], m);
      if (status != PS_OK) goto fail;
    }
    if (id[0] == id[1]) {
      status = ps_fail(m, PS_EFORMAT,
                       "%s:%zu: %s are the same item '%.*s'; an item cannot be compared "
                       "with itself",
                       name, line, crowd ? "left and right" : "winner and loser",
                       f[0]->len > SHOW ? SHOW : (int)f[0]->len, f[0]->s);
      goto fail;
    }
    d.winner[n] = id[0];
    d.loser[n] = id[1];
    if (col[COL_COUNT] >= 0) {
      status = parse_count(&r, line, col[COL_COUNT], &r.f[col[COL_COUNT]], &d.count[n], m);
      if (status != PS_OK) goto fail;
    }
    if (col[COL_ANNOTATOR] >= 0) {
      status = intern(&annotators, &r, line, &r.f[col[COL_ANNOTATOR]], "annotator", &d.annotator[n], m);
      if (status != PS_OK) goto fail;
    }
    if (col[COL_TIE] >= 0) { /* 1: the two items tied (their order is then irrelevant); 0: a strict row */
      const field *ft = &r.f[col[COL_TIE]];
      if (ft->len != 1 || (ft->s[0] != '0' && ft->s[0] != '1')) {
        status = ps_fail(m, PS_EFORMAT,
                         "%s:%zu: tie '%.*s' (column %ld) is not 0 or 1; allowed: 1 (winner and loser tied, "
                         "their order irrelevant) or 0 (winner preferred to loser)",
                         name, line, ft->len > SHOW ? SHOW : (int)ft->len, ft->s, col[COL_TIE] + 1);
        goto fail;
      }
      d.tie[n] = (uint8_t)(ft->s[0] == '1');
    }
    if (col[COL_FIRST] >= 0) {
      /* the first-shown item, for position-bias models: the winner's or the loser's name */
      const field *fs = &r.f[col[COL_FIRST]], *w = f[0], *l = f[1];
      if (fs->len == w->len && !memcmp(fs->s, w->s, fs->len)) d.first_won[n] = 1;
      else if (fs->len == l->len && !memcmp(fs->s, l->s, fs->len)) d.first_won[n] = 0;
      else {
        status = ps_fail(m, PS_EFORMAT, "%s:%zu: first '%.*s' is neither the winner nor the loser of the row", name,
                         line, fs->len > SHOW ? SHOW : (int)fs->len, fs->s);
        goto fail;
      }
    }
    n++;
  }
  if (n == 0) {
    status = ps_fail(m, PS_EFORMAT, "%s:%zu: the header is not followed by any data rows", name,
                     header_line);
    goto fail;
  }
  if (items.n < 2) { /* cannot happen with winner != loser, kept as a guard */
    status = ps_fail(m, PS_EFORMAT, "%s: only %zu distinct item; at least 2 are needed", name, items.n);
    goto fail;
  }
  d.n = n;
  d.n_items = items.n;
  d.n_annotators = col[COL_ANNOTATOR] >= 0 ? annotators.n : 1;
  out->data = d;
  memset(&d, 0, sizeof d);
names:
  out->item_name = names_export(&items);
  if (col[COL_ANNOTATOR] >= 0) out->annotator_name = names_export(&annotators);
  if (!out->item_name || (col[COL_ANNOTATOR] >= 0 && !out->annotator_name)) {
    csv_comparisons_free(out);
    status = ps_fail(m, PS_ENOMEM, "%s: out of memory for the name tables", name);
    goto fail;
  }
  names_free(&items);
  names_free(&annotators);
  free(r.f);
  return PS_OK;

fail:
  pref_data_free(&d);
  names_free(&items);
  names_free(&annotators);
  free(r.f);
  return status;
}

/* ------------------------------------------------------------ reading */

/* "4294967296 bytes (4 GiB)" */
static const char *show_size(uint64_t n, char *b, size_t size) {
  static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
  int k = -1;
  double x = (double)n;
  while (k < 3 && x >= 1024) x /= 1024, k++;
  if (k < 0) snprintf(b, size, "%" PRIu64 " bytes", n);
  else if (x == floor(x)) snprintf(b, size, "%" PRIu64 " bytes (%.0f %s)", n, x, unit[k]);
  else snprintf(b, size, "%" PRIu64 " bytes (%.1f %s)", n, x, unit[k]);
  return b;
}

/* The scan of the lines read so far (scan_lines). */
typedef struct {
  const char *name;
  size_t line;     /* 1-based number of the line starting at start */
  size_t start;    /* offset of the current line's first byte */
  size_t done;     /* bytes scanned */
  size_t newlines; /* line feeds seen */
} line_scan;

static int bare_cr(const line_scan *s, ps_msg *m) {
  return ps_fail(m, PS_EFORMAT,
                 "%s:%zu: a carriage return (\\r) not followed by a line feed: the file has old Mac (CR-only) line "
                 "ends, or a stray CR inside a line; allowed line ends: \\n or \\r\\n (convert CR-only line ends "
                 "with: tr '\\r' '\\n' < OLD > NEW)",
                 s->name, s->line);
}

/* The line b[s->start .. end): at most CSV_MAX_LINE_BYTES bytes, and no carriage
 * return except its last byte when last_cr_ok (the CR of CRLF, or of a file's end),
 * which does not count in its length. */
static int check_line(const line_scan *s, const char *b, size_t end, int last_cr_ok, ps_msg *m) {
  size_t len = end - s->start;
  const char *cr = memchr(b + s->start, '\r', len > CSV_MAX_LINE_BYTES ? CSV_MAX_LINE_BYTES : len);
  if (cr && !(last_cr_ok && (size_t)(cr - b) == end - 1)) return bare_cr(s, m);
  if (last_cr_ok && len && b[end - 1] == '\r') len--; /* the line end is not part of the line */
  if (len > CSV_MAX_LINE_BYTES) {
    char lim[64];
    return ps_fail(m, PS_EFORMAT,
                   "%s:%zu: the line is longer than the limit of %s per line (CSV_MAX_LINE_BYTES); a comparison "
                   "row is two names and a few short fields, so this is not a comparison CSV (or a quote is "
                   "missing its end)",
                   s->name, s->line, show_size(CSV_MAX_LINE_BYTES, lim, sizeof lim));
  }
  return PS_OK;
}

/* Scan b[s->done .. len): each complete line, and the unfinished last one as soon
 * as it is too long; at the end of the input (eof) the last line as well. */
static int scan_lines(line_scan *s, const char *b, size_t len, int eof, ps_msg *m) {
  size_t p = s->done;
  int st;
  while (p < len) {
    const char *nl = memchr(b + p, '\n', len - p);
    if (!nl) break;
    size_t e = (size_t)(nl - b);
    if ((st = check_line(s, b, e, 1, m)) != PS_OK) return st;
    s->newlines++;
    s->line++;
    s->start = p = e + 1;
  }
  s->done = len;
  if (len - s->start > CSV_MAX_LINE_BYTES || (eof && len > s->start))
    return check_line(s, b, len, eof, m);
  return PS_OK;
}

static int too_big(const char *name, size_t line, uint64_t size, uint64_t max, const char *hint, ps_msg *m) {
  char a[64], b[64];
  if (line)
    return ps_fail(m, PS_EFORMAT, "%s:%zu: the input passes the limit of %s for an input file at this line%s%s",
                   name, line, show_size(max, b, sizeof b), hint ? "; " : "", hint ? hint : "");
  return ps_fail(m, PS_EFORMAT, "%s: the file is %s, above the limit of %s for an input file%s%s", name,
                 show_size(size, a, sizeof a), show_size(max, b, sizeof b), hint ? "; " : "", hint ? hint : "");
}

/* The stream into a malloc'd buffer, in chunks scanned as they arrive; *rows gets a
 * bound on the rows (the lines).  A regular file's size is checked before any byte
 * is read. */
static int read_all(FILE *fp, const char *name, const csv_limits *lim, char **buf, size_t *len, size_t *rows,
                    ps_msg *m) {
  uint64_t max = lim && lim->max_file_bytes ? lim->max_file_bytes : CSV_DEFAULT_MAX_FILE_BYTES;
  const char *hint = lim ? lim->size_hint : NULL;
  size_t cap = 1 << 16, n = 0, chunk = (size_t)1 << 20;
  /* the buffer never grows past max + 1 bytes: one byte over the limit is enough to know */
  size_t cap_max = max >= SIZE_MAX ? SIZE_MAX : (size_t)max + 1;
  struct stat st;
  if (fstat(fileno(fp), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return ps_fail(m, PS_EIO, "%s: is a directory, not a CSV file", name);
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) return too_big(name, 0, (uint64_t)st.st_size, max, hint, m);
    if (S_ISREG(st.st_mode) && st.st_size > 0) cap = (size_t)st.st_size + 1;
  }
  char *b = malloc(cap);
  if (!b) return ps_fail(m, PS_ENOMEM, "%s: out of memory reading the file", name);
  line_scan sc = {.name = name, .line = 1};
  int status = PS_OK;
  for (;;) {
    if (n == cap) {
      size_t c = cap <= cap_max / 2 ? 2 * cap : cap_max;
      char *q = c > cap ? realloc(b, c) : NULL;
      if (!q) {
        status = c > cap ? ps_fail(m, PS_ENOMEM, "%s: out of memory reading the file", name)
                         : too_big(name, sc.line, n, max, hint, m);
        break;
      }
      b = q;
      cap = c;
    }
    size_t k = fread(b + n, 1, cap - n < chunk ? cap - n : chunk, fp);
    n += k;
    if ((uint64_t)n > max) {
      status = too_big(name, sc.line, n, max, hint, m);
      break;
    }
    if ((status = scan_lines(&sc, b, n, k == 0, m)) != PS_OK || k == 0) break;
  }
  if (status == PS_OK && ferror(fp)) {
    int e = errno;
    status = ps_fail(m, PS_EIO, "%s: read error: %s", name, strerror(e));
  }
  if (status != PS_OK) {
    free(b);
    return status;
  }
  *buf = b;
  *len = n;
  *rows = sc.newlines + 1;
  return PS_OK;
}

int csv_read_comparisons_limited(const char *path, const csv_limits *lim, csv_comparisons *out, ps_msg *m) {
  memset(out, 0, sizeof *out);
  int from_stdin = strcmp(path, "-") == 0;
  const char *name = from_stdin ? "<stdin>" : path;
  FILE *fp = from_stdin ? stdin : fopen(path, "rb");
  if (!fp) return ps_fail(m, PS_EIO, "%s: cannot open: %s", name, strerror(errno));
  char *buf = NULL;
  size_t len = 0, rows = 0;
  int status = read_all(fp, name, lim, &buf, &len, &rows, m);
  if (!from_stdin) fclose(fp);
  if (status != PS_OK) return status;
  status = parse(name, buf, len, rows, lim ? lim->columns : NULL, out, m);
  free(buf);
  return status;
}

int csv_read_comparisons(const char *path, csv_comparisons *out, ps_msg *m) {
  return csv_read_comparisons_limited(path, NULL, out, m);
}

int csv_parse_comparisons(const char *name, const char *text, size_t len, csv_comparisons *out,
                          ps_msg *m) {
  memset(out, 0, sizeof *out);
  line_scan sc = {.name = name, .line = 1};
  int status = scan_lines(&sc, text, len, 1, m);
  if (status != PS_OK) return status;
  char *buf = malloc(len ? len : 1);
  if (!buf) return ps_fail(m, PS_ENOMEM, "%s: out of memory", name);
  if (len) memcpy(buf, text, len);
  status = parse(name, buf, len, sc.newlines + 1, NULL, out, m);
  free(buf);
  return status;
}

void csv_comparisons_free(csv_comparisons *c) {
  if (!c) return;
  pref_data_free(&c->data);
  rank_data_free(&c->rank);
  free(c->item_name);
  free(c->annotator_name);
  memset(c, 0, sizeof *c);
}
