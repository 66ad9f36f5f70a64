/* test_h5store.c — the HDF5 results store: layout, cell writes, resume checks, reader.
 *
 * A 3 (n) x 2 (link) x 4 (replicate) sweep with two estimators is written partly, read
 * back through the reader and, for what the reader does not expose (messages, dimension
 * scales, the /cells compound), through the HDF5 API directly.  Values are affine in the
 * cell id with "high-entropy" coefficients, so a value landing at the wrong index or from
 * the wrong dataset cannot match by accident; they round-trip exactly, so comparisons
 * are exact.  After every test no HDF5 identifier may remain open. */
#include "test_util.h"

#include <math.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "../results/h5store.h"

/* ------------------------------------------------------------------- the fixture */

static const double N_VALUES[] = {100.0, 316.0, 1000.0};
static const char *const LINKS[] = {"logistic", "probit"};
static const h5store_axis AXES[] = {
    {"n", 3, N_VALUES, NULL, 1, "training comparisons", "1"},
    {"link", 2, NULL, LINKS, 0, NULL, NULL},
};
enum { N_REPLICATES = 4, N_CELLS = 3 * 2 * N_REPLICATES };

static const h5store_quantity BT_METRICS[] = {
    {"param_err", "1", "parameter error |theta_hat - theta|_2"},
    {"logloss", "nats", "held-out log-loss"},
    {"wall", "s", "fit wall time"},
};
static const h5store_quantity DPO_METRICS[] = {
    {"regret", "nats", "policy regret"},
    {"kl_ref", "nats", "KL(policy || reference)"},
};
static const h5store_estimator ESTIMATORS[] = {
    {"bt", 3, BT_METRICS},
    {"dpo", 2, DPO_METRICS},
};
static const h5store_quantity TRUTH[] = {{"bayes_logloss", "nats", "Bayes log-loss"}};
static const h5store_quantity THEORY[] = {
    {"rate_bound", "1", "predicted parameter error"},
    {"regret_bound", "nats", "predicted regret"},
};
static const char CONFIG[] = "[experiment]\nname = h5store_test\nseed = 20261127\n"
                             "[sweep]\nn = 100, 316, 1000\nlink = logistic, probit\n";
static const h5store_attr ATTRS[] = {
    {"config", CONFIG},     {"prefsim_version", "0.1.0"}, {"git_rev", "0123456789ab"},
    {"argv", "prefsim run h5store_test.ini"}, {"rng", "philox4x64"},
    {"gsl_version", "2.7.1"}, {"experiment", "h5store_test"},
};
static const uint64_t SEED = 0x9E3779B97F4A7C15ULL; /* above INT64_MAX on purpose */

static h5store_layout fixture_layout(void) {
  h5store_layout L = {
      .n_axes = 2, .axes = AXES, .n_replicates = N_REPLICATES,
      .n_estimators = 2, .estimators = ESTIMATORS,
      .n_truth = 1, .truth = TRUTH, .n_theory = 2, .theory = THEORY,
      .n_attrs = sizeof ATTRS / sizeof ATTRS[0], .attrs = ATTRS,
      .master_seed = SEED,
  };
  return L;
}

static double metric_value(uint64_t id, size_t e, size_t j) {
  return 2.385 * (double)id + 0.173 * (double)j + 11.07 * (double)e + 0.5;
}
static double truth_value(uint64_t id, size_t j) {
  return -1.25 - 0.0137 * (double)id - (double)j;
}
static double theory_value(uint64_t id, size_t j) {
  return 0.0625 * (double)(id + 1) + 3.3 * (double)j;
}

/* id = ((i_n * 2) + i_link) * 4 + replicate */
static uint64_t cell_id(size_t i_n, size_t i_link, size_t replicate) {
  return ((i_n * 2) + i_link) * N_REPLICATES + replicate;
}

/* The dpo fit of this cell fails (no convergence): its metrics stay NaN. */
static const uint64_t FAILED_CELL = 14; /* n = 316, probit, replicate 2 */
static const char FAILED_MESSAGE[] = "dpo: no convergence after 200 iterations (|g| = 3.1e-3)";

