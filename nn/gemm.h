/* The one BLAS entry point: row-major single-precision GEMM with BLAS argument order,
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C[M,N],
 * calling cblas_sgemm, plus a naive reference under the same signature for tests. */
#ifndef RP_GEMM_H
#define RP_GEMM_H

void gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc);
void gemm_naive(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);
/* Threads used by BLAS (openblas_set_num_threads); n <= 0 leaves OpenBLAS's default. */
void nn_set_threads(int n);
int nn_get_threads(void);
/* Call once at start-up, before any other thread runs BLAS: if OpenBLAS's CPU detection fell
 * back to an SSE-era kernel family on a CPU with AVX-512 (or AVX2), switch to SkylakeX (or
 * Haswell) kernels. An explicit OPENBLAS_CORETYPE is left alone. Idempotent; nn_set_threads
 * calls it. Returns the kernel family in use. */
const char *nn_blas_init(void);

#endif
