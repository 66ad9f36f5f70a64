/* test_idealpoint.c — PAL-A ideal-point model (docs/theory.md §2.6, §3.6): O16 (squared
 * score = BT difference of 2a^T f - ||f||^2), analytic gradients against central finite
 * differences for every (distance, loss, embedding) combination, recovery of a planted
 * population at a fixed seed, few-shot adaptation of new users, the est_type wrapper,
 * and the error paths.
 *
 * Accuracies are "expected accuracies": for a held-out pair (a, b) of user h the
 * model's choice is scored by the TRUE probability that its choice wins, P_h(a > b) if
 * it predicts a, else 1 - P_h(a > b); the Bayes rule scores max(P, 1 - P).  This
 * removes the Bernoulli noise of held-out labels, so Bayes - model is the estimation
 * gap alone (>= 0 pair by pair) and the tolerances below bound only that gap. */
#include <gsl/gsl_randist.h>
#include <math.h>

#include "test_util.h"
#include "fixtures.h"
#include "../core/numerics.h"
#include "../core/adam.h"
#include "../estimators/estimator.h"
#include "../estimators/idealpoint.h"

#define SEED 20261128UL

/* ---- O16: the squared score is exactly a Bradley-Terry difference ---- */

static void test_o16_squared_is_bt(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, SEED);
  enum { N = 7, P = 4 };
  double emb[N * P], a[P];
  idealpoint_model mod = {.K = 1, .p = P, .n_items = N, .distance = IDEALPOINT_SQUARED,
                          .loss = IDEALPOINT_LOGISTIC, .tau = 1, .emb = emb};
  for (int trial = 0; trial < 20; trial++) {
    for (int i = 0; i < N * P; i++) emb[i] = gsl_ran_gaussian(r, 2.385);
    for (int j = 0; j < P; j++) a[j] = gsl_ran_gaussian(r, 1.7);
    for (int x = 0; x < N; x++)
      for (int y = 0; y < N; y++) {
        double rx = 0, ry = 0;
        for (int j = 0; j < P; j++) {
          rx += 2 * a[j] * emb[x * P + j] - emb[x * P + j] * emb[x * P + j];
          ry += 2 * a[j] * emb[y * P + j] - emb[y * P + j] * emb[y * P + j];
        }
        /* both sides are O(30); 1e-12 relative is a few ulps of the summands */
        double z = idealpoint_logit_ideal(&mod, a, x, y);
        assert_close(z, rx - ry, 1e-12 * (1 + fabs(rx) + fabs(ry)));
      }
  }
  /* temperature divides the score; the euclidean form is NOT a BT difference in general
   * (the test above would fail for it: check that it can) */
  mod.tau = 0.37;
  assert_close(idealpoint_logit_ideal(&mod, a, 0, 1) * 0.37, (mod.tau = 1, idealpoint_logit_ideal(&mod, a, 0, 1)), 1e-12);
  mod.distance = IDEALPOINT_EUCLIDEAN;
  double rx = 0, ry = 0;
  for (int j = 0; j < P; j++) {
    rx += 2 * a[j] * emb[j] - emb[j] * emb[j];
    ry += 2 * a[j] * emb[P + j] - emb[P + j] * emb[P + j];
  }
  assert_true(fabs(idealpoint_logit_ideal(&mod, a, 0, 1) - (rx - ry)) > 1e-3);
  /* docs/theory.md §2.6: with a = t u (|u| = 1) and t -> infinity the euclidean score tends
   * to u^T (f(x) - f(y)), linear BT.  d(f, t u) = t - u^T f + (|f|^2 - (u^T f)^2) / (2t)
   * + O(1/t^2), so at t = 1e7 the error is <= |f|^2 / t ~ 1e-5 and the rounding of
   * d ~ 1e7 costs ~1e-9. */
  double u[P], un = 0;
  for (int j = 0; j < P; j++) {
    u[j] = gsl_ran_gaussian(r, 1);
    un += u[j] * u[j];
  }
  for (int j = 0; j < P; j++) a[j] = 1e7 * u[j] / sqrt(un);
  for (int x = 0; x < N; x++)
    for (int y = 0; y < N; y++) {
      double lin = 0;
      for (int j = 0; j < P; j++) lin += u[j] / sqrt(un) * (emb[x * P + j] - emb[y * P + j]);
      assert_close(idealpoint_logit_ideal(&mod, a, x, y), lin, 1e-4);
    }
  gsl_rng_free(r);
}

/* ---- gradients against central finite differences ---- */

