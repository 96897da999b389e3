/* The refiner R(F, B): parameter table, forward (saving activations), backward, and an
 * inference pass that keeps three small feature maps. All buffers come from refiner_prepare;
 * forward and backward allocate nothing.
 * N batch (prepared), n batch (this call), C image channels, F feature maps, H W image size. */
#include "refiner/refiner.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/status.h"
#include "nn/conv2d_fast.h"
#include "nn/parallel.h"
#include "nn/gemm.h"
#include "nn/layers.h"

int refiner_init(refiner *r, const refiner_config *cfg, uint64_t seed) {
    memset(r, 0, sizeof *r);
    if (cfg->C < 1 || cfg->F < 1 || cfg->B < 0 || cfg->B > REFINER_MAX_BLOCKS ||
        (cfg->out != REFINER_OUT_TANH && cfg->out != REFINER_OUT_CLAMP))
        return rp_err(RP_EARG, "refiner: C=%d F=%d B=%d output %d: expected C >= 1, F >= 1, 0 <= B <= %d, "
                      "output tanh or clamp", cfg->C, cfg->F, cfg->B, (int)cfg->out, REFINER_MAX_BLOCKS);
    r->cfg = *cfg;
    const int C = cfg->C, F = cfg->F;
    param_block *p = &r->p;
    param_block_init(p);
    size_t o_in_w = param_block_add(p, "in.w", 4, F, C, 3, 3);
    size_t o_in_b = param_block_add(p, "in.b", 1, F, 1, 1, 1);
    size_t o_w1[REFINER_MAX_BLOCKS], o_b1[REFINER_MAX_BLOCKS], o_w2[REFINER_MAX_BLOCKS], o_b2[REFINER_MAX_BLOCKS];
    for (int i = 0; i < cfg->B; i++) {
        char name[32];
        snprintf(name, sizeof name, "block%d.conv1.w", i);
        o_w1[i] = param_block_add(p, name, 4, F, F, 3, 3);
        snprintf(name, sizeof name, "block%d.conv1.b", i);
        o_b1[i] = param_block_add(p, name, 1, F, 1, 1, 1);
        snprintf(name, sizeof name, "block%d.conv2.w", i);
        o_w2[i] = param_block_add(p, name, 4, F, F, 3, 3);
        snprintf(name, sizeof name, "block%d.conv2.b", i);
        o_b2[i] = param_block_add(p, name, 1, F, 1, 1, 1);
    }
    size_t o_out_w = param_block_add(p, "out.w", 4, C, F, 1, 1);
    size_t o_out_b = param_block_add(p, "out.b", 1, C, 1, 1, 1);
    int rc = param_block_alloc(p);
    if (rc) return rp_err_prefix(rc, "refiner: ");
    float *d = p->data;
    r->in_w = d + o_in_w;
    r->in_b = d + o_in_b;
    for (int i = 0; i < cfg->B; i++) {
        r->blk_w1[i] = d + o_w1[i];
        r->blk_b1[i] = d + o_b1[i];
        r->blk_w2[i] = d + o_w2[i];
        r->blk_b2[i] = d + o_b2[i];
    }
    r->out_w = d + o_out_w;
    r->out_b = d + o_out_b;
    param_block_init_he(p, seed);
    return 0;
}

static void release_buffers(refiner *r) {
    free(r->acts);
    free(r->dacts);
    free(r->ws);
    free(r->wino);
    free(r->wino_of);
    r->acts = r->dacts = r->ws = r->wino = r->wino_of = NULL;
    r->wino_ok[0] = r->wino_ok[1] = 0;
    r->N = r->H = r->W = 0;
    r->last_in = NULL;
}

void refiner_free(refiner *r) {
    release_buffers(r);
    param_block_free(&r->p);
}

/* The three conv shapes of R for n images. */
static void descs(const refiner *r, int n, conv2d_desc *in, conv2d_desc *blk, conv2d_desc *out) {
    const int C = r->cfg.C, F = r->cfg.F;
    conv2d_desc_init(in, n, C, r->H, r->W, F, 3, 1, 1);
    conv2d_desc_init(blk, n, F, r->H, r->W, F, 3, 1, 1);
    conv2d_desc_init(out, n, F, r->H, r->W, C, 1, 1, 0);
}

