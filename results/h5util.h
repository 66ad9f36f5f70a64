/* h5util.h — what the results store's writer (h5store.c) and reader (h5read.c)
 * share: HDF5 handle helpers, string attributes, group listings, the /cells row
 * layout.  Private to results/: nothing outside this folder includes it. */
#ifndef PS_RESULTS_H5UTIL_H
#define PS_RESULTS_H5UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "h5store.h"

/* chunk size, name and path limits, /cells initialisation block, deflate level and the
 * type-conversion buffer of single-element writes: see h5store.c's header */
#define CHUNK_ELEMS 8192 /* 64 KiB of float64: arrays are written whole */
#define NAME_MAX_LEN 255
#define PATH_LEN 1024
#define CELLS_BLOCK 65536 /* rows per write when initialising /cells */
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

typedef struct {
  char text[320];
  int found;
} h5_detail;

typedef struct {
  char **names;
  size_t n, cap;
  int failed;
} name_list;

typedef struct {
  size_t id, index, replicate, status, iterations, wall_seconds, size;
} cell_layout;

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
const char *h5u_join_names(const char *const *names, char *buf, size_t size);
/* The packed /cells row for k sweep axes: offsets, file and memory types, and a read
 * of the status column alone. */
cell_layout h5u_cell_layout_for(size_t k);
hid_t h5u_cell_status_enum(int native);
hid_t h5u_cells_type(size_t k, int native);
hid_t h5u_cells_status_only_type(void);
int h5u_cells_read_status(hid_t file, const char *path, int8_t **out, size_t *n, ps_msg *m);

#endif
