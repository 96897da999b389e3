/* Tests of `refine`: refined pixels equal R applied independently, every label/param copied
 * 1:1, /index and provenance set; a job killed with SIGKILL and resumed gives a file
 * byte-identical to an uninterrupted run; channel mismatch and foreign partial output are
 * clear errors; nothing complete-looking is left on failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "refiner/checkpoint.h"
#include "io/h5ds.h"
#include "base/status.h"
#include "pipelines/refine.h"
#include "pipelines/shard.h"
#include "pipelines/simulate.h"
#include "refiner/train_step.h"

enum { N = 1500, H = 12, W = 14 };
static char dir[64], synth[128], synth3[128], ckpt[128];
static rp_config cfg;

static void make_dataset(const char *path, int C, long n) {
    h5ds_column cols[] = {{"labels/class", H5DS_INT32, 1, NULL},
                          {"labels/gaze", H5DS_FLOAT32, 2, "radians"},
                          {"params/slant", H5DS_FLOAT32, 1, NULL}};
    h5ds_provenance prov = {"synthetic", "digits", "[simulate]\nn = 1\n", 7, NULL, NULL, -1};
    h5ds_writer *w;
    assert_int_equal(h5ds_create(&w, path, H, W, C, cols, 3, &prov, &(h5ds_options){.chunk = 64}), 0);
    uint8_t *img = malloc((size_t)n * H * W * C);
    int32_t *cls = malloc(n * sizeof *cls);
    float *gaze = malloc(2 * n * sizeof *gaze), *slant = malloc(n * sizeof *slant);
    for (long i = 0; i < n; i++) {
        for (int p = 0; p < H * W * C; p++) img[i * H * W * C + p] = (uint8_t)((i * 7 + p * 13 + (p / W) * i) % 256);
        cls[i] = (int32_t)(i % 10);
        gaze[2 * i] = 0.01f * i;
        gaze[2 * i + 1] = -0.02f * i;
        slant[i] = (float)i / 3;
    }
    const void *vals[] = {cls, gaze, slant};
    assert_int_equal(h5ds_append(w, n, img, vals, NULL), 0);
    assert_int_equal(h5ds_finish(w), 0);
    free(img), free(cls), free(gaze), free(slant);
}

static int setup(void **state) {
    (void)state;
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    strcpy(dir, "/tmp/rp-test-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(synth, sizeof synth, "%s/synthetic.h5", dir);
    snprintf(synth3, sizeof synth3, "%s/rgb.h5", dir);
    snprintf(ckpt, sizeof ckpt, "%s/ck.h5", dir);
    make_dataset(synth, 1, N);
    make_dataset(synth3, 3, 20);
    config_defaults(&cfg);
    config_set(&cfg, "refiner.filters", "6");
    config_set(&cfg, "refiner.blocks", "1");
    config_set(&cfg, "train.batch", "4");
    config_set(&cfg, "refine.batch", "7");
    config_set(&cfg, "refine.chunk", "50");
    train_setup su;
    train_state s;
    train_counters k = {0};
    k.step = 42;
    if (train_setup_from_config(&su, &cfg, 1, H, W) || train_state_init(&s, &su)) return -1;
    char *ini = config_to_ini(&cfg);
    int rc = checkpoint_save(ckpt, &s, &k, ini, NULL, NULL);
    free(ini);
    train_state_free(&s);
    return rc;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static unsigned char *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    if (fread(b, 1, *n, f) != (size_t)*n) *n = -1;
    fclose(f);
    return b;
}

static void test_refined_pixels_labels_provenance(void **state) {
    (void)state;
    char out[160];
    snprintf(out, sizeof out, "%s/refined.h5", dir);
    refine_options o = {.checkpoint = ckpt, .input = synth, .output = out, .resume = 0, .quiet = 1, .cfg = &cfg};
    refine_result res;
    assert_int_equal(refine_run(&o, &res), 0);
    assert_int_equal(res.images, N);
    h5ds_reader *in, *rf;
    assert_int_equal(h5ds_open(&in, synth), 0);
    assert_int_equal(h5ds_open(&rf, out), 0);
    const h5ds_info *ii = h5ds_get_info(in), *ri = h5ds_get_info(rf);
    assert_int_equal(ri->N, N);
    assert_string_equal(ri->kind, "refined");
    assert_string_equal(ri->scene, "digits");
    assert_string_equal(ri->source_file, synth);
    assert_string_equal(ri->refiner_checkpoint, ckpt);
    assert_int_equal(ri->refiner_step, 42);
    assert_int_equal(ri->ncols, ii->ncols);
    /* every column identical */
    for (int j = 0; j < ii->ncols; j++) {
        size_t sz = h5ds_dtype_size(ii->cols[j].dtype) * ii->cols[j].cols * N;
        void *a = malloc(sz), *b = malloc(sz);
        assert_int_equal(h5ds_read_column(in, ii->cols[j].path, 0, N, a, ii->cols[j].dtype), 0);
        assert_int_equal(h5ds_read_column(rf, ii->cols[j].path, 0, N, b, ii->cols[j].dtype), 0);
        assert_memory_equal(a, b, sz);
        assert_string_equal(ii->cols[j].units, ri->cols[j].units);
        free(a), free(b);
    }
    int64_t *idx = malloc(N * sizeof *idx);
    assert_int_equal(h5ds_read_column(rf, "index", 0, N, idx, H5DS_INT64), 0);
    for (long i = 0; i < N; i++) assert_int_equal(idx[i], i);
    free(idx);
    /* pixels: R applied here, independently of the chunking and batching of refine */
    refiner R;
    assert_int_equal(checkpoint_load_refiner(ckpt, &R, NULL, NULL), 0);
    const int n = 33;
    assert_int_equal(refiner_prepare(&R, n, H, W), 0);
    float x[n * H * W], y[n * H * W];
    uint8_t want[n * H * W], got[n * H * W];
    long starts[] = {0, 49, 777, N - n};
    int differs_from_input = 0;
    for (int s = 0; s < 4; s++) {
        assert_int_equal(h5ds_read_images_f32(in, starts[s], n, x, -1, 1), 0);
        refiner_forward(&R, y, x, n);
        h5ds_pack_u8(want, y, n, 1, H, W, -1, 1);
        assert_int_equal(h5ds_read_images_u8(rf, starts[s], n, got), 0);
        assert_memory_equal(want, got, sizeof got);
        uint8_t orig[n * H * W];
        assert_int_equal(h5ds_read_images_u8(in, starts[s], n, orig), 0);
        differs_from_input += memcmp(orig, got, sizeof got) != 0;
    }
    assert_true(differs_from_input > 0); /* an untrained R is not the identity */
    refiner_free(&R);
    h5ds_close(in);
    h5ds_close(rf);
    struct stat st;
    char parts[200];
    snprintf(parts, sizeof parts, "%s.parts", out);
    assert_int_equal(stat(parts, &st), -1); /* parts removed once complete */
}

