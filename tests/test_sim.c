/* Tests of the simulator: determinism (per sample, across orders and thread counts, and through
 * a written file), MNIST geometry of the digits, class-specific strokes, eye labels that match
 * the rendered pixels (pupil centroid, gaze direction, lids), value ranges and sizes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "simulator/sim.h"
#include "base/status.h"
#include "io/config.h"
#include "io/h5ds.h"
#include "pipelines/simulate.h"

#define DH SIM_DIGIT_H
#define DW SIM_DIGIT_W
#define EH SIM_EYE_H
#define EW SIM_EYE_W

/* ---------------------------------------------------------------- determinism */
static void test_same_seed_index_same_bytes(void **state) {
    (void)state;
    uint8_t a[EH * EW], b[EH * EW];
    sim_digit_sample da, db;
    sim_eye_sample ea, eb;
    for (uint64_t i = 0; i < 50; i++) {
        assert_int_equal(sim_digit_render(a, DH, DW, 7, i, &da), 0);
        assert_int_equal(sim_digit_render(b, DH, DW, 7, i, &db), 0);
        assert_memory_equal(a, b, DH * DW);
        assert_memory_equal(&da, &db, sizeof da);
        assert_int_equal(sim_eye_render(a, EH, EW, 7, i, &ea), 0);
        assert_int_equal(sim_eye_render(b, EH, EW, 7, i, &eb), 0);
        assert_memory_equal(a, b, EH * EW);
        assert_memory_equal(&ea, &eb, sizeof ea);
    }
    /* another index or another seed gives another image */
    int differ = 0;
    for (uint64_t i = 0; i < 50; i++) {
        sim_digit_render(a, DH, DW, 7, i, NULL);
        sim_digit_render(b, DH, DW, 7, i + 1, NULL);
        differ += memcmp(a, b, DH * DW) != 0;
        sim_digit_render(b, DH, DW, 8, i, NULL);
        differ += memcmp(a, b, DH * DW) != 0;
        sim_eye_render(a, EH, EW, 7, i, NULL);
        sim_eye_render(b, EH, EW, 7, i + 1, NULL);
        differ += memcmp(a, b, EH * EW) != 0;
    }
    assert_int_equal(differ, 150);
}

/* Batches with 1..3 threads, and samples rendered one by one in reverse order, are identical. */
static void check_batch_orders(const sim_scene *s, long n, uint64_t first) {
    size_t px = (size_t)s->height * s->width;
    uint8_t *ref = malloc(n * px), *got = malloc(n * px);
    char *sref = malloc(n * s->sample_size), *sgot = malloc(n * s->sample_size);
    assert_int_equal(sim_render_batch(s, s->height, s->width, 99, first, n, ref, sref, 1), 0);
    for (int threads = 2; threads <= 3; threads++) {
        memset(got, 0, n * px);
        assert_int_equal(sim_render_batch(s, s->height, s->width, 99, first, n, got, sgot, threads), 0);
        assert_memory_equal(ref, got, n * px);
        assert_memory_equal(sref, sgot, n * s->sample_size);
    }
    memset(got, 0, n * px);
    for (long i = n - 1; i >= 0; i--)
        assert_int_equal(s->render(got + i * px, s->height, s->width, 99, first + i, sgot + i * s->sample_size), 0);
    assert_memory_equal(ref, got, n * px);
    /* a shard starting in the middle matches the same rows of the whole */
    assert_int_equal(sim_render_batch(s, s->height, s->width, 99, first + 17, n - 17, got, NULL, 2), 0);
    assert_memory_equal(ref + 17 * px, got, (n - 17) * px);
    free(ref), free(got), free(sref), free(sgot);
}

static void test_batches_independent_of_threads_and_order(void **state) {
    (void)state;
    check_batch_orders(sim_scene_find("digits"), 301, 1000);
    check_batch_orders(sim_scene_find("eyes"), 101, 5);
}

/* ---------------------------------------------------------------- digits */
static void ink_stats(const uint8_t *img, int H, int W, int thr, int *h, int *w, double *cy, double *cx) {
    int r0 = H, r1 = -1, c0 = W, c1 = -1;
    double m = 0, my = 0, mx = 0;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            int v = img[i * W + j];
            m += v, my += (double)v * i, mx += (double)v * j;
            if (v > thr) {
                if (i < r0) r0 = i;
                if (i > r1) r1 = i;
                if (j < c0) c0 = j;
                if (j > c1) c1 = j;
            }
        }
    *h = r1 - r0 + 1;
    *w = c1 - c0 + 1;
    *cy = m > 0 ? my / m : -1;
    *cx = m > 0 ? mx / m : -1;
}

