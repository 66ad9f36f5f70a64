/* h5read.c — the reader of prefsim results files (h5store.h): axes, attributes,
 * whole arrays, /cells, statuses and messages.  Readers open a running sweep's file
 * read-only; see h5store.c for the invariants of the layout. */
#include "h5store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "seal.h"

/* -------------------------------------------------------------------- the reader */

struct h5read {
  char *path;
  hid_t file;
  size_t n_attrs;
  char **attr_keys, **attr_values;
  size_t n_axes;
  h5store_axis *axes;    /* points into the owned arrays below */
  char **axis_names;
  double **axis_values;  /* NULL for text axes */
  char ***axis_labels;   /* NULL for numeric axes */
  char **axis_units, **axis_long; /* attributes units, long_name (NULL when absent) */
  int v1;                /* schema 1: axes in /axes, /cells a compound table */
  size_t n_replicates;
  size_t n_cells;
  name_list estimators;
  name_list *metrics;    /* per estimator */
  name_list quantities[2]; /* /truth, /theory */
  int sealed;            /* 1: the seal was checked intact; 0: an older file without one */
};

/* Whether dataset ds has exactly n elements; a damaged or foreign file may not, and
 * H5S_ALL reads would then overrun the caller's buffer. */
static int has_cells(hid_t ds, size_t n) {
  hid_t space = H5Dget_space(ds);
  hssize_t k = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
  if (space >= 0) H5Sclose(space);
  return k >= 0 && (size_t)k == n;
}

void h5read_close(h5read *r) {
  if (!r) return;
  h5u_h5_quiet();
  if (r->file >= 0) H5Fclose(r->file);
  for (size_t i = 0; i < r->n_attrs; i++) {
    free(r->attr_keys[i]);
    free(r->attr_values[i]);
  }
  for (size_t i = 0; i < r->n_axes; i++) {
    free(r->axis_names[i]);
    if (r->axis_values) free(r->axis_values[i]);
    for (size_t j = 0; r->axis_labels && r->axis_labels[i] && j < r->axes[i].n; j++)
      free(r->axis_labels[i][j]);
    if (r->axis_labels) free(r->axis_labels[i]);
    if (r->axis_units) free(r->axis_units[i]);
    if (r->axis_long) free(r->axis_long[i]);
  }
  for (size_t e = 0; r->metrics && e < r->estimators.n; e++) h5u_name_list_free(&r->metrics[e]);
  h5u_name_list_free(&r->estimators);
  h5u_name_list_free(&r->quantities[0]);
  h5u_name_list_free(&r->quantities[1]);
  free(r->metrics);
  free(r->attr_keys);
  free(r->attr_values);
  free(r->axes);
  free(r->axis_names);
  free(r->axis_values);
  free(r->axis_labels);
  free(r->axis_units);
  free(r->axis_long);
  free(r->path);
  free(r);
}

/* Root attribute as text: strings as they are, integer and float scalars formatted. */
static char *attr_as_text(hid_t attr) {
  hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
  char *out = NULL, buf[64];
  H5T_class_t cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
  int scalar = space >= 0 && H5Sget_simple_extent_npoints(space) == 1;
  if (cls == H5T_STRING) {
    out = h5u_attr_read_string(attr);
  } else if (scalar && cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_NONE) {
    unsigned long long v;
    if (H5Aread(attr, H5T_NATIVE_ULLONG, &v) >= 0 && snprintf(buf, sizeof buf, "%llu", v) > 0)
      out = h5u_dup_string(buf);
  } else if (scalar && cls == H5T_INTEGER) {
    long long v;
    if (H5Aread(attr, H5T_NATIVE_LLONG, &v) >= 0 && snprintf(buf, sizeof buf, "%lld", v) > 0)
      out = h5u_dup_string(buf);
  } else if (scalar && cls == H5T_FLOAT) {
    double v;
    if (H5Aread(attr, H5T_NATIVE_DOUBLE, &v) >= 0 && snprintf(buf, sizeof buf, "%.17g", v) > 0)
      out = h5u_dup_string(buf);
  }
  h5u_close_space(&space);
  h5u_close_type(&type);
  return out;
}

