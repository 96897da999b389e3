/* The local patch discriminator D of SimGAN: conv 3x3 s2 (C->96) ReLU, conv 3x3 s2 (96->64)
 * ReLU, max-pool 3x3 s1, conv 3x3 (64->32) ReLU, conv 1x1 (32->32) ReLU, conv 1x1 (32->2):
 * two logits per location (softmax is in the loss). Padding 1 on the 3x3 convs ("same"),
 * none on the pool: a 35x55 input gives a 9x14 map. Parameter names "conv1.w" ... "conv5.b". */
#ifndef RP_DISC_H
#define RP_DISC_H
#include "nn/params.h"
#include "nn/conv2d.h"
#include "nn/layers.h"

typedef struct {
    int C; /* image channels */
} disc_config;

typedef struct {
    disc_config cfg;
    param_block p;
    float *w[5], *b[5];
    int N, H, W;
    int OH, OW;      /* output map size for the prepared input size */
    float *acts, *dacts, *ws;
    int *argmax;
    const float *last_in;
} disc;

int disc_init(disc *d, const disc_config *cfg, uint64_t seed);
int disc_prepare(disc *d, int N, int H, int W);
/* logits (n, 2, OH, OW). */
void disc_forward(disc *d, float *logits, const float *in, int n);
/* din (may be NULL) += dL/din; parameter grads accumulated only if param_grads != 0
 * (the refiner's step needs gradients through D but must not update D). */
void disc_backward(disc *d, float *din, const float *dlogits, int n, int param_grads);
void disc_free(disc *d);
double disc_flops(const disc *d, int n);

#endif
