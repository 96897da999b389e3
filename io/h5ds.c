/* Streaming writer for "refine-dataset" v1 files (see h5ds.h, DESIGN.md): rows are buffered one
 * chunk at a time and written as whole chunks to growable datasets in "<path>.tmp-<pid>", which
 * is renamed to <path> only after a clean close; any failure deletes the temp file. */
#include "io/h5ds.h"
#include "io/h5util.h"
#include "io/status.h"
#include "io/version.h"
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H5DS_MAX_CHUNK_BYTES (1L << 20)
#define H5DS_DEFAULT_DEFLATE 4

struct h5ds_writer {
    char *path, *tmp;
    hid_t file, root, dimg, dindex;
    hid_t *dcol;
    int H, W, C, ncols;
    h5ds_column *cols; /* path strings owned */
    long chunk;        /* rows per chunk and per buffered write */
    long rows;         /* rows written to the file */
    long nbuf;         /* rows waiting in the buffers */
    size_t row_bytes;  /* H*W*C */
    uint8_t *ibuf;
    char **cbuf;
    int64_t *xbuf;
};

size_t h5ds_dtype_size(h5ds_dtype t) {
    switch (t) {
    case H5DS_UINT8: return 1;
    case H5DS_INT32: return 4;
    case H5DS_INT64: return 8;
    case H5DS_FLOAT32: return 4;
    }
    return 0;
}

const char *h5ds_dtype_name(h5ds_dtype t) {
    switch (t) {
    case H5DS_UINT8: return "uint8";
    case H5DS_INT32: return "int32";
    case H5DS_INT64: return "int64";
    case H5DS_FLOAT32: return "float32";
    }
    return "?";
}

/* File types are fixed little-endian so files are identical across machines. */
static hid_t file_type(h5ds_dtype t) {
    switch (t) {
    case H5DS_UINT8: return H5T_STD_U8LE;
    case H5DS_INT32: return H5T_STD_I32LE;
    case H5DS_INT64: return H5T_STD_I64LE;
    case H5DS_FLOAT32: return H5T_IEEE_F32LE;
    }
    return -1;
}

static hid_t mem_type(h5ds_dtype t) {
    switch (t) {
    case H5DS_UINT8: return H5T_NATIVE_UINT8;
    case H5DS_INT32: return H5T_NATIVE_INT32;
    case H5DS_INT64: return H5T_NATIVE_INT64;
    case H5DS_FLOAT32: return H5T_NATIVE_FLOAT;
    }
    return -1;
}

void h5ds_pack_u8(uint8_t *out, const float *in, long n, int C, int H, int W, float lo, float hi) {
    const float s = 255.0f / (hi - lo);
    const long hw = (long)H * W;
    for (long i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            const float *src = in + (i * C + c) * hw;
            uint8_t *dst = out + i * hw * C + c;
            for (long p = 0; p < hw; p++) {
                float v = (src[p] - lo) * s;
                if (!(v > 0)) v = 0; /* NaN -> 0 too */
                else if (v > 255) v = 255;
                dst[p * C] = (uint8_t)lrintf(v);
            }
        }
}

