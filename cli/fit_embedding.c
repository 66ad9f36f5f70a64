/* fit_embedding.c — `prefsim fit --model idealpoint` and `--model lowrank`: the
 * annotator models with per-user embeddings (docs/theory.md §3.5-3.6).  They fit and
 * print through the generic path; their hooks add only the item ceiling shared by the
 * annotator models (FIT_MAX_ITEMS_ANNOTATORS, lifted by --allow-large): above it a
 * fit runs for minutes with no output (every Adam step of every restart updates all
 * item embeddings, whatever the number of rows, and idealpoint has no per-item
 * parameter, so its item score is its mean logit over all m(m-1) ordered pairs). */
#include "fitcli_impl.h"

const fit_hook fit_hook_idealpoint = {
    .model = "idealpoint",
    .max_items = FIT_MAX_ITEMS_ANNOTATORS,
    .items_why = "its item score is the mean logit over all m(m-1) ordered pairs of items, each over K "
                 "prototypes, and its fits run for minutes with no output beyond this",
};

const fit_hook fit_hook_lowrank = {
    .model = "lowrank",
    .max_items = FIT_MAX_ITEMS_ANNOTATORS,
    .items_why = "the annotator models' ceiling: every Adam step updates all m x B item features, so its "
                 "iterations x restarts x m x B work runs for minutes with no output beyond this even on few rows",
};
