/* h5util.c — helpers shared by the results store's writer and reader (h5util.h). */
#include "h5util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char H5U_STATUS_CODES[] =
    "0=ok,1=invalid,2=no-memory,3=io-error,4=not-converged,5=no-mle,6=singular,"
    "7=non-finite,8=interrupted,9=bad-format";

/* Root attributes the store writes itself; a layout may not set them. */
const char *const H5U_RESERVED_ATTRS[] = {"schema",       "status",      "created_utc",  "finished_utc",
                                          "hdf5_version", "master_seed", "snapshot_utc", "Conventions",
                                          "title",        NULL};

/* The root's groups and /cells's arrays: no sweep axis may take these names, since a
 * group's links to the root's scales share its namespace (h5store.h). */
const char *const H5U_ROOT_GROUPS[] = {"metrics", "status", "messages", "truth", "theory", "cells", "verdicts",
                                       "replicate", NULL};
const char *const H5U_CELL_ARRAYS[] = {"status", "iterations", "wall_seconds", NULL};

/* ------------------------------------------------------------------ small helpers */

void h5u_close_dataset(hid_t *id) {
  if (*id >= 0) H5Dclose(*id);
  *id = H5I_INVALID_HID;
}
void h5u_close_group(hid_t *id) {
  if (*id >= 0) H5Gclose(*id);
  *id = H5I_INVALID_HID;
}
void h5u_close_type(hid_t *id) {
  if (*id >= 0) H5Tclose(*id);
  *id = H5I_INVALID_HID;
}
void h5u_close_space(hid_t *id) {
  if (*id >= 0) H5Sclose(*id);
  *id = H5I_INVALID_HID;
}
void h5u_close_plist(hid_t *id) {
  if (*id >= 0) H5Pclose(*id);
  *id = H5I_INVALID_HID;
}
void h5u_close_attr(hid_t *id) {
  if (*id >= 0) H5Aclose(*id);
  *id = H5I_INVALID_HID;
}

void h5u_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }


herr_t h5u_detail_walk(unsigned n, const H5E_error2_t *e, void *data) {
  h5_detail *d = data;
  (void)n;
  if (!d->found && e->desc && e->desc[0]) {
    snprintf(d->text, sizeof d->text, "%s", e->desc);
    d->found = 1;
  }
  return 0;
}

/* PS_EIO: "<path>: <what> (HDF5: <innermost error on the stack>)". */
int h5u_io_fail(ps_msg *m, const char *path, const char *what) {
  h5_detail d = {{0}, 0};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5u_detail_walk, &d);
  H5Eclear2(H5E_DEFAULT);
  if (d.found) return ps_fail(m, PS_EIO, "%s: %s (HDF5: %s)", path, what, d.text);
  return ps_fail(m, PS_EIO, "%s: %s", path, what);
}

char *h5u_dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

void h5u_utc_now(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Variable-length string type in character set cset; negative on failure. */
hid_t h5u_vstring_type(H5T_cset_t cset) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, cset) < 0) {
    H5Tclose(t);
    return H5I_INVALID_HID;
  }
  return t;
}

/* Write scalar variable-length UTF-8 attribute key=value, in place when it already exists
 * as a scalar variable-length string (keeping its position in creation order), else
 * replacing it. */
herr_t h5u_attr_put_string(hid_t obj, const char *key, const char *value) {
  hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
  herr_t rc = -1;
  htri_t exists = H5Aexists(obj, key);
  if (exists < 0 || (type = h5u_vstring_type(H5T_CSET_UTF8)) < 0) goto done;
  if (exists > 0) {
    hid_t old_type = H5I_INVALID_HID;
    int reusable = (attr = H5Aopen(obj, key, H5P_DEFAULT)) >= 0 &&
                   (old_type = H5Aget_type(attr)) >= 0 && H5Tis_variable_str(old_type) > 0 &&
                   H5Tget_cset(old_type) == H5T_CSET_UTF8 &&
                   (space = H5Aget_space(attr)) >= 0 &&
                   H5Sget_simple_extent_type(space) == H5S_SCALAR;
    h5u_close_type(&old_type);
    h5u_close_space(&space);
    if (reusable) {
      rc = H5Awrite(attr, type, &value);
      goto done;
    }
    h5u_close_attr(&attr);
    if (H5Adelete(obj, key) < 0) goto done;
  }
  if ((space = H5Screate(H5S_SCALAR)) < 0) goto done;
  if ((attr = H5Acreate2(obj, key, type, space, H5P_DEFAULT, H5P_DEFAULT)) < 0) goto done;
  if (H5Awrite(attr, type, &value) < 0) goto done;
  rc = 0;
done:
  h5u_close_attr(&attr);
  h5u_close_space(&space);
  h5u_close_type(&type);
  return rc;
}