static int put_fixture_cell(h5store *s, uint64_t id) {
  double bt[3], dpo[2], truth[1], theory[2];
  for (size_t j = 0; j < 3; j++) bt[j] = metric_value(id, 0, j);
  for (size_t j = 0; j < 2; j++) dpo[j] = metric_value(id, 1, j);
  truth[0] = truth_value(id, 0);
  for (size_t j = 0; j < 2; j++) theory[j] = theory_value(id, j);
  int failed = id == FAILED_CELL;
  const double *metrics[2] = {bt, failed ? NULL : dpo};
  int status[2] = {PS_OK, failed ? PS_ENOCONV : PS_OK};
  const char *message[2] = {"", failed ? FAILED_MESSAGE : NULL};
  h5store_cell c = {
      .cell_id = id, .metrics = metrics, .status = status, .message = message,
      .truth = truth, .theory = theory,
      .cell_status = failed ? H5STORE_CELL_FAILED : H5STORE_CELL_DONE,
      .iterations = (int32_t)(17 + id), .wall_seconds = 0.0312 * (double)(id + 1),
  };
  ps_msg m = {{0}};
  int rc = h5store_put_cell(s, &c, &m);
  if (rc) print_error("put_cell %llu: %s\n", (unsigned long long)id, m.text);
  return rc;
}

static const uint64_t WRITTEN[] = {0, 11, 14, 23}; /* first, middle, failed, last */
enum { N_WRITTEN = sizeof WRITTEN / sizeof WRITTEN[0] };

static int was_written(uint64_t id) {
  for (size_t i = 0; i < N_WRITTEN; i++)
    if (WRITTEN[i] == id) return 1;
  return 0;
}

