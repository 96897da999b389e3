/* Tests of SimGAN training (refiner/train_step.c, refiner/trainer.c): the adversarial gradient
 * reaching R through D matches central differences; D steps use and fill the history; NaN
 * stops with the step named; a tiny run learns (D separates an obviously different "real" set,
 * then R's adversarial loss falls while self-regularization keeps R(x) near x); a run of 2n
 * steps equals n steps + --resume + n steps bit for bit; run-directory outputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io/checkpoint.h"
#include "io/config.h"
#include "io/h5ds.h"
#include "io/status.h"
#include "nn/gemm.h"
#include "refiner/train_data.h"
#include "refiner/train_step.h"
#include "refiner/trainer.h"

static char tmpdir[64];

/* Counting allocations during the steps: this binary's malloc/calloc/realloc wrap glibc's
 * (not under AddressSanitizer, which owns them). */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
#else
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t), *__libc_calloc(size_t, size_t), *__libc_realloc(void *, size_t);
static volatile long alloc_count;
static volatile int alloc_counting;
void *malloc(size_t n) {
    if (alloc_counting) alloc_count++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
    if (alloc_counting) alloc_count++;
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
    if (alloc_counting) alloc_count++;
    return __libc_realloc(p, n);
}
#endif


static int setup(void **state) {
    (void)state;
    nn_set_threads(1);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rp-test-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd);
}

#define S 16 /* image side: D maps 16x16 to 4x4 */

/* A smooth blob on a dark background, in [0, 255]; "real" images are brighter by a constant,
 * a difference D sees in every patch and R can learn (a texture R could not: it has no noise
 * input, and its convolutions cannot anchor a checker pattern on a flat background). */
static void blob(float *img, rng_t *r, int real) {
    double cx = 4 + rng_uniform_d(r) * 8, cy = 4 + rng_uniform_d(r) * 8, sd = 2 + rng_uniform_d(r) * 2;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double v = 30 + 170 * exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * sd * sd));
            if (real) v += 40;
            img[y * S + x] = (float)v;
        }
}

/* n images in [-1, 1] (the trainer's scaling) */
static void blobs(float *x, int n, rng_t *r, int real) {
    for (int i = 0; i < n; i++) {
        blob(x + (size_t)i * S * S, r, real);
        for (int p = 0; p < S * S; p++) x[i * S * S + p] = x[i * S * S + p] * (2.0f / 255.0f) - 1.0f;
    }
}

static void write_set(const char *path, int n, int real, uint64_t seed) {
    rng_t r;
    rng_seed(&r, seed, 0);
    float img[S * S];
    uint8_t *u = malloc((size_t)n * S * S);
    for (int i = 0; i < n; i++) {
        blob(img, &r, real);
        for (int p = 0; p < S * S; p++) {
            float v = img[p] + 0.5f;
            u[i * S * S + p] = v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
        }
    }
    h5ds_writer *w;
    h5ds_provenance prov = {.kind = real ? "real" : "synthetic", .scene = "external", .seed = -1, .refiner_step = -1};
    assert_int_equal(h5ds_create(&w, path, S, S, 1, NULL, 0, &prov, NULL), 0);
    assert_int_equal(h5ds_append(w, n, u, NULL, NULL), 0);
    assert_int_equal(h5ds_finish(w), 0);
    free(u);
}

static void tiny_config(rp_config *cfg) {
    config_defaults(cfg);
    cfg->refiner.filters = 6;
    cfg->refiner.blocks = 1;
    cfg->train.batch = 4;
    cfg->train.history_size = 12;
    cfg->train.seed = 3;
}

static int init_state(train_state *s, const rp_config *cfg) {
    train_setup u;
    int rc = train_setup_from_config(&u, cfg, 1, S, S);
    return rc ? rc : train_state_init(s, &u);
}

/* ------------------------------------------------------------------------------------ */
/* gradients */

static double refiner_loss(train_state *s, const float *x, double lambda) {
    train_stats st;
    train_refiner_grad(s, x, 1, &st);
    return st.r_adv + lambda * st.r_reg;
}

/* d(adv + lambda * reg)/d(theta_R) through D against central differences. ReLU and max-pool
 * kinks make differences converge only for small steps (a bias moves every pixel of its
 * channel): eps = 1e-4 on float nets, whose loss rounding (~1e-7) then limits the difference
 * to ~1e-3 absolute, hence the tolerance. Plus one check of the whole gradient
 * along a random direction. */
