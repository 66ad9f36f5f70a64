/* csv_rank.h — the `ranking` and `set` fields of a ranking CSV (format in csv.h),
 * appended to a growing rank_data.  csv.c reads the records and the other columns;
 * this file splits and checks the two fields of one row. */
#ifndef PS_CLI_CSV_RANK_H
#define PS_CLI_CSV_RANK_H

#include <stddef.h>
#include <stdint.h>

#include "../core/rankdata.h"

/* Intern the name s[0..len) (non-empty) into *id: PS_OK, PS_ENOMEM or PS_EINVAL (too many names). */
typedef int (*csv_rank_intern)(void *ctx, const char *s, size_t len, int32_t *id);

typedef struct {
  rank_data d;      /* d.n rankings so far; off, item, k grown here; count / annotator by the caller */
  size_t cap_n, cap_items;
  uint32_t *stamp;  /* per item id: 1 + the row that last saw it (duplicate and subset tests) */
  size_t cap_stamp;
  int32_t *tmp;     /* the set's ids of the current row */
  size_t cap_tmp;
} csv_rank_builder;

/* One row: rank (best first, '>'-separated) and set ('|'-separated; NULL when the
 * file has no set column, or an empty field: the ranking is full).  rank_first:
 * the ranking column comes before the set column (names are interned left to
 * right).  Each refusal is PS_EFORMAT with "FILE:LINE: ..." naming the column
 * (1-based) and the item: an empty ranking, an empty name between separators, an
 * item twice in the ranking or in the set, a ranked item outside its set, a set of
 * one item, a ranking of one item without a set.  PS_ENOMEM. */
int csv_rank_row(csv_rank_builder *b, const char *file, size_t line, long rank_col, const char *rank,
                 size_t rank_len, long set_col, const char *set, size_t set_len, int rank_first,
                 csv_rank_intern intern, void *ctx, ps_msg *m);

/* Free the builder's scratch (not b->d, which the caller keeps or frees). */
void csv_rank_builder_done(csv_rank_builder *b);

#endif
