/* test_mdp.c — deterministic MDPs: the dynamics, solvers, features and segment sums
 * under an explicit reward (core/mdp_env.h) and the worlds with their true reward
 * (sim/mdp.h).  Value iteration on the corridor and a hand-solved 3 x 3 grid,
 * docs/theory.md oracle O8 and the §2.10 identities (telescoping regret, r + c, potential
 * shaping, shared endpoints), successor features, the label generator, segment
 * drawing and the scaled return. */
#include <gsl/gsl_randist.h>
#include <math.h>

#include "test_util.h"
#include "../core/numerics.h"
#include "../sim/mdp.h"
#include "../core/rng.h"

#define SEED 20240517u

/* 3 x 3 grid solved by hand:
 *     .  .  G        . = -1, G = +5 (terminal), # wall, m = -4
 *     .  #  m
 *     .  .  .
 * V* = (4, 5, 0 | 3, 0, 5 | 2, 1, 1); the greedy policy is right, right, -, up, -, up,
 * up, left, up (from 7 left through 6, 3, 0, 1 returns 1; right through 8, 5 returns 0). */
static void make_grid3(mdp *m, double gamma) {
  double r[9] = {-1, -1, 5, -1, 0, -4, -1, -1, -1};
  uint8_t wall[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0}, term[9] = {0, 0, 1, 0, 0, 0, 0, 0, 0};
  mdp_grid_spec spec = {.width = 3, .height = 3, .cell_reward = r, .wall = wall, .terminal = term, .gamma = gamma};
  ps_msg msg;
  int s = mdp_grid_alloc(m, &spec, &msg);
  if (s) print_error("%s\n", msg.text);
  assert_int_equal(s, PS_OK);
}

/* solve for reward, NULL meaning the MDP's own (true) reward */
static void solve_ok(const mdp *m, const double *reward, double gamma, mdp_solution *sol) {
  ps_msg msg;
  int s = mdp_solve(&m->env, reward ? reward : m->reward, gamma, NULL, sol, &msg);
  if (s) print_error("%s\n", msg.text);
  assert_int_equal(s, PS_OK);
  /* exact solvers: the Bellman residual is rounding only */
  assert_true(sol->residual <= 1e-12 * 100);
}

static void test_corridor_values(void **state) {
  (void)state;
  mdp m;
  assert_int_equal(mdp_corridor_alloc(&m, NULL), PS_OK);
  assert_int_equal(m.env.n_states, 5);
  assert_int_equal(mdp_n_starts(&m.env), 4);
  mdp_solution sol;
  solve_ok(&m, NULL, 1.0, &sol);
  for (int s = 0; s < 5; s++) assert_close(sol.v[s], -(4.0 - s), 1e-15);
  for (int s = 0; s < 4; s++) {
    assert_int_equal(sol.policy[s], MDP_RIGHT);
    assert_close(sol.adv[s * 4 + MDP_RIGHT], 0, 1e-15);
    assert_close(sol.adv[s * 4 + MDP_UP], -1, 1e-15);   /* bump: -1 and back where it was */
    assert_close(sol.adv[s * 4 + MDP_LEFT], s == 0 ? -1 : -2, 1e-15);
  }
  for (int a = 0; a < 4; a++) assert_close(sol.q[4 * 4 + a], 0, 0); /* absorbing goal */
  mdp_solution_free(&sol);
  /* gamma < 1 (policy iteration): V(s) = -(1 - g^(4-s)) / (1 - g) */
  double g = 0.8125;
  solve_ok(&m, NULL, g, &sol);
  for (int s = 0; s < 4; s++) {
    assert_close(sol.v[s], -(1 - pow(g, 4 - s)) / (1 - g), 1e-13);
    assert_int_equal(sol.policy[s], MDP_RIGHT);
  }
  mdp_solution_free(&sol);
  mdp_free(&m);
}