static void assert_no_open_hdf5_objects(void) {
  assert_int_equal(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
}

typedef struct {
  char *dir;
  char path[4096];
} test_files;

static int setup(void **state) {
  test_files *t = calloc(1, sizeof *t);
  if (!t || !(t->dir = test_tmpdir())) return -1;
  snprintf(t->path, sizeof t->path, "%s/results.h5", t->dir);
  *state = t;
  return 0;
}

static int teardown(void **state) {
  test_files *t = *state;
  unlink(t->path);
  rmdir(t->dir);
  free(t->dir);
  free(t);
  return 0;
}

/* Create the fixture file with the cells in WRITTEN and close it. */
static void write_fixture(const char *path, const char *final_status) {
  h5store_layout L = fixture_layout();
  h5store *s = NULL;
  ps_msg m = {{0}};
  int rc = h5store_create(path, &L, &s, &m);
  if (rc) print_error("create: %s\n", m.text);
  assert_int_equal(rc, PS_OK);
  for (size_t i = 0; i < N_WRITTEN; i++) assert_int_equal(put_fixture_cell(s, WRITTEN[i]), PS_OK);
  if (final_status) assert_int_equal(h5store_set_status(s, final_status, &m), PS_OK);
  assert_int_equal(h5store_close(s, &m), PS_OK);
  assert_no_open_hdf5_objects();
}

/* ----------------------------------------------------------- writing and reading */

static void check_array(const h5read *r, const char *path, double (*expect)(uint64_t),
                        uint64_t skip_id) {
  double *values = NULL;
  ps_msg m = {{0}};
  int rc = h5read_array(r, path, &values, &m);
  if (rc) print_error("%s: %s\n", path, m.text);
  assert_int_equal(rc, PS_OK);
  for (uint64_t id = 0; id < N_CELLS; id++) {
    if (was_written(id) && id != skip_id) {
      if (values[id] != expect(id)) {
        print_error("%s[%llu] = %.17g, expected %.17g\n", path, (unsigned long long)id,
                    values[id], expect(id));
        fail();
      }
    } else if (!isnan(values[id])) {
      print_error("%s[%llu] = %.17g, expected NaN\n", path, (unsigned long long)id,
                  values[id]);
      fail();
    }
  }
  free(values);
}

static double bt_param_err(uint64_t id) { return metric_value(id, 0, 0); }
static double bt_wall(uint64_t id) { return metric_value(id, 0, 2); }
static double dpo_kl(uint64_t id) { return metric_value(id, 1, 1); }
static double truth0(uint64_t id) { return truth_value(id, 0); }
static double theory1(uint64_t id) { return theory_value(id, 1); }

static void test_write_and_read(void **state) {
  test_files *t = *state;
  ps_msg m = {{0}};
  write_fixture(t->path, "INTERRUPTED");

  h5read *r = NULL;
  int rc = h5read_open(t->path, &r, &m);
  if (rc) print_error("open: %s\n", m.text);
  assert_int_equal(rc, PS_OK);

  /* Root attributes. */
  assert_string_equal(h5read_attr(r, "schema"), H5STORE_SCHEMA);
  assert_string_equal(h5read_attr(r, "status"), "INTERRUPTED");
  assert_string_equal(h5read_attr(r, "config"), CONFIG);
  assert_string_equal(h5read_attr(r, "gsl_version"), "2.7.1");
  assert_string_equal(h5read_attr(r, "master_seed"), "11400714819323198485");
  const char *created = h5read_attr(r, "created_utc"), *finished = h5read_attr(r, "finished_utc");
  assert_non_null(created);
  assert_non_null(finished);
  assert_int_equal(strlen(created), 20); /* 2026-11-27T12:34:56Z */
  assert_int_equal(created[19], 'Z');
  assert_int_equal(strlen(finished), 20);
  char version[32];
  unsigned major, minor, release;
  H5get_libversion(&major, &minor, &release);
  snprintf(version, sizeof version, "%u.%u.%u", major, minor, release);
  assert_string_equal(h5read_attr(r, "hdf5_version"), version);
  assert_null(h5read_attr(r, "no_such_attribute"));

  /* Axes and lists. */
  assert_int_equal(h5read_n_axes(r), 2);
  assert_int_equal(h5read_n_replicates(r), N_REPLICATES);
  const h5store_axis *n = h5read_axis(r, 0), *link = h5read_axis(r, 1);
  assert_string_equal(n->name, "n");
  assert_int_equal(n->n, 3);
  assert_non_null(n->values);
  assert_null(n->labels);
  for (size_t i = 0; i < 3; i++) assert_true(n->values[i] == N_VALUES[i]);
  assert_int_equal(n->integer, 1);
  assert_string_equal(n->long_name, "training comparisons");
  assert_string_equal(n->units, "1");
  assert_string_equal(link->name, "link");
  assert_int_equal(link->n, 2);
  assert_null(link->values);
  assert_string_equal(link->labels[0], "logistic");
  assert_string_equal(link->labels[1], "probit");
  assert_null(h5read_axis(r, 2));
  const char *const *est = h5read_estimators(r);
  assert_string_equal(est[0], "bt");
  assert_string_equal(est[1], "dpo");
  assert_null(est[2]);
  const char *const *bt = h5read_metrics(r, "bt");
  assert_string_equal(bt[0], "param_err");
  assert_string_equal(bt[1], "logloss");
  assert_string_equal(bt[2], "wall");
  assert_null(bt[3]);
  assert_null(h5read_metrics(r, "ppo"));

  /* Values at their C-order cell ids, NaN elsewhere (and for the failed dpo fit). */
  check_array(r, "metrics/bt/param_err", bt_param_err, UINT64_MAX);
  check_array(r, "/metrics/bt/wall", bt_wall, UINT64_MAX);
  check_array(r, "metrics/dpo/kl_ref", dpo_kl, FAILED_CELL);
  check_array(r, "truth/bayes_logloss", truth0, UINT64_MAX);
  check_array(r, "theory/regret_bound", theory1, UINT64_MAX);
  double *values = NULL;
  assert_int_equal(h5read_array(r, "metrics/bt/logloss", &values, &m), PS_OK);
  assert_true(values[cell_id(1, 0, 3)] == metric_value(11, 0, 1));
  free(values);

  /* Dataset attributes. */
  char *units = h5read_dataset_attr(r, "metrics/bt/logloss", "units");
  char *long_name = h5read_dataset_attr(r, "/metrics/dpo/kl_ref", "long_name");
  char *codes = h5read_dataset_attr(r, "status/dpo", "codes");
  assert_string_equal(units, "nats");
  assert_string_equal(long_name, "KL(policy || reference)");
  assert_non_null(strstr(codes, "4=not-converged"));
  free(units);
  free(long_name);
  free(codes);
  assert_null(h5read_dataset_attr(r, "metrics/bt/logloss", "no_such_attr"));
  assert_null(h5read_dataset_attr(r, "metrics/bt/no_such_metric", "units"));

  size_t pending, done, failed;
  assert_int_equal(h5read_cell_counts(r, &pending, &done, &failed, &m), PS_OK);
  assert_int_equal(pending, N_CELLS - N_WRITTEN);
  assert_int_equal(done, N_WRITTEN - 1);
  assert_int_equal(failed, 1);
  h5read_close(r);
  h5read_close(NULL);
  assert_no_open_hdf5_objects();
}

/* What the reader does not expose, through HDF5 directly. */
static void test_file_format(void **state) {
  test_files *t = *state;
  write_fixture(t->path, NULL);
  hid_t file = H5Fopen(t->path, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(file >= 0);

  /* Messages: the failure text where it failed, "" where written and where not. */
  hid_t ds = H5Dopen2(file, "/messages/dpo", H5P_DEFAULT);
  hid_t str = H5Tcopy(H5T_C_S1);
  H5Tset_size(str, H5T_VARIABLE);
  H5Tset_cset(str, H5T_CSET_UTF8);
  char *messages[N_CELLS];
  assert_true(H5Dread(ds, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, messages) >= 0);
  for (size_t id = 0; id < N_CELLS; id++) {
    assert_non_null(messages[id]);
    assert_string_equal(messages[id], id == FAILED_CELL ? FAILED_MESSAGE : "");
  }
  hid_t space = H5Dget_space(ds);
  H5Dvlen_reclaim(str, space, H5P_DEFAULT, messages);
  H5Sclose(space);

  /* Dimension scales: /n, /link, /replicate on dims 0, 1, 2 (netCDF: at the root, seen
   * by every group), hard-linked into the groups of arrays (xarray's coordinates). */
  const char *scale_paths[] = {"/n", "/link", "/replicate"};
  hid_t metric = H5Dopen2(file, "/metrics/bt/param_err", H5P_DEFAULT);
  for (unsigned d = 0; d < 3; d++) {
    hid_t scale = H5Dopen2(file, scale_paths[d], H5P_DEFAULT);
    assert_true(H5DSis_scale(scale) > 0);
    assert_true(H5DSis_attached(metric, scale, d) > 0);
    assert_true(H5DSis_attached(ds, scale, d) > 0);
    char link[64];
    snprintf(link, sizeof link, "/metrics/bt%s", scale_paths[d]);
    hid_t linked = H5Dopen2(file, link, H5P_DEFAULT);
    assert_true(linked >= 0 && H5DSis_attached(metric, linked, d) > 0); /* the same object */
    H5Dclose(linked);
    H5Dclose(scale);
  }
  /* an integer axis is int64, a real one float64 */
  hid_t n_axis = H5Dopen2(file, "/n", H5P_DEFAULT), n_type = H5Dget_type(n_axis);
  assert_int_equal(H5Tget_class(n_type), H5T_INTEGER);
  assert_int_equal(H5Tget_size(n_type), 8);
  H5Tclose(n_type);
  H5Dclose(n_axis);
  char conventions[16] = "";
  hid_t conv = H5Aopen(file, "Conventions", H5P_DEFAULT), conv_type = H5Aget_type(conv);
  char *conv_text = NULL;
  assert_true(H5Aread(conv, conv_type, &conv_text) >= 0);
  snprintf(conventions, sizeof conventions, "%s", conv_text);
  H5free_memory(conv_text);
  H5Tclose(conv_type);
  H5Aclose(conv);
  assert_string_equal(conventions, "CF-1.8");
  hid_t dcpl = H5Dget_create_plist(metric);
  assert_int_equal(H5Pget_layout(dcpl), H5D_CHUNKED);
  assert_int_equal(H5Pget_nfilters(dcpl), 3); /* shuffle, deflate, fletcher32 */
  H5Pclose(dcpl);
  H5Dclose(metric);
  H5Dclose(ds);

  /* Status codes: the fit status, -1 where not run. */
  int status[N_CELLS];
  ds = H5Dopen2(file, "/status/dpo", H5P_DEFAULT);
  assert_true(H5Dread(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, status) >= 0);
  H5Dclose(ds);
  for (uint64_t id = 0; id < N_CELLS; id++)
    assert_int_equal(status[id], !was_written(id) ? -1 : id == FAILED_CELL ? PS_ENOCONV : 0);

  /* /cells: status, iterations, wall seconds, each [n, link, replicate] (C order = cell id). */
  int8_t cell_status[N_CELLS];
  int32_t iterations[N_CELLS];
  double wall[N_CELLS];
  ds = H5Dopen2(file, "/cells/status", H5P_DEFAULT);
  assert_true(H5Dread(ds, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, cell_status) >= 0);
  H5Dclose(ds);
  ds = H5Dopen2(file, "/cells/iterations", H5P_DEFAULT);
  assert_true(H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, iterations) >= 0);
  H5Dclose(ds);
  ds = H5Dopen2(file, "/cells/wall_seconds", H5P_DEFAULT);
  assert_true(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, wall) >= 0);
  H5Dclose(ds);
  for (uint64_t id = 0; id < N_CELLS; id++) {
    if (!was_written(id)) {
      assert_int_equal(cell_status[id], H5STORE_CELL_PENDING);
      assert_true(isnan(wall[id]));
    } else {
      assert_int_equal(cell_status[id], id == FAILED_CELL ? H5STORE_CELL_FAILED : H5STORE_CELL_DONE);
      assert_int_equal(iterations[id], 17 + id);
      assert_true(wall[id] == 0.0312 * (double)(id + 1));
    }
  }
  H5Tclose(str);
  H5Fclose(file);
  assert_no_open_hdf5_objects();
}

