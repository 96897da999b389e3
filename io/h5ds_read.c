/* Validating open of "refine-dataset" v1 files and external image datasets (file.h5:/path):
 * everything is checked here once, so the row reads (h5ds_rows.c) can only fail on I/O. */
#include "io/h5ds_reader.h"
#include "io/h5util.h"
#include "base/status.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H5DS_READ_CACHE_BYTES (64u << 20) /* holds e.g. 80k 28x28 images: random batches stay cheap */

/* ---------------------------------------------------------------- open */
/* "a.h5:/x/y" -> file "a.h5", path "/x/y"; a ':' inside an existing file name is kept. */
static int split_spec(const char *spec, char **file, char **path) {
    const char *p = spec;
    while ((p = strstr(p, ":/"))) {
        char *f = strndup(spec, p - spec);
        if (!f) return RP_ENOMEM;
        if (access(f, F_OK) == 0 || !strstr(p + 2, ":/")) {
            *file = f;
            *path = strdup(p + 1);
            return *path ? 0 : RP_ENOMEM;
        }
        free(f);
        p += 2;
    }
    *file = strdup(spec);
    *path = strdup("/images");
    return *file && *path ? 0 : RP_ENOMEM;
}

/* 1 if every component of `path` exists as a link, 0 if not, <0 on error. */
static int path_exists(hid_t fid, const char *path) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = 0;
            htri_t e = H5Lexists(fid, buf, H5P_DEFAULT);
            if (e <= 0) return e < 0 ? -1 : 0;
            if (!c) return 1;
            *s = c;
        }
    }
}

static int obj_type(hid_t fid, const char *path, H5O_type_t *t) {
    H5O_info_t oi;
    if (H5Oget_info_by_name(fid, path, &oi, H5P_DEFAULT) < 0) return -1;
    *t = oi.type;
    return 0;
}

static int read_root_attrs(h5ds_reader *r) {
    hid_t root = H5Gopen2(r->fid, "/", H5P_DEFAULT);
    if (root < 0) return rp_err(RP_EIO, "%s: cannot open the root group", r->file);
    char *fmt = NULL;
    int rc = h5u_read_attr_str(root, "refine_format", &fmt);
    if (rc == 1) rc = 0; /* an external file: shapes are still validated */
    else if (!rc && strcmp(fmt, H5DS_FORMAT))
        rc = rp_err(RP_EFORMAT, "%s: refine_format is \"%s\", expected \"%s\"", r->file, fmt, H5DS_FORMAT);
    else if (!rc) {
        long long v = 0;
        rc = h5u_read_attr_i64(root, "refine_format_version", &v);
        if (rc == 1) rc = rp_err(RP_EFORMAT, "%s: refine_format_version missing (expected %d)", r->file,
                                 H5DS_FORMAT_VERSION);
        else if (!rc && (v < 1 || v > H5DS_FORMAT_VERSION))
            rc = rp_err(RP_EFORMAT, "%s: refine_format_version is %lld, this program reads version %d", r->file, v,
                        H5DS_FORMAT_VERSION);
        r->info.format_version = (int)v;
    }
    free(fmt);
    static const char *names[7] = {"kind", "scene", "created_by", "created_at", "config", "source_file",
                                   "refiner_checkpoint"};
    for (int i = 0; i < 7 && !rc; i++)
        if ((rc = h5u_read_attr_str(root, names[i], &r->strs[i])) == 1) rc = 0;
    long long v;
    r->info.seed = r->info.refiner_step = -1;
    if (!rc && !(rc = h5u_read_attr_i64(root, "seed", &v))) r->info.seed = (long)v;
    if (rc == 1) rc = 0;
    if (!rc && !(rc = h5u_read_attr_i64(root, "refiner_step", &v))) r->info.refiner_step = (long)v;
    if (rc == 1) rc = 0;
    H5Gclose(root);
    if (rc && !strstr(rp_errmsg(), r->file)) rp_err_prefix(rc, "%s: ", r->file);
    return rc;
}

