/* Tests of refine-checkpoint files (refiner/checkpoint.c): a round trip restores every piece of
 * training state bit for bit; wrong architecture, truncated files and non-checkpoints fail
 * with precise messages (the shape found, when it is wrong); a failed load changes nothing;
 * NaN parameters are never written; the run-directory helpers keep
 * the last K files and point latest.h5 at the newest. */
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
#include <sys/stat.h>
#include <unistd.h>
#include "refiner/checkpoint.h"
#include "io/config.h"
#include "io/h5ds.h"
#include "base/status.h"
#include "nn/gemm.h"
#include "tests/tmpdir.h"
#include "refiner/train_step.h"

static int setup(void **state) {
    nn_set_threads(1);
    return tmpdir_setup(state);
}

static void tiny_config(rp_config *cfg, int filters) {
    config_defaults(cfg);
    cfg->refiner.filters = filters;
    cfg->refiner.blocks = 1;
    cfg->train.batch = 4;
    cfg->train.history_size = 10;
    cfg->train.lambda = 0.5;
    cfg->train.seed = 7;
}

static void fill_batch(float *x, size_t n, rng_t *r) {
    for (size_t i = 0; i < n; i++) x[i] = rng_uniform(r) * 1.6f - 0.8f;
}

/* An untrained state of the tiny configuration (4 filters, 16x16 images); u gets its setup. */
static void fresh_state(train_state *s, train_setup *u) {
    rp_config cfg;
    tiny_config(&cfg, 4);
    assert_int_equal(train_setup_from_config(u, &cfg, 1, 16, 16), 0);
    assert_int_equal(train_state_init(s, u), 0);
}

/* A state that has taken a few steps of every kind, so moments, t, history and RNGs are non-trivial. */
static void trained_state(train_state *s, const rp_config *cfg) {
    train_setup u;
    assert_int_equal(train_setup_from_config(&u, cfg, 1, 16, 16), 0);
    assert_int_equal(train_state_init(s, &u), 0);
    size_t n = (size_t)u.batch * s->img;
    float *real = malloc(sizeof(float) * n), *syn = malloc(sizeof(float) * n);
    rng_t r;
    rng_seed(&r, 99, 0);
    train_stats st;
    for (int i = 0; i < 3; i++) {
        fill_batch(syn, n, &r);
        fill_batch(real, n, &r);
        assert_int_equal(train_refiner_step(s, syn, i > 0, &st), 0);
        assert_int_equal(train_disc_step(s, real, syn, &st), 0);
    }
    rng_u32(&s->rng_data); /* as if batches had been drawn */
    free(real);
    free(syn);
}

static void assert_block_equal(const param_block *a, const param_block *b) {
    assert_int_equal(a->count, b->count);
    assert_memory_equal(a->data, b->data, sizeof(float) * a->count);
    assert_memory_equal(a->m, b->m, sizeof(float) * a->count);
    assert_memory_equal(a->v, b->v, sizeof(float) * a->count);
}

