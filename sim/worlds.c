/* worlds.c — the world registry: every kind of world by name (sim.h world_type).
 * Adding a world: its file defines `const world_type wt_NAME`, and one line
 * X(NAME) below declares and lists it; [world] kind accepts NAME and [world] accepts
 * its own keys from then on. */
#include "sim.h"

#define WORLDS(X)                                                                                                  \
  /* item and feature worlds (sim/world.c, world_correlated.c, world_spurious.c, world_behaviours.c) */            \
  X(items) X(features) X(correlated) X(spurious) X(behaviours)                                                     \
  /* trajectory-segment worlds (sim/mdp_worlds.c) */                                                               \
  X(corridor) X(delivery) X(grid)

#define DECLARE(name) extern const world_type wt_##name;
WORLDS(DECLARE)
#undef DECLARE

const world_type *const world_registry[] = {
#define LIST(name) &wt_##name,
    WORLDS(LIST)
#undef LIST
    NULL};
