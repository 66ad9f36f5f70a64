/* config.h — an experiment's configuration as an ordered list of entries.
 *
 * Each entry is (section, key, value) plus where it came from: the file and line
 * that set it, or "command line" for a section.key=value override, or "default".
 * The store knows nothing of which keys exist; experiment.c validates it against
 * the schema tables and fills defaults.  Sections may contain dots
 * ("estimator.bt", "claim.rate"); in an override the key is after the last dot. */
#ifndef PS_EXPERIMENTS_CONFIG_H
#define PS_EXPERIMENTS_CONFIG_H

#include <stddef.h>

#include "../core/ps.h"

typedef struct {
  char *section, *key, *value;
  char *origin; /* file name, "command line", or "default" */
  int line;     /* 1-based line in origin, 0 when not from a file */
} cfg_entry;

typedef struct cfg cfg;

cfg *cfg_alloc(void);
void cfg_free(cfg *c);
cfg *cfg_dup(const cfg *c);

/* The longest line an experiment file may have, in bytes (without its line end);
 * a longer line is refused with FILE:LINE, never split or cut. */
#define CFG_MAX_LINE (1 << 20)

/* Parse an INI file and append its entries ("[section]" headers, "key = value"
 * lines, ';' and '#' comment lines, inline comments from a ';' that follows
 * whitespace; config.c has the exact rules).  A syntax error, a key given twice in
 * one section, a key before any section, a NUL byte or a line longer than
 * CFG_MAX_LINE fails with PS_EFORMAT and "FILE:LINE: ..."; a file that cannot be
 * opened or read, or is a directory, with PS_EIO and a message naming it.  On
 * failure c is unchanged. */
int cfg_load_file(cfg *c, const char *path, ps_msg *m);

/* Same for text held in memory; name is used in messages. */
int cfg_load_string(cfg *c, const char *name, const char *text, ps_msg *m);

/* Add or replace (section, key).  Returns PS_ENOMEM or PS_OK. */
int cfg_set(cfg *c, const char *section, const char *key, const char *value,
            const char *origin, int line);

/* Apply "section.key=value" (the section may itself contain dots).  PS_EINVAL with a
 * message on a malformed assignment. */
int cfg_override(cfg *c, const char *assignment, ps_msg *m);

/* Remove (section, key) if present. */
void cfg_unset(cfg *c, const char *section, const char *key);

const cfg_entry *cfg_find(const cfg *c, const char *section, const char *key);
const char *cfg_get(const cfg *c, const char *section, const char *key); /* value or NULL */
size_t cfg_size(const cfg *c);
const cfg_entry *cfg_at(const cfg *c, size_t i);

/* Section headers seen in parsed text, including sections without keys (their key
 * and value are ""); origin and line say where. */
size_t cfg_n_headers(const cfg *c);
const cfg_entry *cfg_header_at(const cfg *c, size_t i);

/* "FILE:LINE" or "command line" for messages; written into buf. */
const char *cfg_where(const cfg_entry *e, char *buf, size_t len);

/* Canonical INI text: sections in first-appearance order, keys in insertion order.
 * Malloc'ed; caller frees. */
char *cfg_to_text(const cfg *c);

/* The same, leaving out sections whose names start with any of the NULL-terminated
 * prefixes (e.g. "claim.", "figure."). */
char *cfg_to_text_without(const cfg *c, const char *const *skip_prefixes);

/* ---- the canonical form: a config's identity ----
 *
 * Two configs are the same when their canonical texts are equal: sections sorted
 * by name and keys sorted within a section, each value normalised (comma-separated
 * items trimmed and joined with ", ", inner runs of blanks one space, decimal
 * numbers written in their shortest round-trip form: 1e3, 1000 and 1000.0 are
 * "1000"; integers of any length are kept digit for digit), comments and origins
 * dropped (the parser never keeps them).  Order is kept where it means something:
 * the keys of the sections named in keep_key_order (the sweep: its key order is the
 * order of the results' axes), and the sections whose names start with
 * keep_section_order (the estimators: the order of the results' estimators), which
 * sort as a group under that prefix. */
typedef struct {
  const char *const *skip;           /* section prefixes left out (NULL-terminated), or NULL */
  const char *const *keep_key_order; /* section names whose key order counts, or NULL */
  const char *keep_section_order;    /* section prefix whose relative order counts, or NULL */
} cfg_canon;

/* Malloc'ed canonical text (NULL when out of memory). */
char *cfg_canonical_text(const cfg *c, const cfg_canon *how);

/* One value in canonical form (malloc'ed; NULL when out of memory). */
char *cfg_canonical_value(const char *value);

/* What differs between two configs under `how`, as "[section] key: OLD -> NEW" items
 * joined by "; " (a key absent on one side is "(absent)"; a changed order of the
 * order-keeping keys or sections is named too), written into buf (cut with
 * "... and N more" to fit).  Returns the number of differences (0: same identity). */
size_t cfg_describe_diff(const cfg *was, const cfg *now, const cfg_canon *how, char *buf, size_t len);

#endif