static hid_t open_dataset(h5ds_reader *r, const char *path, const char *what) {
    int e = path_exists(r->fid, path);
    if (e <= 0) {
        rp_err(e < 0 ? RP_EIO : RP_EFORMAT, "%s: %s: missing (expected %s)", r->file, path, what);
        return -1;
    }
    H5O_type_t t = H5O_TYPE_UNKNOWN;
    if (obj_type(r->fid, path, &t) < 0 || t != H5O_TYPE_DATASET) {
        rp_err(RP_EFORMAT, "%s: %s: expected a dataset (%s), found a %s", r->file, path, what,
               t == H5O_TYPE_GROUP ? "group" : "non-dataset object");
        return -1;
    }
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl < 0 || H5Pset_chunk_cache(dapl, 12421, H5DS_READ_CACHE_BYTES, 1.0) < 0) {
        if (dapl >= 0) H5Pclose(dapl);
        rp_err(RP_EIO, "%s: %s: cannot set up dataset access", r->file, path);
        return -1;
    }
    hid_t d = H5Dopen2(r->fid, path, dapl);
    H5Pclose(dapl);
    if (d < 0) rp_err(RP_EIO, "%s: %s: cannot open the dataset", r->file, path);
    return d;
}

/* Shape and element type of an open dataset. */
static int dataset_shape(h5ds_reader *r, hid_t d, const char *path, int *rank, hsize_t dims[8], hid_t *type) {
    hid_t s = H5Dget_space(d);
    *rank = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
    if (*rank > 8) {
        H5Sclose(s);
        return rp_err(RP_EFORMAT, "%s: %s: rank %d is too large", r->file, path, *rank);
    }
    if (*rank >= 0 && H5Sget_simple_extent_dims(s, dims, NULL) < 0) *rank = -1;
    if (s >= 0) H5Sclose(s);
    *type = H5Dget_type(d);
    if (*rank < 0 || *type < 0) return rp_err(RP_EIO, "%s: %s: cannot read shape or type", r->file, path);
    return 0;
}

static int open_images(h5ds_reader *r) {
    const char *p = r->images;
    if ((r->dimg = open_dataset(r, p, "uint8 images of shape (N,H,W) or (N,H,W,C)")) < 0) return RP_EFORMAT;
    int rank;
    hsize_t d[8];
    hid_t t;
    char tn[32], sh[128];
    if (dataset_shape(r, r->dimg, p, &rank, d, &t)) return RP_EIO;
    H5T_class_t cl = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    int ok_u8 = cl == H5T_INTEGER && sz == 1 && H5Tget_sign(t) == H5T_SGN_NONE;
    int ok_f = cl == H5T_FLOAT && (sz == 4 || sz == 8);
    h5u_type_name(t, tn, sizeof tn);
    H5Tclose(t);
    if (!ok_u8 && !ok_f)
        return rp_err(RP_EFORMAT, "%s: %s: unsupported dtype %s (expected uint8, or float32 in [0,1])", r->file, p, tn);
    if (rank != 3 && rank != 4)
        return rp_err(RP_EFORMAT, "%s: %s: expected rank 3 (N,H,W) or 4 (N,H,W,C), found rank %d %s", r->file, p,
                      rank, h5u_shape_str(d, rank, sh, sizeof sh));
    h5u_shape_str(d, rank, sh, sizeof sh);
    if (d[0] == 0) return rp_err(RP_EFORMAT, "%s: %s: empty dataset, shape %s (N = 0)", r->file, p, sh);
    if (d[1] == 0 || d[2] == 0 || (rank == 4 && d[3] == 0))
        return rp_err(RP_EFORMAT, "%s: %s: empty images, shape %s", r->file, p, sh);
    if (rank == 4 && d[3] > 4)
        return rp_err(RP_EFORMAT, "%s: %s: expected 1 to 4 channels in (N,H,W,C), found C = %llu (shape %s)", r->file,
                      p, (unsigned long long)d[3], sh);
    if (d[1] > 65536 || d[2] > 65536)
        return rp_err(RP_EFORMAT, "%s: %s: images of %llux%llu are too large", r->file, p, (unsigned long long)d[1],
                      (unsigned long long)d[2]);
    r->info.N = (long)d[0];
    r->info.H = (int)d[1];
    r->info.W = (int)d[2];
    r->info.C = rank == 4 ? (int)d[3] : 1;
    r->info.dtype = ok_u8 ? H5DS_UINT8 : H5DS_FLOAT32;
    return 0;
}

