/* 2-D convolution: im2col + sgemm per image (1x1 stride-1 unpadded convs use the input plane
 * as the column matrix directly), and direct-loop references with the same contracts.
 * N batch, C input channels, H W input size, F output channels, K kernel, OH OW output size. */
#include "nn/conv2d.h"
#include <assert.h>
#include <string.h>
#include "nn/gemm.h"

void conv2d_desc_init(conv2d_desc *d, int N, int C, int H, int W, int F, int K, int stride, int pad) {
    assert(N > 0 && C > 0 && H > 0 && W > 0 && F > 0 && K > 0 && stride > 0 && pad >= 0);
    assert(H + 2 * pad >= K && W + 2 * pad >= K);
    *d = (conv2d_desc){N, C, H, W, F, K, stride, pad, 0, 0};
    d->OH = (H + 2 * pad - K) / stride + 1;
    d->OW = (W + 2 * pad - K) / stride + 1;
}

static int is_pointwise(const conv2d_desc *d) { return d->K == 1 && d->stride == 1 && d->pad == 0; }

size_t conv2d_workspace(const conv2d_desc *d) {
    if (is_pointwise(d)) return 0;
    /* Backward holds the column matrix and its gradient at once. */
    return 2 * (size_t)d->C * d->K * d->K * d->OH * d->OW;
}

double conv2d_flops(const conv2d_desc *d) {
    return 2.0 * d->N * d->F * d->OH * d->OW * (double)d->C * d->K * d->K;
}

/* ------------------------------------------------------------------------------------------ */
/* Output columns ow whose input column ow*stride - pad + kj lies inside [0, W): [*lo, *hi). */
static void valid_cols(const conv2d_desc *d, int kj, int *lo, int *hi) {
    int s = d->stride, off = kj - d->pad;
    int a = off >= 0 ? 0 : (-off + s - 1) / s;
    int b = d->W - 1 - off < 0 ? 0 : (d->W - 1 - off) / s + 1;
    if (b > d->OW) b = d->OW;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* col (C*K*K, OH*OW) from one image x (C, H, W); row (c, ki, kj), column (oh, ow). */
static void im2col(const conv2d_desc *d, float *col, const float *x) {
    const int K = d->K, s = d->stride, OW = d->OW, OH = d->OH;
    for (int c = 0; c < d->C; c++) {
        const float *xc = x + (size_t)c * d->H * d->W;
        for (int ki = 0; ki < K; ki++) {
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                int lo, hi;
                valid_cols(d, kj, &lo, &hi);
                const int off = kj - d->pad;
                for (int oh = 0; oh < OH; oh++) {
                    float *dst = row + (size_t)oh * OW;
                    int ih = oh * s - d->pad + ki;
                    if (ih < 0 || ih >= d->H) {
                        memset(dst, 0, sizeof(float) * OW);
                        continue;
                    }
                    const float *src = xc + (size_t)ih * d->W + off;
                    for (int ow = 0; ow < lo; ow++) dst[ow] = 0;
                    if (s == 1)
                        memcpy(dst + lo, src + lo, sizeof(float) * (hi - lo));
                    else
                        for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * s];
                    for (int ow = hi; ow < OW; ow++) dst[ow] = 0;
                }
            }
        }
    }
}

/* dx (C, H, W) += the column-matrix gradient scattered back (adjoint of im2col). */
static void col2im_add(const conv2d_desc *d, float *dx, const float *col) {
    const int K = d->K, s = d->stride, OW = d->OW, OH = d->OH;
    for (int c = 0; c < d->C; c++) {
        float *xc = dx + (size_t)c * d->H * d->W;
        for (int ki = 0; ki < K; ki++) {
            for (int kj = 0; kj < K; kj++) {
                const float *row = col + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                int lo, hi;
                valid_cols(d, kj, &lo, &hi);
                const int off = kj - d->pad;
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * s - d->pad + ki;
                    if (ih < 0 || ih >= d->H) continue;
                    const float *src = row + (size_t)oh * OW;
                    float *dst = xc + (size_t)ih * d->W + off;
                    if (s == 1)
                        for (int ow = lo; ow < hi; ow++) dst[ow] += src[ow];
                    else
                        for (int ow = lo; ow < hi; ow++) dst[ow * s] += src[ow];
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */

void conv2d_forward(const conv2d_desc *d, float *out, const float *in, const float *w, const float *b,
                    float *ws) {
    const int F = d->F, CKK = d->C * d->K * d->K, P = d->OH * d->OW;
    const size_t in_sz = (size_t)d->C * d->H * d->W, out_sz = (size_t)F * P;
    const int pw = is_pointwise(d);
    assert(pw || ws);
    for (int n = 0; n < d->N; n++) {
        float *o = out + n * out_sz;
        const float *col = in + n * in_sz;
        if (!pw) {
            im2col(d, ws, col);
            col = ws;
        }
        if (b)
            for (int f = 0; f < F; f++)
                for (int p = 0; p < P; p++) o[(size_t)f * P + p] = b[f];
        gemm(0, 0, F, P, CKK, 1.0f, w, CKK, col, P, b ? 1.0f : 0.0f, o, P);
    }
}

void conv2d_backward(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout,
                     const float *in, const float *w, float *ws) {
    const int F = d->F, CKK = d->C * d->K * d->K, P = d->OH * d->OW;
    const size_t in_sz = (size_t)d->C * d->H * d->W, out_sz = (size_t)F * P;
    const int pw = is_pointwise(d);
    assert(pw || ws);
    float *col = ws, *dcol = pw ? NULL : ws + (size_t)CKK * P;
    for (int n = 0; n < d->N; n++) {
        const float *g = dout + n * out_sz;
        if (db)
            for (int f = 0; f < F; f++) {
                float s = 0;
                for (int p = 0; p < P; p++) s += g[(size_t)f * P + p];
                db[f] += s;
            }
        if (dw) {
            const float *c = in + n * in_sz;
            if (!pw) {
                im2col(d, col, c);
                c = col;
            }
            /* dW (F, CKK) += dout (F, P) . col^T */
            gemm(0, 1, F, CKK, P, 1.0f, g, P, c, P, 1.0f, dw, CKK);
        }
        if (din) {
            float *dx = din + n * in_sz;
            /* dcol (CKK, P) = W^T . dout; a pointwise conv accumulates straight into din. */
            if (pw)
                gemm(1, 0, CKK, P, F, 1.0f, w, CKK, g, P, 1.0f, dx, P);
            else {
                gemm(1, 0, CKK, P, F, 1.0f, w, CKK, g, P, 0.0f, dcol, P);
                col2im_add(d, dx, dcol);
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* References: direct loops, sums in double. */

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
