/* mdp_worlds.c — the trajectory-segment worlds (docs/theory.md §2.10): small
 * deterministic MDPs whose segments annotators compare.  corridor and delivery are
 * fixed layouts (sim/mdp.c); grid is a width x height grid with the goal in the last
 * cell and bad terminal cells placed at random from the world stream (shared by
 * every grid point with common_world). */
#include <math.h>
#include <stdlib.h>

#include "mdp.h"
#include "sim.h"

#define END {NULL, 0, NULL, 0, 0, NULL, NULL}

static int corridor_alloc(mdp *out, const world_spec *spec, gsl_rng *r, ps_msg *m) {
  return mdp_corridor_alloc(out, m);
}

static int delivery_alloc(mdp *out, const world_spec *spec, gsl_rng *r, ps_msg *m) {
  return mdp_delivery_alloc(out, m);
}

static const ps_param grid_params[] = {
    {"grid_width", PS_PARAM_INT, "5", 1, 64, NULL, "grid worlds: width (the goal is the last cell)"},
    {"grid_height", PS_PARAM_INT, "5", 1, 64, NULL, "grid worlds: height"},
    {"step_reward", PS_PARAM_REAL, "-1", -1e6, 1e6, NULL, "grid worlds: reward of landing in an ordinary cell"},
    {"goal_reward", PS_PARAM_REAL, "10", -1e6, 1e6, NULL, "grid worlds: reward of reaching the goal (terminal)"},
    {"bad_reward", PS_PARAM_REAL, "-20", -1e6, 1e6, NULL, "grid worlds: reward of a bad cell (terminal)"},
    {"bad_fraction", PS_PARAM_REAL, "0.1", 0, 0.5, NULL, "grid worlds: share of cells that are bad, placed at random"},
    END};

static int grid_alloc(mdp *out, const world_spec *spec, gsl_rng *r, ps_msg *m) {
  size_t W = (size_t)world_setting(spec, "grid_width"), H = (size_t)world_setting(spec, "grid_height"), C = W * H;
  double *cr = malloc(C * sizeof(double));
  uint8_t *term = calloc(C, 1);
  if (!cr || !term) {
    free(cr);
    free(term);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  for (size_t c = 0; c < C; c++) cr[c] = world_setting(spec, "step_reward");
  cr[C - 1] = world_setting(spec, "goal_reward");
  term[C - 1] = 1;
  size_t nbad = (size_t)floor(world_setting(spec, "bad_fraction") * (double)C);
  double bad = world_setting(spec, "bad_reward");
  for (size_t b = 0; b < nbad; b++) {
    size_t c = gsl_rng_uniform_int(r, C - 1); /* never the goal */
    cr[c] = bad;
    term[c] = 1;
  }
  mdp_grid_spec gs = {.width = W, .height = H, .cell_reward = cr, .terminal = term, .gamma = 1};
  int s = mdp_grid_alloc(out, &gs, m);
  free(cr);
  free(term);
  return s;
}

const world_type wt_corridor = {
    .name = "corridor",
    .doc = "a 5 x 1 corridor with the goal at the right end (docs/theory.md §2.10)",
    .kind = WORLD_SEGMENTS,
    .mdp_alloc = corridor_alloc,
};

const world_type wt_delivery = {
    .name = "delivery",
    .doc = "a 6 x 6 delivery grid after Knox et al.: road, mud, terminal hazards, two walls and the goal",
    .kind = WORLD_SEGMENTS,
    .mdp_alloc = delivery_alloc,
};

const world_type wt_grid = {
    .name = "grid",
    .doc = "a grid_width x grid_height grid: goal in the last cell, bad terminal cells at random",
    .kind = WORLD_SEGMENTS,
    .params = grid_params,
    .mdp_alloc = grid_alloc,
};
