/* h5store.c — the prefsim results file: writer and resume check (see h5store.h; the
 * reader is h5read.c, the helpers both share h5util.c).
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

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "h5util.h"

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
    for (size_t j = 0; H5U_RESERVED_ATTRS[j]; j++)
      if (strcmp(a->key, H5U_RESERVED_ATTRS[j]) == 0)
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
      h5u_close_dataset(&s->metric[e][j]);
    if (s->metric) free(s->metric[e]);
    if (s->status) h5u_close_dataset(&s->status[e]);
    if (s->message) h5u_close_dataset(&s->message[e]);
  }
  for (size_t j = 0; s->truth && j < s->n_truth; j++) h5u_close_dataset(&s->truth[j]);
  for (size_t j = 0; s->theory && j < s->n_theory; j++) h5u_close_dataset(&s->theory[j]);
  h5u_close_dataset(&s->cells);
  h5u_close_type(&s->cells_mem);
  h5u_close_space(&s->array_space);
  h5u_close_space(&s->cells_space);
  h5u_close_space(&s->one);
  h5u_close_type(&s->str);
  h5u_close_plist(&s->xfer);
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
  s->row_layout = h5u_cell_layout_for(L->n_axes);
  s->path = h5u_dup_string(path);
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
    return h5u_io_fail(m, s->path, what);
  }
  int rank = (space = H5Dget_space(ds)) < 0 ? -1 : H5Sget_simple_extent_ndims(space);
  int same = rank == s->rank;
  if (same && H5Sget_simple_extent_dims(space, dims, NULL) < 0) same = 0;
  for (int d = 0; same && d < rank; d++) same = dims[d] == s->dims[d];
  h5u_close_space(&space);
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
      (s->cells_mem = h5u_cells_type(L->n_axes, 1)) < 0 ||
      (s->array_space = H5Screate_simple(s->rank, s->dims, NULL)) < 0 ||
      (s->cells_space = H5Screate_simple(1, &n, NULL)) < 0 ||
      (s->one = H5Screate(H5S_SCALAR)) < 0 || (s->str = h5u_vstring_type(H5T_CSET_UTF8)) < 0 ||
      (s->xfer = H5Pcreate(H5P_DATASET_XFER)) < 0 ||
      H5Pset_buffer(s->xfer, XFER_BUFFER, NULL, NULL) < 0)
    return h5u_io_fail(m, s->path, "cannot open /cells or set up write buffers");
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
  if (units && h5u_attr_put_string(ds, "units", units) < 0) goto done;
  if (long_name && h5u_attr_put_string(ds, "long_name", long_name) < 0) goto done;
  rc = 0;
done:
  h5u_close_dataset(&ds);
  h5u_close_space(&space);
  h5u_close_plist(&dcpl);
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
    h5u_close_dataset(&ds);
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
  h5u_close_space(&mspace);
  h5u_close_space(&fspace);
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
  if ((str = h5u_vstring_type(H5T_CSET_UTF8)) < 0 || (grp = create_group(s->file, "axes")) < 0)
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
  h5u_close_group(&grp);

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
    h5u_close_group(&sub);
  }
  h5u_close_group(&grp);
  fail_what = "cannot write /status";
  if ((grp = create_group(s->file, "status")) < 0) goto fail;
  for (size_t e = 0; e < L->n_estimators; e++) {
    snprintf(buf, sizeof buf, "fit status of %s (PS_* code, -1 = not run)",
             L->estimators[e].label);
    if (create_array(s, grp, L->estimators[e].label, H5T_STD_I32LE, H5T_NATIVE_INT, &not_run,
                     scales, dim_names, "1", buf) < 0 ||
        (ds = H5Dopen2(grp, L->estimators[e].label, H5P_DEFAULT)) < 0 ||
        h5u_attr_put_string(ds, "codes", H5U_STATUS_CODES) < 0)
      goto fail;
    h5u_close_dataset(&ds);
  }
  h5u_close_group(&grp);
  fail_what = "cannot write /messages";
  if ((grp = create_group(s->file, "messages")) < 0) goto fail;
  for (size_t e = 0; e < L->n_estimators; e++) {
    snprintf(buf, sizeof buf, "failure message of %s (empty when the fit succeeded)",
             L->estimators[e].label);
    if (create_array(s, grp, L->estimators[e].label, str, str, &empty, scales, dim_names, NULL,
                     buf) < 0)
      goto fail;
  }
  h5u_close_group(&grp);

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
    h5u_close_group(&grp);
  }

  /* /cells: contiguous, since rows are rewritten one at a time. */
  fail_what = "cannot write /cells";
  hsize_t n_cells = s->n_cells;
  if ((ftype = h5u_cells_type((size_t)k, 0)) < 0 || (mtype = h5u_cells_type((size_t)k, 1)) < 0 ||
      (space = H5Screate_simple(1, &n_cells, NULL)) < 0 ||
      (ds = H5Dcreate2(s->file, "cells", ftype, space, H5P_DEFAULT, H5P_DEFAULT,
                       H5P_DEFAULT)) < 0 ||
      init_cells(s, ds, mtype) < 0)
    goto fail;
  h5u_close_space(&space);

  /* Root attributes, last: their variable-length values go to the global heap, so
   * writing them after every dataset keeps dataset addresses (and with them the
   * dimension-scale references that h5diff compares) independent of their text. */
  fail_what = "cannot write root attributes";
  h5u_utc_now(buf, sizeof buf);
  if (h5u_attr_put_string(s->file, "schema", H5STORE_SCHEMA) < 0 ||
      h5u_attr_put_string(s->file, "created_utc", buf) < 0 ||
      h5u_attr_put_string(s->file, "finished_utc", "") < 0 ||
      h5u_attr_put_string(s->file, "status", "RUNNING") < 0)
    goto fail;
  for (size_t i = 0; i < L->n_attrs; i++)
    if (h5u_attr_put_string(s->file, L->attrs[i].key, L->attrs[i].value) < 0) goto fail;
  unsigned major, minor, release;
  if (H5get_libversion(&major, &minor, &release) < 0) goto fail;
  snprintf(buf, sizeof buf, "%u.%u.%u", major, minor, release);
  if (h5u_attr_put_string(s->file, "hdf5_version", buf) < 0) goto fail;
  if ((space = H5Screate(H5S_SCALAR)) < 0 ||
      (attr = H5Acreate2(s->file, "master_seed", H5T_STD_U64LE, space, H5P_DEFAULT,
                         H5P_DEFAULT)) < 0 ||
      H5Awrite(attr, H5T_NATIVE_UINT64, &L->master_seed) < 0)
    goto fail;
  h5u_close_attr(&attr);
  h5u_close_space(&space);

  goto done;
