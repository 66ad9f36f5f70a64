/* csv.h — pairwise comparisons from a CSV file ("winner,loser[,count][,annotator][,first]").
 *
 * Format (RFC 4180 with a few relaxations):
 *   - The first non-blank line is a header.  Columns are found by name, in any
 *     order, case-insensitively: `winner` and `loser` are required; `count` (a
 *     positive finite real: the row's multiplicity), `annotator` (any label) and
 *     `first` (the name of the item shown first: the winner's or the loser's; for
 *     position-bias models) are optional; every other column is ignored.
 *   - Fields are separated by commas.  A field may be quoted with "..."; inside
 *     quotes a doubled "" stands for one ", and commas, spaces, apostrophes and
 *     any UTF-8 are kept verbatim.  A quoted field must close on its own line.
 *     Spaces and tabs around a field (outside the quotes) are trimmed.
 *   - Lines end in \n or \r\n; blank lines are skipped; a UTF-8 byte-order mark
 *     at the start is skipped.
 *   - Every data row has as many fields as the header, non-empty winner and loser
 *     names, and winner != loser.
 * Item names get ids 0, 1, ... in order of first appearance in the file (reading
 * rows top to bottom and each row left to right); annotator labels likewise. */
#ifndef PS_EXPERIMENTS_CSV_H
#define PS_EXPERIMENTS_CSV_H

#include <stddef.h>

#include "../core/prefdata.h"
#include "../core/ps.h"

typedef struct {
  pref_data data;        /* winner, loser; count when the file has a count column (else NULL);
                            annotator and n_annotators when it has an annotator column (else
                            NULL and 1); first_won when it has a first column (else NULL) */
  char **item_name;      /* data.n_items NUL-terminated names, indexed by item id */
  char **annotator_name; /* data.n_annotators labels by annotator id, or NULL */
} csv_comparisons;

/* Read the comparisons in the CSV file at path ("-" reads standard input) into
 * out, which the caller releases with csv_comparisons_free.  The whole file is
 * read at once and names are interned through a hash table, so the cost is
 * linear in the file size.  Returns PS_OK; PS_EIO when the file cannot be read;
 * PS_EFORMAT for a malformed file, with a message "PATH:LINE: what is wrong"
 * (or "PATH: ..." when no single line is at fault); PS_ENOMEM.  On failure out
 * is left empty (all zero) and needs no freeing. */
int csv_read_comparisons(const char *path, csv_comparisons *out, ps_msg *m);

/* As csv_read_comparisons, from the len bytes at text (which need not be
 * NUL-terminated and are not modified); name is used in messages. */
int csv_parse_comparisons(const char *name, const char *text, size_t len, csv_comparisons *out,
                          ps_msg *m);

/* Release everything csv_read_comparisons allocated and zero c.  NULL is allowed. */
void csv_comparisons_free(csv_comparisons *c);

#endif
