/* h5export.c — a results file as one flat netCDF-4 dataset (h5store.h,
 * h5read_export_netcdf), for `prefsim export --format netcdf` and anyone who wants
 * xarray.open_dataset(path) with no group argument.
 *
 * The dataset (what python/prefsim's open() returns too):
 *   dimensions   estimator (text), the sweep axes (as in the results file), replicate
 *   <metric>     float64 [estimator, axes..., replicate]: every metric of any estimator,
 *                NaN for an estimator that does not compute it
 *   truth_<q>, theory_<q>   float64 [axes..., replicate]
 *   attributes   the results file's root attributes (strings), Conventions, title
 * Metric names cannot clash with the axes (the store refuses it) nor with truth_/theory_
 * names unless a metric starts so; a clash is reported, never written.
 *
 * The file is built in memory (HDF5's core driver) and handed back as an image, so the
 * caller writes it through its own temporary + fsync + rename. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"

/* A 1-D dimension scale at the root. */
static hid_t scale(hid_t file, const char *name, size_t n, hid_t ftype, hid_t mtype, const void *buf,
                   const char *long_name, const char *units) {
  hsize_t dim = n;
  hid_t space = H5Screate_simple(1, &dim, NULL), ds = H5I_INVALID_HID;
  if (space < 0) return space;
  if ((ds = H5Dcreate2(file, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
      H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 || H5DSset_scale(ds, name) < 0 ||
      (long_name && h5u_attr_put_string(ds, "long_name", long_name) < 0) ||
      (units && h5u_attr_put_string(ds, "units", units) < 0))
    h5u_close_dataset(&ds);
  H5Sclose(space);
  return ds;
}

/* A float64 variable of rank dimensions (scales[first..first+rank-1]), chunked and
 * compressed like the results file's arrays. */
static int variable(hid_t file, const char *name, int rank, const hsize_t *dims, const hid_t *scales,
                    const double *data, const char *units, const char *long_name) {
  hsize_t chunk[H5S_MAX_RANK], budget = CHUNK_ELEMS, n = 1;
  for (int d = rank - 1; d >= 0; d--) {
    chunk[d] = dims[d] < budget ? dims[d] : budget;
    budget /= chunk[d];
    if (budget < 1) budget = 1;
    n *= dims[d];
  }
  const double nan = NAN;
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), space = H5I_INVALID_HID, ds = H5I_INVALID_HID;
  int rc = -1;
  if (dcpl < 0 || H5Pset_chunk(dcpl, rank, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
      H5Pset_deflate(dcpl, DEFLATE_LEVEL) < 0 || H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan) < 0 ||
      (space = H5Screate_simple(rank, dims, NULL)) < 0 ||
      (ds = H5Dcreate2(file, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0 ||
      (n && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
    goto done;
  for (int d = 0; d < rank; d++)
    if (H5DSattach_scale(ds, scales[d], (unsigned)d) < 0) goto done;
  if ((units && h5u_attr_put_string(ds, "units", units) < 0) ||
      (long_name && h5u_attr_put_string(ds, "long_name", long_name) < 0))
    goto done;
  rc = 0;
done:
  h5u_close_dataset(&ds);
  h5u_close_space(&space);
  h5u_close_plist(&dcpl);
  return rc;
}

/* The union of every estimator's metric names, in first-seen order (NULL-terminated,
 * pointing into the reader's lists). */
static const char **metric_union(const h5read *r, size_t *n) {
  const char *const *est = h5read_estimators(r);
  size_t cap = 1;
  for (size_t e = 0; est && est[e]; e++)
    for (const char *const *q = h5read_metrics(r, est[e]); q && *q; q++) cap++;
  const char **u = calloc(cap, sizeof *u);
  *n = 0;
  if (!u) return NULL;
  for (size_t e = 0; est && est[e]; e++)
    for (const char *const *q = h5read_metrics(r, est[e]); q && *q; q++) {
      size_t i = 0;
      while (i < *n && strcmp(u[i], *q)) i++;
      if (i == *n) u[(*n)++] = *q;
    }
  return u;
}

static int write_dataset(const h5read *r, hid_t file, const char *path, ps_msg *m) {
  size_t k = h5read_n_axes(r), R = h5read_n_replicates(r), nc = h5read_n_cells(r), ne = 0, nm = 0;
  const char *const *est = h5read_estimators(r);
  while (est && est[ne]) ne++;
  hid_t scales[H5S_MAX_RANK + 1], str = h5u_vstring_type(H5T_CSET_UTF8);
  hsize_t dims[H5S_MAX_RANK + 1];
  const char **metrics = metric_union(r, &nm);
  double *block = malloc((ne ? ne : 1) * (nc ? nc : 1) * sizeof *block), *one = NULL;
  int32_t *reps = malloc((R ? R : 1) * sizeof *reps);
  int64_t *iv = NULL;
  char name[PATH_LEN], *units = NULL, *long_name = NULL;
  int rc = PS_OK;
  for (size_t d = 0; d <= k + 1; d++) scales[d] = H5I_INVALID_HID;
  if (str < 0 || !metrics || !block || !reps) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory to export", path);
    goto done;
  }
  /* dimensions: estimator, the axes, replicate */
  dims[0] = ne;
  if (k + 2 > H5S_MAX_RANK) {
    rc = ps_fail(m, PS_EINVAL, "%s: %zu sweep axes: too many to add the estimator dimension", path, k);
    goto done;
  }
  if ((scales[0] = scale(file, "estimator", ne, str, str, est, "estimator (section estimator.LABEL)", NULL)) < 0)
    goto fail;
  for (size_t d = 0; d < k; d++) {
    const h5store_axis *a = h5read_axis(r, d);
    dims[d + 1] = a->n;
    if (!strcmp(a->name, "estimator")) {
      rc = ps_fail(m, PS_EINVAL, "%s: a sweep axis is named 'estimator', the export's estimator dimension", path);
      goto done;
    }
    if (a->labels) {
      scales[d + 1] = scale(file, a->name, a->n, str, str, a->labels, a->long_name, NULL);
    } else if (a->integer) {
      free(iv);
      if (!(iv = malloc(a->n * sizeof *iv))) {
        rc = ps_fail(m, PS_ENOMEM, "%s: no memory to export", path);
        goto done;
      }
      for (size_t j = 0; j < a->n; j++) iv[j] = (int64_t)a->values[j];
      scales[d + 1] = scale(file, a->name, a->n, H5T_STD_I64LE, H5T_NATIVE_INT64, iv, a->long_name, a->units);
    } else {
      scales[d + 1] = scale(file, a->name, a->n, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, a->values, a->long_name,
                            a->units ? a->units : "1");
    }
    if (scales[d + 1] < 0) goto fail;
  }
  for (size_t j = 0; j < R; j++) reps[j] = (int32_t)j;
  dims[k + 1] = R;
  if ((scales[k + 1] = scale(file, "replicate", R, H5T_STD_I32LE, H5T_NATIVE_INT32, reps,
                             "replicate (independent repetition of the grid point)", NULL)) < 0)
    goto fail;
  /* metrics [estimator, axes..., replicate] */
  for (size_t q = 0; q < nm; q++) {
    if (!strncmp(metrics[q], "truth_", 6) || !strncmp(metrics[q], "theory_", 7) ||
        !strcmp(metrics[q], "estimator")) {
      rc = ps_fail(m, PS_EINVAL, "%s: metric '%s' would clash with the export's names (estimator, truth_*, theory_*)",
                   path, metrics[q]);
      goto done;
    }
    for (size_t e = 0; e < ne; e++) {
      const char *const *has = h5read_metrics(r, est[e]);
      while (has && *has && strcmp(*has, metrics[q])) has++;
      if (!has || !*has) {
        for (size_t c = 0; c < nc; c++) block[e * nc + c] = NAN;
        continue;
      }
      snprintf(name, sizeof name, "metrics/%s/%s", est[e], metrics[q]);
      if ((rc = h5read_array(r, name, &one, m))) goto done;
      memcpy(block + e * nc, one, nc * sizeof *one);
      free(one);
      one = NULL;
      if (!units) units = h5read_dataset_attr(r, name, "units");
      if (!long_name) long_name = h5read_dataset_attr(r, name, "long_name");
    }
    if (variable(file, metrics[q], (int)k + 2, dims, scales, block, units, long_name) < 0) goto fail;
    free(units);
    free(long_name);
    units = long_name = NULL;
  }
  /* truth_<q>, theory_<q> [axes..., replicate] */
  for (int part = 0; part < 2; part++) {
    const char *g = part ? "theory" : "truth";
    name_list l;
    memset(&l, 0, sizeof l);
    for (const char *const *q = h5read_quantities(r, g); q && *q; q++) {
      snprintf(name, sizeof name, "%s/%s", g, *q);
      if ((rc = h5read_array(r, name, &one, m))) goto done;
      units = h5read_dataset_attr(r, name, "units");
      long_name = h5read_dataset_attr(r, name, "long_name");
      snprintf(name, sizeof name, "%s_%s", g, *q);
      int bad = variable(file, name, (int)k + 1, dims + 1, scales + 1, one, units, long_name) < 0;
      free(one);
      one = NULL;
      free(units);
      free(long_name);
      units = long_name = NULL;
      if (bad) goto fail;
    }
  }
  /* root attributes: the results file's, then what makes the export self-describing */
  for (size_t i = 0; i < h5read_n_attrs(r); i++) {
    const char *key = h5read_attr_key(r, i);
    if (!strcmp(key, "Conventions") || !strcmp(key, "title") || !strcmp(key, "schema")) continue;
    if (h5u_attr_put_string(file, key, h5read_attr(r, key)) < 0) goto fail;
  }
  snprintf(name, sizeof name, "prefsim results: %s (flat export)",
           h5read_attr(r, "experiment") ? h5read_attr(r, "experiment") : "");
  if (h5u_attr_put_string(file, "Conventions", "CF-1.8") < 0 || h5u_attr_put_string(file, "title", name) < 0 ||
      h5u_attr_put_string(file, "source_schema", h5read_attr(r, "schema") ? h5read_attr(r, "schema") : "") < 0)
    goto fail;
  goto done;
fail:
  rc = h5u_io_fail(m, path, "cannot build the netCDF export");
done:
  for (size_t d = 0; d <= k + 1 && d <= H5S_MAX_RANK; d++) h5u_close_dataset(&scales[d]);
  h5u_close_type(&str);
  free(metrics);
  free(block);
  free(one);
  free(reps);
  free(iv);
  free(units);
  free(long_name);
  return rc;
}

int h5read_export_netcdf(const h5read *r, unsigned char **image, size_t *size, ps_msg *m) {
  hid_t fcpl = H5I_INVALID_HID, fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
  const char *path = "export";
  int rc = PS_OK;
  h5u_h5_quiet();
  *image = NULL;
  *size = 0;
  if ((fcpl = H5Pcreate(H5P_FILE_CREATE)) < 0 ||
      H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
      H5Pset_attr_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
      (fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 || H5Pset_fapl_core(fapl, 1 << 20, 0) < 0 ||
      (file = H5Fcreate("prefsim-export.nc", H5F_ACC_TRUNC, fcpl, fapl)) < 0 ||
      H5Fset_libver_bounds(file, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0) {
    rc = h5u_io_fail(m, path, "cannot create the netCDF file in memory");
    goto done;
  }
  if ((rc = write_dataset(r, file, path, m))) goto done;
  ssize_t n;
  if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0 || (n = H5Fget_file_image(file, NULL, 0)) <= 0) {
    rc = h5u_io_fail(m, path, "cannot finish the netCDF file in memory");
    goto done;
  }
  if (!(*image = malloc((size_t)n))) {
    rc = ps_fail(m, PS_ENOMEM, "no memory for the %zd-byte netCDF image", n);
    goto done;
  }
  if (H5Fget_file_image(file, *image, (size_t)n) != n) {
    free(*image);
    *image = NULL;
    rc = h5u_io_fail(m, path, "cannot copy the netCDF image");
    goto done;
  }
  *size = (size_t)n;
done:
  if (file >= 0) H5Fclose(file);
  h5u_close_plist(&fcpl);
  h5u_close_plist(&fapl);
  H5Eclear2(H5E_DEFAULT);
  return rc;
}
