/* 2-D convolution: GEMMs per image (im2col, or shifted views for same-padded layers), the images
 * of a batch shared out to the worker pool, each thread running single-threaded BLAS. The
 * direct-loop references are in conv2d_naive.c.
 * N batch, C input channels, H W input size, F output channels, K kernel, OH OW output size, P = OH*OW.
 *
 * Algorithms, per image:
 *   forward      out (F, P) = W (F, CKK) . col (CKK, P) + b, col = im2col(in); 1x1 stride-1 unpadded
 *                convolutions use the input plane itself as col.
 *   dW           dW (F, CKK) += dout (F, P) . col^T
 *   din, stride 1 (and F <= C): the transposed convolution is itself a stride-1 convolution of dout
 *                with flipped, transposed weights: din (C, HW) += Wt (C, FKK) . im2col(dout, pad K-1-pad).
 *                One memcpy-based im2col instead of a scattered col2im, and the GEMM accumulates.
 *   din, other:  dcol (CKK, P) = W^T . dout, then col2im adds dcol into din.
 *   "same" stride-1 convolutions with enough channels (R's 3x3 layers) skip im2col in forward and
 *   din: on a zero-padded copy of the planes (row pitch Wp = W + 2*pad), tap (ki, kj) of the kernel
 *   is the plane shifted by ki*Wp + kj, a plain strided matrix, so the convolution is K*K GEMMs
 *   with inner dimension C accumulating into an output grid H x Wp whose last 2*pad columns are
 *   discarded (3.6% extra flops at 35x55). This reads the input once instead of writing and
 *   reading a 9x larger column matrix. dW keeps im2col (its shifted form was no faster). */
#include "nn/conv2d.h"
#include <assert.h>
#include <stdatomic.h>
#include <string.h>
#include "nn/conv2d_fast.h"
#include "nn/gemm.h"
#include "nn/parallel.h"

void conv2d_desc_init(conv2d_desc *d, int N, int C, int H, int W, int F, int K, int stride, int pad) {
    assert(N > 0 && C > 0 && H > 0 && W > 0 && F > 0 && K > 0 && stride > 0 && pad >= 0);
    assert(H + 2 * pad >= K && W + 2 * pad >= K);
    *d = (conv2d_desc){N, C, H, W, F, K, stride, pad, 0, 0};
    d->OH = (H + 2 * pad - K) / stride + 1;
    d->OW = (W + 2 * pad - K) / stride + 1;
}

double conv2d_flops(const conv2d_desc *d) {
    return 2.0 * d->N * d->F * d->OH * d->OW * (double)d->C * d->K * d->K;
}

static int is_pointwise(const conv2d_desc *d) { return d->K == 1 && d->stride == 1 && d->pad == 0; }

/* Channel counts below this make the shifted GEMMs' inner dimension too short to pay. */
enum { SHIFT_MIN_CHANNELS = 16 };

static int is_shifted(const conv2d_desc *d) {
    return d->stride == 1 && d->K > 1 && d->K % 2 == 1 && 2 * d->pad == d->K - 1 && d->C >= SHIFT_MIN_CHANNELS &&
           d->F >= SHIFT_MIN_CHANNELS;
}

static int din_transposed(const conv2d_desc *d) {
    return !is_pointwise(d) && !is_shifted(d) && d->stride == 1 && d->pad < d->K && d->F <= d->C;
}

/* Shifted-GEMM geometry: padded plane pitch Wp, plane size L, output grid N = H * Wp. The K
 * floats after the last padded plane are read (into discarded columns) and kept zero. */
static size_t shift_L(const conv2d_desc *d) { return (size_t)(d->H + 2 * d->pad) * (d->W + 2 * d->pad); }
static size_t shift_N(const conv2d_desc *d) { return (size_t)d->H * (d->W + 2 * d->pad); }

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Workspace: one block per thread (two column buffers), the rearranged weights the threads share,
 * then per-group partial sums of dW and db. */
typedef struct {
    size_t col, col2, total; /* per-thread block */
} ws_layout;

/* Backward splits the batch into at most NSLOT groups of consecutive images, whatever the thread
 * count, each summing its own dW/db partial; the partials are added in group order at the end, so
 * gradients are bitwise identical for any number of threads. */
enum { NSLOT = 16 };

