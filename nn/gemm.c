/* The BLAS wrapper: row-major sgemm through cblas_sgemm, a naive reference for tests, thread
 * control, and a start-up fix for OpenBLAS's CPU detection (0.3.21 does not know recent Xeons
 * and falls back to its SSE3 "Prescott" kernels, 3-4x slower than its AVX-512 ones). */
#include "nn/gemm.h"
#include "nn/parallel.h"
#include <assert.h>
#include <cblas.h>
#if defined(__SSE__)
#include <pmmintrin.h>
#endif
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exported by DYNAMIC_ARCH builds of OpenBLAS only; weak so other BLAS builds still link. */
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));
extern char *openblas_get_corename(void);

/* ------------------------------------------------------------------------------------------ */
/* Small products (M*N*K <= 1e5) are computed here: OpenBLAS 0.3.21 sends them to its SkylakeX
 * "small matrix" kernels, some of which malloc a scratch buffer on every call, and a training
 * step must not allocate. Inner loops over fixed blocks of 16 (and restrict) let GCC vectorize
 * at -O2 without -ffast-math: 12-35 GFLOP/s, against OpenBLAS's 30-130 in cache. The bound was
 * 1e6 until the default R(32,3) and the evaluation network turned out to spend most of their
 * time here (their 3x3 GEMMs are 0.1-1e6): at 1e5 a digits training step takes 0.43x and an
 * evaluation step 0.65x the CPU time (1 thread, `train`/`eval` on the default digits). */
enum { GEMM_SMALL_MNK = 100000 };

#define A_AT(i, k) (ta ? A[(size_t)(k) * lda + (i)] : A[(size_t)(i) * lda + (k)])

/* c_r[0, n) += a[r] * b[0, n) for R = 4 rows at once (b loaded once), or for one row. */
static void axpy4(float *restrict c0, float *restrict c1, float *restrict c2, float *restrict c3,
                  const float *restrict b, const float a[4], int n) {
    int j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 16; l++) {
            const float bv = b[j + l];
            c0[j + l] += a[0] * bv, c1[j + l] += a[1] * bv, c2[j + l] += a[2] * bv, c3[j + l] += a[3] * bv;
        }
    for (; j < n; j++) c0[j] += a[0] * b[j], c1[j] += a[1] * b[j], c2[j] += a[2] * b[j], c3[j] += a[3] * b[j];
}

static void axpy1(float *restrict c, const float *restrict b, float a, int n) {
    int j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 16; l++) c[j + l] += a * b[j + l];
    for (; j < n; j++) c[j] += a * b[j];
}

/* Dot products of row i of A with rows j..j+R of B (the NT case), in 16 partial sums each. */
static void dots_1x4(int R, int K, float alpha, const float *restrict a, const float *restrict B, int ldb,
                     float *restrict c) {
    float acc[4][16] = {{0}};
    const float *b[4];
    for (int r = 0; r < 4; r++) b[r] = B + (size_t)(r < R ? r : 0) * ldb;
    int k = 0;
    for (; k + 16 <= K; k += 16)
        for (int l = 0; l < 16; l++) {
            acc[0][l] += a[k + l] * b[0][k + l];
            acc[1][l] += a[k + l] * b[1][k + l];
            acc[2][l] += a[k + l] * b[2][k + l];
            acc[3][l] += a[k + l] * b[3][k + l];
        }
    for (int l = 0; k < K; k++, l++)
        for (int r = 0; r < 4; r++) acc[r][l] += a[k] * b[r][k];
    for (int r = 0; r < R; r++) {
        float s = 0;
        for (int l = 0; l < 16; l++) s += acc[r][l];
        c[r] += alpha * s;
    }
}

static void gemm_small(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                       int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (beta == 0)
            memset(c, 0, sizeof(float) * N); /* as BLAS: C is not read, may hold NaN */
        else if (beta != 1)
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
    if (tb) { /* NT: both operands are read along K */
        assert(!ta);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j += 4)
                dots_1x4(N - j < 4 ? N - j : 4, K, alpha, A + (size_t)i * lda, B + (size_t)j * ldb, ldb,
                         C + (size_t)i * ldc + j);
        return;
    }
    /* NN and TN: panels of up to 256 columns of C (L1-resident) updated by rows of B streamed in
     * order, four rows of C per pass. */
    enum { PANEL = 256 };
    for (int j0 = 0; j0 < N; j0 += PANEL) {
        const int n = N - j0 < PANEL ? N - j0 : PANEL;
        int i = 0;
        for (; i + 4 <= M; i += 4) {
            float *c = C + (size_t)i * ldc + j0;
            for (int k = 0; k < K; k++) {
                const float a[4] = {alpha * A_AT(i, k), alpha * A_AT(i + 1, k), alpha * A_AT(i + 2, k),
                                    alpha * A_AT(i + 3, k)};
                axpy4(c, c + ldc, c + 2 * (size_t)ldc, c + 3 * (size_t)ldc, B + (size_t)k * ldb + j0, a, n);
            }
        }
        for (; i < M; i++)
            for (int k = 0; k < K; k++) axpy1(C + (size_t)i * ldc + j0, B + (size_t)k * ldb + j0, alpha * A_AT(i, k), n);
    }
}

#undef A_AT

void nn_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
    assert(M >= 0 && N >= 0 && K >= 0);
    if (M == 0 || N == 0) return;
    nn_blas_init();
    /* TT is never sent to the small kernels; the other three are. */
    if ((double)M * N * K <= GEMM_SMALL_MNK && !(trans_a && trans_b)) {
        gemm_small(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Accumulates in double so it can serve as the reference for tolerance checks. */
void nn_gemm_naive(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
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

static void blas_select_core(void) {
    const char *core = openblas_get_corename();
    /* Respect an explicit OPENBLAS_CORETYPE; otherwise re-run OpenBLAS's own dynamic
     * initialisation with the best kernel family this CPU supports. */
    if (getenv("OPENBLAS_CORETYPE") || !core || !is_fallback_core(core) || !gotoblas_dynamic_init ||
        !gotoblas_dynamic_quit)
        return;
    const char *want = NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
}

void nn_fp_init(void) {
#if defined(__SSE__)
    const unsigned mode = _MM_FLUSH_ZERO_ON | _MM_DENORMALS_ZERO_ON;
    if ((_mm_getcsr() & mode) != mode) _mm_setcsr(_mm_getcsr() | mode);
#endif
}

/* OpenBLAS (pthread build) starts its worker threads in a library constructor, before main, so
 * they keep the default MXCSR: a GEMM split over two threads computed its worker's share with
 * denormals, 40-80x slower and with different bytes from one thread (test_layers). Shutting the
 * pool down once the caller has flush-to-zero set makes OpenBLAS re-create it lazily from such a
 * thread, and new threads inherit the floating-point environment. Weak: builds without this pool
 * (OpenMP) have no such function. */
extern void blas_thread_shutdown_(void) __attribute__((weak));

static void blas_once(void) {
    blas_select_core();
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}

/* Once per process; gemm calls it too, so every path gets the fast kernels and flush-to-zero,
 * and pthread_once makes threads that arrive meanwhile wait until OpenBLAS is re-initialised. */
const char *nn_blas_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    nn_fp_init();
    pthread_once(&once, blas_once);
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
    nn_parallel_reserve(nn_threads); /* start the workers now rather than inside a training step */
}

int nn_get_threads(void) {
    if (!nn_threads) {
        int n = openblas_get_num_threads();
        nn_threads = n < 1 ? 1 : n > nn_max_threads() ? nn_max_threads() : n;
    }
    return nn_threads;
}

void nn_blas_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
