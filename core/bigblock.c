/* bigblock.c — see bigblock.h. */
#include "bigblock.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)
#define LARGE_BYTES ((size_t)512 << 10)

void *ps_alloc_large(size_t bytes) {
#ifdef MADV_HUGEPAGE
  if (bytes >= LARGE_BYTES) {
    size_t size = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *p;
    if (posix_memalign(&p, HUGE_PAGE, size) != 0) return NULL;
    madvise(p, size, MADV_HUGEPAGE);
    return p;
  }
#endif
  return malloc(bytes);
}

void ps_advise_large(void *block, size_t bytes) {
#ifdef MADV_HUGEPAGE
  if (bytes < 2 * HUGE_PAGE) return;
  uintptr_t a = ((uintptr_t)block + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
  uintptr_t b = ((uintptr_t)block + bytes) & ~(uintptr_t)(HUGE_PAGE - 1);
  if (b > a) madvise((void *)a, b - a, MADV_HUGEPAGE);
#else
  (void)block, (void)bytes;
#endif
}
