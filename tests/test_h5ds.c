/* Tests of the refine-dataset reader/writer: round trips of every layout, random-order row reads,
 * float32 and external datasets, each malformed-input case (built with the HDF5 API here) giving
 * an error that names the file and dataset, and the temp-file/rename guarantees. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io/h5ds.h"
#include "io/h5ds_deflate.h"
#include "io/h5util.h"
#include "base/status.h"
#include <zlib.h>
#include "tests/tmpdir.h"


/* ---------------------------------------------------------------- round trips */
static void test_roundtrip_gray(void **state) {
    (void)state;
    enum { N = 10, H = 5, W = 7 };
    const char *path = tpath("gray.h5");
    h5ds_column cols[3] = {{"labels/class", H5DS_INT32, 1, NULL},
                           {"params/slant", H5DS_FLOAT32, 1, NULL},
                           {"labels/gaze", H5DS_FLOAT32, 2, "radians"}};
    h5ds_provenance prov = {"synthetic", "digits", "[simulate]\nscene = digits\n", 1234, NULL, NULL, -1};
    h5ds_options opt = {4, 0};
    h5ds_writer *w;
    assert_int_equal(h5ds_create(&w, path, H, W, 1, cols, 3, &prov, &opt), 0);
    uint8_t img[N * H * W];
    int32_t cls[N];
    float slant[N], gaze[2 * N];
    for (int i = 0; i < N * H * W; i++) img[i] = (uint8_t)(i * 7 + 3);
    for (int i = 0; i < N; i++) cls[i] = i % 10, slant[i] = 0.1f * i - 0.3f, gaze[2 * i] = -i, gaze[2 * i + 1] = i * 0.5f;
    /* appends of 3, 0, 6, 1 rows: chunk boundaries fall inside appends */
    long parts[4] = {3, 0, 6, 1}, at = 0;
    for (int k = 0; k < 4; k++) {
        const void *cv[3] = {cls + at, slant + at, gaze + 2 * at};
        assert_int_equal(h5ds_append(w, parts[k], img + at * H * W, cv, NULL), 0);
        at += parts[k];
    }
    assert_int_equal(h5ds_writer_rows(w), N);
    assert_int_equal(h5ds_finish(w), 0);
    assert_int_equal(dir_count(tmpdir), 1); /* no temp file left behind */

    h5ds_reader *r;
    assert_int_equal(h5ds_open(&r, path), 0);
    const h5ds_info *in = h5ds_get_info(r);
    assert_int_equal(in->N, N);
    assert_int_equal(in->H, H);
    assert_int_equal(in->W, W);
    assert_int_equal(in->C, 1);
    assert_int_equal(in->dtype, H5DS_UINT8);
    assert_int_equal(in->format_version, 1);
    assert_string_equal(in->kind, "synthetic");
    assert_string_equal(in->scene, "digits");
    assert_string_equal(in->config, prov.config);
    assert_string_equal(in->created_by, "refine-pipeline 0.1.0");
    assert_int_equal(strlen(in->created_at), 20);
    assert_int_equal(in->created_at[19], 'Z');
    assert_int_equal(in->seed, 1234);
    assert_int_equal(in->refiner_step, -1);
    assert_null(in->source_file);
    assert_int_equal(in->ncols, 3);
    assert_string_equal(in->cols[0].path, "labels/class"); /* labels sorted, then params */
    assert_string_equal(in->cols[1].path, "labels/gaze");
    assert_string_equal(in->cols[2].path, "params/slant");
    assert_int_equal(in->cols[0].dtype, H5DS_INT32);
    assert_int_equal(in->cols[1].cols, 2);
    assert_string_equal(in->cols[1].units, "radians");
    assert_string_equal(in->cols[0].units, "");
    assert_int_equal(in->has_index, 1);
    assert_int_equal(h5ds_find_column(r, "/labels/gaze"), 1);
    assert_int_equal(h5ds_find_column(r, "labels/none"), -1);

    uint8_t back[N * H * W];
    assert_int_equal(h5ds_read_images_u8(r, 0, N, back), 0);
    assert_memory_equal(back, img, sizeof img);
    assert_int_equal(h5ds_read_images_u8(r, 7, 3, back), 0);
    assert_memory_equal(back, img + 7 * H * W, 3 * H * W);
    float f[2 * H * W];
    assert_int_equal(h5ds_read_images_f32(r, 4, 2, f, -1, 1), 0);
    for (int i = 0; i < 2 * H * W; i++) assert_float_equal(f[i], -1 + 2 * img[4 * H * W + i] / 255.0f, 1e-6);

    int32_t c2[N];
    float s2[N], g2[2 * N];
    int64_t idx[N];
    double dummy;
    (void)dummy;
    assert_int_equal(h5ds_read_column(r, "labels/class", 0, N, c2, H5DS_INT32), 0);
    assert_memory_equal(c2, cls, sizeof cls);
    assert_int_equal(h5ds_read_column(r, "params/slant", 0, N, s2, H5DS_FLOAT32), 0);
    assert_memory_equal(s2, slant, sizeof slant);
    assert_int_equal(h5ds_read_column(r, "labels/gaze", 0, N, g2, H5DS_FLOAT32), 0);
    assert_memory_equal(g2, gaze, sizeof gaze);
    assert_int_equal(h5ds_read_column(r, "index", 0, N, idx, H5DS_INT64), 0);
    for (int i = 0; i < N; i++) assert_int_equal(idx[i], i);
    /* conversion on read: class as float */
    float cf[N];
    assert_int_equal(h5ds_read_column(r, "labels/class", 0, N, cf, H5DS_FLOAT32), 0);
    for (int i = 0; i < N; i++) assert_float_equal(cf[i], cls[i], 0);

    /* errors name file and dataset */
    assert_int_equal(h5ds_read_images_u8(r, 8, 3, back), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), path));
    assert_int_equal(h5ds_read_column(r, "labels/nope", 0, 1, c2, H5DS_INT32), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "/labels/nope"));
    assert_string_equal(h5ds_attr_str(r, "refine_format"), "refine-dataset");
    assert_null(h5ds_attr_str(r, "no_such_attr"));
    h5ds_close(r);

    /* attributes are variable-length UTF-8 strings (what h5py reads as str) */
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t a = H5Aopen(fid, "kind", H5P_DEFAULT), t = H5Aget_type(a);
    assert_true(H5Tis_variable_str(t) > 0);
    assert_int_equal(H5Tget_cset(t), H5T_CSET_UTF8);
    H5Tclose(t), H5Aclose(a), H5Fclose(fid);
}

