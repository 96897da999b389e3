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

#endif
