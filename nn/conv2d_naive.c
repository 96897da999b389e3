/* Direct-loop references for conv2d (same contracts as conv2d_forward/backward, no workspace):
 * slow, obviously correct, sums in double. Used by tests and by the benchmark's result check.
 * N batch, C input channels, H W input size, F output channels, K kernel, OH OW output size. */
#include "nn/conv2d.h"

void conv2d_forward_naive(const conv2d_desc *d, float *out, const float *in, const float *w, const float *b) {
    const int C = d->C, H = d->H, W = d->W, K = d->K;
    for (int n = 0; n < d->N; n++)
        for (int f = 0; f < d->F; f++)
            for (int oh = 0; oh < d->OH; oh++)
                for (int ow = 0; ow < d->OW; ow++) {
                    double s = b ? b[f] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int ki = 0; ki < K; ki++)
                            for (int kj = 0; kj < K; kj++) {
                                int ih = oh * d->stride - d->pad + ki, iw = ow * d->stride - d->pad + kj;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                s += (double)in[(((size_t)n * C + c) * H + ih) * W + iw] *
                                     w[(((size_t)f * C + c) * K + ki) * K + kj];
                            }
                    out[(((size_t)n * d->F + f) * d->OH + oh) * d->OW + ow] = (float)s;
                }
}

/* Written in gather form (each gradient element sums its own terms in double), an independent
 * derivation from the scatter used by col2im. */
void conv2d_backward_naive(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout,
                           const float *in, const float *w) {
    const int N = d->N, C = d->C, H = d->H, W = d->W, F = d->F, K = d->K, OH = d->OH, OW = d->OW;
    const int s = d->stride, pad = d->pad;
#define DOUT(n, f, oh, ow) dout[(((size_t)(n) * F + (f)) * OH + (oh)) * OW + (ow)]
    if (db)
        for (int f = 0; f < F; f++) {
            double acc = 0;
            for (int n = 0; n < N; n++)
                for (int p = 0; p < OH * OW; p++) acc += DOUT(n, f, 0, p);
            db[f] += (float)acc;
        }
    if (dw)
        for (int f = 0; f < F; f++)
            for (int c = 0; c < C; c++)
                for (int ki = 0; ki < K; ki++)
                    for (int kj = 0; kj < K; kj++) {
                        double acc = 0;
                        for (int n = 0; n < N; n++)
                            for (int oh = 0; oh < OH; oh++)
                                for (int ow = 0; ow < OW; ow++) {
                                    int ih = oh * s - pad + ki, iw = ow * s - pad + kj;
                                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                    acc += (double)DOUT(n, f, oh, ow) * in[(((size_t)n * C + c) * H + ih) * W + iw];
                                }
                        dw[(((size_t)f * C + c) * K + ki) * K + kj] += (float)acc;
                    }
    if (din)
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int ih = 0; ih < H; ih++)
                    for (int iw = 0; iw < W; iw++) {
                        double acc = 0;
                        for (int ki = 0; ki < K; ki++)
                            for (int kj = 0; kj < K; kj++) {
                                int th = ih + pad - ki, tw = iw + pad - kj;
                                if (th < 0 || tw < 0 || th % s || tw % s) continue;
                                int oh = th / s, ow = tw / s;
                                if (oh >= OH || ow >= OW) continue;
                                for (int f = 0; f < F; f++)
                                    acc += (double)DOUT(n, f, oh, ow) * w[(((size_t)f * C + c) * K + ki) * K + kj];
                            }
                        din[(((size_t)n * C + c) * H + ih) * W + iw] += (float)acc;
                    }
#undef DOUT
}
