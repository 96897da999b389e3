/* refine-pipeline inspect: a dataset's layout (every object with type, shape, chunking, filters,
 * storage), provenance, image statistics and label histograms/ranges. Streams through the data
 * in batches, so memory does not grow with N. */
#include "cli/commands.h"
#include "cli/args.h"
#include "io/h5ds.h"
#include "io/h5util.h"
#include "base/status.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- layout */
static void print_dataset(hid_t fid, const char *name) {
    hid_t d = H5Dopen2(fid, name, H5P_DEFAULT);
    if (d < 0) {
        printf("  /%-22s (cannot open)\n", name);
        return;
    }
    hid_t t = H5Dget_type(d), s = H5Dget_space(d), p = H5Dget_create_plist(d);
    char tn[32] = "?", sh[96] = "?", ch[96] = "", filt[96] = "";
    hsize_t dims[8], cd[8];
    int rank = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
    if (t >= 0) h5u_type_name(t, tn, sizeof tn);
    if (rank >= 0 && rank <= 8 && H5Sget_simple_extent_dims(s, dims, NULL) >= 0) h5u_shape_str(dims, rank, sh, sizeof sh);
    if (p >= 0 && H5Pget_layout(p) == H5D_CHUNKED) {
        int cr = H5Pget_chunk(p, 8, cd);
        if (cr > 0) {
            char c2[80];
            snprintf(ch, sizeof ch, " chunks %s", h5u_shape_str(cd, cr, c2, sizeof c2));
        }
        int nf = H5Pget_nfilters(p);
        for (int i = 0; i < nf; i++) {
            unsigned flags, cdv[8];
            size_t ncd = 8;
            char fname[32];
            H5Z_filter_t id = H5Pget_filter2(p, (unsigned)i, &flags, &ncd, cdv, sizeof fname, fname, NULL);
            size_t l = strlen(filt);
            if (id == H5Z_FILTER_DEFLATE)
                snprintf(filt + l, sizeof filt - l, "%sdeflate(%u)", l ? "+" : " ", ncd ? cdv[0] : 0);
            else snprintf(filt + l, sizeof filt - l, "%s%s", l ? "+" : " ", id == H5Z_FILTER_SHUFFLE ? "shuffle" : fname);
        }
    } else if (p >= 0) snprintf(ch, sizeof ch, " contiguous");
    double logical = 0, stored = (double)H5Dget_storage_size(d);
    if (rank >= 0 && t >= 0) {
        logical = (double)H5Tget_size(t);
        for (int i = 0; i < rank; i++) logical *= (double)dims[i];
    }
    printf("  /%-22s %-8s %-18s%s%s, %.1f kB stored", name, tn, sh, ch, filt, stored / 1024);
    if (stored > 0 && logical > 0) printf(" (%.1fx)", logical / stored);
    printf("\n");
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (p >= 0) H5Pclose(p);
    H5Dclose(d);
}

static herr_t visit_link(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    hid_t fid = *(hid_t *)data;
    H5O_info_t oi;
    if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0) printf("  /%s (unreadable)\n", name);
    else if (oi.type == H5O_TYPE_GROUP) printf("  /%s/\n", name);
    else if (oi.type == H5O_TYPE_DATASET) print_dataset(fid, name);
    else printf("  /%s (other object)\n", name);
    return 0;
}

static int list_layout(const char *file);
static void list_layout_quietly(void *file) { list_layout(file); } /* h5u_probe's child: output to /dev/null */

/* Every object of the file; 0 if it could be listed, 1 if not and this said why. The listing
 * walks every object header, which libhdf5 may crash or hang on in a corrupt file: it runs in
 * h5u_probe's child first, and is skipped, with the probe's reason, when that child did not
 * finish. */
static int print_layout(const char *file) {
    h5u_silence();
    if (h5u_check_file(file)) return -1;
    if (h5u_probe(file, list_layout_quietly, (void *)file)) {
        printf("layout of %s not listed: %s\n", file, rp_errmsg());
        return 1;
    }
    return list_layout(file);
}

static int list_layout(const char *file) {
    hid_t fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) return -1;
    struct stat st;
    printf("layout of %s (%.1f MB):\n", file, stat(file, &st) ? 0.0 : st.st_size / 1048576.0);
    herr_t rc = H5Lvisit(fid, H5_INDEX_NAME, H5_ITER_INC, visit_link, &fid);
    H5Fclose(fid);
    return rc < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- statistics */
