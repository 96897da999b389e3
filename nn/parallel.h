/* A persistent pool of worker threads for the nn core: started once, reused by every call, so a
 * training step neither creates threads nor allocates. Used by conv2d to split a batch's images. */
#ifndef RP_PARALLEL_H
#define RP_PARALLEL_H
#include <stddef.h>

typedef void (*nn_task_fn)(void *ctx, int t);

/* Runs fn(ctx, t) for t = 0 .. T-1 concurrently (t = 0 on the calling thread) and returns when all
 * have finished. Worker t runs pinned to the t-th CPU this process may use; a caller found on a
 * worker's CPU is moved to the first for the run (its mask is restored afterwards). Waiters spin
 * ~1 ms before sleeping. T is clamped to nn_max_threads(); if a worker cannot be started, fewer tasks run,
 * so fn must treat t only as an index for scratch space and take work from a shared counter.
 * Call from one thread at a time, and not from inside fn. */
void nn_parallel_run(int T, nn_task_fn fn, void *ctx);

/* Starts the workers for T-way runs now (nn_set_threads calls it), so that the first run does
 * not allocate. Returns the number of threads available (1 + workers). */
int nn_parallel_reserve(int T);

/* Large buffers (activations, workspaces): 2 MB aligned and, where the kernel offers transparent
 * huge pages on request (madvise mode), backed by them. Streamed maps of 10-100 MB otherwise miss
 * the TLB once every 4 KB. Release with free(). NULL when out of memory. */
void *nn_alloc_big(size_t bytes);

#endif
