/* The BLAS wrapper: row-major sgemm through cblas_sgemm, a naive reference for tests, thread
 * control, and a start-up fix for OpenBLAS's CPU detection (0.3.21 does not know recent Xeons
 * and falls back to its SSE3 "Prescott" kernels, 3-4x slower than its AVX-512 ones). */
#include "nn/gemm.h"
#include <assert.h>
#include <cblas.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exported by DYNAMIC_ARCH builds of OpenBLAS only; weak so other BLAS builds still link. */
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));
extern char *openblas_get_corename(void);

void gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc) {
    assert(M >= 0 && N >= 0 && K >= 0);
    if (M == 0 || N == 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Accumulates in double so it can serve as the reference for tolerance checks. */
void gemm_naive(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                float a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            /* beta == 0 must ignore C entirely (it may hold NaN), as BLAS does. */
            *c = (float)(alpha * s + (beta == 0 ? 0.0 : (double)beta * *c));
        }
    }
}

/* ------------------------------------------------------------------------------------------ */

static int is_fallback_core(const char *name) {
    /* Kernel families without AVX2/FMA; "Sandybridge" is AVX-only. */
    static const char *old[] = {"Prescott", "Core2",      "Penryn",    "Dunnington", "Nehalem", "Atom",
                                "Katmai",   "Coppermine", "Northwood", "Banias",     "Sandybridge"};
    for (size_t i = 0; i < sizeof old / sizeof *old; i++)
        if (strcmp(name, old[i]) == 0) return 1;
    return 0;
}

const char *nn_blas_init(void) {
    static int done;
    if (!done) {
        done = 1;
        const char *core = openblas_get_corename();
        /* Respect an explicit OPENBLAS_CORETYPE; otherwise re-run OpenBLAS's own dynamic
         * initialisation with the best kernel family this CPU supports. */
        if (!getenv("OPENBLAS_CORETYPE") && core && is_fallback_core(core) && gotoblas_dynamic_init &&
            gotoblas_dynamic_quit) {
            const char *want = NULL;
            __builtin_cpu_init();
            if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
                want = "SkylakeX";
            else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
                want = "Haswell";
            if (want) {
                setenv("OPENBLAS_CORETYPE", want, 1);
                gotoblas_dynamic_quit();
                gotoblas_dynamic_init();
                unsetenv("OPENBLAS_CORETYPE");
            }
        }
    }
    return openblas_get_corename();
}

static int nn_threads; /* 0 until first asked: then OpenBLAS's default, clamped */

int nn_max_threads(void) {
    static int max;
    if (!max) {
        cpu_set_t set;
        int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
        max = n < 1 ? 1 : n > 16 ? 16 : n;
    }
    return max;
}

void nn_set_threads(int n) {
    nn_blas_init();
    if (n <= 0) return;
    nn_threads = n > nn_max_threads() ? nn_max_threads() : n;
    openblas_set_num_threads(nn_threads);
}

int nn_get_threads(void) {
    if (!nn_threads) {
        int n = openblas_get_num_threads();
        nn_threads = n < 1 ? 1 : n > nn_max_threads() ? nn_max_threads() : n;
    }
    return nn_threads;
}

void nn_blas_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
