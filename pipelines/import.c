/* Import of PNG folders, IDX/IDX.gz and HDF5 datasets into one refine-dataset file (see
 * import.h). Sources are scanned first (counts, columns), then streamed in batches into an
 * h5ds writer created at the first image, whose size fixes the dataset's geometry. */
#include "pipelines/import.h"
#include "pipelines/import_labels.h"
#include "io/h5util.h"
#include "io/h5ds.h"
#include "io/idx.h"
#include "io/png.h"
#include "base/fault.h"
#include "base/status.h"
#include "base/progress.h"
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define IMPORT_BATCH 1024

/* ---------------------------------------------------------------- resampling */
/* 1-D weights of output sample i: source taps first..first+n-1. Area (box) when shrinking so
 * every source pixel counts once; bilinear with centres aligned when enlarging. */
static int taps(int i, int sn, int dn, float *wt, int *first) {
    double s = (double)sn / dn;
    if (s >= 1) {
        double a = i * s, b = (i + 1) * s;
        int j0 = (int)floor(a), n = 0;
        *first = j0;
        for (int j = j0; j < b && j < sn; j++) {
            double lo = a > j ? a : j, hi = b < j + 1 ? b : j + 1;
            wt[n++] = (float)((hi - lo) / s);
        }
        return n;
    }
    double x = (i + 0.5) * s - 0.5;
    int j = (int)floor(x);
    float f = (float)(x - j);
    if (j < 0) j = 0, f = 0;
    if (j >= sn - 1) j = sn - 1, f = 0;
    *first = j;
    wt[0] = 1 - f;
    if (f > 0) {
        wt[1] = f;
        return 2;
    }
    return 1;
}

int import_resize(const uint8_t *src, int sw, int sh, int C, uint8_t *dst, int dw, int dh) {
    int maxt = (sw > sh ? sw : sh) / (dw < dh ? dw : dh) + 3;
    float *tmp = rp_malloc(sizeof(float) * dw * sh * C), *wt = rp_malloc(sizeof(float) * maxt);
    if (!tmp || !wt) {
        free(tmp), free(wt);
        return rp_err(RP_ENOMEM, "resizing a %dx%d image to %dx%d: out of memory for %zu bytes of scratch", sh, sw, dh,
                      dw, sizeof(float) * ((size_t)dw * sh * C + maxt));
    }
    for (int x = 0; x < dw; x++) { /* horizontal pass: sh x dw floats */
        int j0, n = taps(x, sw, dw, wt, &j0);
        for (int y = 0; y < sh; y++)
            for (int c = 0; c < C; c++) {
                float acc = 0;
                for (int k = 0; k < n; k++) acc += wt[k] * src[((long)y * sw + j0 + k) * C + c];
                tmp[((long)y * dw + x) * C + c] = acc;
            }
    }
    for (int y = 0; y < dh; y++) {
        int j0, n = taps(y, sh, dh, wt, &j0);
        for (int x = 0; x < dw; x++)
            for (int c = 0; c < C; c++) {
                float acc = 0;
                for (int k = 0; k < n; k++) acc += wt[k] * tmp[((long)(j0 + k) * dw + x) * C + c];
                acc = acc < 0 ? 0 : acc > 255 ? 255 : acc;
                dst[((long)y * dw + x) * C + c] = (uint8_t)lrintf(acc);
            }
    }
    free(tmp), free(wt);
    return 0;
}

void import_crop(const uint8_t *src, int sw, int sh, int C, uint8_t *dst, int dw, int dh) {
    int ox = (sw - dw) / 2, oy = (sh - dh) / 2;
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            int sx = x + ox, sy = y + oy;
            int in = sx >= 0 && sy >= 0 && sx < sw && sy < sh;
            for (int c = 0; c < C; c++) dst[((long)y * dw + x) * C + c] = in ? src[((long)sy * sw + sx) * C + c] : 0;
        }
}

/* ---------------------------------------------------------------- sources */
typedef enum { SRC_PNGDIR, SRC_PNG, SRC_IDX, SRC_H5 } src_type;

typedef struct {
    src_type type;
    const char *spec;
    char **names; /* SRC_PNGDIR: sorted full paths of *.png */
    int nnames;
    long count;   /* images expected */
    int bad;      /* failed to open during the scan (skipped) */
} source;

