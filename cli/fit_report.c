/* fit_report.c — the output of `prefsim fit`, one report written in three formats.
 *
 * Every fit path (the generic one in fitcli.c and each hook's run) fills a fit_report:
 * its tables (items first; annotators; a model's own, e.g. mixture's BIC per K or
 * gpm's logit matrix) and its key/value lines in the order text prints them, each in a
 * JSON section (fit statistics, convergence, options, data).  fit_report_write then
 * prints it as --format asks:
 *
 *   text  the first text table on stdout as TSV (header, one row per line, NA for a
 *         value that is not finite), then "# key<TAB>value" lines; every other table
 *         goes to its file (--annotators FILE) or, commented out, after the lines
 *         ("#| " before each of its lines), so that
 *         pd.read_csv(out, sep='\t', comment='#') reads the first table and nothing
 *         else;
 *   tsv   one table on stdout, with no comment line: --table NAME (default the first;
 *         `stats` is the key/value lines as a two-column table key<TAB>value);
 *   json  one document (fit_report_write_json): every table, every section.
 *
 * JSON: strings escaped (", \, control characters as \u00XX, bytes that are not UTF-8
 * as U+FFFD), doubles with %.17g (they round-trip), a value that is not finite as null
 * with "KEY_status" saying why (fit_report_num_why) or "non-finite". */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fitcli_impl.h"

/* ------------------------------------------------------------ building */

void fit_report_init(fit_report *r, const fit_job *j) {
  memset(r, 0, sizeof *r);
  r->j = j;
  r->status = "ok";
}

void fit_report_free(fit_report *r) {
  for (size_t i = 0; i < r->n_tab; i++) {
    fit_table *t = &r->tab[i];
    for (size_t c = 0; c < t->cols; c++) free(t->col_name[c]);
    free(t->col_name);
    free(t->col_int);
    free(t->v);
  }
  for (size_t i = 0; i < r->n_meta; i++) {
    free(r->meta[i].str);
    free(r->meta[i].why);
  }
  free(r->meta);
  memset(r, 0, sizeof *r);
}

fit_table *fit_report_table(fit_report *r, const char *name, const char *row_key, size_t rows,
                            const char *const *row_name, size_t cols, int where) {
  if (r->n_tab == FIT_MAX_TABLES) {
    r->oom = 1;
    return NULL;
  }
  fit_table *t = &r->tab[r->n_tab];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  t->row_key = row_key;
  t->rows = rows;
  t->row_name = row_name;
  t->cols = cols;
  t->where = where;
  t->col_name = calloc(cols ? cols : 1, sizeof *t->col_name);
  t->col_int = calloc(cols ? cols : 1, 1);
  t->v = malloc((rows * cols > 0 ? rows * cols : 1) * sizeof *t->v);
  if (!t->col_name || !t->col_int || !t->v) {
    free(t->col_name);
    free(t->col_int);
    free(t->v);
    r->oom = 1;
    return NULL;
  }
  for (size_t k = 0; k < rows * cols; k++) t->v[k] = NAN;
  r->n_tab++;
  return t;
}

void fit_table_column(fit_report *r, fit_table *t, size_t c, const char *name, int is_int) {
  if (!t || c >= t->cols) return;
  free(t->col_name[c]);
  t->col_name[c] = strdup(name);
  t->col_int[c] = (unsigned char)(is_int != 0);
  if (!t->col_name[c]) r->oom = 1;
}

const fit_table *fit_report_find(const fit_report *r, const char *name) {
  for (size_t i = 0; i < r->n_tab; i++)
    if (!strcmp(r->tab[i].name, name)) return &r->tab[i];
  return NULL;
}

static fit_meta *add_meta(fit_report *r, int sec, int where, const char *key) {
  if (r->n_meta == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 32;
    fit_meta *m = realloc(r->meta, cap * sizeof *m);
    if (!m) {
      r->oom = 1;
      return NULL;
    }
    r->meta = m;
    r->cap = cap;
  }
  fit_meta *m = &r->meta[r->n_meta++];
  memset(m, 0, sizeof *m);
  snprintf(m->key, sizeof m->key, "%s", key);
  m->sec = sec;
  m->where = where;
  m->fmt = "%.12g";
  return m;
}

void fit_report_num(fit_report *r, int sec, int where, const char *key, double x) {
  fit_meta *m = add_meta(r, sec, where, key);
  if (m) m->type = FIT_V_NUM, m->num = x;
}

void fit_report_num_fmt(fit_report *r, int sec, int where, const char *key, double x, const char *fmt) {
  fit_meta *m = add_meta(r, sec, where, key);
  if (m) m->type = FIT_V_NUM, m->num = x, m->fmt = fmt;
}

