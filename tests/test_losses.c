/* Tests of the losses: the local adversarial loss (values, stability at extreme logits, accuracy
 * count, finite-difference gradient), L1 and the per-cell mean (gradients, partial border cells),
 * and that every backward accumulates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* ------------------------------------------------------------------------------------------ */
/* adversarial loss */

static void test_adv_loss_values(void **state) {
    (void)state;
    /* N=2, 1x2 map. Image 0 is "refined", image 1 "real". */
    const float logits[8] = {0, 2, /* n0 class0 */ 0, -1, /* n0 class1 */
                             1, 1, /* n1 class0 */ 3, 1 /* n1 class1 */};
    const int target[2] = {ADV_REFINED, ADV_REAL};
    float probs[8];
    long correct = -1;
    double loss = adv_loss_forward(probs, logits, target, 2, 1, 2, &correct);
    /* CE = log(1 + exp(other - own)) at each location. */
    double want = (log(2.0) + log1p(exp(-3.0)) + log1p(exp(-2.0)) + log(2.0)) / 4;
    assert_float_equal(loss, want, 1e-12);
    /* Location (n0,p0) ties -> class 0 (correct); (n0,p1) class 0 wins; (n1,p0) class 1 wins;
     * (n1,p1) ties -> class 0 (wrong for target real). */
    assert_int_equal(correct, 3);
    for (int n = 0; n < 2; n++)
        for (int p = 0; p < 2; p++) assert_float_equal(probs[n * 4 + p] + probs[n * 4 + 2 + p], 1, 1e-6);
    assert_float_equal(probs[1], 1 / (1 + exp(-3.0)), 1e-6);
    assert_float_equal(probs[6], 1 / (1 + exp(-2.0)), 1e-6);
    /* NULL correct is allowed. */
    assert_float_equal(adv_loss_forward(probs, logits, target, 2, 1, 2, NULL), want, 1e-12);
}

static void test_adv_loss_extreme_logits_stable(void **state) {
    (void)state;
    const float logits[4] = {1000, -1000, -1000, 1000}; /* N=1, 1x2 map */
    const int target[1] = {ADV_REAL};
    float probs[4], g[4] = {0};
    long correct;
    double loss = adv_loss_forward(probs, logits, target, 1, 1, 2, &correct);
    assert_true(isfinite(loss));
    /* p0: class-0 logit 1000 vs 1000 below it: CE for "real" is 2000; p1: CE ~ 0. */
    assert_float_equal(loss, 1000, 1e-9);
    assert_int_equal(correct, 1);
    adv_loss_backward(g, probs, target, 1, 1, 2, 1);
    for (int i = 0; i < 4; i++) assert_true(isfinite(g[i]));
    assert_float_equal(g[0], 0.5, 1e-6);  /* (p0 - 0) / 2 locations */
    assert_float_equal(g[2], -0.5, 1e-6); /* (p1 - 1) / 2 */
}

typedef struct {
    int N, H, W;
    int target[3];
    float *logits, *probs;
} adv_ctx;

static double adv_loss(void *p) {
    adv_ctx *c = p;
    return adv_loss_forward(c->probs, c->logits, c->target, c->N, c->H, c->W, NULL);
}

static void test_adv_loss_gradcheck_and_accumulates(void **state) {
    (void)state;
    rng_t r;
    rng_seed(&r, 21, 1);
    adv_ctx c = {3, 3, 5, {ADV_REAL, ADV_REFINED, ADV_REAL}, NULL, NULL};
    size_t n = (size_t)c.N * 2 * c.H * c.W;
    c.logits = randn(&r, n, 2);
    c.probs = zeros(n);
    float *g = zeros(n), *g2 = zeros(n);
    adv_loss(&c);
    const float scale = 0.75f;
    adv_loss_backward(g, c.probs, c.target, c.N, c.H, c.W, scale);
    for (size_t i = 0; i < n; i++) g[i] /= scale;
    gc_opts o = gc_defaults();
    o.max_check = 0;
    o.eps = 1e-2;
    o.rtol = 1e-3;
    o.atol = 1e-7;
    assert_int_equal(gc_check("adv loss (mean CE)", adv_loss, &c, c.logits, g, n, &o, NULL), 0);
    /* Accumulation: two calls give twice one call. */
    adv_loss_backward(g2, c.probs, c.target, c.N, c.H, c.W, 1);
    adv_loss_backward(g2, c.probs, c.target, c.N, c.H, c.W, 1);
    for (size_t i = 0; i < n; i++) assert_float_equal(g2[i], 2 * g[i], 1e-6);
    free(c.logits), free(c.probs), free(g), free(g2);
}

/* ------------------------------------------------------------------------------------------ */
/* L1 */

typedef struct {
    float *a, *b;
    size_t n;
} l1_ctx;

static double l1_loss(void *p) {
    l1_ctx *c = p;
    return l1_forward(c->a, c->b, c->n);
}