static void test_grid3_hand_solved(void **state) {
  (void)state;
  mdp m;
  make_grid3(&m, 1);
  const double v_hand[9] = {4, 5, 0, 3, 0, 5, 2, 1, 1};
  const int32_t pi_hand[9] = {MDP_RIGHT, MDP_RIGHT, 0, MDP_UP, 0, MDP_UP, MDP_UP, MDP_LEFT, MDP_UP};
  assert_int_equal(m.env.n_types, 3); /* -1, 5, -4 in order of appearance; the wall has none */
  assert_int_equal(m.env.cell_type[5], 2);
  mdp_solution sol;
  solve_ok(&m, NULL, 1.0, &sol);
  for (int s = 0; s < 9; s++) {
    assert_close(sol.v[s], v_hand[s], 1e-15);
    assert_int_equal(sol.policy[s], pi_hand[s]);
  }
  /* bumping into the wall from 1 (down) costs -1 and stays: Q = -1 + 5 */
  assert_close(sol.q[1 * 4 + MDP_DOWN], 4, 1e-15);
  assert_int_equal(m.env.next[1 * 4 + MDP_DOWN], 1);
  mdp_solution_free(&sol);
  /* policy iteration at gamma close to 1 agrees to O(1 - gamma) * path length */
  solve_ok(&m, NULL, 1 - 1e-9, &sol);
  for (int s = 0; s < 9; s++) {
    assert_close(sol.v[s], v_hand[s], 1e-7);
    assert_int_equal(sol.policy[s], pi_hand[s]);
  }
  mdp_solution_free(&sol);
  mdp_free(&m);
}

static void make_seg(mdp_segments *seg, size_t n, size_t len) {
  seg->n = n;
  seg->len = len;
  seg->state = calloc(n * (len + 1), sizeof *seg->state);
  seg->action = calloc(n * len, sizeof *seg->action);
}

/* O8: A = 1->2->3 (PR -2, regret 0), B = 2->1->2 (PR -2, regret 2). */
static void test_o8_corridor(void **state) {
  (void)state;
  mdp m;
  assert_int_equal(mdp_corridor_alloc(&m, NULL), PS_OK);
  mdp_solution sol;
  solve_ok(&m, NULL, 1.0, &sol);
  mdp_segments seg;
  make_seg(&seg, 2, 2);
  int32_t sa[3] = {1, 2, 3}, aa[2] = {MDP_RIGHT, MDP_RIGHT}, sb[3] = {2, 1, 2}, ab[2] = {MDP_LEFT, MDP_RIGHT};
  memcpy(seg.state, sa, sizeof sa);
  memcpy(seg.state + 3, sb, sizeof sb);
  memcpy(seg.action, aa, sizeof aa);
  memcpy(seg.action + 2, ab, sizeof ab);
  assert_close(mdp_segment_return(&m.env, m.reward, 1, &seg, 0), -2, 0);
  assert_close(mdp_segment_return(&m.env, m.reward, 1, &seg, 1), -2, 0);
  assert_close(mdp_segment_regret(&m, NULL, &sol, &seg, 0), 0, 0);
  assert_close(mdp_segment_regret(&m, NULL, &sol, &seg, 1), 2, 0);
  mdp_label_spec reg = {.model = MDP_LABEL_REGRET, .temperature = 1};
  mdp_label_spec pr = {.model = MDP_LABEL_PARTIAL_RETURN, .temperature = 1};
  int tie;
  assert_close(mdp_label_prob(&m, NULL, &sol, &reg, &seg, 0, 1, &tie), ps_sigmoid(2), 1e-15);
  assert_close(ps_sigmoid(2), 0.880797, 1e-6);
  assert_false(tie);
  assert_close(mdp_label_prob(&m, NULL, &sol, &pr, &seg, 0, 1, &tie), 0.5, 0);
  assert_true(tie);
  mdp_segments_free(&seg);
  mdp_solution_free(&sol);
  mdp_free(&m);
}

/* the three domains of the identity tests, with a gamma < 1 variant of delivery */
typedef struct {
  const char *name;
  int kind;      /* 0 corridor, 1 grid3, 2 delivery */
  double gamma;
  size_t len;
} domain_case;

