/* Benchmark of the networks, shaped like the PyTorch peer benchmark (PyTorch 1.13 + oneDNN; run right after
 * it on the same machine and compare ratios):
 *   refine    = R inference at batch 256 (refiner_infer), images/s;
 *   iteration = the trainer's SimGAN iteration at batch 64: 2 refiner steps + 1 D step on 64 real
 *               and 64 refined images (32 fresh, 32 from the history buffer), Adam on both, with
 *               train_refiner_step / train_disc_step as `train` runs them (config defaults
 *               otherwise), iterations/s.
 * Configs as the peer names them: DIGITS (28x28) and EYES (35x55) with R(64,4); DIGITS-SMALL and
 * EYES-SMALL with R(32,3), the default refiner. Effective GFLOP/s counts convolution flops as the
 * peer's flops.py does (R and D forward; backward twice the forward), whatever algorithm ran;
 * "% peak" is that against this machine's register-only FMA peak for the same thread count,
 * measured here first (AVX-512 when the CPU has it, else AVX2). Outputs are checked before
 * anything is timed; times are medians after one warm-up.
 * Usage: bench_nets [runs (3)] [--configs DIGITS,EYES,...] [--threads 1,2] */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/rng.h"
#include "bench/bench_util.h"
#include "io/config.h"
#include "nn/conv2d_fast.h"
#include "nn/gemm.h"
#include "refiner/train_step.h"

#define REFINE_BATCH 256
#define TRAIN_BATCH 64

typedef struct {
    const char *name;
    int H, W, F, B;
} config;

static const config CONFIGS[] = {
    {"DIGITS", 28, 28, 64, 4}, {"EYES", 35, 55, 64, 4}, {"DIGITS-SMALL", 28, 28, 32, 3}, {"EYES-SMALL", 35, 55, 32, 3}};
enum { NCONFIGS = sizeof CONFIGS / sizeof *CONFIGS };

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
/* FMA peak: 12 independent accumulator chains of register-only FMAs per thread (as
 * the peer benchmark's own FMA probe), 2 flops per lane per FMA. */

enum { PEAK_ACC = 12 };
static const long PEAK_LOOPS = 20000000L;
static volatile float peak_sink;

