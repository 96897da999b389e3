/* Row reads of the refine-dataset reader: contiguous ranges or arbitrary row sets (one
 * hyperslab union per call, so each chunk is decompressed once), with conversion to uint8
 * NHWC or float NCHW in any [lo, hi]. */
#include "io/h5ds_reader.h"
#include "base/status.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    long row;
    int i;
} row_pos;

static int cmp_row(const void *a, const void *b) {
    long x = ((const row_pos *)a)->row, y = ((const row_pos *)b)->row;
    return x < y ? -1 : x > y;
}

/* Reads rows of dataset d (row = `rowlen` elements of `esize` bytes, memory type mt) into out.
 * rows == NULL: the n rows from `start`; otherwise rows[0..n) in any order (duplicates allowed). */
static int read_rows_raw(h5ds_reader *r, hid_t d, const char *name, long start, const long *rows, long n,
                         size_t rowlen, size_t esize, hid_t mt, void *out) {
    if (n <= 0) return 0;
    const long N = r->info.N;
    hid_t fs = H5Dget_space(d), ms = -1;
    hsize_t dims[8];
    int rank = fs >= 0 ? H5Sget_simple_extent_dims(fs, dims, NULL) : -1;
    if (rank < 1) {
        if (fs >= 0) H5Sclose(fs);
        return rp_err(RP_EIO, "%s: %s: cannot query shape", r->file, name);
    }
    hsize_t st[8] = {0}, cnt[8];
    for (int k = 1; k < rank; k++) cnt[k] = dims[k];
    int rc = 0;
    row_pos *pos = NULL;
    char *tmp = NULL;
    long nuniq = n;
    if (!rows) {
        if (start < 0 || start + n > N) {
            H5Sclose(fs);
            return rp_err(RP_EARG, "%s: %s: rows %ld..%ld out of range (N = %ld)", r->file, name, start,
                          start + n - 1, N);
        }
        st[0] = (hsize_t)start, cnt[0] = (hsize_t)n;
        if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, cnt, NULL) < 0) rc = RP_EIO;
    } else {
        pos = malloc(n * sizeof *pos);
        if (!pos) {
            H5Sclose(fs);
            return rp_err(RP_ENOMEM, "%s: %s: out of memory", r->file, name);
        }
        for (long i = 0; i < n; i++) {
            if (rows[i] < 0 || rows[i] >= N) {
                free(pos);
                H5Sclose(fs);
                return rp_err(RP_EARG, "%s: %s: row %ld out of range (N = %ld)", r->file, name, rows[i], N);
            }
            pos[i].row = rows[i], pos[i].i = (int)i;
        }
        qsort(pos, n, sizeof *pos, cmp_row);
        nuniq = 0;
        int first = 1;
        for (long i = 0; i < n && !rc;) {
            long j = i + 1, len = 1;
            while (j < n && pos[j].row <= pos[i].row + len) len += pos[j++].row == pos[i].row + len;
            st[0] = (hsize_t)pos[i].row, cnt[0] = (hsize_t)len;
            if (H5Sselect_hyperslab(fs, first ? H5S_SELECT_SET : H5S_SELECT_OR, st, NULL, cnt, NULL) < 0) rc = RP_EIO;
            first = 0;
            nuniq += len;
            i = j;
        }
        tmp = malloc(nuniq * rowlen * esize);
        if (!tmp) rc = RP_ENOMEM;
    }
    cnt[0] = (hsize_t)nuniq;
    if (!rc && ((ms = H5Screate_simple(rank, cnt, NULL)) < 0 || H5Dread(d, mt, ms, fs, H5P_DEFAULT, tmp ? tmp : out) < 0))
        rc = RP_EIO;
    if (!rc && tmp) { /* scatter sorted unique rows back to the caller's order */
        size_t rb = rowlen * esize;
        long u = -1, prev = -1;
        for (long i = 0; i < n; i++) {
            if (pos[i].row != prev) u++, prev = pos[i].row;
            memcpy((char *)out + pos[i].i * rb, tmp + u * rb, rb);
        }
    }
    if (ms >= 0) H5Sclose(ms);
    H5Sclose(fs);
    free(pos), free(tmp);
    if (rc == RP_ENOMEM) return rp_err(rc, "%s: %s: out of memory", r->file, name);
    if (rc) return rp_err(rc, "%s: %s: read failed (corrupt or truncated file?)", r->file, name);
    return 0;
}

static size_t image_len(const h5ds_reader *r) { return (size_t)r->info.H * r->info.W * r->info.C; }

/* Native-type rows (uint8 or float) into tmp, then converted by the callers. */
static int read_images_native(h5ds_reader *r, long start, const long *rows, long n, void *buf) {
    int f = r->info.dtype == H5DS_FLOAT32;
    return read_rows_raw(r, r->dimg, r->images, start, rows, n, image_len(r), f ? sizeof(float) : 1,
                         f ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, buf);
}