static const domain_case domains[] = {
    {"corridor", 0, 1, 2},   {"corridor", 0, 1, 5},  {"grid3", 1, 1, 3},
    {"delivery", 2, 1, 3},   {"delivery", 2, 1, 7},  {"delivery g=0.9", 2, 0.9, 4},
};

static void make_domain(const domain_case *c, mdp *m) {
  if (c->kind == 0) assert_int_equal(mdp_corridor_alloc(m, NULL), PS_OK);
  else if (c->kind == 1) make_grid3(m, 1);
  else assert_int_equal(mdp_delivery_alloc(m, NULL), PS_OK);
  m->env.gamma = c->gamma;
}

static void draw(const mdp *m, size_t n, size_t len, int drop, uint64_t sub, mdp_segments *seg) {
  gsl_rng *r = ps_rng_alloc();
  ps_rng_reset(r, SEED, PS_STREAM_QUERIES, 0, 0, sub);
  mdp_segment_spec sp = {.n = n, .len = len, .behaviour = MDP_BEHAVIOUR_UNIFORM, .drop_absorbing = drop};
  ps_msg msg;
  int s = mdp_segments_draw(&m->env, &sp, r, seg, &msg);
  if (s) print_error("%s\n", msg.text);
  assert_int_equal(s, PS_OK);
  gsl_rng_free(r);
}

/* telescoping: -sum_t gamma^t A*(s_t, a_t) = V*(s_0) - PR - gamma^L V*(s_L) on every
 * segment, absorbing steps included (A* = 0 there).  Terms are O(30) and L <= 7,
 * so 1e-12 is a few ulps of the sums. */
static void test_telescoping(void **state) {
  (void)state;
  for (size_t c = 0; c < sizeof domains / sizeof *domains; c++) {
    mdp m;
    make_domain(&domains[c], &m);
    mdp_solution sol;
    solve_ok(&m, NULL, m.env.gamma, &sol);
    mdp_segments seg;
    draw(&m, 2000, domains[c].len, 0, c, &seg);
    for (size_t i = 0; i < seg.n; i++) {
      double sum = 0, disc = 1;
      for (size_t t = 0; t < seg.len; t++) {
        sum -= disc * sol.adv[seg.state[i * (seg.len + 1) + t] * 4 + seg.action[i * seg.len + t]];
        disc *= m.env.gamma;
      }
      assert_close(mdp_segment_regret(&m, NULL, &sol, &seg, i), sum, 1e-12);
      assert_true(sum >= -1e-12); /* regret >= 0: A* <= 0 */
    }
    mdp_segments_free(&seg);
    mdp_solution_free(&sol);
    mdp_free(&m);
  }
}

/* r + c: on segments without absorbing steps every PR shifts by c L, so PR
 * differences (and PR labels) are unchanged; yet the optimum can change: on the
 * corridor +2 per step makes V* unbounded at gamma = 1, and at gamma = 0.9 staying
 * (1 / (1 - 0.9) = 10) beats entering the goal (+1). */
