/* merge.c — shard files into one results file (see merge.h). */
#include "merge.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../results/h5store.h"
#include "cell.h"
#include "config.h"
#include "experiment.h"
#include "run.h"

typedef struct {
  h5read *r;
  const char *path;
  const char *shard;
  int8_t *status;
  int32_t *iterations;
  double *wall;
} input;

static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (stat(a, &sa) || stat(b, &sb)) return 0;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static volatile sig_atomic_t g_merge_stop = 0;
static void on_signal(int sig) {
  (void)sig;
  g_merge_stop = 1;
}

/* A cell marked DONE must carry every estimator's result (a status >= 0): a shard
 * where one does not was damaged, and copying it on would pass missing values off as
 * finished.  Cell statuses must be PENDING, DONE or FAILED. */
static int check_done_cells(input *in, ps_msg *m) {
  size_t nc = h5read_n_cells(in->r);
  const char *const *est = h5read_estimators(in->r);
  for (size_t c = 0; c < nc; c++)
    if (in->status[c] != H5STORE_CELL_PENDING && in->status[c] != H5STORE_CELL_DONE &&
        in->status[c] != H5STORE_CELL_FAILED)
      return ps_fail(m, PS_EFORMAT, "%s: cell %zu has status %d (not PENDING, DONE or FAILED): the file is damaged",
                     in->path, c, in->status[c]);
  for (size_t k = 0; est && est[k]; k++) {
    int *st = NULL;
    int s = h5read_status(in->r, est[k], &st, m);
    if (s) return s;
    for (size_t c = 0; c < nc; c++)
      if (in->status[c] == H5STORE_CELL_DONE && st[c] < 0) {
        int bad = st[c];
        free(st);
        return ps_fail(m, PS_EFORMAT,
                       "%s: cell %zu is marked DONE but estimator %s has no result for it (status %d): the file is "
                       "damaged; rerun its shard into a new file (--force) before merging",
                       in->path, c, est[k], bad);
      }
    free(st);
  }
  return PS_OK;
}

/* copy the finished cells of input `in` that the output lacks */
static int copy_cells(const experiment *e, input *in, h5store *st, const unsigned char *owner_done, size_t which,
                      const size_t *owner, merge_summary *sum, ps_msg *m) {
  size_t ne = e->n_estimators, nc = h5read_n_cells(in->r);
  size_t nv = e->n_metric_values;
  double **met = calloc(nv + 1, sizeof *met);
  int **status = calloc(ne + 1, sizeof *status);
  char ***msg = calloc(ne + 1, sizeof *msg);
  double *truth[CELL_MAX_Q] = {0}, *theory[CELL_MAX_Q] = {0};
  int s = PS_OK;
  if (!met || !status || !msg) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  char path[512];
  for (size_t k = 0; k < ne && !s; k++) {
    for (size_t j = 0; j < e->metrics[k].n && !s; j++) {
      snprintf(path, sizeof path, "metrics/%s/%s", e->estimators[k].label, e->metrics[k].q[j].name);
      s = h5read_array(in->r, path, &met[e->metric_off[k] + j], m);
    }
    if (!s) s = h5read_status(in->r, e->estimators[k].label, &status[k], m);
    if (!s) s = h5read_messages(in->r, e->estimators[k].label, &msg[k], m);
  }
  for (size_t j = 0; j < e->truth.n && !s; j++) {
    snprintf(path, sizeof path, "truth/%s", e->truth.q[j].name);
    s = h5read_array(in->r, path, &truth[j], m);
  }
  for (size_t j = 0; j < e->theory.n && !s; j++) {
    snprintf(path, sizeof path, "theory/%s", e->theory.q[j].name);
    s = h5read_array(in->r, path, &theory[j], m);
  }
  if (s) goto done;
  double *mv = malloc((nv + 1) * sizeof(double));
  const double **mp = malloc((ne + 1) * sizeof *mp);
  int *sv = malloc((ne + 1) * sizeof(int));
  const char **ms = malloc((ne + 1) * sizeof *ms);
  if (!mv || !mp || !sv || !ms) {
    free(mv);
    free(mp);
    free(sv);
    free(ms);
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t c = 0; c < nc && !s; c++) {
    if (owner[c] != which || owner_done[c]) continue;
    if (g_merge_stop) {
      s = ps_fail(m, PS_EINTR, "interrupted");
      break;
    }
    double tv[CELL_MAX_Q], th[CELL_MAX_Q];
    for (size_t k = 0; k < ne; k++) {
      for (size_t j = 0; j < e->metrics[k].n; j++) mv[e->metric_off[k] + j] = met[e->metric_off[k] + j][c];
      mp[k] = mv + e->metric_off[k];
      sv[k] = status[k][c];
      ms[k] = msg[k][c];
    }
    for (size_t j = 0; j < e->truth.n; j++) tv[j] = truth[j][c];
    for (size_t j = 0; j < e->theory.n; j++) th[j] = theory[j][c];
    h5store_cell hc = {.cell_id = c,
                       .metrics = mp,
                       .status = sv,
                       .message = ms,
                       .truth = tv,
                       .theory = th,
                       .cell_status = in->status[c],
                       .iterations = in->iterations[c],
                       .wall_seconds = in->wall[c]};
    s = h5store_put_cell(st, &hc, m);
    if (!s) sum->copied++;
  }
  free(mv);
  free(mp);
  free(sv);
  free(ms);
done:
  for (size_t i = 0; met && i < nv; i++) free(met[i]);
  for (size_t k = 0; k < ne; k++) {
    if (status) free(status[k]);
    if (msg && msg[k]) {
      for (size_t c = 0; c < nc; c++) free(msg[k][c]);
      free(msg[k]);
    }
  }
  for (size_t j = 0; j < CELL_MAX_Q; j++) free(truth[j]), free(theory[j]);
  free(met);
  free(status);
  free(msg);
  return s;
}