/* Images per pass through the whole network: eight per thread. Running a group of images
 * through every layer before the next group keeps the element-wise passes (ReLU, residual add,
 * their gradients) and the backward scratch to a few maps' worth of memory instead of whole-batch
 * maps, and inference needs only three such maps; the GEMMs are per image either way. Much
 * smaller groups lost to per-call costs in conv2d when it still started threads per call
 * (2 per thread: ~20% slower backward on 2 threads); 8 and more were within noise of whole-batch
 * passes. */
static int chunk_images(int N) {
    int c = 8 * nn_max_threads();
    if (c > 32) c = 32;
    return c < N ? c : N;
}

/* The fast path's shape rule (F a multiple of 16), whatever the CPU: buffers are sized for it. */
static int fast_possible(const refiner *r) { return r->cfg.F % 16 == 0; }

/* Whether this call runs the fast path: the shape allows it and a fast kernel level is active. */
static int fast_now(const refiner *r) {
    conv2d_desc in, blk, out;
    descs(r, 1, &in, &blk, &out);
    return fast_possible(r) && r->wino && conv2d_expand_eligible(&in) && conv2d_project_eligible(&out) &&
           (r->cfg.B == 0 || conv2d_wino_eligible(&blk));
}

static int alloc_buffers(refiner *r, int N, int H, int W, int training) {
    release_buffers(r);
    assert(N > 0 && H > 0 && W > 0);
    r->N = N, r->H = H, r->W = W, r->training = training;
    r->chunk = chunk_images(N);
    const size_t fm = (size_t)r->cfg.F * H * W, im = (size_t)r->cfg.C * H * W, ch = (size_t)r->chunk;
    const size_t nacts = training ? (2 * (size_t)r->cfg.B + 1) * N * fm + N * im : 3 * ch * fm;
    conv2d_desc in, blk, out;
    descs(r, r->chunk, &in, &blk, &out); /* the workspace grows with the images per call */
    size_t nws = conv2d_workspace(&in), nwino = 0;
    if (conv2d_workspace(&blk) > nws) nws = conv2d_workspace(&blk);
    if (conv2d_workspace(&out) > nws) nws = conv2d_workspace(&out);
    /* Sized for both paths, so the kernel level may change between calls (tests switch it). */
    if (fast_possible(r)) {
        if (conv2d_wino_workspace(&blk) > nws) nws = conv2d_wino_workspace(&blk);
        if (conv2d_expand_workspace(&in) > nws) nws = conv2d_expand_workspace(&in);
        if (conv2d_project_workspace(&out) > nws) nws = conv2d_project_workspace(&out);
        nwino = 4 * (size_t)r->cfg.B * conv2d_wino_weights_size(&blk) + 1;
    }
    r->acts = nn_alloc_big(nacts * sizeof(float));
    r->dacts = training ? nn_alloc_big((3 * ch * fm + ch * im) * sizeof(float)) : NULL;
    r->ws = nn_alloc_big((nws ? nws : 1) * sizeof(float));
    r->wino = nwino ? nn_alloc_big(nwino * sizeof(float)) : NULL;
    const size_t nof = 2 * (size_t)r->cfg.B * r->cfg.F * r->cfg.F * 9;
    r->wino_of = nwino ? malloc((nof ? nof : 1) * sizeof(float)) : NULL;
    if (!r->acts || (training && !r->dacts) || !r->ws || (nwino && (!r->wino || !r->wino_of))) {
        release_buffers(r);
        return rp_err(RP_ENOMEM, "refiner: cannot allocate activations for batch %d of %dx%d", N, H, W);
    }
    return 0;
}

int refiner_prepare(refiner *r, int N, int H, int W) {
    if (r->acts && r->training && r->N == N && r->H == H && r->W == W) return 0;
    return alloc_buffers(r, N, H, W, 1);
}