static void test_shift_invariance(void **state) {
  (void)state;
  const double c_shift = 2.385;
  for (size_t c = 0; c < sizeof domains / sizeof *domains; c++) {
    mdp m;
    make_domain(&domains[c], &m);
    if (domains[c].gamma != 1) {
      mdp_free(&m);
      continue; /* discounted PR shifts by c (1 - g^L)/(1 - g), still equal-length-invariant */
    }
    double *rc = malloc(m.env.n_states * 4 * sizeof *rc);
    for (size_t k = 0; k < m.env.n_states * 4; k++) rc[k] = m.reward[k] + (m.env.terminal[k / 4] ? 0 : c_shift);
    mdp_segments seg;
    draw(&m, 600, domains[c].len, 1, 100 + c, &seg);
    mdp_label_spec pr = {.model = MDP_LABEL_PARTIAL_RETURN, .temperature = 0.7};
    for (size_t i = 0; i + 1 < seg.n; i += 2) {
      double d0 = mdp_segment_return(&m.env, m.reward, 1, &seg, i) - mdp_segment_return(&m.env, m.reward, 1, &seg, i + 1);
      double d1 = mdp_segment_return(&m.env, rc, 1, &seg, i) - mdp_segment_return(&m.env, rc, 1, &seg, i + 1);
      assert_close(d1, d0, 1e-12);
      assert_close(mdp_label_prob(&m, rc, NULL, &pr, &seg, i, i + 1, NULL),
                   mdp_label_prob(&m, NULL, NULL, &pr, &seg, i, i + 1, NULL), 1e-13);
    }
    mdp_segments_free(&seg);
    free(rc);
    mdp_free(&m);
  }
  mdp m;
  assert_int_equal(mdp_corridor_alloc(&m, NULL), PS_OK);
  double rc[20];
  for (size_t k = 0; k < 20; k++) rc[k] = m.reward[k] + (k / 4 == 4 ? 0 : 2.0);
  mdp_solution sol;
  ps_msg msg = {{0}};
  assert_int_equal(mdp_solve(&m.env, rc, 1.0, NULL, &sol, &msg), PS_ENOCONV);
  assert_non_null(strstr(msg.text, "unbounded"));
  mdp_solution_free(&sol);
  solve_ok(&m, rc, 0.9, &sol);
  assert_true(sol.policy[3] != MDP_RIGHT);
  assert_close(sol.v[3], 1 / (1 - 0.9), 1e-12);
  mdp_solution_free(&sol);
  mdp_free(&m);
}

/* Potential shaping r' = r + gamma Phi(s') - Phi(s), Phi = 0 at terminals: V' = V - Phi,
 * A' = A, the same optimal policy and the same regret labels, while PR labels move. */
static void test_potential_shaping(void **state) {
  (void)state;
  gsl_rng *r = ps_rng_alloc();
  for (size_t c = 0; c < sizeof domains / sizeof *domains; c++) {
    mdp m;
    make_domain(&domains[c], &m);
    ps_rng_reset(r, SEED, PS_STREAM_WORLD, c, 0, 0);
    double *phi = calloc(m.env.n_states, sizeof *phi), *rs = malloc(m.env.n_states * 4 * sizeof *rs);
    for (size_t s = 0; s < m.env.n_states; s++)
      if (!m.env.terminal[s] && !m.env.wall[s]) phi[s] = 3.7 * gsl_ran_gaussian(r, 1.0);
    for (size_t k = 0; k < m.env.n_states * 4; k++)
      rs[k] = m.env.terminal[k / 4] ? 0 : m.reward[k] + m.env.gamma * phi[m.env.next[k]] - phi[k / 4];
    mdp_solution a, b;
    solve_ok(&m, NULL, m.env.gamma, &a);
    solve_ok(&m, rs, m.env.gamma, &b);
    for (size_t s = 0; s < m.env.n_states; s++) {
      if (m.env.wall[s]) continue;
      assert_close(b.v[s], a.v[s] - phi[s], 1e-11);
      assert_int_equal(b.policy[s], a.policy[s]);
      for (int k = 0; k < 4; k++) assert_close(b.adv[s * 4 + k], a.adv[s * 4 + k], 1e-11);
    }
    mdp_segments seg;
    draw(&m, 400, domains[c].len, 0, 200 + c, &seg);
    mdp_label_spec reg = {.model = MDP_LABEL_REGRET, .temperature = 1.3};
    mdp_label_spec pr = {.model = MDP_LABEL_PARTIAL_RETURN, .temperature = 1.3};
    double pr_moved = 0;
    for (size_t i = 0; i + 1 < seg.n; i += 2) {
      assert_close(mdp_label_prob(&m, rs, &b, &reg, &seg, i, i + 1, NULL),
                   mdp_label_prob(&m, NULL, &a, &reg, &seg, i, i + 1, NULL), 1e-11);
      pr_moved = fmax(pr_moved, fabs(mdp_label_prob(&m, rs, NULL, &pr, &seg, i, i + 1, NULL) -
                                     mdp_label_prob(&m, NULL, NULL, &pr, &seg, i, i + 1, NULL)));
    }
    assert_true(pr_moved > 0.05); /* Phi has scale 3.7: PR labels do change */
    mdp_segments_free(&seg);
    mdp_solution_free(&a);
    mdp_solution_free(&b);
    free(phi);
    free(rs);
    mdp_free(&m);
  }
  gsl_rng_free(r);
}