static void test_roundtrip_rgb_index_filters(void **state) {
    (void)state;
    enum { N = 5, H = 3, W = 4, C = 3 };
    const char *path = tpath("rgb.h5");
    h5ds_column cols[1] = {{"labels/pupil_center", H5DS_FLOAT32, 2, "pixels"}};
    h5ds_provenance prov = {"refined", "eyes", NULL, -1, "syn.h5", "ck/step-100.h5", 100};
    h5ds_options opt = {2, 6};
    h5ds_writer *w;
    assert_int_equal(h5ds_create(&w, path, H, W, C, cols, 1, &prov, &opt), 0);
    uint8_t img[N * H * W * C];
    float pc[2 * N];
    int64_t src[N] = {40, 3, 99, 7, 0};
    for (int i = 0; i < N * H * W * C; i++) img[i] = (uint8_t)(i * 13 + 1);
    for (int i = 0; i < 2 * N; i++) pc[i] = i * 1.25f;
    const void *cv[1] = {pc};
    assert_int_equal(h5ds_append(w, N, img, cv, src), 0);
    assert_int_equal(h5ds_finish(w), 0);

    h5ds_reader *r;
    assert_int_equal(h5ds_open(&r, path), 0);
    const h5ds_info *in = h5ds_get_info(r);
    assert_int_equal(in->C, C);
    assert_string_equal(in->kind, "refined");
    assert_string_equal(in->source_file, "syn.h5");
    assert_string_equal(in->refiner_checkpoint, "ck/step-100.h5");
    assert_int_equal(in->refiner_step, 100);
    assert_int_equal(in->seed, -1);
    assert_null(in->config);
    uint8_t back[sizeof img];
    assert_int_equal(h5ds_read_images_u8(r, 0, N, back), 0);
    assert_memory_equal(back, img, sizeof img);
    /* NCHW on the float side */
    float f[N * C * H * W];
    assert_int_equal(h5ds_read_images_f32(r, 0, N, f, 0, 1), 0);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < H * W; p++)
                assert_float_equal(f[(n * C + c) * H * W + p], img[(n * H * W + p) * C + c] / 255.0f, 1e-6);
    uint8_t packed[sizeof img];
    h5ds_pack_u8(packed, f, N, C, H, W, 0, 1);
    assert_memory_equal(packed, img, sizeof img);
    int64_t idx[N];
    assert_int_equal(h5ds_read_column(r, "/index", 0, N, idx, H5DS_INT64), 0);
    assert_memory_equal(idx, src, sizeof src);
    assert_string_equal(in->cols[0].units, "pixels");
    h5ds_close(r);

    /* layout: rank 4, growable along N, chunked along N, shuffle then deflate(6) */
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    const char *names[3] = {"/images", "/index", "/labels/pupil_center"};
    for (int k = 0; k < 3; k++) {
        hid_t d = H5Dopen2(fid, names[k], H5P_DEFAULT), s = H5Dget_space(d), p = H5Dget_create_plist(d);
        hsize_t dims[4], maxd[4], ch[4];
        int rank = H5Sget_simple_extent_dims(s, dims, maxd);
        assert_int_equal(rank, k == 0 ? 4 : k == 1 ? 1 : 2);
        assert_true(maxd[0] == H5S_UNLIMITED);
        assert_int_equal(H5Pget_layout(p), H5D_CHUNKED);
        assert_int_equal(H5Pget_chunk(p, 4, ch), rank);
        assert_int_equal(ch[0], 2);
        assert_int_equal(H5Pget_nfilters(p), 2);
        unsigned flags, cd[4];
        size_t ncd = 4;
        assert_int_equal(H5Pget_filter2(p, 0, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_SHUFFLE);
        ncd = 4;
        assert_int_equal(H5Pget_filter2(p, 1, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_DEFLATE);
        assert_int_equal(cd[0], 6);
        H5Pclose(p), H5Sclose(s), H5Dclose(d);
    }
    H5Fclose(fid);
}

static void test_chunk_cap(void **state) {
    (void)state;
    const char *path = tpath("big.h5");
    h5ds_options opt = {1000, 0};
    h5ds_writer *w;
    /* 600x600 = 360 KB per image: at most 2 per 1 MB chunk whatever was asked */
    assert_int_equal(h5ds_create(&w, path, 600, 600, 1, NULL, 0, NULL, &opt), 0);
    h5ds_abort(w);
    assert_int_equal(dir_count(tmpdir), 0);
    assert_int_equal(h5ds_create(&w, path, 600, 600, 1, NULL, 0, NULL, &opt), 0);
    uint8_t *img = calloc(3 * 600 * 600, 1);
    assert_int_equal(h5ds_append(w, 3, img, NULL, NULL), 0);
    assert_int_equal(h5ds_finish(w), 0);
    free(img);
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(fid, "/images", H5P_DEFAULT), p = H5Dget_create_plist(d);
    hsize_t ch[3];
    H5Pget_chunk(p, 3, ch);
    assert_int_equal(ch[0], 2);
    H5Pclose(p), H5Dclose(d), H5Fclose(fid);
}

static void test_read_rows_random(void **state) {
    (void)state;
    enum { N = 300, H = 4, W = 3 };
    const char *path = tpath("rows.h5");
    h5ds_column cols[1] = {{"labels/class", H5DS_INT32, 1, NULL}};
    h5ds_options opt = {16, 0};
    h5ds_writer *w;
    assert_int_equal(h5ds_create(&w, path, H, W, 1, cols, 1, NULL, &opt), 0);
    uint8_t *img = malloc(N * H * W);
    int32_t cls[N];
    for (int i = 0; i < N * H * W; i++) img[i] = (uint8_t)((i * 2654435761u) >> 24);
    for (int i = 0; i < N; i++) cls[i] = i * 3;
    const void *cv[1] = {cls};
    assert_int_equal(h5ds_append(w, N, img, cv, NULL), 0);
    assert_int_equal(h5ds_finish(w), 0);
    h5ds_reader *r;
    assert_int_equal(h5ds_open(&r, path), 0);
    uint8_t *all = malloc(N * H * W);
    assert_int_equal(h5ds_read_images_u8(r, 0, N, all), 0);
    assert_memory_equal(all, img, N * H * W);
    enum { B = 64 };
    long rows[B];
    uint32_t x = 12345;
    for (int i = 0; i < B; i++) x = x * 1664525u + 1013904223u, rows[i] = (x >> 8) % N;
    rows[5] = rows[6] = 17; /* duplicates and neighbours */
    rows[7] = 18, rows[8] = 16, rows[9] = 0, rows[10] = N - 1;
    uint8_t got[B * H * W];
    float gf[B * H * W];
    int32_t gc[B];
    assert_int_equal(h5ds_read_rows_u8(r, rows, B, got), 0);
    assert_int_equal(h5ds_read_rows_f32(r, rows, B, gf, -1, 1), 0);
    assert_int_equal(h5ds_read_column_rows(r, "labels/class", rows, B, gc, H5DS_INT32), 0);
    for (int i = 0; i < B; i++) {
        assert_memory_equal(got + i * H * W, all + rows[i] * H * W, H * W);
        for (int p = 0; p < H * W; p++) assert_float_equal(gf[i * H * W + p], -1 + 2 * all[rows[i] * H * W + p] / 255.0f, 1e-6);
        assert_int_equal(gc[i], rows[i] * 3);
    }
    rows[3] = N;
    assert_int_equal(h5ds_read_rows_u8(r, rows, B, got), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "out of range"));
    h5ds_close(r);
    free(img), free(all);
}

