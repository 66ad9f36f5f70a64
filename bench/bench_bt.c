/* bench_bt.c — Bradley-Terry fit speed: prefsim against liblinear and scikit-learn.
 *
 *   bench_bt items     m = 1,000 items, n = 200,000 uniformly random ordered pairs,
 *                      BT truth theta*_y ~ N(0, 1), logistic link, no flips
 *   bench_bt features  10,000 contexts x 8 responses, d = 64, phi ~ N(0, I),
 *                      ||theta*|| = 3, n = 1,000,000; then the "data pass" table
 *   bench_bt csv       the items data as a winner,loser CSV and as libsvm rows:
 *                      the whole `prefsim fit` process against `liblinear-train`
 *
 * One objective scores every solution, prefsim's bt_objective:
 *     f(theta) = sum_i softplus(-(s_w(i) - s_l(i))) + (lambda/2) ||theta||^2.
 * Peers see the rows x_i = phi_first - phi_second with y_i = +1 when the first-shown
 * item won (else -1), so y_i w.x_i = s_w - s_l and liblinear's -s 0 / -s 7
 * objective is C f with C = 1/lambda; scikit-learn 1.2 minimises f / (C n).
 *
 * Equal accuracy is enforced, not assumed: each peer's tolerance walks down a ladder
 * and the loosest tolerance whose objective is within EQUAL_REL of prefsim's (or
 * below it) is the one timed.  Times are wall clock (CLOCK_MONOTONIC), best of reps,
 * around the fit call only (data already in the solver's own format), except in the
 * csv case where whole processes are timed.  Memory: "stored" is bytes per comparison
 * of the input arrays; "fit peak" is the extra resident memory during the first fit
 * (VmHWM after /proc/self/clear_refs reset), divided by n. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linear.h>
#include <malloc.h>
#include <math.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "../core/numerics.h"
#include "../estimators/bt.h"
#include "../core/rng.h"
#include "../sim/sim.h"

extern char **environ;

#define EQUAL_REL 1e-10 /* "equal objective": ten significant digits of f */
#define SEED 20261127u
#define LADDER_BUDGET 60.0 /* seconds: a peer run slower than this ends its ladder */

typedef struct {
  const char *kind;    /* items | features | csv */
  double lambda;       /* L2 strength on the summed loss */
  size_t n;            /* comparisons */
  int reps;            /* best of */
  const char *tmp;     /* scratch directory for peer files */
  const char *python;  /* Debian python3 with sklearn */
  const char *sk_script;
  const char *prefsim; /* binary for the csv case */
  int peers;           /* 0: prefsim and the data pass only (quick look while tuning) */
} bench_opts;

typedef struct {
  world w;
  population pop;
  pref_data data;
  pref_features f;
} bench_case;

typedef struct {
  char solver[48];
  char setting[128];
  double seconds;
  double objective;
  double grad_norm;
  int iterations; /* -1: not reported */
  int matched;    /* objective within EQUAL_REL of prefsim's */
  double peak_per_cmp;  /* bytes; < 0 unknown */
  double store_per_cmp; /* bytes; < 0 unknown */
} bench_row;

/* --------------------------------------------------------------- clocks, memory */

static double bench_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long status_kb(const char *key) {
  FILE *fp = fopen("/proc/self/status", "r");
  if (!fp) return -1;
  char line[256];
  long v = -1;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, fp))
    if (!strncmp(line, key, kl)) {
      v = strtol(line + kl, NULL, 10);
      break;
    }
  fclose(fp);
  return v;
}

/* Start a peak-memory window: return freed heap to the OS and reset VmHWM. */
static long peak_begin(void) {
  malloc_trim(0);
  FILE *fp = fopen("/proc/self/clear_refs", "w");
  if (!fp) return -1;
  fputs("5", fp);
  fclose(fp);
  return status_kb("VmRSS:");
}

/* Extra peak resident bytes since peak_begin, per comparison (-1 unknown). */
static double peak_end(long base_kb, size_t n) {
  long hwm = status_kb("VmHWM:");
  if (base_kb < 0 || hwm < 0) return -1;
  return (double)(hwm - base_kb) * 1024.0 / (double)n;
}

/* ------------------------------------------------------------------ the data */

static void case_free(bench_case *c) {
  pref_data_free(&c->data);
  population_free(&c->pop);
  world_free(&c->w);
}

static int case_build(bench_case *c, int features, size_t n) {
  memset(c, 0, sizeof *c);
  ps_msg m;
  gsl_rng *r = ps_rng_alloc(), *rq = ps_rng_alloc(), *rj = ps_rng_alloc();
  if (!r || !rq || !rj) return PS_ENOMEM;
  world_spec ws = {.kind = features ? WORLD_FEATURES : WORLD_ITEMS,
                   .items = 1000, .contexts = 10000, .responses = 8, .dim = 64, .feature_scale = 1.0};
  population_spec ps = {.scale = 1.0, .norm = 3.0};
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1.0, .flip = 0.0};
  design_spec ds = {.kind = DESIGN_UNIFORM, .ref_temperature = 1.0, .ref = REF_REWARD};
  ps_rng_reset(r, SEED, PS_STREAM_WORLD, 0, 0, 0);
  int s = world_alloc(&c->w, &ws, r, &m);
  if (s == PS_OK) {
    ps_rng_reset(r, SEED, PS_STREAM_POPULATION, 0, 0, 0);
    s = population_alloc(&c->pop, &c->w, &ps, r, &m);
  }
  if (s == PS_OK) {
    ps_rng_reset(rq, SEED, PS_STREAM_QUERIES, 0, 0, 0);
    ps_rng_reset(rj, SEED, PS_STREAM_JUDGEMENTS, 0, 0, 0);
    s = design_simulate(&c->data, n, &c->w, &c->pop, &ns, &ds, rq, rj, &m);
  }
  if (s == PS_OK) {
    /* the full stored format: one annotator column, as real data carries */
    c->data.annotator = calloc(n, sizeof(int32_t));
    if (!c->data.annotator) s = PS_ENOMEM;
  }
  gsl_rng_free(r);
  gsl_rng_free(rq);
  gsl_rng_free(rj);
  if (s != PS_OK) {
    fprintf(stderr, "bench_bt: building the data failed: %s\n", m.text);
    case_free(c);
    return s;
  }
  c->f = world_features(&c->w);
  return PS_OK;
}

