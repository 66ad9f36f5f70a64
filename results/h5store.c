/* h5store.c — the results writer: every value of the sweep in memory, an append-only
 * journal of finished cells beside the file, and the file itself only ever replaced
 * whole (see h5store.h for the file's layout, h5state.h for the state, journal.h for
 * the journal, seal.h for the checksum; the reader is h5read.c).
 *
 * Why nothing is lost:
 *  - A finished cell is one journal record, written with one write(2) before
 *    h5store_put_cell returns: a SIGKILL, an OOM kill or a closed terminal after that
 *    cannot lose it (the kernel has it); fdatasync runs at most every second and on
 *    h5store_sync (before every progress line), so a power loss loses at most the last
 *    second.  A torn record (the crash hit mid-write, or the disk filled) fails its CRC
 *    and is cut off on the next open: its cell is simply run again.
 *  - The results file is written whole from memory to PATH.tmp, sealed (checksum),
 *    fsync'd and renamed over PATH, then the directory is fsync'd: a reader, or a crash,
 *    sees the previous file or the new one, never a mixture.  This happens when the
 *    store is created or resumed (so a RUNNING file exists from the start), every
 *    SNAPSHOT_SECONDS (or 20x the last snapshot's cost, if more) while cells arrive,
 *    and on close.  After each snapshot the journal is emptied; a crash between the
 *    rename and that truncation only means the journal's cells are applied twice,
 *    which changes nothing.
 *  - Resuming loads the last file and replays the journal over it: every finished
 *    cell is back, nothing durably written is run again, and since each cell's values
 *    depend only on the config and the cell, the final file equals an uninterrupted
 *    run's.
 *  - The journal's lock (journal.h) is taken before anything is read or written, so a
 *    second writer (`run --force` on a running sweep's file) is refused, naming the
 *    process, before it can touch a byte.
 *  - Readers never see a file that HDF5 is writing: they open the last complete
 *    snapshot, whose root attribute status says RUNNING while a sweep runs.
 *
 * Memory: one float64 per (cell, array), one status int32 and one message pointer per
 * (cell, estimator), 13 bytes per cell: 6,000 cells x 10 arrays is half a megabyte,
 * a million cells x 50 arrays 400 MB (prefsim run refuses grids above its cell ceiling
 * unless asked). */
#include "h5store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "h5state.h"
#include "h5util.h"
#include "journal.h"
#include "seal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the journal's records are stored in native (little-endian) order"
#endif

#define SNAPSHOT_SECONDS 30.0 /* default; PREFSIM_SNAPSHOT_SECONDS overrides */
#define MESSAGE_MAX 4000      /* bytes of a failure message kept per (cell, estimator) */

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

/* An axis's scale lives at the root and is linked into every group of arrays, so its
 * name must differ from the root's groups, /cells's arrays, the estimators (/status,
 * /messages) and every metric, truth and theory quantity. */
