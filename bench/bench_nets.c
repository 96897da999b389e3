/* Benchmark of the networks: images/s of R(64,4) inference at batch 256, and SimGAN training
 * iterations/s at batch 64 (2 refiner steps + 1 discriminator step with a history buffer), for
 * EYES (1x35x55) and DIGITS (1x28x28), with 1 and 2 threads, next to the PyTorch figures of
 * issue 2. Outputs are checked before anything is timed; times are medians after a warm-up.
 * Usage: bench_nets [runs (3)] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "losses/losses.h"
#include "nn/gemm.h"
#include "nn/optim.h"
#include "base/rng.h"
#include "refiner/disc.h"
#include "refiner/history.h"
#include "refiner/refiner.h"
#include "bench/bench_util.h"

#define REFINE_BATCH 256
#define TRAIN_BATCH 64
#define LAMBDA 1e-3f

typedef struct {
    const char *name;
    int H, W;
    double torch_refine, torch_iter; /* PyTorch 1.13, 2 threads (issue 2) */
} config;

static const config CONFIGS[2] = {{"EYES", 35, 55, 309, 0.70}, {"DIGITS", 28, 28, 753, 1.75}};

static void die(const char *what) {
    fprintf(stderr, "bench_nets: %s\n", what);
    exit(1);
}

static float *images(rng_t *r, size_t n) {
    float *x = malloc(n * sizeof *x);
    if (!x) die("out of memory");
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_range(r, -1, 1);
    return x;
}

/* ------------------------------------------------------------------------------------------ */
/* (a) inference */

static double bench_refine(const config *c, int runs, double *gflops) {
    refiner R;
    refiner_config rc = {1, 64, 4, REFINER_OUT_TANH};
    if (refiner_init(&R, &rc, 1) || refiner_prepare_infer(&R, REFINE_BATCH, c->H, c->W)) die("refiner setup failed");
    rng_t rng;
    rng_seed(&rng, 2, 0);
    const size_t img = (size_t)c->H * c->W;
    float *x = images(&rng, REFINE_BATCH * img), *y = malloc(REFINE_BATCH * img * sizeof(float));
    float *y1 = malloc(2 * img * sizeof(float));
    if (!y || !y1) die("out of memory");
    /* check: the batched inference pass equals the training forward of the first two images */
    refiner_infer(&R, y, x, REFINE_BATCH);
    refiner check;
    if (refiner_init(&check, &rc, 1) || refiner_prepare(&check, 2, c->H, c->W)) die("refiner setup failed");
    refiner_forward(&check, y1, x, 2);
    for (size_t i = 0; i < 2 * img; i++)
        if (!(fabsf(y[i] - y1[i]) <= 1e-5f)) die("refiner_infer disagrees with refiner_forward");
    for (size_t i = 0; i < REFINE_BATCH * img; i++)
        if (!(fabsf(y[i]) <= 1)) die("refiner output outside [-1, 1]");
    refiner_free(&check);
    double t[32];
    for (int r = 0; r < runs; r++) {
        double t0 = bench_now();
        refiner_infer(&R, y, x, REFINE_BATCH);
        t[r] = bench_now() - t0;
    }
    double med = bench_median(t, runs);
    *gflops = refiner_flops(&R, REFINE_BATCH) / med * 1e-9;
    refiner_free(&R);
    free(x), free(y), free(y1);
    return REFINE_BATCH / med;
}

/* ------------------------------------------------------------------------------------------ */
/* (b) one training iteration */

typedef struct {
    refiner R;
    disc D;
    optim oR, oD;
    history hist;
    rng_t rng;
    int b, OH, OW;
    size_t img;
    float *synth, *real, *rx, *drx, *batch, *logits, *probs, *dlogits;
    int target[TRAIN_BATCH];
    double adv, l1, dloss;
} trainer;

static void trainer_init(trainer *t, const config *c) {
    memset(t, 0, sizeof *t);
    t->b = TRAIN_BATCH;
    refiner_config rc = {1, 64, 4, REFINER_OUT_TANH};
    disc_config dc = {1};
    if (refiner_init(&t->R, &rc, 1) || refiner_prepare(&t->R, t->b, c->H, c->W)) die("refiner setup failed");
    if (disc_init(&t->D, &dc, 2) || disc_prepare(&t->D, t->b, c->H, c->W)) die("discriminator setup failed");
    optim_init_adam(&t->oR, 1e-3f, 0.9f, 0.999f, 1e-8f);
    optim_init_adam(&t->oD, 1e-3f, 0.9f, 0.999f, 1e-8f);
    t->OH = t->D.OH, t->OW = t->D.OW;
    t->img = (size_t)c->H * c->W;
    rng_seed(&t->rng, 3, 0);
    t->synth = images(&t->rng, t->b * t->img);
    t->real = images(&t->rng, t->b * t->img);
    const size_t map = (size_t)t->b * 2 * t->OH * t->OW;
    t->rx = malloc(t->b * t->img * sizeof(float));
    t->drx = malloc(t->b * t->img * sizeof(float));
    t->batch = malloc(t->b * t->img * sizeof(float));
    t->logits = malloc(map * sizeof(float));
    t->probs = malloc(map * sizeof(float));
    t->dlogits = malloc(map * sizeof(float));
    if (!t->rx || !t->drx || !t->batch || !t->logits || !t->probs || !t->dlogits) die("out of memory");
    /* a history of 100 half-batches of refined images, filled before timing starts */
    if (history_init(&t->hist, 100L * t->b / 2, t->img, t->b)) die("history setup failed");
    for (int i = 0; i < 100; i++) history_push(&t->hist, &t->rng, t->synth, t->b / 2);
}