static double stored_per_cmp(const pref_data *d) {
  double b = 2 * sizeof(int32_t);
  if (d->annotator) b += sizeof(int32_t);
  if (d->first_won) b += 1;
  if (d->count) b += sizeof(double);
  return b;
}

static int32_t row_first(const pref_data *d, size_t i) { return pref_first(d, i); }
static int32_t row_second(const pref_data *d, size_t i) { return pref_second(d, i); }
static double row_label(const pref_data *d, size_t i) {
  return (!d->first_won || d->first_won[i]) ? 1.0 : -1.0;
}

/* ----------------------------------------------------------- scoring solutions */

static double score(const bench_case *c, double lambda, const double *theta, double *grad_norm) {
  bt_options o = bt_options_default();
  o.l2 = lambda;
  double *g = malloc(c->f.d * sizeof(double));
  double f = bt_objective(&c->data, &c->f, &o, theta, g, NULL, NULL), s = 0;
  for (size_t k = 0; k < c->f.d; k++) s += g[k] * g[k];
  *grad_norm = sqrt(s);
  free(g);
  return f;
}

static int equal_accuracy(double f, double f_ref) { return f <= f_ref + EQUAL_REL * fabs(f_ref); }

/* ------------------------------------------------------------------- prefsim */

static int run_prefsim(const bench_case *c, const bench_opts *op, bench_row *row, double *theta_out) {
  bt_options o = bt_options_default();
  o.l2 = op->lambda;
  snprintf(row->solver, sizeof row->solver, "prefsim bt_fit");
  snprintf(row->setting, sizeof row->setting, "Newton-CG tol=%.0e", o.tol);
  row->seconds = INFINITY;
  row->store_per_cmp = stored_per_cmp(&c->data);
  for (int rep = 0; rep < op->reps; rep++) {
    bt_result res;
    ps_msg m;
    long base = rep == 0 ? peak_begin() : 0;
    double t0 = bench_now();
    int s = bt_fit(&c->data, &c->f, &o, &res, &m);
    double t = bench_now() - t0;
    if (rep == 0) row->peak_per_cmp = peak_end(base, c->data.n);
    if (s != PS_OK) {
      fprintf(stderr, "bench_bt: bt_fit failed: %s\n", m.text);
      bt_result_free(&res);
      return s;
    }
    if (t < row->seconds) row->seconds = t;
    row->iterations = res.iterations;
    memcpy(theta_out, res.theta, c->f.d * sizeof(double));
    bt_result_free(&res);
  }
  row->objective = score(c, op->lambda, theta_out, &row->grad_norm);
  row->matched = 1;
  return PS_OK;
}

/* prefsim's Newton/CG counts for the report (one extra fit, not timed) */
static void prefsim_counts(const bench_case *c, double lambda, int *newton, int *cg) {
  bt_options o = bt_options_default();
  o.l2 = lambda;
  bt_result res;
  bt_fit(&c->data, &c->f, &o, &res, NULL);
  *newton = res.iterations;
  *cg = res.cg_iterations;
  bt_result_free(&res);
}

/* ----------------------------------------------------------------- liblinear */

typedef struct {
  struct problem prob;
  struct feature_node *nodes;
  struct feature_node **rows;
  double *y;
  size_t bytes;
} ll_problem;

static void ll_quiet(const char *s) { (void)s; }

static void ll_problem_free(ll_problem *p) {
  free(p->nodes);
  free(p->rows);
  free(p->y);
  memset(p, 0, sizeof *p);
}

/* rows x_i = phi_first - phi_second (sparse e_a - e_b for items, ascending index) */
static int ll_problem_build(ll_problem *p, const bench_case *c) {
  const pref_data *d = &c->data;
  size_t n = d->n, dim = c->f.d, per = c->f.phi ? dim + 1 : 3;
  memset(p, 0, sizeof *p);
  p->nodes = malloc(n * per * sizeof *p->nodes);
  p->rows = malloc(n * sizeof *p->rows);
  p->y = malloc(n * sizeof *p->y);
  if (!p->nodes || !p->rows || !p->y) {
    ll_problem_free(p);
    return PS_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    struct feature_node *x = p->nodes + i * per;
    int32_t a = row_first(d, i), b = row_second(d, i);
    p->rows[i] = x;
    p->y[i] = row_label(d, i);
    if (!c->f.phi) {
      int lo = a < b ? a : b, hi = a < b ? b : a;
      x[0].index = lo + 1;
      x[0].value = lo == a ? 1.0 : -1.0;
      x[1].index = hi + 1;
      x[1].value = hi == a ? 1.0 : -1.0;
      x[2].index = -1;
    } else {
      const double *pa = c->f.phi + (size_t)a * dim, *pb = c->f.phi + (size_t)b * dim;
      for (size_t k = 0; k < dim; k++) {
        x[k].index = (int)k + 1;
        x[k].value = pa[k] - pb[k];
      }
      x[dim].index = -1;
    }
  }
  p->prob.l = (int)n;
  p->prob.n = (int)dim;
  p->prob.x = p->rows;
  p->prob.y = p->y;
  p->prob.bias = -1;
  p->bytes = n * (per * sizeof *p->nodes + sizeof *p->rows + sizeof *p->y);
  return PS_OK;
}

/* w of a binary liblinear model in the orientation "positive = first-shown won" */
static void ll_weights(const struct model *mdl, double *w, size_t dim) {
  double sign = mdl->label[0] == 1 ? 1.0 : -1.0;
  for (size_t k = 0; k < dim; k++) w[k] = (int)k < mdl->nr_feature ? sign * mdl->w[k] : 0.0;
}