static void check_fd(double lambda, int psi_cell) {
    rp_config cfg;
    tiny_config(&cfg);
    cfg.refiner.filters = 4;
    cfg.train.lambda = lambda;
    if (psi_cell) {
        snprintf(cfg.train.psi, sizeof cfg.train.psi, "cellmean");
        cfg.train.psi_cell = psi_cell;
    }
    train_state s;
    assert_int_equal(init_state(&s, &cfg), 0);
    size_t n = (size_t)cfg.train.batch * s.img;
    float *x = malloc(sizeof(float) * n);
    rng_t r;
    rng_seed(&r, 11, 0);
    /* noise, not blobs: a flat background puts hundreds of pixels on the same ReLU kink */
    for (size_t i = 0; i < n; i++) x[i] = rng_uniform(&r) * 1.8f - 0.9f;
    train_stats st;
    train_refiner_grad(&s, x, 1, &st);
    /* D's own gradients are not touched by the refiner step */
    for (size_t i = 0; i < s.D.p.count; i++) assert_true(s.D.p.grad[i] == 0.0f);
    size_t np = s.R.p.count;
    double *g = malloc(sizeof(double) * np);
    float *base = malloc(sizeof(float) * np), *dir = malloc(sizeof(float) * np);
    memcpy(base, s.R.p.data, sizeof(float) * np);
    double gmax = 0;
    for (size_t i = 0; i < np; i++) {
        g[i] = s.R.p.grad[i];
        gmax = fmax(gmax, fabs(g[i]));
    }
    assert_true(gmax > 1e-3); /* the adversarial gradient reaches R at all */
    int checked = 0, bad = 0;
    const double eps = 1e-4;
    for (int t = 0; t < s.R.p.ntensors; t++) {
        const param_tensor *pt = &s.R.p.tensors[t];
        for (int j = 0; j < 3; j++) {
            size_t i = pt->offset + (size_t)(rng_below(&r, (uint32_t)pt->count));
            float keep = s.R.p.data[i];
            s.R.p.data[i] = keep + (float)eps;
            double lp = refiner_loss(&s, x, lambda);
            s.R.p.data[i] = keep - (float)eps;
            double lm = refiner_loss(&s, x, lambda);
            s.R.p.data[i] = keep;
            double fd = (lp - lm) / (2 * eps), err = fabs(fd - g[i]);
            if (err > 0.05 * fabs(g[i]) + 2e-3) {
                bad++;
                print_message("  %s[%zu]: analytic %.6g, central difference %.6g\n", pt->name, i - pt->offset, g[i], fd);
            }
            checked++;
        }
    }
    /* a kink inside [-eps, eps] can spoil one difference; not more */
    assert_true(bad <= 1);
    assert_true(checked >= 15);
    /* directional: (L(p + eps u) - L(p - eps u)) / 2 eps vs g . u, u a random unit-variance direction */
    double gu = 0;
    for (size_t i = 0; i < np; i++) {
        dir[i] = (float)rng_normal(&r);
        gu += g[i] * dir[i];
    }
    for (size_t i = 0; i < np; i++) s.R.p.data[i] = base[i] + (float)eps * dir[i];
    double lp = refiner_loss(&s, x, lambda);
    for (size_t i = 0; i < np; i++) s.R.p.data[i] = base[i] - (float)eps * dir[i];
    double lm = refiner_loss(&s, x, lambda);
    double fd = (lp - lm) / (2 * eps);
    print_message("  lambda %g psi_cell %d: directional derivative %.6g, central difference %.6g\n", lambda, psi_cell,
                  gu, fd);
    assert_true(fabs(fd - gu) < 0.03 * fabs(gu) + 2e-3);
    free(g);
    free(base);
    free(dir);
    free(x);
    train_state_free(&s);
}

static void test_adversarial_gradient_fd(void **state) {
    (void)state;
    check_fd(0.0, 0);
}

static void test_full_refiner_gradient_fd(void **state) {
    (void)state;
    check_fd(0.5, 0);
    check_fd(0.5, 4);
}

/* ------------------------------------------------------------------------------------ */
/* steps */