/* ---------------------------------------------------------------- creation */
/* A growable dataset of shape (0, dims[1:]) chunked along N with shuffle + deflate. */
static hid_t create_rows_dataset(h5ds_writer *w, const char *name, hid_t type, int rank, const hsize_t *row_dims,
                                 int deflate) {
    hsize_t dims[4] = {0}, maxd[4] = {H5S_UNLIMITED}, chunk[4] = {(hsize_t)w->chunk};
    for (int i = 1; i < rank; i++) dims[i] = maxd[i] = chunk[i] = row_dims[i - 1];
    hid_t space = H5Screate_simple(rank, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t d = -1;
    if (space >= 0 && dcpl >= 0 && lcpl >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0 && H5Pset_shuffle(dcpl) >= 0 &&
        H5Pset_deflate(dcpl, deflate) >= 0 && H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0 &&
        H5Pset_obj_track_times(dcpl, 0) >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0)
        d = H5Dcreate2(w->file, name, type, space, lcpl, dcpl, H5P_DEFAULT);
    if (d < 0) rp_err(RP_EIO, "%s: cannot create dataset /%s", w->path, name);
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (lcpl >= 0) H5Pclose(lcpl);
    return d;
}

static int write_provenance(h5ds_writer *w, const h5ds_provenance *p) {
    char now[40];
    h5u_utc_now(now, sizeof now);
    int rc = 0;
    hid_t g = w->root;
    if ((rc = h5u_write_attr_str(g, "refine_format", H5DS_FORMAT)) ||
        (rc = h5u_write_attr_int(g, "refine_format_version", H5DS_FORMAT_VERSION)) ||
        (rc = h5u_write_attr_str(g, "created_by", RP_PROGRAM " " RP_VERSION)) ||
        (rc = h5u_write_attr_str(g, "created_at", now)))
        return rp_err_prefix(rc, "%s: ", w->path);
    if (!p) return 0;
    const char *names[] = {"kind", "scene", "config", "source_file", "refiner_checkpoint"};
    const char *vals[] = {p->kind, p->scene, p->config, p->source_file, p->refiner_checkpoint};
    for (int i = 0; i < 5; i++)
        if (vals[i] && (rc = h5u_write_attr_str(g, names[i], vals[i]))) return rp_err_prefix(rc, "%s: ", w->path);
    if (p->seed >= 0 && (rc = h5u_write_attr_i64(g, "seed", p->seed))) return rp_err_prefix(rc, "%s: ", w->path);
    if (p->refiner_step >= 0 && (rc = h5u_write_attr_i64(g, "refiner_step", p->refiner_step)))
        return rp_err_prefix(rc, "%s: ", w->path);
    return 0;
}

static void writer_free(h5ds_writer *w) {
    if (w->cols)
        for (int j = 0; j < w->ncols; j++) free((char *)w->cols[j].path), free((char *)w->cols[j].units);
    if (w->cbuf)
        for (int j = 0; j < w->ncols; j++) free(w->cbuf[j]);
    free(w->cols), free(w->cbuf), free(w->dcol), free(w->ibuf), free(w->xbuf);
    free(w->path), free(w->tmp);
    free(w);
}

/* Closes every handle; nonzero if any close failed (the file may be incomplete). Leaves the
 * error message alone so a failure path keeps its own. */
static int writer_close(h5ds_writer *w) {
    int bad = 0;
    for (int j = 0; j < w->ncols; j++)
        if (w->dcol && w->dcol[j] >= 0) bad |= H5Dclose(w->dcol[j]) < 0, w->dcol[j] = -1;
    if (w->dimg >= 0) bad |= H5Dclose(w->dimg) < 0, w->dimg = -1;
    if (w->dindex >= 0) bad |= H5Dclose(w->dindex) < 0, w->dindex = -1;
    if (w->root >= 0) bad |= H5Gclose(w->root) < 0, w->root = -1;
    if (w->file >= 0) bad |= H5Fclose(w->file) < 0, w->file = -1;
    return bad;
}

static int check_column(const char *file, const h5ds_column *c) {
    if (!c->path || (strncmp(c->path, "labels/", 7) && strncmp(c->path, "params/", 7)) || !c->path[7] ||
        strchr(c->path + 7, '/'))
        return rp_err(RP_EARG, "%s: column \"%s\": expected labels/<name> or params/<name>", file,
                      c->path ? c->path : "(null)");
    if (c->cols < 1) return rp_err(RP_EARG, "%s: /%s: expected cols >= 1, got %d", file, c->path, c->cols);
    if (!h5ds_dtype_size(c->dtype)) return rp_err(RP_EARG, "%s: /%s: unknown dtype", file, c->path);
    return 0;
}

int h5ds_create(h5ds_writer **out, const char *path, int H, int W, int C, const h5ds_column *cols, int ncols,
                const h5ds_provenance *prov, const h5ds_options *opt) {
    *out = NULL;
    h5u_silence();
    if (H < 1 || W < 1 || C < 1) return rp_err(RP_EARG, "%s: image size %dx%dx%d must be positive", path, H, W, C);
    for (int j = 0; j < ncols; j++) {
        int rc = check_column(path, &cols[j]);
        if (rc) return rc;
        for (int k = 0; k < j; k++)
            if (!strcmp(cols[j].path, cols[k].path)) return rp_err(RP_EARG, "%s: column /%s given twice", path, cols[j].path);
    }
    h5ds_writer *w = calloc(1, sizeof *w);
    if (!w) return rp_err(RP_ENOMEM, "%s: out of memory", path);
    w->file = w->root = w->dimg = w->dindex = -1;
    w->H = H, w->W = W, w->C = C, w->ncols = ncols;
    w->row_bytes = (size_t)H * W * C;
    long cap = H5DS_MAX_CHUNK_BYTES / (long)w->row_bytes;
    if (cap < 1) cap = 1;
    w->chunk = opt && opt->chunk > 0 ? opt->chunk : cap;
    if (w->chunk > cap) w->chunk = cap;
    int deflate = opt && opt->deflate > 0 ? opt->deflate : H5DS_DEFAULT_DEFLATE;
    if (deflate > 9) deflate = 9;
    size_t tl = strlen(path) + 32;
    w->path = strdup(path);
    w->tmp = malloc(tl);
    w->cols = calloc(ncols ? ncols : 1, sizeof *w->cols);
    w->dcol = malloc((ncols ? ncols : 1) * sizeof *w->dcol);
    w->cbuf = calloc(ncols ? ncols : 1, sizeof *w->cbuf);
    w->ibuf = malloc(w->chunk * w->row_bytes);
    w->xbuf = malloc(w->chunk * sizeof *w->xbuf);
    int rc = 0;
    if (!w->path || !w->tmp || !w->cols || !w->dcol || !w->cbuf || !w->ibuf || !w->xbuf) {
        writer_free(w);
        return rp_err(RP_ENOMEM, "%s: out of memory", path);
    }
    for (int j = 0; j < ncols; j++) {
        w->dcol[j] = -1;
        w->cols[j] = cols[j];
        w->cols[j].path = strdup(cols[j].path);
        w->cols[j].units = cols[j].units ? strdup(cols[j].units) : NULL;
        w->cbuf[j] = malloc(w->chunk * cols[j].cols * h5ds_dtype_size(cols[j].dtype));
        if (!w->cols[j].path || !w->cbuf[j] || (cols[j].units && !w->cols[j].units)) {
            w->ncols = j + 1;
            writer_free(w);
            return rp_err(RP_ENOMEM, "%s: out of memory", path);
        }
    }
    snprintf(w->tmp, tl, "%s.tmp-%ld", path, (long)getpid());
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) {
        rc = rp_err(RP_EIO, "%s: cannot create the file (temporary name %s): directory missing or not writable?",
                    path, w->tmp);
        unlink(w->tmp);
        writer_free(w);
        return rc;
    }
    if ((w->root = H5Gopen2(w->file, "/", H5P_DEFAULT)) < 0) {
        rc = rp_err(RP_EIO, "%s: cannot open the root group", path);
        goto fail;
    }
    if ((rc = write_provenance(w, prov))) goto fail;
    hsize_t img_dims[3] = {(hsize_t)H, (hsize_t)W, (hsize_t)C};
    if ((w->dimg = create_rows_dataset(w, "images", H5T_STD_U8LE, C == 1 ? 3 : 4, img_dims, deflate)) < 0 ||
        (w->dindex = create_rows_dataset(w, "index", H5T_STD_I64LE, 1, NULL, deflate)) < 0) {
        rc = RP_EIO;
        goto fail;
    }
    for (int j = 0; j < ncols; j++) {
        hsize_t k = (hsize_t)cols[j].cols;
        if ((w->dcol[j] = create_rows_dataset(w, cols[j].path, file_type(cols[j].dtype), k == 1 ? 1 : 2, &k,
                                              deflate)) < 0) {
            rc = RP_EIO;
            goto fail;
        }
        if (cols[j].units && (rc = h5u_write_attr_str(w->dcol[j], "units", cols[j].units))) {
            rp_err_prefix(rc, "%s: /%s: ", path, cols[j].path);
            goto fail;
        }
    }
    *out = w;
    return 0;
fail:
    writer_close(w);
    unlink(w->tmp);
    writer_free(w);
    return rc;
}