/* Train in a forked child so that a slow solver can be cut off after LADDER_BUDGET
 * seconds (SIGALRM).  w (dim doubles), the fit time and the peak extra resident
 * bytes per comparison come back through a pipe.  1 on timeout or failure. */
static int ll_train_child(const ll_problem *p, const struct parameter *par, size_t dim, size_t n, double *w,
                          double *seconds, double *peak) {
  int fd[2];
  if (pipe(fd)) return 1;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    close(fd[0]);
    alarm((unsigned)LADDER_BUDGET);
    long base = peak_begin();
    double t0 = bench_now();
    struct model *mdl = train(&p->prob, par);
    double t = bench_now() - t0, pk = peak_end(base, n);
    double *buf = malloc((dim + 2) * sizeof(double));
    if (!buf) _exit(1);
    ll_weights(mdl, buf, dim);
    buf[dim] = t;
    buf[dim + 1] = pk;
    const char *b = (const char *)buf;
    size_t left = (dim + 2) * sizeof(double);
    while (left) {
      ssize_t k = write(fd[1], b, left);
      if (k <= 0) _exit(1);
      b += k;
      left -= (size_t)k;
    }
    _exit(0);
  }
  close(fd[1]);
  double *buf = malloc((dim + 2) * sizeof(double));
  size_t want = (dim + 2) * sizeof(double), got = 0;
  while (buf && got < want) {
    ssize_t k = read(fd[0], (char *)buf + got, want - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
  }
  close(fd[0]);
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  int ok = buf && got == want && WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
  if (ok) {
    memcpy(w, buf, dim * sizeof(double));
    *seconds = buf[dim];
    *peak = buf[dim + 1];
  }
  free(buf);
  return !ok;
}

/* One liblinear solver: ladder of eps, then best-of-reps at the matching eps. */
static void run_liblinear(const bench_case *c, const ll_problem *p, const bench_opts *op, int solver,
                          double f_ref, bench_row *row) {
  static const double ladder[] = {1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10};
  size_t dim = c->f.d;
  double *w = malloc(dim * sizeof(double)), t = INFINITY, pk = -1;
  struct parameter par = {.solver_type = solver, .C = 1.0 / op->lambda};
  snprintf(row->solver, sizeof row->solver, "liblinear -s %d (%s)", solver,
           solver == L2R_LR ? "primal TRON" : "dual CD");
  row->iterations = -1;
  row->store_per_cmp = (double)p->bytes / (double)c->data.n;
  row->peak_per_cmp = -1;
  row->seconds = INFINITY;
  row->objective = row->grad_norm = NAN;
  for (size_t k = 0; k < sizeof ladder / sizeof *ladder; k++) {
    par.eps = ladder[k];
    const char *err = check_parameter(&p->prob, &par);
    if (err) {
      fprintf(stderr, "bench_bt: liblinear: %s\n", err);
      break;
    }
    snprintf(row->setting, sizeof row->setting, "C=%g eps=%.0e", par.C, par.eps);
    if (ll_train_child(p, &par, dim, c->data.n, w, &t, &pk)) {
      snprintf(row->setting + strlen(row->setting), sizeof row->setting - strlen(row->setting),
               " (stopped after %.0f s)", LADDER_BUDGET);
      t = INFINITY;
      break;
    }
    if (k == 0) row->peak_per_cmp = pk;
    row->objective = score(c, op->lambda, w, &row->grad_norm);
    row->matched = equal_accuracy(row->objective, f_ref);
    if (row->matched) break;
  }
  row->seconds = t;
  for (int rep = 1; rep < op->reps && isfinite(row->seconds); rep++)
    if (!ll_train_child(p, &par, dim, c->data.n, w, &t, &pk)) row->seconds = fmin(row->seconds, t);
  free(w);
}

/* ------------------------------------------------------------- scikit-learn */

