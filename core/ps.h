/* ps.h — status codes and error messages shared by every prefsim module.
 *
 * Library functions return one of the PS_* codes and, on failure, fill a
 * caller-supplied ps_msg with one human-readable sentence.  They never print
 * and never exit; only the command-line programs in experiments/ do.  A NULL
 * ps_msg pointer is allowed everywhere and means "I do not want the text". */
#ifndef PS_CORE_PS_H
#define PS_CORE_PS_H

#include <stddef.h>

enum {
  PS_OK = 0,
  PS_EINVAL = 1,       /* bad argument or configuration value */
  PS_ENOMEM = 2,       /* allocation failed */
  PS_EIO = 3,          /* file could not be read or written */
  PS_ENOCONV = 4,      /* iteration limit reached before the tolerance */
  PS_ENOMLE = 5,       /* maximum-likelihood estimate does not exist */
  PS_ESINGULAR = 6,    /* estimate not unique: design does not span the space */
  PS_EDOM = 7,         /* NaN or infinite input or intermediate value */
  PS_EINTR = 8,        /* interrupted by a signal */
  PS_EFORMAT = 9       /* malformed input file */
};

#define PS_MSG_LEN 512

typedef struct {
  char text[PS_MSG_LEN];
} ps_msg;

/* Short fixed name of a status code ("ok", "no-mle", ...).  Never NULL. */
const char *ps_status_name(int status);

/* printf-style: write the message into m (if m is not NULL) and return
 * status, so that error paths read `return ps_fail(m, PS_EINVAL, "...")`. */
int ps_fail(ps_msg *m, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message in m with "prefix: ". */
void ps_msg_prefix(ps_msg *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
