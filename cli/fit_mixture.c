/* fit_mixture.c — `prefsim fit --model mixture`: K chosen by BIC.
 *
 * `--k auto` (or --param k=auto) becomes select = bic with k = the largest K tried
 * (--k-max, default 6): the mixture estimator then fits K = 1..k and keeps the K with
 * the smallest BIC.  The rest (item and group scores, the annotator table with each
 * user's cluster, the weights of the K types) is the generic output. */
#include <string.h>

#include "fitcli_impl.h"

static int mixture_prepare(fit_args *a, ps_msg *m) {
  const char *kmax = fit_option_value(a, "--k-max");
  size_t n = a->n_set;
  int automatic = 0;
  for (size_t i = 0; i < n; i++) {
    fit_setting *s = &a->set[i];
    if (strcmp(s->key, "k") || strcmp(s->value, "auto")) continue;
    automatic = 1;
    s->value = kmax ? kmax : "6";
    s->origin = kmax ? "--k-max" : "--k auto";
    if (a->n_set == FIT_MAX_SETTINGS) return ps_fail(m, PS_EINVAL, "too many hyperparameter settings");
    fit_setting *sel = &a->set[a->n_set++];
    strcpy(sel->key, "select");
    sel->value = "bic";
    sel->origin = "--k auto";
  }
  if (kmax && !automatic) return ps_fail(m, PS_EINVAL, "--k-max applies to --model mixture --k auto only");
  return PS_OK;
}

static const fit_option mixture_options[] = {
    {"--k-max", "K", "with --k auto: the largest K tried (default 6)"}, {NULL, NULL, NULL}};

const fit_hook fit_hook_mixture = {
    .model = "mixture",
    .options = mixture_options,
    .summary = "--k auto: the number of types K in 1..--k-max (default 6) chosen by BIC (select = bic)",
    .prepare = mixture_prepare,
};
