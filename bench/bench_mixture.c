/* bench_mixture.c — one EM iteration of mixture-BT against one BT fit (issue #3 speed
 * target: each EM iteration costs at most 1.5x one BT fit over the same data per
 * component).
 *
 * Data: a features world of 2000 contexts x 8 responses, d = 32, K = 4 user types at
 * 90 degrees (orthonormal directions, ||theta_k|| = 3), 1000 annotators x 200
 * comparisons each (n = 200,000), simulated by prefsim's own sim/.  The BT fit is
 * bt_fit on all rows (lambda = 0.1, the mixture's default ridge) from theta = 0 to
 * ||grad|| <= 1e-10 n.  The mixture is mixture_fit, soft EM, K = 4, one run, the
 * defaults otherwise (tol 1e-8).  Reported: the whole fit (the initial per-cluster
 * fits included) per EM iteration and component, in units of the BT fit; and the
 * first iterations alone, measured by refitting with max_iter = 1 and 2.  Single
 * thread.  Prints one markdown section. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../estimators/bt.h"
#include "../estimators/mixture.h"
#include "../core/rng.h"
#include "../sim/sim.h"

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

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* median CPU seconds of reps runs of the mixture with max_iter (and its iterations) */
static double time_mixture(const pref_data *d, const pref_features *f, int max_iter, int reps, int *iters) {
  double t[16];
  for (int k = 0; k < reps; k++) {
    mixture_options o = mixture_options_default();
    o.K = 4;
    o.restarts = 1;
    o.max_iter = max_iter;
    mixture_result res;
    ps_msg m;
    gsl_rng *r = ps_rng_alloc();
    ps_rng_reset(r, 2385, PS_STREAM_ESTIMATOR, 0, 0, 0);
    double c0 = cpu_now();
    int s = mixture_fit(d, f, &o, r, &res, &m);
    t[k] = cpu_now() - c0;
    if (s != PS_OK) fprintf(stderr, "bench_mixture: %s\n", m.text), exit(1);
    *iters = res.iterations;
    mixture_result_free(&res);
    gsl_rng_free(r);
  }
  qsort(t, (size_t)reps, sizeof(double), cmp);
  return t[reps / 2];
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 3;
  if (reps < 1 || reps > 15) reps = 3;
  world w;
  population p;
  pref_data d;
  ps_msg m;
  gsl_rng *r = ps_rng_alloc(), *rj = ps_rng_alloc();
  world_spec ws = {.kind = WORLD_FEATURES, .contexts = 2000, .responses = 8, .dim = 32, .feature_scale = 1};
  ps_rng_reset(r, 7, PS_STREAM_WORLD, 0, 0, 0);
  if (world_alloc(&w, &ws, r, &m)) return fprintf(stderr, "%s\n", m.text), 1;
  population_spec ps = {.kind = POP_MIXTURE, .norm = 3, .annotators = 1000, .types = 4, .minority = 0.75,
                        .angle = 90, .competence = 1};
  ps_rng_reset(r, 7, PS_STREAM_POPULATION, 0, 0, 0);
  if (population_alloc(&p, &w, &ps, r, &m)) return fprintf(stderr, "%s\n", m.text), 1;
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1};
  design_spec ds = {.kind = DESIGN_UNIFORM};
  ps_rng_reset(r, 7, PS_STREAM_QUERIES, 0, 0, 0);
  ps_rng_reset(rj, 7, PS_STREAM_JUDGEMENTS, 0, 0, 0);
  if (design_simulate(&d, 200000, &w, &p, &ns, &ds, r, rj, &m)) return fprintf(stderr, "%s\n", m.text), 1;
  pref_features f = world_features(&w);

  /* one BT fit over the same data */
  double tb[16], wb = 0;
  int bt_iters = 0;
  for (int k = 0; k < reps; k++) {
    bt_options o = bt_options_default();
    o.l2 = 0.1;
    bt_result res;
    double w0 = now(), c0 = cpu_now();
    if (bt_fit(&d, &f, &o, &res, &m) != PS_OK) return fprintf(stderr, "%s\n", m.text), 1;
    tb[k] = cpu_now() - c0;
    wb = now() - w0;
    bt_iters = res.iterations;
    bt_result_free(&res);
  }
  qsort(tb, (size_t)reps, sizeof(double), cmp);
  double t_bt = tb[reps / 2];
  int it_full = 0, it1 = 0, it2 = 0, it0 = 0;
  double t_full = time_mixture(&d, &f, 500, reps, &it_full);
  double t0 = time_mixture(&d, &f, 1, reps, &it0); /* initial fits + the first iteration */
  double t2 = time_mixture(&d, &f, 2, reps, &it2);
  double t3 = time_mixture(&d, &f, 3, reps, &it1);
  printf("## Mixture-BT EM (issue #3)\n\n");
  printf("K = 4 soft EM, one run, on 1000 annotators x 200 comparisons (n = 200,000), features d = 32 "
         "(2000 contexts x 8), one thread; median CPU time of %d runs.  Target: one EM iteration <= 1.5 x one "
         "BT fit over the same data, per component.\n\n", reps);
  printf("| quantity | seconds | per component, in BT fits |\n|---|---:|---:|\n");
  printf("| one BT fit over all rows (%d Newton iterations, lambda 0.1; wall %.3f s) | %.3f | 1 |\n", bt_iters, wb, t_bt);
  printf("| whole mixture fit, %d EM iterations incl. the initial cluster fits: per iteration | %.3f | %.2f |\n",
         it_full, t_full / it_full, t_full / it_full / 4 / t_bt);
  printf("| second EM iteration alone (max_iter 2 minus max_iter 1) | %.3f | %.2f |\n", t2 - t0, (t2 - t0) / 4 / t_bt);
  printf("| third EM iteration alone (max_iter 3 minus max_iter 2) | %.3f | %.2f |\n", t3 - t2, (t3 - t2) / 4 / t_bt);
  printf("| initial cluster fits + first EM iteration (max_iter 1) | %.3f | %.2f |\n\n", t0, t0 / 4 / t_bt);
  printf("Warm-started M-steps make later iterations cheap; the first iteration (every row in every component, "
         "from the initial fits) is the most expensive.\n\n");
  pref_data_free(&d);
  population_free(&p);
  world_free(&w);
  gsl_rng_free(r);
  gsl_rng_free(rj);
  return 0;
}