int merge_files(const char *out, const char *const *paths, size_t n, const merge_options *o, merge_summary *sum,
                ps_msg *m) {
  memset(sum, 0, sizeof *sum);
  if (n == 0) return ps_fail(m, PS_EINVAL, "no shard files to merge");
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(out, paths[i]) || same_file(out, paths[i]))
      return ps_fail(m, PS_EINVAL, "the output %s is also input %zu: merge never overwrites an input", out, i + 1);
    for (size_t j = 0; j < i; j++)
      if (!strcmp(paths[i], paths[j]) || same_file(paths[i], paths[j]))
        return ps_fail(m, PS_EINVAL, "%s is given twice", paths[i]);
  }
  input *in = calloc(n, sizeof *in);
  size_t *owner = NULL;
  unsigned char *outdone = NULL;
  cfg *c = NULL;
  experiment e;
  int have_e = 0;
  run_layout *L = NULL;
  h5store *st = NULL;
  int s = PS_OK;
  if (!in) return ps_fail(m, PS_ENOMEM, "out of memory");
  for (size_t i = 0; i < n && !s; i++) {
    in[i].path = paths[i];
    if ((s = h5read_open(paths[i], &in[i].r, m))) break;
    const char *schema = h5read_attr(in[i].r, "schema");
    if (!schema || (strcmp(schema, H5STORE_SCHEMA) && strcmp(schema, H5STORE_SCHEMA_V1))) {
      s = ps_fail(m, PS_EINVAL, "%s is not a prefsim results file (schema '%s')", paths[i], schema ? schema : "");
      break;
    }
    in[i].shard = h5read_attr(in[i].r, "shard");
    /* the data's identity: the config without claims and figures, which may differ */
    const char *c0 = h5read_attr(in[0].r, "config_data"), *ci = h5read_attr(in[i].r, "config_data");
    char diff[1024] = "it stores no config";
    if (!ci || (i && run_config_compare_texts(c0, ci, 1, diff, sizeof diff))) {
      s = ps_fail(m, PS_EINVAL,
                  "%s and %s come from different resolved configs (%s): they are not shards of one sweep",
                  paths[0], paths[i], diff);
      break;
    }
    s = h5read_cells(in[i].r, &in[i].status, &in[i].iterations, &in[i].wall, m);
    if (!s && h5read_n_cells(in[i].r) != h5read_n_cells(in[0].r))
      s = ps_fail(m, PS_EINVAL, "%s and %s have different numbers of cells", paths[0], paths[i]);
    if (!s) s = check_done_cells(&in[i], m);
  }
  if (s) goto done;
  {
    /* an existing output must not be a shard: the usual slip is forgetting OUT.h5 */
    struct stat so;
    h5read *ro = NULL;
    if (stat(out, &so) == 0 && h5read_open(out, &ro, NULL) == PS_OK) {
      const char *osh = h5read_attr(ro, "shard");
      int is_shard = osh && *osh;
      h5read_close(ro);
      if (is_shard) {
        s = ps_fail(m, PS_EINVAL, "the output %s is itself a shard file: the first argument is the file to "
                    "write (prefsim merge OUT.h5 SHARD.h5 ...)", out);
        goto done;
      }
    }
  }
  size_t nc = h5read_n_cells(in[0].r);
  owner = malloc((nc ? nc : 1) * sizeof *owner);
  if (!owner) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  /* coverage: each cell finished in exactly one input */
  size_t missing = 0, first_missing = 0;
  for (size_t cell = 0; cell < nc; cell++) {
    owner[cell] = n;
    for (size_t i = 0; i < n; i++) {
      if (in[i].status[cell] == H5STORE_CELL_PENDING) continue;
      if (owner[cell] != n) {
        s = ps_fail(m, PS_EINVAL, "cell %zu is finished in both %s (shard %s) and %s (shard %s): duplicated shard",
                    cell, paths[owner[cell]], in[owner[cell]].shard ? in[owner[cell]].shard : "-", paths[i],
                    in[i].shard ? in[i].shard : "-");
        goto done;
      }
      owner[cell] = i;
    }
    if (owner[cell] == n && missing++ == 0) first_missing = cell;
  }
  if (missing) {
    /* name the likely culprit: a given shard with unfinished cells, or absent shards */
    char absent[256] = "";
    int N = 0;
    for (size_t i = 0; i < n; i++)
      if (in[i].shard && sscanf(in[i].shard, "%*d/%d", &N) == 1) break;
    for (size_t i = 0; i < n; i++) {
      int k, NN;
      if (!in[i].shard || sscanf(in[i].shard, "%d/%d", &k, &NN) != 2) continue;
      if (!run_cell_in_shard(first_missing, k, NN)) continue;
      s = ps_fail(m, PS_EINVAL,
                  "%zu of %zu cells are finished in no input; e.g. cell %zu belongs to shard %s (%s), which "
                  "is not finished: run that shard's command again (it resumes), then merge again",
                  missing, nc, first_missing, in[i].shard, paths[i]);
      goto done;
    }
    if (N > 0) {
      for (int k = 1; k <= N; k++) {
        int given = 0;
        for (size_t i = 0; i < n; i++) {
          int kk, NN;
          if (in[i].shard && sscanf(in[i].shard, "%d/%d", &kk, &NN) == 2 && kk == k && NN == N) given = 1;
        }
        if (!given) {
          char part[16];
          snprintf(part, sizeof part, "%s%d/%d", absent[0] ? ", " : "", k, N);
          strncat(absent, part, sizeof absent - strlen(absent) - 1);
        }
      }
    }
    s = ps_fail(m, PS_EINVAL, "%zu of %zu cells are finished in no input (first: cell %zu)%s%s", missing, nc,
                first_missing, absent[0] ? "; shards not given: " : "", absent);
    goto done;
  }
  /* the experiment, from the stored config, and the output layout */
  c = cfg_alloc();
  if (!c) {
    s = ps_fail(m, PS_ENOMEM, "out of memory");
    goto done;
  }
  if ((s = cfg_load_string(c, "stored config", h5read_attr(in[0].r, "config"), m))) goto done;
  const char *ename = h5read_attr(in[0].r, "experiment");
  if ((s = experiment_build(&e, c, ename ? ename : "experiment", m))) goto done;
  c = NULL;
  have_e = 1;
  if ((s = run_layout_build(&e, o->argv_text, "", &L, m))) goto done;
  struct stat sb;
  int reopened = 0;
  if (stat(out, &sb) == 0 && !o->force) {
    h5read *ro = NULL;
    if ((s = h5read_open(out, &ro, m))) {
      ps_msg_prefix(m, "%s exists and cannot be read as results (use --force to overwrite)", out);
      goto done;
    }
    const char *oc = h5read_attr(ro, "config_data");
    char diff[1024];
    int same = !run_config_compare_texts(oc, h5read_attr(in[0].r, "config_data"), 1, diff, sizeof diff);
    /* the same identity written otherwise (an older prefsim): the output keeps its text */
    if (same && (s = run_layout_adopt_identity(L, oc, m))) {
      h5read_close(ro);
      goto done;
    }
    h5read_close(ro);
    if (!same) {
      s = ps_fail(m, PS_EINVAL, "%s exists with another config (%s): it is not a partial merge of these shards "
                  "(use --force to overwrite it)", out, diff);
      goto done;
    }
    if ((s = h5store_open_resume(out, run_layout_get(L), &st, &outdone, m))) goto done;
    reopened = 1;
  } else {
    if ((s = h5store_create(out, run_layout_get(L), &st, m))) goto done;
    outdone = calloc(nc ? nc : 1, 1);
    if (!outdone) {
      s = ps_fail(m, PS_ENOMEM, "out of memory");
      goto done;
    }
  }
  if (reopened && (s = h5store_set_attr(st, "config", run_layout_config(L), m))) goto done;
  sum->cells = nc;
  for (size_t cell = 0; cell < nc; cell++) sum->kept += outdone[cell] != 0;
  g_merge_stop = 0;
  struct sigaction sa, old_int, old_term, old_hup;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGHUP, &sa, &old_hup);
  for (size_t i = 0; i < n && !s; i++) s = copy_cells(&e, &in[i], st, outdone, i, owner, sum, m);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGHUP, &old_hup, NULL);
  {
    ps_msg m2;
    int s2 = s == PS_OK ? run_store_verdicts(&e, L, st, &m2) : PS_OK;
    if (s2 == PS_OK)
      s2 = h5store_set_status(st, s == PS_OK ? "COMPLETED" : s == PS_EINTR ? "INTERRUPTED" : "FAILED", &m2);
    int s3 = h5store_close(st, &m2);
    st = NULL;
    if (!s && (s2 || s3)) s = ps_fail(m, PS_EIO, "%s", m2.text);
  }
done:
  if (st) h5store_close(st, NULL);
  for (size_t i = 0; i < n; i++) {
    h5read_close(in[i].r);
    free(in[i].status);
    free(in[i].iterations);
    free(in[i].wall);
  }
  free(in);
  free(owner);
  free(outdone);
  cfg_free(c);
  if (have_e) experiment_free(&e);
  run_layout_free(L);
  return s;
}
