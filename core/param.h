/* param.h — typed parameter descriptions that drive configuration parsing,
 * validation, --help text and HDF5 attributes.
 *
 * A table of ps_param, terminated by an entry whose key is NULL, describes one
 * configuration section or one estimator's hyperparameters.  Values are always
 * text at the boundary ("1e-4", "probit", "true") and are checked here against
 * the declared type and range, so every error can say what was allowed. */
#ifndef PS_CORE_PARAM_H
#define PS_CORE_PARAM_H

#include "ps.h"

typedef enum { PS_PARAM_INT, PS_PARAM_REAL, PS_PARAM_TEXT, PS_PARAM_ENUM, PS_PARAM_BOOL } ps_param_type;

typedef struct {
  const char *key;       /* name in the section, e.g. "l2" */
  ps_param_type type;
  const char *def;       /* default as text; NULL means required */
  double min, max;       /* inclusive range for INT and REAL */
  const char *choices;   /* ENUM: "logistic|probit" */
  const char *doc;       /* one line */
} ps_param;

/* Find key in a NULL-terminated table; NULL if absent. */
const ps_param *ps_param_find(const ps_param *table, const char *key);

/* Check that text is a valid value for p.  On failure returns PS_EINVAL and writes
 * "<what is wrong>; allowed: <type and range or choices>" into m. */
int ps_param_check(const ps_param *p, const char *text, ps_msg *m);

/* "integer in [1, 1000000]", "real in [0, 0.5)", "one of logistic|probit", ... */
void ps_param_allowed(const ps_param *p, char *buf, size_t len);

/* The value of `key` in values, one text per entry of table in table order (an
 * estimator's hyperparameters as alloc receives them): read settings by name, never
 * by position.  NULL when the table has no such key. */
const char *ps_param_text(const ps_param *table, const char *const *values, const char *key);

/* Parse helpers used after ps_param_check succeeded. */
double ps_param_real(const char *text);
long ps_param_int(const char *text);
int ps_param_bool(const char *text);

#endif