static int npy_write(const char *dir, const char *name, const char *descr, size_t rows, size_t cols,
                     const void *buf, size_t elem) {
  char path[1024], head[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *fp = fopen(path, "wb");
  if (!fp) return PS_EIO;
  int len = cols ? snprintf(head, sizeof head, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }",
                            descr, rows, cols)
                 : snprintf(head, sizeof head, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }",
                            descr, rows);
  size_t total = 10 + (size_t)len + 1, pad = (64 - total % 64) % 64;
  uint16_t hl = (uint16_t)(len + pad + 1);
  fwrite("\x93NUMPY\x01\x00", 1, 8, fp);
  unsigned char le[2] = {(unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
  fwrite(le, 1, 2, fp);
  fwrite(head, 1, (size_t)len, fp);
  for (size_t i = 0; i < pad; i++) fputc(' ', fp);
  fputc('\n', fp);
  size_t count = rows * (cols ? cols : 1);
  int ok = fwrite(buf, elem, count, fp) == count;
  ok &= fclose(fp) == 0;
  return ok ? PS_OK : PS_EIO;
}

/* Write the peer rows: CSR (items) or dense X (features), and y. */
static int sk_write(const bench_case *c, const char *dir, const double *X) {
  const pref_data *d = &c->data;
  size_t n = d->n;
  double *y = malloc(n * sizeof(double));
  if (!y) return PS_ENOMEM;
  for (size_t i = 0; i < n; i++) y[i] = row_label(d, i);
  int s = npy_write(dir, "y.npy", "<f8", n, 0, y, sizeof(double));
  free(y);
  if (s != PS_OK) return s;
  if (c->f.phi) return npy_write(dir, "X.npy", "<f8", n, c->f.d, X, sizeof(double));
  int64_t *indptr = malloc((n + 1) * sizeof(int64_t)), shape[2] = {(int64_t)n, (int64_t)c->f.d};
  int32_t *indices = malloc(2 * n * sizeof(int32_t));
  double *data = malloc(2 * n * sizeof(double));
  if (!indptr || !indices || !data) {
    free(indptr);
    free(indices);
    free(data);
    return PS_ENOMEM;
  }
  for (size_t i = 0; i <= n; i++) indptr[i] = (int64_t)(2 * i);
  for (size_t i = 0; i < n; i++) {
    int32_t a = row_first(d, i), b = row_second(d, i);
    indices[2 * i] = a < b ? a : b;
    indices[2 * i + 1] = a < b ? b : a;
    data[2 * i] = a < b ? 1.0 : -1.0;
    data[2 * i + 1] = -data[2 * i];
  }
  s = npy_write(dir, "indptr.npy", "<i8", n + 1, 0, indptr, sizeof(int64_t));
  if (s == PS_OK) s = npy_write(dir, "indices.npy", "<i4", 2 * n, 0, indices, sizeof(int32_t));
  if (s == PS_OK) s = npy_write(dir, "data.npy", "<f8", 2 * n, 0, data, sizeof(double));
  if (s == PS_OK) s = npy_write(dir, "shape.npy", "<i8", 2, 0, shape, sizeof(int64_t));
  free(indptr);
  free(indices);
  free(data);
  return s;
}

static int sk_run(const bench_case *c, const bench_opts *op, double f_ref, bench_row *row, char *version,
                  size_t vlen) {
  char cmd[2048], path[1024], key[32], val[96];
  snprintf(row->solver, sizeof row->solver, "scikit-learn lbfgs");
  row->iterations = -1;
  row->peak_per_cmp = -1;
  row->store_per_cmp = c->f.phi ? (double)(c->f.d + 1) * 8 : 2 * (8 + 4) + 8 + 8;
  snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %s %.17g %.17g %d", op->python, op->sk_script, op->tmp,
           c->f.phi ? "features" : "items", op->lambda, f_ref, op->reps);
  if (system(cmd) != 0) {
    fprintf(stderr, "bench_bt: scikit-learn run failed: %s\n", cmd);
    return PS_EIO;
  }
  snprintf(path, sizeof path, "%s/sk_result.txt", op->tmp);
  FILE *fp = fopen(path, "r");
  if (!fp) return PS_EIO;
  while (fscanf(fp, "%31s %95s", key, val) == 2) {
    if (!strcmp(key, "version")) snprintf(version, vlen, "scikit-learn %s", val);
    if (!strcmp(key, "numpy") || !strcmp(key, "scipy") || !strcmp(key, "blas")) {
      size_t l = strlen(version);
      snprintf(version + l, vlen - l, ", %s %s", key, val);
    }
    if (!strcmp(key, "tol")) snprintf(row->setting, sizeof row->setting, "C=%g tol=%s", 1 / op->lambda, val);
    if (!strcmp(key, "seconds")) row->seconds = atof(val);
    if (!strcmp(key, "n_iter")) row->iterations = atoi(val);
  }
  fclose(fp);
  double *w = calloc(c->f.d, sizeof(double));
  snprintf(path, sizeof path, "%s/sk_coef.bin", op->tmp);
  fp = fopen(path, "rb");
  size_t got = fp ? fread(w, sizeof(double), c->f.d, fp) : 0;
  if (fp) fclose(fp);
  if (got != c->f.d) {
    free(w);
    return PS_EIO;
  }
  row->objective = score(c, op->lambda, w, &row->grad_norm);
  row->matched = equal_accuracy(row->objective, f_ref);
  free(w);
  return PS_OK;
}

/* -------------------------------------------------------------------- output */

static void print_rows(const bench_row *rows, size_t k, double f_ref) {
  printf("| solver | setting | time (s) | prefsim speed-up | objective f | f - f_prefsim | grad norm | "
         "iterations | equal accuracy | stored B/cmp | fit peak B/cmp |\n");
  printf("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n");
  for (size_t i = 0; i < k; i++) {
    const bench_row *r = rows + i;
    char it[16] = "-", pk[16] = "-", st[16] = "-";
    if (r->iterations >= 0) snprintf(it, sizeof it, "%d", r->iterations);
    if (r->peak_per_cmp >= 0) snprintf(pk, sizeof pk, "%.1f", r->peak_per_cmp);
    if (r->store_per_cmp >= 0) snprintf(st, sizeof st, "%.0f", r->store_per_cmp);
    char tm[32], sp[32];
    snprintf(tm, sizeof tm, isfinite(r->seconds) ? "%.4f" : "> %.0f", isfinite(r->seconds) ? r->seconds : LADDER_BUDGET);
    snprintf(sp, sizeof sp, isfinite(r->seconds) ? "%.2fx" : "> %.0fx",
             (isfinite(r->seconds) ? r->seconds : LADDER_BUDGET) / rows[0].seconds);
    printf("| %s | %s | %s | %s | %.12g | %+.2e | %.2e | %s | %s | %s | %s |\n", r->solver, r->setting,
           tm, sp, r->objective, r->objective - f_ref, r->grad_norm, it,
           r->matched ? "yes" : "NO", st, pk);
  }
}

/* The target: prefsim at least 2x faster than the faster peer at equal accuracy. */
static void print_verdict(const bench_row *rows, size_t k, const char *what) {
  size_t best = 0;
  for (size_t i = 1; i < k; i++)
    if (rows[i].matched && (!best || rows[i].seconds < rows[best].seconds)) best = i;
  if (!best) {
    printf("\n%s: no peer reached prefsim's objective (see the table)\n", what);
    return;
  }
  double ratio = rows[best].seconds / rows[0].seconds;
  printf("\n**%s: prefsim %.4f s vs fastest peer at equal accuracy (%s) %.4f s: %.2fx — target >= 2x: %s**\n",
         what, rows[0].seconds, rows[best].solver, rows[best].seconds, ratio, ratio >= 2 ? "MET" : "MISSED");
}

/* ------------------------------------------------------------ the data pass */

/* The minimal hand-written pass: margins from precomputed item scores s, loss and
 * the gradient scatter a (item space).  Same formulas as any stable logistic loss. */
static double plain_pass(const int32_t *win, const int32_t *los, size_t n, const double *s, double *a,
                         size_t n_items) {
  memset(a, 0, n_items * sizeof(double));
  double loss = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t w = win[i], l = los[i];
    double z = s[w] - s[l], e = exp(-fabs(z));
    loss += (z < 0 ? -z : 0) + log1p(e);
    double sg = (z >= 0 ? e : 1.0) / (1 + e); /* sigma(-z) */
    a[w] -= sg;
    a[l] += sg;
  }
  return loss;
}

