/* Atomic output files: written under a temporary name next to the target ("PATH.tmp-PID"), made
 * durable with fsync, then renamed over the target, so that the target path holds either its
 * previous content or the complete new file, after a failure, a kill or a system crash
 * (docs/hardening.md, "What is guaranteed"). */
#ifndef RP_ATOMIC_H
#define RP_ATOMIC_H
#include <stddef.h>

/* "PATH.tmp-PID" into buf; nonzero (an RP_EARG error) if it does not fit. It also removes the
 * "PATH.tmp-PID" files of processes that no longer run (a writer killed with SIGKILL leaves its
 * temporary file; the next writer of the same path cleans it up). */
int rp_atomic_tmpname(char *buf, size_t n, const char *path);
/* Only the clean-up: removes the "PATH.tmp-PID" files of processes that no longer run. */
void rp_atomic_sweep(const char *path);
/* Makes the complete file tmp durable (fsync), renames it to path and syncs the directory
 * (best effort: the rename is done by then). On a failure tmp is removed and the error names
 * it. A nonzero rc (the writer's own failure) only removes tmp and returns rc. */
int rp_atomic_publish(const char *tmp, const char *path, int rc);
/* n bytes as the whole new content of path, atomically. */
int rp_atomic_write(const char *path, const void *data, size_t n);

#endif