/* MNIST: the ink fits a 20x20 box (its long side fills it) and the intensity centre of mass is
 * at (14, 14) in pixel-index coordinates, to within the half pixel of an integer shift. */
static void test_digit_geometry_like_mnist(void **state) {
    (void)state;
    uint8_t img[DH * DW];
    int filled = 0;
    double ink = 0;
    for (uint64_t i = 0; i < 600; i++) {
        sim_digit_sample s;
        assert_int_equal(sim_digit_render(img, DH, DW, 3, i, &s), 0);
        int h, w;
        double cy, cx;
        ink_stats(img, DH, DW, 0, &h, &w, &cy, &cx);
        assert_true(h <= 20 && w <= 20);
        filled += (h >= 19 || w >= 19);
        assert_true(fabs(cy - 14) <= 0.75 && fabs(cx - 14) <= 0.75);
        int maxv = 0;
        for (int k = 0; k < DH * DW; k++) maxv = img[k] > maxv ? img[k] : maxv, ink += img[k];
        assert_int_equal(maxv, 255);
        assert_int_equal(img[0] + img[DW - 1] + img[(DH - 1) * DW] + img[DH * DW - 1], 0);
        assert_true(s.cls >= 0 && s.cls <= 9 && s.thickness > 0 && s.scale_x > 0 && s.scale_y > 0);
    }
    assert_true(filled >= 590);
    ink /= 600.0 * DH * DW * 255;
    assert_true(ink > 0.08 && ink < 0.2); /* real test set: 0.13 */

    /* other sizes keep the proportions: 56x56 -> a 40x40 box, centre (28, 28) */
    static uint8_t big[56 * 56];
    for (uint64_t i = 0; i < 50; i++) {
        assert_int_equal(sim_digit_render(big, 56, 56, 3, i, NULL), 0);
        int h, w;
        double cy, cx;
        ink_stats(big, 56, 56, 0, &h, &w, &cy, &cx);
        assert_true(h <= 40 && w <= 40 && (h >= 38 || w >= 38));
        assert_true(fabs(cy - 28) <= 0.75 && fabs(cx - 28) <= 0.75);
    }
    assert_int_equal(sim_digit_render(img, 4, 28, 3, 0, NULL), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "4x28"));
}

/* Each class has its own strokes: class means differ clearly, and a nearest-class-mean
 * classifier built on one seed labels fresh samples of another far above chance. */
static void test_digit_classes_have_their_own_strokes(void **state) {
    (void)state;
    enum { NTRAIN = 3000, NTEST = 1000, P = DH * DW };
    static double mean[10][P];
    int count[10] = {0};
    uint8_t img[P];
    memset(mean, 0, sizeof mean);
    for (uint64_t i = 0; i < NTRAIN; i++) {
        sim_digit_sample s;
        sim_digit_render(img, DH, DW, 11, i, &s);
        count[s.cls]++;
        for (int k = 0; k < P; k++) mean[s.cls][k] += img[k] / 255.0;
    }
    for (int c = 0; c < 10; c++) {
        assert_true(count[c] > NTRAIN / 10 * 0.8 && count[c] < NTRAIN / 10 * 1.2);
        for (int k = 0; k < P; k++) mean[c][k] /= count[c];
    }
    double closest = 1e9;
    for (int a = 0; a < 10; a++)
        for (int b = a + 1; b < 10; b++) {
            double d = 0;
            for (int k = 0; k < P; k++) d += (mean[a][k] - mean[b][k]) * (mean[a][k] - mean[b][k]);
            closest = fmin(closest, sqrt(d));
        }
    assert_true(closest > 1.5); /* in units of one pixel's full range */
    int right = 0;
    for (uint64_t i = 0; i < NTEST; i++) {
        sim_digit_sample s;
        sim_digit_render(img, DH, DW, 12, i, &s);
        int best = -1;
        double bd = 1e30;
        for (int c = 0; c < 10; c++) {
            double d = 0;
            for (int k = 0; k < P; k++) d += (img[k] / 255.0 - mean[c][k]) * (img[k] / 255.0 - mean[c][k]);
            if (d < bd) bd = d, best = c;
        }
        right += best == s.cls;
    }
    print_message("nearest-class-mean accuracy on fresh digits: %.3f (chance 0.1)\n", right / (double)NTEST);
    assert_true(right > NTEST * 0.5);
}

