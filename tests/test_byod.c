/* Bring your own data, end to end through the refine-pipeline binary, as a new user would: a
 * labeled synthetic set written the way other tools write them (an h5py-style HDF5 file; a PNG
 * folder with a CSV of file names and classes, in colour), a real pool and a labeled real test
 * set, imported with their labels, then `run --synthetic` on them. Checks that refined.h5 carries
 * every label 1:1 (same values on the same rows, /index intact), that report.json has accuracy,
 * realism and label consistency, and that report.html renders in headless Chromium (skipped,
 * saying so, where Chromium is missing). Images: 16x16 bars, class 0 horizontal, 1 vertical;
 * the "real" ones are blurred, noisier and on a gray background. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <hdf5.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/rng.h"
#include "io/h5ds.h"
#include "io/png.h"
#include "tests/browser.h"
#include "tests/tmpdir.h"

enum { S = 16 };
static char cli[4096];
static char out[1 << 16];

static int run(const char *fmt, ...) {
    char args[4096], cmd[12288];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && %s %s 2>&1", tmpdir, cli, args);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    int st = p ? pclose(p) : -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One bar image (HWC, C channels): `real` ones blurred, noisy, on gray; colour from the channel gains. */
static void bar(uint8_t *px, int C, int cls, int pos, int real, rng_t *r) {
    static const float gain_syn[3] = {1.0f, 0.3f, 0.2f}, gain_real[3] = {0.9f, 0.55f, 0.25f};
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            int d = cls ? x - pos : y - pos; /* distance across the bar */
            float v = real ? 200.0f / (1 + 0.6f * d * d) + 40 + (float)rng_below(r, 30) : (d >= 0 && d < 2 ? 230 : 0);
            for (int c = 0; c < C; c++) {
                float g = C == 1 ? 1 : real ? gain_real[c] : gain_syn[c];
                float o = v * g;
                px[(y * S + x) * C + c] = (uint8_t)(o > 255 ? 255 : o);
            }
        }
}

/* The h5py way: /images uint8 (N, S, S[, C]) and /labels int64 (N), nothing else. */
static void write_h5(const char *path, int n, int C, int real, uint64_t seed) {
    uint8_t *img = malloc((size_t)n * S * S * C);
    int64_t *lab = malloc(n * sizeof *lab);
    rng_t r;
    rng_seed(&r, seed, 0);
    for (int i = 0; i < n; i++) {
        lab[i] = rng_below(&r, 2);
        bar(img + (size_t)i * S * S * C, C, (int)lab[i], 2 + (int)rng_below(&r, 11), real, &r);
    }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t di[4] = {(hsize_t)n, S, S, (hsize_t)C}, dl[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(C == 1 ? 3 : 4, di, NULL);
    hid_t d = H5Dcreate2(f, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0 && H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, img) >= 0);
    H5Dclose(d), H5Sclose(sp);
    sp = H5Screate_simple(1, dl, NULL);
    d = H5Dcreate2(f, "labels", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0 && H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) >= 0);
    H5Dclose(d), H5Sclose(sp), H5Fclose(f);
    free(img), free(lab);
}

/* A folder of PNGs (img_00000.png ...) and a CSV "filename,class" listing them in reverse order. */
static void write_pngs(const char *dir, const char *csv, int n, int C, int real, uint64_t seed) {
    mkdir(dir, 0755);
    rng_t r;
    rng_seed(&r, seed, 0);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "filename,class\n");
    int *cls = malloc(n * sizeof *cls);
    uint8_t px[S * S * 3];
    for (int i = 0; i < n; i++) {
        cls[i] = (int)rng_below(&r, 2);
        bar(px, C, cls[i], 2 + (int)rng_below(&r, 11), real, &r);
        char path[512];
        snprintf(path, sizeof path, "%s/img_%05d.png", dir, i);
        assert_int_equal(pngio_write(path, S, S, C, px), 0);
    }
    for (int i = n - 1; i >= 0; i--) fprintf(f, "img_%05d.png,%d\n", i, cls[i]);
    fclose(f);
    free(cls);
}

/* refined.h5 against its source: same N, H, W, C, the same values in every label column on every
 * row, /index the source's rows. */
static void assert_labels_carried(const char *syn, const char *refined, int C) {
    h5ds_reader *a, *b;
    assert_int_equal(h5ds_open(&a, syn), 0);
    assert_int_equal(h5ds_open(&b, refined), 0);
    const h5ds_info *x = h5ds_get_info(a), *y = h5ds_get_info(b);
    assert_int_equal(x->N, y->N);
    assert_int_equal(y->C, C);
    assert_string_equal(y->kind, "refined");
    assert_int_equal(x->ncols, y->ncols);
    long n = x->N;
    for (int j = 0; j < x->ncols; j++) {
        assert_string_equal(x->cols[j].path, y->cols[j].path);
        size_t bytes = (size_t)n * x->cols[j].cols * h5ds_dtype_size(x->cols[j].dtype);
        void *va = malloc(bytes), *vb = malloc(bytes);
        assert_int_equal(h5ds_read_column(a, x->cols[j].path, 0, n, va, x->cols[j].dtype), 0);
        assert_int_equal(h5ds_read_column(b, y->cols[j].path, 0, n, vb, x->cols[j].dtype), 0);
        assert_memory_equal(va, vb, bytes);
        free(va), free(vb);
    }
    int64_t *idx = malloc(n * sizeof *idx);
    assert_true(y->has_index);
    assert_int_equal(h5ds_read_column(b, "index", 0, n, idx, H5DS_INT64), 0);
    for (long i = 0; i < n; i++) assert_int_equal(idx[i], i);
    free(idx);
    h5ds_close(a), h5ds_close(b);
}

