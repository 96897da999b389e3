/* Tests of the evaluation step: matrix square roots and the Fréchet distance against closed
 * forms, histogram distances, gaze angles, the evaluation network's gradients and parameter
 * file, learning a tiny task (bars) and a regression, the domain classifier on identical and
 * obviously different sets, determinism, shared feature networks, errors naming file/dataset,
 * and report.json updates (atomic, valid JSON, entries kept). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io/h5ds.h"
#include "io/json.h"
#include "base/status.h"
#include "tests/tmpdir.h"
#include "losses/xent.h"
#include "base/rng.h"
#include "cli/commands.h"
#include "eval/consistency.h"
#include "eval/eval.h"
#include "eval/eval_metrics.h"
#include "eval/evalnet.h"
#include "tests/gradcheck.h"
#ifndef EPS
#define EPS 1e-3
#endif


/* ---------------------------------------------------------------- linear algebra */
static double *random_spd(rng_t *r, int n, int rank, double ridge) {
    double *b = malloc((size_t)n * rank * sizeof *b), *a = calloc((size_t)n * n, sizeof *a);
    for (int i = 0; i < n * rank; i++) b[i] = rng_normal(r);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = i == j ? ridge : 0;
            for (int k = 0; k < rank; k++) s += b[i * rank + k] * b[j * rank + k];
            a[i * n + j] = s;
        }
    free(b);
    return a;
}

static void test_sym_eig_and_sqrtm(void **state) {
    (void)state;
    rng_t r;
    rng_seed(&r, 1, 0);
    /* full rank, and rank-deficient like post-ReLU features with dead units */
    int sizes[3][2] = {{12, 12}, {128, 128}, {128, 40}};
    for (int c = 0; c < 3; c++) {
        int n = sizes[c][0];
        double *a = random_spd(&r, n, sizes[c][1], sizes[c][1] == n ? 0.1 : 0);
        double *w = malloc((size_t)n * n * sizeof *w), *v = malloc((size_t)n * n * sizeof *v);
        double *l = malloc(n * sizeof *l), *s = malloc((size_t)n * n * sizeof *s);
        memcpy(w, a, (size_t)n * n * sizeof *w);
        assert_int_equal(metric_sym_eig(w, n, l, v), 0);
        double anorm = 0, worst = 0;
        for (int i = 0; i < n * n; i++) anorm = fmax(anorm, fabs(a[i]));
        for (int k = 0; k < n; k += 7) /* A v_k = l_k v_k */
            for (int i = 0; i < n; i++) {
                double av = 0;
                for (int j = 0; j < n; j++) av += a[i * n + j] * v[j * n + k];
                worst = fmax(worst, fabs(av - l[k] * v[i * n + k]));
            }
        assert_true(worst < 1e-11 * anorm * n);
        assert_int_equal(metric_sqrtm_psd(s, a, n), 0);
        worst = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double ss = 0;
                for (int k = 0; k < n; k++) ss += s[i * n + k] * s[k * n + j];
                worst = fmax(worst, fabs(ss - a[i * n + j]));
            }
        printf("    sqrtm n=%d rank=%d: max |S*S - A| = %.3g (max |A| %.3g)\n", n, sizes[c][1], worst, anorm);
        assert_true(worst < 1e-9 * anorm);
        free(a), free(w), free(v), free(l), free(s);
    }
    /* a known case: sqrt of diag(4, 9) rotated by 30 degrees */
    double c = cos(M_PI / 6), sn = sin(M_PI / 6);
    double a[4] = {4 * c * c + 9 * sn * sn, (9 - 4) * c * sn, (9 - 4) * c * sn, 4 * sn * sn + 9 * c * c}, s[4];
    assert_int_equal(metric_sqrtm_psd(s, a, 2), 0);
    assert_float_equal(s[0], 2 * c * c + 3 * sn * sn, 1e-13);
    assert_float_equal(s[1], (3 - 2) * c * sn, 1e-13);
    assert_float_equal(s[3], 2 * sn * sn + 3 * c * c, 1e-13);
    double bad[4] = {1, NAN, NAN, 1};
    assert_int_equal(metric_sqrtm_psd(s, bad, 2), RP_ENUM);
}

static void test_frechet_closed_forms(void **state) {
    (void)state;
    double fd;
    /* 1-D Gaussians: (m1 - m2)^2 + (s1 - s2)^2 */
    double m1 = 1.5, m2 = -0.5, v1 = 4.0, v2 = 0.25;
    assert_int_equal(metric_frechet(&fd, &m1, &v1, &m2, &v2, 1), 0);
    assert_float_equal(fd, 4.0 + (2.0 - 0.5) * (2.0 - 0.5), 1e-12);
    /* diagonal covariances: per-dimension sum */
    enum { D = 6 };
    double mu1[D], mu2[D], s1[D * D] = {0}, s2[D * D] = {0}, want = 0;
    for (int i = 0; i < D; i++) {
        mu1[i] = i, mu2[i] = 0.5 * i;
        s1[i * D + i] = 1 + i, s2[i * D + i] = 3.0 / (1 + i);
        want += 0.25 * i * i + pow(sqrt(1 + i) - sqrt(3.0 / (1 + i)), 2);
    }
    assert_int_equal(metric_frechet(&fd, mu1, s1, mu2, s2, D), 0);
    assert_float_equal(fd, want, 1e-10);
    /* the same rotated into a full basis (commuting covariances): the distance is invariant */
    rng_t r;
    rng_seed(&r, 4, 0);
    double q[D * D], t1[D * D], t2[D * D], r1[D * D], r2[D * D], n1[D], n2[D];
    double *g = random_spd(&r, D, D, 1);
    double l[D];
    assert_int_equal(metric_sym_eig(g, D, l, q), 0); /* q orthogonal */
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            double a = 0, b = 0;
            for (int k = 0; k < D; k++) a += q[i * D + k] * s1[k * D + k] * q[j * D + k], b += q[i * D + k] * s2[k * D + k] * q[j * D + k];
            t1[i * D + j] = a, t2[i * D + j] = b;
        }
    for (int i = 0; i < D; i++) {
        n1[i] = n2[i] = 0;
        for (int k = 0; k < D; k++) n1[i] += q[i * D + k] * mu1[k], n2[i] += q[i * D + k] * mu2[k];
    }
    memcpy(r1, t1, sizeof r1), memcpy(r2, t2, sizeof r2);
    assert_int_equal(metric_frechet(&fd, n1, r1, n2, r2, D), 0);
    assert_float_equal(fd, want, 1e-9);
    free(g);
    /* identical distributions: ~0, including rank-deficient 128-d */
    double *a = random_spd(&r, 128, 50, 0), mu[128];
    for (int i = 0; i < 128; i++) mu[i] = rng_normal(&r);
    assert_int_equal(metric_frechet(&fd, mu, a, mu, a, 128), 0);
    printf("    Frechet(identical, 128-d rank 50) = %.3g (trace %.3g)\n", fd, 128 * 50.0);
    assert_true(fd < 1e-6 * 128 * 50);
    free(a);
    /* sample moments: mean and unbiased covariance */
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}; /* rows (1,2) (3,4) (5,6) (7,8) */
    double mean[2], cov[4];
    assert_int_equal(metric_mean_cov(mean, cov, x, 4, 2), 0);
    assert_float_equal(mean[0], 4, 1e-12);
    assert_float_equal(mean[1], 5, 1e-12);
    assert_float_equal(cov[0], 20.0 / 3, 1e-12);
    assert_float_equal(cov[1], 20.0 / 3, 1e-12);
    assert_float_equal(cov[3], 20.0 / 3, 1e-12);
}