int refiner_prepare_infer(refiner *r, int N, int H, int W) {
    if (r->acts && r->H == H && r->W == W && N <= r->N) return 0;
    return alloc_buffers(r, N, H, W, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Training layout inside acts: h[i] is the input of block i (h[B] feeds the output conv),
 * rl[i] the ReLU output inside block i, y the output (after tanh or clamp); each holds the prepared N images.
 * A chunk of c images starting at image i0 uses the same offsets into every map. */

static size_t fmap(const refiner *r) { return (size_t)r->cfg.F * r->H * r->W; }
static size_t imsz(const refiner *r) { return (size_t)r->cfg.C * r->H * r->W; }
static float *act_h(const refiner *r, int i, int i0) { return r->acts + ((size_t)i * r->N + i0) * fmap(r); }
static float *act_r(const refiner *r, int i, int i0) { return act_h(r, r->cfg.B + 1 + i, i0); }
static float *act_y(const refiner *r, int i0) {
    return r->acts + (2 * (size_t)r->cfg.B + 1) * r->N * fmap(r) + (size_t)i0 * imsz(r);
}

static float *grad_of(refiner *r, const float *w) { return r->p.grad + (w - r->p.data); }

/* Fused element-wise passes (one sweep instead of two): out = max(a + b, 0), the residual
 * block's output; and dz = dout where the ReLU output is positive, else 0, which is
 * relu_backward into a zeroed buffer. */
static void add_relu(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = a[i] + b[i];
        out[i] = v > 0 ? v : 0;
    }
}

static void relu_grad(float *dz, const float *dout, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) dz[i] = out[i] > 0 ? dout[i] : 0;
}

/* Images [i0, i0 + c) of a forward pass. */
const char *refiner_output_name(refiner_output o) { return o == REFINER_OUT_CLAMP ? "clamp" : "tanh"; }

int refiner_output_parse(const char *name) {
    return !strcmp(name, "tanh") ? REFINER_OUT_TANH : !strcmp(name, "clamp") ? REFINER_OUT_CLAMP : -1;
}

/* The output non-linearity, in place on y (n floats). */
static void output_forward(const refiner *r, float *y, size_t n) {
    if (r->cfg.out == REFINER_OUT_CLAMP) clamp_forward(y, y, n);
    else tanh_forward(y, y, n);
}

/* x: the input images of y; a clamped output is anchored to them (see clamp_backward_anchored). */
static void output_backward(const refiner *r, float *dz, const float *dy, const float *y, const float *x, size_t n) {
    if (r->cfg.out == REFINER_OUT_CLAMP) clamp_backward_anchored(dz, dy, y, x, n);
    else tanh_backward(dz, dy, y, n);
}

static void forward_chunk(refiner *r, float *out, const float *in, int i0, int c) {
    const size_t cmap = (size_t)c * fmap(r), cimg = (size_t)c * imsz(r);
    conv2d_desc din, dblk, dout;
    descs(r, c, &din, &dblk, &dout);
    float *h = act_h(r, 0, i0);
    conv2d_forward(&din, h, in, r->in_w, r->in_b, r->ws);
    relu_forward(h, h, cmap);
    for (int i = 0; i < r->cfg.B; i++) {
        float *t = act_r(r, i, i0), *next = act_h(r, i + 1, i0);
        conv2d_forward(&dblk, t, act_h(r, i, i0), r->blk_w1[i], r->blk_b1[i], r->ws);
        relu_forward(t, t, cmap);
        conv2d_forward(&dblk, next, t, r->blk_w2[i], r->blk_b2[i], r->ws);
        add_relu(next, next, act_h(r, i, i0), cmap);
    }
    float *y = act_y(r, i0);
    conv2d_forward(&dout, y, act_h(r, r->cfg.B, i0), r->out_w, r->out_b, r->ws);
    output_forward(r, y, cimg);
    memcpy(out, y, cimg * sizeof(float));
}

/* ------------------------------------------------------------------------------------------ */
/* Fast path: NHWC maps, Winograd block convolutions with fused epilogues (conv2d_fast.h). */

