/* fit_hooks.c — the models of `prefsim fit` that add something of their own to the
 * generic fit (fitcli_impl.h): one line per hook, each defined in its own file.  A
 * model without a hook needs no line: the registry alone makes it work. */
#include <string.h>

#include "fitcli_impl.h"

const fit_hook *const fit_hooks[] = {&fit_hook_bt,      &fit_hook_gpm,        &fit_hook_minimax,
                                     &fit_hook_mixture, &fit_hook_idealpoint, &fit_hook_lowrank, &fit_hook_pl,
                                     &fit_hook_davidson, &fit_hook_raokupper, &fit_hook_nash, &fit_hook_slhf, NULL};

const fit_hook *fit_hook_find(const char *model) {
  for (size_t i = 0; fit_hooks[i]; i++)
    if (!strcmp(fit_hooks[i]->model, model)) return fit_hooks[i];
  return NULL;
}