void fit_report_num_why(fit_report *r, int sec, int where, const char *key, double x, const char *fmt,
                        const char *why) {
  fit_meta *m = add_meta(r, sec, where, key);
  if (!m) return;
  m->type = FIT_V_NUM, m->num = x, m->fmt = fmt;
  if (why && !isfinite(x) && !(m->why = strdup(why))) r->oom = 1;
}

void fit_report_int(fit_report *r, int sec, int where, const char *key, long long x) {
  fit_meta *m = add_meta(r, sec, where, key);
  if (m) m->type = FIT_V_INT, m->ival = x;
}

void fit_report_str(fit_report *r, int sec, int where, const char *key, const char *s) {
  fit_meta *m = add_meta(r, sec, where, key);
  if (!m) return;
  m->type = FIT_V_STR;
  if (!(m->str = strdup(s ? s : ""))) r->oom = 1;
}

void fit_report_bool(fit_report *r, int sec, int where, const char *key, int yes) {
  fit_meta *m = add_meta(r, sec, where, key);
  if (m) m->type = FIT_V_BOOL, m->ival = yes != 0;
}

void fit_report_hyper(fit_report *r, const fit_job *j, const char *const *skip, int changed_only) {
  for (size_t i = 0; j->type->params && j->type->params[i].key; i++) {
    const ps_param *p = &j->type->params[i];
    int skipped = 0;
    for (size_t k = 0; skip && skip[k]; k++) skipped |= !strcmp(skip[k], p->key);
    if (skipped) continue;
    /* every hyperparameter goes into JSON; text shows the changed ones when asked */
    int where = changed_only && p->def && !strcmp(p->def, j->hyper[i]) ? FIT_JSON : FIT_BOTH;
    fit_report_param(r, where, p, j->hyper[i]);
  }
}

void fit_report_param(fit_report *r, int where, const ps_param *p, const char *text) {
  fit_meta *m = add_meta(r, FIT_SEC_OPTIONS, where, p->key);
  if (!m) return;
  m->type = FIT_V_STR;
  if (!(m->str = strdup(text))) r->oom = 1;
  /* JSON type from the table's: numbers and booleans as such (text keeps the text) */
  if (p->type == PS_PARAM_INT || p->type == PS_PARAM_REAL) m->json_num = 1, m->num = ps_param_real(text);
  else if (p->type == PS_PARAM_BOOL) m->json_bool = 1, m->ival = ps_param_bool(text);
}

/* ------------------------------------------------------------ text / tsv */

/* A name as one TSV cell: tabs (and any stray CR/LF) become spaces. */
void fit_put_cell(FILE *out, const char *s) {
  for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, out);
}

static void put_table_num(FILE *out, double x, int is_int) {
  if (!isfinite(x)) fputs("NA", out);
  else if (is_int) fprintf(out, "%.0f", x);
  else fprintf(out, "%.12g", x);
}

static void write_table(FILE *out, const fit_table *t, const char *prefix) {
  int sep = 0;
  fputs(prefix, out);
  if (t->row_key) fputs(t->row_key, out), sep = 1;
  for (size_t c = 0; c < t->cols; c++) {
    if (sep) fputc('\t', out);
    fit_put_cell(out, t->col_name[c] ? t->col_name[c] : "");
    sep = 1;
  }
  fputc('\n', out);
  for (size_t i = 0; i < t->rows; i++) {
    fputs(prefix, out);
    sep = 0;
    if (t->row_key) fit_put_cell(out, t->row_name[i]), sep = 1;
    for (size_t c = 0; c < t->cols; c++) {
      if (sep) fputc('\t', out);
      put_table_num(out, t->v[i * t->cols + c], t->col_int[c]);
      sep = 1;
    }
    fputc('\n', out);
  }
}

static void write_meta_value(FILE *out, const fit_meta *m) {
  switch (m->type) {
  case FIT_V_NUM:
    if (isfinite(m->num)) fprintf(out, m->fmt, m->num);
    else fputs("NA", out);
    break;
  case FIT_V_INT: fprintf(out, "%lld", m->ival); break;
  case FIT_V_BOOL: fputs(m->ival ? "yes" : "no", out); break;
  default:
    if (m->raw) fputs(m->str, out);
    else fit_put_cell(out, m->str);
    break;
  }
}

