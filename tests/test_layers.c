/* Tests of the nn numerical core: gemm against its naive reference, conv2d (im2col/pointwise vs
 * direct loops, finite-difference gradients over kernel sizes, strides, paddings, odd shapes),
 * ReLU, tanh, add, max-pool, accumulation semantics, a small network checked along random
 * directions, and the discriminator's geometry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn/conv2d.h"
#include "nn/conv2d_fast.h"
#include "nn/gemm.h"
#include "nn/layers.h"
#include "losses/losses.h"
#include "base/rng.h"
#include "tests/gradcheck.h"

static float *randn(rng_t *r, size_t n, float scale) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(r));
    return x;
}

static float *zeros(size_t n) {
    float *x = calloc(n ? n : 1, sizeof *x);
    assert_non_null(x);
    return x;
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

/* Largest |a - b| relative to max |b| (the reference); prints the worst element. */
static double max_rel_diff(const char *what, const float *a, const float *b, size_t n) {
    double worst = 0, scale = fmax(max_abs(b, n), 1e-30);
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e > worst || isnan(e)) worst = e, wi = i;
    }
    if (worst / scale > 1e-5) printf("    %s: worst [%zu] %.8g vs %.8g (rel %.2e)\n", what, wi, a[wi], b[wi], worst / scale);
    return worst / scale;
}

/* ------------------------------------------------------------------------------------------ */
/* gemm */

/* gemm vs nn_gemm_naive for one shape and transpose pair, padded leading dimensions, beta 0.3 or 0. */
static void check_gemm(rng_t *r, int M, int N, int K, int ta, int tb, int beta_zero) {
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N; /* stored shapes */
    int lda = ac + 3, ldb = bc + 5, ldc = N + 2;
    float *A = randn(r, (size_t)ar * lda, 1), *B = randn(r, (size_t)br * ldb, 1);
    float *C1 = randn(r, (size_t)M * ldc, 1), *C2 = malloc(sizeof(float) * M * ldc);
    float beta = beta_zero ? 0.0f : 0.3f;
    if (beta_zero) /* beta == 0 must not read C: fill the valid part with NaN. */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C1[i * ldc + j] = NAN;
    memcpy(C2, C1, sizeof(float) * M * ldc);
    nn_gemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, beta, C1, ldc);
    nn_gemm_naive(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, beta, C2, ldc);
    double worst = 0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double e = fabs(C1[i * ldc + j] - C2[i * ldc + j]);
            assert_false(isnan(e));
            worst = fmax(worst, e);
        }
        /* Padding columns between N and ldc are left alone. */
        for (int j = N; j < ldc; j++) assert_memory_equal(&C1[i * ldc + j], &C2[i * ldc + j], sizeof(float));
    }
    /* Sums of K products of unit normals (|C| ~ sqrt(K)): float32 error stays well under this. */
    const double tol = 1e-5 + 1e-6 * K;
    if (worst > tol) printf("gemm %dx%dx%d ta=%d tb=%d beta=%g: worst %.3g\n", M, N, K, ta, tb, beta, worst);
    assert_true(worst < tol);
    free(A), free(B), free(C1), free(C2);
}

static void test_gemm_matches_naive_all_transposes(void **state) {
    (void)state;
    rng_t r;
    rng_seed(&r, 11, 0);
    /* The first sizes take gemm's own small-product path (odd column counts exercise its tails),
     * the last cblas_sgemm (M*N*K > 1e6). */
    static const int sizes[][3] = {{13, 17, 11}, {5, 37, 40}, {70, 130, 120}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bz = 0; bz < 2; bz++) check_gemm(&r, sizes[s][0], sizes[s][1], sizes[s][2], ta, tb, bz);
}

/* Every product here is 1e-41, a denormal. With flush-to-zero on every thread that computes
 * part of the GEMM each product is 0, so all outputs are exactly 0; without it they sum to
 * 4.1e-38. OpenBLAS's own worker threads start before main: without nn_blas_init's pool restart
 * they kept denormals, and 512 of these 1024 outputs came out nonzero with 2 threads (K above
 * OpenBLAS's panel depth makes the worker accumulate into C itself); a 1024^3 product of such
 * values ran 40x slower with 2 threads than with 1. */