static herr_t load_root_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
  h5read *r = data;
  (void)info;
  hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
  if (attr < 0) return -1;
  char *value = attr_as_text(attr);
  H5Aclose(attr);
  if (!value) return 0; /* not representable as text: skip */
  char **keys = realloc(r->attr_keys, (r->n_attrs + 1) * sizeof *keys);
  if (keys) r->attr_keys = keys;
  char **values = realloc(r->attr_values, (r->n_attrs + 1) * sizeof *values);
  if (values) r->attr_values = values;
  char *key = h5u_dup_string(name);
  if (!keys || !values || !key) {
    free(key);
    free(value);
    return -1;
  }
  r->attr_keys[r->n_attrs] = key;
  r->attr_values[r->n_attrs++] = value;
  return 0;
}

/* Read the axis <name> (/<name>, or /axes/<name> in schema 1) into r->axes[i]. */
static int load_axis(h5read *r, size_t i, const char *name, ps_msg *m) {
  char dpath[PATH_LEN];
  hid_t ds = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
  hid_t str = H5I_INVALID_HID;
  char **raw = NULL;
  int rc = PS_OK;
  snprintf(dpath, sizeof dpath, "%s/%s", r->v1 ? "/axes" : "", name);
  if (!(r->axis_names[i] = h5u_dup_string(name))) goto oom;
  r->axes[i].name = r->axis_names[i];
  hssize_t n;
  if ((ds = H5Dopen2(r->file, dpath, H5P_DEFAULT)) < 0 || (space = H5Dget_space(ds)) < 0 ||
      (type = H5Dget_type(ds)) < 0 || (n = H5Sget_simple_extent_npoints(space)) < 1) {
    rc = h5u_io_fail(m, r->path, "cannot open an axis");
    goto done;
  }
  r->axes[i].n = (size_t)n;
  if (H5Tget_class(type) != H5T_STRING) {
    r->axes[i].integer = H5Tget_class(type) == H5T_INTEGER;
    r->axis_units[i] = h5u_attr_get_string(ds, "units");
    r->axes[i].units = r->axis_units[i];
    r->axis_long[i] = h5u_attr_get_string(ds, "long_name");
    r->axes[i].long_name = r->axis_long[i];
    if (!(r->axis_values[i] = malloc((size_t)n * sizeof(double)))) goto oom;
    r->axes[i].values = r->axis_values[i];
    if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->axis_values[i]) < 0)
      rc = h5u_io_fail(m, r->path, "cannot read an axis");
    goto done;
  }
  if (H5Tis_variable_str(type) <= 0) {
    rc = ps_fail(m, PS_EIO, "%s: text axis %s is not variable-length", r->path, dpath);
    goto done;
  }
  if (!(r->axis_labels[i] = calloc((size_t)n, sizeof(char *))) ||
      !(raw = calloc((size_t)n, sizeof *raw)))
    goto oom;
  if ((str = h5u_vstring_type(H5Tget_cset(type))) < 0 ||
      H5Dread(ds, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) {
    rc = h5u_io_fail(m, r->path, "cannot read an axis");
    goto done;
  }
  for (hssize_t j = 0; j < n && !rc; j++)
    if (!(r->axis_labels[i][j] = h5u_dup_string(raw[j] ? raw[j] : "")))
      rc = ps_fail(m, PS_ENOMEM, "%s: no memory for axis labels", r->path);
  vlen_reclaim(str, space, raw);
  r->axes[i].labels = (const char *const *)r->axis_labels[i];
  r->axis_long[i] = h5u_attr_get_string(ds, "long_name");
  r->axes[i].long_name = r->axis_long[i];
  goto done;
oom:
  rc = ps_fail(m, PS_ENOMEM, "%s: no memory for axis '%s'", r->path, name);
done:
  free(raw);
  h5u_close_type(&str);
  h5u_close_type(&type);
  h5u_close_space(&space);
  h5u_close_dataset(&ds);
  return rc;
}