static void write_stats_lines(FILE *out, const fit_report *r, const char *prefix) {
  for (size_t i = 0; i < r->n_meta; i++) {
    const fit_meta *m = &r->meta[i];
    if (!(m->where & FIT_TEXT)) continue;
    fprintf(out, "%s%s\t", prefix, m->key);
    write_meta_value(out, m);
    fputc('\n', out);
    if (m->type == FIT_V_NUM && !isfinite(m->num) && m->why) {
      fprintf(out, "%s%s_note\t", prefix, m->key);
      fit_put_cell(out, m->why);
      fputc('\n', out);
    }
  }
}

/* The text tables: the first on out, the annotators to ann when given, every other
 * one commented out after the key/value lines. */
static void write_text(FILE *out, FILE *ann, const fit_report *r) {
  const fit_table *first = NULL;
  for (size_t i = 0; i < r->n_tab && !first; i++)
    if (r->tab[i].where & FIT_TEXT) first = &r->tab[i];
  if (first) write_table(out, first, "");
  write_stats_lines(out, r, "# ");
  for (size_t i = 0; i < r->n_tab; i++) {
    const fit_table *t = &r->tab[i];
    if (t == first || !(t->where & FIT_TEXT)) continue;
    if (ann && !strcmp(t->name, "annotators")) continue;
    fprintf(out, "# table\t%s\t(commented out: one table per stream; %s)\n", t->name,
            !strcmp(t->name, "annotators") ? "--annotators FILE writes it as a TSV, or --format tsv --table annotators"
                                           : "--format tsv --table NAME prints it as a TSV");
    write_table(out, t, "#| ");
  }
}

/* ------------------------------------------------------------ json */

static void json_str(FILE *out, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  fputc('"', out);
  while (*p) {
    unsigned c = *p;
    if (c == '"' || c == '\\') {
      fputc('\\', out), fputc((int)c, out), p++;
    } else if (c < 0x20) {
      switch (c) {
      case '\n': fputs("\\n", out); break;
      case '\t': fputs("\\t", out); break;
      case '\r': fputs("\\r", out); break;
      default: fprintf(out, "\\u%04x", c);
      }
      p++;
    } else if (c < 0x80) {
      fputc((int)c, out), p++;
    } else {
      /* a well-formed UTF-8 sequence is copied; anything else becomes U+FFFD */
      size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
      int ok = n > 0;
      for (size_t k = 1; ok && k < n; k++) ok = (p[k] & 0xC0) == 0x80;
      if (ok && n == 3) ok = !(c == 0xE0 && p[1] < 0xA0) && !(c == 0xED && p[1] >= 0xA0);
      if (ok && n == 4) ok = !(c == 0xF0 && p[1] < 0x90) && !(c == 0xF4 && p[1] >= 0x90);
      if (ok) {
        fwrite(p, 1, n, out);
        p += n;
      } else {
        fputs("\\ufffd", out);
        p++;
      }
    }
  }
  fputc('"', out);
}

static void json_num(FILE *out, double x) {
  if (isfinite(x)) fprintf(out, "%.17g", x);
  else fputs("null", out);
}

static void json_table(FILE *out, const fit_table *t) {
  if (t->matrix) { /* {"rows": [...], "columns": [...], "values": [[...], ...]} */
    fputs("{\"rows\": [", out);
    for (size_t i = 0; i < t->rows; i++) {
      if (i) fputs(", ", out);
      json_str(out, t->row_name[i]);
    }
    fputs("], \"columns\": [", out);
    for (size_t c = 0; c < t->cols; c++) {
      if (c) fputs(", ", out);
      json_str(out, t->col_name[c] ? t->col_name[c] : "");
    }
    fputs("], \"values\": [", out);
    for (size_t i = 0; i < t->rows; i++) {
      fputs(i ? ",\n    [" : "\n    [", out);
      for (size_t c = 0; c < t->cols; c++) {
        if (c) fputs(", ", out);
        json_num(out, t->v[i * t->cols + c]);
      }
      fputc(']', out);
    }
    fputs("]}", out);
    return;
  }
  fputc('[', out);
  for (size_t i = 0; i < t->rows; i++) {
    fputs(i ? ",\n    {" : "\n    {", out);
    int sep = 0;
    if (t->row_key) {
      fputs("\"name\": ", out);
      json_str(out, t->row_name[i]);
      sep = 1;
    }
    for (size_t c = 0; c < t->cols; c++) {
      if (sep) fputs(", ", out);
      json_str(out, t->col_name[c] ? t->col_name[c] : "");
      fputs(": ", out);
      json_num(out, t->v[i * t->cols + c]);
      sep = 1;
    }
    fputc('}', out);
  }
  fputs(t->rows ? "\n  ]" : "]", out);
}

