/* registry.c — the list of estimators by name (see estimator.h).
 *
 * Adding an estimator: its file defines `const est_type est_NAME`, and one line
 * X(NAME) below declares and lists it.  Nothing else in the tree changes: `prefsim
 * run` finds it by name in [estimator.LABEL] sections, `prefsim fit --model NAME`
 * when it fits item comparisons, `prefsim list` and the conformance test
 * (tests/test_registry.c) loop over this list. */
#include "estimator.h"

#include <string.h>

#define ESTIMATORS(X)                                                                                              \
  /* Bradley-Terry and item rankings */                                                                            \
  X(bt) X(mm) X(ilsr) X(lsr) X(rank_centrality) X(borda) X(pl)                                                     \
  /* paired comparisons with ties (ties_est.c) */                                                                  \
  X(davidson) X(raokupper)                                                                                         \
  /* intransitive preferences and games */                                                                         \
  X(gpm) X(minimax) X(nash) X(slhf)                                                                                \
  /* rewards from trajectory segments */                                                                           \
  X(regret_model) X(partial_return)                                                                                \
  /* heterogeneous annotators */                                                                                   \
  X(mixture) X(noisybt) X(flipem) X(idealpoint) X(lowrank)                                                         \
  /* policy learners */                                                                                            \
  X(dpo) X(dpo_listwise) X(dpo_gd) X(hypo) X(rlhf) X(bon) X(drpo) X(grpo) X(pessimistic) X(greedy_mle)

#define DECLARE(name) extern const est_type est_##name;
ESTIMATORS(DECLARE)
#undef DECLARE

const est_type *const est_registry[] = {
#define LIST(name) &est_##name,
    ESTIMATORS(LIST)
#undef LIST
    NULL};

const est_type *est_lookup(const char *name) {
  for (size_t i = 0; est_registry[i]; i++)
    if (!strcmp(est_registry[i]->name, name)) return est_registry[i];
  return NULL;
}

int est_check_ties(const est_type *t, const pref_data *d, ps_msg *m) {
  size_t k = pref_data_n_ties(d);
  if (!k || (t->inputs & EST_IN_TIES)) return PS_OK;
  return ps_fail(m, PS_EINVAL,
                 "%s does not model ties and the data have %zu tie%s: use a tie model (davidson, raokupper) "
                 "or bt with ties = drop|half (prefsim fit: --ties drop|half)",
                 t->name, k, k == 1 ? "" : "s");
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
