/* cmd_new.c — `prefsim new EXPERIMENT [-o FILE]`: a commented template experiment
 * file that runs as it is (a few seconds) and whose claim passes prefsim verify. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../experiments/experiment.h"
#include "commands.h"
#include "opts.h"

enum { EXIT_USAGE = 2, EXIT_DATA = 3 };

/* @NAME@ is replaced by the experiment's name.  tests/test_cli.sh runs and verifies it. */
static const char template_ini[] =
    "; @NAME@.ini — an experiment file written by `prefsim new @NAME@`.  It runs as it is\n"
    "; (prefsim run @NAME@.ini; a few seconds), and prefsim verify then checks its claim.\n"
    "; Edit it into your own experiment; every key is checked when the file is read, and\n"
    "; an error names the line, the key and what is allowed.\n"
    ";   prefsim list            what exists: estimators, worlds, metrics, sections\n"
    ";   prefsim list KEY        one key, estimator, world or metric in detail (list bt, list dim)\n"
    ";   prefsim run --dry-run @NAME@.ini   the resolved config, the cell count and the time\n"
    "; Comments start with ';' or '#' at the start of a line, or with ' ;' after a value.\n"
    ";\n"
    "; The experiment: item Bradley-Terry on 10 items with true scores N(0, 1), compared in\n"
    "; uniformly random pairs; the maximum-likelihood scores' error should fall as n^-1/2\n"
    "; (docs/theory.md §5, row 22; experiments/bt_items.ini checks the same on 30 items).\n"
    "; 400 cells, about 2 s on 2 cores.\n"
    "\n"
    "; [experiment]: the name (the output is out/NAME/NAME.h5), the master seed of every\n"
    "; random stream, the replicates per grid point.  A cell is one (grid point, replicate);\n"
    "; replicate r uses the same world at every grid point (common_world = true).\n"
    "[experiment]\n"
    "name = @NAME@\n"
    "description = item BT on 10 items: the MLE's error falls as n^-1/2\n"
    "seed = 20261207\n"
    "replicates = 100\n"
    "\n"
    "; [world]: what is compared.  kind = items (scored items), features (contexts x\n"
    "; responses with feature vectors) or an MDP world (segments); prefsim list items.\n"
    "[world]\n"
    "kind = items\n"
    "items = 10\n"
    "\n"
    "; [population]: the annotators' true preferences.  kind = bt: one true score per item,\n"
    "; N(0, scale^2); mixtures, ideal points, low-rank users and careless annotators are\n"
    "; other kinds (prefsim list population).\n"
    "[population]\n"
    "kind = bt\n"
    "scale = 1.0\n"
    "\n"
    "; [noise]: how a comparison is judged: the link (logistic = Bradley-Terry, probit =\n"
    "; Thurstone), a temperature and a label-flip rate.\n"
    "[noise]\n"
    "link = logistic\n"
    "flip = 0\n"
    "\n"
    "; [design]: which pairs are asked: uniform, or pairs drawn from a reference policy.\n"
    "[design]\n"
    "kind = uniform\n"
    "\n"
    "; [data]: training comparisons per cell (n, swept below) and held-out comparisons\n"
    "; on which log-loss and accuracy are measured.\n"
    "[data]\n"
    "heldout = 2000\n"
    "\n"
    "; [sweep]: one axis per key, in this order (the results' dimensions); any key above\n"
    "; (n, items, flip, ...) or estimator.LABEL.hyperparameter.  Cells = the product of\n"
    "; the axes' lengths x replicates: here 4 x 100 = 400.\n"
    "[sweep]\n"
    "n = 1000, 2000, 4000, 8000\n"
    "\n"
    "; [estimator.LABEL]: one fitted estimator per section; type defaults to LABEL and\n"
    "; the other keys are its hyperparameters (prefsim list bt).  Results are stored\n"
    "; under /metrics/LABEL/ for every metric that applies.\n"
    "[estimator.bt]\n"
    "l2 = 0\n"
    "\n"
    "; [claim.NAME]: checked by prefsim verify (docs/theory.md §5.1).  A slope claim names\n"
    "; the value the theory predicts, the alternative it rules out and a tolerance below\n"
    "; half their distance; bias bounds the finite-sample departure, derived here:\n"
    ";   * value -0.5: the MLE is sqrt(n)-consistent, its rms error ~ sqrt(tr L^+) ~ n^-1/2;\n"
    ";   * alternative -0.25: the slow rate (an O(n^-1/2) excess risk turned into a\n"
    ";     parameter error through strong convexity); a plateau (slope 0) is farther.\n"
    ";     Limit: tol < |-0.5 - (-0.25)| / 2 = 0.125;\n"
    ";   * bias: the mean squared error is tr L^+ (1 + c m/n) to second order, c about 3.5\n"
    ";     for m = 30 (bt_items.ini's expansion; not recomputed for m = 10, so allow twice\n"
    ";     it, c <= 7); over n = 1000..8000 it steepens the OLS slope of log rms by at\n"
    ";     most 0.014: B = 0.015;\n"
    ";   * tol = B + 2.2 h with h the CI's half-width in a pilot on another seed\n"
    ";     (experiment.seed=99: h = 0.032): tol = 0.09 < 0.125.\n"
    "[claim.rate]\n"
    "metric = bt/param_err\n"
    "expect = slope\n"
    "against = n\n"
    "statistic = rms\n"
    "value = -0.5\n"
    "alternative = -0.25\n"
    "bias = 0.015\n"
    "tol = 0.09\n"
    "\n"
    "; [figure.NAME]: drawn by prefsim plot (with a reference line of the claimed slope).\n"
    "[figure.rate]\n"
    "metric = bt/param_err\n"
    "x = n\n"
    "slope = -0.5\n";