/* ---------------------------------------------------------------- writing */
static int write_rows(h5ds_writer *w, hid_t d, hid_t mtype, const void *buf, const char *name) {
    hid_t fs = -1, ms = -1;
    int rc = 0;
    hsize_t dims[4];
    hid_t s0 = H5Dget_space(d);
    int rank = s0 >= 0 ? H5Sget_simple_extent_dims(s0, dims, NULL) : -1;
    if (s0 >= 0) H5Sclose(s0);
    if (rank < 1) return rp_err(RP_EIO, "%s: /%s: cannot query shape", w->path, name);
    hsize_t start[4] = {(hsize_t)w->rows}, count[4];
    dims[0] = (hsize_t)(w->rows + w->nbuf);
    count[0] = (hsize_t)w->nbuf;
    for (int i = 1; i < rank; i++) start[i] = 0, count[i] = dims[i];
    if (H5Dset_extent(d, dims) < 0 || (fs = H5Dget_space(d)) < 0 ||
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        (ms = H5Screate_simple(rank, count, NULL)) < 0 || H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, buf) < 0)
        rc = rp_err(RP_EIO, "%s: /%s: cannot write rows %ld..%ld (disk full?)", w->path, name, w->rows,
                    w->rows + w->nbuf - 1);
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    return rc;
}