/* ------------------------------------------------------------------------- resume */

static void test_resume(void **state) {
  test_files *t = *state;
  write_fixture(t->path, "INTERRUPTED");
  h5store_layout L = fixture_layout();
  h5store *s = NULL;
  unsigned char *done = NULL;
  ps_msg m = {{0}};

  int rc = h5store_open_resume(t->path, &L, &s, &done, &m);
  if (rc) print_error("resume: %s\n", m.text);
  assert_int_equal(rc, PS_OK);
  for (uint64_t id = 0; id < N_CELLS; id++)
    assert_int_equal(done[id], was_written(id) && id != FAILED_CELL);
  free(done);
  /* Finish the failed cell and one more, then complete. */
  assert_int_equal(put_fixture_cell(s, 7), PS_OK);
  double values[3] = {0.5, 0.25, 0.125}, dpo[2] = {1.5, 2.5};
  const double *metrics[2] = {values, dpo};
  int status[2] = {PS_OK, PS_OK};
  h5store_cell c = {.cell_id = FAILED_CELL, .metrics = metrics, .status = status,
                    .cell_status = H5STORE_CELL_DONE, .iterations = 3, .wall_seconds = 0.5};
  assert_int_equal(h5store_put_cell(s, &c, &m), PS_OK);
  assert_int_equal(h5store_set_status(s, "COMPLETED", &m), PS_OK);
  assert_int_equal(h5store_close(s, &m), PS_OK);
  assert_no_open_hdf5_objects();

  h5read *r = NULL;
  assert_int_equal(h5read_open(t->path, &r, &m), PS_OK);
  assert_string_equal(h5read_attr(r, "status"), "COMPLETED");
  size_t pending, n_done, failed;
  assert_int_equal(h5read_cell_counts(r, &pending, &n_done, &failed, &m), PS_OK);
  assert_int_equal(pending, N_CELLS - N_WRITTEN - 1);
  assert_int_equal(n_done, N_WRITTEN + 1);
  assert_int_equal(failed, 0);
  double *kl = NULL, *bayes = NULL;
  assert_int_equal(h5read_array(r, "metrics/dpo/kl_ref", &kl, &m), PS_OK);
  assert_int_equal(h5read_array(r, "truth/bayes_logloss", &bayes, &m), PS_OK);
  assert_true(kl[FAILED_CELL] == 2.5);
  assert_true(kl[7] == metric_value(7, 1, 1));
  assert_true(isnan(bayes[FAILED_CELL])); /* rewritten without truth: NaN */
  free(kl);
  free(bayes);
  h5read_close(r);

  /* Resuming again reports the new cells as done. */
  assert_int_equal(h5store_open_resume(t->path, &L, &s, &done, &m), PS_OK);
  assert_int_equal(done[7] + done[FAILED_CELL] + done[1], 2);
  free(done);
  assert_int_equal(h5store_close(s, &m), PS_OK);
  assert_no_open_hdf5_objects();
}