__attribute__((target("avx512f"))) static void *fma512(void *arg) {
    (void)arg;
    __m512 acc[PEAK_ACC], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < PEAK_ACC; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long l = 0; l < PEAK_LOOPS; l++) {
#pragma GCC unroll 12
        for (int i = 0; i < PEAK_ACC; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    float s = 0;
    for (int i = 0; i < PEAK_ACC; i++) s += _mm512_cvtss_f32(acc[i]);
    peak_sink = s;
    return NULL;
}

__attribute__((target("avx2,fma"))) static void *fma256(void *arg) {
    (void)arg;
    __m256 acc[PEAK_ACC], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < PEAK_ACC; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long l = 0; l < PEAK_LOOPS; l++) {
#pragma GCC unroll 12
        for (int i = 0; i < PEAK_ACC; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
    float s = 0;
    for (int i = 0; i < PEAK_ACC; i++) s += _mm256_cvtss_f32(acc[i]);
    peak_sink = s;
    return NULL;
}

/* Median of `runs` runs on `threads` threads, GFLOP/s; lanes: 16 (AVX-512) or 8 (AVX2). */
static double fma_peak(int threads, int lanes, int runs) {
    void *(*fn)(void *) = lanes == 16 ? fma512 : fma256;
    double t[5];
    fn(NULL);
    for (int r = 0; r < runs; r++) {
        pthread_t th[16];
        double t0 = bench_now();
        for (int i = 1; i < threads; i++)
            if (pthread_create(&th[i], NULL, fn, NULL)) die("pthread_create");
        fn(NULL);
        for (int i = 1; i < threads; i++) pthread_join(th[i], NULL);
        t[r] = bench_now() - t0;
    }
    return 2.0 * lanes * PEAK_ACC * (double)PEAK_LOOPS * threads / bench_median(t, runs) * 1e-9;
}

/* ------------------------------------------------------------------------------------------ */
/* (a) inference */

static double bench_refine(const config *c, int runs, double *gflops) {
    refiner R;
    refiner_config rc = {1, c->F, c->B, REFINER_OUT_CLAMP};
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
/* (b) one training iteration, as the trainer runs it */

/* Convolution flops of one iteration, counted as the peer's flops.py: a refiner step is R and D
 * forward and backward on b images (3x forward), a D step R forward on b/2 fresh images and D
 * forward and backward on 2b. */
static double iteration_flops(const train_state *s) {
    const double b = s->setup.batch, r = refiner_flops(&s->R, 1), d = disc_flops(&s->D, 1);
    return 2 * (b * 3 * (r + d)) + (b / 2 * r + 2 * b * 3 * d);
}

static int iteration(train_state *s, const float *synth, const float *real) {
    train_stats st;
    for (int k = 0; k < 2; k++)
        if (train_refiner_step(s, synth, 1, &st)) return -1;
    return train_disc_step(s, real, synth, &st);
}

static double bench_train(const config *c, int runs, double *gflops) {
    rp_config cfg;
    config_defaults(&cfg);
    char v[32];
    snprintf(v, sizeof v, "%d", TRAIN_BATCH);
    config_set(&cfg, "train.batch", v);
    snprintf(v, sizeof v, "%d", c->F);
    config_set(&cfg, "refiner.filters", v);
    snprintf(v, sizeof v, "%d", c->B);
    config_set(&cfg, "refiner.blocks", v);
    train_setup su;
    train_state s;
    if (train_setup_from_config(&su, &cfg, 1, c->H, c->W) || train_state_init(&s, &su)) die("trainer setup failed");
    rng_t rng;
    rng_seed(&rng, 3, 0);
    const int b = TRAIN_BATCH;
    float *synth = images(&rng, (size_t)b * s.img), *real = images(&rng, (size_t)b * s.img);
    /* a full history, as the peer's */
    while (s.hist.count < s.hist.capacity) history_push(&s.hist, &s.rng_hist, synth, b / 2);
    /* check: the iteration succeeds and both networks move */
    float r0 = s.R.blk_w1[c->B - 1][5], d0 = s.D.w[1][7];
    if (iteration(&s, synth, real)) die("training iteration failed");
    if (s.R.blk_w1[c->B - 1][5] == r0 || s.D.w[1][7] == d0) die("a network did not move");
    double tm[32];
    for (int r = 0; r < runs; r++) {
        double t0 = bench_now();
        if (iteration(&s, synth, real)) die("training iteration failed");
        tm[r] = bench_now() - t0;
    }
    const double med = bench_median(tm, runs);
    *gflops = iteration_flops(&s) / med * 1e-9;
    train_state_free(&s);
    free(synth), free(real);
    return 1.0 / med;
}

/* ------------------------------------------------------------------------------------------ */

/* "1,2" -> {1, 2}; returns the count. */
static int parse_ints(const char *s, int *out, int max) {
    int n = 0;
    for (const char *p = s; *p && n < max;) {
        out[n++] = atoi(p);
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    return n;
}

int main(int argc, char **argv) {
    int runs = 3, threads[4] = {1, 2}, nthreads = 2;
    const char *configs = "DIGITS,EYES,DIGITS-SMALL,EYES-SMALL";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--configs") && i + 1 < argc) configs = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) nthreads = parse_ints(argv[++i], threads, 4);
        else runs = atoi(argv[i]);
    }
    if (runs < 1 || runs > 32 || nthreads < 1)
        die("usage: bench_nets [runs (1..32, default 3)] [--configs DIGITS,EYES,DIGITS-SMALL,EYES-SMALL] "
            "[--threads 1,2]");
    bench_print_machine(argc, argv);
    __builtin_cpu_init();
    const int lanes = __builtin_cpu_supports("avx512f") ? 16 : 8;
    double peak[4];
    printf("FMA peak (register-only %s FMAs):", lanes == 16 ? "AVX-512" : "AVX2");
    for (int t = 0; t < nthreads; t++) {
        peak[t] = fma_peak(threads[t], lanes, 5);
        printf(" %.1f GFLOP/s with %d thread%s%s", peak[t], threads[t], threads[t] == 1 ? "" : "s",
               t + 1 < nthreads ? "," : "\n");
    }
    /* The peak scales with the thread count on an idle machine: less means others share the cores. */
    for (int t = 1; t < nthreads; t++)
        if (peak[t] < 0.85 * peak[0] * threads[t] / threads[0])
            printf("WARNING: the %d-thread peak is %.0f%% of %d x the %d-thread one: the cores are shared, timings "
                   "are not comparable\n",
                   threads[t], 100 * peak[t] / (peak[0] * threads[t] / threads[0]), threads[t] / threads[0], threads[0]);
    printf("conv kernels: %s (RP_CONV_KERNELS=reference|avx2|avx512 to choose)\n",
           conv2d_kernels_name(conv2d_kernels_active()));
    printf("refine = R inference at batch %d; iteration = 2 refiner steps + 1 D step at batch %d (D: %d real + %d\n"
           "refined, %d fresh and %d from the history), Adam on both, as `train` runs them. DIGITS/EYES: R(64,4);\n"
           "-SMALL: R(32,3). GFLOP/s: convolution flops as the peer's flops.py counts them. Medians of %d runs\n"
           "after one warm-up.\n\n",
           REFINE_BATCH, TRAIN_BATCH, TRAIN_BATCH, TRAIN_BATCH, TRAIN_BATCH / 2, TRAIN_BATCH / 2, runs);
    printf("%-12s %-6s %7s | %10s %7s %6s | %8s %7s %6s | %s\n", "config", "size", "threads", "refine/s", "GFLOP/s",
           "%peak", "iter/s", "GFLOP/s", "%peak", "FMA peak after");
    for (int ci = 0; ci < NCONFIGS; ci++) {
        const config *c = &CONFIGS[ci];
        /* whole names only: DIGITS must not select DIGITS-SMALL */
        char want[128];
        snprintf(want, sizeof want, ",%s,", configs);
        char key[32];
        snprintf(key, sizeof key, ",%s,", c->name);
        if (!strstr(want, key)) continue;
        for (int t = 0; t < nthreads; t++) {
            nn_set_threads(threads[t]);
            double gf_r, gf_t, ref = bench_refine(c, runs, &gf_r), it = bench_train(c, runs, &gf_t);
            char size[16];
            snprintf(size, sizeof size, "%dx%d", c->H, c->W);
            /* the peak again, right after: below 85% of the first, others took the cores meanwhile */
            const double now = fma_peak(threads[t], lanes, 1);
            printf("%-12s %-6s %7d | %10.1f %7.1f %5.1f%% | %8.3f %7.1f %5.1f%% | %.0f%s\n", c->name, size, threads[t], ref,
                   gf_r, 100 * gf_r / peak[t], it, gf_t, 100 * gf_t / peak[t], now, now < 0.85 * peak[t] ? " SHARED" : "");
            fflush(stdout);
        }
    }
    return 0;
}