static int flush(h5ds_writer *w) {
    if (!w->nbuf) return 0;
    int rc;
    if ((rc = write_rows(w, w->dimg, H5T_NATIVE_UINT8, w->ibuf, "images")) ||
        (rc = write_rows(w, w->dindex, H5T_NATIVE_INT64, w->xbuf, "index")))
        return rc;
    for (int j = 0; j < w->ncols; j++)
        if ((rc = write_rows(w, w->dcol[j], mem_type(w->cols[j].dtype), w->cbuf[j], w->cols[j].path))) return rc;
    w->rows += w->nbuf;
    w->nbuf = 0;
    return 0;
}

int h5ds_append(h5ds_writer *w, long n, const uint8_t *images, const void *const *colvals, const int64_t *index) {
    assert(w && n >= 0 && (images || !n) && (colvals || !w->ncols || !n));
    long done = 0;
    while (done < n) {
        long k = w->chunk - w->nbuf;
        if (k > n - done) k = n - done;
        memcpy(w->ibuf + w->nbuf * w->row_bytes, images + done * w->row_bytes, k * w->row_bytes);
        for (long i = 0; i < k; i++) w->xbuf[w->nbuf + i] = index ? index[done + i] : w->rows + w->nbuf + i;
        for (int j = 0; j < w->ncols; j++) {
            size_t rb = w->cols[j].cols * h5ds_dtype_size(w->cols[j].dtype);
            memcpy(w->cbuf[j] + w->nbuf * rb, (const char *)colvals[j] + done * rb, k * rb);
        }
        w->nbuf += k;
        done += k;
        if (w->nbuf == w->chunk) {
            int rc = flush(w);
            if (rc) return rc;
        }
    }
    return 0;
}

long h5ds_writer_rows(const h5ds_writer *w) { return w->rows + w->nbuf; }

int h5ds_writer_set_attr_str(h5ds_writer *w, const char *name, const char *value) {
    int rc = h5u_write_attr_str(w->root, name, value);
    return rc ? rp_err_prefix(rc, "%s: ", w->path) : 0;
}

int h5ds_writer_set_attr_long(h5ds_writer *w, const char *name, long value) {
    int rc = h5u_write_attr_i64(w->root, name, value);
    return rc ? rp_err_prefix(rc, "%s: ", w->path) : 0;
}

int h5ds_finish(h5ds_writer *w) {
    int rc = flush(w);
    if (writer_close(w) && !rc) rc = rp_err(RP_EIO, "%s: closing the HDF5 file failed (disk full?)", w->path);
    if (!rc && rename(w->tmp, w->path) != 0)
        rc = rp_err(RP_EIO, "%s: cannot rename %s into place", w->path, w->tmp);
    if (rc) unlink(w->tmp);
    writer_free(w);
    return rc;
}

void h5ds_abort(h5ds_writer *w) {
    if (!w) return;
    writer_close(w);
    unlink(w->tmp);
    writer_free(w);
}
