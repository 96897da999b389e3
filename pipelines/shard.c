/* Shards and their merge (see shard.h). The merge copies rows through the same streaming writer
 * that wrote the shards, with the job's chunk size and provenance, so the result is the file an
 * unsharded run writes (with the same SOURCE_DATE_EPOCH). */
#include "pipelines/shard.h"
#include "base/progress.h"
#include "base/status.h"
#include "io/h5util.h"
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int shard_parse(const char *text, shard_spec *s) {
    char slash;
    int i, n, used = 0;
    if (sscanf(text, "%d%c%d%n", &i, &slash, &n, &used) != 3 || slash != '/' || text[used] || n < 1 || n > 100000 ||
        i < 0 || i >= n)
        return rp_err(RP_EARG, "--shard expects i/N with 0 <= i < N (e.g. 3/8 for the fourth of eight), got \"%s\"",
                      text);
    s->index = i, s->count = n;
    return 0;
}

void shard_rows(const shard_spec *s, long total, long chunk, long *start, long *end) {
    long chunks = (total + chunk - 1) / chunk;
    long c0 = chunks * s->index / s->count, c1 = chunks * (s->index + 1) / s->count;
    *start = c0 * chunk < total ? c0 * chunk : total;
    *end = c1 * chunk < total ? c1 * chunk : total;
}

static const char *const shard_keys[] = {"shard_index", "shard_count", "shard_start", "shard_end", "shard_total",
                                         "shard_chunk"};
enum { SK_INDEX, SK_COUNT, SK_START, SK_END, SK_TOTAL, SK_CHUNK, SK_N };