/* s = Phi theta and grad = Phi^T a around the plain pass: the same result as
 * bt_objective, written the obvious way. */
static double plain_full(const bench_case *c, const double *theta, double lambda, double *s, double *a,
                         double *grad) {
  size_t N = c->f.n_items, dim = c->f.d;
  const double *phi = c->f.phi;
  for (size_t i = 0; i < N; i++) {
    double acc = 0;
    for (size_t k = 0; k < dim; k++) acc += phi[i * dim + k] * theta[k];
    s[i] = acc;
  }
  double loss = plain_pass(c->data.winner, c->data.loser, c->data.n, s, a, N), pen = 0;
  memset(grad, 0, dim * sizeof(double));
  for (size_t i = 0; i < N; i++)
    for (size_t k = 0; k < dim; k++) grad[k] += a[i] * phi[i * dim + k];
  for (size_t k = 0; k < dim; k++) {
    grad[k] += lambda * theta[k];
    pen += theta[k] * theta[k];
  }
  return loss + 0.5 * lambda * pen;
}

/* The naive pass over materialised rows x_i = phi_w - phi_l (n x d doubles). */
static double naive_rows(const double *X, size_t n, size_t dim, const double *theta, double lambda,
                         double *grad) {
  double loss = 0, pen = 0;
  memset(grad, 0, dim * sizeof(double));
  for (size_t i = 0; i < n; i++) {
    const double *x = X + i * dim;
    double z = 0;
    for (size_t k = 0; k < dim; k++) z += x[k] * theta[k];
    double e = exp(-fabs(z));
    loss += (z < 0 ? -z : 0) + log1p(e);
    double sg = (z >= 0 ? e : 1.0) / (1 + e);
    for (size_t k = 0; k < dim; k++) grad[k] -= sg * x[k];
  }
  for (size_t k = 0; k < dim; k++) {
    grad[k] += lambda * theta[k];
    pen += theta[k] * theta[k];
  }
  return loss + 0.5 * lambda * pen;
}

static double max_abs_diff(const double *x, const double *y, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i] - y[i]));
  return m;
}

static void data_pass(const bench_case *c, const double *theta, const double *X, double lambda, int reps) {
  size_t N = c->f.n_items, dim = c->f.d, n = c->data.n;
  bt_options o = bt_options_default();
  o.l2 = lambda;
  double *g_ps = malloc(dim * sizeof(double)), *g_plain = malloc(dim * sizeof(double));
  double *g_naive = malloc(dim * sizeof(double)), *s = malloc(N * sizeof(double));
  double *a = malloc(N * sizeof(double));
  double t_ps = INFINITY, t_loop = INFINITY, t_full = INFINITY, t_naive = INFINITY;
  double f_ps = 0, f_full = 0, f_naive = 0;
  /* item scores for the loop-only variant, computed once outside the clock */
  if (c->f.phi)
    for (size_t i = 0; i < N; i++) {
      double acc = 0;
      for (size_t k = 0; k < dim; k++) acc += c->f.phi[i * dim + k] * theta[k];
      s[i] = acc;
    }
  else
    memcpy(s, theta, N * sizeof(double));
  double *s_fixed = malloc(N * sizeof(double));
  memcpy(s_fixed, s, N * sizeof(double));
  for (int rep = 0; rep < reps; rep++) {
    double t0 = bench_now();
    f_ps = bt_objective(&c->data, &c->f, &o, theta, g_ps, NULL, NULL);
    double t1 = bench_now();
    volatile double sink = plain_pass(c->data.winner, c->data.loser, n, s_fixed, a, N);
    double t2 = bench_now();
    (void)sink;
    t_ps = fmin(t_ps, t1 - t0);
    t_loop = fmin(t_loop, t2 - t1);
    if (c->f.phi) {
      t0 = bench_now();
      f_full = plain_full(c, theta, lambda, s, a, g_plain);
      t1 = bench_now();
      t_full = fmin(t_full, t1 - t0);
      if (X) {
        t0 = bench_now();
        f_naive = naive_rows(X, n, dim, theta, lambda, g_naive);
        t1 = bench_now();
        t_naive = fmin(t_naive, t1 - t0);
      }
    }
  }
  printf("| pass | time (ms) | ns / comparison | prefsim / this | bytes read per comparison |\n");
  printf("|---|---:|---:|---:|---:|\n");
  printf("| prefsim bt_objective (f + gradient; for features incl. Phi theta and Phi^T a) | %.3f | %.2f | 1.00 | 8 |\n",
         1e3 * t_ps, 1e9 * t_ps / (double)n);
  printf("| plain C loop: int32 winner/loser, gather precomputed scores, softplus, scatter | %.3f | %.2f | "
         "%.2f | 8 |\n",
         1e3 * t_loop, 1e9 * t_loop / (double)n, t_ps / t_loop);
  if (c->f.phi) {
    printf("| plain C loop + Phi theta + Phi^T a (same result as bt_objective) | %.3f | %.2f | %.2f | 8 |\n",
           1e3 * t_full, 1e9 * t_full / (double)n, t_ps / t_full);
    if (X)
      printf("| naive pass over materialised rows (n x %zu doubles) | %.3f | %.2f | %.2f | %zu |\n", dim,
             1e3 * t_naive, 1e9 * t_naive / (double)n, t_ps / t_naive, dim * sizeof(double));
  }
  double ratio = t_ps / t_loop;
  printf("\n**data pass (%s): prefsim / plain loop = %.2f", c->f.phi ? "features" : "items", ratio);
  if (c->f.phi) printf(" (with the projections in the plain loop too: %.2f)", t_ps / t_full);
  printf(" — target <= 1.5: %s**\n", ratio <= 1.5 ? "MET" : "MISSED");
  if (c->f.phi) {
    printf("\nagreement: |f_prefsim - f_plain| = %.2e, max |grad diff| = %.2e", fabs(f_ps - f_full),
           max_abs_diff(g_ps, g_plain, dim));
    if (X)
      printf("; |f_prefsim - f_naive| = %.2e, max |grad diff| = %.2e", fabs(f_ps - f_naive),
             max_abs_diff(g_ps, g_naive, dim));
    printf("\n");
  }
  free(g_ps);
  free(g_plain);
  free(g_naive);
  free(s);
  free(s_fixed);
  free(a);
}