static void json_meta_value(FILE *out, const fit_meta *m) {
  if (m->json_num) {
    json_num(out, m->num);
    return;
  }
  if (m->json_bool) {
    fputs(m->ival ? "true" : "false", out);
    return;
  }
  switch (m->type) {
  case FIT_V_NUM: json_num(out, m->num); break;
  case FIT_V_INT: fprintf(out, "%lld", m->ival); break;
  case FIT_V_BOOL: fputs(m->ival ? "true" : "false", out); break;
  default: json_str(out, m->str); break;
  }
}

static const char *const sec_name[FIT_N_SEC] = {"fit", "convergence", "options", "data"};

static void write_json(FILE *out, const fit_report *r) {
  const fit_job *j = r->j;
  fputs("{\n  \"format\": \"prefsim-fit/1\",\n  \"model\": ", out);
  json_str(out, j->type->name);
  fputs(",\n  \"status\": ", out);
  json_str(out, r->status);
  for (size_t i = 0; i < r->n_tab; i++) {
    const fit_table *t = &r->tab[i];
    if (!(t->where & FIT_JSON)) continue;
    fputs(",\n  ", out);
    json_str(out, t->name);
    fputs(": ", out);
    json_table(out, t);
  }
  for (int s = 0; s < FIT_N_SEC; s++) {
    fputs(",\n  ", out);
    json_str(out, sec_name[s]);
    fputs(": {", out);
    int n = 0;
    for (size_t i = 0; i < r->n_meta; i++) {
      const fit_meta *m = &r->meta[i];
      if (m->sec != s || !(m->where & FIT_JSON)) continue;
      /* a key given twice (a hook's value after the generic one) keeps its last value */
      int later = 0;
      for (size_t k = i + 1; k < r->n_meta; k++)
        later |= r->meta[k].sec == s && (r->meta[k].where & FIT_JSON) && !strcmp(r->meta[k].key, m->key);
      if (later) continue;
      fputs(n++ ? ",\n    " : "\n    ", out);
      json_str(out, m->key);
      fputs(": ", out);
      json_meta_value(out, m);
      if (m->type == FIT_V_NUM && !m->json_num && !isfinite(m->num)) {
        char k[80];
        snprintf(k, sizeof k, "%s_status", m->key);
        fputs(",\n    ", out);
        json_str(out, k);
        fputs(": ", out);
        json_str(out, m->why ? m->why : isnan(m->num) ? "not a number" : "infinite");
      }
    }
    fputs(n ? "\n  }" : "}", out);
  }
  fputs("\n}\n", out);
}

/* ------------------------------------------------------------ writing */

int fit_report_write(const fit_report *r, FILE *out, FILE *ann, ps_msg *m) {
  const fit_args *a = r->j->args;
  if (r->oom) return ps_fail(m, PS_ENOMEM, "out of memory for the output");
  const fit_table *at = fit_report_find(r, "annotators");
  if (ann && at) write_table(ann, at, "");
  switch (a->format) {
  case FIT_FORMAT_JSON: write_json(out, r); break;
  case FIT_FORMAT_TSV: {
    const char *want = a->table;
    if (want && !strcmp(want, "stats")) {
      fputs("key\tvalue\n", out);
      write_stats_lines(out, r, "");
      break;
    }
    const fit_table *t = NULL;
    for (size_t i = 0; i < r->n_tab && !t; i++)
      if ((r->tab[i].where & FIT_TEXT) && (!want || !strcmp(r->tab[i].name, want))) t = &r->tab[i];
    if (!t) {
      char names[200] = "";
      for (size_t i = 0; i < r->n_tab; i++)
        if (r->tab[i].where & FIT_TEXT) {
          strncat(names, r->tab[i].name, sizeof names - strlen(names) - 1);
          strncat(names, ", ", sizeof names - strlen(names) - 1);
        }
      strncat(names, "stats", sizeof names - strlen(names) - 1);
      return ps_fail(m, PS_EINVAL, "--table %s: --model %s has no such table; it has: %s", want,
                     r->j->type->name, names);
    }
    write_table(out, t, "");
    break;
  }
  default: write_text(out, ann, r); break;
  }
  return PS_OK;
}

/* "not computed: ..." — why a model reports no gradient norm. */
const char *fit_grad_norm_why(const est_type *t) {
  static char buf[400];
  const ps_param *tol = ps_param_find(t->params, "tol");
  if (tol && tol->doc)
    snprintf(buf, sizeof buf,
             "unavailable: --model %s's convergence test is not a gradient norm (tol: %s); converged says "
             "whether it was met",
             t->name, tol->doc);
  else
    snprintf(buf, sizeof buf,
             "unavailable: --model %s has no gradient-based optimality test (a closed form, a fixed point or "
             "an averaged iterate); converged says whether its own test was met",
             t->name);
  return buf;
}