static int count_parts(const char *parts) {
    DIR *d = opendir(parts);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strncmp(e->d_name, "chunk-", 6) == 0 && !strstr(e->d_name, ".tmp");
    closedir(d);
    return n;
}

static void test_kill9_then_resume_is_byte_identical(void **state) {
    (void)state;
    char full[160], killed[160], parts[200];
    snprintf(full, sizeof full, "%s/full.h5", dir);
    snprintf(killed, sizeof killed, "%s/killed.h5", dir);
    snprintf(parts, sizeof parts, "%s.parts", killed);
    refine_result res;
    refine_options o = {.checkpoint = ckpt, .input = synth, .output = full, .resume = 0, .quiet = 1, .cfg = &cfg};
    assert_int_equal(refine_run(&o, &res), 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        refine_options oc = {.checkpoint = ckpt, .input = synth, .output = killed, .resume = 0, .quiet = 1,
                             .cfg = &cfg};
        refine_result r;
        _exit(refine_run(&oc, &r) == 0 ? 0 : 1);
    }
    /* kill -9 once a few chunks are done (30 chunks in all) */
    for (int i = 0; i < 20000 && count_parts(parts) < 5; i++) usleep(100);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(access(killed, F_OK), -1); /* no complete-looking output */
    int done = count_parts(parts);
    assert_true(done >= 1 && done < 30);

    refine_options or = {.checkpoint = ckpt, .input = synth, .output = killed, .resume = 1, .quiet = 1, .cfg = &cfg};
    assert_int_equal(refine_run(&or, &res), 0);
    assert_true(res.chunks_reused >= done - 1 && res.chunks_reused < 30);
    long na, nb;
    unsigned char *a = slurp(full, &na), *b = slurp(killed, &nb);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a), free(b);
}

static void test_errors(void **state) {
    (void)state;
    char out[160];
    snprintf(out, sizeof out, "%s/rgb-refined.h5", dir);
    refine_result res;
    refine_options o = {.checkpoint = ckpt, .input = synth3, .output = out, .resume = 0, .quiet = 1, .cfg = &cfg};
    assert_int_not_equal(refine_run(&o, &res), 0);
    assert_non_null(strstr(rp_errmsg(), "1-channel"));
    assert_non_null(strstr(rp_errmsg(), "3 channels"));
    assert_int_equal(access(out, F_OK), -1);

    /* resume against parts of another job (different chunk size) is refused */
    snprintf(out, sizeof out, "%s/other.h5", dir);
    char parts[200], manifest[220];
    snprintf(parts, sizeof parts, "%s.parts", out);
    snprintf(manifest, sizeof manifest, "%s/manifest", parts);
    mkdir(parts, 0777);
    FILE *f = fopen(manifest, "w");
    fputs("input = elsewhere.h5\n", f);
    fclose(f);
    refine_options r2 = {.checkpoint = ckpt, .input = synth, .output = out, .resume = 1, .quiet = 1, .cfg = &cfg};
    assert_int_equal(refine_run(&r2, &res), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "different job"));
    /* without --resume it starts over and succeeds */
    r2.resume = 0;
    assert_int_equal(refine_run(&r2, &res), 0);

    refine_options bad = {.checkpoint = "/nonexistent/ck.h5", .input = synth, .output = out, .resume = 0, .quiet = 1,
                          .cfg = &cfg};
    assert_int_not_equal(refine_run(&bad, &res), 0);
    assert_non_null(strstr(rp_errmsg(), "/nonexistent/ck.h5"));
}

