/* h5snap.c — write a whole results file from the in-memory state (see h5state.h; the
 * layout is documented in h5store.h).
 *
 * Invariants a reader of this file must keep:
 *  - Groups track link creation order, so the root lists the sweep axes in dimension order
 *    (replicate last, then the groups) and /metrics lists estimators in layout order.
 *  - The file is netCDF-4 as well as HDF5: every dimension is a dimension scale at the
 *    root (netCDF scoping: a group sees its ancestors' dimensions), and each group of
 *    [axes..., replicate] arrays holds hard links to those scales, because xarray reads
 *    the coordinate variables of the opened group only.  No dataset without a dimension
 *    scale on every dimension, no compound or enum type (xarray cannot take them).
 *  - Every [axes..., replicate] array is chunked (blocks of at most CHUNK_ELEMS elements
 *    filled from the replicate dimension outwards) with shuffle, deflate and HDF5's
 *    Fletcher-32 checksum, so h5py and other readers detect a damaged chunk too.  Each
 *    array is written with one H5Dwrite.
 *  - Root attributes are written last: their variable-length values go to the global
 *    heap, so writing them after every dataset keeps dataset addresses (and with them
 *    the dimension-scale references that h5diff compares) independent of their text.
 *  - The file starts with a SEAL_BLOCK-byte user block that receives the seal (seal.h);
 *    HDF5 builds the file in memory and prefsim writes the sealed image itself.
 *  - Every hid_t opened here is closed on every path. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5state.h"
#include "h5util.h"
#include "seal.h"

/* Dataset creation properties for an [axes..., replicate] array of memory type mtype with
 * fill value *fill. */
static hid_t array_dcpl(const h5state *s, hid_t mtype, const void *fill) {
  hsize_t chunk[H5S_MAX_RANK], budget = CHUNK_ELEMS;
  for (int d = s->rank - 1; d >= 0; d--) {
    chunk[d] = s->dims[d] < budget ? s->dims[d] : budget;
    budget /= chunk[d];
    if (budget < 1) budget = 1;
  }
  hid_t p = H5Pcreate(H5P_DATASET_CREATE);
  if (p < 0) return p;
  /* Fletcher-32 on fixed-size data; a variable-length array's chunks hold heap ids
   * (HDF5 refuses the filter there), and the whole-file seal covers them anyway */
  if (H5Pset_chunk(p, s->rank, chunk) < 0 || H5Pset_shuffle(p) < 0 || H5Pset_deflate(p, DEFLATE_LEVEL) < 0 ||
      (H5Tis_variable_str(mtype) <= 0 && H5Pset_fletcher32(p) < 0) || H5Pset_fill_value(p, mtype, fill) < 0 ||
      H5Pset_fill_time(p, H5D_FILL_TIME_IFSET) < 0) {
    H5Pclose(p);
    return H5I_INVALID_HID;
  }
  return p;
}

/* Create the [axes..., replicate] array name in group holding data (memory type
 * mtype), attach the axis scales (scales[d] for dimension d) and give it units and
 * long_name.  Returns 0 or -1. */