static void test_gemm_threads_flush_denormals(void **state) {
    (void)state;
    if (nn_max_threads() < 2) {
        printf("skipped: needs 2 cores to run OpenBLAS's worker threads\n");
        skip();
    }
    const int M = 32, N = 32, K = 4096;
    float *A = malloc((size_t)M * K * sizeof *A), *B = malloc((size_t)K * N * sizeof *B), *C = zeros((size_t)M * N);
    assert_non_null(A), assert_non_null(B);
    for (int i = 0; i < M * K; i++) A[i] = 1e-20f;
    for (int i = 0; i < K * N; i++) B[i] = 1e-21f;
    int saved = nn_get_threads();
    for (int th = 1; th <= 2; th++) {
        nn_set_threads(th);
        nn_gemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
        long nonzero = 0;
        for (int i = 0; i < M * N; i++) nonzero += C[i] != 0;
        if (nonzero) printf("threads %d: %ld of %d outputs nonzero (denormal products)\n", th, nonzero, M * N);
        assert_int_equal(nonzero, 0);
    }
    nn_set_threads(saved);
    free(A), free(B), free(C);
}

/* ------------------------------------------------------------------------------------------ */
/* conv2d: naive vs default algorithm */

typedef struct {
    conv2d_desc d;
    float *in, *w, *b, *out, *R, *ws;
} conv_ctx;

static void conv_ctx_init(conv_ctx *c, rng_t *r, int N, int C, int H, int W, int F, int K, int s, int p) {
    conv2d_desc_init(&c->d, N, C, H, W, F, K, s, p);
    size_t ni = (size_t)N * C * H * W, no = (size_t)N * F * c->d.OH * c->d.OW, nw = (size_t)F * C * K * K;
    c->in = randn(r, ni, 1);
    c->w = randn(r, nw, 1.0f / sqrtf((float)(C * K * K)));
    c->b = randn(r, (size_t)F, 0.5f);
    c->out = zeros(no);
    c->R = randn(r, no, 1);
    c->ws = zeros(conv2d_workspace(&c->d));
}

static void conv_ctx_free(conv_ctx *c) {
    free(c->in), free(c->w), free(c->b), free(c->out), free(c->R), free(c->ws);
}

static size_t conv_out_n(const conv2d_desc *d) { return (size_t)d->N * d->F * d->OH * d->OW; }

/* At the reference level every one of the four im2col / BLAS algorithms must be chosen; at a
 * fast level (conv2d_fast.h) the same shapes run Winograd or NHWC im2col where they qualify. */
static void conv_random_shapes(int reference) {
    rng_t r;
    rng_seed(&r, 2024, 1);
    /* float32 sums of at most a few thousand terms of unit scale, compared relative to the
     * tensor's largest magnitude: 1e-4 leaves ~10x margin over observed worst (~1e-6). */
    const double tol = 1e-4;
    int seen[4] = {0};
    const char *algos[4] = {"pointwise", "shifted", "im2col/transposed", "im2col/col2im"};
    for (int t = 0; t < 24; t++) {
        int Ks[] = {1, 3, 5};
        int K = Ks[rng_below(&r, 3)], s = 1 + (int)rng_below(&r, 3), p = (int)rng_below(&r, (uint32_t)K);
        if (t == 0) K = 1, s = 1, p = 0; /* the pointwise path is always covered */
        int N = 1 + (int)rng_below(&r, 3), C = 1 + (int)rng_below(&r, 6), F = 1 + (int)rng_below(&r, 6);
        if (t % 4 == 3) { /* same-padded stride 1 with enough channels: the shifted-GEMM path */
            K = 3 + 2 * (int)rng_below(&r, 2), s = 1, p = (K - 1) / 2;
            C = 16 + (int)rng_below(&r, 8), F = 16 + (int)rng_below(&r, 8);
        }
        int H = K + (int)rng_below(&r, 12), W = K + (int)rng_below(&r, 15);
        conv_ctx c;
        conv_ctx_init(&c, &r, N, C, H, W, F, K, s, p);
        const conv2d_desc *d = &c.d;
        for (int a = 0; a < 4; a++) seen[a] += !strcmp(conv2d_algorithm(d), algos[a]);
        size_t no = conv_out_n(d), ni = (size_t)N * C * H * W, nw = (size_t)F * C * K * K;
        float *ref = zeros(no);
        conv2d_forward(d, c.out, c.in, c.w, c.b, c.ws);
        conv2d_forward_naive(d, ref, c.in, c.w, c.b);
        char what[96];
        snprintf(what, sizeof what, "N%d C%d %dx%d F%d K%d s%d p%d (%s)", N, C, H, W, F, K, s, p,
                 conv2d_algorithm(d));
        assert_true(max_rel_diff(what, c.out, ref, no) < tol);
        /* Backward into non-zero gradients: both must add, not overwrite. */
        float *g1 = randn(&r, ni, 1), *g2 = malloc(ni * sizeof(float));
        float *w1 = randn(&r, nw, 1), *w2 = malloc(nw * sizeof(float));
        float *b1 = randn(&r, (size_t)F, 1), *b2 = malloc((size_t)F * sizeof(float));
        memcpy(g2, g1, ni * sizeof(float)), memcpy(w2, w1, nw * sizeof(float)), memcpy(b2, b1, F * sizeof(float));
        conv2d_backward(d, g1, w1, b1, c.R, c.in, c.w, c.ws);
        conv2d_backward_naive(d, g2, w2, b2, c.R, c.in, c.w);
        assert_true(max_rel_diff(what, g1, g2, ni) < tol);
        assert_true(max_rel_diff(what, w1, w2, nw) < tol);
        assert_true(max_rel_diff(what, b1, b2, (size_t)F) < tol);
        free(ref), free(g1), free(g2), free(w1), free(w2), free(b1), free(b2);
        conv_ctx_free(&c);
    }
    for (int a = 0; a < 4 && reference; a++) {
        if (!seen[a]) printf("    algorithm %s never chosen\n", algos[a]);
        assert_true(seen[a] > 0);
    }
}