static void trainer_free(trainer *t) {
    refiner_free(&t->R);
    disc_free(&t->D);
    history_free(&t->hist);
    float *p[] = {t->synth, t->real, t->rx, t->drx, t->batch, t->logits, t->probs, t->dlogits};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) free(p[i]);
}

/* R forward, D forward, adv loss + L1, D backward without D's gradients, R backward, Adam. */
static void refiner_step(trainer *t) {
    const int b = t->b;
    const size_t n = b * t->img, map = (size_t)b * 2 * t->OH * t->OW;
    param_block_zero_grad(&t->R.p);
    refiner_forward(&t->R, t->rx, t->synth, b);
    disc_forward(&t->D, t->logits, t->rx, b);
    for (int i = 0; i < b; i++) t->target[i] = ADV_REAL;
    t->adv = adv_loss_forward(t->probs, t->logits, t->target, b, t->OH, t->OW, NULL);
    t->l1 = l1_forward(t->rx, t->synth, n);
    memset(t->dlogits, 0, map * sizeof(float));
    adv_loss_backward(t->dlogits, t->probs, t->target, b, t->OH, t->OW, 1.0f);
    memset(t->drx, 0, n * sizeof(float));
    disc_backward(&t->D, t->drx, t->dlogits, b, 0);
    l1_backward(t->drx, t->rx, t->synth, n, LAMBDA);
    refiner_backward(&t->R, NULL, t->drx, b);
    optim_step(&t->oR, &t->R.p);
}

/* D on b/2 real + b/2 refined (b/4 fresh, b/4 from the history), both halves forward and
 * backward with D's gradients, Adam; the fresh images then enter the history. */
static void disc_step(trainer *t) {
    const int b = t->b, h = b / 2, q = b / 4;
    const size_t map = (size_t)b * 2 * t->OH * t->OW, half = map / 2;
    memcpy(t->batch, t->real, h * t->img * sizeof(float));
    float *fresh = t->batch + h * t->img;
    refiner_infer(&t->R, fresh, t->synth, q);
    history_sample(&t->hist, &t->rng, fresh + q * t->img, h - q);
    for (int i = 0; i < b; i++) t->target[i] = i < h ? ADV_REAL : ADV_REFINED;
    param_block_zero_grad(&t->D.p);
    disc_forward(&t->D, t->logits, t->batch, b);
    t->dloss = adv_loss_forward(t->probs, t->logits, t->target, h, t->OH, t->OW, NULL) +
               adv_loss_forward(t->probs + half, t->logits + half, t->target + h, h, t->OH, t->OW, NULL);
    memset(t->dlogits, 0, map * sizeof(float));
    adv_loss_backward(t->dlogits, t->probs, t->target, h, t->OH, t->OW, 1.0f);
    adv_loss_backward(t->dlogits + half, t->probs + half, t->target + h, h, t->OH, t->OW, 1.0f);
    disc_backward(&t->D, NULL, t->dlogits, b, 1);
    optim_step(&t->oD, &t->D.p);
    history_push(&t->hist, &t->rng, fresh, q);
}

static void iteration(trainer *t) {
    refiner_step(t);
    refiner_step(t);
    disc_step(t);
}

static double bench_train(const config *c, int runs) {
    trainer t;
    trainer_init(&t, c);
    /* check: the losses are finite and both networks move */
    float r0 = t.R.blk_w1[2][5], d0 = t.D.w[1][7];
    iteration(&t);
    if (!isfinite(t.adv) || !isfinite(t.l1) || !isfinite(t.dloss)) die("non-finite loss");
    if (t.R.blk_w1[2][5] == r0 || t.D.w[1][7] == d0) die("a network did not move");
    if (t.hist.count != t.hist.capacity) die("history not full");
    double tm[32];
    for (int r = 0; r < runs; r++) {
        double t0 = bench_now();
        iteration(&t);
        tm[r] = bench_now() - t0;
    }
    trainer_free(&t);
    return 1.0 / bench_median(tm, runs);
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 3;
    if (runs < 1 || runs > 32) die("usage: bench_nets [runs (1..32, default 3)]");
    bench_print_machine(argc, argv);
    printf("R(64,4) and D of SimGAN; refine = R inference at batch %d; iteration = 2 refiner steps + 1 D step at\n"
           "batch %d (D: %d real + %d refined, of which %d fresh and %d from a history of %d), Adam on both.\n"
           "Medians of %d runs after one warm-up. PyTorch: 1.13, oneDNN AVX-512, 2 threads (issue 2).\n\n",
           REFINE_BATCH, TRAIN_BATCH, TRAIN_BATCH / 2, TRAIN_BATCH / 2, TRAIN_BATCH / 4, TRAIN_BATCH / 4,
           100 * TRAIN_BATCH / 2, runs);
    printf("%-7s %-6s %7s | %10s %7s %9s | %8s %9s\n", "config", "size", "threads", "refine/s", "GFLOP/s", "vs torch",
           "iter/s", "vs torch");
    for (int ci = 0; ci < 2; ci++) {
        const config *c = &CONFIGS[ci];
        for (int th = 1; th <= 2; th++) {
            nn_set_threads(th);
            double gf, ref = bench_refine(c, runs, &gf);
            double it = bench_train(c, runs);
            char size[16];
            snprintf(size, sizeof size, "%dx%d", c->H, c->W);
            printf("%-7s %-6s %7d | %10.1f %7.1f %8.2fx | %8.3f %8.2fx\n", c->name, size, th, ref, gf,
                   ref / c->torch_refine, it, it / c->torch_iter);
            fflush(stdout);
        }
    }
    return 0;
}