static void test_round_trip_bit_exact(void **state) {
    (void)state;
    rp_config cfg;
    tiny_config(&cfg, 4);
    train_state a, b;
    trained_state(&a, &cfg);
    train_counters k = {TRAIN_PHASE_ADVERSARIAL, 9, 3, 2, 4, 1, 2, 5}, k2;
    char path[128], *ini = config_to_ini(&cfg);
    snprintf(path, sizeof path, "%s/ck.h5", tmpdir);
    assert_int_equal(checkpoint_save(path, &a, &k, ini, "syn.h5", "real.h5"), 0);
    train_setup u;
    train_setup_from_config(&u, &cfg, 1, 16, 16);
    u.seed = 12345; /* different init: everything must come from the file */
    assert_int_equal(train_state_init(&b, &u), 0);
    assert_int_equal(checkpoint_load(path, &b, &k2), 0);
    assert_memory_equal(&k, &k2, sizeof k);
    assert_block_equal(&a.R.p, &b.R.p);
    assert_block_equal(&a.D.p, &b.D.p);
    assert_int_equal(a.opt_r.t, b.opt_r.t);
    assert_int_equal(a.opt_d.t, b.opt_d.t);
    assert_true(a.opt_r.t > 0 && a.opt_d.t > 0);
    assert_int_equal(a.hist.count, b.hist.count);
    assert_true(a.hist.count == 6);
    assert_memory_equal(a.hist.data, b.hist.data, sizeof(float) * a.hist.count * a.img);
    assert_memory_equal(&a.rng_data, &b.rng_data, sizeof(rng_t));
    assert_memory_equal(&a.rng_hist, &b.rng_hist, sizeof(rng_t));
    /* no modification times in the object headers: the same state gives the same bytes */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    const char *objs[] = {"/refiner/params", "/discriminator/m", "/history/images", "/rng/data"};
    for (int i = 0; i < 4; i++) {
        H5O_info_t info;
        assert_true(H5Oget_info_by_name2(f, objs[i], &info, H5O_INFO_TIME, H5P_DEFAULT) >= 0);
        if (info.mtime || info.ctime) fail_msg("%s records a modification time (%ld)", objs[i], (long)info.mtime);
    }
    H5Fclose(f);
    rp_config c2;
    assert_int_equal(checkpoint_read_config(path, &c2), 0);
    assert_int_equal(memcmp(&cfg, &c2, sizeof cfg), 0);
    /* the refiner alone, as `refine` loads it */
    refiner r;
    long step = -1;
    assert_int_equal(checkpoint_load_refiner(path, &r, &c2, &step), 0);
    assert_int_equal(step, 9);
    assert_int_equal(r.cfg.F, 4);
    assert_int_equal(r.cfg.B, 1);
    assert_int_equal(r.cfg.out, REFINER_OUT_CLAMP);
    assert_string_equal(c2.refiner.output, "clamp");
    assert_int_equal(c2.train.batch, 4);
    assert_memory_equal(r.p.data, a.R.p.data, sizeof(float) * a.R.p.count);
    refiner_free(&r);
    free(ini);
    train_state_free(&a);
    train_state_free(&b);
}

static void test_empty_history_round_trip(void **state) {
    (void)state;
    rp_config cfg;
    tiny_config(&cfg, 4);
    train_setup u;
    train_setup_from_config(&u, &cfg, 1, 16, 16);
    train_state a, b;
    assert_int_equal(train_state_init(&a, &u), 0);
    assert_int_equal(train_state_init(&b, &u), 0);
    train_counters k = {0}, k2;
    char path[128];
    snprintf(path, sizeof path, "%s/empty.h5", tmpdir);
    assert_int_equal(checkpoint_save(path, &a, &k, "", NULL, NULL), 0);
    b.hist.count = 3;
    assert_int_equal(checkpoint_load(path, &b, &k2), 0);
    assert_int_equal(b.hist.count, 0);
    assert_int_equal(k2.phase, TRAIN_PHASE_PRETRAIN_REFINER);
    train_state_free(&a);
    train_state_free(&b);
}

static void test_architecture_mismatch(void **state) {
    (void)state;
    rp_config cfg;
    tiny_config(&cfg, 4);
    train_setup u;
    train_setup_from_config(&u, &cfg, 1, 16, 16);
    train_state a, b;
    assert_int_equal(train_state_init(&a, &u), 0);
    train_counters k = {0}, k2;
    char path[128];
    snprintf(path, sizeof path, "%s/arch.h5", tmpdir);
    assert_int_equal(checkpoint_save(path, &a, &k, "", NULL, NULL), 0);
    /* more filters */
    train_setup v = u;
    v.rcfg.F = 6;
    assert_int_equal(train_state_init(&b, &v), 0);
    assert_int_equal(checkpoint_load(path, &b, &k2), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "refiner.filters = 4 in the checkpoint, 6 now"));
    assert_non_null(strstr(rp_errmsg(), "arch.h5"));
    train_state_free(&b);
    /* other output non-linearity */
    v = u;
    v.rcfg.out = REFINER_OUT_TANH;
    assert_int_equal(u.rcfg.out, REFINER_OUT_CLAMP); /* the default */
    assert_int_equal(train_state_init(&b, &v), 0);
    assert_int_equal(checkpoint_load(path, &b, &k2), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "refiner.output = clamp in the checkpoint, tanh now"));
    train_state_free(&b);
    /* D's first stride (discriminator.stride); a checkpoint without the attribute (written before
     * the setting existed) has the paper's 2 */
    v = u;
    v.d_stride = 1;
    assert_int_equal(train_state_init(&b, &v), 0);
    assert_int_equal(checkpoint_load(path, &b, &k2), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "discriminator.stride = 2 in the checkpoint, 1 now"));
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(H5Adelete(f, "discriminator_stride") >= 0);
    H5Fclose(f);
    assert_int_equal(checkpoint_load(path, &b, &k2), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "discriminator.stride = 2 in the checkpoint, 1 now"));
    train_state_free(&b);
    assert_int_equal(train_state_init(&b, &u), 0);
    assert_int_equal(checkpoint_load(path, &b, &k2), 0);
    train_state_free(&b);
    /* other image size */
    v = u;
    v.H = 20;
    assert_int_equal(train_state_init(&b, &v), 0);
    assert_int_equal(checkpoint_load(path, &b, &k2), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "image height = 16 in the checkpoint, 20 now"));
    train_state_free(&b);
    /* history capacity */
    v = u;
    v.history_size = 20;
    assert_int_equal(train_state_init(&b, &v), 0);
    assert_int_equal(checkpoint_load(path, &b, &k2), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "train.history_size"));
    train_state_free(&b);
    /* optimizer kind */
    v = u;
    v.opt_r = OPTIM_SGD;
    assert_int_equal(train_state_init(&b, &v), 0);
    assert_int_equal(checkpoint_load(path, &b, &k2), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "/refiner: optimizer changed"));
    train_state_free(&b);
    train_state_free(&a);
}

