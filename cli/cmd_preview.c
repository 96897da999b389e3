/* refine-pipeline preview: a contact-sheet PNG of a dataset's first (or evenly spread) images,
 * optionally captioned with a label; composition is io/sheet.c. */
#include "cli/commands.h"
#include "cli/args.h"
#include "io/h5ds.h"
#include "io/sheet.h"
#include "base/status.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#define PREVIEW_MAX_FILES 8

/* Caption strings for the chosen label column: "7", "0.31", "-0.12,0.40". */
static int make_captions(h5ds_reader *r, int col, const long *rows, int n, char (*cap)[24]) {
    const h5ds_colinfo *c = &h5ds_get_info(r)->cols[col];
    float *v = malloc(sizeof *v * n * c->cols);
    if (!v) return rp_err(RP_ENOMEM, "out of memory");
    int rc = h5ds_read_column_rows(r, c->path, rows, n, v, H5DS_FLOAT32);
    for (int i = 0; i < n && !rc; i++) {
        const float *x = v + (long)i * c->cols;
        if (c->dtype != H5DS_FLOAT32) snprintf(cap[i], 24, "%.0f", x[0]);
        else if (c->cols == 1) snprintf(cap[i], 24, "%.2f", x[0]);
        else snprintf(cap[i], 24, "%.2f,%.2f", x[0], x[1]);
    }
    free(v);
    return rc;
}

/* The label column to caption with in one file: -1 when it has none. */
static int caption_column(h5ds_reader *r, const char *label) {
    const h5ds_info *in = h5ds_get_info(r);
    int col = h5ds_find_column(r, label ? label : "labels/class");
    for (int j = 0; col < 0 && !label && j < in->ncols; j++)
        if (!strncmp(in->cols[j].path, "labels/", 7)) col = j;
    return col;
}