static int load_axes(h5read *r, ps_msg *m) {
  name_list l;
  int rc = PS_OK, have_replicate = 0;
  if (h5u_axis_names(r->file, &l) < 0) return h5u_io_fail(m, r->path, "cannot list the axes");
  size_t n = 0;
  for (size_t i = 0; i < l.n; i++) n += strcmp(l.names[i], "replicate") != 0;
  r->axes = calloc(n ? n : 1, sizeof *r->axes);
  r->axis_names = calloc(n ? n : 1, sizeof *r->axis_names);
  r->axis_values = calloc(n ? n : 1, sizeof *r->axis_values);
  r->axis_labels = calloc(n ? n : 1, sizeof *r->axis_labels);
  r->axis_units = calloc(n ? n : 1, sizeof *r->axis_units);
  r->axis_long = calloc(n ? n : 1, sizeof *r->axis_long);
  if (!r->axes || !r->axis_names || !r->axis_values || !r->axis_labels || !r->axis_units || !r->axis_long) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for axes", r->path);
    goto done;
  }
  for (size_t i = 0; i < l.n && !rc; i++) {
    if (strcmp(l.names[i], "replicate") == 0) {
      have_replicate = 1;
      continue;
    }
    rc = load_axis(r, r->n_axes++, l.names[i], m);
  }
  if (!rc && !have_replicate)
    rc = ps_fail(m, PS_EIO, "%s: not a prefsim results file: %s is missing", r->path,
                 r->v1 ? "/axes/replicate" : "/replicate");
  if (!rc) {
    hid_t ds = H5Dopen2(r->file, r->v1 ? "/axes/replicate" : "/replicate", H5P_DEFAULT), space = H5I_INVALID_HID;
    hssize_t reps = ds < 0 || (space = H5Dget_space(ds)) < 0
                        ? -1
                        : H5Sget_simple_extent_npoints(space);
    h5u_close_space(&space);
    h5u_close_dataset(&ds);
    if (reps < 1) rc = h5u_io_fail(m, r->path, "cannot read the replicate axis");
    else r->n_replicates = (size_t)reps;
  }
done:
  h5u_name_list_free(&l);
  return rc;
}

static void drop_name(name_list *l, const char *name) {
  char *one[2] = {(char *)name, NULL};
  name_list drop = {one, 1, 2, 0};
  h5u_name_list_drop(l, &drop);
}

int h5read_open(const char *path, h5read **out, ps_msg *m) {
  h5read *r = NULL;
  int rc = PS_OK;
  h5u_h5_quiet();
  if (out) *out = NULL;
  if (!path || !out) return ps_fail(m, PS_EINVAL, "h5read_open: path or out is NULL");
  if (!(r = calloc(1, sizeof *r)) || !(r->path = h5u_dup_string(path))) {
    free(r);
    return ps_fail(m, PS_ENOMEM, "%s: no memory for the reader", path);
  }
  /* the seal first: HDF5 never parses a damaged file */
  r->file = H5I_INVALID_HID;
  if ((rc = seal_check(path, &r->sealed, m))) goto fail;
  if ((r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
    rc = h5u_io_fail(m, path, "cannot open results file");
    goto fail;
  }
  hsize_t idx = 0;
  if (H5Aiterate2(r->file, H5_INDEX_NAME, H5_ITER_INC, &idx, load_root_attr, r) < 0) {
    rc = h5u_io_fail(m, path, "cannot read root attributes");
    goto fail;
  }
  const char *schema = h5read_attr(r, "schema");
  r->v1 = schema && strcmp(schema, H5STORE_SCHEMA_V1) == 0;
  if (!schema || (strcmp(schema, H5STORE_SCHEMA) != 0 && !r->v1)) {
    rc = ps_fail(m, PS_EINVAL, "%s: not a prefsim results file (schema \"%s\", expected "
                 "\"%s\" or \"%s\")", path, schema ? schema : "absent", H5STORE_SCHEMA, H5STORE_SCHEMA_V1);
    goto fail;
  }
  if ((rc = load_axes(r, m))) goto fail;
  r->n_cells = r->n_replicates;
  for (size_t i = 0; i < r->n_axes; i++) r->n_cells *= r->axes[i].n;
  if (h5u_group_names(r->file, "metrics", &r->estimators) < 0) {
    rc = h5u_io_fail(m, path, "cannot list /metrics");
    goto fail;
  }
  if (!(r->metrics = calloc(r->estimators.n ? r->estimators.n : 1, sizeof *r->metrics))) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for the metric lists", path);
    goto fail;
  }
  for (size_t e = 0; e < r->estimators.n; e++) {
    char gpath[PATH_LEN];
    snprintf(gpath, sizeof gpath, "metrics/%s", r->estimators.names[e]);
    if (h5u_group_names(r->file, gpath, &r->metrics[e]) < 0) {
      rc = h5u_io_fail(m, path, "cannot list the metrics of an estimator");
      goto fail;
    }
    /* schema 2: the group's links to the axes are coordinates, not metrics */
    for (size_t i = 0; i < r->n_axes && !r->v1; i++) drop_name(&r->metrics[e], r->axes[i].name);
    if (!r->v1) drop_name(&r->metrics[e], "replicate");
  }
  for (int part = 0; part < 2; part++) {
    if (h5u_group_names(r->file, part ? "theory" : "truth", &r->quantities[part]) < 0) {
      rc = h5u_io_fail(m, path, part ? "cannot list /theory" : "cannot list /truth");
      goto fail;
    }
    for (size_t i = 0; i < r->n_axes && !r->v1; i++) drop_name(&r->quantities[part], r->axes[i].name);
    if (!r->v1) drop_name(&r->quantities[part], "replicate");
  }
  *out = r;
  return PS_OK;
fail:
  h5read_close(r);
  H5Eclear2(H5E_DEFAULT);
  return rc;
}

