/* Tests of the networks against PyTorch (tests/reference/simgan_ref.h5, written by
 * make_reference.py): R and D with the fixture's weights must reproduce its outputs, losses,
 * every stored gradient and the Adam / SGD trajectories; a perturbed fixture must fail. Also
 * whole-network finite differences along random directions, geometry, parameter blocks and
 * optimizers against hand-computed updates.
 *
 * Tolerance (float32 C vs a float64 reference), element i of a tensor r passes if
 *     |c_i - r_i| <= ATOL * max|r| + (RTOL + s) * |r_i|
 * with RTOL = 2e-4, ATOL = 2e-5 and s = 2^-(bits+1) for references stored with `bits` mantissa
 * bits (0 otherwise). Why: float32 carries 2^-24 = 6e-8 relative per operation; a conv sums up
 * to 576 products and a weight gradient up to 3850 positions (eyes, N=2), through 10 layers, so
 * errors of 1e-6..1e-5 relative to a tensor's scale are expected, 10-100x below the bound. The
 * ATOL term, scaled by the tensor's largest element, covers elements that are small because of
 * cancellation (their error follows the size of the terms, not of the result). A real mistake
 * (wrong padding, a missing ReLU, a transposed kernel) changes values by O(1) relative. Scalars
 * (losses) use RTOL alone. Optimizer trajectories compare the update p_k - p_0, same rule plus
 * (k+1) ulps of the parameter (both sides hold p_k in float32).
 * The fixture keeps every ReLU, max-pool and L1 decision far from its kink (see the script),
 * so both sides take the same branches. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "losses/losses.h"
#include "nn/conv2d_fast.h"
#include "nn/gemm.h"
#include "nn/optim.h"
#include "nn/params.h"
#include "base/rng.h"
#include "refiner/disc.h"
#include "refiner/refiner.h"
#include "tests/gradcheck.h"

#define FIXTURE "tests/reference/simgan_ref.h5"
#define RTOL 2e-4
#define ATOL 2e-5

/* ------------------------------------------------------------------------------------------ */
/* The fixture: datasets read on first use and cached, so a test can perturb a value in memory. */

#define FX_MAX 256

typedef struct {
    char path[128];
    float *f;      /* tensor (n floats), or NULL for a scalar */
    double d;      /* scalar */
    size_t n;
    int mbits;     /* stored mantissa bits (0 = full float32) */
} fx_entry;

typedef struct {
    hid_t file;
    int n;
    fx_entry e[FX_MAX];
} fixture;

static void fx_open(fixture *fx) {
    memset(fx, 0, sizeof *fx);
    fx->file = H5Fopen(FIXTURE, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fx->file < 0)
        fail_msg("%s: cannot open (run from the repository root; regenerate with "
                 "/usr/bin/python3 tests/reference/make_reference.py)",
                 FIXTURE);
}

static void fx_close(fixture *fx) {
    for (int i = 0; i < fx->n; i++) free(fx->e[i].f);
    assert_true(H5Fclose(fx->file) >= 0);
    fx->n = 0;
}

/* 1 if every link along path exists (H5Lexists needs the intermediate groups to exist). */
static int fx_exists(fixture *fx, const char *path) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            htri_t e = H5Lexists(fx->file, buf, H5P_DEFAULT);
            assert_true(e >= 0);
            if (!e) return 0;
            if (!c) return 1;
            *p = c;
        }
    }
}

static int read_int_attr(hid_t obj, const char *name, long *v) {
    htri_t e = H5Aexists(obj, name);
    assert_true(e >= 0);
    if (!e) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Aread(a, H5T_NATIVE_LONG, v) >= 0);
    assert_true(H5Aclose(a) >= 0);
    return 1;
}

/* The dataset at path (NULL if absent). Tensors are read as float, scalars as double. */
static fx_entry *fx_get(fixture *fx, const char *path) {
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->e[i].path, path) == 0) return &fx->e[i];
    if (!fx_exists(fx, path)) return NULL;
    assert_true(fx->n < FX_MAX);
    fx_entry *e = &fx->e[fx->n];
    memset(e, 0, sizeof *e);
    snprintf(e->path, sizeof e->path, "%s", path);
    hid_t ds = H5Dopen2(fx->file, path, H5P_DEFAULT);
    assert_true(ds >= 0);
    hid_t sp = H5Dget_space(ds);
    assert_true(sp >= 0);
    int rank = H5Sget_simple_extent_ndims(sp);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    assert_true(rank >= 0 && n > 0);
    e->n = (size_t)n;
    if (rank == 0) {
        assert_true(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &e->d) >= 0);
    } else {
        e->f = malloc(e->n * sizeof(float));
        assert_non_null(e->f);
        assert_true(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, e->f) >= 0);
        long bits = 0;
        if (read_int_attr(ds, "mantissa_bits", &bits)) e->mbits = (int)bits;
    }
    assert_true(H5Sclose(sp) >= 0);
    assert_true(H5Dclose(ds) >= 0);
    fx->n++;
    return e;
}