static void test_disc_step_uses_history(void **state) {
    (void)state;
    rp_config cfg;
    tiny_config(&cfg);
    train_state s;
    assert_int_equal(init_state(&s, &cfg), 0);
    int b = cfg.train.batch;
    size_t n = (size_t)b * s.img;
    float *real = malloc(sizeof(float) * n), *syn = malloc(sizeof(float) * n);
    float *r0 = malloc(sizeof(float) * s.R.p.count), *d0 = malloc(sizeof(float) * s.D.p.count);
    rng_t r;
    rng_seed(&r, 5, 0);
    train_stats st;
    for (int i = 0; i < 8; i++) {
        blobs(real, b, &r, 1);
        blobs(syn, b, &r, 0);
        memcpy(r0, s.R.p.data, sizeof(float) * s.R.p.count);
        memcpy(d0, s.D.p.data, sizeof(float) * s.D.p.count);
        assert_int_equal(train_disc_step(&s, real, syn, &st), 0);
        long want = (long)(i + 1) * b / 2;
        assert_int_equal(s.hist.count, want < 12 ? want : 12);
        assert_memory_equal(r0, s.R.p.data, sizeof(float) * s.R.p.count); /* R untouched */
        assert_memory_not_equal(d0, s.D.p.data, sizeof(float) * s.D.p.count);
        assert_true(st.acc_real >= 0 && st.acc_real <= 1 && st.acc_fake >= 0 && st.acc_fake <= 1);
        assert_true(isfinite(st.d_real) && isfinite(st.d_fake));
    }
    /* the fresh half that entered the buffer is R(synthetic): check the last push */
    assert_int_equal(s.opt_d.t, 8);
    free(real);
    free(syn);
    free(r0);
    free(d0);
    train_state_free(&s);
}

static void test_steps_do_not_allocate(void **state) {
    (void)state;
    if (!COUNT_ALLOCS) skip();
#if COUNT_ALLOCS
    rp_config cfg;
    tiny_config(&cfg);
    snprintf(cfg.train.psi, sizeof cfg.train.psi, "cellmean");
    train_state s;
    assert_int_equal(init_state(&s, &cfg), 0);
    int b = cfg.train.batch;
    size_t n = (size_t)b * s.img;
    float *real = malloc(sizeof(float) * n), *syn = malloc(sizeof(float) * n);
    rng_t r;
    rng_seed(&r, 5, 0);
    blobs(real, b, &r, 1);
    blobs(syn, b, &r, 0);
    train_stats st;
    /* one warm-up of each (BLAS may set itself up on first use) */
    assert_int_equal(train_refiner_step(&s, syn, 1, &st), 0);
    assert_int_equal(train_disc_step(&s, real, syn, &st), 0);
    alloc_count = 0;
    alloc_counting = 1;
    for (int i = 0; i < 4; i++) {
        train_refiner_step(&s, syn, 0, &st);
        train_refiner_step(&s, syn, 1, &st);
        train_disc_step(&s, real, syn, &st);
    }
    alloc_counting = 0;
    assert_int_equal(alloc_count, 0);
    free(real);
    free(syn);
    train_state_free(&s);
#endif
}

static void test_nan_detected(void **state) {
    (void)state;
    rp_config cfg;
    tiny_config(&cfg);
    train_state s;
    assert_int_equal(init_state(&s, &cfg), 0);
    int b = cfg.train.batch;
    size_t n = (size_t)b * s.img;
    float *real = malloc(sizeof(float) * n), *syn = malloc(sizeof(float) * n);
    rng_t r;
    rng_seed(&r, 6, 0);
    blobs(real, b, &r, 1);
    blobs(syn, b, &r, 0);
    train_stats st;
    /* NaN in an input pixel */
    syn[17] = NAN;
    float *before = malloc(sizeof(float) * s.R.p.count);
    memcpy(before, s.R.p.data, sizeof(float) * s.R.p.count);
    assert_int_equal(train_refiner_step(&s, syn, 1, &st), RP_ENUM);
    assert_non_null(strstr(rp_errmsg(), "refiner"));
    assert_memory_equal(before, s.R.p.data, sizeof(float) * s.R.p.count); /* no update */
    syn[17] = 0;
    /* in a real image (R's ReLUs would swallow a NaN pixel of a synthetic one before D sees it;
     * its gradient still catches it, as above) */
    real[40] = NAN;
    assert_int_equal(train_disc_step(&s, real, syn, &st), RP_ENUM);
    assert_non_null(strstr(rp_errmsg(), "discriminator"));
    assert_int_equal(s.hist.count, 0); /* nothing pushed */
    real[40] = 0;
    /* NaN in a weight */
    s.D.p.data[3] = NAN;
    assert_int_equal(train_disc_step(&s, real, syn, &st), RP_ENUM);
    assert_int_equal(train_state_check_finite(&s), RP_ENUM);
    free(before);
    free(real);
    free(syn);
    train_state_free(&s);
}

/* ------------------------------------------------------------------------------------ */
/* a tiny run learns */