/* Segments sharing start and end states: the V* terms cancel, so regret and PR
 * labels agree (gamma = 1; with gamma < 1 the PR is discounted alike). */
static void test_shared_endpoints(void **state) {
  (void)state;
  for (size_t c = 0; c < sizeof domains / sizeof *domains; c++) {
    mdp m;
    make_domain(&domains[c], &m);
    mdp_solution sol;
    solve_ok(&m, NULL, m.env.gamma, &sol);
    mdp_segments seg;
    draw(&m, 300, domains[c].len, 0, 300 + c, &seg);
    mdp_label_spec reg = {.model = MDP_LABEL_REGRET, .temperature = 0.9};
    mdp_label_spec pr = {.model = MDP_LABEL_PARTIAL_RETURN, .temperature = 0.9};
    size_t L = seg.len, found = 0;
    for (size_t i = 0; i < seg.n; i++)
      for (size_t j = i + 1; j < seg.n; j++) {
        if (seg.state[i * (L + 1)] != seg.state[j * (L + 1)] ||
            seg.state[i * (L + 1) + L] != seg.state[j * (L + 1) + L])
          continue;
        found++;
        assert_close(mdp_label_prob(&m, NULL, &sol, &reg, &seg, i, j, NULL),
                     mdp_label_prob(&m, NULL, &sol, &pr, &seg, i, j, NULL), 1e-13);
      }
    assert_true(found >= 10);
    mdp_segments_free(&seg);
    mdp_solution_free(&sol);
    mdp_free(&m);
  }
}

/* Successor features of the optimal policy reproduce V* = Psi w* for every feature
 * kind, at gamma = 1 and 0.9; and the feature table reproduces the reward. */
static void test_successor_features(void **state) {
  (void)state;
  for (size_t c = 0; c < sizeof domains / sizeof *domains; c++) {
    mdp m;
    make_domain(&domains[c], &m);
    mdp_solution sol;
    solve_ok(&m, NULL, m.env.gamma, &sol);
    for (int kind = 0; kind < 3; kind++) {
      mdp_features f;
      assert_int_equal(mdp_features_alloc(&f, &m.env, (mdp_feature_kind)kind, NULL), PS_OK);
      double *w = malloc(f.d * sizeof *w), *rw = malloc(m.env.n_states * 4 * sizeof *rw);
      double *psi = malloc(m.env.n_states * f.d * sizeof *psi);
      mdp_true_weight(&m, &f, w);
      mdp_reward_from_weight(&f, w, rw);
      for (size_t k = 0; k < m.env.n_states * 4; k++) assert_close(rw[k], m.reward[k], 0);
      assert_int_equal(mdp_successor_features(&m.env, sol.policy, m.env.gamma, f.psi, f.d, psi, NULL), PS_OK);
      for (size_t s = 0; s < m.env.n_states; s++) {
        double v = 0;
        for (size_t k = 0; k < f.d; k++) v += psi[s * f.d + k] * w[k];
        assert_close(v, sol.v[s], 1e-11);
      }
      free(w);
      free(rw);
      free(psi);
      mdp_features_free(&f);
    }
    mdp_solution_free(&sol);
    mdp_free(&m);
  }
  /* gamma = 1 and a policy that never reaches the goal: no successor features */
  mdp m;
  assert_int_equal(mdp_corridor_alloc(&m, NULL), PS_OK);
  mdp_features f;
  assert_int_equal(mdp_features_alloc(&f, &m.env, MDP_FEAT_CELL_TYPE, NULL), PS_OK);
  int32_t up[5] = {0, 0, 0, 0, 0};
  double psi[10];
  ps_msg msg = {{0}};
  assert_int_equal(mdp_successor_features(&m.env, up, 1.0, f.psi, f.d, psi, &msg), PS_ESINGULAR);
  assert_non_null(strstr(msg.text, "never reaches"));
  mdp_features_free(&f);
  mdp_free(&m);
}