static void check_report(const char *rundir, int C) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/report.json", tmpdir, rundir);
    char *json = slurp(path);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"accuracy\": "));
    assert_non_null(strstr(json, "\"domain_accuracy\": "));
    assert_non_null(strstr(json, "\"label_consistency\": {"));
    char want[64];
    snprintf(want, sizeof want, "\"channels\": %d", C);
    assert_non_null(strstr(json, want));
    free(json);
    snprintf(path, sizeof path, "%s/%s/report.html", tmpdir, rundir);
    assert_int_equal(access(path, F_OK), 0);
    const char *chromium = browser_find();
    if (!chromium) {
        fprintf(stderr, "    (chromium not installed: %s not rendered in a browser)\n", path);
        return;
    }
    char *dom = browser_dump_dom(chromium, path);
    assert_non_null(dom);
    assert_non_null(strstr(dom, "id=\"evaluation\""));
    assert_non_null(strstr(dom, "<td>refined</td>"));
    assert_non_null(strstr(dom, "data-images-decoded=\"2\"")); /* the overview and the last training sheet */
    free(dom);
}

#define TINY "--threads 1 --quiet --set refiner.filters=8 --set refiner.blocks=1 --set train.batch=16 " \
             "--set train.lr_refiner=0.002 --set train.pretrain_refiner_steps=100 --set train.pretrain_disc_steps=20 " \
             "--set train.iterations=40 --set train.lambda=5 --set train.checkpoint_every=50 --set train.sample_every=70 " \
             "--set train.guard_steps=150 --set eval.steps=150 --set eval.batch=32 --set eval.domain_steps=100 " \
             "--set eval.consistency_steps=150"

/* Gray: an h5py-style synthetic file and real pool, the test set's labels in a CSV by row. */
static void test_byod_gray_hdf5(void **state) {
    (void)state;
    write_h5(tpath("tool-syn.h5"), 600, 1, 0, 1);
    write_h5(tpath("tool-real.h5"), 400, 1, 1, 2);
    write_h5(tpath("tool-test.h5"), 200, 1, 1, 3);
    /* without --labels the labels are not lost silently: import names them */
    assert_int_equal(run("import tool-syn.h5 -o nolabels.h5 --kind synthetic"), 0);
    if (!strstr(out, "/labels int64 (N)")) fail_msg("import did not name /labels:\n%s", out);
    assert_int_equal(run("import tool-syn.h5 --labels class=tool-syn.h5:/labels --kind synthetic -o syn.h5 --quiet"),
                     0);
    assert_int_equal(run("import tool-real.h5 -o real.h5 --quiet"), 0);
    assert_int_equal(run("import tool-test.h5 --labels class=tool-test.h5:/labels -o test.h5 --quiet"), 0);
    if (run("run --run-dir gray --synthetic syn.h5 --real real.h5 --test test.h5 " TINY)) fail_msg("run:\n%s", out);
    assert_labels_carried(tpath("syn.h5"), tpath("gray/refined.h5"), 1);
    check_report("gray", 1);
    /* no labeled real test set: realism and label consistency, and the report says so */
    if (run("run --run-dir gray-notest --synthetic syn.h5 --real real.h5 --test \"\" " TINY))
        fail_msg("run without a test set:\n%s", out);
    char *json = slurp(tpath("gray-notest/report.json")), *html = slurp(tpath("gray-notest/report.html"));
    assert_non_null(json);
    assert_non_null(html);
    assert_non_null(strstr(json, "\"test\": null"));
    assert_non_null(strstr(json, "\"label_consistency\": {"));
    assert_non_null(strstr(html, "No labeled real test set (run.test is empty), so accuracy on real data is not measured"));
    assert_non_null(strstr(html, "<td>not measured (no labeled real test set)</td>"));
    free(json), free(html);
}

/* Colour: PNG folders (RGB) with a CSV keyed by file name. */
static void test_byod_rgb_pngs(void **state) {
    (void)state;
    write_pngs(tpath("syn-png"), tpath("syn.csv"), 500, 3, 0, 4);
    write_pngs(tpath("real-png"), tpath("real.csv"), 300, 3, 1, 5);
    write_pngs(tpath("test-png"), tpath("test.csv"), 200, 3, 1, 6);
    assert_int_equal(run("import syn-png --rgb --labels class=syn.csv:class --kind synthetic -o rgb-syn.h5 --quiet"),
                     0);
    assert_int_equal(run("import real-png --rgb -o rgb-real.h5 --quiet"), 0);
    assert_int_equal(run("import test-png --rgb --labels class=test.csv:class -o rgb-test.h5 --quiet"), 0);
    assert_int_equal(run("inspect rgb-syn.h5"), 0);
    assert_non_null(strstr(out, "(500, 16, 16, 3)"));
    assert_int_equal(run("run --run-dir rgb --synthetic rgb-syn.h5 --real rgb-real.h5 --test rgb-test.h5 " TINY), 0);
    assert_labels_carried(tpath("rgb-syn.h5"), tpath("rgb/refined.h5"), 3);
    check_report("rgb", 3);
    assert_int_equal(run("preview rgb/refined.h5 -o rgb-sheet.png -n 16 --labels --quiet"), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    char self[4096];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(cli, sizeof cli, "%s/../refine-pipeline", dirname(self));
    if (access(cli, X_OK) != 0) {
        fprintf(stderr, "test_byod: %s not built\n", cli);
        return 1;
    }
    char abs[4096];
    if (!realpath(cli, abs)) return 1;
    snprintf(cli, sizeof cli, "%s", abs);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byod_gray_hdf5),
        cmocka_unit_test(test_byod_rgb_pngs),
    };
    return cmocka_run_group_tests_name("byod", tests, tmpdir_setup, tmpdir_teardown);
}