const char *h5read_attr(const h5read *r, const char *key) {
  for (size_t i = 0; r && key && i < r->n_attrs; i++)
    if (strcmp(r->attr_keys[i], key) == 0) return r->attr_values[i];
  return NULL;
}

int h5read_sealed(const h5read *r) { return r ? r->sealed : 0; }

size_t h5read_n_attrs(const h5read *r) { return r ? r->n_attrs : 0; }

const char *h5read_attr_key(const h5read *r, size_t i) { return r && i < r->n_attrs ? r->attr_keys[i] : NULL; }

const char *const *h5read_quantities(const h5read *r, const char *group) {
  if (!r || !group) return NULL;
  if (!strcmp(group, "truth")) return (const char *const *)r->quantities[0].names;
  if (!strcmp(group, "theory")) return (const char *const *)r->quantities[1].names;
  return NULL;
}

size_t h5read_n_axes(const h5read *r) { return r ? r->n_axes : 0; }

const h5store_axis *h5read_axis(const h5read *r, size_t i) {
  return r && i < r->n_axes ? &r->axes[i] : NULL;
}

size_t h5read_n_replicates(const h5read *r) { return r ? r->n_replicates : 0; }

const char *const *h5read_estimators(const h5read *r) {
  return r ? (const char *const *)r->estimators.names : NULL;
}

const char *const *h5read_metrics(const h5read *r, const char *estimator) {
  for (size_t e = 0; r && estimator && e < r->estimators.n; e++)
    if (strcmp(r->estimators.names[e], estimator) == 0)
      return (const char *const *)r->metrics[e].names;
  return NULL;
}

/* PS_EINVAL "<file> has no <path>; <group> has: a, b" listing the children of gpath. */
static int absent(const h5read *r, const char *path, const char *gpath, const char *what,
                  ps_msg *m) {
  name_list l;
  char list[256];
  if (h5u_group_names(r->file, gpath, &l) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return ps_fail(m, PS_EINVAL, "%s: no %s (and no group /%s)", r->path, path, gpath);
  }
  for (size_t i = 0; i < r->n_axes; i++) drop_name(&l, r->axes[i].name); /* coordinates, not data */
  drop_name(&l, "replicate");
  h5u_join_names((const char *const *)l.names, list, sizeof list);
  h5u_name_list_free(&l);
  return ps_fail(m, PS_EINVAL, "%s: no %s; %s: %s", r->path, path, what, list);
}

