/* Persistent worker pool (see parallel.h): the caller does task 0 itself. Workers wait for each
 * run's generation first by spinning for a short while, then on a condition variable; the caller
 * waits for the others the same way. On a 2-vCPU VM a sleeping worker took 0.1-1 ms to wake (the
 * idle vCPU is descheduled), longer than a whole Winograd layer on a chunk of images: the fast
 * convolution path runs several pool runs per layer, back to back, so a worker that has just
 * finished one is almost always still spinning when the next begins. */
#include "nn/parallel.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "nn/gemm.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

enum { POOL_MAX = 64 };
/* Pause instructions a waiter spins before sleeping: 1.3 ms here (20 ns each), longer than the
 * serial stretches of a training step, so workers rarely have to be woken (0.05-1 ms on a VM). */
enum { SPIN = 1 << 16 };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    int workers;              /* started; worker i runs task i (1-based) */
    atomic_ulong gen;         /* bumped once per run (under mu, after fn/ctx/T are set) */
    int T;                    /* tasks in the current run */
    atomic_int pending;       /* workers still busy with it */
    nn_task_fn fn;
    void *ctx;
    unsigned long start_gen[POOL_MAX]; /* gen when worker i was started: it waits for the next */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, {0}};

/* The generation after `seen`: spin, then sleep. */
static unsigned long wait_gen(unsigned long seen) {
    unsigned long g;
    for (int i = 0; i < SPIN; i++) {
        if ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) != seen) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&pool.mu);
    while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen) pthread_cond_wait(&pool.go, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    return g;
}

/* The CPUs this process may use (as sched_getaffinity reported them at the first run). */
static cpu_set_t allowed;
static int allowed_n, allowed_cpu[POOL_MAX];

static void pin_self(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *worker(void *arg) {
    const int id = (int)(intptr_t)arg;
    if (id < allowed_n) pin_self(allowed_cpu[id]);
    nn_fp_init();
    pthread_mutex_lock(&pool.mu);
    /* Not pool.gen: a run may have begun between pthread_create and this lock. */
    unsigned long seen = pool.start_gen[id];
    pthread_mutex_unlock(&pool.mu);
    for (;;) {
        seen = wait_gen(seen);
        if (id >= pool.T) continue;
        pool.fn(pool.ctx, id);
        if (atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.mu);
        }
    }
    return NULL;
}

/* Caller holds pool.mu. */
static int reserve_locked(int T) {
    if (!allowed_n && sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE && allowed_n < POOL_MAX; c++)
            if (CPU_ISSET(c, &allowed)) allowed_cpu[allowed_n++] = c;
    if (T > nn_max_threads()) T = nn_max_threads();
    if (T > POOL_MAX) T = POOL_MAX;
    while (pool.workers < T - 1) {
        pthread_t tid;
        pool.start_gen[pool.workers + 1] = atomic_load(&pool.gen);
        if (pthread_create(&tid, NULL, worker, (void *)(intptr_t)(pool.workers + 1)) != 0) break;
        pthread_detach(tid);
        pool.workers++;
    }
    return pool.workers + 1;
}

int nn_parallel_reserve(int T) {
    pthread_mutex_lock(&pool.mu);
    int n = reserve_locked(T);
    pthread_mutex_unlock(&pool.mu);
    return n;
}

void nn_parallel_run(int T, nn_task_fn fn, void *ctx) {
    int pinned = 0;
    if (T > 1) {
        pthread_mutex_lock(&pool.mu);
        int avail = reserve_locked(T);
        if (T > avail) T = avail;
        if (T > 1 && T <= allowed_n) {
            /* Worker i is pinned to the i-th allowed CPU (when started); the caller must not sit on
             * one of theirs: unpinned, the scheduler kept waking threads onto their waker's CPU
             * (wake-affine), two of ours then time-shared one core while the other idled, and 2
             * threads ran slower than 1. A caller found on a worker's CPU is moved to the first
             * allowed CPU for the run (sched_getcpu is a vDSO call; the move costs two syscalls). */
            const int cpu = sched_getcpu();
            for (int i = 1; i < T && !pinned; i++)
                if (cpu == allowed_cpu[i]) pinned = 1;
            if (pinned) pin_self(allowed_cpu[0]);
        }
        if (T > 1) {
            pool.fn = fn, pool.ctx = ctx, pool.T = T;
            atomic_store_explicit(&pool.pending, T - 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
            pthread_cond_broadcast(&pool.go);
        }
        pthread_mutex_unlock(&pool.mu);
    }
    fn(ctx, 0);
    if (T > 1) {
        for (int i = 0; i < SPIN && atomic_load_explicit(&pool.pending, memory_order_acquire) > 0; i++) cpu_relax();
        if (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) {
            pthread_mutex_lock(&pool.mu);
            while (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) pthread_cond_wait(&pool.done, &pool.mu);
            pthread_mutex_unlock(&pool.mu);
        }
    }
    /* back to every allowed CPU: threads the caller starts later inherit its mask */
    if (pinned) pthread_setaffinity_np(pthread_self(), sizeof allowed, &allowed);
}

void *nn_alloc_big(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge) return malloc(bytes ? bytes : 1);
    void *p = NULL;
    const size_t n = (bytes + huge - 1) & ~(huge - 1);
    if (posix_memalign(&p, huge, n)) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE); /* advice only: failure leaves ordinary pages */
#endif
    return p;
}
