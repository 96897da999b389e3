/* Element-wise and pooling layers as explicit forward/backward pairs (llm.c argument order:
 * forward takes outputs, saved state, inputs, dimensions; backward takes the gradients it
 * writes, dout, saved tensors, dimensions). Backward accumulates (+=). */
#ifndef RP_LAYERS_H
#define RP_LAYERS_H
#include <stddef.h>

/* ReLU. out may alias in. Backward: din += dout * (out > 0). */
void relu_forward(float *out, const float *in, size_t n);
void relu_backward(float *din, const float *dout, const float *out, size_t n);

/* tanh. Backward: din += dout * (1 - out^2). */
void tanh_forward(float *out, const float *in, size_t n);
void tanh_backward(float *din, const float *dout, const float *out, size_t n);

/* Clamp to [-1, 1] (PyTorch's hardtanh). Backward: din += dout where -1 < out < 1. */
void clamp_forward(float *out, const float *in, size_t n);
void clamp_backward(float *din, const float *dout, const float *out, size_t n);

/* The clamp's backward for an output anchored to a reference image of the same shape (the
 * refiner's input): as clamp_backward inside (-1, 1); at a bound, dout also passes when a descent
 * step moves the output back inside (dout > 0 at +1, dout < 0 at -1) and the reference is not
 * at that bound itself. A white stroke clamped to black can come back; a black background
 * stays held at black, as with the plain clamp. */
void clamp_backward_anchored(float *din, const float *dout, const float *out, const float *ref, size_t n);

/* Residual add: out = a + b (out may alias a or b). Its backward is dout flowing to both. */
void add_forward(float *out, const float *a, const float *b, size_t n);

/* Max-pool, NCHW, square window K, stride; padded positions never win (as PyTorch). */
typedef struct {
    int N, C, H, W, K, stride, pad;
    int OH, OW; /* derived: (H + 2*pad - K) / stride + 1 */
} maxpool_desc;
void maxpool_desc_init(maxpool_desc *d, int N, int C, int H, int W, int K, int stride, int pad);
/* argmax (N*C*OH*OW ints) saves the flat input index (within its (n,c) plane) of each maximum. */
void maxpool_forward(const maxpool_desc *d, float *out, int *argmax, const float *in);
void maxpool_backward(const maxpool_desc *d, float *din, const float *dout, const int *argmax);

/* The same on NHWC maps (N, H, W, C): argmax holds, per output element, the input pixel index
 * h * W + w of its maximum. Backward overwrites din: the scattered dout, zeroed where mask (NHWC
 * of din's shape, may be NULL: a ReLU below) <= 0. */
void maxpool_nhwc_forward(const maxpool_desc *d, float *out, int *argmax, const float *in);
void maxpool_nhwc_backward(const maxpool_desc *d, float *din, const float *dout, const int *argmax,
                           const float *mask);

#endif