/* ---------------------------------------------------------------- external and malformed files */
/* Writes one dataset (and optionally refine-dataset root attributes) with the HDF5 API. */
static void make_file(const char *path, int refine_attrs, const char *dset, hid_t type, int rank, const hsize_t *dims,
                      const void *data) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    if (refine_attrs) {
        hid_t st = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
        H5Tset_size(st, H5T_VARIABLE);
        const char *v = refine_attrs == 2 ? "refine-checkpoint" : "refine-dataset";
        hid_t a = H5Acreate2(f, "refine_format", st, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, st, &v);
        H5Aclose(a);
        int one = 1;
        a = H5Acreate2(f, "refine_format_version", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_INT, &one);
        H5Aclose(a), H5Sclose(sp), H5Tclose(st);
    }
    if (dset) {
        hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
        H5Pset_create_intermediate_group(lcpl, 1);
        hid_t s = H5Screate_simple(rank, dims, NULL);
        hid_t d = H5Dcreate2(f, dset, type, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        assert_true(d >= 0);
        if (data) assert_true(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
        H5Dclose(d), H5Sclose(s), H5Pclose(lcpl);
    }
    H5Fclose(f);
}

static void add_dataset(const char *path, const char *dset, hid_t type, int rank, const hsize_t *dims) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t s = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, dset, type, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d), H5Sclose(s), H5Pclose(lcpl), H5Fclose(f);
}