/* ---------------------------------------------------------------- eyes */
/* Centroid of the darkest region: pixels within `band` levels of the minimum, weighted by how
 * far below the band's top they are (symmetric anti-aliased edges cancel). */
static int dark_centroid(const uint8_t *img, int H, int W, int band, double *cx, double *cy) {
    int m = 255;
    for (int k = 0; k < H * W; k++) m = img[k] < m ? img[k] : m;
    double sw = 0, sx = 0, sy = 0;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            double w = m + band - img[i * W + j];
            if (w <= 0) continue;
            sw += w, sx += w * (j + 0.5), sy += w * (i + 0.5);
        }
    *cx = sx / sw;
    *cy = sy / sw;
    return m;
}

/* The pupil drawn is where /labels/pupil_center says (glint and sensor noise off, so that the
 * pupil is the one darkest region), and the iris moves with the gaze the right way. The images
 * are histogram-equalized, so the darkest 1.5% of the pixels (the pupil's core) span the
 * lowest 4 levels: the band is 4, which keeps the iris and lashes out of the centroid. */
static void test_eye_pupil_centroid_matches_label(void **state) {
    (void)state;
    uint8_t img[EH * EW], with[EH * EW];
    int checked = 0, yaw_right = 0, yaw_n = 0, pitch_right = 0, pitch_n = 0;
    double worst = 0;
    for (uint64_t i = 0; i < 400; i++) {
        sim_eye_sample s, s2;
        assert_int_equal(sim_eye_render_opts(img, EH, EW, 5, i, &s, SIM_EYE_NO_GLINT | SIM_EYE_NO_NOISE), 0);
        assert_int_equal(sim_eye_render(with, EH, EW, 5, i, &s2), 0);
        assert_memory_equal(&s, &s2, sizeof s); /* the options change pixels, not labels */
        if (s.pupil_visible < 1) continue;
        double cx, cy;
        dark_centroid(img, EH, EW, 4, &cx, &cy);
        double err = hypot(cx - s.pupil_center[0], cy - s.pupil_center[1]);
        worst = fmax(worst, err);
        assert_true(err < 1.0);
        checked++;
        /* yaw > 0 looks towards image right, pitch > 0 up: judged from the pixels */
        if (fabs(s.gaze[1]) > 0.15) yaw_n++, yaw_right += (cx > s.eye_center[0]) == (s.gaze[1] > 0);
        if (fabs(s.gaze[0]) > 0.15) pitch_n++, pitch_right += (cy < s.eye_center[1]) == (s.gaze[0] > 0);
    }
    print_message("pupil centroid vs label: %d eyes with the pupil visible, worst %.2f px\n", checked, worst);
    assert_true(checked > 150);
    assert_true(yaw_n > 50 && yaw_right >= 0.95 * yaw_n);
    assert_true(pitch_n > 30 && pitch_right >= 0.95 * pitch_n);
}

/* Labels are consistent: lids meet at the corners and the upper is above the lower, the pupil
 * lies inside the iris, values are in range; images are not flat; other sizes scale the labels. */
