/* Fault injection for the hardening tests (docs/hardening.md, "Fault injection"). The sites are
 * the allocations, writes, fsyncs, renames and HDF5 creates/writes/closes of the code that writes
 * output files. Off unless the environment says otherwise when the program starts:
 *   RP_FAULT_LIST=1  prints "rp-fault N: KIND at FILE:LINE" on stderr for every site passed
 *   RP_FAULT_AT=N    makes the Nth site passed fail, once: an allocation returns NULL (errno
 *                    ENOMEM), anything else reports failure with errno EIO; it says so on stderr
 *                    ("rp-fault N: failing KIND at FILE:LINE")
 * Off, a site costs one load and one branch on rp_fault_on. Sites are counted in the order the
 * process passes them, so a walk over N is repeatable only with a fixed thread count. */
#ifndef RP_FAULT_H
#define RP_FAULT_H
#include <stdlib.h>
#include <string.h>

extern int rp_fault_on; /* set at startup from RP_FAULT_AT / RP_FAULT_LIST */
/* Counts one site; nonzero (and errno set) when this one is to fail. */
int rp_fault_hit(const char *kind, const char *where);

#define RP_FAULT_STR2(x) #x
#define RP_FAULT_STR(x) RP_FAULT_STR2(x)
/* Nonzero when this site is to fail: `if (rp_fault("write") || fwrite(...) != n)`. */
#define rp_fault(kind) (rp_fault_on && rp_fault_hit(kind, __FILE__ ":" RP_FAULT_STR(__LINE__)))

/* Allocations of the write paths: NULL when the site is to fail. */
#define rp_malloc(n) (rp_fault("malloc") ? NULL : malloc(n))
#define rp_calloc(n, size) (rp_fault("calloc") ? NULL : calloc(n, size))
#define rp_realloc(p, n) (rp_fault("realloc") ? NULL : realloc(p, n))
#define rp_strdup(s) (rp_fault("strdup") ? NULL : strdup(s))

#endif