static fx_entry *fx_need(fixture *fx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static fx_entry *fx_need(fixture *fx, const char *fmt, ...) {
    char path[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    fx_entry *e = fx_get(fx, path);
    if (!e) fail_msg("%s: dataset %s missing", FIXTURE, path);
    return e;
}

static long fx_attr(fixture *fx, const char *group, const char *name) {
    hid_t g = H5Gopen2(fx->file, group, H5P_DEFAULT);
    assert_true(g >= 0);
    long v = 0;
    if (!read_int_attr(g, name, &v)) fail_msg("%s: %s: attribute %s missing", FIXTURE, group, name);
    assert_true(H5Gclose(g) >= 0);
    return v;
}

static double fx_attr_double(fixture *fx, const char *group, const char *name) {
    hid_t g = H5Gopen2(fx->file, group, H5P_DEFAULT);
    assert_true(g >= 0);
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    if (a < 0) fail_msg("%s: %s: attribute %s missing", FIXTURE, group, name);
    double v;
    assert_true(H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    assert_true(H5Aclose(a) >= 0);
    assert_true(H5Gclose(g) >= 0);
    return v;
}

/* ------------------------------------------------------------------------------------------ */
/* Comparison: one line per tensor with its worst element; returns 1 if the tensor fails. */

static int cmp_verbose = 1; /* 0: print mismatching tensors only */

typedef struct {
    int tensors, failed;
    double worst_ratio; /* largest error / bound over everything compared */
    char worst_name[128];
} cmp_stats;

/* floor (may be NULL) adds a per-element allowance to the bound. */
static int compare_d(cmp_stats *st, const char *name, const double *c, const double *r, size_t n, int mbits,
                     const double *floor) {
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(r[i]));
    const double rtol = RTOL + (mbits ? ldexp(1.0, -(mbits + 1)) : 0);
    const double atol = n > 1 ? ATOL * scale : 0;
    size_t wi = 0, bad = 0;
    double wratio = -1;
    for (size_t i = 0; i < n; i++) {
        double err = fabs(c[i] - r[i]), bound = atol + rtol * fabs(r[i]) + (floor ? floor[i] : 0);
        double ratio = isnan(err) ? INFINITY : bound > 0 ? err / bound : (err > 0 ? INFINITY : 0);
        bad += !(err <= bound);
        if (ratio > wratio) wratio = ratio, wi = i;
    }
    double err = fabs(c[wi] - r[wi]);
    if (cmp_verbose || bad)
        printf("    %-34s n=%-6zu worst [%zu] C %.8g ref %.8g abs %.2e rel %.2e err/bound %.3f%s\n", name, n, wi, c[wi],
           r[wi], err, r[wi] != 0 ? err / fabs(r[wi]) : err, wratio, bad ? "  MISMATCH" : "");
    if (st) {
        st->tensors++;
        st->failed += bad > 0;
        if (wratio > st->worst_ratio) {
            st->worst_ratio = wratio;
            snprintf(st->worst_name, sizeof st->worst_name, "%s", name);
        }
    }
    return bad > 0;
}

static int compare_f(cmp_stats *st, const char *name, const float *c, const fx_entry *ref) {
    double *a = malloc(ref->n * sizeof *a), *b = malloc(ref->n * sizeof *b);
    assert_true(a && b);
    for (size_t i = 0; i < ref->n; i++) a[i] = c[i], b[i] = ref->f[i];
    int bad = compare_d(st, name, a, b, ref->n, ref->mbits, NULL);
    free(a), free(b);
    return bad;
}

static int compare_scalar(cmp_stats *st, const char *name, double c, const fx_entry *ref) {
    assert_null(ref->f);
    return compare_d(st, name, &c, &ref->d, 1, 0, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* The fixture's computation in C. */

typedef struct {
    int C, F, B, H, W, N, OH, OW;
    double lambda;
    refiner r;
    disc d;
    float *x, *real, *rx, *drx, *dx, *logits, *probs, *dlogits, *batch, *dbatch, *r0;
    int *target;
} net_case;

static void load_tensor(fixture *fx, float *dst, size_t n, const char *path) {
    fx_entry *e = fx_need(fx, "%s", path);
    if (e->n != n) fail_msg("%s: %s has %zu values, the C network expects %zu", FIXTURE, path, e->n, n);
    memcpy(dst, e->f, n * sizeof(float));
}

static float *alloc0(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

static void case_init(net_case *k, fixture *fx, const char *g) {
    memset(k, 0, sizeof *k);
    k->C = (int)fx_attr(fx, g, "C"), k->F = (int)fx_attr(fx, g, "F"), k->B = (int)fx_attr(fx, g, "B");
    k->H = (int)fx_attr(fx, g, "H"), k->W = (int)fx_attr(fx, g, "W"), k->N = (int)fx_attr(fx, g, "N");
    k->lambda = fx_attr_double(fx, g, "lambda");
    refiner_config rc = {k->C, k->F, k->B, REFINER_OUT_TANH};
    disc_config dc = {k->C, 2};
    assert_int_equal(refiner_init(&k->r, &rc, 1), 0);
    assert_int_equal(disc_init(&k->d, &dc, 2), 0);
    /* Prepared for more images than used, so a mix-up of n and N in the layouts shows. */
    assert_int_equal(refiner_prepare(&k->r, k->N + 1, k->H, k->W), 0);
    assert_int_equal(disc_prepare(&k->d, 2 * k->N + 1, k->H, k->W), 0);
    k->OH = k->d.OH, k->OW = k->d.OW;
    char path[128];
    for (int i = 0; i < k->r.p.ntensors; i++) {
        const param_tensor *t = &k->r.p.tensors[i];
        snprintf(path, sizeof path, "%s/R/%s", g, t->name);
        load_tensor(fx, k->r.p.data + t->offset, t->count, path);
    }
    for (int i = 0; i < k->d.p.ntensors; i++) {
        const param_tensor *t = &k->d.p.tensors[i];
        snprintf(path, sizeof path, "D/%s", t->name);
        load_tensor(fx, k->d.p.data + t->offset, t->count, path);
    }
    size_t img = (size_t)k->N * k->C * k->H * k->W, map = (size_t)2 * k->N * 2 * k->OH * k->OW;
    k->x = alloc0(img), k->real = alloc0(img), k->rx = alloc0(img), k->drx = alloc0(img), k->dx = alloc0(img);
    k->batch = alloc0(2 * img), k->dbatch = alloc0(2 * img);
    k->logits = alloc0(map), k->probs = alloc0(map), k->dlogits = alloc0(map);
    k->r0 = alloc0(k->r.p.count);
    memcpy(k->r0, k->r.p.data, k->r.p.count * sizeof(float));
    k->target = calloc(2 * k->N, sizeof(int));
    assert_non_null(k->target);
    snprintf(path, sizeof path, "%s/x", g);
    load_tensor(fx, k->x, img, path);
    snprintf(path, sizeof path, "%s/real", g);
    load_tensor(fx, k->real, img, path);
}

static void case_free(net_case *k) {
    refiner_free(&k->r);
    disc_free(&k->d);
    float *bufs[] = {k->x, k->real, k->rx, k->drx, k->dx, k->logits, k->probs, k->dlogits, k->batch, k->dbatch, k->r0};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(k->target);
}

/* The refiner step: loss = adv(D(R(x)), real) + lambda * sum|R(x) - x|; R's gradients into
 * r.p.grad (zeroed first), dL/dR(x) into drx, dL/dx into dx. D must not get gradients. */
static double refiner_step(net_case *k, double *adv, double *l1) {
    const int N = k->N;
    const size_t img = (size_t)N * k->C * k->H * k->W, map = (size_t)N * 2 * k->OH * k->OW;
    param_block_zero_grad(&k->r.p);
    refiner_forward(&k->r, k->rx, k->x, N);
    disc_forward(&k->d, k->logits, k->rx, N);
    for (int i = 0; i < N; i++) k->target[i] = ADV_REAL;
    *adv = adv_loss_forward(k->probs, k->logits, k->target, N, k->OH, k->OW, NULL);
    *l1 = l1_forward(k->rx, k->x, img);
    memset(k->dlogits, 0, map * sizeof(float));
    adv_loss_backward(k->dlogits, k->probs, k->target, N, k->OH, k->OW, 1.0f);
    memset(k->drx, 0, img * sizeof(float));
    disc_backward(&k->d, k->drx, k->dlogits, N, 0);
    l1_backward(k->drx, k->rx, k->x, img, (float)k->lambda);
    memset(k->dx, 0, img * sizeof(float));
    refiner_backward(&k->r, k->dx, k->drx, N);
    /* x also enters the L1 term directly: d/dx |R(x) - x| = sign(x - R(x)). */
    l1_backward(k->dx, k->x, k->rx, img, (float)k->lambda);
    return *adv + k->lambda * *l1;
}

/* Compares every gradient of R stored under prefix/<name>; returns how many were found. */
static int compare_params(cmp_stats *st, fixture *fx, const param_block *p, const float *vals, const char *prefix) {
    int found = 0;
    char path[128];
    for (int i = 0; i < p->ntensors; i++) {
        const param_tensor *t = &p->tensors[i];
        snprintf(path, sizeof path, "%s/%s", prefix, t->name);
        fx_entry *e = fx_get(fx, path);
        if (!e) continue;
        assert_int_equal(e->n, t->count);
        compare_f(st, path, vals + t->offset, e);
        found++;
    }
    return found;
}

/* Runs the whole group g and compares everything stored for it. */
static void run_case(fixture *fx, const char *g, cmp_stats *st) {
    net_case k;
    case_init(&k, fx, g);
    const int N = k.N;
    const size_t img = (size_t)N * k.C * k.H * k.W, half = (size_t)N * 2 * k.OH * k.OW;
    char path[128];
#define REF(name) (snprintf(path, sizeof path, "%s/%s", g, name), fx_need(fx, "%s", path))
    printf("  %s: R(%d,%d) and D on %d x %dx%dx%d, D map %dx%d\n", g, k.F, k.B, N, k.C, k.H, k.W, k.OH, k.OW);

    /* refiner step */
    double adv, l1, loss = refiner_step(&k, &adv, &l1);
    compare_f(st, REF("refine/Rx")->path, k.rx, REF("refine/Rx"));
    compare_f(st, REF("refine/logits")->path, k.logits, REF("refine/logits"));
    compare_scalar(st, REF("refine/adv")->path, adv, REF("refine/adv"));
    compare_scalar(st, REF("refine/l1")->path, l1, REF("refine/l1"));
    compare_scalar(st, REF("refine/loss")->path, loss, REF("refine/loss"));
    compare_f(st, REF("refine/dRx")->path, k.drx, REF("refine/dRx"));
    compare_f(st, REF("refine/dx")->path, k.dx, REF("refine/dx"));
    snprintf(path, sizeof path, "%s/refine/gradR", g);
    int found = compare_params(st, fx, &k.r.p, k.r.p.grad, path);
    /* eyes stores a subset of R(64,4)'s gradients (size), digits all of them */
    assert_true(found >= 2 * k.B + 4);
    if (k.F <= 16) assert_int_equal(found, k.r.p.ntensors);
    for (size_t i = 0; i < k.d.p.count; i++) assert_true(k.d.p.grad[i] == 0.0f);

    /* discriminator step: real half then refined half, loss = mean CE(real) + mean CE(refined) */
    memcpy(k.batch, k.real, img * sizeof(float));
    memcpy(k.batch + img, k.rx, img * sizeof(float));
    for (int i = 0; i < N; i++) k.target[i] = ADV_REAL, k.target[N + i] = ADV_REFINED;
    param_block_zero_grad(&k.d.p);
    disc_forward(&k.d, k.logits, k.batch, 2 * N);
    long c_real, c_fake;
    double l_real = adv_loss_forward(k.probs, k.logits, k.target, N, k.OH, k.OW, &c_real);
    double l_fake = adv_loss_forward(k.probs + half, k.logits + half, k.target + N, N, k.OH, k.OW, &c_fake);
    memset(k.dlogits, 0, 2 * half * sizeof(float));
    adv_loss_backward(k.dlogits, k.probs, k.target, N, k.OH, k.OW, 1.0f);
    adv_loss_backward(k.dlogits + half, k.probs + half, k.target + N, N, k.OH, k.OW, 1.0f);
    memset(k.dbatch, 0, 2 * img * sizeof(float));
    disc_backward(&k.d, k.dbatch, k.dlogits, 2 * N, 1);
    compare_f(st, REF("dstep/logits")->path, k.logits, REF("dstep/logits"));
    compare_scalar(st, REF("dstep/loss_real")->path, l_real, REF("dstep/loss_real"));
    compare_scalar(st, REF("dstep/loss_fake")->path, l_fake, REF("dstep/loss_fake"));
    compare_scalar(st, REF("dstep/loss")->path, l_real + l_fake, REF("dstep/loss"));
    fx_entry *corr = REF("dstep/correct");
    if (cmp_verbose || c_real + c_fake != (long)corr->d)
        printf("    %-34s C %ld ref %.0f%s\n", corr->path, c_real + c_fake, corr->d,
               c_real + c_fake == (long)corr->d ? "" : "  MISMATCH");
    if (st) st->failed += c_real + c_fake != (long)corr->d, st->tensors++;
    snprintf(path, sizeof path, "%s/dstep/din", g);
    if (fx_get(fx, path)) compare_f(st, path, k.dbatch, fx_get(fx, path));
    snprintf(path, sizeof path, "%s/dstep/gradD", g);
    found = compare_params(st, fx, &k.d.p, k.d.p.grad, path);
    assert_true(found == 0 || found == k.d.p.ntensors);

    /* optimizer trajectories: 3 steps from the fixture's R, compared as updates p_k - p_0 */
    static const char *kinds[2] = {"adam", "sgd"};
    for (int o = 0; o < 2; o++) {
        snprintf(path, sizeof path, "%s/%s", g, kinds[o]);
        if (!fx_exists(fx, path)) continue;
        optim opt;
        if (o == 0)
            optim_init_adam(&opt, (float)fx_attr_double(fx, path, "lr"), (float)fx_attr_double(fx, path, "beta1"),
                            (float)fx_attr_double(fx, path, "beta2"), (float)fx_attr_double(fx, path, "eps"));
        else
            optim_init_sgd(&opt, (float)fx_attr_double(fx, path, "lr"), (float)fx_attr_double(fx, path, "momentum"));
        param_block *p = &k.r.p;
        memcpy(p->data, k.r0, p->count * sizeof(float));
        memset(p->m, 0, p->count * sizeof(float));
        memset(p->v, 0, p->count * sizeof(float));
        for (int s = 1; s <= 3; s++) {
            refiner_step(&k, &adv, &l1);
            optim_step(&opt, p);
            for (int i = 0; i < p->ntensors; i++) {
                const param_tensor *t = &p->tensors[i];
                fx_entry *e = fx_need(fx, "%s/step%d/%s", path, s, t->name);
                assert_int_equal(e->n, t->count);
                double *dc = malloc(t->count * sizeof *dc), *dr = malloc(t->count * sizeof *dr);
                double *fl = malloc(t->count * sizeof *fl);
                assert_true(dc && dr && fl);
                for (size_t j = 0; j < t->count; j++) {
                    double p0 = k.r0[t->offset + j];
                    dc[j] = (double)p->data[t->offset + j] - p0;
                    dr[j] = (double)e->f[j] - p0;
                    /* Both sides hold p_k in float32: the update is resolved only to the
                     * parameter's ulp, once per step in C and once in the stored reference. */
                    float a = fmaxf(fabsf(e->f[j]), fabsf(k.r0[t->offset + j]));
                    fl[j] = (s + 1) * (double)(nextafterf(a, INFINITY) - a);
                }
                compare_d(st, e->path, dc, dr, t->count, 0, fl);
                free(dc), free(dr), free(fl);
            }
        }
    }
#undef REF
    case_free(&k);
}

static void check_all(fixture *fx, cmp_stats *st) {
    memset(st, 0, sizeof *st);
    st->worst_ratio = -1;
    run_case(fx, "eyes", st);
    run_case(fx, "digits", st);
    printf("  %d tensors compared, %d mismatched; worst err/bound %.3f (%s)\n", st->tensors, st->failed,
           st->worst_ratio, st->worst_name);
}

static void test_pytorch_reference(void **state) {
    (void)state;
    fixture fx;
    fx_open(&fx);
    /* every kernel level the CPU has (the reference im2col + BLAS path, AVX2, AVX-512: see
     * conv2d_fast.h), once on one thread, once with the batch split across two (when there are two) */
    const conv2d_kernels saved = conv2d_kernels_active();
    for (int k = CONV2D_KERNELS_REFERENCE; k <= (int)conv2d_kernels_supported(); k++)
        for (int threads = 1; threads <= (nn_max_threads() > 1 ? 2 : 1); threads++) {
            conv2d_kernels_select((conv2d_kernels)k);
            nn_set_threads(threads);
            printf("  kernels %s, %d thread(s):\n", conv2d_kernels_name((conv2d_kernels)k), threads);
            cmp_stats st;
            check_all(&fx, &st);
            assert_true(st.tensors > 100);
            assert_int_equal(st.failed, 0);
        }
    conv2d_kernels_select(saved);
    nn_set_threads(1);
    fx_close(&fx);
}

/* The comparison must catch a 1% change of any single value: a gradient element, an input
 * pixel, a weight, an Adam-updated parameter, a loss. */
static void perturb(fixture *fx, const char *path, size_t i, double rel, double abs_add) {
    fx_entry *e = fx_need(fx, "%s", path);
    if (e->f) {
        assert_true(i < e->n);
        e->f[i] = (float)(e->f[i] * (1 + rel) + abs_add);
    } else {
        e->d = e->d * (1 + rel) + abs_add;
    }
}

/* Index of the largest |value| (so a relative change is never lost in the absolute tolerance
 * of a tiny element; the point is that 1% of a typical value shows). */
static size_t argmax_abs(fixture *fx, const char *path) {
    fx_entry *e = fx_need(fx, "%s", path);
    size_t best = 0;
    for (size_t i = 0; i < e->n; i++)
        if (fabsf(e->f[i]) > fabsf(e->f[best])) best = i;
    return best;
}

static void test_perturbed_fixture_fails(void **state) {
    (void)state;
    struct {
        const char *path;
        int largest;   /* perturb the largest element, else element `index` */
        size_t index;
        double rel, add;
        int min_failed;
    } cases[] = {
        {"eyes/refine/gradR/block0.conv1.w", 1, 0, 0.01, 0, 1},
        {"eyes/dstep/gradD/conv2.w", 0, 1234, 0.01, 0, 1},
        {"digits/refine/gradR/block1.conv2.w", 0, 17, 0.01, 0, 1},
        {"eyes/x", 0, 1000, 0, 0.01, 2},          /* one input pixel: its effect reaches outputs */
        {"eyes/R/block2.conv1.w", 1, 0, 0.01, 0, 1}, /* one weight */
        {"D/conv3.w", 1, 0, 0.01, 0, 1},
        {"digits/adam/step3/out.w", 0, 2, 0.01, 0, 1},
        {"eyes/refine/adv", 0, 0, 0.01, 0, 1},
    };
    cmp_verbose = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        fixture fx;
        fx_open(&fx);
        size_t i = cases[c].largest ? argmax_abs(&fx, cases[c].path) : cases[c].index;
        printf("  -- perturbing %s[%zu] (x%.2f %+g):\n", cases[c].path, i, 1 + cases[c].rel, cases[c].add);
        perturb(&fx, cases[c].path, i, cases[c].rel, cases[c].add);
        cmp_stats st;
        check_all(&fx, &st);
        if (st.failed < cases[c].min_failed)
            fail_msg("perturbing %s[%zu] went unnoticed (%d mismatches)", cases[c].path, i, st.failed);
        fx_close(&fx);
    }
    cmp_verbose = 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Whole-network finite differences: a small R(1,4,1) and D on 2 x 1x12x14, loss
 * adv(D(R(x)), real) + lambda * sum|R(x) - x|, along random unit directions u in R's
 * parameters, D's parameters and the input: (L(p + hu) - L(p - hu)) / 2h against grad . u
 * (u half random, half along the gradient; see fd_direction).
 * The loss is piecewise smooth (ReLU, max-pool, |.|), and a step that crosses a kink makes the
 * difference quotient wrong by O(1%), so a step counts only if every ReLU, pool and L1
 * decision at p - hu and p + hu is the one at p (a hash of all of them); otherwise h shrinks.
 * Within one smooth piece the error is O(h^2) plus float32 noise in the loss (~1e-7 against
 * differences of ~1e-3..1e-2), so the check can be tight: 1e-3 relative. */

typedef struct {
    refiner r;
    disc d;
    float *x, *rx, *logits, *probs;
    int target[2];
    double lambda;
} fd_ctx;

#define FD_N 2
#define FD_H 12
#define FD_W 14

static double fd_loss(fd_ctx *c) {
    const size_t img = (size_t)FD_N * FD_H * FD_W;
    refiner_forward(&c->r, c->rx, c->x, FD_N);
    disc_forward(&c->d, c->logits, c->rx, FD_N);
    return adv_loss_forward(c->probs, c->logits, c->target, FD_N, c->d.OH, c->d.OW, NULL) +
           c->lambda * l1_forward(c->rx, c->x, img);
}

/* Every branch taken by the last fd_loss, one byte each: which ReLU outputs are positive (R's
 * and D's saved maps; R's tanh output is smooth and left out), which pool inputs won, the signs
 * of R(x) - x. Returns the count written (at most FD_BRANCHES). */
#define FD_BRANCHES 80000
static size_t fd_branches(const fd_ctx *c, unsigned char *b) {
    const size_t img = (size_t)FD_N * FD_H * FD_W;
    const size_t r_acts = (2 * (size_t)c->r.cfg.B + 1) * FD_N * c->r.cfg.F * FD_H * FD_W;
    /* D's saved maps per image for 12x14: 96 x h1 x w1 (conv1: 6x7 at stride 2, 12x14 at 1), then
     * 64, pool 64, 32, 32 x OH x OW (conv2's stride 2: 3x4, or 6x7) */
    const int st = c->d.cfg.stride;
    const size_t h1 = (FD_H - 1) / st + 1, w1 = (FD_W - 1) / st + 1, o = (size_t)c->d.OH * c->d.OW;
    const size_t d_acts = (size_t)FD_N * (96 * h1 * w1 + 64 * o * 2 + 32 * o * 2), d_arg = (size_t)FD_N * 64 * o;
    size_t k = 0;
    assert_true(r_acts + d_acts + d_arg + img <= FD_BRANCHES);
    for (size_t i = 0; i < r_acts; i++) b[k++] = c->r.acts[i] > 0;
    for (size_t i = 0; i < d_acts; i++) b[k++] = c->d.acts[i] > 0;
    for (size_t i = 0; i < d_arg; i++) b[k++] = (unsigned char)c->d.argmax[i];
    for (size_t i = 0; i < img; i++) b[k++] = (unsigned char)((c->rx[i] > c->x[i]) + 2 * (c->rx[i] < c->x[i]));
    return k;
}

static size_t count_diff(const unsigned char *a, const unsigned char *b, size_t n) {
    size_t d = 0;
    for (size_t i = 0; i < n; i++) d += a[i] != b[i];
    return d;
}

/* Returns 0 if the directional derivative along u matches g . u, 1 if it does not, 2 if no
 * step down to 1e-5 avoided every kink. u is the unit vector along
 * (g/|g| + r/|r|), r random normal. Half random, half along the gradient: along a purely random
 * unit direction grad . u is only |g|/sqrt(n), and in float32 the loss is noisy at ~1e-7,
 * which would bury it (measured: 1e-3..1e-1 errors); with the gradient half the signal is
 * ~|g|/sqrt(2). A wrong gradient g = g* + e still shows: the mismatch is e . u, and
 * e . g = |g|^2 - g* . g vanishes only if g's projection on g* equals |g|. */
static int fd_direction(const char *what, fd_ctx *c, float *x, const float *g, size_t n, uint64_t seed, double rtol) {
    rng_t rng;
    rng_seed(&rng, seed, 0x6664);
    float *x0 = malloc(n * sizeof *x0);
    double *u = malloc(n * sizeof *u), rn = 0, gn = 0, un = 0;
    assert_true(x0 && u);
    for (size_t i = 0; i < n; i++) x0[i] = x[i], u[i] = rng_normal(&rng), rn += u[i] * u[i], gn += (double)g[i] * g[i];
    assert_true(gn > 0);
    for (size_t i = 0; i < n; i++) u[i] = u[i] / sqrt(rn) + g[i] / sqrt(gn), un += u[i] * u[i];
    for (size_t i = 0; i < n; i++) u[i] /= sqrt(un);
    static unsigned char b0[FD_BRANCHES], bp[FD_BRANCHES], bm[FD_BRANCHES];
    fd_loss(c);
    const size_t nb = fd_branches(c, b0);
    int ok = -1;
    for (double h = 1e-2; h > 1e-5 && ok < 0; h /= 4) {
        for (size_t i = 0; i < n; i++) x[i] = (float)(x0[i] + h * u[i]);
        double lp = fd_loss(c);
        fd_branches(c, bp);
        double ana = 0;
        for (size_t i = 0; i < n; i++) {
            float xp = x[i];
            x[i] = (float)(x0[i] - h * u[i]);
            ana += (double)g[i] * (((double)xp - x[i]) / (2 * h)); /* the step float rounding allowed */
        }
        double lm = fd_loss(c);
        fd_branches(c, bm);
        size_t crossed = count_diff(b0, bp, nb) + count_diff(b0, bm, nb);
        if (crossed) {
            printf("  fd %-20s h %.1e changes %zu of %zu branches, shrinking\n", what, h, crossed, nb);
            continue;
        }
        double num = (lp - lm) / (2 * h), err = fabs(num - ana), mag = fmax(fabs(num), fabs(ana));
        ok = err <= rtol * mag;
        printf("  fd %-20s h %.1e numeric %.9g analytic %.9g rel err %.2e %s\n", what, h, num, ana, err / mag,
               ok ? "ok" : "FAIL");
    }
    for (size_t i = 0; i < n; i++) x[i] = x0[i];
    fd_loss(c); /* activations as at x0 */
    free(x0), free(u);
    if (ok < 0) printf("  fd %-20s no kink-free step found\n", what);
    return ok < 0 ? 2 : !ok;
}

/* R(4,1) runs the reference path (im2col + BLAS); R(16,1) the fast one (Winograd on NHWC maps)
 * when the CPU has AVX2 or AVX-512. D takes the fast path whenever there is one. R(16,1) sums 4x
 * more terms per value, so its float32 loss is noisier: at the h the kinks allow (1.6e-4) the
 * differences are ~1e-4 of the loss and the noise ~1e-7, so its directions get 2e-3 (measured:
 * up to 1.4e-3 on the reference path, 7e-4 on the fast one); a 10% wrong gradient still shows
 * as 4e-2. */
static void whole_network_fd(int F, int d_stride) {
    /* D with conv1 at stride 1 has 4x the ReLUs of conv1 and 4x the pool decisions: more kinks
     * near any point, so the kink-free steps are smaller (down to 3.9e-5, where the float32 noise
     * is ~3e-3 of the difference) and some directions find none: there every direction that
     * finds one must match within 4e-3 and D's parameters and the input must each be checked
     * at least twice in 6 tries (a 10% wrong gradient is ~4e-2). R's parameters, whose steps
     * cross a kink of R or D every time here, are checked with the stride-2 D: what changes with
     * the stride is D's own gradients and the gradient it passes back, which the input's carries. */
    const double rtol = d_stride == 1 ? 4e-3 : F > 4 ? 2e-3 : 1e-3;
    const int seeds = d_stride == 1 ? 6 : 3, need = d_stride == 1 ? 2 : 3;
    fd_ctx c;
    memset(&c, 0, sizeof c);
    printf("  R(%d,1), D with conv1 stride %d:\n", F, d_stride);
    refiner_config rc = {1, F, 1, REFINER_OUT_TANH};
    disc_config dc = {1, d_stride};
    assert_int_equal(refiner_init(&c.r, &rc, 11), 0);
    assert_int_equal(disc_init(&c.d, &dc, 12), 0);
    assert_int_equal(refiner_prepare(&c.r, FD_N, FD_H, FD_W), 0);
    assert_int_equal(disc_prepare(&c.d, FD_N, FD_H, FD_W), 0);
    const int OH = d_stride == 1 ? 6 : 3, OW = d_stride == 1 ? 7 : 4; /* 12x14 halved once or twice */
    assert_int_equal(c.d.OH, OH);
    assert_int_equal(c.d.OW, OW);
    const size_t img = (size_t)FD_N * FD_H * FD_W, map = (size_t)FD_N * 2 * OH * OW;
    c.x = alloc0(img), c.rx = alloc0(img), c.logits = alloc0(map), c.probs = alloc0(map);
    float *dlogits = alloc0(map), *drx = alloc0(img), *dx = alloc0(img);
    rng_t rng;
    rng_seed(&rng, 13, 0);
    for (size_t i = 0; i < img; i++) c.x[i] = (float)rng_range(&rng, -1, 1);
    /* nonzero biases, so their gradients matter too */
    param_block *blocks[2] = {&c.r.p, &c.d.p};
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < blocks[b]->ntensors; i++) {
            const param_tensor *t = &blocks[b]->tensors[i];
            if (t->ndim == 1)
                for (size_t j = 0; j < t->count; j++) blocks[b]->data[t->offset + j] = (float)rng_range(&rng, -0.1, 0.1);
        }
    c.target[0] = c.target[1] = ADV_REAL;
    c.lambda = 5e-2;
    fd_loss(&c);
    param_block_zero_grad(&c.r.p);
    param_block_zero_grad(&c.d.p);
    adv_loss_backward(dlogits, c.probs, c.target, FD_N, OH, OW, 1.0f);
    disc_backward(&c.d, drx, dlogits, FD_N, 1);
    l1_backward(drx, c.rx, c.x, img, (float)c.lambda);
    refiner_backward(&c.r, dx, drx, FD_N);
    l1_backward(dx, c.x, c.rx, img, (float)c.lambda);

    int bad = 0, checked[3] = {0, 0, 0};
    for (uint64_t seed = 1; seed <= (uint64_t)seeds; seed++) {
        const int r[3] = {d_stride == 1 ? 2 : fd_direction("R params", &c, c.r.p.data, c.r.p.grad, c.r.p.count, seed, rtol),
                          fd_direction("D params", &c, c.d.p.data, c.d.p.grad, c.d.p.count, seed, rtol),
                          fd_direction("input x", &c, c.x, dx, img, seed, rtol)};
        for (int k = d_stride == 1; k < 3; k++) bad += r[k] == 1, checked[k] += r[k] == 0;
    }
    assert_int_equal(bad, 0);
    for (int k = d_stride == 1; k < 3; k++) assert_true(checked[k] >= need);

    /* The check can fail: one tensor's gradient 10% too large is caught. */
    const char *sabotage[2] = {"block0.conv2.w", "conv2.w"};
    for (int b = d_stride == 1; b < 2; b++) {
        const param_tensor *t = param_block_find(blocks[b], sabotage[b]);
        assert_non_null(t);
        for (size_t j = 0; j < t->count; j++) blocks[b]->grad[t->offset + j] *= 1.1f;
        int rc = 2;
        for (uint64_t seed = 1; seed <= 5 && rc == 2; seed++)
            rc = fd_direction(sabotage[b], &c, blocks[b]->data, blocks[b]->grad, blocks[b]->count, seed, rtol);
        assert_int_equal(rc, 1);
    }
    refiner_free(&c.r);
    disc_free(&c.d);
    free(c.x), free(c.rx), free(c.logits), free(c.probs), free(dlogits), free(drx), free(dx);
}

static void test_whole_network_directional_fd(void **state) {
    (void)state;
    whole_network_fd(4, 2);
    whole_network_fd(16, 2);
    whole_network_fd(4, 1); /* discriminator.stride = 1 */
}

/* R with the clamp output reaches exact black, which tanh only approaches (its gradient is
 * checked in test_layers; the refiner's backward calls clamp_backward_anchored with its input).
 * Held at black, a white input's pull back up passes; over a black input nothing does. */
static void test_clamp_output_reaches_black(void **state) {
    (void)state;
    for (int o = 0; o < 2; o++) {
        refiner r;
        refiner_config rc = {1, 4, 1, o ? REFINER_OUT_CLAMP : REFINER_OUT_TANH};
        assert_int_equal(refiner_init(&r, &rc, 3), 0);
        assert_int_equal(refiner_prepare(&r, 1, 6, 6), 0);
        float x[36], y[36], z[36], dy[36];
        for (int i = 0; i < 36; i++) x[i] = -1;
        r.out_b[0] = -4; /* pre-activation well below -1 */
        refiner_forward(&r, y, x, 1);
        refiner_infer(&r, z, x, 1);
        for (int i = 0; i < 36; i++) {
            assert_true(y[i] == z[i]);
            if (o) assert_true(y[i] == -1.0f);
            else assert_true(y[i] > -1.0f && y[i] < -0.99f);
        }
        if (o) {
            const float *db = r.p.grad + (r.out_b - r.p.data);
            for (int i = 0; i < 36; i++) dy[i] = -1; /* descent would raise every output */
            refiner_forward(&r, y, x, 1);
            param_block_zero_grad(&r.p);
            refiner_backward(&r, NULL, dy, 1); /* black input: held */
            assert_true(*db == 0 && param_block_grad_norm(&r.p) == 0);
            for (int i = 0; i < 36; i++) x[i] = i < 12 ? 1 : -1; /* a white stroke in the top rows */
            refiner_forward(&r, y, x, 1);
            for (int i = 0; i < 36; i++) assert_true(y[i] == -1.0f);
            param_block_zero_grad(&r.p);
            refiner_backward(&r, NULL, dy, 1);
            assert_float_equal(*db, -12, 1e-4); /* the stroke's 12 outputs pull back up */
        }
        refiner_free(&r);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Geometry: R keeps the image size; D's map is 9x14 for 35x55 (SIMGAN.md), 7x7 for 28x28. */

static void test_geometry(void **state) {
    (void)state;
    const int sizes[3][4] = {{35, 55, 9, 14}, {28, 28, 7, 7}, {12, 14, 3, 4}};
    refiner_config rc = {1, 8, 2, REFINER_OUT_TANH};
    disc_config dc = {1, 2};
    refiner r;
    disc d;
    assert_int_equal(refiner_init(&r, &rc, 3), 0);
    assert_int_equal(disc_init(&d, &dc, 4), 0);
    for (int s = 0; s < 3; s++) {
        const int H = sizes[s][0], W = sizes[s][1], n = 2;
        assert_int_equal(refiner_prepare(&r, n, H, W), 0);
        assert_int_equal(disc_prepare(&d, n, H, W), 0);
        assert_int_equal(d.OH, sizes[s][2]);
        assert_int_equal(d.OW, sizes[s][3]);
        const size_t img = (size_t)n * H * W, map = (size_t)n * 2 * d.OH * d.OW, guard = 64;
        float *x = alloc0(img), *y = alloc0(img + guard), *lg = alloc0(map + guard);
        for (size_t i = 0; i < img + guard; i++) y[i] = 7.0f;
        for (size_t i = 0; i < map + guard; i++) lg[i] = 7.0f;
        for (size_t i = 0; i < img; i++) x[i] = (float)sin(0.1 * (double)i);
        refiner_forward(&r, y, x, n);
        disc_forward(&d, lg, y, n);
        /* every output written (tanh is in (-1, 1)), nothing past the end */
        for (size_t i = 0; i < img; i++) assert_true(fabsf(y[i]) < 1);
        for (size_t i = img; i < img + guard; i++) assert_true(y[i] == 7.0f);
        for (size_t i = 0; i < map; i++) assert_true(isfinite(lg[i]) && lg[i] != 7.0f);
        for (size_t i = map; i < map + guard; i++) assert_true(lg[i] == 7.0f);
        free(x), free(y), free(lg);
    }
    refiner_free(&r);
    disc_free(&d);
}

/* refiner_infer (three ping-pong maps) gives exactly refiner_forward's output, with either
 * preparation; backward accumulates; din may be NULL; D with param_grads = 0 leaves D's
 * gradients alone but still returns dL/din. */
static void test_infer_accumulate_and_flags(void **state) {
    (void)state;
    refiner_config rc = {1, 8, 2, REFINER_OUT_TANH};
    refiner r;
    assert_int_equal(refiner_init(&r, &rc, 5), 0);
    const int N = 3, H = 9, W = 11;
    const size_t img = (size_t)N * H * W;
    float *x = alloc0(img), *y1 = alloc0(img), *y2 = alloc0(img), *dy = alloc0(img), *dx = alloc0(img);
    rng_t rng;
    rng_seed(&rng, 6, 0);
    for (size_t i = 0; i < img; i++) x[i] = (float)rng_range(&rng, -1, 1), dy[i] = (float)rng_normal(&rng);
    assert_int_equal(refiner_prepare(&r, N, H, W), 0);
    refiner_forward(&r, y1, x, N);
    refiner_infer(&r, y2, x, N);
    assert_memory_equal(y1, y2, img * sizeof(float));
    refiner_forward(&r, y1, x, N);
    param_block_zero_grad(&r.p);
    refiner_backward(&r, dx, dy, N);
    float *g1 = alloc0(r.p.count);
    memcpy(g1, r.p.grad, r.p.count * sizeof(float));
    refiner_backward(&r, NULL, dy, N);
    for (size_t i = 0; i < r.p.count; i++) assert_float_equal(r.p.grad[i], 2 * g1[i], 1e-5 * (1 + fabsf(g1[i])));
    assert_true(param_block_grad_norm(&r.p) > 0);
    assert_int_equal(refiner_prepare_infer(&r, 2 * N, H, W), 0);
    assert_int_equal(r.training, 0);
    refiner_infer(&r, y2, x, N);
    assert_memory_equal(y1, y2, img * sizeof(float));

    disc_config dc = {1, 2};
    disc d;
    assert_int_equal(disc_init(&d, &dc, 7), 0);
    assert_int_equal(disc_prepare(&d, N, H, W), 0);
    const size_t map = (size_t)N * 2 * d.OH * d.OW;
    float *lg = alloc0(map), *dl = alloc0(map), *din = alloc0(img);
    for (size_t i = 0; i < map; i++) dl[i] = (float)rng_normal(&rng);
    disc_forward(&d, lg, x, N);
    param_block_zero_grad(&d.p);
    disc_backward(&d, din, dl, N, 0);
    for (size_t i = 0; i < d.p.count; i++) assert_true(d.p.grad[i] == 0.0f);
    double s = 0;
    for (size_t i = 0; i < img; i++) s += fabs(din[i]);
    assert_true(s > 0);
    disc_backward(&d, NULL, dl, N, 1);
    assert_true(param_block_grad_norm(&d.p) > 0);
    refiner_free(&r);
    disc_free(&d);
    free(x), free(y1), free(y2), free(dy), free(dx), free(g1), free(lg), free(dl), free(din);
}

/* R runs a batch a few images (r.chunk) at a time through every layer: a batch spanning several
 * chunks must give, image by image, what one-image passes give, and the sum of their gradients. */
static void test_chunked_batch_matches_single_images(void **state) {
    (void)state;
    refiner_config rc = {1, 8, 2, REFINER_OUT_TANH};
    refiner rb, r1;
    assert_int_equal(refiner_init(&rb, &rc, 9), 0);
    assert_int_equal(refiner_init(&r1, &rc, 9), 0);
    const int N = 37, H = 9, W = 11; /* chunks hold at most 32 images */
    const size_t im = (size_t)H * W;
    assert_int_equal(refiner_prepare(&rb, N, H, W), 0);
    assert_int_equal(refiner_prepare(&r1, 1, H, W), 0);
    assert_true(rb.chunk >= 1 && rb.chunk < N); /* several chunks, the last one partial or not */
    float *x = alloc0(N * im), *dy = alloc0(N * im), *y = alloc0(N * im), *dx = alloc0(N * im);
    float *y1 = alloc0(im), *dx1 = alloc0(im), *g1 = alloc0(r1.p.count);
    rng_t rng;
    rng_seed(&rng, 10, 0);
    for (size_t i = 0; i < N * im; i++) x[i] = (float)rng_range(&rng, -1, 1), dy[i] = (float)rng_normal(&rng);
    refiner_forward(&rb, y, x, N);
    param_block_zero_grad(&rb.p);
    refiner_backward(&rb, dx, dy, N);
    param_block_zero_grad(&r1.p);
    for (int n = 0; n < N; n++) {
        refiner_forward(&r1, y1, x + n * im, 1);
        for (size_t i = 0; i < im; i++) assert_float_equal(y[n * im + i], y1[i], 1e-6);
        memset(dx1, 0, im * sizeof(float));
        refiner_backward(&r1, dx1, dy + n * im, 1);
        for (size_t i = 0; i < im; i++) assert_float_equal(dx[n * im + i], dx1[i], 1e-5 * (1 + fabsf(dx1[i])));
    }
    memcpy(g1, r1.p.grad, r1.p.count * sizeof(float));
    for (size_t i = 0; i < rb.p.count; i++) assert_float_equal(rb.p.grad[i], g1[i], 1e-4 * (1 + fabsf(g1[i])));
    refiner_free(&rb);
    refiner_free(&r1);
    free(x), free(dy), free(y), free(dx), free(y1), free(dx1), free(g1);
}

/* ------------------------------------------------------------------------------------------ */
/* Parameter blocks */

static void test_param_block_layout_and_he_init(void **state) {
    (void)state;
    param_block p;
    param_block_init(&p);
    size_t o1 = param_block_add(&p, "a.w", 4, 5, 3, 3, 3);
    size_t o2 = param_block_add(&p, "a.b", 1, 5, 1, 1, 1);
    size_t o3 = param_block_add(&p, "big.w", 4, 64, 64, 3, 3);
    assert_int_equal(o1, 0);
    assert_int_equal(o2 % 16, 0);
    assert_true(o2 >= 135);
    assert_int_equal(o3 % 16, 0);
    assert_int_equal(param_block_alloc(&p), 0);
    assert_true(p.count >= o3 + 64 * 64 * 9);
    assert_ptr_equal(p.grad, p.data + p.count);
    assert_ptr_equal(p.m, p.data + 2 * p.count);
    assert_ptr_equal(p.v, p.data + 3 * p.count);
    assert_int_equal((uintptr_t)p.data % 64, 0);
    const param_tensor *t = param_block_find(&p, "big.w");
    assert_non_null(t);
    assert_int_equal(t->offset, o3);
    assert_int_equal(t->shape[1], 64);
    assert_null(param_block_find(&p, "nope"));

    param_block_init_he(&p, 42);
    double s = 0, sq = 0;
    for (size_t i = 0; i < t->count; i++) s += p.data[o3 + i], sq += (double)p.data[o3 + i] * p.data[o3 + i];
    double mean = s / t->count, sd = sqrt(sq / t->count - mean * mean);
    assert_true(fabs(sd / sqrt(2.0 / 576) - 1) < 0.02);
    assert_true(fabs(mean) < 0.003);
    for (int i = 0; i < 5; i++) assert_true(p.data[o2 + i] == 0.0f);
    float *copy = alloc0(p.count);
    memcpy(copy, p.data, p.count * sizeof(float));
    param_block_init_he(&p, 42);
    assert_memory_equal(copy, p.data, p.count * sizeof(float));
    param_block_init_he(&p, 43);
    assert_memory_not_equal(copy, p.data, p.count * sizeof(float));

    for (size_t i = 0; i < p.count; i++) p.grad[i] = 0;
    p.grad[o1] = 3, p.grad[o3 + 7] = 4;
    assert_float_equal(param_block_grad_norm(&p), 5, 1e-12);
    param_block_zero_grad(&p);
    assert_float_equal(param_block_grad_norm(&p), 0, 0);
    free(copy);
    param_block_free(&p);

    /* the networks' tables carry the names the checkpoint and the fixture use */
    refiner r;
    refiner_config rc = {1, 64, 4, REFINER_OUT_TANH};
    assert_int_equal(refiner_init(&r, &rc, 1), 0);
    assert_int_equal(r.p.ntensors, 4 + 4 * 4);
    t = param_block_find(&r.p, "block3.conv2.w");
    assert_non_null(t);
    assert_ptr_equal(r.p.data + t->offset, r.blk_w2[3]);
    assert_non_null(param_block_find(&r.p, "out.b"));
    refiner_free(&r);
    rc.B = REFINER_MAX_BLOCKS;
    rc.F = 2;
    assert_int_equal(refiner_init(&r, &rc, 1), 0);
    assert_int_equal(r.p.ntensors, 4 + 4 * REFINER_MAX_BLOCKS);
    refiner_free(&r);
    rc.B = REFINER_MAX_BLOCKS + 1;
    assert_int_equal(refiner_init(&r, &rc, 1), -3 /* RP_EARG */);
    refiner_free(&r);
}

/* ------------------------------------------------------------------------------------------ */
/* Optimizers against the update rules written out in double */

static void test_optimizers_match_formulas(void **state) {
    (void)state;
    param_block p;
    param_block_init(&p);
    param_block_add(&p, "w", 2, 7, 5, 1, 1);
    param_block_add(&p, "b", 1, 3, 1, 1, 1);
    assert_int_equal(param_block_alloc(&p), 0);
    const size_t n = p.count;
    double *x = calloc(n, sizeof *x), *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v);
    assert_true(x && m && v);
    rng_t rng;
    rng_seed(&rng, 8, 0);
    for (int kind = 0; kind < 2; kind++) {
        optim o;
        if (kind == 0)
            optim_init_sgd(&o, 0.05f, 0.9f);
        else
            optim_init_adam(&o, 1e-2f, 0.9f, 0.999f, 1e-8f);
        for (size_t i = 0; i < n; i++) x[i] = p.data[i] = (float)rng_normal(&rng), m[i] = v[i] = 0;
        memset(p.m, 0, n * sizeof(float));
        memset(p.v, 0, n * sizeof(float));
        for (int t = 1; t <= 4; t++) {
            for (size_t i = 0; i < n; i++) p.grad[i] = i % 5 == 0 ? 0.0f : (float)rng_normal(&rng);
            optim_step(&o, &p);
            for (size_t i = 0; i < n; i++) {
                double g = p.grad[i];
                if (kind == 0) {
                    m[i] = (double)o.momentum * m[i] + g;
                    x[i] -= (double)o.lr * m[i];
                } else {
                    m[i] = (double)o.beta1 * m[i] + (1 - (double)o.beta1) * g;
                    v[i] = (double)o.beta2 * v[i] + (1 - (double)o.beta2) * g * g;
                    double mh = m[i] / (1 - pow(o.beta1, t)), vh = v[i] / (1 - pow(o.beta2, t));
                    x[i] -= (double)o.lr * mh / (sqrt(vh) + o.eps);
                }
                assert_float_equal(p.data[i], x[i], 1e-6 * (1 + fabs(x[i])));
            }
        }
        if (kind == 1) assert_int_equal(o.t, 4);
    }
    /* clipping: norm returned, scaled to max_norm, untouched below it or when off */
    for (size_t i = 0; i < n; i++) p.grad[i] = 0;
    p.grad[0] = 3, p.grad[1] = 4;
    assert_float_equal(optim_clip_grad_norm(&p, 0), 5, 1e-12);
    assert_float_equal(p.grad[0], 3, 0);
    assert_float_equal(optim_clip_grad_norm(&p, 10), 5, 1e-12);
    assert_float_equal(p.grad[0], 3, 0);
    assert_float_equal(optim_clip_grad_norm(&p, 1), 5, 1e-12);
    assert_float_equal(param_block_grad_norm(&p), 1, 1e-6);
    param_block_free(&p);
    free(x), free(m), free(v);
}

int main(void) {
    nn_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_block_layout_and_he_init),
        cmocka_unit_test(test_optimizers_match_formulas),
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_infer_accumulate_and_flags),
        cmocka_unit_test(test_chunked_batch_matches_single_images),
        cmocka_unit_test(test_whole_network_directional_fd),
        cmocka_unit_test(test_clamp_output_reaches_black),
        cmocka_unit_test(test_pytorch_reference),
        cmocka_unit_test(test_perturbed_fixture_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