static void test_eye_labels_and_ranges(void **state) {
    (void)state;
    uint8_t img[EH * EW];
    static uint8_t big[2 * EH * 2 * EW];
    for (uint64_t i = 0; i < 300; i++) {
        sim_eye_sample s;
        assert_int_equal(sim_eye_render(img, EH, EW, 9, i, &s), 0);
        assert_true(fabsf(s.gaze[0]) <= 0.45f && fabsf(s.gaze[1]) <= 0.6f);
        assert_true(s.iris_radius > 6 && s.iris_radius < 10.5f);
        assert_true(s.pupil_radius > 0.25f * s.iris_radius && s.pupil_radius < 0.6f * s.iris_radius);
        assert_true(s.pupil_center[0] > 0 && s.pupil_center[0] < EW && s.pupil_center[1] > 0 && s.pupil_center[1] < EH);
        const float *u = s.eyelid_upper, *l = s.eyelid_lower;
        int K = SIM_EYELID_K;
        assert_true(fabsf(u[0] - l[0]) < 1e-4f && fabsf(u[1] - l[1]) < 1e-4f);
        assert_true(fabsf(u[2 * K - 2] - l[2 * K - 2]) < 1e-4f && fabsf(u[2 * K - 1] - l[2 * K - 1]) < 1e-4f);
        for (int k = 1; k < K - 1; k++) assert_true(u[2 * k + 1] < l[2 * k + 1] - 0.5f);
        for (int k = 1; k < K; k++) assert_true(u[2 * k] > u[2 * k - 2]); /* corner to corner */
        double d = hypot(s.pupil_center[0] - s.eye_center[0], s.pupil_center[1] - s.eye_center[1]);
        assert_true(d <= s.eyeball_radius);
        if (s.pupil_visible == 1) { /* pupil centre between the lids at its column */
            int k = 0;
            while (k < K - 2 && u[2 * k + 2] < s.pupil_center[0]) k++;
            float f = (s.pupil_center[0] - u[2 * k]) / (u[2 * k + 2] - u[2 * k]);
            float yu = u[2 * k + 1] + f * (u[2 * k + 3] - u[2 * k + 1]);
            float yl = l[2 * k + 1] + f * (l[2 * k + 3] - l[2 * k + 1]);
            assert_true(s.pupil_center[1] > yu - 1.5f && s.pupil_center[1] < yl + 1.5f);
        }
        double m = 0, sq = 0;
        for (int k = 0; k < EH * EW; k++) m += img[k], sq += (double)img[k] * img[k];
        m /= EH * EW;
        double sd = sqrt(sq / (EH * EW) - m * m);
        assert_true(m > 30 && m < 240 && sd > 8);
        if (i < 20) { /* twice the size: the same eye, labels twice as far from the corner */
            sim_eye_sample b;
            assert_int_equal(sim_eye_render(big, 2 * EH, 2 * EW, 9, i, &b), 0);
            assert_true(fabsf(b.pupil_center[0] - 2 * s.pupil_center[0]) < 1e-3f);
            assert_true(fabsf(b.pupil_center[1] - 2 * s.pupil_center[1]) < 1e-3f);
            assert_true(fabsf(b.iris_radius - 2 * s.iris_radius) < 1e-3f);
            assert_true(fabsf(b.eyelid_upper[7] - 2 * s.eyelid_upper[7]) < 1e-3f);
        }
    }
    assert_int_equal(sim_eye_render(img, 8, 55, 9, 0, NULL), RP_EARG);
}

/* Calibrated against real MPIIGaze-style crops (docs/experiments/2026-12-05-eyes-calibration.md):
 * every image is histogram-equalized (full range, flat histogram, as the real ones are, at any
 * size), and the eye fills the crop as in them: corners near the left and right edges, an iris
 * about a quarter of the height across, the pupil within a few pixels of the centre. */
static void test_eye_equalized_and_framed_like_real_crops(void **state) {
    (void)state;
    static uint8_t img[2 * EH * 2 * EW];
    int N = 300;
    double px = 0, py = 0, far = 0;
    for (int size = 1; size <= 2; size++) {
        int H = size * EH, W = size * EW;
        for (uint64_t i = 0; i < (uint64_t)(size == 1 ? N : 20); i++) {
            sim_eye_sample s;
            assert_int_equal(sim_eye_render(img, H, W, 11, i, &s), 0);
            int lo = 255, hi = 0, bins[8] = {0};
            double m = 0;
            for (int k = 0; k < H * W; k++) lo = img[k] < lo ? img[k] : lo, hi = img[k] > hi ? img[k] : hi, bins[img[k] >> 5]++, m += img[k];
            m /= H * W;
            assert_true(lo <= 3 && hi >= 252);
            assert_true(fabs(m - 127.5) < 4);
            for (int b = 0; b < 8; b++) assert_true(bins[b] > 0.75 * H * W / 8 && bins[b] < 1.25 * H * W / 8);
            if (size == 2) continue;
            const float *u = s.eyelid_upper;
            assert_true(u[0] > 1 && u[0] < 10);                                   /* left corner */
            assert_true(u[2 * SIM_EYELID_K - 2] > 42 && u[2 * SIM_EYELID_K - 2] < 52); /* right corner */
            px += s.pupil_center[0], py += s.pupil_center[1];
            far += hypot(s.pupil_center[0] - 27.5, s.pupil_center[1] - 17) > 6;
        }
    }
    px /= N, py /= N;
    print_message("eyes: mean pupil centre (%.1f, %.1f), %.0f of %d more than 6 px from the centre\n", px, py, far, N);
    assert_true(fabs(px - 27.5) < 1.5 && py > 15 && py < 19);
    assert_true(far < 0.05 * N);
}

