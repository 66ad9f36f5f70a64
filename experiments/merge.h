/* merge.h — join shard files (prefsim run --shard K/N, one per machine or array
 * task) into one results file equal to a single-machine run.
 *
 * Checks: every input is a prefsim results file with the same resolved config (claims
 * and figures aside: the output takes the first input's; so
 * the same seed, axes, estimators); together the inputs finish every cell exactly
 * once (a cell DONE or FAILED in two inputs is a duplicate; in none, missing; an
 * input's own unfinished cells are reported with its shard so it can be resumed).
 * The output is never one of the inputs.  An existing output with the same config
 * is resumed (its DONE cells are kept, the rest copied), so an interrupted merge is
 * rerun with the same command; with another config it is refused unless force. */
#ifndef PS_EXPERIMENTS_MERGE_H
#define PS_EXPERIMENTS_MERGE_H

#include <stddef.h>

#include "../core/ps.h"

typedef struct {
  int force;               /* overwrite an output whose config differs */
  const char *argv_text;   /* stored as the output's argv */
} merge_options;

typedef struct {
  size_t cells, copied, kept;
} merge_summary;

int merge_files(const char *out, const char *const *inputs, size_t n_inputs, const merge_options *o,
                merge_summary *sum, ps_msg *m);

#endif