/* The reference label generator: rounding to 2 decimals and tie dropping; the
 * labels follow their probabilities (binomial check at 4.5 standard errors). */
static void test_label_pairs(void **state) {
  (void)state;
  mdp m;
  assert_int_equal(mdp_delivery_alloc(&m, NULL), PS_OK);
  mdp_solution sol;
  solve_ok(&m, NULL, 1, &sol);
  mdp_segments seg;
  draw(&m, 20000, 2, 0, 400, &seg);
  gsl_rng *r = ps_rng_alloc();
  for (int model = 0; model < 2; model++) {
    mdp_label_spec spec = {.model = (mdp_label_model)model, .temperature = 1, .round2 = 1, .drop_ties = 1};
    ps_rng_reset(r, SEED, PS_STREAM_JUDGEMENTS, 0, 0, (uint64_t)model);
    pref_data d;
    double *p = malloc(seg.n / 2 * sizeof *p);
    assert_int_equal(mdp_label_pairs(&m, NULL, &sol, &spec, &seg, r, &d, p, NULL), PS_OK);
    assert_true(d.n < seg.n / 2); /* integer rewards: many ties on length-2 segments */
    assert_true(d.n > seg.n / 10);
    double sum_p = 0, sum_y = 0, var = 0;
    for (size_t i = 0; i < d.n; i++) {
      size_t a = d.first_won[i] ? (size_t)d.winner[i] : (size_t)d.loser[i];
      size_t b = d.first_won[i] ? (size_t)d.loser[i] : (size_t)d.winner[i];
      assert_int_equal(a % 2, 0);
      assert_int_equal(b, a + 1);
      int tie;
      assert_close(mdp_label_prob(&m, NULL, &sol, &spec, &seg, a, b, &tie), p[i], 0);
      assert_false(tie);
      sum_p += p[i];
      sum_y += d.first_won[i];
      var += p[i] * (1 - p[i]);
    }
    assert_true(fabs(sum_y - sum_p) <= 4.5 * sqrt(var));
    /* keep ties: every pair is a row */
    pref_data d2;
    spec.drop_ties = 0;
    assert_int_equal(mdp_label_pairs(&m, NULL, &sol, &spec, &seg, r, &d2, NULL, NULL), PS_OK);
    assert_int_equal(d2.n, seg.n / 2);
    pref_data_free(&d2);
    pref_data_free(&d);
    free(p);
  }
  /* rounding: regret scores are integers here, so rounding changes nothing */
  mdp_label_spec a = {.model = MDP_LABEL_REGRET, .temperature = 1}, b = a;
  b.round2 = 1;
  for (size_t i = 0; i < 200; i += 2)
    assert_close(mdp_label_prob(&m, NULL, &sol, &a, &seg, i, i + 1, NULL),
                 mdp_label_prob(&m, NULL, &sol, &b, &seg, i, i + 1, NULL), 0);
  gsl_rng_free(r);
  mdp_segments_free(&seg);
  mdp_solution_free(&sol);
  mdp_free(&m);
}