/* A resume against a changed layout fails, names the file and what differs. */
static void expect_resume_mismatch(const char *path, const h5store_layout *L,
                                   const char *mentions) {
  h5store *s = (h5store *)1;
  unsigned char *done = (unsigned char *)1;
  ps_msg m = {{0}};
  int rc = h5store_open_resume(path, L, &s, &done, &m);
  if (rc != PS_EINVAL || !strstr(m.text, path) || !strstr(m.text, mentions)) {
    print_error("rc %d, message \"%s\", expected PS_EINVAL naming \"%s\"\n", rc, m.text,
                mentions);
    fail();
  }
  assert_null(s);
  assert_null(done);
  assert_no_open_hdf5_objects();
}

static void test_resume_mismatch(void **state) {
  test_files *t = *state;
  write_fixture(t->path, "INTERRUPTED");
  h5store_layout L = fixture_layout();

  h5store_attr attrs[sizeof ATTRS / sizeof ATTRS[0]];
  memcpy(attrs, ATTRS, sizeof attrs);
  attrs[0].value = "[experiment]\nname = h5store_test\nseed = 20261128\n";
  L.attrs = attrs;
  expect_resume_mismatch(t->path, &L, "config");
  L = fixture_layout();

  const double other_n[] = {100.0, 317.0, 1000.0};
  h5store_axis axes[2] = {AXES[0], AXES[1]};
  axes[0].values = other_n;
  L.axes = axes;
  expect_resume_mismatch(t->path, &L, "axis 'n' value 1");

  const char *const other_links[] = {"logistic", "cauchit"};
  axes[0] = AXES[0];
  axes[1].labels = other_links;
  expect_resume_mismatch(t->path, &L, "axis 'link' label 1");

  axes[1] = AXES[0];
  axes[0] = AXES[1];
  expect_resume_mismatch(t->path, &L, "sweep axis 0");

  L = fixture_layout();
  L.n_axes = 1;
  expect_resume_mismatch(t->path, &L, "sweep ax");

  L = fixture_layout();
  L.n_replicates = 5;
  expect_resume_mismatch(t->path, &L, "replicates");

  L = fixture_layout();
  h5store_estimator ests[2] = {ESTIMATORS[0], ESTIMATORS[1]};
  ests[1].label = "ipo";
  L.estimators = ests;
  expect_resume_mismatch(t->path, &L, "estimator 'ipo'");

  ests[1] = ESTIMATORS[1];
  ests[0].n_metrics = 2;
  expect_resume_mismatch(t->path, &L, "metric of estimator 'bt' 'wall'");

  L = fixture_layout();
  L.n_theory = 1;
  expect_resume_mismatch(t->path, &L, "regret_bound");

  /* The file is untouched by the failed attempts. */
  h5read *r = NULL;
  ps_msg m = {{0}};
  assert_int_equal(h5read_open(t->path, &r, &m), PS_OK);
  assert_string_equal(h5read_attr(r, "status"), "INTERRUPTED");
  h5read_close(r);
  assert_no_open_hdf5_objects();
}

