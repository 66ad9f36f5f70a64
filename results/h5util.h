/* h5util.h — what the results store's writer (h5store.c) and reader (h5read.c)
 * share: HDF5 handle helpers, string attributes, group listings, reading /cells (both
 * schemas).  Private to results/: nothing outside this folder includes it. */
#ifndef PS_RESULTS_H5UTIL_H
#define PS_RESULTS_H5UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "h5store.h"

/* chunk size, name and path limits, deflate level and the
 * type-conversion buffer of single-element writes: see h5store.c's header */
#define CHUNK_ELEMS 8192 /* 64 KiB of float64: arrays are written whole */
#define NAME_MAX_LEN 255
#define PATH_LEN 1024
#define DEFLATE_LEVEL 4
#define XFER_BUFFER 4096
#if H5_VERSION_GE(1, 12, 0)
#define vlen_reclaim(type, space, buf) H5Treclaim(type, space, H5P_DEFAULT, buf)
#else
#define vlen_reclaim(type, space, buf) H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf)
#endif

/* status codes named in the /status arrays' attribute; the root attributes the
 * store writes itself (a layout may not set them) */
extern const char H5U_STATUS_CODES[];
extern const char *const H5U_RESERVED_ATTRS[];
/* names no sweep axis may take: the root's groups and /cells's arrays (NULL-terminated) */
extern const char *const H5U_ROOT_GROUPS[];
extern const char *const H5U_CELL_ARRAYS[];

typedef struct {
  char text[320];
  int found;
} h5_detail;

typedef struct {
  char **names;
  size_t n, cap;
  int failed;
} name_list;

/* Close an HDF5 handle of that kind if it is open (>= 0) and set it to -1. */
void h5u_close_dataset(hid_t *id);
void h5u_close_group(hid_t *id);
void h5u_close_type(hid_t *id);
void h5u_close_space(hid_t *id);
void h5u_close_plist(hid_t *id);
void h5u_close_attr(hid_t *id);
/* Silence HDF5's automatic error printing (every public entry point calls it). */
void h5u_h5_quiet(void);
/* io_fail: PS_EIO with "path: what (innermost HDF5 error)" in m; detail_walk is its
 * error-stack walker.  dup_string: strdup (NULL for NULL); utc_now: ISO 8601 UTC. */
herr_t h5u_detail_walk(unsigned n, const H5E_error2_t *e, void *data);
int h5u_io_fail(ps_msg *m, const char *path, const char *what);
char *h5u_dup_string(const char *s);
void h5u_utc_now(char *buf, size_t n);
/* Variable-length string type of that character set; string attributes (put replaces,
 * read/get return a malloc'ed copy or NULL). */
hid_t h5u_vstring_type(H5T_cset_t cset);
herr_t h5u_attr_put_string(hid_t obj, const char *key, const char *value);
char *h5u_attr_read_string(hid_t attr);
char *h5u_attr_get_string(hid_t obj, const char *key);
/* Names of the links of a group, in creation order where tracked (else by name). */
void h5u_name_list_free(name_list *l);
herr_t h5u_name_list_add(hid_t group, const char *name, const H5L_info_t *info, void *data);
int h5u_group_names(hid_t loc, const char *path, name_list *l);
int h5u_name_list_has(const name_list *l, const char *name);
/* Remove from l every name that drop holds. */
void h5u_name_list_drop(name_list *l, const name_list *drop);
/* Where the axes are: h5u_axes_v1 is 1 for schema 1's /axes group, 0 for schema 2's
 * root scales; h5u_axis_names lists them in dimension order, replicate included. */
int h5u_axes_v1(hid_t file);
int h5u_axis_names(hid_t file, name_list *l);
const char *h5u_join_names(const char *const *names, char *buf, size_t size);
/* /cells: h5u_cells_v1 is 1 when it is schema 1's compound table (prefsim-results/1),
 * 0 for schema 2's group of arrays; the status enum and a status-only memory type read
 * the old table; h5u_cells_read_status reads either. */
int h5u_cells_v1(hid_t file);
hid_t h5u_cell_status_enum(int native);
hid_t h5u_cells_status_only_type(void);
int h5u_cells_read_status(hid_t file, const char *path, int8_t **out, size_t *n, ps_msg *m);

#endif