/* R's adversarial loss on batch x for parameter snapshots r_params / d_params (restored after). */
static double adv_loss_with(train_state *s, const float *x, const float *r_params, const float *d_params) {
    size_t nr = s->R.p.count, nd = s->D.p.count;
    float *keep_r = malloc(sizeof(float) * nr), *keep_d = malloc(sizeof(float) * nd);
    memcpy(keep_r, s->R.p.data, sizeof(float) * nr);
    memcpy(keep_d, s->D.p.data, sizeof(float) * nd);
    memcpy(s->R.p.data, r_params, sizeof(float) * nr);
    memcpy(s->D.p.data, d_params, sizeof(float) * nd);
    train_stats st;
    train_refiner_grad(s, x, 1, &st);
    memcpy(s->R.p.data, keep_r, sizeof(float) * nr);
    memcpy(s->D.p.data, keep_d, sizeof(float) * nd);
    free(keep_r);
    free(keep_d);
    return st.r_adv;
}

static void test_tiny_run_learns(void **state) {
    (void)state;
    rp_config cfg;
    tiny_config(&cfg);
    cfg.refiner.filters = 8;
    cfg.train.batch = 8;
    cfg.train.history_size = 64;
    cfg.train.lambda = 1.0;
    cfg.train.lr_refiner = 0.002;
    cfg.train.lr_disc = 0.001;
    cfg.train.seed = 2; /* seeds 1..3 x data seeds 1..3 all pass with margin; this one is typical */
    train_state s;
    assert_int_equal(init_state(&s, &cfg), 0);
    int b = cfg.train.batch;
    size_t n = (size_t)b * s.img;
    float *real = malloc(sizeof(float) * n), *syn = malloc(sizeof(float) * n), *probe = malloc(sizeof(float) * n);
    float *r_pre = malloc(sizeof(float) * s.R.p.count), *d_pre = malloc(sizeof(float) * s.D.p.count);
    rng_t r;
    rng_seed(&r, 2, 0);
    blobs(probe, b, &r, 0); /* a fixed synthetic batch to measure on */
    train_stats st;
    /* pretrain R toward the identity */
    for (int i = 0; i < 40; i++) {
        blobs(syn, b, &r, 0);
        assert_int_equal(train_refiner_step(&s, syn, 0, &st), 0);
    }
    double pre_l1 = st.r_l1;
    /* pretrain D */
    double acc = 0;
    for (int i = 0; i < 30; i++) {
        blobs(real, b, &r, 1);
        blobs(syn, b, &r, 0);
        assert_int_equal(train_disc_step(&s, real, syn, &st), 0);
        if (i >= 25) acc += (st.acc_real + st.acc_fake) / 2 / 5;
    }
    print_message("  after pretraining: |R(x)-x| %.4f, D accuracy %.3f (real %.3f, refined %.3f)\n", pre_l1, acc,
                  st.acc_real, st.acc_fake);
    assert_true(pre_l1 < 0.1);
    assert_true(acc > 0.8);
    memcpy(r_pre, s.R.p.data, sizeof(float) * s.R.p.count);
    memcpy(d_pre, s.D.p.data, sizeof(float) * s.D.p.count);
    /* adversarial iterations */
    double adv_first = 0, adv_last = 0, l1_last = 0;
    const int T = 40;
    for (int it = 0; it < T; it++) {
        for (int k = 0; k < 2; k++) {
            blobs(syn, b, &r, 0);
            assert_int_equal(train_refiner_step(&s, syn, 1, &st), 0);
            if (it < 5) adv_first += st.r_adv / 10;
            if (it >= T - 5) {
                adv_last += st.r_adv / 10;
                l1_last += st.r_l1 / 10;
            }
        }
        blobs(real, b, &r, 1);
        blobs(syn, b, &r, 0);
        assert_int_equal(train_disc_step(&s, real, syn, &st), 0);
    }
    /* Both nets moved, so the running loss mixes R's progress with D's; the falling loss is
     * measured against fixed discriminators: the pretrained one, and the final one. */
    double pre_by_pre = adv_loss_with(&s, probe, r_pre, d_pre), fin_by_pre = adv_loss_with(&s, probe, s.R.p.data, d_pre);
    double pre_by_fin = adv_loss_with(&s, probe, r_pre, s.D.p.data);
    double fin_by_fin = adv_loss_with(&s, probe, s.R.p.data, s.D.p.data);
    print_message("  running R adversarial loss %.3f -> %.3f, |R(x)-x| %.4f\n", adv_first, adv_last, l1_last);
    print_message("  R adversarial loss, pretrained R -> trained R: under pretrained D %.3f -> %.3f, "
                  "under final D %.3f -> %.3f\n", pre_by_pre, fin_by_pre, pre_by_fin, fin_by_fin);
    assert_true(fin_by_pre < 0.5 * pre_by_pre);
    assert_true(fin_by_fin < pre_by_fin);
    /* R brightens toward the real set (offset 40/255 of the range = 0.31 in [-1, 1] units) but
     * keeps the content: output and input stay strongly correlated */
    refiner_forward(&s.R, s.refined, probe, b);
    double shift = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double a = probe[i], c = s.refined[i];
        shift += (c - a) / n;
        sx += a, sy += c, sxx += a * a, syy += c * c, sxy += a * c;
    }
    double corr = (sxy - sx * sy / n) / sqrt((sxx - sx * sx / n) * (syy - sy * sy / n));
    print_message("  mean R(x) - x %.3f, correlation of R(x) with x %.3f\n", shift, corr);
    assert_true(shift > 0.15);
    assert_true(l1_last < 0.4);
    assert_true(corr > 0.85);
    free(real);
    free(syn);
    free(probe);
    free(r_pre);
    free(d_pre);
    train_state_free(&s);
}