static void test_float_and_external(void **state) {
    (void)state;
    const char *path = tpath("float.h5");
    float v[2 * 2 * 3];
    for (int i = 0; i < 12; i++) v[i] = i / 11.0f;
    hsize_t dims[3] = {2, 2, 3};
    make_file(path, 0, "/data/faces", H5T_NATIVE_FLOAT, 3, dims, v);
    char spec[300];
    snprintf(spec, sizeof spec, "%s:/data/faces", path);
    h5ds_reader *r;
    assert_int_equal(h5ds_open(&r, spec), 0);
    const h5ds_info *in = h5ds_get_info(r);
    assert_int_equal(in->dtype, H5DS_FLOAT32);
    assert_int_equal(in->format_version, 0);
    assert_int_equal(in->ncols, 0);
    assert_int_equal(in->N, 2);
    assert_string_equal(in->images, "/data/faces");
    assert_null(in->kind);
    uint8_t u[12];
    float f[12];
    assert_int_equal(h5ds_read_images_u8(r, 0, 2, u), 0);
    assert_int_equal(h5ds_read_images_f32(r, 0, 2, f, -1, 1), 0);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(u[i], (int)lrintf(v[i] * 255));
        assert_float_equal(f[i], -1 + 2 * v[i], 1e-6);
    }
    h5ds_close(r);
    /* the default dataset path is /images: missing here */
    assert_int_equal(h5ds_open(&r, path), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "/images: missing"));
    /* values outside [0, 1] (or NaN) in float images are an error naming the row and the value,
     * for every reader: fuzz_h5ds found 262143 passed on to training as is, and clamped to 255
     * as uint8 (tests/corpus/h5ds/regress-float-out-of-range) */
    const float bad[2] = {1.5f, NAN};
    for (int b = 0; b < 2; b++) {
        v[9] = bad[b];
        make_file(path, 0, "/data/faces", H5T_NATIVE_FLOAT, 3, dims, v);
        assert_int_equal(h5ds_open(&r, spec), 0);
        long rows[2] = {1, 0};
        assert_int_equal(h5ds_read_images_f32(r, 0, 1, f, -1, 1), 0); /* row 0 is fine */
        assert_int_equal(h5ds_read_images_f32(r, 0, 2, f, -1, 1), RP_EFORMAT);
        assert_non_null(strstr(rp_errmsg(), b ? "/data/faces: row 1 holds nan: float images must lie in [0, 1]"
                                              : "/data/faces: row 1 holds 1.5: float images must lie in [0, 1]"));
        assert_int_equal(h5ds_read_images_u8(r, 1, 1, u), RP_EFORMAT);
        assert_int_equal(h5ds_read_rows_f32(r, rows, 2, f, 0, 1), RP_EFORMAT);
        assert_int_equal(h5ds_read_rows_u8(r, rows + 1, 1, u), 0);
        h5ds_close(r);
    }
}

/* Opening `spec` must fail with a message containing the file name and each of the words. */
static void expect_error(const char *spec, const char *file, const char *w1, const char *w2) {
    h5ds_reader *r = NULL;
    rp_err_clear();
    int rc = h5ds_open(&r, spec);
    if (rc == 0) h5ds_close(r);
    assert_true(rc < 0);
    assert_null(r);
    const char *m = rp_errmsg();
    if (getenv("RP_SHOW")) printf("  msg: %s\n", m);
    if (!strstr(m, file) || (w1 && !strstr(m, w1)) || (w2 && !strstr(m, w2)))
        fail_msg("message \"%s\" lacks \"%s\" / \"%s\" / \"%s\"", m, file, w1 ? w1 : "", w2 ? w2 : "");
}