static void check_gradient(idealpoint_distance dist, idealpoint_loss loss, int items_world, int linear) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, SEED + 17 * (unsigned long)(dist + 2 * loss + 4 * items_world + 8 * linear));
  const size_t n_items = 6, dphi = 3, H = 3;
  pref_data d;
  fixtures_random_rows(&d, r, 40, n_items, H);
  double phi[6 * 3];
  for (size_t i = 0; i < n_items * dphi; i++) phi[i] = gsl_ran_gaussian(r, 1.3);
  pref_features f = {.n_items = n_items, .d = items_world ? n_items : dphi, .phi = items_world ? NULL : phi,
                     .n_contexts = 1};
  idealpoint_options o = idealpoint_options_default();
  o.K = 3;
  o.dim = 2;
  o.distance = dist;
  o.loss = loss;
  o.projector = linear ? IDEALPOINT_LINEAR : IDEALPOINT_IDENTITY;
  o.tau = 0.73;
  o.l2 = 0.31;
  o.l2_user = 0.57;
  size_t p, np = idealpoint_nparams(&d, &f, &o, &p);
  double *x = malloc(np * sizeof(double)), *g = malloc(np * sizeof(double));
  for (size_t k = 0; k < np; k++) x[k] = gsl_ran_gaussian(r, 0.8);
  double F, Fp, Fm;
  ps_msg m;
  assert_int_equal(idealpoint_objective(&d, &f, &o, x, &F, g, &m), PS_OK);
  double worst = 0;
  for (size_t k = 0; k < np; k++) {
    double h = 1e-5, x0 = x[k];
    x[k] = x0 + h;
    assert_int_equal(idealpoint_objective(&d, &f, &o, x, &Fp, NULL, &m), PS_OK);
    x[k] = x0 - h;
    assert_int_equal(idealpoint_objective(&d, &f, &o, x, &Fm, NULL, &m), PS_OK);
    x[k] = x0;
    double fd = (Fp - Fm) / (2 * h);
    /* central differences: truncation h^2 F'''/6 ~ 1e-10, rounding eps F / h ~ 1e-10;
     * 1e-6 relative (docs/theory.md O17) leaves four orders of margin */
    double err = fabs(fd - g[k]) / fmax(1, fabs(g[k]));
    if (err > worst) worst = err;
    if (err > 1e-6)
      print_error("coordinate %zu of %zu: analytic %.10g, fd %.10g (dist %d loss %d items %d linear %d)\n", k,
                  np, g[k], fd, dist, loss, items_world, linear);
    assert_true(err <= 1e-6);
  }
  /* the gradient is not trivially zero */
  double gn = 0;
  for (size_t k = 0; k < np; k++) gn += g[k] * g[k];
  assert_true(gn > 1e-2);
  free(x);
  free(g);
  pref_data_free(&d);
  gsl_rng_free(r);
}

static void test_gradients(void **state) {
  (void)state;
  for (int dist = 0; dist < 2; dist++)
    for (int loss = 0; loss < 2; loss++) {
      check_gradient(dist, loss, 0, 0); /* features, identity */
      check_gradient(dist, loss, 0, 1); /* features, linear projector */
      check_gradient(dist, loss, 1, 0); /* item embeddings */
    }
}

/* ---- a planted PAL-A population ---- */

/* Items have true 2-D embeddings emb (the features themselves, or A* phi with phi in
 * R^4 when `hidden` is set); K prototypes on a circle of radius 1.6; users' weights
 * Dirichlet(0.5, ..); euclidean distance at temperature T = 0.5. */
typedef struct {
  size_t n_items, dphi, K;
  double *phi, *emb, *proto;
  double T;
} planted;

static void planted_alloc_k(planted *pl, gsl_rng *r, size_t K, int hidden) {
  pl->n_items = 40;
  pl->dphi = hidden ? 4 : 2;
  pl->K = K;
  pl->T = 0.5;
  pl->phi = malloc(pl->n_items * pl->dphi * sizeof(double));
  pl->emb = malloc(pl->n_items * 2 * sizeof(double));
  pl->proto = malloc(pl->K * 2 * sizeof(double));
  for (size_t i = 0; i < pl->n_items * pl->dphi; i++) pl->phi[i] = gsl_ran_gaussian(r, 1.0);
  /* hidden map A* (2 x 4): the embedding mixes the first three features, ignores the 4th */
  const double A[8] = {0.8, -0.5, 0.3, 0, 0.4, 0.7, -0.45, 0};
  for (size_t y = 0; y < pl->n_items; y++)
    for (size_t j = 0; j < 2; j++) {
      double v = 0;
      if (hidden)
        for (size_t k = 0; k < 4; k++) v += A[j * 4 + k] * pl->phi[y * 4 + k];
      else
        v = pl->phi[y * 2 + j];
      pl->emb[y * 2 + j] = v;
    }
  for (size_t k = 0; k < pl->K; k++) {
    pl->proto[2 * k] = 1.6 * cos(2 * M_PI * (double)k / (double)K + 0.41);
    pl->proto[2 * k + 1] = 1.6 * sin(2 * M_PI * (double)k / (double)K + 0.41);
  }
}

