/* Streaming writer for "refine-dataset" v1 files (see h5ds.h, docs/formats.md): rows are gathered a
 * chunk at a time, filtered by io/chunkzip (optionally on worker threads) and written as whole
 * chunks to growable datasets in "<path>.tmp-<pid>", renamed to <path> only after a clean close;
 * any failure deletes the temp file. */
#include "io/h5ds.h"
#include "io/chunkzip.h"
#include "io/h5util.h"
#include "base/atomic.h"
#include "base/fault.h"
#include "base/status.h"
#include "base/version.h"
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H5DS_MAX_CHUNK_BYTES (1L << 20)

struct h5ds_writer {
    char *path, *tmp;
    hid_t file, root;
    int H, W, C, ncols;
    h5ds_column *cols; /* sorted by path (path strings owned) */
    int *src;          /* cols[j] is the caller's column src[j] (h5ds_append's colvals order) */
    int nds;           /* datasets: 0 images, 1 index, 2 + j column j */
    hid_t *ds;
    int *rank;
    hsize_t (*dims)[4];
    size_t *row_bytes, *esize;
    long chunk;        /* rows per chunk */
    long appended;     /* rows appended */
    long nbuf;         /* rows in the chunk being filled */
    int deflate, threads;
    chunkzip *zip;     /* created at the first append, after h5ds_writer_set_threads */
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
/* Dataset j: growable, shape (0, row_dims...), chunked along N with shuffle + deflate. The
 * filters are declared here but applied by chunkzip before H5Dwrite_chunk. */
static int create_rows_dataset(h5ds_writer *w, int j, const char *name, hid_t type, int rank, const hsize_t *row_dims,
                               int deflate) {
    hsize_t maxd[4] = {H5S_UNLIMITED}, chunk[4] = {(hsize_t)w->chunk};
    w->rank[j] = rank;
    w->dims[j][0] = 0;
    for (int i = 1; i < rank; i++) w->dims[j][i] = maxd[i] = chunk[i] = row_dims[i - 1];
    hid_t space = H5Screate_simple(rank, w->dims[j], maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t d = -1;
    if (space >= 0 && dcpl >= 0 && lcpl >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0 && H5Pset_shuffle(dcpl) >= 0 &&
        H5Pset_deflate(dcpl, deflate) >= 0 && H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0 &&
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_INCR) >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0 &&
        H5Pset_create_intermediate_group(lcpl, 1) >= 0)
        d = H5Dcreate2(w->file, name, type, space, lcpl, dcpl, H5P_DEFAULT);
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (lcpl >= 0) H5Pclose(lcpl);
    w->ds[j] = d;
    return d < 0 ? rp_err(RP_EIO, "%s: cannot create dataset /%s", w->path, name) : 0;
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
    chunkzip_free(w->zip);
    if (w->cols)
        for (int j = 0; j < w->ncols; j++) free((char *)w->cols[j].path), free((char *)w->cols[j].units);
    free(w->cols), free(w->src), free(w->ds), free(w->rank), free(w->dims), free(w->row_bytes), free(w->esize);
    free(w->path), free(w->tmp);
    free(w);
}

/* Closes every handle; nonzero if any close failed (the file may be incomplete). Leaves the
 * error message alone so a failure path keeps its own. */
static int writer_close(h5ds_writer *w) {
    int bad = 0;
    for (int j = 0; w->ds && j < w->nds; j++)
        if (w->ds[j] >= 0) bad |= H5Dclose(w->ds[j]) < 0, w->ds[j] = -1;
    if (w->root >= 0) bad |= H5Gclose(w->root) < 0, w->root = -1;
    if (w->file >= 0) bad |= h5u_close_file(w->file), w->file = -1;
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

static int write_chunk(void *ctx, long k, long rows, uint8_t *const *z, const size_t *zlen, const unsigned *mask);

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
    h5ds_writer *w = rp_calloc(1, sizeof *w);
    if (!w) return rp_err(RP_ENOMEM, "%s: out of memory", path);
    w->file = w->root = -1;
    w->H = H, w->W = W, w->C = C, w->ncols = ncols, w->nds = 2 + ncols;
    long row = (long)H * W * C, cap = H5DS_MAX_CHUNK_BYTES / row;
    if (cap < 1) cap = 1;
    w->chunk = opt && opt->chunk > 0 ? opt->chunk : cap;
    if (w->chunk > cap) w->chunk = cap;
    int deflate = opt && opt->deflate > 0 ? opt->deflate : H5DS_DEFAULT_DEFLATE;
    if (deflate > 9) deflate = 9;
    size_t tl = strlen(path) + 32;
    w->path = rp_strdup(path);
    w->tmp = rp_malloc(tl);
    w->cols = rp_calloc(ncols ? ncols : 1, sizeof *w->cols);
    w->src = rp_calloc(ncols ? ncols : 1, sizeof *w->src);
    w->ds = rp_malloc(w->nds * sizeof *w->ds);
    w->rank = rp_calloc(w->nds, sizeof *w->rank);
    w->dims = rp_calloc(w->nds, sizeof *w->dims);
    w->row_bytes = rp_calloc(w->nds, sizeof *w->row_bytes);
    w->esize = rp_calloc(w->nds, sizeof *w->esize);
    if (!w->path || !w->tmp || !w->cols || !w->src || !w->ds || !w->rank || !w->dims || !w->row_bytes || !w->esize) {
        w->ncols = 0;
        writer_free(w);
        return rp_err(RP_ENOMEM, "%s: out of memory", path);
    }
    for (int j = 0; j < w->nds; j++) w->ds[j] = -1;
    w->row_bytes[0] = (size_t)row, w->esize[0] = 1;
    w->row_bytes[1] = w->esize[1] = sizeof(int64_t);
    /* the columns in path order, whatever order the caller lists them in, so the same data gives
     * the same file (a merge of shards lists them as the reader does: sorted) */
    for (int j = 0; j < ncols; j++) {
        int at = j;
        while (at > 0 && strcmp(cols[w->src[at - 1]].path, cols[j].path) > 0) w->src[at] = w->src[at - 1], at--;
        w->src[at] = j;
    }
    for (int j = 0; j < ncols; j++) {
        const h5ds_column *c = &cols[w->src[j]];
        w->cols[j] = *c;
        w->cols[j].path = rp_strdup(c->path);
        w->cols[j].units = c->units ? rp_strdup(c->units) : NULL;
        w->esize[2 + j] = h5ds_dtype_size(c->dtype);
        w->row_bytes[2 + j] = w->esize[2 + j] * c->cols;
        if (!w->cols[j].path || (c->units && !w->cols[j].units)) {
            w->ncols = j + 1;
            writer_free(w);
            return rp_err(RP_ENOMEM, "%s: out of memory", path);
        }
    }
    w->deflate = deflate;
    int rc;
    rp_atomic_tmpname(w->tmp, tl, path);
    w->file = rp_fault("hdf5 create") ? -1 : H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) {
        rc = rp_err(RP_EIO, "%s: cannot create the file (temporary name %s)%s", path, w->tmp,
                    errno == ENOENT || errno == EACCES || errno == ENOTDIR ? ": directory missing or not writable?"
                                                                            : h5u_errno_hint());
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
    if ((rc = create_rows_dataset(w, 0, "images", H5T_STD_U8LE, C == 1 ? 3 : 4, img_dims, deflate)) ||
        (rc = create_rows_dataset(w, 1, "index", H5T_STD_I64LE, 1, NULL, deflate)))
        goto fail;
    for (int j = 0; j < ncols; j++) {
        const h5ds_column *c = &w->cols[j];
        hsize_t k = (hsize_t)c->cols;
        if ((rc = create_rows_dataset(w, 2 + j, c->path, file_type(c->dtype), k == 1 ? 1 : 2, &k, deflate)))
            goto fail;
        if (c->units && (rc = h5u_write_attr_str(w->ds[2 + j], "units", c->units))) {
            rp_err_prefix(rc, "%s: /%s: ", path, c->path);
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
static const char *ds_name(const h5ds_writer *w, int j) {
    return j == 0 ? "images" : j == 1 ? "index" : w->cols[j - 2].path;
}

/* chunkzip callback: grow every dataset to cover chunk k and store its filtered bytes as is. */
static int write_chunk(void *ctx, long k, long rows, uint8_t *const *z, const size_t *zlen, const unsigned *mask) {
    h5ds_writer *w = ctx;
    for (int j = 0; j < w->nds; j++) {
        hsize_t off[4] = {(hsize_t)(k * w->chunk)};
        w->dims[j][0] = (hsize_t)(k * w->chunk + rows);
        if (H5Dset_extent(w->ds[j], w->dims[j]) < 0 || rp_fault("hdf5 write") ||
            H5Dwrite_chunk(w->ds[j], H5P_DEFAULT, mask[j], off, zlen[j], z[j]) < 0)
            return rp_err(RP_EIO, "%s: /%s: cannot write rows %ld..%ld%s", w->path, ds_name(w, j),
                          k * w->chunk, k * w->chunk + rows - 1, h5u_errno_hint());
    }
    return 0;
}

static int start_zip(h5ds_writer *w) {
    if (w->zip) return 0;
    int rc = chunkzip_init(&w->zip, w->nds, w->row_bytes, w->esize, w->chunk, w->deflate, w->threads, write_chunk, w);
    return rc ? rp_err_prefix(rc, "%s: ", w->path) : 0;
}

int h5ds_writer_set_threads(h5ds_writer *w, int threads) {
    if (w->zip) return rp_err(RP_EARG, "%s: compression threads must be set before the first append", w->path);
    w->threads = threads < 0 ? 0 : threads;
    return 0;
}

int h5ds_append(h5ds_writer *w, long n, const uint8_t *images, const void *const *colvals, const int64_t *index) {
    assert(w && n >= 0 && (images || !n) && (colvals || !w->ncols || !n));
    int rc0 = start_zip(w);
    if (rc0) return rc0;
    long done = 0;
    while (done < n) {
        long k = w->chunk - w->nbuf;
        if (k > n - done) k = n - done;
        uint8_t *const *buf = chunkzip_buffers(w->zip);
        memcpy(buf[0] + w->nbuf * w->row_bytes[0], images + done * w->row_bytes[0], k * w->row_bytes[0]);
        int64_t *ix = (int64_t *)buf[1] + w->nbuf;
        for (long i = 0; i < k; i++) ix[i] = index ? index[done + i] : w->appended + i;
        for (int j = 0; j < w->ncols; j++) {
            size_t rb = w->row_bytes[2 + j];
            memcpy(buf[2 + j] + w->nbuf * rb, (const char *)colvals[w->src[j]] + done * rb, k * rb);
        }
        w->nbuf += k;
        w->appended += k;
        done += k;
        if (w->nbuf == w->chunk) {
            w->nbuf = 0;
            int rc = chunkzip_submit(w->zip, w->chunk);
            if (rc) return rc;
        }
    }
    return 0;
}

long h5ds_writer_rows(const h5ds_writer *w) { return w->appended; }

int h5ds_writer_set_attr_str(h5ds_writer *w, const char *name, const char *value) {
    int rc = h5u_write_attr_str(w->root, name, value);
    return rc ? rp_err_prefix(rc, "%s: ", w->path) : 0;
}

int h5ds_writer_set_attr_long(h5ds_writer *w, const char *name, long value) {
    int rc = h5u_write_attr_i64(w->root, name, value);
    return rc ? rp_err_prefix(rc, "%s: ", w->path) : 0;
}

int h5ds_finish(h5ds_writer *w) {
    int rc = start_zip(w);
    if (!rc && w->nbuf) rc = chunkzip_submit(w->zip, w->nbuf);
    if (!rc) rc = chunkzip_drain(w->zip);
    if (writer_close(w) && !rc)
        rc = rp_err(RP_EIO, "%s: closing the HDF5 file %s failed%s", w->path, w->tmp, h5u_errno_hint());
    rc = rp_atomic_publish(w->tmp, w->path, rc);
    writer_free(w);
    return rc;
}

void h5ds_abort(h5ds_writer *w) {
    if (!w) return;
    writer_close(w);
    unlink(w->tmp);
    writer_free(w);
}