/* Transformed weights of block i: which = 0 conv1, 1 conv2 (forward); 2 conv1, 3 conv2 (backward-data). */
static float *wino_u(const refiner *r, int i, int which) {
    return r->wino + ((size_t)i * 4 + which) * 36 * (size_t)r->cfg.F * r->cfg.F;
}

/* Transforms every block's weights for the forward (backward = 0) or the backward-data pass,
 * unless they are what was transformed last time: a training step runs its sub-batches through
 * the same weights, so most calls only compare (1.2 MB for R(64,4), 1/20 of a transform). */
static void fast_weights(refiner *r, int backward) {
    const size_t n = (size_t)r->cfg.F * r->cfg.F * 9;
    for (int i = 0; i < r->cfg.B; i++) {
        const float *w[2] = {r->blk_w1[i], r->blk_w2[i]};
        for (int k = 0; k < 2; k++)
            if (memcmp(r->wino_of + (2 * (size_t)i + k) * n, w[k], n * sizeof(float))) {
                memcpy(r->wino_of + (2 * (size_t)i + k) * n, w[k], n * sizeof(float));
                r->wino_ok[0] = r->wino_ok[1] = 0;
            }
    }
    if (r->wino_ok[backward]) return;
    r->wino_ok[backward] = 1;
    conv2d_desc cin, cblk, cout;
    descs(r, 1, &cin, &cblk, &cout);
    float *U[2 * REFINER_MAX_BLOCKS];
    const float *w[2 * REFINER_MAX_BLOCKS];
    for (int i = 0; i < r->cfg.B; i++) {
        U[2 * i] = wino_u(r, i, backward ? 2 : 0), w[2 * i] = r->blk_w1[i];
        U[2 * i + 1] = wino_u(r, i, backward ? 3 : 1), w[2 * i + 1] = r->blk_w2[i];
    }
    if (r->cfg.B) conv2d_wino_weights_many(&cblk, 2 * r->cfg.B, U, w, backward);
}

/* One block forward: t = relu(conv1(h) + b1), next = relu(conv2(t) + b2 + h). */
static void fast_block(refiner *r, const conv2d_desc *d, int i, float *next, float *t, const float *h) {
    conv2d_epilogue e1 = {.bias = r->blk_b1[i], .relu = 1}, e2 = {.bias = r->blk_b2[i], .res = h, .relu = 1};
    conv2d_wino_forward(d, t, h, wino_u(r, i, 0), &e1, r->ws);
    conv2d_wino_forward(d, next, t, wino_u(r, i, 1), &e2, r->ws);
}

static void fast_forward_chunk(refiner *r, float *out, const float *in, int i0, int c) {
    conv2d_desc cin, cblk, cout;
    descs(r, c, &cin, &cblk, &cout);
    const conv2d_epilogue e = {.bias = r->in_b, .relu = 1};
    conv2d_expand_forward(&cin, act_h(r, 0, i0), in, r->in_w, &e, r->ws);
    for (int i = 0; i < r->cfg.B; i++) fast_block(r, &cblk, i, act_h(r, i + 1, i0), act_r(r, i, i0), act_h(r, i, i0));
    float *y = act_y(r, i0);
    conv2d_project_forward(&cout, y, act_h(r, r->cfg.B, i0), r->out_w, r->out_b, r->ws);
    output_forward(r, y, (size_t)c * imsz(r));
    memcpy(out, y, (size_t)c * imsz(r) * sizeof(float));
}

/* Y carries the gradient at each block's residual sum (before its ReLU), Z the one inside. The
 * ReLU masks and the residual add are fused into the backward-data output transforms. */
