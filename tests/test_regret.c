/* test_regret.c — partial-return and regret preference models (estimators/regret.h):
 * gradients against central differences, optimality of the convex fit, recovery of
 * a near-optimal policy from regret labels (docs/theory.md §5 row 20) with the
 * partial-return learner's scaled returns reported alongside, the same fits through
 * the estimator table (regret_est.c, fed pref_features.traj), and error paths.
 * The learners see only core/mdp_env.h; sim/mdp.h makes the data and scores it. */
#include <gsl/gsl_randist.h>
#include <math.h>

#include "test_util.h"
#include "../core/numerics.h"
#include "../estimators/estimator.h"
#include "../estimators/regret.h"
#include "../sim/mdp.h"
#include "../core/rng.h"

#define SEED 4217u

/* one labelled data set on a domain */
typedef struct {
  mdp m;
  mdp_solution sol;
  mdp_segments seg;
  mdp_features f;
  pref_data d;
  regret_problem p;
} problem;

static void make_problem(problem *pb, int delivery, mdp_feature_kind kind, size_t pairs, size_t len,
                         int drop_absorbing, mdp_label_model model, double T, uint64_t point) {
  ps_msg msg;
  assert_int_equal(delivery ? mdp_delivery_alloc(&pb->m, &msg) : mdp_corridor_alloc(&pb->m, &msg), PS_OK);
  assert_int_equal(mdp_solve(&pb->m.env, pb->m.reward, pb->m.env.gamma, NULL, &pb->sol, &msg), PS_OK);
  gsl_rng *r = ps_rng_alloc();
  ps_rng_reset(r, SEED, PS_STREAM_QUERIES, point, 0, 0);
  mdp_segment_spec sp = {.n = 2 * pairs, .len = len, .behaviour = MDP_BEHAVIOUR_UNIFORM,
                         .drop_absorbing = drop_absorbing};
  assert_int_equal(mdp_segments_draw(&pb->m.env, &sp, r, &pb->seg, &msg), PS_OK);
  mdp_label_spec ls = {.model = model, .temperature = T};
  ps_rng_reset(r, SEED, PS_STREAM_JUDGEMENTS, point, 0, 0);
  assert_int_equal(mdp_label_pairs(&pb->m, NULL, &pb->sol, &ls, &pb->seg, r, &pb->d, NULL, &msg), PS_OK);
  assert_int_equal(mdp_features_alloc(&pb->f, &pb->m.env, kind, &msg), PS_OK);
  gsl_rng_free(r);
  regret_problem p = {.env = &pb->m.env, .f = &pb->f, .seg = &pb->seg, .d = &pb->d, .temperature = T};
  pb->p = p;
}

static void free_problem(problem *pb) {
  pref_data_free(&pb->d);
  mdp_features_free(&pb->f);
  mdp_segments_free(&pb->seg);
  mdp_solution_free(&pb->sol);
  mdp_free(&pb->m);
}

static void random_w(double *w, size_t d, uint64_t sub) {
  gsl_rng *r = ps_rng_alloc();
  ps_rng_reset(r, SEED, PS_STREAM_ESTIMATOR, 99, 0, sub);
  for (size_t k = 0; k < d; k++) w[k] = 2.385 * gsl_ran_gaussian(r, 1.0);
  gsl_rng_free(r);
}

/* PR gradient vs central differences (O17: 1e-6 relative), with unit and
 * fractional (soft-label) row counts. */
static void test_pr_gradient_fd(void **state) {
  (void)state;
  for (int kind = 0; kind < 3; kind++) {
    problem pb;
    make_problem(&pb, 1, (mdp_feature_kind)kind, 300, 3, 0, MDP_LABEL_REGRET, 1.7, 1);
    for (int soft = 0; soft < 2; soft++) {
      if (soft) {
        pb.d.count = malloc(pb.d.n * sizeof(double));
        for (size_t i = 0; i < pb.d.n; i++) pb.d.count[i] = 0.25 + 0.5 * (double)(i % 3);
      }
      size_t d = pb.f.d;
      double *w = malloc(d * sizeof *w), *g = malloc(d * sizeof *g), *t = malloc(d * sizeof *t);
      random_w(w, d, (uint64_t)kind);
      regret_pr_objective(&pb.p, w, g);
      for (size_t k = 0; k < d; k += (d > 8 ? 7 : 1)) {
        double h = 1e-5;
        memcpy(t, w, d * sizeof *w);
        t[k] += h;
        double fp = regret_pr_objective(&pb.p, t, NULL);
        t[k] -= 2 * h;
        double fm = regret_pr_objective(&pb.p, t, NULL);
        double fd = (fp - fm) / (2 * h);
        assert_close(g[k], fd, 1e-6 * fmax(1, fabs(fd)));
      }
      free(w);
      free(g);
      free(t);
    }
    free_problem(&pb);
  }
}

