/* run.c — the sweep driver (see run.h).
 *
 * Cells are independent (each draws from its own counter-based streams), so the
 * order in which threads pick them up cannot change any value: results are
 * bit-identical for any thread count.  Writes go through one critical section;
 * each written cell is flushed, so an interruption loses at most running cells. */
#include "run.h"

#include <dlfcn.h>
#include <gsl/gsl_cblas.h>
#include <gsl/gsl_version.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef PS_MPI
#include <mpi.h>
#endif

#include "../core/rng.h"
#include "cell.h"
#include "claims.h"

#ifndef PS_VERSION
#define PS_VERSION "0.0.0"
#endif
#ifndef PS_GIT_REV
#define PS_GIT_REV "unknown"
#endif

#ifndef PS_CFLAGS
#define PS_CFLAGS "unknown"
#endif

const char *run_version(void) { return PS_VERSION; }
const char *run_git_rev(void) { return PS_GIT_REV; }

/* Provenance of the binary, for the results file's root attributes.  The dirty flag is
 * the working tree's at build time (tracked files differing from HEAD). */
static const char *git_dirty(void) {
  size_t n = strlen(PS_GIT_REV);
  if (!strcmp(PS_GIT_REV, "unknown")) return "unknown";
  return n > 6 && !strcmp(PS_GIT_REV + n - 6, "-dirty") ? "true" : "false";
}

static void compiler_text(char *buf, size_t n) {
#if defined(__clang__)
  snprintf(buf, n, "clang %s", __clang_version__);
#elif defined(__GNUC__)
  snprintf(buf, n, "gcc %s", __VERSION__);
#else
  snprintf(buf, n, "unknown C compiler");
#endif
}

/* Which BLAS answers GSL's CBLAS calls, found at run time: the shared object that
 * defines cblas_dgemm (dladdr), and OpenBLAS's own build string when it is OpenBLAS. */
char *openblas_get_config(void) __attribute__((weak));
static void blas_text(char *buf, size_t n) {
  Dl_info info;
  const char *lib = dladdr((void *)(size_t)&cblas_dgemm, &info) && info.dli_fname ? info.dli_fname : "unknown library";
  const char *conf = openblas_get_config ? openblas_get_config() : NULL;
  if (conf && strstr(lib, "openblas"))
    snprintf(buf, n, "%s (%s)", conf, lib);
  else if (strstr(lib, "gslcblas"))
    snprintf(buf, n, "GSL reference CBLAS (%s)", lib);
  else
    snprintf(buf, n, "%s", lib);
}

/* Axis units: prefsim's parameters are counts or dimensionless numbers, except the
 * angles their description gives in degrees. */
static const char *axis_units(const exp_axis *a) {
  if (!a->numeric) return NULL;
  return a->doc && strstr(a->doc, "degrees") ? "degree" : "1";
}

/* OpenBLAS (behind GSL's CBLAS calls) runs single-threaded inside sweeps: cells are
 * already parallel, and one thread per call keeps BLAS results independent of the
 * thread count. */
void openblas_set_num_threads(int n);

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct run_layout {
  h5store_axis *axes;
  h5store_estimator *est;
  h5store_attr attrs[20];
  char compiler[160], blas[512], host[256];
  char *config_text;
  char *data_text;   /* config_text without [claim.*] and [figure.*]: the data's identity */
  char gslv[32];
  char shard[64];    /* the store writes attributes at every snapshot: owned copies */
  char *argv_text;
  h5store_layout layout;
};

void run_layout_free(run_layout *L) {
  if (!L) return;
  free(L->axes);
  free(L->est);
  free(L->config_text);
  free(L->data_text);
  free(L->argv_text);
  free(L);
}

const char *run_layout_data_config(const run_layout *L) { return L->data_text; }
const char *run_layout_config(const run_layout *L) { return L->config_text; }

/* A results file's identity: the canonical resolved config (config.h), in which the
 * order of the sweep's keys (the results' axes) and of the estimator sections (the
 * results' estimators) still counts; the data's identity leaves out the claims and
 * figures, which may change between runs of the same data. */