static int create_array(const h5state *s, hid_t group, const char *name, hid_t ftype, hid_t mtype, const void *fill,
                        const void *data, const hid_t *scales, const char *const *dim_names, const char *units,
                        const char *long_name) {
  hid_t dcpl = array_dcpl(s, mtype, fill), space = H5I_INVALID_HID, ds = H5I_INVALID_HID;
  int rc = -1;
  if (dcpl < 0) goto done;
  if ((space = H5Screate_simple(s->rank, s->dims, NULL)) < 0) goto done;
  if ((ds = H5Dcreate2(group, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0) goto done;
  if (s->n_cells && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) goto done;
  for (int d = 0; d < s->rank; d++)
    if (H5DSattach_scale(ds, scales[d], (unsigned)d) < 0 || H5DSset_label(ds, (unsigned)d, dim_names[d]) < 0)
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
static hid_t create_axis(hid_t axes, const char *name, size_t n, hid_t ftype, hid_t mtype, const void *buf) {
  hsize_t dim = n;
  hid_t space = H5Screate_simple(1, &dim, NULL), ds = H5I_INVALID_HID;
  if (space < 0) return space;
  if ((ds = H5Dcreate2(axes, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
      H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 || H5DSset_scale(ds, name) < 0)
    h5u_close_dataset(&ds);
  H5Sclose(space);
  return ds;
}

/* Hard links in group grp to the root's scales dim_names[0..rank-1]: xarray reads only
 * the opened group's variables, so a group's arrays see their coordinates through them
 * (the same objects: netCDF-C and h5netcdf match dimensions by object). */
static int link_scales(hid_t file, hid_t grp, const char *const *dim_names, int rank) {
  char root[NAME_MAX_LEN + 2];
  for (int d = 0; d < rank; d++) {
    snprintf(root, sizeof root, "/%s", dim_names[d]);
    if (H5Lcreate_hard(file, root, grp, dim_names[d], H5P_DEFAULT, H5P_DEFAULT) < 0) return -1;
  }
  return 0;
}

/* One 1-D column of /verdicts along the scale row: n values of memory type mtype. */
static int verdict_column(hid_t grp, hid_t row, const char *name, hid_t ftype, hid_t mtype, size_t n,
                          const void *buf, const char *long_name) {
  hsize_t dim = n;
  hid_t space = H5Screate_simple(1, &dim, NULL), ds = H5I_INVALID_HID;
  int rc = -1;
  if (space >= 0 && (ds = H5Dcreate2(grp, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
      H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0 && H5DSattach_scale(ds, row, 0) >= 0 &&
      h5u_attr_put_string(ds, "long_name", long_name) >= 0)
    rc = 0;
  h5u_close_dataset(&ds);
  h5u_close_space(&space);
  return rc;
}

/* /verdicts: the claims' evaluation, one row per claim and slice along the dimension
 * "row" (none: no group); one 1-D dataset per column, so xarray opens it as a table */
static int write_verdicts(const h5state *s, hid_t file) {
  if (!s->n_verdicts) return 0;
  size_t n = s->n_verdicts;
  hid_t str = h5u_vstring_type(H5T_CSET_UTF8), grp = H5I_INVALID_HID, row = H5I_INVALID_HID;
  const char **text = malloc(n * sizeof *text);
  double *num = malloc(n * sizeof *num);
  int64_t *count = malloc(n * sizeof *count);
  int32_t *index = malloc(n * sizeof *index);
  int8_t *flag = malloc(n);
  int rc = -1;
  if (str < 0 || !text || !num || !count || !index || !flag) goto done;
  for (size_t i = 0; i < n; i++) index[i] = (int32_t)i;
  if ((grp = create_group(file, "verdicts")) < 0 ||
      (row = create_axis(grp, "row", n, H5T_STD_I32LE, H5T_NATIVE_INT32, index)) < 0 ||
      h5u_attr_put_string(row, "long_name", "row of the verdict table (one claim on one slice)") < 0 ||
      h5u_attr_put_string(grp, "rule",
                          "prefsim verify (experiments/claims.h): slope/ratio/equal PASS when the CI lies inside "
                          "value +- tol (which excludes the alternative) and within bias of value; FAIL when it "
                          "misses the band or excludes value beyond bias; INCONCLUSIVE when it straddles the band's "
                          "edge. below/above/increasing/decreasing against the opposite side; exact: every "
                          "replicate within tol") < 0)
    goto done;
  /* columns in the order of the schema (h5store.h) */
#define TEXT_COL(field, doc)                                                            \
  do {                                                                                  \
    for (size_t i = 0; i < n; i++) text[i] = s->verdicts[i].field ? s->verdicts[i].field : ""; \
    if (verdict_column(grp, row, #field, str, str, n, text, doc) < 0) goto done;       \
  } while (0)
#define REAL_COL(field, doc)                                                                      \
  do {                                                                                            \
    for (size_t i = 0; i < n; i++) num[i] = s->verdicts[i].field;                                 \
    if (verdict_column(grp, row, #field, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, n, num, doc) < 0) goto done; \
  } while (0)
#define INT_COL(field, doc)                                                                     \
  do {                                                                                          \
    for (size_t i = 0; i < n; i++) count[i] = s->verdicts[i].field;                             \
    if (verdict_column(grp, row, #field, H5T_STD_I64LE, H5T_NATIVE_INT64, n, count, doc) < 0) goto done; \
  } while (0)
  TEXT_COL(claim, "claim (section claim.NAME)");
  TEXT_COL(slice, "slice of the sweep the claim was evaluated on");
  TEXT_COL(expect, "kind of claim");
  REAL_COL(value, "claimed value");
  REAL_COL(tol, "tolerance around the claimed value");
  REAL_COL(alternative, "value the claim rules out");
  REAL_COL(bias, "allowed bias");
  REAL_COL(measured, "measured statistic");
  REAL_COL(ci_low, "lower end of the bootstrap confidence interval");
  REAL_COL(ci_high, "upper end of the bootstrap confidence interval");
  for (size_t i = 0; i < n; i++) flag[i] = s->verdicts[i].contains_value;
  if (verdict_column(grp, row, "contains_value", H5T_STD_I8LE, H5T_NATIVE_INT8, n, flag,
                     "the interval contains the value (1), does not (0), not a band claim (-1)") < 0)
    goto done;
  INT_COL(n, "replicates used");
  INT_COL(missing, "replicates missing (failed or not run)");
  TEXT_COL(verdict, "PASS, FAIL or INCONCLUSIVE");
  TEXT_COL(note, "note");
#undef TEXT_COL
#undef REAL_COL
#undef INT_COL
  rc = 0;
done:
  h5u_close_dataset(&row);
  h5u_close_group(&grp);
  h5u_close_type(&str);
  free(text);
  free(num);
  free(count);
  free(index);
  free(flag);
  return rc;
}

static const char *attr_value(const h5state *s, const char *key) {
  for (size_t i = s->n_extra; i-- > 0;)
    if (!strcmp(s->extra_key[i], key)) return s->extra_val[i];
  return NULL;
}

/* Every group, dataset and attribute of the file from the state. */
static int write_all(const h5state *s, hid_t file, const char *path, ps_msg *m) {
  const h5store_layout *L = s->L;
  hid_t scales[H5S_MAX_RANK], grp = H5I_INVALID_HID, sub = H5I_INVALID_HID;
  hid_t str = H5I_INVALID_HID, space = H5I_INVALID_HID, ds = H5I_INVALID_HID, attr = H5I_INVALID_HID;
  const char *dim_names[H5S_MAX_RANK];
  const char *fail_what = "cannot write the layout";
  int rc = PS_OK, k = s->rank - 1;
  char buf[PATH_LEN];
  int32_t *replicates = NULL;
  const char **texts = NULL;
  for (int d = 0; d < s->rank; d++) scales[d] = H5I_INVALID_HID;

  /* The root's scales: one per sweep axis, then replicate (netCDF coordinate variables). */
  fail_what = "cannot write the axes";
  if ((str = h5u_vstring_type(H5T_CSET_UTF8)) < 0) goto fail;
  for (int d = 0; d < k; d++) {
    const h5store_axis *a = &L->axes[d];
    if (a->labels) {
      scales[d] = create_axis(file, a->name, a->n, str, str, a->labels);
    } else if (a->integer) {
      int64_t *iv = malloc(a->n * sizeof *iv);
      if (!iv) {
        rc = ps_fail(m, PS_ENOMEM, "%s: no memory to write the file", path);
        goto done;
      }
      for (size_t j = 0; j < a->n; j++) iv[j] = (int64_t)a->values[j];
      scales[d] = create_axis(file, a->name, a->n, H5T_STD_I64LE, H5T_NATIVE_INT64, iv);
      free(iv);
    } else {
      scales[d] = create_axis(file, a->name, a->n, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, a->values);
    }
    if (scales[d] < 0 || h5u_attr_put_string(scales[d], "long_name", a->long_name ? a->long_name : a->name) < 0 ||
        (!a->labels && h5u_attr_put_string(scales[d], "units", a->units ? a->units : "1") < 0))
      goto fail;
    dim_names[d] = a->name;
  }
  if (!(replicates = malloc(L->n_replicates * sizeof *replicates)) ||
      !(texts = malloc((s->n_cells ? s->n_cells : 1) * sizeof *texts))) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory to write the file", path);
    goto done;
  }
  for (size_t r = 0; r < L->n_replicates; r++) replicates[r] = (int32_t)r;
  if ((scales[k] = create_axis(file, "replicate", L->n_replicates, H5T_STD_I32LE, H5T_NATIVE_INT32, replicates)) <
          0 ||
      h5u_attr_put_string(scales[k], "long_name", "replicate (independent repetition of the grid point)") < 0)
    goto fail;
  dim_names[k] = "replicate";

  /* /metrics/<est>/<metric>, /status/<est>, /messages/<est>. */
  const double nan = NAN;
  const int not_run = -1;
  const char *empty = "";
  fail_what = "cannot write /metrics";
  if ((grp = create_group(file, "metrics")) < 0) goto fail;
  for (size_t e = 0; e < L->n_estimators; e++) {
    const h5store_estimator *est = &L->estimators[e];
    if ((sub = create_group(grp, est->label)) < 0 || link_scales(file, sub, dim_names, s->rank) < 0) goto fail;
    for (size_t j = 0; j < est->n_metrics; j++) {
      const h5store_quantity *q = &est->metrics[j];
      if (create_array(s, sub, q->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &nan,
                       s->val + (s->q0[e] + j) * s->n_cells, scales, dim_names, q->units ? q->units : "1",
                       q->long_name ? q->long_name : q->name) < 0)
        goto fail;
    }
    h5u_close_group(&sub);
  }
  h5u_close_group(&grp);
  fail_what = "cannot write /status";
  if ((grp = create_group(file, "status")) < 0 || link_scales(file, grp, dim_names, s->rank) < 0) goto fail;
  for (size_t e = 0; e < L->n_estimators; e++) {
    snprintf(buf, sizeof buf, "fit status of %s (PS_* code, -1 = not run)", L->estimators[e].label);
    if (create_array(s, grp, L->estimators[e].label, H5T_STD_I32LE, H5T_NATIVE_INT32, &not_run,
                     s->fit_status + e * s->n_cells, scales, dim_names, "1", buf) < 0 ||
        (ds = H5Dopen2(grp, L->estimators[e].label, H5P_DEFAULT)) < 0 ||
        h5u_attr_put_string(ds, "codes", H5U_STATUS_CODES) < 0)
      goto fail;
    h5u_close_dataset(&ds);
  }
  h5u_close_group(&grp);
  fail_what = "cannot write /messages";
  if ((grp = create_group(file, "messages")) < 0 || link_scales(file, grp, dim_names, s->rank) < 0) goto fail;
  for (size_t e = 0; e < L->n_estimators; e++) {
    snprintf(buf, sizeof buf, "failure message of %s (empty when the fit succeeded)", L->estimators[e].label);
    for (size_t c = 0; c < s->n_cells; c++) texts[c] = s->msg[e * s->n_cells + c] ? s->msg[e * s->n_cells + c] : "";
    if (create_array(s, grp, L->estimators[e].label, str, str, &empty, texts, scales, dim_names, NULL, buf) < 0)
      goto fail;
  }
  h5u_close_group(&grp);

  /* /truth and /theory (present even when empty, so every file has the same groups). */
  for (int part = 0; part < 2; part++) {
    const char *gname = part ? "theory" : "truth";
    size_t n = part ? L->n_theory : L->n_truth, q0 = s->q0[L->n_estimators] + (part ? L->n_truth : 0);
    const h5store_quantity *qs = part ? L->theory : L->truth;
    fail_what = part ? "cannot write /theory" : "cannot write /truth";
    if ((grp = create_group(file, gname)) < 0 || link_scales(file, grp, dim_names, s->rank) < 0) goto fail;
    for (size_t j = 0; j < n; j++)
      if (create_array(s, grp, qs[j].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &nan, s->val + (q0 + j) * s->n_cells,
                       scales, dim_names, qs[j].units ? qs[j].units : "1",
                       qs[j].long_name ? qs[j].long_name : qs[j].name) < 0)
        goto fail;
    h5u_close_group(&grp);
  }

  /* /cells: the bookkeeping of each cell as [axes..., replicate] arrays (CF flags for
   * the status) */
  fail_what = "cannot write /cells";
  const int8_t pending = H5STORE_CELL_PENDING, flags[3] = {H5STORE_CELL_PENDING, H5STORE_CELL_DONE,
                                                            H5STORE_CELL_FAILED};
  const int32_t zero = 0;
  hsize_t three = 3;
  if ((grp = create_group(file, "cells")) < 0 || link_scales(file, grp, dim_names, s->rank) < 0 ||
      create_array(s, grp, "status", H5T_STD_I8LE, H5T_NATIVE_INT8, &pending, s->cell_status, scales, dim_names,
                   NULL, "state of the cell") < 0 ||
      (ds = H5Dopen2(grp, "status", H5P_DEFAULT)) < 0 || (space = H5Screate_simple(1, &three, NULL)) < 0 ||
      (attr = H5Acreate2(ds, "flag_values", H5T_STD_I8LE, space, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
      H5Awrite(attr, H5T_NATIVE_INT8, flags) < 0 || h5u_attr_put_string(ds, "flag_meanings", "PENDING DONE FAILED") < 0)
    goto fail;
  h5u_close_attr(&attr);
  h5u_close_space(&space);
  h5u_close_dataset(&ds);
  if (create_array(s, grp, "iterations", H5T_STD_I32LE, H5T_NATIVE_INT32, &zero, s->iterations, scales, dim_names,
                   "1", "iterations, summed over the estimators") < 0 ||
      create_array(s, grp, "wall_seconds", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &nan, s->wall, scales, dim_names, "s",
                   "wall-clock time of the cell") < 0)
    goto fail;
  h5u_close_group(&grp);

  fail_what = "cannot write /verdicts";
  if (write_verdicts(s, file) < 0) goto fail;

  fail_what = "cannot write root attributes";
  snprintf(buf, sizeof buf, "prefsim results: %s", attr_value(s, "experiment") ? attr_value(s, "experiment") : "");
  for (size_t i = 0; i < L->n_attrs && !attr_value(s, "experiment"); i++)
    if (!strcmp(L->attrs[i].key, "experiment")) snprintf(buf, sizeof buf, "prefsim results: %s", L->attrs[i].value);
  if (h5u_attr_put_string(file, "Conventions", "CF-1.8") < 0 || h5u_attr_put_string(file, "title", buf) < 0 ||
      h5u_attr_put_string(file, "schema", H5STORE_SCHEMA) < 0 ||
      h5u_attr_put_string(file, "created_utc", s->created_utc) < 0 ||
      h5u_attr_put_string(file, "finished_utc", s->finished_utc) < 0 ||
      h5u_attr_put_string(file, "status", s->status) < 0)
    goto fail;
  h5u_utc_now(buf, sizeof buf);
  if (h5u_attr_put_string(file, "snapshot_utc", buf) < 0) goto fail;
  for (size_t i = 0; i < L->n_attrs; i++) {
    const char *v = attr_value(s, L->attrs[i].key);
    if (h5u_attr_put_string(file, L->attrs[i].key, v ? v : L->attrs[i].value) < 0) goto fail;
  }
  for (size_t i = 0; i < s->n_extra; i++) {
    int in_layout = 0;
    for (size_t j = 0; j < L->n_attrs && !in_layout; j++) in_layout = !strcmp(L->attrs[j].key, s->extra_key[i]);
    if (!in_layout && attr_value(s, s->extra_key[i]) == s->extra_val[i] &&
        h5u_attr_put_string(file, s->extra_key[i], s->extra_val[i]) < 0)
      goto fail;
  }
  unsigned major, minor, release;
  if (H5get_libversion(&major, &minor, &release) < 0) goto fail;
  snprintf(buf, sizeof buf, "%u.%u.%u", major, minor, release);
  if (h5u_attr_put_string(file, "hdf5_version", buf) < 0) goto fail;
  if ((space = H5Screate(H5S_SCALAR)) < 0 ||
      (attr = H5Acreate2(file, "master_seed", H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
      H5Awrite(attr, H5T_NATIVE_UINT64, &L->master_seed) < 0)
    goto fail;
  goto done;
fail:
  rc = h5u_io_fail(m, path, fail_what);
done:
  for (int d = 0; d < s->rank; d++) h5u_close_dataset(&scales[d]);
  h5u_close_dataset(&ds);
  h5u_close_attr(&attr);
  h5u_close_space(&space);
  h5u_close_type(&str);
  h5u_close_group(&sub);
  h5u_close_group(&grp);
  free(replicates);
  free(texts);
  return rc;
}

/* write all n bytes of buf to a new file at path and fsync it */
static int write_file(const char *path, const unsigned char *buf, size_t n, ps_msg *m) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ps_fail(m, PS_EIO, "%s: cannot create: %s", path, strerror(errno));
  size_t put = 0;
  while (put < n) {
    ssize_t k = write(fd, buf + put, n - put);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      int e = k < 0 ? errno : EIO;
      close(fd);
      unlink(path);
      return ps_fail(m, PS_EIO, "%s: cannot write the results file: %s", path, strerror(e));
    }
    put += (size_t)k;
  }
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    unlink(path);
    return ps_fail(m, PS_EIO, "%s: cannot sync the results file: %s", path, strerror(e));
  }
  if (close(fd) != 0) {
    int e = errno;
    unlink(path);
    return ps_fail(m, PS_EIO, "%s: %s", path, strerror(e));
  }
  return PS_OK;
}

/* The file is built in memory (HDF5's core driver, no backing store), sealed, and
 * written with plain write(2): HDF5 never touches the disk, so a full disk or an I/O
 * error is one clean failure here, never a half-closed HDF5 file. */
int h5snap_write(const h5state *s, const char *path, ps_msg *m) {
  hid_t fcpl = H5I_INVALID_HID, fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
  unsigned char *image = NULL;
  int rc = PS_OK;
  h5u_h5_quiet();
  if ((fcpl = H5Pcreate(H5P_FILE_CREATE)) < 0 || H5Pset_userblock(fcpl, SEAL_BLOCK) < 0 ||
      H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
      H5Pset_attr_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
      (fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 || H5Pset_fapl_core(fapl, 1 << 20, 0) < 0) {
    rc = h5u_io_fail(m, path, "cannot set up file properties");
    goto done;
  }
  if ((file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl)) < 0) {
    rc = h5u_io_fail(m, path, "cannot create the results file in memory");
    goto done;
  }
  /* The objects in the HDF5 1.10 format (a fixed-size dataset's chunk index is then a
   * fixed array), the superblock left at version 0, so any HDF5 >= 1.10 (h5py, MATLAB,
   * R hdf5r, netCDF) reads the file. */
  if (H5Fset_libver_bounds(file, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0) {
    rc = h5u_io_fail(m, path, "cannot select the HDF5 1.10 object format");
    goto done;
  }
  if ((rc = write_all(s, file, path, m))) goto done;
  ssize_t size;
  if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0 || (size = H5Fget_file_image(file, NULL, 0)) <= 0) {
    rc = h5u_io_fail(m, path, "cannot finish the results file in memory");
    goto done;
  }
  /* the image starts at the superblock: the user block is ours to prepend */
  if (!(image = calloc(1, (size_t)size + SEAL_BLOCK))) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory for the %zd-byte file image", path, size);
    goto done;
  }
  if (H5Fget_file_image(file, image + SEAL_BLOCK, (size_t)size) != size) {
    rc = h5u_io_fail(m, path, "cannot copy the file image");
    goto done;
  }
  hid_t f = file;
  file = H5I_INVALID_HID;
  if (H5Fclose(f) < 0) {
    rc = h5u_io_fail(m, path, "cannot close the in-memory file");
    goto done;
  }
  seal_image(image, (size_t)size + SEAL_BLOCK);
  rc = write_file(path, image, (size_t)size + SEAL_BLOCK, m);
done:
  if (file >= 0) H5Fclose(file);
  h5u_close_plist(&fcpl);
  h5u_close_plist(&fapl);
  H5Eclear2(H5E_DEFAULT);
  free(image);
  return rc;
}