/* ------------------------------------------------------------- fit cases */

static int fit_case(const bench_opts *op, int features) {
  bench_case c;
  if (case_build(&c, features, op->n) != PS_OK) return 1;
  size_t dim = c.f.d, n = c.data.n;
  bench_row rows[4];
  memset(rows, 0, sizeof rows);
  double *theta = malloc(dim * sizeof(double));
  if (!theta) return 1;
  printf("\n## Case %s: ", features ? "features" : "items");
  if (features)
    printf("%zu contexts x %zu responses, d = %zu, phi ~ N(0, I), ||theta*|| = 3, n = %zu comparisons, "
           "lambda = %g (C = %g)\n\n",
           c.w.n_contexts, c.w.m, dim, n, op->lambda, 1 / op->lambda);
  else
    printf("m = %zu items, theta* ~ N(0, 1), n = %zu uniformly random pairs, lambda = %g (C = %g)\n\n", dim, n,
           op->lambda, 1 / op->lambda);
  fflush(stdout);
  if (run_prefsim(&c, op, &rows[0], theta) != PS_OK) return 1;
  double f_ref = rows[0].objective;
  int newton = 0, cg = 0;
  prefsim_counts(&c, op->lambda, &newton, &cg);

  /* materialised rows, for the naive data pass and for scikit-learn's dense X */
  double *X = NULL;
  if (features) {
    X = malloc(n * dim * sizeof(double));
    if (X)
      for (size_t i = 0; i < n; i++) {
        const double *pa = c.f.phi + (size_t)row_first(&c.data, i) * dim;
        const double *pb = c.f.phi + (size_t)row_second(&c.data, i) * dim;
        for (size_t k = 0; k < dim; k++) X[i * dim + k] = pa[k] - pb[k];
      }
  }

  char skver[256] = "scikit-learn (not run)";
  int have_sk = 0;
  size_t nrows = 1;
  if (op->peers) {
    ll_problem llp;
    if (ll_problem_build(&llp, &c) != PS_OK) return 1;
    set_print_string_function(ll_quiet);
    run_liblinear(&c, &llp, op, L2R_LR, f_ref, &rows[1]);
    run_liblinear(&c, &llp, op, L2R_LR_DUAL, f_ref, &rows[2]);
    ll_problem_free(&llp);
    if (sk_write(&c, op->tmp, X) == PS_OK) have_sk = sk_run(&c, op, f_ref, &rows[3], skver, sizeof skver) == PS_OK;
    nrows = have_sk ? 4 : 3;
  }
  if (X) { /* the naive pass wants X in the sign convention winner - loser */
    for (size_t i = 0; i < n; i++)
      if (row_label(&c.data, i) < 0)
        for (size_t k = 0; k < dim; k++) X[i * dim + k] = -X[i * dim + k];
  }
  printf("peers: liblinear %d (linked, train()), %s\n\n", LIBLINEAR_VERSION, skver);
  print_rows(rows, nrows, f_ref);
  printf("\nprefsim: %d Newton iterations, %d CG iterations (Hessian-vector products); equal accuracy = "
         "objective within %.0e relative of prefsim's; each peer's tolerance is the loosest of a 10x ladder "
         "that reaches it\n",
         newton, cg, EQUAL_REL);
  if (have_sk && !rows[3].matched)
    printf("scikit-learn did not reach equal accuracy at any tol down to 1e-12 (lbfgs stops on scipy's ftol = "
           "64 eps, which sklearn sets); its row is its tightest run, %.1e relative above prefsim\n",
           (rows[3].objective - f_ref) / fabs(f_ref));
  if (op->peers) print_verdict(rows, nrows, features ? "features" : "items");
  printf("\n### Data pass (%s): one objective + gradient evaluation at the fitted theta, best of %d\n\n",
         features ? "features" : "items", 5 * op->reps);
  data_pass(&c, theta, X, op->lambda, 5 * op->reps);
  double during = rows[0].store_per_cmp + rows[0].peak_per_cmp;
  printf("\n**memory (%s): prefsim stores %.0f bytes per comparison (winner, loser, annotator int32 + order "
         "byte) — target <= 16: %s; during bt_fit %.0f + %.1f (fit workspace) = %.1f bytes per comparison: %s**\n",
         features ? "features" : "items", rows[0].store_per_cmp, rows[0].store_per_cmp <= 16 ? "MET" : "MISSED",
         rows[0].store_per_cmp, rows[0].peak_per_cmp, during, during <= 16 ? "within 16" : "above 16");
  fflush(stdout);
  free(X);
  free(theta);
  case_free(&c);
  return 0;
}

/* ---------------------------------------------------------------- csv case */

/* Spawn argv with stdout/stderr redirected; returns the exit status (-1 on
 * spawn failure) and the wall time in *seconds. */
static int spawn_timed(char *const argv[], const char *out, const char *err, double *seconds) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  double t0 = bench_now();
  int s = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (s != 0) return -1;
  int ws;
  while (waitpid(pid, &ws, 0) < 0)
    if (errno != EINTR) return -1;
  *seconds = bench_now() - t0;
  return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
}

/* Item scores from `prefsim fit` output: lines whose first field is an item id
 * (0..m-1) and whose second field is a number.  1 when all m were found. */