/* Float images must hold values in [0, 1] (docs/formats.md): the first value outside (or NaN)
 * is an error naming the file, the dataset, the row and the value. */
static int check_unit_range(const h5ds_reader *r, const float *v, long start, const long *rows, long n) {
    const size_t len = image_len(r);
    for (long i = 0; i < n; i++)
        for (size_t k = 0; k < len; k++)
            if (!(v[i * len + k] >= 0 && v[i * len + k] <= 1))
                return rp_err(RP_EFORMAT, "%s: %s: row %ld holds %g: float images must lie in [0, 1]", r->file,
                              r->images, rows ? rows[i] : start + i, v[i * len + k]);
    return 0;
}

static int images_u8(h5ds_reader *r, long start, const long *rows, long n, uint8_t *out) {
    if (r->info.dtype == H5DS_UINT8) return read_images_native(r, start, rows, n, out);
    size_t len = n * image_len(r);
    float *tmp = malloc(len * sizeof *tmp);
    if (!tmp) return rp_err(RP_ENOMEM, "%s: out of memory", r->file);
    int rc = read_images_native(r, start, rows, n, tmp);
    if (!rc) rc = check_unit_range(r, tmp, start, rows, n);
    for (size_t i = 0; !rc && i < len; i++) out[i] = (uint8_t)(tmp[i] * 255.0f + 0.5f);
    free(tmp);
    return rc;
}

static int images_f32(h5ds_reader *r, long start, const long *rows, long n, float *out, float lo, float hi) {
    const int C = r->info.C, f = r->info.dtype == H5DS_FLOAT32;
    const long hw = (long)r->info.H * r->info.W;
    void *tmp = malloc(n * image_len(r) * (f ? sizeof(float) : 1));
    if (!tmp) return rp_err(RP_ENOMEM, "%s: out of memory", r->file);
    int rc = read_images_native(r, start, rows, n, tmp);
    if (!rc && f) rc = check_unit_range(r, tmp, start, rows, n);
    const float s = (hi - lo) / (f ? 1.0f : 255.0f);
    for (long i = 0; !rc && i < n; i++)
        for (int c = 0; c < C; c++) {
            float *o = out + (i * C + c) * hw;
            long base = i * hw * C + c;
            if (f)
                for (long p = 0; p < hw; p++) o[p] = lo + s * ((float *)tmp)[base + p * C];
            else
                for (long p = 0; p < hw; p++) o[p] = lo + s * ((uint8_t *)tmp)[base + p * C];
        }
    free(tmp);
    return rc;
}

int h5ds_read_images_u8(h5ds_reader *r, long start, long n, uint8_t *out) { return images_u8(r, start, NULL, n, out); }

int h5ds_read_images_f32(h5ds_reader *r, long start, long n, float *out, float lo, float hi) {
    return images_f32(r, start, NULL, n, out, lo, hi);
}

int h5ds_read_rows_u8(h5ds_reader *r, const long *rows, int n, uint8_t *out) { return images_u8(r, 0, rows, n, out); }

int h5ds_read_rows_f32(h5ds_reader *r, const long *rows, int n, float *out, float lo, float hi) {
    return images_f32(r, 0, rows, n, out, lo, hi);
}

static int column_for(h5ds_reader *r, const char *path, hid_t *d, int *cols) {
    if (!strcmp(path, "index") || !strcmp(path, "/index")) {
        if (!r->info.has_index) return rp_err(RP_EARG, "%s: /index: not present", r->file);
        *d = r->dindex, *cols = 1;
        return 0;
    }
    int j = h5ds_find_column(r, path);
    if (j < 0) return rp_err(RP_EARG, "%s: /%s: no such label or param", r->file, path[0] == '/' ? path + 1 : path);
    *d = r->dcol[j], *cols = r->cols[j].cols;
    return 0;
}

static hid_t native(h5ds_dtype t) {
    return t == H5DS_UINT8 ? H5T_NATIVE_UINT8 : t == H5DS_INT32 ? H5T_NATIVE_INT32 : t == H5DS_INT64 ? H5T_NATIVE_INT64
                                                                                                     : H5T_NATIVE_FLOAT;
}

int h5ds_read_column(h5ds_reader *r, const char *path, long start, long n, void *out, h5ds_dtype as) {
    hid_t d;
    int cols, rc = column_for(r, path, &d, &cols);
    return rc ? rc : read_rows_raw(r, d, path, start, NULL, n, cols, h5ds_dtype_size(as), native(as), out);
}

int h5ds_read_column_rows(h5ds_reader *r, const char *path, const long *rows, int n, void *out, h5ds_dtype as) {
    hid_t d;
    int cols, rc = column_for(r, path, &d, &cols);
    return rc ? rc : read_rows_raw(r, d, path, 0, rows, n, cols, h5ds_dtype_size(as), native(as), out);
}