/* ------------------------------------------------------------------------------------ */
/* the trainer over files */

static void run_config(rp_config *cfg, long iterations) {
    tiny_config(cfg);
    cfg->train.pretrain_refiner_steps = 3;
    cfg->train.pretrain_disc_steps = 3;
    cfg->train.iterations = iterations;
    cfg->train.k_g = 2;
    cfg->train.k_d = 1;
    cfg->train.checkpoint_every = 4;
    cfg->train.keep_checkpoints = 2;
    cfg->train.sample_every = 5;
    cfg->train.sample_images = 4;
}

static void data_paths(char *syn, char *real, size_t n) {
    snprintf(syn, n, "%s/syn.h5", tmpdir);
    snprintf(real, n, "%s/real.h5", tmpdir);
    if (access(syn, F_OK)) write_set(syn, 200, 0, 21);
    if (access(real, F_OK)) write_set(real, 150, 1, 22);
}

typedef struct {
    float *r, *d, *rm, *rv, *dm, *dv, *hist;
    long rt, dt, hcount, step;
    rng_t rng_data, rng_hist;
    size_t nr, nd, nh;
} snapshot;

static void take(snapshot *z, trainer *t) {
    train_state *s = trainer_state(t);
    z->nr = s->R.p.count, z->nd = s->D.p.count, z->nh = (size_t)s->hist.count * s->img;
    float **dst[7] = {&z->r, &z->rm, &z->rv, &z->d, &z->dm, &z->dv, &z->hist};
    const float *src[7] = {s->R.p.data, s->R.p.m, s->R.p.v, s->D.p.data, s->D.p.m, s->D.p.v, s->hist.data};
    size_t cnt[7] = {z->nr, z->nr, z->nr, z->nd, z->nd, z->nd, z->nh};
    for (int i = 0; i < 7; i++) {
        *dst[i] = malloc(sizeof(float) * (cnt[i] ? cnt[i] : 1));
        memcpy(*dst[i], src[i], sizeof(float) * cnt[i]);
    }
    z->rt = s->opt_r.t, z->dt = s->opt_d.t, z->hcount = s->hist.count, z->step = trainer_step(t);
    z->rng_data = s->rng_data, z->rng_hist = s->rng_hist;
}

static void assert_same(const snapshot *a, const snapshot *b) {
    assert_int_equal(a->step, b->step);
    assert_int_equal(a->nr, b->nr);
    assert_memory_equal(a->r, b->r, sizeof(float) * a->nr);
    assert_memory_equal(a->rm, b->rm, sizeof(float) * a->nr);
    assert_memory_equal(a->rv, b->rv, sizeof(float) * a->nr);
    assert_memory_equal(a->d, b->d, sizeof(float) * a->nd);
    assert_memory_equal(a->dm, b->dm, sizeof(float) * a->nd);
    assert_memory_equal(a->dv, b->dv, sizeof(float) * a->nd);
    assert_int_equal(a->hcount, b->hcount);
    assert_memory_equal(a->hist, b->hist, sizeof(float) * a->nh);
    assert_int_equal(a->rt, b->rt);
    assert_int_equal(a->dt, b->dt);
    assert_memory_equal(&a->rng_data, &b->rng_data, sizeof(rng_t));
    assert_memory_equal(&a->rng_hist, &b->rng_hist, sizeof(rng_t));
}

static void drop(snapshot *z) {
    free(z->r), free(z->rm), free(z->rv), free(z->d), free(z->dm), free(z->dv), free(z->hist);
}