static void test_conv_matches_naive_random_shapes(void **state) {
    (void)state;
    const conv2d_kernels saved = conv2d_kernels_active();
    conv2d_kernels_select(CONV2D_KERNELS_REFERENCE);
    conv_random_shapes(1);
    if (conv2d_kernels_select(conv2d_kernels_supported()) != CONV2D_KERNELS_REFERENCE) conv_random_shapes(0);
    conv2d_kernels_select(saved);
}

/* Batches big enough for conv2d to split images across threads: each algorithm with 1 and 2
 * threads against the naive conv, and bitwise equal between thread counts. The algorithms named
 * are the reference level's; tests/test_fast.c covers the fast ones the same way. */
static void test_conv_threaded_matches_naive(void **state) {
    (void)state;
    const conv2d_kernels saved_level = conv2d_kernels_active();
    conv2d_kernels_select(CONV2D_KERNELS_REFERENCE);
    rng_t r;
    rng_seed(&r, 31, 6);
    static const int shapes[][8] = {
        {8, 16, 24, 25, 16, 3, 1, 1},  /* shifted */
        {8, 16, 30, 32, 16, 3, 1, 0},  /* unpadded: transposed din */
        {8, 10, 26, 28, 24, 3, 1, 1},  /* F > C: col2im din */
        {8, 64, 26, 26, 32, 1, 1, 0},  /* pointwise */
        {8, 32, 31, 29, 24, 3, 2, 1},  /* stride 2: col2im din */
        {21, 16, 16, 17, 16, 3, 1, 1}, /* N > 16: groups of 2 images share a dW partial */
    };
    static const char *algo[] = {"shifted", "im2col/transposed", "im2col/col2im", "pointwise", "im2col/col2im", "shifted"};
    int saved = nn_get_threads();
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        const int *s = shapes[t];
        conv_ctx c;
        conv_ctx_init(&c, &r, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
        const conv2d_desc *d = &c.d;
        assert_true(conv2d_flops(d) > 2e7); /* above the threading threshold */
        assert_string_equal(conv2d_algorithm(d), algo[t]);
        size_t no = conv_out_n(d), ni = (size_t)d->N * d->C * d->H * d->W, nw = (size_t)d->F * d->C * d->K * d->K;
        float *ref = zeros(no), *gi = zeros(ni), *gw = zeros(nw), *gb = zeros((size_t)d->F);
        conv2d_forward_naive(d, ref, c.in, c.w, c.b);
        conv2d_backward_naive(d, gi, gw, gb, c.R, c.in, c.w);
        float *one[4] = {zeros(no), zeros(ni), zeros(nw), zeros((size_t)d->F)}; /* 1-thread results */
        for (int th = 1; th <= 2; th++) {
            nn_set_threads(th);
            float *hi = zeros(ni), *hw = zeros(nw), *hb = zeros((size_t)d->F);
            memset(c.out, 0xff, no * sizeof(float)); /* NaN: every output must be written */
            conv2d_forward(d, c.out, c.in, c.w, c.b, c.ws);
            conv2d_backward(d, hi, hw, hb, c.R, c.in, c.w, c.ws);
            char what[64];
            snprintf(what, sizeof what, "threads %d shape %zu", th, t);
            assert_true(max_rel_diff(what, c.out, ref, no) < 1e-4);
            assert_true(max_rel_diff(what, hi, gi, ni) < 1e-4);
            assert_true(max_rel_diff(what, hw, gw, nw) < 1e-4);
            assert_true(max_rel_diff(what, hb, gb, (size_t)d->F) < 1e-4);
            if (th == 1) {
                memcpy(one[0], c.out, no * sizeof(float)), memcpy(one[1], hi, ni * sizeof(float));
                memcpy(one[2], hw, nw * sizeof(float)), memcpy(one[3], hb, d->F * sizeof(float));
            } else { /* the thread count must not change a single bit */
                assert_memory_equal(one[0], c.out, no * sizeof(float));
                assert_memory_equal(one[1], hi, ni * sizeof(float));
                assert_memory_equal(one[2], hw, nw * sizeof(float));
                assert_memory_equal(one[3], hb, d->F * sizeof(float));
            }
            free(hi), free(hw), free(hb);
        }
        for (int k = 0; k < 4; k++) free(one[k]);
        free(ref), free(gi), free(gw), free(gb);
        conv_ctx_free(&c);
    }
    nn_set_threads(saved);
    conv2d_kernels_select(saved_level);
}

