/* Fast convolutions on channels-last maps, chosen at run time by CPU features (AVX-512, else AVX2;
 * without either only the im2col + BLAS path of conv2d.h exists):
 *   - Winograd F(4x4, 3x3) for same-padded stride-1 3x3 layers whose channel counts are multiples
 *     of 16: forward, backward-data (the forward of the transposed layer) and backward-weights, with
 *     bias, residual add, ReLU and the ReLU-gradient mask fused into the output transform;
 *   - "expand": a 3x3 same-padded layer from few-channel NCHW images to NHWC maps (R's first layer);
 *   - "project": a 1x1 layer from NHWC maps to few-channel NCHW images (R's last layer).
 * Maps are NHWC (N, H, W, C), channels fastest. Work is split over nn_get_threads() threads in a
 * partition that does not depend on the thread count, so results are bitwise the same for any
 * thread count (they do depend on the kernel level: AVX-512 and AVX2 round differently).
 *
 * Dimension letters as in conv2d.h: N batch, C input channels, H W size, F output channels. */
#ifndef RP_CONV2D_FAST_H
#define RP_CONV2D_FAST_H
#include <stddef.h>
#include "nn/conv2d.h"

typedef enum { CONV2D_KERNELS_REFERENCE = 0, CONV2D_KERNELS_AVX2 = 1, CONV2D_KERNELS_AVX512 = 2 } conv2d_kernels;

/* The level in use: the best the CPU supports, unless RP_CONV_KERNELS (reference | avx2 | avx512)
 * asked for a lower one. */
conv2d_kernels conv2d_kernels_active(void);
/* The best level this CPU supports (whatever RP_CONV_KERNELS says). */
conv2d_kernels conv2d_kernels_supported(void);
/* Test hook: use level k from now on (clamped to what the CPU supports); returns the level in use. */
conv2d_kernels conv2d_kernels_select(conv2d_kernels k);
const char *conv2d_kernels_name(conv2d_kernels k);

/* What the output transform (or the direct loop) does to each output value v of channel f at
 * position p, in this order: v += bias[f]; v += res[p]; v = mask[p] > 0 ? v : 0; v = max(v, 0).
 * Every pointer may be NULL (skipped). res and mask are NHWC maps of the output's shape; out may
 * be res itself (each element is read before it is written). */
typedef struct {
    const float *bias, *res, *mask;
    int relu;
} conv2d_epilogue;

/* ------------------------------------------------------------------------------------------ */
/* Winograd F(4x4, 3x3) */

/* 1 if a fast level is active and d is 3x3, stride 1, pad 1, with C and F multiples of 16. */
int conv2d_wino_eligible(const conv2d_desc *d);
/* Floats of transformed weights: 36 * C * F. */
size_t conv2d_wino_weights_size(const conv2d_desc *d);
/* U (36, C, F) from w (F, C, 3, 3), for the forward; Ut (36, F, C) for the backward-data pass
 * (the forward of the transposed layer: kernels rotated by 180 degrees, C and F swapped). */
void conv2d_wino_weights(const conv2d_desc *d, float *U, const float *w);
void conv2d_wino_weights_t(const conv2d_desc *d, float *Ut, const float *w);
/* The same for n layers of shape d at once (U[i] from w[i]; transposed: as conv2d_wino_weights_t),
 * split over the threads. */
void conv2d_wino_weights_many(const conv2d_desc *d, int n, float *const *U, const float *const *w, int transposed);
/* Scratch floats for any of the calls below on layers of this shape (not N): per-thread blocks for
 * nn_max_threads() threads, and the backward-weights buffers. */
size_t conv2d_wino_workspace(const conv2d_desc *d);
/* out (N, H, W, F) = epilogue(conv(in (N, H, W, C))). */
void conv2d_wino_forward(const conv2d_desc *d, float *out, const float *in, const float *U,
                         const conv2d_epilogue *e, float *ws);
/* din (N, H, W, C) = epilogue(conv^T(dout (N, H, W, F))), overwritten (use e->res = din to add). */
void conv2d_wino_backward_data(const conv2d_desc *d, float *din, const float *dout, const float *Ut,
                               const conv2d_epilogue *e, float *ws);
/* dw (F, C, 3, 3) += and db (F) += (either may be NULL) the gradients for dout and in. */
void conv2d_wino_backward_weights(const conv2d_desc *d, float *dw, float *db, const float *dout, const float *in,
                                  float *ws);

/* ------------------------------------------------------------------------------------------ */
/* R's first and last layers around NHWC maps */

/* 1 if a fast level is active and d is 3x3, stride 1, pad 1 with F a multiple of 16 (any C). */
int conv2d_expand_eligible(const conv2d_desc *d);
/* Floats of scratch for conv2d_expand_*: the rearranged weights and per-image gradient partials. */
size_t conv2d_expand_workspace(const conv2d_desc *d);
/* out (N, H, W, F) = epilogue(conv(in (N, C, H, W))). */
void conv2d_expand_forward(const conv2d_desc *d, float *out, const float *in, const float *w,
                           const conv2d_epilogue *e, float *ws);
/* din (N, C, H, W; may be NULL) +=, dw (F, C, 3, 3) +=, db (F) += for dout (N, H, W, F). */
void conv2d_expand_backward(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, float *ws);

/* 1 if a fast level is active and d is 1x1, stride 1, pad 0 with C a multiple of 16 (any F). */
int conv2d_project_eligible(const conv2d_desc *d);
size_t conv2d_project_workspace(const conv2d_desc *d);
/* out (N, F, H, W) = w (F, C) . in (N, H, W, C) + b. */
void conv2d_project_forward(const conv2d_desc *d, float *out, const float *in, const float *w, const float *b,
                            float *ws);
/* din (N, H, W, C) = w^T dout, zeroed where mask (NHWC, may be NULL) <= 0: overwritten, not
 * accumulated; dw (F, C) +=, db (F) += (may be NULL). */
void conv2d_project_backward(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout,
                             const float *in, const float *w, const float *mask, float *ws);

/* ------------------------------------------------------------------------------------------ */
/* Any kernel, stride and padding on NHWC maps (im2col + the SIMD GEMM): the discriminator's layers */

/* 1 if a fast level is active and F is a multiple of 16. */
int conv2d_nhwc_eligible(const conv2d_desc *d);
size_t conv2d_nhwc_workspace(const conv2d_desc *d);
/* out (N, OH, OW, F) = epilogue(conv(in (N, H, W, C))). */
void conv2d_nhwc_forward(const conv2d_desc *d, float *out, const float *in, const float *w,
                         const conv2d_epilogue *e, float *ws);
/* dw (F, C, K, K) +=, db (F) += (either may be NULL); din (N, H, W, C; may be NULL) = conv^T(dout),
 * then zeroed where mask (NHWC, may be NULL) <= 0; with accumulate, din += conv^T(dout) instead
 * (no mask then). A 1x1 layer's din needs C a multiple of 16. */
void conv2d_nhwc_backward(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout, const float *in,
                          const float *w, const float *mask, int accumulate, float *ws);

#endif
