/* commands.h — the command line's commands that live in their own files. */
#ifndef PS_CLI_COMMANDS_H
#define PS_CLI_COMMANDS_H

#include <stdio.h>

/* prefsim list [NAME]: an overview, or one estimator, world, metric, section or key */
int cmd_list(int argc, char **argv);
void usage_list(FILE *f);

/* prefsim new EXPERIMENT [-o FILE]: a commented template experiment file */
int cmd_new(int argc, char **argv);
void usage_new(FILE *f);

/* prefsim export RESULTS.h5 [--format csv|netcdf] [-o FILE] [--partial] */
int cmd_export(int argc, char **argv);
void usage_export(FILE *f);

#endif