static void copy_prefix(const char *from, const char *to, long bytes) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    long done = 0;
    size_t n;
    while (done < bytes && (n = fread(buf, 1, sizeof buf, in)) > 0) {
        if ((long)n > bytes - done) n = bytes - done;
        fwrite(buf, 1, n, out);
        done += n;
    }
    fclose(in);
    fclose(out);
}

static void test_bad_files(void **state) {
    (void)state;
    train_setup u;
    train_state a;
    fresh_state(&a, &u);
    train_counters k = {0};
    char path[128], bad[128];
    snprintf(path, sizeof path, "%s/good.h5", tmpdir);
    assert_int_equal(checkpoint_save(path, &a, &k, "", NULL, NULL), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    /* truncated */
    snprintf(bad, sizeof bad, "%s/truncated.h5", tmpdir);
    copy_prefix(path, bad, st.st_size / 2);
    assert_true(checkpoint_load(bad, &a, &k) < 0);
    assert_non_null(strstr(rp_errmsg(), "truncated.h5"));
    assert_non_null(strstr(rp_errmsg(), "truncat"));
    refiner r;
    assert_true(checkpoint_load_refiner(bad, &r, NULL, NULL) < 0);
    /* not HDF5 */
    snprintf(bad, sizeof bad, "%s/text.h5", tmpdir);
    FILE *f = fopen(bad, "w");
    fputs("not a checkpoint\n", f);
    fclose(f);
    assert_true(checkpoint_load(bad, &a, &k) < 0);
    assert_non_null(strstr(rp_errmsg(), "text.h5"));
    /* HDF5 but a dataset, not a checkpoint */
    snprintf(bad, sizeof bad, "%s/dataset.h5", tmpdir);
    h5ds_writer *w;
    h5ds_provenance prov = {.kind = "synthetic", .scene = "digits", .seed = -1, .refiner_step = -1};
    assert_int_equal(h5ds_create(&w, bad, 4, 4, 1, NULL, 0, &prov, NULL), 0);
    uint8_t img[16] = {0};
    assert_int_equal(h5ds_append(w, 1, img, NULL, NULL), 0);
    assert_int_equal(h5ds_finish(w), 0);
    assert_int_equal(checkpoint_load(bad, &a, &k), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "not a refine checkpoint"));
    assert_non_null(strstr(rp_errmsg(), "refine-dataset"));
    assert_int_equal(checkpoint_load_refiner(bad, &r, NULL, NULL), RP_EFORMAT);
    /* missing */
    snprintf(bad, sizeof bad, "%s/missing.h5", tmpdir);
    assert_true(checkpoint_load(bad, &a, &k) < 0);
    assert_non_null(strstr(rp_errmsg(), "missing.h5"));
    /* a counter near the top of int64 (found by fuzz_checkpoint: the phase counters' sum
     * overflowed, undefined behaviour) is refused by name before any arithmetic */
    snprintf(bad, sizeof bad, "%s/counters.h5", tmpdir);
    assert_int_equal(checkpoint_save(bad, &a, &k, "", NULL, NULL), 0);
    hid_t hc = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT), ac = H5Aopen(hc, "iterations_done", H5P_DEFAULT);
    int64_t top = INT64_MAX;
    assert_true(ac >= 0 && H5Awrite(ac, H5T_NATIVE_INT64, &top) >= 0);
    H5Aclose(ac), H5Fclose(hc);
    assert_int_equal(checkpoint_load(bad, &a, &k), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "attribute iterations_done = 9223372036854775807: expected a count"));
    /* attributes claiming a huge refiner (F = 4096, B = 16: 77 GB) are checked against
     * /refiner/params before anything is allocated (tests/corpus/checkpoint/crash-huge-refiner-attributes) */
    hid_t h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    int64_t huge[2] = {4096, 16};
    for (int i = 0; i < 2; i++) {
        hid_t at = H5Aopen(h, i ? "refiner_blocks" : "refiner_filters", H5P_DEFAULT);
        assert_true(at >= 0 && H5Awrite(at, H5T_NATIVE_INT64, &huge[i]) >= 0);
        H5Aclose(at);
    }
    H5Fclose(h);
    assert_int_equal(checkpoint_load_refiner(path, &r, NULL, NULL), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "good.h5: /refiner/params holds"));
    assert_non_null(strstr(rp_errmsg(), "C=1 F=4096 B=16 has at least"));
    train_state_free(&a);
}

