/* The refine-dataset reader (io/h5ds.h) on whole HDF5 files: h5ds_open validates, then every
 * row (up to a few MB per input) is read as uint8 and as float, some rows by index, every
 * label/param column in its own and in other types, /index and root attributes. After the open
 * validated a file, reads fail only with an error, never a crash; nothing stays open. */
#include "fuzz/fuzz_h5.h"
#include "io/h5ds.h"

#define MAX_BYTES (4L << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_h5_init();
    const char *path = fuzz_path("in.h5");
    fuzz_write(path, data, size);
    h5ds_reader *r;
    int rc = h5ds_open(&r, path);
    if (rc) {
        FUZZ_CHECK_ERR(rc, path);
        fuzz_h5_all_closed("a failed h5ds_open");
        return 0;
    }
    const h5ds_info *in = h5ds_get_info(r);
    FUZZ_CHECK(in->N >= 1 && in->H >= 1 && in->W >= 1 && in->C >= 1 && in->C <= 4, "N %ld, %dx%dx%d", in->N, in->H,
               in->W, in->C);
    FUZZ_CHECK(in->dtype == H5DS_UINT8 || in->dtype == H5DS_FLOAT32, "dtype %d", (int)in->dtype);
    FUZZ_CHECK(in->ncols >= 0 && (in->ncols == 0 || in->cols), "ncols %d", in->ncols);
    size_t img = (size_t)in->H * in->W * in->C;
    if (img * sizeof(float) <= (size_t)MAX_BYTES) {
        long n = MAX_BYTES / (long)(img * sizeof(float));
        if (n > in->N) n = in->N;
        uint8_t *u8 = malloc(n * img);
        float *f32 = malloc(n * img * sizeof *f32);
        FUZZ_CHECK(u8 && f32, "out of memory");
        if (!(rc = h5ds_read_images_u8(r, 0, n, u8))) rc = h5ds_read_images_f32(r, 0, n, f32, -1, 1);
        if (rc) FUZZ_CHECK_ERR(rc, path);
        for (size_t i = 0; !rc && i < (size_t)n * img; i++)
            FUZZ_CHECK(f32[i] >= -1.0001f && f32[i] <= 1.0001f, "pixel %zu read as %g, expected [-1, 1]", i, f32[i]);
        long rows[4] = {in->N - 1, 0, in->N / 2, in->N - 1};
        if (n >= 4) {
            if ((rc = h5ds_read_rows_u8(r, rows, 4, u8))) FUZZ_CHECK_ERR(rc, path);
            if ((rc = h5ds_read_rows_f32(r, rows, 4, f32, 0, 1))) FUZZ_CHECK_ERR(rc, path);
        }
        FUZZ_CHECK(h5ds_read_images_u8(r, in->N, 1, u8) == RP_EARG, "reading past the end");
        free(u8), free(f32);
    }
    for (int j = 0; j <= in->ncols; j++) {
        const char *col = j < in->ncols ? in->cols[j].path : "index";
        int cols = j < in->ncols ? in->cols[j].cols : 1;
        if (j == in->ncols && !in->has_index) break;
        FUZZ_CHECK(cols >= 1 && (j == in->ncols || h5ds_find_column(r, col) == j), "column %s", col);
        long n = MAX_BYTES / (8L * cols);
        if (n > in->N) n = in->N;
        if (n < 1) continue;
        void *buf = malloc((size_t)(n < 3 ? 3 : n) * cols * 8);
        FUZZ_CHECK(buf, "out of memory");
        static const h5ds_dtype as[4] = {H5DS_UINT8, H5DS_INT32, H5DS_INT64, H5DS_FLOAT32};
        for (int t = 0; t < 4; t++)
            if ((rc = h5ds_read_column(r, col, 0, n, buf, as[t]))) FUZZ_CHECK_ERR(rc, path);
        long rows[3] = {n - 1, 0, n - 1};
        if ((rc = h5ds_read_column_rows(r, col, rows, 3, buf, H5DS_INT64))) FUZZ_CHECK_ERR(rc, path);
        free(buf);
    }
    (void)h5ds_attr_str(r, "config");
    (void)h5ds_attr_str(r, "kind");
    long v;
    if ((rc = h5ds_attr_long(r, "seed", &v)) < 0) FUZZ_CHECK_ERR(rc, path);
    h5ds_close(r);
    fuzz_h5_all_closed("h5ds_close");
    return 0;
}
