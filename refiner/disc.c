/* The local discriminator D: parameter table, forward and backward over a batch, with the
 * activations allocated once by disc_prepare. The refiner's step back-propagates through D
 * without touching D's gradients (param_grads = 0 passes NULL dW/db to the convolutions).
 * N batch (prepared), n batch (this call), C image channels, H W input size, OH OW map size. */
#include "refiner/disc.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/status.h"
#include "nn/conv2d_fast.h"
#include "nn/parallel.h"

/* Output channels and kernel of conv1..conv5; the pool sits between conv2 and conv3. */
static const int DISC_F[5] = {96, 64, 32, 32, 2};
static const int DISC_K[5] = {3, 3, 3, 1, 1};
static const int DISC_S[5] = {0, 2, 1, 1, 1}; /* conv1's is disc_config.stride */
static const int DISC_P[5] = {1, 1, 1, 0, 0};

typedef struct {
    conv2d_desc conv[5];
    maxpool_desc pool;
} disc_geom;

static void geometry(const disc *d, int n, int H, int W, disc_geom *g) {
    int C = d->cfg.C;
    for (int i = 0; i < 5; i++) {
        conv2d_desc_init(&g->conv[i], n, C, H, W, DISC_F[i], DISC_K[i], i ? DISC_S[i] : d->cfg.stride, DISC_P[i]);
        C = DISC_F[i];
        H = g->conv[i].OH;
        W = g->conv[i].OW;
        if (i == 1) {
            maxpool_desc_init(&g->pool, n, C, H, W, 3, 1, 1);
            H = g->pool.OH;
            W = g->pool.OW;
        }
    }
}

int disc_init(disc *d, const disc_config *cfg, uint64_t seed) {
    memset(d, 0, sizeof *d);
    if (cfg->C < 1) return rp_err(RP_EARG, "discriminator: C=%d: expected C >= 1", cfg->C);
    if (cfg->stride < 0 || cfg->stride > 2)
        return rp_err(RP_EARG, "discriminator: stride %d: expected 1 or 2", cfg->stride);
    d->cfg = *cfg;
    if (!d->cfg.stride) d->cfg.stride = 2;
    param_block_init(&d->p);
    size_t ow[5], ob[5];
    int C = cfg->C;
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "conv%d.w", i + 1);
        ow[i] = param_block_add(&d->p, name, 4, DISC_F[i], C, DISC_K[i], DISC_K[i]);
        snprintf(name, sizeof name, "conv%d.b", i + 1);
        ob[i] = param_block_add(&d->p, name, 1, DISC_F[i], 1, 1, 1);
        C = DISC_F[i];
    }
    int rc = param_block_alloc(&d->p);
    if (rc) return rp_err_prefix(rc, "discriminator: ");
    for (int i = 0; i < 5; i++) {
        d->w[i] = d->p.data + ow[i];
        d->b[i] = d->p.data + ob[i];
    }
    param_block_init_he(&d->p, seed);
    return 0;
}

static void release_buffers(disc *d) {
    free(d->acts);
    free(d->dacts);
    free(d->ws);
    free(d->argmax);
    free(d->xh);
    d->acts = d->dacts = d->ws = d->xh = NULL;
    d->argmax = NULL;
    d->N = d->H = d->W = d->OH = d->OW = 0;
    d->last_in = NULL;
}

void disc_free(disc *d) {
    release_buffers(d);
    param_block_free(&d->p);
}

/* Saved maps in acts, in order: a1 a2 (post-ReLU conv1, conv2), pool output, a4 a5
 * (post-ReLU conv3, conv4). Sizes per image. */
static void map_sizes(const disc_geom *g, size_t sz[5]) {
    sz[0] = (size_t)g->conv[0].F * g->conv[0].OH * g->conv[0].OW;
    sz[1] = (size_t)g->conv[1].F * g->conv[1].OH * g->conv[1].OW;
    sz[2] = (size_t)g->pool.C * g->pool.OH * g->pool.OW;
    sz[3] = (size_t)g->conv[2].F * g->conv[2].OH * g->conv[2].OW;
    sz[4] = (size_t)g->conv[3].F * g->conv[3].OH * g->conv[3].OW;
}