/* Replaces dataset `name` of the checkpoint at path with `count` values of the given type and rank. */
static void replace_ds(const char *path, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims,
                       const void *buf) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
}

/* A dataset of the wrong rank is reported with the shape it really has (the message once printed
 * an uninitialised dims array). */
static void test_wrong_rank_names_found_shape(void **state) {
    (void)state;
    train_setup u;
    train_state a;
    fresh_state(&a, &u);
    train_counters k = {0};
    char path[128], want[96];
    snprintf(path, sizeof path, "%s/rank.h5", tmpdir);
    assert_int_equal(checkpoint_save(path, &a, &k, "", NULL, NULL), 0);
    float *zeros = calloc(a.D.p.count, sizeof(float));
    hsize_t dims[3] = {1, 1, a.D.p.count};
    replace_ds(path, "/discriminator/params", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dims, zeros);
    assert_int_equal(checkpoint_load(path, &a, &k), RP_EFORMAT);
    snprintf(want, sizeof want, "/discriminator: params: expected shape (%zu,), found (1, 1, %zu)", a.D.p.count,
             a.D.p.count);
    assert_non_null(strstr(rp_errmsg(), want));
    free(zeros);
    train_state_free(&a);
}

/* A load that fails after the refiner's record was read (bad RNG record at the very end, NaN in D,
 * short history) leaves every part of the caller's state as it was. */
static void test_failed_load_changes_nothing(void **state) {
    (void)state;
    rp_config cfg;
    tiny_config(&cfg, 4);
    train_state a, b;
    trained_state(&a, &cfg);
    train_counters k = {TRAIN_PHASE_ADVERSARIAL, 9, 3, 2, 4, 0, 0, 0}, kb = {0}, kb0;
    char path[128];
    snprintf(path, sizeof path, "%s/partial.h5", tmpdir);
    train_setup u;
    train_setup_from_config(&u, &cfg, 1, 16, 16);
    u.seed = 4242;
    assert_int_equal(train_state_init(&b, &u), 0);
    size_t nr = b.R.p.count, nd = b.D.p.count;
    float *r0 = malloc(sizeof(float) * nr * 3), *d0 = malloc(sizeof(float) * nd);
    memcpy(r0, b.R.p.data, sizeof(float) * nr);
    memcpy(r0 + nr, b.R.p.m, sizeof(float) * nr);
    memcpy(r0 + 2 * nr, b.R.p.v, sizeof(float) * nr);
    memcpy(d0, b.D.p.data, sizeof(float) * nd);
    rng_t rd0 = b.rng_data;
    long t0 = b.opt_r.t, h0 = b.hist.count;
    kb0 = kb;
    assert_true(memcmp(a.R.p.data, r0, sizeof(float) * nr) != 0); /* the file would change R */
    for (int variant = 0; variant < 3; variant++) {
        assert_int_equal(checkpoint_save(path, &a, &k, "", NULL, NULL), 0);
        if (variant == 0) { /* the history RNG's increment even: read last */
            uint64_t v[2] = {1, 2};
            hsize_t dims[1] = {2};
            replace_ds(path, "/rng/history", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, dims, v);
        } else if (variant == 1) { /* a NaN among D's parameters */
            float *p = malloc(sizeof(float) * nd);
            memcpy(p, a.D.p.data, sizeof(float) * nd);
            p[nd / 2] = NAN;
            hsize_t dims[1] = {nd};
            replace_ds(path, "/discriminator/params", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dims, p);
            free(p);
        } else { /* fewer history images than its count says */
            hsize_t dims[4] = {2, 1, 16, 16};
            replace_ds(path, "/history/images", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, dims, a.hist.data);
        }
        assert_true(checkpoint_load(path, &b, &kb) < 0);
        const char *want[] = {"/rng: history: increment must be odd", "discriminator parameter", "/history: images"};
        assert_non_null(strstr(rp_errmsg(), want[variant]));
        assert_memory_equal(b.R.p.data, r0, sizeof(float) * nr);
        assert_memory_equal(b.R.p.m, r0 + nr, sizeof(float) * nr);
        assert_memory_equal(b.R.p.v, r0 + 2 * nr, sizeof(float) * nr);
        assert_memory_equal(b.D.p.data, d0, sizeof(float) * nd);
        assert_memory_equal(&b.rng_data, &rd0, sizeof rd0);
        assert_int_equal(b.opt_r.t, t0);
        assert_int_equal(b.hist.count, h0);
        assert_memory_equal(&kb, &kb0, sizeof kb);
    }
    free(r0);
    free(d0);
    train_state_free(&a);
    train_state_free(&b);
}