/* metrics.csv without its last column (step time), as one string */
static char *metrics_sans_time(const char *run_dir, int *rows) {
    char path[256], line[1024];
    snprintf(path, sizeof path, "%s/metrics.csv", run_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(cap, 1);
    *rows = -1;
    while (fgets(line, sizeof line, f)) {
        char *comma = strrchr(line, ',');
        if (comma) *comma = 0;
        len += snprintf(out + len, cap - len, "%s\n", line);
        assert_true(len < cap);
        (*rows)++;
    }
    fclose(f);
    return out;
}

static trainer *open_run(const rp_config *cfg, const char *dir, int resume) {
    char syn[256], real[256];
    data_paths(syn, real, sizeof syn);
    trainer *t = NULL;
    int rc = trainer_open(&t, cfg, syn, real, dir, resume, 1);
    if (rc) print_message("trainer_open: %s\n", rp_errmsg());
    assert_int_equal(rc, 0);
    return t;
}

/* A cached and a streamed source give the same floats for the same rows. */
static void test_source_cache_equals_stream(void **state) {
    (void)state;
    char syn[256], real[256];
    data_paths(syn, real, sizeof syn);
    train_source a, b;
    assert_int_equal(train_source_open(&a, syn, 16, (size_t)1 << 30), 0);
    assert_int_equal(train_source_open(&b, syn, 16, 0), 0);
    assert_non_null(a.cache_u8);
    assert_null(b.cache_u8);
    assert_int_equal(a.N, 200);
    rng_t ra, rb;
    rng_seed(&ra, 4, 0);
    rb = ra;
    size_t n = 16 * (size_t)S * S;
    float *xa = malloc(sizeof(float) * n), *xb = malloc(sizeof(float) * n);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(train_source_sample(&a, &ra, 16, xa), 0);
        assert_int_equal(train_source_sample(&b, &rb, 16, xb), 0);
        assert_memory_equal(xa, xb, sizeof(float) * n);
    }
    float lo = 1, hi = -1;
    for (size_t i = 0; i < n; i++) lo = fminf(lo, xa[i]), hi = fmaxf(hi, xa[i]);
    assert_true(lo >= -1.0f && hi <= 1.0f && hi - lo > 1.0f); /* scaled to [-1, 1] */
    long rows[2] = {0, 200};
    assert_int_equal(train_source_read(&b, rows, 2, xb), RP_EARG);
    free(xa);
    free(xb);
    train_source_close(&a);
    train_source_close(&b);
}

/* 2n steps in one go == n steps, stop, --resume, the rest; also when the stop falls inside a
 * pretraining phase, and when the resumed run raises train.iterations. */
static void test_resume_bit_exact(void **state) {
    (void)state;
    rp_config cfg;
    char a_dir[128], b_dir[128], c_dir[128];
    snprintf(a_dir, sizeof a_dir, "%s/run_a", tmpdir);
    snprintf(b_dir, sizeof b_dir, "%s/run_b", tmpdir);
    snprintf(c_dir, sizeof c_dir, "%s/run_c", tmpdir);
    /* A: the whole schedule, 3 + 3 + 6 = 12 steps */
    run_config(&cfg, 6);
    trainer *t = open_run(&cfg, a_dir, 0);
    assert_int_equal(trainer_total_steps(t), 12);
    assert_int_equal(trainer_run(t), 0);
    assert_int_equal(trainer_step(t), 12);
    assert_int_equal(trainer_counters(t)->phase, TRAIN_PHASE_DONE);
    snapshot za, zb, zc;
    take(&za, t);
    assert_true(za.hcount == 12); /* 3 + 6 D steps of 2 fresh images, capacity 12 */
    trainer_close(t);
    /* B: T = 3 to its end (step 9), then resumed with T = 6 as `--set train.iterations=6` */
    run_config(&cfg, 3);
    t = open_run(&cfg, b_dir, 0);
    assert_int_equal(trainer_run(t), 0);
    assert_int_equal(trainer_step(t), 9);
    trainer_close(t);
    rp_config cfg2;
    assert_int_equal(trainer_resume_config(b_dir, &cfg2), 0);
    assert_int_equal(cfg2.train.iterations, 3);
    assert_int_equal(config_set_arg(&cfg2, "train.iterations=6"), 0);
    t = open_run(&cfg2, b_dir, 1);
    assert_int_equal(trainer_step(t), 9);
    assert_int_equal(trainer_run(t), 0);
    take(&zb, t);
    trainer_close(t);
    assert_same(&za, &zb);
    /* C: stopped at step 5 (inside discriminator pretraining) by the stop flag */
    run_config(&cfg, 6);
    t = open_run(&cfg, c_dir, 0);
    assert_int_equal(trainer_run_steps(t, 5), 0);
    volatile sig_atomic_t stop = 1;
    trainer_set_stop_flag(t, &stop);
    assert_int_equal(trainer_run(t), RP_EINTERNAL);
    assert_non_null(strstr(rp_errmsg(), "interrupted at step 5"));
    trainer_close(t);
    t = open_run(&cfg, c_dir, 1);
    assert_int_equal(trainer_step(t), 5);
    assert_int_equal(trainer_counters(t)->phase, TRAIN_PHASE_PRETRAIN_DISC);
    assert_int_equal(trainer_run(t), 0);
    take(&zc, t);
    trainer_close(t);
    assert_same(&za, &zc);
    /* metrics.csv: one row per step, identical except step times */
    int ra, rb, rc;
    char *ma = metrics_sans_time(a_dir, &ra), *mb = metrics_sans_time(b_dir, &rb), *mc = metrics_sans_time(c_dir, &rc);
    assert_int_equal(ra, 12);
    assert_int_equal(rb, 12);
    assert_int_equal(rc, 12);
    assert_string_equal(ma, mb);
    assert_string_equal(ma, mc);
    free(ma), free(mb), free(mc);
    drop(&za), drop(&zb), drop(&zc);
}