/* Validates one per-row dataset (label, param or index): rank, first dim == N, numeric type. */
static int check_column(h5ds_reader *r, hid_t d, const char *path, h5ds_colinfo *ci, int max_rank) {
    int rank;
    hsize_t dims[8];
    hid_t t;
    char tn[32], sh[128];
    if (dataset_shape(r, d, path, &rank, dims, &t)) return RP_EIO;
    H5T_class_t cl = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    int uns = H5Tget_sign(t) == H5T_SGN_NONE;
    h5u_type_name(t, tn, sizeof tn);
    H5Tclose(t);
    h5u_shape_str(dims, rank, sh, sizeof sh);
    if (rank < 1 || rank > max_rank)
        return rp_err(RP_EFORMAT, "%s: %s: expected rank 1 (N)%s, found rank %d %s", r->file, path,
                      max_rank > 1 ? " or 2 (N,k)" : "", rank, sh);
    if ((long)dims[0] != r->info.N)
        return rp_err(RP_EFORMAT, "%s: %s: expected first dimension N = %ld (as %s), found %llu (shape %s)", r->file,
                      path, r->info.N, r->images, (unsigned long long)dims[0], sh);
    if (rank == 2 && (dims[1] == 0 || dims[1] > 1 << 20))
        return rp_err(RP_EFORMAT, "%s: %s: odd shape %s", r->file, path, sh);
    if (cl != H5T_INTEGER && cl != H5T_FLOAT)
        return rp_err(RP_EFORMAT, "%s: %s: unsupported dtype %s (expected int32 or float32)", r->file, path, tn);
    if (!ci) return 0;
    ci->cols = rank == 2 ? (int)dims[1] : 1;
    ci->dtype = cl == H5T_FLOAT ? H5DS_FLOAT32 : sz == 1 && uns ? H5DS_UINT8 : sz <= 4 ? H5DS_INT32 : H5DS_INT64;
    char *units = NULL;
    int rc = h5u_read_attr_str(d, "units", &units);
    if (rc < 0) return rp_err_prefix(rc, "%s: %s: ", r->file, path);
    if (!rc) snprintf(ci->units, sizeof ci->units, "%s", units);
    free(units);
    return 0;
}

typedef struct {
    char names[H5DS_MAX_COLS][96];
    int n;
} name_list;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g, (void)info;
    name_list *l = data;
    if (l->n >= H5DS_MAX_COLS) return 1;
    snprintf(l->names[l->n++], sizeof l->names[0], "%s", name);
    return 0;
}

static int open_columns(h5ds_reader *r) {
    static const char *groups[2] = {"labels", "params"};
    name_list *l = malloc(sizeof *l);
    r->cols = calloc(H5DS_MAX_COLS, sizeof *r->cols);
    if (!l || !r->cols) {
        free(l);
        return rp_err(RP_ENOMEM, "%s: out of memory", r->file);
    }
    int rc = 0;
    for (int gi = 0; gi < 2 && !rc; gi++) {
        char gp[16];
        snprintf(gp, sizeof gp, "/%s", groups[gi]);
        htri_t e = H5Lexists(r->fid, gp, H5P_DEFAULT);
        if (e < 0) rc = rp_err(RP_EIO, "%s: %s: cannot query", r->file, gp);
        if (e <= 0) continue;
        H5O_type_t t;
        if (obj_type(r->fid, gp, &t) < 0 || t != H5O_TYPE_GROUP) {
            rc = rp_err(RP_EFORMAT, "%s: %s: expected a group of per-image datasets", r->file, gp);
            break;
        }
        hid_t g = H5Gopen2(r->fid, gp, H5P_DEFAULT);
        hsize_t idx = 0;
        l->n = 0;
        if (g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, l) < 0)
            rc = rp_err(RP_EIO, "%s: %s: cannot list the group", r->file, gp);
        if (g >= 0) H5Gclose(g);
        for (int i = 0; i < l->n && !rc; i++) {
            if (r->info.ncols >= H5DS_MAX_COLS) {
                rc = rp_err(RP_EFORMAT, "%s: more than %d label/param datasets", r->file, H5DS_MAX_COLS);
                break;
            }
            h5ds_colinfo *ci = &r->cols[r->info.ncols];
            char full[160];
            snprintf(ci->path, sizeof ci->path, "%s/%s", groups[gi], l->names[i]);
            snprintf(full, sizeof full, "/%s", ci->path);
            if (h5ds_find_column(r, ci->path) >= 0) { /* two links of one name: a corrupt group */
                rc = rp_err(RP_EFORMAT, "%s: %s: listed twice in its group (corrupt file?)", r->file, full);
                break;
            }
            hid_t d = open_dataset(r, full, "a per-image dataset of shape (N) or (N,k)");
            if (d < 0) {
                rc = RP_EFORMAT;
                break;
            }
            r->dcol[r->info.ncols++] = d;
            rc = check_column(r, d, full, ci, 2);
        }
    }
    free(l);
    if (rc) return rc;
    htri_t e = H5Lexists(r->fid, "/index", H5P_DEFAULT);
    if (e < 0) return rp_err(RP_EIO, "%s: /index: cannot query", r->file);
    if (e > 0) {
        if ((r->dindex = open_dataset(r, "/index", "int64 source rows of shape (N)")) < 0) return RP_EFORMAT;
        if ((rc = check_column(r, r->dindex, "/index", NULL, 1))) return rc;
        r->info.has_index = 1;
    }
    r->info.cols = r->cols;
    return 0;
}

