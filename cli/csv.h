/* csv.h — pairwise comparisons from a CSV file ("winner,loser[,count][,annotator][,first][,tie]",
 * or crowd-kit's "worker,left,right,label").
 *
 * Format (RFC 4180 with a few relaxations):
 *   - The first non-blank line is a header.  Columns are found by name, in any
 *     order, case-insensitively: `winner` and `loser` are required; `count` (the
 *     row's multiplicity or weight, see below), `annotator` (any label; `worker`
 *     is accepted as its name) and `first` (the name of the item shown first: the
 *     winner's or the loser's; for position-bias models) are optional; every other
 *     column is ignored.
 *   - crowd-kit's pairwise layout (its BradleyTerry and NoisyBT): a header without
 *     winner and loser but with `left`, `right` and `label` gives each row the pair
 *     left, right and its winner label, which must equal left or right exactly (the
 *     loser is the other one); `worker` is the annotator.
 *   - csv_limits.columns ("ROLE=NAME,...", the --columns option) names the column of
 *     a role (winner, loser, count, annotator, first, left, right, label, tie,
 *     ranking, set) when the
 *     header calls it something else: that column, and only it, plays the role.  An
 *     unknown role, a role mapped twice or a column mapped to two roles is PS_EINVAL
 *     (csv_columns_check says so before any file is read); a mapped name missing
 *     from the header is PS_EFORMAT naming the file, the line and the columns found.
 *   - Fields are separated by commas.  A field may be quoted with "..."; inside
 *     quotes a doubled "" stands for one ", and commas, spaces, apostrophes and
 *     any UTF-8 are kept verbatim.  A quoted field must close on its own line.
 *     Spaces and tabs around a field (outside the quotes) are trimmed.
 *   - Lines end in \n or \r\n; blank lines are skipped; a UTF-8 byte-order mark
 *     at the start is skipped.  A carriage return not followed by \n (old Mac
 *     CR-only line ends, or a stray CR inside a line) is an error naming its line;
 *     a lone CR as the very last byte is a line end.
 *   - Every data row has as many fields as the header, non-empty winner and loser
 *     names, and winner != loser.
 *   - A count is a plain decimal number (optional '+', digits with an optional '.'
 *     and an optional exponent: 3, 0.5, .25, 1.5e3) in [CSV_COUNT_MIN,
 *     CSV_COUNT_MAX]: hexadecimal (0x10), inf, nan, zero, negative numbers and
 *     subnormal numbers are refused.
 * Rankings: a `ranking` column instead of winner and loser holds the items best first
 * separated by '>' (a>c>b); an optional `set` column the offered items separated by
 * '|' (a|b|c|d) when the ranking is a top-k of a larger set (an empty set field: the
 * ranking is full); `count` and `annotator` as for pairs (`first` is refused).  Names
 * are trimmed.  Refused, naming the file, line and column: an empty ranking or name,
 * an item twice in a ranking or a set, a ranked item outside its set, a set of one
 * item, a ranking of one item without a set (with one it is a top-1 choice).  Read
 * into csv_comparisons.rank (core/rankdata.h: the ranked items, then the rest of the set).
 * Limits (each refusal names the limit and the file, and the line where there is
 * one): a line may hold at most CSV_MAX_LINE_BYTES bytes, and the file at most
 * limits->max_file_bytes (CSV_DEFAULT_MAX_FILE_BYTES by default).  Both are checked
 * while the file is read: a regular file's size is checked with fstat before any
 * byte is read, a stream's as it arrives, and a line's length as soon as it passes
 * the limit, so no oversized input is ever read whole.
 * Item names get ids 0, 1, ... in order of first appearance in the file (reading
 * rows top to bottom and each row left to right); annotator labels likewise. */
#ifndef PS_EXPERIMENTS_CSV_H
#define PS_EXPERIMENTS_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "../core/prefdata.h"
#include "../core/ps.h"
#include "../core/rankdata.h"