/* Soft labels: a pair as two rows with counts p and 1 - p gives the cross-entropy
 * p softplus(-z) + (1 - p) softplus(z). */
static void test_soft_labels(void **state) {
  (void)state;
  problem pb;
  make_problem(&pb, 1, MDP_FEAT_CELL_TYPE, 1, 3, 0, MDP_LABEL_REGRET, 1, 2);
  pref_data_free(&pb.d);
  assert_int_equal(pref_data_alloc(&pb.d, 2, 2, 0, 0, 1), PS_OK);
  double p = 0.3141;
  pb.d.winner[0] = 0, pb.d.loser[0] = 1, pb.d.count[0] = p;
  pb.d.winner[1] = 1, pb.d.loser[1] = 0, pb.d.count[1] = 1 - p;
  double w[4] = {-0.7, 2.1, -1.3, -4.4}, phi0[4], phi1[4];
  mdp_segment_features(&pb.f, 1, &pb.seg, 0, phi0);
  mdp_segment_features(&pb.f, 1, &pb.seg, 1, phi1);
  double z = 0;
  for (int k = 0; k < 4; k++) z += w[k] * (phi0[k] - phi1[k]);
  assert_close(regret_pr_objective(&pb.p, w, NULL), ps_cross_entropy_logit(p, z), 1e-15);
  free_problem(&pb);
}

/* Regret gradient (envelope theorem) vs central differences.  At a random w the
 * optimal policy is unique and stays so within h = 1e-6, where V*_w and hence the
 * loss's regrets are linear in w: the differences match to rounding. */
static void test_regret_gradient_fd(void **state) {
  (void)state;
  for (int dom = 0; dom < 2; dom++)
    for (int kind = 0; kind < 3; kind++) {
      problem pb;
      make_problem(&pb, dom, (mdp_feature_kind)kind, 200, 3, 0, MDP_LABEL_REGRET, 0.8, 3);
      size_t d = pb.f.d, S = pb.m.env.n_states;
      double *w = malloc(d * sizeof *w), *g = malloc(d * sizeof *g), *t = malloc(d * sizeof *t);
      int32_t *pi = malloc(S * sizeof *pi), *pj = malloc(S * sizeof *pj);
      random_w(w, d, 10 + (uint64_t)(3 * dom + kind));
      for (size_t s = 0; s < S; s++) pi[s] = -1;
      ps_msg msg;
      double f0 = regret_regret_objective(&pb.p, 0.95, w, g, pi, &msg);
      assert_true(isfinite(f0));
      for (size_t k = 0; k < d; k += (d > 8 ? 5 : 1)) {
        double h = 1e-6;
        memcpy(t, w, d * sizeof *w);
        t[k] += h;
        for (size_t s = 0; s < S; s++) pj[s] = -1;
        double fp = regret_regret_objective(&pb.p, 0.95, t, NULL, pj, &msg);
        assert_memory_equal(pi, pj, S * sizeof *pi); /* no policy switch within h */
        t[k] -= 2 * h;
        double fm = regret_regret_objective(&pb.p, 0.95, t, NULL, NULL, &msg);
        double fd = (fp - fm) / (2 * h);
        assert_close(g[k], fd, 1e-6 * fmax(1, fabs(fd)));
      }
      free(w);
      free(g);
      free(t);
      free(pi);
      free(pj);
      free_problem(&pb);
    }
}

/* The convex PR fit reaches its optimum: gradient of (mean loss + l2 ||w||^2 / 2W)
 * below 1e-10 (bt_fit's tolerance per unit weight), with and without l2 where the
 * MLE exists. */
