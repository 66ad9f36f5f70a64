/* bigblock.h — allocation of large blocks (an m x m Hessian or covariance, per-row arrays).
 *
 * Under a hypervisor a first-touch page fault costs microseconds (8 MB of fresh 4 KiB
 * pages took 23 ms of CPU time, against 0.7 ms as four 2 MiB pages), which made faulting
 * in a covariance cost as much as inverting it.  So blocks of 512 KiB or more are 2 MiB
 * aligned and advised as transparent huge pages (a hint: no effect on any value, and a
 * no-op where THP is off or the kernel lacks MADV_HUGEPAGE).  Release them with free(). */
#ifndef PS_CORE_BIGBLOCK_H
#define PS_CORE_BIGBLOCK_H

#include <stddef.h>

/* malloc(bytes), huge-page aligned and advised when bytes >= 512 KiB.  NULL on failure. */
void *ps_alloc_large(size_t bytes);

/* The same hint for a caller's block about to be overwritten in full (its 2 MiB aligned
 * part; pages already faulted in stay as they are). */
void ps_advise_large(void *block, size_t bytes);

#endif