static int group_size(int N) { return (N + NSLOT - 1) / NSLOT; }
static int group_count(int N) { return (N + group_size(N) - 1) / group_size(N); }
static size_t slot_size(const conv2d_desc *d) { return (size_t)d->F * d->C * d->K * d->K + d->F; }

static ws_layout layout(const conv2d_desc *d) {
    size_t CKK = (size_t)d->C * d->K * d->K, P = (size_t)d->OH * d->OW;
    ws_layout l;
    l.col = is_pointwise(d) ? 0 : CKK * P;
    l.col2 = is_pointwise(d) ? 0 : din_transposed(d) ? (size_t)d->F * d->K * d->K * d->H * d->W : CKK * P;
    if (is_shifted(d)) {
        /* col: dW's column matrix, or the padded input; col2: the forward's output grid, or the
         * padded dout followed by din's output grid. */
        size_t L = shift_L(d), N = shift_N(d);
        l.col = max_sz(CKK * P, (size_t)d->C * L + d->K);
        l.col2 = max_sz((size_t)d->F * N, (size_t)d->F * L + d->K + (size_t)d->C * N);
    }
    /* Keep every thread's block 64-byte aligned relative to the workspace start. */
    l.total = (l.col + l.col2 + 15) & ~(size_t)15;
    return l;
}

/* Blocks for the most threads nn_set_threads allows, so the size does not depend on call order. */
static size_t off_weights(const conv2d_desc *d) { return (size_t)nn_max_threads() * layout(d).total; }
static size_t off_slots(const conv2d_desc *d) {
    return off_weights(d) + (((size_t)d->F * d->C * d->K * d->K + 15) & ~(size_t)15);
}

/* ------------------------------------------------------------------------------------------ */
/* Fast paths (conv2d_fast.h) behind this API: chunks of FAST_CHUNK images are transposed to NHWC
 * in the workspace, run through Winograd F(4x4, 3x3) (same-padded stride-1 3x3 layers with C and F
 * multiples of 16) or NHWC im2col + the SIMD GEMM (F a multiple of 16), and transposed back. Taken
 * whenever a fast kernel level is active (conv2d_kernels_active); the sizes below are by shape
 * alone, so a workspace fits whichever level runs. */

enum { FAST_CHUNK = 8 };
typedef enum { FAST_NONE, FAST_WINO, FAST_NHWC } fast_kind;

static int wino_shape(const conv2d_desc *d) {
    return d->K == 3 && d->stride == 1 && d->pad == 1 && d->C % 16 == 0 && d->F % 16 == 0;
}
static int nhwc_shape(const conv2d_desc *d) { return d->F % 16 == 0 && !(is_pointwise(d) && d->C % 16); }

static fast_kind fast_of(const conv2d_desc *d) {
    if (conv2d_kernels_active() == CONV2D_KERNELS_REFERENCE) return FAST_NONE;
    return wino_shape(d) ? FAST_WINO : nhwc_shape(d) ? FAST_NHWC : FAST_NONE;
}

static conv2d_desc chunk_desc(const conv2d_desc *d, int n) {
    conv2d_desc c = *d;
    c.N = n;
    return c;
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }
static size_t in_chunk(const conv2d_desc *d) { return round16((size_t)FAST_CHUNK * d->C * d->H * d->W); }
static size_t out_chunk(const conv2d_desc *d) { return round16((size_t)FAST_CHUNK * d->F * d->OH * d->OW); }

/* xh, dxh (in chunks), yh, dyh (out chunks), U and Ut (Winograd), then the kernels' own scratch. */
static size_t fast_workspace(const conv2d_desc *d) {
    if (!wino_shape(d) && !nhwc_shape(d)) return 0;
    const conv2d_desc c = chunk_desc(d, FAST_CHUNK);
    size_t k = conv2d_nhwc_workspace(&c);
    if (wino_shape(d) && 2 * conv2d_wino_weights_size(d) + conv2d_wino_workspace(&c) > k)
        k = 2 * conv2d_wino_weights_size(d) + conv2d_wino_workspace(&c);
    return 2 * in_chunk(d) + 2 * out_chunk(d) + k;
}

/* dst (n, P, C) = src (n, C, P); add_back: dst (n, C, P) += src (n, P, C). */
static void to_nhwc(float *restrict dst, const float *restrict src, int n, int C, size_t P) {
    for (size_t i = 0; i < (size_t)n; i++)
        for (int c = 0; c < C; c++)
            for (size_t p = 0; p < P; p++) dst[(i * P + p) * C + c] = src[(i * C + c) * P + p];
}

