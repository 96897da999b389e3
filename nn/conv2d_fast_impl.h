/* Internal to nn/conv2d_fast*.c: the table of SIMD kernels one instruction set provides (filled
 * by conv2d_fast_avx512.c and conv2d_fast_avx2.c, each compiled with its own -m flags) and the
 * geometry they share. Maps are channels-last (NHWC); channel counts of Winograd layers are
 * multiples of the vector width. See conv2d_fast.h for the operations. */
#ifndef RP_CONV2D_FAST_IMPL_H
#define RP_CONV2D_FAST_IMPL_H
#include "nn/conv2d_fast.h"

/* Winograd F(4x4, 3x3) on a same-padded stride-1 layer: 4x4 output tiles, 6x6 input windows.
 * Tiles are numbered across the batch: tile t is image t / T, row (t % T) / TW, column t % TW. */
enum { WINO_XI = 36 };

typedef struct {
    int N, H, W; /* images and their size (output size = input size) */
    int C, F;    /* channels in and out */
    int TW, T;   /* tiles per row, tiles per image */
} cf_geom;

typedef struct {
    const char *name;
    int vl; /* floats per vector */
    /* out (tiles [t0, t0 + nt)) = epilogue(conv(in) with transformed weights U (36, C, F)).
     * V, M: scratch of nt * 36 * C and nt * 36 * F floats (tile-major: each tile's 36 transformed
     * vectors are contiguous, so the transforms stream). */
    void (*wino_forward)(const cf_geom *g, float *out, const float *in, const float *U, const conv2d_epilogue *e,
                         int t0, int nt, float *V, float *M);
    /* For tiles [t0, t0 + nt): V (nt, 36, C) = input transform of in, dM (nt, 36, F) = adjoint
     * output transform of dout; db (F) += the sum of dout over the tiles. */
    void (*wino_grad_transform)(const cf_geom *g, float *V, float *dM, float *db, const float *in,
                                const float *dout, int t0, int nt);
    /* Cm (M, N; ldc) (+)= A (M, K) B (K, N; ldb) with A[i][k] at A[i * ars + k * aks]; N a multiple of vl. */
    void (*gemm)(int M, int N, int K, const float *A, long ars, long aks, const float *B, long ldb, float *Cm,
                 long ldc, int acc);
    /* Few-channel 3x3 same-padded convolution from NCHW images to NHWC maps, images [n0, n1):
     * out = epilogue(conv(in)), wt (C * 9, F) the weights with f fastest. */
    void (*expand_forward)(const conv2d_desc *d, float *out, const float *in, const float *wt,
                           const conv2d_epilogue *e, int n0, int n1);
    /* Its gradients for image n: dwt (C * 9, F) and db (F) overwritten with image n's sums; din (NCHW,
     * may be NULL) += for image n. */
    void (*expand_backward)(const conv2d_desc *d, float *din, float *dwt, float *db, const float *dout,
                            const float *in, const float *w, int n);
    /* 1x1 convolution from NHWC maps (F... here C channels) to NCHW images, images [n0, n1):
     * out (n, F, H, W) = w (F, C) . in + b. */
    void (*project_forward)(const conv2d_desc *d, float *out, const float *in, const float *w, const float *b,
                            int n0, int n1);
    /* Its gradients for image n: din (NHWC) = epilogue(w^T dout) (overwritten; e->mask as the ReLU
     * mask, bias and res ignored), dw (F, C) and db (F) overwritten with image n's sums. */
    void (*project_backward)(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout,
                             const float *in, const float *w, const conv2d_epilogue *e, int n);
} cf_kernels;

/* The active level's kernels, NULL for the reference level. */
const cf_kernels *conv2d_fast_kernels(void);
/* Threads worth using for `flops` of work in `units` pieces (at most nn_get_threads()). */
int conv2d_fast_threads(double flops, int units);

/* The tables (functions, not exported variables: no data symbols across files). */
const cf_kernels *conv2d_fast_avx512(void);
const cf_kernels *conv2d_fast_avx2(void);

#endif
