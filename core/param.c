/* param.c — value checking for ps_param tables (see param.h). */
#include "param.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const ps_param *ps_param_find(const ps_param *t, const char *key) {
  for (; t && t->key; t++)
    if (strcmp(t->key, key) == 0) return t;
  return NULL;
}

const char *ps_param_text(const ps_param *table, const char *const *values, const char *key) {
  const ps_param *p = ps_param_find(table, key);
  return p ? values[p - table] : NULL;
}

void ps_param_allowed(const ps_param *p, char *buf, size_t len) {
  switch (p->type) {
  case PS_PARAM_INT: snprintf(buf, len, "an integer in [%.15g, %.15g]", p->min, p->max); break;
  case PS_PARAM_REAL: snprintf(buf, len, "a real number in [%.15g, %.15g]", p->min, p->max); break;
  case PS_PARAM_ENUM: snprintf(buf, len, "one of %s", p->choices); break;
  case PS_PARAM_BOOL: snprintf(buf, len, "true or false"); break;
  default: snprintf(buf, len, "any text"); break;
  }
}

static int enum_has(const char *choices, const char *v) {
  size_t n = strlen(v);
  const char *s = choices;
  while (s && *s) {
    const char *bar = strchr(s, '|');
    size_t len = bar ? (size_t)(bar - s) : strlen(s);
    if (len == n && strncmp(s, v, n) == 0) return 1;
    s = bar ? bar + 1 : NULL;
  }
  return 0;
}

static int parse_bool(const char *v, int *out) {
  if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on")) {
    *out = 1;
    return 1;
  }
  if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off")) {
    *out = 0;
    return 1;
  }
  return 0;
}

int ps_param_check(const ps_param *p, const char *v, ps_msg *m) {
  char allowed[256];
  ps_param_allowed(p, allowed, sizeof allowed);
  if (!v || (!*v && (p->type != PS_PARAM_TEXT || !p->def)))
    return ps_fail(m, PS_EINVAL, "empty value; allowed: %s", allowed);
  switch (p->type) {
  case PS_PARAM_INT:
  case PS_PARAM_REAL: {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    while (*end == ' ' || *end == '\t') end++;
    if (*end || errno == ERANGE || !isfinite(x))
      return ps_fail(m, PS_EINVAL, "'%s' is not a finite number; allowed: %s", v, allowed);
    if (p->type == PS_PARAM_INT && x != floor(x))
      return ps_fail(m, PS_EINVAL, "'%s' is not an integer; allowed: %s", v, allowed);
    if (x < p->min || x > p->max)
      return ps_fail(m, PS_EINVAL, "%s is out of range; allowed: %s", v, allowed);
    return PS_OK;
  }
  case PS_PARAM_ENUM:
    if (!enum_has(p->choices, v))
      return ps_fail(m, PS_EINVAL, "'%s' is not a known value; allowed: %s", v, allowed);
    return PS_OK;
  case PS_PARAM_BOOL: {
    int b;
    if (!parse_bool(v, &b)) return ps_fail(m, PS_EINVAL, "'%s' is not a boolean; allowed: %s", v, allowed);
    return PS_OK;
  }
  default: return PS_OK;
  }
}

double ps_param_real(const char *v) { return strtod(v, NULL); }
long ps_param_int(const char *v) { return (long)strtod(v, NULL); }
int ps_param_bool(const char *v) {
  int b = 0;
  parse_bool(v, &b);
  return b;
}
