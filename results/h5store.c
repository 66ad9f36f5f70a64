/* h5store.c — the prefsim results file: writer, resume check and reader (see h5store.h).
 *
 * Every [axes..., replicate] array has rank k+1 and the extent s->dims; cell id c maps to
 * its coordinates by C-order unravelling (replicate fastest), and row c of /cells is cell c.
 *
 * Invariants a reader of this file must keep:
 *  - Groups track link creation order, so /axes lists the sweep axes in dimension order
 *    (replicate last) and /metrics lists estimators in layout order.  Readers fall back to
 *    name order for files written without it.
 *  - The writer keeps every array dataset open for the life of the handle: a cell write is
 *    one single-element H5Dwrite per dataset plus one /cells row, then H5Fflush.
 *  - Every hid_t opened here is closed on every path (tests check H5Fget_obj_count).
 *    HDF5's automatic error printing is switched off on entry to each public function;
 *    HDF5 failures become PS_EIO with the path and the innermost HDF5 error description.
 *  - /cells rows are packed (no padding), identical in memory and on disk, so a row is
 *    assembled with memcpy at the offsets of cell_layout.
 *  - HDF5 (Debian's serial build) is not thread-safe: one thread at a time may call in.
 *
 * Chunking: arrays are written one element at a time, each write followed by a flush that
 * re-deflates every dirty chunk, and read whole.  Chunks are blocks of at most CHUNK_ELEMS
 * elements (1 KiB of float64) filled from the replicate dimension outwards, so usually
 * "all replicates x 1 x ... x 1".  Measured on 10,000 cells x 12 datasets: 8 KiB chunks
 * cost 0.7 ms per cell (deflate dominates), 1 KiB chunks 0.23 ms, no deflate 0.05 ms;
 * smaller chunks gain little because zlib's per-call setup then dominates.
 */
#include "h5store.h"

#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#define CHUNK_ELEMS 128
#define NAME_MAX_LEN 255
#define PATH_LEN 1024
#define CELLS_BLOCK 65536 /* rows per write when initialising /cells */
#define DEFLATE_LEVEL 4
/* Type-conversion buffer for single-element writes.  HDF5's default (1 MiB, calloc'ed
 * on every H5Dwrite that converts: the message strings and the /cells row) made each
 * cell cost milliseconds of page faults; one element needs under 64 bytes. */
#define XFER_BUFFER 4096

#if H5_VERSION_GE(1, 12, 0)
#define vlen_reclaim(type, space, buf) H5Treclaim(type, space, H5P_DEFAULT, buf)
#else
#define vlen_reclaim(type, space, buf) H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf)
#endif

static const char STATUS_CODES[] =
    "0=ok,1=invalid,2=no-memory,3=io-error,4=not-converged,5=no-mle,6=singular,"
    "7=non-finite,8=interrupted,9=bad-format";

/* Root attributes the store writes itself; a layout may not set them. */
static const char *const RESERVED_ATTRS[] = {"schema",       "status",       "created_utc",
                                             "finished_utc", "hdf5_version", "master_seed",
                                             NULL};

/* ------------------------------------------------------------------ small helpers */

static void close_dataset(hid_t *id) {
  if (*id >= 0) H5Dclose(*id);
  *id = H5I_INVALID_HID;
}
static void close_group(hid_t *id) {
  if (*id >= 0) H5Gclose(*id);
  *id = H5I_INVALID_HID;
}
static void close_type(hid_t *id) {
  if (*id >= 0) H5Tclose(*id);
  *id = H5I_INVALID_HID;
}
static void close_space(hid_t *id) {
  if (*id >= 0) H5Sclose(*id);
  *id = H5I_INVALID_HID;
}
static void close_plist(hid_t *id) {
  if (*id >= 0) H5Pclose(*id);
  *id = H5I_INVALID_HID;
}
static void close_attr(hid_t *id) {
  if (*id >= 0) H5Aclose(*id);
  *id = H5I_INVALID_HID;
}

static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

typedef struct {
  char text[320];
  int found;
} h5_detail;

static herr_t detail_walk(unsigned n, const H5E_error2_t *e, void *data) {
  h5_detail *d = data;
  (void)n;
  if (!d->found && e->desc && e->desc[0]) {
    snprintf(d->text, sizeof d->text, "%s", e->desc);
    d->found = 1;
  }
  return 0;
}

/* PS_EIO: "<path>: <what> (HDF5: <innermost error on the stack>)". */
static int io_fail(ps_msg *m, const char *path, const char *what) {
  h5_detail d = {{0}, 0};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, detail_walk, &d);
  H5Eclear2(H5E_DEFAULT);
  if (d.found) return ps_fail(m, PS_EIO, "%s: %s (HDF5: %s)", path, what, d.text);
  return ps_fail(m, PS_EIO, "%s: %s", path, what);
}

static char *dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static void utc_now(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Variable-length string type in character set cset; negative on failure. */
static hid_t vstring_type(H5T_cset_t cset) {
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
static herr_t attr_put_string(hid_t obj, const char *key, const char *value) {
  hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
  herr_t rc = -1;
  htri_t exists = H5Aexists(obj, key);
  if (exists < 0 || (type = vstring_type(H5T_CSET_UTF8)) < 0) goto done;
  if (exists > 0) {
    hid_t old_type = H5I_INVALID_HID;
    int reusable = (attr = H5Aopen(obj, key, H5P_DEFAULT)) >= 0 &&
                   (old_type = H5Aget_type(attr)) >= 0 && H5Tis_variable_str(old_type) > 0 &&
                   H5Tget_cset(old_type) == H5T_CSET_UTF8 &&
                   (space = H5Aget_space(attr)) >= 0 &&
                   H5Sget_simple_extent_type(space) == H5S_SCALAR;
    close_type(&old_type);
    close_space(&space);
    if (reusable) {
      rc = H5Awrite(attr, type, &value);
      goto done;
    }
    close_attr(&attr);
    if (H5Adelete(obj, key) < 0) goto done;
  }
  if ((space = H5Screate(H5S_SCALAR)) < 0) goto done;
  if ((attr = H5Acreate2(obj, key, type, space, H5P_DEFAULT, H5P_DEFAULT)) < 0) goto done;
  if (H5Awrite(attr, type, &value) < 0) goto done;
  rc = 0;
done:
  close_attr(&attr);
  close_space(&space);
  close_type(&type);
  return rc;
}

/* One string (variable or fixed length) from an open attribute; malloc'ed, NULL if the
 * attribute is not a single string. */
static char *attr_read_string(hid_t attr) {
  hid_t ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID, space = H5I_INVALID_HID;
  char *out = NULL;
  if ((ftype = H5Aget_type(attr)) < 0 || H5Tget_class(ftype) != H5T_STRING) goto done;
  if ((space = H5Aget_space(attr)) < 0 || H5Sget_simple_extent_npoints(space) != 1) goto done;
  if (H5Tis_variable_str(ftype) > 0) {
    char *v = NULL;
    if ((mtype = vstring_type(H5Tget_cset(ftype))) < 0) goto done;
    if (H5Aread(attr, mtype, &v) < 0) goto done;
    out = dup_string(v ? v : "");
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
  close_space(&space);
  close_type(&mtype);
  close_type(&ftype);
  return out;
}

/* String attribute key of obj (malloc'ed), or NULL if absent or not a string. */
static char *attr_get_string(hid_t obj, const char *key) {
  if (H5Aexists(obj, key) <= 0) return NULL;
  hid_t attr = H5Aopen(obj, key, H5P_DEFAULT);
  if (attr < 0) return NULL;
  char *out = attr_read_string(attr);
  H5Aclose(attr);
  return out;
}

/* --------------------------------------------------------------- group listings */

typedef struct {
  char **names;
  size_t n, cap;
  int failed;
} name_list;

static void name_list_free(name_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->names[i]);
  free(l->names);
  l->names = NULL;
  l->n = l->cap = 0;
}

static herr_t name_list_add(hid_t group, const char *name, const H5L_info_t *info, void *data) {
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
  if (!(l->names[l->n] = dup_string(name))) goto oom;
  l->names[++l->n] = NULL;
  return 0;
oom:
  l->failed = 1;
  return -1;
}

/* Names of the links in group path under loc, in creation order when the group tracks
 * it, else in name order.  On success l->names is NULL-terminated (never NULL). */
static int group_names(hid_t loc, const char *path, name_list *l) {
  hid_t g = H5Gopen2(loc, path, H5P_DEFAULT);
  memset(l, 0, sizeof *l);
  if (g < 0) return -1;
  hsize_t idx = 0;
  herr_t rc = H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, name_list_add, l);
  if (rc < 0 && !l->failed) {
    name_list_free(l);
    idx = 0;
    rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, name_list_add, l);
  }
  H5Gclose(g);
  if (rc < 0 || l->failed) {
    name_list_free(l);
    return -1;
  }
  if (!l->names && !(l->names = calloc(1, sizeof *l->names))) return -1;
  return 0;
}

static int name_list_has(const name_list *l, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->names[i], name) == 0) return 1;
  return 0;
}