static void planted_alloc(planted *pl, gsl_rng *r) { planted_alloc_k(pl, r, 3, 0); }

static void planted_free(planted *pl) {
  free(pl->phi);
  free(pl->emb);
  free(pl->proto);
}

static void user_ideal(const planted *pl, gsl_rng *r, double *a) {
  double alpha[8] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, w[8];
  gsl_ran_dirichlet(r, pl->K, alpha, w);
  a[0] = a[1] = 0;
  for (size_t k = 0; k < pl->K; k++) {
    a[0] += w[k] * pl->proto[2 * k];
    a[1] += w[k] * pl->proto[2 * k + 1];
  }
}

/* true logit of a > b for the user with ideal point a (euclidean, temperature T) */
static double true_logit(const planted *pl, const double *ideal, int32_t a, int32_t b) {
  double da = hypot(pl->emb[2 * a] - ideal[0], pl->emb[2 * a + 1] - ideal[1]);
  double db = hypot(pl->emb[2 * b] - ideal[0], pl->emb[2 * b + 1] - ideal[1]);
  return (db - da) / pl->T;
}

/* the planted users as fixture judges: user h has ideal point ideal[2h..] */
typedef struct {
  const planted *pl;
  const double *ideal;
} planted_users;

static double users_logit(const void *truth, size_t h, int32_t a, int32_t b) {
  const planted_users *u = truth;
  return true_logit(u->pl, u->ideal + 2 * h, a, b);
}

/* n comparisons per user for users 0..H-1 with ideal points ideal[2h..]; H = 0: `per`
 * comparisons of the one user ideal[0..1], without annotator ids (few-shot data) */
static void planted_data(const planted *pl, gsl_rng *r, const double *ideal, size_t H, size_t per, pref_data *d) {
  planted_users u = {pl, ideal};
  fixtures_judges j = {.n_items = pl->n_items, .logit = users_logit, .truth = &u};
  fixtures_judge(d, &j, H, per, NULL, r, NULL);
}

/* expected accuracy of the predictor z(a, b) for a user with ideal point `ideal`
 * on held-out random pairs, and the Bayes accuracy on the same pairs */
typedef double (*logit_fn)(const void *ctx, int32_t a, int32_t b);

static void held_out(const planted *pl, gsl_rng *r, const double *ideal, size_t n, logit_fn fn, const void *ctx,
                     double *acc, double *bayes) {
  double s = 0, sb = 0;
  for (size_t t = 0; t < n; t++) {
    int32_t a, b;
    fixtures_pair(r, pl->n_items, &a, &b);
    double p = ps_sigmoid(true_logit(pl, ideal, a, b));
    s += fn(ctx, a, b) > 0 ? p : 1 - p;
    sb += fmax(p, 1 - p);
  }
  *acc += s / (double)n;
  *bayes += sb / (double)n;
}

typedef struct {
  const idealpoint_model *mod;
  size_t h;
  const double *omega;
} user_ctx;

static double user_logit(const void *c, int32_t a, int32_t b) {
  const user_ctx *u = c;
  return idealpoint_logit_user(u->mod, u->h, a, b);
}
static double pop_logit(const void *c, int32_t a, int32_t b) {
  const user_ctx *u = c;
  return idealpoint_logit_population(u->mod, a, b);
}
static double omega_logit(const void *c, int32_t a, int32_t b) {
  const user_ctx *u = c;
  return idealpoint_logit_omega(u->mod, u->omega, a, b);
}

