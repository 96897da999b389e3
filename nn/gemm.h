/* The one BLAS entry point: row-major single-precision GEMM with BLAS argument order,
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C[M,N],
 * calling cblas_sgemm, plus a naive reference under the same signature for tests. */
#ifndef RP_GEMM_H
#define RP_GEMM_H

void nn_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);
void nn_gemm_naive(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);
/* Threads the nn core uses: conv2d splits a batch's images across them (each running
 * single-threaded BLAS); other gemm callers get OpenBLAS's own threading with the same count.
 * n is clamped to nn_max_threads(); n <= 0 leaves the default (OpenBLAS's, i.e. all cores or
 * OPENBLAS_NUM_THREADS). Call from the main thread, outside any nn call. */
void nn_set_threads(int n);
int nn_get_threads(void);
/* CPUs this process may run on (sched_getaffinity), capped at 16. conv2d_workspace sizes
 * per-thread scratch for this many, so workspaces never depend on when threads were set. */
int nn_max_threads(void);
/* BLAS threads only (nn_get_threads unchanged): for code that runs its own threads around gemm. */
void nn_blas_threads(int n);
/* If OpenBLAS's CPU detection fell back to an SSE-era kernel family on a CPU with AVX-512 (or
 * AVX2), switch to SkylakeX (or Haswell) kernels; an explicit OPENBLAS_CORETYPE is left alone.
 * Runs once (gemm and nn_set_threads call it); code calling cblas directly should call it first.
 * Returns the kernel family in use. */
const char *nn_blas_init(void);
/* Denormal floats (|x| < 1.2e-38) cost 100+ cycles per operation on x86; Adam's second moments
 * and tiny gradients drift into that range and made whole training steps several times slower.
 * Sets flush-to-zero and denormals-are-zero for the calling thread (nn_blas_init and the worker
 * pool call it), as torch.set_flush_denormal(True) does. Values that small never matter here.
 * OpenBLAS's own workers get it too: nn_blas_init restarts them once from a thread that has it. */
void nn_fp_init(void);

#endif