static void from_nhwc(float *restrict dst, const float *restrict src, int n, int C, size_t P, int add) {
    for (size_t i = 0; i < (size_t)n; i++)
        for (int c = 0; c < C; c++)
            for (size_t p = 0; p < P; p++) {
                const float v = src[(i * P + p) * C + c];
                dst[(i * C + c) * P + p] = add ? dst[(i * C + c) * P + p] + v : v;
            }
}

static void forward_fast(const conv2d_desc *d, fast_kind k, float *out, const float *in, const float *w,
                         const float *b, float *ws) {
    const size_t CHW = (size_t)d->C * d->H * d->W, P = (size_t)d->OH * d->OW;
    float *xh = ws, *yh = ws + 2 * in_chunk(d), *U = yh + 2 * out_chunk(d);
    float *kws = k == FAST_WINO ? U + 2 * conv2d_wino_weights_size(d) : U;
    if (k == FAST_WINO) conv2d_wino_weights(d, U, w);
    const conv2d_epilogue e = {.bias = b};
    for (int n0 = 0; n0 < d->N; n0 += FAST_CHUNK) {
        const int c = d->N - n0 < FAST_CHUNK ? d->N - n0 : FAST_CHUNK;
        const conv2d_desc cd = chunk_desc(d, c);
        to_nhwc(xh, in + n0 * CHW, c, d->C, (size_t)d->H * d->W);
        if (k == FAST_WINO) conv2d_wino_forward(&cd, yh, xh, U, &e, kws);
        else conv2d_nhwc_forward(&cd, yh, xh, w, &e, kws);
        from_nhwc(out + n0 * d->F * P, yh, c, d->F, P, 0);
    }
}

static void backward_fast(const conv2d_desc *d, fast_kind k, float *din, float *dw, float *db, const float *dout,
                          const float *in, const float *w, float *ws) {
    const size_t HW = (size_t)d->H * d->W, P = (size_t)d->OH * d->OW;
    float *xh = ws, *dxh = xh + in_chunk(d), *dyh = dxh + in_chunk(d) + out_chunk(d), *Ut = dyh + out_chunk(d);
    float *kws = k == FAST_WINO ? Ut + 2 * conv2d_wino_weights_size(d) : Ut;
    if (din && k == FAST_WINO) conv2d_wino_weights_t(d, Ut, w);
    for (int n0 = 0; n0 < d->N; n0 += FAST_CHUNK) {
        const int c = d->N - n0 < FAST_CHUNK ? d->N - n0 : FAST_CHUNK;
        const conv2d_desc cd = chunk_desc(d, c);
        to_nhwc(dyh, dout + n0 * d->F * P, c, d->F, P);
        if (dw || db || k == FAST_NHWC) to_nhwc(xh, in + n0 * d->C * HW, c, d->C, HW);
        if (k == FAST_WINO) {
            if (din) conv2d_wino_backward_data(&cd, dxh, dyh, Ut, NULL, kws);
            conv2d_wino_backward_weights(&cd, dw, db, dyh, xh, kws);
        } else {
            conv2d_nhwc_backward(&cd, din ? dxh : NULL, dw, db, dyh, xh, w, NULL, 0, kws);
        }
        if (din) from_nhwc(din + n0 * d->C * HW, dxh, c, d->C, HW, 1);
    }
}

/* ------------------------------------------------------------------------------------------ */

/* NSLOT slots whatever N is: the size depends on the layer's shape only, never on the batch. */
size_t conv2d_workspace(const conv2d_desc *d) {
    const size_t ref = off_slots(d) + (size_t)NSLOT * slot_size(d), fast = fast_workspace(d);
    return ref > fast ? ref : fast;
}

const char *conv2d_algorithm(const conv2d_desc *d) {
    const fast_kind k = fast_of(d);
    if (k == FAST_WINO) return "winograd";
    if (k == FAST_NHWC) return "nhwc-im2col";
    if (is_pointwise(d)) return "pointwise";
    if (is_shifted(d)) return "shifted";
    return din_transposed(d) ? "im2col/transposed" : "im2col/col2im";
}

/* ------------------------------------------------------------------------------------------ */
/* im2col and its adjoint */