typedef struct {
    double sum, sq, min, max;
    long n;
} stat_acc;

static void acc_init(stat_acc *a) { a->sum = a->sq = 0, a->min = INFINITY, a->max = -INFINITY, a->n = 0; }
static void acc_add(stat_acc *a, double v) {
    a->sum += v, a->sq += v * v, a->n++;
    if (v < a->min) a->min = v;
    if (v > a->max) a->max = v;
}
static double acc_mean(const stat_acc *a) { return a->n ? a->sum / a->n : 0; }
static double acc_std(const stat_acc *a) {
    double m = acc_mean(a), v = a->n ? a->sq / a->n - m * m : 0;
    return v > 0 ? sqrt(v) : 0;
}

static int image_stats(h5ds_reader *r) {
    const h5ds_info *in = h5ds_get_info(r);
    long hw = (long)in->H * in->W, per = hw * in->C;
    long B = (4L << 20) / (per * (long)sizeof(float));
    if (B < 1) B = 1;
    float *buf = malloc(B * per * sizeof *buf);
    if (!buf) return rp_err(RP_ENOMEM, "out of memory");
    stat_acc px, img, ch[4];
    acc_init(&px), acc_init(&img);
    for (int c = 0; c < in->C; c++) acc_init(&ch[c]);
    long zeros = 0;
    int rc = 0;
    for (long at = 0; at < in->N && !rc; at += B) {
        long n = in->N - at < B ? in->N - at : B;
        if ((rc = h5ds_read_images_f32(r, at, n, buf, 0, 255))) break;
        for (long i = 0; i < n; i++) {
            double s = 0;
            for (int c = 0; c < in->C; c++) {
                const float *p = buf + (i * in->C + c) * hw;
                stat_acc cs;
                acc_init(&cs);
                for (long k = 0; k < hw; k++) acc_add(&cs, p[k]), zeros += p[k] == 0;
                px.sum += cs.sum, px.sq += cs.sq, px.n += cs.n;
                px.min = fmin(px.min, cs.min), px.max = fmax(px.max, cs.max);
                ch[c].sum += cs.sum, ch[c].sq += cs.sq, ch[c].n += cs.n;
                ch[c].min = fmin(ch[c].min, cs.min), ch[c].max = fmax(ch[c].max, cs.max);
                s += cs.sum;
            }
            acc_add(&img, s / per);
        }
    }
    free(buf);
    if (rc) return rc;
    printf("images: %ld of %dx%d", in->N, in->H, in->W);
    if (in->C > 1) printf("x%d", in->C);
    printf(" (%s)\n", h5ds_dtype_name(in->dtype));
    printf("  pixels (0-255 scale): min %.1f  max %.1f  mean %.2f  std %.2f  zero %.1f%%\n", px.min, px.max,
           acc_mean(&px), acc_std(&px), 100.0 * zeros / (double)px.n);
    for (int c = 0; in->C > 1 && c < in->C; c++)
        printf("  channel %d: min %.1f  max %.1f  mean %.2f  std %.2f\n", c, ch[c].min, ch[c].max, acc_mean(&ch[c]),
               acc_std(&ch[c]));
    printf("  per-image mean: min %.2f  max %.2f  mean %.2f  std %.2f\n", img.min, img.max, acc_mean(&img),
           acc_std(&img));
    return 0;
}

