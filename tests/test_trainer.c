/* Tests of the trainer over HDF5 files (refiner/trainer.c): cached and streamed batches agree;
 * 2n steps equal n steps + --resume + n steps bit for bit (also stopped inside a pretraining
 * phase, and with a raised train.iterations); the run directory (checkpoints kept, latest,
 * config.ini, sheets, metrics.csv); NaN stops naming the step and keeps the last good
 * checkpoint; open errors; the saturated-discriminator warning. */
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
#include "refiner/checkpoint.h"
#include "io/config.h"
#include "io/h5ds.h"
#include "base/status.h"
#include "nn/gemm.h"
#include "tests/tmpdir.h"
#include "refiner/train_data.h"
#include "refiner/train_step.h"
#include "refiner/trainer.h"
#include "tests/train_fixtures.h"

#define S TRAINFIX_S

static int setup(void **state) {
    nn_set_threads(1);
    return tmpdir_setup(state);
}

/* ------------------------------------------------------------------------------------ */
/* the trainer over files */

static void run_config(rp_config *cfg, long iterations) {
    trainfix_config(cfg);
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
    if (access(syn, F_OK)) assert_int_equal(0, trainfix_write_set(syn, 200, 0, 21));
    if (access(real, F_OK)) assert_int_equal(0, trainfix_write_set(real, 150, 1, 22));
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
    assert_int_equal(trainer_run(t), RP_EINTR);
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

/* Lines of dir/train.log containing needle. */
static int log_lines_with(const char *dir, const char *needle) {
    char path[256], line[1024];
    snprintf(path, sizeof path, "%s/train.log", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    while (fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* 130 iterations of a frozen R(1,4,1) (learning rate 0) after pretrain_disc D steps. */
static void frozen_refiner_config(rp_config *cfg, long pretrain_disc) {
    run_config(cfg, 130);
    cfg->refiner.filters = 4;
    cfg->train.pretrain_refiner_steps = 0;
    cfg->train.pretrain_disc_steps = pretrain_disc;
    cfg->train.lr_refiner = 0;
    cfg->train.checkpoint_every = 1000;
    cfg->train.sample_every = 0;
}

/* D wins outright (R frozen by a zero learning rate): the warning users of other
 * implementations never got must appear in train.log after 100 saturated iterations. */
static void test_warns_when_d_saturates(void **state) {
    (void)state;
    rp_config cfg;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/run_warn", tmpdir);
    frozen_refiner_config(&cfg, 20);
    cfg.train.k_g = 1;
    cfg.train.lr_disc = 0.002;
    trainer *t = open_run(&cfg, dir, 0);
    assert_int_equal(trainer_run(t), 0);
    long run = trainer_counters(t)->d_saturated_run;
    trainer_close(t);
    print_message("  D saturated for the last %ld iterations\n", run);
    assert_true(run >= 100);
    assert_int_equal(log_lines_with(dir, "warning: the discriminator has classified"), 1);
}

/* The saturation count survives the odd missed patch (it never fired in a real collapse whose D
 * dipped to 98.7% every few dozen steps) and restarts once D really loses ground. */
static void test_saturation_run_holds_through_dips(void **state) {
    (void)state;
    long run = 0;
    for (int i = 1; i <= 150; i++) run = train_saturated_run(run, i % 20 ? 1.0 : 0.987, 0.995);
    assert_int_equal(run, 143);
    assert_int_equal(train_saturated_run(run, 0.999, 0.96), run);
    assert_int_equal(train_saturated_run(run, 0.999, 0.94), 0);
    assert_int_equal(train_saturated_run(run, 0.5, 1.0), 0);
    assert_int_equal(train_saturated_run(7, 0.99, 0.99), 8);
}

/* A collapsed refiner (frozen with its output pinned to white) is named in train.log after 100
 * iterations whose images are far from their inputs, and the counter survives a checkpoint. */
static void test_warns_when_refiner_drifts(void **state) {
    (void)state;
    rp_config cfg;
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "%s/run_drift", tmpdir);
    frozen_refiner_config(&cfg, 0);
    trainer *t = open_run(&cfg, dir, 0);
    refiner *R = &trainer_state(t)->R;
    for (int i = 0; i < R->cfg.F; i++) R->out_w[i] = 0;
    R->out_b[0] = 4; /* every output clamped to 1: white images */
    assert_int_equal(trainer_run(t), 0);
    long run = trainer_counters(t)->drift_run;
    train_setup u = trainer_state(t)->setup;
    trainer_close(t);
    assert_int_equal(run, 130);
    assert_int_equal(log_lines_with(dir, "warning: refined images are far from their inputs"), 1);
    snprintf(path, sizeof path, "%s/checkpoints/latest.h5", dir);
    train_state s;
    assert_int_equal(train_state_init(&s, &u), 0);
    train_counters k;
    assert_int_equal(checkpoint_load(path, &s, &k), 0);
    assert_int_equal(k.drift_run, 130);
    train_state_free(&s);
}

/* The label guard's rules in the trainer, with a scripted check: no check during pretraining; a
 * checkpoint whose check fails is not written and a warning says why; a pass resets the count;
 * the second failure in a row stops training with RP_ELABEL, latest.h5 staying at the last
 * checkpoint that passed. */
typedef struct {
    const double *ratios;
    int n, calls;
} scripted;

static int scripted_check(void *ctx, refiner *R, int max_batch, double *ratio) {
    scripted *s = ctx;
    assert_non_null(R);
    assert_true(max_batch > 0);
    *ratio = s->ratios[s->calls < s->n ? s->calls : s->n - 1];
    s->calls++;
    return 0;
}

static void test_label_guard_rules(void **state) {
    (void)state;
    rp_config cfg;
    char dir[128], path[256], target[256];
    snprintf(dir, sizeof dir, "%s/run_guard", tmpdir);
    run_config(&cfg, 20); /* 6 pretraining steps, then 20 iterations; checkpoints every 4 steps */
    cfg.train.keep_checkpoints = 10;
    cfg.train.label_guard = 1.5;
    const double ratios[] = {1.0, 2.0, 1.2, 1.9, 3.0};
    scripted s = {ratios, 5, 0};
    trainer *t = open_run(&cfg, dir, 0);
    trainer_set_label_check(t, scripted_check, &s);
    assert_int_equal(trainer_run(t), RP_ELABEL);
    assert_non_null(strstr(rp_errmsg(), "labels not kept"));
    assert_non_null(strstr(rp_errmsg(), "3.00 times worse"));
    assert_non_null(strstr(rp_errmsg(), "step_000000016.h5"));
    assert_int_equal(trainer_step(t), 24);
    trainer_close(t);
    assert_int_equal(s.calls, 5); /* at 8 (pass), 12 (fail), 16 (pass), 20 (fail), 24 (fail: stop) */
    const long written[] = {4, 8, 16}, skipped[] = {12, 20, 24};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/checkpoints/step_%09ld.h5", dir, written[i]);
        assert_int_equal(access(path, F_OK), 0);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/checkpoints/step_%09ld.h5", dir, skipped[i]);
        assert_int_equal(access(path, F_OK), -1);
    }
    snprintf(path, sizeof path, "%s/checkpoints/latest.h5", dir);
    ssize_t n = readlink(path, target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = 0;
    assert_string_equal(target, "step_000000016.h5");
    assert_int_equal(log_lines_with(dir, "warning: label guard"), 2);
    assert_int_equal(log_lines_with(dir, "label guard: consistency ratio"), 5);
    /* train.label_guard = 0: no check at all */
    snprintf(dir, sizeof dir, "%s/run_guard_off", tmpdir);
    cfg.train.label_guard = 0;
    s.calls = 0;
    t = open_run(&cfg, dir, 0);
    trainer_set_label_check(t, scripted_check, &s);
    assert_int_equal(trainer_run(t), 0);
    trainer_close(t);
    assert_int_equal(s.calls, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_cache_equals_stream),
        cmocka_unit_test(test_saturation_run_holds_through_dips),
        cmocka_unit_test(test_resume_bit_exact),
        cmocka_unit_test(test_run_directory),
        cmocka_unit_test(test_nan_stops_naming_step),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_warns_when_d_saturates),
        cmocka_unit_test(test_warns_when_refiner_drifts),
        cmocka_unit_test(test_label_guard_rules),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