/* Shards: refine --shard i/N for every i, merged in any order, gives the bytes of the unsharded
 * run; simulate shards likewise; the virtual merge reads the same values; a missing, repeated or
 * foreign shard is refused by name. */
static void test_shards_merge_to_the_same_bytes(void **state) {
    (void)state;
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1); /* created_at: the merge writes later than the shards */
    char full[160], part[3][160], merged[160], virt[160];
    snprintf(full, sizeof full, "%s/sh-full.h5", dir);
    snprintf(merged, sizeof merged, "%s/sh-merged.h5", dir);
    snprintf(virt, sizeof virt, "%s/sh-virtual.h5", dir);
    refine_result res;
    refine_options o = {.checkpoint = ckpt, .input = synth, .output = full, .quiet = 1, .cfg = &cfg};
    assert_int_equal(refine_run(&o, &res), 0);
    long rows = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(part[i], sizeof part[i], "%s/sh-part%d.h5", dir, i);
        refine_options so = o;
        so.output = part[i], so.shard = (shard_spec){i, 3};
        assert_int_equal(refine_run(&so, &res), 0);
        rows += res.images;
    }
    assert_int_equal(rows, N);
    const char *order[3] = {part[2], part[0], part[1]};
    assert_int_equal(shard_merge(order, 3, merged, 0, 1), 0);
    long na, nb;
    unsigned char *a = slurp(full, &na), *b = slurp(merged, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a), free(b);
    /* the virtual merge: one dataset over the shards, the same values */
    assert_int_equal(shard_merge(order, 3, virt, 1, 1), 0);
    h5ds_reader *x, *y;
    assert_int_equal(h5ds_open(&x, full), 0);
    assert_int_equal(h5ds_open(&y, virt), 0);
    assert_int_equal(h5ds_get_info(y)->N, N);
    uint8_t *p = malloc(N * H * W), *q = malloc(N * H * W);
    float *g1 = malloc(2 * N * sizeof *g1), *g2 = malloc(2 * N * sizeof *g2);
    assert_int_equal(h5ds_read_images_u8(x, 0, N, p), 0);
    assert_int_equal(h5ds_read_images_u8(y, 0, N, q), 0);
    assert_memory_equal(p, q, N * H * W);
    assert_int_equal(h5ds_read_column(x, "labels/gaze", 0, N, g1, H5DS_FLOAT32), 0);
    assert_int_equal(h5ds_read_column(y, "labels/gaze", 0, N, g2, H5DS_FLOAT32), 0);
    assert_memory_equal(g1, g2, 2 * N * sizeof *g1);
    free(g1), free(g2);
    assert_string_equal(h5ds_get_info(y)->kind, "refined");
    h5ds_close(x), h5ds_close(y);
    free(p), free(q);
    /* refused: a gap, a shard twice, a file of another job */
    const char *gap[2] = {part[0], part[2]}, *twice[3] = {part[0], part[1], part[1]}, *foreign[3] = {part[0], part[1], synth};
    assert_int_equal(shard_merge(gap, 2, merged, 0, 1), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "shard 1/3 is missing"));
    assert_int_equal(shard_merge(twice, 3, merged, 0, 1), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "are both shard 1/3"));
    assert_int_equal(shard_merge(foreign, 3, merged, 0, 1), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "not a shard"));
    /* simulate shards */
    rp_config sc;
    config_defaults(&sc);
    config_set(&sc, "simulate.n", "700");
    config_set(&sc, "simulate.chunk", "128");
    assert_int_equal(simulate_run(&sc, full, 1, 1), 0);
    for (int i = 0; i < 3; i++) {
        shard_spec sh = {i, 3};
        assert_int_equal(simulate_run_shard(&sc, part[i], 1, 1, &sh), 0);
    }
    assert_int_equal(shard_merge(order, 3, merged, 0, 1), 0);
    a = slurp(full, &na), b = slurp(merged, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a), free(b);
    unsetenv("SOURCE_DATE_EPOCH");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refined_pixels_labels_provenance),
        cmocka_unit_test(test_kill9_then_resume_is_byte_identical),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_shards_merge_to_the_same_bytes),
    };
    return cmocka_run_group_tests_name("refine", tests, setup, teardown);
}