static void test_histogram_distances_and_gaze(void **state) {
    (void)state;
    double h1[256] = {0}, h2[256] = {0};
    uint8_t px[4] = {0, 0, 255, 255};
    metric_hist_add(h1, px, 4);
    metric_hist_add(h2, px, 2); /* all zeros */
    assert_float_equal(h1[0], 2, 0);
    assert_float_equal(metric_hist_l1(h1, h1, 256), 0, 0);
    assert_float_equal(metric_hist_w1(h1, h1, 256), 0, 0);
    assert_float_equal(metric_hist_l1(h1, h2, 256), 1.0, 1e-12); /* |0.5-1| + |0.5-0| */
    assert_float_equal(metric_hist_w1(h1, h2, 256), 0.5, 1e-12); /* half the mass moves by 1 */
    /* a point mass moved by 10 levels: W1 = 10/255 whatever the distance, L1 = 2 */
    double a[256] = {0}, b[256] = {0};
    a[100] = 7, b[110] = 3;
    assert_float_equal(metric_hist_l1(a, b, 256), 2.0, 1e-12);
    assert_float_equal(metric_hist_w1(a, b, 256), 10.0 / 255, 1e-12);
    /* gaze: 10 degrees of yaw at pitch 0; pitch alone; identity */
    double d10 = 10 * M_PI / 180;
    assert_float_equal(metric_gaze_angle_deg(0, 0, 0, d10), 10, 1e-9);
    assert_float_equal(metric_gaze_angle_deg(d10, 0.3, 0, 0.3), 10, 1e-9);
    assert_float_equal(metric_gaze_angle_deg(0.2, -0.4, 0.2, -0.4), 0, 1e-5);
}

/* ---------------------------------------------------------------- the evaluation network */
typedef struct {
    evalnet *net;
    float *x, *probs;
    int *t;
    int N;
} net_ctx;

static double net_loss(void *vc) {
    net_ctx *c = vc;
    const float *out = evalnet_forward(c->net, c->x, c->N);
    return xent_forward(c->probs, out, c->t, c->N, c->net->outputs, NULL);
}

static void test_evalnet_shapes_and_gradients(void **state) {
    (void)state;
    evalnet net;
    /* odd sizes: pooling floors 9 -> 4 -> 2 and 11 -> 5 -> 2 */
    assert_int_equal(evalnet_init(&net, 2, 9, 11, 3, 4, 7), 0);
    assert_int_equal(net.flat, EVALNET_C2 * 2 * 2);
    size_t total = 0;
    for (int k = 0; k < net.p.ntensors; k++) total += net.p.tensors[k].count;
    assert_int_equal(total, (size_t)32 * 2 * 9 + 32 + 64 * 32 * 9 + 64 + 128 * 256 + 128 + 3 * 128 + 3);
    assert_int_equal(param_block_find(&net.p, "fc1.w")->count, 128 * 256);
    rng_t r;
    rng_seed(&r, 2, 0);
    enum { N = 3 };
    float x[N * 2 * 9 * 11], probs[N * 3], dout[N * 3] = {0};
    int t[N] = {0, 2, 1};
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = rng_uniform(&r);
    net_ctx c = {&net, x, probs, t, N};
    net_loss(&c);
    xent_backward(dout, probs, t, N, 3, 1.0f);
    param_block_zero_grad(&net.p);
    evalnet_backward(&net, dout);
    gc_opts o = gc_defaults();
    o.max_check = 96;
    o.eps = EPS;
    o.rtol = 3e-2, o.atol = 2e-4;
    gc_report rep;
    size_t fails = gc_check("evalnet params", net_loss, &c, net.p.data, net.p.grad, net.p.count, &o, &rep);
    assert_true(fails <= 2); /* a ReLU kink or pool tie crossed by the step may cost one or two */
    assert_int_equal(gc_check_direction("evalnet direction", net_loss, &c, net.p.data, net.p.grad, net.p.count,
                                        1e-5, 1e-2, 5), 0);
    /* each tensor of the block got gradient */
    for (int k = 0; k < net.p.ntensors; k++) {
        const param_tensor *pt = &net.p.tensors[k];
        double s = 0;
        for (size_t i = 0; i < pt->count; i++) s += fabs(net.p.grad[pt->offset + i]);
        assert_true(s > 0);
    }
    evalnet_free(&net);
    assert_int_equal(evalnet_init(&net, 1, 3, 10, 2, 4, 1), RP_EARG);
}