/* ---------------------------------------------------------------- scenes and files */
static void test_scene_table(void **state) {
    (void)state;
    const sim_scene *d = sim_scene_find("digits"), *e = sim_scene_find("eyes");
    assert_non_null(d);
    assert_non_null(e);
    assert_null(sim_scene_find("faces"));
    assert_non_null(sim_scene_find("eyes-target"));
    assert_int_equal(d->height, 28);
    assert_int_equal(e->width, 55);
    assert_string_equal(d->columns[0].path, "labels/class");
    assert_int_equal(d->columns[0].dtype, SIM_INT32);
    /* gathering a column reads the right field of each record */
    sim_digit_sample ds[3];
    uint8_t img[3 * DH * DW];
    assert_int_equal(sim_render_batch(d, DH, DW, 4, 0, 3, img, ds, 1), 0);
    int32_t cls[3];
    sim_gather_column(d, 0, ds, 3, cls);
    for (int i = 0; i < 3; i++) assert_int_equal(cls[i], ds[i].cls);
    int found = 0;
    for (int c = 0; c < e->ncolumns; c++)
        if (!strcmp(e->columns[c].path, "labels/eyelid_upper")) {
            found = 1;
            assert_int_equal(e->columns[c].cols, 2 * SIM_EYELID_K);
            assert_string_equal(e->columns[c].units, "pixels");
        } else if (!strcmp(e->columns[c].path, "labels/gaze")) {
            assert_int_equal(e->columns[c].cols, 2);
            assert_string_equal(e->columns[c].units, "radians");
        }
    assert_true(found);
    /* every column lies inside its record */
    for (int c = 0; c < d->ncolumns; c++)
        assert_true(d->columns[c].offset + 4 * d->columns[c].cols <= d->sample_size);
    for (int c = 0; c < e->ncolumns; c++)
        assert_true(e->columns[c].offset + 4 * e->columns[c].cols <= e->sample_size);
    /* a size error in a worker comes back with its message */
    assert_int_equal(sim_render_batch(d, 4, 4, 4, 0, 3, img, NULL, 2), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "4x4"));
}

/* Through the library's writer: 1 and 2 threads (and different chunkings) give identical /images,
 * labels and params, equal to single renders, with units and provenance. */
static void simulate_file(const char *dir, const char *name, const char *scene, long n, int threads, long chunk,
                          char *path) {
    rp_config cfg;
    config_defaults(&cfg);
    char v[32];
    assert_int_equal(config_set(&cfg, "simulate.scene", scene), 0);
    snprintf(v, sizeof v, "%ld", n);
    assert_int_equal(config_set(&cfg, "simulate.n", v), 0);
    assert_int_equal(config_set(&cfg, "simulate.seed", "42"), 0);
    snprintf(v, sizeof v, "%ld", chunk);
    assert_int_equal(config_set(&cfg, "simulate.chunk", v), 0);
    sprintf(path, "%s/%s", dir, name);
    assert_int_equal(simulate_run(&cfg, path, threads, 1), 0);
}