static int check_axis_names(const char *path, const h5store_layout *L, ps_msg *m) {
  for (size_t i = 0; i < L->n_axes; i++) {
    const char *a = L->axes[i].name, *clash = NULL, *with = NULL;
    for (size_t j = 0; !clash && H5U_ROOT_GROUPS[j]; j++)
      if (!strcmp(a, H5U_ROOT_GROUPS[j])) clash = "a group of the file", with = a;
    for (size_t j = 0; !clash && H5U_CELL_ARRAYS[j]; j++)
      if (!strcmp(a, H5U_CELL_ARRAYS[j])) clash = "an array of /cells", with = a;
    for (size_t e = 0; !clash && e < L->n_estimators; e++) {
      if (!strcmp(a, L->estimators[e].label)) clash = "an estimator", with = a;
      for (size_t j = 0; !clash && j < L->estimators[e].n_metrics; j++)
        if (!strcmp(a, L->estimators[e].metrics[j].name)) clash = "a metric of estimator", with = L->estimators[e].label;
    }
    for (size_t j = 0; !clash && j < L->n_truth; j++)
      if (!strcmp(a, L->truth[j].name)) clash = "a truth quantity", with = a;
    for (size_t j = 0; !clash && j < L->n_theory; j++)
      if (!strcmp(a, L->theory[j].name)) clash = "a theory quantity", with = a;
    if (clash)
      return ps_fail(m, PS_EINVAL, "%s: sweep axis '%s' has the name of %s (%s): the axes are netCDF "
                     "dimensions shared by every group of the file, so their names must differ from the "
                     "groups (metrics, status, messages, truth, theory, cells, verdicts), /cells's arrays (status, "
                     "iterations, wall_seconds), the estimator labels and the stored quantities; rename the one "
                     "that is not the axis", path, a, clash, with);
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
  if ((rc = check_axis_names(path, L, m))) return rc;
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
  char *path;   /* the results file (a symlink resolved to its target) */
  char *tmp;    /* PATH.tmp: where snapshots are written */
  h5state st;
  journal *j;
  unsigned char *rec; /* one encoded journal record */
  size_t rec_max;
  double last_snap, snap_cost, snap_every;
};

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void verdicts_free(h5state *st) {
  for (size_t i = 0; i < st->n_verdicts; i++) {
    h5store_verdict *v = &st->verdicts[i];
    free((char *)v->claim), free((char *)v->slice), free((char *)v->expect), free((char *)v->verdict),
        free((char *)v->note);
  }
  free(st->verdicts);
  st->verdicts = NULL;
  st->n_verdicts = 0;
}

static void state_free(h5state *st) {
  verdicts_free(st);
  if (st->msg)
    for (size_t i = 0; i < st->L->n_estimators * st->n_cells; i++) free(st->msg[i]);
  for (size_t i = 0; i < st->n_extra; i++) {
    free(st->extra_key[i]);
    free(st->extra_val[i]);
  }
  free(st->extra_key);
  free(st->extra_val);
  free(st->q0);
  free(st->val);
  free(st->fit_status);
  free(st->msg);
  free(st->cell_status);
  free(st->iterations);
  free(st->wall);
  memset(st, 0, sizeof *st);
}

static void store_free(h5store *s) {
  if (!s) return;
  if (s->st.L) state_free(&s->st);
  /* a journal this store opened and never wrote to is not left behind */
  if (s->j && journal_is_empty(s->j))
    journal_remove(s->j, NULL);
  else
    journal_close(s->j);
  free(s->path);
  free(s->tmp);
  free(s->rec);
  free(s);
}

/* An empty state (every cell PENDING, NaN, status -1) of layout L (already checked). */
static int state_init(h5state *st, const h5store_layout *L, const char *path, ps_msg *m) {
  memset(st, 0, sizeof *st);
  st->L = L;
  st->rank = (int)L->n_axes + 1;
  st->n_cells = L->n_replicates;
  for (size_t i = 0; i < L->n_axes; i++) {
    st->dims[i] = L->axes[i].n;
    st->n_cells *= L->axes[i].n;
  }
  st->dims[L->n_axes] = L->n_replicates;
  size_t ne = L->n_estimators, nc = st->n_cells;
  if (!(st->q0 = malloc((ne + 1) * sizeof *st->q0))) goto oom;
  for (size_t e = 0; e < ne; e++) {
    st->q0[e] = st->n_q;
    st->n_q += L->estimators[e].n_metrics;
  }
  st->q0[ne] = st->n_q;
  st->n_q += L->n_truth + L->n_theory;
  if (st->n_q && nc > SIZE_MAX / sizeof(double) / st->n_q) goto oom;
  size_t nv = st->n_q * nc, ns = ne * nc;
  st->val = malloc((nv > 0 ? nv : 1) * sizeof *st->val);
  st->fit_status = malloc((ns > 0 ? ns : 1) * sizeof *st->fit_status);
  st->msg = calloc(ns > 0 ? ns : 1, sizeof *st->msg);
  st->cell_status = calloc(nc ? nc : 1, 1);
  st->iterations = calloc(nc ? nc : 1, sizeof *st->iterations);
  st->wall = malloc((nc ? nc : 1) * sizeof *st->wall);
  if (!st->val || !st->fit_status || !st->msg || !st->cell_status || !st->iterations || !st->wall) goto oom;
  for (size_t i = 0; i < st->n_q * nc; i++) st->val[i] = NAN;
  for (size_t i = 0; i < ne * nc; i++) st->fit_status[i] = -1;
  for (size_t i = 0; i < nc; i++) st->wall[i] = NAN;
  h5u_utc_now(st->created_utc, sizeof st->created_utc);
  snprintf(st->status, sizeof st->status, "RUNNING");
  return PS_OK;
oom:
  state_free(st);
  return ps_fail(m, PS_ENOMEM,
                 "%s: no memory to hold %zu cells x %zu arrays (%.3g GB): run fewer cells per process "
                 "(run --shard K/N)",
                 path, nc, st->n_q, (double)nc * (double)(st->n_q + 2) * 8 / 1e9);
}

/* The results file path with symlinks resolved (snapshots replace the target, not the
 * link); its directory must exist. */
static char *resolve(const char *path, ps_msg *m) {
  char *r = realpath(path, NULL);
  if (r) return r;
  if (errno != ENOENT) {
    ps_fail(m, PS_EIO, "%s: %s", path, strerror(errno));
    return NULL;
  }
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
  const char *base = slash ? slash + 1 : path;
  char *rd = dir ? realpath(dir, NULL) : NULL;
  if (!rd || !*base) {
    ps_fail(m, PS_EIO, "%s: %s", path, !*base ? "names a directory, not a file" : "its directory does not exist");
    free(dir);
    free(rd);
    return NULL;
  }
  size_t n = strlen(rd) + strlen(base) + 2;
  char *out = malloc(n);
  if (out) snprintf(out, n, "%s/%s", strcmp(rd, "/") ? rd : "", base);
  free(dir);
  free(rd);
  return out;
}

/* FNV-1a over everything that identifies the data: a journal of another layout or
 * config is never replayed into this one */
static void fnv(uint64_t *h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) *h = (*h ^ b[i]) * 1099511628211ull;
}
static void fnv_str(uint64_t *h, const char *s) { fnv(h, s ? s : "", strlen(s ? s : "") + 1); }

