/* fit_mixture.c — `prefsim fit --model mixture`: K chosen by BIC.
 *
 * `--k auto` (or --param k=auto) becomes select = bic with k = the largest K tried
 * (--k-max, default 6): the mixture estimator then fits K = 1..k and keeps the K with
 * the smallest BIC.  The rest (item and group scores, the annotator table with each
 * user's cluster, the weights of the K types) is the generic output.
 *
 * With select = bic, the largest K is lowered, before any fit, to what the data can
 * support (mixture_check): at most the number of users (annotators, or rows without
 * an annotator column), and below the K that BIC can never choose.  With W the total
 * weight (> 1) and m items, a K-type model has p(K) = K m - 1 parameters and
 *     BIC(K) = -2 loglik(K) + p(K) ln W >= p(K) ln W          (loglik <= 0),
 *     BIC(1) <= 2 W ln 2 + (m - 1) ln W       (the one-type fit is at least as likely
 *                                              as equal scores: loglik >= -W ln 2),
 * so BIC(K) < BIC(1) needs K < 1 + 2 W ln 2 / (m ln W).  Larger K are fitted after the
 * smaller ones (and draw from the random stream after them), so leaving them out
 * gives the same answer; they are what made `--k auto --k-max 64` on 400 rows run for
 * minutes.  The note on stderr and `# k` in the output give the K used. */
#include <math.h>
#include <stdio.h>
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

static int mixture_check(fit_job *j) {
  const char *select = fit_hyper(j, "select");
  const ps_param *p = ps_param_find(j->type->params, "k");
  if (!select || strcmp(select, "bic") || !p) return FITCLI_EXIT_OK;
  const pref_data *d = &j->c->data;
  long k = (long)fit_hyper_real(j, "k", 2), cap = k;
  size_t users = d->annotator ? d->n_annotators : d->n, m = d->n_items;
  double W = pref_data_weight(d), bound = INFINITY;
  if ((size_t)cap > users) cap = (long)users;
  if (W > 1) {
    bound = 1 + 2 * W * log(2.0) / ((double)m * log(W));
    long useful = (long)ceil(bound) - 1; /* the largest K < bound */
    if (useful < 1) useful = 1;
    if (useful < cap) cap = useful;
  }
  if (cap >= k) return FITCLI_EXIT_OK;
  static char text[32];
  snprintf(text, sizeof text, "%ld", cap);
  j->hyper[p - j->type->params] = text;
  fprintf(stderr,
          "prefsim fit: %s: --model mixture, BIC over K = 1..%ld: K lowered to %ld, the most the data support "
          "(%zu user%s%s; K >= %.3g = 1 + 2 W ln 2 / (m ln W), with weight W = %.6g and m = %zu items, can never "
          "have the smallest BIC: its penalty alone exceeds the one-type BIC); the answer is unchanged\n",
          j->file, k, cap, users, users == 1 ? "" : "s", d->annotator ? "" : ": rows, without an annotator column",
          bound, W, m);
  return FITCLI_EXIT_OK;
}

static const fit_option mixture_options[] = {
    {"--k-max", "K",
     "with --k auto: the largest K tried (default 6); lowered, with a note, to the number of users and below "
     "the K whose BIC penalty alone exceeds the one-type BIC (such K can never be chosen)"},
    {NULL, NULL, NULL}};

const fit_hook fit_hook_mixture = {
    .model = "mixture",
    .options = mixture_options,
    .summary = "--k auto: the number of types K in 1..--k-max (default 6) chosen by BIC (select = bic)",
    .prepare = mixture_prepare,
    .check = mixture_check,
    .max_items = FIT_MAX_ITEMS_ANNOTATORS,
    .items_why = "its item score is the mean logit over all m(m-1) ordered pairs of items, each a mixture of K "
                 "types, and its EM fits run for minutes with no output beyond this",
};
