/* fit_check.c — the post-fit check of `prefsim fit`: no `# status ok` on an answer
 * that is not finite or not stationary.
 *
 * Every fit path (the generic one in fitcli.c and each hook's run) gathers a
 * fit_verdict once the fit returned an estimate: every number it prints that must be
 * finite (objective and gradient norm where the model has them, parameters, scores,
 * group rewards and weights, the policy; per-annotator values must not be infinite)
 * and the model's optimality condition at its own tolerance:
 *   generic models   the estimator's convergence test (est_fit_info.converged: its
 *                    gradient or step tolerance, e.g. ||grad|| <= tol x weight);
 *   bt               the gradient of its objective recomputed here from the scores,
 *                    ||grad|| <= 1e3 x tol x max(weight, 1) (bt's own test, with the
 *                    slack it allows at the rounding floor);
 *   gpm              its Adam fit's gradient test (converged);
 *   minimax          the exploitability of the printed lottery: <= MINIMAX_CERT_TOL
 *                    for the LP, <= sqrt(ln m / (2T)) (Hedge's regret bound) for Hedge.
 * A failed check prints the table with `# status not-converged` (not stationary) or
 * `# status non-finite`, says why on stderr, and exits 6 (FITCLI_EXIT_NUMERIC). */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "fitcli_impl.h"

void fit_verdict_fail(fit_verdict *v, int status, const char *fmt, ...) {
  if (v->status == PS_EDOM || (v->status != PS_OK && status != PS_EDOM)) return;
  v->status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->why, sizeof v->why, fmt, ap);
  va_end(ap);
}

void fit_verdict_finite(fit_verdict *v, const char *what, const double *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) {
      if (n == 1) fit_verdict_fail(v, PS_EDOM, "%s is %g", what, x[i]);
      else fit_verdict_fail(v, PS_EDOM, "%s[%zu] is %g", what, i, x[i]);
      return;
    }
}

void fit_verdict_simplex(fit_verdict *v, const char *what, const double *p, size_t n) {
  fit_verdict_finite(v, what, p, n);
  if (v->status == PS_EDOM) return;
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < -1e-12) {
      fit_verdict_fail(v, PS_EDOM, "%s[%zu] is %g, not a probability", what, i, p[i]);
      return;
    }
    sum += p[i];
  }
  if (!(fabs(sum - 1) <= 1e-9)) fit_verdict_fail(v, PS_EDOM, "%s sums to %.12g, not 1", what, sum);
}

const char *fit_verdict_name(const fit_verdict *v) { return ps_status_name(v->status); }

int fit_verdict_report(const fit_job *j, const fit_verdict *v) {
  if (v->status == PS_OK) return FITCLI_EXIT_OK;
  const est_type *t = j->type;
  fprintf(stderr, "prefsim fit: %s: --model %s: %s: %s; the table is printed with # status %s\n", j->file, t->name,
          v->status == PS_EDOM ? "the answer is not finite" : "the answer is not stationary", v->why,
          fit_verdict_name(v));
  if (v->status != PS_ENOCONV) return FITCLI_EXIT_NUMERIC;
  /* which of the model's hyperparameters set its budget and its tolerance */
  static const char *const budget[] = {"max_iter", "iterations", "epochs", "polish", "T", NULL};
  char keys[200] = "";
  for (size_t i = 0; budget[i]; i++)
    if (ps_param_find(t->params, budget[i])) {
      if (keys[0]) strncat(keys, ", ", sizeof keys - strlen(keys) - 1);
      strncat(keys, budget[i], sizeof keys - strlen(keys) - 1);
    }
  if (keys[0] || ps_param_find(t->params, "tol"))
    fprintf(stderr, "  Raise its budget%s%s%s%s (prefsim fit --model %s --help).\n", keys[0] ? " (--param " : "", keys,
            keys[0] ? ")" : "", ps_param_find(t->params, "tol") ? " or loosen its tolerance (--param tol)" : "",
            t->name);
  return FITCLI_EXIT_NUMERIC;
}