static void test_evalnet_save_load(void **state) {
    (void)state;
    evalnet a, b;
    assert_int_equal(evalnet_init(&a, 1, 12, 14, 4, 8, 3), 0);
    const char *path = tpath("featnet.h5");
    int files = dir_count(tmpdir);
    assert_int_equal(evalnet_save(&a, path, "unit test"), 0);
    assert_int_equal(evalnet_load(&b, path, 5), 0);
    assert_int_equal(b.C, 1), assert_int_equal(b.H, 12), assert_int_equal(b.W, 14), assert_int_equal(b.outputs, 4);
    assert_int_equal(b.max_batch, 5);
    assert_memory_equal(a.p.data, b.p.data, a.p.count * sizeof(float));
    float x[5 * 12 * 14];
    rng_t r;
    rng_seed(&r, 1, 1);
    for (int i = 0; i < 5 * 12 * 14; i++) x[i] = rng_uniform(&r);
    evalnet_forward(&a, x, 5);
    evalnet_forward(&b, x, 5);
    assert_memory_equal(a.feat, b.feat, 5 * EVALNET_HIDDEN * sizeof(float));
    assert_int_equal(dir_count(tmpdir), files + 1); /* no temp file left */
    evalnet_free(&a), evalnet_free(&b);
    /* not a feature network: the error names the file and the attribute */
    const char *other = tpath("other.h5");
    hid_t f = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    assert_int_equal(evalnet_load(&b, other, 4), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "other.h5"));
    assert_non_null(strstr(rp_errmsg(), "refine_format"));
    assert_int_not_equal(evalnet_load(&b, tpath("missing.h5"), 4), 0);
    unlink(path), unlink(other);
}

/* Found writing fuzz_evalnet: attributes declaring huge images (1000000x1000000) overflowed int in
 * evalnet_init and asked for terabytes; now the /params count is checked against them before
 * anything is allocated, and evalnet_init refuses sizes its int indexing cannot hold
 * (tests/corpus/evalnet/crash-huge-image-attributes). */
static void test_evalnet_load_implausible_size(void **state) {
    (void)state;
    evalnet a, b;
    assert_int_equal(evalnet_init(&a, 1, 12, 14, 4, 8, 3), 0);
    const char *path = tpath("huge.h5");
    assert_int_equal(evalnet_save(&a, path, NULL), 0);
    evalnet_free(&a);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    int32_t big = 1000000;
    for (int i = 0; i < 2; i++) {
        hid_t at = H5Aopen(f, i ? "width" : "height", H5P_DEFAULT);
        assert_true(at >= 0 && H5Awrite(at, H5T_NATIVE_INT32, &big) >= 0);
        H5Aclose(at);
    }
    H5Fclose(f);
    assert_int_equal(evalnet_load(&b, path, 4), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "huge.h5: /params holds"));
    assert_non_null(strstr(rp_errmsg(), "(1x1000000x1000000, 4 outputs) has at least"));
    assert_int_equal(evalnet_init(&b, 1, 1000000, 1000000, 2, 1, 0), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "too large"));
    /* too small for the layers (width 1): the error names the file (fuzz_evalnet: it did not) */
    assert_int_equal(evalnet_init(&a, 1, 12, 14, 4, 8, 3), 0);
    assert_int_equal(evalnet_save(&a, path, NULL), 0);
    evalnet_free(&a);
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    int32_t one = 1;
    hid_t at = H5Aopen(f, "width", H5P_DEFAULT);
    assert_true(at >= 0 && H5Awrite(at, H5T_NATIVE_INT32, &one) >= 0);
    H5Aclose(at), H5Fclose(f);
    assert_int_equal(evalnet_load(&b, path, 4), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "huge.h5: root attributes: evaluation network: needs images of at least 4x4"));
    unlink(path);
}

/* A feature-network file whose /params has rank 5 (it once overran a 2-element dims array on the
 * stack): a clear error with the shape found, and nothing loaded. */
static void test_evalnet_load_wrong_rank(void **state) {
    (void)state;
    evalnet a, b;
    assert_int_equal(evalnet_init(&a, 1, 12, 14, 4, 8, 3), 0);
    const char *path = tpath("rank5.h5");
    assert_int_equal(evalnet_save(&a, path, NULL), 0);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0 && H5Ldelete(f, "params", H5P_DEFAULT) >= 0);
    hsize_t dims[5] = {1, 1, 1, 1, a.p.count};
    hid_t sp = H5Screate_simple(5, dims, NULL);
    hid_t d = H5Dcreate2(f, "params", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.p.data) >= 0);
    H5Dclose(d), H5Sclose(sp), H5Fclose(f);
    assert_int_equal(evalnet_load(&b, path, 4), RP_EFORMAT);
    char want[96];
    snprintf(want, sizeof want, "rank5.h5: /params: expected shape (%zu,), found (1, 1, 1, 1, %zu)", a.p.count,
             a.p.count);
    assert_non_null(strstr(rp_errmsg(), want));
    evalnet_free(&a);
    unlink(path);
}

/* ---------------------------------------------------------------- tiny datasets */
/* 12x12 bars: class 0 horizontal, class 1 vertical, at a random position and thickness over
 * faint noise. labels/gaze (N,2) is a learnable function of them: pitch from the position,
 * yaw from the orientation. invert = 255 - pixel (an obviously different domain). */
static void make_bars(const char *path, int n, uint64_t seed, int invert, int float_class) {
    enum { S = 12 };
    uint8_t *img = malloc((size_t)n * S * S);
    int32_t *cls = malloc(n * sizeof *cls);
    float *fcls = malloc(n * sizeof *fcls), *gaze = malloc(2 * n * sizeof *gaze);
    rng_t r;
    rng_seed(&r, seed, 0);
    for (int i = 0; i < n; i++) {
        int c = (int)rng_below(&r, 2), p = 1 + (int)rng_below(&r, 9), th = 1 + (int)rng_below(&r, 2);
        int v = 160 + (int)rng_below(&r, 96);
        uint8_t *im = img + (size_t)i * S * S;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int on = c == 0 ? (y >= p && y < p + th) : (x >= p && x < p + th);
                int px = on ? v : (int)rng_below(&r, 40);
                im[y * S + x] = (uint8_t)(invert ? 255 - px : px);
            }
        cls[i] = c, fcls[i] = (float)c;
        gaze[2 * i] = (float)((p - 5) * 0.04), gaze[2 * i + 1] = c ? 0.2f : -0.2f;
    }
    h5ds_column cols[2] = {{"labels/class", float_class ? H5DS_FLOAT32 : H5DS_INT32, 1, NULL},
                           {"labels/gaze", H5DS_FLOAT32, 2, "radians"}};
    h5ds_provenance prov = {.kind = "synthetic", .scene = "external", .seed = -1, .refiner_step = -1};
    h5ds_writer *w;
    assert_int_equal(h5ds_create(&w, path, S, S, 1, cols, 2, &prov, NULL), 0);
    const void *vals[2] = {float_class ? (const void *)fcls : (const void *)cls, gaze};
    assert_int_equal(h5ds_append(w, n, img, vals, NULL), 0);
    assert_int_equal(h5ds_finish(w), 0);
    free(img), free(cls), free(fcls), free(gaze);
}