/* One string (variable or fixed length) from an open attribute; malloc'ed, NULL if the
 * attribute is not a single string. */
char *h5u_attr_read_string(hid_t attr) {
  hid_t ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID, space = H5I_INVALID_HID;
  char *out = NULL;
  if ((ftype = H5Aget_type(attr)) < 0 || H5Tget_class(ftype) != H5T_STRING) goto done;
  if ((space = H5Aget_space(attr)) < 0 || H5Sget_simple_extent_npoints(space) != 1) goto done;
  if (H5Tis_variable_str(ftype) > 0) {
    char *v = NULL;
    if ((mtype = h5u_vstring_type(H5Tget_cset(ftype))) < 0) goto done;
    if (H5Aread(attr, mtype, &v) < 0) goto done;
    out = h5u_dup_string(v ? v : "");
    H5free_memory(v);
  } else {
    size_t n = H5Tget_size(ftype);
    if (n == 0 || !(out = calloc(n + 1, 1))) goto done;
    if (H5Aread(attr, ftype, out) < 0) {
      free(out);
      out = NULL;
    }
  }
done:
  h5u_close_space(&space);
  h5u_close_type(&mtype);
  h5u_close_type(&ftype);
  return out;
}

/* String attribute key of obj (malloc'ed), or NULL if absent or not a string. */
char *h5u_attr_get_string(hid_t obj, const char *key) {
  if (H5Aexists(obj, key) <= 0) return NULL;
  hid_t attr = H5Aopen(obj, key, H5P_DEFAULT);
  if (attr < 0) return NULL;
  char *out = h5u_attr_read_string(attr);
  H5Aclose(attr);
  return out;
}

/* --------------------------------------------------------------- group listings */


void h5u_name_list_free(name_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->names[i]);
  free(l->names);
  l->names = NULL;
  l->n = l->cap = 0;
}

herr_t h5u_name_list_add(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  name_list *l = data;
  (void)group;
  (void)info;
  if (l->n + 2 > l->cap) { /* room for a NULL terminator */
    size_t cap = l->cap ? 2 * l->cap : 8;
    char **grown = realloc(l->names, cap * sizeof *grown);
    if (!grown) goto oom;
    l->names = grown;
    l->cap = cap;
  }
  if (!(l->names[l->n] = h5u_dup_string(name))) goto oom;
  l->names[++l->n] = NULL;
  return 0;
oom:
  l->failed = 1;
  return -1;
}

/* Names of the links in group path under loc, in creation order when the group tracks
 * it, else in name order.  On success l->names is NULL-terminated (never NULL). */
int h5u_group_names(hid_t loc, const char *path, name_list *l) {
  hid_t g = H5Gopen2(loc, path, H5P_DEFAULT);
  memset(l, 0, sizeof *l);
  if (g < 0) return -1;
  hsize_t idx = 0;
  herr_t rc = H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, h5u_name_list_add, l);
  if (rc < 0 && !l->failed) {
    h5u_name_list_free(l);
    idx = 0;
    rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, h5u_name_list_add, l);
  }
  H5Gclose(g);
  if (rc < 0 || l->failed) {
    h5u_name_list_free(l);
    return -1;
  }
  if (!l->names && !(l->names = calloc(1, sizeof *l->names))) return -1;
  return 0;
}