/* "a, b, c" (or "none") into buf, truncated to fit. */
static const char *join_names(const char *const *names, char *buf, size_t size) {
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

/* ------------------------------------------------------------ layout validation */

static int name_ok(const char *name) {
  return name && name[0] && strlen(name) <= NAME_MAX_LEN && !strchr(name, '/') &&
         strcmp(name, ".") != 0;
}

static int check_quantities(const char *path, const char *what, size_t n,
                            const h5store_quantity *q, ps_msg *m) {
  if (n && !q) return ps_fail(m, PS_EINVAL, "%s: %s list is NULL", path, what);
  for (size_t i = 0; i < n; i++) {
    if (!name_ok(q[i].name))
      return ps_fail(m, PS_EINVAL, "%s: %s %zu has a bad name (empty, contains '/' or longer "
                     "than %d)", path, what, i, NAME_MAX_LEN);
    for (size_t j = 0; j < i; j++)
      if (strcmp(q[i].name, q[j].name) == 0)
        return ps_fail(m, PS_EINVAL, "%s: %s '%s' appears twice", path, what, q[i].name);
  }
  return PS_OK;
}

static int check_layout(const char *path, const h5store_layout *L, ps_msg *m) {
  if (!path || !path[0]) return ps_fail(m, PS_EINVAL, "h5store: empty file path");
  if (!L) return ps_fail(m, PS_EINVAL, "%s: layout is NULL", path);
  if (L->n_axes + 1 > H5S_MAX_RANK)
    return ps_fail(m, PS_EINVAL, "%s: %zu sweep axes, at most %d allowed", path, L->n_axes,
                   H5S_MAX_RANK - 1);
  if (L->n_axes && !L->axes) return ps_fail(m, PS_EINVAL, "%s: axes list is NULL", path);
  size_t n_cells = 1;
  for (size_t i = 0; i < L->n_axes; i++) {
    const h5store_axis *a = &L->axes[i];
    if (!name_ok(a->name) || strcmp(a->name, "replicate") == 0)
      return ps_fail(m, PS_EINVAL, "%s: axis %zu has a bad name (empty, contains '/', or "
                     "\"replicate\")", path, i);
    for (size_t j = 0; j < i; j++)
      if (strcmp(a->name, L->axes[j].name) == 0)
        return ps_fail(m, PS_EINVAL, "%s: axis '%s' appears twice", path, a->name);
    if (a->n == 0) return ps_fail(m, PS_EINVAL, "%s: axis '%s' has no values", path, a->name);
    if (!a->values == !a->labels)
      return ps_fail(m, PS_EINVAL, "%s: axis '%s' needs exactly one of values and labels",
                     path, a->name);
    for (size_t j = 0; a->labels && j < a->n; j++)
      if (!a->labels[j])
        return ps_fail(m, PS_EINVAL, "%s: axis '%s' label %zu is NULL", path, a->name, j);
    if (n_cells > SIZE_MAX / a->n)
      return ps_fail(m, PS_EINVAL, "%s: too many cells", path);
    n_cells *= a->n;
  }
  if (L->n_replicates == 0 || L->n_replicates > INT32_MAX)
    return ps_fail(m, PS_EINVAL, "%s: n_replicates = %zu, need 1..%d", path, L->n_replicates,
                   INT32_MAX);
  if (n_cells > (SIZE_MAX / 64) / L->n_replicates)
    return ps_fail(m, PS_EINVAL, "%s: too many cells", path);
  if (L->n_estimators && !L->estimators)
    return ps_fail(m, PS_EINVAL, "%s: estimator list is NULL", path);
  for (size_t e = 0; e < L->n_estimators; e++) {
    const h5store_estimator *est = &L->estimators[e];
    if (!name_ok(est->label))
      return ps_fail(m, PS_EINVAL, "%s: estimator %zu has a bad label", path, e);
    for (size_t j = 0; j < e; j++)
      if (strcmp(est->label, L->estimators[j].label) == 0)
        return ps_fail(m, PS_EINVAL, "%s: estimator label '%s' appears twice", path,
                       est->label);
    char what[NAME_MAX_LEN + 32];
    snprintf(what, sizeof what, "metric of estimator '%s'", est->label);
    int rc = check_quantities(path, what, est->n_metrics, est->metrics, m);
    if (rc) return rc;
  }
  int rc = check_quantities(path, "truth quantity", L->n_truth, L->truth, m);
  if (!rc) rc = check_quantities(path, "theory quantity", L->n_theory, L->theory, m);
  if (rc) return rc;
  if (L->n_attrs && !L->attrs) return ps_fail(m, PS_EINVAL, "%s: attribute list is NULL", path);
  int have_config = 0;
  for (size_t i = 0; i < L->n_attrs; i++) {
    const h5store_attr *a = &L->attrs[i];
    if (!a->key || !a->key[0] || !a->value)
      return ps_fail(m, PS_EINVAL, "%s: root attribute %zu has no key or no value", path, i);
    for (size_t j = 0; RESERVED_ATTRS[j]; j++)
      if (strcmp(a->key, RESERVED_ATTRS[j]) == 0)
        return ps_fail(m, PS_EINVAL, "%s: root attribute '%s' is set by the store itself",
                       path, a->key);
    for (size_t j = 0; j < i; j++)
      if (strcmp(a->key, L->attrs[j].key) == 0)
        return ps_fail(m, PS_EINVAL, "%s: root attribute '%s' appears twice", path, a->key);
    if (strcmp(a->key, "config") == 0) have_config = 1;
  }
  if (!have_config)
    return ps_fail(m, PS_EINVAL, "%s: layout has no root attribute \"config\"", path);
  return PS_OK;
}

/* The attribute that identifies the results' data: "config_data" when the layout
 * has it (the config without the claims and figures, which may change between runs
 * of the same data), else "config". */
static const char *identity_key(const h5store_layout *L) {
  for (size_t i = 0; i < L->n_attrs; i++)
    if (strcmp(L->attrs[i].key, "config_data") == 0) return "config_data";
  return "config";
}

static const char *layout_config(const h5store_layout *L) {
  const char *key = identity_key(L);
  for (size_t i = 0; i < L->n_attrs; i++)
    if (strcmp(L->attrs[i].key, key) == 0) return L->attrs[i].value;
  return "";
}

/* ------------------------------------------------------------------- /cells rows */

/* Byte offsets of the packed /cells row for k sweep axes. */
typedef struct {
  size_t id, index, replicate, status, iterations, wall_seconds, size;
} cell_layout;

static cell_layout cell_layout_for(size_t k) {
  cell_layout c;
  c.id = 0;
  c.index = 8;
  c.replicate = c.index + 4 * k;
  c.status = c.replicate + 4;
  c.iterations = c.status + 1;
  c.wall_seconds = c.iterations + 4;
  c.size = c.wall_seconds + 8;
  return c;
}

static hid_t cell_status_enum(int native) {
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

/* The packed /cells compound: little-endian on disk (native = 0) or native in memory.
 * The index member is omitted when there are no sweep axes (k = 0). */
static hid_t cells_type(size_t k, int native) {
  cell_layout c = cell_layout_for(k);
  hid_t t = H5Tcreate(H5T_COMPOUND, c.size), arr = H5I_INVALID_HID, st = H5I_INVALID_HID;
  if (t < 0) return t;
  if (H5Tinsert(t, "id", c.id, native ? H5T_NATIVE_INT64 : H5T_STD_I64LE) < 0) goto fail;
  if (k) {
    hsize_t dim = k;
    if ((arr = H5Tarray_create2(native ? H5T_NATIVE_INT32 : H5T_STD_I32LE, 1, &dim)) < 0)
      goto fail;
    if (H5Tinsert(t, "index", c.index, arr) < 0) goto fail;
  }
  if (H5Tinsert(t, "replicate", c.replicate, native ? H5T_NATIVE_INT32 : H5T_STD_I32LE) < 0)
    goto fail;
  if ((st = cell_status_enum(native)) < 0 || H5Tinsert(t, "status", c.status, st) < 0)
    goto fail;
  if (H5Tinsert(t, "iterations", c.iterations, native ? H5T_NATIVE_INT32 : H5T_STD_I32LE) < 0)
    goto fail;
  if (H5Tinsert(t, "wall_seconds", c.wall_seconds,
                native ? H5T_NATIVE_DOUBLE : H5T_IEEE_F64LE) < 0)
    goto fail;
  close_type(&arr);
  close_type(&st);
  return t;
fail:
  close_type(&arr);
  close_type(&st);
  H5Tclose(t);
  return H5I_INVALID_HID;
}

/* Memory type selecting only the status member, for counting and the done mask. */
static hid_t cells_status_only_type(void) {
  hid_t st = cell_status_enum(1), t = H5I_INVALID_HID;
  if (st < 0) return st;
  if ((t = H5Tcreate(H5T_COMPOUND, 1)) >= 0 && H5Tinsert(t, "status", 0, st) < 0) close_type(&t);
  H5Tclose(st);
  return t;
}

/* One status byte per row of /cells into *out (malloc'ed); *n receives the row count. */
static int cells_read_status(hid_t file, const char *path, int8_t **out, size_t *n,
                             ps_msg *m) {
  hid_t ds = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
  int8_t *status = NULL;
  int rc = PS_OK;
  hssize_t rows;
  if ((ds = H5Dopen2(file, "cells", H5P_DEFAULT)) < 0) {
    rc = io_fail(m, path, "cannot open /cells");
    goto done;
  }
  if ((space = H5Dget_space(ds)) < 0 || (rows = H5Sget_simple_extent_npoints(space)) < 0 ||
      (type = cells_status_only_type()) < 0) {
    rc = io_fail(m, path, "cannot inspect /cells");
    goto done;
  }
  if (!(status = malloc(rows ? (size_t)rows : 1))) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for %lld cell statuses", path, (long long)rows);
    goto done;
  }
  if (rows && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, status) < 0) {
    rc = io_fail(m, path, "cannot read /cells status");
    goto done;
  }
  *out = status;
  *n = (size_t)rows;
  status = NULL;
done:
  free(status);
  close_type(&type);
  close_space(&space);
  close_dataset(&ds);
  return rc;
}