/* The whole validating open, in h5u_probe's child first: libhdf5 may crash on a corrupt file. */
static void probe_open(void *spec) {
    h5ds_reader *r;
    if (!h5ds_open(&r, spec)) h5ds_close(r);
}

int h5ds_open(h5ds_reader **out, const char *spec) {
    *out = NULL;
    h5u_silence();
    h5ds_reader *r = calloc(1, sizeof *r);
    if (!r) return rp_err(RP_ENOMEM, "out of memory");
    r->fid = r->dimg = r->dindex = -1;
    int rc = split_spec(spec, &r->file, &r->images);
    if (rc) {
        h5ds_close(r);
        return rp_err(rc, "%s: out of memory", spec);
    }
    r->info.file = r->file;
    r->info.images = r->images;
    if ((rc = h5u_check_file(r->file)) || (rc = h5u_probe(r->file, probe_open, (void *)spec))) goto fail;
    if ((r->fid = H5Fopen(r->file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
        rc = rp_err(RP_EFORMAT, "%s: cannot open as HDF5 (corrupt or truncated file?)", r->file);
        goto fail;
    }
    if ((rc = read_root_attrs(r)) || (rc = open_images(r))) goto fail;
    if (r->info.format_version > 0 && !strcmp(r->images, "/images") && (rc = open_columns(r))) goto fail;
    r->info.kind = r->strs[0], r->info.scene = r->strs[1], r->info.created_by = r->strs[2];
    r->info.created_at = r->strs[3], r->info.config = r->strs[4], r->info.source_file = r->strs[5];
    r->info.refiner_checkpoint = r->strs[6];
    *out = r;
    return 0;
fail:
    h5ds_close(r);
    return rc;
}

const h5ds_info *h5ds_get_info(const h5ds_reader *r) { return &r->info; }

int h5ds_find_column(const h5ds_reader *r, const char *path) {
    if (path[0] == '/') path++;
    for (int j = 0; j < r->info.ncols; j++)
        if (!strcmp(r->cols[j].path, path)) return j;
    return -1;
}

const char *h5ds_attr_str(h5ds_reader *r, const char *name) {
    for (attr_cache *a = r->attrs; a; a = a->next)
        if (!strcmp(a->name, name)) return a->value;
    hid_t root = H5Gopen2(r->fid, "/", H5P_DEFAULT);
    char *v = NULL;
    if (root < 0) return NULL;
    int rc = h5u_read_attr_str(root, name, &v);
    H5Gclose(root);
    if (rc) return NULL;
    attr_cache *a = malloc(sizeof *a);
    if (!a || !(a->name = strdup(name))) {
        free(a), free(v);
        return NULL;
    }
    a->value = v;
    a->next = r->attrs;
    r->attrs = a;
    return v;
}

int h5ds_attr_long(h5ds_reader *r, const char *name, long *out) {
    hid_t root = H5Gopen2(r->fid, "/", H5P_DEFAULT);
    if (root < 0) return rp_err(RP_EIO, "%s: cannot open the root group", r->info.file);
    long long v = 0;
    int rc = h5u_read_attr_i64(root, name, &v);
    H5Gclose(root);
    if (rc < 0) return rp_err_prefix(rc, "%s: ", r->info.file);
    if (rc == 0) *out = (long)v;
    return rc;
}

void h5ds_close(h5ds_reader *r) {
    if (!r) return;
    for (int j = 0; j < r->info.ncols; j++) H5Dclose(r->dcol[j]);
    if (r->dimg >= 0) H5Dclose(r->dimg);
    if (r->dindex >= 0) H5Dclose(r->dindex);
    if (r->fid >= 0) H5Fclose(r->fid);
    for (int i = 0; i < 7; i++) free(r->strs[i]);
    while (r->attrs) {
        attr_cache *a = r->attrs;
        r->attrs = a->next;
        free(a->name), free(a->value), free(a);
    }
    free(r->cols), free(r->file), free(r->images), free(r);
}