int disc_prepare(disc *d, int N, int H, int W) {
    if (d->acts && d->N == N && d->H == H && d->W == W) return 0;
    release_buffers(d);
    if (N < 1 || H < 1 || W < 1)
        return rp_err(RP_EARG, "discriminator: batch %d of %dx%d: expected positive sizes", N, H, W);
    disc_geom g;
    geometry(d, N, H, W, &g); /* the workspace grows with the images per call */
    size_t sz[5], total = 0, largest = 0, nws = 0;
    map_sizes(&g, sz);
    for (int i = 0; i < 5; i++) {
        total += sz[i];
        if (sz[i] > largest) largest = sz[i];
        if (conv2d_workspace(&g.conv[i]) > nws) nws = conv2d_workspace(&g.conv[i]);
        /* sized for the fast path too, so the kernel level may change between calls */
        size_t f = i < 4 ? conv2d_nhwc_workspace(&g.conv[i]) : conv2d_project_workspace(&g.conv[i]);
        if (f > nws) nws = f;
        if (i == 2) { /* conv3 on Winograd: U, Ut, then its scratch */
            f = 2 * conv2d_wino_weights_size(&g.conv[2]) + conv2d_wino_workspace(&g.conv[2]);
            if (f > nws) nws = f;
        }
    }
    d->acts = nn_alloc_big((size_t)N * total * sizeof(float));
    d->dacts = nn_alloc_big((size_t)N * (total + largest) * sizeof(float));
    d->ws = nn_alloc_big((nws ? nws : 1) * sizeof(float));
    d->argmax = malloc((size_t)N * sz[2] * sizeof(int));
    d->xh = d->cfg.C > 1 ? malloc(2 * (size_t)N * d->cfg.C * H * W * sizeof(float)) : NULL;
    if (!d->acts || !d->dacts || !d->ws || !d->argmax || (d->cfg.C > 1 && !d->xh)) {
        release_buffers(d);
        return rp_err(RP_ENOMEM, "discriminator: cannot allocate activations for batch %d of %dx%d", N, H, W);
    }
    d->N = N, d->H = H, d->W = W;
    d->OH = g.conv[4].OH;
    d->OW = g.conv[4].OW;
    return 0;
}