int h5read_array(const h5read *r, const char *path, double **out, ps_msg *m) {
  char buf[PATH_LEN], gpath[PATH_LEN], what[PATH_LEN];
  hid_t ds = H5I_INVALID_HID, space = H5I_INVALID_HID;
  double *values = NULL;
  int rc = PS_OK;
  h5u_h5_quiet();
  if (out) *out = NULL;
  if (!r || !path || !out) return ps_fail(m, PS_EINVAL, "h5read_array: NULL argument");
  if (path[0] == '/') path++;
  if (strlen(path) >= sizeof buf) return ps_fail(m, PS_EINVAL, "%s: path too long", r->path);
  strcpy(buf, path);
  char *parts[4] = {NULL, NULL, NULL, NULL};
  size_t n_parts = 0;
  for (char *p = buf; p && n_parts < 4;) {
    parts[n_parts++] = p;
    if ((p = strchr(p, '/'))) *p++ = 0;
  }
  int is_metric = strcmp(parts[0], "metrics") == 0;
  int is_quantity = strcmp(parts[0], "truth") == 0 || strcmp(parts[0], "theory") == 0;
  if (!(is_metric && n_parts == 3) && !(is_quantity && n_parts == 2))
    return ps_fail(m, PS_EINVAL, "%s: array path \"%s\" is not metrics/<estimator>/<metric>, "
                   "truth/<quantity> or theory/<quantity>", r->path, path);
  for (size_t i = 0; i < n_parts; i++)
    if (!parts[i][0]) return ps_fail(m, PS_EINVAL, "%s: empty name in \"%s\"", r->path, path);

  /* Walk down one level at a time, so a missing estimator is reported as such. */
  snprintf(gpath, sizeof gpath, "%s", parts[0]);
  htri_t exists = H5Lexists(r->file, gpath, H5P_DEFAULT);
  if (exists <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return ps_fail(m, PS_EINVAL, "%s: no group /%s, so no %s", r->path, gpath, path);
  }
  if (is_metric) {
    snprintf(what, sizeof what, "%.200s/%.200s", parts[0], parts[1]);
    if ((exists = H5Lexists(r->file, what, H5P_DEFAULT)) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return absent(r, path, "metrics", "estimators", m);
    }
    snprintf(gpath, sizeof gpath, "%s", what);
  }
  if ((exists = H5Lexists(r->file, path, H5P_DEFAULT)) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    snprintf(what, sizeof what, "%.900s has", gpath);
    return absent(r, path, gpath, what, m);
  }
  hssize_t n;
  if ((ds = H5Dopen2(r->file, path, H5P_DEFAULT)) < 0 || (space = H5Dget_space(ds)) < 0 ||
      (n = H5Sget_simple_extent_npoints(space)) < 0) {
    rc = h5u_io_fail(m, r->path, "cannot open an array");
    goto done;
  }
  if ((size_t)n != r->n_cells) {
    rc = ps_fail(m, PS_EIO, "%s: %s has %lld elements, expected %zu (axes x replicates)",
                 r->path, path, (long long)n, r->n_cells);
    goto done;
  }
  if (!(values = malloc((n ? (size_t)n : 1) * sizeof *values))) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for %s", r->path, path);
    goto done;
  }
  if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
    rc = h5u_io_fail(m, r->path, "cannot read an array");
    goto done;
  }
  *out = values;
  values = NULL;
done:
  free(values);
  h5u_close_space(&space);
  h5u_close_dataset(&ds);
  return rc;
}

char *h5read_dataset_attr(const h5read *r, const char *path, const char *key) {
  h5u_h5_quiet();
  if (!r || !path || !key) return NULL;
  hid_t obj = H5Oopen(r->file, path, H5P_DEFAULT);
  if (obj < 0) {
    H5Eclear2(H5E_DEFAULT);
    return NULL;
  }
  char *value = h5u_attr_get_string(obj, key);
  H5Oclose(obj);
  H5Eclear2(H5E_DEFAULT);
  return value;
}