static void test_segments_draw(void **state) {
  (void)state;
  mdp m;
  assert_int_equal(mdp_delivery_alloc(&m, NULL), PS_OK);
  mdp_solution sol;
  solve_ok(&m, NULL, 1, &sol);
  /* same stream, same segments */
  mdp_segments a, b;
  draw(&m, 500, 4, 0, 7, &a);
  draw(&m, 500, 4, 0, 7, &b);
  assert_memory_equal(a.state, b.state, 500 * 5 * sizeof(int32_t));
  assert_memory_equal(a.action, b.action, 500 * 4 * sizeof(int32_t));
  for (size_t i = 0; i < a.n; i++) {
    assert_false(m.env.terminal[a.state[i * 5]]);
    assert_false(m.env.wall[a.state[i * 5]]);
    for (size_t t = 0; t < 4; t++) {
      int32_t s = a.state[i * 5 + t];
      assert_int_equal(a.state[i * 5 + t + 1], m.env.next[s * 4 + a.action[i * 4 + t]]);
      assert_false(m.env.wall[a.state[i * 5 + t + 1]]);
    }
  }
  mdp_segments_free(&a);
  mdp_segments_free(&b);
  /* drop_absorbing: a terminal only possibly at the last state */
  draw(&m, 500, 4, 1, 8, &a);
  for (size_t i = 0; i < a.n; i++)
    for (size_t t = 0; t < 4; t++) assert_false(m.env.terminal[a.state[i * 5 + t]]);
  mdp_segments_free(&a);
  /* eps = 0: the greedy policy */
  gsl_rng *r = ps_rng_alloc();
  ps_rng_reset(r, SEED, PS_STREAM_QUERIES, 1, 0, 0);
  mdp_segment_spec sp = {.n = 300, .len = 3, .behaviour = MDP_BEHAVIOUR_EPS_GREEDY, .eps = 0, .greedy = sol.policy};
  assert_int_equal(mdp_segments_draw(&m.env, &sp, r, &a, NULL), PS_OK);
  for (size_t i = 0; i < a.n; i++) {
    assert_close(mdp_segment_regret(&m, NULL, &sol, &a, i), 0, 1e-12);
    for (size_t t = 0; t < 3; t++)
      if (!m.env.terminal[a.state[i * 4 + t]]) assert_int_equal(a.action[i * 3 + t], sol.policy[a.state[i * 4 + t]]);
  }
  mdp_segments_free(&a);
  gsl_rng_free(r);
  mdp_solution_free(&sol);
  mdp_free(&m);
}

/* Scaled return: the optimal policy scores 1; "always up" on the corridor bumps
 * forever and scores far below random; the greedy use of A* is optimal. */
static void test_scaled_return(void **state) {
  (void)state;
  for (int kind = 0; kind < 3; kind++) {
    domain_case c = {"", kind, 1, 1};
    mdp m;
    make_domain(&c, &m);
    mdp_solution sol;
    solve_ok(&m, NULL, 1, &sol);
    mdp_scaled sc;
    assert_int_equal(mdp_scaled_return(&m, sol.policy, 1000, &sc, NULL), PS_OK);
    assert_close(sc.scaled, 1, 1e-12);
    double mean_v = 0;
    for (size_t s = 0; s < m.env.n_states; s++) mean_v += sol.v[s];
    assert_close(sc.optimal_return, mean_v / (double)mdp_n_starts(&m.env), 1e-12);
    assert_true(sc.uniform_return < sc.optimal_return);
    int32_t *g = malloc(m.env.n_states * sizeof *g);
    mdp_greedy_policy(&m.env, sol.adv, g);
    assert_int_equal(mdp_scaled_return(&m, g, 1000, &sc, NULL), PS_OK);
    assert_close(sc.scaled, 1, 1e-12);
    free(g);
    mdp_solution_free(&sol);
    mdp_free(&m);
  }
  mdp m;
  assert_int_equal(mdp_corridor_alloc(&m, NULL), PS_OK);
  int32_t up[5] = {0};
  mdp_scaled sc;
  assert_int_equal(mdp_scaled_return(&m, up, 1000, &sc, NULL), PS_OK);
  assert_close(sc.policy_return, -1000, 1e-9);
  assert_true(sc.scaled < -10);
  ps_msg msg = {{0}};
  assert_int_equal(mdp_scaled_return(&m, up, 0, &sc, &msg), PS_EINVAL);
  mdp_free(&m);
}

