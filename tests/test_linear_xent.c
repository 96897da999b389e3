/* Tests of the fully connected layer and the evaluation losses: forward values against direct
 * loops, accumulate semantics, finite-difference gradients (input, weights, bias; softmax
 * cross-entropy; MSE), and cross-entropy's stability and accuracy count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "losses/xent.h"
#include "nn/linear.h"
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

/* ------------------------------------------------------------------------------------------ */
/* linear */

static void test_linear_forward_matches_loops(void **state) {
    (void)state;
    rng_t r;
    rng_seed(&r, 3, 0);
    const int N = 5, I = 7, O = 4;
    float *x = randn(&r, N * I, 1), *w = randn(&r, O * I, 1), *b = randn(&r, O, 1), *y = zeros(N * O);
    linear_forward(y, x, w, b, N, I, O);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double s = b[o];
            for (int i = 0; i < I; i++) s += (double)x[n * I + i] * w[o * I + i];
            assert_float_equal(y[n * O + o], s, 1e-5);
        }
    /* without bias */
    linear_forward(y, x, w, NULL, N, I, O);
    double s = 0;
    for (int i = 0; i < I; i++) s += (double)x[i] * w[i];
    assert_float_equal(y[0], s, 1e-5);
    free(x), free(w), free(b), free(y);
}

typedef struct {
    float *x, *w, *b, *y, *g; /* g: fixed random upstream gradient; loss = sum(y * g) */
    int N, I, O;
} lin_ctx;

static double lin_loss(void *vc) {
    lin_ctx *c = vc;
    linear_forward(c->y, c->x, c->w, c->b, c->N, c->I, c->O);
    double s = 0;
    for (int i = 0; i < c->N * c->O; i++) s += (double)c->y[i] * c->g[i];
    return s;
}

static void test_linear_gradients_and_accumulation(void **state) {
    (void)state;
    rng_t r;
    rng_seed(&r, 5, 0);
    lin_ctx c = {0};
    c.N = 6, c.I = 9, c.O = 5;
    c.x = randn(&r, c.N * c.I, 1), c.w = randn(&r, c.O * c.I, 0.5f), c.b = randn(&r, c.O, 0.5f);
    c.y = zeros(c.N * c.O), c.g = randn(&r, c.N * c.O, 1);
    float *dx = zeros(c.N * c.I), *dw = zeros(c.O * c.I), *db = zeros(c.O);
    linear_backward(dx, dw, db, c.g, c.x, c.w, c.N, c.I, c.O);
    gc_opts o = gc_defaults();
    o.max_check = 0;
    assert_int_equal(gc_check("linear din", lin_loss, &c, c.x, dx, c.N * c.I, &o, NULL), 0);
    assert_int_equal(gc_check("linear dw", lin_loss, &c, c.w, dw, c.O * c.I, &o, NULL), 0);
    assert_int_equal(gc_check("linear db", lin_loss, &c, c.b, db, c.O, &o, NULL), 0);
    /* a second backward adds the same again */
    float *dx2 = malloc(c.N * c.I * sizeof *dx2), *dw2 = malloc(c.O * c.I * sizeof *dw2);
    memcpy(dx2, dx, c.N * c.I * sizeof *dx2);
    memcpy(dw2, dw, c.O * c.I * sizeof *dw2);
    float db0 = db[0];
    linear_backward(dx2, dw2, db, c.g, c.x, c.w, c.N, c.I, c.O);
    for (int i = 0; i < c.N * c.I; i++) assert_float_equal(dx2[i], 2 * dx[i], 1e-5 + 1e-5 * fabs(dx[i]));
    for (int i = 0; i < c.O * c.I; i++) assert_float_equal(dw2[i], 2 * dw[i], 1e-5 + 1e-5 * fabs(dw[i]));
    assert_float_equal(db[0], 2 * db0, 1e-5);
    /* NULL gradients are skipped */
    linear_backward(NULL, NULL, db, c.g, c.x, c.w, c.N, c.I, c.O);
    assert_float_equal(db[0], 3 * db0, 1e-5);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.g), free(dx), free(dw), free(db), free(dx2), free(dw2);
}

/* ------------------------------------------------------------------------------------------ */
/* softmax cross-entropy */

typedef struct {
    float *logits, *probs;
    int *t;
    int N, K;
} xe_ctx;