static void test_malformed(void **state) {
    (void)state;
    hsize_t d2[2] = {10, 10}, d3[3] = {5, 2, 2}, d0[3] = {0, 28, 28}, dh0[3] = {4, 0, 28}, d1[1] = {4};
    const char *p;

    p = tpath("text.h5");
    FILE *f = fopen(p, "w");
    fputs("this is not hdf5 at all, just some text that is long enough\n", f);
    fclose(f);
    expect_error(p, p, "not an HDF5 file", NULL);
    expect_error(tpath("absent.h5"), tpath("absent.h5"), "cannot open", NULL);

    p = tpath("trunc.h5");
    uint8_t px[5 * 2 * 2] = {0};
    h5ds_writer *w;
    assert_int_equal(h5ds_create(&w, p, 2, 2, 1, NULL, 0, NULL, NULL), 0);
    for (int i = 0; i < 50; i++) assert_int_equal(h5ds_append(w, 5, px, NULL, NULL), 0);
    assert_int_equal(h5ds_finish(w), 0);
    FILE *tf = fopen(p, "rb");
    fseek(tf, 0, SEEK_END);
    long sz = ftell(tf);
    fclose(tf);
    assert_int_equal(truncate(p, sz / 2), 0);
    expect_error(p, p, "truncated", NULL);

    p = tpath("noimages.h5");
    make_file(p, 1, "/pictures", H5T_NATIVE_UINT8, 3, d3, NULL);
    expect_error(p, p, "/images", "missing");

    p = tpath("group.h5");
    make_file(p, 1, "/images/x", H5T_NATIVE_UINT8, 3, d3, NULL);
    expect_error(p, p, "/images", "found a group");

    p = tpath("rank.h5");
    make_file(p, 1, "/images", H5T_NATIVE_UINT8, 2, d2, NULL);
    expect_error(p, p, "/images", "found rank 2");

    p = tpath("dtype.h5");
    make_file(p, 1, "/images", H5T_STD_I16LE, 3, d3, NULL);
    expect_error(p, p, "/images", "unsupported dtype int16");

    p = tpath("emptyN.h5");
    make_file(p, 1, "/images", H5T_NATIVE_UINT8, 3, d0, NULL);
    expect_error(p, p, "/images", "N = 0");

    p = tpath("emptyH.h5");
    make_file(p, 1, "/images", H5T_NATIVE_UINT8, 3, dh0, NULL);
    expect_error(p, p, "/images", "empty images");

    p = tpath("labels.h5");
    make_file(p, 1, "/images", H5T_NATIVE_UINT8, 3, d3, NULL);
    add_dataset(p, "/labels/class", H5T_STD_I32LE, 1, d1);
    expect_error(p, p, "/labels/class", "N = 5");
    expect_error(p, p, "found 4", NULL);

    p = tpath("index.h5");
    make_file(p, 1, "/images", H5T_NATIVE_UINT8, 3, d3, NULL);
    add_dataset(p, "/index", H5T_STD_I64LE, 1, d1);
    expect_error(p, p, "/index", "found 4");

    p = tpath("strlabel.h5");
    make_file(p, 1, "/images", H5T_NATIVE_UINT8, 3, d3, NULL);
    hsize_t d5[1] = {5};
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 8);
    add_dataset(p, "/params/name", st, 1, d5);
    H5Tclose(st);
    expect_error(p, p, "/params/name", "unsupported dtype string");

    p = tpath("ckpt.h5");
    make_file(p, 2, "/images", H5T_NATIVE_UINT8, 3, d3, NULL);
    expect_error(p, p, "refine-checkpoint", "expected \"refine-dataset\"");

    /* the same bad label is ignored for an external file (no refine_format): labels are not read */
    p = tpath("ext.h5");
    make_file(p, 0, "/images", H5T_NATIVE_UINT8, 3, d3, NULL);
    add_dataset(p, "/labels/class", H5T_STD_I32LE, 1, d1);
    h5ds_reader *r;
    assert_int_equal(h5ds_open(&r, p), 0);
    assert_int_equal(h5ds_get_info(r)->ncols, 0);
    h5ds_close(r);
}

