/* test_util.h — small helpers shared by the cmocka tests. */
#ifndef PS_TESTS_TEST_UTIL_H
#define PS_TESTS_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* assert |a-b| <= tol, printing both values and the tolerance on failure. */
#define assert_close(a, b, tol)                                                         \
  do {                                                                                 \
    double a_ = (a), b_ = (b), t_ = (tol);                                             \
    if (!(fabs(a_ - b_) <= t_)) {                                                      \
      print_error("%s = %.12g, %s = %.12g, |diff| = %.3g > tol %.3g\n", #a, a_, #b, b_, \
                  fabs(a_ - b_), t_);                                                  \
      fail();                                                                          \
    }                                                                                  \
  } while (0)

/* A fresh temporary directory under $TMPDIR (or /tmp); caller frees the string. */
static inline char *test_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  char *p = malloc(4096);
  snprintf(p, 4096, "%s/prefsim-test-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(p)) { free(p); return NULL; }
  return p;
}

#endif
