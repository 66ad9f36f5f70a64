/* cmd_plot.h — `prefsim plot` (cmd_plot.c), called by main.c. */
#ifndef PS_CLI_CMD_PLOT_H
#define PS_CLI_CMD_PLOT_H

#include <stdio.h>

#include "../results/h5store.h"

/* Run `prefsim plot`; argv[0] is "plot".  Returns the exit status (0, 2 usage or an
 * unknown metric, axis or key value, 3 data or gnuplot errors). */
int cmd_plot(int argc, char **argv);
void cmd_plot_usage(FILE *f);

/* One line on a results file that is not COMPLETED (empty for a COMPLETED one);
 * defined in main.c. */
void describe_partial(const char *path, h5read *r, char *buf, size_t n);

#endif