int shard_mark(h5ds_writer *w, const shard_spec *s, long start, long end, long total, long chunk) {
    if (s->count <= 1) return 0;
    const long v[SK_N] = {s->index, s->count, start, end, total, chunk};
    int rc = 0;
    for (int k = 0; !rc && k < SK_N; k++) rc = h5ds_writer_set_attr_long(w, shard_keys[k], v[k]);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* merge: checks */

typedef struct {
    const char *path;
    h5ds_reader *r;
    const h5ds_info *in;
    long v[SK_N];
} shard_file;

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* Opens every shard, reads its shard attributes and checks them against the first. */
static int open_shards(shard_file *f, int n) {
    int rc = 0;
    for (int i = 0; !rc && i < n; i++) {
        if ((rc = h5ds_open(&f[i].r, f[i].path))) break;
        f[i].in = h5ds_get_info(f[i].r);
        for (int k = 0; !rc && k < SK_N; k++) {
            int got = h5ds_attr_long(f[i].r, shard_keys[k], &f[i].v[k]);
            if (got < 0) rc = got;
            else if (got) rc = rp_err(RP_EFORMAT, "%s: not a shard (root attribute %s missing; shards are written by "
                                      "simulate or refine with --shard i/N)", f[i].path, shard_keys[k]);
        }
        if (rc || i == 0) continue;
        const h5ds_info *a = f[0].in, *b = f[i].in;
        const char *what = NULL;
        if (!same_str(a->kind, b->kind)) what = "kind";
        else if (!same_str(a->scene, b->scene)) what = "scene";
        else if (!same_str(a->config, b->config)) what = "config";
        else if (!same_str(a->source_file, b->source_file)) what = "source_file";
        else if (!same_str(a->refiner_checkpoint, b->refiner_checkpoint)) what = "refiner_checkpoint";
        else if (a->refiner_step != b->refiner_step || a->seed != b->seed) what = "refiner_step or seed";
        else if (a->H != b->H || a->W != b->W || a->C != b->C) what = "image shape";
        else if (a->ncols != b->ncols) what = "label and param columns";
        for (int j = 0; !what && j < a->ncols; j++)
            if (strcmp(a->cols[j].path, b->cols[j].path) || a->cols[j].dtype != b->cols[j].dtype ||
                a->cols[j].cols != b->cols[j].cols)
                what = "label and param columns";
        for (int k = 0; !what && k < SK_N; k++)
            if ((k == SK_COUNT || k == SK_TOTAL || k == SK_CHUNK) && f[i].v[k] != f[0].v[k]) what = shard_keys[k];
        if (what)
            rc = rp_err(RP_EFORMAT, "%s and %s are not shards of one job: their %s differ", f[0].path, f[i].path,
                        what);
    }
    return rc;
}

static int by_index(const void *a, const void *b) {
    long x = ((const shard_file *)a)->v[SK_INDEX], y = ((const shard_file *)b)->v[SK_INDEX];
    return (x > y) - (x < y);
}

/* After sorting by shard index: exactly shards 0..count-1, each holding rows [start, end) that
 * continue the previous one and as many rows as its file has. */
static int check_cover(shard_file *f, int n) {
    qsort(f, n, sizeof *f, by_index);
    long count = f[0].v[SK_COUNT], next = 0;
    for (int i = 0; i < n; i++) {
        if (f[i].v[SK_INDEX] != i) {
            if (i < n && i && f[i].v[SK_INDEX] == f[i - 1].v[SK_INDEX])
                return rp_err(RP_EFORMAT, "%s and %s are both shard %ld/%ld", f[i - 1].path, f[i].path,
                              f[i].v[SK_INDEX], count);
            return rp_err(RP_EFORMAT, "shard %d/%ld is missing (got %d of %ld shards)", i, count, n, count);
        }
        if (f[i].v[SK_START] != next || f[i].v[SK_END] < next || f[i].v[SK_END] - f[i].v[SK_START] != f[i].in->N)
            return rp_err(RP_EFORMAT, "%s: holds rows [%ld, %ld) (%ld rows) where rows from %ld were expected", f[i].path,
                          f[i].v[SK_START], f[i].v[SK_END], f[i].in->N, next);
        next = f[i].v[SK_END];
    }
    if (n != count) return rp_err(RP_EFORMAT, "shard %d/%ld is missing (got %d of %ld shards)", n, count, n, count);
    if (next != f[0].v[SK_TOTAL])
        return rp_err(RP_EFORMAT, "the shards hold rows [0, %ld) of a job of %ld rows", next, f[0].v[SK_TOTAL]);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* merge: a copy */

static int merge_copy(shard_file *f, int n, const char *out, int quiet) {
    const h5ds_info *a = f[0].in;
    long chunk = f[0].v[SK_CHUNK], total = f[0].v[SK_TOTAL];
    int nc = a->ncols, rc = 0;
    h5ds_column cols[64];
    void *vals[64] = {0};
    size_t img = (size_t)a->H * a->W * a->C;
    uint8_t *pix = malloc(img * chunk);
    int64_t *index = malloc(sizeof *index * chunk);
    if (nc > 64) return rp_err(RP_EFORMAT, "%s: more than 64 columns", f[0].path);
    if (!pix || !index) rc = rp_err(RP_ENOMEM, "merge: out of memory for a chunk of %ld rows", chunk);
    for (int j = 0; !rc && j < nc; j++) {
        cols[j] = (h5ds_column){a->cols[j].path, a->cols[j].dtype, a->cols[j].cols,
                                a->cols[j].units[0] ? a->cols[j].units : NULL};
        if (!(vals[j] = malloc(h5ds_dtype_size(cols[j].dtype) * cols[j].cols * chunk)))
            rc = rp_err(RP_ENOMEM, "merge: out of memory");
    }
    h5ds_provenance prov = {a->kind, a->scene, a->config, a->seed, a->source_file, a->refiner_checkpoint,
                            a->refiner_step};
    h5ds_writer *w = NULL;
    if (!rc) rc = h5ds_create(&w, out, a->H, a->W, a->C, cols, nc, &prov, &(h5ds_options){.chunk = chunk});
    rp_progress pr;
    rp_progress_start(&pr, "merge", "images", total, quiet);
    for (int i = 0; !rc && i < n; i++) {
        for (long s = 0; !rc && s < f[i].in->N; s += chunk) {
            long m = f[i].in->N - s < chunk ? f[i].in->N - s : chunk;
            rc = h5ds_read_images_u8(f[i].r, s, m, pix);
            for (int j = 0; !rc && j < nc; j++) rc = h5ds_read_column(f[i].r, cols[j].path, s, m, vals[j], cols[j].dtype);
            if (!rc) rc = h5ds_read_column(f[i].r, "index", s, m, index, H5DS_INT64);
            if (!rc) rc = h5ds_append(w, m, pix, (const void *const *)vals, index);
            rp_progress_update(&pr, f[i].v[SK_START] + s + m, NULL);
        }
    }
    if (!rc) {
        rc = h5ds_finish(w);
        w = NULL;
        if (!rc) rp_progress_finish(&pr);
    }
    h5ds_abort(w);
    for (int j = 0; j < nc; j++) free(vals[j]);
    free(pix), free(index);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* merge: a virtual dataset */

/* One virtual dataset `name` (rank and trailing dims as in shard 0) over the same dataset of
 * every shard, stacked along the first dimension. */
static int virtual_ds(hid_t out, shard_file *f, int n, const char *name, long total, const char *units) {
    hid_t src = -1, ftype = -1, sspace = -1, vspace = -1, dcpl = -1, d = -1, file0 = -1;
    int rc = 0, rank;
    hsize_t dims[4];
    file0 = H5Fopen(f[0].path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file0 < 0 || (src = H5Dopen2(file0, name, H5P_DEFAULT)) < 0 || (ftype = H5Dget_type(src)) < 0 ||
        (sspace = H5Dget_space(src)) < 0 || (rank = H5Sget_simple_extent_ndims(sspace)) < 1 || rank > 4 ||
        H5Sget_simple_extent_dims(sspace, dims, NULL) != rank) {
        rc = rp_err(RP_EFORMAT, "%s: %s: cannot read its type and shape", f[0].path, name);
        goto done;
    }
    dims[0] = (hsize_t)total;
    if ((vspace = H5Screate_simple(rank, dims, NULL)) < 0 || (dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0) {
        rc = rp_err(RP_EIO, "%s: cannot create its virtual layout", name);
        goto done;
    }
    for (int i = 0; !rc && i < n; i++) {
        hsize_t start[4] = {(hsize_t)f[i].v[SK_START], 0, 0, 0}, count[4];
        memcpy(count, dims, sizeof count);
        count[0] = (hsize_t)f[i].in->N;
        if (!count[0]) continue;
        hid_t from = H5Screate_simple(rank, count, NULL);
        if (from < 0 || H5Sselect_hyperslab(vspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Pset_virtual(dcpl, vspace, f[i].path, name, from) < 0)
            rc = rp_err(RP_EIO, "%s: cannot map %s of %s", name, name, f[i].path);
        if (from >= 0) H5Sclose(from);
    }
    if (!rc && H5Sselect_all(vspace) < 0) rc = rp_err(RP_EIO, "%s: cannot select", name);
    if (!rc && (d = H5Dcreate2(out, name, ftype, vspace, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0)
        rc = rp_err(RP_EIO, "%s: cannot create the virtual dataset", name);
    if (!rc && units) rc = h5u_write_attr_str(d, "units", units);
done:
    if (d >= 0) H5Dclose(d);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (vspace >= 0) H5Sclose(vspace);
    if (sspace >= 0) H5Sclose(sspace);
    if (ftype >= 0) H5Tclose(ftype);
    if (src >= 0) H5Dclose(src);
    if (file0 >= 0) H5Fclose(file0);
    return rc;
}

/* The root attributes of shard 0, but its shard_* ones and created_at (now). */
static int copy_root_attrs(hid_t out, const char *shard0) {
    hid_t file = H5Fopen(shard0, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t in = file >= 0 ? H5Gopen2(file, "/", H5P_DEFAULT) : -1;
    if (in < 0) {
        if (file >= 0) H5Fclose(file);
        return rp_err(RP_EIO, "%s: cannot open", shard0);
    }
    int rc = 0, na = H5Aget_num_attrs(in);
    for (int k = 0; !rc && k < na; k++) {
        char name[128];
        hid_t a = H5Aopen_by_idx(in, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)k, H5P_DEFAULT, H5P_DEFAULT);
        if (a < 0 || H5Aget_name(a, sizeof name, name) < 0) rc = rp_err(RP_EIO, "%s: cannot read attribute %d", shard0, k);
        else if (strncmp(name, "shard_", 6) && strcmp(name, "created_at")) {
            char *s = NULL;
            long long v;
            if (h5u_read_attr_str(in, name, &s) == 0) rc = h5u_write_attr_str(out, name, s);
            else if (h5u_read_attr_i64(in, name, &v) == 0)
                rc = !strcmp(name, "refine_format_version") ? h5u_write_attr_int(out, name, (int)v)
                                                             : h5u_write_attr_i64(out, name, v);
            free(s);
        }
        if (a >= 0) H5Aclose(a);
    }
    char now[32];
    h5u_utc_now(now, sizeof now);
    if (!rc) rc = h5u_write_attr_str(out, "created_at", now);
    H5Gclose(in);
    H5Fclose(file);
    return rc;
}

static int merge_virtual(shard_file *f, int n, const char *out) {
    char tmp[4096];
    hid_t o;
    int rc = h5u_create_temp(out, tmp, sizeof tmp, &o);
    if (rc) return rc;
    hid_t root = H5Gopen2(o, "/", H5P_DEFAULT);
    long total = f[0].v[SK_TOTAL];
    const h5ds_info *a = f[0].in;
    hid_t lab = -1, par = -1;
    rc = root < 0 ? rp_err(RP_EIO, "%s: cannot open its root group", tmp) : copy_root_attrs(root, f[0].path);
    if (!rc) rc = virtual_ds(o, f, n, a->images ? a->images : "/images", total, NULL);
    if (!rc) rc = virtual_ds(o, f, n, "/index", total, NULL);
    for (int j = 0; !rc && j < a->ncols; j++) {
        int is_label = !strncmp(a->cols[j].path, "labels/", 7);
        hid_t *g = is_label ? &lab : &par;
        if (*g < 0 && (*g = H5Gcreate2(o, is_label ? "labels" : "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
            rc = rp_err(RP_EIO, "%s: cannot create a group", tmp);
        char name[160];
        snprintf(name, sizeof name, "/%s", a->cols[j].path);
        if (!rc) rc = virtual_ds(o, f, n, name, total, a->cols[j].units[0] ? a->cols[j].units : NULL);
    }
    if (lab >= 0) H5Gclose(lab);
    if (par >= 0) H5Gclose(par);
    if (root >= 0) H5Gclose(root);
    return h5u_publish(o, tmp, out, rc);
}

int shard_merge(const char *const *paths, int n, const char *out, int virtual_, int quiet) {
    if (n < 1) return rp_err(RP_EARG, "merge: no shard files given");
    shard_file *f = calloc(n, sizeof *f);
    if (!f) return rp_err(RP_ENOMEM, "merge: out of memory");
    for (int i = 0; i < n; i++) f[i].path = paths[i];
    int rc = open_shards(f, n);
    /* a virtual dataset names its source files: absolute paths, so it reads from anywhere */
    char (*abs)[4096] = virtual_ && !rc ? calloc(n, sizeof *abs) : NULL;
    if (virtual_ && !rc && !abs) rc = rp_err(RP_ENOMEM, "merge: out of memory");
    for (int i = 0; abs && !rc && i < n; i++) {
        if (!realpath(f[i].path, abs[i])) rc = rp_err(RP_EIO, "%s: cannot resolve its path", f[i].path);
        f[i].path = abs[i];
    }
    if (!rc) rc = check_cover(f, n);
    if (!rc) rc = virtual_ ? merge_virtual(f, n, out) : merge_copy(f, n, out, quiet);
    for (int i = 0; i < n; i++) h5ds_close(f[i].r);
    free(f), free(abs);
    return rc;
}