typedef struct {
    const import_options *o;
    import_stats *st;
    const char *out;
    h5ds_writer *w;
    h5ds_column cols[64];
    int ncols;           /* every column written: first the source's own, then --labels */
    int nsrc_cols;       /* columns copied from a single refine-dataset source */
    h5ds_reader *colsrc; /* keeps column names alive until the writer exists */
    import_label lab[32]; /* --labels */
    int nlab;
    void *lab_batch[32]; /* IMPORT_BATCH rows of each label, gathered per batch */
    long in_row[IMPORT_BATCH];         /* each batch slot's image: its row among all input images */
    const char *in_name[IMPORT_BATCH]; /* and, for PNGs, its file */
    int H, W, C;
    uint8_t *batch;      /* IMPORT_BATCH converted images */
    rp_progress prog;
    long seen;
} import_ctx;

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcasecmp(s + a - b, suf);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_pngs(source *s, long *ignored) {
    DIR *d = opendir(s->spec);
    if (!d) return rp_err(RP_EIO, "%s: cannot list the folder", s->spec);
    int cap = 0, rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (!has_suffix(e->d_name, ".png")) {
            (*ignored)++;
            continue;
        }
        if (s->nnames == cap) {
            cap = cap ? 2 * cap : 256;
            char **nn = rp_realloc(s->names, cap * sizeof *nn);
            if (!nn) { rc = rp_err(RP_ENOMEM, "%s: out of memory", s->spec); break; }
            s->names = nn;
        }
        size_t l = strlen(s->spec) + strlen(e->d_name) + 2;
        if (!(s->names[s->nnames] = rp_malloc(l))) { rc = rp_err(RP_ENOMEM, "%s: out of memory", s->spec); break; }
        snprintf(s->names[s->nnames++], l, "%s/%s", s->spec, e->d_name);
    }
    closedir(d);
    if (!rc) qsort(s->names, s->nnames, sizeof *s->names, cmp_str); /* byte order: deterministic */
    if (!rc && !s->nnames) rc = rp_err(RP_EFORMAT, "%s: no *.png files in the folder", s->spec);
    return rc;
}