static void test_recovery_and_few_shot(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, SEED);
  planted pl;
  planted_alloc(&pl, r);
  const size_t H = 40, per = 150;
  double *ideal = malloc(2 * H * sizeof(double));
  for (size_t h = 0; h < H; h++) user_ideal(&pl, r, ideal + 2 * h);
  pref_data d;
  planted_data(&pl, r, ideal, H, per, &d);
  pref_features f = {.n_items = pl.n_items, .d = pl.dphi, .phi = pl.phi, .n_contexts = 1};
  idealpoint_options o = idealpoint_options_default();
  o.K = 3;
  o.tau = pl.T;
  idealpoint_model mod;
  ps_msg m;
  gsl_rng *re = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(re, SEED + 1);
  assert_int_equal(idealpoint_fit(&d, &f, &o, re, &mod, &m), PS_OK);
  double W = (double)d.n;
  print_message("idealpoint planted: objective/n %.5f, ||grad||/n %.3g, restart %d, iterations %d\n",
                mod.objective / W, mod.grad_norm / W, mod.best_restart, mod.iterations);
  /* the optimisation residual is small relative to the data gradient scale (~1 per row) */
  /* the optimisation residual after the L-BFGS polish (7.8e-7 per row at this seed; Adam
   * alone stalls near 1e-3): the prediction error it causes is O(residual^2 / curvature),
   * far below the statistical gap tested next */
  assert_true(mod.grad_norm / W < 1e-5);
  assert_true(mod.converged);

  double acc = 0, bayes = 0, acc_pop = 0, bayes_pop = 0;
  const size_t n_held = 400;
  for (size_t h = 0; h < H; h++) {
    user_ctx u = {&mod, h, NULL};
    gsl_rng_set(r, SEED + 1000 + h); /* the same held-out pairs for both predictors */
    held_out(&pl, r, ideal + 2 * h, n_held, user_logit, &u, &acc, &bayes);
    gsl_rng_set(r, SEED + 1000 + h);
    held_out(&pl, r, ideal + 2 * h, n_held, pop_logit, &u, &acc_pop, &bayes_pop);
  }
  acc /= (double)H;
  bayes /= (double)H;
  acc_pop /= (double)H;
  print_message("idealpoint planted: held-out per-user accuracy %.4f, Bayes %.4f, population predictor %.4f\n",
                acc, bayes, acc_pop);
  /* Tolerance.  With the exact expected accuracy there is no label noise, so Bayes - acc
   * is the estimation gap alone.  Each ideal point (2 coordinates) is learned from 150
   * comparisons at temperature 0.5: its standard error is ~ sqrt(2 / (150 x I)) with a
   * per-comparison Fisher information I ~ 0.5 (|d score/da| ~ 1/T times sigma' ~ 0.15),
   * i.e. ~0.15 in feature units.  A shift delta of the ideal point turns a pair's
   * decision only when it lies within delta of the indifference line; such pairs have
   * P ~ 1/2 +- O(delta / T), so the loss is O(density x delta^2 / T) ~ 0.01-0.02, the
   * gap expected here; 0.0045 is measured at this seed.  0.03 is the a-priori bound; the population
   * predictor (one ranking for everyone), which ignores the users, is ~0.12 below Bayes,
   * so the test fails for a fit that does not separate users. */
  assert_true(acc <= bayes + 1e-12);
  assert_true(bayes - acc < 0.03);
  assert_true(acc - acc_pop > 0.06);

  /* ---- few-shot: new users from the same population ---- */
  const size_t n_new = 30, shots_grid[4] = {0, 5, 20, 100};
  double acc_shots[4] = {0}, bayes_new = 0;
  for (size_t u = 0; u < n_new; u++) {
    double a_new[2];
    gsl_rng_set(r, SEED + 5000 + u);
    user_ideal(&pl, r, a_new);
    for (size_t s = 0; s < 4; s++) {
      size_t S = shots_grid[s];
      pref_data shots;
      gsl_rng_set(r, SEED + 7000 + u); /* nested shot sets: the 5 shots are the first 5 of the 20 ... */
      planted_data(&pl, r, a_new, 0, S, &shots);
      double omega[3];
      assert_int_equal(idealpoint_adapt(&mod, &shots, omega, &m), PS_OK);
      if (S == 0) /* zero shots: uniform weights exactly */
        for (int k = 0; k < 3; k++) assert_close(omega[k], 0, 0);
      user_ctx c = {&mod, 0, omega};
      double dummy = 0;
      gsl_rng_set(r, SEED + 9000 + u);
      held_out(&pl, r, a_new, n_held, omega_logit, &c, &acc_shots[s], s == 0 ? &bayes_new : &dummy);
      pref_data_free(&shots);
    }
  }
  for (size_t s = 0; s < 4; s++) acc_shots[s] /= (double)n_new;
  bayes_new /= (double)n_new;
  print_message("idealpoint few-shot accuracy: 0 %.4f, 5 %.4f, 20 %.4f, 100 %.4f shots; Bayes %.4f\n",
                acc_shots[0], acc_shots[1], acc_shots[2], acc_shots[3], bayes_new);
  /* Accuracy rises with the shots (measured 0.641, 0.678, 0.751, 0.779 at 0, 5, 20,
   * 100 shots, Bayes 0.786); each step must gain > 0.005, several times less than measured; at 100 shots a new user is known about as well as a
   * training user with 150 comparisons, so the same 0.03 bound applies (its gap
   * scales like 1/n: 150/100 x 0.014 ~ 0.02; 0.0074 measured). */
  assert_true(acc_shots[1] > acc_shots[0] + 0.005);
  assert_true(acc_shots[2] > acc_shots[1] + 0.005);
  assert_true(acc_shots[3] > acc_shots[2] + 0.005);
  assert_true(bayes_new - acc_shots[3] < 0.03);

  idealpoint_model_free(&mod);
  pref_data_free(&d);
  free(ideal);
  planted_free(&pl);
  gsl_rng_free(r);
  gsl_rng_free(re);
}