static int l1_skip(void *p, size_t i, double h) {
    l1_ctx *c = p;
    return fabs((double)c->a[i] - c->b[i]) < 2 * h;
}

static void test_l1(void **state) {
    (void)state;
    const float a[4] = {1, -2, 3, 0.5f}, b[4] = {0, 2, 3, 1};
    assert_float_equal(l1_forward(a, b, 4), 1 + 4 + 0 + 0.5, 1e-12);
    float g[4] = {1, 1, 1, 1};
    l1_backward(g, a, b, 4, 0.5f);
    const float want[4] = {1.5f, 0.5f, 1, 0.5f}; /* sign(a-b) * 0.5 added; 0 where equal */
    for (int i = 0; i < 4; i++) assert_float_equal(g[i], want[i], 0);

    rng_t r;
    rng_seed(&r, 4, 2);
    l1_ctx c = {randn(&r, 300, 1), randn(&r, 300, 1), 300};
    float *ga = zeros(c.n);
    l1_backward(ga, c.a, c.b, c.n, 1);
    gc_opts o = gc_defaults();
    o.max_check = 0;
    o.eps = 1e-3;
    o.rtol = 1e-4;
    o.skip = l1_skip;
    gc_report rep;
    assert_int_equal(gc_check("l1 (sum)", l1_loss, &c, c.a, ga, c.n, &o, &rep), 0);
    assert_true(rep.checked > 250);
    free(c.a), free(c.b), free(ga);
}

/* ------------------------------------------------------------------------------------------ */
/* per-cell mean */

static void test_cellmean_values_partial_cells(void **state) {
    (void)state;
    /* 1x1x3x5 input, k = 2 -> 2x3 cells; the last row and column of cells are partial. */
    float in[15], out[6];
    for (int i = 0; i < 15; i++) in[i] = (float)i;
    cellmean_forward(out, in, 1, 1, 3, 5, 2);
    const float want[6] = {(0 + 1 + 5 + 6) / 4.0f, (2 + 3 + 7 + 8) / 4.0f, (4 + 9) / 2.0f,
                           (10 + 11) / 2.0f,       (12 + 13) / 2.0f,       14};
    for (int i = 0; i < 6; i++) assert_float_equal(out[i], want[i], 1e-6);
    float din[15] = {0}, dout[6] = {4, 4, 2, 2, 2, 1};
    cellmean_backward(din, dout, 1, 1, 3, 5, 2);
    for (int i = 0; i < 15; i++) assert_float_equal(din[i], 1, 1e-6); /* dout / count */
    cellmean_backward(din, dout, 1, 1, 3, 5, 2);
    for (int i = 0; i < 15; i++) assert_float_equal(din[i], 2, 1e-6);
}

typedef struct {
    int N, C, H, W, k;
    float *in, *out, *R;
    size_t no;
} cm_ctx;

static double cm_loss(void *p) {
    cm_ctx *c = p;
    cellmean_forward(c->out, c->in, c->N, c->C, c->H, c->W, c->k);
    double s = 0;
    for (size_t i = 0; i < c->no; i++) s += (double)c->out[i] * c->R[i];
    return s;
}

static void test_cellmean_gradcheck(void **state) {
    (void)state;
    rng_t r;
    rng_seed(&r, 8, 3);
    static const int shapes[][5] = {{2, 2, 7, 9, 3}, {1, 3, 35, 55, 4}, {2, 1, 5, 5, 1}, {1, 1, 6, 4, 6}};
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        const int *s = shapes[t];
        cm_ctx c = {s[0], s[1], s[2], s[3], s[4], NULL, NULL, NULL, 0};
        int OH = (c.H + c.k - 1) / c.k, OW = (c.W + c.k - 1) / c.k;
        size_t n = (size_t)c.N * c.C * c.H * c.W;
        c.no = (size_t)c.N * c.C * OH * OW;
        c.in = randn(&r, n, 1);
        c.out = zeros(c.no);
        c.R = randn(&r, c.no, 1);
        float *g = zeros(n);
        cellmean_backward(g, c.R, c.N, c.C, c.H, c.W, c.k);
        gc_opts o = gc_defaults();
        o.max_check = 100;
        o.eps = 1e-2; /* linear: no truncation error */
        o.rtol = 1e-4;
        char what[64];
        snprintf(what, sizeof what, "cellmean %dx%d k%d", c.H, c.W, c.k);
        assert_int_equal(gc_check(what, cm_loss, &c, c.in, g, n, &o, NULL), 0);
        free(c.in), free(c.out), free(c.R), free(g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adv_loss_values),
        cmocka_unit_test(test_adv_loss_extreme_logits_stable),
        cmocka_unit_test(test_adv_loss_gradcheck_and_accumulates),
        cmocka_unit_test(test_l1),
        cmocka_unit_test(test_cellmean_values_partial_cells),
        cmocka_unit_test(test_cellmean_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