static void test_pr_fit_optimal(void **state) {
  (void)state;
  problem pb;
  make_problem(&pb, 1, MDP_FEAT_CELL_TYPE, 2000, 3, 0, MDP_LABEL_PARTIAL_RETURN, 1, 4);
  regret_options o = regret_options_default();
  regret_result res;
  ps_msg msg;
  for (int pen = 0; pen < 2; pen++) {
    o.l2 = pen ? 1e-3 : 0;
    int s = regret_fit_partial_return(&pb.p, &o, &res, &msg);
    if (s) print_error("%s\n", msg.text);
    assert_int_equal(s, PS_OK);
    assert_true(res.grad_norm <= 1e-10);
    /* PR labels from the true reward: the PR model is well specified; w within
     * 5 standard errors of the truth is checked loosely through the sign pattern */
    assert_true(res.w[0] < 0 && res.w[1] > 0 && res.w[2] < res.w[0] && res.w[3] < res.w[2]);
    regret_result_free(&res);
  }
  free_problem(&pb);
}

/* docs/theory.md §5 row 20: scaled return (true reward, H = 1000) of each learner's policy,
 * trained on regret labels (T = 1) with 3000 comparisons of length-3 segments at a
 * fixed seed.  The regret model is well specified (the true w is in the class, up
 * to gamma 0.999 vs 1) and regret labels identify a reward with the same optimal
 * policies, so its optimal policy must be near-optimal: asserted >= 0.9.  For the
 * PR learner theory promises nothing about its use as a reward; with state-action
 * features the regret labels are exactly PR labels for the reward A*, identified up
 * to a constant on equal-length segments (drop_absorbing), which argmax_a ignores:
 * its one-step greedy policy is asserted >= 0.9 there.  Everything else is printed. */
typedef struct {
  const char *name;
  int delivery;
  mdp_feature_kind kind;
  int drop_absorbing;
  int assert_pr_greedy;
} learner_case;

static const learner_case learner_cases[] = {
    {"corridor cell-type", 0, MDP_FEAT_CELL_TYPE, 0, 0},
    {"corridor cell-type, no absorbing", 0, MDP_FEAT_CELL_TYPE, 1, 0},
    {"delivery cell-type", 1, MDP_FEAT_CELL_TYPE, 0, 0},
    {"delivery cell-type, no absorbing", 1, MDP_FEAT_CELL_TYPE, 1, 0},
    {"delivery state-action, no absorbing", 1, MDP_FEAT_STATE_ACTION, 1, 1},
};

static void test_learners_on_regret_labels(void **state) {
  (void)state;
  for (size_t c = 0; c < sizeof learner_cases / sizeof *learner_cases; c++) {
    const learner_case *lc = &learner_cases[c];
    problem pb;
    make_problem(&pb, lc->delivery, lc->kind, 3000, lc->delivery ? 3 : 2, lc->drop_absorbing,
                 MDP_LABEL_REGRET, 1, 10 + c);
    regret_options o = regret_options_default();
    regret_result pr, rg;
    ps_msg msg;
    int s = regret_fit_partial_return(&pb.p, &o, &pr, &msg);
    if (s) print_error("%s: %s\n", lc->name, msg.text);
    assert_int_equal(s, PS_OK);
    gsl_rng *r = ps_rng_alloc();
    ps_rng_reset(r, SEED, PS_STREAM_ESTIMATOR, c, 0, 0);
    s = regret_fit_regret(&pb.p, &o, r, &rg, &msg);
    if (s) print_error("%s: %s\n", lc->name, msg.text);
    assert_int_equal(s, PS_OK);
    gsl_rng_free(r);
    mdp_scaled a, b, g;
    assert_int_equal(mdp_scaled_return(&pb.m, rg.policy, 1000, &a, NULL), PS_OK);
    assert_int_equal(mdp_scaled_return(&pb.m, pr.policy, 1000, &b, NULL), PS_OK);
    assert_int_equal(mdp_scaled_return(&pb.m, pr.greedy, 1000, &g, NULL), PS_OK);
    /* the fitted regret loss against the loss at the true weights: the MLE's loss
     * is at most the truth's, so an excess is optimisation error */
    double *wt = malloc(pb.f.d * sizeof *wt);
    mdp_true_weight(&pb.m, &pb.f, wt);
    double truth = regret_regret_objective(&pb.p, o.gamma, wt, NULL, NULL, NULL);
    free(wt);
    printf("  %-38s n=%zu  regret: scaled %.4f loss %.5f (truth %.5f) |g| %.1e spread %.1e"
           "  PR: as reward %.4f, greedy %.4f\n",
           lc->name, pb.d.n, a.scaled, rg.loss, truth, rg.grad_norm, rg.restart_spread, b.scaled,
           g.scaled);
    assert_true(a.scaled >= 0.9);
    /* optimisation: within 1e-3 nats (0.2-0.4% of these losses) of the truth's loss
     * or below it; a non-convex fit that stalls far above the truth fails here */
    assert_true(rg.loss <= truth + 1e-3);
    if (lc->assert_pr_greedy) assert_true(g.scaled >= 0.9);
    regret_result_free(&pr);
    regret_result_free(&rg);
    free_problem(&pb);
  }
}