/* ---- other settings on planted populations: (scenario x estimator) table ---- */

typedef struct {
  const char *name;
  size_t K_true, K_fit;
  int hidden;                  /* true embedding A* phi, phi in R^4 */
  int world;                   /* 0 features, 1 item world (free embeddings) */
  idealpoint_projector projector;
  idealpoint_loss loss;
  size_t batch;
  double max_gap;              /* bound on Bayes - accuracy (see the table's comment) */
  double min_gain;             /* required advantage over the population predictor */
} scenario;

static void test_scenarios(void **state) {
  (void)state;
  /* Bounds.  K = 2: the same argument as test_recovery_and_few_shot (gap ~0.01-0.02 a
   * priori) with bound 0.03.  Hinge: max(0, 1 - s) ranks like the logistic fit but is
   * not a likelihood (its margin 1 is fixed, not learned from the noise level); its
   * ideal points are still estimated consistently for this symmetric noise, bound 0.03.
   * Minibatch (batch 256, ~1/20 of the rows): Adam's noise is annealed by the cosine
   * decay and the L-BFGS polish runs on the full objective, so the same bound.  Item
   * world: 40 items x 2 coordinates are learned too (only up to rotation and
   * translation), from 6000 rows, i.e. 150 per item; each item's embedding error adds
   * to the users' and the gap roughly doubles: bound 0.05.  Linear projector: A (2 x 4)
   * adds 8 parameters to 6000 rows, negligible; AdamW's decay (lr 1e-3, decay 0.01,
   * the reference's relative strength) shrinks A by ~1% over the run, compensated by
   * the prototypes: bound 0.03.  The population predictor is ~0.12-0.14 below Bayes;
   * requiring min_gain over it makes each case fail when users are not separated.
   * Measured gaps at these seeds: K=2 0.0015, hinge 0.0065, minibatch 0.0041, items
   * 0.0100, projector 0.0065; advantages over the population predictor 0.09-0.14. */
  const scenario table[] = {
      {"K=2", 2, 2, 0, 0, IDEALPOINT_IDENTITY, IDEALPOINT_LOGISTIC, 0, 0.03, 0.04},
      {"hinge", 3, 3, 0, 0, IDEALPOINT_IDENTITY, IDEALPOINT_HINGE, 0, 0.03, 0.06},
      {"minibatch", 3, 3, 0, 0, IDEALPOINT_IDENTITY, IDEALPOINT_LOGISTIC, 256, 0.03, 0.06},
      {"items", 3, 3, 0, 1, IDEALPOINT_IDENTITY, IDEALPOINT_LOGISTIC, 0, 0.05, 0.05},
      {"projector", 3, 3, 1, 0, IDEALPOINT_LINEAR, IDEALPOINT_LOGISTIC, 0, 0.03, 0.06},
  };
  for (size_t sc = 0; sc < sizeof table / sizeof table[0]; sc++) {
    const scenario *c = &table[sc];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, SEED + 77 * sc);
    planted pl;
    planted_alloc_k(&pl, r, c->K_true, c->hidden);
    const size_t H = 40, per = 150;
    double *ideal = malloc(2 * H * sizeof(double));
    for (size_t h = 0; h < H; h++) user_ideal(&pl, r, ideal + 2 * h);
    pref_data d;
    planted_data(&pl, r, ideal, H, per, &d);
    pref_features f = {.n_items = pl.n_items, .d = c->world ? pl.n_items : pl.dphi,
                       .phi = c->world ? NULL : pl.phi, .n_contexts = 1};
    idealpoint_options o = idealpoint_options_default();
    o.K = c->K_fit;
    o.tau = pl.T;
    o.projector = c->projector;
    o.loss = c->loss;
    o.batch = c->batch;
    /* a cheaper schedule than the defaults, to keep the table within a few seconds */
    o.restarts = 2;
    o.iterations = 800;
    o.polish = 300;
    idealpoint_model mod;
    ps_msg m;
    assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_OK);
    double acc = 0, bayes = 0, acc_pop = 0, dummy = 0;
    for (size_t h = 0; h < H; h++) {
      user_ctx u = {&mod, h, NULL};
      gsl_rng_set(r, SEED + 1000 + h);
      held_out(&pl, r, ideal + 2 * h, 400, user_logit, &u, &acc, &bayes);
      gsl_rng_set(r, SEED + 1000 + h);
      held_out(&pl, r, ideal + 2 * h, 400, pop_logit, &u, &acc_pop, &dummy);
    }
    acc /= (double)H;
    bayes /= (double)H;
    acc_pop /= (double)H;
    print_message("idealpoint %-9s: accuracy %.4f, Bayes %.4f, population %.4f, ||grad||/n %.2g\n", c->name, acc,
                  bayes, acc_pop, mod.grad_norm / (double)d.n);
    if (!(bayes - acc < c->max_gap && acc - acc_pop > c->min_gain)) print_error("scenario %s (seed %lu)\n", c->name, SEED + 77 * sc);
    assert_true(bayes - acc < c->max_gap);
    assert_true(acc - acc_pop > c->min_gain);
    idealpoint_model_free(&mod);
    pref_data_free(&d);
    free(ideal);
    planted_free(&pl);
    gsl_rng_free(r);
  }
}