/* ----------------------------------------------------------------------- failures */

static void test_create_errors(void **state) {
  test_files *t = *state;
  h5store_layout L = fixture_layout();
  h5store *s = (h5store *)1;
  ps_msg m = {{0}};
  char path[4200];

  snprintf(path, sizeof path, "%s/no/such/dir/results.h5", t->dir);
  assert_int_equal(h5store_create(path, &L, &s, &m), PS_EIO);
  assert_null(s);
  assert_non_null(strstr(m.text, path));
  struct stat sb;
  assert_int_equal(stat(path, &sb), -1);

  /* Bad layouts: PS_EINVAL before any file is touched. */
  h5store_attr attrs[sizeof ATTRS / sizeof ATTRS[0] + 1];
  memcpy(attrs, ATTRS, sizeof ATTRS);
  L.attrs = attrs + 1; /* no config */
  L.n_attrs = sizeof ATTRS / sizeof ATTRS[0] - 1;
  assert_int_equal(h5store_create(t->path, &L, &s, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "config"));
  L = fixture_layout();
  attrs[sizeof ATTRS / sizeof ATTRS[0]] = (h5store_attr){"status", "RUNNING"};
  L.attrs = attrs;
  L.n_attrs = sizeof ATTRS / sizeof ATTRS[0] + 1;
  assert_int_equal(h5store_create(t->path, &L, &s, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "'status'"));

  L = fixture_layout();
  h5store_estimator ests[2] = {ESTIMATORS[0], ESTIMATORS[0]};
  L.estimators = ests;
  assert_int_equal(h5store_create(t->path, &L, &s, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "'bt' appears twice"));

  L = fixture_layout();
  h5store_axis axes[2] = {AXES[0], AXES[1]};
  axes[1].name = "replicate";
  L.axes = axes;
  assert_int_equal(h5store_create(t->path, &L, &s, &m), PS_EINVAL);
  axes[1] = AXES[1];
  axes[1].values = N_VALUES;
  assert_int_equal(h5store_create(t->path, &L, &s, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "'link'"));
  axes[1] = AXES[1];
  axes[1].name = "a/b";
  assert_int_equal(h5store_create(t->path, &L, &s, &m), PS_EINVAL);
  /* an axis shares the namespace of every group it is linked into (netCDF dimensions) */
  const char *clash[][2] = {{"logloss", "a metric of estimator (bt)"}, {"dpo", "an estimator"},
                            {"cells", "a group of the file"}, {"wall_seconds", "an array of /cells"},
                            {"bayes_logloss", "a truth quantity"}};
  for (size_t i = 0; i < sizeof clash / sizeof clash[0]; i++) {
    axes[1] = AXES[1];
    axes[1].name = clash[i][0];
    assert_int_equal(h5store_create(t->path, &L, &s, &m), PS_EINVAL);
    assert_non_null(strstr(m.text, clash[i][1]));
  }

  L = fixture_layout();
  L.n_replicates = 0;
  assert_int_equal(h5store_create(t->path, &L, &s, &m), PS_EINVAL);
  assert_int_equal(stat(t->path, &sb), -1);

  L = fixture_layout();
  assert_int_equal(h5store_open_resume(path, &L, &s, &(unsigned char *){NULL}, &m), PS_EIO);
  assert_non_null(strstr(m.text, path));
  assert_int_equal(h5store_close(NULL, &m), PS_OK);
  assert_no_open_hdf5_objects();
}