static void test_errors(void **state) {
  (void)state;
  problem pb;
  make_problem(&pb, 0, MDP_FEAT_CELL_TYPE, 50, 2, 0, MDP_LABEL_REGRET, 1, 30);
  regret_options o = regret_options_default();
  regret_result res;
  ps_msg msg = {{0}};
  gsl_rng *r = ps_rng_alloc();
  pb.p.temperature = 0;
  assert_int_equal(regret_fit_partial_return(&pb.p, &o, &res, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "temperature"));
  regret_result_free(&res);
  pb.p.temperature = 1;
  o.gamma = 1;
  assert_int_equal(regret_fit_regret(&pb.p, &o, r, &res, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "gamma"));
  regret_result_free(&res);
  o = regret_options_default();
  assert_int_equal(regret_fit_regret(&pb.p, &o, NULL, &res, &msg), PS_EINVAL);
  regret_result_free(&res);
  o.iterations = 0;
  assert_int_equal(regret_fit_regret(&pb.p, &o, r, &res, &msg), PS_EINVAL);
  regret_result_free(&res);
  o = regret_options_default();
  int32_t keep = pb.d.winner[0];
  pb.d.winner[0] = 100000;
  assert_int_equal(regret_fit_partial_return(&pb.p, &o, &res, &msg), PS_EINVAL);
  regret_result_free(&res);
  pb.d.winner[0] = keep;
  size_t n_items = pb.d.n_items;
  pb.d.n_items = 3;
  assert_int_equal(regret_fit_regret(&pb.p, &o, r, &res, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "segments"));
  regret_result_free(&res);
  pb.d.n_items = n_items;
  /* noiseless PR labels without ties: separable for the PR model without a penalty */
  size_t kept = 0;
  for (size_t i = 0; i < pb.d.n; i++) {
    int32_t a = pb.d.winner[i], b = pb.d.loser[i];
    double ra = mdp_segment_return(&pb.m.env, pb.m.reward, 1, &pb.seg, (size_t)a);
    double rb = mdp_segment_return(&pb.m.env, pb.m.reward, 1, &pb.seg, (size_t)b);
    if (ra == rb) continue;
    pb.d.winner[kept] = ra > rb ? a : b;
    pb.d.loser[kept] = ra > rb ? b : a;
    kept++;
  }
  assert_true(kept >= 5);
  pb.d.n = kept;
  o.l2 = 0;
  int s = regret_fit_partial_return(&pb.p, &o, &res, &msg);
  if (s != PS_ENOMLE) print_error("status %d: %s\n", s, msg.text);
  assert_int_equal(s, PS_ENOMLE);
  assert_non_null(strstr(msg.text, "partial-return model"));
  assert_int_equal(res.status, s);
  regret_result_free(&res);
  o.l2 = 1e-3;
  assert_int_equal(regret_fit_partial_return(&pb.p, &o, &res, &msg), PS_OK);
  regret_result_free(&res);
  regret_result_free(NULL);
  gsl_rng_free(r);
  free_problem(&pb);
}

/* The estimator table fits the same models as the direct calls: est_lookup(name)
 * ->alloc with hyperparameter texts (not the defaults, so that each reaches its
 * option) and ->fit on the trajectory view give bit-identical w, policies,
 * iterations and loss to regret_fit_* with those options and the same stream. */
typedef struct {
  const char *name;
  const char *hyper[4];   /* texts for the estimator's params, in table order */
  int regret;             /* 1: regret_fit_regret, 0: regret_fit_partial_return */
} table_case;