/* ---- Adam: closed-form first steps ---- */

static void test_adam(void **state) {
  (void)state;
  /* With bias correction the first step is lr g / (|g| + eps) per coordinate, i.e.
   * lr sign(g) up to eps / |g|; AdamW subtracts lr wd x on top. */
  adam *a = adam_alloc(3);
  assert_non_null(a);
  double x[3] = {1.5, -2.25, 0.125}, g[3] = {0.3, -4.0, 1e-3};
  adam_tick(a);
  adam_update(a, x, g, 0, 2, 0.1, 0);
  adam_update(a, x, g, 2, 1, 0.05, 0.2);
  assert_close(x[0], 1.5 - 0.1 * 0.3 / (0.3 + 1e-8), 1e-15);
  assert_close(x[1], -2.25 + 0.1 * 4.0 / (4.0 + 1e-8), 1e-15);
  assert_close(x[2], 0.125 - 0.05 * 1e-3 / (1e-3 + 1e-8) - 0.05 * 0.2 * 0.125, 1e-15);
  /* second step with the same gradient: m and v bias-corrected are g and g^2 again */
  double x1 = x[0];
  adam_tick(a);
  adam_update(a, x, g, 0, 1, 0.1, 0);
  assert_close(x[0], x1 - 0.1 * 0.3 / (0.3 + 1e-8), 1e-14);
  /* reset: back to the first-step rule */
  adam_reset(a);
  x[0] = 0;
  adam_tick(a);
  adam_update(a, x, g, 0, 1, 0.2, 0);
  assert_close(x[0], -0.2 * 0.3 / (0.3 + 1e-8), 1e-15);
  /* Adam on a badly scaled quadratic 0.5 (x0^2 + 1e4 x1^2) with the cosine decay
   * reaches the minimum (per-coordinate scaling makes the conditioning irrelevant) */
  double y[2] = {3.0, -2.0}, gy[2];
  adam_reset(a);
  for (int t = 0; t < 3000; t++) {
    gy[0] = y[0];
    gy[1] = 1e4 * y[1];
    adam_tick(a);
    adam_update(a, y, gy, 0, 2, 0.05 * adam_cosine(t, 3000, 0.001), 0);
  }
  assert_true(fabs(y[0]) < 1e-3 && fabs(y[1]) < 1e-3);
  adam_free(a);
  adam_free(NULL);
  assert_null(adam_alloc(0));
  assert_close(adam_cosine(0, 100, 0.01), 1, 1e-15);
  assert_close(adam_cosine(100, 100, 0.01), 0.01, 1e-15);
  assert_close(adam_cosine(50, 100, 0.01), 0.505, 1e-15);
  /* minibatches: distinct, increasing, in range, deterministic; full batch = 0..n-1 */
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  size_t idx[10], idx2[10];
  gsl_rng_set(r, 5);
  adam_minibatch(r, 37, 10, idx);
  gsl_rng_set(r, 5);
  adam_minibatch(r, 37, 10, idx2);
  for (int i = 0; i < 10; i++) {
    assert_true(idx[i] < 37);
    if (i) assert_true(idx[i] > idx[i - 1]);
    assert_int_equal(idx[i], idx2[i]);
  }
  /* Algorithm S is uniform: each index is chosen with probability batch / n; over 4000
   * draws of 10 of 37 the count of index 0 is Binomial(4000, 10/37), sd ~ 28 */
  int hits = 0;
  for (int rep = 0; rep < 4000; rep++) {
    adam_minibatch(r, 37, 10, idx);
    hits += idx[0] == 0;
  }
  assert_true(fabs(hits - 4000.0 * 10 / 37) < 4 * sqrt(4000.0 * 10 / 37 * 27 / 37));
  gsl_rng_set(r, 9);
  unsigned long before = gsl_rng_get(r);
  gsl_rng_set(r, 9);
  adam_minibatch(r, 10, 10, idx);
  for (size_t i = 0; i < 10; i++) assert_int_equal(idx[i], i);
  assert_int_equal(gsl_rng_get(r), before); /* a full batch draws nothing */
  gsl_rng_free(r);
}