static void test_simulated_files_identical_across_threads(void **state) {
    (void)state;
    char dir[] = "/tmp/rp-test-XXXXXX", a[256], b[256];
    assert_non_null(mkdtemp(dir));
    const char *scenes[2] = {"digits", "eyes"};
    for (int sc = 0; sc < 2; sc++) {
        const sim_scene *scene = sim_scene_find(scenes[sc]);
        long n = 700;
        simulate_file(dir, "a.h5", scenes[sc], n, 1, 256, a);
        simulate_file(dir, "b.h5", scenes[sc], n, 2, 100, b);
        h5ds_reader *ra, *rb;
        assert_int_equal(h5ds_open(&ra, a), 0);
        assert_int_equal(h5ds_open(&rb, b), 0);
        const h5ds_info *ia = h5ds_get_info(ra);
        assert_int_equal(ia->N, n);
        assert_int_equal(ia->H, scene->height);
        assert_int_equal(ia->W, scene->width);
        assert_string_equal(ia->kind, "synthetic");
        assert_string_equal(ia->scene, scenes[sc]);
        assert_int_equal(ia->seed, 42);
        assert_non_null(strstr(ia->config, "[simulate]"));
        size_t px = (size_t)ia->H * ia->W;
        uint8_t *ia8 = malloc(n * px), *ib8 = malloc(n * px), *ref = malloc(px);
        assert_int_equal(h5ds_read_images_u8(ra, 0, n, ia8), 0);
        assert_int_equal(h5ds_read_images_u8(rb, 0, n, ib8), 0);
        assert_memory_equal(ia8, ib8, n * px);
        char *rec = malloc(scene->sample_size);
        for (long i = 0; i < n; i += 97) { /* rows are the samples of their index */
            assert_int_equal(scene->render(ref, ia->H, ia->W, 42, (uint64_t)i, rec), 0);
            assert_memory_equal(ia8 + i * px, ref, px);
        }
        /* every column present, equal across files, and equal to the record's field */
        for (int c = 0; c < scene->ncolumns; c++) {
            const sim_column *col = &scene->columns[c];
            int k = h5ds_find_column(ra, col->path);
            assert_true(k >= 0);
            assert_int_equal(ia->cols[k].cols, col->cols);
            if (col->units) assert_string_equal(ia->cols[k].units, col->units);
            h5ds_dtype t = col->dtype == SIM_INT32 ? H5DS_INT32 : H5DS_FLOAT32;
            char *va = malloc(4 * col->cols * n), *vb = malloc(4 * col->cols * n);
            assert_int_equal(h5ds_read_column(ra, col->path, 0, n, va, t), 0);
            assert_int_equal(h5ds_read_column(rb, col->path, 0, n, vb, t), 0);
            assert_memory_equal(va, vb, 4 * col->cols * n);
            scene->render(ref, ia->H, ia->W, 42, (uint64_t)(n - 1), rec);
            assert_memory_equal(va + 4 * col->cols * (n - 1), rec + col->offset, 4 * col->cols);
            free(va), free(vb);
        }
        h5ds_close(ra);
        h5ds_close(rb);
        free(ia8), free(ib8), free(ref), free(rec);
        unlink(a), unlink(b);
    }
    assert_int_equal(rmdir(dir), 0);
}

/* Every value the eye renderer draws is recorded: the columns tile the sample record exactly (a
 * field with no column, or two columns on one field, fails), and in a written eye set every
 * /params column varies from image to image in each of its components (a value drawn but never
 * copied into the record is written as a constant 0). */
static void check_columns_tile_record(const sim_scene *s) {
    size_t at = 0;
    for (int step = 0; step < s->ncolumns; step++) { /* the column starting where the last ended */
        int found = -1;
        for (int c = 0; c < s->ncolumns; c++)
            if (s->columns[c].offset == at) found = c;
        if (found < 0) fail_msg("%s: no column at byte %zu of the %zu-byte record", s->name, at, s->sample_size);
        at += 4 * (size_t)s->columns[found].cols;
    }
    assert_int_equal(at, s->sample_size);
}