static void test_errors(void **state) {
  (void)state;
  mdp m;
  ps_msg msg = {{0}};
  double r[4] = {-1, -1, -1, -1};
  uint8_t wall[4] = {1, 0, 0, 0}, term[4] = {1, 0, 0, 0};
  mdp_grid_spec spec = {.width = 2, .height = 2, .cell_reward = r, .gamma = 0};
  assert_int_equal(mdp_grid_alloc(&m, &spec, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "gamma"));
  mdp_free(&m);
  spec.gamma = 1;
  spec.wall = wall;
  spec.terminal = term;
  assert_int_equal(mdp_grid_alloc(&m, &spec, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "wall and a terminal"));
  spec.wall = NULL;
  int32_t type[4] = {0, 0, 1, 1};
  double r2[4] = {-1, -1, -1, -2};
  spec.cell_reward = r2;
  spec.cell_type = type;
  assert_int_equal(mdp_grid_alloc(&m, &spec, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "type 1"));
  r2[0] = NAN;
  spec.cell_type = NULL;
  assert_int_equal(mdp_grid_alloc(&m, &spec, &msg), PS_EDOM);
  /* no terminal at gamma = 1: V* undefined; fine at gamma < 1 */
  spec.terminal = NULL;
  spec.cell_reward = r;
  assert_int_equal(mdp_grid_alloc(&m, &spec, &msg), PS_OK);
  mdp_solution sol;
  assert_int_equal(mdp_solve(&m.env, m.reward, 1, NULL, &sol, &msg), PS_ENOCONV);
  assert_non_null(strstr(msg.text, "cannot reach a terminal"));
  mdp_solution_free(&sol);
  assert_int_equal(mdp_solve(&m.env, m.reward, 0.5, NULL, &sol, &msg), PS_OK);
  assert_close(sol.v[0], -2, 1e-14);
  mdp_solution_free(&sol);
  assert_int_equal(mdp_solve(&m.env, m.reward, 1.5, NULL, &sol, &msg), PS_EINVAL);
  mdp_solution_free(&sol);
  double bad[16] = {0};
  bad[5] = INFINITY;
  assert_int_equal(mdp_solve(&m.env, bad, 0.5, NULL, &sol, &msg), PS_EDOM);
  mdp_solution_free(&sol);
  /* the dynamics carry no reward: one must be given */
  assert_int_equal(mdp_solve(&m.env, NULL, 0.5, NULL, &sol, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "reward"));
  mdp_solution_free(&sol);
  /* segment and label arguments */
  gsl_rng *g = ps_rng_alloc();
  mdp_segments seg;
  mdp_segment_spec sp = {.n = 4, .len = 0};
  assert_int_equal(mdp_segments_draw(&m.env, &sp, g, &seg, &msg), PS_EINVAL);
  sp.len = 2;
  sp.behaviour = MDP_BEHAVIOUR_EPS_GREEDY;
  sp.eps = 0.1;
  assert_int_equal(mdp_segments_draw(&m.env, &sp, g, &seg, &msg), PS_EINVAL);
  assert_non_null(strstr(msg.text, "greedy"));
  sp.behaviour = MDP_BEHAVIOUR_UNIFORM;
  assert_int_equal(mdp_segments_draw(&m.env, &sp, g, &seg, &msg), PS_OK);
  pref_data d;
  mdp_label_spec ls = {.model = MDP_LABEL_PARTIAL_RETURN, .temperature = 0};
  assert_int_equal(mdp_label_pairs(&m, NULL, NULL, &ls, &seg, g, &d, NULL, &msg), PS_EINVAL);
  ls.temperature = 1;
  ls.model = MDP_LABEL_REGRET;
  assert_int_equal(mdp_label_pairs(&m, NULL, NULL, &ls, &seg, g, &d, NULL, &msg), PS_EINVAL);
  mdp_features f;
  assert_int_equal(mdp_features_alloc(&f, &m.env, (mdp_feature_kind)7, &msg), PS_EINVAL);
  mdp_segments_free(&seg);
  gsl_rng_free(g);
  mdp_free(&m);
  mdp_free(NULL);
  mdp_solution_free(NULL);
  mdp_segments_free(NULL);
  mdp_features_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_corridor_values),    cmocka_unit_test(test_grid3_hand_solved),
      cmocka_unit_test(test_o8_corridor),        cmocka_unit_test(test_telescoping),
      cmocka_unit_test(test_shift_invariance),   cmocka_unit_test(test_potential_shaping),
      cmocka_unit_test(test_shared_endpoints),   cmocka_unit_test(test_successor_features),
      cmocka_unit_test(test_label_pairs),        cmocka_unit_test(test_segments_draw),
      cmocka_unit_test(test_scaled_return),      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests_name("mdp", tests, NULL, NULL);
}
