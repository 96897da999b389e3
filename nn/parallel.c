/* Persistent worker pool (see parallel.h): workers sleep on a condition variable and wake for each
 * run's generation; the caller does task 0 itself and waits for the others. */
#include "nn/parallel.h"
#include <pthread.h>
#include <stdint.h>
#include "nn/gemm.h"

enum { POOL_MAX = 64 };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    int workers;        /* started; worker i runs task i (1-based) */
    unsigned long gen;  /* bumped once per run */
    int T, pending;     /* tasks in the current run; workers still busy with it */
    nn_task_fn fn;
    void *ctx;
    unsigned long start_gen[POOL_MAX]; /* gen when worker i was started: it waits for the next */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, {0}};

static void *worker(void *arg) {
    const int id = (int)(intptr_t)arg;
    nn_fp_init();
    pthread_mutex_lock(&pool.mu);
    /* Not pool.gen: a run may have begun between pthread_create and this lock. */
    unsigned long seen = pool.start_gen[id];
    for (;;) {
        while (pool.gen == seen) pthread_cond_wait(&pool.go, &pool.mu);
        seen = pool.gen;
        if (id >= pool.T) continue;
        nn_task_fn fn = pool.fn;
        void *ctx = pool.ctx;
        pthread_mutex_unlock(&pool.mu);
        fn(ctx, id);
        pthread_mutex_lock(&pool.mu);
        if (--pool.pending == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* Caller holds pool.mu. */
static int reserve_locked(int T) {
    if (T > nn_max_threads()) T = nn_max_threads();
    if (T > POOL_MAX) T = POOL_MAX;
    while (pool.workers < T - 1) {
        pthread_t tid;
        pool.start_gen[pool.workers + 1] = pool.gen;
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
    if (T > 1) {
        pthread_mutex_lock(&pool.mu);
        int avail = reserve_locked(T);
        if (T > avail) T = avail;
        if (T > 1) {
            pool.fn = fn, pool.ctx = ctx, pool.T = T, pool.pending = T - 1;
            pool.gen++;
            pthread_cond_broadcast(&pool.go);
        }
        pthread_mutex_unlock(&pool.mu);
    }
    fn(ctx, 0);
    if (T > 1) {
        pthread_mutex_lock(&pool.mu);
        while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
}