static int parse_scores(const char *path, size_t m, double *theta) {
  FILE *fp = fopen(path, "r");
  if (!fp) return 0;
  unsigned char *seen = calloc(m, 1);
  char line[4096];
  size_t found = 0;
  while (fgets(line, sizeof line, fp)) {
    char *p = line, *end;
    while (*p == ' ' || *p == '"') p++;
    if (!isdigit((unsigned char)*p)) continue;
    long id = strtol(p, &end, 10);
    if (end == p || id < 0 || (size_t)id >= m) continue;
    p = end;
    while (*p == '"' || *p == ',' || *p == ' ' || *p == '\t' || *p == ';') p++;
    double v = strtod(p, &end);
    if (end == p || !isfinite(v)) continue;
    if (!seen[id]) found++;
    seen[id] = 1;
    theta[id] = v;
  }
  fclose(fp);
  free(seen);
  return found == m;
}

static int write_inputs(const bench_case *c, const char *csv, const char *svm) {
  FILE *fc = fopen(csv, "w"), *fs = fopen(svm, "w");
  if (!fc || !fs) {
    if (fc) fclose(fc);
    if (fs) fclose(fs);
    return PS_EIO;
  }
  fputs("winner,loser\n", fc);
  for (size_t i = 0; i < c->data.n; i++) {
    int32_t w = c->data.winner[i], l = c->data.loser[i];
    fprintf(fc, "%d,%d\n", (int)w, (int)l);
    /* x = e_lo - e_hi, y = +1 iff the winner is the lower id: both classes occur */
    if (w < l)
      fprintf(fs, "+1 %d:1 %d:-1\n", (int)w + 1, (int)l + 1);
    else
      fprintf(fs, "-1 %d:1 %d:-1\n", (int)l + 1, (int)w + 1);
  }
  int ok = fclose(fc) == 0;
  ok &= fclose(fs) == 0;
  return ok ? PS_OK : PS_EIO;
}

/* Time `argv` best of reps into r (exit status of the first failing run, else 0);
 * out holds the stdout of the last run. */
static int time_process(char *const argv[], const char *out, const char *err, int reps, bench_row *r) {
  r->seconds = INFINITY;
  for (int rep = 0; rep < reps; rep++) {
    double t = 0;
    int s = spawn_timed(argv, out, err, &t);
    if (s != 0) return s;
    r->seconds = fmin(r->seconds, t);
  }
  return 0;
}

static void first_line(const char *path, char *buf, size_t len) {
  buf[0] = 0;
  FILE *fp = fopen(path, "r");
  if (!fp) return;
  if (!fgets(buf, (int)len, fp)) buf[0] = 0;
  fclose(fp);
  buf[strcspn(buf, "\n")] = 0;
}

static int csv_case(const bench_opts *op) {
  bench_case c;
  if (case_build(&c, 0, op->n) != PS_OK) return 1;
  size_t m = c.f.n_items;
  char csv[1024], svm[1024], model[1024], out[1024], err[1024], lam[24], cost[24], eps[24];
  snprintf(csv, sizeof csv, "%s/cmp.csv", op->tmp);
  snprintf(svm, sizeof svm, "%s/cmp.svm", op->tmp);
  snprintf(model, sizeof model, "%s/cmp.model", op->tmp);
  snprintf(out, sizeof out, "%s/proc.out", op->tmp);
  snprintf(err, sizeof err, "%s/proc.err", op->tmp);
  snprintf(lam, sizeof lam, "%g", op->lambda);
  snprintf(cost, sizeof cost, "%g", 1 / op->lambda);
  if (write_inputs(&c, csv, svm) != PS_OK) {
    fprintf(stderr, "bench_bt: cannot write %s / %s\n", csv, svm);
    case_free(&c);
    return 1;
  }
  printf("\n## Case CSV process: %zu-row `winner,loser` CSV (the items data), %zu items, lambda = %g (C = %g); "
         "whole processes (read, fit, write), best of %d\n\n",
         c.data.n, m, op->lambda, 1 / op->lambda, op->reps);
  /* the in-process optimum, for the equal-accuracy check */
  bt_options o = bt_options_default();
  o.l2 = op->lambda;
  bt_result res;
  double *theta = calloc(m, sizeof(double)), *w = calloc(m, sizeof(double)), gn = 0;
  bt_fit(&c.data, &c.f, &o, &res, NULL);
  double f_ref = res.objective;
  bt_result_free(&res);

  bench_row rows[4];
  memset(rows, 0, sizeof rows);
  for (int i = 0; i < 4; i++) {
    rows[i].iterations = -1;
    rows[i].peak_per_cmp = rows[i].store_per_cmp = -1;
    rows[i].objective = rows[i].grad_norm = NAN;
  }
  /* prefsim fit: point estimates only (what liblinear-train gives), then the default
   * output with standard errors (an m x m Hessian inverse on top) */
  int have_prefsim = 1;
  for (int v = 0; v < 2 && have_prefsim; v++) {
    bench_row *r = &rows[v];
    char *argv_nose[] = {(char *)op->prefsim, "fit", "--model", "bt", "--l2", lam, "--no-se", csv, NULL};
    char *argv_se[] = {(char *)op->prefsim, "fit", "--model", "bt", "--l2", lam, csv, NULL};
    snprintf(r->solver, sizeof r->solver, "prefsim fit%s", v ? " (default: with SEs)" : "");
    snprintf(r->setting, sizeof r->setting, "--model bt --l2 %s%s", lam, v ? "" : " --no-se");
    int s = time_process(v ? argv_se : argv_nose, out, err, op->reps, r);
    if (s != 0) {
      char msg[512];
      first_line(err, msg, sizeof msg);
      printf("`%s fit --model bt --l2 %s%s %s` failed (exit %d: %s) — prefsim fit is not usable yet; "
             "rerun `make bench` once it is\n\n",
             op->prefsim, lam, v ? "" : " --no-se", csv, s, msg[0] ? msg : "no message");
      have_prefsim = 0;
      break;
    }
    if (parse_scores(out, m, theta)) {
      r->objective = score(&c, op->lambda, theta, &gn);
      r->grad_norm = gn;
      r->matched = equal_accuracy(r->objective, f_ref);
    } else {
      snprintf(r->setting + strlen(r->setting), sizeof r->setting - strlen(r->setting), " (scores not parsed)");
    }
  }
  /* liblinear-train: the default eps, then the loosest eps at equal accuracy */
  static const double ladder[] = {1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10};
  int status = 0;
  for (int pass = 0; pass < 2 && !status; pass++) {
    bench_row *r = &rows[2 + pass];
    snprintf(r->solver, sizeof r->solver, "liblinear-train%s", pass ? "" : " (default eps)");
    size_t steps = pass ? sizeof ladder / sizeof *ladder : 1; /* ladder[0] is the default */
    for (size_t k = 0; k < steps; k++) {
      snprintf(eps, sizeof eps, "%g", ladder[k]);
      char *argv[] = {"liblinear-train", "-s", "0", "-c", cost, "-B", "-1", "-e", eps, "-q", svm, model, NULL};
      if (time_process(argv, out, err, 1, r) != 0) {
        printf("liblinear-train failed (is liblinear-tools installed?)\n");
        status = 1;
        break;
      }
      struct model *mdl = load_model(model);
      if (!mdl) break;
      double sign = mdl->label[0] == 1 ? 1.0 : -1.0;
      /* feature j+1 is item j; the svm rows are oriented lower id minus higher id */
      for (size_t j = 0; j < m; j++) w[j] = (int)j < mdl->nr_feature ? sign * mdl->w[j] : 0;
      free_and_destroy_model(&mdl);
      r->objective = score(&c, op->lambda, w, &gn);
      r->grad_norm = gn;
      r->matched = equal_accuracy(r->objective, f_ref);
      snprintf(r->setting, sizeof r->setting, "-s 0 -c %s -B -1 -e %s", cost, eps);
      if (r->matched) break;
    }
    double first = r->seconds;
    char *argv[] = {"liblinear-train", "-s", "0", "-c", cost, "-B", "-1", "-e", eps, "-q", svm, model, NULL};
    if (!status && op->reps > 1) time_process(argv, out, err, op->reps - 1, r);
    r->seconds = fmin(r->seconds, first);
  }
  if (!status && have_prefsim) {
    print_rows(rows, 4, f_ref);
    printf("\nf_prefsim in this table is the in-process bt_fit optimum; process rows are scored from the "
           "scores they print (12 digits) or the model file they write\n");
    double r0 = rows[3].seconds / rows[0].seconds, r1 = rows[3].seconds / rows[1].seconds;
    printf("\n**CSV process: prefsim fit --no-se %.4f s, prefsim fit (with SEs) %.4f s vs liblinear-train at equal "
           "accuracy %.4f s: %.2fx and %.2fx (vs liblinear's default eps: %.2fx and %.2fx) — target prefsim "
           "faster: %s (no SEs), %s (with SEs)**\n",
           rows[0].seconds, rows[1].seconds, rows[3].seconds, r0, r1, rows[2].seconds / rows[0].seconds,
           rows[2].seconds / rows[1].seconds, r0 > 1 ? "MET" : "MISSED", r1 > 1 ? "MET" : "MISSED");
  } else if (!status) {
    printf("| solver | setting | time (s) | objective f | grad norm | equal accuracy |\n|---|---|---:|---:|---:|---|\n");
    for (int i = 2; i < 4; i++)
      printf("| %s | %s | %.4f | %.12g | %.2e | %s |\n", rows[i].solver, rows[i].setting, rows[i].seconds,
             rows[i].objective, rows[i].grad_norm, rows[i].matched ? "yes" : "NO");
    printf("\nin-process prefsim optimum f = %.12g; prefsim rows pending\n", f_ref);
  }
  free(theta);
  free(w);
  case_free(&c);
  return status;
}