static uint64_t fingerprint(const h5store_layout *L) {
  uint64_t h = 1469598103934665603ull;
  fnv_str(&h, H5STORE_SCHEMA);
  fnv_str(&h, layout_config(L));
  fnv(&h, &L->n_replicates, sizeof L->n_replicates);
  fnv(&h, &L->master_seed, sizeof L->master_seed);
  for (size_t a = 0; a < L->n_axes; a++) {
    fnv_str(&h, L->axes[a].name);
    fnv(&h, &L->axes[a].n, sizeof L->axes[a].n);
    for (size_t i = 0; i < L->axes[a].n; i++) {
      if (L->axes[a].values)
        fnv(&h, &L->axes[a].values[i], sizeof(double));
      else
        fnv_str(&h, L->axes[a].labels[i]);
    }
  }
  for (size_t e = 0; e < L->n_estimators; e++) {
    fnv_str(&h, L->estimators[e].label);
    for (size_t j = 0; j < L->estimators[e].n_metrics; j++) fnv_str(&h, L->estimators[e].metrics[j].name);
  }
  fnv_str(&h, "truth");
  for (size_t j = 0; j < L->n_truth; j++) fnv_str(&h, L->truth[j].name);
  fnv_str(&h, "theory");
  for (size_t j = 0; j < L->n_theory; j++) fnv_str(&h, L->theory[j].name);
  return h;
}

static h5store *store_new(const char *path, const h5store_layout *L, ps_msg *m, int *rc) {
  h5store *s = calloc(1, sizeof *s);
  if (!s) {
    *rc = ps_fail(m, PS_ENOMEM, "%s: no memory for the store", path);
    return NULL;
  }
  if (!(s->path = resolve(path, m))) {
    *rc = PS_EIO;
    store_free(s);
    return NULL;
  }
  size_t n = strlen(s->path) + 5;
  if (!(s->tmp = malloc(n))) goto oom;
  snprintf(s->tmp, n, "%s.tmp", s->path);
  s->rec_max = 24;
  for (size_t e = 0; e < L->n_estimators; e++) s->rec_max += 8 + MESSAGE_MAX + 8 * L->estimators[e].n_metrics;
  s->rec_max += 8 * (L->n_truth + L->n_theory);
  if (!(s->rec = malloc(s->rec_max))) goto oom;
  const char *ev = getenv("PREFSIM_SNAPSHOT_SECONDS");
  char *end = NULL;
  double every = ev ? strtod(ev, &end) : NAN;
  s->snap_every = ev && end != ev && !*end && every >= 0 ? every : SNAPSHOT_SECONDS;
  return s;
oom:
  *rc = ps_fail(m, PS_ENOMEM, "%s: no memory for the store", path);
  store_free(s);
  return NULL;
}

static int fsync_dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
  if (!dir) return -1;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(dir);
  if (fd < 0) return -1;
  int r = fsync(fd);
  close(fd);
  return r;
}

/* Write the whole state to PATH.tmp, seal, sync, rename over PATH, sync the
 * directory, then empty the journal. */
static int snapshot(h5store *s, ps_msg *m) {
  double t0 = mono();
  int rc = h5snap_write(&s->st, s->tmp, m);
  if (rc) return rc;
  if (rename(s->tmp, s->path) != 0) {
    rc = ps_fail(m, PS_EIO, "%s: cannot replace it with %s: %s", s->path, s->tmp, strerror(errno));
    unlink(s->tmp);
    return rc;
  }
  if (fsync_dir_of(s->path) != 0)
    return ps_fail(m, PS_EIO, "%s: cannot sync its directory: %s", s->path, strerror(errno));
  if ((rc = journal_reset(s->j, m))) return rc;
  s->last_snap = mono();
  s->snap_cost = s->last_snap - t0;
  return PS_OK;
}

/* ---- journal records: u64 cell, i32 cell status, i32 iterations, f64 wall; per
 * estimator i32 status, u32 message length, the message; f64 x n_q values */

static size_t encode(const h5store *s, const h5store_cell *c, size_t *msg_len) {
  const h5store_layout *L = s->st.L;
  unsigned char *p = s->rec;
  uint64_t id = c->cell_id;
  int32_t cs = c->cell_status;
  memcpy(p, &id, 8);
  memcpy(p + 8, &cs, 4);
  memcpy(p + 12, &c->iterations, 4);
  memcpy(p + 16, &c->wall_seconds, 8);
  p += 24;
  for (size_t e = 0; e < L->n_estimators; e++) {
    int32_t fs = c->status[e];
    uint32_t len = (uint32_t)msg_len[e];
    memcpy(p, &fs, 4);
    memcpy(p + 4, &len, 4);
    memcpy(p + 8, c->message && c->message[e] ? c->message[e] : "", len);
    p += 8 + len;
  }
  const double nan = NAN;
  for (size_t e = 0; e < L->n_estimators; e++)
    for (size_t j = 0; j < L->estimators[e].n_metrics; j++, p += 8)
      memcpy(p, c->metrics && c->metrics[e] ? &c->metrics[e][j] : &nan, 8);
  for (size_t j = 0; j < L->n_truth; j++, p += 8) memcpy(p, c->truth ? &c->truth[j] : &nan, 8);
  for (size_t j = 0; j < L->n_theory; j++, p += 8) memcpy(p, c->theory ? &c->theory[j] : &nan, 8);
  return (size_t)(p - s->rec);
}

