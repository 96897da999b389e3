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

int cmd_preview(int argc, char **argv) {
    const char *out = NULL, *label = NULL;
    int n = 64, labels = 0, cols = 0, scale = 0, spread = 0;
    long start = 0;
    const arg_spec specs[] = {
        {"--output", "-o", ARG_STR, &out, "SHEET.png", "PNG to write (required)"},
        {"--count", "-n", ARG_INT, &n, "N", "number of images (default 64)"},
        {"--labels", NULL, ARG_FLAG, &labels, NULL, "caption each image with its label (labels/class if present)"},
        {"--label", NULL, ARG_STR, &label, "NAME", "caption with this label or param, e.g. labels/gaze"},
        {"--cols", NULL, ARG_INT, &cols, "K", "images per row (default: about sqrt(N))"},
        {"--scale", NULL, ARG_INT, &scale, "S", "integer upscaling (default 2 for images under 64 px, else 1)"},
        {"--start", NULL, ARG_LONG, &start, "ROW", "first row (default 0)"},
        {"--spread", NULL, ARG_FLAG, &spread, NULL, "take N rows evenly spread over the dataset"},
        {0}};
    const arg_command cmd = {"preview", "FILE.h5[:/path] -o sheet.png [-n 64] [--labels] [--cols K] [--scale S]",
                             "Writes a contact sheet of a dataset's images (the first N from --start, or N "
                             "evenly spread rows), optionally with a caption per image.",
                             specs, 1, 1};
    args_common common;
    int rc = args_parse(&cmd, &common, argc, argv);
    if (rc) return rc > 0 ? 0 : cmd_fail("preview", rc);
    if (!out) return cmd_fail("preview", rp_err(RP_EARG, "preview: -o SHEET.png is required"));
    if (n < 1 || n > 10000) return cmd_fail("preview", rp_err(RP_EARG, "preview: -n must be in 1..10000, got %d", n));
    if (cols < 0 || scale < 0 || scale > 32)
        return cmd_fail("preview", rp_err(RP_EARG, "preview: --cols and --scale must be positive (scale <= 32)"));
    h5ds_reader *r;
    if ((rc = h5ds_open(&r, common.pos[0]))) return cmd_fail("preview", rc);
    const h5ds_info *in = h5ds_get_info(r);
    int col = -1;
    if (label || labels) {
        const char *want = label ? label : "labels/class";
        col = h5ds_find_column(r, want);
        for (int j = 0; col < 0 && !label && j < in->ncols; j++)
            if (!strncmp(in->cols[j].path, "labels/", 7)) col = j;
        if (col < 0) {
            rc = rp_err(RP_EARG, "%s: no label %s to caption with (the file has %d label/param datasets)", in->file,
                        label ? label : "under /labels", in->ncols);
            h5ds_close(r);
            return cmd_fail("preview", rc);
        }
    }
    if (start < 0 || start >= in->N) {
        rc = rp_err(RP_EARG, "preview: --start %ld is outside 0..%ld", start, in->N - 1);
        h5ds_close(r);
        return cmd_fail("preview", rc);
    }
    if (n > in->N - start) n = (int)(in->N - start);
    long *rows = malloc(sizeof *rows * n);
    uint8_t *img = malloc((size_t)n * in->H * in->W * in->C);
    char(*cap)[24] = col >= 0 ? calloc(n, sizeof *cap) : NULL;
    const char **caps = col >= 0 ? calloc(n, sizeof *caps) : NULL;
    if (!rows || !img || (col >= 0 && (!cap || !caps))) rc = rp_err(RP_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < n; i++)
        rows[i] = spread ? start + (long)((double)i * (in->N - start) / n) : start + i;
    if (!rc) rc = h5ds_read_rows_u8(r, rows, n, img);
    if (!rc && col >= 0 && !(rc = make_captions(r, col, rows, n, cap)))
        for (int i = 0; i < n; i++) caps[i] = cap[i];
    if (!rc) {
        sheet_layout lay = {cols, scale ? scale : (in->H < 64 && in->W < 64 ? 2 : 1), 2, 64};
        rc = sheet_write_png(out, img, n, in->H, in->W, in->C, caps, &lay);
    }
    if (!rc && !common.quiet)
        fprintf(stderr, "preview: wrote %s: %d images from %s%s\n", out, n, in->file, col >= 0 ? " with captions" : "");
    free(rows), free(img), free(cap), free(caps);
    h5ds_close(r);
    return rc ? cmd_fail("preview", rc) : 0;
}