static void test_write_errors(void **state) {
  test_files *t = *state;
  h5store_layout L = fixture_layout();
  h5store *s = NULL;
  ps_msg m = {{0}};
  assert_int_equal(h5store_create(t->path, &L, &s, &m), PS_OK);
  int status[2] = {0, 0};
  h5store_cell c = {.cell_id = N_CELLS, .status = status, .cell_status = H5STORE_CELL_DONE};
  assert_int_equal(h5store_put_cell(s, &c, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "out of range"));
  c.cell_id = 3;
  c.cell_status = H5STORE_CELL_PENDING;
  assert_int_equal(h5store_put_cell(s, &c, &m), PS_EINVAL);
  c.cell_status = H5STORE_CELL_DONE;
  c.status = NULL;
  assert_int_equal(h5store_put_cell(s, &c, &m), PS_EINVAL);
  assert_int_equal(h5store_set_status(s, "DONE", &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "COMPLETED"));
  /* Statuses only, every value array NULL: written as NaN, the cell still DONE. */
  c.status = status;
  assert_int_equal(h5store_put_cell(s, &c, &m), PS_OK);
  assert_int_equal(h5store_close(s, &m), PS_OK);

  unsigned char *done = NULL;
  assert_int_equal(h5store_open_resume(t->path, &L, &s, &done, &m), PS_OK);
  for (size_t id = 0; id < N_CELLS; id++) assert_int_equal(done[id], id == 3);
  free(done);
  assert_int_equal(h5store_close(s, &m), PS_OK);
  assert_no_open_hdf5_objects();
}