/* Kind of a source by its content (not its name): folder, PNG/HDF5/IDX signature, or file.h5:/path. */
static int classify(source *s) {
    struct stat st;
    const char *c = strstr(s->spec, ":/");
    if (c && stat(s->spec, &st) != 0) {
        s->type = SRC_H5;
        return 0;
    }
    if (stat(s->spec, &st) != 0) return rp_err(RP_EIO, "%s: no such file or folder", s->spec);
    if (S_ISDIR(st.st_mode)) {
        s->type = SRC_PNGDIR;
        return 0;
    }
    unsigned char b[8] = {0};
    FILE *f = fopen(s->spec, "rb");
    if (!f) return rp_err(RP_EIO, "%s: cannot open", s->spec);
    size_t got = fread(b, 1, 8, f);
    fclose(f);
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char hdf[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (got == 8 && !memcmp(b, png, 8)) s->type = SRC_PNG;
    else if (got == 8 && !memcmp(b, hdf, 8)) s->type = SRC_H5;
    else if (got >= 3 && ((b[0] == 0x1f && b[1] == 0x8b) || (!b[0] && !b[1] && b[2] == 0x08))) s->type = SRC_IDX;
    else return rp_err(RP_EFORMAT, "%s: unrecognised format (expected a PNG folder, PNG, IDX, IDX.gz or HDF5 file)",
                       s->spec);
    return 0;
}

/* A source or file that cannot be used: fatal, or counted and reported with --skip-bad. Running
 * out of memory says nothing about the file: always fatal (--skip-bad would drop good images). */
static int bad_file(import_ctx *x, int rc) {
    if (rc == RP_ENOMEM) return rc;
    if (!x->o->skip_bad) return rp_err_prefix(rc, "(use --skip-bad to continue past bad files) ");
    x->st->bad++;
    if (!x->o->quiet) fprintf(stderr, "import: skipping: %s\n", rp_errmsg());
    return 0;
}

static int scan(import_ctx *x, source *s) {
    int rc = classify(s);
    if (!rc) switch (s->type) {
        case SRC_PNGDIR:
            rc = list_pngs(s, &x->st->ignored);
            s->count = s->nnames;
            break;
        case SRC_PNG: s->count = 1; break;
        case SRC_IDX: {
            idx_file *f;
            if (!(rc = idx_open(&f, s->spec))) {
                if (idx_rank(f) != 3 && idx_rank(f) != 4)
                    rc = rp_err(RP_EFORMAT, "%s: IDX images must have rank 3 (N,H,W) or 4 (N,H,W,C), found %d",
                                s->spec, idx_rank(f));
                s->count = idx_dims(f)[0];
                idx_close(f);
            }
            break;
        }
        case SRC_H5: {
            h5ds_reader *r;
            if (!(rc = h5ds_open(&r, s->spec))) {
                s->count = h5ds_get_info(r)->N;
                h5ds_close(r);
            }
            break;
        }
        }
    if (rc) {
        s->bad = 1;
        s->count = 0;
        return bad_file(x, rc);
    }
    return 0;
}

/* ---------------------------------------------------------------- writing */
static int start_writer(import_ctx *x, int h, int w, int c) {
    const import_options *o = x->o;
    x->H = o->H > 0 ? o->H : h;
    x->W = o->W > 0 ? o->W : w;
    x->C = c;
    if (!(x->batch = rp_malloc((size_t)IMPORT_BATCH * x->H * x->W * x->C)))
        return rp_err(RP_ENOMEM, "%s: out of memory", x->out);
    h5ds_provenance p = {o->kind ? o->kind : "real", o->scene ? o->scene : "external", NULL, -1, NULL, NULL, -1};
    h5ds_options ho = {o->chunk, 0};
    int rc = h5ds_create(&x->w, x->out, x->H, x->W, x->C, x->cols, x->ncols, &p, &ho);
    if (!rc && o->command) rc = h5ds_writer_set_attr_str(x->w, "import_command", o->command);
    if (!rc) rc = h5ds_writer_set_threads(x->w, o->threads);
    return rc;
}

/* Converts one source image into slot k of the batch (creating the writer at the first one). */
static int put_image(import_ctx *x, const char *name, const uint8_t *img, int h, int w, int c, int k) {
    int rc;
    if (!x->w && (rc = start_writer(x, h, w, c))) return rc;
    if (c != x->C)
        return rp_err(RP_EFORMAT, "%s: %d channel(s), expected %d like the first image", name, c, x->C);
    uint8_t *dst = x->batch + (size_t)k * x->H * x->W * x->C;
    if (h == x->H && w == x->W) memcpy(dst, img, (size_t)h * w * c);
    else if (x->o->H <= 0)
        return rp_err(RP_EFORMAT, "%s: image is %dx%d (HxW), expected %dx%d like the first image (use --size HxW)",
                      name, h, w, x->H, x->W);
    else if (x->o->crop) import_crop(img, w, h, c, dst, x->W, x->H);
    else if ((rc = import_resize(img, w, h, c, dst, x->W, x->H))) return rp_err_prefix(rc, "%s: ", name);
    return 0;
}

/* Writes the batch's n images with the source's own columns (srccols, may be NULL) and each
 * --labels column's values for those images. */
static int append(import_ctx *x, long n, const void *const *srccols) {
    const void *vals[64];
    for (int j = 0; j < x->nsrc_cols; j++) vals[j] = srccols[j];
    for (int j = 0; j < x->nlab; j++) {
        const import_label *L = &x->lab[j];
        size_t row_bytes = (size_t)L->cols * 4;
        for (long i = 0; i < n; i++) {
            long r = L->keys ? import_label_row(L, x->in_name[i]) : x->in_row[i];
            if (r < 0 || r >= L->n)
                return L->keys ? rp_err(RP_EFORMAT, "--labels %s: %s has no row for %s", L->name, L->spec, x->in_name[i])
                               : rp_err(RP_EINTERNAL, "--labels %s: row %ld outside [0, %ld)", L->name, r, L->n);
            memcpy((char *)x->lab_batch[j] + i * row_bytes, (const char *)L->values + r * row_bytes, row_bytes);
        }
        vals[x->nsrc_cols + j] = x->lab_batch[j];
    }
    int rc = h5ds_append(x->w, n, x->batch, x->ncols ? vals : NULL, NULL);
    x->st->images += rc ? 0 : n;
    return rc;
}

static int do_pngs(import_ctx *x, const char *const *names, int n) {
    int k = 0, rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        uint8_t *px;
        int w, h;
        x->in_row[k] = x->seen, x->in_name[k] = names[i];
        int c = x->o->rgb ? 3 : 1;
        if ((rc = pngio_read(names[i], c, &w, &h, &px))) rc = bad_file(x, rc);
        else {
            rc = put_image(x, names[i], px, h, w, c, k);
            free(px);
            if (rc == RP_EFORMAT) rc = bad_file(x, rc); /* odd size or channels; writer failures stay fatal */
            else if (!rc) k++;
        }
        if (!rc && k == IMPORT_BATCH) rc = append(x, k, NULL), k = 0;
        rp_progress_update(&x->prog, ++x->seen, NULL);
    }
    if (!rc && k) rc = append(x, k, NULL);
    return rc;
}