static void test_writer_failures(void **state) {
    (void)state;
    h5ds_writer *w = NULL;
    const char *p = tpath("missing-dir/out.h5");
    assert_int_equal(h5ds_create(&w, p, 2, 2, 1, NULL, 0, NULL, NULL), RP_EIO);
    assert_null(w);
    assert_non_null(strstr(rp_errmsg(), p));
    assert_int_equal(dir_count(tmpdir), 0);

    h5ds_column bad[1] = {{"class", H5DS_INT32, 1, NULL}};
    assert_int_equal(h5ds_create(&w, tpath("x.h5"), 2, 2, 1, bad, 1, NULL, NULL), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "labels/<name>"));
    assert_int_equal(dir_count(tmpdir), 0);

    /* abort after writing: nothing left, and an existing file of that name is untouched */
    p = tpath("keep.h5");
    FILE *f = fopen(p, "w");
    fputs("old", f);
    fclose(f);
    uint8_t px[4 * 4] = {1};
    assert_int_equal(h5ds_create(&w, p, 2, 2, 1, NULL, 0, NULL, NULL), 0);
    assert_int_equal(dir_count(tmpdir), 2); /* keep.h5 and its temp */
    assert_int_equal(h5ds_append(w, 4, px, NULL, NULL), 0);
    h5ds_abort(w);
    assert_int_equal(dir_count(tmpdir), 1);
    char buf[8] = {0};
    f = fopen(p, "r");
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "old");
    h5ds_abort(NULL);
}


/* Compression threads change nothing in the file: same values and byte-identical chunks. */
static void test_threads_identical(void **state) {
    (void)state;
    enum { N = 203, H = 9, W = 8 };
    h5ds_column cols[2] = {{"labels/class", H5DS_INT32, 1, NULL}, {"params/p", H5DS_FLOAT32, 3, "pixels"}};
    uint8_t *img = malloc(N * H * W);
    int32_t cls[N];
    float par[3 * N];
    for (int i = 0; i < N * H * W; i++) img[i] = (uint8_t)((i * 2654435761u) >> 26);
    for (int i = 0; i < N; i++) cls[i] = i % 7, par[3 * i] = i, par[3 * i + 1] = -i * 0.5f, par[3 * i + 2] = 1e-3f * i;
    const char *paths[3] = {tpath("t0.h5"), tpath("t1.h5"), tpath("t3.h5")};
    int threads[3] = {0, 1, 3};
    for (int f = 0; f < 3; f++) {
        h5ds_options opt = {10, 0};
        h5ds_writer *w;
        assert_int_equal(h5ds_create(&w, paths[f], H, W, 1, cols, 2, NULL, &opt), 0);
        assert_int_equal(h5ds_writer_set_threads(w, threads[f]), 0);
        for (long at = 0, k = 1; at < N; at += k, k = k * 3 % 17 + 1) { /* uneven appends */
            long n = at + k > N ? N - at : k;
            const void *cv[2] = {cls + at, par + 3 * at};
            assert_int_equal(h5ds_append(w, n, img + at * H * W, cv, NULL), 0);
        }
        assert_int_equal(h5ds_writer_set_threads(w, 2), RP_EARG); /* too late */
        assert_int_equal(h5ds_finish(w), 0);
        h5ds_reader *r;
        assert_int_equal(h5ds_open(&r, paths[f]), 0);
        uint8_t *back = malloc(N * H * W);
        int32_t c2[N];
        float p2[3 * N];
        int64_t ix[N];
        assert_int_equal(h5ds_read_images_u8(r, 0, N, back), 0);
        assert_memory_equal(back, img, N * H * W);
        assert_int_equal(h5ds_read_column(r, "labels/class", 0, N, c2, H5DS_INT32), 0);
        assert_memory_equal(c2, cls, sizeof cls);
        assert_int_equal(h5ds_read_column(r, "params/p", 0, N, p2, H5DS_FLOAT32), 0);
        assert_memory_equal(p2, par, sizeof par);
        assert_int_equal(h5ds_read_column(r, "index", 0, N, ix, H5DS_INT64), 0);
        for (int i = 0; i < N; i++) assert_int_equal(ix[i], i);
        free(back);
        h5ds_close(r);
    }
    /* raw chunk bytes of every dataset agree between the files */
    const char *names[4] = {"/images", "/index", "/labels/class", "/params/p"};
    hid_t f0 = H5Fopen(paths[0], H5F_ACC_RDONLY, H5P_DEFAULT);
    for (int f = 1; f < 3; f++) {
        hid_t f1 = H5Fopen(paths[f], H5F_ACC_RDONLY, H5P_DEFAULT);
        for (int k = 0; k < 4; k++) {
            hid_t d0 = H5Dopen2(f0, names[k], H5P_DEFAULT), d1 = H5Dopen2(f1, names[k], H5P_DEFAULT);
            for (hsize_t c = 0; c < (N + 9) / 10; c++) {
                hsize_t off[3] = {c * 10, 0, 0}, s0, s1;
                assert_true(H5Dget_chunk_storage_size(d0, off, &s0) >= 0);
                assert_true(H5Dget_chunk_storage_size(d1, off, &s1) >= 0);
                assert_int_equal(s0, s1);
                uint8_t *b0 = malloc(s0), *b1 = malloc(s1);
                uint32_t m0, m1;
                assert_true(H5Dread_chunk(d0, H5P_DEFAULT, off, &m0, b0) >= 0);
                assert_true(H5Dread_chunk(d1, H5P_DEFAULT, off, &m1, b1) >= 0);
                assert_int_equal(m0, m1); /* same filters applied (or deflate skipped) */
                assert_true(m0 == 0 || m0 == 2);
                assert_memory_equal(b0, b1, s0);
                free(b0), free(b1);
            }
            H5Dclose(d0), H5Dclose(d1);
        }
        H5Fclose(f1);
    }
    H5Fclose(f0);
    free(img);
}