void usage_new(FILE *f) {
  fprintf(f,
          "usage: prefsim new EXPERIMENT [-o FILE]\n"
          "\n"
          "Writes a commented template experiment file, EXPERIMENT.ini (or FILE; '-' for standard\n"
          "output): every section explained, a sweep, an estimator, a claim with the alternative it\n"
          "rules out, its tolerance and bias derived in comments (docs/theory.md section 5.1), and a\n"
          "figure.  It runs as it is: prefsim run EXPERIMENT.ini takes a few seconds and prefsim verify\n"
          "passes its claim.  An existing file is never overwritten.  EXPERIMENT names the experiment\n"
          "(letters, digits, '.', '_', '-'; a trailing .ini is the file name).\n"
          "  -o, --output FILE   write FILE instead of EXPERIMENT.ini\n");
}

int cmd_new(int argc, char **argv) {
  static const cli_opt opts[] = {{"output", 'o', 1, "FILE"}, {"help", 'h', 0, NULL}, {NULL}};
  cli_iter it;
  cli_iter_init(&it, "prefsim new", opts, argc, argv);
  int r, k;
  const char *v, *name = NULL, *out = NULL;
  while ((r = cli_next(&it, &k, &v)) != CLI_END) {
    if (r == CLI_ERROR) return EXIT_USAGE;
    if (r == CLI_ARG) {
      if (name) {
        fprintf(stderr, "prefsim new: one EXPERIMENT, not '%s' and '%s'\n", name, v);
        return EXIT_USAGE;
      }
      name = v;
    } else if (k == 1) {
      usage_new(stdout);
      return 0;
    } else
      out = v;
  }
  if (!name) {
    fprintf(stderr, "prefsim new: no EXPERIMENT name given\n\n");
    usage_new(stderr);
    return EXIT_USAGE;
  }
  /* "dir/foo.ini": the file; its stem is the name */
  char stem[EXP_NAME_MAX + 8], path[4096];
  const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
  size_t bl = strlen(base);
  int has_ini = bl > 4 && !strcmp(base + bl - 4, ".ini");
  size_t sl = has_ini ? bl - 4 : bl;
  int ok = sl > 0 && sl <= EXP_NAME_MAX && base[0] != '.';
  for (size_t i = 0; ok && i < sl; i++) {
    char ch = base[i];
    ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
         ch == '-' || ch == '.';
  }
  if (!ok) {
    fprintf(stderr, "prefsim new: '%.*s' cannot name an experiment: letters, digits, '.', '_' and '-' only, not "
            "starting with '.', at most %d characters\n", (int)sl, base, EXP_NAME_MAX);
    return EXIT_USAGE;
  }
  snprintf(stem, sizeof stem, "%.*s", (int)sl, base);
  if (!out) {
    snprintf(path, sizeof path, "%s%s", name, has_ini ? "" : ".ini");
    out = path;
  }
  /* the text, with the name */
  size_t n = 0, cap = sizeof template_ini + 64 * strlen(stem);
  char *text = malloc(cap);
  if (!text) {
    fprintf(stderr, "prefsim new: out of memory\n");
    return EXIT_DATA;
  }
  for (const char *p = template_ini; *p;) {
    if (!strncmp(p, "@NAME@", 6)) {
      memcpy(text + n, stem, strlen(stem));
      n += strlen(stem);
      p += 6;
    } else
      text[n++] = *p++;
  }
  text[n] = 0;
  if (!strcmp(out, "-")) {
    fputs(text, stdout);
    free(text);
    return 0;
  }
  /* never over an existing file (O_EXCL: not even one created meanwhile) */
  int fd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0666);
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST)
      fprintf(stderr, "prefsim new: %s exists; it is left as it is (choose another name or -o FILE)\n", out);
    else
      fprintf(stderr, "prefsim new: cannot create %s: %s\n", out, strerror(e));
    free(text);
    return e == EEXIST ? EXIT_USAGE : EXIT_DATA;
  }
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, text + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += (size_t)w;
  }
  int bad = done < n || fsync(fd) != 0;
  int e = errno;
  if (close(fd) != 0) bad = 1;
  free(text);
  if (bad) {
    fprintf(stderr, "prefsim new: cannot write %s: %s\n", out, strerror(e));
    unlink(out);
    return EXIT_DATA;
  }
  printf("%s\n", out);
  fprintf(stderr, "prefsim new: wrote %s; next: prefsim run --dry-run %s, then prefsim run %s\n", out, out, out);
  return 0;
}