static eval_options small_opts(const char *train, const char *test, const char *real) {
    eval_options o = {0};
    o.train = train, o.test = test, o.real = real, o.label = "class", o.name = "t";
    o.steps = 150, o.batch = 32, o.lr = 2e-3, o.lr_cosine = 1, o.seed = 1;
    o.domain_steps = 100, o.domain_rows = 800, o.frechet_rows = 1000, o.cache_mb = 64;
    o.quiet = 1;
    return o;
}

static void test_eval_learns_bars(void **state) {
    (void)state;
    const char *train = tpath("bars-train.h5"), *test = tpath("bars-test.h5");
    make_bars(train, 600, 1, 0, 0);
    make_bars(test, 400, 2, 0, 0);
    eval_options o = small_opts(train, test, NULL);
    o.predictions = tpath("bars-pred.csv");
    eval_result res;
    assert_int_equal(eval_run(&o, &res), 0);
    /* the predictions file: a header, then one row per test image whose hits add up to res.correct */
    FILE *f = fopen(o.predictions, "r");
    assert_non_null(f);
    char line[128];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "row,target,predicted\n");
    long rows = 0, hits = 0, row, target, pred;
    while (fscanf(f, "%ld,%ld,%ld", &row, &target, &pred) == 3) {
        assert_int_equal(row, rows++);
        assert_true(target == 0 || target == 1);
        hits += target == pred;
    }
    fclose(f);
    assert_int_equal(rows, 400);
    assert_int_equal(hits, res.correct);
    o.predictions = NULL;
    unlink(tpath("bars-pred.csv"));
    printf("    bars: accuracy %.3f after %ld steps (chance 0.5), final loss %.4f\n", res.value, o.steps,
           res.train_loss);
    assert_string_equal(res.metric, "accuracy");
    assert_int_equal(res.task, EVAL_CLASSIFY);
    assert_int_equal(res.outputs, 2);
    assert_int_equal(res.n_test, 400);
    assert_true(res.value > 0.9);
    assert_int_equal(res.class_count[0] + res.class_count[1], 400);
    assert_float_equal(res.value, (double)res.correct / 400, 1e-12);
    assert_true(res.class_accuracy[0] > 0.8 && res.class_accuracy[1] > 0.8);
    assert_int_equal(res.has_real, 0);
    /* the same images are accepted through an explicit dataset path too */
    char spec[300];
    snprintf(spec, sizeof spec, "%s:/images", train);
    o.train = spec, o.steps = 5;
    assert_int_equal(eval_run(&o, &res), 0);
    unlink(train), unlink(test);
}

static void test_eval_regression_gaze(void **state) {
    (void)state;
    const char *train = tpath("g-train.h5"), *test = tpath("g-test.h5");
    make_bars(train, 600, 11, 0, 0);
    make_bars(test, 300, 12, 0, 0);
    /* baseline: always predict the training mean */
    h5ds_reader *a, *b;
    float ga[600 * 2], gb[300 * 2];
    assert_int_equal(h5ds_open(&a, train), 0);
    assert_int_equal(h5ds_open(&b, test), 0);
    assert_int_equal(h5ds_read_column(a, "labels/gaze", 0, 600, ga, H5DS_FLOAT32), 0);
    assert_int_equal(h5ds_read_column(b, "labels/gaze", 0, 300, gb, H5DS_FLOAT32), 0);
    h5ds_close(a), h5ds_close(b);
    double mp = 0, my = 0, base = 0;
    for (int i = 0; i < 600; i++) mp += ga[2 * i] / 600, my += ga[2 * i + 1] / 600;
    for (int i = 0; i < 300; i++) base += metric_gaze_angle_deg(mp, my, gb[2 * i], gb[2 * i + 1]) / 300;
    eval_options o = small_opts(train, test, NULL);
    o.label = "gaze", o.steps = 200;
    eval_result res;
    assert_int_equal(eval_run(&o, &res), 0);
    printf("    gaze: %.3f degrees (mean predictor %.3f)\n", res.value, base);
    assert_string_equal(res.metric, "angular_error_deg");
    assert_int_equal(res.task, EVAL_REGRESS);
    assert_int_equal(res.outputs, 2);
    assert_true(res.value < 0.4 * base);
    unlink(train), unlink(test);
}

/* A "refined" copy of a bars file (same rows, labels and /index; kind refined, source_file = src)
 * whose images went through `how`: 0 = a little noise (labels kept), 1 = transposed, so that
 * horizontal bars become vertical ones and every label is wrong. */