int h5read_cell_counts(const h5read *r, size_t *pending, size_t *done, size_t *failed,
                       ps_msg *m) {
  int8_t *status = NULL;
  size_t rows = 0, counts[3] = {0, 0, 0};
  h5u_h5_quiet();
  if (!r) return ps_fail(m, PS_EINVAL, "h5read_cell_counts: reader is NULL");
  int rc = h5u_cells_read_status(r->file, r->path, &status, &rows, m);
  if (rc) return rc;
  for (size_t i = 0; i < rows; i++)
    if (status[i] >= 0 && status[i] <= 2) counts[status[i]]++;
  free(status);
  if (pending) *pending = counts[H5STORE_CELL_PENDING];
  if (done) *done = counts[H5STORE_CELL_DONE];
  if (failed) *failed = counts[H5STORE_CELL_FAILED];
  return PS_OK;
}

/* ------------------------------------------------------------- whole-file reads
 * used by `prefsim merge`: every cell's row of /cells, and /status, /messages. */

/* Schema 1's /cells compound table. */
static int read_cells_v1(const h5read *r, int8_t **status, int32_t **iterations, double **wall,
                         ps_msg *m) {
  typedef struct {
    int8_t status;
    int32_t iterations;
    double wall;
  } row;
  h5u_h5_quiet();
  *status = NULL;
  *iterations = NULL;
  *wall = NULL;
  hid_t ds = H5I_INVALID_HID, type = H5I_INVALID_HID, st = H5I_INVALID_HID;
  row *rows = NULL;
  int rc = PS_OK;
  size_t n = r->n_cells;
  if ((ds = H5Dopen2(r->file, "cells", H5P_DEFAULT)) < 0) {
    rc = h5u_io_fail(m, r->path, "cannot open /cells");
    goto done;
  }
  if ((type = H5Tcreate(H5T_COMPOUND, sizeof(row))) < 0 || (st = h5u_cell_status_enum(1)) < 0 ||
      H5Tinsert(type, "status", offsetof(row, status), st) < 0 ||
      H5Tinsert(type, "iterations", offsetof(row, iterations), H5T_NATIVE_INT32) < 0 ||
      H5Tinsert(type, "wall_seconds", offsetof(row, wall), H5T_NATIVE_DOUBLE) < 0) {
    rc = h5u_io_fail(m, r->path, "cannot describe /cells");
    goto done;
  }
  rows = malloc((n ? n : 1) * sizeof *rows);
  *status = malloc(n ? n : 1);
  *iterations = malloc((n ? n : 1) * sizeof(int32_t));
  *wall = malloc((n ? n : 1) * sizeof(double));
  if (!rows || !*status || !*iterations || !*wall) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for /cells", r->path);
    goto done;
  }
  if (!has_cells(ds, n)) {
    rc = ps_fail(m, PS_EFORMAT, "%s: /cells does not have one row per cell", r->path);
    goto done;
  }
  if (n && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0) {
    rc = h5u_io_fail(m, r->path, "cannot read /cells");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    (*status)[i] = rows[i].status;
    (*iterations)[i] = rows[i].iterations;
    (*wall)[i] = rows[i].wall;
  }
done:
  if (rc) {
    free(*status);
    free(*iterations);
    free(*wall);
    *status = NULL;
    *iterations = NULL;
    *wall = NULL;
  }
  free(rows);
  h5u_close_type(&st);
  h5u_close_type(&type);
  h5u_close_dataset(&ds);
  return rc;
}