/* ------------------------------------------------------------------- the writer */

struct h5store {
  char *path;
  hid_t file;
  int rank;                 /* n_axes + 1 */
  hsize_t dims[H5S_MAX_RANK];
  size_t n_cells;
  size_t n_estimators;
  size_t *n_metrics;        /* per estimator */
  hid_t **metric;           /* metric[e][j] */
  hid_t *status, *message;  /* per estimator */
  size_t n_truth, n_theory;
  hid_t *truth, *theory;
  hid_t cells;              /* /cells dataset */
  hid_t cells_mem;          /* packed native compound */
  cell_layout row_layout;
  unsigned char *row;       /* one packed /cells row */
  hid_t array_space;        /* [axes..., replicate], selection moved per write */
  hid_t cells_space;        /* [n_cells] */
  hid_t one;                /* scalar memory space */
  hid_t str;                /* variable-length UTF-8 string */
  hid_t xfer;               /* transfer properties: small conversion buffers */
};

static void store_free(h5store *s) {
  if (!s) return;
  for (size_t e = 0; e < s->n_estimators; e++) {
    for (size_t j = 0; s->metric && s->metric[e] && j < s->n_metrics[e]; j++)
      close_dataset(&s->metric[e][j]);
    if (s->metric) free(s->metric[e]);
    if (s->status) close_dataset(&s->status[e]);
    if (s->message) close_dataset(&s->message[e]);
  }
  for (size_t j = 0; s->truth && j < s->n_truth; j++) close_dataset(&s->truth[j]);
  for (size_t j = 0; s->theory && j < s->n_theory; j++) close_dataset(&s->theory[j]);
  close_dataset(&s->cells);
  close_type(&s->cells_mem);
  close_space(&s->array_space);
  close_space(&s->cells_space);
  close_space(&s->one);
  close_type(&s->str);
  close_plist(&s->xfer);
  free(s->metric);
  free(s->n_metrics);
  free(s->status);
  free(s->message);
  free(s->truth);
  free(s->theory);
  free(s->row);
  free(s->path);
  free(s);
}

static hid_t *alloc_ids(size_t n) {
  hid_t *ids = malloc((n ? n : 1) * sizeof *ids);
  for (size_t i = 0; ids && i < n; i++) ids[i] = H5I_INVALID_HID;
  return ids;
}

/* A store with every id invalid and the shapes of layout L (already checked). */
static h5store *store_alloc(const char *path, const h5store_layout *L) {
  h5store *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->file = s->cells = s->cells_mem = H5I_INVALID_HID;
  s->array_space = s->cells_space = s->one = s->str = s->xfer = H5I_INVALID_HID;
  s->rank = (int)L->n_axes + 1;
  s->n_cells = L->n_replicates;
  for (size_t i = 0; i < L->n_axes; i++) {
    s->dims[i] = L->axes[i].n;
    s->n_cells *= L->axes[i].n;
  }
  s->dims[L->n_axes] = L->n_replicates;
  s->n_estimators = L->n_estimators;
  s->n_truth = L->n_truth;
  s->n_theory = L->n_theory;
  s->row_layout = cell_layout_for(L->n_axes);
  s->path = dup_string(path);
  s->n_metrics = calloc(L->n_estimators ? L->n_estimators : 1, sizeof *s->n_metrics);
  s->metric = calloc(L->n_estimators ? L->n_estimators : 1, sizeof *s->metric);
  s->status = alloc_ids(L->n_estimators);
  s->message = alloc_ids(L->n_estimators);
  s->truth = alloc_ids(L->n_truth);
  s->theory = alloc_ids(L->n_theory);
  s->row = calloc(1, s->row_layout.size);
  if (!s->path || !s->n_metrics || !s->metric || !s->status || !s->message || !s->truth ||
      !s->theory || !s->row)
    goto fail;
  for (size_t e = 0; e < L->n_estimators; e++) {
    s->n_metrics[e] = L->estimators[e].n_metrics;
    if (!(s->metric[e] = alloc_ids(s->n_metrics[e]))) goto fail;
  }
  return s;
fail:
  store_free(s);
  return NULL;
}

/* Open dataset path, checking it has the [axes..., replicate] extent. */
/* File access for the writer: a bounded metadata cache (HDF5 grows it adaptively up
 * to 32 MiB, which for a long sweep means memory growing with the number of cells).
 * Returns H5P_DEFAULT if the property list cannot be made. */
static hid_t writer_fapl(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return H5P_DEFAULT;
  H5AC_cache_config_t c;
  memset(&c, 0, sizeof c);
  c.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  if (H5Pget_mdc_config(fapl, &c) >= 0) {
    c.set_initial_size = 1;
    c.initial_size = 1 << 20;
    c.min_size = 1 << 19;
    c.max_size = 2 << 20;
    H5Pset_mdc_config(fapl, &c);
  }
  H5Eclear2(H5E_DEFAULT);
  return fapl;
}

static int open_array(h5store *s, const char *dpath, hid_t *out, ps_msg *m) {
  /* A small chunk cache per dataset: every written cell is flushed anyway, and cells
   * arrive nearly in order, so a few chunks per dataset suffice.  HDF5's default
   * (1 MiB per open dataset) would let memory grow with the number of cells. */
  hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
  if (dapl >= 0) H5Pset_chunk_cache(dapl, 31, 16 * 1024, 1.0);
  hid_t ds = H5Dopen2(s->file, dpath, dapl >= 0 ? dapl : H5P_DEFAULT), space = H5I_INVALID_HID;
  if (dapl >= 0) H5Pclose(dapl);
  hsize_t dims[H5S_MAX_RANK];
  char what[PATH_LEN + 64];
  if (ds < 0) {
    snprintf(what, sizeof what, "cannot open dataset %s", dpath);
    return io_fail(m, s->path, what);
  }
  int rank = (space = H5Dget_space(ds)) < 0 ? -1 : H5Sget_simple_extent_ndims(space);
  int same = rank == s->rank;
  if (same && H5Sget_simple_extent_dims(space, dims, NULL) < 0) same = 0;
  for (int d = 0; same && d < rank; d++) same = dims[d] == s->dims[d];
  close_space(&space);
  if (!same) {
    H5Dclose(ds);
    H5Eclear2(H5E_DEFAULT);
    return ps_fail(m, PS_EINVAL, "%s: dataset %s does not have the layout's shape", s->path,
                   dpath);
  }
  *out = ds;
  return PS_OK;
}

/* Open every dataset put_cell writes and the spaces and types it reuses. */
static int store_open_handles(h5store *s, const h5store_layout *L, ps_msg *m) {
  char dpath[PATH_LEN];
  int rc;
  for (size_t e = 0; e < L->n_estimators; e++) {
    const h5store_estimator *est = &L->estimators[e];
    for (size_t j = 0; j < est->n_metrics; j++) {
      snprintf(dpath, sizeof dpath, "/metrics/%s/%s", est->label, est->metrics[j].name);
      if ((rc = open_array(s, dpath, &s->metric[e][j], m))) return rc;
    }
    snprintf(dpath, sizeof dpath, "/status/%s", est->label);
    if ((rc = open_array(s, dpath, &s->status[e], m))) return rc;
    snprintf(dpath, sizeof dpath, "/messages/%s", est->label);
    if ((rc = open_array(s, dpath, &s->message[e], m))) return rc;
  }
  for (size_t j = 0; j < L->n_truth; j++) {
    snprintf(dpath, sizeof dpath, "/truth/%s", L->truth[j].name);
    if ((rc = open_array(s, dpath, &s->truth[j], m))) return rc;
  }
  for (size_t j = 0; j < L->n_theory; j++) {
    snprintf(dpath, sizeof dpath, "/theory/%s", L->theory[j].name);
    if ((rc = open_array(s, dpath, &s->theory[j], m))) return rc;
  }
  hsize_t n = s->n_cells;
  if ((s->cells = H5Dopen2(s->file, "/cells", H5P_DEFAULT)) < 0 ||
      (s->cells_mem = cells_type(L->n_axes, 1)) < 0 ||
      (s->array_space = H5Screate_simple(s->rank, s->dims, NULL)) < 0 ||
      (s->cells_space = H5Screate_simple(1, &n, NULL)) < 0 ||
      (s->one = H5Screate(H5S_SCALAR)) < 0 || (s->str = vstring_type(H5T_CSET_UTF8)) < 0 ||
      (s->xfer = H5Pcreate(H5P_DATASET_XFER)) < 0 ||
      H5Pset_buffer(s->xfer, XFER_BUFFER, NULL, NULL) < 0)
    return io_fail(m, s->path, "cannot open /cells or set up write buffers");
  return PS_OK;
}