/* Chunks deflate cannot shrink by a fifth are stored as they are, with the deflate filter marked
 * skipped in the chunk's filter mask: the dataset still declares shuffle + deflate and reads
 * back through HDF5 unchanged. Here: chunk 0 of /images is noise (raw), chunk 1 smooth
 * (deflated), chunk 2 noise after a smooth trial prefix (deflated: the decision is the trial's);
 * 64x64 rows, 16 per chunk, so every chunk exceeds the trial length. */
static void test_raw_chunks(void **state) {
    (void)state;
    enum { N = 40, H = 64, W = 64, K = 16 };
    const char *path = tpath("raw.h5");
    h5ds_column cols[1] = {{"params/noise", H5DS_FLOAT32, 1, NULL}};
    uint8_t *img = malloc((size_t)N * H * W);
    float par[N];
    uint64_t x = 88172645463325252ull;
    for (long i = 0; i < (long)N * H * W; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        long row = i / (H * W);
        int smooth = row >= K && (row < 2 * K || i - 2L * K * H * W < 20 * 1024);
        img[i] = smooth ? (uint8_t)(i / 512) : (uint8_t)x;
    }
    for (int i = 0; i < N; i++) par[i] = (float)i;
    h5ds_options opt = {K, 0};
    h5ds_writer *w;
    assert_int_equal(h5ds_create(&w, path, H, W, 1, cols, 1, NULL, &opt), 0);
    const void *cv[1] = {par};
    assert_int_equal(h5ds_append(w, N, img, cv, NULL), 0);
    assert_int_equal(h5ds_finish(w), 0);

    h5ds_reader *r;
    assert_int_equal(h5ds_open(&r, path), 0);
    uint8_t *back = malloc((size_t)N * H * W);
    float p2[N];
    assert_int_equal(h5ds_read_images_u8(r, 0, N, back), 0);
    assert_memory_equal(back, img, (size_t)N * H * W);
    long rows[3] = {39, 0, 17};
    assert_int_equal(h5ds_read_rows_u8(r, rows, 3, back), 0);
    for (int k = 0; k < 3; k++) assert_memory_equal(back + k * H * W, img + rows[k] * H * W, H * W);
    assert_int_equal(h5ds_read_column(r, "params/noise", 0, N, p2, H5DS_FLOAT32), 0);
    assert_memory_equal(p2, par, sizeof par);
    h5ds_close(r);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "/images", H5P_DEFAULT);
    hid_t p = H5Dget_create_plist(d);
    assert_int_equal(H5Pget_nfilters(p), 2);
    unsigned expect[3] = {2, 0, 0};
    for (int c = 0; c < 3; c++) {
        hsize_t off[3] = {(hsize_t)c * K, 0, 0}, size;
        uint32_t mask = 99;
        assert_true(H5Dget_chunk_storage_size(d, off, &size) >= 0);
        uint8_t *b = malloc(size);
        assert_true(H5Dread_chunk(d, H5P_DEFAULT, off, &mask, b) >= 0);
        assert_int_equal(mask, expect[c]);
        if (mask) assert_int_equal(size, K * H * W);
        else assert_true(size < K * H * W);
        free(b);
    }
    H5Pclose(p), H5Dclose(d), H5Fclose(f);
    free(img), free(back);
}

/* The writer's own deflate encoder: zlib's inflate gives back every input (noise, zeros, runs of
 * every length around the 3..258 match limits, sparse images, few-valued bytes; 1 to 4 planes;
 * 1 byte to 200 KB, i.e. several blocks; noise as stored blocks); the same input gives the same
 * bytes; a limit below the stream's length returns 0, and large noise asked to save a fifth is
 * refused. */