/* Put one finished cell into the state (messages truncated to msg_len[e] bytes). */
static int apply(h5state *st, uint64_t cell, int cell_status, int32_t iterations, double wall, const int32_t *status,
                 const char *const *message, const size_t *msg_len, const double *values) {
  size_t nc = st->n_cells, ne = st->L->n_estimators;
  for (size_t e = 0; e < ne; e++) {
    char **slot = &st->msg[e * nc + cell];
    free(*slot);
    *slot = NULL;
    if (msg_len[e] && !(*slot = strndup(message[e], msg_len[e]))) return PS_ENOMEM;
    st->fit_status[e * nc + cell] = status[e];
  }
  for (size_t q = 0; q < st->n_q; q++) memcpy(&st->val[q * nc + cell], values + q, sizeof(double));
  st->cell_status[cell] = (int8_t)cell_status;
  st->iterations[cell] = iterations;
  st->wall[cell] = wall;
  return PS_OK;
}

static int replay_record(void *ctx, const unsigned char *p, size_t len) {
  h5store *s = ctx;
  h5state *st = &s->st;
  size_t ne = st->L->n_estimators;
  int32_t status[ne ? ne : 1];
  const char *message[ne ? ne : 1];
  size_t msg_len[ne ? ne : 1];
  uint64_t cell;
  int32_t cs, iterations;
  double wall;
  if (len < 24) return PS_EFORMAT;
  memcpy(&cell, p, 8);
  memcpy(&cs, p + 8, 4);
  memcpy(&iterations, p + 12, 4);
  memcpy(&wall, p + 16, 8);
  size_t off = 24;
  for (size_t e = 0; e < ne; e++) {
    uint32_t ml;
    if (off + 8 > len) return PS_EFORMAT;
    memcpy(&status[e], p + off, 4);
    memcpy(&ml, p + off + 4, 4);
    off += 8;
    if (ml > MESSAGE_MAX || off + ml > len) return PS_EFORMAT;
    message[e] = (const char *)p + off;
    msg_len[e] = ml;
    off += ml;
  }
  if (cell >= st->n_cells || (cs != H5STORE_CELL_DONE && cs != H5STORE_CELL_FAILED) || len - off != 8 * st->n_q)
    return PS_EFORMAT;
  double values[st->n_q ? st->n_q : 1];
  memcpy(values, p + off, 8 * st->n_q);
  return apply(st, cell, cs, iterations, wall, status, message, msg_len, values);
}

/* Open the journal afresh (locking out other writers; an old journal's cells are
 * discarded). */
static int attach_fresh_journal(h5store *s, ps_msg *m) {
  char jp[PATH_LEN + 16];
  if (journal_path(s->path, jp, sizeof jp) != 0) return ps_fail(m, PS_EINVAL, "%s: path too long", s->path);
  return journal_open(jp, fingerprint(s->st.L), 1, &s->j, m);
}