static void make_refined_bars(const char *src, const char *out, int how) {
    enum { S = 12 };
    h5ds_reader *r;
    assert_int_equal(h5ds_open(&r, src), 0);
    long n = h5ds_get_info(r)->N;
    uint8_t *img = malloc((size_t)n * S * S), *t = malloc((size_t)n * S * S);
    int32_t *cls = malloc(n * sizeof *cls);
    float *gaze = malloc(2 * n * sizeof *gaze);
    assert_int_equal(h5ds_read_images_u8(r, 0, n, img), 0);
    assert_int_equal(h5ds_read_column(r, "labels/class", 0, n, cls, H5DS_INT32), 0);
    assert_int_equal(h5ds_read_column(r, "labels/gaze", 0, n, gaze, H5DS_FLOAT32), 0);
    h5ds_close(r);
    rng_t g;
    rng_seed(&g, 5, 5);
    for (long i = 0; i < n; i++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int v = how ? img[i * S * S + x * S + y] : img[i * S * S + y * S + x] + (int)rng_below(&g, 9) - 4;
                t[i * S * S + y * S + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    h5ds_column cols[2] = {{"labels/class", H5DS_INT32, 1, NULL}, {"labels/gaze", H5DS_FLOAT32, 2, "radians"}};
    h5ds_provenance prov = {.kind = "refined", .scene = "external", .seed = -1, .source_file = src,
                            .refiner_step = 1};
    h5ds_writer *w;
    assert_int_equal(h5ds_create(&w, out, S, S, 1, cols, 2, &prov, NULL), 0);
    const void *vals[2] = {cls, gaze};
    assert_int_equal(h5ds_append(w, n, t, vals, NULL), 0);
    assert_int_equal(h5ds_finish(w), 0);
    free(img), free(t), free(cls), free(gaze);
}

/* Label consistency: a refinement that keeps the labels scores a ratio near 1; one that turns
 * every bar (and so every class and gaze yaw) scores far above, for classes and for gaze; eval
 * finds the source through the refined file's source_file attribute, and names it. */
static void test_label_consistency(void **state) {
    (void)state;
    const char *syn = tpath("lc-syn.h5"), *kept = tpath("lc-kept.h5"), *broken = tpath("lc-broken.h5");
    const char *test = tpath("lc-test.h5");
    make_bars(syn, 800, 21, 0, 0);
    make_bars(test, 200, 22, 0, 0);
    make_refined_bars(syn, kept, 0);
    make_refined_bars(syn, broken, 1);
    eval_options o = small_opts(syn, test, NULL);
    o.consistency_steps = 150, o.consistency_rows = 300;
    eval_consistency c;
    assert_int_equal(eval_consistency_run(&o, syn, kept, &c), 0);
    printf("    classes, kept:   probe error %.3f -> %.3f, ratio %.2f, changed %.3f\n", c.synthetic, c.refined, c.ratio,
           c.changed);
    assert_string_equal(c.metric, "error");
    assert_int_equal(c.rows, 200); /* at most a quarter of the 800 rows */
    assert_true(c.synthetic < 0.05);
    assert_true(c.ratio < 1.5 && c.changed < 0.05);
    assert_int_equal(eval_consistency_run(&o, syn, broken, &c), 0);
    printf("    classes, broken: probe error %.3f -> %.3f, ratio %.2f, changed %.3f\n", c.synthetic, c.refined, c.ratio,
           c.changed);
    assert_true(c.refined > 0.8 && c.ratio > 10 && c.changed > 0.8);
    o.label = "gaze";
    assert_int_equal(eval_consistency_run(&o, syn, kept, &c), 0);
    double kept_ratio = c.ratio;
    assert_string_equal(c.metric, "angular_error_deg");
    assert_int_equal(eval_consistency_run(&o, syn, broken, &c), 0);
    printf("    gaze: kept ratio %.2f, broken %.2f (%.2f -> %.2f degrees)\n", kept_ratio, c.ratio, c.synthetic, c.refined);
    assert_true(kept_ratio < 1.5 && c.ratio > 3);
    assert_true(isnan(c.changed));
    /* through eval_run: found by source_file, reported with it */
    o.label = "class", o.train = broken;
    eval_result res;
    assert_int_equal(eval_run(&o, &res), 0);
    assert_true(res.has_consistency);
    assert_string_equal(res.consistency_source, syn);
    assert_true(res.consistency_ratio > 10);
    char *entry = report_json_entry(&res, 0);
    assert_non_null(strstr(entry, "\"label_consistency\": {"));
    assert_int_equal(json_check(entry, strlen(entry)), 0);
    free(entry);
    o.train = syn; /* a synthetic set: nothing to compare with */
    assert_int_equal(eval_run(&o, &res), 0);
    assert_false(res.has_consistency);
    /* rows that do not correspond are refused */
    const char *short_set = tpath("lc-short.h5");
    make_bars(short_set, 700, 23, 0, 0);
    assert_int_equal(eval_consistency_run(&o, syn, short_set, &c), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "its source"));
    unlink(syn), unlink(kept), unlink(broken), unlink(test), unlink(short_set);
}

static void test_domain_classifier_and_realism(void **state) {
    (void)state;
    const char *train = tpath("d-train.h5"), *test = tpath("d-test.h5"), *real = tpath("d-real.h5");
    const char *inv = tpath("d-inv.h5");
    make_bars(real, 800, 3, 0, 0);
    make_bars(train, 800, 4, 0, 0);
    make_bars(inv, 800, 5, 1, 0);
    make_bars(test, 200, 6, 0, 0);
    eval_options o = small_opts(train, test, real);
    o.steps = 40;
    eval_result same, diff;
    assert_int_equal(eval_run(&o, &same), 0);
    o.train = inv;
    assert_int_equal(eval_run(&o, &diff), 0);
    printf("    domain accuracy: same distribution %.3f, inverted %.3f (held out %ld per side)\n",
           same.domain_accuracy, diff.domain_accuracy, same.domain_heldout);
    printf("    Frechet: same %.4g, inverted %.4g; hist L1 same %.4f inverted %.4f; W1 %.4f / %.4f\n", same.frechet,
           diff.frechet, same.hist_l1, diff.hist_l1, same.hist_w1, diff.hist_w1);
    assert_int_equal(same.has_real, 1);
    assert_int_equal(same.domain_heldout, 400);
    assert_true(same.domain_accuracy > 0.38 && same.domain_accuracy < 0.62);
    assert_true(diff.domain_accuracy > 0.95);
    assert_int_equal(same.frechet_n_real, 800);
    assert_true(same.frechet >= 0 && diff.frechet > 10 * same.frechet);
    assert_true(same.hist_l1 < 0.1 && diff.hist_l1 > 1.5);
    assert_true(diff.hist_w1 > 0.5 && same.hist_w1 < 0.01);
    unlink(train), unlink(test), unlink(real), unlink(inv);
}

/* Training, test and real bars files P-train.h5 (300 rows), P-test.h5 (n_test), P-real.h5 (300)
 * from seeds seed, seed+1, seed+2, and short-budget options for them. */
static eval_options bars_trio(const char *p, int seed, int n_test) {
    char name[3][64];
    const char *kind[3] = {"train", "test", "real"};
    const char *path[3];
    for (int i = 0; i < 3; i++) {
        snprintf(name[i], sizeof name[i], "%s-%s.h5", p, kind[i]);
        path[i] = strdup(tpath(name[i]));
        assert_non_null(path[i]);
        make_bars(path[i], i == 1 ? n_test : 300, seed + i, 0, 0);
    }
    eval_options o = small_opts(path[0], path[1], path[2]);
    o.domain_rows = 200;
    return o;
}

static void bars_trio_free(eval_options *o) {
    const char *f[3] = {o->train, o->test, o->real};
    for (int i = 0; i < 3; i++) unlink(f[i]), free((char *)f[i]);
}

static void test_eval_deterministic(void **state) {
    (void)state;
    eval_options o = bars_trio("x", 21, 100);
    o.steps = 30, o.domain_steps = 20;
    eval_result a, b, c;
    assert_int_equal(eval_run(&o, &a), 0);
    assert_int_equal(eval_run(&o, &b), 0);
    assert_memory_equal(&a.value, &b.value, sizeof a.value);
    assert_memory_equal(&a.train_loss, &b.train_loss, sizeof a.train_loss);
    assert_memory_equal(&a.domain_accuracy, &b.domain_accuracy, sizeof a.domain_accuracy);
    assert_memory_equal(&a.frechet, &b.frechet, sizeof a.frechet);
    /* streaming rows through the reader instead of the cache gives the same pixels, same bits */
    o.cache_mb = 0;
    assert_int_equal(eval_run(&o, &b), 0);
    assert_memory_equal(&a.value, &b.value, sizeof a.value);
    assert_memory_equal(&a.train_loss, &b.train_loss, sizeof a.train_loss);
    assert_memory_equal(&a.frechet, &b.frechet, sizeof a.frechet);
    assert_memory_equal(&a.hist_l1, &b.hist_l1, sizeof a.hist_l1);
    o.cache_mb = 64, o.seed = 2;
    assert_int_equal(eval_run(&o, &c), 0);
    assert_true(c.train_loss != a.train_loss);
    bars_trio_free(&o);
}

/* eval.repeats = 3 from seed 1 is three single evaluations with seeds 1, 2, 3: the same bits for
 * each seed's score and domain-classifier accuracy, their means, the mean loss and per-class
 * accuracies; the Frechet distance from the first seed's network. */
static void test_eval_repeats(void **state) {
    (void)state;
    eval_options o = bars_trio("r", 31, 200);
    o.steps = 8, o.domain_steps = 10; /* short: the seeds disagree */
    eval_result one[3], *all = malloc(sizeof *all);
    assert_non_null(all);
    for (int i = 0; i < 3; i++) {
        o.seed = 1 + i;
        assert_int_equal(eval_run(&o, &one[i]), 0);
        assert_int_equal(one[i].repeats, 1);
        assert_memory_equal(&one[i].values[0], &one[i].value, sizeof(double));
    }
    assert_true(one[0].value != one[1].value || one[1].value != one[2].value);
    o.seed = 1, o.repeats = 3;
    assert_int_equal(eval_run(&o, all), 0);
    assert_int_equal(all->repeats, 3);
    for (int i = 0; i < 3; i++) assert_memory_equal(&all->values[i], &one[i].value, sizeof(double));
    double mean = (one[0].value + one[1].value + one[2].value) / 3;
    double loss = (one[0].train_loss + one[1].train_loss + one[2].train_loss) / 3;
    assert_memory_equal(&all->value, &mean, sizeof mean);
    assert_memory_equal(&all->train_loss, &loss, sizeof loss);
    for (int k = 0; k < 2; k++) {
        double ck = (one[0].class_accuracy[k] + one[1].class_accuracy[k] + one[2].class_accuracy[k]) / 3;
        assert_float_equal(all->class_accuracy[k], ck, 1e-12);
    }
    assert_int_equal(all->correct, one[0].correct);
    /* one domain classifier per seed, each on its own held-out split; Frechet from the first net */
    double dom = (one[0].domain_accuracy + one[1].domain_accuracy + one[2].domain_accuracy) / 3;
    for (int i = 0; i < 3; i++) assert_memory_equal(&all->domain_values[i], &one[i].domain_accuracy, sizeof(double));
    assert_memory_equal(&all->domain_accuracy, &dom, sizeof dom);
    assert_memory_equal(&all->frechet, &one[0].frechet, sizeof(double));
    /* report.json lists every seed's value and no single-seed "correct" count */
    char *entry = report_json_entry(all, 0);
    assert_non_null(entry);
    assert_int_equal(json_check(entry, strlen(entry)), 0);
    assert_non_null(strstr(entry, "\"repeats\": 3"));
    assert_non_null(strstr(entry, "\"domain_values\": ["));
    const char *v = strstr(entry, "\"values\": [");
    assert_non_null(v);
    int commas = 0;
    for (const char *c = v; *c && *c != ']'; c++) commas += *c == ',';
    assert_int_equal(commas, 2);
    assert_null(strstr(entry, "\"correct\""));
    free(entry);
    o.repeats = EVAL_MAX_REPEATS + 1;
    assert_int_equal(eval_run(&o, all), RP_EARG);
    free(all);
    bars_trio_free(&o);
}

/* A real pool given as an external float32 dataset (file.h5:/path, values px/255) measures the
 * same as the uint8 file it came from. */
static void test_float32_external_pool(void **state) {
    (void)state;
    const char *train = tpath("f-train.h5"), *test = tpath("f-test.h5"), *real = tpath("f-real.h5");
    const char *fl = tpath("f-float.h5");
    make_bars(train, 200, 51, 0, 0);
    make_bars(test, 50, 52, 0, 0);
    make_bars(real, 200, 53, 1, 0);
    h5ds_reader *r;
    uint8_t px[200 * 144];
    float v[200 * 144];
    assert_int_equal(h5ds_open(&r, real), 0);
    assert_int_equal(h5ds_read_images_u8(r, 0, 200, px), 0);
    h5ds_close(r);
    for (int i = 0; i < 200 * 144; i++) v[i] = px[i] * (1.0f / 255.0f);
    hid_t f = H5Fcreate(fl, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {200, 12, 12};
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t ds = H5Dcreate2(f, "pool", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(ds), H5Sclose(sp), H5Fclose(f);
    char spec[300];
    snprintf(spec, sizeof spec, "%s:/pool", fl);
    eval_options o = small_opts(train, test, real);
    o.steps = 10, o.domain_steps = 10, o.domain_rows = 100;
    eval_result a, b, c;
    assert_int_equal(eval_run(&o, &a), 0);
    o.real = spec;
    assert_int_equal(eval_run(&o, &b), 0);
    o.cache_mb = 0;
    assert_int_equal(eval_run(&o, &c), 0);
    assert_memory_equal(&a.frechet, &b.frechet, sizeof a.frechet);
    assert_memory_equal(&a.domain_accuracy, &b.domain_accuracy, sizeof a.domain_accuracy);
    assert_memory_equal(&a.hist_l1, &b.hist_l1, sizeof a.hist_l1);
    assert_memory_equal(&a.frechet, &c.frechet, sizeof a.frechet);
    assert_memory_equal(&a.hist_w1, &c.hist_w1, sizeof a.hist_w1);
    unlink(train), unlink(test), unlink(real), unlink(fl);
}

/* ---------------------------------------------------------------- errors */
static void test_eval_errors_name_file_and_dataset(void **state) {
    (void)state;
    const char *train = tpath("e-train.h5"), *test = tpath("e-test.h5");
    make_bars(train, 50, 31, 0, 0);
    make_bars(test, 20, 32, 0, 1); /* labels/class stored as float32 */
    eval_options o = small_opts(train, test, NULL);
    o.steps = 2;
    eval_result res;
    o.label = "nosuch";
    assert_int_equal(eval_run(&o, &res), RP_EFORMAT);
    printf("    %s\n", rp_errmsg());
    assert_non_null(strstr(rp_errmsg(), "e-train.h5"));
    assert_non_null(strstr(rp_errmsg(), "/labels/nosuch"));
    assert_non_null(strstr(rp_errmsg(), "class, gaze"));
    o.label = "class";
    assert_int_equal(eval_run(&o, &res), RP_EFORMAT);
    printf("    %s\n", rp_errmsg());
    assert_non_null(strstr(rp_errmsg(), "e-test.h5: /labels/class: expected integer classes"));
    assert_non_null(strstr(rp_errmsg(), "float32"));
    o.test = tpath("absent.h5");
    assert_int_not_equal(eval_run(&o, &res), 0);
    assert_non_null(strstr(rp_errmsg(), "absent.h5"));
    unlink(train), unlink(test);
}

/* ---------------------------------------------------------------- report.json */
static int count_of(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++) n++;
    return n;
}

static void test_json_checker(void **state) {
    (void)state;
    const char *good[] = {"{}", " [1, -2.5e-3, 0, true, false, null, \"a\\n\\u00e9\"] ", "{\"a\": {\"b\": [[]]}}", "3"};
    const char *bad[] = {"{,}", "[1,]", "{\"a\" 1}", "01", "nan", "\"x", "{} {}", "[1.]", "\"\\q\"", ""};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) assert_int_equal(json_check(good[i], strlen(good[i])), 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(json_check(bad[i], strlen(bad[i])), RP_EFORMAT);
}

static void test_report_json_update(void **state) {
    (void)state;
    const char *path = tpath("report.json");
    int files = dir_count(tmpdir);
    eval_result r;
    memset(&r, 0, sizeof r);
    strcpy(r.train, "syn\"thetic.h5"), strcpy(r.test, "t.h5"), strcpy(r.label, "class"), strcpy(r.metric, "accuracy");
    r.outputs = 3, r.value = 0.75, r.correct = 3, r.n_test = 4;
    r.class_accuracy[0] = 1, r.class_accuracy[1] = 0.5, r.class_accuracy[2] = NAN;
    r.class_count[0] = 2, r.class_count[1] = 2;
    r.has_real = 1, r.domain_accuracy = 0.9, r.frechet = 12.5, r.hist_l1 = 0.1, r.hist_w1 = NAN;
    assert_int_equal(report_json_update(path, "synthetic", &r), 0);
    r.value = 0.5, r.has_real = 0;
    assert_int_equal(report_json_update(path, "refined", &r), 0);
    char *s = slurp(path);
    assert_non_null(s);
    assert_int_equal(json_check(s, strlen(s)), 0);
    assert_non_null(strstr(s, "\"refine_report\": 1"));
    assert_int_equal(count_of(s, "\"synthetic\": {"), 1);
    assert_int_equal(count_of(s, "\"refined\": {"), 1);
    assert_non_null(strstr(s, "\"syn\\\"thetic.h5\""));
    assert_non_null(strstr(s, "\"class_accuracy\": [1, 0.5, null]"));
    assert_non_null(strstr(s, "\"frechet_distance\": 12.5"));
    assert_non_null(strstr(s, "\"histogram_w1\": null"));
    assert_non_null(strstr(s, "\"realism\": null"));
    free(s);
    /* replacing an entry keeps the others and the order; other top-level keys are kept verbatim */
    assert_int_equal(report_json_set(path, "run", "{\"run_dir\": \"runs/x\", \"steps\": [1, 2]}"), 0);
    r.value = 0.25;
    assert_int_equal(report_json_update(path, "synthetic", &r), 0);
    s = slurp(path);
    assert_int_equal(json_check(s, strlen(s)), 0);
    assert_int_equal(count_of(s, "\"synthetic\": {"), 1);
    assert_int_equal(count_of(s, "\"value\": "), 2);
    assert_non_null(strstr(s, "\"value\": 0.25"));
    assert_non_null(strstr(s, "\"value\": 0.5"));
    assert_true(strstr(s, "\"synthetic\"") < strstr(s, "\"refined\""));
    assert_non_null(strstr(s, "\"run\": {\"run_dir\": \"runs/x\", \"steps\": [1, 2]}"));
    assert_int_equal(report_json_set(path, "bad", "{nope"), RP_EARG);
    free(s);
    assert_int_equal(dir_count(tmpdir), files + 1); /* no temp files */
    /* a file that is not a JSON object is an error, and is left untouched */
    FILE *f = fopen(path, "w");
    fputs("[1, 2", f);
    fclose(f);
    assert_int_equal(report_json_update(path, "synthetic", &r), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "report.json"));
    s = slurp(path);
    assert_string_equal(s, "[1, 2");
    free(s);
    f = fopen(path, "w");
    fputs("[]", f);
    fclose(f);
    assert_int_equal(report_json_update(path, "synthetic", &r), RP_EFORMAT);
    /* a NUL byte is not the end of the file: the text after it makes it invalid JSON (found by
     * fuzz_json: the file was read up to the NUL and rewritten without the rest;
     * tests/corpus/json/crash-nul-byte) */
    f = fopen(path, "wb");
    fwrite("{\"a\": 1}\0{", 1, 10, f);
    fclose(f);
    assert_int_equal(report_json_set(path, "b", "2"), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "at byte 8"));
    unlink(path);
}