static void test_refuses_nan(void **state) {
    (void)state;
    train_setup u;
    train_state a;
    fresh_state(&a, &u);
    a.D.p.data[5] = NAN;
    train_counters k = {0};
    char path[128];
    snprintf(path, sizeof path, "%s/nan.h5", tmpdir);
    assert_int_equal(checkpoint_save(path, &a, &k, "", NULL, NULL), RP_ENUM);
    assert_non_null(strstr(rp_errmsg(), "discriminator parameter conv1.w[5]"));
    assert_int_not_equal(access(path, F_OK), 0);
    train_state_free(&a);
}

static void test_publish_keep_latest(void **state) {
    (void)state;
    train_setup u;
    train_state a;
    fresh_state(&a, &u);
    char dir[128], path[4096], latest[4096];
    snprintf(dir, sizeof dir, "%s/ckpts", tmpdir);
    mkdir(dir, 0777);
    assert_int_equal(checkpoint_find_latest(dir, latest, sizeof latest), 1);
    /* a crashed writer's temp file is not a checkpoint and gets cleaned up */
    snprintf(path, sizeof path, "%s/step_000000001.h5.tmp-1", dir);
    fclose(fopen(path, "w"));
    for (long step = 10; step <= 50; step += 10) {
        train_counters k = {.step = step, .pretrain_refiner_done = step};
        checkpoint_path(path, sizeof path, dir, step);
        assert_int_equal(checkpoint_save(path, &a, &k, "", NULL, NULL), 0);
        assert_int_equal(checkpoint_publish(dir, step, 2), 0);
        assert_int_equal(checkpoint_find_latest(dir, latest, sizeof latest), 0);
        assert_string_equal(latest, path);
    }
    for (long step = 10; step <= 50; step += 10) {
        checkpoint_path(path, sizeof path, dir, step);
        assert_int_equal(access(path, F_OK) == 0, step >= 40);
    }
    snprintf(path, sizeof path, "%s/step_000000001.h5.tmp-1", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    /* latest.h5 opens as the newest checkpoint */
    snprintf(path, sizeof path, "%s/latest.h5", dir);
    train_counters k;
    assert_int_equal(checkpoint_load(path, &a, &k), 0);
    assert_int_equal(k.step, 50);
    /* without the link, the highest step file */
    unlink(path);
    assert_int_equal(checkpoint_find_latest(dir, latest, sizeof latest), 0);
    checkpoint_path(path, sizeof path, dir, 50);
    assert_string_equal(latest, path);
    train_state_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_bit_exact),
        cmocka_unit_test(test_empty_history_round_trip),
        cmocka_unit_test(test_architecture_mismatch),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_wrong_rank_names_found_shape),
        cmocka_unit_test(test_failed_load_changes_nothing),
        cmocka_unit_test(test_refuses_nan),
        cmocka_unit_test(test_publish_keep_latest),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
