/* Channels-last convolutions of any kernel size, stride and padding (the discriminator's layers):
 * im2col rows of K*K*C values per output pixel (tap-major, channels fastest: whole C-length
 * segments copied), then the SIMD GEMM of conv2d_fast; and max-pooling on NHWC maps.
 * Batches are split by image; weight gradients are summed per fixed group of images (NSLOT groups
 * of consecutive images) and the groups added in order, so results do not depend on the thread
 * count.
 * N batch, C input channels, H W input size, F output channels, K kernel, P = OH*OW. */
#include "nn/conv2d_fast.h"
#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include "nn/conv2d_fast_impl.h"
#include "nn/gemm.h"
#include "nn/layers.h"
#include "nn/parallel.h"

enum { NSLOT = 16, SUB = 4 /* images per weight-gradient GEMM */ };

static int group_size(int N) { return (N + NSLOT - 1) / NSLOT; }
static int group_count(int N) { return (N + group_size(N) - 1) / group_size(N); }

static int pointwise(const conv2d_desc *d) { return d->K == 1 && d->stride == 1 && d->pad == 0; }
static int kkc(const conv2d_desc *d) { return d->K * d->K * d->C; }
static int kkc_pad(const conv2d_desc *d) { return (kkc(d) + 15) & ~15; } /* din GEMM width */
static size_t npix(const conv2d_desc *d) { return (size_t)d->OH * d->OW; }

int conv2d_nhwc_eligible(const conv2d_desc *d) { return conv2d_fast_kernels() && d->F % 16 == 0; }

/* Layout: wp (KKC, F) | wt (F, KKCp) | per-thread col (SUB * P, KKCp) | NSLOT slots (KKC * F + F). */
static size_t slot_size(const conv2d_desc *d) { return (size_t)kkc(d) * d->F + d->F; }
static size_t col_size(const conv2d_desc *d) { return ((size_t)SUB * npix(d) * kkc_pad(d) + 15) & ~(size_t)15; }

size_t conv2d_nhwc_workspace(const conv2d_desc *d) {
    return (size_t)kkc(d) * d->F + (size_t)d->F * kkc_pad(d) + (size_t)nn_max_threads() * col_size(d) +
           (size_t)NSLOT * slot_size(d) + 16;
}

/* wp[(tap * C + c) * F + f] = w(f, c, tap); wt[f * KKCp + tap * C + c] likewise, zero padded. */
static void pack_weights(const conv2d_desc *d, float *wp, float *wt, const float *w) {
    const int C = d->C, F = d->F, KK = d->K * d->K, n = kkc(d), np = kkc_pad(d);
    for (int f = 0; f < F; f++)
        for (int c = 0; c < C; c++)
            for (int k = 0; k < KK; k++) {
                const float v = w[((size_t)f * C + c) * KK + k];
                if (wp) wp[((size_t)k * C + c) * F + f] = v;
                if (wt) wt[(size_t)f * np + k * C + c] = v;
            }
    if (wt)
        for (int f = 0; f < F; f++) memset(wt + (size_t)f * np + n, 0, (np - n) * sizeof(float));
}

/* col (P, ld) rows of image x (H, W, C): row (oh, ow) = the K x K window, zero outside. */
static void im2col(const conv2d_desc *d, float *col, long ld, const float *x) {
    const int C = d->C, K = d->K, H = d->H, W = d->W;
    for (int oh = 0; oh < d->OH; oh++)
        for (int ow = 0; ow < d->OW; ow++) {
            float *row = col + ((long)oh * d->OW + ow) * ld;
            for (int ki = 0; ki < K; ki++) {
                const int ih = oh * d->stride - d->pad + ki;
                for (int kj = 0; kj < K; kj++) {
                    const int iw = ow * d->stride - d->pad + kj;
                    float *restrict dst = row + (ki * K + kj) * C;
                    /* inline loops, not memcpy: segments are short (1 to 96 floats) and many */
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                        for (int c = 0; c < C; c++) dst[c] = 0;
                    else {
                        const float *restrict src = x + ((long)ih * W + iw) * C;
                        for (int c = 0; c < C; c++) dst[c] = src[c];
                    }
                }
            }
        }
}