/* ------------------------------------------------------------------------------------------ */
/* conv2d: finite differences of loss = sum(out * R) */

static double conv_loss(void *p) {
    conv_ctx *c = p;
    conv2d_forward(&c->d, c->out, c->in, c->w, c->b, c->ws);
    return dot(c->out, c->R, conv_out_n(&c->d));
}

static void test_conv_gradcheck(void **state) {
    (void)state;
    static const int shapes[][8] = {
        /* N C H W F K s p */
        {2, 3, 7, 5, 4, 3, 1, 1}, {2, 2, 8, 11, 3, 3, 2, 1}, {1, 3, 9, 6, 2, 5, 1, 2}, {2, 2, 7, 9, 3, 5, 2, 2},
        {2, 4, 5, 7, 3, 1, 1, 0}, {2, 3, 6, 5, 2, 1, 2, 0}, {1, 2, 6, 7, 3, 1, 1, 1}, {1, 2, 4, 4, 2, 3, 1, 0},
        {1, 3, 5, 5, 2, 3, 2, 2}, {2, 2, 6, 9, 3, 5, 1, 0}, {1, 1, 13, 11, 3, 3, 2, 0}, {1, 2, 3, 8, 2, 3, 1, 2},
        {2, 16, 5, 7, 16, 3, 1, 1}, {1, 16, 6, 5, 17, 5, 1, 2}, /* shifted GEMMs */
    };
    rng_t r;
    rng_seed(&r, 7, 2);
    size_t fails = 0;
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        const int *s = shapes[t];
        conv_ctx c;
        conv_ctx_init(&c, &r, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
        const conv2d_desc *d = &c.d;
        size_t ni = (size_t)d->N * d->C * d->H * d->W, nw = (size_t)d->F * d->C * d->K * d->K;
        float *din = zeros(ni), *dw = zeros(nw), *db = zeros((size_t)d->F);
        conv2d_forward(d, c.out, c.in, c.w, c.b, c.ws);
        conv2d_backward(d, din, dw, db, c.R, c.in, c.w, c.ws);
        /* The loss is linear in each tensor, so central differences have no truncation error and
         * a large step keeps float rounding of the forward pass negligible. */
        gc_opts o = gc_defaults();
        o.eps = 0.05;
        o.rtol = 2e-3;
        o.atol = 1e-4;
        o.max_check = 48;
        char name[96], what[112];
        snprintf(name, sizeof name, "conv %dx%d C%d F%d K%d s%d p%d %s", d->H, d->W, d->C, d->F, d->K, d->stride,
                 d->pad, conv2d_algorithm(d));
        snprintf(what, sizeof what, "%s in", name);
        fails += gc_check(what, conv_loss, &c, c.in, din, ni, &o, NULL);
        snprintf(what, sizeof what, "%s w", name);
        fails += gc_check(what, conv_loss, &c, c.w, dw, nw, &o, NULL);
        snprintf(what, sizeof what, "%s b", name);
        fails += gc_check(what, conv_loss, &c, c.b, db, (size_t)d->F, &o, NULL);
        free(din), free(dw), free(db);
        conv_ctx_free(&c);
    }
    assert_int_equal(fails, 0);
}

/* Backward accumulates: a second call doubles every gradient (both conv algorithms). */
static void test_conv_backward_accumulates(void **state) {
    (void)state;
    rng_t r;
    rng_seed(&r, 5, 3);
    static const int shapes[][8] = {
        {2, 3, 6, 7, 4, 3, 1, 1}, {2, 3, 6, 7, 4, 1, 1, 0}, {1, 2, 9, 8, 3, 3, 2, 1}, {2, 16, 6, 7, 16, 3, 1, 1}};
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        const int *s = shapes[t];
        conv_ctx c;
        conv_ctx_init(&c, &r, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
        const conv2d_desc *d = &c.d;
        size_t ni = (size_t)d->N * d->C * d->H * d->W, nw = (size_t)d->F * d->C * d->K * d->K;
        float *g[3] = {zeros(ni), zeros(nw), zeros((size_t)d->F)};
        float *h[3] = {zeros(ni), zeros(nw), zeros((size_t)d->F)};
        size_t n[3] = {ni, nw, (size_t)d->F};
        conv2d_backward(d, g[0], g[1], g[2], c.R, c.in, c.w, c.ws);
        conv2d_backward(d, h[0], h[1], h[2], c.R, c.in, c.w, c.ws);
        conv2d_backward(d, h[0], h[1], h[2], c.R, c.in, c.w, c.ws);
        for (int k = 0; k < 3; k++) {
            assert_true(max_abs(g[k], n[k]) > 0);
            for (size_t i = 0; i < n[k]; i++) assert_float_equal(h[k][i], 2 * g[k][i], 1e-5 * (1 + fabsf(g[k][i])));
        }
        /* NULL gradients are skipped, the others still computed. */
        float *only_w = zeros(nw);
        conv2d_backward(d, NULL, only_w, NULL, c.R, c.in, c.w, c.ws);
        for (size_t i = 0; i < nw; i++) assert_float_equal(only_w[i], g[1][i], 1e-6 * (1 + fabsf(g[1][i])));
        for (int k = 0; k < 3; k++) free(g[k]), free(h[k]);
        free(only_w);
        conv_ctx_free(&c);
    }
}