/* Dataset creation properties for an [axes..., replicate] array of memory type mtype with
 * fill value *fill. */
static hid_t array_dcpl(const h5store *s, hid_t mtype, const void *fill) {
  hsize_t chunk[H5S_MAX_RANK], budget = CHUNK_ELEMS;
  for (int d = s->rank - 1; d >= 0; d--) {
    chunk[d] = s->dims[d] < budget ? s->dims[d] : budget;
    budget /= chunk[d];
    if (budget < 1) budget = 1;
  }
  hid_t p = H5Pcreate(H5P_DATASET_CREATE);
  if (p < 0) return p;
  if (H5Pset_chunk(p, s->rank, chunk) < 0 || H5Pset_shuffle(p) < 0 ||
      H5Pset_deflate(p, DEFLATE_LEVEL) < 0 || H5Pset_fill_value(p, mtype, fill) < 0 ||
      H5Pset_fill_time(p, H5D_FILL_TIME_IFSET) < 0) {
    H5Pclose(p);
    return H5I_INVALID_HID;
  }
  return p;
}

/* Create an [axes..., replicate] array name in group, attach the axis scales (scales[d]
 * for dimension d) and give it units and long_name.  Returns 0 or -1. */
static int create_array(const h5store *s, hid_t group, const char *name, hid_t ftype,
                        hid_t mtype, const void *fill, const hid_t *scales,
                        const char *const *dim_names, const char *units,
                        const char *long_name) {
  hid_t dcpl = array_dcpl(s, mtype, fill), space = H5I_INVALID_HID, ds = H5I_INVALID_HID;
  int rc = -1;
  if (dcpl < 0) goto done;
  if ((space = H5Screate_simple(s->rank, s->dims, NULL)) < 0) goto done;
  if ((ds = H5Dcreate2(group, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0)
    goto done;
  for (int d = 0; d < s->rank; d++)
    if (H5DSattach_scale(ds, scales[d], (unsigned)d) < 0 ||
        H5DSset_label(ds, (unsigned)d, dim_names[d]) < 0)
      goto done;
  if (units && attr_put_string(ds, "units", units) < 0) goto done;
  if (long_name && attr_put_string(ds, "long_name", long_name) < 0) goto done;
  rc = 0;
done:
  close_dataset(&ds);
  close_space(&space);
  close_plist(&dcpl);
  return rc;
}

static hid_t create_group(hid_t loc, const char *name) {
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE), g = H5I_INVALID_HID;
  if (gcpl < 0) return gcpl;
  if (H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0)
    g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  return g;
}

/* A 1-D dimension scale /axes/<name> of n values (numeric if values, else labels). */
static hid_t create_axis(hid_t axes, const char *name, size_t n, hid_t ftype, hid_t mtype,
                         const void *buf) {
  hsize_t dim = n;
  hid_t space = H5Screate_simple(1, &dim, NULL), ds = H5I_INVALID_HID;
  if (space < 0) return space;
  if ((ds = H5Dcreate2(axes, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
      H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ||
      H5DSset_scale(ds, name) < 0)
    close_dataset(&ds);
  H5Sclose(space);
  return ds;
}

/* Write every /cells row as PENDING with its id and coordinates. */
static int init_cells(h5store *s, hid_t ds, hid_t mtype) {
  const cell_layout c = s->row_layout;
  size_t block = s->n_cells < CELLS_BLOCK ? s->n_cells : CELLS_BLOCK;
  unsigned char *buf = malloc(block * c.size);
  hid_t fspace = H5Dget_space(ds), mspace = H5I_INVALID_HID;
  hsize_t mdim = block;
  int rc = -1;
  if (!buf || fspace < 0 || (mspace = H5Screate_simple(1, &mdim, NULL)) < 0) goto done;
  for (size_t first = 0; first < s->n_cells; first += block) {
    size_t rows = s->n_cells - first < block ? s->n_cells - first : block;
    for (size_t r = 0; r < rows; r++) {
      unsigned char *row = buf + r * c.size;
      uint64_t rest = first + r;
      int64_t id = (int64_t)rest;
      int32_t coord[H5S_MAX_RANK], iterations = 0;
      int8_t status = H5STORE_CELL_PENDING;
      double wall = NAN;
      for (int d = s->rank - 1; d >= 0; d--) {
        coord[d] = (int32_t)(rest % s->dims[d]);
        rest /= s->dims[d];
      }
      memcpy(row + c.id, &id, sizeof id);
      memcpy(row + c.index, coord, 4 * (size_t)(s->rank - 1));
      memcpy(row + c.replicate, &coord[s->rank - 1], 4);
      memcpy(row + c.status, &status, 1);
      memcpy(row + c.iterations, &iterations, 4);
      memcpy(row + c.wall_seconds, &wall, 8);
    }
    hsize_t start = first, count = rows;
    if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
        H5Sselect_hyperslab(mspace, H5S_SELECT_SET, (hsize_t[]){0}, NULL, &count, NULL) < 0 ||
        H5Dwrite(ds, mtype, mspace, fspace, H5P_DEFAULT, buf) < 0)
      goto done;
  }
  rc = 0;
done:
  close_space(&mspace);
  close_space(&fspace);
  free(buf);
  return rc;
}

/* Lay out the whole file (s->file already created); handles are opened afterwards. */
static int write_layout(h5store *s, const h5store_layout *L, ps_msg *m) {
  hid_t scales[H5S_MAX_RANK], grp = H5I_INVALID_HID, sub = H5I_INVALID_HID;
  hid_t str = H5I_INVALID_HID, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
  hid_t space = H5I_INVALID_HID, ds = H5I_INVALID_HID, attr = H5I_INVALID_HID;
  const char *dim_names[H5S_MAX_RANK];
  const char *fail_what = "cannot write the layout";
  int rc = PS_OK, k = s->rank - 1;
  char buf[PATH_LEN];
  int32_t *replicates = NULL;
  for (int d = 0; d < s->rank; d++) scales[d] = H5I_INVALID_HID;

  /* /axes: one dimension scale per sweep axis, then replicate. */
  fail_what = "cannot write /axes";
  if ((str = vstring_type(H5T_CSET_UTF8)) < 0 || (grp = create_group(s->file, "axes")) < 0)
    goto fail;
  for (int d = 0; d < k; d++) {
    const h5store_axis *a = &L->axes[d];
    scales[d] = a->values ? create_axis(grp, a->name, a->n, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                                        a->values)
                          : create_axis(grp, a->name, a->n, str, str, a->labels);
    if (scales[d] < 0) goto fail;
    dim_names[d] = a->name;
  }
  if (!(replicates = malloc(L->n_replicates * sizeof *replicates))) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for the replicate axis", s->path);
    goto done;
  }
  for (size_t r = 0; r < L->n_replicates; r++) replicates[r] = (int32_t)r;
  if ((scales[k] = create_axis(grp, "replicate", L->n_replicates, H5T_STD_I32LE,
                               H5T_NATIVE_INT32, replicates)) < 0)
    goto fail;
  dim_names[k] = "replicate";
  close_group(&grp);

  /* /metrics/<est>/<metric>, /status/<est>, /messages/<est>. */
  const double nan = NAN;
  const int not_run = -1;
  const char *empty = "";
  fail_what = "cannot write /metrics";
  if ((grp = create_group(s->file, "metrics")) < 0) goto fail;
  for (size_t e = 0; e < L->n_estimators; e++) {
    const h5store_estimator *est = &L->estimators[e];
    if ((sub = create_group(grp, est->label)) < 0) goto fail;
    for (size_t j = 0; j < est->n_metrics; j++) {
      const h5store_quantity *q = &est->metrics[j];
      if (create_array(s, sub, q->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &nan, scales,
                       dim_names, q->units ? q->units : "",
                       q->long_name ? q->long_name : "") < 0)
        goto fail;
    }
    close_group(&sub);
  }
  close_group(&grp);
  fail_what = "cannot write /status";
  if ((grp = create_group(s->file, "status")) < 0) goto fail;
  for (size_t e = 0; e < L->n_estimators; e++) {
    snprintf(buf, sizeof buf, "fit status of %s (PS_* code, -1 = not run)",
             L->estimators[e].label);
    if (create_array(s, grp, L->estimators[e].label, H5T_STD_I32LE, H5T_NATIVE_INT, &not_run,
                     scales, dim_names, "1", buf) < 0 ||
        (ds = H5Dopen2(grp, L->estimators[e].label, H5P_DEFAULT)) < 0 ||
        attr_put_string(ds, "codes", STATUS_CODES) < 0)
      goto fail;
    close_dataset(&ds);
  }
  close_group(&grp);
  fail_what = "cannot write /messages";
  if ((grp = create_group(s->file, "messages")) < 0) goto fail;
  for (size_t e = 0; e < L->n_estimators; e++) {
    snprintf(buf, sizeof buf, "failure message of %s (empty when the fit succeeded)",
             L->estimators[e].label);
    if (create_array(s, grp, L->estimators[e].label, str, str, &empty, scales, dim_names, NULL,
                     buf) < 0)
      goto fail;
  }
  close_group(&grp);

  /* /truth and /theory (present even when empty, so every file has the same groups). */
  for (int part = 0; part < 2; part++) {
    const char *gname = part ? "theory" : "truth";
    size_t n = part ? L->n_theory : L->n_truth;
    const h5store_quantity *qs = part ? L->theory : L->truth;
    fail_what = part ? "cannot write /theory" : "cannot write /truth";
    if ((grp = create_group(s->file, gname)) < 0) goto fail;
    for (size_t j = 0; j < n; j++)
      if (create_array(s, grp, qs[j].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &nan, scales,
                       dim_names, qs[j].units ? qs[j].units : "",
                       qs[j].long_name ? qs[j].long_name : "") < 0)
        goto fail;
    close_group(&grp);
  }

  /* /cells: contiguous, since rows are rewritten one at a time. */
  fail_what = "cannot write /cells";
  hsize_t n_cells = s->n_cells;
  if ((ftype = cells_type((size_t)k, 0)) < 0 || (mtype = cells_type((size_t)k, 1)) < 0 ||
      (space = H5Screate_simple(1, &n_cells, NULL)) < 0 ||
      (ds = H5Dcreate2(s->file, "cells", ftype, space, H5P_DEFAULT, H5P_DEFAULT,
                       H5P_DEFAULT)) < 0 ||
      init_cells(s, ds, mtype) < 0)
    goto fail;
  close_space(&space);

  /* Root attributes, last: their variable-length values go to the global heap, so
   * writing them after every dataset keeps dataset addresses (and with them the
   * dimension-scale references that h5diff compares) independent of their text. */
  fail_what = "cannot write root attributes";
  utc_now(buf, sizeof buf);
  if (attr_put_string(s->file, "schema", H5STORE_SCHEMA) < 0 ||
      attr_put_string(s->file, "created_utc", buf) < 0 ||
      attr_put_string(s->file, "finished_utc", "") < 0 ||
      attr_put_string(s->file, "status", "RUNNING") < 0)
    goto fail;
  for (size_t i = 0; i < L->n_attrs; i++)
    if (attr_put_string(s->file, L->attrs[i].key, L->attrs[i].value) < 0) goto fail;
  unsigned major, minor, release;
  if (H5get_libversion(&major, &minor, &release) < 0) goto fail;
  snprintf(buf, sizeof buf, "%u.%u.%u", major, minor, release);
  if (attr_put_string(s->file, "hdf5_version", buf) < 0) goto fail;
  if ((space = H5Screate(H5S_SCALAR)) < 0 ||
      (attr = H5Acreate2(s->file, "master_seed", H5T_STD_U64LE, space, H5P_DEFAULT,
                         H5P_DEFAULT)) < 0 ||
      H5Awrite(attr, H5T_NATIVE_UINT64, &L->master_seed) < 0)
    goto fail;
  close_attr(&attr);
  close_space(&space);

  goto done;
fail:
  rc = io_fail(m, s->path, fail_what);
done:
  for (int d = 0; d < s->rank; d++) close_dataset(&scales[d]);
  close_dataset(&ds);
  close_attr(&attr);
  close_space(&space);
  close_type(&ftype);
  close_type(&mtype);
  close_type(&str);
  close_group(&sub);
  close_group(&grp);
  free(replicates);
  return rc;
}

int h5store_create(const char *path, const h5store_layout *layout, h5store **out, ps_msg *m) {
  h5store *s = NULL;
  hid_t fcpl = H5I_INVALID_HID;
  int rc, created = 0;
  h5_quiet();
  if (out) *out = NULL;
  if (!out) return ps_fail(m, PS_EINVAL, "h5store_create: out is NULL");
  if ((rc = check_layout(path, layout, m))) return rc;
  if (!(s = store_alloc(path, layout)))
    return ps_fail(m, PS_ENOMEM, "%s: no memory for the store", path);
  if ((fcpl = H5Pcreate(H5P_FILE_CREATE)) < 0 ||
      H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
      H5Pset_attr_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0) {
    rc = io_fail(m, path, "cannot set up file creation properties");
    goto fail;
  }
  hid_t fapl = writer_fapl();
  s->file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
  if (fapl != H5P_DEFAULT) H5Pclose(fapl);
  if (s->file < 0) {
    rc = io_fail(m, path, "cannot create results file");
    goto fail;
  }
  created = 1;
  /* The objects below in the HDF5 1.10 format, the superblock left at version 0: the
   * chunk index of a fixed-size dataset is then a fixed array, where the 1.8 default
   * is a version-1 B-tree whose nodes split and pile up in memory as chunks accumulate
   * (peak memory of a 10,000-cell sweep 1.24x a 1,000-cell one with B-trees, 1.10x with
   * fixed arrays; bench/sweep.sh).  Setting the bounds on the file access list instead
   * would also raise the superblock to version 3, whose "open for writing" flag makes
   * HDF5 refuse readers of a running sweep and the resume of a killed one (h5clear).
   * Readable by HDF5 >= 1.10 (h5py, MATLAB, R hdf5r). */
  if (H5Fset_libver_bounds(s->file, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0) {
    rc = io_fail(m, path, "cannot select the HDF5 1.10 object format");
    goto fail;
  }
  if ((rc = write_layout(s, layout, m))) goto fail;
  if ((rc = store_open_handles(s, layout, m))) goto fail;
  if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0) {
    rc = io_fail(m, path, "cannot flush");
    goto fail;
  }
  close_plist(&fcpl);
  *out = s;
  return PS_OK;
fail:
  close_plist(&fcpl);
  if (s) {
    hid_t file = s->file;
    s->file = H5I_INVALID_HID;
    store_free(s);
    if (file >= 0) H5Fclose(file);
  }
  if (created) unlink(path);
  H5Eclear2(H5E_DEFAULT);
  return rc;
}

/* ------------------------------------------------------------------ resume check */

static int same_double(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* Compare axis d of the file with the layout's; PS_EINVAL naming the difference. */
static int check_axis(hid_t file, const char *path, const h5store_axis *a, ps_msg *m) {
  char dpath[PATH_LEN];
  hid_t ds = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
  hid_t str = H5I_INVALID_HID;
  double *values = NULL;
  char **labels = NULL;
  int rc = PS_OK;
  snprintf(dpath, sizeof dpath, "/axes/%s", a->name);
  if ((ds = H5Dopen2(file, dpath, H5P_DEFAULT)) < 0 || (space = H5Dget_space(ds)) < 0 ||
      (type = H5Dget_type(ds)) < 0) {
    rc = io_fail(m, path, "cannot open an axis dataset");
    goto done;
  }
  hssize_t n = H5Sget_simple_extent_npoints(space);
  int is_text = H5Tget_class(type) == H5T_STRING;
  if (is_text != (a->labels != NULL)) {
    rc = ps_fail(m, PS_EINVAL, "%s: axis '%s' is %s in the file but %s in the layout", path,
                 a->name, is_text ? "text" : "numeric", a->labels ? "text" : "numeric");
    goto done;
  }
  if (n < 0 || (size_t)n != a->n) {
    rc = ps_fail(m, PS_EINVAL, "%s: axis '%s' has %lld values in the file but %zu in the "
                 "layout", path, a->name, (long long)n, a->n);
    goto done;
  }
  if (!is_text) {
    if (!(values = malloc(a->n * sizeof *values))) goto oom;
    if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
      rc = io_fail(m, path, "cannot read an axis");
      goto done;
    }
    for (size_t i = 0; i < a->n; i++)
      if (!same_double(values[i], a->values[i])) {
        rc = ps_fail(m, PS_EINVAL, "%s: axis '%s' value %zu is %.17g in the file but %.17g "
                     "in the layout", path, a->name, i, values[i], a->values[i]);
        goto done;
      }
  } else {
    if (H5Tis_variable_str(type) <= 0) {
      rc = ps_fail(m, PS_EINVAL, "%s: text axis '%s' is not variable-length", path, a->name);
      goto done;
    }
    if (!(labels = calloc(a->n, sizeof *labels))) goto oom;
    if ((str = vstring_type(H5Tget_cset(type))) < 0 ||
        H5Dread(ds, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) < 0) {
      rc = io_fail(m, path, "cannot read an axis");
      goto done;
    }
    for (size_t i = 0; i < a->n && !rc; i++)
      if (strcmp(labels[i] ? labels[i] : "", a->labels[i]) != 0)
        rc = ps_fail(m, PS_EINVAL, "%s: axis '%s' label %zu is \"%s\" in the file but \"%s\" "
                     "in the layout", path, a->name, i, labels[i] ? labels[i] : "",
                     a->labels[i]);
    vlen_reclaim(str, space, labels);
  }
  goto done;
oom:
  rc = ps_fail(m, PS_ENOMEM, "%s: no memory to compare axis '%s'", path, a->name);
done:
  free(values);
  free(labels);
  close_type(&str);
  close_type(&type);
  close_space(&space);
  close_dataset(&ds);
  return rc;
}

/* The names under group gpath must be exactly names[0..n-1] (in any order). */
static int check_names(hid_t file, const char *path, const char *gpath, const char *what,
                       size_t n, const char *const *names, ps_msg *m) {
  name_list l;
  char list[256];
  int rc = PS_OK;
  if (group_names(file, gpath, &l) < 0) return io_fail(m, path, "cannot list a group");
  for (size_t i = 0; i < n && !rc; i++)
    if (!name_list_has(&l, names[i]))
      rc = ps_fail(m, PS_EINVAL, "%s: %s '%s' is in the layout but not in the file (%s has: "
                   "%s)", path, what, names[i], gpath,
                   join_names((const char *const *)l.names, list, sizeof list));
  for (size_t i = 0; i < l.n && !rc; i++) {
    int found = 0;
    for (size_t j = 0; j < n && !found; j++) found = strcmp(l.names[i], names[j]) == 0;
    if (!found)
      rc = ps_fail(m, PS_EINVAL, "%s: %s '%s' is in the file (%s) but not in the layout",
                   path, what, l.names[i], gpath);
  }
  name_list_free(&l);
  return rc;
}

static int check_quantity_names(hid_t file, const char *path, const char *gpath,
                                const char *what, size_t n, const h5store_quantity *q,
                                ps_msg *m) {
  const char **names = malloc((n ? n : 1) * sizeof *names);
  if (!names) return ps_fail(m, PS_ENOMEM, "%s: no memory", path);
  for (size_t i = 0; i < n; i++) names[i] = q[i].name;
  int rc = check_names(file, path, gpath, what, n, names, m);
  free(names);
  return rc;
}

/* Everything h5store_open_resume promises to compare. */
static int check_file_matches(hid_t file, const char *path, const h5store_layout *L,
                              ps_msg *m) {
  char *text = attr_get_string(file, "schema");
  int rc = PS_OK;
  if (!text || strcmp(text, H5STORE_SCHEMA) != 0) {
    rc = ps_fail(m, PS_EINVAL, "%s: schema is \"%s\", expected \"%s\"", path,
                 text ? text : "(absent)", H5STORE_SCHEMA);
    free(text);
    return rc;
  }
  free(text);

  /* Axes: same names in the same order, then the same values. */
  name_list axes;
  char list[256];
  if (group_names(file, "axes", &axes) < 0) return io_fail(m, path, "cannot list /axes");
  size_t k = 0;
  for (size_t i = 0; i < axes.n && !rc; i++) {
    if (strcmp(axes.names[i], "replicate") == 0) continue;
    if (k >= L->n_axes || strcmp(axes.names[i], L->axes[k].name) != 0)
      rc = ps_fail(m, PS_EINVAL, "%s: sweep axis %zu is '%s' in the file but '%s' in the "
                   "layout (file axes: %s)", path, k, axes.names[i],
                   k < L->n_axes ? L->axes[k].name : "(none)",
                   join_names((const char *const *)axes.names, list, sizeof list));
    k++;
  }
  if (!rc && k != L->n_axes)
    rc = ps_fail(m, PS_EINVAL, "%s: the file has %zu sweep axes, the layout %zu (file axes: "
                 "%s)", path, k, L->n_axes,
                 join_names((const char *const *)axes.names, list, sizeof list));
  if (!rc && !name_list_has(&axes, "replicate"))
    rc = ps_fail(m, PS_EINVAL, "%s: /axes/replicate is missing", path);
  name_list_free(&axes);
  for (size_t i = 0; i < L->n_axes && !rc; i++) rc = check_axis(file, path, &L->axes[i], m);
  if (rc) return rc;

  hid_t ds = H5Dopen2(file, "/axes/replicate", H5P_DEFAULT), space = H5I_INVALID_HID;
  hssize_t n_rep = ds < 0 || (space = H5Dget_space(ds)) < 0
                       ? -1
                       : H5Sget_simple_extent_npoints(space);
  close_space(&space);
  close_dataset(&ds);
  if (n_rep < 0) return io_fail(m, path, "cannot read /axes/replicate");
  if ((size_t)n_rep != L->n_replicates)
    return ps_fail(m, PS_EINVAL, "%s: the file has %lld replicates, the layout %zu", path,
                   (long long)n_rep, L->n_replicates);

  /* Estimators and their metrics, truth, theory. */
  const char **labels = malloc((L->n_estimators ? L->n_estimators : 1) * sizeof *labels);
  if (!labels) return ps_fail(m, PS_ENOMEM, "%s: no memory", path);
  for (size_t e = 0; e < L->n_estimators; e++) labels[e] = L->estimators[e].label;
  rc = check_names(file, path, "metrics", "estimator", L->n_estimators, labels, m);
  free(labels);
  for (size_t e = 0; e < L->n_estimators && !rc; e++) {
    char gpath[PATH_LEN], what[NAME_MAX_LEN + 32];
    snprintf(gpath, sizeof gpath, "metrics/%s", L->estimators[e].label);
    snprintf(what, sizeof what, "metric of estimator '%s'", L->estimators[e].label);
    rc = check_quantity_names(file, path, gpath, what, L->estimators[e].n_metrics,
                              L->estimators[e].metrics, m);
  }
  if (!rc) rc = check_quantity_names(file, path, "truth", "truth quantity", L->n_truth,
                                     L->truth, m);
  if (!rc) rc = check_quantity_names(file, path, "theory", "theory quantity", L->n_theory,
                                     L->theory, m);
  if (rc) return rc;

  const char *key = identity_key(L);
  text = attr_get_string(file, key);
  if (!text || strcmp(text, layout_config(L)) != 0)
    rc = ps_fail(m, PS_EINVAL, "%s: root attribute \"%s\" %s the resolved configuration "
                 "of this run", path, key, text ? "differs from" : "is missing, unlike");
  free(text);
  return rc;
}

int h5store_open_resume(const char *path, const h5store_layout *layout, h5store **out,
                        unsigned char **done, ps_msg *m) {
  h5store *s = NULL;
  int8_t *status = NULL;
  unsigned char *mask = NULL;
  size_t rows = 0;
  int rc;
  h5_quiet();
  if (out) *out = NULL;
  if (done) *done = NULL;
  if (!out || !done) return ps_fail(m, PS_EINVAL, "h5store_open_resume: out or done is NULL");
  if ((rc = check_layout(path, layout, m))) return rc;
  if (!(s = store_alloc(path, layout)))
    return ps_fail(m, PS_ENOMEM, "%s: no memory for the store", path);
  hid_t fapl = writer_fapl();
  s->file = H5Fopen(path, H5F_ACC_RDWR, fapl);
  if (fapl != H5P_DEFAULT) H5Pclose(fapl);
  if (s->file < 0) {
    rc = io_fail(m, path, "cannot open results file to resume");
    goto fail;
  }
  if ((rc = check_file_matches(s->file, path, layout, m))) goto fail;
  if ((rc = cells_read_status(s->file, path, &status, &rows, m))) goto fail;
  if (rows != s->n_cells) {
    rc = ps_fail(m, PS_EINVAL, "%s: /cells has %zu rows, the layout %zu cells", path, rows,
                 s->n_cells);
    goto fail;
  }
  if ((rc = store_open_handles(s, layout, m))) goto fail;
  if (!(mask = malloc(rows ? rows : 1))) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for the done mask", path);
    goto fail;
  }
  for (size_t i = 0; i < rows; i++) mask[i] = status[i] == H5STORE_CELL_DONE;
  if (attr_put_string(s->file, "status", "RUNNING") < 0 ||
      attr_put_string(s->file, "finished_utc", "") < 0 ||
      H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0) {
    rc = io_fail(m, path, "cannot mark the file RUNNING");
    goto fail;
  }
  free(status);
  *out = s;
  *done = mask;
  return PS_OK;
fail:
  free(status);
  free(mask);
  if (s) {
    hid_t file = s->file;
    s->file = H5I_INVALID_HID;
    store_free(s);
    if (file >= 0) H5Fclose(file);
  }
  H5Eclear2(H5E_DEFAULT);
  return rc;
}