/* dx (H, W, C) += the rows of dcol (P, ld) scattered back (the adjoint of im2col). */
static void col2im_add(const conv2d_desc *d, float *restrict dx, const float *restrict dcol, long ld) {
    const int C = d->C, K = d->K, H = d->H, W = d->W;
    for (int oh = 0; oh < d->OH; oh++)
        for (int ow = 0; ow < d->OW; ow++) {
            const float *row = dcol + ((long)oh * d->OW + ow) * ld;
            for (int ki = 0; ki < K; ki++) {
                const int ih = oh * d->stride - d->pad + ki;
                if (ih < 0 || ih >= H) continue;
                for (int kj = 0; kj < K; kj++) {
                    const int iw = ow * d->stride - d->pad + kj;
                    if (iw < 0 || iw >= W) continue;
                    float *restrict dst = dx + ((long)ih * W + iw) * C;
                    const float *restrict src = row + (ki * K + kj) * C;
                    for (int c = 0; c < C; c++) dst[c] += src[c];
                }
            }
        }
}

/* ------------------------------------------------------------------------------------------ */

typedef struct {
    const cf_kernels *k;
    const conv2d_desc *d;
    float *out, *din, *dw, *db, *ws, *wp, *wt, *slots;
    const float *in, *dout, *mask;
    const conv2d_epilogue *e;
    int accumulate;
    atomic_int next;
} nh_job;

static float *thread_col(const nh_job *j, int t) {
    const conv2d_desc *d = j->d;
    return j->ws + (size_t)kkc(d) * d->F + (size_t)d->F * kkc_pad(d) + (size_t)t * col_size(d);
}

/* o (P, F) = epilogue(o); res and mask are read at offset off. Branch-free, so it vectorizes. */
static void epilogue(float *restrict o, long P, int F, const conv2d_epilogue *e, size_t off) {
    const float *restrict res = e->res ? e->res + off : NULL, *restrict mask = e->mask ? e->mask + off : NULL;
    for (long q = 0; q < P * F; q += F) {
        if (e->bias)
            for (int f = 0; f < F; f++) o[q + f] += e->bias[f];
        if (res)
            for (int f = 0; f < F; f++) o[q + f] += res[q + f];
        if (mask)
            for (int f = 0; f < F; f++) o[q + f] = mask[q + f] > 0 ? o[q + f] : 0.0f;
        if (e->relu)
            for (int f = 0; f < F; f++) o[q + f] = o[q + f] > 0 ? o[q + f] : 0.0f;
    }
}

/* x[i] = m[i] > 0 ? x[i] : 0 (the ReLU gradient mask). */
static void mask_pos(float *restrict x, const float *restrict m, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = m[i] > 0 ? x[i] : 0.0f;
}

/* acc (F) += the sum of the P rows of g (P, F). */
static void sum_rows(float *restrict acc, const float *restrict g, long P, int F) {
    for (long q = 0; q < P; q++)
        for (int f = 0; f < F; f++) acc[f] += g[q * F + f];
}

static void fwd_task(void *p, int t) {
    nh_job *j = p;
    const conv2d_desc *d = j->d;
    const int F = d->F, n_k = kkc(d);
    const long P = (long)npix(d);
    float *col = thread_col(j, t);
    const conv2d_epilogue *e = j->e;
    for (int n; (n = atomic_fetch_add(&j->next, 1)) < d->N;) {
        const float *x = j->in + (size_t)n * d->H * d->W * d->C;
        float *o = j->out + (size_t)n * P * F;
        if (pointwise(d)) {
            j->k->gemm((int)P, F, n_k, x, d->C, 1, j->wp, F, o, F, 0);
        } else {
            im2col(d, col, n_k, x);
            j->k->gemm((int)P, F, n_k, col, n_k, 1, j->wp, F, o, F, 0);
        }
        epilogue(o, P, F, e, (size_t)n * P * F);
    }
}

void conv2d_nhwc_forward(const conv2d_desc *d, float *out, const float *in, const float *w,
                         const conv2d_epilogue *e, float *ws) {
    assert(conv2d_nhwc_eligible(d));
    static const conv2d_epilogue none = {0};
    nh_job j = {.k = conv2d_fast_kernels(), .d = d, .out = out, .in = in, .e = e ? e : &none, .ws = ws, .wp = ws};
    pack_weights(d, j.wp, NULL, w);
    atomic_init(&j.next, 0);
    const int T = conv2d_fast_threads(conv2d_flops(d), d->N);
    if (T > 1) nn_parallel_run(T, fwd_task, &j);
    else fwd_task(&j, 0);
}