static void check_eye_params_written(const char *name) {
    const sim_scene *scene = sim_scene_find(name);
    check_columns_tile_record(scene);
    char dir[] = "/tmp/rp-test-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    long n = 64;
    simulate_file(dir, "p.h5", name, n, 1, 64, path);
    h5ds_reader *r;
    assert_int_equal(h5ds_open(&r, path), 0);
    const h5ds_info *info = h5ds_get_info(r);
    int nparams = 0, ntable = 0;
    for (int c = 0; c < scene->ncolumns; c++) ntable += !strncmp(scene->columns[c].path, "params/", 7);
    for (int k = 0; k < info->ncols; k++) {
        const h5ds_colinfo *col = &info->cols[k];
        if (strncmp(col->path, "params/", 7)) continue;
        nparams++;
        float *v = malloc(sizeof *v * n * col->cols);
        assert_int_equal(h5ds_read_column(r, col->path, 0, n, v, H5DS_FLOAT32), 0);
        for (int j = 0; j < col->cols; j++) {
            int distinct = 0; /* values unlike every earlier row's */
            for (long i = 0; i < n; i++) {
                int seen = 0;
                for (long e = 0; e < i && !seen; e++) seen = v[e * col->cols + j] == v[i * col->cols + j];
                distinct += !seen;
            }
            if (distinct < n / 2)
                fail_msg("/%s[%d]: %d distinct values in %ld eyes: drawn but not recorded?", col->path, j, distinct, n);
        }
        free(v);
    }
    assert_int_equal(nparams, ntable);
    assert_true(nparams >= 47);
    h5ds_close(r);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

static void test_eye_params_all_recorded(void **state) {
    (void)state;
    check_columns_tile_record(sim_scene_find("digits"));
    check_eye_params_written("eyes");
    check_eye_params_written("eyes-target");
}

/* eyes-target: the eyes scene's geometry and labels for the same (seed, index), another
 * appearance (its draws in their ranges, darker images from the tone curve). */
static void test_eye_target_same_labels_other_look(void **state) {
    (void)state;
    const sim_scene *e = sim_scene_find("eyes"), *t = sim_scene_find("eyes-target");
    assert_non_null(t);
    assert_int_equal(t->ncolumns, e->ncolumns + 1);
    assert_string_equal(t->columns[t->ncolumns - 1].path, "params/gamma");
    enum { N = 40 };
    uint8_t *a = malloc(N * EH * EW), *b = malloc(N * EH * EW);
    sim_eye_sample *sa = malloc(N * sizeof *sa);
    sim_eye_target_sample *sb = malloc(N * sizeof *sb);
    assert_int_equal(sim_render_batch(e, EH, EW, 7, 100, N, a, sa, 1), 0);
    assert_int_equal(sim_render_batch(t, EH, EW, 7, 100, N, b, sb, 2), 0);
    double ma = 0, mb = 0;
    for (int i = 0; i < N; i++) {
        const sim_eye_sample *x = &sa[i], *y = &sb[i].eye;
        assert_memory_equal(x->gaze, y->gaze, sizeof x->gaze);
        assert_memory_equal(x->pupil_center, y->pupil_center, sizeof x->pupil_center);
        assert_memory_equal(x->eyelid_upper, y->eyelid_upper, sizeof x->eyelid_upper);
        assert_memory_equal(x->eyelid_lower, y->eyelid_lower, sizeof x->eyelid_lower);
        assert_true(x->iris_radius == y->iris_radius && x->openness == y->openness);
        assert_true(sb[i].gamma >= 1.5f && sb[i].gamma <= 2.2f);
        assert_true(y->iris_tone >= 0.25f && y->lash >= 0.85f && y->lid_fold >= 0.5f);
        assert_true(y->blur_x >= 0.2f && y->blur_y >= 0.2f);
        assert_memory_not_equal(a + i * EH * EW, b + i * EH * EW, EH * EW);
        uint8_t one[EH * EW];
        sim_eye_target_sample rec;
        assert_int_equal(sim_eye_target_render(one, EH, EW, 7, 100 + i, &rec), 0);
        assert_memory_equal(one, b + i * EH * EW, EH * EW);
        assert_true(rec.gamma == sb[i].gamma);
    }
    for (int k = 0; k < N * EH * EW; k++) ma += a[k], mb += b[k];
    ma /= N * EH * EW, mb /= N * EH * EW;
    /* equalized eyes average 127.5; a tone curve with gamma 1.5-2.2 brings that to about 80-100 */
    assert_true(ma > 120 && ma < 135);
    assert_true(mb > 70 && mb < 105);
    free(a), free(b), free(sa), free(sb);
}

/* R^2 of the least-squares fit y ~ 1 + a + b. */
static double fit_r2(const double *y, const double *a, const double *b, int n) {
    double m[3][4] = {{0}};
    for (int i = 0; i < n; i++) {
        double x[3] = {1, a[i], b[i]};
        for (int p = 0; p < 3; p++) {
            for (int q = 0; q < 3; q++) m[p][q] += x[p] * x[q];
            m[p][3] += x[p] * y[i];
        }
    }
    for (int c = 0; c < 3; c++) /* Gauss-Jordan: the normal equations are positive definite */
        for (int p = 0; p < 3; p++)
            if (p != c) {
                double f = m[p][c] / m[c][c];
                for (int q = 0; q < 4; q++) m[p][q] -= f * m[c][q];
            }
    double coef[3] = {m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]}, my = 0, tot = 0, res = 0;
    for (int i = 0; i < n; i++) my += y[i];
    my /= n;
    for (int i = 0; i < n; i++) {
        double e = y[i] - (coef[0] + coef[1] * a[i] + coef[2] * b[i]);
        res += e * e, tot += (y[i] - my) * (y[i] - my);
    }
    return 1 - res / tot;
}

static double pearson(const double *a, const double *b, int n) {
    double ma = 0, mb = 0, ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) ma += a[i], mb += b[i];
    ma /= n, mb /= n;
    for (int i = 0; i < n; i++) ab += (a[i] - ma) * (b[i] - mb), aa += (a[i] - ma) * (a[i] - ma), bb += (b[i] - mb) * (b[i] - mb);
    return ab / sqrt(aa * bb);
}

