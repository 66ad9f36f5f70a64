/* worlds.c — the world registry: every kind of world by name (sim.h world_type).
 * Adding a world: its file defines `const world_type world_NAME`, and one line
 * here declares and lists it. */
#include "sim.h"

extern const world_type world_items, world_features_type;
extern const world_type world_corridor, world_delivery, world_grid;
extern const world_type world_correlated;

const world_type *const world_registry[] = {
    &world_items, &world_features_type,
    &world_correlated, /* sim/world_correlated.c */
    /* trajectory-segment worlds (sim/mdp_worlds.c) */
    &world_corridor, &world_delivery, &world_grid,
    NULL};