static const char *const sweep_sections[] = {"sweep", NULL};
static const char *const claims_figures[] = {"claim.", "figure.", NULL};
static const cfg_canon identity_data = {claims_figures, sweep_sections, "estimator."};
static const cfg_canon identity_full = {NULL, sweep_sections, "estimator."};

char *run_data_config(const cfg *c) { return cfg_canonical_text(c, &identity_data); }

char *run_canonical_config(const cfg *c) { return cfg_canonical_text(c, &identity_full); }

size_t run_config_compare(const char *stored, const cfg *now, int data_only, char *diff, size_t len) {
  const cfg_canon *how = data_only ? &identity_data : &identity_full;
  if (len) diff[0] = 0;
  if (!stored) {
    snprintf(diff, len, "the file stores no config");
    return 1;
  }
  cfg *was = cfg_alloc(), *cur = cfg_alloc();
  ps_msg m = {{0}};
  if (!was || !cur || cfg_load_string(was, "stored config", stored, &m) != PS_OK) {
    snprintf(diff, len, "its stored config cannot be read: %s", was && cur ? m.text : "out of memory");
    cfg_free(was);
    cfg_free(cur);
    return 1;
  }
  /* the current config as it will be stored and read back (the reader drops what
   * follows a " ;" in a value set on the command line, as it did in the stored one) */
  char *now_text = cfg_to_text(now);
  if (!now_text || cfg_load_string(cur, "config", now_text, &m) != PS_OK) {
    snprintf(diff, len, "the config cannot be stored: %s", now_text ? m.text : "out of memory");
    free(now_text);
    cfg_free(was);
    cfg_free(cur);
    return 1;
  }
  free(now_text);
  now = cur;
  char *a = cfg_canonical_text(was, how), *b = cfg_canonical_text(now, how);
  size_t n = 1;
  if (a && b && !strcmp(a, b)) n = 0;
  else if (a && b) {
    n = cfg_describe_diff(was, now, how, diff, len);
    /* equal canonical texts are equal identities; a difference always names something */
    if (!n) {
      snprintf(diff, len, "the canonical configs differ");
      n = 1;
    }
  } else
    snprintf(diff, len, "out of memory");
  free(a);
  free(b);
  cfg_free(was);
  cfg_free(cur);
  return n;
}

size_t run_config_compare_texts(const char *stored, const char *now, int data_only, char *diff, size_t len) {
  cfg *c = cfg_alloc();
  ps_msg m = {{0}};
  if (!c || !now || cfg_load_string(c, "config", now, &m) != PS_OK) {
    snprintf(diff, len, "a config cannot be read: %s", c ? (now ? m.text : "absent") : "out of memory");
    cfg_free(c);
    return 1;
  }
  size_t n = run_config_compare(stored, c, data_only, diff, len);
  cfg_free(c);
  return n;
}

int run_layout_adopt_identity(run_layout *L, const char *stored, ps_msg *m) {
  if (!strcmp(stored, L->data_text)) return PS_OK;
  char *t = strdup(stored);
  if (!t) return ps_fail(m, PS_ENOMEM, "out of memory");
  free(L->data_text);
  L->data_text = t;
  for (size_t i = 0; i < L->layout.n_attrs; i++)
    if (!strcmp(L->attrs[i].key, "config_data")) L->attrs[i].value = t;
  return PS_OK;
}

const h5store_layout *run_layout_get(const run_layout *L) { return &L->layout; }

size_t run_layout_values_per_cell(const run_layout *L) {
  const h5store_layout *y = &L->layout;
  size_t n = y->n_truth + y->n_theory;
  for (size_t k = 0; k < y->n_estimators; k++) n += y->estimators[k].n_metrics + 2;
  return n;
}

