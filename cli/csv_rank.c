/* csv_rank.c — splitting and checking the `ranking` and `set` fields (csv_rank.h). */
#include "csv_rank.h"

#include <stdlib.h>
#include <string.h>

#define SHOW 80

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return p;
  size_t c = *cap ? *cap : 64;
  while (c < need) c *= 2;
  void *q = realloc(p, c * elem);
  if (q) *cap = c;
  return q;
}

static int trim_space(char c) { return c == ' ' || c == '\t'; }

/* Split s[0..len) at sep into trimmed tokens and intern each; ids appended to *out
 * (n, cap).  what names the column in messages. */
static int split(const char *file, size_t line, long col, const char *what, const char *s, size_t len, char sep,
                 csv_rank_intern intern, void *ctx, int32_t **out, size_t *n, size_t *cap, ps_msg *m) {
  size_t a = 0;
  int show = len > SHOW ? SHOW : (int)len;
  for (;;) {
    size_t e = a;
    while (e < len && s[e] != sep) e++;
    size_t p = a, q = e;
    while (p < q && trim_space(s[p])) p++;
    while (q > p && trim_space(s[q - 1])) q--;
    if (p == q)
      return ps_fail(m, PS_EFORMAT,
                     "%s:%zu: %s '%.*s' (column %ld) has an empty item name%s; write items separated by '%c'", file,
                     line, what, show, s, col + 1, len ? " between separators" : "", sep);
    int32_t *v = grow(*out, cap, *n + 1, sizeof **out);
    if (!v) return ps_fail(m, PS_ENOMEM, "%s:%zu: out of memory", file, line);
    *out = v;
    int st = intern(ctx, s + p, q - p, &v[*n]);
    if (st == PS_ENOMEM) return ps_fail(m, PS_ENOMEM, "%s:%zu: out of memory storing names", file, line);
    if (st != PS_OK) return ps_fail(m, PS_EFORMAT, "%s:%zu: too many distinct names", file, line);
    (*n)++;
    if (e == len) return PS_OK;
    a = e + 1;
  }
}

static int stamps(csv_rank_builder *b, size_t need, const char *file, size_t line, ps_msg *m) {
  if (need <= b->cap_stamp) return PS_OK;
  size_t old = b->cap_stamp;
  uint32_t *s = grow(b->stamp, &b->cap_stamp, need, sizeof *s);
  if (!s) return ps_fail(m, PS_ENOMEM, "%s:%zu: out of memory", file, line);
  memset(s + old, 0, (b->cap_stamp - old) * sizeof *s);
  b->stamp = s;
  return PS_OK;
}

int csv_rank_row(csv_rank_builder *b, const char *file, size_t line, long rank_col, const char *rank,
                 size_t rank_len, long set_col, const char *set, size_t set_len, int rank_first,
                 csv_rank_intern intern, void *ctx, ps_msg *m) {
  rank_data *d = &b->d;
  int rshow = rank_len > SHOW ? SHOW : (int)rank_len, sshow = set_len > SHOW ? SHOW : (int)set_len;
  if (rank_len == 0)
    return ps_fail(m, PS_EFORMAT, "%s:%zu: empty ranking (column %ld); write the items best first, e.g. a>c>b", file,
                   line, rank_col + 1);
  if (set && set_len == 0) set = NULL;
  /* room for the row: its ranked items go straight into d->item, the set into tmp */
  if (d->n + 2 > b->cap_n) {
    size_t cap = b->cap_n;
    size_t *off = grow(d->off, &cap, d->n + 2, sizeof *off);
    if (!off) return ps_fail(m, PS_ENOMEM, "%s:%zu: out of memory", file, line);
    d->off = off;
    int32_t *k = realloc(d->k, cap * sizeof *k);
    if (!k) return ps_fail(m, PS_ENOMEM, "%s:%zu: out of memory", file, line);
    d->k = k;
    b->cap_n = cap;
    if (d->n == 0) d->off[0] = 0;
  }
  size_t start = d->off[d->n], n_items = start, n_set = 0;
  int s = PS_OK;
  for (int pass = 0; pass < 2 && s == PS_OK; pass++) {
    if ((pass == 0) == (rank_first || !set))
      s = split(file, line, rank_col, "ranking", rank, rank_len, '>', intern, ctx, &d->item, &n_items,
                &b->cap_items, m);
    else if (set)
      s = split(file, line, set_col, "set", set, set_len, '|', intern, ctx, &b->tmp, &n_set, &b->cap_tmp, m);
  }
  if (s != PS_OK) return s;
  size_t need = 0;
  for (size_t i = start; i < n_items; i++)
    if ((size_t)d->item[i] + 1 > need) need = (size_t)d->item[i] + 1;
  for (size_t i = 0; i < n_set; i++)
    if ((size_t)b->tmp[i] + 1 > need) need = (size_t)b->tmp[i] + 1;
  if ((s = stamps(b, need, file, line, m)) != PS_OK) return s;
  uint32_t mark = (uint32_t)(2 * d->n + 1), in_set = mark + 1; /* this row's two stamps */
  size_t kr = n_items - start;
  /* the set: no repeats, at least 2 items, stamped in_set */
  for (size_t i = 0; i < n_set; i++) {
    int32_t id = b->tmp[i];
    if (b->stamp[id] == in_set)
      return ps_fail(m, PS_EFORMAT, "%s:%zu: set '%.*s' (column %ld) lists an item twice", file, line, sshow, set,
                     set_col + 1);
    b->stamp[id] = in_set;
  }
  if (set && n_set < 2)
    return ps_fail(m, PS_EFORMAT, "%s:%zu: set '%.*s' (column %ld) offers one item; a ranking needs at least 2",
                   file, line, sshow, set, set_col + 1);
  /* the ranking: no repeats, inside the set, stamped mark */
  for (size_t i = 0; i < kr; i++) {
    int32_t id = d->item[start + i];
    if (b->stamp[id] == mark)
      return ps_fail(m, PS_EFORMAT,
                     "%s:%zu: ranking '%.*s' (column %ld) repeats an item; each item may appear once in a ranking",
                     file, line, rshow, rank, rank_col + 1);
    if (set && b->stamp[id] != in_set)
      return ps_fail(m, PS_EFORMAT, "%s:%zu: ranking '%.*s' (column %ld) ranks an item outside its set '%.*s' (column %ld)",
                     file, line, rshow, rank, rank_col + 1, sshow, set, set_col + 1);
    b->stamp[id] = mark;
  }
  if (!set && kr < 2)
    return ps_fail(m, PS_EFORMAT,
                   "%s:%zu: ranking '%.*s' (column %ld) has one item, which says nothing; rank at least 2, or give "
                   "the offered items in a set column for a top-1 choice",
                   file, line, rshow, rank, rank_col + 1);
  /* the unranked rest of the set after the ranked items */
  for (size_t i = 0; i < n_set; i++)
    if (b->stamp[b->tmp[i]] != mark) {
      int32_t *v = grow(d->item, &b->cap_items, n_items + 1, sizeof *v);
      if (!v) return ps_fail(m, PS_ENOMEM, "%s:%zu: out of memory", file, line);
      d->item = v;
      d->item[n_items++] = b->tmp[i];
    }
  d->k[d->n] = (int32_t)kr;
  d->off[++d->n] = n_items;
  return PS_OK;
}

void csv_rank_builder_done(csv_rank_builder *b) {
  free(b->stamp);
  free(b->tmp);
  b->stamp = NULL;
  b->tmp = NULL;
  b->cap_stamp = b->cap_tmp = 0;
}
