/* Element-wise layers (ReLU, tanh, residual add) and max-pooling, forward/backward pairs.
 * Backward accumulates into its gradient outputs so branches (residual blocks) simply add up.
 * N batch, C channels, H W input size, OH OW output size. */
#include "nn/layers.h"
#include <assert.h>
#include <math.h>

void relu_forward(float *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0 ? in[i] : 0;
}

void relu_backward(float *din, const float *dout, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) din[i] += out[i] > 0 ? dout[i] : 0;
}

void tanh_forward(float *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = tanhf(in[i]);
}

void tanh_backward(float *din, const float *dout, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * (1 - out[i] * out[i]);
}

void clamp_forward(float *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] < -1 ? -1 : in[i] > 1 ? 1 : in[i];
}

void clamp_backward(float *din, const float *dout, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) din[i] += out[i] > -1 && out[i] < 1 ? dout[i] : 0;
}

void clamp_backward_anchored(float *din, const float *dout, const float *out, const float *ref, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float g = dout[i], y = out[i], r = ref[i];
        int back = (y >= 1 && g > 0 && r < 1) || (y <= -1 && g < 0 && r > -1);
        din[i] += (y > -1 && y < 1) || back ? g : 0;
    }
}

void add_forward(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* ------------------------------------------------------------------------------------------ */

void maxpool_desc_init(maxpool_desc *d, int N, int C, int H, int W, int K, int stride, int pad) {
    assert(N > 0 && C > 0 && H > 0 && W > 0 && K > 0 && stride > 0 && pad >= 0);
    /* PyTorch's rule; it guarantees every window holds at least one real pixel. */
    assert(2 * pad <= K);
    assert(H + 2 * pad >= K && W + 2 * pad >= K);
    *d = (maxpool_desc){N, C, H, W, K, stride, pad, 0, 0};
    d->OH = (H + 2 * pad - K) / stride + 1;
    d->OW = (W + 2 * pad - K) / stride + 1;
}

void maxpool_forward(const maxpool_desc *d, float *out, int *argmax, const float *in) {
    const int H = d->H, W = d->W, OH = d->OH, OW = d->OW;
    for (size_t pl = 0; pl < (size_t)d->N * d->C; pl++) {
        const float *x = in + pl * H * W;
        float *o = out + pl * OH * OW;
        int *am = argmax + pl * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            /* Clip the window to the image: padded positions never win. */
            int h0 = oh * d->stride - d->pad, h1 = h0 + d->K;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            for (int ow = 0; ow < OW; ow++) {
                int w0 = ow * d->stride - d->pad, w1 = w0 + d->K;
                if (w0 < 0) w0 = 0;
                if (w1 > W) w1 = W;
                int best = h0 * W + w0;
                float m = x[best];
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) {
                        /* Strict > keeps the first maximum in scan order; NaN propagates. */
                        float v = x[h * W + w];
                        if (v > m || (isnan(v) && !isnan(m))) {
                            m = v;
                            best = h * W + w;
                        }
                    }
                o[oh * OW + ow] = m;
                am[oh * OW + ow] = best;
            }
        }
    }
}

void maxpool_backward(const maxpool_desc *d, float *din, const float *dout, const int *argmax) {
    const size_t in_plane = (size_t)d->H * d->W, out_plane = (size_t)d->OH * d->OW;
    for (size_t pl = 0; pl < (size_t)d->N * d->C; pl++) {
        float *dx = din + pl * in_plane;
        const float *g = dout + pl * out_plane;
        const int *am = argmax + pl * out_plane;
        for (size_t i = 0; i < out_plane; i++) dx[am[i]] += g[i];
    }
}