/* Integer columns with few distinct values get a histogram; everything else min/max/mean/std per column. */
static int column_stats(h5ds_reader *r, const char *path, int cols, int integer, const char *units) {
    const h5ds_info *in = h5ds_get_info(r);
    enum { B = 8192 };
    double *buf = malloc(sizeof *buf * B * cols);
    stat_acc *a = malloc(sizeof *a * cols);
    if (!buf || !a) {
        free(buf), free(a);
        return rp_err(RP_ENOMEM, "out of memory");
    }
    for (int c = 0; c < cols; c++) acc_init(&a[c]);
    int rc = 0;
    float *fb = (float *)buf;
    int64_t *ib = (int64_t *)buf;
    for (long at = 0; at < in->N && !rc; at += B) {
        long n = in->N - at < B ? in->N - at : B;
        if ((rc = h5ds_read_column(r, path, at, n, buf, integer ? H5DS_INT64 : H5DS_FLOAT32))) break;
        for (long i = 0; i < n * cols; i++) acc_add(&a[i % cols], integer ? (double)ib[i] : (double)fb[i]);
    }
    printf("/%s (%s", path, integer ? "integer" : "float");
    if (cols > 1) printf(", %d columns", cols);
    if (units && *units) printf(", units %s", units);
    printf("):\n");
    long range = integer && cols == 1 && !rc ? (long)(a[0].max - a[0].min) : -1;
    if (range >= 0 && range <= 64) {
        long *h = calloc(range + 1, sizeof *h);
        for (long at = 0; h && at < in->N && !rc; at += B) {
            long n = in->N - at < B ? in->N - at : B;
            if ((rc = h5ds_read_column(r, path, at, n, buf, H5DS_INT64))) break;
            for (long i = 0; i < n; i++) h[ib[i] - (long)a[0].min]++;
        }
        printf("  histogram:");
        for (long v = 0; h && !rc && v <= range; v++) printf(" %ld:%ld", v + (long)a[0].min, h[v]);
        printf("\n");
        free(h);
    }
    for (int c = 0; c < cols && !rc; c++) {
        if (cols > 1) printf("  [%d]", c);
        printf("  min %.6g  max %.6g  mean %.6g  std %.6g\n", a[c].min, a[c].max, acc_mean(&a[c]), acc_std(&a[c]));
    }
    free(buf), free(a);
    return rc;
}

/* ---------------------------------------------------------------- command */
static void print_provenance(h5ds_reader *r, int show_config) {
    const h5ds_info *in = h5ds_get_info(r);
    printf("%s: %s (images at %s)\n", in->file,
           in->format_version ? "refine-dataset v1" : "external HDF5 dataset (no refine_format attribute)", in->images);
    const char *names[] = {"kind", "scene", "created_by", "created_at", "source_file", "refiner_checkpoint",
                           "import_command"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = h5ds_attr_str(r, names[i]);
        if (v) printf("  %-19s %s\n", names[i], v);
    }
    if (in->seed >= 0) printf("  %-19s %ld\n", "seed", in->seed);
    if (in->refiner_step >= 0) printf("  %-19s %ld\n", "refiner_step", in->refiner_step);
    if (in->config) {
        int lines = 0;
        for (const char *p = in->config; *p; p++) lines += *p == '\n';
        if (show_config) printf("  config:\n%s%s", in->config, lines && in->config[strlen(in->config) - 1] == '\n' ? "" : "\n");
        else printf("  %-19s %d lines (--show-config prints them)\n", "config", lines);
    }
}

int cmd_inspect(int argc, char **argv) {
    int show_config = 0, no_stats = 0;
    const arg_spec specs[] = {
        {"--show-config", NULL, ARG_FLAG, &show_config, NULL, "print the stored config text in full"},
        {"--no-stats", NULL, ARG_FLAG, &no_stats, NULL, "layout and provenance only (no pass over the data)"},
        {0}};
    const arg_command cmd = {"inspect", "FILE.h5[:/path] [--show-config] [--no-stats]",
                             "Describes a dataset: every object with type, shape, chunking and filters; provenance "
                             "attributes; image statistics; a histogram of each integer label with few values and "
                             "min/max/mean/std of the others. Validates the file like every reader does and says "
                             "what is wrong if it is malformed.",
                             specs, 1, 1};
    args_common common;
    int rc = args_parse(&cmd, &common, argc, argv);
    if (rc) return rc > 0 ? 0 : cmd_fail("inspect", rc);
    h5ds_reader *r;
    rc = h5ds_open(&r, common.pos[0]);
    if (rc) {
        /* still show what the file holds when it is HDF5 at all */
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", rp_errmsg());
        char *file = strdup(common.pos[0]), *c = strstr(file, ":/");
        if (c && access(common.pos[0], F_OK) != 0) *c = 0;
        print_layout(file);
        free(file);
        rp_err(rc, "%s", msg);
        return cmd_fail("inspect", rc);
    }
    const h5ds_info *in = h5ds_get_info(r);
    print_provenance(r, show_config);
    if (print_layout(in->file) < 0) printf("  (layout could not be listed)\n");
    if (!no_stats) {
        rc = image_stats(r);
        for (int j = 0; j < in->ncols && !rc; j++) {
            const h5ds_colinfo *c = &in->cols[j];
            rc = column_stats(r, c->path, c->cols, c->dtype != H5DS_FLOAT32, c->units);
        }
        if (!rc && in->has_index) rc = column_stats(r, "index", 1, 1, NULL);
    }
    h5ds_close(r);
    return rc ? cmd_fail("inspect", rc) : 0;
}