/* The cosine schedule starts at eval.lr, halves it midway and ends near 0; both schedules
 * train (the same seed gives a different network) and the report names the one used. */
static void test_lr_schedule(void **state) {
    (void)state;
    const char *train = tpath("s-train.h5"), *test = tpath("s-test.h5");
    make_bars(train, 300, 51, 0, 0);
    make_bars(test, 100, 52, 0, 0);
    eval_options o = small_opts(train, test, NULL);
    assert_float_equal(eval_lr_at(&o, 0, 100), 2e-3, 1e-15);
    assert_float_equal(eval_lr_at(&o, 50, 100), 1e-3, 1e-15);
    assert_true(eval_lr_at(&o, 99, 100) < 1e-6);
    for (long s = 1; s < 100; s++) assert_true(eval_lr_at(&o, s, 100) < eval_lr_at(&o, s - 1, 100));
    eval_result cos_res, const_res;
    o.steps = 60;
    assert_int_equal(eval_run(&o, &cos_res), 0);
    o.lr_cosine = 0;
    for (long s = 0; s < 100; s++) assert_true(eval_lr_at(&o, s, 100) == 2e-3);
    assert_int_equal(eval_run(&o, &const_res), 0);
    assert_int_equal(cos_res.lr_cosine, 1);
    assert_int_equal(const_res.lr_cosine, 0);
    assert_true(cos_res.train_loss != const_res.train_loss);
    const char *report = tpath("s-report.json");
    assert_int_equal(report_json_update(report, "a", &cos_res), 0);
    assert_int_equal(report_json_update(report, "b", &const_res), 0);
    char *s = slurp(report);
    assert_non_null(strstr(strstr(s, "\"a\": {"), "\"lr_schedule\": \"cosine\""));
    assert_non_null(strstr(strstr(s, "\"b\": {"), "\"lr_schedule\": \"constant\""));
    free(s);
    unlink(train), unlink(test), unlink(report);
}