/* Group s: its images' dW (KKC, F) and db summed into slot s (SUB images per GEMM); din per image. */
static void bwd_task(void *p, int t) {
    nh_job *j = p;
    const conv2d_desc *d = j->d;
    const int C = d->C, F = d->F, n_k = kkc(d), np = kkc_pad(d), G = group_size(d->N), S = group_count(d->N);
    const long P = (long)npix(d), HWC = (long)d->H * d->W * C;
    float *col = thread_col(j, t);
    for (int s; (s = atomic_fetch_add(&j->next, 1)) < S;) {
        const int n0 = s * G, n1 = n0 + G < d->N ? n0 + G : d->N;
        float *slot = j->slots + (size_t)s * slot_size(d);
        if (j->dw || j->db) memset(slot, 0, slot_size(d) * sizeof(float));
        for (int n = n0; j->db && n < n1; n++) sum_rows(slot + (size_t)n_k * F, j->dout + (size_t)n * P * F, P, F);
        for (int a = n0; j->dw && a < n1; a += SUB) {
            const int m = n1 - a < SUB ? n1 - a : SUB;
            const float *A = j->in + (size_t)a * HWC;
            long aks = C;
            if (!pointwise(d)) {
                for (int i = 0; i < m; i++) im2col(d, col + (size_t)i * P * n_k, n_k, j->in + (size_t)(a + i) * HWC);
                A = col, aks = n_k;
            }
            /* dW (KKC, F) += col^T (KKC, m P) dout (m P, F) */
            j->k->gemm(n_k, F, (int)(m * P), A, 1, aks, j->dout + (size_t)a * P * F, F, slot, F, 1);
        }
        for (int n = n0; j->din && n < n1; n++) {
            float *dx = j->din + (size_t)n * HWC;
            const float *go = j->dout + (size_t)n * P * F;
            if (pointwise(d)) {
                j->k->gemm((int)P, C, F, go, F, 1, j->wt, np, dx, C, j->accumulate);
            } else {
                j->k->gemm((int)P, np, F, go, F, 1, j->wt, np, col, np, 0);
                if (!j->accumulate) memset(dx, 0, HWC * sizeof(float));
                col2im_add(d, dx, col, np);
            }
            if (j->mask) mask_pos(dx, j->mask + (size_t)n * HWC, HWC);
        }
    }
}