fail:
  rc = h5u_io_fail(m, s->path, fail_what);
done:
  for (int d = 0; d < s->rank; d++) h5u_close_dataset(&scales[d]);
  h5u_close_dataset(&ds);
  h5u_close_attr(&attr);
  h5u_close_space(&space);
  h5u_close_type(&ftype);
  h5u_close_type(&mtype);
  h5u_close_type(&str);
  h5u_close_group(&sub);
  h5u_close_group(&grp);
  free(replicates);
  return rc;
}

int h5store_create(const char *path, const h5store_layout *layout, h5store **out, ps_msg *m) {
  h5store *s = NULL;
  hid_t fcpl = H5I_INVALID_HID;
  int rc, created = 0;
  h5u_h5_quiet();
  if (out) *out = NULL;
  if (!out) return ps_fail(m, PS_EINVAL, "h5store_create: out is NULL");
  if ((rc = check_layout(path, layout, m))) return rc;
  if (!(s = store_alloc(path, layout)))
    return ps_fail(m, PS_ENOMEM, "%s: no memory for the store", path);
  if ((fcpl = H5Pcreate(H5P_FILE_CREATE)) < 0 ||
      H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
      H5Pset_attr_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0) {
    rc = h5u_io_fail(m, path, "cannot set up file creation properties");
    goto fail;
  }
  hid_t fapl = writer_fapl();
  s->file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
  if (fapl != H5P_DEFAULT) H5Pclose(fapl);
  if (s->file < 0) {
    rc = h5u_io_fail(m, path, "cannot create results file");
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
    rc = h5u_io_fail(m, path, "cannot select the HDF5 1.10 object format");
    goto fail;
  }
  if ((rc = write_layout(s, layout, m))) goto fail;
  if ((rc = store_open_handles(s, layout, m))) goto fail;
  if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0) {
    rc = h5u_io_fail(m, path, "cannot flush");
    goto fail;
  }
  h5u_close_plist(&fcpl);
  *out = s;
  return PS_OK;
fail:
  h5u_close_plist(&fcpl);
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
    rc = h5u_io_fail(m, path, "cannot open an axis dataset");
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
      rc = h5u_io_fail(m, path, "cannot read an axis");
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
    if ((str = h5u_vstring_type(H5Tget_cset(type))) < 0 ||
        H5Dread(ds, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) < 0) {
      rc = h5u_io_fail(m, path, "cannot read an axis");
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
  h5u_close_type(&str);
  h5u_close_type(&type);
  h5u_close_space(&space);
  h5u_close_dataset(&ds);
  return rc;
}