/* ---- the est_type wrapper ---- */

static void test_est_type(void **state) {
  (void)state;
  const est_type *t = est_lookup("idealpoint");
  assert_non_null(t);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, SEED + 3);
  planted pl;
  planted_alloc(&pl, r);
  const size_t H = 6;
  double ideal[12];
  for (size_t h = 0; h < H; h++) user_ideal(&pl, r, ideal + 2 * h);
  pref_data d;
  planted_data(&pl, r, ideal, H, 60, &d);
  pref_features f = {.n_items = pl.n_items, .d = pl.dphi, .phi = pl.phi, .n_contexts = 1};
  const char *hyper[32];
  size_t np = 0;
  for (; t->params[np].key; np++) hyper[np] = t->params[np].def;
  hyper[0] = "3";        /* K */
  hyper[11] = "300";     /* iterations */
  hyper[12] = "1";       /* restarts */
  est_model *e;
  ps_msg m;
  assert_int_equal(t->alloc(&e, hyper, &m), PS_OK);
  est_fit_info info;
  assert_int_equal(t->fit(e, &d, &f, r, &info, &m), PS_OK);
  assert_int_equal(info.status, PS_OK);
  assert_true(isfinite(info.objective) && isfinite(info.grad_norm));
  size_t dim = 7;
  assert_null(t->theta(e, &dim));
  assert_int_equal(dim, 0);
  /* population logit: antisymmetric, and between the extreme users' logits */
  double z = t->logit(e, 3, 11), zr = t->logit(e, 11, 3);
  assert_close(z, -zr, 1e-12);
  double lo = INFINITY, hi = -INFINITY;
  for (size_t h = 0; h < H; h++) {
    double zh = t->logit_annotator(e, (int32_t)h, 3, 11);
    lo = fmin(lo, zh);
    hi = fmax(hi, zh);
  }
  assert_true(z >= lo - 1e-12 && z <= hi + 1e-12);
  /* and it is exactly the logit of the users' mean probability (all users have data) */
  double pbar = 0;
  for (size_t h = 0; h < H; h++) pbar += ps_sigmoid(t->logit_annotator(e, (int32_t)h, 3, 11)) / (double)H;
  assert_close(z, log(pbar / (1 - pbar)), 1e-10);
  double vals[3];
  assert_int_equal(t->annotator(e, 2, vals), PS_OK);
  assert_true(vals[0] >= 0 && vals[0] < 3 && vals[1] >= 1.0 / 3 && vals[1] <= 1);
  assert_close(vals[2], 60, 0);
  assert_int_equal(t->annotator(e, H, vals), PS_EINVAL);
  assert_true(isnan(t->logit_annotator(e, (int32_t)H, 0, 1)));
  assert_int_equal(t->user_state_len(e), 3);
  /* adapting on a training user's own data reproduces that user's predictions closely
   * (the same data and prior; Adam from 0 vs the joint fit) */
  pref_data own;
  assert_int_equal(pref_data_alloc(&own, 60, pl.n_items, 0, 0, 0), PS_OK);
  memcpy(own.winner, d.winner + 60, 60 * sizeof(int32_t));
  memcpy(own.loser, d.loser + 60, 60 * sizeof(int32_t));
  double st[3];
  assert_int_equal(t->adapt(e, &own, r, st, &m), PS_OK);
  for (int32_t a = 0; a < 5; a++) assert_close(t->logit_user(e, st, a, a + 7), t->logit_annotator(e, 1, a, a + 7), 0.05);
  pref_data_free(&own);
  /* alloc re-checks the parsed options: tau = 0 (outside the table's range, as a caller
   * that skipped ps_param_check would pass it) is refused */
  hyper[5] = "0";
  est_model *bad = NULL;
  assert_int_equal(t->alloc(&bad, hyper, &m), PS_EINVAL);
  assert_null(bad);
  t->free(e);
  pref_data_free(&d);
  planted_free(&pl);
  gsl_rng_free(r);
}