int h5store_create(const char *path, const h5store_layout *layout, h5store **out, ps_msg *m) {
  int rc;
  h5u_h5_quiet();
  if (out) *out = NULL;
  if (!out) return ps_fail(m, PS_EINVAL, "h5store_create: out is NULL");
  if ((rc = check_layout(path, layout, m))) return rc;
  h5store *s = store_new(path, layout, m, &rc);
  if (!s) return rc;
  /* the lock first: an existing file is replaced only by this process's first snapshot,
   * and only when no other process writes it */
  if ((rc = state_init(&s->st, layout, path, m)) || (rc = attach_fresh_journal(s, m)) || (rc = snapshot(s, m))) {
    store_free(s);
    return rc;
  }
  *out = s;
  return PS_OK;
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
  snprintf(dpath, sizeof dpath, "/%s", a->name);
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

/* The names under group gpath but the links to the axes (skip) must be exactly
 * names[0..n-1] (in any order). */
static int check_names(hid_t file, const char *path, const char *gpath, const char *what,
                       size_t n, const char *const *names, const name_list *skip, ps_msg *m) {
  name_list l;
  char list[256];
  int rc = PS_OK;
  if (h5u_group_names(file, gpath, &l) < 0) return h5u_io_fail(m, path, "cannot list a group");
  if (skip) h5u_name_list_drop(&l, skip);
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
                                const name_list *skip, ps_msg *m) {
  const char **names = malloc((n ? n : 1) * sizeof *names);
  if (!names) return ps_fail(m, PS_ENOMEM, "%s: no memory", path);
  for (size_t i = 0; i < n; i++) names[i] = q[i].name;
  int rc = check_names(file, path, gpath, what, n, names, skip, m);
  free(names);
  return rc;
}

/* Everything h5store_open_resume promises to compare. */
static int check_file_matches(hid_t file, const char *path, const h5store_layout *L,
                              ps_msg *m) {
  char *text = h5u_attr_get_string(file, "schema");
  int rc = PS_OK;
  if (text && strcmp(text, H5STORE_SCHEMA_V1) == 0) {
    rc = ps_fail(m, PS_EINVAL, "%s was written by an older prefsim (schema \"%s\"; this one writes \"%s\", "
                 "which xarray and netCDF read) and cannot be resumed: rerun with --force to recompute it, or "
                 "write to another file with -o (info, verify, plot, merge and export still read it)", path,
                 text, H5STORE_SCHEMA);
    free(text);
    return rc;
  }
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
  if (h5u_axis_names(file, &axes) < 0) return h5u_io_fail(m, path, "cannot list the axes");
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
    rc = ps_fail(m, PS_EINVAL, "%s: /replicate is missing", path);
  for (size_t i = 0; i < L->n_axes && !rc; i++) rc = check_axis(file, path, &L->axes[i], m);
  if (rc) {
    h5u_name_list_free(&axes);
    return rc;
  }

  hid_t ds = H5Dopen2(file, "/replicate", H5P_DEFAULT), space = H5I_INVALID_HID;
  hssize_t n_rep = ds < 0 || (space = H5Dget_space(ds)) < 0
                       ? -1
                       : H5Sget_simple_extent_npoints(space);
  h5u_close_space(&space);
  h5u_close_dataset(&ds);
  if (n_rep < 0 || (size_t)n_rep != L->n_replicates) {
    h5u_name_list_free(&axes);
    if (n_rep < 0) return h5u_io_fail(m, path, "cannot read /replicate");
    return ps_fail(m, PS_EINVAL, "%s: the file has %lld replicates, the layout %zu", path,
                   (long long)n_rep, L->n_replicates);
  }

  /* Estimators and their metrics, truth, theory. */
  const char **labels = malloc((L->n_estimators ? L->n_estimators : 1) * sizeof *labels);
  if (!labels) {
    h5u_name_list_free(&axes);
    return ps_fail(m, PS_ENOMEM, "%s: no memory", path);
  }
  for (size_t e = 0; e < L->n_estimators; e++) labels[e] = L->estimators[e].label;
  rc = check_names(file, path, "metrics", "estimator", L->n_estimators, labels, NULL, m);
  free(labels);
  for (size_t e = 0; e < L->n_estimators && !rc; e++) {
    char gpath[PATH_LEN], what[NAME_MAX_LEN + 32];
    snprintf(gpath, sizeof gpath, "metrics/%s", L->estimators[e].label);
    snprintf(what, sizeof what, "metric of estimator '%s'", L->estimators[e].label);
    rc = check_quantity_names(file, path, gpath, what, L->estimators[e].n_metrics,
                              L->estimators[e].metrics, &axes, m);
  }
  if (!rc) rc = check_quantity_names(file, path, "truth", "truth quantity", L->n_truth,
                                     L->truth, &axes, m);
  if (!rc) rc = check_quantity_names(file, path, "theory", "theory quantity", L->n_theory,
                                     L->theory, &axes, m);
  h5u_name_list_free(&axes);
  if (rc) return rc;

  const char *key = identity_key(L);
  text = h5u_attr_get_string(file, key);
  if (!text || strcmp(text, layout_config(L)) != 0)
    rc = ps_fail(m, PS_EINVAL, "%s: root attribute \"%s\" %s the resolved configuration "
                 "of this run", path, key, text ? "differs from" : "is missing, unlike");
  free(text);
  return rc;
}

/* Read one [axes..., replicate] array of the file into buf (n_cells elements of mtype),
 * checking its extent first. */
static int read_array(hid_t file, const char *path, const h5state *st, const char *dpath, hid_t mtype, void *buf,
                      ps_msg *m) {
  hid_t ds = H5Dopen2(file, dpath, H5P_DEFAULT), space = H5I_INVALID_HID;
  hsize_t dims[H5S_MAX_RANK];
  int rc = PS_OK;
  char what[PATH_LEN + 64];
  snprintf(what, sizeof what, "cannot read %s", dpath);
  if (ds < 0 || (space = H5Dget_space(ds)) < 0) {
    rc = h5u_io_fail(m, path, what);
  } else {
    int rank = H5Sget_simple_extent_ndims(space), same = rank == st->rank;
    if (same && H5Sget_simple_extent_dims(space, dims, NULL) < 0) same = 0;
    for (int d = 0; same && d < rank; d++) same = dims[d] == st->dims[d];
    if (!same)
      rc = ps_fail(m, PS_EFORMAT, "%s: %s does not have the shape of the layout", path, dpath);
    else if (st->n_cells && H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
      rc = h5u_io_fail(m, path, what);
  }
  h5u_close_space(&space);
  h5u_close_dataset(&ds);
  H5Eclear2(H5E_DEFAULT);
  return rc;
}

/* Load an existing results file of this layout into the (empty) state. */
static int load_file(h5store *s, ps_msg *m) {
  h5state *st = &s->st;
  const h5store_layout *L = st->L;
  const char *path = s->path;
  size_t nc = st->n_cells;
  int sealed = 0, rc = seal_check(path, &sealed, m);
  if (rc) return rc;
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), str = H5I_INVALID_HID;
  char dpath[PATH_LEN];
  char **texts = NULL;
  if (file < 0) return h5u_io_fail(m, path, "cannot open results file to resume");
  if ((rc = check_file_matches(file, path, L, m))) goto done;
  for (size_t e = 0; e < L->n_estimators && !rc; e++) {
    const h5store_estimator *est = &L->estimators[e];
    for (size_t j = 0; j < est->n_metrics && !rc; j++) {
      snprintf(dpath, sizeof dpath, "/metrics/%s/%s", est->label, est->metrics[j].name);
      rc = read_array(file, path, st, dpath, H5T_NATIVE_DOUBLE, st->val + (st->q0[e] + j) * nc, m);
    }
    snprintf(dpath, sizeof dpath, "/status/%s", est->label);
    if (!rc) rc = read_array(file, path, st, dpath, H5T_NATIVE_INT32, st->fit_status + e * nc, m);
  }
  for (size_t j = 0; j < L->n_truth + L->n_theory && !rc; j++) {
    int th = j >= L->n_truth;
    snprintf(dpath, sizeof dpath, "/%s/%s", th ? "theory" : "truth",
             th ? L->theory[j - L->n_truth].name : L->truth[j].name);
    rc = read_array(file, path, st, dpath, H5T_NATIVE_DOUBLE, st->val + (st->q0[L->n_estimators] + j) * nc, m);
  }
  if (rc) goto done;
  if (!(texts = calloc(nc ? nc : 1, sizeof *texts)) || (str = h5u_vstring_type(H5T_CSET_UTF8)) < 0) {
    rc = ps_fail(m, PS_ENOMEM, "%s: no memory to load the messages", path);
    goto done;
  }
  for (size_t e = 0; e < L->n_estimators && !rc; e++) {
    snprintf(dpath, sizeof dpath, "/messages/%s", L->estimators[e].label);
    if ((rc = read_array(file, path, st, dpath, str, texts, m))) break;
    for (size_t c = 0; c < nc && !rc; c++)
      if (texts[c] && texts[c][0] && !(st->msg[e * nc + c] = strndup(texts[c], MESSAGE_MAX)))
        rc = ps_fail(m, PS_ENOMEM, "%s: no memory for the messages", path);
    hsize_t n = nc;
    hid_t space = H5Screate_simple(1, &n, NULL);
    if (space >= 0) {
      vlen_reclaim(str, space, texts);
      H5Sclose(space);
    }
    memset(texts, 0, nc * sizeof *texts);
  }
  if (rc) goto done;
  /* /cells: status, iterations, wall seconds */
  if ((rc = read_array(file, path, st, "/cells/status", H5T_NATIVE_INT8, st->cell_status, m)) ||
      (rc = read_array(file, path, st, "/cells/iterations", H5T_NATIVE_INT32, st->iterations, m)) ||
      (rc = read_array(file, path, st, "/cells/wall_seconds", H5T_NATIVE_DOUBLE, st->wall, m)))
    goto done;
  for (size_t c = 0; c < nc; c++) {
    int8_t cs = st->cell_status[c];
    if (cs != H5STORE_CELL_PENDING && cs != H5STORE_CELL_DONE && cs != H5STORE_CELL_FAILED) {
      rc = ps_fail(m, PS_EFORMAT, "%s: /cells/status of cell %zu is %d", path, c, cs);
      goto done;
    }
  }
  char *created = h5u_attr_get_string(file, "created_utc");
  if (created) snprintf(st->created_utc, sizeof st->created_utc, "%s", created);
  free(created);
done:
  free(texts);
  h5u_close_type(&str);
  H5Fclose(file);
  H5Eclear2(H5E_DEFAULT);
  return rc;
}

int h5store_open_resume(const char *path, const h5store_layout *layout, h5store **out, unsigned char **done,
                        ps_msg *m) {
  int rc;
  h5u_h5_quiet();
  if (out) *out = NULL;
  if (done) *done = NULL;
  if (!out) return ps_fail(m, PS_EINVAL, "h5store_open_resume: out is NULL");
  if ((rc = check_layout(path, layout, m))) return rc;
  h5store *s = store_new(path, layout, m, &rc);
  if (!s) return rc;
  if ((rc = state_init(&s->st, layout, path, m))) goto fail;
  /* lock first, then read: nothing can change the file or the journal under us */
  char jp[PATH_LEN + 16];
  if (journal_path(s->path, jp, sizeof jp) != 0) {
    rc = ps_fail(m, PS_EINVAL, "%s: path too long", s->path);
    goto fail;
  }
  if ((rc = journal_open(jp, fingerprint(layout), 0, &s->j, m))) goto fail;
  struct stat sb;
  if (stat(s->path, &sb) == 0 && (rc = load_file(s, m))) goto fail;
  size_t torn = 0;
  rc = journal_replay(s->j, s->rec_max, replay_record, s, NULL, &torn, m);
  if (rc == PS_EFORMAT) rc = ps_fail(m, PS_EFORMAT, "%s: a record passes its checksum but does not fit", jp);
  if (rc) goto fail;
  snprintf(s->st.status, sizeof s->st.status, "RUNNING");
  s->st.finished_utc[0] = 0;
  if ((rc = snapshot(s, m))) goto fail;
  if (done) {
    if (!(*done = malloc(s->st.n_cells ? s->st.n_cells : 1))) {
      rc = ps_fail(m, PS_ENOMEM, "%s: no memory for the done mask", path);
      goto fail;
    }
    for (size_t c = 0; c < s->st.n_cells; c++) (*done)[c] = s->st.cell_status[c] == H5STORE_CELL_DONE;
  }
  *out = s;
  return PS_OK;
fail:
  store_free(s);
  return rc;
}

int h5store_writer(const char *path, long *pid, size_t *journal_cells) {
  char *r = realpath(path, NULL);
  int held = journal_holder(r ? r : path, pid, journal_cells);
  free(r);
  return held;
}

const int8_t *h5store_cell_states(const h5store *s) { return s ? s->st.cell_status : NULL; }

/* ----------------------------------------------------------------- writing cells */

/* NULL value arrays (metrics, metrics[e], truth, theory) are stored as NaN and NULL
 * messages as "", so a cell rerun after a resume overwrites every element it owns;
 * status must be given whenever there are estimators. */
int h5store_put_cell(h5store *s, const h5store_cell *c, ps_msg *m) {
  if (!s || !c) return ps_fail(m, PS_EINVAL, "h5store_put_cell: store or cell is NULL");
  h5state *st = &s->st;
  const h5store_layout *L = st->L;
  if (c->cell_id >= st->n_cells)
    return ps_fail(m, PS_EINVAL, "%s: cell id %llu out of range (%zu cells)", s->path, (unsigned long long)c->cell_id,
                   st->n_cells);
  if (c->cell_status != H5STORE_CELL_DONE && c->cell_status != H5STORE_CELL_FAILED)
    return ps_fail(m, PS_EINVAL, "%s: cell %llu: status %d is neither DONE nor FAILED", s->path,
                   (unsigned long long)c->cell_id, c->cell_status);
  if (L->n_estimators && !c->status)
    return ps_fail(m, PS_EINVAL, "%s: cell %llu: no estimator statuses", s->path, (unsigned long long)c->cell_id);
  size_t ne = L->n_estimators, msg_len[ne ? ne : 1];
  for (size_t e = 0; e < ne; e++) {
    const char *t = c->message && c->message[e] ? c->message[e] : "";
    msg_len[e] = strnlen(t, MESSAGE_MAX);
  }
  /* the journal first: a cell is in the state only once it is durable */
  size_t len = encode(s, c, msg_len);
  int rc = journal_append(s->j, s->rec, len, m);
  if (rc) return rc;
  const char *message[ne ? ne : 1];
  int32_t status[ne ? ne : 1];
  for (size_t e = 0; e < ne; e++) {
    message[e] = c->message && c->message[e] ? c->message[e] : "";
    status[e] = c->status[e];
  }
  double values[st->n_q ? st->n_q : 1];
  memcpy(values, s->rec + (len - 8 * st->n_q), 8 * st->n_q);
  if (apply(st, c->cell_id, c->cell_status, c->iterations, c->wall_seconds, status, message, msg_len, values))
    return ps_fail(m, PS_ENOMEM, "out of memory");
  double now = mono(), every = fmax(s->snap_every, 20 * s->snap_cost);
  if (now - s->last_snap >= every) return snapshot(s, m);
  return PS_OK;
}

int h5store_set_verdicts(h5store *s, const h5store_verdict *v, size_t n, ps_msg *m) {
  if (!s) return ps_fail(m, PS_EINVAL, "h5store_set_verdicts: store is NULL");
  verdicts_free(&s->st);
  if (!n) return PS_OK;
  h5store_verdict *c = calloc(n, sizeof *c);
  if (!c) return ps_fail(m, PS_ENOMEM, "out of memory");
  s->st.verdicts = c;
  for (size_t i = 0; i < n; i++) {
    c[i] = v[i];
    c[i].claim = strdup(v[i].claim ? v[i].claim : "");
    c[i].slice = strdup(v[i].slice ? v[i].slice : "");
    c[i].expect = strdup(v[i].expect ? v[i].expect : "");
    c[i].verdict = strdup(v[i].verdict ? v[i].verdict : "");
    c[i].note = strdup(v[i].note ? v[i].note : "");
    s->st.n_verdicts = i + 1;
    if (!c[i].claim || !c[i].slice || !c[i].expect || !c[i].verdict || !c[i].note)
      return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  return PS_OK;
}

int h5store_array(const h5store *s, const char *path, double **out, ps_msg *m) {
  const h5state *st = &s->st;
  const h5store_layout *L = st->L;
  *out = NULL;
  size_t q = SIZE_MAX;
  for (size_t e = 0; e < L->n_estimators && q == SIZE_MAX; e++) {
    size_t k = strlen(L->estimators[e].label);
    if (strncmp(path, "metrics/", 8) || strncmp(path + 8, L->estimators[e].label, k) || path[8 + k] != '/') continue;
    for (size_t j = 0; j < L->estimators[e].n_metrics; j++)
      if (!strcmp(path + 9 + k, L->estimators[e].metrics[j].name)) q = st->q0[e] + j;
  }
  for (size_t j = 0; j < L->n_truth && q == SIZE_MAX; j++)
    if (!strncmp(path, "truth/", 6) && !strcmp(path + 6, L->truth[j].name)) q = st->q0[L->n_estimators] + j;
  for (size_t j = 0; j < L->n_theory && q == SIZE_MAX; j++)
    if (!strncmp(path, "theory/", 7) && !strcmp(path + 7, L->theory[j].name))
      q = st->q0[L->n_estimators] + L->n_truth + j;
  if (q == SIZE_MAX) return ps_fail(m, PS_EINVAL, "%s: no array %s", s->path, path);
  if (!(*out = malloc((st->n_cells ? st->n_cells : 1) * sizeof(double)))) return ps_fail(m, PS_ENOMEM, "out of memory");
  memcpy(*out, st->val + q * st->n_cells, st->n_cells * sizeof(double));
  return PS_OK;
}

int h5store_sync(h5store *s, ps_msg *m) { return s ? journal_sync(s->j, m) : PS_OK; }

int h5store_set_attr(h5store *s, const char *key, const char *value, ps_msg *m) {
  if (!s || !key || !value) return ps_fail(m, PS_EINVAL, "h5store_set_attr: NULL argument");
  for (size_t j = 0; H5U_RESERVED_ATTRS[j]; j++)
    if (strcmp(key, H5U_RESERVED_ATTRS[j]) == 0)
      return ps_fail(m, PS_EINVAL, "%s: root attribute '%s' is set by the store itself", s->path, key);
  h5state *st = &s->st;
  char *v = strdup(value);
  if (!v) return ps_fail(m, PS_ENOMEM, "out of memory");
  for (size_t i = 0; i < st->n_extra; i++)
    if (!strcmp(st->extra_key[i], key)) {
      free(st->extra_val[i]);
      st->extra_val[i] = v;
      return PS_OK;
    }
  char **k2 = realloc(st->extra_key, (st->n_extra + 1) * sizeof *k2);
  if (k2) st->extra_key = k2;
  char **v2 = k2 ? realloc(st->extra_val, (st->n_extra + 1) * sizeof *v2) : NULL;
  if (v2) st->extra_val = v2;
  char *kd = v2 ? strdup(key) : NULL;
  if (!kd) {
    free(v);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  st->extra_key[st->n_extra] = kd;
  st->extra_val[st->n_extra++] = v;
  return PS_OK;
}

int h5store_set_status(h5store *s, const char *status, ps_msg *m) {
  static const char *const allowed[] = {"RUNNING", "COMPLETED", "INTERRUPTED", "FAILED", NULL};
  int ok = 0;
  if (!s) return ps_fail(m, PS_EINVAL, "h5store_set_status: store is NULL");
  for (size_t i = 0; status && allowed[i]; i++) ok |= strcmp(status, allowed[i]) == 0;
  if (!ok)
    return ps_fail(m, PS_EINVAL, "%s: status \"%s\" is not one of RUNNING, COMPLETED, INTERRUPTED, FAILED", s->path,
                   status ? status : "(null)");
  snprintf(s->st.status, sizeof s->st.status, "%s", status);
  if (strcmp(status, "RUNNING") != 0)
    h5u_utc_now(s->st.finished_utc, sizeof s->st.finished_utc);
  else
    s->st.finished_utc[0] = 0;
  return PS_OK;
}

int h5store_close(h5store *s, ps_msg *m) {
  if (!s) return PS_OK;
  ps_msg local;
  int rc = journal_sync(s->j, m ? m : &local);
  if (rc == PS_OK) rc = snapshot(s, m ? m : &local);
  if (rc == PS_OK) {
    /* the file holds every cell: the journal goes (unlinked while still locked) */
    rc = journal_remove(s->j, m ? m : &local);
    s->j = NULL;
  }
  /* on failure the journal stays: the next open replays it */
  store_free(s);
  return rc;
}