/* ----------------------------------------------------------------- writing cells */

/* NULL value arrays (metrics, metrics[e], truth, theory) are written as NaN and NULL
 * messages as "", so a cell rerun after a resume overwrites every element it owns;
 * status must be given whenever there are estimators. */
int h5store_put_cell(h5store *s, const h5store_cell *c, ps_msg *m) {
  hsize_t start[H5S_MAX_RANK], count[H5S_MAX_RANK];
  const double nan = NAN;
  h5_quiet();
  if (!s || !c) return ps_fail(m, PS_EINVAL, "h5store_put_cell: store or cell is NULL");
  if (c->cell_id >= s->n_cells)
    return ps_fail(m, PS_EINVAL, "%s: cell id %llu out of range (%zu cells)", s->path,
                   (unsigned long long)c->cell_id, s->n_cells);
  if (c->cell_status != H5STORE_CELL_DONE && c->cell_status != H5STORE_CELL_FAILED)
    return ps_fail(m, PS_EINVAL, "%s: cell %llu: status %d is neither DONE nor FAILED",
                   s->path, (unsigned long long)c->cell_id, c->cell_status);
  if (s->n_estimators && !c->status)
    return ps_fail(m, PS_EINVAL, "%s: cell %llu: no estimator statuses", s->path,
                   (unsigned long long)c->cell_id);

  uint64_t rest = c->cell_id;
  for (int d = s->rank - 1; d >= 0; d--) {
    start[d] = rest % s->dims[d];
    rest /= s->dims[d];
    count[d] = 1;
  }
  if (H5Sselect_hyperslab(s->array_space, H5S_SELECT_SET, start, NULL, count, NULL) < 0)
    goto fail;
  for (size_t e = 0; e < s->n_estimators; e++) {
    const double *values = c->metrics ? c->metrics[e] : NULL;
    const char *message = c->message && c->message[e] ? c->message[e] : "";
    for (size_t j = 0; j < s->n_metrics[e]; j++)
      if (H5Dwrite(s->metric[e][j], H5T_NATIVE_DOUBLE, s->one, s->array_space, s->xfer,
                   values ? &values[j] : &nan) < 0)
        goto fail;
    if (H5Dwrite(s->status[e], H5T_NATIVE_INT, s->one, s->array_space, s->xfer,
                 &c->status[e]) < 0 ||
        H5Dwrite(s->message[e], s->str, s->one, s->array_space, s->xfer, &message) < 0)
      goto fail;
  }
  for (size_t j = 0; j < s->n_truth; j++)
    if (H5Dwrite(s->truth[j], H5T_NATIVE_DOUBLE, s->one, s->array_space, s->xfer,
                 c->truth ? &c->truth[j] : &nan) < 0)
      goto fail;
  for (size_t j = 0; j < s->n_theory; j++)
    if (H5Dwrite(s->theory[j], H5T_NATIVE_DOUBLE, s->one, s->array_space, s->xfer,
                 c->theory ? &c->theory[j] : &nan) < 0)
      goto fail;

  const cell_layout L = s->row_layout;
  int64_t id = (int64_t)c->cell_id;
  int8_t status = (int8_t)c->cell_status;
  for (int d = 0; d < s->rank; d++) {
    int32_t coord = (int32_t)start[d];
    memcpy(s->row + (d < s->rank - 1 ? L.index + 4 * (size_t)d : L.replicate), &coord, 4);
  }
  memcpy(s->row + L.id, &id, sizeof id);
  memcpy(s->row + L.status, &status, 1);
  memcpy(s->row + L.iterations, &c->iterations, 4);
  memcpy(s->row + L.wall_seconds, &c->wall_seconds, 8);
  hsize_t row = c->cell_id, one = 1;
  if (H5Sselect_hyperslab(s->cells_space, H5S_SELECT_SET, &row, NULL, &one, NULL) < 0 ||
      H5Dwrite(s->cells, s->cells_mem, s->one, s->cells_space, s->xfer, s->row) < 0)
    goto fail;
  if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0) goto fail;
  return PS_OK;