/* One whole [axes..., replicate] array of the file (n_cells values of mtype) into buf. */
static int read_whole(const h5read *r, const char *dpath, hid_t mtype, void *buf, ps_msg *m) {
  hid_t ds = H5Dopen2(r->file, dpath, H5P_DEFAULT);
  int rc = PS_OK;
  if (ds < 0) {
    H5Eclear2(H5E_DEFAULT);
    return ps_fail(m, PS_EFORMAT, "%s: no %s", r->path, dpath);
  }
  if (!has_cells(ds, r->n_cells))
    rc = ps_fail(m, PS_EFORMAT, "%s: %s does not have one element per cell", r->path, dpath);
  else if (r->n_cells && H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
    rc = h5u_io_fail(m, r->path, "cannot read /cells");
  H5Dclose(ds);
  return rc;
}

int h5read_cells(const h5read *r, int8_t **status, int32_t **iterations, double **wall,
                 ps_msg *m) {
  h5u_h5_quiet();
  if (r->v1) return read_cells_v1(r, status, iterations, wall, m);
  size_t n = r->n_cells ? r->n_cells : 1;
  *status = malloc(n);
  *iterations = malloc(n * sizeof(int32_t));
  *wall = malloc(n * sizeof(double));
  int rc = !*status || !*iterations || !*wall ? ps_fail(m, PS_ENOMEM, "%s: no memory for /cells", r->path) : PS_OK;
  if (!rc) rc = read_whole(r, "/cells/status", H5T_NATIVE_INT8, *status, m);
  if (!rc) rc = read_whole(r, "/cells/iterations", H5T_NATIVE_INT32, *iterations, m);
  if (!rc) rc = read_whole(r, "/cells/wall_seconds", H5T_NATIVE_DOUBLE, *wall, m);
  if (rc) {
    free(*status);
    free(*iterations);
    free(*wall);
    *status = NULL;
    *iterations = NULL;
    *wall = NULL;
  }
  return rc;
}

int h5read_status(const h5read *r, const char *estimator, int **out, ps_msg *m) {
  char path[PATH_LEN];
  h5u_h5_quiet();
  *out = NULL;
  snprintf(path, sizeof path, "status/%s", estimator);
  hid_t ds = H5Dopen2(r->file, path, H5P_DEFAULT);
  if (ds < 0) {
    H5Eclear2(H5E_DEFAULT);
    return ps_fail(m, PS_EINVAL, "%s: no /%s", r->path, path);
  }
  int *v = malloc((r->n_cells ? r->n_cells : 1) * sizeof *v);
  int rc = PS_OK;
  if (!has_cells(ds, r->n_cells))
    rc = ps_fail(m, PS_EFORMAT, "%s: /%s does not have one element per cell", r->path, path);
  else if (!v)
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for /%s", r->path, path);
  else if (H5Dread(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
    rc = h5u_io_fail(m, r->path, "cannot read a status array");
  H5Dclose(ds);
  if (rc) {
    free(v);
    return rc;
  }
  *out = v;
  return PS_OK;
}

int h5read_messages(const h5read *r, const char *estimator, char ***out, ps_msg *m) {
  char path[PATH_LEN];
  h5u_h5_quiet();
  *out = NULL;
  snprintf(path, sizeof path, "messages/%s", estimator);
  hid_t ds = H5Dopen2(r->file, path, H5P_DEFAULT);
  if (ds < 0) {
    H5Eclear2(H5E_DEFAULT);
    return ps_fail(m, PS_EINVAL, "%s: no /%s", r->path, path);
  }
  hid_t t = h5u_vstring_type(H5T_CSET_UTF8), space = H5Dget_space(ds);
  char **v = calloc(r->n_cells ? r->n_cells : 1, sizeof *v);
  int rc = PS_OK;
  if (!has_cells(ds, r->n_cells)) {
    free(v);
    v = NULL;
    rc = ps_fail(m, PS_EFORMAT, "%s: /%s does not have one element per cell", r->path, path);
  } else if (!v)
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for /%s", r->path, path);
  else if (t < 0 || H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
    rc = h5u_io_fail(m, r->path, "cannot read a message array");
  if (!rc) {
    /* copy into malloc'ed strings the caller can free, then let HDF5 reclaim its own */
    char **copy = calloc(r->n_cells ? r->n_cells : 1, sizeof *copy);
    for (size_t i = 0; copy && i < r->n_cells; i++)
      if (!(copy[i] = strdup(v[i] ? v[i] : ""))) {
        for (size_t j = 0; j < i; j++) free(copy[j]);
        free(copy);
        copy = NULL;
      }
    H5Dvlen_reclaim(t, space, H5P_DEFAULT, v);
    if (!copy)
      rc = ps_fail(m, PS_ENOMEM, "%s: no memory for /%s", r->path, path);
    else
      *out = copy;
  }
  free(v);
  h5u_close_type(&t);
  h5u_close_space(&space);
  H5Dclose(ds);
  return rc;
}

size_t h5read_n_cells(const h5read *r) { return r ? r->n_cells : 0; }