int cmd_preview(int argc, char **argv) {
    const char *out = NULL, *label = NULL;
    int n = 64, labels = 0, cols = 0, scale = 0, spread = 0;
    long start = 0;
    const arg_spec specs[] = {
        {"--output", "-o", ARG_STR, &out, "SHEET.png", "PNG to write (required)"},
        {"--count", "-n", ARG_INT, &n, "N", "number of images (default 64; per file)"},
        {"--labels", NULL, ARG_FLAG, &labels, NULL, "caption each image with its label (labels/class if present)"},
        {"--label", NULL, ARG_STR, &label, "NAME", "caption with this label or param, e.g. labels/gaze"},
        {"--cols", NULL, ARG_INT, &cols, "K",
         "images per row (default: about sqrt(N)); with several files, K groups of one image from each"},
        {"--scale", NULL, ARG_INT, &scale, "S", "integer upscaling (default 2 for images under 64 px, else 1)"},
        {"--start", NULL, ARG_LONG, &start, "ROW", "first row (default 0)"},
        {"--spread", NULL, ARG_FLAG, &spread, NULL, "take N rows evenly spread over the dataset"},
        {0}};
    const arg_command cmd = {"preview",
                             "FILE.h5[:/path] [MORE.h5 ...] -o sheet.png [-n 64] [--labels] [--cols K] [--scale S]",
                             "Writes a contact sheet of a dataset's images (the first N from --start, or N "
                             "evenly spread rows), optionally with a caption per image. With several files (up "
                             "to 8, of one image size), the same rows of each side by side: synthetic.h5 "
                             "refined.h5 real.h5 gives synthetic | refined | real per row.",
                             specs, 1, PREVIEW_MAX_FILES};
    args_common common;
    int rc = args_parse(&cmd, &common, argc, argv);
    if (rc) return rc > 0 ? 0 : cmd_fail("preview", rc);
    if (!out) return cmd_fail("preview", rp_err(RP_EARG, "preview: -o SHEET.png is required"));
    if (n < 1 || n > 10000) return cmd_fail("preview", rp_err(RP_EARG, "preview: -n must be in 1..10000, got %d", n));
    if (cols < 0 || scale < 0 || scale > 32)
        return cmd_fail("preview", rp_err(RP_EARG, "preview: --cols and --scale must be positive (scale <= 32)"));
    int k = common.npos;
    const int captions = label || labels;
    h5ds_reader *r[PREVIEW_MAX_FILES] = {0};
    int col[PREVIEW_MAX_FILES];
    const h5ds_info *in = NULL;
    long N = 0; /* rows every file has */
    for (int f = 0; f < k && !rc; f++) {
        if ((rc = h5ds_open(&r[f], common.pos[f]))) break;
        const h5ds_info *fi = h5ds_get_info(r[f]);
        if (!f) in = fi, N = fi->N;
        else if (fi->H != in->H || fi->W != in->W || fi->C != in->C)
            rc = rp_err(RP_EARG, "%s: images are %dx%dx%d where %s's are %dx%dx%d; a sheet of several files needs one size",
                        fi->file, fi->H, fi->W, fi->C, in->file, in->H, in->W, in->C);
        N = fi->N < N ? fi->N : N;
        col[f] = captions ? caption_column(r[f], label) : -1;
        /* the first file must have the label; the others (a real set without labels) are left uncaptioned */
        if (!rc && !f && captions && col[0] < 0)
            rc = rp_err(RP_EARG, "%s: no label %s to caption with (the file has %d label/param datasets)", fi->file,
                        label ? label : "under /labels", fi->ncols);
    }
    if (!rc && (start < 0 || start >= N))
        rc = rp_err(RP_EARG, "preview: --start %ld is outside 0..%ld", start, N - 1);
    if (rc) {
        for (int f = 0; f < k; f++) h5ds_close(r[f]);
        return cmd_fail("preview", rc);
    }
    if (n > N - start) n = (int)(N - start);
    size_t sz = (size_t)in->H * in->W * in->C;
    long *rows = malloc(sizeof *rows * n);
    uint8_t *one = malloc(sz * n), *img = malloc(sz * n * k);
    char(*cap)[24] = captions ? calloc((size_t)n * k, sizeof *cap) : NULL;
    const char **caps = captions ? calloc((size_t)n * k, sizeof *caps) : NULL;
    if (!rows || !one || !img || (captions && (!cap || !caps))) rc = rp_err(RP_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < n; i++)
        rows[i] = spread ? start + (long)((double)i * (N - start) / n) : start + i;
    /* cell i * k + f: row i of file f */
    for (int f = 0; f < k && !rc; f++) {
        if ((rc = h5ds_read_rows_u8(r[f], rows, n, one))) break;
        for (int i = 0; i < n; i++) memcpy(img + ((size_t)i * k + f) * sz, one + (size_t)i * sz, sz);
        if (col[f] < 0 || (rc = make_captions(r[f], col[f], rows, n, cap + (size_t)f * n))) continue;
        for (int i = 0; i < n; i++) caps[(size_t)i * k + f] = cap[(size_t)f * n + i];
    }
    if (!rc) {
        int groups = cols;
        if (k > 1 && !groups) { /* about square */
            groups = (int)lround(sqrt((double)n * in->H / ((double)k * in->W)));
            groups = groups < 1 ? 1 : groups;
        }
        sheet_layout lay = {k > 1 ? groups * k : cols, scale ? scale : (in->H < 64 && in->W < 64 ? 2 : 1), 2, 64};
        rc = sheet_write_png(out, img, n * k, in->H, in->W, in->C, caps, &lay);
    }
    if (!rc && !common.quiet)
        fprintf(stderr, "preview: wrote %s: %d images from %s%s%s\n", out, n, in->file,
                k > 1 ? " and the same rows of the other files" : "", caps ? " with captions" : "");
    free(rows), free(one), free(img), free(cap), free(caps);
    for (int f = 0; f < k; f++) h5ds_close(r[f]);
    return rc ? cmd_fail("preview", rc) : 0;
}