static const table_case table_cases[] = {
    {"regret_model", {"0.15", "120", "3", "0.995"}, 1},
    {"partial_return", {"0.0375", "0.995"}, 0},
};

static void test_estimator_table(void **state) {
  (void)state;
  problem pb;
  make_problem(&pb, 1, MDP_FEAT_CELL_TYPE, 400, 3, 0, MDP_LABEL_REGRET, 1.3, 40);
  pref_trajectories traj = {.env = &pb.m.env, .features = &pb.f, .seg = &pb.seg, .temperature = 1.3};
  pref_features f = {.n_items = pb.seg.n, .d = pb.f.d, .n_contexts = 1, .traj = &traj};
  size_t S = pb.m.env.n_states;
  int32_t *pol = malloc(S * sizeof *pol), *gr = malloc(S * sizeof *gr);
  gsl_rng *r = ps_rng_alloc();
  for (size_t c = 0; c < sizeof table_cases / sizeof *table_cases; c++) {
    const table_case *tc = &table_cases[c];
    const est_type *t = est_lookup(tc->name);
    assert_non_null(t);
    assert_non_null(t->state_policy);
    assert_true(t->inputs & EST_IN_SEGMENTS);
    ps_msg msg = {{0}};
    for (size_t j = 0; t->params[j].key; j++) assert_int_equal(ps_param_check(&t->params[j], tc->hyper[j], &msg), PS_OK);
    /* the direct call, options from the same texts */
    regret_options o = regret_options_default();
    if (tc->regret) {
      o.learning_rate = 0.15, o.iterations = 120, o.restarts = 3, o.gamma = 0.995;
    } else {
      o.l2 = 0.0375, o.gamma = 0.995;
    }
    regret_result res;
    ps_rng_reset(r, SEED, PS_STREAM_ESTIMATOR, 7, 0, c);
    int s = tc->regret ? regret_fit_regret(&pb.p, &o, r, &res, &msg) : regret_fit_partial_return(&pb.p, &o, &res, &msg);
    if (s) print_error("%s: %s\n", tc->name, msg.text);
    assert_int_equal(s, PS_OK);
    /* through the table */
    est_model *mod = NULL;
    assert_int_equal(t->alloc(&mod, tc->hyper, &msg), PS_OK);
    assert_int_equal(t->state_policy(mod, pol, gr), PS_EINVAL); /* not fitted yet */
    est_fit_info info = {0};
    ps_rng_reset(r, SEED, PS_STREAM_ESTIMATOR, 7, 0, c);
    s = t->fit(mod, &pb.d, &f, r, &info, &msg);
    if (s) print_error("%s: %s\n", tc->name, msg.text);
    assert_int_equal(s, PS_OK);
    assert_int_equal(info.status, PS_OK);
    assert_true(info.converged);
    assert_int_equal(info.iterations, res.iterations);
    assert_memory_equal(&info.objective, &res.loss, sizeof(double));
    size_t dim;
    const double *w = t->theta(mod, &dim);
    assert_int_equal(dim, pb.f.d);
    assert_memory_equal(w, res.w, dim * sizeof *w);
    assert_int_equal(t->state_policy(mod, pol, gr), PS_OK);
    assert_memory_equal(pol, res.policy, S * sizeof *pol);
    assert_memory_equal(gr, res.greedy, S * sizeof *gr);
    /* on item or feature data (no trajectory view) the fit is refused */
    pref_features items = {.n_items = pb.seg.n, .d = pb.seg.n, .n_contexts = 1};
    assert_int_equal(t->fit(mod, &pb.d, &items, r, &info, &msg), PS_EINVAL);
    assert_non_null(strstr(msg.text, "trajectory segments"));
    assert_int_equal(t->state_policy(mod, pol, gr), PS_EINVAL);
    t->free(mod);
    regret_result_free(&res);
  }
  /* estimators of items and features do not answer the segment query */
  assert_null(est_lookup("bt")->state_policy);
  gsl_rng_free(r);
  free(pol);
  free(gr);
  free_problem(&pb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pr_gradient_fd),    cmocka_unit_test(test_soft_labels),
      cmocka_unit_test(test_regret_gradient_fd), cmocka_unit_test(test_pr_fit_optimal),
      cmocka_unit_test(test_learners_on_regret_labels), cmocka_unit_test(test_estimator_table),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests_name("regret", tests, NULL, NULL);
}