static void test_reader_errors(void **state) {
  test_files *t = *state;
  h5read *r = (h5read *)1;
  ps_msg m = {{0}};
  assert_int_equal(h5read_open(t->path, &r, &m), PS_EIO); /* does not exist yet */
  assert_null(r);
  assert_non_null(strstr(m.text, t->path));

  FILE *f = fopen(t->path, "w");
  fputs("[experiment]\nname = not hdf5\n", f);
  fclose(f);
  assert_int_equal(h5read_open(t->path, &r, &m), PS_EFORMAT); /* neither sealed nor HDF5 */
  assert_non_null(strstr(m.text, t->path));

  write_fixture(t->path, NULL);
  assert_int_equal(h5read_open(t->path, &r, &m), PS_OK);
  double *values = (double *)1;
  assert_int_equal(h5read_array(r, "metrics/bt/regret", &values, &m), PS_EINVAL);
  assert_null(values);
  assert_non_null(strstr(m.text, "param_err, logloss, wall"));
  assert_non_null(strstr(m.text, t->path));
  assert_int_equal(h5read_array(r, "metrics/ppo/regret", &values, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "bt, dpo"));
  assert_int_equal(h5read_array(r, "truth/optimal_value", &values, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "bayes_logloss"));
  assert_int_equal(h5read_array(r, "theory/x", &values, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "rate_bound, regret_bound"));
  assert_int_equal(h5read_array(r, "metrics/bt", &values, &m), PS_EINVAL);
  assert_int_equal(h5read_array(r, "status/bt", &values, &m), PS_EINVAL);
  assert_int_equal(h5read_array(r, "truth/bayes_logloss/x", &values, &m), PS_EINVAL);
  h5read_close(r);
  assert_no_open_hdf5_objects();
}

/* No sweep axes: only replicates; /cells has no index member. */
static void test_replicates_only(void **state) {
  test_files *t = *state;
  h5store_layout L = fixture_layout();
  L.n_axes = 0;
  L.axes = NULL;
  L.n_replicates = 5;
  L.n_estimators = 1;
  L.n_truth = L.n_theory = 0;
  h5store *s = NULL;
  ps_msg m = {{0}};
  int rc = h5store_create(t->path, &L, &s, &m);
  if (rc) print_error("create: %s\n", m.text);
  assert_int_equal(rc, PS_OK);
  double bt[3] = {0.731, -2.5, 4.0625};
  const double *metrics[1] = {bt};
  int status[1] = {PS_OK};
  h5store_cell c = {.cell_id = 3, .metrics = metrics, .status = status,
                    .cell_status = H5STORE_CELL_DONE, .iterations = 9, .wall_seconds = 1.5};
  assert_int_equal(h5store_put_cell(s, &c, &m), PS_OK);
  assert_int_equal(h5store_close(s, &m), PS_OK);

  h5read *r = NULL;
  assert_int_equal(h5read_open(t->path, &r, &m), PS_OK);
  assert_int_equal(h5read_n_axes(r), 0);
  assert_int_equal(h5read_n_replicates(r), 5);
  double *values = NULL;
  assert_int_equal(h5read_array(r, "metrics/bt/logloss", &values, &m), PS_OK);
  for (size_t i = 0; i < 5; i++)
    assert_true(i == 3 ? values[i] == -2.5 : isnan(values[i]));
  free(values);
  assert_int_equal(h5read_array(r, "truth/bayes_logloss", &values, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "none"));
  size_t pending, done, failed;
  assert_int_equal(h5read_cell_counts(r, &pending, &done, &failed, &m), PS_OK);
  assert_int_equal(pending, 4);
  assert_int_equal(done, 1);
  h5read_close(r);

  unsigned char *mask = NULL;
  assert_int_equal(h5store_open_resume(t->path, &L, &s, &mask, &m), PS_OK);
  for (size_t i = 0; i < 5; i++) assert_int_equal(mask[i], i == 3);
  free(mask);
  assert_int_equal(h5store_close(s, &m), PS_OK);
  assert_no_open_hdf5_objects();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_write_and_read, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_format, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume_mismatch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reader_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_replicates_only, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