/* The recorded camera values are the ones the image went through. The sensor noise (an image
 * minus the same eye rendered without it) is drawn per pixel at the webcam's resolution, blurred
 * and scaled up, so how much neighbours share of it says what happened: along rows it follows
 * `resolution` (fewer columns seen, more shared) and `blur_x`, down columns `blur_y`; its
 * strength follows `noise` / `contrast` (the equalization removes the scene's scale, so contrast
 * only sets how strong the noise is against it). Each fit is also made against another eye's
 * record, where it must fail: the statistics tell records apart. Eyes whose noise is under 1.5
 * gray levels (rms) are left out: there the 8-bit rounding is most of the difference. */
static void test_eye_camera_params_match_pixels(void **state) {
    (void)state;
    enum { N = 300 };
    static double rh[N], rv[N], amp[N], res[N], bx[N], by[N], nc[N], ores[N], obx[N], oby[N], onc[N];
    uint8_t a[EH * EW], b[EH * EW], c[EH * EW];
    double d[EH * EW];
    int m = 0;
    for (uint64_t i = 0; i < N; i++) {
        sim_eye_sample s, t, o;
        assert_int_equal(sim_eye_render(a, EH, EW, 21, i, &s), 0);
        assert_int_equal(sim_eye_render_opts(b, EH, EW, 21, i, &t, SIM_EYE_NO_NOISE), 0);
        assert_int_equal(sim_eye_render(c, EH, EW, 22, i, &o), 0); /* another eye's record */
        double mean = 0, var = 0, ch = 0, cv = 0;
        for (int k = 0; k < EH * EW; k++) d[k] = (double)a[k] - b[k], mean += d[k];
        mean /= EH * EW;
        for (int k = 0; k < EH * EW; k++) d[k] -= mean, var += d[k] * d[k];
        for (int y = 0; y < EH; y++)
            for (int x = 0; x + 1 < EW; x++) ch += d[y * EW + x] * d[y * EW + x + 1];
        for (int y = 0; y + 1 < EH; y++)
            for (int x = 0; x < EW; x++) cv += d[y * EW + x] * d[y * EW + x + EW];
        double rms = sqrt(var / (EH * EW));
        if (rms < 1.5) continue;
        /* lag-1 autocorrelations (per pair, over the variance per pixel) */
        rh[m] = ch / (EH * (EW - 1)) / (var / (EH * EW)), rv[m] = cv / ((EH - 1) * EW) / (var / (EH * EW));
        amp[m] = log(rms);
        res[m] = s.resolution, bx[m] = s.blur_x, by[m] = s.blur_y, nc[m] = log(s.noise / s.contrast);
        ores[m] = o.resolution, obx[m] = o.blur_x, oby[m] = o.blur_y, onc[m] = log(o.noise / o.contrast);
        m++;
    }
    double r2h = fit_r2(rh, res, bx, m), r2h_other = fit_r2(rh, ores, obx, m);
    double cv_y = pearson(rv, by, m), cv_other = pearson(rv, oby, m);
    double ca = pearson(amp, nc, m), ca_other = pearson(amp, onc, m);
    print_message("eye noise in %d of %d images: rows ~ resolution + blur_x R^2 %.3f (another eye's %.3f), "
                  "columns ~ blur_y r %.3f (%.3f), log rms ~ log(noise/contrast) r %.3f (%.3f)\n",
                  m, N, r2h, r2h_other, cv_y, cv_other, ca, ca_other);
    assert_true(m > N * 3 / 4);
    assert_true(r2h > 0.75 && r2h_other < 0.1);
    assert_true(cv_y > 0.75 && fabs(cv_other) < 0.25);
    assert_true(ca > 0.75 && fabs(ca_other) < 0.25);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_index_same_bytes),
        cmocka_unit_test(test_batches_independent_of_threads_and_order),
        cmocka_unit_test(test_digit_geometry_like_mnist),
        cmocka_unit_test(test_digit_classes_have_their_own_strokes),
        cmocka_unit_test(test_eye_pupil_centroid_matches_label),
        cmocka_unit_test(test_eye_labels_and_ranges),
        cmocka_unit_test(test_eye_equalized_and_framed_like_real_crops),
        cmocka_unit_test(test_scene_table),
        cmocka_unit_test(test_simulated_files_identical_across_threads),
        cmocka_unit_test(test_eye_params_all_recorded),
        cmocka_unit_test(test_eye_target_same_labels_other_look),
        cmocka_unit_test(test_eye_camera_params_match_pixels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