static double xe_loss(void *vc) {
    xe_ctx *c = vc;
    return xent_forward(c->probs, c->logits, c->t, c->N, c->K, NULL);
}

static void test_xent_values_and_gradient(void **state) {
    (void)state;
    rng_t r;
    rng_seed(&r, 9, 0);
    xe_ctx c = {0};
    c.N = 7, c.K = 5;
    c.logits = randn(&r, c.N * c.K, 2), c.probs = zeros(c.N * c.K);
    c.t = malloc(c.N * sizeof *c.t);
    for (int n = 0; n < c.N; n++) c.t[n] = (int)rng_below(&r, c.K);
    long correct = -1;
    double loss = xent_forward(c.probs, c.logits, c.t, c.N, c.K, &correct);
    double ref = 0;
    long hits = 0;
    for (int n = 0; n < c.N; n++) {
        double z = 0;
        int best = 0;
        for (int k = 0; k < c.K; k++) {
            z += exp(c.logits[n * c.K + k]);
            if (c.logits[n * c.K + k] > c.logits[n * c.K + best]) best = k;
        }
        ref += -log(exp(c.logits[n * c.K + c.t[n]]) / z);
        hits += best == c.t[n];
        double ps = 0;
        for (int k = 0; k < c.K; k++) ps += c.probs[n * c.K + k];
        assert_float_equal(ps, 1.0, 1e-6);
    }
    assert_float_equal(loss, ref / c.N, 1e-6);
    assert_int_equal(correct, hits);
    float *d = zeros(c.N * c.K);
    xent_backward(d, c.probs, c.t, c.N, c.K, 1.0f);
    gc_opts o = gc_defaults();
    o.max_check = 0;
    assert_int_equal(gc_check("xent dlogits", xe_loss, &c, c.logits, d, c.N * c.K, &o, NULL), 0);
    /* scale multiplies and accumulates */
    float *d3 = zeros(c.N * c.K);
    xent_backward(d3, c.probs, c.t, c.N, c.K, 1.0f);
    xent_backward(d3, c.probs, c.t, c.N, c.K, 2.0f);
    for (int i = 0; i < c.N * c.K; i++) assert_float_equal(d3[i], 3 * d[i], 1e-6);
    free(c.logits), free(c.probs), free(c.t), free(d), free(d3);
}

static void test_xent_stable_for_huge_logits(void **state) {
    (void)state;
    float logits[6] = {1000, -1000, 0, -500, 400, 399};
    float probs[6];
    int t[2] = {1, 1};
    long correct;
    double loss = xent_forward(probs, logits, t, 2, 3, &correct);
    /* row 0: -log softmax[1] = 2000 (+ e^-1000); row 1 (target is the max): log(1 + e^-1 + e^-900) */
    assert_float_equal(loss, (2000 + log1p(exp(-1.0))) / 2, 1e-9 * 2000);
    assert_true(isfinite(probs[1]) && probs[1] == 0.0f);
    assert_int_equal(correct, 1);
    assert_int_equal(xent_argmax(logits + 3, 3), 1);
}

/* ------------------------------------------------------------------------------------------ */
/* mean squared error */

typedef struct {
    float *pred, *target;
    int N, D;
} mse_ctx;

static double mse_loss(void *vc) {
    mse_ctx *c = vc;
    return mse_forward(c->pred, c->target, c->N, c->D);
}

static void test_mse_values_and_gradient(void **state) {
    (void)state;
    float pred[4] = {1, 2, 3, 4}, target[4] = {0, 2, 5, 3};
    assert_float_equal(mse_forward(pred, target, 2, 2), (1 + 0 + 4 + 1) / 4.0, 1e-12);
    rng_t r;
    rng_seed(&r, 2, 0);
    mse_ctx c = {randn(&r, 12, 1), randn(&r, 12, 1), 4, 3};
    float *d = zeros(12);
    mse_backward(d, c.pred, c.target, c.N, c.D, 1.0f);
    gc_opts o = gc_defaults();
    o.max_check = 0;
    assert_int_equal(gc_check("mse dpred", mse_loss, &c, c.pred, d, 12, &o, NULL), 0);
    free(c.pred), free(c.target), free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_forward_matches_loops),
        cmocka_unit_test(test_linear_gradients_and_accumulation),
        cmocka_unit_test(test_xent_values_and_gradient),
        cmocka_unit_test(test_xent_stable_for_huge_logits),
        cmocka_unit_test(test_mse_values_and_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