/* Counts: the smallest and the largest accepted.  The fits sum counts (the total
 * weight, log-likelihoods, gradients) and form products of two or three of them
 * (Hessians, sandwich variances).  With every count in [1e-6, 1e12] and at most
 * ~1e9 rows (a 4 GiB file) a sum stays below 1e21, a sum of squares below 1e33 and of
 * cubes below 1e45: far from overflow (1.8e308), where counts of 1e308 made
 * objectives and gradients infinite and 1e26 swamped every count of 1 in bt's
 * gradient.  The floor keeps every count a normal double (no subnormal, which has
 * lost digits) whose products with probabilities stay representable.  1e12 is far
 * above any real multiplicity (a trillion comparisons of one pair); weights below
 * 1e-6 can be rescaled (multiply every count by one constant). */
#define CSV_COUNT_MIN 1e-6
#define CSV_COUNT_MAX 1e12

/* The longest line accepted, in bytes without its line end (1 MiB: a comparison
 * row is two names and three short fields; a longer line is not a comparison). */
#define CSV_MAX_LINE_BYTES ((size_t)1 << 20)

/* The largest file accepted by default, in bytes (4 GiB).  The reader keeps the
 * file in memory while it parses it, plus 8 to 21 bytes per row (winner, loser,
 * count, annotator, first): a 4 GiB file of 20-byte rows needs about 8.5 GB. */
#define CSV_DEFAULT_MAX_FILE_BYTES ((uint64_t)4 << 30)

typedef struct {
  uint64_t max_file_bytes;  /* 0: CSV_DEFAULT_MAX_FILE_BYTES */
  const char *size_hint;    /* appended to the file-size message (how to raise the
                               limit, e.g. "rerun with --max-input-size SIZE"), or NULL */
  const char *columns;      /* "ROLE=NAME,...": the header names of mapped roles, or NULL */
} csv_limits;

/* Check a --columns mapping ("winner=left,loser=right,annotator=worker,count=n"):
 * PS_OK, or PS_EINVAL with a message naming the bad part and what is allowed. */
int csv_columns_check(const char *spec, ps_msg *m);

typedef struct {
  pref_data data;        /* winner, loser; count when the file has a count column (else NULL);
                            annotator and n_annotators when it has an annotator column (else
                            NULL and 1); first_won when it has a first column (else NULL);
                            tie when it has a tie column (else NULL) */
  rank_data rank;        /* a ranking file's rankings (then data holds no rows, only n_items and
                            n_annotators); rank.n = 0 for a pair file */
  char **item_name;      /* data.n_items NUL-terminated names, indexed by item id */
  char **annotator_name; /* data.n_annotators labels by annotator id, or NULL */
} csv_comparisons;

/* Read the comparisons in the CSV file at path ("-" reads standard input) into
 * out, which the caller releases with csv_comparisons_free, with the default
 * limits.  The file is read into memory (checking the limits, the line ends and
 * counting the rows as it arrives) and names are interned through a hash table, so
 * the cost is linear in the file size.  Returns PS_OK; PS_EIO when the file cannot
 * be read; PS_EFORMAT for a malformed file or one over a limit, with a message
 * "PATH:LINE: what is wrong" (or "PATH: ..." when no single line is at fault);
 * PS_ENOMEM.  On failure out is left empty (all zero) and needs no freeing. */
int csv_read_comparisons(const char *path, csv_comparisons *out, ps_msg *m);

/* As csv_read_comparisons with the limits lim (NULL: the defaults). */
int csv_read_comparisons_limited(const char *path, const csv_limits *lim, csv_comparisons *out, ps_msg *m);

/* As csv_read_comparisons, from the len bytes at text (which need not be
 * NUL-terminated and are not modified); name is used in messages.  The line and
 * count rules apply; the file-size limit does not. */
int csv_parse_comparisons(const char *name, const char *text, size_t len, csv_comparisons *out,
                          ps_msg *m);

/* Release everything csv_read_comparisons allocated and zero c.  NULL is allowed. */
void csv_comparisons_free(csv_comparisons *c);

#endif