fail:
  return io_fail(m, s->path, "cannot write a cell");
}

int h5store_set_attr(h5store *s, const char *key, const char *value, ps_msg *m) {
  h5_quiet();
  if (!s || !key || !value) return ps_fail(m, PS_EINVAL, "h5store_set_attr: NULL argument");
  for (size_t j = 0; RESERVED_ATTRS[j]; j++)
    if (strcmp(key, RESERVED_ATTRS[j]) == 0)
      return ps_fail(m, PS_EINVAL, "%s: root attribute '%s' is set by the store itself", s->path, key);
  if (attr_put_string(s->file, key, value) < 0 || H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
    return io_fail(m, s->path, "cannot write a root attribute");
  return PS_OK;
}

int h5store_set_status(h5store *s, const char *status, ps_msg *m) {
  static const char *const allowed[] = {"RUNNING", "COMPLETED", "INTERRUPTED", "FAILED", NULL};
  char now[64];
  int ok = 0;
  h5_quiet();
  if (!s) return ps_fail(m, PS_EINVAL, "h5store_set_status: store is NULL");
  for (size_t i = 0; status && allowed[i]; i++) ok |= strcmp(status, allowed[i]) == 0;
  if (!ok)
    return ps_fail(m, PS_EINVAL, "%s: status \"%s\" is not one of RUNNING, COMPLETED, "
                   "INTERRUPTED, FAILED", s->path, status ? status : "(null)");
  utc_now(now, sizeof now);
  if (attr_put_string(s->file, "status", status) < 0 ||
      (strcmp(status, "RUNNING") != 0 && attr_put_string(s->file, "finished_utc", now) < 0) ||
      H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
    return io_fail(m, s->path, "cannot set the file status");
  return PS_OK;
}

int h5store_close(h5store *s, ps_msg *m) {
  if (!s) return PS_OK;
  h5_quiet();
  hid_t file = s->file;
  char *path = s->path;
  s->file = H5I_INVALID_HID;
  s->path = NULL;
  store_free(s);
  int rc = PS_OK;
  if (file >= 0 && H5Fclose(file) < 0) rc = io_fail(m, path, "cannot close results file");
  free(path);
  return rc;
}

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
  size_t n_replicates;
  size_t n_cells;
  name_list estimators;
  name_list *metrics;    /* per estimator */
};

void h5read_close(h5read *r) {
  if (!r) return;
  h5_quiet();
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
  }
  for (size_t e = 0; r->metrics && e < r->estimators.n; e++) name_list_free(&r->metrics[e]);
  name_list_free(&r->estimators);
  free(r->metrics);
  free(r->attr_keys);
  free(r->attr_values);
  free(r->axes);
  free(r->axis_names);
  free(r->axis_values);
  free(r->axis_labels);
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
    out = attr_read_string(attr);
  } else if (scalar && cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_NONE) {
    unsigned long long v;
    if (H5Aread(attr, H5T_NATIVE_ULLONG, &v) >= 0 && snprintf(buf, sizeof buf, "%llu", v) > 0)
      out = dup_string(buf);
  } else if (scalar && cls == H5T_INTEGER) {
    long long v;
    if (H5Aread(attr, H5T_NATIVE_LLONG, &v) >= 0 && snprintf(buf, sizeof buf, "%lld", v) > 0)
      out = dup_string(buf);
  } else if (scalar && cls == H5T_FLOAT) {
    double v;
    if (H5Aread(attr, H5T_NATIVE_DOUBLE, &v) >= 0 && snprintf(buf, sizeof buf, "%.17g", v) > 0)
      out = dup_string(buf);
  }
  close_space(&space);
  close_type(&type);
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
  char *key = dup_string(name);
  if (!keys || !values || !key) {
    free(key);
    free(value);
    return -1;
  }
  r->attr_keys[r->n_attrs] = key;
  r->attr_values[r->n_attrs++] = value;
  return 0;
}

