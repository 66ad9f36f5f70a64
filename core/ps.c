/* ps.c — status names and message helpers (see ps.h). */
#include "ps.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ps_status_name(int status) {
  switch (status) {
  case PS_OK: return "ok";
  case PS_EINVAL: return "invalid";
  case PS_ENOMEM: return "no-memory";
  case PS_EIO: return "io-error";
  case PS_ENOCONV: return "not-converged";
  case PS_ENOMLE: return "no-mle";
  case PS_ESINGULAR: return "singular";
  case PS_EDOM: return "non-finite";
  case PS_EINTR: return "interrupted";
  case PS_EFORMAT: return "bad-format";
  default: return "unknown";
  }
}

int ps_fail(ps_msg *m, int status, const char *fmt, ...) {
  if (m) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->text, sizeof m->text, fmt, ap);
    va_end(ap);
  }
  return status;
}

void ps_msg_prefix(ps_msg *m, const char *fmt, ...) {
  if (!m) return;
  char buf[2 * PS_MSG_LEN + 4];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(buf, PS_MSG_LEN, fmt, ap);
  va_end(ap);
  if (k < 0) return;
  size_t len = strlen(buf);
  memcpy(buf + len, ": ", 3);
  memcpy(buf + len + 2, m->text, strnlen(m->text, PS_MSG_LEN - 1) + 1);
  buf[len + 2 + strnlen(m->text, PS_MSG_LEN - 1)] = 0;
  memcpy(m->text, buf, PS_MSG_LEN - 1);
  m->text[PS_MSG_LEN - 1] = 0;
}