static void test_conv_known_values(void **state) {
    (void)state;
    /* 1 channel 3x3 input 1..9, 3x3 kernel of ones, pad 1: each output sums its neighbourhood. */
    conv2d_desc d;
    conv2d_desc_init(&d, 1, 1, 3, 3, 1, 3, 1, 1);
    assert_int_equal(d.OH, 3);
    assert_int_equal(d.OW, 3);
    float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[9], b = 0.5f, out[9];
    for (int i = 0; i < 9; i++) w[i] = 1;
    float *ws = zeros(conv2d_workspace(&d));
    conv2d_forward(&d, out, in, w, &b, ws);
    const float want[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
    for (int i = 0; i < 9; i++) assert_float_equal(out[i], want[i] + 0.5f, 1e-5);
    assert_true(conv2d_flops(&d) == 2.0 * 9 * 9);
    free(ws);
}

/* ------------------------------------------------------------------------------------------ */
/* element-wise layers and max-pool */

typedef struct {
    int op; /* 0 relu, 1 tanh, 2 add (w.r.t. a), 3 maxpool, 4 clamp */
    size_t n, no;
    float *x, *y, *out, *R;
    maxpool_desc pd;
    int *am;
} ew_ctx;

static double ew_loss(void *p) {
    ew_ctx *c = p;
    switch (c->op) {
    case 0: relu_forward(c->out, c->x, c->n); break;
    case 1: tanh_forward(c->out, c->x, c->n); break;
    case 2: add_forward(c->out, c->x, c->y, c->n); break;
    case 4: clamp_forward(c->out, c->x, c->n); break;
    default: maxpool_forward(&c->pd, c->out, c->am, c->x); break;
    }
    return dot(c->out, c->R, c->no);
}

static int relu_skip(void *p, size_t i, double h) {
    ew_ctx *c = p;
    return fabs(c->x[i]) < 2 * h;
}

static int clamp_skip(void *p, size_t i, double h) {
    ew_ctx *c = p;
    return fabs(fabs(c->x[i]) - 1) < 2 * h;
}

/* Skip inputs whose +-h perturbation could change which element of a window wins. */
static int pool_skip(void *p, size_t i, double h) {
    ew_ctx *c = p;
    for (size_t j = 0; j < c->n; j++)
        if (j != i && fabs(c->x[j] - c->x[i]) < 3 * h) return 1;
    return 0;
}

static void test_elementwise_gradcheck(void **state) {
    (void)state;
    rng_t r;
    rng_seed(&r, 3, 4);
    ew_ctx c = {0};
    c.n = c.no = 200;
    c.x = randn(&r, c.n, 1);
    c.y = randn(&r, c.n, 1);
    c.out = zeros(c.n);
    c.R = randn(&r, c.n, 1);
    float *g = zeros(c.n);
    gc_opts o = gc_defaults();
    o.max_check = 0;
    o.eps = 1e-2;
    o.rtol = 1e-3;
    size_t fails = 0, skipped_relu;
    gc_report rep;
    /* ReLU */
    c.op = 0;
    ew_loss(&c);
    relu_backward(g, c.R, c.out, c.n);
    o.skip = relu_skip;
    fails += gc_check("relu", ew_loss, &c, c.x, g, c.n, &o, &rep);
    skipped_relu = rep.skipped;
    assert_true(rep.checked > 150);
    o.skip = NULL;
    /* tanh: smooth, truncation error O(h^2) */
    c.op = 1;
    memset(g, 0, c.n * sizeof *g);
    ew_loss(&c);
    tanh_backward(g, c.R, c.out, c.n);
    fails += gc_check("tanh", ew_loss, &c, c.x, g, c.n, &o, NULL);
    /* clamp to [-1, 1]: gradient 1 inside, 0 outside (about a third of N(0,1) inputs) */
    c.op = 4;
    memset(g, 0, c.n * sizeof *g);
    ew_loss(&c);
    clamp_backward(g, c.R, c.out, c.n);
    size_t held = 0;
    for (size_t i = 0; i < c.n; i++) {
        assert_true(c.out[i] >= -1 && c.out[i] <= 1);
        held += c.out[i] == -1 || c.out[i] == 1;
    }
    assert_true(held > c.n / 5 && held < c.n / 2);
    o.skip = clamp_skip;
    fails += gc_check("clamp", ew_loss, &c, c.x, g, c.n, &o, &rep);
    assert_true(rep.checked > 150);
    o.skip = NULL;
    /* the anchored clamp: the same inside; at a bound, inward gradients pass where the
     * reference is off that bound (ref cycles through -1, 0.3, 1 to meet every case) */
    float *ga = zeros(c.n), *ref = zeros(c.n);
    for (size_t i = 0; i < c.n; i++) ref[i] = i % 3 == 0 ? -1.0f : i % 3 == 1 ? 0.3f : 1.0f;
    clamp_backward_anchored(ga, c.R, c.out, ref, c.n);
    size_t back = 0, stopped = 0;
    for (size_t i = 0; i < c.n; i++) {
        if (c.out[i] > -1 && c.out[i] < 1) {
            assert_true(ga[i] == g[i]);
            continue;
        }
        int hi = c.out[i] == 1, inward = hi ? c.R[i] > 0 : c.R[i] < 0, anchored = hi ? ref[i] == 1 : ref[i] == -1;
        int pass = inward && !anchored;
        assert_true(ga[i] == (pass ? c.R[i] : 0.0f));
        back += pass, stopped += !pass;
    }
    assert_true(back > 10 && stopped > back); /* both cases occur */
    free(ga), free(ref);
    /* add: gradient w.r.t. either input is dout itself */
    c.op = 2;
    fails += gc_check("add (a)", ew_loss, &c, c.x, c.R, c.n, &o, NULL);
    fails += gc_check("add (b)", ew_loss, &c, c.y, c.R, c.n, &o, NULL);
    assert_int_equal(fails, 0);
    (void)skipped_relu;
    free(c.x), free(c.y), free(c.out), free(c.R), free(g);
}

static void test_maxpool_gradcheck(void **state) {
    (void)state;
    rng_t r;
    rng_seed(&r, 9, 5);
    /* N C H W K s p: overlapping windows, stride 2, padding at odd sizes. */
    static const int shapes[][7] = {{2, 2, 7, 9, 3, 1, 1}, {1, 3, 9, 8, 3, 2, 1}, {2, 1, 6, 7, 3, 1, 0},
                                    {1, 2, 5, 5, 2, 2, 1}, {1, 1, 11, 6, 3, 2, 0}};
    size_t fails = 0;
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        const int *s = shapes[t];
        ew_ctx c = {0};
        c.op = 3;
        maxpool_desc_init(&c.pd, s[0], s[1], s[2], s[3], s[4], s[5], s[6]);
        c.n = (size_t)s[0] * s[1] * s[2] * s[3];
        c.no = (size_t)s[0] * s[1] * c.pd.OH * c.pd.OW;
        c.x = randn(&r, c.n, 1);
        c.out = zeros(c.no);
        c.R = randn(&r, c.no, 1);
        c.am = malloc(c.no * sizeof(int));
        float *g = zeros(c.n);
        ew_loss(&c);
        maxpool_backward(&c.pd, g, c.R, c.am);
        gc_opts o = gc_defaults();
        o.max_check = 0;
        o.eps = 1e-3;
        o.rtol = 1e-3;
        o.skip = pool_skip;
        gc_report rep;
        char what[64];
        snprintf(what, sizeof what, "maxpool %dx%d K%d s%d p%d", s[2], s[3], s[4], s[5], s[6]);
        fails += gc_check(what, ew_loss, &c, c.x, g, c.n, &o, &rep);
        assert_true(rep.checked > c.n / 2);
        free(c.x), free(c.out), free(c.R), free(c.am), free(g);
    }
    assert_int_equal(fails, 0);
}