/* ---------------------------------------------------------------------- main */

static void usage(void) {
  fprintf(stderr,
          "usage: bench_bt items|features|csv|profile-items|profile-features [--lambda L] [--n N] [--reps R] [--tmp DIR]\n"
          "                [--python PY] [--sk-script PATH] [--prefsim PATH] [--peers 0|1]\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  bench_opts op = {.kind = argv[1], .lambda = 1.0, .n = 0, .reps = 5, .tmp = "/tmp",
                   .python = "/usr/bin/python3", .sk_script = "bench/sk_fit.py", .prefsim = "./build-bench/prefsim", .peers = 1};
  for (int i = 2; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--lambda")) op.lambda = atof(v);
    else if (!strcmp(k, "--n")) op.n = (size_t)atoll(v);
    else if (!strcmp(k, "--reps")) op.reps = atoi(v);
    else if (!strcmp(k, "--tmp")) op.tmp = v;
    else if (!strcmp(k, "--python")) op.python = v;
    else if (!strcmp(k, "--sk-script")) op.sk_script = v;
    else if (!strcmp(k, "--prefsim")) op.prefsim = v;
    else if (!strcmp(k, "--peers")) op.peers = atoi(v);
    else {
      usage();
      return 2;
    }
  }
  if (!(op.lambda > 0) || op.reps < 1) {
    usage();
    return 2;
  }
  if (!strcmp(op.kind, "items")) {
    if (!op.n) op.n = 200000;
    return fit_case(&op, 0);
  }
  if (!strcmp(op.kind, "features")) {
    if (!op.n) op.n = 1000000;
    return fit_case(&op, 1);
  }
  if (!strcmp(op.kind, "profile-items") || !strcmp(op.kind, "profile-features")) {
    /* prefsim's fit alone, for `perf record` (bench/run.sh with BENCH_PERF=1) */
    int features = !strcmp(op.kind, "profile-features");
    bench_case c;
    if (case_build(&c, features, op.n ? op.n : features ? 1000000 : 200000) != PS_OK) return 1;
    bt_options o = bt_options_default();
    o.l2 = op.lambda;
    double t0 = bench_now();
    for (int rep = 0; rep < op.reps; rep++) {
      bt_result res;
      bt_fit(&c.data, &c.f, &o, &res, NULL);
      bt_result_free(&res);
    }
    printf("%d fits in %.3f s\n", op.reps, bench_now() - t0);
    case_free(&c);
    return 0;
  }
  if (!strcmp(op.kind, "csv")) {
    if (!op.n) op.n = 200000;
    return csv_case(&op);
  }
  usage();
  return 2;
}
