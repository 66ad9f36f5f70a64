/* fitcli.h — `prefsim fit`: fit a preference model to comparisons in a CSV file
 * and print the scores with standard errors as a TSV table.
 *
 *     prefsim fit --model bt DATA.csv [--l2 LAMBDA] [--reference ITEM] [--no-se] [-v]
 *     prefsim fit --model gpm DATA.csv [--k K] [--tau T] [--seed S] [...]
 *     prefsim fit --model minimax DATA.csv
 *
 * The input format is csv.h's; the output format and exit codes are in
 * fitcli_usage's text (and the enum below). */
#ifndef PS_EXPERIMENTS_FITCLI_H
#define PS_EXPERIMENTS_FITCLI_H

#include <stdio.h>

/* Exit statuses of fitcli_main. */
enum {
  FITCLI_EXIT_OK = 0,
  FITCLI_EXIT_INTERNAL = 1, /* out of memory or an unexpected library failure */
  FITCLI_EXIT_USAGE = 2,    /* bad command line: unknown option or model, bad --l2, no DATA */
  FITCLI_EXIT_DATA = 3,     /* malformed CSV, or --reference names no item of the data */
  FITCLI_EXIT_NOMLE = 4,    /* the unpenalised MLE does not exist (comparison graph) */
  FITCLI_EXIT_IO = 5,       /* DATA cannot be read, or standard output cannot be written */
  FITCLI_EXIT_NUMERIC = 6   /* no convergence / singular Hessian: table printed with its status */
};

/* Run `prefsim fit`.  argv[0] is the subcommand name ("fit"), the rest its
 * arguments.  Prints the table on stdout and any diagnostic on stderr; returns
 * one of the FITCLI_EXIT_* statuses.  This is the only function of the CSV fit
 * path that prints. */
int fitcli_main(int argc, char **argv);

/* The --help text: synopsis, options, input and output format, exit statuses. */
void fitcli_usage(FILE *out);

#endif