static void test_deflate_roundtrip(void **state) {
    (void)state;
    h5ds_deflater *d;
    assert_int_equal(h5ds_deflater_init(&d), 0);
    enum { NMAX = 200000 };
    uint8_t *src = malloc(NMAX), *z = malloc(NMAX + NMAX / 8 + 512), *back = malloc(NMAX);
    uint64_t x = 88172645463325252ull;
    for (int t = 0; t < 600; t++) {
        size_t n = t % 50 == 0 ? (size_t)(NMAX - 4 * t) : 4 + 4 * ((size_t)(t * 7919) % 2250) - t % 4;
        int kind = t % 6, planes = t % 3 == 0 ? 4 : t % 3 == 1 ? 2 : 1;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            src[i] = kind == 0 ? (uint8_t)x
                   : kind == 1 ? 0
                   : kind == 2 ? ((x & 15) == 0 ? (uint8_t)(x >> 8) : 0)
                   : kind == 3 ? (uint8_t)(i / (1 + t % 300))
                   : kind == 4 ? (uint8_t)(x % 3)
                               : (uint8_t)(i % 517 < 260 ? 7 : x);
        }
        if (kind == 0 && n > 40000 && planes == 1) /* noise, asked to save a fifth: refused */
            assert_int_equal(h5ds_deflate(d, z, n - n / 5, src, n, planes), 0);
        size_t zl = h5ds_deflate(d, z, n + n / 8 + 300, src, n, planes); /* else stored blocks */
        assert_true(zl > 0);
        uLongf bl = n;
        assert_int_equal(uncompress(back, &bl, z, zl), Z_OK);
        assert_int_equal(bl, n);
        assert_memory_equal(back, src, n);
        uint8_t *z2 = malloc(zl);
        if (n % planes == 0 && (planes > 1 || n <= 32768)) { /* not trial-decided */
            assert_int_equal(h5ds_deflate(d, z2, zl, src, n, planes), zl); /* exact fit, same bytes */
            assert_memory_equal(z2, z, zl);
        }
        assert_int_equal(h5ds_deflate(d, z2, zl - 1, src, n, planes), 0);
        free(z2);
    }
    free(src), free(z), free(back);
    h5ds_deflater_free(d);
}

/* ---------------------------------------------------------------- h5u_probe */
static void probe_ok(void *arg) { (void)arg; }
static void probe_segv(void *arg) { (void)arg; raise(SIGSEGV); }
static void probe_hang(void *arg) {
    (void)arg;
    for (;;) pause();
}
/* inside the child a nested probe returns at once, without forking again */
static void probe_nested(void *arg) {
    (void)arg;
    if (h5u_probe("nested.h5", probe_segv, NULL) != 0) _exit(3);
}

/* Found by fuzz_h5ds: libhdf5 1.10 crashes (global heap, attribute messages) or loops forever
 * (global heap) on some corrupt files. h5u_probe runs the read in a child first: a crash or a
 * hang there is an error naming the file, and the caller never makes the call that would crash. */
static void test_probe_contains_libhdf5_crashes(void **state) {
    (void)state;
    assert_int_equal(h5u_probe("f.h5", probe_ok, NULL), 0);
    assert_int_equal(h5u_probe("f.h5", probe_segv, NULL), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "f.h5: libhdf5 crashed reading it (Segmentation fault"));
    assert_int_equal(h5u_probe("f.h5", probe_nested, NULL), 0);
    setenv("RP_H5_PROBE_SECONDS", "0.2", 1);
    assert_int_equal(h5u_probe("f.h5", probe_hang, NULL), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "f.h5: libhdf5 did not finish reading it in 0.2 s"));
    /* a group listing two datasets of one name (fuzz_h5ds: a corrupt link table; the reader
     * took both as columns, and the refined file would have failed on the second) */
    expect_error("tests/corpus/h5ds/regress-duplicate-column", "regress-duplicate-column",
                 "/params/scale_x: listed twice in its group", NULL);
    /* a reproducer of the hang (tests/corpus/h5ds/; paths from the repository root) */
    const char *hang = "tests/corpus/h5ds/crash-hdf5-60062fdbde4d";
    h5ds_reader *r;
    assert_int_equal(h5ds_open(&r, hang), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "did not finish reading it"));
    unsetenv("RP_H5_PROBE_SECONDS");
    setenv("RP_H5_PROBE", "0", 1); /* off: fn is not run at all */
    assert_int_equal(h5u_probe("f.h5", probe_segv, NULL), 0);
    unsetenv("RP_H5_PROBE");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_gray, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_rgb_index_filters, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_chunk_cap, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_read_rows_random, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_float_and_external, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_malformed, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_writer_failures, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_threads_identical, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_raw_chunks, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test(test_deflate_roundtrip),
        cmocka_unit_test(test_probe_contains_libhdf5_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