/* Pointers to the five saved maps (and, in dacts, their gradients) for the prepared N. */
static void maps(const disc *d, float *base, const disc_geom *g, float *m[5]) {
    size_t sz[5];
    map_sizes(g, sz);
    for (int i = 0; i < 5; i++) {
        m[i] = base;
        base += (size_t)d->N * sz[i];
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Fast path: NHWC maps, every layer on the SIMD GEMM (conv2d_nhwc_*), bias and ReLU fused, the
 * ReLU gradients folded into the backward-data passes as masks. */

static int fast_now(const disc_geom *g) {
    for (int i = 0; i < 4; i++)
        if (!conv2d_nhwc_eligible(&g->conv[i])) return 0;
    return conv2d_project_eligible(&g->conv[4]);
}

/* dst (n, H, W, C) from src (n, C, H, W), or back (add: dst (n, C, H, W) += src (n, H, W, C)). */
static void nchw_to_nhwc(float *dst, const float *src, int n, int C, int H, int W) {
    const size_t P = (size_t)H * W;
    for (size_t i = 0; i < (size_t)n; i++)
        for (size_t p = 0; p < P; p++)
            for (int c = 0; c < C; c++) dst[(i * P + p) * C + c] = src[(i * C + c) * P + p];
}

static void nhwc_add_to_nchw(float *dst, const float *src, int n, int C, int H, int W) {
    const size_t P = (size_t)H * W;
    for (size_t i = 0; i < (size_t)n; i++)
        for (int c = 0; c < C; c++)
            for (size_t p = 0; p < P; p++) dst[(i * C + c) * P + p] += src[(i * P + p) * C + c];
}

static void fast_forward(disc *d, const disc_geom *g, float *a[5], float *logits, const float *in, int n) {
    const float *x = in;
    if (d->cfg.C > 1) {
        nchw_to_nhwc(d->xh, in, n, d->cfg.C, d->H, d->W);
        x = d->xh;
    }
    const float *src[4] = {x, a[0], a[2], a[3]};
    float *dst[4] = {a[0], a[1], a[3], a[4]};
    for (int i = 0; i < 4; i++) {
        const conv2d_epilogue e = {.bias = d->b[i], .relu = 1};
        if (i == 2 && conv2d_wino_eligible(&g->conv[2])) {
            /* conv3 (64 -> 32, 3x3, stride 1) on Winograd: 2.5x fewer multiplies even with the
             * 7x7 map's 2x2 tiles covering 8x8 */
            const size_t wsz = conv2d_wino_weights_size(&g->conv[2]);
            conv2d_wino_weights(&g->conv[2], d->ws, d->w[2]);
            conv2d_wino_forward(&g->conv[2], dst[2], src[2], d->ws, &e, d->ws + 2 * wsz);
        } else {
            conv2d_nhwc_forward(&g->conv[i], dst[i], src[i], d->w[i], &e, d->ws);
        }
        if (i == 1) maxpool_nhwc_forward(&g->pool, a[2], d->argmax, a[1]);
    }
    conv2d_project_forward(&g->conv[4], logits, a[4], d->w[4], d->b[4], d->ws);
}

/* da[k]: the gradient at the input of the layer that reads map k, each ReLU's mask applied. */
static void fast_backward(disc *d, const disc_geom *g, float *a[5], float *da[5], float *din, const float *dlogits,
                          int n, float *dw[5], float *db[5], int param_grads) {
    conv2d_project_backward(&g->conv[4], da[4], dw[4], db[4], dlogits, a[4], d->w[4], a[4], d->ws);
    conv2d_nhwc_backward(&g->conv[3], da[3], dw[3], db[3], da[4], a[3], d->w[3], a[3], 0, d->ws);
    if (conv2d_wino_eligible(&g->conv[2])) {
        const size_t wsz = conv2d_wino_weights_size(&g->conv[2]);
        float *Ut = d->ws + wsz, *ws = d->ws + 2 * wsz;
        conv2d_wino_weights_t(&g->conv[2], Ut, d->w[2]);
        conv2d_wino_backward_data(&g->conv[2], da[2], da[3], Ut, NULL, ws);
        conv2d_wino_backward_weights(&g->conv[2], dw[2], db[2], da[3], a[2], ws);
    } else {
        conv2d_nhwc_backward(&g->conv[2], da[2], dw[2], db[2], da[3], a[2], d->w[2], NULL, 0, d->ws);
    }
    maxpool_nhwc_backward(&g->pool, da[1], da[2], d->argmax, a[1]);
    const int below = din || param_grads;
    conv2d_nhwc_backward(&g->conv[1], below ? da[0] : NULL, dw[1], db[1], da[1], a[0], d->w[1], a[0], 0, d->ws);
    if (!below) return;
    const int C = d->cfg.C;
    if (C == 1) { /* NCHW and NHWC coincide: accumulate straight into din */
        conv2d_nhwc_backward(&g->conv[0], din, dw[0], db[0], da[0], d->last_in, d->w[0], NULL, 1, d->ws);
        return;
    }
    float *dxh = d->xh + (size_t)d->N * C * d->H * d->W;
    conv2d_nhwc_backward(&g->conv[0], din ? dxh : NULL, dw[0], db[0], da[0], d->xh, d->w[0], NULL, 0, d->ws);
    if (din) nhwc_add_to_nchw(din, dxh, n, C, d->H, d->W);
}

/* ------------------------------------------------------------------------------------------ */

void disc_forward(disc *d, float *logits, const float *in, int n) {
    assert(d->acts && n > 0 && n <= d->N);
    disc_geom g;
    geometry(d, n, d->H, d->W, &g);
    float *a[5];
    maps(d, d->acts, &g, a);
    size_t sz[5];
    map_sizes(&g, sz);
    d->last_in = in;
    d->fast = fast_now(&g);
    if (d->fast) {
        fast_forward(d, &g, a, logits, in, n);
        return;
    }
    conv2d_forward(&g.conv[0], a[0], in, d->w[0], d->b[0], d->ws);
    relu_forward(a[0], a[0], n * sz[0]);
    conv2d_forward(&g.conv[1], a[1], a[0], d->w[1], d->b[1], d->ws);
    relu_forward(a[1], a[1], n * sz[1]);
    maxpool_forward(&g.pool, a[2], d->argmax, a[1]);
    conv2d_forward(&g.conv[2], a[3], a[2], d->w[2], d->b[2], d->ws);
    relu_forward(a[3], a[3], n * sz[3]);
    conv2d_forward(&g.conv[3], a[4], a[3], d->w[3], d->b[3], d->ws);
    relu_forward(a[4], a[4], n * sz[4]);
    conv2d_forward(&g.conv[4], logits, a[4], d->w[4], d->b[4], d->ws);
}

void disc_backward(disc *d, float *din, const float *dlogits, int n, int param_grads) {
    assert(d->acts && d->last_in && n > 0 && n <= d->N);
    disc_geom g;
    geometry(d, n, d->H, d->W, &g);
    float *a[5], *da[5];
    maps(d, d->acts, &g, a);
    maps(d, d->dacts, &g, da);
    size_t sz[5];
    map_sizes(&g, sz);
    /* The pre-activation gradient of each ReLU goes to T, just past the saved-map gradients. */
    float *T = da[4] + (size_t)d->N * sz[4];
    float *dw[5], *db[5];
    for (int i = 0; i < 5; i++) {
        dw[i] = param_grads ? d->p.grad + (d->w[i] - d->p.data) : NULL;
        db[i] = param_grads ? d->p.grad + (d->b[i] - d->p.data) : NULL;
    }
    assert(d->fast == fast_now(&g)); /* the saved maps are in the layout of the forward pass */
    if (d->fast) {
        fast_backward(d, &g, a, da, din, dlogits, n, dw, db, param_grads);
        return;
    }
#define ZERO(x, k) memset((x), 0, (size_t)n * sz[k] * sizeof(float))
    ZERO(da[4], 4);
    conv2d_backward(&g.conv[4], da[4], dw[4], db[4], dlogits, a[4], d->w[4], d->ws);
    ZERO(T, 4);
    relu_backward(T, da[4], a[4], n * sz[4]);
    ZERO(da[3], 3);
    conv2d_backward(&g.conv[3], da[3], dw[3], db[3], T, a[3], d->w[3], d->ws);
    ZERO(T, 3);
    relu_backward(T, da[3], a[3], n * sz[3]);
    ZERO(da[2], 2);
    conv2d_backward(&g.conv[2], da[2], dw[2], db[2], T, a[2], d->w[2], d->ws);
    ZERO(da[1], 1);
    maxpool_backward(&g.pool, da[1], da[2], d->argmax);
    ZERO(T, 1);
    relu_backward(T, da[1], a[1], n * sz[1]);
    const int below = din || param_grads; /* is anything below conv2 wanted? */
    if (below) ZERO(da[0], 0);
    conv2d_backward(&g.conv[1], below ? da[0] : NULL, dw[1], db[1], T, a[0], d->w[1], d->ws);
    if (!below) return;
    ZERO(T, 0);
    relu_backward(T, da[0], a[0], n * sz[0]);
    conv2d_backward(&g.conv[0], din, dw[0], db[0], T, d->last_in, d->w[0], d->ws);
#undef ZERO
}

double disc_flops(const disc *d, int n) {
    disc_geom g;
    geometry(d, n, d->H, d->W, &g);
    double f = 0;
    for (int i = 0; i < 5; i++) f += conv2d_flops(&g.conv[i]);
    return f;
}
