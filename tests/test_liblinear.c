/* test_liblinear.c — agreement with LIBLINEAR (Debian liblinear), an established
 * implementation of the same L2-regularised logistic regression: BT with penalty
 * (l2/2)||theta||^2 on the summed loss is liblinear's -s 0 with C = 1/l2 on the rows
 * x_i = phi(winner) - phi(loser) (items: e_w - e_l), labels +1 (half of the rows
 * negated with label -1, which leaves the objective unchanged and gives liblinear
 * two classes).
 *
 * Tolerance from the theory, not tuned: the objective is l2-strongly convex, so
 * any point's distance to the optimum is at most ||grad f|| / l2.  Both solutions'
 * gradients are measured with prefsim's bt_objective and the tolerance is the sum
 * of the two bounds. */
#include <linear.h>
#include <math.h>

#include "test_util.h"
#include "fixtures.h"
#include "../estimators/bt.h"
#include "../sim/sim.h"

static void quiet(const char *s) { (void)s; }

static void compare(const pref_data *d, const pref_features *f, double l2) {
  size_t dim = f->d, n = d->n;
  bt_options o = bt_options_default();
  o.l2 = l2;
  bt_result r;
  ps_msg m;
  assert_int_equal(bt_fit(d, f, &o, &r, &m), PS_OK);

  struct feature_node *nodes = malloc(n * (dim + 1) * sizeof *nodes);
  struct feature_node **rows = malloc(n * sizeof *rows);
  double *y = malloc(n * sizeof *y);
  for (size_t i = 0; i < n; i++) {
    struct feature_node *row = nodes + i * (dim + 1);
    double sgn = i % 2 ? -1.0 : 1.0;
    size_t k = 0;
    for (size_t j = 0; j < dim; j++) {
      double v;
      if (!f->phi)
        v = (j == (size_t)d->winner[i]) - (j == (size_t)d->loser[i]);
      else
        v = f->phi[(size_t)d->winner[i] * dim + j] - f->phi[(size_t)d->loser[i] * dim + j];
      if (v != 0) row[k++] = (struct feature_node){.index = (int)j + 1, .value = sgn * v};
    }
    row[k].index = -1;
    rows[i] = row;
    y[i] = sgn;
  }
  struct problem prob = {.l = (int)n, .n = (int)dim, .y = y, .x = rows, .bias = -1};
  struct parameter par = {.solver_type = L2R_LR, .eps = 1e-12, .C = 1.0 / l2};
  set_print_string_function(quiet);
  assert_null(check_parameter(&prob, &par));
  struct model *mod = train(&prob, &par);
  double *th = malloc(dim * sizeof *th), *g1 = malloc(dim * sizeof *g1), *g2 = malloc(dim * sizeof *g2);
  int lab[2];
  get_labels(mod, lab);
  double flip = lab[0] == 1 ? 1.0 : -1.0; /* liblinear's w is for its first label */
  for (size_t j = 0; j < dim; j++) th[j] = flip * get_decfun_coef(mod, (int)j + 1, 0);
  double f1 = bt_objective(d, f, &o, r.theta, g1, NULL, NULL);
  double f2 = bt_objective(d, f, &o, th, g2, NULL, NULL);
  double n1 = 0, n2 = 0, dist = 0;
  for (size_t j = 0; j < dim; j++) {
    n1 += g1[j] * g1[j];
    n2 += g2[j] * g2[j];
    dist += (r.theta[j] - th[j]) * (r.theta[j] - th[j]);
  }
  double bound = (sqrt(n1) + sqrt(n2)) / l2, tnorm = 0;
  for (size_t j = 0; j < dim; j++) tnorm += r.theta[j] * r.theta[j];
  tnorm = sqrt(tnorm);
  if (!(sqrt(dist) <= bound) || !(bound <= 1e-4 * tnorm))
    print_error("||theta_prefsim - theta_liblinear|| = %.3g, bound %.3g (grad norms %.3g, %.3g)\n", sqrt(dist),
                bound, sqrt(n1), sqrt(n2));
  assert_true(sqrt(dist) <= bound);
  assert_true(bound <= 1e-4 * tnorm); /* the comparison resolves theta to 1e-4 relative */
  assert_true(f1 <= f2 + 1e-9 * fabs(f2));
  free_and_destroy_model(&mod);
  free(nodes);
  free(rows);
  free(y);
  free(th);
  free(g1);
  free(g2);
  bt_result_free(&r);
}

static void test_features(void **state) {
  (void)state;
  world_spec ws = {.kind = WORLD_FEATURES, .contexts = 60, .responses = 5, .dim = 7, .feature_scale = 1.3};
  population_spec ps = {.norm = 2.385};
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0.05};
  fixtures_sim s;
  fixtures_sim_alloc(&s, 11, &ws, &ps, &ns, 4000);
  compare(&s.d, &s.f, 0.7);
  compare(&s.d, &s.f, 25.0);
  fixtures_sim_free(&s);
}

static void test_items(void **state) {
  (void)state;
  world_spec ws = {.kind = WORLD_ITEMS, .items = 40}; /* an item world draws nothing */
  population_spec ps = {.scale = 1.7};
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0};
  fixtures_sim s;
  fixtures_sim_alloc(&s, 12, &ws, &ps, &ns, 3000);
  compare(&s.d, &s.f, 1.0);
  fixtures_sim_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_features),
      cmocka_unit_test(test_items),
  };
  return cmocka_run_group_tests_name("liblinear", tests, NULL, NULL);
}
