/* 2-D convolution, NCHW float32, square kernels of any size, stride, zero padding.
 * Weights (F, C, K, K) and bias (F), as in PyTorch. The default algorithm is im2col + gemm
 * (1x1 stride-1 unpadded convolutions skip im2col; same-padded stride-1 ones with enough channels
 * use GEMMs on shifted views of the padded input instead, see conv2d_algorithm); a naive reference
 * has the same signature. Everything sits behind conv2d_forward/backward: on CPUs with AVX-512 or
 * AVX2 the qualifying shapes take the fast paths of conv2d_fast.h (Winograd, NHWC im2col).
 *
 * Dimension letters: N batch, C input channels, H W input size, F output channels,
 * K kernel size, OH OW output size. */
#ifndef RP_CONV2D_H
#define RP_CONV2D_H
#include <stddef.h>

typedef struct {
    int N, C, H, W;       /* input */
    int F, K, stride, pad;
    int OH, OW;           /* derived: (H + 2*pad - K) / stride + 1 */
} conv2d_desc;

void conv2d_desc_init(conv2d_desc *d, int N, int C, int H, int W, int F, int K, int stride, int pad);
/* Floats of scratch needed by conv2d_forward/backward for this layer: per-thread column buffers
 * for nn_max_threads() threads (so the size never depends on when nn_set_threads is called) and
 * per-group gradient sums. It depends on C, H, W, F, K, stride and pad only, not on N. One
 * workspace of the maximum over a network's layers can be shared by all of them. */
size_t conv2d_workspace(const conv2d_desc *d);
/* FLOPs of one forward pass (2*N*F*OH*OW*C*K*K); backward is twice that with input grads. */
double conv2d_flops(const conv2d_desc *d);

/* out (N,F,OH,OW) = conv(in (N,C,H,W), w) + b.  Overwrites out. b may be NULL (no bias).
 * Batches are split across nn_get_threads() threads by image; results depend on the thread count
 * only through the order dW/db partial sums are added (deterministic for a given count).
 * ws may be NULL only for 1x1 stride-1 unpadded convolutions (which then run on one thread). */
void conv2d_forward(const conv2d_desc *d, float *out, const float *in, const float *w, const float *b,
                    float *ws);
/* Accumulates (+=) into din (N,C,H,W; may be NULL), dw (F,C,K,K; may be NULL), db (F; may be NULL). */
void conv2d_backward(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout,
                     const float *in, const float *w, float *ws);

/* The algorithm the calls above use for this shape, for tests and benchmarks. With a fast kernel
 * level active (conv2d_fast.h: AVX-512 or AVX2, unless RP_CONV_KERNELS=reference): "winograd"
 * (same-padded stride-1 3x3, C and F multiples of 16) or "nhwc-im2col" (F a multiple of 16),
 * both on chunks of 8 images transposed to channels-last. Otherwise, or for other shapes, the
 * im2col + BLAS reference path: "pointwise" (1x1, GEMM on the input planes), "shifted"
 * (same-padded stride-1 with >= 16 channels in and out: K*K GEMMs on shifted views of a padded
 * copy, no im2col), "im2col/transposed" (din as a stride-1 convolution of dout) or
 * "im2col/col2im". dW always uses im2col (or the planes, if pointwise). */
const char *conv2d_algorithm(const conv2d_desc *d);

/* Direct-loop references, same contracts, no workspace. */
void conv2d_forward_naive(const conv2d_desc *d, float *out, const float *in, const float *w, const float *b);
void conv2d_backward_naive(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout,
                           const float *in, const float *w);

#endif