static void test_maxpool_padding_never_wins_and_accumulates(void **state) {
    (void)state;
    /* All-negative input: a zero pad value would win if padding took part. */
    maxpool_desc d;
    maxpool_desc_init(&d, 1, 1, 3, 4, 3, 1, 1);
    assert_int_equal(d.OH, 3);
    assert_int_equal(d.OW, 4);
    float in[12], out[12], din[12] = {0}, dout[12];
    int am[12];
    for (int i = 0; i < 12; i++) in[i] = -1.0f - (float)i, dout[i] = 1;
    maxpool_forward(&d, out, am, in);
    /* Window at (0,0) covers rows 0-1, cols 0-1 of the image: max is in[0] = -1. */
    assert_float_equal(out[0], -1, 0);
    assert_int_equal(am[0], 0);
    /* Window at (2,3) covers rows 1-2, cols 2-3: max is in[6] = -7. */
    assert_float_equal(out[11], -7, 0);
    assert_int_equal(am[11], 6);
    for (int i = 0; i < 12; i++) assert_true(out[i] < 0);
    maxpool_backward(&d, din, dout, am);
    float once[12];
    memcpy(once, din, sizeof din);
    float total = 0;
    for (int i = 0; i < 12; i++) total += din[i];
    assert_float_equal(total, 12, 0); /* every output routes its gradient to one input */
    maxpool_backward(&d, din, dout, am);
    for (int i = 0; i < 12; i++) assert_float_equal(din[i], 2 * once[i], 0);
    /* A NaN wins its windows (as in PyTorch), so it is not silently dropped. */
    in[5] = NAN;
    maxpool_forward(&d, out, am, in);
    assert_true(isnan(out[0]) && am[0] == 5); /* window (0,0) covers in[5] at row 1, col 1 */
    assert_false(isnan(out[3]));              /* window (0,3) covers cols 2-3 only */
}