/* The command end to end: the synthetic-style run saves the feature network, a later run with a
 * different seed loads it and measures the Fréchet distance with exactly the same features. */
static void test_cmd_eval_shared_features(void **state) {
    (void)state;
    const char *train = tpath("c-train.h5"), *test = tpath("c-test.h5"), *real = tpath("c-real.h5");
    const char *feat = tpath("c-feat.h5"), *report = tpath("c-report.json");
    make_bars(train, 200, 41, 0, 0);
    make_bars(test, 100, 42, 0, 0);
    make_bars(real, 200, 43, 1, 0);
    char *a1[] = {"--train", (char *)train, "--test", (char *)test, "--real", (char *)real, "--save-features",
                  (char *)feat, "-o", (char *)report, "--name", "synthetic", "--quiet", "--set", "eval.steps=20",
                  "--set", "eval.domain_steps=10", "--set", "eval.batch=16"};
    assert_int_equal(cmd_eval(sizeof a1 / sizeof *a1, a1), 0);
    char *a2[] = {"--train", (char *)train, "--test", (char *)test, "--real", (char *)real, "--features", (char *)feat,
                  "-o", (char *)report, "--quiet", "--set", "eval.steps=20", "--set", "eval.domain_steps=10",
                  "--set", "eval.batch=16", "--set", "eval.seed=9"};
    assert_int_equal(cmd_eval(sizeof a2 / sizeof *a2, a2), 0);
    char *a3[] = {"--train", (char *)train, "--test", (char *)test, "--real", (char *)real, "-o", (char *)report,
                  "--name", "own", "--quiet", "--set", "eval.steps=20", "--set", "eval.domain_steps=10", "--set",
                  "eval.batch=16", "--set", "eval.seed=9"};
    assert_int_equal(cmd_eval(sizeof a3 / sizeof *a3, a3), 0);
    char *s = slurp(report);
    assert_non_null(s);
    assert_int_equal(json_check(s, strlen(s)), 0);
    /* the default name is the training file's base name */
    assert_non_null(strstr(s, "\"c-train\": {"));
    char *p1 = strstr(s, "\"synthetic\": {"), *p2 = strstr(s, "\"c-train\": {"), *p3 = strstr(s, "\"own\": {");
    assert_non_null(p1), assert_non_null(p2), assert_non_null(p3);
    double f1 = strtod(strstr(p1, "\"frechet_distance\": ") + 20, NULL);
    double f2 = strtod(strstr(p2, "\"frechet_distance\": ") + 20, NULL);
    double f3 = strtod(strstr(p3, "\"frechet_distance\": ") + 20, NULL);
    printf("    Frechet: saved net %.9g, loaded net (other seed) %.9g, own net (other seed) %.9g\n", f1, f2, f3);
    assert_true(f1 > 0);
    assert_true(f1 == f2); /* same features, same rows (all of them) */
    assert_true(f3 != f1);
    assert_non_null(strstr(p2, "c-feat.h5"));
    free(s);
    /* usage errors */
    char *bad1[] = {"--train", (char *)train, "--test", (char *)test, "--features", (char *)feat, "--save-features",
                    (char *)feat, "--quiet"};
    assert_int_equal(cmd_eval(sizeof bad1 / sizeof *bad1, bad1), 2);
    char *bad2[] = {"--test", (char *)test, "--quiet"};
    assert_int_equal(cmd_eval(sizeof bad2 / sizeof *bad2, bad2), 2);
    unlink(train), unlink(test), unlink(real), unlink(feat), unlink(report);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sym_eig_and_sqrtm),
        cmocka_unit_test(test_frechet_closed_forms),
        cmocka_unit_test(test_histogram_distances_and_gaze),
        cmocka_unit_test(test_evalnet_shapes_and_gradients),
        cmocka_unit_test(test_evalnet_save_load),
        cmocka_unit_test(test_evalnet_load_wrong_rank),
        cmocka_unit_test(test_evalnet_load_implausible_size),
        cmocka_unit_test(test_label_consistency),
        cmocka_unit_test(test_eval_learns_bars),
        cmocka_unit_test(test_eval_regression_gaze),
        cmocka_unit_test(test_domain_classifier_and_realism),
        cmocka_unit_test(test_eval_deterministic),
        cmocka_unit_test(test_eval_repeats),
        cmocka_unit_test(test_float32_external_pool),
        cmocka_unit_test(test_eval_errors_name_file_and_dataset),
        cmocka_unit_test(test_json_checker),
        cmocka_unit_test(test_report_json_update),
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_cmd_eval_shared_features),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