static int do_idx(import_ctx *x, const char *spec) {
    idx_file *f = NULL;
    int rc = idx_open(&f, spec);
    if (rc) return bad_file(x, rc);
    const long *d = idx_dims(f);
    int h = (int)d[1], w = (int)d[2], c = idx_rank(f) == 4 ? (int)d[3] : 1;
    long N = d[0];
    uint8_t *raw = rp_malloc((size_t)IMPORT_BATCH * idx_item_size(f));
    if (!raw) rc = rp_err(RP_ENOMEM, "%s: out of memory", spec);
    for (long at = 0; at < N && !rc;) {
        long n = N - at < IMPORT_BATCH ? N - at : IMPORT_BATCH;
        if ((rc = idx_read(f, n, raw))) break;
        for (long i = 0; i < n && !rc; i++) {
            x->in_row[i] = x->seen + i, x->in_name[i] = spec;
            rc = put_image(x, spec, raw + i * idx_item_size(f), h, w, c, (int)i);
        }
        if (rc == RP_EFORMAT && at == 0) { /* the whole file has the wrong geometry: skippable */
            rc = bad_file(x, rc);
            break;
        }
        if (!rc) rc = append(x, n, NULL);
        at += n;
        x->seen += n;
        rp_progress_update(&x->prog, x->seen, NULL);
    }
    idx_close(f);
    free(raw);
    return rc;
}

static int do_h5(import_ctx *x, const char *spec) {
    h5ds_reader *r;
    int rc = h5ds_open(&r, spec);
    if (rc) return bad_file(x, rc);
    const h5ds_info *in = h5ds_get_info(r);
    size_t isz = (size_t)in->H * in->W * in->C;
    uint8_t *raw = rp_malloc(IMPORT_BATCH * isz);
    void *cbuf[64] = {0};
    if (!raw) rc = rp_err(RP_ENOMEM, "%s: out of memory", spec);
    for (int j = 0; j < x->nsrc_cols && !rc; j++)
        if (!(cbuf[j] = rp_malloc(IMPORT_BATCH * x->cols[j].cols * h5ds_dtype_size(x->cols[j].dtype))))
            rc = rp_err(RP_ENOMEM, "%s: out of memory", spec);
    for (long at = 0; at < in->N && !rc;) {
        long n = in->N - at < IMPORT_BATCH ? in->N - at : IMPORT_BATCH;
        if ((rc = h5ds_read_images_u8(r, at, n, raw))) break;
        for (long i = 0; i < n && !rc; i++) {
            x->in_row[i] = x->seen + i, x->in_name[i] = spec;
            rc = put_image(x, spec, raw + i * isz, in->H, in->W, in->C, (int)i);
        }
        if (rc == RP_EFORMAT && at == 0) {
            rc = bad_file(x, rc);
            break;
        }
        for (int j = 0; j < x->nsrc_cols && !rc; j++)
            rc = h5ds_read_column(r, x->cols[j].path, at, n, cbuf[j], x->cols[j].dtype);
        if (!rc) rc = append(x, n, (const void *const *)cbuf);
        at += n;
        x->seen += n;
        rp_progress_update(&x->prog, x->seen, NULL);
    }
    for (int j = 0; j < x->nsrc_cols; j++) free(cbuf[j]);
    free(raw);
    h5ds_close(r);
    return rc;
}

/* The columns: a single refine-dataset source brings its labels and params; --labels adds
 * columns from other files, matched to the images by row (or by PNG file name for a CSV with a
 * filename column). An external HDF5 source's other per-image datasets are named in st->hint. */