static void test_elementwise_accumulate_and_values(void **state) {
    (void)state;
    float x[4] = {-2, -0.5f, 0.25f, 3}, y[4], g[4] = {1, 1, 1, 1}, dout[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    relu_forward(y, x, 4);
    assert_float_equal(y[0], 0, 0);
    assert_float_equal(y[3], 3, 0);
    relu_backward(g, dout, y, 4);
    assert_float_equal(g[0], 1, 0);
    assert_float_equal(g[2], 1.5f, 0);
    relu_forward(x, x, 4); /* in place */
    assert_float_equal(x[1], 0, 0);
    tanh_forward(y, x, 4);
    assert_float_equal(y[3], tanhf(3), 1e-7);
    float g2[4] = {0};
    tanh_backward(g2, dout, y, 4);
    tanh_backward(g2, dout, y, 4);
    assert_float_equal(g2[3], 2 * 0.5f * (1 - tanhf(3) * tanhf(3)), 1e-7);
    add_forward(y, y, y, 4); /* aliasing */
    assert_float_equal(y[3], 2 * tanhf(3), 1e-6);
}

/* A small discriminator-like chain, checked as a whole along random directions (input and
 * first-layer weights): conv 3x3 s2 -> ReLU -> max-pool 3 s1 p1 -> conv 1x1 -> 2 maps -> adv loss. */
typedef struct {
    conv2d_desc c1, c2;
    maxpool_desc mp;
    float *x, *w1, *b1, *w2, *b2, *h1, *a1, *p1, *logits, *probs, *ws;
    int *am, target[2];
} net_ctx;

static double net_loss(void *p) {
    net_ctx *n = p;
    conv2d_forward(&n->c1, n->h1, n->x, n->w1, n->b1, n->ws);
    size_t nh = (size_t)n->c1.N * n->c1.F * n->c1.OH * n->c1.OW;
    relu_forward(n->a1, n->h1, nh);
    maxpool_forward(&n->mp, n->p1, n->am, n->a1);
    conv2d_forward(&n->c2, n->logits, n->p1, n->w2, n->b2, n->ws);
    return adv_loss_forward(n->probs, n->logits, n->target, n->c2.N, n->c2.OH, n->c2.OW, NULL);
}

static void test_small_net_direction(void **state) {
    (void)state;
    rng_t r;
    rng_seed(&r, 12, 7);
    net_ctx n = {.target = {ADV_REAL, ADV_REFINED}};
    conv2d_desc_init(&n.c1, 2, 1, 11, 13, 6, 3, 2, 1);
    maxpool_desc_init(&n.mp, 2, 6, n.c1.OH, n.c1.OW, 3, 1, 1);
    conv2d_desc_init(&n.c2, 2, 6, n.mp.OH, n.mp.OW, 2, 1, 1, 0);
    size_t nx = 2 * 11 * 13, nh = (size_t)2 * 6 * n.c1.OH * n.c1.OW, nl = (size_t)2 * 2 * n.c2.OH * n.c2.OW;
    n.x = randn(&r, nx, 1), n.w1 = randn(&r, 54, 0.5f), n.b1 = randn(&r, 6, 0.1f);
    n.w2 = randn(&r, 12, 0.5f), n.b2 = randn(&r, 2, 0.1f);
    n.h1 = zeros(nh), n.a1 = zeros(nh), n.p1 = zeros(nh), n.logits = zeros(nl), n.probs = zeros(nl);
    size_t nws = conv2d_workspace(&n.c1) > conv2d_workspace(&n.c2) ? conv2d_workspace(&n.c1) : conv2d_workspace(&n.c2);
    n.ws = zeros(nws);
    n.am = malloc(nh * sizeof(int));
    net_loss(&n);
    /* Backward through the chain. */
    float *dl = zeros(nl), *dp = zeros(nh), *da = zeros(nh), *dh = zeros(nh), *dx = zeros(nx);
    float *dw1 = zeros(54), *db1 = zeros(6), *dw2 = zeros(12), *db2 = zeros(2);
    adv_loss_backward(dl, n.probs, n.target, 2, n.c2.OH, n.c2.OW, 1);
    conv2d_backward(&n.c2, dp, dw2, db2, dl, n.p1, n.w2, n.ws);
    maxpool_backward(&n.mp, da, dp, n.am);
    relu_backward(dh, da, n.a1, nh);
    conv2d_backward(&n.c1, dx, dw1, db1, dh, n.x, n.w1, n.ws);
    int bad = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        bad += gc_check_direction("net d/dx", net_loss, &n, n.x, dx, nx, 1e-4, 1e-2, seed);
        bad += gc_check_direction("net d/dw1", net_loss, &n, n.w1, dw1, 54, 1e-4, 1e-2, seed);
    }
    bad += gc_check_direction("net d/dw2", net_loss, &n, n.w2, dw2, 12, 1e-3, 1e-2, 4);
    /* A wrong gradient must be caught: flip one input-gradient sign. */
    size_t big = 0;
    for (size_t i = 0; i < nx; i++)
        if (fabsf(dx[i]) > fabsf(dx[big])) big = i;
    dx[big] = -dx[big];
    int caught = gc_check_direction("net d/dx sabotaged, must FAIL", net_loss, &n, n.x, dx, nx, 1e-3, 1e-2, 99);
    assert_int_equal(bad, 0);
    assert_int_equal(caught, 1);
    free(n.x), free(n.w1), free(n.b1), free(n.w2), free(n.b2), free(n.h1), free(n.a1), free(n.p1);
    free(n.logits), free(n.probs), free(n.ws), free(n.am);
    free(dl), free(dp), free(da), free(dh), free(dx), free(dw1), free(db1), free(dw2), free(db2);
}