int run_layout_build(const experiment *e, const char *argv_text, const char *shard, run_layout **out, ps_msg *m) {
  run_layout *L = calloc(1, sizeof *L);
  if (!L) return ps_fail(m, PS_ENOMEM, "out of memory");
  L->axes = calloc(e->n_axes + 1, sizeof *L->axes);
  L->est = calloc(e->n_estimators + 1, sizeof *L->est);
  L->config_text = cfg_to_text(e->config);
  L->data_text = run_data_config(e->config);
  if (!L->axes || !L->est || !L->config_text || !L->data_text) {
    run_layout_free(L);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  for (size_t a = 0; a < e->n_axes; a++) {
    L->axes[a].name = e->axes[a].name;
    L->axes[a].n = e->axes[a].n;
    if (e->axes[a].numeric)
      L->axes[a].values = e->axes[a].value;
    else
      L->axes[a].labels = (const char *const *)e->axes[a].text;
    L->axes[a].integer = e->axes[a].integer;
    L->axes[a].long_name = e->axes[a].doc;
    L->axes[a].units = axis_units(&e->axes[a]);
  }
  for (size_t k = 0; k < e->n_estimators; k++) {
    L->est[k].label = e->estimators[k].label;
    L->est[k].n_metrics = e->metrics[k].n;
    L->est[k].metrics = e->metrics[k].q;
  }
  snprintf(L->gslv, sizeof L->gslv, "%s", GSL_VERSION);
  size_t na = 0;
  L->attrs[na++] = (h5store_attr){"prefsim_version", run_version()};
  L->attrs[na++] = (h5store_attr){"git_rev", run_git_rev()};
  compiler_text(L->compiler, sizeof L->compiler);
  blas_text(L->blas, sizeof L->blas);
  if (gethostname(L->host, sizeof L->host) != 0) snprintf(L->host, sizeof L->host, "unknown");
  L->host[sizeof L->host - 1] = 0;
  L->attrs[na++] = (h5store_attr){"git_dirty", git_dirty()};
  L->attrs[na++] = (h5store_attr){"compiler", L->compiler};
  L->attrs[na++] = (h5store_attr){"cflags", PS_CFLAGS};
  L->attrs[na++] = (h5store_attr){"blas", L->blas};
  L->attrs[na++] = (h5store_attr){"host", L->host};
  L->attrs[na++] = (h5store_attr){"config", L->config_text};
  L->attrs[na++] = (h5store_attr){"config_data", L->data_text};
  L->argv_text = strdup(argv_text ? argv_text : "");
  if (!L->argv_text) {
    run_layout_free(L);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  L->attrs[na++] = (h5store_attr){"argv", L->argv_text};
  L->attrs[na++] = (h5store_attr){"rng", ps_rng_name()};
  L->attrs[na++] = (h5store_attr){"gsl_version", L->gslv};
  L->attrs[na++] = (h5store_attr){"experiment", e->name};
  L->attrs[na++] = (h5store_attr){"description", cfg_get(e->config, "experiment", "description")};
  snprintf(L->shard, sizeof L->shard, "%s", shard ? shard : "");
  if (L->shard[0]) L->attrs[na++] = (h5store_attr){"shard", L->shard};
  h5store_layout *y = &L->layout;
  y->n_axes = e->n_axes;
  y->axes = L->axes;
  y->n_replicates = e->replicates;
  y->n_estimators = e->n_estimators;
  y->estimators = L->est;
  y->n_truth = e->truth.n;
  y->truth = e->truth.q;
  y->n_theory = e->theory.n;
  y->theory = e->theory.q;
  y->n_attrs = na;
  y->attrs = L->attrs;
  y->master_seed = e->seed;
  *out = L;
  return PS_OK;
}

static void progress(const run_options *o, const experiment *e, h5store *store, size_t done, size_t to_run,
                     double t0, double *last) {
  if (o->quiet) return;
  double t = now_seconds();
  int tty = isatty(2);
  if (!(done == to_run || t - *last >= (tty ? 0.2 : 10.0))) return;
  *last = t;
  /* a cell counted on the terminal is on disk: survives a power loss too */
  h5store_sync(store, NULL);
  double el = t - t0, eta = done ? el / (double)done * (double)(to_run - done) : 0;
  fprintf(stderr, "%s[%s] %zu/%zu cells  %3.0f%%  %.1fs elapsed  eta %.1fs%s", tty ? "\r" : "", e->name, done,
          to_run, to_run ? 100.0 * (double)done / (double)to_run : 100.0, el, eta, tty ? "\033[K" : "\n");
  if (tty && done == to_run) fputc('\n', stderr);
  fflush(stderr);
}

double run_estimate_cell_seconds(const experiment *e) {
  cell_result r;
  size_t total = e->n_points * e->replicates;
  if (!total || cell_result_alloc(&r, e) != PS_OK) return NAN;
  double t0 = now_seconds();
  run_compute_cell(e, 0, &r);
  run_compute_cell(e, total - 1, &r);
  double per = (now_seconds() - t0) / 2;
  cell_result_free(&r, e);
  return per;
}

int run_threads(const run_options *o) {
#ifdef _OPENMP
  return o->threads > 0 ? o->threads : omp_get_max_threads();
#else
  (void)o;
  return 1;
#endif
}

/* ", and about T on N threads (timing its first and last cells)" into buf */
static void estimate(const experiment *e, const run_options *o, size_t total, char *buf, size_t n) {
  buf[0] = 0;
  double per = run_estimate_cell_seconds(e);
  if (!isfinite(per)) return;
  int threads = run_threads(o);
  double sec = per * (double)total / threads;
  const char *unit = "s";
  if (sec > 2 * 86400) sec /= 86400, unit = " days";
  else if (sec > 2 * 3600) sec /= 3600, unit = " h";
  else if (sec > 120) sec /= 60, unit = " min";
  snprintf(buf, n, ", and about %.3g%s on %d thread%s (timing its first and last cells)", sec, unit, threads,
           threads == 1 ? "" : "s");
}

static int store_array(void *ctx, const char *path, double **out, ps_msg *m) {
  return h5store_array((const h5store *)ctx, path, out, m);
}

int run_store_verdicts(const experiment *e, const run_layout *L, h5store *st, ps_msg *m) {
  const h5store_layout *y = &L->layout;
  claim_source src = {.n_axes = y->n_axes,
                      .axes = y->axes,
                      .R = y->n_replicates,
                      .seed = y->master_seed,
                      .array = store_array,
                      .ctx = st};
  claim_row *rows = NULL;
  size_t n = 0;
  int s = claims_evaluate_source(&src, e->config, &rows, &n, m);
  if (s) return s;
  h5store_verdict *v = calloc(n ? n : 1, sizeof *v);
  if (!v) {
    free(rows);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    const claim_row *w = &rows[i];
    v[i] = (h5store_verdict){.claim = w->claim,
                             .slice = w->slice,
                             .expect = w->expect,
                             .verdict = claim_verdict_names[w->verdict],
                             .note = w->note,
                             .value = w->value,
                             .tol = w->tol,
                             .alternative = w->alternative,
                             .bias = w->bias,
                             .measured = w->measured,
                             .ci_low = w->lo,
                             .ci_high = w->hi,
                             .n = (int64_t)w->n_used,
                             .missing = (int64_t)w->n_missing,
                             .contains_value = (int8_t)w->contains_value};
  }
  s = h5store_set_verdicts(st, v, n, m);
  free(v);
  free(rows);
  return s;
}

/* ------------------------------------------------------------------ pieces
 * shared with the MPI driver (run_mpi.c) */

int run_open(const experiment *e, const run_options *o, run_session *ss, run_summary *sum, ps_msg *m) {
  memset(ss, 0, sizeof *ss);
  memset(sum, 0, sizeof *sum);
  ss->t0 = now_seconds();
  char shard[64] = "";
  if (o->shard_n > 0) {
    if (o->shard_k < 1 || o->shard_k > o->shard_n)
      return ps_fail(m, PS_EINVAL, "shard %d/%d: K must be in 1..%d", o->shard_k, o->shard_n, o->shard_n);
    snprintf(shard, sizeof shard, "%d/%d", o->shard_k, o->shard_n);
  }
  int s = run_layout_build(e, o->argv_text, shard, &ss->layout, m);
  if (s) return s;
  size_t R = e->replicates, total = e->n_points * R;
  unsigned char *done = NULL;
  int8_t *finished = NULL; /* /cells status of an existing file */
  int same_claims = 1;
  if (o->max_cells && total > o->max_cells && !o->allow_large) {
    double gb = (double)total * (double)(run_layout_values_per_cell(ss->layout) + 2) * 8 / 1e9;
    char eta[96];
    estimate(e, o, total, eta, sizeof eta);
    run_layout_free(ss->layout);
    ss->layout = NULL;
    return ps_fail(m, PS_EINVAL,
                   "%s: %zu cells (%zu grid points x %zu replicates) is above the ceiling of %zu cells: the "
                   "results would take about %.3g GB of memory and disk%s.  Run it anyway with --allow-large "
                   "(or raise the ceiling: PREFSIM_MAX_CELLS=N), or split it with --shard K/N",
                   e->name, total, e->n_points, R, o->max_cells, gb, eta);
  }
  /* another process writing this file: refused before anything is read or written */
  long pid = 0;
  size_t jcells = 0;
  if (h5store_writer(o->out_path, &pid, &jcells) == 1) {
    run_layout_free(ss->layout);
    ss->layout = NULL;
    return ps_fail(m, PS_EIO,
                   "%s is being written by another prefsim process (pid %ld): wait for it to finish or stop it "
                   "first; nothing was changed%s",
                   o->out_path, pid, o->force ? " (--force never overwrites a file another process writes)" : "");
  }
  struct stat sb;
  int exists = stat(o->out_path, &sb) == 0;
  if (!exists && jcells > 0 && !o->force) {
    /* killed before its first snapshot was renamed into place: the journal has cells */
    ss->resumed = 1;
    s = h5store_open_resume(o->out_path, &ss->layout->layout, &ss->store, NULL, m);
    if (s) goto fail;
    goto listed;
  }
  if (exists && !o->force) {
    /* an existing file of the same config (and shard) is resumed; anything else is
     * refused, so no finished cell is ever lost */
    h5read *rd = NULL;
    if ((s = h5read_open(o->out_path, &rd, m)) != PS_OK) {
      ps_msg_prefix(m, "%s exists and is not a readable results file (use --force to overwrite it)", o->out_path);
      goto fail;
    }
    const char *cfg_was = h5read_attr(rd, "config_data"), *was = h5read_attr(rd, "shard");
    char diff[1024];
    if (run_config_compare(cfg_was, e->config, 1, diff, sizeof diff)) {
      s = ps_fail(m, PS_EINVAL,
                  "%s holds results of another config (%s): write to another file with -o, or overwrite it "
                  "with --force",
                  o->out_path, diff);
    } else if ((s = run_layout_adopt_identity(ss->layout, cfg_was, m)) != PS_OK) {
      /* the same identity, written in another key order or by an older prefsim: the
       * file keeps its text */
    } else if (strcmp(was ? was : "", shard)) {
      s = ps_fail(m, PS_EINVAL, "%s was written as shard '%s', not '%s': resume it with the same --shard",
                  o->out_path, was ? was : "(none)", shard[0] ? shard : "(none)");
    } else {
      /* cells already finished (DONE or FAILED: a failed simulation fails again)
       * are kept; a COMPLETED file of the same config, claims and figures included,
       * is left untouched */
      int32_t *ci = NULL;
      double *cw = NULL;
      if ((s = h5read_cells(rd, &finished, &ci, &cw, m)) == PS_OK) {
        size_t left = 0;
        for (size_t c = 0; c < total; c++)
          if (run_cell_in_shard(c, o->shard_k, o->shard_n) && finished[c] == H5STORE_CELL_PENDING) left++;
        const char *st_was = h5read_attr(rd, "status"), *full_was = h5read_attr(rd, "config");
        same_claims = !run_config_compare(full_was, e->config, 0, diff, sizeof diff);
        if (left == 0 && st_was && !strcmp(st_was, "COMPLETED") && same_claims) ss->nothing_to_do = 1;
      }
      free(ci);
      free(cw);
    }
    h5read_close(rd);
    if (s) goto fail;
    if (ss->nothing_to_do) {
      for (size_t c = 0; c < total; c++) sum->total += run_cell_in_shard(c, o->shard_k, o->shard_n);
      sum->skipped = sum->total;
      run_layout_free(ss->layout);
      ss->layout = NULL;
      free(finished);
      return PS_OK;
    }
    ss->resumed = 1;
    s = h5store_open_resume(o->out_path, &ss->layout->layout, &ss->store, NULL, m);
    /* the claims and figures may have changed: store the current ones for verify and plot */
    if (s == PS_OK && !same_claims) s = h5store_set_attr(ss->store, "config", ss->layout->config_text, m);
  } else {
    s = h5store_create(o->out_path, &ss->layout->layout, &ss->store, m);
  }
  if (s) goto fail;
listed:
  /* how this run computes: threads per process and MPI ranks (the last run's, on a resume) */
  {
    char text[32];
    int threads = 1, ranks = 1;
#ifdef _OPENMP
    threads = o->threads > 0 ? o->threads : omp_get_max_threads();
#endif
#ifdef PS_MPI
    int mpi_on = 0;
    if (MPI_Initialized(&mpi_on) == MPI_SUCCESS && mpi_on) MPI_Comm_size(MPI_COMM_WORLD, &ranks);
#endif
    snprintf(text, sizeof text, "%d", threads);
    if ((s = h5store_set_attr(ss->store, "threads", text, m))) goto fail;
    snprintf(text, sizeof text, "%d", ranks);
    if ((s = h5store_set_attr(ss->store, "mpi_ranks", text, m))) goto fail;
  }
  /* the cells still to do: the store's view (the file and its journal) */
  free(finished);
  finished = NULL;
  {
    const int8_t *states = h5store_cell_states(ss->store);
    if (!(finished = malloc(total ? total : 1))) {
      s = ps_fail(m, PS_ENOMEM, "out of memory");
      goto fail;
    }
    memcpy(finished, states, total);
  }
  ss->to_run = malloc((total ? total : 1) * sizeof(size_t));
  if (!ss->to_run) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto fail;
  }
  for (size_t c = 0; c < total; c++) {
    if (!run_cell_in_shard(c, o->shard_k, o->shard_n)) continue;
    sum->total++;
    if (!finished || finished[c] == H5STORE_CELL_PENDING) ss->to_run[ss->n_to_run++] = c;
  }
  sum->skipped = sum->total - ss->n_to_run;
  free(finished);
  return PS_OK;
fail:
  free(done);
  free(finished);
  if (ss->store) h5store_close(ss->store, NULL);
  run_layout_free(ss->layout);
  memset(ss, 0, sizeof *ss);
  return s;
}

int run_compute_cell(const experiment *e, size_t cell, cell_result *r) {
  size_t R = e->replicates;
  ps_msg cm = {{0}};
  int cs = cell_run(e, cell / R, cell % R, r, &cm);
  if (cs != PS_OK)
    for (size_t k = 0; k < e->n_estimators; k++) snprintf(r->message[k], PS_MSG_LEN, "%s", cm.text);
  return cs == PS_OK ? H5STORE_CELL_DONE : H5STORE_CELL_FAILED;
}

int run_write_cell(const experiment *e, run_session *ss, size_t cell, int cell_status, const cell_result *r,
                   run_summary *sum, ps_msg *m) {
  const double *mp[EXP_MAX_ESTIMATORS];
  const char *msgs[EXP_MAX_ESTIMATORS];
  for (size_t k = 0; k < e->n_estimators; k++) {
    mp[k] = r->metrics + e->metric_off[k];
    msgs[k] = r->message[k];
  }
  h5store_cell hc = {.cell_id = cell,
                     .metrics = mp,
                     .status = r->status,
                     .message = msgs,
                     .truth = r->truth,
                     .theory = r->theory,
                     .cell_status = cell_status,
                     .iterations = r->iterations,
                     .wall_seconds = r->wall_seconds};
  int s = h5store_put_cell(ss->store, &hc, m);
  if (s == PS_OK) {
    ss->n_written++;
    if (cell_status != H5STORE_CELL_DONE) sum->failed_cells++;
    for (size_t k = 0; k < e->n_estimators; k++)
      if (r->status[k] != PS_OK) sum->failed_fits++;
  }
  return s;
}

void run_progress(const run_options *o, const experiment *e, run_session *ss) {
  progress(o, e, ss->store, ss->n_written, ss->n_to_run, ss->t0, &ss->last_progress);
}

int run_close(const experiment *e, const run_options *o, run_session *ss, int write_status, const ps_msg *write_msg, run_summary *sum,
              ps_msg *m) {
  if (ss->nothing_to_do) {
    sum->seconds = now_seconds() - ss->t0;
    return PS_OK;
  }
  free(ss->to_run);
  sum->done = ss->n_written;
  sum->interrupted = ss->n_written < ss->n_to_run && write_status == PS_OK;
  const char *final = write_status != PS_OK ? "FAILED" : sum->interrupted ? "INTERRUPTED" : "COMPLETED";
  ps_msg cm2;
  /* a complete sweep (not a shard: its claims need every cell) stores its verdicts */
  int s2 = !strcmp(final, "COMPLETED") && o->shard_n == 0 ? run_store_verdicts(e, ss->layout, ss->store, &cm2) : PS_OK;
  if (s2 == PS_OK) s2 = h5store_set_status(ss->store, final, &cm2);
  int s3 = h5store_close(ss->store, write_status == PS_OK && s2 == PS_OK ? &cm2 : NULL);
  run_layout_free(ss->layout);
  sum->seconds = now_seconds() - ss->t0;
  size_t nt = ss->n_to_run, nw = ss->n_written;
  memset(ss, 0, sizeof *ss);
  if (write_status != PS_OK) {
    if (m && write_msg) *m = *write_msg;
    return write_status;
  }
  if (s2 != PS_OK || s3 != PS_OK) {
    if (m) *m = cm2;
    return PS_EIO;
  }
  if (sum->interrupted)
    return ps_fail(m, PS_EINTR,
                   "interrupted after %zu of %zu cells; %s is marked INTERRUPTED: run the same command again "
                   "to finish it",
                   nw, nt, o->out_path);
  return PS_OK;
}

void run_signals(int install) {
  static struct sigaction old_int, old_term, old_hup;
  if (install) {
    g_stop = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
  } else {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
  }
}

int run_stopping(void) { return g_stop != 0; }

int run_experiment(const experiment *e, const run_options *o, run_summary *sum, ps_msg *m) {
  openblas_set_num_threads(1);
  run_session ss;
  /* SIGINT, SIGTERM and SIGHUP from here on stop the sweep cleanly (INTERRUPTED):
   * installed before the store opens and restored only after it is closed */
  run_signals(1);
  int s = run_open(e, o, &ss, sum, m);
  if (s) {
    run_signals(0);
    return s;
  }
  if (ss.nothing_to_do) {
    run_signals(0);
    return run_close(e, o, &ss, PS_OK, NULL, sum, m);
  }
#ifdef _OPENMP
  int nthreads = o->threads > 0 ? o->threads : omp_get_max_threads();
#endif
  int write_status = PS_OK;
  ps_msg write_msg = {{0}};
  run_progress(o, e, &ss);
  long started = 0;
  size_t nt = ss.n_to_run;
  pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
#pragma omp parallel num_threads(nthreads)
  {
    cell_result r;
    int ok = cell_result_alloc(&r, e) == PS_OK;
#pragma omp for schedule(dynamic, 1)
    for (size_t i = 0; i < nt; i++) {
      int skip;
#pragma omp critical(ps_start)
      {
        skip = g_stop || !ok || write_status != PS_OK || (o->stop_after >= 0 && started >= o->stop_after);
        if (!skip) started++;
      }
      if (skip) continue;
      size_t cell = ss.to_run[i];
      int cs = run_compute_cell(e, cell, &r);
      /* one writer at a time; a blocking mutex, not an OpenMP critical section,
       * whose waiters spin (libgomp's default wait policy) and so took the CPU
       * from the other thread's cell while a write ran */
      pthread_mutex_lock(&write_lock);
      if (write_status == PS_OK) {
        write_status = run_write_cell(e, &ss, cell, cs, &r, sum, &write_msg);
        if (write_status == PS_OK) run_progress(o, e, &ss);
      }
      pthread_mutex_unlock(&write_lock);
    }
    if (ok) cell_result_free(&r, e);
  }
  s = run_close(e, o, &ss, write_status, &write_msg, sum, m);
  run_signals(0);
  return s;
}