static void fast_backward_chunk(refiner *r, float *din, const float *dout, int i0, int c) {
    const size_t chmap = (size_t)r->chunk * fmap(r), cimg = (size_t)c * imsz(r);
    conv2d_desc cin, cblk, cout;
    descs(r, c, &cin, &cblk, &cout);
    float *Y = r->dacts, *Z = Y + chmap, *dy = Z + 2 * chmap;
    const float *x = r->last_in + i0 * imsz(r);
    memset(dy, 0, cimg * sizeof(float));
    output_backward(r, dy, dout, act_y(r, i0), x, cimg);
    const float *hB = act_h(r, r->cfg.B, i0);
    conv2d_project_backward(&cout, Y, grad_of(r, r->out_w), grad_of(r, r->out_b), dy, hB, r->out_w, hB, r->ws);
    for (int i = r->cfg.B - 1; i >= 0; i--) {
        const float *t = act_r(r, i, i0), *h = act_h(r, i, i0);
        const conv2d_epilogue e2 = {.mask = t}, e1 = {.res = Y, .mask = h};
        conv2d_wino_backward_data(&cblk, Z, Y, wino_u(r, i, 3), &e2, r->ws);
        conv2d_wino_backward_weights(&cblk, grad_of(r, r->blk_w2[i]), grad_of(r, r->blk_b2[i]), Y, t, r->ws);
        conv2d_wino_backward_weights(&cblk, grad_of(r, r->blk_w1[i]), grad_of(r, r->blk_b1[i]), Z, h, r->ws);
        conv2d_wino_backward_data(&cblk, Y, Z, wino_u(r, i, 2), &e1, r->ws);
    }
    conv2d_expand_backward(&cin, din, grad_of(r, r->in_w), grad_of(r, r->in_b), Y, x, r->in_w, r->ws);
}

static void fast_infer(refiner *r, float *out, const float *in, int n) {
    const size_t chmap = (size_t)r->chunk * fmap(r);
    fast_weights(r, 0);
    for (int i0 = 0; i0 < n; i0 += r->chunk) {
        const int c = n - i0 < r->chunk ? n - i0 : r->chunk;
        conv2d_desc cin, cblk, cout;
        descs(r, c, &cin, &cblk, &cout);
        float *h = r->acts, *t = h + chmap, *s = t + chmap;
        const conv2d_epilogue e = {.bias = r->in_b, .relu = 1};
        conv2d_expand_forward(&cin, h, in + i0 * imsz(r), r->in_w, &e, r->ws);
        for (int i = 0; i < r->cfg.B; i++) {
            fast_block(r, &cblk, i, s, t, h);
            float *u = h;
            h = s;
            s = u;
        }
        float *o = out + i0 * imsz(r);
        conv2d_project_forward(&cout, o, h, r->out_w, r->out_b, r->ws);
        output_forward(r, o, (size_t)c * imsz(r));
    }
}

/* ------------------------------------------------------------------------------------------ */

void refiner_forward(refiner *r, float *out, const float *in, int n) {
    assert(r->acts && r->training && n > 0 && n <= r->N);
    r->last_in = in;
    r->fast = fast_now(r);
    if (r->fast) fast_weights(r, 0);
    for (int i0 = 0; i0 < n; i0 += r->chunk) {
        int c = n - i0 < r->chunk ? n - i0 : r->chunk;
        if (r->fast) fast_forward_chunk(r, out + i0 * imsz(r), in + i0 * imsz(r), i0, c);
        else forward_chunk(r, out + i0 * imsz(r), in + i0 * imsz(r), i0, c);
    }
}

