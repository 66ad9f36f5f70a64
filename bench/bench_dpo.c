/* bench_dpo.c — prefsim's log-linear DPO fit against PyTorch (issue #4 speed target).
 *
 * Data: C contexts x M responses, phi ~ N(0, I_d) centred per context, a softmax
 * reference pi_ref ∝ exp(theta_ref^T phi) (||theta_ref|| = 1), pairs y, y' ~ pi_ref
 * i.i.d. (y' redrawn while equal to y), BT labels with reward theta_r^T phi
 * (||theta_r|| = 3 by default, as bench_bt's features case), beta = 0.1, l2 = 0, so the population target is theta_r / beta.
 *
 * prefsim: dpo_fit (the `dpo` estimator's solver; solver AUTO = the fused solver of
 * estimators/dpo.c: exact Newton on nested subsamples of the contexts, then BFGS from
 * the exact Hessian on all rows) to ||grad|| <= 1e-10 n; also the generic exact-Hessian
 * Newton (solver = newton) as a second row.  PyTorch (bench/dpo_torch.py, float64):
 * L-BFGS with strong-Wolfe line search (on materialised rows and in item space) and a
 * Newton in torch, each timed from theta = 0 until its objective first reaches
 * prefsim's final objective within 1e-10 relative.  Both sides single-threaded
 * (OpenBLAS / OpenMP / torch threads = 1), both sides in the same process run, medians
 * of --reps repetitions (wall and CPU time).
 * Prints one markdown section (bench/run.sh appends it to bench/REPORT.md).
 *
 * usage: bench_dpo [--contexts 10000] [--responses 16] [--d 64] [--n 200000] [--reps 5]
 *                  [--tmp DIR] [--python /usr/bin/python3] [--script bench/dpo_torch.py] */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/numerics.h"
#include "../estimators/dpo.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void unit_vector(double *v, size_t d, gsl_rng *r) {
  double s = 0;
  for (size_t k = 0; k < d; k++) v[k] = gsl_ran_gaussian(r, 1), s += v[k] * v[k];
  for (size_t k = 0; k < d; k++) v[k] /= sqrt(s);
}

static size_t draw(const double *p, size_t m, gsl_rng *r) {
  double u = gsl_rng_uniform(r), c = 0;
  for (size_t j = 0; j < m; j++)
    if ((c += p[j]) > u) return j;
  return m - 1;
}

static int write_file(const char *dir, const char *name, const void *buf, size_t bytes) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *fp = fopen(path, "wb");
  if (!fp) return 1;
  size_t w = fwrite(buf, 1, bytes, fp);
  return fclose(fp) != 0 || w != bytes;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct {
  char key[64];
  char val[128];
} kv;

static const char *lookup(const kv *t, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(t[i].key, key)) return t[i].val;
  return NULL;
}

