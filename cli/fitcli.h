/* fitcli.h — `prefsim fit`: fit any registered estimator that fits item comparisons
 * to the comparisons in a CSV file and print its estimates as a TSV table.
 *
 *     prefsim fit --model NAME DATA.csv [--param KEY=VALUE ...] [--seed S] [-v] [...]
 *     prefsim fit --model NAME --help       the estimator's doc, hyperparameters, output
 *     prefsim fit --list                    the estimators and the data each one fits
 *
 * The estimator, its hyperparameter table and its queries come from the registry
 * (estimators/estimator.h); a few models add their own output (fitcli_impl.h).
 * The input format is csv.h's; the output format and exit codes are in
 * fitcli_usage's text (and the enum below). */
#ifndef PS_CLI_FITCLI_H
#define PS_CLI_FITCLI_H

#include <stdio.h>

/* Exit statuses of fitcli_main. */
enum {
  FITCLI_EXIT_OK = 0,
  FITCLI_EXIT_INTERNAL = 1, /* out of memory or an unexpected library failure */
  FITCLI_EXIT_USAGE = 2,    /* bad command line: unknown option or model, a model that does not fit
                             * items, an unknown hyperparameter or a bad value, no DATA */
  FITCLI_EXIT_DATA = 3,     /* malformed CSV, data the model cannot fit, unknown --reference item */
  FITCLI_EXIT_NOMLE = 4,    /* the unpenalised MLE does not exist (comparison graph) */
  FITCLI_EXIT_IO = 5,       /* DATA cannot be read, or an output cannot be written */
  FITCLI_EXIT_NUMERIC = 6   /* no convergence / non-finite objective (bt: table printed with its status) */
};

/* Run `prefsim fit`.  argv[0] is the subcommand name ("fit"), the rest its
 * arguments.  Prints the table on stdout and any diagnostic on stderr; returns
 * one of the FITCLI_EXIT_* statuses.  The fit files (cli/fit_*.c) are the only
 * code of the CSV fit path that prints. */
int fitcli_main(int argc, char **argv);

/* The --help text: synopsis, options, the item-fitting models, input and output
 * format, exit statuses. */
void fitcli_usage(FILE *out);

#endif