/* D's geometry (SIMGAN.md): two 3x3 stride-2 convs with padding 1, then a 3x3 stride-1 max-pool.
 * 35x55 -> 18x28 -> 9x14; the pool keeps 9x14 only with padding 1 (unpadded gives 7x12). */
static void test_disc_geometry(void **state) {
    (void)state;
    int sizes[2][2] = {{35, 55}, {28, 28}}, want[2][2] = {{9, 14}, {7, 7}};
    for (int t = 0; t < 2; t++) {
        conv2d_desc c1, c2;
        maxpool_desc p0, p1;
        conv2d_desc_init(&c1, 4, 1, sizes[t][0], sizes[t][1], 96, 3, 2, 1);
        conv2d_desc_init(&c2, 4, 96, c1.OH, c1.OW, 64, 3, 2, 1);
        assert_int_equal(c2.OH, want[t][0]);
        assert_int_equal(c2.OW, want[t][1]);
        maxpool_desc_init(&p1, 4, 64, c2.OH, c2.OW, 3, 1, 1);
        assert_int_equal(p1.OH, want[t][0]);
        assert_int_equal(p1.OW, want[t][1]);
        maxpool_desc_init(&p0, 4, 64, c2.OH, c2.OW, 3, 1, 0);
        assert_int_equal(p0.OH, want[t][0] - 2);
        assert_int_equal(p0.OW, want[t][1] - 2);
    }
    conv2d_desc c1;
    conv2d_desc_init(&c1, 1, 1, 35, 55, 96, 3, 2, 1);
    assert_int_equal(c1.OH, 18);
    assert_int_equal(c1.OW, 28);
}

int main(void) {
    nn_blas_init(); /* test the BLAS kernels the program will run */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_matches_naive_all_transposes),
        cmocka_unit_test(test_gemm_threads_flush_denormals),
        cmocka_unit_test(test_conv_known_values),
        cmocka_unit_test(test_conv_matches_naive_random_shapes),
        cmocka_unit_test(test_conv_threaded_matches_naive),
        cmocka_unit_test(test_conv_gradcheck),
        cmocka_unit_test(test_conv_backward_accumulates),
        cmocka_unit_test(test_elementwise_gradcheck),
        cmocka_unit_test(test_elementwise_accumulate_and_values),
        cmocka_unit_test(test_maxpool_gradcheck),
        cmocka_unit_test(test_maxpool_padding_never_wins_and_accumulates),
        cmocka_unit_test(test_small_net_direction),
        cmocka_unit_test(test_disc_geometry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