/* Read /axes/<name> into r->axes[i]. */
static int load_axis(h5read *r, size_t i, const char *name, ps_msg *m) {
  char dpath[PATH_LEN];
  hid_t ds = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
  hid_t str = H5I_INVALID_HID;
  char **raw = NULL;
  int rc = PS_OK;
  snprintf(dpath, sizeof dpath, "/axes/%s", name);
  if (!(r->axis_names[i] = dup_string(name))) goto oom;
  r->axes[i].name = r->axis_names[i];
  hssize_t n;
  if ((ds = H5Dopen2(r->file, dpath, H5P_DEFAULT)) < 0 || (space = H5Dget_space(ds)) < 0 ||
      (type = H5Dget_type(ds)) < 0 || (n = H5Sget_simple_extent_npoints(space)) < 1) {
    rc = io_fail(m, r->path, "cannot open an axis");
    goto done;
  }
  r->axes[i].n = (size_t)n;
  if (H5Tget_class(type) != H5T_STRING) {
    if (!(r->axis_values[i] = malloc((size_t)n * sizeof(double)))) goto oom;
    r->axes[i].values = r->axis_values[i];
    if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->axis_values[i]) < 0)
      rc = io_fail(m, r->path, "cannot read an axis");
    goto done;
  }
  if (H5Tis_variable_str(type) <= 0) {
    rc = ps_fail(m, PS_EIO, "%s: text axis %s is not variable-length", r->path, dpath);
    goto done;
  }
  if (!(r->axis_labels[i] = calloc((size_t)n, sizeof(char *))) ||
      !(raw = calloc((size_t)n, sizeof *raw)))
    goto oom;
  if ((str = vstring_type(H5Tget_cset(type))) < 0 ||
      H5Dread(ds, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) {
    rc = io_fail(m, r->path, "cannot read an axis");
    goto done;
  }
  for (hssize_t j = 0; j < n && !rc; j++)
    if (!(r->axis_labels[i][j] = dup_string(raw[j] ? raw[j] : "")))
      rc = ps_fail(m, PS_ENOMEM, "%s: no memory for axis labels", r->path);
  vlen_reclaim(str, space, raw);
  r->axes[i].labels = (const char *const *)r->axis_labels[i];
  goto done;
oom:
  rc = ps_fail(m, PS_ENOMEM, "%s: no memory for axis '%s'", r->path, name);
done:
  free(raw);
  close_type(&str);
  close_type(&type);
  close_space(&space);
  close_dataset(&ds);
  return rc;
}

