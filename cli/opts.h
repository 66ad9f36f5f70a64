/* opts.h — the command line's option parser (getopt_long's conventions) and
 * "did you mean" suggestions.  Part of cli/: it prints its errors on stderr.
 *
 * Accepted forms, as GNU programs do: `--name value`, `--name=value`, a unique
 * prefix of a long name (`--dry` for `--dry-run`), `-o value`, `-ovalue`, clustered
 * short options (`-qj2` = `-q -j 2`), `--` ends the options, `-` alone is an
 * argument.  Options and arguments may come in any order.  An unknown option is
 * named with the closest option of the command ("did you mean --dry-run?"). */
#ifndef PS_CLI_OPTS_H
#define PS_CLI_OPTS_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
  const char *name;  /* long name without "--" (NULL ends the table) */
  char short_name;   /* 0: none */
  int has_arg;       /* 1: takes a value */
  const char *arg;   /* the value's name in messages, e.g. "OUT.h5" */
} cli_opt;

typedef struct {
  const char *prog;  /* "prefsim run": prefix of messages */
  const cli_opt *opts;
  int argc;
  char **argv;
  int i;             /* next argv element */
  const char *cluster; /* rest of a short-option cluster */
  int only_args;     /* after "--" */
} cli_iter;

enum { CLI_END = 0, CLI_OPTION = 1, CLI_ARG = 2, CLI_ERROR = -1 };

/* argv[0] is the command name and is skipped. */
void cli_iter_init(cli_iter *it, const char *prog, const cli_opt *opts, int argc, char **argv);

/* The next option (*which = its index in opts, *value its value or NULL), argument
 * (*value) or the end.  CLI_ERROR after printing what is wrong (unknown option with
 * the closest one, a missing or unexpected value) on stderr. */
int cli_next(cli_iter *it, int *which, const char **value);

/* Edit distance (bytes; a swap of neighbours is one edit), and the candidate closest to word when it is close
 * enough to be a likely typo (or has word as a prefix), else NULL. */
size_t cli_edit_distance(const char *a, const char *b);
const char *cli_closest(const char *word, const char *const *cands, size_t n);

/* "; did you mean 'X'?" for the closest of cands (or "" when none is close) into buf. */
const char *cli_did_you_mean(const char *word, const char *const *cands, size_t n, char *buf, size_t len);

#endif