static void test_run_directory(void **state) {
    (void)state;
    rp_config cfg;
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "%s/run_dir", tmpdir);
    run_config(&cfg, 6);
    trainer *t = open_run(&cfg, dir, 0);
    assert_int_equal(trainer_run(t), 0);
    trainer_close(t);
    /* checkpoints: every 4 steps and the end, last 2 kept, latest -> step 12 */
    const long kept[] = {8, 12}, gone[] = {4};
    for (int i = 0; i < 2; i++) {
        checkpoint_path(path, sizeof path, dir, 0);
        snprintf(path, sizeof path, "%s/checkpoints/step_%09ld.h5", dir, kept[i]);
        assert_int_equal(access(path, F_OK), 0);
    }
    snprintf(path, sizeof path, "%s/checkpoints/step_%09ld.h5", dir, gone[0]);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/checkpoints/latest.h5", dir);
    rp_config back;
    refiner r;
    long step = 0;
    assert_int_equal(checkpoint_load_refiner(path, &r, &back, &step), 0);
    assert_int_equal(step, 12);
    assert_int_equal(r.cfg.F, cfg.refiner.filters);
    refiner_free(&r);
    /* the effective config, as INI */
    snprintf(path, sizeof path, "%s/config.ini", dir);
    config_defaults(&back);
    assert_int_equal(config_load_file(&back, path), 0);
    assert_int_equal(memcmp(&back, &cfg, sizeof cfg), 0);
    /* sample sheets every 5 steps and at the end */
    const long sheets[] = {5, 10, 12};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/samples/step_%06ld.png", dir, sheets[i]);
        assert_int_equal(access(path, F_OK), 0);
    }
    /* metrics header and phases */
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    FILE *f = fopen(path, "r");
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "step,phase,r_adv,r_reg,d_loss_real,d_loss_refined,d_acc_real,d_acc_refined,"
                              "r_mean_abs_diff,step_time\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_int_equal(strncmp(line, "1,pretrain_refiner,,", 20), 0); /* no adversarial loss yet */
    for (int i = 0; i < 4; i++) assert_non_null(fgets(line, sizeof line, f));
    assert_int_equal(strncmp(line, "5,pretrain_disc,,,", 18), 0);
    for (int i = 0; i < 7; i++) assert_non_null(fgets(line, sizeof line, f));
    assert_int_equal(strncmp(line, "12,adversarial,", 15), 0);
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
    /* a finished run reopened with --resume has nothing to do */
    t = open_run(&cfg, dir, 1);
    assert_int_equal(trainer_run(t), 0);
    assert_int_equal(trainer_step(t), 12);
    trainer_close(t);
}

static void test_nan_stops_naming_step(void **state) {
    (void)state;
    rp_config cfg;
    char dir[128], latest[512];
    snprintf(dir, sizeof dir, "%s/run_nan", tmpdir);
    run_config(&cfg, 6);
    cfg.train.checkpoint_every = 1;
    trainer *t = open_run(&cfg, dir, 0);
    assert_int_equal(trainer_run_steps(t, 4), 0);
    trainer_state(t)->D.p.data[7] = NAN; /* as if an update had blown up */
    assert_int_equal(trainer_run(t), RP_ENUM);
    print_message("  %s\n", rp_errmsg());
    assert_non_null(strstr(rp_errmsg(), "step 5 (pretrain_disc)"));
    assert_non_null(strstr(rp_errmsg(), "discriminator"));
    assert_int_equal(trainer_step(t), 4);
    trainer_close(t);
    /* the last good checkpoint is still the latest, and it is finite */
    char ck[256];
    snprintf(ck, sizeof ck, "%s/checkpoints", dir);
    assert_int_equal(checkpoint_find_latest(ck, latest, sizeof latest), 0);
    assert_non_null(strstr(latest, "step_000000004.h5"));
    t = open_run(&cfg, dir, 1);
    assert_int_equal(trainer_step(t), 4);
    assert_int_equal(train_state_check_finite(trainer_state(t)), 0);
    trainer_close(t);
}