static int load_axes(h5read *r, ps_msg *m) {
  name_list l;
  int rc = PS_OK, have_replicate = 0;
  if (group_names(r->file, "axes", &l) < 0) return io_fail(m, r->path, "cannot list /axes");
  size_t n = 0;
  for (size_t i = 0; i < l.n; i++) n += strcmp(l.names[i], "replicate") != 0;
  r->axes = calloc(n ? n : 1, sizeof *r->axes);
  r->axis_names = calloc(n ? n : 1, sizeof *r->axis_names);
  r->axis_values = calloc(n ? n : 1, sizeof *r->axis_values);
  r->axis_labels = calloc(n ? n : 1, sizeof *r->axis_labels);
  if (!r->axes || !r->axis_names || !r->axis_values || !r->axis_labels) {
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
    rc = ps_fail(m, PS_EIO, "%s: not a prefsim results file: /axes/replicate is missing",
                 r->path);
  if (!rc) {
    hid_t ds = H5Dopen2(r->file, "/axes/replicate", H5P_DEFAULT), space = H5I_INVALID_HID;
    hssize_t reps = ds < 0 || (space = H5Dget_space(ds)) < 0
                        ? -1
                        : H5Sget_simple_extent_npoints(space);
    close_space(&space);
    close_dataset(&ds);
    if (reps < 1) rc = io_fail(m, r->path, "cannot read /axes/replicate");
    else r->n_replicates = (size_t)reps;
  }
done:
  name_list_free(&l);
  return rc;
}

int h5read_open(const char *path, h5read **out, ps_msg *m) {
  h5read *r = NULL;
  int rc = PS_OK;
  h5_quiet();
  if (out) *out = NULL;
  if (!path || !out) return ps_fail(m, PS_EINVAL, "h5read_open: path or out is NULL");
  if (!(r = calloc(1, sizeof *r)) || !(r->path = dup_string(path))) {
    free(r);
    return ps_fail(m, PS_ENOMEM, "%s: no memory for the reader", path);
  }
  if ((r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
    rc = io_fail(m, path, "cannot open results file");
    goto fail;
  }
  hsize_t idx = 0;
  if (H5Aiterate2(r->file, H5_INDEX_NAME, H5_ITER_INC, &idx, load_root_attr, r) < 0) {
    rc = io_fail(m, path, "cannot read root attributes");
    goto fail;
  }
  const char *schema = h5read_attr(r, "schema");
  if (!schema || strcmp(schema, H5STORE_SCHEMA) != 0) {
    rc = ps_fail(m, PS_EINVAL, "%s: not a prefsim results file (schema \"%s\", expected "
                 "\"%s\")", path, schema ? schema : "absent", H5STORE_SCHEMA);
    goto fail;
  }
  if ((rc = load_axes(r, m))) goto fail;
  r->n_cells = r->n_replicates;
  for (size_t i = 0; i < r->n_axes; i++) r->n_cells *= r->axes[i].n;
  if (group_names(r->file, "metrics", &r->estimators) < 0) {
    rc = io_fail(m, path, "cannot list /metrics");
    goto fail;
  }
  if (!(r->metrics = calloc(r->estimators.n ? r->estimators.n : 1, sizeof *r->metrics))) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for the metric lists", path);
    goto fail;
  }
  for (size_t e = 0; e < r->estimators.n; e++) {
    char gpath[PATH_LEN];
    snprintf(gpath, sizeof gpath, "metrics/%s", r->estimators.names[e]);
    if (group_names(r->file, gpath, &r->metrics[e]) < 0) {
      rc = io_fail(m, path, "cannot list the metrics of an estimator");
      goto fail;
    }
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
  if (group_names(r->file, gpath, &l) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return ps_fail(m, PS_EINVAL, "%s: no %s (and no group /%s)", r->path, path, gpath);
  }
  join_names((const char *const *)l.names, list, sizeof list);
  name_list_free(&l);
  return ps_fail(m, PS_EINVAL, "%s: no %s; %s: %s", r->path, path, what, list);
}

int h5read_array(const h5read *r, const char *path, double **out, ps_msg *m) {
  char buf[PATH_LEN], gpath[PATH_LEN], what[PATH_LEN];
  hid_t ds = H5I_INVALID_HID, space = H5I_INVALID_HID;
  double *values = NULL;
  int rc = PS_OK;
  h5_quiet();
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
    rc = io_fail(m, r->path, "cannot open an array");
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
    rc = io_fail(m, r->path, "cannot read an array");
    goto done;
  }
  *out = values;
  values = NULL;
done:
  free(values);
  close_space(&space);
  close_dataset(&ds);
  return rc;
}

char *h5read_dataset_attr(const h5read *r, const char *path, const char *key) {
  h5_quiet();
  if (!r || !path || !key) return NULL;
  hid_t obj = H5Oopen(r->file, path, H5P_DEFAULT);
  if (obj < 0) {
    H5Eclear2(H5E_DEFAULT);
    return NULL;
  }
  char *value = attr_get_string(obj, key);
  H5Oclose(obj);
  H5Eclear2(H5E_DEFAULT);
  return value;
}

int h5read_cell_counts(const h5read *r, size_t *pending, size_t *done, size_t *failed,
                       ps_msg *m) {
  int8_t *status = NULL;
  size_t rows = 0, counts[3] = {0, 0, 0};
  h5_quiet();
  if (!r) return ps_fail(m, PS_EINVAL, "h5read_cell_counts: reader is NULL");
  int rc = cells_read_status(r->file, r->path, &status, &rows, m);
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

int h5read_cells(const h5read *r, int8_t **status, int32_t **iterations, double **wall,
                 ps_msg *m) {
  typedef struct {
    int8_t status;
    int32_t iterations;
    double wall;
  } row;
  h5_quiet();
  *status = NULL;
  *iterations = NULL;
  *wall = NULL;
  hid_t ds = H5I_INVALID_HID, type = H5I_INVALID_HID, st = H5I_INVALID_HID;
  row *rows = NULL;
  int rc = PS_OK;
  size_t n = r->n_cells;
  if ((ds = H5Dopen2(r->file, "cells", H5P_DEFAULT)) < 0) {
    rc = io_fail(m, r->path, "cannot open /cells");
    goto done;
  }
  if ((type = H5Tcreate(H5T_COMPOUND, sizeof(row))) < 0 || (st = cell_status_enum(1)) < 0 ||
      H5Tinsert(type, "status", offsetof(row, status), st) < 0 ||
      H5Tinsert(type, "iterations", offsetof(row, iterations), H5T_NATIVE_INT32) < 0 ||
      H5Tinsert(type, "wall_seconds", offsetof(row, wall), H5T_NATIVE_DOUBLE) < 0) {
    rc = io_fail(m, r->path, "cannot describe /cells");
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
  if (n && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0) {
    rc = io_fail(m, r->path, "cannot read /cells");
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
  close_type(&st);
  close_type(&type);
  close_dataset(&ds);
  return rc;
}

int h5read_status(const h5read *r, const char *estimator, int **out, ps_msg *m) {
  char path[PATH_LEN];
  h5_quiet();
  *out = NULL;
  snprintf(path, sizeof path, "status/%s", estimator);
  hid_t ds = H5Dopen2(r->file, path, H5P_DEFAULT);
  if (ds < 0) {
    H5Eclear2(H5E_DEFAULT);
    return ps_fail(m, PS_EINVAL, "%s: no /%s", r->path, path);
  }
  int *v = malloc((r->n_cells ? r->n_cells : 1) * sizeof *v);
  int rc = PS_OK;
  if (!v)
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for /%s", r->path, path);
  else if (H5Dread(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
    rc = io_fail(m, r->path, "cannot read a status array");
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
  h5_quiet();
  *out = NULL;
  snprintf(path, sizeof path, "messages/%s", estimator);
  hid_t ds = H5Dopen2(r->file, path, H5P_DEFAULT);
  if (ds < 0) {
    H5Eclear2(H5E_DEFAULT);
    return ps_fail(m, PS_EINVAL, "%s: no /%s", r->path, path);
  }
  hid_t t = vstring_type(H5T_CSET_UTF8), space = H5Dget_space(ds);
  char **v = calloc(r->n_cells ? r->n_cells : 1, sizeof *v);
  int rc = PS_OK;
  if (!v)
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for /%s", r->path, path);
  else if (t < 0 || H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
    rc = io_fail(m, r->path, "cannot read a message array");
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
  close_type(&t);
  close_space(&space);
  H5Dclose(ds);
  return rc;
}

size_t h5read_n_cells(const h5read *r) { return r ? r->n_cells : 0; }