int h5u_axes_v1(hid_t file) {
  htri_t v1 = H5Lexists(file, "axes", H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return v1 > 0;
}

/* Schema 2: the root's datasets (its dimension scales) in creation order; schema 1:
 * the links of /axes. */
int h5u_axis_names(hid_t file, name_list *l) {
  if (h5u_axes_v1(file)) return h5u_group_names(file, "axes", l);
  name_list all;
  if (h5u_group_names(file, "/", &all) < 0) return -1;
  memset(l, 0, sizeof *l);
  int rc = 0;
  for (size_t i = 0; i < all.n && !rc; i++) {
    hid_t obj = H5Oopen(file, all.names[i], H5P_DEFAULT);
    int is_ds = obj >= 0 && H5Iget_type(obj) == H5I_DATASET;
    if (obj >= 0) H5Oclose(obj);
    if (obj < 0 || (is_ds && h5u_name_list_add(file, all.names[i], NULL, l) < 0)) rc = -1;
  }
  h5u_name_list_free(&all);
  H5Eclear2(H5E_DEFAULT);
  if (!rc && !l->names && !(l->names = calloc(1, sizeof *l->names))) rc = -1;
  if (rc) h5u_name_list_free(l);
  return rc;
}

void h5u_name_list_drop(name_list *l, const name_list *drop) {
  size_t k = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (h5u_name_list_has(drop, l->names[i])) free(l->names[i]);
    else l->names[k++] = l->names[i];
  }
  l->n = k;
  if (l->names) l->names[k] = NULL;
}

int h5u_name_list_has(const name_list *l, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->names[i], name) == 0) return 1;
  return 0;
}

/* "a, b, c" (or "none") into buf, truncated to fit. */
const char *h5u_join_names(const char *const *names, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = 0;
  for (size_t i = 0; names && names[i]; i++) {
    int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
    if (w < 0 || (size_t)w >= size - used) break;
    used += (size_t)w;
  }
  if (!buf[0]) snprintf(buf, size, "none");
  return buf;
}

/* ------------------------------------------------------------------- /cells rows */

hid_t h5u_cell_status_enum(int native) {
  hid_t e = H5Tenum_create(native ? H5T_NATIVE_INT8 : H5T_STD_I8LE);
  int8_t v;
  if (e < 0) return e;
  v = H5STORE_CELL_PENDING;
  if (H5Tenum_insert(e, "PENDING", &v) < 0) goto fail;
  v = H5STORE_CELL_DONE;
  if (H5Tenum_insert(e, "DONE", &v) < 0) goto fail;
  v = H5STORE_CELL_FAILED;
  if (H5Tenum_insert(e, "FAILED", &v) < 0) goto fail;
  return e;
fail:
  H5Tclose(e);
  return H5I_INVALID_HID;
}

/* Memory type selecting only the status member, for counting and the done mask. */
hid_t h5u_cells_status_only_type(void) {
  hid_t st = h5u_cell_status_enum(1), t = H5I_INVALID_HID;
  if (st < 0) return st;
  if ((t = H5Tcreate(H5T_COMPOUND, 1)) >= 0 && H5Tinsert(t, "status", 0, st) < 0) h5u_close_type(&t);
  H5Tclose(st);
  return t;
}

int h5u_cells_v1(hid_t file) {
  hid_t obj = H5Oopen(file, "cells", H5P_DEFAULT);
  int v1 = obj >= 0 && H5Iget_type(obj) == H5I_DATASET;
  if (obj >= 0) H5Oclose(obj);
  H5Eclear2(H5E_DEFAULT);
  return v1;
}

/* One status byte per cell (/cells/status, or the status column of schema 1's /cells
 * table) into *out (malloc'ed); *n receives the count. */
int h5u_cells_read_status(hid_t file, const char *path, int8_t **out, size_t *n,
                             ps_msg *m) {
  hid_t ds = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
  int8_t *status = NULL;
  int rc = PS_OK, v1 = h5u_cells_v1(file);
  hssize_t rows;
  if ((ds = H5Dopen2(file, v1 ? "cells" : "cells/status", H5P_DEFAULT)) < 0) {
    rc = h5u_io_fail(m, path, v1 ? "cannot open /cells" : "cannot open /cells/status");
    goto done;
  }
  if ((space = H5Dget_space(ds)) < 0 || (rows = H5Sget_simple_extent_npoints(space)) < 0 ||
      (type = v1 ? h5u_cells_status_only_type() : H5Tcopy(H5T_NATIVE_INT8)) < 0) {
    rc = h5u_io_fail(m, path, "cannot inspect /cells");
    goto done;
  }
  if (!(status = malloc(rows ? (size_t)rows : 1))) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for %lld cell statuses", path, (long long)rows);
    goto done;
  }
  if (rows && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, status) < 0) {
    rc = h5u_io_fail(m, path, "cannot read /cells status");
    goto done;
  }
  *out = status;
  *n = (size_t)rows;
  status = NULL;
done:
  free(status);
  h5u_close_type(&type);
  h5u_close_space(&space);
  h5u_close_dataset(&ds);
  return rc;
}