/* The names under group gpath must be exactly names[0..n-1] (in any order). */
static int check_names(hid_t file, const char *path, const char *gpath, const char *what,
                       size_t n, const char *const *names, ps_msg *m) {
  name_list l;
  char list[256];
  int rc = PS_OK;
  if (h5u_group_names(file, gpath, &l) < 0) return h5u_io_fail(m, path, "cannot list a group");
  for (size_t i = 0; i < n && !rc; i++)
    if (!h5u_name_list_has(&l, names[i]))
      rc = ps_fail(m, PS_EINVAL, "%s: %s '%s' is in the layout but not in the file (%s has: "
                   "%s)", path, what, names[i], gpath,
                   h5u_join_names((const char *const *)l.names, list, sizeof list));
  for (size_t i = 0; i < l.n && !rc; i++) {
    int found = 0;
    for (size_t j = 0; j < n && !found; j++) found = strcmp(l.names[i], names[j]) == 0;
    if (!found)
      rc = ps_fail(m, PS_EINVAL, "%s: %s '%s' is in the file (%s) but not in the layout",
                   path, what, l.names[i], gpath);
  }
  h5u_name_list_free(&l);
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
  char *text = h5u_attr_get_string(file, "schema");
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
  if (h5u_group_names(file, "axes", &axes) < 0) return h5u_io_fail(m, path, "cannot list /axes");
  size_t k = 0;
  for (size_t i = 0; i < axes.n && !rc; i++) {
    if (strcmp(axes.names[i], "replicate") == 0) continue;
    if (k >= L->n_axes || strcmp(axes.names[i], L->axes[k].name) != 0)
      rc = ps_fail(m, PS_EINVAL, "%s: sweep axis %zu is '%s' in the file but '%s' in the "
                   "layout (file axes: %s)", path, k, axes.names[i],
                   k < L->n_axes ? L->axes[k].name : "(none)",
                   h5u_join_names((const char *const *)axes.names, list, sizeof list));
    k++;
  }
  if (!rc && k != L->n_axes)
    rc = ps_fail(m, PS_EINVAL, "%s: the file has %zu sweep axes, the layout %zu (file axes: "
                 "%s)", path, k, L->n_axes,
                 h5u_join_names((const char *const *)axes.names, list, sizeof list));
  if (!rc && !h5u_name_list_has(&axes, "replicate"))
    rc = ps_fail(m, PS_EINVAL, "%s: /axes/replicate is missing", path);
  h5u_name_list_free(&axes);
  for (size_t i = 0; i < L->n_axes && !rc; i++) rc = check_axis(file, path, &L->axes[i], m);
  if (rc) return rc;

  hid_t ds = H5Dopen2(file, "/axes/replicate", H5P_DEFAULT), space = H5I_INVALID_HID;
  hssize_t n_rep = ds < 0 || (space = H5Dget_space(ds)) < 0
                       ? -1
                       : H5Sget_simple_extent_npoints(space);
  h5u_close_space(&space);
  h5u_close_dataset(&ds);
  if (n_rep < 0) return h5u_io_fail(m, path, "cannot read /axes/replicate");
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
  text = h5u_attr_get_string(file, key);
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
  h5u_h5_quiet();
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
    rc = h5u_io_fail(m, path, "cannot open results file to resume");
    goto fail;
  }
  if ((rc = check_file_matches(s->file, path, layout, m))) goto fail;
  if ((rc = h5u_cells_read_status(s->file, path, &status, &rows, m))) goto fail;
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
  if (h5u_attr_put_string(s->file, "status", "RUNNING") < 0 ||
      h5u_attr_put_string(s->file, "finished_utc", "") < 0 ||
      H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0) {
    rc = h5u_io_fail(m, path, "cannot mark the file RUNNING");
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
  h5u_h5_quiet();
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
  return h5u_io_fail(m, s->path, "cannot write a cell");
}

int h5store_set_attr(h5store *s, const char *key, const char *value, ps_msg *m) {
  h5u_h5_quiet();
  if (!s || !key || !value) return ps_fail(m, PS_EINVAL, "h5store_set_attr: NULL argument");
  for (size_t j = 0; H5U_RESERVED_ATTRS[j]; j++)
    if (strcmp(key, H5U_RESERVED_ATTRS[j]) == 0)
      return ps_fail(m, PS_EINVAL, "%s: root attribute '%s' is set by the store itself", s->path, key);
  if (h5u_attr_put_string(s->file, key, value) < 0 || H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
    return h5u_io_fail(m, s->path, "cannot write a root attribute");
  return PS_OK;
}

int h5store_set_status(h5store *s, const char *status, ps_msg *m) {
  static const char *const allowed[] = {"RUNNING", "COMPLETED", "INTERRUPTED", "FAILED", NULL};
  char now[64];
  int ok = 0;
  h5u_h5_quiet();
  if (!s) return ps_fail(m, PS_EINVAL, "h5store_set_status: store is NULL");
  for (size_t i = 0; status && allowed[i]; i++) ok |= strcmp(status, allowed[i]) == 0;
  if (!ok)
    return ps_fail(m, PS_EINVAL, "%s: status \"%s\" is not one of RUNNING, COMPLETED, "
                   "INTERRUPTED, FAILED", s->path, status ? status : "(null)");
  h5u_utc_now(now, sizeof now);
  if (h5u_attr_put_string(s->file, "status", status) < 0 ||
      (strcmp(status, "RUNNING") != 0 && h5u_attr_put_string(s->file, "finished_utc", now) < 0) ||
      H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
    return h5u_io_fail(m, s->path, "cannot set the file status");
  return PS_OK;
}

int h5store_close(h5store *s, ps_msg *m) {
  if (!s) return PS_OK;
  h5u_h5_quiet();
  hid_t file = s->file;
  char *path = s->path;
  s->file = H5I_INVALID_HID;
  s->path = NULL;
  store_free(s);
  int rc = PS_OK;
  if (file >= 0 && H5Fclose(file) < 0) rc = h5u_io_fail(m, path, "cannot close results file");
  free(path);
  return rc;
}