int main(int argc, char **argv) {
  size_t C = 10000, M = 16, d = 64, n = 200000;
  int reps = 5;
  double theta_norm = 3;
  const char *tmp = "/tmp", *python = "/usr/bin/python3", *script = "bench/dpo_torch.py";
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--contexts")) C = (size_t)atol(v);
    else if (!strcmp(k, "--responses")) M = (size_t)atol(v);
    else if (!strcmp(k, "--d")) d = (size_t)atol(v);
    else if (!strcmp(k, "--n")) n = (size_t)atol(v);
    else if (!strcmp(k, "--reps")) reps = atoi(v);
    else if (!strcmp(k, "--theta-norm")) theta_norm = atof(v);
    else if (!strcmp(k, "--tmp")) tmp = v;
    else if (!strcmp(k, "--python")) python = v;
    else if (!strcmp(k, "--script")) script = v;
    else {
      fprintf(stderr, "bench_dpo: unknown option %s\n", k);
      return 2;
    }
  }
  const double beta = 0.1;
  size_t N = C * M;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 20261128);
  double *phi = malloc(N * d * sizeof(double)), *log_ref = malloc(N * sizeof(double));
  double *theta_ref = malloc(d * sizeof(double)), *theta_r = malloc(d * sizeof(double));
  double *p = malloc(M * sizeof(double));
  pref_data data;
  if (!phi || !log_ref || !theta_ref || !theta_r || !p || pref_data_alloc(&data, n, N, 0, 0, 0) != PS_OK) {
    fprintf(stderr, "bench_dpo: out of memory\n");
    return 1;
  }
  unit_vector(theta_ref, d, r);
  unit_vector(theta_r, d, r);
  for (size_t k = 0; k < d; k++) theta_r[k] *= theta_norm;
  for (size_t c = 0; c < C; c++) {
    double *P = phi + c * M * d;
    for (size_t k = 0; k < M * d; k++) P[k] = gsl_ran_gaussian_ziggurat(r, 1);
    for (size_t k = 0; k < d; k++) {
      double mean = 0;
      for (size_t j = 0; j < M; j++) mean += P[j * d + k];
      mean /= (double)M;
      for (size_t j = 0; j < M; j++) P[j * d + k] -= mean;
    }
    for (size_t j = 0; j < M; j++) {
      double s = 0;
      for (size_t k = 0; k < d; k++) s += theta_ref[k] * P[j * d + k];
      log_ref[c * M + j] = s;
    }
    double a = ps_log_sum_exp(log_ref + c * M, M);
    for (size_t j = 0; j < M; j++) log_ref[c * M + j] -= a;
  }
  for (size_t i = 0; i < n; i++) {
    size_t c = gsl_rng_uniform_int(r, C);
    for (size_t j = 0; j < M; j++) p[j] = exp(log_ref[c * M + j]);
    size_t y = draw(p, M, r), z;
    do z = draw(p, M, r);
    while (z == y);
    size_t a = c * M + y, b = c * M + z;
    double mg = 0;
    for (size_t k = 0; k < d; k++) mg += theta_r[k] * (phi[a * d + k] - phi[b * d + k]);
    int a_wins = gsl_rng_uniform(r) < ps_sigmoid(mg);
    data.winner[i] = (int32_t)(a_wins ? a : b);
    data.loser[i] = (int32_t)(a_wins ? b : a);
  }
  pref_features f = {.n_items = N, .d = d, .phi = phi, .n_contexts = C, .item_context = NULL, .log_ref = log_ref};

  /* prefsim: median of reps (wall and CPU separately; the machine is shared) */
  dpo_options o = dpo_options_default();
  o.beta = beta;
  dpo_result res = {0};
  ps_msg m;
  double *tw = malloc((size_t)reps * sizeof(double)), *tcpu = malloc((size_t)reps * sizeof(double));
  if (!tw || !tcpu || reps < 1) {
    fprintf(stderr, "bench_dpo: bad --reps or out of memory\n");
    return 1;
  }
  for (int rep = 0; rep < reps; rep++) {
    dpo_result_free(&res);
    double t0 = now(), c0 = cpu_now();
    int s = dpo_fit(&data, &f, &o, NULL, &res, &m);
    tw[rep] = now() - t0, tcpu[rep] = cpu_now() - c0;
    if (s != PS_OK) {
      fprintf(stderr, "bench_dpo: prefsim fit failed: %s\n", m.text);
      return 1;
    }
  }
  qsort(tw, (size_t)reps, sizeof(double), cmp_double);
  qsort(tcpu, (size_t)reps, sizeof(double), cmp_double);
  double best = tw[reps / 2], best_cpu = tcpu[reps / 2];
  double err = 0, tn = 0;
  for (size_t k = 0; k < d; k++) {
    double e = res.theta[k] - theta_r[k] / beta;
    err += e * e;
    tn += theta_r[k] * theta_r[k] / (beta * beta);
  }
  dpo_options o2 = o;
  o2.solver = DPO_SOLVER_NEWTON;
  dpo_result res2 = {0};
  double t0 = now(), c0 = cpu_now();
  int s2 = dpo_fit(&data, &f, &o2, NULL, &res2, &m);
  double t_newton = now() - t0, c_newton = cpu_now() - c0;

  /* PyTorch peer */
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/dpo-bench-XXXXXX", tmp);
  if (!mkdtemp(dir)) {
    fprintf(stderr, "bench_dpo: cannot create a directory under %s\n", tmp);
    return 1;
  }
  char meta[256];
  int ml = snprintf(meta, sizeof meta, "n_items %zu\nd %zu\nn %zu\n", N, d, n);
  if (write_file(dir, "phi.bin", phi, N * d * sizeof(double)) ||
      write_file(dir, "winner.bin", data.winner, n * sizeof(int32_t)) ||
      write_file(dir, "loser.bin", data.loser, n * sizeof(int32_t)) || write_file(dir, "meta.txt", meta, (size_t)ml)) {
    fprintf(stderr, "bench_dpo: cannot write the data under %s\n", dir);
    return 1;
  }
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 '%s' '%s' '%s' %.17g %.17g %d 1 2000", python,
           script, dir, beta, res.objective, reps);
  int py = system(cmd);
  kv tab[64];
  size_t nt = 0;
  char path[4200];
  snprintf(path, sizeof path, "%s/torch_result.txt", dir);
  FILE *fp = py == 0 ? fopen(path, "r") : NULL;
  if (fp) {
    while (nt < 64 && fscanf(fp, "%63s %127s", tab[nt].key, tab[nt].val) == 2) nt++;
    fclose(fp);
  }

  printf("\n## Case DPO: log-linear policy, %zu contexts x %zu responses, d = %zu, n = %zu pairs\n\n", C, M, d, n);
  printf("y, y' ~ softmax reference pi_ref ∝ exp(theta_ref^T phi) (y' redrawn while equal), BT labels with reward "
         "theta_r^T phi, ||theta_r|| = %g (bench_bt's features case uses 3), ||theta_ref|| = 1, phi ~ N(0, I) centred per context; loss sum_i "
         "softplus(-beta Delta_i), beta = %g, l2 = 0 (so the target is theta_r / beta). Both sides single-threaded "
         "(OMP/OpenBLAS/torch threads = 1). prefsim: median of %d fits (wall and CPU time separately); PyTorch float64 (Debian python3-torch %s), rows "
         "X = phi[w] - phi[l] materialised once outside the clock (%s s), each optimiser timed from theta = 0 until "
         "its objective first comes within 1e-10 (relative) of prefsim's final objective, median of %d runs.\n\n",
         theta_norm, beta, reps, lookup(tab, nt, "torch_version") ? lookup(tab, nt, "torch_version") : "?",
         lookup(tab, nt, "materialise_s") ? lookup(tab, nt, "materialise_s") : "?", reps);
  printf("| solver | setting | time to target (s) | prefsim speed-up | CPU time (s) | CPU speed-up | objective F | "
         "F - F_prefsim | grad norm | iterations |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  printf("| prefsim dpo_fit | fused solver: Newton on nested context subsamples, then BFGS from the exact Hessian on all rows, tol 1e-10 n | %.4f | 1.00x | %.4f | 1.00x | "
         "%.6f | +0.00e+00 | %.2e | %d |\n",
         best, best_cpu, res.objective, res.grad_norm, res.iterations);
  if (s2 == PS_OK)
    printf("| prefsim dpo_fit (solver = newton) | generic exact-Hessian Newton, tol 1e-10 n | %.4f | %.2fx | %.4f | %.2fx | "
           "%.6f | %+.2e | %.2e | %d |\n",
           t_newton, t_newton / best, c_newton, c_newton / best_cpu, res2.objective, res2.objective - res.objective,
           res2.grad_norm, res2.iterations);
  double max_diff = NAN;
  if (s2 == PS_OK) {
    max_diff = 0;
    for (size_t k = 0; k < d; k++) max_diff = fmax(max_diff, fabs(res.theta[k] - res2.theta[k]));
  }
  double ratio_lbfgs = NAN, ratio_newton = NAN, cpu_lbfgs = NAN;
  const char *names[3] = {"lbfgs", "lbfgs_items", "newton"};
  const char *desc[3] = {"torch.optim.LBFGS strong-Wolfe, history 20, full batch, rows X materialised",
                         "the same L-BFGS on s = phi theta, Delta = s[w] - s[l] (prefsim's item-space form)",
                         "Newton in torch (exact Hessian X^T D X, solve)"};
  double ratio_items = NAN;
  for (int k = 0; k < 3; k++) {
    char key[64];
    snprintf(key, sizeof key, "%s_time", names[k]);
    const char *tv = lookup(tab, nt, key);
    if (!tv) {
      printf("| PyTorch %s | %s | failed (exit %d) | - | - | - | - | - | - | - |\n", names[k], desc[k], py);
      continue;
    }
    double t = strcmp(tv, "inf") ? atof(tv) : INFINITY;
    snprintf(key, sizeof key, "%s_objective", names[k]);
    double fo = atof(lookup(tab, nt, key) ? lookup(tab, nt, key) : "nan");
    snprintf(key, sizeof key, "%s_grad_norm", names[k]);
    const char *gn = lookup(tab, nt, key);
    snprintf(key, sizeof key, "%s_iterations", names[k]);
    const char *it = lookup(tab, nt, key);
    snprintf(key, sizeof key, "%s_elapsed", names[k]);
    const char *el = lookup(tab, nt, key);
    snprintf(key, sizeof key, "%s_cpu", names[k]);
    const char *cv = lookup(tab, nt, key);
    double tc = cv && strcmp(cv, "inf") ? atof(cv) : INFINITY;
    if (isfinite(t))
      printf("| PyTorch %s | %s | %.4f | %.2fx | %.4f | %.2fx | %.6f | %+.2e | %s | %s |\n", names[k], desc[k], t,
             t / best, tc, tc / best_cpu, fo, fo - res.objective, gn ? gn : "?", it ? it : "?");
    else
      printf("| PyTorch %s | %s | not reached (stopped after %s s) | > %.0fx | - | - | %.6f | %+.2e | %s | %s |\n",
             names[k], desc[k], el ? el : "?", (el ? atof(el) : 0) / best, fo, fo - res.objective, gn ? gn : "?",
             it ? it : "?");
    if (k == 0) cpu_lbfgs = tc / best_cpu;
    if (k == 0) ratio_lbfgs = t / best;
    else if (k == 1) ratio_items = t / best;
    else ratio_newton = t / best;
  }
  printf("\nprefsim: %d (quasi-)Newton iterations over the warm-start levels and the full data (one fused sweep over "
         "the features each; the exact Hessian only where the step was poor); median CPU time of the fit %.4f s (wall "
         "%.4f s).\n",
         res.iterations, best_cpu, best);
  printf("\nprefsim estimate: ||theta-hat - theta_r/beta|| / ||theta_r/beta|| = %.4f (sampling error of n = %zu "
         "labels; the Newton rows agree to %.1e in theta).\n",
         sqrt(err / tn), n, max_diff);
  printf("\n**DPO (log-linear, %zu x %zu, d = %zu, n = %zu): prefsim %.4f s vs PyTorch L-BFGS %s: %.2fx wall, %.2fx "
         "CPU (vs PyTorch L-BFGS in item space: %.2fx wall; vs PyTorch Newton: %.2fx wall) — target >= 5x: %s** "
         "(F_prefsim = %.6f; both single-threaded)\n",
         C, M, d, n, best, isfinite(ratio_lbfgs) ? "at equal loss" : "(not reached)", ratio_lbfgs, cpu_lbfgs,
         ratio_items, ratio_newton, fmin(ratio_lbfgs, fmin(ratio_items, ratio_newton)) >= 5 ? "MET" : "NOT MET",
         res.objective);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "bench_dpo: could not remove %s\n", dir);
  dpo_result_free(&res);
  dpo_result_free(&res2);
  pref_data_free(&data);
  free(phi);
  free(log_ref);
  free(theta_ref);
  free(theta_r);
  free(p);
  free(tw);
  free(tcpu);
  gsl_rng_free(r);
  return 0;
}