/* One im2col problem: a (C, H, W) plane set, kernel K, stride, pad, output OH x OW. */
typedef struct {
    int C, H, W, K, s, pad, OH, OW;
} geom;

static geom geom_of(const conv2d_desc *d) { return (geom){d->C, d->H, d->W, d->K, d->stride, d->pad, d->OH, d->OW}; }

/* Output columns ow whose input column ow*s - pad + kj lies inside [0, W): [*lo, *hi). */
static void valid_cols(const geom *g, int kj, int *lo, int *hi) {
    int s = g->s, off = kj - g->pad;
    int a = off >= 0 ? 0 : (-off + s - 1) / s;
    int b = g->W - 1 - off < 0 ? 0 : (g->W - 1 - off) / s + 1;
    if (b > g->OW) b = g->OW;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* One row of col, output rows [r0, r1), for stride 1 when OW == W ("same" width): the row is the
 * plane shifted by (ki - pad) rows and `off` columns, so one memcpy covers the rows inside the
 * image and only the columns that wrapped around an edge are zeroed afterwards. */
static void im2col_row_same(const geom *g, float *row, const float *xc, int ki, int off, int lo, int hi, int r0,
                            int r1) {
    const int W = g->W;
    const long HW = (long)g->H * W, shift = (long)(ki - g->pad) * W + off;
    int a = g->pad - ki > r0 ? g->pad - ki : r0, b = g->H + g->pad - ki < r1 ? g->H + g->pad - ki : r1;
    if (a > r1) a = r1;
    if (b < a) b = a;
    float *base = row - (long)r0 * W; /* base[oh * W + ow] is output (oh, ow) */
    memset(row, 0, sizeof(float) * (a - r0) * W);
    memset(base + (long)b * W, 0, sizeof(float) * (r1 - b) * W);
    /* Clip to the plane; whatever is clipped is an edge column, zeroed below anyway. */
    long j0 = (long)a * W, j1 = (long)b * W;
    if (j0 + shift < 0) j0 = -shift;
    if (j1 + shift > HW) j1 = HW - shift;
    if (j1 > j0) memcpy(base + j0, xc + j0 + shift, sizeof(float) * (j1 - j0));
    for (int oh = a; oh < b; oh++) {
        float *dst = base + (long)oh * W;
        for (int ow = 0; ow < lo; ow++) dst[ow] = 0;
        for (int ow = hi; ow < W; ow++) dst[ow] = 0;
    }
}

/* col (C*K*K, (r1-r0)*OW) from x (C, H, W) for output rows [r0, r1); row (c, ki, kj), column (oh, ow).
 * Callers pass whole images today; row ranges were verified by running the tests with 1-row chunks. */
static void im2col(const geom *g, float *col, const float *x, int r0, int r1) {
    const int K = g->K, s = g->s, OW = g->OW;
    const size_t Q = (size_t)(r1 - r0) * OW;
    for (int c = 0; c < g->C; c++) {
        const float *xc = x + (size_t)c * g->H * g->W;
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t)(c * K + ki) * K + kj) * Q;
                int lo, hi;
                valid_cols(g, kj, &lo, &hi);
                const int off = kj - g->pad;
                if (s == 1 && OW == g->W) {
                    im2col_row_same(g, row, xc, ki, off, lo, hi, r0, r1);
                    continue;
                }
                for (int oh = r0; oh < r1; oh++) {
                    float *dst = row + (size_t)(oh - r0) * OW;
                    int ih = oh * s - g->pad + ki;
                    if (ih < 0 || ih >= g->H) {
                        memset(dst, 0, sizeof(float) * OW);
                        continue;
                    }
                    const float *src = xc + (size_t)ih * g->W + off;
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

/* dx (C, H, W) += col scattered back (the adjoint of im2col). */
static void col2im_add(const geom *g, float *restrict dx, const float *restrict col) {
    const int K = g->K, s = g->s, OW = g->OW, OH = g->OH;
    for (int c = 0; c < g->C; c++) {
        float *xc = dx + (size_t)c * g->H * g->W;
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                const float *row = col + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                int lo, hi;
                valid_cols(g, kj, &lo, &hi);
                const int off = kj - g->pad;
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * s - g->pad + ki;
                    if (ih < 0 || ih >= g->H) continue;
                    const float *src = row + (size_t)oh * OW;
                    float *dst = xc + (size_t)ih * g->W + off;
                    if (s == 1)
                        for (int ow = lo; ow < hi; ow++) dst[ow] += src[ow];
                    else
                        for (int ow = lo; ow < hi; ow++) dst[ow * s] += src[ow];
                }
            }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Shifted GEMMs for "same" stride-1 convolutions */

/* xp (C, H+2p, W+2p) = x (C, H, W) with a zero border of p, then K zero floats of slack. */
static void pad_planes(int C, int H, int W, int p, int K, const float *x, float *xp) {
    const int Wp = W + 2 * p;
    const size_t L = (size_t)(H + 2 * p) * Wp;
    for (int c = 0; c < C; c++) {
        float *q = xp + c * L;
        const float *src = x + (size_t)c * H * W;
        memset(q, 0, sizeof(float) * p * Wp);
        for (int h = 0; h < H; h++) {
            float *row = q + (size_t)(h + p) * Wp;
            memset(row, 0, sizeof(float) * p);
            memcpy(row + p, src + (size_t)h * W, sizeof(float) * W);
            memset(row + p + W, 0, sizeof(float) * p);
        }
        memset(q + (size_t)(H + p) * Wp, 0, sizeof(float) * p * Wp);
    }
    memset(xp + C * L, 0, sizeof(float) * K);
}

/* wr (K*K, F, C): the (F, C) weight matrix of each kernel tap. */
static void weights_per_tap(const conv2d_desc *d, float *wr, const float *w) {
    const int F = d->F, C = d->C, KK = d->K * d->K;
    for (int f = 0; f < F; f++)
        for (int c = 0; c < C; c++)
            for (int k = 0; k < KK; k++) wr[((size_t)k * F + f) * C + c] = w[((size_t)f * C + c) * KK + k];
}

/* out (F, H, W) of one image: sum over taps of Wr_k (F, C) . (xp shifted by tap k) (C, N). */
static void forward_shifted(const conv2d_desc *d, float *o, const float *x, const float *wr, const float *b,
                            float *xp, float *grid) {
    const int F = d->F, C = d->C, K = d->K, H = d->H, W = d->W, Wp = W + 2 * d->pad;
    const int L = (int)shift_L(d), N = (int)shift_N(d);
    pad_planes(C, H, W, d->pad, K, x, xp);
    for (int k = 0; k < K * K; k++)
        nn_gemm(0, 0, F, N, C, 1.0f, wr + (size_t)k * F * C, C, xp + (k / K) * Wp + k % K, L, k ? 1.0f : 0.0f, grid, N);
    for (int f = 0; f < F; f++) {
        const float bf = b ? b[f] : 0.0f;
        for (int h = 0; h < H; h++) {
            const float *src = grid + (size_t)f * N + (size_t)h * Wp;
            float *dst = o + ((size_t)f * H + h) * W;
            for (int w = 0; w < W; w++) dst[w] = src[w] + bf;
        }
    }
}

/* din (C, H, W) += the transposed convolution of dout (F, H, W): tap k reads the padded dout
 * shifted by the rotated tap (K-1-ki, K-1-kj), weighted by Wr_k^T (C, F). */
static void din_shifted(const conv2d_desc *d, float *dx, const float *go, const float *wr, float *gp, float *grid) {
    const int F = d->F, C = d->C, K = d->K, H = d->H, W = d->W, Wp = W + 2 * d->pad;
    const int L = (int)shift_L(d), N = (int)shift_N(d);
    pad_planes(F, H, W, d->pad, K, go, gp);
    for (int k = 0; k < K * K; k++) {
        const float *B = gp + (K - 1 - k / K) * Wp + (K - 1 - k % K);
        nn_gemm(1, 0, C, N, F, 1.0f, wr + (size_t)k * F * C, C, B, L, k ? 1.0f : 0.0f, grid, N);
    }
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++) {
            const float *src = grid + (size_t)c * N + (size_t)h * Wp;
            float *dst = dx + ((size_t)c * H + h) * W;
            for (int w = 0; w < W; w++) dst[w] += src[w];
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Work split across threads: each takes the next image (forward) or group of images (backward)
 * from a shared counter, so a thread slowed by other load simply takes less; BLAS runs
 * single-threaded meanwhile. */

typedef struct {
    const conv2d_desc *d;
    float *out, *din, *dw, *db;
    const float *in, *w, *b, *dout, *wx; /* wx: rearranged weights (flipped or per tap) */
    float *ws;                           /* per-thread blocks, then weights and slots */
    float *slots;                        /* group partial sums of dW, db; NULL: add into dw, db */
    atomic_int next;                     /* next image or group to take */
} conv_batch;

/* Whole images per GEMM: splitting the columns into L2-sized chunks (tried: 0.1-2 MB) did not
 * measurably help, and per-image GEMMs (N = 784 or 1925) already run near the sgemm ceiling. */
static void forward_image(const conv_batch *j, float *ws, int n) {
    const conv2d_desc *d = j->d;
    const int F = d->F, CKK = d->C * d->K * d->K, P = d->OH * d->OW;
    float *o = j->out + (size_t)n * F * P;
    const float *col = j->in + (size_t)n * d->C * d->H * d->W;
    if (is_shifted(d)) {
        forward_shifted(d, o, col, j->wx, j->b, ws, ws + layout(d).col);
        return;
    }
    if (!is_pointwise(d)) {
        const geom g = geom_of(d);
        im2col(&g, ws, col, 0, d->OH);
        col = ws;
    }
    if (j->b)
        for (int f = 0; f < F; f++)
            for (int p = 0; p < P; p++) o[(size_t)f * P + p] = j->b[f];
    nn_gemm(0, 0, F, P, CKK, 1.0f, j->w, CKK, col, P, j->b ? 1.0f : 0.0f, o, P);
}

/* Sum in 16 interleaved partial sums: a fixed order the compiler can vectorize without
 * -ffast-math (a single running sum ran at ~1 GFLOP/s, 3% of the backward pass). */
static float sum_floats(const float *x, int n) {
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += x[i + k];
    for (int k = 0; i < n; i++, k++) acc[k] += x[i];
    float s = 0;
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}

/* One image's gradients: dW and db added into dw, db (a group's slot); din into the image's din. */
static void backward_image(const conv_batch *j, float *ws, int n, float *dw, float *db) {
    const conv2d_desc *d = j->d;
    const int F = d->F, C = d->C, K = d->K, CKK = C * K * K, P = d->OH * d->OW, HW = d->H * d->W;
    const int pw = is_pointwise(d);
    float *col = ws, *col2 = ws + layout(d).col;
    const float *go = j->dout + (size_t)n * F * P;
    const geom g = geom_of(d);
    if (db)
        for (int f = 0; f < F; f++) db[f] += sum_floats(go + (size_t)f * P, P);
    if (dw) {
        const float *c = j->in + (size_t)n * C * HW;
        if (!pw) {
            im2col(&g, col, c, 0, d->OH);
            c = col;
        }
        nn_gemm(0, 1, F, CKK, P, 1.0f, go, P, c, P, 1.0f, dw, CKK);
    }
    if (j->din) {
        float *dx = j->din + (size_t)n * C * HW;
        if (pw)
            nn_gemm(1, 0, CKK, P, F, 1.0f, j->w, CKK, go, P, 1.0f, dx, P);
        else if (is_shifted(d))
            din_shifted(d, dx, go, j->wx, col2, col2 + (size_t)F * shift_L(d) + K);
        else if (din_transposed(d)) {
            /* dout seen as the input of a stride-1 convolution: F planes of OH x OW, output H x W. */
            const geom gt = {F, d->OH, d->OW, K, 1, K - 1 - d->pad, d->H, d->W};
            im2col(&gt, col2, go, 0, d->H);
            nn_gemm(0, 0, C, HW, F * K * K, 1.0f, j->wx, F * K * K, col2, HW, 1.0f, dx, HW);
        } else {
            nn_gemm(1, 0, CKK, P, F, 1.0f, j->w, CKK, go, P, 0.0f, col2, P);
            col2im_add(&g, dx, col2);
        }
    }
}

/* Task t of a run: its scratch block is ws + t * block (NULL ws only for 1x1, single task). */
static float *task_ws(const conv_batch *j, int t) { return j->ws ? j->ws + t * layout(j->d).total : NULL; }

static void run_forward(void *p, int t) {
    conv_batch *j = p;
    float *ws = task_ws(j, t);
    for (int n; (n = atomic_fetch_add(&j->next, 1)) < j->d->N;) forward_image(j, ws, n);
}

static void run_backward(void *p, int t) {
    conv_batch *j = p;
    float *ws = task_ws(j, t);
    const conv2d_desc *d = j->d;
    const int G = group_size(d->N), S = group_count(d->N);
    const size_t nw = slot_size(d) - d->F;
    for (int s; (s = atomic_fetch_add(&j->next, 1)) < S;) {
        float *dw = j->dw, *db = j->db;
        if (j->slots) {
            float *slot = j->slots + (size_t)s * slot_size(d);
            memset(slot, 0, slot_size(d) * sizeof(float));
            dw = j->dw ? slot : NULL;
            db = j->db ? slot + nw : NULL;
        }
        for (int n = s * G; n < (s + 1) * G && n < d->N; n++) backward_image(j, ws, n, dw, db);
    }
}

/* Threads worth using: one per image at most, and none for work too small to amortise waking a
 * worker (on a 2-vCPU VM, up to ~1 ms when the other vCPU has gone idle; 2e7 flops is ~0.2 ms of
 * GEMM on one core). */
static int plan_threads(const conv2d_desc *d) {
    int t = nn_get_threads();
    if (t > nn_max_threads()) t = nn_max_threads();
    if (t > d->N) t = d->N;
    if (conv2d_flops(d) < 2e7) t = 1;
    return t < 1 ? 1 : t;
}

/* Runs fn over the batch on T pool threads (the caller's among them); with one, BLAS keeps its own. */
static void run_batch(conv_batch *j, nn_task_fn fn) {
    const int T = j->ws ? plan_threads(j->d) : 1;
    atomic_init(&j->next, 0);
    if (T == 1) {
        fn(j, 0);
        return;
    }
    const int blas = nn_get_threads();
    nn_blas_threads(1);
    nn_parallel_run(T, fn, j);
    nn_blas_threads(blas);
}

/* dw, db += the group partial sums, in group order. */
static void reduce_slots(const conv2d_desc *d, const float *slots, float *dw, float *db) {
    const int S = group_count(d->N);
    const size_t nw = slot_size(d) - d->F, stride = slot_size(d);
    if (dw)
        for (size_t i = 0; i < nw; i++) {
            float acc = slots[i];
            for (int s = 1; s < S; s++) acc += slots[s * stride + i];
            dw[i] += acc;
        }
    if (db)
        for (int f = 0; f < d->F; f++) {
            float acc = slots[nw + f];
            for (int s = 1; s < S; s++) acc += slots[s * stride + nw + f];
            db[f] += acc;
        }
}

void conv2d_forward(const conv2d_desc *d, float *out, const float *in, const float *w, const float *b,
                    float *ws) {
    assert(ws || is_pointwise(d));
    const fast_kind k = ws ? fast_of(d) : FAST_NONE;
    if (k != FAST_NONE) {
        forward_fast(d, k, out, in, w, b, ws);
        return;
    }
    float *wx = NULL;
    if (is_shifted(d)) {
        wx = ws + off_weights(d);
        weights_per_tap(d, wx, w);
    }
    conv_batch j = {.d = d, .out = out, .in = in, .w = w, .b = b, .wx = wx, .ws = ws};
    run_batch(&j, run_forward);
}

void conv2d_backward(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout,
                     const float *in, const float *w, float *ws) {
    assert(ws || is_pointwise(d));
    const fast_kind k = ws ? fast_of(d) : FAST_NONE;
    if (k != FAST_NONE) {
        backward_fast(d, k, din, dw, db, dout, in, w, ws);
        return;
    }
    float *wx = NULL;
    if (din && is_shifted(d)) {
        wx = ws + off_weights(d);
        weights_per_tap(d, wx, w);
    } else if (din && din_transposed(d)) {
        /* wx (C, F, K, K) = W (F, C, K, K) with channels swapped and the kernel rotated 180 degrees. */
        const int F = d->F, C = d->C, K = d->K, KK = K * K;
        wx = ws + off_weights(d);
        for (int f = 0; f < F; f++)
            for (int c = 0; c < C; c++)
                for (int k = 0; k < KK; k++) wx[((size_t)c * F + f) * KK + k] = w[((size_t)f * C + c) * KK + KK - 1 - k];
    }
    float *slots = ws && (dw || db) ? ws + off_slots(d) : NULL;
    conv_batch j = {.d = d, .din = din, .dw = dw, .db = db, .dout = dout, .in = in, .w = w, .wx = wx, .ws = ws,
                    .slots = slots};
    run_batch(&j, run_backward);
    if (slots) reduce_slots(d, slots, dw, db);
}
