/* registry.c — the list of estimators by name (see estimator.h). */
#include "estimator.h"

#include <string.h>

const est_type *const est_registry[] = {
    &est_bt, &est_mm, &est_ilsr, &est_lsr, &est_rank_centrality, &est_gpm, &est_minimax, &est_regret_model,
    &est_partial_return,
    /* heterogeneous annotators */
    &est_mixture, &est_noisybt, &est_flipem, &est_idealpoint, &est_lowrank,
    /* policy learners */
    &est_dpo, &est_hypo, &est_rlhf, &est_drpo, &est_grpo, &est_pessimistic, &est_greedy_mle,
    NULL};

const est_type *est_lookup(const char *name) {
  for (size_t i = 0; est_registry[i]; i++)
    if (!strcmp(est_registry[i]->name, name)) return est_registry[i];
  return NULL;
}

const char *est_names(void) {
  static char buf[512];
  buf[0] = 0;
  for (size_t i = 0; est_registry[i]; i++) {
    if (i) strncat(buf, ", ", sizeof buf - strlen(buf) - 1);
    strncat(buf, est_registry[i]->name, sizeof buf - strlen(buf) - 1);
  }
  return buf;
}
