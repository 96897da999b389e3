/* Benchmark of `refine` (issue 5): images/s of the whole streaming job (read, R forward,
 * pack, part files, HDF5 assembly with compression, labels copied) next to R(64,4) forward
 * alone at the same batch, for DIGITS (28x28) and EYES (35x55) simulated sets. The job should
 * run within 10% of the forward figure: I/O and compression must not be the bottleneck.
 * The refined file is checked against R applied independently before anything is reported.
 * Usage: bench_refine [threads (2)] */
#include "bench/bench_util.h"
#include "refiner/checkpoint.h"
#include "io/h5ds.h"
#include "base/status.h"
#include "base/rng.h"
#include "pipelines/refine.h"
#include "pipelines/simulate.h"
#include "refiner/train_step.h"

static void die(const char *what) {
    fprintf(stderr, "bench_refine: %s: %s\n", what, rp_errmsg());
    exit(1);
}

static void bench_scene(const char *scene, long n, int threads, const char *dir) {
    rp_config cfg;
    config_defaults(&cfg);
    char nbuf[32], syn[256], ck[256], out[256];
    snprintf(nbuf, sizeof nbuf, "%ld", n);
    config_set(&cfg, "simulate.scene", scene);
    config_set(&cfg, "simulate.n", nbuf);
    config_set(&cfg, "refiner.filters", "64"); /* the paper's R(64,4), as in bench_nets */
    config_set(&cfg, "refiner.blocks", "4");
    snprintf(syn, sizeof syn, "%s/%s.h5", dir, scene);
    snprintf(ck, sizeof ck, "%s/%s-ck.h5", dir, scene);
    snprintf(out, sizeof out, "%s/%s-refined.h5", dir, scene);
    if (simulate_run(&cfg, syn, threads, 1)) die("simulate");
    h5ds_reader *in;
    if (h5ds_open(&in, syn)) die("open");
    const h5ds_info *info = h5ds_get_info(in);
    int H = info->H, W = info->W, B = cfg.refine.batch;

    /* an R(64,4) checkpoint (He init) */
    train_setup su;
    train_state s;
    train_counters k = {0};
    if (train_setup_from_config(&su, &cfg, 1, H, W) || train_state_init(&s, &su)) die("train_state_init");
    if (checkpoint_save(ck, &s, &k, NULL, NULL, NULL)) die("checkpoint_save");

    /* R forward alone, batch B */
    float *x = malloc(sizeof(float) * B * H * W), *y = malloc(sizeof(float) * B * H * W);
    if (h5ds_read_images_f32(in, 0, B < n ? B : n, x, -1, 1)) die("read");
    if (refiner_prepare(&s.R, B, H, W)) die("prepare");
    refiner_forward(&s.R, y, x, B); /* warm-up */
    double t[5];
    for (int r = 0; r < 5; r++) {
        double t0 = bench_now();
        refiner_forward(&s.R, y, x, B);
        t[r] = bench_now() - t0;
    }
    double fwd = B / bench_median(t, 5);

    /* the whole refine job, twice; median */
    refine_options o = {.checkpoint = ck, .input = syn, .output = out, .resume = REFINE_FRESH, .quiet = 1,
                        .cfg = &cfg};
    refine_result res;
    double job[2];
    for (int r = 0; r < 2; r++) {
        if (refine_run(&o, &res)) die("refine_run");
        job[r] = res.images / res.seconds_total;
    }
    double jobm = 0.5 * (job[0] + job[1]);

    /* check: rows of the output equal R applied here */
    h5ds_reader *rf;
    if (h5ds_open(&rf, out)) die("open refined");
    uint8_t *want = malloc((size_t)B * H * W), *got = malloc((size_t)B * H * W);
    h5ds_pack_u8(want, y, B, 1, H, W, -1, 1);
    if (h5ds_read_images_u8(rf, 0, B, got) || memcmp(want, got, (size_t)B * H * W))
        die("refined rows differ from R applied independently");
    h5ds_close(rf);
    h5ds_close(in);

    double gflop = refiner_flops(&s.R, 1) * 1e-9;
    printf("%-6s %dx%d  N=%-6ld  R forward %7.1f images/s (%5.1f GFLOP/s)   refine job %7.1f images/s   job/forward %.2f\n",
           scene, H, W, n, fwd, fwd * gflop, jobm, jobm / fwd);
    free(x), free(y), free(want), free(got);
    train_state_free(&s);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    bench_print_machine(argc, argv);
    nn_set_threads(threads);
    printf("refine: R(64,4) (He init), refine.batch 256, refine.chunk 1024, %d thread%s; job = simulated file in,\n"
           "refined file out (all labels/params copied, deflate), including part files and assembly\n",
           threads, threads == 1 ? "" : "s");
    char dir[] = "/tmp/rp-bench-XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    bench_scene("digits", 8192, threads, dir);
    bench_scene("eyes", 2048, threads, dir);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) != 0;
}