/* Images [i0, i0 + c) of a backward pass; parameter gradients accumulate across chunks. */
static void backward_chunk(refiner *r, float *din, const float *dout, int i0, int c) {
    const size_t chmap = (size_t)r->chunk * fmap(r), cmap = (size_t)c * fmap(r), cimg = (size_t)c * imsz(r);
    conv2d_desc cin, cblk, cout;
    descs(r, c, &cin, &cblk, &cout);
    /* X carries dL/dh[i+1] down the blocks, Y the gradient at the block's residual sum (which
     * becomes dL/dh[i] once the conv branch is added), Z the gradient inside the block. */
    float *X = r->dacts, *Y = X + chmap, *Z = Y + chmap, *dy = Z + chmap;
    memset(dy, 0, cimg * sizeof(float));
    output_backward(r, dy, dout, act_y(r, i0), r->last_in + i0 * imsz(r), cimg);
    memset(X, 0, cmap * sizeof(float));
    conv2d_backward(&cout, X, grad_of(r, r->out_w), grad_of(r, r->out_b), dy, act_h(r, r->cfg.B, i0), r->out_w,
                    r->ws);
    for (int i = r->cfg.B - 1; i >= 0; i--) {
        relu_grad(Y, X, act_h(r, i + 1, i0), cmap);
        memset(X, 0, cmap * sizeof(float));
        conv2d_backward(&cblk, X, grad_of(r, r->blk_w2[i]), grad_of(r, r->blk_b2[i]), Y, act_r(r, i, i0),
                        r->blk_w2[i], r->ws);
        relu_grad(Z, X, act_r(r, i, i0), cmap);
        conv2d_backward(&cblk, Y, grad_of(r, r->blk_w1[i]), grad_of(r, r->blk_b1[i]), Z, act_h(r, i, i0),
                        r->blk_w1[i], r->ws);
        float *t = X;
        X = Y;
        Y = t;
    }
    relu_grad(Z, X, act_h(r, 0, i0), cmap);
    conv2d_backward(&cin, din, grad_of(r, r->in_w), grad_of(r, r->in_b), Z, r->last_in + i0 * imsz(r), r->in_w,
                    r->ws);
}

void refiner_backward(refiner *r, float *din, const float *dout, int n) {
    assert(r->acts && r->training && r->last_in && n > 0 && n <= r->N);
    /* The saved activations are in the layout of the forward pass: the level must not have changed. */
    assert(r->fast == fast_now(r));
    if (r->fast) fast_weights(r, 1);
    for (int i0 = 0; i0 < n; i0 += r->chunk) {
        int c = n - i0 < r->chunk ? n - i0 : r->chunk;
        if (r->fast) fast_backward_chunk(r, din ? din + i0 * imsz(r) : NULL, dout + i0 * imsz(r), i0, c);
        else backward_chunk(r, din ? din + i0 * imsz(r) : NULL, dout + i0 * imsz(r), i0, c);
    }
}

void refiner_infer(refiner *r, float *out, const float *in, int n) {
    assert(r->acts && n > 0 && n <= r->N);
    if (fast_now(r)) {
        fast_infer(r, out, in, n);
        if (r->training) r->last_in = NULL;
        return;
    }
    const size_t chmap = (size_t)r->chunk * fmap(r);
    for (int i0 = 0; i0 < n; i0 += r->chunk) {
        const int c = n - i0 < r->chunk ? n - i0 : r->chunk;
        const size_t cmap = (size_t)c * fmap(r);
        conv2d_desc din, dblk, dout;
        descs(r, c, &din, &dblk, &dout);
        float *h = r->acts, *t = h + chmap, *s = t + chmap;
        conv2d_forward(&din, h, in + i0 * imsz(r), r->in_w, r->in_b, r->ws);
        relu_forward(h, h, cmap);
        for (int i = 0; i < r->cfg.B; i++) {
            conv2d_forward(&dblk, t, h, r->blk_w1[i], r->blk_b1[i], r->ws);
            relu_forward(t, t, cmap);
            conv2d_forward(&dblk, s, t, r->blk_w2[i], r->blk_b2[i], r->ws);
            add_relu(s, s, h, cmap);
            float *u = h;
            h = s;
            s = u;
        }
        float *o = out + i0 * imsz(r);
        conv2d_forward(&dout, o, h, r->out_w, r->out_b, r->ws);
        output_forward(r, o, (size_t)c * imsz(r));
    }
    /* The training layout's saved activations are now stale. */
    if (r->training) r->last_in = NULL;
}

double refiner_flops(const refiner *r, int n) {
    conv2d_desc din, dblk, dout;
    descs(r, n, &din, &dblk, &dout);
    return conv2d_flops(&din) + 2.0 * r->cfg.B * conv2d_flops(&dblk) + conv2d_flops(&dout);
}