static int plan_columns(import_ctx *x, source *src, int n, long total) {
    int rc = 0;
    if (n == 1 && src[0].type == SRC_H5 && !src[0].bad) {
        if ((rc = h5ds_open(&x->colsrc, src[0].spec))) return rc;
        const h5ds_info *in = h5ds_get_info(x->colsrc);
        x->nsrc_cols = in->ncols < 32 ? in->ncols : 32;
        for (int j = 0; j < x->nsrc_cols; j++)
            x->cols[j] = (h5ds_column){in->cols[j].path, in->cols[j].dtype, in->cols[j].cols,
                                       in->cols[j].units[0] ? in->cols[j].units : NULL};
        if (!in->format_version && !x->o->nlabels &&
            (rc = h5u_row_datasets(in->file, in->N, in->images, x->st->hint, sizeof x->st->hint)))
            return rc;
    }
    if (x->o->nlabels > 32) return rp_err(RP_EARG, "--labels: at most 32 label columns");
    for (int j = 0; j < x->o->nlabels && !rc; j++) {
        const char *units = NULL;
        const char *eq = strchr(x->o->labels[j], '=');
        size_t nl = eq ? (size_t)(eq - x->o->labels[j]) : 0;
        for (int u = 0; u < x->o->nunits; u++)
            if (eq && !strncmp(x->o->units[u], x->o->labels[j], nl) && x->o->units[u][nl] == '=')
                units = x->o->units[u] + nl + 1;
        import_label *L = &x->lab[j];
        if ((rc = import_label_open(L, x->o->labels[j], units))) break;
        x->nlab++;
        for (int c = 0; c < x->nsrc_cols + j && !rc; c++)
            if (!strcmp(x->cols[c].path, L->path))
                rc = rp_err(RP_EARG, "--labels %s: the dataset already has /%s", L->name, L->path);
        if (!rc && L->keys)
            for (int i = 0; i < n && !rc; i++)
                if (src[i].type != SRC_PNGDIR && src[i].type != SRC_PNG)
                    rc = rp_err(RP_EARG, "--labels %s: %s has a filename column, which keys rows to PNG files, but "
                                "%s is not a PNG", L->name, L->spec, src[i].spec);
        if (!rc && !L->keys && L->n != total)
            rc = rp_err(RP_EFORMAT, "--labels %s: %s has %ld rows, but the source(s) hold %ld images (rows are "
                        "matched in order; a CSV can key them to PNG files with a filename column)", L->name, L->spec,
                        L->n, total);
        for (int i = 0; i < n && !rc && !L->keys; i++)
            if (src[i].bad)
                rc = rp_err(RP_EFORMAT, "--labels %s: %s was skipped, so the label rows would not line up with the "
                            "images; fix or leave out that source", L->name, src[i].spec);
        if (!rc && !(x->lab_batch[j] = rp_malloc((size_t)IMPORT_BATCH * L->cols * 4)))
            rc = rp_err(RP_ENOMEM, "%s: out of memory", x->out);
        if (!rc) x->cols[x->nsrc_cols + j] = (h5ds_column){L->path, L->dtype, L->cols, L->units[0] ? L->units : NULL};
    }
    x->ncols = x->nsrc_cols + x->nlab;
    return rc;
}

int import_files(const char *const *sources, int nsrc, const char *out, const import_options *o, import_stats *st) {
    memset(st, 0, sizeof *st);
    if ((o->H > 0) != (o->W > 0)) return rp_err(RP_EARG, "--size needs both H and W");
    import_ctx x = {.o = o, .st = st, .out = out};
    source *src = rp_calloc(nsrc ? nsrc : 1, sizeof *src);
    if (!src) return rp_err(RP_ENOMEM, "%s: out of memory", out);
    int rc = 0;
    long total = 0;
    for (int i = 0; i < nsrc && !rc; i++) {
        src[i].spec = sources[i];
        rc = scan(&x, &src[i]);
        total += src[i].count;
    }
    if (!rc) rc = plan_columns(&x, src, nsrc, total);
    rp_progress_start(&x.prog, "import", "images", total, o->quiet);
    for (int i = 0; i < nsrc && !rc; i++) {
        if (src[i].bad) continue;
        switch (src[i].type) {
        case SRC_PNGDIR: rc = do_pngs(&x, (const char *const *)src[i].names, src[i].nnames); break;
        case SRC_PNG: rc = do_pngs(&x, &src[i].spec, 1); break;
        case SRC_IDX: rc = do_idx(&x, src[i].spec); break;
        case SRC_H5: rc = do_h5(&x, src[i].spec); break;
        }
    }
    if (!rc && !st->images) rc = rp_err(RP_EFORMAT, "%s: no images imported (%ld bad file(s) skipped)", out, st->bad);
    if (rc) h5ds_abort(x.w);
    else {
        st->H = x.H, st->W = x.W, st->C = x.C, st->ncols = x.ncols;
        rc = h5ds_finish(x.w);
        rp_progress_finish(&x.prog);
    }
    h5ds_close(x.colsrc);
    for (int j = 0; j < x.nlab; j++) import_label_free(&x.lab[j]), free(x.lab_batch[j]);
    for (int i = 0; i < nsrc; i++) {
        for (int k = 0; k < src[i].nnames; k++) free(src[i].names[k]);
        free(src[i].names);
    }
    free(src), free(x.batch);
    return rc;
}