void conv2d_nhwc_backward(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout, const float *in,
                          const float *w, const float *mask, int accumulate, float *ws) {
    assert(conv2d_nhwc_eligible(d));
    assert(!(mask && accumulate));
    /* the pointwise din GEMM writes C-wide rows: C must be whole vectors */
    assert(!din || !pointwise(d) || d->C % 16 == 0);
    nh_job j = {.k = conv2d_fast_kernels(), .d = d, .din = din, .dw = dw, .db = db, .dout = dout, .in = in,
                .mask = mask, .accumulate = accumulate, .ws = ws, .wt = ws + (size_t)kkc(d) * d->F};
    j.slots = thread_col(&j, nn_max_threads());
    if (din) pack_weights(d, NULL, j.wt, w);
    atomic_init(&j.next, 0);
    const int T = conv2d_fast_threads(2 * conv2d_flops(d), group_count(d->N));
    if (T > 1) nn_parallel_run(T, bwd_task, &j);
    else bwd_task(&j, 0);
    if (!dw && !db) return;
    /* dw (F, C, K, K), db += the slots in group order; slots hold dW as (tap * C + c, f). */
    const int S = group_count(d->N), C = d->C, F = d->F, KK = d->K * d->K, n_k = kkc(d);
    const size_t ss = slot_size(d);
    for (int i = 0; dw && i < n_k; i++)
        for (int f = 0; f < F; f++) {
            float acc = j.slots[(size_t)i * F + f];
            for (int s = 1; s < S; s++) acc += j.slots[s * ss + (size_t)i * F + f];
            dw[((size_t)f * C + i % C) * KK + i / C] += acc;
        }
    for (int f = 0; db && f < F; f++) {
        float acc = j.slots[(size_t)n_k * F + f];
        for (int s = 1; s < S; s++) acc += j.slots[s * ss + (size_t)n_k * F + f];
        db[f] += acc;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Max-pool on NHWC maps: the same windows, scan order and NaN rule as maxpool_forward. */

/* Images [n0, n1). */
static void pool_forward(const maxpool_desc *d, float *out, int *argmax, const float *in, int n0, int n1) {
    const int C = d->C, H = d->H, W = d->W;
    for (int n = n0; n < n1; n++) {
        const float *x = in + (size_t)n * H * W * C;
        for (int oh = 0; oh < d->OH; oh++) {
            int h0 = oh * d->stride - d->pad, h1 = h0 + d->K;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            for (int ow = 0; ow < d->OW; ow++) {
                int w0 = ow * d->stride - d->pad, w1 = w0 + d->K;
                if (w0 < 0) w0 = 0;
                if (w1 > W) w1 = W;
                const size_t o = (((size_t)n * d->OH + oh) * d->OW + ow) * C;
                float *restrict m = out + o;
                int *restrict am = argmax + o;
                const int first = h0 * W + w0;
                for (int c = 0; c < C; c++) m[c] = x[(size_t)first * C + c], am[c] = first;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) {
                        const int q = h * W + w;
                        if (q == first) continue;
                        const float *restrict v = x + (size_t)q * C;
                        /* branch-free so it vectorizes: v wins if larger, or NaN over a number */
                        for (int c = 0; c < C; c++) {
                            const int win = v[c] > m[c] || (v[c] != v[c] && m[c] == m[c]);
                            m[c] = win ? v[c] : m[c];
                            am[c] = win ? q : am[c];
                        }
                    }
            }
        }
    }
}

static void pool_backward(const maxpool_desc *d, float *din, const float *dout, const int *argmax, const float *mask,
                          int n0, int n1) {
    const int C = d->C;
    const size_t in_img = (size_t)d->H * d->W * C, out_px = (size_t)d->OH * d->OW;
    memset(din + n0 * in_img, 0, (n1 - n0) * in_img * sizeof(float));
    for (int n = n0; n < n1; n++) {
        float *dx = din + n * in_img;
        for (size_t p = 0; p < out_px; p++) {
            const size_t o = (n * out_px + p) * C;
            for (int c = 0; c < C; c++) dx[(size_t)argmax[o + c] * C + c] += dout[o + c];
        }
    }
    if (mask) mask_pos(din + n0 * in_img, mask + n0 * in_img, (n1 - n0) * in_img);
}

/* Images are independent: split over the threads by image (a pool layer is ~1% of D's time on one
 * thread, but would be the only serial part of it on two). */
typedef struct {
    const maxpool_desc *d;
    float *out, *din;
    int *argmax;
    const int *cargmax;
    const float *in, *dout, *mask;
    atomic_int next;
} pool_job;

enum { POOL_IMAGES = 8 };

static void pool_task(void *p, int t) {
    (void)t;
    pool_job *j = p;
    for (int n0; (n0 = atomic_fetch_add(&j->next, POOL_IMAGES)) < j->d->N;) {
        const int n1 = n0 + POOL_IMAGES < j->d->N ? n0 + POOL_IMAGES : j->d->N;
        if (j->out) pool_forward(j->d, j->out, j->argmax, j->in, n0, n1);
        else pool_backward(j->d, j->din, j->dout, j->cargmax, j->mask, n0, n1);
    }
}

static void pool_run(pool_job *j) {
    const double work = (double)j->d->N * j->d->OH * j->d->OW * j->d->C * j->d->K * j->d->K;
    /* compares and adds, not flops: worth a second thread from a few million */
    const int T = conv2d_fast_threads(10 * work, (j->d->N + POOL_IMAGES - 1) / POOL_IMAGES);
    atomic_init(&j->next, 0);
    if (T > 1) nn_parallel_run(T, pool_task, j);
    else pool_task(j, 0);
}

void maxpool_nhwc_forward(const maxpool_desc *d, float *out, int *argmax, const float *in) {
    pool_job j = {.d = d, .out = out, .argmax = argmax, .in = in};
    pool_run(&j);
}

void maxpool_nhwc_backward(const maxpool_desc *d, float *din, const float *dout, const int *argmax,
                           const float *mask) {
    pool_job j = {.d = d, .din = din, .dout = dout, .cargmax = argmax, .mask = mask};
    pool_run(&j);
}
