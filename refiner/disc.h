/* The local patch discriminator D of SimGAN: conv 3x3 s2 (C->96) ReLU, conv 3x3 s2 (96->64)
 * ReLU, max-pool 3x3 s1, conv 3x3 (64->32) ReLU, conv 1x1 (32->32) ReLU, conv 1x1 (32->2):
 * two logits per location (softmax is in the loss; no ReLU on the logits). Every 3x3 window is
 * "same"-padded by 1, the pool included (padded positions never win), as in the public Keras
 * implementation: 35x55 -> 18x28 -> 9x14 (the 126 patch decisions); an unpadded pool would give
 * 7x12. 28x28 gives 7x7. Parameter names "conv1.w" (96,C,3,3) ... "conv5.b" (2). */
#ifndef RP_DISC_H
#define RP_DISC_H
#include "nn/params.h"
#include "nn/conv2d.h"
#include "nn/layers.h"

typedef struct {
    int C;      /* image channels */
    int stride; /* of conv1: 2 (the paper's; 0 means 2, set by disc_init) or 1, which keeps conv1's map at the input's
                 * size: 35x55 -> 35x55 -> 18x28 (504 patch decisions), each patch half as wide */
} disc_config;

typedef struct {
    disc_config cfg;
    param_block p;
    float *w[5], *b[5];
    int N, H, W;
    int OH, OW;      /* output map size for the prepared input size */
    float *acts, *dacts, *ws;  /* acts: a1 a2 pool a4 a5 (post-ReLU / pool outputs, prepared N);
                                * dacts: the same layout plus one map of the largest size */
    int *argmax;               /* (N,64,OH,OW) max-pool winners */
    const float *last_in;
    /* Fast path (conv2d_fast.h) when the CPU has AVX2 or AVX-512: the maps above are channels-last
     * (N,H,W,C) and every layer runs on the SIMD GEMM. fast: the layout of the last disc_forward;
     * xh: the input as NHWC and its gradient (2 (N,H,W,C) maps) when C > 1. */
    int fast;
    float *xh;
} disc;

int disc_init(disc *d, const disc_config *cfg, uint64_t seed);
/* Allocates activations for batch N of H x W images (no-op if unchanged); sets OH, OW. */
int disc_prepare(disc *d, int N, int H, int W);
/* logits (n, 2, OH, OW), n <= prepared N. in must stay valid until disc_backward. */
void disc_forward(disc *d, float *logits, const float *in, int n);
/* din (may be NULL) += dL/din; parameter grads accumulated only if param_grads != 0
 * (the refiner's step needs gradients through D but must not update D). */
void disc_backward(disc *d, float *din, const float *dlogits, int n, int param_grads);
void disc_free(disc *d);
double disc_flops(const disc *d, int n);

#endif