/* ---- error paths ---- */

static void test_errors(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, SEED + 4);
  pref_data d;
  fixtures_random_rows(&d, r, 20, 5, 2);
  double phi[10];
  for (int i = 0; i < 10; i++) phi[i] = gsl_ran_gaussian(r, 1);
  pref_features f = {.n_items = 5, .d = 2, .phi = phi, .n_contexts = 1};
  idealpoint_options o = idealpoint_options_default();
  o.iterations = 20;
  o.restarts = 1;
  idealpoint_model mod;
  ps_msg m;
  /* K < 1 and K too large */
  o.K = 0;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "K = 0"));
  o.K = IDEALPOINT_MAX_K + 1;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EINVAL);
  o.K = 2;
  /* bad temperature, learning rate, iterations */
  o.tau = 0;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EINVAL);
  o.tau = NAN;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EINVAL);
  o.tau = 1;
  o.lr = -1;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EINVAL);
  o.lr = 0.02;
  o.restarts = 0;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EINVAL);
  o.restarts = 1;
  o.l2_user = NAN;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EINVAL);
  o.l2_user = 1;
  /* item-world embedding dimension 0 */
  pref_features fi = {.n_items = 5, .d = 5, .phi = NULL, .n_contexts = 1};
  o.dim = 0;
  assert_int_equal(idealpoint_fit(&d, &fi, &o, r, &mod, &m), PS_EINVAL);
  o.dim = 2;
  /* NaN feature */
  phi[3] = NAN;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EDOM);
  phi[3] = 0.3;
  /* no users */
  d.n_annotators = 0;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "no users"));
  /* annotator id out of range */
  d.n_annotators = 2;
  d.annotator[4] = 2;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EINVAL);
  d.annotator[4] = 1;
  /* NaN count */
  d.count[2] = NAN;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EINVAL);
  d.count[2] = 1;
  /* item count mismatch */
  f.n_items = 4;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EINVAL);
  f.n_items = 5;
  /* empty data */
  size_t n = d.n;
  d.n = 0;
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_EINVAL);
  assert_non_null(strstr(m.text, "no comparisons"));
  d.n = n;
  /* a good fit, then a bad shot and an adapt that leaves its output unchanged */
  assert_int_equal(idealpoint_fit(&d, &f, &o, r, &mod, &m), PS_OK);
  pref_data shots;
  assert_int_equal(pref_data_alloc(&shots, 1, 5, 0, 0, 0), PS_OK);
  shots.winner[0] = 1;
  shots.loser[0] = 7;
  double om[2] = {2.5, 2.5};
  assert_int_equal(idealpoint_adapt(&mod, &shots, om, &m), PS_EINVAL);
  assert_close(om[0], 2.5, 0);
  shots.loser[0] = 1;
  assert_int_equal(idealpoint_adapt(&mod, &shots, om, &m), PS_EINVAL);
  pref_data_free(&shots);
  idealpoint_model_free(&mod);
  idealpoint_model_free(&mod); /* twice: a freed model is empty */
  idealpoint_model_free(NULL);
  pref_data_free(&d);
  gsl_rng_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_o16_squared_is_bt),
      cmocka_unit_test(test_gradients),
      cmocka_unit_test(test_recovery_and_few_shot),
      cmocka_unit_test(test_scenarios),
      cmocka_unit_test(test_adam),
      cmocka_unit_test(test_est_type),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