static void test_open_errors(void **state) {
    (void)state;
    rp_config cfg;
    char dir[128], syn[256], real[256], small[256];
    data_paths(syn, real, sizeof syn);
    run_config(&cfg, 2);
    trainer *t;
    /* --resume with nothing to resume */
    snprintf(dir, sizeof dir, "%s/run_err", tmpdir);
    assert_int_equal(trainer_open(&t, &cfg, syn, real, dir, 1, 1), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "no checkpoint to resume from"));
    /* a second fresh run into a used directory */
    assert_int_equal(trainer_open(&t, &cfg, syn, real, dir, 0, 1), 0);
    assert_int_equal(trainer_run(t), 0);
    trainer_close(t);
    assert_int_equal(trainer_open(&t, &cfg, syn, real, dir, 0, 1), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "already holds a training run"));
    /* resumed with another architecture */
    cfg.refiner.filters = 5;
    assert_int_equal(trainer_open(&t, &cfg, syn, real, dir, 1, 1), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "refiner.filters = 6 in the checkpoint, 5 now"));
    cfg.refiner.filters = 6;
    /* real images of another size */
    snprintf(small, sizeof small, "%s/small.h5", tmpdir);
    h5ds_writer *w;
    h5ds_provenance prov = {.kind = "real", .scene = "external", .seed = -1, .refiner_step = -1};
    uint8_t img[12 * 12] = {0};
    assert_int_equal(h5ds_create(&w, small, 12, 12, 1, NULL, 0, &prov, NULL), 0);
    assert_int_equal(h5ds_append(w, 1, img, NULL, NULL), 0);
    assert_int_equal(h5ds_finish(w), 0);
    snprintf(dir, sizeof dir, "%s/run_err2", tmpdir);
    assert_int_equal(trainer_open(&t, &cfg, syn, small, dir, 0, 1), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "16x16"));
    assert_non_null(strstr(rp_errmsg(), "12x12"));
    assert_non_null(strstr(rp_errmsg(), "same size"));
    /* odd batch */
    cfg.train.batch = 5;
    assert_int_equal(trainer_open(&t, &cfg, syn, real, dir, 0, 1), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "train.batch"));
}

/* D wins outright (R frozen by a zero learning rate): the warning users of other
 * implementations never got must appear in train.log after 100 saturated iterations. */
static void test_warns_when_d_saturates(void **state) {
    (void)state;
    rp_config cfg;
    char dir[128], path[256], line[1024];
    snprintf(dir, sizeof dir, "%s/run_warn", tmpdir);
    run_config(&cfg, 130);
    cfg.refiner.filters = 4;
    cfg.train.pretrain_refiner_steps = 0;
    cfg.train.pretrain_disc_steps = 20;
    cfg.train.k_g = 1;
    cfg.train.lr_refiner = 0;
    cfg.train.lr_disc = 0.002;
    cfg.train.checkpoint_every = 1000;
    cfg.train.sample_every = 0;
    trainer *t = open_run(&cfg, dir, 0);
    assert_int_equal(trainer_run(t), 0);
    long run = trainer_counters(t)->d_saturated_run;
    trainer_close(t);
    print_message("  D saturated for the last %ld iterations\n", run);
    assert_true(run >= 100);
    snprintf(path, sizeof path, "%s/train.log", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int warned = 0;
    while (fgets(line, sizeof line, f)) warned += strstr(line, "warning: the discriminator has classified") != NULL;
    fclose(f);
    assert_int_equal(warned, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adversarial_gradient_fd),
        cmocka_unit_test(test_full_refiner_gradient_fd),
        cmocka_unit_test(test_disc_step_uses_history),
        cmocka_unit_test(test_steps_do_not_allocate),
        cmocka_unit_test(test_nan_detected),
        cmocka_unit_test(test_tiny_run_learns),
        cmocka_unit_test(test_source_cache_equals_stream),
        cmocka_unit_test(test_resume_bit_exact),
        cmocka_unit_test(test_run_directory),
        cmocka_unit_test(test_nan_stops_naming_step),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_warns_when_d_saturates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
